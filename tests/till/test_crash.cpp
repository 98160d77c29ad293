// A till killed with SIGKILL at random moments while committing loses no sale that was committed,
// doubles none, and leaves nothing half-written.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <thread>

#include "support.hpp"

using namespace loyalty;

namespace {

// The child: commits sales until it is killed, reporting each receipt number once its commit returned.
[[noreturn]] void commit_forever(const std::filesystem::path& config, int run, int fd) {
  loy_till* till = nullptr;
  if (loy_till_open(config.c_str(), nullptr, &till, nullptr, 0) != LOY_OK) _exit(3);
  for (std::int64_t n = 0;; ++n) {
    loy_checkout* c = nullptr;
    if (loy_checkout_begin(till, &c) != LOY_OK) _exit(4);
    const loy_line l = test::sale_line("1", "apparel", 1000 + n);
    if (loy_checkout_add_line(c, &l) != LOY_OK) _exit(5);
    const std::string receipt = "K" + std::to_string(run) + "-" + std::to_string(n);
    if (loy_checkout_commit(c, receipt.c_str(), nullptr) != LOY_OK) _exit(6);
    loy_checkout_free(c);
    if (write(fd, &n, sizeof n) != sizeof n) _exit(7);
  }
}

std::int64_t count(sqlite3* db, const char* sql) {
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  const std::int64_t v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return v;
}

std::string text(sqlite3* db, const char* sql) {
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  std::string v = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  sqlite3_finalize(st);
  return v;
}

}  // namespace

TEST_CASE("50 kills with SIGKILL while committing: every committed sale is there exactly once", "[till]") {
  test::TempDir dir;
  const auto config = test::write_config(dir.path());
  {
    test::TestTill till(config);
    const std::string rules = test::demo_rules();
    REQUIRE(loy_till_apply_rules(till, rules.data(), rules.size()) == LOY_OK);
  }
  std::mt19937 rng(20261123);
  std::int64_t committed_total = 0;
  for (int run = 0; run < 50; ++run) {
    INFO("run " << run);
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      close(fds[0]);
      commit_forever(config, run, fds[1]);
    }
    close(fds[1]);
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(5, 80)(rng)));
    kill(pid, SIGKILL);
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFSIGNALED(status));  // killed, not failed
    std::vector<std::int64_t> reported;
    std::int64_t n = 0;
    while (read(fds[0], &n, sizeof n) == sizeof n) reported.push_back(n);
    close(fds[0]);

    // The database: intact, and every sale's row of `sales` has its outbox entry. The rows of the
    // last sales may not be written yet (filed in batches): their entries are the sales.
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open((dir.path() / "data" / "till.db").c_str(), &db) == SQLITE_OK);
    CHECK(text(db, "PRAGMA integrity_check") == "ok");
    const std::int64_t sales = count(db, "SELECT COUNT(*) FROM outbox WHERE kind = 'sale'");
    CHECK(count(db, "SELECT COUNT(*) FROM sales") <= sales);
    CHECK(count(db, "SELECT COUNT(*) FROM sales s LEFT JOIN outbox o ON o.seq = s.outbox_seq "
                    "WHERE o.seq IS NULL OR o.receipt_id != s.receipt_id OR o.digest != s.digest") == 0);
    // Not filed: only the entries after the last filing.
    CHECK(count(db, "SELECT COUNT(*) FROM outbox o WHERE o.kind = 'sale' AND NOT EXISTS (SELECT 1 FROM sales s "
                    "WHERE s.origin = '' AND s.receipt_id = o.receipt_id) AND o.seq <= (SELECT value FROM meta "
                    "WHERE key = 'sales_filed_through')") == 0);
    sqlite3_close(db);
    // Reported commits are all there; at most one more (killed after its commit, before reporting).
    CHECK(sales >= committed_total + static_cast<std::int64_t>(reported.size()));
    CHECK(sales <= committed_total + static_cast<std::int64_t>(reported.size()) + 1);
    committed_total = sales;

    // Each reported receipt, committed again after the restart, is the first sale, not a second.
    {
      test::TestTill till(config);
      for (std::int64_t k : reported) {
        loy_checkout* c = nullptr;
        REQUIRE(loy_checkout_begin(till, &c) == LOY_OK);
        const loy_line l = test::sale_line("1", "apparel", 1000 + k);  // the same sale, as a POS retrying it would send
        REQUIRE(loy_checkout_add_line(c, &l) == LOY_OK);
        loy_quote q{};
        q.struct_size = sizeof q;
        const std::string receipt = "K" + std::to_string(run) + "-" + std::to_string(k);
        REQUIRE(loy_checkout_commit(c, receipt.c_str(), &q) == LOY_OK);
        CHECK(q.replayed == 1);
        CHECK(q.gross_minor == 1000 + k);
        loy_checkout_free(c);
      }
      loy_till_status st{};
      st.struct_size = sizeof st;
      REQUIRE(loy_till_status_get(till, &st) == LOY_OK);
      CHECK(st.outbox_depth == committed_total);
    }
    // Closed, the till has filed every sale.
    REQUIRE(sqlite3_open((dir.path() / "data" / "till.db").c_str(), &db) == SQLITE_OK);
    CHECK(count(db, "SELECT COUNT(*) FROM sales") == committed_total);
    sqlite3_close(db);
  }
  CHECK(committed_total > 50);  // the children did commit, run after run
}
