// The peer registry on its own: identification of senders, ids with counters and prefixes in
// both wire formats, and statistics. No sockets.
#include <gtest/gtest.h>

#include "net/peers.hpp"

namespace tno::mpc::communication::net {
namespace {

Peer peer(std::string name, std::string ip, std::uint16_t port, std::string certificate = "") {
  return Peer{std::move(name), ip, port, ip, std::move(certificate), 0};
}

TEST(PeerRegistry, SendersAreKnownByCertificateFirstThenByAddress) {
  PeerRegistry peers(WireFormat::v4);
  const Peer& alice = peers.add(peer("alice", "10.0.0.1", 61001));
  const Peer& bob = peers.add(peer("bob", "10.0.0.2", 61002, "ca-intermediate:3"));
  EXPECT_EQ(alice.index, 0u);
  EXPECT_EQ(bob.index, 1u);
  auto by_address = peers.identify("", "10.0.0.1:61001");
  ASSERT_TRUE(by_address);
  EXPECT_EQ(by_address->peer, &alice);
  EXPECT_EQ(by_address->identity, "10.0.0.1:61001");
  // Known by certificate: wherever it comes from, and no longer by its address.
  auto by_certificate = peers.identify("ca-intermediate:3", "192.168.1.9:1");
  ASSERT_TRUE(by_certificate);
  EXPECT_EQ(by_certificate->peer, &bob);
  EXPECT_EQ(by_certificate->identity, "ca-intermediate:3");
  EXPECT_FALSE(peers.identify("", "10.0.0.2:61002"));
  // A certificate that names nobody falls back to the address.
  auto fallback = peers.identify("ca-intermediate:99", "10.0.0.1:61001");
  ASSERT_TRUE(fallback);
  EXPECT_EQ(fallback->peer, &alice);
  EXPECT_FALSE(peers.identify("", "10.0.0.1:61002"));
}

TEST(PeerRegistry, NamesAndCertificatesAreTakenOnce) {
  PeerRegistry peers(WireFormat::v4);
  peers.add(peer("alice", "10.0.0.1", 61001, "ca:2"));
  EXPECT_THROW(peers.add(peer("alice", "10.0.0.3", 61003)), ConfigurationError);
  EXPECT_THROW(peers.add(peer("carol", "10.0.0.3", 61003, "ca:2")), ConfigurationError);
  EXPECT_EQ(peers.names(), std::vector<std::string>{"alice"});
  EXPECT_THROW(peers.find("dave"), ConfigurationError);
  EXPECT_THROW(peers.next_send_id("dave", std::nullopt), ConfigurationError);
}

TEST(PeerRegistry, DefaultIdsCountPerPeerAndDirectionAndTakeThePrefix) {
  PeerRegistry peers(WireFormat::v4);
  peers.add(peer("alice", "10.0.0.1", 61001));
  peers.add(peer("bob", "10.0.0.2", 61002));
  EXPECT_EQ(peers.next_send_id("alice", std::nullopt), MessageId(0));
  EXPECT_EQ(peers.next_send_id("alice", MessageId("custom")), MessageId("custom"));
  EXPECT_EQ(peers.next_send_id("alice", std::nullopt), MessageId(2));  // explicit ids count too
  EXPECT_EQ(peers.next_send_id("bob", std::nullopt), MessageId(0));
  EXPECT_EQ(peers.next_receive_id("alice", std::nullopt), MessageId(0));
  peers.set_prefix("s1-");
  EXPECT_EQ(peers.next_send_id("alice", std::nullopt), MessageId("s1-3"));
  EXPECT_EQ(peers.next_receive_id("alice", MessageId(9)), MessageId("s1-9"));
}

TEST(PeerRegistry, DefaultIdsAreStrsInTheFiveFormat) {
  PeerRegistry peers(WireFormat::v5);
  peers.add(peer("alice", "10.0.0.1", 61001));
  EXPECT_EQ(peers.next_send_id("alice", std::nullopt), MessageId("0"));
  EXPECT_EQ(peers.next_receive_id("alice", std::nullopt), MessageId("0"));
  EXPECT_EQ(peers.next_send_id("alice", MessageId(5)), MessageId(5));
}

TEST(PeerRegistry, StatisticsPerPeerAndInTotal) {
  PeerRegistry peers(WireFormat::v4);
  const Peer& alice = peers.add(peer("alice", "10.0.0.1", 61001));
  const Peer& bob = peers.add(peer("bob", "10.0.0.2", 61002));
  peers.count_sent(alice, 10);
  peers.count_sent(alice, 5);
  peers.count_received(bob, 7);
  peers.count_connection(alice, false);
  peers.count_connection(bob, true);
  Statistics s = peers.statistics();
  EXPECT_EQ(s.peers.at("alice").messages_sent, 2u);
  EXPECT_EQ(s.peers.at("alice").bytes_sent, 15u);
  EXPECT_EQ(s.peers.at("bob").messages_received, 1u);
  EXPECT_EQ(s.peers.at("bob").tls_sessions_resumed, 1u);
  EXPECT_EQ(s.total.bytes_sent, 15u);
  EXPECT_EQ(s.total.bytes_received, 7u);
  EXPECT_EQ(s.total.connections_opened, 2u);
  EXPECT_EQ(s.total.tls_sessions_resumed, 1u);
}

}  // namespace
}  // namespace tno::mpc::communication::net
