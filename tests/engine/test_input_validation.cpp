// Invalid quote input is an error naming its path, never undefined behaviour.
#include <catch2/catch.hpp>

#include "support.hpp"

using namespace loyalty;
using test::at;
using test::line;

namespace {

engine::QuoteInput valid() {
  engine::QuoteInput in;
  in.now = at("2026-07-10T12:00:00+08:00");
  in.member = test::member("gold", 3, 500);
  in.lines = {line("1", "apparel", 1000), line("2", "eco", 2000)};
  return in;
}

std::string error_of(const engine::QuoteInput& in) {
  auto q = engine::quote(test::demo_rules(), in);
  return q ? std::string("(quoted)") : q.error().message;
}

std::string parse_error(const std::string& json) {
  auto r = engine::parse_quote_input(json);
  return r ? std::string("(parsed)") : r.error().message;
}

}  // namespace

TEST_CASE("a valid input quotes", "[input]") { CHECK(error_of(valid()) == "(quoted)"); }

TEST_CASE("invalid baskets are refused with the path of the offending value", "[input]") {
  auto in = valid();
  in.lines.clear();
  CHECK(error_of(in) == "basket: must have at least one line");
  in = valid();
  in.lines[1].amount_minor = -1;
  CHECK(error_of(in) == "basket[1].amount_minor: must be within 0..1000000000000000");
  in = valid();
  in.lines[0].qty = 0;
  CHECK(error_of(in) == "basket[0].qty: must be within 1..1000000000");
  in.lines[0].qty = -3;
  CHECK(error_of(in) == "basket[0].qty: must be within 1..1000000000");
  in = valid();
  in.lines[1].id = "1";
  CHECK(error_of(in) == "basket[1].id: duplicate line id \"1\"");
  in = valid();
  in.lines[0].id.clear();
  CHECK(error_of(in) == "basket[0].id: must not be empty");
  in = valid();
  in.lines[0].amount_minor = engine::kMaxLineAmount + 1;
  CHECK(error_of(in) == "basket[0].amount_minor: must be within 0..1000000000000000");
}

TEST_CASE("duplicate line ids are found in long baskets too", "[input]") {
  auto in = valid();
  in.lines.clear();
  for (int i = 0; i < 500; ++i) in.lines.push_back(line(std::to_string(i), "apparel", 10));
  in.lines.push_back(line("250", "apparel", 10));
  CHECK(error_of(in) == "basket[500].id: duplicate line id \"250\"");
}

TEST_CASE("a basket of 10,000 lines with one id is refused at its second line", "[input]") {
  auto in = valid();
  in.lines.assign(10'000, line("same", "apparel", 10));
  CHECK(error_of(in) == "basket[1].id: duplicate line id \"same\"");
}

TEST_CASE("totals too large for exact arithmetic are refused, not wrapped", "[input]") {
  auto in = valid();
  in.lines.clear();
  for (int i = 0; i < 10'000; ++i) in.lines.push_back(line(std::to_string(i), "apparel", engine::kMaxLineAmount));
  CHECK(error_of(in) == "basket: the total of the lines exceeds the supported range");
  in.lines.push_back(line("x", "apparel", 1));
  CHECK(error_of(in) == "basket: must have at most 10000 lines");
}

TEST_CASE("points that would overflow are refused, not wrapped", "[input]") {
  engine::RuleSet rules = test::demo_rules();
  rules.points_per_unit = 1'000'000;
  rules.minor_per_unit = 1;
  rules.tiers[1].earn_multiplier_pct = 100'000;
  auto in = valid();
  in.lines = {line("1", "apparel", engine::kMaxLineAmount)};
  auto q = engine::quote(rules, in);
  REQUIRE_FALSE(q.ok());
  CHECK(q.error().message == "basket: the points earned exceed the supported range");
}

TEST_CASE("invalid members, redemptions and contexts are refused", "[input]") {
  auto in = valid();
  in.member->tier = "platinum";
  CHECK(error_of(in) == "member.tier: unknown tier \"platinum\" in rules demo-2026.1");
  in = valid();
  in.member->purchases = -1;
  CHECK(error_of(in) == "member.purchases: must not be negative");
  in = valid();
  in.member->birthday = engine::MonthDay{2, 30};
  CHECK(error_of(in) == "member.birthday: must be a real month and day");
  in.member->birthday = engine::MonthDay{2, 29};
  CHECK(error_of(in) == "(quoted)");
  in = valid();
  in.redeem_points = -100;
  CHECK(error_of(in) == "redeem_points: must be within 0..1000000000000000");
  in = valid();
  in.context.redeemed_today_offline = -1;
  CHECK(error_of(in) == "context.redeemed_today_offline: must be within 0..1000000000000000");
  in = valid();
  in.member->points = INT64_MIN;
  CHECK(error_of(in) == "member.points: must be within -1000000000000000..1000000000000000");
  in = valid();
  in.context.pending_points = INT64_MAX;
  CHECK(error_of(in) == "context.pending_points: must be within -1000000000000000..1000000000000000");
}

TEST_CASE("invalid coupons are refused as input errors", "[input]") {
  auto in = valid();
  engine::Coupon c;
  c.code = "X";
  c.kind = engine::CouponKind::percent;
  c.value = 10'001;
  in.coupon = engine::CouponRequest{"X", c};
  CHECK(error_of(in) == "coupon.value: must be within 0..10000 basis points for a percent coupon");
  in.coupon->coupon->kind = engine::CouponKind::amount;
  in.coupon->coupon->value = -5;
  CHECK(error_of(in) == "coupon.value: must not be negative");
  in.coupon = engine::CouponRequest{"", std::nullopt};
  CHECK(error_of(in) == "coupon.code: must not be empty");
}

TEST_CASE("malformed documents name the key that is wrong", "[input]") {
  const std::string basket = R"("basket":[{"id":"1","sku":"A","category":"apparel","qty":1,"amount_minor":100}])";
  CHECK(parse_error(R"({"now":"2026-07-10T12:00:00+08:00","member":null,)" + basket + "}") == "(parsed)");
  CHECK(parse_error(R"({"now":"2026-07-10 12:00","member":null,)" + basket + "}") ==
        "now: must be an ISO-8601 timestamp with an offset, like 2026-05-03T10:00:00+08:00");
  CHECK(parse_error(R"({"now":"2026-07-10T12:00:00+08:00",)" + basket + "}") ==
        "member: is required (null for an anonymous sale)");
  CHECK(parse_error(R"({"now":"2026-07-10T12:00:00+08:00","member":{"id":"M","tier":"gold","birthday":"13-01","purchases":0,"points":0},)" +
                    basket + "}") == "member.birthday: must be a month and day \"MM-DD\", like \"05-17\"");
  CHECK(parse_error(R"({"now":"2026-07-10T12:00:00+08:00","member":null,"basket":[{"id":"1","sku":"A","category":"x","qty":1.5,"amount_minor":100}]})") ==
        "basket[0].qty: must be an integer within 1..1000000000");
  CHECK(parse_error(R"({"now":"2026-07-10T12:00:00+08:00","member":null,"basket":[{"id":"1","sku":"A","category":"x","qty":1,"amount_minor":"100"}]})") ==
        "basket[0].amount_minor: must be an integer within 0..1000000000000000");
  CHECK(parse_error(R"({"now":"2026-07-10T12:00:00+08:00","member":null,"redeem_point":5,)" + basket + "}") ==
        "redeem_point: is not a known key");
  CHECK(parse_error(R"({"now":"2026-07-10T12:00:00+08:00","member":null,"coupon":{"code":"A","kind":"bogo","value":1,"min_spend_minor":0},)" +
                    basket + "}") == "coupon.kind: must be \"percent\" or \"amount\", not \"bogo\"");
  CHECK(parse_error("{\"now\":\"2026-07-10T12:00:00+08:00\",\"member\":null,\"basket\":[{\"id\":\"\xc3\x28\"}]}").rfind(
            "input: not valid JSON", 0) == 0);
  CHECK(parse_error("[1,2]") == "(document): must be a JSON object");
  std::string deepest;  // the path where the parser stopped: 33 arrays deep
  for (int i = 0; i < 33; ++i) deepest += "[0]";
  CHECK(parse_error(std::string(2'000'000, '[')) == deepest + ": nested deeper than 32 levels");
  CHECK(parse_error(R"({"now":"2026-07-10T12:00:00+08:00","member":null,"member":null,)" + basket + "}") ==
        "member: duplicate key");
}

TEST_CASE("text that is not UTF-8 is refused wherever it enters", "[input]") {
  auto in = valid();
  in.lines[0].id = "\xff";
  CHECK(error_of(in) == "basket[0].id: must be valid UTF-8");
  in = valid();
  in.lines[1].category = "eco\xc3";
  CHECK(error_of(in) == "basket[1].category: must be valid UTF-8");
  in = valid();
  in.member->id = "M\xed\xa0\x80";  // a surrogate
  CHECK(error_of(in) == "member.id: must be valid UTF-8");
  in = valid();
  in.coupon = engine::CouponRequest{"\xc0\xaf", std::nullopt};  // an overlong '/'
  CHECK(error_of(in) == "coupon.code: must be valid UTF-8");
  in = valid();
  in.lines[0].sku = "\xe6\x9c\x8d\xe8\xa3\x85";  // Chinese text is fine
  CHECK(error_of(in) == "(quoted)");
}

TEST_CASE("instants outside years 0001..9999 are refused before any arithmetic", "[input]") {
  auto in = valid();
  in.now = engine::Instant{INT64_MAX, 0};
  CHECK(error_of(in) == "now: must be an instant in years 0001..9999");
  in = valid();
  in.member->last_purchase_at = engine::Instant{INT64_MIN, 0};
  CHECK(error_of(in) == "member.last_purchase_at: must be an instant in years 0001..9999");
  in = valid();
  in.now.offset_minutes = 5000;
  CHECK(error_of(in) == "now: must be an instant in years 0001..9999");
  CHECK(engine::valid_instant(at("9999-12-31T23:59:59-18:00")));
  CHECK(engine::valid_instant(at("0001-01-01T00:00:00+18:00")));
}
