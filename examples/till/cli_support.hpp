// What the reference till's commands share: reading input files, and money and rows as a person reads
// them on a receipt.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace loyalty::till_cli {

// Invalid input, a failed call: the command says why in one line and exits 2.
class CliError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A file's text, at most 16 MiB; CliError when it cannot be read.
std::string read_file(const std::string& path);

// Minor units in currency units ("CNY 284.05"), exact when minor_per_unit is a power of ten; other
// currencies are shown in minor units.
std::string format_money(std::string_view currency, std::int64_t minor_per_unit, std::int64_t minor);

// One receipt row: `left` and `right` on a 48-column line.
std::string row(const std::string& left, const std::string& right);

}  // namespace loyalty::till_cli
