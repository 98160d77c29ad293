// JSON written as it is produced, without a document built first: the text of a committed sale's
// transaction, a quote or a changes page costs one pass over its values. The text is what
// nlohmann::ordered_json's dump() gives for the same values (no whitespace, UTF-8 kept as it is, the
// same escapes), so that a digest or a stored body reads the same whichever wrote it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace loyalty::engine::detail {

// An object key known when the program is compiled, checked then to need no escape: written as it is.
class JsonKey {
 public:
  template <std::size_t N>
  consteval JsonKey(const char (&s)[N]) : text_(s, N - 1) {  // NOLINT: implicit, for literals
    for (const char c : text_) {
      const auto u = static_cast<unsigned char>(c);
      if (u < 0x20 || u >= 0x80 || c == '"' || c == '\\') throw "a JsonKey is plain ASCII that needs no escape";
    }
  }
  std::string_view text() const { return text_; }

 private:
  std::string_view text_;
};

class JsonWriter {
 public:
  JsonWriter() = default;
  explicit JsonWriter(std::size_t expected_bytes) { out_.resize(expected_bytes); }

  JsonWriter& begin_object() { return open('{'); }
  JsonWriter& end_object() { return close('}'); }
  JsonWriter& begin_array() { return open('['); }
  JsonWriter& end_array() { return close(']'); }
  // The key of the next value in the object being written.
  JsonWriter& key(JsonKey k);
  JsonWriter& key_text(std::string_view k);  // a key made at run time: escaped like a value

  // A string; bytes that are not valid UTF-8 are written as U+FFFD, one for each.
  JsonWriter& value(std::string_view s);
  JsonWriter& value(const char* s) { return value(std::string_view(s)); }
  JsonWriter& value(const std::string& s) { return value(std::string_view(s)); }
  JsonWriter& value(std::int64_t v);
  JsonWriter& value(std::int32_t v) { return value(std::int64_t{v}); }
  JsonWriter& value(bool v);
  JsonWriter& value(const std::optional<std::string>& s);  // null when empty
  JsonWriter& null();
  // An already written JSON value, as it is.
  JsonWriter& raw(std::string_view json);

  template <class T>
  JsonWriter& field(JsonKey k, const T& v) {
    key(k);
    return value(v);
  }

  std::string_view text() const { return {out_.data(), size_}; }
  std::string take() {
    out_.resize(size_);
    size_ = 0;
    return std::move(out_);
  }

 private:
  JsonWriter& open(char bracket);
  JsonWriter& close(char bracket);
  void separate();  // the comma before a value or key that is not its container's first
  // Room for n more bytes at the end of the text, to be written there.
  char* room(std::size_t n) {
    if (out_.size() - size_ < n) grow(n);
    char* p = out_.data() + size_;
    size_ += n;
    return p;
  }
  void grow(std::size_t n);
  void put(char c) { *room(1) = c; }
  void put(std::string_view s);

  std::string out_;  // the text is its first size_ bytes; the rest is room
  std::size_t size_ = 0;
  std::vector<unsigned char> first_;  // per open container: nothing written in it yet
  bool after_key_ = false;
};

}  // namespace loyalty::engine::detail
