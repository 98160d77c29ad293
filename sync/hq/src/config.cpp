#include "loyalty/hq/config.hpp"

#include "loyalty/protocol/limits.hpp"

#include <fstream>
#include <sstream>

#include "loyalty/engine/json_reader.hpp"
#include "loyalty/till/config.hpp"

namespace loyalty::hq {
namespace {

using engine::detail::fail;
using engine::detail::ObjectReader;

std::filesystem::path path_in(ObjectReader& r, std::string_view key, const std::filesystem::path& base, bool must_exist) {
  std::filesystem::path p = r.string(key);
  if (p.is_relative()) p = base / p;
  if (must_exist) {
    std::ifstream in(p, std::ios::binary);
    if (!in) fail(r.path_of(key), "cannot be read: " + p.string());
  }
  return p;
}

// "127.0.0.1:8443", "[::1]:8443", "localhost:0"
void read_listen(const std::string& text, HqConfig& c) {
  std::string host;
  std::string port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
      fail("listen", "must be host:port, with an IPv6 host in brackets ([::1]:8443)");
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0) fail("listen", "must be host:port, like 127.0.0.1:8443");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string::npos) fail("listen", "an IPv6 host goes in brackets: [::1]:8443");
  }
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(port) > 65535)
    fail("listen", "the port must be 0..65535 (0: any free port)");
  c.listen_host = host;
  c.listen_port = static_cast<std::uint16_t>(std::stoi(port));
}

HqConfig read(const engine::detail::json& doc, const std::filesystem::path& base) {
  ObjectReader r(doc, "");
  HqConfig c;
  read_listen(r.string("listen"), c);
  // "database": the SQLite file; or "storage": {"kind": "sqlite", "path": ...} or
  // {"kind": "postgres", "url": ..., "connections": N}.
  if (const auto* storage = r.optional("storage")) {
    if (r.optional("database")) fail("database", "give database or storage, not both");
    ObjectReader s(*storage, "storage");
    const std::string kind = s.string("kind");
    if (kind == "sqlite") {
      c.database = path_in(s, "path", base, false);
    } else if (kind == "postgres") {
      c.storage = HqConfig::StorageKind::postgres;
      c.postgres_url = s.string("url");
      if (c.postgres_url.empty()) fail(s.path_of("url"), "must name the database (postgresql://user@host:port/name)");
      if (s.optional("connections"))
        c.postgres_connections = static_cast<std::int32_t>(s.integer("connections", 1, 256));
    } else {
      fail(s.path_of("kind"), "must be \"sqlite\" or \"postgres\"");
    }
    s.finish();
  } else {
    c.database = path_in(r, "database", base, false);
  }
  {
    ObjectReader t(r.required("tls"), "tls");
    c.cert_file = path_in(t, "cert_file", base, true);
    c.key_file = path_in(t, "key_file", base, true);
    c.ca_file = path_in(t, "ca_file", base, true);
    if (t.optional("crl_file")) c.crl_file = path_in(t, "crl_file", base, true);
    if (t.optional("ticket_key_file")) {
      // 80 bytes in hexadecimal (`openssl rand -hex 80`): a ticket one instance issued resumes at any.
      const auto p = path_in(t, "ticket_key_file", base, true);
      std::ifstream in(p, std::ios::binary);
      std::string hex;
      in >> hex;
      const auto fail_key = [&] {
        fail(t.path_of("ticket_key_file"), p.string() + " must hold 80 bytes in hexadecimal (openssl rand -hex 80)");
      };
      if (hex.size() != 160) fail_key();
      for (std::size_t i = 0; i < hex.size(); i += 2) {
        const auto nibble = [&](char ch) -> int {
          if (ch >= '0' && ch <= '9') return ch - '0';
          if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
          if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
          fail_key();
          return 0;
        };
        c.ticket_key.push_back(static_cast<std::uint8_t>(nibble(hex[i]) * 16 + nibble(hex[i + 1])));
      }
    }
    t.finish();
  }
  // The chain's key inline, or in a file of its own (readable by headquarters' user only).
  if (r.optional("code_key_file")) {
    if (r.optional("code_key")) fail("code_key", "give code_key or code_key_file, not both");
    const auto p = path_in(r, "code_key_file", base, true);
    std::ifstream in(p, std::ios::binary);
    std::string hex;
    in >> hex;
    c.code_key = till::parse_hex_key(hex, r.path_of("code_key_file") + " (" + p.string() + ")");
  } else {
    c.code_key = till::parse_hex_key(r.string("code_key"), "code_key");
  }
  c.enrollment_key_file = path_in(r, "enrollment_key_file", base, true);
  if (r.optional("threads")) c.threads = static_cast<std::int32_t>(r.integer("threads", 1, 64));
  if (const auto* workers = r.optional("workers")) {
    ObjectReader w(*workers, "workers");
    if (w.optional("batches")) c.batch_workers = static_cast<std::int32_t>(w.integer("batches", 1, 64));
    if (w.optional("reads")) c.read_workers = static_cast<std::int32_t>(w.integer("reads", 1, 64));
    w.finish();
  }
  if (const auto* limits = r.optional("limits")) {
    ObjectReader l(*limits, "limits");
    // At least the largest batch a till sends: a limit below it would refuse what tills make.
    if (l.optional("body_bytes"))
      c.body_limit = static_cast<std::uint64_t>(
          l.integer("body_bytes", static_cast<std::int64_t>(protocol::limits::kBatchBytes), 256 << 20));
    if (l.optional("timeout_seconds"))
      c.timeout_seconds = static_cast<std::int32_t>(l.integer("timeout_seconds", 1, 3600));
    if (l.optional("connections"))
      c.max_connections = static_cast<std::int32_t>(l.integer("connections", 1, 1'000'000));
    if (l.optional("handshake_seconds"))
      c.handshake_seconds = static_cast<std::int32_t>(l.integer("handshake_seconds", 1, 600));
    if (l.optional("handshakes_per_address"))
      c.handshakes_per_address = static_cast<std::int32_t>(l.integer("handshakes_per_address", 1, 1'000'000));
    if (l.optional("store_requests_per_second"))
      c.store_requests_per_second = static_cast<double>(l.integer("store_requests_per_second", 1, 1'000'000));
    if (l.optional("store_burst")) c.store_burst = static_cast<double>(l.integer("store_burst", 1, 1'000'000));
    if (l.optional("changes_page"))
      c.changes_page_limit = static_cast<std::int32_t>(l.integer("changes_page", 1, 10000));
    l.finish();
  }
  if (const auto* ledger = r.optional("ledger")) {
    ObjectReader l(*ledger, "ledger");
    if (l.optional("timer_seconds"))
      c.ledger_timer_seconds = static_cast<std::int32_t>(l.integer("timer_seconds", 0, 86400));
    if (l.optional("past_days")) c.past_days = static_cast<std::int32_t>(l.integer("past_days", 1, 3660));
    l.finish();
  }
  r.finish();
  return c;
}

}  // namespace

engine::Result<HqConfig> load_hq_config(const std::filesystem::path& path) { return till::load_json_config(path, read); }

}  // namespace loyalty::hq
