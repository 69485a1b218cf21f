// The memory that a connection's reads reuse (src/net/handler_memory.hpp): handed out once at a
// time, given back, and really used by Asio for a read bound to it (a real socket pair).
#include <gtest/gtest.h>

#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <cstdint>

#include "net/handler_memory.hpp"

namespace tno::mpc::communication::net {
namespace {

TEST(HandlerMemory, HandsItsStorageToOneAllocationAtATime) {
  HandlerMemory memory;
  void* first = memory.allocate(100);
  EXPECT_TRUE(memory.in_use());
  void* second = memory.allocate(100);  // in use: from operator new
  EXPECT_NE(first, second);
  memory.deallocate(second);
  EXPECT_TRUE(memory.in_use());
  memory.deallocate(first);
  EXPECT_FALSE(memory.in_use());
  EXPECT_EQ(memory.allocate(100), first);  // reused
  memory.deallocate(first);
  void* large = memory.allocate(1 << 20);  // too large: from operator new
  EXPECT_NE(large, first);
  EXPECT_FALSE(memory.in_use());
  memory.deallocate(large);
}

TEST(HandlerMemory, AnOverAlignedTypeIsAllocatedApart) {
  struct alignas(64) Wide {
    std::array<std::uint8_t, 64> bytes;
  };
  HandlerMemory memory;
  HandlerAllocator<Wide> allocator(memory);
  Wide* w = allocator.allocate(1);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(w) % 64, 0u);
  EXPECT_FALSE(memory.in_use());
  allocator.deallocate(w, 1);
}

TEST(HandlerMemory, AsioPlacesABoundReadInItAndFreesItBeforeTheHandlerRuns) {
  boost::asio::io_context io;
  boost::asio::local::stream_protocol::socket a(io), b(io);
  boost::asio::local::connect_pair(a, b);
  HandlerMemory memory;
  std::array<char, 16> into{};
  bool read = false;
  bool in_use_in_handler = true;
  a.async_read_some(
      boost::asio::buffer(into),
      boost::asio::bind_allocator(HandlerAllocator<void>(memory),
                                  [&](const boost::system::error_code& ec, std::size_t n) {
                                    read = !ec && n == 5;
                                    in_use_in_handler = memory.in_use();
                                  }));
  EXPECT_TRUE(memory.in_use());  // the pending read lives in it
  boost::asio::write(b, boost::asio::buffer("hello", 5));
  io.run();
  EXPECT_TRUE(read);
  EXPECT_FALSE(in_use_in_handler);  // given back before the upcall: the next read may use it
  EXPECT_FALSE(memory.in_use());
}

}  // namespace
}  // namespace tno::mpc::communication::net
