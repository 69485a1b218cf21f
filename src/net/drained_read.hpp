// A read of a plain TCP socket that tells Asio's reactor when it leaves the socket empty.
//
// Asio's epoll reactor is edge-triggered: it learns that a socket became readable only from an
// event, and an event that comes while no read waits is not kept. So every read starts by trying
// the socket (a "speculative" read), unless the last read found it empty ("exhausted") and no
// event came since; for a stream it counts only a read of nothing (end of stream, an error) as
// exhausted. In a conversation every read after the first of a connection tries the socket when
// the peer cannot have answered yet: a system call per message and side that fails.
//
// A read that took less than it asked for found no more bytes, and every byte that arrives after
// it raises an event of its own. But an end of stream or a reset that came with those bytes is
// still pending, and raises no event again: a read that waited for one would wait until its
// timer. So the caller says when a short read leaves nothing that matters pending: where it ends a
// whole answer or request, after which this side writes to the peer before it reads again, so
// that a reset shows on that write (the caller must act on a failed write) and a peer that closed
// answers the write with a reset, an event anew. What is left: a peer that only shut down its
// sending side right after its request, and waits for this side's end of stream, waits until this
// side's read times out. The reactor is told under the socket's own lock, as for its own
// exhausted reads, so it holds whichever thread runs the reactor.
#pragma once

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/detail/bind_handler.hpp>
#include <boost/asio/detail/fenced_block.hpp>
#include <boost/asio/detail/handler_alloc_helpers.hpp>
#include <boost/asio/detail/handler_cont_helpers.hpp>
#include <boost/asio/detail/handler_work.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/detail/socket_ops.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/version.hpp>

#include <cstddef>
#include <memory>
#include <string_view>
#include <utility>

// The operation below is written against Asio 1.26 (Boost 1.81)'s reactor internals; another
// version falls back to async_read_some until it is checked.
#if defined(BOOST_ASIO_HAS_EPOLL) && !defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT) && \
    BOOST_ASIO_VERSION == 102600
#define TNO_MPC_COMM_DRAINED_READS 1
#else
#define TNO_MPC_COMM_DRAINED_READS 0
#endif

namespace tno::mpc::communication::net {

#if TNO_MPC_COMM_DRAINED_READS
namespace drained_read_detail {

namespace ad = boost::asio::detail;
using Reactor = ad::epoll_reactor;
using Socket = boost::asio::ip::tcp::socket;
using SocketImplementation = ad::reactive_socket_service_base::base_implementation_type;

// The socket's reactor-side state: basic_socket keeps it protected, as a derived class sees it.
struct SocketAccess : Socket {
  static SocketImplementation& implementation(Socket& socket) {
    return (socket.*&SocketAccess::impl_).get_implementation();
  }
};

// The reactor a registered socket belongs to, which its state keeps privately (drained_read.cpp).
Reactor* reactor_of(Reactor::descriptor_state* state) noexcept;

// Cancels the read per operation, as Asio's own reads do.
class Cancellation {
 public:
  Cancellation(Reactor* reactor, Reactor::per_descriptor_data* state, int descriptor)
      : reactor_(reactor), state_(state), descriptor_(descriptor) {}
  void operator()(boost::asio::cancellation_type_t type) {
    using boost::asio::cancellation_type;
    if (!!(type &
           (cancellation_type::terminal | cancellation_type::partial | cancellation_type::total))) {
      reactor_->cancel_ops_by_key(descriptor_, *state_, Reactor::read_op, this);
    }
  }

 private:
  Reactor* reactor_;
  Reactor::per_descriptor_data* state_;
  int descriptor_;
};

// Asio's receive operation for one buffer, but for the status of a short read that `drained`
// judges to leave the socket empty.
template <class Handler, class IoExecutor, class Drained>
class ReadOp : public ad::reactor_op {
 public:
  BOOST_ASIO_DEFINE_HANDLER_PTR(ReadOp);

  ReadOp(int descriptor, boost::asio::mutable_buffer into, Drained drained, Handler& handler,
         const IoExecutor& io_executor)
      : reactor_op(boost::system::error_code(), &ReadOp::perform, &ReadOp::complete),
        descriptor_(descriptor),
        into_(into),
        drained_(std::move(drained)),
        handler_(std::move(handler)),
        work_(handler_, io_executor) {}

  static status perform(reactor_op* base) {
    auto* op = static_cast<ReadOp*>(base);
    if (!ad::socket_ops::non_blocking_recv1(op->descriptor_, op->into_.data(), op->into_.size(), 0,
                                            /*is_stream=*/true, op->ec_, op->bytes_transferred_)) {
      if constexpr (requires { op->drained_.waited(); }) op->drained_.waited();
      return not_done;  // nothing there yet: the reactor waits for an event
    }
    const std::size_t got = op->bytes_transferred_;
    if (got == 0) return done_and_exhausted;  // end of stream or an error, as Asio has it
    return got < op->into_.size() &&
                   op->drained_(std::string_view(static_cast<const char*>(op->into_.data()), got))
               ? done_and_exhausted
               : done;
  }

  static void complete(void* owner, ad::operation* base, const boost::system::error_code&,
                       std::size_t) {
    auto* op = static_cast<ReadOp*>(base);
    ptr p = {std::addressof(op->handler_), op, op};
    ad::handler_work<Handler, IoExecutor> work(std::move(op->work_));
    // The handler moves out before the operation's memory is freed (it may own that memory).
    ad::binder2<Handler, boost::system::error_code, std::size_t> handler(op->handler_, op->ec_,
                                                                         op->bytes_transferred_);
    p.h = std::addressof(handler.handler_);
    p.reset();
    if (owner) {
      ad::fenced_block block(ad::fenced_block::half);
      work.complete(handler, handler.handler_);
    }
  }

 private:
  int descriptor_;
  boost::asio::mutable_buffer into_;
  Drained drained_;
  Handler handler_;
  ad::handler_work<Handler, IoExecutor> work_;
};

}  // namespace drained_read_detail
#endif

/// socket.async_read_some(into, token), except that after a read that took fewer bytes than
/// `into` holds (and some), `drained(bytes)` is asked (under the socket's lock, by the thread that
/// runs the reactor or, at once, by this call) whether the socket holds nothing that matters now:
/// if so, the next read waits for an event before it tries the socket. Answer true only where
/// `bytes` end a whole answer or request (see the top of this file); do not throw.
/// `drained.waited()`, if there is one, is called when the read tried the socket and found
/// nothing. `into` must not be empty.
template <class Drained, class Token>
auto async_read_some_noting_drained(boost::asio::ip::tcp::socket& socket,
                                    boost::asio::mutable_buffer into, Drained drained,
                                    Token&& token) {
#if TNO_MPC_COMM_DRAINED_READS
  return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
      [&socket, into, drained = std::move(drained)](auto handler) mutable {
        namespace d = drained_read_detail;
        using Handler = decltype(handler);
        using IoExecutor = d::Socket::executor_type;
        using Op = d::ReadOp<Handler, IoExecutor, Drained>;
        auto& impl = d::SocketAccess::implementation(socket);
        if (impl.reactor_data_ == nullptr || into.size() == 0 ||
            (impl.state_ & d::ad::socket_ops::non_blocking) == 0) {
          socket.async_read_some(into, std::move(handler));  // as Asio does it
          return;
        }
        d::Reactor* reactor = d::reactor_of(impl.reactor_data_);
        const bool is_continuation = boost_asio_handler_cont_helpers::is_continuation(handler);
        auto slot = boost::asio::get_associated_cancellation_slot(handler);
        typename Op::ptr p = {std::addressof(handler), Op::ptr::allocate(handler), nullptr};
        p.p = new (p.v) Op(impl.socket_, into, std::move(drained), handler, socket.get_executor());
        if (slot.is_connected()) {
          p.p->cancellation_key_ =
              &slot.template emplace<d::Cancellation>(reactor, &impl.reactor_data_, impl.socket_);
        }
        reactor->start_op(d::Reactor::read_op, impl.socket_, impl.reactor_data_, p.p,
                          is_continuation, /*allow_speculative=*/true);
        p.v = p.p = nullptr;
      },
      token);
#else
  (void)drained;
  return socket.async_read_some(into, std::forward<Token>(token));
#endif
}

}  // namespace tno::mpc::communication::net
