// loyalty-loadgen: S stores x T tills against a headquarters, each till a state machine on a few
// threads (not a thread per till), with real mutual TLS (one certificate per store), kept-alive
// connections and resumed sessions, as libloyalty's sync does. Each till commits sales and syncs at
// an interval: POST /v1/batches with what it has queued (the same batch id again after a failure),
// then GET /v1/changes from its cursor. At the end it drains what is queued, reports sales/s,
// acknowledgement latency, handshakes and errors, and checks in headquarters' database that it holds
// exactly the sales committed, each once.
//
//   loyalty-loadgen --url https://127.0.0.1:8443 --pki DIR --stores 300 --tills 10 --seconds 120
//                   [--interval-ms 10000] [--sales 3] [--members 10000] [--threads 2]
//                   [--check-postgres URL | --check-sqlite FILE] [--seeded] [--json FILE]
//
// --seeded: each till starts following the changes feed where it ends now (read from the database
// given to check), as a till seeded from a snapshot of the members does; without it every till first
// downloads every member.
//   loyalty-loadgen --print-rules            # the rule set headquarters must hold
//   loyalty-loadgen --print-members N        # its members, as `loyalty-hq members import` reads them
//
// DIR holds ca.pem and store-<ID>.pem/.key for stores S0001..; headquarters holds the rules
// (tests/bench/bench_rules.hpp) and members M-0000000.. (silver, purchases 10).
#include <libpq-fe.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bench_rules.hpp"
#include "loyalty/engine/json_reader.hpp"
#include "loyalty/engine/json_writer.hpp"
#include "loyalty/engine/quote.hpp"
#include "loyalty/engine/rules.hpp"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
namespace engine = loyalty::engine;

struct Options {
  std::string url = "https://127.0.0.1:8443";
  std::string pki;
  int stores = 10, tills = 10, seconds = 30, interval_ms = 10'000, sales = 3, members = 10'000, threads = 2;
  int batch_limit = 100;
  std::string check_postgres, check_sqlite, json_out;
  bool seeded = false;
};

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> b(bytes);
  RAND_bytes(b.data(), static_cast<int>(bytes));
  static const char* const digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : b) (out += digits[c >> 4]) += digits[c & 15];
  return out;
}

std::string store_name(int s) {
  char b[16];
  std::snprintf(b, sizeof b, "S%04d", s + 1);
  return b;
}

std::int64_t wall_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct Sale {
  std::string txn_id, body;
  Clock::time_point committed;
};

// What every till reports; merged at the end.
struct Stats {
  std::mutex mu;
  std::vector<double> ack_ms;        // POST /v1/batches: request made (a connection's making included) to answer read
  std::vector<double> sale_ack_ms;   // a sale's commit to its acknowledgement
  std::int64_t committed = 0, acked = 0, batches = 0, changes_pages = 0;
  std::int64_t full = 0, resumed = 0;
  std::int64_t reconnected = 0;  // requests sent again on a new connection after an idle one closed
  std::map<std::string, std::int64_t> errors;  // by kind: requests that failed and were retried
  std::set<std::string> committed_ids;
};

// This run's mark in every receipt id: a run against a database that holds another's makes no
// receipt that run made.
const std::string& run_id() {
  static const std::string id = random_hex(4);
  return id;
}

// The connection's slot for its till (Asio keeps its own verify callback in the app data).
int till_slot() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

class Till : public std::enable_shared_from_this<Till> {
 public:
  Till(net::io_context& ioc, ssl::context& ctx, const Options& o, const engine::RuleSet& rules, Stats& stats,
       tcp::endpoint hq, std::string store, std::string till, std::uint64_t seed)
      : strand_(net::make_strand(ioc)), ctx_(ctx), o_(o), rules_(rules), stats_(stats), hq_(hq),
        store_(std::move(store)), till_(std::move(till)), timer_(strand_), rng_(seed) {}
  ~Till() {
    if (session_) SSL_SESSION_free(session_);
  }

  // Starts at a random phase of the interval, so that the tills do not arrive together.
  void start(Clock::time_point stop_selling, Clock::time_point give_up) {
    stop_selling_ = stop_selling;
    give_up_ = give_up;
    std::uniform_int_distribution<int> phase(0, std::max(1, o_.interval_ms));
    schedule(std::chrono::milliseconds(phase(rng_)));
  }
  bool drained() const { return done_; }
  void seed(std::int64_t cursor, std::string generation) {
    cursor_ = cursor;
    generation_ = std::move(generation);
  }
  std::size_t queued() const { return queued_.size() + in_flight_.size(); }

  // The newest session ticket, kept for the next connection (the client context's callback).
  void keep_session(SSL_SESSION* s) {
    if (session_) SSL_SESSION_free(session_);
    session_ = s;
  }

 private:
  void schedule(std::chrono::milliseconds wait) {
    timer_.expires_after(wait);
    timer_.async_wait(net::bind_executor(strand_, [self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->tick();
    }));
  }

  void tick() {
    const auto now = Clock::now();
    if (now < stop_selling_) {
      for (int i = 0; i < o_.sales; ++i) sell();
    } else if (queued_.empty() && in_flight_.empty()) {
      done_ = true;
      close();
      return;
    }
    if (now > give_up_) {
      done_ = true;
      close();
      return;
    }
    send_batch();
  }

  // A sale as a till commits it: quoted by the engine under headquarters' rules.
  void sell() {
    std::uniform_int_distribution<int> member(0, std::max(0, o_.members - 1));
    std::uniform_int_distribution<int> amount(500, 30'000);
    char id[16];
    std::snprintf(id, sizeof id, "M-%07d", member(rng_));
    engine::QuoteInput in;
    in.now = engine::Instant{wall_us(), 480};
    engine::Member m;
    m.id = id;
    m.tier = "silver";
    m.purchases = 10;
    m.last_purchase_at = engine::Instant{in.now.utc_micros - 86'400'000'000, 480};
    in.member = m;
    const int lines = 1 + static_cast<int>(rng_() % 3);
    for (int l = 0; l < lines; ++l)
      in.lines.push_back(engine::Line{std::to_string(l + 1), "SKU-" + std::to_string(rng_() % 1000),
                                      l % 2 ? "food" : "apparel", 1, amount(rng_)});
    const auto q = engine::quote(rules_, in);
    if (!q) {
      std::lock_guard lock(stats_.mu);
      ++stats_.errors["quote: " + q.error().message];
      return;
    }
    Sale s;
    s.txn_id = random_hex(16);
    s.committed = Clock::now();
    engine::detail::JsonWriter w(2048);
    w.begin_object().field("txn_id", s.txn_id).field("kind", "sale").field("store_id", store_).field("till_id", till_)
        .field("at", engine::format_instant(in.now)).field("member_id", std::optional<std::string>(m.id))
        .field("receipt_id", till_ + "-" + run_id() + "-" + std::to_string(++receipts_))
        .field("rules_version", rules_.version)
        .key("input");
    engine::detail::write_quote_input(w, in);
    w.key("quote");
    engine::detail::write_quote(w, *q, true);
    w.end_object();
    s.body = w.take();
    {
      std::lock_guard lock(stats_.mu);
      ++stats_.committed;
      stats_.committed_ids.insert(s.txn_id);
    }
    queued_.push_back(std::move(s));
  }

  void send_batch() {
    if (queued_.empty() && in_flight_.empty()) return get_changes();
    if (in_flight_.empty()) {
      const std::size_t n = std::min<std::size_t>(queued_.size(), static_cast<std::size_t>(o_.batch_limit));
      in_flight_.assign(std::make_move_iterator(queued_.begin()), std::make_move_iterator(queued_.begin() + n));
      queued_.erase(queued_.begin(), queued_.begin() + static_cast<std::ptrdiff_t>(n));
      batch_id_ = random_hex(16);  // kept for its retries
    }
    std::string body = "{\"till_id\":\"" + till_ + "\",\"batch_id\":\"" + batch_id_ + "\",\"txns\":[";
    for (std::size_t i = 0; i < in_flight_.size(); ++i) (body += i ? "," : "") += in_flight_[i].body;
    body += "]}";
    request(http::verb::post, "/v1/batches", std::move(body), [this](const http::response<http::string_body>& res,
                                                                     double ms) {
      if (res.result_int() != 200) return failed("batch HTTP " + std::to_string(res.result_int()), res);
      const auto answer = nlohmann::json::parse(res.body(), nullptr, false);
      if (!answer.is_object() || !answer.contains("results") || answer["results"].size() != in_flight_.size())
        return failed("batch answer", res);
      const auto now = Clock::now();
      {
        std::lock_guard lock(stats_.mu);
        stats_.ack_ms.push_back(ms);
        ++stats_.batches;
        for (std::size_t i = 0; i < in_flight_.size(); ++i) {
          const std::string st = answer["results"][i].value("status", "");
          if (st != "applied" && st != "duplicate") ++stats_.errors["txn " + st];
          stats_.sale_ack_ms.push_back(std::chrono::duration<double, std::milli>(now - in_flight_[i].committed).count());
          ++stats_.acked;
        }
      }
      in_flight_.clear();
      backoff_ = std::chrono::milliseconds(250);
      if (!queued_.empty()) return send_batch();
      get_changes();
    });
  }

  void get_changes() {
    std::string target = "/v1/changes?after=" + std::to_string(cursor_) + "&limit=250";
    if (!generation_.empty()) target += "&generation=" + generation_;
    request(http::verb::get, target, "", [this](const http::response<http::string_body>& res, double) {
      if (res.result_int() != 200) return failed("changes HTTP " + std::to_string(res.result_int()), res);
      const auto doc = nlohmann::json::parse(res.body(), nullptr, false);
      if (!doc.is_object()) return failed("changes document", res);
      cursor_ = doc.value("next", cursor_);
      if (doc.contains("generation") && doc["generation"].is_string()) generation_ = doc["generation"];
      {
        std::lock_guard lock(stats_.mu);
        ++stats_.changes_pages;
      }
      if (doc.value("more", false)) return get_changes();
      schedule(std::chrono::milliseconds(o_.interval_ms));
    });
  }

  using Handler = std::function<void(const http::response<http::string_body>&, double)>;

  void request(http::verb verb, std::string target, std::string body, Handler on_answer) {
    req_ = {};
    req_.method(verb);
    req_.target(target);
    req_.version(11);
    req_.set(http::field::host, "hq");
    req_.keep_alive(true);
    if (verb == http::verb::post) {
      req_.set(http::field::content_type, "application/json");
      req_.body() = std::move(body);
    }
    req_.prepare_payload();
    on_answer_ = std::move(on_answer);
    retried_ = false;
    sent_at_ = Clock::now();  // a reconnection's handshake counts in the answer's time
    if (!stream_) return connect();
    write();
  }

  void connect() {
    stream_.emplace(strand_, ctx_);
    SSL_set_ex_data(stream_->native_handle(), till_slot(), this);
    if (session_) SSL_set_session(stream_->native_handle(), session_);
    beast::get_lowest_layer(*stream_).expires_after(std::chrono::seconds(30));
    beast::get_lowest_layer(*stream_).async_connect(hq_, [self = shared_from_this()](beast::error_code ec) {
      if (ec) return self->failed("connect: " + ec.message());
      beast::error_code ignored;
      beast::get_lowest_layer(*self->stream_).socket().set_option(tcp::no_delay(true), ignored);
      self->stream_->async_handshake(ssl::stream_base::client, [self](beast::error_code e) {
        if (e) return self->failed("handshake: " + e.message());
        {
          std::lock_guard lock(self->stats_.mu);
          ++(SSL_session_reused(self->stream_->native_handle()) == 1 ? self->stats_.resumed : self->stats_.full);
        }
        self->write();
      });
    });
  }

  void write() {
    parser_.reset();
    beast::get_lowest_layer(*stream_).expires_after(std::chrono::seconds(30));
    http::async_write(*stream_, req_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->stale() ? self->reconnect() : self->failed("write: " + ec.message());
      self->res_ = {};
      self->parser_.emplace();
      self->parser_->body_limit(64 << 20);
      http::async_read(*self->stream_, self->buffer_, *self->parser_, [self](beast::error_code e, std::size_t) {
        if (e) return self->stale() ? self->reconnect() : self->failed("read: " + e.message());
        self->res_ = self->parser_->release();
        self->reused_ = true;
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - self->sent_at_).count();
        if (!self->res_.keep_alive()) self->close();
        auto on_answer = std::move(self->on_answer_);
        on_answer(self->res_, ms);
      });
    });
  }

  // A kept-alive connection headquarters closed while it was idle (limits.timeout_seconds) fails
  // before any answer: connected again (resuming the session) and sent once more, as libloyalty's
  // client does. Every request of a sync may be sent again.
  bool stale() const { return reused_ && !retried_ && (!parser_ || !parser_->got_some()); }
  void reconnect() {
    retried_ = true;
    close();
    {
      std::lock_guard lock(stats_.mu);
      ++stats_.reconnected;
    }
    connect();
  }

  void close() {
    reused_ = false;
    if (!stream_) return;
    // Ended without close_notify: marked shut down so that its session stays resumable.
    SSL_set_shutdown(stream_->native_handle(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    beast::error_code ec;
    beast::get_lowest_layer(*stream_).socket().close(ec);
    stream_.reset();
    buffer_.clear();
  }

  void failed(const std::string& kind, const http::response<http::string_body>& res = {}) {
    {
      std::lock_guard lock(stats_.mu);
      ++stats_.errors[kind];
    }
    close();
    std::chrono::milliseconds wait = backoff_;
    if (res.result_int() == 429) {
      const std::string ra(res[http::field::retry_after]);
      if (!ra.empty() && ra.find_first_not_of("0123456789") == std::string::npos && ra.size() < 6)
        wait = std::max(wait, std::chrono::milliseconds(1000 * std::stoll(ra)));
    }
    backoff_ = std::min(backoff_ * 2, std::chrono::milliseconds(5000));
    std::uniform_int_distribution<long long> jitter(wait.count() / 2, wait.count());
    timer_.expires_after(std::chrono::milliseconds(jitter(rng_)));
    timer_.async_wait(net::bind_executor(strand_, [self = shared_from_this()](beast::error_code ec) {
      if (ec) return;
      if (Clock::now() > self->give_up_) {
        self->done_ = true;
        return;
      }
      self->send_batch();  // the batch in flight again, under its id
    }));
  }

  net::strand<net::io_context::executor_type> strand_;
  ssl::context& ctx_;
  const Options& o_;
  const engine::RuleSet& rules_;
  Stats& stats_;
  tcp::endpoint hq_;
  std::string store_, till_;
  net::steady_timer timer_;
  std::mt19937_64 rng_;
  std::optional<beast::ssl_stream<beast::tcp_stream>> stream_;
  SSL_SESSION* session_ = nullptr;
  beast::flat_buffer buffer_;
  http::request<http::string_body> req_;
  http::response<http::string_body> res_;
  std::optional<http::response_parser<http::string_body>> parser_;
  Handler on_answer_;
  Clock::time_point sent_at_, stop_selling_, give_up_;
  std::vector<Sale> queued_, in_flight_;
  std::string batch_id_, generation_;
  std::int64_t cursor_ = 0, receipts_ = 0;
  std::chrono::milliseconds backoff_{250};
  bool reused_ = false;   // the connection answered a request before
  bool retried_ = false;  // this request was sent again on a new connection
  std::atomic<bool> done_{false};
};

int on_new_session(SSL* ssl, SSL_SESSION* s) {
  auto* till = static_cast<Till*>(SSL_get_ex_data(ssl, till_slot()));
  if (!till) return 0;
  till->keep_session(s);
  return 1;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  return v[i];
}

// Headquarters' sales, from its database: txn_id of every sale applied, and the sales rows.
struct Held {
  std::set<std::string> applied;
  std::int64_t rows = 0, distinct_receipts = 0;
};

Held read_postgres(const std::string& url) {
  Held h;
  PGconn* c = PQconnectdb(url.c_str());
  if (PQstatus(c) != CONNECTION_OK) throw std::runtime_error(std::string("check: ") + PQerrorMessage(c));
  PGresult* r = PQexec(c, "SELECT txn_id FROM txns WHERE kind = 'sale' AND status = 'applied'");
  for (int i = 0; i < PQntuples(r); ++i) h.applied.insert(PQgetvalue(r, i, 0));
  PQclear(r);
  r = PQexec(c, "SELECT COUNT(*), COUNT(DISTINCT (store_id, receipt_id)) FROM sales");
  if (PQntuples(r) == 1) {
    h.rows = std::stoll(PQgetvalue(r, 0, 0));
    h.distinct_receipts = std::stoll(PQgetvalue(r, 0, 1));
  }
  PQclear(r);
  PQfinish(c);
  return h;
}

Held read_sqlite(const std::string& file) {
  Held h;
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(file.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    throw std::runtime_error("check: cannot open " + file);
  }
  sqlite3_busy_timeout(db, 10'000);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT txn_id FROM txns WHERE kind = 'sale' AND status = 'applied'", -1, &st, nullptr);
  while (sqlite3_step(st) == SQLITE_ROW) h.applied.insert(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
  sqlite3_finalize(st);
  sqlite3_prepare_v2(db, "SELECT COUNT(*), (SELECT COUNT(*) FROM (SELECT DISTINCT store_id, receipt_id FROM sales)) FROM sales",
                     -1, &st, nullptr);
  if (sqlite3_step(st) == SQLITE_ROW) {
    h.rows = sqlite3_column_int64(st, 0);
    h.distinct_receipts = sqlite3_column_int64(st, 1);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return h;
}

// Where the changes feed ends now, and the database's generation.
std::pair<std::int64_t, std::string> feed_end(const Options& o) {
  if (!o.check_postgres.empty()) {
    PGconn* c = PQconnectdb(o.check_postgres.c_str());
    if (PQstatus(c) != CONNECTION_OK) throw std::runtime_error(std::string("seed: ") + PQerrorMessage(c));
    PGresult* r = PQexec(c, "SELECT (SELECT last FROM feed), (SELECT value FROM meta WHERE key = 'generation')");
    std::pair<std::int64_t, std::string> out{std::stoll(PQgetvalue(r, 0, 0)), PQgetvalue(r, 0, 1)};
    PQclear(r);
    PQfinish(c);
    return out;
  }
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(o.check_sqlite.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    throw std::runtime_error("seed: cannot open " + o.check_sqlite);
  }
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT (SELECT value FROM meta WHERE key = 'feed_seq'), "
                         "(SELECT value FROM meta WHERE key = 'generation')", -1, &st, nullptr);
  std::pair<std::int64_t, std::string> out;
  if (sqlite3_step(st) == SQLITE_ROW) {
    out.first = sqlite3_column_int64(st, 0);
    if (const auto* g = sqlite3_column_text(st, 1)) out.second = reinterpret_cast<const char*>(g);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(a + " needs a value");
      return argv[++i];
    };
    const auto number = [&](int lo, int hi) {
      const int v = std::stoi(value());
      if (v < lo || v > hi) throw std::runtime_error(a + " must be within " + std::to_string(lo) + ".." + std::to_string(hi));
      return v;
    };
    if (a == "--url") o.url = value();
    else if (a == "--pki") o.pki = value();
    else if (a == "--stores") o.stores = number(1, 9999);
    else if (a == "--tills") o.tills = number(1, 999);
    else if (a == "--seconds") o.seconds = number(1, 86'400);
    else if (a == "--interval-ms") o.interval_ms = number(10, 3'600'000);
    else if (a == "--sales") o.sales = number(0, 1000);
    else if (a == "--members") o.members = number(1, 100'000'000);
    else if (a == "--threads") o.threads = number(1, 64);
    else if (a == "--batch") o.batch_limit = number(1, 1000);
    else if (a == "--check-postgres") o.check_postgres = value();
    else if (a == "--check-sqlite") o.check_sqlite = value();
    else if (a == "--json") o.json_out = value();
    else if (a == "--seeded") o.seeded = true;
    else throw std::runtime_error("unknown argument " + a + " (see the comment at the top of loadgen.cpp)");
  }
  if (o.pki.empty()) throw std::runtime_error("--pki DIR is required");
  if (o.seeded && o.check_postgres.empty() && o.check_sqlite.empty())
    throw std::runtime_error("--seeded reads where the feed ends from --check-postgres or --check-sqlite");
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc == 2 && std::string(argv[1]) == "--print-rules") {
      std::cout << loyalty::bench::kRules << "\n";
      return 0;
    }
    if (argc == 3 && std::string(argv[1]) == "--print-members") {
      const int n = std::stoi(argv[2]);
      std::cout << "id,name,phone,card,birthday,tier,points,purchases,last_purchase_at\n";
      for (int i = 0; i < n; ++i) {
        char line[160];
        std::snprintf(line, sizeof line, "M-%07d,Member %d,,LOAD-%07d,,silver,0,10,2026-11-01T10:00:00+08:00\n", i, i, i);
        std::cout << line;
      }
      return 0;
    }
    const Options o = parse(argc, argv);
    auto loaded = loyalty::engine::load_rules(loyalty::bench::kRules);
    if (!loaded) throw std::runtime_error("the bench rules do not load: " + loaded.error().message);
    const loyalty::engine::RuleSet rules = std::move(loaded).value();
    // https://HOST:PORT, HOST an address (the load stays on this machine's loopback).
    std::string hostport = o.url.substr(o.url.find("//") + 2);
    const auto colon = hostport.rfind(':');
    const tcp::endpoint hq(net::ip::make_address(hostport.substr(0, colon)),
                           static_cast<unsigned short>(std::stoi(hostport.substr(colon + 1))));

    net::io_context ioc;
    std::vector<std::unique_ptr<ssl::context>> contexts;
    for (int s = 0; s < o.stores; ++s) {
      auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
      ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                       ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
      ctx->load_verify_file(o.pki + "/ca.pem");
      ctx->use_certificate_chain_file(o.pki + "/store-" + store_name(s) + ".pem");
      ctx->use_private_key_file(o.pki + "/store-" + store_name(s) + ".key", ssl::context::pem);
      ctx->set_verify_mode(ssl::verify_peer);
      SSL_CTX_set_session_cache_mode(ctx->native_handle(), SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
      SSL_CTX_sess_set_new_cb(ctx->native_handle(), &on_new_session);
      contexts.push_back(std::move(ctx));
    }
    Stats stats;
    std::pair<std::int64_t, std::string> seed{0, ""};
    if (o.seeded) seed = feed_end(o);
    std::vector<std::shared_ptr<Till>> tills;
    const auto t0 = Clock::now();
    const auto stop_selling = t0 + std::chrono::seconds(o.seconds);
    const auto give_up = stop_selling + std::chrono::seconds(120);
    for (int s = 0; s < o.stores; ++s)
      for (int t = 0; t < o.tills; ++t) {
        char till[16];
        std::snprintf(till, sizeof till, "T%03d", t + 1);
        tills.push_back(std::make_shared<Till>(ioc, *contexts[static_cast<std::size_t>(s)], o, rules, stats, hq,
                                               store_name(s), till, static_cast<std::uint64_t>(s * 1000 + t + 1)));
        if (o.seeded) tills.back()->seed(seed.first, seed.second);
        tills.back()->start(stop_selling, give_up);
      }
    std::cerr << "loadgen: " << tills.size() << " tills of " << o.stores << " stores against " << o.url << " for "
              << o.seconds << " s\n";
    std::vector<std::thread> threads;
    for (int i = 0; i < o.threads; ++i) threads.emplace_back([&] { ioc.run(); });
    for (auto& t : threads) t.join();
    const double selling = static_cast<double>(o.seconds);
    const double total = std::chrono::duration<double>(Clock::now() - t0).count();

    nlohmann::ordered_json report;
    {
      std::lock_guard lock(stats.mu);
      std::int64_t errors = 0;
      nlohmann::ordered_json kinds = nlohmann::ordered_json::object();
      for (const auto& [k, n] : stats.errors) {
        kinds[k] = n;
        errors += n;
      }
      std::int64_t left = 0;
      for (const auto& t : tills) left += static_cast<std::int64_t>(t->queued());
      report = {{"tills", tills.size()},
                {"stores", o.stores},
                {"seconds_selling", selling},
                {"seconds_total", total},
                {"sales_committed", stats.committed},
                {"sales_acknowledged", stats.acked},
                {"sales_per_second", static_cast<double>(stats.acked) / total},
                {"batches", stats.batches},
                {"changes_pages", stats.changes_pages},
                {"batch_ack_ms_p50", percentile(stats.ack_ms, 0.50)},
                {"batch_ack_ms_p99", percentile(stats.ack_ms, 0.99)},
                {"sale_to_ack_ms_p50", percentile(stats.sale_ack_ms, 0.50)},
                {"sale_to_ack_ms_p99", percentile(stats.sale_ack_ms, 0.99)},
                {"handshakes_full", stats.full},
                {"handshakes_resumed", stats.resumed},
                {"reconnected_after_idle_close", stats.reconnected},
                {"failed_requests", errors},
                {"failed_by_kind", kinds},
                {"left_queued", left}};
      if (!o.check_postgres.empty() || !o.check_sqlite.empty()) {
        const Held h = o.check_postgres.empty() ? read_sqlite(o.check_sqlite) : read_postgres(o.check_postgres);
        std::int64_t lost = 0;
        for (const auto& id : stats.committed_ids)
          if (!h.applied.count(id)) ++lost;
        std::int64_t unknown = 0;
        for (const auto& id : h.applied)
          if (!stats.committed_ids.count(id)) ++unknown;
        report["hq_sales"] = h.rows;
        report["lost"] = lost;
        report["doubled"] = h.rows - h.distinct_receipts;
        report["unknown_at_hq"] = unknown;
      }
    }
    const std::string text = report.dump(2);
    std::cout << text << "\n";
    if (!o.json_out.empty()) std::ofstream(o.json_out) << text << "\n";
    const bool clean = report.value("lost", 0) == 0 && report.value("doubled", 0) == 0 &&
                       report.value("left_queued", 0) == 0;
    return clean ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "loyalty-loadgen: " << e.what() << "\n";
    return 2;
  }
}
