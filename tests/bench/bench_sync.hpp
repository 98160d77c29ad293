// The sync's figures: a till's queued sales to a real loyalty-hq over mutual TLS on 127.0.0.1,
// against a bare batched SQLite insert of the same rows measured in the same run.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "bench_till.hpp"

namespace loyalty::bench {

// `sales` queued sales (100,000 by default) synced in batches of 500; headquarters' peak RSS; commit
// latency while a sync runs against idle. With `postgres` (a server's URL, no database), headquarters
// keeps its ledger there, and the bare limit is a batched INSERT ... ON CONFLICT DO NOTHING into it.
std::vector<Figure> sync_figures(const std::filesystem::path& dir, int sales, const std::string& postgres = "");

}  // namespace loyalty::bench
