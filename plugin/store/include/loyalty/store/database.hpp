// RAII over SQLite: a connection, prepared statements, transactions. Failures are StorageError.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include "loyalty/engine/time.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace loyalty::store {

// The database failed: disk full, permissions, corruption, a constraint the code did not expect.
class StorageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Statement;

class Database {
 public:
  // Opens (creating) a database file in WAL mode with synchronous=FULL and a busy timeout. An
  // exclusive database is held by this connection until it closes (the till's); a shared one lets
  // other processes in between transactions (headquarters' administration commands beside `serve`).
  explicit Database(const std::string& path, bool exclusive = true);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  void exec(const char* sql);
  std::int64_t user_version();
  void set_user_version(std::int64_t v);
  std::int64_t changes() const;
  std::int64_t last_insert_rowid() const;
  sqlite3* handle() const { return db_; }

  // BEGIN IMMEDIATE, COMMIT and ROLLBACK, each prepared once (a transaction costs no parse).
  enum class Control { begin, commit, rollback };
  void control(Control c);

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* control_[3] = {nullptr, nullptr, nullptr};
};

// A birthday as the databases keep it: MMDD as an integer (05-17 is 517).
inline std::int64_t month_day_to_int(const engine::MonthDay& d) { return std::int64_t{d.month * 100 + d.day}; }
inline engine::MonthDay month_day_from_int(std::int64_t v) {
  return engine::MonthDay{static_cast<unsigned>(v / 100), static_cast<unsigned>(v % 100)};
}

// A prepared statement, reset after each use (by Query's destructor or step()).
class Statement {
 public:
  Statement(Database& db, const char* sql);
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int i, std::int64_t v);
  Statement& bind(int i, std::string_view v);
  Statement& bind_blob(int i, const void* data, std::size_t size);
  Statement& bind_null(int i);
  Statement& bind(int i, const std::optional<std::int64_t>& v) { return v ? bind(i, *v) : bind_null(i); }
  Statement& bind(int i, const std::optional<std::string>& v) {
    return v ? bind(i, std::string_view(*v)) : bind_null(i);
  }
  Statement& bind(int i, const char* v) { return bind(i, std::string_view(v)); }
  Statement& bind(int i, const std::string& v) { return bind(i, std::string_view(v)); }

  // Steps once: true when a row is available.
  bool step();
  // Runs a statement that returns no rows, then resets it.
  void run();
  void reset();

  bool is_null(int col) const;
  std::int64_t integer(int col) const;
  double real(int col) const;
  std::string text(int col) const;
  bool is_blob(int col) const;
  // A BLOB's bytes, valid until the next step or reset.
  std::string_view bytes(int col) const;
  std::optional<std::int64_t> optional_integer(int col) const;
  std::optional<std::string> optional_text(int col) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

// BEGIN IMMEDIATE ... COMMIT; rolled back if not committed.
class Transaction {
 public:
  explicit Transaction(Database& db);
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  void commit();

 private:
  Database& db_;
  bool done_ = false;
};

}  // namespace loyalty::store
