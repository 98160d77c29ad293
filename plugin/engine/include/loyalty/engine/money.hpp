// Integer money arithmetic: round half up and exact allocation by largest remainder (RULES.md, "Units").
#pragma once

#include <cstdint>
#include <span>

namespace loyalty::engine {

// Minor units of a currency (fen, cents). Never a float.
using Minor = std::int64_t;

// 128-bit intermediate for products of amounts, rates and multipliers.
__extension__ typedef __int128 Wide;
__extension__ typedef unsigned __int128 UWide;

// round_half_up(n / d) for n >= 0 and d > 0: (2n + d) div (2d).
constexpr Wide round_half_up(Wide n, Wide d) { return (2 * n + d) / (2 * d); }

// The largest weight allocate() takes: a line's amount (10^15) times a bonus percentage (10^5), so
// that the sum of any number of weights a basket can have stays inside 128 bits.
inline constexpr Wide kMaxWeight = Wide{100'000'000'000'000'000} * 1'000;

// Allocates `total` over lines in proportion to `weights`, writing one share per weight into `out`.
// Each line gets floor(total * w / sum w); the units still missing go one each to the largest
// remainders, equal remainders to the earlier line. The shares always add up to `total` exactly.
// Returns false, with every share zero, for a negative total, a weight outside 0..kMaxWeight, sizes
// that differ, a non-zero total over weights that are all zero, or a total * weight beyond 128 bits.
bool allocate(Minor total, std::span<const Wide> weights, std::span<Minor> out);

// True when `v` fits an int64_t.
constexpr bool fits_int64(Wide v) { return v >= INT64_MIN && v <= INT64_MAX; }

}  // namespace loyalty::engine
