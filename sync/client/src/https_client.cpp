#include "loyalty/sync/https_client.hpp"

#include <openssl/ssl.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <optional>

#include "loyalty/protocol/tls.hpp"

namespace loyalty::sync {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

constexpr std::uint64_t kMaxAnswerBytes = 64ull * 1024 * 1024;

}  // namespace

struct HttpsClient::Impl {
  std::string host, port;
  bool host_is_address = false;
  net::io_context ioc;
  ssl::context ctx{ssl::context::tls_client};
  std::optional<beast::ssl_stream<beast::tcp_stream>> stream;
  beast::flat_buffer buffer;
  bool connected = false;
  std::atomic<bool> cancelled{false};

  std::optional<tcp::resolver> resolver;

  // Runs the io_context until the operations started complete. When cancelled meanwhile, aborts
  // what is pending and lets those handlers run now, while the variables they write to are alive.
  void run() {
    ioc.restart();
    if (!cancelled) ioc.run();
    if (!cancelled) return;
    if (resolver) resolver->cancel();
    if (stream) {
      beast::error_code ec;
      beast::get_lowest_layer(*stream).socket().close(ec);
    }
    ioc.restart();
    ioc.run();
    throw NetworkError("the sync was cancelled");
  }

  void close() {
    if (stream) {
      beast::error_code ec;
      beast::get_lowest_layer(*stream).socket().close(ec);
    }
    stream.reset();
    buffer.clear();
    connected = false;
  }

  void connect(std::chrono::milliseconds timeout) {
    close();
    stream.emplace(ioc, ctx);
    // SNI names the host; an address is not a host name and is not sent.
    if (!host_is_address && !SSL_set_tlsext_host_name(stream->native_handle(), host.c_str()))
      throw NetworkError("cannot set the TLS server name " + host);
    stream->set_verify_callback(ssl::host_name_verification(host));

    beast::error_code ec;
    resolver.emplace(ioc);
    tcp::resolver::results_type endpoints;
    resolver->async_resolve(host, port, [&](beast::error_code e, tcp::resolver::results_type r) {
      ec = e;
      endpoints = std::move(r);
    });
    run();
    if (ec) throw NetworkError("cannot resolve headquarters' host " + host + ": " + ec.message());
    beast::get_lowest_layer(*stream).expires_after(timeout);
    beast::get_lowest_layer(*stream).async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) { ec = e; });
    run();
    if (ec) throw NetworkError("cannot connect to headquarters at " + host + ":" + port + ": " + ec.message());
    // A request is written in pieces (TLS records, header and body): without this, Nagle's algorithm
    // holds the last piece for the peer's delayed acknowledgement, some 40 ms each time.
    beast::get_lowest_layer(*stream).socket().set_option(tcp::no_delay(true), ec);
    beast::get_lowest_layer(*stream).expires_after(timeout);
    stream->async_handshake(ssl::stream_base::client, [&](beast::error_code e) { ec = e; });
    run();
    if (ec) throw NetworkError("TLS handshake with headquarters at " + host + ":" + port + " failed: " + ec.message());
    connected = true;
  }

  HttpResult exchange(const http::request<http::string_body>& req, std::chrono::milliseconds timeout) {
    beast::error_code ec;
    beast::get_lowest_layer(*stream).expires_after(timeout);
    http::async_write(*stream, req, [&](beast::error_code e, std::size_t) { ec = e; });
    run();
    if (ec) throw NetworkError("sending to headquarters failed: " + ec.message());
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxAnswerBytes);
    beast::get_lowest_layer(*stream).expires_after(timeout);
    http::async_read(*stream, buffer, parser, [&](beast::error_code e, std::size_t) { ec = e; });
    run();
    if (ec) throw NetworkError("reading headquarters' answer failed: " + ec.message());
    auto& res = parser.get();
    HttpResult out;
    out.status = static_cast<int>(res.result_int());
    out.etag = std::string(res[http::field::etag]);
    out.body = std::move(res.body());
    if (!res.keep_alive()) close();
    return out;
  }
};

HttpsClient::HttpsClient(const std::string& url, const TlsFiles& tls) : impl_(std::make_unique<Impl>()) {
  if (url.rfind("https://", 0) != 0) throw std::runtime_error("hq.url: must start with https://");
  std::string hostport = url.substr(8);
  if (const auto slash = hostport.find('/'); slash != std::string::npos) hostport.resize(slash);
  if (!hostport.empty() && hostport.front() == '[') {  // [::1]:8443
    const auto close = hostport.find(']');
    if (close == std::string::npos) throw std::runtime_error("hq.url: an IPv6 address needs its closing ]");
    impl_->host = hostport.substr(1, close - 1);
    impl_->port = close + 2 <= hostport.size() && hostport[close + 1] == ':' ? hostport.substr(close + 2) : "443";
  } else {
    const auto colon = hostport.rfind(':');
    impl_->host = hostport.substr(0, colon);
    impl_->port = colon == std::string::npos ? "443" : hostport.substr(colon + 1);
  }
  if (impl_->host.empty() || impl_->port.empty()) throw std::runtime_error("hq.url: needs a host, like https://hq:8443");
  beast::error_code ec;
  net::ip::make_address(impl_->host, ec);
  impl_->host_is_address = !ec;

  auto& ctx = impl_->ctx;
  protocol::require_modern_tls(ctx);
  protocol::load_tls_files(ctx, {"hq.ca_file", "hq.cert_file", "hq.key_file"}, tls.ca_file, tls.cert_file, tls.key_file);
  ctx.set_verify_mode(ssl::verify_peer);
}

HttpsClient::~HttpsClient() = default;

HttpResult HttpsClient::request(std::string_view method, std::string_view target, std::string body,
                                std::string_view if_none_match, std::chrono::milliseconds timeout) {
  Impl& i = *impl_;
  if (i.cancelled) throw NetworkError("the sync was cancelled");
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, i.host);
  req.set(http::field::user_agent, "libloyalty");
  if (!if_none_match.empty()) req.set(http::field::if_none_match, if_none_match);
  if (!body.empty() || method == "POST") {
    req.set(http::field::content_type, "application/json");
    req.body() = std::move(body);
  }
  req.keep_alive(true);
  req.prepare_payload();
  try {
    const bool reused = i.connected;
    if (!i.connected) i.connect(timeout);
    try {
      return i.exchange(req, timeout);
    } catch (const NetworkError&) {
      if (!reused || i.cancelled) throw;
      // Headquarters may have closed the idle connection: one more try on a new one.
      i.connect(timeout);
      return i.exchange(req, timeout);
    }
  } catch (...) {
    i.close();
    throw;
  }
}

void HttpsClient::cancel() {
  impl_->cancelled = true;
  impl_->ioc.stop();
}

void HttpsClient::disconnect() { impl_->close(); }

}  // namespace loyalty::sync
