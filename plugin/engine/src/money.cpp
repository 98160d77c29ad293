#include "loyalty/engine/money.hpp"

#include <algorithm>
#include <vector>

#include "scratch.hpp"

namespace loyalty::engine {

namespace {
bool fail(std::span<Minor> out) {
  std::fill(out.begin(), out.end(), Minor{0});
  return false;
}
}  // namespace

bool allocate(Minor total, std::span<const Wide> weights, std::span<Minor> out) {
  std::fill(out.begin(), out.end(), Minor{0});
  if (total < 0 || out.size() != weights.size()) return false;
  Wide sum = 0;
  for (Wide w : weights) {
    if (w < 0 || w > kMaxWeight) return false;
    sum += w;
  }
  if (total == 0) return true;
  if (sum == 0) return false;
  // Bases and remainders; the shortfall after flooring is below the number of lines. Most products
  // are of two 64-bit numbers and fit 64 bits, and a 64-bit division is several times cheaper than a
  // 128-bit one.
  Minor given = 0;
  detail::Scratch<Wide> remainder(weights.size());
  const bool narrow_sum = sum <= static_cast<Wide>(UINT64_MAX);
  for (std::size_t i = 0; i < weights.size(); ++i) {
    Wide product = 0;
    if (weights[i] <= static_cast<Wide>(UINT64_MAX)) {
      product = static_cast<Wide>(static_cast<UWide>(static_cast<std::uint64_t>(total)) *
                                  static_cast<std::uint64_t>(weights[i]));
      if (product < 0) return fail(out);
    } else if (__builtin_mul_overflow(Wide{total}, weights[i], &product)) {
      return fail(out);
    }
    if (narrow_sum && product <= static_cast<Wide>(UINT64_MAX)) {
      const auto p = static_cast<std::uint64_t>(product), d = static_cast<std::uint64_t>(sum);
      out[i] = static_cast<Minor>(p / d);
      remainder[i] = p % d;
    } else {
      out[i] = static_cast<Minor>(product / sum);
      remainder[i] = product % sum;
    }
    given += out[i];
  }
  auto missing = static_cast<std::size_t>(total - given);
  if (missing == 0) return true;
  detail::Scratch<std::uint32_t> order(weights.size());
  for (std::size_t i = 0; i < weights.size(); ++i) order[i] = static_cast<std::uint32_t>(i);
  const auto larger = [&](std::uint32_t a, std::uint32_t b) {
    return remainder[a] != remainder[b] ? remainder[a] > remainder[b] : a < b;
  };
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(missing), order.end(), larger);
  for (std::size_t k = 0; k < missing; ++k) ++out[order[k]];
  return true;
}

}  // namespace loyalty::engine
