#include <catch2/catch.hpp>

#include "loyalty/engine/refund.hpp"
#include "support.hpp"

using namespace loyalty;

namespace {

// Scenario 03: coat 40284 net, scarf 8676 net; 734 points earned, 2000 redeemed.
struct Sale {
  engine::QuoteInput in;
  engine::Quote q;
};

Sale winback_sale() {
  auto text = test::read_file(test::data_dir() / "scenarios" / "03-winback-redeem.json");
  auto in = engine::parse_quote_input(text);
  REQUIRE(in.ok());
  return {*in, test::must_quote(*in)};
}

}  // namespace

TEST_CASE("a sale's points are shared over its lines by net and by redemption value", "[refunds]") {
  const auto s = winback_sale();
  const auto lines = engine::sale_lines(s.in, s.q);
  REQUIRE(lines.size() == 2);
  // Earned 734 by net 40284 : 8676 -> 603.9 and 130.1: floors 603 + 130, the unit to the coat.
  CHECK(lines[0].points_earned == 604);
  CHECK(lines[1].points_earned == 130);
  // Redeemed 2000 by value 1646 : 354.
  CHECK(lines[0].points_redeemed == 1646);
  CHECK(lines[1].points_redeemed == 354);
}

TEST_CASE("a whole refund returns the money paid and swaps the points back", "[refunds]") {
  const auto s = winback_sale();
  auto r = engine::refund_all(engine::sale_lines(s.in, s.q));
  REQUIRE(r.ok());
  CHECK(r->amount_minor == 48960);
  CHECK(r->points_taken_back == 734);
  CHECK(r->points_given_back == 2000);
  const auto after = engine::apply_refund(350 + 734, *r);  // balance after the sale: 2350 - 2000 + 734
  REQUIRE(after.ok());
  CHECK(after->points == 2350);
  CHECK_FALSE(after->negative);
}

TEST_CASE("partial refunds shrink each line's leftovers and the last returns all that is left", "[refunds]") {
  engine::SaleLine socks{"3", 3, 4798, 47, 10};
  auto first = engine::refund(std::span(&socks, 1), std::vector<engine::RefundItem>{{"3", 1}});
  REQUIRE(first.ok());
  // round_half_up(4798 / 3) = 1599; 47 / 3 = 15.67 -> 16; 10 / 3 = 3.33 -> 3.
  CHECK(first->returned[0].net_minor == 1599);
  CHECK(first->returned[0].points_earned == 16);
  CHECK(first->returned[0].points_redeemed == 3);
  CHECK(first->left[0].units == 2);
  CHECK(first->left[0].net_minor == 3199);
  auto second = engine::refund(first->left, std::vector<engine::RefundItem>{{"3", 1}});
  REQUIRE(second.ok());
  CHECK(second->amount_minor == 1600);  // round_half_up(3199 / 2)
  auto last = engine::refund(second->left, std::vector<engine::RefundItem>{{"3", 1}});
  REQUIRE(last.ok());
  CHECK(first->amount_minor + second->amount_minor + last->amount_minor == 4798);
  CHECK(first->points_taken_back + second->points_taken_back + last->points_taken_back == 47);
  CHECK(first->points_given_back + second->points_given_back + last->points_given_back == 10);
  CHECK(last->left[0].units == 0);
}

TEST_CASE("a refund after the points were spent may drive the balance negative, and says so", "[refunds]") {
  const auto s = winback_sale();
  auto r = engine::refund_all(engine::sale_lines(s.in, s.q));
  REQUIRE(r.ok());
  // The member spent the 734 points elsewhere: 350 left, then loses 734 and gets 2000 back.
  CHECK(engine::apply_refund(0, *r)->points == 1266);
  engine::Refund earn_only;
  earn_only.points_taken_back = 500;
  const auto after = engine::apply_refund(120, earn_only);
  REQUIRE(after.ok());
  CHECK(after->points == -380);
  CHECK(after->negative);
}

TEST_CASE("invalid refunds are refused and change nothing", "[refunds]") {
  const std::vector<engine::SaleLine> left{{"1", 2, 1000, 10, 0}, {"2", 1, 500, 5, 0}};
  using Items = std::vector<engine::RefundItem>;
  CHECK(engine::refund(left, Items{}).error().message == "items: a refund must return at least one unit");
  CHECK(engine::refund(left, Items{{"9", 1}}).error().message == "items[0].line_id: the sale has no line \"9\"");
  CHECK(engine::refund(left, Items{{"1", 0}}).error().message == "items[0].units: must be at least 1");
  CHECK(engine::refund(left, Items{{"1", -2}}).error().message == "items[0].units: must be at least 1");
  CHECK(engine::refund(left, Items{{"1", 3}}).error().message ==
        "items[0].units: only 2 unit(s) of line \"1\" are left to refund");
  CHECK(engine::refund(left, Items{{"2", 1}, {"2", 1}}).error().message == "items[1].line_id: line \"2\" named twice");
  const std::vector<engine::SaleLine> done{{"1", 0, 0, 0, 0}};
  CHECK(engine::refund_all(done).error().message == "sale: everything has been refunded already");
  const std::vector<engine::SaleLine> broken{{"1", 1, -5, 0, 0}};
  CHECK(engine::refund(broken, Items{{"1", 1}}).error().message == "sale.lines[0]: inconsistent remains of a sold line");
  const std::vector<engine::SaleLine> huge{{"a", 1, INT64_MAX, 0, 0}, {"b", 1, INT64_MAX, 0, 0}};
  CHECK(engine::refund_all(huge).error().message == "sale.lines[0]: inconsistent remains of a sold line");
  engine::Refund back;
  back.points_given_back = 1;
  CHECK_FALSE(engine::apply_refund(INT64_MAX, back).ok());
}
