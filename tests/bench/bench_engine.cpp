// The engine's quote against the floor of any quote: producing its per-line results.
#include <benchmark/benchmark.h>

#include "loyalty/engine/quote.hpp"
#include "loyalty/engine/rules.hpp"
#include "bench_rules.hpp"

namespace {

using namespace loyalty::engine;



const RuleSet& rules() {
  static const RuleSet r = load_rules(loyalty::bench::kRules).value();
  return r;
}

QuoteInput basket(int lines) {
  const char* const categories[] = {"apparel", "accessories", "eco", "shoes", "tobacco"};
  QuoteInput in;
  in.now = *parse_instant("2026-11-23T15:30:00+08:00");
  Member m;
  m.id = "M-1001";
  m.tier = "gold";
  m.birthday = MonthDay{11, 2};
  m.purchases = 12;
  m.last_purchase_at = parse_instant("2026-10-01T10:00:00+08:00");
  m.points = 50'000;
  in.member = m;
  for (int i = 0; i < lines; ++i)
    in.lines.push_back({"L" + std::to_string(i), "SKU-" + std::to_string(1000 + i), categories[i % 5], 1 + i % 3,
                        1'990 + 137 * i});
  Coupon c;
  c.code = "AUTUMN30";
  c.kind = CouponKind::amount;
  c.value = 3'000;
  c.min_spend_minor = 20'000;
  c.valid_from = parse_instant("2026-11-01T00:00:00+08:00");
  c.valid_to = parse_instant("2026-12-01T00:00:00+08:00");
  in.coupon = CouponRequest{"AUTUMN30", c};
  in.redeem_points = 2'000;
  return in;
}

void run_quote(benchmark::State& state, int lines) {
  const QuoteInput in = basket(lines);
  for (auto _ : state) {
    auto q = quote(rules(), in);
    if (!q.ok() || q->coupon_rejected || q->redeem_rejected) state.SkipWithError("the quote did not apply both");
    benchmark::DoNotOptimize(q);
  }
}

// The floor: a quote's result holds one record per line with its id, so building that is the least
// any quote costs on this machine.
void run_copy(benchmark::State& state, int lines) {
  const QuoteInput in = basket(lines);
  for (auto _ : state) {
    std::vector<LineQuote> out(in.lines.size());
    for (std::size_t i = 0; i < out.size(); ++i) {
      out[i].id = in.lines[i].id;
      out[i].net_minor = in.lines[i].amount_minor;
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
}

void quote_30_lines_coupon_redeem(benchmark::State& s) { run_quote(s, 30); }
void baseline_copy_30_line_results(benchmark::State& s) { run_copy(s, 30); }
void quote_1000_lines(benchmark::State& s) { run_quote(s, 1000); }
void baseline_copy_1000_line_results(benchmark::State& s) { run_copy(s, 1000); }

}  // namespace

BENCHMARK(quote_30_lines_coupon_redeem);
BENCHMARK(baseline_copy_30_line_results);
BENCHMARK(quote_1000_lines);
BENCHMARK(baseline_copy_1000_line_results);
