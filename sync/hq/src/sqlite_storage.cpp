// The embedded storage: one SQLite file holding the ledger of applied transactions, the members and
// their codes, the changes feed, the published rule sets and each store's sync state.
#include <openssl/rand.h>
#include <sqlite3.h>

#include <chrono>
#include <condition_variable>
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <utility>

#include "loyalty/engine/json_reader.hpp"
#include "ledger.hpp"
#include "loyalty/hq/storage.hpp"
#include "loyalty/store/database.hpp"
#include "loyalty/till/member_code.hpp"

namespace loyalty::hq {
namespace {

using store::Database;
using store::Statement;
using store::Transaction;

constexpr std::int64_t kSchemaVersion = 3;
constexpr std::int64_t kFutureLimitUs = protocol::limits::kFutureSeconds * 1'000'000;
// A transaction dated this far ahead of headquarters' clock is applied but flagged: the till's clock is wrong.
constexpr std::int64_t kFutureFlagUs = 5LL * 60 * 1'000'000;
constexpr std::int64_t kSlice = 20'000;  // members or lots per transaction of the daily work

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

std::string_view kind_name(TxnKind k) {
  switch (k) {
    case TxnKind::sale: return "sale";
    case TxnKind::refund: return "refund";
    case TxnKind::enrollment: return "enrollment";
  }
  return "sale";
}

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

class SqliteStorage final : public Storage {
 public:
  SqliteStorage(const std::string& path, const EnrollmentOpener& opener, bool serving, LedgerPolicy policy)
      : db_(path, false), opener_(opener), mark_(path + ".feed"), policy_(policy) {
    migrate(std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::system_clock::now().time_since_epoch()).count());
    ledger_.emplace(db_, seq_);
    if (serving) {
      db_.exec("PRAGMA wal_autocheckpoint=0");
      checkpointer_.emplace(path);
    }
    find_batch_.emplace(db_, "SELECT digest, answer FROM batches WHERE store_id = ?1 AND batch_id = ?2");
    insert_batch_.emplace(db_, "INSERT INTO batches(store_id, batch_id, digest, answer, received_us) "
                               "VALUES(?1, ?2, ?3, ?4, ?5)");
    find_txn_.emplace(db_, "SELECT digest, status, reason, member_id, member_version, rowid FROM txns WHERE txn_id = ?1");
    insert_txn_.emplace(db_, "INSERT INTO txns(txn_id, store_id, till_id, kind, digest, status, reason, member_id, "
                             "member_version, at_us, received_us, body, rowid, held_us, duplicate_of, waits_for) "
                             "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)");
    update_txn_.emplace(db_, "UPDATE txns SET status = ?2, reason = ?3, member_id = ?4, member_version = ?5, "
                             "duplicate_of = ?6, waits_for = ?7 WHERE rowid = ?1");
    waiting_for_.emplace(db_, "SELECT rowid FROM txns WHERE waits_for = ?1 AND status = 'held' ORDER BY rowid");
    find_refused_.emplace(db_, "SELECT reason FROM refused WHERE digest = ?1");
    insert_refused_.emplace(db_, "INSERT INTO refused(store_id, till_id, txn_id, digest, reason, body, received_us) "
                                 "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    close_held_.emplace(db_, "UPDATE flags SET closed_us = ?2 WHERE txn_id = ?1 AND kind = 'held' AND closed_us IS NULL");
    last_txn_row_.emplace(db_, "SELECT COALESCE(MAX(rowid), 0) FROM txns");
    resolve_.emplace(db_, "SELECT COALESCE((SELECT member_id FROM aliases WHERE alias = ?1), ?1)");
    member_exists_.emplace(db_, "SELECT 1 FROM members WHERE id = ?1");
    apply_sale_.emplace(db_, "UPDATE members SET purchases = purchases + 1, "
                             "last_purchase_us = CASE WHEN last_purchase_us IS NULL OR last_purchase_us < ?2 "
                             "THEN ?2 ELSE last_purchase_us END, "
                             "last_purchase_off = CASE WHEN last_purchase_us IS NULL OR last_purchase_us < ?2 "
                             "THEN ?3 ELSE last_purchase_off END WHERE id = ?1");
    insert_sale_.emplace(db_, "INSERT INTO sales(txn_id, store_id, receipt_id, member_id, payable_minor, "
                              "points_earned, points_redeemed, at_us, till_points_earned, rules_version, spend_minor, rowid, "
                              "spend_sold_minor) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?11)");
    find_sale_.emplace(db_, "SELECT s.member_id, s.payable_minor, s.refunded_minor, s.points_earned, "
                            "s.till_points_earned, s.till_taken_back, s.points_redeemed, s.points_given_back, s.at_us, "
                            "s.rules_version, s.points_taken_back, s.rowid, s.spend_sold_minor, "
                            "(SELECT received_us FROM txns t WHERE t.rowid = s.rowid) FROM sales s "
                            "WHERE s.rowid = (SELECT rowid FROM txns WHERE txn_id = ?1)");
    original_of_.emplace(db_, "SELECT COALESCE((SELECT duplicate_of FROM txns WHERE txn_id = ?1), ?1)");
    prior_sale_.emplace(db_, "SELECT t.txn_id, t.member_id, t.member_version, t.body FROM sales s "
                             "JOIN txns t ON t.rowid = s.rowid WHERE s.store_id = ?1 AND s.receipt_id = ?2 AND t.till_id = ?3");
    prior_refund_.emplace(db_, "SELECT t.txn_id, t.member_id, t.member_version, t.body FROM refunds r "
                               "JOIN txns t ON t.txn_id = r.txn_id WHERE r.sale_txn_id = ?1 AND r.refund_id = ?2 "
                               "AND t.store_id = ?3 AND t.till_id = ?4");
    update_sale_.emplace(db_, "UPDATE sales SET refunded_minor = refunded_minor + ?2, till_taken_back = till_taken_back + ?3, "
                              "points_taken_back = points_taken_back + ?4, points_given_back = points_given_back + ?5, "
                              "spend_minor = ?6 WHERE rowid = ?1");
    txn_body_.emplace(db_, "SELECT body FROM txns WHERE rowid = ?1");
    received_of_.emplace(db_, "SELECT received_us, reason FROM txns WHERE rowid = ?1");
    refund_bodies_.emplace(db_, "SELECT t.body FROM refunds r JOIN txns t ON t.txn_id = r.txn_id "
                                "WHERE r.sale_txn_id = ?1 ORDER BY t.rowid");
    upsert_till_.emplace(db_, "INSERT INTO tills(store_id, till_id, last_batch_us, backlog, skew_us, sent_us) "
                              "VALUES(?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(store_id, till_id) DO UPDATE SET "
                              "last_batch_us = excluded.last_batch_us, backlog = excluded.backlog, "
                              "skew_us = excluded.skew_us, sent_us = COALESCE(excluded.sent_us, sent_us)");
    till_sent_.emplace(db_, "SELECT sent_us FROM tills WHERE store_id = ?1 AND till_id = ?2");
    insert_refund_.emplace(db_, "INSERT INTO refunds(txn_id, sale_txn_id, refund_id, amount_minor, "
                                "points_taken_back, points_given_back) VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
    member_by_code_.emplace(db_, "SELECT member_id FROM member_codes WHERE hash = ?1");
    insert_alias_.emplace(db_, "INSERT INTO aliases(alias, member_id) VALUES(?1, ?2)");
    merge_member_.emplace(db_, "UPDATE members SET name = CASE WHEN name = '' THEN ?2 ELSE name END, "
                               "masked_name = CASE WHEN name = '' THEN ?3 ELSE masked_name END, "
                               "phone = COALESCE(phone, ?4), birthday = COALESCE(birthday, ?5), "
                               "version = version + 1, seq = ?6 WHERE id = ?1 RETURNING version");
    insert_member_.emplace(db_, "INSERT INTO members(id, version, seq, name, phone, masked_name, tier, birthday, "
                                "purchases, points, created_us) VALUES(?1, 1, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8, ?9)");
    insert_code_.emplace(db_, "INSERT INTO member_codes(hash, member_id, kind) VALUES(?1, ?2, ?3)");
    upsert_store_.emplace(db_, "INSERT INTO stores(store_id, last_batch_us, txns, last_txn_lag_us) "
                               "VALUES(?1, ?2, ?3, ?4) ON CONFLICT(store_id) DO UPDATE SET "
                               "last_batch_us = excluded.last_batch_us, txns = txns + excluded.txns, "
                               "last_txn_lag_us = excluded.last_txn_lag_us");
    get_meta_.emplace(db_, "SELECT value FROM meta WHERE key = ?1");
    set_meta_.emplace(db_, "INSERT INTO meta(key, value) VALUES(?1, ?2) "
                           "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    changed_members_.emplace(db_, "SELECT id, version, seq, masked_name, tier, birthday, purchases, "
                                  "last_purchase_us, last_purchase_off, points, spend_minor FROM members "
                                  "WHERE seq > ?1 ORDER BY seq LIMIT ?2");
    codes_of_.emplace(db_, "SELECT hash FROM member_codes WHERE member_id = ?1 ORDER BY kind, hash");
    changed_coupons_.emplace(db_, "SELECT code, version, seq, member_id, definition, used_txn_id IS NOT NULL FROM coupons "
                                  "WHERE seq > ?1 ORDER BY seq LIMIT ?2");
    current_rules_.emplace(db_, "SELECT version, json FROM rules ORDER BY rowid DESC LIMIT 1");
    check_generation();
  }

  // Every database has a generation; one whose feed ends before the mark beside it was put back from
  // a backup, and takes a new one.
  void check_generation() {
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    const std::string g = meta_text("generation");
    const std::int64_t seq = meta_int("feed_seq");
    const auto mark = mark_.read();
    if (g.empty()) {
      roll_generation("a new database", false);
    } else if (mark && mark->first == g && mark->second > seq) {
      roll_generation("the database's changes feed ends at " + std::to_string(seq) + ", before " +
                      std::to_string(mark->second) + " where it was: restored from a backup");
    }
    tx.commit();
    mark_.note(meta_text("generation"), seq);
  }

  BatchOutcome apply_batch(std::string_view store_id, const protocol::Batch& batch, const std::vector<Txn>& txns,
                           std::int64_t now_us) override {
    std::string batch_digest_input = batch.till_id;
    for (const Txn& t : txns) (batch_digest_input += '\n') += t.digest;
    const std::string digest = sha256_hex(batch_digest_input);

    std::lock_guard lock(mu_);
    Transaction tx(db_);
    BatchOutcome out;
    find_batch_->bind(1, store_id).bind(2, batch.batch_id);
    if (find_batch_->step()) {
      const bool same = find_batch_->text(0) == digest;
      out.body = find_batch_->text(1);
      find_batch_->reset();
      if (!same)
        throw RequestError(409, "batch_conflict",
                           "batch_id " + batch.batch_id + " was used before for other transactions");
      out.replayed = true;
      return out;
    }
    find_batch_->reset();

    begin_ledger(now_us);
    protocol::BatchAnswer answer;
    answer.results.reserve(txns.size());
    std::int64_t newest_at = INT64_MIN;
    std::int64_t fresh = 0;
    for (std::size_t i = 0; i < txns.size(); ++i) {
      const Txn& t = txns[i];
      protocol::TxnResult r;
      r.txn_id = t.txn_id;
      const Outcome o = receive(t, now_us, r);
      if (o == Outcome::fresh) {
        ++fresh;
        if (t.invalid.empty()) newest_at = std::max(newest_at, t.at.utc_micros);
      }
      if (o == Outcome::answered || r.status == protocol::TxnStatus::duplicate) ++out.duplicates;
      else if (r.status == protocol::TxnStatus::rejected) ++out.rejected;
      else {
        ++out.applied;
        if (t.kind == TxnKind::sale) ++out.sales_applied;
      }
      answer.results.push_back(std::move(r));
    }
    out.body = protocol::batch_answer_json(answer);
    insert_batch_->bind(1, store_id).bind(2, batch.batch_id).bind(3, digest).bind(4, out.body).bind(5, now_us).run();
    upsert_store_->bind(1, store_id).bind(2, now_us).bind(3, fresh)
        .bind(4, newest_at != INT64_MIN ? now_us - newest_at : std::int64_t{0}).run();
    upsert_till_->bind(1, store_id).bind(2, batch.till_id).bind(3, now_us).bind(4, batch.queued);
    if (batch.sent_at) upsert_till_->bind(5, batch.sent_at->utc_micros - now_us).bind(6, batch.sent_at->utc_micros);
    else upsert_till_->bind_null(5).bind_null(6);
    upsert_till_->run();
    end_ledger();
    commit_feed(tx);
    if (checkpointer_) checkpointer_->poke();
    return out;
  }

  std::string generation() override {
    std::lock_guard lock(mu_);
    return meta_text("generation");
  }

  std::string new_generation(std::string_view why) override {
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    const std::string g = roll_generation(why);
    tx.commit();
    return g;
  }

  std::string changes(std::int64_t after, std::int64_t limit, const std::optional<std::string>& generation,
                      const TillView& seen) override {
    std::lock_guard lock(mu_);
    std::string current = meta_text("generation");
    if (generation) {
      // What the till saw in this generation (or before it had one) that this database does not hold:
      // the database went back since. A cursor alone proves nothing for a till of no generation yet
      // (new, or seeded from a file): past the feed's end, it starts over.
      std::string why;
      if (generation->empty() && after > meta_int("feed_seq")) after = 0;
      if (generation->empty() || *generation == current) {
        if (after > meta_int("feed_seq")) {
          why = "a till's cursor " + std::to_string(after) + " is past the feed's end " + std::to_string(meta_int("feed_seq"));
        } else if (seen.applied && !txn_known(*seen.applied)) {
          why = "a till had transaction " + *seen.applied + " applied, which this database does not hold";
        } else if (seen.member) {
          const std::int64_t have = member_version(seen.member->first);
          if (have < seen.member->second)
            why = "a till holds member " + seen.member->first + " at version " + std::to_string(seen.member->second) +
                  ", this database at " + std::to_string(have);
        }
      }
      // A store's till is authenticated; what it says costs, at worst, a download of the feed again,
      // and the flag names the store.
      if (!why.empty()) {
        Transaction tx(db_);
        current = roll_generation(why + (seen.store_id.empty() ? "" : " (store " + seen.store_id + ")"));
        tx.commit();
        after = 0;
      }
      if (!generation->empty() && *generation != current) after = 0;  // another generation's cursor means nothing here
    }
    ReadTransaction read(db_);
    // Member records go out whatever the rules: only their next_tier needs them.
    std::shared_ptr<const engine::RuleSet> rules;
    try {
      ledger_->refresh();
      rules = ledger_->current_rules();
    } catch (const detail::UnloadableRules&) {
    }
    std::vector<std::pair<std::int64_t, protocol::MemberRecord>> members;
    changed_members_->bind(1, after).bind(2, limit + 1);
    while (changed_members_->step()) {
      Statement& s = *changed_members_;
      protocol::MemberRecord rec;
      rec.member.id = s.text(0);
      rec.version = s.integer(1);
      rec.masked_name = s.text(3);
      rec.member.tier = s.text(4);
      if (const auto b = s.optional_integer(5)) rec.member.birthday = month_day_from_int(*b);
      rec.member.purchases = s.integer(6);
      if (const auto us = s.optional_integer(7))
        rec.member.last_purchase_at = engine::Instant{*us, static_cast<std::int32_t>(s.integer(8))};
      // Within what tills accept, whatever the database holds.
      rec.member.points = std::clamp(s.integer(9), -engine::kMaxPoints, engine::kMaxPoints);
      if (rules) rec.member.next_tier = detail::Ledger::next_tier(*rules, rec.member.tier, s.integer(10));
      members.emplace_back(s.integer(2), std::move(rec));
    }
    changed_members_->reset();
    std::vector<std::pair<std::int64_t, protocol::CouponRecord>> coupons;
    changed_coupons_->bind(1, after).bind(2, limit + 1);
    while (changed_coupons_->step()) {
      Statement& s = *changed_coupons_;
      protocol::CouponRecord rec;
      rec.version = s.integer(1);
      rec.member_id = s.optional_text(3);
      auto def = engine::detail::parse_json(s.text(4), "coupon");
      engine::detail::ObjectReader r(def, "coupon");
      rec.coupon = engine::detail::read_coupon_fields(r, s.text(0));
      rec.coupon.used = s.integer(5) != 0;
      coupons.emplace_back(s.integer(2), std::move(rec));
    }
    changed_coupons_->reset();

    protocol::ChangesDocument doc;
    doc.next = after;
    std::size_t mi = 0, ci = 0;
    while (static_cast<std::int64_t>(doc.members.size() + doc.coupons.size()) < limit &&
           (mi < members.size() || ci < coupons.size())) {
      if (ci >= coupons.size() || (mi < members.size() && members[mi].first < coupons[ci].first)) {
        doc.next = members[mi].first;
        doc.members.push_back(std::move(members[mi++].second));
      } else {
        doc.next = coupons[ci].first;
        doc.coupons.push_back(std::move(coupons[ci++].second));
      }
    }
    doc.more = mi < members.size() || ci < coupons.size();
    if (generation) doc.generation = current;
    for (protocol::MemberRecord& rec : doc.members) {
      rec.member.next_expiry = ledger_->next_expiry(rec.member.id, rules.get());
      if (rec.member.next_expiry)
        rec.member.next_expiry->points = std::clamp<std::int64_t>(rec.member.next_expiry->points, 0, engine::kMaxPoints);
      codes_of_->bind(1, rec.member.id);
      while (codes_of_->step()) {
        const std::string blob = codes_of_->text(0);
        protocol::CodeHash h{};
        if (blob.size() != h.size()) throw store::StorageError("a member code hash is not 32 bytes");
        std::memcpy(h.data(), blob.data(), h.size());
        rec.codes.push_back(h);
      }
      codes_of_->reset();
    }
    return protocol::changes_to_json(doc);
  }

  std::optional<RulesRecord> current_rules() override {
    std::lock_guard lock(mu_);
    std::optional<RulesRecord> out;
    if (current_rules_->step()) out = RulesRecord{current_rules_->text(0), current_rules_->text(1)};
    current_rules_->reset();
    return out;
  }

  bool publish_rules(const RulesRecord& rules, std::int64_t now_us) override {
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    Statement find(db_, "SELECT json FROM rules WHERE version = ?1");
    find.bind(1, rules.version);
    if (find.step()) {
      if (find.text(0) != rules.json)
        throw std::runtime_error("rules version " + rules.version +
                                 " was published before with other content: give this rule set a new version");
      return false;
    }
    Statement insert(db_, "INSERT INTO rules(version, json, published_us) VALUES(?1, ?2, ?3)");
    insert.bind(1, rules.version).bind(2, rules.json).bind(3, now_us).run();
    tx.commit();
    return true;
  }

  ImportReport import_members(const std::vector<ImportedMember>& rows, std::int64_t now_us) override {
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    seq_ = meta_int("feed_seq");
    ImportReport report;
    Statement exists(db_, "SELECT 1 FROM members WHERE id = ?1");
    Statement update(db_, "UPDATE members SET name = ?2, phone = ?3, masked_name = ?4, birthday = ?5, "
                          "version = version + 1, seq = ?6 WHERE id = ?1");
    Statement tier_of(db_, "SELECT tier FROM members WHERE id = ?1");
    Statement set_tier(db_, "UPDATE members SET tier = ?2, grace_until_us = NULL WHERE id = ?1");
    ledger_->refresh();
    const auto rules = ledger_->current_rules();
    const std::int64_t expires = detail::expiry_after(now_us, rules ? rules->expiry_months : 24,
                                                      rules ? rules->utc_offset_minutes : 0);
    Statement drop_codes(db_, "DELETE FROM member_codes WHERE member_id = ?1");
    // History from the old system never undoes what headquarters has seen since.
    Statement history(db_, "UPDATE members SET purchases = MAX(purchases, ?2) WHERE id = ?1");
    Statement last_purchase(db_, "UPDATE members SET last_purchase_us = ?2, last_purchase_off = ?3 "
                                 "WHERE id = ?1 AND (last_purchase_us IS NULL OR last_purchase_us < ?2)");
    Statement code_owner(db_, "SELECT member_id FROM member_codes WHERE hash = ?1");
    for (const ImportedMember& m : rows) {
      exists.bind(1, m.id);
      const bool known = exists.step();
      exists.reset();
      const std::string masked = till::mask_name(m.name);
      std::optional<std::int64_t> birthday;
      if (m.birthday) birthday = month_day_to_int(*m.birthday);
      if (known) {
        update.bind(1, m.id).bind(2, m.name).bind(3, m.phone.empty() ? std::optional<std::string>() : m.phone)
            .bind(4, masked).bind(5, birthday).bind(6, ++seq_).run();
        drop_codes.bind(1, m.id).run();
        tier_of.bind(1, m.id);
        tier_of.step();
        const std::string old_tier = tier_of.text(0);
        tier_of.reset();
        if (old_tier != m.tier) {
          set_tier.bind(1, m.id).bind(2, m.tier).run();
          ledger_->record_tier(m.id, now_us, old_tier, m.tier, 0, "import");
        }
        ++report.updated;
      } else {
        insert_member_->bind(1, m.id).bind(2, ++seq_).bind(3, m.name)
            .bind(4, m.phone.empty() ? std::optional<std::string>() : m.phone).bind(5, masked).bind(6, m.tier)
            .bind(7, birthday).bind(8, std::int64_t{0}).bind(9, now_us).run();
        ledger_->record_tier(m.id, now_us, "", m.tier, 0, "import");
        ++report.added;
      }
      if (m.purchases) history.bind(1, m.id).bind(2, *m.purchases).run();
      if (m.last_purchase_at)
        last_purchase.bind(1, m.id).bind(2, m.last_purchase_at->utc_micros)
            .bind(3, std::int64_t{m.last_purchase_at->offset_minutes}).run();
      // The imported balance through the ledger: an increase is a lot earned now, a decrease takes
      // the oldest lots first.
      auto state = ledger_->load(m.id);
      const std::int64_t delta = m.points - state->points;
      if (delta > 0) ledger_->credit(*state, delta, now_us, expires, std::nullopt);
      else ledger_->debit(*state, -delta);
      ledger_->save(*state, seq_);
      const auto add_code = [&](const std::string& code, const char* kind) {
        if (code.empty()) return;
        const protocol::CodeHash h = opener_.hash(code);
        code_owner.bind_blob(1, h.data(), h.size());
        if (code_owner.step()) {
          const std::string owner = code_owner.text(0);
          code_owner.reset();
          throw std::runtime_error("member " + m.id + ": its " + kind + " is already member " + owner + "'s");
        }
        code_owner.reset();
        insert_code_->bind_blob(1, h.data(), h.size()).bind(2, m.id).bind(3, kind).run();
      };
      add_code(m.phone, "phone");
      add_code(m.card, "card");
    }
    set_meta_int("feed_seq", seq_);
    commit_feed(tx);
    return report;
  }

  std::vector<MemberRow> members(std::int64_t limit) override {
    std::lock_guard lock(mu_);
    Statement s(db_, "SELECT id FROM members ORDER BY id LIMIT ?1");
    s.bind(1, limit);
    std::vector<std::string> ids;
    while (s.step()) ids.push_back(s.text(0));
    s.reset();
    std::vector<MemberRow> out;
    for (const auto& id : ids) out.push_back(*member_locked(id));
    return out;
  }

  std::optional<MemberRow> member(std::string_view id) override {
    std::lock_guard lock(mu_);
    return member_locked(id);
  }

  std::vector<StoreRow> stores() override {
    std::lock_guard lock(mu_);
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

  std::vector<SaleRecord> sales_by_receipt(std::string_view store_id, std::string_view receipt_id) override {
    std::lock_guard lock(mu_);
    Statement s(db_, "SELECT t.txn_id, t.store_id, t.body, s.member_id FROM sales s JOIN txns t ON t.rowid = s.rowid "
                     "WHERE s.store_id = ?1 AND s.receipt_id = ?2");
    s.bind(1, store_id).bind(2, receipt_id);
    std::vector<SaleRecord> out;
    while (s.step()) out.push_back(SaleRecord{s.text(0), s.text(1), s.text(2), {}, s.optional_text(3), {}});
    s.reset();
    Statement refunds(db_, "SELECT t.body FROM refunds r JOIN txns t ON t.txn_id = r.txn_id WHERE r.sale_txn_id = ?1 "
                           "ORDER BY t.rowid");
    Statement copies(db_, "SELECT txn_id FROM txns WHERE duplicate_of = ?1");
    for (SaleRecord& rec : out) {
      copies.bind(1, rec.txn_id);
      while (copies.step()) rec.copies.push_back(copies.text(0));
      copies.reset();
      refunds.bind(1, rec.txn_id);
      while (refunds.step()) rec.refunds.push_back(refunds.text(0));
      refunds.reset();
    }
    return out;
  }

  ExpiryReport expire(std::int64_t now_us) override {
    ExpiryReport report;
    while (true) {
      std::lock_guard lock(mu_);
      Transaction tx(db_);
      seq_ = meta_int("feed_seq");
      ledger_->refresh();
      if (!ledger_->expire_slice(now_us, kSlice, report)) break;
      set_meta_int("feed_seq", seq_);
      commit_feed(tx);
    }
    return report;
  }

  TierPassReport tier_pass(std::int64_t now_us) override { return run_pass(now_us, "", false, {}); }

  // The pass in slices from after member `after`; `daily`: the progress is kept in meta with each
  // slice, so that a pass cut short (a stop, an error) resumes where it was.
  TierPassReport run_pass(std::int64_t now_us, std::string after, bool daily, const std::function<bool()>& stopping) {
    TierPassReport report;
    while (!(stopping && stopping())) {
      std::lock_guard lock(mu_);
      Transaction tx(db_);
      seq_ = meta_int("feed_seq");
      ledger_->refresh();
      const auto last = ledger_->tier_pass_slice(now_us, after, kSlice, report);
      if (daily && last) set_meta_->bind(1, "tier_pass_after").bind(2, *last).run();
      if (daily && !last) set_meta_int("tier_pass_done", meta_int("tier_pass_day"));
      if (last) set_meta_int("feed_seq", seq_);
      commit_feed(tx);
      if (!last) break;
      after = *last;
    }
    return report;
  }

  std::optional<std::pair<ExpiryReport, std::optional<TierPassReport>>> daily(
      std::int64_t now_us, const std::function<bool()>& stopping) override {
    std::optional<TierPassReport> tiers;
    std::optional<std::string> resume;
    {
      std::lock_guard lock(mu_);
      ledger_->refresh();
      const auto rules = ledger_->current_rules();
      if (!rules) return std::nullopt;
      const std::int64_t today = detail::day_start(now_us, rules->utc_offset_minutes);
      Transaction tx(db_);
      if (meta_int("tier_pass_done") != today) {
        if (meta_int("tier_pass_day") != today) {
          // A new day: its pass starts from the first member.
          set_meta_int("tier_pass_day", today);
          set_meta_->bind(1, "tier_pass_after").bind(2, "").run();
        }
        get_meta_->bind(1, "tier_pass_after");
        resume = get_meta_->step() ? get_meta_->text(0) : std::string();
        get_meta_->reset();
      }
      tx.commit();
    }
    if (resume) tiers = run_pass(now_us, *resume, true, stopping);
    if (stopping && stopping()) return std::nullopt;
    ExpiryReport expired = expire(now_us);
    if (!tiers && expired.lots == 0) return std::nullopt;
    return std::make_pair(expired, tiers);
  }

  std::vector<IssuedCoupon> issue_coupons(const CouponIssue& issue, std::int64_t now_us) override {
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    seq_ = meta_int("feed_seq");
    std::vector<std::string> members;
    if (issue.tier) {
      Statement of_tier(db_, "SELECT id FROM members WHERE tier = ?1 ORDER BY id");
      of_tier.bind(1, *issue.tier);
      while (of_tier.step()) members.push_back(of_tier.text(0));
    }
    for (const std::string& id : issue.members) {
      const std::string m = resolve(id);
      if (!member_exists(m)) throw std::runtime_error("no member " + id);
      members.push_back(m);
    }
    if (issue.code && members.size() != 1)
      throw std::runtime_error("--code gives one coupon: name exactly one member (" + std::to_string(members.size()) +
                               " named)");
    Statement exists(db_, "SELECT 1 FROM coupons WHERE code = ?1");
    Statement insert(db_, "INSERT INTO coupons(code, version, seq, member_id, definition, issued_us) "
                          "VALUES(?1, 1, ?2, ?3, ?4, ?5)");
    std::vector<IssuedCoupon> out;
    out.reserve(members.size());
    for (const std::string& m : members) {
      std::string code;
      for (int attempt = 0;; ++attempt) {
        code = issue.code ? *issue.code : issue.prefix + random_code(12);
        exists.bind(1, code);
        const bool taken = exists.step();
        exists.reset();
        if (!taken) break;
        if (issue.code || attempt > 8) throw std::runtime_error("coupon code " + code + " is issued already");
      }
      insert.bind(1, code).bind(2, ++seq_).bind(3, m).bind(4, issue.definition).bind(5, now_us).run();
      out.push_back(IssuedCoupon{m, code});
    }
    set_meta_int("feed_seq", seq_);
    commit_feed(tx);
    return out;
  }

  std::vector<FlagRow> flags(bool include_closed, std::int64_t limit) override {
    std::lock_guard lock(mu_);
    Statement s(db_, include_closed ? "SELECT id, kind, raised_us, store_id, till_id, member_id, txn_id, detail, closed_us "
                                      "FROM flags ORDER BY id DESC LIMIT ?1"
                                    : "SELECT id, kind, raised_us, store_id, till_id, member_id, txn_id, detail, closed_us "
                                      "FROM flags WHERE closed_us IS NULL ORDER BY id DESC LIMIT ?1");
    s.bind(1, limit);
    std::vector<FlagRow> out;
    while (s.step()) out.push_back(flag_row(s));
    return out;
  }

  std::optional<MemberDetail> member_detail(std::string_view id) override {
    std::lock_guard lock(mu_);
    ReadTransaction read(db_);  // one moment, while `serve` writes beside
    auto m = member_locked(id);
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

  std::vector<HeldRow> held(bool include_applied, std::int64_t limit) override {
    std::lock_guard lock(mu_);
    ReadTransaction read(db_);
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
    std::lock_guard lock(mu_);
    return held_locked(id);
  }

  std::vector<HeldRow> retry_held(const std::vector<std::string>& ids, std::int64_t now_us, bool accept) override {
    std::lock_guard lock(mu_);
    Transaction tx(db_);
    std::vector<std::int64_t> rows;
    if (ids.empty()) {
      Statement s(db_, "SELECT rowid FROM txns WHERE status IN ('held', 'rejected') ORDER BY rowid");
      while (s.step()) rows.push_back(s.integer(0));
    } else {
      for (const std::string& id : ids) {
        const auto row = held_locked(id);
        if (!row) throw std::runtime_error("no held transaction " + id);
        if (row->id.front() == 'r')
          throw std::runtime_error(id + " has no transaction id of its own: it cannot be applied, only inspected");
        rows.push_back(std::stoll(row->id));
      }
      std::sort(rows.begin(), rows.end());
    }
    begin_ledger(now_us);
    std::vector<HeldRow> out;
    for (const std::int64_t row : rows) {
      txn_body_->bind(1, row);
      if (!txn_body_->step()) throw store::StorageError("held transaction row " + std::to_string(row) + " is gone");
      const std::string body = txn_body_->text(0);
      txn_body_->reset();
      const auto before = held_locked(std::to_string(row));
      // Only what is held or refused is applied again: one applied, or a duplicate of one, never is.
      if (before->status == "held" || before->status == "rejected") {
        auto t = engine::detail::guarded([&] { return read_txn(engine::detail::parse_json(body, "txn"), "txn"); });
        if (t) {
          protocol::TxnResult r;
          // --accept overrides only what the operator was shown: this transaction's own reason.
          accept_conflicts_ = accept && before->reason.rfind("receipt_conflict:", 0) == 0;
          accept_future_ = accept && before->reason.rfind("future_timestamp:", 0) == 0;
          accept_store_ = accept && before->reason.rfind("wrong_store:", 0) == 0;
          try {
            retry(*t, row, now_us, r);
          } catch (...) {
            accept_conflicts_ = accept_future_ = accept_store_ = false;
            throw;
          }
          accept_conflicts_ = accept_future_ = accept_store_ = false;
        }
      }
      out.push_back(*held_locked(std::to_string(row)));
    }
    end_ledger();
    commit_feed(tx);
    return out;
  }

 private:
  static constexpr const char* kHeldColumns =
      "rowid, txn_id, store_id, till_id, kind, status, COALESCE(reason, ''), received_us, at_us, held_us, body";
  static constexpr const char* kRefusedColumns = "rowid, txn_id, store_id, till_id, reason, received_us, body";

  static HeldRow held_row(Statement& s, bool with_body) {
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
  static HeldRow refused_row(Statement& s, bool with_body) {
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

  std::optional<HeldRow> held_locked(std::string_view id) {
    if (!id.empty() && id.front() == 'r' && id.size() > 1 &&
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

  static FlagRow flag_row(Statement& s) {
    return FlagRow{s.integer(0), s.text(1), s.integer(2), s.optional_text(3).value_or(""), s.optional_text(4).value_or(""),
                   s.optional_text(6).value_or(""), s.optional_text(5), s.text(7), s.optional_integer(8)};
  }

  // Coupon codes: unambiguous letters and digits (no 0/O, 1/I), from OpenSSL's generator.
  static std::string random_code(std::size_t n) {
    static const char alphabet[] = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ";  // 32 symbols
    std::vector<unsigned char> bytes(n);
    if (RAND_bytes(bytes.data(), static_cast<int>(n)) != 1) throw std::runtime_error("no randomness for a coupon code");
    std::string out(n, '2');
    for (std::size_t i = 0; i < n; ++i) out[i] = alphabet[bytes[i] & 31];
    return out;
  }

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
    db_.set_user_version(kSchemaVersion);
    t.commit();
  }

  bool txn_known(const std::string& txn_id) {
    find_txn_->bind(1, txn_id);
    const bool known = find_txn_->step();
    find_txn_->reset();
    return known;
  }
  std::int64_t member_version(const std::string& id) {
    Statement s(db_, "SELECT version FROM members WHERE id = ?1");
    s.bind(1, id);
    return s.step() ? s.integer(0) : 0;
  }

  std::string meta_text(const char* key) {
    get_meta_->bind(1, key);
    std::string v = get_meta_->step() ? get_meta_->optional_text(0).value_or("") : std::string();
    get_meta_->reset();
    return v;
  }

  // A new generation of this database (inside a write transaction): tills start their cursor over.
  std::string roll_generation(std::string_view why, bool flag = true) {
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1) throw std::runtime_error("no randomness for a generation");
    static const char* const digits = "0123456789abcdef";
    std::string g = "g-";
    for (unsigned char c : b) (g += digits[c >> 4]) += digits[c & 15];
    set_meta_->bind(1, "generation").bind(2, g).run();
    if (flag) ledger_->flag("new_generation", nullptr, std::nullopt,
                  nlohmann::ordered_json{{"generation", g}, {"why", std::string(why)}}.dump(),
                  std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::system_clock::now().time_since_epoch()).count());
    mark_.note(g, meta_int("feed_seq"), true);
    return g;
  }

  std::int64_t meta_int(const char* key) {
    get_meta_->bind(1, key);
    const std::int64_t v = get_meta_->step() ? get_meta_->integer(0) : 0;
    get_meta_->reset();
    return v;
  }
  void set_meta_int(const char* key, std::int64_t v) { set_meta_->bind(1, key).bind(2, v).run(); }

  std::string resolve(const std::string& id) {
    resolve_->bind(1, id);
    resolve_->step();
    std::string out = resolve_->text(0);
    resolve_->reset();
    return out;
  }

  bool member_exists(const std::string& id) {
    member_exists_->bind(1, id);
    const bool found = member_exists_->step();
    member_exists_->reset();
    return found;
  }

  std::int64_t returning_version(Statement& s) {
    if (!s.step()) throw store::StorageError("a member update returned no row");
    const std::int64_t v = s.integer(0);
    s.reset();
    return v;
  }

  // The start and end of a write transaction that applies transactions: the feed's counter, the
  // rules, the next row of txns.
  void begin_ledger(std::int64_t now_us) {
    now_us_ = now_us;
    seq_ = meta_int("feed_seq");
    future_flagged_ = false;
    past_flagged_.clear();
    last_txn_row_->step();
    next_row_ = last_txn_row_->integer(0) + 1;
    last_txn_row_->reset();
    ledger_->refresh();
  }
  void end_ledger() { set_meta_int("feed_seq", seq_); }
  // Commits a write transaction that may have moved the changes feed, then the feed's mark.
  void commit_feed(Transaction& tx) {
    tx.commit();
    mark_.note(meta_text("generation"), meta_int("feed_seq"));
  }

  enum class Outcome { fresh, answered, retried };

  // One transaction of a batch: stored and applied when it is new; answered from its record when it
  // was applied or refused for good; applied now when it was held and its cause is gone. Nothing
  // received is forgotten: a transaction that cannot take a row of txns is kept in `refused`.
  Outcome receive(const Txn& t, std::int64_t now_us, protocol::TxnResult& r) {
    // One that cannot be read is kept by its digest, so that its id (if it has one) stays free for
    // the transaction it should have been.
    if (!t.invalid.empty()) {
      refuse_unkeyed(t, t.invalid, now_us, r);
      return Outcome::fresh;
    }
    find_txn_->bind(1, t.txn_id);
    if (find_txn_->step()) {
      Statement& f = *find_txn_;
      const bool same = f.text(0) == t.digest;
      const std::string status = f.text(1);
      const std::string reason = f.optional_text(2).value_or("");
      r.member_id = f.optional_text(3);
      r.member_version = f.optional_integer(4).value_or(0);
      const std::int64_t row = f.integer(5);
      find_txn_->reset();
      if (!same) {
        r.member_id.reset();
        r.member_version = 0;
        refuse_unkeyed(t, "txn_conflict: txn_id " + t.txn_id + " was received before with other content", now_us, r);
        return Outcome::fresh;
      }
      const bool in_ledger = status == "applied" || status == "duplicate";
      if (in_ledger || protocol::is_final_refusal(reason)) {
        r.status = in_ledger ? protocol::TxnStatus::duplicate : protocol::TxnStatus::rejected;
        r.reason = in_ledger ? "" : reason;
        return Outcome::answered;
      }
      // Sent again, by its own store this time (its till has its own certificate now): a wrong_store
      // it was held for is gone.
      from_own_store_ = t.sent_by_store.empty();
      retry(t, row, now_us, r);
      from_own_store_ = false;
      return Outcome::retried;
    }
    find_txn_->reset();
    row_ = next_row_++;  // the transaction's row in txns, which its sale row shares
    duplicate_of_.reset();
    waits_for_.reset();
    received_us_ = now_us;
    check_past(t, now_us);
    apply_one(t, now_us, r);
    const bool applied = r.status != protocol::TxnStatus::rejected;
    insert_txn_->bind(1, t.txn_id).bind(2, t.store_id).bind(3, t.till_id).bind(4, kind_name(t.kind)).bind(5, t.digest)
        .bind(6, status_name(r));
    if (r.reason.empty()) insert_txn_->bind_null(7); else insert_txn_->bind(7, r.reason);
    insert_txn_->bind(8, r.member_id);
    if (r.member_id) insert_txn_->bind(9, r.member_version); else insert_txn_->bind_null(9);
    insert_txn_->bind(10, t.at.utc_micros).bind(11, now_us).bind(12, t.body).bind(13, row_);
    if (applied) insert_txn_->bind_null(14); else insert_txn_->bind(14, now_us);
    insert_txn_->bind(15, duplicate_of_).bind(16, waits_for_).run();
    resolved(t, r);
    if (!applied) flag_unapplied(t, r.reason, now_us);
    return Outcome::fresh;
  }

  // A held transaction applied again: applied now, or held (or refused) with the reason of today.
  void retry(const Txn& t, std::int64_t row, std::int64_t now_us, protocol::TxnResult& r) {
    row_ = row;
    r = protocol::TxnResult{};
    r.txn_id = t.txn_id;
    const bool flagged = std::exchange(future_flagged_, true);  // a clock ahead was flagged when it first came
    duplicate_of_.reset();
    waits_for_.reset();
    received_of_->bind(1, row);
    std::string stored_reason;
    received_us_ = now_us;
    if (received_of_->step()) {
      received_us_ = received_of_->integer(0);
      stored_reason = received_of_->optional_text(1).value_or("");
    }
    received_of_->reset();
    // Sent with another store's certificate: applied only when an operator accepts it.
    sent_by_other_store_ =
        stored_reason.rfind("wrong_store:", 0) == 0 && !accept_store_ && !from_own_store_ ? stored_reason : "";
    from_own_store_ = false;  // what it releases in turn was not sent now
    past_dated_ = t.at.utc_micros < received_us_ - past_limit_us();  // judged, and flagged, when it first came
    apply_one(t, now_us, r);
    accept_conflicts_ = accept_future_ = accept_store_ = false;  // what it releases in turn is applied on its own terms
    sent_by_other_store_.clear();
    future_flagged_ = flagged;
    const bool applied = r.status != protocol::TxnStatus::rejected;
    update_txn_->bind(1, row).bind(2, status_name(r));
    if (r.reason.empty()) update_txn_->bind_null(3); else update_txn_->bind(3, r.reason);
    update_txn_->bind(4, r.member_id);
    if (r.member_id) update_txn_->bind(5, r.member_version); else update_txn_->bind_null(5);
    update_txn_->bind(6, duplicate_of_).bind(7, waits_for_).run();
    resolved(t, r);
    if (applied) close_held_->bind(1, t.txn_id).bind(2, now_us).run();
  }

  std::int64_t past_limit_us() const { return std::int64_t{policy_.past_days} * 86'400LL * 1'000'000; }

  // A transaction dated implausibly far back (a till whose clock was reset): more than past_days
  // before headquarters receives it, or before the till's previous batch (by the till's own clock;
  // ten minutes allowed for sales committed while that batch was on its way). It is applied, flagged
  // once per batch and till, and a sale's points expire as if earned now.
  void check_past(const Txn& t, std::int64_t now_us) {
    constexpr std::int64_t kInFlightUs = 10LL * 60 * 1'000'000;
    till_sent_->bind(1, t.store_id).bind(2, t.till_id);
    const std::optional<std::int64_t> previous = till_sent_->step() ? till_sent_->optional_integer(0) : std::nullopt;
    till_sent_->reset();
    const bool too_old = t.at.utc_micros < now_us - past_limit_us();
    const bool before_previous = previous && t.at.utc_micros < *previous - kInFlightUs;
    past_dated_ = too_old;
    if (!too_old && !before_previous) return;
    if (!past_flagged_.insert(t.till_id).second) return;
    nlohmann::ordered_json detail{{"at", engine::format_instant(t.at)},
                                  {"days_before_received", (now_us - t.at.utc_micros) / (86'400LL * 1'000'000)}};
    if (before_previous) detail["previous_batch_sent"] = engine::format_instant(engine::Instant{*previous, 0});
    detail["policy"] = too_old ? "applied; its points expire as if earned when headquarters received it"
                               : "applied as dated";
    ledger_->flag("past_timestamp", &t, t.member_id, detail.dump(), now_us);
  }

  // A transaction just applied may be what held ones wait for: a member (an enrollment, or the alias
  // it made) or a sale. Those are applied again now, in the order they arrived, and what they apply
  // in turn may release more (a bounded cascade within the batch's transaction).
  void resolved(const Txn& t, const protocol::TxnResult& r) {
    if (r.status == protocol::TxnStatus::rejected || cascading_) return;
    std::vector<std::string> keys;
    if (t.kind == TxnKind::enrollment && t.member_id) keys.push_back(*t.member_id);
    if (t.kind == TxnKind::sale) {
      keys.push_back(t.txn_id);
      keys.push_back(receipt_key(t.store_id, t.till_id, t.receipt_id));
    }
    if (keys.empty()) return;
    cascading_ = true;
    try {
      for (std::size_t k = 0; k < keys.size() && k < 10'000; ++k) {
        std::vector<std::int64_t> rows;
        waiting_for_->bind(1, keys[k]);
        while (waiting_for_->step()) rows.push_back(waiting_for_->integer(0));
        waiting_for_->reset();
        for (const std::int64_t row : rows) {
          txn_body_->bind(1, row);
          const bool found = txn_body_->step();
          const std::string body = found ? txn_body_->text(0) : std::string();
          txn_body_->reset();
          if (!found) continue;
          auto held = engine::detail::guarded([&] { return read_txn(engine::detail::parse_json(body, "txn"), "txn"); });
          if (!held) continue;
          protocol::TxnResult again;
          retry(*held, row, now_us_, again);
          if (again.status != protocol::TxnStatus::rejected) {
            if (held->kind == TxnKind::sale) {
              keys.push_back(held->txn_id);
              keys.push_back(receipt_key(held->store_id, held->till_id, held->receipt_id));
            }
            if (held->kind == TxnKind::enrollment && held->member_id) keys.push_back(*held->member_id);
          }
        }
      }
    } catch (...) {
      cascading_ = false;
      throw;
    }
    cascading_ = false;
  }

  // How txns records an outcome: applied, duplicate (of another txn_id: a restored till's), held or rejected.
  static const char* status_name(const protocol::TxnResult& r) {
    if (r.status == protocol::TxnStatus::applied) return "applied";
    if (r.status == protocol::TxnStatus::duplicate) return "duplicate";
    return protocol::is_final_refusal(r.reason) ? "rejected" : "held";
  }

  // What a refund held for a sale it names by its receipt waits for: store and till ids hold no '/',
  // member and txn ids (the other keys) none at all.
  static std::string receipt_key(const std::string& store, const std::string& till, const std::string& receipt) {
    return store + "/" + till + "/" + receipt;
  }

  // The transaction a duplicate stands for: itself, or the one a restored till's copy repeats.
  std::string original_of(const std::string& txn_id) {
    original_of_->bind(1, txn_id);
    original_of_->step();
    std::string out = original_of_->text(0);
    original_of_->reset();
    return out;
  }

  // A sale or refund applied before under the same receipt (or refund) id by the same till: the same
  // content is that transaction again (answered as a duplicate of it), other content is held
  // (receipt_conflict) for an operator. True when `r` is answered.
  // `what` names it in a conflict's reason, built only then: this runs for every sale applied.
  template <class What>
  bool repeated(Statement& prior, const Txn& t, const What& what, protocol::TxnResult& r) {
    if (!prior.step()) {
      prior.reset();
      return false;
    }
    const std::string txn_id = prior.text(0);
    const std::optional<std::string> member = prior.optional_text(1);
    const std::int64_t version = prior.optional_integer(2).value_or(0);
    const std::string body = prior.text(3);
    prior.reset();
    if (accept_conflicts_) return false;
    if (content_of(body) == content_sha(t)) {
      r.status = protocol::TxnStatus::duplicate;
      r.member_id = member;
      r.member_version = version;
      duplicate_of_ = txn_id;
    } else {
      reject(r, "receipt_conflict: " + what() + " was applied before as transaction " + txn_id +
                    " with other content (a till restored from a backup?)");
    }
    return true;
  }

  // SHA-256 of what a stored sale or refund body sells or returns (protocol::sale_content,
  // refund_content); "" when it cannot be read.
  std::string content_of(const std::string& body) {
    auto t = engine::detail::guarded([&] { return read_txn(engine::detail::parse_json(body, "txn"), "txn"); });
    return t ? content_sha(*t) : std::string();
  }
  std::string content_sha(const Txn& t) {
    if (t.kind == TxnKind::sale) {
      // The member as headquarters knows them: a restored till that enrolled the phone again names
      // another id of the same member.
      const auto member = t.member_id ? std::optional<std::string>(resolve(*t.member_id)) : std::nullopt;
      const auto coupon = t.input.coupon ? std::optional<std::string>(t.input.coupon->code) : std::nullopt;
      return sha256_hex(protocol::sale_content(member, coupon, t.input.redeem_points, t.input.lines));
    }
    std::vector<std::pair<std::string, std::int64_t>> units;
    for (const auto& i : t.refund_items) units.emplace_back(i.line_id, i.units);
    return sha256_hex(protocol::refund_content(refunded_sale(t), units));
  }

  // The sale a refund refunds: the one it names, or the one that repeats (a restored till's copy);
  // if headquarters never received the one it names, the sale applied under its store, till and
  // receipt (the same sale committed again under another txn_id, headquarters restored since).
  std::string refunded_sale(const Txn& t) {
    if (t.sale_store_id && !txn_known(t.sale_txn_id)) {
      prior_sale_->bind(1, *t.sale_store_id).bind(2, t.receipt_id).bind(3, *t.sale_till_id);
      std::optional<std::string> found;
      if (prior_sale_->step()) found = prior_sale_->text(0);
      prior_sale_->reset();
      if (found) return *found;
    }
    return original_of(t.sale_txn_id);
  }

  // A transaction with no usable id of its own, kept by its digest and refused for good.
  void refuse_unkeyed(const Txn& t, std::string reason, std::int64_t now_us, protocol::TxnResult& r) {
    find_refused_->bind(1, t.digest);
    const bool known = find_refused_->step();
    if (known) reason = find_refused_->text(0);
    find_refused_->reset();
    if (!known) {
      insert_refused_->bind(1, t.store_id).bind(2, t.till_id).bind(3, t.txn_id).bind(4, t.digest).bind(5, reason)
          .bind(6, t.body).bind(7, now_us).run();
      flag_unapplied(t, reason, now_us);
    }
    reject(r, std::move(reason));
  }

  // A transaction headquarters stored and did not apply, for the operator: `held` when its cause can
  // go; refused for its own content, the reason's code (invalid_txn, txn_conflict, refund_exceeds_sale,
  // invalid_refund, sealed_invalid, member_exists).
  void flag_unapplied(const Txn& t, const std::string& reason, std::int64_t now_us) {
    nlohmann::ordered_json detail{{"reason", reason}};
    if (t.invalid.empty()) {
      detail["kind"] = std::string(kind_name(t.kind));
      if (!t.receipt_id.empty()) detail["receipt_id"] = t.receipt_id;
    }
    ledger_->flag(protocol::is_final_refusal(reason) ? protocol::refusal_code(reason) : "held", &t,
                  t.invalid.empty() ? t.member_id : std::nullopt,
                  detail.dump(), now_us);
  }

  static void reject(protocol::TxnResult& r, std::string reason) {
    r.status = protocol::TxnStatus::rejected;
    r.reason = std::move(reason);
    r.member_id.reset();
    r.member_version = 0;
  }

  void apply_one(const Txn& t, std::int64_t now_us, protocol::TxnResult& r) {
    r.status = protocol::TxnStatus::applied;
    if (!t.sent_by_store.empty() && !accept_store_)
      return reject(r, "wrong_store: names store " + t.store_id + ", and was sent with store " + t.sent_by_store +
                           "'s certificate (a till moved to another store?)");
    if (!sent_by_other_store_.empty()) return reject(r, sent_by_other_store_);
    if (t.at.utc_micros > now_us + kFutureFlagUs) {
      const bool refused = t.at.utc_micros > now_us + kFutureLimitUs;
      if (refused && accept_future_) {
        // The operator accepts it: the till's clock was wrong, the sale was made when it arrived.
        Txn dated = t;
        dated.at = engine::Instant{received_us_, t.at.offset_minutes};
        ledger_->flag("future_timestamp", &t, t.member_id,
                      nlohmann::ordered_json{{"at", engine::format_instant(t.at)},
                                             {"accepted", true},
                                             {"applied_as_of", engine::format_instant(dated.at)}}.dump(),
                      now_us);
        accept_future_ = false;
        return apply_one(dated, now_us, r);
      }
      // One flag per batch: a till whose clock runs ahead dates all its transactions ahead.
      if (!future_flagged_) ledger_->flag("future_timestamp", &t, t.member_id,
                    nlohmann::ordered_json{{"at", engine::format_instant(t.at)},
                                           {"ahead_seconds", (t.at.utc_micros - now_us) / 1'000'000},
                                           {"rejected", refused}}.dump(),
                    now_us);
      future_flagged_ = true;
      if (refused)
        return reject(r, "future_timestamp: the transaction is dated more than 24 hours ahead of headquarters' clock");
    }
    switch (t.kind) {
      case TxnKind::sale: return apply_sale(t, now_us, r);
      case TxnKind::refund: return apply_refund(t, now_us, r);
      case TxnKind::enrollment: return apply_enrollment(t, now_us, r);
    }
  }

  // When points earned at `at_us` under `version` expire (the current rules when headquarters never
  // published that version).
  std::int64_t expiry_of(std::int64_t at_us, std::string_view version) {
    std::shared_ptr<const engine::RuleSet> rules;
    try {
      rules = ledger_->rules(version);
    } catch (const store::StorageError&) {  // a published set that no longer loads: the current one's terms
    }
    if (!rules) rules = ledger_->current_rules();
    return detail::expiry_after(at_us, rules ? rules->expiry_months : 24, rules ? rules->utc_offset_minutes : 0);
  }

  void apply_sale(const Txn& t, std::int64_t now_us, protocol::TxnResult& r) {
    prior_sale_->bind(1, t.store_id).bind(2, t.receipt_id).bind(3, t.till_id);
    if (repeated(*prior_sale_, t, [&] { return "receipt " + t.receipt_id + " of till " + t.store_id + "/" + t.till_id; }, r))
      return;
    std::optional<std::string> member;
    std::optional<detail::Ledger::MemberState> m;
    if (t.member_id) {
      member = resolve(*t.member_id);
      m = ledger_->load(*member);
      if (!m) {
        waits_for_ = *t.member_id;  // applied when that member is
        return reject(r, "unknown_member: headquarters has no member " + *t.member_id);
      }
    }
    const detail::Ledger::Checked c = ledger_->recheck(t, m ? &*m : nullptr, now_us);
    insert_sale_->bind(1, t.txn_id).bind(2, t.store_id).bind(3, t.receipt_id).bind(4, member).bind(5, c.payable_minor)
        .bind(6, member ? c.points_earned : 0).bind(7, member ? c.points_redeemed : 0).bind(8, t.at.utc_micros)
        .bind(9, member ? t.quote.points_earned : 0).bind(10, t.rules_version).bind(11, c.spend_minor).bind(12, row_)
        .run();
    if (!member) return;
    ledger_->debit(*m, c.points_redeemed);
    if (c.points_earned > 0)
      ledger_->credit(*m, c.points_earned, t.at.utc_micros,
                      expiry_of(past_dated_ ? received_us_ : t.at.utc_micros, t.rules_version), t.txn_id);
    apply_sale_->bind(1, *member).bind(2, t.at.utc_micros).bind(3, std::int64_t{t.at.offset_minutes}).run();
    ledger_->evaluate(*m, t.at.utc_micros, now_us);
    if (c.coupon_code) ledger_->use_coupon(*c.coupon_code, t, member, now_us);
    ledger_->check_balance(*m, &t, now_us);
    r.member_id = member;
    r.member_version = ledger_->save(*m, ++seq_);
  }

  // A refund takes back the sale's points in the proportion the till took back of the points it
  // counted: headquarters' figure for the sale may differ from the till's (a re-check mismatch), and
  // refunds ending in a full one take back exactly what headquarters credited.
  static std::int64_t share(std::int64_t credited, std::int64_t till_total, std::int64_t till_part, bool all) {
    if (all) return credited;  // the whole sale returned: all that was credited comes back
    if (till_total <= 0) return 0;
    if (till_part >= till_total) return credited;
    return static_cast<std::int64_t>(static_cast<engine::Wide>(credited) * till_part / till_total);
  }

  // What a refund returns by the engine (RULES.md, "Refunds"): the sale's lines as committed, less the
  // refunds of it applied before, then this refund's lines. nullopt when an earlier refund cannot be
  // followed (one applied before headquarters checked refunds); an error when this one asks for more
  // than is left.
  engine::Result<std::optional<engine::Refund>> recompute_refund(const Txn& t, const std::string& sale_id,
                                                                 std::int64_t sale_row) {
    std::string sale_body;
    txn_body_->bind(1, sale_row);
    if (txn_body_->step()) sale_body = txn_body_->text(0);
    txn_body_->reset();
    std::vector<std::string> earlier;
    refund_bodies_->bind(1, sale_id);
    while (refund_bodies_->step()) earlier.push_back(refund_bodies_->text(0));
    refund_bodies_->reset();
    const auto items_of = [](const engine::detail::json& lines, const std::string& path) {
      std::vector<engine::RefundItem> items;
      for (std::size_t i = 0; i < engine::detail::as_array(lines, path).size(); ++i) {
        engine::detail::ObjectReader l(lines[i], engine::detail::index_path(path, i));
        items.push_back(engine::RefundItem{l.string("line_id"), l.integer("units", 1, INT64_MAX)});
      }
      return items;
    };
    auto sale = engine::detail::guarded([&] {
      const auto j = engine::detail::parse_json(sale_body, "sale");
      engine::detail::ObjectReader r(j, "sale");
      return engine::sale_lines(engine::detail::read_quote_input(r.required("input"), "sale.input"),
                                engine::detail::read_quote(r.required("quote"), "sale.quote"));
    });
    if (!sale) return std::optional<engine::Refund>();
    std::vector<engine::SaleLine> left = std::move(sale).value();
    for (const std::string& body : earlier) {
      auto items = engine::detail::guarded([&] {
        const auto j = engine::detail::parse_json(body, "refund");
        engine::detail::ObjectReader r(j, "refund");
        return items_of(r.required("lines"), "refund.lines");
      });
      if (!items) return std::optional<engine::Refund>();
      auto step = engine::refund(left, *items);
      if (!step) return std::optional<engine::Refund>();
      left = std::move(step->left);
    }
    auto refund = engine::refund(left, t.refund_items);
    if (!refund) return engine::Error{refund.error().message};
    return std::optional<engine::Refund>(std::move(refund).value());
  }

  void apply_refund(const Txn& t, std::int64_t now_us, protocol::TxnResult& r) {
    // A refund of a sale a restored till committed again refunds the sale applied. A sale this
    // database never received (its till restored from a backup committed the receipt again under
    // another txn_id, and headquarters restored too) is the one applied under its store, till and
    // receipt.
    const std::string sale_id = refunded_sale(t);
    // A refund id is the till's own: another till's refund under the same id is another refund.
    prior_refund_->bind(1, sale_id).bind(2, t.refund_id).bind(3, t.store_id).bind(4, t.till_id);
    if (repeated(*prior_refund_, t, [&] { return "refund " + t.refund_id + " of sale " + sale_id; }, r)) return;
    find_sale_->bind(1, sale_id);
    if (!find_sale_->step()) {
      find_sale_->reset();
      // Applied when that sale is, or any sale under its receipt.
      waits_for_ = t.sale_store_id ? receipt_key(*t.sale_store_id, *t.sale_till_id, t.receipt_id) : sale_id;
      return reject(r, "unknown_sale: headquarters has not applied sale " + sale_id);
    }
    Statement& f = *find_sale_;
    const std::optional<std::string> member = f.optional_text(0);
    const engine::Minor payable = f.integer(1), refunded = f.integer(2);
    const std::int64_t credited = f.integer(3), till_earned = f.integer(4), till_taken = f.integer(5);
    const std::int64_t redeemed = f.integer(6), given = f.integer(7), sale_at = f.integer(8);
    const std::string sale_rules = f.text(9);
    const std::int64_t taken = f.integer(10);
    const std::int64_t sale_row = f.integer(11);
    const engine::Minor spend_sold = f.integer(12);
    const std::int64_t sale_received = f.integer(13);
    find_sale_->reset();
    // The sale's points expire from when it was earned, or from when it arrived if it was dated back.
    const std::int64_t earned_from = sale_at < sale_received - past_limit_us() ? sale_received : sale_at;
    if (refunded + t.amount_minor > payable)
      return reject(r, "refund_exceeds_sale: refunds of sale " + sale_id + " would come to " +
                           std::to_string(refunded + t.amount_minor) + " of " + std::to_string(payable) + " paid");

    // The points a refund moves are the engine's, from the sale's own lines; a till that says
    // otherwise is flagged. The money is the till's: it was handed back.
    auto engine_refund = recompute_refund(t, sale_id, sale_row);
    if (!engine_refund) return reject(r, "invalid_refund: " + engine_refund.error().message);
    std::int64_t taken_now = t.points_taken_back, given_now = t.points_given_back;
    bool whole = refunded + t.amount_minor == payable;
    if (*engine_refund) {
      const engine::Refund& e = **engine_refund;
      if (e.amount_minor != t.amount_minor || e.points_taken_back != t.points_taken_back ||
          e.points_given_back != t.points_given_back) {
        const auto figures = [](engine::Minor amount, std::int64_t taken_back, std::int64_t given_back) {
          return nlohmann::ordered_json{{"amount_minor", amount}, {"points_taken_back", taken_back},
                                        {"points_given_back", given_back}};
        };
        ledger_->flag("refund_mismatch", &t, member,
                      nlohmann::ordered_json{{"sale_txn_id", sale_id},
                                             {"till", figures(t.amount_minor, t.points_taken_back, t.points_given_back)},
                                             {"hq", figures(e.amount_minor, e.points_taken_back, e.points_given_back)},
                                             {"policy", "points as the engine computes them from the sale's lines; "
                                                        "money as the till handed it back"}}
                          .dump(),
                      now_us);
      }
      taken_now = e.points_taken_back;
      given_now = e.points_given_back;
      whole = std::all_of(e.left.begin(), e.left.end(), [](const engine::SaleLine& l) { return l.units == 0; });
    }
    // Headquarters takes back its own credited figure, in the proportion of the sale's points that
    // come back, and never more than is left of it.
    const std::int64_t take = std::clamp<std::int64_t>(
        share(credited, till_earned, till_taken + taken_now, whole) - share(credited, till_earned, till_taken, false), 0,
        std::max<std::int64_t>(0, credited - taken));
    const std::int64_t give = std::clamp<std::int64_t>(given_now, 0, std::max<std::int64_t>(0, redeemed - given));
    // What still counts towards the tier: headquarters' payable in the proportion of the money kept.
    const engine::Minor kept = payable - refunded - t.amount_minor;
    const engine::Minor spend =
        whole || payable <= 0 ? 0 : static_cast<engine::Minor>(static_cast<engine::Wide>(spend_sold) * kept / payable);
    update_sale_->bind(1, sale_row).bind(2, t.amount_minor).bind(3, taken_now).bind(4, take).bind(5, give)
        .bind(6, spend).run();
    insert_refund_->bind(1, t.txn_id).bind(2, sale_id).bind(3, t.refund_id).bind(4, t.amount_minor)
        .bind(5, take).bind(6, give).run();
    if (!member) return;
    auto m = ledger_->load(*member);
    if (!m) throw store::StorageError("sale " + sale_id + " names member " + *member + ", who is not in the database");
    // Points given back expire as the sale's own points would have.
    if (give > 0) ledger_->credit(*m, give, sale_at, expiry_of(earned_from, sale_rules), t.txn_id);
    ledger_->debit(*m, take);
    ledger_->evaluate(*m, t.at.utc_micros, now_us);
    ledger_->check_balance(*m, &t, now_us);
    r.member_id = member;
    r.member_version = ledger_->save(*m, ++seq_);
  }

  void apply_enrollment(const Txn& t, std::int64_t now_us, protocol::TxnResult& r) {
    auto personal = opener_.open(t);
    if (!personal) return reject(r, personal.error().message);
    const std::string masked = till::mask_name(personal->name);
    std::optional<std::int64_t> birthday;
    if (personal->birthday) birthday = month_day_to_int(*personal->birthday);
    if (member_exists(*t.member_id) || resolve(*t.member_id) != *t.member_id) {
      // The same phone enrolled again under the same id (a till restored from a backup): that member.
      member_by_code_->bind_blob(1, t.code_hash.data(), t.code_hash.size());
      const std::optional<std::string> owner =
          member_by_code_->step() ? std::optional<std::string>(member_by_code_->text(0)) : std::nullopt;
      member_by_code_->reset();
      if (owner && *owner == resolve(*t.member_id)) {
        r.status = protocol::TxnStatus::duplicate;
        r.member_id = owner;
        r.member_version = member_version(*owner);
        return;
      }
      return reject(r, "member_exists: member " + *t.member_id + " was enrolled before for another phone");
    }

    member_by_code_->bind_blob(1, t.code_hash.data(), t.code_hash.size());
    std::optional<std::string> owner;
    if (member_by_code_->step()) owner = member_by_code_->text(0);
    member_by_code_->reset();
    if (owner) {
      // The phone is a member already (enrolled at another till, or imported): one member, and the
      // till's id an alias of it, so that its sales count for that member.
      insert_alias_->bind(1, *t.member_id).bind(2, *owner).run();
      merge_member_->bind(1, *owner).bind(2, personal->name).bind(3, masked).bind(4, personal->phone)
          .bind(5, birthday).bind(6, ++seq_);
      r.member_id = owner;
      r.member_version = returning_version(*merge_member_);
      return;
    }
    // A new member starts in the lowest tier of headquarters' rules, whatever the till wrote.
    const auto rules = ledger_->current_rules();
    const std::string tier = rules && !rules->tiers.empty() ? rules->tiers.front().id : t.tier;
    insert_member_->bind(1, *t.member_id).bind(2, ++seq_).bind(3, personal->name).bind(4, personal->phone)
        .bind(5, masked).bind(6, tier).bind(7, birthday).bind(8, std::int64_t{0}).bind(9, now_us).run();
    ledger_->record_tier(*t.member_id, t.at.utc_micros, "", tier, 0, "enrolled");
    insert_code_->bind_blob(1, t.code_hash.data(), t.code_hash.size()).bind(2, *t.member_id).bind(3, "phone").run();
    r.member_id = t.member_id;
    r.member_version = 1;
  }

  std::optional<MemberRow> member_locked(std::string_view id) {
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
    if (const auto us = s.optional_integer(8)) m.last_purchase_at = engine::Instant{*us, static_cast<std::int32_t>(s.integer(9))};
    s.reset();
    Statement a(db_, "SELECT alias FROM aliases WHERE member_id = ?1 ORDER BY alias");
    a.bind(1, m.id);
    while (a.step()) m.aliases.push_back(a.text(0));
    return m;
  }

  std::mutex mu_;
  Database db_;
  const EnrollmentOpener& opener_;
  std::optional<Checkpointer> checkpointer_;  // declared after db_: stopped before it closes
  FeedMark mark_;
  LedgerPolicy policy_;
  std::int64_t received_us_ = 0;  // when headquarters received the transaction being applied
  bool accept_future_ = false;    // an operator's retry applies a transaction dated ahead as dated when it arrived,
  bool accept_store_ = false;     // and one sent with another store's certificate as its own store's
  std::string sent_by_other_store_;  // a held transaction's wrong_store reason, kept until an operator accepts it
  bool from_own_store_ = false;      // ... or its own store sends it again
  bool past_dated_ = false;  // the sale being applied is dated implausibly far back: its points expire when it arrived
  std::set<std::string> past_flagged_;  // tills of this batch flagged for a sale dated back
  std::int64_t seq_ = 0;  // the changes feed's last number, inside a write transaction
  bool future_flagged_ = false;  // a batch's transaction dated ahead was flagged
  std::int64_t row_ = 0;  // the row in txns of the transaction being applied
  std::int64_t next_row_ = 0;  // the row a new transaction takes
  std::optional<std::string> duplicate_of_;  // the transaction being applied repeats this one
  std::optional<std::string> waits_for_;     // held for this member or sale, applied when it is
  bool cascading_ = false;                   // applying held transactions released by another
  std::int64_t now_us_ = 0;                  // the instant of the write transaction in progress
  bool accept_conflicts_ = false;  // an operator's retry applies a receipt_conflict as a transaction of its own
  std::optional<detail::Ledger> ledger_;  // after db_ and seq_
  std::optional<Statement> find_batch_, insert_batch_, find_txn_, insert_txn_, resolve_, member_exists_, apply_sale_,
      update_sale_, txn_body_, refund_bodies_, upsert_till_, last_txn_row_, insert_sale_, find_sale_, insert_refund_,
      member_by_code_, insert_alias_, merge_member_, insert_member_, insert_code_, upsert_store_, get_meta_, set_meta_,
      changed_members_, codes_of_, changed_coupons_, current_rules_, update_txn_, find_refused_, insert_refused_,
      close_held_, original_of_, received_of_, prior_sale_, prior_refund_, till_sent_, waiting_for_;
};

}  // namespace

std::unique_ptr<Storage> open_sqlite_storage(const std::string& path, const EnrollmentOpener& opener, bool serving,
                                             LedgerPolicy policy) {
  return std::make_unique<SqliteStorage>(path, opener, serving, policy);
}

}  // namespace loyalty::hq
