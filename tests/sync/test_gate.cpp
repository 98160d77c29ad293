// Who headquarters lets in, in process: the stores registry's rule, and each store's token bucket.
#include "gate.hpp"

#include <catch2/catch.hpp>

namespace {

using namespace loyalty::hq;

RegistryRow row(const std::string& store, const std::string& fp, bool revoked = false) {
  return RegistryRow{store, fp, 1, revoked ? std::optional<std::int64_t>(2) : std::nullopt};
}

std::optional<std::string> refused(const std::vector<RegistryRow>& rows, const std::string& fp) {
  const auto r = registry_refusal(rows, true, "S1", fp);
  if (!r) return std::nullopt;
  return r->code;
}

TEST_CASE("the registry's rule for a store and a certificate", "[gate]") {
  // Not in force: anyone of the chain's CA.
  CHECK_FALSE(registry_refusal({}, false, "S1", "aa"));
  CHECK(refused({}, "aa") == std::optional<std::string>("store_not_registered"));
  CHECK_FALSE(refused({row("S1", "")}, "aa"));
  CHECK(refused({row("S1", "", true)}, "aa") == std::optional<std::string>("store_revoked"));
  // A certificate revoked, the store not: the others get in.
  CHECK(refused({row("S1", ""), row("S1", "aa", true)}, "aa") == std::optional<std::string>("certificate_revoked"));
  CHECK_FALSE(refused({row("S1", ""), row("S1", "aa", true)}, "bb"));
  // Pinned: only those.
  CHECK_FALSE(refused({row("S1", ""), row("S1", "bb")}, "bb"));
  CHECK(refused({row("S1", ""), row("S1", "bb")}, "cc") == std::optional<std::string>("certificate_not_registered"));
  // A pinned certificate of a revoked store is refused with it.
  CHECK(refused({row("S1", "", true), row("S1", "bb")}, "bb") == std::optional<std::string>("store_revoked"));
}

TEST_CASE("a store's bucket: the burst at once, then its rate; refused until a whole sync fits", "[gate]") {
  RateLimit limit(2, 5);
  const auto t0 = std::chrono::steady_clock::time_point{} + std::chrono::hours(1);
  for (int i = 0; i < 5; ++i) CHECK(limit.take("S1", t0) == 0);
  // Empty: back when four requests fit, at two a second.
  CHECK(limit.take("S1", t0) == 2);
  CHECK(limit.take("S2", t0) == 0);  // another store has its own
  CHECK(limit.take("S1", t0 + std::chrono::milliseconds(500)) == 0);  // one more token
  CHECK(limit.take("S1", t0 + std::chrono::milliseconds(500)) == 2);
  // It never holds more than the burst.
  for (int i = 0; i < 5; ++i) CHECK(limit.take("S1", t0 + std::chrono::hours(1)) == 0);
  CHECK(limit.take("S1", t0 + std::chrono::hours(1)) > 0);
  // A burst below a sync: back when the burst is full again.
  RateLimit small(1, 2);
  CHECK(small.take("S1", t0) == 0);
  CHECK(small.take("S1", t0) == 0);
  CHECK(small.take("S1", t0) == 2);
}

}  // namespace

namespace {

TEST_CASE("the gate goes on with its copy of the registry when reading it again fails", "[gate]") {
  int reads = 0;
  StoreGate gate(
      [&] {
        if (++reads > 1) throw std::runtime_error("the database is down");
        return std::vector<RegistryRow>{RegistryRow{"S1", "", 1, std::nullopt}};
      },
      1000, 1000, std::chrono::milliseconds(0));
  CHECK_FALSE(gate.check("S1", "aa", true));
  CHECK(gate.check("S2", "aa", true)->code == "store_not_registered");
  CHECK(reads >= 2);  // read again, failed, and the copy still decided
  // With no copy yet, a failed read is the request's failure.
  StoreGate empty([]() -> std::vector<RegistryRow> { throw std::runtime_error("down"); }, 1, 1);
  CHECK_THROWS(empty.check("S1", "aa", true));
}

}  // namespace
