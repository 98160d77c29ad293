// A chain's rule set (RULES.md), loaded from JSON and validated in full.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "loyalty/engine/money.hpp"
#include "loyalty/engine/result.hpp"
#include "loyalty/engine/time.hpp"

namespace loyalty::engine {

struct Tier {
  std::string id;
  std::string name;
  Minor min_spend_minor = 0;
  std::int32_t discount_bp = 0;
  std::int32_t earn_multiplier_pct = 100;
};

// A points bonus on some categories, in force from `valid_from` (inclusive) to `valid_to`
// (exclusive); an absent bound is no bound.
struct EarnBonus {
  std::string id;
  std::vector<std::string> categories;
  std::int32_t multiplier_pct = 100;
  std::optional<Instant> valid_from;
  std::optional<Instant> valid_to;
};

enum class BirthdayWindow { month, day };
enum class Stacking { best_of };

struct WinbackBucket {
  std::int32_t min_dormant_days = 0;
  std::int32_t discount_bp = 0;
};

struct RedeemRules {
  std::int64_t minor_per_100_points = 100;
  std::int64_t min_points = 0;
  std::int64_t step_points = 1;
  std::int32_t max_share_bp = 0;
  std::int32_t offline_after_minutes = 0;
  std::int64_t offline_daily_limit_points = 0;
};

struct RuleSet {
  std::string version;
  std::string currency;
  std::int32_t utc_offset_minutes = 0;
  Minor minor_per_unit = 100;
  std::vector<Tier> tiers;  // ascending min_spend_minor, the first at 0
  std::int32_t qualification_window_days = 365;
  std::int32_t qualification_grace_days = 0;
  std::int64_t points_per_unit = 1;
  std::vector<std::string> earn_excluded_categories;
  std::vector<EarnBonus> earn_bonus;
  BirthdayWindow birthday_window = BirthdayWindow::month;
  std::int32_t birthday_multiplier_pct = 100;
  std::int32_t first_purchase_discount_bp = 0;
  std::vector<WinbackBucket> winback;  // ascending min_dormant_days
  Stacking stacking = Stacking::best_of;
  std::vector<std::string> discount_excluded_categories;
  RedeemRules redeem;
  std::int32_t coupons_max_per_sale = 1;
  std::int32_t expiry_months = 24;

  // The tier with this id, or nullptr.
  const Tier* find_tier(std::string_view id) const noexcept;
};

// Checks every rule a rule set must keep (ranges, order, uniqueness), naming the path of the first one
// broken. load_rules applies it; quote() and prompts() apply it too, so that a rule set built or
// changed in code can never take the engine outside exact arithmetic.
std::optional<Error> check_rules(const RuleSet& rules);

// Parses and validates a rule set. Every key is required unless RULES.md makes it optional (a bonus's
// or validity bound); unknown keys are errors too, so a misspelt key never passes silently. The error
// names the JSON path and the rule broken: "tiers[1].discount_bp: must be within 0..10000".
Result<RuleSet> load_rules(std::string_view json_text);

}  // namespace loyalty::engine
