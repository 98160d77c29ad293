// Available points = headquarters' balance + this till's unconfirmed effects, never counted twice.
#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>

#include "loyalty/store/store.hpp"
#include "support.hpp"

using namespace loyalty;

namespace {

protocol::ChangesDocument member_at(std::int64_t version, std::int64_t points, std::int64_t next) {
  protocol::MemberRecord m;
  m.member.id = "M-1";
  m.member.tier = "gold";
  m.member.points = points;
  m.version = version;
  m.masked_name = "W***";
  protocol::ChangesDocument doc;
  doc.members.push_back(m);
  doc.next = next;
  return doc;
}

std::int64_t sell(store::Store& s, const std::string& txn, std::int64_t delta, const std::string& member = "M-1") {
  store::NewSale sale;
  sale.receipt_id = "R-" + txn;
  sale.member_id = member;
  store::OutboxEntry e;
  e.txn_id = txn;
  e.kind = "sale";
  e.member_id = member;
  e.points_delta = delta;
  e.at_us = 1;
  e.body = "{}";
  return s.commit_sale(sale, e);
}

// The member's pending effects as a lookup reads them: against the version of its cached record.
store::PendingEffects pending_of(store::Store& s, const std::string& id) {
  const auto m = s.member_by_id(id);
  return s.pending(id, m ? m->version : 0);
}

std::int64_t available(store::Store& s) { return s.member_by_id("M-1")->member.points + pending_of(s, "M-1").points; }

}  // namespace

TEST_CASE("a sale is pending until the member record that includes it arrives, then counted once", "[till]") {
  test::TempDir dir;
  store::Store s((dir.path() / "till.db").string());
  s.apply_changes(member_at(1, 100, 1));
  const auto t1 = sell(s, "t1", 50);
  CHECK(pending_of(s, "M-1").points == 50);
  CHECK(pending_of(s, "M-1").sales == 1);
  CHECK(available(s) == 150);

  // Headquarters answers first: applied, in the member's version 2.
  s.acknowledge(t1, 2);
  CHECK(available(s) == 150);  // the cache is still at version 1
  // Version 2 arrives with the sale in its balance: nothing is counted twice.
  s.apply_changes(member_at(2, 150, 2));
  CHECK(pending_of(s, "M-1").points == 0);
  CHECK(pending_of(s, "M-1").sales == 0);
  CHECK(available(s) == 150);
}

TEST_CASE("a newer member record without the sale leaves the sale pending", "[till]") {
  test::TempDir dir;
  store::Store s((dir.path() / "till.db").string());
  s.apply_changes(member_at(1, 100, 1));
  const auto t1 = sell(s, "t1", 50);
  // Another store's sale moved the member to version 2 before this till synced.
  s.apply_changes(member_at(2, 130, 2));
  CHECK(available(s) == 180);
  // Headquarters applies this till's sale at version 3; until version 3 arrives it stays pending.
  s.acknowledge(t1, 3);
  CHECK(available(s) == 180);
  s.apply_changes(member_at(3, 180, 3));
  CHECK(available(s) == 180);
  CHECK(pending_of(s, "M-1").points == 0);
  // An older record arriving late changes nothing.
  s.apply_changes(member_at(2, 130, 4));
  CHECK(available(s) == 180);
}

TEST_CASE("a rejected entry never counts", "[till]") {
  test::TempDir dir;
  store::Store s((dir.path() / "till.db").string());
  s.apply_changes(member_at(1, 100, 1));
  const auto t1 = sell(s, "t1", 50);
  sell(s, "t2", -30);
  CHECK(available(s) == 120);
  s.reject(t1, "store S9 may not post for this member");
  CHECK(available(s) == 70);
  CHECK(s.status().outbox_depth == 1);
}

namespace {

// Refuses `PRAGMA synchronous=FULL` on the connection while it is installed: a restore that fails.
int refuse_full(void*, int action, const char* name, const char* value, const char*, const char*) {
  const bool full = action == SQLITE_PRAGMA && name && value && std::string_view(name) == "synchronous" &&
                    std::string_view(value) == "FULL";
  return full ? SQLITE_DENY : SQLITE_OK;
}

std::int64_t synchronous(store::Store& s) {
  store::Statement q(s.database(), "PRAGMA synchronous");
  REQUIRE(q.step());
  return q.integer(0);
}

}  // namespace

TEST_CASE("a sale is never committed without its fsync, even when synchronous=FULL could not be restored after a "
          "relaxed write",
          "[till]") {
  test::TempDir dir;
  store::Store s((dir.path() / "till.db").string());
  s.apply_changes(member_at(1, 100, 1));
  REQUIRE(synchronous(s) == 2);
  sqlite3_set_authorizer(s.database().handle(), refuse_full, nullptr);
  s.set_sync_error("headquarters unreachable");  // a relaxed write; putting FULL back fails
  CHECK(synchronous(s) == 1);
  CHECK_THROWS_AS(sell(s, "t1", 50), store::StorageError);  // refused rather than committed without fsync
  CHECK(pending_of(s, "M-1").points == 0);
  CHECK(s.to_send() == 0);
  sqlite3_set_authorizer(s.database().handle(), nullptr, nullptr);
  sell(s, "t2", 50);  // restores FULL first
  CHECK(synchronous(s) == 2);
  CHECK(pending_of(s, "M-1").points == 50);
}

TEST_CASE("a new generation of headquarters' feed sends again what it had answered, counting only what it takes",
          "[till]") {
  test::TempDir dir;
  store::Store s((dir.path() / "till.db").string());
  auto first = member_at(1, 100, 1);
  first.generation = "g-1";
  s.apply_changes(first, true);
  const auto t1 = sell(s, "t1", 50);
  const auto t2 = sell(s, "t2", 30);
  s.acknowledge(t1, 2);
  s.reject(t2, "invalid_txn: refused for good");
  auto second = member_at(2, 150, 2);
  second.generation = "g-1";
  s.apply_changes(second, true);
  REQUIRE(available(s) == 150);
  // A redemption applied at version 3, whose record has not arrived: it counts.
  const auto t3 = sell(s, "t3", -40);
  s.acknowledge(t3, 3);
  REQUIRE(available(s) == 110);
  REQUIRE(s.to_send() == 0);

  // Headquarters restored: a page of another generation. All three go up again. The cache's record
  // (of the old generation) holds t1 and not t3: t1 must not count again, t3 must still.
  protocol::ChangesDocument restored;
  restored.generation = "g-2";
  restored.next = 1;
  const auto applied = s.apply_changes(restored, true);
  CHECK(applied.new_generation);
  CHECK(s.to_send() == 3);
  CHECK(pending_of(s, "M-1").points == -40);
  CHECK(pending_of(s, "M-1").sales == 0);
  CHECK(available(s) == 110);
  // Headquarters answers them again: still only what they take, until the new generation's record.
  s.acknowledge(t1, 1);
  s.acknowledge(t3, 1);
  CHECK(available(s) == 110);
  s.apply_changes([] {
    auto d = member_at(1, 110, 2);
    d.generation = "g-2";
    return d;
  }(), true);
  CHECK(pending_of(s, "M-1").points == 0);
  CHECK(available(s) == 110);
}

TEST_CASE("an entry asked for again counts what it takes across a reopen, and nothing twice", "[till]") {
  test::TempDir dir;
  const std::string path = (dir.path() / "till.db").string();
  {
    store::Store s(path);
    auto first = member_at(5, 1000, 1);
    first.generation = "g-1";
    s.apply_changes(first, true);
    s.acknowledge(sell(s, "r1", -500), 10);  // applied at 10, the cache at 5
    s.acknowledge(sell(s, "e1", 200), 11);
    REQUIRE(available(s) == 700);
    protocol::ChangesDocument restored;
    restored.generation = "g-2";
    restored.next = 1;
    s.apply_changes(restored, true);
    REQUIRE(available(s) == 500);  // what the redemption took, never what the earning gave
  }
  store::Store s(path);
  CHECK(available(s) == 500);
  CHECK(s.to_send() == 2);
}

TEST_CASE("an entry headquarters files under another member counts for that one, also once the till reopens", "[till]") {
  test::TempDir dir;
  const auto path = (dir.path() / "till.db").string();
  {
    store::Store s(path);
    s.apply_changes(member_at(1, 100, 1));
    CHECK(pending_of(s, "M-1").points == 0);
    // A sale of a member enrolled at this till, merged at headquarters into M-1, which had no entry here.
    const auto t1 = sell(s, "t1", 40, "T-S001-00000000000000aa");
    CHECK(pending_of(s, "T-S001-00000000000000aa").points == 40);
    s.acknowledge(t1, 2, std::string("M-1"));
    CHECK(pending_of(s, "M-1").points == 40);  // until M-1's version 2 arrives
    CHECK(available(s) == 140);
  }
  store::Store reopened(path);
  CHECK(pending_of(reopened, "M-1").points == 40);
  CHECK(pending_of(reopened, "T-S001-00000000000000aa").points == 0);
  reopened.apply_changes(member_at(2, 140, 2));
  CHECK(pending_of(reopened, "M-1").points == 0);
  CHECK(available(reopened) == 140);
}

namespace {

// Pending effects as the outbox defines them, whatever keeps them (RULES.md: pending): every entry
// not refused for good, not yet answered or answered with a version the cache does not hold yet; one
// asked for again after a new generation counts only what it takes.
store::PendingEffects defined_pending(store::Store& s, const std::string& id, std::int64_t cache_version) {
  store::Statement q(s.database(),
                     "SELECT COALESCE(SUM(CASE WHEN COALESCE(a.again, 0) THEN MIN(points_delta, 0) ELSE points_delta END), 0), "
                     "COALESCE(SUM(kind = 'sale' AND NOT COALESCE(a.again, 0)), 0), "
                     "MAX(CASE WHEN kind = 'sale' AND NOT COALESCE(a.again, 0) THEN at_us END) "
                     "FROM outbox o LEFT JOIN answers a ON a.seq = o.seq "
                     "WHERE COALESCE(a.member_id, o.member_id) = ?1 AND COALESCE(a.state, 0) != 2 "
                     "AND (a.acked_version IS NULL OR a.acked_version > ?2)");
  q.bind(1, id).bind(2, cache_version);
  store::PendingEffects p;
  if (q.step()) {
    p.points = q.integer(0);
    p.sales = q.integer(1);
    p.last_sale_us = q.optional_integer(2);
  }
  return p;
}

protocol::ChangesDocument record_of(const std::string& id, std::int64_t version, std::int64_t next,
                                    std::optional<std::string> generation = std::nullopt) {
  protocol::ChangesDocument doc = member_at(version, 1000, next);
  doc.members[0].member.id = id;
  doc.generation = std::move(generation);
  return doc;
}

}  // namespace

TEST_CASE("pending effects and the entries to send are the outbox's definition after every step of seeded campaigns, "
          "across reopens",
          "[till][campaign]") {
  const std::string members[] = {"M-1", "M-2", "M-3", "T-S001-ab"};
  for (const unsigned seed : {1u, 2u, 3u, 4u, 5u, 6u}) {
    INFO("seed " << seed);
    test::TempDir dir;
    const std::string path = (dir.path() / "till.db").string();
    auto s = std::make_unique<store::Store>(path);
    std::mt19937 rng(seed);
    const auto pick = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };
    std::map<std::string, std::int64_t> version;  // what headquarters has of each member
    std::vector<std::int64_t> sent;                // entries a sync may answer
    std::vector<std::string> receipts;
    std::int64_t next = 1, txn = 0;
    std::string generation = "g1";
    for (int step = 0; step < 400; ++step) {
      const int op = pick(10);
      if (op <= 3) {  // a sale, a sale under a receipt already committed (refused, counted nowhere), a refund
        const std::string m = members[pick(4)];
        const std::int64_t at = 1000 + step;
        store::OutboxEntry e;
        e.txn_id = "t" + std::to_string(++txn);
        e.kind = op == 3 ? "refund" : "sale";
        e.member_id = m;
        e.points_delta = op == 3 ? -pick(50) : pick(200);
        e.at_us = at;
        e.body = "{}";
        e.created_us = at;
        if (op <= 1 || (op == 2 && receipts.empty())) {
          store::NewSale sale;
          sale.receipt_id = "R-" + std::to_string(txn);
          sale.member_id = m;
          sent.push_back(s->commit_sale(sale, e));
          receipts.push_back(sale.receipt_id);
        } else if (op == 2) {
          store::NewSale sale;
          sale.receipt_id = receipts[static_cast<std::size_t>(pick(static_cast<int>(receipts.size())))];
          sale.member_id = m;
          if (s->sale("", sale.receipt_id)) REQUIRE_THROWS_AS(s->commit_sale(sale, e), store::StorageError);
        } else if (!receipts.empty()) {
          const std::string receipt = receipts[static_cast<std::size_t>(pick(static_cast<int>(receipts.size())))];
          if (s->sale("", receipt))
            sent.push_back(s->commit_refund("F-" + std::to_string(txn), "", receipt, "[]", "{}", e));
        }
      } else if (op <= 5 && !sent.empty()) {  // a batch of answers
        std::vector<store::Answer> answers;
        for (int k = pick(4); k >= 0 && !sent.empty(); --k) {
          const std::size_t i = static_cast<std::size_t>(pick(static_cast<int>(sent.size())));
          store::Answer a;
          a.seq = sent[i];
          const int kind = pick(6);
          if (kind == 0) {
            a.rejected = true;
            a.reason = "invalid_txn: refused";
          } else if (kind == 1) {
            a.rejected = a.held = true;
            a.reason = "unknown_member: held";
          } else {
            const std::string m = kind == 2 ? members[pick(3)] : *s->entry_member(a.seq);
            if (kind == 2) a.member_id = m;  // filed under another member (a merge)
            a.member_version = ++version[m];
          }
          answers.push_back(a);
          if (!a.held) sent.erase(sent.begin() + static_cast<std::ptrdiff_t>(i));
        }
        s->record_answers(answers);
      } else if (op == 6) {  // headquarters' records arrive, some of them
        for (const auto& [m, v] : version)
          if (pick(2)) s->apply_changes(record_of(m, v, next++, generation), true);
      } else if (op == 7 && pick(8) == 0) {  // headquarters restored from a backup
        generation = "g" + std::to_string(step);
        version.clear();
        s->apply_changes(record_of(members[0], 1, next++, generation), true);
        version[members[0]] = 1;
        sent.clear();
        for (const auto& u : s->unsent(1000)) sent.push_back(u.seq);
      } else if (op == 8) {
        s->prune(1000 + step, 0, 50);
      } else {  // the till restarts
        s.reset();
        s = std::make_unique<store::Store>(path);
      }
      for (const std::string& m : members) {
        const auto cached = s->member_by_id(m);
        const std::int64_t v = cached ? cached->version : 0;
        const store::PendingEffects got = s->pending(m, v), want = defined_pending(*s, m, v);
        INFO("step " << step << " op " << op << " member " << m);
        REQUIRE(got.points == want.points);
        REQUIRE(got.sales == want.sales);
        REQUIRE(got.last_sale_us == want.last_sale_us);
      }
      // What the sync sends is every entry waiting or held, oldest first, whatever keeps them.
      std::vector<std::int64_t> to_send, want_to_send;
      for (const auto& u : s->unsent(100'000)) to_send.push_back(u.seq);
      store::Statement q(s->database(), "SELECT o.seq FROM outbox o LEFT JOIN answers a ON a.seq = o.seq "
                                        "WHERE COALESCE(a.state, 0) IN (0, 3) ORDER BY o.seq");
      while (q.step()) want_to_send.push_back(q.integer(0));
      INFO("step " << step << " op " << op);
      REQUIRE(to_send == want_to_send);
      REQUIRE(s->to_send() == static_cast<std::int64_t>(want_to_send.size()));
      store::Statement w(s->database(), "SELECT COUNT(*) FROM outbox o LEFT JOIN answers a ON a.seq = o.seq "
                                        "WHERE COALESCE(a.state, 0) = 0");
      REQUIRE((w.step() ? w.integer(0) : -1) == s->status().outbox_depth);
    }
  }
}

TEST_CASE("pruning never takes the newest entry, so no seq is given twice", "[till]") {
  test::TempDir dir;
  store::Store s((dir.path() / "till.db").string());
  s.apply_changes(member_at(9, 100, 1));
  const auto t1 = sell(s, "p1", 10);
  const auto t2 = sell(s, "p2", 20);
  s.acknowledge(t1, 1);
  s.acknowledge(t2, 2);
  CHECK(s.prune(1'000'000, 0, 100) == 1);  // both applied, old and included: only the older goes
  CHECK_FALSE(s.entry_member(t1));
  CHECK(s.entry_member(t2));
  CHECK(sell(s, "p3", 5) > t2);
}
