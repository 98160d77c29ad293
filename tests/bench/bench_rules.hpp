// The rule set every benchmark quotes with (the demo chain's rules).
#pragma once

namespace loyalty::bench {

inline constexpr const char* kRules = R"({
  "version": "bench", "currency": "CNY", "utc_offset": "+08:00", "minor_per_unit": 100,
  "tiers": [
    {"id": "silver", "name": "Silver", "min_spend_minor": 0, "discount_bp": 0, "earn_multiplier_pct": 100},
    {"id": "gold", "name": "Gold", "min_spend_minor": 300000, "discount_bp": 500, "earn_multiplier_pct": 150},
    {"id": "black", "name": "Black", "min_spend_minor": 1000000, "discount_bp": 1000, "earn_multiplier_pct": 200}],
  "qualification": {"window_days": 365, "grace_days": 90},
  "earn": {"points_per_unit": 1, "excluded_categories": ["tobacco", "gift_card"],
           "bonus": [{"id": "green", "categories": ["eco"], "multiplier_pct": 200},
                     {"id": "shoe-week", "categories": ["shoes"], "multiplier_pct": 300,
                      "valid_from": "2026-11-20T00:00:00+08:00", "valid_to": "2026-11-27T00:00:00+08:00"}]},
  "birthday": {"window": "month", "multiplier_pct": 200},
  "first_purchase": {"discount_bp": 2000},
  "winback": [{"min_dormant_days": 90, "discount_bp": 2000}, {"min_dormant_days": 180, "discount_bp": 3000},
              {"min_dormant_days": 365, "discount_bp": 4000}],
  "discount": {"stacking": "best_of", "excluded_categories": ["tobacco", "gift_card"]},
  "redeem": {"minor_per_100_points": 100, "min_points": 100, "step_points": 100, "max_share_bp": 5000,
             "offline_after_minutes": 15, "offline_daily_limit_points": 2000},
  "coupons": {"max_per_sale": 1},
  "expiry": {"months": 24}
})";

}  // namespace loyalty::bench
