#include "gate.hpp"

#include <algorithm>
#include <cmath>

namespace loyalty::hq {

std::optional<Refusal> registry_refusal(const std::vector<RegistryRow>& rows, bool in_force,
                                        const std::string& store_id, const std::string& fingerprint) {
  if (!in_force) return std::nullopt;
  bool registered = false, store_revoked = false, pinned = false, this_pinned = false;
  for (const RegistryRow& r : rows) {
    if (r.store_id != store_id) continue;
    if (r.fingerprint.empty()) {
      (r.revoked_us ? store_revoked : registered) = true;
      continue;
    }
    if (r.fingerprint == fingerprint && r.revoked_us)
      return Refusal{403, "certificate_revoked",
                     "this certificate of store " + store_id + " was revoked: the store needs a new one", 0};
    if (!r.revoked_us) {
      pinned = true;
      if (r.fingerprint == fingerprint) this_pinned = true;
    }
  }
  if (store_revoked && !registered)
    return Refusal{403, "store_revoked", "store " + store_id + " was revoked from the stores registry", 0};
  if (!registered)
    return Refusal{403, "store_not_registered", "store " + store_id + " is not in headquarters' stores registry", 0};
  if (pinned && !this_pinned)
    return Refusal{403, "certificate_not_registered",
                   "this certificate is not one the stores registry holds for store " + store_id, 0};
  return std::nullopt;
}

std::int64_t RateLimit::take(const std::string& store_id, std::chrono::steady_clock::time_point now) {
  std::lock_guard lock(mu_);
  auto [it, fresh] = buckets_.try_emplace(store_id);
  Bucket& b = it->second;
  if (fresh) {
    b.tokens = burst_;
  } else {
    const double elapsed = std::chrono::duration<double>(now - b.at).count();
    b.tokens = std::min(burst_, b.tokens + std::max(0.0, elapsed) * rate_);
  }
  b.at = now;
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return 0;
  }
  // Back when a whole sync fits (a batch, the rules, a changes page, one more): asked back for one
  // request's worth, a till would spend it on its first and be refused its second, every time.
  const double need = std::min(burst_, kSyncRequests);
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil((need - b.tokens) / rate_)));
}

std::optional<Refusal> StoreGate::check(const std::string& store_id, const std::string& fingerprint, bool rated) {
  const auto now = std::chrono::steady_clock::now();
  // The copy is read again off the lock, by one request at a time; the others go on with the old
  // copy meanwhile (and when reading it fails: the database is down, the old rules still hold).
  std::shared_ptr<const Snapshot> snapshot;
  bool reload = false;
  {
    std::lock_guard lock(mu_);
    snapshot = snapshot_;
    if ((!loaded_ || now - *loaded_ >= refresh_) && (!loading_ || !snapshot)) {
      loading_ = true;
      reload = true;
    }
  }
  if (reload) {
    std::shared_ptr<Snapshot> fresh;
    try {
      fresh = std::make_shared<Snapshot>();
      for (RegistryRow& r : load_()) {
        fresh->in_force = true;
        fresh->by_store[r.store_id].push_back(std::move(r));
      }
    } catch (...) {
      std::lock_guard lock(mu_);
      loading_ = false;
      loaded_ = now;  // tried again after `refresh_`
      if (!snapshot_) throw;  // nothing to go on with
      fresh.reset();
    }
    std::lock_guard lock(mu_);
    if (fresh) {
      snapshot_ = std::move(fresh);
      loaded_ = now;
      loading_ = false;
    }
    snapshot = snapshot_;
  }
  static const std::vector<RegistryRow> kNone;
  const auto it = snapshot->by_store.find(store_id);
  if (auto refusal = registry_refusal(it == snapshot->by_store.end() ? kNone : it->second, snapshot->in_force,
                                      store_id, fingerprint))
    return refusal;
  if (!rated) return std::nullopt;
  if (const std::int64_t wait = limit_.take(store_id, now))
    return Refusal{429, "rate_limited",
                   "store " + store_id + " sent more requests than headquarters takes from one store; retry after " +
                       std::to_string(wait) + " s",
                   wait};
  return std::nullopt;
}

}  // namespace loyalty::hq
