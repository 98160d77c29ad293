// Headquarters never forgets a transaction it was sent: one it cannot apply yet is held, with its
// reason and a flag, and applied once its cause is gone, when its till sends it again or when an
// operator retries it. The till tells waiting, held and refused transactions apart and deletes none.
#include <catch2/catch.hpp>

#include <thread>

#include "hq_fixture.hpp"

using namespace loyalty::test;

namespace {

// Headquarters started with an enrollment key other than the one the tills seal to.
struct WrongKeyWorld {
  TempDir keys;
  std::filesystem::path wrong_key = keys.path() / "other-enroll-private.pem";
  SyncWorld w;
  WrongKeyWorld()
      : w((write_text(wrong_key, rsa_private_key_pem()), nlohmann::json{{"enrollment_key_file", wrong_key.string()}})) {}
  void fix_key_and_restart() {
    w.hq.stop();
    w.hq.edit_config({{"enrollment_key_file", (w.chain.dir() / "hq-enroll-private.pem").string()}});
    w.hq.start();
  }
};

struct Offline {
  loy_quote sale{};
  loy_refund_result refund{};
};

// An enrollment with a first purchase, and part of it refunded: three transactions, each needing the one before.
Offline enroll_buy_and_refund(loy_till* t) {
  Offline o;
  loy_checkout* c = nullptr;
  REQUIRE(loy_checkout_begin(t, &c) == LOY_OK);
  loy_enrollment e{};
  e.struct_size = sizeof e;
  e.phone = "13900000001";
  e.name = "Zhang Wei";
  e.consent = "signed form";
  REQUIRE(loy_checkout_enroll(c, &e, nullptr) == LOY_OK);
  const loy_line l = sale_line("1", "apparel", 20000, 2);
  REQUIRE(loy_checkout_add_line(c, &l) == LOY_OK);
  o.sale.struct_size = sizeof o.sale;
  REQUIRE(loy_checkout_commit(c, "R-1", &o.sale) == LOY_OK);
  loy_checkout_free(c);
  loy_refund_item item{};
  item.struct_size = sizeof item;
  item.line_id = "1";
  item.units = 1;
  o.refund.struct_size = sizeof o.refund;
  REQUIRE(loy_till_refund(t, "F-1", "R-1", &item, 1, &o.refund) == LOY_OK);
  return o;
}

nlohmann::json held_list(const HqProcess& hq, bool all = false) {
  std::vector<std::string> args = {"held", "--json"};
  if (all) args.push_back("--all");
  const auto r = hq.cli(args);
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  return nlohmann::json::parse(r.out);
}

}  // namespace

TEST_CASE("an enrollment headquarters cannot open is held with what depends on it, and applied when the till sends "
          "them again after a restart with the right key",
          "[sync]") {
  WrongKeyWorld k;
  TestTill t(k.w.till("S001", "T01"));
  REQUIRE(sync(t) == LOY_OK);
  const Offline o = enroll_buy_and_refund(t);

  loy_sync_result r{};
  REQUIRE(sync(t, &r) == LOY_OK);
  CHECK(r.sent == 3);
  CHECK(r.applied == 0);
  CHECK(r.rejected == 0);
  auto st = status(t);
  CHECK(st.held == 3);
  CHECK(st.outbox_depth == 0);
  CHECK(st.rejected == 0);

  const auto held = held_list(k.w.hq);
  REQUIRE(held.size() == 3);
  CHECK(held[0]["kind"] == "enrollment");
  CHECK(held[0]["reason"].get<std::string>().rfind("sealed:", 0) == 0);
  CHECK(held[1]["kind"] == "sale");
  CHECK(held[1]["reason"].get<std::string>().rfind("unknown_member:", 0) == 0);
  CHECK(held[2]["kind"] == "refund");
  CHECK(held[2]["reason"].get<std::string>().rfind("unknown_sale:", 0) == 0);
  for (const auto& h : held) {
    CHECK(h["status"] == "held");
    CHECK(h["final"] == false);
  }
  CHECK(k.w.hq.query("SELECT COUNT(*) FROM flags WHERE kind = 'held' AND closed_us IS NULL") == 3);

  // The restart with the right key tries every held transaction once: all three are applied, and the
  // till's next sync finds them so.
  k.fix_key_and_restart();
  CHECK(k.w.hq.log().find("held transactions tried again at start: 3 of 3 applied") != std::string::npos);
  REQUIRE(sync(t, &r) == LOY_OK);
  CHECK(r.sent == 3);
  CHECK(r.duplicates == 3);
  st = status(t);
  CHECK(st.held == 0);
  CHECK(st.rejected == 0);
  CHECK(held_list(k.w.hq).empty());
  CHECK(held_list(k.w.hq, true).size() == 3);  // applied since, still shown with --all
  CHECK(k.w.hq.query("SELECT COUNT(*) FROM flags WHERE kind = 'held' AND closed_us IS NULL") == 0);
  CHECK(k.w.hq.query("SELECT COUNT(*) FROM members WHERE id LIKE 'T-S001-%'") == 1);
  CHECK(k.w.hq.query("SELECT COUNT(*) FROM sales") == 1);
  CHECK(k.w.hq.query("SELECT COUNT(*) FROM refunds") == 1);
  const std::int64_t balance = o.sale.points_earned - o.refund.points_taken_back;
  CHECK(k.w.hq.query("SELECT points FROM members WHERE id LIKE 'T-S001-%'") == balance);
  REQUIRE(sync(t, &r) == LOY_OK);
  CHECK(r.sent == 0);
  const auto m = lookup(t, "13900000001");
  CHECK(m.confirmed_points == balance);
  CHECK(m.pending_points == 0);
}

TEST_CASE("an operator retries held transactions once their cause is fixed, and the till's resend is a duplicate",
          "[sync]") {
  SyncWorld w;
  TestTill t(w.till("S001", "T01"));
  REQUIRE(sync(t) == LOY_OK);
  // A member headquarters does not know yet (seeded into this till by hand), a sale and a refund of it.
  const std::string doc = changes(nlohmann::json::array({member_record("M-404", 1, "gold", 100, {"13700000404"})}), 3);
  REQUIRE(loy_till_apply_changes(t, doc.data(), doc.size()) == LOY_OK);
  const Sold sold = sell(t, "R-1", "13700000404", 20000);
  REQUIRE(sold.status == LOY_OK);
  loy_refund_item item{};
  item.struct_size = sizeof item;
  item.line_id = "1";
  item.units = 1;
  loy_refund_result rr{};
  rr.struct_size = sizeof rr;
  REQUIRE(loy_till_refund(t, "F-1", "R-1", &item, 1, &rr) == LOY_OK);
  REQUIRE(sync(t) == LOY_OK);
  REQUIRE(status(t).held == 2);

  // Retried while the cause is still there: still held, with its reason.
  auto retried = w.hq.cli({"held", "retry", "--all"});
  INFO(retried.out);
  REQUIRE(retried.exit_code == 0);
  CHECK(retried.out.find("0 of 2 applied") != std::string::npos);
  const auto one = held_list(w.hq)[0]["id"].get<std::string>();
  const auto shown = w.hq.cli({"held", "show", one, "--json"});
  REQUIRE(shown.exit_code == 0);
  CHECK(nlohmann::json::parse(shown.out)[0]["body"]["receipt_id"] == "R-1");
  CHECK(w.hq.cli({"held", "retry"}).exit_code == 2);  // neither ids nor --all
  CHECK(w.hq.cli({"held", "retry", "999999"}).exit_code == 2);

  // The member is imported; the operator retries the sale alone, and the refund waiting for it follows.
  w.hq.import_members("id,name,phone,card,birthday,tier,points\nM-404,Hu Ye,13700000404,,,gold,100\n");
  retried = w.hq.cli({"held", "retry", one, "--json"});
  INFO(retried.out);
  REQUIRE(retried.exit_code == 0);
  CHECK(nlohmann::json::parse(retried.out)[0]["status"] == "applied");
  CHECK(held_list(w.hq).empty());
  const std::int64_t balance = w.hq.member("M-404")["points"];
  CHECK(balance == 100 + sold.quote.points_earned - rr.points_taken_back);

  loy_sync_result r{};
  REQUIRE(sync(t, &r) == LOY_OK);
  CHECK(r.sent == 2);
  CHECK(r.duplicates == 2);
  CHECK(status(t).held == 0);
  CHECK(w.hq.member("M-404")["points"] == balance);  // counted once
  CHECK(w.hq.query("SELECT COUNT(*) FROM sales") == 1);
  REQUIRE(sync(t) == LOY_OK);
  CHECK(lookup(t, "13700000404").available_points == balance);
}

TEST_CASE("an operator's retry of everything, with --accept, never applies a duplicate again", "[sync]") {
  // Held first, then found to be copies of what was applied: a till restored from a backup committed
  // them again while headquarters could not open the enrollment.
  WrongKeyWorld k;
  const auto config = k.w.till("S001", "T01");
  const auto data = k.w.tmp.path() / "S001-T01" / "data";
  {
    TestTill t(config);
    REQUIRE(sync(t) == LOY_OK);
  }
  copy_dir(data, k.w.tmp.path() / "backup");
  {
    TestTill t(config);
    enroll_buy_and_refund(t);
    REQUIRE(sync(t) == LOY_OK);
    REQUIRE(status(t).held == 3);
  }
  copy_dir(k.w.tmp.path() / "backup", data);
  {
    TestTill t(config);
    enroll_buy_and_refund(t);  // the POS commits them again
    REQUIRE(sync(t) == LOY_OK);
  }
  k.fix_key_and_restart();  // what was held is applied at start
  {
    TestTill t(config);
    REQUIRE(sync(t) == LOY_OK);
    REQUIRE(sync(t) == LOY_OK);
    CHECK(status(t).held == 0);
  }
  const std::int64_t points = k.w.hq.query("SELECT points FROM members WHERE phone = '13900000001'");
  REQUIRE(k.w.hq.query("SELECT COUNT(*) FROM sales") == 1);
  CHECK(held_list(k.w.hq).empty());  // copies answered as duplicates are not held
  const auto retried = k.w.hq.cli({"held", "retry", "--all", "--accept"});
  INFO(retried.out);
  CHECK(retried.exit_code == 0);
  CHECK(k.w.hq.query("SELECT COUNT(*) FROM sales") == 1);
  CHECK(k.w.hq.query("SELECT COUNT(*) FROM refunds") == 1);
  CHECK(k.w.hq.query("SELECT purchases FROM members WHERE phone = '13900000001'") == 1);
  CHECK(k.w.hq.query("SELECT points FROM members WHERE phone = '13900000001'") == points);
}

TEST_CASE("a transaction held for a member that arrives without releasing it (at another instance, at the same "
          "moment) is applied at the ledger timer's next tick",
          "[sync]") {
  // The enrollment cannot be opened (another key), so the sale waits for its member and the refund
  // for the sale. The member then reaches the database by another way than its enrollment (here an
  // import; with several instances, an enrollment committed while this instance was holding the sale).
  TempDir keys;
  const auto wrong_key = keys.path() / "other-enroll-private.pem";
  write_text(wrong_key, rsa_private_key_pem());
  SyncWorld w(nlohmann::json{{"enrollment_key_file", wrong_key.string()}, {"ledger", {{"timer_seconds", 1}}}});
  TestTill t(w.till("S001", "T01"));
  REQUIRE(sync(t) == LOY_OK);
  const Offline o = enroll_buy_and_refund(t);
  REQUIRE(sync(t) == LOY_OK);
  REQUIRE(held_list(w.hq).size() == 3);
  const std::string member = w.hq.query_text("SELECT waits_for FROM txns WHERE kind = 'sale'");
  REQUIRE(member.rfind("T-S001-", 0) == 0);
  w.hq.import_members("id,name,phone,card,birthday,tier,points\n" + member + ",Zhang Wei,,CARD-Z1,,silver,0\n");
  for (int i = 0; i < 200 && w.hq.query("SELECT COUNT(*) FROM refunds") == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(w.hq.query("SELECT COUNT(*) FROM sales") == 1);
  CHECK(w.hq.query("SELECT COUNT(*) FROM refunds") == 1);
  CHECK(w.hq.log().find("held transactions released: 2") != std::string::npos);
  const auto held = held_list(w.hq);
  REQUIRE(held.size() == 1);  // the enrollment, which only the right key opens
  CHECK(held[0]["kind"] == "enrollment");
  CHECK(w.hq.query("SELECT points FROM members WHERE id = '" + member + "'") ==
        o.sale.points_earned - o.refund.points_taken_back);
}
