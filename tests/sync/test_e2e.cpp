// Tills of two stores and a real loyalty-hq over mutual TLS on 127.0.0.1: sales reach headquarters
// once, balances update, and each till receives what the others did.
#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>

#include "hq_fixture.hpp"

using namespace loyalty::test;

namespace {

using World = SyncWorld;

std::int64_t net_points(const loy_quote& q) { return q.points_earned - q.redeem_points; }

}  // namespace

TEST_CASE("sales at tills of two stores reach headquarters once, and each till receives the other's", "[sync]") {
  World w;
  TestTill a(w.till("S001", "T01"));
  TestTill b(w.till("S002", "T01"));

  loy_sync_result r{};
  REQUIRE(sync(a, &r) == LOY_OK);
  CHECK(r.members == 3);
  CHECK(r.rules_updated == 1);
  CHECK(r.sent == 0);
  REQUIRE(sync(b) == LOY_OK);
  CHECK(std::string(status(a).rules_version) == "demo-2026.1");
  CHECK(status(b).members == 3);
  CHECK(lookup(b, "CARD-0001").confirmed_points == 5000);

  const Sold a1 = sell(a, "R-A1", "13800000001", 10000);
  const Sold a2 = sell(a, "R-A2", "13800000002", 20000);
  const Sold b1 = sell(b, "R-B1", "CARD-0001", 5000, 500);
  REQUIRE(a1.status == LOY_OK);
  REQUIRE(a2.status == LOY_OK);
  REQUIRE(b1.status == LOY_OK);
  REQUIRE(b1.quote.redeem_points == 500);
  CHECK(lookup(a, "13800000001").available_points == 5000 + net_points(a1.quote));
  CHECK(status(a).outbox_depth == 2);

  REQUIRE(sync(a, &r) == LOY_OK);
  CHECK(r.sent == 2);
  CHECK(r.applied == 2);
  CHECK(r.duplicates == 0);
  CHECK(status(a).outbox_depth == 0);
  REQUIRE(sync(b, &r) == LOY_OK);
  CHECK(r.sent == 1);
  CHECK(r.applied == 1);

  const std::int64_t m1_points = 5000 + net_points(a1.quote) + net_points(b1.quote);
  const auto m1 = w.hq.member("M-1");
  CHECK(m1["points"] == m1_points);
  CHECK(m1["purchases"] == 2);
  CHECK(w.hq.member("M-2")["points"] == 1000 + net_points(a2.quote));
  CHECK(w.hq.query("SELECT COUNT(*) FROM sales") == 3);
  CHECK(w.hq.query("SELECT COUNT(*) FROM txns WHERE status = 'applied'") == 3);

  // Till a learns of b's sale, and b of a's: confirmed, and nothing pending twice.
  REQUIRE(sync(a) == LOY_OK);
  const auto at_a = lookup(a, "13800000001");
  CHECK(at_a.confirmed_points == m1_points);
  CHECK(at_a.pending_points == 0);
  const auto at_b = lookup(b, "13800000001");
  CHECK(at_b.confirmed_points == m1_points);
  CHECK(at_b.pending_points == 0);
  CHECK(status(a).last_sync_unix > 0);
  CHECK(std::string(status(a).last_sync_error).empty());
}

TEST_CASE("an enrollment becomes a member at headquarters; the same phone enrolled at another store merges into it",
          "[sync]") {
  World w;
  TestTill a(w.till("S001", "T01"));
  TestTill b(w.till("S002", "T01"));
  REQUIRE(sync(a) == LOY_OK);
  REQUIRE(sync(b) == LOY_OK);

  loy_enrollment e{};
  e.struct_size = sizeof e;
  e.phone = "139 0000 0009";
  e.name = "Zhou Min";
  e.consent = "terms v3 accepted on the till";
  loy_member_info made = member_info();
  REQUIRE(loy_till_enroll(a, &e, &made) == LOY_OK);
  const std::string a_id = made.member_id;
  const Sold a1 = sell(a, "R-A1", "13900000009", 30000);
  REQUIRE(a1.status == LOY_OK);
  REQUIRE(sync(a) == LOY_OK);
  auto hq_member = w.hq.member(a_id);
  REQUIRE(hq_member.is_object());
  CHECK(hq_member["masked_name"] == "Z*** M**");
  const CliResult detail = w.hq.cli({"member", a_id, "--json"});
  REQUIRE(detail.exit_code == 0);
  CHECK(nlohmann::json::parse(detail.out)["name"] == "Zhou Min");  // personal data: only here
  CHECK(hq_member["purchases"] == 1);
  CHECK(hq_member["points"] == net_points(a1.quote));

  // Store S002 has not heard of the new member yet: it enrolls the same phone and sells to it.
  loy_member_info made_b = member_info();
  REQUIRE(loy_till_enroll(b, &e, &made_b) == LOY_OK);
  const std::string b_id = made_b.member_id;
  CHECK(b_id != a_id);
  const Sold b1 = sell(b, "R-B1", "13900000009", 10000);
  REQUIRE(b1.status == LOY_OK);
  loy_sync_result r{};
  REQUIRE(sync(b, &r) == LOY_OK);
  CHECK(r.applied == 2);
  CHECK(r.rejected == 0);

  hq_member = w.hq.member(a_id);
  CHECK(hq_member["purchases"] == 2);
  CHECK(hq_member["points"] == net_points(a1.quote) + net_points(b1.quote));
  CHECK(hq_member["aliases"] == nlohmann::json::array({b_id}));
  CHECK(w.hq.member(b_id).is_null());  // one member, not two
  CHECK(w.hq.query("SELECT COUNT(*) FROM members") == 4);

  // Both tills now know the phone as one member, with every sale counted once.
  for (loy_till* t : {a.get(), b.get()}) {
    REQUIRE(sync(t) == LOY_OK);
    const auto m = lookup(t, "13900000009");
    CHECK(std::string(m.member_id) == a_id);
    CHECK(m.confirmed_points == hq_member["points"].get<std::int64_t>());
    CHECK(m.pending_points == 0);
  }
}

TEST_CASE("a rule set published at headquarters reaches the tills once", "[sync]") {
  World w;
  TestTill a(w.till("S001", "T01"));
  loy_sync_result r{};
  REQUIRE(sync(a, &r) == LOY_OK);
  CHECK(r.rules_updated == 1);
  REQUIRE(sync(a, &r) == LOY_OK);
  CHECK(r.rules_updated == 0);  // If-None-Match: 304

  auto rules = nlohmann::json::parse(read_text(demo_rules_path()));
  rules["version"] = "demo-2026.2";
  rules["first_purchase"]["discount_bp"] = 1500;
  write_text(w.tmp.path() / "rules-2.json", rules.dump());
  w.hq.publish_rules(w.tmp.path() / "rules-2.json");
  REQUIRE(sync(a, &r) == LOY_OK);
  CHECK(r.rules_updated == 1);
  CHECK(std::string(status(a).rules_version) == "demo-2026.2");
  const Sold s = sell(a, "R-1", "13800000002", 10000);
  REQUIRE(s.status == LOY_OK);
  CHECK(s.quote.member_discount_bp == 1500);
}

TEST_CASE("a sale of a member headquarters does not know is held, sent again, and applied once it knows them",
          "[sync]") {
  World w;
  TestTill a(w.till("S001", "T01"));
  REQUIRE(sync(a) == LOY_OK);
  // A member headquarters does not know (seeded into this till by hand).
  REQUIRE(loy_till_apply_changes(a, "{\"members\":[" , 0) == LOY_E_DOCUMENT);
  const std::string doc = changes(nlohmann::json::array({member_record("M-404", 1, "gold", 100, {"13700000404"})}), 3);
  REQUIRE(loy_till_apply_changes(a, doc.data(), doc.size()) == LOY_OK);
  const Sold held = sell(a, "R-1", "13700000404", 1000);
  REQUIRE(held.status == LOY_OK);
  REQUIRE(sell(a, "R-2", "13800000001", 1000).status == LOY_OK);
  loy_sync_result r{};
  REQUIRE(sync(a, &r) == LOY_OK);
  CHECK(r.sent == 2);
  CHECK(r.applied == 1);
  CHECK(r.rejected == 0);
  auto st = status(a);
  CHECK(st.held == 1);
  CHECK(st.rejected == 0);
  CHECK(st.outbox_depth == 0);
  CHECK(lookup(a, "13700000404").pending_points == held.quote.points_earned);  // still counted, never lost
  CHECK(w.hq.query("SELECT COUNT(*) FROM txns WHERE status = 'held' AND reason LIKE 'unknown_member:%'") == 1);
  CHECK(w.hq.query("SELECT COUNT(*) FROM flags WHERE kind = 'held' AND closed_us IS NULL") == 1);
  REQUIRE(sync(a, &r) == LOY_OK);
  CHECK(r.sent == 1);  // sent again
  CHECK(status(a).held == 1);

  // Once headquarters knows the member, the next sync applies the sale.
  w.hq.import_members("id,name,phone,card,birthday,tier,points\nM-404,Hu Ye,13700000404,,,gold,100\n");
  REQUIRE(sync(a, &r) == LOY_OK);
  CHECK(r.applied == 1);
  st = status(a);
  CHECK(st.held == 0);
  CHECK(st.rejected == 0);
  CHECK(w.hq.query("SELECT COUNT(*) FROM txns WHERE status = 'applied'") == 2);
  CHECK(w.hq.query("SELECT COUNT(*) FROM flags WHERE kind = 'held' AND closed_us IS NULL") == 0);
  CHECK(w.hq.member("M-404")["points"] == 100 + held.quote.points_earned);
  REQUIRE(sync(a, &r) == LOY_OK);
  CHECK(r.sent == 0);
  const auto m = lookup(a, "13700000404");
  CHECK(m.confirmed_points == 100 + held.quote.points_earned);
  CHECK(m.pending_points == 0);
}

TEST_CASE("a sale made at one store is refunded at another through headquarters", "[sync]") {
  World w;
  TestTill a(w.till("S001", "T01"));
  TestTill b(w.till("S002", "T01"));
  REQUIRE(sync(a) == LOY_OK);
  REQUIRE(sync(b) == LOY_OK);
  loy_checkout* c = nullptr;
  REQUIRE(loy_checkout_begin(a, &c) == LOY_OK);
  REQUIRE(loy_checkout_identify(c, "13800000002", nullptr) == LOY_OK);
  const loy_line l1 = sale_line("1", "apparel", 30000, 3);
  const loy_line l2 = sale_line("2", "accessories", 10000);
  REQUIRE(loy_checkout_add_line(c, &l1) == LOY_OK);
  REQUIRE(loy_checkout_add_line(c, &l2) == LOY_OK);
  loy_quote q{};
  q.struct_size = sizeof q;
  REQUIRE(loy_checkout_commit(c, "R-A1 / 7", &q) == LOY_OK);  // receipt ids are the POS's own text
  loy_checkout_free(c);

  loy_refund_item item{};
  item.struct_size = sizeof item;
  item.line_id = "1";
  item.units = 1;
  loy_refund_result rr{};
  rr.struct_size = sizeof rr;
  // Not synced by its store yet: headquarters does not know it.
  CHECK(loy_till_refund_at(b, "F-B1", "S001", "R-A1 / 7", &item, 1, &rr) == LOY_E_NOT_FOUND);
  REQUIRE(sync(a) == LOY_OK);

  // One unit at store S002, then the rest of the sale there later: the copy is fetched once.
  REQUIRE(loy_till_refund_at(b, "F-B1", "S001", "R-A1 / 7", &item, 1, &rr) == LOY_OK);
  CHECK(rr.amount_minor > 0);
  const std::int64_t first_amount = rr.amount_minor;
  const std::int64_t first_points = rr.points_taken_back;
  REQUIRE(loy_till_refund_at(b, "F-B1", "S001", "R-A1 / 7", &item, 1, &rr) == LOY_OK);
  CHECK(rr.replayed == 1);
  REQUIRE(loy_till_refund_at(b, "F-B2", "S001", "R-A1 / 7", nullptr, 0, &rr) == LOY_OK);
  CHECK(first_amount + rr.amount_minor == q.payable_minor);
  CHECK(first_points + rr.points_taken_back == q.points_earned);
  // Nothing is left of the sale anywhere now.
  CHECK(loy_till_refund_at(b, "F-B3", "S001", "R-A1 / 7", nullptr, 0, &rr) == LOY_E_STATE);

  loy_sync_result r{};
  REQUIRE(sync(b, &r) == LOY_OK);
  CHECK(r.applied == 2);
  CHECK(w.hq.member("M-2")["points"] == 1000);  // earned, and taken back in full
  CHECK(w.hq.query("SELECT COALESCE(SUM(amount_minor), 0) FROM refunds") == q.payable_minor);

  // The sale's own till, online, learns of the refunds made elsewhere: nothing is left to pay out.
  CHECK(loy_till_refund(a, "F-A1", "R-A1 / 7", nullptr, 0, &rr) == LOY_E_STATE);
  REQUIRE(sync(a, &r) == LOY_OK);
  CHECK(r.sent == 0);
  CHECK(w.hq.member("M-2")["points"] == 1000);
}

namespace {

// Waits (up to 30 s) for what the background sync does on its own.
template <class F>
bool eventually(F&& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

struct LogLines {
  std::mutex mu;
  std::vector<std::string> lines;
  static void callback(int32_t, const char* message, void* self) {
    auto* l = static_cast<LogLines*>(self);
    std::lock_guard lock(l->mu);
    l->lines.emplace_back(message);
  }
  bool contains(const std::string& text) {
    std::lock_guard lock(mu);
    for (const auto& l : lines)
      if (l.find(text) != std::string::npos) return true;
    return false;
  }
};

}  // namespace

TEST_CASE("the background sync runs on its own, and resumes when headquarters is back", "[sync]") {
  World w;
  LogLines log;
  loy_till_options options{};
  options.struct_size = sizeof options;
  options.log = &LogLines::callback;
  options.log_userdata = &log;
  loy_till* t = nullptr;
  char error[256];
  REQUIRE(loy_till_open(w.till("S001", "T01", {{"sync", {{"interval_seconds", 1}}}}).c_str(), &options, &t, error,
                        sizeof error) == LOY_OK);
  // Closed (its thread stopped) before `log` goes, whatever this test does.
  std::unique_ptr<loy_till, void (*)(loy_till*)> closer(t, loy_till_close);
  // The first sync at open brings the rules and members.
  REQUIRE(eventually([&] { return status(t).members == 3; }));
  CHECK(std::string(status(t).rules_version) == "demo-2026.1");
  REQUIRE(sell(t, "R-1", "13800000001", 10000).status == LOY_OK);
  CHECK(eventually([&] { return w.hq.query("SELECT COUNT(*) FROM sales") == 1; }));
  CHECK(eventually([&] { return status(t).outbox_depth == 0; }));

  w.hq.stop();
  REQUIRE(sell(t, "R-2", "13800000002", 10000).status == LOY_OK);
  CHECK(eventually([&] { return std::string(status(t).last_sync_error).find("cannot connect") != std::string::npos; }));
  CHECK(eventually([&] { return log.contains("sync failed: "); }));  // logged just after the status is kept
  CHECK(status(t).outbox_depth == 1);
  w.hq.start();
  CHECK(eventually([&] { return w.hq.query("SELECT COUNT(*) FROM sales") == 2; }));
  CHECK(eventually([&] { return std::string(status(t).last_sync_error).empty(); }));
  closer.reset();  // stops the thread
  CHECK(w.hq.member("M-2")["purchases"] == 1);
}

TEST_CASE("headquarters reads the chain's key from code_key_file, and refuses it given twice", "[sync]") {
  TempDir keys;
  write_text(keys.path() / "code.key", std::string(kCodeKeyHex) + "\n");
  World w({{"code_key", nullptr}, {"code_key_file", (keys.path() / "code.key").string()}});
  TestTill a(w.till("S001", "T01"));
  REQUIRE(sync(a) == LOY_OK);
  // The till hashes a scanned code with the same key as headquarters did at import.
  CHECK(lookup(a, "CARD-0001").confirmed_points == 5000);
  w.hq.edit_config({{"code_key", kCodeKeyHex}});
  const auto both = w.hq.cli({"members", "list"});
  CHECK(both.exit_code != 0);
  CHECK(both.out.find("give code_key or code_key_file, not both") != std::string::npos);
  write_text(keys.path() / "code.key", "00112233\n");
  w.hq.edit_config({{"code_key", nullptr}});
  const auto short_key = w.hq.cli({"members", "list"});
  CHECK(short_key.exit_code != 0);
  CHECK(short_key.out.find("code_key_file") != std::string::npos);
}
