// The till's sync with headquarters (docs/protocol.md): the outbox up in batches, then member and
// coupon changes and the rules down. One sync at a time, from the background thread or an explicit
// call; the till's lock is held only for each short database read or write, never across the network.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "loyalty/sync/https_client.hpp"
#include "loyalty/till/till.hpp"

namespace loyalty::sync {

struct SyncReport {
  std::int64_t sent = 0;        // transactions sent (retries of one batch count once)
  std::int64_t applied = 0;     // applied by headquarters now
  std::int64_t duplicates = 0;  // applied before (an answer lost on the way)
  std::int64_t rejected = 0;    // refused for good: recorded, never sent again
  std::int64_t held = 0;        // held by headquarters for a cause that can go: sent again next time
  std::int64_t members = 0;     // member records written to the cache
  std::int64_t coupons = 0;
  bool rules_updated = false;
};

// A sync that did not complete: headquarters unreachable, a 5xx or 429, an answer that does not fit
// the protocol. What completed before it (batches answered, pages applied) stays.
class SyncError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Syncer {
 public:
  // The HTTPS client is made at the first sync: a till whose TLS files are unusable still sells
  // offline, and each sync reports why it cannot reach headquarters.
  explicit Syncer(std::shared_ptr<till::Till> till);
  ~Syncer();  // stops the background thread
  Syncer(const Syncer&) = delete;
  Syncer& operator=(const Syncer&) = delete;

  // One complete sync now; waits for a sync in progress first. Throws SyncError.
  SyncReport sync_now();
  // Starts the background thread: a sync at once, then every `interval`; after a failure, again
  // after an exponential backoff with jitter (1 s doubling up to 5 minutes, never later than the
  // interval would be).
  void start(std::chrono::seconds interval);
  // Stops the background thread, aborting a sync in progress. Idempotent.
  void stop();

  // Headquarters' copy of a sale (GET /v1/sales, the sale's txn_id when known), with the refunds of
  // it applied anywhere, all within `deadline`: its answer, or nullopt when headquarters has no such
  // sale. Uses a connection of its own: it never waits for a sync in progress. Throws SyncError
  // (unreachable, too slow, or an error answer: 409 ambiguous_receipt among them).
  std::optional<std::string> fetch_sale(const std::string& sale_store, const std::string& receipt_id,
                                        const std::optional<std::string>& txn_id,
                                        std::chrono::steady_clock::time_point deadline);

 private:
  SyncReport run_locked();
  void prune();
  void upload(SyncReport& report);
  // Sends `entries` as one batch; false when headquarters refused the batch as a whole (4xx).
  bool send_batch(const std::vector<store::Unsent>& entries, SyncReport& report, std::string& refusal);
  // True when headquarters' database went back (a new generation): the till queued again what it
  // had answered.
  // `seen`: what the till had seen of headquarters when the sync began (Till::seen), named in the first
  // changes request.
  bool download(SyncReport& report, const std::pair<std::string, std::string>& seen);
  void thread_main(std::chrono::seconds interval);
  // Headquarters limiting this store (429): no request until its Retry-After has passed. Throws
  // SyncError for a 429; does nothing otherwise.
  void honour(const HttpResult& res);
  void check_not_before();
  std::chrono::milliseconds timeout_for(std::size_t entries) const;
  void log(std::int32_t level, const std::string& message);

  std::shared_ptr<till::Till> till_;
  std::mutex sync_mu_;  // one sync at a time
  HttpsClient& client();  // under sync_mu_
  std::unique_ptr<HttpsClient> client_;  // set under both mutexes, read under either
  std::unique_ptr<HttpsClient> make_client();  // under state_mu_
  std::mutex fetch_mu_;  // guards fetching_
  std::condition_variable fetch_free_;
  bool fetching_ = false;  // a fetch holds fetch_client_
  std::unique_ptr<HttpsClient> fetch_client_;  // set under state_mu_, used by the fetch holding fetching_
  std::int64_t queued_ = 0;  // outbox entries left after the batch being sent
  std::string batch_id_;  // the batch in flight, kept for its retry
  std::int64_t batch_first_ = 0, batch_last_ = 0;
  std::size_t batch_count_ = 0;

  mutable std::mutex state_mu_;
  std::chrono::steady_clock::time_point not_before_{};  // under state_mu_: headquarters asked to wait until then
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace loyalty::sync
