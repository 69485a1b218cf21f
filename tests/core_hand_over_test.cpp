#include "net/core_hand_over.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace tno::mpc::communication::net {
namespace {

using namespace std::chrono_literals;
using Clock = CoreHandOver::Clock;

// A core whose yields take as long as the test says, on a clock the test moves.
struct FakeCore {
  Clock::time_point now = Clock::time_point() + 1h;
  Clock::duration next_yield_takes = 10us;
  int yields = 0;

  // Calls hand_over.yield() `times` times, `apart` apart; returns how many of them yielded.
  int yield(CoreHandOver& hand_over, int times = 1, Clock::duration apart = 1us) {
    const int before = yields;
    for (int i = 0; i < times; ++i) {
      hand_over.yield_with(
          [&] {
            ++yields;
            now += next_yield_takes;
          },
          [&] { return now; });
      now += apart;
    }
    return yields - before;
  }
};

TEST(CoreHandOver, QuickYieldsGoOn) {
  CoreHandOver hand_over;
  FakeCore core;
  EXPECT_EQ(core.yield(hand_over, 1000), 1000);
}

TEST(CoreHandOver, ALongYieldPausesTheYieldsLongerEachTimeInARow) {
  CoreHandOver hand_over;
  FakeCore core;
  core.next_yield_takes = CoreHandOver::kLongYield;  // another task had the core
  EXPECT_EQ(core.yield(hand_over), 1);
  // Paused for the shortest pause: sends meanwhile do not yield.
  EXPECT_EQ(core.yield(hand_over, 100, CoreHandOver::kShortestPause / 101), 0);
  core.now += CoreHandOver::kShortestPause;
  EXPECT_EQ(core.yield(hand_over), 1);  // long again: four times as long a pause
  core.now += 3 * CoreHandOver::kShortestPause;
  EXPECT_EQ(core.yield(hand_over), 0);
  core.now += CoreHandOver::kShortestPause;
  EXPECT_EQ(core.yield(hand_over), 1);
  // The pauses grow to the longest and no further.
  for (int i = 0; i < 10; ++i) {
    core.now += CoreHandOver::kLongestPause;
    EXPECT_EQ(core.yield(hand_over), 1);
  }
  core.now += CoreHandOver::kLongestPause - 1ms;
  EXPECT_EQ(core.yield(hand_over), 0);
  core.now += 1ms;
  // Each quick yield takes the pause a step back (a fourth): after one, the next long yield pauses
  // for a second again; after a few more, for the shortest pause.
  core.next_yield_takes = CoreHandOver::kLongYield - 1us;
  EXPECT_EQ(core.yield(hand_over), 1);
  core.next_yield_takes = CoreHandOver::kLongYield;
  EXPECT_EQ(core.yield(hand_over), 1);
  core.now += CoreHandOver::kLongestPause - 1ms;
  EXPECT_EQ(core.yield(hand_over), 0);
  core.now += 1ms;
  core.next_yield_takes = CoreHandOver::kLongYield - 1us;
  EXPECT_EQ(core.yield(hand_over, 6), 6);
  core.next_yield_takes = CoreHandOver::kLongYield;
  EXPECT_EQ(core.yield(hand_over), 1);
  EXPECT_EQ(core.yield(hand_over, 10, CoreHandOver::kShortestPause / 11), 0);
  core.now += CoreHandOver::kShortestPause;
  EXPECT_EQ(core.yield(hand_over), 1);
}

}  // namespace
}  // namespace tno::mpc::communication::net
