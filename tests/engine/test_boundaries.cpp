// Quotes at every rule boundary of RULES.md.
#include <catch2/catch.hpp>

#include "support.hpp"

using namespace loyalty;
using engine::QuoteInput;
using test::at;
using test::line;
using test::must_quote;

namespace {

QuoteInput basket_for(engine::Member m, const char* now, std::vector<engine::Line> lines) {
  QuoteInput in;
  in.now = at(now);
  in.member = std::move(m);
  in.lines = std::move(lines);
  return in;
}

engine::Member dormant_since(const char* last_purchase) {
  auto m = test::member("silver", 4);
  m.last_purchase_at = at(last_purchase);
  return m;
}

engine::CouponRequest coupon(engine::CouponKind kind, std::int64_t value) {
  engine::Coupon c;
  c.code = "C1";
  c.kind = kind;
  c.value = value;
  return {"C1", c};
}

}  // namespace

TEST_CASE("win-back starts at exactly 90 dormant days and not one second earlier", "[boundaries]") {
  const auto at90 = must_quote(basket_for(dormant_since("2026-01-01T10:00:00+08:00"), "2026-04-01T10:00:00+08:00",
                                          {line("1", "apparel", 10000)}));
  CHECK(at90.member_discount_reason == engine::DiscountReason::winback);
  CHECK(at90.member_discount_minor == 2000);
  const auto before = must_quote(basket_for(dormant_since("2026-01-01T10:00:00+08:00"),
                                            "2026-04-01T09:59:59+08:00", {line("1", "apparel", 10000)}));
  CHECK(before.member_discount_reason == engine::DiscountReason::none);
  CHECK(before.member_discount_minor == 0);
}

TEST_CASE("dormancy is counted between instants, whatever offsets they were written in", "[boundaries]") {
  // 90 days exactly, the last purchase written in UTC and now in +08:00.
  const auto q = must_quote(basket_for(dormant_since("2026-01-01T02:00:00Z"), "2026-04-01T10:00:00+08:00",
                                       {line("1", "apparel", 10000)}));
  CHECK(q.member_discount_reason == engine::DiscountReason::winback);
}

TEST_CASE("a discount of exactly half a minor unit rounds up", "[boundaries]") {
  // Gold 5% of 10 = 0.5 -> 1; of 9 = 0.45 -> 0.
  auto gold = test::member("gold");
  CHECK(must_quote(basket_for(gold, "2026-06-01T12:00:00+08:00", {line("1", "apparel", 10)})).member_discount_minor == 1);
  const auto nine = must_quote(basket_for(gold, "2026-06-01T12:00:00+08:00", {line("1", "apparel", 9)}));
  CHECK(nine.member_discount_minor == 0);
  CHECK(nine.member_discount_reason == engine::DiscountReason::none);
}

TEST_CASE("equal remainders give the missing unit to the earlier line", "[boundaries]") {
  // Gold 5% of 3 x 10 = 1.5 -> 2, each line's share 0.5: the first two lines get one each.
  const auto q = must_quote(basket_for(test::member("gold"), "2026-06-01T12:00:00+08:00",
                                       {line("a", "apparel", 10), line("b", "apparel", 10), line("c", "apparel", 10)}));
  CHECK(q.member_discount_minor == 2);
  CHECK(q.lines[0].member_discount_minor == 1);
  CHECK(q.lines[1].member_discount_minor == 1);
  CHECK(q.lines[2].member_discount_minor == 0);
}

TEST_CASE("a tie between tier and first purchase is named tier", "[boundaries]") {
  engine::RuleSet rules = test::demo_rules();
  rules.first_purchase_discount_bp = 500;  // as much as gold
  auto in = basket_for(test::member("gold", 0), "2026-06-01T12:00:00+08:00", {line("1", "apparel", 10000)});
  const auto q = must_quote(in, rules);
  CHECK(q.member_discount_reason == engine::DiscountReason::tier);
  CHECK(q.member_discount_minor == 500);
}

TEST_CASE("a coupon is valid up to the instant before valid_to and from the instant of valid_from", "[boundaries]") {
  auto c = coupon(engine::CouponKind::amount, 1000);
  c.coupon->valid_from = at("2026-07-01T00:00:00+08:00");
  c.coupon->valid_to = at("2026-08-01T00:00:00+08:00");
  auto in = basket_for(test::member("silver"), "2026-08-01T00:00:00+08:00", {line("1", "apparel", 5000)});
  in.coupon = c;
  CHECK(must_quote(in).coupon_rejected == engine::CouponRefusal::coupon_expired);
  in.now = at("2026-07-31T23:59:59+08:00");
  CHECK_FALSE(must_quote(in).coupon_rejected.has_value());
  CHECK(must_quote(in).coupon_discount_minor == 1000);
  in.now = at("2026-07-01T00:00:00+08:00");
  CHECK_FALSE(must_quote(in).coupon_rejected.has_value());
  in.now = at("2026-06-30T23:59:59+08:00");
  CHECK(must_quote(in).coupon_rejected == engine::CouponRefusal::coupon_not_yet_valid);
}

TEST_CASE("coupon refusals come in their order and leave the rest of the quote alone", "[boundaries]") {
  auto in = basket_for(test::member("gold"), "2026-07-10T12:00:00+08:00", {line("1", "apparel", 20000)});
  const auto plain = must_quote(in);
  auto c = coupon(engine::CouponKind::percent, 1000);
  c.coupon->used = true;
  c.coupon->valid_to = at("2026-07-01T00:00:00+08:00");  // expired too: used is checked first
  in.coupon = c;
  auto q = must_quote(in);
  CHECK(q.coupon_rejected == engine::CouponRefusal::coupon_used);
  CHECK(q.payable_minor == plain.payable_minor);
  CHECK(q.points_earned == plain.points_earned);
  in.coupon = engine::CouponRequest{"NOPE", std::nullopt};
  CHECK(must_quote(in).coupon_rejected == engine::CouponRefusal::coupon_unknown);
  // Minimum spend is checked on the base after the member discount: 20000 - 1000 = 19000.
  c = coupon(engine::CouponKind::percent, 1000);
  c.coupon->min_spend_minor = 19001;
  in.coupon = c;
  CHECK(must_quote(in).coupon_rejected == engine::CouponRefusal::min_spend_not_met);
  c.coupon->min_spend_minor = 19000;
  in.coupon = c;
  q = must_quote(in);
  CHECK_FALSE(q.coupon_rejected.has_value());
  CHECK(q.coupon_discount_minor == 1900);
}

TEST_CASE("a coupon narrowed to categories covers only those lines", "[boundaries]") {
  auto c = coupon(engine::CouponKind::amount, 3000);
  c.coupon->categories = {"shoes"};
  auto in = basket_for(test::member("silver"), "2026-07-10T12:00:00+08:00",
                       {line("1", "apparel", 10000), line("2", "shoes", 2000)});
  in.coupon = c;
  auto q = must_quote(in);
  CHECK(q.coupon_discount_minor == 2000);  // min(value, base of the shoes line)
  CHECK(q.lines[0].coupon_discount_minor == 0);
  CHECK(q.lines[1].coupon_discount_minor == 2000);
  c.coupon->categories = {"toys"};  // no line covered: accepted, and worth nothing (RULES.md)
  in.coupon = c;
  q = must_quote(in);
  CHECK_FALSE(q.coupon_rejected.has_value());
  CHECK(q.coupon_discount_minor == 0);
}

TEST_CASE("a bonus period counts from its first instant and ends before its last", "[boundaries]") {
  // shoe-week: 300% from 2026-11-20T00:00:00+08:00 to 2026-11-27T00:00:00+08:00.
  auto in = basket_for(test::member("silver"), "2026-11-20T00:00:00+08:00", {line("1", "shoes", 10000)});
  CHECK(must_quote(in).points_earned == 300);
  in.now = at("2026-11-19T23:59:59+08:00");
  CHECK(must_quote(in).points_earned == 100);
  in.now = at("2026-11-26T23:59:59+08:00");
  CHECK(must_quote(in).points_earned == 300);
  in.now = at("2026-11-27T00:00:00+08:00");
  CHECK(must_quote(in).points_earned == 100);
}

TEST_CASE("offline, redemption is capped by the daily allowance left", "[boundaries]") {
  auto in = basket_for(test::member("silver", 5, 10000), "2026-07-10T12:00:00+08:00", {line("1", "apparel", 100000)});
  in.context.offline = true;
  in.context.redeemed_today_offline = 1500;  // 500 of the 2000 allowance left
  in.redeem_points = 600;
  auto q = must_quote(in);
  CHECK(q.redeem_rejected == engine::RedeemRefusal::offline_limit);
  CHECK(q.max_redeemable_points == 500);
  in.redeem_points = 500;
  q = must_quote(in);
  CHECK_FALSE(q.redeem_rejected.has_value());
  CHECK(q.redeem_value_minor == 500);
  in.context.offline = false;
  in.redeem_points = 600;
  CHECK_FALSE(must_quote(in).redeem_rejected.has_value());
  CHECK(must_quote(in).max_redeemable_points == 10000);
}

TEST_CASE("pending points count towards what a member may redeem, either way", "[boundaries]") {
  auto in = basket_for(test::member("silver", 5, 300), "2026-07-10T12:00:00+08:00", {line("1", "apparel", 100000)});
  in.redeem_points = 500;
  CHECK(must_quote(in).redeem_rejected == engine::RedeemRefusal::insufficient_points);
  in.context.pending_points = 200;  // earned in an unsynced sale at this till
  CHECK_FALSE(must_quote(in).redeem_rejected.has_value());
  CHECK(must_quote(in).max_redeemable_points == 500);
  in.context.pending_points = -250;  // spent in an unsynced sale: 50 left
  in.redeem_points = 100;
  CHECK(must_quote(in).redeem_rejected == engine::RedeemRefusal::insufficient_points);
  CHECK(must_quote(in).max_redeemable_points == 0);
}

TEST_CASE("redemption refusals are checked in the order of RULES.md", "[boundaries]") {
  auto in = basket_for(test::member("silver", 5, 1000), "2026-07-10T12:00:00+08:00", {line("1", "apparel", 1000)});
  in.context.offline = true;
  in.context.redeemed_today_offline = 2000;
  in.redeem_points = 50;  // not a step, below min, within balance
  CHECK(must_quote(in).redeem_rejected == engine::RedeemRefusal::not_multiple_of_step);
  in.redeem_points = 5000;  // a step, above min, above balance, offline, above share
  CHECK(must_quote(in).redeem_rejected == engine::RedeemRefusal::insufficient_points);
  in.redeem_points = 900;  // within balance, offline allowance spent, above share
  CHECK(must_quote(in).redeem_rejected == engine::RedeemRefusal::offline_limit);
  in.context.offline = false;
  CHECK(must_quote(in).redeem_rejected == engine::RedeemRefusal::exceeds_max_share);
  CHECK(must_quote(in).max_redeemable_points == 500);
  in.redeem_points = 0;  // nothing asked, nothing refused
  CHECK_FALSE(must_quote(in).redeem_rejected.has_value());
}

TEST_CASE("a basket of excluded categories only gets no discount, no coupon and no points", "[boundaries]") {
  auto in = basket_for(test::member("black", 5, 5000), "2026-07-10T12:00:00+08:00",
                       {line("1", "tobacco", 3500), line("2", "gift_card", 10000)});
  in.coupon = coupon(engine::CouponKind::percent, 1000);
  in.redeem_points = 100;
  const auto q = must_quote(in);
  CHECK(q.member_discount_minor == 0);
  CHECK(q.member_discount_reason == engine::DiscountReason::none);
  CHECK_FALSE(q.coupon_rejected.has_value());
  CHECK(q.coupon_discount_minor == 0);
  CHECK(q.redeem_rejected == engine::RedeemRefusal::exceeds_max_share);
  CHECK(q.max_redeemable_points == 0);
  CHECK(q.points_earned == 0);
  CHECK(q.payable_minor == 13500);
}

TEST_CASE("the birthday month is read in the offset of the sale's own now", "[boundaries]") {
  auto m = test::member("silver");
  m.birthday = engine::MonthDay{6, 15};
  // 2026-05-31T20:00:00-05:00 is already June in UTC, but still May where the till is.
  auto in = basket_for(m, "2026-05-31T20:00:00-05:00", {line("1", "apparel", 10000)});
  auto q = must_quote(in);
  CHECK_FALSE(q.birthday);
  CHECK(q.points_earned == 100);
  in.now = at("2026-06-01T09:00:00+08:00");  // May 31st in UTC, June where the till is
  q = must_quote(in);
  CHECK(q.birthday);
  CHECK(q.points_earned == 200);
}

TEST_CASE("the day window needs the same month and day, so 02-29 counts only in leap years", "[boundaries]") {
  engine::RuleSet rules = test::demo_rules();
  rules.birthday_window = engine::BirthdayWindow::day;
  auto m = test::member("silver");
  m.birthday = engine::MonthDay{2, 29};
  auto in = basket_for(m, "2027-02-28T12:00:00+08:00", {line("1", "apparel", 10000)});
  CHECK_FALSE(must_quote(in, rules).birthday);
  in.now = at("2027-03-01T12:00:00+08:00");
  CHECK_FALSE(must_quote(in, rules).birthday);
  in.now = at("2028-02-28T12:00:00+08:00");
  CHECK_FALSE(must_quote(in, rules).birthday);
  in.now = at("2028-02-29T12:00:00+08:00");
  CHECK(must_quote(in, rules).birthday);
}

TEST_CASE("an anonymous sale changes nothing and refuses coupons and redemption", "[boundaries]") {
  QuoteInput in;
  in.now = at("2026-07-10T12:00:00+08:00");
  in.lines = {line("1", "eco", 5000)};
  in.coupon = coupon(engine::CouponKind::amount, 100);
  in.redeem_points = 100;
  const auto q = must_quote(in);
  CHECK(q.payable_minor == 5000);
  CHECK(q.points_earned == 0);
  CHECK(q.coupon_rejected == engine::CouponRefusal::member_required);
  CHECK(q.redeem_rejected == engine::RedeemRefusal::member_required);
  CHECK(q.max_redeemable_points == 0);
}

TEST_CASE("1,000 lines of 10^12 minor units stay exact", "[boundaries]") {
  auto m = test::member("black", 5, 0);
  m.birthday = engine::MonthDay{7, 1};
  std::vector<engine::Line> lines;
  for (int i = 0; i < 1000; ++i) lines.push_back(line(std::to_string(i), i % 2 ? "eco" : "apparel", 1'000'000'000'000));
  const auto q = must_quote(basket_for(m, "2026-07-10T12:00:00+08:00", lines));
  CHECK(q.gross_minor == 1'000'000'000'000'000);
  CHECK(q.member_discount_minor == 100'000'000'000'000);
  CHECK(q.payable_minor == 900'000'000'000'000);
  // weighted base = 500 x 9e11 x (100 + 200) = 1.35e17; x1 x200 x200 / (100 x 100^3) = 5.4e13 points.
  CHECK(q.points_earned == 54'000'000'000'000);
}
