#include "loyalty/till/till.hpp"

#include <chrono>
#include <ctime>

#include "loyalty/engine/text.hpp"
#include "loyalty/till/member_code.hpp"

namespace loyalty::till {
namespace {

// Entries pruned when a till opens (a slice or two): the rest goes at the next sync.
constexpr std::int64_t kPruneAtOpen = 200;

std::filesystem::path database_path(const TillConfig& c) {
  std::error_code ec;
  std::filesystem::create_directories(c.data_dir, ec);
  if (ec) throw TillError(LOY_E_STORAGE, "data_dir " + c.data_dir.string() + ": " + ec.message());
  return c.data_dir / "till.db";
}

}  // namespace

engine::Instant local_now() {
  const auto now = std::chrono::system_clock::now();
  const std::int64_t us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(us / 1'000'000);
  std::tm local{};
  localtime_r(&secs, &local);
  return engine::Instant{us, static_cast<std::int32_t>(local.tm_gmtoff / 60)};
}

Till::Till(TillConfig config, Logger log)
    : config_(std::move(config)),
      log_(log),
      store_(std::in_place, database_path(config_).string()),
      sealing_key_(SealingKey::from_pem_file(config_.enrollment_key_file.string())),
      hasher_(config_.code_key),
      last_sync_us_(store_->last_sync_us()) {
  rehash_sales();
  if (auto json = store_->rules_json()) {
    auto rules = engine::load_rules(*json);
    if (rules) {
      rules_ = std::make_shared<const engine::RuleSet>(std::move(rules).value());
    } else {
      log_(LOY_LOG_ERROR, "the stored rule set is invalid and is ignored: " + rules.error().message);
    }
  }
  // What headquarters applied long ago: a slice at open, so that opening stays quick however much
  // has built up (a till upgraded with years of sales); every sync prunes the rest.
  const std::int64_t pruned = prune(local_now(), kPruneAtOpen);
  log_(LOY_LOG_INFO, "till " + config_.store_id + "/" + config_.till_id + " opened" +
                         (rules_ ? ", rules " + rules_->version : ", no rules yet") +
                         (pruned ? "; pruned " + std::to_string(pruned) + " outbox entries applied long ago" : ""));
}

void Till::close() {
  open_.store(false, std::memory_order_release);
  std::lock_guard lock(mu_);
  log_ = Logger{};
  store_.reset();
}

store::Store& Till::store() {
  if (!store_) throw TillError(LOY_E_STATE, "the till is closed");
  return *store_;
}

void Till::apply_rules(std::string_view json) {
  if (json.size() > kMaxRulesBytes) throw TillError(LOY_E_TOO_LARGE, "a rule set is at most 1 MiB");
  auto rules = engine::load_rules(json);
  if (!rules) throw TillError(LOY_E_RULES, rules.error().message);
  LogBatch logs;
  std::lock_guard lock(mu_);
  logs.logger = log_;
  if (store().save_rules(rules->version, json)) {
    ++generation_;
    logs(LOY_LOG_INFO, "rules " + rules->version + " installed");
    rules_ = std::make_shared<const engine::RuleSet>(std::move(rules).value());
  }
}

store::Store::Applied Till::apply_changes(std::string_view json, bool from_headquarters) {
  if (json.size() > kMaxDocumentBytes) throw TillError(LOY_E_TOO_LARGE, "a changes document is at most 64 MiB");
  auto doc = protocol::parse_changes(json);
  if (!doc) throw TillError(LOY_E_DOCUMENT, doc.error().message);
  LogBatch logs;
  std::lock_guard lock(mu_);
  logs.logger = log_;
  const auto applied = store().apply_changes(*doc, from_headquarters);
  ++generation_;
  if (applied.new_generation)
    logs(LOY_LOG_WARN, "headquarters' database went back (a new generation, " + doc->generation.value_or("") +
                           "): the cache starts over and every transaction it had answered is sent again");
  logs(LOY_LOG_INFO, "changes applied: " + std::to_string(applied.members) + " members, " +
                         std::to_string(applied.skipped) + " older records skipped, " +
                         std::to_string(applied.coupons) + " coupons; cursor " + std::to_string(doc->next));
  return applied;
}

std::shared_ptr<const engine::RuleSet> Till::rules_locked() {
  if (!rules_) throw TillError(LOY_E_NO_RULES, "the till has no rule set yet: apply one first");
  return rules_;
}

void with_pending(engine::Member& m, const store::PendingEffects& pending, std::int32_t offset_minutes) {
  m.purchases += pending.sales;
  if (pending.last_sale_us && (!m.last_purchase_at || m.last_purchase_at->utc_micros < *pending.last_sale_us))
    m.last_purchase_at = engine::Instant{*pending.last_sale_us, offset_minutes};
}

MemberView Till::view_locked(store::CachedMember cached, const engine::Instant& now) {
  const auto rules = rules_locked();
  MemberView v;
  const store::PendingEffects pending = store().pending(cached.member.id, cached.version);
  v.pending_points = pending.points;
  v.pending = pending;
  // Prompts see the member as the next sale will: this till's unsynced sales count.
  engine::Member seen = cached.member;
  with_pending(seen, pending, now.offset_minutes);
  const engine::Tier* tier = rules->find_tier(cached.member.tier);
  v.tier_name = tier ? tier->name : cached.member.tier;
  engine::PromptContext ctx;
  ctx.now = now;
  ctx.pending_points = v.pending_points;
  ctx.last_sync_at = last_sync_locked();
  auto prompts = engine::prompts(*rules, seen, ctx);
  if (!prompts) throw TillError(LOY_E_DOCUMENT, "the cached member is not valid under rules " + rules->version + ": " +
                                                    prompts.error().message);
  v.prompts = std::move(prompts).value();
  v.cached = std::move(cached);
  return v;
}

MemberView Till::lookup(std::string_view scanned, const std::optional<engine::Instant>& at) {
  const auto hash = scanned_hash(scanned);
  const auto now = at.value_or(local_now());
  std::lock_guard lock(mu_);
  return lookup_locked(hash, now);
}

MemberView Till::identify(CheckoutState& checkout, std::string_view scanned) {
  const auto hash = scanned_hash(scanned);
  const auto now = checkout.at.value_or(local_now());
  std::lock_guard lock(mu_);
  MemberView v = lookup_locked(hash, now);
  checkout.member_id = v.cached.member.id;
  try {
    priced_input_locked(checkout, *rules_locked(), now, &v);
  } catch (...) {  // a failed identify leaves the sale without a member
    checkout.member_id.reset();
    checkout.cache.reset();
    throw;
  }
  return v;
}

protocol::CodeHash Till::scanned_hash(std::string_view scanned) {
  if (scanned.size() > kMaxScannedBytes)
    throw TillError(LOY_E_TOO_LARGE, "a scanned code is at most " + std::to_string(kMaxScannedBytes) + " bytes");
  if (!engine::is_valid_utf8(scanned)) throw TillError(LOY_E_UTF8, "the scanned code is not valid UTF-8");
  const auto code = normalise_code(scanned);
  if (!code)
    throw TillError(LOY_E_INVALID_ARGUMENT,
                    "a member code is 1..64 digits and letters (spaces, dashes and a leading +86 are ignored)");
  return hasher_(*code);
}

MemberView Till::lookup_locked(const protocol::CodeHash& hash, const engine::Instant& now) {
  rules_locked();
  // The member and its pending effects are one state without a transaction around them: every write
  // to the store is made under mu_, and the database is this process's alone (exclusive locking).
  // Most members have no entry at this till, and their lookup is this one statement.
  auto cached = store().member_by_code(hash);
  if (!cached) throw TillError(LOY_E_NOT_FOUND, "no member has this code");
  return view_locked(std::move(*cached), now);
}

std::optional<engine::Instant> Till::last_sync_locked() {
  if (last_sync_us_) return engine::Instant{*last_sync_us_, 0};
  return std::nullopt;
}

std::shared_ptr<const engine::RuleSet> Till::rules() {
  std::lock_guard lock(mu_);
  return rules_;
}

store::StoreStatus Till::status() {
  std::lock_guard lock(mu_);
  return store().status();
}

std::vector<store::Unsent> Till::unsent(std::size_t limit, std::int64_t after_seq, std::int64_t through_seq) {
  LogBatch logs;
  std::vector<std::pair<std::int64_t, std::string>> damaged;
  std::lock_guard lock(mu_);
  logs.logger = log_;
  auto out = store().unsent(limit, after_seq, through_seq, &damaged);
  if (!damaged.empty()) ++generation_;  // a member's pending points no longer count a refused entry
  for (const auto& [seq, reason] : damaged)
    logs(LOY_LOG_ERROR, "outbox entry " + std::to_string(seq) + " is " + reason + " (kept in the outbox, refused)");
  return out;
}

std::int64_t Till::to_send() {
  std::lock_guard lock(mu_);
  return store().to_send();
}

std::int64_t Till::last_outbox_seq() {
  std::lock_guard lock(mu_);
  return store().last_seq();
}

void Till::record_answers(const std::vector<store::Answer>& answers, const std::vector<std::string>& txn_ids) {
  LogBatch logs;
  std::lock_guard lock(mu_);
  logs.logger = log_;
  store().record_answers(answers);
  ++generation_;
  for (std::size_t i = 0; i < answers.size(); ++i) {
    const std::string id = i < txn_ids.size() ? txn_ids[i] : std::string("?");
    if (answers[i].held)
      logs(LOY_LOG_WARN, "headquarters holds transaction " + id + ": " + answers[i].reason +
                             " (sent again at every sync until headquarters applies it)");
    else if (answers[i].rejected)
      logs(LOY_LOG_WARN, "headquarters refused transaction " + id + " for good: " + answers[i].reason +
                             " (kept in the outbox, not sent again)");
  }
}

std::int64_t Till::cursor() {
  std::lock_guard lock(mu_);
  return store().cursor();
}

std::pair<std::string, std::string> Till::seen() {
  std::lock_guard lock(mu_);
  return store().seen();
}

std::string Till::generation() {
  std::lock_guard lock(mu_);
  return store().generation();
}

std::string Till::rules_version() {
  std::lock_guard lock(mu_);
  return rules_ ? rules_->version : std::string();
}

void Till::mark_sync_failed(const std::string& message) {
  std::lock_guard lock(mu_);
  store().set_sync_error(message.substr(0, 1000));
}

void Till::mark_rules_error(const std::string& message) {
  std::lock_guard lock(mu_);
  store().set_rules_error(message.substr(0, 1000));
}

void Till::mark_synced(std::int64_t at_us) {
  std::lock_guard lock(mu_);
  store().set_sync_error("");
  store().set_last_sync_us(at_us);
  last_sync_us_ = at_us;
  ++generation_;  // quotes read the offline state
}

bool Till::online() {
  std::lock_guard lock(mu_);
  if (!rules_ || !last_sync_us_) return false;
  return !is_offline(*rules_, last_sync_locked(), local_now()) && store().sync_error().empty();
}

Logger Till::logger() {
  std::lock_guard lock(mu_);
  return log_;
}

}  // namespace loyalty::till
