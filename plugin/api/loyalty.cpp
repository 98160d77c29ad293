// The C interface: every exported function is a noexcept shim over the C++ core, and every exception
// stops here, as a status and a message.
#include "loyalty/loyalty.h"

#include <cstring>
#include <new>
#include <string>
#include <unordered_map>

#include "loyalty/engine/text.hpp"
#include "loyalty/till/member_code.hpp"
#include "loyalty/till/till.hpp"

struct loy_till {
  std::unique_ptr<loyalty::till::Till> core;
};

namespace {

using loyalty::till::TillError;

// The last error of each handle, per thread: valid until that thread's next call on the handle.
thread_local std::unordered_map<const void*, std::string> t_errors;

void set_error(const void* handle, const char* message) noexcept {
  if (!handle) return;
  try {
    t_errors[handle] = message;
  } catch (...) {  // out of memory: the status still says what went wrong
  }
}

template <class F>
loy_status guarded(const void* handle, F&& f) noexcept {
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

loy_status invalid(const void* handle, const char* message) {
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

// A caller's struct: at least as large as this library's, its struct_size set.
template <class T>
bool sized(const T* p) {
  return p && p->struct_size >= sizeof(T);
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

void fill_member(const loyalty::till::MemberView& v, loy_member_info* out) {
  const std::uint32_t size = out->struct_size;
  std::memset(out, 0, sizeof *out);
  out->struct_size = size;
  copy_text(out->member_id, v.cached.member.id);
  copy_text(out->masked_name, v.cached.masked_name);
  copy_text(out->tier_id, v.cached.member.tier);
  copy_text(out->tier_name, v.tier_name);
  out->confirmed_points = v.cached.member.points;
  out->pending_points = v.pending_points;
  out->available_points = v.cached.member.points + v.pending_points;
  for (const auto& p : v.prompts) {
    if (out->prompt_count == LOY_MAX_PROMPTS) break;
    loy_prompt& o = out->prompts[out->prompt_count++];
    o.code = prompt_code(p.code);
    o.rate_bp = p.rate_bp.value_or(0);
    o.days = p.days.value_or(0);
    o.points = p.points.value_or(0);
    o.spend_minor = p.spend_minor.value_or(0);
    o.minutes = p.code == loyalty::engine::PromptCode::offline ? p.minutes.value_or(-1) : 0;
    if (p.date) copy_text(o.date, loyalty::engine::format_instant(*p.date));
    copy_text(o.tier, p.tier);
  }
}

}  // namespace

extern "C" {

uint32_t loy_version(void) { return LOY_VERSION; }

const char* loy_status_str(loy_status status) {
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
    case LOY_E_INTERNAL: return "internal error";
    default: return "unknown status";
  }
}

loy_status loy_till_open(const char* config_path, const loy_till_options* options, loy_till** out, char* error,
                         size_t error_size) {
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
  if (options && options->struct_size < sizeof(loy_till_options))
    return report(LOY_E_STRUCT_SIZE, "options->struct_size is smaller than sizeof(loy_till_options)");
  try {
    loyalty::till::Logger log;
    if (options) {
      log.fn = options->log;
      log.userdata = options->log_userdata;
      log.level = options->log_level == 0 ? LOY_LOG_INFO : options->log_level;
    }
    auto config = loyalty::till::load_config(config_path);
    if (!config) return report(LOY_E_CONFIG, config.error().message);
    auto till = std::make_unique<loy_till>();
    till->core = std::make_unique<loyalty::till::Till>(std::move(config).value(), log);
    *out = till.release();
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

void loy_till_close(loy_till* till) {
  if (!till) return;
  t_errors.erase(till);
  delete till;
}

const char* loy_till_last_error(const loy_till* till) {
  if (!till) return "";
  const auto it = t_errors.find(till);
  return it == t_errors.end() ? "" : it->second.c_str();
}

loy_status loy_till_apply_rules(loy_till* till, const char* json, size_t size) {
  if (!till) return LOY_E_INVALID_ARGUMENT;
  return guarded(till, [&] {
    if (!json) return invalid(till, "json is NULL");
    till->core->apply_rules(std::string_view(json, size));
    return LOY_OK;
  });
}

loy_status loy_till_apply_changes(loy_till* till, const char* json, size_t size) {
  if (!till) return LOY_E_INVALID_ARGUMENT;
  return guarded(till, [&] {
    if (!json) return invalid(till, "json is NULL");
    till->core->apply_changes(std::string_view(json, size));
    return LOY_OK;
  });
}

loy_status loy_till_lookup(loy_till* till, const char* scanned, loy_member_info* out) {
  if (!till) return LOY_E_INVALID_ARGUMENT;
  return guarded(till, [&] {
    if (!scanned) return invalid(till, "scanned is NULL");
    if (!out) return invalid(till, "out is NULL");
    if (!sized(out)) {
      set_error(till, "out->struct_size must be sizeof(loy_member_info)");
      return LOY_E_STRUCT_SIZE;
    }
    // strnlen: a scanned code is short, and an unterminated buffer must not be read past the limit.
    const std::size_t n = strnlen(scanned, loyalty::till::kMaxScannedBytes + 1);
    fill_member(till->core->lookup(std::string_view(scanned, n)), out);
    return LOY_OK;
  });
}

loy_status loy_till_status_get(loy_till* till, loy_till_status* out) {
  if (!till) return LOY_E_INVALID_ARGUMENT;
  return guarded(till, [&] {
    if (!out) return invalid(till, "out is NULL");
    if (!sized(out)) {
      set_error(till, "out->struct_size must be sizeof(loy_till_status)");
      return LOY_E_STRUCT_SIZE;
    }
    const auto st = till->core->status();
    const std::int64_t now_us = loyalty::till::local_now().utc_micros;
    const std::uint32_t size = out->struct_size;
    std::memset(out, 0, sizeof *out);
    out->struct_size = size;
    out->outbox_depth = st.outbox_depth;
    out->oldest_unsynced_seconds = st.oldest_unsynced_us ? (now_us - *st.oldest_unsynced_us) / 1'000'000 : -1;
    out->cache_version = st.cursor;
    out->last_sync_unix = st.last_sync_us ? *st.last_sync_us / 1'000'000 : -1;
    out->members = st.members;
    copy_text(out->rules_version, st.rules_version);
    return LOY_OK;
  });
}

}  // extern "C"
