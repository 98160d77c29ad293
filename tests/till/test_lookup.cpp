#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

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

namespace {

// A caller's array of prompts with guard bytes after it: nothing may be written past `capacity`.
struct PromptBuffer {
  static constexpr std::size_t kGuard = 64;
  std::vector<unsigned char> bytes;
  std::size_t capacity;
  explicit PromptBuffer(std::size_t n) : bytes(n * sizeof(loy_prompt_info) + kGuard, 0xAB), capacity(n) {}
  loy_prompt_info* data() { return reinterpret_cast<loy_prompt_info*>(bytes.data()); }
  loy_prompt_info at(std::size_t i) const {
    loy_prompt_info p;
    std::memcpy(&p, bytes.data() + i * sizeof p, sizeof p);
    return p;
  }
  bool untouched_from(std::size_t i) const {
    return std::all_of(bytes.begin() + static_cast<std::ptrdiff_t>(i * sizeof(loy_prompt_info)), bytes.end(),
                       [](unsigned char b) { return b == 0xAB; });
  }
};

void check_same(const loy_prompt_info& a, const loy_prompt& b) {
  CHECK(a.struct_size == sizeof(loy_prompt_info));
  CHECK(a.code == b.code);
  CHECK(a.rate_bp == b.rate_bp);
  CHECK(a.days == b.days);
  CHECK(a.points == b.points);
  CHECK(a.spend_minor == b.spend_minor);
  CHECK(a.minutes == b.minutes);
  CHECK(std::string(a.date) == b.date);
  CHECK(std::string(a.tier) == b.tier);
}

}  // namespace

TEST_CASE("loy_till_lookup_v2 gives every prompt in an array of the caller's element size, never past it", "[till]") {
  SeededTill t;
  auto m = test::member_info();
  REQUIRE(loy_till_lookup(t.till, "13900139000", &m) == LOY_OK);
  REQUIRE(m.prompt_count == 2);

  PromptBuffer all(4);
  auto m2 = test::member_info();
  std::size_t count = 99;
  REQUIRE(loy_till_lookup_v2(t.till, "13900139000", &m2, all.data(), sizeof(loy_prompt_info), all.capacity, &count) ==
          LOY_OK);
  CHECK(count == 2);
  CHECK(std::string(m2.member_id) == "M-2001");
  check_same(all.at(0), m.prompts[0]);
  check_same(all.at(1), m.prompts[1]);
  CHECK(all.untouched_from(2));

  // Fewer places than prompts: the first ones, the count of all, and nothing written beyond.
  PromptBuffer one(1);
  REQUIRE(loy_till_lookup_v2(t.till, "13900139000", nullptr, one.data(), sizeof(loy_prompt_info), 1, &count) == LOY_OK);
  CHECK(count == 2);
  check_same(one.at(0), m.prompts[0]);
  CHECK(one.untouched_from(1));
  count = 0;
  REQUIRE(loy_till_lookup_v2(t.till, "13900139000", nullptr, nullptr, sizeof(loy_prompt_info), 0, &count) == LOY_OK);
  CHECK(count == 2);
  count = 0;  // only counting: no element is written, so its size does not matter
  REQUIRE(loy_till_lookup_v2(t.till, "13900139000", nullptr, nullptr, 0, 0, &count) == LOY_OK);
  CHECK(count == 2);

  // An element size of no release, NULL where an array or a count is needed: refused, nothing written.
  PromptBuffer none(2);
  for (std::size_t size : {std::size_t{0}, sizeof(loy_prompt_info) - 8, sizeof(loy_prompt_info) + 8}) {
    INFO(size);
    CHECK(loy_till_lookup_v2(t.till, "13900139000", nullptr, none.data(), size, 1, &count) == LOY_E_STRUCT_SIZE);
  }
  CHECK(none.untouched_from(0));
  CHECK(loy_till_lookup_v2(t.till, "13900139000", nullptr, nullptr, sizeof(loy_prompt_info), 1, &count) ==
        LOY_E_INVALID_ARGUMENT);
  CHECK(loy_till_lookup_v2(t.till, "13900139000", nullptr, none.data(), sizeof(loy_prompt_info), 1, nullptr) ==
        LOY_E_INVALID_ARGUMENT);
  CHECK(loy_till_lookup_v2(t.till, "13900139000", nullptr, none.data(), sizeof(loy_prompt_info), SIZE_MAX, &count) ==
        LOY_E_INVALID_ARGUMENT);
  CHECK(none.untouched_from(0));
  count = 99;
  CHECK(loy_till_lookup_v2(t.till, "13700137000", nullptr, none.data(), sizeof(loy_prompt_info), 2, &count) ==
        LOY_E_NOT_FOUND);
  CHECK(count == 0);  // a failed call has no prompts
  CHECK(none.untouched_from(0));
  CHECK(loy_till_lookup_v2(nullptr, "13900139000", nullptr, none.data(), sizeof(loy_prompt_info), 2, &count) ==
        LOY_E_INVALID_ARGUMENT);
}

TEST_CASE("loy_checkout_prompts gives the prompts of the checkout's member, none without one", "[till]") {
  SeededTill t;
  loy_checkout* c = nullptr;
  REQUIRE(loy_checkout_begin(t.till, &c) == LOY_OK);
  PromptBuffer buf(8);
  std::size_t count = 99;
  REQUIRE(loy_checkout_prompts(c, buf.data(), sizeof(loy_prompt_info), buf.capacity, &count) == LOY_OK);
  CHECK(count == 0);
  CHECK(buf.untouched_from(0));

  auto m = test::member_info();
  REQUIRE(loy_checkout_identify(c, "13900139000", &m) == LOY_OK);
  REQUIRE(loy_checkout_prompts(c, buf.data(), sizeof(loy_prompt_info), buf.capacity, &count) == LOY_OK);
  REQUIRE(count == m.prompt_count);
  for (std::size_t i = 0; i < count; ++i) check_same(buf.at(i), m.prompts[i]);

  // A failed identify leaves the sale without a member, and without its prompts.
  CHECK(loy_checkout_identify(c, "13700137000", &m) == LOY_E_NOT_FOUND);
  REQUIRE(loy_checkout_prompts(c, buf.data(), sizeof(loy_prompt_info), buf.capacity, &count) == LOY_OK);
  CHECK(count == 0);
  CHECK(loy_checkout_prompts(c, buf.data(), sizeof(loy_prompt_info) + 1, 1, &count) == LOY_E_STRUCT_SIZE);
  CHECK(loy_checkout_prompts(c, buf.data(), sizeof(loy_prompt_info), 1, nullptr) == LOY_E_INVALID_ARGUMENT);
  CHECK(loy_checkout_prompts(nullptr, buf.data(), sizeof(loy_prompt_info), 1, &count) == LOY_E_INVALID_ARGUMENT);
  loy_checkout_free(c);
}
