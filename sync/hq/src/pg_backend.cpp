// The PostgreSQL backend: several loyalty-hq instances on one database give the results of one
// (docs/operations.md, "Several instances"). Write transactions run at READ COMMITTED and lock what
// they change before they read it: a member (SELECT ... FOR UPDATE), a sale being refunded, a coupon,
// a slice of the daily pass; the batches of one till and each slice of the daily work take an advisory
// lock. A conflict PostgreSQL detects (a deadlock, a key another transaction took meanwhile) runs the
// transaction again from its start. The changes feed's numbers are given at the end of each
// transaction, under the feed's row lock held until it commits, so that they follow the order of commits.
#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <thread>
#include <tuple>

#include "ledger_storage.hpp"
#include "loyalty/hq/storage.hpp"
#include "pg.hpp"
#include "policy.hpp"
#include "port.hpp"

namespace loyalty::hq {
namespace {

using namespace detail;
using pg::Connection;
using pg::Params;
using pg::PgError;
using pg::Result;

constexpr int kSchemaVersion = 2;

// Each migration is applied once, in order, in a transaction of its own, while the instance holds
// the migrations' advisory lock: instances starting together apply it once.
const char* const kMigrations[] = {
    // 1: the ledger as SQLite's schema 3 holds it. Instants are UTC microseconds.
    R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE feed(id INT PRIMARY KEY CHECK (id = 1), last BIGINT NOT NULL);
INSERT INTO feed VALUES(1, 0);
CREATE TABLE members(
  id TEXT PRIMARY KEY,
  version BIGINT NOT NULL,
  seq BIGINT NOT NULL,
  name TEXT NOT NULL,
  phone TEXT,
  masked_name TEXT NOT NULL,
  tier TEXT NOT NULL,
  birthday INT,
  purchases BIGINT NOT NULL DEFAULT 0,
  last_purchase_us BIGINT,
  last_purchase_off INT,
  points BIGINT NOT NULL DEFAULT 0,
  created_us BIGINT NOT NULL,
  grace_until_us BIGINT,
  spend_minor BIGINT NOT NULL DEFAULT 0,
  spend_at_us BIGINT NOT NULL DEFAULT 0);
CREATE INDEX members_seq ON members(seq);
CREATE INDEX members_tier ON members(tier, id);
CREATE TABLE member_codes(hash BYTEA PRIMARY KEY, member_id TEXT NOT NULL, kind TEXT NOT NULL);
CREATE INDEX member_codes_member ON member_codes(member_id);
CREATE TABLE aliases(alias TEXT PRIMARY KEY, member_id TEXT NOT NULL);
CREATE INDEX aliases_member ON aliases(member_id);
CREATE TABLE coupons(
  code TEXT PRIMARY KEY,
  version BIGINT NOT NULL,
  seq BIGINT NOT NULL,
  member_id TEXT,
  definition TEXT NOT NULL,
  issued_us BIGINT,
  used_txn_id TEXT,
  used_store TEXT,
  used_at_us BIGINT);
CREATE INDEX coupons_seq ON coupons(seq);
CREATE INDEX coupons_member ON coupons(member_id);
CREATE SEQUENCE txns_row;
CREATE TABLE txns(
  row BIGINT PRIMARY KEY,
  txn_id TEXT NOT NULL UNIQUE,
  store_id TEXT NOT NULL,
  till_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  digest TEXT NOT NULL,
  status TEXT NOT NULL,
  reason TEXT,
  member_id TEXT,
  member_version BIGINT,
  at_us BIGINT NOT NULL,
  received_us BIGINT NOT NULL,
  body TEXT NOT NULL,
  held_us BIGINT,
  duplicate_of TEXT,
  waits_for TEXT);
CREATE INDEX txns_waiting ON txns(waits_for) WHERE status = 'held';
CREATE INDEX txns_held ON txns(held_us) WHERE held_us IS NOT NULL;
CREATE INDEX txns_duplicate ON txns(duplicate_of) WHERE duplicate_of IS NOT NULL;
CREATE TABLE sales(
  row BIGINT PRIMARY KEY,
  txn_id TEXT NOT NULL,
  store_id TEXT NOT NULL,
  receipt_id TEXT NOT NULL,
  member_id TEXT,
  at_us BIGINT NOT NULL,
  payable_minor BIGINT NOT NULL,
  spend_sold_minor BIGINT NOT NULL,
  spend_minor BIGINT NOT NULL,
  refunded_minor BIGINT NOT NULL DEFAULT 0,
  points_earned BIGINT NOT NULL,
  points_redeemed BIGINT NOT NULL,
  till_points_earned BIGINT NOT NULL,
  till_taken_back BIGINT NOT NULL DEFAULT 0,
  points_taken_back BIGINT NOT NULL DEFAULT 0,
  points_given_back BIGINT NOT NULL DEFAULT 0,
  rules_version TEXT NOT NULL);
CREATE INDEX sales_receipt ON sales(store_id, receipt_id);
CREATE INDEX sales_member ON sales(member_id, at_us) INCLUDE (spend_minor) WHERE member_id IS NOT NULL;
CREATE TABLE refunds(
  txn_id TEXT PRIMARY KEY,
  sale_txn_id TEXT NOT NULL,
  refund_id TEXT NOT NULL,
  amount_minor BIGINT NOT NULL,
  points_taken_back BIGINT NOT NULL,
  points_given_back BIGINT NOT NULL);
CREATE INDEX refunds_sale ON refunds(sale_txn_id);
CREATE TABLE batches(
  store_id TEXT NOT NULL,
  batch_id TEXT NOT NULL,
  digest TEXT NOT NULL,
  answer TEXT NOT NULL,
  received_us BIGINT NOT NULL,
  PRIMARY KEY(store_id, batch_id));
CREATE TABLE stores(
  store_id TEXT PRIMARY KEY,
  last_batch_us BIGINT NOT NULL,
  txns BIGINT NOT NULL,
  last_txn_lag_us BIGINT NOT NULL);
CREATE TABLE tills(
  store_id TEXT NOT NULL,
  till_id TEXT NOT NULL,
  last_batch_us BIGINT NOT NULL,
  backlog BIGINT,
  skew_us BIGINT,
  sent_us BIGINT,
  PRIMARY KEY(store_id, till_id));
CREATE TABLE rules(
  id BIGSERIAL PRIMARY KEY,
  version TEXT NOT NULL UNIQUE,
  json TEXT NOT NULL,
  published_us BIGINT NOT NULL);
CREATE TABLE lots(
  id BIGSERIAL PRIMARY KEY,
  member_id TEXT NOT NULL,
  txn_id TEXT,
  earned_us BIGINT NOT NULL,
  expires_us BIGINT NOT NULL,
  points BIGINT NOT NULL,
  points_left BIGINT NOT NULL,
  expired BIGINT NOT NULL DEFAULT 0);
CREATE INDEX lots_member ON lots(member_id, expires_us, id);
CREATE INDEX lots_due ON lots(expires_us, id) WHERE points_left > 0;
CREATE TABLE tier_changes(
  id BIGSERIAL PRIMARY KEY,
  member_id TEXT NOT NULL,
  at_us BIGINT NOT NULL,
  from_tier TEXT NOT NULL,
  to_tier TEXT NOT NULL,
  spend_minor BIGINT NOT NULL,
  reason TEXT NOT NULL);
CREATE INDEX tier_changes_member ON tier_changes(member_id, at_us, id);
CREATE TABLE flags(
  id BIGSERIAL PRIMARY KEY,
  kind TEXT NOT NULL,
  raised_us BIGINT NOT NULL,
  store_id TEXT,
  till_id TEXT,
  member_id TEXT,
  txn_id TEXT,
  detail TEXT NOT NULL,
  closed_us BIGINT);
CREATE INDEX flags_open ON flags(id) WHERE closed_us IS NULL;
CREATE INDEX flags_member ON flags(member_id, id);
CREATE INDEX flags_store_open ON flags(store_id) WHERE closed_us IS NULL;
CREATE INDEX flags_held ON flags(txn_id) WHERE kind = 'held' AND closed_us IS NULL;
CREATE TABLE refused(
  id BIGSERIAL PRIMARY KEY,
  store_id TEXT NOT NULL,
  till_id TEXT NOT NULL,
  txn_id TEXT NOT NULL,
  digest TEXT NOT NULL UNIQUE,
  reason TEXT NOT NULL,
  body TEXT NOT NULL,
  received_us BIGINT NOT NULL);
)sql",
    // 2: the stores registry. A store registered (fingerprint ''), or a certificate of it pinned.
    R"sql(
CREATE TABLE registry(
  store_id TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  added_us BIGINT NOT NULL,
  revoked_us BIGINT,
  PRIMARY KEY(store_id, fingerprint));
)sql",
};
static_assert(sizeof kMigrations / sizeof kMigrations[0] == kSchemaVersion);

// A spend summed by PostgreSQL (numeric: it cannot overflow), held within the engine's range.
constexpr const char* kSpendSum = "LEAST(GREATEST(COALESCE(SUM(spend_minor), 0), 0), 1000000000000000000)::BIGINT";

std::optional<std::int64_t> birthday_int(const std::optional<engine::MonthDay>& b) {
  if (!b) return std::nullopt;
  return store::month_day_to_int(*b);
}

HeldRow held_row(const Result& r, int i, bool with_body) {
  HeldRow h;
  h.id = std::to_string(r.integer(i, 0));
  h.txn_id = r.text(i, 1);
  h.store_id = r.text(i, 2);
  h.till_id = r.text(i, 3);
  h.kind = r.text(i, 4);
  h.status = r.text(i, 5);
  h.reason = r.optional_text(i, 6).value_or("");
  h.final = h.status == "rejected";
  h.received_us = r.integer(i, 7);
  h.at_us = r.integer(i, 8);
  h.held_us = r.optional_integer(i, 9);
  if (with_body) h.body = r.text(i, 10);
  return h;
}

HeldRow refused_row(const Result& r, int i, bool with_body) {
  HeldRow h;
  h.id = "r" + std::to_string(r.integer(i, 0));
  h.txn_id = r.text(i, 1);
  h.store_id = r.text(i, 2);
  h.till_id = r.text(i, 3);
  h.kind = "invalid";
  h.status = "rejected";
  h.reason = r.text(i, 4);
  h.final = true;
  h.received_us = r.integer(i, 5);
  h.held_us = h.received_us;
  if (with_body) h.body = r.text(i, 6);
  return h;
}

FlagRow flag_row(const Result& r, int i) {
  return FlagRow{r.integer(i, 0),
                 r.text(i, 1),
                 r.integer(i, 2),
                 r.optional_text(i, 3).value_or(""),
                 r.optional_text(i, 4).value_or(""),
                 r.optional_text(i, 6).value_or(""),
                 r.optional_text(i, 5),
                 r.text(i, 7),
                 r.optional_integer(i, 8)};
}

std::vector<std::string> column(const Result& r) {
  std::vector<std::string> out;
  out.reserve(static_cast<std::size_t>(r.rows()));
  for (int i = 0; i < r.rows(); ++i) out.push_back(r.text(i, 0));
  return out;
}

// Rows for one INSERT (or UPDATE ... FROM), sent as a single statement of unnest()ed arrays: a
// batch's sales, lots and transactions, a pass slice's members, cost a statement each, not one a row.
class RowBuffer {
 public:
  // `sql`: INSERT INTO t(a, b) SELECT * FROM unnest($1::text[], $2::bigint[]) with `columns` arrays;
  // each row changes one row of the table.
  RowBuffer(const char* sql, int columns) : sql_(sql), columns_(static_cast<std::size_t>(columns)) {}
  template <class... V>
  void add(const V&... values) {
    std::size_t i = 0;
    (columns_[i++].push_back(text_of(values)), ...);
    ++rows_;
  }
  void send(Connection& c) {
    if (rows_ == 0) return;
    Params p;
    for (auto& col : columns_) {
      p.add_array(col);
      col.clear();  // taken, whatever the send does: never sent twice
    }
    const int rows = static_cast<int>(std::exchange(rows_, 0));
    c.send(sql_, p, rows);
  }

 private:
  static std::optional<std::string> text_of(const std::string& v) { return v; }
  static std::optional<std::string> text_of(const char* v) { return std::string(v); }
  static std::optional<std::string> text_of(std::string_view v) { return std::string(v); }
  static std::optional<std::string> text_of(std::int64_t v) { return std::to_string(v); }
  static std::optional<std::string> text_of(const std::optional<std::string>& v) { return v; }
  static std::optional<std::string> text_of(const std::optional<std::int64_t>& v) {
    return v ? std::optional<std::string>(std::to_string(*v)) : std::nullopt;
  }
  const char* sql_;
  std::vector<std::vector<std::optional<std::string>>> columns_;
  std::size_t rows_ = 0;
};

std::vector<std::int64_t> integers(const Result& r) {
  std::vector<std::int64_t> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(r.integer(i, 0));
  return out;
}

class PgTx final : public Tx {
 public:
  PgTx(Connection& c, bool writing) : c_(c, *this), writing_(writing) {}

  // Sends what the buffers hold (before any other statement, and before the transaction ends).
  void flush() {
    if (flushing_) return;
    flushing_ = true;
    struct Done {
      bool& flag;
      ~Done() { flag = false; }
    } done{flushing_};
    Connection& c = c_.raw();
    txn_rows_.send(c);
    sale_rows_.send(c);
    lot_rows_.send(c);
    flag_rows_.send(c);
    tier_rows_.send(c);
    tier_sets_.send(c);
    tier_set_ids_.clear();
    if (!saved_order_.empty()) {
      std::vector<std::string> ids, tiers;
      std::vector<std::optional<std::string>> points, grace, spend, at, n;
      for (const std::string& id : saved_order_) {
        const auto& [m, times] = saved_.at(id);
        ids.push_back(id);
        points.push_back(std::to_string(m.points));
        tiers.push_back(m.tier);
        grace.push_back(m.grace_until_us ? std::optional<std::string>(std::to_string(*m.grace_until_us)) : std::nullopt);
        spend.push_back(std::to_string(m.spend));
        at.push_back(std::to_string(m.spend_at_us));
        n.push_back(std::to_string(times));
      }
      saved_.clear();
      saved_order_.clear();
      c.send("UPDATE members m SET points = t.points, tier = t.tier, grace_until_us = t.grace, spend_minor = t.spend, "
             "spend_at_us = t.spend_at, version = m.version + t.n FROM unnest($1::text[], $2::bigint[], $3::text[], "
             "$4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[]) AS t(id, points, tier, grace, spend, spend_at, n) "
             "WHERE m.id = t.id",
             Params().add_array(ids).add_array(points).add_array(tiers).add_array(grace).add_array(spend).add_array(at)
                 .add_array(n),
             static_cast<int>(ids.size()));
    }
    if (!purchase_order_.empty()) {
      std::vector<std::string> ids;
      std::vector<std::optional<std::string>> n, at, off;
      for (const std::string& id : purchase_order_) {
        const Purchases& p = purchases_.at(id);
        ids.push_back(id);
        n.push_back(std::to_string(p.n));
        at.push_back(std::to_string(p.at.utc_micros));
        off.push_back(std::to_string(p.at.offset_minutes));
      }
      purchases_.clear();
      purchase_order_.clear();
      c.send("UPDATE members m SET purchases = m.purchases + t.n, "
             "last_purchase_off = CASE WHEN m.last_purchase_us IS NULL OR m.last_purchase_us < t.at "
             "THEN t.off ELSE m.last_purchase_off END, "
             "last_purchase_us = CASE WHEN m.last_purchase_us IS NULL OR m.last_purchase_us < t.at "
             "THEN t.at ELSE m.last_purchase_us END "
             "FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::int[]) AS t(id, n, at, off) WHERE m.id = t.id",
             Params().add_array(ids).add_array(n).add_array(at).add_array(off), static_cast<int>(ids.size()));
    }
  }

  // A batch's reads in a few statements. The members are locked here, in id order, before any sale
  // of theirs is read; the answers are kept (below) and kept true by this transaction's writes, and
  // whatever they do not answer is read from the database as before.
  void prefetch(const BatchReads& b) override {
    if (!writing_) return;
    if (!b.txn_ids.empty()) {
      const Result r = c_.query("SELECT txn_id, digest, status, reason, member_id, member_version, row FROM txns "
                                "WHERE txn_id = ANY($1::text[]) FOR UPDATE",
                                Params().add_array(b.txn_ids));
      for (const std::string& id : b.txn_ids) txn_cache_.emplace(id, std::nullopt);
      for (int i = 0; i < r.rows(); ++i)
        txn_cache_[r.text(i, 0)] = StoredTxn{r.integer(i, 6), r.text(i, 1), r.text(i, 2), r.optional_text(i, 3).value_or(""),
                                             r.optional_text(i, 4), r.optional_integer(i, 5).value_or(0)};
    }
    if (b.rows > 0) {
      const Result r = c_.query("SELECT nextval('txns_row') FROM generate_series(1, $1)", Params().add(b.rows));
      for (int i = 0; i < r.rows(); ++i) rows_.push_back(r.integer(i, 0));
      std::sort(rows_.begin(), rows_.end());
    }
    if (!b.member_ids.empty()) {
      const Result a = c_.query("SELECT alias, member_id FROM aliases WHERE alias = ANY($1::text[])",
                                Params().add_array(b.member_ids));
      for (const std::string& id : b.member_ids) alias_cache_.emplace(id, id);
      for (int i = 0; i < a.rows(); ++i) alias_cache_[a.text(i, 0)] = a.text(i, 1);
      std::vector<std::string> ids;
      for (const std::string& id : b.member_ids) ids.push_back(alias_cache_[id]);
      std::sort(ids.begin(), ids.end());
      ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
      const Result m = c_.query("SELECT id, points, tier, grace_until_us, spend_minor, spend_at_us, birthday, version "
                                "FROM members WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE",
                                Params().add_array(ids));
      // Only members found are kept: one not found is looked for again when it is read (an
      // enrollment another instance commits meanwhile).
      std::vector<std::string> found;
      for (int i = 0; i < m.rows(); ++i) {
        CachedMember c;
        c.m.id = m.text(i, 0);
        c.m.points = m.integer(i, 1);
        c.m.tier = m.text(i, 2);
        c.m.grace_until_us = m.optional_integer(i, 3);
        c.m.spend = m.integer(i, 4);
        c.m.spend_at_us = m.integer(i, 5);
        if (const auto bd = m.optional_integer(i, 6)) c.m.birthday = store::month_day_from_int(*bd);
        c.version = m.integer(i, 7);
        found.push_back(c.m.id);
        member_cache_[c.m.id] = std::move(c);
      }
      if (!found.empty()) {
        const Result t = c_.query("SELECT member_id, at_us, id, from_tier, to_tier FROM tier_changes "
                                  "WHERE member_id = ANY($1::text[])",
                                  Params().add_array(found));
        for (const std::string& id : found) tier_cache_.emplace(id, std::vector<CachedTierChange>{});
        for (int i = 0; i < t.rows(); ++i)
          tier_cache_[t.text(i, 0)].push_back(CachedTierChange{t.integer(i, 1), t.integer(i, 2), t.text(i, 3), t.text(i, 4)});
      }
      if (b.spend_after_us != INT64_MAX && !found.empty()) {
        const Result sp = c_.query("SELECT member_id, at_us, spend_minor FROM sales WHERE member_id = ANY($1::text[]) "
                                   "AND at_us > $2",
                                   Params().add_array(found).add(b.spend_after_us));
        spend_floor_ = b.spend_after_us;
        for (const std::string& id : found) spend_cache_.emplace(id, std::vector<std::pair<std::int64_t, engine::Minor>>{});
        for (int i = 0; i < sp.rows(); ++i) spend_cache_[sp.text(i, 0)].emplace_back(sp.integer(i, 1), sp.integer(i, 2));
      }
    }
    if (!b.receipts.empty()) {
      std::vector<std::string> stores, receipts;
      for (const auto& [store, receipt] : b.receipts) {
        stores.push_back(store);
        receipts.push_back(receipt);
        receipt_cache_.emplace(std::make_pair(store, receipt), std::vector<std::pair<std::string, PriorTxn>>{});
      }
      const Result r = c_.query("SELECT s.store_id, s.receipt_id, t.till_id, t.txn_id, t.member_id, t.member_version, "
                                "t.body FROM sales s JOIN txns t ON t.row = s.row "
                                "WHERE (s.store_id, s.receipt_id) IN (SELECT * FROM unnest($1::text[], $2::text[])) "
                                "ORDER BY s.row",
                                Params().add_array(stores).add_array(receipts));
      for (int i = 0; i < r.rows(); ++i)
        receipt_cache_[{r.text(i, 0), r.text(i, 1)}].emplace_back(
            r.text(i, 2), PriorTxn{r.text(i, 3), r.optional_text(i, 4), r.optional_integer(i, 5).value_or(0), r.text(i, 6)});
    }
    if (!b.waiting_keys.empty()) {
      const Result r = c_.query("SELECT waits_for, row FROM txns WHERE waits_for = ANY($1::text[]) AND status = 'held' "
                                "ORDER BY row FOR UPDATE",
                                Params().add_array(b.waiting_keys));
      for (const std::string& k : b.waiting_keys) waiting_cache_.emplace(k, std::vector<std::int64_t>{});
      for (int i = 0; i < r.rows(); ++i) waiting_cache_[r.text(i, 0)].push_back(r.integer(i, 1));
    }
  }

  // The feed's numbers for what this transaction changed, in one step just before it commits.
  void assign_feed() {
    const std::int64_t n = static_cast<std::int64_t>(members_.size() + coupons_.size());
    if (n == 0) return;
    const Result r = c_.query("UPDATE feed SET last = last + $1 WHERE id = 1 RETURNING last", Params().add(n));
    const std::int64_t base = r.integer(0, 0) - n;
    if (!members_.empty())
      c_.query("UPDATE members m SET seq = $2 + t.ord FROM unnest($1::text[]) WITH ORDINALITY AS t(id, ord) "
               "WHERE m.id = t.id",
               Params().add_array(members_order_).add(base));
    if (!coupons_.empty())
      c_.query("UPDATE coupons c SET seq = $2 + t.ord FROM unnest($1::text[]) WITH ORDINALITY AS t(code, ord) "
               "WHERE c.code = t.code",
               Params().add_array(coupons_order_).add(base + static_cast<std::int64_t>(members_.size())));
  }

  void lock(std::string_view name) override {
    c_.query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", Params().add(name));
  }

  std::optional<std::string> meta_text(std::string_view key) override {
    const Result r = c_.query("SELECT value FROM meta WHERE key = $1", Params().add(key));
    return r.empty() ? std::nullopt : r.optional_text(0, 0);
  }
  std::int64_t meta_int(std::string_view key) override {
    const auto v = meta_text(key);
    if (!v || v->empty()) return 0;
    try {
      return std::stoll(*v);
    } catch (const std::exception&) {
      throw store::StorageError("meta " + std::string(key) + " holds " + *v + ", not a number");
    }
  }
  void set_meta(std::string_view key, std::string_view value) override {
    c_.query("INSERT INTO meta(key, value) VALUES($1, $2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
             Params().add(key).add(value));
  }
  void set_meta(std::string_view key, std::int64_t value) override { set_meta(key, std::to_string(value)); }
  std::int64_t feed_end() override { return c_.query("SELECT last FROM feed WHERE id = 1").integer(0, 0); }

  std::optional<std::string> rules_json(std::string_view version) override {
    const Result r = c_.query("SELECT json FROM rules WHERE version = $1", Params().add(version));
    return r.empty() ? std::nullopt : std::optional<std::string>(r.text(0, 0));
  }
  std::optional<RulesRecord> current_rules() override {
    const Result r = c_.query("SELECT version, json FROM rules ORDER BY id DESC LIMIT 1");
    return r.empty() ? std::nullopt : std::optional<RulesRecord>(RulesRecord{r.text(0, 0), r.text(0, 1)});
  }
  std::optional<std::string> current_rules_version() override {
    const Result r = c_.query("SELECT version FROM rules ORDER BY id DESC LIMIT 1");
    return r.empty() ? std::nullopt : std::optional<std::string>(r.text(0, 0));
  }
  void insert_rules(const RulesRecord& rules, std::int64_t now_us) override {
    c_.query("INSERT INTO rules(version, json, published_us) VALUES($1, $2, $3)",
             Params().add(rules.version).add(rules.json).add(now_us));
  }

  std::string resolve(const std::string& id) override {
    if (const auto it = alias_cache_.find(id); it != alias_cache_.end()) return it->second;
    const Result r = c_.query("SELECT member_id FROM aliases WHERE alias = $1", Params().add(id));
    return r.empty() ? id : r.text(0, 0);
  }
  bool member_exists(const std::string& id) override {
    return !c_.query("SELECT 1 FROM members WHERE id = $1", Params().add(id)).empty();
  }
  std::int64_t member_version(const std::string& id) override {
    const Result r = c_.query("SELECT version FROM members WHERE id = $1", Params().add(id));
    return r.empty() ? 0 : r.integer(0, 0);
  }
  std::optional<MemberState> load_member(const std::string& id) override {
    if (const auto it = member_cache_.find(id); it != member_cache_.end()) {
      if (!it->second) return std::nullopt;
      return it->second->m;
    }
    const Result r = c_.query(writing_ ? "SELECT points, tier, grace_until_us, spend_minor, spend_at_us, birthday "
                                         "FROM members WHERE id = $1 FOR UPDATE"
                                       : "SELECT points, tier, grace_until_us, spend_minor, spend_at_us, birthday "
                                         "FROM members WHERE id = $1",
                              Params().add(id));
    if (r.empty()) return std::nullopt;
    MemberState m;
    m.id = id;
    m.points = r.integer(0, 0);
    m.tier = r.text(0, 1);
    m.grace_until_us = r.optional_integer(0, 2);
    m.spend = r.integer(0, 3);
    m.spend_at_us = r.integer(0, 4);
    if (const auto b = r.optional_integer(0, 5)) m.birthday = store::month_day_from_int(*b);
    return m;
  }
  std::int64_t save_member(const MemberState& m) override {
    if (const auto it = member_cache_.find(m.id); it != member_cache_.end() && it->second) {
      if (tier_set_ids_.count(m.id)) flush();  // after the pass's change of it
      auto [saved, fresh] = saved_.try_emplace(m.id, m, 0);
      if (fresh) saved_order_.push_back(m.id);
      saved->second.first = m;
      ++saved->second.second;
      it->second->m = m;
      touch_member(m.id);
      return ++it->second->version;
    }
    const Result r = c_.query("UPDATE members SET points = $2, tier = $3, grace_until_us = $4, spend_minor = $5, "
                              "spend_at_us = $6, version = version + 1 WHERE id = $1 RETURNING version",
                              Params().add(m.id).add(m.points).add(m.tier).add(m.grace_until_us).add(m.spend)
                                  .add(m.spend_at_us));
    if (r.empty()) throw store::StorageError("member " + m.id + " is not in the database");
    touch_member(m.id);
    return r.integer(0, 0);
  }
  void note_purchase(const std::string& id, const engine::Instant& at) override {
    auto [p, fresh] = purchases_.try_emplace(id);
    if (fresh) {
      purchase_order_.push_back(id);
      p->second.at = at;
    } else if (p->second.at.utc_micros < at.utc_micros) {
      p->second.at = at;
    }
    ++p->second.n;
  }
  void insert_member(const NewMember& m) override {
    forget_member(m.id);
    c_.query("INSERT INTO members(id, version, seq, name, phone, masked_name, tier, birthday, purchases, points, "
             "created_us) VALUES($1, 1, 0, $2, $3, $4, $5, $6, 0, 0, $7)",
             Params().add(m.id).add(m.name).add(m.phone).add(m.masked_name).add(m.tier).add(birthday_int(m.birthday))
                 .add(m.created_us));
    touch_member(m.id);
  }
  std::int64_t merge_member(const std::string& id, const std::string& name, const std::string& masked,
                            const std::string& phone, const std::optional<engine::MonthDay>& birthday) override {
    forget_member(id);
    const Result r = c_.query("UPDATE members SET masked_name = CASE WHEN name = '' THEN $3 ELSE masked_name END, "
                              "name = CASE WHEN name = '' THEN $2 ELSE name END, "
                              "phone = COALESCE(phone, $4), birthday = COALESCE(birthday, $5), "
                              "version = version + 1 WHERE id = $1 RETURNING version",
                              Params().add(id).add(name).add(masked).add(phone).add(birthday_int(birthday)));
    if (r.empty()) throw store::StorageError("a member update returned no row");
    touch_member(id);
    return r.integer(0, 0);
  }
  void update_member(const std::string& id, const std::string& name, const std::optional<std::string>& phone,
                     const std::string& masked, const std::optional<engine::MonthDay>& birthday) override {
    forget_member(id);
    c_.query("UPDATE members SET name = $2, phone = $3, masked_name = $4, birthday = $5, version = version + 1 "
             "WHERE id = $1",
             Params().add(id).add(name).add(phone).add(masked).add(birthday_int(birthday)));
    touch_member(id);
  }
  std::string member_tier(const std::string& id) override {
    const Result r = c_.query("SELECT tier FROM members WHERE id = $1", Params().add(id));
    return r.empty() ? std::string() : r.text(0, 0);
  }
  void set_imported_tier(const std::string& id, const std::string& tier) override {
    forget_member(id);
    c_.query("UPDATE members SET tier = $2, grace_until_us = NULL WHERE id = $1", Params().add(id).add(tier));
  }
  void raise_history(const std::string& id, std::optional<std::int64_t> purchases,
                     const std::optional<engine::Instant>& last) override {
    forget_member(id);
    if (purchases)
      c_.query("UPDATE members SET purchases = GREATEST(purchases, $2) WHERE id = $1", Params().add(id).add(*purchases));
    if (last)
      c_.query("UPDATE members SET last_purchase_us = $2, last_purchase_off = $3 "
               "WHERE id = $1 AND (last_purchase_us IS NULL OR last_purchase_us < $2)",
               Params().add(id).add(last->utc_micros).add(std::int64_t{last->offset_minutes}));
  }
  std::vector<std::string> member_ids(std::int64_t limit) override {
    return column(c_.query("SELECT id FROM members ORDER BY id LIMIT $1", Params().add(limit)));
  }
  std::vector<std::string> members_of_tier(const std::string& tier) override {
    return column(c_.query("SELECT id FROM members WHERE tier = $1 ORDER BY id", Params().add(tier)));
  }
  std::optional<MemberRow> member_row(std::string_view id) override {
    const Result r = c_.query("SELECT id, version, name, phone, tier, birthday, points, purchases, last_purchase_us, "
                              "last_purchase_off FROM members WHERE id = COALESCE((SELECT member_id FROM aliases "
                              "WHERE alias = $1), $1)",
                              Params().add(id));
    if (r.empty()) return std::nullopt;
    MemberRow m;
    m.id = r.text(0, 0);
    m.version = r.integer(0, 1);
    m.name = r.text(0, 2);
    m.phone = r.optional_text(0, 3).value_or("");
    m.tier = r.text(0, 4);
    if (const auto b = r.optional_integer(0, 5)) m.birthday = store::month_day_from_int(*b);
    m.points = r.integer(0, 6);
    m.purchases = r.integer(0, 7);
    if (const auto us = r.optional_integer(0, 8))
      m.last_purchase_at = engine::Instant{*us, static_cast<std::int32_t>(r.integer(0, 9))};
    m.aliases = column(c_.query("SELECT alias FROM aliases WHERE member_id = $1 ORDER BY alias", Params().add(m.id)));
    return m;
  }
  std::optional<MemberDetail> member_detail(std::string_view id) override {
    auto m = member_row(id);
    if (!m) return std::nullopt;
    MemberDetail d;
    d.member = std::move(*m);
    const Params mid = Params().add(d.member.id);
    {
      const Result r = c_.query("SELECT grace_until_us, spend_minor FROM members WHERE id = $1", mid);
      d.grace_until_us = r.optional_integer(0, 0);
      d.spend_minor = r.integer(0, 1);
    }
    const auto lots = [&](const Result& r) {
      for (int i = 0; i < r.rows(); ++i)
        d.lots.push_back(LotRow{r.integer(i, 0), r.integer(i, 1), r.integer(i, 2), r.integer(i, 3), r.integer(i, 4),
                                r.optional_text(i, 5).value_or("")});
    };
    lots(c_.query("SELECT earned_us, expires_us, points, points_left, expired, txn_id FROM lots "
                  "WHERE member_id = $1 AND points_left > 0 ORDER BY expires_us, id",
                  mid));
    lots(c_.query("SELECT earned_us, expires_us, points, points_left, expired, txn_id FROM lots "
                  "WHERE member_id = $1 AND points_left = 0 ORDER BY id DESC LIMIT 20",
                  mid));
    {
      const Result r = c_.query("SELECT at_us, from_tier, to_tier, reason, spend_minor FROM tier_changes "
                                "WHERE member_id = $1 ORDER BY id",
                                mid);
      for (int i = 0; i < r.rows(); ++i)
        d.tiers.push_back(TierChangeRow{r.integer(i, 0), r.text(i, 1), r.text(i, 2), r.text(i, 3), r.integer(i, 4)});
    }
    {
      const Result r = c_.query("SELECT txn_id, store_id, receipt_id, at_us, payable_minor, refunded_minor, "
                                "points_earned, points_redeemed FROM sales WHERE member_id = $1 "
                                "ORDER BY at_us DESC LIMIT 20",
                                mid);
      for (int i = 0; i < r.rows(); ++i)
        d.sales.push_back(SaleRow{r.text(i, 0), r.text(i, 1), r.text(i, 2), r.integer(i, 3), r.integer(i, 4),
                                  r.integer(i, 5), r.integer(i, 6), r.integer(i, 7)});
    }
    {
      const Result r = c_.query("SELECT code, definition, used_txn_id, used_store, used_at_us FROM coupons "
                                "WHERE member_id = $1 ORDER BY issued_us, code",
                                mid);
      for (int i = 0; i < r.rows(); ++i)
        d.coupons.push_back(CouponRow{r.text(i, 0), r.text(i, 1), r.optional_text(i, 2), r.optional_text(i, 3),
                                      r.optional_integer(i, 4)});
    }
    {
      const Result r = c_.query("SELECT id, kind, raised_us, store_id, till_id, member_id, txn_id, detail, closed_us "
                                "FROM flags WHERE member_id = $1 ORDER BY id",
                                mid);
      for (int i = 0; i < r.rows(); ++i) d.flags.push_back(flag_row(r, i));
    }
    return d;
  }

  std::optional<std::string> member_by_code(const protocol::CodeHash& hash) override {
    const Result r =
        c_.query("SELECT member_id FROM member_codes WHERE hash = $1", Params().add_bytes(hash.data(), hash.size()));
    return r.empty() ? std::nullopt : std::optional<std::string>(r.text(0, 0));
  }
  void insert_code(const protocol::CodeHash& hash, const std::string& member, std::string_view kind) override {
    c_.query("INSERT INTO member_codes(hash, member_id, kind) VALUES($1, $2, $3)",
             Params().add_bytes(hash.data(), hash.size()).add(member).add(kind));
  }
  void drop_codes(const std::string& member) override {
    c_.query("DELETE FROM member_codes WHERE member_id = $1", Params().add(member));
  }
  void insert_alias(const std::string& alias, const std::string& member) override {
    alias_cache_[alias] = member;
    c_.query("INSERT INTO aliases(alias, member_id) VALUES($1, $2)", Params().add(alias).add(member));
  }

  std::vector<OpenLot> open_lots(const std::string& member, std::int64_t points) override {
    // The lots, oldest first, up to the first whose running total reaches `points`.
    const Result r = c_.query("SELECT id, points_left FROM (SELECT id, points_left, expires_us, "
                              "SUM(points_left) OVER (ORDER BY expires_us, id) - points_left AS before "
                              "FROM lots WHERE member_id = $1 AND points_left > 0) l WHERE before < $2 "
                              "ORDER BY expires_us, id",
                              Params().add(member).add(points));
    std::vector<OpenLot> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(OpenLot{r.integer(i, 0), r.integer(i, 1)});
    return out;
  }
  void take_from_lot(std::int64_t lot, std::int64_t points) override {
    c_.query("UPDATE lots SET points_left = points_left - $2 WHERE id = $1", Params().add(lot).add(points));
  }
  void insert_lot(const NewLot& l) override {
    lot_rows_.add(l.member_id, l.txn_id, l.earned_us, l.expires_us, l.points, l.left);
  }
  std::vector<DueLot> due_lots(std::int64_t now_us, std::int64_t limit) override {
    // Locked: a sale that takes from the lot meanwhile waits, and sees it expired.
    const Result r = c_.query("SELECT id, member_id, points_left FROM lots WHERE points_left > 0 AND expires_us <= $1 "
                              "ORDER BY expires_us, id LIMIT $2 FOR UPDATE",
                              Params().add(now_us).add(limit));
    std::vector<DueLot> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(DueLot{r.integer(i, 0), r.text(i, 1), r.integer(i, 2)});
    return out;
  }
  void expire_lot(std::int64_t lot) override {
    c_.query("UPDATE lots SET expired = points_left, points_left = 0 WHERE id = $1", Params().add(lot));
  }
  void expire_points(const std::string& member, std::int64_t points) override {
    forget_member(member);
    c_.query("UPDATE members SET points = points - $2, version = version + 1 WHERE id = $1",
             Params().add(member).add(points));
    touch_member(member);
  }
  std::optional<std::pair<std::int64_t, std::int64_t>> next_expiry(const std::string& member) override {
    const Result r = c_.query("SELECT expires_us, LEAST(SUM(points_left), 1000000000000000000)::BIGINT FROM lots "
                              "WHERE member_id = $1 AND points_left > 0 GROUP BY expires_us ORDER BY expires_us LIMIT 1",
                              Params().add(member));
    if (r.empty()) return std::nullopt;
    return std::make_pair(r.integer(0, 0), r.integer(0, 1));
  }

  engine::Minor window_spend(const std::string& member, std::int64_t after_us, std::int64_t through_us) override {
    if (const auto it = spend_cache_.find(member); it != spend_cache_.end() && after_us >= spend_floor_) {
      std::int64_t sum = 0;
      for (const auto& [at, spend] : it->second)
        if (at > after_us && at <= through_us && __builtin_add_overflow(sum, spend, &sum))
          sum = spend > 0 ? INT64_MAX : INT64_MIN;
      return std::clamp<std::int64_t>(sum, 0, 1'000'000'000'000'000'000);  // as kSpendSum
    }
    static const std::string sql =
        std::string("SELECT ") + kSpendSum + " FROM sales WHERE member_id = $1 AND at_us > $2 AND at_us <= $3";
    return c_.query(sql.c_str(), Params().add(member).add(after_us).add(through_us)).integer(0, 0);
  }
  std::pair<std::int64_t, std::optional<std::int64_t>> history(const std::string& member,
                                                               std::int64_t before_us) override {
    const Result r = c_.query("SELECT COUNT(*), MAX(at_us) FROM sales WHERE member_id = $1 AND at_us < $2",
                              Params().add(member).add(before_us));
    return {r.integer(0, 0), r.optional_integer(0, 1)};
  }
  void insert_sale(const NewSale& s) override {
    receipt_cache_.erase({s.store_id, s.receipt_id});
    if (s.member_id && s.at_us > spend_floor_)
      if (const auto it = spend_cache_.find(*s.member_id); it != spend_cache_.end())
        it->second.emplace_back(s.at_us, s.spend_minor);
    sale_rows_.add(s.row, s.txn_id, s.store_id, s.receipt_id, s.member_id, s.at_us, s.payable_minor, s.spend_minor,
                   s.points_earned, s.points_redeemed, s.till_points_earned, s.rules_version);
  }
  std::optional<SaleState> find_sale(const std::string& txn_id) override {
    // Locked: two refunds of one sale at once are applied one after the other.
    const Result r = c_.query(
        writing_ ? "SELECT s.member_id, s.payable_minor, s.refunded_minor, s.points_earned, s.till_points_earned, "
                   "s.till_taken_back, s.points_redeemed, s.points_given_back, s.at_us, s.rules_version, "
                   "s.points_taken_back, s.row, s.spend_sold_minor, t.received_us FROM txns t "
                   "JOIN sales s ON s.row = t.row WHERE t.txn_id = $1 FOR UPDATE OF s"
                 : "SELECT s.member_id, s.payable_minor, s.refunded_minor, s.points_earned, s.till_points_earned, "
                   "s.till_taken_back, s.points_redeemed, s.points_given_back, s.at_us, s.rules_version, "
                   "s.points_taken_back, s.row, s.spend_sold_minor, t.received_us FROM txns t "
                   "JOIN sales s ON s.row = t.row WHERE t.txn_id = $1",
        Params().add(txn_id));
    if (r.empty()) return std::nullopt;
    SaleState s;
    s.member_id = r.optional_text(0, 0);
    s.payable_minor = r.integer(0, 1);
    s.refunded_minor = r.integer(0, 2);
    s.points_earned = r.integer(0, 3);
    s.till_points_earned = r.integer(0, 4);
    s.till_taken_back = r.integer(0, 5);
    s.points_redeemed = r.integer(0, 6);
    s.points_given_back = r.integer(0, 7);
    s.at_us = r.integer(0, 8);
    s.rules_version = r.text(0, 9);
    s.points_taken_back = r.integer(0, 10);
    s.row = r.integer(0, 11);
    s.spend_sold_minor = r.integer(0, 12);
    s.received_us = r.integer(0, 13);
    return s;
  }
  void refund_sale(const SaleRefunded& r) override {
    spend_cache_.clear();  // a sale's spend changes
    c_.query("UPDATE sales SET refunded_minor = refunded_minor + $2, till_taken_back = till_taken_back + $3, "
             "points_taken_back = points_taken_back + $4, points_given_back = points_given_back + $5, "
             "spend_minor = $6 WHERE row = $1",
             Params().add(r.row).add(r.amount_minor).add(r.till_taken_back).add(r.points_taken_back)
                 .add(r.points_given_back).add(r.spend_minor));
  }
  static std::optional<PriorTxn> prior(const Result& r) {
    if (r.empty()) return std::nullopt;
    return PriorTxn{r.text(0, 0), r.optional_text(0, 1), r.optional_integer(0, 2).value_or(0), r.text(0, 3)};
  }
  std::optional<PriorTxn> prior_sale(const std::string& store, const std::string& receipt,
                                     const std::string& till) override {
    if (const auto it = receipt_cache_.find({store, receipt}); it != receipt_cache_.end()) {
      for (const auto& [t, p] : it->second)
        if (t == till) return p;
      return std::nullopt;
    }
    return prior(c_.query("SELECT t.txn_id, t.member_id, t.member_version, t.body FROM sales s "
                          "JOIN txns t ON t.row = s.row WHERE s.store_id = $1 AND s.receipt_id = $2 AND t.till_id = $3 "
                          "ORDER BY s.row LIMIT 1",
                          Params().add(store).add(receipt).add(till)));
  }
  std::optional<PriorTxn> prior_refund(const std::string& sale_txn_id, const std::string& refund_id,
                                       const std::string& store, const std::string& till) override {
    return prior(c_.query("SELECT t.txn_id, t.member_id, t.member_version, t.body FROM refunds r "
                          "JOIN txns t ON t.txn_id = r.txn_id WHERE r.sale_txn_id = $1 AND r.refund_id = $2 "
                          "AND t.store_id = $3 AND t.till_id = $4 ORDER BY t.row LIMIT 1",
                          Params().add(sale_txn_id).add(refund_id).add(store).add(till)));
  }
  std::vector<std::string> refund_bodies(const std::string& sale_txn_id) override {
    return column(c_.query("SELECT t.body FROM refunds r JOIN txns t ON t.txn_id = r.txn_id "
                           "WHERE r.sale_txn_id = $1 ORDER BY t.row",
                           Params().add(sale_txn_id)));
  }
  void insert_refund(const NewRefund& r) override {
    c_.query("INSERT INTO refunds(txn_id, sale_txn_id, refund_id, amount_minor, points_taken_back, points_given_back) "
             "VALUES($1, $2, $3, $4, $5, $6)",
             Params().add(r.txn_id).add(r.sale_txn_id).add(r.refund_id).add(r.amount_minor).add(r.points_taken_back)
                 .add(r.points_given_back));
  }
  std::vector<SaleRecord> sales_by_receipt(std::string_view store_id, std::string_view receipt_id) override {
    const Result r = c_.query("SELECT t.txn_id, t.store_id, t.body, s.member_id FROM sales s "
                              "JOIN txns t ON t.row = s.row WHERE s.store_id = $1 AND s.receipt_id = $2 ORDER BY s.row",
                              Params().add(store_id).add(receipt_id));
    std::vector<SaleRecord> out;
    for (int i = 0; i < r.rows(); ++i)
      out.push_back(SaleRecord{r.text(i, 0), r.text(i, 1), r.text(i, 2), {}, r.optional_text(i, 3), {}});
    for (SaleRecord& rec : out) {
      rec.copies = column(c_.query("SELECT txn_id FROM txns WHERE duplicate_of = $1 ORDER BY row", Params().add(rec.txn_id)));
      rec.refunds = refund_bodies(rec.txn_id);
    }
    return out;
  }

  void insert_tier_change(const std::string& member, std::int64_t at_us, const std::string& from, const std::string& to,
                          engine::Minor spend, std::string_view reason) override {
    if (const auto it = tier_cache_.find(member); it != tier_cache_.end())
      it->second.push_back(CachedTierChange{at_us, ++tier_ids_, from, to});  // after every stored one
    tier_rows_.add(member, at_us, from, to, spend, reason);
  }
  std::optional<std::string> tier_at(const std::string& member, std::int64_t at_us) override {
    if (const auto it = tier_cache_.find(member); it != tier_cache_.end()) {
      const CachedTierChange* last = nullptr;
      for (const CachedTierChange& c : it->second)
        if (c.at_us <= at_us && (!last || std::tie(c.at_us, c.id) > std::tie(last->at_us, last->id))) last = &c;
      return last ? std::optional<std::string>(last->to) : std::nullopt;
    }
    const Result r = c_.query("SELECT to_tier FROM tier_changes WHERE member_id = $1 AND at_us <= $2 "
                              "ORDER BY at_us DESC, id DESC LIMIT 1",
                              Params().add(member).add(at_us));
    return r.empty() ? std::nullopt : std::optional<std::string>(r.text(0, 0));
  }
  bool tier_held_between(const std::string& member, const std::string& tier, std::int64_t after_us,
                         std::int64_t through_us) override {
    if (const auto it = tier_cache_.find(member); it != tier_cache_.end()) {
      for (const CachedTierChange& c : it->second)
        if (c.at_us > after_us && c.at_us <= through_us && (c.from == tier || c.to == tier)) return true;
      return false;
    }
    return !c_.query("SELECT 1 FROM tier_changes WHERE member_id = $1 AND at_us > $2 AND at_us <= $3 "
                     "AND (from_tier = $4 OR to_tier = $4) LIMIT 1",
                     Params().add(member).add(after_us).add(through_us).add(tier))
                .empty();
  }
  std::vector<PassRow> pass_slice(const std::string& after, std::int64_t window_us, std::int64_t now_us,
                                  std::int64_t limit) override {
    // The slice's members are locked first; the figures are read after, by a statement of its own
    // and of exactly the members locked, so that they include every sale committed for them before
    // the locks were granted (a member enrolled in the meantime is left to the next pass).
    const Result ids = c_.query("SELECT id FROM members WHERE id > $1 ORDER BY id LIMIT $2 FOR UPDATE",
                                Params().add(after).add(limit));
    std::vector<PassRow> rows;
    if (ids.empty()) return rows;
    std::vector<std::string> locked;
    locked.reserve(static_cast<std::size_t>(ids.rows()));
    for (int i = 0; i < ids.rows(); ++i) locked.push_back(ids.text(i, 0));
    static const std::string sql =
        std::string("SELECT m.id, m.tier, m.grace_until_us, m.spend_minor, (SELECT ") + kSpendSum +
        " FROM sales s WHERE s.member_id = m.id AND s.at_us > GREATEST($3, m.spend_at_us) - $2 "
        "AND s.at_us <= GREATEST($3, m.spend_at_us)), GREATEST($3, m.spend_at_us) "
        "FROM members m WHERE m.id = ANY($1::text[]) ORDER BY m.id";
    const Result r = c_.query(sql.c_str(), Params().add_array(locked).add(window_us).add(now_us));
    rows.reserve(static_cast<std::size_t>(r.rows()));
    for (int i = 0; i < r.rows(); ++i)
      rows.push_back(PassRow{r.text(i, 0), r.text(i, 1), r.optional_integer(i, 2), r.integer(i, 3), r.integer(i, 4),
                             r.integer(i, 5)});
    return rows;
  }
  void set_tier(const std::string& member, const std::string& tier, std::optional<std::int64_t> grace_until_us,
                engine::Minor spend, std::int64_t spend_at_us) override {
    forget_member(member);
    // One row per member in a statement, and after the member's own saves.
    if (tier_set_ids_.count(member) || saved_.count(member)) flush();
    tier_set_ids_.insert(member);
    tier_sets_.add(member, tier, grace_until_us, spend, spend_at_us);
    touch_member(member);
  }

  std::optional<CouponState> coupon(const std::string& code) override {
    const Result r = c_.query(writing_ ? "SELECT member_id, definition, used_txn_id, used_store, used_at_us FROM coupons "
                                         "WHERE code = $1 FOR UPDATE"
                                       : "SELECT member_id, definition, used_txn_id, used_store, used_at_us FROM coupons "
                                         "WHERE code = $1",
                              Params().add(code));
    if (r.empty()) return std::nullopt;
    return CouponState{r.optional_text(0, 0), r.text(0, 1), r.optional_text(0, 2), r.optional_text(0, 3),
                       r.optional_integer(0, 4)};
  }
  void use_coupon(const std::string& code, const std::string& txn_id, const std::string& store,
                  std::int64_t at_us) override {
    c_.query("UPDATE coupons SET used_txn_id = $2, used_store = $3, used_at_us = $4, version = version + 1 "
             "WHERE code = $1",
             Params().add(code).add(txn_id).add(store).add(at_us));
    touch_coupon(code);
  }
  bool coupon_exists(const std::string& code) override {
    return !c_.query("SELECT 1 FROM coupons WHERE code = $1", Params().add(code)).empty();
  }
  void insert_coupon(const std::string& code, const std::string& member, const std::string& definition,
                     std::int64_t now_us) override {
    c_.query("INSERT INTO coupons(code, version, seq, member_id, definition, issued_us) VALUES($1, 1, 0, $2, $3, $4)",
             Params().add(code).add(member).add(definition).add(now_us));
    touch_coupon(code);
  }

  void insert_flag(const NewFlag& f) override {
    flag_rows_.add(f.kind, f.raised_us, f.store_id, f.till_id, f.member_id, f.txn_id, f.detail);
  }
  void close_balance_flags(const std::string& member, std::int64_t now_us) override {
    c_.query("UPDATE flags SET closed_us = $2 WHERE member_id = $1 AND kind = 'negative_balance' AND closed_us IS NULL",
             Params().add(member).add(now_us));
  }
  void close_held_flags(const std::string& txn_id, std::int64_t now_us) override {
    c_.query("UPDATE flags SET closed_us = $2 WHERE txn_id = $1 AND kind = 'held' AND closed_us IS NULL",
             Params().add(txn_id).add(now_us));
  }
  std::vector<FlagRow> flags(bool include_closed, std::int64_t limit) override {
    const Result r = c_.query(include_closed
                                  ? "SELECT id, kind, raised_us, store_id, till_id, member_id, txn_id, detail, closed_us "
                                    "FROM flags ORDER BY id DESC LIMIT $1"
                                  : "SELECT id, kind, raised_us, store_id, till_id, member_id, txn_id, detail, closed_us "
                                    "FROM flags WHERE closed_us IS NULL ORDER BY id DESC LIMIT $1",
                              Params().add(limit));
    std::vector<FlagRow> out;
    for (int i = 0; i < r.rows(); ++i) out.push_back(flag_row(r, i));
    return out;
  }

  std::optional<StoredTxn> find_txn(const std::string& txn_id) override {
    if (const auto it = txn_cache_.find(txn_id); it != txn_cache_.end()) return it->second;
    const Result r = c_.query(writing_ ? "SELECT digest, status, reason, member_id, member_version, row FROM txns "
                                         "WHERE txn_id = $1 FOR UPDATE"
                                       : "SELECT digest, status, reason, member_id, member_version, row FROM txns "
                                         "WHERE txn_id = $1",
                              Params().add(txn_id));
    if (r.empty()) return std::nullopt;
    return StoredTxn{r.integer(0, 5), r.text(0, 0), r.text(0, 1), r.optional_text(0, 2).value_or(""),
                     r.optional_text(0, 3), r.optional_integer(0, 4).value_or(0)};
  }
  std::int64_t new_txn_row() override {
    if (!rows_.empty()) {
      const std::int64_t row = rows_.front();
      rows_.pop_front();
      return row;
    }
    return c_.query("SELECT nextval('txns_row')").integer(0, 0); }
  void insert_txn(const TxnRow& t) override {
    if (writing_ && !txn_cache_.empty())
      txn_cache_[t.txn_id] = StoredTxn{t.row, t.digest, t.status, t.reason.value_or(""), t.member_id,
                                       t.member_id ? t.member_version : 0};
    if (t.waits_for) waiting_cache_.erase(*t.waits_for);
    txn_rows_.add(t.row, t.txn_id, t.store_id, t.till_id, t.kind, t.digest, t.status, t.reason, t.member_id,
                  t.member_id ? std::optional<std::int64_t>(t.member_version) : std::nullopt, t.at_us, t.received_us,
                  t.body, t.held_us, t.duplicate_of, t.waits_for);
  }
  void update_txn(const TxnUpdate& u) override {
    for (auto it = txn_cache_.begin(); it != txn_cache_.end();)
      it = it->second && it->second->row == u.row ? txn_cache_.erase(it) : std::next(it);
    waiting_cache_.clear();
    receipt_cache_.clear();
    c_.query("UPDATE txns SET status = $2, reason = $3, member_id = $4, member_version = $5, duplicate_of = $6, "
             "waits_for = $7 WHERE row = $1",
             Params().add(u.row).add(u.status).add(u.reason).add(u.member_id)
                 .add(u.member_id ? std::optional<std::int64_t>(u.member_version) : std::nullopt).add(u.duplicate_of)
                 .add(u.waits_for));
  }
  std::vector<std::int64_t> waiting_for(const std::string& key) override {
    if (const auto it = waiting_cache_.find(key); it != waiting_cache_.end()) return it->second;
    return integers(
        c_.query("SELECT row FROM txns WHERE waits_for = $1 AND status = 'held' ORDER BY row FOR UPDATE", Params().add(key)));
  }
  std::optional<std::string> txn_body(std::int64_t row) override {
    const Result r = c_.query("SELECT body FROM txns WHERE row = $1", Params().add(row));
    return r.empty() ? std::nullopt : std::optional<std::string>(r.text(0, 0));
  }
  std::optional<ReceivedTxn> received_of(std::int64_t row) override {
    const Result r = c_.query(writing_ ? "SELECT received_us, reason, status, member_id, member_version FROM txns "
                                         "WHERE row = $1 FOR UPDATE"
                                       : "SELECT received_us, reason, status, member_id, member_version FROM txns "
                                         "WHERE row = $1",
                              Params().add(row));
    if (r.empty()) return std::nullopt;
    return ReceivedTxn{r.integer(0, 0), r.optional_text(0, 1).value_or(""), r.text(0, 2), r.optional_text(0, 3),
                       r.optional_integer(0, 4).value_or(0)};
  }
  std::string original_of(const std::string& txn_id) override {
    const Result r = c_.query("SELECT duplicate_of FROM txns WHERE txn_id = $1", Params().add(txn_id));
    return r.empty() || r.is_null(0, 0) ? txn_id : r.text(0, 0);
  }
  std::vector<std::int64_t> waiting_rows(std::int64_t limit) override {
    return integers(c_.query("SELECT row FROM txns WHERE status = 'held' AND waits_for IS NOT NULL ORDER BY row LIMIT $1",
                             Params().add(limit)));
  }
  std::vector<std::int64_t> unapplied_rows() override {
    return integers(c_.query("SELECT row FROM txns WHERE status IN ('held', 'rejected') ORDER BY row"));
  }
  std::optional<std::string> refused_reason(const std::string& digest) override {
    const Result r = c_.query("SELECT reason FROM refused WHERE digest = $1", Params().add(digest));
    return r.empty() ? std::nullopt : std::optional<std::string>(r.text(0, 0));
  }
  void insert_refused(const RefusedRow& r) override {
    c_.query("INSERT INTO refused(store_id, till_id, txn_id, digest, reason, body, received_us) "
             "VALUES($1, $2, $3, $4, $5, $6, $7)",
             Params().add(r.store_id).add(r.till_id).add(r.txn_id).add(r.digest).add(r.reason).add(r.body)
                 .add(r.received_us));
  }
  std::vector<HeldRow> held(bool include_applied, std::int64_t limit) override {
    std::vector<HeldRow> out;
    const Result t = c_.query(
        include_applied ? "SELECT row, txn_id, store_id, till_id, kind, status, reason, received_us, at_us, held_us, "
                          "body FROM txns WHERE held_us IS NOT NULL ORDER BY row LIMIT $1"
                        : "SELECT row, txn_id, store_id, till_id, kind, status, reason, received_us, at_us, held_us, "
                          "body FROM txns WHERE held_us IS NOT NULL AND status IN ('held', 'rejected') "
                          "ORDER BY row LIMIT $1",
        Params().add(limit));
    for (int i = 0; i < t.rows(); ++i) out.push_back(held_row(t, i, false));
    const Result r = c_.query("SELECT id, txn_id, store_id, till_id, reason, received_us, body FROM refused "
                              "ORDER BY id LIMIT $1",
                              Params().add(limit));
    for (int i = 0; i < r.rows(); ++i) out.push_back(refused_row(r, i, false));
    std::stable_sort(out.begin(), out.end(), [](const HeldRow& a, const HeldRow& b) { return a.received_us < b.received_us; });
    if (out.size() > static_cast<std::size_t>(limit)) out.resize(static_cast<std::size_t>(limit));
    return out;
  }
  std::optional<HeldRow> held_txn(std::string_view id) override {
    if (!id.empty() && id.front() == 'r' && id.size() > 1 && id.size() < 19 &&
        id.find_first_not_of("0123456789", 1) == std::string_view::npos) {
      const Result r = c_.query("SELECT id, txn_id, store_id, till_id, reason, received_us, body FROM refused "
                                "WHERE id = $1",
                                Params().add(std::int64_t{std::stoll(std::string(id.substr(1)))}));
      if (r.empty()) return std::nullopt;
      return refused_row(r, 0, true);
    }
    const bool row = !id.empty() && id.find_first_not_of("0123456789") == std::string_view::npos && id.size() < 19;
    const Result r =
        row ? c_.query("SELECT row, txn_id, store_id, till_id, kind, status, reason, received_us, at_us, held_us, body "
                       "FROM txns WHERE row = $1 AND held_us IS NOT NULL",
                       Params().add(std::int64_t{std::stoll(std::string(id))}))
            : c_.query("SELECT row, txn_id, store_id, till_id, kind, status, reason, received_us, at_us, held_us, body "
                       "FROM txns WHERE txn_id = $1 AND held_us IS NOT NULL",
                       Params().add(id));
    if (r.empty()) return std::nullopt;
    return held_row(r, 0, true);
  }

  std::optional<std::pair<std::string, std::string>> find_batch(std::string_view store,
                                                                std::string_view batch_id) override {
    const Result r = c_.query("SELECT digest, answer FROM batches WHERE store_id = $1 AND batch_id = $2",
                              Params().add(store).add(batch_id));
    if (r.empty()) return std::nullopt;
    return std::make_pair(r.text(0, 0), r.text(0, 1));
  }
  void insert_batch(std::string_view store, std::string_view batch_id, const std::string& digest,
                    const std::string& answer, std::int64_t now_us) override {
    c_.send("INSERT INTO batches(store_id, batch_id, digest, answer, received_us) VALUES($1, $2, $3, $4, $5)",
             Params().add(store).add(batch_id).add(digest).add(answer).add(now_us), 1);
  }
  void note_sync(const StoreSync& s) override {
    till_sent_cache_.clear();
    c_.send("INSERT INTO stores(store_id, last_batch_us, txns, last_txn_lag_us) VALUES($1, $2, $3, $4) "
             "ON CONFLICT(store_id) DO UPDATE SET last_batch_us = excluded.last_batch_us, "
             "txns = stores.txns + excluded.txns, last_txn_lag_us = excluded.last_txn_lag_us",
             Params().add(s.store_id).add(s.at_us).add(s.txns).add(s.newest_lag_us));
    c_.send("INSERT INTO tills(store_id, till_id, last_batch_us, backlog, skew_us, sent_us) "
             "VALUES($1, $2, $3, $4, $5, $6) ON CONFLICT(store_id, till_id) DO UPDATE SET "
             "last_batch_us = excluded.last_batch_us, backlog = excluded.backlog, skew_us = excluded.skew_us, "
             "sent_us = COALESCE(excluded.sent_us, tills.sent_us)",
             Params().add(s.store_id).add(s.till_id).add(s.at_us).add(s.queued)
                 .add(s.sent_at_us ? std::optional<std::int64_t>(*s.sent_at_us - s.at_us) : std::nullopt)
                 .add(s.sent_at_us));
  }
  std::optional<std::int64_t> till_sent(const std::string& store, const std::string& till) override {
    const std::string key = store + '\n' + till;
    if (const auto it = till_sent_cache_.find(key); it != till_sent_cache_.end()) return it->second;
    const Result r = c_.query("SELECT sent_us FROM tills WHERE store_id = $1 AND till_id = $2",
                              Params().add(store).add(till));
    const auto sent = r.empty() ? std::nullopt : r.optional_integer(0, 0);
    if (writing_) till_sent_cache_.emplace(key, sent);
    return sent;
  }
  std::vector<StoreRow> stores() override {
    const Result r = c_.query("SELECT store_id, last_batch_us, txns, last_txn_lag_us, "
                              "(SELECT COUNT(*) FROM flags f WHERE f.store_id = stores.store_id AND f.closed_us IS NULL) "
                              "FROM stores ORDER BY store_id");
    std::vector<StoreRow> out;
    for (int i = 0; i < r.rows(); ++i)
      out.push_back(StoreRow{r.text(i, 0), r.integer(i, 1), r.integer(i, 2), r.integer(i, 3), r.integer(i, 4), {}});
    for (StoreRow& row : out) {
      const Result t = c_.query("SELECT till_id, last_batch_us, backlog, skew_us FROM tills WHERE store_id = $1 "
                                "ORDER BY till_id",
                                Params().add(row.store_id));
      for (int i = 0; i < t.rows(); ++i)
        row.tills.push_back(TillRow{t.text(i, 0), t.integer(i, 1), t.optional_integer(i, 2), t.optional_integer(i, 3)});
    }
    return out;
  }

  std::vector<RegistryRow> registry() override {
    const Result r = c_.query("SELECT store_id, fingerprint, added_us, revoked_us FROM registry "
                              "ORDER BY store_id, fingerprint");
    std::vector<RegistryRow> out;
    for (int i = 0; i < r.rows(); ++i)
      out.push_back(RegistryRow{r.text(i, 0), r.text(i, 1), r.integer(i, 2), r.optional_integer(i, 3)});
    return out;
  }
  bool insert_registry(const std::string& store, const std::string& fingerprint, std::int64_t now_us) override {
    return !c_.query("INSERT INTO registry(store_id, fingerprint, added_us) VALUES($1, $2, $3) "
                     "ON CONFLICT(store_id, fingerprint) DO UPDATE SET added_us = excluded.added_us, revoked_us = NULL "
                     "WHERE registry.revoked_us IS NOT NULL RETURNING 1",
                     Params().add(store).add(fingerprint).add(now_us))
                .empty();
  }
  std::int64_t revoke_registry(const std::string& store, const std::string& fingerprint, std::int64_t now_us) override {
    if (fingerprint.empty())
      return c_.query("UPDATE registry SET revoked_us = $2 WHERE store_id = $1 AND revoked_us IS NULL RETURNING 1",
                      Params().add(store).add(now_us))
          .rows();
    return c_.query("INSERT INTO registry(store_id, fingerprint, added_us, revoked_us) VALUES($1, $2, $3, $3) "
                    "ON CONFLICT(store_id, fingerprint) DO UPDATE SET revoked_us = excluded.revoked_us "
                    "WHERE registry.revoked_us IS NULL RETURNING 1",
                    Params().add(store).add(fingerprint).add(now_us))
        .rows();
  }

  std::vector<FeedMember> changed_members(std::int64_t after, std::int64_t limit) override {
    const Result r = c_.query("SELECT id, version, seq, masked_name, tier, birthday, purchases, last_purchase_us, "
                              "last_purchase_off, points, spend_minor FROM members WHERE seq > $1 ORDER BY seq LIMIT $2",
                              Params().add(after).add(limit));
    std::vector<FeedMember> out;
    out.reserve(static_cast<std::size_t>(r.rows()));
    for (int i = 0; i < r.rows(); ++i) {
      FeedMember f;
      f.seq = r.integer(i, 2);
      protocol::MemberRecord& rec = f.record;
      rec.member.id = r.text(i, 0);
      rec.version = r.integer(i, 1);
      rec.masked_name = r.text(i, 3);
      rec.member.tier = r.text(i, 4);
      if (const auto b = r.optional_integer(i, 5)) rec.member.birthday = store::month_day_from_int(*b);
      rec.member.purchases = r.integer(i, 6);
      if (const auto us = r.optional_integer(i, 7))
        rec.member.last_purchase_at = engine::Instant{*us, static_cast<std::int32_t>(r.integer(i, 8))};
      rec.member.points = r.integer(i, 9);
      f.spend_minor = r.integer(i, 10);
      out.push_back(std::move(f));
    }
    return out;
  }
  std::vector<FeedCoupon> changed_coupons(std::int64_t after, std::int64_t limit) override {
    const Result r = c_.query("SELECT code, version, seq, member_id, definition, used_txn_id IS NOT NULL FROM coupons "
                              "WHERE seq > $1 ORDER BY seq LIMIT $2",
                              Params().add(after).add(limit));
    std::vector<FeedCoupon> out;
    for (int i = 0; i < r.rows(); ++i)
      out.push_back(FeedCoupon{r.integer(i, 2), r.text(i, 0), r.text(i, 4), r.integer(i, 1), r.optional_text(i, 3),
                               r.text(i, 5) == "t"});
    return out;
  }
  using Tx::codes_of;
  using Tx::next_expiry;
  std::vector<std::vector<protocol::CodeHash>> codes_of(const std::vector<std::string>& members) override {
    std::vector<std::vector<protocol::CodeHash>> out(members.size());
    if (members.empty()) return out;
    const Result r = c_.query("SELECT t.ord, c.hash FROM unnest($1::text[]) WITH ORDINALITY AS t(id, ord) "
                              "JOIN member_codes c ON c.member_id = t.id ORDER BY t.ord, c.kind, c.hash",
                              Params().add_array(members));
    for (int i = 0; i < r.rows(); ++i) {
      const std::string blob = r.bytes(i, 1);
      protocol::CodeHash h{};
      if (blob.size() != h.size()) throw store::StorageError("a member code hash is not 32 bytes");
      std::memcpy(h.data(), blob.data(), h.size());
      out[static_cast<std::size_t>(r.integer(i, 0) - 1)].push_back(h);
    }
    return out;
  }
  std::vector<std::optional<std::pair<std::int64_t, std::int64_t>>> next_expiry(
      const std::vector<std::string>& members) override {
    std::vector<std::optional<std::pair<std::int64_t, std::int64_t>>> out(members.size());
    if (members.empty()) return out;
    // Each member's first expiry among its open lots, and the points left in the lots of that instant.
    const Result r = c_.query(
        "SELECT t.ord, e.expires_us, e.points FROM unnest($1::text[]) WITH ORDINALITY AS t(id, ord) "
        "CROSS JOIN LATERAL (SELECT expires_us, LEAST(SUM(points_left), 1000000000000000000)::BIGINT AS points "
        "FROM lots WHERE member_id = t.id AND points_left > 0 GROUP BY expires_us ORDER BY expires_us LIMIT 1) e",
        Params().add_array(members));
    for (int i = 0; i < r.rows(); ++i)
      out[static_cast<std::size_t>(r.integer(i, 0) - 1)] = std::make_pair(r.integer(i, 1), r.integer(i, 2));
    return out;
  }
  std::vector<protocol::CodeHash> codes_of(const std::string& member) override {
    const Result r = c_.query("SELECT hash FROM member_codes WHERE member_id = $1 ORDER BY kind, hash",
                              Params().add(member));
    std::vector<protocol::CodeHash> out;
    for (int i = 0; i < r.rows(); ++i) {
      const std::string blob = r.bytes(i, 0);
      protocol::CodeHash h{};
      if (blob.size() != h.size()) throw store::StorageError("a member code hash is not 32 bytes");
      std::memcpy(h.data(), blob.data(), h.size());
      out.push_back(h);
    }
    return out;
  }

 private:
  void touch_member(const std::string& id) {
    if (!writing_) throw store::StorageError("a change of the feed outside a write transaction");
    if (members_.insert(id).second) members_order_.push_back(id);
  }
  void touch_coupon(const std::string& code) {
    if (!writing_) throw store::StorageError("a change of the feed outside a write transaction");
    if (coupons_.insert(code).second) coupons_order_.push_back(code);
  }

  void forget_member(const std::string& id) {
    member_cache_.erase(id);
    spend_cache_.erase(id);
  }

  // Every statement goes through here, after what the buffers hold: the database runs the
  // transaction's statements in the order the ledger made them.
  class Statements {
   public:
    Statements(Connection& c, PgTx& tx) : c_(c), tx_(tx) {}
    Result query(const char* sql, const Params& params = {}) {
      tx_.flush();
      return c_.query(sql, params);
    }
    void send(const char* sql, const Params& params, int rows = -1) {
      tx_.flush();
      c_.send(sql, params, rows);
    }
    Connection& raw() { return c_; }

   private:
    Connection& c_;
    PgTx& tx_;
  };

  Statements c_;
  bool writing_;
  bool flushing_ = false;
  RowBuffer txn_rows_{"INSERT INTO txns(row, txn_id, store_id, till_id, kind, digest, status, reason, member_id, "
                         "member_version, at_us, received_us, body, held_us, duplicate_of, waits_for) "
                         "SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], "
                         "$7::text[], $8::text[], $9::text[], $10::bigint[], $11::bigint[], $12::bigint[], $13::text[], "
                         "$14::bigint[], $15::text[], $16::text[])",
                         16};
  RowBuffer sale_rows_{"INSERT INTO sales(row, txn_id, store_id, receipt_id, member_id, at_us, payable_minor, "
                          "spend_sold_minor, spend_minor, points_earned, points_redeemed, till_points_earned, rules_version) "
                          "SELECT r, t, s, rc, m, a, p, sp, sp, pe, pr, tp, v FROM unnest($1::bigint[], $2::text[], "
                          "$3::text[], $4::text[], $5::text[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], "
                          "$10::bigint[], $11::bigint[], $12::text[]) AS u(r, t, s, rc, m, a, p, sp, pe, pr, tp, v)",
                          12};
  RowBuffer lot_rows_{"INSERT INTO lots(member_id, txn_id, earned_us, expires_us, points, points_left) "
                         "SELECT m, t, e, x, p, l FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], "
                         "$5::bigint[], $6::bigint[]) WITH ORDINALITY AS u(m, t, e, x, p, l, o) ORDER BY o",
                         6};
  RowBuffer flag_rows_{"INSERT INTO flags(kind, raised_us, store_id, till_id, member_id, txn_id, detail) "
                          "SELECT k, r, s, t, m, x, d FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], "
                          "$7::text[]) WITH ORDINALITY AS u(k, r, s, t, m, x, d, o) ORDER BY o",
                          7};
  RowBuffer tier_rows_{"INSERT INTO tier_changes(member_id, at_us, from_tier, to_tier, spend_minor, reason) "
                          "SELECT m, a, f, t, s, r FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], "
                          "$5::bigint[], $6::text[]) WITH ORDINALITY AS u(m, a, f, t, s, r, o) ORDER BY o",
                          6};
  RowBuffer tier_sets_{"UPDATE members m SET tier = u.tier, grace_until_us = u.grace, spend_minor = u.spend, "
                       "spend_at_us = u.at, version = m.version + 1 FROM unnest($1::text[], $2::text[], $3::bigint[], "
                       "$4::bigint[], $5::bigint[]) AS u(id, tier, grace, spend, at) WHERE m.id = u.id",
                       5};
  std::unordered_set<std::string> tier_set_ids_;
  std::unordered_map<std::string, std::pair<MemberState, std::int64_t>> saved_;  // member -> last state, saves
  std::vector<std::string> saved_order_;
  struct Purchases {
    std::int64_t n = 0;
    engine::Instant at;  // the latest, the first of equals
  };
  std::unordered_map<std::string, Purchases> purchases_;
  std::vector<std::string> purchase_order_;
  std::set<std::string> members_, coupons_;  // changed by this transaction: they go on the feed at its end
  std::vector<std::string> members_order_, coupons_order_;

  // What prefetch read, as this transaction's writes left it. An entry answers its read; a missing
  // one sends the read to the database.
  struct CachedMember {
    MemberState m;
    std::int64_t version = 0;
  };
  std::unordered_map<std::string, std::optional<StoredTxn>> txn_cache_;
  std::deque<std::int64_t> rows_;
  std::unordered_map<std::string, std::string> alias_cache_;
  std::unordered_map<std::string, std::optional<CachedMember>> member_cache_;
  std::int64_t spend_floor_ = INT64_MAX;  // spend_cache_ holds each member's sales after this
  std::unordered_map<std::string, std::vector<std::pair<std::int64_t, engine::Minor>>> spend_cache_;
  std::map<std::pair<std::string, std::string>, std::vector<std::pair<std::string, PriorTxn>>> receipt_cache_;
  std::unordered_map<std::string, std::vector<std::int64_t>> waiting_cache_;
  std::unordered_map<std::string, std::optional<std::int64_t>> till_sent_cache_;
  struct CachedTierChange {
    std::int64_t at_us = 0, id = 0;
    std::string from, to;
  };
  std::unordered_map<std::string, std::vector<CachedTierChange>> tier_cache_;
  std::int64_t tier_ids_ = INT64_MAX / 2;  // above every id the table holds
};

// A fixed set of connections, each used by one transaction at a time.
class Pool {
 public:
  Pool(const std::string& url, int size) : url_(url) {
    for (int i = 0; i < size; ++i) free_.push_back(std::make_unique<Connection>(url));
  }
  class Lease {
   public:
    Lease(Pool& p, std::unique_ptr<Connection> c) : p_(p), c_(std::move(c)) {}
    ~Lease() { p_.give_back(std::move(c_)); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Connection& operator*() { return *c_; }
    Connection* operator->() { return c_.get(); }

   private:
    Pool& p_;
    std::unique_ptr<Connection> c_;
  };
  Lease take() {
    std::unique_lock lock(mu_);
    ready_.wait(lock, [&] { return !free_.empty(); });
    auto c = std::move(free_.back());
    free_.pop_back();
    return Lease(*this, std::move(c));
  }

 private:
  void give_back(std::unique_ptr<Connection> c) {
    {
      std::lock_guard lock(mu_);
      free_.push_back(std::move(c));
    }
    ready_.notify_one();
  }
  std::string url_;
  std::mutex mu_;
  std::condition_variable ready_;
  std::vector<std::unique_ptr<Connection>> free_;
};

class PgBackend final : public Backend {
 public:
  PgBackend(const std::string& url, int connections) : pool_(url, std::max(1, connections)) {
    auto c = pool_.take();
    migrate(*c);
  }

  void write(const std::function<void(Tx&)>& body) override {
    for (int attempt = 1;; ++attempt) {
      auto c = pool_.take();
      bool committing = false;
      try {
        if (!c->ok()) c->reset();
        c->clear_failure();
        // BEGIN goes with the transaction's first statement: one round trip fewer.
        c->begin_pipeline();
        c->send("BEGIN", Params());
        PgTx tx(*c, true);
        body(tx);
        tx.flush();
        tx.assign_feed();
        c->end_pipeline();
        // A statement that failed aborted the transaction, even when the body went on past it:
        // PostgreSQL would answer COMMIT with a rollback, and nothing would be stored.
        if (!c->failure().empty())
          throw PgError("a statement of the transaction failed (SQLSTATE " + c->failure() + ")", c->failure());
        committing = true;
        c->exec("COMMIT");
        return;
      } catch (...) {
        // The transaction's first failure decides, whatever the body made of it: a conflict with
        // another transaction (or a lost connection) runs it again; anything else is the caller's.
        // A COMMIT whose answer was lost may have committed: running the body again could do its
        // work twice (coupons issued again), so that is the caller's to find out.
        const std::string state = c->failure();
        c->abandon_pipeline();
        rollback(*c);
        if (committing || attempt >= kAttempts || !(pg::retryable(state) || !c->ok())) throw;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(std::min(attempt * attempt, 50)));
    }
  }

  void read(const std::function<void(Tx&)>& body) override {
    for (int attempt = 1;; ++attempt) {
      auto c = pool_.take();
      try {
        if (!c->ok()) c->reset();
        // BEGIN and COMMIT go with the reads: a page of the changes feed is a few round trips.
        c->begin_pipeline();
        c->send("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", Params());
        PgTx tx(*c, false);
        body(tx);
        c->send("COMMIT", Params());
        c->end_pipeline();
        return;
      } catch (...) {
        c->abandon_pipeline();
        rollback(*c);
        if (attempt >= kAttempts || c->ok()) throw;  // only a lost connection is tried again
      }
    }
  }

 private:
  static constexpr int kAttempts = 20;

  static void rollback(Connection& c) {
    try {
      if (c.ok()) c.exec("ROLLBACK");
    } catch (...) {  // a transaction that cannot roll back ends with its connection
    }
  }

  static void migrate(Connection& c) {
    c.exec("SELECT pg_advisory_lock(hashtextextended('loyalty-hq migrations', 0))");
    try {
      c.exec("CREATE TABLE IF NOT EXISTS schema_migrations(version INT PRIMARY KEY, applied_us BIGINT NOT NULL)");
      const std::int64_t have = c.query("SELECT COALESCE(MAX(version), 0) FROM schema_migrations").integer(0, 0);
      if (have > kSchemaVersion)
        throw store::StorageError("the database has schema " + std::to_string(have) + ", newer than this loyalty-hq's " +
                                  std::to_string(kSchemaVersion));
      for (int v = static_cast<int>(have) + 1; v <= kSchemaVersion; ++v) {
        c.exec("BEGIN");
        try {
          c.exec(kMigrations[v - 1]);
          c.query("INSERT INTO schema_migrations(version, applied_us) VALUES($1, "
                  "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT)",
                  Params().add(v));
          c.exec("COMMIT");
        } catch (...) {
          rollback(c);
          throw;
        }
      }
    } catch (...) {
      try {
        c.exec("SELECT pg_advisory_unlock_all()");
      } catch (...) {
      }
      throw;
    }
    c.exec("SELECT pg_advisory_unlock_all()");
  }

  Pool pool_;
};

}  // namespace

std::unique_ptr<Storage> open_postgres_storage(const std::string& url, int connections, const EnrollmentOpener& opener,
                                               LedgerPolicy policy) {
  return make_storage(std::make_unique<PgBackend>(url, connections), opener, policy);
}

}  // namespace loyalty::hq
