#include "loyalty/hq/service.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <sstream>

#include "gate.hpp"
#include "loyalty/engine/text.hpp"
#include "loyalty/protocol/batch.hpp"
#include "loyalty/store/database.hpp"

namespace loyalty::hq {
namespace {

HttpResponse error(int status, std::string_view code, std::string_view message) {
  HttpResponse r;
  r.status = status;
  r.body = protocol::error_json(code, message);
  return r;
}

// The value of `key` in a query string ("after=10&limit=50"); nullopt when absent.
std::optional<std::string_view> query_value(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    const auto eq = pair.find('=');
    if (pair.substr(0, eq) == key) return eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

std::optional<std::int64_t> query_integer(std::string_view query, std::string_view key, std::int64_t lo,
                                          std::int64_t hi, std::int64_t fallback, bool& bad) {
  const auto v = query_value(query, key);
  if (!v) return fallback;
  std::int64_t out = 0;
  const auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || end != v->data() + v->size() || out < lo || out > hi) {
    bad = true;
    return std::nullopt;
  }
  return out;
}

}  // namespace

std::int64_t unix_micros_now() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Service::Service(Storage& storage, const HqConfig& config, Log log)
    : storage_(storage),
      config_(config),
      log_(std::move(log)),
      gate_(std::make_unique<StoreGate>([&storage] { return storage.registry(); }, config.store_requests_per_second,
                                        config.store_burst)) {}

Service::~Service() = default;

void Service::count(int status) {
  if (status < 300) ++requests_2xx_;
  else if (status < 400) ++requests_3xx_;
  else if (status < 500) ++requests_4xx_;
  else ++requests_5xx_;
}

HttpResponse Service::handle(const HttpRequest& request, std::int64_t now_us) {
  HttpResponse r;
  try {
    const std::string_view path = std::string_view(request.target).substr(0, request.target.find('?'));
    // A health check or a metrics scrape costs no rate; neither is let in past the registry.
    const bool rated = path != "/v1/health" && path != "/metrics";
    if (const auto refusal = gate_->check(request.store_id, request.fingerprint, rated)) {
      r = error(refusal->status, refusal->code, refusal->message);
      r.retry_after_seconds = refusal->retry_after_seconds;
      if (refusal->status != 429) {
        // Once a minute for each store, certificate and reason: a revoked till retrying floods no log.
        const std::string key = request.store_id + " " + request.fingerprint + " " + refusal->code;
        std::lock_guard lock(refusals_mu_);
        auto& last = refusals_logged_[key];
        if (now_us - last >= 60'000'000) {
          last = now_us;
          log_("refused store " + request.store_id + " (certificate " + request.fingerprint.substr(0, 16) + "...): " +
               refusal->message);
        }
      }
      count(r.status);
      return r;
    }
    r = route(request, now_us);
  } catch (const RequestError& e) {
    r = error(e.status(), e.code(), e.what());
  } catch (const store::StorageError& e) {
    log_("storage error on " + request.method + " " + request.target + ": " + e.what());
    r = error(503, "storage", "headquarters' storage failed; try again later");
  } catch (const std::exception& e) {
    log_("internal error on " + request.method + " " + request.target + ": " + e.what());
    r = error(500, "internal", "headquarters failed on this request; it is logged");
  }
  count(r.status);
  return r;
}

HttpResponse Service::route(const HttpRequest& request, std::int64_t now_us) {
  const auto q = request.target.find('?');
  const std::string path = request.target.substr(0, q);
  const std::string query = q == std::string::npos ? std::string() : request.target.substr(q + 1);
  const auto only = [&](const char* method) {
    if (request.method != method)
      throw RequestError(405, "method_not_allowed", path + " answers " + method + " only");
  };
  if (path == "/v1/batches") {
    only("POST");
    return post_batch(request, now_us);
  }
  if (path == "/v1/changes") {
    only("GET");
    return get_changes(query, request.store_id);
  }
  if (path == "/v1/rules") {
    only("GET");
    return get_rules(request);
  }
  if (path == "/v1/sales") {
    only("GET");
    return get_sale(query, request.store_id);
  }
  if (path == "/v1/health") {
    only("GET");
    HttpResponse r;
    const auto rules = storage_.current_rules();
    nlohmann::ordered_json doc = {{"status", "ok"}, {"rules_version", rules ? rules->version : ""}};
    r.body = doc.dump();
    return r;
  }
  if (path == "/metrics") {
    only("GET");
    return metrics(now_us);
  }
  return error(404, "not_found", "no endpoint " + path);
}

HttpResponse Service::post_batch(const HttpRequest& request, std::int64_t now_us) {
  const auto started = std::chrono::steady_clock::now();
  auto batch = protocol::parse_batch(request.body);
  if (!batch) {
    ++batches_refused_;
    return error(400, "invalid_batch", batch.error().message);
  }
  std::vector<Txn> txns;
  txns.reserve(batch->txns.size());
  for (std::size_t i = 0; i < batch->txns.size(); ++i) {
    const std::string path = engine::detail::index_path("txns", i);
    auto t = engine::detail::guarded([&] { return read_txn(batch->txns[i], path); });
    if (!t) {
      // Refused for its own content, and stored all the same: the rest of the batch goes on.
      txns.push_back(unreadable_txn(batch->txns[i], request.store_id, batch->till_id, t.error().message));
      continue;
    }
    // A store writes only as itself: a transaction naming another store (a till moved to another
    // store with sales queued) is stored and held for an operator, and the rest of the batch goes on.
    // Each transaction names its own till: a till renamed with sales queued sends them under their
    // old id, in batches under its new one.
    if (t->store_id != request.store_id) t->sent_by_store = request.store_id;
    txns.push_back(std::move(t).value());
  }
  const auto parsed = std::chrono::steady_clock::now();
  BatchOutcome out;
  try {
    out = storage_.apply_batch(request.store_id, *batch, txns, now_us);
  } catch (const RequestError&) {
    ++batches_refused_;
    throw;
  }
  ++batches_;
  if (out.replayed) ++batches_replayed_;
  log_("batch " + batch->batch_id + " from " + request.store_id + "/" + batch->till_id + ": " +
       std::to_string(txns.size()) + " transactions" +
       (out.replayed ? ", answered again from its record"
                     : ": " + std::to_string(out.applied) + " applied, " + std::to_string(out.duplicates) +
                           " duplicates, " + std::to_string(out.rejected) + " rejected") +
       " (read in " + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(parsed - started).count()) +
       " ms, stored in " +
       std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - parsed).count()) +
       " ms)");
  applied_ += out.applied;
  sales_applied_ += out.sales_applied;
  duplicates_ += out.duplicates;
  rejections_ += out.rejected;
  HttpResponse r;
  r.status = out.status;
  r.body = std::move(out.body);
  return r;
}

HttpResponse Service::get_changes(const std::string& query, const std::string& store_id) {
  bool bad = false;
  const auto after = query_integer(query, "after", 0, INT64_MAX, 0, bad);
  const auto limit = query_integer(query, "limit", 1, INT64_MAX, config_.changes_page_limit, bad);
  if (bad) return error(400, "invalid_query", "after must be a cursor >= 0 and limit a count >= 1");
  // A till may ask for more than this headquarters' page: it gets a page, never a refusal.
  std::optional<std::string> generation;
  if (const auto g = query_value(query, "generation")) {
    generation = std::string(*g);
    if (!generation->empty() && !protocol::limits::is_batch_id(*generation))
      return error(400, "invalid_query", "generation must be 1..64 letters, digits, '-', '_' or '.'");
  }
  TillView seen;
  seen.store_id = store_id;
  if (const auto m = query_value(query, "seen")) {
    const auto text = protocol::url_decode(*m);
    const auto space = text ? text->rfind(' ') : std::string::npos;
    std::int64_t version = 0;
    if (space == std::string::npos ||
        std::from_chars(text->data() + space + 1, text->data() + text->size(), version).ec != std::errc() ||
        !protocol::limits::is_member_id(text->substr(0, space)))
      return error(400, "invalid_query", "seen must be a member id and a version");
    seen.member = std::make_pair(text->substr(0, space), version);
  }
  if (const auto a = query_value(query, "applied")) {
    if (!protocol::is_txn_id(*a)) return error(400, "invalid_query", "applied must be a txn_id");
    seen.applied = std::string(*a);
  }
  HttpResponse r;
  r.body = storage_.changes(*after, std::min<std::int64_t>(*limit, config_.changes_page_limit), generation, seen);
  return r;
}

HttpResponse Service::get_rules(const HttpRequest& request) {
  const auto rules = storage_.current_rules();
  if (!rules) return error(404, "no_rules", "no rule set is published yet (loyalty-hq rules set FILE)");
  HttpResponse r;
  r.etag = "\"" + rules->version + "\"";
  if (request.if_none_match == r.etag) {
    r.status = 304;
    return r;
  }
  r.body = rules->json;
  return r;
}

HttpResponse Service::get_sale(const std::string& query, const std::string& store_id) {
  const auto param = [&](std::string_view key) -> std::string {
    const auto raw = query_value(query, key);
    const auto decoded = raw ? protocol::url_decode(*raw) : std::nullopt;
    if (!decoded || decoded->empty() || decoded->size() > 63 || !engine::is_valid_utf8(*decoded))
      throw RequestError(400, "invalid_query", "store_id and receipt_id are required (1..63 bytes, percent-encoded)");
    return *decoded;
  };
  const std::string store = param("store_id");
  const std::string receipt = param("receipt_id");
  auto sales = storage_.sales_by_receipt(store, receipt);
  // A till that holds the sale names it: another till's sale under the same receipt is not it.
  if (const auto txn = query_value(query, "txn_id")) {
    const auto id = protocol::url_decode(*txn);
    if (!id || !protocol::is_txn_id(*id)) throw RequestError(400, "invalid_query", "txn_id must be 32 lowercase hexadecimal digits");
    std::erase_if(sales, [&](const SaleRecord& s) {
      return s.txn_id != *id && std::find(s.copies.begin(), s.copies.end(), *id) == s.copies.end();
    });
  }
  if (sales.empty())
    return error(404, "unknown_sale", "headquarters has no sale " + receipt + " of store " + store + " (not synced yet?)");
  if (sales.size() > 1) {
    std::string tills;
    for (const SaleRecord& s : sales) {
      const auto body = nlohmann::json::parse(s.body, nullptr, false);
      tills += (tills.empty() ? "" : ", ") + (body.is_object() ? body.value("till_id", std::string("?")) : std::string("?"));
    }
    return error(409, "ambiguous_receipt", "store " + store + " has " + std::to_string(sales.size()) +
                                               " sales with receipt " + receipt + ", at tills " + tills);
  }
  const SaleRecord& rec = sales.front();
  // Another store's sale is read only to refund it there; every such read is logged.
  if (store != store_id) log_("store " + store_id + " read sale " + receipt + " of store " + store + " (a refund)");
  nlohmann::ordered_json doc;
  doc["sale"] = nlohmann::ordered_json::parse(rec.body);
  doc["member_id"] = rec.member_id ? nlohmann::ordered_json(*rec.member_id) : nlohmann::ordered_json(nullptr);
  doc["copies"] = rec.copies;
  doc["refunds"] = nlohmann::ordered_json::array();
  for (const auto& r : rec.refunds) doc["refunds"].push_back(nlohmann::ordered_json::parse(r));
  HttpResponse r;
  r.body = doc.dump();
  return r;
}

HttpResponse Service::metrics(std::int64_t now_us) {
  std::ostringstream out;
  const auto counter = [&](const char* name, const char* help, std::int64_t v) {
    out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " counter\n" << name << ' ' << v << '\n';
  };
  out << "# HELP loyalty_hq_requests_total Requests answered, by status class.\n"
         "# TYPE loyalty_hq_requests_total counter\n";
  out << "loyalty_hq_requests_total{code=\"2xx\"} " << requests_2xx_ << '\n';
  out << "loyalty_hq_requests_total{code=\"3xx\"} " << requests_3xx_ << '\n';
  out << "loyalty_hq_requests_total{code=\"4xx\"} " << requests_4xx_ << '\n';
  out << "loyalty_hq_requests_total{code=\"5xx\"} " << requests_5xx_ << '\n';
  counter("loyalty_hq_batches_total", "Batches answered (replays included).", batches_);
  counter("loyalty_hq_batches_replayed_total", "Batches answered from their stored answer.", batches_replayed_);
  counter("loyalty_hq_batches_refused_total", "Batches refused whole (4xx): malformed, wrong store, conflict.",
          batches_refused_);
  counter("loyalty_hq_txns_applied_total", "Transactions applied.", applied_);
  counter("loyalty_hq_sales_applied_total", "Sales applied.", sales_applied_);
  counter("loyalty_hq_duplicates_total", "Transactions received again and not applied again.", duplicates_);
  counter("loyalty_hq_rejections_total", "Transactions rejected.", rejections_);
  out << "# HELP loyalty_hq_tls_handshakes_total TLS handshakes completed: full, or a session resumed.\n"
         "# TYPE loyalty_hq_tls_handshakes_total counter\n";
  out << "loyalty_hq_tls_handshakes_total{kind=\"full\"} " << handshakes_full_ << '\n';
  out << "loyalty_hq_tls_handshakes_total{kind=\"resumed\"} " << handshakes_resumed_ << '\n';
  counter("loyalty_hq_connections_refused_total",
          "Connections closed before their handshake: too many at once from one address, or over the limit.",
          connections_refused_);
  out << "# HELP loyalty_hq_store_last_batch_age_seconds Seconds since the store's last batch.\n"
         "# TYPE loyalty_hq_store_last_batch_age_seconds gauge\n";
  const auto stores = storage_.stores();
  for (const StoreRow& s : stores)
    out << "loyalty_hq_store_last_batch_age_seconds{store=\"" << s.store_id << "\"} "
        << (now_us - s.last_batch_us) / 1'000'000.0 << '\n';
  out << "# HELP loyalty_hq_store_lag_seconds How old the store's newest transaction was when it arrived.\n"
         "# TYPE loyalty_hq_store_lag_seconds gauge\n";
  for (const StoreRow& s : stores)
    out << "loyalty_hq_store_lag_seconds{store=\"" << s.store_id << "\"} " << s.last_txn_lag_us / 1'000'000.0 << '\n';
  HttpResponse r;
  r.content_type = "text/plain; version=0.0.4";
  r.body = out.str();
  return r;
}

}  // namespace loyalty::hq
