#include "policy.hpp"

#include <algorithm>
#include <chrono>

namespace loyalty::hq::detail {
namespace {

constexpr std::int64_t kMicrosPerMinute = 60'000'000;

// The calendar day of `at_us` in `offset_minutes`, and back: the UTC microseconds at which a day starts
// in that offset.
std::chrono::sys_days local_day(std::int64_t at_us, std::int32_t offset_minutes) {
  using namespace std::chrono;
  return floor<days>(sys_time<microseconds>(microseconds(at_us + std::int64_t{offset_minutes} * kMicrosPerMinute)));
}
std::int64_t start_of(std::chrono::sys_days day, std::int32_t offset_minutes) {
  using namespace std::chrono;
  return duration_cast<microseconds>(day.time_since_epoch()).count() - std::int64_t{offset_minutes} * kMicrosPerMinute;
}

}  // namespace

std::int64_t expiry_after(std::int64_t at_us, std::int32_t months, std::int32_t offset_minutes) {
  using namespace std::chrono;
  const year_month_day ymd{local_day(at_us, offset_minutes)};
  const year_month after = year_month{ymd.year(), ymd.month()} + std::chrono::months{months + 1};
  return start_of(sys_days{after / 1}, offset_minutes);
}

std::int64_t day_start(std::int64_t at_us, std::int32_t offset_minutes) {
  return start_of(local_day(at_us, offset_minutes), offset_minutes);
}

int rank_of(const engine::RuleSet& rules, std::string_view tier) {
  for (std::size_t i = 0; i < rules.tiers.size(); ++i)
    if (rules.tiers[i].id == tier) return static_cast<int>(i);
  return -1;
}

int qualified(const engine::RuleSet& rules, engine::Minor spend) {
  int q = 0;
  for (std::size_t i = 0; i < rules.tiers.size(); ++i)
    if (rules.tiers[i].min_spend_minor <= spend) q = static_cast<int>(i);
  return q;
}

std::optional<std::string_view> rise(const engine::RuleSet& rules, engine::Minor spend, std::string& tier,
                                     std::optional<std::int64_t>& grace_until_us) {
  const int cur = rank_of(rules, tier);
  const int q = qualified(rules, spend);
  if (q > cur) {
    tier = rules.tiers[static_cast<std::size_t>(q)].id;
    grace_until_us.reset();
    return cur < 0 ? "tier_not_in_rules" : "upgrade";
  }
  if (q == cur && grace_until_us) {
    grace_until_us.reset();
    return "requalified";
  }
  return std::nullopt;
}

PassStep pass_step(const engine::RuleSet& rules, std::string_view tier, std::optional<std::int64_t> grace_until_us,
                   engine::Minor spend, std::int64_t now_us) {
  PassStep out{std::string(tier), grace_until_us, std::nullopt};
  if (rules.tiers.empty()) return out;
  const int q = qualified(rules, spend);
  if (const auto why = rise(rules, spend, out.tier, out.grace_until_us)) {
    out.reason = why;
  } else if (q >= rank_of(rules, tier)) {
    // the tier the spend reaches, already held
  } else if (!out.grace_until_us && rules.qualification_grace_days > 0) {
    // Grace runs in whole days of the rules' offset, from the start of the day of the pass that began
    // it: a pass that runs a little later one day does not shorten or lengthen it.
    out.grace_until_us = day_start(now_us, rules.utc_offset_minutes) +
                         std::int64_t{rules.qualification_grace_days} * kMicrosPerDay;
    out.reason = "grace";
  } else if (!out.grace_until_us || now_us >= *out.grace_until_us) {
    out.tier = rules.tiers[static_cast<std::size_t>(q)].id;
    out.grace_until_us.reset();
    out.reason = "downgrade";
  }
  return out;
}

std::optional<engine::NextTier> next_tier(const engine::RuleSet& rules, std::string_view tier, engine::Minor spend) {
  const int cur = rank_of(rules, tier);
  if (cur < 0 || static_cast<std::size_t>(cur) + 1 >= rules.tiers.size()) return std::nullopt;
  const engine::Tier& next = rules.tiers[static_cast<std::size_t>(cur) + 1];
  if (next.min_spend_minor <= spend) return std::nullopt;
  return engine::NextTier{next.id, next.min_spend_minor - spend};
}

engine::Minor clamp_total(double total) {
  if (!(total > 0)) return 0;
  if (total >= 1e18) return 1'000'000'000'000'000'000;
  return static_cast<engine::Minor>(total);
}

std::int64_t refund_share(std::int64_t credited, std::int64_t till_total, std::int64_t till_part, bool all) {
  if (all) return credited;  // the whole sale returned: all that was credited comes back
  if (till_total <= 0) return 0;
  if (till_part >= till_total) return credited;
  return static_cast<std::int64_t>(static_cast<engine::Wide>(credited) * till_part / till_total);
}

RefundTerms refund_terms(const SaleFigures& s, engine::Minor amount, std::int64_t taken_now, std::int64_t given_now,
                         bool whole) {
  RefundTerms out;
  // Headquarters takes back its own credited figure, in the proportion of the sale's points that come
  // back, and never more than is left of it.
  out.take = std::clamp<std::int64_t>(refund_share(s.credited, s.till_earned, s.till_taken + taken_now, whole) -
                                          refund_share(s.credited, s.till_earned, s.till_taken, false),
                                      0, std::max<std::int64_t>(0, s.credited - s.taken));
  out.give = std::clamp<std::int64_t>(given_now, 0, std::max<std::int64_t>(0, s.redeemed - s.given));
  // What still counts towards the tier: headquarters' payable in the proportion of the money kept.
  const engine::Minor kept = s.payable - s.refunded - amount;
  out.spend = whole || s.payable <= 0
                  ? 0
                  : static_cast<engine::Minor>(static_cast<engine::Wide>(s.spend_sold) * kept / s.payable);
  return out;
}

}  // namespace loyalty::hq::detail
