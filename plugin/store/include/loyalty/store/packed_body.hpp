#pragma once
// An outbox entry's body as the till's database keeps it (schema 5): a transaction's JSON text
// compresses to about a third of its size, and a sale's commit writes that many fewer pages, each
// a WAL frame its fsync waits for. A packed body is a BLOB: its text's length (4 bytes, little
// endian) and the text as an LZ4 block. A body that would not shrink is kept as its TEXT, as every
// body written before schema 5 is: the column's type tells which.
#include <optional>
#include <string>
#include <string_view>

namespace loyalty::store {

// The packed form of `text`, or nothing when it would not be smaller than the text.
std::optional<std::string> pack_body(std::string_view text);

// The text of a packed body. Throws StorageError when `packed` is not one (a damaged database).
std::string unpack_body(std::string_view packed);

}  // namespace loyalty::store
