#include "admin.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <charconv>
#include <stdexcept>
#include <unordered_set>

#include "loyalty/engine/text.hpp"
#include "loyalty/protocol/batch.hpp"
#include "loyalty/till/member_code.hpp"

namespace loyalty::hq {
namespace {

// One CSV record (RFC 4180: quoted fields, "" for a quote inside one) from `pos`; false at the end.
bool read_record(const std::string& text, std::size_t& pos, std::vector<std::string>& fields, std::size_t& line) {
  fields.clear();
  if (pos >= text.size()) return false;
  std::string field;
  bool quoted = false;
  while (pos < text.size()) {
    const char c = text[pos++];
    if (quoted) {
      if (c == '"') {
        if (pos < text.size() && text[pos] == '"') {
          field += '"';
          ++pos;
        } else {
          quoted = false;
        }
      } else {
        if (c == '\n') ++line;
        field += c;
      }
    } else if (c == '"' && field.empty()) {
      quoted = true;
    } else if (c == ',') {
      fields.push_back(std::move(field));
      field.clear();
    } else if (c == '\n') {
      break;
    } else if (c != '\r') {
      field += c;
    }
  }
  if (quoted) throw std::runtime_error("line " + std::to_string(line) + ": a quoted field is not closed");
  fields.push_back(std::move(field));
  return true;
}

}  // namespace

std::vector<ImportedMember> read_members_csv(const std::string& text, const std::vector<std::string>& tier_ids) {
  if (!engine::is_valid_utf8(text)) throw std::runtime_error("the file is not valid UTF-8");
  std::size_t pos = 0, line = 1;
  std::vector<std::string> fields;
  if (!read_record(text, pos, fields, line)) throw std::runtime_error("the file is empty: it needs a header line");
  // The required columns, then the optional ones (a member's purchase history in the old system).
  const std::vector<std::string> columns = {"id",   "name",   "phone",     "card",
                                            "birthday", "tier", "points", "purchases", "last_purchase_at"};
  constexpr std::size_t kRequired = 7;
  std::vector<int> at(columns.size(), -1);
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const auto it = std::find(columns.begin(), columns.end(), fields[i]);
    if (it == columns.end()) throw std::runtime_error("line 1: unknown column '" + fields[i] + "'");
    const auto k = static_cast<std::size_t>(it - columns.begin());
    if (at[k] >= 0) throw std::runtime_error("line 1: column '" + fields[i] + "' is given twice");
    at[k] = static_cast<int>(i);
  }
  for (std::size_t k = 0; k < kRequired; ++k)
    if (at[k] < 0) throw std::runtime_error("line 1: the header has no column '" + columns[k] + "'");

  std::vector<ImportedMember> out;
  std::unordered_set<std::string> seen;
  while (true) {
    ++line;
    const std::size_t this_line = line;
    if (!read_record(text, pos, fields, line)) break;
    if (fields.size() == 1 && fields[0].empty()) continue;  // a blank line
    const auto where = "line " + std::to_string(this_line) + ": ";
    const std::size_t given = static_cast<std::size_t>(std::count_if(at.begin(), at.end(), [](int i) { return i >= 0; }));
    if (fields.size() != given)
      throw std::runtime_error(where + "has " + std::to_string(fields.size()) + " fields, the header " +
                               std::to_string(given));
    static const std::string kNone;
    const auto field = [&](std::size_t k) -> const std::string& {
      return at[k] < 0 ? kNone : fields[static_cast<std::size_t>(at[k])];
    };
    ImportedMember m;
    m.id = field(0);
    if (!protocol::limits::is_member_id(m.id)) throw std::runtime_error(where + "id must be 1..63 letters, digits, '-', '_' or '.'");
    m.name = field(1);
    if (m.name.size() > 128) throw std::runtime_error(where + "name must be at most 128 bytes");
    if (!field(2).empty()) {
      const auto phone = till::normalise_code(field(2));
      if (!phone || phone->find_first_not_of("0123456789") != std::string::npos || phone->size() < 5)
        throw std::runtime_error(where + "phone must be 5..64 digits (spaces, dashes and +86 are ignored)");
      m.phone = *phone;
    }
    if (!field(3).empty()) {
      const auto card = till::normalise_code(field(3));
      if (!card) throw std::runtime_error(where + "card must be 1..64 letters and digits (spaces and dashes ignored)");
      m.card = *card;
    }
    if (m.phone.empty() && m.card.empty()) throw std::runtime_error(where + "a member needs a phone or a card");
    if (!field(4).empty()) {
      m.birthday = engine::parse_month_day(field(4));
      if (!m.birthday) throw std::runtime_error(where + "birthday must be MM-DD");
    }
    m.tier = field(5);
    if (std::find(tier_ids.begin(), tier_ids.end(), m.tier) == tier_ids.end())
      throw std::runtime_error(where + "tier '" + m.tier + "' is not a tier of the published rules");
    const std::string& points = field(6);
    const auto [end, ec] = std::from_chars(points.data(), points.data() + points.size(), m.points);
    if (points.empty() || ec != std::errc() || end != points.data() + points.size() || m.points < -protocol::limits::kMaxPoints ||
        m.points > protocol::limits::kMaxPoints)
      throw std::runtime_error(where + "points must be a whole number");
    // Purchases before the import: a count, and when the last was. Empty (or no column): not known,
    // and the member is taken as never having bought (RULES.md: the first-purchase offer applies).
    if (const std::string& p = field(7); !p.empty()) {
      std::int64_t n = 0;
      const auto [pend, pec] = std::from_chars(p.data(), p.data() + p.size(), n);
      if (pec != std::errc() || pend != p.data() + p.size() || n < 0 || n > 1'000'000'000)
        throw std::runtime_error(where + "purchases must be a whole number within 0..1000000000");
      m.purchases = n;
    }
    if (const std::string& l = field(8); !l.empty()) {
      const auto when = engine::parse_instant(l);
      if (!when) throw std::runtime_error(where + "last_purchase_at must be ISO-8601 with an offset, like 2026-04-20T18:30:00+08:00");
      m.last_purchase_at = *when;
      if (!m.purchases) m.purchases = 1;  // a last purchase is at least one
    }
    if (m.purchases && *m.purchases > 0 && !m.last_purchase_at)
      throw std::runtime_error(where + "purchases above 0 needs last_purchase_at (win-back offers are judged by it)");
    if (!seen.insert(m.id).second) throw std::runtime_error(where + "member " + m.id + " is in the file twice");
    out.push_back(std::move(m));
  }
  return out;
}

std::string certificate_fingerprint(X509* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (X509_digest(cert, EVP_sha256(), md, &n) != 1) return {};
  static const char* const digits = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < n; ++i) (out += digits[md[i] >> 4]) += digits[md[i] & 15];
  return out;
}

std::string certificate_fingerprint(const std::string& pem_file) {
  BIO* bio = BIO_new_file(pem_file.c_str(), "r");
  if (!bio) throw std::runtime_error("cannot read " + pem_file);
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (!cert) {
    ERR_clear_error();
    throw std::runtime_error(pem_file + " holds no certificate (PEM)");
  }
  const std::string out = certificate_fingerprint(cert);
  X509_free(cert);
  if (out.empty()) throw std::runtime_error("cannot take the fingerprint of " + pem_file);
  return out;
}

std::string normal_fingerprint(const std::string& text) {
  std::string out;
  for (const char c : text) {
    if (c == ':') continue;
    if (c >= '0' && c <= '9') out += c;
    else if (c >= 'a' && c <= 'f') out += c;
    else if (c >= 'A' && c <= 'F') out += static_cast<char>(c - 'A' + 'a');
    else return {};
  }
  return out.size() == 64 ? out : std::string();
}

}  // namespace loyalty::hq
