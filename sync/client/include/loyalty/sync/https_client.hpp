// A small HTTPS client for the till's sync: one kept-alive connection to headquarters, mutual TLS,
// a timeout on every request. Beast and Asio stay in the .cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

namespace loyalty::sync {

// Headquarters could not be reached, the TLS handshake failed, or the connection broke or timed out.
class NetworkError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct TlsFiles {
  std::filesystem::path ca_file;    // the chain's CA: headquarters' certificate must chain to it
  std::filesystem::path cert_file;  // this store's client certificate (empty: none, for tests)
  std::filesystem::path key_file;
};

struct HttpResult {
  int status = 0;
  std::string body;
  std::string etag;
  std::int64_t retry_after_seconds = 0;  // Retry-After (delta-seconds), 0 when absent
};

class HttpsClient {
 public:
  // `url` is https://host[:port]. Throws std::runtime_error when a TLS file cannot be used.
  HttpsClient(const std::string& url, const TlsFiles& tls);
  ~HttpsClient();
  HttpsClient(const HttpsClient&) = delete;
  HttpsClient& operator=(const HttpsClient&) = delete;

  // Sends one request and reads its answer within `timeout` for each step (connect, handshake,
  // write, read), and all of it by `deadline`. Connects when not connected; a kept-alive connection
  // that turns out closed is reconnected once (every request of the sync is idempotent). Throws
  // NetworkError.
  HttpResult request(std::string_view method, std::string_view target, std::string body,
                     std::string_view if_none_match, std::chrono::milliseconds timeout,
                     std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max());
  // From any thread: aborts a request in progress (it throws NetworkError) and every later one.
  void cancel();
  void disconnect();

  // The TLS handshakes this client made: full ones, and sessions resumed from headquarters' ticket
  // (a reconnection costs no certificate exchange then).
  struct Handshakes {
    std::int64_t full = 0, resumed = 0;
  };
  Handshakes handshakes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace loyalty::sync
