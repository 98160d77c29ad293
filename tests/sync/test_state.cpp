// Disagreements of state between a till and headquarters, each a fault like a cut cable: a renamed
// till, a till or headquarters restored from a backup, a clock that jumped. Every sale whose commit
// returned OK reaches headquarters' ledger exactly once.
#include <catch2/catch.hpp>

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
