// loyalty-hq's configuration file (docs/headquarters.md), validated in full at start.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "loyalty/engine/result.hpp"

namespace loyalty::hq {

struct HqConfig {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 8443;  // 0: any free port (reported on start)
  // Where the ledger is kept: one SQLite file (the embedded default), or a PostgreSQL database that
  // several instances share.
  enum class StorageKind { sqlite, postgres };
  StorageKind storage = StorageKind::sqlite;
  std::filesystem::path database;   // sqlite: the file
  std::string postgres_url;         // postgres: a libpq connection string or URI
  std::int32_t postgres_connections = 0;  // postgres: connections held open (0: the workers' and the timer's)
  std::filesystem::path cert_file, key_file, ca_file;  // headquarters' TLS identity, and the chain's CA
  std::vector<std::uint8_t> code_key;                 // the chain's key for member code hashes
  std::filesystem::path enrollment_key_file;          // RSA private key (PEM) that opens enrollments
  std::int32_t threads = 2;         // threads serving connections: TLS, HTTP, never storage
  std::int32_t batch_workers = 2;   // threads applying batches
  std::int32_t read_workers = 2;    // threads answering reads (changes, rules, sales, health, metrics)
  std::uint64_t body_limit = 8 * 1024 * 1024;         // bytes of one request body
  std::int32_t timeout_seconds = 30;                  // each read or write of a request or answer
  std::int32_t changes_page_limit = 1000;             // most records in one changes page
  std::int32_t max_connections = 4096;                // connections open at once; more are closed at once
  std::int32_t handshake_seconds = 10;                // a TLS handshake not done by then is closed
  std::int32_t handshakes_per_address = 64;           // connections of one address still in their handshake
  double store_requests_per_second = 20;              // each store's requests, on average (429 past it)
  double store_burst = 200;                           // ... and at once
  std::filesystem::path crl_file;                     // optional: revoked certificates of the chain's CA (PEM)
  std::vector<std::uint8_t> ticket_key;               // optional: the session ticket key every instance shares (80 bytes)
  // How often `serve` looks for the ledger's daily work (the tier pass once a day in the rules'
  // offset, and expiry of due lots); 0: never (the `tiers` and `expire` commands do it).
  std::int32_t ledger_timer_seconds = 60;
  // A sale dated more than this many days before headquarters receives it is flagged
  // (past_timestamp), and its points expire as if earned when it arrived.
  std::int32_t past_days = 30;
};

engine::Result<HqConfig> load_hq_config(const std::filesystem::path& path);

}  // namespace loyalty::hq
