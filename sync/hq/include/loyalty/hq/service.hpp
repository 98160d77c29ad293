// Headquarters' endpoints (docs/protocol.md) as plain request -> response, apart from HTTP and TLS:
// the server hands each request here with the store id of its verified client certificate.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "loyalty/hq/config.hpp"
#include "loyalty/hq/storage.hpp"

namespace loyalty::hq {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query
  std::string body;
  std::string if_none_match;
  std::string store_id;     // from the client certificate
  std::string fingerprint;  // the client certificate's SHA-256, lowercase hex
};

struct HttpResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::string etag;
  std::int64_t retry_after_seconds = 0;  // a Retry-After header when not 0
};

class StoreGate;

class Service {
 public:
  using Log = std::function<void(const std::string&)>;
  Service(Storage& storage, const HqConfig& config, Log log);
  ~Service();

  // Never throws: every failure is an error document with its status.
  HttpResponse handle(const HttpRequest& request, std::int64_t now_us);
  // Counts a request the server answered itself (a body over the limit, a malformed request).
  void count(int status);
  // Counts a TLS handshake: a full one, or a session resumed from a ticket; and a connection refused
  // before its handshake (too many from its address at once).
  void count_handshake(bool resumed) { ++(resumed ? handshakes_resumed_ : handshakes_full_); }
  void count_refused_connection() { ++connections_refused_; }

 private:
  HttpResponse route(const HttpRequest& request, std::int64_t now_us);
  HttpResponse post_batch(const HttpRequest& request, std::int64_t now_us);
  HttpResponse get_changes(const std::string& query, const std::string& store_id);
  HttpResponse get_rules(const HttpRequest& request);
  HttpResponse get_sale(const std::string& query, const std::string& store_id);
  HttpResponse metrics(std::int64_t now_us);

  Storage& storage_;
  const HqConfig& config_;
  Log log_;
  std::unique_ptr<StoreGate> gate_;
  std::mutex refusals_mu_;
  std::map<std::string, std::int64_t> refusals_logged_;  // store, certificate and reason: when last logged
  std::atomic<std::int64_t> requests_2xx_{0}, requests_3xx_{0}, requests_4xx_{0}, requests_5xx_{0};
  std::atomic<std::int64_t> batches_{0}, batches_replayed_{0}, sales_applied_{0}, applied_{0}, duplicates_{0},
      rejections_{0}, batches_refused_{0}, handshakes_full_{0}, handshakes_resumed_{0}, connections_refused_{0};
};

std::int64_t unix_micros_now();

}  // namespace loyalty::hq
