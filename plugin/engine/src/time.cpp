#include "loyalty/engine/time.hpp"

#include <chrono>
#include <cstdio>

namespace loyalty::engine {
namespace {

constexpr std::int64_t kMicrosPerSecond = 1'000'000;
constexpr std::int64_t kMicrosPerDay = 86'400 * kMicrosPerSecond;
constexpr std::int32_t kMaxOffsetMinutes = 18 * 60;

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  out = v;
  return true;
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999999Z (the offset moves a local 0001-01-01 or
// 9999-12-31 up to 18 hours outside; that stays well inside int64 microseconds).
constexpr std::int64_t kMinMicros = -62'135'596'800LL * kMicrosPerSecond - 18LL * 3600 * kMicrosPerSecond;
constexpr std::int64_t kMaxMicros = 253'402'300'800LL * kMicrosPerSecond + 18LL * 3600 * kMicrosPerSecond;

}  // namespace

bool valid_instant(const Instant& t) noexcept {
  return t.utc_micros >= kMinMicros && t.utc_micros < kMaxMicros && t.offset_minutes >= -kMaxOffsetMinutes &&
         t.offset_minutes <= kMaxOffsetMinutes;
}

std::optional<std::int32_t> parse_utc_offset(std::string_view s) {
  if (s == "Z") return 0;
  int h = 0, m = 0;
  if (s.size() != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':' || !digits(s, 1, 2, h) ||
      !digits(s, 4, 2, m) || m > 59)
    return std::nullopt;
  const std::int32_t minutes = h * 60 + m;
  if (minutes > kMaxOffsetMinutes) return std::nullopt;
  return s[0] == '-' ? -minutes : minutes;
}

std::optional<Instant> parse_instant(std::string_view s) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, se = 0;
  if (s.size() < 20 || !digits(s, 0, 4, y) || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
      !digits(s, 8, 2, d) || s[10] != 'T' || !digits(s, 11, 2, h) || s[13] != ':' ||
      !digits(s, 14, 2, mi) || s[16] != ':' || !digits(s, 17, 2, se))
    return std::nullopt;
  if (y < 1 || h > 23 || mi > 59 || se > 59) return std::nullopt;
  const std::chrono::year_month_day ymd{std::chrono::year{y},
                                        std::chrono::month{static_cast<unsigned>(mo)},
                                        std::chrono::day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::nullopt;
  std::size_t pos = 19;
  std::int64_t micros = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::size_t n = 0;
    std::int64_t scale = 100'000;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (n < 6) {
        micros += (s[pos] - '0') * scale;
        scale /= 10;
      }
      ++pos;
      ++n;
    }
    if (n == 0 || n > 9) return std::nullopt;
  }
  const auto offset = parse_utc_offset(s.substr(pos));
  if (!offset) return std::nullopt;
  const std::int64_t days = std::chrono::sys_days{ymd}.time_since_epoch().count();
  const std::int64_t local_seconds = days * 86'400 + h * 3'600 + mi * 60 + se;
  return Instant{(local_seconds - std::int64_t{*offset} * 60) * kMicrosPerSecond + micros, *offset};
}

LocalDate date_in_offset(const Instant& t, std::int32_t offset_minutes) {
  const std::int64_t local = t.utc_micros + std::int64_t{offset_minutes} * 60 * kMicrosPerSecond;
  const std::chrono::sys_days day{std::chrono::days{floor_div(local, kMicrosPerDay)}};
  const std::chrono::year_month_day ymd{day};
  return LocalDate{static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                   static_cast<unsigned>(ymd.day())};
}

std::string format_instant(const Instant& t) {
  const std::int64_t local = t.utc_micros + std::int64_t{t.offset_minutes} * 60 * kMicrosPerSecond;
  const LocalDate d = date_in_offset(t, t.offset_minutes);
  const std::int64_t in_day = local - floor_div(local, kMicrosPerDay) * kMicrosPerDay;
  const std::int64_t secs = in_day / kMicrosPerSecond;
  const std::int64_t frac = in_day % kMicrosPerSecond;
  const int off = t.offset_minutes < 0 ? -t.offset_minutes : t.offset_minutes;
  if (d.year < 0 || d.year > 9999 || off >= 100 * 60) {  // beyond the digits below: as printf writes them
    char buf[80];
    int n = std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d", d.year, d.month, d.day,
                          static_cast<int>(secs / 3600), static_cast<int>(secs / 60 % 60), static_cast<int>(secs % 60));
    if (frac != 0) n += std::snprintf(buf + n, sizeof buf - static_cast<std::size_t>(n), ".%06lld", static_cast<long long>(frac));
    if (t.offset_minutes == 0) std::snprintf(buf + n, sizeof buf - static_cast<std::size_t>(n), "Z");
    else std::snprintf(buf + n, sizeof buf - static_cast<std::size_t>(n), "%c%02d:%02d", t.offset_minutes < 0 ? '-' : '+', off / 60, off % 60);
    return buf;
  }
  // YYYY-MM-DDTHH:MM:SS[.ffffff](Z|+HH:MM), digit by digit (an instant is written for every sale).
  char buf[32];
  char* p = buf;
  const auto digits = [&p](std::int64_t v, int n) {
    for (int i = n - 1; i >= 0; --i, v /= 10) p[i] = static_cast<char>('0' + v % 10);
    p += n;
  };
  digits(d.year, 4);
  *p++ = '-';
  digits(d.month, 2);
  *p++ = '-';
  digits(d.day, 2);
  *p++ = 'T';
  digits(secs / 3600, 2);
  *p++ = ':';
  digits(secs / 60 % 60, 2);
  *p++ = ':';
  digits(secs % 60, 2);
  if (frac != 0) {
    *p++ = '.';
    digits(frac, 6);
  }
  if (t.offset_minutes == 0) {
    *p++ = 'Z';
  } else {
    *p++ = t.offset_minutes < 0 ? '-' : '+';
    digits(off / 60, 2);
    *p++ = ':';
    digits(off % 60, 2);
  }
  return std::string(buf, p);
}

std::optional<MonthDay> parse_month_day(std::string_view s) {
  int m = 0, d = 0;
  if (s.size() != 5 || !digits(s, 0, 2, m) || s[2] != '-' || !digits(s, 3, 2, d)) return std::nullopt;
  // 2000 is a leap year, so 02-29 is a valid birthday.
  const std::chrono::year_month_day ymd{std::chrono::year{2000},
                                        std::chrono::month{static_cast<unsigned>(m)},
                                        std::chrono::day{static_cast<unsigned>(d)}};
  if (!ymd.ok()) return std::nullopt;
  return MonthDay{static_cast<unsigned>(m), static_cast<unsigned>(d)};
}

std::int64_t whole_days_between(const Instant& from, const Instant& to) {
  return floor_div(to.utc_micros - from.utc_micros, kMicrosPerDay);
}

std::int64_t whole_minutes_between(const Instant& from, const Instant& to) {
  return floor_div(to.utc_micros - from.utc_micros, 60 * kMicrosPerSecond);
}

}  // namespace loyalty::engine
