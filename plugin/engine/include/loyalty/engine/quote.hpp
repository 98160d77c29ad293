// The quote of a basket (RULES.md, "Steps"): pure, deterministic, exact to the minor unit.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "loyalty/engine/money.hpp"
#include "loyalty/engine/result.hpp"
#include "loyalty/engine/rules.hpp"
#include "loyalty/engine/time.hpp"
#include "loyalty/protocol/limits.hpp"

namespace loyalty::engine {

// Input limits. Within them every figure of a quote is exact; beyond them the quote is an error.
inline constexpr std::size_t kMaxLines = 10'000;
inline constexpr Minor kMaxLineAmount = protocol::limits::kMaxMinor;  // a line, and the sale's total
inline constexpr std::int64_t kMaxQty = 1'000'000'000;
inline constexpr std::int64_t kMaxPoints = protocol::limits::kMaxPoints;  // |points| of a member or request

// Headquarters' next expiry of the member's points, for the POINTS_EXPIRING prompt.
struct PointsExpiry {
  std::int64_t points = 0;
  Instant at;
};

// The next tier and the spend still needed to reach it, as headquarters computed it.
struct NextTier {
  std::string tier;
  Minor spend_needed_minor = 0;
};

struct Member {
  std::string id;
  std::string tier;
  std::optional<MonthDay> birthday;
  std::int64_t purchases = 0;
  std::optional<Instant> last_purchase_at;
  std::int64_t points = 0;  // confirmed by headquarters; may be negative after refunds
  std::optional<PointsExpiry> next_expiry;
  std::optional<NextTier> next_tier;
};

struct Line {
  std::string id;
  std::string sku;
  std::string category;
  std::int64_t qty = 1;
  Minor amount_minor = 0;  // after the POS's own pricing, qty included
};

enum class CouponKind { percent, amount };

struct Coupon {
  std::string code;
  CouponKind kind = CouponKind::amount;
  std::int64_t value = 0;  // basis points for percent, minor units for amount
  Minor min_spend_minor = 0;
  std::vector<std::string> categories;  // empty: every discountable line
  std::optional<Instant> valid_from;
  std::optional<Instant> valid_to;
  bool used = false;
};

// A coupon presented at the till: its code and, when the till knows it, its definition.
struct CouponRequest {
  std::string code;
  std::optional<Coupon> coupon;  // nullopt: unknown code
};

struct TillContext {
  std::int64_t pending_points = 0;  // this till's unconfirmed effects on the member, signed
  bool offline = false;
  std::int64_t redeemed_today_offline = 0;
};

struct QuoteInput {
  Instant now;
  std::optional<Member> member;  // nullopt: anonymous sale
  std::vector<Line> lines;
  std::int64_t redeem_points = 0;
  std::optional<CouponRequest> coupon;
  TillContext context;
};

enum class DiscountReason { none, tier, first_purchase, winback };

enum class CouponRefusal {
  coupon_unknown,
  coupon_used,
  coupon_not_yet_valid,
  coupon_expired,
  min_spend_not_met,
  coupons_not_allowed,  // coupons.max_per_sale is 0
  member_required,      // anonymous sale
};

enum class RedeemRefusal {
  not_multiple_of_step,
  below_min,
  insufficient_points,
  offline_limit,
  exceeds_max_share,
  member_required,  // anonymous sale
};

std::string_view to_string(DiscountReason r) noexcept;
std::string_view to_string(CouponRefusal r) noexcept;
std::string_view to_string(RedeemRefusal r) noexcept;

struct LineQuote {
  std::string id;
  Minor member_discount_minor = 0;
  Minor coupon_discount_minor = 0;
  Minor redeem_value_minor = 0;
  Minor net_minor = 0;
  // The line's share of the sale's points (RULES.md, "Refunds"): earned points by net * bonus_pct over
  // the earning lines, redeemed points by redemption value.
  std::int64_t points_earned = 0;
  std::int64_t points_redeemed = 0;
};

struct Quote {
  Minor gross_minor = 0;
  Minor member_discount_minor = 0;
  DiscountReason member_discount_reason = DiscountReason::none;
  std::int32_t member_discount_bp = 0;
  Minor coupon_discount_minor = 0;
  std::optional<CouponRefusal> coupon_rejected;
  std::int64_t redeem_points = 0;
  Minor redeem_value_minor = 0;
  std::optional<RedeemRefusal> redeem_rejected;
  std::int64_t max_redeemable_points = 0;
  Minor payable_minor = 0;
  std::int64_t points_earned = 0;
  bool birthday = false;
  std::vector<LineQuote> lines;
};

// The member discount that best_of picks: its rate, the reason that names it, and the whole days
// the member has been dormant (when there was a last purchase).
struct DiscountChoice {
  std::int32_t rate_bp = 0;
  DiscountReason reason = DiscountReason::none;
  std::optional<std::int64_t> dormant_days;
};
DiscountChoice choose_member_discount(const RuleSet& rules, const Tier& tier, const Member& member,
                                      const Instant& now) noexcept;

// True when `now` falls in the member's birthday window (month, or month and day), read in the offset
// of `now`. As RULES.md says, the day window needs the same month and day: a 02-29 birthday falls in
// it only in leap years.
bool in_birthday_window(const RuleSet& rules, const MonthDay& birthday, const Instant& now) noexcept;

// True when the till's last successful sync is older than redeem.offline_after_minutes, or when the
// till has never synced.
bool is_offline(const RuleSet& rules, const std::optional<Instant>& last_sync_at,
                const Instant& now) noexcept;

// Checks a member record: a known tier, counts and points within the engine's limits, valid instants,
// UTF-8 text. The error names the path under "member".
std::optional<Error> validate_member(const RuleSet& rules, const Member& member);

// Quotes a basket. An error for invalid input (it names the input's path), never undefined
// behaviour; a refused coupon or redemption is part of a successful quote.
Result<Quote> quote(const RuleSet& rules, const QuoteInput& input);

}  // namespace loyalty::engine
