// What `loyalty-hq stores`, `member ID` and `flags` print: a table for a person, or JSON (--json).
// Instants are shown in the rule set's offset.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "loyalty/hq/storage.hpp"

namespace loyalty::hq {

void print_stores(const std::vector<StoreRow>& stores, std::int64_t now_us, std::int32_t offset_minutes, bool json,
                  std::ostream& out);
void print_member(const MemberDetail& m, std::int32_t offset_minutes, bool json, std::ostream& out);
void print_flags(const std::vector<FlagRow>& flags, std::int32_t offset_minutes, bool json, std::ostream& out);
void print_registry(const std::vector<RegistryRow>& rows, std::int32_t offset_minutes, bool json, std::ostream& out);
// `held` lists (the body only with `with_body`: `held show`).
void print_held(const std::vector<HeldRow>& rows, std::int32_t offset_minutes, bool json, bool with_body,
                std::ostream& out);

// A coupon's definition as the engine reads it (kind, value, min_spend_minor, categories, validity),
// validated; an error names the option at fault.
std::string coupon_definition(const std::string& kind, std::int64_t value, std::int64_t min_spend,
                              const std::vector<std::string>& categories, const std::string& valid_from,
                              const std::string& valid_to);

}  // namespace loyalty::hq
