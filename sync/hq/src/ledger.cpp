#include "ledger.hpp"

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>

#include "loyalty/engine/json_reader.hpp"

namespace loyalty::hq::detail {
namespace {

using store::Statement;
using ojson = nlohmann::ordered_json;

constexpr std::int64_t kMicrosPerMinute = 60'000'000;
constexpr std::int64_t kMicrosPerDay = 86'400'000'000;
// A till's cached tier is taken as it was if the member held it within this many days before the sale.
constexpr std::int64_t kStaleTierDays = 31;

// The index of a tier in the rules (ascending spend), or -1 for a tier the rules no longer have.
int rank_of(const engine::RuleSet& rules, std::string_view tier) {
  for (std::size_t i = 0; i < rules.tiers.size(); ++i)
    if (rules.tiers[i].id == tier) return static_cast<int>(i);
  return -1;
}

// The highest tier whose threshold the spend reaches (the first tier is at 0).
int qualified(const engine::RuleSet& rules, engine::Minor spend) {
  int q = 0;
  for (std::size_t i = 0; i < rules.tiers.size(); ++i)
    if (rules.tiers[i].min_spend_minor <= spend) q = static_cast<int>(i);
  return q;
}

ojson figures(const engine::Quote& q) {
  return ojson{{"gross_minor", q.gross_minor},
               {"member_discount_minor", q.member_discount_minor},
               {"coupon_discount_minor", q.coupon_discount_minor},
               {"redeem_points", q.redeem_points},
               {"redeem_value_minor", q.redeem_value_minor},
               {"payable_minor", q.payable_minor},
               {"points_earned", q.points_earned}};
}

// A spend summed as a double by SQLite's TOTAL (which cannot overflow): exact below 2^53 minor units,
// and held within the engine's range above.
engine::Minor clamp_total(double total) {
  if (!(total > 0)) return 0;
  if (total >= 1e18) return 1'000'000'000'000'000'000;
  return static_cast<engine::Minor>(total);
}

// What a spend earns at once, never a loss: a higher tier (grace ended), or the end of a grace period
// when it reaches the tier held. The reason to record, or nullopt when nothing changes.
std::optional<std::string_view> rise(const engine::RuleSet& rules, engine::Minor spend, std::string& tier,
                                     std::optional<std::int64_t>& grace_until_us) {
  const int cur = rank_of(rules, tier);
  const int q = qualified(rules, spend);
  if (q > cur) {
    tier = rules.tiers[static_cast<std::size_t>(q)].id;
    grace_until_us.reset();
    return cur < 0 ? "tier_not_in_rules" : "upgrade";
  }
  if (q == cur && grace_until_us) {
    grace_until_us.reset();
    return "requalified";
  }
  return std::nullopt;
}

bool same_figures(const engine::Quote& a, const engine::Quote& b) {
  return a.gross_minor == b.gross_minor && a.member_discount_minor == b.member_discount_minor &&
         a.coupon_discount_minor == b.coupon_discount_minor && a.redeem_points == b.redeem_points &&
         a.redeem_value_minor == b.redeem_value_minor && a.payable_minor == b.payable_minor &&
         a.points_earned == b.points_earned && a.coupon_rejected == b.coupon_rejected &&
         a.redeem_rejected == b.redeem_rejected && a.member_discount_reason == b.member_discount_reason;
}

}  // namespace

namespace {

// The calendar day of `at_us` in `offset_minutes`, and back: the UTC microseconds at which a day starts
// in that offset.
std::chrono::sys_days local_day(std::int64_t at_us, std::int32_t offset_minutes) {
  using namespace std::chrono;
  return floor<days>(sys_time<microseconds>(microseconds(at_us + std::int64_t{offset_minutes} * kMicrosPerMinute)));
}
std::int64_t start_of(std::chrono::sys_days day, std::int32_t offset_minutes) {
  using namespace std::chrono;
  return duration_cast<microseconds>(day.time_since_epoch()).count() - std::int64_t{offset_minutes} * kMicrosPerMinute;
}

}  // namespace

std::int64_t expiry_after(std::int64_t at_us, std::int32_t months, std::int32_t offset_minutes) {
  using namespace std::chrono;
  const year_month_day ymd{local_day(at_us, offset_minutes)};
  const year_month after = year_month{ymd.year(), ymd.month()} + std::chrono::months{months + 1};
  return start_of(sys_days{after / 1}, offset_minutes);
}

std::int64_t day_start(std::int64_t at_us, std::int32_t offset_minutes) {
  return start_of(local_day(at_us, offset_minutes), offset_minutes);
}

Ledger::Ledger(store::Database& db, std::int64_t& seq)
    : seq_(seq),
      rules_json_(db, "SELECT json FROM rules WHERE version = ?1"),
      current_version_(db, "SELECT version FROM rules ORDER BY rowid DESC LIMIT 1"),
      load_(db, "SELECT points, tier, grace_until_us, spend_minor, spend_at_us, birthday FROM members WHERE id = ?1"),
      save_(db, "UPDATE members SET points = ?2, tier = ?3, grace_until_us = ?4, spend_minor = ?5, spend_at_us = ?6, "
                "version = version + 1, seq = ?7 WHERE id = ?1 RETURNING version"),
      expire_points_(db, "UPDATE members SET points = points - ?2, version = version + 1, seq = ?3 WHERE id = ?1"),
      open_lots_(db, "SELECT id, left FROM lots WHERE member_id = ?1 AND left > 0 ORDER BY expires_us, id"),
      take_lot_(db, "UPDATE lots SET left = left - ?2 WHERE id = ?1"),
      insert_lot_(db, "INSERT INTO lots(member_id, txn_id, earned_us, expires_us, points, left) "
                      "VALUES(?1, ?2, ?3, ?4, ?5, ?6)"),
      spend_(db, "SELECT TOTAL(spend_minor) FROM sales "
                 "WHERE member_id = ?1 AND at_us > ?2 AND at_us <= ?3"),
      set_tier_(db, "UPDATE members SET tier = ?2, grace_until_us = ?3, spend_minor = ?4, spend_at_us = ?5, "
                    "version = version + 1, seq = ?6 WHERE id = ?1"),
      insert_tier_change_(db, "INSERT INTO tier_changes(member_id, at_us, from_tier, to_tier, spend_minor, reason) "
                              "VALUES(?1, ?2, ?3, ?4, ?5, ?6)"),
      coupon_(db, "SELECT member_id, definition, used_txn_id, used_store, used_at_us FROM coupons WHERE code = ?1"),
      use_coupon_(db, "UPDATE coupons SET used_txn_id = ?2, used_store = ?3, used_at_us = ?4, version = version + 1, "
                      "seq = ?5 WHERE code = ?1"),
      insert_flag_(db, "INSERT INTO flags(kind, raised_us, store_id, till_id, member_id, txn_id, detail) "
                       "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
      close_flags_(db, "UPDATE flags SET closed_us = ?2 WHERE member_id = ?1 AND kind = 'negative_balance' "
                       "AND closed_us IS NULL"),
      tier_at_(db, "SELECT to_tier FROM tier_changes WHERE member_id = ?1 AND at_us <= ?2 "
                   "ORDER BY at_us DESC, id DESC LIMIT 1"),
      history_(db, "SELECT COUNT(*), MAX(at_us) FROM sales WHERE member_id = ?1 AND at_us < ?2"),
      held_(db, "SELECT 1 FROM tier_changes WHERE member_id = ?1 AND at_us > ?2 AND at_us <= ?3 "
                "AND (from_tier = ?4 OR to_tier = ?4) LIMIT 1"),
      next_expiry_(db, "SELECT expires_us, TOTAL(left) FROM lots WHERE member_id = ?1 AND left > 0 "
                       "GROUP BY expires_us ORDER BY expires_us LIMIT 1"),
      pass_slice_(db, "SELECT m.id, m.tier, m.grace_until_us, m.spend_minor, "
                      "(SELECT TOTAL(s.spend_minor) FROM sales s "
                      " WHERE s.member_id = m.id AND s.at_us > ?2 AND s.at_us <= ?3) "
                      "FROM members m WHERE m.id > ?1 ORDER BY m.id LIMIT ?4"),
      due_lots_(db, "SELECT id, member_id, left FROM lots WHERE left > 0 AND expires_us <= ?1 "
                    "ORDER BY expires_us, id LIMIT ?2"),
      expire_lot_(db, "UPDATE lots SET expired = left, left = 0 WHERE id = ?1") {}

std::shared_ptr<const engine::RuleSet> Ledger::rules(std::string_view version) {
  if (const auto it = rules_.find(version); it != rules_.end()) return it->second;
  rules_json_.bind(1, version);
  if (!rules_json_.step()) {
    rules_json_.reset();
    return nullptr;
  }
  const std::string json = rules_json_.text(0);
  rules_json_.reset();
  auto loaded = engine::load_rules(json);
  // Published rule sets were validated; one that no longer loads is a damaged database.
  if (!loaded) throw UnloadableRules("published rules " + std::string(version) + " no longer load: " + loaded.error().message);
  auto ptr = std::make_shared<const engine::RuleSet>(std::move(loaded).value());
  rules_.emplace(std::string(version), ptr);
  return ptr;
}

void Ledger::refresh() {
  if (!current_version_.step()) {
    current_version_.reset();
    current_ = nullptr;
    return;
  }
  const std::string version = current_version_.text(0);
  current_version_.reset();
  if (!current_ || current_->version != version) current_ = rules(version);
}

std::optional<Ledger::MemberState> Ledger::load(const std::string& id) {
  load_.bind(1, id);
  if (!load_.step()) {
    load_.reset();
    return std::nullopt;
  }
  MemberState m;
  m.id = id;
  m.points = m.points_before = load_.integer(0);
  m.tier = load_.text(1);
  m.grace_until_us = load_.optional_integer(2);
  m.spend = load_.integer(3);
  m.spend_at_us = load_.integer(4);
  if (const auto b = load_.optional_integer(5))
    m.birthday = store::month_day_from_int(*b);
  load_.reset();
  return m;
}

std::int64_t Ledger::save(const MemberState& m, std::int64_t seq) {
  save_.bind(1, m.id).bind(2, m.points).bind(3, m.tier).bind(4, m.grace_until_us).bind(5, m.spend)
      .bind(6, m.spend_at_us).bind(7, seq);
  if (!save_.step()) {
    save_.reset();
    throw store::StorageError("member " + m.id + " is not in the database");
  }
  const std::int64_t version = save_.integer(0);
  save_.reset();
  return version;
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
    coupon_.bind(1, input.coupon->code);
    if (coupon_.step()) {
      const auto owner = coupon_.optional_text(0);
      const std::string definition = coupon_.text(1);
      coupon_.reset();
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
    } else {
      coupon_.reset();
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
  history_.bind(1, m.id).bind(2, sale.at.utc_micros);
  history_.step();
  const std::int64_t before = history_.integer(0);
  const std::optional<std::int64_t> last = history_.optional_integer(1);
  history_.reset();
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
  tier_at_.bind(1, m.id).bind(2, at_us);
  std::string tier = tier_at_.step() ? tier_at_.text(0) : m.tier;  // no change recorded before the sale: the tier now
  tier_at_.reset();
  return tier;
}

bool Ledger::held_recently(const std::string& member, const std::string& tier, std::int64_t at_us) {
  held_.bind(1, member).bind(2, at_us - kStaleTierDays * kMicrosPerDay).bind(3, at_us).bind(4, tier);
  const bool held = held_.step();
  held_.reset();
  return held;
}

void Ledger::credit(MemberState& m, std::int64_t points, std::int64_t earned_us, std::int64_t expires_us,
                    const std::optional<std::string>& txn_id) {
  // A balance stays within what tills accept; beyond it nothing more is credited.
  points = std::min(points, engine::kMaxPoints - m.points);
  if (points <= 0) return;
  const std::int64_t owed = m.points < 0 ? std::min(points, -m.points) : 0;  // a negative balance is paid back first
  insert_lot_.bind(1, m.id).bind(2, txn_id).bind(3, earned_us).bind(4, expires_us).bind(5, points)
      .bind(6, points - owed).run();
  m.points += points;
}

void Ledger::debit(MemberState& m, std::int64_t points) {
  points = std::min(points, engine::kMaxPoints + m.points);
  if (points <= 0) return;
  std::vector<std::pair<std::int64_t, std::int64_t>> takes;
  std::int64_t rest = points;
  open_lots_.bind(1, m.id);
  while (rest > 0 && open_lots_.step()) {
    const std::int64_t take = std::min(rest, open_lots_.integer(1));
    takes.emplace_back(open_lots_.integer(0), take);
    rest -= take;
  }
  open_lots_.reset();
  for (const auto& [id, take] : takes) take_lot_.bind(1, id).bind(2, take).run();
  m.points -= points;
}

void Ledger::check_balance(const MemberState& m, const Txn* txn, std::int64_t now_us) {
  if (m.points < 0 && m.points < m.points_before) {
    flag("negative_balance", txn, m.id, ojson{{"balance_before", m.points_before}, {"balance_after", m.points}}.dump(),
         now_us);
  } else if (m.points >= 0 && m.points_before < 0) {
    close_flags_.bind(1, m.id).bind(2, now_us).run();
  }
}

engine::Minor Ledger::window_spend(const engine::RuleSet& rules, const std::string& member, std::int64_t at_us) {
  spend_.bind(1, member).bind(2, at_us - std::int64_t{rules.qualification_window_days} * kMicrosPerDay).bind(3, at_us);
  spend_.step();
  const engine::Minor v = clamp_total(spend_.real(0));
  spend_.reset();
  return v;
}

void Ledger::record_tier(const std::string& member, std::int64_t at_us, const std::string& from, const std::string& to,
                         std::int64_t spend, std::string_view reason) {
  insert_tier_change_.bind(1, member).bind(2, at_us).bind(3, from).bind(4, to).bind(5, spend).bind(6, reason).run();
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
  struct Row {
    std::string id, tier;
    std::optional<std::int64_t> grace;
    engine::Minor old_spend, spend;
  };
  std::vector<Row> rows;
  rows.reserve(static_cast<std::size_t>(limit));
  pass_slice_.bind(1, after).bind(2, now_us - std::int64_t{rules->qualification_window_days} * kMicrosPerDay)
      .bind(3, now_us).bind(4, limit);
  while (pass_slice_.step())
    rows.push_back(Row{pass_slice_.text(0), pass_slice_.text(1), pass_slice_.optional_integer(2),
                       pass_slice_.integer(3), clamp_total(pass_slice_.real(4))});
  pass_slice_.reset();
  if (rows.empty()) return std::nullopt;
  const std::int64_t grace_us = std::int64_t{rules->qualification_grace_days} * kMicrosPerDay;
  // Grace runs in whole days of the rules' offset, from the start of the day of the pass that began
  // it: a pass that runs a little later one day does not shorten or lengthen it.
  const std::int64_t today = day_start(now_us, rules->utc_offset_minutes);
  for (const Row& r : rows) {
    ++report.members;
    const int q = qualified(*rules, r.spend);
    std::string tier = r.tier;
    std::optional<std::int64_t> grace = r.grace;
    if (const auto why = rise(*rules, r.spend, tier, grace)) {
      ++(*why == "requalified" ? report.requalified : report.upgraded);
      record_tier(r.id, now_us, r.tier, tier, r.spend, *why);
    } else if (q >= rank_of(*rules, r.tier)) {
      // the tier the spend reaches, already held
    } else if (!grace && grace_us > 0) {
      grace = today + grace_us;  // keeps the tier for grace_days more
      ++report.graced;
      record_tier(r.id, now_us, r.tier, tier, r.spend, "grace");
    } else if (!grace || now_us >= *grace) {
      tier = rules->tiers[static_cast<std::size_t>(q)].id;
      grace.reset();
      ++report.downgraded;
      record_tier(r.id, now_us, r.tier, tier, r.spend, "downgrade");
    }
    // Only what changed is written: most members' figures stay the same from one day to the next.
    if (tier == r.tier && grace == r.grace && r.spend == r.old_spend) continue;
    set_tier_.bind(1, r.id).bind(2, tier).bind(3, grace).bind(4, r.spend).bind(5, now_us).bind(6, ++seq_).run();
    ++report.changed;
  }
  return rows.back().id;
}

bool Ledger::use_coupon(const std::string& code, const Txn& sale, const std::optional<std::string>& member,
                        std::int64_t now_us) {
  coupon_.bind(1, code);
  if (!coupon_.step()) {
    coupon_.reset();
    return false;  // unknown to headquarters: the re-check flagged the sale
  }
  const auto used_txn = coupon_.optional_text(2);
  const auto used_store = coupon_.optional_text(3);
  const auto used_at = coupon_.optional_integer(4);
  coupon_.reset();
  if (!used_txn) {
    use_coupon_.bind(1, code).bind(2, sale.txn_id).bind(3, sale.store_id).bind(4, sale.at.utc_micros).bind(5, ++seq_)
        .run();
    return true;
  }
  if (*used_txn == sale.txn_id) return false;
  flag("coupon_double_use", &sale, member,
       ojson{{"code", code},
             {"first", {{"txn_id", *used_txn}, {"store_id", used_store.value_or("")},
                        {"at", used_at ? engine::format_instant(engine::Instant{*used_at, 0}) : ""}}},
             {"again", {{"txn_id", sale.txn_id}, {"store_id", sale.store_id}, {"till_id", sale.till_id},
                        {"at", engine::format_instant(sale.at)}, {"coupon_discount_minor", sale.quote.coupon_discount_minor}}}}
           .dump(),
       now_us);
  return false;
}

void Ledger::flag(std::string_view kind, const Txn* txn, const std::optional<std::string>& member,
                  const std::string& detail_json, std::int64_t now_us, std::string_view store_id) {
  insert_flag_.bind(1, kind).bind(2, now_us);
  if (txn) insert_flag_.bind(3, txn->store_id).bind(4, txn->till_id);
  else if (!store_id.empty()) insert_flag_.bind(3, store_id).bind_null(4);
  else insert_flag_.bind_null(3).bind_null(4);
  insert_flag_.bind(5, member);
  if (txn) insert_flag_.bind(6, txn->txn_id); else insert_flag_.bind_null(6);
  insert_flag_.bind(7, detail_json).run();
}

bool Ledger::expire_slice(std::int64_t now_us, std::int64_t limit, ExpiryReport& report) {
  struct Due {
    std::int64_t id;
    std::string member;
    std::int64_t left;
  };
  std::vector<Due> due;
  due_lots_.bind(1, now_us).bind(2, limit);
  while (due_lots_.step()) due.push_back(Due{due_lots_.integer(0), due_lots_.text(1), due_lots_.integer(2)});
  due_lots_.reset();
  if (due.empty()) return false;
  std::map<std::string, std::int64_t> expired;  // points by member
  for (const Due& d : due) {
    expire_lot_.bind(1, d.id).run();
    expired[d.member] += d.left;
    ++report.lots;
    report.points += d.left;
  }
  for (const auto& [member, points] : expired) expire_points_.bind(1, member).bind(2, points).bind(3, ++seq_).run();
  report.members += static_cast<std::int64_t>(expired.size());
  return true;
}

std::optional<engine::PointsExpiry> Ledger::next_expiry(const std::string& member, const engine::RuleSet* rules) {
  next_expiry_.bind(1, member);
  std::optional<engine::PointsExpiry> out;
  if (next_expiry_.step()) {
    out = engine::PointsExpiry{clamp_total(next_expiry_.real(1)),
                               engine::Instant{next_expiry_.integer(0), rules ? rules->utc_offset_minutes : 0}};
  }
  next_expiry_.reset();
  return out;
}

std::optional<engine::NextTier> Ledger::next_tier(const engine::RuleSet& rules, std::string_view tier,
                                                  engine::Minor spend) {
  const int cur = rank_of(rules, tier);
  if (cur < 0 || static_cast<std::size_t>(cur) + 1 >= rules.tiers.size()) return std::nullopt;
  const engine::Tier& next = rules.tiers[static_cast<std::size_t>(cur) + 1];
  if (next.min_spend_minor <= spend) return std::nullopt;
  return engine::NextTier{next.id, next.min_spend_minor - spend};
}

}  // namespace loyalty::hq::detail
