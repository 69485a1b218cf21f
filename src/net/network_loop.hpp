// Who runs a pool's network, and when. One io_context carries the server and every delivery. A
// thread that waits in a blocking call runs it itself (PoolConfig::callers_run_network), so that
// what it waits for completes in its own thread instead of costing a wake-up and a context switch
// per hand-off; the pool's own thread runs it whenever no caller has waited for a moment, so that
// messages are served and asends go out while the application computes. One thread at a time
// holds the turn to run it; io-thread-only data belongs to the holder.
//
// Nobody wakes without a reason: the holder sleeps in the kernel until an event; a thread that
// wants the turn while another holds it posts an empty handler, which ends the holder's wait; the
// pool's thread sleeps while callers run the network, on a kernel timer that the last caller to
// leave sets to the end of a grace period (moving it on at most once a period), so that callers
// that come and go (a conversation) do not wake it (a caller that waits longer than the period
// does, once), and it takes the network back once they have stayed away that long. An idle pool
// costs no CPU.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

namespace tno::mpc::communication::net {

class NetworkLoop {
 public:
  using Clock = std::chrono::steady_clock;
  using Deadline = std::optional<Clock::time_point>;  // none: no limit

  /// Starts the pool's thread, unless `own_thread` is false: then the program drives the network
  /// from its event loop (descriptor(), run_ready()). See PoolConfig::network_thread,
  /// callers_run_network and poll_before_sleep.
  NetworkLoop(bool own_thread, bool callers_run_network,
              std::chrono::microseconds poll_before_sleep);
  /// Stops (see stop()) if that was not done.
  ~NetworkLoop();
  NetworkLoop(const NetworkLoop&) = delete;
  NetworkLoop& operator=(const NetworkLoop&) = delete;

  boost::asio::io_context& context() noexcept { return ioc_; }

  /// Returns once `done()` holds or `deadline` passes, with done(). Meanwhile this thread runs the
  /// network when callers run it (handling at least what is ready, even when the deadline has
  /// passed already); otherwise, and once the loop is stopped, `wait_for_network_thread(deadline)`
  /// does the waiting and its answer is returned.
  bool run_until(const std::function<bool()>& done, Deadline deadline,
                 const std::function<bool(Deadline)>& wait_for_network_thread);

  /// Waits until `result` is ready or `deadline` passes (running the network meanwhile as
  /// run_until does); true when ready.
  template <class T>
  bool wait(const std::future<T>& result, Deadline deadline) {
    auto ready = [&] {
      return result.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
    };
    return run_until(ready, deadline, [&](Deadline until) {
      if (!until) {
        result.wait();
        return true;
      }
      return result.wait_until(*until) == std::future_status::ready;
    });
  }

  /// Runs `work` on this thread at once, holding the turn, when callers run the network and no
  /// thread runs it now; returns what `work` returns, or false without running it.
  template <class Work>
  bool try_in_turn(Work&& work) {
    if (!callers_run_network_ || stopping_.load(std::memory_order_relaxed)) return false;
    Turn::Held held(turn_, Clock::now());
    return held && !ioc_.stopped() && work();
  }

  /// A descriptor that is readable while the network has work that is ready (Asio's epoll set:
  /// sockets, timers and posted work), for an event loop to watch.
  int descriptor();
  /// Runs what is ready (at most `most_handlers` handlers: what it leaves ready does not make
  /// descriptor() readable), without blocking; does nothing while another thread runs the
  /// network.
  void run_ready(std::optional<std::size_t> most_handlers = std::nullopt);

  /// Stops the network for good: runs `last` while no thread runs it (closing what must not be
  /// touched concurrently), stops the io_context and joins the pool's thread. Handlers not run by
  /// then never run. Idempotent.
  void stop(const std::function<void()>& last);

 private:
  // The right to run the network, held by one thread at a time (a timed mutex would do, but
  // ThreadSanitizer does not understand std::timed_mutex's timed lock).
  class Turn {
   public:
    class Held {
     public:
      /// Holds the turn once it is free, or not at all if it is not free by `until` (none: no
      /// limit) or `done()` holds first (checked whenever the turn is let go). `nudge` runs once
      /// if the turn is held by another thread on entry.
      Held(Turn& turn, Deadline until, const std::function<bool()>& done = {},
           const std::function<void()>& nudge = {});
      ~Held();
      Held(const Held&) = delete;
      Held& operator=(const Held&) = delete;
      explicit operator bool() const { return held_; }

     private:
      Turn& turn_;
      bool held_ = false;
    };

    /// Whether another thread waits for the turn (the holder then lets go soon).
    bool wanted() const noexcept { return wanted_.load(std::memory_order_relaxed) > 0; }

   private:
    bool try_take() noexcept {
      bool free = false;
      return taken_.compare_exchange_strong(free, true);
    }

    // Taking and letting go of a free turn touch only `taken_`; the lock and the condition are
    // for threads that wait (counted in `wanted_`, sequentially consistent with `taken_`, so
    // that a holder letting go either sees a waiter or the waiter sees the turn free).
    std::atomic<bool> taken_{false};
    std::atomic<int> wanted_{0};
    std::mutex mu_;
    std::condition_variable freed_;
  };

  void run_in_pool_thread();
  void run_once();
  bool caller_left_lately() const;
  void nudge();
  /// The last caller left at `now`: the pool's thread is to look again after the grace period.
  void set_grace_timer(Clock::time_point now);
  /// Sets the grace timer to go off at `at` (a steady_clock time); under grace_timer_mu_.
  void set_grace_timer_to(Clock::time_point at, const std::lock_guard<std::mutex>& held);
  /// Sleeps until the grace timer goes off, or `timeout_ms` (-1: no limit).
  void sleep_until_grace_timer(int timeout_ms);

  const bool own_thread_;
  const bool callers_run_network_;
  const std::chrono::microseconds poll_before_sleep_;
  // One thread at a time runs it (the turn): completions posted by the running thread then go to
  // its private queue, without the scheduler's lock.
  boost::asio::io_context ioc_{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  Turn turn_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> callers_waiting_{0};
  std::atomic<Clock::rep> caller_left_{0};  // when a waiting caller last returned
  // The pool's thread sleeps on this timer (a timerfd on the steady clock) while callers run the
  // network; when it goes off last, as set by set_grace_timer().
  int grace_timer_ = -1;
  std::mutex grace_timer_mu_;                  // held while the timer is set
  std::atomic<Clock::rep> grace_timer_at_{0};  // set after the timer, under grace_timer_mu_
  std::once_flag stopped_;
  std::thread thread_;  // last: it starts once everything above exists
};

}  // namespace tno::mpc::communication::net
