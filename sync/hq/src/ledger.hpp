// Headquarters' ledger (RULES.md, "Member state that headquarters keeps"): each synced sale re-checked
// with the engine under the rules version it names, points in lots that expire, tiers from the net
// spend of a moving window with a grace period, single-use coupons across every store, and the flags
// an operator reviews. Plain C++ over the storage port, inside one of its transactions; the
// arithmetic is policy.hpp's.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "loyalty/engine/quote.hpp"
#include "loyalty/engine/rules.hpp"
#include "loyalty/hq/storage.hpp"
#include "loyalty/hq/txn.hpp"
#include "loyalty/store/database.hpp"
#include "policy.hpp"
#include "port.hpp"

namespace loyalty::hq::detail {

// A published rule set that this headquarters cannot load (a damaged database, or one published by a
// newer release).
class UnloadableRules : public store::StorageError {
 public:
  using store::StorageError::StorageError;
};

// Published rule sets by version, loaded once (a version is never published twice with other text).
// Shared by every transaction; thread-safe.
class RulesCache {
 public:
  // nullptr when the version was never published.
  std::shared_ptr<const engine::RuleSet> get(Tx& tx, std::string_view version);

 private:
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<const engine::RuleSet>, std::less<>> rules_;
};

class Ledger {
 public:
  // Inside one transaction. Call refresh() before anything that needs the current rules.
  Ledger(Tx& tx, RulesCache& rules) : tx_(tx), cache_(rules) {}
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  // A published rule set by version (kept for good: every sale is re-checked under its own), and the
  // current one; nullptr when there is none.
  std::shared_ptr<const engine::RuleSet> rules(std::string_view version) { return cache_.get(tx_, version); }
  std::shared_ptr<const engine::RuleSet> current_rules() const { return current_; }
  void refresh();

  std::optional<MemberState> load(const std::string& id);
  // Writes points, tier, grace and spend back and moves the member on the changes feed; the new version.
  std::int64_t save(const MemberState& m) { return tx_.save_member(m); }

  // The figures a sale counts with once re-checked: points from headquarters' quote, money and the
  // points redeemed as the till took them. A disagreement is flagged with both quotes.
  struct Checked {
    std::int64_t points_earned = 0;
    std::int64_t points_redeemed = 0;
    engine::Minor payable_minor = 0;
    engine::Minor spend_minor = 0;            // what counts towards the tier: headquarters' payable
    std::optional<std::string> coupon_code;  // a coupon both the till and headquarters accepted
  };
  Checked recheck(const Txn& sale, const MemberState* member, std::int64_t now_us);

  // Points. A credit first pays back a negative balance, the rest forms a lot; a debit takes the
  // oldest lots first and may leave the balance negative. Both change m.points.
  void credit(MemberState& m, std::int64_t points, std::int64_t earned_us, std::int64_t expires_us,
              const std::optional<std::string>& txn_id);
  void debit(MemberState& m, std::int64_t points);

  // Tiers. The net spend of the window ending at `at_us`; an upgrade when it qualifies for a higher
  // tier (and the end of a grace period when it qualifies for the tier held). Evaluated at the later
  // of `at_us` (never past `now_us`) and the member's last evaluation; never a downgrade (only the
  // daily pass starts a grace period or ends one).
  void evaluate(MemberState& m, std::int64_t at_us, std::int64_t now_us);

  // One slice of the daily pass at `now_us`: at most `limit` members after `after` in id order, each
  // re-evaluated (upgrade, grace, downgrade, spend); a member changed goes on the changes feed. The
  // last member id of the slice, or nullopt when none was left.
  std::optional<std::string> tier_pass_slice(std::int64_t now_us, const std::string& after, std::int64_t limit,
                                             TierPassReport& report);
  void record_tier(const std::string& member, std::int64_t at_us, const std::string& from, const std::string& to,
                   engine::Minor spend, std::string_view reason) {
    tx_.insert_tier_change(member, at_us, from, to, spend, reason);
  }

  // Coupons: the first redemption to reach headquarters wins; another is flagged. True when the
  // coupon changed (marked used).
  bool use_coupon(const std::string& code, const Txn& sale, const std::optional<std::string>& member,
                  std::int64_t now_us);

  // Flags for operators (docs/headquarters.md lists the kinds).
  void flag(std::string_view kind, const Txn* txn, const std::optional<std::string>& member,
            const std::string& detail_json, std::int64_t now_us, std::string_view store_id = {});
  // A balance that went below zero is flagged; one back at zero or above closes its open flags.
  void check_balance(const MemberState& m, const Txn* txn, std::int64_t now_us);

  // At most `limit` lots due at `now_us` expire, each exactly once; a member whose balance changed
  // goes on the changes feed. False when none was due.
  bool expire_slice(std::int64_t now_us, std::int64_t limit, ExpiryReport& report);

 private:
  // The member's tier at an instant.
  std::string tier_at(const MemberState& m, std::int64_t at_us);
  // Flags `offer_mismatch` when the first-purchase or win-back offer a sale got would not apply
  // with the member's sales headquarters holds from before it (two offline stores each giving it).
  void check_offer(const Txn& sale, const MemberState& m, const engine::RuleSet& rules,
                   const engine::QuoteInput& input, const engine::Quote& q, std::int64_t now_us);
  // True when the member held `tier` at some time in the month before `at_us` (a tier change's
  // either side).
  bool held_recently(const std::string& member, const std::string& tier, std::int64_t at_us);
  engine::Minor window_spend(const engine::RuleSet& rules, const std::string& member, std::int64_t at_us);

  Tx& tx_;
  RulesCache& cache_;
  std::shared_ptr<const engine::RuleSet> current_;
};

}  // namespace loyalty::hq::detail
