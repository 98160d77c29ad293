#include "loyalty/till/seal.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <vector>

#include "loyalty/till/till.hpp"

namespace loyalty::till {
namespace {

using Bytes = std::vector<unsigned char>;

constexpr const char* kAlg = "RSA-OAEP-256+A256GCM";

std::string base64(const Bytes& b) {
  std::string out(4 * ((b.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), b.data(), static_cast<int>(b.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

Bytes unbase64(const std::string& s) {
  Bytes out(3 * s.size() / 4 + 3);
  const int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
  if (n < 0) throw SealError("sealed envelope: bad base64");
  std::size_t len = static_cast<std::size_t>(n);
  for (std::size_t i = s.size(); i > 0 && s[i - 1] == '=' && len > 0; --i) --len;  // EVP_DecodeBlock keeps padding
  out.resize(len);
  return out;
}

struct CipherCtx {
  EVP_CIPHER_CTX* p = EVP_CIPHER_CTX_new();
  ~CipherCtx() { EVP_CIPHER_CTX_free(p); }
};
struct PkeyCtx {
  EVP_PKEY_CTX* p;
  explicit PkeyCtx(EVP_PKEY* k) : p(EVP_PKEY_CTX_new(k, nullptr)) {}
  ~PkeyCtx() { EVP_PKEY_CTX_free(p); }
};

constexpr std::size_t kMaxSealedBytes = 64 * 1024;

[[noreturn]] void crypto_failed(const char* what) { throw std::runtime_error(std::string("sealing: ") + what + " failed"); }

void oaep(EVP_PKEY_CTX* ctx) {
  if (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
      EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) <= 0 || EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) <= 0)
    crypto_failed("OAEP setup");
}

}  // namespace

SealingKey SealingKey::from_pem_file(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw TillError(LOY_E_CONFIG, "hq.enrollment_key_file: cannot be read: " + path);
  EVP_PKEY* k = PEM_read_PUBKEY(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (!k) throw TillError(LOY_E_CONFIG, "hq.enrollment_key_file: not a PEM public key: " + path);
  SealingKey key;
  key.key_.reset(k, EVP_PKEY_free);
  if (EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA || EVP_PKEY_get_bits(k) < 2048)
    throw TillError(LOY_E_CONFIG, "hq.enrollment_key_file: must be an RSA key of at least 2048 bits: " + path);
  return key;
}

std::string SealingKey::seal(std::string_view plaintext) const {
  Bytes key(32), iv(12), tag(16), data(plaintext.size() + 16);
  if (RAND_bytes(key.data(), 32) != 1 || RAND_bytes(iv.data(), 12) != 1) crypto_failed("random");
  CipherCtx c;
  int len = 0, fin = 0;
  if (!c.p || EVP_EncryptInit_ex(c.p, EVP_aes_256_gcm(), nullptr, key.data(), iv.data()) != 1 ||
      EVP_EncryptUpdate(c.p, data.data(), &len, reinterpret_cast<const unsigned char*>(plaintext.data()),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(c.p, data.data() + len, &fin) != 1 ||
      EVP_CIPHER_CTX_ctrl(c.p, EVP_CTRL_GCM_GET_TAG, 16, tag.data()) != 1)
    crypto_failed("AES-256-GCM");
  data.resize(static_cast<std::size_t>(len + fin));
  PkeyCtx p(key_.get());
  std::size_t wrapped_len = 0;
  if (!p.p || EVP_PKEY_encrypt_init(p.p) <= 0) crypto_failed("RSA init");
  oaep(p.p);
  if (EVP_PKEY_encrypt(p.p, nullptr, &wrapped_len, key.data(), key.size()) <= 0) crypto_failed("RSA size");
  Bytes wrapped(wrapped_len);
  if (EVP_PKEY_encrypt(p.p, wrapped.data(), &wrapped_len, key.data(), key.size()) <= 0) crypto_failed("RSA-OAEP");
  wrapped.resize(wrapped_len);
  OPENSSL_cleanse(key.data(), key.size());
  return nlohmann::ordered_json{{"alg", kAlg}, {"key", base64(wrapped)}, {"iv", base64(iv)}, {"tag", base64(tag)},
                                {"data", base64(data)}}
      .dump();
}

std::string open_sealed(std::string_view envelope_json, std::string_view private_key_pem) {
  Bytes wrapped, iv, tag, data;
  try {
    const auto env = nlohmann::json::parse(envelope_json);
    if (env.at("alg") != kAlg) throw SealError("sealed envelope: unknown alg");
    wrapped = unbase64(env.at("key"));
    iv = unbase64(env.at("iv"));
    tag = unbase64(env.at("tag"));
    data = unbase64(env.at("data"));
  } catch (const nlohmann::json::exception& e) {
    throw SealError(std::string("sealed envelope: ") + e.what());
  }
  // Every length is checked before OpenSSL reads a buffer: GCM reads 12 bytes of iv and 16 of tag.
  if (iv.size() != 12) throw SealError("sealed envelope: iv must be 12 bytes, not " + std::to_string(iv.size()));
  if (tag.size() != 16) throw SealError("sealed envelope: tag must be 16 bytes, not " + std::to_string(tag.size()));
  if (data.size() > kMaxSealedBytes) throw SealError("sealed envelope: data is over 64 KiB");
  BIO* bio = BIO_new_mem_buf(private_key_pem.data(), static_cast<int>(private_key_pem.size()));
  EVP_PKEY* k = bio ? PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr) : nullptr;
  BIO_free(bio);
  if (!k) throw std::runtime_error("sealed envelope: not a PEM private key");
  std::shared_ptr<EVP_PKEY> owner(k, EVP_PKEY_free);
  PkeyCtx p(k);
  std::size_t key_len = 0;
  if (wrapped.size() != static_cast<std::size_t>(EVP_PKEY_get_size(k)))
    throw std::runtime_error("sealed envelope: key is not " + std::to_string(EVP_PKEY_get_size(k)) +
                             " bytes (sealed to another key?)");
  if (!p.p || EVP_PKEY_decrypt_init(p.p) <= 0) crypto_failed("RSA init");
  oaep(p.p);
  if (EVP_PKEY_decrypt(p.p, nullptr, &key_len, wrapped.data(), wrapped.size()) <= 0) crypto_failed("RSA size");
  Bytes key(key_len);
  if (EVP_PKEY_decrypt(p.p, key.data(), &key_len, wrapped.data(), wrapped.size()) <= 0 || key_len != 32)
    crypto_failed("RSA-OAEP decrypt");
  CipherCtx c;
  Bytes out(data.size() + 16);
  int len = 0, fin = 0;
  if (!c.p || EVP_DecryptInit_ex(c.p, EVP_aes_256_gcm(), nullptr, key.data(), iv.data()) != 1 ||
      EVP_DecryptUpdate(c.p, out.data(), &len, data.data(), static_cast<int>(data.size())) != 1 ||
      EVP_CIPHER_CTX_ctrl(c.p, EVP_CTRL_GCM_SET_TAG, 16, const_cast<unsigned char*>(tag.data())) != 1 ||
      EVP_DecryptFinal_ex(c.p, out.data() + len, &fin) != 1)
    crypto_failed("AES-256-GCM open (tampered or wrong key)");
  return std::string(reinterpret_cast<const char*>(out.data()), static_cast<std::size_t>(len + fin));
}

}  // namespace loyalty::till
