// The coroutine interface of a Pool, on Boost.Asio: await sends and receives from your own
// executor without blocking a thread.
//
//   boost::asio::awaitable<void> party(Pool& pool) {
//     co_await async_send(pool, "Bob", std::string("Hello Bob!"));
//     std::string reply = co_await async_recv<std::string>(pool, "Bob");
//   }
//   boost::asio::co_spawn(ioc, party(pool), boost::asio::detached);
//
// A completion arrives on the thread that runs the pool's network — the pool's own thread, or a
// thread waiting in one of the pool's blocking calls — and is posted from there to the awaiting
// coroutine's executor, which is kept busy (work guard) until it arrives. Failures are rethrown
// at the co_await: DeliveryError, ShutdownError (the pool shut down first), and the codec's
// errors. Any Asio completion token works, not only use_awaitable. This header includes Asio:
// include it only where you use coroutines.
#pragma once

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <memory>
#include <type_traits>

#include "tno/mpc/communication/pool.hpp"

namespace tno::mpc::communication {

namespace detail {
// Holds a completion handler and keeps its executor busy until the handler has run.
template <class Handler>
struct PendingHandler {
  explicit PendingHandler(Handler&& h)
      : handler(std::move(h)),
        work(boost::asio::make_work_guard(boost::asio::get_associated_executor(handler))) {}
  Handler handler;
  boost::asio::executor_work_guard<boost::asio::associated_executor_t<Handler>> work;
};
}  // namespace detail

/// Sends like Pool::send, completing with `void(std::exception_ptr)` once the peer answered 200.
/// The id (and the peer's counter) is taken when this is called, not when it is awaited.
template <Encodable T, class CompletionToken = boost::asio::use_awaitable_t<>>
auto async_send(Pool& pool, std::string_view peer, const T& object,
                std::optional<MessageId> id = std::nullopt, CompletionToken&& token = {}) {
  std::string name(peer);
  return boost::asio::async_initiate<CompletionToken, void(std::exception_ptr)>(
      [&pool, name, message = detail::PoolAccess::packed(pool, name, object, id)](auto handler) {
        using H = std::decay_t<decltype(handler)>;
        auto pending = std::make_shared<detail::PendingHandler<H>>(std::move(handler));
        auto done = [pending](std::exception_ptr error) {
          auto executor = boost::asio::get_associated_executor(pending->handler);
          // Until post() has returned, the handler may already have run on another thread and
          // its context be destroyed; this guard keeps the context running until then.
          auto posting = boost::asio::make_work_guard(executor);
          boost::asio::post(executor, [pending, error]() mutable {
            std::move(pending->handler)(error);
            pending->work.reset();
          });
        };
        try {
          detail::PoolAccess::send(pool, name, message, done);
        } catch (...) {
          done(std::current_exception());  // at the co_await, not out of the executor's run()
        }
      },
      token);
}

/// Receives like Pool::recv, completing with `void(std::exception_ptr, T)`; T is decoded on the
/// awaiting executor. T must be default-constructible (it is passed, empty, with an error).
template <Decodable T = Value, class CompletionToken = boost::asio::use_awaitable_t<>>
auto async_recv(Pool& pool, std::string_view peer, std::optional<MessageId> id = std::nullopt,
                CompletionToken&& token = {}) {
  static_assert(std::is_default_constructible_v<T>,
                "async_recv needs a default-constructible T; receive a Value and convert it");
  std::string name(peer);
  DecodeLimits limits = pool.config().decode_limits;
  WireFormat format = pool.config().wire_format;
  return boost::asio::async_initiate<CompletionToken, void(std::exception_ptr, T)>(
      [&pool, name, id, limits, format](auto handler) {
        using H = std::decay_t<decltype(handler)>;
        auto pending = std::make_shared<detail::PendingHandler<H>>(std::move(handler));
        auto done = [pending, name, limits, format](std::exception_ptr error,
                                                    detail::PoolAccess::Body body) {
          auto executor = boost::asio::get_associated_executor(pending->handler);
          auto posting = boost::asio::make_work_guard(executor);  // see async_send
          boost::asio::post(executor, [pending, name, limits, format, error, body]() mutable {
            T value{};
            if (!error) {
              try {
                value = decode_received<T>(*body, limits, SerializationContext{name, ""}, format);
              } catch (...) {
                error = std::current_exception();
              }
            }
            std::move(pending->handler)(error, std::move(value));
            pending->work.reset();
          });
        };
        try {
          detail::PoolAccess::receive(pool, name, id, done);
        } catch (...) {
          done(std::current_exception(), nullptr);  // see async_send
        }
      },
      token);
}

}  // namespace tno::mpc::communication
