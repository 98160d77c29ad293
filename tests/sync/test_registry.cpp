// Which stores headquarters lets in: the stores registry (`loyalty-hq stores add|revoke|list`), a
// certificate revoked by the chain's CRL (a stolen till), and each store's rate, which answers 429
// with a Retry-After that the till honours.
#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

#include "hq_fixture.hpp"
#include "loyalty/sync/https_client.hpp"

using namespace loyalty::test;
using nlohmann::json;

namespace {

constexpr std::chrono::milliseconds kTimeout{5000};

void ok(const CliResult& r) {
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
}

std::string last_error(loy_till* t) { return loy_till_last_error(t); }

// Syncs until the result is `want` (a revocation reaches headquarters' copy of the registry within
// seconds), at most 10 s.
loy_status sync_until(loy_till* t, loy_status want) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  loy_status st = sync(t);
  while (st != want && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    st = sync(t);
  }
  return st;
}

std::int64_t requests_4xx(SyncWorld& w) {
  loyalty::sync::HttpsClient c(w.hq.url(), {w.chain.dir() / "ca.pem", w.chain.dir() / "store-S001.pem",
                                            w.chain.dir() / "store-S001.key"});
  const auto body = c.request("GET", "/metrics", "", "", kTimeout).body;
  const std::string key = "loyalty_hq_requests_total{code=\"4xx\"} ";
  const auto at = body.find(key);
  REQUIRE(at != std::string::npos);
  return std::stoll(body.substr(at + key.size()));
}

}  // namespace

TEST_CASE("the stores registry: once it holds a store, only registered stores and certificates get in", "[sync]") {
  SyncWorld w;
  TestTill a(w.till("S001", "T01"));
  TestTill b(w.till("S002", "T01"));
  // Empty, the registry is not in force: every store of the chain's CA syncs.
  REQUIRE(sync(a) == LOY_OK);
  REQUIRE(sync(b) == LOY_OK);
  const auto listed = w.hq.cli({"stores", "list"});
  CHECK(listed.out.find("registry is empty") != std::string::npos);

  const auto added = w.hq.cli({"stores", "add", "S001"});
  ok(added);
  CHECK(added.out.find("in force from now on") != std::string::npos);
  CHECK(sync_until(b, LOY_E_NETWORK) == LOY_E_NETWORK);
  CHECK(last_error(b).find("not in headquarters' stores registry") != std::string::npos);
  CHECK(sync(a) == LOY_OK);
  CHECK(w.hq.log().find("refused store S002") != std::string::npos);
  // Its sales wait at the till, and go once the store is registered.
  REQUIRE(sell(b, "R-1", "13800000002", 5000).status == LOY_OK);
  ok(w.hq.cli({"stores", "add", "S002"}));
  REQUIRE(sync_until(b, LOY_OK) == LOY_OK);
  CHECK(w.hq.query("SELECT COUNT(*) FROM sales WHERE store_id = 'S002'") == 1);

  // A till of S001 is stolen: its certificate is revoked, and a new one issued and pinned.
  const auto old_cert = w.chain.dir() / "store-S001.pem";
  const auto revoked = w.hq.cli({"stores", "revoke", "S001", "--cert", old_cert.string()});
  ok(revoked);
  CHECK(sync_until(a, LOY_E_NETWORK) == LOY_E_NETWORK);  // refused on the connection it already had
  CHECK(last_error(a).find("revoked") != std::string::npos);
  w.chain.ca().issue("S001", {}, false).write(w.chain.dir(), "store-S001-new");
  ok(w.hq.cli({"stores", "add", "S001", "--cert", (w.chain.dir() / "store-S001-new.pem").string()}));
  const auto renewed = w.till("S001", "T02", json{{"hq", {{"cert_file", (w.chain.dir() / "store-S001-new.pem").string()},
                                                          {"key_file", (w.chain.dir() / "store-S001-new.key").string()}}}});
  TestTill fresh(renewed);
  CHECK(sync_until(fresh, LOY_OK) == LOY_OK);
  // With a certificate pinned, another of S001 that the CA issued is not let in either.
  w.chain.ca().issue("S001", {}, false).write(w.chain.dir(), "store-S001-other");
  TestTill other(w.till("S001", "T03", json{{"hq", {{"cert_file", (w.chain.dir() / "store-S001-other.pem").string()},
                                                     {"key_file", (w.chain.dir() / "store-S001-other.key").string()}}}}));
  CHECK(sync_until(other, LOY_E_NETWORK) == LOY_E_NETWORK);
  CHECK(last_error(other).find("not one the stores registry holds") != std::string::npos);
  CHECK(sync(a) == LOY_E_NETWORK);

  // The whole store revoked.
  ok(w.hq.cli({"stores", "revoke", "S002"}));
  CHECK(sync_until(b, LOY_E_NETWORK) == LOY_E_NETWORK);
  CHECK(last_error(b).find("revoked") != std::string::npos);
  const auto rows = json::parse(w.hq.cli({"stores", "list", "--json"}).out);
  CHECK(rows.size() == 4);  // S001, its old certificate (revoked), its new one; S002 (revoked)
  // Revoking what is revoked already is an error that says so.
  CHECK(w.hq.cli({"stores", "revoke", "S002"}).exit_code != 0);
  // Registered again, the store is let in again.
  const auto again = w.hq.cli({"stores", "add", "S002"});
  ok(again);
  CHECK(again.out.find("S002 registered") != std::string::npos);
  CHECK(sync_until(b, LOY_OK) == LOY_OK);
  CHECK(w.hq.cli({"stores", "add", "S 3"}).exit_code != 0);
  CHECK(w.hq.cli({"stores", "add", "S003", "--fingerprint", "abc"}).exit_code != 0);
}

TEST_CASE("a certificate the chain's CRL revokes is refused; the others are let in", "[sync]") {
  SyncWorld w;
  TestTill b(w.till("S002", "T01"));
  TestTill a(w.till("S001", "T01"));
  REQUIRE(sync(b) == LOY_OK);  // a session to resume from, made before the revocation
  w.hq.stop();
  write_text(w.chain.dir() / "crl.pem", w.chain.ca().crl_pem({read_text(w.chain.dir() / "store-S002.pem")}));
  w.hq.edit_config({{"tls", {{"crl_file", (w.chain.dir() / "crl.pem").string()}}}});
  w.hq.start();
  CHECK(sync(b) == LOY_E_NETWORK);
  CHECK(sync(a) == LOY_OK);
  CHECK(w.hq.log().find("its certificate is revoked by tls.crl_file") != std::string::npos);
  // A CRL file that holds no CRL stops headquarters at start, saying so.
  w.hq.stop();
  write_text(w.chain.dir() / "crl.pem", "not a CRL\n");
  const auto r = w.hq.cli({"serve", "--port-file", (w.tmp.path() / "p").string()});
  CHECK(r.exit_code != 0);
  CHECK(r.out.find("crl_file") != std::string::npos);
}

TEST_CASE("a store past its rate gets 429 with Retry-After, and its till waits that long before asking again",
          "[sync]") {
  SyncWorld w;
  w.hq.stop();
  w.hq.edit_config({{"limits", {{"store_requests_per_second", 1}, {"store_burst", 5}}}});
  w.hq.start();
  TestTill t(w.till("S001", "T01"));
  REQUIRE(sync(t) == LOY_OK);  // the rules and a changes page
  REQUIRE(sell(t, "R-1", "13800000001", 5000).status == LOY_OK);
  REQUIRE(sync(t) == LOY_OK);  // a batch, the rules and a changes page: the burst is spent
  REQUIRE(sell(t, "R-2", "13800000001", 5000).status == LOY_OK);
  const std::int64_t before = requests_4xx(w);
  CHECK(sync(t) == LOY_E_NETWORK);
  CHECK(last_error(t).find("429") != std::string::npos);
  const std::int64_t refused = requests_4xx(w);
  CHECK(refused >= before + 1);
  // Asked again at once, the till does not send: headquarters counts no new refusal.
  CHECK(sync(t) == LOY_E_NETWORK);
  CHECK(last_error(t).find("wait") != std::string::npos);
  CHECK(requests_4xx(w) == refused);
  // After the wait, everything goes.
  CHECK(sync_until(t, LOY_OK) == LOY_OK);
  CHECK(status(t).outbox_depth == 0);
  CHECK(w.hq.query("SELECT COUNT(*) FROM sales") == 2);
}
