#include "net/server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/core/detect_ssl.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <algorithm>
#include <cstring>
#include <limits>
#include <mutex>
#include <optional>
#include <type_traits>
#include <vector>

#include "net/drained_read.hpp"
#include "net/quick_request.hpp"
#include "net/requests.hpp"
#include "net/server_state.hpp"
#include "net/stream_io.hpp"
#include "net/watchdog.hpp"
#include "tls.hpp"
#include "tno/mpc/communication/errors.hpp"

namespace tno::mpc::communication::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using State = ServerState;

namespace {

// A large body is read straight into its memory, this much at most per read.
constexpr std::size_t kReadStep = std::size_t{1} << 20;

bool is_http_error(const beast::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_method).category();
}

// How reading a body ended: with the body, with a refusal to answer before closing, or with the
// connection gone.
struct BodyRead {
  UncheckedBody body;
  std::optional<Response> refusal;
};

template <class Stream>
asio::awaitable<beast::error_code> write_answer(Stream& stream, Response& res, bool header_only) {
  if (header_only) {
    http::response_serializer<http::string_body> serializer(res);
    auto [ec, n] =
        co_await http::async_write_header(stream, serializer, asio::as_tuple(asio::use_awaitable));
    co_return ec;
  }
  auto [ec, n] = co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
  co_return ec;
}

Response refused_for_room(State& s, const RequestHead& req, const Peer& peer, std::uint64_t bytes) {
  Response res = no_room(s, req, peer, bytes);
  res.keep_alive(false);  // the rest of the body is not read
  return res;
}

// A body of known length from kRegionBytes on: straight from the socket into memory reserved for
// it, counted against the room as it comes: at most a read step ahead of the bytes, and where its
// memory is faulted in ahead of the reads, as far again as the bytes that came (up to
// BodyBuffers::kFaultAheadLead).
template <class Stream>
asio::awaitable<BodyRead> read_large_body(State& s, Stream& stream, beast::flat_buffer& buffer,
                                          const RequestHead& req, const Peer& peer,
                                          std::size_t length, Mailbox::Arrival& arrival) {
  auto filling = s.bodies->fill(length, /*known_length=*/true);
  std::size_t counted = 0;
  auto count_up_to = [&](std::size_t end) {
    if (end <= counted) return true;
    if (!arrival.add(end - counted)) return false;
    counted = end;
    return true;
  };
  // A recycled region's pages are in memory before the first byte: counted as if they had
  // arrived, so that a sender that declares a large body and stalls holds no memory uncounted.
  const std::size_t have = std::min(buffer.size(), length);
  if (!count_up_to(std::max(have, std::min(length, filling.resident())))) {
    co_return BodyRead{nullptr, refused_for_room(s, req, peer, length)};
  }
  asio::buffer_copy(asio::buffer(filling.space(have).data(), have), buffer.data());
  filling.commit(have);
  buffer.consume(have);
  while (filling.size() < length) {
    const std::size_t step = std::min(length - filling.size(), kReadStep);
    // Memory faulted in ahead of the reads is counted as if its bytes had arrived.
    if (!count_up_to(std::min(length, filling.size() + step + filling.lead()))) {
      co_return BodyRead{nullptr, refused_for_room(s, req, peer, length)};
    }
    filling.allow(counted);
    auto space = filling.space(step);
    auto [ec, n] = co_await stream.async_read_some(asio::buffer(space.data(), space.size()),
                                                   asio::as_tuple(asio::use_awaitable));
    if (ec) co_return BodyRead{};
    filling.commit(n);
  }
  co_return BodyRead{std::move(filling).finish(), std::nullopt};
}

// A chunked body: through the parser (its chunk lines and trailer bounded by the read buffer's
// size), into memory that follows the chunks, counted against the room as they come.
template <class Stream>
asio::awaitable<BodyRead> read_chunked_body(State& s, Stream& stream, beast::flat_buffer& buffer,
                                            http::request_parser<http::string_body>& parser,
                                            const Peer& peer, Mailbox::Arrival& arrival) {
  auto filling = s.bodies->fill(s.config.max_body_bytes, /*known_length=*/false);
  bool no_room_left = false;
  auto on_chunk = [&](std::uint64_t, std::string_view data, beast::error_code& ec) {
    if (!arrival.add(data.size())) {
      no_room_left = true;
      ec = asio::error::no_buffer_space;
      return std::size_t{0};
    }
    std::memcpy(filling.space(data.size()).data(), data.data(), data.size());
    filling.commit(data.size());
    return data.size();
  };
  parser.on_chunk_body(on_chunk);
  auto [ec, n] =
      co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
  if (no_room_left) {
    co_return BodyRead{nullptr,
                       refused_for_room(s, RequestHead::of(parser.get()), peer, filling.size())};
  }
  if (ec && is_http_error(ec) && ec != http::error::end_of_stream &&
      ec != http::error::partial_message) {
    co_return BodyRead{nullptr, unreadable(s, ec)};
  }
  if (ec) co_return BodyRead{};
  co_return BodyRead{std::move(filling).finish(), std::nullopt};
}

// A small body (under kRegionBytes, counted whole before it is read): through the parser.
template <class Stream>
asio::awaitable<BodyRead> read_small_body(State& s, Stream& stream, beast::flat_buffer& buffer,
                                          http::request_parser<http::string_body>& parser,
                                          const Peer& peer, std::size_t length,
                                          Mailbox::Arrival& arrival) {
  if (!arrival.add(length)) {
    co_return BodyRead{nullptr, refused_for_room(s, RequestHead::of(parser.get()), peer, length)};
  }
  auto [ec, n] =
      co_await http::async_read(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
  if (ec == http::error::end_of_stream || ec == http::error::partial_message) co_return BodyRead{};
  if (ec && is_http_error(ec)) co_return BodyRead{nullptr, unreadable(s, ec)};
  if (ec) co_return BodyRead{};
  co_return BodyRead{std::make_shared<ReceivedBody>(std::move(parser.get().body())), std::nullopt};
}

// Where a connection's bytes are read and written, below Beast's per-operation timers (the
// connection's Watchdog bounds it instead): a plain connection's socket, or the TLS stream.
tcp::socket& bytes_of(beast::tcp_stream& stream) {
  return stream.socket();
}
beast::ssl_stream<beast::tcp_stream>& bytes_of(beast::ssl_stream<beast::tcp_stream>& stream) {
  return stream;
}

// Writes what the socket takes of `owed` now and erases it; true when nothing is owed any more or
// the connection failed (`ec`).
template <class Stream>
bool pay_now(Stream& stream, std::string& owed, beast::error_code& ec) {
  owed.erase(0, write_now(stream, asio::buffer(owed), ec));
  return ec || owed.empty();
}

// Answers owed to pipelined requests: when the next request is in already, the constant 200 of
// one waits for those of the next, and they go out together, in order, in one write, before the
// connection waits for more (unless answers are deferred: see serve()) or writes any other
// answer.
struct OwedAnswers {
  std::string bytes;

  template <class Stream>
  bool pay_now(Stream& stream, beast::error_code& ec) {
    return net::pay_now(stream, bytes, ec);
  }
  // Writes what pay_now() left, waiting for room within `limit`; the error that ended the
  // connection.
  template <class Stream>
  asio::awaitable<beast::error_code> pay_rest(Stream& stream, Watchdog& watchdog,
                                              std::chrono::milliseconds limit) {
    const beast::error_code ec =
        co_await write_rest(stream, asio::buffer(bytes), 0, watchdog, limit);
    bytes.clear();
    co_return ec;
  }
  // Writes what is owed, waiting for room within `limit`; the error that ended the connection.
  template <class Stream>
  asio::awaitable<beast::error_code> pay(Stream& stream, Watchdog& watchdog,
                                         std::chrono::milliseconds limit) {
    beast::error_code ec;
    if (!pay_now(stream, ec)) co_return co_await pay_rest(stream, watchdog, limit);
    bytes.clear();
    co_return ec;
  }
};

// Whether answers on `stream` wait for Server::pay_deferred_answers (plain connections only: a
// TLS stream's answers go out through OpenSSL, which cannot be tried without waiting).
template <class Stream>
bool defers_answers(const State& s, Stream&) {
  return std::is_same_v<Stream, tcp::socket> && s.defer_answers;
}

// Whether a connection's client converses (sends its next request after this side's answer) or
// streams (pipelines requests): in a conversation, a read that ends a whole request is called
// drained (drained_read.hpp), sparing the next read a try of the socket that would fail; while
// requests stream, the try finds the next one, and is kept. Judged by the tries: after
// kMissesToConverse in a row found nothing the reads are called drained, all but every
// kProbeInterval-th, whose next read tries again and ends that if it finds something.
class ReadPolicy {
 public:
  /// Before each read.
  void starting() {
    tried_now_ = tried_next_;
    tried_next_ = true;
    waited_ = false;
    scanned_bytes_ = 0;
  }
  /// After each read.
  void finished() {
    if (tried_now_) misses_ = waited_ ? std::min(misses_ + 1, kMissesToConverse) : 0;
  }
  /// The read tried the socket and found nothing.
  void waited() { waited_ = true; }
  /// Whether the client converses: a short read that ends one whole request may be called drained.
  bool converses() const { return misses_ >= kMissesToConverse; }
  /// Whether such a read is called drained, if the client converses.
  bool call_drained() {
    if (++drained_reads_ % kProbeInterval == 0) return false;
    tried_next_ = false;
    return true;
  }
  /// The whole request that the last read's bytes end, as the question above scanned it: kept
  /// for serve(), which takes it instead of scanning the same bytes again.
  void scanned(const QuickRequest& request, std::size_t buffer_bytes) {
    scanned_ = request;
    scanned_bytes_ = buffer_bytes;
  }
  /// That request, once, if the buffer now holds those bytes.
  bool take_scanned(std::size_t buffer_bytes, QuickRequest& request) {
    if (scanned_bytes_ == 0 || scanned_bytes_ != buffer_bytes) return false;
    request = scanned_;
    scanned_bytes_ = 0;
    return true;
  }

 private:
  static constexpr unsigned kMissesToConverse = 2;
  static constexpr unsigned kProbeInterval = 16;
  unsigned misses_ = 0;
  unsigned drained_reads_ = 0;
  bool tried_now_ = true;   // the read under way tries the socket first
  bool tried_next_ = true;  // the next read will
  bool waited_ = false;
  QuickRequest scanned_;
  std::size_t scanned_bytes_ = 0;  // 0: none
};

// A read into `buffer` (at `into`) of what `stream` holds, to co_await. On a plain socket it is
// awaited as an operation (deferred) rather than through use_awaitable, whose initiation is a
// coroutine of its own: a frame per read; `policy` says whether one that ends a whole request of
// the common form is called drained: never while answers are deferred (`defer_answers`), when the
// next read comes before this side's write. (Beast's TLS stream does not take deferred
// operations.)
template <class Stream>
auto read_some(Stream& stream, beast::flat_buffer& buffer, asio::mutable_buffer into,
               RequestScanner& scanner, std::size_t max_header_bytes, std::uint64_t max_body_bytes,
               const bool& defer_answers, ReadPolicy& policy) {
  if constexpr (std::is_same_v<Stream, tcp::socket>) {
    struct EndsRequest {
      beast::flat_buffer& buffer;
      RequestScanner& scanner;
      std::size_t max_header_bytes;
      std::uint64_t max_body_bytes;
      const bool& defer_answers;
      ReadPolicy& policy;
      // Asked inside the reactor: answers "no" rather than throw.
      bool operator()(std::string_view bytes) const noexcept {
        if (!policy.converses() || defer_answers) return false;
        const std::string_view all(static_cast<const char*>(buffer.data().data()),
                                   buffer.size() + bytes.size());
        QuickRequest request;
        try {
          if (scanner.scan(all, max_header_bytes, max_body_bytes, request) != Scan::quick) {
            return false;
          }
        } catch (...) {
          return false;  // out of memory remembering the header
        }
        if (request.header_bytes + request.content_length != all.size()) return false;
        policy.scanned(request, all.size());
        return policy.call_drained();
      }
      void waited() const noexcept { policy.waited(); }
    };
    policy.starting();
    return async_read_some_noting_drained(
        stream, into,
        EndsRequest{buffer, scanner, max_header_bytes, max_body_bytes, defer_answers, policy},
        asio::as_tuple(asio::deferred));
  } else {
    return stream.async_read_some(into, asio::as_tuple(asio::use_awaitable));
  }
}

std::string_view view(const beast::flat_buffer& buffer) {
  return {static_cast<const char*>(buffer.data().data()), buffer.size()};
}

enum class Next { request, close };

// A quick request's message, its body read and its room reserved (`arrival`), handed to the
// mailbox: its answer is owed (the constant 200, added to `owed`: see answered_at_once) or
// returned.
std::optional<Response> take_quick(State& s, const RequestHead& head,
                                   const PeerRegistry::Sender& sender, std::string body,
                                   Mailbox::Arrival& arrival, OwedAnswers& owed) {
  auto res = handle(s, head, sender, std::make_shared<ReceivedBody>(std::move(body)), arrival);
  if (!res) owed.bytes += received_bytes();
  return res;
}

// Whether the 200 owed to the request just taken is settled without waiting: written now, or left
// to go out with the answer of the request behind it (in already) or with the deferred answers
// (see serve()). Also true when the connection failed (`ec`); false when the rest of it must be
// written waiting (answer_quick).
template <class Stream>
bool answered_at_once(const State& s, Stream& stream, const beast::flat_buffer& buffer,
                      OwedAnswers& owed, beast::error_code& ec) {
  return buffer.size() != 0 || defers_answers(s, stream) || owed.pay_now(stream, ec);
}

// The answer to a quick request whose message was taken, when it cannot go out at once: the rest
// of the owed 200s, or `res` after what is owed.
template <class Stream>
asio::awaitable<Next> answer_quick(State& s, Stream& stream, std::optional<Response> res,
                                   Connections::Slot& slot, Watchdog& watchdog, OwedAnswers& owed) {
  beast::error_code ec;
  if (!res) {
    ec = co_await owed.pay_rest(stream, watchdog, s.config.attempt_timeout);
  } else {
    if (!owed.bytes.empty()) ec = co_await owed.pay(stream, watchdog, s.config.attempt_timeout);
    watchdog.expires_after(s.config.attempt_timeout);
    if (!ec) ec = co_await write_answer(stream, *res, false);
  }
  slot.busy(false);
  co_return ec || (res && !res->keep_alive()) ? Next::close : Next::request;
}

// A request of the common form (see quick_request.hpp), screened (`verdict`), its header consumed
// from `buffer`: its body read, handled and answered. serve() takes a known sender's message whose
// body came whole with the header and that has room without this coroutine; what comes here is
// an early answer, a body still to be read, or a message without room.
template <class Stream>
asio::awaitable<Next> serve_quick(State& s, Stream& stream, beast::flat_buffer& buffer,
                                  const RequestHead& head, std::size_t length,
                                  std::variant<PeerRegistry::Sender, Response> verdict,
                                  Connections::Slot& slot, Watchdog& watchdog, OwedAnswers& owed) {
  if (auto* early = std::get_if<Response>(&verdict)) {
    beast::error_code ec;
    if (early->result() == http::status::service_unavailable && early->keep_alive()) {
      // A peer's message that finds no room now: its body (under kRegionBytes) is read past, so
      // that the connection stays open and the requests pipelined behind it are answered too.
      const std::size_t have = std::min(buffer.size(), length);
      buffer.consume(have);
      if (std::string skipped(length - have, '\0');
          have < length &&
          !co_await read_exactly(stream, skipped, watchdog, s.config.attempt_timeout)) {
        co_return Next::close;
      }
    } else if (length > 0) {
      early->keep_alive(false);  // the body is not read
    }
    if (!owed.bytes.empty()) ec = co_await owed.pay(stream, watchdog, s.config.attempt_timeout);
    if (!ec) ec = co_await write_answer(stream, *early, false);
    co_return ec || !early->keep_alive() ? Next::close : Next::request;
  }
  const auto& sender = std::get<PeerRegistry::Sender>(verdict);
  slot.identified();
  slot.busy(true);
  auto arrival = s.mailbox.arrive(sender.peer->name);
  if (!arrival.add(length)) {
    auto res = refused_for_room(s, head, *sender.peer, length);
    if (!owed.bytes.empty() && co_await owed.pay(stream, watchdog, s.config.attempt_timeout)) {
      co_return Next::close;
    }
    co_await write_answer(stream, res, false);
    co_return Next::close;
  }
  std::string body(length, '\0');
  if (std::span<char> rest(body);
      !fill_from(buffer, rest) &&
      !co_await read_exactly(stream, rest, watchdog, s.config.attempt_timeout)) {
    co_return Next::close;
  }
  auto res = take_quick(s, head, sender, std::move(body), arrival, owed);
  if (beast::error_code ec; !res && answered_at_once(s, stream, buffer, owed, ec)) {
    slot.busy(false);
    co_return ec ? Next::close : Next::request;
  }
  co_return co_await answer_quick(s, stream, std::move(res), slot, watchdog, owed);
}

// A request of any other form, through Beast's parser (which reads the header from `buffer`
// first).
template <class Stream>
asio::awaitable<Next> serve_general(State& s, Stream& stream, beast::flat_buffer& buffer,
                                    const std::string& remote_ip, const std::string& certificate,
                                    Connections::Slot& slot, Watchdog& watchdog) {
  http::request_parser<http::string_body> parser;
  parser.body_limit(s.config.max_body_bytes);
  parser.header_limit(static_cast<std::uint32_t>(
      std::min<std::size_t>(s.config.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
  auto [header_ec, header_bytes] =
      co_await http::async_read_header(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
  if (header_ec == http::error::end_of_stream || header_ec == http::error::partial_message) {
    co_return Next::close;
  }
  if (header_ec && is_http_error(header_ec)) {
    // Not HTTP, or too big: say so (a client that is waiting then fails clearly) and close.
    if (buffer.size() > 0 &&
        static_cast<unsigned char>(*static_cast<const char*>(buffer.data().data())) == 0x16) {
      log().warn(
          "A TLS client at {} connected to this plain-HTTP server; it cannot be served unless "
          "this pool is made with a TlsConfig",
          remote_ip);
    }
    auto res = unreadable(s, header_ec);
    watchdog.expires_after(s.config.attempt_timeout);
    co_await write_answer(stream, res, false);
    co_return Next::close;
  }
  if (header_ec) co_return Next::close;  // timed out, reset, closed
  const Request& req = parser.get();
  watchdog.expires_after(s.config.attempt_timeout);
  if (auto refused = check_framing(req, header_bytes, s.config.max_header_bytes)) {
    co_await write_answer(stream, *refused, false);
    co_return Next::close;
  }
  const RequestHead head = RequestHead::of(req);
  const bool head_only = req.method() == http::verb::head;
  const auto length = parser.content_length();
  auto verdict = screen(s, head, remote_ip, certificate, length.value_or(0));
  if (auto* early = std::get_if<Response>(&verdict)) {
    // Answered on the header alone; a body that was not read ends the connection.
    if (!parser.is_done()) early->keep_alive(false);
    auto write_ec = co_await write_answer(stream, *early, head_only);
    co_return write_ec || !early->keep_alive() ? Next::close : Next::request;
  }
  const auto& sender = std::get<PeerRegistry::Sender>(verdict);
  slot.identified();
  slot.busy(true);
  auto arrival = s.mailbox.arrive(sender.peer->name);
  if (expects_continue(req)) {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    auto [continue_ec, n] = co_await asio::async_write(stream, asio::buffer(kContinue),
                                                       asio::as_tuple(asio::use_awaitable));
    if (continue_ec) co_return Next::close;
  }
  BodyRead got;
  if (parser.chunked()) {
    got = co_await read_chunked_body(s, stream, buffer, parser, *sender.peer, arrival);
  } else if (length && *length >= BodyBuffers::kRegionBytes) {
    got = co_await read_large_body(s, stream, buffer, head, *sender.peer,
                                   static_cast<std::size_t>(*length), arrival);
  } else {
    got = co_await read_small_body(s, stream, buffer, parser, *sender.peer,
                                   static_cast<std::size_t>(length.value_or(0)), arrival);
  }
  if (!got.body && !got.refusal) co_return Next::close;  // the connection broke
  std::optional<Response> res = std::move(got.refusal);
  if (!res) res = handle(s, head, sender, std::move(got.body), arrival);
  if (!res) res = received(head);
  auto write_ec = co_await write_answer(stream, *res, false);
  slot.busy(false);
  co_return write_ec || !res->keep_alive() ? Next::close : Next::request;
}

// Requests on one connection, answered in order, until the client closes it or an error. Between
// requests the connection may idle for idle_timeout; a request, once its header is in, must be
// read and answered within attempt_timeout.
template <class Stream>
asio::awaitable<void> serve(State& s, Stream& stream, beast::flat_buffer& buffer,
                            const std::string& remote_ip, const std::string& certificate,
                            Connections::Slot& slot) {
  auto& tcp_stream = beast::get_lowest_layer(stream);
  tcp_stream.expires_never();  // from here on the watchdog bounds every step
  Watchdog watchdog(tcp_stream.get_executor(), [&tcp_stream] {
    beast::error_code ignored;
    tcp_stream.socket().close(ignored);
  });
  auto& io = bytes_of(stream);
  const std::uint64_t quick_body_limit =
      std::min<std::uint64_t>(s.config.max_body_bytes, BodyBuffers::kRegionBytes - 1);
  OwedAnswers owed;
  constexpr bool kPlain = std::is_same_v<std::remove_cvref_t<decltype(io)>, tcp::socket>;
  std::shared_ptr<DeferredAnswers> deferral;  // this connection's entry in s.deferred
  RequestScanner scanner;
  ReadPolicy policy;
  for (;;) {
    watchdog.expires_after(s.config.idle_timeout);
    QuickRequest request;
    Scan scan;
    beast::error_code ec;
    while ((scan = policy.take_scanned(buffer.size(), request)
                       ? Scan::quick
                       : scanner.scan(view(buffer), s.config.max_header_bytes, quick_body_limit,
                                      request)) == Scan::need_more) {
      bool deferred = false;
      if constexpr (kPlain) {
        if (!owed.bytes.empty() && s.defer_answers) {
          // Paid by Server::pay_deferred_answers while this session waits below, or with the
          // next request's answer if that comes first (in order: they are one string).
          if (!deferral)
            deferral = std::make_shared<DeferredAnswers>(DeferredAnswers{&owed.bytes, &io});
          if (!deferral->registered) s.deferred.push_back(deferral);
          deferral->registered = true;
          deferred = true;
        }
      }
      if (!deferred && !owed.bytes.empty() && !owed.pay_now(io, ec)) {
        ec = co_await owed.pay_rest(io, watchdog, s.config.attempt_timeout);
        watchdog.expires_after(s.config.idle_timeout);
      }
      if (ec) break;
      // Reads what arrives next, up to the buffer's limit.
      const std::size_t room = std::min<std::size_t>(64 * 1024, buffer.max_size() - buffer.size());
      if (deferral) deferral->reading = deferred;
      auto [read_ec, n] =
          co_await read_some(io, buffer, buffer.prepare(room), scanner, s.config.max_header_bytes,
                             quick_body_limit, s.defer_answers, policy);
      policy.finished();
      if (deferral) deferral->reading = false;
      buffer.commit(n);
      if constexpr (kPlain) {
        if (deferred && read_ec == asio::error::operation_aborted && io.is_open()) {
          // pay_deferred_answers could not write them all without waiting: this session does.
          if (!owed.bytes.empty())
            ec = co_await owed.pay_rest(io, watchdog, s.config.attempt_timeout);
          watchdog.expires_after(s.config.idle_timeout);
          if (ec) break;
          continue;
        }
        if (deferred && read_ec && !owed.bytes.empty() && io.is_open()) {
          // The client stopped sending (or the read failed): what it is owed still goes out.
          beast::error_code ignored;
          owed.pay_now(io, ignored);
        }
      }
      if ((ec = read_ec)) break;
    }
    if (ec) break;  // closed between requests, timed out, reset
    if (scan != Scan::quick && !owed.bytes.empty() &&
        co_await owed.pay(io, watchdog, s.config.attempt_timeout)) {
      break;
    }
    if (scan != Scan::quick) {
      if (co_await serve_general(s, io, buffer, remote_ip, certificate, slot, watchdog) ==
          Next::close) {
        break;
      }
      continue;
    }
    RequestHead head;  // POST, HTTP/1.1, keep-alive
    head.cookie = request.cookie;
    const auto length = static_cast<std::size_t>(request.content_length);
    auto verdict = screen(s, head, remote_ip, certificate, length);
    buffer.consume(request.header_bytes);
    // The common case, without serve_quick's coroutine (a frame and a resumption per message): a
    // known sender's message, all of it read with its header, with room for it. An answer that
    // cannot be settled at once goes out through answer_quick. Anything else goes to serve_quick
    // (a failed Arrival::add changes nothing, so there it is simply tried again).
    if (const auto* sender = std::get_if<PeerRegistry::Sender>(&verdict);
        sender && buffer.size() >= length) {
      slot.identified();
      slot.busy(true);
      auto arrival = s.mailbox.arrive(sender->peer->name);
      if (arrival.add(length)) {
        std::string body(view(buffer).substr(0, length));
        buffer.consume(length);
        auto res = take_quick(s, head, *sender, std::move(body), arrival, owed);
        if (!res && answered_at_once(s, io, buffer, owed, ec)) {
          slot.busy(false);
          if (ec) break;
          continue;
        }
        if (co_await answer_quick(s, io, std::move(res), slot, watchdog, owed) == Next::close) {
          break;
        }
        continue;
      }
    }
    if (co_await serve_quick(s, io, buffer, head, length, std::move(verdict), slot, watchdog,
                             owed) == Next::close) {
      break;
    }
  }
}

// A TLS handshake that failed: OpenSSL has sent its alert. Under TLS 1.3 the client finished its
// side of the handshake already and is sending its request; closing at once would answer that with
// a reset that destroys the alert before the client reads it. Half-close and drain briefly
// instead, so that the client learns why.
asio::awaitable<void> drain_after_refusal(beast::tcp_stream& tcp_stream) {
  beast::error_code ec;
  tcp_stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  tcp_stream.expires_after(std::chrono::seconds(2));
  char sink[4096];
  for (;;) {
    auto [drain_ec, n] = co_await tcp_stream.async_read_some(asio::buffer(sink),
                                                             asio::as_tuple(asio::use_awaitable));
    if (drain_ec) break;
  }
}

// A connection the party cannot take: told why when it speaks plain HTTP, and closed.
asio::awaitable<void> turn_away(State& s, beast::tcp_stream& stream, const std::string& remote_ip,
                                bool over_source) {
  if (auto held_back = s.refused_connections.allow()) {
    log().warn("Refused a connection from {}: {}{}", remote_ip,
               over_source ? "it has as many open as max_connections_per_source allows"
                           : "the party has max_connections open, none of which could be closed",
               held_back_note(*held_back));
  }
  beast::error_code ec;
  if (s.tls == nullptr) {
    // Plain HTTP can be told why; a TLS client is simply closed on (it retries either way).
    auto res = refusal(http::status::service_unavailable,
                       over_source ? "Too many connections from " + remote_ip + "; try again later"
                                   : "Too many connections; try again later");
    res.set(http::field::retry_after, "1");
    stream.expires_after(std::chrono::seconds(2));
    co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
  }
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
}

// One accepted connection, from its first byte to its end.
asio::awaitable<void> session(std::shared_ptr<State> state, tcp::socket socket) {
  State& s = *state;
  beast::tcp_stream stream(std::move(socket));
  beast::error_code ec;
  std::string remote_ip = stream.socket().remote_endpoint(ec).address().to_string();
  bool over_source = false;
  auto slot = s.connections.admit(stream.socket().native_handle(), remote_ip, over_source);
  if (!slot) {
    co_await turn_away(s, stream, remote_ip, over_source);
    co_return;
  }
  auto close_socket = [](beast::tcp_stream& tcp_stream) {
    return [&tcp_stream] {
      beast::error_code ignored;
      tcp_stream.socket().close(ignored);
    };
  };
  slot->on_shed(close_socket(stream));
  // The read buffer bounds a request header, a chunk line and a trailer section.
  beast::flat_buffer buffer(s.config.max_header_bytes + 64 * 1024);
  buffer.reserve(64 * 1024);  // an empty flat_buffer reads 512 bytes at a time
  if (s.tls == nullptr) {
    stream.socket().non_blocking(true, ec);  // answers are written at once when they fit
    co_await serve(s, stream, buffer, remote_ip, "", *slot);
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    co_return;
  }
  // The first bytes, a turn among the handshakes and the whole handshake within idle_timeout.
  const auto deadline = std::chrono::steady_clock::now() + s.config.idle_timeout;
  stream.expires_at(deadline);
  auto [detect_ec, is_tls] =
      co_await beast::async_detect_ssl(stream, buffer, asio::as_tuple(asio::use_awaitable));
  if (detect_ec) co_return;
  if (!is_tls) {
    // A plain-HTTP client: answer it in its own protocol so that it fails clearly.
    log().warn("Refused a plain-HTTP connection from {}: this server speaks HTTPS only", remote_ip);
    http::request_parser<http::string_body> parser;
    parser.body_limit(s.config.max_body_bytes);
    co_await http::async_read_header(stream, buffer, parser, asio::as_tuple(asio::use_awaitable));
    auto res = refusal(http::status::bad_request,
                       "This party serves HTTPS only: give the sending pool a TLS key, "
                       "certificate and CA bundle");
    co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    co_return;
  }
  if (!co_await s.handshakes.enter(remote_ip, deadline)) co_return;  // no turn in time
  struct Turn {
    State& s;
    const std::string& ip;
    bool held = true;
    void leave() {
      if (held) s.handshakes.leave(ip);
      held = false;
    }
    ~Turn() { leave(); }
  } turn{s, remote_ip};
  beast::ssl_stream<beast::tcp_stream> secure(std::move(stream), *s.tls);
  slot->on_shed(close_socket(beast::get_lowest_layer(secure)));
  auto [handshake_ec, used] = co_await secure.async_handshake(
      asio::ssl::stream_base::server, buffer.data(), asio::as_tuple(asio::use_awaitable));
  turn.leave();
  if (handshake_ec) {
    log().warn("Refused a TLS connection from {}: {}", remote_ip,
               detail::explain_tls_failure(handshake_ec, secure.native_handle()));
    co_await drain_after_refusal(beast::get_lowest_layer(secure));
    co_return;
  }
  buffer.consume(used);
  co_await serve(s, secure, buffer, remote_ip, detail::peer_identity(secure.native_handle()),
                 *slot);
  beast::get_lowest_layer(secure).socket().shutdown(tcp::socket::shutdown_both, ec);
}

bool out_of_descriptors(const beast::error_code& ec) {
  return ec == asio::error::no_descriptors ||
         ec == boost::system::errc::too_many_files_open_in_system ||
         ec == asio::error::no_buffer_space || ec == asio::error::no_memory;
}

// Accepts until the acceptor is closed. A failed accept (typically: the process is out of
// descriptors) is not retried at once, which would spin a core while the condition lasts: the
// loop closes the least valuable connection when descriptors are short, and waits, 10 ms at first
// and up to 1 s while failures go on.
asio::awaitable<void> accept_loop(std::shared_ptr<State> state, tcp::acceptor& acceptor) {
  State& s = *state;
  asio::steady_timer pause(acceptor.get_executor());
  std::chrono::milliseconds backoff{0};
  while (acceptor.is_open()) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (!ec) {
      backoff = std::chrono::milliseconds(0);
      socket.set_option(tcp::no_delay(true), ec);
      asio::co_spawn(acceptor.get_executor(), session(state, std::move(socket)), asio::detached);
      continue;
    }
    if (ec == asio::error::operation_aborted) break;
    ++s.accept_failures;
    if (out_of_descriptors(ec)) s.connections.shed_one();
    backoff =
        std::clamp(backoff * 2, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
    if (auto held_back = s.accept_failures_log.allow()) {
      log().warn("Cannot accept connections: {}; trying again in {} ms{}", ec.message(),
                 backoff.count(), held_back_note(*held_back));
    }
    pause.expires_after(backoff);
    co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

// Hands back the memory of released bodies once idle (BodyBuffers::kMaxIdle), waking once a
// second while some is kept, and not at all otherwise.
asio::awaitable<void> sweep_kept_bodies(std::shared_ptr<State> state,
                                        std::shared_ptr<std::atomic<bool>> sweeping) {
  asio::steady_timer tick(co_await asio::this_coro::executor);
  do {
    tick.expires_after(std::chrono::seconds(1));
    co_await tick.async_wait(asio::as_tuple(asio::use_awaitable));
    sweeping->store(false);
  } while (state->bodies->sweep() && !sweeping->exchange(true));
}

}  // namespace

// Released bodies come back on any thread; the first one kept starts the sweep on the network
// thread. The io_context is reached only under the mutex, and not at all once the server is gone
// (it is destroyed before the io_context).
struct Server::Sweeper {
  std::mutex mu;
  asio::io_context* ioc;
  std::weak_ptr<State> state;
  std::shared_ptr<std::atomic<bool>> sweeping = std::make_shared<std::atomic<bool>>(false);

  void start() {
    if (sweeping->exchange(true)) return;
    std::lock_guard lock(mu);
    auto s = state.lock();
    if (ioc == nullptr || !s) return;
    asio::co_spawn(*ioc, sweep_kept_bodies(std::move(s), sweeping), asio::detached);
  }
};

Server::Server(asio::io_context& ioc, const PoolConfig& config, asio::ssl::context* tls,
               PeerRegistry& peers, Mailbox& mailbox)
    : ioc_(ioc),
      state_(std::make_shared<State>(config, tls, peers, mailbox)),
      sweeper_(std::make_shared<Sweeper>()) {
  sweeper_->ioc = &ioc_;
  sweeper_->state = state_;
  std::weak_ptr<Sweeper> sweeper = sweeper_;
  state_->bodies->on_first_kept([sweeper] {
    if (auto s = sweeper.lock()) s->start();
  });
}

Server::~Server() {
  state_->bodies->on_first_kept(nullptr);
  std::lock_guard lock(sweeper_->mu);
  sweeper_->ioc = nullptr;
}

std::uint16_t Server::listen(const std::string& addr, std::uint16_t port) {
  if (acceptor_) throw ConfigurationError("this pool has a server already");
  beast::error_code ec;
  auto address = asio::ip::make_address(addr, ec);
  if (ec) throw ConfigurationError("cannot serve on '" + addr + "': not an IP address");
  tcp::acceptor acceptor(ioc_);
  tcp::endpoint endpoint(address, port);
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec && state_->config.reuse_port) {
    acceptor.set_option(asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true), ec);
  }
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw ConfigurationError("cannot serve on " + addr + ":" + std::to_string(port) + ": " +
                             ec.message());
  }
  port_ = acceptor.local_endpoint().port();
  acceptor_.emplace(std::move(acceptor));
  asio::co_spawn(ioc_, accept_loop(state_, *acceptor_), asio::detached);
  log().info("Serving on {}:{}{}", addr, port_, state_->tls ? " with TLS" : "");
  return port_;
}

void Server::forward(std::function<void(const Peer&, Body)> sink) {
  state_->forward = std::move(sink);
}

void Server::defer_answers(bool on) {
  state_->defer_answers = on && !state_->answers_deferred_no_more;
  if (!on) pay_deferred_answers();
}

void Server::stop_deferring_answers() {
  state_->answers_deferred_no_more = true;
  defer_answers(false);
}

void Server::pay_deferred_answers() {
  std::vector<std::weak_ptr<DeferredAnswers>> deferred;
  deferred.swap(state_->deferred);
  for (const auto& entry : deferred) {
    auto answers = entry.lock();
    if (!answers) continue;
    answers->registered = false;
    // A session that is not waiting for its next request writes what it owes itself (it may be
    // writing it now), or defers it again before it waits.
    if (!answers->reading || answers->owed->empty()) continue;
    beast::error_code ec;
    if (!pay_now(*answers->socket, *answers->owed, ec) || ec) {
      // What the socket does not take now, the session writes: its read is given up for that
      // (and where the write failed, the session learns it from its own).
      answers->reading = false;
      answers->socket->cancel(ec);
    }
  }
  deferred.clear();
  if (state_->deferred.empty()) state_->deferred.swap(deferred);  // keeps the capacity
}

void Server::close() {
  beast::error_code ec;
  if (acceptor_) acceptor_->close(ec);
}

Server::Counts Server::counts() const {
  const auto& c = state_->connections.counts();
  Counts out;
  out.accepted = c.accepted.load();
  out.refused = c.refused.load();
  out.shed = c.shed.load();
  out.open = c.open.load();
  out.peak = c.peak.load();
  out.accept_failures = state_->accept_failures.load();
  out.tls_handshakes = state_->handshakes.under_way();
  out.kept_body_bytes = state_->bodies->kept_bytes();
  return out;
}

}  // namespace tno::mpc::communication::net
