// loyalty-till: the reference till. A thin shell: every decision is the engine's.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "loyalty/engine/codec.hpp"
#include "loyalty/engine/quote.hpp"
#include "loyalty/engine/rules.hpp"
#include "cli_support.hpp"
#include "receipt.hpp"
#include "till_commands.hpp"

namespace {

constexpr int kExitInvalid = 2;

using loyalty::till_cli::CliError;
using loyalty::till_cli::read_file;

int quote_command(const std::string& rules_path, const std::string& scenario_path, const std::string& format) {
  auto rules = loyalty::engine::load_rules(read_file(rules_path));
  if (!rules) throw CliError(rules_path + ": " + rules.error().message);
  auto input = loyalty::engine::parse_quote_input(read_file(scenario_path));
  if (!input) throw CliError(scenario_path + ": " + input.error().message);
  auto quote = loyalty::engine::quote(*rules, *input);
  if (!quote) throw CliError(scenario_path + ": " + quote.error().message);
  if (format == "receipt") {
    std::cout << loyalty::till::render_receipt(*rules, *input, *quote);
  } else {
    std::cout << loyalty::engine::quote_to_json(*quote) << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"loyalty-till: the reference till of the loyalty plugin.\n"
               "quote runs the rules engine on a scenario; the other commands drive libloyalty through its C header."};
  app.require_subcommand(1);

  std::string rules_path, scenario_path, format = "json";
  CLI::App* quote = app.add_subcommand("quote", "Quote a scenario's basket with a rule set (the engine alone)");
  quote->add_option("--rules", rules_path, "Rule set (JSON)")->required();
  quote->add_option("--scenario", scenario_path, "Scenario: now, member, basket, coupon, redemption (JSON)")
      ->required();
  quote->add_option("--format", format, "json (the quote's fields) or receipt (for a person)")
      ->check(CLI::IsMember({"json", "receipt"}));

  loyalty::till_cli::Options o;
  const auto till_command = [&](const char* name, const char* help) {
    CLI::App* c = app.add_subcommand(name, help);
    c->add_option("--config", o.config, "The till's configuration file (JSON)")->required();
    c->add_flag("--json", o.json, "Print JSON instead of text for a person");
    return c;
  };
  std::string file, code, receipt, refund_id, at, sale_store;
  std::vector<std::string> refund_lines;
  CLI::App* rules = till_command("rules", "Install a rule set");
  rules->add_option("FILE", file, "Rule set (JSON)")->required();
  CLI::App* import = till_command("import", "Apply a member-changes document (seeds the cache)");
  import->add_option("FILE", file, "Changes document (JSON, docs/protocol.md)")->required();
  CLI::App* lookup = till_command("lookup", "Look a member up by card code or phone number");
  lookup->add_option("CODE", code, "Scanned or typed code")->required();
  lookup->add_option("--at", at, "Read the prompts as of this ISO-8601 time instead of now");
  CLI::App* checkout = till_command("checkout", "Run a scripted sale and commit it");
  checkout->add_option("FILE", file, "Sale script (JSON: receipt_id, at, member or enroll, lines, coupon, redeem_points)")
      ->required();
  CLI::App* refund = till_command("refund", "Refund a committed sale, whole or by line");
  refund->add_option("--receipt", receipt, "Receipt id of the sale")->required();
  refund->add_option("--refund-id", refund_id, "The POS's id of this refund")->required();
  refund->add_option("--line", refund_lines, "LINE_ID:UNITS to return (repeat); none: everything left");
  refund->add_option("--store", sale_store, "The store the sale was made at, when it is another store (fetched from headquarters)");
  till_command("status", "The till's outbox, cache and sync state");
  CLI::App* sync = till_command("sync", "Sync with headquarters now: the outbox up, member changes and rules down");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (*quote) return quote_command(rules_path, scenario_path, format);
    if (*rules) return loyalty::till_cli::apply_rules(o, file);
    if (*import) return loyalty::till_cli::import_changes(o, file);
    if (*lookup) return loyalty::till_cli::lookup(o, code, at);
    if (*checkout) return loyalty::till_cli::checkout(o, file);
    if (*refund) {
      std::vector<std::pair<std::string, long long>> lines;
      for (const std::string& l : refund_lines) {
        const auto colon = l.rfind(':');
        if (colon == std::string::npos || colon == 0) throw CliError("--line takes LINE_ID:UNITS, not " + l);
        lines.emplace_back(l.substr(0, colon), std::stoll(l.substr(colon + 1)));
      }
      return loyalty::till_cli::refund(o, receipt, refund_id, lines, sale_store);
    }
    if (*sync) return loyalty::till_cli::sync(o);
    return loyalty::till_cli::status(o);
  } catch (const CliError& e) {
    std::cerr << "loyalty-till: " << e.what() << "\n";
    return kExitInvalid;
  } catch (const std::exception& e) {
    std::cerr << "loyalty-till: " << e.what() << "\n";
    return 1;
  }
}
