// Disagreements of state between a till and headquarters, each a fault like a cut cable: a renamed
// till, a till or headquarters restored from a backup, a clock that jumped. Every sale whose commit
// returned OK reaches headquarters' ledger exactly once.
#include <catch2/catch.hpp>
#include <chrono>

#include "hq_fixture.hpp"

using namespace loyalty::test;

TEST_CASE("a till renamed with sales queued sends them, and they are applied under the till that made them", "[sync]") {
  SyncWorld w;
  const auto dir = w.tmp.path() / "lane-1";
  const auto config = write_till_config(dir, "S001", "T1", w.hq.url(), w.chain.dir());
  std::int64_t earned = 0;
  {
    TestTill t(config);
    REQUIRE(sync(t) == LOY_OK);
    const Sold a = sell(t, "R-1", "13800000001", 10000);
    const Sold b = sell(t, "R-2", "13800000002", 20000);
    REQUIRE(a.status == LOY_OK);
    REQUIRE(b.status == LOY_OK);
    earned = a.quote.points_earned;
    loy_enrollment e{};
    e.struct_size = sizeof e;
    e.phone = "13900000005";
    e.consent = "signed form";
    REQUIRE(loy_till_enroll(t, &e, nullptr) == LOY_OK);
    REQUIRE(status(t).outbox_depth == 3);
  }
  // The lanes are renumbered: T1 becomes T01, with its database.
  write_till_config(dir, "S001", "T01", w.hq.url(), w.chain.dir());
  TestTill t(config);
  REQUIRE(sell(t, "R-3", "13800000001", 5000).status == LOY_OK);
  loy_refund_item item{};
  item.struct_size = sizeof item;
  item.line_id = "1";
  item.units = 1;
  REQUIRE(loy_till_refund(t, "F-1", "R-2", &item, 1, nullptr) == LOY_OK);  // a sale of T1, refunded at T01

  loy_sync_result r{};
  REQUIRE(sync(t, &r) == LOY_OK);
  CHECK(r.sent == 5);
  CHECK(r.applied == 5);
  CHECK(r.rejected == 0);
  const auto st = status(t);
  CHECK(st.held == 0);
  CHECK(st.rejected == 0);
  CHECK(st.outbox_depth == 0);
  CHECK(w.hq.query("SELECT COUNT(*) FROM txns WHERE till_id = 'T1' AND status = 'applied'") == 3);
  CHECK(w.hq.query("SELECT COUNT(*) FROM txns WHERE till_id = 'T01' AND status = 'applied'") == 2);
  CHECK(w.hq.query("SELECT COUNT(*) FROM members WHERE id LIKE 'T-S001-%'") == 1);
  CHECK(w.hq.member("M-1")["points"].get<std::int64_t>() > 5000 + earned);
  const auto stores = w.hq.cli({"stores", "--json"});
  REQUIRE(stores.exit_code == 0);
  CHECK(stores.out.find("\"T01\"") != std::string::npos);
}

namespace {

loy_refund_result refund_line(loy_till* t, const char* refund_id, const char* receipt, const char* line, std::int64_t units) {
  loy_refund_result rr{};
  const loy_status s = refund_units(t, refund_id, nullptr, receipt, line, units, &rr);
  INFO(loy_till_last_error(t));
  REQUIRE(s == LOY_OK);
  return rr;
}

}  // namespace

TEST_CASE("a till restored from a backup commits receipts again: the same sale counts once, another sale under its "
          "receipt is held for an operator",
          "[sync]") {
  SyncWorld w;
  const auto config = w.till("S001", "T01");
  const auto data = w.tmp.path() / "S001-T01" / "data";
  const auto backup = w.tmp.path() / "backup";
  {
    TestTill t(config);
    REQUIRE(sync(t) == LOY_OK);
  }
  copy_dir(data, backup);
  Sold first;
  loy_refund_result refunded{};
  {
    TestTill t(config);
    first = sell(t, "R-1", "13800000001", 10000);
    REQUIRE(first.status == LOY_OK);
    REQUIRE(sell(t, "R-2", "13800000002", 20000).status == LOY_OK);
    refunded = refund_line(t, "F-1", "R-1", "1", 1);
    loy_sync_result r{};
    REQUIRE(sync(t, &r) == LOY_OK);
    REQUIRE(r.applied == 3);
  }
  const std::int64_t m1 = 5000 + first.quote.points_earned - refunded.points_taken_back;
  REQUIRE(w.hq.member("M-1")["points"] == m1);

  // The disk dies; the till comes back from last night's copy, and the POS commits its receipts again.
  copy_dir(backup, data);
  TestTill t(config);
  REQUIRE(sell(t, "R-1", "13800000001", 10000).status == LOY_OK);  // the same sale
  REQUIRE(sell(t, "R-2", "13800000002", 25000).status == LOY_OK);  // another sale under a used receipt
  refund_line(t, "F-1", "R-1", "1", 1);                             // the same refund
  loy_sync_result r{};
  REQUIRE(sync(t, &r) == LOY_OK);
  CHECK(r.sent == 3);
  CHECK(r.applied == 0);
  CHECK(r.duplicates == 2);
  CHECK(r.rejected == 0);
  CHECK(status(t).held == 1);
  CHECK(w.hq.query("SELECT COUNT(*) FROM sales") == 2);
  CHECK(w.hq.query("SELECT COUNT(*) FROM refunds") == 1);
  CHECK(w.hq.member("M-1")["points"] == m1);
  CHECK(w.hq.member("M-1")["purchases"] == 1);
  const auto m2 = w.hq.member("M-2");
  CHECK(w.hq.query("SELECT COUNT(*) FROM flags WHERE kind = 'held' AND detail LIKE '%receipt_conflict%'") == 1);

  // The operator finds the till really made both sales, and accepts the second as a sale of its own.
  const auto held = w.hq.cli({"held", "--json"});
  REQUIRE(held.exit_code == 0);
  const auto rows = nlohmann::json::parse(held.out);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0]["reason"].get<std::string>().rfind("receipt_conflict:", 0) == 0);
  const auto plain = w.hq.cli({"held", "retry", rows[0]["id"].get<std::string>()});
  CHECK(plain.out.find("0 of 1 applied") != std::string::npos);
  const auto accepted = w.hq.cli({"held", "retry", rows[0]["id"].get<std::string>(), "--accept"});
  INFO(accepted.out);
  CHECK(accepted.out.find("1 of 1 applied") != std::string::npos);
  CHECK(w.hq.query("SELECT COUNT(*) FROM sales") == 3);
  CHECK(w.hq.member("M-2")["purchases"] == m2["purchases"].get<std::int64_t>() + 1);
  REQUIRE(sync(t, &r) == LOY_OK);
  CHECK(r.duplicates == 1);
  CHECK(status(t).held == 0);
  REQUIRE(sync(t) == LOY_OK);
  CHECK(lookup(t, "13800000001").available_points == m1);
}

namespace {

Sold sell_with_coupon(loy_till* t, const std::string& receipt, const std::string& code, const char* coupon,
                      std::int64_t amount) {
  Sold s;
  loy_checkout* c = nullptr;
  REQUIRE(loy_checkout_begin(t, &c) == LOY_OK);
  REQUIRE(loy_checkout_identify(c, code.c_str(), nullptr) == LOY_OK);
  const loy_line l = sale_line("1", "apparel", amount);
  REQUIRE(loy_checkout_add_line(c, &l) == LOY_OK);
  REQUIRE(loy_checkout_set_coupon(c, coupon) == LOY_OK);
  s.quote.struct_size = sizeof s.quote;
  s.status = loy_checkout_commit(c, receipt.c_str(), &s.quote);
  loy_checkout_free(c);
  return s;
}

}  // namespace

TEST_CASE("headquarters restored from a backup: tills start their cursor over, send again what it lost, and agree "
          "with it",
          "[sync]") {
  SyncWorld w;
  TestTill a(w.till("S001", "T01"));
  TestTill b(w.till("S002", "T01"));
  const auto issued = w.hq.cli({"coupons", "issue", "--member", "M-1", "--code", "SAVE-10", "--kind", "amount", "--value",
                                "1000"});
  REQUIRE(issued.exit_code == 0);
  REQUIRE(sync(a) == LOY_OK);
  REQUIRE(sync(b) == LOY_OK);
  const auto backup = w.tmp.path() / "hq-backup";
  w.hq.save_copy(backup);

  // After the backup: a sale with the coupon, an enrollment and its first purchase.
  const Sold coupon_sale = sell_with_coupon(a, "R-1", "13800000001", "SAVE-10", 20000);
  REQUIRE(coupon_sale.status == LOY_OK);
  REQUIRE(coupon_sale.quote.coupon_discount_minor == 1000);
  loy_checkout* c = nullptr;
  REQUIRE(loy_checkout_begin(a, &c) == LOY_OK);
  loy_enrollment e{};
  e.struct_size = sizeof e;
  e.phone = "13900000007";
  e.consent = "signed form";
  REQUIRE(loy_checkout_enroll(c, &e, nullptr) == LOY_OK);
  const loy_line l = sale_line("1", "apparel", 8000);
  REQUIRE(loy_checkout_add_line(c, &l) == LOY_OK);
  REQUIRE(loy_checkout_commit(c, "R-2", nullptr) == LOY_OK);
  loy_checkout_free(c);
  REQUIRE(sync(a) == LOY_OK);
  REQUIRE(sync(a) == LOY_OK);
  const std::int64_t m1 = w.hq.member("M-1")["points"];
  REQUIRE(m1 == 5000 + coupon_sale.quote.points_earned);

  // The database file is put back from the backup, the feed's mark beside it left as it was (found at
  // start); or the whole folder is, the mark with it (found when a till's cursor is past the feed).
  const bool whole_folder = GENERATE(false, true);
  INFO((whole_folder ? "the whole folder restored" : "the database file restored"));
  w.hq.restore_copy(backup, whole_folder);
  CHECK(w.hq.query("SELECT COUNT(*) FROM flags WHERE kind = 'new_generation'") ==
        (whole_folder || !w.hq.keeps_feed_mark() ? 0 : 1));
  REQUIRE(w.hq.query("SELECT COUNT(*) FROM sales") == 0);

  loy_sync_result r{};
  REQUIRE(sync(a, &r) == LOY_OK);
  CHECK(r.applied == 3);  // the coupon sale, the enrollment and its sale: lost by the restore, sent again
  CHECK(status(a).held == 0);
  CHECK(w.hq.query("SELECT COUNT(*) FROM sales") == 2);
  CHECK(w.hq.member("M-1")["points"] == m1);
  CHECK(w.hq.query("SELECT COUNT(*) FROM coupons WHERE code = 'SAVE-10' AND used_txn_id IS NOT NULL") == 1);
  CHECK(w.hq.query("SELECT COUNT(*) FROM flags WHERE kind = 'new_generation'") == 1);
  REQUIRE(sync(a, &r) == LOY_OK);
  CHECK(r.sent == 0);
  const auto at_a = lookup(a, "13800000001");
  CHECK(at_a.confirmed_points == m1);
  CHECK(at_a.pending_points == 0);
  CHECK(lookup(a, "13900000007").pending_points == 0);

  // The other store's till learns the restored state too, the used coupon with it.
  REQUIRE(sync(b) == LOY_OK);
  CHECK(lookup(b, "13800000001").confirmed_points == m1);
  const Sold again = sell_with_coupon(b, "R-B1", "13800000001", "SAVE-10", 20000);
  REQUIRE(again.status == LOY_OK);
  CHECK(again.quote.coupon_rejected == LOY_COUPON_USED);
}

TEST_CASE("a refund of a sale that a restored headquarters never received refunds the sale under its receipt",
          "[sync]") {
  // The till is restored and commits R-1 again (another txn_id, a duplicate at headquarters); its
  // refund comes back from headquarters naming the first. Then headquarters is restored from before
  // both: it receives only the second, and the refund must find it by store, till and receipt.
  SyncWorld w;
  const auto config = w.till("S001", "T01");
  const auto data = w.tmp.path() / "S001-T01" / "data";
  const auto till_backup = w.tmp.path() / "till-backup";
  const auto hq_backup = w.tmp.path() / "hq-backup";
  {
    TestTill t(config);
    REQUIRE(sync(t) == LOY_OK);
  }
  copy_dir(data, till_backup);
  w.hq.save_copy(hq_backup);

  Sold sold;
  loy_refund_result refunded{};
  {
    TestTill t(config);
    sold = sell(t, "R-1", "13800000001", 10000);
    REQUIRE(sold.status == LOY_OK);
    refunded = refund_line(t, "F-1", "R-1", "1", 1);
    REQUIRE(sync(t) == LOY_OK);
  }
  const std::int64_t m1 = 5000 + sold.quote.points_earned - refunded.points_taken_back;
  REQUIRE(w.hq.member("M-1")["points"] == m1);

  copy_dir(till_backup, data);
  TestTill t(config);
  REQUIRE(sell(t, "R-1", "13800000001", 10000).status == LOY_OK);
  loy_sync_result r{};
  REQUIRE(sync(t, &r) == LOY_OK);
  CHECK(r.duplicates == 1);
  const loy_refund_result again = refund_line(t, "F-1", "R-1", "1", 1);  // headquarters' copy, adopted
  CHECK(again.amount_minor == refunded.amount_minor);
  REQUIRE(sync(t, &r) == LOY_OK);
  CHECK(r.sent == 0);
  REQUIRE(w.hq.query("SELECT COUNT(*) FROM txns") == 3);

  w.hq.restore_copy(hq_backup, true);
  REQUIRE(sync(t, &r) == LOY_OK);
  REQUIRE(sync(t, &r) == LOY_OK);
  CHECK(status(t).held == 0);
  CHECK(w.hq.query("SELECT COUNT(*) FROM txns WHERE status = 'held'") == 0);
  CHECK(w.hq.query("SELECT COUNT(*) FROM sales") == 1);
  CHECK(w.hq.query("SELECT COUNT(*) FROM refunds") == 1);
  CHECK(w.hq.member("M-1")["points"] == m1);
  CHECK(lookup(t, "13800000001").confirmed_points == m1);
}

TEST_CASE("a till seeded from a file with a cursor past headquarters' feed starts over, and headquarters keeps its "
          "generation",
          "[sync]") {
  SyncWorld w;
  TestTill t(w.till("S001", "T01"));
  const std::string seed = changes(nlohmann::json::array({member_record("M-404", 1, "gold", 100, {"13700000404"})}), 1042);
  REQUIRE(loy_till_apply_changes(t, seed.data(), seed.size()) == LOY_OK);
  REQUIRE(sync(t) == LOY_OK);
  CHECK(w.hq.query("SELECT COUNT(*) FROM flags WHERE kind = 'new_generation'") == 0);
  CHECK(lookup(t, "13800000001").confirmed_points == 5000);  // headquarters' records arrived
  CHECK(status(t).cache_version < 1042);
}

TEST_CASE("a sale dated far back by a till whose clock was reset is applied and flagged, and its points do not expire "
          "at once",
          "[sync]") {
  SyncWorld w;
  TestTill t(w.till("S001", "T01"));
  REQUIRE(sync(t) == LOY_OK);
  const auto sell_at = [&](const char* receipt, const char* at) {
    loy_checkout* c = nullptr;
    REQUIRE(loy_checkout_begin(t, &c) == LOY_OK);
    REQUIRE(loy_checkout_set_time(c, at) == LOY_OK);
    REQUIRE(loy_checkout_identify(c, "13800000002", nullptr) == LOY_OK);
    const loy_line l = sale_line("1", "apparel", 30000);
    REQUIRE(loy_checkout_add_line(c, &l) == LOY_OK);
    loy_quote q{};
    q.struct_size = sizeof q;
    REQUIRE(loy_checkout_commit(c, receipt, &q) == LOY_OK);
    loy_checkout_free(c);
    return q;
  };
  REQUIRE(sell(t, "R-0", "13800000002", 1000).status == LOY_OK);
  REQUIRE(sync(t) == LOY_OK);  // a batch: the till's clock is known now
  const loy_quote q = sell_at("R-1", "2001-01-01T10:00:00+08:00");
  REQUIRE(q.points_earned > 0);
  loy_sync_result r{};
  REQUIRE(sync(t, &r) == LOY_OK);
  CHECK(r.applied == 1);
  CHECK(w.hq.query("SELECT COUNT(*) FROM flags WHERE kind = 'past_timestamp' AND store_id = 'S001'") == 1);
  const std::int64_t balance = w.hq.member("M-2")["points"];

  // The daily expiry: the sale's lot would have expired in 2003; it expires from the day it arrived.
  const auto expired = w.hq.cli({"expire"});
  INFO(expired.out);
  REQUIRE(expired.exit_code == 0);
  CHECK(w.hq.member("M-2")["points"] == balance);
  const std::int64_t now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                                  std::chrono::system_clock::now().time_since_epoch()).count();
  CHECK(w.hq.query("SELECT COUNT(*) FROM lots WHERE txn_id IN (SELECT txn_id FROM sales WHERE receipt_id = 'R-1') "
                   "AND expires_us > " + std::to_string(now_us)) == 1);

  // A sale dated hours before the till's previous batch (its clock went back), within past_days:
  // flagged, applied as dated.
  const auto now = std::chrono::system_clock::now() - std::chrono::hours(3);
  const std::time_t secs = std::chrono::system_clock::to_time_t(now);
  char at[40];
  std::strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&secs));
  sell_at("R-2", at);
  REQUIRE(sync(t, &r) == LOY_OK);
  CHECK(r.applied == 1);
  CHECK(w.hq.query("SELECT COUNT(*) FROM flags WHERE kind = 'past_timestamp'") == 2);
  CHECK(w.hq.query("SELECT COUNT(*) FROM flags WHERE kind = 'past_timestamp' AND detail LIKE '%previous_batch_sent%' "
                   "AND detail LIKE '%applied as dated%'") == 1);
}

TEST_CASE("members imported with their purchase history get the offers their history earns, not a first purchase",
          "[sync]") {
  SyncWorld w;
  const auto days_ago = [](int days) {
    const std::time_t secs = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now() -
                                                                  std::chrono::hours(24 * days));
    char at[40];
    std::strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&secs));
    return std::string(at);
  };
  w.hq.import_members("id,name,phone,card,birthday,tier,points,purchases,last_purchase_at\n"
                      "M-7,Ma Li,13700000007,,,gold,5000,12," + days_ago(10) + "\n"
                      "M-8,Qi Yu,13700000008,,,gold,100,,\n"
                      "M-9,Du Fei,13700000009,,,silver,300,3," + days_ago(200) + "\n");
  TestTill t(w.till("S001", "T01"));
  REQUIRE(sync(t) == LOY_OK);
  const auto prompts = [&](const char* phone) {
    std::vector<std::int32_t> codes;
    const auto m = lookup(t, phone);
    for (std::uint32_t i = 0; i < m.prompt_count; ++i) codes.push_back(m.prompts[i].code);
    return codes;
  };
  const auto has = [](const std::vector<std::int32_t>& v, std::int32_t c) { return std::find(v.begin(), v.end(), c) != v.end(); };
  CHECK_FALSE(has(prompts("13700000007"), LOY_PROMPT_FIRST_PURCHASE));
  CHECK_FALSE(has(prompts("13700000007"), LOY_PROMPT_WINBACK));
  CHECK(has(prompts("13700000008"), LOY_PROMPT_FIRST_PURCHASE));  // no history given: never bought, as the docs say
  CHECK(has(prompts("13700000009"), LOY_PROMPT_WINBACK));
  const Sold s = sell(t, "R-1", "13700000007", 10000);
  REQUIRE(s.status == LOY_OK);
  CHECK(s.quote.member_discount_reason == LOY_REASON_TIER);
  REQUIRE(sync(t) == LOY_OK);
  CHECK(w.hq.member("M-7")["purchases"] == 13);

  // Imported again with an older count: headquarters keeps what it has seen since.
  w.hq.import_members("id,name,phone,card,birthday,tier,points,purchases,last_purchase_at\n"
                      "M-7,Ma Li,13700000007,,,gold,5000,3," + days_ago(400) + "\n");
  CHECK(w.hq.member("M-7")["purchases"] == 13);
  write_text(w.tmp.path() / "bad.csv", "id,name,phone,card,birthday,tier,points,purchases\nM-10,A B,13700000010,,,gold,0,-1\n");
  const auto bad = w.hq.cli({"members", "import", (w.tmp.path() / "bad.csv").string()});
  CHECK(bad.exit_code != 0);
  CHECK(bad.out.find("line 2: purchases must be a whole number") != std::string::npos);
}

namespace {

std::string iso_in(std::chrono::minutes from_now) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now() + from_now);
  char at[40];
  std::strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&secs));
  return at;
}

}  // namespace

TEST_CASE("a checkout that crosses offline_after_minutes quotes what its commit charges", "[sync]") {
  SyncWorld w;
  TestTill t(w.till("S001", "T01"));
  REQUIRE(sync(t) == LOY_OK);
  const auto checkout = [&](const std::string& at, std::int64_t redeem, loy_checkout** c) {
    REQUIRE(loy_checkout_begin(t, c) == LOY_OK);
    REQUIRE(loy_checkout_set_time(*c, at.c_str()) == LOY_OK);
    REQUIRE(loy_checkout_identify(*c, "13800000001", nullptr) == LOY_OK);
    const loy_line l = sale_line("1", "apparel", 100000);
    REQUIRE(loy_checkout_add_line(*c, &l) == LOY_OK);
    REQUIRE(loy_checkout_redeem(*c, redeem) == LOY_OK);
  };
  // Offline (an hour after the last sync), the member uses today's whole offline allowance (2000).
  loy_checkout* first = nullptr;
  checkout(iso_in(std::chrono::minutes(60)), 2000, &first);
  REQUIRE(loy_checkout_commit(first, "R-1", nullptr) == LOY_OK);
  loy_checkout_free(first);

  // Another checkout is quoted online (five minutes after the sync), and again once past the 15
  // minutes: the second quote knows the allowance is spent, and the commit charges just that.
  loy_checkout* c = nullptr;
  checkout(iso_in(std::chrono::minutes(5)), 2000, &c);
  loy_quote q{};
  q.struct_size = sizeof q;
  REQUIRE(loy_checkout_quote(c, &q) == LOY_OK);
  CHECK(q.redeem_points == 2000);  // online: no offline cap
  REQUIRE(loy_checkout_set_time(c, iso_in(std::chrono::minutes(61)).c_str()) == LOY_OK);
  REQUIRE(loy_checkout_quote(c, &q) == LOY_OK);
  CHECK(q.redeem_rejected == LOY_REDEEM_OFFLINE_LIMIT);
  CHECK(q.redeem_points == 0);
  loy_quote committed{};
  committed.struct_size = sizeof committed;
  REQUIRE(loy_checkout_commit(c, "R-2", &committed) == LOY_OK);
  CHECK(committed.payable_minor == q.payable_minor);
  loy_checkout_free(c);
}

TEST_CASE("a refund after an enrollment was merged into an existing member reports that member's balance", "[sync]") {
  SyncWorld w;
  TestTill t(w.till("S001", "T01"));
  // The till has the rules but not yet the members: the phone is enrolled here, though headquarters
  // already has it (M-1).
  const std::string rules = read_text(demo_rules_path());
  REQUIRE(loy_till_apply_rules(t, rules.data(), rules.size()) == LOY_OK);
  loy_checkout* c = nullptr;
  REQUIRE(loy_checkout_begin(t, &c) == LOY_OK);
  loy_enrollment e{};
  e.struct_size = sizeof e;
  e.phone = "13800000001";
  e.consent = "signed form";
  REQUIRE(loy_checkout_enroll(c, &e, nullptr) == LOY_OK);
  const loy_line l = sale_line("1", "apparel", 20000);
  REQUIRE(loy_checkout_add_line(c, &l) == LOY_OK);
  loy_quote q{};
  q.struct_size = sizeof q;
  REQUIRE(loy_checkout_commit(c, "R-1", &q) == LOY_OK);
  loy_checkout_free(c);
  REQUIRE(sync(t) == LOY_OK);
  REQUIRE(sync(t) == LOY_OK);
  const std::int64_t m1 = w.hq.member("M-1")["points"];  // headquarters' figure: the sale re-checked at M-1's tier
  REQUIRE(m1 > 5000);
  REQUIRE(lookup(t, "13800000001").available_points == m1);

  loy_refund_result rr{};
  rr.struct_size = sizeof rr;
  REQUIRE(loy_till_refund(t, "F-1", "R-1", nullptr, 0, &rr) == LOY_OK);
  CHECK(rr.points_taken_back == q.points_earned);
  CHECK(rr.balance_after == m1 - q.points_earned);  // the merged member's, not the till's record of the enrollment
  CHECK(rr.negative_balance == 0);
  CHECK(lookup(t, "13800000001").available_points == rr.balance_after);
  REQUIRE(sync(t) == LOY_OK);
  CHECK(w.hq.member("M-1")["points"] == 5000);
}

TEST_CASE("a till prunes what headquarters applied once it is older than the retention, and nothing else", "[sync]") {
  SyncWorld w;
  const auto config = w.till("S001", "T01", {{"sync", {{"retention_days", 30}}}});
  const auto db = w.tmp.path() / "S001-T01" / "data" / "till.db";
  Sold m1, m2;
  {
    TestTill t(config);
    REQUIRE(sync(t) == LOY_OK);
    const std::string doc = changes(nlohmann::json::array({member_record("M-404", 1, "gold", 100, {"13700000404"})}), 3);
    REQUIRE(loy_till_apply_changes(t, doc.data(), doc.size()) == LOY_OK);
    m1 = sell(t, "R-1", "13800000001", 10000);
    m2 = sell(t, "R-2", "13800000002", 10000);
    REQUIRE(sell(t, "R-3", "", 5000).status == LOY_OK);
    REQUIRE(sell(t, "R-4", "13700000404", 5000).status == LOY_OK);  // held: headquarters has no such member
    REQUIRE(sell(t, "R-5", "13800000003", 5000).status == LOY_OK);
    REQUIRE(sync(t) == LOY_OK);
    REQUIRE(status(t).held == 1);
    w.hq.stop();
    refund_line(t, "F-5", "R-5", "1", 1);  // offline: waits
  }
  // Forty days on by the outbox's clock; the cache's record of M-2 is older than the one that holds R-2.
  tamper_outbox(db, "UPDATE outbox SET created_us = created_us - 40 * 86400000000; "
                    "UPDATE answers SET created_us = created_us - 40 * 86400000000");
  tamper_outbox(db, "UPDATE members SET version = 0 WHERE id = 'M-2'");
  {  // opened (and pruned) with headquarters still down: R-5 stays while its refund waits
    TestTill t(config);
    loy_refund_result again{};
    CHECK(refund_units(t, "F-5", nullptr, "R-5", "1", 1, &again) == LOY_OK);
    CHECK(again.replayed == 1);
  }
  w.hq.start();
  {
    TestTill t(config);
    CHECK(lookup(t, "13800000002").pending_points == m2.quote.points_earned);  // R-2 counts until its record is back
    REQUIRE(sync(t) == LOY_OK);  // then prunes what the cache's records include
    CHECK(status(t).held == 1);
    CHECK(lookup(t, "13800000001").pending_points == 0);
    CHECK(lookup(t, "13800000002").pending_points == m2.quote.points_earned);  // still pending: kept
    CHECK(lookup(t, "13800000001").available_points == w.hq.member("M-1")["points"].get<std::int64_t>());
    // A pruned sale is refunded through headquarters.
    loy_refund_result rr{};
    rr.struct_size = sizeof rr;
    CHECK(loy_till_refund(t, "F-1", "R-1", nullptr, 0, &rr) == LOY_E_NOT_FOUND);
    REQUIRE(loy_till_refund_at(t, "F-1", "S001", "R-1", nullptr, 0, &rr) == LOY_OK);
    CHECK(rr.points_taken_back == m1.quote.points_earned);
    loy_sync_result r{};
    REQUIRE(sync(t, &r) == LOY_OK);
    CHECK(r.applied == 1);
  }
  std::vector<std::pair<std::string, std::string>> left;  // kind, receipt
  for (const auto& b : queued_bodies(db)) {
    const auto j = nlohmann::json::parse(b);
    left.emplace_back(j["kind"], j.value("receipt_id", ""));
  }
  // The sale still pending (its member record not back), the held one and the refund (applied, within
  // the retention) stay; the rest is gone.
  CHECK(left == std::vector<std::pair<std::string, std::string>>{{"sale", "R-2"}, {"sale", "R-4"}, {"refund", "R-1"}});
}

TEST_CASE("a till with much to prune opens at once and prunes the rest at its next sync, even offline", "[sync]") {
  SyncWorld w;
  const auto config = w.till("S001", "T01", {{"sync", {{"retention_days", 30}}}});
  const auto db = w.tmp.path() / "S001-T01" / "data" / "till.db";
  {
    TestTill t(config);
    REQUIRE(sync(t) == LOY_OK);  // the rules
    REQUIRE(sync(t) == LOY_OK);  // the rules
    for (int k = 0; k < 450; ++k) REQUIRE(sell(t, "R-" + std::to_string(k), "", 1000).status == LOY_OK);
    loy_sync_result r{};
    REQUIRE(sync(t, &r) == LOY_OK);
    REQUIRE(r.applied == 450);
  }
  tamper_outbox(db, "UPDATE outbox SET created_us = created_us - 40 * 86400000000; "
                    "UPDATE answers SET created_us = created_us - 40 * 86400000000");
  { TestTill t(config); }  // an open prunes a slice of 200, no more
  CHECK(queued_bodies(db).size() == 250);
  w.hq.stop();
  {
    TestTill t(config);
    CHECK(sync(t) == LOY_E_NETWORK);  // headquarters is down: the sync prunes all the same
    CHECK(status(t).outbox_depth == 0);
  }
  CHECK(queued_bodies(db).size() == 1);  // the newest entry stays: its seq is never given again
}
