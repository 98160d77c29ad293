// Misuse through the C interface returns errors; run under ASan by the test-asan workflow.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "support.hpp"

using namespace loyalty;

TEST_CASE("NULL for every pointer is an error, never a crash", "[till]") {
  test::TempDir dir;
  test::TestTill till(test::write_config(dir.path()));
  auto m = test::member_info();
  loy_till_status st{};
  st.struct_size = sizeof st;
  CHECK(loy_till_apply_rules(nullptr, "{}", 2) == LOY_E_INVALID_ARGUMENT);
  CHECK(loy_till_apply_rules(till, nullptr, 2) == LOY_E_INVALID_ARGUMENT);
  CHECK(std::string(loy_till_last_error(till)) == "json is NULL");
  CHECK(loy_till_apply_changes(nullptr, "{}", 2) == LOY_E_INVALID_ARGUMENT);
  CHECK(loy_till_apply_changes(till, nullptr, 2) == LOY_E_INVALID_ARGUMENT);
  CHECK(loy_till_lookup(nullptr, "1", &m) == LOY_E_INVALID_ARGUMENT);
  CHECK(loy_till_lookup(till, nullptr, &m) == LOY_E_INVALID_ARGUMENT);
  CHECK(loy_till_lookup(till, "1", nullptr) == LOY_E_INVALID_ARGUMENT);
  CHECK(loy_till_status_get(nullptr, &st) == LOY_E_INVALID_ARGUMENT);
  CHECK(loy_till_status_get(till, nullptr) == LOY_E_INVALID_ARGUMENT);
}

TEST_CASE("a struct_size smaller than the library's struct is refused", "[till]") {
  test::TempDir dir;
  test::TestTill till(test::write_config(dir.path()));
  loy_member_info m{};
  m.struct_size = sizeof m - 1;
  CHECK(loy_till_lookup(till, "13800138000", &m) == LOY_E_STRUCT_SIZE);
  m.struct_size = 0;
  CHECK(loy_till_lookup(till, "13800138000", &m) == LOY_E_STRUCT_SIZE);
  loy_till_status st{};
  st.struct_size = 8;
  CHECK(loy_till_status_get(till, &st) == LOY_E_STRUCT_SIZE);
}

TEST_CASE("a struct_size of no release is refused, larger ones too; each released size gets what it holds", "[till]") {
  test::TempDir dir;
  test::TestTill till(test::write_config(dir.path()));
  const std::string rules = test::demo_rules();
  REQUIRE(loy_till_apply_rules(till, rules.data(), rules.size()) == LOY_OK);
  // A caller of a later header on this library: refused, not read or written past this struct.
  loy_member_info m{};
  m.struct_size = sizeof m + 8;
  CHECK(loy_till_lookup(till, "13800138000", &m) == LOY_E_STRUCT_SIZE);
  loy_sync_result r{};
  r.struct_size = sizeof r + 8;
  CHECK(loy_till_sync(till, &r) == LOY_E_STRUCT_SIZE);
  loy_till_options o{};
  o.struct_size = sizeof o + 8;
  loy_till* other = nullptr;
  char error[256];
  CHECK(loy_till_open(test::write_config(dir.path() / "b").c_str(), &o, &other, error, sizeof error) == LOY_E_STRUCT_SIZE);
  CHECK(other == nullptr);
  // loy_till_status as 1.0 (128 bytes), 1.1 (392) and 1.2 (656) knew it: filled that far, no further.
  for (const std::uint32_t size : {128u, 392u, 656u}) {
    INFO(size);
    REQUIRE(size <= sizeof(loy_till_status));
    struct {
      loy_till_status st;
      unsigned char after[64];
    } g;
    std::memset(&g, 0xA5, sizeof g);
    g.st.struct_size = size;
    REQUIRE(loy_till_status_get(till, &g.st) == LOY_OK);
    CHECK(g.st.members == 0);
    CHECK(std::string(g.st.rules_version) == "demo-2026.1");
    const auto* bytes = reinterpret_cast<const unsigned char*>(&g);
    CHECK(std::all_of(bytes + size, bytes + sizeof g, [](unsigned char b) { return b == 0xA5; }));
  }
  for (const std::uint32_t size : {127u, 129u, 393u, 655u, 657u}) {
    loy_till_status st{};
    st.struct_size = size;
    CHECK(loy_till_status_get(till, &st) == LOY_E_STRUCT_SIZE);
  }
}

TEST_CASE("scanned codes that are not UTF-8, too long, or not a code are refused", "[till]") {
  test::TempDir dir;
  test::TestTill till(test::write_config(dir.path()));
  const std::string rules = test::demo_rules();
  REQUIRE(loy_till_apply_rules(till, rules.data(), rules.size()) == LOY_OK);
  auto m = test::member_info();
  CHECK(loy_till_lookup(till, "1380\xff" "0138000", &m) == LOY_E_UTF8);
  const std::string huge(2 * 1024 * 1024, '1');
  CHECK(loy_till_lookup(till, huge.c_str(), &m) == LOY_E_TOO_LARGE);
  CHECK(loy_till_lookup(till, "", &m) == LOY_E_INVALID_ARGUMENT);
  CHECK(loy_till_lookup(till, "138 0013 8000; DROP TABLE members", &m) == LOY_E_INVALID_ARGUMENT);
  CHECK(loy_till_lookup(till, "会员", &m) == LOY_E_INVALID_ARGUMENT);
}

TEST_CASE("a lookup before any rule set says the till has no rules", "[till]") {
  test::TempDir dir;
  test::TestTill till(test::write_config(dir.path()));
  auto m = test::member_info();
  CHECK(loy_till_lookup(till, "13800138000", &m) == LOY_E_NO_RULES);
}

TEST_CASE("documents that are not JSON, too deep or with wrong types are refused", "[till]") {
  test::TempDir dir;
  test::TestTill till(test::write_config(dir.path()));
  const auto refused = [&](const std::string& doc) { return loy_till_apply_changes(till, doc.data(), doc.size()); };
  CHECK(refused("") == LOY_E_DOCUMENT);
  CHECK(refused(std::string(100'000, '[')) == LOY_E_DOCUMENT);
  CHECK(refused(R"({"members": {}, "coupons": [], "next": 1, "more": false})") == LOY_E_DOCUMENT);
  CHECK(std::string(loy_till_last_error(till)) == "members: must be an array");
  CHECK(refused(R"({"members": [], "coupons": [], "next": -1, "more": false})") == LOY_E_DOCUMENT);
  CHECK(refused(std::string("{\"members\": [], \"coupons\": [], \"next\": 1, \"more\": false, \"x\": \"\xc3\"}")) ==
        LOY_E_DOCUMENT);
  // A size that stops inside the text: only `size` bytes are read.
  const std::string ok = R"({"members": [], "coupons": [], "next": 1, "more": false}   garbage)";
  CHECK(loy_till_apply_changes(till, ok.data(), ok.size() - 9) == LOY_OK);
}

TEST_CASE("NULL for every pointer of the checkout, refund and enrollment calls is an error", "[till]") {
  test::TempDir dir;
  test::TestTill till(test::write_config(dir.path()));
  loy_checkout* c = nullptr;
  REQUIRE(loy_checkout_begin(till, &c) == LOY_OK);
  loy_quote q{};
  q.struct_size = sizeof q;
  loy_line_quote lq{};
  lq.struct_size = sizeof lq;
  loy_line line{};
  line.struct_size = sizeof line;
  loy_enrollment e{};
  e.struct_size = sizeof e;
  loy_refund_result r{};
  r.struct_size = sizeof r;
  auto m = test::member_info();
  CHECK(loy_checkout_set_time(nullptr, "2026-01-01T00:00:00Z") == LOY_E_INVALID_ARGUMENT);
  CHECK(loy_checkout_identify(nullptr, "1", &m) == LOY_E_INVALID_ARGUMENT);
  CHECK(loy_checkout_identify(c, nullptr, &m) == LOY_E_INVALID_ARGUMENT);
  CHECK(loy_checkout_enroll(nullptr, &e, &m) == LOY_E_INVALID_ARGUMENT);
  CHECK(loy_checkout_enroll(c, nullptr, &m) == LOY_E_INVALID_ARGUMENT);
  CHECK(loy_checkout_add_line(nullptr, &line) == LOY_E_INVALID_ARGUMENT);
  CHECK(loy_checkout_add_line(c, &line) == LOY_E_INVALID_ARGUMENT);  // its id, sku and category are NULL
  CHECK(loy_checkout_set_coupon(nullptr, "X") == LOY_E_INVALID_ARGUMENT);
  CHECK(loy_checkout_redeem(nullptr, 100) == LOY_E_INVALID_ARGUMENT);
  CHECK(loy_checkout_quote(c, nullptr) == LOY_E_INVALID_ARGUMENT);
  CHECK(loy_checkout_line_quote(nullptr, 0, &lq) == LOY_E_INVALID_ARGUMENT);
  CHECK(loy_checkout_line_quote(c, 0, nullptr) == LOY_E_INVALID_ARGUMENT);
  CHECK(loy_checkout_commit(nullptr, "R", &q) == LOY_E_INVALID_ARGUMENT);
  CHECK(std::string(loy_checkout_last_error(nullptr)).empty());
  CHECK(loy_till_refund(nullptr, "F", "R", nullptr, 0, &r) == LOY_E_INVALID_ARGUMENT);
  CHECK(loy_till_refund(till, nullptr, "R", nullptr, 0, &r) == LOY_E_INVALID_ARGUMENT);
  CHECK(loy_till_refund(till, "F", nullptr, nullptr, 0, &r) == LOY_E_INVALID_ARGUMENT);
  loy_refund_item item{};
  item.struct_size = sizeof item;
  CHECK(loy_till_refund(till, "F", "R", &item, 1, &r) == LOY_E_INVALID_ARGUMENT);  // its line_id is NULL
  CHECK(loy_till_enroll(nullptr, &e, &m) == LOY_E_INVALID_ARGUMENT);
  CHECK(loy_till_enroll(till, &e, &m) == LOY_E_INVALID_ARGUMENT);  // its phone is NULL
  CHECK(std::string(loy_coupon_refusal_str(0)).empty());
  CHECK(std::string(loy_redeem_refusal_str(-7)).empty());
  loy_checkout_free(c);
}

TEST_CASE("the sync calls refuse NULL, wrong sizes and bad ids, and a till without headquarters says why", "[till]") {
  test::TempDir dir;
  test::TestTill till(test::write_config(dir.path()));
  loy_sync_result r{};
  r.struct_size = sizeof r;
  CHECK(loy_till_sync(nullptr, &r) == LOY_E_INVALID_ARGUMENT);
  r.struct_size = sizeof r - 1;
  CHECK(loy_till_sync(till, &r) == LOY_E_STRUCT_SIZE);
  // The test configuration's TLS files are placeholders: the sync says so and the till sells on.
  CHECK(loy_till_sync(till, nullptr) == LOY_E_NETWORK);
  CHECK(std::string(loy_till_last_error(till)).find("hq.ca_file") != std::string::npos);
  loy_till_status st{};
  st.struct_size = sizeof st;
  REQUIRE(loy_till_status_get(till, &st) == LOY_OK);
  CHECK(std::string(st.last_sync_error).find("hq.ca_file") != std::string::npos);
  CHECK(std::string(loy_status_str(LOY_E_NETWORK)) != "unknown status");

  loy_refund_result rr{};
  rr.struct_size = sizeof rr;
  CHECK(loy_till_refund_at(nullptr, "F", "S002", "R", nullptr, 0, &rr) == LOY_E_INVALID_ARGUMENT);
  CHECK(loy_till_refund_at(till, nullptr, "S002", "R", nullptr, 0, &rr) == LOY_E_INVALID_ARGUMENT);
  CHECK(loy_till_refund_at(till, "F", nullptr, "R", nullptr, 0, &rr) == LOY_E_INVALID_ARGUMENT);
  CHECK(loy_till_refund_at(till, "F", "S002", nullptr, nullptr, 0, &rr) == LOY_E_INVALID_ARGUMENT);
  CHECK(loy_till_refund_at(till, "F", "", "R", nullptr, 0, &rr) == LOY_E_INVALID_ARGUMENT);
  CHECK(loy_till_refund_at(till, "F", "\xff", "R", nullptr, 0, &rr) == LOY_E_UTF8);
  const std::string long_store(40, 'S');
  CHECK(loy_till_refund_at(till, "F", long_store.c_str(), "R", nullptr, 0, &rr) == LOY_E_TOO_LARGE);
  // A receipt of its own store that it does not hold is another till's: headquarters is asked.
  CHECK(loy_till_refund_at(till, "F", "S001", "R-none", nullptr, 0, &rr) == LOY_E_NETWORK);
  CHECK(loy_till_refund(till, "F", "R-none", nullptr, 0, &rr) == LOY_E_NOT_FOUND);  // this till's own only
  // Another store's needs headquarters, which this till cannot reach.
  CHECK(loy_till_refund_at(till, "F", "S002", "R-1", nullptr, 0, &rr) == LOY_E_NETWORK);
}

TEST_CASE("why the last sync failed outlives the process that saw it", "[till]") {
  test::TempDir dir;
  const auto config = test::write_config(dir.path());
  {
    test::TestTill till(config);
    CHECK(loy_till_sync(till, nullptr) == LOY_E_NETWORK);
  }
  test::TestTill again(config);
  loy_till_status st{};
  st.struct_size = sizeof st;
  REQUIRE(loy_till_status_get(again, &st) == LOY_OK);
  CHECK(std::string(st.last_sync_error).find("hq.ca_file") != std::string::npos);
  CHECK(st.last_sync_unix == -1);
}

TEST_CASE("a caller built against 1.0 still gets its status struct filled", "[till]") {
  test::TempDir dir;
  test::TestTill till(test::write_config(dir.path()));
  // loy_till_status as 1.0 declared it: up to minor_per_unit.
  struct status_1_0 {
    uint32_t struct_size;
    int64_t outbox_depth, oldest_unsynced_seconds, cache_version, last_sync_unix, members;
    char rules_version[64];
    char currency[8];
    int64_t minor_per_unit;
  };
  static_assert(sizeof(status_1_0) == offsetof(loy_till_status, rejected));
  struct {
    status_1_0 s;
    char guard[32];
  } old{};
  std::memset(old.guard, 0x5a, sizeof old.guard);
  old.s.struct_size = sizeof old.s;
  REQUIRE(loy_till_status_get(till, reinterpret_cast<loy_till_status*>(&old.s)) == LOY_OK);
  CHECK(old.s.last_sync_unix == -1);
  for (char g : old.guard) CHECK(g == 0x5a);  // nothing written past the old struct
}

TEST_CASE("a sync the POS asks for that fails is logged as a warning, as a background sync's failure is", "[till]") {
  test::TempDir dir;
  std::vector<std::pair<std::int32_t, std::string>> lines;
  loy_till_options o{};
  o.struct_size = sizeof o;
  o.log = [](std::int32_t level, const char* message, void* userdata) {
    static_cast<std::vector<std::pair<std::int32_t, std::string>>*>(userdata)->emplace_back(level, message);
  };
  o.log_userdata = &lines;
  o.log_level = LOY_LOG_WARN;
  loy_till* till = nullptr;
  REQUIRE(loy_till_open(test::write_config(dir.path()).c_str(), &o, &till, nullptr, 0) == LOY_OK);
  CHECK(loy_till_sync(till, nullptr) == LOY_E_NETWORK);
  const std::string error = loy_till_last_error(till);
  loy_till_close(till);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].first == LOY_LOG_WARN);
  CHECK(lines[0].second == "sync failed: " + error);
}
