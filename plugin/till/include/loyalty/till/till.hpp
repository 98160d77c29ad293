// The till: configuration, database, rules and member lookups behind one lock. The C interface in
// plugin/api is a thin shim over this class.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "loyalty/engine/prompts.hpp"
#include "loyalty/engine/rules.hpp"
#include "loyalty/loyalty.h"
#include "loyalty/store/store.hpp"
#include "loyalty/till/config.hpp"

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

// The wall clock as an instant in the machine's local offset: the till's "now".
engine::Instant local_now();

struct MemberView {
  store::CachedMember cached;
  std::string tier_name;
  std::int64_t pending_points = 0;
  std::vector<engine::Prompt> prompts;
};

class Till {
 public:
  Till(TillConfig config, Logger log);

  void apply_rules(std::string_view json);
  store::Store::Applied apply_changes(std::string_view json);
  MemberView lookup(std::string_view scanned);
  store::StoreStatus status();

  const TillConfig& config() const { return config_; }

 private:
  std::shared_ptr<const engine::RuleSet> rules_locked();
  MemberView view_locked(store::CachedMember cached, const engine::Instant& now);

  std::mutex mu_;
  TillConfig config_;
  Logger log_;
  store::Store store_;
  std::shared_ptr<const engine::RuleSet> rules_;
};

inline constexpr std::size_t kMaxDocumentBytes = 64 * 1024 * 1024;
inline constexpr std::size_t kMaxRulesBytes = 1024 * 1024;

}  // namespace loyalty::till
