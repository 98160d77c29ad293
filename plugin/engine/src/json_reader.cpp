#include "loyalty/engine/json_reader.hpp"

#include <algorithm>
#include <functional>
#include <unordered_set>

namespace loyalty::engine::detail {

void fail(const std::string& path, std::string_view rule) {
  throw JsonError{(path.empty() ? std::string("(document)") : path) + ": " + std::string(rule)};
}

namespace {

// Builds the document as nlohmann's own parser does, refusing a repeated key (nlohmann keeps the
// last of two equal keys, and a rule set or a sale must never lose a value that way) and a document
// nested deeper than kMaxDepth, each named by its path. A SAX handler of nlohmann's: no callback per
// event and no copy of each key, which the batches headquarters reads (500 sales each) pay for.
class DomBuilder {
 public:
  // Every document of the engine is a few levels deep; a deeper one is refused before it costs memory.
  static constexpr std::size_t kMaxDepth = 32;

  explicit DomBuilder(json& root) : root_(root) {}

  bool null() { return put(nullptr); }
  bool boolean(bool v) { return put(v); }
  bool number_integer(json::number_integer_t v) { return put(v); }
  bool number_unsigned(json::number_unsigned_t v) { return put(v); }
  bool number_float(json::number_float_t v, const json::string_t&) { return put(v); }
  bool string(json::string_t& v) { return put(std::move(v)); }
  bool binary(json::binary_t& v) { return put(json::binary(std::move(v))); }
  bool start_object(std::size_t) { return open(json::value_t::object); }
  bool start_array(std::size_t) { return open(json::value_t::array); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool key(json::string_t& k) {
    deep_enough();
    Frame& f = frames_.back();
    auto [it, fresh] = f.value->get_ref<json::object_t&>().emplace(std::move(k), nullptr);
    if (!fresh) {
      f.key = nullptr;
      duplicate_ = &it->first;
      fail(path(), "duplicate key");
    }
    f.key = &it->first;
    slot_ = &it->second;
    return true;
  }
  // What nlohmann's parser would have thrown, of the same type.
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) {
    if (const auto* p = dynamic_cast<const json::parse_error*>(&e)) throw *p;
    if (const auto* o = dynamic_cast<const json::out_of_range*>(&e)) throw *o;
    if (const auto* t = dynamic_cast<const json::type_error*>(&e)) throw *t;
    if (const auto* i = dynamic_cast<const json::invalid_iterator*>(&e)) throw *i;
    if (const auto* x = dynamic_cast<const json::other_error*>(&e)) throw *x;
    throw JsonError{std::string("not valid JSON (") + e.what() + ")"};
  }

 private:
  struct Frame {
    json* value;
    const std::string* key = nullptr;  // an object's current key
  };
  void deep_enough() const {
    if (frames_.size() > kMaxDepth) fail(path(), "nested deeper than " + std::to_string(kMaxDepth) + " levels");
  }
  // Where the next value goes.
  json* place() {
    if (frames_.empty()) return &root_;
    json& top = *frames_.back().value;
    if (top.is_array()) {
      top.get_ref<json::array_t&>().emplace_back();
      return &top.get_ref<json::array_t&>().back();
    }
    return slot_;
  }
  template <class V>
  bool put(V&& v) {
    deep_enough();
    *place() = json(std::forward<V>(v));
    return true;
  }
  bool open(json::value_t type) {
    deep_enough();
    json* p = place();
    *p = json(type);
    frames_.push_back(Frame{p});
    return true;
  }
  bool close() {
    frames_.pop_back();
    return true;
  }
  // As the path of ObjectReader: key.key[index]. An array's index is that of the element being
  // read; an object's key is the one being read (or the repeated one).
  std::string path() const {
    std::string p;
    for (std::size_t i = 0; i < frames_.size(); ++i) {
      const json& v = *frames_[i].value;
      if (v.is_array()) {
        const std::size_t n = v.size();
        p += "[" + std::to_string(i + 1 < frames_.size() ? n - 1 : n) + "]";
      } else {
        const std::string* k = i + 1 == frames_.size() && duplicate_ ? duplicate_ : frames_[i].key;
        p += (p.empty() ? "" : ".") + (k ? *k : std::string());
      }
    }
    return p;
  }

  json& root_;
  std::vector<Frame> frames_;
  json* slot_ = nullptr;                    // the value of the object's key just read
  const std::string* duplicate_ = nullptr;  // a repeated key, for its path
};

}  // namespace

json parse_json(std::string_view text, std::string_view what) {
  try {
    json root;
    DomBuilder builder(root);
    json::sax_parse(text.begin(), text.end(), &builder);
    return root;
  } catch (const json::parse_error& e) {
    std::string msg = e.what();
    // nlohmann's text is "[json.exception.parse_error.101] parse error at ...": keep the useful part.
    if (const auto at = msg.find("parse error"); at != std::string::npos) msg = msg.substr(at);
    throw JsonError{std::string(what) + ": not valid JSON (" + msg + ")"};
  }
}

std::string index_path(const std::string& path, std::size_t i) {
  return path + "[" + std::to_string(i) + "]";
}

std::int64_t as_integer(const json& j, const std::string& path, std::int64_t lo, std::int64_t hi) {
  const bool any = lo == INT64_MIN && hi == INT64_MAX;
  const auto bounds = [&] { return std::to_string(lo) + ".." + std::to_string(hi); };
  const auto range = [&] { return any ? std::string("must be an integer that fits in 64 bits") : "must be within " + bounds(); };
  if (!j.is_number_integer()) fail(path, any ? "must be an integer" : "must be an integer within " + bounds());
  if (j.is_number_unsigned()) {
    const auto u = j.get<std::uint64_t>();
    if (hi < 0 || u > static_cast<std::uint64_t>(hi)) fail(path, range());
    if (const auto v = static_cast<std::int64_t>(u); v >= lo) return v;
    fail(path, range());
  }
  const auto v = j.get<std::int64_t>();
  if (v < lo || v > hi) fail(path, range());
  return v;
}

std::string as_string(const json& j, const std::string& path, bool allow_empty) {
  if (!j.is_string()) fail(path, "must be a string");
  auto s = j.get<std::string>();
  if (!allow_empty && s.empty()) fail(path, "must not be empty");
  return s;
}

bool as_bool(const json& j, const std::string& path) {
  if (!j.is_boolean()) fail(path, "must be true or false");
  return j.get<bool>();
}

Instant as_instant(const json& j, const std::string& path) {
  if (!j.is_string()) fail(path, "must be an ISO-8601 timestamp string with an offset");
  const auto t = parse_instant(j.get_ref<const std::string&>());
  if (!t) fail(path, "must be an ISO-8601 timestamp with an offset, like 2026-05-03T10:00:00+08:00");
  return *t;
}

const json& as_array(const json& j, const std::string& path) {
  if (!j.is_array()) fail(path, "must be an array");
  return j;
}

std::vector<std::string> as_string_array(const json& j, const std::string& path) {
  as_array(j, path);
  std::vector<std::string> out;
  out.reserve(j.size());
  for (std::size_t i = 0; i < j.size(); ++i) out.push_back(as_string(j[i], index_path(path, i)));
  return out;
}

ObjectReader::ObjectReader(const json& j, std::string path) : j_(j), path_(std::move(path)) {
  if (!j_.is_object()) fail(path_, "must be a JSON object");
}

std::string ObjectReader::path_of(std::string_view key) const {
  return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
}

const json* ObjectReader::optional(std::string_view key) {
  seen_.push_back(key);
  const auto it = j_.find(key);
  if (it == j_.end() || it->is_null()) return nullptr;
  return &*it;
}

const json& ObjectReader::required(std::string_view key) {
  seen_.push_back(key);
  const auto it = j_.find(key);
  if (it == j_.end()) fail(path_of(key), "is required");
  return *it;
}

void ObjectReader::skip(std::string_view key) { seen_.push_back(key); }

void ObjectReader::finish() const {
  for (const auto& item : j_.items()) {
    if (std::find(seen_.begin(), seen_.end(), std::string_view(item.key())) == seen_.end())
      fail(path_of(item.key()), "is not a known key");
  }
}

}  // namespace loyalty::engine::detail
