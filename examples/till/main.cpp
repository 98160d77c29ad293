// loyalty-till: the reference till. A thin shell: every decision is the engine's.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "loyalty/engine/codec.hpp"
#include "loyalty/engine/quote.hpp"
#include "loyalty/engine/rules.hpp"
#include "receipt.hpp"

namespace {

constexpr int kExitInvalid = 2;
constexpr std::size_t kMaxFileBytes = 16 * 1024 * 1024;

struct Failure {
  std::string message;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Failure{path + ": cannot be read"};
  std::ostringstream s;
  s << in.rdbuf();
  std::string text = s.str();
  if (text.size() > kMaxFileBytes) throw Failure{path + ": larger than 16 MiB"};
  return text;
}

int quote_command(const std::string& rules_path, const std::string& scenario_path, const std::string& format) {
  auto rules = loyalty::engine::load_rules(read_file(rules_path));
  if (!rules) throw Failure{rules_path + ": " + rules.error().message};
  auto input = loyalty::engine::parse_quote_input(read_file(scenario_path));
  if (!input) throw Failure{scenario_path + ": " + input.error().message};
  auto quote = loyalty::engine::quote(*rules, *input);
  if (!quote) throw Failure{scenario_path + ": " + quote.error().message};
  if (format == "receipt") {
    std::cout << loyalty::till::render_receipt(*rules, *input, *quote);
  } else {
    std::cout << loyalty::engine::quote_to_json(*quote) << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"loyalty-till: the reference till of the loyalty plugin"};
  app.require_subcommand(1);

  std::string rules_path, scenario_path, format = "json";
  CLI::App* quote = app.add_subcommand("quote", "Quote a scenario's basket with a rule set");
  quote->add_option("--rules", rules_path, "Rule set (JSON)")->required();
  quote->add_option("--scenario", scenario_path, "Scenario: now, member, basket, coupon, redemption (JSON)")
      ->required();
  quote->add_option("--format", format, "json (the quote's fields) or receipt (for a person)")
      ->check(CLI::IsMember({"json", "receipt"}));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (*quote) return quote_command(rules_path, scenario_path, format);
  } catch (const Failure& f) {
    std::cerr << "loyalty-till: " << f.message << "\n";
    return kExitInvalid;
  } catch (const std::exception& e) {
    std::cerr << "loyalty-till: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
