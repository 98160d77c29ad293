// A quote as a person reads it at the till.
#pragma once

#include <string>

#include "loyalty/engine/quote.hpp"
#include "loyalty/engine/rules.hpp"

namespace loyalty::till {

// An amount of minor units in currency units ("CNY 299.00"), exact for any minor_per_unit that is a
// power of ten; other currencies are shown in minor units.
std::string format_money(const engine::RuleSet& rules, engine::Minor minor);

// The receipt of a quote: lines, reductions, payable and points, with refusals explained.
std::string render_receipt(const engine::RuleSet& rules, const engine::QuoteInput& input, const engine::Quote& quote);

}  // namespace loyalty::till
