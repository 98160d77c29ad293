#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support.hpp"

using namespace loyalty;
using nlohmann::json;

namespace {

struct Case {
  const char* what;
  const char* pointer;  // JSON pointer into the demo rules
  json value;           // the value put there; a discarded json removes the key
  const char* error;    // the exact error
};

const json kRemove = json::value_t::discarded;

std::string load_error(const json& doc) {
  auto r = engine::load_rules(doc.dump());
  return r ? std::string("(loaded)") : r.error().message;
}

json demo() { return json::parse(test::read_file(test::data_dir() / "rules" / "demo-chain.json")); }

}  // namespace

TEST_CASE("each invalid rule set is refused with an error naming its path and rule", "[rules]") {
  const std::vector<Case> cases = {
      {"missing version", "/version", kRemove, "version: is required"},
      {"empty version", "/version", "", "version: must not be empty"},
      {"version over the wire's limit", "/version", std::string(64, 'v'),
       "version: must be 1..63 letters, digits, '-', '_' or '.'"},
      {"version that cannot be an ETag", "/version", "demo\"2026", "version: must be 1..63 letters, digits, '-', '_' or '.'"},
      {"tier id over the wire's limit", "/tiers/0/id", std::string(64, 't'), "tiers[0].id: must be 1..63 bytes"},
      {"tier name over the till's buffer", "/tiers/1/name", std::string(64, 'n'), "tiers[1].name: must be at most 63 bytes"},
      {"version of the wrong type", "/version", 7, "version: must be a string"},
      {"bad currency", "/currency", "yuan", "currency: must be a three-letter ISO 4217 code like \"CNY\""},
      {"bad utc offset", "/utc_offset", "+8", "utc_offset: must be an offset like \"+08:00\", within +-18:00"},
      {"zero minor per unit", "/minor_per_unit", 0, "minor_per_unit: must be within 1..1000000"},
      {"fractional minor per unit", "/minor_per_unit", 100.5, "minor_per_unit: must be an integer"},
      {"no tiers", "/tiers", json::array(), "tiers: must name at least one tier"},
      {"tier discount above 100%", "/tiers/1/discount_bp", 10001, "tiers[1].discount_bp: must be within 0..10000"},
      {"negative tier discount", "/tiers/1/discount_bp", -1, "tiers[1].discount_bp: must be within 0..10000"},
      {"duplicate tier id", "/tiers/2/id", "gold", "tiers[2].id: duplicate tier id \"gold\""},
      {"tiers out of order", "/tiers/2/min_spend_minor", 300000,
       "tiers[2].min_spend_minor: must be above tiers[1].min_spend_minor (tiers in ascending order)"},
      {"first tier not at zero", "/tiers/0/min_spend_minor", 100,
       "tiers[0].min_spend_minor: must be 0: the first tier is every member's"},
      {"tier without a name", "/tiers/0/name", kRemove, "tiers[0].name: is required"},
      {"misspelt tier key", "/tiers/0/discount_pb", 0, "tiers[0].discount_pb: is not a known key"},
      {"zero qualification window", "/qualification/window_days", 0,
       "qualification.window_days: must be within 1..3660"},
      {"negative grace", "/qualification/grace_days", -5, "qualification.grace_days: must be within 0..3660"},
      {"negative points per unit", "/earn/points_per_unit", -1, "earn.points_per_unit: must be within 0..1000000"},
      {"excluded categories not strings", "/earn/excluded_categories", json::array({"tobacco", 3}),
       "earn.excluded_categories[1]: must be a string"},
      {"bonus without categories", "/earn/bonus/0/categories", json::array(),
       "earn.bonus[0].categories: must name at least one category"},
      {"bonus ends before it starts", "/earn/bonus/1/valid_to", "2026-11-19T00:00:00+08:00",
       "earn.bonus[1].valid_to: must be after valid_from"},
      {"bonus with a malformed date", "/earn/bonus/1/valid_from", "2026-11-20",
       "earn.bonus[1].valid_from: must be an ISO-8601 timestamp with an offset, like 2026-05-03T10:00:00+08:00"},
      {"duplicate bonus id", "/earn/bonus/1/id", "green", "earn.bonus[1].id: duplicate bonus id \"green\""},
      {"unknown birthday window", "/birthday/window", "week",
       "birthday.window: must be \"month\" or \"day\", not \"week\""},
      {"first purchase above 100%", "/first_purchase/discount_bp", 20000,
       "first_purchase.discount_bp: must be within 0..10000"},
      {"win-back buckets out of order", "/winback/2/min_dormant_days", 100,
       "winback[2].min_dormant_days: must be above winback[1].min_dormant_days (buckets in ascending order)"},
      {"win-back at zero days", "/winback/0/min_dormant_days", 0, "winback[0].min_dormant_days: must be within 1..36600"},
      {"unknown stacking policy", "/discount/stacking", "sum",
       "discount.stacking: must be \"best_of\" (the only stacking policy), not \"sum\""},
      {"missing redeem section", "/redeem", kRemove, "redeem: is required"},
      {"max share above 100%", "/redeem/max_share_bp", 10001, "redeem.max_share_bp: must be within 0..10000"},
      {"zero step", "/redeem/step_points", 0, "redeem.step_points: must be within 1..1000000000000"},
      {"step worth a fraction of a minor unit", "/redeem",
       {{"minor_per_100_points", 1}, {"min_points", 100}, {"step_points", 10}, {"max_share_bp", 5000},
        {"offline_after_minutes", 15}, {"offline_daily_limit_points", 2000}},
       "redeem.step_points: step_points * minor_per_100_points must be a multiple of 100, so that every "
       "redeemable amount is worth whole minor units"},
      {"negative coupons per sale", "/coupons/max_per_sale", -1, "coupons.max_per_sale: must be within 0..100"},
      {"zero expiry months", "/expiry/months", 0, "expiry.months: must be within 1..1200"},
      {"section of the wrong type", "/earn", json::array(), "earn: must be a JSON object"},
      {"unknown top-level key", "/discounts", json::object(), "discounts: is not a known key"},
      {"value out of 64 bits", "/tiers/1/min_spend_minor", json(18446744073709551615ULL),
       "tiers[1].min_spend_minor: must be an integer that fits in 64 bits"},
      {"spend beyond the limit", "/tiers/1/min_spend_minor", json(1'000'000'000'000'000'001LL),
       "tiers[1].min_spend_minor: must be within 0..1000000000000000000"},
  };
  REQUIRE(cases.size() >= 20);
  for (const Case& c : cases) {
    json doc = demo();
    const json::json_pointer ptr(c.pointer);
    if (c.value.is_discarded()) {
      doc.at(ptr.parent_pointer()).erase(ptr.back());
    } else {
      doc[ptr] = c.value;
    }
    INFO(c.what);
    CHECK(load_error(doc) == c.error);
  }
}

TEST_CASE("text that is not JSON, or not an object, is refused", "[rules]") {
  CHECK_FALSE(engine::load_rules("").ok());
  CHECK_FALSE(engine::load_rules("{\"version\": ").ok());
  CHECK(engine::load_rules("{").error().message.rfind("rules: not valid JSON", 0) == 0);
  CHECK(engine::load_rules("[]").error().message == "(document): must be a JSON object");
  CHECK(engine::load_rules("{\"version\": \"\xff\xfe\"}").error().message.rfind("rules: not valid JSON", 0) == 0);
}

TEST_CASE("optional bonus bounds may be left out, and only those", "[rules]") {
  json doc = demo();
  doc["earn"]["bonus"][1].erase("valid_from");
  doc["earn"]["bonus"][1].erase("valid_to");
  auto r = engine::load_rules(doc.dump());
  REQUIRE(r.ok());
  CHECK_FALSE(r->earn_bonus[1].valid_from.has_value());
  doc["earn"].erase("bonus");
  CHECK(load_error(doc) == "earn.bonus: is required");
}

TEST_CASE("a key given twice is refused, naming its path, rather than the last one winning", "[rules]") {
  std::string text = test::read_file(test::data_dir() / "rules" / "demo-chain.json");
  const std::string needle = "\"discount_bp\": 500,";
  const auto at = text.find(needle);
  REQUIRE(at != std::string::npos);
  text.insert(at, "\"discount_bp\": 20000, ");
  CHECK(engine::load_rules(text).error().message == "tiers[1].discount_bp: duplicate key");
  CHECK(engine::load_rules(R"({"version": "a", "version": "b"})").error().message == "version: duplicate key");
  CHECK(engine::load_rules(R"({"x": [1, {"k": 1}, {"k": 2, "k": 3}]})").error().message == "x[2].k: duplicate key");
  CHECK(engine::load_rules(R"({"x": [{"a": [1, [2]]}, {"k": 1, "b": {"c": 1}, "k": 2}]})").error().message ==
        "x[1].k: duplicate key");
  // A number past a double's range is refused as nlohmann's own parser refuses it.
  CHECK(engine::load_rules(R"({"version": 1e999})").error().message ==
        "rules: [json.exception.out_of_range.406] number overflow parsing '1e999'");
}

TEST_CASE("a rule set changed in code is checked again before any quote", "[rules]") {
  engine::RuleSet rules = test::demo_rules();
  engine::QuoteInput in;
  in.now = test::at("2026-07-10T12:00:00+08:00");
  in.member = test::member("gold", 5, 1000);
  in.lines = {test::line("1", "apparel", 1000)};
  in.redeem_points = 100;
  rules.redeem.step_points = 0;
  CHECK(engine::quote(rules, in).error().message == "rules: redeem.step_points: must be within 1..1000000000000");
  rules = test::demo_rules();
  rules.tiers[1].discount_bp = 15000;
  CHECK(engine::quote(rules, in).error().message == "rules: tiers[1].discount_bp: must be within 0..10000");
  rules = test::demo_rules();
  rules.minor_per_unit = 0;
  CHECK_FALSE(engine::quote(rules, in).ok());
  CHECK(engine::check_rules(test::demo_rules()) == std::nullopt);
}
