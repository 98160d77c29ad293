#include "loyalty/till/config.hpp"

#include <fstream>
#include <sstream>

#include "loyalty/engine/json_reader.hpp"
#include "loyalty/protocol/limits.hpp"

namespace loyalty::till {
namespace {

using engine::detail::fail;
using engine::detail::ObjectReader;

std::filesystem::path readable_file(ObjectReader& r, std::string_view key, const std::filesystem::path& base) {
  std::filesystem::path p = r.string(key);
  if (p.is_relative()) p = base / p;
  std::ifstream in(p, std::ios::binary);
  if (!in) fail(r.path_of(key), "cannot be read: " + p.string());
  return p;
}

TillConfig read_config(const engine::detail::json& doc, const std::filesystem::path& base) {
  ObjectReader r(doc, "");
  TillConfig c;
  c.data_dir = r.string("data_dir");
  if (c.data_dir.is_relative()) c.data_dir = base / c.data_dir;
  c.store_id = r.string("store_id");
  namespace limits = protocol::limits;
  if (!limits::is_store_id(c.store_id))
    fail("store_id", "must be 1.." + std::to_string(limits::kStoreId) + " letters, digits, '-' or '_'");
  c.till_id = r.string("till_id");
  if (!limits::is_till_id(c.till_id))
    fail("till_id", "must be 1.." + std::to_string(limits::kTillId) + " letters, digits, '-' or '_'");
  c.code_key = parse_hex_key(r.string("code_key"), "code_key");
  {
    ObjectReader hq(r.required("hq"), "hq");
    c.hq_url = hq.string("url");
    const auto host = c.hq_url.rfind("https://", 0) == 0 ? c.hq_url.substr(8) : std::string();
    if (host.empty() || host.front() == '/' || host.find_first_of(" \t") != std::string::npos)
      fail("hq.url", "must be an https:// URL with a host, like https://hq.example.com:8443");
    c.hq_ca_file = readable_file(hq, "ca_file", base);
    c.hq_cert_file = readable_file(hq, "cert_file", base);
    c.hq_key_file = readable_file(hq, "key_file", base);
    c.enrollment_key_file = readable_file(hq, "enrollment_key_file", base);
    hq.finish();
  }
  if (const auto* sync = r.optional("sync")) {
    ObjectReader s(*sync, "sync");
    if (s.optional("interval_seconds"))
      c.sync_interval_seconds = static_cast<std::int32_t>(s.integer("interval_seconds", 0, 86'400));
    if (s.optional("batch_size")) c.sync_batch_size = static_cast<std::int32_t>(s.integer("batch_size", 1, 1000));
    if (s.optional("timeout_seconds"))
      c.sync_timeout_seconds = static_cast<std::int32_t>(s.integer("timeout_seconds", 1, 600));
    if (s.optional("retention_days"))
      c.retention_days = static_cast<std::int32_t>(s.integer("retention_days", 1, 3660));
    s.finish();
  }
  r.finish();
  return c;
}

}  // namespace

std::vector<std::uint8_t> parse_hex_key(const std::string& hex, const std::string& path) {
  if (hex.size() < 64 || hex.size() % 2 != 0)
    fail(path, "must be at least 32 bytes written as an even number of hexadecimal digits");
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    unsigned v = 0;
    for (std::size_t k = i; k < i + 2; ++k) {
      const char c = hex[k];
      const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (d < 0) fail(path, "must be hexadecimal digits only");
      v = v * 16 + static_cast<unsigned>(d);
    }
    out.push_back(static_cast<std::uint8_t>(v));
  }
  return out;
}

engine::Result<std::pair<std::string, std::filesystem::path>> read_config_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return engine::Error{"configuration " + path.string() + ": cannot be read"};
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().size() > 1024 * 1024) return engine::Error{"configuration " + path.string() + ": larger than 1 MiB"};
  return std::make_pair(text.str(), path.has_parent_path() ? path.parent_path() : std::filesystem::path("."));
}

engine::Result<TillConfig> load_config(const std::filesystem::path& path) { return load_json_config(path, read_config); }

}  // namespace loyalty::till
