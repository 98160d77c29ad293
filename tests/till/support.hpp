// A till in a temporary folder, driven through the C header, and the documents it is seeded with.
#pragma once

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>
#include <string>

#include "loyalty/loyalty.h"

namespace loyalty::test {

// The chain's code key of every test till (32 bytes).
inline const char* const kCodeKeyHex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void write_text(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}

// HMAC-SHA256 of a normalised code under kCodeKeyHex, as headquarters computes it.
inline std::string code_hash_hex(const std::string& normalised) {
  unsigned char key[32];
  for (int i = 0; i < 32; ++i) key[i] = static_cast<unsigned char>(std::stoi(std::string(kCodeKeyHex + 2 * i, 2), nullptr, 16));
  unsigned char md[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key, 32, reinterpret_cast<const unsigned char*>(normalised.data()), normalised.size(), md, &len);
  static const char* const digits = "0123456789abcdef";
  std::string hex;
  for (unsigned i = 0; i < len; ++i) {
    hex += digits[md[i] >> 4];
    hex += digits[md[i] & 15];
  }
  return hex;
}

class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() / ("loyalty-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A configuration whose files exist; `edit` may change it before it is written.
inline std::filesystem::path write_config(const std::filesystem::path& dir, nlohmann::json* edit = nullptr) {
  for (const char* f : {"ca.pem", "store.pem", "store.key"}) write_text(dir / f, "placeholder\n");
  write_text(dir / "hq-enroll.pem", read_text(std::filesystem::path(LOYALTY_TILL_TEST_DATA) / "test-hq-enroll-public.pem"));
  nlohmann::json c = {
      {"data_dir", "data"},
      {"store_id", "S001"},
      {"till_id", "T01"},
      {"code_key", kCodeKeyHex},
      {"hq", {{"url", "https://127.0.0.1:8443"}, {"ca_file", "ca.pem"}, {"cert_file", "store.pem"},
              {"key_file", "store.key"}, {"enrollment_key_file", "hq-enroll.pem"}}},
      {"sync", {{"interval_seconds", 0}}}};
  if (edit) {
    c.merge_patch(*edit);
  }
  const auto path = dir / "till.json";
  write_text(path, c.dump(2));
  return path;
}

inline std::string demo_rules() { return read_text(std::filesystem::path(LOYALTY_TEST_DATA) / "rules" / "demo-chain.json"); }

// A member record of a changes document, with its codes hashed.
inline nlohmann::json member_record(const std::string& id, std::int64_t version, const std::string& tier,
                                    std::int64_t points, std::vector<std::string> codes, std::int64_t purchases = 3) {
  nlohmann::json hashes = nlohmann::json::array();
  for (const auto& c : codes) hashes.push_back(code_hash_hex(c));
  return {{"id", id}, {"version", version}, {"masked_name", "W*** F***"}, {"codes", hashes}, {"tier", tier},
          {"purchases", purchases}, {"last_purchase_at", "2026-11-01T10:00:00+08:00"}, {"points", points}};
}

inline std::string changes(nlohmann::json members, std::int64_t next, nlohmann::json coupons = nlohmann::json::array()) {
  return nlohmann::json{{"members", members}, {"coupons", coupons}, {"next", next}, {"more", false}}.dump();
}

// An open till, closed at the end of the test.
class TestTill {
 public:
  explicit TestTill(const std::filesystem::path& config) {
    char error[512];
    const loy_status s = loy_till_open(config.c_str(), nullptr, &till_, error, sizeof error);
    if (s != LOY_OK) throw std::runtime_error(std::string("loy_till_open: ") + error);
  }
  ~TestTill() { loy_till_close(till_); }
  TestTill(const TestTill&) = delete;
  TestTill& operator=(const TestTill&) = delete;
  loy_till* get() const { return till_; }
  operator loy_till*() const { return till_; }  // NOLINT: by design

 private:
  loy_till* till_ = nullptr;
};

// A line of the basket for loy_checkout_add_line; the strings must outlive the call.
inline loy_line sale_line(const char* id, const char* category, std::int64_t amount, std::int64_t qty = 1) {
  loy_line l{};
  l.struct_size = sizeof l;
  l.id = id;
  l.sku = "SKU";
  l.category = category;
  l.qty = qty;
  l.amount_minor = amount;
  return l;
}

inline loy_member_info member_info() {
  loy_member_info m{};
  m.struct_size = sizeof m;
  return m;
}

}  // namespace loyalty::test
