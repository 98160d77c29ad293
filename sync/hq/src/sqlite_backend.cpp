// The embedded backend: one SQLite file holding the ledger of applied transactions, the members and
// their codes, the changes feed, the published rule sets and each store's sync state. Only SQL, the
// schema's migrations and the write transactions: what the ledger does is ledger.cpp's and ingest.cpp's.
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <thread>
#include <utility>

#include "ledger_storage.hpp"
#include "loyalty/engine/rules.hpp"
#include "loyalty/hq/storage.hpp"
#include "loyalty/protocol/batch.hpp"
#include "loyalty/store/database.hpp"
#include "policy.hpp"
#include "port.hpp"

namespace loyalty::hq {
namespace {

using store::Database;
using store::Statement;
using store::Transaction;
using namespace detail;

constexpr std::int64_t kSchemaVersion = 4;

// Schema 1. Instants are UTC microseconds with the offset they were written in. Every change of a
// member or coupon takes the next number of the changes feed (meta.feed_seq) as its `seq`. Tables with
// large rows (transaction bodies, batch answers) keep a rowid: SQLite stores those better than
// WITHOUT ROWID tables do.
const char* const kSchema1 = R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE members(
  id TEXT PRIMARY KEY,
  version INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  name TEXT NOT NULL,
  phone TEXT,
  masked_name TEXT NOT NULL,
  tier TEXT NOT NULL,
  birthday INTEGER,
  purchases INTEGER NOT NULL DEFAULT 0,
  last_purchase_us INTEGER,
  last_purchase_off INTEGER,
  points INTEGER NOT NULL DEFAULT 0,
  created_us INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX members_seq ON members(seq);
CREATE TABLE member_codes(hash BLOB PRIMARY KEY, member_id TEXT NOT NULL, kind TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX member_codes_member ON member_codes(member_id);
CREATE TABLE aliases(alias TEXT PRIMARY KEY, member_id TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX aliases_member ON aliases(member_id);
CREATE TABLE coupons(
  code TEXT PRIMARY KEY,
  version INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  member_id TEXT,
  definition TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX coupons_seq ON coupons(seq);
CREATE TABLE txns(
  rowid INTEGER PRIMARY KEY,
  txn_id TEXT NOT NULL UNIQUE,
  store_id TEXT NOT NULL,
  till_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  digest TEXT NOT NULL,
  status TEXT NOT NULL,
  reason TEXT,
  member_id TEXT,
  member_version INTEGER,
  at_us INTEGER NOT NULL,
  received_us INTEGER NOT NULL,
  body TEXT NOT NULL);
CREATE TABLE sales(
  txn_id TEXT PRIMARY KEY,
  store_id TEXT NOT NULL,
  receipt_id TEXT NOT NULL,
  member_id TEXT,
  payable_minor INTEGER NOT NULL,
  points_earned INTEGER NOT NULL,
  points_redeemed INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX sales_receipt ON sales(store_id, receipt_id);
CREATE TABLE refunds(
  txn_id TEXT PRIMARY KEY,
  sale_txn_id TEXT NOT NULL,
  refund_id TEXT NOT NULL,
  amount_minor INTEGER NOT NULL,
  points_taken_back INTEGER NOT NULL,
  points_given_back INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX refunds_sale ON refunds(sale_txn_id);
CREATE TABLE batches(
  rowid INTEGER PRIMARY KEY,
  store_id TEXT NOT NULL,
  batch_id TEXT NOT NULL,
  digest TEXT NOT NULL,
  answer TEXT NOT NULL,
  received_us INTEGER NOT NULL,
  UNIQUE(store_id, batch_id));
CREATE TABLE stores(
  store_id TEXT PRIMARY KEY,
  last_batch_us INTEGER NOT NULL,
  txns INTEGER NOT NULL,
  last_txn_lag_us INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE rules(
  rowid INTEGER PRIMARY KEY,
  version TEXT NOT NULL UNIQUE,
  json TEXT NOT NULL,
  published_us INTEGER NOT NULL);
)sql";

// Schema 2: the ledger. Sales are kept by their row in txns (appended, not scattered by random ids)
// with the figures the ledger counts. Points in lots (a sale's points expire together; `left` is what is still
// unspent, `expired` what expired), each member's tier evaluation (grace, the window's spend and when
// it was computed), tier history, coupon use, flags, and each till's last report.
const char* const kSchema2 = R"sql(
ALTER TABLE members ADD COLUMN grace_until_us INTEGER;
ALTER TABLE members ADD COLUMN spend_minor INTEGER NOT NULL DEFAULT 0;
ALTER TABLE members ADD COLUMN spend_at_us INTEGER NOT NULL DEFAULT 0;
CREATE TABLE sales_v2(
  rowid INTEGER PRIMARY KEY,
  txn_id TEXT NOT NULL,
  store_id TEXT NOT NULL,
  receipt_id TEXT NOT NULL,
  member_id TEXT,
  at_us INTEGER NOT NULL,
  payable_minor INTEGER NOT NULL,
  spend_sold_minor INTEGER NOT NULL,
  spend_minor INTEGER NOT NULL,
  refunded_minor INTEGER NOT NULL DEFAULT 0,
  points_earned INTEGER NOT NULL,
  points_redeemed INTEGER NOT NULL,
  till_points_earned INTEGER NOT NULL,
  till_taken_back INTEGER NOT NULL DEFAULT 0,
  points_taken_back INTEGER NOT NULL DEFAULT 0,
  points_given_back INTEGER NOT NULL DEFAULT 0,
  rules_version TEXT NOT NULL);
INSERT INTO sales_v2(rowid, txn_id, store_id, receipt_id, member_id, at_us, payable_minor, spend_sold_minor, spend_minor,
                     refunded_minor, points_earned, points_redeemed, till_points_earned, till_taken_back,
                     points_taken_back, points_given_back, rules_version)
  SELECT t.rowid, s.txn_id, s.store_id, s.receipt_id, s.member_id, t.at_us, s.payable_minor, s.payable_minor,
         s.payable_minor - (SELECT COALESCE(SUM(amount_minor), 0) FROM refunds r WHERE r.sale_txn_id = s.txn_id),
         (SELECT COALESCE(SUM(amount_minor), 0) FROM refunds r WHERE r.sale_txn_id = s.txn_id),
         s.points_earned, s.points_redeemed, s.points_earned,
         (SELECT COALESCE(SUM(points_taken_back), 0) FROM refunds r WHERE r.sale_txn_id = s.txn_id),
         (SELECT COALESCE(SUM(points_taken_back), 0) FROM refunds r WHERE r.sale_txn_id = s.txn_id),
         (SELECT COALESCE(SUM(points_given_back), 0) FROM refunds r WHERE r.sale_txn_id = s.txn_id),
         COALESCE(json_extract(t.body, '$.rules_version'), '')
  FROM sales s JOIN txns t ON t.txn_id = s.txn_id;
DROP TABLE sales;
ALTER TABLE sales_v2 RENAME TO sales;
CREATE INDEX sales_receipt ON sales(store_id, receipt_id);
CREATE INDEX sales_member ON sales(member_id, at_us, spend_minor) WHERE member_id IS NOT NULL;
ALTER TABLE coupons ADD COLUMN issued_us INTEGER;
ALTER TABLE coupons ADD COLUMN used_txn_id TEXT;
ALTER TABLE coupons ADD COLUMN used_store TEXT;
ALTER TABLE coupons ADD COLUMN used_at_us INTEGER;
CREATE INDEX coupons_member ON coupons(member_id);
CREATE TABLE lots(
  id INTEGER PRIMARY KEY,
  member_id TEXT NOT NULL,
  txn_id TEXT,
  earned_us INTEGER NOT NULL,
  expires_us INTEGER NOT NULL,
  points INTEGER NOT NULL,
  left INTEGER NOT NULL,
  expired INTEGER NOT NULL DEFAULT 0);
CREATE INDEX lots_member ON lots(member_id, expires_us, id);
CREATE INDEX lots_due ON lots(expires_us, id) WHERE left > 0;
CREATE TABLE tier_changes(
  id INTEGER PRIMARY KEY,
  member_id TEXT NOT NULL,
  at_us INTEGER NOT NULL,
  from_tier TEXT NOT NULL,
  to_tier TEXT NOT NULL,
  spend_minor INTEGER NOT NULL,
  reason TEXT NOT NULL);
CREATE INDEX tier_changes_member ON tier_changes(member_id, at_us, id);
CREATE TABLE flags(
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,
  raised_us INTEGER NOT NULL,
  store_id TEXT,
  till_id TEXT,
  member_id TEXT,
  txn_id TEXT,
  detail TEXT NOT NULL,
  closed_us INTEGER);
CREATE INDEX flags_open ON flags(id) WHERE closed_us IS NULL;
CREATE INDEX flags_member ON flags(member_id, id);
CREATE INDEX flags_store_open ON flags(store_id) WHERE closed_us IS NULL;
CREATE TABLE tills(
  store_id TEXT NOT NULL,
  till_id TEXT NOT NULL,
  last_batch_us INTEGER NOT NULL,
  backlog INTEGER,
  skew_us INTEGER,
  PRIMARY KEY(store_id, till_id)) WITHOUT ROWID;
)sql";

// Schema 3: nothing sent is forgotten. A transaction not applied stays in txns, held (its cause can
// go: applied when it is sent again or retried) or rejected (for its own content), with when it was
// first held. One that cannot take a row there (no valid id, or an id that names other content) is
// kept in `refused` by its digest. A sale or refund a restored till committed again under a new
// txn_id is a `duplicate` of the one applied (duplicate_of).
const char* const kSchema3 = R"sql(
ALTER TABLE txns ADD COLUMN held_us INTEGER;
ALTER TABLE txns ADD COLUMN duplicate_of TEXT;
ALTER TABLE tills ADD COLUMN sent_us INTEGER;
ALTER TABLE txns ADD COLUMN waits_for TEXT;
CREATE INDEX txns_waiting ON txns(waits_for) WHERE status = 'held';
UPDATE txns SET held_us = received_us WHERE status != 'applied';
CREATE INDEX txns_held ON txns(held_us) WHERE held_us IS NOT NULL;
CREATE TABLE refused(
  rowid INTEGER PRIMARY KEY,
  store_id TEXT NOT NULL,
  till_id TEXT NOT NULL,
  txn_id TEXT NOT NULL,
  digest TEXT NOT NULL UNIQUE,
  reason TEXT NOT NULL,
  body TEXT NOT NULL,
  received_us INTEGER NOT NULL);
)sql";

// Schema 4: the stores registry. A store registered (fingerprint ''), or a certificate of it pinned.
const char* const kSchema4 = R"sql(
CREATE TABLE registry(
  store_id TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  added_us INTEGER NOT NULL,
  revoked_us INTEGER,
  PRIMARY KEY(store_id, fingerprint)) WITHOUT ROWID;
)sql";
using store::month_day_from_int;
using store::month_day_to_int;

// Copies the write-ahead log into the database on a connection and thread of its own, so that a
// batch's commit never waits for a checkpoint. Passive checkpoints never block the writer; a log past
// kTruncateFrames is truncated (waiting briefly for the writer) so that it cannot grow without bound.
class Checkpointer {
 public:
  explicit Checkpointer(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
      sqlite3_close(db_);
      throw store::StorageError("cannot open " + path + " for checkpoints");
    }
    sqlite3_busy_timeout(db_, 5000);
    thread_ = std::thread([this] { run(); });
  }
  ~Checkpointer() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
    sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    sqlite3_close(db_);
  }
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;
  void poke() {
    {
      std::lock_guard lock(mu_);
      poked_ = true;
    }
    wake_.notify_one();
  }

 private:
  static constexpr int kTruncateFrames = 50'000;  // about 200 MB of log
  void run() {
    std::unique_lock lock(mu_);
    while (!stop_) {
      wake_.wait_for(lock, std::chrono::seconds(1), [&] { return stop_ || poked_; });
      if (stop_) break;
      poked_ = false;
      lock.unlock();
      int frames = 0, copied = 0;
      sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, &frames, &copied);
      if (frames > kTruncateFrames) sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
      lock.lock();
    }
  }

  sqlite3* db_ = nullptr;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false, poked_ = false;
  std::thread thread_;
};

// The changes feed's high-water mark, kept beside the database ("hq.db.feed": generation and last
// number). A database put back from a backup has a feed that ends before the mark: headquarters then
// knows it went back and takes a new generation, so that every till starts its cursor over and sends
// again what it had sent since. Written after each commit that moved the feed, without fsync: a mark
// that lags behind can only miss a restore, which the tills' cursors then reveal (Storage::changes).
class FeedMark {
 public:
  explicit FeedMark(std::string path) : path_(std::move(path)) {}
  std::optional<std::pair<std::string, std::int64_t>> read() const {
    std::ifstream in(path_);
    std::string generation;
    std::int64_t seq = -1;
    if (!(in >> generation >> seq) || seq < 0) return std::nullopt;
    return std::make_pair(generation, seq);
  }
  void note(const std::string& generation, std::int64_t seq, bool force = false) {
    std::lock_guard lock(mu_);
    if (!force && generation == generation_ && seq <= seq_) return;
    generation_ = generation;
    seq_ = seq;
    const std::string tmp = path_ + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << generation << ' ' << seq << '\n';
      if (!out) return;  // a mark not written misses a restore at worst
    }
    std::rename(tmp.c_str(), path_.c_str());
  }

 private:
  std::string path_;
  std::mutex mu_;
  std::string generation_;
  std::int64_t seq_ = -1;
};

// BEGIN ... COMMIT around reads: what they return comes from one moment of the database.
class ReadTransaction {
 public:
  explicit ReadTransaction(Database& db) : db_(db) { db_.exec("BEGIN"); }
  ~ReadTransaction() {
    try {
      db_.exec("COMMIT");
    } catch (...) {  // a read transaction has nothing to lose
    }
  }
  ReadTransaction(const ReadTransaction&) = delete;
  ReadTransaction& operator=(const ReadTransaction&) = delete;

 private:
  Database& db_;
};

constexpr const char* kHeldColumns =
    "rowid, txn_id, store_id, till_id, kind, status, COALESCE(reason, ''), received_us, at_us, held_us, body";
constexpr const char* kRefusedColumns = "rowid, txn_id, store_id, till_id, reason, received_us, body";

HeldRow held_row(Statement& s, bool with_body) {
  HeldRow h;
  h.id = std::to_string(s.integer(0));
  h.txn_id = s.text(1);
  h.store_id = s.text(2);
  h.till_id = s.text(3);
  h.kind = s.text(4);
  h.status = s.text(5);
  h.reason = s.text(6);
  h.final = h.status == "rejected";
  h.received_us = s.integer(7);
  h.at_us = s.integer(8);
  h.held_us = s.optional_integer(9);
  if (with_body) h.body = s.text(10);
  return h;
}

HeldRow refused_row(Statement& s, bool with_body) {
  HeldRow h;
  h.id = "r" + std::to_string(s.integer(0));
  h.txn_id = s.text(1);
  h.store_id = s.text(2);
  h.till_id = s.text(3);
  h.kind = "invalid";
  h.status = "rejected";
  h.reason = s.text(4);
  h.final = true;
  h.received_us = s.integer(5);
  h.held_us = h.received_us;
  if (with_body) h.body = s.text(6);
  return h;
}

FlagRow flag_row(Statement& s) {
  return FlagRow{s.integer(0), s.text(1), s.integer(2), s.optional_text(3).value_or(""), s.optional_text(4).value_or(""),
                 s.optional_text(6).value_or(""), s.optional_text(5), s.text(7), s.optional_integer(8)};
}

std::optional<std::int64_t> birthday_int(const std::optional<engine::MonthDay>& b) {
  if (!b) return std::nullopt;
  return month_day_to_int(*b);
}

// A statement stepped once for its first row; reset when this goes out of scope.
class Row {
 public:
  explicit Row(Statement& s) : s_(s), found_(s.step()) {}
  ~Row() { s_.reset(); }
  Row(const Row&) = delete;
  Row& operator=(const Row&) = delete;
  explicit operator bool() const { return found_; }
  Statement* operator->() const { return &s_; }

 private:
  Statement& s_;
  bool found_;
};

// The port over one connection. Every write runs under the backend's lock, in BEGIN IMMEDIATE: one
// writer at a time, so the feed's numbers are given in the order of commits.
class SqliteTx final : public Tx {
 public:
  explicit SqliteTx(Database& db)
      : db_(db),
        get_meta_(db, "SELECT value FROM meta WHERE key = ?1"),
        set_meta_(db, "INSERT INTO meta(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value"),
        rules_json_(db, "SELECT json FROM rules WHERE version = ?1"),
        current_rules_(db, "SELECT version, json FROM rules ORDER BY rowid DESC LIMIT 1"),
        current_version_(db, "SELECT version FROM rules ORDER BY rowid DESC LIMIT 1"),
        resolve_(db, "SELECT COALESCE((SELECT member_id FROM aliases WHERE alias = ?1), ?1)"),
        member_exists_(db, "SELECT 1 FROM members WHERE id = ?1"),
        member_version_(db, "SELECT version FROM members WHERE id = ?1"),
        load_(db, "SELECT points, tier, grace_until_us, spend_minor, spend_at_us, birthday FROM members WHERE id = ?1"),
        save_(db, "UPDATE members SET points = ?2, tier = ?3, grace_until_us = ?4, spend_minor = ?5, spend_at_us = ?6, "
                  "version = version + 1, seq = ?7 WHERE id = ?1 RETURNING version"),
        note_purchase_(db, "UPDATE members SET purchases = purchases + 1, "
                           "last_purchase_us = CASE WHEN last_purchase_us IS NULL OR last_purchase_us < ?2 "
                           "THEN ?2 ELSE last_purchase_us END, "
                           "last_purchase_off = CASE WHEN last_purchase_us IS NULL OR last_purchase_us < ?2 "
                           "THEN ?3 ELSE last_purchase_off END WHERE id = ?1"),
        insert_member_(db, "INSERT INTO members(id, version, seq, name, phone, masked_name, tier, birthday, "
                           "purchases, points, created_us) VALUES(?1, 1, ?2, ?3, ?4, ?5, ?6, ?7, 0, 0, ?8)"),
        merge_member_(db, "UPDATE members SET name = CASE WHEN name = '' THEN ?2 ELSE name END, "
                          "masked_name = CASE WHEN name = '' THEN ?3 ELSE masked_name END, "
                          "phone = COALESCE(phone, ?4), birthday = COALESCE(birthday, ?5), "
                          "version = version + 1, seq = ?6 WHERE id = ?1 RETURNING version"),
        member_by_code_(db, "SELECT member_id FROM member_codes WHERE hash = ?1"),
        insert_code_(db, "INSERT INTO member_codes(hash, member_id, kind) VALUES(?1, ?2, ?3)"),
        insert_alias_(db, "INSERT INTO aliases(alias, member_id) VALUES(?1, ?2)"),
        open_lots_(db, "SELECT id, left FROM lots WHERE member_id = ?1 AND left > 0 ORDER BY expires_us, id"),
        take_lot_(db, "UPDATE lots SET left = left - ?2 WHERE id = ?1"),
        insert_lot_(db, "INSERT INTO lots(member_id, txn_id, earned_us, expires_us, points, left) "
                        "VALUES(?1, ?2, ?3, ?4, ?5, ?6)"),
        due_lots_(db, "SELECT id, member_id, left FROM lots WHERE left > 0 AND expires_us <= ?1 "
                      "ORDER BY expires_us, id LIMIT ?2"),
        expire_lot_(db, "UPDATE lots SET expired = left, left = 0 WHERE id = ?1"),
        expire_points_(db, "UPDATE members SET points = points - ?2, version = version + 1, seq = ?3 WHERE id = ?1"),
        next_expiry_(db, "SELECT expires_us, TOTAL(left) FROM lots WHERE member_id = ?1 AND left > 0 "
                         "GROUP BY expires_us ORDER BY expires_us LIMIT 1"),
        spend_(db, "SELECT TOTAL(spend_minor) FROM sales WHERE member_id = ?1 AND at_us > ?2 AND at_us <= ?3"),
        history_(db, "SELECT COUNT(*), MAX(at_us) FROM sales WHERE member_id = ?1 AND at_us < ?2"),
        insert_sale_(db, "INSERT INTO sales(txn_id, store_id, receipt_id, member_id, payable_minor, "
                         "points_earned, points_redeemed, at_us, till_points_earned, rules_version, spend_minor, rowid, "
                         "spend_sold_minor) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?11)"),
        find_sale_(db, "SELECT s.member_id, s.payable_minor, s.refunded_minor, s.points_earned, "
                       "s.till_points_earned, s.till_taken_back, s.points_redeemed, s.points_given_back, s.at_us, "
                       "s.rules_version, s.points_taken_back, s.rowid, s.spend_sold_minor, "
                       "(SELECT received_us FROM txns t WHERE t.rowid = s.rowid) FROM sales s "
                       "WHERE s.rowid = (SELECT rowid FROM txns WHERE txn_id = ?1)"),
        refund_sale_(db, "UPDATE sales SET refunded_minor = refunded_minor + ?2, till_taken_back = till_taken_back + ?3, "
                         "points_taken_back = points_taken_back + ?4, points_given_back = points_given_back + ?5, "
                         "spend_minor = ?6 WHERE rowid = ?1"),
        prior_sale_(db, "SELECT t.txn_id, t.member_id, t.member_version, t.body FROM sales s "
                        "JOIN txns t ON t.rowid = s.rowid WHERE s.store_id = ?1 AND s.receipt_id = ?2 AND t.till_id = ?3"),
        prior_refund_(db, "SELECT t.txn_id, t.member_id, t.member_version, t.body FROM refunds r "
                          "JOIN txns t ON t.txn_id = r.txn_id WHERE r.sale_txn_id = ?1 AND r.refund_id = ?2 "
                          "AND t.store_id = ?3 AND t.till_id = ?4"),
        refund_bodies_(db, "SELECT t.body FROM refunds r JOIN txns t ON t.txn_id = r.txn_id "
                           "WHERE r.sale_txn_id = ?1 ORDER BY t.rowid"),
        insert_refund_(db, "INSERT INTO refunds(txn_id, sale_txn_id, refund_id, amount_minor, "
                           "points_taken_back, points_given_back) VALUES(?1, ?2, ?3, ?4, ?5, ?6)"),
        insert_tier_change_(db, "INSERT INTO tier_changes(member_id, at_us, from_tier, to_tier, spend_minor, reason) "
                                "VALUES(?1, ?2, ?3, ?4, ?5, ?6)"),
        tier_at_(db, "SELECT to_tier FROM tier_changes WHERE member_id = ?1 AND at_us <= ?2 "
                     "ORDER BY at_us DESC, id DESC LIMIT 1"),
        held_between_(db, "SELECT 1 FROM tier_changes WHERE member_id = ?1 AND at_us > ?2 AND at_us <= ?3 "
                          "AND (from_tier = ?4 OR to_tier = ?4) LIMIT 1"),
        pass_slice_(db, "SELECT m.id, m.tier, m.grace_until_us, m.spend_minor, "
                        "(SELECT TOTAL(s.spend_minor) FROM sales s WHERE s.member_id = m.id "
                        " AND s.at_us > MAX(?3, m.spend_at_us) - ?2 AND s.at_us <= MAX(?3, m.spend_at_us)), "
                        "MAX(?3, m.spend_at_us) FROM members m WHERE m.id > ?1 ORDER BY m.id LIMIT ?4"),
        set_tier_(db, "UPDATE members SET tier = ?2, grace_until_us = ?3, spend_minor = ?4, spend_at_us = ?5, "
                      "version = version + 1, seq = ?6 WHERE id = ?1"),
        coupon_(db, "SELECT member_id, definition, used_txn_id, used_store, used_at_us FROM coupons WHERE code = ?1"),
        use_coupon_(db, "UPDATE coupons SET used_txn_id = ?2, used_store = ?3, used_at_us = ?4, version = version + 1, "
                        "seq = ?5 WHERE code = ?1"),
        insert_flag_(db, "INSERT INTO flags(kind, raised_us, store_id, till_id, member_id, txn_id, detail) "
                         "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
        close_balance_(db, "UPDATE flags SET closed_us = ?2 WHERE member_id = ?1 AND kind = 'negative_balance' "
                           "AND closed_us IS NULL"),
        close_held_(db, "UPDATE flags SET closed_us = ?2 WHERE txn_id = ?1 AND kind = 'held' AND closed_us IS NULL"),
        find_txn_(db, "SELECT digest, status, reason, member_id, member_version, rowid FROM txns WHERE txn_id = ?1"),
        last_txn_row_(db, "SELECT COALESCE(MAX(rowid), 0) FROM txns"),
        insert_txn_(db, "INSERT INTO txns(txn_id, store_id, till_id, kind, digest, status, reason, member_id, "
                        "member_version, at_us, received_us, body, rowid, held_us, duplicate_of, waits_for) "
                        "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"),
        update_txn_(db, "UPDATE txns SET status = ?2, reason = ?3, member_id = ?4, member_version = ?5, "
                        "duplicate_of = ?6, waits_for = ?7 WHERE rowid = ?1"),
        waiting_for_(db, "SELECT rowid FROM txns WHERE waits_for = ?1 AND status = 'held' ORDER BY rowid"),
        txn_body_(db, "SELECT body FROM txns WHERE rowid = ?1"),
        received_of_(db, "SELECT received_us, reason, status, member_id, member_version FROM txns WHERE rowid = ?1"),
        original_of_(db, "SELECT COALESCE((SELECT duplicate_of FROM txns WHERE txn_id = ?1), ?1)"),
        find_refused_(db, "SELECT reason FROM refused WHERE digest = ?1"),
        insert_refused_(db, "INSERT INTO refused(store_id, till_id, txn_id, digest, reason, body, received_us) "
                            "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
        find_batch_(db, "SELECT digest, answer FROM batches WHERE store_id = ?1 AND batch_id = ?2"),
        insert_batch_(db, "INSERT INTO batches(store_id, batch_id, digest, answer, received_us) VALUES(?1, ?2, ?3, ?4, ?5)"),
        upsert_store_(db, "INSERT INTO stores(store_id, last_batch_us, txns, last_txn_lag_us) "
                          "VALUES(?1, ?2, ?3, ?4) ON CONFLICT(store_id) DO UPDATE SET "
                          "last_batch_us = excluded.last_batch_us, txns = txns + excluded.txns, "
                          "last_txn_lag_us = excluded.last_txn_lag_us"),
        upsert_till_(db, "INSERT INTO tills(store_id, till_id, last_batch_us, backlog, skew_us, sent_us) "
                         "VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(store_id, till_id) DO UPDATE SET "
                         "last_batch_us = excluded.last_batch_us, backlog = excluded.backlog, "
                         "skew_us = excluded.skew_us, sent_us = COALESCE(excluded.sent_us, sent_us)"),
        till_sent_(db, "SELECT sent_us FROM tills WHERE store_id = ?1 AND till_id = ?2"),
        changed_members_(db, "SELECT id, version, seq, masked_name, tier, birthday, purchases, "
                             "last_purchase_us, last_purchase_off, points, spend_minor FROM members "
                             "WHERE seq > ?1 ORDER BY seq LIMIT ?2"),
        changed_coupons_(db, "SELECT code, version, seq, member_id, definition, used_txn_id IS NOT NULL FROM coupons "
                             "WHERE seq > ?1 ORDER BY seq LIMIT ?2"),
        codes_of_(db, "SELECT hash FROM member_codes WHERE member_id = ?1 ORDER BY kind, hash") {}

  // The start and end of a write transaction: the feed's counter is read once and written back once.
  void begin_write() {
    writing_ = true;
    seq_ = meta_int("feed_seq");
    seq_at_start_ = seq_;
    next_row_ = 0;
  }
  void end_write() {
    if (seq_ != seq_at_start_) set_meta("feed_seq", seq_);
    writing_ = false;
  }
  void abandon_write() { writing_ = false; }

  void lock(std::string_view) override {}  // one writer at a time already

  std::optional<std::string> meta_text(std::string_view key) override {
    get_meta_.bind(1, key);
    Row r(get_meta_);
    return r ? r->optional_text(0) : std::nullopt;
  }
  std::int64_t meta_int(std::string_view key) override {
    get_meta_.bind(1, key);
    Row r(get_meta_);
    return r ? r->integer(0) : 0;
  }
  void set_meta(std::string_view key, std::string_view value) override { set_meta_.bind(1, key).bind(2, value).run(); }
  void set_meta(std::string_view key, std::int64_t value) override { set_meta_.bind(1, key).bind(2, value).run(); }
  std::int64_t feed_end() override { return writing_ ? seq_ : meta_int("feed_seq"); }

  std::optional<std::string> rules_json(std::string_view version) override {
    rules_json_.bind(1, version);
    Row r(rules_json_);
    return r ? std::optional<std::string>(r->text(0)) : std::nullopt;
  }
  std::optional<RulesRecord> current_rules() override {
    Row r(current_rules_);
    return r ? std::optional<RulesRecord>(RulesRecord{r->text(0), r->text(1)}) : std::nullopt;
  }
  std::optional<std::string> current_rules_version() override {
    Row r(current_version_);
    return r ? std::optional<std::string>(r->text(0)) : std::nullopt;
  }
  void insert_rules(const RulesRecord& rules, std::int64_t now_us) override {
    Statement insert(db_, "INSERT INTO rules(version, json, published_us) VALUES(?1, ?2, ?3)");
    insert.bind(1, rules.version).bind(2, rules.json).bind(3, now_us).run();
  }

  std::string resolve(const std::string& id) override {
    resolve_.bind(1, id);
    Row r(resolve_);
    return r->text(0);
  }
  bool member_exists(const std::string& id) override {
    member_exists_.bind(1, id);
    Row r(member_exists_);
    return static_cast<bool>(r);
  }
  std::int64_t member_version(const std::string& id) override {
    member_version_.bind(1, id);
    Row r(member_version_);
    return r ? r->integer(0) : 0;
  }
  std::optional<MemberState> load_member(const std::string& id) override {
    load_.bind(1, id);
    Row r(load_);
    if (!r) return std::nullopt;
    MemberState m;
    m.id = id;
    m.points = r->integer(0);
    m.tier = r->text(1);
    m.grace_until_us = r->optional_integer(2);
    m.spend = r->integer(3);
    m.spend_at_us = r->integer(4);
    if (const auto b = r->optional_integer(5)) m.birthday = month_day_from_int(*b);
    return m;
  }
  std::int64_t save_member(const MemberState& m) override {
    save_.bind(1, m.id).bind(2, m.points).bind(3, m.tier).bind(4, m.grace_until_us).bind(5, m.spend)
        .bind(6, m.spend_at_us).bind(7, next_seq());
    Row r(save_);
    if (!r) throw store::StorageError("member " + m.id + " is not in the database");
    return r->integer(0);
  }
  void note_purchase(const std::string& id, const engine::Instant& at) override {
    note_purchase_.bind(1, id).bind(2, at.utc_micros).bind(3, std::int64_t{at.offset_minutes}).run();
  }
  void insert_member(const NewMember& m) override {
    insert_member_.bind(1, m.id).bind(2, next_seq()).bind(3, m.name).bind(4, m.phone).bind(5, m.masked_name)
        .bind(6, m.tier).bind(7, birthday_int(m.birthday)).bind(8, m.created_us).run();
  }
  std::int64_t merge_member(const std::string& id, const std::string& name, const std::string& masked,
                            const std::string& phone, const std::optional<engine::MonthDay>& birthday) override {
    merge_member_.bind(1, id).bind(2, name).bind(3, masked).bind(4, phone).bind(5, birthday_int(birthday))
        .bind(6, next_seq());
    Row r(merge_member_);
    if (!r) throw store::StorageError("a member update returned no row");
    return r->integer(0);
  }
  void update_member(const std::string& id, const std::string& name, const std::optional<std::string>& phone,
                     const std::string& masked, const std::optional<engine::MonthDay>& birthday) override {
    Statement s(db_, "UPDATE members SET name = ?2, phone = ?3, masked_name = ?4, birthday = ?5, "
                     "version = version + 1, seq = ?6 WHERE id = ?1");
    s.bind(1, id).bind(2, name).bind(3, phone).bind(4, masked).bind(5, birthday_int(birthday)).bind(6, next_seq()).run();
  }
  std::string member_tier(const std::string& id) override {
    Statement s(db_, "SELECT tier FROM members WHERE id = ?1");
    s.bind(1, id);
    return s.step() ? s.text(0) : std::string();
  }
  void set_imported_tier(const std::string& id, const std::string& tier) override {
    Statement s(db_, "UPDATE members SET tier = ?2, grace_until_us = NULL WHERE id = ?1");
    s.bind(1, id).bind(2, tier).run();
  }
  void raise_history(const std::string& id, std::optional<std::int64_t> purchases,
                     const std::optional<engine::Instant>& last) override {
    if (purchases) {
      Statement s(db_, "UPDATE members SET purchases = MAX(purchases, ?2) WHERE id = ?1");
      s.bind(1, id).bind(2, *purchases).run();
    }
    if (last) {
      Statement s(db_, "UPDATE members SET last_purchase_us = ?2, last_purchase_off = ?3 "
                       "WHERE id = ?1 AND (last_purchase_us IS NULL OR last_purchase_us < ?2)");
      s.bind(1, id).bind(2, last->utc_micros).bind(3, std::int64_t{last->offset_minutes}).run();
    }
  }
  std::vector<std::string> member_ids(std::int64_t limit) override {
    Statement s(db_, "SELECT id FROM members ORDER BY id LIMIT ?1");
    s.bind(1, limit);
    std::vector<std::string> ids;
    while (s.step()) ids.push_back(s.text(0));
    return ids;
  }
  std::vector<std::string> members_of_tier(const std::string& tier) override {
    Statement s(db_, "SELECT id FROM members WHERE tier = ?1 ORDER BY id");
    s.bind(1, tier);
    std::vector<std::string> ids;
    while (s.step()) ids.push_back(s.text(0));
    return ids;
  }
  std::optional<MemberRow> member_row(std::string_view id) override {
    Statement s(db_, "SELECT id, version, name, phone, tier, birthday, points, purchases, last_purchase_us, "
                     "last_purchase_off FROM members WHERE id = COALESCE((SELECT member_id FROM aliases "
                     "WHERE alias = ?1), ?1)");
    s.bind(1, id);
    if (!s.step()) return std::nullopt;
    MemberRow m;
    m.id = s.text(0);
    m.version = s.integer(1);
    m.name = s.text(2);
    m.phone = s.optional_text(3).value_or("");
    m.tier = s.text(4);
    if (const auto b = s.optional_integer(5)) m.birthday = month_day_from_int(*b);
    m.points = s.integer(6);
    m.purchases = s.integer(7);
    if (const auto us = s.optional_integer(8))
      m.last_purchase_at = engine::Instant{*us, static_cast<std::int32_t>(s.integer(9))};
    s.reset();
    Statement a(db_, "SELECT alias FROM aliases WHERE member_id = ?1 ORDER BY alias");
    a.bind(1, m.id);
    while (a.step()) m.aliases.push_back(a.text(0));
    return m;
  }
  std::optional<MemberDetail> member_detail(std::string_view id) override {
    auto m = member_row(id);
    if (!m) return std::nullopt;
    MemberDetail d;
    d.member = std::move(*m);
    const std::string& mid = d.member.id;
    {
      Statement s(db_, "SELECT grace_until_us, spend_minor FROM members WHERE id = ?1");
      s.bind(1, mid);
      s.step();
      d.grace_until_us = s.optional_integer(0);
      d.spend_minor = s.integer(1);
    }
    {
      Statement s(db_, "SELECT earned_us, expires_us, points, left, expired, COALESCE(txn_id, '') FROM lots "
                       "WHERE member_id = ?1 AND left > 0 ORDER BY expires_us, id");
      s.bind(1, mid);
      while (s.step()) d.lots.push_back(LotRow{s.integer(0), s.integer(1), s.integer(2), s.integer(3), s.integer(4), s.text(5)});
      Statement c(db_, "SELECT earned_us, expires_us, points, left, expired, COALESCE(txn_id, '') FROM lots "
                       "WHERE member_id = ?1 AND left = 0 ORDER BY id DESC LIMIT 20");
      c.bind(1, mid);
      while (c.step()) d.lots.push_back(LotRow{c.integer(0), c.integer(1), c.integer(2), c.integer(3), c.integer(4), c.text(5)});
    }
    {
      Statement s(db_, "SELECT at_us, from_tier, to_tier, reason, spend_minor FROM tier_changes WHERE member_id = ?1 "
                       "ORDER BY id");
      s.bind(1, mid);
      while (s.step()) d.tiers.push_back(TierChangeRow{s.integer(0), s.text(1), s.text(2), s.text(3), s.integer(4)});
    }
    {
      Statement s(db_, "SELECT txn_id, store_id, receipt_id, at_us, payable_minor, refunded_minor, points_earned, "
                       "points_redeemed FROM sales WHERE member_id = ?1 ORDER BY at_us DESC LIMIT 20");
      s.bind(1, mid);
      while (s.step())
        d.sales.push_back(SaleRow{s.text(0), s.text(1), s.text(2), s.integer(3), s.integer(4), s.integer(5), s.integer(6),
                                  s.integer(7)});
    }
    {
      Statement s(db_, "SELECT code, definition, used_txn_id, used_store, used_at_us FROM coupons WHERE member_id = ?1 "
                       "ORDER BY issued_us, code");
      s.bind(1, mid);
      while (s.step())
        d.coupons.push_back(CouponRow{s.text(0), s.text(1), s.optional_text(2), s.optional_text(3), s.optional_integer(4)});
    }
    {
      Statement s(db_, "SELECT id, kind, raised_us, store_id, till_id, member_id, txn_id, detail, closed_us FROM flags "
                       "WHERE member_id = ?1 ORDER BY id");
      s.bind(1, mid);
      while (s.step()) d.flags.push_back(flag_row(s));
    }
    return d;
  }

  std::optional<std::string> member_by_code(const protocol::CodeHash& hash) override {
    member_by_code_.bind_blob(1, hash.data(), hash.size());
    Row r(member_by_code_);
    return r ? std::optional<std::string>(r->text(0)) : std::nullopt;
  }
  void insert_code(const protocol::CodeHash& hash, const std::string& member, std::string_view kind) override {
    insert_code_.bind_blob(1, hash.data(), hash.size()).bind(2, member).bind(3, kind).run();
  }
  void drop_codes(const std::string& member) override {
    Statement s(db_, "DELETE FROM member_codes WHERE member_id = ?1");
    s.bind(1, member).run();
  }
  void insert_alias(const std::string& alias, const std::string& member) override {
    insert_alias_.bind(1, alias).bind(2, member).run();
  }

  std::vector<OpenLot> open_lots(const std::string& member, std::int64_t points) override {
    std::vector<OpenLot> out;
    open_lots_.bind(1, member);
    std::int64_t held = 0;
    while (held < points && open_lots_.step()) {
      out.push_back(OpenLot{open_lots_.integer(0), open_lots_.integer(1)});
      held += out.back().left;
    }
    open_lots_.reset();
    return out;
  }
  void take_from_lot(std::int64_t lot, std::int64_t points) override { take_lot_.bind(1, lot).bind(2, points).run(); }
  void insert_lot(const NewLot& l) override {
    insert_lot_.bind(1, l.member_id).bind(2, l.txn_id).bind(3, l.earned_us).bind(4, l.expires_us).bind(5, l.points)
        .bind(6, l.left).run();
  }
  std::vector<DueLot> due_lots(std::int64_t now_us, std::int64_t limit) override {
    std::vector<DueLot> out;
    due_lots_.bind(1, now_us).bind(2, limit);
    while (due_lots_.step()) out.push_back(DueLot{due_lots_.integer(0), due_lots_.text(1), due_lots_.integer(2)});
    due_lots_.reset();
    return out;
  }
  void expire_lot(std::int64_t lot) override { expire_lot_.bind(1, lot).run(); }
  void expire_points(const std::string& member, std::int64_t points) override {
    expire_points_.bind(1, member).bind(2, points).bind(3, next_seq()).run();
  }
  std::optional<std::pair<std::int64_t, std::int64_t>> next_expiry(const std::string& member) override {
    next_expiry_.bind(1, member);
    Row r(next_expiry_);
    if (!r) return std::nullopt;
    return std::make_pair(r->integer(0), clamp_total(r->real(1)));
  }

  engine::Minor window_spend(const std::string& member, std::int64_t after_us, std::int64_t through_us) override {
    spend_.bind(1, member).bind(2, after_us).bind(3, through_us);
    Row r(spend_);
    return clamp_total(r->real(0));
  }
  std::pair<std::int64_t, std::optional<std::int64_t>> history(const std::string& member,
                                                               std::int64_t before_us) override {
    history_.bind(1, member).bind(2, before_us);
    Row r(history_);
    return {r->integer(0), r->optional_integer(1)};
  }
  void insert_sale(const NewSale& s) override {
    insert_sale_.bind(1, s.txn_id).bind(2, s.store_id).bind(3, s.receipt_id).bind(4, s.member_id).bind(5, s.payable_minor)
        .bind(6, s.points_earned).bind(7, s.points_redeemed).bind(8, s.at_us).bind(9, s.till_points_earned)
        .bind(10, s.rules_version).bind(11, s.spend_minor).bind(12, s.row).run();
  }
  std::optional<SaleState> find_sale(const std::string& txn_id) override {
    find_sale_.bind(1, txn_id);
    Row r(find_sale_);
    if (!r) return std::nullopt;
    SaleState s;
    s.member_id = r->optional_text(0);
    s.payable_minor = r->integer(1);
    s.refunded_minor = r->integer(2);
    s.points_earned = r->integer(3);
    s.till_points_earned = r->integer(4);
    s.till_taken_back = r->integer(5);
    s.points_redeemed = r->integer(6);
    s.points_given_back = r->integer(7);
    s.at_us = r->integer(8);
    s.rules_version = r->text(9);
    s.points_taken_back = r->integer(10);
    s.row = r->integer(11);
    s.spend_sold_minor = r->integer(12);
    s.received_us = r->integer(13);
    return s;
  }
  void refund_sale(const SaleRefunded& r) override {
    refund_sale_.bind(1, r.row).bind(2, r.amount_minor).bind(3, r.till_taken_back).bind(4, r.points_taken_back)
        .bind(5, r.points_given_back).bind(6, r.spend_minor).run();
  }
  static std::optional<PriorTxn> prior(Statement& s) {
    Row r(s);
    if (!r) return std::nullopt;
    return PriorTxn{r->text(0), r->optional_text(1), r->optional_integer(2).value_or(0), r->text(3)};
  }
  std::optional<PriorTxn> prior_sale(const std::string& store, const std::string& receipt,
                                     const std::string& till) override {
    prior_sale_.bind(1, store).bind(2, receipt).bind(3, till);
    return prior(prior_sale_);
  }
  std::optional<PriorTxn> prior_refund(const std::string& sale_txn_id, const std::string& refund_id,
                                       const std::string& store, const std::string& till) override {
    prior_refund_.bind(1, sale_txn_id).bind(2, refund_id).bind(3, store).bind(4, till);
    return prior(prior_refund_);
  }
  std::vector<std::string> refund_bodies(const std::string& sale_txn_id) override {
    std::vector<std::string> out;
    refund_bodies_.bind(1, sale_txn_id);
    while (refund_bodies_.step()) out.push_back(refund_bodies_.text(0));
    refund_bodies_.reset();
    return out;
  }
  void insert_refund(const NewRefund& r) override {
    insert_refund_.bind(1, r.txn_id).bind(2, r.sale_txn_id).bind(3, r.refund_id).bind(4, r.amount_minor)
        .bind(5, r.points_taken_back).bind(6, r.points_given_back).run();
  }
  std::vector<SaleRecord> sales_by_receipt(std::string_view store_id, std::string_view receipt_id) override {
    Statement s(db_, "SELECT t.txn_id, t.store_id, t.body, s.member_id FROM sales s JOIN txns t ON t.rowid = s.rowid "
                     "WHERE s.store_id = ?1 AND s.receipt_id = ?2");
    s.bind(1, store_id).bind(2, receipt_id);
    std::vector<SaleRecord> out;
    while (s.step()) out.push_back(SaleRecord{s.text(0), s.text(1), s.text(2), {}, s.optional_text(3), {}});
    s.reset();
    Statement copies(db_, "SELECT txn_id FROM txns WHERE duplicate_of = ?1");
    for (SaleRecord& rec : out) {
      copies.bind(1, rec.txn_id);
      while (copies.step()) rec.copies.push_back(copies.text(0));
      copies.reset();
      rec.refunds = refund_bodies(rec.txn_id);
    }
    return out;
  }

  void insert_tier_change(const std::string& member, std::int64_t at_us, const std::string& from, const std::string& to,
                          engine::Minor spend, std::string_view reason) override {
    insert_tier_change_.bind(1, member).bind(2, at_us).bind(3, from).bind(4, to).bind(5, spend).bind(6, reason).run();
  }
  std::optional<std::string> tier_at(const std::string& member, std::int64_t at_us) override {
    tier_at_.bind(1, member).bind(2, at_us);
    Row r(tier_at_);
    return r ? std::optional<std::string>(r->text(0)) : std::nullopt;
  }
  bool tier_held_between(const std::string& member, const std::string& tier, std::int64_t after_us,
                         std::int64_t through_us) override {
    held_between_.bind(1, member).bind(2, after_us).bind(3, through_us).bind(4, tier);
    Row r(held_between_);
    return static_cast<bool>(r);
  }
  std::vector<PassRow> pass_slice(const std::string& after, std::int64_t window_us, std::int64_t now_us,
                                  std::int64_t limit) override {
    std::vector<PassRow> rows;
    rows.reserve(static_cast<std::size_t>(std::max<std::int64_t>(0, std::min<std::int64_t>(limit, 100'000))));
    pass_slice_.bind(1, after).bind(2, window_us).bind(3, now_us).bind(4, limit);
    while (pass_slice_.step())
      rows.push_back(PassRow{pass_slice_.text(0), pass_slice_.text(1), pass_slice_.optional_integer(2),
                             pass_slice_.integer(3), clamp_total(pass_slice_.real(4)), pass_slice_.integer(5)});
    pass_slice_.reset();
    return rows;
  }
  void set_tier(const std::string& member, const std::string& tier, std::optional<std::int64_t> grace_until_us,
                engine::Minor spend, std::int64_t spend_at_us) override {
    set_tier_.bind(1, member).bind(2, tier).bind(3, grace_until_us).bind(4, spend).bind(5, spend_at_us)
        .bind(6, next_seq()).run();
  }

  std::optional<CouponState> coupon(const std::string& code) override {
    coupon_.bind(1, code);
    Row r(coupon_);
    if (!r) return std::nullopt;
    return CouponState{r->optional_text(0), r->text(1), r->optional_text(2), r->optional_text(3), r->optional_integer(4)};
  }
  void use_coupon(const std::string& code, const std::string& txn_id, const std::string& store,
                  std::int64_t at_us) override {
    use_coupon_.bind(1, code).bind(2, txn_id).bind(3, store).bind(4, at_us).bind(5, next_seq()).run();
  }
  bool coupon_exists(const std::string& code) override { return coupon(code).has_value(); }
  void insert_coupon(const std::string& code, const std::string& member, const std::string& definition,
                     std::int64_t now_us) override {
    Statement s(db_, "INSERT INTO coupons(code, version, seq, member_id, definition, issued_us) "
                     "VALUES(?1, 1, ?2, ?3, ?4, ?5)");
    s.bind(1, code).bind(2, next_seq()).bind(3, member).bind(4, definition).bind(5, now_us).run();
  }

  void insert_flag(const NewFlag& f) override {
    insert_flag_.bind(1, f.kind).bind(2, f.raised_us).bind(3, f.store_id).bind(4, f.till_id).bind(5, f.member_id)
        .bind(6, f.txn_id).bind(7, f.detail).run();
  }
  void close_balance_flags(const std::string& member, std::int64_t now_us) override {
    close_balance_.bind(1, member).bind(2, now_us).run();
  }
  void close_held_flags(const std::string& txn_id, std::int64_t now_us) override {
    close_held_.bind(1, txn_id).bind(2, now_us).run();
  }
  std::vector<FlagRow> flags(bool include_closed, std::int64_t limit) override {
    Statement s(db_, include_closed ? "SELECT id, kind, raised_us, store_id, till_id, member_id, txn_id, detail, closed_us "
                                      "FROM flags ORDER BY id DESC LIMIT ?1"
                                    : "SELECT id, kind, raised_us, store_id, till_id, member_id, txn_id, detail, closed_us "
                                      "FROM flags WHERE closed_us IS NULL ORDER BY id DESC LIMIT ?1");
    s.bind(1, limit);
    std::vector<FlagRow> out;
    while (s.step()) out.push_back(flag_row(s));
    return out;
  }

  std::optional<StoredTxn> find_txn(const std::string& txn_id) override {
    find_txn_.bind(1, txn_id);
    Row r(find_txn_);
    if (!r) return std::nullopt;
    return StoredTxn{r->integer(5), r->text(0), r->text(1), r->optional_text(2).value_or(""), r->optional_text(3),
                     r->optional_integer(4).value_or(0)};
  }
  std::int64_t new_txn_row() override {
    if (next_row_ == 0) {
      Row r(last_txn_row_);
      next_row_ = r->integer(0) + 1;
    }
    return next_row_++;
  }
  void insert_txn(const TxnRow& t) override {
    insert_txn_.bind(1, t.txn_id).bind(2, t.store_id).bind(3, t.till_id).bind(4, t.kind).bind(5, t.digest)
        .bind(6, t.status).bind(7, t.reason).bind(8, t.member_id);
    if (t.member_id) insert_txn_.bind(9, t.member_version); else insert_txn_.bind_null(9);
    insert_txn_.bind(10, t.at_us).bind(11, t.received_us).bind(12, t.body).bind(13, t.row).bind(14, t.held_us)
        .bind(15, t.duplicate_of).bind(16, t.waits_for).run();
  }
  void update_txn(const TxnUpdate& u) override {
    update_txn_.bind(1, u.row).bind(2, u.status).bind(3, u.reason).bind(4, u.member_id);
    if (u.member_id) update_txn_.bind(5, u.member_version); else update_txn_.bind_null(5);
    update_txn_.bind(6, u.duplicate_of).bind(7, u.waits_for).run();
  }
  std::vector<std::int64_t> waiting_for(const std::string& key) override {
    std::vector<std::int64_t> rows;
    waiting_for_.bind(1, key);
    while (waiting_for_.step()) rows.push_back(waiting_for_.integer(0));
    waiting_for_.reset();
    return rows;
  }
  std::optional<std::string> txn_body(std::int64_t row) override {
    txn_body_.bind(1, row);
    Row r(txn_body_);
    return r ? std::optional<std::string>(r->text(0)) : std::nullopt;
  }
  std::optional<ReceivedTxn> received_of(std::int64_t row) override {
    received_of_.bind(1, row);
    Row r(received_of_);
    if (!r) return std::nullopt;
    return ReceivedTxn{r->integer(0), r->optional_text(1).value_or(""), r->text(2), r->optional_text(3),
                       r->optional_integer(4).value_or(0)};
  }
  std::string original_of(const std::string& txn_id) override {
    original_of_.bind(1, txn_id);
    Row r(original_of_);
    return r->text(0);
  }
  std::vector<std::int64_t> waiting_rows(std::int64_t limit) override {
    Statement s(db_, "SELECT rowid FROM txns WHERE status = 'held' AND waits_for IS NOT NULL ORDER BY rowid LIMIT ?1");
    s.bind(1, limit);
    std::vector<std::int64_t> rows;
    while (s.step()) rows.push_back(s.integer(0));
    return rows;
  }
  std::vector<std::int64_t> unapplied_rows() override {
    Statement s(db_, "SELECT rowid FROM txns WHERE status IN ('held', 'rejected') ORDER BY rowid");
    std::vector<std::int64_t> rows;
    while (s.step()) rows.push_back(s.integer(0));
    return rows;
  }
  std::optional<std::string> refused_reason(const std::string& digest) override {
    find_refused_.bind(1, digest);
    Row r(find_refused_);
    return r ? std::optional<std::string>(r->text(0)) : std::nullopt;
  }
  void insert_refused(const RefusedRow& r) override {
    insert_refused_.bind(1, r.store_id).bind(2, r.till_id).bind(3, r.txn_id).bind(4, r.digest).bind(5, r.reason)
        .bind(6, r.body).bind(7, r.received_us).run();
  }
  std::vector<HeldRow> held(bool include_applied, std::int64_t limit) override {
    std::vector<HeldRow> out;
    const std::string sql = "SELECT " + std::string(kHeldColumns) + " FROM txns WHERE held_us IS NOT NULL" +
                            (include_applied ? "" : " AND status IN ('held', 'rejected')") + " ORDER BY rowid LIMIT ?1";
    Statement s(db_, sql.c_str());
    s.bind(1, limit);
    while (s.step()) out.push_back(held_row(s, false));
    const std::string refused = "SELECT " + std::string(kRefusedColumns) + " FROM refused ORDER BY rowid LIMIT ?1";
    Statement r(db_, refused.c_str());
    r.bind(1, limit);
    while (r.step()) out.push_back(refused_row(r, false));
    std::stable_sort(out.begin(), out.end(), [](const HeldRow& a, const HeldRow& b) { return a.received_us < b.received_us; });
    if (out.size() > static_cast<std::size_t>(limit)) out.resize(static_cast<std::size_t>(limit));
    return out;
  }
  std::optional<HeldRow> held_txn(std::string_view id) override {
    if (!id.empty() && id.front() == 'r' && id.size() > 1 && id.size() < 19 &&
        id.find_first_not_of("0123456789", 1) == std::string_view::npos) {
      const std::string sql = "SELECT " + std::string(kRefusedColumns) + " FROM refused WHERE rowid = ?1";
      Statement r(db_, sql.c_str());
      r.bind(1, std::stoll(std::string(id.substr(1))));
      if (r.step()) return refused_row(r, true);
      return std::nullopt;
    }
    const bool row = !id.empty() && id.find_first_not_of("0123456789") == std::string_view::npos && id.size() < 19;
    const std::string sql = "SELECT " + std::string(kHeldColumns) +
                            (row ? " FROM txns WHERE rowid = ?1 AND held_us IS NOT NULL"
                                 : " FROM txns WHERE txn_id = ?1 AND held_us IS NOT NULL");
    Statement s(db_, sql.c_str());
    if (row) s.bind(1, std::stoll(std::string(id)));
    else s.bind(1, id);
    if (s.step()) return held_row(s, true);
    return std::nullopt;
  }

  std::optional<std::pair<std::string, std::string>> find_batch(std::string_view store,
                                                                std::string_view batch_id) override {
    find_batch_.bind(1, store).bind(2, batch_id);
    Row r(find_batch_);
    if (!r) return std::nullopt;
    return std::make_pair(r->text(0), r->text(1));
  }
  void insert_batch(std::string_view store, std::string_view batch_id, const std::string& digest,
                    const std::string& answer, std::int64_t now_us) override {
    insert_batch_.bind(1, store).bind(2, batch_id).bind(3, digest).bind(4, answer).bind(5, now_us).run();
  }
  void note_sync(const StoreSync& s) override {
    upsert_store_.bind(1, s.store_id).bind(2, s.at_us).bind(3, s.txns).bind(4, s.newest_lag_us).run();
    upsert_till_.bind(1, s.store_id).bind(2, s.till_id).bind(3, s.at_us).bind(4, s.queued);
    if (s.sent_at_us) upsert_till_.bind(5, *s.sent_at_us - s.at_us).bind(6, *s.sent_at_us);
    else upsert_till_.bind_null(5).bind_null(6);
    upsert_till_.run();
  }
  std::optional<std::int64_t> till_sent(const std::string& store, const std::string& till) override {
    till_sent_.bind(1, store).bind(2, till);
    Row r(till_sent_);
    return r ? r->optional_integer(0) : std::nullopt;
  }
  std::vector<StoreRow> stores() override {
    Statement s(db_, "SELECT store_id, last_batch_us, txns, last_txn_lag_us, "
                     "(SELECT COUNT(*) FROM flags f WHERE f.store_id = stores.store_id AND f.closed_us IS NULL) "
                     "FROM stores ORDER BY store_id");
    std::vector<StoreRow> out;
    while (s.step()) out.push_back(StoreRow{s.text(0), s.integer(1), s.integer(2), s.integer(3), s.integer(4), {}});
    Statement tills(db_, "SELECT till_id, last_batch_us, backlog, skew_us FROM tills WHERE store_id = ?1 ORDER BY till_id");
    for (StoreRow& row : out) {
      tills.bind(1, row.store_id);
      while (tills.step())
        row.tills.push_back(TillRow{tills.text(0), tills.integer(1), tills.optional_integer(2), tills.optional_integer(3)});
      tills.reset();
    }
    return out;
  }

  std::vector<RegistryRow> registry() override {
    Statement s(db_, "SELECT store_id, fingerprint, added_us, revoked_us FROM registry ORDER BY store_id, fingerprint");
    std::vector<RegistryRow> out;
    while (s.step()) out.push_back(RegistryRow{s.text(0), s.text(1), s.integer(2), s.optional_integer(3)});
    return out;
  }
  bool insert_registry(const std::string& store, const std::string& fingerprint, std::int64_t now_us) override {
    Statement s(db_, "INSERT INTO registry(store_id, fingerprint, added_us) VALUES(?1, ?2, ?3) "
                     "ON CONFLICT(store_id, fingerprint) DO UPDATE SET added_us = excluded.added_us, revoked_us = NULL "
                     "WHERE revoked_us IS NOT NULL");
    s.bind(1, store).bind(2, fingerprint).bind(3, now_us).run();
    return db_.changes() > 0;
  }
  std::int64_t revoke_registry(const std::string& store, const std::string& fingerprint, std::int64_t now_us) override {
    if (fingerprint.empty()) {
      Statement s(db_, "UPDATE registry SET revoked_us = ?2 WHERE store_id = ?1 AND revoked_us IS NULL");
      s.bind(1, store).bind(2, now_us).run();
      return db_.changes();
    }
    Statement s(db_, "INSERT INTO registry(store_id, fingerprint, added_us, revoked_us) VALUES(?1, ?2, ?3, ?3) "
                     "ON CONFLICT(store_id, fingerprint) DO UPDATE SET revoked_us = excluded.revoked_us "
                     "WHERE revoked_us IS NULL");
    s.bind(1, store).bind(2, fingerprint).bind(3, now_us).run();
    return db_.changes();
  }

  std::vector<FeedMember> changed_members(std::int64_t after, std::int64_t limit) override {
    std::vector<FeedMember> out;
    changed_members_.bind(1, after).bind(2, limit);
    while (changed_members_.step()) {
      Statement& s = changed_members_;
      FeedMember f;
      f.seq = s.integer(2);
      protocol::MemberRecord& rec = f.record;
      rec.member.id = s.text(0);
      rec.version = s.integer(1);
      rec.masked_name = s.text(3);
      rec.member.tier = s.text(4);
      if (const auto b = s.optional_integer(5)) rec.member.birthday = month_day_from_int(*b);
      rec.member.purchases = s.integer(6);
      if (const auto us = s.optional_integer(7))
        rec.member.last_purchase_at = engine::Instant{*us, static_cast<std::int32_t>(s.integer(8))};
      rec.member.points = s.integer(9);
      f.spend_minor = s.integer(10);
      out.push_back(std::move(f));
    }
    changed_members_.reset();
    return out;
  }
  std::vector<FeedCoupon> changed_coupons(std::int64_t after, std::int64_t limit) override {
    std::vector<FeedCoupon> out;
    changed_coupons_.bind(1, after).bind(2, limit);
    while (changed_coupons_.step()) {
      Statement& s = changed_coupons_;
      out.push_back(FeedCoupon{s.integer(2), s.text(0), s.text(4), s.integer(1), s.optional_text(3), s.integer(5) != 0});
    }
    changed_coupons_.reset();
    return out;
  }
  using Tx::codes_of;
  using Tx::next_expiry;
  std::vector<protocol::CodeHash> codes_of(const std::string& member) override {
    std::vector<protocol::CodeHash> out;
    codes_of_.bind(1, member);
    while (codes_of_.step()) {
      const std::string blob = codes_of_.text(0);
      protocol::CodeHash h{};
      if (blob.size() != h.size()) {
        codes_of_.reset();
        throw store::StorageError("a member code hash is not 32 bytes");
      }
      std::memcpy(h.data(), blob.data(), h.size());
      out.push_back(h);
    }
    codes_of_.reset();
    return out;
  }

 private:
  std::int64_t next_seq() {
    if (!writing_) throw store::StorageError("a change of the feed outside a write transaction");
    return ++seq_;
  }

  Database& db_;
  bool writing_ = false;
  std::int64_t seq_ = 0, seq_at_start_ = 0;  // the changes feed's last number, inside a write transaction
  std::int64_t next_row_ = 0;                // the row a new transaction takes (0: not read yet)
  Statement get_meta_, set_meta_, rules_json_, current_rules_, current_version_, resolve_, member_exists_,
      member_version_, load_, save_, note_purchase_, insert_member_, merge_member_, member_by_code_, insert_code_,
      insert_alias_, open_lots_, take_lot_, insert_lot_, due_lots_, expire_lot_, expire_points_, next_expiry_, spend_,
      history_, insert_sale_, find_sale_, refund_sale_, prior_sale_, prior_refund_, refund_bodies_, insert_refund_,
      insert_tier_change_, tier_at_, held_between_, pass_slice_, set_tier_, coupon_, use_coupon_, insert_flag_,
      close_balance_, close_held_, find_txn_, last_txn_row_, insert_txn_, update_txn_, waiting_for_, txn_body_,
      received_of_, original_of_, find_refused_, insert_refused_, find_batch_, insert_batch_, upsert_store_,
      upsert_till_, till_sent_, changed_members_, changed_coupons_, codes_of_;
};

// The embedded backend: one SQLite file (WAL, synchronous=FULL), shared with the administration
// commands. Thread-safe: one transaction at a time.
class SqliteBackend final : public Backend {
 public:
  // `readers`: connections of their own for reads, which WAL lets run beside the writer (0: reads
  // take turns with writes on the one connection, as the administration commands do).
  SqliteBackend(const std::string& path, bool serving, int readers) : db_(path, false), mark_(path + ".feed") {
    migrate(std::chrono::duration_cast<std::chrono::microseconds>(
                std::chrono::system_clock::now().time_since_epoch()).count());
    tx_.emplace(db_);
    if (serving) {
      db_.exec("PRAGMA wal_autocheckpoint=0");
      checkpointer_.emplace(path);
    }
    for (int i = 0; i < readers; ++i) readers_.push_back(std::make_unique<Reader>(path));
    for (std::size_t i = 0; i < readers_.size(); ++i) free_readers_.push_back(i);
  }

  void write(const std::function<void(Tx&)>& body) override {
    std::lock_guard lock(mu_);
    Transaction t(db_);
    tx_->begin_write();
    try {
      body(*tx_);
      tx_->end_write();
    } catch (...) {
      tx_->abandon_write();
      throw;
    }
    const std::string generation = tx_->meta_text("generation").value_or("");
    const std::int64_t seq = tx_->meta_int("feed_seq");
    t.commit();
    if (!generation.empty()) mark_.note(generation, seq);
    if (checkpointer_) checkpointer_->poke();
  }

  void read(const std::function<void(Tx&)>& body) override {
    if (readers_.empty()) {
      std::lock_guard lock(mu_);
      ReadTransaction r(db_);
      body(*tx_);
      return;
    }
    std::size_t i = 0;
    {
      std::unique_lock lock(readers_mu_);
      reader_free_.wait(lock, [&] { return !free_readers_.empty(); });
      i = free_readers_.back();
      free_readers_.pop_back();
    }
    struct Back {
      SqliteBackend& b;
      std::size_t i;
      ~Back() {
        {
          std::lock_guard lock(b.readers_mu_);
          b.free_readers_.push_back(i);
        }
        b.reader_free_.notify_one();
      }
    } back{*this, i};
    Reader& reader = *readers_[i];
    ReadTransaction r(reader.db);
    body(reader.tx);
  }

  std::optional<std::pair<std::string, std::int64_t>> feed_mark() override { return mark_.read(); }

 private:
  void migrate(std::int64_t now_us) {
    if (db_.user_version() == kSchemaVersion) return;
    Transaction t(db_);
    // Read again under the write lock: `serve` and a command opening an old database together
    // migrate it once.
    const std::int64_t v = db_.user_version();
    if (v > kSchemaVersion)
      throw store::StorageError("the database has schema " + std::to_string(v) + ", newer than this loyalty-hq's " +
                                std::to_string(kSchemaVersion));
    if (v == kSchemaVersion) return;
    if (v < 1) db_.exec(kSchema1);
    if (v < 2) {
      db_.exec(kSchema2);
      // Balances kept before the ledger become one lot each, earned now.
      std::int32_t months = 24, offset = 0;
      Statement current(db_, "SELECT json FROM rules ORDER BY rowid DESC LIMIT 1");
      if (current.step()) {
        if (auto r = engine::load_rules(current.text(0))) {
          months = r->expiry_months;
          offset = r->utc_offset_minutes;
        }
      }
      current.reset();
      Statement lots(db_, "INSERT INTO lots(member_id, earned_us, expires_us, points, left) "
                          "SELECT id, ?1, ?2, points, points FROM members WHERE points > 0");
      lots.bind(1, now_us).bind(2, detail::expiry_after(now_us, months, offset)).run();
    }
    if (v < 3) {
      db_.exec(kSchema3);
      // What earlier releases rejected for a cause that can go is held from now on.
      Statement rejected(db_, "SELECT rowid, reason FROM txns WHERE status = 'rejected'");
      std::vector<std::int64_t> held;
      while (rejected.step())
        if (!protocol::is_final_refusal(rejected.optional_text(1).value_or(""))) held.push_back(rejected.integer(0));
      rejected.reset();
      Statement hold(db_, "UPDATE txns SET status = 'held' WHERE rowid = ?1");
      for (const std::int64_t row : held) hold.bind(1, row).run();
      db_.exec("INSERT INTO flags(kind, raised_us, store_id, till_id, member_id, txn_id, detail) "
               "SELECT CASE status WHEN 'held' THEN 'held' ELSE substr(reason, 1, instr(reason || ':', ':') - 1) END, "
               "received_us, store_id, till_id, NULL, "
               "txn_id, json_object('reason', reason, 'kind', kind) FROM txns WHERE status != 'applied'");
    }
    if (v < 4) db_.exec(kSchema4);
    db_.set_user_version(kSchemaVersion);
    t.commit();
  }
  struct Reader {
    explicit Reader(const std::string& path) : db(path, false), tx(db) {}
    Database db;
    SqliteTx tx;
  };

  std::mutex mu_;
  Database db_;
  std::optional<Checkpointer> checkpointer_;  // declared after db_: stopped before it closes
  FeedMark mark_;
  std::optional<SqliteTx> tx_;
  std::vector<std::unique_ptr<Reader>> readers_;
  std::mutex readers_mu_;
  std::condition_variable reader_free_;
  std::vector<std::size_t> free_readers_;
};

}  // namespace

std::unique_ptr<Storage> open_sqlite_storage(const std::string& path, const EnrollmentOpener& opener, bool serving,
                                             LedgerPolicy policy, int readers) {
  return make_storage(std::make_unique<SqliteBackend>(path, serving, readers), opener, policy);
}

}  // namespace loyalty::hq
