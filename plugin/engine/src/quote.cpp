#include "loyalty/engine/quote.hpp"

#include <algorithm>
#include <chrono>
#include <functional>

#include "loyalty/engine/text.hpp"
#include "scratch.hpp"

namespace loyalty::engine {
namespace {

constexpr Wide kBpDenominator = 10'000;

bool contains(const std::vector<std::string>& set, std::string_view s) {
  return std::find(set.begin(), set.end(), s) != set.end();
}

std::string line_path(std::size_t i, std::string_view key) {
  return "basket[" + std::to_string(i) + "]." + std::string(key);
}

Error invalid(std::string path, std::string_view rule) {
  return Error{std::move(path) + ": " + std::string(rule)};
}

std::string within(std::int64_t lo, std::int64_t hi) {
  return "must be within " + std::to_string(lo) + ".." + std::to_string(hi);
}

}  // namespace

std::optional<Error> validate_member(const RuleSet& rules, const Member& m) {
  if (m.id.empty()) return invalid("member.id", "must not be empty");
  if (!is_valid_utf8(m.id)) return invalid("member.id", "must be valid UTF-8");
  if (!rules.find_tier(m.tier)) {
    if (!is_valid_utf8(m.tier)) return invalid("member.tier", "must be valid UTF-8");
    return invalid("member.tier", "unknown tier \"" + m.tier + "\" in rules " + rules.version);
  }
  if (m.purchases < 0) return invalid("member.purchases", "must not be negative");
  if (m.birthday) {
    const std::chrono::year_month_day leap_year{std::chrono::year{2000}, std::chrono::month{m.birthday->month},
                                                std::chrono::day{m.birthday->day}};
    if (!leap_year.ok()) return invalid("member.birthday", "must be a real month and day");
  }
  if (m.points < -kMaxPoints || m.points > kMaxPoints) return invalid("member.points", within(-kMaxPoints, kMaxPoints));
  if (m.last_purchase_at && !valid_instant(*m.last_purchase_at))
    return invalid("member.last_purchase_at", "must be an instant in years 0001..9999");
  if (m.next_expiry && (!valid_instant(m.next_expiry->at) || m.next_expiry->points < 0 ||
                        m.next_expiry->points > kMaxPoints))
    return invalid("member.next_expiry", "must be an instant in years 0001..9999 with 0.." +
                                             std::to_string(kMaxPoints) + " points");
  if (m.next_tier && (!is_valid_utf8(m.next_tier->tier) || m.next_tier->spend_needed_minor < 0))
    return invalid("member.next_tier", "must be a UTF-8 tier id with a spend that is not negative");
  return std::nullopt;
}

namespace {

// The index of the first line whose id an earlier line has, by sorting hashes (n log n integer
// comparisons, strings compared only when hashes are equal).
std::optional<std::size_t> first_duplicate_id(const std::vector<Line>& lines) {
  std::vector<std::pair<std::size_t, std::size_t>> keyed(lines.size());  // (hash, index)
  for (std::size_t i = 0; i < lines.size(); ++i) keyed[i] = {std::hash<std::string_view>{}(lines[i].id), i};
  std::sort(keyed.begin(), keyed.end());
  std::optional<std::size_t> first;
  for (std::size_t group = 0, end = 0; group < keyed.size(); group = end) {
    while (end < keyed.size() && keyed[end].first == keyed[group].first) ++end;
    // Within a group of equal hashes, indices ascend: the first earlier match makes b a duplicate.
    for (std::size_t b = group + 1; b < end; ++b) {
      for (std::size_t a = group; a < b; ++a) {
        if (lines[keyed[a].second].id == lines[keyed[b].second].id) {
          if (!first || keyed[b].second < *first) first = keyed[b].second;
          break;
        }
      }
    }
  }
  return first;
}

std::optional<Error> validate(const RuleSet& rules, const QuoteInput& in) {
  if (auto broken = check_rules(rules)) return Error{"rules: " + broken->message};
  if (!valid_instant(in.now)) return invalid("now", "must be an instant in years 0001..9999");
  if (in.lines.empty()) return invalid("basket", "must have at least one line");
  if (in.lines.size() > kMaxLines)
    return invalid("basket", "must have at most " + std::to_string(kMaxLines) + " lines");
  if (auto dup = first_duplicate_id(in.lines))
    return invalid(line_path(*dup, "id"), "duplicate line id \"" + in.lines[*dup].id + "\"");
  for (std::size_t i = 0; i < in.lines.size(); ++i) {
    const Line& l = in.lines[i];
    if (l.id.empty()) return invalid(line_path(i, "id"), "must not be empty");
    if (!is_valid_utf8(l.id)) return invalid(line_path(i, "id"), "must be valid UTF-8");
    if (!is_valid_utf8(l.sku)) return invalid(line_path(i, "sku"), "must be valid UTF-8");
    if (!is_valid_utf8(l.category)) return invalid(line_path(i, "category"), "must be valid UTF-8");
    if (l.qty <= 0 || l.qty > kMaxQty) return invalid(line_path(i, "qty"), within(1, kMaxQty));
    if (l.amount_minor < 0 || l.amount_minor > kMaxLineAmount)
      return invalid(line_path(i, "amount_minor"), within(0, kMaxLineAmount));
  }
  if (in.redeem_points < 0 || in.redeem_points > kMaxPoints)
    return invalid("redeem_points", within(0, kMaxPoints));
  const TillContext& c = in.context;
  if (c.pending_points < -kMaxPoints || c.pending_points > kMaxPoints)
    return invalid("context.pending_points", within(-kMaxPoints, kMaxPoints));
  if (c.redeemed_today_offline < 0 || c.redeemed_today_offline > kMaxPoints)
    return invalid("context.redeemed_today_offline", within(0, kMaxPoints));
  if (in.coupon) {
    if (in.coupon->code.empty()) return invalid("coupon.code", "must not be empty");
    if (!is_valid_utf8(in.coupon->code)) return invalid("coupon.code", "must be valid UTF-8");
    if (const auto& cp = in.coupon->coupon) {
      if ((cp->valid_from && !valid_instant(*cp->valid_from)) || (cp->valid_to && !valid_instant(*cp->valid_to)))
        return invalid("coupon", "validity bounds must be instants in years 0001..9999");
      for (std::size_t i = 0; i < cp->categories.size(); ++i)
        if (!is_valid_utf8(cp->categories[i]))
          return invalid("coupon.categories[" + std::to_string(i) + "]", "must be valid UTF-8");
      if (cp->kind == CouponKind::percent && (cp->value < 0 || cp->value > 10'000))
        return invalid("coupon.value", "must be within 0..10000 basis points for a percent coupon");
      if (cp->kind == CouponKind::amount && cp->value < 0)
        return invalid("coupon.value", "must not be negative");
      if (cp->min_spend_minor < 0) return invalid("coupon.min_spend_minor", "must not be negative");
    }
  }
  if (in.member) return validate_member(rules, *in.member);
  return std::nullopt;
}

bool in_force(const std::optional<Instant>& from, const std::optional<Instant>& to, const Instant& now) {
  return (!from || *from <= now) && (!to || now < *to);
}

std::int32_t bonus_pct(const RuleSet& rules, std::string_view category, const Instant& now) {
  std::optional<std::int32_t> best;
  for (const EarnBonus& b : rules.earn_bonus) {
    if (contains(b.categories, category) && in_force(b.valid_from, b.valid_to, now))
      best = std::max(best.value_or(b.multiplier_pct), b.multiplier_pct);
  }
  return best.value_or(100);
}

Error out_of_range() { return invalid("basket", "the figures of this quote exceed the supported range"); }

bool mul(Wide a, Wide b, Wide& out) { return !__builtin_mul_overflow(a, b, &out); }

}  // namespace

std::string_view to_string(DiscountReason r) noexcept {
  switch (r) {
    case DiscountReason::tier: return "tier";
    case DiscountReason::first_purchase: return "first_purchase";
    case DiscountReason::winback: return "winback";
    case DiscountReason::none: break;
  }
  return "none";
}

std::string_view to_string(CouponRefusal r) noexcept {
  switch (r) {
    case CouponRefusal::coupon_unknown: return "coupon_unknown";
    case CouponRefusal::coupon_used: return "coupon_used";
    case CouponRefusal::coupon_not_yet_valid: return "coupon_not_yet_valid";
    case CouponRefusal::coupon_expired: return "coupon_expired";
    case CouponRefusal::min_spend_not_met: return "min_spend_not_met";
    case CouponRefusal::coupons_not_allowed: return "coupons_not_allowed";
    case CouponRefusal::member_required: return "member_required";
  }
  return "coupon_unknown";
}

std::string_view to_string(RedeemRefusal r) noexcept {
  switch (r) {
    case RedeemRefusal::not_multiple_of_step: return "not_multiple_of_step";
    case RedeemRefusal::below_min: return "below_min";
    case RedeemRefusal::insufficient_points: return "insufficient_points";
    case RedeemRefusal::offline_limit: return "offline_limit";
    case RedeemRefusal::exceeds_max_share: return "exceeds_max_share";
    case RedeemRefusal::member_required: return "member_required";
  }
  return "insufficient_points";
}

DiscountChoice choose_member_discount(const RuleSet& rules, const Tier& tier, const Member& member,
                                      const Instant& now) noexcept {
  DiscountChoice c{tier.discount_bp, DiscountReason::tier, std::nullopt};
  if (member.last_purchase_at) c.dormant_days = whole_days_between(*member.last_purchase_at, now);
  if (member.purchases == 0) {
    if (rules.first_purchase_discount_bp > c.rate_bp)
      c = {rules.first_purchase_discount_bp, DiscountReason::first_purchase, c.dormant_days};
  } else if (c.dormant_days) {
    const WinbackBucket* bucket = nullptr;
    for (const WinbackBucket& b : rules.winback)
      if (b.min_dormant_days <= *c.dormant_days) bucket = &b;  // ascending: the last that fits
    if (bucket && bucket->discount_bp > c.rate_bp)
      c = {bucket->discount_bp, DiscountReason::winback, c.dormant_days};
  }
  return c;
}

bool in_birthday_window(const RuleSet& rules, const MonthDay& birthday, const Instant& now) noexcept {
  const LocalDate d = local_date(now);
  return d.month == birthday.month && (rules.birthday_window == BirthdayWindow::month || d.day == birthday.day);
}

bool is_offline(const RuleSet& rules, const std::optional<Instant>& last_sync_at,
                const Instant& now) noexcept {
  if (!last_sync_at) return true;
  const std::int64_t allowed = std::int64_t{rules.redeem.offline_after_minutes} * 60 * 1'000'000;
  return now.utc_micros - last_sync_at->utc_micros > allowed;
}

Result<Quote> quote(const RuleSet& rules, const QuoteInput& in) {
  if (auto error = validate(rules, in)) return std::move(*error);

  const std::size_t n = in.lines.size();
  Quote q;
  q.lines.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    q.lines[i].id = in.lines[i].id;
    q.lines[i].net_minor = in.lines[i].amount_minor;
    if (__builtin_add_overflow(q.gross_minor, in.lines[i].amount_minor, &q.gross_minor) || q.gross_minor > kMaxLineAmount)
      return invalid("basket", "the total of the lines exceeds the supported range");
  }

  if (!in.member) {  // an anonymous sale changes nothing
    q.payable_minor = q.gross_minor;
    if (in.coupon) q.coupon_rejected = CouponRefusal::member_required;
    if (in.redeem_points > 0) q.redeem_rejected = RedeemRefusal::member_required;
    return q;
  }
  const Member& member = *in.member;
  const Tier& tier = *rules.find_tier(member.tier);

  detail::Scratch<char> discountable(n);
  detail::Scratch<Wide> weight(n);
  detail::Scratch<Minor> share(n);
  for (std::size_t i = 0; i < n; ++i)
    discountable[i] = !contains(rules.discount_excluded_categories, in.lines[i].category);

  // 1. Member discount: best_of tier, first purchase, win-back; allocated over D by amount.
  const DiscountChoice choice = choose_member_discount(rules, tier, member, in.now);
  Wide sum_d = 0;
  for (std::size_t i = 0; i < n; ++i) {
    weight[i] = discountable[i] ? in.lines[i].amount_minor : 0;
    sum_d += weight[i];
  }
  q.member_discount_minor = static_cast<Minor>(round_half_up(sum_d * choice.rate_bp, kBpDenominator));
  if (q.member_discount_minor > 0) {
    q.member_discount_reason = choice.reason;
    q.member_discount_bp = choice.rate_bp;
  }
  if (!allocate(q.member_discount_minor, weight, share)) return out_of_range();
  for (std::size_t i = 0; i < n; ++i) {
    q.lines[i].member_discount_minor = share[i];
    q.lines[i].net_minor -= share[i];
  }

  // 2. One coupon over C (D narrowed to its categories), on amounts after the member discount.
  if (in.coupon) {
    const Coupon* c = in.coupon->coupon ? &*in.coupon->coupon : nullptr;
    Wide base = 0;
    for (std::size_t i = 0; i < n; ++i) {
      const bool covered = c && discountable[i] && (c->categories.empty() ||
                                                    contains(c->categories, in.lines[i].category));
      weight[i] = covered ? q.lines[i].net_minor : 0;
      base += weight[i];
    }
    if (rules.coupons_max_per_sale == 0) q.coupon_rejected = CouponRefusal::coupons_not_allowed;
    else if (!c) q.coupon_rejected = CouponRefusal::coupon_unknown;
    else if (c->used) q.coupon_rejected = CouponRefusal::coupon_used;
    else if (c->valid_from && in.now < *c->valid_from) q.coupon_rejected = CouponRefusal::coupon_not_yet_valid;
    else if (c->valid_to && *c->valid_to <= in.now) q.coupon_rejected = CouponRefusal::coupon_expired;
    else if (base < c->min_spend_minor) q.coupon_rejected = CouponRefusal::min_spend_not_met;
    if (!q.coupon_rejected) {
      const Wide value = c->kind == CouponKind::percent ? round_half_up(base * c->value, kBpDenominator)
                                                        : std::min<Wide>(c->value, base);
      q.coupon_discount_minor = static_cast<Minor>(value);
      if (!allocate(q.coupon_discount_minor, weight, share)) return out_of_range();
      for (std::size_t i = 0; i < n; ++i) {
        q.lines[i].coupon_discount_minor = share[i];
        q.lines[i].net_minor -= share[i];
      }
    }
  }

  // 3. Points redemption over D, capped by max_share_bp of its net.
  const RedeemRules& rr = rules.redeem;
  Wide base = 0;
  for (std::size_t i = 0; i < n; ++i) {
    weight[i] = discountable[i] ? q.lines[i].net_minor : 0;
    base += weight[i];
  }
  const Wide max_value = base * rr.max_share_bp / kBpDenominator;
  const std::int64_t available = member.points + in.context.pending_points;
  const std::int64_t allowance_left =
      std::max<std::int64_t>(0, rr.offline_daily_limit_points - in.context.redeemed_today_offline);
  {
    Wide cap = std::min<Wide>(available, max_value * 100 / rr.minor_per_100_points);
    if (in.context.offline) cap = std::min<Wide>(cap, allowance_left);
    const Wide best = cap > 0 ? cap / rr.step_points * rr.step_points : 0;
    q.max_redeemable_points = best >= rr.min_points ? static_cast<std::int64_t>(best) : 0;
  }
  if (const std::int64_t p = in.redeem_points; p > 0) {
    const Wide value = Wide{p} * rr.minor_per_100_points / 100;
    if (p % rr.step_points != 0) q.redeem_rejected = RedeemRefusal::not_multiple_of_step;
    else if (p < rr.min_points) q.redeem_rejected = RedeemRefusal::below_min;
    else if (p > available) q.redeem_rejected = RedeemRefusal::insufficient_points;
    else if (in.context.offline && p > allowance_left) q.redeem_rejected = RedeemRefusal::offline_limit;
    else if (value > max_value) q.redeem_rejected = RedeemRefusal::exceeds_max_share;
    if (!q.redeem_rejected) {
      q.redeem_points = p;
      q.redeem_value_minor = static_cast<Minor>(value);
      if (!allocate(q.redeem_value_minor, weight, share)) return out_of_range();
      for (std::size_t i = 0; i < n; ++i) {
        q.lines[i].redeem_value_minor = share[i];
        q.lines[i].net_minor -= share[i];
        weight[i] = share[i];
      }
      if (!allocate(q.redeem_points, weight, share)) return out_of_range();
      for (std::size_t i = 0; i < n; ++i) q.lines[i].points_redeemed = share[i];
    }
  }

  // 4. Payable.
  q.payable_minor = q.gross_minor - q.member_discount_minor - q.coupon_discount_minor - q.redeem_value_minor;

  // 5. Points earned: one floor over the weighted base of the earning lines.
  Wide weighted = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::string& category = in.lines[i].category;
    weight[i] = contains(rules.earn_excluded_categories, category)
                    ? 0
                    : Wide{q.lines[i].net_minor} * bonus_pct(rules, category, in.now);
    weighted += weight[i];
  }
  q.birthday = member.birthday && in_birthday_window(rules, *member.birthday, in.now);
  const Wide birthday_pct = q.birthday ? rules.birthday_multiplier_pct : 100;
  Wide numerator = 0;
  if (!mul(weighted, rules.points_per_unit, numerator) || !mul(numerator, tier.earn_multiplier_pct, numerator) ||
      !mul(numerator, birthday_pct, numerator))
    return invalid("basket", "the points earned exceed the supported range");
  const Wide points = numerator / (Wide{rules.minor_per_unit} * 1'000'000);
  if (points > kMaxPoints) return invalid("basket", "the points earned exceed the supported range");
  q.points_earned = static_cast<std::int64_t>(points);
  if (!allocate(q.points_earned, weight, share)) return out_of_range();
  for (std::size_t i = 0; i < n; ++i) q.lines[i].points_earned = share[i];
  return q;
}

}  // namespace loyalty::engine
