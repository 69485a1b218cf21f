#include "tno/mpc/communication/ping.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "net/connection.hpp"
#include "tls.hpp"
#include "tno/mpc/communication/errors.hpp"

namespace tno::mpc::communication {

namespace asio = boost::asio;

namespace {
// The GET, as a coroutine: the connection's watchdog bounds all of it.
asio::awaitable<void> get(net::Connection& conn, const asio::ip::tcp::resolver::results_type& at,
                          const std::string& host, const std::optional<TlsConfig>& tls,
                          const std::string& target, std::chrono::milliseconds timeout,
                          PingResult& result) {
  co_await conn.tcp().async_connect(at, asio::use_awaitable);
  conn.connected();
  if (conn.secure) {
    detail::prepare_client(conn.ssl(), host, tls->verify_hostname, nullptr);
    co_await conn.secure->async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
    result.tls_version = detail::protocol_version(conn.ssl());
    result.peer_certificate = detail::peer_certificate(conn.ssl());
  }
  const std::string request = "GET / HTTP/1.1\r\nHost: " + target + "\r\nConnection: close\r\n\r\n";
  co_await conn.send(asio::buffer(request), 0, timeout);
  net::Answer answer = co_await conn.read_answer();
  result.status = answer.status;
  result.body = std::move(answer.body);
}
}  // namespace

PingResult ping(const std::string& host, std::uint16_t port, const std::optional<TlsConfig>& tls,
                std::chrono::milliseconds timeout) {
  const std::string target = host + ":" + std::to_string(port);
  std::unique_ptr<asio::ssl::context> context = tls ? detail::make_tls_context(*tls) : nullptr;
  asio::io_context ioc;
  net::Connection conn(ioc, context.get());
  PingResult result;
  const auto start = std::chrono::steady_clock::now();
  boost::system::error_code failure;
  try {
    asio::ip::tcp::resolver resolver(ioc);
    auto at = resolver.resolve(host, std::to_string(port));
    conn.watchdog.expires_after(timeout);  // for everything that follows
    std::exception_ptr error;
    asio::co_spawn(ioc, get(conn, at, host, tls, target, timeout, result),
                   [&](std::exception_ptr e) {
                     error = e;
                     conn.watchdog.stop();
                   });
    ioc.run();
    if (error) std::rethrow_exception(error);
  } catch (const boost::system::system_error& e) {
    failure = conn.watchdog.expired() ? boost::beast::error::timeout : e.code();
  }
  if (failure) {
    if (detail::is_final_tls_failure(failure)) {
      throw TlsError("TLS with " + target +
                     " failed: " + detail::explain_tls_failure(failure, conn.ssl()));
    }
    throw DeliveryError("cannot reach " + target + ": " + failure.message());
  }
  result.round_trip = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - start);
  return result;
}

}  // namespace tno::mpc::communication
