// Headquarters' storage: the ledger of applied transactions, member state, the changes feed and the
// published rule sets. SQLite is the embedded implementation; the interface is what another database
// (PostgreSQL) implements to serve the same wire.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "loyalty/engine/time.hpp"
#include "loyalty/hq/txn.hpp"
#include "loyalty/protocol/batch.hpp"

namespace loyalty::hq {

// What a batch came to: the HTTP status and the body to answer with.
struct BatchOutcome {
  int status = 200;
  std::string body;  // the batch answer, or an error document
  bool replayed = false;  // the batch id was seen before with the same content: its stored answer
  std::int64_t applied = 0, duplicates = 0, rejected = 0, sales_applied = 0;
};

struct RulesRecord {
  std::string version;
  std::string json;
};

// A row of `loyalty-hq members import`.
struct ImportedMember {
  std::string id;
  std::string name;
  std::string phone;  // normalised; may be empty
  std::string card;   // normalised; may be empty
  std::optional<engine::MonthDay> birthday;
  std::string tier;
  std::int64_t points = 0;
  // The purchase history before the import (the chain's old system): nullopt when not known. Applied
  // to a member only when it says more than headquarters knows (more purchases, a later one).
  std::optional<std::int64_t> purchases;
  std::optional<engine::Instant> last_purchase_at;
};

struct ImportReport {
  std::int64_t added = 0, updated = 0;
};

// A member as headquarters holds them (personal data included: for operators only).
struct MemberRow {
  std::string id;
  std::int64_t version = 0;
  std::string name, phone, tier;
  std::optional<engine::MonthDay> birthday;
  std::int64_t points = 0, purchases = 0;
  std::optional<engine::Instant> last_purchase_at;
  std::vector<std::string> aliases;  // ids tills made for this member before it was merged
};

struct TillRow {
  std::string till_id;
  std::int64_t last_batch_us = 0;
  std::optional<std::int64_t> backlog;   // entries it still had queued after its last batch
  std::optional<std::int64_t> skew_us;   // its clock minus headquarters' when it sent its last batch
};

struct StoreRow {
  std::string store_id;
  std::int64_t last_batch_us = 0;  // when its last batch was applied
  std::int64_t txns = 0;           // transactions it has sent (duplicates excluded)
  std::int64_t last_txn_lag_us = 0;  // how old its newest transaction was when it arrived
  std::int64_t open_flags = 0;       // flags raised against it and not closed
  std::vector<TillRow> tills;
};

// Lots that expired in one run of `expire`.
struct ExpiryReport {
  std::int64_t lots = 0, members = 0, points = 0;
};

// One daily tier pass.
struct TierPassReport {
  std::int64_t members = 0;     // evaluated
  std::int64_t upgraded = 0, graced = 0, downgraded = 0, requalified = 0;
  std::int64_t changed = 0;     // records sent to tills again (tier, grace or spend changed)
};

// `loyalty-hq coupons issue`: one coupon per member named, or per member of a tier.
struct CouponIssue {
  std::string definition;              // the coupon's fields as JSON (kind, value, min_spend_minor, ...)
  std::vector<std::string> members;    // member ids (aliases resolved)
  std::optional<std::string> tier;     // or every member of this tier
  std::optional<std::string> code;     // a given code, for one member only; otherwise generated
  std::string prefix = "C";            // generated codes: prefix + 12 characters
};

struct IssuedCoupon {
  std::string member_id, code;
};

struct FlagRow {
  std::int64_t id = 0;
  std::string kind;
  std::int64_t raised_us = 0;
  std::string store_id, till_id, txn_id;  // may be empty
  std::optional<std::string> member_id;
  std::string detail;                     // JSON
  std::optional<std::int64_t> closed_us;
};

struct LotRow {
  std::int64_t earned_us = 0, expires_us = 0;
  std::int64_t points = 0, left = 0, expired = 0;
  std::string txn_id;
};

struct TierChangeRow {
  std::int64_t at_us = 0;
  std::string from, to, reason;
  std::int64_t spend_minor = 0;
};

struct SaleRow {
  std::string txn_id, store_id, receipt_id;
  std::int64_t at_us = 0;
  engine::Minor payable_minor = 0, refunded_minor = 0;
  std::int64_t points_earned = 0, points_redeemed = 0;
};

struct CouponRow {
  std::string code, definition;
  std::optional<std::string> used_txn_id, used_store;
  std::optional<std::int64_t> used_at_us;
};

// `loyalty-hq member ID`: everything headquarters holds of one member (personal data included).
struct MemberDetail {
  MemberRow member;
  std::optional<std::int64_t> grace_until_us;
  engine::Minor spend_minor = 0;  // net spend of the window at the last evaluation
  std::vector<LotRow> lots;       // open lots, then the 20 most recently closed
  std::vector<TierChangeRow> tiers;
  std::vector<SaleRow> sales;     // the 20 most recent
  std::vector<CouponRow> coupons;
  std::vector<FlagRow> flags;
};

// A transaction headquarters stored and has not applied (or, with `--all`, applied after it was held).
struct HeldRow {
  std::string id;          // "123": its row of txns; "r7": one kept by its digest (no usable txn_id)
  std::string txn_id, store_id, till_id, kind;
  std::string status;      // held (its cause can go), rejected (for its own content), applied (since)
  std::string reason;      // why it is not applied (the last reason, once applied)
  bool final = false;      // refused for its own content: sending it again changes nothing
  std::int64_t received_us = 0;
  std::optional<std::int64_t> at_us, held_us;
  std::string body;        // the transaction as received (held_txn only)
};

// A sale as another store's till needs it to refund it: the transaction, the member it counts for
// now (after any merge), and the refunds of it applied so far.
struct SaleRecord {
  std::string txn_id, store_id, body;
  std::vector<std::string> copies;  // txn_ids of the same sale committed again (a till restored from a backup)
  std::optional<std::string> member_id;
  std::vector<std::string> refunds;  // refund transactions, JSON
};

// What a till has seen of headquarters (GET /v1/changes): the newest member record it holds, and
// the newest transaction headquarters applied for it. A database that has neither went back.
struct TillView {
  std::optional<std::pair<std::string, std::int64_t>> member;  // id, version
  std::optional<std::string> applied;                         // txn_id
  std::string store_id;                                       // the till's store (its certificate's)
};

// A row of the stores registry: a store registered (fingerprint empty: any certificate of the
// chain's CA naming it), or one of its certificates pinned (SHA-256 of its DER, lowercase hex);
// revoked when revoked_us is set.
struct RegistryRow {
  std::string store_id, fingerprint;
  std::int64_t added_us = 0;
  std::optional<std::int64_t> revoked_us;
};

class Storage {
 public:
  virtual ~Storage() = default;

  // The stores registry (docs/operations.md, "The stores registry"). `register_store` adds the
  // store, or pins a certificate of it, or registers again one that was revoked; false when it was
  // there already. `revoke` revokes the store (fingerprint empty) or one certificate; false when
  // nothing matched.
  virtual std::vector<RegistryRow> registry() = 0;
  virtual bool register_store(const std::string& store_id, const std::string& fingerprint, std::int64_t now_us) = 0;
  virtual bool revoke(const std::string& store_id, const std::string& fingerprint, std::int64_t now_us) = 0;

  // Applies a batch from `store_id` (the client certificate's) in one write transaction: every
  // transaction exactly once by txn_id, a replayed batch id answered from the store, a reused id
  // with other content refused (409) with nothing applied.
  virtual BatchOutcome apply_batch(std::string_view store_id, const protocol::Batch& batch,
                                   const std::vector<Txn>& txns, std::int64_t now_us) = 0;
  // The changes document after `after`, at most `limit` records. `generation`: the database
  // generation the till has ("" for none yet); the document then carries headquarters' own, and starts
  // from the beginning of the feed when the till's is another one (headquarters was restored). A till
  // whose cursor is past the feed's end, that holds a member at a version this database has not
  // reached, or had a transaction applied that it does not hold, proves a restore too: a new
  // generation is taken.
  virtual std::string changes(std::int64_t after, std::int64_t limit,
                              const std::optional<std::string>& generation = std::nullopt,
                              const TillView& seen = {}) = 0;
  // This database's generation; `new_generation` takes another (after a restore from a backup).
  virtual std::string generation() = 0;
  virtual std::string new_generation(std::string_view why) = 0;
  virtual std::optional<RulesRecord> current_rules() = 0;
  // Publishes a validated rule set; false when that version is already published with the same
  // text. A version published before with other text is an error.
  virtual bool publish_rules(const RulesRecord& rules, std::int64_t now_us) = 0;
  virtual ImportReport import_members(const std::vector<ImportedMember>& members, std::int64_t now_us) = 0;
  virtual std::vector<MemberRow> members(std::int64_t limit) = 0;
  virtual std::optional<MemberRow> member(std::string_view id) = 0;
  virtual std::vector<StoreRow> stores() = 0;
  // The sales of a store under a receipt id (more than one when two of its tills used the same id).
  virtual std::vector<SaleRecord> sales_by_receipt(std::string_view store_id, std::string_view receipt_id) = 0;

  // The ledger's own work, with the time passed in: lots due at `now_us` expire (each exactly once),
  // and the daily tier pass re-evaluates every member's tier at `now_us`.
  virtual ExpiryReport expire(std::int64_t now_us) = 0;
  virtual TierPassReport tier_pass(std::int64_t now_us) = 0;
  // Runs what is due at `now_us` once per day in the rules' offset (the serve timer): the tier pass
  // when the day changed since the last one, then expiry. nullopt when nothing was due. `stopping`
  // is asked between slices: a pass given up resumes where it stopped at the next call.
  virtual std::optional<std::pair<ExpiryReport, std::optional<TierPassReport>>> daily(
      std::int64_t now_us, const std::function<bool()>& stopping) = 0;
  virtual std::vector<IssuedCoupon> issue_coupons(const CouponIssue& issue, std::int64_t now_us) = 0;
  virtual std::vector<FlagRow> flags(bool include_closed, std::int64_t limit) = 0;
  virtual std::optional<MemberDetail> member_detail(std::string_view id) = 0;

  // Held transactions, oldest first: those not applied, and with `include_applied` those applied
  // after they were held.
  virtual std::vector<HeldRow> held(bool include_applied, std::int64_t limit) = 0;
  // One of them by its id ("123", "r7") or txn_id, with its body.
  virtual std::optional<HeldRow> held_txn(std::string_view id) = 0;
  // Applies held transactions again at `now_us`, in the order they arrived (every one not applied
  // when `ids` is empty), as if their till had sent them again; the rows as they are after.
  // `accept`: a receipt_conflict is applied as a transaction of its own (the operator's decision).
  // Held transactions waiting for a member or a sale (unknown_member, a refund's sale not yet
  // received), the oldest `limit`, applied again: one whose cause arrived at another instance while
  // it was being held is released here, on the timer's next tick. How many were applied.
  virtual std::int64_t retry_waiting(std::int64_t now_us, std::int64_t limit) = 0;
  virtual std::vector<HeldRow> retry_held(const std::vector<std::string>& ids, std::int64_t now_us,
                                          bool accept = false) = 0;
};

// A refusal of the whole request: its HTTP status and error code.
class RequestError : public std::runtime_error {
 public:
  RequestError(int status, std::string code, const std::string& message)
      : std::runtime_error(message), status_(status), code_(std::move(code)) {}
  int status() const noexcept { return status_; }
  const std::string& code() const noexcept { return code_; }

 private:
  int status_;
  std::string code_;
};

// The embedded storage: one SQLite file (WAL, synchronous=FULL), shared with the administration
// commands. Thread-safe: one writer at a time, readers beside it. `serving`: the write-ahead log is
// copied into the database by a thread of its own, off the path of the requests (the administration
// commands leave it to SQLite's automatic checkpoints).
// The ledger's policies a storage applies (headquarters' configuration, docs/headquarters.md).
struct LedgerPolicy {
  std::int32_t past_days = 30;  // a sale dated further back than this when it arrives is past-dated
};

// `readers`: connections for reads beside the writer (0: reads take turns with writes).
std::unique_ptr<Storage> open_sqlite_storage(const std::string& path, const EnrollmentOpener& opener,
                                             bool serving = false, LedgerPolicy policy = {}, int readers = 0);

// The shared storage: a PostgreSQL database (libpq connection string or URI), with `connections`
// held open. Its schema is migrated at open, once, whichever instances open it together.
std::unique_ptr<Storage> open_postgres_storage(const std::string& url, int connections, const EnrollmentOpener& opener,
                                               LedgerPolicy policy = {});

}  // namespace loyalty::hq
