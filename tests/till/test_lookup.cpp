#include <catch2/catch.hpp>

#include "support.hpp"

using namespace loyalty;
using nlohmann::json;

namespace {

struct SeededTill {
  test::TempDir dir;
  test::TestTill till{test::write_config(dir.path())};
  SeededTill() {
    const std::string rules = test::demo_rules();
    REQUIRE(loy_till_apply_rules(till, rules.data(), rules.size()) == LOY_OK);
    json members = json::array({test::member_record("M-1001", 4, "gold", 5000, {"13800138000", "LC00012345"}),
                                test::member_record("M-2001", 1, "silver", 0, {"13900139000"}, 0)});
    const std::string doc = test::changes(members, 42);
    REQUIRE(loy_till_apply_changes(till, doc.data(), doc.size()) == LOY_OK);
  }
};

}  // namespace

TEST_CASE("a member is found by phone number in any common spelling, and by card code", "[till]") {
  SeededTill t;
  for (const char* scanned : {"13800138000", "+86 138 0013 8000", "138-0013-8000", "+8613800138000", "LC-0001-2345",
                              "lc00012345"}) {
    INFO(scanned);
    auto m = test::member_info();
    REQUIRE(loy_till_lookup(t.till, scanned, &m) == LOY_OK);
    CHECK(std::string(m.member_id) == "M-1001");
    CHECK(std::string(m.masked_name) == "W*** F***");
    CHECK(std::string(m.tier_id) == "gold");
    CHECK(std::string(m.tier_name) == "Gold");
    CHECK(m.confirmed_points == 5000);
    CHECK(m.pending_points == 0);
    CHECK(m.available_points == 5000);
  }
}

TEST_CASE("an unknown code is not found, and says so", "[till]") {
  SeededTill t;
  auto m = test::member_info();
  CHECK(loy_till_lookup(t.till, "13700137000", &m) == LOY_E_NOT_FOUND);
  CHECK(std::string(loy_till_last_error(t.till)) == "no member has this code");
  // A successful call clears the last error.
  REQUIRE(loy_till_lookup(t.till, "13800138000", &m) == LOY_OK);
  CHECK(std::string(loy_till_last_error(t.till)).empty());
}

TEST_CASE("a new member's lookup prompts the first-purchase offer, and the till has never synced", "[till]") {
  SeededTill t;
  auto m = test::member_info();
  REQUIRE(loy_till_lookup(t.till, "13900139000", &m) == LOY_OK);
  REQUIRE(m.prompt_count == 2);
  CHECK(m.prompts[0].code == LOY_PROMPT_FIRST_PURCHASE);
  CHECK(m.prompts[0].rate_bp == 2000);
  CHECK(m.prompts[1].code == LOY_PROMPT_OFFLINE);
  CHECK(m.prompts[1].minutes == -1);
}

TEST_CASE("changes never take a member back to an older version, and move the cursor", "[till]") {
  SeededTill t;
  json older = json::array({test::member_record("M-1001", 3, "black", 1, {"13800138000"})});
  std::string doc = test::changes(older, 43);
  REQUIRE(loy_till_apply_changes(t.till, doc.data(), doc.size()) == LOY_OK);
  auto m = test::member_info();
  REQUIRE(loy_till_lookup(t.till, "13800138000", &m) == LOY_OK);
  CHECK(std::string(m.tier_id) == "gold");
  CHECK(m.confirmed_points == 5000);

  json newer = json::array({test::member_record("M-1001", 5, "black", 7000, {"13800138000"})});
  doc = test::changes(newer, 44);
  REQUIRE(loy_till_apply_changes(t.till, doc.data(), doc.size()) == LOY_OK);
  REQUIRE(loy_till_lookup(t.till, "13800138000", &m) == LOY_OK);
  CHECK(std::string(m.tier_id) == "black");
  CHECK(m.confirmed_points == 7000);
  // The card code was dropped from the new record: it no longer finds the member.
  CHECK(loy_till_lookup(t.till, "LC00012345", &m) == LOY_E_NOT_FOUND);

  loy_till_status st{};
  st.struct_size = sizeof st;
  REQUIRE(loy_till_status_get(t.till, &st) == LOY_OK);
  CHECK(st.cache_version == 44);
  CHECK(st.members == 2);
  CHECK(std::string(st.rules_version) == "demo-2026.1");
}

TEST_CASE("an invalid changes document is refused whole, naming the offending path", "[till]") {
  SeededTill t;
  json members = json::array({test::member_record("M-3001", 1, "silver", 10, {"13600136000"}),
                              test::member_record("M-3002", 1, "silver", 10, {"13500135000"})});
  members[1]["codes"][0] = "not-a-hash";
  const std::string doc = test::changes(members, 50);
  CHECK(loy_till_apply_changes(t.till, doc.data(), doc.size()) == LOY_E_DOCUMENT);
  CHECK(std::string(loy_till_last_error(t.till)) ==
        "members[1].codes[0]: must be 64 hexadecimal digits (HMAC-SHA256 of the normalised code)");
  auto m = test::member_info();
  CHECK(loy_till_lookup(t.till, "13600136000", &m) == LOY_E_NOT_FOUND);  // the valid first record too
  loy_till_status st{};
  st.struct_size = sizeof st;
  REQUIRE(loy_till_status_get(t.till, &st) == LOY_OK);
  CHECK(st.cache_version == 42);
}

TEST_CASE("an invalid rule set is refused and the current one stays", "[till]") {
  SeededTill t;
  const std::string bad = R"({"version": "x"})";
  CHECK(loy_till_apply_rules(t.till, bad.data(), bad.size()) == LOY_E_RULES);
  CHECK(std::string(loy_till_last_error(t.till)) == "currency: is required");
  loy_till_status st{};
  st.struct_size = sizeof st;
  REQUIRE(loy_till_status_get(t.till, &st) == LOY_OK);
  CHECK(std::string(st.rules_version) == "demo-2026.1");
}

TEST_CASE("rules and cache survive closing and reopening the till", "[till]") {
  test::TempDir dir;
  const auto config = test::write_config(dir.path());
  {
    test::TestTill till(config);
    const std::string rules = test::demo_rules();
    REQUIRE(loy_till_apply_rules(till, rules.data(), rules.size()) == LOY_OK);
    const std::string doc = test::changes(json::array({test::member_record("M-1", 1, "gold", 10, {"13800138000"})}), 1);
    REQUIRE(loy_till_apply_changes(till, doc.data(), doc.size()) == LOY_OK);
  }
  test::TestTill till(config);
  auto m = test::member_info();
  REQUIRE(loy_till_lookup(till, "13800138000", &m) == LOY_OK);
  CHECK(std::string(m.member_id) == "M-1");
}
