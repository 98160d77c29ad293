// The sync batch (POST /v1/batches) and headquarters' answer to it, and the error document of every
// endpoint (docs/protocol.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "loyalty/engine/json_reader.hpp"
#include "loyalty/engine/quote.hpp"
#include "loyalty/engine/result.hpp"
#include "loyalty/engine/time.hpp"
#include "loyalty/protocol/limits.hpp"

namespace loyalty::protocol {

inline constexpr std::size_t kMaxBatchTxns = limits::kBatchTxns;

// A batch as headquarters reads it: the envelope checked, each transaction left as JSON for the
// ingest to validate on its own (so that an error names the transaction).
struct Batch {
  std::string till_id;
  std::string batch_id;
  std::vector<engine::detail::json> txns;
  // For headquarters' store report, both optional: the till's clock when it sent the batch (its
  // skew), and how many outbox entries it still had queued after this batch (its backlog).
  std::optional<engine::Instant> sent_at;
  std::optional<std::int64_t> queued;
};

// The envelope {till_id, batch_id, txns, sent_at?, queued?}: 1..kMaxBatchTxns transactions, each read
// (and refused, if it must be) on its own by headquarters.
engine::Result<Batch> parse_batch(std::string_view json_text);
// A batch from transactions that are already JSON text (the bodies a till keeps in its outbox).
std::string batch_json(std::string_view till_id, std::string_view batch_id, const std::vector<std::string>& bodies,
                       const std::optional<engine::Instant>& sent_at = std::nullopt,
                       std::optional<std::int64_t> queued = std::nullopt);

enum class TxnStatus { applied, duplicate, rejected };
std::string_view to_string(TxnStatus s);

struct TxnResult {
  std::string txn_id;
  TxnStatus status = TxnStatus::applied;
  std::string reason;                      // rejected: why (a code, then a sentence)
  std::optional<std::string> member_id;    // the member the transaction counts for (after any merge)
  std::int64_t member_version = 0;         // that member's version once the transaction is in it
};

struct BatchAnswer {
  std::vector<TxnResult> results;  // one per transaction, in the batch's order
};

engine::Result<BatchAnswer> parse_batch_answer(std::string_view json_text);
std::string batch_answer_json(const BatchAnswer& answer);

// What a sale sells, as canonical JSON text: its member, the coupon presented, the points asked for
// and its lines (not its time: a retry may come later). A till and headquarters hash it (SHA-256) to
// tell the same sale committed again under one receipt id from another sale; JSON escapes every
// string, so no id can imitate a separator.
std::string sale_content(const std::optional<std::string>& member_id, const std::optional<std::string>& coupon_code,
                         std::int64_t redeem_points, const std::vector<engine::Line>& lines);
// What a refund returns: the sale and each line's units.
std::string refund_content(std::string_view sale_txn_id, const std::vector<std::pair<std::string, std::int64_t>>& units);

// A refusal's reason starts with its code ("unknown_member: headquarters has no member M-404").
std::string_view refusal_code(std::string_view reason);
// Headquarters stores every transaction it does not apply. A refusal is final only for the
// transaction's own content (malformed, conflicting, more refunded than sold); the others depend on
// headquarters' state or on something an operator can fix (the enrollment key it runs with, a member
// or sale it does not know yet, a till's clock ahead): it holds such a transaction and applies it once
// the cause is gone, when the till sends it again or an operator retries it (docs/protocol.md).
bool is_final_refusal(std::string_view reason);

// {"error": {"code": ..., "message": ...}}
std::string error_json(std::string_view code, std::string_view message);
// The code and message of an error document; nullopt when the text is not one.
std::optional<std::pair<std::string, std::string>> parse_error(std::string_view json_text);

// A query parameter value percent-encoded (RFC 3986 unreserved characters kept), and back; decoding
// gives nullopt for a malformed escape.
std::string url_encode(std::string_view s);
std::optional<std::string> url_decode(std::string_view s);

// True for 32 lowercase hexadecimal digits (128 bits): the form of a transaction id.
bool is_txn_id(std::string_view s);
// 1..64 letters, digits, '-', '_' or '.': a batch id, receipt id, refund id.
bool is_token(std::string_view s, std::size_t max = 64);

}  // namespace loyalty::protocol
