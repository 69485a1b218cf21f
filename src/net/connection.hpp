// A client connection to a party's server, plain or TLS, kept alive between messages, and one
// request/answer exchange on it. Used by the client (deliveries) and by ping.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <optional>

namespace tno::mpc::communication::net {

using TlsStream = boost::beast::ssl_stream<boost::beast::tcp_stream>;
using Answer = boost::beast::http::response<boost::beast::http::string_body>;

struct Connection {
  /// A TLS connection with `tls`, else a plain one; not connected yet.
  Connection(boost::asio::io_context& ioc, boost::asio::ssl::context* tls) {
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

  /// Writes `request` (a buffer sequence: header and body pieces in one gather write). Throws
  /// boost::system::system_error.
  template <class Buffers>
  boost::asio::awaitable<void> send(const Buffers& request) {
    if (secure) {
      co_await boost::asio::async_write(*secure, request, boost::asio::use_awaitable);
    } else {
      co_await boost::asio::async_write(*plain, request, boost::asio::use_awaitable);
    }
  }
  /// Reads one answer. Throws boost::system::system_error.
  boost::asio::awaitable<Answer> read_answer() {
    Answer answer;
    if (secure) {
      co_await boost::beast::http::async_read(*secure, buffer, answer, boost::asio::use_awaitable);
    } else {
      co_await boost::beast::http::async_read(*plain, buffer, answer, boost::asio::use_awaitable);
    }
    co_return answer;
  }

  std::optional<boost::beast::tcp_stream> plain;
  std::optional<TlsStream> secure;
  boost::beast::flat_buffer buffer;  // what was read past an answer
};

}  // namespace tno::mpc::communication::net
