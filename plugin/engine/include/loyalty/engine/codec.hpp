// JSON documents of the engine: a quote's input (the scenario format) and its result.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "loyalty/engine/prompts.hpp"
#include "loyalty/engine/quote.hpp"
#include "loyalty/engine/result.hpp"

namespace loyalty::engine {

// Parses a quote's input in the format of the worked scenarios: "now", "member" (object or null),
// "basket", and optionally "redeem_points", "coupon" and "context". "name", "rules" and "expect" are
// read past; any other key is an error. A coupon given by its code alone is a code the till does not
// know (coupon_unknown).
Result<QuoteInput> parse_quote_input(std::string_view json_text);

// A member record as JSON (the scenario format's "member").
Result<Member> parse_member(std::string_view json_text);

// The quote as one JSON object whose keys are exactly those of a scenario's "expect".
std::string quote_to_json(const Quote& quote);

// Prompts as a JSON array of {code, ...figures}.
std::string prompts_to_json(const std::vector<Prompt>& prompts);

}  // namespace loyalty::engine
