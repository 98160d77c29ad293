// The till's configuration file (docs/configuration.md), validated in full when the till opens.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "loyalty/engine/json_reader.hpp"
#include "loyalty/engine/result.hpp"

namespace loyalty::till {

struct TillConfig {
  std::filesystem::path data_dir;
  std::string store_id;
  std::string till_id;
  std::vector<std::uint8_t> code_key;  // the chain's key for hashing member codes (>= 32 bytes)
  std::string hq_url;                  // https://host[:port]
  std::filesystem::path hq_ca_file, hq_cert_file, hq_key_file;
  std::filesystem::path enrollment_key_file;  // headquarters' public key (PEM, RSA) for enrollments
  std::int32_t sync_interval_seconds = 30;    // 0: no background sync
  std::int32_t sync_batch_size = 500;         // outbox entries in one batch
  std::int32_t sync_timeout_seconds = 10;     // each network step; a batch adds 20 ms per entry
  // How long what headquarters has applied is kept (refunds of this till's own sales within it need
  // no network; a headquarters restored from an older backup gets no more of it again).
  std::int32_t retention_days = 90;
};

// Reads and validates the configuration at `path`. Relative paths in it are read from the file's own
// folder. Every file it names must be readable now. Errors name the key: "hq.ca_file: cannot be read".
engine::Result<TillConfig> load_config(const std::filesystem::path& path);

// A configuration file's text (at most 1 MiB) and the folder its relative paths are read from; an
// error says "configuration PATH: ...".
engine::Result<std::pair<std::string, std::filesystem::path>> read_config_file(const std::filesystem::path& path);

// Reads a JSON configuration file and hands it to `read(document, folder)`, which throws JsonError
// (engine::detail::fail) naming the key at fault; every error says "configuration PATH: ...".
template <class F>
auto load_json_config(const std::filesystem::path& path, F&& read)
    -> engine::Result<decltype(read(std::declval<const engine::detail::json&>(), std::filesystem::path()))> {
  auto file = read_config_file(path);
  if (!file) return file.error();
  auto r = engine::detail::guarded(
      [&] { return read(engine::detail::parse_json(file->first, "configuration"), file->second); });
  if (!r) return engine::Error{"configuration " + path.string() + ": " + r.error().message};
  return r;
}

// A key of at least 32 bytes written in hexadecimal; inside a document parse (engine::detail::guarded)
// an error names `path`.
std::vector<std::uint8_t> parse_hex_key(const std::string& hex, const std::string& path);

}  // namespace loyalty::till
