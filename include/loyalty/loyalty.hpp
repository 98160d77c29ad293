// loyalty.hpp: a header-only C++ wrapper over loyalty.h, for POS software written in C++17 or later.
//
// It adds no behaviour: every method is one call (or, for prompts, a few) of the C interface, whose
// comments in loyalty.h stay the specification of what it does, its limits and its threading. What
// the wrapper changes is the shape:
// - handles are move-only objects that close themselves (Till, Checkout);
// - a status other than LOY_OK is thrown as loyalty::Error with the handle's detail, or as one of
//   its subclasses NotFound, Network and Conflict, the failures a POS handles rather than reports;
//   only where "not found" is an ordinary answer (a scan that is no member's) it is std::nullopt;
// - inputs are std::string_view (copied to be NUL-terminated; a NUL byte inside is refused, as the C
//   side would silently cut the text there), outputs are value types with std::string fields;
// - every struct goes to the library with struct_size = sizeof of this header's struct.
// No exception crosses into the library: the log callback's trampoline catches everything.
#ifndef LOYALTY_LOYALTY_HPP
#define LOYALTY_LOYALTY_HPP

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "loyalty/loyalty.h"

namespace loyalty {

// The loaded library's version (loy_version()); LOY_VERSION_* are the header's.
struct Version {
  std::uint32_t major = 0;
  std::uint32_t minor = 0;
  std::uint32_t patch = 0;
};

inline Version version() noexcept {
  const std::uint32_t v = loy_version();
  return Version{v >> 16, (v >> 8) & 0xffu, v & 0xffu};
}

// A failed call: its loy_status and the library's detail (loy_till_last_error() or
// loy_checkout_last_error() right after the call). what() is "status text: detail". Copies share the
// detail, so that copying the exception cannot throw.
class Error : public std::runtime_error {
 public:
  Error(loy_status status, std::string detail)
      : std::runtime_error(detail.empty() ? std::string(loy_status_str(status))
                                          : std::string(loy_status_str(status)) + ": " + detail),
        status_(status),
        detail_(std::make_shared<const std::string>(std::move(detail))) {}

  // LOY_E_*: compare with the codes that have no subclass (LOY_E_STATE, LOY_E_CONSENT, ...).
  loy_status status() const noexcept { return status_; }
  const std::string& detail() const noexcept { return *detail_; }

 private:
  loy_status status_;
  std::shared_ptr<const std::string> detail_;
};

// LOY_E_NOT_FOUND: no such member, receipt or line.
class NotFound : public Error {
 public:
  explicit NotFound(std::string detail) : Error(LOY_E_NOT_FOUND, std::move(detail)) {}
};

// LOY_E_NETWORK: headquarters could not be reached or answered with an error. The till goes on
// offline; what it committed waits in its outbox.
class Network : public Error {
 public:
  explicit Network(std::string detail) : Error(LOY_E_NETWORK, std::move(detail)) {}
};

// LOY_E_CONFLICT: an id already used for something else, or a commit that would now be priced
// otherwise than its quote (quote again), or an enrollment of a phone that is a member already.
class Conflict : public Error {
 public:
  explicit Conflict(std::string detail) : Error(LOY_E_CONFLICT, std::move(detail)) {}
};

namespace detail {

[[noreturn]] inline void raise(loy_status status, std::string detail) {
  switch (status) {
    case LOY_E_NOT_FOUND: throw NotFound(std::move(detail));
    case LOY_E_NETWORK: throw Network(std::move(detail));
    case LOY_E_CONFLICT: throw Conflict(std::move(detail));
    default: throw Error(status, std::move(detail));
  }
}

// The detail is read at once: the handle's next call replaces it.
inline void check(loy_status status, const loy_till* till) {
  if (status != LOY_OK) raise(status, loy_till_last_error(till));
}

inline void check(loy_status status, const loy_checkout* checkout) {
  if (status != LOY_OK) raise(status, loy_checkout_last_error(checkout));
}

// Text as the NUL-terminated copy the C interface reads.
class CText {
 public:
  CText(std::string_view text, const char* what) : text_(text) {
    if (text_.find('\0') != std::string::npos)
      throw Error(LOY_E_INVALID_ARGUMENT, std::string(what) + " contains a NUL byte");
  }
  const char* c_str() const noexcept { return text_.c_str(); }

 private:
  std::string text_;
};

// A fixed char array the library filled, up to its NUL (or its end, were there none).
template <std::size_t N>
std::string text(const char (&field)[N]) {
  return std::string(field, std::find(field, field + N, '\0'));
}

template <class T>
T sized() {
  T v{};
  v.struct_size = sizeof v;
  return v;
}

}  // namespace detail

// A cashier prompt (loy_prompt_info): a code with its figures, for the POS to word. Figures a code
// does not use are 0 or "".
struct Prompt {
  std::int32_t code = 0;  // LOY_PROMPT_*; a newer library may send codes this header does not name
  std::int32_t rate_bp = 0;
  std::int64_t days = 0;
  std::int64_t points = 0;
  std::int64_t spend_minor = 0;
  std::int64_t minutes = 0;  // LOY_PROMPT_OFFLINE: -1 when never synced
  std::string date;          // ISO-8601
  std::string tier;          // a tier id
};

// A member as the till sees it (loy_member_info), with every prompt.
struct Member {
  std::string member_id;
  std::string masked_name;  // never the name itself
  std::string tier_id;
  std::string tier_name;
  std::int64_t confirmed_points = 0;  // headquarters' balance
  std::int64_t pending_points = 0;    // this till's effects not yet confirmed, signed
  std::int64_t available_points = 0;  // confirmed + pending
  std::vector<Prompt> prompts;
};

// A new member's data (loy_enrollment). Phone and consent are required.
struct Enrollment {
  std::string phone;
  std::optional<std::string> name;
  std::optional<std::string> birthday;  // "MM-DD"
  std::string consent;                  // the POS's record of the customer's consent
};

// A quote or a committed sale (loy_quote). Money in minor units.
struct Quote {
  std::int64_t gross_minor = 0;
  std::int64_t member_discount_minor = 0;
  std::int32_t member_discount_reason = LOY_REASON_NONE;  // LOY_REASON_*
  std::int32_t member_discount_bp = 0;
  std::int64_t coupon_discount_minor = 0;
  std::int32_t coupon_rejected = 0;  // LOY_COUPON_* or 0; loy_coupon_refusal_str() names it
  std::int32_t redeem_rejected = 0;  // LOY_REDEEM_* or 0; loy_redeem_refusal_str() names it
  std::int64_t redeem_points = 0;
  std::int64_t redeem_value_minor = 0;
  std::int64_t max_redeemable_points = 0;
  std::int64_t payable_minor = 0;
  std::int64_t points_earned = 0;
  bool birthday = false;  // in the member's birthday window
  std::uint32_t line_count = 0;
  bool replayed = false;  // commit: the receipt id was committed before, and this is its first result
};

// One line of a quote or of the committed sale (loy_line_quote).
struct LineQuote {
  std::string id;
  std::int64_t member_discount_minor = 0;
  std::int64_t coupon_discount_minor = 0;
  std::int64_t redeem_value_minor = 0;
  std::int64_t net_minor = 0;
  std::int64_t points_earned = 0;
  std::int64_t points_redeemed = 0;
};

// Units of one line of a sale to refund (loy_refund_item).
struct RefundItem {
  std::string line_id;
  std::int64_t units = 0;
};

struct RefundResult {
  std::int64_t amount_minor = 0;       // money back to the customer
  std::int64_t points_taken_back = 0;  // earned points the member loses
  std::int64_t points_given_back = 0;  // redeemed points the member gets back
  std::int64_t balance_after = 0;      // the member's available points after the refund
  bool negative_balance = false;       // the member cannot redeem until the balance is not negative
  bool replayed = false;               // the refund id was committed before; this is its first result
};

struct SyncResult {
  std::int64_t sent = 0;
  std::int64_t applied = 0;
  std::int64_t duplicates = 0;
  std::int64_t rejected = 0;
  std::int64_t members = 0;
  std::int64_t coupons = 0;
  bool rules_updated = false;
};

// loy_till_status: what the till keeps for headquarters, its cache and its rules.
struct Status {
  std::int64_t outbox_depth = 0;
  std::int64_t oldest_unsynced_seconds = -1;  // -1: nothing unsynced
  std::int64_t cache_version = 0;
  std::int64_t last_sync_unix = -1;  // -1: never synced
  std::int64_t members = 0;
  std::string rules_version;  // "" without rules
  std::string currency;
  std::int64_t minor_per_unit = 0;
  std::int64_t rejected = 0;
  std::string last_sync_error;
  std::int64_t held = 0;
  std::string rules_error;
};

// The library's log: (level, message); the message is valid during the call only. It is called on
// the thread of the call being logged, the background sync's included, so possibly on several
// threads at once. An exception it throws is swallowed (the message is lost), never passed on.
using LogFunction = std::function<void(std::int32_t level, std::string_view message)>;

struct TillOptions {
  LogFunction log;                         // empty: no logging
  std::int32_t log_level = LOY_LOG_INFO;  // the lowest level passed to `log`
};

namespace detail {

// The library calls it through a C function pointer, hence C language linkage; nothing may unwind
// out of it into the library.
extern "C" inline void LOY_CALL loyalty_hpp_log(std::int32_t level, const char* message, void* userdata) noexcept {
  try {
    (*static_cast<const LogFunction*>(userdata))(level, message ? std::string_view(message) : std::string_view());
  } catch (...) {
  }
}

inline Prompt prompt(const loy_prompt_info& p) {
  return Prompt{p.code, p.rate_bp, p.days, p.points, p.spend_minor, p.minutes, text(p.date), text(p.tier)};
}

inline Prompt prompt(const loy_prompt& p) {
  return Prompt{p.code, p.rate_bp, p.days, p.points, p.spend_minor, p.minutes, text(p.date), text(p.tier)};
}

inline Member member(const loy_member_info& m) {
  Member out;
  out.member_id = text(m.member_id);
  out.masked_name = text(m.masked_name);
  out.tier_id = text(m.tier_id);
  out.tier_name = text(m.tier_name);
  out.confirmed_points = m.confirmed_points;
  out.pending_points = m.pending_points;
  out.available_points = m.available_points;
  return out;
}

// Every prompt, through `fill(array, capacity, &count)` (loy_till_lookup_v2 or loy_checkout_prompts):
// called again with room for all when the member had more than there was room for. Returns the
// first status other than LOY_OK, with *out untouched.
template <class Fill>
loy_status all_prompts(Fill&& fill, std::vector<Prompt>* out) {
  std::vector<loy_prompt_info> array(LOY_MAX_PROMPTS);
  for (;;) {
    std::size_t count = 0;
    if (const loy_status s = fill(array.data(), array.size(), &count); s != LOY_OK) return s;
    const bool complete = count <= array.size();
    array.resize(count);
    if (complete) break;
  }
  out->clear();
  out->reserve(array.size());
  for (const loy_prompt_info& p : array) out->push_back(prompt(p));
  return LOY_OK;
}

inline Quote quote(const loy_quote& q) {
  Quote out;
  out.gross_minor = q.gross_minor;
  out.member_discount_minor = q.member_discount_minor;
  out.member_discount_reason = q.member_discount_reason;
  out.member_discount_bp = q.member_discount_bp;
  out.coupon_discount_minor = q.coupon_discount_minor;
  out.coupon_rejected = q.coupon_rejected;
  out.redeem_rejected = q.redeem_rejected;
  out.redeem_points = q.redeem_points;
  out.redeem_value_minor = q.redeem_value_minor;
  out.max_redeemable_points = q.max_redeemable_points;
  out.payable_minor = q.payable_minor;
  out.points_earned = q.points_earned;
  out.birthday = q.birthday != 0;
  out.line_count = q.line_count;
  out.replayed = q.replayed != 0;
  return out;
}

// The C view of an enrollment, pointing into `e`, which must outlive it.
class CEnrollment {
 public:
  explicit CEnrollment(const Enrollment& e)
      : phone_(e.phone, "enrollment phone"),
        name_(e.name ? std::optional<CText>(std::in_place, *e.name, "enrollment name") : std::nullopt),
        birthday_(e.birthday ? std::optional<CText>(std::in_place, *e.birthday, "enrollment birthday") : std::nullopt),
        consent_(e.consent, "enrollment consent"),
        c_(sized<loy_enrollment>()) {
    c_.phone = phone_.c_str();
    c_.name = name_ ? name_->c_str() : nullptr;
    c_.birthday = birthday_ ? birthday_->c_str() : nullptr;
    c_.consent = consent_.c_str();
  }
  CEnrollment(const CEnrollment&) = delete;
  CEnrollment& operator=(const CEnrollment&) = delete;
  const loy_enrollment* get() const noexcept { return &c_; }

 private:
  CText phone_;
  std::optional<CText> name_;
  std::optional<CText> birthday_;
  CText consent_;
  loy_enrollment c_;
};

// The C array of refund items, pointing into its own copies of the line ids.
class CRefundItems {
 public:
  explicit CRefundItems(const std::vector<RefundItem>& items) {
    if (items.empty()) throw Error(LOY_E_INVALID_ARGUMENT, "no refund items (refund_all refunds what is left)");
    ids_.reserve(items.size());
    c_.reserve(items.size());
    for (const RefundItem& item : items) {
      ids_.emplace_back(item.line_id, "refund line id");
      loy_refund_item c = sized<loy_refund_item>();
      c.line_id = ids_.back().c_str();
      c.units = item.units;
      c_.push_back(c);
    }
  }
  const loy_refund_item* data() const noexcept { return c_.data(); }
  std::size_t size() const noexcept { return c_.size(); }

 private:
  std::vector<CText> ids_;  // reserved: its strings do not move while c_ points into them
  std::vector<loy_refund_item> c_;
};

inline RefundResult refund_result(const loy_refund_result& r) {
  RefundResult out;
  out.amount_minor = r.amount_minor;
  out.points_taken_back = r.points_taken_back;
  out.points_given_back = r.points_given_back;
  out.balance_after = r.balance_after;
  out.negative_balance = r.negative_balance != 0;
  out.replayed = r.replayed != 0;
  return out;
}

}  // namespace detail

class Till;

// A sale in progress (loy_checkout), from Till::begin(): identify or enroll the customer, add lines,
// present a coupon or points, quote, commit. Freed by its destructor, which abandons a sale not
// committed. One thread at a time; checkouts of one till may run on different threads. A checkout
// whose Till was closed throws LOY_E_STATE, and is still destroyed normally.
class Checkout {
 public:
  Checkout(Checkout&& other) noexcept
      : checkout_(std::exchange(other.checkout_, nullptr)), line_count_(other.line_count_) {}
  Checkout& operator=(Checkout&& other) noexcept {
    if (this != &other) {
      loy_checkout_free(checkout_);
      checkout_ = std::exchange(other.checkout_, nullptr);
      line_count_ = other.line_count_;
    }
    return *this;
  }
  Checkout(const Checkout&) = delete;
  Checkout& operator=(const Checkout&) = delete;
  ~Checkout() { loy_checkout_free(checkout_); }

  // The C handle, for calls this wrapper does not make; still owned by this object.
  loy_checkout* handle() const noexcept { return checkout_; }

  // The sale's time, ISO-8601 with its offset; by default the till's clock.
  void set_time(std::string_view iso8601) {
    const detail::CText t(iso8601, "time");
    detail::check(loy_checkout_set_time(checkout_, t.c_str()), checkout_);
  }

  // The member for this sale, from scanned text, with every prompt at the sale's time; std::nullopt
  // when it is no member's (the sale goes on without one, as after any failed identify).
  std::optional<Member> identify(std::string_view scanned) {
    const detail::CText s(scanned, "scanned text");
    loy_member_info info = detail::sized<loy_member_info>();
    const loy_status status = loy_checkout_identify(checkout_, s.c_str(), &info);
    if (status == LOY_E_NOT_FOUND) return std::nullopt;
    detail::check(status, checkout_);
    return with_prompts(info);
  }

  // Enrolls a new member and identifies them in this sale (a first purchase gets its offer).
  // Conflict: the phone is a member already.
  Member enroll(const Enrollment& enrollment) {
    const detail::CEnrollment e(enrollment);
    loy_member_info info = detail::sized<loy_member_info>();
    detail::check(loy_checkout_enroll(checkout_, e.get(), &info), checkout_);
    return with_prompts(info);
  }

  // A line of the basket: `amount_minor` is its price after the POS's own pricing, qty included.
  void add_line(std::string_view id, std::string_view sku, std::string_view category, std::int64_t qty,
                std::int64_t amount_minor) {
    const detail::CText i(id, "line id"), s(sku, "sku"), c(category, "category");
    loy_line line = detail::sized<loy_line>();
    line.id = i.c_str();
    line.sku = s.c_str();
    line.category = c.c_str();
    line.qty = qty;
    line.amount_minor = amount_minor;
    detail::check(loy_checkout_add_line(checkout_, &line), checkout_);
  }

  // Presents a coupon code; std::nullopt removes it. Whether it applies is part of the quote.
  void set_coupon(std::optional<std::string_view> code) {
    if (!code) {
      detail::check(loy_checkout_set_coupon(checkout_, nullptr), checkout_);
      return;
    }
    const detail::CText c(*code, "coupon code");
    detail::check(loy_checkout_set_coupon(checkout_, c.c_str()), checkout_);
  }

  // Asks to pay with `points` (0: none). Whether they are accepted is part of the quote.
  void redeem(std::int64_t points) { detail::check(loy_checkout_redeem(checkout_, points), checkout_); }

  // The sale as it stands. A refused coupon or redemption is still a quote (coupon_rejected,
  // redeem_rejected).
  Quote quote() {
    loy_quote q = detail::sized<loy_quote>();
    detail::check(loy_checkout_quote(checkout_, &q), checkout_);
    line_count_ = q.line_count;
    return detail::quote(q);
  }

  // Line `index` of the last quote, or of the committed sale.
  LineQuote line_quote(std::uint32_t index) const {
    loy_line_quote l = detail::sized<loy_line_quote>();
    detail::check(loy_checkout_line_quote(checkout_, index, &l), checkout_);
    return LineQuote{detail::text(l.id),     l.member_discount_minor, l.coupon_discount_minor, l.redeem_value_minor,
                     l.net_minor,            l.points_earned,         l.points_redeemed};
  }

  // Every line of the last quote or of the committed sale; Error LOY_E_STATE before any.
  std::vector<LineQuote> lines() const {
    if (!line_count_) throw Error(LOY_E_STATE, "nothing quoted or committed yet");
    std::vector<LineQuote> out;
    out.reserve(*line_count_);
    for (std::uint32_t i = 0; i < *line_count_; ++i) out.push_back(line_quote(i));
    return out;
  }

  // Commits the sale under the POS's receipt id once payment is taken; durable when it returns. The
  // same receipt id and sale again, from any checkout, returns the first result with replayed set
  // and makes no second sale. Conflict: the receipt id is another sale's, or the sale would now be
  // priced otherwise than its quote (quote again and settle the difference).
  Quote commit(std::string_view receipt_id) {
    const detail::CText r(receipt_id, "receipt id");
    loy_quote q = detail::sized<loy_quote>();
    detail::check(loy_checkout_commit(checkout_, r.c_str(), &q), checkout_);
    line_count_ = q.line_count;
    return detail::quote(q);
  }

 private:
  friend class Till;
  explicit Checkout(loy_checkout* checkout) noexcept : checkout_(checkout) {}

  Member with_prompts(const loy_member_info& info) {
    Member m = detail::member(info);
    loy_checkout* const c = checkout_;
    detail::check(detail::all_prompts(
                      [c](loy_prompt_info* array, std::size_t capacity, std::size_t* count) {
                        return loy_checkout_prompts(c, array, sizeof(loy_prompt_info), capacity, count);
                      },
                      &m.prompts),
                  checkout_);
    return m;
  }

  loy_checkout* checkout_ = nullptr;
  std::optional<std::uint32_t> line_count_;  // of the last quote or the commit
};

// An open till (loy_till): its cache of members and rules, its outbox, its sync with headquarters.
// Closed by its destructor (which stops a background sync first); a moved-from Till is empty and its
// calls throw LOY_E_INVALID_ARGUMENT. It may be used from several threads at once. It owns the log
// function, which outlives the C handle.
class Till {
 public:
  // Opens the till of the JSON configuration at `config_path` (docs/configuration.md). Error
  // LOY_E_CONFIG or LOY_E_STORAGE with the reason when it cannot.
  static Till open(std::string_view config_path, TillOptions options = {}) {
    const detail::CText path(config_path, "config path");
    std::unique_ptr<LogFunction> log;
    loy_till_options o = detail::sized<loy_till_options>();
    if (options.log) {
      log = std::make_unique<LogFunction>(std::move(options.log));
      o.log = detail::loyalty_hpp_log;
      o.log_userdata = log.get();
      o.log_level = options.log_level;
    }
    loy_till* till = nullptr;
    char error[1024] = "";
    if (const loy_status s = loy_till_open(path.c_str(), &o, &till, error, sizeof error); s != LOY_OK)
      detail::raise(s, detail::text(error));
    return Till(till, std::move(log));
  }

  Till(Till&& other) noexcept : till_(std::exchange(other.till_, nullptr)), log_(std::move(other.log_)) {}
  Till& operator=(Till&& other) noexcept {
    if (this != &other) {
      loy_till_close(till_);
      till_ = std::exchange(other.till_, nullptr);
      log_ = std::move(other.log_);
    }
    return *this;
  }
  Till(const Till&) = delete;
  Till& operator=(const Till&) = delete;
  ~Till() { loy_till_close(till_); }  // before log_ goes: the library may log until it is closed

  // The C handle, for calls this wrapper does not make; still owned by this object.
  loy_till* handle() const noexcept { return till_; }

  // Installs a rule set (JSON, docs/rules.md).
  void apply_rules(std::string_view json) {
    detail::check(loy_till_apply_rules(till_, json.data(), json.size()), till_);
  }

  // Applies a member-changes document, all of it or nothing.
  void apply_changes(std::string_view json) {
    detail::check(loy_till_apply_changes(till_, json.data(), json.size()), till_);
  }

  // The member of a card code or phone, with every prompt; std::nullopt when it is no member's.
  std::optional<Member> lookup(std::string_view scanned) {
    const detail::CText s(scanned, "scanned text");
    loy_member_info info = detail::sized<loy_member_info>();
    std::vector<Prompt> prompts;
    loy_till* const t = till_;
    const loy_status status = detail::all_prompts(
        [&](loy_prompt_info* array, std::size_t capacity, std::size_t* count) {
          return loy_till_lookup_v2(t, s.c_str(), &info, array, sizeof(loy_prompt_info), capacity, count);
        },
        &prompts);
    if (status == LOY_E_NOT_FOUND) return std::nullopt;
    detail::check(status, till_);
    Member m = detail::member(info);
    m.prompts = std::move(prompts);
    return m;
  }

  // As lookup(), for a scan that must be a member's: NotFound, with the library's detail, when not.
  Member member(std::string_view scanned) {
    std::optional<Member> m = lookup(scanned);
    if (!m) throw NotFound(loy_till_last_error(till_));
    return std::move(*m);
  }

  // Enrolls a new member outside a sale. Its prompts are the first LOY_MAX_PROMPTS (loy_till_enroll
  // gives no more); lookup() of the phone gives them all. Conflict: the phone is a member already.
  Member enroll(const Enrollment& enrollment) {
    const detail::CEnrollment e(enrollment);
    loy_member_info info = detail::sized<loy_member_info>();
    detail::check(loy_till_enroll(till_, e.get(), &info), till_);
    Member m = detail::member(info);
    const std::uint32_t n = std::min<std::uint32_t>(info.prompt_count, LOY_MAX_PROMPTS);
    for (std::uint32_t i = 0; i < n; ++i) m.prompts.push_back(detail::prompt(info.prompts[i]));
    return m;
  }

  // Syncs now on the calling thread: sends the outbox, receives member and coupon changes and the
  // rules. Network when headquarters cannot be reached: the outbox waits, nothing is lost.
  SyncResult sync() {
    loy_sync_result r = detail::sized<loy_sync_result>();
    detail::check(loy_till_sync(till_, &r), till_);
    return SyncResult{r.sent, r.applied, r.duplicates, r.rejected, r.members, r.coupons, r.rules_updated != 0};
  }

  Status status() {
    loy_till_status st = detail::sized<loy_till_status>();
    detail::check(loy_till_status_get(till_, &st), till_);
    Status out;
    out.outbox_depth = st.outbox_depth;
    out.oldest_unsynced_seconds = st.oldest_unsynced_seconds;
    out.cache_version = st.cache_version;
    out.last_sync_unix = st.last_sync_unix;
    out.members = st.members;
    out.rules_version = detail::text(st.rules_version);
    out.currency = detail::text(st.currency);
    out.minor_per_unit = st.minor_per_unit;
    out.rejected = st.rejected;
    out.last_sync_error = detail::text(st.last_sync_error);
    out.held = st.held;
    out.rules_error = detail::text(st.rules_error);
    return out;
  }

  // Refunds `items` (at least one) of a sale committed at this till, under the POS's refund id; the
  // same refund id again returns the first result with replayed set. NotFound: no such receipt or
  // line; Error LOY_E_STATE: nothing of that line left; Conflict: the refund id is another receipt's.
  RefundResult refund(std::string_view refund_id, std::string_view receipt_id, const std::vector<RefundItem>& items) {
    const detail::CRefundItems c(items);
    return refund_items(refund_id, receipt_id, c.data(), c.size());
  }

  // Refunds all that is left of a sale committed at this till.
  RefundResult refund_all(std::string_view refund_id, std::string_view receipt_id) {
    return refund_items(refund_id, receipt_id, nullptr, 0);
  }

  // As refund(), for a sale made at any till of the chain (its store id and its receipt's id), fetched
  // from headquarters when this till does not hold it: Network when it cannot be reached.
  RefundResult refund_at(std::string_view refund_id, std::string_view sale_store_id, std::string_view receipt_id,
                         const std::vector<RefundItem>& items) {
    const detail::CRefundItems c(items);
    return refund_items_at(refund_id, sale_store_id, receipt_id, c.data(), c.size());
  }

  RefundResult refund_all_at(std::string_view refund_id, std::string_view sale_store_id, std::string_view receipt_id) {
    return refund_items_at(refund_id, sale_store_id, receipt_id, nullptr, 0);
  }

  // A new sale on this till.
  Checkout begin() {
    loy_checkout* c = nullptr;
    detail::check(loy_checkout_begin(till_, &c), till_);
    return Checkout(c);
  }

 private:
  Till(loy_till* till, std::unique_ptr<LogFunction> log) noexcept : till_(till), log_(std::move(log)) {}

  RefundResult refund_items(std::string_view refund_id, std::string_view receipt_id, const loy_refund_item* items,
                            std::size_t count) {
    const detail::CText f(refund_id, "refund id"), r(receipt_id, "receipt id");
    loy_refund_result out = detail::sized<loy_refund_result>();
    detail::check(loy_till_refund(till_, f.c_str(), r.c_str(), items, count, &out), till_);
    return detail::refund_result(out);
  }

  RefundResult refund_items_at(std::string_view refund_id, std::string_view sale_store_id,
                               std::string_view receipt_id, const loy_refund_item* items, std::size_t count) {
    const detail::CText f(refund_id, "refund id"), st(sale_store_id, "sale store id"), r(receipt_id, "receipt id");
    loy_refund_result out = detail::sized<loy_refund_result>();
    detail::check(loy_till_refund_at(till_, f.c_str(), st.c_str(), r.c_str(), items, count, &out), till_);
    return detail::refund_result(out);
  }

  loy_till* till_ = nullptr;
  std::unique_ptr<LogFunction> log_;  // the library's userdata: on the heap, so a move keeps its address
};

}  // namespace loyalty

#endif  // LOYALTY_LOYALTY_HPP
