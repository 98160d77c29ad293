#include "receipt.hpp"

#include <sstream>

namespace loyalty::till {
namespace {

int decimals_of(engine::Minor minor_per_unit) {
  int d = 0;
  for (engine::Minor m = minor_per_unit; m > 1; m /= 10, ++d)
    if (m % 10 != 0) return -1;
  return d;
}

std::string pad(const std::string& left, const std::string& right, std::size_t width = 48) {
  const std::size_t used = left.size() + right.size();
  return left + std::string(used < width ? width - used : 1, ' ') + right + "\n";
}

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

std::string format_money(const engine::RuleSet& rules, engine::Minor minor) {
  const int d = decimals_of(rules.minor_per_unit);
  if (d < 0) return rules.currency + " " + std::to_string(minor) + " (minor units)";
  const bool negative = minor < 0;
  const engine::Wide magnitude = negative ? -engine::Wide{minor} : engine::Wide{minor};
  std::string text = std::to_string(static_cast<unsigned long long>(magnitude / rules.minor_per_unit));
  if (d > 0) {
    std::string fraction = std::to_string(static_cast<unsigned long long>(magnitude % rules.minor_per_unit));
    text += "." + std::string(static_cast<std::size_t>(d) - fraction.size(), '0') + fraction;
  }
  return rules.currency + (negative ? " -" : " ") + text;
}

std::string render_receipt(const engine::RuleSet& rules, const engine::QuoteInput& in, const engine::Quote& q) {
  std::ostringstream out;
  out << "Sale at " << engine::format_instant(in.now) << "\n";
  const auto money = [&](engine::Minor m) { return format_money(rules, m); };
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
    out << pad("  " + l.sku + " x" + std::to_string(l.qty) + " (" + l.category + ")", money(l.amount_minor));
    if (lq.member_discount_minor) out << pad("      member discount", money(-lq.member_discount_minor));
    if (lq.coupon_discount_minor) out << pad("      coupon", money(-lq.coupon_discount_minor));
    if (lq.redeem_value_minor) out << pad("      points", money(-lq.redeem_value_minor));
  }
  out << std::string(48, '-') << "\n";
  out << pad("Gross", money(q.gross_minor));
  if (q.member_discount_minor) {
    const engine::Tier* tier = rules.find_tier(in.member->tier);
    const std::string why = q.member_discount_reason == engine::DiscountReason::tier ? (tier ? tier->name : "tier") + " card"
                            : q.member_discount_reason == engine::DiscountReason::first_purchase ? "first purchase"
                                                                                                 : "welcome back";
    out << pad("Member discount (" + why + " " + rate(q.member_discount_bp) + ")",
               money(-q.member_discount_minor));
  }
  if (in.coupon) {
    if (q.coupon_rejected) {
      out << "Coupon " << in.coupon->code << " not applied: " << engine::to_string(*q.coupon_rejected) << "\n";
    } else {
      out << pad("Coupon " + in.coupon->code, money(-q.coupon_discount_minor));
    }
  }
  if (in.redeem_points > 0) {
    if (q.redeem_rejected) {
      out << "Redeeming " << points(in.redeem_points) << " refused: " << engine::to_string(*q.redeem_rejected)
          << " (at most " << points(q.max_redeemable_points) << ")\n";
    } else {
      out << pad("Points redeemed (" + points(q.redeem_points) + ")", money(-q.redeem_value_minor));
    }
  }
  out << pad("PAYABLE", money(q.payable_minor));
  if (in.member) {
    out << pad(std::string("Points earned") + (q.birthday ? " (birthday month!)" : ""), points(q.points_earned));
    if (in.redeem_points == 0 && q.max_redeemable_points > 0)
      out << "Up to " << points(q.max_redeemable_points) << " may pay part of this bill.\n";
  }
  return out.str();
}

}  // namespace loyalty::till
