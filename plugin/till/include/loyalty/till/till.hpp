// The till: configuration, database, rules and member lookups behind one lock. The C interface in
// plugin/api is a thin shim over this class.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <limits>
#include <optional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "loyalty/engine/prompts.hpp"
#include "loyalty/engine/refund.hpp"
#include "loyalty/engine/rules.hpp"
#include "loyalty/loyalty.h"
#include "loyalty/store/store.hpp"
#include "loyalty/till/config.hpp"
#include "loyalty/till/member_code.hpp"
#include "loyalty/till/seal.hpp"

namespace loyalty::till {

// An expected failure with its loy_status code; the C shim turns it into that status and a message.
class TillError : public std::runtime_error {
 public:
  TillError(loy_status status, const std::string& message) : std::runtime_error(message), status_(status) {}
  loy_status status() const noexcept { return status_; }

 private:
  loy_status status_;
};

struct Logger {
  loy_log_fn fn = nullptr;
  void* userdata = nullptr;
  std::int32_t level = LOY_LOG_INFO;
  void operator()(std::int32_t lvl, const std::string& message) const {
    if (fn && lvl >= level) fn(lvl, message.c_str(), userdata);
  }
};

// Log lines gathered while the till's lock is held and handed to the callback once it is released
// (the batch is declared before the lock, so it is destroyed after it): a callback may call into the
// till.
class LogBatch {
 public:
  LogBatch() = default;
  LogBatch(const LogBatch&) = delete;
  LogBatch& operator=(const LogBatch&) = delete;
  ~LogBatch() {
    for (const auto& [level, message] : lines_) logger(level, message);
  }
  void operator()(std::int32_t level, std::string message) {
    if (logger.fn && level >= logger.level) lines_.emplace_back(level, std::move(message));
  }
  Logger logger;  // set under the lock

 private:
  std::vector<std::pair<std::int32_t, std::string>> lines_;
};

// A member as this till sees them: the cached record with this till's unsynced sales counted in
// (purchases, last purchase).
void with_pending(engine::Member& m, const store::PendingEffects& pending, std::int32_t offset_minutes);

// The wall clock as an instant in the machine's local offset: the till's "now".
engine::Instant local_now();

// What a checkout's quotes read from the database, kept between quotes until the database changes
// (a commit, a refund, an enrollment, a changes page): the member as this till sees them, the
// offline redemptions of the sale's day, the coupon. With it a quote costs little more than the
// engine's arithmetic.
struct PricingCache {
  std::uint64_t generation = 0;  // the till's write generation it was read at
  std::optional<std::string> member_id;
  std::int64_t day = 0;
  std::optional<std::string> coupon_code;
  bool offline = false;      // the till was offline at the quote: the member's offline redemptions are read
  engine::QuoteInput input;  // member, context and coupon filled; lines appended as the checkout grows
};

// What a checkout has gathered: the POS's lines, the member, a coupon and points to redeem.
struct CheckoutState {
  std::optional<engine::Instant> at;  // the sale's time; the till's clock when absent
  std::optional<std::string> member_id;
  std::vector<engine::Line> lines;  // only ever appended to
  std::optional<std::string> coupon_code;
  std::int64_t redeem_points = 0;
  std::optional<PricingCache> cache;
};

// A new transaction id: 128 random bits as 32 hex digits, never one this process or its parent gave.
std::string random_id();

struct Committed {
  engine::Quote quote;
  std::string rules_version;
  bool replayed = false;  // the receipt id was committed before: this is that first result
};

struct RefundOutcome {
  engine::Minor amount_minor = 0;
  std::int64_t points_taken_back = 0;
  std::int64_t points_given_back = 0;
  std::int64_t balance_after = 0;  // the member's available points after it (0 for anonymous sales)
  bool negative_balance = false;
  bool replayed = false;
};

struct Enrollment {
  std::string phone;
  std::string name;                         // may be empty
  std::optional<engine::MonthDay> birthday;
  std::string consent;                      // the POS's record of the customer's consent
};

inline constexpr std::size_t kMaxIdBytes = 63;

struct MemberView {
  store::CachedMember cached;
  std::string tier_name;
  std::int64_t pending_points = 0;
  store::PendingEffects pending;  // this till's effects on the member, read with the record
  std::vector<engine::Prompt> prompts;
};

class Till {
 public:
  Till(TillConfig config, Logger log);

  // Closes the database and stops logging; every later call is TillError(LOY_E_STATE). Checkouts that
  // outlive their till's handle see that.
  void close();

  void apply_rules(std::string_view json);
  // `from_headquarters`: a page of its feed (not a seed file): what it holds is what headquarters sent.
  store::Store::Applied apply_changes(std::string_view json, bool from_headquarters = false);
  // Looks a member up; prompts are read at `at` (a checkout's time) or at the till's clock.
  MemberView lookup(std::string_view scanned, const std::optional<engine::Instant>& at = std::nullopt);
  // Looks the checkout's member up (lookup() at the checkout's time) and makes them its member; what
  // was read is kept for its quotes and its commit (PricingCache), which then read nothing again
  // while the database is unchanged.
  MemberView identify(CheckoutState& checkout, std::string_view scanned);
  store::StoreStatus status();
  // The current rule set, or nullptr.
  std::shared_ptr<const engine::RuleSet> rules();

  // The quote of a checkout as it stands, with this till's pending effects on the member.
  engine::Quote price(CheckoutState& checkout);
  // Commits the checkout's sale under `receipt_id` durably (one transaction, one fsync). A receipt id
  // committed before for the same sale returns that first result; for another sale it is
  // TillError(LOY_E_CONFLICT). When `shown` is given (the quote the customer was shown and paid) and
  // the sale would now be priced otherwise (another checkout spent the points or the coupon, the till
  // went offline), nothing is committed: TillError(LOY_E_CONFLICT).
  Committed commit(CheckoutState& checkout, std::string_view receipt_id, const engine::Quote* shown = nullptr);
  // Refunds `items` (all that is left when empty) of the sale `receipt_id` under `refund_id`,
  // committed like a sale. A refund id used before returns that first result.
  // `sale_store` names the store the sale was made at when it is another store's: that sale must
  // have been fetched with store_foreign_sale() first.
  RefundOutcome refund(std::string_view refund_id, std::string_view receipt_id,
                       const std::vector<engine::RefundItem>& items, std::string_view sale_store = {});
  // True when the refund id was committed before.
  bool has_refund(std::string_view refund_id);
  // The sale a refund of `receipt_id` at `sale_store` ("" or this till's store: its own sale first)
  // means here: where it is kept (origin "" for this till's own, else the store a copy fetched from
  // headquarters is kept under) and its txn_id, when this till holds it.
  struct SaleRef {
    std::string origin;
    std::optional<std::string> txn_id;
  };
  SaleRef refund_target(std::string_view sale_store, std::string_view receipt_id);
  // Headquarters' copy of the sale (the answer of GET /v1/sales), with the refunds of it applied
  // anywhere: what is left of its lines becomes the sale's here, less this till's refunds of it that
  // headquarters has not applied yet. False when it is another sale than `target` (another till's
  // under the same receipt). TillError(LOY_E_DOCUMENT) when the answer is not valid.
  bool merge_hq_sale(const SaleRef& target, std::string_view sale_store, std::string_view receipt_id,
                     std::string_view answer_json);
  // Enrolls a new member: usable at once, sealed for headquarters, queued like a sale. Prompts are
  // read at `at` (a checkout's time) or at the till's clock.
  MemberView enroll(const Enrollment& enrollment, const std::optional<engine::Instant>& at = std::nullopt);

  const TillConfig& config() const { return config_; }
  // True when the last sync succeeded within the rules' offline_after_minutes: worth asking
  // headquarters before a refund.
  bool online();

  // For the sync with headquarters (sync/client): each call holds the lock for one short read or
  // write, never across the network.
  std::vector<store::Unsent> unsent(std::size_t limit, std::int64_t after_seq, std::int64_t through_seq);
  std::int64_t last_outbox_seq();
  // Outbox entries to send (waiting or held): counted from the outbox alone, never the member cache.
  std::int64_t to_send();
  // Headquarters' answers to a batch, in one transaction; rejections are logged.
  void record_answers(const std::vector<store::Answer>& answers, const std::vector<std::string>& txn_ids);
  std::int64_t cursor();
  std::string generation();  // headquarters' database generation the cache is of
  std::pair<std::string, std::string> seen();  // store::Store::seen
  std::string rules_version();
  // Deletes what headquarters has applied and the cache's records include, older than the
  // configured retention at `now`, in short slices (each its own transaction under the lock, so a
  // checkout waits for one slice at most), until nothing is left or `at_most` entries went.
  std::int64_t prune(const engine::Instant& now, std::int64_t at_most = std::numeric_limits<std::int64_t>::max());
  // A sync completed at `at_us`: the till is online again.
  void mark_synced(std::int64_t at_us);
  // A sync failed: why, for the status of this and any later process.
  void mark_sync_failed(const std::string& message);
  // Headquarters' rule set could not be installed: why ("" clears it), kept like a sync's failure.
  void mark_rules_error(const std::string& message);
  // The log callback as it is now (none once closed), for logging outside the lock.
  Logger logger();
  // False once close() began: every later call on the till or its checkouts is LOY_E_STATE.
  bool is_open() const noexcept { return open_.load(std::memory_order_acquire); }

 private:
  std::shared_ptr<const engine::RuleSet> rules_locked();
  store::Store& store();  // under mu_; TillError(LOY_E_STATE) once closed
  MemberView view_locked(store::CachedMember cached, const engine::Instant& now);
  // The hash of a scanned code (TillError for one that is not a member code).
  protocol::CodeHash scanned_hash(std::string_view scanned);
  MemberView lookup_locked(const protocol::CodeHash& hash, const engine::Instant& now);
  // The input of a quote without its lines: the member with this till's pending effects, the context
  // and the coupon, read from the store (the member and their pending effects from `seen` when given:
  // read just now under the same lock).
  engine::QuoteInput input_locked(const CheckoutState& checkout, const engine::RuleSet& rules,
                                  const engine::Instant& now, const MemberView* seen = nullptr);
  // The checkout's quote input at `now` with all its lines: its PricingCache, read again first when
  // the database changed since, or the member, the day, the coupon or the offline state did.
  const engine::QuoteInput& priced_input_locked(CheckoutState& checkout, const engine::RuleSet& rules,
                                                const engine::Instant& now, const MemberView* seen = nullptr);
  std::optional<engine::Instant> last_sync_locked();
  SaleRef refund_target_locked(std::string_view sale_store, std::string_view receipt_id);
  // Sales committed before the sale digest was protocol::sale_content's get theirs from their bodies.
  void rehash_sales();

  std::mutex mu_;
  std::atomic<bool> open_{true};
  std::uint64_t generation_ = 1;  // grows with every write to the store, under mu_
  TillConfig config_;
  Logger log_;
  std::optional<store::Store> store_;
  SealingKey sealing_key_;
  CodeHasher hasher_;
  std::optional<std::int64_t> last_sync_us_;  // the store's, kept in memory for every quote and lookup
  std::shared_ptr<const engine::RuleSet> rules_;
};

inline constexpr std::size_t kMaxDocumentBytes = 64 * 1024 * 1024;
inline constexpr std::size_t kMaxRulesBytes = protocol::limits::kRulesBytes;

}  // namespace loyalty::till
