// The C interface: every exported function is a noexcept shim over the C++ core, and every exception
// stops here, as a status and a message.
#include "loyalty/loyalty.h"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <mutex>
#include <thread>
#include <memory>
#include <optional>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

#include "abi_sizes.hpp"
#include "loyalty/engine/text.hpp"
#include "loyalty/sync/syncer.hpp"
#include "loyalty/till/member_code.hpp"
#include "loyalty/till/till.hpp"

// The handles' own types: loy_till and loy_checkout stay incomplete everywhere (the header's opaque
// types), so the library's ABI, as its debug information describes it, holds nothing of the core.
namespace loyalty::api {

struct TillHandle {
  std::shared_ptr<loyalty::till::Till> core;
  std::unique_ptr<loyalty::sync::Syncer> syncer;  // stopped before the core closes
  // The last error of each thread on this till: valid until that thread's next call on it.
  mutable std::mutex errors_mu;
  mutable std::unordered_map<std::thread::id, std::string> errors;
};

struct CheckoutHandle {
  std::shared_ptr<loyalty::till::Till> core;  // the till's core; closed with the till's handle
  loyalty::till::CheckoutState state;
  // The last quote shown (cleared by any change to the sale), or the committed one.
  std::optional<loyalty::engine::Quote> quote;
  bool committed = false;
  // The prompts of the sale's member, every one (loy_checkout_prompts): empty without a member.
  std::vector<loyalty::engine::Prompt> prompts;
  // An upper bound of the bytes the sale's lines take in its transaction for headquarters: a sale
  // whose transaction would not fit protocol::limits::kTxnBytes is refused line by line, before payment.
  std::size_t line_bytes = 0;
  mutable std::string error;  // a checkout is used by one thread at a time
};

inline TillHandle* impl(loy_till* t) { return reinterpret_cast<TillHandle*>(t); }
inline const TillHandle* impl(const loy_till* t) { return reinterpret_cast<const TillHandle*>(t); }
inline CheckoutHandle* impl(loy_checkout* c) { return reinterpret_cast<CheckoutHandle*>(c); }
inline const CheckoutHandle* impl(const loy_checkout* c) { return reinterpret_cast<const CheckoutHandle*>(c); }
inline loy_till* handle(TillHandle* t) { return reinterpret_cast<loy_till*>(t); }
inline loy_checkout* handle(CheckoutHandle* c) { return reinterpret_cast<loy_checkout*>(c); }

}  // namespace loyalty::api

using loyalty::api::CheckoutHandle;
using loyalty::api::impl;
using loyalty::api::TillHandle;

namespace {

using loyalty::till::TillError;

void set_error(const TillHandle* till, const char* message) noexcept {
  if (!till) return;
  try {
    std::lock_guard lock(till->errors_mu);
    till->errors[std::this_thread::get_id()] = message;
  } catch (...) {  // out of memory: the status still says what went wrong
  }
}

void set_error(const CheckoutHandle* checkout, const char* message) noexcept {
  if (!checkout) return;
  try {
    checkout->error = message;
  } catch (...) {
  }
}

template <class H, class F>
loy_status guarded(const H* handle, F&& f) noexcept {
  try {
    set_error(handle, "");
    return f();
  } catch (const TillError& e) {
    set_error(handle, e.what());
    return e.status();
  } catch (const loyalty::store::StorageError& e) {
    set_error(handle, e.what());
    return LOY_E_STORAGE;
  } catch (const std::bad_alloc&) {
    set_error(handle, "out of memory");
    return LOY_E_INTERNAL;
  } catch (const std::exception& e) {
    set_error(handle, e.what());
    return LOY_E_INTERNAL;
  } catch (...) {
    set_error(handle, "unknown exception");
    return LOY_E_INTERNAL;
  }
}

template <class H>
loy_status invalid(const H* handle, const char* message) {
  set_error(handle, message);
  return LOY_E_INVALID_ARGUMENT;
}

// Copies text into a fixed buffer, cut at a character boundary, always NUL-terminated.
template <std::size_t N>
void copy_text(char (&dst)[N], std::string_view src) {
  std::size_t n = std::min(src.size(), N - 1);
  while (n > 0 && n < src.size() && (static_cast<unsigned char>(src[n]) & 0xC0) == 0x80) --n;
  std::memcpy(dst, src.data(), n);
  dst[n] = '\0';
}

// A struct whose struct_size a released header gave it (abi_sizes.hpp). Every struct is read and
// filled only as far as the caller's size goes: an older caller's struct ends earlier.
template <class T>
bool sized(const T* p) {
  return p && loyalty::api::known_size<T>(p->struct_size);
}

// Writes `size` bytes of `full` (all of it when it is smaller) to `dst`, with struct_size = size.
template <class T>
void deliver_bytes(void* dst, T& full, std::size_t size) {
  full.struct_size = static_cast<std::uint32_t>(size);
  std::memcpy(dst, &full, std::min(size, sizeof full));
}

// Fills the caller's struct (sized() already) from `full`, as far as the caller's size goes.
template <class T>
void deliver(T* out, T& full) {
  deliver_bytes(out, full, out->struct_size);
}

// A caller's input struct (sized() already) as its size holds it: fields past it read as zero.
template <class T>
T read_in(const T* in) {
  T v{};
  std::memcpy(&v, in, std::min<std::size_t>(in->struct_size, sizeof v));
  return v;
}

std::int32_t prompt_code(loyalty::engine::PromptCode c) {
  using loyalty::engine::PromptCode;
  switch (c) {
    case PromptCode::birthday_window: return LOY_PROMPT_BIRTHDAY_WINDOW;
    case PromptCode::first_purchase: return LOY_PROMPT_FIRST_PURCHASE;
    case PromptCode::winback: return LOY_PROMPT_WINBACK;
    case PromptCode::points_expiring: return LOY_PROMPT_POINTS_EXPIRING;
    case PromptCode::next_tier: return LOY_PROMPT_NEXT_TIER;
    case PromptCode::negative_balance: return LOY_PROMPT_NEGATIVE_BALANCE;
    case PromptCode::offline: return LOY_PROMPT_OFFLINE;
  }
  return 0;
}

// loy_prompt and loy_prompt_info share their figures' names.
template <class P>
void fill_prompt(const loyalty::engine::Prompt& p, P& o) {
  o.code = prompt_code(p.code);
  o.rate_bp = p.rate_bp.value_or(0);
  o.days = p.days.value_or(0);
  o.points = p.points.value_or(0);
  o.spend_minor = p.spend_minor.value_or(0);
  o.minutes = p.code == loyalty::engine::PromptCode::offline ? p.minutes.value_or(-1) : 0;
  if (p.date) copy_text(o.date, loyalty::engine::format_instant(*p.date));
  copy_text(o.tier, p.tier);
}

void fill_member(const loyalty::till::MemberView& v, loy_member_info* out) {
  loy_member_info full{};
  copy_text(full.member_id, v.cached.member.id);
  copy_text(full.masked_name, v.cached.masked_name);
  copy_text(full.tier_id, v.cached.member.tier);
  copy_text(full.tier_name, v.tier_name);
  full.confirmed_points = v.cached.member.points;
  full.pending_points = v.pending_points;
  full.available_points = v.cached.member.points + v.pending_points;
  for (const auto& p : v.prompts) {
    if (full.prompt_count == LOY_MAX_PROMPTS) break;
    fill_prompt(p, full.prompts[full.prompt_count++]);
  }
  deliver(out, full);
}

// A caller's array of prompts: `capacity` elements of `size` bytes, checked before anything is done.
struct PromptArray {
  loy_prompt_info* base;
  std::size_t size;
  std::size_t capacity;
  std::size_t* count;
};

template <class H>
loy_status check_prompts(const H* handle, const PromptArray& a) {
  if (!a.count) return invalid(handle, "prompt_count is NULL");
  *a.count = 0;                        // until the member's prompts are known
  if (a.capacity == 0) return LOY_OK;  // only counting: no element is written, whatever its size
  if (!a.base) return invalid(handle, "prompts is NULL with a capacity above 0");
  if (a.size > UINT32_MAX || !loyalty::api::known_size<loy_prompt_info>(static_cast<std::uint32_t>(a.size))) {
    set_error(handle, "prompt_size is not the size of loy_prompt_info in any release");
    return LOY_E_STRUCT_SIZE;
  }
  if (a.capacity > SIZE_MAX / a.size) return invalid(handle, "capacity * prompt_size overflows");
  return LOY_OK;
}

void fill_prompts(const std::vector<loyalty::engine::Prompt>& prompts, const PromptArray& a) {
  auto* bytes = reinterpret_cast<unsigned char*>(a.base);
  const std::size_t n = std::min(prompts.size(), a.capacity);
  for (std::size_t i = 0; i < n; ++i) {
    loy_prompt_info full{};
    fill_prompt(prompts[i], full);
    deliver_bytes(bytes + i * a.size, full, a.size);
  }
  *a.count = prompts.size();
}

std::int32_t reason_code(loyalty::engine::DiscountReason r) {
  using loyalty::engine::DiscountReason;
  switch (r) {
    case DiscountReason::tier: return LOY_REASON_TIER;
    case DiscountReason::first_purchase: return LOY_REASON_FIRST_PURCHASE;
    case DiscountReason::winback: return LOY_REASON_WINBACK;
    case DiscountReason::none: break;
  }
  return LOY_REASON_NONE;
}

std::int32_t coupon_code(const std::optional<loyalty::engine::CouponRefusal>& r) {
  using loyalty::engine::CouponRefusal;
  if (!r) return 0;
  switch (*r) {
    case CouponRefusal::coupon_unknown: return LOY_COUPON_UNKNOWN;
    case CouponRefusal::coupon_used: return LOY_COUPON_USED;
    case CouponRefusal::coupon_not_yet_valid: return LOY_COUPON_NOT_YET_VALID;
    case CouponRefusal::coupon_expired: return LOY_COUPON_EXPIRED;
    case CouponRefusal::min_spend_not_met: return LOY_COUPON_MIN_SPEND_NOT_MET;
    case CouponRefusal::coupons_not_allowed: return LOY_COUPON_NOT_ALLOWED;
    case CouponRefusal::member_required: return LOY_COUPON_MEMBER_REQUIRED;
  }
  return 0;
}

std::int32_t redeem_code(const std::optional<loyalty::engine::RedeemRefusal>& r) {
  using loyalty::engine::RedeemRefusal;
  if (!r) return 0;
  switch (*r) {
    case RedeemRefusal::not_multiple_of_step: return LOY_REDEEM_NOT_MULTIPLE_OF_STEP;
    case RedeemRefusal::below_min: return LOY_REDEEM_BELOW_MIN;
    case RedeemRefusal::insufficient_points: return LOY_REDEEM_INSUFFICIENT_POINTS;
    case RedeemRefusal::offline_limit: return LOY_REDEEM_OFFLINE_LIMIT;
    case RedeemRefusal::exceeds_max_share: return LOY_REDEEM_EXCEEDS_MAX_SHARE;
    case RedeemRefusal::member_required: return LOY_REDEEM_MEMBER_REQUIRED;
  }
  return 0;
}

void fill_quote(const loyalty::engine::Quote& q, bool replayed, loy_quote* out) {
  loy_quote full{};
  full.gross_minor = q.gross_minor;
  full.member_discount_minor = q.member_discount_minor;
  full.member_discount_reason = reason_code(q.member_discount_reason);
  full.member_discount_bp = q.member_discount_bp;
  full.coupon_discount_minor = q.coupon_discount_minor;
  full.coupon_rejected = coupon_code(q.coupon_rejected);
  full.redeem_rejected = redeem_code(q.redeem_rejected);
  full.redeem_points = q.redeem_points;
  full.redeem_value_minor = q.redeem_value_minor;
  full.max_redeemable_points = q.max_redeemable_points;
  full.payable_minor = q.payable_minor;
  full.points_earned = q.points_earned;
  full.birthday = q.birthday ? 1 : 0;
  full.line_count = static_cast<std::uint32_t>(q.lines.size());
  full.replayed = replayed ? 1 : 0;
  deliver(out, full);
}

template <class H>
loy_status struct_size_error(const H* handle, const char* what) {
  set_error(handle, (std::string(what) + "->struct_size is not the size of this struct in any release").c_str());
  return LOY_E_STRUCT_SIZE;
}

// A C string argument: not NULL, at most `max` bytes (read no further), valid UTF-8.
std::string_view text_arg(const char* s, std::size_t max, const char* what) {
  if (!s) throw TillError(LOY_E_INVALID_ARGUMENT, std::string(what) + " is NULL");
  const std::size_t n = strnlen(s, max + 1);
  if (n > max) throw TillError(LOY_E_TOO_LARGE, std::string(what) + " is longer than " + std::to_string(max) + " bytes");
  const std::string_view v(s, n);
  if (!loyalty::engine::is_valid_utf8(v)) throw TillError(LOY_E_UTF8, std::string(what) + " is not valid UTF-8");
  return v;
}

// A checkout of a till that was closed answers LOY_E_STATE to every call.
loy_status till_open(const CheckoutHandle* c) {
  if (c->core->is_open()) return LOY_OK;
  set_error(c, "the till is closed");
  return LOY_E_STATE;
}

loy_status not_after_commit(const CheckoutHandle* c) {
  if (const loy_status s = till_open(c)) return s;
  if (!c->committed) return LOY_OK;
  set_error(c, "the checkout is committed: begin a new one");
  return LOY_E_STATE;
}

loyalty::till::Enrollment read_enrollment(const loy_enrollment* arg) {
  const loy_enrollment in = read_in(arg);
  const loy_enrollment* const e = &in;
  loyalty::till::Enrollment en;
  en.phone = text_arg(e->phone, loyalty::till::kMaxScannedBytes, "enrollment->phone");
  if (e->name) en.name = text_arg(e->name, 128, "enrollment->name");
  if (e->birthday) {
    const auto md = loyalty::engine::parse_month_day(text_arg(e->birthday, 5, "enrollment->birthday"));
    if (!md) throw TillError(LOY_E_INVALID_ARGUMENT, "enrollment->birthday must be \"MM-DD\"");
    en.birthday = md;
  }
  if (!e->consent) throw TillError(LOY_E_CONSENT, "enrollment->consent is NULL: the customer's consent is required");
  en.consent = text_arg(e->consent, 1024, "enrollment->consent");
  return en;
}

}  // namespace

extern "C" {

uint32_t LOY_CALL loy_version(void) { return LOY_VERSION; }

const char* LOY_CALL loy_status_str(loy_status status) {
  switch (status) {
    case LOY_OK: return "ok";
    case LOY_E_INVALID_ARGUMENT: return "invalid argument";
    case LOY_E_STRUCT_SIZE: return "struct_size is not a size this library knows";
    case LOY_E_UTF8: return "a string is not valid UTF-8";
    case LOY_E_NOT_FOUND: return "not found";
    case LOY_E_STATE: return "call out of order";
    case LOY_E_CONFIG: return "invalid configuration";
    case LOY_E_STORAGE: return "the till's database failed";
    case LOY_E_RULES: return "invalid rule set";
    case LOY_E_NO_RULES: return "no rule set yet";
    case LOY_E_DOCUMENT: return "invalid document";
    case LOY_E_CONFLICT: return "id already used for something else";
    case LOY_E_CONSENT: return "the customer's consent is required";
    case LOY_E_TOO_LARGE: return "input too large";
    case LOY_E_NETWORK: return "headquarters could not be reached or refused";
    case LOY_E_INTERNAL: return "internal error";
    default: return "unknown status";
  }
}

loy_status LOY_CALL loy_till_open(const char* config_path, const loy_till_options* options, loy_till** out,
                                  char* error, size_t error_size) {
  const auto report = [&](loy_status s, std::string_view message) {
    if (error && error_size > 0) {
      const std::size_t n = std::min(message.size(), error_size - 1);
      std::memcpy(error, message.data(), n);
      error[n] = '\0';
    }
    return s;
  };
  if (error && error_size > 0) error[0] = '\0';
  if (!out) return report(LOY_E_INVALID_ARGUMENT, "out is NULL");
  *out = nullptr;
  if (!config_path) return report(LOY_E_INVALID_ARGUMENT, "config_path is NULL");
  if (options && !sized(options))
    return report(LOY_E_STRUCT_SIZE, "options->struct_size is not sizeof(loy_till_options) of any release");
  try {
    loyalty::till::Logger log;
    if (options) {
      const loy_till_options o = read_in(options);
      log.fn = o.log;
      log.userdata = o.log_userdata;
      log.level = o.log_level == 0 ? LOY_LOG_INFO : o.log_level;
    }
    auto config = loyalty::till::load_config(config_path);
    if (!config) return report(LOY_E_CONFIG, config.error().message);
    auto till = std::make_unique<TillHandle>();
    till->core = std::make_shared<loyalty::till::Till>(std::move(config).value(), log);
    try {
      till->syncer = std::make_unique<loyalty::sync::Syncer>(till->core);
    } catch (const std::exception& e) {
      till->core->close();
      return report(LOY_E_CONFIG, e.what());
    }
    if (const auto interval = till->core->config().sync_interval_seconds; interval > 0)
      till->syncer->start(std::chrono::seconds(interval));
    *out = loyalty::api::handle(till.release());
    return LOY_OK;
  } catch (const TillError& e) {
    return report(e.status(), e.what());
  } catch (const loyalty::store::StorageError& e) {
    return report(LOY_E_STORAGE, e.what());
  } catch (const std::exception& e) {
    return report(LOY_E_INTERNAL, e.what());
  } catch (...) {
    return report(LOY_E_INTERNAL, "unknown exception");
  }
}

void LOY_CALL loy_till_close(loy_till* till_arg) {
  TillHandle* const till = impl(till_arg);
  if (!till) return;
  try {
    till->syncer.reset();  // stops the background sync, aborting one in progress
    till->core->close();
  } catch (...) {  // closing cannot fail in a way the caller could act on
  }
  delete till;
}

const char* LOY_CALL loy_till_last_error(const loy_till* till_arg) {
  const TillHandle* const till = impl(till_arg);
  if (!till) return "";
  std::lock_guard lock(till->errors_mu);
  const auto it = till->errors.find(std::this_thread::get_id());
  return it == till->errors.end() ? "" : it->second.c_str();
}

loy_status LOY_CALL loy_till_apply_rules(loy_till* till_arg, const char* json, size_t size) {
  TillHandle* const till = impl(till_arg);
  if (!till) return LOY_E_INVALID_ARGUMENT;
  return guarded(till, [&] {
    if (!json) return invalid(till, "json is NULL");
    till->core->apply_rules(std::string_view(json, size));
    return LOY_OK;
  });
}

loy_status LOY_CALL loy_till_apply_changes(loy_till* till_arg, const char* json, size_t size) {
  TillHandle* const till = impl(till_arg);
  if (!till) return LOY_E_INVALID_ARGUMENT;
  return guarded(till, [&] {
    if (!json) return invalid(till, "json is NULL");
    till->core->apply_changes(std::string_view(json, size));
    return LOY_OK;
  });
}

namespace {

loy_status lookup_impl(TillHandle* till, const char* scanned, loy_member_info* out, const PromptArray* prompts) {
  if (!till) return LOY_E_INVALID_ARGUMENT;
  return guarded(till, [&] {
    if (!scanned) return invalid(till, "scanned is NULL");
    if (!out && !prompts) return invalid(till, "out is NULL");
    if (out && !sized(out)) return struct_size_error(till, "out");
    if (prompts)
      if (const loy_status s = check_prompts(till, *prompts)) return s;
    // strnlen: a scanned code is short, and an unterminated buffer must not be read past the limit.
    const std::size_t n = strnlen(scanned, loyalty::till::kMaxScannedBytes + 1);
    const auto view = till->core->lookup(std::string_view(scanned, n));
    if (out) fill_member(view, out);
    if (prompts) fill_prompts(view.prompts, *prompts);
    return LOY_OK;
  });
}

}  // namespace

loy_status LOY_CALL loy_till_lookup(loy_till* till_arg, const char* scanned, loy_member_info* out) {
  TillHandle* const till = impl(till_arg);
  return lookup_impl(till, scanned, out, nullptr);
}

loy_status LOY_CALL loy_till_lookup_v2(loy_till* till_arg, const char* scanned, loy_member_info* out,
                                       loy_prompt_info* prompts, size_t prompt_size, size_t capacity,
                                       size_t* prompt_count) {
  TillHandle* const till = impl(till_arg);
  const PromptArray a{prompts, prompt_size, capacity, prompt_count};
  return lookup_impl(till, scanned, out, &a);
}

loy_status LOY_CALL loy_till_status_get(loy_till* till_arg, loy_till_status* out) {
  TillHandle* const till = impl(till_arg);
  if (!till) return LOY_E_INVALID_ARGUMENT;
  return guarded(till, [&] {
    if (!out) return invalid(till, "out is NULL");
    // A caller built against 1.0 or 1.1 passes the struct as it was then: it gets the fields it knows.
    if (!sized(out)) return struct_size_error(till, "out");
    const auto st = till->core->status();
    const std::int64_t now_us = loyalty::till::local_now().utc_micros;
    loy_till_status full{};
    full.outbox_depth = st.outbox_depth;
    full.oldest_unsynced_seconds = st.oldest_unsynced_us ? (now_us - *st.oldest_unsynced_us) / 1'000'000 : -1;
    full.cache_version = st.cursor;
    full.last_sync_unix = st.last_sync_us ? *st.last_sync_us / 1'000'000 : -1;
    full.members = st.members;
    copy_text(full.rules_version, st.rules_version);
    if (const auto rules = till->core->rules()) {
      copy_text(full.currency, rules->currency);
      full.minor_per_unit = rules->minor_per_unit;
    }
    full.rejected = st.rejected;
    copy_text(full.last_sync_error, st.last_sync_error);
    full.held = st.held;
    copy_text(full.rules_error, st.rules_error);
    deliver(out, full);
    return LOY_OK;
  });
}

loy_status LOY_CALL loy_till_sync(loy_till* till_arg, loy_sync_result* out) {
  TillHandle* const till = impl(till_arg);
  if (!till) return LOY_E_INVALID_ARGUMENT;
  return guarded(till, [&] {
    if (out && !sized(out)) return struct_size_error(till, "out");
    if (!till->syncer) throw TillError(LOY_E_STATE, "the till is closed");
    loyalty::sync::SyncReport r;
    try {
      r = till->syncer->sync_now();
    } catch (const loyalty::sync::SyncError& e) {
      // The POS hears of it in the status; its log does too, as of a background sync's failure.
      till->core->logger()(LOY_LOG_WARN, std::string("sync failed: ") + e.what());
      throw TillError(LOY_E_NETWORK, e.what());
    }
    if (out) {
      loy_sync_result full{};
      full.sent = r.sent;
      full.applied = r.applied;
      full.duplicates = r.duplicates;
      full.rejected = r.rejected;
      full.members = r.members;
      full.coupons = r.coupons;
      full.rules_updated = r.rules_updated ? 1 : 0;
      deliver(out, full);
    }
    return LOY_OK;
  });
}

loy_status LOY_CALL loy_checkout_begin(loy_till* till_arg, loy_checkout** out) {
  TillHandle* const till = impl(till_arg);
  if (!till) return LOY_E_INVALID_ARGUMENT;
  return guarded(till, [&] {
    if (!out) return invalid(till, "out is NULL");
    *out = nullptr;
    auto c = std::make_unique<CheckoutHandle>();
    c->core = till->core;
    *out = loyalty::api::handle(c.release());
    return LOY_OK;
  });
}

void LOY_CALL loy_checkout_free(loy_checkout* checkout) { delete impl(checkout); }

const char* LOY_CALL loy_checkout_last_error(const loy_checkout* checkout_arg) {
  const CheckoutHandle* const checkout = impl(checkout_arg);
  return checkout ? checkout->error.c_str() : "";
}

loy_status LOY_CALL loy_checkout_set_time(loy_checkout* c_arg, const char* iso8601) {
  CheckoutHandle* const c = impl(c_arg);
  if (!c) return LOY_E_INVALID_ARGUMENT;
  return guarded(c, [&] {
    if (const loy_status s = not_after_commit(c)) return s;
    const auto t = loyalty::engine::parse_instant(text_arg(iso8601, 64, "iso8601"));
    if (!t) return invalid(c, "the time must be ISO-8601 with an offset, like 2026-05-03T10:00:00+08:00");
    c->state.at = *t;
    c->quote.reset();
    return LOY_OK;
  });
}

loy_status LOY_CALL loy_checkout_identify(loy_checkout* c_arg, const char* scanned, loy_member_info* out) {
  CheckoutHandle* const c = impl(c_arg);
  if (!c) return LOY_E_INVALID_ARGUMENT;
  return guarded(c, [&] {
    if (const loy_status s = not_after_commit(c)) return s;
    // A failed identify leaves the sale without a member, never with the previous one.
    c->state.member_id.reset();
    c->prompts.clear();
    c->quote.reset();
    if (!scanned) return invalid(c, "scanned is NULL");
    if (out && !sized(out)) return struct_size_error(c, "out");
    const std::size_t n = strnlen(scanned, loyalty::till::kMaxScannedBytes + 1);
    auto view = c->core->identify(c->state, std::string_view(scanned, n));
    if (out) fill_member(view, out);
    c->prompts = std::move(view.prompts);
    return LOY_OK;
  });
}

loy_status LOY_CALL loy_checkout_prompts(loy_checkout* c_arg, loy_prompt_info* prompts, size_t prompt_size,
                                         size_t capacity, size_t* prompt_count) {
  CheckoutHandle* const c = impl(c_arg);
  if (!c) return LOY_E_INVALID_ARGUMENT;
  return guarded(c, [&] {
    if (const loy_status s = till_open(c)) return s;
    const PromptArray a{prompts, prompt_size, capacity, prompt_count};
    if (const loy_status s = check_prompts(c, a)) return s;
    fill_prompts(c->prompts, a);
    return LOY_OK;
  });
}

loy_status LOY_CALL loy_checkout_enroll(loy_checkout* c_arg, const loy_enrollment* enrollment, loy_member_info* out) {
  CheckoutHandle* const c = impl(c_arg);
  if (!c) return LOY_E_INVALID_ARGUMENT;
  return guarded(c, [&] {
    if (const loy_status s = not_after_commit(c)) return s;
    if (!enrollment) return invalid(c, "enrollment is NULL");
    if (!sized(enrollment)) return struct_size_error(c, "enrollment");
    if (out && !sized(out)) return struct_size_error(c, "out");
    auto view = c->core->enroll(read_enrollment(enrollment), c->state.at);
    c->state.member_id = view.cached.member.id;
    c->quote.reset();
    if (out) fill_member(view, out);
    c->prompts = std::move(view.prompts);
    return LOY_OK;
  });
}

loy_status LOY_CALL loy_checkout_add_line(loy_checkout* c_arg, const loy_line* line_arg) {
  CheckoutHandle* const c = impl(c_arg);
  if (!c) return LOY_E_INVALID_ARGUMENT;
  return guarded(c, [&] {
    if (const loy_status s = not_after_commit(c)) return s;
    if (!line_arg) return invalid(c, "line is NULL");
    if (!sized(line_arg)) return struct_size_error(c, "line");
    const loy_line line_in = read_in(line_arg);
    const loy_line* const line = &line_in;
    if (c->state.lines.size() >= loyalty::engine::kMaxLines)
      throw TillError(LOY_E_TOO_LARGE, "a sale has at most 10000 lines");
    loyalty::engine::Line l;
    namespace limits = loyalty::protocol::limits;
    l.id = text_arg(line->id, limits::kPosId, "line->id");
    if (l.id.empty()) return invalid(c, "line->id is empty");
    l.sku = text_arg(line->sku, limits::kSku, "line->sku");
    l.category = text_arg(line->category, limits::kCategory, "line->category");
    // The line appears twice in the transaction (the basket and the quote), each string escaped at
    // most sixfold, with its numbers and keys in under 400 bytes; 64 KiB is left for the rest.
    const std::size_t bytes = 400 + 6 * (2 * l.id.size() + l.sku.size() + l.category.size());
    if (c->line_bytes + bytes > limits::kTxnBytes - 64 * 1024)
      throw TillError(LOY_E_TOO_LARGE, "the sale's transaction would exceed " + std::to_string(limits::kTxnBytes) +
                                           " bytes: no more lines of this size fit in one sale");
    if (line->qty <= 0 || line->qty > loyalty::engine::kMaxQty) return invalid(c, "line->qty must be 1..1000000000");
    if (line->amount_minor < 0 || line->amount_minor > loyalty::engine::kMaxLineAmount)
      return invalid(c, "line->amount_minor must be 0..10^15");
    for (const auto& existing : c->state.lines)
      if (existing.id == l.id) return invalid(c, "a line with this id is already in the sale");
    l.qty = line->qty;
    l.amount_minor = line->amount_minor;
    c->state.lines.push_back(std::move(l));
    c->line_bytes += bytes;
    c->quote.reset();
    return LOY_OK;
  });
}

loy_status LOY_CALL loy_checkout_set_coupon(loy_checkout* c_arg, const char* code) {
  CheckoutHandle* const c = impl(c_arg);
  if (!c) return LOY_E_INVALID_ARGUMENT;
  return guarded(c, [&] {
    if (const loy_status s = not_after_commit(c)) return s;
    c->quote.reset();
    if (!code) {
      c->state.coupon_code.reset();
      return LOY_OK;
    }
    const auto v = text_arg(code, loyalty::protocol::limits::kCouponCode, "code");
    if (v.empty()) return invalid(c, "code is empty: pass NULL to remove the coupon");
    c->state.coupon_code = std::string(v);
    return LOY_OK;
  });
}

loy_status LOY_CALL loy_checkout_redeem(loy_checkout* c_arg, int64_t points) {
  CheckoutHandle* const c = impl(c_arg);
  if (!c) return LOY_E_INVALID_ARGUMENT;
  return guarded(c, [&] {
    if (const loy_status s = not_after_commit(c)) return s;
    if (points < 0 || points > loyalty::engine::kMaxPoints) return invalid(c, "points must be 0..10^15");
    c->state.redeem_points = points;
    c->quote.reset();
    return LOY_OK;
  });
}

loy_status LOY_CALL loy_checkout_quote(loy_checkout* c_arg, loy_quote* out) {
  CheckoutHandle* const c = impl(c_arg);
  if (!c) return LOY_E_INVALID_ARGUMENT;
  return guarded(c, [&] {
    if (const loy_status s = not_after_commit(c)) return s;
    if (!out) return invalid(c, "out is NULL");
    if (!sized(out)) return struct_size_error(c, "out");
    auto quote = c->core->price(c->state);
    fill_quote(quote, false, out);
    c->quote = std::move(quote);
    return LOY_OK;
  });
}

loy_status LOY_CALL loy_checkout_line_quote(loy_checkout* c_arg, uint32_t index, loy_line_quote* out) {
  CheckoutHandle* const c = impl(c_arg);
  if (!c) return LOY_E_INVALID_ARGUMENT;
  return guarded(c, [&] {
    if (const loy_status s = till_open(c)) return s;
    if (!out) return invalid(c, "out is NULL");
    if (!sized(out)) return struct_size_error(c, "out");
    if (!c->quote) {
      set_error(c, "nothing has been quoted yet");
      return LOY_E_STATE;
    }
    if (index >= c->quote->lines.size()) return invalid(c, "index is beyond the quote's lines");
    const auto& l = c->quote->lines[index];
    loy_line_quote full{};
    copy_text(full.id, l.id);
    full.member_discount_minor = l.member_discount_minor;
    full.coupon_discount_minor = l.coupon_discount_minor;
    full.redeem_value_minor = l.redeem_value_minor;
    full.net_minor = l.net_minor;
    full.points_earned = l.points_earned;
    full.points_redeemed = l.points_redeemed;
    deliver(out, full);
    return LOY_OK;
  });
}

loy_status LOY_CALL loy_checkout_commit(loy_checkout* c_arg, const char* receipt_id, loy_quote* out) {
  CheckoutHandle* const c = impl(c_arg);
  if (!c) return LOY_E_INVALID_ARGUMENT;
  return guarded(c, [&] {
    if (const loy_status s = till_open(c)) return s;
    if (c->committed) {
      set_error(c, "the checkout is committed already");
      return LOY_E_STATE;
    }
    if (out && !sized(out)) return struct_size_error(c, "out");
    const auto id = text_arg(receipt_id, loyalty::till::kMaxIdBytes, "receipt_id");
    // The quote the customer was shown (if nothing changed since) is the one they pay.
    auto committed = c->core->commit(c->state, id, c->quote ? &*c->quote : nullptr);
    if (out) fill_quote(committed.quote, committed.replayed, out);
    c->quote = std::move(committed.quote);
    c->committed = true;
    return LOY_OK;
  });
}

const char* LOY_CALL loy_coupon_refusal_str(int32_t code) {
  switch (code) {
    case LOY_COUPON_UNKNOWN: return "coupon_unknown";
    case LOY_COUPON_USED: return "coupon_used";
    case LOY_COUPON_NOT_YET_VALID: return "coupon_not_yet_valid";
    case LOY_COUPON_EXPIRED: return "coupon_expired";
    case LOY_COUPON_MIN_SPEND_NOT_MET: return "min_spend_not_met";
    case LOY_COUPON_NOT_ALLOWED: return "coupons_not_allowed";
    case LOY_COUPON_MEMBER_REQUIRED: return "member_required";
    default: return "";
  }
}

const char* LOY_CALL loy_redeem_refusal_str(int32_t code) {
  switch (code) {
    case LOY_REDEEM_NOT_MULTIPLE_OF_STEP: return "not_multiple_of_step";
    case LOY_REDEEM_BELOW_MIN: return "below_min";
    case LOY_REDEEM_INSUFFICIENT_POINTS: return "insufficient_points";
    case LOY_REDEEM_OFFLINE_LIMIT: return "offline_limit";
    case LOY_REDEEM_EXCEEDS_MAX_SHARE: return "exceeds_max_share";
    case LOY_REDEEM_MEMBER_REQUIRED: return "member_required";
    default: return "";
  }
}

namespace {

loy_status refund_impl(TillHandle* till, const char* refund_id, const char* sale_store, const char* receipt_id,
                       const loy_refund_item* items, size_t count, loy_refund_result* out) {
  if (!till) return LOY_E_INVALID_ARGUMENT;
  return guarded(till, [&] {
    if (out && !sized(out)) return struct_size_error(till, "out");
    if (count > 0 && !items) return invalid(till, "items is NULL with a count above 0");
    // All that is left of the sale is asked for by NULL and 0 only: an array with no item in it is
    // a mistake of the caller's, never a full refund.
    if (count == 0 && items) return invalid(till, "items is not NULL but count is 0 (NULL and 0 refund all that is left)");
    if (count > loyalty::engine::kMaxLines) throw TillError(LOY_E_TOO_LARGE, "a refund names at most 10000 lines");
    // The array's element size is its first item's struct_size (a later header's items may be larger).
    std::vector<loyalty::engine::RefundItem> list;
    const std::uint32_t stride = count > 0 ? items[0].struct_size : 0;
    if (count > 0 && !sized(&items[0])) return struct_size_error(till, "items[0]");
    const auto* bytes = reinterpret_cast<const unsigned char*>(items);
    for (std::size_t i = 0; i < count; ++i) {
      std::uint32_t size = 0;
      std::memcpy(&size, bytes + i * stride, sizeof size);
      if (size != stride) {
        set_error(till, "items[i].struct_size differs from items[0]'s: an array has one element size");
        return LOY_E_STRUCT_SIZE;
      }
      loy_refund_item item{};
      std::memcpy(&item, bytes + i * stride, std::min<std::size_t>(stride, sizeof item));
      list.push_back({std::string(text_arg(item.line_id, loyalty::till::kMaxIdBytes, "items[i].line_id")), item.units});
    }
    const auto refund = text_arg(refund_id, loyalty::till::kMaxIdBytes, "refund_id");
    const auto receipt = text_arg(receipt_id, loyalty::till::kMaxIdBytes, "receipt_id");
    std::string_view store;
    if (sale_store) {
      store = text_arg(sale_store, 32, "sale_store_id");
      if (store.empty()) return invalid(till, "sale_store_id is empty");
    }
    // A refund id used before answers its first result without the network. Otherwise a sale this
    // till does not hold comes from headquarters (refund_at: another till's, of any store); one it
    // holds is brought up to date with the refunds of it made elsewhere when the till is online. The
    // network's part of the call takes at most sync.timeout_seconds.
    if (!till->core->has_refund(refund)) {
      if (!till->syncer) throw TillError(LOY_E_STATE, "the till is closed");
      const auto& config = till->core->config();
      const std::string of_store = store.empty() ? config.store_id : std::string(store);
      const auto target = till->core->refund_target(store, receipt);
      if (!target.txn_id && !sale_store)
        throw TillError(LOY_E_NOT_FOUND, "no sale was committed at this till with receipt " + std::string(receipt) +
                                             " (another till's: loy_till_refund_at)");
      if (!target.txn_id || till->core->online()) {
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(config.sync_timeout_seconds);
        std::optional<std::string> answer;
        try {
          answer = till->syncer->fetch_sale(of_store, std::string(receipt), target.txn_id, deadline);
        } catch (const loyalty::sync::SyncError& e) {
          if (!target.txn_id)
            throw TillError(LOY_E_NETWORK, std::string("cannot fetch the sale from headquarters: ") + e.what());
          // Offline after all: the refund goes on with what this till knows of the sale.
        }
        if (answer) {
          till->core->merge_hq_sale(target, store, receipt, *answer);
        } else if (!target.txn_id) {
          throw TillError(LOY_E_NOT_FOUND, "headquarters has no receipt " + std::string(receipt) + " of store " +
                                               of_store + " (has its till synced it?)");
        }
      }
    }
    const auto r = till->core->refund(refund, receipt, list, store);
    if (out) {
      loy_refund_result full{};
      full.amount_minor = r.amount_minor;
      full.points_taken_back = r.points_taken_back;
      full.points_given_back = r.points_given_back;
      full.balance_after = r.balance_after;
      full.negative_balance = r.negative_balance ? 1 : 0;
      full.replayed = r.replayed ? 1 : 0;
      deliver(out, full);
    }
    return LOY_OK;
  });
}

}  // namespace

loy_status LOY_CALL loy_till_refund(loy_till* till_arg, const char* refund_id, const char* receipt_id,
                                    const loy_refund_item* items, size_t count, loy_refund_result* out) {
  TillHandle* const till = impl(till_arg);
  return refund_impl(till, refund_id, nullptr, receipt_id, items, count, out);
}

loy_status LOY_CALL loy_till_refund_at(loy_till* till_arg, const char* refund_id, const char* sale_store_id,
                                       const char* receipt_id, const loy_refund_item* items, size_t count,
                                       loy_refund_result* out) {
  TillHandle* const till = impl(till_arg);
  if (till && !sale_store_id) return invalid(till, "sale_store_id is NULL");
  return refund_impl(till, refund_id, sale_store_id, receipt_id, items, count, out);
}

loy_status LOY_CALL loy_till_enroll(loy_till* till_arg, const loy_enrollment* enrollment, loy_member_info* out) {
  TillHandle* const till = impl(till_arg);
  if (!till) return LOY_E_INVALID_ARGUMENT;
  return guarded(till, [&] {
    if (!enrollment) return invalid(till, "enrollment is NULL");
    if (!sized(enrollment)) return struct_size_error(till, "enrollment");
    if (out && !sized(out)) return struct_size_error(till, "out");
    const auto view = till->core->enroll(read_enrollment(enrollment));
    if (out) fill_member(view, out);
    return LOY_OK;
  });
}

}  // extern "C"
