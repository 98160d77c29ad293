// One till used from 4 threads at once: lookups and commits interleave, nothing is lost or doubled.
// The test-tsan workflow runs it under ThreadSanitizer.
#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "support.hpp"

using namespace loyalty;
using nlohmann::json;

TEST_CASE("4 threads looking up and committing at once", "[till]") {
  test::TempDir dir;
  test::TestTill till(test::write_config(dir.path()));
  const std::string rules = test::demo_rules();
  REQUIRE(loy_till_apply_rules(till, rules.data(), rules.size()) == LOY_OK);
  const std::string doc = test::changes(json::array({test::member_record("M-1", 1, "silver", 0, {"13800138000"})}), 1);
  REQUIRE(loy_till_apply_changes(till, doc.data(), doc.size()) == LOY_OK);

  constexpr int kThreads = 4, kSales = 60;
  std::atomic<int> failures{0};
  std::atomic<std::int64_t> points{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kSales; ++i) {
        auto m = test::member_info();
        if (loy_till_lookup(till, "13800138000", &m) != LOY_OK) ++failures;
        loy_checkout* c = nullptr;
        if (loy_checkout_begin(till, &c) != LOY_OK) {
          ++failures;
          continue;
        }
        const loy_line l = test::sale_line("1", "apparel", 10000);
        loy_quote q{};
        q.struct_size = sizeof q;
        const std::string receipt = "T" + std::to_string(t) + "-" + std::to_string(i);
        if (loy_checkout_identify(c, "13800138000", nullptr) != LOY_OK || loy_checkout_add_line(c, &l) != LOY_OK ||
            loy_checkout_commit(c, receipt.c_str(), &q) != LOY_OK || q.replayed != 0)
          ++failures;
        points += q.points_earned;
        loy_checkout_free(c);
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failures == 0);
  loy_till_status st{};
  st.struct_size = sizeof st;
  REQUIRE(loy_till_status_get(till, &st) == LOY_OK);
  CHECK(st.outbox_depth == kThreads * kSales);
  auto m = test::member_info();
  REQUIRE(loy_till_lookup(till, "13800138000", &m) == LOY_OK);
  CHECK(m.pending_points == points.load());
}
