// Misuse through the C interface returns errors; run under ASan by the test-asan workflow.
#include <catch2/catch.hpp>

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
