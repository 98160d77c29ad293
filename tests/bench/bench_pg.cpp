#include "bench_pg.hpp"

#include <libpq-fe.h>

#include <stdexcept>

namespace loyalty::bench {
namespace {

std::string array_literal(const std::vector<std::pair<std::string, std::string>>& rows, std::size_t from,
                          std::size_t to, bool first) {
  std::string a = "{";
  for (std::size_t i = from; i < to; ++i) {
    if (i > from) a += ',';
    a += '"';
    for (const char c : first ? rows[i].first : rows[i].second) {
      if (c == '"' || c == '\\') a += '\\';
      a += c;
    }
    a += '"';
  }
  return a + "}";
}

void check(PGresult* r, pg_conn* c, const std::string& what) {
  const auto st = PQresultStatus(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_COPY_IN) {
    const std::string message = PQerrorMessage(c);
    PQclear(r);
    throw std::runtime_error(what + ": " + message);
  }
}

}  // namespace

PgDb::PgDb(const std::string& url) : c_(PQconnectdb(url.c_str())) {
  if (PQstatus(c_) != CONNECTION_OK) {
    const std::string message = PQerrorMessage(c_);
    PQfinish(c_);
    throw std::runtime_error("cannot connect to " + url + ": " + message);
  }
}

PgDb::~PgDb() { PQfinish(c_); }

void PgDb::exec(const std::string& sql) {
  PGresult* r = PQexec(c_, sql.c_str());
  check(r, c_, sql.substr(0, 60));
  PQclear(r);
}

std::string PgDb::value(const std::string& sql) {
  PGresult* r = PQexec(c_, sql.c_str());
  check(r, c_, sql.substr(0, 60));
  std::string v = PQntuples(r) > 0 && PQnfields(r) > 0 ? PQgetvalue(r, 0, 0) : "";
  PQclear(r);
  return v;
}

void PgDb::insert_batch(const std::vector<std::pair<std::string, std::string>>& rows, std::size_t from,
                        std::size_t to) {
  const std::string ids = array_literal(rows, from, to, true), bodies = array_literal(rows, from, to, false);
  const char* values[] = {ids.c_str(), bodies.c_str()};
  PGresult* r = PQexecParams(c_,
                             "INSERT INTO t(txn_id, body) SELECT * FROM unnest($1::text[], $2::text[]) "
                             "ON CONFLICT DO NOTHING",
                             2, nullptr, values, nullptr, nullptr, 0);
  check(r, c_, "the bare insert");
  PQclear(r);
}

void PgDb::copy(const std::string& table_and_columns, const std::string& lines) {
  PGresult* r = PQexec(c_, ("COPY " + table_and_columns + " FROM STDIN").c_str());
  check(r, c_, "COPY " + table_and_columns);
  PQclear(r);
  if (PQputCopyData(c_, lines.data(), static_cast<int>(lines.size())) != 1 || PQputCopyEnd(c_, nullptr) != 1)
    throw std::runtime_error(std::string("COPY: ") + PQerrorMessage(c_));
  r = PQgetResult(c_);
  check(r, c_, "COPY " + table_and_columns);
  PQclear(r);
  while ((r = PQgetResult(c_))) PQclear(r);
}

std::string fresh_database(const std::string& server_url, const std::string& name) {
  PgDb server(server_url + "/postgres");
  server.exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)");
  server.exec("CREATE DATABASE " + name);
  return server_url + "/" + name;
}

}  // namespace loyalty::bench
