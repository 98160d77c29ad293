// Limits that the till and headquarters share (protocol/limits.hpp): a value at each limit goes
// through a real till into a real headquarters and back, and one past it is refused where it is
// made. Headquarters answers at most its page whatever a till asks, a rule set a till cannot load
// stops none of its member changes, and a malformed sealed envelope is refused without reading
// past a buffer.
#include <catch2/catch.hpp>
#include <regex>

#include "hq_fixture.hpp"
#include "loyalty/protocol/limits.hpp"

using namespace loyalty::test;
namespace limits = loyalty::protocol::limits;

namespace {

// A string of exactly `bytes` bytes of a three-byte character ("收"), padded with ASCII.
std::string utf8_of(std::size_t bytes) {
  std::string s;
  while (s.size() + 3 <= bytes) s += "\xe6\x94\xb6";
  while (s.size() < bytes) s += 'x';
  return s;
}

std::string last_error(loy_till* t) { return loy_till_last_error(t); }

bool has_prompt(const loy_member_info& m, std::int32_t code) {
  for (std::uint32_t i = 0; i < m.prompt_count; ++i)
    if (m.prompts[i].code == code) return true;
  return false;
}

}  // namespace

TEST_CASE("ids, names and versions at every limit go from a till to headquarters and back uncut", "[sync]") {
  TempDir tmp;
  const std::string store = "S" + std::string(limits::kStoreId - 1, '9');
  const std::string till_id = "T" + std::string(limits::kTillId - 1, '8');
  Chain chain(tmp.path() / "pki", {store});
  HqProcess hq(tmp.path() / "hq", chain.dir());

  auto rules = nlohmann::json::parse(read_text(demo_rules_path()));
  const std::string version = std::string(limits::kRulesVersion - 4, 'v') + "-1.0";
  const std::string tier = utf8_of(limits::kTierId);
  const std::string tier_name = utf8_of(limits::kTierName);
  rules["version"] = version;
  rules["tiers"][0]["id"] = tier;
  rules["tiers"][0]["name"] = tier_name;
  write_text(tmp.path() / "rules.json", rules.dump());
  hq.publish_rules(tmp.path() / "rules.json");
  const std::string member = "M-" + std::string(limits::kMemberId - 2, '7');
  hq.import_members("id,name,phone,card,birthday,tier,points\n" + member + ",Ann Lee,13800000001,,," + tier + ",500\n");
  hq.start();

  TestTill t(write_till_config(tmp.path() / "till", store, till_id, hq.url(), chain.dir()));
  REQUIRE(sync(t) == LOY_OK);
  CHECK(std::string(status(t).rules_version) == version);

  // A member enrolled here gets an id headquarters accepts, handed to the POS whole.
  loy_enrollment e{};
  e.struct_size = sizeof e;
  e.phone = "13900000009";
  e.name = "Zhang Wei";
  e.consent = "signed form";
  auto enrolled = member_info();
  REQUIRE(loy_till_enroll(t, &e, &enrolled) == LOY_OK);
  const std::string enrolled_id = enrolled.member_id;
  CHECK(std::regex_match(enrolled_id, std::regex("T-" + store + "-[0-9a-f]{16}")));
  CHECK(std::string(enrolled.tier_id) == tier);
  CHECK(std::string(enrolled.tier_name) == tier_name);

  // A sale with the POS's longest ids and fields.
  const std::string receipt = utf8_of(limits::kPosId), line_id = utf8_of(limits::kPosId);
  const std::string sku = utf8_of(limits::kSku), category = utf8_of(limits::kCategory);
  loy_checkout* c = nullptr;
  REQUIRE(loy_checkout_begin(t, &c) == LOY_OK);
  REQUIRE(loy_checkout_identify(c, "13900000009", nullptr) == LOY_OK);
  loy_line l = sale_line(line_id.c_str(), category.c_str(), 12000);
  l.sku = sku.c_str();
  REQUIRE(loy_checkout_add_line(c, &l) == LOY_OK);
  REQUIRE(loy_checkout_commit(c, receipt.c_str(), nullptr) == LOY_OK);
  loy_checkout_free(c);
  REQUIRE(sell(t, "R-2", "13800000001", 5000).status == LOY_OK);

  loy_sync_result r{};
  REQUIRE(sync(t, &r) == LOY_OK);
  CHECK(r.sent == 3);
  CHECK(r.applied == 3);
  CHECK(r.rejected == 0);
  CHECK(status(t).rejected == 0);
  CHECK(hq.query("SELECT COUNT(*) FROM sales WHERE receipt_id = '" + receipt + "'") == 1);
  CHECK(hq.query("SELECT COUNT(*) FROM members WHERE id = '" + enrolled_id + "'") == 1);
  CHECK(hq.query("SELECT COUNT(*) FROM sales WHERE member_id = '" + member + "'") == 1);

  // Back at the till: the records headquarters sends carry every id whole.
  REQUIRE(sync(t) == LOY_OK);
  const auto m = lookup(t, "13800000001");
  CHECK(std::string(m.member_id) == member);
  CHECK(std::string(m.tier_id) == tier);
  CHECK(lookup(t, "13900000009").confirmed_points > 0);
  hq.stop();
}

TEST_CASE("a value past a limit is refused where it is made, never later by the other side", "[sync]") {
  TempDir tmp;
  Chain chain(tmp.path() / "pki", {"S001"});
  HqProcess hq(tmp.path() / "hq", chain.dir());
  auto rules = nlohmann::json::parse(read_text(demo_rules_path()));

  // A rule set: refused by `loyalty-hq rules set` and by a till alike.
  int n = 0;
  for (const auto& [pointer, value] : std::vector<std::pair<std::string, nlohmann::json>>{
           {"/version", std::string(limits::kRulesVersion + 1, 'v')},
           {"/version", "demo 2026"},
           {"/tiers/1/id", std::string(limits::kTierId + 1, 't')},
           {"/tiers/1/name", std::string(limits::kTierName + 1, 'n')}}) {
    auto bad = rules;
    bad[nlohmann::json::json_pointer(pointer)] = value;
    write_text(tmp.path() / "bad.json", bad.dump());
    const auto published = hq.cli({"rules", "set", (tmp.path() / "bad.json").string()});
    INFO(pointer << ": " << published.out);
    CHECK(published.exit_code != 0);
    CHECK(published.out.find(pointer.substr(1, pointer.find('/', 1) - 1)) != std::string::npos);
    const auto config = write_till_config(tmp.path() / ("till-" + std::to_string(++n)), "S001", "T01",
                                          "https://127.0.0.1:1", chain.dir());
    TestTill t(config);
    const std::string text = bad.dump();
    CHECK(loy_till_apply_rules(t, text.data(), text.size()) == LOY_E_RULES);
  }
  CHECK(!std::filesystem::exists(hq.dir() / "hq.db"));  // nothing was published

  // A till's store and till ids: refused when the till opens.
  for (const auto& [store, till_id] : std::vector<std::pair<std::string, std::string>>{
           {std::string(limits::kStoreId + 1, 'S'), "T01"},
           {"S001", std::string(limits::kTillId + 1, 'T')},
           {"S.001", "T01"}}) {
    const auto config = write_till_config(tmp.path() / "bad-till", store, till_id, "https://127.0.0.1:1", chain.dir());
    loy_till* t = nullptr;
    char error[512] = "";
    CHECK(loy_till_open(config.c_str(), nullptr, &t, error, sizeof error) == LOY_E_CONFIG);
    CHECK(t == nullptr);
    CHECK(std::string(error).find(store.size() > limits::kStoreId || store == "S.001" ? "store_id" : "till_id") !=
          std::string::npos);
  }

  // Headquarters' body limit below the largest batch a till sends: refused at start.
  HqProcess small(tmp.path() / "small", chain.dir(), {{"limits", {{"body_bytes", 65536}}}});
  const auto refused = small.cli({"members", "list"});
  CHECK(refused.exit_code != 0);
  CHECK(refused.out.find("limits.body_bytes") != std::string::npos);
}

TEST_CASE("headquarters answers at most its page, whatever page a till asks for", "[sync]") {
  SyncWorld w(nlohmann::json{{"limits", {{"changes_page", 100}}}});
  std::string csv = "id,name,phone,card,birthday,tier,points\n";
  for (int i = 0; i < 300; ++i) csv += "P-" + std::to_string(i) + ",Member,1370000" + std::to_string(1000 + i) + ",,,silver,10\n";
  w.hq.import_members(csv);
  TestTill t(w.till("S001", "T01"));
  loy_sync_result r{};
  REQUIRE(sync(t, &r) == LOY_OK);
  CHECK(r.members == 303);
  CHECK(status(t).members == 303);
  CHECK(std::string(status(t).last_sync_error).empty());
  CHECK_FALSE(has_prompt(lookup(t, "13700001299"), LOY_PROMPT_OFFLINE));
}

TEST_CASE("a rule set a till cannot load stops none of its member changes, and its status says why", "[sync]") {
  SyncWorld w;
  TestTill t(w.till("S001", "T01"));
  REQUIRE(sync(t) == LOY_OK);
  w.hq.import_members("id,name,phone,card,birthday,tier,points\nM-1,Ann Lee,13800000001,CARD-0001,05-17,gold,7000\n");
  // A newer release's headquarters publishes rules with a key this till does not know.
  auto newer = nlohmann::json::parse(read_text(demo_rules_path()));
  newer["version"] = "demo-2027.1";
  newer["loyalty_games"] = {{"enabled", true}};
  w.hq.execute("INSERT INTO rules(version, json, published_us) VALUES('demo-2027.1', '" + newer.dump() + "', 1)");

  loy_sync_result r{};
  const loy_status synced = sync(t, &r);
  INFO(last_error(t) << "\n" << w.hq.log());
  REQUIRE(synced == LOY_OK);
  CHECK(r.rules_updated == 0);
  CHECK(r.members == 1);
  const auto st = status(t);
  CHECK(std::string(st.rules_version) == "demo-2026.1");
  CHECK(std::string(st.rules_error).find("loyalty_games") != std::string::npos);
  CHECK(std::string(st.last_sync_error).empty());
  const auto m = lookup(t, "13800000001");
  CHECK(m.confirmed_points == 7000);
  CHECK_FALSE(has_prompt(m, LOY_PROMPT_OFFLINE));

  // Once headquarters publishes rules the till can load, the error is gone.
  auto fixed = nlohmann::json::parse(read_text(demo_rules_path()));
  fixed["version"] = "demo-2027.2";
  write_text(w.tmp.path() / "fixed.json", fixed.dump());
  w.hq.publish_rules(w.tmp.path() / "fixed.json");
  REQUIRE(sync(t, &r) == LOY_OK);
  CHECK(r.rules_updated == 1);
  CHECK(std::string(status(t).rules_version) == "demo-2027.2");
  CHECK(std::string(status(t).rules_error).empty());
}

TEST_CASE("a sealed enrollment with a short iv or tag is refused, and headquarters reads no byte past it", "[sync]") {
  SyncWorld w;
  const auto config = w.till("S001", "T01");
  const auto db = w.tmp.path() / "S001-T01" / "data" / "till.db";
  {
    TestTill t(config);
    REQUIRE(sync(t) == LOY_OK);
    for (const char* phone : {"13900000001", "13900000002", "13900000003"}) {
      loy_enrollment e{};
      e.struct_size = sizeof e;
      e.phone = phone;
      e.consent = "signed form";
      REQUIRE(loy_till_enroll(t, &e, nullptr) == LOY_OK);
    }
  }
  tamper_outbox(db, "UPDATE outbox SET body = json_set(body, '$.sealed.iv', 'AAAA') WHERE seq = 1");
  tamper_outbox(db, "UPDATE outbox SET body = json_set(body, '$.sealed.tag', 'AAAA') WHERE seq = 2");
  TestTill t(config);
  loy_sync_result r{};
  REQUIRE(sync(t, &r) == LOY_OK);
  CHECK(r.applied == 1);
  CHECK(r.rejected == 2);
  CHECK(w.hq.query("SELECT COUNT(*) FROM txns WHERE reason LIKE 'sealed_invalid: sealed envelope: iv must be 12 bytes%'") ==
        1);
  CHECK(w.hq.query("SELECT COUNT(*) FROM txns WHERE reason LIKE 'sealed_invalid: sealed envelope: tag must be 16 bytes%'") ==
        1);
  CHECK(w.hq.query("SELECT COUNT(*) FROM members WHERE id LIKE 'T-S001-%'") == 1);
  CHECK(last_error(t).empty());
  w.hq.stop();  // exits cleanly: nothing it read broke it
}

TEST_CASE("a sale whose stored body is damaged is refused at the till, and every other one still syncs", "[sync]") {
  SyncWorld w;
  const auto config = w.till("S001", "T01");
  const auto db = w.tmp.path() / "S001-T01" / "data" / "till.db";
  {
    TestTill t(config);
    REQUIRE(sync(t) == LOY_OK);
    for (const char* r : {"D-1", "D-2", "D-3"}) REQUIRE(sell(t, r, "13800000001", 10000).status == LOY_OK);
  }
  // D-2's body as a packed one that does not unpack, and one that names 5 MB in 12 bytes.
  tamper_outbox(db, "UPDATE outbox SET body = X'5000000001020304050607' WHERE receipt_id = 'D-2'");
  {
    TestTill t(config);
    loy_sync_result r{};
    REQUIRE(sync(t, &r) == LOY_OK);
    CHECK(r.applied == 2);
    CHECK(w.hq.query("SELECT COUNT(*) FROM txns t JOIN sales s ON s.rowid = t.rowid WHERE s.receipt_id IN ('D-1', 'D-3')") == 2);
    CHECK(w.hq.query("SELECT COUNT(*) FROM txns t JOIN sales s ON s.rowid = t.rowid WHERE s.receipt_id = 'D-2'") == 0);
    const auto st = status(t);
    CHECK(st.rejected == 1);
    CHECK(st.outbox_depth == 0);
    // Its retried commit is a clear storage error, not a crash nor a second sale.
    loy_checkout* c = nullptr;
    REQUIRE(loy_checkout_begin(t, &c) == LOY_OK);
    REQUIRE(loy_checkout_identify(c, "13800000001", nullptr) == LOY_OK);
    const loy_line l = sale_line("1", "apparel", 10000);
    REQUIRE(loy_checkout_add_line(c, &l) == LOY_OK);
    CHECK(loy_checkout_commit(c, "D-2", nullptr) == LOY_E_STORAGE);
    CHECK(std::string(loy_checkout_last_error(c)).find("damaged") != std::string::npos);
    loy_checkout_free(c);
    REQUIRE(sync(t, &r) == LOY_OK);  // not sent again
    CHECK(r.applied == 0);
  }
  tamper_outbox(db, "UPDATE outbox SET body = X'0000500001020304050607' WHERE receipt_id = 'D-3'");
  TestTill t(config);
  REQUIRE(sync(t) == LOY_OK);  // an entry headquarters answered is not read again
  CHECK(status(t).rejected == 1);
}

TEST_CASE("the largest sale a till lets the POS make fits a batch headquarters takes, and is applied", "[sync]") {
  // Its 6 MB batch may take longer than the fixture's 5 seconds on a loaded machine under a sanitizer:
  // this test is of what fits, not of how fast.
  SyncWorld w(nlohmann::json{{"limits", {{"timeout_seconds", 60}}}});
  TestTill t(w.till("S001", "T01", nlohmann::json{{"sync", {{"timeout_seconds", 60}}}}));
  REQUIRE(sync(t) == LOY_OK);
  loy_checkout* c = nullptr;
  REQUIRE(loy_checkout_begin(t, &c) == LOY_OK);
  REQUIRE(loy_checkout_identify(c, "13800000001", nullptr) == LOY_OK);
  // Control characters: JSON escapes each as six bytes, the most a byte can take.
  const std::string sku(limits::kSku, '\x01'), category(limits::kCategory, '\x02');
  std::size_t lines = 0;
  while (true) {
    std::string id = std::to_string(lines);
    id = std::string(limits::kPosId - id.size(), '\x03') + id;
    loy_line l = sale_line(id.c_str(), category.c_str(), 100);
    l.sku = sku.c_str();
    const loy_status s = loy_checkout_add_line(c, &l);
    if (s == LOY_E_TOO_LARGE) break;
    REQUIRE(s == LOY_OK);
    ++lines;
  }
  CHECK(lines > 1000);
  CHECK(std::string(loy_checkout_last_error(c)).find("would exceed") != std::string::npos);
  REQUIRE(loy_checkout_commit(c, "R-BIG", nullptr) == LOY_OK);
  loy_checkout_free(c);
  REQUIRE(sell(t, "R-SMALL", "13800000002", 1000).status == LOY_OK);

  loy_sync_result r{};
  REQUIRE(sync(t, &r) == LOY_OK);
  CHECK(r.applied == 2);
  CHECK(r.rejected == 0);
  const auto big = w.hq.query("SELECT LENGTH(body) FROM txns t JOIN sales s ON s.rowid = t.rowid WHERE s.receipt_id = 'R-BIG'");
  CHECK(big > static_cast<std::int64_t>(limits::kTxnBytes) * 9 / 10);
  CHECK(big <= static_cast<std::int64_t>(limits::kTxnBytes));
}

TEST_CASE("the largest amounts a till quotes are applied at headquarters; a sale's total past the limit is refused "
          "before payment",
          "[sync]") {
  SyncWorld w;
  TestTill t(w.till("S001", "T01"));
  REQUIRE(sync(t) == LOY_OK);
  // Two lines whose total is the limit: more than a trillion points for a gold member.
  loy_checkout* c = nullptr;
  REQUIRE(loy_checkout_begin(t, &c) == LOY_OK);
  REQUIRE(loy_checkout_identify(c, "13800000001", nullptr) == LOY_OK);
  const loy_line a = sale_line("1", "apparel", limits::kMaxMinor / 2);
  const loy_line b = sale_line("2", "apparel", limits::kMaxMinor / 2);
  REQUIRE(loy_checkout_add_line(c, &a) == LOY_OK);
  REQUIRE(loy_checkout_add_line(c, &b) == LOY_OK);
  loy_quote q{};
  q.struct_size = sizeof q;
  REQUIRE(loy_checkout_commit(c, "R-MAX", &q) == LOY_OK);
  loy_checkout_free(c);
  CHECK(q.points_earned > 1'000'000'000'000);
  // One unit more is refused by the quote, before the customer pays.
  REQUIRE(loy_checkout_begin(t, &c) == LOY_OK);
  const loy_line over = sale_line("3", "apparel", 1);
  REQUIRE(loy_checkout_add_line(c, &a) == LOY_OK);
  REQUIRE(loy_checkout_add_line(c, &b) == LOY_OK);
  REQUIRE(loy_checkout_add_line(c, &over) == LOY_OK);
  loy_quote refused{};
  refused.struct_size = sizeof refused;
  CHECK(loy_checkout_quote(c, &refused) == LOY_E_INVALID_ARGUMENT);
  CHECK(loy_checkout_commit(c, "R-OVER", nullptr) == LOY_E_INVALID_ARGUMENT);
  loy_checkout_free(c);

  loy_sync_result r{};
  REQUIRE(sync(t, &r) == LOY_OK);
  CHECK(r.applied == 1);
  CHECK(r.rejected == 0);
  CHECK(w.hq.member("M-1")["points"] == 5000 + q.points_earned);
}
