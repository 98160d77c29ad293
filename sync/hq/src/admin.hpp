// loyalty-hq's administration commands: member import (CSV) and rule sets.
#pragma once

#include <string>
#include <vector>

#include "loyalty/hq/storage.hpp"

struct x509_st;

namespace loyalty::hq {

// Reads `loyalty-hq members import` CSV: a header naming the columns id, name, phone, card, birthday,
// tier, points, and optionally purchases and last_purchase_at (in any order), then one member per line.
// Fields may be quoted ("Wang, Fang"). Tiers must be tiers of `tier_ids`. Throws std::runtime_error
// naming the line.
std::vector<ImportedMember> read_members_csv(const std::string& text, const std::vector<std::string>& tier_ids);

// A certificate's fingerprint as the stores registry keeps it: the SHA-256 of its DER, lowercase hex
// ("" when OpenSSL cannot take it); and of the certificate in a PEM file, which throws
// std::runtime_error naming the file.
std::string certificate_fingerprint(x509_st* cert);
std::string certificate_fingerprint(const std::string& pem_file);
// A fingerprint as an operator types it (upper or lower case, with or without colons), or "" when it
// is not 32 bytes of hexadecimal.
std::string normal_fingerprint(const std::string& text);

}  // namespace loyalty::hq
