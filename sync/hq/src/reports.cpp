#include "reports.hpp"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "loyalty/engine/json_reader.hpp"

namespace loyalty::hq {
namespace {

using ojson = nlohmann::ordered_json;

std::string when(std::int64_t us, std::int32_t offset) { return engine::format_instant(engine::Instant{us, offset}); }
ojson when_or_null(const std::optional<std::int64_t>& us, std::int32_t offset) {
  return us ? ojson(when(*us, offset)) : ojson(nullptr);
}

std::string seconds_text(std::int64_t us) {
  const std::int64_t s = us / 1'000'000;
  const std::int64_t a = s < 0 ? -s : s;
  char buf[48];
  if (a < 120) std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  else if (a < 7200) std::snprintf(buf, sizeof buf, "%lldmin", static_cast<long long>(s / 60));
  else if (a < 172800) std::snprintf(buf, sizeof buf, "%lldh", static_cast<long long>(s / 3600));
  else std::snprintf(buf, sizeof buf, "%lldd", static_cast<long long>(s / 86400));
  return buf;
}

ojson flag_json(const FlagRow& f, std::int32_t offset) {
  ojson detail = ojson::parse(f.detail, nullptr, false);
  if (detail.is_discarded()) detail = f.detail;
  return ojson{{"id", f.id},
               {"kind", f.kind},
               {"raised_at", when(f.raised_us, offset)},
               {"store_id", f.store_id.empty() ? ojson(nullptr) : ojson(f.store_id)},
               {"till_id", f.till_id.empty() ? ojson(nullptr) : ojson(f.till_id)},
               {"member_id", f.member_id ? ojson(*f.member_id) : ojson(nullptr)},
               {"txn_id", f.txn_id.empty() ? ojson(nullptr) : ojson(f.txn_id)},
               {"detail", detail},
               {"closed_at", when_or_null(f.closed_us, offset)}};
}

}  // namespace

void print_stores(const std::vector<StoreRow>& stores, std::int64_t now_us, std::int32_t offset, bool json,
                  std::ostream& out) {
  if (json) {
    ojson doc = ojson::array();
    for (const StoreRow& s : stores) {
      ojson tills = ojson::array();
      for (const TillRow& t : s.tills)
        tills.push_back({{"till_id", t.till_id},
                         {"last_batch_at", when(t.last_batch_us, offset)},
                         {"backlog", t.backlog ? ojson(*t.backlog) : ojson(nullptr)},
                         {"clock_skew_seconds", t.skew_us ? ojson(*t.skew_us / 1'000'000) : ojson(nullptr)}});
      doc.push_back({{"store_id", s.store_id},
                     {"last_batch_at", when(s.last_batch_us, offset)},
                     {"last_batch_age_seconds", (now_us - s.last_batch_us) / 1'000'000},
                     {"txns", s.txns},
                     {"last_txn_lag_seconds", s.last_txn_lag_us / 1'000'000},
                     {"open_flags", s.open_flags},
                     {"tills", tills}});
    }
    out << doc.dump(2) << "\n";
    return;
  }
  char line[256];
  std::snprintf(line, sizeof line, "%-12s %-8s %-27s %9s %10s %9s %10s %6s\n", "store", "till", "last sync", "ago",
                "backlog", "skew", "txns", "flags");
  out << line;
  for (const StoreRow& s : stores) {
    std::snprintf(line, sizeof line, "%-12s %-8s %-27s %9s %10s %9s %10lld %6lld\n", s.store_id.c_str(), "",
                  when(s.last_batch_us, offset).c_str(), seconds_text(now_us - s.last_batch_us).c_str(), "", "",
                  static_cast<long long>(s.txns), static_cast<long long>(s.open_flags));
    out << line;
    for (const TillRow& t : s.tills) {
      std::snprintf(line, sizeof line, "%-12s %-8s %-27s %9s %10s %9s\n", "", t.till_id.c_str(),
                    when(t.last_batch_us, offset).c_str(), seconds_text(now_us - t.last_batch_us).c_str(),
                    t.backlog ? std::to_string(*t.backlog).c_str() : "?",
                    t.skew_us ? seconds_text(*t.skew_us).c_str() : "?");
      out << line;
    }
  }
}

void print_member(const MemberDetail& d, std::int32_t offset, bool json, std::ostream& out) {
  const MemberRow& m = d.member;
  ojson lots = ojson::array();
  for (const LotRow& l : d.lots)
    lots.push_back({{"earned_at", when(l.earned_us, offset)},
                    {"expires_at", when(l.expires_us, offset)},
                    {"points", l.points},
                    {"left", l.left},
                    {"expired", l.expired},
                    {"txn_id", l.txn_id.empty() ? ojson(nullptr) : ojson(l.txn_id)}});
  ojson tiers = ojson::array();
  for (const TierChangeRow& t : d.tiers)
    tiers.push_back({{"at", when(t.at_us, offset)}, {"from", t.from}, {"to", t.to}, {"reason", t.reason},
                     {"spend_minor", t.spend_minor}});
  ojson sales = ojson::array();
  for (const SaleRow& s : d.sales)
    sales.push_back({{"at", when(s.at_us, offset)}, {"store_id", s.store_id}, {"receipt_id", s.receipt_id},
                     {"txn_id", s.txn_id}, {"payable_minor", s.payable_minor}, {"refunded_minor", s.refunded_minor},
                     {"points_earned", s.points_earned}, {"points_redeemed", s.points_redeemed}});
  ojson coupons = ojson::array();
  for (const CouponRow& c : d.coupons) {
    ojson def = ojson::parse(c.definition, nullptr, false);
    coupons.push_back({{"code", c.code}, {"definition", def.is_discarded() ? ojson(c.definition) : def},
                       {"used_txn_id", c.used_txn_id ? ojson(*c.used_txn_id) : ojson(nullptr)},
                       {"used_store", c.used_store ? ojson(*c.used_store) : ojson(nullptr)},
                       {"used_at", when_or_null(c.used_at_us, offset)}});
  }
  ojson flags = ojson::array();
  for (const FlagRow& f : d.flags) flags.push_back(flag_json(f, offset));
  if (json) {
    ojson doc = {{"id", m.id},
                 {"version", m.version},
                 {"name", m.name},
                 {"phone", m.phone},
                 {"birthday", nullptr},
                 {"tier", m.tier},
                 {"grace_until", when_or_null(d.grace_until_us, offset)},
                 {"window_spend_minor", d.spend_minor},
                 {"points", m.points},
                 {"purchases", m.purchases},
                 {"last_purchase_at", m.last_purchase_at ? ojson(engine::format_instant(*m.last_purchase_at)) : ojson(nullptr)},
                 {"aliases", m.aliases},
                 {"lots", lots},
                 {"tier_history", tiers},
                 {"recent_sales", sales},
                 {"coupons", coupons},
                 {"flags", flags}};
    if (m.birthday) {
      char b[8];
      std::snprintf(b, sizeof b, "%02u-%02u", m.birthday->month % 100, m.birthday->day % 100);
      doc["birthday"] = b;
    }
    out << doc.dump(2) << "\n";
    return;
  }
  out << "member " << m.id << " (version " << m.version << ")\n";
  out << "  name " << (m.name.empty() ? "-" : m.name) << ", phone " << (m.phone.empty() ? "-" : m.phone) << "\n";
  out << "  tier " << m.tier;
  if (d.grace_until_us) out << " (kept in grace until " << when(*d.grace_until_us, offset) << ")";
  out << ", net spend in the window " << d.spend_minor << "\n";
  out << "  points " << m.points << (m.points < 0 ? " (negative: redemption blocked)" : "") << ", purchases "
      << m.purchases << "\n";
  for (const auto& a : m.aliases) out << "  also known as " << a << "\n";
  out << "  lots:\n";
  for (const LotRow& l : d.lots)
    out << "    earned " << when(l.earned_us, offset) << "  " << l.points << " points, " << l.left << " left"
        << (l.expired ? ", " + std::to_string(l.expired) + " expired" : std::string()) << ", expires "
        << when(l.expires_us, offset) << "\n";
  out << "  tier history:\n";
  for (const TierChangeRow& t : d.tiers)
    out << "    " << when(t.at_us, offset) << "  " << (t.from.empty() ? "-" : t.from) << " -> " << t.to << "  ("
        << t.reason << ", spend " << t.spend_minor << ")\n";
  out << "  recent sales:\n";
  for (const SaleRow& s : d.sales)
    out << "    " << when(s.at_us, offset) << "  " << s.store_id << " " << s.receipt_id << "  paid " << s.payable_minor
        << (s.refunded_minor ? ", refunded " + std::to_string(s.refunded_minor) : std::string()) << ", +"
        << s.points_earned << " -" << s.points_redeemed << " points\n";
  out << "  coupons:\n";
  for (const CouponRow& c : d.coupons)
    out << "    " << c.code << "  " << c.definition
        << (c.used_txn_id ? "  used at " + c.used_store.value_or("?") + " " + when(c.used_at_us.value_or(0), offset)
                          : std::string("  unused"))
        << "\n";
  out << "  flags:\n";
  for (const FlagRow& f : d.flags)
    out << "    #" << f.id << " " << f.kind << " " << when(f.raised_us, offset) << (f.closed_us ? " (closed)" : "") << "  "
        << f.detail << "\n";
}

void print_flags(const std::vector<FlagRow>& flags, std::int32_t offset, bool json, std::ostream& out) {
  if (json) {
    ojson doc = ojson::array();
    for (const FlagRow& f : flags) doc.push_back(flag_json(f, offset));
    out << doc.dump(2) << "\n";
    return;
  }
  if (flags.empty()) {
    out << "no flags\n";
    return;
  }
  for (const FlagRow& f : flags) {
    out << "#" << f.id << " " << f.kind << "  " << when(f.raised_us, offset);
    if (!f.store_id.empty()) out << "  store " << f.store_id << (f.till_id.empty() ? "" : "/" + f.till_id);
    if (f.member_id) out << "  member " << *f.member_id;
    if (f.closed_us) out << "  closed " << when(*f.closed_us, offset);
    out << "\n";
    if (!f.txn_id.empty()) out << "    txn " << f.txn_id << "\n";
    out << "    " << f.detail << "\n";
  }
}

void print_held(const std::vector<HeldRow>& rows, std::int32_t offset, bool json, bool with_body, std::ostream& out) {
  if (json) {
    ojson doc = ojson::array();
    for (const HeldRow& h : rows) {
      ojson o = {{"id", h.id},           {"txn_id", h.txn_id}, {"store_id", h.store_id}, {"till_id", h.till_id},
                 {"kind", h.kind},       {"status", h.status}, {"reason", h.reason},     {"final", h.final},
                 {"received", when(h.received_us, offset)}};
      o["at"] = h.at_us ? ojson(when(*h.at_us, offset)) : ojson(nullptr);
      o["held"] = h.held_us ? ojson(when(*h.held_us, offset)) : ojson(nullptr);
      if (with_body) o["body"] = ojson::parse(h.body, nullptr, false);
      doc.push_back(std::move(o));
    }
    out << doc.dump(2) << "\n";
    return;
  }
  if (rows.empty()) {
    out << "no held transactions\n";
    return;
  }
  for (const HeldRow& h : rows) {
    out << h.id << "  " << h.status << (h.final ? " (final)" : "") << "  " << h.kind << "  store " << h.store_id << "/"
        << h.till_id << "  received " << when(h.received_us, offset) << "\n";
    out << "    txn " << (h.txn_id.empty() ? "(none)" : h.txn_id) << "\n";
    out << "    " << h.reason << "\n";
    if (with_body) out << "    " << h.body << "\n";
  }
}

std::string coupon_definition(const std::string& kind, std::int64_t value, std::int64_t min_spend,
                              const std::vector<std::string>& categories, const std::string& valid_from,
                              const std::string& valid_to) {
  ojson def = {{"kind", kind}, {"value", value}, {"min_spend_minor", min_spend}};
  if (!categories.empty()) def["categories"] = categories;
  if (!valid_from.empty()) def["valid_from"] = valid_from;
  if (!valid_to.empty()) def["valid_to"] = valid_to;
  if (value <= 0) throw std::runtime_error("--value: must be above 0");
  auto checked = engine::detail::guarded([&] {
    auto j = engine::detail::parse_json(def.dump(), "coupon");
    engine::detail::ObjectReader r(j, "coupon");
    return engine::detail::read_coupon_fields(r, "X");
  });
  if (!checked) throw std::runtime_error(checked.error().message);
  if (checked->valid_from && checked->valid_to && !(*checked->valid_from < *checked->valid_to))
    throw std::runtime_error("--valid-to: must be after --valid-from");
  return def.dump();
}

void print_registry(const std::vector<RegistryRow>& rows, std::int32_t offset, bool json, std::ostream& out) {
  if (json) {
    ojson doc = ojson::array();
    for (const RegistryRow& r : rows)
      doc.push_back({{"store_id", r.store_id},
                     {"fingerprint", r.fingerprint.empty() ? ojson(nullptr) : ojson(r.fingerprint)},
                     {"added_at", when(r.added_us, offset)},
                     {"revoked_at", r.revoked_us ? ojson(when(*r.revoked_us, offset)) : ojson(nullptr)}});
    out << doc.dump(2) << "\n";
    return;
  }
  if (rows.empty()) {
    out << "the stores registry is empty: every store with a certificate of the chain's CA is let in\n";
    return;
  }
  char line[256];
  std::snprintf(line, sizeof line, "%-12s %-64s %-27s %s\n", "store", "certificate (SHA-256)", "added", "revoked");
  out << line;
  for (const RegistryRow& r : rows) {
    std::snprintf(line, sizeof line, "%-12s %-64s %-27s %s\n", r.store_id.c_str(),
                  r.fingerprint.empty() ? "(the store)" : r.fingerprint.c_str(), when(r.added_us, offset).c_str(),
                  r.revoked_us ? when(*r.revoked_us, offset).c_str() : "-");
    out << line;
  }
}

}  // namespace loyalty::hq
