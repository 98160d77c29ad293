#include "proxy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <stdexcept>

namespace loyalty::test {
namespace {

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

bool write_all(int fd, const char* data, std::size_t n) {
  while (n > 0) {
    const ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    data += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

}  // namespace

CutProxy::CutProxy(std::uint16_t target_port) : target_port_(target_port) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a = loopback(0);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listen_fd_, 64) != 0)
    throw std::runtime_error("proxy: cannot listen on 127.0.0.1");
  socklen_t len = sizeof a;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

CutProxy::~CutProxy() {
  stop_ = true;
  acceptor_.join();
  close_all();
  for (auto& t : threads_) t.join();
  ::close(listen_fd_);
}

void CutProxy::close_all() {
  std::lock_guard lock(mu_);
  for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
}

void CutProxy::arm(Direction d, std::size_t offset) {
  close_all();
  std::lock_guard lock(mu_);
  armed_ = std::make_pair(d, offset);
  up_ = 0;
  down_ = 0;
  cut_ = false;
}

void CutProxy::reset() {
  close_all();
  std::lock_guard lock(mu_);
  armed_.reset();
  up_ = 0;
  down_ = 0;
  cut_ = false;
}

void CutProxy::accept_loop() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    const int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a = loopback(target_port_);
    if (::connect(server, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(server);
      ::close(client);
      continue;
    }
    std::optional<std::pair<Direction, std::size_t>> cut;
    {
      std::lock_guard lock(mu_);
      cut = armed_;
      armed_.reset();
      open_fds_.push_back(client);
      open_fds_.push_back(server);
    }
    threads_.emplace_back([this, client, server, cut] { pump(client, server, cut); });
  }
}

void CutProxy::pump(int client, int server, std::optional<std::pair<Direction, std::size_t>> cut) {
  std::size_t sent[2] = {0, 0};  // up, down on this connection
  char buf[16384];
  bool open = true;
  while (open && !stop_) {
    pollfd p[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
    if (::poll(p, 2, 50) <= 0) continue;
    for (int i = 0; i < 2 && open; ++i) {
      if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const int from = i == 0 ? client : server;
      const int to = i == 0 ? server : client;
      const ssize_t n = ::recv(from, buf, sizeof buf, 0);
      if (n <= 0) {
        open = false;
        break;
      }
      std::size_t len = static_cast<std::size_t>(n);
      const Direction d = i == 0 ? Direction::up : Direction::down;
      bool cut_now = false;
      if (cut && cut->first == d && sent[i] + len >= cut->second) {
        len = cut->second - sent[i];
        cut_now = true;
      }
      if (len > 0 && !write_all(to, buf, len)) open = false;
      sent[i] += len;
      (i == 0 ? up_ : down_) += len;
      if (cut_now) {
        cut_ = true;
        open = false;
      }
    }
  }
  {
    std::lock_guard lock(mu_);
    open_fds_.erase(std::remove(open_fds_.begin(), open_fds_.end(), client), open_fds_.end());
    open_fds_.erase(std::remove(open_fds_.begin(), open_fds_.end(), server), open_fds_.end());
  }
  ::shutdown(client, SHUT_RDWR);
  ::shutdown(server, SHUT_RDWR);
  ::close(client);
  ::close(server);
}

}  // namespace loyalty::test
