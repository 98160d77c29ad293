// The shape of Beast's asynchronous SSL server example: a listener, a session per connection, a
// timeout before every operation and a body limit on every request.
#include "loyalty/hq/server.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/resource.h>

#include <array>
#include <filesystem>
#include <atomic>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/version.hpp>
#include <memory>
#include <mutex>
#include <thread>
#include <set>
#include <unordered_map>
#include <vector>

#include "admin.hpp"
#include "loyalty/protocol/batch.hpp"
#include "loyalty/protocol/tls.hpp"

namespace loyalty::hq {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;

class Session;

struct ServerState {
  ServerState(const HqConfig& c, Service& s, const std::function<void(const std::string&)>& l, std::size_t cap)
      : config(c), service(s), log(l), max_connections(cap),
        batches(static_cast<std::size_t>(c.batch_workers)), reads(static_cast<std::size_t>(c.read_workers)) {}
  const HqConfig& config;
  Service& service;
  const std::function<void(const std::string&)>& log;
  const std::size_t max_connections;  // limits.connections, within the process's file descriptors
  std::atomic<bool> stopping{false};
  std::mutex mu;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions;
  std::unordered_map<std::string, int> handshaking;  // connections in their handshake, by client address
  std::set<std::string> revoked;                      // serial numbers tls.crl_file revokes
  // Storage work runs here, off the threads that serve connections: batches on theirs, reads on
  // theirs, so that a large batch (or many) never holds up a health check, a changes page or a handshake.
  net::thread_pool batches, reads;
};

// The store id of the verified client certificate: its subject's common name.
std::string peer_store_id(SSL* ssl) {
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (!cert) return {};
  char cn[256] = {};
  const int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
  X509_free(cert);
  if (n <= 0 || static_cast<std::size_t>(n) >= sizeof cn) return {};
  const std::string id(cn, static_cast<std::size_t>(n));
  return protocol::limits::is_store_id(id) ? id : std::string();
}

// The client certificate's SHA-256 (of its DER), lowercase hex: how the stores registry names it.
std::string peer_fingerprint(SSL* ssl) {
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (!cert) return {};
  std::string out = certificate_fingerprint(cert);
  X509_free(cert);
  return out;
}

// The certificates a CRL of the chain's CA revokes, by serial number (hex), loaded at start. Checked
// on every connection once its handshake is done, full or resumed from a ticket.
std::set<std::string> revoked_serials(const std::filesystem::path& crl_file) {
  std::set<std::string> out;
  if (crl_file.empty()) return out;
  BIO* bio = BIO_new_file(crl_file.c_str(), "r");
  if (!bio) throw std::runtime_error("tls.crl_file: cannot read " + crl_file.string());
  int crls = 0;
  while (X509_CRL* crl = PEM_read_bio_X509_CRL(bio, nullptr, nullptr, nullptr)) {
    ++crls;
    STACK_OF(X509_REVOKED)* revoked = X509_CRL_get_REVOKED(crl);
    for (int i = 0; revoked && i < sk_X509_REVOKED_num(revoked); ++i) {
      const ASN1_INTEGER* serial = X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(revoked, i));
      BIGNUM* bn = ASN1_INTEGER_to_BN(serial, nullptr);
      char* hex = bn ? BN_bn2hex(bn) : nullptr;
      if (hex) out.insert(hex);
      OPENSSL_free(hex);
      BN_free(bn);
    }
    X509_CRL_free(crl);
  }
  ERR_clear_error();
  BIO_free(bio);
  if (crls == 0) throw std::runtime_error("tls.crl_file: " + crl_file.string() + " holds no CRL (PEM)");
  return out;
}

std::string peer_serial(SSL* ssl) {
  X509* cert = SSL_get1_peer_certificate(ssl);
  if (!cert) return {};
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
  char* hex = bn ? BN_bn2hex(bn) : nullptr;
  std::string out = hex ? hex : "";
  OPENSSL_free(hex);
  BN_free(bn);
  X509_free(cert);
  return out;
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  // `address`: the client's, counted in state.handshaking until the handshake ends.
  Session(tcp::socket&& socket, ssl::context& ctx, ServerState& state, std::string address)
      : stream_(std::move(socket), ctx), state_(state), address_(std::move(address)) {
    beast::error_code ec;
    // Answers go out whole at once, not held for the client's delayed acknowledgement (Nagle).
    beast::get_lowest_layer(stream_).socket().set_option(tcp::no_delay(true), ec);
    const auto ep = beast::get_lowest_layer(stream_).socket().remote_endpoint(ec);
    if (!ec) peer_ = ep.address().to_string() + ":" + std::to_string(ep.port());
  }
  ~Session() {
    std::lock_guard lock(state_.mu);
    state_.sessions.erase(this);
    if (handshaking_) release_handshake_locked();
  }

  void run() { net::dispatch(stream_.get_executor(), beast::bind_front_handler(&Session::on_run, shared_from_this())); }

  // At shutdown: a connection waiting for its next request is closed; one in a request finishes it.
  void stop_if_idle() {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      if (self->draining_ || (self->idle_ && (!self->parser_ || !self->parser_->got_some())))
        beast::get_lowest_layer(self->stream_).cancel();
    });
  }

 private:
  std::chrono::seconds timeout() const { return std::chrono::seconds(state_.config.timeout_seconds); }

  void on_run() {
    // A handshake of its own, short deadline: a connection that does not authenticate soon holds no slot.
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(state_.config.handshake_seconds));
    stream_.async_handshake(ssl::stream_base::server,
                            beast::bind_front_handler(&Session::on_handshake, shared_from_this()));
  }

  void release_handshake_locked() {
    handshaking_ = false;
    const auto it = state_.handshaking.find(address_);
    if (it != state_.handshaking.end() && --it->second <= 0) state_.handshaking.erase(it);
  }

  void on_handshake(beast::error_code ec) {
    {
      std::lock_guard lock(state_.mu);
      if (handshaking_) release_handshake_locked();
    }
    if (ec) {
      state_.log("TLS handshake with " + peer_ + " refused: " + ec.message());
      return;
    }
    state_.service.count_handshake(SSL_session_reused(stream_.native_handle()) == 1);
    if (!state_.revoked.empty() && state_.revoked.count(peer_serial(stream_.native_handle()))) {
      state_.log("client " + peer_ + " refused: its certificate is revoked by tls.crl_file");
      return do_close();
    }
    store_id_ = peer_store_id(stream_.native_handle());
    fingerprint_ = peer_fingerprint(stream_.native_handle());
    if (store_id_.empty()) {
      state_.log("client " + peer_ + " refused: its certificate names no store (CN of 1..32 letters, digits, '-', '_')");
      return do_close();
    }
    do_read();
  }

  void do_read() {
    if (state_.stopping) return do_close();
    parser_.emplace();
    parser_->body_limit(state_.config.body_limit);
    parser_->header_limit(16 * 1024);
    idle_ = true;
    beast::get_lowest_layer(stream_).expires_after(timeout());
    http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    idle_ = false;
    if (ec == http::error::end_of_stream) return do_close();
    if (ec == http::error::body_limit) {
      return send_error(413, "too_large",
                        "a request body is at most " + std::to_string(state_.config.body_limit) + " bytes");
    }
    if (ec == beast::error::timeout || ec == net::error::operation_aborted || ec == net::ssl::error::stream_truncated ||
        ec == net::error::eof || ec == net::error::connection_reset)
      return;  // the connection is gone or timed out: nothing to answer
    if (ec) return send_error(400, "bad_request", "malformed HTTP request: " + ec.message());

    auto& req = parser_->get();
    HttpRequest r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    r.body = std::move(req.body());
    r.if_none_match = std::string(req[http::field::if_none_match]);
    r.store_id = store_id_;
    r.fingerprint = fingerprint_;
    const bool keep_alive = req.keep_alive();
    const unsigned version = req.version();
    auto& workers = r.method == "POST" ? state_.batches : state_.reads;
    net::post(workers, [self = shared_from_this(), r = std::move(r), keep_alive, version]() mutable {
      HttpResponse res = self->state_.service.handle(r, unix_micros_now());
      net::post(self->stream_.get_executor(), [self, res = std::move(res), keep_alive, version]() mutable {
        self->send(std::move(res), keep_alive, version);
      });
    });
  }

  void send_error(int status, std::string_view code, const std::string& message) {
    HttpResponse res;
    res.status = status;
    res.body = protocol::error_json(code, message);
    state_.service.count(status);
    draining_ = true;  // the rest of the request is read and dropped, so that the client reads the answer
    send(std::move(res), false, 11);
  }

  void send(HttpResponse res, bool keep_alive, unsigned version) {
    res_ = {};
    res_.version(version);
    res_.result(static_cast<http::status>(res.status));
    res_.set(http::field::server, "loyalty-hq");
    if (!res.etag.empty()) res_.set(http::field::etag, res.etag);
    if (res.retry_after_seconds > 0) res_.set(http::field::retry_after, std::to_string(res.retry_after_seconds));
    if (res.status != 304) res_.set(http::field::content_type, res.content_type);
    res_.body() = std::move(res.body);
    res_.keep_alive(keep_alive && !state_.stopping);
    res_.prepare_payload();
    beast::get_lowest_layer(stream_).expires_after(timeout());
    http::async_write(stream_, res_,
                      beast::bind_front_handler(&Session::on_write, shared_from_this(), !res_.keep_alive()));
  }

  void on_write(bool close, beast::error_code ec, std::size_t) {
    if (ec) return;
    if (draining_) {
      // One timeout for the whole drain: a client dripping bytes cannot hold the connection.
      beast::get_lowest_layer(stream_).expires_after(timeout());
      return drain();
    }
    if (close) return do_close();
    do_read();
  }

  // After an error answer to a request that is still arriving (a body over the limit), what the client
  // still sends is read and dropped, up to four times the body limit and for one timeout, before the
  // connection closes: closing at once would reset it under the client's write, and the client would
  // never read the answer.
  void drain() {
    stream_.async_read_some(net::buffer(scratch_), [self = shared_from_this()](beast::error_code e, std::size_t n) {
      self->drained_ += n;
      if (e || self->drained_ > 4 * self->state_.config.body_limit) return self->do_close();
      self->drain();
    });
  }

  void do_close() {
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(5));
    stream_.async_shutdown([self = shared_from_this()](beast::error_code) {});
  }

  beast::ssl_stream<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
  ServerState& state_;
  std::string address_;
  bool handshaking_ = true;  // under state_.mu
  std::string peer_ = "(unknown)";
  std::string store_id_, fingerprint_;
  bool idle_ = false;
  bool draining_ = false;
  std::uint64_t drained_ = 0;
  std::array<char, 16384> scratch_{};
};

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(net::io_context& ioc, ssl::context& ctx, tcp::endpoint endpoint, ServerState& state)
      : ioc_(ioc), ctx_(ctx), acceptor_(net::make_strand(ioc)), pause_(acceptor_.get_executor()), state_(state) {
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(net::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(net::socket_base::max_listen_connections);
  }

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  void run() { do_accept(); }
  void stop() {
    net::post(acceptor_.get_executor(), [self = shared_from_this()] {
      beast::error_code ec;
      self->acceptor_.close(ec);
      self->pause_.cancel();
    });
  }

 private:
  void do_accept() {
    acceptor_.async_accept(net::make_strand(ioc_), beast::bind_front_handler(&Listener::on_accept, shared_from_this()));
  }

  void on_accept(beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) {
      // Out of file descriptors or memory, typically: retrying at once would spin and flood the log.
      // The listener pauses (100 ms, doubling to 1 s) and says so once until an accept succeeds.
      if (!accept_failing_) state_.log("accept failed: " + ec.message() + "; pausing new connections");
      accept_failing_ = true;
      accept_pause_ = std::min(accept_pause_ == std::chrono::milliseconds(0) ? std::chrono::milliseconds(100) : accept_pause_ * 2,
                               std::chrono::milliseconds(1000));
      pause_.expires_after(accept_pause_);
      pause_.async_wait([self = shared_from_this()](beast::error_code e) {
        if (!e && !self->state_.stopping && self->acceptor_.is_open()) self->do_accept();
      });
      return;
    }
    if (accept_failing_) state_.log("accepting connections again");
    accept_failing_ = false;
    accept_pause_ = std::chrono::milliseconds(0);
    {
      beast::error_code aec;
      const auto remote = socket.remote_endpoint(aec);
      const std::string address = aec ? std::string("(unknown)") : remote.address().to_string();
      bool full = false, crowded = false;
      std::shared_ptr<Session> s;
      {
        std::lock_guard lock(state_.mu);
        full = state_.sessions.size() >= state_.max_connections;
        // One address's connections still in their handshake are capped: unauthenticated ones from
        // a few addresses cannot take the slots every till needs.
        crowded = !full && state_.handshaking[address] >= state_.config.handshakes_per_address;
        if (!full && !crowded) {
          s = std::make_shared<Session>(std::move(socket), ctx_, state_, address);
          state_.sessions.emplace(s.get(), s);
          ++state_.handshaking[address];
        } else if (state_.handshaking[address] == 0) {
          state_.handshaking.erase(address);
        }
      }
      if (full || crowded) {
        // Closed at once: a flood of connections cannot exhaust the server.
        beast::error_code ignored;
        socket.close(ignored);
        state_.service.count_refused_connection();
        if (full && !refusing_)
          state_.log("connection limit (" + std::to_string(state_.max_connections) + ") reached: refusing new connections");
        if (crowded && crowded_logged_.insert(address).second)
          state_.log("address " + address + " has " + std::to_string(state_.config.handshakes_per_address) +
                     " connections in their TLS handshake: refusing more from it until they end");
        refusing_ = full;
      } else {
        refusing_ = false;
        crowded_logged_.erase(address);
        s->run();
      }
    }
    if (!state_.stopping) do_accept();
  }

  net::io_context& ioc_;
  ssl::context& ctx_;
  tcp::acceptor acceptor_;
  net::steady_timer pause_;  // after a failed accept
  ServerState& state_;
  bool refusing_ = false;  // these on the acceptor's strand
  std::set<std::string> crowded_logged_;  // addresses refused for their handshakes, logged once each
  bool accept_failing_ = false;
  std::chrono::milliseconds accept_pause_{0};
};

ssl::context make_tls_context(const HqConfig& c) {
  ssl::context ctx(ssl::context::tls_server);
  protocol::require_modern_tls(ctx);
  protocol::load_tls_files(ctx, {"tls.ca_file", "tls.cert_file", "tls.key_file"}, c.ca_file, c.cert_file, c.key_file);
  // Every client presents a certificate of the chain's CA: no certificate, no connection.
  ctx.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  // Sessions resume from tickets (TLS 1.3) or the session cache (TLS 1.2): a till that reconnects
  // skips the certificate exchange and the key agreement. The context names which sessions are
  // this server's; a resumed session keeps the client certificate it was made with.
  static const unsigned char kContext[] = "loyalty-hq";
  SSL_CTX_set_session_id_context(ctx.native_handle(), kContext, sizeof kContext - 1);
  SSL_CTX_set_session_cache_mode(ctx.native_handle(), SSL_SESS_CACHE_SERVER);
  SSL_CTX_set_timeout(ctx.native_handle(), 24 * 3600);
  // Instances sharing the ticket key resume each other's sessions (behind a load balancer a till
  // reconnects to any of them); without it each instance draws its own at start.
  if (!c.ticket_key.empty() &&
      SSL_CTX_set_tlsext_ticket_keys(ctx.native_handle(), const_cast<std::uint8_t*>(c.ticket_key.data()),
                                     static_cast<long>(c.ticket_key.size())) != 1)
    throw std::runtime_error("tls.ticket_key_file: OpenSSL refused the key");
  return ctx;
}

// limits.connections, lowered when the process may not open that many files: each connection is a
// descriptor, and the database, its log and the listener need some too.
std::size_t connection_cap(int configured, const std::function<void(const std::string&)>& log) {
  auto cap = static_cast<std::size_t>(configured);
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY) {
    constexpr rlim_t kReserved = 32;
    const auto room = static_cast<std::size_t>(lim.rlim_cur > 2 * kReserved ? lim.rlim_cur - kReserved : lim.rlim_cur / 2);
    if (room < cap) {
      log("limits.connections " + std::to_string(cap) + " lowered to " + std::to_string(room) +
          ": the process may open " + std::to_string(lim.rlim_cur) + " files (ulimit -n)");
      cap = room;
    }
  }
  return cap;
}

}  // namespace

void run_server(const HqConfig& config, Service& service, const std::function<void(const std::string&)>& log,
                const std::function<void(std::uint16_t)>& on_listening) {
  ssl::context ctx = make_tls_context(config);
  // Declared before the io_context: sessions destroyed with it at a forced stop still reach it.
  ServerState state{config, service, log, connection_cap(config.max_connections, log)};
  state.revoked = revoked_serials(config.crl_file);
  net::io_context ioc(config.threads);

  beast::error_code ec;
  const auto address = net::ip::make_address(config.listen_host, ec);
  tcp::endpoint endpoint;
  if (!ec) {
    endpoint = tcp::endpoint(address, config.listen_port);
  } else {
    tcp::resolver resolver(ioc);
    const auto results = resolver.resolve(config.listen_host, std::to_string(config.listen_port), ec);
    if (ec || results.empty()) throw std::runtime_error("listen: cannot resolve " + config.listen_host);
    endpoint = *results.begin();
  }
  std::shared_ptr<Listener> listener;
  try {
    listener = std::make_shared<Listener>(ioc, ctx, endpoint, state);
  } catch (const std::exception& e) {
    throw std::runtime_error("listen: cannot listen on " + config.listen_host + ":" +
                             std::to_string(config.listen_port) + ": " + e.what());
  }
  listener->run();

  net::signal_set signals(ioc, SIGINT, SIGTERM);
  net::steady_timer grace(ioc);
  std::function<void(beast::error_code)> check_drained;
  auto drain_until = std::chrono::steady_clock::now();
  check_drained = [&](beast::error_code) {
    std::size_t live = 0;
    {
      std::lock_guard lock(state.mu);
      live = state.sessions.size();
    }
    if (live == 0 || std::chrono::steady_clock::now() >= drain_until) {
      if (live) log("stopping with " + std::to_string(live) + " connections still open");
      ioc.stop();
      return;
    }
    grace.expires_after(std::chrono::milliseconds(50));
    grace.async_wait(check_drained);
  };
  signals.async_wait([&](beast::error_code e, int sig) {
    if (e) return;
    log(std::string("received ") + (sig == SIGTERM ? "SIGTERM" : "SIGINT") +
        ": no new connections; finishing the requests in flight");
    state.stopping = true;
    listener->stop();
    std::vector<std::shared_ptr<Session>> live;
    {
      std::lock_guard lock(state.mu);
      for (auto& [_, weak] : state.sessions)
        if (auto s = weak.lock()) live.push_back(std::move(s));
    }
    for (auto& s : live) s->stop_if_idle();
    live.clear();
    drain_until = std::chrono::steady_clock::now() + std::chrono::seconds(config.timeout_seconds);
    check_drained({});
  });

  on_listening(listener->port());
  std::vector<std::thread> threads;
  for (int i = 1; i < config.threads; ++i) threads.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& t : threads) t.join();
  // A request still with a worker (at a forced stop) finishes there; its answer has nowhere to go.
  state.batches.join();
  state.reads.join();
  log("stopped");
}

}  // namespace loyalty::hq
