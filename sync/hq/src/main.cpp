// loyalty-hq: headquarters. `serve` runs the HTTPS endpoints the tills sync with; the other commands
// administer the same database.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>

#include "admin.hpp"
#include "loyalty/engine/rules.hpp"
#include "loyalty/hq/config.hpp"
#include "loyalty/hq/server.hpp"
#include "loyalty/hq/service.hpp"
#include "loyalty/hq/storage.hpp"

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
  h.storage = hq::open_sqlite_storage(h.config.database.string(), *h.opener, serving);
  return h;
}

std::string format_instant(const std::optional<engine::Instant>& t) { return t ? engine::format_instant(*t) : "-"; }

int serve(const std::string& config_path, const std::string& port_file) {
  Hq h = open_hq(config_path, true);
  hq::Service service(*h.storage, h.config, log_line);
  hq::run_server(h.config, service, log_line, [&](std::uint16_t port) {
    log_line("listening on https://" + h.config.listen_host + ":" + std::to_string(port) + " (database " +
             h.config.database.string() + ")");
    if (!port_file.empty()) {
      const std::string tmp = port_file + ".tmp";
      std::ofstream(tmp) << port << "\n";
      std::rename(tmp.c_str(), port_file.c_str());
    }
  });
  return 0;
}

int rules_set(const std::string& config_path, const std::string& file) {
  const std::string json = read_file(file, 1 << 20);
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
      nlohmann::ordered_json j = {{"id", m.id}, {"version", m.version}, {"name", m.name}, {"phone", m.phone},
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
    std::printf("%-28s %-16s %-8s %10lld %9lld  %-32s %lld\n", m.id.c_str(), m.name.c_str(), m.tier.c_str(),
                static_cast<long long>(m.points), static_cast<long long>(m.purchases),
                format_instant(m.last_purchase_at).c_str(), static_cast<long long>(m.version));
    for (const auto& a : m.aliases) std::printf("  also known as %s (enrolled at a till)\n", a.c_str());
  }
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
  CLI::App* list_cmd = with_config(members_cmd->add_subcommand("list", "Members as headquarters holds them"));
  list_cmd->add_flag("--json", json, "Print JSON");
  list_cmd->add_option("--limit", limit, "At most this many")->check(CLI::Range(1, 100'000'000));

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
  } catch (const CliError& e) {
    std::cerr << "loyalty-hq: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "loyalty-hq: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
