// Writing and reading on a connection's bytes (a plain non-blocking socket or a TLS stream) with
// the connection's Watchdog as the only timer: shared by the server and the client.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <span>
#include <type_traits>

#include "net/watchdog.hpp"

namespace tno::mpc::communication::net {

/// Writes what a non-blocking socket takes of `buffers` now, without waiting: how many bytes (0 on
/// a TLS stream, whose writes are never tried this way). `ec` is set only when the connection
/// failed.
template <class Stream, class Buffers>
std::size_t write_now(Stream& stream, const Buffers& buffers, boost::system::error_code& ec) {
  if constexpr (std::is_same_v<Stream, boost::asio::ip::tcp::socket>) {
    const std::size_t written = stream.write_some(buffers, ec);
    if (ec == boost::asio::error::would_block) ec = {};
    return written;
  } else {
    return 0;
  }
}

/// async_write's completion condition for everything, in writes as large as the socket takes:
/// Asio's own (transfer_all) offers at most 64 KiB to each write, so that a 64 MiB body would go
/// out in 1,024 writes, each with a pass through the reactor.
struct TransferAllAtOnce {
  std::size_t operator()(const boost::system::error_code& ec, std::size_t) const noexcept {
    return ec ? 0 : std::size_t{1} << 30;
  }
};

/// Writes `buffers` from byte `written` on, the connection making progress within `limit`; the
/// error that ended the connection, if any.
template <class Stream, class Buffers>
boost::asio::awaitable<boost::system::error_code> write_rest(Stream& stream, const Buffers& buffers,
                                                             std::size_t written,
                                                             Watchdog& watchdog,
                                                             std::chrono::milliseconds limit) {
  watchdog.expires_after(limit);
  boost::beast::buffers_suffix<Buffers> rest(buffers);
  rest.consume(written);
  auto [ec, n] = co_await boost::asio::async_write(
      stream, rest, TransferAllAtOnce{}, boost::asio::as_tuple(boost::asio::use_awaitable));
  co_return ec;
}

/// Moves what `buffer` holds (bytes read past a header) to the front of `into`, and narrows `into`
/// to what is still missing; true when nothing is. Inline, so that a body that came with its
/// header costs no coroutine.
inline bool fill_from(boost::beast::flat_buffer& buffer, std::span<char>& into) {
  const std::size_t have = std::min(buffer.size(), into.size());
  if (have > 0) {
    std::memcpy(into.data(), buffer.data().data(), have);
    buffer.consume(have);
  }
  into = into.subspan(have);
  return into.empty();
}

/// Reads exactly `into.size()` bytes into `into`, the connection making progress within `limit`.
/// False when the connection failed.
template <class Stream>
boost::asio::awaitable<bool> read_exactly(Stream& stream, std::span<char> into, Watchdog& watchdog,
                                          std::chrono::milliseconds limit) {
  watchdog.expires_after(limit);
  auto [ec, n] =
      co_await boost::asio::async_read(stream, boost::asio::buffer(into.data(), into.size()),
                                       boost::asio::as_tuple(boost::asio::use_awaitable));
  co_return !ec;
}

}  // namespace tno::mpc::communication::net
