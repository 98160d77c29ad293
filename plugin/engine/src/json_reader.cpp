#include "loyalty/engine/json_reader.hpp"

#include <algorithm>
#include <functional>
#include <unordered_set>

namespace loyalty::engine::detail {

void fail(const std::string& path, std::string_view rule) {
  throw JsonError{(path.empty() ? std::string("(document)") : path) + ": " + std::string(rule)};
}

namespace {

// Tracks where the parser is, so that a repeated key can be named by its path: nlohmann keeps the
// last of two equal keys, and a rule set or a sale must never lose a value that way.
class DuplicateKeyGuard {
 public:
  // Every document of the engine is a few levels deep; a deeper one is refused before it costs memory.
  static constexpr int kMaxDepth = 32;

  bool operator()(int depth, json::parse_event_t event, json& parsed) {
    if (depth > kMaxDepth) fail(path(), "nested deeper than " + std::to_string(kMaxDepth) + " levels");
    switch (event) {
      case json::parse_event_t::object_start: frames_.emplace_back().array = false; break;
      case json::parse_event_t::array_start: frames_.emplace_back().array = true; break;
      case json::parse_event_t::key: {
        Frame& f = frames_.back();
        f.key = parsed.get<std::string>();
        if (!f.keys.insert(f.key).second) fail(path(), "duplicate key");
        break;
      }
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        frames_.pop_back();
        if (!frames_.empty() && frames_.back().array) ++frames_.back().index;
        break;
      case json::parse_event_t::value:
        if (!frames_.empty() && frames_.back().array) ++frames_.back().index;
        break;
    }
    return true;
  }

 private:
  struct Frame {
    bool array = false;
    std::size_t index = 0;
    std::string key;
    std::unordered_set<std::string> keys;
  };
  std::string path() const {
    std::string p;
    for (const Frame& f : frames_) {
      if (f.array) {
        p += "[" + std::to_string(f.index) + "]";
      } else {
        p += (p.empty() ? "" : ".") + f.key;
      }
    }
    return p;
  }
  std::vector<Frame> frames_;
};

}  // namespace

json parse_json(std::string_view text, std::string_view what) {
  try {
    DuplicateKeyGuard guard;
    return json::parse(text.begin(), text.end(), std::ref(guard));
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
  const std::string bounds = std::to_string(lo) + ".." + std::to_string(hi);
  const std::string range = any ? "must be an integer that fits in 64 bits" : "must be within " + bounds;
  if (!j.is_number_integer()) fail(path, any ? "must be an integer" : "must be an integer within " + bounds);
  if (j.is_number_unsigned()) {
    const auto u = j.get<std::uint64_t>();
    if (hi < 0 || u > static_cast<std::uint64_t>(hi)) fail(path, range);
    if (const auto v = static_cast<std::int64_t>(u); v >= lo) return v;
    fail(path, range);
  }
  const auto v = j.get<std::int64_t>();
  if (v < lo || v > hi) fail(path, range);
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
