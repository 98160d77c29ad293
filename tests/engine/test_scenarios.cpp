#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support.hpp"

using namespace loyalty;
using nlohmann::json;

namespace {

void check_scenario(const std::filesystem::path& file) {
  const std::string text = test::read_file(file);
  const json doc = json::parse(text);
  INFO("scenario " << file.filename().string() << ": " << doc.value("name", ""));
  auto input = engine::parse_quote_input(text);
  REQUIRE(input.ok());
  const engine::Quote q = test::must_quote(*input);
  const json got = json::parse(engine::quote_to_json(q));
  const json& expect = doc.at("expect");

  std::vector<std::string> got_keys, expect_keys;
  for (const auto& item : got.items()) got_keys.push_back(item.key());
  for (const auto& item : expect.items()) expect_keys.push_back(item.key());
  CHECK(got_keys == expect_keys);

  for (const auto& item : expect.items()) {
    if (item.key() == "lines") continue;
    INFO("field " << item.key());
    CHECK(got.at(item.key()) == item.value());
  }
  REQUIRE(got.at("lines").size() == expect.at("lines").size());
  for (std::size_t i = 0; i < expect.at("lines").size(); ++i) {
    for (const auto& item : expect.at("lines")[i].items()) {
      INFO("lines[" << i << "]." << item.key());
      CHECK(got.at("lines")[i].at(item.key()) == item.value());
    }
  }
}

}  // namespace

TEST_CASE("every worked scenario is quoted exactly as its expect says", "[scenarios]") {
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(test::data_dir() / "scenarios"))
    if (e.path().extension() == ".json") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  REQUIRE(files.size() >= 7);
  for (const auto& f : files) check_scenario(f);
}

TEST_CASE("the demo rule set loads with its tiers, buckets and redemption rules", "[rules]") {
  const engine::RuleSet& r = test::demo_rules();
  CHECK(r.version == "demo-2026.1");
  CHECK(r.utc_offset_minutes == 480);
  REQUIRE(r.tiers.size() == 3);
  CHECK(r.tiers[2].id == "black");
  CHECK(r.tiers[2].discount_bp == 1000);
  REQUIRE(r.winback.size() == 3);
  CHECK(r.winback[1].min_dormant_days == 180);
  REQUIRE(r.earn_bonus.size() == 2);
  CHECK(r.earn_bonus[1].valid_to.has_value());
  CHECK(r.redeem.offline_daily_limit_points == 2000);
}
