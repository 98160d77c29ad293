// loyalty-bench: runs the benchmarks, prints a table and writes bench-results.json, each figure with
// the same machine's raw limit measured in the same run and their ratio.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace {

// Which benchmark is the baseline of which (by name, without arguments).
const std::map<std::string, std::string> kBaselineOf = {
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

}  // namespace

int main(int argc, char** argv) {
  std::string out_path = "bench-results.json";
  std::vector<char*> args;
  for (int i = 0; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--out=", 0) == 0) {
      out_path = a.substr(6);
    } else if (a == "--quick") {
      static char min_time[] = "--benchmark_min_time=0.05";
      args.push_back(min_time);
    } else {
      args.push_back(argv[i]);
    }
  }
  int n = static_cast<int>(args.size());
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  Collector collector;
  benchmark::RunSpecifiedBenchmarks(&collector);
  benchmark::Shutdown();

  std::printf("\n%-32s %12s %-34s %12s %8s\n", "figure", "ns", "baseline", "ns", "ratio");
  std::ofstream json(out_path);
  json << "[\n";
  bool first = true;
  for (const auto& [name, baseline] : kBaselineOf) {
    const auto v = collector.ns().find(name);
    const auto b = collector.ns().find(baseline);
    if (v == collector.ns().end() || b == collector.ns().end()) continue;
    const double ratio = v->second / b->second;
    std::printf("%-32s %12.1f %-34s %12.1f %8.2f\n", name.c_str(), v->second, baseline.c_str(), b->second, ratio);
    json << (first ? "" : ",\n") << "  {\"name\": \"" << name << "\", \"value\": " << v->second
         << ", \"unit\": \"ns\", \"baseline\": \"" << baseline << "\", \"baseline_value\": " << b->second
         << ", \"ratio\": " << ratio << "}";
    first = false;
  }
  json << "\n]\n";
  std::printf("written to %s\n", out_path.c_str());
  return 0;
}
