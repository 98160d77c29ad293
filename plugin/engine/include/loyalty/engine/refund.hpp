// Refunds of committed sales (RULES.md, "Refunds"): exact shares that shrink with each partial
// refund, so that any sequence of partial refunds ending in a full one returns the sale's totals.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "loyalty/engine/money.hpp"
#include "loyalty/engine/quote.hpp"
#include "loyalty/engine/result.hpp"

namespace loyalty::engine {

// What is left of a sold line: units not yet returned, and their net money, earned-points share and
// redeemed-points share.
struct SaleLine {
  std::string id;
  std::int64_t units = 0;
  Minor net_minor = 0;
  std::int64_t points_earned = 0;
  std::int64_t points_redeemed = 0;
};

// The lines of a sale as committed from `input` at `quote` (nothing returned yet).
std::vector<SaleLine> sale_lines(const QuoteInput& input, const Quote& quote);

struct RefundItem {
  std::string line_id;
  std::int64_t units = 0;
};

struct Refund {
  Minor amount_minor = 0;               // money back to the customer
  std::int64_t points_taken_back = 0;   // earned points the member loses
  std::int64_t points_given_back = 0;   // redeemed points the member gets back
  std::vector<SaleLine> returned;       // per refunded line: units and figures returned
  std::vector<SaleLine> left;           // the sale's lines after this refund
};

// Returns `items` from a sale whose lines are `left`. Each item returns k of the q units left of its
// line: round_half_up(left * k / q) of each figure, exactly all that is left when k == q. Errors: no
// items, an unknown or repeated line, units <= 0 or more than are left, inconsistent `left`.
Result<Refund> refund(std::span<const SaleLine> left, std::span<const RefundItem> items);

// Everything still left of the sale; an error when nothing is.
Result<Refund> refund_all(std::span<const SaleLine> left);

// The member's balance after a refund. It may go below zero; such a member is flagged and cannot
// redeem until the balance is positive again. An error when a balance leaves the engine's limits.
struct BalanceAfterRefund {
  std::int64_t points = 0;
  bool negative = false;
};
Result<BalanceAfterRefund> apply_refund(std::int64_t balance, const Refund& refund);

}  // namespace loyalty::engine
