// The embedded storage: one SQLite file holding the ledger of applied transactions, the members and
// their codes, the changes feed, the published rule sets and each store's sync state.
#include <sqlite3.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "loyalty/engine/json_reader.hpp"
#include "loyalty/hq/storage.hpp"
#include "loyalty/store/database.hpp"
#include "loyalty/till/member_code.hpp"

namespace loyalty::hq {
namespace {

using store::Database;
using store::Statement;
using store::Transaction;

constexpr std::int64_t kSchemaVersion = 1;
constexpr std::int64_t kFutureLimitUs = 24LL * 3600 * 1'000'000;

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

std::string_view kind_name(TxnKind k) {
  switch (k) {
    case TxnKind::sale: return "sale";
    case TxnKind::refund: return "refund";
    case TxnKind::enrollment: return "enrollment";
  }
  return "sale";
}

std::int64_t month_day_int(const engine::MonthDay& d) { return std::int64_t{d.month * 100 + d.day}; }
engine::MonthDay month_day_of(std::int64_t v) {
  return engine::MonthDay{static_cast<unsigned>(v / 100), static_cast<unsigned>(v % 100)};
}

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

class SqliteStorage final : public Storage {
 public:
  SqliteStorage(const std::string& path, const EnrollmentOpener& opener, bool serving)
      : db_(path, false), opener_(opener) {
    migrate();
    if (serving) {
      db_.exec("PRAGMA wal_autocheckpoint=0");
      checkpointer_.emplace(path);
    }
    find_batch_.emplace(db_, "SELECT digest, answer FROM batches WHERE store_id = ?1 AND batch_id = ?2");
    insert_batch_.emplace(db_, "INSERT INTO batches(store_id, batch_id, digest, answer, received_us) "
                               "VALUES(?1, ?2, ?3, ?4, ?5)");
    find_txn_.emplace(db_, "SELECT digest, status, reason, member_id, member_version FROM txns WHERE txn_id = ?1");
    insert_txn_.emplace(db_, "INSERT INTO txns(txn_id, store_id, till_id, kind, digest, status, reason, member_id, "
                             "member_version, at_us, received_us, body) "
                             "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
    resolve_.emplace(db_, "SELECT COALESCE((SELECT member_id FROM aliases WHERE alias = ?1), ?1)");
    member_exists_.emplace(db_, "SELECT 1 FROM members WHERE id = ?1");
    apply_sale_.emplace(db_, "UPDATE members SET points = points + ?2, purchases = purchases + 1, "
                             "last_purchase_us = CASE WHEN last_purchase_us IS NULL OR last_purchase_us < ?3 "
                             "THEN ?3 ELSE last_purchase_us END, "
                             "last_purchase_off = CASE WHEN last_purchase_us IS NULL OR last_purchase_us < ?3 "
                             "THEN ?4 ELSE last_purchase_off END, "
                             "version = version + 1, seq = ?5 WHERE id = ?1 RETURNING version");
    apply_points_.emplace(db_, "UPDATE members SET points = points + ?2, version = version + 1, seq = ?3 "
                               "WHERE id = ?1 RETURNING version");
    insert_sale_.emplace(db_, "INSERT INTO sales(txn_id, store_id, receipt_id, member_id, payable_minor, "
                              "points_earned, points_redeemed) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    find_sale_.emplace(db_, "SELECT s.member_id, s.payable_minor, "
                            "(SELECT COALESCE(SUM(amount_minor), 0) FROM refunds WHERE sale_txn_id = s.txn_id) "
                            "FROM sales s WHERE s.txn_id = ?1");
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
                                  "last_purchase_us, last_purchase_off, points FROM members "
                                  "WHERE seq > ?1 ORDER BY seq LIMIT ?2");
    codes_of_.emplace(db_, "SELECT hash FROM member_codes WHERE member_id = ?1 ORDER BY kind, hash");
    changed_coupons_.emplace(db_, "SELECT code, version, seq, member_id, definition FROM coupons "
                                  "WHERE seq > ?1 ORDER BY seq LIMIT ?2");
    current_rules_.emplace(db_, "SELECT version, json FROM rules ORDER BY rowid DESC LIMIT 1");
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

    seq_ = meta_int("feed_seq");
    protocol::BatchAnswer answer;
    answer.results.reserve(txns.size());
    std::int64_t newest_at = INT64_MIN;
    std::int64_t fresh = 0;
    for (std::size_t i = 0; i < txns.size(); ++i) {
      const Txn& t = txns[i];
      protocol::TxnResult r;
      r.txn_id = t.txn_id;
      find_txn_->bind(1, t.txn_id);
      if (find_txn_->step()) {
        const bool same = find_txn_->text(0) == t.digest;
        const std::string status = find_txn_->text(1);
        r.reason = find_txn_->optional_text(2).value_or("");
        r.member_id = find_txn_->optional_text(3);
        r.member_version = find_txn_->optional_integer(4).value_or(0);
        find_txn_->reset();
        if (!same)
          throw RequestError(409, "txn_conflict",
                             "txns[" + std::to_string(i) + "]: txn_id " + t.txn_id +
                                 " was received before with other content");
        r.status = status == "rejected" ? protocol::TxnStatus::rejected : protocol::TxnStatus::duplicate;
        ++out.duplicates;
        answer.results.push_back(std::move(r));
        continue;
      }
      find_txn_->reset();
      ++fresh;
      newest_at = std::max(newest_at, t.at.utc_micros);
      apply_one(t, now_us, r);
      if (r.status == protocol::TxnStatus::rejected) {
        ++out.rejected;
      } else {
        ++out.applied;
        if (t.kind == TxnKind::sale) ++out.sales_applied;
      }
      insert_txn_->bind(1, t.txn_id).bind(2, store_id).bind(3, t.till_id).bind(4, kind_name(t.kind))
          .bind(5, t.digest).bind(6, r.status == protocol::TxnStatus::rejected ? "rejected" : "applied");
      if (r.reason.empty()) insert_txn_->bind_null(7); else insert_txn_->bind(7, r.reason);
      insert_txn_->bind(8, r.member_id);
      if (r.member_id) insert_txn_->bind(9, r.member_version); else insert_txn_->bind_null(9);
      insert_txn_->bind(10, t.at.utc_micros).bind(11, now_us).bind(12, t.body).run();
      answer.results.push_back(std::move(r));
    }
    out.body = protocol::batch_answer_json(answer);
    insert_batch_->bind(1, store_id).bind(2, batch.batch_id).bind(3, digest).bind(4, out.body).bind(5, now_us).run();
    upsert_store_->bind(1, store_id).bind(2, now_us).bind(3, fresh)
        .bind(4, fresh ? now_us - newest_at : std::int64_t{0}).run();
    set_meta_int("feed_seq", seq_);
    tx.commit();
    if (checkpointer_) checkpointer_->poke();
    return out;
  }

  std::string changes(std::int64_t after, std::int64_t limit) override {
    std::lock_guard lock(mu_);
    db_.exec("BEGIN");
    struct Guard {
      Database& db;
      ~Guard() {
        try {
          db.exec("COMMIT");
        } catch (...) {  // a read transaction has nothing to lose
        }
      }
    } guard{db_};
    std::vector<std::pair<std::int64_t, protocol::MemberRecord>> members;
    changed_members_->bind(1, after).bind(2, limit + 1);
    while (changed_members_->step()) {
      Statement& s = *changed_members_;
      protocol::MemberRecord rec;
      rec.member.id = s.text(0);
      rec.version = s.integer(1);
      rec.masked_name = s.text(3);
      rec.member.tier = s.text(4);
      if (const auto b = s.optional_integer(5)) rec.member.birthday = month_day_of(*b);
      rec.member.purchases = s.integer(6);
      if (const auto us = s.optional_integer(7))
        rec.member.last_purchase_at = engine::Instant{*us, static_cast<std::int32_t>(s.integer(8))};
      rec.member.points = s.integer(9);
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
    for (protocol::MemberRecord& rec : doc.members) {
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
    Statement update(db_, "UPDATE members SET name = ?2, phone = ?3, masked_name = ?4, tier = ?5, birthday = ?6, "
                          "points = ?7, version = version + 1, seq = ?8 WHERE id = ?1");
    Statement drop_codes(db_, "DELETE FROM member_codes WHERE member_id = ?1");
    Statement code_owner(db_, "SELECT member_id FROM member_codes WHERE hash = ?1");
    for (const ImportedMember& m : rows) {
      exists.bind(1, m.id);
      const bool known = exists.step();
      exists.reset();
      const std::string masked = till::mask_name(m.name);
      std::optional<std::int64_t> birthday;
      if (m.birthday) birthday = month_day_int(*m.birthday);
      if (known) {
        update.bind(1, m.id).bind(2, m.name).bind(3, m.phone.empty() ? std::optional<std::string>() : m.phone)
            .bind(4, masked).bind(5, m.tier).bind(6, birthday).bind(7, m.points).bind(8, ++seq_).run();
        drop_codes.bind(1, m.id).run();
        ++report.updated;
      } else {
        insert_member_->bind(1, m.id).bind(2, ++seq_).bind(3, m.name)
            .bind(4, m.phone.empty() ? std::optional<std::string>() : m.phone).bind(5, masked).bind(6, m.tier)
            .bind(7, birthday).bind(8, m.points).bind(9, now_us).run();
        ++report.added;
      }
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
    tx.commit();
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
    Statement s(db_, "SELECT store_id, last_batch_us, txns, last_txn_lag_us FROM stores ORDER BY store_id");
    std::vector<StoreRow> out;
    while (s.step()) out.push_back(StoreRow{s.text(0), s.integer(1), s.integer(2), s.integer(3)});
    return out;
  }

  std::vector<SaleRecord> sales_by_receipt(std::string_view store_id, std::string_view receipt_id) override {
    std::lock_guard lock(mu_);
    Statement s(db_, "SELECT t.txn_id, t.store_id, t.body, s.member_id FROM sales s JOIN txns t ON t.txn_id = s.txn_id "
                     "WHERE s.store_id = ?1 AND s.receipt_id = ?2");
    s.bind(1, store_id).bind(2, receipt_id);
    std::vector<SaleRecord> out;
    while (s.step()) out.push_back(SaleRecord{s.text(0), s.text(1), s.text(2), s.optional_text(3), {}});
    s.reset();
    Statement refunds(db_, "SELECT t.body FROM refunds r JOIN txns t ON t.txn_id = r.txn_id WHERE r.sale_txn_id = ?1 "
                           "ORDER BY t.received_us, t.txn_id");
    for (SaleRecord& rec : out) {
      refunds.bind(1, rec.txn_id);
      while (refunds.step()) rec.refunds.push_back(refunds.text(0));
      refunds.reset();
    }
    return out;
  }

 private:
  void migrate() {
    const std::int64_t v = db_.user_version();
    if (v > kSchemaVersion)
      throw store::StorageError("the database has schema " + std::to_string(v) + ", newer than this loyalty-hq's " +
                                std::to_string(kSchemaVersion));
    if (v == kSchemaVersion) return;
    Transaction t(db_);
    db_.exec(kSchema1);
    db_.set_user_version(kSchemaVersion);
    t.commit();
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

  static void reject(protocol::TxnResult& r, std::string reason) {
    r.status = protocol::TxnStatus::rejected;
    r.reason = std::move(reason);
    r.member_id.reset();
    r.member_version = 0;
  }

  void apply_one(const Txn& t, std::int64_t now_us, protocol::TxnResult& r) {
    r.status = protocol::TxnStatus::applied;
    if (t.at.utc_micros > now_us + kFutureLimitUs)
      return reject(r, "future_timestamp: the transaction is dated more than 24 hours ahead of headquarters' clock");
    switch (t.kind) {
      case TxnKind::sale: return apply_sale(t, r);
      case TxnKind::refund: return apply_refund(t, r);
      case TxnKind::enrollment: return apply_enrollment(t, now_us, r);
    }
  }

  void apply_sale(const Txn& t, protocol::TxnResult& r) {
    std::optional<std::string> member;
    if (t.member_id) {
      member = resolve(*t.member_id);
      if (!member_exists(*member)) return reject(r, "unknown_member: headquarters has no member " + *t.member_id);
      apply_sale_->bind(1, *member).bind(2, t.points_earned - t.points_redeemed).bind(3, t.at.utc_micros)
          .bind(4, std::int64_t{t.at.offset_minutes}).bind(5, ++seq_);
      r.member_id = member;
      r.member_version = returning_version(*apply_sale_);
    }
    insert_sale_->bind(1, t.txn_id).bind(2, t.store_id).bind(3, t.receipt_id).bind(4, member).bind(5, t.payable_minor)
        .bind(6, t.points_earned).bind(7, t.points_redeemed).run();
  }

  void apply_refund(const Txn& t, protocol::TxnResult& r) {
    find_sale_->bind(1, t.sale_txn_id);
    if (!find_sale_->step()) {
      find_sale_->reset();
      return reject(r, "unknown_sale: headquarters has not applied sale " + t.sale_txn_id);
    }
    const std::optional<std::string> member = find_sale_->optional_text(0);
    const engine::Minor payable = find_sale_->integer(1);
    const engine::Minor refunded = find_sale_->integer(2);
    find_sale_->reset();
    if (refunded + t.amount_minor > payable)
      return reject(r, "refund_exceeds_sale: refunds of sale " + t.sale_txn_id + " would come to " +
                           std::to_string(refunded + t.amount_minor) + " of " + std::to_string(payable) + " paid");
    if (member) {
      apply_points_->bind(1, *member).bind(2, t.points_given_back - t.points_taken_back).bind(3, ++seq_);
      r.member_id = member;
      r.member_version = returning_version(*apply_points_);
    }
    insert_refund_->bind(1, t.txn_id).bind(2, t.sale_txn_id).bind(3, t.refund_id).bind(4, t.amount_minor)
        .bind(5, t.points_taken_back).bind(6, t.points_given_back).run();
  }

  void apply_enrollment(const Txn& t, std::int64_t now_us, protocol::TxnResult& r) {
    auto personal = opener_.open(t);
    if (!personal) return reject(r, "sealed: " + personal.error().message);
    const std::string masked = till::mask_name(personal->name);
    std::optional<std::int64_t> birthday;
    if (personal->birthday) birthday = month_day_int(*personal->birthday);
    if (member_exists(*t.member_id) || resolve(*t.member_id) != *t.member_id)
      return reject(r, "member_exists: member " + *t.member_id + " was enrolled before");

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
    insert_member_->bind(1, *t.member_id).bind(2, ++seq_).bind(3, personal->name).bind(4, personal->phone)
        .bind(5, masked).bind(6, t.tier).bind(7, birthday).bind(8, std::int64_t{0}).bind(9, now_us).run();
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
    if (const auto b = s.optional_integer(5)) m.birthday = month_day_of(*b);
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
  std::int64_t seq_ = 0;  // the changes feed's last number, inside a write transaction
  std::optional<Statement> find_batch_, insert_batch_, find_txn_, insert_txn_, resolve_, member_exists_, apply_sale_,
      apply_points_, insert_sale_, find_sale_, insert_refund_, member_by_code_, insert_alias_, merge_member_,
      insert_member_, insert_code_, upsert_store_, get_meta_, set_meta_, changed_members_, codes_of_,
      changed_coupons_, current_rules_;
};

}  // namespace

std::unique_ptr<Storage> open_sqlite_storage(const std::string& path, const EnrollmentOpener& opener, bool serving) {
  return std::make_unique<SqliteStorage>(path, opener, serving);
}

}  // namespace loyalty::hq
