// Handing the core to a peer that has just been sent a request, so that it answers before the
// sender looks for the answer. A peer on the same core is runnable once the request's write has
// woken it; where the sender goes on instead, the peer's 200 later wakes the sender out of its
// wait for events and the core changes hands once more per round trip. The hand-over is a
// sched_yield(), which returns at once where nothing else is runnable on this core (a peer on
// another core).
//
// A yield also lets any other runnable task on this core go first, for as long as the scheduler
// gives it (a busy process: a slice, a millisecond or more, where the sender's wait for events
// would have got the core back at the peer's answer). So a yield that took that long stops the
// yields for a while: 16 ms, four times as long after each long one in a row, at most a second
// (beside a busy process, one long yield a second once the pauses are long); each quick yield
// takes the pause a step back. What a yield is timed by also covers the peer's whole turn:
// its answer and what its program does before it sends (a build many times slower than an
// optimised one may exceed the limit, and then only yields less).
//
// Only for threads scheduled by the fair scheduler (SCHED_OTHER, SCHED_BATCH): a real-time
// thread's yield lets no fair task run, and a SCHED_DEADLINE thread's gives up its runtime.
//
// Not thread-safe: one per thread (what it learns is about the core its thread runs on).
#pragma once

#include <sched.h>

#include <algorithm>
#include <chrono>

namespace tno::mpc::communication::net {

class CoreHandOver {
 public:
  using Clock = std::chrono::steady_clock;
  // Far beyond a peer's turn on this core (tens of microseconds in an optimised build), far below
  // a busy task's slice.
  static constexpr Clock::duration kLongYield = std::chrono::microseconds(200);
  static constexpr Clock::duration kShortestPause = std::chrono::milliseconds(16);
  static constexpr Clock::duration kLongestPause = std::chrono::seconds(1);

  /// Yields the core, unless this thread is not a fair-scheduled one or a recent yield showed
  /// that others wait for the core too.
  void yield() {
    if (!fair_scheduled_) return;
    yield_with([] { ::sched_yield(); }, [] { return Clock::now(); });
  }

  /// yield() for any thread, with the yield and the clock given.
  template <class YieldCore, class Now>
  void yield_with(YieldCore&& yield_core, Now&& now) {
    if (paused_until_ != Clock::time_point() && now() < paused_until_) return;
    const Clock::time_point before = now();
    yield_core();
    const Clock::time_point after = now();
    if (after - before < kLongYield) {
      pause_ /= 4;
      if (pause_ < kShortestPause) pause_ = {};
      paused_until_ = {};
      return;
    }
    pause_ = std::clamp<Clock::duration>(4 * pause_, kShortestPause, kLongestPause);
    paused_until_ = after + pause_;
  }

 private:
  static bool fair_scheduled() {
    const int policy = ::sched_getscheduler(0) & ~SCHED_RESET_ON_FORK;
    return policy == SCHED_OTHER || policy == SCHED_BATCH;
  }

  bool fair_scheduled_ = fair_scheduled();  // the thread's policy when it first sent
  Clock::duration pause_{};                 // after the last long yield
  Clock::time_point paused_until_{};        // none: the epoch
};

}  // namespace tno::mpc::communication::net
