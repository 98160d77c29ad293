#include <catch2/catch.hpp>
#include <sqlite3.h>

#include "loyalty/till/seal.hpp"
#include "till_db_sql.hpp"
#include "support.hpp"

using namespace loyalty;
using nlohmann::json;

namespace {

const char* const kPhone = "13712345678";
const char* const kName = "Zhang Wei";
const char* const kConsent = "consent form v3 signed at the till";

loy_enrollment enrollment(const char* phone = kPhone, const char* consent = kConsent) {
  loy_enrollment e{};
  e.struct_size = sizeof e;
  e.phone = phone;
  e.name = kName;
  e.birthday = "11-29";
  e.consent = consent;
  return e;
}

struct EnrollTill {
  test::TempDir dir;
  std::vector<std::string> log;
  loy_till* till = nullptr;
  EnrollTill() {
    loy_till_options o{};
    o.struct_size = sizeof o;
    o.log_level = LOY_LOG_DEBUG;
    o.log_userdata = &log;
    o.log = [](int32_t, const char* m, void* u) { static_cast<std::vector<std::string>*>(u)->push_back(m); };
    REQUIRE(loy_till_open(test::write_config(dir.path()).c_str(), &o, &till, nullptr, 0) == LOY_OK);
    const std::string rules = test::demo_rules();
    REQUIRE(loy_till_apply_rules(till, rules.data(), rules.size()) == LOY_OK);
  }
  ~EnrollTill() { loy_till_close(till); }
};

// Every outbox body of a kind, read from the till's database.
std::vector<json> outbox(const std::filesystem::path& db_path, const char* kind) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  test::add_body_functions(db);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT body_text(body) FROM outbox WHERE kind = ?1 ORDER BY seq", -1, &st, nullptr) == SQLITE_OK);
  sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
  std::vector<json> out;
  while (sqlite3_step(st) == SQLITE_ROW) out.push_back(json::parse(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))));
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

}  // namespace

TEST_CASE("an enrolled member is usable at once and gets the first-purchase offer in the same checkout", "[till]") {
  EnrollTill t;
  loy_checkout* c = nullptr;
  REQUIRE(loy_checkout_begin(t.till, &c) == LOY_OK);
  auto e = enrollment();
  auto m = test::member_info();
  REQUIRE(loy_checkout_enroll(c, &e, &m) == LOY_OK);
  CHECK(std::string(m.member_id).rfind("T-S001-", 0) == 0);
  CHECK(std::string(m.masked_name) == "Z**** W**");
  CHECK(std::string(m.tier_id) == "silver");
  CHECK(m.available_points == 0);
  const loy_line l = test::sale_line("1", "apparel", 10000);
  REQUIRE(loy_checkout_add_line(c, &l) == LOY_OK);
  loy_quote q{};
  q.struct_size = sizeof q;
  REQUIRE(loy_checkout_commit(c, "R-NEW", &q) == LOY_OK);
  CHECK(q.member_discount_reason == LOY_REASON_FIRST_PURCHASE);
  CHECK(q.member_discount_minor == 2000);
  CHECK(q.points_earned == 80);
  loy_checkout_free(c);

  // Found by phone at once, with the sale pending; a second sale is no longer a first purchase.
  auto again = test::member_info();
  REQUIRE(loy_till_lookup(t.till, "+86 137-1234-5678", &again) == LOY_OK);
  CHECK(std::string(again.member_id) == m.member_id);
  CHECK(again.pending_points == 80);
  for (std::uint32_t i = 0; i < again.prompt_count; ++i) CHECK(again.prompts[i].code != LOY_PROMPT_FIRST_PURCHASE);

  loy_till_status st{};
  st.struct_size = sizeof st;
  REQUIRE(loy_till_status_get(t.till, &st) == LOY_OK);
  CHECK(st.outbox_depth == 2);  // the enrollment and the sale
}

TEST_CASE("an enrollment needs consent and a new phone number", "[till]") {
  EnrollTill t;
  auto e = enrollment(kPhone, nullptr);
  CHECK(loy_till_enroll(t.till, &e, nullptr) == LOY_E_CONSENT);
  e = enrollment(kPhone, "");
  CHECK(loy_till_enroll(t.till, &e, nullptr) == LOY_E_CONSENT);
  e = enrollment("not a phone");
  CHECK(loy_till_enroll(t.till, &e, nullptr) == LOY_E_INVALID_ARGUMENT);
  e = enrollment();
  e.birthday = "02-30";
  CHECK(loy_till_enroll(t.till, &e, nullptr) == LOY_E_INVALID_ARGUMENT);
  e = enrollment();
  e.name = "Zh\xc3";
  CHECK(loy_till_enroll(t.till, &e, nullptr) == LOY_E_UTF8);
  e = enrollment();
  REQUIRE(loy_till_enroll(t.till, &e, nullptr) == LOY_OK);
  CHECK(loy_till_enroll(t.till, &e, nullptr) == LOY_E_CONFLICT);
  CHECK(loy_till_enroll(t.till, nullptr, nullptr) == LOY_E_INVALID_ARGUMENT);
  e.struct_size = 4;
  CHECK(loy_till_enroll(t.till, &e, nullptr) == LOY_E_STRUCT_SIZE);
}

TEST_CASE("an enrollment's personal fields reach headquarters sealed, and only its key opens them", "[till]") {
  EnrollTill t;
  auto e = enrollment();
  REQUIRE(loy_till_enroll(t.till, &e, nullptr) == LOY_OK);
  loy_till_close(t.till);  // the till holds its database exclusively while it is open
  t.till = nullptr;
  const auto bodies = outbox(t.dir.path() / "data" / "till.db", "enrollment");
  REQUIRE(bodies.size() == 1);
  const json& body = bodies[0];
  CHECK(body["code_hash"] == test::code_hash_hex(kPhone));
  CHECK(body["masked_name"] == "Z**** W**");
  CHECK(body["sealed"]["alg"] == "RSA-OAEP-256+A256GCM");
  const std::string key = test::read_text(std::filesystem::path(LOYALTY_TILL_TEST_DATA) / "test-hq-enroll-private.pem");
  const json personal = json::parse(till::open_sealed(body["sealed"].dump(), key));
  CHECK(personal["phone"] == kPhone);
  CHECK(personal["name"] == kName);
  CHECK(personal["birthday"] == "11-29");
  CHECK(personal["consent"] == kConsent);
  // Tampering with the envelope is detected.
  json tampered = body["sealed"];
  std::string data = tampered["data"];
  data[2] = data[2] == 'A' ? 'B' : 'A';
  tampered["data"] = data;
  CHECK_THROWS(till::open_sealed(tampered.dump(), key));
}

TEST_CASE("no personal data in clear in the till's files or its log", "[till]") {
  EnrollTill t;
  auto e = enrollment();
  loy_checkout* c = nullptr;
  REQUIRE(loy_checkout_begin(t.till, &c) == LOY_OK);
  REQUIRE(loy_checkout_enroll(c, &e, nullptr) == LOY_OK);
  const loy_line l = test::sale_line("1", "apparel", 10000);
  REQUIRE(loy_checkout_add_line(c, &l) == LOY_OK);
  REQUIRE(loy_checkout_commit(c, "R-PII", nullptr) == LOY_OK);
  loy_checkout_free(c);
  auto m = test::member_info();
  REQUIRE(loy_till_lookup(t.till, kPhone, &m) == LOY_OK);
  loy_refund_result r{};
  r.struct_size = sizeof r;
  REQUIRE(loy_till_refund(t.till, "F-PII", "R-PII", nullptr, 0, &r) == LOY_OK);

  // Every file of the till, the WAL included, while the till is open (nothing checkpointed away).
  std::size_t files = 0;
  for (const auto& f : std::filesystem::recursive_directory_iterator(t.dir.path() / "data")) {
    if (!f.is_regular_file()) continue;
    ++files;
    const std::string bytes = test::read_text(f.path());
    for (const char* secret : {kPhone, kName, "Zhang", kConsent, "+8613712345678"}) {
      INFO(f.path().filename().string() << " holds " << secret);
      CHECK(bytes.find(secret) == std::string::npos);
    }
  }
  CHECK(files >= 2);  // till.db and its WAL
  REQUIRE_FALSE(t.log.empty());
  for (const auto& line : t.log) {
    INFO(line);
    CHECK(line.find(kPhone) == std::string::npos);
    CHECK(line.find("Zhang") == std::string::npos);
  }
}
