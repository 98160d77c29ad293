#include "loyalty/engine/refund.hpp"

namespace loyalty::engine {
namespace {

// round_half_up(left * k / q), or all that is left when k == q.
std::int64_t returned_share(std::int64_t left, std::int64_t k, std::int64_t q) {
  if (k == q) return left;
  return static_cast<std::int64_t>(round_half_up(Wide{left} * k, q));
}

std::string item_path(std::size_t i, std::string_view key) {
  return "items[" + std::to_string(i) + "]." + std::string(key);
}

}  // namespace

std::vector<SaleLine> sale_lines(const QuoteInput& input, const Quote& quote) {
  std::vector<SaleLine> out;
  out.reserve(quote.lines.size());
  for (std::size_t i = 0; i < quote.lines.size() && i < input.lines.size(); ++i) {
    const LineQuote& l = quote.lines[i];
    out.push_back({l.id, input.lines[i].qty, l.net_minor, l.points_earned, l.points_redeemed});
  }
  return out;
}

Result<Refund> refund(std::span<const SaleLine> left, std::span<const RefundItem> items) {
  if (items.empty()) return Error{"items: a refund must return at least one unit"};
  for (std::size_t i = 0; i < left.size(); ++i) {
    const SaleLine& l = left[i];
    if (l.units < 0 || l.units > kMaxQty || l.net_minor < 0 || l.net_minor > kMaxLineAmount ||
        l.points_earned < 0 || l.points_earned > kMaxPoints || l.points_redeemed < 0 ||
        l.points_redeemed > kMaxPoints ||
        (l.units == 0 && (l.net_minor != 0 || l.points_earned != 0 || l.points_redeemed != 0)))
      return Error{"sale.lines[" + std::to_string(i) + "]: inconsistent remains of a sold line"};
  }
  Refund r;
  r.left.assign(left.begin(), left.end());
  for (std::size_t i = 0; i < items.size(); ++i) {
    const RefundItem& item = items[i];
    for (std::size_t j = 0; j < i; ++j)
      if (items[j].line_id == item.line_id)
        return Error{item_path(i, "line_id") + ": line \"" + item.line_id + "\" named twice"};
    SaleLine* line = nullptr;
    for (SaleLine& l : r.left)
      if (l.id == item.line_id) line = &l;
    if (!line)
      return Error{item_path(i, "line_id") + ": the sale has no line \"" + item.line_id + "\"", ErrorKind::not_found};
    if (item.units <= 0) return Error{item_path(i, "units") + ": must be at least 1"};
    if (item.units > line->units)
      return Error{item_path(i, "units") + ": only " + std::to_string(line->units) + " unit(s) of line \"" + line->id +
                       "\" are left to refund",
                   line->units == 0 ? ErrorKind::state : ErrorKind::invalid};
    const std::int64_t k = item.units, q = line->units;
    SaleLine back{line->id, k, returned_share(line->net_minor, k, q),
                  returned_share(line->points_earned, k, q), returned_share(line->points_redeemed, k, q)};
    line->units -= back.units;
    line->net_minor -= back.net_minor;
    line->points_earned -= back.points_earned;
    line->points_redeemed -= back.points_redeemed;
    if (__builtin_add_overflow(r.amount_minor, back.net_minor, &r.amount_minor) ||
        __builtin_add_overflow(r.points_taken_back, back.points_earned, &r.points_taken_back) ||
        __builtin_add_overflow(r.points_given_back, back.points_redeemed, &r.points_given_back))
      return Error{"items: the refund's totals exceed the supported range"};
    r.returned.push_back(std::move(back));
  }
  return r;
}

Result<Refund> refund_all(std::span<const SaleLine> left) {
  std::vector<RefundItem> items;
  for (const SaleLine& l : left)
    if (l.units > 0) items.push_back({l.id, l.units});
  if (items.empty()) return Error{"sale: everything has been refunded already", ErrorKind::state};
  return refund(left, items);
}

Result<BalanceAfterRefund> apply_refund(std::int64_t balance, const Refund& refund) {
  const Wide points = Wide{balance} - refund.points_taken_back + refund.points_given_back;
  if (balance < -kMaxPoints || balance > kMaxPoints || points < -kMaxPoints || points > kMaxPoints)
    return Error{"balance: must stay within " + std::to_string(-kMaxPoints) + ".." + std::to_string(kMaxPoints)};
  return BalanceAfterRefund{static_cast<std::int64_t>(points), points < 0};
}

}  // namespace loyalty::engine
