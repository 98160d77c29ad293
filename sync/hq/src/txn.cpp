#include "loyalty/hq/txn.hpp"

#include <openssl/evp.h>

#include <memory>
#include <optional>

#include "loyalty/engine/text.hpp"
#include "loyalty/protocol/batch.hpp"
#include "loyalty/protocol/limits.hpp"
#include "loyalty/till/member_code.hpp"
#include "loyalty/till/seal.hpp"

namespace loyalty::hq {
namespace {

using engine::detail::fail;
using engine::detail::json;
using engine::detail::ObjectReader;

namespace limits = protocol::limits;

constexpr std::int64_t kMaxPoints = limits::kMaxPoints;
constexpr std::int64_t kMaxMinor = limits::kMaxMinor;

// Receipt, refund and line ids are the POS's own: 1..63 bytes of UTF-8, as the till takes them.
std::string id_field(ObjectReader& r, std::string_view key) {
  std::string s = r.string(key);
  if (s.empty() || s.size() > limits::kPosId) fail(r.path_of(key), "must be 1.." + std::to_string(limits::kPosId) + " bytes");
  return s;
}

void read_sale(ObjectReader& r, Txn& t) {
  t.receipt_id = id_field(r, "receipt_id");
  t.rules_version = r.string("rules_version");
  if (!limits::is_rules_version(t.rules_version))
    fail(r.path_of("rules_version"), "must be 1.." + std::to_string(limits::kRulesVersion) +
                                         " letters, digits, '-', '_' or '.'");
  t.input = engine::detail::read_quote_input(r.required("input"), r.path_of("input"));
  t.quote = engine::detail::read_quote(r.required("quote"), r.path_of("quote"));
  const engine::QuoteInput& input = t.input;
  const engine::Quote& q = t.quote;
  if (t.member_id.has_value() != input.member.has_value() || (input.member && input.member->id != *t.member_id))
    fail(r.path_of("input") + ".member", "must be the transaction's member_id");
  // The figures headquarters counts with stay within the engine's range, whatever a till sent.
  if (q.gross_minor > kMaxMinor) fail(r.path_of("quote") + ".gross_minor", "must be at most " + std::to_string(kMaxMinor));
  if (q.payable_minor > q.gross_minor) fail(r.path_of("quote") + ".payable_minor", "must not exceed gross_minor");
  if (q.points_earned > kMaxPoints) fail(r.path_of("quote") + ".points_earned", "must be at most " + std::to_string(kMaxPoints));
  if (q.redeem_points > kMaxPoints) fail(r.path_of("quote") + ".redeem_points", "must be at most " + std::to_string(kMaxPoints));
  t.points_earned = q.points_earned;
  t.points_redeemed = q.redeem_points;
  t.gross_minor = q.gross_minor;
  t.payable_minor = q.payable_minor;
}

void read_refund(ObjectReader& r, Txn& t) {
  t.refund_id = id_field(r, "refund_id");
  t.receipt_id = id_field(r, "receipt_id");
  t.sale_txn_id = r.string("sale_txn_id");
  if (!protocol::is_txn_id(t.sale_txn_id)) fail(r.path_of("sale_txn_id"), "must be 32 lowercase hexadecimal digits");
  if (const json* store = r.optional("sale_store_id")) {
    t.sale_store_id = engine::detail::as_string(*store, r.path_of("sale_store_id"), false);
    if (!limits::is_store_id(*t.sale_store_id))
      fail(r.path_of("sale_store_id"), "must be 1.." + std::to_string(limits::kStoreId) + " letters, digits, '-' or '_'");
    t.sale_till_id = r.string("sale_till_id");
    if (!limits::is_till_id(*t.sale_till_id))
      fail(r.path_of("sale_till_id"), "must be 1.." + std::to_string(limits::kTillId) + " letters, digits, '-' or '_'");
  }
  const json& lines = engine::detail::as_array(r.required("lines"), r.path_of("lines"));
  if (lines.empty() || lines.size() > 10'000) fail(r.path_of("lines"), "must hold 1..10000 lines");
  for (std::size_t i = 0; i < lines.size(); ++i) {
    ObjectReader l(lines[i], engine::detail::index_path(r.path_of("lines"), i));
    engine::RefundItem item;
    item.line_id = id_field(l, "line_id");
    item.units = l.integer("units", 1, kMaxPoints);
    t.refund_items.push_back(std::move(item));
    l.integer("net_minor", 0, kMaxMinor);
    l.integer("points_earned", 0, kMaxPoints);
    l.integer("points_redeemed", 0, kMaxPoints);
    l.finish();
  }
  t.amount_minor = r.integer("amount_minor", 0, kMaxMinor);
  t.points_taken_back = r.integer("points_taken_back", 0, kMaxPoints);
  t.points_given_back = r.integer("points_given_back", 0, kMaxPoints);
}

void read_enrollment(ObjectReader& r, Txn& t) {
  if (!t.member_id) fail(r.path_of("member_id"), "an enrollment names the member it made");
  if (!limits::is_enrollment_member_id(*t.member_id, t.store_id, t.till_id))
    fail(r.path_of("member_id"), "must be T-" + t.store_id + "-<16 hexadecimal digits>");
  const auto hash = protocol::code_hash_from_hex(r.string("code_hash"));
  if (!hash) fail(r.path_of("code_hash"), "must be 64 lowercase hexadecimal digits");
  t.code_hash = *hash;
  t.masked_name = r.string("masked_name", true);
  if (t.masked_name.size() > limits::kMaskedName)
    fail(r.path_of("masked_name"), "must be at most " + std::to_string(limits::kMaskedName) + " bytes");
  t.tier = r.string("tier");
  if (t.tier.empty() || t.tier.size() > limits::kTierId)
    fail(r.path_of("tier"), "must be 1.." + std::to_string(limits::kTierId) + " bytes");
  const json& sealed = r.required("sealed");
  if (!sealed.is_object()) fail(r.path_of("sealed"), "must be an object");
  t.sealed = sealed.dump();
}

// Where a string (or a key) of `j` holds U+0000, as a path below it; nullopt when none does.
std::optional<std::string> nul_at(const json& j) {
  constexpr auto npos = std::string::npos;
  if (j.is_string()) return j.get_ref<const std::string&>().find('\0') != npos ? std::optional<std::string>("") : std::nullopt;
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (it.key().find('\0') != npos) return "." + it.key();
      if (auto p = nul_at(it.value())) return "." + it.key() + *p;
    }
  }
  if (j.is_array()) {
    for (std::size_t i = 0; i < j.size(); ++i)
      if (auto p = nul_at(j[i])) return "[" + std::to_string(i) + "]" + *p;
  }
  return std::nullopt;
}

}  // namespace

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr) != 1) throw std::runtime_error("SHA-256 failed");
  static const char* const digits = "0123456789abcdef";
  std::string out(len * 2, '0');
  for (unsigned i = 0; i < len; ++i) {
    out[2 * i] = digits[md[i] >> 4];
    out[2 * i + 1] = digits[md[i] & 15];
  }
  return out;
}

Txn read_txn(const json& j, const std::string& path) {
  ObjectReader r(j, path);
  // No till makes text holding U+0000 (a C string cannot), and a database would cut it there
  // (PostgreSQL refuses it): the transaction is refused for its own content, on either storage.
  if (const auto at = nul_at(j)) {
    std::string where = path + *at;
    if (!where.empty() && where.front() == '.') where.erase(0, 1);
    fail(where, "must not contain the character U+0000");
  }
  Txn t;
  t.txn_id = r.string("txn_id");
  if (!protocol::is_txn_id(t.txn_id)) fail(r.path_of("txn_id"), "must be 32 lowercase hexadecimal digits");
  const std::string kind = r.string("kind");
  if (kind == "sale") t.kind = TxnKind::sale;
  else if (kind == "refund") t.kind = TxnKind::refund;
  else if (kind == "enrollment") t.kind = TxnKind::enrollment;
  else fail(r.path_of("kind"), "must be sale, refund or enrollment");
  t.store_id = r.string("store_id");
  if (!limits::is_store_id(t.store_id))
    fail(r.path_of("store_id"), "must be 1.." + std::to_string(limits::kStoreId) + " letters, digits, '-' or '_'");
  t.till_id = r.string("till_id");
  if (!limits::is_till_id(t.till_id))
    fail(r.path_of("till_id"), "must be 1.." + std::to_string(limits::kTillId) + " letters, digits, '-' or '_'");
  t.at = r.instant("at");
  if (const json* m = r.optional("member_id")) {
    t.member_id = engine::detail::as_string(*m, r.path_of("member_id"));
    if (!limits::is_member_id(*t.member_id))
      fail(r.path_of("member_id"), "must be 1.." + std::to_string(limits::kMemberId) +
                                       " letters, digits, '-', '_' or '.'");
  } else {
    r.skip("member_id");
  }
  switch (t.kind) {
    case TxnKind::sale: read_sale(r, t); break;
    case TxnKind::refund: read_refund(r, t); break;
    case TxnKind::enrollment: read_enrollment(r, t); break;
  }
  r.finish();
  t.body = j.dump(-1, ' ', false, json::error_handler_t::strict);
  // nlohmann's json keeps keys sorted: the dump is canonical whatever order the till wrote.
  t.digest = sha256_hex(t.body);
  return t;
}

Txn unreadable_txn(const json& j, const std::string& store_id, const std::string& till_id, const std::string& error) {
  Txn t;
  t.invalid = "invalid_txn: " + error;
  t.store_id = store_id;
  t.till_id = till_id;
  if (j.is_object()) {
    if (const auto id = j.find("txn_id"); id != j.end() && id->is_string()) t.txn_id = id->get<std::string>();
    if (const auto till = j.find("till_id"); till != j.end() && till->is_string() &&
                                             limits::is_till_id(till->get_ref<const std::string&>()))
      t.till_id = till->get<std::string>();
  }
  if (t.txn_id.size() > 256) t.txn_id.clear();  // echoed in the answer: kept short
  t.body = j.dump(-1, ' ', false, json::error_handler_t::replace);
  t.digest = sha256_hex(t.body);
  return t;
}

struct EnrollmentOpener::Impl {
  explicit Impl(std::span<const std::uint8_t> key) : hasher(key) {}
  till::CodeHasher hasher;
};

EnrollmentOpener::EnrollmentOpener(std::string private_key_pem, std::span<const std::uint8_t> code_key)
    : key_pem_(std::move(private_key_pem)), impl_(new Impl(code_key)) {}

EnrollmentOpener::~EnrollmentOpener() { delete impl_; }

protocol::CodeHash EnrollmentOpener::hash(std::string_view normalised_code) const { return impl_->hasher(normalised_code); }

engine::Result<Personal> EnrollmentOpener::open(const Txn& t) const {
  std::string plain;
  try {
    plain = till::open_sealed(t.sealed, key_pem_);
  } catch (const till::SealError& e) {  // the envelope itself is malformed: no key opens it
    return engine::Error{std::string("sealed_invalid: ") + e.what()};
  } catch (const std::exception& e) {  // sealed to another key than the one headquarters runs with
    return engine::Error{std::string("sealed: cannot be opened with headquarters' enrollment key (") + e.what() + ")"};
  }
  auto personal = engine::detail::guarded([&] {
    json doc = engine::detail::parse_json(plain, "sealed");
    ObjectReader r(doc, "sealed");
    Personal p;
    const auto phone = till::normalise_code(r.string("phone"));
    if (!phone) fail(r.path_of("phone"), "is not a phone number");
    p.phone = *phone;
    p.name = r.string("name", true);
    p.consent = r.string("consent");
    r.instant("enrolled_at");
    if (const json* b = r.optional("birthday")) {
      const auto bd = engine::parse_month_day(engine::detail::as_string(*b, r.path_of("birthday")));
      if (!bd) fail(r.path_of("birthday"), "must be MM-DD");
      p.birthday = *bd;
    }
    r.finish();
    return p;
  });
  if (!personal) return engine::Error{"sealed_invalid: " + personal.error().message};
  if (impl_->hasher(personal->phone) != t.code_hash)
    return engine::Error{"code_key: code_hash is not the hash of the sealed phone number under headquarters' code key"};
  return personal;
}

}  // namespace loyalty::hq
