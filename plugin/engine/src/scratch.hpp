// Working memory of a quote: on the stack for ordinary baskets, on the heap for long ones.
#pragma once

#include <array>
#include <cstddef>
#include <span>
#include <vector>

namespace loyalty::engine::detail {

template <class T, std::size_t N = 64>
class Scratch {
 public:
  explicit Scratch(std::size_t n) : n_(n) {
    if (n > N) heap_.resize(n);
    data_ = n > N ? heap_.data() : stack_.data();
    for (std::size_t i = 0; i < n; ++i) data_[i] = T{};
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

  T& operator[](std::size_t i) { return data_[i]; }
  const T& operator[](std::size_t i) const { return data_[i]; }
  T* begin() { return data_; }
  T* end() { return data_ + n_; }
  std::span<T> span() { return {data_, n_}; }
  operator std::span<T>() { return span(); }                              // NOLINT: by design
  operator std::span<const T>() const { return {data_, n_}; }              // NOLINT

 private:
  std::size_t n_;
  T* data_ = nullptr;
  std::array<T, N> stack_;
  std::vector<T> heap_;
};

}  // namespace loyalty::engine::detail
