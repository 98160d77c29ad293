// A real loyalty-hq process on 127.0.0.1 for the sync tests, the chain's certificates it and the
// tills use, and tills configured to sync with it.
#pragma once

#include <functional>

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "../till/support.hpp"
#include "loyalty/loyalty.h"
#include "pki.hpp"

struct sqlite3_stmt;

namespace loyalty::test {

// The chain's files in `dir`: ca.pem; hq.pem/hq.key for 127.0.0.1 and localhost; store-<ID>.pem/.key
// for each store; headquarters' enrollment key pair (hq-enroll-private.pem, hq-enroll-public.pem).
class Chain {
 public:
  explicit Chain(const std::filesystem::path& dir, const std::vector<std::string>& stores = {"S001", "S002"});
  const std::filesystem::path& dir() const { return dir_; }
  const TestCa& ca() const { return ca_; }

 private:
  std::filesystem::path dir_;
  TestCa ca_;
};

struct CliResult {
  int exit_code = -1;
  std::string out;  // stdout and stderr
};

// Which storage the tests' headquarters use: SQLite (hq.db in its folder), or PostgreSQL when
// LOYALTY_TEST_PG_STATE names the state file of the cluster tests/support/pg_cluster.sh started (its
// URL in LOYALTY_TEST_PG_STATE.url), each HqProcess in a database of its own. A test run for
// PostgreSQL that finds no cluster fails; it never passes by skipping.
bool postgres_mode();

class HqProcess {
 public:
  // Headquarters in `dir` (hq.json, hq.db, hq.log) with the chain's files of `chain_dir`. `edit` is
  // merged into hq.json.
  HqProcess(const std::filesystem::path& dir, const std::filesystem::path& chain_dir,
            const nlohmann::json& edit = nlohmann::json::object());
  ~HqProcess();
  HqProcess(const HqProcess&) = delete;
  HqProcess& operator=(const HqProcess&) = delete;

  // Starts `serve` and waits until it listens. The first start takes a free port; later starts
  // listen on the same one, so tills configured with url() reach it again.
  void start();
  void stop();  // SIGTERM, and waits for it to exit; REQUIREs exit code 0
  void kill();  // SIGKILL
  bool running() const { return pid_ > 0; }
  std::uint16_t port() const { return port_; }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }
  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path config() const { return dir_ / "hq.json"; }

  // Merges `edit` into hq.json (for the next start or command).
  void edit_config(const nlohmann::json& edit) const;
  // Runs `loyalty-hq ARGS... --config hq.json`.
  CliResult cli(std::vector<std::string> args) const;
  void publish_rules(const std::filesystem::path& rules) const;
  void import_members(const std::string& csv) const;
  nlohmann::json member(const std::string& id) const;  // from `members list --json`; null when absent
  // One integer from headquarters' database (read-only), e.g. "SELECT COUNT(*) FROM sales". On
  // PostgreSQL, SQLite's `rowid` of txns and `left` of lots are read as `row` and `points_left`.
  std::int64_t query(const std::string& sql) const;
  std::string query_text(const std::string& sql) const;  // the first column of the first row, as text
  // Holds headquarters' database so that no write gets through until it is dropped, while reads still
  // do: SQLite's write lock (BEGIN IMMEDIATE), or PostgreSQL's EXCLUSIVE lock of the members table.
  class WriteHold {
   public:
    virtual ~WriteHold() = default;
  };
  std::unique_ptr<WriteHold> hold_writes() const;
  // PostgreSQL: this headquarters' database, for a second instance to share ("" on SQLite).
  const std::string& storage_url() const { return pg_url_; }
  // Changes headquarters' database behind its back (a damaged row), on either storage.
  void execute(const std::string& sql) const;
  // True when headquarters keeps the feed's mark beside its database (SQLite): a database put back
  // from a backup is then found at start, not only by the tills' cursors.
  bool keeps_feed_mark() const { return pg_url_.empty(); }
  std::string log() const;

  // Headquarters' database as a backup holds it: stops, copies hq.db (its WAL and the feed's mark
  // beside it) into `dir`, starts again.
  void save_copy(const std::filesystem::path& dir);
  // Puts the database back from a copy of save_copy(): stops, replaces it (the feed's mark too when
  // `with_mark`, as a whole folder restored), starts again.
  void restore_copy(const std::filesystem::path& dir, bool with_mark);

 private:
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  // SQLite: runs `sql` and gives `read` its first row.
  void first_row(const std::string& sql, const std::function<void(sqlite3_stmt*)>& read) const;
  std::string pg_server_, pg_database_, pg_url_;  // PostgreSQL: the cluster, this headquarters' database on it
};

// A till's configuration for store `store`, till `till`, syncing with `hq_url` with the chain's files.
std::filesystem::path write_till_config(const std::filesystem::path& dir, const std::string& store,
                                        const std::string& till, const std::string& hq_url,
                                        const std::filesystem::path& chain_dir,
                                        const nlohmann::json& edit = nlohmann::json::object());

// The demo chain's rules (tests/data/rules/demo-chain.json).
std::filesystem::path demo_rules_path();

// The members every sync test starts with: M-1 (phone 13800000001, card CARD-0001, gold, 5000
// points), M-2 (13800000002, silver, 1000 points), M-3 (13800000003, black, 300 points).
inline const char* const kMembersCsv =
    "id,name,phone,card,birthday,tier,points\n"
    "M-1,Ann Lee,13800000001,CARD-0001,05-17,gold,5000\n"
    "M-2,Bo Chen,13800000002,,,silver,1000\n"
    "M-3,\"Wang, Fang\",13800000003,,12-24,black,300\n";

// A temporary folder with the chain's files and a running headquarters holding the demo rules and
// kMembersCsv. `hq_edit` is merged into headquarters' configuration.
struct SyncWorld {
  explicit SyncWorld(const nlohmann::json& hq_edit = nlohmann::json::object());
  TempDir tmp;
  Chain chain;
  HqProcess hq;
  // A till of `store` syncing with headquarters (or with `url`, a proxy in front of it).
  std::filesystem::path till(const std::string& store, const std::string& till_id,
                             const nlohmann::json& edit = nlohmann::json::object(), const std::string& url = "");
};

struct Sold {
  loy_status status = LOY_OK;
  loy_quote quote{};
  std::string error;
};

// Commits a one-line sale of `amount` (apparel) for the member scanned as `code` ("" for an
// anonymous sale), asking to redeem `redeem` points, at the till's clock.
Sold sell(loy_till* till, const std::string& receipt, const std::string& code, std::int64_t amount,
          std::int64_t redeem = 0);

loy_status sync(loy_till* till, loy_sync_result* out = nullptr);
// The transactions a till queued, from its database (read after the till closed).
std::vector<std::string> queued_bodies(const std::filesystem::path& db_path);
loy_till_status status(loy_till* till);
// Runs `sql` on a closed till's database (a test altering what it queued), with every outbox body
// as its text (packed ones are unpacked before and packed again after).
void tamper_outbox(const std::filesystem::path& db_path, const std::string& sql);
loy_member_info lookup(loy_till* till, const std::string& code);

// Refunds `units` of line `line` of receipt `receipt` under `refund_id`: a sale of store `store`
// (loy_till_refund_at), or of this till (`store` null, loy_till_refund).
loy_status refund_units(loy_till* till, const char* refund_id, const char* store, const char* receipt, const char* line,
                        std::int64_t units, loy_refund_result* out = nullptr);

// Replaces `to` with a copy of `from` (a till's data folder put back from a backup).
void copy_dir(const std::filesystem::path& from, const std::filesystem::path& to);

}  // namespace loyalty::test
