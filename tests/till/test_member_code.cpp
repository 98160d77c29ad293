#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "loyalty/till/member_code.hpp"
#include "loyalty/till/till.hpp"
#include "support.hpp"

using namespace loyalty;

TEST_CASE("scanned codes are normalised before they are hashed", "[till]") {
  CHECK(till::normalise_code("+86 138-0013-8000") == "13800138000");
  CHECK(till::normalise_code("lc-0001-2345") == "LC00012345");
  CHECK(till::normalise_code("\t138 0013 8000 ") == "13800138000");
  CHECK_FALSE(till::normalise_code("+86").has_value());
  CHECK_FALSE(till::normalise_code("138.0013").has_value());
  CHECK_FALSE(till::normalise_code(std::string(65, '1')).has_value());
  CHECK_FALSE(till::normalise_code(std::string(300, ' ')).has_value());
}

TEST_CASE("the keyed hash is HMAC-SHA256 under the chain's key, one-shot or keyed once", "[till]") {
  std::vector<std::uint8_t> key;
  for (int i = 0; i < 32; ++i) key.push_back(static_cast<std::uint8_t>(std::stoi(std::string(test::kCodeKeyHex + 2 * i, 2), nullptr, 16)));
  const till::CodeHasher hasher(key);
  CHECK(protocol::to_hex(hasher("13800138000")) == test::code_hash_hex("13800138000"));
  CHECK(protocol::to_hex(till::hash_code(key, "13800138000")) == test::code_hash_hex("13800138000"));
  CHECK(hasher("13800138000") != hasher("13800138001"));
  // Each call is a MAC of its own: the context reused between calls holds the key, not the last code.
  CHECK(protocol::to_hex(hasher("13800138000")) == test::code_hash_hex("13800138000"));
  // Calls from several threads at once, some of which find the reused context busy, agree with it.
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        const std::string code = "1380013" + std::to_string(1000 + (i * 7 + t) % 9000);
        if (hasher(code) != till::hash_code(key, code)) ++wrong;
      }
    });
  for (auto& th : threads) th.join();
  CHECK(wrong == 0);
}

TEST_CASE("names are masked to a first character per word, one-character words entirely", "[till]") {
  CHECK(till::mask_name("Wang Fang") == "W*** F***");
  CHECK(till::mask_name("王芳") == "王*");
  CHECK(till::mask_name("J K Rowling") == "* * R******");
  CHECK(till::mask_name("  Zhang   Wei ") == "Z**** W**");
  CHECK(till::mask_name("") == "");
  CHECK(till::mask_name("王") == "*");
}

TEST_CASE("transaction ids are 128 random bits, none given twice, not even by a forked child", "[till]") {
  std::set<std::string> seen;
  for (int i = 0; i < 5'000; ++i) {  // across many draws of the pool
    const std::string id = till::random_id();
    REQUIRE(id.size() == 32);
    REQUIRE(id.find_first_not_of("0123456789abcdef") == std::string::npos);
    REQUIRE(seen.insert(id).second);
  }
  std::vector<std::string> other(2'000);
  std::thread t([&] {
    for (auto& id : other) id = till::random_id();
  });
  t.join();
  for (const auto& id : other) REQUIRE(seen.insert(id).second);

  // The parent's pool holds ids it has not given yet; a child forked now must not give them.
  (void)till::random_id();
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    std::string ids;
    for (int i = 0; i < 64; ++i) ids += till::random_id();
    const ssize_t n = write(fds[1], ids.data(), ids.size());
    _exit(n == static_cast<ssize_t>(ids.size()) ? 0 : 1);
  }
  close(fds[1]);
  std::string from_child(64 * 32, '\0');
  std::size_t got = 0;
  while (got < from_child.size()) {
    const ssize_t n = read(fds[0], from_child.data() + got, from_child.size() - got);
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  close(fds[0]);
  int status = 0;
  waitpid(child, &status, 0);
  REQUIRE(got == from_child.size());
  REQUIRE((WIFEXITED(status) && WEXITSTATUS(status) == 0));
  for (int i = 0; i < 64; ++i) seen.insert(till::random_id());
  for (std::size_t i = 0; i < from_child.size(); i += 32) CHECK_FALSE(seen.contains(from_child.substr(i, 32)));
}
