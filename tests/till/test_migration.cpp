// A till database of an earlier release opens with this library: migrated in place, nothing lost,
// every pending effect still counted once.

#include <catch2/catch.hpp>
#include <string>

#include "loyalty/store/store.hpp"
#include "support.hpp"
#include "till_db_sql.hpp"

using namespace loyalty;

namespace {

std::string from_v3(const std::filesystem::path& dir) {
  const std::string path = (dir / "till.db").string();
  test::exec_sql(path, test::read_text(std::filesystem::path(LOYALTY_TILL_TEST_DATA) / "till-v3.sql"));
  return path;
}

std::int64_t count(store::Store& s, const char* sql) {
  store::Statement q(s.database(), sql);
  return q.step() ? q.integer(0) : -1;
}

}  // namespace

TEST_CASE("a schema 3 database is migrated to the current schema and keeps its sales, refunds and pending effects", "[till]") {
  test::TempDir dir;
  const std::string path = from_v3(dir.path());
  {
  store::Store s(path);
  CHECK(s.database().user_version() == store::Store::kSchemaVersion);
  // Every sale's entry names its receipt; no other entry does.
  CHECK(count(s, "SELECT COUNT(*) FROM outbox WHERE kind = 'sale' AND receipt_id IS NULL") == 0);
  CHECK(count(s, "SELECT COUNT(*) FROM outbox WHERE kind != 'sale' AND receipt_id IS NOT NULL") == 0);
  CHECK(count(s, "SELECT receipt_id = 'R-4' FROM outbox WHERE seq = 4") == 1);
  CHECK(count(s, "SELECT COUNT(*) FROM sqlite_schema WHERE name IN ('sales_outbox', 'outbox_pending', 'outbox_to_send')") == 0);
  // Headquarters' answers moved to a table of their own; the entries waiting have none.
  CHECK(count(s, "SELECT COUNT(*) FROM answers") == 6);
  CHECK(count(s, "SELECT COUNT(*) FROM answers WHERE seq IN (3, 7)") == 0);
  CHECK(count(s, "SELECT state * 100 + acked_version FROM answers WHERE seq = 4") == 103);
  CHECK(count(s, "SELECT COUNT(*) FROM pragma_table_info('outbox') WHERE name IN ('state', 'acked_version', 'reason')") == 0);

  // Lines stored before are kept as they were.
  const auto r1 = s.sale("", "R-1");
  REQUIRE(r1);
  CHECK(r1->lines.find("\"net_minor\":1000") != std::string::npos);
  CHECK(r1->outbox_seq == 1);
  CHECK(r1->body == "{\"txn_id\":\"a1\",\"kind\":\"sale\"}");  // kept where schema 3 put it
  CHECK(r1->txn_id == "a1");
  const auto foreign = s.sale("S002", "R-1");
  REQUIRE(foreign);
  CHECK(foreign->txn_id == "x9");
  CHECK(s.refund("F-1"));

  // M-1: waiting (+50) and held (+30) count; the sale and refund in its version-5 record do not.
  const auto m1 = s.pending("M-1", s.member_by_id("M-1")->version);
  CHECK(m1.points == 80);
  CHECK(m1.sales == 2);
  CHECK(m1.last_sale_us == 5300);
  // M-2: applied at version 3, cache at 2 (+70); refused for good (+10) never.
  const auto m2 = s.pending("M-2", s.member_by_id("M-2")->version);
  CHECK(m2.points == 70);
  CHECK(m2.sales == 1);
  CHECK(s.holds_enrollment("T-S001-01"));
  CHECK_FALSE(s.holds_enrollment("M-1"));

  // Pruning finds the sale by its receipt: R-1 goes with its refund; R-8 (anonymous, applied long
  // ago) stays as the newest entry, whose seq must never be given again; the rest stay.
  CHECK(s.prune(2000, 0, 100) == 2);
  CHECK_FALSE(s.sale("", "R-1"));
  CHECK_FALSE(s.refund("F-1"));
  CHECK(s.sale("", "R-8"));
  CHECK(s.sale("S002", "R-1"));
  CHECK(s.sale("", "R-3"));
  CHECK(s.to_send() == 3);  // waiting R-3, held R-6, the enrollment
  const auto unsent = s.unsent(10);
  REQUIRE(unsent.size() == 3);
  CHECK(unsent[0].seq == 3);
  CHECK(unsent[0].body == "{\"txn_id\":\"a3\",\"kind\":\"sale\"}");
  CHECK(unsent[1].seq == 6);
  CHECK(s.status().held == 1);
  CHECK(s.status().rejected == 1);
  CHECK(s.status().outbox_depth == 2);

  }
  // The same counts after the till opens it again.
  store::Store s(path);
  CHECK(s.pending("M-1", 5).points == 80);
  CHECK(s.pending("M-2", 2).points == 70);
}
