#include "pg.hpp"

#include <libpq-fe.h>

#include <charconv>
#include <utility>

namespace loyalty::hq::pg {
namespace {

std::string error_of(PGconn* c) {
  std::string m = c ? PQerrorMessage(c) : "out of memory";
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m;
}

void quiet(void*, const char*) {}  // notices (an index that exists already) are not errors

}  // namespace

Params& Params::add(std::string_view v) {
  values_.emplace_back(std::string(v));
  return *this;
}

Params& Params::add(std::int64_t v) {
  values_.emplace_back(std::to_string(v));
  return *this;
}

Params& Params::null() {
  values_.emplace_back(std::nullopt);
  return *this;
}

// An array literal of `items`: each quoted, NULL for an empty one. The quoted text is copied in
// runs between the characters to escape (a batch's bodies are hundreds of kilobytes).
template <class Items, class Get>
std::string array_literal(const Items& items, Get get) {
  std::size_t size = 2;
  for (const auto& item : items) size += (get(item) ? get(item)->size() : 0) + 3;
  std::string a;
  a.reserve(size + size / 16);
  a += '{';
  bool first = true;
  for (const auto& item : items) {
    if (!std::exchange(first, false)) a += ',';
    const std::string* v = get(item);
    if (!v) {
      a += "NULL";
      continue;
    }
    a += '"';
    std::size_t from = 0;
    for (std::size_t at; (at = v->find_first_of("\"\\", from)) != std::string::npos; from = at + 1)
      (a.append(*v, from, at - from) += '\\') += (*v)[at];
    a.append(*v, from, std::string::npos);
    a += '"';
  }
  a += '}';
  return a;
}

Params& Params::add_array(const std::vector<std::string>& items) {
  values_.emplace_back(array_literal(items, [](const std::string& s) { return &s; }));
  return *this;
}

Params& Params::add_array(const std::vector<std::optional<std::string>>& items) {
  values_.emplace_back(
      array_literal(items, [](const std::optional<std::string>& s) { return s ? &*s : static_cast<const std::string*>(nullptr); }));
  return *this;
}

Params& Params::add_bytes(const void* data, std::size_t size) {
  static const char* const digits = "0123456789abcdef";
  std::string hex = "\\x";
  const auto* p = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < size; ++i) (hex += digits[p[i] >> 4]) += digits[p[i] & 15];
  values_.emplace_back(std::move(hex));
  return *this;
}

const char* const* Params::values() const {
  pointers_.clear();
  for (const auto& v : values_) pointers_.push_back(v ? v->c_str() : nullptr);
  return pointers_.data();
}

Result::~Result() { PQclear(r_); }

int Result::rows() const { return PQntuples(r_); }

bool Result::is_null(int row, int col) const { return PQgetisnull(r_, row, col) != 0; }

std::string Result::text(int row, int col) const {
  return std::string(PQgetvalue(r_, row, col), static_cast<std::size_t>(PQgetlength(r_, row, col)));
}

std::int64_t Result::integer(int row, int col) const {
  if (is_null(row, col)) return 0;
  const char* v = PQgetvalue(r_, row, col);
  const char* end = v + PQgetlength(r_, row, col);
  std::int64_t out = 0;
  const auto [ptr, ec] = std::from_chars(v, end, out);
  if (ec != std::errc() || ptr != end) throw PgError("PostgreSQL returned " + std::string(v) + " for an integer", "");
  return out;
}

std::optional<std::string> Result::optional_text(int row, int col) const {
  if (is_null(row, col)) return std::nullopt;
  return text(row, col);
}

std::optional<std::int64_t> Result::optional_integer(int row, int col) const {
  if (is_null(row, col)) return std::nullopt;
  return integer(row, col);
}

std::string Result::bytes(int row, int col) const {
  const std::string hex = text(row, col);
  if (hex.size() < 2 || hex[0] != '\\' || hex[1] != 'x' || hex.size() % 2 != 0)
    throw PgError("PostgreSQL returned a bytea not in hex form", "");
  const auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(hex.size() / 2 - 1);
  for (std::size_t i = 2; i < hex.size(); i += 2) {
    const int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) throw PgError("PostgreSQL returned a bytea not in hex form", "");
    out += static_cast<char>(hi * 16 + lo);
  }
  return out;
}

Connection::Connection(const std::string& url) {
  conn_ = PQconnectdb(url.c_str());
  if (PQstatus(conn_) != CONNECTION_OK) {
    const std::string why = error_of(conn_);
    PQfinish(conn_);
    conn_ = nullptr;
    throw PgError("cannot connect to PostgreSQL: " + why, "");
  }
  PQsetNoticeProcessor(conn_, quiet, nullptr);
}

Connection::~Connection() { PQfinish(conn_); }

bool Connection::ok() const { return conn_ && PQstatus(conn_) == CONNECTION_OK; }

void Connection::reset() {
  PQreset(conn_);
  prepared_.clear();
  pipeline_ = false;
  sent_.clear();
  if (PQstatus(conn_) != CONNECTION_OK) throw PgError("cannot connect to PostgreSQL again: " + error_of(conn_), "");
}

Result Connection::checked(PGresult* r, std::string_view what) {
  PGconn* conn = conn_;
  const ExecStatusType st = PQresultStatus(r);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return Result(r);
  // Copied before the result is freed: the error fields live in it.
  const char* field = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  const std::string sqlstate = field ? field : (PQstatus(conn) == CONNECTION_OK ? "XX000" : "08006");
  std::string message = r ? PQresultErrorMessage(r) : error_of(conn);
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  if (message.empty()) message = error_of(conn);
  PQclear(r);
  std::string sql(what.substr(0, 120));
  if (failure_.empty()) failure_ = sqlstate;
  throw PgError("PostgreSQL: " + message + " (in: " + sql + ")", sqlstate);
}

void Connection::exec(const char* sql) { checked(PQexec(conn_, sql), sql); }

const std::string& Connection::prepared(const char* sql, int params) {
  auto it = prepared_.find(sql);
  if (it != prepared_.end()) return it->second;
  const std::string name = "s" + std::to_string(++names_);
  if (pipeline_) {
    if (PQsendPrepare(conn_, name.c_str(), sql, params, nullptr) != 1) {
      if (failure_.empty()) failure_ = "08006";
      throw PgError("PostgreSQL: cannot send a statement: " + error_of(conn_), "08006");
    }
    sent_.push_back(Sent{sql, -2});
  } else {
    checked(PQprepare(conn_, name.c_str(), sql, params, nullptr), sql);
  }
  return prepared_.emplace(sql, name).first->second;
}

Result Connection::query(const char* sql, const Params& params) {
  const std::string& name = prepared(sql, params.size());
  if (!pipeline_)
    return checked(PQexecPrepared(conn_, name.c_str(), params.size(), params.values(), nullptr, nullptr, 0), sql);
  if (PQsendQueryPrepared(conn_, name.c_str(), params.size(), params.values(), nullptr, nullptr, 0) != 1) {
    if (failure_.empty()) failure_ = "08006";
    throw PgError("PostgreSQL: cannot send a statement: " + error_of(conn_), "08006");
  }
  sent_.push_back(Sent{sql, -1});
  return Result(collect(true));
}

void Connection::begin_pipeline() {
  if (PQenterPipelineMode(conn_) != 1) throw PgError("PostgreSQL: cannot enter pipeline mode: " + error_of(conn_), "08006");
  pipeline_ = true;
}

void Connection::send(const char* sql, const Params& params, int rows) {
  if (!pipeline_) {
    const Result r = query(sql, params);
    (void)r;
    return;
  }
  const std::string& name = prepared(sql, params.size());
  if (PQsendQueryPrepared(conn_, name.c_str(), params.size(), params.values(), nullptr, nullptr, 0) != 1) {
    if (failure_.empty()) failure_ = "08006";
    throw PgError("PostgreSQL: cannot send a statement: " + error_of(conn_), "08006");
  }
  sent_.push_back(Sent{sql, rows});
  // Never far ahead of the answers: a server blocked writing answers nobody reads would stop
  // reading statements too.
  if (sent_.size() >= 256) PQclear(collect(false));
}

pg_result* Connection::collect(bool keep_last) {
  if (sent_.empty()) return nullptr;
  if (PQsendFlushRequest(conn_) != 1 || PQflush(conn_) != 0) {
    if (failure_.empty()) failure_ = "08006";
    throw PgError("PostgreSQL: cannot send statements: " + error_of(conn_), "08006");
  }
  pg_result* last = nullptr;
  while (!sent_.empty()) {
    const Sent s = sent_.front();
    PGresult* r = PQgetResult(conn_);
    if (!r) {
      if (failure_.empty()) failure_ = "08006";
      throw PgError("PostgreSQL: an answer is missing: " + error_of(conn_), "08006");
    }
    sent_.pop_front();
    // Each statement's results end with a null.
    while (PGresult* extra = PQgetResult(conn_)) PQclear(extra);
    const ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_PIPELINE_ABORTED) {
      if (s.rows == -2) prepared_.erase(s.sql);  // never made: the pipeline had failed before it
      PQclear(r);
      if (failure_.empty()) failure_ = "25P02";
      throw PgError("PostgreSQL: a statement sent before failed (in: " + std::string(s.sql).substr(0, 120) + ")",
                    failure_);
    }
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
      if (s.rows == -2) prepared_.erase(s.sql);
      checked(r, s.sql);  // throws
    }
    if (s.rows >= 0) {
      const char* n = PQcmdTuples(r);
      if (std::string(n) != std::to_string(s.rows)) {
        PQclear(r);
        if (failure_.empty()) failure_ = "XX000";
        throw PgError("PostgreSQL: a statement changed " + std::string(*n ? n : "0") + " rows, not " +
                          std::to_string(s.rows) + " (in: " + std::string(s.sql).substr(0, 120) + ")",
                      "XX000");
      }
    }
    if (keep_last && sent_.empty()) {
      last = r;
    } else {
      PQclear(r);
    }
  }
  return last;
}

void Connection::end_pipeline() {
  PQclear(collect(false));
  if (PQpipelineSync(conn_) != 1) throw PgError("PostgreSQL: cannot end the pipeline: " + error_of(conn_), "08006");
  PGresult* r = PQgetResult(conn_);
  const bool synced = r && PQresultStatus(r) == PGRES_PIPELINE_SYNC;
  PQclear(r);
  if (!synced || PQexitPipelineMode(conn_) != 1) {
    if (failure_.empty()) failure_ = "08006";
    throw PgError("PostgreSQL: cannot leave the pipeline: " + error_of(conn_), "08006");
  }
  pipeline_ = false;
}

void Connection::abandon_pipeline() noexcept {
  if (!pipeline_) return;
  pipeline_ = false;
  // Statements whose PREPARE was not answered may not exist on the server.
  for (const Sent& s : sent_)
    if (s.rows == -2) prepared_.erase(s.sql);
  sent_.clear();
  bool clean = PQpipelineSync(conn_) == 1 && PQflush(conn_) == 0;
  for (int nulls = 0; clean;) {
    PGresult* r = PQgetResult(conn_);
    if (!r) {
      if (++nulls > 100000 || PQstatus(conn_) != CONNECTION_OK) clean = false;
      continue;
    }
    const bool sync = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
    PQclear(r);
    if (sync) break;
  }
  if (!clean || PQexitPipelineMode(conn_) != 1) {
    PQreset(conn_);  // its prepared statements are gone with it
    prepared_.clear();
  }
}

bool retryable(const std::string& sqlstate) {
  return sqlstate == "40001" || sqlstate == "40P01" || sqlstate == "23505" || sqlstate.rfind("08", 0) == 0 ||
         sqlstate == "57P01";
}

}  // namespace loyalty::hq::pg
