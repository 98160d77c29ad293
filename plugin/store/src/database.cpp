#include "loyalty/store/database.hpp"

#include <sqlite3.h>

namespace loyalty::store {
namespace {

[[noreturn]] void fail(sqlite3* db, std::string_view what) {
  throw StorageError(std::string(what) + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
}

}  // namespace

Database::Database(const std::string& path, bool exclusive) {
  const int rc = sqlite3_open_v2(path.c_str(), &db_,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    const std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    db_ = nullptr;
    throw StorageError("cannot open " + path + ": " + msg);
  }
  try {
    sqlite3_extended_result_codes(db_, 1);
    // Exclusive locking (below) means a lock held by another process is not let go soon: wait briefly.
    // A shared database waits longer for another process's write transaction.
    sqlite3_busy_timeout(db_, exclusive ? 1000 : 10000);
    // The member cache is read far more than written: map it rather than copy each page in.
    exec("PRAGMA mmap_size=1073741824");
    // One process owns a till's database: exclusive locking spares every transaction its file locks
    // (and keeps other processes from writing behind the till's back).
    if (exclusive) exec("PRAGMA locking_mode=EXCLUSIVE");
    {
      Statement wal(*this, "PRAGMA journal_mode=WAL");
      if (!wal.step() || wal.text(0) != "wal") throw StorageError("cannot put " + path + " in WAL mode");
    }
    exec("PRAGMA synchronous=FULL");
    exec("PRAGMA foreign_keys=ON");
  } catch (...) {  // the destructor does not run for a constructor that throws
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw;
  }
}

Database::~Database() {
  for (sqlite3_stmt* s : control_) sqlite3_finalize(s);
  sqlite3_close_v2(db_);
}

void Database::control(Control c) {
  static const char* const kSql[] = {"BEGIN IMMEDIATE", "COMMIT", "ROLLBACK"};
  const auto i = static_cast<std::size_t>(c);
  if (!control_[i] && sqlite3_prepare_v3(db_, kSql[i], -1, SQLITE_PREPARE_PERSISTENT, &control_[i], nullptr) != SQLITE_OK)
    fail(db_, kSql[i]);
  if (sqlite3_step(control_[i]) != SQLITE_DONE) {
    const std::string message = std::string(kSql[i]) + ": " + sqlite3_errmsg(db_);
    sqlite3_reset(control_[i]);
    throw StorageError(message);
  }
  sqlite3_reset(control_[i]);
}

void Database::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errmsg(db_);
    sqlite3_free(err);
    throw StorageError(msg);
  }
}

std::int64_t Database::user_version() {
  Statement s(*this, "PRAGMA user_version");
  return s.step() ? s.integer(0) : 0;
}

void Database::set_user_version(std::int64_t v) {
  exec(("PRAGMA user_version=" + std::to_string(v)).c_str());
}

std::int64_t Database::changes() const { return sqlite3_changes64(db_); }

std::int64_t Database::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }

Statement::Statement(Database& db, const char* sql) : db_(db.handle()) {
  if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_, nullptr) != SQLITE_OK)
    fail(db_, std::string("prepare ") + sql);
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement& Statement::bind(int i, std::int64_t v) {
  if (sqlite3_stmt_busy(stmt_)) sqlite3_reset(stmt_);
  if (sqlite3_bind_int64(stmt_, i, v) != SQLITE_OK) fail(db_, "bind");
  return *this;
}

Statement& Statement::bind(int i, std::string_view v) {
  if (sqlite3_stmt_busy(stmt_)) sqlite3_reset(stmt_);
  if (sqlite3_bind_text64(stmt_, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8) != SQLITE_OK)
    fail(db_, "bind");
  return *this;
}

Statement& Statement::bind_blob(int i, const void* data, std::size_t size) {
  if (sqlite3_stmt_busy(stmt_)) sqlite3_reset(stmt_);
  if (sqlite3_bind_blob64(stmt_, i, data, size, SQLITE_TRANSIENT) != SQLITE_OK) fail(db_, "bind");
  return *this;
}

Statement& Statement::bind_null(int i) {
  if (sqlite3_stmt_busy(stmt_)) sqlite3_reset(stmt_);
  if (sqlite3_bind_null(stmt_, i) != SQLITE_OK) fail(db_, "bind");
  return *this;
}

bool Statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  const std::string msg = sqlite3_errmsg(db_);
  sqlite3_reset(stmt_);
  throw StorageError("step: " + msg);
}

void Statement::run() {
  while (step()) {
  }
  reset();
}

void Statement::reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

bool Statement::is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

std::int64_t Statement::integer(int col) const { return sqlite3_column_int64(stmt_, col); }

double Statement::real(int col) const { return sqlite3_column_double(stmt_, col); }

std::string Statement::text(int col) const {
  const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
  return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))) : std::string();
}

bool Statement::is_blob(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_BLOB; }

std::string_view Statement::bytes(int col) const {
  const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
  return p ? std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))) : std::string_view();
}

std::optional<std::int64_t> Statement::optional_integer(int col) const {
  if (is_null(col)) return std::nullopt;
  return integer(col);
}

std::optional<std::string> Statement::optional_text(int col) const {
  if (is_null(col)) return std::nullopt;
  return text(col);
}

Transaction::Transaction(Database& db) : db_(db) { db_.control(Database::Control::begin); }

Transaction::~Transaction() {
  if (!done_) {
    try {
      db_.control(Database::Control::rollback);
    } catch (...) {  // a failed rollback leaves SQLite to roll back on the next open
    }
  }
}

void Transaction::commit() {
  db_.control(Database::Control::commit);
  done_ = true;
}

}  // namespace loyalty::store
