#include "receipt.hpp"

#include "cli_support.hpp"

#include <sstream>

namespace loyalty::till {
namespace {

std::string points(std::int64_t p) { return std::to_string(p) + " pts"; }

// 500 -> "5%", 1250 -> "12.5%".
std::string rate(std::int32_t bp) {
  std::string text = std::to_string(bp / 100);
  if (const int rest = bp % 100; rest != 0) {
    text += "." + std::to_string(rest / 10);
    if (rest % 10 != 0) text += std::to_string(rest % 10);
  }
  return text + "%";
}

}  // namespace

std::string render_receipt(const engine::RuleSet& rules, const engine::QuoteInput& in, const engine::Quote& q) {
  std::ostringstream out;
  out << "Sale at " << engine::format_instant(in.now) << "\n";
  const auto money = [&](engine::Minor m) { return till_cli::format_money(rules.currency, rules.minor_per_unit, m); };
  if (in.member) {
    const engine::Tier* tier = rules.find_tier(in.member->tier);
    out << "Member " << in.member->id << " (" << (tier ? tier->name : in.member->tier) << "), "
        << points(in.member->points + in.context.pending_points) << " available\n";
  } else {
    out << "No member scanned\n";
  }
  out << std::string(48, '-') << "\n";
  for (std::size_t i = 0; i < in.lines.size(); ++i) {
    const engine::Line& l = in.lines[i];
    const engine::LineQuote& lq = q.lines[i];
    out << till_cli::row("  " + l.sku + " x" + std::to_string(l.qty) + " (" + l.category + ")", money(l.amount_minor));
    if (lq.member_discount_minor) out << till_cli::row("      member discount", money(-lq.member_discount_minor));
    if (lq.coupon_discount_minor) out << till_cli::row("      coupon", money(-lq.coupon_discount_minor));
    if (lq.redeem_value_minor) out << till_cli::row("      points", money(-lq.redeem_value_minor));
  }
  out << std::string(48, '-') << "\n";
  out << till_cli::row("Gross", money(q.gross_minor));
  if (q.member_discount_minor) {
    const engine::Tier* tier = rules.find_tier(in.member->tier);
    const std::string why = q.member_discount_reason == engine::DiscountReason::tier ? (tier ? tier->name : "tier") + " card"
                            : q.member_discount_reason == engine::DiscountReason::first_purchase ? "first purchase"
                                                                                                 : "welcome back";
    out << till_cli::row("Member discount (" + why + " " + rate(q.member_discount_bp) + ")",
               money(-q.member_discount_minor));
  }
  if (in.coupon) {
    if (q.coupon_rejected) {
      out << "Coupon " << in.coupon->code << " not applied: " << engine::to_string(*q.coupon_rejected) << "\n";
    } else {
      out << till_cli::row("Coupon " + in.coupon->code, money(-q.coupon_discount_minor));
    }
  }
  if (in.redeem_points > 0) {
    if (q.redeem_rejected) {
      out << "Redeeming " << points(in.redeem_points) << " refused: " << engine::to_string(*q.redeem_rejected)
          << " (at most " << points(q.max_redeemable_points) << ")\n";
    } else {
      out << till_cli::row("Points redeemed (" + points(q.redeem_points) + ")", money(-q.redeem_value_minor));
    }
  }
  out << till_cli::row("PAYABLE", money(q.payable_minor));
  if (in.member) {
    out << till_cli::row(std::string("Points earned") + (q.birthday ? " (birthday month!)" : ""), points(q.points_earned));
    if (in.redeem_points == 0 && q.max_redeemable_points > 0)
      out << "Up to " << points(q.max_redeemable_points) << " may pay part of this bill.\n";
  }
  return out.str();
}

}  // namespace loyalty::till
