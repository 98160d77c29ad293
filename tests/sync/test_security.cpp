// No one in where they do not belong: plain connections, clients without a certificate of the
// chain's CA, expired ones, a store posting as another, a headquarters with the wrong host name.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <thread>

#include "hq_fixture.hpp"
#include "loyalty/protocol/batch.hpp"
#include "loyalty/sync/https_client.hpp"

using namespace loyalty::test;
using loyalty::sync::HttpsClient;
using loyalty::sync::NetworkError;
using loyalty::sync::TlsFiles;

namespace {

constexpr std::chrono::milliseconds kTimeout{5000};

struct World : SyncWorld {
  TlsFiles store(const std::string& name) const {
    return {chain.dir() / "ca.pem", chain.dir() / (name + ".pem"), chain.dir() / (name + ".key")};
  }
};

// A TCP connection to 127.0.0.1:port, its reads given up after `seconds`.
int loopback_socket(std::uint16_t port, int seconds) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  timeval tv{seconds, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

// Plain bytes to a TLS port: what comes back, until the server closes.
std::string plain_exchange(std::uint16_t port, const std::string& request) {
  const int fd = loopback_socket(port, 5);
  REQUIRE(::send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size()));
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return out;
}

void expect_refused(const std::string& url, const TlsFiles& tls) {
  HttpsClient client(url, tls);
  CHECK_THROWS_AS(client.request("GET", "/v1/health", "", "", kTimeout), NetworkError);
}

}  // namespace

TEST_CASE("headquarters refuses plain HTTP", "[sync]") {
  World w;
  const std::string answer = plain_exchange(w.hq.port(), "GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  CHECK(answer.rfind("HTTP/", 0) != 0);
  CHECK(answer.find("\"status\":\"ok\"") == std::string::npos);
  // and still serves the tills
  HttpsClient client(w.hq.url(), w.store("store-S001"));
  CHECK(client.request("GET", "/v1/health", "", "", kTimeout).status == 200);
}

TEST_CASE("headquarters refuses clients without a valid certificate of the chain's CA", "[sync]") {
  World w;
  SECTION("no client certificate") { expect_refused(w.hq.url(), {w.chain.dir() / "ca.pem", {}, {}}); }
  SECTION("a certificate of another CA") {
    TestCa other("another CA");
    other.issue("S001", {}, false).write(w.tmp.path(), "other-S001");
    expect_refused(w.hq.url(), {w.chain.dir() / "ca.pem", w.tmp.path() / "other-S001.pem", w.tmp.path() / "other-S001.key"});
  }
  SECTION("an expired certificate") {
    w.chain.ca().issue("S001", {}, false, -30, -1).write(w.tmp.path(), "expired-S001");
    expect_refused(w.hq.url(), {w.chain.dir() / "ca.pem", w.tmp.path() / "expired-S001.pem", w.tmp.path() / "expired-S001.key"});
  }
  SECTION("a certificate not valid yet") {
    w.chain.ca().issue("S001", {}, false, 2, 30).write(w.tmp.path(), "future-S001");
    expect_refused(w.hq.url(), {w.chain.dir() / "ca.pem", w.tmp.path() / "future-S001.pem", w.tmp.path() / "future-S001.key"});
  }
  SECTION("a till whose certificate headquarters refuses cannot sync, and sells on") {
    TestCa other("another CA");
    other.issue("S001", {}, false).write(w.tmp.path(), "other-S001");
    TestTill t(write_till_config(w.tmp.path() / "till", "S001", "T01", w.hq.url(), w.chain.dir(),
                                 {{"hq", {{"cert_file", (w.tmp.path() / "other-S001.pem").string()},
                                          {"key_file", (w.tmp.path() / "other-S001.key").string()}}}}));
    CHECK(sync(t) == LOY_E_NETWORK);
    const std::string rules = read_text(demo_rules_path());
    REQUIRE(loy_till_apply_rules(t, rules.data(), rules.size()) == LOY_OK);
    CHECK(sell(t, "R-1", "", 1000).status == LOY_OK);
    CHECK(status(t).outbox_depth == 1);
  }
  CHECK(w.hq.query("SELECT COUNT(*) FROM txns") == 0);
  // Still up for the tills that belong.
  HttpsClient client(w.hq.url(), w.store("store-S001"));
  CHECK(client.request("GET", "/v1/health", "", "", kTimeout).status == 200);
}

TEST_CASE("a transaction naming another store than its certificate's is stored and held, never applied, until its "
          "own store sends it or an operator accepts it",
          "[sync]") {
  World w;
  // Till T01 of store S002, configured with store S001's certificate: its sales name S002.
  const auto config = write_till_config(w.tmp.path() / "till", "S002", "T01", w.hq.url(), w.chain.dir(),
                                        {{"hq", {{"cert_file", (w.chain.dir() / "store-S001.pem").string()},
                                                 {"key_file", (w.chain.dir() / "store-S001.key").string()}}}});
  {
    TestTill t(config);
    REQUIRE(sync(t) == LOY_OK);  // reading is allowed to any store of the chain
    REQUIRE(sell(t, "R-1", "13800000001", 1000).status == LOY_OK);
    REQUIRE(sell(t, "R-2", "13800000002", 1000).status == LOY_OK);
  }
  const auto bodies = queued_bodies(w.tmp.path() / "till" / "data" / "till.db");
  REQUIRE(bodies.size() == 2);
  HttpsClient client(w.hq.url(), w.store("store-S001"));
  const auto res = client.request("POST", "/v1/batches", loyalty::protocol::batch_json("T01", "b-1", {bodies[0]}), "",
                                  kTimeout);
  REQUIRE(res.status == 200);
  const auto answer = loyalty::protocol::parse_batch_answer(res.body);
  REQUIRE(answer);
  CHECK(answer->results[0].status == loyalty::protocol::TxnStatus::rejected);
  CHECK(answer->results[0].reason.rfind("wrong_store:", 0) == 0);
  CHECK(w.hq.query("SELECT COUNT(*) FROM txns WHERE status = 'held' AND reason LIKE 'wrong_store:%'") == 1);
  CHECK(w.hq.query("SELECT COUNT(*) FROM sales") == 0);
  CHECK(w.hq.member("M-1")["points"] == 5000);

  // The till syncs: both are held (stored, flagged), the download goes on, nothing is applied; a
  // plain retry does not apply them either.
  {
    TestTill t(config);
    REQUIRE(sync(t) == LOY_OK);
    const auto st = status(t);
    CHECK(st.held == 2);
    CHECK(st.rejected == 0);
  }
  CHECK(w.hq.query("SELECT COUNT(*) FROM txns WHERE status = 'held'") == 2);
  CHECK(w.hq.query("SELECT COUNT(*) FROM flags WHERE kind = 'held' AND detail LIKE '%wrong_store%'") >= 1);
  const auto plain = w.hq.cli({"held", "retry", "--all"});
  CHECK(plain.out.find("0 of 2 applied") != std::string::npos);
  CHECK(w.hq.query("SELECT COUNT(*) FROM sales") == 0);

  // An operator who knows the till was moved accepts the first; the till, given its own store's
  // certificate, sends the second again, and it is applied.
  const auto accepted = w.hq.cli({"held", "retry", nlohmann::json::parse(bodies[0])["txn_id"].get<std::string>(), "--accept"});
  INFO(accepted.out);
  CHECK(accepted.out.find("1 of 1 applied") != std::string::npos);
  const auto fixed = write_till_config(w.tmp.path() / "till", "S002", "T01", w.hq.url(), w.chain.dir());
  TestTill t(fixed);
  loy_sync_result r{};
  REQUIRE(sync(t, &r) == LOY_OK);
  CHECK(r.applied + r.duplicates == 2);
  CHECK(status(t).held == 0);
  CHECK(w.hq.query("SELECT COUNT(*) FROM sales") == 2);
  CHECK(w.hq.query("SELECT COUNT(*) FROM txns WHERE status = 'held'") == 0);
}

TEST_CASE("a till refuses a headquarters whose certificate is for another host", "[sync]") {
  TempDir tmp;
  Chain chain(tmp.path() / "pki");
  chain.ca().issue("hq.example.com", {"DNS:hq.example.com"}, true).write(chain.dir(), "hq");
  HqProcess hq(tmp.path() / "hq", chain.dir());
  hq.publish_rules(demo_rules_path());
  hq.start();
  TestTill t(write_till_config(tmp.path() / "till", "S001", "T01", hq.url(), chain.dir()));
  CHECK(sync(t) == LOY_E_NETWORK);
  CHECK(std::string(loy_till_last_error(t)).find("TLS handshake") != std::string::npos);
  CHECK(std::string(status(t).rules_version).empty());  // nothing was taken from it
  CHECK(hq.query("SELECT COUNT(*) FROM txns") == 0);
}


namespace {

// A TCP connection to headquarters that never starts its TLS handshake.
struct Silent {
  explicit Silent(std::uint16_t port) : fd(loopback_socket(port, 15)) {}
  ~Silent() { ::close(fd); }
  Silent(const Silent&) = delete;
  Silent& operator=(const Silent&) = delete;
  // True when headquarters closed it (read gives end of file or a reset, not the receive timeout).
  bool closed_by_server() const {
    char b[64];
    const ssize_t n = ::recv(fd, b, sizeof b, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }
  int fd;
};

std::int64_t metric(const std::string& text, const std::string& name) {
  const auto at = text.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stoll(text.substr(at + name.size() + 2));
}

}  // namespace

TEST_CASE("a connection that does not finish its handshake in time is closed, and one address's cannot take "
          "every slot", "[sync]") {
  World w;
  w.hq.stop();
  w.hq.edit_config({{"limits", {{"handshake_seconds", 1}, {"handshakes_per_address", 4}}}});
  w.hq.start();
  const auto config = w.till("S001", "T01");
  {
    std::vector<std::unique_ptr<Silent>> held;
    for (int i = 0; i < 4; ++i) held.push_back(std::make_unique<Silent>(w.hq.port()));
    // A fifth from the same address, while the four wait in their handshake: closed at once.
    Silent fifth(w.hq.port());
    CHECK(fifth.closed_by_server());
    // The four are closed at their deadline.
    for (const auto& s : held) CHECK(s->closed_by_server());
  }
  // Then a till syncs as ever.
  TestTill t(config);
  CHECK(sync(t) == LOY_OK);
  HttpsClient client(w.hq.url(), w.store("store-S001"));
  const auto metrics = client.request("GET", "/metrics", "", "", kTimeout).body;
  INFO(metrics);
  CHECK(metric(metrics, "loyalty_hq_connections_refused_total") >= 1);
  CHECK(w.hq.log().find("connections in their TLS handshake") != std::string::npos);
}

TEST_CASE("a client that reconnects resumes its TLS session: no second full handshake", "[sync]") {
  World w;
  w.hq.stop();
  // Idle connections are closed after a second: every request below needs a connection again.
  w.hq.edit_config({{"limits", {{"timeout_seconds", 1}}}});
  w.hq.start();
  HttpsClient client(w.hq.url(), w.store("store-S001"));
  for (int i = 0; i < 3; ++i) {
    CHECK(client.request("GET", "/v1/health", "", "", kTimeout).status == 200);
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  }
  CHECK(client.handshakes().full == 1);
  CHECK(client.handshakes().resumed == 2);
  // A till does the same through its own sync: its second sync resumes.
  TestTill t(w.till("S001", "T01"));
  REQUIRE(sync(t) == LOY_OK);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  REQUIRE(sync(t) == LOY_OK);
  HttpsClient reader(w.hq.url(), w.store("store-S001"));
  const auto metrics = reader.request("GET", "/metrics", "", "", kTimeout).body;
  INFO(metrics);
  const auto resumed_at = metrics.find("loyalty_hq_tls_handshakes_total{kind=\"resumed\"} ");
  REQUIRE(resumed_at != std::string::npos);
  CHECK(std::stoll(metrics.substr(resumed_at + 48)) >= 3);
}

TEST_CASE("with a ticket key of its own, headquarters restarted (or another instance) resumes the session", "[sync]") {
  World w;
  HttpsClient client(w.hq.url(), w.store("store-S001"));
  // Without one, each process draws its keys: after a restart the ticket is worth nothing.
  CHECK(client.request("GET", "/v1/health", "", "", kTimeout).status == 200);
  w.hq.stop();
  w.hq.start();
  CHECK(client.request("GET", "/v1/health", "", "", kTimeout).status == 200);
  CHECK(client.handshakes().full == 2);
  CHECK(client.handshakes().resumed == 0);
  // With tls.ticket_key_file, every process holding it takes the others' tickets.
  write_text(w.chain.dir() / "ticket.key", std::string(160, 'a').replace(0, 8, "0123abcd") + "\n");
  w.hq.stop();
  w.hq.edit_config({{"tls", {{"ticket_key_file", (w.chain.dir() / "ticket.key").string()}}}});
  w.hq.start();
  CHECK(client.request("GET", "/v1/health", "", "", kTimeout).status == 200);  // full: a key it did not know
  w.hq.stop();
  w.hq.start();
  CHECK(client.request("GET", "/v1/health", "", "", kTimeout).status == 200);
  CHECK(client.handshakes().full == 3);
  CHECK(client.handshakes().resumed == 1);
  // A key file that is not 80 bytes of hexadecimal stops headquarters at start, saying so.
  w.hq.stop();
  write_text(w.chain.dir() / "ticket.key", "0123\n");
  const auto r = w.hq.cli({"serve"});
  CHECK(r.exit_code != 0);
  CHECK(r.out.find("ticket_key_file") != std::string::npos);
}
