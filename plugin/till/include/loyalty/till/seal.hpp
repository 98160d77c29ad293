// Envelope encryption of an enrollment's personal fields to headquarters' public key: the till can
// seal them but never open them again.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

struct evp_pkey_st;

namespace loyalty::till {

class SealingKey {
 public:
  // Reads an RSA public key (PEM, at least 2048 bits); throws TillError(LOY_E_CONFIG) otherwise.
  static SealingKey from_pem_file(const std::string& path);

  // {"alg": "RSA-OAEP-256+A256GCM", "key", "iv", "tag", "data"} with base64 values: a fresh AES-256
  // key encrypts `plaintext` with GCM and is itself encrypted with RSA-OAEP (SHA-256).
  std::string seal(std::string_view plaintext) const;

 private:
  std::shared_ptr<evp_pkey_st> key_;
};

// An envelope whose own shape is wrong (a field missing, a length): no key could open it.
class SealError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Opens a sealed envelope with the private key (PEM text): headquarters' side, and the tests'.
// Throws SealError for a malformed envelope, std::runtime_error when this key cannot open it.
std::string open_sealed(std::string_view envelope_json, std::string_view private_key_pem);

}  // namespace loyalty::till
