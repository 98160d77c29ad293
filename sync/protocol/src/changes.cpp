#include "loyalty/protocol/changes.hpp"

#include "loyalty/engine/json_reader.hpp"
#include "loyalty/engine/text.hpp"
#include "loyalty/protocol/limits.hpp"

namespace loyalty::protocol {
namespace {

using engine::detail::fail;
using engine::detail::index_path;
using engine::detail::json;
using engine::detail::ObjectReader;
namespace limits = protocol::limits;

constexpr std::int64_t kMaxVersion = INT64_MAX;

MemberRecord read_member(const json& j, const std::string& path) {
  ObjectReader r(j, path);
  MemberRecord rec;
  rec.version = r.integer("version", 1, kMaxVersion);
  rec.masked_name = r.string("masked_name", true);
  const json& codes = engine::detail::as_array(r.required("codes"), r.path_of("codes"));
  if (codes.size() > kMaxCodesPerMember)
    fail(r.path_of("codes"), "must have at most " + std::to_string(kMaxCodesPerMember) + " codes");
  for (std::size_t i = 0; i < codes.size(); ++i) {
    const std::string at = index_path(r.path_of("codes"), i);
    const auto h = code_hash_from_hex(engine::detail::as_string(codes[i], at));
    if (!h) fail(at, "must be 64 hexadecimal digits (HMAC-SHA256 of the normalised code)");
    rec.codes.push_back(*h);
  }
  rec.member = engine::detail::read_member_fields(r);
  r.finish();
  if (!engine::is_valid_utf8(rec.masked_name)) fail(r.path_of("masked_name"), "must be valid UTF-8");
  if (rec.masked_name.size() > limits::kMaskedName)
    fail(r.path_of("masked_name"), "must be at most " + std::to_string(limits::kMaskedName) + " bytes");
  if (!limits::is_member_id(rec.member.id))
    fail(r.path_of("id"), "must be 1.." + std::to_string(limits::kMemberId) + " letters, digits, '-', '_' or '.'");
  if (rec.member.tier.empty() || rec.member.tier.size() > limits::kTierId)
    fail(r.path_of("tier"), "must be 1.." + std::to_string(limits::kTierId) + " bytes");
  return rec;
}

CouponRecord read_coupon(const json& j, const std::string& path) {
  ObjectReader r(j, path);
  CouponRecord rec;
  rec.version = r.integer("version", 1, kMaxVersion);
  if (const json* m = r.optional("member_id")) {
    rec.member_id = engine::detail::as_string(*m, r.path_of("member_id"));
    if (!limits::is_member_id(*rec.member_id))
      fail(r.path_of("member_id"), "must be 1.." + std::to_string(limits::kMemberId) +
                                       " letters, digits, '-', '_' or '.'");
  }
  rec.coupon = engine::detail::read_coupon_fields(r, r.string("code"));
  r.finish();
  if (rec.coupon.code.empty() || rec.coupon.code.size() > limits::kCouponCode)
    fail(r.path_of("code"), "must be 1.." + std::to_string(limits::kCouponCode) + " bytes");
  return rec;
}

ChangesDocument read_changes(const json& doc) {
  ObjectReader r(doc, "");
  ChangesDocument out;
  const json& members = engine::detail::as_array(r.required("members"), "members");
  out.members.reserve(members.size());
  for (std::size_t i = 0; i < members.size(); ++i) out.members.push_back(read_member(members[i], index_path("members", i)));
  const json& coupons = engine::detail::as_array(r.required("coupons"), "coupons");
  for (std::size_t i = 0; i < coupons.size(); ++i) out.coupons.push_back(read_coupon(coupons[i], index_path("coupons", i)));
  out.next = r.integer("next", 0, kMaxVersion);
  out.more = engine::detail::as_bool(r.required("more"), "more");
  if (const json* g = r.optional("generation")) {
    out.generation = engine::detail::as_string(*g, "generation");
    if (!limits::is_batch_id(*out.generation)) fail("generation", "must be 1..64 letters, digits, '-', '_' or '.'");
  }
  r.finish();
  return out;
}

}  // namespace

std::string to_hex(const CodeHash& h) {
  static const char* const digits = "0123456789abcdef";
  std::string out(64, '0');
  for (std::size_t i = 0; i < h.size(); ++i) {
    out[2 * i] = digits[h[i] >> 4];
    out[2 * i + 1] = digits[h[i] & 0xF];
  }
  return out;
}

std::optional<CodeHash> code_hash_from_hex(std::string_view hex) {
  if (hex.size() != 64) return std::nullopt;
  CodeHash h{};
  const auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < h.size(); ++i) {
    const int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    h[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return h;
}

engine::Result<ChangesDocument> parse_changes(std::string_view text) {
  return engine::detail::guarded([&] { return read_changes(engine::detail::parse_json(text, "changes")); });
}

std::string changes_to_json(const ChangesDocument& doc) {
  engine::detail::JsonWriter w;
  w.begin_object().key("members").begin_array();
  for (const MemberRecord& m : doc.members) {
    w.begin_object().field("version", m.version).field("masked_name", m.masked_name).key("codes").begin_array();
    for (const CodeHash& c : m.codes) w.value(to_hex(c));
    w.end_array();
    engine::detail::write_member_fields(w, m.member);
    w.end_object();
  }
  w.end_array().key("coupons").begin_array();
  for (const CouponRecord& c : doc.coupons) {
    w.begin_object().field("version", c.version);
    if (c.member_id) w.field("member_id", *c.member_id);
    engine::detail::write_coupon_fields(w, c.coupon);
    w.end_object();
  }
  w.end_array().field("next", doc.next).field("more", doc.more);
  if (doc.generation) w.field("generation", *doc.generation);
  w.end_object();
  return w.take();
}

}  // namespace loyalty::protocol
