// One deadline per connection in place of a timer per operation. Each step of an exchange says by
// when the connection must have made progress (a clock read and a store); a single timer wakes at
// the deadline, and only then: when the deadline has moved on meanwhile it sleeps again, when it
// has passed it ends the connection. A message then costs no timer system call, where a timer per
// read and per write costs two or three. Runs on the network thread only.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <memory>

namespace tno::mpc::communication::net {

class Watchdog {
 public:
  using Clock = std::chrono::steady_clock;

  /// Watches nothing until expires_after(); `on_expiry` ends the connection (typically: closes
  /// its socket, which fails what is pending on it).
  Watchdog(const boost::asio::any_io_executor& executor, std::function<void()> on_expiry);
  /// Stops watching: on_expiry is not called after this.
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  /// The connection must make progress within `limit` from now.
  void expires_after(std::chrono::steady_clock::duration limit);
  /// No limit: the connection is idle on purpose (a kept-alive client connection).
  void expires_never();
  /// No limit, and no timer left waiting (which would keep an io_context's run() going).
  void stop();
  /// Whether the deadline passed and the connection was ended for it.
  bool expired() const;

 private:
  struct Watch;
  std::shared_ptr<Watch> watch_;  // shared with the timer's handler, which may outlive this
};

}  // namespace tno::mpc::communication::net
