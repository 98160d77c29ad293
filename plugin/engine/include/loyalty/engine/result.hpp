// Errors as values: what the engine answers when its input is wrong.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace loyalty::engine {

// One error: the JSON path of the offending value, then what is wrong with it,
// e.g. "tiers[1].discount_bp: must be within 0..10000".
enum class ErrorKind {
  invalid,    // the input breaks a rule
  not_found,  // it names something that is not there (a refunded line)
  state,      // it asks for what can no longer be done (a refund of what is refunded already)
};

struct Error {
  std::string message;
  ErrorKind kind = ErrorKind::invalid;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const Error& error() const { return std::get<1>(v_); }

  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Error> v_;
};

}  // namespace loyalty::engine
