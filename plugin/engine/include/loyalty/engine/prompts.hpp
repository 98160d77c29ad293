// The cashier prompts of RULES.md: codes with their figures, for the POS to word in its own language.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "loyalty/engine/quote.hpp"
#include "loyalty/engine/result.hpp"
#include "loyalty/engine/rules.hpp"

namespace loyalty::engine {

enum class PromptCode {
  birthday_window,   // BIRTHDAY_WINDOW
  first_purchase,    // FIRST_PURCHASE: rate_bp
  winback,           // WINBACK: days, rate_bp
  points_expiring,   // POINTS_EXPIRING: points, date (within 30 days)
  next_tier,         // NEXT_TIER: tier, spend_minor
  negative_balance,  // NEGATIVE_BALANCE: points
  offline,           // OFFLINE: minutes since the last successful sync (absent: never synced)
};

std::string_view to_string(PromptCode c) noexcept;

struct Prompt {
  PromptCode code = PromptCode::birthday_window;
  std::optional<std::int32_t> rate_bp;
  std::optional<std::int64_t> days;
  std::optional<std::int64_t> points;
  std::optional<Instant> date;
  std::string tier;
  std::optional<Minor> spend_minor;
  std::optional<std::int64_t> minutes;
};

struct PromptContext {
  Instant now;
  std::int64_t pending_points = 0;
  std::optional<Instant> last_sync_at;  // nullopt: the till has never synced
};

inline constexpr std::int64_t kExpiryPromptDays = 30;

// The prompts for an identified member, in the order RULES.md lists them. FIRST_PURCHASE and WINBACK
// appear only when that offer is the one best_of would give. An error for an unknown tier.
Result<std::vector<Prompt>> prompts(const RuleSet& rules, const Member& member,
                                    const PromptContext& context);

}  // namespace loyalty::engine
