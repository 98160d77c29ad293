// A TCP proxy on 127.0.0.1 between a till and headquarters that can cut a connection after a given
// number of bytes in one direction: the connection breaks mid-request or mid-answer.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace loyalty::test {

class CutProxy {
 public:
  enum class Direction { up, down };  // up: till -> headquarters

  explicit CutProxy(std::uint16_t target_port);
  ~CutProxy();
  CutProxy(const CutProxy&) = delete;
  CutProxy& operator=(const CutProxy&) = delete;

  std::uint16_t port() const { return port_; }
  // Closes every open connection, and cuts the next one accepted after `offset` bytes in `d` (both
  // sides closed then). Connections after that one pass untouched.
  void arm(Direction d, std::size_t offset);
  // Closes every open connection; the next ones pass untouched.
  void reset();
  // Bytes forwarded in each direction since the last arm() or reset().
  std::size_t up_bytes() const { return up_; }
  std::size_t down_bytes() const { return down_; }
  bool cut_happened() const { return cut_; }

 private:
  void accept_loop();
  void pump(int client, int server, std::optional<std::pair<Direction, std::size_t>> cut);
  void close_all();

  int listen_fd_ = -1;
  std::uint16_t target_port_;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> up_{0}, down_{0};
  std::atomic<bool> cut_{false};
  std::mutex mu_;
  std::optional<std::pair<Direction, std::size_t>> armed_;
  std::vector<int> open_fds_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

}  // namespace loyalty::test
