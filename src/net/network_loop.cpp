#include "net/network_loop.hpp"

#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/post.hpp>

#include <poll.h>
#include <pthread.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <system_error>

namespace tno::mpc::communication::net {

namespace {
// How long the pool's thread waits for a turn held by another before it looks again whether
// callers run the network.
constexpr NetworkLoop::Clock::duration kTurnWait = std::chrono::milliseconds(20);
// How long a caller waits in the kernel at most before it looks at what it waits for again. Its
// wait ends sooner with every event, and what it waits for is settled by a handler, so this only
// bounds the damage of a future settled elsewhere (one wake-up a second while idle).
constexpr NetworkLoop::Clock::duration kCallerSlice = std::chrono::seconds(1);
// How long after a caller stopped waiting the pool's thread leaves the network to callers: it
// takes the network back between one and two grace periods after the last caller left.
constexpr NetworkLoop::Clock::duration kCallerGrace = std::chrono::milliseconds(1);
constexpr int kCallerGraceMs =
    static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(kCallerGrace).count());
// The name of a pool's thread (15 characters at most).
constexpr const char* kThreadName = "mpc-comm-net";
}  // namespace

NetworkLoop::Turn::Held::Held(Turn& turn, Deadline until, const std::function<bool()>& done,
                              const std::function<void()>& nudge)
    : turn_(turn) {
  // Free: taken without a lock, as nearly every time when one thread runs the network.
  if (turn_.try_take()) {
    held_ = true;
    return;
  }
  if (nudge) nudge();
  std::unique_lock lock(turn_.mu_);
  // Counted before the turn is looked at again, so that a holder letting go sees this thread
  // wait and wakes it (~Held).
  turn_.wanted_.fetch_add(1);
  auto taken_or_done = [&] {
    held_ = turn_.try_take();
    return held_ || (done && done());
  };
  if (until) {
    turn_.freed_.wait_until(lock, *until, taken_or_done);
  } else {
    turn_.freed_.wait(lock, taken_or_done);
  }
  turn_.wanted_.fetch_sub(1);
}

NetworkLoop::Turn::Held::~Held() {
  if (!held_) return;
  turn_.taken_.store(false);
  if (turn_.wanted_.load() == 0) return;
  // Every waiter looks: the one whose wait is done returns, one other takes the turn. The lock
  // makes sure a waiter that counted itself is waiting by now, not about to.
  { std::lock_guard lock(turn_.mu_); }
  turn_.freed_.notify_all();
}

NetworkLoop::NetworkLoop(bool own_thread, bool callers_run_network,
                         std::chrono::microseconds poll_before_sleep)
    : own_thread_(own_thread),
      callers_run_network_(callers_run_network),
      poll_before_sleep_(poll_before_sleep),
      work_(boost::asio::make_work_guard(ioc_)) {
  if (own_thread_ && callers_run_network_) {
    grace_timer_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    if (grace_timer_ < 0) {
      throw std::system_error(errno, std::generic_category(),
                              "cannot create the network loop's timer (timerfd_create)");
    }
  }
  if (own_thread_) {
    try {
      thread_ = std::thread([this] { run_in_pool_thread(); });
    } catch (...) {
      if (grace_timer_ >= 0) ::close(grace_timer_);  // no destructor runs for this object
      throw;
    }
    ::pthread_setname_np(thread_.native_handle(), kThreadName);  // as top -H and perf show it
  }
}

namespace {
// Asio keeps the descriptor of its epoll set private, though a program that drives an io_context
// from an event loop of its own must watch it. It is read through an explicit template
// instantiation, which the language exempts from access checking ([temp.spec.general]).
using Reactor = boost::asio::detail::reactor;
template <class Member, Member Pointer, class Tag>
struct Expose {
  friend Member member_of(Tag) { return Pointer; }
};
struct EpollDescriptor {
  friend int Reactor::*member_of(EpollDescriptor);
};
template struct Expose<int Reactor::*, &Reactor::epoll_fd_, EpollDescriptor>;
}  // namespace

int NetworkLoop::descriptor() {
  return boost::asio::use_service<Reactor>(ioc_).*member_of(EpollDescriptor{});
}

void NetworkLoop::run_ready(std::optional<std::size_t> most_handlers) {
  Turn::Held held(turn_, Clock::now());
  if (!held || ioc_.stopped()) return;
  if (!most_handlers) {
    ioc_.poll();
    return;
  }
  for (std::size_t i = 0; i < *most_handlers && ioc_.poll_one() != 0; ++i) {
  }
}

NetworkLoop::~NetworkLoop() {
  stop([] {});
  if (grace_timer_ >= 0) ::close(grace_timer_);
}

void NetworkLoop::nudge() {
  boost::asio::post(ioc_, [] {});
}

void NetworkLoop::run_in_pool_thread() {
  while (!ioc_.stopped() && !stopping_.load()) {
    if (callers_run_network_ && callers_waiting_.load() > 0) {
      // Callers run the network: asleep until the grace timer goes off, which the last caller to
      // leave sets (so a caller that leaves now is seen), or stop() sets to now.
      sleep_until_grace_timer(-1);
      continue;
    }
    if (callers_run_network_ && caller_left_lately()) {
      // A caller left a moment ago and is likely to wait again soon: the network stays its own
      // until the grace period has passed (bounded here too: callers that leave at once may
      // have left the timer set earlier).
      sleep_until_grace_timer(kCallerGraceMs);
      continue;
    }
    Turn::Held held(turn_, Clock::now() + kTurnWait);
    if (!held || ioc_.stopped() || stopping_.load()) continue;
    run_once();
  }
}

void NetworkLoop::set_grace_timer(Clock::time_point now) {
  // Moved on only when it would go off within a grace period: at most one system call a period.
  auto set_far_enough = [&] {
    return Clock::time_point(Clock::duration(grace_timer_at_.load())) >= now + kCallerGrace;
  };
  if (grace_timer_ < 0 || stopping_.load() || set_far_enough()) return;
  std::lock_guard lock(grace_timer_mu_);
  if (!set_far_enough()) set_grace_timer_to(now + 2 * kCallerGrace, lock);
}

void NetworkLoop::set_grace_timer_to(Clock::time_point at, const std::lock_guard<std::mutex>&) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(at.time_since_epoch());
  itimerspec spec{};
  spec.it_value.tv_sec = static_cast<time_t>(ns.count() / 1'000'000'000);
  spec.it_value.tv_nsec = static_cast<long>(ns.count() % 1'000'000'000);
  if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0) spec.it_value.tv_nsec = 1;
  ::timerfd_settime(grace_timer_, TFD_TIMER_ABSTIME, &spec, nullptr);
  grace_timer_at_.store(at.time_since_epoch().count());
}

void NetworkLoop::sleep_until_grace_timer(int timeout_ms) {
  pollfd ready{grace_timer_, POLLIN, 0};
  while (::poll(&ready, 1, timeout_ms) < 0 && errno == EINTR) {
  }
  std::uint64_t expirations = 0;
  [[maybe_unused]] const auto n = ::read(grace_timer_, &expirations, sizeof expirations);
}

// Handles one event, waiting in the kernel as long as it takes (a caller that wants the turn, and
// stop(), post a handler to end the wait). With poll_before_sleep it keeps polling that long
// before it sleeps: waking a sleeping thread (and, on a virtual machine, its idle core) costs tens
// of microseconds.
void NetworkLoop::run_once() {
  if (poll_before_sleep_.count() > 0) {
    std::size_t handled = ioc_.poll();
    const auto until = Clock::now() + poll_before_sleep_;
    while (handled == 0 && !ioc_.stopped() && Clock::now() < until) handled = ioc_.poll();
    if (handled > 0) return;
  }
  if (!ioc_.stopped()) ioc_.run_one();
}

bool NetworkLoop::caller_left_lately() const {
  return Clock::now() - Clock::time_point(Clock::duration(caller_left_.load())) < kCallerGrace;
}

bool NetworkLoop::run_until(const std::function<bool()>& done, Deadline deadline,
                            const std::function<bool(Deadline)>& wait_for_network_thread) {
  if (!callers_run_network_) return wait_for_network_thread(deadline);
  ++callers_waiting_;
  struct Leave {
    NetworkLoop& loop;
    ~Leave() {
      const auto now = Clock::now();
      loop.caller_left_.store(now.time_since_epoch().count());
      if (--loop.callers_waiting_ == 0) loop.set_grace_timer(now);
    }
  } leave{*this};
  // The pool's thread, if it holds the turn, lets go of it after this handler.
  const std::function<void()> ask_for_turn = [this] { nudge(); };
  for (;;) {
    if (done()) return true;
    // Stopping: the turn goes to stop(), which settles what is still waited for.
    if (stopping_.load()) return wait_for_network_thread(deadline);
    const bool last = deadline && Clock::now() >= *deadline;
    // While another thread runs the network, this one waits for the turn or for done(): each
    // holder lets go after every handler, which may be the one this caller waits for.
    if (Turn::Held held(turn_, last ? Deadline(Clock::now()) : deadline, done, ask_for_turn);
        held) {
      if (ioc_.stopped()) return wait_for_network_thread(deadline);  // stopped: all settled
      if (done()) return true;
      if (last) {
        ioc_.poll();
      } else {
        // Handles events until what this caller waits for is done, the slice ends, or another
        // thread wants the turn (which it asked for with a handler that ends any wait).
        const auto slice_end = Clock::now() + kCallerSlice;
        const auto until = deadline ? std::min(*deadline, slice_end) : slice_end;
        while (ioc_.run_one_until(until) > 0 && !done() && !turn_.wanted()) {
        }
      }
    }
    if (deadline && Clock::now() >= *deadline) return done();
  }
}

void NetworkLoop::stop(const std::function<void()>& last) {
  std::call_once(stopped_, [&] {
    // The pool's thread lets go of the network at once (a handler that does nothing ends its
    // wait for events) and does not take it again, so that the turn comes here without delay.
    stopping_.store(true);
    nudge();
    if (grace_timer_ >= 0) {  // wakes it where callers left it
      std::lock_guard lock(grace_timer_mu_);
      set_grace_timer_to(Clock::now(), lock);
    }
    {
      Turn::Held held(turn_, std::nullopt);  // nobody runs the network while it stops
      last();
      work_.reset();
      ioc_.stop();
    }
    if (thread_.joinable()) thread_.join();
  });
}

}  // namespace tno::mpc::communication::net
