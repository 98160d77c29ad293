// A thin RAII layer over libpq: connections with their prepared statements, parameters in text
// form, results read by column. Failures are PgError with PostgreSQL's SQLSTATE.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "loyalty/store/database.hpp"

struct pg_conn;
struct pg_result;

namespace loyalty::hq::pg {

class PgError : public store::StorageError {
 public:
  PgError(const std::string& message, std::string sqlstate)
      : store::StorageError(message), sqlstate_(std::move(sqlstate)) {}
  // Five characters ("40001"), or "" when the failure is not the server's (a lost connection).
  const std::string& sqlstate() const noexcept { return sqlstate_; }

 private:
  std::string sqlstate_;
};

// The parameters of one statement, in PostgreSQL's text form (NULL for an empty optional).
class Params {
 public:
  Params& add(std::string_view v);
  Params& add(const char* v) { return add(std::string_view(v)); }
  Params& add(const std::string& v) { return add(std::string_view(v)); }
  Params& add(std::int64_t v);
  Params& add(int v) { return add(std::int64_t{v}); }
  Params& add(bool v) { return add(std::string_view(v ? "t" : "f")); }
  Params& add(const std::optional<std::string>& v) { return v ? add(std::string_view(*v)) : null(); }
  Params& add(const std::optional<std::int64_t>& v) { return v ? add(*v) : null(); }
  Params& null();
  // A text[] of these strings.
  Params& add_array(const std::vector<std::string>& items);
  // An array of these values in text form (NULL for an empty one), cast by the statement.
  Params& add_array(const std::vector<std::optional<std::string>>& items);
  // bytea, as its hex form.
  Params& add_bytes(const void* data, std::size_t size);

  int size() const { return static_cast<int>(values_.size()); }
  const char* const* values() const;

 private:
  std::vector<std::optional<std::string>> values_;
  mutable std::vector<const char*> pointers_;
};

class Result {
 public:
  explicit Result(pg_result* r) : r_(r) {}
  ~Result();
  Result(Result&& o) noexcept : r_(o.r_) { o.r_ = nullptr; }
  Result& operator=(Result&&) = delete;
  Result(const Result&) = delete;

  int rows() const;
  bool empty() const { return rows() == 0; }
  bool is_null(int row, int col) const;
  std::string text(int row, int col) const;
  std::int64_t integer(int row, int col) const;
  std::optional<std::string> optional_text(int row, int col) const;
  std::optional<std::int64_t> optional_integer(int row, int col) const;
  // A bytea column's bytes (selected as its hex text).
  std::string bytes(int row, int col) const;

 private:
  pg_result* r_;
};

class Connection {
 public:
  explicit Connection(const std::string& url);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs SQL with no parameters (several statements allowed).
  void exec(const char* sql);
  // Runs a statement, prepared on this connection the first time it is seen. In a pipeline, after
  // everything sent before it.
  Result query(const char* sql, const Params& params = {});

  // A pipeline (libpq's pipeline mode), inside a transaction begun with exec(): statements whose
  // answer is not needed are sent without waiting for it, and the server runs them in order. The
  // next query() waits for them first, so that it sees what they did; a failure of one is thrown
  // there (or by end_pipeline), and recorded as failure() like any other.
  void begin_pipeline();
  // Sends a statement; `rows`, when not negative, is how many rows it must change.
  void send(const char* sql, const Params& params, int rows = -1);
  // Waits for everything sent, and leaves the pipeline (before COMMIT).
  void end_pipeline();
  // Leaves the pipeline after a failure, discarding what was sent (before ROLLBACK). Never throws;
  // the connection is reset when it cannot be brought back.
  void abandon_pipeline() noexcept;
  bool ok() const;
  // Connects again after the connection was lost; its prepared statements are gone with it.
  void reset();
  // The SQLSTATE of the first statement that failed since clear_failure() ("" when none did).
  const std::string& failure() const { return failure_; }
  void clear_failure() { failure_.clear(); }

 private:
  Result checked(pg_result* r, std::string_view what);
  const std::string& prepared(const char* sql, int params);
  // Reads the answers of what was sent, in order, checking each; the last one's result is returned
  // when `keep_last` (a query's).
  pg_result* collect(bool keep_last);

  struct Sent {
    const char* sql;
    int rows;  // -1: any; -2: a PREPARE
  };
  pg_conn* conn_ = nullptr;
  std::string failure_;
  std::unordered_map<std::string, std::string> prepared_;  // statement text -> its name
  std::int64_t names_ = 0;
  bool pipeline_ = false;
  std::deque<Sent> sent_;
};

// SQLSTATEs after which a transaction is run again from its start: a serialization failure, a
// deadlock, a unique key another transaction took at the same time, a lost connection.
bool retryable(const std::string& sqlstate);

}  // namespace loyalty::hq::pg
