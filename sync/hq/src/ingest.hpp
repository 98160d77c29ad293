// Applying what tills send, inside one write transaction of the storage port: each transaction exactly
// once by its txn_id, the same receipt twice one sale, nothing received forgotten (held with its cause,
// or refused for its own content), and what a held transaction waited for releasing it.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "ledger.hpp"
#include "loyalty/hq/storage.hpp"
#include "loyalty/hq/txn.hpp"
#include "loyalty/protocol/batch.hpp"
#include "port.hpp"

namespace loyalty::hq::detail {

class Ingest {
 public:
  // `now_us`: the instant of the write transaction. Refreshes the ledger's current rules.
  Ingest(Tx& tx, Ledger& ledger, const EnrollmentOpener& opener, LedgerPolicy policy, std::int64_t now_us);
  Ingest(const Ingest&) = delete;
  Ingest& operator=(const Ingest&) = delete;

  // Tells the storage what receiving `txns` will read (Tx::prefetch).
  void prefetch(const std::vector<Txn>& txns);

  enum class Outcome { fresh, answered, retried };
  // One transaction of a batch: stored and applied when it is new; answered from its record when it
  // was applied or refused for good; applied now when it was held and its cause is gone.
  Outcome receive(const Txn& t, protocol::TxnResult& r);
  // An operator's retry of a held transaction's row. `accept`: its own reason (a receipt conflict, a
  // date ahead, another store's certificate) is overridden.
  void retry_held(std::int64_t row, const Txn& t, bool accept, const std::string& reason);

 private:
  void retry(const Txn& t, std::int64_t row, protocol::TxnResult& r);
  std::int64_t past_limit_us() const { return std::int64_t{policy_.past_days} * kMicrosPerDay; }
  void check_past(const Txn& t);
  void resolved(const Txn& t, const protocol::TxnResult& r);
  template <class What>
  bool repeated(const std::optional<PriorTxn>& prior, const Txn& t, const What& what, protocol::TxnResult& r);
  std::string content_of(const std::string& body);
  std::string content_sha(const Txn& t);
  std::string refunded_sale(const Txn& t);
  void refuse_unkeyed(const Txn& t, std::string reason, protocol::TxnResult& r);
  void flag_unapplied(const Txn& t, const std::string& reason);
  void apply_one(const Txn& t, protocol::TxnResult& r);
  std::int64_t expiry_of(std::int64_t at_us, std::string_view version);
  void apply_sale(const Txn& t, protocol::TxnResult& r);
  engine::Result<std::optional<engine::Refund>> recompute_refund(const Txn& t, const std::string& sale_id,
                                                                 std::int64_t sale_row);
  void apply_refund(const Txn& t, protocol::TxnResult& r);
  void apply_enrollment(const Txn& t, protocol::TxnResult& r);

  Tx& tx_;
  Ledger& ledger_;
  const EnrollmentOpener& opener_;
  LedgerPolicy policy_;
  std::int64_t now_us_;            // the instant of the write transaction
  std::int64_t received_us_ = 0;   // when headquarters received the transaction being applied
  bool accept_future_ = false;     // an operator's retry applies a transaction dated ahead as dated when it arrived,
  bool accept_store_ = false;      // and one sent with another store's certificate as its own store's,
  bool accept_conflicts_ = false;  // and a receipt_conflict as a transaction of its own
  std::string sent_by_other_store_;  // a held transaction's wrong_store reason, kept until an operator accepts it
  bool from_own_store_ = false;      // ... or its own store sends it again
  bool past_dated_ = false;  // the sale being applied is dated implausibly far back: its points expire when it arrived
  std::set<std::string> past_flagged_;  // tills of this transaction flagged for a sale dated back
  bool future_flagged_ = false;         // a transaction dated ahead was flagged
  std::int64_t row_ = 0;                // the row in txns of the transaction being applied
  std::optional<std::string> duplicate_of_;  // the transaction being applied repeats this one
  std::optional<std::string> waits_for_;     // held for this member or sale, applied when it is
  bool cascading_ = false;                   // applying held transactions released by another
};

}  // namespace loyalty::hq::detail
