// The till's database: member cache, coupons, rules, outbox of committed sales, sync state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "loyalty/protocol/changes.hpp"
#include "loyalty/store/database.hpp"

namespace loyalty::store {

struct CachedMember {
  engine::Member member;
  std::int64_t version = 0;
  std::string masked_name;
};

struct StoreStatus {
  std::int64_t outbox_depth = 0;
  std::optional<std::int64_t> oldest_unsynced_us;  // created_us of the oldest unsynced entry
  std::int64_t cursor = 0;
  std::optional<std::int64_t> last_sync_us;
  std::int64_t members = 0;
  std::string rules_version;
};

class Store {
 public:
  // Opens the database file, creating it or migrating its schema (PRAGMA user_version).
  explicit Store(const std::string& path);

  static constexpr std::int64_t kSchemaVersion = 1;

  std::optional<std::string> rules_json();
  // Stores a rule set; false when that version is already the current one.
  bool save_rules(const std::string& version, std::string_view json);

  struct Applied {
    std::int64_t members = 0;  // records written
    std::int64_t skipped = 0;  // records not newer than the cache's
    std::int64_t coupons = 0;
  };
  // Applies a changes page in one transaction and moves the cursor to doc.next.
  Applied apply_changes(const protocol::ChangesDocument& doc);

  std::optional<CachedMember> member_by_code(const protocol::CodeHash& code);
  std::optional<CachedMember> member_by_id(std::string_view id);

  // This till's effects on the member that headquarters has not confirmed yet (RULES.md: pending).
  std::int64_t pending_points(std::string_view member_id);

  std::optional<protocol::CouponRecord> coupon(std::string_view code);

  StoreStatus status();

  Database& database() { return db_; }

 private:
  void migrate();
  CachedMember read_member(Statement& s);
  void upsert_member(const protocol::MemberRecord& m);

  Database db_;
  std::optional<Statement> by_code_, by_id_, pending_, coupon_, member_version_, insert_member_, delete_codes_,
      insert_code_, coupon_version_, upsert_coupon_, get_meta_, set_meta_;
};

}  // namespace loyalty::store
