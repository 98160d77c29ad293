// The TLS settings both ends of the wire share. Include it only where Boost.Asio's SSL already is
// (the server's and the client's one .cpp each): it is kept out of every other header.
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace loyalty::protocol {

// TLS 1.2 or later (1.3 when both offer it), no compression or renegotiation tricks of old versions.
inline void require_modern_tls(boost::asio::ssl::context& ctx) {
  namespace ssl = boost::asio::ssl;
  ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                  ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
  if (SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION) != 1)
    throw std::runtime_error("cannot require TLS 1.2");
}

// Loads the chain's CA, and this side's certificate and key when given (PEM); an error names the
// configuration key and the file.
struct TlsFileKeys {
  const char* ca;
  const char* cert;
  const char* key;
};
inline void load_tls_files(boost::asio::ssl::context& ctx, const TlsFileKeys& keys, const std::filesystem::path& ca,
                           const std::filesystem::path& cert, const std::filesystem::path& key) {
  const auto load = [](const char* name, const std::filesystem::path& p, auto&& f) {
    try {
      f(p.string());
    } catch (const std::exception& e) {
      throw std::runtime_error(std::string(name) + ": " + p.string() + ": " + e.what());
    }
  };
  load(keys.ca, ca, [&](const std::string& p) { ctx.load_verify_file(p); });
  if (cert.empty()) return;
  load(keys.cert, cert, [&](const std::string& p) { ctx.use_certificate_chain_file(p); });
  load(keys.key, key, [&](const std::string& p) { ctx.use_private_key_file(p, boost::asio::ssl::context::pem); });
}

}  // namespace loyalty::protocol
