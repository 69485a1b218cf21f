// The baselines of the benchmark suite: the same payloads over a bare TCP (or TLS) connection,
// with nothing of the library in the way, so that the library's figures can be given as ratios.
//
//   raw_baseline server PORT [--tls CERT_DIR]
//   raw_baseline client HOST:PORT pingpong|stream|keep|exchange SIZE COUNT [--tls CERT_DIR]
//   [--json]
//
// pingpong: COUNT times, the client writes SIZE bytes and reads them back (one in flight);
// exchange: the floor of the pool's protocol, plain TCP only: per round trip, the four writes of
// two HTTP exchanges with the byte counts of a pool's SIZE-byte message (request, its 200, the
// reply, its 200) over two connections, one per direction, each send waiting for its 200 as a
// blocking send does, and nothing parsed;
// stream: the client writes COUNT blocks of SIZE bytes, the server reads them as a plain
// streaming loop does (64 KiB reads into one buffer) and answers one byte;
// keep: the same stream, but the server keeps each block, as a receiver that hands messages on
// must: read whole into fresh memory of its size (mapped for it, huge pages asked for from 8 MiB
// on, as the pool's regions are), which is given back after the block. TLS uses party_0
// (client) and party_1 (server) of scripts/make-test-certs.sh, mutual. The server serves one client
// and exits. TCP_NODELAY on both sides, as the pool sets it.
#include <sys/mman.h>
#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

// Reads/writes whole buffers on a plain or TLS stream; the server's first 16 bytes say what to do.
struct Header {
  std::uint64_t size;
  std::uint64_t count;  // top bit: stream mode; the next: exchange mode; the next: keep
};

constexpr std::uint64_t kStreamBit = std::uint64_t{1} << 63;
constexpr std::uint64_t kExchangeBit = std::uint64_t{1} << 62;
constexpr std::uint64_t kKeepBit = std::uint64_t{1} << 61;
// What the pool writes for a SIZE-byte bytes message: its request head (with the length line)
// and msgpack envelope take this much more; its 200 answer takes kAnswerBytes.
constexpr std::size_t kRequestOverhead = 142;
constexpr std::size_t kAnswerBytes = 96;

// One round trip of the exchange mode, from the side that sends first (`first`) or answers.
void exchange(tcp::socket& own_requests, tcp::socket& peer_requests, std::vector<char>& request,
              std::vector<char>& answer, bool first) {
  if (first) {
    asio::write(own_requests, asio::buffer(request));
    asio::read(own_requests, asio::buffer(answer));
    asio::read(peer_requests, asio::buffer(request));
    asio::write(peer_requests, asio::buffer(answer));
  } else {
    asio::read(peer_requests, asio::buffer(request));
    asio::write(peer_requests, asio::buffer(answer));
    asio::write(own_requests, asio::buffer(request));
    asio::read(own_requests, asio::buffer(answer));
  }
}

template <class Stream>
void serve(Stream& s, tcp::acceptor& acceptor) {
  Header h{};
  asio::read(s, asio::buffer(&h, sizeof h));
  bool stream_mode = (h.count & kStreamBit) != 0;
  std::uint64_t count = h.count & ~(kStreamBit | kExchangeBit | kKeepBit);
  if (h.count & kExchangeBit) {
    if constexpr (std::is_same_v<Stream, tcp::socket>) {
      tcp::socket own_requests = acceptor.accept();
      own_requests.set_option(tcp::no_delay(true));
      std::vector<char> request(h.size + kRequestOverhead, 'x');
      std::vector<char> answer(kAnswerBytes, 'y');
      for (std::uint64_t i = 0; i < count; ++i) {
        exchange(own_requests, s, request, answer, false);
      }
    }
    return;
  }
  if (h.count & kKeepBit) {
    for (std::uint64_t i = 0; i < count; ++i) {
      void* p = mmap(nullptr, h.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) throw std::bad_alloc();
      if (h.size >= (std::uint64_t{8} << 20)) madvise(p, h.size, MADV_HUGEPAGE);
      asio::read(s, asio::buffer(p, h.size));
      munmap(p, h.size);
    }
    char done = 'k';
    asio::write(s, asio::buffer(&done, 1));
    return;
  }
  if (stream_mode) {
    // A plain streaming loop at full speed: every byte read into one cache-warm 64 KiB buffer.
    std::vector<char> chunk(64 * 1024);
    std::uint64_t left = h.size * count;
    while (left > 0) {
      left -= s.read_some(asio::buffer(chunk.data(), std::min<std::uint64_t>(left, chunk.size())));
    }
    asio::write(s, asio::buffer(chunk.data(), 1));
    return;
  }
  std::vector<char> buf(h.size);
  for (std::uint64_t i = 0; i < count; ++i) {
    asio::read(s, asio::buffer(buf));
    asio::write(s, asio::buffer(buf));
  }
}

struct Result {
  std::vector<double> rtt_us;
  double seconds = 0;
};

// The exchange mode's client: its requests go out on `s`, the server's come on a second
// connection to the same address.
Result run_exchange(tcp::socket& s, const tcp::endpoint& server, std::uint64_t size,
                    std::uint64_t count) {
  Header h{size, count | kExchangeBit};
  asio::write(s, asio::buffer(&h, sizeof h));
  tcp::socket peer_requests(s.get_executor());
  peer_requests.connect(server);
  peer_requests.set_option(tcp::no_delay(true));
  std::vector<char> request(size + kRequestOverhead, 'x');
  std::vector<char> answer(kAnswerBytes, 'y');
  Result r;
  r.rtt_us.reserve(count);
  auto start = Clock::now();
  for (std::uint64_t i = 0; i < count; ++i) {
    auto t = Clock::now();
    exchange(s, peer_requests, request, answer, true);
    r.rtt_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return r;
}

template <class Stream>
Result run(Stream& s, bool stream_mode, bool keep, std::uint64_t size, std::uint64_t count) {
  Header h{size, count | (stream_mode ? kStreamBit : 0) | (keep ? kKeepBit : 0)};
  asio::write(s, asio::buffer(&h, sizeof h));
  std::vector<char> out(size, 'x');
  std::vector<char> in(stream_mode ? 1 : size);
  Result r;
  r.rtt_us.reserve(stream_mode ? 0 : count);
  auto start = Clock::now();
  for (std::uint64_t i = 0; i < count; ++i) {
    auto t = Clock::now();
    asio::write(s, asio::buffer(out));
    if (!stream_mode) {
      asio::read(s, asio::buffer(in));
      r.rtt_us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t).count());
    }
  }
  if (stream_mode) asio::read(s, asio::buffer(in.data(), 1));
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return r;
}

ssl::context tls_context(const std::string& dir, const std::string& party) {
  ssl::context ctx(ssl::context::tls);
  ctx.use_certificate_chain_file(dir + "/" + party + ".crt");
  ctx.use_private_key_file(dir + "/" + party + ".pem", ssl::context::pem);
  ctx.load_verify_file(dir + "/ca-combined.crt");
  ctx.set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  return ctx;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto at = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(at, v.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string tls_dir;
  bool json = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--tls" && i + 1 < args.size()) {
      tls_dir = args[i + 1];
      args.erase(args.begin() + static_cast<long>(i), args.begin() + static_cast<long>(i) + 2);
      --i;
    } else if (args[i] == "--json") {
      json = true;
      args.erase(args.begin() + static_cast<long>(i));
      --i;
    }
  }
  try {
    asio::io_context ioc;
    if (args.size() == 2 && args[0] == "server") {
      tcp::acceptor acceptor(ioc, {asio::ip::make_address("127.0.0.1"),
                                   static_cast<unsigned short>(std::stoi(args[1]))});
      tcp::socket socket = acceptor.accept();
      socket.set_option(tcp::no_delay(true));
      if (tls_dir.empty()) {
        serve(socket, acceptor);
      } else {
        auto ctx = tls_context(tls_dir, "party_1");
        ssl::stream<tcp::socket> s(std::move(socket), ctx);
        s.handshake(ssl::stream_base::server);
        serve(s, acceptor);
      }
      return 0;
    }
    if (args.size() == 5 && args[0] == "client") {
      auto colon = args[1].rfind(':');
      tcp::resolver resolver(ioc);
      tcp::socket socket(ioc);
      asio::connect(socket, resolver.resolve(args[1].substr(0, colon), args[1].substr(colon + 1)));
      socket.set_option(tcp::no_delay(true));
      const bool keep = args[2] == "keep";
      const bool stream_mode = args[2] == "stream" || keep;
      auto size = std::stoull(args[3]);
      auto count = std::stoull(args[4]);
      Result r;
      double handshake_us = 0;
      if (args[2] == "exchange") {
        if (!tls_dir.empty()) throw std::runtime_error("exchange is measured over plain TCP only");
        r = run_exchange(socket, socket.remote_endpoint(), size, count);
      } else if (tls_dir.empty()) {
        r = run(socket, stream_mode, keep, size, count);
      } else {
        auto ctx = tls_context(tls_dir, "party_0");
        ssl::stream<tcp::socket> s(std::move(socket), ctx);
        auto t = Clock::now();
        s.handshake(ssl::stream_base::client);
        handshake_us = std::chrono::duration<double, std::micro>(Clock::now() - t).count();
        r = run(s, stream_mode, keep, size, count);
      }
      double mb_per_s = static_cast<double>(size * count) / r.seconds / 1e6;
      double per_s = static_cast<double>(count) / r.seconds;
      if (json) {
        std::printf(
            "{\"mode\": \"%s\", \"tls\": %s, \"size\": %llu, \"count\": %llu, "
            "\"rtt_median_us\": %.2f, \"rtt_p99_us\": %.2f, \"messages_per_s\": %.1f, "
            "\"payload_mb_per_s\": %.1f, \"handshake_us\": %.1f}\n",
            args[2].c_str(), tls_dir.empty() ? "false" : "true", size, count,
            percentile(r.rtt_us, 0.5), percentile(r.rtt_us, 0.99), per_s, mb_per_s, handshake_us);
      } else {
        std::printf(
            "raw %s %s, %llu x %llu B: median %.1f us, p99 %.1f us, %.0f msg/s, %.1f MB/s\n",
            tls_dir.empty() ? "TCP" : "TLS", args[2].c_str(), count, size,
            percentile(r.rtt_us, 0.5), percentile(r.rtt_us, 0.99), per_s, mb_per_s);
      }
      return 0;
    }
  } catch (const std::exception& e) {
    std::cerr << "raw_baseline: " << e.what() << '\n';
    return 1;
  }
  std::cerr << "usage: raw_baseline server PORT [--tls DIR] | client HOST:PORT "
               "pingpong|stream|keep|exchange SIZE COUNT [--tls DIR] [--json]\n";
  return 2;
}
