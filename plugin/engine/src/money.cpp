#include "loyalty/engine/money.hpp"

#include <algorithm>
#include <vector>

namespace loyalty::engine {

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
  // Bases and remainders; the shortfall after flooring is below the number of lines.
  Minor given = 0;
  std::vector<Wide> remainder(weights.size());
  for (std::size_t i = 0; i < weights.size(); ++i) {
    Wide product = 0;
    if (__builtin_mul_overflow(Wide{total}, weights[i], &product)) {
      std::fill(out.begin(), out.end(), Minor{0});
      return false;
    }
    out[i] = static_cast<Minor>(product / sum);
    remainder[i] = product % sum;
    given += out[i];
  }
  auto missing = static_cast<std::size_t>(total - given);
  if (missing == 0) return true;
  std::vector<std::uint32_t> order(weights.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::uint32_t>(i);
  const auto larger = [&](std::uint32_t a, std::uint32_t b) {
    return remainder[a] != remainder[b] ? remainder[a] > remainder[b] : a < b;
  };
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(missing), order.end(),
                    larger);
  for (std::size_t k = 0; k < missing; ++k) ++out[order[k]];
  return true;
}

}  // namespace loyalty::engine
