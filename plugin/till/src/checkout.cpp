// Quotes, commits and refunds of the till: the engine's arithmetic over the till's own state.
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <set>
#include <span>
#include <thread>

#include "loyalty/engine/json_reader.hpp"
#include "loyalty/engine/text.hpp"
#include "loyalty/protocol/batch.hpp"
#include "loyalty/protocol/limits.hpp"
#include "loyalty/till/member_code.hpp"
#include "loyalty/till/till.hpp"

namespace loyalty::till {
namespace {

using nlohmann::ordered_json;

constexpr std::int64_t kMicrosPerDay = 86'400LL * 1'000'000;
// Pruning goes in slices, each its own transaction under the till's lock: at most 100 entries and
// about 5 ms (deleting what was written long ago reads pages from the disk), then a pause that lets
// every checkout waiting for the lock in first (a mutex is not fair: the pruning thread would take it
// again at once).
constexpr std::int64_t kPruneSlice = 100;
constexpr auto kPruneSliceTime = std::chrono::milliseconds(5);
constexpr auto kPrunePause = std::chrono::milliseconds(1);

std::string hex(std::span<const unsigned char> bytes) {
  static const char* const digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::int64_t local_day(const engine::Instant& t) {
  const std::int64_t local = t.utc_micros + std::int64_t{t.offset_minutes} * 60 * 1'000'000;
  return local >= 0 ? local / kMicrosPerDay : -((-local + kMicrosPerDay - 1) / kMicrosPerDay);
}

void check_id(std::string_view id, const char* what) {
  if (id.empty() || id.size() > kMaxIdBytes)
    throw TillError(LOY_E_INVALID_ARGUMENT, std::string(what) + " must be 1.." + std::to_string(kMaxIdBytes) + " bytes");
  if (!engine::is_valid_utf8(id)) throw TillError(LOY_E_UTF8, std::string(what) + " is not valid UTF-8");
}

// SHA-256 of what a sale sells (protocol::sale_content): member, coupon, redemption and lines, not
// its time (a retry may come later).
std::string content_digest(const std::string& text) {
  // Fetched once: EVP_sha256() would be fetched again by every digest.
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  unsigned char md[32];
  unsigned int len = 0;
  if (!sha256 || EVP_Digest(text.data(), text.size(), md, &len, sha256, nullptr) != 1 || len != 32)
    throw std::runtime_error("SHA-256 failed");
  return hex(md);
}

std::string sale_digest(const CheckoutState& s) {
  return content_digest(protocol::sale_content(s.member_id, s.coupon_code, s.redeem_points, s.lines));
}

// Opens a transaction for headquarters with the fields every one starts with (docs/protocol.md);
// the caller writes its own and closes it.
void begin_transaction(engine::detail::JsonWriter& w, const TillConfig& config, const char* kind,
                       const std::string& txn_id, const engine::Instant& at, const std::optional<std::string>& member_id) {
  w.begin_object().field("txn_id", txn_id).field("kind", kind).field("store_id", config.store_id)
      .field("till_id", config.till_id).field("at", engine::format_instant(at)).field("member_id", member_id);
}

// Sale lines as a refund reads them: `id_key` names the line ("id" for what is left of a sale,
// "line_id" for what a refund returns).
void write_sale_lines(engine::detail::JsonWriter& w, const std::vector<engine::SaleLine>& lines,
                      engine::detail::JsonKey id_key) {
  w.begin_array();
  for (const auto& l : lines)
    w.begin_object().field(id_key, l.id).field("units", l.units).field("net_minor", l.net_minor)
        .field("points_earned", l.points_earned).field("points_redeemed", l.points_redeemed).end_object();
  w.end_array();
}

std::string lines_json(const std::vector<engine::SaleLine>& lines) {
  engine::detail::JsonWriter w;
  write_sale_lines(w, lines, "id");
  return w.take();
}

std::vector<engine::SaleLine> read_lines(const std::string& text) {
  const auto a = nlohmann::json::parse(text);
  std::vector<engine::SaleLine> out;
  for (const auto& l : a)
    out.push_back({l.at("id").get<std::string>(), l.at("units").get<std::int64_t>(), l.at("net_minor").get<std::int64_t>(),
                   l.at("points_earned").get<std::int64_t>(), l.at("points_redeemed").get<std::int64_t>()});
  return out;
}

// What is left of a stored sale's lines: as sold (from its transaction's input and quote) until a
// refund of it stored what is left.
std::vector<engine::SaleLine> sale_lines_left(const store::StoredSale& sale) {
  if (sale.lines.empty()) {
    auto lines = engine::detail::guarded([&] {
      const auto body = engine::detail::parse_json(sale.body, "sale");
      return engine::sale_lines(engine::detail::read_quote_input(body.at("input"), "sale.input"),
                                engine::detail::read_quote(body.at("quote"), "sale.quote"));
    });
    if (!lines) throw TillError(LOY_E_INTERNAL, "stored sale " + sale.receipt_id + ": " + lines.error().message);
    return std::move(lines).value();
  }
  return read_lines(sale.lines);
}

}  // namespace

// 128 random bits: a till restored from an old backup never reuses an id of its own past.
// Drawn 64 ids at a time: one RAND_bytes call costs about as much as a tenth of a commit. A pool
// belongs to the process that drew it: a forked child (by fork, _Fork or clone alike) draws its own,
// so that it never gives an id its parent holds.
std::string random_id() {
  struct Pool {
    std::array<unsigned char, 64 * 16> bytes{};
    std::size_t used = 64 * 16;
    pid_t pid = 0;
  };
  thread_local Pool pool;
  const pid_t pid = getpid();
  if (pool.used == pool.bytes.size() || pool.pid != pid) {
    if (RAND_bytes(pool.bytes.data(), static_cast<int>(pool.bytes.size())) != 1)
      throw std::runtime_error("no randomness for a transaction id");
    pool.used = 0;
    pool.pid = pid;
  }
  const std::span<const unsigned char> id(pool.bytes.data() + pool.used, 16);
  pool.used += 16;
  return hex(id);
}

engine::QuoteInput Till::input_locked(const CheckoutState& s, const engine::RuleSet& rules, const engine::Instant& now,
                                      const MemberView* seen) {
  engine::QuoteInput in;
  in.now = now;
  in.redeem_points = s.redeem_points;
  const bool offline = is_offline(rules, last_sync_locked(), in.now);
  if (s.member_id) {
    std::optional<store::CachedMember> cached;
    store::PendingEffects pending;
    if (seen && seen->cached.member.id == *s.member_id) {
      cached = seen->cached;
      pending = seen->pending;
    } else {
      cached = store().member_by_id(*s.member_id);
      if (!cached) throw TillError(LOY_E_NOT_FOUND, "the identified member is no longer in the cache");
      pending = store().pending(cached->member.id, cached->version);
    }
    engine::Member m = std::move(cached->member);
    with_pending(m, pending, in.now.offset_minutes);
    in.context.pending_points = pending.points;
    in.context.offline = offline;
    in.context.redeemed_today_offline = offline ? store().redeemed_offline(m.id, local_day(in.now)) : 0;
    in.member = std::move(m);
  }
  if (s.coupon_code) {
    engine::CouponRequest req{*s.coupon_code, std::nullopt};
    auto rec = store().coupon(*s.coupon_code);
    // A member's own coupon is unknown to anyone else.
    if (rec && (!rec->member_id || (in.member && *rec->member_id == in.member->id))) {
      req.coupon = std::move(rec->coupon);
      if (store().coupon_used_here(*s.coupon_code)) req.coupon->used = true;
    }
    in.coupon = std::move(req);
  }
  return in;
}

// Offline, a quote counts what the member redeemed offline today: a checkout that crosses
// offline_after_minutes reads it again, so that its quote is what the commit will charge.
const engine::QuoteInput& Till::priced_input_locked(CheckoutState& s, const engine::RuleSet& rules,
                                                    const engine::Instant& now, const MemberView* seen) {
  const std::int64_t day = local_day(now);
  const bool offline_now = is_offline(rules, last_sync_locked(), now);
  PricingCache* c = s.cache ? &*s.cache : nullptr;
  if (!c || c->generation != generation_ || c->member_id != s.member_id || c->day != day ||
      c->coupon_code != s.coupon_code || c->offline != offline_now) {
    s.cache = PricingCache{generation_, s.member_id, day, s.coupon_code, offline_now, input_locked(s, rules, now, seen)};
    c = &*s.cache;
  }
  engine::QuoteInput& in = c->input;
  in.now = now;
  in.redeem_points = s.redeem_points;
  in.context.offline = offline_now;
  for (std::size_t i = in.lines.size(); i < s.lines.size(); ++i) in.lines.push_back(s.lines[i]);
  return in;
}

engine::Quote Till::price(CheckoutState& s) {
  if (s.lines.empty()) throw TillError(LOY_E_STATE, "a quote needs at least one line");
  const engine::Instant now = s.at.value_or(local_now());
  std::lock_guard lock(mu_);
  store();  // a closed till quotes nothing
  const auto rules = rules_locked();
  auto q = engine::quote(*rules, priced_input_locked(s, *rules, now));
  if (!q) throw TillError(LOY_E_INVALID_ARGUMENT, q.error().message);
  return std::move(q).value();
}

Committed Till::commit(CheckoutState& s, std::string_view receipt_id, const engine::Quote* shown) {
  check_id(receipt_id, "the receipt id");
  const std::string digest = sale_digest(s);
  const auto now = local_now();
  // Headquarters holds a transaction dated further ahead of its clock than this: a quote may look
  // ahead, a sale is not made there. (Before payment: the POS commits before it takes the money.)
  if (s.at && s.at->utc_micros > now.utc_micros + protocol::limits::kFutureSeconds * 1'000'000)
    throw TillError(LOY_E_INVALID_ARGUMENT, "the sale's time is more than " +
                                                std::to_string(protocol::limits::kFutureSeconds / 3600) +
                                                " hours ahead of the till's clock");
  LogBatch logs;
  std::lock_guard lock(mu_);
  logs.logger = log_;
  if (auto existing = store().sale("", receipt_id)) {
    if (existing->digest != digest)
      throw TillError(LOY_E_CONFLICT, "receipt " + std::string(receipt_id) +
                                          " was committed for another sale: a receipt id names one sale");
    auto q = engine::detail::guarded([&] {
      return engine::detail::read_quote(engine::detail::parse_json(existing->body, "sale").at("quote"), "quote");
    });
    if (!q) throw TillError(LOY_E_INTERNAL, "stored sale " + std::string(receipt_id) + ": " + q.error().message);
    logs(LOY_LOG_INFO, "receipt " + std::string(receipt_id) + " was committed before: returning its first result");
    return Committed{std::move(q).value(), "", true};
  }
  if (s.lines.empty()) throw TillError(LOY_E_STATE, "a sale needs at least one line");
  const auto rules = rules_locked();
  const engine::QuoteInput& in = priced_input_locked(s, *rules, s.at.value_or(now));
  auto priced = engine::quote(*rules, in);
  if (!priced) throw TillError(LOY_E_INVALID_ARGUMENT, priced.error().message);
  const engine::Quote& q = *priced;
  const bool offline = in.context.offline;
  if (shown && (shown->payable_minor != q.payable_minor || shown->redeem_points != q.redeem_points ||
                shown->coupon_discount_minor != q.coupon_discount_minor ||
                shown->member_discount_minor != q.member_discount_minor || shown->points_earned != q.points_earned))
    throw TillError(LOY_E_CONFLICT, "the sale is priced otherwise than when it was quoted (payable " +
                                        std::to_string(shown->payable_minor) + ", now " +
                                        std::to_string(q.payable_minor) + "): quote again before taking payment");

  store::NewSale sale;
  sale.receipt_id = std::string(receipt_id);
  sale.digest = digest;
  sale.member_id = s.member_id;
  sale.local_day = local_day(in.now);
  sale.offline = offline;
  sale.redeemed_points = q.redeem_points;
  if (s.coupon_code && !q.coupon_rejected) sale.coupon_code = s.coupon_code;

  const std::string txn_id = random_id();
  engine::detail::JsonWriter body(4096);  // a 10-line sale's is about 3,000 bytes
  begin_transaction(body, config_, "sale", txn_id, in.now, s.member_id);
  body.field("receipt_id", sale.receipt_id).field("rules_version", rules->version).key("input");
  engine::detail::write_quote_input(body, in);
  body.key("quote");
  engine::detail::write_quote(body, q, true);
  body.end_object();

  store::OutboxEntry e;
  e.txn_id = txn_id;
  e.kind = "sale";
  e.member_id = s.member_id;
  e.points_delta = q.points_earned - q.redeem_points;
  e.at_us = in.now.utc_micros;
  e.body = body.take();
  e.created_us = now.utc_micros;
  store().commit_sale(sale, e);
  ++generation_;
  logs(LOY_LOG_INFO, "receipt " + sale.receipt_id + " committed: payable " + std::to_string(q.payable_minor) +
                         ", points +" + std::to_string(q.points_earned) + " -" + std::to_string(q.redeem_points) +
                         (offline ? " (offline)" : ""));
  return Committed{q, rules->version, false};
}

std::int64_t Till::prune(const engine::Instant& now, std::int64_t at_most) {
  const std::int64_t before = now.utc_micros - std::int64_t{config_.retention_days} * kMicrosPerDay;
  std::int64_t total = 0;
  while (total < at_most) {
    {
      std::lock_guard lock(mu_);
      const std::int64_t n = store().prune(before, local_day(now), static_cast<std::size_t>(std::min(kPruneSlice, at_most - total)),
                                           std::chrono::steady_clock::now() + kPruneSliceTime);
      if (n == 0) break;
      ++generation_;
      total += n;
    }
    std::this_thread::sleep_for(kPrunePause);
  }
  return total;
}

void Till::rehash_sales() {
  const auto sales = store_->sales_to_rehash();
  if (!sales) return;
  std::vector<std::pair<std::string, std::string>> digests;
  digests.reserve(sales->size());
  for (const auto& [receipt, body] : *sales) {
    auto in = engine::detail::guarded([&] {
      return engine::detail::read_quote_input(engine::detail::parse_json(body, "sale").at("input"), "input");
    });
    if (!in) throw TillError(LOY_E_STORAGE, "stored sale " + receipt + ": " + in.error().message);
    const auto member = in->member ? std::optional<std::string>(in->member->id) : std::nullopt;
    const auto coupon = in->coupon ? std::optional<std::string>(in->coupon->code) : std::nullopt;
    digests.emplace_back(receipt, content_digest(protocol::sale_content(member, coupon, in->redeem_points, in->lines)));
  }
  store_->set_sale_digests(digests);
}

Till::SaleRef Till::refund_target(std::string_view sale_store, std::string_view receipt_id) {
  std::lock_guard lock(mu_);
  return refund_target_locked(sale_store, receipt_id);
}

// This till's own sale of that receipt when the store is its own; otherwise (or when it has none) a
// copy fetched from headquarters, kept under the sale's store.
Till::SaleRef Till::refund_target_locked(std::string_view sale_store, std::string_view receipt_id) {
  const bool own_store = sale_store.empty() || sale_store == config_.store_id;
  if (own_store) {
    if (auto own = store().sale("", receipt_id)) return SaleRef{"", own->txn_id};
  }
  const std::string origin = own_store ? config_.store_id : std::string(sale_store);
  auto copy = store().sale(origin, receipt_id);
  return SaleRef{origin, copy ? std::optional<std::string>(copy->txn_id) : std::nullopt};
}

bool Till::has_refund(std::string_view refund_id) {
  std::lock_guard lock(mu_);
  return store().refund(refund_id).has_value();
}

namespace {

// A refund's lines and units, from its transaction (this till's or headquarters' copy).
std::vector<engine::RefundItem> refund_items(const engine::detail::json& refund, const std::string& path) {
  std::vector<engine::RefundItem> items;
  const auto& lines = engine::detail::as_array(refund.at("lines"), path + ".lines");
  for (std::size_t i = 0; i < lines.size(); ++i) {
    engine::detail::ObjectReader l(lines[i], engine::detail::index_path(path + ".lines", i));
    items.push_back({l.string("line_id"), l.integer("units", 1, INT64_MAX)});
  }
  return items;
}

// A refund's identity: the till that made it and its refund id (a refund committed again by a
// restored till has another txn_id).
std::string refund_key(const engine::detail::json& refund) {
  return refund.value("store_id", "") + "/" + refund.value("till_id", "") + "/" + refund.value("refund_id", "");
}

// The store and till a sale was committed at, from its transaction; this till (as now configured)
// when the body does not say.
std::pair<std::string, std::string> sale_origin(const store::StoredSale& sale, const TillConfig& config) {
  std::pair<std::string, std::string> out{config.store_id, config.till_id};
  const auto j = nlohmann::json::parse(sale.body, nullptr, false);
  if (!j.is_object()) return out;
  const auto id = [&](const char* key, std::string& into) {
    if (const auto it = j.find(key); it != j.end() && it->is_string()) into = it->get<std::string>();
  };
  id("store_id", out.first);
  id("till_id", out.second);
  return out;
}

}  // namespace

bool Till::merge_hq_sale(const SaleRef& target, std::string_view sale_store, std::string_view receipt_id,
                         std::string_view answer_json) {
  struct Copy {
    std::string txn_id, body;
    std::optional<std::string> member;
    std::vector<engine::SaleLine> lines;
    std::vector<std::pair<std::string, std::vector<engine::RefundItem>>> refunds;  // refund_key, lines
    std::vector<std::string> copies;            // txn_ids of the same sale committed again
    std::vector<engine::detail::json> mine;      // refunds of it this till made (its database may have lost them)
  };
  const std::string store_id = sale_store.empty() ? config_.store_id : std::string(sale_store);
  auto parsed = engine::detail::guarded([&] {
    const auto doc = engine::detail::parse_json(answer_json, "sale");
    engine::detail::ObjectReader r(doc, "");
    const auto& sale = r.required("sale");
    engine::detail::ObjectReader sr(sale, "sale");
    Copy c;
    c.txn_id = sr.string("txn_id");
    if (sr.string("receipt_id") != receipt_id || sr.string("store_id") != store_id)
      engine::detail::fail("sale", "is not receipt " + std::string(receipt_id) + " of store " + store_id);
    c.lines = engine::sale_lines(engine::detail::read_quote_input(sr.required("input"), "sale.input"),
                                 engine::detail::read_quote(sr.required("quote"), "sale.quote"));
    if (const auto* m = r.optional("member_id"); m && !m->is_null()) c.member = engine::detail::as_string(*m, "member_id");
    const auto& refunds = engine::detail::as_array(r.required("refunds"), "refunds");
    for (std::size_t i = 0; i < refunds.size(); ++i) {
      const std::string path = engine::detail::index_path("refunds", i);
      engine::detail::as_string(refunds[i].at("txn_id"), path + ".txn_id");
      c.refunds.emplace_back(refund_key(refunds[i]), refund_items(refunds[i], path));
      if (refunds[i].value("store_id", "") == config_.store_id && refunds[i].value("till_id", "") == config_.till_id)
        c.mine.push_back(refunds[i]);
    }
    if (const auto* copies = r.optional("copies"))
      for (const auto& id : engine::detail::as_array(*copies, "copies")) c.copies.push_back(engine::detail::as_string(id, "copies[]"));
    c.body = sale.dump();
    return c;
  });
  if (!parsed) throw TillError(LOY_E_DOCUMENT, "headquarters' copy of the sale: " + parsed.error().message);
  Copy& c = *parsed;
  std::lock_guard lock(mu_);
  // Another till's sale under the receipt of this till's own: not the one to refund. (This till's own
  // committed again after a restore is a copy of the sale headquarters holds.)
  if (target.txn_id && *target.txn_id != c.txn_id &&
      std::find(c.copies.begin(), c.copies.end(), *target.txn_id) == c.copies.end())
    return false;
  // A refund this till made that its database no longer holds (restored from a backup) is kept again,
  // as applied: the POS committing it again gets its first result, and it is sent again should
  // headquarters lose it.
  for (const auto& j : c.mine) {
    const std::string refund_id = j.value("refund_id", "");
    if (refund_id.empty() || store().refund(refund_id)) continue;
    const ordered_json result = {{"amount_minor", j.value("amount_minor", std::int64_t{0})},
                                 {"points_taken_back", j.value("points_taken_back", std::int64_t{0})},
                                 {"points_given_back", j.value("points_given_back", std::int64_t{0})},
                                 {"balance_after", std::int64_t{0}},
                                 {"negative_balance", false}};
    store::OutboxEntry e;
    e.txn_id = j.value("txn_id", "");
    e.kind = "refund";
    if (j.contains("member_id") && j["member_id"].is_string()) e.member_id = j["member_id"].get<std::string>();
    e.body = j.dump();
    e.created_us = local_now().utc_micros;
    store().adopt_refund(refund_id, target.origin, std::string(receipt_id), result.dump(), e);
  }
  // What is left: the sale's lines less every refund of it, headquarters' and this till's own not yet
  // applied there, each once (one committed again by a restored till is the same refund).
  std::set<std::string> counted;
  std::vector<engine::SaleLine> left = std::move(c.lines);
  const auto take = [&](const std::string& key, const std::vector<engine::RefundItem>& items) {
    if (!counted.insert(key).second) return;
    auto done = engine::refund(left, items);
    if (!done) throw TillError(LOY_E_DOCUMENT, "refund " + key + " of the sale: " + done.error().message);
    left = std::move(done->left);
  };
  for (const auto& [key, items] : c.refunds) take(key, items);
  for (const auto& [txn_id, body] : store().refunds_of(target.origin, receipt_id)) {
    const auto j = nlohmann::json::parse(body);
    take(refund_key(j), refund_items(j, "refund"));
  }
  if (target.origin.empty()) store().set_sale_lines("", receipt_id, lines_json(left));
  else store().add_foreign_sale(target.origin, std::string(receipt_id), c.txn_id, c.member, lines_json(left), c.body);
  ++generation_;
  return true;
}

RefundOutcome Till::refund(std::string_view refund_id, std::string_view receipt_id,
                           const std::vector<engine::RefundItem>& items, std::string_view sale_store) {
  check_id(refund_id, "the refund id");
  check_id(receipt_id, "the receipt id");
  for (const auto& item : items) check_id(item.line_id, "a refunded line id");
  const auto now = local_now();
  LogBatch logs;
  std::lock_guard lock(mu_);
  logs.logger = log_;
  const SaleRef target = refund_target_locked(sale_store, receipt_id);
  if (auto existing = store().refund(refund_id)) {
    if (existing->origin != target.origin || existing->receipt_id != receipt_id)
      throw TillError(LOY_E_CONFLICT, "refund id " + std::string(refund_id) + " was used for another receipt");
    const auto j = nlohmann::json::parse(existing->result);
    RefundOutcome r{j.at("amount_minor"), j.at("points_taken_back"), j.at("points_given_back"), j.at("balance_after"),
                    j.at("negative_balance"), true};
    return r;
  }
  auto sale = store().sale(target.origin, receipt_id);
  if (!sale)
    throw TillError(LOY_E_NOT_FOUND, "receipt " + std::string(receipt_id) + " of store " +
                                         (sale_store.empty() ? config_.store_id : std::string(sale_store)) +
                                         " is not known here");
  const auto left = sale_lines_left(*sale);
  auto refunded = items.empty() ? engine::refund_all(left) : engine::refund(left, items);
  if (!refunded) {
    const engine::Error& e = refunded.error();
    throw TillError(e.kind == engine::ErrorKind::state       ? LOY_E_STATE
                    : e.kind == engine::ErrorKind::not_found ? LOY_E_NOT_FOUND
                                                             : LOY_E_INVALID_ARGUMENT,
                    e.message);
  }
  RefundOutcome out;
  out.amount_minor = refunded->amount_minor;
  out.points_taken_back = refunded->points_taken_back;
  out.points_given_back = refunded->points_given_back;
  const std::int64_t delta = out.points_given_back - out.points_taken_back;
  // The member the sale counts for now: an enrollment merged at headquarters into an existing member
  // filed the sale's entry under that member (Store::acknowledge).
  std::optional<std::string> member = sale->member_id;
  if (sale->outbox_seq != 0 && member)
    if (auto now_member = store().entry_member(sale->outbox_seq)) member = std::move(now_member);
  if (member) {
    const auto cached = store().member_by_id(*member);
    const std::int64_t before =
        (cached ? cached->member.points : 0) + store().pending(*member, cached ? cached->version : 0).points;
    out.balance_after = before + delta;
    out.negative_balance = out.balance_after < 0;
  }
  const std::string txn_id = random_id();
  engine::detail::JsonWriter body;
  begin_transaction(body, config_, "refund", txn_id, now, member);
  body.field("refund_id", refund_id).field("receipt_id", receipt_id).field("sale_txn_id", sale->txn_id);
  // The sale's store, till and receipt name it too: a till restored from a backup commits a receipt
  // again under another txn_id, and headquarters (restored itself, say) may know only that one.
  const auto [sale_store_id, sale_till_id] = sale_origin(*sale, config_);
  body.field("sale_store_id", sale_store_id).field("sale_till_id", sale_till_id).key("lines");
  write_sale_lines(body, refunded->returned, "line_id");
  body.field("amount_minor", out.amount_minor).field("points_taken_back", out.points_taken_back)
      .field("points_given_back", out.points_given_back).end_object();

  const ordered_json result = {{"amount_minor", out.amount_minor}, {"points_taken_back", out.points_taken_back},
                               {"points_given_back", out.points_given_back}, {"balance_after", out.balance_after},
                               {"negative_balance", out.negative_balance}};
  store::OutboxEntry e;
  e.txn_id = txn_id;
  e.kind = "refund";
  e.member_id = member;
  e.points_delta = delta;
  e.at_us = now.utc_micros;
  e.body = body.take();
  e.created_us = now.utc_micros;
  store().commit_refund(std::string(refund_id), target.origin, std::string(receipt_id), lines_json(refunded->left),
                        result.dump(), e);
  ++generation_;
  logs(LOY_LOG_INFO, "refund " + std::string(refund_id) + " of receipt " + std::string(receipt_id) + " committed: " +
                         std::to_string(out.amount_minor) + " back" + (out.negative_balance ? ", balance negative" : ""));
  return out;
}

MemberView Till::enroll(const Enrollment& en, const std::optional<engine::Instant>& at) {
  if (en.consent.empty())
    throw TillError(LOY_E_CONSENT, "an enrollment needs the customer's recorded consent");
  for (const std::string* s : {&en.phone, &en.name, &en.consent})
    if (!engine::is_valid_utf8(*s)) throw TillError(LOY_E_UTF8, "an enrollment field is not valid UTF-8");
  if (en.name.size() > 128 || en.consent.size() > 1024)
    throw TillError(LOY_E_TOO_LARGE, "a name is at most 128 bytes and a consent record at most 1024");
  const auto phone = normalise_code(en.phone);
  if (!phone || phone->find_first_not_of("0123456789") != std::string::npos || phone->size() < 5)
    throw TillError(LOY_E_INVALID_ARGUMENT, "a phone number is 5..64 digits (spaces, dashes and +86 are ignored)");
  const auto hash = hasher_(*phone);
  const auto now = local_now();
  LogBatch logs;
  std::lock_guard lock(mu_);
  logs.logger = log_;
  const auto rules = rules_locked();
  // The id is the store's and the phone's (the start of its keyed hash): the same customer enrolled
  // again at this store (a till restored from a backup) is the same member, whose sales wait for them.
  const std::string id = protocol::limits::enrollment_member_id(
      config_.store_id, protocol::to_hex(hash).substr(0, protocol::limits::kEnrollmentHexDigits));
  auto cached = store().member_by_code(hash);
  // A member this store enrolled whose enrollment this database no longer holds (it was restored from
  // a backup, and headquarters may have lost it too) is enrolled again, to the same id: headquarters
  // answers a duplicate when it has them. Any other member with this phone is a conflict.
  if (cached && (cached->member.id != id || store().holds_enrollment(id)))
    throw TillError(LOY_E_CONFLICT, "this phone number is already a member: identify them instead");

  protocol::MemberRecord rec;
  rec.member.id = id;
  rec.member.tier = rules->tiers.front().id;
  rec.version = 0;  // any record from headquarters replaces it
  rec.masked_name = mask_name(en.name);
  rec.codes = {hash};

  ordered_json personal = {{"phone", *phone}, {"name", en.name}, {"consent", en.consent},
                           {"enrolled_at", engine::format_instant(now)}};
  if (en.birthday) {
    char bd[8];
    std::snprintf(bd, sizeof bd, "%02u-%02u", en.birthday->month % 100, en.birthday->day % 100);
    personal["birthday"] = bd;
  }
  const std::string txn_id = random_id();
  engine::detail::JsonWriter body;
  begin_transaction(body, config_, "enrollment", txn_id, now, rec.member.id);
  body.field("code_hash", protocol::to_hex(hash)).field("masked_name", rec.masked_name).field("tier", rec.member.tier)
      .key("sealed").raw(sealing_key_.seal(personal.dump())).end_object();

  store::OutboxEntry e;
  e.txn_id = txn_id;
  e.kind = "enrollment";
  e.member_id = rec.member.id;
  e.at_us = now.utc_micros;
  e.body = body.take();
  e.created_us = now.utc_micros;
  store().commit_enrollment(rec, e, !cached);
  ++generation_;
  logs(LOY_LOG_INFO, cached ? "a member of this store was enrolled again (its enrollment was not in this database)"
                            : "a member was enrolled at this till");
  if (cached) return view_locked(std::move(*cached), at.value_or(now));
  return view_locked(store::CachedMember{rec.member, rec.version, rec.masked_name}, at.value_or(now));
}

}  // namespace loyalty::till
