// What a client sends headquarters, good or bad: malformed and mistyped JSON, oversized bodies,
// unknown paths, reused ids, replays. Each gets its answer, and the server stays up.
#include <catch2/catch.hpp>

#include "hq_fixture.hpp"
#include "loyalty/protocol/batch.hpp"
#include "loyalty/protocol/changes.hpp"
#include "loyalty/sync/https_client.hpp"

using namespace loyalty::test;
using loyalty::sync::HttpsClient;
using loyalty::sync::HttpResult;
using loyalty::sync::TlsFiles;

namespace {

constexpr std::chrono::milliseconds kTimeout{5000};

struct World : SyncWorld {
  std::vector<std::string> bodies;  // three sales of till S001/T01, and a sale dated in 2099
  World() : SyncWorld(nlohmann::json{{"limits", {{"body_bytes", loyalty::protocol::limits::kBatchBytes}}}}) {
    const auto config = till("S001", "T01");
    {
      TestTill t(config);
      REQUIRE(sync(t) == LOY_OK);
      REQUIRE(sell(t, "R-1", "13800000001", 10000).status == LOY_OK);
      REQUIRE(sell(t, "R-2", "13800000002", 20000).status == LOY_OK);
      REQUIRE(sell(t, "R-3", "", 3000).status == LOY_OK);
      REQUIRE(sell(t, "R-4", "", 1000).status == LOY_OK);
    }
    // R-4 as a till whose clock runs 70 years ahead makes it (a till refuses to commit that far
    // ahead of its own clock).
    const auto db = tmp.path() / "S001-T01" / "data" / "till.db";
    tamper_outbox(db, "UPDATE outbox SET body = json_set(body, '$.at', '2099-01-01T02:00:00Z', '$.input.now', "
                      "'2099-01-01T02:00:00Z') WHERE seq = (SELECT MAX(seq) FROM outbox)");
    bodies = queued_bodies(db);
    REQUIRE(bodies.size() == 4);
  }
  HttpResult send(const std::string& method, const std::string& target, const std::string& body = "") {
    HttpsClient client(hq.url(), {chain.dir() / "ca.pem", chain.dir() / "store-S001.pem", chain.dir() / "store-S001.key"});
    return client.request(method, target, body, "", kTimeout);
  }
  void expect_error(const HttpResult& r, int status, const std::string& code, const std::string& in_message = "") {
    INFO(r.body);
    CHECK(r.status == status);
    const auto err = loyalty::protocol::parse_error(r.body);
    REQUIRE(err);
    CHECK(err->first == code);
    if (!in_message.empty()) CHECK(err->second.find(in_message) != std::string::npos);
    CHECK(send("GET", "/v1/health").status == 200);  // still up
  }
};

std::string batch(const std::string& id, const std::vector<std::string>& txns) {
  return loyalty::protocol::batch_json("T01", id, txns);
}

}  // namespace

TEST_CASE("malformed and mistyped requests get 400 naming what is wrong, and nothing is applied", "[sync]") {
  World w;
  w.expect_error(w.send("POST", "/v1/batches", "{"), 400, "invalid_batch");
  w.expect_error(w.send("POST", "/v1/batches", "[]"), 400, "invalid_batch");
  w.expect_error(w.send("POST", "/v1/batches", "\xff\xfe"), 400, "invalid_batch");
  w.expect_error(w.send("POST", "/v1/batches", R"({"till_id": 5, "batch_id": "b", "txns": []})"), 400, "invalid_batch",
                 "till_id");
  w.expect_error(w.send("POST", "/v1/batches", R"({"till_id": "T01", "batch_id": "b", "txns": "x"})"), 400,
                 "invalid_batch", "txns");
  w.expect_error(w.send("POST", "/v1/batches", R"({"till_id": "T01", "batch_id": "b", "txns": []})"), 400,
                 "invalid_batch", "txns");
  w.expect_error(w.send("POST", "/v1/batches", R"({"till_id": "T01", "till_id": "T01", "batch_id": "b", "txns": [{}]})"),
                 400, "invalid_batch");
  w.expect_error(w.send("POST", "/v1/batches", R"({"till_id": "T01", "batch_id": "b", "txns": [{}], "extra": 1})"), 400,
                 "invalid_batch", "extra");
  std::string deep(100, '[');
  w.expect_error(w.send("POST", "/v1/batches", deep + std::string(100, ']')), 400, "invalid_batch");

  CHECK(w.hq.query("SELECT COUNT(*) FROM txns") == 0);
  CHECK(w.hq.query("SELECT COUNT(*) FROM refused") == 0);

  // A transaction that cannot be read is refused for its own content, and kept; the rest of its
  // batch is applied.
  int n = 0;
  const auto refused_in_batch = [&](nlohmann::json txn, const std::string& reason) {
    std::string id(32, '0');
    const std::string digits = std::to_string(++n);
    id.replace(32 - digits.size(), digits.size(), digits);
    if (txn.is_object() && txn.contains("txn_id")) txn["txn_id"] = id;
    const auto res = w.send("POST", "/v1/batches", batch("b-" + std::to_string(n), {txn.dump(), w.bodies[1]}));
    INFO(res.body);
    REQUIRE(res.status == 200);
    const auto answer = loyalty::protocol::parse_batch_answer(res.body);
    REQUIRE(answer);
    CHECK(answer->results[0].status == loyalty::protocol::TxnStatus::rejected);
    CHECK(answer->results[0].reason.rfind(reason, 0) == 0);
    CHECK(answer->results[1].status != loyalty::protocol::TxnStatus::rejected);
  };
  auto txn = nlohmann::json::parse(w.bodies[0]);
  txn["at"] = 5;
  refused_in_batch(txn, "invalid_txn: txns[0].at");
  txn = nlohmann::json::parse(w.bodies[0]);
  txn["quote"]["payable_minor"] = -1;
  refused_in_batch(txn, "invalid_txn: txns[0].quote");
  txn = nlohmann::json::parse(w.bodies[0]);
  txn["kind"] = "gift";
  refused_in_batch(txn, "invalid_txn: txns[0].kind");
  txn = nlohmann::json::parse(w.bodies[0]);
  txn.erase("txn_id");
  refused_in_batch(txn, "invalid_txn: txns[0].txn_id");
  refused_in_batch(nlohmann::json::array({1, 2}), "invalid_txn: txns[0]");
  // Text holding U+0000 (no till makes it; a database would cut it there), wherever it is: refused
  // for its own content alike on both storages, and the rest of its batch applied.
  txn = nlohmann::json::parse(w.bodies[0]);
  txn["receipt_id"] = std::string("R-1\0X", 5);
  refused_in_batch(txn, "invalid_txn: txns[0].receipt_id: must not contain the character U+0000");
  txn = nlohmann::json::parse(w.bodies[0]);
  txn["input"]["now"] = std::string("2026\0", 5);
  refused_in_batch(txn, "invalid_txn: txns[0].input.now: must not contain the character U+0000");
  CHECK(w.hq.query("SELECT COUNT(*) FROM refused") == 7);
  CHECK(w.hq.query("SELECT COUNT(*) FROM flags WHERE kind = 'invalid_txn' AND closed_us IS NULL") == 7);
  CHECK(w.hq.query("SELECT COUNT(*) FROM sales") == 1);  // the good sale, once
  const auto held = w.hq.cli({"held", "--json"});
  REQUIRE(held.exit_code == 0);
  CHECK(nlohmann::json::parse(held.out).size() == 7);
  // Sent again, each is answered as before and kept once.
  refused_in_batch(nlohmann::json::array({1, 2}), "invalid_txn: txns[0]");
  CHECK(w.hq.query("SELECT COUNT(*) FROM refused") == 7);
  w.expect_error(w.send("GET", "/v1/changes?after=-1"), 400, "invalid_query");
  w.expect_error(w.send("GET", "/v1/changes?after=x"), 400, "invalid_query");
  w.expect_error(w.send("GET", "/v1/changes?limit=0"), 400, "invalid_query");
  const auto big = w.send("GET", "/v1/changes?limit=1000000");  // more than the page: a page, not a refusal
  CHECK(big.status == 200);
  CHECK(loyalty::protocol::parse_changes(big.body).ok());
  w.expect_error(w.send("GET", "/v1/sales?store_id=S001"), 400, "invalid_query");
  w.expect_error(w.send("GET", "/v1/sales?store_id=S001&receipt_id=%zz"), 400, "invalid_query");
}

TEST_CASE("unknown paths get 404, wrong methods 405, oversized bodies 413", "[sync]") {
  World w;
  w.expect_error(w.send("GET", "/v2/batches"), 404, "not_found");
  w.expect_error(w.send("GET", "/"), 404, "not_found");
  w.expect_error(w.send("GET", "/v1/batches"), 405, "method_not_allowed");
  w.expect_error(w.send("POST", "/v1/changes", "{}"), 405, "method_not_allowed");
  w.expect_error(w.send("DELETE", "/v1/rules"), 405, "method_not_allowed");
  w.expect_error(w.send("POST", "/v1/batches", std::string(loyalty::protocol::limits::kBatchBytes + 1, ' ')), 413,
                 "too_large");
  w.expect_error(w.send("GET", "/v1/sales?store_id=S009&receipt_id=R-1"), 404, "unknown_sale");
  CHECK(w.send("GET", "/metrics").body.find("loyalty_hq_requests_total{code=\"4xx\"}") != std::string::npos);
}

TEST_CASE("duplicate deliveries: a replayed batch gets its first answer, transactions sent again are duplicates",
          "[sync]") {
  World w;
  const std::vector<std::string> sales(w.bodies.begin(), w.bodies.begin() + 3);
  const auto first = w.send("POST", "/v1/batches", batch("b-1", sales));
  REQUIRE(first.status == 200);
  const auto answer = loyalty::protocol::parse_batch_answer(first.body);
  REQUIRE(answer);
  REQUIRE(answer->results.size() == 3);
  for (const auto& r : answer->results) CHECK(r.status == loyalty::protocol::TxnStatus::applied);
  CHECK(answer->results[0].member_id == std::optional<std::string>("M-1"));
  CHECK(answer->results[2].member_id == std::nullopt);  // the anonymous sale
  const auto m1 = w.hq.member("M-1");

  // The same batch again: the same answer, word for word.
  const auto again = w.send("POST", "/v1/batches", batch("b-1", sales));
  CHECK(again.status == 200);
  CHECK(again.body == first.body);
  // The same transactions in another batch: duplicates, with the member's version that holds them.
  const auto dup = w.send("POST", "/v1/batches", batch("b-2", {sales[1], sales[0]}));
  REQUIRE(dup.status == 200);
  const auto dup_answer = loyalty::protocol::parse_batch_answer(dup.body);
  REQUIRE(dup_answer);
  CHECK(dup_answer->results[0].status == loyalty::protocol::TxnStatus::duplicate);
  CHECK(dup_answer->results[1].status == loyalty::protocol::TxnStatus::duplicate);
  CHECK(dup_answer->results[1].member_version == answer->results[0].member_version);
  CHECK(w.hq.member("M-1") == m1);
  CHECK(w.hq.query("SELECT COUNT(*) FROM sales") == 3);

  // A batch id used again for other transactions: 409, and nothing of that batch is applied.
  w.expect_error(w.send("POST", "/v1/batches", batch("b-1", {sales[0]})), 409, "batch_conflict");
  CHECK(w.hq.query("SELECT COUNT(*) FROM txns") == 3);
  // A transaction id with other content: refused for good, kept, and the first content stands.
  auto changed = nlohmann::json::parse(sales[0]);
  changed["quote"]["points_earned"] = 99999;
  const auto conflict = w.send("POST", "/v1/batches", batch("b-3", {w.bodies[2], changed.dump()}));
  REQUIRE(conflict.status == 200);
  const auto conflict_answer = loyalty::protocol::parse_batch_answer(conflict.body);
  REQUIRE(conflict_answer);
  CHECK(conflict_answer->results[0].status == loyalty::protocol::TxnStatus::duplicate);
  CHECK(conflict_answer->results[1].status == loyalty::protocol::TxnStatus::rejected);
  CHECK(conflict_answer->results[1].reason.rfind("txn_conflict:", 0) == 0);
  CHECK(w.hq.query("SELECT COUNT(*) FROM txns") == 3);
  CHECK(w.hq.query("SELECT COUNT(*) FROM refused WHERE reason LIKE 'txn_conflict:%'") == 1);
  CHECK(w.hq.member("M-1") == m1);
}

TEST_CASE("a transaction dated more than 24 hours ahead is rejected, and the rest of its batch applied", "[sync]") {
  World w;
  const auto res = w.send("POST", "/v1/batches", batch("b-1", {w.bodies[3], w.bodies[0]}));
  REQUIRE(res.status == 200);
  const auto answer = loyalty::protocol::parse_batch_answer(res.body);
  REQUIRE(answer);
  CHECK(answer->results[0].status == loyalty::protocol::TxnStatus::rejected);
  CHECK(answer->results[0].reason.rfind("future_timestamp:", 0) == 0);
  CHECK(answer->results[1].status == loyalty::protocol::TxnStatus::applied);
  CHECK(w.hq.query("SELECT COUNT(*) FROM sales") == 1);
  // Held: a plain retry leaves it; an operator who knows the till's clock was ahead accepts it, and it
  // is applied as dated when it arrived.
  const std::string id = nlohmann::json::parse(w.bodies[3])["txn_id"];
  CHECK(w.hq.cli({"held", "retry", id}).out.find("0 of 1 applied") != std::string::npos);
  const auto accepted = w.hq.cli({"held", "retry", id, "--accept"});
  INFO(accepted.out);
  CHECK(accepted.out.find("1 of 1 applied") != std::string::npos);
  CHECK(w.hq.query("SELECT COUNT(*) FROM sales") == 2);
  CHECK(w.hq.query("SELECT COUNT(*) FROM sales WHERE receipt_id = 'R-4' AND at_us < 4000000000000000") == 1);
  CHECK(w.hq.query("SELECT COUNT(*) FROM flags WHERE kind = 'future_timestamp' AND detail LIKE '%accepted%'") == 1);
}

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

TEST_CASE("past its connection limit headquarters closes new connections, and serves again below it", "[sync]") {
  SyncWorld w(nlohmann::json{{"limits", {{"connections", 2}}}});
  const TlsFiles tls{w.chain.dir() / "ca.pem", w.chain.dir() / "store-S001.pem", w.chain.dir() / "store-S001.key"};
  std::vector<int> idle;
  for (int i = 0; i < 2; ++i) {  // two clients that connect and say nothing
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(w.hq.port());
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    idle.push_back(fd);
  }
  // Once the server has accepted both, a third connection is closed at once.
  bool refused = false;
  for (int attempt = 0; attempt < 100 && !refused; ++attempt) {
    try {
      HttpsClient client(w.hq.url(), tls);
      client.request("GET", "/v1/health", "", "", kTimeout);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    } catch (const loyalty::sync::NetworkError&) {
      refused = true;
    }
  }
  CHECK(refused);
  for (int fd : idle) ::close(fd);
  bool served = false;
  for (int attempt = 0; attempt < 100 && !served; ++attempt) {
    try {
      HttpsClient client(w.hq.url(), tls);
      served = client.request("GET", "/v1/health", "", "", kTimeout).status == 200;
    } catch (const loyalty::sync::NetworkError&) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  CHECK(served);
  CHECK(w.hq.log().find("connection limit (2) reached") != std::string::npos);
}

TEST_CASE("a batch waiting for the database holds up no health check, changes page or handshake", "[sync]") {
  World w;
  const std::string body = batch("B-WAIT", {w.bodies[0], w.bodies[1]});
  std::atomic<bool> done{false};
  HttpResult answered;
  std::thread batch_thread;
  {
    const auto hold = w.hq.hold_writes();
    batch_thread = std::thread([&] {
      answered = w.send("POST", "/v1/batches", body);
      done = true;
    });
    // Long enough for the batch to reach the database and wait there.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    // Each on a connection of its own: a new handshake every time.
    CHECK(w.send("GET", "/v1/health").status == 200);
    const HttpResult changes = w.send("GET", "/v1/changes?after=0&limit=10");
    CHECK(changes.status == 200);
    CHECK(changes.body.find("\"members\"") != std::string::npos);
    CHECK(w.send("GET", "/v1/rules").status == 200);
    CHECK_FALSE(done);  // the batch still waits for the database
  }
  batch_thread.join();  // the database let go, the batch goes through
  INFO(answered.body);
  CHECK(answered.status == 200);
  CHECK(w.hq.query("SELECT COUNT(*) FROM sales") == 2);
}
