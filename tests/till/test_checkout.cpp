#include <catch2/catch.hpp>

#include "loyalty/engine/codec.hpp"
#include "loyalty/engine/quote.hpp"
#include "loyalty/engine/refund.hpp"
#include "support.hpp"

using namespace loyalty;
using nlohmann::json;

namespace {

// A till seeded with the members of the worked scenarios 01 and 03 and a coupon.
struct ShopTill {
  test::TempDir dir;
  test::TestTill till{test::write_config(dir.path())};
  ShopTill() {
    const std::string rules = test::demo_rules();
    REQUIRE(loy_till_apply_rules(till, rules.data(), rules.size()) == LOY_OK);
    json m1 = test::member_record("M-1001", 1, "gold", 5000, {"13800138000"}, 12);
    m1["birthday"] = "05-17";
    m1["last_purchase_at"] = "2026-04-20T18:30:00+08:00";
    json m3 = test::member_record("M-3001", 1, "gold", 2350, {"13900139000"}, 7);
    m3["birthday"] = "01-09";
    m3["last_purchase_at"] = "2026-02-13T11:00:00+08:00";
    json coupons = json::array({{{"code", "AUTUMN30"}, {"version", 1}, {"kind", "amount"}, {"value", 3000},
                                 {"min_spend_minor", 20000}, {"valid_from", "2026-07-01T00:00:00+08:00"},
                                 {"valid_to", "2026-10-01T00:00:00+08:00"}},
                                {{"code", "MINE"}, {"version", 1}, {"member_id", "M-1001"}, {"kind", "percent"},
                                 {"value", 1000}, {"min_spend_minor", 0}}});
    const std::string doc = test::changes(json::array({m1, m3}), 7, coupons);
    REQUIRE(loy_till_apply_changes(till, doc.data(), doc.size()) == LOY_OK);
  }
};

struct Checkout {
  loy_checkout* c = nullptr;
  explicit Checkout(loy_till* till) { REQUIRE(loy_checkout_begin(till, &c) == LOY_OK); }
  ~Checkout() { loy_checkout_free(c); }
  operator loy_checkout*() const { return c; }  // NOLINT
};

loy_status add(loy_checkout* c, const char* id, const char* category, std::int64_t qty, std::int64_t amount) {
  const loy_line l = test::sale_line(id, category, amount, qty);
  return loy_checkout_add_line(c, &l);
}

loy_quote quote_struct() {
  loy_quote q{};
  q.struct_size = sizeof q;
  return q;
}

// The scenario-03 sale: dormant gold member, coat and scarf, 2,000 points.
void fill_winback_sale(loy_checkout* c) {
  REQUIRE(loy_checkout_set_time(c, "2026-09-01T12:00:00+08:00") == LOY_OK);
  REQUIRE(loy_checkout_identify(c, "13900139000", nullptr) == LOY_OK);
  REQUIRE(add(c, "1", "apparel", 1, 59900) == LOY_OK);
  REQUIRE(add(c, "2", "accessories", 1, 12900) == LOY_OK);
  REQUIRE(loy_checkout_redeem(c, 2000) == LOY_OK);
}

}  // namespace

TEST_CASE("a quote through the C interface is the engine's quote of the same sale", "[till]") {
  ShopTill t;
  Checkout c(t.till);
  fill_winback_sale(c);
  auto q = quote_struct();
  REQUIRE(loy_checkout_quote(c, &q) == LOY_OK);
  // The engine on the scenario itself, with the till's context: it has never synced, so it is offline.
  auto input = engine::parse_quote_input(test::read_text(std::filesystem::path(LOYALTY_TEST_DATA) / "scenarios" /
                                                         "03-winback-redeem.json"));
  REQUIRE(input.ok());
  input->context.offline = true;
  auto rules = engine::load_rules(test::demo_rules());
  const auto expect = engine::quote(*rules, *input);
  REQUIRE(expect.ok());
  CHECK(q.gross_minor == expect->gross_minor);
  CHECK(q.member_discount_minor == expect->member_discount_minor);
  CHECK(q.member_discount_reason == LOY_REASON_WINBACK);
  CHECK(q.member_discount_bp == 3000);
  CHECK(q.redeem_points == 2000);
  CHECK(q.redeem_value_minor == expect->redeem_value_minor);
  CHECK(q.max_redeemable_points == expect->max_redeemable_points);
  CHECK(q.max_redeemable_points == 2000);  // the offline allowance caps it
  CHECK(q.payable_minor == 48960);
  CHECK(q.points_earned == 734);
  REQUIRE(q.line_count == 2);
  for (std::uint32_t i = 0; i < 2; ++i) {
    loy_line_quote l{};
    l.struct_size = sizeof l;
    REQUIRE(loy_checkout_line_quote(c, i, &l) == LOY_OK);
    CHECK(std::string(l.id) == expect->lines[i].id);
    CHECK(l.net_minor == expect->lines[i].net_minor);
    CHECK(l.redeem_value_minor == expect->lines[i].redeem_value_minor);
    CHECK(l.points_earned == expect->lines[i].points_earned);
  }
}

TEST_CASE("committing a receipt id twice returns the first result and makes no second sale", "[till]") {
  ShopTill t;
  auto first = quote_struct();
  {
    Checkout c(t.till);
    fill_winback_sale(c);
    REQUIRE(loy_checkout_commit(c, "R-0001", &first) == LOY_OK);
    CHECK(first.replayed == 0);
    CHECK(first.payable_minor == 48960);
  }
  {
    Checkout c(t.till);  // the POS retries the same sale
    fill_winback_sale(c);
    REQUIRE(loy_checkout_set_time(c, "2026-09-01T12:07:00+08:00") == LOY_OK);  // later: not part of the sale
    auto again = quote_struct();
    REQUIRE(loy_checkout_commit(c, "R-0001", &again) == LOY_OK);
    CHECK(again.replayed == 1);
    CHECK(again.payable_minor == first.payable_minor);
    CHECK(again.points_earned == first.points_earned);
    CHECK(again.line_count == 2);
  }
  {
    Checkout c(t.till);  // another basket under the same receipt id is not silently dropped
    REQUIRE(add(c, "9", "apparel", 1, 100) == LOY_OK);
    auto other = quote_struct();
    CHECK(loy_checkout_commit(c, "R-0001", &other) == LOY_E_CONFLICT);
    CHECK(std::string(loy_checkout_last_error(c)).find("committed for another sale") != std::string::npos);
  }
  loy_till_status st{};
  st.struct_size = sizeof st;
  REQUIRE(loy_till_status_get(t.till, &st) == LOY_OK);
  CHECK(st.outbox_depth == 1);
  CHECK(st.oldest_unsynced_seconds >= 0);
}

TEST_CASE("a committed sale counts as pending at once: points, purchases and the offline allowance", "[till]") {
  ShopTill t;
  {
    Checkout c(t.till);
    fill_winback_sale(c);
    REQUIRE(loy_checkout_commit(c, "R-1", nullptr) == LOY_OK);
  }
  auto m = test::member_info();
  REQUIRE(loy_till_lookup(t.till, "13900139000", &m) == LOY_OK);
  CHECK(m.confirmed_points == 2350);
  CHECK(m.pending_points == 734 - 2000);
  CHECK(m.available_points == 2350 + 734 - 2000);
  // The same day offline, the 2,000-point allowance is spent; the win-back offer is over too.
  Checkout c(t.till);
  REQUIRE(loy_checkout_set_time(c, "2026-09-01T15:00:00+08:00") == LOY_OK);
  REQUIRE(loy_checkout_identify(c, "13900139000", nullptr) == LOY_OK);
  REQUIRE(add(c, "1", "apparel", 1, 50000) == LOY_OK);
  REQUIRE(loy_checkout_redeem(c, 100) == LOY_OK);
  auto q = quote_struct();
  REQUIRE(loy_checkout_quote(c, &q) == LOY_OK);
  CHECK(q.redeem_rejected == LOY_REDEEM_OFFLINE_LIMIT);
  CHECK(std::string(loy_redeem_refusal_str(q.redeem_rejected)) == "offline_limit");
  CHECK(q.member_discount_reason == LOY_REASON_TIER);
}

TEST_CASE("coupons: the cached definition applies, once per till, and a member's own only to them", "[till]") {
  ShopTill t;
  {
    Checkout c(t.till);
    REQUIRE(loy_checkout_set_time(c, "2026-09-01T12:00:00+08:00") == LOY_OK);
    REQUIRE(loy_checkout_identify(c, "13900139000", nullptr) == LOY_OK);
    REQUIRE(add(c, "1", "apparel", 1, 30000) == LOY_OK);
    REQUIRE(loy_checkout_set_coupon(c, "AUTUMN30") == LOY_OK);
    auto q = quote_struct();
    REQUIRE(loy_checkout_commit(c, "R-C1", &q) == LOY_OK);
    CHECK(q.coupon_rejected == 0);
    CHECK(q.coupon_discount_minor == 3000);
  }
  Checkout c(t.till);
  REQUIRE(loy_checkout_set_time(c, "2026-09-01T13:00:00+08:00") == LOY_OK);
  REQUIRE(loy_checkout_identify(c, "13800138000", nullptr) == LOY_OK);
  REQUIRE(add(c, "1", "apparel", 1, 30000) == LOY_OK);
  REQUIRE(loy_checkout_set_coupon(c, "AUTUMN30") == LOY_OK);
  auto q = quote_struct();
  REQUIRE(loy_checkout_quote(c, &q) == LOY_OK);
  CHECK(q.coupon_rejected == LOY_COUPON_USED);
  REQUIRE(loy_checkout_set_coupon(c, "NOSUCH") == LOY_OK);
  REQUIRE(loy_checkout_quote(c, &q) == LOY_OK);
  CHECK(q.coupon_rejected == LOY_COUPON_UNKNOWN);
  REQUIRE(loy_checkout_set_coupon(c, "MINE") == LOY_OK);
  REQUIRE(loy_checkout_quote(c, &q) == LOY_OK);
  CHECK(q.coupon_rejected == 0);  // M-1001's own coupon
  Checkout other(t.till);
  REQUIRE(loy_checkout_identify(other, "13900139000", nullptr) == LOY_OK);
  REQUIRE(add(other, "1", "apparel", 1, 30000) == LOY_OK);
  REQUIRE(loy_checkout_set_coupon(other, "MINE") == LOY_OK);
  REQUIRE(loy_checkout_quote(other, &q) == LOY_OK);
  CHECK(q.coupon_rejected == LOY_COUPON_UNKNOWN);
}

TEST_CASE("calls out of order are errors: quote with no lines, commit twice, use after commit", "[till]") {
  ShopTill t;
  Checkout c(t.till);
  auto q = quote_struct();
  CHECK(loy_checkout_quote(c, &q) == LOY_E_STATE);
  CHECK(loy_checkout_commit(c, "R-EMPTY", &q) == LOY_E_STATE);
  loy_line_quote l{};
  l.struct_size = sizeof l;
  CHECK(loy_checkout_line_quote(c, 0, &l) == LOY_E_STATE);
  REQUIRE(add(c, "1", "apparel", 1, 1000) == LOY_OK);
  REQUIRE(loy_checkout_commit(c, "R-ANON", &q) == LOY_OK);
  CHECK(q.payable_minor == 1000);
  CHECK(loy_checkout_commit(c, "R-ANON", &q) == LOY_E_STATE);
  CHECK(loy_checkout_commit(c, "R-OTHER", &q) == LOY_E_STATE);
  CHECK(add(c, "2", "apparel", 1, 1000) == LOY_E_STATE);
  CHECK(loy_checkout_identify(c, "13800138000", nullptr) == LOY_E_STATE);
  CHECK(loy_checkout_set_coupon(c, "X") == LOY_E_STATE);
  CHECK(loy_checkout_redeem(c, 100) == LOY_E_STATE);
  CHECK(loy_checkout_quote(c, &q) == LOY_E_STATE);
  CHECK(std::string(loy_checkout_last_error(c)) == "the checkout is committed: begin a new one");
  CHECK(loy_checkout_line_quote(c, 0, &l) == LOY_OK);  // the committed sale still answers
  CHECK(loy_checkout_line_quote(c, 1, &l) == LOY_E_INVALID_ARGUMENT);
}

TEST_CASE("a sale may be quoted at any time, and is not committed more than 24 hours ahead of the till's clock",
          "[till]") {
  ShopTill t;
  Checkout c(t.till);
  REQUIRE(add(c, "1", "apparel", 1, 1000) == LOY_OK);
  REQUIRE(loy_checkout_set_time(c, "2099-01-01T10:00:00+08:00") == LOY_OK);
  auto q = quote_struct();
  CHECK(loy_checkout_quote(c, &q) == LOY_OK);
  CHECK(loy_checkout_commit(c, "R-AHEAD", &q) == LOY_E_INVALID_ARGUMENT);
  CHECK(std::string(loy_checkout_last_error(c)).find("24 hours ahead") != std::string::npos);
  REQUIRE(loy_checkout_set_time(c, "2001-01-01T10:00:00+08:00") == LOY_OK);  // behind is a clock reset: kept
  CHECK(loy_checkout_commit(c, "R-AHEAD", &q) == LOY_OK);
}

TEST_CASE("bad lines are refused and leave the checkout as it was", "[till]") {
  ShopTill t;
  Checkout c(t.till);
  CHECK(add(c, "1", "apparel", 0, 1000) == LOY_E_INVALID_ARGUMENT);
  CHECK(add(c, "1", "apparel", 1, -1) == LOY_E_INVALID_ARGUMENT);
  CHECK(add(c, "1", "appar\xc3", 1, 100) == LOY_E_UTF8);
  CHECK(add(c, nullptr, "apparel", 1, 100) == LOY_E_INVALID_ARGUMENT);
  CHECK(add(c, "", "apparel", 1, 100) == LOY_E_INVALID_ARGUMENT);
  REQUIRE(add(c, "1", "apparel", 1, 100) == LOY_OK);
  CHECK(add(c, "1", "apparel", 1, 100) == LOY_E_INVALID_ARGUMENT);
  loy_line small{};
  small.struct_size = 8;
  CHECK(loy_checkout_add_line(c, &small) == LOY_E_STRUCT_SIZE);
  CHECK(loy_checkout_add_line(c, nullptr) == LOY_E_INVALID_ARGUMENT);
  CHECK(loy_checkout_redeem(c, -100) == LOY_E_INVALID_ARGUMENT);
  CHECK(loy_checkout_set_time(c, "yesterday") == LOY_E_INVALID_ARGUMENT);
  CHECK(loy_checkout_set_time(c, nullptr) == LOY_E_INVALID_ARGUMENT);
  CHECK(loy_checkout_commit(c, "", nullptr) == LOY_E_INVALID_ARGUMENT);
  CHECK(loy_checkout_commit(c, nullptr, nullptr) == LOY_E_INVALID_ARGUMENT);
  CHECK(loy_checkout_commit(c, "R\xff", nullptr) == LOY_E_UTF8);
  CHECK(loy_checkout_commit(c, std::string(64, 'R').c_str(), nullptr) == LOY_E_TOO_LARGE);
  auto q = quote_struct();
  REQUIRE(loy_checkout_quote(c, &q) == LOY_OK);
  CHECK(q.gross_minor == 100);
  CHECK(loy_checkout_begin(nullptr, nullptr) == LOY_E_INVALID_ARGUMENT);
  CHECK(loy_checkout_begin(t.till, nullptr) == LOY_E_INVALID_ARGUMENT);
  CHECK(loy_checkout_quote(nullptr, &q) == LOY_E_INVALID_ARGUMENT);
  loy_checkout_free(nullptr);
}

TEST_CASE("a checkout whose till was closed answers that it is closed, and the till reopens at once", "[till]") {
  test::TempDir dir;
  const auto config = test::write_config(dir.path());
  loy_till* till = nullptr;
  REQUIRE(loy_till_open(config.c_str(), nullptr, &till, nullptr, 0) == LOY_OK);
  const std::string rules = test::demo_rules();
  REQUIRE(loy_till_apply_rules(till, rules.data(), rules.size()) == LOY_OK);
  loy_checkout* c = nullptr;
  REQUIRE(loy_checkout_begin(till, &c) == LOY_OK);
  REQUIRE(add(c, "1", "apparel", 1, 100) == LOY_OK);
  loy_till_close(till);
  CHECK(loy_checkout_commit(c, "R-LATE", nullptr) == LOY_E_STATE);
  CHECK(std::string(loy_checkout_last_error(c)) == "the till is closed");
  auto q = quote_struct();
  CHECK(loy_checkout_quote(c, &q) == LOY_E_STATE);
  // Every other call of the checkout too, whatever it would have done.
  CHECK(add(c, "2", "apparel", 1, 100) == LOY_E_STATE);
  CHECK(loy_checkout_set_time(c, "2026-09-01T12:00:00+08:00") == LOY_E_STATE);
  CHECK(loy_checkout_set_coupon(c, "AUTUMN30") == LOY_E_STATE);
  CHECK(loy_checkout_redeem(c, 100) == LOY_E_STATE);
  CHECK(loy_checkout_identify(c, "13800138000", nullptr) == LOY_E_STATE);
  loy_line_quote lq{};
  lq.struct_size = sizeof lq;
  CHECK(loy_checkout_line_quote(c, 0, &lq) == LOY_E_STATE);
  loy_prompt_info p{};
  std::size_t count = 0;
  CHECK(loy_checkout_prompts(c, &p, sizeof p, 1, &count) == LOY_E_STATE);
  CHECK(loy_checkout_commit(c, "", nullptr) == LOY_E_STATE);  // before its own arguments are looked at
  CHECK(std::string(loy_checkout_last_error(c)) == "the till is closed");
  test::TestTill again(config);  // the database was released with the till's handle
  loy_checkout_free(c);
}

TEST_CASE("a commit whose sale is now priced otherwise than its quote commits nothing", "[till]") {
  ShopTill t;
  Checkout a(t.till), b(t.till);
  for (loy_checkout* c : {a.c, b.c}) {  // two tills' worth of the same member, the same day, offline
    REQUIRE(loy_checkout_set_time(c, "2026-09-01T12:00:00+08:00") == LOY_OK);
    REQUIRE(loy_checkout_identify(c, "13800138000", nullptr) == LOY_OK);
    REQUIRE(add(c, "1", "apparel", 1, 100000) == LOY_OK);
    REQUIRE(loy_checkout_redeem(c, 2000) == LOY_OK);
    auto q = quote_struct();
    REQUIRE(loy_checkout_quote(c, &q) == LOY_OK);
    REQUIRE(q.redeem_points == 2000);
  }
  REQUIRE(loy_checkout_commit(a, "R-A", nullptr) == LOY_OK);
  auto q = quote_struct();
  CHECK(loy_checkout_commit(b, "R-B", &q) == LOY_E_CONFLICT);  // the allowance is spent: it would cost more
  CHECK(std::string(loy_checkout_last_error(b)).find("quote again") != std::string::npos);
  loy_till_status st{};
  st.struct_size = sizeof st;
  REQUIRE(loy_till_status_get(t.till, &st) == LOY_OK);
  CHECK(st.outbox_depth == 1);
  // Quoted again, the customer sees the new figures, and the commit goes through.
  REQUIRE(loy_checkout_quote(b, &q) == LOY_OK);
  CHECK(q.redeem_rejected == LOY_REDEEM_OFFLINE_LIMIT);
  REQUIRE(loy_checkout_commit(b, "R-B", &q) == LOY_OK);
  CHECK(q.redeem_points == 0);
}

TEST_CASE("a failed identify leaves the sale without a member", "[till]") {
  ShopTill t;
  Checkout c(t.till);
  REQUIRE(loy_checkout_identify(c, "13800138000", nullptr) == LOY_OK);
  CHECK(loy_checkout_identify(c, "13000000000", nullptr) == LOY_E_NOT_FOUND);
  REQUIRE(add(c, "1", "apparel", 1, 10000) == LOY_OK);
  auto q = quote_struct();
  REQUIRE(loy_checkout_quote(c, &q) == LOY_OK);
  CHECK(q.member_discount_minor == 0);
  CHECK(q.points_earned == 0);  // anonymous
}

TEST_CASE("refunds through the C interface match the engine, and end at the sale's totals", "[till]") {
  ShopTill t;
  Checkout c(t.till);
  fill_winback_sale(c);
  REQUIRE(add(c, "3", "apparel", 3, 5997) == LOY_OK);
  auto sold = quote_struct();
  REQUIRE(loy_checkout_commit(c, "R-SALE", &sold) == LOY_OK);

  // The engine's view of the same sale.
  std::vector<engine::SaleLine> left;
  for (std::uint32_t i = 0; i < sold.line_count; ++i) {
    loy_line_quote l{};
    l.struct_size = sizeof l;
    REQUIRE(loy_checkout_line_quote(c, i, &l) == LOY_OK);
    left.push_back({l.id, i == 2 ? 3 : 1, l.net_minor, l.points_earned, l.points_redeemed});
  }
  loy_refund_item item{};
  item.struct_size = sizeof item;
  item.line_id = "3";
  item.units = 1;
  loy_refund_result r{};
  r.struct_size = sizeof r;
  REQUIRE(loy_till_refund(t.till, "F-1", "R-SALE", &item, 1, &r) == LOY_OK);
  const auto expect = engine::refund(left, std::vector<engine::RefundItem>{{"3", 1}});
  REQUIRE(expect.ok());
  CHECK(r.amount_minor == expect->amount_minor);
  CHECK(r.points_taken_back == expect->points_taken_back);
  CHECK(r.points_given_back == expect->points_given_back);
  CHECK(r.replayed == 0);

  loy_refund_result again{};
  again.struct_size = sizeof again;
  REQUIRE(loy_till_refund(t.till, "F-1", "R-SALE", &item, 1, &again) == LOY_OK);
  CHECK(again.replayed == 1);
  CHECK(again.amount_minor == r.amount_minor);

  loy_refund_result rest{};
  rest.struct_size = sizeof rest;
  REQUIRE(loy_till_refund(t.till, "F-2", "R-SALE", nullptr, 0, &rest) == LOY_OK);
  CHECK(r.amount_minor + rest.amount_minor == sold.payable_minor);
  CHECK(r.points_taken_back + rest.points_taken_back == sold.points_earned);
  CHECK(r.points_given_back + rest.points_given_back == sold.redeem_points);
  // Everything back: the member's available points are as before the sale.
  CHECK(rest.balance_after == 2350);

  CHECK(loy_till_refund(t.till, "F-3", "R-SALE", nullptr, 0, &rest) == LOY_E_STATE);
  item.line_id = "3";  // nothing of line 3 is left either
  CHECK(loy_till_refund(t.till, "F-7", "R-SALE", &item, 1, &rest) == LOY_E_STATE);
  CHECK(loy_till_refund(t.till, "F-1", "R-OTHER", nullptr, 0, &rest) == LOY_E_CONFLICT);
  CHECK(loy_till_refund(t.till, "F-4", "R-NOPE", nullptr, 0, &rest) == LOY_E_NOT_FOUND);
  item.line_id = "7";
  CHECK(loy_till_refund(t.till, "F-5", "R-SALE", &item, 1, &rest) == LOY_E_NOT_FOUND);
  CHECK(loy_till_refund(t.till, "F-6", "R-SALE", nullptr, 3, &rest) == LOY_E_INVALID_ARGUMENT);
  loy_till_status st{};
  st.struct_size = sizeof st;
  REQUIRE(loy_till_status_get(t.till, &st) == LOY_OK);
  CHECK(st.outbox_depth == 3);  // the sale and two refunds
}

TEST_CASE("a refund after the points were spent leaves a negative balance, and says so", "[till]") {
  ShopTill t;
  const auto sell = [&](const char* receipt, const char* at, std::int64_t amount, std::int64_t redeem) {
    Checkout c(t.till);
    REQUIRE(loy_checkout_set_time(c, at) == LOY_OK);
    REQUIRE(loy_checkout_identify(c, "13900139000", nullptr) == LOY_OK);  // M-3001: 2,350 points
    REQUIRE(add(c, "1", "apparel", 1, amount) == LOY_OK);
    REQUIRE(loy_checkout_redeem(c, redeem) == LOY_OK);
    auto q = quote_struct();
    REQUIRE(loy_checkout_commit(c, receipt, &q) == LOY_OK);
    REQUIRE(q.redeem_points == redeem);
    return q;
  };
  const auto big = sell("R-BIG", "2026-09-01T12:00:00+08:00", 400000, 0);
  REQUIRE(big.points_earned == 4200);  // 30% win-back, then gold's 1.5x
  // Two days of spending the offline allowance on small sales.
  sell("R-SPEND1", "2026-09-02T12:00:00+08:00", 4400, 2000);
  sell("R-SPEND2", "2026-09-03T12:00:00+08:00", 4400, 2000);
  auto m = test::member_info();
  REQUIRE(loy_till_lookup(t.till, "13900139000", &m) == LOY_OK);
  const std::int64_t before = m.available_points;
  REQUIRE(before < big.points_earned);

  loy_refund_result r{};
  r.struct_size = sizeof r;
  REQUIRE(loy_till_refund(t.till, "F-BIG", "R-BIG", nullptr, 0, &r) == LOY_OK);
  CHECK(r.points_taken_back == big.points_earned);
  CHECK(r.balance_after == before - big.points_earned);
  CHECK(r.negative_balance == 1);
  REQUIRE(loy_till_lookup(t.till, "13900139000", &m) == LOY_OK);
  CHECK(m.available_points == r.balance_after);
  REQUIRE(m.prompt_count >= 1);
  bool flagged = false;
  for (std::uint32_t i = 0; i < m.prompt_count; ++i)
    if (m.prompts[i].code == LOY_PROMPT_NEGATIVE_BALANCE) flagged = m.prompts[i].points == r.balance_after;
  CHECK(flagged);
  // And the member cannot redeem until the balance is positive again.
  Checkout c(t.till);
  REQUIRE(loy_checkout_set_time(c, "2026-09-04T12:00:00+08:00") == LOY_OK);
  REQUIRE(loy_checkout_identify(c, "13900139000", nullptr) == LOY_OK);
  REQUIRE(add(c, "1", "apparel", 1, 100000) == LOY_OK);
  REQUIRE(loy_checkout_redeem(c, 100) == LOY_OK);
  auto q = quote_struct();
  REQUIRE(loy_checkout_quote(c, &q) == LOY_OK);
  CHECK(q.redeem_rejected == LOY_REDEEM_INSUFFICIENT_POINTS);
  CHECK(q.max_redeemable_points == 0);
}

TEST_CASE("a checkout's quote sees a sale committed by another checkout meanwhile", "[till]") {
  ShopTill t;
  Checkout a(t.till);
  REQUIRE(loy_checkout_set_time(a, "2026-09-01T12:00:00+08:00") == LOY_OK);
  REQUIRE(loy_checkout_identify(a, "13800138000", nullptr) == LOY_OK);
  REQUIRE(add(a, "1", "apparel", 1, 100000) == LOY_OK);
  REQUIRE(loy_checkout_redeem(a, 2000) == LOY_OK);
  auto q = quote_struct();
  REQUIRE(loy_checkout_quote(a, &q) == LOY_OK);
  CHECK(q.redeem_rejected == 0);
  {
    Checkout b(t.till);  // the same member at the same till spends the day's offline allowance
    REQUIRE(loy_checkout_set_time(b, "2026-09-01T12:05:00+08:00") == LOY_OK);
    REQUIRE(loy_checkout_identify(b, "13800138000", nullptr) == LOY_OK);
    REQUIRE(add(b, "1", "apparel", 1, 100000) == LOY_OK);
    REQUIRE(loy_checkout_redeem(b, 2000) == LOY_OK);
    REQUIRE(loy_checkout_commit(b, "R-B", nullptr) == LOY_OK);
  }
  REQUIRE(loy_checkout_quote(a, &q) == LOY_OK);
  CHECK(q.redeem_rejected == LOY_REDEEM_OFFLINE_LIMIT);
  // Lines added after a quote are quoted too.
  REQUIRE(add(a, "2", "apparel", 1, 5000) == LOY_OK);
  REQUIRE(loy_checkout_redeem(a, 0) == LOY_OK);
  REQUIRE(loy_checkout_quote(a, &q) == LOY_OK);
  CHECK(q.gross_minor == 105000);
  CHECK(q.line_count == 2);
}

TEST_CASE("refund items are read with their first item's struct_size as the array's element size", "[till]") {
  ShopTill t;
  Checkout c(t.till);
  fill_winback_sale(c);
  auto sold = quote_struct();
  REQUIRE(loy_checkout_commit(c, "R-STRIDE", &sold) == LOY_OK);
  loy_refund_item items[2]{};
  for (auto& i : items) i.struct_size = sizeof i;
  items[0].line_id = "1";
  items[0].units = 1;
  items[1].line_id = "2";
  items[1].units = 1;
  loy_refund_result r{};
  r.struct_size = sizeof r;
  // Items of different sizes in one array, or a first item of no release's size: refused, nothing refunded.
  items[1].struct_size = sizeof items[1] + 8;
  CHECK(loy_till_refund(t.till, "F-S1", "R-STRIDE", items, 2, &r) == LOY_E_STRUCT_SIZE);
  CHECK(std::string(loy_till_last_error(t.till)).find("one element size") != std::string::npos);
  items[1].struct_size = sizeof items[1];
  items[0].struct_size = sizeof items[0] + 8;
  CHECK(loy_till_refund(t.till, "F-S1", "R-STRIDE", items, 2, &r) == LOY_E_STRUCT_SIZE);
  items[0].struct_size = sizeof items[0];
  // An array with no item in it is the caller's mistake, never a refund of all that is left.
  CHECK(loy_till_refund(t.till, "F-S1", "R-STRIDE", items, 0, &r) == LOY_E_INVALID_ARGUMENT);
  CHECK(loy_till_refund_at(t.till, "F-S1", "S001", "R-STRIDE", items, 0, &r) == LOY_E_INVALID_ARGUMENT);
  REQUIRE(loy_till_refund(t.till, "F-S1", "R-STRIDE", items, 2, &r) == LOY_OK);
  CHECK(r.replayed == 0);
  CHECK(r.amount_minor == sold.payable_minor);  // both lines of the sale, whole
}
