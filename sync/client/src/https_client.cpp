#include "loyalty/sync/https_client.hpp"

#include <netdb.h>
#include <openssl/ssl.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <cstring>
#include <optional>
#include <vector>

#include "loyalty/protocol/tls.hpp"

namespace loyalty::sync {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

constexpr std::uint64_t kMaxAnswerBytes = 64ull * 1024 * 1024;

// One lookup of the system's resolver, run by the C library in the background (getaddrinfo_a).
struct Lookup {
  std::string host, port;
  addrinfo hints{};
  gaicb cb{};
  ~Lookup() {
    if (cb.ar_result) freeaddrinfo(cb.ar_result);
  }
};

// Headquarters' addresses within `timeout`, given up at once when `cancelled` is set. Asio's resolver
// cannot be abandoned: its cancel waits for the system's lookup, which can take a minute when DNS is
// down. A lookup given up here is left to the C library; when it cannot be cancelled its few bytes
// are left to it too, since it still writes into them.
std::vector<tcp::endpoint> resolve(const std::string& host, const std::string& port, std::chrono::milliseconds timeout,
                                   const std::atomic<bool>& cancelled) {
  auto lookup = std::make_unique<Lookup>();
  lookup->host = host;
  lookup->port = port;
  lookup->hints.ai_family = AF_UNSPEC;
  lookup->hints.ai_socktype = SOCK_STREAM;
  lookup->cb.ar_name = lookup->host.c_str();
  lookup->cb.ar_service = lookup->port.c_str();
  lookup->cb.ar_request = &lookup->hints;
  gaicb* list[] = {&lookup->cb};
  if (const int rc = getaddrinfo_a(GAI_NOWAIT, list, 1, nullptr); rc != 0)
    throw NetworkError("cannot resolve headquarters' host " + host + ": " + gai_strerror(rc));
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int rc = EAI_INPROGRESS;
  while ((rc = gai_error(&lookup->cb)) == EAI_INPROGRESS) {
    if (cancelled || std::chrono::steady_clock::now() >= deadline) {
      if (gai_cancel(&lookup->cb) == EAI_NOTCANCELED) (void)lookup.release();
      throw NetworkError(cancelled ? "the sync was cancelled"
                                   : "cannot resolve headquarters' host " + host + ": no answer within the timeout");
    }
    const timespec slice{0, 50'000'000};
    const gaicb* const wait[] = {&lookup->cb};
    gai_suspend(wait, 1, &slice);
  }
  if (rc != 0) throw NetworkError("cannot resolve headquarters' host " + host + ": " + gai_strerror(rc));
  std::vector<tcp::endpoint> out;
  for (const addrinfo* a = lookup->cb.ar_result; a; a = a->ai_next) {
    if (a->ai_family != AF_INET && a->ai_family != AF_INET6) continue;
    tcp::endpoint e;
    if (a->ai_addrlen > e.capacity()) continue;
    std::memcpy(e.data(), a->ai_addr, a->ai_addrlen);
    e.resize(a->ai_addrlen);
    out.push_back(e);
  }
  if (out.empty()) throw NetworkError("cannot resolve headquarters' host " + host + ": no address");
  return out;
}

}  // namespace

struct HttpsClient::Impl {
  ~Impl() {
    SSL_CTX_set_ex_data(ctx.native_handle(), slot(), nullptr);  // no ticket is kept from here on
    close();
    if (session) SSL_SESSION_free(session);
    session = nullptr;
  }
  // The context's slot for its client (Asio keeps its own callbacks in the context's app data).
  static int slot() {
    static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
  }
  // Headquarters' newest session ticket, offered at the next connection to resume.
  static int on_new_session(SSL* ssl, SSL_SESSION* s) {
    auto* self = static_cast<Impl*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), slot()));
    if (!self) return 0;
    if (self->session) SSL_SESSION_free(self->session);
    self->session = s;
    return 1;  // kept
  }
  SSL_SESSION* session = nullptr;
  Handshakes handshakes;
  std::string host, port;
  bool host_is_address = false;
  net::io_context ioc;
  ssl::context ctx{ssl::context::tls_client};
  std::optional<beast::ssl_stream<beast::tcp_stream>> stream;
  beast::flat_buffer buffer;
  bool connected = false;
  std::atomic<bool> cancelled{false};
  std::uint16_t port_number = 0;  // when host is an address
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();

  // A step's timeout: its own, or what is left before the request's deadline.
  std::chrono::milliseconds within(std::chrono::milliseconds timeout) const {
    if (deadline == std::chrono::steady_clock::time_point::max()) return timeout;
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left <= std::chrono::milliseconds(0)) throw NetworkError("headquarters did not answer within the time allowed");
    return std::min(timeout, left);
  }

  // Runs the io_context until the operations started complete. When cancelled meanwhile, aborts
  // what is pending and lets those handlers run now, while the variables they write to are alive.
  void run() {
    ioc.restart();
    if (!cancelled) ioc.run();
    if (!cancelled) return;
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
      // Marked shut down: OpenSSL would otherwise take a connection ended without close_notify (an
      // idle one headquarters closed, one cut) for a bad session, and its ticket could not resume.
      SSL_set_shutdown(stream->native_handle(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
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
    if (session && SSL_SESSION_is_resumable(session)) SSL_set_session(stream->native_handle(), session);
    // SNI names the host; an address is not a host name and is not sent.
    if (!host_is_address && !SSL_set_tlsext_host_name(stream->native_handle(), host.c_str()))
      throw NetworkError("cannot set the TLS server name " + host);
    stream->set_verify_callback(ssl::host_name_verification(host));

    beast::error_code ec;
    std::vector<tcp::endpoint> endpoints;
    if (host_is_address) {
      endpoints.emplace_back(net::ip::make_address(host), port_number);
    } else {
      endpoints = resolve(host, port, within(timeout), cancelled);
    }
    beast::get_lowest_layer(*stream).expires_after(within(timeout));
    beast::get_lowest_layer(*stream).async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) { ec = e; });
    run();
    if (ec) throw NetworkError("cannot connect to headquarters at " + host + ":" + port + ": " + ec.message());
    // A request is written in pieces (TLS records, header and body): without this, Nagle's algorithm
    // holds the last piece for the peer's delayed acknowledgement, some 40 ms each time.
    beast::get_lowest_layer(*stream).socket().set_option(tcp::no_delay(true), ec);
    beast::get_lowest_layer(*stream).expires_after(within(timeout));
    stream->async_handshake(ssl::stream_base::client, [&](beast::error_code e) { ec = e; });
    run();
    if (ec) {
      // A session headquarters no longer takes is not offered again.
      if (session) SSL_SESSION_free(session);
      session = nullptr;
      throw NetworkError("TLS handshake with headquarters at " + host + ":" + port + " failed: " + ec.message());
    }
    ++(SSL_session_reused(stream->native_handle()) == 1 ? handshakes.resumed : handshakes.full);
    connected = true;
  }

  HttpResult exchange(const http::request<http::string_body>& req, std::chrono::milliseconds timeout) {
    beast::error_code ec;
    beast::get_lowest_layer(*stream).expires_after(within(timeout));
    http::async_write(*stream, req, [&](beast::error_code e, std::size_t) { ec = e; });
    run();
    if (ec) throw NetworkError("sending to headquarters failed: " + ec.message());
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxAnswerBytes);
    beast::get_lowest_layer(*stream).expires_after(within(timeout));
    http::async_read(*stream, buffer, parser, [&](beast::error_code e, std::size_t) { ec = e; });
    run();
    if (ec) throw NetworkError("reading headquarters' answer failed: " + ec.message());
    auto& res = parser.get();
    HttpResult out;
    out.status = static_cast<int>(res.result_int());
    out.etag = std::string(res[http::field::etag]);
    if (const auto ra = res[http::field::retry_after]; !ra.empty() && ra.size() <= 9 &&
                                                         ra.find_first_not_of("0123456789") == std::string_view::npos)
      out.retry_after_seconds = std::stoll(std::string(ra));
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
  if (impl_->host_is_address) {
    const auto& p = impl_->port;
    unsigned long n = 0;
    if (p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos || (n = std::stoul(p)) == 0 || n > 65535)
      throw std::runtime_error("hq.url: the port must be a number within 1..65535");
    impl_->port_number = static_cast<std::uint16_t>(n);
  }

  auto& ctx = impl_->ctx;
  protocol::require_modern_tls(ctx);
  protocol::load_tls_files(ctx, {"hq.ca_file", "hq.cert_file", "hq.key_file"}, tls.ca_file, tls.cert_file, tls.key_file);
  ctx.set_verify_mode(ssl::verify_peer);
  SSL_CTX_set_session_cache_mode(ctx.native_handle(), SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_set_ex_data(ctx.native_handle(), Impl::slot(), impl_.get());
  SSL_CTX_sess_set_new_cb(ctx.native_handle(), &Impl::on_new_session);
}

HttpsClient::~HttpsClient() = default;

HttpResult HttpsClient::request(std::string_view method, std::string_view target, std::string body,
                                std::string_view if_none_match, std::chrono::milliseconds timeout,
                                std::chrono::steady_clock::time_point deadline) {
  Impl& i = *impl_;
  if (i.cancelled) throw NetworkError("the sync was cancelled");
  i.deadline = deadline;
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
  } catch (const NetworkError&) {
    i.close();
    if (deadline != std::chrono::steady_clock::time_point::max() && std::chrono::steady_clock::now() >= deadline)
      throw NetworkError("headquarters did not answer within the time allowed");
    throw;
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

HttpsClient::Handshakes HttpsClient::handshakes() const { return impl_->handshakes; }

}  // namespace loyalty::sync
