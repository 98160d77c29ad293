#include "loyalty/store/store.hpp"

#include <algorithm>
#include <map>
#include <set>

#include "loyalty/engine/json_reader.hpp"
#include "loyalty/protocol/batch.hpp"
#include "loyalty/store/packed_body.hpp"

namespace loyalty::store {
namespace {

// Schema 1. Instants are stored as UTC microseconds with the offset they were written in.
const char* const kSchema1 = R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE members(
  rowid INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  version INTEGER NOT NULL,
  tier TEXT NOT NULL,
  masked_name TEXT NOT NULL,
  birthday INTEGER,
  purchases INTEGER NOT NULL,
  last_purchase_us INTEGER,
  last_purchase_off INTEGER,
  points INTEGER NOT NULL,
  expiry_points INTEGER,
  expiry_us INTEGER,
  expiry_off INTEGER,
  next_tier TEXT,
  next_tier_spend INTEGER);
CREATE TABLE member_codes(hash BLOB PRIMARY KEY, member INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX member_codes_member ON member_codes(member);
CREATE TABLE coupons(
  code TEXT PRIMARY KEY,
  version INTEGER NOT NULL,
  member_id TEXT,
  definition TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE outbox(
  seq INTEGER PRIMARY KEY,
  txn_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  member_id TEXT,
  points_delta INTEGER NOT NULL DEFAULT 0,
  at_us INTEGER,
  body TEXT NOT NULL,
  created_us INTEGER NOT NULL,
  state INTEGER NOT NULL DEFAULT 0,
  acked_version INTEGER,
  reason TEXT);
CREATE INDEX outbox_member ON outbox(member_id) WHERE member_id IS NOT NULL;
CREATE TABLE sales(
  receipt_id TEXT PRIMARY KEY,
  outbox_seq INTEGER NOT NULL,
  digest TEXT NOT NULL,
  member_id TEXT,
  coupon_code TEXT,
  lines TEXT NOT NULL) WITHOUT ROWID;
CREATE INDEX sales_coupon ON sales(coupon_code) WHERE coupon_code IS NOT NULL;
CREATE TABLE offline_redeemed(
  member_id TEXT NOT NULL,
  day INTEGER NOT NULL,
  points INTEGER NOT NULL,
  PRIMARY KEY(member_id, day)) WITHOUT ROWID;
CREATE TABLE refunds(
  refund_id TEXT PRIMARY KEY,
  receipt_id TEXT NOT NULL,
  result TEXT NOT NULL) WITHOUT ROWID;
)sql";

// Schema 2: the sync finds the entries headquarters has not answered without reading the answered.
// Schema 2.
// - The transaction bodies move to a table of their own: answering headquarters (the outbox's state)
//   then rewrites a few pages of narrow rows, not every page of the bodies.
// - The sync finds the entries headquarters has not answered without reading the answered ones.
// - A sale made at another store, fetched from headquarters to be refunded here, has no outbox entry
//   (outbox_seq 0): its transaction id and body are kept beside it.
const char* const kSchema2 = R"sql(
CREATE TABLE outbox_bodies(seq INTEGER PRIMARY KEY, body TEXT NOT NULL);
INSERT INTO outbox_bodies(seq, body) SELECT seq, body FROM outbox;
ALTER TABLE outbox DROP COLUMN body;
CREATE INDEX outbox_unsent ON outbox(seq) WHERE state = 0;
ALTER TABLE sales ADD COLUMN foreign_txn_id TEXT;
ALTER TABLE sales ADD COLUMN foreign_body TEXT;
)sql";

// Schema 3: outbox states are 0 waiting for headquarters' answer, 1 applied there, 2 refused for
// good (its own content), 3 held there (its cause can go: sent again at every sync). The sync reads
// the entries to send without reading the answered ones.
// Sales are keyed by their origin and receipt id: origin '' for this till's own, the store's id for
// one fetched from headquarters (another till's). Before, a fetched sale was kept under the key
// "@STORE/RECEIPT", which a POS's own receipt id could be.
const char* const kSchema3 = R"sql(
DROP INDEX outbox_unsent;
CREATE INDEX outbox_to_send ON outbox(seq) WHERE state IN (0, 3);
CREATE TABLE sales_v3(
  origin TEXT NOT NULL,
  receipt_id TEXT NOT NULL,
  outbox_seq INTEGER NOT NULL,
  digest TEXT NOT NULL,
  member_id TEXT,
  coupon_code TEXT,
  lines TEXT NOT NULL,
  foreign_txn_id TEXT,
  foreign_body TEXT,
  PRIMARY KEY(origin, receipt_id)) WITHOUT ROWID;
INSERT INTO sales_v3
  SELECT CASE WHEN outbox_seq = 0 AND receipt_id LIKE '@%/%' THEN substr(receipt_id, 2, instr(receipt_id, '/') - 2) ELSE '' END,
         CASE WHEN outbox_seq = 0 AND receipt_id LIKE '@%/%' THEN substr(receipt_id, instr(receipt_id, '/') + 1) ELSE receipt_id END,
         outbox_seq, digest, member_id, coupon_code, lines, foreign_txn_id, foreign_body FROM sales;
ALTER TABLE refunds ADD COLUMN origin TEXT NOT NULL DEFAULT '';
ALTER TABLE refunds ADD COLUMN outbox_seq INTEGER;
UPDATE refunds SET origin = substr(receipt_id, 2, instr(receipt_id, '/') - 2),
                   receipt_id = substr(receipt_id, instr(receipt_id, '/') + 1)
  WHERE receipt_id IN (SELECT receipt_id FROM sales WHERE outbox_seq = 0 AND receipt_id LIKE '@%/%');
DROP TABLE sales;
ALTER TABLE sales_v3 RENAME TO sales;
CREATE INDEX sales_coupon ON sales(coupon_code) WHERE coupon_code IS NOT NULL;
CREATE INDEX refunds_sale ON refunds(origin, receipt_id);
CREATE INDEX sales_outbox ON sales(outbox_seq);
CREATE INDEX outbox_applied ON outbox(created_us) WHERE state = 1;
DROP INDEX outbox_member;
CREATE INDEX outbox_pending ON outbox(member_id, acked_version) WHERE member_id IS NOT NULL AND state != 2;
)sql";

// Schema 4: a sale's commit writes as few pages as it can (each is a WAL frame the fsync waits for):
// its entry and its sale, no index.
// - An outbox entry is written once, with its body, and never changed (pruning deletes it).
//   Headquarters' answer for it is a row of `answers`, written when it comes: no row is an entry
//   waiting for one. The member it counts for is the answer's (headquarters may name another).
// - The entries to send, and the effects on its member of each that headquarters has not answered,
//   are kept in memory, loaded at open: those after meta "answered_through" (every entry up to it
//   has an answer) and the held ones (answers_settled, which also counts the refused). The index of
//   pending effects holds answers only. Pruning never takes the newest entry, so a seq is never given
//   twice.
// - A sale's entry names its receipt, so that pruning finds the sale by its key: no index of sales
//   by entry.
// - Enrollments have an index of their own (an enrolled member's is looked for at every enrollment).
// - A sale's lines are stored once one of them is refunded (''); before, they are the body's.
// - The bodies of entries written before stay in outbox_bodies (outbox.body NULL) until pruned.
// - An entry headquarters is asked for again after a new generation (`again`) counts only what it
//   takes from its member until the new generation's record that includes it arrives: the cache may
//   hold a record of the old generation that includes it, or one that does not.
const char* const kSchema4 = R"sql(
CREATE TABLE answers(
  seq INTEGER PRIMARY KEY,
  state INTEGER NOT NULL,
  acked_version INTEGER,
  member_id TEXT,
  reason TEXT,
  created_us INTEGER NOT NULL,
  again INTEGER NOT NULL DEFAULT 0);
INSERT INTO answers(seq, state, acked_version, member_id, reason, created_us, again)
  SELECT seq, state, CASE WHEN state = 0 THEN NULL ELSE acked_version END, member_id, reason, created_us,
         COALESCE(acked_version = 0, 0)
  FROM outbox WHERE state != 0 OR acked_version IS NOT NULL;
DROP INDEX IF EXISTS outbox_to_send;
DROP INDEX IF EXISTS outbox_applied;
DROP INDEX IF EXISTS outbox_pending;
ALTER TABLE outbox DROP COLUMN state;
ALTER TABLE outbox DROP COLUMN acked_version;
ALTER TABLE outbox DROP COLUMN reason;
ALTER TABLE outbox ADD COLUMN receipt_id TEXT;
ALTER TABLE outbox ADD COLUMN body TEXT;
UPDATE outbox SET receipt_id = (SELECT s.receipt_id FROM sales s WHERE s.origin = '' AND s.outbox_seq = outbox.seq)
  WHERE kind = 'sale';
DROP INDEX IF EXISTS sales_outbox;
CREATE INDEX answers_applied ON answers(created_us) WHERE state = 1;
CREATE INDEX answers_pending ON answers(member_id, acked_version) WHERE member_id IS NOT NULL AND state = 1;
CREATE INDEX answers_settled ON answers(state, seq) WHERE state IN (2, 3);
CREATE INDEX outbox_enrollments ON outbox(member_id) WHERE kind = 'enrollment';
)sql";

// Schema 5 changes no table: an outbox entry's body may be packed (a BLOB, packed_body.hpp), which
// a library of schema 4 would read as text. A 10-line sale's body of about 3,000 bytes packs into
// about 960, so three share a page where each had one: its commit writes about three WAL frames,
// not four to five. Bodies written before stay text.

// Schema 6: a sale's commit writes its outbox entry only, not its row of `sales` (the receipt's key
// in another B-tree: another page, another WAL frame to wait for). The row is written later, with
// those of the sales before it (Store::file_sales): once kFileSalesEvery wait, or by any other write
// that comes first. Until then the sale is in memory (unfiled_), loaded at open from the entries
// after meta "sales_filed_through": an entry holds what its row does (receipt, digest, coupon).
// A filing lost to a power loss is done again from them, so it may ride on a write that skips the
// fsync.
const char* const kSchema6 = R"sql(
ALTER TABLE outbox ADD COLUMN digest TEXT;
ALTER TABLE outbox ADD COLUMN coupon_code TEXT;
INSERT INTO meta(key, value) VALUES('sales_filed_through', (SELECT COALESCE(MAX(seq), 0) FROM outbox))
  ON CONFLICT(key) DO UPDATE SET value = excluded.value;
)sql";

// Writes that can be repeated after a power loss (headquarters' answers, which a resend gets again as
// duplicates; changes pages, which the unmoved cursor asks for again) skip the fsync: a sale's commit
// after them syncs the log they are in. Atomicity is WAL's either way.
// `relaxed` stays true when synchronous=FULL could not be restored: the next durable write restores it
// first, or fails (Store::durable).
class RelaxedSync {
 public:
  RelaxedSync(Database& db, bool& relaxed) : db_(db), relaxed_(relaxed) {
    relaxed_ = true;
    db_.exec("PRAGMA synchronous=NORMAL");
  }
  ~RelaxedSync() {
    try {
      db_.exec("PRAGMA synchronous=FULL");
      relaxed_ = false;
    } catch (...) {  // kept relaxed_: Store::durable() tries again before the next commit, and reports it
    }
  }
  RelaxedSync(const RelaxedSync&) = delete;
  RelaxedSync& operator=(const RelaxedSync&) = delete;

 private:
  Database& db_;
  bool& relaxed_;
};

// An outbox body as stored: packed (a BLOB, schema 5) or its text.
std::string body_at(const Statement& s, int col) { return s.is_blob(col) ? unpack_body(s.bytes(col)) : s.text(col); }

}  // namespace

Store::Store(const std::string& path) : db_(path) {
  migrate();
  by_code_.emplace(db_,
                   "SELECT m.id, m.version, m.tier, m.masked_name, m.birthday, m.purchases, m.last_purchase_us, "
                   "m.last_purchase_off, m.points, m.expiry_points, m.expiry_us, m.expiry_off, m.next_tier, "
                   "m.next_tier_spend FROM member_codes c JOIN members m ON m.rowid = c.member WHERE c.hash = ?1");
  by_id_.emplace(db_,
                 "SELECT id, version, tier, masked_name, birthday, purchases, last_purchase_us, last_purchase_off, "
                 "points, expiry_points, expiry_us, expiry_off, next_tier, next_tier_spend FROM members WHERE id = ?1");
  // An effect stops being pending once the member record that includes it has arrived: acked with
  // the member's version after applying, and the cache at that version or later. Rejected entries
  // were never applied. What headquarters answered with a version the cache does not hold yet is one
  // range of an index; entries the cache's record includes are never read, however many.
  pending_.emplace(db_,
                   "SELECT COALESCE(SUM(CASE WHEN a.again THEN MIN(o.points_delta, 0) ELSE o.points_delta END), 0), "
                   "COALESCE(SUM(o.kind = 'sale' AND NOT a.again), 0), "
                   "MAX(CASE WHEN o.kind = 'sale' AND NOT a.again THEN o.at_us END) FROM answers a JOIN outbox o ON o.seq = a.seq "
                   "WHERE a.member_id = ?1 AND a.state = 1 AND a.acked_version > ?2");
  redeemed_offline_.emplace(db_, "SELECT points FROM offline_redeemed WHERE member_id = ?1 AND day = ?2");
  add_redeemed_offline_.emplace(db_, "INSERT INTO offline_redeemed(member_id, day, points) VALUES(?1, ?2, ?3) "
                                     "ON CONFLICT(member_id, day) DO UPDATE SET points = points + excluded.points");
  coupon_used_.emplace(db_, "SELECT 1 FROM sales WHERE coupon_code = ?1 LIMIT 1");
  sale_.emplace(db_, "SELECT s.receipt_id, COALESCE(o.txn_id, s.foreign_txn_id), s.member_id, s.lines, "
                     "COALESCE(o.body, b.body, s.foreign_body), s.digest, s.origin, s.outbox_seq FROM sales s "
                     "LEFT JOIN outbox o ON o.seq = s.outbox_seq LEFT JOIN outbox_bodies b ON b.seq = s.outbox_seq "
                     "WHERE s.origin = ?1 AND s.receipt_id = ?2");
  // Filing again what is filed already (a database written by other means than this store) keeps the
  // row there: commit_sale refuses a receipt this till holds, so both are the same sale.
  insert_sale_.emplace(db_, "INSERT INTO sales(origin, receipt_id, outbox_seq, digest, member_id, coupon_code, lines) "
                            "VALUES('', ?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(origin, receipt_id) DO NOTHING");
  own_sale_exists_.emplace(db_, "SELECT 1 FROM sales WHERE origin = '' AND receipt_id = ?1");
  update_sale_lines_.emplace(db_, "UPDATE sales SET lines = ?3 WHERE origin = ?1 AND receipt_id = ?2");
  insert_outbox_.emplace(db_, "INSERT INTO outbox(txn_id, kind, member_id, points_delta, at_us, created_us, receipt_id, "
                              "body, digest, coupon_code) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
  entry_body_.emplace(db_, "SELECT o.txn_id, COALESCE(o.body, b.body) FROM outbox o LEFT JOIN outbox_bodies b ON b.seq = o.seq "
                           "WHERE o.seq = ?1");
  refund_.emplace(db_, "SELECT origin, receipt_id, result FROM refunds WHERE refund_id = ?1");
  insert_refund_.emplace(db_, "INSERT INTO refunds(refund_id, origin, receipt_id, result, outbox_seq) "
                              "VALUES(?1, ?2, ?3, ?4, ?5)");
  coupon_.emplace(db_, "SELECT version, member_id, definition FROM coupons WHERE code = ?1");
  member_version_.emplace(db_, "SELECT rowid, version FROM members WHERE id = ?1");
  insert_member_.emplace(db_,
                         "INSERT INTO members(id, version, tier, masked_name, birthday, purchases, last_purchase_us, "
                         "last_purchase_off, points, expiry_points, expiry_us, expiry_off, next_tier, next_tier_spend) "
                         "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14) "
                         "ON CONFLICT(id) DO UPDATE SET version = excluded.version, tier = excluded.tier, "
                         "masked_name = excluded.masked_name, birthday = excluded.birthday, "
                         "purchases = excluded.purchases, last_purchase_us = excluded.last_purchase_us, "
                         "last_purchase_off = excluded.last_purchase_off, points = excluded.points, "
                         "expiry_points = excluded.expiry_points, expiry_us = excluded.expiry_us, "
                         "expiry_off = excluded.expiry_off, next_tier = excluded.next_tier, "
                         "next_tier_spend = excluded.next_tier_spend RETURNING rowid");
  delete_codes_.emplace(db_, "DELETE FROM member_codes WHERE member = ?1");
  insert_code_.emplace(db_, "INSERT INTO member_codes(hash, member) VALUES(?1, ?2) "
                            "ON CONFLICT(hash) DO UPDATE SET member = excluded.member");
  coupon_version_.emplace(db_, "SELECT version FROM coupons WHERE code = ?1");
  upsert_coupon_.emplace(db_, "INSERT INTO coupons(code, version, member_id, definition) VALUES(?1, ?2, ?3, ?4) "
                              "ON CONFLICT(code) DO UPDATE SET version = excluded.version, "
                              "member_id = excluded.member_id, definition = excluded.definition");
  get_meta_.emplace(db_, "SELECT value FROM meta WHERE key = ?1");
  begin_.emplace(db_, "BEGIN");
  commit_.emplace(db_, "COMMIT");
  set_meta_.emplace(db_, "INSERT INTO meta(key, value) VALUES(?1, ?2) "
                         "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
  load_effects();
  load_unfiled();
}

class Store::FilingTransaction {
 public:
  explicit FilingTransaction(Store& s) : s_(s), t_(s.db_), filed_(s.file_sales()) {}
  void commit() {
    t_.commit();
    if (filed_) s_.unfiled_.clear();
  }

 private:
  Store& s_;
  Transaction t_;
  bool filed_;
};

Store::~Store() {
  if (unfiled_.empty()) return;
  try {
    RelaxedSync relaxed(db_, relaxed_);  // filed again at the next open if this is lost
    FilingTransaction(*this).commit();
  } catch (...) {  // filed at the next open
  }
}

void Store::load_unfiled() {
  get_meta_->bind(1, "sales_filed_through");
  const std::int64_t through = get_meta_->step() ? get_meta_->optional_integer(0).value_or(0) : 0;
  get_meta_->reset();
  // A sale whose row is there already (a database written by other means) is read from its row,
  // which may hold lines refunded since: memory holds only sales without one.
  Statement s(db_, "SELECT o.seq, o.receipt_id, o.digest, o.member_id, o.coupon_code FROM outbox o "
                   "WHERE o.seq > ?1 AND o.kind = 'sale' AND NOT EXISTS (SELECT 1 FROM sales s "
                   "WHERE s.origin = '' AND s.receipt_id = o.receipt_id) ORDER BY o.seq");
  s.bind(1, through);
  std::vector<UnfiledSale> out;
  while (s.step()) out.push_back(UnfiledSale{s.integer(0), s.text(1), s.text(2), s.optional_text(3), s.optional_text(4)});
  out.reserve(std::max(out.size() + 1, kFileSalesEvery));  // the next commit files them (commit_sale)
  unfiled_.swap(out);
}

const Store::UnfiledSale* Store::unfiled(std::string_view receipt_id) const {
  for (const UnfiledSale& u : unfiled_)
    if (u.receipt_id == receipt_id) return &u;
  return nullptr;
}

bool Store::file_sales(const UnfiledSale* also) {
  if (unfiled_.empty() && !also) return false;
  const auto file = [this](const UnfiledSale& u) {
    insert_sale_->bind(1, u.receipt_id).bind(2, u.seq).bind(3, u.digest).bind(4, u.member_id).bind(5, u.coupon_code)
        .bind(6, "").run();
  };
  for (const UnfiledSale& u : unfiled_) file(u);
  if (also) file(*also);
  set_meta_->bind(1, "sales_filed_through").bind(2, also ? also->seq : unfiled_.back().seq).run();
  return true;
}

void Store::migrate() {
  const std::int64_t v = db_.user_version();
  if (v > kSchemaVersion)
    throw StorageError("the database has schema " + std::to_string(v) + ", newer than this library's " +
                       std::to_string(kSchemaVersion) + ": use a newer libloyalty");
  if (v == kSchemaVersion) return;
  Transaction t(db_);
  if (v < 1) db_.exec(kSchema1);
  if (v < 2) db_.exec(kSchema2);
  if (v < 3) {
    db_.exec(kSchema3);
    // What headquarters refused before it held anything: held, and so sent again, unless it was
    // refused for its own content.
    Statement rejected(db_, "SELECT seq, COALESCE(reason, '') FROM outbox WHERE state = 2");
    std::vector<std::int64_t> held;
    while (rejected.step())
      if (!protocol::is_final_refusal(rejected.text(1))) held.push_back(rejected.integer(0));
    rejected.reset();
    Statement hold(db_, "UPDATE outbox SET state = 3 WHERE seq = ?1");
    for (const std::int64_t seq : held) hold.bind(1, seq).run();
  }
  if (v < 4) {
    // Every entry before the first one waiting for an answer has one.
    Statement first(db_, "SELECT COALESCE((SELECT MIN(seq) FROM outbox WHERE state = 0) - 1, "
                         "(SELECT COALESCE(MAX(seq), 0) FROM outbox))");
    const std::int64_t through = first.step() ? first.integer(0) : 0;
    first.reset();
    db_.exec(kSchema4);
    Statement set(db_, "INSERT INTO meta(key, value) VALUES('answered_through', ?1) "
                       "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    set.bind(1, through).run();
  }
  if (v < 6) db_.exec(kSchema6);
  db_.set_user_version(kSchemaVersion);
  t.commit();
}

std::optional<std::string> Store::rules_json() {
  get_meta_->bind(1, "rules_json");
  std::optional<std::string> out;
  if (get_meta_->step()) out = get_meta_->text(0);
  get_meta_->reset();
  return out;
}

bool Store::save_rules(const std::string& version, std::string_view json) {
  Transaction t(db_);
  get_meta_->bind(1, "rules_version");
  const bool same = get_meta_->step() && get_meta_->text(0) == version;
  get_meta_->reset();
  if (same) return false;
  set_meta_->bind(1, "rules_version").bind(2, version).run();
  set_meta_->bind(1, "rules_json").bind(2, json).run();
  t.commit();
  return true;
}

CachedMember Store::read_member(Statement& s) {
  CachedMember c;
  engine::Member& m = c.member;
  m.id = s.text(0);
  c.version = s.integer(1);
  m.tier = s.text(2);
  c.masked_name = s.text(3);
  if (const auto b = s.optional_integer(4))
    m.birthday = month_day_from_int(*b);
  m.purchases = s.integer(5);
  if (const auto us = s.optional_integer(6))
    m.last_purchase_at = engine::Instant{*us, static_cast<std::int32_t>(s.integer(7))};
  m.points = s.integer(8);
  if (const auto p = s.optional_integer(9))
    m.next_expiry = engine::PointsExpiry{*p, engine::Instant{s.integer(10), static_cast<std::int32_t>(s.integer(11))}};
  if (const auto t = s.optional_text(12)) m.next_tier = engine::NextTier{*t, s.integer(13)};
  return c;
}

std::optional<CachedMember> Store::member_by_code(const protocol::CodeHash& code) {
  by_code_->bind_blob(1, code.data(), code.size());
  std::optional<CachedMember> out;
  if (by_code_->step()) out = read_member(*by_code_);
  by_code_->reset();
  return out;
}

std::optional<CachedMember> Store::member_by_id(std::string_view id) {
  by_id_->bind(1, id);
  std::optional<CachedMember> out;
  if (by_id_->step()) out = read_member(*by_id_);
  by_id_->reset();
  return out;
}

PendingEffects Store::pending(std::string_view member_id, std::int64_t cache_version) {
  PendingEffects p;
  const auto add = [&p](std::int64_t points, bool sale, std::optional<std::int64_t> at_us) {
    p.points += points;
    if (!sale) return;
    ++p.sales;
    if (at_us && (!p.last_sale_us || *p.last_sale_us < *at_us)) p.last_sale_us = at_us;
  };
  if (const auto it = unanswered_.find(member_id); it != unanswered_.end())
    for (const Effect& e : it->second) add(e.points, e.sale, e.at_us);
  if (!answered_members_.contains(member_id)) return p;
  pending_->bind(1, member_id).bind(2, cache_version);
  if (pending_->step()) {
    p.points += pending_->integer(0);
    p.sales += pending_->integer(1);
    if (const auto last = pending_->optional_integer(2); last && (!p.last_sale_us || *p.last_sale_us < *last))
      p.last_sale_us = last;
  }
  pending_->reset();
  return p;
}

std::int64_t Store::redeemed_offline(std::string_view member_id, std::int64_t local_day) {
  redeemed_offline_->bind(1, member_id).bind(2, local_day);
  const std::int64_t r = redeemed_offline_->step() ? redeemed_offline_->integer(0) : 0;
  redeemed_offline_->reset();
  return r;
}

bool Store::coupon_used_here(std::string_view code) {
  for (const UnfiledSale& u : unfiled_)
    if (u.coupon_code == code) return true;
  coupon_used_->bind(1, code);
  const bool used = coupon_used_->step();
  coupon_used_->reset();
  return used;
}

std::optional<StoredSale> Store::sale(std::string_view origin, std::string_view receipt_id) {
  if (const UnfiledSale* u = origin.empty() ? unfiled(receipt_id) : nullptr) {
    entry_body_->bind(1, u->seq);
    std::optional<StoredSale> out;
    try {
      if (!entry_body_->step()) throw StorageError("the outbox entry of sale " + u->receipt_id + " is not in the database");
      out = StoredSale{u->receipt_id, entry_body_->text(0), u->member_id, "", body_at(*entry_body_, 1), u->digest, "", u->seq};
    } catch (...) {
      entry_body_->reset();
      throw;
    }
    entry_body_->reset();
    return out;
  }
  sale_->bind(1, origin).bind(2, receipt_id);
  std::optional<StoredSale> out;
  try {
    if (sale_->step())
      out = StoredSale{sale_->text(0), sale_->text(1), sale_->optional_text(2), sale_->text(3), body_at(*sale_, 4),
                       sale_->text(5), sale_->text(6), sale_->integer(7)};
  } catch (...) {
    sale_->reset();
    throw;
  }
  sale_->reset();
  return out;
}

void Store::set_sale_lines(std::string_view origin, std::string_view receipt_id, const std::string& lines) {
  if (!origin.empty() || !unfiled(receipt_id)) {  // its row is there: one statement, as before schema 6
    update_sale_lines_->bind(1, origin).bind(2, receipt_id).bind(3, lines).run();
    return;
  }
  FilingTransaction t(*this);
  update_sale_lines_->bind(1, origin).bind(2, receipt_id).bind(3, lines).run();
  t.commit();
}

std::optional<std::string> Store::entry_member(std::int64_t seq) {
  Statement s(db_, "SELECT COALESCE(a.member_id, o.member_id) FROM outbox o LEFT JOIN answers a ON a.seq = o.seq "
                   "WHERE o.seq = ?1");
  s.bind(1, seq);
  return s.step() ? s.optional_text(0) : std::nullopt;
}

std::vector<std::pair<std::string, std::string>> Store::refunds_of(std::string_view origin, std::string_view receipt_id) {
  Statement s(db_, "SELECT o.txn_id, COALESCE(o.body, b.body) FROM refunds r JOIN outbox o ON o.seq = r.outbox_seq "
                   "LEFT JOIN outbox_bodies b ON b.seq = o.seq LEFT JOIN answers a ON a.seq = o.seq "
                   "WHERE r.origin = ?1 AND r.receipt_id = ?2 AND COALESCE(a.state, 0) != 2 ORDER BY r.outbox_seq");
  s.bind(1, origin).bind(2, receipt_id);
  std::vector<std::pair<std::string, std::string>> out;
  while (s.step()) out.emplace_back(s.text(0), body_at(s, 1));
  return out;
}

void Store::load_effects() {
  // Entries refused for good (state 2) never count; a new generation asks for them again, counting
  // only what they take (`again`). Applied ones count from the answers_pending index.
  std::set<std::int64_t> to_send;
  std::map<std::int64_t, std::int64_t> waiting;
  Effects unanswered;
  std::unordered_map<std::int64_t, std::string> member_of;
  Statement s(db_, "SELECT o.seq, COALESCE(a.state, 0), o.created_us, COALESCE(a.member_id, o.member_id), a.acked_version IS NULL, "
                   "o.points_delta, o.kind = 'sale', o.at_us, COALESCE(a.again, 0) FROM outbox o LEFT JOIN answers a ON a.seq = o.seq "
                   "WHERE o.seq > ?1 AND COALESCE(a.state, 0) IN (0, 3) UNION ALL "
                   "SELECT o.seq, a.state, o.created_us, COALESCE(a.member_id, o.member_id), a.acked_version IS NULL, "
                   "o.points_delta, o.kind = 'sale', o.at_us, a.again FROM answers a JOIN outbox o ON o.seq = a.seq "
                   "WHERE a.state IN (2, 3) AND a.state = 3 AND a.seq <= ?1");
  s.bind(1, answered_through());
  while (s.step()) {
    const std::int64_t seq = s.integer(0);
    to_send.insert(seq);
    if (s.integer(1) == 0) waiting.emplace(seq, s.integer(2));
    if (const auto member = s.optional_text(3); member && s.integer(4) != 0) {
      unanswered[*member].push_back(effect_of(seq, s.integer(5), s.integer(6) != 0, s.optional_integer(7), s.integer(8) != 0));
      member_of.emplace(seq, *member);
    }
  }
  // Read whole before it replaces the set: a failure half way keeps the set as it was (more, never fewer).
  MemberSet answered = answered_members_;
  Statement a(db_, "SELECT DISTINCT member_id FROM answers WHERE member_id IS NOT NULL AND state = 1");
  while (a.step()) answered.insert(a.text(0));
  to_send_.swap(to_send);
  waiting_.swap(waiting);
  unanswered_.swap(unanswered);
  unanswered_member_.swap(member_of);
  answered_members_.swap(answered);
}

std::int64_t Store::answered_through() {
  get_meta_->bind(1, "answered_through");
  const std::int64_t v = get_meta_->step() ? get_meta_->optional_integer(0).value_or(0) : 0;
  get_meta_->reset();
  return v;
}

void Store::advance_answered_through() {
  const std::int64_t through = answered_through();
  if (!first_waiting_)
    first_waiting_.emplace(db_, "SELECT o.seq FROM outbox o LEFT JOIN answers a ON a.seq = o.seq WHERE o.seq > ?1 AND "
                                "COALESCE(a.state, 0) = 0 ORDER BY o.seq LIMIT 1");
  first_waiting_->bind(1, through);
  const std::int64_t now = first_waiting_->step() ? first_waiting_->integer(0) - 1 : last_seq();
  first_waiting_->reset();
  if (now != through) set_meta_->bind(1, "answered_through").bind(2, now).run();
}

Store::Effect Store::effect_of(std::int64_t seq, std::int64_t points, bool sale, std::optional<std::int64_t> at_us,
                               bool again) {
  if (again) return Effect{seq, std::min<std::int64_t>(points, 0), false, std::nullopt};
  return Effect{seq, points, sale, at_us};
}

void Store::count_unanswered(std::int64_t seq, const OutboxEntry& e) {
  track_waiting(seq, e.created_us, e.member_id, effect_of(seq, e.points_delta, e.kind == "sale", e.at_us, false));
}

void Store::track_waiting(std::int64_t seq, std::int64_t created_us, const std::optional<std::string>& member_id,
                    const Effect& effect) {
  to_send_.insert(seq);
  waiting_.emplace(seq, created_us);
  if (!member_id || !unanswered_member_.emplace(seq, *member_id).second) return;
  unanswered_[*member_id].push_back(effect);
}

void Store::answered(std::int64_t seq, bool applied, const std::optional<std::string>& member_id) {
  to_send_.erase(seq);
  waiting_.erase(seq);
  const auto m = unanswered_member_.find(seq);
  if (m == unanswered_member_.end()) return;
  // Applied: it counts from the index of answered entries now, under the member headquarters named.
  if (applied) answered_members_.insert(member_id ? *member_id : m->second);
  if (const auto it = unanswered_.find(m->second); it != unanswered_.end()) {
    std::erase_if(it->second, [seq](const Effect& e) { return e.seq == seq; });
    if (it->second.empty()) unanswered_.erase(it);
  }
  unanswered_member_.erase(m);
}

void Store::held(std::int64_t seq) {
  to_send_.insert(seq);
  waiting_.erase(seq);
}

std::int64_t Store::add_outbox(const OutboxEntry& e, const NewSale* sale) {
  insert_outbox_->bind(1, e.txn_id).bind(2, e.kind).bind(3, e.member_id).bind(4, e.points_delta).bind(5, e.at_us)
      .bind(6, e.created_us);
  if (sale) insert_outbox_->bind(7, sale->receipt_id).bind(9, sale->digest).bind(10, sale->coupon_code);
  else insert_outbox_->bind_null(7).bind_null(9).bind_null(10);
  if (const auto packed = pack_body(e.body)) insert_outbox_->bind_blob(8, packed->data(), packed->size()).run();
  else insert_outbox_->bind(8, e.body).run();
  return db_.last_insert_rowid();
}

void Store::durable() {
  if (!relaxed_) return;
  db_.exec("PRAGMA synchronous=FULL");  // throws StorageError: nothing is committed without its fsync
  relaxed_ = false;
}

std::int64_t Store::commit_sale(const NewSale& s, const OutboxEntry& e) {
  // The row's key would refuse it only once filed, and with it every filing after.
  own_sale_exists_->bind(1, s.receipt_id);
  const bool exists = own_sale_exists_->step();
  own_sale_exists_->reset();
  if (exists || unfiled(s.receipt_id)) throw StorageError("receipt " + s.receipt_id + " names a sale this till holds");
  durable();
  Transaction t(db_);
  const std::int64_t seq = add_outbox(e, &s);
  if (s.offline && s.redeemed_points > 0 && s.member_id)
    add_redeemed_offline_->bind(1, *s.member_id).bind(2, s.local_day).bind(3, s.redeemed_points).run();
  UnfiledSale u{seq, s.receipt_id, s.digest, s.member_id, s.coupon_code};
  // Filed with the sales before it once enough wait (their rows share a page or two).
  const bool filed = unfiled_.size() + 1 >= kFileSalesEvery && file_sales(&u);
  t.commit();
  if (filed) unfiled_.clear();
  else unfiled_.push_back(std::move(u));  // room reserved: cannot throw
  count_unanswered(seq, e);
  return seq;
}

void Store::add_foreign_sale(const std::string& origin, const std::string& receipt_id, const std::string& txn_id,
                             const std::optional<std::string>& member_id, const std::string& lines,
                             const std::string& body) {
  Statement s(db_, "INSERT INTO sales(origin, receipt_id, outbox_seq, digest, member_id, coupon_code, lines, "
                   "foreign_txn_id, foreign_body) VALUES(?1, ?2, 0, '', ?3, NULL, ?4, ?5, ?6) "
                   "ON CONFLICT(origin, receipt_id) DO UPDATE SET member_id = excluded.member_id, lines = excluded.lines "
                   "WHERE foreign_txn_id = excluded.foreign_txn_id");
  s.bind(1, origin).bind(2, receipt_id).bind(3, member_id).bind(4, lines).bind(5, txn_id).bind(6, body).run();
}

std::optional<StoredRefund> Store::refund(std::string_view refund_id) {
  refund_->bind(1, refund_id);
  std::optional<StoredRefund> out;
  if (refund_->step()) out = StoredRefund{refund_->text(0), refund_->text(1), refund_->text(2)};
  refund_->reset();
  return out;
}

std::int64_t Store::commit_refund(const std::string& refund_id, const std::string& origin, const std::string& receipt_id,
                                  const std::string& lines_left, const std::string& result, const OutboxEntry& e) {
  durable();
  FilingTransaction t(*this);
  update_sale_lines_->bind(1, origin).bind(2, receipt_id).bind(3, lines_left).run();
  if (db_.changes() != 1) throw StorageError("refund of a sale that is not stored: " + receipt_id);
  const std::int64_t seq = add_outbox(e);
  insert_refund_->bind(1, refund_id).bind(2, origin).bind(3, receipt_id).bind(4, result).bind(5, seq).run();
  t.commit();
  count_unanswered(seq, e);
  return seq;
}

void Store::adopt_refund(const std::string& refund_id, const std::string& origin, const std::string& receipt_id,
                         const std::string& result, const OutboxEntry& e) {
  Transaction t(db_);
  const std::int64_t seq = add_outbox(e);
  Statement answered(db_, "INSERT INTO answers(seq, state, acked_version, member_id, created_us) VALUES(?1, 1, 0, ?2, ?3)");
  answered.bind(1, seq).bind(2, e.member_id).bind(3, e.created_us).run();
  insert_refund_->bind(1, refund_id).bind(2, origin).bind(3, receipt_id).bind(4, result).bind(5, seq).run();
  t.commit();
}

bool Store::holds_enrollment(std::string_view member_id) {
  Statement s(db_, "SELECT 1 FROM outbox o LEFT JOIN answers a ON a.seq = o.seq WHERE o.member_id = ?1 AND "
                   "o.kind = 'enrollment' AND COALESCE(a.state, 0) != 2 LIMIT 1");
  s.bind(1, member_id);
  return s.step();
}

std::int64_t Store::commit_enrollment(const protocol::MemberRecord& member, const OutboxEntry& e, bool cache) {
  durable();
  Transaction t(db_);
  if (cache) upsert_member(member);
  const std::int64_t seq = add_outbox(e);
  t.commit();
  count_unanswered(seq, e);
  return seq;
}

void Store::upsert_member(const protocol::MemberRecord& rec) {
  const engine::Member& m = rec.member;
  Statement& s = *insert_member_;
  s.bind(1, m.id).bind(2, rec.version).bind(3, m.tier).bind(4, rec.masked_name);
  if (m.birthday) s.bind(5, month_day_to_int(*m.birthday)); else s.bind_null(5);
  s.bind(6, m.purchases);
  if (m.last_purchase_at) s.bind(7, m.last_purchase_at->utc_micros).bind(8, std::int64_t{m.last_purchase_at->offset_minutes});
  else s.bind_null(7).bind_null(8);
  s.bind(9, m.points);
  if (m.next_expiry) {
    s.bind(10, m.next_expiry->points).bind(11, m.next_expiry->at.utc_micros)
        .bind(12, std::int64_t{m.next_expiry->at.offset_minutes});
  } else {
    s.bind_null(10).bind_null(11).bind_null(12);
  }
  if (m.next_tier) s.bind(13, m.next_tier->tier).bind(14, m.next_tier->spend_needed_minor);
  else s.bind_null(13).bind_null(14);
  if (!s.step()) throw StorageError("member upsert returned no row");
  const std::int64_t rowid = s.integer(0);
  s.reset();
  delete_codes_->bind(1, rowid).run();
  for (const protocol::CodeHash& h : rec.codes) insert_code_->bind_blob(1, h.data(), h.size()).bind(2, rowid).run();
}

Store::Applied Store::apply_changes(const protocol::ChangesDocument& doc, bool from_headquarters) {
  Applied applied;
  struct Again {
    std::int64_t seq = 0, created_us = 0;
    std::optional<std::string> member_id;
    std::int64_t points = 0;
  };
  std::vector<Again> again;  // entries a new generation asks headquarters for again
  RelaxedSync relaxed(db_, relaxed_);
  Transaction t(db_);
  if (doc.generation) {
    const std::string mine = generation();
    if (!mine.empty() && mine != *doc.generation) {
      db_.exec("UPDATE members SET version = 0");
      db_.exec("UPDATE coupons SET version = 0");
      // Sent again, since the restored database may not hold them, each counting only what it takes
      // from its member (`again`) until the new generation's record that includes it arrives: the
      // cache's record may be of the old generation and include it (counting what it gives would let
      // a member redeem it twice), or not include it (not counting what it takes would too).
      Statement asked(db_, "SELECT o.seq, o.created_us, COALESCE(a.member_id, o.member_id), o.points_delta FROM answers a "
                           "JOIN outbox o ON o.seq = a.seq WHERE a.state IN (1, 2)");
      while (asked.step())
        again.push_back(Again{asked.integer(0), asked.integer(1), asked.optional_text(2), asked.integer(3)});
      asked.reset();
      db_.exec("UPDATE answers SET state = 0, acked_version = NULL, again = 1 WHERE state IN (1, 2)");
      set_meta_->bind(1, "answered_through").bind(2, std::int64_t{0}).run();
      db_.exec("DELETE FROM meta WHERE key = 'seen_member'");
      applied.new_generation = true;
    }
    if (mine != *doc.generation) set_meta_->bind(1, "generation").bind(2, *doc.generation).run();
  }
  for (const protocol::MemberRecord& rec : doc.members) {
    member_version_->bind(1, rec.member.id);
    const bool newer = !member_version_->step() || member_version_->integer(1) < rec.version;
    member_version_->reset();
    if (!newer) {
      ++applied.skipped;
      continue;
    }
    upsert_member(rec);
    ++applied.members;
  }
  for (const protocol::CouponRecord& c : doc.coupons) {
    coupon_version_->bind(1, c.coupon.code);
    const bool newer = !coupon_version_->step() || coupon_version_->integer(0) < c.version;
    coupon_version_->reset();
    if (!newer) continue;
    engine::detail::JsonWriter def;
    def.begin_object();
    engine::detail::write_coupon_fields(def, c.coupon);
    def.end_object();
    upsert_coupon_->bind(1, c.coupon.code).bind(2, c.version).bind(3, c.member_id).bind(4, def.text()).run();
    ++applied.coupons;
  }
  set_meta_->bind(1, "cursor").bind(2, doc.next).run();
  // The newest member record seen: headquarters tells by it that its database went back.
  if (from_headquarters && !doc.members.empty())
    set_meta_->bind(1, "seen_member")
        .bind(2, doc.members.back().member.id + " " + std::to_string(doc.members.back().version)).run();
  t.commit();
  // Every entry answered before is to send again (memory follows the database once it is committed).
  for (const Again& a : again) {
    track_waiting(a.seq, a.created_us, a.member_id, effect_of(a.seq, a.points, false, std::nullopt, true));
  }
  applied.next = doc.next;
  applied.more = doc.more;
  return applied;
}

std::optional<protocol::CouponRecord> Store::coupon(std::string_view code) {
  coupon_->bind(1, code);
  std::optional<protocol::CouponRecord> out;
  if (coupon_->step()) {
    protocol::CouponRecord rec;
    rec.version = coupon_->integer(0);
    rec.member_id = coupon_->optional_text(1);
    const std::string def = coupon_->text(2);
    coupon_->reset();
    auto j = engine::detail::parse_json(def, "coupon");
    engine::detail::ObjectReader r(j, "coupon");
    rec.coupon = engine::detail::read_coupon_fields(r, std::string(r.string("code")));
    out = std::move(rec);
  }
  coupon_->reset();
  return out;
}

StoreStatus Store::status() {
  StoreStatus st;
  st.outbox_depth = static_cast<std::int64_t>(waiting_.size());
  for (const auto& [seq, created_us] : waiting_)
    if (!st.oldest_unsynced_us || created_us < *st.oldest_unsynced_us) st.oldest_unsynced_us = created_us;
  Statement answered(db_, "SELECT COALESCE(SUM(state = 2), 0), COALESCE(SUM(state = 3), 0) FROM answers WHERE state IN (2, 3)");
  if (answered.step()) {
    st.rejected = answered.integer(0);
    st.held = answered.integer(1);
  }
  Statement members(db_, "SELECT COUNT(*) FROM members");
  if (members.step()) st.members = members.integer(0);
  const auto meta = [&](const char* key) {
    get_meta_->bind(1, key);
    std::optional<std::int64_t> v;
    std::optional<std::string> t;
    if (get_meta_->step()) {
      v = get_meta_->optional_integer(0);
      t = get_meta_->optional_text(0);
    }
    get_meta_->reset();
    return std::make_pair(v, t);
  };
  st.cursor = meta("cursor").first.value_or(0);
  st.last_sync_us = meta("last_sync_us").first;
  st.rules_version = meta("rules_version").second.value_or("");
  st.last_sync_error = meta("last_sync_error").second.value_or("");
  st.rules_error = meta("rules_error").second.value_or("");
  return st;
}

}  // namespace loyalty::store

namespace loyalty::store {

std::optional<std::int64_t> Store::last_sync_us() {
  get_meta_->bind(1, "last_sync_us");
  std::optional<std::int64_t> v;
  if (get_meta_->step()) v = get_meta_->optional_integer(0);
  get_meta_->reset();
  return v;
}

}  // namespace loyalty::store

namespace loyalty::store {

std::string Store::sync_error() {
  get_meta_->bind(1, "last_sync_error");
  std::string v = get_meta_->step() ? get_meta_->optional_text(0).value_or("") : std::string();
  get_meta_->reset();
  return v;
}

std::pair<std::string, std::string> Store::seen() {
  get_meta_->bind(1, "seen_member");
  std::string member = get_meta_->step() ? get_meta_->optional_text(0).value_or("") : std::string();
  get_meta_->reset();
  Statement last(db_, "SELECT o.txn_id FROM answers a JOIN outbox o ON o.seq = a.seq WHERE a.state = 1 "
                      "ORDER BY a.seq DESC LIMIT 1");
  return {member, last.step() ? last.text(0) : std::string()};
}

std::string Store::generation() {
  get_meta_->bind(1, "generation");
  std::string v = get_meta_->step() ? get_meta_->optional_text(0).value_or("") : std::string();
  get_meta_->reset();
  return v;
}

std::int64_t Store::cursor() {
  get_meta_->bind(1, "cursor");
  const std::int64_t v = get_meta_->step() ? get_meta_->optional_integer(0).value_or(0) : 0;
  get_meta_->reset();
  return v;
}

void Store::set_sync_error(std::string_view message) {
  RelaxedSync relaxed(db_, relaxed_);
  set_meta_->bind(1, "last_sync_error").bind(2, message).run();
}

void Store::set_rules_error(std::string_view message) {
  RelaxedSync relaxed(db_, relaxed_);
  set_meta_->bind(1, "rules_error").bind(2, message).run();
}

void Store::set_last_sync_us(std::int64_t us) { set_meta_->bind(1, "last_sync_us").bind(2, us).run(); }

// An entry that counts for another member than the one the till named (an enrollment merged into an
// existing member at headquarters) is filed under that member from now on, so that it counts as
// pending for the member the till's cache will hold.
bool Store::acknowledge_row(std::int64_t seq, std::int64_t member_version, const std::optional<std::string>& member_id) {
  // An entry sent again for a new generation keeps `again`: it counts what it takes until the new
  // generation's record of `member_version` or later arrives.
  if (!ack_)
    ack_.emplace(db_, "INSERT INTO answers(seq, state, acked_version, member_id, created_us) "
                      "SELECT seq, 1, ?2, COALESCE(?3, member_id), created_us FROM outbox WHERE seq = ?1 "
                      "ON CONFLICT(seq) DO UPDATE SET state = 1, "
                      "acked_version = excluded.acked_version, "
                      "member_id = COALESCE(?3, member_id)");
  ack_->bind(1, seq).bind(2, member_version).bind(3, member_id).run();
  return db_.changes() > 0;  // none for an entry this database does not hold
}

void Store::acknowledge(std::int64_t seq, std::int64_t member_version, const std::optional<std::string>& member_id) {
  if (acknowledge_row(seq, member_version, member_id)) answered(seq, true, member_id);
}

void Store::reject(std::int64_t seq, std::string_view reason) {
  if (reject_row(seq, reason)) answered(seq, false, std::nullopt);
}

void Store::hold(std::int64_t seq, std::string_view reason) {
  if (hold_row(seq, reason)) held(seq);
}

std::int64_t Store::prune(std::int64_t before_us, std::int64_t today, std::size_t limit,
                          std::chrono::steady_clock::time_point until) {
  // Applied at headquarters, older than the retention, and in the member record the cache holds (so
  // no longer pending): never one waiting, held or refused. A sale goes with its refunds, so not
  // while one of them could not go yet (their ids must stay known, and counted by later refunds).
  if (!prunable_) {
    prunable_.emplace(db_, "SELECT o.seq, o.kind = 'sale', o.receipt_id FROM answers a JOIN outbox o ON o.seq = a.seq "
                           "WHERE a.state = 1 AND a.created_us < ?1 AND o.seq < (SELECT MAX(seq) FROM outbox) AND "
                           "(a.member_id IS NULL OR a.acked_version <= "
                           "COALESCE((SELECT version FROM members m WHERE m.id = a.member_id), 0)) AND "
                           "(o.kind != 'sale' OR NOT EXISTS (SELECT 1 FROM refunds r JOIN outbox ro ON ro.seq = r.outbox_seq "
                           "LEFT JOIN answers ra ON ra.seq = ro.seq WHERE r.origin = '' AND r.receipt_id = o.receipt_id AND "
                           "(COALESCE(ra.state, 0) != 1 OR ro.created_us >= ?1))) "
                           "ORDER BY a.created_us LIMIT ?2");
    prune_body_.emplace(db_, "DELETE FROM outbox_bodies WHERE seq = ?1");
    prune_answer_.emplace(db_, "DELETE FROM answers WHERE seq = ?1");
    prune_entry_.emplace(db_, "DELETE FROM outbox WHERE seq = ?1");
    prune_refunds_.emplace(db_, "DELETE FROM refunds WHERE origin = '' AND receipt_id = ?1");
    prune_sale_.emplace(db_, "DELETE FROM sales WHERE origin = '' AND receipt_id = ?1 AND outbox_seq = ?2");
  }
  RelaxedSync relaxed(db_, relaxed_);  // pruning again after a power loss loses nothing
  FilingTransaction t(*this);  // so that a sale pruned goes with its row
  struct Row {
    std::int64_t seq;
    std::optional<std::string> receipt_id;  // a sale's
  };
  std::vector<Row> rows;
  prunable_->bind(1, before_us).bind(2, static_cast<std::int64_t>(limit));
  while (prunable_->step())
    rows.push_back(Row{prunable_->integer(0), prunable_->integer(1) != 0 ? prunable_->optional_text(2) : std::nullopt});
  prunable_->reset();
  std::int64_t pruned = 0;
  for (const auto& [seq, receipt_id] : rows) {
    if (receipt_id) {
      prune_refunds_->bind(1, *receipt_id).run();
      prune_sale_->bind(1, *receipt_id).bind(2, seq).run();
    }
    prune_body_->bind(1, seq).run();
    prune_answer_->bind(1, seq).run();
    prune_entry_->bind(1, seq).run();
    ++pruned;
    if (std::chrono::steady_clock::now() >= until) break;  // pages read from a cold disk: the rest next slice
  }
  Statement days(db_, "DELETE FROM offline_redeemed WHERE day < ?1");
  days.bind(1, today - 1).run();
  t.commit();
  return pruned;
}

std::int64_t Store::to_send() { return static_cast<std::int64_t>(to_send_.size()); }

std::int64_t Store::last_seq() {
  Statement s(db_, "SELECT COALESCE(MAX(seq), 0) FROM outbox");
  return s.step() ? s.integer(0) : 0;
}

void Store::record_answers(const std::vector<Answer>& answers) {
  RelaxedSync relaxed(db_, relaxed_);
  FilingTransaction t(*this);  // a write that comes anyway
  std::vector<const Answer*> written;  // answers for entries this database holds
  for (const Answer& a : answers) {
    const bool w = a.rejected && a.held ? hold_row(a.seq, a.reason)
                   : a.rejected         ? reject_row(a.seq, a.reason)
                                        : acknowledge_row(a.seq, a.member_version, a.member_id);
    if (w) written.push_back(&a);
  }
  advance_answered_through();
  t.commit();
  // What this till counts and sends follows the database once the answers are in it (a held entry
  // still counts, and is sent again).
  for (const Answer* a : written) {
    if (a->rejected && a->held) held(a->seq);
    else answered(a->seq, !a->rejected, a->member_id);
  }
}

std::vector<Unsent> Store::unsent(std::size_t limit, std::int64_t after_seq, std::int64_t through_seq,
                                 std::vector<std::pair<std::int64_t, std::string>>* damaged) {
  if (!unsent_)
    unsent_.emplace(db_, "SELECT o.txn_id, COALESCE(o.body, b.body) FROM outbox o LEFT JOIN outbox_bodies b ON b.seq = o.seq "
                         "WHERE o.seq = ?1");
  std::vector<Unsent> out;
  std::vector<Answer> refused;  // entries whose body is damaged: they can never be sent
  for (auto it = to_send_.upper_bound(after_seq); it != to_send_.end() && *it <= through_seq && out.size() < limit; ++it) {
    unsent_->bind(1, *it);
    if (!unsent_->step()) {
      unsent_->reset();
      throw StorageError("outbox entry " + std::to_string(*it) + " to send is not in the database");
    }
    try {
      out.push_back(Unsent{*it, unsent_->text(0), body_at(*unsent_, 1)});
    } catch (const StorageError& e) {
      Answer a;
      a.seq = *it;
      a.rejected = true;
      a.reason = std::string("damaged in the till's database, not sent: ") + e.what();
      refused.push_back(std::move(a));
    }
    unsent_->reset();
  }
  // Refused here for good, as headquarters refuses a transaction for its content: kept in the outbox
  // with the reason (status counts it), the others sent.
  if (!refused.empty()) {
    record_answers(refused);
    if (damaged)
      for (const Answer& a : refused) damaged->emplace_back(a.seq, a.reason);
  }
  return out;
}

bool Store::reject_row(std::int64_t seq, std::string_view reason) {
  Statement s(db_, "INSERT INTO answers(seq, state, member_id, reason, created_us) "
                   "SELECT seq, 2, member_id, ?2, created_us FROM outbox WHERE seq = ?1 "
                   "ON CONFLICT(seq) DO UPDATE SET state = 2, reason = excluded.reason");
  s.bind(1, seq).bind(2, reason).run();
  return db_.changes() > 0;
}

std::optional<std::vector<std::pair<std::string, std::string>>> Store::sales_to_rehash() {
  get_meta_->bind(1, "sale_digest");
  const bool current = get_meta_->step() && get_meta_->optional_integer(0).value_or(0) >= 2;
  get_meta_->reset();
  if (current) return std::nullopt;
  FilingTransaction(*this).commit();  // the rows read below
  std::vector<std::pair<std::string, std::string>> out;
  Statement s(db_, "SELECT s.receipt_id, COALESCE(o.body, b.body) FROM sales s JOIN outbox o ON o.seq = s.outbox_seq "
                   "LEFT JOIN outbox_bodies b ON b.seq = s.outbox_seq WHERE s.origin = '' AND s.outbox_seq != 0");
  while (s.step()) out.emplace_back(s.text(0), body_at(s, 1));
  return out;
}

void Store::set_sale_digests(const std::vector<std::pair<std::string, std::string>>& digests) {
  Transaction t(db_);
  Statement s(db_, "UPDATE sales SET digest = ?2 WHERE origin = '' AND receipt_id = ?1");
  for (const auto& [receipt, digest] : digests) s.bind(1, receipt).bind(2, digest).run();
  set_meta_->bind(1, "sale_digest").bind(2, std::int64_t{2}).run();
  t.commit();
}

bool Store::hold_row(std::int64_t seq, std::string_view reason) {
  Statement s(db_, "INSERT INTO answers(seq, state, member_id, reason, created_us) "
                   "SELECT seq, 3, member_id, ?2, created_us FROM outbox WHERE seq = ?1 "
                   "ON CONFLICT(seq) DO UPDATE SET state = 3, reason = excluded.reason");
  s.bind(1, seq).bind(2, reason).run();
  return db_.changes() > 0;
}

}  // namespace loyalty::store

namespace loyalty::store {

ReadTransaction::ReadTransaction(Store& s) : s_(s) { s_.begin_->run(); }

ReadTransaction::~ReadTransaction() {
  try {
    s_.commit_->run();
  } catch (...) {  // a read transaction has nothing to lose; the next BEGIN would report a real problem
  }
}

}  // namespace loyalty::store
