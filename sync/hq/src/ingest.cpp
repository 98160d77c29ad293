#include "ingest.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>

#include "loyalty/engine/json_reader.hpp"
#include "loyalty/protocol/limits.hpp"
#include "loyalty/till/member_code.hpp"

namespace loyalty::hq::detail {
namespace {

using ojson = nlohmann::ordered_json;

constexpr std::int64_t kFutureLimitUs = protocol::limits::kFutureSeconds * 1'000'000;
// A transaction dated this far ahead of headquarters' clock is applied but flagged: the till's clock is wrong.
constexpr std::int64_t kFutureFlagUs = 5LL * 60 * 1'000'000;

std::string_view kind_name(TxnKind k) {
  switch (k) {
    case TxnKind::sale: return "sale";
    case TxnKind::refund: return "refund";
    case TxnKind::enrollment: return "enrollment";
  }
  return "sale";
}

// How txns records an outcome: applied, duplicate (of another txn_id: a restored till's), held or rejected.
const char* status_name(const protocol::TxnResult& r) {
  if (r.status == protocol::TxnStatus::applied) return "applied";
  if (r.status == protocol::TxnStatus::duplicate) return "duplicate";
  return protocol::is_final_refusal(r.reason) ? "rejected" : "held";
}

// What a refund held for a sale it names by its receipt waits for: store and till ids hold no '/',
// member and txn ids (the other keys) none at all.
std::string receipt_key(const std::string& store, const std::string& till, const std::string& receipt) {
  return store + "/" + till + "/" + receipt;
}

void reject(protocol::TxnResult& r, std::string reason) {
  r.status = protocol::TxnStatus::rejected;
  r.reason = std::move(reason);
  r.member_id.reset();
  r.member_version = 0;
}

}  // namespace

Ingest::Ingest(Tx& tx, Ledger& ledger, const EnrollmentOpener& opener, LedgerPolicy policy, std::int64_t now_us)
    : tx_(tx), ledger_(ledger), opener_(opener), policy_(policy), now_us_(now_us) {
  ledger_.refresh();
}

void Ingest::prefetch(const std::vector<Txn>& txns) {
  BatchReads b;
  const auto rules = ledger_.current_rules();
  const std::int64_t window_us = rules ? std::int64_t{rules->qualification_window_days} * kMicrosPerDay : 0;
  for (const Txn& t : txns) {
    if (!t.invalid.empty()) continue;
    ++b.rows;
    b.txn_ids.push_back(t.txn_id);
    if (t.member_id) b.member_ids.push_back(*t.member_id);
    if (t.kind == TxnKind::enrollment && t.member_id) b.waiting_keys.push_back(*t.member_id);
    if (t.kind == TxnKind::sale) {
      b.receipts.emplace_back(t.store_id, t.receipt_id);
      b.waiting_keys.push_back(t.txn_id);
      b.waiting_keys.push_back(receipt_key(t.store_id, t.till_id, t.receipt_id));
      // A sale's window ends no earlier than its own time or headquarters' (Ledger::evaluate).
      if (rules) b.spend_after_us = std::min(b.spend_after_us, std::min(t.at.utc_micros, now_us_) - window_us);
    }
  }
  tx_.prefetch(b);
}

Ingest::Outcome Ingest::receive(const Txn& t, protocol::TxnResult& r) {
  // One that cannot be read is kept by its digest, so that its id (if it has one) stays free for
  // the transaction it should have been.
  if (!t.invalid.empty()) {
    refuse_unkeyed(t, t.invalid, r);
    return Outcome::fresh;
  }
  if (const auto f = tx_.find_txn(t.txn_id)) {
    r.member_id = f->member_id;
    r.member_version = f->member_version;
    if (f->digest != t.digest) {
      r.member_id.reset();
      r.member_version = 0;
      refuse_unkeyed(t, "txn_conflict: txn_id " + t.txn_id + " was received before with other content", r);
      return Outcome::fresh;
    }
    const bool in_ledger = f->status == "applied" || f->status == "duplicate";
    if (in_ledger || protocol::is_final_refusal(f->reason)) {
      r.status = in_ledger ? protocol::TxnStatus::duplicate : protocol::TxnStatus::rejected;
      r.reason = in_ledger ? "" : f->reason;
      return Outcome::answered;
    }
    // Sent again, by its own store this time (its till has its own certificate now): a wrong_store
    // it was held for is gone.
    from_own_store_ = t.sent_by_store.empty();
    retry(t, f->row, r);
    from_own_store_ = false;
    return Outcome::retried;
  }
  row_ = tx_.new_txn_row();  // the transaction's row in txns, which its sale row shares
  duplicate_of_.reset();
  waits_for_.reset();
  received_us_ = now_us_;
  check_past(t);
  apply_one(t, r);
  const bool applied = r.status != protocol::TxnStatus::rejected;
  TxnRow row;
  row.row = row_;
  row.txn_id = t.txn_id;
  row.store_id = t.store_id;
  row.till_id = t.till_id;
  row.kind = std::string(kind_name(t.kind));
  row.digest = t.digest;
  row.status = status_name(r);
  if (!r.reason.empty()) row.reason = r.reason;
  row.member_id = r.member_id;
  row.member_version = r.member_version;
  row.at_us = t.at.utc_micros;
  row.received_us = now_us_;
  row.body = t.body;
  if (!applied) row.held_us = now_us_;
  row.duplicate_of = duplicate_of_;
  row.waits_for = waits_for_;
  tx_.insert_txn(row);
  resolved(t, r);
  if (!applied) flag_unapplied(t, r.reason);
  return Outcome::fresh;
}

void Ingest::retry_held(std::int64_t row, const Txn& t, bool accept, const std::string& reason) {
  protocol::TxnResult r;
  // --accept overrides only what the operator was shown: this transaction's own reason.
  accept_conflicts_ = accept && reason.rfind("receipt_conflict:", 0) == 0;
  accept_future_ = accept && reason.rfind("future_timestamp:", 0) == 0;
  accept_store_ = accept && reason.rfind("wrong_store:", 0) == 0;
  try {
    retry(t, row, r);
  } catch (...) {
    accept_conflicts_ = accept_future_ = accept_store_ = false;
    throw;
  }
  accept_conflicts_ = accept_future_ = accept_store_ = false;
}

// A held transaction applied again: applied now, or held (or refused) with the reason of today.
void Ingest::retry(const Txn& t, std::int64_t row, protocol::TxnResult& r) {
  row_ = row;
  r = protocol::TxnResult{};
  r.txn_id = t.txn_id;
  const bool flagged = std::exchange(future_flagged_, true);  // a clock ahead was flagged when it first came
  duplicate_of_.reset();
  waits_for_.reset();
  std::string stored_reason;
  received_us_ = now_us_;
  if (const auto received = tx_.received_of(row)) {  // locked from here on
    // Applied in the meantime, by another instance or another transaction's release: never twice.
    if (received->status == "applied" || received->status == "duplicate") {
      future_flagged_ = flagged;
      r.status = protocol::TxnStatus::duplicate;
      r.member_id = received->member_id;
      r.member_version = received->member_version;
      return;
    }
    received_us_ = received->received_us;
    stored_reason = received->reason;
  }
  // Sent with another store's certificate: applied only when an operator accepts it.
  sent_by_other_store_ =
      stored_reason.rfind("wrong_store:", 0) == 0 && !accept_store_ && !from_own_store_ ? stored_reason : "";
  from_own_store_ = false;  // what it releases in turn was not sent now
  past_dated_ = t.at.utc_micros < received_us_ - past_limit_us();  // judged, and flagged, when it first came
  apply_one(t, r);
  accept_conflicts_ = accept_future_ = accept_store_ = false;  // what it releases in turn is applied on its own terms
  sent_by_other_store_.clear();
  future_flagged_ = flagged;
  const bool applied = r.status != protocol::TxnStatus::rejected;
  TxnUpdate u;
  u.row = row;
  u.status = status_name(r);
  if (!r.reason.empty()) u.reason = r.reason;
  u.member_id = r.member_id;
  u.member_version = r.member_version;
  u.duplicate_of = duplicate_of_;
  u.waits_for = waits_for_;
  tx_.update_txn(u);
  resolved(t, r);
  if (applied) tx_.close_held_flags(t.txn_id, now_us_);
}

// A transaction dated implausibly far back (a till whose clock was reset): more than past_days
// before headquarters receives it, or before the till's previous batch (by the till's own clock;
// ten minutes allowed for sales committed while that batch was on its way). It is applied, flagged
// once per transaction of the storage and till, and a sale's points expire as if earned now.
void Ingest::check_past(const Txn& t) {
  constexpr std::int64_t kInFlightUs = 10LL * 60 * 1'000'000;
  const std::optional<std::int64_t> previous = tx_.till_sent(t.store_id, t.till_id);
  const bool too_old = t.at.utc_micros < now_us_ - past_limit_us();
  const bool before_previous = previous && t.at.utc_micros < *previous - kInFlightUs;
  past_dated_ = too_old;
  if (!too_old && !before_previous) return;
  if (!past_flagged_.insert(t.till_id).second) return;
  ojson detail{{"at", engine::format_instant(t.at)},
               {"days_before_received", (now_us_ - t.at.utc_micros) / kMicrosPerDay}};
  if (before_previous) detail["previous_batch_sent"] = engine::format_instant(engine::Instant{*previous, 0});
  detail["policy"] = too_old ? "applied; its points expire as if earned when headquarters received it"
                             : "applied as dated";
  ledger_.flag("past_timestamp", &t, t.member_id, detail.dump(), now_us_);
}

// A transaction just applied may be what held ones wait for: a member (an enrollment, or the alias
// it made) or a sale. Those are applied again now, in the order they arrived, and what they apply
// in turn may release more (a bounded cascade within the write transaction).
void Ingest::resolved(const Txn& t, const protocol::TxnResult& r) {
  if (r.status == protocol::TxnStatus::rejected || cascading_) return;
  std::vector<std::string> keys;
  if (t.kind == TxnKind::enrollment && t.member_id) keys.push_back(*t.member_id);
  if (t.kind == TxnKind::sale) {
    keys.push_back(t.txn_id);
    keys.push_back(receipt_key(t.store_id, t.till_id, t.receipt_id));
  }
  if (keys.empty()) return;
  cascading_ = true;
  try {
    for (std::size_t k = 0; k < keys.size() && k < 10'000; ++k) {
      for (const std::int64_t row : tx_.waiting_for(keys[k])) {
        const auto body = tx_.txn_body(row);
        if (!body) continue;
        auto held = engine::detail::guarded([&] { return read_txn(engine::detail::parse_json(*body, "txn"), "txn"); });
        if (!held) continue;
        protocol::TxnResult again;
        retry(*held, row, again);
        if (again.status != protocol::TxnStatus::rejected) {
          if (held->kind == TxnKind::sale) {
            keys.push_back(held->txn_id);
            keys.push_back(receipt_key(held->store_id, held->till_id, held->receipt_id));
          }
          if (held->kind == TxnKind::enrollment && held->member_id) keys.push_back(*held->member_id);
        }
      }
    }
  } catch (...) {
    cascading_ = false;
    throw;
  }
  cascading_ = false;
}

// A sale or refund applied before under the same receipt (or refund) id by the same till: the same
// content is that transaction again (answered as a duplicate of it), other content is held
// (receipt_conflict) for an operator. True when `r` is answered.
// `what` names it in a conflict's reason, built only then: this runs for every sale applied.
template <class What>
bool Ingest::repeated(const std::optional<PriorTxn>& prior, const Txn& t, const What& what, protocol::TxnResult& r) {
  if (!prior) return false;
  if (accept_conflicts_) return false;
  if (content_of(prior->body) == content_sha(t)) {
    r.status = protocol::TxnStatus::duplicate;
    r.member_id = prior->member_id;
    r.member_version = prior->member_version;
    duplicate_of_ = prior->txn_id;
  } else {
    reject(r, "receipt_conflict: " + what() + " was applied before as transaction " + prior->txn_id +
                  " with other content (a till restored from a backup?)");
  }
  return true;
}

// SHA-256 of what a stored sale or refund body sells or returns (protocol::sale_content,
// refund_content); "" when it cannot be read.
std::string Ingest::content_of(const std::string& body) {
  auto t = engine::detail::guarded([&] { return read_txn(engine::detail::parse_json(body, "txn"), "txn"); });
  return t ? content_sha(*t) : std::string();
}

std::string Ingest::content_sha(const Txn& t) {
  if (t.kind == TxnKind::sale) {
    // The member as headquarters knows them: a restored till that enrolled the phone again names
    // another id of the same member.
    const auto member = t.member_id ? std::optional<std::string>(tx_.resolve(*t.member_id)) : std::nullopt;
    const auto coupon = t.input.coupon ? std::optional<std::string>(t.input.coupon->code) : std::nullopt;
    return sha256_hex(protocol::sale_content(member, coupon, t.input.redeem_points, t.input.lines));
  }
  std::vector<std::pair<std::string, std::int64_t>> units;
  for (const auto& i : t.refund_items) units.emplace_back(i.line_id, i.units);
  return sha256_hex(protocol::refund_content(refunded_sale(t), units));
}

// The sale a refund refunds: the one it names, or the one that repeats (a restored till's copy);
// if headquarters never received the one it names, the sale applied under its store, till and
// receipt (the same sale committed again under another txn_id, headquarters restored since).
std::string Ingest::refunded_sale(const Txn& t) {
  if (t.sale_store_id && !tx_.find_txn(t.sale_txn_id)) {
    if (const auto found = tx_.prior_sale(*t.sale_store_id, t.receipt_id, *t.sale_till_id)) return found->txn_id;
  }
  return tx_.original_of(t.sale_txn_id);
}

// A transaction with no usable id of its own, kept by its digest and refused for good.
void Ingest::refuse_unkeyed(const Txn& t, std::string reason, protocol::TxnResult& r) {
  if (const auto known = tx_.refused_reason(t.digest)) {
    reason = *known;
  } else {
    tx_.insert_refused(RefusedRow{t.store_id, t.till_id, t.txn_id, t.digest, reason, t.body, now_us_});
    flag_unapplied(t, reason);
  }
  reject(r, std::move(reason));
}

// A transaction headquarters stored and did not apply, for the operator: `held` when its cause can
// go; refused for its own content, the reason's code (invalid_txn, txn_conflict, refund_exceeds_sale,
// invalid_refund, sealed_invalid, member_exists).
void Ingest::flag_unapplied(const Txn& t, const std::string& reason) {
  ojson detail{{"reason", reason}};
  if (t.invalid.empty()) {
    detail["kind"] = std::string(kind_name(t.kind));
    if (!t.receipt_id.empty()) detail["receipt_id"] = t.receipt_id;
  }
  ledger_.flag(protocol::is_final_refusal(reason) ? protocol::refusal_code(reason) : "held", &t,
               t.invalid.empty() ? t.member_id : std::nullopt, detail.dump(), now_us_);
}

void Ingest::apply_one(const Txn& t, protocol::TxnResult& r) {
  r.status = protocol::TxnStatus::applied;
  if (!t.sent_by_store.empty() && !accept_store_)
    return reject(r, "wrong_store: names store " + t.store_id + ", and was sent with store " + t.sent_by_store +
                         "'s certificate (a till moved to another store?)");
  if (!sent_by_other_store_.empty()) return reject(r, sent_by_other_store_);
  if (t.at.utc_micros > now_us_ + kFutureFlagUs) {
    const bool refused = t.at.utc_micros > now_us_ + kFutureLimitUs;
    if (refused && accept_future_) {
      // The operator accepts it: the till's clock was wrong, the sale was made when it arrived.
      Txn dated = t;
      dated.at = engine::Instant{received_us_, t.at.offset_minutes};
      ledger_.flag("future_timestamp", &t, t.member_id,
                   ojson{{"at", engine::format_instant(t.at)},
                         {"accepted", true},
                         {"applied_as_of", engine::format_instant(dated.at)}}.dump(),
                   now_us_);
      accept_future_ = false;
      return apply_one(dated, r);
    }
    // One flag per write transaction: a till whose clock runs ahead dates all its transactions ahead.
    if (!future_flagged_)
      ledger_.flag("future_timestamp", &t, t.member_id,
                   ojson{{"at", engine::format_instant(t.at)},
                         {"ahead_seconds", (t.at.utc_micros - now_us_) / 1'000'000},
                         {"rejected", refused}}.dump(),
                   now_us_);
    future_flagged_ = true;
    if (refused)
      return reject(r, "future_timestamp: the transaction is dated more than 24 hours ahead of headquarters' clock");
  }
  switch (t.kind) {
    case TxnKind::sale: return apply_sale(t, r);
    case TxnKind::refund: return apply_refund(t, r);
    case TxnKind::enrollment: return apply_enrollment(t, r);
  }
}

// When points earned at `at_us` under `version` expire (the current rules when headquarters never
// published that version).
std::int64_t Ingest::expiry_of(std::int64_t at_us, std::string_view version) {
  std::shared_ptr<const engine::RuleSet> rules;
  try {
    rules = ledger_.rules(version);
  } catch (const store::StorageError&) {  // a published set that no longer loads: the current one's terms
  }
  if (!rules) rules = ledger_.current_rules();
  return expiry_after(at_us, rules ? rules->expiry_months : 24, rules ? rules->utc_offset_minutes : 0);
}

void Ingest::apply_sale(const Txn& t, protocol::TxnResult& r) {
  if (repeated(tx_.prior_sale(t.store_id, t.receipt_id, t.till_id), t,
               [&] { return "receipt " + t.receipt_id + " of till " + t.store_id + "/" + t.till_id; }, r))
    return;
  std::optional<std::string> member;
  std::optional<MemberState> m;
  if (t.member_id) {
    member = tx_.resolve(*t.member_id);
    m = ledger_.load(*member);
    if (!m) {
      waits_for_ = *t.member_id;  // applied when that member is
      return reject(r, "unknown_member: headquarters has no member " + *t.member_id);
    }
  }
  const Ledger::Checked c = ledger_.recheck(t, m ? &*m : nullptr, now_us_);
  NewSale s;
  s.row = row_;
  s.txn_id = t.txn_id;
  s.store_id = t.store_id;
  s.receipt_id = t.receipt_id;
  s.member_id = member;
  s.at_us = t.at.utc_micros;
  s.payable_minor = c.payable_minor;
  s.spend_minor = c.spend_minor;
  s.points_earned = member ? c.points_earned : 0;
  s.points_redeemed = member ? c.points_redeemed : 0;
  s.till_points_earned = member ? t.quote.points_earned : 0;
  s.rules_version = t.rules_version;
  tx_.insert_sale(s);
  if (!member) return;
  ledger_.debit(*m, c.points_redeemed);
  if (c.points_earned > 0)
    ledger_.credit(*m, c.points_earned, t.at.utc_micros,
                   expiry_of(past_dated_ ? received_us_ : t.at.utc_micros, t.rules_version), t.txn_id);
  tx_.note_purchase(*member, t.at);
  ledger_.evaluate(*m, t.at.utc_micros, now_us_);
  if (c.coupon_code) ledger_.use_coupon(*c.coupon_code, t, member, now_us_);
  ledger_.check_balance(*m, &t, now_us_);
  r.member_id = member;
  r.member_version = ledger_.save(*m);
}

// What a refund returns by the engine (RULES.md, "Refunds"): the sale's lines as committed, less the
// refunds of it applied before, then this refund's lines. nullopt when an earlier refund cannot be
// followed (one applied before headquarters checked refunds); an error when this one asks for more
// than is left.
engine::Result<std::optional<engine::Refund>> Ingest::recompute_refund(const Txn& t, const std::string& sale_id,
                                                                       std::int64_t sale_row) {
  const std::string sale_body = tx_.txn_body(sale_row).value_or("");
  const std::vector<std::string> earlier = tx_.refund_bodies(sale_id);
  const auto items_of = [](const engine::detail::json& lines, const std::string& path) {
    std::vector<engine::RefundItem> items;
    for (std::size_t i = 0; i < engine::detail::as_array(lines, path).size(); ++i) {
      engine::detail::ObjectReader l(lines[i], engine::detail::index_path(path, i));
      items.push_back(engine::RefundItem{l.string("line_id"), l.integer("units", 1, INT64_MAX)});
    }
    return items;
  };
  auto sale = engine::detail::guarded([&] {
    const auto j = engine::detail::parse_json(sale_body, "sale");
    engine::detail::ObjectReader r(j, "sale");
    return engine::sale_lines(engine::detail::read_quote_input(r.required("input"), "sale.input"),
                              engine::detail::read_quote(r.required("quote"), "sale.quote"));
  });
  if (!sale) return std::optional<engine::Refund>();
  std::vector<engine::SaleLine> left = std::move(sale).value();
  for (const std::string& body : earlier) {
    auto items = engine::detail::guarded([&] {
      const auto j = engine::detail::parse_json(body, "refund");
      engine::detail::ObjectReader r(j, "refund");
      return items_of(r.required("lines"), "refund.lines");
    });
    if (!items) return std::optional<engine::Refund>();
    auto step = engine::refund(left, *items);
    if (!step) return std::optional<engine::Refund>();
    left = std::move(step->left);
  }
  auto refund = engine::refund(left, t.refund_items);
  if (!refund) return engine::Error{refund.error().message};
  return std::optional<engine::Refund>(std::move(refund).value());
}

void Ingest::apply_refund(const Txn& t, protocol::TxnResult& r) {
  // A refund of a sale a restored till committed again refunds the sale applied. A sale this
  // database never received (its till restored from a backup committed the receipt again under
  // another txn_id, and headquarters restored too) is the one applied under its store, till and
  // receipt.
  const std::string sale_id = refunded_sale(t);
  // A refund id is the till's own: another till's refund under the same id is another refund.
  if (repeated(tx_.prior_refund(sale_id, t.refund_id, t.store_id, t.till_id), t,
               [&] { return "refund " + t.refund_id + " of sale " + sale_id; }, r))
    return;
  const auto found = tx_.find_sale(sale_id);
  if (!found) {
    // Applied when that sale is, or any sale under its receipt.
    waits_for_ = t.sale_store_id ? receipt_key(*t.sale_store_id, *t.sale_till_id, t.receipt_id) : sale_id;
    return reject(r, "unknown_sale: headquarters has not applied sale " + sale_id);
  }
  const SaleState& sale = *found;
  // The sale's points expire from when it was earned, or from when it arrived if it was dated back.
  const std::int64_t earned_from = sale.at_us < sale.received_us - past_limit_us() ? sale.received_us : sale.at_us;
  if (sale.refunded_minor + t.amount_minor > sale.payable_minor)
    return reject(r, "refund_exceeds_sale: refunds of sale " + sale_id + " would come to " +
                         std::to_string(sale.refunded_minor + t.amount_minor) + " of " +
                         std::to_string(sale.payable_minor) + " paid");

  // The points a refund moves are the engine's, from the sale's own lines; a till that says
  // otherwise is flagged. The money is the till's: it was handed back.
  auto engine_refund = recompute_refund(t, sale_id, sale.row);
  if (!engine_refund) return reject(r, "invalid_refund: " + engine_refund.error().message);
  std::int64_t taken_now = t.points_taken_back, given_now = t.points_given_back;
  bool whole = sale.refunded_minor + t.amount_minor == sale.payable_minor;
  if (*engine_refund) {
    const engine::Refund& e = **engine_refund;
    if (e.amount_minor != t.amount_minor || e.points_taken_back != t.points_taken_back ||
        e.points_given_back != t.points_given_back) {
      const auto figures = [](engine::Minor amount, std::int64_t taken_back, std::int64_t given_back) {
        return ojson{{"amount_minor", amount}, {"points_taken_back", taken_back}, {"points_given_back", given_back}};
      };
      ledger_.flag("refund_mismatch", &t, sale.member_id,
                   ojson{{"sale_txn_id", sale_id},
                         {"till", figures(t.amount_minor, t.points_taken_back, t.points_given_back)},
                         {"hq", figures(e.amount_minor, e.points_taken_back, e.points_given_back)},
                         {"policy", "points as the engine computes them from the sale's lines; "
                                    "money as the till handed it back"}}
                       .dump(),
                   now_us_);
    }
    taken_now = e.points_taken_back;
    given_now = e.points_given_back;
    whole = std::all_of(e.left.begin(), e.left.end(), [](const engine::SaleLine& l) { return l.units == 0; });
  }
  const RefundTerms terms = refund_terms(
      SaleFigures{sale.payable_minor, sale.refunded_minor, sale.spend_sold_minor, sale.points_earned,
                  sale.till_points_earned, sale.till_taken_back, sale.points_taken_back, sale.points_redeemed,
                  sale.points_given_back},
      t.amount_minor, taken_now, given_now, whole);
  tx_.refund_sale(SaleRefunded{sale.row, t.amount_minor, taken_now, terms.take, terms.give, terms.spend});
  tx_.insert_refund(NewRefund{t.txn_id, sale_id, t.refund_id, t.amount_minor, terms.take, terms.give});
  if (!sale.member_id) return;
  auto m = ledger_.load(*sale.member_id);
  if (!m)
    throw store::StorageError("sale " + sale_id + " names member " + *sale.member_id + ", who is not in the database");
  // Points given back expire as the sale's own points would have.
  if (terms.give > 0) ledger_.credit(*m, terms.give, sale.at_us, expiry_of(earned_from, sale.rules_version), t.txn_id);
  ledger_.debit(*m, terms.take);
  ledger_.evaluate(*m, t.at.utc_micros, now_us_);
  ledger_.check_balance(*m, &t, now_us_);
  r.member_id = sale.member_id;
  r.member_version = ledger_.save(*m);
}

void Ingest::apply_enrollment(const Txn& t, protocol::TxnResult& r) {
  auto personal = opener_.open(t);
  if (!personal) return reject(r, personal.error().message);
  const std::string masked = till::mask_name(personal->name);
  if (tx_.member_exists(*t.member_id) || tx_.resolve(*t.member_id) != *t.member_id) {
    // The same phone enrolled again under the same id (a till restored from a backup): that member.
    const std::optional<std::string> owner = tx_.member_by_code(t.code_hash);
    if (owner && *owner == tx_.resolve(*t.member_id)) {
      r.status = protocol::TxnStatus::duplicate;
      r.member_id = owner;
      r.member_version = tx_.member_version(*owner);
      return;
    }
    return reject(r, "member_exists: member " + *t.member_id + " was enrolled before for another phone");
  }
  if (const std::optional<std::string> owner = tx_.member_by_code(t.code_hash)) {
    // The phone is a member already (enrolled at another till, or imported): one member, and the
    // till's id an alias of it, so that its sales count for that member.
    tx_.insert_alias(*t.member_id, *owner);
    r.member_id = owner;
    r.member_version = tx_.merge_member(*owner, personal->name, masked, personal->phone, personal->birthday);
    return;
  }
  // A new member starts in the lowest tier of headquarters' rules, whatever the till wrote.
  const auto rules = ledger_.current_rules();
  const std::string tier = rules && !rules->tiers.empty() ? rules->tiers.front().id : t.tier;
  tx_.insert_member(NewMember{*t.member_id, personal->name, personal->phone, masked, tier, personal->birthday, now_us_});
  ledger_.record_tier(*t.member_id, t.at.utc_micros, "", tier, 0, "enrolled");
  tx_.insert_code(t.code_hash, *t.member_id, "phone");
  r.member_id = t.member_id;
  r.member_version = 1;
}

}  // namespace loyalty::hq::detail
