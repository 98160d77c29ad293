#include "bench_till.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <random>
#include <stdexcept>
#include <thread>

#include <unistd.h>

#include "bench_rules.hpp"
#include "loyalty/engine/quote.hpp"
#include "loyalty/engine/rules.hpp"
#include "loyalty/loyalty.h"
#include "loyalty/store/packed_body.hpp"

namespace loyalty::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kMembers = 1'000'000;
constexpr int kPage = 20'000;
constexpr const char* kKeyHex = "62656e63682d636861696e2d6b65792d6e6f742d612d7365637265742d2d2d2d";

void check(bool ok, const std::string& what) {
  if (!ok) throw std::runtime_error(what);
}

void check_till(loy_status s, loy_till* till, const char* what) {
  if (s != LOY_OK) throw std::runtime_error(std::string(what) + ": " + loy_status_str(s) + ": " + loy_till_last_error(till));
}

std::string phone_of(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "138%08d", i);
  return buf;
}

std::array<unsigned char, 32> hash_of(const std::string& code) {
  static const std::vector<unsigned char> key = [] {
    std::vector<unsigned char> k;
    for (int i = 0; i < 32; ++i) k.push_back(static_cast<unsigned char>(std::stoi(std::string(kKeyHex + 2 * i, 2), nullptr, 16)));
    return k;
  }();
  std::array<unsigned char, 32> out{};
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), 32, reinterpret_cast<const unsigned char*>(code.data()), code.size(), out.data(), &len);
  return out;
}

std::string hex(const std::array<unsigned char, 32>& h) {
  static const char* const d = "0123456789abcdef";
  std::string s;
  for (unsigned char c : h) {
    s += d[c >> 4];
    s += d[c & 15];
  }
  return s;
}

void write(const std::filesystem::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

std::filesystem::path make_config(const std::filesystem::path& dir, int retention_days = 90) {
  std::filesystem::create_directories(dir);
  for (const char* f : {"ca.pem", "store.pem", "store.key"}) write(dir / f, "unused by these benchmarks\n");
  if (!std::filesystem::exists(dir / "hq-enroll.pem")) {
    EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
    check(key != nullptr, "RSA key generation");
    FILE* f = std::fopen((dir / "hq-enroll.pem").c_str(), "wb");
    check(f && PEM_write_PUBKEY(f, key) == 1, "writing the enrollment key");
    std::fclose(f);
    EVP_PKEY_free(key);
  }
  const auto config = dir / "till.json";
  write(config, std::string(R"({"data_dir": "data", "store_id": "S001", "till_id": "T01", "code_key": ")") + kKeyHex +
                    R"(", "hq": {"url": "https://127.0.0.1:8443", "ca_file": "ca.pem", "cert_file": "store.pem",
                    "key_file": "store.key", "enrollment_key_file": "hq-enroll.pem"}, "sync": {"interval_seconds": 0, )" +
                    R"("retention_days": )" + std::to_string(retention_days) + "}}");
  return config;
}

loy_till* open_till(const std::filesystem::path& config) {
  loy_till* till = nullptr;
  char error[512];
  if (loy_till_open(config.c_str(), nullptr, &till, error, sizeof error) != LOY_OK)
    throw std::runtime_error(std::string("open: ") + error);
  return till;
}

const char* const kTiers[] = {"silver", "gold", "black"};

// The member i as headquarters sends it.
std::string member_json(int i) {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                R"({"id":"M-%07d","version":1,"masked_name":"W*** F***","codes":["%s"],"tier":"%s","birthday":"%02d-%02d",)"
                R"("purchases":%d,"last_purchase_at":"2026-10-%02dT10:00:00+08:00","points":%d})",
                i, hex(hash_of(phone_of(i))).c_str(), kTiers[i % 3], 1 + i % 12, 1 + i % 28, 1 + i % 50, 1 + i % 28,
                (i * 37) % 50'000);
  return buf;
}

void build_cache(const std::filesystem::path& config) {
  loy_till* till = open_till(config);
  const std::string rules = kRules;
  check_till(loy_till_apply_rules(till, rules.data(), rules.size()), till, "rules");
  for (int start = 0; start < kMembers; start += kPage) {
    std::string doc = R"({"members":[)";
    for (int i = start; i < start + kPage; ++i) {
      if (i > start) doc += ',';
      doc += member_json(i);
    }
    doc += R"(],"coupons":[)";
    if (start == 0)
      doc += R"({"code":"AUTUMN30","version":1,"kind":"amount","value":3000,"min_spend_minor":20000,)"
             R"("valid_from":"2026-11-01T00:00:00+08:00","valid_to":"2026-12-01T00:00:00+08:00"})";
    doc += R"(],"next":)" + std::to_string(start / kPage + 1) + R"(,"more":false})";
    check_till(loy_till_apply_changes(till, doc.data(), doc.size()), till, "changes");
  }
  loy_till_close(till);
}

// The members of a cache made by an earlier run, or 0 when there is none this library can open.
std::int64_t members_in(const std::filesystem::path& config) {
  loy_till* till = nullptr;
  if (loy_till_open(config.c_str(), nullptr, &till, nullptr, 0) != LOY_OK) return 0;
  loy_till_status st{};
  st.struct_size = sizeof st;
  check_till(loy_till_status_get(till, &st), till, "status");
  loy_till_close(till);
  return st.members;
}

// The same members in a bare table: one row per code, looked up by its hash with a prepared statement.
void build_bare(const std::filesystem::path& path) {
  sqlite3* db = nullptr;
  check(sqlite3_open(path.c_str(), &db) == SQLITE_OK, "bare open");
  sqlite3_exec(db, "PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS m(hash BLOB PRIMARY KEY, id TEXT, tier TEXT, "
                   "masked_name TEXT, birthday INTEGER, purchases INTEGER, last_purchase_us INTEGER, points INTEGER) "
                   "WITHOUT ROWID; BEGIN",
               nullptr, nullptr, nullptr);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO m VALUES(?1, ?2, ?3, 'W*** F***', 101, 5, 1790000000000000, ?4)", -1, &st, nullptr);
  for (int i = 0; i < kMembers; ++i) {
    const auto h = hash_of(phone_of(i));
    char id[16];
    std::snprintf(id, sizeof id, "M-%07d", i);
    sqlite3_bind_blob(st, 1, h.data(), 32, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 3, kTiers[i % 3], -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (i * 37) % 50'000);
    sqlite3_step(st);
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
  sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  sqlite3_close(db);
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

template <class F>
double micros(F&& f) {
  const auto t0 = Clock::now();
  f();
  return std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
}

loy_line line(const std::string& id, const char* category, std::int64_t amount) {
  loy_line l{};
  l.struct_size = sizeof l;
  l.id = id.c_str();
  l.sku = "SKU-1";
  l.category = category;
  l.qty = 1;
  l.amount_minor = amount;
  return l;
}

const char* const categories[] = {"apparel", "accessories", "eco", "shoes", "tobacco"};

// A history of `sales` sales committed at the till of `db` over `days` days and applied at
// headquarters long ago: half of them by 1,000 members (the benchmark's frequent buyers), half
// anonymous, each with its transaction as a 10-line sale's.
// A 10-line sale for the member of `phone`, committed under `receipt`: the commit's time in µs.
double commit_ten_lines(loy_till* till, const std::string& phone, const std::string& receipt) {
  static const std::string ids[] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  loy_checkout* c = nullptr;
  check_till(loy_checkout_begin(till, &c), till, "begin");
  check(loy_checkout_identify(c, phone.c_str(), nullptr) == LOY_OK, "identify");
  for (int l = 0; l < 10; ++l) {
    const loy_line ln = line(ids[l], categories[l % 5], 1990 + 100 * l);
    check(loy_checkout_add_line(c, &ln) == LOY_OK, "add line");
  }
  const double us = micros([&] { check(loy_checkout_commit(c, receipt.c_str(), nullptr) == LOY_OK, "commit"); });
  loy_checkout_free(c);
  return us;
}

// Receipt ids as a POS numbers them: each after every earlier one (the run's start, then a serial),
// so that a till's sales are appended to its receipt index. (Ids that land among earlier ones, as
// an unpadded counter's "10" between "1" and "2" does, make SQLite rebalance the pages around them
// every few commits: about one WAL frame more per commit.)
std::string next_receipt() {
  static const long long run = std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::system_clock::now().time_since_epoch()).count();
  static long long serial = 0;
  char buf[48];
  std::snprintf(buf, sizeof buf, "R%017lld-%08lld", run, serial++);
  return buf;
}

void add_history(const std::filesystem::path& db_path, int sales, int days) {
  sqlite3* db = nullptr;
  check(sqlite3_open(db_path.c_str(), &db) == SQLITE_OK, "history open");
  check(sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr) == SQLITE_OK, "history begin");
  sqlite3_stmt *outbox = nullptr, *answer = nullptr, *sale = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO outbox(seq, txn_id, kind, member_id, points_delta, at_us, created_us, receipt_id, body, "
                         "digest) VALUES(?1, ?2, 'sale', ?3, 120, ?4, ?4, ?5, ?6, ?2)", -1, &outbox, nullptr);
  sqlite3_prepare_v2(db, "INSERT INTO answers(seq, state, acked_version, member_id, created_us) VALUES(?1, 1, 1, ?2, ?3)", -1,
                     &answer, nullptr);
  sqlite3_prepare_v2(db, "INSERT INTO sales(origin, receipt_id, outbox_seq, digest, member_id, coupon_code, lines) "
                         "VALUES('', ?1, ?2, ?3, ?4, NULL, ?5)", -1, &sale, nullptr);
  std::string lines = "[";
  for (int l = 0; l < 10; ++l)
    lines += std::string(l ? "," : "") + R"({"id":")" + std::to_string(l) +
             R"(","units":1,"net_minor":2290,"points_earned":12,"points_redeemed":0})";
  lines += "]";
  // A 10-line sale's transaction, packed as the till packs it (about 960 of its 3,000 bytes).
  std::string text = R"({"txn_id":"0","kind":"sale","input":{"basket":[)";
  for (int l = 0; l < 10; ++l)
    text += std::string(l ? "," : "") + R"({"id":")" + std::to_string(l) + R"(","sku":"SKU-1","category":")" +
            categories[l % 5] + R"(","qty":1,"amount_minor":)" + std::to_string(1990 + 100 * l) + "}";
  text += R"(]},"quote":{"lines":[)";
  for (int l = 0; l < 10; ++l)
    text += std::string(l ? "," : "") + R"({"id":")" + std::to_string(l) + R"(","net_minor":)" +
            std::to_string(1890 + 97 * l) + R"(,"member_discount_minor":)" + std::to_string(100 + l) +
            R"(,"points_earned":)" + std::to_string(18 + l) + R"(,"points_redeemed":0,"redeem_minor":0,"offer":null})";
  text += "]}}";
  const std::string body = store::pack_body(text).value();
  const std::int64_t now = std::chrono::duration_cast<std::chrono::microseconds>(
                               std::chrono::system_clock::now().time_since_epoch()).count();
  const std::int64_t span = std::int64_t{days} * 86'400'000'000;
  std::int64_t first = 1;  // after the sales the till's own benchmarks committed
  {
    sqlite3_stmt* last = nullptr;
    sqlite3_prepare_v2(db, "SELECT COALESCE(MAX(seq), 0) + 1 FROM outbox", -1, &last, nullptr);
    check(sqlite3_step(last) == SQLITE_ROW, "history last seq");
    first = sqlite3_column_int64(last, 0);
    sqlite3_finalize(last);
  }
  for (int i = 0; i < sales; ++i) {
    const std::int64_t seq = first + i;
    char txn[40], receipt[24], member[16];
    std::snprintf(txn, sizeof txn, "%032x", i);
    std::snprintf(receipt, sizeof receipt, "H-%09d", i);
    std::snprintf(member, sizeof member, "M-%07d", (i / 2) % 1000);
    const std::int64_t at = now - span + span * i / sales;
    sqlite3_bind_int64(outbox, 1, seq);
    sqlite3_bind_text(outbox, 2, txn, -1, SQLITE_TRANSIENT);
    if (i % 2 == 0) sqlite3_bind_text(outbox, 3, member, -1, SQLITE_TRANSIENT); else sqlite3_bind_null(outbox, 3);
    sqlite3_bind_int64(outbox, 4, at);
    sqlite3_bind_text(outbox, 5, receipt, -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob(outbox, 6, body.data(), static_cast<int>(body.size()), SQLITE_STATIC);
    check(sqlite3_step(outbox) == SQLITE_DONE, "history outbox");
    sqlite3_reset(outbox);
    sqlite3_bind_int64(answer, 1, seq);
    if (i % 2 == 0) sqlite3_bind_text(answer, 2, member, -1, SQLITE_TRANSIENT); else sqlite3_bind_null(answer, 2);
    sqlite3_bind_int64(answer, 3, at);
    check(sqlite3_step(answer) == SQLITE_DONE, "history answer");
    sqlite3_reset(answer);
    sqlite3_bind_text(sale, 1, receipt, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(sale, 2, seq);
    sqlite3_bind_text(sale, 3, txn, -1, SQLITE_TRANSIENT);
    if (i % 2 == 0) sqlite3_bind_text(sale, 4, member, -1, SQLITE_TRANSIENT); else sqlite3_bind_null(sale, 4);
    sqlite3_bind_text(sale, 5, lines.data(), static_cast<int>(lines.size()), SQLITE_STATIC);
    check(sqlite3_step(sale) == SQLITE_DONE, "history sale");
    sqlite3_reset(sale);
  }
  // Every entry has headquarters' answer, as the sync that got them would have recorded, and every
  // sale has its row of `sales` (schema 6: filed).
  sqlite3_stmt* through = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO meta(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                     -1, &through, nullptr);
  for (const char* key : {"answered_through", "sales_filed_through"}) {
    sqlite3_bind_text(through, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(through, 2, first + sales - 1);
    check(sqlite3_step(through) == SQLITE_DONE, "history meta");
    sqlite3_reset(through);
  }
  sqlite3_finalize(through);
  sqlite3_finalize(outbox);
  sqlite3_finalize(answer);
  sqlite3_finalize(sale);
  check(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK, "history commit");
  sqlite3_close(db);
}

struct TillTimes {
  double lookup_p50 = 0, lookup_p99 = 0, commit_mean = 0, open_s = 0;
};

struct PruneTimes {
  double open_s = 0, prune_s = 0, lookup_p99 = 0, lookup_max = 0;
  std::int64_t left = 0;  // outbox entries after the sync
};

// Opens the till at `config` (which prunes a slice), then syncs it with headquarters unreachable (its
// certificates are placeholders): the sync prunes the rest, in slices under the till's lock, while
// this thread looks members up as a cashier would.
PruneTimes prune_with_lookups(const std::filesystem::path& config) {
  PruneTimes t;
  loy_till* till = nullptr;
  t.open_s = micros([&] { till = open_till(config); }) / 1e6;
  std::atomic<bool> done{false};
  std::thread pruner([&] {
    loy_sync_result r{};
    r.struct_size = sizeof r;
    t.prune_s = micros([&] { loy_till_sync(till, &r); }) / 1e6;
    done = true;
  });
  std::vector<double> look;
  loy_member_info m{};
  m.struct_size = sizeof m;
  std::mt19937 same(5);
  std::uniform_int_distribution<int> pick(0, 999);
  while (!done) {
    const std::string phone = phone_of(pick(same));
    look.push_back(micros([&] { check_till(loy_till_lookup(till, phone.c_str(), &m), till, "lookup"); }));
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  pruner.join();
  t.lookup_p99 = look.empty() ? 0 : percentile(look, 0.99);
  t.lookup_max = look.empty() ? 0 : *std::max_element(look.begin(), look.end());
  loy_till_status st{};
  st.struct_size = sizeof st;
  check_till(loy_till_status_get(till, &st), till, "status");
  t.left = st.outbox_depth;
  loy_till_close(till);
  return t;
}

// Lookups of the frequent buyers and 10-line commits for them, through the C header.
TillTimes measure_till(const std::filesystem::path& config, int lookups, int commits) {
  TillTimes t;
  loy_till* till = nullptr;
  t.open_s = micros([&] { till = open_till(config); }) / 1e6;
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> pick(0, 999);
  std::vector<double> look;
  loy_member_info m{};
  m.struct_size = sizeof m;
  for (int pass = 0; pass < 2; ++pass) {  // the first pass warms the cache, the second is measured
    look.clear();
    std::mt19937 same(5);
    for (int k = 0; k < lookups; ++k) {
      const std::string phone = phone_of(pick(same));
      look.push_back(micros([&] { check_till(loy_till_lookup(till, phone.c_str(), &m), till, "lookup"); }));
    }
  }
  t.lookup_p50 = percentile(look, 0.5);
  t.lookup_p99 = percentile(look, 0.99);
  std::vector<double> commit;
  for (int k = 0; k < commits; ++k) commit.push_back(commit_ten_lines(till, phone_of(pick(rng)), next_receipt()));
  t.commit_mean = mean(commit);
  loy_till_close(till);
  return t;
}

// Pages a database uses (a pruned till's file keeps its size; SQLite reuses the pages it freed).
double bytes_in_use(const std::filesystem::path& db_path) {
  sqlite3* db = nullptr;
  check(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK, "open for its size");
  const auto pragma = [&](const char* sql) {
    sqlite3_stmt* st = nullptr;
    check(sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW, sql);
    const double v = static_cast<double>(sqlite3_column_int64(st, 0));
    sqlite3_finalize(st);
    return v;
  };
  const double bytes = (pragma("PRAGMA page_count") - pragma("PRAGMA freelist_count")) * pragma("PRAGMA page_size");
  sqlite3_close(db);
  return bytes;
}

void copy_till(const std::filesystem::path& from, const std::filesystem::path& to) {
  std::filesystem::create_directories(to);
  for (const char* f : {"till.db", "till.db-wal"}) {
    std::filesystem::remove(to / f);
    if (std::filesystem::exists(from / f)) std::filesystem::copy_file(from / f, to / f);
  }
  std::filesystem::remove(to / "till.db-shm");
}

// A bare one-row commit: a 2,000-byte row in a WAL database with synchronous=FULL, and `pragmas`.
class BareCommit {
 public:
  BareCommit(const std::filesystem::path& path, const std::string& pragmas) : wal_(path.string() + "-wal") {
    std::filesystem::remove(path);
    std::filesystem::remove(wal_);
    check(sqlite3_open(path.c_str(), &db_) == SQLITE_OK, "bare commit open");
    const std::string sql = pragmas + "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                                      "CREATE TABLE t(id INTEGER PRIMARY KEY, body TEXT)";
    check(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK, "bare commit schema");
    check(sqlite3_prepare_v2(db_, "INSERT INTO t(body) VALUES(?1)", -1, &st_, nullptr) == SQLITE_OK, "bare insert");
  }
  ~BareCommit() {
    sqlite3_finalize(st_);
    sqlite3_close(db_);
  }
  BareCommit(const BareCommit&) = delete;
  BareCommit& operator=(const BareCommit&) = delete;

  double one() {
    return micros([&] {
      sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
      sqlite3_bind_text(st_, 1, body_.c_str(), static_cast<int>(body_.size()), SQLITE_STATIC);
      sqlite3_step(st_);
      sqlite3_reset(st_);
      check(sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK, "bare commit");
    });
  }
  // Commits until the WAL's size has stayed the same for 100 commits (at most `most`).
  void warm(int most) {
    for (int k = 0, unchanged = 0; k < most && unchanged < 100; ++k) {
      const auto before = std::filesystem::exists(wal_) ? std::filesystem::file_size(wal_) : 0;
      one();
      unchanged = std::filesystem::file_size(wal_) == before ? unchanged + 1 : 0;
    }
  }

 private:
  std::filesystem::path wal_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* st_ = nullptr;
  const std::string body_ = std::string(2000, 'x');
};

}  // namespace

std::vector<Figure> till_figures(const std::filesystem::path& dir, bool quick) {
  std::vector<Figure> out;
  const auto config = make_config(dir / "till");
  if (!std::filesystem::exists(dir / "till" / "data" / "till.db") || members_in(config) < kMembers) {
    std::filesystem::remove_all(dir / "till" / "data");
    std::fprintf(stderr, "building a %d-member till cache in %s (once)...\n", kMembers, (dir / "till").c_str());
    const double s = micros([&] { build_cache(config); }) / 1e6;
    std::fprintf(stderr, "  %.1f s\n", s);
  }
  const auto bare_path = dir / "bare.db";
  if (!std::filesystem::exists(bare_path)) {
    std::fprintf(stderr, "building the bare lookup table (once)...\n");
    build_bare(bare_path);
  }
  const auto db_bytes = std::filesystem::file_size(dir / "till" / "data" / "till.db");
  out.push_back({"cache_bytes_per_member", static_cast<double>(db_bytes) / kMembers, "bytes", "", 0});

  std::mt19937 rng(7);
  std::uniform_int_distribution<int> pick(0, kMembers - 1);
  const int lookups = quick ? 20'000 : 100'000;
  std::vector<int> sample(static_cast<std::size_t>(lookups));
  for (int& i : sample) i = pick(rng);

  // Bare: a prepared statement by hash on a table of the same members. Both are measured in turns,
  // 2,000 lookups each, so that both see the machine as it is at that moment (its speed changes from
  // minute to minute; measured one after the other, the two read different machines). A turn is long
  // enough that the lookups just after a switch, which find the caches holding the other's pages, stay
  // far below a percent of the measured ones.
  std::vector<double> bare, ours;
  loy_till* till = open_till(config);
  {
    sqlite3* db = nullptr;
    check(sqlite3_open_v2(bare_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK, "bare open");
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "SELECT id, tier, masked_name, birthday, purchases, last_purchase_us, points FROM m WHERE hash = ?1",
                       -1, &st, nullptr);
    std::vector<std::array<unsigned char, 32>> hashes;
    std::vector<std::string> phones;
    for (int i : sample) {
      hashes.push_back(hash_of(phone_of(i)));
      phones.push_back(phone_of(i));
    }
    {
      loy_member_info m{};
      m.struct_size = sizeof m;
      for (int pass = 0; pass < 2; ++pass) {  // the first pass warms the caches, the second is measured
        bare.clear();
        ours.clear();
        for (std::size_t from = 0; from < hashes.size(); from += 2'000) {
          const std::size_t to = std::min(hashes.size(), from + 2'000);
          for (std::size_t k = from; k < to; ++k)
            bare.push_back(micros([&] {
              sqlite3_bind_blob(st, 1, hashes[k].data(), 32, SQLITE_STATIC);
              check(sqlite3_step(st) == SQLITE_ROW, "bare lookup");
              sqlite3_reset(st);
            }));
          for (std::size_t k = from; k < to; ++k)
            ours.push_back(micros([&] { check_till(loy_till_lookup(till, phones[k].c_str(), &m), till, "lookup"); }));
        }
      }
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
  }
  out.push_back({"lookup_p50_1m_members", percentile(ours, 0.5), "us", "bare_sqlite_lookup_p50", percentile(bare, 0.5)});
  out.push_back({"lookup_p99_1m_members", percentile(ours, 0.99), "us", "bare_sqlite_lookup_p99", percentile(bare, 0.99)});

  // Commits: a 10-line sale through the C header against a bare one-row WAL synchronous=FULL commit
  // on the same disk, taken in turns so that both see the same disk. Both are measured in their
  // steady state: a WAL that is still growing makes every fsync write its file's size too, and a
  // fresh one grows until its first checkpoint (1,000 frames), which for the bare commit of a
  // 2,000-byte row is about 500 commits away. So each first commits until its WAL has been
  // checkpointed once and is being written over again, as a till's is all day.
  // The till commits into a copy of the cache, made anew each run (so that every run measures the
  // same till, not one holding the sales of the runs before), written to the disk before it is used.
  loy_till_close(till);
  const auto commit_cfg = make_config(dir / "commits");
  copy_till(dir / "till" / "data", dir / "commits" / "data");
  ::sync();
  till = open_till(commit_cfg);
  const int commits = quick ? 200 : 600;
  const int bare_warmup = 3'000, till_warmup = 3'000;
  // Two bare commits: SQLite's defaults but WAL and synchronous=FULL, as the till's target was set
  // against, and the settings the till opens its database with (store/database.cpp: exclusive
  // locking, which spares each transaction its file locks, and the map).
  std::vector<double> bare_commit, same_commit, our_commit;
  {
    BareCommit defaults(dir / "bare-commit.db", "");
    BareCommit same(dir / "bare-commit-same.db", "PRAGMA mmap_size=1073741824; PRAGMA locking_mode=EXCLUSIVE;");
    const auto ours_one = [&] { return commit_ten_lines(till, phone_of(pick(rng)), next_receipt()); };
    // Each commits until its WAL's size has stayed the same for 100 commits (it is being written over).
    defaults.warm(bare_warmup);
    same.warm(bare_warmup);
    const auto wal = dir / "commits" / "data" / "till.db-wal";
    const auto wal_size = [&] { return std::filesystem::exists(wal) ? std::filesystem::file_size(wal) : 0; };
    for (int k = 0, unchanged = 0; k < till_warmup && unchanged < 100; ++k) {
      const auto before = wal_size();
      ours_one();
      unchanged = wal_size() == before ? unchanged + 1 : 0;
    }
    for (int k = 0; k < commits; ++k) {
      bare_commit.push_back(defaults.one());
      same_commit.push_back(same.one());
      our_commit.push_back(ours_one());
    }
  }
  out.push_back({"commit_10_lines_mean", mean(our_commit), "us", "bare_wal_full_commit_mean", mean(bare_commit)});
  out.push_back({"commit_10_lines_p50", percentile(our_commit, 0.5), "us", "bare_wal_full_commit_p50", percentile(bare_commit, 0.5)});
  out.push_back({"commit_10_lines_mean_same_settings", mean(our_commit), "us", "bare_commit_till_settings_mean",
                 mean(same_commit)});
  out.push_back({"commit_10_lines_p50_same_settings", percentile(our_commit, 0.5), "us", "bare_commit_till_settings_p50",
                 percentile(same_commit, 0.5)});

  // A 30-line quote through the C header against the engine called directly on the same sale.
  {
    const auto rules = engine::load_rules(kRules).value();
    loy_checkout* c = nullptr;
    check_till(loy_checkout_begin(till, &c), till, "begin");
    check(loy_checkout_set_time(c, "2026-11-23T15:30:00+08:00") == LOY_OK, "time");
    const int member = 4;  // a gold member
    check(loy_checkout_identify(c, phone_of(member).c_str(), nullptr) == LOY_OK, "identify");
    engine::QuoteInput in;
    in.now = *engine::parse_instant("2026-11-23T15:30:00+08:00");
    std::vector<std::string> ids;
    for (int l = 0; l < 30; ++l) ids.push_back("L" + std::to_string(l));
    for (int l = 0; l < 30; ++l) {
      const loy_line ln = line(ids[static_cast<std::size_t>(l)], categories[l % 5], 1990 + 137 * l);
      check(loy_checkout_add_line(c, &ln) == LOY_OK, "add line");
      in.lines.push_back({ids[static_cast<std::size_t>(l)], "SKU-1", categories[l % 5], 1, 1990 + 137 * l});
    }
    check(loy_checkout_set_coupon(c, "AUTUMN30") == LOY_OK, "coupon");
    check(loy_checkout_redeem(c, 100) == LOY_OK, "redeem");
    loy_quote q{};
    q.struct_size = sizeof q;
    check(loy_checkout_quote(c, &q) == LOY_OK && q.coupon_rejected == 0 && q.redeem_rejected == 0,
          "the benchmark's quote must apply its coupon and redemption");
    engine::Member m;
    m.id = "M-0000004";
    m.tier = "gold";
    m.birthday = engine::MonthDay{5, 5};
    m.purchases = 5;
    m.last_purchase_at = engine::parse_instant("2026-10-05T10:00:00+08:00");
    m.points = 148;
    in.member = m;
    engine::Coupon cp;
    cp.code = "AUTUMN30";
    cp.kind = engine::CouponKind::amount;
    cp.value = 3000;
    cp.min_spend_minor = 20000;
    cp.valid_from = engine::parse_instant("2026-11-01T00:00:00+08:00");
    cp.valid_to = engine::parse_instant("2026-12-01T00:00:00+08:00");
    in.coupon = engine::CouponRequest{"AUTUMN30", cp};
    in.redeem_points = 100;
    in.context.offline = true;
    const int n = quick ? 20'000 : 100'000;
    const double ours_us = micros([&] {
      for (int k = 0; k < n; ++k) loy_checkout_quote(c, &q);
    });
    double sink = 0;
    const double engine_us = micros([&] {
      for (int k = 0; k < n; ++k) sink += static_cast<double>(engine::quote(rules, in)->payable_minor);
    });
    if (sink < 0) std::puts("");
    out.push_back({"quote_30_lines_via_c_abi", ours_us * 1000 / n, "ns", "quote_30_lines_engine_direct", engine_us * 1000 / n});
    loy_checkout_free(c);
  }
  loy_till_close(till);
  std::filesystem::remove_all(dir / "commits" / "data");

  // A till after 1,000,000 sales (--quick: 200,000 at the same pace), against the same till fresh,
  // each measured on a copy: kept whole (a retention longer than its history), and as it is once it
  // has pruned what headquarters applied more than 90 days ago (at its next open or sync).
  {
    const int sales = quick ? 200'000 : 1'000'000;
    const int days = sales / 500;  // 500 sales a day
    const auto history = dir / "history-source";
    const auto marker = history / ("sales-" + std::to_string(sales) + "-schema6");
    if (!std::filesystem::exists(marker)) {
      std::filesystem::remove_all(history);
      std::fprintf(stderr, "adding %d sales of history to a copy of the till (once)...\n", sales);
      copy_till(dir / "till" / "data", history);
      const double s = micros([&] { add_history(history / "till.db", sales, days); }) / 1e6;
      std::fprintf(stderr, "  %.1f s\n", s);
      std::ofstream(marker) << sales << "\n";
    }
    const int history_lookups = quick ? 20'000 : 50'000, history_commits = quick ? 200 : 400;
    const auto fresh_cfg = make_config(dir / "fresh");
    copy_till(dir / "till" / "data", dir / "fresh" / "data");
    const TillTimes fresh = measure_till(fresh_cfg, history_lookups, history_commits);
    const auto kept_cfg = make_config(dir / "kept", 3660);
    copy_till(history, dir / "kept" / "data");
    const TillTimes kept = measure_till(kept_cfg, history_lookups, history_commits);
    const auto pruned_cfg = make_config(dir / "pruned", 90);
    copy_till(history, dir / "pruned" / "data");
    const PruneTimes pruned = prune_with_lookups(pruned_cfg);
    const TillTimes after = measure_till(pruned_cfg, history_lookups, history_commits);
    const std::string n = quick ? "200k" : "1m";
    out.push_back({"lookup_p50_after_" + n + "_sales_kept", kept.lookup_p50, "us", "lookup_p50_fresh_till", fresh.lookup_p50});
    out.push_back({"lookup_p50_after_" + n + "_sales_pruned", after.lookup_p50, "us", "lookup_p50_fresh_till", fresh.lookup_p50});
    out.push_back({"lookup_p99_after_" + n + "_sales_pruned", after.lookup_p99, "us", "lookup_p99_fresh_till", fresh.lookup_p99});
    out.push_back({"commit_mean_after_" + n + "_sales_kept", kept.commit_mean, "us", "commit_mean_fresh_till", fresh.commit_mean});
    out.push_back({"commit_mean_after_" + n + "_sales_pruned", after.commit_mean, "us", "commit_mean_fresh_till", fresh.commit_mean});
    out.push_back({"open_with_" + n + "_sales_to_prune", pruned.open_s * 1000, "ms", "open_fresh_till", fresh.open_s * 1000});
    out.push_back({"sync_pruning_" + n + "_sales", pruned.prune_s, "s", "", 0});
    out.push_back({"outbox_entries_left_after_pruning", static_cast<double>(pruned.left), "entries", "", 0});
    out.push_back({"lookup_p99_during_pruning", pruned.lookup_p99, "us", "lookup_p99_fresh_till", fresh.lookup_p99});
    out.push_back({"lookup_max_during_pruning", pruned.lookup_max, "us", "lookup_p99_fresh_till", fresh.lookup_p99});
    out.push_back({"db_bytes_in_use_after_" + n + "_sales_pruned", bytes_in_use(dir / "pruned" / "data" / "till.db"), "bytes",
                   "db_bytes_in_use_fresh_till", bytes_in_use(dir / "fresh" / "data" / "till.db")});
    out.push_back({"db_file_bytes_after_" + n + "_sales_pruned",
                   static_cast<double>(std::filesystem::file_size(dir / "pruned" / "data" / "till.db")), "bytes",
                   "db_bytes_fresh_till", static_cast<double>(std::filesystem::file_size(dir / "fresh" / "data" / "till.db"))});
    for (const char* d : {"fresh", "kept", "pruned"}) std::filesystem::remove_all(dir / d / "data");
  }
  return out;
}

}  // namespace loyalty::bench
