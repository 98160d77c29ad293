// Refunds across tills and stores: a returns desk refunds any till's sale through headquarters, a
// till online learns what was refunded elsewhere before it pays out, headquarters flags and keeps a
// refund of more than is left, and the cashier never waits longer than one sync timeout.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "hq_fixture.hpp"
#include "loyalty/sync/https_client.hpp"

using namespace loyalty::test;

namespace {

// A two-unit line and a one-unit line for M-2.
void sell_two_lines(loy_till* t, const char* receipt) {
  loy_checkout* c = nullptr;
  REQUIRE(loy_checkout_begin(t, &c) == LOY_OK);
  REQUIRE(loy_checkout_identify(c, "13800000002", nullptr) == LOY_OK);
  const loy_line l1 = sale_line("1", "apparel", 20000, 2);
  const loy_line l2 = sale_line("2", "accessories", 5000);
  REQUIRE(loy_checkout_add_line(c, &l1) == LOY_OK);
  REQUIRE(loy_checkout_add_line(c, &l2) == LOY_OK);
  REQUIRE(loy_checkout_commit(c, receipt, nullptr) == LOY_OK);
  loy_checkout_free(c);
}

// A TCP listener on 127.0.0.1 that never accepts: a connection to it opens, and nothing answers.
class Silent {
 public:
  Silent() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd_, 16) == 0);
    socklen_t len = sizeof a;
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    port_ = ntohs(a.sin_port);
  }
  ~Silent() { ::close(fd_); }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

}  // namespace

TEST_CASE("a returns desk refunds a sale of another till of its store, fetched from headquarters", "[sync]") {
  SyncWorld w;
  TestTill lane(w.till("S001", "T01"));
  TestTill desk(w.till("S001", "T02"));
  REQUIRE(sync(lane) == LOY_OK);
  REQUIRE(sync(desk) == LOY_OK);
  sell_two_lines(lane, "R-1");
  REQUIRE(sync(lane) == LOY_OK);

  loy_refund_result rr{};
  CHECK(refund_units(desk, "F-1", nullptr, "R-1", "1", 1) == LOY_E_NOT_FOUND);  // loy_till_refund: what this till holds
  CHECK(refund_units(desk, "F-1", "S001", "R-1", "1", 1, &rr) == LOY_OK);
  CHECK(rr.amount_minor > 0);
  CHECK(refund_units(desk, "F-2", nullptr, "R-1", "2", 1) == LOY_OK);  // now it holds a copy
  CHECK(refund_units(desk, "F-3", "S001", "R-404", "1", 1) == LOY_E_NOT_FOUND);
  loy_sync_result r{};
  REQUIRE(sync(desk, &r) == LOY_OK);
  CHECK(r.applied == 2);
  CHECK(w.hq.query("SELECT COUNT(*) FROM refunds") == 2);
  CHECK(w.hq.query("SELECT COUNT(*) FROM flags WHERE closed_us IS NULL") == 0);
}

TEST_CASE("a refund id is its till's own: two tills refunding one sale under the same id make two refunds", "[sync]") {
  SyncWorld w;
  TestTill lane(w.till("S001", "T01"));
  TestTill desk(w.till("S001", "T02"));
  REQUIRE(sync(lane) == LOY_OK);
  REQUIRE(sync(desk) == LOY_OK);
  sell_two_lines(lane, "R-1");
  REQUIRE(refund_units(lane, "F-1", nullptr, "R-1", "1", 1) == LOY_OK);
  REQUIRE(sync(lane) == LOY_OK);
  loy_refund_result rr{};
  REQUIRE(refund_units(desk, "F-1", "S001", "R-1", "1", 1, &rr) == LOY_OK);  // the desk's own counter is at F-1 too
  loy_sync_result r{};
  REQUIRE(sync(desk, &r) == LOY_OK);
  CHECK(r.applied == 1);
  CHECK(r.duplicates == 0);
  CHECK(w.hq.query("SELECT COUNT(*) FROM refunds") == 2);
  CHECK(w.hq.query("SELECT refunded_minor FROM sales WHERE receipt_id = 'R-1'") == 2 * rr.amount_minor);  // line 1, whole
  CHECK(w.hq.query("SELECT COUNT(*) FROM flags WHERE closed_us IS NULL") == 0);
}

TEST_CASE("a refund committed again by a restored till counts once when the till learns headquarters' refunds",
          "[sync]") {
  SyncWorld w;
  const auto config = w.till("S001", "T01");
  const auto data = w.tmp.path() / "S001-T01" / "data";
  {
    TestTill t(config);
    REQUIRE(sync(t) == LOY_OK);
    sell_two_lines(t, "R-1");
    REQUIRE(sync(t) == LOY_OK);
  }
  copy_dir(data, w.tmp.path() / "backup");
  {
    TestTill t(config);
    REQUIRE(refund_units(t, "F-1", nullptr, "R-1", "1", 1) == LOY_OK);
    REQUIRE(sync(t) == LOY_OK);
  }
  // The till comes back from the copy, and commits F-1 again while headquarters is down.
  copy_dir(w.tmp.path() / "backup", data);
  TestTill t(config);
  w.hq.stop();
  REQUIRE(refund_units(t, "F-1", nullptr, "R-1", "1", 1) == LOY_OK);
  w.hq.start();
  loy_sync_result r{};
  REQUIRE(sync(t, &r) == LOY_OK);
  CHECK(r.duplicates == 1);
  // One of line 1's two units is left: it can be refunded, once.
  CHECK(refund_units(t, "F-2", nullptr, "R-1", "1", 1) == LOY_OK);
  CHECK(refund_units(t, "F-3", nullptr, "R-1", "1", 1) == LOY_E_STATE);
  REQUIRE(sync(t, &r) == LOY_OK);
  CHECK(w.hq.query("SELECT COUNT(*) FROM refunds") == 2);
  CHECK(w.hq.query("SELECT COUNT(*) FROM flags WHERE closed_us IS NULL") == 0);
}

TEST_CASE("a till online learns what was refunded elsewhere before it refunds its own sale; headquarters flags and "
          "keeps a refund of more than is left",
          "[sync]") {
  SyncWorld w;
  TestTill lane(w.till("S001", "T01"));
  TestTill other(w.till("S002", "T01"));
  REQUIRE(sync(lane) == LOY_OK);
  REQUIRE(sync(other) == LOY_OK);
  sell_two_lines(lane, "R-1");
  REQUIRE(sync(lane) == LOY_OK);
  // The customer returns both units of line 1 at another store.
  REQUIRE(refund_units(other, "F-9", "S001", "R-1", "1", 2) == LOY_OK);
  REQUIRE(sync(other) == LOY_OK);

  // Online, the selling till asks headquarters first: nothing of line 1 is left to pay out.
  CHECK(refund_units(lane, "F-1", nullptr, "R-1", "1", 1) == LOY_E_STATE);
  CHECK(std::string(loy_till_last_error(lane)).find("1") != std::string::npos);
  CHECK(refund_units(lane, "F-2", nullptr, "R-1", "2", 1) == LOY_OK);  // line 2 still is
  loy_sync_result r{};
  REQUIRE(sync(lane, &r) == LOY_OK);
  CHECK(r.applied == 1);

  // A till that cannot ask (headquarters down) pays out what it believes is left of another sale;
  // headquarters keeps that refund, refused for good, and flags it.
  sell_two_lines(lane, "R-2");
  REQUIRE(sync(lane) == LOY_OK);
  REQUIRE(refund_units(other, "F-8", "S001", "R-2", "1", 2) == LOY_OK);
  REQUIRE(sync(other) == LOY_OK);
  w.hq.stop();
  CHECK(refund_units(lane, "F-3", nullptr, "R-2", "1", 1) == LOY_OK);
  w.hq.start();
  REQUIRE(sync(lane, &r) == LOY_OK);
  CHECK(r.rejected == 1);
  CHECK(status(lane).rejected == 1);
  CHECK(status(lane).held == 0);
  CHECK(w.hq.query("SELECT COUNT(*) FROM txns WHERE kind = 'refund' AND status = 'rejected'") == 1);
  CHECK(w.hq.query("SELECT COUNT(*) FROM flags WHERE kind IN ('invalid_refund', 'refund_exceeds_sale') "
                   "AND closed_us IS NULL AND store_id = 'S001'") == 1);
  CHECK(w.hq.query("SELECT COUNT(*) FROM refunds") == 3);  // F-9, F-2, F-8: the refused one is kept, not applied
}

TEST_CASE("a refund of a sale headquarters must be asked for takes at most the sync timeout", "[sync]") {
  SyncWorld w;
  Silent silent;
  // The client itself: a deadline ends the request whatever each step's timeout.
  loyalty::sync::HttpsClient client(silent.url(), {w.chain.dir() / "ca.pem", w.chain.dir() / "store-S001.pem",
                                                   w.chain.dir() / "store-S001.key"});
  try {
    client.request("GET", "/v1/health", "", "", std::chrono::seconds(60),
                   std::chrono::steady_clock::now() + std::chrono::milliseconds(300));
    FAIL("a silent headquarters answered");
  } catch (const loyalty::sync::NetworkError& e) {
    INFO(e.what());
    CHECK(std::string(e.what()).find("within the time allowed") != std::string::npos);
  }
  // And a till's refund of a sale it does not hold, with headquarters silent.
  TestTill t(w.till("S001", "T02", {{"sync", {{"timeout_seconds", 1}}}}, silent.url()));
  CHECK(refund_units(t, "F-1", "S002", "R-1", "1", 1) == LOY_E_NETWORK);
  CHECK(std::string(loy_till_last_error(t)).find("cannot fetch the sale") != std::string::npos);
}

TEST_CASE("a receipt id that looks like another store's is the POS's own: the two sales never mix", "[sync]") {
  SyncWorld w;
  TestTill a(w.till("S001", "T01"));
  TestTill b(w.till("S002", "T01"));
  REQUIRE(sync(a) == LOY_OK);
  REQUIRE(sync(b) == LOY_OK);
  REQUIRE(sell(b, "R-1", "13800000001", 30000).status == LOY_OK);
  REQUIRE(sync(b) == LOY_OK);
  const Sold own = sell(a, "@S002/R-1", "13800000002", 5000);  // the POS's own receipt id, whatever it looks like
  REQUIRE(own.status == LOY_OK);

  loy_refund_result theirs{}, mine{};
  REQUIRE(refund_units(a, "F-1", "S002", "R-1", "1", 1, &theirs) == LOY_OK);
  REQUIRE(refund_units(a, "F-2", nullptr, "@S002/R-1", "1", 1, &mine) == LOY_OK);
  CHECK(theirs.amount_minor > mine.amount_minor);
  CHECK(mine.amount_minor == own.quote.payable_minor);
  CHECK(refund_units(a, "F-3", "S002", "R-1", "1", 1) == LOY_E_STATE);  // nothing left of either
  CHECK(refund_units(a, "F-4", nullptr, "@S002/R-1", "1", 1) == LOY_E_STATE);
  loy_sync_result r{};
  REQUIRE(sync(a, &r) == LOY_OK);
  CHECK(r.applied == 3);
  CHECK(r.rejected == 0);
}

TEST_CASE("a receipt id two tills of a store used is not guessed at a returns desk: the call says which tills", "[sync]") {
  SyncWorld w;
  TestTill a(w.till("S001", "T01"));
  TestTill b(w.till("S001", "T02"));
  TestTill desk(w.till("S001", "T03"));
  REQUIRE(sync(a) == LOY_OK);
  REQUIRE(sync(b) == LOY_OK);
  REQUIRE(sell(a, "R-X", "13800000001", 10000).status == LOY_OK);
  REQUIRE(sell(b, "R-X", "13800000002", 20000).status == LOY_OK);
  REQUIRE(sync(a) == LOY_OK);
  REQUIRE(sync(b) == LOY_OK);
  REQUIRE(sync(desk) == LOY_OK);
  CHECK(refund_units(desk, "F-1", "S001", "R-X", "1", 1) == LOY_E_CONFLICT);
  const std::string why = loy_till_last_error(desk);
  CHECK(why.find("T01") != std::string::npos);
  CHECK(why.find("T02") != std::string::npos);
  CHECK(status(desk).outbox_depth == 0);
}
