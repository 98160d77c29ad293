// loyalty-hq's HTTPS server: Boost.Beast over OpenSSL, mutual TLS. Kept out of every other header:
// only server.cpp includes Beast.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "loyalty/hq/config.hpp"
#include "loyalty/hq/service.hpp"

namespace loyalty::hq {

// Serves until SIGTERM or SIGINT, then stops accepting, lets the requests in flight finish (for at
// most the configured timeout) and returns. `on_listening` receives the bound port once connections
// are accepted. Throws std::runtime_error when it cannot start (a TLS file, the address).
void run_server(const HqConfig& config, Service& service, const std::function<void(const std::string&)>& log,
                const std::function<void(std::uint16_t)>& on_listening);

}  // namespace loyalty::hq
