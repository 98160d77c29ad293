// loyalty-hq: headquarters. `serve` runs the HTTPS endpoints the tills sync with; the other commands
// administer the same database.
#include <CLI/CLI.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

#include "admin.hpp"
#include "reports.hpp"
#include "loyalty/protocol/batch.hpp"
#include "loyalty/store/database.hpp"
#include "loyalty/till/member_code.hpp"
#include "loyalty/engine/rules.hpp"
#include "loyalty/hq/config.hpp"
#include "loyalty/hq/server.hpp"
#include "loyalty/hq/service.hpp"
#include "loyalty/hq/storage.hpp"
#include "loyalty/protocol/limits.hpp"

namespace {

using namespace loyalty;

class CliError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::string read_file(const std::string& path, std::size_t limit) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw CliError(path + ": cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().size() > limit) throw CliError(path + ": larger than " + std::to_string(limit >> 20) + " MiB");
  return text.str();
}

std::string timestamp() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::mutex log_mu;
void log_line(const std::string& message) {
  std::lock_guard lock(log_mu);
  std::cerr << timestamp() << " loyalty-hq: " << message << std::endl;
}

struct Hq {
  hq::HqConfig config;
  std::unique_ptr<hq::EnrollmentOpener> opener;
  std::unique_ptr<hq::Storage> storage;
};

Hq open_hq(const std::string& config_path, bool serving = false) {
  auto config = hq::load_hq_config(config_path);
  if (!config) throw CliError(config.error().message);
  Hq h{std::move(config).value(), nullptr, nullptr};
  h.opener = std::make_unique<hq::EnrollmentOpener>(read_file(h.config.enrollment_key_file.string(), 1 << 20),
                                                    h.config.code_key);
  if (h.config.storage == hq::HqConfig::StorageKind::postgres)
    h.storage = hq::open_postgres_storage(h.config.postgres_url,
                                          h.config.postgres_connections
                                              ? h.config.postgres_connections
                                              : h.config.batch_workers + h.config.read_workers + 2,
                                          *h.opener, hq::LedgerPolicy{h.config.past_days});
  else
    h.storage = hq::open_sqlite_storage(h.config.database.string(), *h.opener, serving,
                                        hq::LedgerPolicy{h.config.past_days}, serving ? h.config.read_workers : 0);
  return h;
}

std::string format_instant(const std::optional<engine::Instant>& t) { return t ? engine::format_instant(*t) : "-"; }

std::string describe(const hq::ExpiryReport& e) {
  return std::to_string(e.points) + " points expired in " + std::to_string(e.lots) + " lots of " +
         std::to_string(e.members) + " members";
}

std::string describe(const hq::TierPassReport& t) {
  return "tier pass over " + std::to_string(t.members) + " members: " + std::to_string(t.upgraded) + " upgraded, " +
         std::to_string(t.graced) + " in grace, " + std::to_string(t.downgraded) + " downgraded, " +
         std::to_string(t.requalified) + " requalified; " + std::to_string(t.changed) + " records sent to tills again";
}

// The ledger's daily work while serving: a thread that looks every `ledger.timer_seconds` for a day
// the tier pass has not run yet (in the rules' offset) and for lots due to expire.
class LedgerTimer {
 public:
  LedgerTimer(hq::Storage& storage, std::int32_t seconds) : storage_(storage), seconds_(seconds) {
    if (seconds_ > 0) thread_ = std::thread([this] { run(); });
  }
  ~LedgerTimer() {
    {
      std::lock_guard lock(mu_);
      done_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  LedgerTimer(const LedgerTimer&) = delete;
  LedgerTimer& operator=(const LedgerTimer&) = delete;

 private:
  void run() {
    std::unique_lock lock(mu_);
    while (!done_) {
      lock.unlock();
      try {
        const auto stopping = [this] {
          std::lock_guard held(mu_);
          return done_;
        };
        if (const auto r = storage_.daily(hq::unix_micros_now(), stopping)) {
          if (r->second) log_line(describe(*r->second));
          if (r->first.lots) log_line(describe(r->first));
        }
        // What waits for a member or a sale another instance received meanwhile.
        if (const auto n = storage_.retry_waiting(hq::unix_micros_now(), 1000))
          log_line("held transactions released: " + std::to_string(n) + " (what they waited for has arrived)");
      } catch (const std::exception& e) {
        log_line(std::string("the ledger's daily work failed (tried again at the next tick): ") + e.what());
      }
      lock.lock();
      wake_.wait_for(lock, std::chrono::seconds(seconds_), [&] { return done_; });
    }
  }

  hq::Storage& storage_;
  const std::int32_t seconds_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool done_ = false;
  std::thread thread_;
};

int serve(const std::string& config_path, const std::string& port_file) {
  Hq h = open_hq(config_path, true);
  // What was held may be applicable now (an enrollment key fixed with this start): every held
  // transaction is tried again once, before the tills come.
  {
    const auto rows = h.storage->retry_held({}, hq::unix_micros_now());
    std::size_t applied = 0;
    for (const auto& r : rows) applied += r.status != "held" && r.status != "rejected";
    if (!rows.empty())
      log_line("held transactions tried again at start: " + std::to_string(applied) + " of " +
               std::to_string(rows.size()) + " applied");
  }
  hq::Service service(*h.storage, h.config, log_line);
  LedgerTimer timer(*h.storage, h.config.ledger_timer_seconds);
  hq::run_server(h.config, service, log_line, [&](std::uint16_t port) {
    log_line("listening on https://" + h.config.listen_host + ":" + std::to_string(port) + " (" +
             (h.config.storage == hq::HqConfig::StorageKind::postgres ? std::string("PostgreSQL storage")
                                                                         : "database " + h.config.database.string()) +
             ")");
    if (!port_file.empty()) {
      const std::string tmp = port_file + ".tmp";
      std::ofstream(tmp) << port << "\n";
      std::rename(tmp.c_str(), port_file.c_str());
    }
  });
  return 0;
}

int rules_set(const std::string& config_path, const std::string& file) {
  const std::string json = read_file(file, protocol::limits::kRulesBytes);
  auto rules = engine::load_rules(json);
  if (!rules) throw CliError(file + ": " + rules.error().message);
  Hq h = open_hq(config_path);
  if (h.storage->publish_rules({rules->version, json}, hq::unix_micros_now()))
    std::cout << "rules " << rules->version << " published: tills receive them at their next sync\n";
  else
    std::cout << "rules " << rules->version << " are already published\n";
  return 0;
}

int members_import(const std::string& config_path, const std::string& file) {
  Hq h = open_hq(config_path);
  const auto current = h.storage->current_rules();
  if (!current) throw CliError("publish a rule set first (loyalty-hq rules set FILE): members are imported into its tiers");
  auto rules = engine::load_rules(current->json);
  if (!rules) throw CliError("the published rule set is invalid: " + rules.error().message);
  std::vector<std::string> tiers;
  for (const auto& t : rules->tiers) tiers.push_back(t.id);
  std::vector<hq::ImportedMember> members;
  try {
    members = hq::read_members_csv(read_file(file, 1 << 30), tiers);
  } catch (const CliError&) {
    throw;
  } catch (const std::exception& e) {
    throw CliError(file + ": " + e.what());
  }
  const auto report = h.storage->import_members(members, hq::unix_micros_now());
  std::cout << "members imported: " << report.added << " added, " << report.updated
            << " updated; tills receive them at their next sync\n";
  return 0;
}

int members_list(const std::string& config_path, bool json, std::int64_t limit) {
  Hq h = open_hq(config_path);
  const auto rows = h.storage->members(limit);
  if (json) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const auto& m : rows) {
      nlohmann::ordered_json j = {{"id", m.id}, {"version", m.version}, {"masked_name", till::mask_name(m.name)},
                                  {"tier", m.tier}, {"points", m.points}, {"purchases", m.purchases},
                                  {"last_purchase_at", m.last_purchase_at ? nlohmann::ordered_json(format_instant(m.last_purchase_at)) : nullptr},
                                  {"aliases", m.aliases}};
      out.push_back(std::move(j));
    }
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::printf("%-28s %-16s %-8s %10s %9s  %-32s %s\n", "member", "name", "tier", "points", "purchases",
              "last purchase", "version");
  for (const auto& m : rows) {
    std::printf("%-28s %-16s %-8s %10lld %9lld  %-32s %lld\n", m.id.c_str(), till::mask_name(m.name).c_str(), m.tier.c_str(),
                static_cast<long long>(m.points), static_cast<long long>(m.purchases),
                format_instant(m.last_purchase_at).c_str(), static_cast<long long>(m.version));
    for (const auto& a : m.aliases) std::printf("  also known as %s (enrolled at a till)\n", a.c_str());
  }
  return 0;
}

// The time a command works at: --now, or the clock.
std::int64_t now_from(const std::string& text) {
  if (text.empty()) return hq::unix_micros_now();
  const auto t = engine::parse_instant(text);
  if (!t) throw CliError("--now: must be an instant with its offset, like 2027-01-01T00:00:00+08:00");
  return t->utc_micros;
}

// The offset instants are shown in: the current rule set's.
std::int32_t display_offset(hq::Storage& storage) {
  const auto current = storage.current_rules();
  if (!current) return 0;
  const auto rules = engine::load_rules(current->json);
  return rules ? rules->utc_offset_minutes : 0;
}

int expire(const std::string& config_path, const std::string& now) {
  Hq h = open_hq(config_path);
  std::cout << describe(h.storage->expire(now_from(now))) << "\n";
  return 0;
}

int tiers(const std::string& config_path, const std::string& now) {
  Hq h = open_hq(config_path);
  std::cout << describe(h.storage->tier_pass(now_from(now))) << "\n";
  return 0;
}

struct CouponOptions {
  std::vector<std::string> members;
  std::string members_file, tier, kind, categories, valid_from, valid_to, code, prefix = "C";
  std::int64_t value = 0, min_spend = 0;
};

int coupons_issue(const std::string& config_path, const CouponOptions& o, bool json) {
  hq::CouponIssue issue;
  std::vector<std::string> categories;
  for (std::size_t start = 0; !o.categories.empty() && start <= o.categories.size();) {
    const auto comma = o.categories.find(',', start);
    const std::string c = o.categories.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (c.empty()) throw CliError("--categories: a comma-separated list of categories, none empty");
    categories.push_back(c);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  try {
    issue.definition = hq::coupon_definition(o.kind, o.value, o.min_spend, categories, o.valid_from, o.valid_to);
  } catch (const std::exception& e) {
    throw CliError(std::string("the coupon: ") + e.what());
  }
  issue.members = o.members;
  if (!o.members_file.empty()) {
    std::istringstream in(read_file(o.members_file, 1 << 28));
    std::string line;
    while (std::getline(in, line)) {
      if (const auto comma = line.find(','); comma != std::string::npos) line.resize(comma);
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
      if (!line.empty() && line != "id" && line != "member_id") issue.members.push_back(line);
    }
  }
  if (!o.tier.empty()) issue.tier = o.tier;
  if (!o.code.empty()) {
    if (!protocol::is_token(o.code, 32)) throw CliError("--code: 1..32 letters, digits, '-', '_' or '.'");
    issue.code = o.code;
  }
  if (!protocol::is_token(o.prefix + "X", 20)) throw CliError("--prefix: up to 19 letters, digits, '-', '_' or '.'");
  issue.prefix = o.prefix;
  if (issue.members.empty() && !issue.tier) throw CliError("name the members: --member ID, --members FILE or --tier TIER");
  Hq h = open_hq(config_path);
  if (issue.tier) {
    const auto current = h.storage->current_rules();
    const auto rules = current ? engine::load_rules(current->json) : engine::Result<engine::RuleSet>(engine::Error{"no rules"});
    if (!rules || !rules->find_tier(*issue.tier)) throw CliError("--tier: the published rules have no tier " + *issue.tier);
  }
  std::vector<hq::IssuedCoupon> issued;
  try {
    issued = h.storage->issue_coupons(issue, hq::unix_micros_now());
  } catch (const store::StorageError&) {
    throw;
  } catch (const std::exception& e) {
    throw CliError(e.what());
  }
  if (json) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const auto& c : issued) out.push_back({{"member_id", c.member_id}, {"code", c.code}});
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << issued.size() << " coupons issued; tills receive them at their next sync\nmember_id,code\n";
    for (const auto& c : issued) std::cout << c.member_id << "," << c.code << "\n";
  }
  return 0;
}

int stores(const std::string& config_path, bool json) {
  Hq h = open_hq(config_path);
  hq::print_stores(h.storage->stores(), hq::unix_micros_now(), display_offset(*h.storage), json, std::cout);
  return 0;
}

// The fingerprint named by --cert FILE or --fingerprint HEX ("" for neither: the store itself).
std::string named_fingerprint(const std::string& cert, const std::string& fingerprint) {
  if (!cert.empty() && !fingerprint.empty()) throw CliError("give --cert or --fingerprint, not both");
  if (!cert.empty()) return hq::certificate_fingerprint(cert);
  if (fingerprint.empty()) return {};
  const std::string f = hq::normal_fingerprint(fingerprint);
  if (f.empty()) throw CliError("--fingerprint must be a SHA-256: 64 hexadecimal digits (colons allowed)");
  return f;
}

int stores_add(const std::string& config_path, const std::string& store, const std::string& cert,
               const std::string& fingerprint) {
  if (!protocol::limits::is_store_id(store)) throw CliError("a store id is 1..32 letters, digits, '-' or '_'");
  const std::string f = named_fingerprint(cert, fingerprint);
  Hq h = open_hq(config_path);
  const bool first = h.storage->registry().empty();
  const bool added = h.storage->register_store(store, f, hq::unix_micros_now());
  std::cout << (f.empty() ? "store " + store : "certificate " + f + " of store " + store)
            << (added ? " registered" : " was registered already") << "\n";
  if (first)
    std::cout << "the stores registry is in force from now on: only the stores it holds are let in\n";
  return 0;
}

int stores_revoke(const std::string& config_path, const std::string& store, const std::string& cert,
                  const std::string& fingerprint) {
  const std::string f = named_fingerprint(cert, fingerprint);
  Hq h = open_hq(config_path);
  if (!h.storage->revoke(store, f, hq::unix_micros_now()))
    throw CliError(f.empty() ? "store " + store + " is not registered, or was revoked already"
                             : "certificate " + f + " of store " + store + " was revoked already");
  std::cout << (f.empty() ? "store " + store : "certificate " + f + " of store " + store)
            << " revoked: refused from its next request on, within seconds\n";
  return 0;
}

int stores_list(const std::string& config_path, bool json) {
  Hq h = open_hq(config_path);
  hq::print_registry(h.storage->registry(), display_offset(*h.storage), json, std::cout);
  return 0;
}

int member(const std::string& config_path, const std::string& id, bool json) {
  Hq h = open_hq(config_path);
  const auto d = h.storage->member_detail(id);
  if (!d) throw CliError("no member " + id);
  hq::print_member(*d, display_offset(*h.storage), json, std::cout);
  return 0;
}

int flags(const std::string& config_path, bool all, std::int64_t limit, bool json) {
  Hq h = open_hq(config_path);
  hq::print_flags(h.storage->flags(all, limit), display_offset(*h.storage), json, std::cout);
  return 0;
}

int held(const std::string& config_path, bool all, std::int64_t limit, bool json) {
  Hq h = open_hq(config_path);
  hq::print_held(h.storage->held(all, limit), display_offset(*h.storage), json, false, std::cout);
  return 0;
}

int held_show(const std::string& config_path, const std::string& id, bool json) {
  Hq h = open_hq(config_path);
  const auto row = h.storage->held_txn(id);
  if (!row) throw CliError("no held transaction " + id);
  hq::print_held({*row}, display_offset(*h.storage), json, true, std::cout);
  return 0;
}

int held_retry(const std::string& config_path, const std::vector<std::string>& ids, bool all, bool accept, bool json) {
  if (ids.empty() != all) throw CliError("name the held transactions to retry (ID ...), or --all");
  Hq h = open_hq(config_path);
  std::vector<hq::HeldRow> rows;
  try {
    rows = h.storage->retry_held(ids, hq::unix_micros_now(), accept);
  } catch (const store::StorageError&) {
    throw;
  } catch (const std::exception& e) {
    throw CliError(e.what());
  }
  if (!json) {
    std::int64_t applied = 0;
    for (const auto& r : rows) applied += r.status == "applied";
    std::cout << applied << " of " << rows.size() << " applied\n";
  }
  hq::print_held(rows, display_offset(*h.storage), json, false, std::cout);
  return 0;
}

int generation(const std::string& config_path, bool renew) {
  Hq h = open_hq(config_path);
  if (renew)
    std::cout << "new generation " << h.storage->new_generation("taken by an operator (loyalty-hq generation --new)")
              << ": every till starts its cursor over and sends again what headquarters had answered\n";
  else
    std::cout << h.storage->generation() << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"loyalty-hq: headquarters of the loyalty plugin. Receives the tills' sales over mutual TLS, keeps\n"
               "members and points, and sends member and rule changes back."};
  app.require_subcommand(1);
  std::string config, file, port_file;
  bool json = false;
  std::int64_t limit = 1000;
  const auto with_config = [&](CLI::App* c) {
    c->add_option("--config", config, "Headquarters' configuration file (JSON, docs/headquarters.md)")->required();
    return c;
  };
  CLI::App* serve_cmd = with_config(app.add_subcommand("serve", "Serve the tills over HTTPS until SIGTERM"));
  serve_cmd->add_option("--port-file", port_file, "Write the listening port to this file once serving");
  CLI::App* rules_cmd = app.add_subcommand("rules", "Rule sets");
  rules_cmd->require_subcommand(1);
  CLI::App* rules_set_cmd = with_config(rules_cmd->add_subcommand("set", "Validate and publish a rule set"));
  rules_set_cmd->add_option("FILE", file, "Rule set (JSON)")->required();
  CLI::App* members_cmd = app.add_subcommand("members", "Members");
  members_cmd->require_subcommand(1);
  CLI::App* import_cmd = with_config(members_cmd->add_subcommand("import", "Import or update members from CSV"));
  import_cmd->add_option("FILE", file, "CSV: id,name,phone,card,birthday,tier,points")->required();
  CLI::App* list_cmd = with_config(members_cmd->add_subcommand("list", "Members, their tiers and points (names masked: `member ID` shows one in full)"));
  list_cmd->add_flag("--json", json, "Print JSON");
  list_cmd->add_option("--limit", limit, "At most this many")->check(CLI::Range(1, 100'000'000));
  std::string now, member_id;
  bool all = false;
  CLI::App* expire_cmd = with_config(app.add_subcommand("expire", "Expire the points lots due (each exactly once)"));
  expire_cmd->add_option("--now", now, "Expire what is due at this instant (default: now)");
  CLI::App* tiers_cmd = with_config(app.add_subcommand("tiers", "Run the tier pass: upgrades, grace and downgrades"));
  tiers_cmd->add_option("--now", now, "Evaluate at this instant (default: now)");
  CLI::App* coupons_cmd = app.add_subcommand("coupons", "Coupons");
  coupons_cmd->require_subcommand(1);
  CouponOptions co;
  CLI::App* issue_cmd = with_config(coupons_cmd->add_subcommand("issue", "Issue single-use coupons to members"));
  issue_cmd->add_option("--member", co.members, "A member id (repeatable)");
  issue_cmd->add_option("--members", co.members_file, "A file of member ids, one per line (or CSV: the first column)");
  issue_cmd->add_option("--tier", co.tier, "Every member of this tier");
  issue_cmd->add_option("--kind", co.kind, "percent or amount")->required()->check(CLI::IsMember({"percent", "amount"}));
  issue_cmd->add_option("--value", co.value, "Basis points (percent) or minor units (amount)")->required();
  issue_cmd->add_option("--min-spend", co.min_spend, "Minimum spend on the coupon's lines, minor units");
  issue_cmd->add_option("--categories", co.categories, "Only these categories (comma-separated)");
  issue_cmd->add_option("--valid-from", co.valid_from, "Valid from this instant (ISO-8601 with offset)");
  issue_cmd->add_option("--valid-to", co.valid_to, "Valid until this instant (exclusive)");
  issue_cmd->add_option("--code", co.code, "The code, for one member (default: generated)");
  issue_cmd->add_option("--prefix", co.prefix, "Prefix of generated codes (default C)");
  issue_cmd->add_flag("--json", json, "Print JSON");
  CLI::App* stores_cmd = with_config(app.add_subcommand(
      "stores", "Each store's last sync, backlog, clock skew and flags; the stores registry (add, revoke, list)"));
  stores_cmd->add_flag("--json", json, "Print JSON");
  stores_cmd->require_subcommand(0, 1);
  std::string store_arg, cert_arg, fingerprint_arg;
  CLI::App* stores_add_cmd = stores_cmd->add_subcommand("add", "Register a store, or pin one of its certificates")->fallthrough();
  stores_add_cmd->add_option("STORE", store_arg, "The store id (its certificates' CN)")->required();
  stores_add_cmd->add_option("--cert", cert_arg, "Pin this certificate (PEM): the store is let in with pinned ones only");
  stores_add_cmd->add_option("--fingerprint", fingerprint_arg, "Pin the certificate of this SHA-256");
  CLI::App* stores_revoke_cmd =
      stores_cmd->add_subcommand("revoke", "Revoke a store, or one certificate of it (a stolen till's)")->fallthrough();
  stores_revoke_cmd->add_option("STORE", store_arg, "The store id")->required();
  stores_revoke_cmd->add_option("--cert", cert_arg, "Revoke this certificate (PEM) only");
  stores_revoke_cmd->add_option("--fingerprint", fingerprint_arg, "Revoke the certificate of this SHA-256 only");
  CLI::App* stores_list_cmd = stores_cmd->add_subcommand("list", "The stores registry")->fallthrough();
  stores_list_cmd->add_flag("--json", json, "Print JSON");
  CLI::App* member_cmd = with_config(app.add_subcommand("member", "One member: balance, lots, tier history, sales, flags"));
  member_cmd->add_option("ID", member_id, "Member id (or an alias a till made)")->required();
  member_cmd->add_flag("--json", json, "Print JSON");
  CLI::App* flags_cmd = with_config(app.add_subcommand("flags", "Re-check mismatches, coupon double uses, negative balances, future timestamps"));
  flags_cmd->add_flag("--all", all, "Closed flags too");
  flags_cmd->add_option("--limit", limit, "At most this many (newest first)")->check(CLI::Range(1, 100'000'000));
  flags_cmd->add_flag("--json", json, "Print JSON");

  CLI::App* held_cmd = with_config(app.add_subcommand(
      "held", "Transactions headquarters stored and did not apply: held for a cause that can go, or refused"));
  held_cmd->add_flag("--all", all, "Those applied since they were held too");
  held_cmd->add_option("--limit", limit, "At most this many (oldest first)")->check(CLI::Range(1, 100'000'000));
  held_cmd->add_flag("--json", json, "Print JSON");
  std::vector<std::string> held_ids;
  // The subcommands take --config from `held` (fallthrough).
  CLI::App* held_show_cmd = held_cmd->add_subcommand("show", "One held transaction, with its body")->fallthrough();
  held_show_cmd->add_option("ID", member_id, "Its id in the list, or its txn_id")->required();
  held_show_cmd->add_flag("--json", json, "Print JSON");
  CLI::App* held_retry_cmd =
      held_cmd->add_subcommand("retry", "Apply held transactions again, once their cause is fixed")->fallthrough();
  held_retry_cmd->add_option("ID", held_ids, "Their ids in the list, or txn_ids");
  held_retry_cmd->add_flag("--all", all, "Every held transaction, in the order they arrived");
  bool accept = false;
  held_retry_cmd->add_flag("--accept", accept,
                           "Override the reason each was held for: a receipt_conflict is applied as a sale (or refund) "
                           "of its own, a future_timestamp as dated when it arrived");
  held_retry_cmd->add_flag("--json", json, "Print JSON");

  bool renew = false;
  CLI::App* generation_cmd = with_config(app.add_subcommand(
      "generation", "The database's generation, which tills follow; --new after restoring it from a backup"));
  generation_cmd->add_flag("--new", renew, "Take a new one: tills start over and send again what they had sent");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (*serve_cmd) return serve(config, port_file);
    if (*rules_set_cmd) return rules_set(config, file);
    if (*import_cmd) return members_import(config, file);
    if (*list_cmd) return members_list(config, json, limit);
    if (*expire_cmd) return expire(config, now);
    if (*tiers_cmd) return tiers(config, now);
    if (*issue_cmd) return coupons_issue(config, co, json);
    if (*stores_add_cmd) return stores_add(config, store_arg, cert_arg, fingerprint_arg);
    if (*stores_revoke_cmd) return stores_revoke(config, store_arg, cert_arg, fingerprint_arg);
    if (*stores_list_cmd) return stores_list(config, json);
    if (*stores_cmd) return stores(config, json);
    if (*member_cmd) return member(config, member_id, json);
    if (*flags_cmd) return flags(config, all, limit, json);
    if (*held_show_cmd) return held_show(config, member_id, json);
    if (*held_retry_cmd) return held_retry(config, held_ids, all, accept, json);
    if (*held_cmd) return held(config, all, limit, json);
    if (*generation_cmd) return generation(config, renew);
  } catch (const CliError& e) {
    std::cerr << "loyalty-hq: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "loyalty-hq: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
