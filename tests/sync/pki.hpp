// Certificates made in the test, with OpenSSL: a chain CA and what it signs, including the bad cases
// the security tests need (another CA, an expired certificate, a server certificate for another host).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

struct evp_pkey_st;
struct x509_st;

namespace loyalty::test {

struct Issued {
  std::string key_pem;
  std::string cert_pem;
  // Writes NAME.key and NAME.pem into `dir`.
  void write(const std::filesystem::path& dir, const std::string& name) const;
};

// A fresh RSA private key in PEM (an enrollment key other than the chain's).
std::string rsa_private_key_pem(int bits = 2048);

class TestCa {
 public:
  explicit TestCa(const std::string& common_name);
  ~TestCa();
  TestCa(const TestCa&) = delete;
  TestCa& operator=(const TestCa&) = delete;

  const std::string& cert_pem() const { return cert_pem_; }
  // A leaf certificate. `sans` like {"DNS:localhost", "IP:127.0.0.1"}; validity in days from now
  // (negative: in the past).
  Issued issue(const std::string& common_name, const std::vector<std::string>& sans, bool server,
               int valid_from_days = -1, int valid_to_days = 30) const;
  // A CRL of this CA (PEM), current for a week, revoking these certificates (PEM).
  std::string crl_pem(const std::vector<std::string>& revoked_cert_pems) const;

 private:
  evp_pkey_st* key_ = nullptr;
  x509_st* cert_ = nullptr;
  std::string cert_pem_;
};

}  // namespace loyalty::test
