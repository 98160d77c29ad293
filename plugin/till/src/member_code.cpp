#include "loyalty/till/member_code.hpp"

#include "loyalty/protocol/limits.hpp"

#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <stdexcept>
#include <vector>

namespace loyalty::till {

std::optional<std::string> normalise_code(std::string_view s) {
  if (s.size() > kMaxScannedBytes) return std::nullopt;
  std::string out;
  for (char c : s) {
    if (c == ' ' || c == '-' || c == '\t') continue;
    out.push_back(c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c);
  }
  if (out.rfind("+86", 0) == 0) out.erase(0, 3);
  if (out.empty() || out.size() > kMaxCodeChars) return std::nullopt;
  for (char c : out)
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'))) return std::nullopt;
  return out;
}

protocol::CodeHash hash_code(std::span<const std::uint8_t> key, std::string_view normalised) {
  protocol::CodeHash out{};
  unsigned int len = 0;
  if (!HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
            reinterpret_cast<const unsigned char*>(normalised.data()), normalised.size(), out.data(), &len) ||
      len != out.size())
    throw std::runtime_error("HMAC-SHA256 failed");
  return out;
}

CodeHasher::CodeHasher(std::span<const std::uint8_t> key) {
  mac_ = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  keyed_ = mac_ ? EVP_MAC_CTX_new(mac_) : nullptr;
  char digest[] = "SHA256";
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
  if (!keyed_ || EVP_MAC_init(keyed_, key.data(), key.size(), params) != 1 || !(work_ = EVP_MAC_CTX_dup(keyed_))) {
    EVP_MAC_CTX_free(keyed_);
    EVP_MAC_free(mac_);
    throw std::runtime_error("HMAC-SHA256 is not available");
  }
}

CodeHasher::~CodeHasher() {
  EVP_MAC_CTX_free(work_);
  EVP_MAC_CTX_free(keyed_);
  EVP_MAC_free(mac_);
}

protocol::CodeHash CodeHasher::operator()(std::string_view normalised) const {
  protocol::CodeHash out{};
  std::size_t len = 0;
  // EVP_MAC_init without a key starts a new MAC with the key the context holds.
  std::unique_lock lock(work_mu_, std::try_to_lock);
  EVP_MAC_CTX* c = lock ? work_ : EVP_MAC_CTX_dup(keyed_);
  const bool ok = c && (!lock || EVP_MAC_init(c, nullptr, 0, nullptr) == 1) &&
                  EVP_MAC_update(c, reinterpret_cast<const unsigned char*>(normalised.data()), normalised.size()) == 1 &&
                  EVP_MAC_final(c, out.data(), &len, out.size()) == 1 && len == out.size();
  if (!lock) EVP_MAC_CTX_free(c);
  if (!ok) throw std::runtime_error("HMAC-SHA256 failed");
  return out;
}

std::string mask_name(std::string_view name) {
  // Words as lists of characters (UTF-8 sequences), split at spaces.
  std::vector<std::vector<std::string_view>> words(1);
  for (std::size_t i = 0; i < name.size();) {
    const auto c = static_cast<unsigned char>(name[i]);
    const std::size_t len = std::min<std::size_t>(c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4, name.size() - i);
    const std::string_view ch = name.substr(i, len);
    i += len;
    if (ch == " ") {
      if (!words.back().empty()) words.emplace_back();
    } else {
      words.back().push_back(ch);
    }
  }
  std::string out;
  for (const auto& w : words) {
    if (w.empty()) continue;
    if (!out.empty()) out += ' ';
    // The first character of a longer word; a one-character word would be itself, so it is masked.
    out += w.size() > 1 ? std::string(w.front()) : std::string("*");
    out += std::string(w.size() - 1, '*');
  }
  // What a cashier sees fits the till's buffer (protocol/limits.hpp), cut at a character's start.
  if (out.size() > protocol::limits::kMaskedName) {
    std::size_t n = protocol::limits::kMaskedName;
    while (n > 0 && (static_cast<unsigned char>(out[n]) & 0xC0) == 0x80) --n;
    out.resize(n);
  }
  return out;
}

}  // namespace loyalty::till
