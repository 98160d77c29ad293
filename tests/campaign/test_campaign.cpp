// The promise as a whole: "a sale whose commit returned OK reaches headquarters' ledger exactly once".
// A seeded, bounded campaign drives tills of several stores through a real loyalty-hq while it
// restarts and kills headquarters and tills, puts a till's and headquarters' database back from
// earlier copies, cuts connections, jumps a till's clock, renames a till, swaps headquarters'
// enrollment key and back, and shrinks its changes page. Then, from headquarters' and the tills' own
// data: every commit that returned OK is in the ledger exactly once, each member's balance is the sum
// of their applied transactions, every till's cache agrees with headquarters, and no till holds a
// transaction headquarters has not stored.
//
// LOYALTY_CAMPAIGN_SEED picks the seed (printed, to replay a failure); LOYALTY_CAMPAIGN_STEPS the
// number of steps (default 150); LOYALTY_CAMPAIGN_KEEP a directory to copy the chain's data into before the check.
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <thread>

#include "../sync/hq_fixture.hpp"
#include "../sync/proxy.hpp"

using namespace loyalty::test;
namespace fs = std::filesystem;

namespace {

std::uint64_t env_or(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::stoull(v) : fallback;
}

std::string iso_from_now(std::chrono::seconds delta) {
  const std::time_t secs = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now() + delta);
  char at[40];
  std::strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&secs));
  return at;
}

// A commit that returned OK, as the POS keeps it in its own journal: enough to commit it again.
struct Commit {
  enum Kind { sale, refund, enrollment } kind = sale;
  std::string till_id;  // the till's id when it was committed
  std::string id;       // receipt id, refund id, or the phone enrolled
  std::string code;     // sale: the member's phone ("" anonymous); refund: the receipt refunded
  std::int64_t amount = 0, redeem = 0;
  std::string at;       // the sale's time, "" for the till's clock
};

struct Snapshot {
  fs::path dir;
  std::size_t commits = 0;  // how much of the till's journal it holds
};

struct Lane {
  std::string store, till_id;
  fs::path dir, config;
  bool proxied = false;
  std::unique_ptr<TestTill> till;
  std::vector<Commit> journal;
  std::vector<Snapshot> snapshots;
  std::vector<Commit> deferred;  // sales the POS could not commit again yet (their member not known here yet)
  int renames = 0;
};

struct HqSnapshot {
  fs::path dir;
};

class Campaign {
 public:
  Campaign(std::uint64_t seed, int steps)
      : rng_(seed), steps_(steps), chain_(tmp_.path() / "pki", {"S001", "S002", "S003"}),
        hq_(tmp_.path() / "hq", tmp_.path() / "pki", {{"ledger", {{"timer_seconds", 0}}}}) {
    wrong_key_ = tmp_.path() / "other-enroll-private.pem";
    write_text(wrong_key_, rsa_private_key_pem());
    hq_.publish_rules(demo_rules_path());
    hq_.import_members(kMembersCsv);
    hq_.start();
    proxy_ = std::make_unique<CutProxy>(hq_.port());
    add_lane("S001", "T01", false);
    add_lane("S001", "T02", true);
    add_lane("S002", "T01", false);
    add_lane("S003", "T01", true);
    phones_ = {"13800000001", "13800000002", "13800000003"};
  }

  void run() {
    for (step_ = 0; step_ < steps_; ++step_) {
      if (std::getenv("LOYALTY_CAMPAIGN_TRACE")) std::cout << "step " << step_ << std::endl;
      const int r = pick(100);
      Lane& lane = lanes_[static_cast<std::size_t>(pick(static_cast<int>(lanes_.size())))];
      if (r < 34) sell(lane);
      else if (r < 40) enroll(lane);
      else if (r < 48) refund(lane);
      else if (r < 66) sync_lane(lane);
      else if (r < 70) kill_lane_sync(lane);
      else if (r < 73) restart_hq(pick(2) == 0);
      else if (r < 76) snapshot_hq();
      else if (r < 78) restore_hq();
      else if (r < 82) snapshot_lane(lane);
      else if (r < 85) restore_lane(lane);
      else if (r < 89) cut_sync(lane);
      else if (r < 92) jump_clock(lane);
      else if (r < 94) rename(lane);
      else if (r < 97) swap_key();
      else shrink_page();
    }
  }

  void settle() {
    // Headquarters as it should run, and every till synced until nothing waits.
    hq_.stop();
    hq_.edit_config({{"enrollment_key_file", (chain_.dir() / "hq-enroll-private.pem").string()},
                     {"limits", {{"changes_page", 1000}}}});
    hq_.start();
    proxy_->reset();
    for (int round = 0; round < 8; ++round) {
      bool quiet = true;
      for (Lane& l : lanes_) {
        const loy_status s = sync(*l.till);
        INFO("settle round " << round << ", till " << l.store << "/" << l.till_id << ": " << loy_till_last_error(*l.till));
        REQUIRE(s == LOY_OK);
        replay_deferred(l);
        const auto st = status(*l.till);
        if (st.outbox_depth != 0 || st.held != 0 || !l.deferred.empty()) quiet = false;
      }
      if (quiet) break;
    }
    for (Lane& l : lanes_) {
      REQUIRE(sync(*l.till) == LOY_OK);  // every cache holds the final records
      INFO("till " << l.store << "/" << l.till_id << " could not commit again " << l.deferred.size() << " sales");
      CHECK(l.deferred.empty());
    }
  }

  void check() {
    if (const char* keep = std::getenv("LOYALTY_CAMPAIGN_KEEP")) {  // the chain's data, to look into a failure
      fs::remove_all(keep);
      fs::copy(tmp_.path(), keep, fs::copy_options::recursive);
    }
    // 1. Every commit that returned OK is in headquarters' ledger exactly once, and nothing else is.
    std::set<std::tuple<std::string, std::string, std::string>> sales, refunds;
    std::set<std::string> enrolled;
    for (const Lane& l : lanes_)
      for (const Commit& c : l.journal) {
        if (c.kind == Commit::sale) sales.emplace(l.store, c.till_id, c.id);
        if (c.kind == Commit::refund) refunds.emplace(l.store, c.till_id, c.id);
        if (c.kind == Commit::enrollment) enrolled.insert(c.id);
      }
    for (const auto& [store, till, receipt] : sales) {
      INFO("sale " << store << "/" << till << " " << receipt << "; at headquarters: " << rows_of(receipt));
      CHECK(hq_.query("SELECT COUNT(*) FROM sales s JOIN txns t ON t.rowid = s.rowid WHERE s.store_id = '" + store +
                      "' AND t.till_id = '" + till + "' AND s.receipt_id = '" + receipt + "'") == 1);
    }
    CHECK(hq_.query("SELECT COUNT(*) FROM sales") == static_cast<std::int64_t>(sales.size()));
    for (const auto& [store, till, refund_id] : refunds) {
      INFO("refund " << store << "/" << till << " " << refund_id << "; at headquarters: " << rows_of(refund_id, "refund_id"));
      CHECK(hq_.query("SELECT COUNT(*) FROM refunds r JOIN txns t ON t.txn_id = r.txn_id WHERE t.store_id = '" + store +
                      "' AND t.till_id = '" + till + "' AND r.refund_id = '" + refund_id + "'") == 1);
    }
    CHECK(hq_.query("SELECT COUNT(*) FROM refunds") == static_cast<std::int64_t>(refunds.size()));
    for (const auto& phone : enrolled) {
      INFO("enrolled " << phone);
      CHECK(hq_.query("SELECT COUNT(*) FROM members WHERE phone = '" + phone + "'") == 1);
    }
    {
      const auto held = hq_.cli({"held", "--json"});
      INFO("held at headquarters: " << held.out);
      CHECK(hq_.query("SELECT COUNT(*) FROM txns WHERE status = 'held'") == 0);
    }
    // 2. Each member's balance is the sum of what was applied for them.
    CHECK(hq_.query(R"(SELECT COUNT(*) FROM members m WHERE m.points !=
          (CASE m.id WHEN 'M-1' THEN 5000 WHEN 'M-2' THEN 1000 WHEN 'M-3' THEN 300 ELSE 0 END)
          + (SELECT COALESCE(SUM(s.points_earned - s.points_redeemed), 0) FROM sales s WHERE s.member_id = m.id)
          + (SELECT COALESCE(SUM(r.points_given_back - r.points_taken_back), 0) FROM refunds r
               JOIN sales s ON s.txn_id = r.sale_txn_id WHERE s.member_id = m.id))") == 0);
    CHECK(hq_.query("SELECT COUNT(*) FROM members m WHERE m.points > 0 AND m.points != "
                    "(SELECT COALESCE(SUM(l.left), 0) FROM lots l WHERE l.member_id = m.id)") == 0);
    // 3. Every till's cache agrees with headquarters.
    for (Lane& l : lanes_)
      for (const auto& phone : phones_) {
        const auto expected = hq_.query("SELECT points FROM members WHERE phone = '" + phone + "'");
        loy_member_info m = member_info();
        INFO("till " << l.store << "/" << l.till_id << ", phone " << phone);
        REQUIRE(loy_till_lookup(*l.till, phone.c_str(), &m) == LOY_OK);
        CHECK(m.pending_points == 0);
        CHECK(m.confirmed_points == expected);
      }
    // 4. No till holds a transaction headquarters has not stored.
    std::vector<fs::path> dbs;
    for (Lane& l : lanes_) {
      l.till.reset();
      dbs.push_back(l.dir / "data" / "till.db");
    }
    for (const auto& db : dbs) {
      for (const auto& body : queued_bodies(db)) {
        const std::string txn = nlohmann::json::parse(body)["txn_id"];
        INFO(db << ": " << txn);
        CHECK(hq_.query("SELECT COUNT(*) FROM txns WHERE txn_id = '" + txn + "'") == 1);
      }
    }
    hq_.stop();
  }

  // What headquarters holds of a receipt, for a failure's message.
  std::string rows_of(const std::string& receipt, const char* key = "receipt_id") {
    sqlite3* db = nullptr;
    std::string out;
    // Of SQLite's file only (on PostgreSQL the failure's message goes without it).
    if (!hq_.storage_url().empty() ||
        sqlite3_open_v2((hq_.dir() / "hq.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      sqlite3_close(db);
      return out;
    }
    sqlite3_stmt* st = nullptr;
    const std::string sql = "SELECT txn_id, till_id, status, COALESCE(reason, ''), COALESCE(duplicate_of, '') FROM txns "
                            "WHERE json_extract(body, '$." + std::string(key) + "') = '" + receipt + "'";
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK)
      while (sqlite3_step(st) == SQLITE_ROW)
        for (int i = 0; i < 5; ++i) (out += reinterpret_cast<const char*>(sqlite3_column_text(st, i))) += i == 4 ? "; " : " ";
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
  }

  std::string summary() const {
    std::string out;
    for (const auto& [what, n] : counts_) out += what + " " + std::to_string(n) + ", ";
    return out;
  }

 private:
  int pick(int n) { return static_cast<int>(rng_() % static_cast<std::uint64_t>(n)); }
  void count(const std::string& what, const std::string& detail = "") {
    ++counts_[what];
    if (std::getenv("LOYALTY_CAMPAIGN_TRACE")) std::cout << "  " << what << " " << detail << std::endl;
  }

  std::string url(const Lane& l) const {
    return l.proxied ? "https://127.0.0.1:" + std::to_string(proxy_->port()) : hq_.url();
  }
  void write_config(Lane& l) {
    l.config = write_till_config(l.dir, l.store, l.till_id, url(l), chain_.dir(), {{"sync", {{"timeout_seconds", 3}}}});
  }
  void add_lane(const std::string& store, const std::string& till, bool proxied) {
    Lane l;
    l.store = store;
    l.till_id = till;
    l.dir = tmp_.path() / (store + "-" + till);
    l.proxied = proxied;
    write_config(l);
    l.till = std::make_unique<TestTill>(l.config);
    REQUIRE(sync(*l.till) == LOY_OK);
    lanes_.push_back(std::move(l));
  }
  void reopen(Lane& l) {
    l.till.reset();
    l.till = std::make_unique<TestTill>(l.config);
  }

  // A sale as the POS makes it; true when its commit returned OK.
  loy_status commit_sale(Lane& l, const Commit& c) {
    loy_checkout* co = nullptr;
    REQUIRE(loy_checkout_begin(*l.till, &co) == LOY_OK);
    if (!c.at.empty()) REQUIRE(loy_checkout_set_time(co, c.at.c_str()) == LOY_OK);
    if (!c.code.empty()) {
      const loy_status s = loy_checkout_identify(co, c.code.c_str(), nullptr);
      if (s != LOY_OK) {
        loy_checkout_free(co);
        return s;
      }
    }
    const loy_line line = sale_line("1", "apparel", c.amount);
    REQUIRE(loy_checkout_add_line(co, &line) == LOY_OK);
    if (c.redeem) REQUIRE(loy_checkout_redeem(co, c.redeem) == LOY_OK);
    const loy_status s = loy_checkout_commit(co, c.id.c_str(), nullptr);
    INFO(loy_checkout_last_error(co));
    loy_checkout_free(co);
    return s;
  }

  void sell(Lane& l, std::string at = "") {
    Commit c;
    c.kind = Commit::sale;
    c.till_id = l.till_id;
    c.id = "R-" + std::to_string(++receipts_);
    c.code = pick(4) == 0 ? "" : phones_[static_cast<std::size_t>(pick(static_cast<int>(phones_.size())))];
    c.amount = 1000 + pick(40000);
    c.redeem = pick(5) == 0 ? 100 * (1 + pick(5)) : 0;
    c.at = std::move(at);
    loy_status s = commit_sale(l, c);
    if (s == LOY_E_NOT_FOUND) {  // a member this till has not heard of yet: the customer pays anonymously
      c.code.clear();
      c.redeem = 0;
      s = commit_sale(l, c);
    }
    REQUIRE(s == LOY_OK);
    l.journal.push_back(c);
    count("sales", l.store + "/" + l.till_id + " " + c.id + " " + c.code + " " + c.at);
  }

  void enroll(Lane& l) {
    Commit e;
    e.kind = Commit::enrollment;
    e.till_id = l.till_id;
    e.id = "139" + std::to_string(10'000'000 + ++phones_made_);
    loy_enrollment en{};
    en.struct_size = sizeof en;
    en.phone = e.id.c_str();
    en.consent = "signed form";
    REQUIRE(loy_till_enroll(*l.till, &en, nullptr) == LOY_OK);
    l.journal.push_back(e);
    phones_.push_back(e.id);
    count("enrollments");
    Commit c;
    c.kind = Commit::sale;
    c.till_id = l.till_id;
    c.id = "R-" + std::to_string(++receipts_);
    c.code = e.id;
    c.amount = 5000 + pick(20000);
    REQUIRE(commit_sale(l, c) == LOY_OK);
    l.journal.push_back(c);
    count("sales");
  }

  void refund(Lane& l) {
    // One of this till's own sales, whole, once.
    std::vector<const Commit*> open;
    std::set<std::string> refunded;
    for (const Commit& c : l.journal)
      if (c.kind == Commit::refund) refunded.insert(c.code);
    for (const Commit& c : l.journal)
      if (c.kind == Commit::sale && c.till_id == l.till_id && !refunded.count(c.id)) open.push_back(&c);
    if (open.empty()) return;
    const Commit sale = *open[static_cast<std::size_t>(pick(static_cast<int>(open.size())))];  // a copy: the journal grows
    Commit r;
    r.kind = Commit::refund;
    r.till_id = l.till_id;
    r.id = "F-" + std::to_string(++refunds_);
    r.code = sale.id;
    loy_refund_result rr{};
    rr.struct_size = sizeof rr;
    const loy_status s = loy_till_refund(*l.till, r.id.c_str(), sale.id.c_str(), nullptr, 0, &rr);
    INFO(loy_till_last_error(*l.till));
    REQUIRE((s == LOY_OK || s == LOY_E_NOT_FOUND || s == LOY_E_STATE));
    if (s != LOY_OK) return;  // pruned, or refunded already: nothing was paid out
    l.journal.push_back(r);
    count("refunds", l.store + "/" + l.till_id + " " + r.id + " of " + sale.id);
  }

  void replay_deferred(Lane& l) {
    for (auto it = l.deferred.begin(); it != l.deferred.end();) {
      loy_status s = LOY_OK;
      if (it->kind == Commit::sale) {
        s = commit_sale(l, *it);
      } else {
        loy_refund_result rr{};
        rr.struct_size = sizeof rr;
        s = loy_till_refund(*l.till, it->id.c_str(), it->code.c_str(), nullptr, 0, &rr);
        if (s == LOY_E_STATE) s = LOY_OK;  // headquarters holds it: nothing left to pay out
      }
      INFO("replaying " << it->id << ": " << loy_till_last_error(*l.till));
      REQUIRE((s == LOY_OK || s == LOY_E_NOT_FOUND));
      if (s != LOY_OK) break;  // in order: what follows may need it
      it = l.deferred.erase(it);
    }
  }

  void sync_lane(Lane& l) {
    const loy_status s = sync(*l.till);
    INFO(loy_till_last_error(*l.till));
    REQUIRE((s == LOY_OK || s == LOY_E_NETWORK));
    if (s == LOY_OK) replay_deferred(l);
    count(s == LOY_OK ? "syncs" : "syncs failed", l.store + "/" + l.till_id + " " + loy_till_last_error(*l.till));
  }

  void kill_lane_sync(Lane& l) {
    l.till.reset();
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      loy_till* till = nullptr;
      if (loy_till_open(l.config.c_str(), nullptr, &till, nullptr, 0) != LOY_OK) _exit(3);
      loy_sync_result r{};
      r.struct_size = sizeof r;
      loy_till_sync(till, &r);
      _exit(0);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(pick(150)));
    ::kill(child, SIGKILL);
    int st = 0;
    waitpid(child, &st, 0);
    reopen(l);
    count("tills killed mid-sync");
  }

  void restart_hq(bool hard) {
    if (hard) hq_.kill(); else hq_.stop();
    hq_.start();
    count(hard ? "headquarters killed" : "headquarters restarted");
  }

  void snapshot_hq() {
    const fs::path dir = tmp_.path() / ("hq-copy-" + std::to_string(hq_copies_.size()));
    hq_.save_copy(dir);
    hq_copies_.push_back({dir});
    count("headquarters copied");
  }

  void restore_hq() {
    if (hq_copies_.empty()) return;
    const HqSnapshot& from = hq_copies_[static_cast<std::size_t>(pick(static_cast<int>(hq_copies_.size())))];
    const bool with_mark = pick(2) == 0;
    hq_.restore_copy(from.dir, with_mark);
    count("headquarters restored", from.dir.filename().string() + (with_mark ? " with its mark" : ""));
  }

  void snapshot_lane(Lane& l) {
    l.till.reset();
    const fs::path dir = tmp_.path() / ("till-copy-" + std::to_string(++till_copies_));
    fs::copy(l.dir / "data", dir, fs::copy_options::recursive);
    l.snapshots.push_back({dir, l.journal.size()});
    reopen(l);
    count("tills copied");
  }

  // The till's disk is lost and its database comes back from a copy; the POS commits again, from its
  // own journal, everything it committed since (the same receipts, the same sales).
  void restore_lane(Lane& l) {
    if (l.snapshots.empty()) return;
    const Snapshot from = l.snapshots[static_cast<std::size_t>(pick(static_cast<int>(l.snapshots.size())))];
    l.till.reset();
    fs::remove_all(l.dir / "data");
    fs::copy(from.dir, l.dir / "data", fs::copy_options::recursive);
    reopen(l);
    for (std::size_t i = from.commits; i < l.journal.size(); ++i) {
      const Commit& c = l.journal[i];
      if (c.kind == Commit::sale) {
        loy_status s = commit_sale(l, c);
        if (s == LOY_E_NOT_FOUND && !c.code.empty()) {
          // Its member is not in this cache: the chain's tills sync, then this one, and the POS goes on.
          for (Lane& other : lanes_)
            if (&other != &l) sync(*other.till);
          sync(*l.till);
          s = commit_sale(l, c);
        }
        if (s == LOY_E_NOT_FOUND) {
          // Still unknown (its enrollment held at headquarters, say): the POS commits it again once the
          // till knows the member, as it was sold.
          l.deferred.push_back(c);
          count("replays deferred", c.id);
          continue;
        }
        INFO("replaying " << c.id);
        CHECK(s == LOY_OK);
      } else if (c.kind == Commit::refund) {
        const bool sale_deferred = std::any_of(l.deferred.begin(), l.deferred.end(),
                                               [&](const Commit& d) { return d.kind == Commit::sale && d.id == c.code; });
        if (sale_deferred) {  // after its sale
          l.deferred.push_back(c);
          continue;
        }
        loy_refund_result rr{};
        rr.struct_size = sizeof rr;
        const loy_status s = loy_till_refund(*l.till, c.id.c_str(), c.code.c_str(), nullptr, 0, &rr);
        count("refunds replayed", c.id + " -> " + std::to_string(s) + " " + loy_till_last_error(*l.till));
        CHECK((s == LOY_OK || s == LOY_E_STATE));
      } else {
        loy_enrollment en{};
        en.struct_size = sizeof en;
        en.phone = c.id.c_str();
        en.consent = "signed form";
        const loy_status s = loy_till_enroll(*l.till, &en, nullptr);
        CHECK((s == LOY_OK || s == LOY_E_CONFLICT));
      }
    }
    // Copies from before the restore stay usable; none after it exist.
    count("tills restored", l.store + "/" + l.till_id + " to " + from.dir.filename().string() + " after journal " +
                                std::to_string(from.commits));
  }

  void cut_sync(Lane& l) {
    if (!l.proxied) return sync_lane(l);
    proxy_->arm(pick(2) == 0 ? CutProxy::Direction::up : CutProxy::Direction::down, 200 + pick(20000));
    sync_lane(l);
    proxy_->reset();
    count("connections cut");
  }

  void jump_clock(Lane& l) {
    // A clock reset to 2001, or three hours ahead.
    sell(l, pick(2) == 0 ? "2001-01-01T10:00:00+08:00" : iso_from_now(std::chrono::hours(3)));
    count("clocks jumped");
  }

  void rename(Lane& l) {
    if (l.renames >= 2 || !l.deferred.empty()) return;  // lanes are renumbered at a till that is settled
    l.till.reset();
    l.till_id += "x";
    ++l.renames;
    write_config(l);
    l.snapshots.clear();  // a copy from before the rename is of another till
    reopen(l);
    count("tills renamed", l.store + "/" + l.till_id);
  }

  void swap_key() {
    key_swapped_ = !key_swapped_;
    hq_.stop();
    hq_.edit_config({{"enrollment_key_file",
                      key_swapped_ ? wrong_key_.string() : (chain_.dir() / "hq-enroll-private.pem").string()}});
    hq_.start();
    count("enrollment key swapped");
  }

  void shrink_page() {
    hq_.stop();
    hq_.edit_config({{"limits", {{"changes_page", pick(2) == 0 ? 1 + pick(5) : 1000}}}});
    hq_.start();
    count("changes page changed");
  }

  std::mt19937_64 rng_;
  int steps_;
  int step_ = 0;
  TempDir tmp_;
  Chain chain_;
  HqProcess hq_;
  fs::path wrong_key_;
  bool key_swapped_ = false;
  std::unique_ptr<CutProxy> proxy_;
  std::vector<Lane> lanes_;
  std::vector<std::string> phones_;
  std::vector<HqSnapshot> hq_copies_;
  int receipts_ = 0, refunds_ = 0, phones_made_ = 0, till_copies_ = 0;
  std::map<std::string, int> counts_;
};

}  // namespace

TEST_CASE("every sale whose commit returned OK is in headquarters' ledger exactly once, whatever befalls the chain",
          "[campaign]") {
  const std::uint64_t seed = env_or("LOYALTY_CAMPAIGN_SEED", 20261201);
  const int steps = static_cast<int>(env_or("LOYALTY_CAMPAIGN_STEPS", 150));
  std::cout << "campaign seed " << seed << " (LOYALTY_CAMPAIGN_SEED=" << seed << " replays it), " << steps << " steps"
            << std::endl;
  INFO("campaign seed " << seed);
  Campaign c(seed, steps);
  c.run();
  c.settle();
  c.check();
  std::cout << "campaign seed " << seed << ": " << c.summary() << std::endl;
}
