#include "net/network_loop.hpp"

#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>

namespace tno::mpc::communication::net {

namespace {
// How long a thread runs the network before it looks again whether another should.
constexpr NetworkLoop::Clock::duration kSlice = std::chrono::milliseconds(20);
// How long after a caller stopped waiting the pool's thread leaves the network to callers.
constexpr NetworkLoop::Clock::duration kCallerGrace = std::chrono::milliseconds(1);
}  // namespace

NetworkLoop::Turn::Held::Held(Turn& turn, Deadline until) : turn_(turn) {
  std::unique_lock lock(turn_.mu_);
  auto is_free = [&] { return !turn_.taken_; };
  if (until) {
    held_ = turn_.freed_.wait_until(lock, *until, is_free);
  } else {
    turn_.freed_.wait(lock, is_free);
    held_ = true;
  }
  turn_.taken_ = held_;
}

NetworkLoop::Turn::Held::~Held() {
  if (!held_) return;
  {
    std::lock_guard lock(turn_.mu_);
    turn_.taken_ = false;
  }
  turn_.freed_.notify_one();
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

void NetworkLoop::run_in_pool_thread() {
  while (!ioc_.stopped() && !stopping_.load()) {
    if (callers_run_network_ && callers_active()) {
      std::unique_lock lock(park_mu_);
      parked_.wait_for(lock, kCallerGrace);  // stop() notifies
      continue;
    }
    Turn::Held held(turn_, Clock::now() + kSlice);
    if (!held || ioc_.stopped()) continue;
    run_once();
  }
}

// Handles what is ready, or waits up to kSlice for one event. With poll_before_sleep it keeps
// polling that long before it sleeps in the kernel: waking a sleeping thread (and, on a virtual
// machine, its idle core) costs tens of microseconds.
void NetworkLoop::run_once() {
  if (poll_before_sleep_.count() <= 0) {
    ioc_.run_one_for(kSlice);
    return;
  }
  std::size_t handled = ioc_.poll();
  const auto until = Clock::now() + poll_before_sleep_;
  while (handled == 0 && !ioc_.stopped() && Clock::now() < until) handled = ioc_.poll();
  if (handled == 0 && !ioc_.stopped()) ioc_.run_one_for(kSlice);
}

bool NetworkLoop::callers_active() const {
  return callers_waiting_.load() > 0 ||
         Clock::now() - Clock::time_point(Clock::duration(caller_left_.load())) < kCallerGrace;
}

bool NetworkLoop::run_until(const std::function<bool()>& done, Deadline deadline,
                            const std::function<bool(Deadline)>& wait_for_network_thread) {
  if (!callers_run_network_) return wait_for_network_thread(deadline);
  ++callers_waiting_;
  struct Leave {
    NetworkLoop& loop;
    ~Leave() {
      loop.caller_left_.store(Clock::now().time_since_epoch().count());
      --loop.callers_waiting_;
    }
  } leave{*this};
  for (;;) {
    if (done()) return true;
    auto now = Clock::now();
    bool last = deadline && now >= *deadline;
    Clock::duration slice = deadline ? std::min(kSlice, *deadline - now) : kSlice;
    // Another thread runs the network now; it lets go after the event at hand (which may be the
    // one this caller waits for).
    if (Turn::Held held(turn_, now + (last ? Clock::duration(0) : slice)); held) {
      if (ioc_.stopped()) return wait_for_network_thread(deadline);  // stopped: all settled
      if (last) {
        ioc_.poll();
      } else {
        ioc_.run_one_for(slice);
      }
    }
    if (last) return done();
  }
}

void NetworkLoop::stop(const std::function<void()>& last) {
  std::call_once(stopped_, [&] {
    // The pool's thread lets go of the network at once (a handler that does nothing ends its
    // wait for events) and does not take it again, so that the turn comes here without delay.
    stopping_.store(true);
    boost::asio::post(ioc_, [] {});
    {
      Turn::Held held(turn_, std::nullopt);  // nobody runs the network while it stops
      last();
      work_.reset();
      ioc_.stop();
    }
    parked_.notify_all();
    if (thread_.joinable()) thread_.join();
  });
}

}  // namespace tno::mpc::communication::net
