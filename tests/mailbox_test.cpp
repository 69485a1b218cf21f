// The mailbox on its own: what becomes of offered messages, waiting receives, withdrawal, room
// accounting and closing. No sockets, no threads but the test's own.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <fstream>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "memory.hpp"
#include "net/mailbox.hpp"

namespace tno::mpc::communication::net {
namespace {

Body body_of(std::string text) {
  return std::make_shared<const ReceivedBody>(std::move(text));
}

// What a stored body of `text` costs.
std::size_t cost(std::string text) {
  return body_of(std::move(text))->footprint() + Mailbox::kStoredMessageOverhead;
}

Mailbox::Limits room(std::size_t bytes_per_peer) {
  Mailbox::Limits limits;
  limits.bytes_per_peer = bytes_per_peer;
  return limits;
}

// A receive's completion that records what it got.
struct Received {
  int calls = 0;
  Body body;
  std::exception_ptr error;
  ReceiveCompletion completion() {
    return [this](std::exception_ptr e, Body b) {
      ++calls;
      error = e;
      body = std::move(b);
    };
  }
};

constexpr std::size_t kRoom = 2000;

TEST(Mailbox, AMessageNobodyWaitsForIsStoredAndTakenLater) {
  Mailbox box(room(kRoom));
  EXPECT_EQ(box.offer("alice", MessageId(0), body_of("hello")), Mailbox::Outcome::stored);
  EXPECT_EQ(box.stored_bytes("alice"), cost("hello"));
  EXPECT_EQ(box.stored_messages("alice"), 1u);
  Received r;
  box.take_or_wait("alice", MessageId(0), r.completion());
  EXPECT_EQ(r.calls, 1);  // at once, on this thread
  ASSERT_TRUE(r.body);
  EXPECT_EQ(r.body->view(), "hello");
  EXPECT_EQ(box.stored_bytes("alice"), 0u);
  EXPECT_EQ(box.stored_messages("alice"), 0u);
}

TEST(Mailbox, AWaitingReceiveGetsItsMessageAfterItWasCounted) {
  Mailbox box(room(kRoom));
  Received r;
  box.take_or_wait("alice", MessageId("round-1"), r.completion());
  EXPECT_EQ(r.calls, 0);
  int counted = 0;
  int calls_when_counted = -1;
  auto count = [&] {
    ++counted;
    calls_when_counted = r.calls;
  };
  EXPECT_EQ(box.offer("alice", MessageId("round-1"), body_of("x"), count),
            Mailbox::Outcome::delivered);
  EXPECT_EQ(counted, 1);
  EXPECT_EQ(calls_when_counted, 0);  // counted before the receive saw it
  EXPECT_EQ(r.calls, 1);
  EXPECT_EQ(r.body->view(), "x");
  EXPECT_EQ(box.stored_messages("alice"), 0u);  // delivered, never stored
}

TEST(Mailbox, AnIdenticalResendIsKeptOnceAndADifferentOneIsAConflict) {
  Mailbox box(room(kRoom));
  EXPECT_EQ(box.offer("alice", MessageId(3), body_of("abc")), Mailbox::Outcome::stored);
  EXPECT_EQ(box.offer("alice", MessageId(3), body_of("abc")), Mailbox::Outcome::duplicate);
  EXPECT_EQ(box.offer("alice", MessageId(3), body_of("abd")), Mailbox::Outcome::conflict);
  EXPECT_EQ(box.stored_messages("alice"), 1u);
  EXPECT_EQ(box.stored_bytes("alice"), cost("abc"));
  Received r;
  box.take_or_wait("alice", MessageId(3), r.completion());
  EXPECT_EQ(r.body->view(), "abc");  // the first one
}

TEST(Mailbox, IntAndStrIdsAndPeersAreKeptApart) {
  Mailbox box(room(kRoom));
  EXPECT_EQ(box.offer("alice", MessageId(5), body_of("int")), Mailbox::Outcome::stored);
  EXPECT_EQ(box.offer("alice", MessageId("5"), body_of("str")), Mailbox::Outcome::stored);
  EXPECT_EQ(box.offer("bob", MessageId(5), body_of("bob")), Mailbox::Outcome::stored);
  Received as_str, as_int, from_bob;
  box.take_or_wait("alice", MessageId("5"), as_str.completion());
  box.take_or_wait("alice", MessageId(5), as_int.completion());
  box.take_or_wait("bob", MessageId(5), from_bob.completion());
  EXPECT_EQ(as_str.body->view(), "str");
  EXPECT_EQ(as_int.body->view(), "int");
  EXPECT_EQ(from_bob.body->view(), "bob");
}

// Int ids that fit int64_t are keyed by their number, others by their text: ids of every size
// meet their own messages, and an int that arrives decoded from an unsigned form meets the same
// int made by a program.
TEST(Mailbox, IdsOfEverySizeMeetTheirOwnMessages) {
  Mailbox box(room(100000));
  const std::vector<MessageId> ids{
      MessageId(std::numeric_limits<std::int64_t>::min()),
      MessageId(-1),
      MessageId(0),
      MessageId(std::numeric_limits<std::int64_t>::max()),
      MessageId::from_value(Value(std::numeric_limits<std::uint64_t>::max())),
      MessageId::from_value(Value(BigInt::from_string("18446744073709551616"))),
      MessageId::from_value(Value(BigInt::from_string("-18446744073709551617"))),
      MessageId("9223372036854775807"),
      MessageId(""),
  };
  for (std::size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(box.offer("alice", ids[i], body_of(std::to_string(i))), Mailbox::Outcome::stored)
        << ids[i].to_string();
  }
  for (std::size_t i = ids.size(); i-- > 0;) {
    Received r;
    box.take_or_wait("alice", ids[i], r.completion());
    ASSERT_EQ(r.calls, 1) << ids[i].to_string();
    EXPECT_EQ(r.body->view(), std::to_string(i));
  }
  EXPECT_EQ(box.stored_messages("alice"), 0u);
  EXPECT_EQ(box.offer("alice", MessageId::from_value(Value(std::uint64_t{5})), body_of("five")),
            Mailbox::Outcome::stored);
  Received five;
  box.take_or_wait("alice", MessageId(5), five.completion());
  ASSERT_EQ(five.calls, 1);
  EXPECT_EQ(five.body->view(), "five");
}

// A wait for a peer's least id (the least int, the empty str) is found when the room asks
// whether a receive waits for that peer.
TEST(Mailbox, AWaitForThePeersLeastIdCounts) {
  for (const MessageId& least :
       {MessageId(std::numeric_limits<std::int64_t>::min()), MessageId("")}) {
    Mailbox box(room(kRoom));
    EXPECT_EQ(box.offer("alice", MessageId(9), body_of(std::string(1500, 'a'))),
              Mailbox::Outcome::stored);
    EXPECT_EQ(box.room_for("alice", 600), Mailbox::Room::none);
    Received r;
    box.take_or_wait("alice", least, r.completion());
    EXPECT_EQ(box.room_for("alice", 600), Mailbox::Room::only_if_awaited) << least.to_string();
    EXPECT_EQ(box.room_for("bob", 600), Mailbox::Room::available);
  }
}

TEST(Mailbox, WaitingTwiceForOneMessageIsRefused) {
  Mailbox box(room(kRoom));
  Received first, second;
  box.take_or_wait("alice", MessageId(1), first.completion());
  EXPECT_THROW(box.take_or_wait("alice", MessageId(1), second.completion()), ConfigurationError);
  EXPECT_EQ(box.offer("alice", MessageId(1), body_of("m")), Mailbox::Outcome::delivered);
  EXPECT_EQ(first.calls, 1);
  EXPECT_EQ(second.calls, 0);
}

TEST(Mailbox, AWithdrawnReceiveIsNeverCompletedAndItsMessageIsStored) {
  Mailbox box(room(kRoom));
  Received r;
  box.take_or_wait("alice", MessageId(7), r.completion());
  EXPECT_TRUE(box.withdraw("alice", MessageId(7)));
  EXPECT_FALSE(box.withdraw("alice", MessageId(7)));  // nothing waits any more
  EXPECT_EQ(box.offer("alice", MessageId(7), body_of("late")), Mailbox::Outcome::stored);
  EXPECT_EQ(r.calls, 0);
  Received again;
  box.take_or_wait("alice", MessageId(7), again.completion());
  EXPECT_EQ(again.body->view(), "late");
}

TEST(Mailbox, WithdrawingAfterTheMessageArrivedIsTooLate) {
  Mailbox box(room(kRoom));
  Received r;
  box.take_or_wait("alice", MessageId(8), r.completion());
  EXPECT_EQ(box.offer("alice", MessageId(8), body_of("m")), Mailbox::Outcome::delivered);
  EXPECT_FALSE(box.withdraw("alice", MessageId(8)));  // the receive got it
  EXPECT_EQ(r.calls, 1);
}

TEST(Mailbox, OnlyAcceptedMessagesAreCounted) {
  Mailbox box(room(kRoom));
  int counted = 0;
  auto count = [&] { ++counted; };
  EXPECT_EQ(box.offer("alice", MessageId(0), body_of(std::string(3000, 'a')), count),
            Mailbox::Outcome::stored);
  EXPECT_EQ(box.offer("alice", MessageId(0), body_of(std::string(3000, 'a')), count),
            Mailbox::Outcome::duplicate);
  EXPECT_EQ(box.offer("alice", MessageId(0), body_of("other"), count), Mailbox::Outcome::conflict);
  EXPECT_EQ(box.offer("alice", MessageId(1), body_of("no room"), count), Mailbox::Outcome::no_room);
  EXPECT_EQ(counted, 1);
}

TEST(Mailbox, RoomRunsShortOnlyWhileSomethingIsHeld) {
  Mailbox box(room(kRoom));
  // One message larger than the room is let in when nothing else is held.
  EXPECT_EQ(box.room_for("alice", 100000), Mailbox::Room::available);
  const std::string big(3000, 'a');
  EXPECT_EQ(box.offer("alice", MessageId(0), body_of(big)), Mailbox::Outcome::stored);
  EXPECT_EQ(box.stored_bytes("alice"), cost(big));  // its real cost, not only its bytes
  EXPECT_EQ(box.room_for("alice", 1), Mailbox::Room::none);
  EXPECT_EQ(box.room_for("bob", 1500), Mailbox::Room::available);  // per peer
  EXPECT_EQ(box.offer("alice", MessageId(1), body_of("b")), Mailbox::Outcome::no_room);
  Received r;
  box.take_or_wait("alice", MessageId(0), r.completion());
  EXPECT_EQ(box.stored_bytes("alice"), 0u);
  EXPECT_EQ(box.room_for("alice", 1500), Mailbox::Room::available);
}

TEST(Mailbox, AMessageOverTheRoomIsLetInWhenItIsAwaited) {
  Mailbox box(room(kRoom));
  const std::string first(1500, 'a');
  EXPECT_EQ(box.offer("alice", MessageId(9), body_of(first)), Mailbox::Outcome::stored);
  EXPECT_EQ(box.room_for("alice", 600), Mailbox::Room::none);
  Received r;
  box.take_or_wait("alice", MessageId(2), r.completion());
  // Judged on the header, it may be the awaited one; judged whole, only that one gets in.
  EXPECT_EQ(box.room_for("alice", 600), Mailbox::Room::only_if_awaited);
  EXPECT_EQ(box.offer("alice", MessageId(3), body_of(std::string(600, 'b'))),
            Mailbox::Outcome::no_room);
  EXPECT_EQ(box.offer("alice", MessageId(2), body_of(std::string(600, 'c'))),
            Mailbox::Outcome::delivered);
  EXPECT_EQ(r.body->size(), 600u);
  EXPECT_EQ(box.stored_bytes("alice"), cost(first));
}

TEST(Mailbox, BodiesStillArrivingTakeRoom) {
  Mailbox box(room(kRoom));
  {
    auto arrival = box.arrive("alice");
    EXPECT_TRUE(arrival.add(1500));
    EXPECT_EQ(box.held("alice").arriving_bytes, 1500u);
    EXPECT_EQ(box.room_for("alice", 1000), Mailbox::Room::none);
    auto second = box.arrive("alice");
    EXPECT_FALSE(second.add(600));  // over the room: refused, nothing counted
    EXPECT_TRUE(second.add(400));
    EXPECT_FALSE(arrival.add(1000));  // now something else is held
    EXPECT_EQ(arrival.bytes(), 1500u);
    EXPECT_EQ(box.held("alice").arriving_bytes, 1900u);
  }
  EXPECT_EQ(box.held("alice").arriving_bytes, 0u);  // released with the arrivals
  {
    // One body over the room arrives whole while nothing else is held.
    auto alone = box.arrive("alice");
    EXPECT_TRUE(alone.add(1500));
    EXPECT_TRUE(alone.add(1500));
    EXPECT_FALSE(box.arrive("alice").add(1));
  }
  // An arrival ends when its message is offered: then the message counts as stored.
  auto arrival = box.arrive("alice");
  const std::string body(1200, 'm');
  ASSERT_TRUE(arrival.add(body.size()));
  EXPECT_EQ(box.offer("alice", MessageId(0), body_of(body), nullptr, &arrival),
            Mailbox::Outcome::stored);
  EXPECT_EQ(arrival.bytes(), 0u);
  const Mailbox::Held held = box.held("alice");
  EXPECT_EQ(held.arriving_bytes, 0u);
  EXPECT_EQ(held.stored_bytes, cost(body));
}

TEST(Mailbox, AWaitedMessageMayArriveBeyondTheRoom) {
  Mailbox box(room(kRoom));
  EXPECT_EQ(box.offer("alice", MessageId(0), body_of(std::string(1800, 'a'))),
            Mailbox::Outcome::stored);
  auto arrival = box.arrive("alice");
  EXPECT_FALSE(arrival.add(1000));
  Received r;
  box.take_or_wait("alice", MessageId(1), r.completion());
  EXPECT_TRUE(arrival.add(1000));  // it may be the awaited one
  EXPECT_EQ(box.offer("alice", MessageId(1), body_of(std::string(1000, 'b')), nullptr, &arrival),
            Mailbox::Outcome::delivered);
  EXPECT_EQ(r.calls, 1);
}

TEST(Mailbox, ThePartysBudgetBoundsAllPeersTogether) {
  Mailbox::Limits limits;
  limits.bytes_per_peer = 10000;
  limits.bytes = 5000;
  Mailbox box(limits);
  EXPECT_EQ(box.offer("alice", MessageId(0), body_of(std::string(3000, 'a'))),
            Mailbox::Outcome::stored);
  EXPECT_EQ(box.room_for("bob", 3000), Mailbox::Room::none);  // bob's own room would allow it
  auto arrival = box.arrive("bob");
  EXPECT_FALSE(arrival.add(3000));
  EXPECT_TRUE(arrival.add(1000));
  EXPECT_EQ(box.held().arriving_bytes, 1000u);
  EXPECT_EQ(box.offer("bob", MessageId(0), body_of(std::string(3000, 'b'))),
            Mailbox::Outcome::no_room);
  Received r;
  box.take_or_wait("alice", MessageId(0), r.completion());
  EXPECT_EQ(box.room_for("bob", 3000), Mailbox::Room::available);
}

TEST(Mailbox, StoredMessagesPerPeerAreCapped) {
  Mailbox::Limits limits;
  limits.messages_per_peer = 3;
  Mailbox box(limits);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(box.offer("alice", MessageId(i), body_of("m")), Mailbox::Outcome::stored);
  }
  EXPECT_EQ(box.room_for("alice", 1), Mailbox::Room::none);
  EXPECT_EQ(box.offer("alice", MessageId(3), body_of("m")), Mailbox::Outcome::no_room);
  EXPECT_EQ(box.offer("bob", MessageId(3), body_of("m")), Mailbox::Outcome::stored);
  Received r;
  box.take_or_wait("alice", MessageId(4), r.completion());
  EXPECT_EQ(box.offer("alice", MessageId(4), body_of("m")), Mailbox::Outcome::delivered);
  EXPECT_EQ(box.stored_messages("alice"), 3u);
}

// What a stored message is counted at covers what it really costs: 100,000 tiny messages under
// ids nobody asked for grow the process by no more than they are counted at.
TEST(Mailbox, AStoredMessageIsCountedAtLeastAtWhatItCosts) {
  if (!test::memory_is_measurable()) GTEST_SKIP() << "a sanitizer's allocator pads every block";
  Mailbox box(room(std::size_t{1} << 30));
  const std::size_t before = test::resident_bytes();
  for (int i = 0; i < 100000; ++i) {
    ASSERT_EQ(box.offer("alice", MessageId("unasked-" + std::to_string(i)), body_of("\xc0")),
              Mailbox::Outcome::stored);
  }
  const std::size_t grown = test::resident_bytes() - before;
  const std::size_t counted = box.stored_bytes("alice");
  EXPECT_GT(grown, 0u);
  EXPECT_LE(grown, counted) << "grown " << grown << " B, counted " << counted << " B";
}

TEST(Mailbox, ClosingEndsEveryWaitAndRefusesNewMessages) {
  Mailbox box(room(kRoom));
  EXPECT_EQ(box.offer("alice", MessageId(0), body_of("kept")), Mailbox::Outcome::stored);
  Received waiting;
  box.take_or_wait("bob", MessageId(4), waiting.completion());
  std::vector<std::string> ended;
  box.close([&](const std::string& peer, const MessageId& id) {
    ended.push_back(peer + "/" + id.to_string());
    return std::make_exception_ptr(ShutdownError("closed"));
  });
  ASSERT_EQ(waiting.calls, 1);
  EXPECT_FALSE(waiting.body);
  EXPECT_THROW(std::rethrow_exception(waiting.error), ShutdownError);
  EXPECT_EQ(ended, std::vector<std::string>{"bob/4"});
  EXPECT_EQ(box.offer("alice", MessageId(1), body_of("x")), Mailbox::Outcome::closed);
  Received stored;
  box.take_or_wait("alice", MessageId(0), stored.completion());  // what arrived is still there
  EXPECT_EQ(stored.body->view(), "kept");
  Received missing;
  EXPECT_THROW(box.take_or_wait("alice", MessageId(1), missing.completion()), ShutdownError);
  EXPECT_EQ(missing.calls, 0);
}

// Receivers and senders on several threads, in either order: every message reaches its receive
// exactly once (run under ThreadSanitizer in CI).
TEST(Mailbox, EveryMessageReachesItsReceiveOnceAcrossThreads) {
  Mailbox box(room(std::size_t{1} << 30));
  constexpr int kMessages = 2000;
  std::vector<std::atomic<int>> calls(kMessages);
  std::atomic<int> wrong{0};
  auto receive = [&](int first) {
    for (int i = first; i < kMessages; i += 2) {
      box.take_or_wait("alice", MessageId(i), [&, i](std::exception_ptr e, Body b) {
        if (e || !b || b->view() != std::to_string(i)) ++wrong;
        ++calls[static_cast<std::size_t>(i)];
      });
    }
  };
  auto send = [&](int first) {
    for (int i = first; i < kMessages; i += 2) {
      auto outcome = box.offer("alice", MessageId(i), body_of(std::to_string(i)));
      if (outcome != Mailbox::Outcome::stored && outcome != Mailbox::Outcome::delivered) ++wrong;
    }
  };
  std::vector<std::thread> threads;
  threads.emplace_back(receive, 0);
  threads.emplace_back(send, 0);
  threads.emplace_back(send, 1);
  threads.emplace_back(receive, 1);
  for (auto& t : threads) t.join();
  EXPECT_EQ(wrong.load(), 0);
  for (int i = 0; i < kMessages; ++i) EXPECT_EQ(calls[static_cast<std::size_t>(i)].load(), 1) << i;
  EXPECT_EQ(box.stored_messages("alice"), 0u);
  EXPECT_EQ(box.stored_bytes("alice"), 0u);
}

}  // namespace
}  // namespace tno::mpc::communication::net
