#include <catch2/catch.hpp>
#include <cstring>
#include <thread>

#include "support.hpp"

using namespace loyalty;
using nlohmann::json;

TEST_CASE("the library says its version and names every status", "[till]") {
  CHECK(loy_version() == LOY_VERSION);
  CHECK(loy_version() >> 16 == 1);
  for (loy_status s : {LOY_OK, LOY_E_INVALID_ARGUMENT, LOY_E_STRUCT_SIZE, LOY_E_UTF8, LOY_E_NOT_FOUND, LOY_E_STATE,
                       LOY_E_CONFIG, LOY_E_STORAGE, LOY_E_RULES, LOY_E_NO_RULES, LOY_E_DOCUMENT, LOY_E_CONFLICT,
                       LOY_E_CONSENT, LOY_E_TOO_LARGE, LOY_E_INTERNAL}) {
    INFO(s);
    CHECK(std::string(loy_status_str(s)) != "unknown status");
  }
  CHECK(std::string(loy_status_str(12345)) == "unknown status");
}

TEST_CASE("a till opens from its configuration and creates its database", "[till]") {
  test::TempDir dir;
  const auto config = test::write_config(dir.path());
  {
    test::TestTill till(config);
    loy_till_status st{};
    st.struct_size = sizeof st;
    REQUIRE(loy_till_status_get(till, &st) == LOY_OK);
    CHECK(st.outbox_depth == 0);
    CHECK(st.oldest_unsynced_seconds == -1);
    CHECK(st.last_sync_unix == -1);
    CHECK(st.members == 0);
    CHECK(std::string(st.rules_version).empty());
  }
  CHECK(std::filesystem::exists(dir.path() / "data" / "till.db"));
}

TEST_CASE("a till that cannot open says why and returns no handle", "[till]") {
  test::TempDir dir;
  char error[512];
  loy_till* till = reinterpret_cast<loy_till*>(0x1);
  CHECK(loy_till_open((dir.path() / "missing.json").c_str(), nullptr, &till, error, sizeof error) == LOY_E_CONFIG);
  CHECK(till == nullptr);
  CHECK(std::string(error).find("cannot be read") != std::string::npos);

  const auto expect_config_error = [&](json edit, const std::string& message) {
    const auto config = test::write_config(dir.path(), &edit);
    INFO(edit.dump());
    CHECK(loy_till_open(config.c_str(), nullptr, &till, error, sizeof error) == LOY_E_CONFIG);
    CHECK(till == nullptr);
    CHECK(std::string(error).find(message) != std::string::npos);
  };
  expect_config_error({{"store_id", "S 1"}}, "store_id: must be 1..32 letters, digits, '-' or '_'");
  expect_config_error({{"code_key", "abcd"}}, "code_key: must be at least 32 bytes");
  expect_config_error({{"hq", {{"url", "http://127.0.0.1:8443"}}}}, "hq.url: must be an https:// URL");
  expect_config_error({{"hq", {{"ca_file", "nowhere.pem"}}}}, "hq.ca_file: cannot be read");
  expect_config_error({{"till_id", nullptr}}, "till_id: is required");
  expect_config_error({{"colour", "red"}}, "colour: is not a known key");
  expect_config_error({{"sync", {{"interval_seconds", -1}}}}, "sync.interval_seconds: must be within 0..86400");

  test::write_text(dir.path() / "broken.json", "{\"data_dir\": ");
  CHECK(loy_till_open((dir.path() / "broken.json").c_str(), nullptr, &till, error, sizeof error) == LOY_E_CONFIG);
  CHECK(std::string(error).find("not valid JSON") != std::string::npos);
}

TEST_CASE("open refuses NULLs and a wrong options size, and truncates its error to the buffer", "[till]") {
  test::TempDir dir;
  const auto config = test::write_config(dir.path());
  loy_till* till = nullptr;
  char error[16];
  CHECK(loy_till_open(nullptr, nullptr, &till, error, sizeof error) == LOY_E_INVALID_ARGUMENT);
  CHECK(std::strlen(error) == sizeof error - 1);
  CHECK(loy_till_open(config.c_str(), nullptr, nullptr, nullptr, 0) == LOY_E_INVALID_ARGUMENT);
  loy_till_options options{};
  options.struct_size = 4;
  CHECK(loy_till_open(config.c_str(), &options, &till, nullptr, 0) == LOY_E_STRUCT_SIZE);
  CHECK(till == nullptr);
  loy_till_close(nullptr);
  CHECK(std::string(loy_till_last_error(nullptr)).empty());
}

TEST_CASE("the log callback hears the till open, at the level asked for", "[till]") {
  test::TempDir dir;
  const auto config = test::write_config(dir.path());
  std::vector<std::string> lines;
  loy_till_options options{};
  options.struct_size = sizeof options;
  options.log = [](int32_t level, const char* message, void* userdata) {
    static_cast<std::vector<std::string>*>(userdata)->push_back(std::to_string(level) + " " + message);
  };
  options.log_userdata = &lines;
  loy_till* till = nullptr;
  REQUIRE(loy_till_open(config.c_str(), &options, &till, nullptr, 0) == LOY_OK);
  REQUIRE(loy_till_apply_rules(till, test::demo_rules().data(), test::demo_rules().size()) == LOY_OK);
  loy_till_close(till);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] == "20 till S001/T01 opened, no rules yet");
  CHECK(lines[1] == "20 rules demo-2026.1 installed");
  options.log_level = LOY_LOG_ERROR;
  lines.clear();
  REQUIRE(loy_till_open(config.c_str(), &options, &till, nullptr, 0) == LOY_OK);
  loy_till_close(till);
  CHECK(lines.empty());
}

TEST_CASE("a till's database belongs to one open till at a time", "[till]") {
  test::TempDir dir;
  const auto config = test::write_config(dir.path());
  test::TestTill first(config);
  loy_till* second = nullptr;
  char error[512];
  CHECK(loy_till_open(config.c_str(), nullptr, &second, error, sizeof error) == LOY_E_STORAGE);
  CHECK(second == nullptr);
  CHECK(std::string(error).find("locked") != std::string::npos);
}

TEST_CASE("the log callback may call into the till, and each thread keeps its own last error", "[till]") {
  test::TempDir dir;
  const auto config = test::write_config(dir.path());
  struct Seen {
    loy_till* till = nullptr;
    int calls = 0;
    int64_t outbox = -1;
  } seen;
  loy_till_options options{};
  options.struct_size = sizeof options;
  options.log_userdata = &seen;
  options.log = [](int32_t, const char*, void* userdata) {
    auto* s = static_cast<Seen*>(userdata);
    ++s->calls;
    if (!s->till) return;
    loy_till_status st{};
    st.struct_size = sizeof st;
    if (loy_till_status_get(s->till, &st) == LOY_OK) s->outbox = st.outbox_depth;  // re-entry: no deadlock
  };
  REQUIRE(loy_till_open(config.c_str(), &options, &seen.till, nullptr, 0) == LOY_OK);
  const std::string rules = test::demo_rules();
  REQUIRE(loy_till_apply_rules(seen.till, rules.data(), rules.size()) == LOY_OK);
  CHECK(seen.calls == 2);
  CHECK(seen.outbox == 0);

  auto m = test::member_info();
  CHECK(loy_till_lookup(seen.till, "13000000000", &m) == LOY_E_NOT_FOUND);
  std::string other;
  std::thread([&] {
    CHECK(loy_till_lookup(seen.till, "not a code!", &m) == LOY_E_INVALID_ARGUMENT);
    other = loy_till_last_error(seen.till);
  }).join();
  CHECK(std::string(loy_till_last_error(seen.till)) == "no member has this code");
  CHECK(other.find("a member code is 1..64 digits and letters") != std::string::npos);
  loy_till_close(seen.till);
}
