// Shared helpers of the engine tests: the bundled data and small builders.
#pragma once

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "loyalty/engine/codec.hpp"
#include "loyalty/engine/quote.hpp"
#include "loyalty/engine/rules.hpp"

namespace loyalty::test {

inline std::filesystem::path data_dir() { return LOYALTY_TEST_DATA; }

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

inline const engine::RuleSet& demo_rules() {
  static const engine::RuleSet rules = [] {
    auto r = engine::load_rules(read_file(data_dir() / "rules" / "demo-chain.json"));
    if (!r) throw std::runtime_error(r.error().message);
    return std::move(r).value();
  }();
  return rules;
}

inline engine::Instant at(const char* text) {
  auto t = engine::parse_instant(text);
  if (!t) throw std::runtime_error(std::string("bad instant in test: ") + text);
  return *t;
}

inline engine::Member member(std::string tier, std::int64_t purchases = 5, std::int64_t points = 0) {
  engine::Member m;
  m.id = "M-1";
  m.tier = std::move(tier);
  m.purchases = purchases;
  m.points = points;
  return m;
}

inline engine::Line line(std::string id, std::string category, engine::Minor amount, std::int64_t qty = 1) {
  return engine::Line{id, "SKU-" + id, std::move(category), qty, amount};
}

// Quotes and fails the test with the engine's message when the quote is an error.
inline engine::Quote must_quote(const engine::QuoteInput& in, const engine::RuleSet& rules = demo_rules()) {
  auto q = engine::quote(rules, in);
  if (!q) throw std::runtime_error("quote failed: " + q.error().message);
  return std::move(q).value();
}

}  // namespace loyalty::test
