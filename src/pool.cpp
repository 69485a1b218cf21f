// The Pool facade: it owns the parts of the network side (net/) and joins them. A message sent
// travels Pool::asend (encoded here) → Client::send (a delivery on the network thread, over a
// kept-alive connection) → the peer's Server (screened on its header, body read and validated)
// → the peer's Mailbox::offer (handed to a waiting receive or stored) → the peer's Pool::recv
// (Mailbox::take_or_wait, then decoded into the type asked for).
#include "tno/mpc/communication/pool.hpp"

#include <boost/asio/ssl/context.hpp>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>

#include "net/body_buffers.hpp"
#include "net/client.hpp"
#include "net/log.hpp"
#include "net/mailbox.hpp"
#include "net/network_loop.hpp"
#include "net/peers.hpp"
#include "net/server.hpp"
#include "tls.hpp"

namespace tno::mpc::communication {

namespace {
std::uint16_t default_port(bool tls) {
  return tls ? 443 : 80;
}

// PoolConfig::max_received_bytes, worked out: by default a quarter of the physical memory, and
// never less than one message of the largest size.
std::size_t received_bytes_budget(const PoolConfig& c) {
  std::size_t budget = c.max_received_bytes;
  if (budget == 0) {
    const long pages = sysconf(_SC_PHYS_PAGES);
    const long page = sysconf(_SC_PAGESIZE);
    budget = pages > 0 && page > 0
                 ? static_cast<std::size_t>(pages) / 4 * static_cast<std::size_t>(page)
                 : std::size_t{2} << 30;
  }
  return std::max(budget, c.max_body_bytes);
}

bool checked_network_thread(const PoolConfig& c) {
  if (!c.network_thread && !c.callers_run_network) {
    throw ConfigurationError(
        "PoolConfig: without a network thread (network_thread off), callers must run the network "
        "(callers_run_network on), or blocking calls would wait for ever");
  }
  return c.network_thread;
}

net::Mailbox::Limits mailbox_limits(const PoolConfig& c) {
  return net::Mailbox::Limits{c.max_stored_bytes_per_peer, c.max_stored_messages_per_peer,
                              received_bytes_budget(c)};
}

// The outcome of the send or receive of one blocking call, which its caller waits for. Cheaper
// than a std::promise, whose every fulfilment makes a system call (a futex wake in pthread_once,
// waiter or not): a caller that runs the network itself sees the flag set by a handler it ran,
// and only a caller that sleeps meanwhile is woken through the condition variable. Its completion
// holds only its address (see OwnedSettled); set() does all it does under the lock, and the
// destructor takes the lock, so that a caller that saw done() may let it go at once.
template <class T>
class Settled {
 public:
  Settled() = default;
  Settled(const Settled&) = delete;
  Settled& operator=(const Settled&) = delete;
  ~Settled() { std::lock_guard lock(mu_); }  // set() is over, on whichever thread it ran

  void set(std::exception_ptr error, T value) {
    std::lock_guard lock(mu_);
    error_ = std::move(error);
    value_ = std::move(value);
    done_.store(true, std::memory_order_release);
    if (sleepers_ > 0) settled_.notify_all();
  }
  bool done() const noexcept { return done_.load(std::memory_order_acquire); }
  /// Sleeps until settled or `until` (none: no limit); true when settled.
  bool wait_until(std::optional<std::chrono::steady_clock::time_point> until) {
    std::unique_lock lock(mu_);
    ++sleepers_;
    auto is_done = [&] { return done(); };
    bool settled = true;
    if (until) {
      settled = settled_.wait_until(lock, *until, is_done);
    } else {
      settled_.wait(lock, is_done);
    }
    --sleepers_;
    return settled;
  }
  /// The value, or the failure rethrown; once settled.
  T take() {
    if (error_) std::rethrow_exception(error_);
    return std::move(value_);
  }

 private:
  std::mutex mu_;
  std::condition_variable settled_;
  int sleepers_ = 0;
  std::atomic<bool> done_{false};
  std::exception_ptr error_;
  T value_{};
};

// Waits until `result` is settled or `deadline` passes, running the network meanwhile when
// callers do (else sleeping until the network thread settles it); true when settled.
template <class T>
bool wait_settled(net::NetworkLoop& loop, Settled<T>& result,
                  std::optional<std::chrono::steady_clock::time_point> deadline) {
  return loop.run_until([&] { return result.done(); }, deadline,
                        [&](auto until) { return result.wait_until(until); });
}

// A blocking call's Settled, which it owns while its completion holds only the address (a
// std::function holds such a completion in place; one holding a shared_ptr allocates). The call
// does not return before the result is settled or its completion withdrawn; should the network
// throw under it (a handler that failed), let_go() leaves an unsettled result allocated for the
// completion that may still come.
template <class T>
class OwnedSettled {
 public:
  Settled<T>& operator*() noexcept { return *settled_; }
  Settled<T>* operator->() noexcept { return settled_.get(); }
  Settled<T>* get() noexcept { return settled_.get(); }
  void let_go() noexcept {
    if (!settled_->done()) (void)settled_.release();
  }

 private:
  std::unique_ptr<Settled<T>> settled_ = std::make_unique<Settled<T>>();
};

// wait_settled for an OwnedSettled, which an exception from the network lets go.
template <class T>
bool wait_owned(net::NetworkLoop& loop, OwnedSettled<T>& result,
                std::optional<std::chrono::steady_clock::time_point> deadline) {
  try {
    return wait_settled(loop, *result, deadline);
  } catch (...) {
    result.let_go();
    throw;
  }
}

// The completion of a receive that fulfils a promise, and the promise's future.
std::pair<std::future<net::Body>, net::ReceiveCompletion> future_receive() {
  auto received = std::make_shared<std::promise<net::Body>>();
  auto future = received->get_future();
  return {std::move(future), [received](std::exception_ptr error, net::Body body) {
            if (error) {
              received->set_exception(error);
            } else {
              received->set_value(std::move(body));
            }
          }};
}
}  // namespace

// Declared in the order they depend on each other; destroyed in reverse, so that the server and
// the client (their sockets and acceptor) go before the io_context of the network loop, and the
// io_context (with the coroutines it still holds) before the mailbox and the peers. The settings
// are Pool::config_, which outlives all of them. Coroutine frames that the io_context destroys
// unresumed may refer to the client's links and the server's acceptor, which are gone by then:
// their destructors must not touch them (client.hpp).
struct Pool::Impl {
  explicit Impl(const PoolConfig& c)
      : tls(c.tls ? detail::make_tls_context(*c.tls) : nullptr),
        peers(c.wire_format),
        mailbox(mailbox_limits(c)),
        loop(checked_network_thread(c), c.callers_run_network, c.poll_before_sleep),
        client(loop.context(), c, tls.get(), peers),
        server(loop.context(), c, tls.get(), peers, mailbox) {}

  std::unique_ptr<boost::asio::ssl::context> tls;  // null for plain HTTP
  net::PeerRegistry peers;
  net::Mailbox mailbox;
  net::NetworkLoop loop;
  net::Client client;
  net::Server server;
  std::mutex shutdown_mu;
  std::optional<Statistics> final_statistics;  // under shutdown_mu
};

void set_log_level(std::string_view level) {
  net::log().set_level(spdlog::level::from_str(std::string(level)));
}

Pool::Pool(PoolConfig config) : config_(std::move(config)), impl_(std::make_unique<Impl>(config_)) {
  if (config_.retain_freed_memory) net::retain_freed_memory();
}

Pool::~Pool() {
  try {
    shutdown(std::chrono::seconds(0));
  } catch (...) {
    // A destructor must not throw; shutdown() reports problems to callers that ask.
  }
}

std::uint16_t Pool::add_http_server(std::optional<std::uint16_t> port, const std::string& addr) {
  std::uint16_t bound = impl_->server.listen(addr, port.value_or(default_port(uses_tls())));
  if (!advertised_port_) impl_->client.set_own_port(bound);
  return bound;
}

std::uint16_t Pool::port() const noexcept {
  return impl_->server.port();
}

bool Pool::uses_tls() const noexcept {
  return impl_->tls != nullptr;
}

void Pool::add_http_client(const std::string& name, const std::string& addr,
                           std::optional<std::uint16_t> port, std::optional<std::string> cert) {
  net::Peer peer{name, addr, port.value_or(default_port(uses_tls())), "", "", 0};
  if (cert) {
    if (!uses_tls()) {
      throw ConfigurationError("peer '" + name +
                               "' is given a certificate, but this pool has no "
                               "TLS: certificates identify peers only over TLS (PoolConfig::tls)");
    }
    CertificateInfo info = read_certificate(*cert);
    if (!info.issuer_starts_with_cn) {
      // The reference registers such a peer under its issuer's CN but looks arriving messages up
      // under the issuer's first RDN, so it would refuse every message (docs/tls.md).
      throw ConfigurationError(
          "the certificate '" + *cert + "' of peer '" + name + "' has an issuer (" + info.issuer +
          ") whose first RDN is not its common name; peers are identified by '<first RDN of the "
          "issuer>:<serial>', so such a certificate cannot identify a peer: use an issuing CA "
          "whose name starts with CN=");
    }
    peer.certificate_key = info.identity;
  }
  auto endpoint = impl_->client.resolve(name, addr, peer.port);
  peer.ip = endpoint.address().to_string();
  impl_->client.add_peer(impl_->peers.add(std::move(peer)), endpoint);
}

std::vector<std::string> Pool::peers() const {
  return impl_->peers.names();
}

MessageId Pool::next_send_id(const std::string& peer, const std::optional<MessageId>& id) {
  return impl_->peers.next_send_id(peer, id);
}

std::future<void> Pool::start_send(const std::string& peer, OutgoingMessage message) {
  std::promise<void> sent;
  std::future<void> result = sent.get_future();
  impl_->client.send(peer, std::move(message), std::move(sent));
  return result;
}

void Pool::start_send(const std::string& peer, OutgoingMessage message, SendCallback done,
                      SendOptions options) {
  impl_->client.send(peer, std::move(message), std::move(done), options);
}

bool Pool::defer_answers(bool on) {
  return impl_->loop.try_in_turn([&] {
    impl_->server.defer_answers(on);
    return true;
  });
}

bool Pool::pay_deferred_answers() {
  return impl_->loop.try_in_turn([&] {
    impl_->server.pay_deferred_answers();
    return true;
  });
}

void Pool::forward_arrivals(std::function<void(const std::string&, Body)> sink) {
  impl_->server.forward([sink = std::move(sink)](const net::Peer& peer, Body body) {
    sink(peer.name, std::move(body));
  });
}

void Pool::advertise_port(std::uint16_t port) {
  advertised_port_ = true;
  impl_->client.set_own_port(port);
}

std::future<void> Pool::asend(std::string_view peer, std::shared_ptr<const Bytes> bytes,
                              std::optional<MessageId> id) {
  std::string name(peer);
  std::span<const std::byte> view(bytes->data(), bytes->size());
  MessageId wire_id = next_send_id(name, id);
  return start_send(name,
                    message_around_bytes(view, std::move(bytes), wire_id, config_.wire_format));
}

std::future<Pool::Body> Pool::start_receive(const std::string& peer,
                                            const std::optional<MessageId>& id) {
  auto [result, done] = future_receive();
  start_receive(peer, id, std::move(done));
  return std::move(result);
}

void Pool::start_receive(const std::string& peer, const std::optional<MessageId>& id,
                         ReceiveCallback done) {
  impl_->mailbox.take_or_wait(peer, impl_->peers.next_receive_id(peer, id), std::move(done));
}

Pool::Body Pool::receive(const std::string& peer, const std::optional<MessageId>& id,
                         std::optional<std::chrono::milliseconds> timeout) {
  // The id is kept: a receive that times out withdraws its wait under it.
  MessageId wire_id = impl_->peers.next_receive_id(peer, id);
  OwnedSettled<Body> result;
  impl_->mailbox.take_or_wait(peer, wire_id,
                              [settled = result.get()](std::exception_ptr error, Body body) {
                                settled->set(std::move(error), std::move(body));
                              });
  Deadline deadline;
  if (timeout) deadline = std::chrono::steady_clock::now() + *timeout;
  if (!wait_owned(impl_->loop, result, deadline)) {
    if (impl_->mailbox.withdraw(peer, wire_id)) {
      throw TimeoutError("no message from '" + peer + "' with id " + wire_id.to_string() +
                         " within " + std::to_string(timeout->count()) + " ms");
    }
    result->wait_until(std::nullopt);  // it arrived just now: its completion is under way
  }
  return result->take();
}

void Pool::deliver(const std::string& peer, OutgoingMessage message) {
  OwnedSettled<bool> result;
  SendCallback done = [settled = result.get()](std::exception_ptr error) {
    settled->set(std::move(error), true);
  };
  try {
    // In a conversation the message usually goes out, and its 200 comes in, right here.
    if (!impl_->loop.try_in_turn([&] { return impl_->client.send_in_turn(peer, message, done); })) {
      start_send(peer, std::move(message), std::move(done));
    }
  } catch (const Error&) {
    throw;  // an unknown peer, a pool shut down: refused before the completion was taken
  } catch (...) {
    result.let_go();  // no memory, say: the completion may have been taken
    throw;
  }
  if (!result->done()) wait_owned(impl_->loop, result, std::nullopt);
  result->take();
}

void Pool::update_msg_prefix(std::string prefix) {
  impl_->peers.set_prefix(std::move(prefix));
}

Statistics Pool::statistics() const {
  Statistics s = impl_->peers.statistics();
  const net::Server::Counts server = impl_->server.counts();
  const net::Mailbox::Held held = impl_->mailbox.held();
  s.server = ServerStatistics{server.accepted,       server.refused,
                              server.shed,           server.accept_failures,
                              server.open,           server.peak,
                              server.tls_handshakes, held.stored_bytes + held.arriving_bytes,
                              held.stored_messages,  server.kept_body_bytes};
  return s;
}

Statistics Pool::shutdown(std::chrono::milliseconds deadline) {
  Impl& impl = *impl_;
  std::lock_guard lock(impl.shutdown_mu);
  if (impl.final_statistics) return *impl.final_statistics;
  // 200s deferred go out now, and no more are deferred (first thing in the run below, which takes
  // the network's turn, when another thread has it now).
  std::atomic<bool> deferring_stopped = false;
  auto stop_deferring = [&] {
    impl.server.stop_deferring_answers();
    deferring_stopped = true;
    return true;
  };
  if (!impl.loop.try_in_turn(stop_deferring)) {
    boost::asio::post(impl.loop.context(), stop_deferring);
  }
  impl.loop.run_until([&] { return deferring_stopped.load() && impl.client.idle(); },
                      std::chrono::steady_clock::now() + deadline,
                      [&](Deadline until) { return impl.client.wait_idle_until(*until); });
  impl.client.stop_accepting();
  impl.loop.stop([&] { impl.server.close(); });
  impl.client.fail_unsettled();
  impl.mailbox.close([](const std::string& peer, const MessageId& id) {
    return std::make_exception_ptr(ShutdownError("the pool shut down before the message from '" +
                                                 peer + "' with id " + id.to_string() +
                                                 " arrived"));
  });
  impl.final_statistics = statistics();
  const auto& t = impl.final_statistics->total;
  if (port() != 0) {
    net::log().info(
        "Server on port {} shutdown: sent {} messages ({} bytes), received {} ({} bytes)", port(),
        t.messages_sent, t.bytes_sent, t.messages_received, t.bytes_received);
  }
  return *impl.final_statistics;
}

int Pool::network_descriptor() {
  return impl_->loop.descriptor();
}

void Pool::run_network(std::optional<std::size_t> most_steps) {
  impl_->loop.run_ready(most_steps);
}

void Pool::wait(std::future<void>&& sent) {
  impl_->loop.wait(sent, std::nullopt);
  sent.get();
}

bool Pool::wait_ready(const std::future<void>& result, Deadline deadline) {
  return impl_->loop.wait(result, deadline);
}

bool Pool::wait_ready(const std::future<Body>& result, Deadline deadline) {
  return impl_->loop.wait(result, deadline);
}

}  // namespace tno::mpc::communication
