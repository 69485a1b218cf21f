#include "net/network_loop.hpp"

#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>

namespace tno::mpc::communication::net {

namespace {
// How long the pool's thread waits for a turn held by another before it looks again whether
// callers run the network.
constexpr NetworkLoop::Clock::duration kTurnWait = std::chrono::milliseconds(20);
// How long a caller waits in the kernel at most before it looks at what it waits for again. Its
// wait ends sooner with every event, and what it waits for is settled by a handler, so this only
// bounds the damage of a future settled elsewhere (one wake-up a second while idle).
constexpr NetworkLoop::Clock::duration kCallerSlice = std::chrono::seconds(1);
// How long after a caller stopped waiting the pool's thread leaves the network to callers.
constexpr NetworkLoop::Clock::duration kCallerGrace = std::chrono::milliseconds(1);
}  // namespace

NetworkLoop::Turn::Held::Held(Turn& turn, Deadline until, const std::function<bool()>& done,
                              const std::function<void()>& nudge)
    : turn_(turn) {
  std::unique_lock lock(turn_.mu_);
  if (turn_.taken_ && nudge) {
    lock.unlock();
    nudge();
    lock.lock();
  }
  auto is_free = [&] { return !turn_.taken_ || (done && done()); };
  if (!is_free()) {
    turn_.wanted_.fetch_add(1, std::memory_order_relaxed);
    if (until) {
      turn_.freed_.wait_until(lock, *until, is_free);
    } else {
      turn_.freed_.wait(lock, is_free);
    }
    turn_.wanted_.fetch_sub(1, std::memory_order_relaxed);
  }
  held_ = !turn_.taken_;
  turn_.taken_ = true;
}

NetworkLoop::Turn::Held::~Held() {
  if (!held_) return;
  {
    std::lock_guard lock(turn_.mu_);
    turn_.taken_ = false;
  }
  // Every waiter looks: the one whose wait is done returns, one other takes the turn.
  turn_.freed_.notify_all();
}

NetworkLoop::NetworkLoop(bool own_thread, bool callers_run_network,
                         std::chrono::microseconds poll_before_sleep)
    : own_thread_(own_thread),
      callers_run_network_(callers_run_network),
      poll_before_sleep_(poll_before_sleep),
      work_(boost::asio::make_work_guard(ioc_)) {
  if (own_thread_) thread_ = std::thread([this] { run_in_pool_thread(); });
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

void NetworkLoop::run_ready() {
  if (Turn::Held held(turn_, Clock::now()); held && !ioc_.stopped()) ioc_.poll();
}

NetworkLoop::~NetworkLoop() {
  stop([] {});
}

void NetworkLoop::nudge() {
  boost::asio::post(ioc_, [] {});
}

void NetworkLoop::run_in_pool_thread() {
  while (!ioc_.stopped() && !stopping_.load()) {
    if (callers_run_network_ && callers_waiting_.load() > 0) {
      // Asleep until the last caller leaves (run_until wakes it) or the loop stops.
      std::unique_lock lock(park_mu_);
      parked_deep_.store(true);
      if (callers_waiting_.load() == 0) {
        parked_deep_.store(false);  // the last caller left meanwhile
      } else {
        // The last caller to leave takes the flag down and wakes this thread: once per park.
        parked_.wait(lock, [&] { return !parked_deep_.load() || stopping_.load(); });
      }
      // Callers that come and go (a conversation: send, receive, send...) would otherwise wake
      // this thread at every return: after a wake it sleeps a grace period before it parks again,
      // so it wakes at most once per grace period, and not at all while the party is idle.
      if (!stopping_.load()) parked_.wait_for(lock, kCallerGrace);
      continue;
    }
    if (callers_run_network_ && caller_left_lately()) {
      // A caller that just returned is likely to wait again soon: leave it the network a moment.
      std::unique_lock lock(park_mu_);
      parked_.wait_for(lock, kCallerGrace);
      continue;
    }
    Turn::Held held(turn_, Clock::now() + kTurnWait);
    if (!held || ioc_.stopped() || stopping_.load()) continue;
    run_once();
  }
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
      loop.caller_left_.store(Clock::now().time_since_epoch().count());
      if (--loop.callers_waiting_ == 0 && loop.parked_deep_.exchange(false)) {
        { std::lock_guard lock(loop.park_mu_); }  // the pool's thread waits now, or sees the flag
        loop.parked_.notify_one();
      }
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
    {
      Turn::Held held(turn_, std::nullopt);  // nobody runs the network while it stops
      last();
      work_.reset();
      ioc_.stop();
    }
    {
      std::lock_guard lock(park_mu_);
      parked_.notify_all();
    }
    if (thread_.joinable()) thread_.join();
  });
}

}  // namespace tno::mpc::communication::net
