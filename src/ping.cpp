#include "tno/mpc/communication/ping.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http.hpp>

#include "net/connection.hpp"
#include "tls.hpp"
#include "tno/mpc/communication/errors.hpp"

namespace tno::mpc::communication {

namespace asio = boost::asio;
namespace http = boost::beast::http;

PingResult ping(const std::string& host, std::uint16_t port, const std::optional<TlsConfig>& tls,
                std::chrono::milliseconds timeout) {
  const std::string target = host + ":" + std::to_string(port);
  std::unique_ptr<asio::ssl::context> context = tls ? detail::make_tls_context(*tls) : nullptr;
  asio::io_context ioc;
  net::Connection conn(ioc, context.get());
  http::request<http::empty_body> req{http::verb::get, "/", 11};
  req.set(http::field::host, target);
  req.keep_alive(false);
  PingResult result;
  auto start = std::chrono::steady_clock::now();
  try {
    asio::ip::tcp::resolver resolver(ioc);
    conn.tcp().expires_after(timeout);
    conn.tcp().connect(resolver.resolve(host, std::to_string(port)));
    net::Answer res;
    if (conn.secure) {
      detail::prepare_client(conn.ssl(), host, tls->verify_hostname, nullptr);
      conn.secure->handshake(asio::ssl::stream_base::client);
      result.tls_version = detail::protocol_version(conn.ssl());
      result.peer_certificate = detail::peer_certificate(conn.ssl());
      http::write(*conn.secure, req);
      http::read(*conn.secure, conn.buffer, res);
    } else {
      http::write(*conn.plain, req);
      http::read(*conn.plain, conn.buffer, res);
    }
    result.status = res.result_int();
    result.body = std::move(res.body());
  } catch (const boost::system::system_error& e) {
    if (detail::is_final_tls_failure(e.code())) {
      throw DeliveryError("TLS with " + target +
                          " failed: " + detail::explain_tls_failure(e.code(), conn.ssl()));
    }
    throw DeliveryError("cannot reach " + target + ": " + e.code().message());
  }
  result.round_trip = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - start);
  return result;
}

}  // namespace tno::mpc::communication
