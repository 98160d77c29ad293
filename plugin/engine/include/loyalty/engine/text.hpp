// Text that crosses the engine's boundary is UTF-8; this says whether it is.
#pragma once

#include <string_view>

namespace loyalty::engine {

// True for well-formed UTF-8 (no overlong forms, no surrogates, nothing above U+10FFFF).
bool is_valid_utf8(std::string_view s) noexcept;

}  // namespace loyalty::engine
