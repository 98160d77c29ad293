#include "bench_ledger.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>

#include "bench_pg.hpp"
#include "bench_rules.hpp"

extern char** environ;

namespace loyalty::bench {
namespace {

const char* const kKey = "6c6f79616c74792d64656d6f2d636861696e2d6b65792d6e6f742d612d736563";
constexpr std::int64_t kDayUs = 86'400'000'000;

void ensure(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error(what);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Runs loyalty-hq with `args`; its output goes to `log`. The seconds it took.
double run_hq(std::vector<std::string> args, const std::filesystem::path& log) {
  args.insert(args.begin(), LOYALTY_HQ_PATH);
  posix_spawn_file_actions_t a;
  posix_spawn_file_actions_init(&a);
  posix_spawn_file_actions_addopen(&a, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&a, 1, 2);
  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);
  const auto t0 = std::chrono::steady_clock::now();
  pid_t pid = -1;
  ensure(posix_spawn(&pid, argv[0], &a, nullptr, argv.data(), environ) == 0, "cannot start loyalty-hq");
  posix_spawn_file_actions_destroy(&a);
  int st = 0;
  waitpid(pid, &st, 0);
  ensure(WIFEXITED(st) && WEXITSTATUS(st) == 0, "loyalty-hq " + args[1] + " failed: see " + log.string());
  return seconds_since(t0);
}

std::string member_id(int i) {
  char b[16];
  std::snprintf(b, sizeof b, "M-%07d", i);
  return b;
}

void exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
  const std::string message = err ? err : "";
  sqlite3_free(err);
  ensure(rc == SQLITE_OK, std::string("SQL failed: ") + message);
}

}  // namespace

std::vector<Figure> ledger_figures(const std::filesystem::path& base, int members, const std::string& postgres) {
  const bool pg = !postgres.empty();
  const auto dir = base / (pg ? "ledger-postgres" : "ledger");
  const std::string prefix = pg ? "pg_" : "";
  const std::string url = pg ? fresh_database(postgres, "loyalty_bench_ledger") : "";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  // The ledger commands need no certificates, only files that exist.
  for (const char* f : {"ca.pem", "hq.pem", "hq.key", "enroll.pem"}) std::ofstream(dir / f) << "unused\n";
  std::ofstream(dir / "hq.json") << R"({"listen": "127.0.0.1:0", )"
                                 << (pg ? R"("storage": {"kind": "postgres", "url": ")" + url + R"("})"
                                        : std::string(R"("database": "hq.db")"))
                                 << R"(,
    "tls": {"cert_file": "hq.pem", "key_file": "hq.key", "ca_file": "ca.pem"},
    "code_key": ")" << kKey << R"(", "enrollment_key_file": "enroll.pem"})";
  std::ofstream(dir / "rules.json") << kRules;
  const std::string config = (dir / "hq.json").string();
  const auto log = dir / "hq.log";
  run_hq({"rules", "set", "--config", config, (dir / "rules.json").string()}, log);

  // Members in every tier, each with a card (the import hashes it as it would a real one).
  std::fprintf(stderr, "importing %d members...\n", members);
  {
    std::ofstream csv(dir / "members.csv");
    csv << "id,name,phone,card,birthday,tier,points\n";
    static const char* const tiers[] = {"silver", "silver", "gold", "black"};
    for (int i = 0; i < members; ++i)
      csv << member_id(i) << ",Member " << i << ",,CARD-" << i << ",," << tiers[i % 4] << ",0\n";
  }
  if (pg) {
    // Written straight into the members table (as `members import` leaves them, without their codes
    // and opening lots, which the pass does not read): an import of a million members through the
    // ledger takes minutes, and is not what is measured.
    PgDb db(url);
    std::string lines;
    static const char* const tiers[] = {"silver", "silver", "gold", "black"};
    for (int i = 0; i < members; ++i) {
      const std::string id = member_id(i);
      lines += id + "\t1\t0\tMember " + std::to_string(i) + "\tM*\t" + tiers[i % 4] + "\t0\t0\t0\n";
      if (lines.size() > (8 << 20) || i + 1 == members) {
        db.copy("members(id, version, seq, name, masked_name, tier, purchases, points, created_us)", lines);
        lines.clear();
      }
    }
  } else {
    run_hq({"members", "import", "--config", config, (dir / "members.csv").string()}, log);
  }

  // Three sales a member over the 400 days before the pass, written straight into headquarters'
  // sales table (the columns the tier pass reads) as its ingest would have left them.
  const std::int64_t pass_us = 1'780'254'000'000'000;  // 2026-06-01T03:00:00+08:00
  std::fprintf(stderr, "writing %d sales...\n", 3 * members);
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<std::int64_t> day(0, 399), amount(10'000, 250'000);
  if (pg) {
    PgDb db(url);
    std::string lines;
    char line[160];
    for (int i = 0; i < members; ++i) {
      const std::string id = member_id(i);
      for (int k = 0; k < 3; ++k) {
        const std::int64_t spend = amount(rng);
        const int n = 3 * i + k;
        std::snprintf(line, sizeof line, "%d\t%032x\tS001\t%032x\t%s\t%lld\t%lld\t%lld\t%lld\t0\t0\t0\tbench\n", n + 1, n,
                      n, id.c_str(), static_cast<long long>(pass_us - day(rng) * kDayUs - 3600'000'000),
                      static_cast<long long>(spend), static_cast<long long>(spend), static_cast<long long>(spend));
        lines += line;
      }
      if (lines.size() > (8 << 20) || i + 1 == members) {
        db.copy("sales(row, txn_id, store_id, receipt_id, member_id, at_us, payable_minor, spend_sold_minor, spend_minor, "
                "points_earned, points_redeemed, till_points_earned, rules_version)",
                lines);
        lines.clear();
      }
    }
    db.exec("ANALYZE");
  } else {
    sqlite3* db = nullptr;
    ensure(sqlite3_open((dir / "hq.db").c_str(), &db) == SQLITE_OK, "open hq.db");
    exec(db, "PRAGMA synchronous=OFF; BEGIN");
    sqlite3_stmt* st = nullptr;
    ensure(sqlite3_prepare_v2(db, "INSERT INTO sales(txn_id, store_id, receipt_id, member_id, payable_minor, "
                                  "points_earned, points_redeemed, at_us, till_points_earned, rules_version, spend_minor, spend_sold_minor) "
                                  "VALUES(?1, 'S001', ?1, ?2, ?3, 0, 0, ?4, 0, 'bench', ?3, ?3)",
                              -1, &st, nullptr) == SQLITE_OK,
           std::string("prepare: ") + sqlite3_errmsg(db));
    char txn[40];
    for (int i = 0; i < members; ++i) {
      const std::string id = member_id(i);
      for (int k = 0; k < 3; ++k) {
        std::snprintf(txn, sizeof txn, "%032x", 3 * i + k);
        sqlite3_bind_text(st, 1, txn, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, id.c_str(), -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, amount(rng));
        sqlite3_bind_int64(st, 4, pass_us - day(rng) * kDayUs - 3600'000'000);
        ensure(sqlite3_step(st) == SQLITE_DONE, "insert a sale");
        sqlite3_reset(st);
      }
    }
    sqlite3_finalize(st);
    exec(db, "COMMIT");
    sqlite3_close(db);
  }

  // The bare limit: one query reading every member with its window's spend, as the pass reads them.
  double bare_seconds = 0;
  if (pg) {
    PgDb db(url);
    const auto t0 = std::chrono::steady_clock::now();
    const std::string sum = db.value(
        "SELECT SUM(w) FROM (SELECT m.id, m.tier, (SELECT COALESCE(SUM(s.spend_minor), 0) FROM sales s "
        "WHERE s.member_id = m.id AND s.at_us > " + std::to_string(pass_us - 365 * kDayUs) + " AND s.at_us <= " +
        std::to_string(pass_us) + ") AS w FROM members m ORDER BY m.id) r");
    bare_seconds = seconds_since(t0);
    ensure(!sum.empty() && sum != "0", "the bare read found no spend");
  } else {
    sqlite3* db = nullptr;
    ensure(sqlite3_open_v2((dir / "hq.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK, "open hq.db");
    sqlite3_stmt* st = nullptr;
    ensure(sqlite3_prepare_v2(db, "SELECT m.id, m.tier, (SELECT TOTAL(s.spend_minor) "
                                  "FROM sales s WHERE s.member_id = m.id AND s.at_us > ?1 AND s.at_us <= ?2) "
                                  "FROM members m ORDER BY m.id",
                              -1, &st, nullptr) == SQLITE_OK,
           "prepare the bare read");
    sqlite3_bind_int64(st, 1, pass_us - 365 * kDayUs);
    sqlite3_bind_int64(st, 2, pass_us);
    const auto t0 = std::chrono::steady_clock::now();
    std::int64_t sum = 0;
    while (sqlite3_step(st) == SQLITE_ROW) sum += static_cast<std::int64_t>(sqlite3_column_double(st, 2));
    bare_seconds = seconds_since(t0);
    ensure(sum > 0, "the bare read found no spend");
    sqlite3_finalize(st);
    sqlite3_close(db);
  }

  // The pass itself, as the operator's command runs it: first over members whose every figure
  // changes (the first pass after an import), then the next day's.
  std::fprintf(stderr, "tier pass over %d members...\n", members);
  const double first = run_hq({"tiers", "--config", config, "--now", "2026-06-01T03:00:00+08:00"}, log);
  const double next = run_hq({"tiers", "--config", config, "--now", "2026-06-02T03:00:00+08:00"}, log);
  std::fprintf(stderr, "tier pass: %.1f s, the next day's %.1f s; bare read %.1f s\n", first, next, bare_seconds);
  return {{prefix + "tier_pass_seconds", first, "s", prefix + "bare_window_read_seconds", bare_seconds},
          {prefix + "tier_pass_next_day_seconds", next, "s", prefix + "bare_window_read_seconds", bare_seconds}};
}

}  // namespace loyalty::bench
