#include "loyalty/protocol/batch.hpp"

#include "loyalty/engine/json_writer.hpp"

namespace loyalty::protocol {
namespace {

using engine::detail::fail;
using engine::detail::json;
using engine::detail::ObjectReader;
namespace limits = protocol::limits;

}  // namespace

bool is_txn_id(std::string_view s) {
  if (s.size() != 32) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

bool is_token(std::string_view s, std::size_t max) {
  if (s.empty() || s.size() > max) return false;
  for (char c : s)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
          c == '.'))
      return false;
  return true;
}

std::string sale_content(const std::optional<std::string>& member_id, const std::optional<std::string>& coupon_code,
                         std::int64_t redeem_points, const std::vector<engine::Line>& lines) {
  engine::detail::JsonWriter w;
  w.begin_array().value(member_id).value(coupon_code).value(redeem_points).begin_array();
  for (const engine::Line& l : lines)
    w.begin_array().value(l.id).value(l.sku).value(l.category).value(l.qty).value(l.amount_minor).end_array();
  w.end_array().end_array();
  return w.take();
}

std::string refund_content(std::string_view sale_txn_id, const std::vector<std::pair<std::string, std::int64_t>>& units) {
  json doc = json::array({std::string(sale_txn_id)});
  for (const auto& [line, n] : units) doc.push_back(json::array({line, n}));
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string_view refusal_code(std::string_view reason) { return reason.substr(0, reason.find(':')); }

bool is_final_refusal(std::string_view reason) {
  static constexpr std::string_view kHeld[] = {"sealed",           "code_key",         "unknown_member", "unknown_sale",
                                                "future_timestamp", "receipt_conflict", "wrong_store"};
  const std::string_view code = refusal_code(reason);
  for (std::string_view h : kHeld)
    if (code == h) return false;
  return true;
}

std::string url_encode(std::string_view s) {
  static const char* const digits = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
        c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += digits[c >> 4];
      out += digits[c & 15];
    }
  }
  return out;
}

std::optional<std::string> url_decode(std::string_view s) {
  const auto hex = [](char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
  };
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

engine::Result<Batch> parse_batch(std::string_view json_text) {
  return engine::detail::guarded([&] {
    json doc = engine::detail::parse_json(json_text, "batch");
    ObjectReader r(doc, "");
    Batch b;
    b.till_id = r.string("till_id");
    if (!limits::is_till_id(b.till_id))
      fail("till_id", "must be 1.." + std::to_string(limits::kTillId) + " letters, digits, '-' or '_'");
    b.batch_id = r.string("batch_id");
    if (!limits::is_batch_id(b.batch_id))
      fail("batch_id", "must be 1.." + std::to_string(limits::kBatchId) + " letters, digits, '-', '_' or '.'");
    const json& txns = engine::detail::as_array(r.required("txns"), "txns");
    if (txns.empty()) fail("txns", "must hold at least one transaction");
    if (txns.size() > kMaxBatchTxns) fail("txns", "must hold at most " + std::to_string(kMaxBatchTxns) + " transactions");
    b.sent_at = r.optional_instant("sent_at");
    if (r.optional("queued")) b.queued = r.integer("queued", 0, std::int64_t{1} << 50);
    r.finish();
    // Moved out of the document, not copied: a batch is up to 1000 transactions.
    json& owned = doc["txns"];
    b.txns.reserve(owned.size());
    for (auto& t : owned) b.txns.push_back(std::move(t));
    return b;
  });
}

std::string batch_json(std::string_view till_id, std::string_view batch_id, const std::vector<std::string>& bodies,
                       const std::optional<engine::Instant>& sent_at, std::optional<std::int64_t> queued) {
  std::size_t size = 64 + till_id.size() + batch_id.size();
  for (const auto& b : bodies) size += b.size() + 1;
  std::string out;
  out.reserve(size);
  out += "{\"till_id\":";
  out += json(std::string(till_id)).dump();
  out += ",\"batch_id\":";
  out += json(std::string(batch_id)).dump();
  if (sent_at) (out += ",\"sent_at\":\"") += engine::format_instant(*sent_at) += '"';
  if (queued) (out += ",\"queued\":") += std::to_string(*queued);
  out += ",\"txns\":[";
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    if (i) out += ',';
    out += bodies[i];
  }
  out += "]}";
  return out;
}

std::string_view to_string(TxnStatus s) {
  switch (s) {
    case TxnStatus::applied: return "applied";
    case TxnStatus::duplicate: return "duplicate";
    case TxnStatus::rejected: return "rejected";
  }
  return "rejected";
}

engine::Result<BatchAnswer> parse_batch_answer(std::string_view json_text) {
  return engine::detail::guarded([&] {
    json doc = engine::detail::parse_json(json_text, "batch answer");
    ObjectReader r(doc, "");
    BatchAnswer a;
    const json& results = engine::detail::as_array(r.required("results"), "results");
    for (std::size_t i = 0; i < results.size(); ++i) {
      const std::string path = engine::detail::index_path("results", i);
      ObjectReader e(results[i], path);
      TxnResult t;
      t.txn_id = e.string("txn_id", true);  // empty for a transaction that had no txn_id of its own
      const std::string status = e.string("status");
      if (status == "applied") t.status = TxnStatus::applied;
      else if (status == "duplicate") t.status = TxnStatus::duplicate;
      else if (status == "rejected") t.status = TxnStatus::rejected;
      else fail(e.path_of("status"), "must be applied, duplicate or rejected");
      if (const json* reason = e.optional("reason")) t.reason = engine::detail::as_string(*reason, e.path_of("reason"), true);
      if (const json* m = e.optional("member")) {
        ObjectReader mr(*m, e.path_of("member"));
        t.member_id = mr.string("id");
        t.member_version = mr.integer("version", 0, INT64_MAX);
        mr.finish();
      }
      e.finish();
      a.results.push_back(std::move(t));
    }
    r.finish();
    return a;
  });
}

std::string batch_answer_json(const BatchAnswer& answer) {
  nlohmann::ordered_json results = nlohmann::ordered_json::array();
  for (const TxnResult& t : answer.results) {
    nlohmann::ordered_json e;
    e["txn_id"] = t.txn_id;
    e["status"] = std::string(to_string(t.status));
    e["reason"] = t.reason.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(t.reason);
    if (t.member_id) e["member"] = {{"id", *t.member_id}, {"version", t.member_version}};
    else e["member"] = nullptr;
    results.push_back(std::move(e));
  }
  nlohmann::ordered_json doc;
  doc["results"] = std::move(results);
  return doc.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string error_json(std::string_view code, std::string_view message) {
  nlohmann::ordered_json doc;
  doc["error"] = {{"code", std::string(code)}, {"message", std::string(message)}};
  return doc.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::optional<std::pair<std::string, std::string>> parse_error(std::string_view json_text) {
  auto parsed = engine::detail::guarded([&] {
    json doc = engine::detail::parse_json(json_text, "error");
    ObjectReader r(doc, "");
    ObjectReader e(r.required("error"), "error");
    auto out = std::make_pair(e.string("code"), e.string("message", true));
    e.finish();
    r.finish();
    return out;
  });
  if (!parsed) return std::nullopt;
  return std::move(parsed).value();
}

}  // namespace loyalty::protocol
