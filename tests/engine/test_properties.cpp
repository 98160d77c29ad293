// Properties over thousands of random baskets (fixed seeds, so that a failure replays).
#include <catch2/catch.hpp>
#include <random>

#include "loyalty/engine/refund.hpp"
#include "support.hpp"

using namespace loyalty;

namespace {

const char* const kCategories[] = {"apparel", "accessories", "eco", "shoes", "tobacco", "gift_card"};

struct Gen {
  std::mt19937_64 rng;
  std::int64_t between(std::int64_t lo, std::int64_t hi) { return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng); }
  bool chance(int percent) { return between(1, 100) <= percent; }
};

engine::QuoteInput random_input(Gen& g) {
  engine::QuoteInput in;
  // Any second of 2026, in one of a few offsets.
  const std::int32_t offsets[] = {480, 0, -300, 330};
  in.now.utc_micros = (1'767'225'600 + g.between(0, 365 * 86'400)) * 1'000'000;
  in.now.offset_minutes = offsets[g.between(0, 3)];
  if (!g.chance(10)) {
    engine::Member m = test::member(test::demo_rules().tiers[static_cast<std::size_t>(g.between(0, 2))].id,
                                    g.between(0, 3), g.between(-200, 30'000));
    if (g.chance(80)) m.last_purchase_at = engine::Instant{in.now.utc_micros - g.between(0, 500) * 86'400'000'000, 480};
    if (g.chance(70)) m.birthday = engine::MonthDay{static_cast<unsigned>(g.between(1, 12)), static_cast<unsigned>(g.between(1, 28))};
    in.member = m;
  }
  const auto n = g.between(1, 40);
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t amount = g.chance(5) ? g.between(0, 1'000'000'000'000) : g.between(0, 200'000);
    in.lines.push_back(test::line("L" + std::to_string(i), kCategories[g.between(0, 5)], amount, g.between(1, 6)));
  }
  if (g.chance(40)) {
    engine::Coupon c;
    c.code = "C";
    c.kind = g.chance(50) ? engine::CouponKind::percent : engine::CouponKind::amount;
    c.value = c.kind == engine::CouponKind::percent ? g.between(0, 10'000) : g.between(0, 500'000);
    c.min_spend_minor = g.chance(50) ? 0 : g.between(0, 300'000);
    if (g.chance(30)) c.categories = {kCategories[g.between(0, 5)]};
    c.used = g.chance(5);
    in.coupon = engine::CouponRequest{"C", c};
  }
  if (g.chance(60)) in.redeem_points = g.chance(80) ? g.between(0, 300) * 100 : g.between(0, 30'000);
  in.context.pending_points = g.chance(30) ? g.between(-1'000, 1'000) : 0;
  in.context.offline = g.chance(20);
  in.context.redeemed_today_offline = in.context.offline ? g.between(0, 2'500) : 0;
  return in;
}

template <class F>
engine::Minor sum_lines(const engine::Quote& q, F field) {
  engine::Minor s = 0;
  for (const auto& l : q.lines) s += field(l);
  return s;
}

}  // namespace

TEST_CASE("random baskets: allocations sum exactly and payable is gross less the three reductions", "[properties]") {
  Gen g{std::mt19937_64{20261123}};
  int coupons = 0, redemptions = 0, winbacks = 0, first_purchases = 0, birthdays = 0;
  for (int round = 0; round < 5000; ++round) {
    const auto in = random_input(g);
    INFO("round " << round);
    const auto q = test::must_quote(in);
    coupons += q.coupon_discount_minor > 0;
    redemptions += q.redeem_points > 0;
    winbacks += q.member_discount_reason == engine::DiscountReason::winback;
    first_purchases += q.member_discount_reason == engine::DiscountReason::first_purchase;
    birthdays += q.birthday;
    CHECK(sum_lines(q, [](auto& l) { return l.member_discount_minor; }) == q.member_discount_minor);
    CHECK(sum_lines(q, [](auto& l) { return l.coupon_discount_minor; }) == q.coupon_discount_minor);
    CHECK(sum_lines(q, [](auto& l) { return l.redeem_value_minor; }) == q.redeem_value_minor);
    CHECK(sum_lines(q, [](auto& l) { return l.net_minor; }) == q.payable_minor);
    CHECK(sum_lines(q, [](auto& l) { return l.points_earned; }) == q.points_earned);
    CHECK(sum_lines(q, [](auto& l) { return l.points_redeemed; }) == q.redeem_points);
    CHECK(q.payable_minor == q.gross_minor - q.member_discount_minor - q.coupon_discount_minor - q.redeem_value_minor);
    CHECK(q.payable_minor >= 0);
    CHECK(q.points_earned >= 0);
    CHECK(q.max_redeemable_points >= 0);
    for (const auto& l : q.lines) CHECK(l.net_minor >= 0);
    if (!in.member) CHECK(q.payable_minor == q.gross_minor);
    // An accepted redemption is never more than the largest acceptable one.
    if (q.redeem_points > 0) CHECK(q.redeem_points <= q.max_redeemable_points);
    // max_redeemable_points is itself accepted.
    if (q.max_redeemable_points > 0) {
      auto again = in;
      again.redeem_points = q.max_redeemable_points;
      const auto q2 = test::must_quote(again);
      CHECK_FALSE(q2.redeem_rejected.has_value());
      auto more = in;
      more.redeem_points = q.max_redeemable_points + test::demo_rules().redeem.step_points;
      CHECK(test::must_quote(more).redeem_rejected.has_value());
    }
  }
  // The random baskets reach every part of a quote, so the properties above are not vacuous.
  CHECK(coupons > 500);
  CHECK(redemptions > 500);
  CHECK(winbacks > 300);
  CHECK(first_purchases > 300);
  CHECK(birthdays > 150);
}

TEST_CASE("random baskets: a quote is deterministic", "[properties]") {
  Gen g{std::mt19937_64{77}};
  for (int round = 0; round < 2000; ++round) {
    const auto in = random_input(g);
    CHECK(engine::quote_to_json(test::must_quote(in)) == engine::quote_to_json(test::must_quote(in)));
  }
}

TEST_CASE("random baskets: partial refunds then a final one return exactly the sale's totals", "[properties]") {
  Gen g{std::mt19937_64{4242}};
  for (int round = 0; round < 3000; ++round) {
    const auto in = random_input(g);
    INFO("round " << round);
    const auto q = test::must_quote(in);
    auto left = engine::sale_lines(in, q);
    engine::Minor money = 0;
    std::int64_t taken = 0, given = 0;
    // A few partial refunds of random lines and units.
    for (int step = 0; step < 4; ++step) {
      std::vector<engine::RefundItem> items;
      for (const auto& l : left)
        if (l.units > 0 && g.chance(40)) items.push_back({l.id, g.between(1, l.units)});
      if (items.empty()) continue;
      auto r = engine::refund(left, items);
      REQUIRE(r.ok());
      money += r->amount_minor;
      taken += r->points_taken_back;
      given += r->points_given_back;
      left = r->left;
    }
    auto rest = engine::refund_all(left);
    if (rest.ok()) {
      money += rest->amount_minor;
      taken += rest->points_taken_back;
      given += rest->points_given_back;
      left = rest->left;
    }
    CHECK(money == q.payable_minor);
    CHECK(taken == q.points_earned);
    CHECK(given == q.redeem_points);
    for (const auto& l : left) {
      CHECK(l.units == 0);
      CHECK(l.net_minor == 0);
    }
  }
}
