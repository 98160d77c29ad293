// PostgreSQL for the benchmarks: a fresh database on a server the caller started (tests/bench/pg_bench.sh
// starts a throwaway one on 127.0.0.1), and the statements of the bare limits, through libpq.
#pragma once

#include <string>
#include <utility>
#include <vector>

struct pg_conn;

namespace loyalty::bench {

class PgDb {
 public:
  explicit PgDb(const std::string& url);
  ~PgDb();
  PgDb(const PgDb&) = delete;
  PgDb& operator=(const PgDb&) = delete;

  void exec(const std::string& sql);
  // The first column of the first row of a query, as text.
  std::string value(const std::string& sql);
  // Inserts `rows` (txn_id, body) into t(txn_id, body) with one INSERT ... ON CONFLICT DO NOTHING of
  // unnest()ed arrays, a transaction of its own.
  void insert_batch(const std::vector<std::pair<std::string, std::string>>& rows, std::size_t from, std::size_t to);
  // COPY FROM STDIN of tab-separated text lines into `table(columns)`.
  void copy(const std::string& table_and_columns, const std::string& lines);

 private:
  pg_conn* c_ = nullptr;
};

// `server_url` with a database `name`, dropped and made again: empty.
std::string fresh_database(const std::string& server_url, const std::string& name);

}  // namespace loyalty::bench
