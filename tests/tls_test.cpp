// Pools over mutual TLS with the certificates of scripts/make-test-certs.sh (made by the ctest
// fixture make_test_certs): identity by certificate, and every way a handshake can be refused.
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "memory.hpp"
#include "raw_http.hpp"
#include "recording_server.hpp"
#include "scheduling.hpp"
#include "tno/mpc/communication/ping.hpp"
#include "tno/mpc/communication/testing.hpp"

namespace tno::mpc::communication {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;

struct QuietLogs : ::testing::Environment {
  void SetUp() override { set_log_level("off"); }
};
const auto* const quiet_logs = ::testing::AddGlobalTestEnvironment(new QuietLogs);

std::string cert_file(const std::string& name) {
  std::string path = std::string(MPC_COMM_TEST_CERTS) + "/" + name;
  if (!std::filesystem::exists(path)) {
    throw std::runtime_error(path + " is missing: run scripts/make-test-certs.sh " +
                             MPC_COMM_TEST_CERTS + " (ctest does, as the fixture make_test_certs)");
  }
  return path;
}

// A party of the test set: party_N, trusting the combined bundle.
TlsConfig party(const std::string& name, const std::string& bundle = "ca-combined.crt") {
  return TlsConfig{cert_file(name + ".pem"), cert_file(name + ".crt"), cert_file(bundle)};
}

// A TLS context with party `name`'s key and certificate, trusting the combined bundle.
ssl::context party_context(const std::string& name, ssl::verify_mode mode) {
  ssl::context context(ssl::context::tls);
  context.use_certificate_chain_file(cert_file(name + ".crt"));
  context.use_private_key_file(cert_file(name + ".pem"), ssl::context::pem);
  context.load_verify_file(cert_file("ca-combined.crt"));
  context.set_verify_mode(mode);
  return context;
}

PoolConfig with_tls(TlsConfig tls) {
  PoolConfig config;
  config.retry_delay = 50ms;
  config.tls = std::move(tls);
  return config;
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Tls, TwoPartiesTalkBothWays) {
  testing::PoolGroup group({party("party_0"), party("party_1")}, false);
  EXPECT_TRUE(group[0].uses_tls());
  group[0].send("local1", std::string("Hello Bob! This is Alice speaking."));
  EXPECT_EQ(group[1].recv<std::string>("local0"), "Hello Bob! This is Alice speaking.");
  group[1].send("local0", 42);
  EXPECT_EQ(group[0].recv<int>("local1"), 42);
  // A body large enough to be read straight into its buffer, through TLS records.
  Bytes large(3 << 20);
  for (std::size_t i = 0; i < large.size(); ++i) large[i] = static_cast<std::byte>(i * 7 + 3);
  group[1].send("local0", large);
  EXPECT_EQ(group[0].recv<Bytes>("local1"), large);
}

// Small messages go out from the sending thread over TLS too, and their answer is read there
// when it is in; larger ones through a delivery, on the same kept-alive connection: in a
// conversation of both kinds every message arrives whole, whether the parties share a core (answers
// in at once) or not.
TEST(Tls, AConversationOfSmallAndLargerMessagesArrivesWhole) {
  for (const bool one_core : {false, true}) {
    std::optional<test::OnOneCore> pinned;
    if (one_core) pinned.emplace();
    testing::PoolGroup group({party("party_0"), party("party_1")}, false);
    for (int round = 0; round < 20; ++round) {
      // Around 4 KiB the requests go from one path to the other (the envelope adds some bytes).
      for (const std::size_t size : {0, 1, 100, 4000, 4050, 4060, 4070, 4080, 4090, 5000, 70000}) {
        std::string text(size, 'a');
        for (std::size_t i = 0; i < size; ++i) text[i] = static_cast<char>('a' + (i + round) % 26);
        group[0].send("local1", text);
        const auto got = group[1].recv<std::string>("local0");
        EXPECT_EQ(got, text) << size << (one_core ? " on one core" : "");
        group[1].send("local0", got);
        EXPECT_EQ(group[0].recv<std::string>("local1"), text) << size;
      }
    }
    EXPECT_EQ(group[0].statistics().peers.at("local1").connections_opened, 1u);
    EXPECT_EQ(group[1].statistics().peers.at("local0").connections_opened, 1u);
  }
}

// A small send over TLS reads its answer on the sending thread when it is in and leaves the rest
// to a delivery on that connection: an answer that comes late, or in two records 50 ms apart, a
// refusal (sent again), and a connection the server closed after its last answer (the next message
// goes out on a new one): each message is delivered, once, in order.
TEST(Tls, LateSplitAndRefusedAnswersAndAClosedConnectionAfterASendInTurn) {
  ssl::context server = party_context("party_1", ssl::verify_peer);
  // Requests: 0 m0, 1 m1 (late), 2 m2 (split), 3 m3 (refused), 4 m3 again, 5 m4 (then closed),
  // 6 m5 on a new connection.
  test::RecordingServer recorder(/*late=*/{1}, /*close_after=*/{5}, /*refused=*/{3}, /*split=*/{2},
                                 &server);
  PoolConfig config = with_tls(party("party_0"));
  config.retry_delay = 1ms;
  Pool pool(config);
  pool.add_http_server(0, "127.0.0.1");
  pool.add_http_client("recorder", "127.0.0.1", recorder.port());
  for (int i = 0; i < 6; ++i) pool.send("recorder", "message " + std::to_string(i));
  const auto bodies = recorder.bodies();
  ASSERT_EQ(bodies.size(), 7u);
  const int sent[] = {0, 1, 2, 3, 3, 4, 5};
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    EXPECT_NE(bodies[i].find("message " + std::to_string(sent[i])), std::string::npos) << i;
  }
  EXPECT_EQ(recorder.connections(), 2);
  EXPECT_EQ(pool.statistics().total.messages_sent, 6u);
}

TEST(Tls, PartiesSharingACoreConverseWithoutWaitingForEvents) {
  // As over plain HTTP (Pool.PartiesSharingACoreHandItOverWithoutWaitingForEvents): a small send
  // writes its request from the caller's thread, yields the core to the peer, and reads the
  // answer there. (Through a delivery on the network loop: ~2,000 waits in 2,000 round trips.)
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "under a sanitizer a party's turn can take longer than a quick yield";
#endif
  const test::OnOneCore pinned;
  if (!pinned.ok()) GTEST_SKIP() << "this thread may not be pinned to its core";
  constexpr int kRoundTrips = 2000;
  const auto fewest = test::fewest_waits_in_conversations(
      [] {
        return std::make_unique<testing::PoolGroup>(
            std::vector<TlsConfig>{party("party_0"), party("party_1")}, false);
      },
      kRoundTrips, 5, kRoundTrips / 2);
  EXPECT_LT(fewest, kRoundTrips / 2u);
}

TEST(Tls, GarbageHandshakesAndSilentClientsAreClosed) {
  PoolConfig config;
  config.idle_timeout = std::chrono::seconds(1);
  testing::PoolGroup group({party("party_0"), party("party_1")}, true, config);
  std::mt19937 random(11);  // seeded: a failure replays
  for (int round = 0; round < 10; ++round) {
    // A TLS record header (so the server tries a handshake), then junk.
    std::string hello = "\x16\x03\x01";
    hello.resize(3 + 1 + random() % 2000);
    for (std::size_t i = 3; i < hello.size(); ++i) hello[i] = static_cast<char>(random());
    test::RawConnection c(group[1].port());
    c.send(hello);
    EXPECT_TRUE(c.closed_within(std::chrono::seconds(5))) << round;
  }
  // Connected, but no handshake at all: closed after idle_timeout.
  test::RawConnection silent(group[1].port());
  EXPECT_TRUE(silent.closed_within(std::chrono::seconds(5)));
  group[0].send("local1", std::string("after the garbage"));
  EXPECT_EQ(group[1].recv<std::string>("local0"), "after the garbage");
  EXPECT_EQ(group[1].statistics().total.messages_received, 1u);
}

class TlsGroups : public ::testing::TestWithParam<bool> {};

// Stalled handshakes (a ClientHello that never finishes) from ten addresses: no more are under way
// at once than the caps allow, each costing its memory only while under way, and a peer's
// handshake gets its turn.
TEST(Tls, StalledHandshakesAreCappedPerSourceAndOverall) {
  PoolConfig config = with_tls(party("party_1"));
  config.idle_timeout = 2s;
  config.max_tls_handshakes = 16;
  config.max_tls_handshakes_per_source = 4;
  Pool bob(config);
  bob.add_http_server(0, "127.0.0.1");
  Pool alice(with_tls(party("party_0")));
  alice.add_http_server(0, "127.0.0.1");
  alice.add_http_client("bob", "127.0.0.1", bob.port());
  bob.add_http_client("alice", "127.0.0.1", alice.port());
  const std::size_t before = test::resident_bytes();
  // A TLS record header that announces 512 bytes of handshake, and the first few of them.
  const std::string stalled_hello("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11);
  std::vector<std::unique_ptr<test::RawConnection>> stalled;
  for (int source = 2; source < 12; ++source) {
    for (int i = 0; i < 20; ++i) {
      stalled.push_back(std::make_unique<test::RawConnection>(bob.port(), "127.0.0.1",
                                                              "127.0.0." + std::to_string(source)));
      stalled.back()->send(stalled_hello);
    }
  }
  std::uint64_t most = 0;
  for (int i = 0; i < 50; ++i) {
    most = std::max(most, bob.statistics().server.tls_handshakes);
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_GT(most, 0u);
  EXPECT_LE(most, 16u);
  if (test::memory_is_measurable()) {
    EXPECT_LT(test::resident_bytes() - before, 12u << 20) << test::resident_bytes() - before;
  }
  alice.send("bob", std::string("my turn"));
  EXPECT_EQ(bob.recv<std::string>("alice", std::nullopt, 30s), "my turn");
}

TEST_P(TlsGroups, ThreePartiesAllToAll) {
  bool certificate_identity = GetParam();
  testing::PoolGroup group({party("party_0"), party("party_1"), party("party_2")},
                           certificate_identity);
  for (std::size_t i = 0; i < 3; ++i) {
    group[i].broadcast(static_cast<int>(10 * i));
  }
  for (std::size_t i = 0; i < 3; ++i) {
    int sum = 0;
    for (auto& [name, value] : group[i].recv_all<int>()) sum += value;
    EXPECT_EQ(sum, 30 - static_cast<int>(10 * i)) << "party " << i;
  }
}
INSTANTIATE_TEST_SUITE_P(ByAddressAndByCertificate, TlsGroups, ::testing::Bool());

TEST(Tls, CertificateIdentityIgnoresAddressAndPort) {
  // Bob knows Alice by her certificate at an address she never uses; her messages come from
  // 127.0.0.1 with her real port in the cookie, and from a second Alice on another port.
  Pool bob(with_tls(party("party_1")));
  bob.add_http_server(0, "127.0.0.1");
  bob.add_http_client("Alice", "127.0.0.9", 1, cert_file("party_0.crt"));
  for (int run = 0; run < 2; ++run) {
    Pool alice(with_tls(party("party_0")));
    alice.add_http_server(0, "127.0.0.1");
    alice.add_http_client("Bob", "127.0.0.1", bob.port(), cert_file("party_1.crt"));
    alice.send("Bob", run, MessageId("run" + std::to_string(run)));
    EXPECT_EQ(bob.recv<int>("Alice", MessageId("run" + std::to_string(run))), run);
  }
}

// One POST over TLS from the given source address, with party_0's certificate; the status line.
std::string post_from(const std::string& source, std::uint16_t port, const ByteBuffer& body) {
  asio::io_context ioc;
  ssl::context context = party_context("party_0", ssl::verify_peer);
  ssl::stream<tcp::socket> stream(ioc, context);
  stream.next_layer().open(tcp::v4());
  stream.next_layer().bind({asio::ip::make_address(source), 0});
  stream.next_layer().connect({asio::ip::make_address("127.0.0.1"), port});
  stream.handshake(ssl::stream_base::client);
  std::string head =
      "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: server_port=61001\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n";
  asio::write(stream, asio::buffer(head));
  asio::write(stream, asio::buffer(body.data(), body.size()));
  std::string response;
  asio::read_until(stream, asio::dynamic_buffer(response), "\r\n");
  return response.substr(0, response.find("\r\n"));
}

TEST(Tls, CertificateIdentityHoldsWhenTheSourceAddressChanges) {
  // Bob knows Alice at 127.0.0.1:61001 by her certificate; her requests come from 127.0.0.5 and
  // then 127.0.0.6 (loopback addresses, as after a move behind another NAT).
  Pool bob(with_tls(party("party_1")));
  bob.add_http_server(0, "127.0.0.1");
  bob.add_http_client("Alice", "127.0.0.1", 61001, cert_file("party_0.crt"));
  for (std::string source : {"127.0.0.5", "127.0.0.6"}) {
    EXPECT_EQ(post_from(source, bob.port(), pack_message(source, MessageId(source))),
              "HTTP/1.1 200 OK");
    EXPECT_EQ(bob.recv<std::string>("Alice", MessageId(source)), source);
  }
}

TEST(Tls, WithoutCertificateIdentityAnotherAddressIsRefused) {
  // The contrast: known by address only, the same Alice at an unexpected address is unknown.
  Pool bob(with_tls(party("party_1")));
  bob.add_http_server(0, "127.0.0.1");
  bob.add_http_client("Alice", "127.0.0.9", 1);
  PoolConfig config = with_tls(party("party_0"));
  config.max_retries = 0;
  Pool alice(config);
  alice.add_http_server(0, "127.0.0.1");
  alice.add_http_client("Bob", "127.0.0.1", bob.port());
  EXPECT_NE(error_of([&] { alice.send("Bob", 1); }).find("401"), std::string::npos);
  EXPECT_EQ(bob.statistics().total.messages_received, 0u);
}

TEST(Tls, UntrustedServerFailsAtOnce) {
  // Default retries (unbounded): the failure must still be final, not retried for ever.
  Pool mallory(with_tls(party("party_untrusted", "ca-untrusted.crt")));
  mallory.add_http_server(0, "127.0.0.1");
  Pool alice(with_tls(party("party_0")));
  alice.add_http_server(0, "127.0.0.1");
  alice.add_http_client("Mallory", "127.0.0.1", mallory.port());
  std::string error = error_of([&] { alice.send("Mallory", 1); });
  EXPECT_NE(error.find("'Mallory'"), std::string::npos) << error;
  EXPECT_NE(error.find("not trusted"), std::string::npos) << error;
  // A TLS refusal has a type of its own (a DeliveryError), so that callers can tell it apart.
  EXPECT_THROW(alice.send("Mallory", 2), TlsError);
}

TEST(Tls, UntrustedClientIsRefusedEvenWithALookalikeIdentity) {
  // party_untrusted has the identity key of party_0 (ca-intermediate:2) from a look-alike chain;
  // Bob, who knows Alice by that key, must refuse it on the chain.
  Pool bob(with_tls(party("party_1")));
  bob.add_http_server(0, "127.0.0.1");
  bob.add_http_client("Alice", "127.0.0.1", 1, cert_file("party_0.crt"));
  // Mallory trusts Bob (the combined bundle), but Bob does not trust Mallory.
  Pool mallory(with_tls(party("party_untrusted")));
  mallory.add_http_server(0, "127.0.0.1");
  mallory.add_http_client("Bob", "127.0.0.1", bob.port());
  EXPECT_EQ(read_certificate(cert_file("party_untrusted.crt")).identity,
            read_certificate(cert_file("party_0.crt")).identity);
  std::string error = error_of([&] { mallory.send("Bob", 1, MessageId("x")); });
  EXPECT_NE(error.find("refused our certificate"), std::string::npos) << error;
  EXPECT_EQ(bob.statistics().total.messages_received, 0u);
}

// A TLS server with any certificate (also one a Pool refuses to load), for one handshake.
class RawTlsServer {
 public:
  RawTlsServer(const std::string& name)
      : context_(party_context(name, ssl::verify_peer | ssl::verify_fail_if_no_peer_cert)),
        acceptor_(ioc_, {asio::ip::make_address("127.0.0.1"), 0}) {
    thread_ = std::thread([this] {
      tcp::socket socket(ioc_);
      acceptor_.accept(socket);
      ssl::stream<tcp::socket> stream(std::move(socket), context_);
      boost::system::error_code ec;
      stream.handshake(ssl::stream_base::server, ec);
      handshake_failed_ = static_cast<bool>(ec);
    });
  }
  ~RawTlsServer() { thread_.join(); }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  bool handshake_failed() const { return handshake_failed_; }

 private:
  asio::io_context ioc_;
  ssl::context context_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  bool handshake_failed_ = false;
};

TEST(Tls, ExpiredServerCertificateFailsAtOnce) {
  RawTlsServer server("party_expired");
  Pool alice(with_tls(party("party_0")));
  alice.add_http_client("Bob", "127.0.0.1", server.port());
  std::string error = error_of([&] { alice.send("Bob", 1); });
  EXPECT_NE(error.find("certificate has expired"), std::string::npos) << error;
}

TEST(Tls, ExpiredClientCertificateIsRefused) {
  Pool bob(with_tls(party("party_1")));
  bob.add_http_server(0, "127.0.0.1");
  bob.add_http_client("Alice", "127.0.0.1", 1, cert_file("party_expired.crt"));
  asio::io_context ioc;
  ssl::context context(ssl::context::tls);
  context.use_certificate_chain_file(cert_file("party_expired.crt"));
  context.use_private_key_file(cert_file("party_expired.pem"), ssl::context::pem);
  context.load_verify_file(cert_file("ca-combined.crt"));
  ssl::stream<tcp::socket> stream(ioc, context);
  stream.next_layer().connect({asio::ip::make_address("127.0.0.1"), bob.port()});
  boost::system::error_code ec;
  stream.handshake(ssl::stream_base::client, ec);
  if (!ec) {
    // TLS 1.3: the server judges the client's certificate after the client's handshake is done,
    // so the refusal arrives with the first read.
    std::string request = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    asio::write(stream, asio::buffer(request), ec);
    char byte;
    asio::read(stream, asio::buffer(&byte, 1), ec);
  }
  EXPECT_TRUE(ec) << "the server answered a client with an expired certificate";
  EXPECT_EQ(bob.statistics().total.messages_received, 0u);
}

TEST(Tls, OwnCertificateProblemsAreClearAtConstruction) {
  auto error = [](TlsConfig tls) { return error_of([&] { Pool pool(with_tls(std::move(tls))); }); };
  std::string expired = error(party("party_expired"));
  EXPECT_NE(expired.find("party_expired.crt' expired on 2020-02-01"), std::string::npos) << expired;
  TlsConfig mismatched = party("party_0");
  mismatched.key = cert_file("other.pem");
  std::string mismatch = error(mismatched);
  EXPECT_NE(mismatch.find("other.pem' does not belong to the certificate"), std::string::npos)
      << mismatch;
  TlsConfig missing = party("party_0");
  missing.key = "/nonexistent/key.pem";
  std::string no_file = error(missing);
  EXPECT_NE(no_file.find("cannot read the TLS key file '/nonexistent/key.pem'"), std::string::npos)
      << no_file;
  TlsConfig not_a_bundle = party("party_0");
  not_a_bundle.ca_cert = cert_file("party_0.pem");
  std::string bundle = error(not_a_bundle);
  EXPECT_NE(bundle.find("CA bundle"), std::string::npos) << bundle;
  TlsConfig not_a_cert = party("party_0");
  not_a_cert.cert = cert_file("party_0.pem");
  std::string cert = error(not_a_cert);
  EXPECT_NE(cert.find("holds no PEM certificate"), std::string::npos) << cert;
}

TEST(Tls, PlainPartyAmongTlsPartiesFailsClearly) {
  Pool secure(with_tls(party("party_0")));
  secure.add_http_server(0, "127.0.0.1");
  PoolConfig plain_config;
  plain_config.retry_delay = 50ms;
  Pool plain(plain_config);
  plain.add_http_server(0, "127.0.0.1");
  plain.add_http_client("Secure", "127.0.0.1", secure.port());
  secure.add_http_client("Plain", "127.0.0.1", plain.port());
  std::string to_secure = error_of([&] { plain.send("Secure", 1); });
  EXPECT_NE(to_secure.find("HTTPS only"), std::string::npos) << to_secure;
  std::string to_plain = error_of([&] { secure.send("Plain", 1); });
  EXPECT_NE(to_plain.find("does not speak TLS"), std::string::npos) << to_plain;
  EXPECT_EQ(secure.statistics().total.messages_received, 0u);
  EXPECT_EQ(plain.statistics().total.messages_received, 0u);
}

TEST(Tls, ReconnectsResumeTheSession) {
  testing::PoolGroup group({party("party_0"), party("party_1")}, true);
  group[0].send("local1", 0);
  // A large message and a small one at once: the large one takes the kept-alive connection, the
  // small one, which does not wait behind it, opens a second one.
  auto a = group[0].asend("local1", std::string(1 << 20, 'x'));
  auto b = group[0].asend("local1", 2);
  a.get();
  b.get();
  auto stats = group[0].statistics().peers.at("local1");
  EXPECT_GE(stats.connections_opened, 2u);
  EXPECT_GE(stats.tls_sessions_resumed, 1u);
  EXPECT_EQ(group[1].recv<int>("local0"), 0);
  EXPECT_EQ(group[1].recv<std::string>("local0").size(), std::size_t{1} << 20);
  EXPECT_EQ(group[1].recv<int>("local0"), 2);
}

TEST(Tls, IdentityFollowsTheFirstRdnOfTheIssuer) {
  CertificateInfo p0 = read_certificate(cert_file("party_0.crt"));
  EXPECT_EQ(p0.identity, "ca-intermediate:2");
  EXPECT_EQ(p0.subject, "CN=party_0");
  EXPECT_TRUE(p0.issuer_starts_with_cn);
  CertificateInfo nl = read_certificate(cert_file("party_nl.crt"));
  EXPECT_EQ(nl.identity, "NL:7");
  EXPECT_EQ(nl.issuer, "C=NL, O=TNO, CN=ca-nl");
  EXPECT_FALSE(nl.issuer_starts_with_cn);
  Pool pool(with_tls(party("party_0")));
  std::string error =
      error_of([&] { pool.add_http_client("NL", "127.0.0.1", 1, cert_file("party_nl.crt")); });
  EXPECT_NE(error.find("first RDN is not its common name"), std::string::npos) << error;
  // Two peers cannot share an identity.
  pool.add_http_client("A", "127.0.0.1", 1, cert_file("party_1.crt"));
  error = error_of([&] { pool.add_http_client("B", "127.0.0.1", 2, cert_file("party_1.crt")); });
  EXPECT_NE(error.find("ca-intermediate:3 already"), std::string::npos) << error;
}

TEST(Tls, CertificateIdentityNeedsTls) {
  Pool plain;
  std::string error =
      error_of([&] { plain.add_http_client("A", "127.0.0.1", 1, cert_file("party_0.crt")); });
  EXPECT_NE(error.find("no TLS"), std::string::npos) << error;
}

TEST(Tls, DefaultPortsFollowTls) {
  // Not bound (443 needs privileges): the client entry shows the default in errors.
  PoolConfig config = with_tls(party("party_0"));
  config.max_retries = 0;
  Pool pool(config);
  pool.add_http_client("Nobody", "127.0.0.1");
  std::string error = error_of([&] { pool.send("Nobody", 1); });
  EXPECT_NE(error.find("127.0.0.1:443"), std::string::npos) << error;
}

TEST(Tls, HostNameCheckWhenAsked) {
  Pool bob(with_tls(party("party_1")));
  std::uint16_t port = bob.add_http_server(0, "0.0.0.0");
  TlsConfig checked = party("party_0");
  checked.verify_hostname = true;
  Pool alice(with_tls(checked));
  // The certificates name localhost and 127.0.0.1, not 127.0.0.2. (Alice has no server: known
  // by her certificate, she needs none to send.)
  alice.add_http_client("ByName", "localhost", port);
  alice.add_http_client("ByOtherIp", "127.0.0.2", port);
  bob.add_http_client("Alice", "127.0.0.1", 1, cert_file("party_0.crt"));
  alice.send("ByName", 1);
  EXPECT_EQ(bob.recv<int>("Alice"), 1);
  std::string error = error_of([&] { alice.send("ByOtherIp", 2); });
  EXPECT_NE(error.find("IP address mismatch"), std::string::npos) << error;
}

TEST(Tls, PingShowsTheServersCertificate) {
  Pool bob(with_tls(party("party_1")));
  bob.add_http_server(0, "127.0.0.1");
  PingResult result = ping("127.0.0.1", bob.port(), party("party_0"));
  EXPECT_EQ(result.status, 200);
  EXPECT_EQ(result.body, "Connection working (GET)");
  EXPECT_EQ(result.tls_version, "TLSv1.3");
  ASSERT_TRUE(result.peer_certificate);
  EXPECT_EQ(result.peer_certificate->identity, "ca-intermediate:3");
  EXPECT_GT(result.peer_certificate->not_after, std::chrono::system_clock::now());
  // Over plain HTTP, to a TLS server: a clear refusal rather than a hang.
  PingResult plain = ping("127.0.0.1", bob.port());
  EXPECT_EQ(plain.status, 400);
  EXPECT_NE(plain.body.find("HTTPS only"), std::string::npos);
  std::string untrusted = error_of(
      [&] { ping("127.0.0.1", bob.port(), party("party_untrusted", "ca-untrusted.crt")); });
  EXPECT_NE(untrusted.find("not trusted"), std::string::npos) << untrusted;
}

}  // namespace
}  // namespace tno::mpc::communication
