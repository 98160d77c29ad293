#include "till_commands.hpp"

#include <ctime>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "cli_support.hpp"
#include "loyalty/loyalty.h"

namespace loyalty::till_cli {
namespace {

using nlohmann::json;

// A till opened for one command, closed at its end.
class Till {
 public:
  explicit Till(const std::string& config) {
    char error[1024];
    if (const loy_status s = loy_till_open(config.c_str(), nullptr, &till_, error, sizeof error); s != LOY_OK)
      throw CliError(std::string(loy_status_str(s)) + ": " + error);
  }
  ~Till() { loy_till_close(till_); }
  Till(const Till&) = delete;
  Till& operator=(const Till&) = delete;
  loy_till* get() const { return till_; }

  void check(loy_status s) const {
    if (s != LOY_OK) throw CliError(std::string(loy_status_str(s)) + ": " + loy_till_last_error(till_));
  }

 private:
  loy_till* till_ = nullptr;
};

class Checkout {
 public:
  explicit Checkout(const Till& till) { till.check(loy_checkout_begin(till.get(), &c_)); }
  ~Checkout() { loy_checkout_free(c_); }
  Checkout(const Checkout&) = delete;
  Checkout& operator=(const Checkout&) = delete;
  loy_checkout* get() const { return c_; }
  void check(loy_status s) const {
    if (s != LOY_OK) throw CliError(std::string(loy_status_str(s)) + ": " + loy_checkout_last_error(c_));
  }

 private:
  loy_checkout* c_ = nullptr;
};

loy_till_status till_status(const Till& t) {
  loy_till_status st{};
  st.struct_size = sizeof st;
  t.check(loy_till_status_get(t.get(), &st));
  return st;
}

// Money as the till's rule set writes it.
struct Money {
  std::string currency;
  std::int64_t minor_per_unit = 100;
  std::string operator()(std::int64_t minor) const { return format_money(currency, minor_per_unit, minor); }
};

std::string prompt_text(const loy_prompt& p, const Money& money) {
  switch (p.code) {
    case LOY_PROMPT_BIRTHDAY_WINDOW: return "birthday month: double points today";
    case LOY_PROMPT_FIRST_PURCHASE: return "first purchase: " + std::to_string(p.rate_bp / 100) + "% off";
    case LOY_PROMPT_WINBACK:
      return "welcome back after " + std::to_string(p.days) + " days: " + std::to_string(p.rate_bp / 100) + "% off";
    case LOY_PROMPT_POINTS_EXPIRING: return std::to_string(p.points) + " points expire on " + std::string(p.date);
    case LOY_PROMPT_NEXT_TIER: return money(p.spend_minor) + " more to reach " + p.tier;
    case LOY_PROMPT_NEGATIVE_BALANCE: return "negative balance (" + std::to_string(p.points) + "): no redemption";
    case LOY_PROMPT_OFFLINE:
      return p.minutes < 0 ? std::string("offline: never synced") : "offline for " + std::to_string(p.minutes) + " minutes";
    default: return "prompt " + std::to_string(p.code);
  }
}

json member_json(const loy_member_info& m) {
  json prompts = json::array();
  for (std::uint32_t i = 0; i < m.prompt_count; ++i) {
    const loy_prompt& p = m.prompts[i];
    prompts.push_back({{"code", p.code}, {"rate_bp", p.rate_bp}, {"days", p.days}, {"points", p.points},
                       {"spend_minor", p.spend_minor}, {"minutes", p.minutes}, {"date", p.date}, {"tier", p.tier}});
  }
  return {{"member_id", m.member_id}, {"masked_name", m.masked_name}, {"tier", m.tier_id},
          {"confirmed_points", m.confirmed_points}, {"pending_points", m.pending_points},
          {"available_points", m.available_points}, {"prompts", prompts}};
}

void print_member(const loy_member_info& m, const Money& money) {
  std::cout << "Member " << m.masked_name << " (" << m.member_id << "), " << m.tier_name << " card, "
            << m.available_points << " points available";
  if (m.pending_points != 0) std::cout << " (" << m.confirmed_points << " confirmed, " << m.pending_points << " pending)";
  std::cout << "\n";
  for (std::uint32_t i = 0; i < m.prompt_count; ++i) std::cout << "  * " << prompt_text(m.prompts[i], money) << "\n";
}

Money money_of(const Till& t) {
  const auto st = till_status(t);
  return Money{st.currency, st.minor_per_unit > 0 ? st.minor_per_unit : 100};
}

const char* reason_text(std::int32_t r) {
  switch (r) {
    case LOY_REASON_TIER: return "card";
    case LOY_REASON_FIRST_PURCHASE: return "first purchase";
    case LOY_REASON_WINBACK: return "welcome back";
    default: return "";
  }
}

}  // namespace

template <class F>
int run(F&& f) {
  try {
    return f();
  } catch (const CliError& e) {
    std::cerr << "loyalty-till: " << e.what() << "\n";
    return 2;
  } catch (const json::exception& e) {
    std::cerr << "loyalty-till: " << e.what() << "\n";
    return 2;
  }
}

int apply_rules(const Options& o, const std::string& file) {
  return run([&] {
    Till t(o.config);
    const std::string text = read_file(file);
    t.check(loy_till_apply_rules(t.get(), text.data(), text.size()));
    std::cout << "rules " << till_status(t).rules_version << " installed\n";
    return 0;
  });
}

int import_changes(const Options& o, const std::string& file) {
  return run([&] {
    Till t(o.config);
    const std::string text = read_file(file);
    t.check(loy_till_apply_changes(t.get(), text.data(), text.size()));
    const auto st = till_status(t);
    std::cout << "imported: " << st.members << " members in the cache, cursor " << st.cache_version << "\n";
    return 0;
  });
}

int lookup(const Options& o, const std::string& code, const std::string& at) {
  return run([&] {
    Till t(o.config);
    loy_member_info m{};
    m.struct_size = sizeof m;
    if (at.empty()) {
      t.check(loy_till_lookup(t.get(), code.c_str(), &m));
    } else {  // prompts as of another time: identify in a checkout set to it, and commit nothing
      Checkout c(t);
      c.check(loy_checkout_set_time(c.get(), at.c_str()));
      c.check(loy_checkout_identify(c.get(), code.c_str(), &m));
    }
    if (o.json) {
      std::cout << member_json(m).dump() << "\n";
    } else {
      print_member(m, money_of(t));
    }
    return 0;
  });
}

int checkout(const Options& o, const std::string& script_path) {
  return run([&] {
    const json script = json::parse(read_file(script_path));
    Till t(o.config);
    const Money money = money_of(t);
    Checkout c(t);
    if (script.contains("at")) c.check(loy_checkout_set_time(c.get(), script.at("at").get<std::string>().c_str()));
    loy_member_info m{};
    m.struct_size = sizeof m;
    bool member = false;
    std::vector<std::string> keep;  // the strings the C structs point into
    if (script.contains("enroll")) {
      const json& e = script.at("enroll");
      loy_enrollment en{};
      en.struct_size = sizeof en;
      keep = {e.at("phone").get<std::string>(), e.value("name", ""), e.value("birthday", ""), e.value("consent", "")};
      en.phone = keep[0].c_str();
      en.name = keep[1].empty() ? nullptr : keep[1].c_str();
      en.birthday = keep[2].empty() ? nullptr : keep[2].c_str();
      en.consent = keep[3].empty() ? nullptr : keep[3].c_str();
      c.check(loy_checkout_enroll(c.get(), &en, &m));
      member = true;
    } else if (script.contains("member") && !script.at("member").is_null()) {
      c.check(loy_checkout_identify(c.get(), script.at("member").get<std::string>().c_str(), &m));
      member = true;
    }
    for (const json& l : script.at("lines")) {
      const std::string id = l.at("id"), sku = l.at("sku"), category = l.at("category");
      loy_line line{};
      line.struct_size = sizeof line;
      line.id = id.c_str();
      line.sku = sku.c_str();
      line.category = category.c_str();
      line.qty = l.at("qty");
      line.amount_minor = l.at("amount_minor");
      c.check(loy_checkout_add_line(c.get(), &line));
    }
    if (script.contains("coupon")) c.check(loy_checkout_set_coupon(c.get(), script.at("coupon").get<std::string>().c_str()));
    if (script.contains("redeem_points")) c.check(loy_checkout_redeem(c.get(), script.at("redeem_points")));
    loy_quote q{};
    q.struct_size = sizeof q;
    c.check(loy_checkout_commit(c.get(), script.at("receipt_id").get<std::string>().c_str(), &q));
    std::vector<loy_line_quote> lines(q.line_count);
    for (std::uint32_t i = 0; i < q.line_count; ++i) {
      lines[i].struct_size = sizeof(loy_line_quote);
      c.check(loy_checkout_line_quote(c.get(), i, &lines[i]));
    }
    if (o.json) {
      json out = {{"receipt_id", script.at("receipt_id")}, {"replayed", q.replayed != 0},
                  {"gross_minor", q.gross_minor}, {"member_discount_minor", q.member_discount_minor},
                  {"coupon_discount_minor", q.coupon_discount_minor},
                  {"coupon_rejected", loy_coupon_refusal_str(q.coupon_rejected)}, {"redeem_points", q.redeem_points},
                  {"redeem_value_minor", q.redeem_value_minor},
                  {"redeem_rejected", loy_redeem_refusal_str(q.redeem_rejected)}, {"payable_minor", q.payable_minor},
                  {"points_earned", q.points_earned}};
      if (member) out["member"] = member_json(m);
      std::cout << out.dump() << "\n";
      return 0;
    }
    std::cout << "Receipt " << script.at("receipt_id").get<std::string>() << (q.replayed ? " (committed before: first result)" : "") << "\n";
    if (member) {
      print_member(m, money);
    } else {
      std::cout << "No member scanned\n";
    }
    std::cout << std::string(48, '-') << "\n";
    const json& in_lines = script.at("lines");
    for (std::uint32_t i = 0; i < q.line_count && i < in_lines.size(); ++i) {
      const json& l = in_lines[i];
      std::cout << row("  " + l.at("sku").get<std::string>() + " x" + std::to_string(l.at("qty").get<long long>()),
                       money(l.at("amount_minor").get<std::int64_t>()));
      if (lines[i].member_discount_minor) std::cout << row("      member discount", money(-lines[i].member_discount_minor));
      if (lines[i].coupon_discount_minor) std::cout << row("      coupon", money(-lines[i].coupon_discount_minor));
      if (lines[i].redeem_value_minor) std::cout << row("      points", money(-lines[i].redeem_value_minor));
    }
    std::cout << std::string(48, '-') << "\n" << row("Gross", money(q.gross_minor));
    if (q.member_discount_minor)
      std::cout << row(std::string("Member discount (") + reason_text(q.member_discount_reason) + " " +
                           std::to_string(q.member_discount_bp / 100) + "%)",
                       money(-q.member_discount_minor));
    if (script.contains("coupon")) {
      if (q.coupon_rejected) {
        std::cout << "Coupon not applied: " << loy_coupon_refusal_str(q.coupon_rejected) << "\n";
      } else {
        std::cout << row("Coupon " + script.at("coupon").get<std::string>(), money(-q.coupon_discount_minor));
      }
    }
    if (script.value("redeem_points", 0) > 0) {
      if (q.redeem_rejected) {
        std::cout << "Points not redeemed: " << loy_redeem_refusal_str(q.redeem_rejected) << " (at most "
                  << q.max_redeemable_points << ")\n";
      } else {
        std::cout << row("Points redeemed (" + std::to_string(q.redeem_points) + ")", money(-q.redeem_value_minor));
      }
    }
    std::cout << row("PAYABLE", money(q.payable_minor));
    if (member)
      std::cout << row(std::string("Points earned") + (q.birthday ? " (birthday month!)" : ""),
                       std::to_string(q.points_earned) + " pts");
    return 0;
  });
}

int refund(const Options& o, const std::string& receipt, const std::string& refund_id,
           const std::vector<std::pair<std::string, long long>>& lines, const std::string& sale_store) {
  return run([&] {
    Till t(o.config);
    std::vector<loy_refund_item> items;
    for (const auto& [id, units] : lines) {
      loy_refund_item item{};
      item.struct_size = sizeof item;
      item.line_id = id.c_str();
      item.units = units;
      items.push_back(item);
    }
    loy_refund_result r{};
    r.struct_size = sizeof r;
    const loy_refund_item* list = items.empty() ? nullptr : items.data();
    t.check(sale_store.empty()
                ? loy_till_refund(t.get(), refund_id.c_str(), receipt.c_str(), list, items.size(), &r)
                : loy_till_refund_at(t.get(), refund_id.c_str(), sale_store.c_str(), receipt.c_str(), list, items.size(), &r));
    if (o.json) {
      std::cout << json{{"refund_id", refund_id}, {"receipt_id", receipt}, {"amount_minor", r.amount_minor},
                        {"points_taken_back", r.points_taken_back}, {"points_given_back", r.points_given_back},
                        {"balance_after", r.balance_after}, {"negative_balance", r.negative_balance != 0},
                        {"replayed", r.replayed != 0}}
                       .dump()
                << "\n";
      return 0;
    }
    const Money money = money_of(t);
    std::cout << "Refund " << refund_id << " of receipt " << receipt << (r.replayed ? " (committed before)" : "") << "\n"
              << row("Money back", money(r.amount_minor)) << row("Points taken back", std::to_string(r.points_taken_back))
              << row("Points given back", std::to_string(r.points_given_back))
              << row("Balance after", std::to_string(r.balance_after) + (r.negative_balance ? " (negative!)" : ""));
    return 0;
  });
}

int sync(const Options& o) {
  return run([&] {
    Till t(o.config);
    loy_sync_result r{};
    r.struct_size = sizeof r;
    t.check(loy_till_sync(t.get(), &r));
    if (o.json) {
      std::cout << json{{"sent", r.sent}, {"applied", r.applied}, {"duplicates", r.duplicates}, {"rejected", r.rejected},
                        {"members", r.members}, {"coupons", r.coupons}, {"rules_updated", r.rules_updated != 0}}
                       .dump()
                << "\n";
      return 0;
    }
    std::cout << "Synced with headquarters: " << r.sent << " transactions sent (" << r.applied << " applied, "
              << r.duplicates << " already applied, " << r.rejected << " rejected); " << r.members
              << " member records and " << r.coupons << " coupons received"
              << (r.rules_updated ? "; new rules installed" : "") << "\n";
    return 0;
  });
}

int status(const Options& o) {
  return run([&] {
    Till t(o.config);
    const auto st = till_status(t);
    if (o.json) {
      std::cout << json{{"outbox_depth", st.outbox_depth}, {"oldest_unsynced_seconds", st.oldest_unsynced_seconds},
                        {"cache_version", st.cache_version}, {"last_sync_unix", st.last_sync_unix},
                        {"members", st.members}, {"rules_version", st.rules_version}, {"rejected", st.rejected},
                        {"last_sync_error", st.last_sync_error}}
                       .dump()
                << "\n";
      return 0;
    }
    std::cout << "rules " << (st.rules_version[0] ? st.rules_version : "(none)") << ", " << st.members
              << " members cached (cursor " << st.cache_version << ")\n"
              << st.outbox_depth << " transactions waiting for headquarters";
    if (st.oldest_unsynced_seconds >= 0) std::cout << ", the oldest " << st.oldest_unsynced_seconds << " s old";
    std::cout << "\n";
    if (st.rejected > 0) std::cout << st.rejected << " transactions rejected by headquarters (kept, not resent)\n";
    if (st.last_sync_unix < 0) {
      std::cout << "never synced\n";
    } else {
      const std::time_t secs = static_cast<std::time_t>(st.last_sync_unix);
      std::tm tm{};
      localtime_r(&secs, &tm);
      char when[40];
      std::strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S %z", &tm);
      std::cout << "last sync at " << when << "\n";
    }
    if (st.last_sync_error[0]) std::cout << "last sync failed: " << st.last_sync_error << "\n";
    return 0;
  });
}

}  // namespace loyalty::till_cli
