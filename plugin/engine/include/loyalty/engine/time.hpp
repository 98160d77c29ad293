// Instants with their UTC offset, and the calendar facts a quote reads from them. No clock: the
// caller passes every time in.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace loyalty::engine {

// A point in time as written in ISO-8601 with an offset: the instant (microseconds since the Unix
// epoch, UTC) and the offset it was written in, which calendar facts are read in.
struct Instant {
  std::int64_t utc_micros = 0;
  std::int32_t offset_minutes = 0;
};

inline bool operator<(const Instant& a, const Instant& b) { return a.utc_micros < b.utc_micros; }
inline bool operator<=(const Instant& a, const Instant& b) { return a.utc_micros <= b.utc_micros; }

struct LocalDate {
  int year = 1970;
  unsigned month = 1;  // 1..12
  unsigned day = 1;    // 1..31
};

struct MonthDay {
  unsigned month = 1;
  unsigned day = 1;
};

// True for an instant in years 0001..9999 (UTC) with an offset within +-18:00: every instant
// parse_instant makes, and the only ones the engine does arithmetic on.
bool valid_instant(const Instant& t) noexcept;

// "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)", years 0001..9999, offsets within +-18:00.
// Fractions beyond microseconds are truncated. Anything else (no offset, 24:00, Feb 30) is nullopt.
std::optional<Instant> parse_instant(std::string_view text);

// The canonical text of an instant in its own offset ("2026-05-03T10:00:00+08:00").
std::string format_instant(const Instant& t);

// "+08:00", "-05:30" or "Z" as minutes east of UTC, within +-18:00.
std::optional<std::int32_t> parse_utc_offset(std::string_view text);

// A birthday, "MM-DD" (02-29 allowed).
std::optional<MonthDay> parse_month_day(std::string_view text);

// The calendar date of `t` read in `offset_minutes`.
LocalDate date_in_offset(const Instant& t, std::int32_t offset_minutes);

// The calendar date of `t` read in its own offset.
inline LocalDate local_date(const Instant& t) { return date_in_offset(t, t.offset_minutes); }

// floor((to - from) / 86400 s): whole days, negative when `to` is before `from`.
std::int64_t whole_days_between(const Instant& from, const Instant& to);

// floor((to - from) / 60 s).
std::int64_t whole_minutes_between(const Instant& from, const Instant& to);

}  // namespace loyalty::engine
