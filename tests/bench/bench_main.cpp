// loyalty-bench: runs the benchmarks, prints a table and writes bench-results.json: a list of
// {name, value, unit, baseline, baseline_value, ratio}, each figure with this machine's raw limit
// measured in the same run.
//   loyalty-bench [--quick] [--out=FILE] [--data=DIR] [--engine-only] [--till-only] [--sync-only] [--sync-sales=N]
//                 [--ledger-only] [--ledger-members=N] [--postgres=URL] [Google Benchmark flags]
// --postgres=URL (a server, no database; tests/bench/pg_bench.sh starts one) runs the sync and ledger
// figures on PostgreSQL instead of SQLite.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "bench_ledger.hpp"
#include "bench_sync.hpp"
#include "bench_till.hpp"

namespace {

using loyalty::bench::Figure;

// Engine benchmarks (Google Benchmark) and their baselines, by function name.
const std::vector<std::pair<std::string, std::string>> kEngineFigures = {
    {"quote_30_lines_coupon_redeem", "baseline_copy_30_line_results"},
    {"quote_1000_lines", "baseline_copy_1000_line_results"},
};

class Collector : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs)
      if (!r.error_occurred && r.run_type == Run::RT_Iteration) ns_[r.run_name.function_name] = r.GetAdjustedRealTime();
    ConsoleReporter::ReportRuns(runs);
  }
  const std::map<std::string, double>& ns() const { return ns_; }

 private:
  std::map<std::string, double> ns_;
};

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) out += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
  return out;
}

// The size of libloyalty once stripped, as it ships.
double stripped_library_bytes() {
  const auto tmp = std::filesystem::temp_directory_path() / "loyalty-bench-libloyalty.so";
  const std::string cmd = std::string("strip -o '") + tmp.string() + "' '" + LOYALTY_LIB_PATH + "'";
  if (std::system(cmd.c_str()) != 0) return -1;
  const auto size = static_cast<double>(std::filesystem::file_size(tmp));
  std::filesystem::remove(tmp);
  return size;
}

}  // namespace

int main(int argc, char** argv) {
  std::string out_path = "bench-results.json";
  std::filesystem::path data = "bench-data";
  bool quick = false, engine_only = false, sync_only = false, ledger_only = false, till_only = false;
  int sync_sales = 100'000, ledger_members = 1'000'000;
  std::string postgres;
  std::vector<char*> args;
  static char min_time[] = "--benchmark_min_time=0.05";
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--out=", 0) == 0) {
      out_path = a.substr(6);
    } else if (a.rfind("--data=", 0) == 0) {
      data = a.substr(7);
    } else if (a == "--quick") {
      quick = true;
      args.push_back(min_time);
    } else if (a == "--engine-only") {
      engine_only = true;
    } else if (a == "--sync-only") {
      sync_only = true;
    } else if (a == "--till-only") {
      till_only = true;
    } else if (a.rfind("--sync-sales=", 0) == 0) {
      sync_sales = std::stoi(a.substr(13));
    } else if (a.rfind("--postgres=", 0) == 0) {
      postgres = a.substr(11);
    } else if (a == "--ledger-only") {
      ledger_only = true;
    } else if (a.rfind("--ledger-members=", 0) == 0) {
      ledger_members = std::stoi(a.substr(17));
    } else {
      args.push_back(argv[i]);
    }
  }
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  Collector collector;
  if (!sync_only && !ledger_only && !till_only) benchmark::RunSpecifiedBenchmarks(&collector);
  benchmark::Shutdown();

  std::vector<Figure> figures;
  for (const auto& [name, baseline] : kEngineFigures) {
    const auto v = collector.ns().find(name);
    const auto b = collector.ns().find(baseline);
    if (v != collector.ns().end() && b != collector.ns().end()) figures.push_back({name, v->second, "ns", baseline, b->second});
  }
  if (!engine_only && !sync_only && !ledger_only) {
    try {
      for (auto& f : loyalty::bench::till_figures(data, quick)) figures.push_back(std::move(f));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "loyalty-bench: the till benchmarks failed: %s\n", e.what());
      return 1;
    }
    figures.push_back({"libloyalty_stripped_size", stripped_library_bytes(), "bytes", "", 0});
  }
  if (!engine_only && !ledger_only && !till_only) {
    try {
      for (auto& f : loyalty::bench::sync_figures(data, quick ? std::min(sync_sales, 10'000) : sync_sales, postgres))
        figures.push_back(std::move(f));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "loyalty-bench: the sync benchmark failed: %s\n", e.what());
      return 1;
    }
  }
  if (!engine_only && !sync_only && !till_only) {
    try {
      for (auto& f : loyalty::bench::ledger_figures(data, quick ? std::min(ledger_members, 50'000) : ledger_members,
                                                       postgres))
        figures.push_back(std::move(f));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "loyalty-bench: the ledger benchmark failed: %s\n", e.what());
      return 1;
    }
  }

  std::printf("\n%-30s %12s %-6s %-30s %12s %7s\n", "figure", "value", "unit", "baseline (same run)", "value", "ratio");
  std::ofstream json(out_path);
  json << "[\n";
  for (std::size_t i = 0; i < figures.size(); ++i) {
    const Figure& f = figures[i];
    const bool has_base = !f.baseline.empty() && f.baseline_value > 0;
    const double ratio = has_base ? f.value / f.baseline_value : 0;
    std::printf("%-30s %12.2f %-6s %-30s %12.2f %7s\n", f.name.c_str(), f.value, f.unit.c_str(),
                has_base ? f.baseline.c_str() : "-", has_base ? f.baseline_value : 0.0,
                has_base ? (std::to_string(ratio).substr(0, 5)).c_str() : "-");
    json << "  {\"name\": \"" << json_escape(f.name) << "\", \"value\": " << f.value << ", \"unit\": \"" << f.unit
         << "\", \"baseline\": " << (has_base ? "\"" + json_escape(f.baseline) + "\"" : std::string("null"))
         << ", \"baseline_value\": " << (has_base ? std::to_string(f.baseline_value) : std::string("null"))
         << ", \"ratio\": " << (has_base ? std::to_string(ratio) : std::string("null")) << "}"
         << (i + 1 < figures.size() ? ",\n" : "\n");
  }
  json << "]\n";
  std::printf("written to %s\n", out_path.c_str());
  return 0;
}
