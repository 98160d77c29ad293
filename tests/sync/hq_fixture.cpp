#include "hq_fixture.hpp"

#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <fcntl.h>
#include <regex>
#include <thread>

#include "till_db_sql.hpp"

extern char** environ;

namespace loyalty::test {
namespace {

pid_t spawn(const std::vector<std::string>& args, const std::filesystem::path& output, bool append) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  const int flags = O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC);
  posix_spawn_file_actions_addopen(&actions, 1, output.c_str(), flags, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot start " + args[0]);
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

// The cluster's URL (without a database), from the state file pg_cluster.sh wrote.
std::string pg_server() {
  const char* state = std::getenv("LOYALTY_TEST_PG_STATE");
  std::string url = read_text(std::string(state) + ".url");
  while (!url.empty() && (url.back() == '\n' || url.back() == ' ')) url.pop_back();
  if (url.empty())
    FAIL("no PostgreSQL cluster is running for the postgres tests: " << state
                                                                       << ".url is missing (tests/support/pg_cluster.sh)");
  return url;
}

// Runs SQL on the cluster's database `db`; the first column of the first row ("" when none).
std::string pg_exec(const std::string& server, const std::string& db, const std::string& sql) {
  PGconn* c = PQconnectdb((server + "/" + db).c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    const std::string why = PQerrorMessage(c);
    PQfinish(c);
    FAIL("cannot connect to the test cluster: " << why);
  }
  PQsetNoticeProcessor(c, [](void*, const char*) {}, nullptr);
  PGresult* r = PQexec(c, sql.c_str());
  const ExecStatusType st = PQresultStatus(r);
  std::string out;
  if (st == PGRES_TUPLES_OK && PQntuples(r) > 0) out = PQgetvalue(r, 0, 0);
  const std::string error = PQresultErrorMessage(r);
  PQclear(r);
  PQfinish(c);
  INFO(sql << ": " << error);
  REQUIRE((st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK));
  return out;
}

int run(const std::vector<std::string>& args, const std::filesystem::path& output) {
  return wait_exit(spawn(args, output, false));
}

}  // namespace

bool postgres_mode() {
  const char* s = std::getenv("LOYALTY_TEST_PG_STATE");
  return s && *s;
}

Chain::Chain(const std::filesystem::path& dir, const std::vector<std::string>& stores) : dir_(dir), ca_("loyalty test CA") {
  std::filesystem::create_directories(dir_);
  write_text(dir_ / "ca.pem", ca_.cert_pem());
  ca_.issue("localhost", {"DNS:localhost", "IP:127.0.0.1"}, true).write(dir_, "hq");
  for (const auto& s : stores) ca_.issue(s, {}, false).write(dir_, "store-" + s);
  const std::filesystem::path data(LOYALTY_TILL_TEST_DATA);
  std::filesystem::copy_file(data / "test-hq-enroll-private.pem", dir_ / "hq-enroll-private.pem",
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(data / "test-hq-enroll-public.pem", dir_ / "hq-enroll-public.pem",
                             std::filesystem::copy_options::overwrite_existing);
}

HqProcess::HqProcess(const std::filesystem::path& dir, const std::filesystem::path& chain_dir, const nlohmann::json& edit)
    : dir_(dir) {
  std::filesystem::create_directories(dir_);
  nlohmann::json c = {{"listen", "127.0.0.1:0"},
                      {"database", "hq.db"},
                      {"tls", {{"cert_file", (chain_dir / "hq.pem").string()},
                               {"key_file", (chain_dir / "hq.key").string()},
                               {"ca_file", (chain_dir / "ca.pem").string()}}},
                      {"code_key", kCodeKeyHex},
                      {"enrollment_key_file", (chain_dir / "hq-enroll-private.pem").string()},
                      {"limits", {{"timeout_seconds", 5}}}};
  if (postgres_mode() && !edit.contains("database") && !edit.contains("storage")) {
    static std::atomic<int> counter{0};
    pg_server_ = pg_server();
    pg_database_ = "hq_" + std::to_string(getpid()) + "_" + std::to_string(counter++);
    pg_exec(pg_server_, "postgres", "DROP DATABASE IF EXISTS " + pg_database_);
    pg_exec(pg_server_, "postgres", "CREATE DATABASE " + pg_database_);
    pg_url_ = pg_server_ + "/" + pg_database_;
    c.erase("database");
    c["storage"] = {{"kind", "postgres"}, {"url", pg_url_}};
  }
  if (edit.contains("storage")) c.erase("database");
  c.merge_patch(edit);
  write_text(config(), c.dump(2));
}

HqProcess::~HqProcess() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    wait_exit(pid_);
  }
  if (!pg_database_.empty()) {
    PGconn* c = PQconnectdb((pg_server_ + "/postgres").c_str());
    if (PQstatus(c) == CONNECTION_OK) PQclear(PQexec(c, ("DROP DATABASE IF EXISTS " + pg_database_ + " WITH (FORCE)").c_str()));
    PQfinish(c);
  }
}

void HqProcess::start() {
  REQUIRE(pid_ < 0);
  if (port_ != 0) {
    auto c = nlohmann::json::parse(read_text(config()));
    c["listen"] = "127.0.0.1:" + std::to_string(port_);
    write_text(config(), c.dump(2));
  }
  const auto port_file = dir_ / "port";
  std::filesystem::remove(port_file);
  pid_ = spawn({LOYALTY_HQ_PATH, "serve", "--config", config().string(), "--port-file", port_file.string()},
               dir_ / "hq.log", true);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!std::filesystem::exists(port_file)) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      FAIL("loyalty-hq exited at start:\n" << log());
    }
    if (std::chrono::steady_clock::now() > deadline) FAIL("loyalty-hq did not start listening:\n" << log());
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  port_ = static_cast<std::uint16_t>(std::stoi(read_text(port_file)));
}

void HqProcess::stop() {
  if (pid_ < 0) return;
  ::kill(pid_, SIGTERM);
  const int rc = wait_exit(pid_);
  pid_ = -1;
  INFO(log());
  REQUIRE(rc == 0);
}

void HqProcess::kill() {
  if (pid_ < 0) return;
  ::kill(pid_, SIGKILL);
  wait_exit(pid_);
  pid_ = -1;
}

void HqProcess::edit_config(const nlohmann::json& edit) const {
  auto c = nlohmann::json::parse(read_text(config()));
  c.merge_patch(edit);
  write_text(config(), c.dump(2));
}

CliResult HqProcess::cli(std::vector<std::string> args) const {
  args.insert(args.begin(), LOYALTY_HQ_PATH);
  args.push_back("--config");
  args.push_back(config().string());
  const auto out = dir_ / "cli.out";
  const pid_t pid = spawn(args, out, false);
  CliResult r;
  r.exit_code = wait_exit(pid);
  r.out = read_text(out);
  return r;
}

void HqProcess::publish_rules(const std::filesystem::path& rules) const {
  const auto r = cli({"rules", "set", rules.string()});
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
}

void HqProcess::import_members(const std::string& csv) const {
  write_text(dir_ / "members.csv", csv);
  const auto r = cli({"members", "import", (dir_ / "members.csv").string()});
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
}

nlohmann::json HqProcess::member(const std::string& id) const {
  const auto r = cli({"members", "list", "--json", "--limit", "100000"});
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  for (const auto& m : nlohmann::json::parse(r.out))
    if (m["id"] == id) return m;
  return nullptr;
}

std::int64_t HqProcess::query(const std::string& sql) const {
  if (!pg_url_.empty()) {
    std::string q = std::regex_replace(sql, std::regex("\\browid\\b"), "row");
    q = std::regex_replace(q, std::regex("\\bleft\\b"), "points_left");
    const std::string v = pg_exec(pg_server_, pg_database_, q);
    INFO(q);
    REQUIRE(!v.empty());
    return std::stoll(v);
  }
  std::int64_t v = 0;
  first_row(sql, [&](sqlite3_stmt* st) { v = sqlite3_column_int64(st, 0); });
  return v;
}

std::string HqProcess::query_text(const std::string& sql) const {
  if (!pg_url_.empty()) return pg_exec(pg_server_, pg_database_, std::regex_replace(sql, std::regex("\\browid\\b"), "row"));
  std::string v;
  first_row(sql, [&](sqlite3_stmt* st) {
    const auto* text = sqlite3_column_text(st, 0);
    v = text ? reinterpret_cast<const char*>(text) : "";
  });
  return v;
}

void HqProcess::first_row(const std::string& sql, const std::function<void(sqlite3_stmt*)>& read) const {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2((dir_ / "hq.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt* st = nullptr;
  const int rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr);
  INFO(sql << ": " << sqlite3_errmsg(db));
  REQUIRE(rc == SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  read(st);
  sqlite3_finalize(st);
  sqlite3_close(db);
}

void HqProcess::execute(const std::string& sql) const {
  if (!pg_url_.empty()) {
    pg_exec(pg_server_, pg_database_, sql);
    return;
  }
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2((dir_ / "hq.db").c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  char* error = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &error);
  const std::string message = error ? error : "";
  sqlite3_free(error);
  sqlite3_close(db);
  INFO(sql << ": " << message);
  REQUIRE(rc == SQLITE_OK);
}

namespace {

class SqliteHold final : public HqProcess::WriteHold {
 public:
  explicit SqliteHold(const std::filesystem::path& db) {
    REQUIRE(sqlite3_open_v2(db.c_str(), &db_, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
    sqlite3_busy_timeout(db_, 5000);
    REQUIRE(sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
  }
  ~SqliteHold() override {
    sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    sqlite3_close(db_);
  }

 private:
  sqlite3* db_ = nullptr;
};

class PgHold final : public HqProcess::WriteHold {
 public:
  explicit PgHold(const std::string& url) : c_(PQconnectdb(url.c_str())) {
    REQUIRE(PQstatus(c_) == CONNECTION_OK);
    PQclear(PQexec(c_, "BEGIN"));
    PGresult* r = PQexec(c_, "LOCK TABLE members IN EXCLUSIVE MODE");
    const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    REQUIRE(ok);
  }
  ~PgHold() override {
    PQclear(PQexec(c_, "ROLLBACK"));
    PQfinish(c_);
  }

 private:
  PGconn* c_;
};

}  // namespace

std::unique_ptr<HqProcess::WriteHold> HqProcess::hold_writes() const {
  if (!pg_url_.empty()) return std::make_unique<PgHold>(pg_url_);
  return std::make_unique<SqliteHold>(dir_ / "hq.db");
}

std::string HqProcess::log() const { return read_text(dir_ / "hq.log"); }

void HqProcess::save_copy(const std::filesystem::path& dir) {
  stop();
  std::filesystem::create_directories(dir);
  if (!pg_url_.empty()) {
    const int rc = run({"/usr/bin/pg_dump", "-Fc", "-f", (dir / "hq.dump").string(), pg_url_}, dir / "pg_dump.log");
    INFO(read_text(dir / "pg_dump.log"));
    REQUIRE(rc == 0);
    start();
    return;
  }
  for (const char* f : {"hq.db", "hq.db-wal", "hq.db.feed"})
    if (std::filesystem::exists(dir_ / f)) std::filesystem::copy_file(dir_ / f, dir / f);
  start();
}

void HqProcess::restore_copy(const std::filesystem::path& dir, bool with_mark) {
  stop();
  if (!pg_url_.empty()) {
    // PostgreSQL keeps no mark: the database is put back whole, as pg_restore does.
    pg_exec(pg_server_, "postgres", "DROP DATABASE " + pg_database_ + " WITH (FORCE)");
    pg_exec(pg_server_, "postgres", "CREATE DATABASE " + pg_database_);
    const int rc = run({"/usr/bin/pg_restore", "-d", pg_url_, (dir / "hq.dump").string()}, dir / "pg_restore.log");
    INFO(read_text(dir / "pg_restore.log"));
    REQUIRE(rc == 0);
    start();
    return;
  }
  std::vector<std::string> files = {"hq.db", "hq.db-wal", "hq.db-shm"};
  if (with_mark) files.push_back("hq.db.feed");
  for (const auto& f : files) std::filesystem::remove(dir_ / f);
  for (const auto& f : files)
    if (std::filesystem::exists(dir / f)) std::filesystem::copy_file(dir / f, dir_ / f);
  start();
}

std::filesystem::path write_till_config(const std::filesystem::path& dir, const std::string& store,
                                        const std::string& till, const std::string& hq_url,
                                        const std::filesystem::path& chain_dir, const nlohmann::json& edit) {
  std::filesystem::create_directories(dir);
  nlohmann::json c = {
      {"data_dir", "data"},
      {"store_id", store},
      {"till_id", till},
      {"code_key", kCodeKeyHex},
      {"hq", {{"url", hq_url}, {"ca_file", (chain_dir / "ca.pem").string()},
              {"cert_file", (chain_dir / ("store-" + store + ".pem")).string()},
              {"key_file", (chain_dir / ("store-" + store + ".key")).string()},
              {"enrollment_key_file", (chain_dir / "hq-enroll-public.pem").string()}}},
      {"sync", {{"interval_seconds", 0}, {"timeout_seconds", 5}}}};
  c.merge_patch(edit);
  const auto path = dir / "till.json";
  write_text(path, c.dump(2));
  return path;
}

SyncWorld::SyncWorld(const nlohmann::json& hq_edit)
    : chain(tmp.path() / "pki"), hq(tmp.path() / "hq", tmp.path() / "pki", hq_edit) {
  hq.publish_rules(demo_rules_path());
  hq.import_members(kMembersCsv);
  hq.start();
}

std::filesystem::path SyncWorld::till(const std::string& store, const std::string& till_id, const nlohmann::json& edit,
                                      const std::string& url) {
  return write_till_config(tmp.path() / (store + "-" + till_id), store, till_id, url.empty() ? hq.url() : url,
                           chain.dir(), edit);
}

std::filesystem::path demo_rules_path() { return std::filesystem::path(LOYALTY_TEST_DATA) / "rules" / "demo-chain.json"; }

Sold sell(loy_till* till, const std::string& receipt, const std::string& code, std::int64_t amount, std::int64_t redeem) {
  Sold s;
  loy_checkout* c = nullptr;
  REQUIRE(loy_checkout_begin(till, &c) == LOY_OK);
  const auto fail = [&](loy_status st) {
    s.status = st;
    s.error = loy_checkout_last_error(c);
    loy_checkout_free(c);
    return s;
  };
  if (!code.empty()) {
    if (const loy_status st = loy_checkout_identify(c, code.c_str(), nullptr); st != LOY_OK) return fail(st);
  }
  const loy_line line = sale_line("1", "apparel", amount);
  if (const loy_status st = loy_checkout_add_line(c, &line); st != LOY_OK) return fail(st);
  if (redeem > 0) REQUIRE(loy_checkout_redeem(c, redeem) == LOY_OK);
  s.quote.struct_size = sizeof s.quote;
  if (const loy_status st = loy_checkout_commit(c, receipt.c_str(), &s.quote); st != LOY_OK) return fail(st);
  loy_checkout_free(c);
  return s;
}

loy_status sync(loy_till* till, loy_sync_result* out) {
  loy_sync_result r{};
  r.struct_size = sizeof r;
  const loy_status s = loy_till_sync(till, &r);
  if (out) *out = r;
  return s;
}

void tamper_outbox(const std::filesystem::path& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
  add_body_functions(db);
  char* error = nullptr;
  // On a till's database the caller's SQL sees every body as its text, then each is stored again as
  // the till would.
  sqlite3_stmt* outbox = nullptr;
  const bool till = sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_schema WHERE name = 'outbox'", -1, &outbox, nullptr) ==
                        SQLITE_OK && sqlite3_step(outbox) == SQLITE_ROW;
  sqlite3_finalize(outbox);
  const std::string around = till ? "BEGIN; UPDATE outbox SET body = body_text(body); " + sql +
                                        "; UPDATE outbox SET body = pack_body(body); COMMIT"
                                  : sql;
  const int rc = sqlite3_exec(db, around.c_str(), nullptr, nullptr, &error);
  const std::string message = error ? error : "";
  sqlite3_free(error);
  sqlite3_close(db);
  INFO(message);
  REQUIRE(rc == SQLITE_OK);
}

std::vector<std::string> queued_bodies(const std::filesystem::path& db_path) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  add_body_functions(db);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "SELECT body_text(body) FROM outbox ORDER BY seq", -1, &st, nullptr) == SQLITE_OK);
  std::vector<std::string> out;
  while (sqlite3_step(st) == SQLITE_ROW) out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

loy_till_status status(loy_till* till) {
  loy_till_status st{};
  st.struct_size = sizeof st;
  REQUIRE(loy_till_status_get(till, &st) == LOY_OK);
  return st;
}

loy_member_info lookup(loy_till* till, const std::string& code) {
  loy_member_info m = member_info();
  const loy_status s = loy_till_lookup(till, code.c_str(), &m);
  INFO(loy_till_last_error(till));
  REQUIRE(s == LOY_OK);
  return m;
}

loy_status refund_units(loy_till* till, const char* refund_id, const char* store, const char* receipt, const char* line,
                        std::int64_t units, loy_refund_result* out) {
  loy_refund_item item{};
  item.struct_size = sizeof item;
  item.line_id = line;
  item.units = units;
  loy_refund_result rr{};
  rr.struct_size = sizeof rr;
  const loy_status s = store ? loy_till_refund_at(till, refund_id, store, receipt, &item, 1, &rr)
                             : loy_till_refund(till, refund_id, receipt, &item, 1, &rr);
  if (out) *out = rr;
  return s;
}

void copy_dir(const std::filesystem::path& from, const std::filesystem::path& to) {
  std::filesystem::remove_all(to);
  std::filesystem::copy(from, to, std::filesystem::copy_options::recursive);
}

}  // namespace loyalty::test
