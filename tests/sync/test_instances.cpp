// Several loyalty-hq instances on one PostgreSQL database give exactly the results of one: batches
// for the same member from two stores at once, the same batch delivered to both instances at once,
// the tier pass and expiry run by both at once, and the changes feed read while writers on both
// commit in any order (label: postgres; these tests need the cluster and fail without it).
#include <catch2/catch.hpp>

#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "hq_fixture.hpp"
#include "pg.hpp"
#include "loyalty/protocol/batch.hpp"
#include "loyalty/sync/https_client.hpp"

using namespace loyalty::test;
using nlohmann::json;

namespace {

// No daily timer (the tests run the ledger's commands), and no store's rate in the way of tills that
// sync as fast as they can.
const json kUnlimited = {{"ledger", {{"timer_seconds", 0}}},
                         {"limits", {{"store_requests_per_second", 1'000'000}, {"store_burst", 1'000'000}}}};

// A second headquarters on the first one's database, serving.
struct TwoInstances : SyncWorld {
  TwoInstances() : SyncWorld(kUnlimited), b(tmp.path() / "hq-b", tmp.path() / "pki", storage()) {
    b.start();
  }
  json storage() const {
    REQUIRE(postgres_mode());
    REQUIRE(!hq.storage_url().empty());
    json c = kUnlimited;
    c["storage"] = {{"kind", "postgres"}, {"url", hq.storage_url()}};
    return c;
  }
  HqProcess b;
};

// Members M-00000.. with phones 1390000xxxx, in `tier`, each with `points`.
std::string members_csv(int n, const std::string& tier, int points) {
  std::string csv = "id,name,phone,card,birthday,tier,points\n";
  for (int i = 0; i < n; ++i) {
    char line[128];
    std::snprintf(line, sizeof line, "M-%05d,Member %d,139%08d,,,%s,%d\n", i, i, i, tier.c_str(), points);
    csv += line;
  }
  return csv;
}

std::string phone(int i) {
  char b[16];
  std::snprintf(b, sizeof b, "139%08d", i);
  return b;
}

// A one-line sale from a thread of the test's own: no Catch assertion (they are not thread-safe), a
// status instead.
loy_status sell_from_thread(loy_till* till, const std::string& receipt, const std::string& code, std::int64_t amount) {
  loy_checkout* c = nullptr;
  loy_status st = loy_checkout_begin(till, &c);
  if (st != LOY_OK) return st;
  if ((st = loy_checkout_identify(c, code.c_str(), nullptr)) == LOY_OK) {
    const loy_line line = sale_line("1", "apparel", amount);
    if ((st = loy_checkout_add_line(c, &line)) == LOY_OK) st = loy_checkout_commit(c, receipt.c_str(), nullptr);
  }
  loy_checkout_free(c);
  return st;
}

// Runs `f` on two threads at once and waits for both.
template <class A, class B>
void at_once(A a, B b) {
  std::thread x(a), y(b);
  x.join();
  y.join();
}

}  // namespace

TEST_CASE("two instances: one member's sales from two stores synced at once are each counted once", "[instances]") {
  TwoInstances w;
  TestTill a(w.till("S001", "T01"));
  TestTill b(w.till("S002", "T01", json::object(), w.b.url()));
  REQUIRE(sync(a) == LOY_OK);
  REQUIRE(sync(b) == LOY_OK);
  std::int64_t earned = 0;
  int sales = 0;
  for (int round = 0; round < 6; ++round) {
    for (int i = 0; i < 15; ++i) {
      const std::string n = std::to_string(round) + "-" + std::to_string(i);
      const Sold x = sell(a, "A-" + n, "13800000001", 1000 + 37 * i);
      const Sold y = sell(b, "B-" + n, "13800000001", 2000 + 53 * i);
      REQUIRE(x.status == LOY_OK);
      REQUIRE(y.status == LOY_OK);
      earned += x.quote.points_earned + y.quote.points_earned;
      sales += 2;
    }
    loy_status ra = LOY_OK, rb = LOY_OK;
    at_once([&] { ra = sync(a); }, [&] { rb = sync(b); });
    REQUIRE(ra == LOY_OK);
    REQUIRE(rb == LOY_OK);
  }
  REQUIRE(sync(a) == LOY_OK);
  REQUIRE(sync(b) == LOY_OK);
  const std::int64_t points = 5000 + earned;
  CHECK(w.hq.member("M-1")["points"] == points);
  CHECK(w.b.member("M-1")["points"] == points);
  CHECK(w.hq.member("M-1")["purchases"] == sales);
  CHECK(w.hq.query("SELECT COUNT(*) FROM sales") == sales);
  CHECK(w.hq.query("SELECT SUM(points_left) FROM lots WHERE member_id = 'M-1'") == points);
  // M-1 had bought nothing: both stores, offline of each other, gave the first-purchase offer. The
  // one whose sale reached headquarters after the other's is flagged (once); nothing else is.
  INFO(w.hq.cli({"flags", "--json"}).out);
  CHECK(w.hq.query("SELECT COUNT(*) FROM flags WHERE kind != 'offer_mismatch'") == 0);
  CHECK(w.hq.query("SELECT COUNT(*) FROM flags WHERE kind = 'offer_mismatch'") <= 1);
  // Both tills hold what headquarters holds.
  CHECK(lookup(a, "13800000001").confirmed_points == points);
  CHECK(lookup(b, "13800000001").confirmed_points == points);
  CHECK(lookup(a, "13800000001").pending_points == 0);
}

TEST_CASE("two instances: the same batch delivered to both at once is applied once and answered alike", "[instances]") {
  TwoInstances w;
  const auto config = w.till("S001", "T01");
  std::map<std::string, std::int64_t> earned;
  {
    TestTill t(config);
    REQUIRE(sync(t) == LOY_OK);
    for (int i = 0; i < 40; ++i) {
      const std::string code = i % 2 ? "13800000001" : "13800000002";
      const Sold s = sell(t, "R-" + std::to_string(i), code, 1000 + 11 * i);
      REQUIRE(s.status == LOY_OK);
      earned[code] += s.quote.points_earned;
    }
  }
  const auto bodies = queued_bodies(w.tmp.path() / "S001-T01" / "data" / "till.db");
  REQUIRE(bodies.size() == 40);
  const loyalty::sync::TlsFiles tls{w.chain.dir() / "ca.pem", w.chain.dir() / "store-S001.pem",
                                    w.chain.dir() / "store-S001.key"};
  const auto post = [&](const std::string& url, const std::string& body) {
    loyalty::sync::HttpsClient client(url, tls);
    return client.request("POST", "/v1/batches", body, "", std::chrono::milliseconds(10000));
  };
  for (int k = 0; k < 10; ++k) {
    INFO("batch " << k);
    // Four transactions, two of them already sent in the batch before (a till that sent again).
    const std::size_t from = k == 0 ? 0 : static_cast<std::size_t>(4 * k - 2);
    const std::vector<std::string> part(bodies.begin() + static_cast<std::ptrdiff_t>(from),
                                        bodies.begin() + static_cast<std::ptrdiff_t>(std::min<std::size_t>(from + 4, 40)));
    const std::string body = loyalty::protocol::batch_json("T01", "B-" + std::to_string(k), part);
    loyalty::sync::HttpResult ra, rb;
    at_once([&] { ra = post(w.hq.url(), body); }, [&] { rb = post(w.b.url(), body); });
    INFO(ra.body << "\n" << rb.body);
    CHECK(ra.status == 200);
    CHECK(rb.status == 200);
    CHECK(ra.body == rb.body);  // one applied it; the other answered from its record
    const auto answer = json::parse(ra.body);
    for (const auto& r : answer["results"]) CHECK((r["status"] == "applied" || r["status"] == "duplicate"));
  }
  // The last ones, under two batch ids at once: each transaction once whatever the batch.
  const std::vector<std::string> rest(bodies.begin() + 38, bodies.end());
  loyalty::sync::HttpResult ra, rb;
  at_once([&] { ra = post(w.hq.url(), loyalty::protocol::batch_json("T01", "X-1", rest)); },
          [&] { rb = post(w.b.url(), loyalty::protocol::batch_json("T01", "X-2", rest)); });
  CHECK(ra.status == 200);
  CHECK(rb.status == 200);
  CHECK(w.hq.query("SELECT COUNT(*) FROM txns") == 40);
  CHECK(w.hq.query("SELECT COUNT(*) FROM sales") == 40);
  CHECK(w.hq.member("M-1")["points"] == 5000 + earned["13800000001"]);
  CHECK(w.hq.member("M-2")["points"] == 1000 + earned["13800000002"]);
  CHECK(w.hq.member("M-1")["purchases"] == 20);
}

TEST_CASE("two instances: the tier pass and expiry run by both at once make each due change once", "[instances]") {
  TwoInstances w;
  constexpr int kMembers = 3000;
  w.hq.import_members(members_csv(kMembers, "gold", 100));
  const auto both = [&](std::vector<std::string> args) {
    CliResult ra, rb;
    at_once([&] { ra = w.hq.cli(args); }, [&] { rb = w.b.cli(args); });
    INFO(ra.out << "\n" << rb.out);
    REQUIRE(ra.exit_code == 0);
    REQUIRE(rb.exit_code == 0);
  };
  // Nobody spent: every gold and black member gets grace, once.
  both({"tiers", "--now", "2030-01-10T12:00:00Z"});
  const std::int64_t graced = w.hq.query("SELECT COUNT(*) FROM tier_changes WHERE reason = 'grace'");
  CHECK(graced == kMembers + 2);  // and M-1 (gold), M-3 (black)
  CHECK(w.hq.query("SELECT COUNT(*) FROM members WHERE grace_until_us IS NOT NULL") == graced);
  CHECK(w.hq.query("SELECT COUNT(*) FROM (SELECT member_id FROM tier_changes WHERE reason = 'grace' "
                   "GROUP BY member_id HAVING COUNT(*) > 1) twice") == 0);
  // After the grace: each of them lowered once.
  both({"tiers", "--now", "2030-05-01T12:00:00Z"});
  CHECK(w.hq.query("SELECT COUNT(*) FROM tier_changes WHERE reason = 'downgrade'") == graced);
  CHECK(w.hq.query("SELECT COUNT(*) FROM members WHERE tier = 'silver'") == kMembers + 3);
  // Expiry, years later: every lot once, every point once.
  const std::int64_t total = w.hq.query("SELECT SUM(points) FROM members");
  REQUIRE(total == kMembers * 100 + 5000 + 1000 + 300);
  both({"expire", "--now", "2040-01-01T00:00:00Z"});
  CHECK(w.hq.query("SELECT SUM(expired) FROM lots") == total);
  CHECK(w.hq.query("SELECT COUNT(*) FROM lots WHERE points_left > 0") == 0);
  CHECK(w.hq.query("SELECT COUNT(*) FROM members WHERE points != 0") == 0);
}

TEST_CASE("two instances: a till reading the changes feed while both commit misses no record", "[instances]") {
  TwoInstances w;
  constexpr int kMembers = 60;
  w.hq.import_members(members_csv(kMembers, "silver", 0));
  struct Writer {
    std::string store, till;
    bool on_b;
  };
  const std::vector<Writer> writers = {{"S001", "T01", false}, {"S001", "T02", true}, {"S002", "T01", false},
                                       {"S002", "T02", true}};
  std::vector<std::unique_ptr<TestTill>> tills;
  for (const auto& wr : writers) {
    tills.push_back(std::make_unique<TestTill>(w.till(wr.store, wr.till, json::object(), wr.on_b ? w.b.url() : "")));
    REQUIRE(sync(*tills.back()) == LOY_OK);
  }
  TestTill reader(w.till("S001", "T09"));
  REQUIRE(sync(reader) == LOY_OK);
  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::mutex errors_mu;
  std::string errors;  // the first failures' messages
  const auto failed = [&](loy_till* t) {
    ++failures;
    std::lock_guard lock(errors_mu);
    if (errors.size() < 2000) (errors += loy_till_last_error(t)) += "\n";
  };
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < tills.size(); ++i) {
    threads.emplace_back([&, i] {
      std::mt19937 rng(static_cast<unsigned>(7 + i));
      for (int round = 0; round < 8; ++round) {
        for (int s = 0; s < 6; ++s) {
          const int m = static_cast<int>(rng() % kMembers);
          const std::string receipt = writers[i].till + "-" + std::to_string(round) + "-" + std::to_string(s);
          if (sell_from_thread(*tills[i], receipt, phone(m), 1000 + static_cast<std::int64_t>(rng() % 5000)) != LOY_OK)
            failed(*tills[i]);
        }
        if (sync(*tills[i]) != LOY_OK) failed(*tills[i]);
      }
    });
  }
  // The reader pulls the feed from the first instance all along, while tills of both commit.
  int reads = 0;
  std::thread reading([&] {
    while (!done) {
      if (sync(reader) != LOY_OK) failed(reader);
      ++reads;
    }
  });
  for (auto& t : threads) t.join();
  done = true;
  reading.join();
  INFO(errors);
  INFO("first instance:\n" << w.hq.log() << "\nsecond instance:\n" << w.b.log());
  CHECK(failures == 0);
  CHECK(reads > 3);
  REQUIRE(sync(reader) == LOY_OK);
  // Every member as the reader holds it is as headquarters holds it.
  for (int m = 0; m < kMembers; ++m) {
    INFO("member " << m);
    char id[16];
    std::snprintf(id, sizeof id, "M-%05d", m);
    CHECK(lookup(reader, phone(m)).confirmed_points == w.hq.member(id)["points"]);
  }
}

TEST_CASE("two instances: held transactions released by an operator on one while the till sends them again to the "
          "other are applied once and stay applied",
          "[instances]") {
  TwoInstances w;
  const auto config = w.till("S001", "T01");
  constexpr int kSales = 30;
  {
    TestTill t(config);
    REQUIRE(sync(t) == LOY_OK);
    for (int i = 0; i < kSales; ++i) REQUIRE(sell(t, "R-" + std::to_string(i), "13800000001", 1000 + 7 * i).status == LOY_OK);
  }
  // A till whose clock ran years ahead: every sale is held (future_timestamp) until an operator accepts it.
  const auto db = w.tmp.path() / "S001-T01" / "data" / "till.db";
  tamper_outbox(db, "UPDATE outbox SET body = json_set(body, '$.at', '2099-01-01T02:00:00Z', '$.input.now', "
                    "'2099-01-01T02:00:00Z')");
  const auto bodies = queued_bodies(db);
  REQUIRE(bodies.size() == kSales);
  const loyalty::sync::TlsFiles tls{w.chain.dir() / "ca.pem", w.chain.dir() / "store-S001.pem",
                                    w.chain.dir() / "store-S001.key"};
  loyalty::sync::HttpsClient a(w.hq.url(), tls), b(w.b.url(), tls);
  const auto first = a.request("POST", "/v1/batches", loyalty::protocol::batch_json("T01", "B-0", bodies), "",
                               std::chrono::milliseconds(20000));
  REQUIRE(first.status == 200);
  REQUIRE(w.hq.query("SELECT COUNT(*) FROM txns WHERE status = 'held'") == kSales);
  const std::int64_t before = w.hq.member("M-1")["points"];

  // The operator accepts them on the first instance while the till, not yet answered, sends them again
  // and again to the second: no answer of the second may take an applied transaction back to held.
  std::atomic<bool> released{false};
  std::vector<int> statuses;
  CliResult accepted;
  at_once([&] { accepted = w.hq.cli({"held", "retry", "--all", "--accept"}); released = true; },
          [&] {
            for (int k = 0; !released || k < 3; ++k) {
              const auto r = b.request("POST", "/v1/batches",
                                       loyalty::protocol::batch_json("T01", "B-again-" + std::to_string(k), bodies), "",
                                       std::chrono::milliseconds(20000));
              statuses.push_back(r.status);
            }
          });
  INFO(accepted.out << "\n" << w.b.log());
  REQUIRE(accepted.exit_code == 0);
  for (const int s : statuses) CHECK(s == 200);
  CHECK(w.hq.query("SELECT COUNT(*) FROM sales") == kSales);
  CHECK(w.hq.query("SELECT COUNT(*) FROM txns WHERE status = 'applied'") == kSales);
  // Each applied transaction has its sale, and each sale an applied transaction.
  CHECK(w.hq.query("SELECT COUNT(*) FROM txns t JOIN sales s ON s.row = t.row WHERE t.status = 'applied'") == kSales);
  CHECK(w.hq.query("SELECT COUNT(*) FROM flags WHERE kind = 'held' AND closed_us IS NULL") == 0);
  CHECK(w.hq.member("M-1")["points"] > before);
  CHECK(w.hq.member("M-1")["purchases"] == kSales);
  // The till sends them once more: each a duplicate now, on either instance.
  const auto again = b.request("POST", "/v1/batches", loyalty::protocol::batch_json("T01", "B-last", bodies), "",
                               std::chrono::milliseconds(20000));
  REQUIRE(again.status == 200);
  const json answer = json::parse(again.body);
  for (const auto& r : answer["results"]) CHECK(r["status"] == "duplicate");
  // And nothing is left for a later retry to apply a second time.
  CHECK(w.hq.cli({"held", "retry", "--all", "--accept"}).exit_code == 0);
  CHECK(w.hq.query("SELECT COUNT(*) FROM sales") == kSales);
}

TEST_CASE("a pipeline whose statement failed leaves its connection usable: no statement it prepared is taken as made",
          "[instances]") {
  // A transaction that went on past a failure (a read of the rules caught) and prepared statements
  // after it, which the server never made: the connection's next transaction prepares them again.
  SyncWorld w(kUnlimited);
  REQUIRE(postgres_mode());
  namespace pg = loyalty::hq::pg;
  pg::Connection c(w.hq.storage_url());
  c.exec("BEGIN");
  c.begin_pipeline();
  c.send("SELECT 1 / $1::int", pg::Params().add(0));
  CHECK_THROWS_AS(c.query("SELECT $1::int + 1", pg::Params().add(1)), pg::PgError);
  CHECK_THROWS_AS(c.query("SELECT $1::int + 2", pg::Params().add(1)), pg::PgError);
  CHECK(c.failure() == "22012");  // the first failure: the division
  c.abandon_pipeline();
  c.exec("ROLLBACK");
  c.clear_failure();
  CHECK(c.query("SELECT $1::int + 1", pg::Params().add(1)).integer(0, 0) == 2);
  CHECK(c.query("SELECT $1::int + 2", pg::Params().add(1)).integer(0, 0) == 3);
  CHECK(c.query("SELECT 1 / $1::int", pg::Params().add(1)).integer(0, 0) == 1);
  // And in a pipeline again, answered in order.
  c.exec("BEGIN");
  c.begin_pipeline();
  c.send("SELECT $1::int + 2", pg::Params().add(5));
  CHECK(c.query("SELECT $1::int + 1", pg::Params().add(7)).integer(0, 0) == 8);
  c.end_pipeline();
  c.exec("COMMIT");
}
