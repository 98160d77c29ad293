#include "ledger.hpp"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "loyalty/engine/json_reader.hpp"

namespace loyalty::hq::detail {
namespace {

using ojson = nlohmann::ordered_json;

// A till's cached tier is taken as it was if the member held it within this many days before the sale.
constexpr std::int64_t kStaleTierDays = 31;

ojson figures(const engine::Quote& q) {
  return ojson{{"gross_minor", q.gross_minor},
               {"member_discount_minor", q.member_discount_minor},
               {"coupon_discount_minor", q.coupon_discount_minor},
               {"redeem_points", q.redeem_points},
               {"redeem_value_minor", q.redeem_value_minor},
               {"payable_minor", q.payable_minor},
               {"points_earned", q.points_earned}};
}

bool same_figures(const engine::Quote& a, const engine::Quote& b) {
  return a.gross_minor == b.gross_minor && a.member_discount_minor == b.member_discount_minor &&
         a.coupon_discount_minor == b.coupon_discount_minor && a.redeem_points == b.redeem_points &&
         a.redeem_value_minor == b.redeem_value_minor && a.payable_minor == b.payable_minor &&
         a.points_earned == b.points_earned && a.coupon_rejected == b.coupon_rejected &&
         a.redeem_rejected == b.redeem_rejected && a.member_discount_reason == b.member_discount_reason;
}

}  // namespace

std::shared_ptr<const engine::RuleSet> RulesCache::get(Tx& tx, std::string_view version) {
  {
    std::lock_guard lock(mu_);
    if (const auto it = rules_.find(version); it != rules_.end()) return it->second;
  }
  const auto json = tx.rules_json(version);
  if (!json) return nullptr;
  auto loaded = engine::load_rules(*json);
  // Published rule sets were validated; one that no longer loads is a damaged database.
  if (!loaded) throw UnloadableRules("published rules " + std::string(version) + " no longer load: " + loaded.error().message);
  auto ptr = std::make_shared<const engine::RuleSet>(std::move(loaded).value());
  std::lock_guard lock(mu_);
  return rules_.emplace(std::string(version), ptr).first->second;
}

void Ledger::refresh() {
  const auto version = tx_.current_rules_version();
  if (!version) {
    current_ = nullptr;
    return;
  }
  if (!current_ || current_->version != *version) current_ = rules(*version);
}

std::optional<MemberState> Ledger::load(const std::string& id) {
  auto m = tx_.load_member(id);
  if (m) m->points_before = m->points;
  return m;
}

Ledger::Checked Ledger::recheck(const Txn& sale, const MemberState* ms, std::int64_t now_us) {
  const std::optional<std::string> member = ms ? std::optional<std::string>(ms->id) : std::nullopt;
  Checked till;
  till.points_redeemed = sale.quote.redeem_points;
  till.payable_minor = sale.quote.payable_minor;
  if (!member) return till;  // an anonymous sale changes nothing: no points, no spend

  // A sale headquarters cannot re-check counts no points and no spend: flagged for review.
  const auto unavailable = [&](const std::string& why) {
    flag("recheck_unavailable", &sale, member,
         ojson{{"rules_version", sale.rules_version},
               {"reason", why},
               {"till", figures(sale.quote)},
               {"policy", "no points and no tier spend counted; money and points redeemed as the till took them"}}
             .dump(),
         now_us);
    return till;
  };
  std::shared_ptr<const engine::RuleSet> rules;
  try {
    rules = this->rules(sale.rules_version);
  } catch (const store::StorageError& e) {
    return unavailable(e.what());
  }
  if (!rules) return unavailable("headquarters never published rules version " + sale.rules_version);

  // The sale as headquarters knows it: at its own time, with the member's tier then (or one the
  // member held in the month before, which a till that had not synced since still showed), the
  // member's birthday, and the coupon as headquarters issued it (a code it never issued, or another member's,
  // is unknown).
  engine::QuoteInput input = sale.input;
  input.now = sale.at;
  ojson member_differs = ojson::object();
  if (input.member) {
    // The common case costs no query: the till shows the tier headquarters holds now.
    if (input.member->tier != ms->tier) {
      const std::string held = tier_at(*ms, sale.at.utc_micros);
      if (input.member->tier != held && !held_recently(*member, input.member->tier, sale.at.utc_micros)) {
        member_differs["tier"] = {{"till", input.member->tier}, {"hq", held}};
        input.member->tier = held;
      }
    }
    const auto& birthday = ms->birthday;
    if (input.member->birthday && (!birthday || birthday->month != input.member->birthday->month ||
                                   birthday->day != input.member->birthday->day)) {
      member_differs["birthday"] = true;
      input.member->birthday = birthday;
    }
  }
  if (input.coupon) {
    input.coupon->coupon.reset();
    if (const auto c = tx_.coupon(input.coupon->code)) {
      const auto& owner = c->member_id;
      const std::string& definition = c->definition;
      if (!owner || *owner == *member) {
        auto parsed = engine::detail::guarded([&] {
          auto j = engine::detail::parse_json(definition, "coupon");
          engine::detail::ObjectReader r(j, "coupon");
          return engine::detail::read_coupon_fields(r, input.coupon->code);
        });
        if (parsed) {
          input.coupon->coupon = std::move(parsed).value();
          input.coupon->coupon->used = false;  // single use across stores is the ledger's, not the quote's
        }
      }
    }
  }
  const auto q = engine::quote(*rules, input);
  if (!q) return unavailable("the sale cannot be quoted: " + q.error().message);
  // The same basket always comes to the same gross: a different one means the basket is not what the
  // till priced, and headquarters' figures for it mean nothing.
  if (q->gross_minor != sale.quote.gross_minor)
    return unavailable("the basket comes to " + std::to_string(q->gross_minor) + ", not the quote's " +
                       std::to_string(sale.quote.gross_minor));
  if (!same_figures(*q, sale.quote)) {
    ojson detail = {{"rules_version", sale.rules_version},
                    {"till", figures(sale.quote)},
                    {"hq", figures(*q)},
                    {"policy", "points and tier spend as headquarters computed them; money and points redeemed as "
                               "the till took them"}};
    if (!member_differs.empty()) detail["member_differs"] = member_differs;
    flag("recheck_mismatch", &sale, member, detail.dump(), now_us);
  }
  if (input.member && (q->member_discount_reason == engine::DiscountReason::first_purchase ||
                       q->member_discount_reason == engine::DiscountReason::winback))
    check_offer(sale, *ms, *rules, input, *q, now_us);
  Checked out = till;
  out.points_earned = q->points_earned;
  out.spend_minor = q->payable_minor;
  if (sale.input.coupon && !q->coupon_rejected && !sale.quote.coupon_rejected) out.coupon_code = sale.input.coupon->code;
  return out;
}

void Ledger::check_offer(const Txn& sale, const MemberState& m, const engine::RuleSet& rules,
                         const engine::QuoteInput& input, const engine::Quote& q, std::int64_t now_us) {
  // A first-purchase or win-back offer rests on the member's history, which a till offline may not
  // know all of: with the sales headquarters holds from before this one, would it still apply?
  const auto [before, last] = tx_.history(m.id, sale.at.utc_micros);
  engine::QuoteInput known = input;
  known.member->purchases = std::max(known.member->purchases, before);
  if (last && (!known.member->last_purchase_at || known.member->last_purchase_at->utc_micros < *last))
    known.member->last_purchase_at = engine::Instant{*last, sale.at.offset_minutes};
  const auto hq = engine::quote(rules, known);
  if (!hq || (hq->member_discount_reason == q.member_discount_reason && hq->member_discount_bp == q.member_discount_bp))
    return;
  flag("offer_mismatch", &sale, m.id,
       ojson{{"offer", std::string(engine::to_string(q.member_discount_reason))},
             {"rate_bp", q.member_discount_bp},
             {"sales_before_at_hq", before},
             {"hq_offer", std::string(engine::to_string(hq->member_discount_reason))},
             {"hq_rate_bp", hq->member_discount_bp},
             {"discount_minor", q.member_discount_minor},
             {"hq_discount_minor", hq->member_discount_minor}}
           .dump(),
       now_us);
}

std::string Ledger::tier_at(const MemberState& m, std::int64_t at_us) {
  return tx_.tier_at(m.id, at_us).value_or(m.tier);  // no change recorded before the sale: the tier now
}

bool Ledger::held_recently(const std::string& member, const std::string& tier, std::int64_t at_us) {
  return tx_.tier_held_between(member, tier, at_us - kStaleTierDays * kMicrosPerDay, at_us);
}

void Ledger::credit(MemberState& m, std::int64_t points, std::int64_t earned_us, std::int64_t expires_us,
                    const std::optional<std::string>& txn_id) {
  // A balance stays within what tills accept; beyond it nothing more is credited.
  points = std::min(points, engine::kMaxPoints - m.points);
  if (points <= 0) return;
  const std::int64_t owed = m.points < 0 ? std::min(points, -m.points) : 0;  // a negative balance is paid back first
  tx_.insert_lot(NewLot{m.id, txn_id, earned_us, expires_us, points, points - owed});
  m.points += points;
}

void Ledger::debit(MemberState& m, std::int64_t points) {
  points = std::min(points, engine::kMaxPoints + m.points);
  if (points <= 0) return;
  std::int64_t rest = points;
  for (const OpenLot& lot : tx_.open_lots(m.id, points)) {
    if (rest <= 0) break;
    const std::int64_t take = std::min(rest, lot.left);
    tx_.take_from_lot(lot.id, take);
    rest -= take;
  }
  m.points -= points;
}

void Ledger::check_balance(const MemberState& m, const Txn* txn, std::int64_t now_us) {
  if (m.points < 0 && m.points < m.points_before) {
    flag("negative_balance", txn, m.id, ojson{{"balance_before", m.points_before}, {"balance_after", m.points}}.dump(),
         now_us);
  } else if (m.points >= 0 && m.points_before < 0) {
    tx_.close_balance_flags(m.id, now_us);
  }
}

engine::Minor Ledger::window_spend(const engine::RuleSet& rules, const std::string& member, std::int64_t at_us) {
  return tx_.window_spend(member, at_us - std::int64_t{rules.qualification_window_days} * kMicrosPerDay, at_us);
}

void Ledger::evaluate(MemberState& m, std::int64_t at_us, std::int64_t now_us) {
  const auto rules = current_rules();
  if (!rules) return;
  // Never later than headquarters' clock: a till's clock ahead must not move the window.
  const std::int64_t when = std::max(std::min(at_us, now_us), m.spend_at_us);
  const engine::Minor spend = window_spend(*rules, m.id, when);
  const std::string from = m.tier;
  if (const auto why = rise(*rules, spend, m.tier, m.grace_until_us)) record_tier(m.id, when, from, m.tier, spend, *why);
  m.spend = spend;
  m.spend_at_us = when;
}

std::optional<std::string> Ledger::tier_pass_slice(std::int64_t now_us, const std::string& after, std::int64_t limit,
                                                   TierPassReport& report) {
  const auto rules = current_rules();
  if (!rules) return std::nullopt;
  const auto rows = tx_.pass_slice(after, std::int64_t{rules->qualification_window_days} * kMicrosPerDay, now_us, limit);
  if (rows.empty()) return std::nullopt;
  for (const PassRow& r : rows) {
    ++report.members;
    const PassStep step = pass_step(*rules, r.tier, r.grace_until_us, r.spend, now_us);
    if (step.reason) {
      if (*step.reason == "requalified") ++report.requalified;
      else if (*step.reason == "grace") ++report.graced;
      else if (*step.reason == "downgrade") ++report.downgraded;
      else ++report.upgraded;
      record_tier(r.id, now_us, r.tier, step.tier, r.spend, *step.reason);
    }
    // Only what changed is written: most members' figures stay the same from one day to the next.
    if (step.tier == r.tier && step.grace_until_us == r.grace_until_us && r.spend == r.old_spend) continue;
    tx_.set_tier(r.id, step.tier, step.grace_until_us, r.spend, r.window_end_us);
    ++report.changed;
  }
  return rows.back().id;
}

bool Ledger::use_coupon(const std::string& code, const Txn& sale, const std::optional<std::string>& member,
                        std::int64_t now_us) {
  const auto c = tx_.coupon(code);
  if (!c) return false;  // unknown to headquarters: the re-check flagged the sale
  if (!c->used_txn_id) {
    tx_.use_coupon(code, sale.txn_id, sale.store_id, sale.at.utc_micros);
    return true;
  }
  if (*c->used_txn_id == sale.txn_id) return false;
  flag("coupon_double_use", &sale, member,
       ojson{{"code", code},
             {"first", {{"txn_id", *c->used_txn_id}, {"store_id", c->used_store.value_or("")},
                        {"at", c->used_at_us ? engine::format_instant(engine::Instant{*c->used_at_us, 0}) : ""}}},
             {"again", {{"txn_id", sale.txn_id}, {"store_id", sale.store_id}, {"till_id", sale.till_id},
                        {"at", engine::format_instant(sale.at)}, {"coupon_discount_minor", sale.quote.coupon_discount_minor}}}}
           .dump(),
       now_us);
  return false;
}

void Ledger::flag(std::string_view kind, const Txn* txn, const std::optional<std::string>& member,
                  const std::string& detail_json, std::int64_t now_us, std::string_view store_id) {
  NewFlag f;
  f.kind = std::string(kind);
  f.raised_us = now_us;
  if (txn) {
    f.store_id = txn->store_id;
    f.till_id = txn->till_id;
    f.txn_id = txn->txn_id;
  } else if (!store_id.empty()) {
    f.store_id = std::string(store_id);
  }
  f.member_id = member;
  f.detail = detail_json;
  tx_.insert_flag(f);
}

bool Ledger::expire_slice(std::int64_t now_us, std::int64_t limit, ExpiryReport& report) {
  const auto due = tx_.due_lots(now_us, limit);
  if (due.empty()) return false;
  std::map<std::string, std::int64_t> expired;  // points by member
  for (const DueLot& d : due) {
    tx_.expire_lot(d.id);
    expired[d.member_id] += d.left;
    ++report.lots;
    report.points += d.left;
  }
  for (const auto& [member, points] : expired) tx_.expire_points(member, points);
  report.members += static_cast<std::int64_t>(expired.size());
  return true;
}


}  // namespace loyalty::hq::detail
