#include "loyalty/engine/rules.hpp"

#include <algorithm>

#include "json_reader.hpp"

namespace loyalty::engine {
namespace {

using detail::fail;
using detail::index_path;
using detail::json;
using detail::ObjectReader;

constexpr std::int64_t kMaxBp = 10'000;
constexpr std::int64_t kMaxPct = 100'000;  // a 1000x multiplier
constexpr std::int64_t kMaxMoney = 1'000'000'000'000'000'000;
constexpr std::int64_t kMaxRulePoints = 1'000'000'000'000;

std::int32_t bp(ObjectReader& r, std::string_view key) {
  return static_cast<std::int32_t>(r.integer(key, 0, kMaxBp));
}
std::int32_t pct(ObjectReader& r, std::string_view key) {
  return static_cast<std::int32_t>(r.integer(key, 0, kMaxPct));
}

void check_window(const std::optional<Instant>& from, const std::optional<Instant>& to,
                  const std::string& path) {
  if (from && to && !(*from < *to)) fail(path, "must be after valid_from");
}

std::vector<Tier> read_tiers(const json& j, const std::string& path) {
  detail::as_array(j, path);
  if (j.empty()) fail(path, "must name at least one tier");
  std::vector<Tier> tiers;
  for (std::size_t i = 0; i < j.size(); ++i) {
    const std::string at = index_path(path, i);
    ObjectReader r(j[i], at);
    Tier t;
    t.id = r.string("id");
    t.name = r.string("name");
    t.min_spend_minor = r.integer("min_spend_minor", 0, kMaxMoney);
    t.discount_bp = bp(r, "discount_bp");
    t.earn_multiplier_pct = pct(r, "earn_multiplier_pct");
    r.finish();
    for (const Tier& earlier : tiers)
      if (earlier.id == t.id) fail(r.path_of("id"), "duplicate tier id \"" + t.id + "\"");
    if (i == 0 && t.min_spend_minor != 0)
      fail(r.path_of("min_spend_minor"), "must be 0: the first tier is every member's");
    if (i > 0 && t.min_spend_minor <= tiers.back().min_spend_minor)
      fail(r.path_of("min_spend_minor"),
           "must be above " + index_path(path, i - 1) + ".min_spend_minor (tiers in ascending order)");
    tiers.push_back(std::move(t));
  }
  return tiers;
}

std::vector<EarnBonus> read_bonus(const json& j, const std::string& path) {
  detail::as_array(j, path);
  std::vector<EarnBonus> out;
  for (std::size_t i = 0; i < j.size(); ++i) {
    ObjectReader r(j[i], index_path(path, i));
    EarnBonus b;
    b.id = r.string("id");
    b.categories = r.strings("categories");
    if (b.categories.empty()) fail(r.path_of("categories"), "must name at least one category");
    b.multiplier_pct = pct(r, "multiplier_pct");
    b.valid_from = r.optional_instant("valid_from");
    b.valid_to = r.optional_instant("valid_to");
    r.finish();
    check_window(b.valid_from, b.valid_to, r.path_of("valid_to"));
    for (const EarnBonus& earlier : out)
      if (earlier.id == b.id) fail(r.path_of("id"), "duplicate bonus id \"" + b.id + "\"");
    out.push_back(std::move(b));
  }
  return out;
}

std::vector<WinbackBucket> read_winback(const json& j, const std::string& path) {
  detail::as_array(j, path);
  std::vector<WinbackBucket> out;
  for (std::size_t i = 0; i < j.size(); ++i) {
    ObjectReader r(j[i], index_path(path, i));
    WinbackBucket w;
    w.min_dormant_days = static_cast<std::int32_t>(r.integer("min_dormant_days", 1, 36'600));
    w.discount_bp = bp(r, "discount_bp");
    r.finish();
    if (!out.empty() && w.min_dormant_days <= out.back().min_dormant_days)
      fail(r.path_of("min_dormant_days"), "must be above " + index_path(path, i - 1) +
                                              ".min_dormant_days (buckets in ascending order)");
    out.push_back(w);
  }
  return out;
}

RuleSet read_rules(const json& doc) {
  RuleSet rs;
  ObjectReader root(doc, "");
  rs.version = root.string("version");
  rs.currency = root.string("currency");
  if (rs.currency.size() != 3 ||
      !std::all_of(rs.currency.begin(), rs.currency.end(), [](char c) { return c >= 'A' && c <= 'Z'; }))
    fail("currency", "must be a three-letter ISO 4217 code like \"CNY\"");
  {
    const std::string text = detail::as_string(root.required("utc_offset"), "utc_offset");
    const auto off = parse_utc_offset(text);
    if (!off) fail("utc_offset", "must be an offset like \"+08:00\", within +-18:00");
    rs.utc_offset_minutes = *off;
  }
  rs.minor_per_unit = root.integer("minor_per_unit", 1, 1'000'000);
  rs.tiers = read_tiers(root.required("tiers"), "tiers");
  {
    ObjectReader q(root.required("qualification"), "qualification");
    rs.qualification_window_days = static_cast<std::int32_t>(q.integer("window_days", 1, 3'660));
    rs.qualification_grace_days = static_cast<std::int32_t>(q.integer("grace_days", 0, 3'660));
    q.finish();
  }
  {
    ObjectReader e(root.required("earn"), "earn");
    rs.points_per_unit = e.integer("points_per_unit", 0, 1'000'000);
    rs.earn_excluded_categories = e.strings("excluded_categories");
    rs.earn_bonus = read_bonus(e.required("bonus"), "earn.bonus");
    e.finish();
  }
  {
    ObjectReader b(root.required("birthday"), "birthday");
    const std::string window = b.string("window");
    if (window == "month") {
      rs.birthday_window = BirthdayWindow::month;
    } else if (window == "day") {
      rs.birthday_window = BirthdayWindow::day;
    } else {
      fail("birthday.window", "must be \"month\" or \"day\", not \"" + window + "\"");
    }
    rs.birthday_multiplier_pct = pct(b, "multiplier_pct");
    b.finish();
  }
  {
    ObjectReader f(root.required("first_purchase"), "first_purchase");
    rs.first_purchase_discount_bp = bp(f, "discount_bp");
    f.finish();
  }
  rs.winback = read_winback(root.required("winback"), "winback");
  {
    ObjectReader d(root.required("discount"), "discount");
    const std::string stacking = d.string("stacking");
    if (stacking != "best_of")
      fail("discount.stacking", "must be \"best_of\" (the only stacking policy), not \"" + stacking + "\"");
    rs.stacking = Stacking::best_of;
    rs.discount_excluded_categories = d.strings("excluded_categories");
    d.finish();
  }
  {
    ObjectReader r(root.required("redeem"), "redeem");
    RedeemRules& rr = rs.redeem;
    rr.minor_per_100_points = r.integer("minor_per_100_points", 1, 1'000'000);
    rr.min_points = r.integer("min_points", 0, kMaxRulePoints);
    rr.step_points = r.integer("step_points", 1, kMaxRulePoints);
    rr.max_share_bp = bp(r, "max_share_bp");
    rr.offline_after_minutes = static_cast<std::int32_t>(r.integer("offline_after_minutes", 1, 525'600));
    rr.offline_daily_limit_points = r.integer("offline_daily_limit_points", 0, kMaxRulePoints);
    r.finish();
    if ((Wide{rr.step_points} * rr.minor_per_100_points) % 100 != 0)
      fail("redeem.step_points",
           "step_points * minor_per_100_points must be a multiple of 100, so that every redeemable "
           "amount is worth whole minor units");
  }
  {
    ObjectReader c(root.required("coupons"), "coupons");
    rs.coupons_max_per_sale = static_cast<std::int32_t>(c.integer("max_per_sale", 0, 100));
    c.finish();
  }
  {
    ObjectReader x(root.required("expiry"), "expiry");
    rs.expiry_months = static_cast<std::int32_t>(x.integer("months", 1, 1'200));
    x.finish();
  }
  root.finish();
  return rs;
}

}  // namespace

const Tier* RuleSet::find_tier(std::string_view id) const noexcept {
  for (const Tier& t : tiers)
    if (t.id == id) return &t;
  return nullptr;
}

Result<RuleSet> load_rules(std::string_view json_text) {
  try {
    return read_rules(detail::parse_json(json_text, "rules"));
  } catch (const detail::JsonError& e) {
    return Error{e.message};
  } catch (const std::exception& e) {
    return Error{std::string("rules: ") + e.what()};
  }
}

}  // namespace loyalty::engine
