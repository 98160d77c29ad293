// Member codes as the till sees them: scanned text normalised, then hashed with the chain's key, so
// that card and phone numbers are never stored or compared in clear.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "loyalty/protocol/changes.hpp"

struct evp_mac_st;
struct evp_mac_ctx_st;

namespace loyalty::till {

inline constexpr std::size_t kMaxScannedBytes = 256;
inline constexpr std::size_t kMaxCodeChars = 64;

// Normalises scanned or typed text: spaces and dashes dropped, a leading +86 dropped, letters upper
// case. nullopt unless what is left is 1..64 digits and letters.
std::optional<std::string> normalise_code(std::string_view scanned);

// HMAC-SHA256 of a normalised code under the chain's key.
protocol::CodeHash hash_code(std::span<const std::uint8_t> key, std::string_view normalised);

// The same HMAC, keyed once: OpenSSL's HMAC with its key schedule kept, copied for each code (a
// fraction of the one-shot HMAC's cost, which fetches and keys the algorithm every time).
// Thread-safe.
class CodeHasher {
 public:
  explicit CodeHasher(std::span<const std::uint8_t> key);
  ~CodeHasher();
  CodeHasher(const CodeHasher&) = delete;
  CodeHasher& operator=(const CodeHasher&) = delete;
  // Thread-safe. One call at a time reuses a context that holds the key (no allocation); calls that
  // meet it busy work on a copy of the keyed one.
  protocol::CodeHash operator()(std::string_view normalised) const;

 private:
  evp_mac_st* mac_ = nullptr;
  evp_mac_ctx_st* keyed_ = nullptr;
  evp_mac_ctx_st* work_ = nullptr;
  mutable std::mutex work_mu_;
};

// The name as a cashier may see it: the first character of each word, the rest as one '*' per
// character ("Wang Fang" -> "W*** F***", "王芳" -> "王*").
std::string mask_name(std::string_view name);

}  // namespace loyalty::till
