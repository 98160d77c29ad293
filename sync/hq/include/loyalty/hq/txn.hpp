// A transaction of a sync batch as headquarters reads it (docs/protocol.md): its shape checked in
// full, its digest taken, an enrollment's sealed personal fields opened.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "loyalty/engine/json_reader.hpp"
#include "loyalty/engine/money.hpp"
#include "loyalty/engine/quote.hpp"
#include "loyalty/engine/refund.hpp"
#include "loyalty/engine/time.hpp"
#include "loyalty/protocol/changes.hpp"

namespace loyalty::hq {

enum class TxnKind { sale, refund, enrollment };

// An enrollment's personal fields, once opened with headquarters' private key.
struct Personal {
  std::string phone;  // normalised
  std::string name;
  std::string consent;
  std::optional<engine::MonthDay> birthday;
};

struct Txn {
  std::string txn_id;
  TxnKind kind = TxnKind::sale;
  std::string store_id, till_id;
  engine::Instant at;
  std::optional<std::string> member_id;
  std::string digest;  // SHA-256 (hex) of the transaction's canonical JSON: the same id must carry the same content
  std::string body;    // the transaction as received, compact
  // Not empty: the transaction could not be read ("invalid_txn: txns[3].at: ..."). Only txn_id (as
  // sent, when it is a string), store_id, till_id, body and digest are set; it is stored, never applied.
  std::string invalid;
  // Not empty: the store whose certificate sent it, when the transaction names another (a till moved
  // to another store with sales queued). It is stored and held until an operator accepts it.
  std::string sent_by_store;

  // sale: what the till priced (re-checked by headquarters' ledger) and what it came to
  engine::QuoteInput input;
  engine::Quote quote;
  std::string receipt_id, rules_version;
  std::int64_t points_earned = 0, points_redeemed = 0;
  engine::Minor gross_minor = 0, payable_minor = 0;
  // refund: the lines and units returned, and the figures the till computed for them
  std::vector<engine::RefundItem> refund_items;
  std::string refund_id, sale_txn_id;
  // refund: where the sale was committed (optional): with receipt_id it names the sale whatever its txn_id
  std::optional<std::string> sale_store_id, sale_till_id;
  engine::Minor amount_minor = 0;
  std::int64_t points_taken_back = 0, points_given_back = 0;
  // enrollment
  protocol::CodeHash code_hash{};
  std::string masked_name, tier;
  std::string sealed;  // the envelope, JSON text
};

// Reads one transaction at `path` ("txns[3]"); a shape error is an engine::detail::JsonError naming
// the path (run it inside engine::detail::guarded).
Txn read_txn(const engine::detail::json& j, const std::string& path);

std::string sha256_hex(std::string_view data);

// A transaction that read_txn refused (`error` names the path), kept as received: its own txn_id and
// till_id when they are well formed, else `till_id` of its batch; the store of the client's certificate.
Txn unreadable_txn(const engine::detail::json& j, const std::string& store_id, const std::string& till_id,
                   const std::string& error);

// Opens enrollments: headquarters' RSA private key and the chain's code key.
class EnrollmentOpener {
 public:
  EnrollmentOpener(std::string private_key_pem, std::span<const std::uint8_t> code_key);
  ~EnrollmentOpener();
  EnrollmentOpener(const EnrollmentOpener&) = delete;
  EnrollmentOpener& operator=(const EnrollmentOpener&) = delete;

  // The personal fields of an enrollment; an error when the envelope cannot be opened or the phone
  // does not hash to the transaction's code_hash.
  engine::Result<Personal> open(const Txn& t) const;
  protocol::CodeHash hash(std::string_view normalised_code) const;

 private:
  struct Impl;
  std::string key_pem_;
  Impl* impl_;
};

}  // namespace loyalty::hq
