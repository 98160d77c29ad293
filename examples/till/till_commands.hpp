// The reference till's commands over libloyalty's C header: what a POS does, from a terminal.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace loyalty::till_cli {

struct Options {
  std::string config;
  bool json = false;
};

int apply_rules(const Options& o, const std::string& file);
int import_changes(const Options& o, const std::string& file);
int lookup(const Options& o, const std::string& code, const std::string& at);
int checkout(const Options& o, const std::string& script);
int refund(const Options& o, const std::string& receipt, const std::string& refund_id,
           const std::vector<std::pair<std::string, long long>>& lines, const std::string& sale_store);
int status(const Options& o);
int sync(const Options& o);

}  // namespace loyalty::till_cli
