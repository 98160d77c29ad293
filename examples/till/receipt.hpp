// A quote as a person reads it at the till.
#pragma once

#include <string>

#include "loyalty/engine/quote.hpp"
#include "loyalty/engine/rules.hpp"

namespace loyalty::till {

// The receipt of a quote: lines, reductions, payable and points, with refusals explained.
std::string render_receipt(const engine::RuleSet& rules, const engine::QuoteInput& input, const engine::Quote& quote);

}  // namespace loyalty::till
