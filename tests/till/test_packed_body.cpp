// An outbox body as the till's database keeps it (schema 5): packed when that makes it smaller,
// its text otherwise, and a body written as text by an earlier schema read as it was.

#include <catch2/catch.hpp>
#include <random>
#include <string>

#include "loyalty/store/packed_body.hpp"
#include "loyalty/store/store.hpp"
#include "support.hpp"
#include "till_db_sql.hpp"

using namespace loyalty;

namespace {

// A transaction's body as a till writes one: JSON with the repetition of a sale's lines.
std::string sale_body(const std::string& txn_id, int lines) {
  std::string s = R"({"txn_id":")" + txn_id + R"(","kind":"sale","input":{"basket":[)";
  for (int i = 0; i < lines; ++i)
    s += std::string(i ? "," : "") + R"({"id":")" + std::to_string(i) + R"(","sku":"SKU-)" + std::to_string(i * 7) +
         R"(","category":"apparel","qty":1,"amount_minor":)" + std::to_string(1990 + 100 * i) + "}";
  return s + "]}}";
}

// Text that LZ4 cannot shrink: random letters, as a sealed enrollment's base64 is.
std::string random_text(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> pick(0, 63);
  static const char* const a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += a[pick(rng)];
  return s;
}

std::int64_t commit(store::Store& s, const std::string& receipt, const std::string& body) {
  store::NewSale sale;
  sale.receipt_id = receipt;
  sale.digest = "d-" + receipt;
  store::OutboxEntry e;
  e.txn_id = "t-" + receipt;
  e.kind = "sale";
  e.points_delta = 10;
  e.at_us = 1000;
  e.created_us = 1000;
  e.body = body;
  return s.commit_sale(sale, e);
}

std::string type_of(store::Store& s, std::int64_t seq) {
  store::Statement q(s.database(), "SELECT typeof(body) FROM outbox WHERE seq = ?1");
  q.bind(1, seq);
  return q.step() ? q.text(0) : "";
}

}  // namespace

TEST_CASE("a packed body unpacks to its text, and what would not shrink is not packed", "[till]") {
  for (const int lines : {3, 10, 30, 1000}) {
    const std::string text = sale_body("a", lines);
    const auto packed = store::pack_body(text);
    REQUIRE(packed);
    CHECK(packed->size() < text.size() * 2 / 3);
    CHECK(store::unpack_body(*packed) == text);
  }
  std::mt19937 rng(3);
  for (int k = 0; k < 200; ++k) {  // texts of every length up to a few kilobytes, from a small alphabet
    std::string text(std::uniform_int_distribution<std::size_t>(0, 5000)(rng), ' ');
    for (char& c : text) c = "{}\":,ab01"[std::uniform_int_distribution<int>(0, 8)(rng)];
    if (const auto packed = store::pack_body(text)) {
      CHECK(packed->size() < text.size());
      CHECK(store::unpack_body(*packed) == text);
    }
  }
  CHECK_FALSE(store::pack_body(""));
  CHECK_FALSE(store::pack_body(random_text(2000, 1)));
}

TEST_CASE("a damaged packed body is a storage error, never a crash", "[till]") {
  const auto packed = *store::pack_body(sale_body("a", 10));
  CHECK_THROWS_AS(store::unpack_body(""), store::StorageError);
  CHECK_THROWS_AS(store::unpack_body(packed.substr(0, 4)), store::StorageError);
  CHECK_THROWS_AS(store::unpack_body(packed.substr(0, packed.size() - 1)), store::StorageError);
  std::string longer = packed;
  longer[0] = static_cast<char>(longer[0] + 1);  // names one byte more than it holds
  CHECK_THROWS_AS(store::unpack_body(longer), store::StorageError);
  std::string huge = packed;
  huge[3] = static_cast<char>(0x7F);  // names about 2 GB
  CHECK_THROWS_AS(store::unpack_body(huge), store::StorageError);
  // Sizes refused before anything is allocated: more than 255 times the block, more than a transaction.
  CHECK_THROWS_WITH(store::unpack_body(std::string("\x00\x00\x50\x00\x01\x02\x03\x04", 8)),
                    Catch::Contains("names a size of 5242880 bytes"));
  CHECK_THROWS_WITH(store::unpack_body(std::string("\x01\x00\x60\x00", 4) + std::string(30'000, 'x')),
                    Catch::Contains("names a size of 6291457 bytes"));
  CHECK_FALSE(store::pack_body(std::string(6 * 1024 * 1024 + 1, 'a')));  // kept as text, which any size may be
  std::mt19937 rng(9);
  for (int k = 0; k < 500; ++k) {  // flipped bytes: an error or some text, within the size it names
    std::string bad = packed;
    bad[std::uniform_int_distribution<std::size_t>(4, bad.size() - 1)(rng)] ^= static_cast<char>(1 + k % 255);
    std::size_t size = 0;
    try {
      size = store::unpack_body(bad).size();
    } catch (const store::StorageError&) {
      continue;
    }
    CHECK(size == sale_body("a", 10).size());
  }
}

TEST_CASE("the till packs a sale's body, and reads bodies an earlier schema wrote as text", "[till]") {
  test::TempDir dir;
  const std::string path = (dir.path() / "till.db").string();
  const std::string sale = sale_body("s1", 10), sealed = random_text(1500, 2);
  {
    store::Store s(path);
    CHECK(s.database().user_version() == store::Store::kSchemaVersion);
    const auto packed_seq = commit(s, "R-1", sale);
    const auto text_seq = commit(s, "R-2", sealed);
    CHECK(type_of(s, packed_seq) == "blob");
    CHECK(type_of(s, text_seq) == "text");
    CHECK(s.sale("", "R-1")->body == sale);
    CHECK(s.sale("", "R-2")->body == sealed);
    const auto unsent = s.unsent(10);
    REQUIRE(unsent.size() == 2);
    CHECK(unsent[0].body == sale);
    CHECK(unsent[1].body == sealed);
  }
  // As schema 4 kept them: every body text, every sale filed (the store filed both as it closed).
  test::exec_sql(path, "UPDATE outbox SET body = body_text(body); ALTER TABLE outbox DROP COLUMN digest; "
                       "ALTER TABLE outbox DROP COLUMN coupon_code; DELETE FROM meta WHERE key = 'sales_filed_through'; "
                       "PRAGMA user_version = 4");
  {
    store::Store s(path);
    CHECK(s.database().user_version() == store::Store::kSchemaVersion);
    CHECK(type_of(s, 1) == "text");
    CHECK(s.sale("", "R-1")->body == sale);
    const auto third = commit(s, "R-3", sale_body("s3", 10));
    CHECK(type_of(s, third) == "blob");
    const auto unsent = s.unsent(10);
    REQUIRE(unsent.size() == 3);
    CHECK(unsent[0].body == sale);
    CHECK(unsent[2].body == sale_body("s3", 10));
  }
  // A damaged body: reading its sale is a storage error; the sync sends the others, and refuses it
  // here for good, naming it.
  test::exec_sql(path, "UPDATE outbox SET body = X'FF00000001020304' WHERE seq = 2");
  store::Store s(path);
  CHECK_THROWS_AS(s.sale("", "R-2"), store::StorageError);
  CHECK(s.sale("", "R-1")->body == sale);  // the statement is usable after the error
  std::vector<std::pair<std::int64_t, std::string>> damaged;
  const auto unsent = s.unsent(10, 0, INT64_MAX, &damaged);
  REQUIRE(unsent.size() == 2);
  CHECK(unsent[0].seq == 1);
  CHECK(unsent[1].seq == 3);
  REQUIRE(damaged.size() == 1);
  CHECK(damaged[0].first == 2);
  CHECK(damaged[0].second.find("damaged in the till's database") != std::string::npos);
  CHECK(s.status().rejected == 1);
  CHECK(s.unsent(10).size() == 2);  // not read again
}
