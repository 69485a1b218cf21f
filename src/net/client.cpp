#include "net/client.hpp"

#include <openssl/ssl.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/status.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <optional>
#include <utility>
#include <vector>

#include "net/core_hand_over.hpp"
#include "net/drained_read.hpp"
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

Client::~Client() {
  // Unlinked first, then let go: the last hold on a delivery may be its own.
  unsettled_.clear_and_dispose(
      [](Delivery* d) { const DeliveryPtr last = std::move(d->unsettled); });
}

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

Client::DeliveryPtr Client::register_delivery(std::string_view peer, SendEnding done,
                                              const SendOptions& options, Link*& link,
                                              bool already_sent) {
  auto delivery = std::make_shared<Delivery>();
  delivery->max_retries = options.max_retries.value_or(config_.max_retries);
  delivery->attempt_timeout = options.attempt_timeout.value_or(config_.attempt_timeout);
  std::lock_guard lock(mu_);
  if (stopping_ && !already_sent) {
    throw DeliveryError("the pool is shut down; nothing can be sent");
  }
  auto it = links_.find(peer);
  if (it == links_.end()) throw unknown_peer(peer);
  delivery->done = std::move(done);  // only once nothing is refused (see the header)
  link = it->second.get();
  delivery->peer = &link->peer;
  ++under_way_;
  delivery->unsettled = delivery;
  unsettled_.push_back(*delivery);
  return delivery;
}

void Client::send(std::string_view peer, OutgoingMessage message, SendEnding done,
                  SendOptions options) {
  Link* link = nullptr;
  DeliveryPtr delivery = register_delivery(peer, std::move(done), options, link);
  link->posted.fetch_add(1, std::memory_order_relaxed);
  try {
    asio::post(ioc_, [this, link, message = std::move(message), delivery]() mutable {
      link->posted.fetch_sub(1, std::memory_order_relaxed);
      launch(*link, std::move(message), std::move(delivery));
    });
  } catch (...) {  // no memory for the handler: no send is posted, and launch() must know it
    link->posted.fetch_sub(1, std::memory_order_relaxed);
    throw;
  }
}

namespace {
// A batch holds at most this many messages and fewer bytes (and one message at least); a whole
// batch, kWholeBatchMessages: over TLS, where a batch under way takes no more messages (see
// append_queued), and while the peer answers from this core (Link::whole_batches), where a batch
// split in two only costs a write. While batches are whole, every kSplitProbeInterval-th is split
// to look again.
constexpr std::size_t kBatchMessages = 16;
constexpr std::size_t kBatchBytes = 256 * 1024;
constexpr std::size_t kWholeBatchMessages = 64;
constexpr unsigned kSplitProbeInterval = 16;
// After this many sends in a row whose answer was not in at once, send_in_turn() looks for it only
// every kAnswerProbeInterval sends.
constexpr unsigned kAnswersMissedToStopLooking = 4;
constexpr unsigned kAnswerProbeInterval = 16;
// Over TLS send_in_turn() takes requests only this small: the socket takes them whole at once,
// where a record written in part would leave the connection unusable.
constexpr std::size_t kInTurnSecureBytes = 4096;

// Appends the request that carries `m` to `request`: the header `head` (up to the Content-Length
// value), the length and the blank line written into `line`, and the message's pieces.
template <class Buffers>
void append_request(Buffers& request, const std::string& head, std::array<char, 24>& line,
                    const OutgoingMessage& m) {
  char* end = std::to_chars(line.data(), line.data() + 20, m.size()).ptr;
  end = std::copy_n("\r\n\r\n", 4, end);
  request.push_back(asio::buffer(head));
  request.push_back(asio::buffer(line.data(), static_cast<std::size_t>(end - line.data())));
  request.push_back(asio::buffer(m.head->data(), m.head->size()));
  if (!m.borrowed.empty()) request.push_back(asio::buffer(m.borrowed.data(), m.borrowed.size()));
  if (m.tail) request.push_back(asio::buffer(m.tail->data(), m.tail->size()));
}

// The open batch of small messages (see append_queued) takes messages while fewer than this many
// are unanswered, up to this many in all and kBatchBytes of appended requests (what one retry
// sends again is bounded), in appends of up to this many bytes.
constexpr std::size_t kPipelinedMessages = 128;
constexpr std::size_t kOpenBatchMessages = 256;
constexpr std::size_t kAppendedBytes = 64 * 1024;

// Pieces this small are copied together for a batch's write; larger ones are written from where
// they are.
constexpr std::size_t kCopiedPieceBytes = 4096;

// `request` with its runs of small pieces copied, in order, into `joined`: the requests of a batch
// go out in one write of a few buffers, where a socket write takes at most 64 buffers (Asio's
// limit) and a batch of small messages has five each.
template <class Buffers>
void join_small_pieces(Buffers& request, std::string& joined) {
  std::size_t small = 0;
  for (const auto& b : request) {
    if (b.size() < kCopiedPieceBytes) small += b.size();
  }
  joined.clear();
  joined.reserve(small);  // no reallocation below: the buffers point into it
  Buffers out;
  std::size_t run_from = 0;  // where the current run of small pieces begins in `joined`
  for (const auto& b : request) {
    if (b.size() < kCopiedPieceBytes) {
      joined.append(static_cast<const char*>(b.data()), b.size());
      continue;
    }
    if (joined.size() > run_from)
      out.push_back(asio::buffer(joined.data() + run_from, joined.size() - run_from));
    run_from = joined.size();
    out.push_back(b);
  }
  if (joined.size() > run_from)
    out.push_back(asio::buffer(joined.data() + run_from, joined.size() - run_from));
  request = std::move(out);
}
}  // namespace

std::shared_ptr<const std::string> Client::request_head(Link& link) {
  const std::uint16_t own_port = own_port_.load();
  if (!link.request_head || link.request_head_port != own_port) {
    const Peer& peer = link.peer;
    link.request_head = std::make_shared<const std::string>(
        "POST / HTTP/1.1\r\nHost: " + peer.host + ":" + std::to_string(peer.port) +
        "\r\nContent-Type: application/octet-stream\r\nCookie: server_port=" +
        std::to_string(own_port) + "\r\nContent-Length: ");
    link.request_head_port = own_port;
  }
  return link.request_head;
}

// The conversation's common case, without a handler or a coroutine: nothing else to the peer is
// queued or under way and a kept-alive connection is idle (over TLS: and the request is small),
// so the request goes out in one write from this thread; on one core the peer has usually answered
// once this thread has yielded the core after the write, and then the answer is read here too.
// Anything else goes the usual way: a request that went out only in part closes its connection (the
// server drops what it did not read whole) and is sent again by send(); one whose answer has not
// come (or is not the constant 200) is left to await_answer().
bool Client::send_in_turn(std::string_view peer, OutgoingMessage& message, SendCompletion& done,
                          const SendOptions& options) {
  const bool secure = tls_ != nullptr;
  if (message.size() >= (secure ? kInTurnSecureBytes : kBatchBytes)) return false;
  Link* link = nullptr;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return false;
    auto it = links_.find(peer);
    if (it == links_.end()) return false;
    link = it->second.get();
  }
  // Not before a message sent earlier (by this thread: the turn orders it after the post).
  if (link->posted.load(std::memory_order_relaxed) > 0 || !link->queued.empty() ||
      link->in_flight > 0 || link->idle.empty() || link->idle.back()->buffer.size() != 0) {
    return false;
  }
  // Over TLS 1.3 only: there a read never writes (no renegotiation), so a read that stops at
  // would_block leaves the stream whole.
  if (secure && SSL_version(link->idle.back()->ssl()) != TLS1_3_VERSION) return false;
  const std::shared_ptr<const std::string> head = request_head(*link);
  std::array<char, 24> line;
  boost::container::small_vector<asio::const_buffer, 5> request;
  append_request(request, *head, line, message);
  std::unique_ptr<Connection> conn = std::move(link->idle.back());
  link->idle.pop_back();
  boost::system::error_code ec;
  if (secure) {
    if (!conn->write_all_now(request)) {
      conn->tcp().socket().close(ec);
      return false;
    }
  } else if (const std::size_t written = write_now(conn->tcp().socket(), request, ec);
             ec || written < asio::buffer_size(request)) {
    if (written == 0 && !ec) {
      link->idle.push_back(std::move(conn));  // nothing went out: the connection is as it was
    } else {
      conn->tcp().socket().close(ec);
    }
    return false;
  }
  // Not looked for once it was missing several times in a row (but once in a while still): where
  // the peer answers from another core it is not in yet, and await_answer() reads it anyway.
  if (link->answers_missed < kAnswersMissedToStopLooking ||
      ++link->answer_probe % kAnswerProbeInterval == 0) {
    // Lets a peer on this core answer first (unless paused: core_hand_over.hpp). With every look,
    // not only after answers that were in: a peer that yields after its own request finds its
    // answer in only if this party, too, yields the core after its writes.
    thread_local CoreHandOver hand_over;
    hand_over.yield();
    // Only the answer, whole, and nothing after it (anything else is await_answer()'s to read).
    const bool answered = conn->read_now(ec);
    const bool in = answered && conn->buffer.size() == received_bytes().size() &&
                    conn->take_constant_answer() == Connection::Constant::whole;
    // An answer other than this library's constant 200 (a Python party's) was in too.
    link->answers_missed =
        answered ? 0 : std::min(link->answers_missed + 1, kAnswersMissedToStopLooking);
    if (in) {
      link->idle.push_back(std::move(conn));
      peers_.count_sent(link->peer, message.size());
      done(nullptr);
      return true;
    }
  }
  DeliveryPtr delivery =
      register_delivery(peer, std::move(done), options, link, /*already_sent=*/true);
  ++link->in_flight;
  ++link->small_in_flight;
  conn->watchdog.expires_after(std::min(config_.answer_timeout, delivery->attempt_timeout));
  await_answer(*link, Pending{std::move(message), std::move(delivery)}, std::move(conn));
  return true;
}

// The answer to a request that send_in_turn() wrote (its watchdog armed), awaited with plain reads
// on a plain connection: a delivery's coroutines cost several allocations and thousands of
// instructions, and where the peer answers from another core this is the conversation's common
// case. Over TLS a delivery awaits it. The constant 200 settles the message here. Any other answer
// (a refusal, say), read already or not, goes to a delivery on that connection, which takes it as
// its first attempt's answer. A connection whose read failed (closed by the peer, reset, or by the
// watchdog) is left: the delivery sends again at once on another, as for any kept-alive connection
// that failed.
void Client::await_answer(Link& link, Pending pending, std::unique_ptr<Connection> conn) {
  const DeliveryPtr delivery = pending.delivery;
  bool counted_in_flight = true;
  try {
    // Over TLS the delivery reads it (its reads decrypt).
    const auto found =
        conn && !conn->secure ? conn->take_constant_answer() : Connection::Constant::other;
    if (found == Connection::Constant::partial) {
      Connection& c = *conn;
      async_read_some_noting_drained(
          c.tcp().socket(), c.buffer.prepare(4096), c.rest_of_constant_answer(),
          [this, &link, pending = std::move(pending), conn = std::move(conn)](
              const boost::system::error_code& ec, std::size_t got) mutable {
            conn->buffer.commit(got);
            if (ec) conn.reset();
            await_answer(link, std::move(pending), std::move(conn));
          });
      return;
    }
    counted_in_flight = false;
    --link.in_flight;
    --link.small_in_flight;
    if (found == Connection::Constant::other) {
      Batch batch;
      batch.push_back(std::move(pending));
      start(link, std::move(batch), std::move(conn));
      return;
    }
    conn->watchdog.expires_never();
    link.idle.push_back(std::move(conn));
    peers_.count_sent(link.peer, pending.message.size());
    settle(delivery, nullptr);
  } catch (...) {
    // Out of memory, or a bug: the message fails as it would in a delivery.
    if (counted_in_flight) {
      --link.in_flight;
      --link.small_in_flight;
    }
    settle(delivery, std::current_exception());
  }
  start_queued(link);
  std::lock_guard lock(mu_);
  under_way_ -= 1;
  idle_.notify_all();
}

// Starts a delivery at once when nothing small is under way to the peer (a conversation: one
// message, then its answer), else queues it: the messages that come meanwhile go out together,
// in batches. Batches of small messages go one at a time (more messages may be appended to the
// one under way, on its connection: append_queued), so that they arrive in the order they were
// sent: a receiver takes them in that order, and while its room is full only the message it
// awaits gets in. Large ones (a batch of kBatchBytes or more) have connections of their own, up
// to max_connections_per_peer. Runs on the network thread.
void Client::launch(Link& link, OutgoingMessage message, DeliveryPtr delivery) {
  // Not alone when more sends to the peer are posted behind it: they go out with it.
  if (link.queued.empty() && link.small_in_flight == 0 &&
      link.in_flight < config_.max_connections_per_peer &&
      link.posted.load(std::memory_order_relaxed) == 0) {
    Batch batch;
    batch.push_back(Pending{std::move(message), std::move(delivery)});
    start(link, std::move(batch));
    return;
  }
  link.queued.push_back(Pending{std::move(message), std::move(delivery)});
  // Started after the sends posted meanwhile have been queued too.
  if (!link.start_posted) {
    link.start_posted = true;
    asio::post(ioc_, [this, &link] {
      link.start_posted = false;
      start_queued(link);
    });
  }
}

// Takes batches off the queue, in order, while connections are free and no batch of small
// messages is under way; a batch holds only messages sent with the same options. While the batch
// of small messages under way is open, what is queued is appended to it instead.
void Client::start_queued(Link& link) {
  if (link.open != nullptr) append_queued(link);
  while (!link.queued.empty() && link.small_in_flight == 0 &&
         link.in_flight < config_.max_connections_per_peer) {
    Batch batch;
    // Whole batches while the peer answers from this core, split into kBatchMessages every
    // kSplitProbeInterval batches to see whether it still does.
    const bool whole =
        tls_ != nullptr || (link.whole_batches && ++link.batch_count % kSplitProbeInterval != 0);
    const std::size_t most = whole ? kWholeBatchMessages : kBatchMessages;
    batch.reserve(std::min(link.queued.size(), most));
    const Delivery& first = *link.queued.front().delivery;
    std::size_t bytes = 0;
    do {
      Pending& next = link.queued.front();
      if (!batch.empty() && (next.delivery->max_retries != first.max_retries ||
                             next.delivery->attempt_timeout != first.attempt_timeout ||
                             bytes + next.message.size() >= kBatchBytes)) {
        break;
      }
      bytes += next.message.size();
      batch.push_back(std::move(next));
      link.queued.pop_front();
    } while (!link.queued.empty() && batch.size() < most);
    start(link, std::move(batch));
  }
}

// The requests of queued messages written at once on the connection of the open batch, behind
// those whose answers it awaits (HTTP/1.1 pipelining: the server answers in order), so that the
// receiver works on some while the sender prepares the next; the batch reads their answers after
// its own and sends them again with its own if the connection fails. In the order they were
// queued; with the batch's options; a bounded number unanswered, and a batch of bounded length
// (its delivery ends, and the next one starts, after kOpenBatchMessages).
void Client::append_queued(Link& link) {
  OpenBatch& open = *link.open;
  Batch& batch = *open.batch;
  const std::shared_ptr<const std::string> head = request_head(link);
  std::string requests;
  std::array<char, 24> line;
  boost::container::small_vector<asio::const_buffer, 5> pieces;
  std::size_t taken = 0;
  while (!link.queued.empty() && batch.size() - open.answered < kPipelinedMessages &&
         batch.size() < kOpenBatchMessages) {
    Pending& next = link.queued.front();
    if (next.delivery->max_retries != open.max_retries ||
        next.delivery->attempt_timeout != open.attempt_timeout ||
        requests.size() + next.message.size() > kAppendedBytes ||
        open.appended_bytes + requests.size() + next.message.size() > kBatchBytes) {
      break;
    }
    pieces.clear();
    append_request(pieces, *head, line, next.message);
    for (const auto& piece : pieces) {
      requests.append(static_cast<const char*>(piece.data()), piece.size());
    }
    batch.push_back(std::move(next));
    link.queued.pop_front();
    ++taken;
  }
  if (taken == 0) return;
  link.appended += taken;
  open.appended_bytes += requests.size();
  std::size_t written = 0;
  if (!open.writing && open.unsent.empty()) {
    // A failed write leaves them unsent: the delivery's write or read fails in turn, and it sends
    // the batch again.
    boost::system::error_code ec;
    written = write_now(open.conn->tcp().socket(), asio::buffer(requests), ec);
  }
  open.unsent.append(requests, written);
}

void Client::start(Link& link, Batch batch, std::unique_ptr<Connection> written_on) {
  const std::size_t messages = batch.size();
  std::size_t bytes = 0;
  for (const auto& p : batch) bytes += p.message.size();
  const bool small = bytes < kBatchBytes;
  ++link.in_flight;
  if (small) ++link.small_in_flight;
  // deliver() settles every message of the batch, also when it fails unexpectedly.
  try {
    asio::co_spawn(ioc_, deliver(link, std::move(batch), std::move(written_on), small),
                   [this, &link, messages, small](std::exception_ptr) {
                     // Before start_queued(), which may open the next batch to appending.
                     const std::size_t appended = small ? std::exchange(link.appended, 0) : 0;
                     --link.in_flight;
                     if (small) --link.small_in_flight;
                     start_queued(link);
                     std::lock_guard lock(mu_);
                     under_way_ -= messages + appended;
                     idle_.notify_all();
                   });
  } catch (...) {  // no memory for the coroutine: the link is not left waiting for it
    --link.in_flight;
    if (small) --link.small_in_flight;
    throw;
  }
}

void Client::settle(const DeliveryPtr& delivery, std::exception_ptr error) {
  DeliveryPtr unlisted;  // the list's hold, let go after the lock
  {
    std::lock_guard lock(mu_);
    if (delivery->settled) return;
    delivery->settled = true;
    unsettled_.erase(unsettled_.iterator_to(*delivery));
    unlisted = std::move(delivery->unsettled);
  }
  if (auto* callback = std::get_if<SendCompletion>(&delivery->done)) {
    (*callback)(error);
  } else if (auto& promise = std::get<std::promise<void>>(delivery->done); error) {
    promise.set_exception(error);
  } else {
    promise.set_value();
  }
}

bool Client::stopping() const {
  std::lock_guard lock(mu_);
  return stopping_;
}

asio::awaitable<void> Client::deliver(Link& link, Batch batch,
                                      std::unique_ptr<Connection> written_on, bool small) {
  const Peer& peer = link.peer;
  const int max_retries = batch.front().delivery->max_retries;
  const std::chrono::milliseconds attempt_timeout = batch.front().delivery->attempt_timeout;
  // Each request as the reference's client sends it; all of them in one gather write.
  const std::shared_ptr<const std::string> head = request_head(link);
  // Sized for the common batch of one message.
  boost::container::small_vector<std::array<char, 24>, 1> length_lines;
  boost::container::small_vector<asio::const_buffer, 5> request;
  std::string joined;  // the small pieces of a batch's requests (join_small_pieces)
  // What is left to deliver (the batch without the messages settled), as requests.
  auto write_out = [&] {
    batch.erase(
        std::remove_if(batch.begin(), batch.end(), [](const Pending& p) { return !p.delivery; }),
        batch.end());
    length_lines.resize(batch.size());
    request.clear();
    request.reserve(5 * batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i) {
      append_request(request, *head, length_lines[i], batch[i].message);
    }
    if (batch.size() > 1) join_small_pieces(request, joined);
  };
  auto settle_rest = [&](const std::exception_ptr& error) {
    for (auto& p : batch) {
      if (p.delivery) settle(std::exchange(p.delivery, nullptr), error);
    }
  };

  try {
    int failures = 0;
    std::string last_error;
    for (;;) {
      write_out();
      // The first attempt of a request that send_in_turn() wrote already awaits its answer.
      const bool written = written_on != nullptr;
      bool reused = written || !link.idle.empty();
      bool fresh_tls = false;  // a new TLS connection whose handshake completed
      bool broken = false;     // it failed after connecting
      const char* doing = "connecting";
      std::unique_ptr<Connection> conn;
      try {
        if (written) {
          conn = std::move(written_on);
        } else if (reused) {
          conn = std::move(link.idle.back());
          link.idle.pop_back();
        } else {
          conn = std::make_unique<Connection>(ioc_, tls_);
          conn->watchdog.expires_after(std::min(config_.connect_timeout, attempt_timeout));
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
        bool wrote_at_once = false;  // this attempt's requests, in one write that did not wait
        if (!written) {
          if (const std::size_t now = conn->write_now(request); now < asio::buffer_size(request)) {
            co_await conn->send(request, now, attempt_timeout);
          } else {
            wrote_at_once = true;
          }
        }
        // The answers come in the order of the requests. A live party answers as soon as it has a
        // message: a peer that stalls here is given answer_timeout, not what is left of the
        // attempt.
        doing = "waiting for the answer";
        bool keep_alive = true;
        std::size_t answered = 0;
        // Open to appended messages until the last answer is read or the attempt fails (each way
        // out closes it, not a destructor: a frame destroyed unresumed must not touch the link).
        // Only on the batch's first attempt, so that an appended message has as many tries as
        // the batch's own.
        OpenBatch open{&batch, conn.get(), max_retries, attempt_timeout, 0, 0, {}, false};
        if (small && !conn->secure && failures == 0) link.open = &open;
        for (std::size_t i = 0; i < batch.size() && keep_alive; ++i, ++answered) {
          open.answered = i;
          // What was queued before it opened, or while it had as many unanswered as it takes.
          if (link.open == &open && !link.queued.empty()) {
            if (i == 0 && wrote_at_once) {
              // Bytes of the answers in already, between the batch's write and here, where nothing
              // waited: the peer ran in between, as it does when it shares this core and the
              // scheduler hands it the core on the write's wake-up. A peer on another core takes
              // longer to wake.
              boost::system::error_code ignored;
              link.whole_batches =
                  conn->buffer.size() > 0 || conn->tcp().socket().available(ignored) > 0;
            }
            append_queued(link);
          }
          // Appended requests go out whole before any answer is awaited that may depend on them.
          while (!open.unsent.empty()) {
            const std::string rest = std::exchange(open.unsent, {});
            open.writing = true;
            doing = "sending";
            co_await conn->send(asio::buffer(rest), 0, attempt_timeout);
            open.writing = false;
            doing = "waiting for the answer";
          }
          conn->watchdog.expires_after(std::min(config_.answer_timeout, attempt_timeout));
          Answer answer = co_await conn->read_answer();
          // A TLS 1.3 server sends its session tickets after the handshake, so the session is
          // worth keeping only once an answer has been read.
          if (i == 0 && conn->secure && !reused) link.tls_session.remember(conn->ssl());
          keep_alive = answer.keep_alive;
          if (answer.status == 200) {
            peers_.count_sent(peer, batch[i].message.size());
            settle(std::exchange(batch[i].delivery, nullptr), nullptr);
            batch[i].message = {};  // its memory, at once: an open batch may run long
            continue;
          }
          last_error = "it answered " + std::to_string(answer.status) + " " + answer.body;
          if (is_final_answer(static_cast<http::status>(answer.status))) {
            log().warn("Message to {} ({}:{}) refused (attempt {}, final): {}", peer.name,
                       peer.host, peer.port, failures + 1, last_error);
            settle(std::exchange(batch[i].delivery, nullptr),
                   delivery_error(peer, kCannotDeliver,
                                  " after " + std::to_string(failures + 1) +
                                      " failed attempts: " + last_error));
          }
        }
        if (small) link.open = nullptr;
        conn->watchdog.expires_never();
        if (keep_alive) link.idle.push_back(std::move(conn));
        if (std::all_of(batch.begin(), batch.end(), [](const Pending& p) { return !p.delivery; })) {
          co_return;
        }
        // Refused for now (no room), or the connection was closed before the last answer.
        if (answered < batch.size())
          last_error = std::string(doing) + ": the connection was closed";
      } catch (const boost::system::system_error& e) {
        if (small) link.open = nullptr;  // it was this batch's, if any (small: the only one)
        if (detail::is_final_tls_failure(e.code())) {
          // Certificates and protocol mismatches do not heal by retrying (the reference raises).
          last_error = detail::explain_tls_failure(e.code(), conn ? conn->ssl() : nullptr);
          settle_rest(delivery_error<TlsError>(peer, kCannotDeliver, " over TLS: " + last_error));
          co_return;
        }
        last_error =
            std::string(doing) + ": " +
            (conn && conn->watchdog.expired() ? std::string("timed out") : e.code().message());
        broken = fresh_tls;
        // A kept-alive connection that the server closed meanwhile: reconnect at once.
        if (reused) continue;
      } catch (const std::exception& e) {
        if (small) link.open = nullptr;
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
          settle_rest(delivery_error<TlsError>(peer, kCannotDeliver, " over TLS: " + refusal));
          co_return;
        }
      }
      ++failures;
      const bool last = stopping() || (max_retries >= 0 && failures > max_retries);
      if (auto held_back = link.failures_log.allow()) {
        log().warn("Message to {} ({}:{}) not delivered (attempt {}{}): {}{}", peer.name, peer.host,
                   peer.port, failures, last ? ", the last" : ", retrying after retry_delay",
                   last_error, held_back_note(*held_back));
      }
      if (last) break;
      asio::steady_timer timer(ioc_, config_.retry_delay);
      co_await timer.async_wait(asio::use_awaitable);
    }
    settle_rest(
        delivery_error(peer, kCannotDeliver,
                       " after " + std::to_string(failures) + " failed attempts: " + last_error));
  } catch (...) {
    if (small) link.open = nullptr;
    settle_rest(std::current_exception());  // not a network failure: a bug, or out of memory
  }
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
  std::vector<DeliveryPtr> unsettled;
  {
    std::lock_guard lock(mu_);
    for (Delivery& d : unsettled_) unsettled.push_back(d.unsettled);
  }
  for (const auto& d : unsettled) {
    settle(d,
           delivery_error(*d->peer, "the pool shut down before the message to ", " was delivered"));
  }
}

}  // namespace tno::mpc::communication::net
