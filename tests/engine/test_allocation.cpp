#include <catch2/catch.hpp>
#include <numeric>
#include <vector>

#include "loyalty/engine/money.hpp"

using loyalty::engine::allocate;
using loyalty::engine::Minor;
using loyalty::engine::round_half_up;
using loyalty::engine::Wide;

namespace {
std::vector<Minor> alloc(Minor total, std::vector<Wide> weights) {
  std::vector<Minor> out(weights.size(), -1);
  allocate(total, weights, out);
  return out;
}
}  // namespace

TEST_CASE("round half up rounds exactly half a minor unit up and less than half down", "[money]") {
  CHECK(round_half_up(5, 10) == 1);     // 0.5
  CHECK(round_half_up(4, 10) == 0);     // 0.4
  CHECK(round_half_up(15, 10) == 2);    // 1.5
  CHECK(round_half_up(149, 100) == 1);  // 1.49
  CHECK(round_half_up(0, 7) == 0);
}

TEST_CASE("allocation gives the missing units to the largest remainders", "[money]") {
  // 4359 over 15800 and 5997 (scenario 02): floors 3159 + 1199, the first has the larger remainder.
  CHECK(alloc(4359, {15800, 5997}) == std::vector<Minor>{3160, 1199});
}

TEST_CASE("allocation breaks equal remainders in favour of the earlier line", "[money]") {
  CHECK(alloc(1, {1, 1, 1}) == std::vector<Minor>{1, 0, 0});
  CHECK(alloc(2, {1, 1, 1}) == std::vector<Minor>{1, 1, 0});
  CHECK(alloc(5, {3, 3}) == std::vector<Minor>{3, 2});
}

TEST_CASE("allocation skips zero weights and always sums to the total", "[money]") {
  CHECK(alloc(100, {0, 1, 0, 3}) == std::vector<Minor>{0, 25, 0, 75});
  CHECK(alloc(7, {0, 0, 5}) == std::vector<Minor>{0, 0, 7});
  const auto big = alloc(999'999'999'999'999, {1'000'000'000'000, 3, 999'999'999'999});
  CHECK(std::accumulate(big.begin(), big.end(), Minor{0}) == 999'999'999'999'999);
}

TEST_CASE("allocating nothing, or over no weight, gives zeros", "[money]") {
  CHECK(alloc(0, {4, 5}) == std::vector<Minor>{0, 0});
  CHECK(alloc(0, {0, 0}) == std::vector<Minor>{0, 0});
}

TEST_CASE("allocation refuses what it cannot do exactly, leaving zeros", "[money]") {
  std::vector<Minor> out(3, 9);
  CHECK_FALSE(allocate(1, std::vector<Wide>{-1, -1, 4}, out));
  CHECK(out == std::vector<Minor>{0, 0, 0});
  CHECK_FALSE(allocate(-5, std::vector<Wide>{1, 1, 1}, out));
  CHECK_FALSE(allocate(5, std::vector<Wide>{0, 0, 0}, out));
  CHECK_FALSE(allocate(5, std::vector<Wide>{1, 1}, out));
  CHECK_FALSE(allocate(INT64_MAX, std::vector<Wide>{loyalty::engine::kMaxWeight, 1, 1}, out));
}
