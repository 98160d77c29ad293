#include "loyalty/engine/prompts.hpp"

namespace loyalty::engine {

std::string_view to_string(PromptCode c) noexcept {
  switch (c) {
    case PromptCode::birthday_window: return "BIRTHDAY_WINDOW";
    case PromptCode::first_purchase: return "FIRST_PURCHASE";
    case PromptCode::winback: return "WINBACK";
    case PromptCode::points_expiring: return "POINTS_EXPIRING";
    case PromptCode::next_tier: return "NEXT_TIER";
    case PromptCode::negative_balance: return "NEGATIVE_BALANCE";
    case PromptCode::offline: return "OFFLINE";
  }
  return "OFFLINE";
}

Result<std::vector<Prompt>> prompts(const RuleSet& rules, const Member& member,
                                    const PromptContext& ctx) {
  if (auto broken = check_rules(rules)) return Error{"rules: " + broken->message};
  if (auto invalid = validate_member(rules, member)) return std::move(*invalid);
  if (!valid_instant(ctx.now)) return Error{"now: must be an instant in years 0001..9999"};
  if (ctx.last_sync_at && !valid_instant(*ctx.last_sync_at))
    return Error{"last_sync_at: must be an instant in years 0001..9999"};
  if (ctx.pending_points < -kMaxPoints || ctx.pending_points > kMaxPoints)
    return Error{"context.pending_points: must be within " + std::to_string(-kMaxPoints) + ".." +
                 std::to_string(kMaxPoints)};
  const Tier* tier = rules.find_tier(member.tier);
  std::vector<Prompt> out;
  const auto add = [&out](PromptCode code) -> Prompt& {
    out.emplace_back().code = code;
    return out.back();
  };
  if (member.birthday && in_birthday_window(rules, *member.birthday, ctx.now)) add(PromptCode::birthday_window);
  const DiscountChoice choice = choose_member_discount(rules, *tier, member, ctx.now);
  if (choice.reason == DiscountReason::first_purchase) add(PromptCode::first_purchase).rate_bp = choice.rate_bp;
  if (choice.reason == DiscountReason::winback) {
    Prompt& p = add(PromptCode::winback);
    p.rate_bp = choice.rate_bp;
    p.days = choice.dormant_days;
  }
  constexpr std::int64_t kExpiryWindowMicros = kExpiryPromptDays * 86'400 * 1'000'000;
  if (const auto& e = member.next_expiry;
      e && e->points > 0 && ctx.now < e->at && e->at.utc_micros - ctx.now.utc_micros <= kExpiryWindowMicros) {
    Prompt& p = add(PromptCode::points_expiring);
    p.points = e->points;
    p.date = e->at;
  }
  if (const auto& t = member.next_tier; t && t->spend_needed_minor > 0) {
    Prompt& p = add(PromptCode::next_tier);
    p.tier = t->tier;
    p.spend_minor = t->spend_needed_minor;
  }
  if (const std::int64_t balance = member.points + ctx.pending_points; balance < 0)
    add(PromptCode::negative_balance).points = balance;
  if (is_offline(rules, ctx.last_sync_at, ctx.now)) {
    Prompt& p = add(PromptCode::offline);
    if (ctx.last_sync_at) p.minutes = whole_minutes_between(*ctx.last_sync_at, ctx.now);
  }
  return out;
}

}  // namespace loyalty::engine
