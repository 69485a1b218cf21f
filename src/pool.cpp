// The Pool on Boost.Asio/Beast: one io_context on one background thread runs the server and all
// deliveries (each a coroutine). The mailbox (stored messages, waiting receivers, counters,
// statistics) is shared with user threads under one mutex, held only for map operations.
#include "tno/mpc/communication/pool.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

namespace tno::mpc::communication {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// The level in capitals, as Python's logging prints it ("INFO").
class UpperCaseLevel : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    auto name = spdlog::level::to_string_view(msg.level);
    for (char c : name)
      dest.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<UpperCaseLevel>();
  }
};

std::shared_ptr<spdlog::logger> logger() {
  static auto log = [] {
    auto l = spdlog::get("tno.mpc.communication.httphandlers");
    if (!l) l = spdlog::stderr_color_mt("tno.mpc.communication.httphandlers");
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<UpperCaseLevel>('*').set_pattern("%Y-%m-%d %H:%M:%S,%e - %n - %* - %v");
    l->set_formatter(std::move(formatter));
    return l;
  }();
  return log;
}

// Ints and strs are different ids, as in Python (5 != "5").
std::string id_key(const MessageId& id) {
  return (id.is_str() ? "s:" : "i:") + id.to_string();
}

std::optional<std::uint16_t> server_port_cookie(std::string_view cookies) {
  // "a=b; server_port=61001; c=d"
  while (!cookies.empty()) {
    auto end = cookies.find(';');
    std::string_view item = cookies.substr(0, end);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    if (item.rfind("server_port=", 0) == 0) {
      std::string_view digits = item.substr(12);
      if (digits.empty() || digits.size() > 5) return std::nullopt;
      unsigned value = 0;
      for (char c : digits) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + static_cast<unsigned>(c - '0');
      }
      if (value == 0 || value > 65535) return std::nullopt;
      return static_cast<std::uint16_t>(value);
    }
    if (end == std::string_view::npos) break;
    cookies.remove_prefix(end + 1);
  }
  return std::nullopt;
}

// One message on its way; settled exactly once, by its delivery or by shutdown.
struct Delivery {
  std::string peer;
  std::promise<void> promise;
  std::function<void(std::exception_ptr)> callback;  // instead of the promise, when set
  bool settled = false;
};

// A receive waiting for its message: a promise (blocking users) or a callback (coroutines).
struct Waiter {
  std::promise<std::shared_ptr<const std::string>> promise;
  std::function<void(std::exception_ptr, std::shared_ptr<const std::string>)> callback;
  void complete(std::shared_ptr<const std::string> body) {
    if (callback) {
      callback(nullptr, std::move(body));
    } else {
      promise.set_value(std::move(body));
    }
  }
  void fail(std::exception_ptr error) {
    if (callback) {
      callback(error, nullptr);
    } else {
      promise.set_exception(error);
    }
  }
};

struct Connection {
  explicit Connection(asio::io_context& ioc) : stream(ioc) {}
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
};

}  // namespace

struct Pool::Impl {
  struct Peer {
    std::string name;
    std::string host;
    std::uint16_t port = 0;
    tcp::endpoint endpoint;
    std::uint64_t send_counter = 0;
    std::uint64_t recv_counter = 0;
    TrafficStatistics traffic;
    std::vector<std::unique_ptr<Connection>> idle;  // io thread only
    std::size_t in_flight = 0;                      // io thread only
    std::deque<std::pair<std::shared_ptr<const ByteBuffer>, std::shared_ptr<Delivery>>>
        queued;  // io thread only
  };
  using Key = std::pair<std::string, std::string>;  // (peer, id key)

  explicit Impl(const PoolConfig& c) : config(c), work(asio::make_work_guard(ioc)) {
    thread = std::thread([this] { ioc.run(); });
  }

  PoolConfig config;
  asio::io_context ioc;
  asio::executor_work_guard<asio::io_context::executor_type> work;
  std::thread thread;
  std::optional<tcp::acceptor> acceptor;
  std::uint16_t port = 0;

  mutable std::mutex mu;
  std::condition_variable sends_done;
  std::vector<std::unique_ptr<Peer>> peers;
  std::map<std::string, Peer*, std::less<>> by_name;
  std::map<std::string, Peer*, std::less<>> by_identity;  // "<ip>:<port>"
  std::string prefix;
  std::map<Key, Body> stored;
  std::map<Key, std::shared_ptr<Waiter>> waiting;
  std::size_t pending_sends = 0;
  std::set<std::shared_ptr<Delivery>> deliveries;  // not yet settled
  bool stopping = false;
  std::optional<Statistics> final_statistics;

  Peer& peer(std::string_view name) {
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      throw ConfigurationError("unknown peer '" + std::string(name) +
                               "': add it with add_http_client first");
    }
    return *it->second;
  }

  Statistics statistics_locked() const {
    Statistics s;
    for (const auto& p : peers) {
      s.peers[p->name] = p->traffic;
      s.total.messages_sent += p->traffic.messages_sent;
      s.total.bytes_sent += p->traffic.bytes_sent;
      s.total.messages_received += p->traffic.messages_received;
      s.total.bytes_received += p->traffic.bytes_received;
    }
    return s;
  }

  // ---- receiving ----------------------------------------------------------------------------

  http::response<http::string_body> answer(const http::request<http::string_body>& req,
                                           http::status status, std::string text) {
    http::response<http::string_body> res{status, req.version()};
    res.set(http::field::content_type, "text/plain; charset=utf-8");
    res.keep_alive(req.keep_alive() && status != http::status::internal_server_error);
    res.body() = std::move(text);
    res.prepare_payload();
    return res;
  }

  http::response<http::string_body> handle(http::request<http::string_body>&& req,
                                           const std::string& remote_ip) {
    if (req.method() == http::verb::get) {
      return answer(req, http::status::ok, "Connection working (GET)");
    }
    if (req.method() != http::verb::post) {
      return answer(req, http::status::method_not_allowed, "Only GET and POST are served");
    }
    auto cookie_port = server_port_cookie(req[http::field::cookie]);
    if (!cookie_port) {
      return answer(req, http::status::bad_request, "Missing or invalid server_port cookie");
    }
    std::string identity = remote_ip + ":" + std::to_string(*cookie_port);
    std::string sender;
    {
      std::lock_guard lock(mu);
      auto it = by_identity.find(identity);
      if (it == by_identity.end()) {
        logger()->warn("Refused message from unknown sender {}", identity);
        return answer(req, http::status::unauthorized, "Unknown sender " + identity);
      }
      sender = it->second->name;
    }
    auto body = std::make_shared<std::string>(std::move(req.body()));
    std::optional<MessageId> id;
    try {
      // One validating pass over the payload: its structure, not its values (decoded in recv).
      Reader r(as_bytes(*body), config.decode_limits);
      id = detail::read_envelope(
          r, [](Reader& reader, void*) { reader.skip(); }, nullptr);
      if (!r.at_end()) r.fail("trailing bytes after the message");
    } catch (const SerializationError& e) {
      logger()->warn("Refused undecodable message from {}: {}", sender, e.what());
      return answer(req, http::status::internal_server_error,
                    std::string("Message could not be decoded: ") + e.what());
    }
    Key key{sender, id_key(*id)};
    std::shared_ptr<Waiter> waiter;
    {
      std::lock_guard lock(mu);
      if (auto it = stored.find(key); it != stored.end()) {
        if (*it->second == *body) {
          return answer(req, http::status::ok, "Message received");  // a resend: stored once
        }
        logger()->error("Refused a second, different message from {} with id {}", sender,
                        id->to_string());
        return answer(req, http::status::conflict,
                      "A different message with id " + id->to_string() + " from " + sender +
                          " is waiting to be received");
      }
      Peer& p = *by_name.at(sender);
      p.traffic.messages_received += 1;
      p.traffic.bytes_received += body->size();
      if (auto it = waiting.find(key); it != waiting.end()) {
        waiter = std::move(it->second);
        waiting.erase(it);
      } else {
        stored.emplace(key, body);
      }
    }
    if (waiter) waiter->complete(body);
    logger()->info("Received message from {}", identity);
    return answer(req, http::status::ok, "Message received");
  }

  asio::awaitable<void> session(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::error_code ec;
    std::string remote_ip = stream.socket().remote_endpoint(ec).address().to_string();
    beast::flat_buffer buffer;
    buffer.reserve(64 * 1024);  // an empty flat_buffer reads 512 bytes at a time
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(config.max_body_bytes);
      stream.expires_after(config.attempt_timeout);
      auto [read_ec, n] =
          co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
      if (read_ec == http::error::body_limit) {
        http::response<http::string_body> res{http::status::payload_too_large, 11};
        res.body() = "Message larger than " + std::to_string(config.max_body_bytes) + " bytes";
        res.keep_alive(false);
        res.prepare_payload();
        co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
        break;
      }
      if (read_ec) break;
      auto res = handle(parser.release(), remote_ip);
      auto [write_ec, m] =
          co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
      if (write_ec || !res.keep_alive()) break;
    }
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  }

  asio::awaitable<void> accept_loop() {
    while (acceptor && acceptor->is_open()) {
      auto [ec, socket] = co_await acceptor->async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) {
        if (ec == asio::error::operation_aborted) break;
        continue;
      }
      socket.set_option(tcp::no_delay(true), ec);
      asio::co_spawn(ioc, session(std::move(socket)), asio::detached);
    }
  }

  // ---- sending ------------------------------------------------------------------------------

  // Starts a delivery, or queues it while the peer has max_connections_per_peer in flight, so
  // that a burst of asends does not open a connection each. Runs on the io thread.
  void launch(Peer* p, std::shared_ptr<const ByteBuffer> body, std::shared_ptr<Delivery> done) {
    if (p->in_flight >= config.max_connections_per_peer) {
      p->queued.emplace_back(std::move(body), std::move(done));
      return;
    }
    ++p->in_flight;
    asio::co_spawn(ioc, deliver(p, std::move(body), done), [this, p, done](std::exception_ptr e) {
      if (e) settle(done, e);
      --p->in_flight;
      if (!p->queued.empty()) {
        auto [next_body, next_done] = std::move(p->queued.front());
        p->queued.pop_front();
        launch(p, std::move(next_body), std::move(next_done));
      }
      std::lock_guard lock(mu);
      --pending_sends;
      sends_done.notify_all();
    });
  }

  void settle(const std::shared_ptr<Delivery>& d, std::exception_ptr error) {
    {
      std::lock_guard lock(mu);
      if (d->settled) return;
      d->settled = true;
      deliveries.erase(d);
    }
    if (d->callback) {
      d->callback(error);
    } else if (error) {
      d->promise.set_exception(error);
    } else {
      d->promise.set_value();
    }
  }

  asio::awaitable<void> deliver(Peer* peer, std::shared_ptr<const ByteBuffer> body,
                                std::shared_ptr<Delivery> done) {
    http::request<http::span_body<const char>> req{http::verb::post, "/", 11};
    req.set(http::field::host, peer->host + ":" + std::to_string(peer->port));
    req.set(http::field::content_type, "application/octet-stream");
    req.set(http::field::cookie, "server_port=" + std::to_string(port));
    req.body() = {reinterpret_cast<const char*>(body->data()), body->size()};
    req.keep_alive(true);
    req.prepare_payload();

    int failures = 0;
    std::string last_error;
    for (;;) {
      bool reused = !peer->idle.empty();
      std::unique_ptr<Connection> conn;
      try {
        if (reused) {
          conn = std::move(peer->idle.back());
          peer->idle.pop_back();
        } else {
          conn = std::make_unique<Connection>(ioc);
          conn->stream.expires_after(config.attempt_timeout);
          co_await conn->stream.async_connect(peer->endpoint, asio::use_awaitable);
          conn->stream.socket().set_option(tcp::no_delay(true));
        }
        conn->stream.expires_after(config.attempt_timeout);
        co_await http::async_write(conn->stream, req, asio::use_awaitable);
        http::response<http::string_body> res;
        co_await http::async_read(conn->stream, conn->buffer, res, asio::use_awaitable);
        if (res.result() == http::status::ok) {
          if (res.keep_alive()) peer->idle.push_back(std::move(conn));
          {
            std::lock_guard lock(mu);
            peer->traffic.messages_sent += 1;
            peer->traffic.bytes_sent += body->size();
          }
          settle(done, nullptr);
          co_return;
        }
        last_error = "peer answered " + std::to_string(res.result_int()) + " " + res.body();
        // Retrying cannot change these answers.
        if (res.result() == http::status::conflict ||
            res.result() == http::status::payload_too_large) {
          ++failures;
          break;
        }
      } catch (const std::exception& e) {
        last_error = e.what();
        // A kept-alive connection that the server closed meanwhile: reconnect at once.
        if (reused) continue;
      }
      ++failures;
      bool stop;
      {
        std::lock_guard lock(mu);
        stop = stopping;
      }
      if (stop || (config.max_retries >= 0 && failures > config.max_retries)) break;
      asio::steady_timer timer(ioc, config.retry_delay);
      co_await timer.async_wait(asio::use_awaitable);
    }
    settle(done, std::make_exception_ptr(
                     DeliveryError("could not deliver a message to '" + peer->name + "' (" +
                                   peer->host + ":" + std::to_string(peer->port) + ") after " +
                                   std::to_string(failures) + " failed attempts: " + last_error)));
  }
};

void set_log_level(std::string_view level) {
  logger()->set_level(spdlog::level::from_str(std::string(level)));
}

Pool::Pool(PoolConfig config) : config_(config), impl_(std::make_unique<Impl>(config_)) {}

Pool::~Pool() {
  try {
    shutdown(std::chrono::seconds(0));
  } catch (...) {
    // A destructor must not throw; shutdown() reports problems to callers that ask.
  }
}

std::uint16_t Pool::add_http_server(std::uint16_t port, const std::string& addr) {
  if (impl_->acceptor) throw ConfigurationError("this pool has a server already");
  beast::error_code ec;
  auto address = asio::ip::make_address(addr, ec);
  if (ec) throw ConfigurationError("cannot serve on '" + addr + "': not an IP address");
  tcp::acceptor acceptor(impl_->ioc);
  tcp::endpoint endpoint(address, port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw ConfigurationError("cannot serve on " + addr + ":" + std::to_string(port) + ": " +
                             ec.message());
  }
  impl_->port = acceptor.local_endpoint().port();
  impl_->acceptor.emplace(std::move(acceptor));
  asio::co_spawn(impl_->ioc, impl_->accept_loop(), asio::detached);
  logger()->info("Serving on {}:{}", addr, impl_->port);
  return impl_->port;
}

std::uint16_t Pool::port() const noexcept {
  return impl_->port;
}

void Pool::add_http_client(const std::string& name, const std::string& addr, std::uint16_t port) {
  tcp::resolver resolver(impl_->ioc);
  beast::error_code ec;
  auto results = resolver.resolve(addr, std::to_string(port), ec);
  if (ec || results.empty()) {
    throw ConfigurationError("cannot resolve the address '" + addr + "' of peer '" + name +
                             "': " + ec.message());
  }
  tcp::endpoint endpoint = results.begin()->endpoint();
  for (const auto& r : results) {
    if (r.endpoint().address().is_v4()) {
      endpoint = r.endpoint();
      break;
    }
  }
  auto peer = std::make_unique<Impl::Peer>();
  peer->name = name;
  peer->host = addr;
  peer->port = port;
  peer->endpoint = endpoint;
  std::string identity = endpoint.address().to_string() + ":" + std::to_string(port);
  std::lock_guard lock(impl_->mu);
  if (impl_->by_name.contains(name)) {
    throw ConfigurationError("a peer named '" + name + "' exists already");
  }
  impl_->by_name.emplace(name, peer.get());
  impl_->by_identity.emplace(identity, peer.get());
  impl_->peers.push_back(std::move(peer));
}

std::vector<std::string> Pool::peers() const {
  std::lock_guard lock(impl_->mu);
  std::vector<std::string> names;
  for (const auto& p : impl_->peers) names.push_back(p->name);
  return names;
}

MessageId Pool::next_send_id(const std::string& peer, const std::optional<MessageId>& id) {
  std::lock_guard lock(impl_->mu);
  auto& p = impl_->peer(peer);
  auto counter = static_cast<std::int64_t>(p.send_counter++);
  MessageId out = id ? *id : MessageId(counter);
  return impl_->prefix.empty() ? out : out.with_prefix(impl_->prefix);
}

std::future<void> Pool::send_bytes(const std::string& peer,
                                   std::shared_ptr<const ByteBuffer> body) {
  return start_delivery(peer, std::move(body), nullptr);
}

void Pool::send_bytes_then(const std::string& peer, std::shared_ptr<const ByteBuffer> body,
                           std::function<void(std::exception_ptr)> done) {
  start_delivery(peer, std::move(body), std::move(done));
}

std::future<void> Pool::start_delivery(const std::string& peer,
                                       std::shared_ptr<const ByteBuffer> body,
                                       std::function<void(std::exception_ptr)> callback) {
  auto done = std::make_shared<Delivery>();
  done->peer = peer;
  done->callback = std::move(callback);
  auto result = done->promise.get_future();
  Impl::Peer* p;
  {
    std::lock_guard lock(impl_->mu);
    if (impl_->stopping) throw DeliveryError("the pool is shut down; nothing can be sent");
    p = &impl_->peer(peer);
    ++impl_->pending_sends;
    impl_->deliveries.insert(done);
  }
  Impl* impl = impl_.get();
  asio::post(impl->ioc, [impl, p, body = std::move(body), done]() mutable {
    impl->launch(p, std::move(body), std::move(done));
  });
  return result;
}

std::future<Pool::Body> Pool::receive_bytes_async(const std::string& peer,
                                                  const std::optional<MessageId>& id) {
  return start_receive(peer, id, nullptr, nullptr);
}

void Pool::receive_bytes_then(const std::string& peer, const std::optional<MessageId>& id,
                              std::function<void(std::exception_ptr, Body)> done) {
  start_receive(peer, id, std::move(done), nullptr);
}

std::future<Pool::Body> Pool::start_receive(const std::string& peer,
                                            const std::optional<MessageId>& id,
                                            std::function<void(std::exception_ptr, Body)> callback,
                                            std::string* key_out) {
  auto waiter = std::make_shared<Waiter>();
  waiter->callback = std::move(callback);
  auto result = waiter->promise.get_future();
  Body ready;
  {
    std::lock_guard lock(impl_->mu);
    auto& p = impl_->peer(peer);
    auto counter = static_cast<std::int64_t>(p.recv_counter++);
    MessageId wire_id = id ? *id : MessageId(counter);
    if (!impl_->prefix.empty()) wire_id = wire_id.with_prefix(impl_->prefix);
    Impl::Key key{peer, id_key(wire_id)};
    if (key_out != nullptr) *key_out = key.second;
    if (auto it = impl_->stored.find(key); it != impl_->stored.end()) {
      ready = std::move(it->second);
      impl_->stored.erase(it);
    } else if (impl_->waiting.contains(key)) {
      throw ConfigurationError("already waiting for the message from '" + peer + "' with id " +
                               wire_id.to_string());
    } else {
      impl_->waiting.emplace(key, waiter);
    }
  }
  if (ready) waiter->complete(std::move(ready));  // outside the lock: a callback may run here
  return result;
}

Pool::Body Pool::receive_bytes(const std::string& peer, const std::optional<MessageId>& id,
                               std::optional<std::chrono::milliseconds> timeout) {
  // The key is needed to withdraw the waiter on a timeout.
  std::string key_text;
  auto future = start_receive(peer, id, nullptr, &key_text);
  if (timeout && future.wait_for(*timeout) != std::future_status::ready) {
    std::lock_guard lock(impl_->mu);
    if (impl_->waiting.erase(Impl::Key{peer, key_text}) > 0) {
      throw TimeoutError("no message from '" + peer + "' with id " + key_text.substr(2) +
                         " within " + std::to_string(timeout->count()) + " ms");
    }
  }
  return future.get();
}

void Pool::update_msg_prefix(std::string prefix) {
  std::lock_guard lock(impl_->mu);
  impl_->prefix = std::move(prefix);
}

Statistics Pool::statistics() const {
  std::lock_guard lock(impl_->mu);
  return impl_->statistics_locked();
}

Statistics Pool::shutdown(std::chrono::milliseconds deadline) {
  {
    std::unique_lock lock(impl_->mu);
    if (impl_->final_statistics) return *impl_->final_statistics;
    impl_->sends_done.wait_for(lock, deadline, [&] { return impl_->pending_sends == 0; });
    impl_->stopping = true;
  }
  asio::post(impl_->ioc, [impl = impl_.get()] {
    beast::error_code ec;
    if (impl->acceptor) impl->acceptor->close(ec);
  });
  impl_->work.reset();
  impl_->ioc.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  // Deliveries cut short by the deadline fail loudly rather than with a broken promise.
  std::set<std::shared_ptr<Delivery>> unsettled;
  {
    std::lock_guard lock(impl_->mu);
    unsettled = impl_->deliveries;
  }
  for (const auto& d : unsettled) {
    impl_->settle(d, std::make_exception_ptr(
                         DeliveryError("the pool shut down before the message to '" + d->peer +
                                       "' was delivered (the shutdown deadline passed)")));
  }
  std::lock_guard lock(impl_->mu);
  for (auto& [key, waiter] : impl_->waiting) {
    waiter->fail(std::make_exception_ptr(
        TimeoutError("the pool shut down before the message from '" + key.first + "' arrived")));
  }
  impl_->waiting.clear();
  impl_->final_statistics = impl_->statistics_locked();
  const auto& t = impl_->final_statistics->total;
  if (impl_->port != 0) {
    logger()->info(
        "Server on port {} shutdown: sent {} messages ({} bytes), received {} ({} bytes)",
        impl_->port, t.messages_sent, t.bytes_sent, t.messages_received, t.bytes_received);
  }
  return *impl_->final_statistics;
}

}  // namespace tno::mpc::communication
