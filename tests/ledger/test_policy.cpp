// The ledger's arithmetic as pure functions (sync/hq/src/policy.hpp), in process: when points expire,
// which tier a spend reaches, what the daily pass does to one member, what a refund takes back.
#include "policy.hpp"

#include <catch2/catch.hpp>
#include <chrono>

namespace {

using namespace loyalty;
using namespace loyalty::hq::detail;

constexpr std::int64_t kHour = 3'600'000'000;

// 2026-03-15T12:00:00Z and the like, as UTC microseconds.
std::int64_t at(int y, unsigned m, unsigned d, int hour = 0) {
  using namespace std::chrono;
  const sys_days date{year{y} / month{m} / day{d}};
  return duration_cast<microseconds>(date.time_since_epoch()).count() + hour * kHour;
}

engine::RuleSet tiers(std::int32_t grace_days = 30) {
  engine::RuleSet r;
  r.utc_offset_minutes = 480;
  r.qualification_grace_days = grace_days;
  r.tiers = {engine::Tier{"silver", "Silver", 0}, engine::Tier{"gold", "Gold", 100'000},
             engine::Tier{"black", "Black", 500'000}};
  return r;
}

TEST_CASE("points expire at the end of the month, months later, in the rules' offset", "[policy]") {
  // Earned 2026-03-15 12:00 UTC (20:00 at +08:00), 24 months: from 2028-04-01 00:00 at +08:00.
  CHECK(expiry_after(at(2026, 3, 15, 12), 24, 480) == at(2028, 4, 1) - 8 * kHour);
  // 2026-03-31 20:00 UTC is already April 1st at +08:00: its month is April.
  CHECK(expiry_after(at(2026, 3, 31, 20), 0, 480) == at(2026, 5, 1) - 8 * kHour);
  CHECK(expiry_after(at(2026, 3, 31, 20), 0, 0) == at(2026, 4, 1));
  // Over a year's end.
  CHECK(expiry_after(at(2026, 11, 2), 1, 0) == at(2027, 1, 1));
  CHECK(day_start(at(2026, 3, 15, 23), 480) == at(2026, 3, 16) - 8 * kHour);
  CHECK(day_start(at(2026, 3, 15, 15), 480) == at(2026, 3, 15) - 8 * kHour);
  CHECK(day_start(at(2026, 3, 15, 1), -300) == at(2026, 3, 14) + 5 * kHour);
}

TEST_CASE("a spend reaches the highest tier whose threshold it meets", "[policy]") {
  const auto r = tiers();
  CHECK(qualified(r, 0) == 0);
  CHECK(qualified(r, 99'999) == 0);
  CHECK(qualified(r, 100'000) == 1);
  CHECK(qualified(r, 10'000'000) == 2);
  CHECK(rank_of(r, "gold") == 1);
  CHECK(rank_of(r, "platinum") == -1);
  CHECK(next_tier(r, "silver", 40'000)->tier == "gold");
  CHECK(next_tier(r, "silver", 40'000)->spend_needed_minor == 60'000);
  CHECK_FALSE(next_tier(r, "black", 0));
  CHECK_FALSE(next_tier(r, "silver", 100'000));  // already reached: the pass will upgrade
  CHECK_FALSE(next_tier(r, "platinum", 0));
}

TEST_CASE("a sale's spend only ever raises a tier or ends a grace period", "[policy]") {
  const auto r = tiers();
  std::string tier = "silver";
  std::optional<std::int64_t> grace;
  CHECK(rise(r, 150'000, tier, grace) == std::optional<std::string_view>("upgrade"));
  CHECK(tier == "gold");
  // Below the tier held: nothing changes (only the daily pass lowers a tier).
  CHECK_FALSE(rise(r, 10, tier, grace));
  CHECK(tier == "gold");
  grace = 12345;
  CHECK(rise(r, 100'000, tier, grace) == std::optional<std::string_view>("requalified"));
  CHECK_FALSE(grace);
  tier = "platinum";  // a tier the rules no longer have
  CHECK(rise(r, 0, tier, grace) == std::optional<std::string_view>("tier_not_in_rules"));
  CHECK(tier == "silver");
}

TEST_CASE("the daily pass gives grace once, then lowers the tier when it has run out", "[policy]") {
  const auto r = tiers(30);
  const std::int64_t now = at(2026, 6, 1, 10);
  // Gold without the spend: grace until 30 days after the start of the pass's day (at +08:00).
  PassStep s = pass_step(r, "gold", std::nullopt, 20'000, now);
  CHECK(s.reason == std::optional<std::string_view>("grace"));
  CHECK(s.tier == "gold");
  CHECK(s.grace_until_us == day_start(now, 480) + 30 * kMicrosPerDay);
  // A pass later the same day or within the grace changes nothing.
  s = pass_step(r, "gold", s.grace_until_us, 20'000, now + 5 * kMicrosPerDay);
  CHECK_FALSE(s.reason);
  CHECK(s.tier == "gold");
  // At the grace's end: down to the tier the spend reaches.
  s = pass_step(r, "gold", s.grace_until_us, 20'000, *s.grace_until_us);
  CHECK(s.reason == std::optional<std::string_view>("downgrade"));
  CHECK(s.tier == "silver");
  CHECK_FALSE(s.grace_until_us);
  // Spending back during the grace requalifies; more upgrades.
  CHECK(pass_step(r, "gold", now, 100'000, now).reason == std::optional<std::string_view>("requalified"));
  CHECK(pass_step(r, "gold", now, 600'000, now).tier == "black");
  // Without grace days the tier is lowered at once, to the tier the spend reaches.
  s = pass_step(tiers(0), "black", std::nullopt, 100'000, now);
  CHECK(s.reason == std::optional<std::string_view>("downgrade"));
  CHECK(s.tier == "gold");
  // The tier the spend reaches, held: nothing.
  CHECK_FALSE(pass_step(r, "gold", std::nullopt, 100'000, now).reason);
}

TEST_CASE("refunds take back headquarters' own figure in the till's proportion, and all of it at the end",
          "[policy]") {
  // Headquarters credited 90 where the till counted 100 (a re-check mismatch).
  SaleFigures sale{10'000, 0, 10'000, 90, 100, 0, 0, 50, 0};
  // Half the sale's points come back: half of 90.
  RefundTerms t = refund_terms(sale, 5'000, 50, 25, false);
  CHECK(t.take == 45);
  CHECK(t.give == 25);
  CHECK(t.spend == 5'000);
  // The rest, ending the sale: everything credited and not yet taken.
  sale.refunded = 5'000;
  sale.till_taken = 50;
  sale.taken = 45;
  sale.given = 25;
  t = refund_terms(sale, 5'000, 50, 25, true);
  CHECK(t.take == 45);
  CHECK(t.give == 25);
  CHECK(t.spend == 0);
  // Never more than is left, never more given back than redeemed.
  sale.taken = 90;
  sale.given = 50;
  t = refund_terms(sale, 1, 100, 100, false);
  CHECK(t.take == 0);
  CHECK(t.give == 0);
  CHECK(refund_share(90, 0, 10, false) == 0);
  CHECK(refund_share(90, 100, 150, false) == 90);
  // Figures near the engine's limits do not overflow.
  CHECK(refund_share(engine::kMaxPoints, engine::kMaxPoints, engine::kMaxPoints / 2, false) == engine::kMaxPoints / 2);
  CHECK(clamp_total(-5.0) == 0);
  CHECK(clamp_total(1e30) == 1'000'000'000'000'000'000);
  CHECK(clamp_total(12345.0) == 12345);
}

}  // namespace
