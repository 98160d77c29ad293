#include <catch2/catch.hpp>
#include <random>

#include "loyalty/engine/time.hpp"

using namespace loyalty::engine;

TEST_CASE("timestamps parse with their offset and compare as instants", "[time]") {
  const auto a = parse_instant("2026-05-03T10:00:00+08:00");
  const auto b = parse_instant("2026-05-03T02:00:00Z");
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a->utc_micros == b->utc_micros);
  CHECK(a->offset_minutes == 480);
  CHECK(format_instant(*a) == "2026-05-03T10:00:00+08:00");
  CHECK(format_instant(*b) == "2026-05-03T02:00:00Z");
  const auto frac = parse_instant("2026-05-03T10:00:00.250-05:30");
  REQUIRE(frac);
  CHECK(frac->offset_minutes == -330);
  CHECK(format_instant(*frac) == "2026-05-03T10:00:00.250000-05:30");
}

TEST_CASE("malformed timestamps are refused", "[time]") {
  for (const char* bad : {"", "2026-05-03", "2026-05-03T10:00:00", "2026-02-30T10:00:00Z",
                          "2026-05-03T24:00:00Z", "2026-05-03T10:00:60Z", "2026-13-01T00:00:00Z",
                          "2026-05-03 10:00:00Z", "2026-05-03T10:00:00+8:00", "2026-05-03T10:00:00+19:00",
                          "2026-05-03T10:00:00.Z", "0000-01-01T00:00:00Z", "2026-05-03T10:00:00+08:00 ",
                          "2026-05-03T10:00:00.1234567890Z", "２026-05-03T10:00:00Z"}) {
    INFO(bad);
    CHECK_FALSE(parse_instant(bad));
  }
}

TEST_CASE("the local date is read in the instant's own offset", "[time]") {
  // 23:30 on the 31st in UTC-05:00 is already the 1st in UTC.
  const auto t = parse_instant("2026-05-31T23:30:00-05:00");
  REQUIRE(t);
  CHECK(local_date(*t).month == 5);
  CHECK(local_date(*t).day == 31);
  CHECK(date_in_offset(*t, 0).month == 6);
  CHECK(date_in_offset(*t, 0).day == 1);
}

TEST_CASE("whole days are floored, across offsets and before the epoch", "[time]") {
  const auto from = *parse_instant("2026-01-01T00:00:00+08:00");
  CHECK(whole_days_between(from, *parse_instant("2026-01-02T00:00:00+08:00")) == 1);
  CHECK(whole_days_between(from, *parse_instant("2026-01-01T23:59:59+08:00")) == 0);
  CHECK(whole_days_between(from, *parse_instant("2025-12-31T23:59:59+08:00")) == -1);
  CHECK(whole_days_between(*parse_instant("1960-01-01T00:00:00Z"), *parse_instant("1960-01-03T12:00:00Z")) == 2);
}

TEST_CASE("birthdays are MM-DD, with 02-29 allowed", "[time]") {
  CHECK(parse_month_day("02-29"));
  CHECK(parse_month_day("12-31"));
  CHECK_FALSE(parse_month_day("02-30"));
  CHECK_FALSE(parse_month_day("13-01"));
  CHECK_FALSE(parse_month_day("5-17"));
  CHECK_FALSE(parse_month_day("05/17"));
}

TEST_CASE("UTC offsets are +HH:MM, -HH:MM or Z", "[time]") {
  CHECK(parse_utc_offset("+08:00") == 480);
  CHECK(parse_utc_offset("-09:30") == -570);
  CHECK(parse_utc_offset("Z") == 0);
  CHECK_FALSE(parse_utc_offset("+0800"));
  CHECK_FALSE(parse_utc_offset("+08:60"));
  CHECK_FALSE(parse_utc_offset("UTC"));
}

TEST_CASE("any instant from year 1 to 9999 in any offset is written so that it reads back the same", "[time]") {
  std::mt19937_64 rng(42);
  // 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z in microseconds since 1970.
  std::uniform_int_distribution<std::int64_t> micros(-62135596800LL * 1'000'000 + 86'400'000'000LL,
                                                     253402300799LL * 1'000'000 - 86'400'000'000LL);
  std::uniform_int_distribution<int> offset(-14 * 60, 14 * 60);
  for (int i = 0; i < 20000; ++i) {
    Instant t{micros(rng), static_cast<std::int32_t>(offset(rng))};
    if (i % 3 == 0) t.utc_micros -= t.utc_micros % 1'000'000;  // whole seconds: no fraction written
    const std::string text = format_instant(t);
    INFO(text);
    const auto back = parse_instant(text);
    REQUIRE(back);
    CHECK(back->utc_micros == t.utc_micros);
    CHECK(back->offset_minutes == t.offset_minutes);
    CHECK(text.size() == (t.utc_micros % 1'000'000 ? 27u : 20u) + (t.offset_minutes ? 5u : 0u));
  }
}
