// Who may make a request: a store in the stores registry with a certificate it does not revoke, at no
// more than its rate. Checked on every request, so that a revocation reaches connections already open.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "loyalty/hq/storage.hpp"

namespace loyalty::hq {

struct Refusal {
  int status = 403;
  std::string code, message;
  std::int64_t retry_after_seconds = 0;  // 429: when to come back
};

// The registry's rule for one store and certificate (pure), from the store's rows. A registry that
// holds no row at all is not in force: every store of the chain's CA is let in.
std::optional<Refusal> registry_refusal(const std::vector<RegistryRow>& store_rows, bool in_force,
                                        const std::string& store_id, const std::string& fingerprint);

// A token bucket per store: `rate` requests a second on average, `burst` at once. A store refused is
// told to come back when a whole sync's requests fit (kSyncRequests, or the burst when smaller).
class RateLimit {
 public:
  static constexpr double kSyncRequests = 4;
  RateLimit(double rate, double burst) : rate_(rate), burst_(burst) {}
  // 0 when the request may go now; else the whole seconds to wait.
  std::int64_t take(const std::string& store_id, std::chrono::steady_clock::time_point now);

 private:
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point at;
  };
  double rate_, burst_;
  std::mutex mu_;
  std::map<std::string, Bucket, std::less<>> buckets_;
};

class StoreGate {
 public:
  // The registry is read from `load` again when its copy is older than `refresh`.
  StoreGate(std::function<std::vector<RegistryRow>()> load, double rate, double burst,
            std::chrono::milliseconds refresh = std::chrono::milliseconds(2000))
      : load_(std::move(load)), limit_(rate, burst), refresh_(refresh) {}
  std::optional<Refusal> check(const std::string& store_id, const std::string& fingerprint, bool rated);

 private:
  std::function<std::vector<RegistryRow>()> load_;
  RateLimit limit_;
  std::chrono::milliseconds refresh_;
  struct Snapshot {
    bool in_force = false;
    std::map<std::string, std::vector<RegistryRow>, std::less<>> by_store;
  };
  std::mutex mu_;
  std::shared_ptr<const Snapshot> snapshot_;
  std::optional<std::chrono::steady_clock::time_point> loaded_;
  bool loading_ = false;  // a request is reading the registry again
};

}  // namespace loyalty::hq
