#include "loyalty/engine/codec.hpp"

#include <cstdio>

#include "loyalty/engine/json_reader.hpp"

namespace loyalty::engine {
namespace {

using detail::as_bool;
using detail::fail;
using detail::guarded;
using detail::index_path;
using detail::json;
using detail::ObjectReader;

constexpr std::int64_t kAnyInt = INT64_MAX;

}  // namespace

namespace detail {

Member read_member_fields(ObjectReader& r) {
  Member m;
  m.id = r.string("id");
  m.tier = r.string("tier");
  if (const json* b = r.optional("birthday")) {
    const auto md = parse_month_day(detail::as_string(*b, r.path_of("birthday")));
    if (!md) fail(r.path_of("birthday"), "must be a month and day \"MM-DD\", like \"05-17\"");
    m.birthday = md;
  }
  m.purchases = r.integer("purchases", 0, kAnyInt);
  m.last_purchase_at = r.optional_instant("last_purchase_at");
  m.points = r.integer("points", -kMaxPoints, kMaxPoints);
  if (const json* e = r.optional("next_expiry")) {
    ObjectReader er(*e, r.path_of("next_expiry"));
    m.next_expiry = PointsExpiry{er.integer("points", 0, kMaxPoints), er.instant("at")};
    er.finish();
  }
  if (const json* t = r.optional("next_tier")) {
    ObjectReader tr(*t, r.path_of("next_tier"));
    m.next_tier = NextTier{tr.string("tier"), tr.integer("spend_minor", 0, kAnyInt)};
    tr.finish();
  }
  return m;
}

Coupon read_coupon_fields(ObjectReader& r, std::string code) {
  Coupon c;
  c.code = std::move(code);
  const std::string kind = r.string("kind");
  if (kind == "percent") {
    c.kind = CouponKind::percent;
    c.value = r.integer("value", 0, 10'000);
  } else if (kind == "amount") {
    c.kind = CouponKind::amount;
    c.value = r.integer("value", 0, kAnyInt);
  } else {
    fail(r.path_of("kind"), "must be \"percent\" or \"amount\", not \"" + kind + "\"");
  }
  c.min_spend_minor = r.integer("min_spend_minor", 0, kAnyInt);
  if (r.optional("categories")) c.categories = r.strings("categories");
  c.valid_from = r.optional_instant("valid_from");
  c.valid_to = r.optional_instant("valid_to");
  if (const json* used = r.optional("used")) c.used = as_bool(*used, r.path_of("used"));
  return c;
}

void write_member_fields(nlohmann::ordered_json& j, const Member& m) {
  j["id"] = m.id;
  j["tier"] = m.tier;
  if (m.birthday) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%02u-%02u", m.birthday->month % 100, m.birthday->day % 100);
    j["birthday"] = buf;
  }
  j["purchases"] = m.purchases;
  if (m.last_purchase_at) j["last_purchase_at"] = format_instant(*m.last_purchase_at);
  j["points"] = m.points;
  if (m.next_expiry) j["next_expiry"] = {{"points", m.next_expiry->points}, {"at", format_instant(m.next_expiry->at)}};
  if (m.next_tier) j["next_tier"] = {{"tier", m.next_tier->tier}, {"spend_minor", m.next_tier->spend_needed_minor}};
}

void write_coupon_fields(nlohmann::ordered_json& j, const Coupon& c) {
  j["code"] = c.code;
  j["kind"] = c.kind == CouponKind::percent ? "percent" : "amount";
  j["value"] = c.value;
  j["min_spend_minor"] = c.min_spend_minor;
  if (!c.categories.empty()) j["categories"] = c.categories;
  if (c.valid_from) j["valid_from"] = format_instant(*c.valid_from);
  if (c.valid_to) j["valid_to"] = format_instant(*c.valid_to);
  j["used"] = c.used;
}

}  // namespace detail

namespace {

using detail::read_coupon_fields;
using detail::read_member_fields;

Member read_member(const json& j, const std::string& path) {
  ObjectReader r(j, path);
  Member m = read_member_fields(r);
  r.finish();
  return m;
}

Line read_line(const json& j, const std::string& path) {
  ObjectReader r(j, path);
  Line l;
  l.id = r.string("id");
  l.sku = r.string("sku", true);
  l.category = r.string("category", true);
  l.qty = r.integer("qty", 1, kMaxQty);
  l.amount_minor = r.integer("amount_minor", 0, kMaxLineAmount);
  r.finish();
  return l;
}

CouponRequest read_coupon(const json& j, const std::string& path) {
  ObjectReader r(j, path);
  CouponRequest req;
  req.code = r.string("code");
  if (j.size() == 1) return req;  // a code alone: not a coupon the till knows
  req.coupon = read_coupon_fields(r, req.code);
  r.finish();
  return req;
}

QuoteInput read_input(const json& doc) {
  ObjectReader r(doc, "");
  r.skip("name");
  r.skip("rules");
  r.skip("expect");
  QuoteInput in;
  in.now = r.instant("now");
  if (!doc.contains("member")) fail("member", "is required (null for an anonymous sale)");
  if (const json* m = r.optional("member")) in.member = read_member(*m, "member");
  const json& basket = detail::as_array(r.required("basket"), "basket");
  in.lines.reserve(basket.size());
  for (std::size_t i = 0; i < basket.size(); ++i) in.lines.push_back(read_line(basket[i], index_path("basket", i)));
  if (const json* p = r.optional("redeem_points")) in.redeem_points = detail::as_integer(*p, "redeem_points", 0, kMaxPoints);
  if (const json* c = r.optional("coupon")) in.coupon = read_coupon(*c, "coupon");
  if (const json* c = r.optional("context")) {
    ObjectReader cr(*c, "context");
    if (const json* v = cr.optional("pending_points"))
      in.context.pending_points = detail::as_integer(*v, cr.path_of("pending_points"), -kMaxPoints, kMaxPoints);
    if (const json* v = cr.optional("offline")) in.context.offline = detail::as_bool(*v, cr.path_of("offline"));
    if (const json* v = cr.optional("redeemed_today_offline"))
      in.context.redeemed_today_offline =
          detail::as_integer(*v, cr.path_of("redeemed_today_offline"), 0, kMaxPoints);
    cr.finish();
  }
  r.finish();
  return in;
}

json nullable(std::optional<std::string_view> s) { return s ? json(*s) : json(nullptr); }

}  // namespace

Result<QuoteInput> parse_quote_input(std::string_view text) {
  return guarded([&] { return read_input(detail::parse_json(text, "input")); });
}

Result<Member> parse_member(std::string_view text) {
  return guarded([&] { return read_member(detail::parse_json(text, "member"), ""); });
}

std::string quote_to_json(const Quote& q) {
  nlohmann::ordered_json j;
  j["gross_minor"] = q.gross_minor;
  j["member_discount_minor"] = q.member_discount_minor;
  j["member_discount_reason"] = q.member_discount_reason == DiscountReason::none
                                    ? json(nullptr)
                                    : json(to_string(q.member_discount_reason));
  j["coupon_discount_minor"] = q.coupon_discount_minor;
  j["coupon_rejected"] = nullable(q.coupon_rejected ? std::optional(to_string(*q.coupon_rejected)) : std::nullopt);
  j["redeem_points"] = q.redeem_points;
  j["redeem_value_minor"] = q.redeem_value_minor;
  j["redeem_rejected"] = nullable(q.redeem_rejected ? std::optional(to_string(*q.redeem_rejected)) : std::nullopt);
  j["max_redeemable_points"] = q.max_redeemable_points;
  j["payable_minor"] = q.payable_minor;
  j["points_earned"] = q.points_earned;
  j["birthday"] = q.birthday;
  auto& lines = j["lines"] = nlohmann::ordered_json::array();
  for (const LineQuote& l : q.lines) {
    nlohmann::ordered_json o;
    o["id"] = l.id;
    o["member_discount_minor"] = l.member_discount_minor;
    o["coupon_discount_minor"] = l.coupon_discount_minor;
    o["redeem_value_minor"] = l.redeem_value_minor;
    o["net_minor"] = l.net_minor;
    lines.push_back(std::move(o));
  }
  return j.dump();
}

std::string prompts_to_json(const std::vector<Prompt>& prompts) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const Prompt& p : prompts) {
    nlohmann::ordered_json o;
    o["code"] = to_string(p.code);
    if (p.rate_bp) o["rate_bp"] = *p.rate_bp;
    if (p.days) o["days"] = *p.days;
    if (p.points) o["points"] = *p.points;
    if (p.date) o["date"] = format_instant(*p.date);
    if (!p.tier.empty()) o["tier"] = p.tier;
    if (p.spend_minor) o["spend_minor"] = *p.spend_minor;
    if (p.minutes) o["minutes"] = *p.minutes;
    out.push_back(std::move(o));
  }
  return out.dump();
}

}  // namespace loyalty::engine
