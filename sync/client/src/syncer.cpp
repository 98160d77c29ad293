#include "loyalty/sync/syncer.hpp"

#include <algorithm>

#include <openssl/rand.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <random>

#include "loyalty/protocol/batch.hpp"
#include "loyalty/protocol/changes.hpp"
#include "loyalty/protocol/limits.hpp"

namespace loyalty::sync {
namespace {

std::string random_batch_id() {
  unsigned char b[12];
  if (RAND_bytes(b, sizeof b) != 1) throw SyncError("no randomness for a batch id");
  static const char* const digits = "0123456789abcdef";
  std::string out = "b-";
  for (unsigned char c : b) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string describe(const HttpResult& r) {
  if (const auto e = protocol::parse_error(r.body)) return std::to_string(r.status) + " " + e->first + ": " + e->second;
  return std::to_string(r.status) + " (no error document)";
}

// True when headquarters refused a batch for what its transactions hold (docs/protocol.md): a
// malformed or conflicting transaction, or a batch over the size limit. Only such a refusal makes a
// transaction rejected for good.
bool refuses_content(const HttpResult& r) {
  if (r.status == 413) return true;
  if (r.status != 400 && r.status != 409) return false;
  const auto e = protocol::parse_error(r.body);
  return e && (e->first == "invalid_batch" || e->first == "invalid_txn" || e->first == "txn_conflict" ||
               e->first == "too_large");
}

}  // namespace

Syncer::Syncer(std::shared_ptr<till::Till> till) : till_(std::move(till)) {}

std::unique_ptr<HttpsClient> Syncer::make_client() {
  if (stopping_) throw SyncError("the till is closing");
  const auto& c = till_->config();
  return std::make_unique<HttpsClient>(c.hq_url, TlsFiles{c.hq_ca_file, c.hq_cert_file, c.hq_key_file});
}

HttpsClient& Syncer::client() {
  if (!client_) {
    std::lock_guard lock(state_mu_);
    client_ = make_client();
  }
  return *client_;
}

std::optional<std::string> Syncer::fetch_sale(const std::string& sale_store, const std::string& receipt_id,
                                              const std::optional<std::string>& txn_id,
                                              std::chrono::steady_clock::time_point deadline) {
  // The whole call, waiting for another fetch included, within the deadline.
  // One fetch at a time on the fetch connection: a flag under a mutex, waited for until the deadline
  // (ThreadSanitizer does not follow timed mutexes).
  {
    std::unique_lock wait(fetch_mu_);
    if (!fetch_free_.wait_until(wait, deadline, [&] { return !fetching_; }))
      throw SyncError("headquarters did not answer within the time allowed");
    fetching_ = true;
  }
  struct Release {
    Syncer& s;
    ~Release() {
      {
        std::lock_guard done(s.fetch_mu_);
        s.fetching_ = false;
      }
      s.fetch_free_.notify_one();
    }
  } release{*this};
  try {
    if (!fetch_client_) {
      std::lock_guard state(state_mu_);
      fetch_client_ = make_client();
    }
    std::string target = "/v1/sales?store_id=" + protocol::url_encode(sale_store) +
                         "&receipt_id=" + protocol::url_encode(receipt_id);
    if (txn_id) target += "&txn_id=" + protocol::url_encode(*txn_id);
    check_not_before();
    const auto res = fetch_client_->request("GET", target, "", "", timeout_for(0), deadline);
    honour(res);
    if (res.status == 404) return std::nullopt;
    // Several tills of the store used the receipt id: not a network fault, and no retry will help.
    if (res.status == 409)
      throw till::TillError(LOY_E_CONFLICT, "headquarters cannot tell which sale is meant: " + describe(res));
    if (res.status != 200) throw SyncError("headquarters answered GET /v1/sales with " + describe(res));
    return res.body;
  } catch (const SyncError&) {
    throw;
  } catch (const till::TillError&) {
    throw;
  } catch (const std::exception& e) {
    throw SyncError(e.what());
  }
}

Syncer::~Syncer() { stop(); }

// What headquarters holds for good need not stay here past the retention.
void Syncer::prune() {
  if (const std::int64_t pruned = till_->prune(till::local_now()))
    log(LOY_LOG_INFO, "pruned " + std::to_string(pruned) + " outbox entries headquarters applied, older than " +
                          std::to_string(till_->config().retention_days) + " days");
}

void Syncer::log(std::int32_t level, const std::string& message) { till_->logger()(level, message); }

std::chrono::milliseconds Syncer::timeout_for(std::size_t entries) const {
  return std::chrono::milliseconds(till_->config().sync_timeout_seconds * 1000LL + 20LL * static_cast<long long>(entries));
}

SyncReport Syncer::sync_now() {
  std::lock_guard lock(sync_mu_);
  try {
    return run_locked();
  } catch (const std::exception& e) {
    try {
      till_->mark_sync_failed(e.what());
      prune();  // a till that cannot reach headquarters prunes all the same
    } catch (const std::exception&) {  // the till is closed, or its database failed: the caller hears of it
    }
    if (dynamic_cast<const till::TillError*>(&e)) throw;
    throw SyncError(e.what());
  }
}

void Syncer::check_not_before() {
  std::chrono::steady_clock::time_point until;
  {
    std::lock_guard lock(state_mu_);
    until = not_before_;
  }
  const auto now = std::chrono::steady_clock::now();
  if (now < until)
    throw SyncError("headquarters asked this store to wait (429): no request for " +
                    std::to_string(std::chrono::ceil<std::chrono::seconds>(until - now).count()) + " s more");
}

void Syncer::honour(const HttpResult& res) {
  if (res.status != 429) return;
  const std::int64_t wait = std::clamp<std::int64_t>(res.retry_after_seconds, 1, 3600);
  {
    std::lock_guard lock(state_mu_);
    // A shorter wait asked on another connection (a refund's lookup) never cuts a longer one short.
    not_before_ = std::max(not_before_, std::chrono::steady_clock::now() + std::chrono::seconds(wait));
  }
  throw SyncError("headquarters is limiting this store's requests (429): the till waits " + std::to_string(wait) +
                  " s as it asked");
}

SyncReport Syncer::run_locked() {
  check_not_before();
  SyncReport report;
  // The outbox goes up before anything comes down: an answer lost on the way is asked for again (as
  // a duplicate) before a member record that includes it can arrive (docs/protocol.md).
  // What this till had seen of headquarters before it sends anything: the batch about to go up would
  // hide that a restored headquarters lost what the till had been answered.
  const auto seen = till_->seen();
  upload(report);
  if (download(report, seen)) {
    // Headquarters went back to an earlier database: what it had answered is queued again, and goes
    // up now; then the rest of the feed.
    upload(report);
    download(report, {});
  }
  till_->mark_synced(till::local_now().utc_micros);
  prune();
  log(LOY_LOG_INFO, "synced with headquarters: " + std::to_string(report.sent) + " sent (" +
                        std::to_string(report.applied) + " applied, " + std::to_string(report.duplicates) +
                        " duplicates, " + std::to_string(report.held) + " held, " + std::to_string(report.rejected) +
                        " refused), " +
                        std::to_string(report.members) + " members and " + std::to_string(report.coupons) +
                        " coupons received" + (report.rules_updated ? ", new rules" : ""));
  return report;
}

void Syncer::upload(SyncReport& report) {
  const auto batch_size = static_cast<std::size_t>(till_->config().sync_batch_size);
  // What was queued when the sync began; sales committed meanwhile go with the next sync, so that a
  // busy till's sync ends.
  const std::int64_t through = till_->last_outbox_seq();
  // What is left to send after each batch, for headquarters' store report.
  std::int64_t queued = till_->to_send();
  std::int64_t after = 0;
  while (true) {
    auto entries = till_->unsent(batch_size, after, through);
    if (entries.empty()) return;
    // A batch stays within the body headquarters accepts (protocol/limits.hpp); one transaction
    // always fits.
    std::size_t bytes = 256, fit = 0;
    for (; fit < entries.size(); ++fit) {
      bytes += entries[fit].body.size() + 1;
      if (fit > 0 && bytes > protocol::limits::kBatchBytes) break;
    }
    entries.resize(fit);
    std::string refusal;
    queued = std::max<std::int64_t>(0, queued - static_cast<std::int64_t>(entries.size()));
    queued_ = queued;
    if (send_batch(entries, report, refusal)) {
      after = entries.back().seq;
      continue;
    }
    // Refused whole (a malformed or conflicting transaction among them): one at a time, so that
    // only the one at fault is rejected and the queue moves on.
    log(LOY_LOG_WARN, "headquarters refused a batch of " + std::to_string(entries.size()) + " (" + refusal +
                          "): sending its transactions one by one");
    for (const auto& e : entries) {
      std::string single_refusal;
      if (!send_batch({e}, report, single_refusal)) {
        store::Answer a;
        a.seq = e.seq;
        a.rejected = true;
        a.reason = single_refusal;
        till_->record_answers({a}, {e.txn_id});
        ++report.rejected;
        ++report.sent;
      }
    }
    after = entries.back().seq;
  }
}

bool Syncer::send_batch(const std::vector<store::Unsent>& entries, SyncReport& report, std::string& refusal) {
  // A batch sent again after a lost answer keeps its id: headquarters answers it from its record.
  if (batch_id_.empty() || batch_first_ != entries.front().seq || batch_last_ != entries.back().seq ||
      batch_count_ != entries.size()) {
    batch_id_ = random_batch_id();
    batch_first_ = entries.front().seq;
    batch_last_ = entries.back().seq;
    batch_count_ = entries.size();
  }
  std::vector<std::string> bodies;
  bodies.reserve(entries.size());
  for (const auto& e : entries) bodies.push_back(e.body);
  const auto& cfg = till_->config();
  HttpResult res;
  for (int attempt = 0;; ++attempt) {
    res = client().request("POST", "/v1/batches",
                           protocol::batch_json(cfg.till_id, batch_id_, bodies, till::local_now(), queued_), "",
                           timeout_for(entries.size()));
    honour(res);
    const auto err = res.status == 409 ? protocol::parse_error(res.body) : std::nullopt;
    if (attempt == 0 && err && err->first == "batch_conflict") {
      batch_id_ = random_batch_id();  // an id of this till's past (a restored backup): take another
      continue;
    }
    break;
  }
  if (res.status >= 400 && refuses_content(res)) {
    refusal = describe(res);
    batch_id_.clear();
    return false;
  }
  // Anything else (5xx, 408, 429, and 401/403/404 from a wrong certificate, store or proxy) is not
  // the transactions' fault: they stay queued and the sync is tried again.
  if (res.status >= 400) throw SyncError("headquarters answered a batch with " + describe(res) + "; will retry");
  if (res.status != 200) throw SyncError("headquarters answered a batch with HTTP " + std::to_string(res.status));
  auto answer = protocol::parse_batch_answer(res.body);
  if (!answer) throw SyncError("headquarters' batch answer is not valid: " + answer.error().message);
  if (answer->results.size() != entries.size())
    throw SyncError("headquarters answered " + std::to_string(answer->results.size()) + " transactions of " +
                    std::to_string(entries.size()));
  std::vector<store::Answer> answers;
  std::vector<std::string> ids;
  answers.reserve(entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const auto& r = answer->results[i];
    if (r.txn_id != entries[i].txn_id)
      throw SyncError("headquarters' answer " + std::to_string(i) + " is for transaction " + r.txn_id + ", not " +
                      entries[i].txn_id);
    store::Answer a;
    a.seq = entries[i].seq;
    if (r.status == protocol::TxnStatus::rejected) {
      a.rejected = true;
      a.reason = r.reason.empty() ? "rejected by headquarters" : r.reason;
      // Headquarters stored it either way; one held for a cause that can go is sent again.
      a.held = !protocol::is_final_refusal(a.reason);
      ++(a.held ? report.held : report.rejected);
    } else {
      a.member_id = r.member_id;
      a.member_version = r.member_version;
      if (r.status == protocol::TxnStatus::applied) ++report.applied;
      else ++report.duplicates;
    }
    answers.push_back(std::move(a));
    ids.push_back(r.txn_id);
  }
  // In slices, each its own short transaction: a checkout waiting for the till's lock waits for one
  // slice at most.
  constexpr std::size_t kSlice = 50;
  for (std::size_t i = 0; i < answers.size(); i += kSlice) {
    const std::size_t end = std::min(answers.size(), i + kSlice);
    till_->record_answers({answers.begin() + static_cast<std::ptrdiff_t>(i), answers.begin() + static_cast<std::ptrdiff_t>(end)},
                          {ids.begin() + static_cast<std::ptrdiff_t>(i), ids.begin() + static_cast<std::ptrdiff_t>(end)});
  }
  report.sent += static_cast<std::int64_t>(entries.size());
  batch_id_.clear();
  return true;
}

bool Syncer::download(SyncReport& report, const std::pair<std::string, std::string>& seen) {
  bool new_generation = false;
  const auto timeout = timeout_for(0);
  // The rules first: a member record may name a tier that only the new rules have.
  const std::string version = till_->rules_version();
  const auto rules = client().request("GET", "/v1/rules", "", version.empty() ? "" : "\"" + version + "\"", timeout);
  honour(rules);
  const auto no_rules = [&] {
    const auto err = rules.status == 404 ? protocol::parse_error(rules.body) : std::nullopt;
    return err && err->first == "no_rules";  // none published yet
  };
  if (rules.status == 200) {
    // A rule set this till cannot load (one of a newer release) never stops the member changes: the
    // till keeps its rules, and its status says why the new ones are not in force.
    try {
      till_->apply_rules(rules.body);
      report.rules_updated = true;
      till_->mark_rules_error("");
    } catch (const till::TillError& e) {
      if (e.status() == LOY_E_STORAGE || e.status() == LOY_E_STATE) throw;
      const std::string why = std::string("headquarters' rule set could not be installed: ") + e.what();
      log(LOY_LOG_ERROR, why + "; keeping rules " + version);
      till_->mark_rules_error(why);
    }
  } else if (rules.status == 304) {
    till_->mark_rules_error("");
  } else if (!no_rules()) {
    throw SyncError("headquarters answered GET /v1/rules with " + describe(rules));
  }

  for (int pages = 0;; ++pages) {
    const std::int64_t cursor = till_->cursor();
    // Pages of 250 records: each is applied in one transaction under the till's lock, and a checkout
    // waits for one page at most (a couple of milliseconds). The first names what this till has seen
    // of headquarters, so that a headquarters put back from a backup knows it went back.
    std::string target = "/v1/changes?after=" + std::to_string(cursor) +
                         "&limit=250&generation=" + protocol::url_encode(till_->generation());
    if (pages == 0) {
      if (!seen.first.empty()) target += "&seen=" + protocol::url_encode(seen.first);
      if (!seen.second.empty()) target += "&applied=" + seen.second;
    }
    const auto res = client().request("GET", target, "", "", timeout);
    honour(res);
    if (res.status != 200) throw SyncError("headquarters answered GET /v1/changes with " + describe(res));
    store::Store::Applied applied;
    try {
      applied = till_->apply_changes(res.body, true);
    } catch (const till::TillError& e) {
      throw SyncError(std::string("headquarters' changes page could not be applied: ") + e.what());
    }
    report.members += applied.members;
    report.coupons += applied.coupons;
    new_generation = new_generation || applied.new_generation;
    if (!applied.more) break;
    if (applied.next <= cursor && !applied.new_generation)
      throw SyncError("headquarters' changes page did not move the cursor");
  }
  return new_generation;
}

void Syncer::start(std::chrono::seconds interval) {
  std::lock_guard lock(state_mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this, interval] { thread_main(interval); });
}

void Syncer::stop() {
  {
    std::lock_guard lock(state_mu_);
    stopping_ = true;
    if (client_) client_->cancel();
    if (fetch_client_) fetch_client_->cancel();
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Syncer::thread_main(std::chrono::seconds interval) {
#ifdef __linux__
  // Checkouts come first: the background sync yields the CPU to the POS's own threads.
  setpriority(PRIO_PROCESS, static_cast<id_t>(::syscall(SYS_gettid)), 10);
#endif
  std::mt19937_64 rng(std::random_device{}());
  std::chrono::milliseconds backoff(1000);
  const std::chrono::milliseconds max_backoff =
      std::min<std::chrono::milliseconds>(std::chrono::minutes(5), std::max<std::chrono::milliseconds>(interval, std::chrono::seconds(1)));
  while (true) {
    std::chrono::milliseconds wait = interval;
    try {
      sync_now();
      backoff = std::chrono::milliseconds(1000);
    } catch (const std::exception& e) {
      {
        std::lock_guard lock(state_mu_);
        if (stopping_) return;
      }
      // Full jitter over the upper half: tills that lost headquarters together do not return together.
      std::uniform_int_distribution<long long> jitter(backoff.count() / 2, backoff.count());
      wait = std::chrono::milliseconds(jitter(rng));
      {
        // Never before headquarters said it takes this store's requests again.
        std::lock_guard lock(state_mu_);
        const auto now = std::chrono::steady_clock::now();
        if (not_before_ > now)
          wait = std::max(wait, std::chrono::ceil<std::chrono::milliseconds>(not_before_ - now));
      }
      log(LOY_LOG_WARN, std::string("sync failed: ") + e.what() + "; next try in " +
                            std::to_string(wait.count() / 1000.0).substr(0, 4) + " s");
      backoff = std::min(backoff * 2, max_backoff);
    }
    std::unique_lock lock(state_mu_);
    if (wake_.wait_for(lock, wait, [&] { return stopping_; })) return;
  }
}

}  // namespace loyalty::sync
