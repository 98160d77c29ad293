// Every struct_size that a released loyalty.h had, per struct, in one place: a caller built against
// any of them keeps working, and the library reads and fills only what the caller's size holds.
// A struct that grows adds its new size at the end of its list (the static_asserts below, with the
// released sizes as literals, fail until it does); a size is never removed.
#pragma once

#include <algorithm>
#include <array>
#include <iterator>
#include <cstddef>
#include <cstdint>

#include "loyalty/loyalty.h"

namespace loyalty::api {

template <class T>
struct KnownSizes;  // `sizes`: oldest first, the last one this header's sizeof(T)

#define LOYALTY_SIZES(T, ...)                                                       \
  template <>                                                                       \
  struct KnownSizes<T> {                                                            \
    static constexpr std::array sizes{__VA_ARGS__};                                 \
  };                                                                                \
  static_assert(KnownSizes<T>::sizes.back() == sizeof(T), #T " grew: add its size")

// 1.0, 1.1 and 1.2 share each size unless listed otherwise.
LOYALTY_SIZES(loy_till_options, std::size_t{sizeof(loy_till_options)});
LOYALTY_SIZES(loy_member_info, std::size_t{sizeof(loy_member_info)});
// 1.0 ended before `rejected`, 1.1 before `held`.
LOYALTY_SIZES(loy_till_status, offsetof(loy_till_status, rejected), offsetof(loy_till_status, held),
              sizeof(loy_till_status));
LOYALTY_SIZES(loy_sync_result, std::size_t{sizeof(loy_sync_result)});
LOYALTY_SIZES(loy_line, std::size_t{sizeof(loy_line)});
LOYALTY_SIZES(loy_quote, std::size_t{sizeof(loy_quote)});
LOYALTY_SIZES(loy_line_quote, std::size_t{sizeof(loy_line_quote)});
LOYALTY_SIZES(loy_refund_item, std::size_t{sizeof(loy_refund_item)});
LOYALTY_SIZES(loy_refund_result, std::size_t{sizeof(loy_refund_result)});
LOYALTY_SIZES(loy_enrollment, std::size_t{sizeof(loy_enrollment)});
// Since 1.2.
LOYALTY_SIZES(loy_prompt_info, std::size_t{sizeof(loy_prompt_info)});

#undef LOYALTY_SIZES

// The released sizes on the 64-bit ABIs (LP64, LLP64), as literals: a struct that grows fails here
// until its new size is added to its list above and here; a released size never changes.
#define LOYALTY_RELEASED(T, ...)                                                                        \
  static_assert(sizeof(void*) != 8 || KnownSizes<T>::sizes == std::array<std::size_t, std::size({__VA_ARGS__})>{__VA_ARGS__}, \
                #T ": its sizes are not the released ones: add the new size, never change one")
LOYALTY_RELEASED(loy_till_options, 32);
LOYALTY_RELEASED(loy_member_info, 1480);
LOYALTY_RELEASED(loy_till_status, 128, 392, 656);
LOYALTY_RELEASED(loy_sync_result, 64);
LOYALTY_RELEASED(loy_line, 48);
LOYALTY_RELEASED(loy_quote, 104);
LOYALTY_RELEASED(loy_line_quote, 120);
LOYALTY_RELEASED(loy_refund_item, 24);
LOYALTY_RELEASED(loy_refund_result, 48);
LOYALTY_RELEASED(loy_enrollment, 40);
LOYALTY_RELEASED(loy_prompt_info, 152);
#undef LOYALTY_RELEASED
// loy_prompt is frozen (embedded in loy_member_info by value): neither may change where it is.
static_assert(sizeof(loy_prompt) == 144, "loy_prompt is frozen: add a field to loy_prompt_info instead");
static_assert(sizeof(void*) != 8 || (offsetof(loy_member_info, prompts) == 328 && sizeof(loy_member_info) == 1480),
              "loy_member_info: a released layout changed");

// True when `size` is a struct_size some released header gave T.
template <class T>
constexpr bool known_size(std::uint32_t size) {
  const auto& s = KnownSizes<T>::sizes;
  return std::find(s.begin(), s.end(), std::size_t{size}) != s.end();
}

}  // namespace loyalty::api
