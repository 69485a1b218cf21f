// The sending side of a pool: per peer, kept-alive connections, the deliveries in flight (at most
// PoolConfig::max_connections_per_peer, the others queued in order), retries, and the TLS
// refusal probe. Every delivery is settled exactly once: by its outcome, or by the shutdown.
//
// Lifetime: the delivery coroutines and the handlers of await_answer() refer to their Link and to
// the client. When the pool stops, the io_context destroys the frames and handlers that did not
// finish, after the client is gone; nothing they destroy may therefore touch a Link or the client.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/container/small_vector.hpp>
#include <boost/intrusive/list.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "net/connection.hpp"
#include "net/log.hpp"
#include "net/peers.hpp"
#include "tls.hpp"
#include "tno/mpc/communication/config.hpp"
#include "tno/mpc/communication/message.hpp"

namespace tno::mpc::communication::net {

/// How a send ends: called exactly once, with null (the peer answered 200) or with a
/// DeliveryError.
using SendCompletion = std::function<void(std::exception_ptr)>;
/// A send's completion, or the promise behind the future of an asynchronous send (fulfilled with
/// the same outcome; kept in the delivery itself, without a callback to allocate).
using SendEnding = std::variant<SendCompletion, std::promise<void>>;

class Client {
 public:
  /// `tls` (null for plain HTTP) and everything else must outlive the client.
  Client(boost::asio::io_context& ioc, const PoolConfig& config, boost::asio::ssl::context* tls,
         PeerRegistry& peers);
  /// Lets go of the deliveries never settled (fail_unsettled() settles them at shutdown).
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  /// The address of `host` (an IP address or a host name; IPv4 preferred) for peer `name`.
  /// Throws ConfigurationError when it does not resolve.
  boost::asio::ip::tcp::endpoint resolve(const std::string& name, const std::string& host,
                                         std::uint16_t port);
  /// Makes `peer` (just added to the registry) reachable at `endpoint`.
  void add_peer(const Peer& peer, boost::asio::ip::tcp::endpoint endpoint);
  /// The port of this party's own server, sent in every request's server_port cookie.
  void set_own_port(std::uint16_t port) noexcept { own_port_ = port; }

  /// Starts delivering `message` to `peer`; `done` runs on the thread that runs the network, or
  /// on the thread that calls fail_unsettled. Throws ConfigurationError for an unknown peer and
  /// DeliveryError once the client is stopped (`done` does not run then).
  void send(std::string_view peer, OutgoingMessage message, SendEnding done,
            SendOptions options = {});
  /// Delivers `message` from the calling thread, which holds the network's turn, when that takes
  /// no waiting (see client.cpp): true once `done` has run, or a delivery that runs it is under
  /// way (both taken then); false, with both left as they were, when send() must do it.
  bool send_in_turn(std::string_view peer, OutgoingMessage& message, SendCompletion& done,
                    const SendOptions& options = {});

  /// Whether every delivery started has ended (settled, and its coroutine or read done).
  bool idle() const;
  /// Waits (without running the network) until idle or `until`; true when idle.
  bool wait_idle_until(std::chrono::steady_clock::time_point until);
  /// Refuses further sends; those under way go on while the network runs.
  void stop_accepting();
  /// Once the network no longer runs: ends every delivery that is not settled with a
  /// DeliveryError saying that the pool shut down before it was delivered.
  void fail_unsettled();

 private:
  // In unsettled_ (an intrusive list: no allocation per message) until settled.
  struct Delivery : boost::intrusive::list_base_hook<> {
    const Peer* peer;
    SendEnding done;
    int max_retries;
    std::chrono::milliseconds attempt_timeout;
    bool settled = false;                 // under mu_
    std::shared_ptr<Delivery> unsettled;  // unsettled_'s hold on it while it is listed; under mu_
  };
  using DeliveryPtr = std::shared_ptr<Delivery>;
  struct Pending {
    OutgoingMessage message;
    DeliveryPtr delivery;  // null once settled
  };
  // Messages written together on one connection (HTTP/1.1 pipelining) and answered in order.
  using Batch = boost::container::small_vector<Pending, 1>;
  // A batch of small messages whose requests went out whole on a plain connection and whose
  // answers its delivery is reading: more requests may follow on that connection (pipelined)
  // before the answers are in, their messages appended to the batch, which reads their answers
  // after the others' (see start_queued()). Lives in the delivery's frame.
  struct OpenBatch {
    Batch* batch;
    Connection* conn;
    int max_retries;
    std::chrono::milliseconds attempt_timeout;
    std::size_t answered = 0;        // of the batch's messages
    std::size_t appended_bytes = 0;  // of the requests appended
    // Requests appended but not written yet (a write that did not take them whole left them, or
    // they came while the delivery writes what was left): the delivery writes them, in order,
    // before it waits for another answer.
    std::string unsent;
    bool writing = false;  // the delivery is writing `unsent`
  };
  // What the client keeps per peer; all but `peer` and `endpoint` belong to the network thread.
  struct Link {
    Link(const Peer& p, boost::asio::ip::tcp::endpoint e) : peer(p), endpoint(e) {}
    const Peer& peer;
    boost::asio::ip::tcp::endpoint endpoint;
    detail::SessionCache tls_session;
    std::vector<std::unique_ptr<Connection>> idle;
    std::size_t in_flight = 0;        // batches under way
    std::size_t small_in_flight = 0;  // ...of small messages (at most one)
    OpenBatch* open = nullptr;        // that one's, while more may be appended to it
    std::size_t appended = 0;         // messages appended to it (under way, not in its count)
    // Whether, at the last look, a batch's answers had begun to come in before messages queued
    // behind it were appended (client.cpp: kWholeBatchMessages); the batches formed meanwhile.
    bool whole_batches = false;
    unsigned batch_count = 0;
    std::deque<Pending> queued;
    // Sends posted by send() that launch() has not taken yet (any thread may post one).
    std::atomic<std::size_t> posted{0};
    bool start_posted = false;  // start_queued() is posted
    // Sends in a row whose answer send_in_turn() did not find in at once; sends it counts while
    // it does not look.
    unsigned answers_missed = 0;
    unsigned answer_probe = 0;
    LogLimiter failures_log;  // one line about failed attempts per few seconds
    // The request header up to the Content-Length value, as the reference's client sends it,
    // made once per server port this party advertises.
    std::shared_ptr<const std::string> request_head;
    std::uint16_t request_head_port = 0;
  };

  /// A delivery to `peer` (its Link in `link`), counted under way until its coroutine (or the
  /// read of await_answer()) ends.
  /// Throws ConfigurationError for an unknown peer, and DeliveryError once stopping unless
  /// `already_sent` (its request went out before: shutdown waits for it as for any other); it
  /// throws before `done` is kept anywhere, which Pool::deliver counts on.
  DeliveryPtr register_delivery(std::string_view peer, SendEnding done, const SendOptions& options,
                                Link*& link, bool already_sent = false);
  std::shared_ptr<const std::string> request_head(Link& link);
  void launch(Link& link, OutgoingMessage message, DeliveryPtr delivery);
  void start_queued(Link& link);
  /// Appends what fits of the queue to the open batch, writing their requests on its connection.
  void append_queued(Link& link);
  /// Starts delivering `batch`; with `written_on`, its request went out on that connection
  /// already and its answer is awaited there first.
  void start(Link& link, Batch batch, std::unique_ptr<Connection> written_on = nullptr);
  /// Awaits the answer to `pending`, whose request send_in_turn() wrote on `conn` (the message
  /// counted in flight and under way).
  void await_answer(Link& link, Pending pending, std::unique_ptr<Connection> conn);
  /// Delivers `batch`; a `small` one (the link's one batch of small messages under way) is open
  /// to appended messages while it reads its answers on a plain connection.
  boost::asio::awaitable<void> deliver(Link& link, Batch batch,
                                       std::unique_ptr<Connection> written_on, bool small);
  boost::asio::awaitable<std::string> probe_certificate_refusal(Link& link);
  void settle(const DeliveryPtr& delivery, std::exception_ptr error);
  bool stopping() const;

  boost::asio::io_context& ioc_;
  const PoolConfig& config_;
  boost::asio::ssl::context* tls_;
  PeerRegistry& peers_;
  std::atomic<std::uint16_t> own_port_{0};

  mutable std::mutex mu_;
  std::condition_variable idle_;
  std::map<std::string, std::unique_ptr<Link>, std::less<>> links_;
  boost::intrusive::list<Delivery> unsettled_;  // each held by its `unsettled` while listed
  std::size_t under_way_ = 0;  // deliveries whose coroutine (or read) has not ended
  bool stopping_ = false;
};

}  // namespace tno::mpc::communication::net
