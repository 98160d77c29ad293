// Every limit of a value that crosses the wire, defined once (docs/protocol.md, "Limits"). Each is
// enforced where the value is made (the till's configuration, a rule set when it is loaded or
// published, an id the till or headquarters generates, the POS's input at the C interface) and
// again where it is read, so that nothing one side can produce is refused by the other.
//
// Header-only and free of other headers of the project: the rules engine checks its rule sets
// against it too.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace loyalty::protocol::limits {

// Ids of the chain's own making: letters, digits, '-' and '_' (a store id is also its certificate's CN).
inline constexpr std::size_t kStoreId = 32;
inline constexpr std::size_t kTillId = 32;
// Headquarters' member ids (imported, or made by a till at enrollment): letters, digits, '-', '_', '.'.
// A till's id for a member it enrolls is "T-<store>-<16 hexadecimal digits>", at most 51 bytes.
inline constexpr std::size_t kMemberId = 63;
inline constexpr std::size_t kEnrollmentHexDigits = 16;
// The POS's own ids (receipt, refund, basket line): 1..63 bytes of UTF-8, any characters.
inline constexpr std::size_t kPosId = 63;
inline constexpr std::size_t kSku = 256;
inline constexpr std::size_t kCategory = 256;
// A coupon code: letters, digits, '-', '_', '.' as headquarters issues them; the POS may present any
// 1..64 bytes of UTF-8 (an unknown code is refused in the quote, not at the wire).
inline constexpr std::size_t kCouponCode = 64;
// A rule set: its version is letters, digits, '-', '_', '.' (it is also an HTTP ETag); tier ids and
// names fit the till's fixed buffers (loyalty.h: 64 bytes with the terminating NUL).
inline constexpr std::size_t kRulesVersion = 63;
inline constexpr std::size_t kTierId = 63;
inline constexpr std::size_t kTierName = 63;
inline constexpr std::size_t kRulesBytes = 1024 * 1024;
// What a cashier may see of a member's name (loy_member_info.masked_name: 96 bytes with the NUL).
inline constexpr std::size_t kMaskedName = 95;
inline constexpr std::size_t kCodesPerMember = 16;
// A batch: its id, its transactions, and its size. One transaction body is at most kTxnBytes (a sale
// of the most lines with the longest fields fits); a till cuts its batches at kBatchBytes, and
// headquarters accepts request bodies of at least that size.
inline constexpr std::size_t kBatchId = 64;
inline constexpr std::size_t kBatchTxns = 1000;
inline constexpr std::size_t kTxnBytes = 6 * 1024 * 1024;
inline constexpr std::size_t kBatchBytes = 8 * 1024 * 1024;
inline constexpr std::size_t kLines = 10'000;
// Money and points, as the engine quotes them and headquarters reads them: a line's amount and a
// sale's total are at most kMaxMinor minor units; points (earned, redeemed, returned, a balance) at
// most kMaxPoints.
inline constexpr std::int64_t kMaxMinor = 1'000'000'000'000'000;
inline constexpr std::int64_t kMaxPoints = 1'000'000'000'000'000;
// A transaction dated more than this ahead of headquarters' clock is held (future_timestamp); a till
// refuses a sale time that far ahead of its own.
inline constexpr std::int64_t kFutureSeconds = 24 * 3600;

namespace detail {
constexpr bool id_char(char c, bool dot) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
         (dot && c == '.');
}
constexpr bool id_of(std::string_view s, std::size_t max, bool dot) {
  if (s.empty() || s.size() > max) return false;
  for (char c : s)
    if (!id_char(c, dot)) return false;
  return true;
}
}  // namespace detail

constexpr bool is_store_id(std::string_view s) { return detail::id_of(s, kStoreId, false); }
constexpr bool is_till_id(std::string_view s) { return detail::id_of(s, kTillId, false); }
constexpr bool is_member_id(std::string_view s) { return detail::id_of(s, kMemberId, true); }
constexpr bool is_rules_version(std::string_view s) { return detail::id_of(s, kRulesVersion, true); }
constexpr bool is_issued_coupon_code(std::string_view s) { return detail::id_of(s, kCouponCode, true); }
constexpr bool is_batch_id(std::string_view s) { return detail::id_of(s, kBatchId, true); }

// The id a till gives a member it enrolls: "T-<store>-<16 hex digits>" (the start of the phone's keyed
// hash, so that the same phone enrolled again at that store is the same member). It fits kMemberId
// for every store id.
static_assert(2 + kStoreId + 1 + kEnrollmentHexDigits <= kMemberId, "an enrolled member's id fits kMemberId");
inline std::string enrollment_member_id(std::string_view store, std::string_view hex16) {
  return "T-" + std::string(store) + "-" + std::string(hex16);
}
// True for an id a till of `store` made: "T-<store>-<16 hex>", or "T-<store>-<till>-<16 hex>" as
// tills before 1.2 made them (when that fitted kMemberId).
inline bool is_enrollment_member_id(std::string_view id, std::string_view store, std::string_view till) {
  const auto hex_tail = [](std::string_view s) {
    if (s.size() != kEnrollmentHexDigits) return false;
    for (char c : s)
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    return true;
  };
  if (id.size() > kMemberId) return false;
  const std::string prefix = "T-" + std::string(store) + "-";
  if (id.substr(0, prefix.size()) != prefix) return false;
  const std::string_view rest = id.substr(prefix.size());
  if (hex_tail(rest)) return true;
  const std::string legacy = std::string(till) + "-";
  return rest.substr(0, legacy.size()) == legacy && hex_tail(rest.substr(legacy.size()));
}

}  // namespace loyalty::protocol::limits
