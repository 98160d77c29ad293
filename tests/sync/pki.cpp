#include "pki.hpp"

#include <ctime>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <fstream>
#include <stdexcept>

namespace loyalty::test {
namespace {

void check(int ok, const char* what) {
  if (ok <= 0) throw std::runtime_error(std::string("test PKI: ") + what + " failed");
}

EVP_PKEY* new_key() {
  EVP_PKEY* k = EVP_EC_gen("P-256");
  if (!k) throw std::runtime_error("test PKI: key generation failed");
  return k;
}

std::string pem_of_key(EVP_PKEY* k) {
  BIO* b = BIO_new(BIO_s_mem());
  check(PEM_write_bio_PrivateKey(b, k, nullptr, nullptr, 0, nullptr, nullptr), "key PEM");
  char* data = nullptr;
  const long n = BIO_get_mem_data(b, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(b);
  return out;
}

std::string pem_of_cert(X509* c) {
  BIO* b = BIO_new(BIO_s_mem());
  check(PEM_write_bio_X509(b, c), "certificate PEM");
  char* data = nullptr;
  const long n = BIO_get_mem_data(b, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(b);
  return out;
}

void add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) throw std::runtime_error("test PKI: extension " + value);
  check(X509_add_ext(cert, ext, -1), "add extension");
  X509_EXTENSION_free(ext);
}

X509* new_cert(EVP_PKEY* key, const std::string& cn, int from_days, int to_days) {
  X509* c = X509_new();
  check(X509_set_version(c, 2), "version");
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(c), static_cast<long>(from_days) * 86400);
  X509_gmtime_adj(X509_getm_notAfter(c), static_cast<long>(to_days) * 86400);
  check(X509_set_pubkey(c, key), "public key");
  X509_NAME* name = X509_get_subject_name(c);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("loyalty tests"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  return c;
}

}  // namespace

std::string rsa_private_key_pem(int bits) {
  EVP_PKEY* k = EVP_RSA_gen(static_cast<unsigned>(bits));
  if (!k) throw std::runtime_error("test PKI: RSA key generation failed");
  const std::string pem = pem_of_key(k);
  EVP_PKEY_free(k);
  return pem;
}

void Issued::write(const std::filesystem::path& dir, const std::string& name) const {
  std::ofstream(dir / (name + ".key"), std::ios::binary) << key_pem;
  std::ofstream(dir / (name + ".pem"), std::ios::binary) << cert_pem;
}

TestCa::TestCa(const std::string& common_name) {
  key_ = new_key();
  cert_ = new_cert(key_, common_name, -2, 3650);
  check(X509_set_issuer_name(cert_, X509_get_subject_name(cert_)), "issuer");
  add_ext(cert_, cert_, NID_basic_constraints, "critical,CA:TRUE");
  add_ext(cert_, cert_, NID_key_usage, "critical,keyCertSign,cRLSign");
  add_ext(cert_, cert_, NID_subject_key_identifier, "hash");
  check(X509_sign(cert_, key_, EVP_sha256()), "sign CA");
  cert_pem_ = pem_of_cert(cert_);
}

TestCa::~TestCa() {
  X509_free(cert_);
  EVP_PKEY_free(key_);
}

Issued TestCa::issue(const std::string& common_name, const std::vector<std::string>& sans, bool server,
                     int valid_from_days, int valid_to_days) const {
  EVP_PKEY* key = new_key();
  X509* c = new_cert(key, common_name, valid_from_days, valid_to_days);
  check(X509_set_issuer_name(c, X509_get_subject_name(cert_)), "issuer");
  add_ext(c, cert_, NID_basic_constraints, "CA:FALSE");
  add_ext(c, cert_, NID_key_usage, "critical,digitalSignature");
  add_ext(c, cert_, NID_ext_key_usage, server ? "serverAuth" : "clientAuth");
  add_ext(c, cert_, NID_authority_key_identifier, "keyid:always");
  if (!sans.empty()) {
    std::string list;
    for (const auto& s : sans) list += (list.empty() ? "" : ",") + s;
    add_ext(c, cert_, NID_subject_alt_name, list);
  }
  check(X509_sign(c, key_, EVP_sha256()), "sign");
  Issued out{pem_of_key(key), pem_of_cert(c)};
  X509_free(c);
  EVP_PKEY_free(key);
  return out;
}

std::string TestCa::crl_pem(const std::vector<std::string>& revoked_cert_pems) const {
  X509_CRL* crl = X509_CRL_new();
  check(crl != nullptr, "CRL");
  X509_CRL_set_version(crl, 1);
  X509_CRL_set_issuer_name(crl, X509_get_subject_name(cert_));
  ASN1_TIME* now = ASN1_TIME_adj(nullptr, std::time(nullptr), -1, 0);
  ASN1_TIME* next = ASN1_TIME_adj(nullptr, std::time(nullptr), 7, 0);
  X509_CRL_set1_lastUpdate(crl, now);
  X509_CRL_set1_nextUpdate(crl, next);
  for (const std::string& pem : revoked_cert_pems) {
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    X509* c = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
    BIO_free(bio);
    check(c != nullptr, "read a certificate to revoke");
    X509_REVOKED* r = X509_REVOKED_new();
    X509_REVOKED_set_serialNumber(r, X509_get_serialNumber(c));
    X509_REVOKED_set_revocationDate(r, now);
    X509_CRL_add0_revoked(crl, r);
    X509_free(c);
  }
  X509_CRL_sort(crl);
  check(X509_CRL_sign(crl, key_, EVP_sha256()), "sign CRL");
  BIO* out = BIO_new(BIO_s_mem());
  PEM_write_bio_X509_CRL(out, crl);
  char* data = nullptr;
  const long n = BIO_get_mem_data(out, &data);
  std::string pem(data, static_cast<std::size_t>(n));
  BIO_free(out);
  ASN1_TIME_free(now);
  ASN1_TIME_free(next);
  X509_CRL_free(crl);
  return pem;
}

}  // namespace loyalty::test
