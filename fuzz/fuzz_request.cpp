// libFuzzer target: the server's request handling. Each input is written, as it is, to a real
// party's server over a socket (the real HTTP parser, the pool's checks and its decoder); the
// party must answer or close, and keep serving: every 200 inputs a known peer's message must
// still arrive. Seeds (fuzz/make_seeds.py) are the shared vectors in requests from that peer.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "tno/mpc/communication/pool.hpp"

namespace mpc = tno::mpc::communication;

namespace {

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_request: %s\n", what);
  std::abort();
}

// The cookie of the seeds' requests: the known peer "fuzzer" serves (nominally) on this port.
constexpr std::uint16_t kFuzzerPort = 1;

struct Party {
  Party() {
    mpc::set_log_level("off");
    mpc::PoolConfig config;
    config.idle_timeout = std::chrono::seconds(2);
    config.max_stored_bytes_per_peer = 1 << 20;
    config.max_body_bytes = 4 << 20;
    receiver = std::make_unique<mpc::Pool>(config);
    port = receiver->add_http_server(0, "127.0.0.1");
    receiver->add_http_client("fuzzer", "127.0.0.1", kFuzzerPort);
    sender = std::make_unique<mpc::Pool>(config);
    sender_port = sender->add_http_server(0, "127.0.0.1");
    receiver->add_http_client("sender", "127.0.0.1", sender_port);
    sender->add_http_client("receiver", "127.0.0.1", port);
  }
  std::unique_ptr<mpc::Pool> receiver;
  std::unique_ptr<mpc::Pool> sender;
  std::uint16_t port = 0;
  std::uint16_t sender_port = 0;
};

// Writes `data`, ends the sending side, and reads until the server closes (at most 5 s).
void exchange(std::uint16_t port, const std::uint8_t* data, std::size_t size) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  // libFuzzer's timer signal interrupts system calls (EINTR): a connect so interrupted goes on in
  // the background, and is waited for.
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    if (errno != EINTR) {
      std::perror("connect");
      fail("cannot connect to the party's server");
    }
    pollfd p{fd, POLLOUT, 0};
    int error = 0;
    socklen_t length = sizeof error;
    while (::poll(&p, 1, 5000) < 0 && errno == EINTR) {
    }
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0 || error != 0) {
      fail("cannot connect to the party's server (after an interrupted connect)");
    }
  }
  std::size_t sent = 0;
  while (sent < size) {
    ssize_t n = ::send(fd, data + sent, size - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // the server closed early: allowed
    sent += static_cast<std::size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  char sink[4096];
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) fail("the party neither answered nor closed within 5 s");
    pollfd p{fd, POLLIN, 0};
    int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) fail("the party neither answered nor closed within 5 s");
    ssize_t n = ::recv(fd, sink, sizeof sink, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
  }
  // Closed with a reset: a closed connection's TIME_WAIT would hold its port for a minute, and
  // thousands of inputs per second would run out of ports.
  linger reset{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
  ::close(fd);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static auto party = std::make_unique<Party>();
  static std::uint64_t runs = 0;
  exchange(party->port, data, size);
  if (++runs % 200 == 0) {
    // Still serving; and a fresh party, so that stored messages do not pile up to the limit.
    party->sender->send("receiver", std::string("alive"));
    if (party->receiver->recv<std::string>("sender", std::nullopt, std::chrono::seconds(10)) !=
        "alive") {
      fail("a known peer's message did not arrive after the fuzzed requests");
    }
    party.reset();
    party = std::make_unique<Party>();
  }
  return 0;
}
