// Headquarters' ledger through real batches into a real loyalty-hq: points lots and their expiry,
// tiers over a simulated year, coupons used at two offline stores, a tampered sale, negative balances.
// Time is passed in (each sale's checkout time, `--now` of the ledger's commands); headquarters' own
// timer is off. Every result is checked at a second till after it synced.
#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <thread>

#include "../sync/hq_fixture.hpp"

namespace {

using namespace loyalty::test;
using nlohmann::json;

// Headquarters without its daily timer: the tests run the ledger's commands at the instants they name.
// The tests pass each sale's time in, years back: no sale counts as dated implausibly far back.
const json kNoTimer = {{"ledger", {{"timer_seconds", 0}, {"past_days", 3660}}}};

// Commits a one-line sale for the member scanned as `code` at the checkout time `at`; the quote it
// was sold at.
loy_quote sell_at(loy_till* till, const std::string& receipt, const std::string& code, const std::string& at,
                  std::int64_t amount, std::int64_t redeem = 0, const std::string& coupon = "") {
  loy_checkout* c = nullptr;
  REQUIRE(loy_checkout_begin(till, &c) == LOY_OK);
  REQUIRE(loy_checkout_set_time(c, at.c_str()) == LOY_OK);
  REQUIRE(loy_checkout_identify(c, code.c_str(), nullptr) == LOY_OK);
  const loy_line line = sale_line("1", "apparel", amount);
  REQUIRE(loy_checkout_add_line(c, &line) == LOY_OK);
  if (!coupon.empty()) REQUIRE(loy_checkout_set_coupon(c, coupon.c_str()) == LOY_OK);
  if (redeem) REQUIRE(loy_checkout_redeem(c, redeem) == LOY_OK);
  loy_quote q{};
  q.struct_size = sizeof q;
  const loy_status st = loy_checkout_commit(c, receipt.c_str(), &q);
  INFO(loy_checkout_last_error(c));
  REQUIRE(st == LOY_OK);
  loy_checkout_free(c);
  return q;
}

// The member as a till shows them at `at`.
loy_member_info identify_at(loy_till* till, const std::string& code, const std::string& at) {
  loy_checkout* c = nullptr;
  REQUIRE(loy_checkout_begin(till, &c) == LOY_OK);
  REQUIRE(loy_checkout_set_time(c, at.c_str()) == LOY_OK);
  loy_member_info m = member_info();
  REQUIRE(loy_checkout_identify(c, code.c_str(), &m) == LOY_OK);
  loy_checkout_free(c);
  return m;
}

const loy_prompt* find_prompt(const loy_member_info& m, std::int32_t code) {
  for (std::uint32_t i = 0; i < m.prompt_count; ++i)
    if (m.prompts[i].code == code) return &m.prompts[i];
  return nullptr;
}

json cli_json(const HqProcess& hq, std::vector<std::string> args) {
  args.push_back("--json");
  const CliResult r = hq.cli(args);
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  return json::parse(r.out);
}

std::vector<json> flags_of(const HqProcess& hq, const std::string& kind, bool all = false) {
  std::vector<std::string> args = {"flags"};
  if (all) args.push_back("--all");
  std::vector<json> out;
  for (const json& f : cli_json(hq, args))
    if (f["kind"] == kind) out.push_back(f);
  return out;
}

// No sale of the test was re-checked to other figures, or could not be.
void require_no_recheck_flags(const HqProcess& hq) {
  CHECK(flags_of(hq, "recheck_mismatch", true).empty());
  CHECK(flags_of(hq, "recheck_unavailable", true).empty());
}

void synced(loy_till* till) {
  loy_sync_result r{};
  r.struct_size = sizeof r;
  const loy_status s = loy_till_sync(till, &r);
  INFO(loy_till_last_error(till));
  REQUIRE(s == LOY_OK);
  CHECK(r.rejected == 0);
}

// A member with nothing yet: "M-9", phone 13900000009, silver, 0 points, born 03-09.
void import_newcomer(const HqProcess& hq) {
  hq.import_members("id,name,phone,card,birthday,tier,points\nM-9,Nina Zhou,13900000009,,03-09,silver,0\n");
}

// Headquarters without its timer, member M-9 imported, a till at each store; the first has synced.
struct Newcomer {
  Newcomer() {
    import_newcomer(w.hq);
    synced(a);
  }
  SyncWorld w{kNoTimer};
  TestTill a{w.till("S001", "T01")};
  TestTill b{w.till("S002", "T01")};
};

}  // namespace

TEST_CASE("points form lots that redemptions consume oldest first and that expire at the month's end in the rules' offset",
          "[ledger]") {
  Newcomer world;
  SyncWorld& w = world.w;
  TestTill& a = world.a;
  TestTill& b = world.b;

  // Twelve sales, one a month; the last, on 28 February 20:00 UTC, is already 1 March in +08:00.
  const std::vector<std::string> times = {
      "2025-01-31T23:30:00+08:00", "2025-02-01T00:10:00+08:00", "2025-03-15T12:00:00+08:00",
      "2025-04-15T12:00:00+08:00", "2025-05-15T12:00:00+08:00", "2025-06-15T12:00:00+08:00",
      "2025-07-15T12:00:00+08:00", "2025-08-15T12:00:00+08:00", "2025-09-15T12:00:00+08:00",
      "2025-10-15T12:00:00+08:00", "2025-11-15T12:00:00+08:00", "2026-02-28T20:00:00Z"};
  std::vector<std::int64_t> earned;
  std::int64_t balance = 0;
  for (std::size_t i = 0; i < times.size(); ++i) {
    const loy_quote q = sell_at(a, "L-" + std::to_string(i), "13900000009", times[i], 10000 + 1000 * static_cast<std::int64_t>(i));
    REQUIRE(q.points_earned > 0);
    earned.push_back(q.points_earned);
    balance += q.points_earned;
  }
  synced(a);

  json m = cli_json(w.hq, {"member", "M-9"});
  REQUIRE(m["points"] == balance);
  REQUIRE(m["lots"].size() == times.size());
  const std::vector<std::string> expiries = {
      "2027-02-01T00:00:00+08:00", "2027-03-01T00:00:00+08:00", "2027-04-01T00:00:00+08:00",
      "2027-05-01T00:00:00+08:00", "2027-06-01T00:00:00+08:00", "2027-07-01T00:00:00+08:00",
      "2027-08-01T00:00:00+08:00", "2027-09-01T00:00:00+08:00", "2027-10-01T00:00:00+08:00",
      "2027-11-01T00:00:00+08:00", "2027-12-01T00:00:00+08:00", "2028-04-01T00:00:00+08:00"};
  for (std::size_t i = 0; i < times.size(); ++i) {
    CHECK(m["lots"][i]["expires_at"] == expiries[i]);
    CHECK(m["lots"][i]["points"] == earned[i]);
    CHECK(m["lots"][i]["left"] == earned[i]);
  }

  // A redemption takes the oldest lots first: all of the first two, part of the third.
  const std::int64_t redeem = ((earned[0] + earned[1] + earned[2] / 2) / 100) * 100;
  REQUIRE(redeem > earned[0] + earned[1]);
  const loy_quote r = sell_at(a, "L-R", "13900000009", "2026-03-10T12:00:00+08:00", 200000, redeem);
  REQUIRE(r.redeem_points == redeem);
  balance += r.points_earned - redeem;
  synced(a);
  m = cli_json(w.hq, {"member", "M-9"});
  REQUIRE(m["points"] == balance);
  std::map<std::string, std::int64_t> left_by_expiry;
  for (const json& lot : m["lots"]) left_by_expiry[lot["expires_at"]] += lot["left"].get<std::int64_t>();
  CHECK(left_by_expiry["2027-02-01T00:00:00+08:00"] == 0);
  CHECK(left_by_expiry["2027-03-01T00:00:00+08:00"] == 0);
  const std::int64_t third_left = earned[0] + earned[1] + earned[2] - redeem;
  CHECK(left_by_expiry["2027-04-01T00:00:00+08:00"] == third_left);
  CHECK(left_by_expiry["2027-05-01T00:00:00+08:00"] == earned[3]);

  // Expiry: nothing is due a microsecond before the end of March in +08:00; at it, the third lot's
  // remainder expires, once however often the command runs.
  CliResult e = w.hq.cli({"expire", "--now", "2027-03-31T15:59:59.999999Z"});
  REQUIRE(e.exit_code == 0);
  CHECK(e.out.find("0 points expired") != std::string::npos);
  CHECK(cli_json(w.hq, {"member", "M-9"})["points"] == balance);
  e = w.hq.cli({"expire", "--now", "2027-03-31T16:00:00Z"});
  REQUIRE(e.exit_code == 0);
  CHECK(e.out.find(std::to_string(third_left) + " points expired in 1 lots of 1 members") != std::string::npos);
  balance -= third_left;
  e = w.hq.cli({"expire", "--now", "2027-04-01T00:00:00+08:00"});
  CHECK(e.out.find("0 points expired") != std::string::npos);
  m = cli_json(w.hq, {"member", "M-9"});
  CHECK(m["points"] == balance);

  // The second till sees the balance and, within 30 days of it, the next expiry.
  synced(b);
  const loy_member_info seen = identify_at(b, "13900000009", "2027-04-10T10:00:00+08:00");
  CHECK(seen.confirmed_points == balance);
  CHECK(seen.pending_points == 0);
  const loy_prompt* p = find_prompt(seen, LOY_PROMPT_POINTS_EXPIRING);
  REQUIRE(p);
  CHECK(p->points == earned[3]);
  CHECK(std::string(p->date) == "2027-05-01T00:00:00+08:00");
  require_no_recheck_flags(w.hq);
}

TEST_CASE("tiers: a pass dated before a sale already applied counts that sale (a member's window never moves back)",
          "[ledger]") {
  // The pass of an instance whose clock is behind, or a slice reached after a later sale was applied
  // while the pass ran.
  Newcomer world;
  SyncWorld& w = world.w;
  TestTill& a = world.a;
  sell_at(a, "Y-1", "13900000009", "2025-01-10T12:00:00+08:00", 100000);
  sell_at(a, "Y-2", "13900000009", "2025-01-20T12:00:00+08:00", 250000);
  synced(a);
  REQUIRE(cli_json(w.hq, {"member", "M-9"})["tier"] == "gold");
  const CliResult pass = w.hq.cli({"tiers", "--now", "2025-01-15T03:00:00+08:00"});
  REQUIRE(pass.exit_code == 0);
  const json m = cli_json(w.hq, {"member", "M-9"});
  CHECK(m["tier"] == "gold");
  CHECK(m["grace_until"].is_null());
  CHECK(m["window_spend_minor"] == 330000);
  CHECK(m["tier_history"].size() == 2);
  // The next day's pass, after both sales, sees the same.
  REQUIRE(w.hq.cli({"tiers", "--now", "2025-01-21T03:00:00+08:00"}).exit_code == 0);
  CHECK(cli_json(w.hq, {"member", "M-9"})["window_spend_minor"] == 330000);
  CHECK(cli_json(w.hq, {"member", "M-9"})["tier_history"].size() == 2);
}

TEST_CASE("tiers: an upgrade with the sale that earns it, grace when the window moves on, then a downgrade",
          "[ledger]") {
  Newcomer world;
  SyncWorld& w = world.w;
  TestTill& a = world.a;
  TestTill& b = world.b;

  // The first purchase (20% off) leaves the member short of gold (300000), and the second till says
  // by how much.
  const loy_quote first = sell_at(a, "Y-1", "13900000009", "2025-01-10T12:00:00+08:00", 100000);
  REQUIRE(first.payable_minor == 80000);
  synced(a);
  synced(b);
  loy_member_info seen = identify_at(b, "13900000009", "2025-01-12T10:00:00+08:00");
  CHECK(std::string(seen.tier_id) == "silver");
  const loy_prompt* next = find_prompt(seen, LOY_PROMPT_NEXT_TIER);
  REQUIRE(next);
  CHECK(std::string(next->tier) == "gold");
  CHECK(next->spend_minor == 220000);

  // The sale that reaches 300000 upgrades the member as soon as headquarters applies it.
  sell_at(b, "Y-2", "13900000009", "2025-01-20T12:00:00+08:00", 250000);
  synced(b);
  json m = cli_json(w.hq, {"member", "M-9"});
  CHECK(m["tier"] == "gold");
  CHECK(m["window_spend_minor"] == 330000);
  REQUIRE(m["tier_history"].size() == 2);
  CHECK(m["tier_history"][1]["from"] == "silver");
  CHECK(m["tier_history"][1]["to"] == "gold");
  CHECK(m["tier_history"][1]["reason"] == "upgrade");
  CHECK(m["tier_history"][1]["at"] == "2025-01-20T12:00:00+08:00");
  synced(a);
  seen = identify_at(a, "13900000009", "2025-01-21T10:00:00+08:00");
  CHECK(std::string(seen.tier_id) == "gold");
  next = find_prompt(seen, LOY_PROMPT_NEXT_TIER);
  REQUIRE(next);
  CHECK(std::string(next->tier) == "black");
  CHECK(next->spend_minor == 1000000 - 330000);

  // Mid-year the pass changes nothing.
  CliResult pass = w.hq.cli({"tiers", "--now", "2025-07-01T03:00:00+08:00"});
  REQUIRE(pass.exit_code == 0);
  CHECK(cli_json(w.hq, {"member", "M-9"})["tier"] == "gold");
  CHECK(cli_json(w.hq, {"member", "M-9"})["grace_until"].is_null());
  json m1 = cli_json(w.hq, {"member", "M-1"});
  REQUIRE(m1["tier"] == "gold");
  CHECK(m1["grace_until"] == "2025-09-29T00:00:00+08:00");
  const loy_quote back = sell_at(a, "Y-3", "13800000001", "2025-07-10T12:00:00+08:00", 400000);  // 20% first-purchase offer
  REQUIRE(back.payable_minor >= 300000);
  synced(a);

  // Once the first sale leaves the 365-day window the spend is 250000: the member keeps gold for the
  // 90 grace days (whole days of the rules' offset, from the day of the pass), buying nothing, and
  // loses it after them.
  pass = w.hq.cli({"tiers", "--now", "2026-01-15T03:00:00+08:00"});
  REQUIRE(pass.exit_code == 0);
  m = cli_json(w.hq, {"member", "M-9"});
  CHECK(m["tier"] == "gold");
  CHECK(m["grace_until"] == "2026-04-15T00:00:00+08:00");
  CHECK(m["window_spend_minor"] == 250000);
  CHECK(m["tier_history"].back()["reason"] == "grace");
  pass = w.hq.cli({"tiers", "--now", "2026-04-14T23:59:59+08:00"});
  REQUIRE(pass.exit_code == 0);
  CHECK(cli_json(w.hq, {"member", "M-9"})["tier"] == "gold");
  pass = w.hq.cli({"tiers", "--now", "2026-04-15T00:00:30+08:00"});
  REQUIRE(pass.exit_code == 0);
  m = cli_json(w.hq, {"member", "M-9"});
  CHECK(m["tier"] == "silver");
  CHECK(m["grace_until"].is_null());
  CHECK(m["tier_history"].back()["reason"] == "downgrade");
  CHECK(m["tier_history"].back()["from"] == "gold");
  CHECK(m["tier_history"].back()["at"] == "2026-04-15T00:00:30+08:00");
  synced(b);
  seen = identify_at(b, "13900000009", "2026-04-16T10:00:00+08:00");
  CHECK(std::string(seen.tier_id) == "silver");

  // M-1 (gold, imported, nothing bought) was in grace since the mid-year pass and bought enough
  // again within it: gold kept, the grace ended.
  m1 = cli_json(w.hq, {"member", "M-1"});
  CHECK(m1["tier"] == "gold");
  CHECK(m1["grace_until"].is_null());
  REQUIRE(m1["tier_history"].size() >= 3);
  CHECK(m1["tier_history"][1]["reason"] == "grace");
  CHECK(m1["tier_history"][1]["at"] == "2025-07-01T03:00:00+08:00");
  CHECK(m1["tier_history"][2]["reason"] == "requalified");
  CHECK(m1["tier_history"][2]["at"] == "2025-07-10T12:00:00+08:00");
  require_no_recheck_flags(w.hq);
}

TEST_CASE("a coupon used at two offline stores is applied once and the second use is flagged", "[ledger]") {
  SyncWorld w(kNoTimer);
  const CliResult issued = w.hq.cli({"coupons", "issue", "--member", "M-2", "--kind", "amount", "--value", "2000",
                                     "--min-spend", "5000", "--code", "THANKS-2"});
  INFO(issued.out);
  REQUIRE(issued.exit_code == 0);
  const json batch = cli_json(w.hq, {"coupons", "issue", "--tier", "black", "--kind", "percent", "--value", "1000"});
  REQUIRE(batch.size() == 1);
  CHECK(batch[0]["member_id"] == "M-3");

  TestTill a(w.till("S001", "T01"));
  TestTill b(w.till("S002", "T01"));
  synced(a);
  synced(b);
  w.hq.stop();  // both stores offline

  const loy_quote qa = sell_at(a, "C-A", "13800000002", "2026-11-20T10:00:00+08:00", 10000, 0, "THANKS-2");
  const loy_quote qb = sell_at(b, "C-B", "13800000002", "2026-11-20T11:00:00+08:00", 12000, 0, "THANKS-2");
  REQUIRE(qa.coupon_discount_minor == 2000);
  REQUIRE(qb.coupon_discount_minor == 2000);

  w.hq.start();
  synced(a);  // the first to reach headquarters uses the coupon
  synced(b);
  const json m = cli_json(w.hq, {"member", "M-2"});
  REQUIRE(m["coupons"].size() == 1);
  CHECK(m["coupons"][0]["used_store"] == "S001");
  CHECK(m["points"] == 1000 + qa.points_earned + qb.points_earned);  // the money was taken: both sales count
  const auto doubles = flags_of(w.hq, "coupon_double_use");
  REQUIRE(doubles.size() == 1);
  CHECK(doubles[0]["store_id"] == "S002");
  CHECK(doubles[0]["member_id"] == "M-2");
  CHECK(doubles[0]["detail"]["code"] == "THANKS-2");
  CHECK(doubles[0]["detail"]["first"]["store_id"] == "S001");
  CHECK(doubles[0]["detail"]["again"]["coupon_discount_minor"] == 2000);
  const json stores = cli_json(w.hq, {"stores"});
  REQUIRE(stores.size() == 2);
  CHECK(stores[0]["open_flags"] == 0);
  CHECK(stores[1]["store_id"] == "S002");
  // M-2 had bought nothing: each store, offline, gave the first-purchase offer; the second is flagged.
  const auto offers = flags_of(w.hq, "offer_mismatch");
  REQUIRE(offers.size() == 1);
  CHECK(offers[0]["store_id"] == "S002");
  CHECK(offers[0]["detail"]["offer"] == "first_purchase");
  CHECK(offers[0]["detail"]["sales_before_at_hq"] == 1);
  CHECK(offers[0]["detail"]["hq_offer"] == "none");
  CHECK(stores[1]["open_flags"] == 2);
  CHECK(stores[1]["tills"][0]["backlog"] == 0);

  // Both tills now know it is used.
  synced(a);
  for (loy_till* t : {a.get(), b.get()}) {
    loy_checkout* c = nullptr;
    REQUIRE(loy_checkout_begin(t, &c) == LOY_OK);
    REQUIRE(loy_checkout_identify(c, "13800000002", nullptr) == LOY_OK);
    const loy_line line = sale_line("1", "apparel", 10000);
    REQUIRE(loy_checkout_add_line(c, &line) == LOY_OK);
    REQUIRE(loy_checkout_set_coupon(c, "THANKS-2") == LOY_OK);
    loy_quote q{};
    q.struct_size = sizeof q;
    REQUIRE(loy_checkout_quote(c, &q) == LOY_OK);
    CHECK(q.coupon_discount_minor == 0);
    CHECK(std::string(loy_coupon_refusal_str(q.coupon_rejected)) == "coupon_used");
    loy_checkout_free(c);
  }
  require_no_recheck_flags(w.hq);
}

TEST_CASE("a sale tampered with on its way is re-checked: flagged with both figures, headquarters' points credited",
          "[ledger]") {
  SyncWorld w(kNoTimer);
  const auto config = w.till("S001", "T01");
  std::int64_t honest = 0;
  {
    TestTill a(config);
    synced(a);
    honest = sell_at(a, "T-1", "13800000002", "2026-11-20T10:00:00+08:00", 30000).points_earned;
    REQUIRE(honest > 0);
  }
  // The queued sale claims 99999 points.
  tamper_outbox(w.tmp.path() / "S001-T01" / "data" / "till.db",
                "UPDATE outbox SET body = json_set(body, '$.quote.points_earned', 99999)");
  {
    TestTill a(config);
    synced(a);
  }
  const auto flags = flags_of(w.hq, "recheck_mismatch");
  REQUIRE(flags.size() == 1);
  CHECK(flags[0]["store_id"] == "S001");
  CHECK(flags[0]["member_id"] == "M-2");
  CHECK(flags[0]["detail"]["till"]["points_earned"] == 99999);
  CHECK(flags[0]["detail"]["hq"]["points_earned"] == honest);
  CHECK(flags[0]["detail"]["till"]["payable_minor"] == flags[0]["detail"]["hq"]["payable_minor"]);
  CHECK(cli_json(w.hq, {"member", "M-2"})["points"] == 1000 + honest);

  TestTill b(w.till("S002", "T01"));
  synced(b);
  loy_member_info seen = member_info();
  REQUIRE(loy_till_lookup(b, "13800000002", &seen) == LOY_OK);
  CHECK(seen.confirmed_points == 1000 + honest);

  // Returned whole, the sale takes back exactly what headquarters credited, not the claimed figure.
  {
    TestTill a(config);
    loy_refund_result rr{};
    rr.struct_size = sizeof rr;
    REQUIRE(loy_till_refund(a, "RF-T", "T-1", nullptr, 0, &rr) == LOY_OK);
    synced(a);
  }
  CHECK(cli_json(w.hq, {"member", "M-2"})["points"] == 1000);
}

TEST_CASE("a till's claims headquarters does not hold are re-checked against its own: tier, coupon, rules version, figures out of range",
          "[ledger]") {
  SyncWorld w(kNoTimer);
  REQUIRE(w.hq.cli({"coupons", "issue", "--member", "M-2", "--kind", "amount", "--value", "2000", "--code", "THANKS-2"})
              .exit_code == 0);
  const auto config = w.till("S001", "T01");
  const auto db = w.tmp.path() / "S001-T01" / "data" / "till.db";
  std::int64_t points = 0;
  {
    TestTill a(config);
    synced(a);
    // M-2 is silver: a sale claiming black (10% off, 2x points) earns silver's points.
    const loy_quote silver = sell_at(a, "K-1", "13800000002", "2026-11-20T10:00:00+08:00", 50000);
    points = silver.points_earned;
  }
  tamper_outbox(db, "UPDATE outbox SET body = json_set(body, '$.input.member.tier', 'black', "
                    "'$.quote.member_discount_minor', 5000, '$.quote.payable_minor', 45000, "
                    "'$.quote.points_earned', 900)");
  {
    TestTill a(config);
    synced(a);
    // M-3 (black) uses M-2's coupon.
    sell_at(a, "K-2", "13800000003", "2026-11-20T11:00:00+08:00", 10000);
  }
  tamper_outbox(db, "UPDATE outbox SET body = json_set(body, '$.input.coupon', "
                    "json('{\"code\":\"THANKS-2\",\"kind\":\"amount\",\"value\":2000,\"min_spend_minor\":0,\"used\":false}'), "
                    "'$.quote.coupon_discount_minor', 2000, '$.quote.payable_minor', 7000) "
                    "WHERE seq = (SELECT MAX(seq) FROM outbox)");
  {
    TestTill a(config);
    synced(a);
    // A rules version headquarters never published, with a fortune in points.
    sell_at(a, "K-3", "13800000002", "2026-11-20T12:00:00+08:00", 10000);
  }
  tamper_outbox(db, "UPDATE outbox SET body = json_set(body, '$.rules_version', 'never', "
                    "'$.quote.points_earned', 999999999999) WHERE seq = (SELECT MAX(seq) FROM outbox)");
  {
    TestTill a(config);
    synced(a);
    // A payable beyond any sale: refused as a transaction, and the queue moves on.
    sell_at(a, "K-4", "13800000002", "2026-11-20T13:00:00+08:00", 10000);
  }
  tamper_outbox(db, "UPDATE outbox SET body = json_set(body, '$.quote.gross_minor', 9223372036854775807, "
                    "'$.quote.payable_minor', 9223372036854775807) WHERE seq = (SELECT MAX(seq) FROM outbox)");
  TestTill a(config);
  loy_sync_result r{};
  r.struct_size = sizeof r;
  REQUIRE(loy_till_sync(a, &r) == LOY_OK);
  CHECK(r.rejected == 1);
  CHECK(status(a).rejected == 1);

  const auto mismatches = flags_of(w.hq, "recheck_mismatch");
  REQUIRE(mismatches.size() == 2);
  // Newest first: the coupon, then the tier.
  CHECK(mismatches[1]["detail"]["member_differs"]["tier"]["till"] == "black");
  CHECK(mismatches[1]["detail"]["member_differs"]["tier"]["hq"] == "silver");
  CHECK(mismatches[1]["detail"]["hq"]["points_earned"] == points);
  CHECK(mismatches[0]["member_id"] == "M-3");
  CHECK(mismatches[0]["detail"]["hq"]["coupon_discount_minor"] == 0);
  const auto unavailable = flags_of(w.hq, "recheck_unavailable");
  REQUIRE(unavailable.size() == 1);
  CHECK(unavailable[0]["detail"]["till"]["points_earned"] == 999999999999);

  const json m2 = cli_json(w.hq, {"member", "M-2"});
  CHECK(m2["points"] == 1000 + points);  // silver's points for K-1, nothing for K-3
  CHECK(m2["tier"] == "silver");
  REQUIRE(m2["coupons"].size() == 1);
  CHECK(m2["coupons"][0]["used_txn_id"].is_null());  // another member's use does not spend it
  CHECK(w.hq.query("SELECT COUNT(*) FROM sales") == 3);
}

TEST_CASE("a refund after a redemption drives the balance negative: flagged, and every till refuses redemption until it is positive",
          "[ledger]") {
  SyncWorld w(kNoTimer);
  TestTill a(w.till("S001", "T01"));
  TestTill b(w.till("S002", "T01"));
  synced(a);
  synced(b);

  // M-2 (1000 points) earns on a sale, spends everything on another, then returns the first.
  const loy_quote earn = sell_at(a, "N-1", "13800000002", "2026-11-20T10:00:00+08:00", 40000);
  synced(a);
  const std::int64_t all = ((1000 + earn.points_earned) / 100) * 100;
  const loy_quote spend = sell_at(a, "N-2", "13800000002", "2026-11-21T10:00:00+08:00", 2 * all, all);
  REQUIRE(spend.redeem_points == all);
  synced(a);
  loy_refund_result rr{};
  rr.struct_size = sizeof rr;
  REQUIRE(loy_till_refund(a, "RF-1", "N-1", nullptr, 0, &rr) == LOY_OK);
  CHECK(rr.points_taken_back == earn.points_earned);
  synced(a);
  const std::int64_t expected = 1000 + earn.points_earned - all + spend.points_earned - earn.points_earned;
  REQUIRE(expected < 0);
  CHECK(cli_json(w.hq, {"member", "M-2"})["points"] == expected);
  auto negative = flags_of(w.hq, "negative_balance");
  REQUIRE(negative.size() == 1);
  CHECK(negative[0]["member_id"] == "M-2");
  CHECK(negative[0]["store_id"] == "S001");
  CHECK(negative[0]["detail"]["balance_after"] == expected);

  // The other store's till shows it and refuses any redemption.
  synced(b);
  const loy_member_info seen = identify_at(b, "13800000002", "2026-11-22T10:00:00+08:00");
  CHECK(seen.confirmed_points == expected);
  REQUIRE(find_prompt(seen, LOY_PROMPT_NEGATIVE_BALANCE));
  loy_checkout* c = nullptr;
  REQUIRE(loy_checkout_begin(b, &c) == LOY_OK);
  REQUIRE(loy_checkout_identify(c, "13800000002", nullptr) == LOY_OK);
  const loy_line line = sale_line("1", "apparel", 100000);
  REQUIRE(loy_checkout_add_line(c, &line) == LOY_OK);
  REQUIRE(loy_checkout_redeem(c, 100) == LOY_OK);
  loy_quote q{};
  q.struct_size = sizeof q;
  REQUIRE(loy_checkout_quote(c, &q) == LOY_OK);
  CHECK(q.redeem_points == 0);
  CHECK(std::string(loy_redeem_refusal_str(q.redeem_rejected)) == "insufficient_points");
  loy_checkout_free(c);

  // A purchase that brings the balance back above zero closes the flag.
  const loy_quote back = sell_at(b, "N-3", "13800000002", "2026-11-23T10:00:00+08:00", 500000);
  REQUIRE(expected + back.points_earned >= 0);
  synced(b);
  // The new lot repaid the debt first: what is left of it is the balance.
  const json after = cli_json(w.hq, {"member", "M-2"});
  CHECK(after["points"] == expected + back.points_earned);
  std::int64_t open = 0;
  for (const json& lot : after["lots"]) open += lot["left"].get<std::int64_t>();
  CHECK(open == expected + back.points_earned);
  CHECK(after["lots"][0]["points"] == back.points_earned);
  CHECK(flags_of(w.hq, "negative_balance").empty());
  negative = flags_of(w.hq, "negative_balance", true);
  REQUIRE(negative.size() == 1);
  CHECK_FALSE(negative[0]["closed_at"].is_null());
  require_no_recheck_flags(w.hq);
}

TEST_CASE("serving, headquarters runs the daily tier pass and expiry on its own timer", "[ledger]") {
  SyncWorld w(json{{"ledger", {{"timer_seconds", 1}, {"past_days", 3660}}}});
  TestTill a(w.till("S001", "T01"));
  synced(a);
  // A sale of two years ago: its points expired at the start of this month or earlier.
  const loy_quote old = sell_at(a, "O-1", "13800000002", "2024-10-15T12:00:00+08:00", 30000);
  REQUIRE(old.points_earned > 0);
  synced(a);
  json m;
  for (int i = 0; i < 100; ++i) {
    m = cli_json(w.hq, {"member", "M-2"});
    if (m["points"] == 1000) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  CHECK(m["points"] == 1000);
  bool expired = false;
  for (const json& lot : m["lots"]) expired = expired || lot["expired"] == old.points_earned;
  CHECK(expired);
  // Today's pass ran: M-1 (gold, imported, nothing bought this year) is in grace.
  const json m1 = cli_json(w.hq, {"member", "M-1"});
  CHECK(m1["tier"] == "gold");
  CHECK_FALSE(m1["grace_until"].is_null());
  CHECK(w.hq.log().find("tier pass over 3 members") != std::string::npos);
}

TEST_CASE("a database of schema 1 is migrated: balances become lots, sales keep their figures and refunds", "[ledger]") {
  TempDir tmp;
  Chain chain(tmp.path() / "pki");
  // A database of SQLite's first schema: this test is SQLite's, whichever storage the others use.
  json sqlite = kNoTimer;
  sqlite["database"] = "hq.db";
  HqProcess hq(tmp.path() / "hq", chain.dir(), sqlite);
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open((tmp.path() / "hq" / "hq.db").c_str(), &db) == SQLITE_OK);
    char* error = nullptr;
    const int rc = sqlite3_exec(db, read_text(std::filesystem::path(LOYALTY_LEDGER_TEST_DATA) / "hq-v1.sql").c_str(),
                                nullptr, nullptr, &error);
    INFO((error ? error : ""));
    sqlite3_free(error);
    sqlite3_close(db);
    REQUIRE(rc == SQLITE_OK);
  }
  json m = cli_json(hq, {"member", "M-1001"});
  CHECK(hq.query("PRAGMA user_version") == 4);
  CHECK(m["points"] == 6395);
  CHECK(m["purchases"] == 2);
  REQUIRE(m["lots"].size() == 1);
  CHECK(m["lots"][0]["left"] == 6395);
  REQUIRE(m["recent_sales"].size() == 2);
  std::int64_t refunded = 0;
  for (const json& s : m["recent_sales"]) refunded += s["refunded_minor"].get<std::int64_t>();
  CHECK(refunded == 12255);
  CHECK(hq.query("SELECT COUNT(*) FROM sales") == 5);
  CHECK(hq.query("SELECT SUM(spend_sold_minor) FROM sales") == 34720 + 81415 + 23920 + 16140 + 26880);
  CHECK(hq.query("SELECT SUM(spend_minor) FROM sales") == 34720 + 81415 + 23920 + 16140 + 26880 - 12255);  // less the refund
  CHECK(hq.query("SELECT points_taken_back FROM sales WHERE txn_id = '63e91b97733dec383eddc5d601c48b5a'") == 184);
  CHECK(hq.query("SELECT COUNT(*) FROM sales s JOIN txns t ON t.rowid = s.rowid AND t.txn_id = s.txn_id") == 5);

  // The ledger works on what was migrated: a tier pass, then expiry of every lot.
  REQUIRE(hq.cli({"tiers", "--now", "2026-12-01T00:00:00+08:00"}).exit_code == 0);
  CHECK(cli_json(hq, {"member", "M-5001"})["window_spend_minor"] == 26880);
  const CliResult e = hq.cli({"expire", "--now", "2100-01-01T00:00:00Z"});
  REQUIRE(e.exit_code == 0);
  CHECK(e.out.find(std::to_string(6395 + 870 + 798 + 126) + " points expired in 4 lots of 4 members") != std::string::npos);
  CHECK(cli_json(hq, {"member", "M-1001"})["points"] == 0);
  CHECK(cli_json(hq, {"flags"}).empty());
}

TEST_CASE("a basket, a rule set or a refund that does not add up changes nothing it should not, and every till still syncs",
          "[ledger]") {
  SyncWorld w(kNoTimer);
  const auto config = w.till("S001", "T01");
  const auto db = w.tmp.path() / "S001-T01" / "data" / "till.db";
  std::int64_t earned = 0;
  loy_quote redeemed{};
  {
    TestTill a(config);
    synced(a);
    sell_at(a, "B-1", "13800000002", "2026-11-20T10:00:00+08:00", 10000);
  }
  // The basket swollen to 10^15 a line while the quote stays as priced.
  tamper_outbox(db, "UPDATE outbox SET body = json_set(body, '$.input.basket[0].amount_minor', 1000000000000000, "
                    "'$.input.basket[0].category', 'eco')");
  {
    TestTill a(config);
    synced(a);
    // A sale with a redemption, then its whole refund claiming to take nothing back and give back
    // every redeemed point.
    earned = sell_at(a, "B-2", "13800000002", "2026-11-20T11:00:00+08:00", 30000).points_earned;
    redeemed = sell_at(a, "B-3", "13800000002", "2026-11-20T12:00:00+08:00", 40000, 1000);
    REQUIRE(redeemed.redeem_points == 1000);
    synced(a);
    loy_refund_result rr{};
    rr.struct_size = sizeof rr;
    REQUIRE(loy_till_refund(a, "RF-B2", "B-2", nullptr, 0, &rr) == LOY_OK);
    REQUIRE(rr.points_taken_back == earned);
  }
  tamper_outbox(db, "UPDATE outbox SET body = json_set(body, '$.points_taken_back', 0, '$.points_given_back', 1000) "
                    "WHERE seq = (SELECT MAX(seq) FROM outbox)");
  {
    TestTill a(config);
    synced(a);
  }
  const auto unavailable = flags_of(w.hq, "recheck_unavailable");
  REQUIRE(unavailable.size() == 1);
  CHECK(unavailable[0]["detail"]["reason"].get<std::string>().find("basket") != std::string::npos);
  const auto refund = flags_of(w.hq, "refund_mismatch");
  REQUIRE(refund.size() == 1);
  CHECK(refund[0]["detail"]["till"]["points_taken_back"] == 0);
  CHECK(refund[0]["detail"]["hq"]["points_taken_back"] == earned);
  CHECK(refund[0]["detail"]["hq"]["points_given_back"] == 0);
  // Nothing for the swollen basket; B-2's points taken back whole; B-3 as sold.
  const json m = cli_json(w.hq, {"member", "M-2"});
  CHECK(m["points"] == 1000 - 1000 + redeemed.points_earned);
  CHECK(m["tier"] == "silver");

  // Half of a two-unit line returned, the refund claiming to take nothing back: headquarters takes
  // back the engine's half.
  std::int64_t half = 0, pair_earned = 0;
  {
    TestTill a(config);
    loy_checkout* c = nullptr;
    REQUIRE(loy_checkout_begin(a, &c) == LOY_OK);
    REQUIRE(loy_checkout_identify(c, "13800000002", nullptr) == LOY_OK);
    const loy_line pair = sale_line("1", "apparel", 40000, 2);
    REQUIRE(loy_checkout_add_line(c, &pair) == LOY_OK);
    loy_quote q{};
    q.struct_size = sizeof q;
    REQUIRE(loy_checkout_commit(c, "B-5", &q) == LOY_OK);
    loy_checkout_free(c);
    pair_earned = q.points_earned;
    synced(a);
    const loy_refund_item one{sizeof(loy_refund_item), "1", 1};
    loy_refund_result rr{};
    rr.struct_size = sizeof rr;
    REQUIRE(loy_till_refund(a, "RF-B5", "B-5", &one, 1, &rr) == LOY_OK);
    half = rr.points_taken_back;
    REQUIRE(half > 0);
    REQUIRE(half < pair_earned);
  }
  tamper_outbox(db, "UPDATE outbox SET body = json_set(body, '$.points_taken_back', 0) "
                    "WHERE seq = (SELECT MAX(seq) FROM outbox)");
  {
    TestTill a(config);
    synced(a);
  }
  CHECK(flags_of(w.hq, "refund_mismatch").size() == 2);
  CHECK(cli_json(w.hq, {"member", "M-2"})["points"] == redeemed.points_earned + pair_earned - half);

  // A published rule set that no longer loads (damaged in the database), and a newer one: a sale
  // under the old version is applied without points, flagged, and the queue moves on.
  const auto v2 = w.tmp.path() / "rules-v2.json";
  json rules = json::parse(read_text(demo_rules_path()));
  rules["version"] = "demo-2026.2";
  write_text(v2, rules.dump());
  REQUIRE(w.hq.cli({"rules", "set", v2.string()}).exit_code == 0);
  {
    TestTill a(config);
    sell_at(a, "B-4", "13800000003", "2026-11-20T13:00:00+08:00", 10000);
  }
  tamper_outbox(db, "UPDATE outbox SET body = json_set(body, '$.rules_version', 'demo-2026.1') "
                    "WHERE seq = (SELECT MAX(seq) FROM outbox)");
  w.hq.execute("UPDATE rules SET json = '{\"version\": \"demo-2026.1\"}' WHERE version = 'demo-2026.1'");
  w.hq.stop();
  w.hq.start();  // forgets the rule sets it had loaded
  {
    TestTill a(config);
    synced(a);
    CHECK(status(a).outbox_depth == 0);
  }
  CHECK(flags_of(w.hq, "recheck_unavailable").size() == 2);
  CHECK(cli_json(w.hq, {"member", "M-3"})["points"] == 300);

  // Every till still syncs the feed.
  TestTill b(w.till("S002", "T01"));
  synced(b);
  loy_member_info seen = member_info();
  REQUIRE(loy_till_lookup(b, "13800000002", &seen) == LOY_OK);
  CHECK(seen.confirmed_points == redeemed.points_earned + pair_earned - half);
}
