// Headquarters' daily tier pass over a chain's members, run as `loyalty-hq tiers` runs it, against a
// bare read of every member's window spend from the same database in the same run.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "bench_till.hpp"

namespace loyalty::bench {

// `members` members (1,000,000 by default) with three sales each over the last 400 days.
// With `postgres` (a server's URL, no database), on a fresh database of that server.
std::vector<Figure> ledger_figures(const std::filesystem::path& dir, int members, const std::string& postgres = "");

}  // namespace loyalty::bench
