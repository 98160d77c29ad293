#include "bench_sync.hpp"

#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fcntl.h>
#include <fstream>
#include <numeric>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "../sync/pki.hpp"
#include "bench_pg.hpp"
#include "bench_rules.hpp"
#include "loyalty/loyalty.h"
#include "loyalty/store/packed_body.hpp"
#include "loyalty/sync/https_client.hpp"
#include "loyalty/protocol/batch.hpp"
#include <nlohmann/json.hpp>

extern char** environ;

namespace loyalty::bench {
namespace {

constexpr int kMembers = 1000;
constexpr int kBatch = 500;
constexpr std::size_t kBareRows = 100'300;  // a full run's timed sync: 100,000 sales and 300 more
constexpr int kSenders = 8;                 // tills posting at once in the ingest figure
const char* const kKey = "6c6f79616c74792d64656d6f2d636861696e2d6b65792d6e6f742d612d736563";

void ensure(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error(what);
}

std::string read(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write(const std::filesystem::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

pid_t spawn(const std::vector<std::string>& args, const std::filesystem::path& log) {
  posix_spawn_file_actions_t a;
  posix_spawn_file_actions_init(&a);
  posix_spawn_file_actions_addopen(&a, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&a, 1, 2);
  std::vector<char*> argv;
  for (const auto& s : args) argv.push_back(const_cast<char*>(s.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  ensure(posix_spawn(&pid, argv[0], &a, nullptr, argv.data(), environ) == 0, "cannot start " + args[0]);
  posix_spawn_file_actions_destroy(&a);
  return pid;
}

int wait_for(pid_t pid) {
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void run(const std::vector<std::string>& args, const std::filesystem::path& log) {
  ensure(wait_for(spawn(args, log)) == 0, args[1] + " failed: see " + log.string());
}

// The peak resident set of a process, from /proc (kB -> bytes).
double peak_rss_bytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) * 1024;
  return -1;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

loy_status commit_one(loy_till* till, const std::string& receipt, const std::string& phone) {
  loy_checkout* c = nullptr;
  ensure(loy_checkout_begin(till, &c) == LOY_OK, "begin");
  ensure(loy_checkout_identify(c, phone.c_str(), nullptr) == LOY_OK, "identify");
  for (int l = 0; l < 3; ++l) {
    const std::string id = std::to_string(l);
    loy_line ln{};
    ln.struct_size = sizeof ln;
    ln.id = id.c_str();
    ln.sku = "SKU-1";
    ln.category = l == 2 ? "eco" : "apparel";
    ln.qty = 1;
    ln.amount_minor = 1990 + 100 * l;
    ensure(loy_checkout_add_line(c, &ln) == LOY_OK, "line");
  }
  const loy_status s = loy_checkout_commit(c, receipt.c_str(), nullptr);
  loy_checkout_free(c);
  return s;
}

std::string phone(int i) {
  char b[16];
  std::snprintf(b, sizeof b, "139%08d", i);
  return b;
}

using Rows = std::vector<std::pair<std::string, std::string>>;

// Posts `rows` to headquarters at `port` from kSenders tills at once, each in batches of kBatch of
// its own members (as the stores of a chain do), and returns rows/s.
double post_at_once(const Rows& rows, const std::string& port, const std::filesystem::path& pki) {
  std::vector<std::vector<std::string>> bodies(kSenders);
  for (const auto& [id, body] : rows) {
    const auto j = nlohmann::json::parse(body);
    const std::string member = j.value("member_id", std::string());
    bodies[std::hash<std::string>{}(member) % kSenders].push_back(body);
  }
  std::atomic<int> failures{0};
  std::string first_error;
  std::mutex error_mu;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> senders;
  for (int k = 0; k < kSenders; ++k) {
    senders.emplace_back([&, k] {
      try {
        sync::HttpsClient client("https://127.0.0.1:" + port,
                                 sync::TlsFiles{pki / "ca.pem", pki / "store.pem", pki / "store.key"});
        const auto& mine = bodies[static_cast<std::size_t>(k)];
        for (std::size_t i = 0, n = 0; i < mine.size(); i += kBatch, ++n) {
          const std::vector<std::string> part(mine.begin() + static_cast<std::ptrdiff_t>(i),
                                              mine.begin() + static_cast<std::ptrdiff_t>(std::min(mine.size(), i + kBatch)));
          const std::string till = "I" + std::to_string(k);
          const auto r = client.request("POST", "/v1/batches",
                                        protocol::batch_json(till, till + "-" + std::to_string(n), part), "",
                                        std::chrono::milliseconds(60000));
          if (r.status != 200) throw std::runtime_error("HTTP " + std::to_string(r.status) + ": " + r.body.substr(0, 300));
        }
      } catch (const std::exception& e) {
        ++failures;
        std::lock_guard lock(error_mu);
        first_error = e.what();
      }
    });
  }
  for (auto& t : senders) t.join();
  const double seconds = seconds_since(t0);
  ensure(failures == 0, "the ingest failed: " + first_error);
  return static_cast<double>(rows.size()) / seconds;
}

// `rows` again under new transaction and receipt ids (a run's copy `n`), until there are `want`.
Rows padded(Rows rows, std::size_t want) {
  for (std::size_t i = 0, n = rows.size(); n > 0 && rows.size() < want; ++i) {
    auto j = nlohmann::json::parse(rows[i % n].second);
    char id[40];
    std::snprintf(id, sizeof id, "%08zx%024zx", i / n + 1, i % n);
    j["txn_id"] = id;
    j["receipt_id"] = j.value("receipt_id", std::string()) + "-" + std::to_string(i / n + 1);
    rows.emplace_back(id, j.dump());
  }
  return rows;
}

}  // namespace

std::vector<Figure> sync_figures(const std::filesystem::path& base, int sales, const std::string& postgres) {
  const bool pg = !postgres.empty();
  const auto dir = base / (pg ? "sync-postgres" : "sync");
  const std::string prefix = pg ? "pg_" : "";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir / "pki");
  const auto pki = dir / "pki";
  {
    test::TestCa ca("loyalty bench CA");
    write(pki / "ca.pem", ca.cert_pem());
    ca.issue("localhost", {"DNS:localhost", "IP:127.0.0.1"}, true).write(pki, "hq");
    ca.issue("S001", {}, false).write(pki, "store");
  }
  // Headquarters' enrollment key pair (unused by sales, required by both configurations).
  ensure(std::system(("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out '" + (pki / "enroll.pem").string() +
                      "' 2>/dev/null && openssl pkey -in '" + (pki / "enroll.pem").string() + "' -pubout -out '" +
                      (pki / "enroll-public.pem").string() + "'")
                         .c_str()) == 0,
         "openssl could not make the enrollment key pair");
  const std::string storage =
      pg ? R"("storage": {"kind": "postgres", "url": ")" + fresh_database(postgres, "loyalty_bench_sync") + R"("})"
         : std::string(R"("database": "hq.db")");
  write(dir / "hq.json", std::string(R"({"listen": "127.0.0.1:0", )") + storage + R"(,
    "tls": {"cert_file": "pki/hq.pem", "key_file": "pki/hq.key", "ca_file": "pki/ca.pem"},
    "code_key": ")" + kKey + R"(", "enrollment_key_file": "pki/enroll.pem"})");
  write(dir / "rules.json", kRules);
  std::string csv = "id,name,phone,card,birthday,tier,points\n";
  for (int i = 0; i < kMembers; ++i)
    csv += "M-" + std::to_string(i) + ",Member " + std::to_string(i) + "," + phone(i) + ",,," +
           (i % 3 == 0 ? "gold" : "silver") + ",1000\n";
  write(dir / "members.csv", csv);
  const auto log = dir / "hq.log";
  const std::string hq_bin = LOYALTY_HQ_PATH;
  const std::string hq_config = (dir / "hq.json").string();
  run({hq_bin, "rules", "set", "--config", hq_config, (dir / "rules.json").string()}, log);
  run({hq_bin, "members", "import", "--config", hq_config, (dir / "members.csv").string()}, log);
  // Headquarters runs on a machine of its own: here, on a core of its own (the last), with the till on
  // the others. The disk stays shared, which the bare commit beside the till's shows.
  const unsigned cores = std::thread::hardware_concurrency();
  cpu_set_t saved;
  CPU_ZERO(&saved);
  sched_getaffinity(0, sizeof saved, &saved);
  std::vector<std::string> serve = {hq_bin, "serve", "--config", hq_config, "--port-file", (dir / "port").string()};
  if (cores >= 2) {
    cpu_set_t till_cores;
    CPU_ZERO(&till_cores);
    for (unsigned c = 0; c + 1 < cores; ++c) CPU_SET(c, &till_cores);
    sched_setaffinity(0, sizeof till_cores, &till_cores);
    serve.insert(serve.begin(), {"/usr/bin/taskset", "-c", std::to_string(cores - 1)});
  }
  struct RestoreAffinity {
    cpu_set_t* set;
    ~RestoreAffinity() { sched_setaffinity(0, sizeof *set, set); }
  } restore{&saved};
  const pid_t hq = spawn(serve, log);
  for (int i = 0; i < 3000 && !std::filesystem::exists(dir / "port"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ensure(std::filesystem::exists(dir / "port"), "loyalty-hq did not start: see " + log.string());
  const std::string port = std::to_string(std::stoi(read(dir / "port")));

  std::vector<Figure> out;
  std::size_t synced_rows = 0;
  try {
    std::filesystem::create_directories(dir / "till");
    const auto config = dir / "till" / "till.json";
    const auto write_config = [&](int interval) {
      write(config, std::string(R"({"data_dir": "data", "store_id": "S001", "till_id": "T01", "code_key": ")") + kKey +
                        R"(", "hq": {"url": "https://127.0.0.1:)" + port +
                        R"(", "ca_file": "../pki/ca.pem", "cert_file": "../pki/store.pem",
        "key_file": "../pki/store.key", "enrollment_key_file": "../pki/enroll-public.pem"},
        "sync": {"interval_seconds": )" + std::to_string(interval) + R"(, "batch_size": )" + std::to_string(kBatch) + "}}");
    };
    write_config(0);
    loy_till* till = nullptr;
    char error[512];
    ensure(loy_till_open(config.c_str(), nullptr, &till, error, sizeof error) == LOY_OK, error);
    loy_sync_result r{};
    r.struct_size = sizeof r;
    ensure(loy_till_sync(till, &r) == LOY_OK, std::string("first sync: ") + loy_till_last_error(till));

    // The sales go to one member in a hundred, as in the full run's 100,000 sales over 1,000 members:
    // the member records that come back per sale (the changes feed) are as many in a quick run,
    // which therefore reads the same rate.
    const int buyers = std::clamp(sales / 100, 10, kMembers);
    std::fprintf(stderr, "queueing %d sales of %d members at the till...\n", sales, buyers);
    for (int i = 0; i < sales; ++i)
      ensure(commit_one(till, "S-" + std::to_string(i), phone(i % buyers)) == LOY_OK, "commit");

    // Commit latency at rest, each beside a bare one-row WAL synchronous=FULL commit on the same disk,
    // taken in turns: the bare one shows what the machine itself does to commits.
    sqlite3* bare = nullptr;
    ensure(sqlite3_open((dir / "bare-commit.db").c_str(), &bare) == SQLITE_OK, "bare commit open");
    sqlite3_exec(bare, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE t(id INTEGER PRIMARY KEY, body TEXT)",
                 nullptr, nullptr, nullptr);
    const auto bare_commit = [&] {
      const auto t0 = std::chrono::steady_clock::now();
      ensure(sqlite3_exec(bare, "INSERT INTO t(body) VALUES(hex(randomblob(1000)))", nullptr, nullptr, nullptr) ==
                 SQLITE_OK,
             "bare commit");
      return seconds_since(t0) * 1e6;
    };
    const auto timed_commit = [&](const std::string& receipt, int i) {
      const auto t0 = std::chrono::steady_clock::now();
      ensure(commit_one(till, receipt, phone(i % buyers)) == LOY_OK, "commit");
      return seconds_since(t0) * 1e6;
    };
    const int idle_commits = 300;
    std::vector<double> idle, busy, bare_idle, bare_busy;
    for (int i = 0; i < idle_commits; ++i) {
      idle.push_back(timed_commit("I-" + std::to_string(i), i));
      bare_idle.push_back(bare_commit());
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }

    // The rate: all of it in one sync.
    const int queued = sales + idle_commits;
    auto t0 = std::chrono::steady_clock::now();
    ensure(loy_till_sync(till, &r) == LOY_OK, std::string("sync: ") + loy_till_last_error(till));
    const double sync_seconds = seconds_since(t0);
    ensure(r.applied == queued, "the sync did not apply every queued sale");
    synced_rows = static_cast<std::size_t>(queued);
    out.push_back({prefix + "sync_sales_per_second", queued / sync_seconds, "sales/s",
                   prefix + "bare_batched_insert_rows_per_second", 0});
    std::fprintf(stderr, "synced %d sales in %.2f s\n", queued, sync_seconds);

    // Checkouts while the till's background thread syncs another backlog, as a till in a store does.
    const int backlog = std::max(sales / 4, 2000);
    for (int i = 0; i < backlog; ++i)
      ensure(commit_one(till, "B-" + std::to_string(i), phone(i % buyers)) == LOY_OK, "commit");
    loy_till_close(till);
    write_config(3600);  // the background sync runs at open, and not again during the measurement
    ensure(loy_till_open(config.c_str(), nullptr, &till, error, sizeof error) == LOY_OK, error);
    t0 = std::chrono::steady_clock::now();
    loy_till_status st{};
    st.struct_size = sizeof st;
    for (int i = 0;; ++i) {
      if (i % 20 == 0) {
        ensure(loy_till_status_get(till, &st) == LOY_OK, "status");
        if (st.outbox_depth <= i) break;  // only the commits of this loop are left
        ensure(seconds_since(t0) < 600, "the background sync did not finish");
      }
      busy.push_back(timed_commit("D-" + std::to_string(i), i));
      bare_busy.push_back(bare_commit());
      std::this_thread::sleep_for(std::chrono::milliseconds(2));  // a busy till, not a flood
    }
    std::fprintf(stderr, "background sync of %d sales: %zu commits during it\n", backlog, busy.size());
    const auto mean_of = [](const std::vector<double>& v) {
      return v.empty() ? 0 : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
    };
    out.push_back({prefix + "commit_mean_during_sync", mean_of(busy), "us", prefix + "commit_mean_idle", mean_of(idle)});
    out.push_back({prefix + "bare_commit_mean_during_sync", mean_of(bare_busy), "us", prefix + "bare_commit_mean_idle",
                   mean_of(bare_idle)});
    out.push_back({prefix + "hq_peak_rss", peak_rss_bytes(hq), "bytes", "", 0});
    const auto pct = [](std::vector<double> v, double p) {
      std::sort(v.begin(), v.end());
      return v.empty() ? 0.0 : v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
    };
    std::fprintf(stderr, "commit us idle p50 %.0f p90 %.0f p99 %.0f max %.0f; during sync p50 %.0f p90 %.0f p99 %.0f max %.0f\n",
                 pct(idle, 0.5), pct(idle, 0.9), pct(idle, 0.99), pct(idle, 1), pct(busy, 0.5), pct(busy, 0.9),
                 pct(busy, 0.99), pct(busy, 1));
    sqlite3_close(bare);
    loy_till_close(till);
  } catch (...) {
    kill(hq, SIGTERM);
    wait_for(hq);
    throw;
  }
  kill(hq, SIGTERM);
  ensure(wait_for(hq) == 0, "loyalty-hq did not stop cleanly: see " + log.string());

  // The bare limit: the same transactions (txn_id, body) inserted with INSERT OR IGNORE in
  // transactions of 500 rows, WAL and synchronous=FULL, as headquarters' database is opened.
  std::vector<std::pair<std::string, std::string>> rows;
  {
    sqlite3* db = nullptr;
    ensure(sqlite3_open_v2((dir / "till" / "data" / "till.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK,
           "open till.db");
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "SELECT txn_id, body FROM outbox ORDER BY seq", -1, &st, nullptr);
    while (sqlite3_step(st) == SQLITE_ROW) {
      // A body is packed (schema 5) or text; headquarters receives and keeps its text.
      const auto* p = static_cast<const char*>(sqlite3_column_blob(st, 1));
      const std::string_view stored(p ? p : "", static_cast<std::size_t>(sqlite3_column_bytes(st, 1)));
      rows.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)),
                        sqlite3_column_type(st, 1) == SQLITE_BLOB ? store::unpack_body(stored) : std::string(stored));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    rows.resize(std::min(rows.size(), synced_rows));  // the rows of the timed sync
  }
  const Rows synced = rows;
  // The raw limit is the machine's, whatever the size of the run: it is measured on as many rows as a
  // full run syncs (the timed sync's rows again under other ids), since SQLite's rate into a table of
  // 10,000 rows is far above its rate into one of 100,000, and a quick run would read another limit.
  for (std::size_t i = 0, n = rows.size(); n > 0 && rows.size() < kBareRows; ++i)
    rows.emplace_back(rows[i % n].first + "-" + std::to_string(i / n + 1), rows[i % n].second);
  double bare_rate = 0;
  if (pg) {
    // The same rows into the same server: batches of 500 as one INSERT ... ON CONFLICT DO NOTHING each.
    PgDb db(fresh_database(postgres, "loyalty_bench_bare"));
    db.exec("CREATE TABLE t(txn_id TEXT PRIMARY KEY, body TEXT NOT NULL)");
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < rows.size(); i += kBatch) db.insert_batch(rows, i, std::min(rows.size(), i + kBatch));
    bare_rate = static_cast<double>(rows.size()) / seconds_since(t0);
    ensure(db.value("SELECT COUNT(*) FROM t") == std::to_string(rows.size()), "the bare insert lost rows");
  } else {
    const auto path = dir / "bare.db";
    sqlite3* db = nullptr;
    ensure(sqlite3_open(path.c_str(), &db) == SQLITE_OK, "bare open");
    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                     "CREATE TABLE t(txn_id TEXT PRIMARY KEY, body TEXT NOT NULL) WITHOUT ROWID",
                 nullptr, nullptr, nullptr);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO t(txn_id, body) VALUES(?1, ?2)", -1, &st, nullptr);
    const auto t0 = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < rows.size(); i += kBatch) {
      sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
      for (std::size_t k = i; k < std::min(rows.size(), i + kBatch); ++k) {
        sqlite3_bind_text(st, 1, rows[k].first.c_str(), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, rows[k].second.c_str(), -1, SQLITE_STATIC);
        ensure(sqlite3_step(st) == SQLITE_DONE, "bare insert");
        sqlite3_reset(st);
      }
      ensure(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK, "bare commit");
    }
    bare_rate = static_cast<double>(rows.size()) / seconds_since(t0);
    sqlite3_finalize(st);
    sqlite3_close(db);
  }
  out[0].baseline_value = bare_rate;

  // Headquarters' ingest capacity, as a chain's tills load it: the same rows (new ids again, as many
  // as a full run's) to a headquarters and database of their own, from kSenders tills at once, each
  // with its own members. Against the bare insert of those rows at its best: one connection, or
  // kSenders at once.
  const Rows ingest_rows = padded(synced, kBareRows);
  {
    const std::string storage_of_ingest =
        pg ? R"("storage": {"kind": "postgres", "url": ")" + fresh_database(postgres, "loyalty_bench_ingest") + R"("})"
           : std::string(R"("database": "ingest.db")");
    std::filesystem::remove(dir / "ingest.db");
    std::filesystem::remove(dir / "ingest-port");
    write(dir / "ingest.json", std::string(R"({"listen": "127.0.0.1:0", )") + storage_of_ingest + R"(,
      "tls": {"cert_file": "pki/hq.pem", "key_file": "pki/hq.key", "ca_file": "pki/ca.pem"},
      "workers": {"batches": )" + std::to_string(kSenders) + R"(},
      "limits": {"store_requests_per_second": 100000, "store_burst": 100000},
      "code_key": ")" + kKey + R"(", "enrollment_key_file": "pki/enroll.pem"})");
    const std::string ingest_config = (dir / "ingest.json").string();
    run({hq_bin, "rules", "set", "--config", ingest_config, (dir / "rules.json").string()}, log);
    run({hq_bin, "members", "import", "--config", ingest_config, (dir / "members.csv").string()}, log);
    const pid_t ingest_hq =
        spawn({hq_bin, "serve", "--config", ingest_config, "--port-file", (dir / "ingest-port").string()}, log);
    for (int i = 0; i < 3000 && !std::filesystem::exists(dir / "ingest-port"); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    double rate = 0;
    try {
      ensure(std::filesystem::exists(dir / "ingest-port"), "loyalty-hq did not start: see " + log.string());
      std::fprintf(stderr, "ingest: %zu sales from %d tills at once...\n", ingest_rows.size(), kSenders);
      rate = post_at_once(ingest_rows, std::to_string(std::stoi(read(dir / "ingest-port"))), pki);
    } catch (...) {
      kill(ingest_hq, SIGTERM);
      wait_for(ingest_hq);
      throw;
    }
    kill(ingest_hq, SIGTERM);
    ensure(wait_for(ingest_hq) == 0, "loyalty-hq did not stop cleanly: see " + log.string());
    std::string applied;
    if (pg) {
      applied = PgDb(postgres + "/loyalty_bench_ingest").value("SELECT COUNT(*) FROM sales");
    } else {
      sqlite3* db = nullptr;
      ensure(sqlite3_open_v2((dir / "ingest.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK, "ingest.db");
      sqlite3_stmt* st = nullptr;
      sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM sales", -1, &st, nullptr);
      if (sqlite3_step(st) == SQLITE_ROW) applied = std::to_string(sqlite3_column_int64(st, 0));
      sqlite3_finalize(st);
      sqlite3_close(db);
    }
    ensure(applied == std::to_string(ingest_rows.size()), "the ingest applied " + applied + " of " +
                                                               std::to_string(ingest_rows.size()) + " sales");
    double bare_best = bare_rate;  // SQLite has one writer
    if (pg) {
      for (const int connections : {1, kSenders}) {
        PgDb setup(fresh_database(postgres, "loyalty_bench_bare"));
        setup.exec("CREATE TABLE t(txn_id TEXT PRIMARY KEY, body TEXT NOT NULL)");
        std::vector<Rows> parts(static_cast<std::size_t>(connections));
        for (std::size_t i = 0; i < ingest_rows.size(); ++i)
          parts[(i / kBatch) % static_cast<std::size_t>(connections)].push_back(ingest_rows[i]);
        std::vector<std::thread> threads;
        std::atomic<int> failed{0};
        const auto t0 = std::chrono::steady_clock::now();
        for (const Rows& part : parts)
          threads.emplace_back([&, &part = part] {
            try {
              PgDb db(postgres + "/loyalty_bench_bare");
              for (std::size_t i = 0; i < part.size(); i += kBatch) db.insert_batch(part, i, std::min(part.size(), i + kBatch));
            } catch (const std::exception&) {
              ++failed;
            }
          });
        for (auto& t : threads) t.join();
        const double r = static_cast<double>(ingest_rows.size()) / seconds_since(t0);
        ensure(failed == 0 && setup.value("SELECT COUNT(*) FROM t") == std::to_string(ingest_rows.size()),
               "the bare insert failed");
        std::fprintf(stderr, "bare insert over %d connections: %.0f rows/s\n", connections, r);
        bare_best = std::max(bare_best, r);
      }
    }
    std::fprintf(stderr, "ingest: %.0f sales/s from %d tills at once\n", rate, kSenders);
    out.push_back({prefix + "ingest_sales_per_second", rate, "sales/s", prefix + "bare_insert_best_rows_per_second",
                   bare_best});
  }
  return out;
}

}  // namespace loyalty::bench
