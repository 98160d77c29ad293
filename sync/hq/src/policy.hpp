// The ledger's arithmetic (RULES.md, "Member state that headquarters keeps"), as pure functions of
// their inputs: when points expire, which tier a spend reaches, what the daily pass does to a member,
// what a refund takes back. No storage, no clock.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "loyalty/engine/money.hpp"
#include "loyalty/engine/quote.hpp"
#include "loyalty/engine/rules.hpp"

namespace loyalty::hq::detail {

constexpr std::int64_t kMicrosPerDay = 86'400'000'000;

// The first instant after the end of the month `months` after `at`'s month, in `offset_minutes`:
// when points earned at `at` expire.
std::int64_t expiry_after(std::int64_t at_us, std::int32_t months, std::int32_t offset_minutes);
// The start of the day holding `at_us` in `offset_minutes`, as UTC microseconds.
std::int64_t day_start(std::int64_t at_us, std::int32_t offset_minutes);

// The index of a tier in the rules (ascending spend), or -1 for a tier the rules no longer have.
int rank_of(const engine::RuleSet& rules, std::string_view tier);
// The highest tier whose threshold the spend reaches (the first tier is at 0).
int qualified(const engine::RuleSet& rules, engine::Minor spend);

// What a spend earns at once, never a loss: a higher tier (grace ended), or the end of a grace period
// when it reaches the tier held. The reason to record, or nullopt when nothing changes.
std::optional<std::string_view> rise(const engine::RuleSet& rules, engine::Minor spend, std::string& tier,
                                     std::optional<std::int64_t>& grace_until_us);

// The daily pass for one member at `now_us` with the spend of its window: the tier and grace after
// it, and the reason recorded for the change (nullopt: none).
struct PassStep {
  std::string tier;
  std::optional<std::int64_t> grace_until_us;
  std::optional<std::string_view> reason;  // upgrade, requalified, grace, downgrade, tier_not_in_rules
};
PassStep pass_step(const engine::RuleSet& rules, std::string_view tier, std::optional<std::int64_t> grace_until_us,
                   engine::Minor spend, std::int64_t now_us);

// The tier after the member's and what is left to spend to reach it; nullopt at the top.
std::optional<engine::NextTier> next_tier(const engine::RuleSet& rules, std::string_view tier, engine::Minor spend);

// A spend summed as a double (which cannot overflow): exact below 2^53 minor units, held within the
// engine's range above.
engine::Minor clamp_total(double total);

// A refund takes back the sale's points in the proportion the till took back of the points it
// counted: headquarters' figure for the sale may differ from the till's (a re-check mismatch), and
// refunds ending in a full one take back exactly what headquarters credited.
std::int64_t refund_share(std::int64_t credited, std::int64_t till_total, std::int64_t till_part, bool all);

// What a refund of a sale takes back and gives back, and what of the sale still counts towards the tier.
struct RefundTerms {
  std::int64_t take = 0, give = 0;
  engine::Minor spend = 0;
};
struct SaleFigures {
  engine::Minor payable = 0, refunded = 0, spend_sold = 0;
  std::int64_t credited = 0, till_earned = 0, till_taken = 0, taken = 0, redeemed = 0, given = 0;
};
RefundTerms refund_terms(const SaleFigures& sale, engine::Minor amount, std::int64_t taken_now, std::int64_t given_now,
                         bool whole);

}  // namespace loyalty::hq::detail
