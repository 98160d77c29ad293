#include <catch2/catch.hpp>

#include "loyalty/engine/prompts.hpp"
#include "support.hpp"

using namespace loyalty;
using engine::PromptCode;
using test::at;

namespace {

std::vector<engine::Prompt> prompts_for(const engine::Member& m, const char* now,
                                        std::optional<engine::Instant> last_sync, std::int64_t pending = 0) {
  engine::PromptContext ctx;
  ctx.now = at(now);
  ctx.last_sync_at = last_sync;
  ctx.pending_points = pending;
  auto r = engine::prompts(test::demo_rules(), m, ctx);
  REQUIRE(r.ok());
  return *r;
}

std::vector<PromptCode> codes(const std::vector<engine::Prompt>& ps) {
  std::vector<PromptCode> out;
  for (const auto& p : ps) out.push_back(p.code);
  return out;
}

const auto kSynced = at("2026-07-10T11:55:00+08:00");

}  // namespace

TEST_CASE("a member with nothing to say gets no prompts", "[prompts]") {
  auto m = test::member("gold", 4, 100);
  m.last_purchase_at = at("2026-07-01T10:00:00+08:00");
  CHECK(prompts_for(m, "2026-07-10T12:00:00+08:00", kSynced).empty());
}

TEST_CASE("birthday, first purchase and the figures of each prompt", "[prompts]") {
  auto m = test::member("silver", 0, 0);
  m.birthday = engine::MonthDay{7, 30};
  const auto ps = prompts_for(m, "2026-07-10T12:00:00+08:00", kSynced);
  REQUIRE(codes(ps) == std::vector<PromptCode>{PromptCode::birthday_window, PromptCode::first_purchase});
  CHECK(ps[1].rate_bp == 2000);
  CHECK(engine::prompts_to_json(ps) == R"([{"code":"BIRTHDAY_WINDOW"},{"code":"FIRST_PURCHASE","rate_bp":2000}])");
}

TEST_CASE("win-back is prompted with days dormant, only when it beats the tier", "[prompts]") {
  auto m = test::member("silver", 3, 0);
  m.last_purchase_at = at("2026-01-01T12:00:00+08:00");
  auto ps = prompts_for(m, "2026-07-10T12:00:00+08:00", kSynced);
  REQUIRE(codes(ps) == std::vector<PromptCode>{PromptCode::winback});
  CHECK(ps[0].days == 190);
  CHECK(ps[0].rate_bp == 3000);
  engine::RuleSet rules = test::demo_rules();
  rules.tiers[0].discount_bp = 3000;  // a tie with the 180-day bucket: the tier wins
  engine::PromptContext ctx{at("2026-07-10T12:00:00+08:00"), 0, kSynced};
  auto r = engine::prompts(rules, m, ctx);
  REQUIRE(r.ok());
  CHECK(r->empty());
}

TEST_CASE("points expiring within 30 days, the next tier and a negative balance", "[prompts]") {
  auto m = test::member("gold", 3, 100);
  m.last_purchase_at = at("2026-07-01T10:00:00+08:00");
  m.next_expiry = engine::PointsExpiry{80, at("2026-08-09T12:00:00+08:00")};  // exactly 30 days ahead
  m.next_tier = engine::NextTier{"black", 250'000};
  const auto ps = prompts_for(m, "2026-07-10T12:00:00+08:00", kSynced, -300);
  REQUIRE(codes(ps) == std::vector<PromptCode>{PromptCode::points_expiring, PromptCode::next_tier,
                                               PromptCode::negative_balance});
  CHECK(ps[0].points == 80);
  CHECK(ps[1].tier == "black");
  CHECK(ps[1].spend_minor == 250'000);
  CHECK(ps[2].points == -200);
  m.next_expiry->at = at("2026-08-09T12:00:01+08:00");  // a second beyond 30 days
  CHECK(prompts_for(m, "2026-07-10T12:00:00+08:00", kSynced).size() == 1);
}

TEST_CASE("offline after offline_after_minutes without a sync, or never synced", "[prompts]") {
  auto m = test::member("gold", 3, 100);
  m.last_purchase_at = at("2026-07-01T10:00:00+08:00");
  CHECK(prompts_for(m, "2026-07-10T12:10:00+08:00", kSynced).empty());  // 15 minutes exactly
  const auto ps = prompts_for(m, "2026-07-10T12:10:01+08:00", kSynced);
  REQUIRE(codes(ps) == std::vector<PromptCode>{PromptCode::offline});
  CHECK(ps[0].minutes == 15);
  const auto never = prompts_for(m, "2026-07-10T12:10:01+08:00", std::nullopt);
  REQUIRE(codes(never) == std::vector<PromptCode>{PromptCode::offline});
  CHECK_FALSE(never[0].minutes.has_value());
}

TEST_CASE("prompts for an unknown tier are an error", "[prompts]") {
  auto m = test::member("platinum");
  engine::PromptContext ctx{at("2026-07-10T12:00:00+08:00"), 0, kSynced};
  CHECK_FALSE(engine::prompts(test::demo_rules(), m, ctx).ok());
}
