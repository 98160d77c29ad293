#include "cli_support.hpp"

#include <fstream>
#include <sstream>

namespace loyalty::till_cli {

std::string read_file(const std::string& path) {
  constexpr std::size_t kMaxFileBytes = 16 * 1024 * 1024;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw CliError(path + ": cannot be read");
  std::ostringstream s;
  s << in.rdbuf();
  std::string text = s.str();
  if (text.size() > kMaxFileBytes) throw CliError(path + ": larger than 16 MiB");
  return text;
}

std::string format_money(std::string_view currency, std::int64_t minor_per_unit, std::int64_t minor) {
  int decimals = 0;
  for (std::int64_t m = minor_per_unit; m > 1; m /= 10, ++decimals)
    if (m % 10 != 0) return std::string(currency) + " " + std::to_string(minor) + " (minor units)";
  const bool negative = minor < 0;
  const unsigned long long magnitude =
      negative ? 0ULL - static_cast<unsigned long long>(minor) : static_cast<unsigned long long>(minor);
  const auto unit = static_cast<unsigned long long>(minor_per_unit > 0 ? minor_per_unit : 1);
  std::string text = std::to_string(magnitude / unit);
  if (decimals > 0) {
    const std::string fraction = std::to_string(magnitude % unit);
    text += "." + std::string(static_cast<std::size_t>(decimals) - fraction.size(), '0') + fraction;
  }
  return std::string(currency) + (negative ? " -" : " ") + text;
}

std::string row(const std::string& left, const std::string& right) {
  constexpr std::size_t kWidth = 48;
  const std::size_t used = left.size() + right.size();
  return left + std::string(used < kWidth ? kWidth - used : 1, ' ') + right + "\n";
}

}  // namespace loyalty::till_cli
