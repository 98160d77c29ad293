#include "loyalty/engine/json_writer.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>

namespace loyalty::engine::detail {
namespace {

// The length of the valid UTF-8 sequence at s[i] (RFC 3629: no overlongs, no surrogates, at most
// U+10FFFF), or 0 when the byte there starts none.
std::size_t utf8_length(std::string_view s, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  const auto cont = [&](std::size_t k, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
    return k < s.size() && b(k) >= lo && b(k) <= hi;
  };
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(i + 1) ? 2 : 0;
  if (c == 0xE0) return cont(i + 1, 0xA0) && cont(i + 2) ? 3 : 0;
  if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) return cont(i + 1) && cont(i + 2) ? 3 : 0;
  if (c == 0xED) return cont(i + 1, 0x80, 0x9F) && cont(i + 2) ? 3 : 0;
  if (c == 0xF0) return cont(i + 1, 0x90) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  if (c >= 0xF1 && c <= 0xF3) return cont(i + 1) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  if (c == 0xF4) return cont(i + 1, 0x80, 0x8F) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  return 0;
}

// The bytes a string holds as they are: printable ASCII but the quote and the backslash.
constexpr auto kPlain = [] {
  std::array<bool, 256> plain{};
  for (int c = 0x20; c < 0x80; ++c) plain[static_cast<std::size_t>(c)] = c != '"' && c != '\\';
  return plain;
}();

}  // namespace

void JsonWriter::grow(std::size_t n) { out_.resize(std::max({out_.size() * 2, size_ + n, std::size_t{256}})); }

void JsonWriter::put(std::string_view s) {
  if (!s.empty()) std::memcpy(room(s.size()), s.data(), s.size());
}

void JsonWriter::separate() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (first_.empty()) return;
  if (!first_.back()) put(',');
  first_.back() = 0;
}

JsonWriter& JsonWriter::open(char bracket) {
  separate();
  put(bracket);
  first_.push_back(1);
  return *this;
}

JsonWriter& JsonWriter::close(char bracket) {
  put(bracket);
  first_.pop_back();
  return *this;
}

JsonWriter& JsonWriter::key(JsonKey k) {
  separate();
  const std::string_view t = k.text();
  char* p = room(t.size() + 3);
  *p++ = '"';
  std::memcpy(p, t.data(), t.size());
  p += t.size();
  *p++ = '"';
  *p = ':';
  after_key_ = true;
  return *this;
}

JsonWriter& JsonWriter::key_text(std::string_view k) {
  value(k);
  put(':');
  after_key_ = true;
  return *this;
}

JsonWriter& JsonWriter::value(std::string_view s) {
  separate();
  static const char* const hex = "0123456789abcdef";
  put('"');
  std::size_t i = 0;
  while (i < s.size()) {
    // A run of bytes written as they are, at once.
    std::size_t j = i;
    while (j < s.size() && kPlain[static_cast<unsigned char>(s[j])]) ++j;
    put(s.substr(i, j - i));
    i = j;
    if (i == s.size()) break;
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const std::size_t n = utf8_length(s, i);
      if (n == 0) {
        put("\xEF\xBF\xBD");
        ++i;
      } else {
        put(s.substr(i, n));
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"': put("\\\""); break;
      case '\\': put("\\\\"); break;
      case '\b': put("\\b"); break;
      case '\f': put("\\f"); break;
      case '\n': put("\\n"); break;
      case '\r': put("\\r"); break;
      case '\t': put("\\t"); break;
      default:
        put("\\u00");
        put(hex[c >> 4]);
        put(hex[c & 15]);
    }
    ++i;
  }
  put('"');
  return *this;
}

JsonWriter& JsonWriter::value(std::int64_t v) {
  separate();
  constexpr std::size_t kMost = 20;  // "-9223372036854775808"
  char* p = room(kMost);
  const auto r = std::to_chars(p, p + kMost, v);
  size_ -= kMost - static_cast<std::size_t>(r.ptr - p);
  return *this;
}

JsonWriter& JsonWriter::value(bool v) {
  separate();
  put(v ? "true" : "false");
  return *this;
}

JsonWriter& JsonWriter::value(const std::optional<std::string>& s) { return s ? value(*s) : null(); }

JsonWriter& JsonWriter::null() {
  separate();
  put("null");
  return *this;
}

JsonWriter& JsonWriter::raw(std::string_view json) {
  separate();
  put(json);
  return *this;
}

}  // namespace loyalty::engine::detail
