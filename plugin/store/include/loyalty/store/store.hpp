// The till's database: member cache, coupons, rules, outbox of committed sales, sync state.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "loyalty/protocol/changes.hpp"
#include "loyalty/store/database.hpp"

namespace loyalty::store {

struct CachedMember {
  engine::Member member;
  std::int64_t version = 0;
  std::string masked_name;
};

// This till's effects on a member that headquarters has not confirmed yet: points earned less
// redeemed, and the sales themselves (for the purchase count and the last purchase).
struct PendingEffects {
  std::int64_t points = 0;
  std::int64_t sales = 0;
  std::optional<std::int64_t> last_sale_us;
};

// A committed sale as stored: what is left of its lines (JSON; "" while none of them was refunded:
// the lines as sold are its transaction's) and its transaction for headquarters, which holds the
// quote it was sold at.
struct StoredSale {
  std::string receipt_id;
  std::string txn_id;
  std::optional<std::string> member_id;
  std::string lines;
  std::string body;
  std::string digest;  // of what was sold: a receipt id committed again must name the same sale
  std::string origin;  // "" for this till's own sale; the store of one fetched from headquarters
  std::int64_t outbox_seq = 0;  // its outbox entry (0 for one fetched from headquarters)
};

struct StoredRefund {
  std::string origin, receipt_id;  // the sale refunded
  std::string result;              // JSON
};

struct NewSale {
  std::string receipt_id;
  std::string digest;
  std::optional<std::string> member_id;
  std::int64_t local_day = 0;  // days since 1970-01-01 in the sale's own offset
  bool offline = false;
  std::int64_t redeemed_points = 0;
  std::optional<std::string> coupon_code;  // an accepted coupon
  // Its lines as sold are its entry's body's (input and quote): a refund reads them from there until
  // one of them is refunded.
};

// One transaction for headquarters, queued until it is synced.
struct OutboxEntry {
  std::string txn_id;
  std::string kind;  // sale, refund, enrollment
  std::optional<std::string> member_id;
  std::int64_t points_delta = 0;
  std::optional<std::int64_t> at_us;
  std::string body;  // the transaction as sent (docs/protocol.md)
  std::int64_t created_us = 0;
};

// An outbox entry headquarters has not answered yet, as the sync sends it.
struct Unsent {
  std::int64_t seq = 0;
  std::string txn_id;
  std::string body;
};

// Headquarters' answer for one outbox entry.
struct Answer {
  std::int64_t seq = 0;
  bool rejected = false;
  bool held = false;                     // rejected for a cause that can go: headquarters holds it
  std::string reason;                    // rejected: why
  std::optional<std::string> member_id;  // applied: the member it counts for (another id after a merge)
  std::int64_t member_version = 0;       // applied: that member's version which includes it
};

struct StoreStatus {
  std::int64_t outbox_depth = 0;
  std::int64_t rejected = 0;  // entries headquarters refused for good (kept, never resent)
  std::int64_t held = 0;      // entries headquarters stored and holds (sent again at every sync)
  std::string last_sync_error;
  std::string rules_error;  // why headquarters' current rule set could not be installed ("" when it was)
  std::optional<std::int64_t> oldest_unsynced_us;  // created_us of the oldest unsynced entry
  std::int64_t cursor = 0;
  std::optional<std::int64_t> last_sync_us;
  std::int64_t members = 0;
  std::string rules_version;
};

class Store;

// Several reads as one read transaction: one consistent snapshot, and one lock instead of one per
// statement.
class ReadTransaction {
 public:
  explicit ReadTransaction(Store& s);
  ~ReadTransaction();
  ReadTransaction(const ReadTransaction&) = delete;
  ReadTransaction& operator=(const ReadTransaction&) = delete;

 private:
  Store& s_;
};

class Store {
 public:
  // Opens the database file, creating it or migrating its schema (PRAGMA user_version).
  explicit Store(const std::string& path);
  // Files the sales not filed yet (best effort: they are filed again at the next open otherwise).
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  static constexpr std::int64_t kSchemaVersion = 6;
  // A sale's row of `sales` is written with those of the sales before it once this many wait to be
  // filed, or sooner by any write that comes (schema 6).
  static constexpr std::size_t kFileSalesEvery = 64;

  std::optional<std::string> rules_json();
  // Stores a rule set; false when that version is already the current one.
  bool save_rules(const std::string& version, std::string_view json);

  struct Applied {
    std::int64_t members = 0;  // records written
    std::int64_t skipped = 0;  // records not newer than the cache's
    std::int64_t coupons = 0;
    std::int64_t next = 0;  // the cursor now
    bool more = false;      // the page said another follows
    bool new_generation = false;  // headquarters' database went back: this page starts the feed over
  };
  // Applies a changes page in one transaction and moves the cursor to doc.next. A page of another
  // generation than the till's (headquarters restored from a backup) starts over first: every cached
  // record yields to headquarters' (versions back to 0), and every transaction headquarters had
  // answered is queued again, since the restored database may not hold it (not counted as pending
  // until it is answered again).
  Applied apply_changes(const protocol::ChangesDocument& doc, bool from_headquarters = false);

  std::optional<CachedMember> member_by_code(const protocol::CodeHash& code);
  std::optional<CachedMember> member_by_id(std::string_view id);

  // This till's effects on the member that headquarters has not confirmed yet (RULES.md: pending).
  // An effect stops counting once the member record that includes it has arrived: `cache_version` is
  // the version of the cached record (read in the same transaction), 0 when there is none.
  PendingEffects pending(std::string_view member_id, std::int64_t cache_version);
  // Points this member redeemed at this till on that day while offline.
  std::int64_t redeemed_offline(std::string_view member_id, std::int64_t local_day);
  // True when a sale at this till has used the coupon (headquarters may not know yet).
  bool coupon_used_here(std::string_view code);

  // A sale by its origin ("" for this till's own; a store's id for one fetched from headquarters)
  // and receipt id.
  std::optional<StoredSale> sale(std::string_view origin, std::string_view receipt_id);
  // What is left of a sale's lines, as headquarters and this till's own refunds of it say.
  void set_sale_lines(std::string_view origin, std::string_view receipt_id, const std::string& lines);
  // The member an outbox entry counts for now (another than it named after a merge at headquarters).
  std::optional<std::string> entry_member(std::int64_t seq);
  // This till's refunds of a sale that headquarters has not refused (txn_id, body), oldest first.
  std::vector<std::pair<std::string, std::string>> refunds_of(std::string_view origin, std::string_view receipt_id);
  // The sale and its outbox entry in one transaction (one fsync); returns the entry's sequence number.
  // StorageError when this till holds a sale of that receipt.
  std::int64_t commit_sale(const NewSale& sale, const OutboxEntry& entry);

  // A sale of another till fetched from headquarters, kept under its store (`origin`) and receipt so
  // that it can be refunded here (nothing to send); fetched again, its lines are replaced.
  void add_foreign_sale(const std::string& origin, const std::string& receipt_id, const std::string& txn_id,
                        const std::optional<std::string>& member_id, const std::string& lines, const std::string& body);

  std::optional<StoredRefund> refund(std::string_view refund_id);
  // What is left of the sale, the refund and its outbox entry in one transaction.
  std::int64_t commit_refund(const std::string& refund_id, const std::string& origin, const std::string& receipt_id,
                             const std::string& lines_left, const std::string& result, const OutboxEntry& entry);

  // A refund this till made that headquarters holds and this database lost: kept again as applied
  // (its entry answered, counting nowhere as pending), with its first result.
  void adopt_refund(const std::string& refund_id, const std::string& origin, const std::string& receipt_id,
                    const std::string& result, const OutboxEntry& entry);
  // A member enrolled at this till and its outbox entry in one transaction.
  // `cache`: the member is new here and goes into the cache too.
  std::int64_t commit_enrollment(const protocol::MemberRecord& member, const OutboxEntry& entry, bool cache = true);
  // True when the outbox holds an enrollment of this member that headquarters did not refuse.
  bool holds_enrollment(std::string_view member_id);

  std::optional<protocol::CouponRecord> coupon(std::string_view code);

  StoreStatus status();
  std::optional<std::int64_t> last_sync_us();
  std::int64_t cursor();  // of the changes feed
  std::string generation();  // headquarters' database generation the cache is of ("" before any)
  // What this till has seen of headquarters: the newest member record ("ID VERSION", "" before any)
  // and the newest transaction it applied ("" before any). A headquarters without them went back.
  std::pair<std::string, std::string> seen();
  // Why the last sync failed ("" after a success): kept, so that any process opening the till sees it.
  void set_sync_error(std::string_view message);
  std::string sync_error();
  // Why headquarters' rule set could not be installed ("" once it is, or it is unchanged).
  void set_rules_error(std::string_view message);
  void set_last_sync_us(std::int64_t us);

  // Headquarters' answer for one outbox entry. Applied (or a duplicate of one applied): its effect is
  // in the member record of `member_version` and later, and stops counting as pending once the cache
  // holds such a record. Rejected: it was never applied and never counts; `reason` says why.
  void acknowledge(std::int64_t seq, std::int64_t member_version,
                   const std::optional<std::string>& member_id = std::nullopt);
  void reject(std::int64_t seq, std::string_view reason);
  // Headquarters stored it and holds it for a cause that can go: it is sent again at every sync.
  void hold(std::int64_t seq, std::string_view reason);
  // The answers of one batch in one transaction.
  void record_answers(const std::vector<Answer>& answers);
  // Up to `limit` entries to send after `after_seq` and up to `through_seq`, oldest first: those not
  // answered yet, and those headquarters holds.
  // An entry whose stored body is damaged is refused here for good (state 2, with the reason) and
  // named in `damaged` (seq, reason): it is not sent, and the ones after it are.
  std::vector<Unsent> unsent(std::size_t limit, std::int64_t after_seq = 0, std::int64_t through_seq = INT64_MAX,
                             std::vector<std::pair<std::int64_t, std::string>>* damaged = nullptr);
  // Deletes up to `limit` outbox entries headquarters applied, created before `before_us` and included
  // in the member record the cache holds, with a sale's lines and refunds; and the offline
  // redemptions of days before `today` - 1; stops early (after one entry at least) once `until`
  // has passed. Never the newest entry: SQLite gives the next one the largest seq plus one, which must
  // never be one an earlier entry had (refunds and answered_through name entries by seq). Returns how
  // many entries went (0: nothing left to prune).
  std::int64_t prune(std::int64_t before_us, std::int64_t today, std::size_t limit,
                     std::chrono::steady_clock::time_point until = std::chrono::steady_clock::time_point::max());
  // Entries to send: waiting for an answer, or held by headquarters.
  std::int64_t to_send();
  // The newest outbox entry's sequence number (0 when empty).
  std::int64_t last_seq();

  // Sales whose digest is of an earlier formula (before protocol::sale_content): receipt id and body;
  // nullopt once set_sale_digests() has run.
  std::optional<std::vector<std::pair<std::string, std::string>>> sales_to_rehash();
  // Each sale's digest (receipt id, digest), in one transaction, and the formula recorded as current.
  void set_sale_digests(const std::vector<std::pair<std::string, std::string>>& digests);

  Database& database() { return db_; }

 private:
  friend class ReadTransaction;
  void migrate();
  CachedMember read_member(Statement& s);
  void upsert_member(const protocol::MemberRecord& m);

  // Restores synchronous=FULL if a relaxed write could not (StorageError when it still cannot):
  // called before every write that must survive a power loss.
  void durable();

  Database db_;
  bool relaxed_ = false;  // synchronous=FULL is not known to be in force
  // Writes an entry (a sale's names its receipt, digest and coupon); what it counts for its member is
  // the caller's to add once the transaction is committed (count_unanswered).
  std::int64_t add_outbox(const OutboxEntry& e, const NewSale* sale = nullptr);

  // The entries to send (waiting for an answer or held), and those waiting with their created_us.
  std::set<std::int64_t> to_send_;
  std::map<std::int64_t, std::int64_t> waiting_;
  // Every entry up to it has headquarters' answer (meta "answered_through"); moved on with each batch
  // of answers, back to 0 by a new generation.
  std::int64_t answered_through();
  void advance_answered_through();
  void held(std::int64_t seq);

  // What counts as pending is kept in two parts. The effects of the entries headquarters has not
  // answered (waiting or held) are in memory: loaded at open, added to once an entry is committed,
  // taken out once its answer is. Applied entries count from the database (the outbox_answered index)
  // until the member record that includes them arrives, for the members in answered_members_ only
  // (more, never fewer: a member is added when an entry of theirs is applied, and nothing is taken
  // out before the next open). Most members a till looks up have neither, and cost no statement.
  struct IdHash {
    using is_transparent = void;  // looked up by string_view, without a string made for it
    std::size_t operator()(std::string_view id) const noexcept { return std::hash<std::string_view>{}(id); }
  };
  using MemberSet = std::unordered_set<std::string, IdHash, std::equal_to<>>;
  struct Effect {
    std::int64_t seq = 0;
    std::int64_t points = 0;
    bool sale = false;
    std::optional<std::int64_t> at_us;
  };
  using Effects = std::unordered_map<std::string, std::vector<Effect>, IdHash, std::equal_to<>>;
  // What an entry counts while unanswered: an entry asked for again after a new generation only what
  // it takes from its member.
  static Effect effect_of(std::int64_t seq, std::int64_t points, bool sale, std::optional<std::int64_t> at_us, bool again);
  Effects unanswered_;
  std::unordered_map<std::int64_t, std::string> unanswered_member_;  // seq -> the member it is filed under
  MemberSet answered_members_;
  void load_effects();
  void count_unanswered(std::int64_t seq, const OutboxEntry& e);
  // An entry waiting for headquarters' answer: to send, and counting `effect` for its member.
  void track_waiting(std::int64_t seq, std::int64_t created_us, const std::optional<std::string>& member_id, const Effect& effect);
  // Headquarters' answer for `seq` is in the database: applied (under `member_id` when it names
  // another member) or refused.
  void answered(std::int64_t seq, bool applied, const std::optional<std::string>& member_id);
  // Each false when the database holds no such entry (nothing written).
  bool acknowledge_row(std::int64_t seq, std::int64_t member_version, const std::optional<std::string>& member_id);
  bool reject_row(std::int64_t seq, std::string_view reason);
  bool hold_row(std::int64_t seq, std::string_view reason);

  // This till's own sales whose rows of `sales` are not written yet, oldest first (fewer than
  // kFileSalesEvery once a sale is committed): every sale entry after meta "sales_filed_through". Their entries hold
  // what the rows do (receipt, digest, coupon), so that they are loaded again at open. A write
  // that comes files them in its own transaction (file_sales), and this is cleared once it commits.
  struct UnfiledSale {
    std::int64_t seq = 0;
    std::string receipt_id, digest;
    std::optional<std::string> member_id, coupon_code;
  };
  std::vector<UnfiledSale> unfiled_;
  void load_unfiled();
  const UnfiledSale* unfiled(std::string_view receipt_id) const;
  // Writes the rows of unfiled_ and of `also`, and moves sales_filed_through on, in the caller's
  // transaction; false when there was nothing to write. unfiled_ is the caller's to clear once the
  // transaction has committed.
  bool file_sales(const UnfiledSale* also = nullptr);
  // A write transaction that files the sales waiting first; they leave unfiled_ once it commits.
  class FilingTransaction;

  std::optional<Statement> by_code_, by_id_, pending_, coupon_, member_version_, insert_member_, delete_codes_,
      insert_code_, coupon_version_, upsert_coupon_, get_meta_, set_meta_, redeemed_offline_, coupon_used_, sale_,
      insert_sale_, own_sale_exists_, update_sale_lines_, insert_outbox_, refund_, insert_refund_, add_redeemed_offline_, begin_, commit_, ack_,
      prunable_, prune_body_, prune_answer_, prune_entry_, prune_refunds_, prune_sale_, unsent_, first_waiting_, entry_body_;
};

}  // namespace loyalty::store
