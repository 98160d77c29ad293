#include "loyalty/engine/codec.hpp"

#include <cstdio>

#include "loyalty/engine/json_reader.hpp"

namespace loyalty::engine {
namespace {

using detail::as_array;
using detail::as_bool;
using detail::as_integer;
using detail::as_string;
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

void write_member_fields(JsonWriter& w, const Member& m) {
  w.field("id", m.id).field("tier", m.tier);
  if (m.birthday) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%02u-%02u", m.birthday->month % 100, m.birthday->day % 100);
    w.field("birthday", buf);
  }
  w.field("purchases", m.purchases);
  if (m.last_purchase_at) w.field("last_purchase_at", format_instant(*m.last_purchase_at));
  w.field("points", m.points);
  if (m.next_expiry)
    w.key("next_expiry").begin_object().field("points", m.next_expiry->points)
        .field("at", format_instant(m.next_expiry->at)).end_object();
  if (m.next_tier)
    w.key("next_tier").begin_object().field("tier", m.next_tier->tier)
        .field("spend_minor", m.next_tier->spend_needed_minor).end_object();
}

void write_coupon_fields(JsonWriter& w, const Coupon& c) {
  w.field("code", c.code).field("kind", c.kind == CouponKind::percent ? "percent" : "amount").field("value", c.value)
      .field("min_spend_minor", c.min_spend_minor);
  if (!c.categories.empty()) {
    w.key("categories").begin_array();
    for (const std::string& cat : c.categories) w.value(cat);
    w.end_array();
  }
  if (c.valid_from) w.field("valid_from", format_instant(*c.valid_from));
  if (c.valid_to) w.field("valid_to", format_instant(*c.valid_to));
  w.field("used", c.used);
}

void write_quote(JsonWriter& w, const Quote& q, bool detailed) {
  const auto nullable = [&](JsonKey key, auto reason) {
    w.key(key);
    if (reason) w.value(to_string(*reason));
    else w.null();
  };
  w.begin_object().field("gross_minor", q.gross_minor).field("member_discount_minor", q.member_discount_minor);
  w.key("member_discount_reason");
  if (q.member_discount_reason == DiscountReason::none) w.null();
  else w.value(to_string(q.member_discount_reason));
  if (detailed) w.field("member_discount_bp", q.member_discount_bp);
  w.field("coupon_discount_minor", q.coupon_discount_minor);
  nullable("coupon_rejected", q.coupon_rejected);
  w.field("redeem_points", q.redeem_points).field("redeem_value_minor", q.redeem_value_minor);
  nullable("redeem_rejected", q.redeem_rejected);
  w.field("max_redeemable_points", q.max_redeemable_points).field("payable_minor", q.payable_minor)
      .field("points_earned", q.points_earned).field("birthday", q.birthday);
  w.key("lines").begin_array();
  for (const LineQuote& l : q.lines) {
    w.begin_object().field("id", l.id).field("member_discount_minor", l.member_discount_minor)
        .field("coupon_discount_minor", l.coupon_discount_minor).field("redeem_value_minor", l.redeem_value_minor)
        .field("net_minor", l.net_minor);
    if (detailed) w.field("points_earned", l.points_earned).field("points_redeemed", l.points_redeemed);
    w.end_object();
  }
  w.end_array().end_object();
}

namespace {

template <class E, std::size_t N>
std::optional<E> reason_named(const json& j, const std::string& path, const E (&all)[N]) {
  if (j.is_null()) return std::nullopt;
  const std::string name = as_string(j, path);
  for (E e : all)
    if (to_string(e) == name) return e;
  fail(path, "unknown reason \"" + name + "\"");
}

}  // namespace

Quote read_quote(const json& j, const std::string& path) {
  ObjectReader r(j, path);
  Quote q;
  q.gross_minor = r.integer("gross_minor", 0, kAnyInt);
  q.member_discount_minor = r.integer("member_discount_minor", 0, kAnyInt);
  static const DiscountReason kReasons[] = {DiscountReason::tier, DiscountReason::first_purchase, DiscountReason::winback};
  q.member_discount_reason = reason_named(r.required("member_discount_reason"), r.path_of("member_discount_reason"), kReasons)
                                 .value_or(DiscountReason::none);
  if (const json* bp = r.optional("member_discount_bp"))
    q.member_discount_bp = static_cast<std::int32_t>(as_integer(*bp, r.path_of("member_discount_bp"), 0, 10'000));
  q.coupon_discount_minor = r.integer("coupon_discount_minor", 0, kAnyInt);
  static const CouponRefusal kCoupon[] = {CouponRefusal::coupon_unknown, CouponRefusal::coupon_used,
                                          CouponRefusal::coupon_not_yet_valid, CouponRefusal::coupon_expired,
                                          CouponRefusal::min_spend_not_met, CouponRefusal::coupons_not_allowed,
                                          CouponRefusal::member_required};
  q.coupon_rejected = reason_named(r.required("coupon_rejected"), r.path_of("coupon_rejected"), kCoupon);
  q.redeem_points = r.integer("redeem_points", 0, kMaxPoints);
  q.redeem_value_minor = r.integer("redeem_value_minor", 0, kAnyInt);
  static const RedeemRefusal kRedeem[] = {RedeemRefusal::not_multiple_of_step, RedeemRefusal::below_min,
                                          RedeemRefusal::insufficient_points, RedeemRefusal::offline_limit,
                                          RedeemRefusal::exceeds_max_share, RedeemRefusal::member_required};
  q.redeem_rejected = reason_named(r.required("redeem_rejected"), r.path_of("redeem_rejected"), kRedeem);
  q.max_redeemable_points = r.integer("max_redeemable_points", 0, kMaxPoints);
  q.payable_minor = r.integer("payable_minor", 0, kAnyInt);
  q.points_earned = r.integer("points_earned", 0, kMaxPoints);
  q.birthday = as_bool(r.required("birthday"), r.path_of("birthday"));
  const json& lines = as_array(r.required("lines"), r.path_of("lines"));
  for (std::size_t i = 0; i < lines.size(); ++i) {
    ObjectReader l(lines[i], index_path(r.path_of("lines"), i));
    LineQuote lq;
    lq.id = l.string("id");
    lq.member_discount_minor = l.integer("member_discount_minor", 0, kAnyInt);
    lq.coupon_discount_minor = l.integer("coupon_discount_minor", 0, kAnyInt);
    lq.redeem_value_minor = l.integer("redeem_value_minor", 0, kAnyInt);
    lq.net_minor = l.integer("net_minor", 0, kAnyInt);
    if (const json* p = l.optional("points_earned")) lq.points_earned = as_integer(*p, l.path_of("points_earned"), 0, kMaxPoints);
    if (const json* p = l.optional("points_redeemed"))
      lq.points_redeemed = as_integer(*p, l.path_of("points_redeemed"), 0, kMaxPoints);
    l.finish();
    q.lines.push_back(std::move(lq));
  }
  r.finish();
  return q;
}

void write_quote_input(JsonWriter& w, const QuoteInput& in) {
  w.begin_object().field("now", format_instant(in.now)).key("member");
  if (in.member) {
    w.begin_object();
    write_member_fields(w, *in.member);
    w.end_object();
  } else {
    w.null();
  }
  w.key("basket").begin_array();
  for (const Line& l : in.lines)
    w.begin_object().field("id", l.id).field("sku", l.sku).field("category", l.category).field("qty", l.qty)
        .field("amount_minor", l.amount_minor).end_object();
  w.end_array();
  if (in.redeem_points) w.field("redeem_points", in.redeem_points);
  if (in.coupon) {
    w.key("coupon").begin_object();
    if (in.coupon->coupon) write_coupon_fields(w, *in.coupon->coupon);
    else w.field("code", in.coupon->code);
    w.end_object();
  }
  w.key("context").begin_object().field("pending_points", in.context.pending_points)
      .field("offline", in.context.offline).field("redeemed_today_offline", in.context.redeemed_today_offline)
      .end_object();
  w.end_object();
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


}  // namespace

namespace detail {
QuoteInput read_quote_input(const json& j, const std::string& path) {
  if (!path.empty()) {
    // Inputs embedded in other documents are read as at the top; their errors are prefixed below.
    try {
      return read_input(j);
    } catch (const JsonError& e) {
      throw JsonError{path + "." + e.message};
    }
  }
  return read_input(j);
}
}  // namespace detail

Result<QuoteInput> parse_quote_input(std::string_view text) {
  return guarded([&] { return read_input(detail::parse_json(text, "input")); });
}

Result<Member> parse_member(std::string_view text) {
  return guarded([&] { return read_member(detail::parse_json(text, "member"), ""); });
}

std::string quote_to_json(const Quote& q) {
  detail::JsonWriter w;
  detail::write_quote(w, q, false);
  return w.take();
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
