// Reads that tell the reactor when they leave a socket empty (src/net/drained_read.hpp), on real
// loopback TCP connections: the next read skips its try of the socket only when the caller said
// so, and no byte that comes later is missed, whether or not a read waited when it came.
#include <gtest/gtest.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include <poll.h>

#include <array>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "net/drained_read.hpp"

namespace tno::mpc::communication::net {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

// A connected pair: `reader` is non-blocking, as the library's plain connections are.
struct Connection {
  asio::io_context io;
  tcp::socket reader{io};
  tcp::socket writer{io};

  Connection() {
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    writer.connect(acceptor.local_endpoint());
    acceptor.accept(reader);
    reader.non_blocking(true);
  }

  void send(std::string_view bytes) { asio::write(writer, asio::buffer(bytes)); }

  // Runs handlers until none is left to run (or for `limit`).
  void run(std::chrono::milliseconds limit = 5s) {
    io.restart();
    io.run_for(limit);
  }

  // Lets the reactor take the events the kernel has for it, with no read waiting.
  void take_events() {
    auto work = asio::make_work_guard(io);  // else poll() returns at once, the reactor not run
    io.restart();
    io.poll();
  }

  // Returns once the kernel has `reader` readable (with bytes, or at its end), outside Asio.
  void wait_until_readable() {
    pollfd p{reader.native_handle(), POLLIN | POLLRDHUP, 0};
    ASSERT_EQ(::poll(&p, 1, 5000), 1);
  }
};

struct Outcome {
  boost::system::error_code ec;
  std::string bytes;
};

// Starts a read of up to `room` bytes that answers `drained` for a short read; its outcome lands
// in `out`.
template <class Drained>
void start_read(Connection& c, std::array<char, 64>& room, Drained drained,
                std::optional<Outcome>& out) {
  async_read_some_noting_drained(c.reader, asio::buffer(room), drained,
                                 [&room, &out](boost::system::error_code ec, std::size_t n) {
                                   out = Outcome{ec, std::string(room.data(), n)};
                                 });
}

const auto kAlways = [](std::string_view) { return true; };
const auto kNever = [](std::string_view) { return false; };

// Where the reactor is not the one drained_read.hpp is written for, its reads are Asio's own.
#define SKIP_WITHOUT_DRAINED_READS() \
  if (!TNO_MPC_COMM_DRAINED_READS) GTEST_SKIP() << "reads are Asio's own here"

TEST(DrainedRead, ReadsWhatCameAndAsksOnlyAboutShortReads) {
  SKIP_WITHOUT_DRAINED_READS();
  Connection c;
  std::array<char, 64> room{};
  std::string asked;
  const auto noting = [&asked](std::string_view bytes) {  // called drained, and noted
    asked = bytes;
    return true;
  };
  c.send("hello");
  c.wait_until_readable();
  c.take_events();
  std::optional<Outcome> got;
  start_read(c, room, noting, got);
  c.run();
  ASSERT_TRUE(got);
  EXPECT_FALSE(got->ec);
  EXPECT_EQ(got->bytes, "hello");
  EXPECT_EQ(asked, "hello");

  // A read that fills its buffer is not asked about (the socket may hold more).
  asked.clear();
  const std::string full(room.size(), 'x');
  c.send(full + "more");
  c.wait_until_readable();
  c.take_events();
  got.reset();
  start_read(c, room, noting, got);
  c.run();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->bytes, full);
  EXPECT_TRUE(asked.empty());
  // What was left is read by the next read (which tries the socket: the last one was full).
  got.reset();
  start_read(c, room, kAlways, got);
  c.run();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->bytes, "more");
}

TEST(DrainedRead, BytesThatComeAfterADrainedReadAreRead) {
  Connection c;
  std::array<char, 64> room{};
  c.send("first");
  c.wait_until_readable();
  c.take_events();
  std::optional<Outcome> got;
  start_read(c, room, kAlways, got);
  c.run();
  ASSERT_TRUE(got);
  ASSERT_EQ(got->bytes, "first");

  // While a read waits.
  got.reset();
  start_read(c, room, kAlways, got);
  c.take_events();
  EXPECT_FALSE(got);
  c.send("second");
  c.run();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->bytes, "second");

  // While none waits: the reactor sees the bytes come with nobody to tell, and the next read,
  // started after that, must still find them.
  c.send("third");
  c.wait_until_readable();
  c.take_events();
  got.reset();
  start_read(c, room, kAlways, got);
  c.run();
  ASSERT_TRUE(got);
  EXPECT_FALSE(got->ec);
  EXPECT_EQ(got->bytes, "third");
}

// An end of stream that came with the bytes raises no event of its own after a read has taken
// them. A read the caller did not call drained tries the socket next and finds the end at once;
// one it did call drained waits for an event instead (which is why only a whole answer or request
// may be called drained: the caller writes before it reads again).
TEST(DrainedRead, OnlyAReadCalledDrainedLeavesTheNextOneWaiting) {
  SKIP_WITHOUT_DRAINED_READS();
  for (const bool drained : {false, true}) {
    SCOPED_TRACE(drained ? "called drained" : "not called drained");
    Connection c;
    std::array<char, 64> room{};
    c.send("last words");
    c.writer.shutdown(tcp::socket::shutdown_send);
    c.wait_until_readable();
    c.take_events();  // as where the bytes and the end came while no read waited
    std::optional<Outcome> got;
    if (drained) {
      start_read(c, room, kAlways, got);
    } else {
      start_read(c, room, kNever, got);
    }
    c.run();
    ASSERT_TRUE(got);
    ASSERT_EQ(got->bytes, "last words");

    got.reset();
    start_read(c, room, kAlways, got);
    c.run(drained ? 200ms : 5s);
    if (!drained) {
      ASSERT_TRUE(got);
      EXPECT_EQ(got->ec, asio::error::eof);
      continue;
    }
    EXPECT_FALSE(got) << "the read tried the socket";
    c.reader.cancel();
    c.run();
    ASSERT_TRUE(got);
    EXPECT_EQ(got->ec, asio::error::operation_aborted);
  }
}

}  // namespace
}  // namespace tno::mpc::communication::net
