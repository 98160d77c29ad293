#pragma once
// SQL over a till's database as tests read and tamper with it. An outbox body may be packed
// (schema 5, loyalty/store/packed_body.hpp): body_text(body) is its text either way, and
// pack_body(text) stores a text as the library would (NULL and BLOBs pass through both as they are,
// but for body_text unpacking a BLOB that unpacks).
#include <sqlite3.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>
#include <string_view>

#include "loyalty/store/database.hpp"
#include "loyalty/store/packed_body.hpp"

namespace loyalty::test {

inline void add_body_functions(sqlite3* db) {
  const auto text_of = [](sqlite3_context* ctx, int, sqlite3_value** argv) {
    if (sqlite3_value_type(argv[0]) == SQLITE_NULL) return sqlite3_result_null(ctx);
    const auto* p = static_cast<const char*>(sqlite3_value_blob(argv[0]));
    const std::string_view in(p ? p : "", static_cast<std::size_t>(sqlite3_value_bytes(argv[0])));
    if (sqlite3_value_type(argv[0]) != SQLITE_BLOB) {
      sqlite3_result_text(ctx, in.data(), static_cast<int>(in.size()), SQLITE_TRANSIENT);
      return;
    }
    try {
      const std::string text = store::unpack_body(in);
      sqlite3_result_text(ctx, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
    } catch (const store::StorageError&) {  // damaged (on purpose): left as it is
      sqlite3_result_value(ctx, argv[0]);
    }
  };
  const auto pack = [](sqlite3_context* ctx, int, sqlite3_value** argv) {
    // Only a text is packed: NULL and a BLOB (packed, or damaged on purpose) stay as they are.
    if (sqlite3_value_type(argv[0]) != SQLITE_TEXT) return sqlite3_result_value(ctx, argv[0]);
    const auto* p = reinterpret_cast<const char*>(sqlite3_value_text(argv[0]));
    const std::string_view text(p ? p : "", static_cast<std::size_t>(sqlite3_value_bytes(argv[0])));
    if (const auto packed = store::pack_body(text))
      sqlite3_result_blob(ctx, packed->data(), static_cast<int>(packed->size()), SQLITE_TRANSIENT);
    else
      sqlite3_result_text(ctx, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
  };
  sqlite3_create_function(db, "body_text", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, nullptr, text_of, nullptr, nullptr);
  sqlite3_create_function(db, "pack_body", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, nullptr, pack, nullptr, nullptr);
}

// Runs `sql` on the database at `path` (created when missing), with the functions above.
inline void exec_sql(const std::filesystem::path& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  add_body_functions(db);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  INFO((err ? err : ""));
  sqlite3_free(err);
  sqlite3_close(db);
  REQUIRE(rc == SQLITE_OK);
}

}  // namespace loyalty::test
