// Reading JSON documents with errors that name the path of the offending value, for the engine's
// documents and the wire's. Inside a parse a JsonError is thrown; each parse turns it into a Result at
// its boundary (see guarded()), so it never reaches a caller.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "loyalty/engine/json_writer.hpp"
#include "loyalty/engine/quote.hpp"
#include "loyalty/engine/result.hpp"
#include "loyalty/engine/time.hpp"

namespace loyalty::engine::detail {

using nlohmann::json;

struct JsonError {
  std::string message;
};

[[noreturn]] void fail(const std::string& path, std::string_view rule);

// Parses text; a syntax error (or invalid UTF-8) is a JsonError naming the byte.
json parse_json(std::string_view text, std::string_view what);

std::string index_path(const std::string& path, std::size_t i);

std::int64_t as_integer(const json& j, const std::string& path, std::int64_t lo, std::int64_t hi);
std::string as_string(const json& j, const std::string& path, bool allow_empty = false);
bool as_bool(const json& j, const std::string& path);
Instant as_instant(const json& j, const std::string& path);
const json& as_array(const json& j, const std::string& path);
std::vector<std::string> as_string_array(const json& j, const std::string& path);

// The members of one JSON object, each read at most once; finish() rejects any key nobody read.
class ObjectReader {
 public:
  ObjectReader(const json& j, std::string path);

  const json& required(std::string_view key);
  const json* optional(std::string_view key);  // absent or null: nullptr
  void skip(std::string_view key);              // a key that is allowed and not read
  std::string path_of(std::string_view key) const;
  void finish() const;

  // Each reads what is valid without making the key's path, which only an error names.
  std::int64_t integer(std::string_view key, std::int64_t lo, std::int64_t hi) {
    const json& j = required(key);
    if (j.is_number_integer()) {
      if (j.is_number_unsigned()) {
        const auto u = j.get<std::uint64_t>();
        if (hi >= 0 && u <= static_cast<std::uint64_t>(hi) && static_cast<std::int64_t>(u) >= lo)
          return static_cast<std::int64_t>(u);
      } else if (const auto v = j.get<std::int64_t>(); v >= lo && v <= hi) {
        return v;
      }
    }
    return as_integer(j, path_of(key), lo, hi);  // refuses it, by its path
  }
  std::string string(std::string_view key, bool allow_empty = false) {
    const json& j = required(key);
    if (j.is_string() && (allow_empty || !j.get_ref<const std::string&>().empty()))
      return j.get_ref<const std::string&>();
    return as_string(j, path_of(key), allow_empty);
  }
  Instant instant(std::string_view key) {
    const json& j = required(key);
    if (j.is_string())
      if (const auto t = parse_instant(j.get_ref<const std::string&>())) return *t;
    return as_instant(j, path_of(key));
  }
  std::optional<Instant> optional_instant(std::string_view key) {
    const json* j = optional(key);
    return j ? std::optional<Instant>(as_instant(*j, path_of(key))) : std::nullopt;
  }
  std::vector<std::string> strings(std::string_view key) {
    return as_string_array(required(key), path_of(key));
  }

 private:
  const json& j_;
  std::string path_;
  std::vector<std::string_view> seen_;
};

// The fields of a member record (the scenario format's "member") from a reader, which the caller
// finishes: documents that embed a member add keys of their own.
Member read_member_fields(ObjectReader& r);
// The fields of a coupon definition (kind, value, min_spend_minor, categories, valid_from, valid_to,
// used) for the coupon `code`.
Coupon read_coupon_fields(ObjectReader& r, std::string code);
// The fields of a member record and of a coupon definition, written into the object `w` is in.
void write_member_fields(JsonWriter& w, const Member& m);
void write_coupon_fields(JsonWriter& w, const Coupon& c);
// A quote as JSON: the keys of a scenario's "expect", and when `detailed` what a committed sale keeps
// besides ("member_discount_bp"; per line "points_earned" and "points_redeemed"). read_quote reads
// either form.
void write_quote(JsonWriter& w, const Quote& q, bool detailed);
// A quote's input as a committed sale keeps it (read_quote_input reads it).
void write_quote_input(JsonWriter& w, const QuoteInput& in);
Quote read_quote(const json& j, const std::string& path);
QuoteInput read_quote_input(const json& j, const std::string& path);

// Runs a parse, turning a JsonError (or any other exception of the parse) into an Error.
template <class F>
auto guarded(F&& f) -> Result<decltype(f())> {
  try {
    return f();
  } catch (const JsonError& e) {
    return Error{e.message};
  } catch (const std::exception& e) {
    return Error{std::string("(document): ") + e.what()};
  }
}

}  // namespace loyalty::engine::detail
