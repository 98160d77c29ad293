// error_mapping.cpp: checks that loyalty.hpp turns statuses into the exceptions it documents.
//
// Usage: error_mapping [CONFIG_PATH]
// Without a configuration it checks what needs no till (the mapping itself, a failed open, the NUL
// check, the log trampoline). With one (examples/with-hq.sh appends it) it also provokes each
// failure on a real till: a scan of no member, an unknown receipt, a receipt id reused for another
// sale, a phone enrolled twice, a checkout whose till was closed, a moved-from till.
// Prints one line per failed check; exits 0 when none failed.
#include <cstdint>
#include <iostream>
#include <optional>
#include <string>
#include <utility>

#include "loyalty/loyalty.hpp"

namespace {

int failures = 0;

void expect(bool fact, const char* what) {
  if (!fact) {
    ++failures;
    std::cout << "FAILED: " << what << "\n";
  }
}

// Runs `f`, which must throw E with `status`.
template <class E, class F>
void expect_throws(loy_status status, F&& f, const char* what) {
  try {
    f();
  } catch (const E& e) {
    expect(e.status() == status, what);
    return;
  } catch (const std::exception& e) {
    std::cout << "(" << e.what() << ") ";
  }
  expect(false, what);
}

void without_a_till() {
  expect_throws<loyalty::NotFound>(LOY_E_NOT_FOUND, [] { loyalty::detail::raise(LOY_E_NOT_FOUND, "x"); },
                                   "LOY_E_NOT_FOUND is thrown as NotFound");
  expect_throws<loyalty::Network>(LOY_E_NETWORK, [] { loyalty::detail::raise(LOY_E_NETWORK, "x"); },
                                  "LOY_E_NETWORK is thrown as Network");
  expect_throws<loyalty::Conflict>(LOY_E_CONFLICT, [] { loyalty::detail::raise(LOY_E_CONFLICT, "x"); },
                                   "LOY_E_CONFLICT is thrown as Conflict");
  try {
    loyalty::detail::raise(LOY_E_STATE, "quote with no lines");
  } catch (const loyalty::NotFound&) {
    expect(false, "LOY_E_STATE is no NotFound");
  } catch (const loyalty::Error& e) {
    expect(e.status() == LOY_E_STATE, "LOY_E_STATE is thrown as Error with its status");
    expect(e.detail() == "quote with no lines", "the detail is the library's message");
    expect(std::string(e.what()) == std::string(loy_status_str(LOY_E_STATE)) + ": quote with no lines",
           "what() is the status text, then the detail");
  }
  try {
    loyalty::Till::open("/nonexistent/till.json");
    expect(false, "a missing configuration does not open");
  } catch (const loyalty::Error& e) {
    expect(e.status() == LOY_E_CONFIG, "a missing configuration is LOY_E_CONFIG");
    expect(!e.detail().empty(), "a failed open says why");
  }
  expect_throws<loyalty::Error>(LOY_E_INVALID_ARGUMENT,
                                [] { loyalty::Till::open(std::string_view("till.json\0x", 11)); },
                                "a NUL byte inside a string is refused before the library sees it");
  loyalty::LogFunction throwing = [](std::int32_t, std::string_view) { throw std::runtime_error("log"); };
  loyalty::detail::loyalty_hpp_log(LOY_LOG_WARN, "message", &throwing);
  expect(true, "an exception from the log function stays in the trampoline");  // else terminate()
}

void with_a_till(const char* config_path) {
  std::optional<loyalty::Till> till(loyalty::Till::open(config_path));
  till->sync();
  expect(!till->lookup("13700000000"), "lookup of no member's phone is nullopt");
  expect_throws<loyalty::NotFound>(LOY_E_NOT_FOUND, [&] { till->member("13700000000"); },
                                   "member() of no member's phone is NotFound");
  expect_throws<loyalty::NotFound>(LOY_E_NOT_FOUND, [&] { till->refund_all("F-1", "R-none"); },
                                   "a refund of an unknown receipt is NotFound");
  expect_throws<loyalty::Error>(LOY_E_INVALID_ARGUMENT, [&] { till->refund("F-1", "R-none", {}); },
                                "a refund of no items is refused, not a refund of everything");
  {
    loyalty::Checkout first = till->begin();
    expect_throws<loyalty::Error>(LOY_E_STATE, [&] { first.lines(); }, "lines() before a quote is LOY_E_STATE");
    first.add_line("1", "TEE-3", "apparel", 1, 9900);
    expect(!first.commit("R-EM-1").replayed, "a first commit is no replay");
    loyalty::Checkout other = till->begin();
    other.add_line("1", "TEE-3", "apparel", 2, 19800);
    expect_throws<loyalty::Conflict>(LOY_E_CONFLICT, [&] { other.commit("R-EM-1"); },
                                     "a receipt id reused for another sale is Conflict");
  }
  loyalty::Enrollment e;
  e.phone = "13711112222";
  e.consent = "consent form v2 signed at till T01";
  const loyalty::Member m = till->enroll(e);
  expect(!m.member_id.empty(), "an enrollment gives the new member");
  expect_throws<loyalty::Conflict>(LOY_E_CONFLICT, [&] { till->enroll(e); }, "a phone enrolled twice is Conflict");
  e.consent.clear();
  e.phone = "13733334444";
  expect_throws<loyalty::Error>(LOY_E_CONSENT, [&] { till->enroll(e); }, "an enrollment without consent is LOY_E_CONSENT");

  loyalty::Checkout orphan = till->begin();
  orphan.add_line("1", "TEE-3", "apparel", 1, 9900);  // so that only the closed till makes its quote fail
  loyalty::Till moved = std::move(*till);
  expect_throws<loyalty::Error>(LOY_E_INVALID_ARGUMENT, [&] { till->status(); },
                                "a moved-from till throws LOY_E_INVALID_ARGUMENT");
  {
    loyalty::Till closing = std::move(moved);
  }  // closed here, before its checkout
  expect_throws<loyalty::Error>(LOY_E_STATE, [&] { orphan.quote(); }, "a checkout of a closed till throws LOY_E_STATE");
}

}  // namespace

int main(int argc, char** argv) {
  try {
    without_a_till();
    if (argc > 1) with_a_till(argv[argc - 1]);
  } catch (const std::exception& e) {
    ++failures;
    std::cout << "FAILED: " << e.what() << "\n";
  }
  std::cout << (failures == 0 ? "error mapping: all checks passed" : "error mapping: checks failed") << "\n";
  return failures == 0 ? 0 : 1;
}
