// A client connection to a party's server, plain or TLS, kept alive between messages, and one
// request/answer exchange on it. Used by the client (deliveries) and by ping.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffer_traits.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string_view>

#include "net/framing.hpp"
#include "net/stream_io.hpp"
#include "net/watchdog.hpp"

namespace tno::mpc::communication::net {

using TlsStream = boost::beast::ssl_stream<boost::beast::tcp_stream>;
/// What a client needs of an answer.
struct Answer {
  unsigned status = 0;
  bool keep_alive = true;
  std::string body;
};

struct Connection {
  /// A TLS connection with `tls`, else a plain one; not connected yet.
  Connection(boost::asio::io_context& ioc, boost::asio::ssl::context* tls)
      : watchdog(ioc.get_executor(), [this] {
          boost::system::error_code ignored;
          tcp().socket().close(ignored);
        }) {
    if (tls != nullptr) {
      secure.emplace(ioc, *tls);
    } else {
      plain.emplace(ioc);
    }
  }
  boost::beast::tcp_stream& tcp() {
    return secure ? boost::beast::get_lowest_layer(*secure) : *plain;
  }
  /// The TLS connection's SSL*, or null.
  SSL* ssl() { return secure ? secure->native_handle() : nullptr; }

  /// Once connected: small writes go out at once (no delay), and without a wait when they fit
  /// (the socket's synchronous operations never wait: write_now(), write_all_now(), read_now()).
  void connected() {
    tcp().socket().set_option(boost::asio::ip::tcp::no_delay(true));
    tcp().socket().non_blocking(true);
  }

  /// Writes what the socket takes of `request` now, without waiting (nothing over TLS); how many
  /// bytes. Throws boost::system::system_error.
  template <class Buffers>
  std::size_t write_now(const Buffers& request) {
    if (secure) return 0;
    boost::system::error_code ec;
    const std::size_t written = net::write_now(tcp().socket(), request, ec);
    if (ec) throw boost::system::system_error(ec);
    return written;
  }

  /// Over TLS: writes all of `request` now, without waiting, and true; false when the socket did
  /// not take it all, which leaves the connection unusable (a record may have gone out in part):
  /// close it. For requests far smaller than a socket's send buffer, on an idle connection (no
  /// asynchronous operation under way on the stream, whose state the synchronous ones share).
  template <class Buffers>
  bool write_all_now(const Buffers& request) {
    boost::beast::buffers_suffix<Buffers> rest(request);
    boost::system::error_code ec;
    while (boost::beast::buffer_bytes(rest) > 0) {
      const std::size_t n = secure->write_some(rest, ec);
      if (ec || n == 0) return false;
      rest.consume(n);
    }
    return true;
  }

  /// Writes `request` (a buffer sequence: header and body pieces in one gather write) from byte
  /// `written` on, within `limit`. Throws boost::system::system_error.
  template <class Buffers>
  boost::asio::awaitable<void> send(const Buffers& request, std::size_t written,
                                    std::chrono::milliseconds limit) {
    const boost::system::error_code ec =
        secure ? co_await write_rest(*secure, request, written, watchdog, limit)
               : co_await write_rest(tcp().socket(), request, written, watchdog, limit);
    if (ec) throw boost::system::system_error(ec);
  }

  /// What `buffer` begins with: this library's constant 200 (received_bytes()) whole, a part of
  /// it (or nothing yet), or anything else (an answer for the parser).
  enum class Constant { whole, partial, other };
  /// The constant 200 is taken from `buffer` when it is there whole.
  Constant take_constant_answer() {
    const std::string_view expected = received_bytes();
    const std::string_view have(static_cast<const char*>(buffer.data().data()), buffer.size());
    const std::size_t n = std::min(have.size(), expected.size());
    if (have.substr(0, n) != expected.substr(0, n)) return Constant::other;
    if (n < expected.size()) return Constant::partial;
    buffer.consume(n);
    return Constant::whole;
  }

  /// For async_read_some_noting_drained, while `buffer` holds a part of the constant 200: whether
  /// a read's bytes are the rest of it, which ends the answer. Only for a connection with one
  /// request under way, whose next read follows the next request.
  auto rest_of_constant_answer() const {
    return [rest = received_bytes().substr(buffer.size())](std::string_view bytes) {
      return bytes == rest;
    };
  }

  /// Reads into `buffer` what the connection holds now, without waiting (over TLS: the data of a
  /// record that is in whole); false, with `ec` set, when nothing was read (would_block: nothing
  /// came yet). A failure other than would_block is kept for read_answer(), which throws it (a
  /// TLS alert read here fails the answer as it would have failed its read there).
  bool read_now(boost::system::error_code& ec) {
    const auto space = buffer.prepare(512);
    const std::size_t got =
        secure ? secure->read_some(space, ec) : tcp().socket().read_some(space, ec);
    if (ec && ec != boost::asio::error::would_block) read_failure = ec;
    if (ec) return false;
    buffer.commit(got);
    return true;
  }

  /// Reads one answer. Throws boost::system::system_error.
  boost::asio::awaitable<Answer> read_answer() {
    if (read_failure) throw boost::system::system_error(read_failure);
    // Nearly every answer is the constant 200, known by its bytes; any other goes through the
    // parser.
    Constant found;
    while ((found = take_constant_answer()) == Constant::partial) {
      const auto space = buffer.prepare(4096);
      const std::size_t got =
          secure ? co_await secure->async_read_some(space, boost::asio::use_awaitable)
                 : co_await tcp().socket().async_read_some(space, boost::asio::use_awaitable);
      buffer.commit(got);
    }
    if (found == Constant::whole) co_return Answer{200, true, {}};
    boost::beast::http::response<boost::beast::http::string_body> answer;
    if (secure) {
      co_await boost::beast::http::async_read(*secure, buffer, answer, boost::asio::use_awaitable);
    } else {
      co_await boost::beast::http::async_read(tcp().socket(), buffer, answer,
                                              boost::asio::use_awaitable);
    }
    co_return Answer{answer.result_int(), answer.keep_alive(), std::move(answer.body())};
  }

  std::optional<boost::beast::tcp_stream> plain;
  std::optional<TlsStream> secure;
  boost::system::error_code read_failure;  // of read_now()
  boost::beast::flat_buffer buffer;        // what was read past an answer
  /// Bounds each step (connecting, writing, waiting for the answer) in place of the stream's
  /// timers; on expiry it closes the socket.
  Watchdog watchdog;
};

}  // namespace tno::mpc::communication::net
