#include "loyalty/store/packed_body.hpp"

#include <lz4.h>

#include <algorithm>
#include <cstdint>
#include <memory>

#include "loyalty/protocol/limits.hpp"
#include "loyalty/store/database.hpp"

namespace loyalty::store {
namespace {

constexpr std::size_t kHeader = 4;  // the text's length, little endian

// A compressor's state is 16 KB that LZ4_compress_default clears at every call; a stream of each
// thread's own, reset at each body, starts an independent block without that.
struct StreamFree {
  void operator()(LZ4_stream_t* s) const { LZ4_freeStream(s); }
};

}  // namespace

std::optional<std::string> pack_body(std::string_view text) {
  if (text.size() > protocol::limits::kTxnBytes) return std::nullopt;  // beyond what unpack_body accepts
  const int n = static_cast<int>(text.size());
  std::string out(kHeader + static_cast<std::size_t>(LZ4_compressBound(n)), '\0');
  for (std::size_t i = 0; i < kHeader; ++i) out[i] = static_cast<char>((text.size() >> (8 * i)) & 0xFF);
  thread_local const std::unique_ptr<LZ4_stream_t, StreamFree> stream(LZ4_createStream());
  if (!stream) return std::nullopt;  // out of memory: kept as text
  LZ4_resetStream_fast(stream.get());
  const int packed =
      LZ4_compress_fast_continue(stream.get(), text.data(), out.data() + kHeader, n, static_cast<int>(out.size() - kHeader), 1);
  if (packed <= 0 || kHeader + static_cast<std::size_t>(packed) >= text.size()) return std::nullopt;
  out.resize(kHeader + static_cast<std::size_t>(packed));
  return out;
}

std::string unpack_body(std::string_view packed) {
  if (packed.size() <= kHeader) throw StorageError("a packed outbox body is damaged: it is too short");
  std::uint32_t size = 0;
  for (std::size_t i = 0; i < kHeader; ++i) size |= std::uint32_t{static_cast<unsigned char>(packed[i])} << (8 * i);
  // An LZ4 block expands at most 255 times; a transaction is at most kTxnBytes. A size beyond either
  // is damage, refused before anything is allocated for it.
  const std::uint64_t most = std::min<std::uint64_t>(std::uint64_t{packed.size() - kHeader} * 255, protocol::limits::kTxnBytes);
  if (size > most)
    throw StorageError("a packed outbox body is damaged: it names a size of " + std::to_string(size) + " bytes");
  std::string out(size, '\0');
  const int n = LZ4_decompress_safe(packed.data() + kHeader, out.data(), static_cast<int>(packed.size() - kHeader),
                                    static_cast<int>(size));
  if (n < 0 || static_cast<std::uint32_t>(n) != size) throw StorageError("a packed outbox body is damaged: it does not unpack");
  return out;
}

}  // namespace loyalty::store
