// Headquarters' storage port: what the ledger reads and writes, one transaction at a time, in the
// terms of the ledger (a member, lots, sales, coupons, flags, the changes feed), never in SQL. The
// ledger (ledger.cpp, ingest.cpp) and the Storage every endpoint uses (ledger_storage.cpp) are plain
// C++ over it; a backend (SQLite, PostgreSQL) implements it with its own SQL, migrations and locks.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "loyalty/engine/money.hpp"
#include "loyalty/engine/time.hpp"
#include "loyalty/hq/storage.hpp"
#include "loyalty/protocol/changes.hpp"

namespace loyalty::hq::detail {

// A member's ledger state, read once per transaction and written back once.
struct MemberState {
  std::string id;
  std::int64_t points = 0, points_before = 0;
  std::string tier;
  std::optional<std::int64_t> grace_until_us;
  engine::Minor spend = 0;
  std::int64_t spend_at_us = 0;
  std::optional<engine::MonthDay> birthday;
};

// A new member: enrolled at a till (version 1) or imported.
struct NewMember {
  std::string id, name;
  std::optional<std::string> phone;
  std::string masked_name, tier;
  std::optional<engine::MonthDay> birthday;
  std::int64_t created_us = 0;
};

struct OpenLot {
  std::int64_t id = 0, left = 0;
};
struct DueLot {
  std::int64_t id = 0;
  std::string member_id;
  std::int64_t left = 0;
};
struct NewLot {
  std::string member_id;
  std::optional<std::string> txn_id;
  std::int64_t earned_us = 0, expires_us = 0, points = 0, left = 0;
};

// A sale as the ledger counts it. `row` is its transaction's row (txns), which the sale shares.
struct SaleState {
  std::int64_t row = 0;
  std::optional<std::string> member_id;
  engine::Minor payable_minor = 0, refunded_minor = 0, spend_sold_minor = 0;
  std::int64_t points_earned = 0, till_points_earned = 0, till_taken_back = 0, points_redeemed = 0,
               points_given_back = 0, points_taken_back = 0;
  std::int64_t at_us = 0, received_us = 0;
  std::string rules_version;
};
struct NewSale {
  std::int64_t row = 0;
  std::string txn_id, store_id, receipt_id;
  std::optional<std::string> member_id;
  std::int64_t at_us = 0;
  engine::Minor payable_minor = 0, spend_minor = 0;
  std::int64_t points_earned = 0, points_redeemed = 0, till_points_earned = 0;
  std::string rules_version;
};
// What a refund changes of its sale (amounts added to what the sale holds; `spend_minor` replaces it).
struct SaleRefunded {
  std::int64_t row = 0;
  engine::Minor amount_minor = 0;
  std::int64_t till_taken_back = 0, points_taken_back = 0, points_given_back = 0;
  engine::Minor spend_minor = 0;
};
struct NewRefund {
  std::string txn_id, sale_txn_id, refund_id;
  engine::Minor amount_minor = 0;
  std::int64_t points_taken_back = 0, points_given_back = 0;
};
// A transaction applied before under the same receipt or refund id.
struct PriorTxn {
  std::string txn_id;
  std::optional<std::string> member_id;
  std::int64_t member_version = 0;
  std::string body;
};

struct CouponState {
  std::optional<std::string> member_id;
  std::string definition;
  std::optional<std::string> used_txn_id, used_store;
  std::optional<std::int64_t> used_at_us;
};

struct NewFlag {
  std::string kind;
  std::int64_t raised_us = 0;
  std::optional<std::string> store_id, till_id, member_id, txn_id;
  std::string detail;  // JSON
};

// A transaction's row in txns.
struct StoredTxn {
  std::int64_t row = 0;
  std::string digest, status, reason;
  std::optional<std::string> member_id;
  std::int64_t member_version = 0;
};
// A received transaction's row as it stands, read under its lock.
struct ReceivedTxn {
  std::int64_t received_us = 0;
  std::string reason, status;
  std::optional<std::string> member_id;
  std::int64_t member_version = 0;
};
struct TxnRow {
  std::int64_t row = 0;
  std::string txn_id, store_id, till_id, kind, digest, status;
  std::optional<std::string> reason, member_id;
  std::int64_t member_version = 0;  // when member_id is set
  std::int64_t at_us = 0, received_us = 0;
  std::string body;
  std::optional<std::int64_t> held_us;
  std::optional<std::string> duplicate_of, waits_for;
};
// What a transaction applied again comes to.
struct TxnUpdate {
  std::int64_t row = 0;
  std::string status;
  std::optional<std::string> reason, member_id;
  std::int64_t member_version = 0;
  std::optional<std::string> duplicate_of, waits_for;
};
struct RefusedRow {
  std::string store_id, till_id, txn_id, digest, reason, body;
  std::int64_t received_us = 0;
};

// One member of a slice of the daily tier pass.
struct PassRow {
  std::string id, tier;
  std::optional<std::int64_t> grace_until_us;
  engine::Minor old_spend = 0, spend = 0;
  // The end of the member's window: the pass's time, or the last sale's when a sale applied
  // during the pass is later (the window never moves back).
  std::int64_t window_end_us = 0;
};

// A member record of the changes feed, before its codes and next expiry are added.
struct FeedMember {
  std::int64_t seq = 0;
  protocol::MemberRecord record;
  engine::Minor spend_minor = 0;
};
struct FeedCoupon {
  std::int64_t seq = 0;
  std::string code, definition;
  std::int64_t version = 0;
  std::optional<std::string> member_id;
  bool used = false;
};

struct StoreSync {
  std::string store_id, till_id;
  std::int64_t at_us = 0;
  std::int64_t txns = 0;           // transactions new to headquarters
  std::int64_t newest_lag_us = 0;  // how old its newest transaction was
  std::optional<std::int64_t> queued;  // what the till said it still had queued
  std::optional<std::int64_t> sent_at_us;
};

// One transaction's reads and writes. Every write that changes a member or a coupon moves it on the
// changes feed: the backend gives it the feed's next number, in the order of commits.
// What a batch will read, named before it is applied, so that a storage across a network can read
// it in a few statements instead of one per transaction (PostgreSQL). A storage may ignore it: each
// read still answers exactly what the database holds, with this transaction's writes.
struct BatchReads {
  std::vector<std::string> txn_ids;                            // find_txn
  std::vector<std::string> member_ids;                         // resolve, then load_member
  std::vector<std::pair<std::string, std::string>> receipts;   // prior_sale: (store, receipt)
  std::vector<std::string> waiting_keys;                       // waiting_for
  std::int64_t spend_after_us = INT64_MAX;                     // window_spend of the members from here on
  std::int64_t rows = 0;                                       // new_txn_row
};

class Tx {
 public:
  virtual ~Tx() = default;

  // A hint: what the batch about to be applied reads (see BatchReads).
  virtual void prefetch(const BatchReads&) {}

  // Serializes this transaction with every other that takes the same lock, until it ends (the
  // batches of one till, each slice of the daily work): instances sharing a database take turns.
  virtual void lock(std::string_view name) = 0;

  // Meta: the database's generation and the daily work's progress.
  virtual std::optional<std::string> meta_text(std::string_view key) = 0;
  virtual std::int64_t meta_int(std::string_view key) = 0;  // 0 when absent
  virtual void set_meta(std::string_view key, std::string_view value) = 0;
  virtual void set_meta(std::string_view key, std::int64_t value) = 0;
  // The last number the feed gave, as this transaction sees it.
  virtual std::int64_t feed_end() = 0;

  // Rule sets, by version; the current one is the last published.
  virtual std::optional<std::string> rules_json(std::string_view version) = 0;
  virtual std::optional<RulesRecord> current_rules() = 0;
  virtual std::optional<std::string> current_rules_version() = 0;
  virtual void insert_rules(const RulesRecord& rules, std::int64_t now_us) = 0;

  // Members. `resolve`: the member an id names (itself, or the member it was merged into).
  virtual std::string resolve(const std::string& id) = 0;
  virtual bool member_exists(const std::string& id) = 0;
  virtual std::int64_t member_version(const std::string& id) = 0;  // 0 when unknown
  // Loads for update: no other transaction changes the member until this one ends.
  virtual std::optional<MemberState> load_member(const std::string& id) = 0;
  // Writes the ledger's figures back, bumps the version; the new version.
  virtual std::int64_t save_member(const MemberState& m) = 0;
  virtual void note_purchase(const std::string& id, const engine::Instant& at) = 0;
  virtual void insert_member(const NewMember& m) = 0;
  // Fills what the member lacks (name, phone, birthday) from an enrollment of the same phone; the new version.
  virtual std::int64_t merge_member(const std::string& id, const std::string& name, const std::string& masked,
                                    const std::string& phone, const std::optional<engine::MonthDay>& birthday) = 0;
  // An import: the member's personal fields replaced.
  virtual void update_member(const std::string& id, const std::string& name, const std::optional<std::string>& phone,
                             const std::string& masked, const std::optional<engine::MonthDay>& birthday) = 0;
  virtual std::string member_tier(const std::string& id) = 0;
  virtual void set_imported_tier(const std::string& id, const std::string& tier) = 0;
  // History from an older system, never undoing what headquarters has seen since.
  virtual void raise_history(const std::string& id, std::optional<std::int64_t> purchases,
                             const std::optional<engine::Instant>& last_purchase) = 0;
  virtual std::vector<std::string> member_ids(std::int64_t limit) = 0;
  virtual std::vector<std::string> members_of_tier(const std::string& tier) = 0;
  virtual std::optional<MemberRow> member_row(std::string_view id) = 0;  // by id or alias
  virtual std::optional<MemberDetail> member_detail(std::string_view id) = 0;

  // Member codes (hashes) and aliases.
  virtual std::optional<std::string> member_by_code(const protocol::CodeHash& hash) = 0;
  virtual void insert_code(const protocol::CodeHash& hash, const std::string& member, std::string_view kind) = 0;
  virtual void drop_codes(const std::string& member) = 0;
  virtual void insert_alias(const std::string& alias, const std::string& member) = 0;

  // The member's open lots, oldest expiry first, as many as hold `points` (all when they hold fewer).
  virtual std::vector<OpenLot> open_lots(const std::string& member, std::int64_t points) = 0;
  virtual void take_from_lot(std::int64_t lot, std::int64_t points) = 0;
  virtual void insert_lot(const NewLot& lot) = 0;
  virtual std::vector<DueLot> due_lots(std::int64_t now_us, std::int64_t limit) = 0;
  virtual void expire_lot(std::int64_t lot) = 0;
  // The member's balance less the points that expired.
  virtual void expire_points(const std::string& member, std::int64_t points) = 0;
  // The first expiry of the member's open lots and the points left in them.
  virtual std::optional<std::pair<std::int64_t, std::int64_t>> next_expiry(const std::string& member) = 0;

  // Sales and refunds.
  virtual engine::Minor window_spend(const std::string& member, std::int64_t after_us, std::int64_t through_us) = 0;
  // The member's sales before `before_us`: how many, and the last one's instant.
  virtual std::pair<std::int64_t, std::optional<std::int64_t>> history(const std::string& member,
                                                                       std::int64_t before_us) = 0;
  virtual void insert_sale(const NewSale& s) = 0;
  virtual std::optional<SaleState> find_sale(const std::string& txn_id) = 0;
  virtual void refund_sale(const SaleRefunded& r) = 0;
  virtual std::optional<PriorTxn> prior_sale(const std::string& store, const std::string& receipt,
                                             const std::string& till) = 0;
  virtual std::optional<PriorTxn> prior_refund(const std::string& sale_txn_id, const std::string& refund_id,
                                               const std::string& store, const std::string& till) = 0;
  virtual std::vector<std::string> refund_bodies(const std::string& sale_txn_id) = 0;
  virtual void insert_refund(const NewRefund& r) = 0;
  virtual std::vector<SaleRecord> sales_by_receipt(std::string_view store, std::string_view receipt) = 0;

  // Tiers.
  virtual void insert_tier_change(const std::string& member, std::int64_t at_us, const std::string& from,
                                  const std::string& to, engine::Minor spend, std::string_view reason) = 0;
  virtual std::optional<std::string> tier_at(const std::string& member, std::int64_t at_us) = 0;
  virtual bool tier_held_between(const std::string& member, const std::string& tier, std::int64_t after_us,
                                 std::int64_t through_us) = 0;
  // Members after `after` in id order, locked, each with the spend of its window of `window_us`
  // ending at max(now, the member's spend_at_us).
  virtual std::vector<PassRow> pass_slice(const std::string& after, std::int64_t window_us, std::int64_t now_us,
                                          std::int64_t limit) = 0;
  virtual void set_tier(const std::string& member, const std::string& tier, std::optional<std::int64_t> grace_until_us,
                        engine::Minor spend, std::int64_t spend_at_us) = 0;

  // Coupons. `coupon` loads for update.
  virtual std::optional<CouponState> coupon(const std::string& code) = 0;
  virtual void use_coupon(const std::string& code, const std::string& txn_id, const std::string& store,
                          std::int64_t at_us) = 0;
  virtual bool coupon_exists(const std::string& code) = 0;
  virtual void insert_coupon(const std::string& code, const std::string& member, const std::string& definition,
                             std::int64_t now_us) = 0;

  // Flags.
  virtual void insert_flag(const NewFlag& f) = 0;
  virtual void close_balance_flags(const std::string& member, std::int64_t now_us) = 0;
  virtual void close_held_flags(const std::string& txn_id, std::int64_t now_us) = 0;
  virtual std::vector<FlagRow> flags(bool include_closed, std::int64_t limit) = 0;

  // Transactions received, and those kept by digest only. In a write transaction, find_txn,
  // waiting_for and received_of lock the rows they return until it ends (several instances may
  // apply one held transaction at once otherwise).
  virtual std::optional<StoredTxn> find_txn(const std::string& txn_id) = 0;
  virtual std::int64_t new_txn_row() = 0;  // the row the next transaction received takes
  virtual void insert_txn(const TxnRow& t) = 0;
  virtual void update_txn(const TxnUpdate& u) = 0;
  virtual std::vector<std::int64_t> waiting_for(const std::string& key) = 0;  // held rows, oldest first
  virtual std::optional<std::string> txn_body(std::int64_t row) = 0;
  // When the row was first received, the reason it holds and its status.
  virtual std::optional<ReceivedTxn> received_of(std::int64_t row) = 0;
  // The transaction a duplicate stands for (itself when it is none).
  virtual std::string original_of(const std::string& txn_id) = 0;
  virtual std::vector<std::int64_t> unapplied_rows() = 0;  // held or rejected, oldest first
  virtual std::vector<std::int64_t> waiting_rows(std::int64_t limit) = 0;  // held for a member or a sale, oldest first
  virtual std::optional<std::string> refused_reason(const std::string& digest) = 0;
  virtual void insert_refused(const RefusedRow& r) = 0;
  virtual std::vector<HeldRow> held(bool include_applied, std::int64_t limit) = 0;
  virtual std::optional<HeldRow> held_txn(std::string_view id) = 0;  // "123", "r7" or a txn_id

  // Batches (by store and batch id: their digest and answer) and what each store and till reported.
  virtual std::optional<std::pair<std::string, std::string>> find_batch(std::string_view store,
                                                                        std::string_view batch_id) = 0;
  virtual void insert_batch(std::string_view store, std::string_view batch_id, const std::string& digest,
                            const std::string& answer, std::int64_t now_us) = 0;
  virtual void note_sync(const StoreSync& s) = 0;
  virtual std::optional<std::int64_t> till_sent(const std::string& store, const std::string& till) = 0;
  virtual std::vector<StoreRow> stores() = 0;

  // The stores registry.
  virtual std::vector<RegistryRow> registry() = 0;
  // Adds (store, fingerprint), or registers again one that was revoked; false when it is there already.
  virtual bool insert_registry(const std::string& store, const std::string& fingerprint, std::int64_t now_us) = 0;
  // Revokes the store's rows (fingerprint empty: all of them, else that one, added revoked when it was
  // not there); the number of rows changed.
  virtual std::int64_t revoke_registry(const std::string& store, const std::string& fingerprint, std::int64_t now_us) = 0;

  // The changes feed after `after`, at most `limit` of each kind, in feed order.
  virtual std::vector<FeedMember> changed_members(std::int64_t after, std::int64_t limit) = 0;
  virtual std::vector<FeedCoupon> changed_coupons(std::int64_t after, std::int64_t limit) = 0;
  virtual std::vector<protocol::CodeHash> codes_of(const std::string& member) = 0;
  // The same for many members at once (a changes page): one query where a backend pays for each.
  virtual std::vector<std::vector<protocol::CodeHash>> codes_of(const std::vector<std::string>& members) {
    std::vector<std::vector<protocol::CodeHash>> out;
    out.reserve(members.size());
    for (const auto& m : members) out.push_back(codes_of(m));
    return out;
  }
  virtual std::vector<std::optional<std::pair<std::int64_t, std::int64_t>>> next_expiry(
      const std::vector<std::string>& members) {
    std::vector<std::optional<std::pair<std::int64_t, std::int64_t>>> out;
    out.reserve(members.size());
    for (const auto& m : members) out.push_back(next_expiry(m));
    return out;
  }
};

// A database behind the port.
class Backend {
 public:
  virtual ~Backend() = default;
  // Runs `body` in one write transaction and commits it. A backend may run `body` again from the
  // start (a conflict with another instance's transaction): it must not keep state between runs.
  virtual void write(const std::function<void(Tx&)>& body) = 0;
  // Runs `body` in a read transaction: what it reads comes from one moment of the database.
  virtual void read(const std::function<void(Tx&)>& body) = 0;
  // The changes feed's high-water mark kept beside the database (generation, last number), when the
  // backend keeps one: a database whose feed ends before it was restored from a backup.
  virtual std::optional<std::pair<std::string, std::int64_t>> feed_mark() { return std::nullopt; }
};

}  // namespace loyalty::hq::detail
