// Integer money arithmetic: round half up and exact allocation by largest remainder (RULES.md, "Units").
#pragma once

#include <cstdint>
#include <span>

namespace loyalty::engine {

// Minor units of a currency (fen, cents). Never a float.
using Minor = std::int64_t;

// 128-bit intermediate for products of amounts, rates and multipliers.
__extension__ typedef __int128 Wide;

// round_half_up(n / d) for n >= 0 and d > 0: (2n + d) div (2d).
constexpr Wide round_half_up(Wide n, Wide d) { return (2 * n + d) / (2 * d); }

// Allocates `total` (>= 0) over lines in proportion to `weights` (each >= 0), writing one share per
// weight into `out` (same size). Each line gets floor(total * w / sum w); the units still missing go
// one each to the largest remainders, equal remainders to the earlier line. The shares always add up
// to `total` exactly. When every weight is zero, nothing can be allocated and every share is zero
// (callers only allocate a non-zero total over a non-zero sum).
void allocate(Minor total, std::span<const Wide> weights, std::span<Minor> out);

// True when `v` fits an int64_t.
constexpr bool fits_int64(Wide v) { return v >= INT64_MIN && v <= INT64_MAX; }

}  // namespace loyalty::engine
