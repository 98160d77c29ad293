// A sale's row of `sales` (its receipt's key) is written after its commit, with those of the sales
// after it (schema 6): until then the till finds the sale by its outbox entry, after a restart too.

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "loyalty/store/store.hpp"
#include "support.hpp"
#include "till_db_sql.hpp"

using namespace loyalty;

namespace {

std::int64_t commit(store::Store& s, const std::string& receipt, std::optional<std::string> coupon = std::nullopt) {
  store::NewSale sale;
  sale.receipt_id = receipt;
  sale.digest = "d-" + receipt;
  sale.member_id = "M-1";
  sale.coupon_code = std::move(coupon);
  store::OutboxEntry e;
  e.txn_id = "t-" + receipt;
  e.kind = "sale";
  e.member_id = "M-1";
  e.points_delta = 10;
  e.at_us = 1000;
  e.created_us = 1000;
  e.body = R"({"receipt_id":")" + receipt + R"("})";
  return s.commit_sale(sale, e);
}

store::OutboxEntry refund_entry(const std::string& refund_id) {
  store::OutboxEntry e;
  e.txn_id = "t-" + refund_id;
  e.kind = "refund";
  e.member_id = "M-1";
  e.points_delta = -5;
  e.body = "{}";
  return e;
}

std::int64_t count(store::Store& s, const std::string& sql) {
  store::Statement q(s.database(), sql.c_str());
  REQUIRE(q.step());
  return q.integer(0);
}

std::int64_t filed(store::Store& s) { return count(s, "SELECT COUNT(*) FROM sales WHERE origin = ''"); }

// The database as a power loss would leave it now: its file and its log, copied while it is open.
std::string crash_copy(const std::filesystem::path& dir, const std::string& name) {
  const auto to = dir / name;
  std::filesystem::copy_file(dir / "till.db", to);
  if (std::filesystem::exists(dir / "till.db-wal")) std::filesystem::copy_file(dir / "till.db-wal", to.string() + "-wal");
  return to.string();
}

void check_sale(store::Store& s, const std::string& receipt, std::int64_t seq) {
  INFO(receipt);
  const auto sale = s.sale("", receipt);
  REQUIRE(sale);
  CHECK(sale->txn_id == "t-" + receipt);
  CHECK(sale->digest == "d-" + receipt);
  CHECK(sale->member_id == std::optional<std::string>("M-1"));
  CHECK(sale->body == R"({"receipt_id":")" + receipt + R"("})");
  CHECK(sale->lines.empty());
  CHECK(sale->origin.empty());
  CHECK(sale->outbox_seq == seq);
}

}  // namespace

TEST_CASE("sales are filed in batches; one not filed yet is found, refused again and its coupon counted, after a power loss too",
          "[till]") {
  test::TempDir dir;
  const std::string path = (dir.path() / "till.db").string();
  const std::int64_t every = static_cast<std::int64_t>(store::Store::kFileSalesEvery);
  store::Store s(path);
  std::vector<std::int64_t> seqs;
  for (int i = 0; i < 10; ++i) seqs.push_back(commit(s, "R-" + std::to_string(i), i == 3 ? std::optional<std::string>("C-1") : std::nullopt));
  CHECK(filed(s) == 0);
  check_sale(s, "R-5", seqs[5]);
  CHECK(s.coupon_used_here("C-1"));
  CHECK_FALSE(s.coupon_used_here("C-2"));
  CHECK_THROWS_AS(commit(s, "R-5"), store::StorageError);
  CHECK_FALSE(s.sale("", "R-10"));
  CHECK_FALSE(s.sale("S002", "R-5"));  // another store's receipt of the same id is another sale

  // A power loss now: the sales are their entries, found again at open.
  {
    store::Store after(crash_copy(dir.path(), "lost-power.db"));
    CHECK(filed(after) == 0);
    for (int i = 0; i < 10; ++i) check_sale(after, "R-" + std::to_string(i), seqs[static_cast<std::size_t>(i)]);
    CHECK(after.coupon_used_here("C-1"));
    CHECK_THROWS_AS(commit(after, "R-9"), store::StorageError);
  }

  // The commit that makes kFileSalesEvery wait files them all, itself included, in its transaction.
  for (std::int64_t i = 10; i < every - 1; ++i) seqs.push_back(commit(s, "R-" + std::to_string(i)));
  CHECK(filed(s) == 0);
  seqs.push_back(commit(s, "R-" + std::to_string(every - 1)));
  CHECK(filed(s) == every);
  CHECK(count(s, "SELECT value FROM meta WHERE key = 'sales_filed_through'") == seqs.back());
  seqs.push_back(commit(s, "R-" + std::to_string(every)));
  CHECK(filed(s) == every);
  for (std::int64_t i = 0; i <= every; ++i) check_sale(s, "R-" + std::to_string(i), seqs[static_cast<std::size_t>(i)]);
  CHECK(s.coupon_used_here("C-1"));
  CHECK_THROWS_AS(commit(s, "R-0"), store::StorageError);
  CHECK_THROWS_AS(commit(s, "R-" + std::to_string(every)), store::StorageError);
  {
    store::Store after(crash_copy(dir.path(), "lost-power-2.db"));
    CHECK(filed(after) == every);
    for (std::int64_t i = 0; i <= every; ++i) check_sale(after, "R-" + std::to_string(i), seqs[static_cast<std::size_t>(i)]);
  }
}

TEST_CASE("any write of the till files the sales waiting, and closing files them", "[till]") {
  test::TempDir dir;
  const std::string path = (dir.path() / "till.db").string();
  {
    store::Store s(path);
    const std::int64_t first = commit(s, "R-1");
    commit(s, "R-2");
    CHECK(filed(s) == 0);
    // Headquarters' answers come: a write that skips the fsync (filing again after a power loss is
    // filing from the entries).
    store::Answer a;
    a.seq = first;
    a.member_id = "M-1";
    a.member_version = 2;
    s.record_answers({a});
    CHECK(filed(s) == 2);
    commit(s, "R-3");
    CHECK(filed(s) == 2);
    // A refund rewrites its sale's row: the row is written first.
    s.commit_refund("F-1", "", "R-3", R"([{"id":"1"}])", "{}", refund_entry("F-1"));
    CHECK(filed(s) == 3);
    CHECK(s.sale("", "R-3")->lines == R"([{"id":"1"}])");
    commit(s, "R-4");
    commit(s, "R-5");
    CHECK(filed(s) == 3);
  }
  store::Store s(path);
  CHECK(filed(s) == 5);
  CHECK(count(s, "SELECT value FROM meta WHERE key = 'sales_filed_through'") ==
        count(s, "SELECT MAX(seq) FROM outbox"));
  check_sale(s, "R-5", count(s, "SELECT seq FROM outbox WHERE receipt_id = 'R-5'"));
}

TEST_CASE("sales filed already, with the record of the filing behind, are not filed twice", "[till]") {
  test::TempDir dir;
  const std::string path = (dir.path() / "till.db").string();
  {
    store::Store s(path);
    for (int i = 0; i < 5; ++i) commit(s, "R-" + std::to_string(i));
  }
  // Rows written, as by a tool, without moving sales_filed_through on.
  test::exec_sql(path, "UPDATE meta SET value = 0 WHERE key = 'sales_filed_through'");
  store::Store s(path);
  check_sale(s, "R-2", 3);
  CHECK_THROWS_AS(commit(s, "R-2"), store::StorageError);
  const std::int64_t every = static_cast<std::int64_t>(store::Store::kFileSalesEvery);
  // The five are read from their rows, not waiting: the 64 after them are filed together.
  for (std::int64_t i = 5; i < every + 4; ++i) commit(s, "R-" + std::to_string(i));
  CHECK(filed(s) == 5);
  commit(s, "R-" + std::to_string(every + 4));
  CHECK(filed(s) == every + 5);
  for (std::int64_t i = 0; i < every + 5; ++i) check_sale(s, "R-" + std::to_string(i), i + 1);
}

TEST_CASE("a sale filed and refunded, with the record of the filing behind, keeps its lines left", "[till]") {
  test::TempDir dir;
  const std::string path = (dir.path() / "till.db").string();
  {
    store::Store s(path);
    commit(s, "R-1");
    s.commit_refund("F-1", "", "R-1", R"([{"left":1}])", "{}", refund_entry("F-1"));
  }
  test::exec_sql(path, "UPDATE meta SET value = 0 WHERE key = 'sales_filed_through'");
  store::Store s(path);
  CHECK(s.sale("", "R-1")->lines == R"([{"left":1}])");
  s.set_sale_lines("", "R-1", R"([{"left":0}])");
  CHECK(s.sale("", "R-1")->lines == R"([{"left":0}])");
}
