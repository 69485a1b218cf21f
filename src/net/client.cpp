#include "net/client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/status.hpp>

#include <algorithm>
#include <array>
#include <charconv>

#include "net/log.hpp"
#include "tno/mpc/communication/errors.hpp"

namespace tno::mpc::communication::net {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {
// Every failed delivery is worded alike: `before`, the peer with its address, `after`.
template <class Error = DeliveryError>
std::exception_ptr delivery_error(const Peer& peer, std::string_view before,
                                  std::string_view after) {
  return std::make_exception_ptr(Error(std::string(before) + "'" + peer.name + "' (" + peer.host +
                                       ":" + std::to_string(peer.port) + ")" + std::string(after)));
}
constexpr std::string_view kCannotDeliver = "cannot deliver a message to ";

// Answers that retrying cannot change: a malformed request (or a plain request to an HTTPS
// server), a conflicting id, a body over the peer's limit.
bool is_final_answer(http::status status) {
  return status == http::status::bad_request || status == http::status::conflict ||
         status == http::status::payload_too_large;
}
}  // namespace

Client::Client(asio::io_context& ioc, const PoolConfig& config, asio::ssl::context* tls,
               PeerRegistry& peers)
    : ioc_(ioc), config_(config), tls_(tls), peers_(peers) {}

tcp::endpoint Client::resolve(const std::string& name, const std::string& host,
                              std::uint16_t port) {
  tcp::resolver resolver(ioc_);
  boost::system::error_code ec;
  auto results = resolver.resolve(host, std::to_string(port), ec);
  if (ec || results.empty()) {
    throw ConfigurationError("cannot resolve the address '" + host + "' of peer '" + name +
                             "': " + ec.message());
  }
  for (const auto& r : results) {
    if (r.endpoint().address().is_v4()) return r.endpoint();
  }
  return results.begin()->endpoint();
}

void Client::add_peer(const Peer& peer, tcp::endpoint endpoint) {
  auto link = std::make_unique<Link>(peer, endpoint);
  std::lock_guard lock(mu_);
  links_.emplace(peer.name, std::move(link));
}

void Client::send(std::string_view peer, OutgoingMessage message, SendCompletion done,
                  SendOptions options) {
  Link* link;
  auto delivery = std::make_shared<Delivery>();
  delivery->done = std::move(done);
  delivery->max_retries = options.max_retries.value_or(config_.max_retries);
  delivery->attempt_timeout = options.attempt_timeout.value_or(config_.attempt_timeout);
  {
    std::lock_guard lock(mu_);
    if (stopping_) throw DeliveryError("the pool is shut down; nothing can be sent");
    auto it = links_.find(peer);
    if (it == links_.end()) throw unknown_peer(peer);
    link = it->second.get();
    delivery->peer = &link->peer;
    ++under_way_;
    unsettled_.insert(delivery);
  }
  asio::post(ioc_, [this, link, message = std::move(message), delivery]() mutable {
    launch(*link, std::move(message), std::move(delivery));
  });
}

// Starts a delivery, or queues it while the peer has max_connections_per_peer in flight, so that
// a burst of asends does not open a connection each. Runs on the network thread.
void Client::launch(Link& link, OutgoingMessage message, DeliveryPtr delivery) {
  if (link.in_flight >= config_.max_connections_per_peer) {
    link.queued.emplace_back(std::move(message), std::move(delivery));
    return;
  }
  ++link.in_flight;
  asio::co_spawn(ioc_, deliver(link, std::move(message), delivery),
                 [this, &link, delivery](std::exception_ptr e) {
                   if (e) settle(delivery, e);
                   --link.in_flight;
                   if (!link.queued.empty()) {
                     auto [next_message, next_delivery] = std::move(link.queued.front());
                     link.queued.pop_front();
                     launch(link, std::move(next_message), std::move(next_delivery));
                   }
                   std::lock_guard lock(mu_);
                   --under_way_;
                   idle_.notify_all();
                 });
}

void Client::settle(const DeliveryPtr& delivery, std::exception_ptr error) {
  {
    std::lock_guard lock(mu_);
    if (delivery->settled) return;
    delivery->settled = true;
    unsettled_.erase(delivery);
  }
  delivery->done(error);
}

bool Client::stopping() const {
  std::lock_guard lock(mu_);
  return stopping_;
}

asio::awaitable<void> Client::deliver(Link& link, OutgoingMessage message, DeliveryPtr delivery) {
  const Peer& peer = link.peer;
  // The request as the reference's client sends it: header and body in one gather write.
  const std::uint16_t own_port = own_port_.load();
  if (!link.request_head || link.request_head_port != own_port) {
    link.request_head = std::make_shared<const std::string>(
        "POST / HTTP/1.1\r\nHost: " + peer.host + ":" + std::to_string(peer.port) +
        "\r\nContent-Type: application/octet-stream\r\nCookie: server_port=" +
        std::to_string(own_port) + "\r\nContent-Length: ");
    link.request_head_port = own_port;
  }
  const std::shared_ptr<const std::string> head = link.request_head;
  std::array<char, 32> length_line{};
  char* end = std::to_chars(length_line.data(), length_line.data() + 20, message.size()).ptr;
  end = std::copy_n("\r\n\r\n", 4, end);
  const std::array<asio::const_buffer, 5> request{
      asio::buffer(*head),
      asio::buffer(length_line.data(), static_cast<std::size_t>(end - length_line.data())),
      asio::buffer(message.head->data(), message.head->size()),
      asio::buffer(message.borrowed.data(), message.borrowed.size()),
      message.tail ? asio::buffer(message.tail->data(), message.tail->size())
                   : asio::const_buffer()};

  int failures = 0;
  std::string last_error;
  for (;;) {
    bool reused = !link.idle.empty();
    bool fresh_tls = false;  // a new TLS connection whose handshake completed
    bool broken = false;     // it failed after connecting
    const char* doing = "connecting";
    std::unique_ptr<Connection> conn;
    try {
      if (reused) {
        conn = std::move(link.idle.back());
        link.idle.pop_back();
      } else {
        conn = std::make_unique<Connection>(ioc_, tls_);
        conn->watchdog.expires_after(std::min(config_.connect_timeout, delivery->attempt_timeout));
        co_await conn->tcp().async_connect(link.endpoint, asio::use_awaitable);
        conn->connected();
        if (conn->secure) {
          doing = "in the TLS handshake";
          detail::prepare_client(conn->ssl(), peer.host, config_.tls->verify_hostname,
                                 &link.tls_session);
          co_await conn->secure->async_handshake(asio::ssl::stream_base::client,
                                                 asio::use_awaitable);
          fresh_tls = true;
        }
        peers_.count_connection(peer, conn->secure && detail::session_resumed(conn->ssl()));
      }
      doing = "sending";
      if (const std::size_t written = conn->write_now(request);
          written < asio::buffer_size(request)) {
        co_await conn->send(request, written, delivery->attempt_timeout);
      }
      // A live party answers as soon as it has the message: a peer that stalls here is given
      // answer_timeout, not what is left of the attempt.
      doing = "waiting for the answer";
      conn->watchdog.expires_after(std::min(config_.answer_timeout, delivery->attempt_timeout));
      Answer answer = co_await conn->read_answer();
      conn->watchdog.expires_never();  // kept alive, or dropped
      // A TLS 1.3 server sends its session tickets after the handshake, so the session is worth
      // keeping only once an answer has been read.
      if (conn->secure && !reused) link.tls_session.remember(conn->ssl());
      if (answer.result() == http::status::ok) {
        if (answer.keep_alive()) link.idle.push_back(std::move(conn));
        peers_.count_sent(peer, message.size());
        settle(delivery, nullptr);
        co_return;
      }
      last_error = "it answered " + std::to_string(answer.result_int()) + " " + answer.body();
      if (is_final_answer(answer.result())) {
        ++failures;
        log().warn("Message to {} ({}:{}) refused (attempt {}, final): {}", peer.name, peer.host,
                   peer.port, failures, last_error);
        break;
      }
    } catch (const boost::system::system_error& e) {
      if (detail::is_final_tls_failure(e.code())) {
        // Certificates and protocol mismatches do not heal by retrying (the reference raises).
        last_error = detail::explain_tls_failure(e.code(), conn ? conn->ssl() : nullptr);
        settle(delivery,
               delivery_error<TlsError>(peer, kCannotDeliver, " over TLS: " + last_error));
        co_return;
      }
      last_error =
          std::string(doing) + ": " +
          (conn && conn->watchdog.expired() ? std::string("timed out") : e.code().message());
      broken = fresh_tls;
      // A kept-alive connection that the server closed meanwhile: reconnect at once.
      if (reused) continue;
    } catch (const std::exception& e) {
      last_error = std::string(doing) + ": " + e.what();
      if (reused) continue;
    }
    if (broken) {
      // Under TLS 1.3 a server judges our certificate after our side of the handshake is done;
      // one that then closes at once (Python's does) resets the connection before its alert can
      // be read. A TLS 1.2 handshake, where the judgement is part of the handshake, tells a
      // refusal from a connection that merely broke.
      std::string refusal = co_await probe_certificate_refusal(link);
      if (!refusal.empty()) {
        settle(delivery, delivery_error<TlsError>(peer, kCannotDeliver, " over TLS: " + refusal));
        co_return;
      }
    }
    ++failures;
    const bool last =
        stopping() || (delivery->max_retries >= 0 && failures > delivery->max_retries);
    if (auto held_back = link.failures_log.allow()) {
      log().warn("Message to {} ({}:{}) not delivered (attempt {}{}): {}{}", peer.name, peer.host,
                 peer.port, failures, last ? ", the last" : ", retrying after retry_delay",
                 last_error, held_back_note(*held_back));
    }
    if (last) break;
    asio::steady_timer timer(ioc_, config_.retry_delay);
    co_await timer.async_wait(asio::use_awaitable);
  }
  settle(delivery,
         delivery_error(peer, kCannotDeliver,
                        " after " + std::to_string(failures) + " failed attempts: " + last_error));
}

// A TLS 1.2 handshake with the peer: the explanation when the peer refuses our certificate in it,
// else empty (accepted, unreachable, or no TLS 1.2: nothing learned).
asio::awaitable<std::string> Client::probe_certificate_refusal(Link& link) {
  Connection probe(ioc_, tls_);
  detail::limit_to_tls12(probe.ssl());
  detail::prepare_client(probe.ssl(), link.peer.host, config_.tls->verify_hostname, nullptr);
  probe.tcp().expires_after(std::min(config_.connect_timeout, config_.attempt_timeout));
  auto [connect_ec] =
      co_await probe.tcp().async_connect(link.endpoint, asio::as_tuple(asio::use_awaitable));
  if (connect_ec) co_return "";
  auto [handshake_ec] = co_await probe.secure->async_handshake(asio::ssl::stream_base::client,
                                                               asio::as_tuple(asio::use_awaitable));
  if (handshake_ec && detail::is_certificate_refusal(handshake_ec)) {
    co_return detail::explain_tls_failure(handshake_ec, probe.ssl());
  }
  // Python's asyncio server sends no alert at all: it drops the connection when it distrusts the
  // certificate. Dropped again at the same point of a second handshake, that is a refusal.
  if (handshake_ec == asio::ssl::error::stream_truncated || handshake_ec == asio::error::eof ||
      handshake_ec == asio::error::connection_reset) {
    co_return "it closed the connection on receiving our certificate, twice, without saying "
              "why (a Python party does so when it does not trust a certificate): is our "
              "certificate issued by a CA in its bundle, and valid?";
  }
  co_return "";
}

bool Client::idle() const {
  std::lock_guard lock(mu_);
  return under_way_ == 0;
}

bool Client::wait_idle_until(std::chrono::steady_clock::time_point until) {
  std::unique_lock lock(mu_);
  return idle_.wait_until(lock, until, [&] { return under_way_ == 0; });
}

void Client::stop_accepting() {
  std::lock_guard lock(mu_);
  stopping_ = true;
}

void Client::fail_unsettled() {
  std::set<DeliveryPtr> unsettled;
  {
    std::lock_guard lock(mu_);
    unsettled = unsettled_;
  }
  for (const auto& d : unsettled) {
    settle(d,
           delivery_error(*d->peer, "the pool shut down before the message to ", " was delivered"));
  }
}

}  // namespace tno::mpc::communication::net
