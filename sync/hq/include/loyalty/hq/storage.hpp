// Headquarters' storage: the ledger of applied transactions, member state, the changes feed and the
// published rule sets. SQLite is the embedded implementation; the interface is what another database
// (PostgreSQL) implements to serve the same wire.
#pragma once

#include <cstdint>
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

struct StoreRow {
  std::string store_id;
  std::int64_t last_batch_us = 0;  // when its last batch was applied
  std::int64_t txns = 0;           // transactions it has sent (duplicates excluded)
  std::int64_t last_txn_lag_us = 0;  // how old its newest transaction was when it arrived
};

// A sale as another store's till needs it to refund it: the transaction, the member it counts for
// now (after any merge), and the refunds of it applied so far.
struct SaleRecord {
  std::string txn_id, store_id, body;
  std::optional<std::string> member_id;
  std::vector<std::string> refunds;  // refund transactions, JSON
};

class Storage {
 public:
  virtual ~Storage() = default;

  // Applies a batch from `store_id` (the client certificate's) in one write transaction: every
  // transaction exactly once by txn_id, a replayed batch id answered from the store, a reused id
  // with other content refused (409) with nothing applied.
  virtual BatchOutcome apply_batch(std::string_view store_id, const protocol::Batch& batch,
                                   const std::vector<Txn>& txns, std::int64_t now_us) = 0;
  // The changes document after `after`, at most `limit` records.
  virtual std::string changes(std::int64_t after, std::int64_t limit) = 0;
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
// commands. Thread-safe: one writer at a time. `serving`: the write-ahead log is copied into the
// database by a thread of its own, off the path of the requests (the administration commands leave it
// to SQLite's automatic checkpoints).
std::unique_ptr<Storage> open_sqlite_storage(const std::string& path, const EnrollmentOpener& opener,
                                             bool serving = false);

}  // namespace loyalty::hq
