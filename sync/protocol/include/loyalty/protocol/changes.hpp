// The member-changes document: headquarters' answer to GET /v1/changes, and the file a till is
// seeded from (docs/protocol.md).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "loyalty/engine/quote.hpp"
#include "loyalty/engine/result.hpp"
#include "loyalty/protocol/limits.hpp"

namespace loyalty::protocol {

// HMAC-SHA256 of a normalised member code (card code or phone number) under the chain's key.
using CodeHash = std::array<std::uint8_t, 32>;

std::string to_hex(const CodeHash& h);
std::optional<CodeHash> code_hash_from_hex(std::string_view hex);

struct MemberRecord {
  engine::Member member;
  std::int64_t version = 0;   // headquarters' version of this member; a till never goes back
  std::string masked_name;    // never the name itself
  std::vector<CodeHash> codes;
};

struct CouponRecord {
  engine::Coupon coupon;
  std::int64_t version = 0;
  std::optional<std::string> member_id;  // a member's own coupon; nullopt: any member's
};

struct ChangesDocument {
  std::vector<MemberRecord> members;
  std::vector<CouponRecord> coupons;
  std::int64_t next = 0;  // the cursor after this page
  bool more = false;      // another page follows
  // Headquarters' database generation (GET /v1/changes with `generation`): a new one means its
  // database went back (restored from a backup), and the page starts from the beginning of the feed.
  std::optional<std::string> generation;
};

inline constexpr std::size_t kMaxGenerationBytes = 64;

inline constexpr std::size_t kMaxCodesPerMember = limits::kCodesPerMember;

// Parses and validates a changes document; errors name the path ("members[3].codes[0]: ...").
engine::Result<ChangesDocument> parse_changes(std::string_view json_text);
std::string changes_to_json(const ChangesDocument& doc);

}  // namespace loyalty::protocol
