// The till library's figures, each against this machine's raw limit measured in the same run.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace loyalty::bench {

struct Figure {
  std::string name;
  double value = 0;
  std::string unit;
  std::string baseline;  // empty: a plain figure with nothing to compare with
  double baseline_value = 0;
};

// Builds (or reuses) a 1,000,000-member till cache under `dir` and measures lookups, commits and
// quotes through the C header. `quick` takes fewer samples, never fewer members.
std::vector<Figure> till_figures(const std::filesystem::path& dir, bool quick);

}  // namespace loyalty::bench
