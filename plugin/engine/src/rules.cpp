#include "loyalty/engine/rules.hpp"

#include <algorithm>
#include <limits>

#include "loyalty/engine/json_reader.hpp"
#include "loyalty/protocol/limits.hpp"

namespace loyalty::engine {
namespace {

using detail::fail;
using detail::index_path;
using detail::json;
using detail::ObjectReader;

// The JSON is read for shape and type here; every range, order and uniqueness rule is checked once,
// by check_rules, for a rule set read from JSON and for one built in code alike.
std::int64_t integer(ObjectReader& r, std::string_view key) { return r.integer(key, INT64_MIN, INT64_MAX); }

template <class T>
T narrow(std::int64_t v) {
  // Out-of-range values are kept out of range (clamped) so that check_rules refuses them.
  if (v < std::numeric_limits<T>::min()) return std::numeric_limits<T>::min();
  if (v > std::numeric_limits<T>::max()) return std::numeric_limits<T>::max();
  return static_cast<T>(v);
}

std::vector<Tier> read_tiers(const json& j, const std::string& path) {
  detail::as_array(j, path);
  std::vector<Tier> tiers;
  for (std::size_t i = 0; i < j.size(); ++i) {
    ObjectReader r(j[i], index_path(path, i));
    Tier t;
    t.id = r.string("id");
    t.name = r.string("name");
    t.min_spend_minor = integer(r, "min_spend_minor");
    t.discount_bp = narrow<std::int32_t>(integer(r, "discount_bp"));
    t.earn_multiplier_pct = narrow<std::int32_t>(integer(r, "earn_multiplier_pct"));
    r.finish();
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
    b.multiplier_pct = narrow<std::int32_t>(integer(r, "multiplier_pct"));
    b.valid_from = r.optional_instant("valid_from");
    b.valid_to = r.optional_instant("valid_to");
    r.finish();
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
    w.min_dormant_days = narrow<std::int32_t>(integer(r, "min_dormant_days"));
    w.discount_bp = narrow<std::int32_t>(integer(r, "discount_bp"));
    r.finish();
    out.push_back(w);
  }
  return out;
}

RuleSet read_rules(const json& doc) {
  RuleSet rs;
  ObjectReader root(doc, "");
  rs.version = root.string("version");
  rs.currency = root.string("currency");
  {
    const std::string text = detail::as_string(root.required("utc_offset"), "utc_offset");
    const auto off = parse_utc_offset(text);
    if (!off) fail("utc_offset", "must be an offset like \"+08:00\", within +-18:00");
    rs.utc_offset_minutes = *off;
  }
  rs.minor_per_unit = integer(root, "minor_per_unit");
  rs.tiers = read_tiers(root.required("tiers"), "tiers");
  {
    ObjectReader q(root.required("qualification"), "qualification");
    rs.qualification_window_days = narrow<std::int32_t>(integer(q, "window_days"));
    rs.qualification_grace_days = narrow<std::int32_t>(integer(q, "grace_days"));
    q.finish();
  }
  {
    ObjectReader e(root.required("earn"), "earn");
    rs.points_per_unit = integer(e, "points_per_unit");
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
    rs.birthday_multiplier_pct = narrow<std::int32_t>(integer(b, "multiplier_pct"));
    b.finish();
  }
  {
    ObjectReader f(root.required("first_purchase"), "first_purchase");
    rs.first_purchase_discount_bp = narrow<std::int32_t>(integer(f, "discount_bp"));
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
    rr.minor_per_100_points = integer(r, "minor_per_100_points");
    rr.min_points = integer(r, "min_points");
    rr.step_points = integer(r, "step_points");
    rr.max_share_bp = narrow<std::int32_t>(integer(r, "max_share_bp"));
    rr.offline_after_minutes = narrow<std::int32_t>(integer(r, "offline_after_minutes"));
    rr.offline_daily_limit_points = integer(r, "offline_daily_limit_points");
    r.finish();
  }
  {
    ObjectReader c(root.required("coupons"), "coupons");
    rs.coupons_max_per_sale = narrow<std::int32_t>(integer(c, "max_per_sale"));
    c.finish();
  }
  {
    ObjectReader x(root.required("expiry"), "expiry");
    rs.expiry_months = narrow<std::int32_t>(integer(x, "months"));
    x.finish();
  }
  root.finish();
  return rs;
}

// Collects the first broken rule; paths are built only when a rule is broken.
class Checker {
 public:
  std::optional<Error> error;

  void rule(bool ok, std::string_view path, std::string_view what) {
    if (!ok && !error) error = Error{std::string(path) + ": " + std::string(what)};
  }
  void rule(bool ok, std::string_view list, std::size_t i, std::string_view key, std::string_view what) {
    if (!ok && !error) rule(false, indexed(list, i, key), what);
  }
  void range(std::int64_t v, std::int64_t lo, std::int64_t hi, std::string_view path) {
    if ((v < lo || v > hi) && !error) rule(false, path, within(lo, hi));
  }
  void range(std::int64_t v, std::int64_t lo, std::int64_t hi, std::string_view list, std::size_t i,
             std::string_view key) {
    if ((v < lo || v > hi) && !error) rule(false, indexed(list, i, key), within(lo, hi));
  }

  static std::string indexed(std::string_view list, std::size_t i, std::string_view key) {
    return std::string(list) + "[" + std::to_string(i) + "]" + (key.empty() ? "" : ".") + std::string(key);
  }

 private:
  static std::string within(std::int64_t lo, std::int64_t hi) {
    return "must be within " + std::to_string(lo) + ".." + std::to_string(hi);
  }
};

constexpr std::int64_t kMaxBp = 10'000;
constexpr std::int64_t kMaxPct = 100'000;  // a 1000x multiplier
constexpr std::int64_t kMaxMoney = 1'000'000'000'000'000'000;
constexpr std::int64_t kMaxRulePoints = 1'000'000'000'000;

bool is_upper_code(const std::string& s) {
  return s.size() == 3 && std::all_of(s.begin(), s.end(), [](char c) { return c >= 'A' && c <= 'Z'; });
}

}  // namespace

const Tier* RuleSet::find_tier(std::string_view id) const noexcept {
  for (const Tier& t : tiers)
    if (t.id == id) return &t;
  return nullptr;
}

std::optional<Error> check_rules(const RuleSet& rs) {
  Checker c;
  // The version, tier ids and names travel to every till and into its fixed buffers (protocol/limits.hpp).
  namespace limits = protocol::limits;
  static const std::string version_rule =
      "must be 1.." + std::to_string(limits::kRulesVersion) + " letters, digits, '-', '_' or '.'";
  static const std::string tier_id_rule = "must be 1.." + std::to_string(limits::kTierId) + " bytes";
  static const std::string tier_name_rule = "must be at most " + std::to_string(limits::kTierName) + " bytes";
  c.rule(limits::is_rules_version(rs.version), "version", version_rule);
  c.rule(is_upper_code(rs.currency), "currency", "must be a three-letter ISO 4217 code like \"CNY\"");
  c.range(rs.utc_offset_minutes, -18 * 60, 18 * 60, "utc_offset");
  c.range(rs.minor_per_unit, 1, 1'000'000, "minor_per_unit");
  c.rule(!rs.tiers.empty(), "tiers", "must name at least one tier");
  for (std::size_t i = 0; i < rs.tiers.size(); ++i) {
    const Tier& t = rs.tiers[i];
    c.rule(!t.id.empty() && t.id.size() <= limits::kTierId, "tiers", i, "id", tier_id_rule);
    c.rule(t.name.size() <= limits::kTierName, "tiers", i, "name", tier_name_rule);
    for (std::size_t j = 0; j < i; ++j)
      if (rs.tiers[j].id == t.id) c.rule(false, "tiers", i, "id", "duplicate tier id \"" + t.id + "\"");
    c.range(t.min_spend_minor, 0, kMaxMoney, "tiers", i, "min_spend_minor");
    c.rule(i > 0 || t.min_spend_minor == 0, "tiers", i, "min_spend_minor", "must be 0: the first tier is every member's");
    if (i > 0 && t.min_spend_minor <= rs.tiers[i - 1].min_spend_minor)
      c.rule(false, "tiers", i, "min_spend_minor",
             "must be above " + Checker::indexed("tiers", i - 1, "min_spend_minor") + " (tiers in ascending order)");
    c.range(t.discount_bp, 0, kMaxBp, "tiers", i, "discount_bp");
    c.range(t.earn_multiplier_pct, 0, kMaxPct, "tiers", i, "earn_multiplier_pct");
  }
  c.range(rs.qualification_window_days, 1, 3'660, "qualification.window_days");
  c.range(rs.qualification_grace_days, 0, 3'660, "qualification.grace_days");
  c.range(rs.points_per_unit, 0, 1'000'000, "earn.points_per_unit");
  for (std::size_t i = 0; i < rs.earn_bonus.size(); ++i) {
    const EarnBonus& b = rs.earn_bonus[i];
    c.rule(!b.id.empty(), "earn.bonus", i, "id", "must not be empty");
    for (std::size_t j = 0; j < i; ++j)
      if (rs.earn_bonus[j].id == b.id) c.rule(false, "earn.bonus", i, "id", "duplicate bonus id \"" + b.id + "\"");
    c.rule(!b.categories.empty(), "earn.bonus", i, "categories", "must name at least one category");
    c.range(b.multiplier_pct, 0, kMaxPct, "earn.bonus", i, "multiplier_pct");
    c.rule(!b.valid_from || valid_instant(*b.valid_from), "earn.bonus", i, "valid_from", "must be a valid instant");
    c.rule(!b.valid_to || valid_instant(*b.valid_to), "earn.bonus", i, "valid_to", "must be a valid instant");
    c.rule(!b.valid_from || !b.valid_to || *b.valid_from < *b.valid_to, "earn.bonus", i, "valid_to",
           "must be after valid_from");
  }
  c.range(rs.birthday_multiplier_pct, 0, kMaxPct, "birthday.multiplier_pct");
  c.range(rs.first_purchase_discount_bp, 0, kMaxBp, "first_purchase.discount_bp");
  for (std::size_t i = 0; i < rs.winback.size(); ++i) {
    const WinbackBucket& w = rs.winback[i];
    c.range(w.min_dormant_days, 1, 36'600, "winback", i, "min_dormant_days");
    if (i > 0 && w.min_dormant_days <= rs.winback[i - 1].min_dormant_days)
      c.rule(false, "winback", i, "min_dormant_days",
             "must be above " + Checker::indexed("winback", i - 1, "min_dormant_days") + " (buckets in ascending order)");
    c.range(w.discount_bp, 0, kMaxBp, "winback", i, "discount_bp");
  }
  const RedeemRules& rr = rs.redeem;
  c.range(rr.minor_per_100_points, 1, 1'000'000, "redeem.minor_per_100_points");
  c.range(rr.min_points, 0, kMaxRulePoints, "redeem.min_points");
  c.range(rr.step_points, 1, kMaxRulePoints, "redeem.step_points");
  c.range(rr.max_share_bp, 0, kMaxBp, "redeem.max_share_bp");
  c.range(rr.offline_after_minutes, 1, 525'600, "redeem.offline_after_minutes");
  c.range(rr.offline_daily_limit_points, 0, kMaxRulePoints, "redeem.offline_daily_limit_points");
  c.rule((Wide{rr.step_points} * rr.minor_per_100_points) % 100 == 0, "redeem.step_points",
         "step_points * minor_per_100_points must be a multiple of 100, so that every redeemable amount is "
         "worth whole minor units");
  c.range(rs.coupons_max_per_sale, 0, 100, "coupons.max_per_sale");
  c.range(rs.expiry_months, 1, 1'200, "expiry.months");
  return c.error;
}

Result<RuleSet> load_rules(std::string_view json_text) {
  try {
    RuleSet rs = read_rules(detail::parse_json(json_text, "rules"));
    if (auto error = check_rules(rs)) return std::move(*error);
    return rs;
  } catch (const detail::JsonError& e) {
    return Error{e.message};
  } catch (const std::exception& e) {
    return Error{std::string("rules: ") + e.what()};
  }
}

}  // namespace loyalty::engine
