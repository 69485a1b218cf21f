#include "net/watchdog.hpp"

#include <boost/asio/error.hpp>

namespace tno::mpc::communication::net {

struct Watchdog::Watch : std::enable_shared_from_this<Watch> {
  Watch(const boost::asio::any_io_executor& executor, std::function<void()> expiry)
      : timer(executor), on_expiry(std::move(expiry)) {}

  boost::asio::steady_timer timer;
  std::function<void()> on_expiry;  // empty once the watchdog is gone
  Clock::time_point deadline = Clock::time_point::max();
  Clock::time_point armed = Clock::time_point::max();  // when the timer wakes, if waiting
  bool waiting = false;
  bool expired = false;

  void arm(Clock::time_point at) {
    armed = at;
    waiting = true;
    timer.expires_at(at);  // cancels an earlier wait, whose handler then returns at once
    timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec != boost::asio::error::operation_aborted) self->woke();
    });
  }

  void woke() {
    waiting = false;
    if (!on_expiry || deadline == Clock::time_point::max()) return;
    if (Clock::now() < deadline) {
      arm(deadline);
      return;
    }
    expired = true;
    on_expiry();
  }
};

Watchdog::Watchdog(const boost::asio::any_io_executor& executor, std::function<void()> on_expiry)
    : watch_(std::make_shared<Watch>(executor, std::move(on_expiry))) {}

Watchdog::~Watchdog() {
  watch_->on_expiry = nullptr;
  stop();
}

void Watchdog::expires_after(std::chrono::steady_clock::duration limit) {
  Watch& w = *watch_;
  const auto now = Clock::now();
  w.deadline = limit >= Clock::time_point::max() - now ? Clock::time_point::max() : now + limit;
  if (w.deadline == Clock::time_point::max()) return;
  // A later deadline waits for the timer to wake; only an earlier one re-arms it.
  if (!w.waiting || w.deadline < w.armed) w.arm(w.deadline);
}

void Watchdog::expires_never() {
  watch_->deadline = Clock::time_point::max();
}

void Watchdog::stop() {
  watch_->deadline = Clock::time_point::max();
  if (watch_->waiting) {
    watch_->waiting = false;
    watch_->timer.cancel();
  }
}

bool Watchdog::expired() const {
  return watch_->expired;
}

}  // namespace tno::mpc::communication::net
