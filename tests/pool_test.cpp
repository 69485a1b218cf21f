// Pools in one process on 127.0.0.1 with ephemeral ports: the behaviours of the reference's own
// suite, and the server's answers (src/net/server.hpp) checked with raw HTTP requests.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <limits>
#include <random>
#include <set>
#include <thread>

#include "net/framing.hpp"
#include "raw_http.hpp"
#include "recording_server.hpp"
#include "scheduling.hpp"
#include "test_util.hpp"
#include "tno/mpc/communication/ping.hpp"
#include "tno/mpc/communication/testing.hpp"

namespace tno::mpc::communication {
namespace {

using namespace std::chrono_literals;
using test::OnOneCore;
using test::RecordingServer;
using test::Threads;
using test::threads_of_this_process;

// Quiet logs in tests; failures speak through assertions.
struct QuietLogs : ::testing::Environment {
  void SetUp() override { set_log_level("off"); }
};
const auto* const quiet_logs = ::testing::AddGlobalTestEnvironment(new QuietLogs);

// A port nothing listens on: an ephemeral port bound and released again.
std::uint16_t closed_port() {
  Pool probe;
  return probe.add_http_server(0, "127.0.0.1");
}

// Waits (outside the pool) until `done()`, for at most 10 s.
template <class Done>
bool eventually(Done done) {
  for (int i = 0; i < 1000 && !done(); ++i) std::this_thread::sleep_for(10ms);
  return done();
}

// One raw HTTP/1.1 exchange; returns the status code and the body.
std::pair<int, std::string> raw_http(std::uint16_t port, const std::string& request) {
  test::RawConnection connection(port);
  connection.send(request);
  return connection.read_response();
}

std::string post(std::optional<std::uint16_t> cookie_port, std::string_view body) {
  return test::post_request(cookie_port, body, /*keep_alive=*/false);
}

std::string packed(const Value& v, const MessageId& id) {
  auto b = pack_message(v, id);
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

TEST(Pool, DuoSendsAndReceivesEveryValueKind) {
  testing::PoolGroup pools(2);
  std::vector<Value> values = {Value(),
                               Value(true),
                               Value(-5),
                               Value(BigInt::from_string("-" + std::string(60, '7'))),
                               Value(2.5),
                               Value("h\u00e9llo"),
                               Value::bytes(std::string("\0\1", 2)),
                               Value::list({1, "a"}),
                               Value::tuple({1, 2}),
                               Value::dict({{"k", 1}}),
                               Value(Mpz{BigInt(12345)}),
                               Value(BitArray{{true, false}, BitArray::Endian::big}),
                               Value(NdArray{{2}, {Value(1), Value("x")}})};
  for (const auto& v : values) pools[0].send("local1", v);
  for (const auto& v : values) EXPECT_EQ(pools[1].recv("local0"), v);
}

TEST(Pool, TypedSendAndReceive) {
  testing::PoolGroup pools(2);
  pools[0].send("local1", std::vector<double>{1.5, 2.5});
  EXPECT_EQ(pools[1].recv<std::vector<double>>("local0"), (std::vector<double>{1.5, 2.5}));
}

TEST(Pool, ManyMessagesArriveInAnyOrderByCounter) {
  testing::PoolGroup pools(2);
  std::vector<std::future<void>> sends;
  for (int i = 0; i < 200; ++i) sends.push_back(pools[0].asend("local1", i));
  for (auto& s : sends) s.get();
  for (int i = 0; i < 200; ++i) EXPECT_EQ(pools[1].recv<int>("local0"), i);
}

TEST(Pool, ABurstOfSendsUnderASmallConnectionCapAllArrive) {
  PoolConfig config;
  config.max_connections_per_peer = 4;
  testing::PoolGroup pools(2, config);
  std::vector<std::future<void>> sends;
  for (int i = 0; i < 2000; ++i) sends.push_back(pools[0].asend("local1", i));
  long long sum = 0;
  for (int i = 0; i < 2000; ++i) sum += pools[1].recv<int>("local0");
  for (auto& f : sends) f.get();
  EXPECT_EQ(sum, 1999LL * 2000 / 2);
  EXPECT_EQ(pools[0].statistics().total.messages_sent, 2000u);
}

// A burst goes out in batches, pipelined on a few connections; messages of a batch that the
// receiver has no room for yet (503) are sent again later, the others are not.
TEST(Pool, ABurstIsPipelinedAndWhatFindsNoRoomIsSentAgain) {
  PoolConfig config;
  config.max_connections_per_peer = 2;
  config.max_stored_messages_per_peer = 16;
  config.retry_delay = std::chrono::milliseconds(20);
  config.max_retries = -1;
  testing::PoolGroup pools(2, config);
  std::vector<std::future<void>> sends;
  for (int i = 0; i < 500; ++i) sends.push_back(pools[0].asend("local1", i));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the room fills up
  for (int i = 0; i < 500; ++i) ASSERT_EQ(pools[1].recv<int>("local0"), i);
  for (auto& f : sends) f.get();
  const auto sent = pools[0].statistics().total;
  EXPECT_EQ(sent.messages_sent, 500u);
  EXPECT_LE(sent.connections_opened, 2u);
  EXPECT_EQ(pools[1].statistics().total.messages_received, 500u);
}

// A pool (with `config`) whose peer "recorder" is `recorder`.
std::unique_ptr<Pool> pool_sending_to(const RecordingServer& recorder, PoolConfig config = {}) {
  auto pool = std::make_unique<Pool>(std::move(config));
  pool->add_http_server(0, "127.0.0.1");
  pool->add_http_client("recorder", "127.0.0.1", recorder.port());
  return pool;
}

// Whether `body` (a packed message) carries the str `text`.
bool carries(const std::string& body, std::string_view text) {
  return body.find(text) != std::string::npos;
}

// A blocking send from a thread that made an asend just before goes out after it, also when it
// could go out at once on an idle connection (Client::send_in_turn).
TEST(Pool, ABlockingSendDoesNotOvertakeAnAsendMadeBeforeIt) {
  RecordingServer recorder;
  auto pool = pool_sending_to(recorder);
  pool->send("recorder", std::string("first"));  // leaves a kept-alive connection idle
  auto second = pool->asend("recorder", std::string("second"));
  pool->send("recorder", std::string("third"));
  pool->wait(std::move(second));
  const auto bodies = recorder.bodies();
  ASSERT_EQ(bodies.size(), 3u);
  EXPECT_TRUE(carries(bodies[0], "first"));
  EXPECT_TRUE(carries(bodies[1], "second"));
  EXPECT_TRUE(carries(bodies[2], "third"));
}

// A send whose answer is not in when its request has gone out (the second: the others' are in at
// once) awaits it on that connection: it is not sent again, and no other connection is opened.
TEST(Pool, AnAnswerThatComesLaterIsAwaitedWhereTheRequestWentOut) {
  RecordingServer recorder(/*late=*/{1});
  auto pool = pool_sending_to(recorder);
  pool->send("recorder", std::string("first"));
  pool->send("recorder", std::string("second"));
  pool->send("recorder", std::string("third"));
  const auto bodies = recorder.bodies();
  ASSERT_EQ(bodies.size(), 3u);
  EXPECT_TRUE(carries(bodies[1], "second"));
  EXPECT_TRUE(carries(bodies[2], "third"));
  EXPECT_EQ(recorder.connections(), 1);
  EXPECT_EQ(pool->statistics().total.messages_sent, 3u);
}

// A 200 that comes in pieces, after the request went out, is read whole on that connection.
TEST(Pool, AnAnswerThatComesLateInPiecesIsReadWhole) {
  RecordingServer recorder(/*late=*/{1}, /*close_after=*/{}, /*refused=*/{}, /*split=*/{1, 2});
  auto pool = pool_sending_to(recorder);
  pool->send("recorder", std::string("first"));
  pool->send("recorder", std::string("second"));
  pool->send("recorder", std::string("third"));
  const auto bodies = recorder.bodies();
  ASSERT_EQ(bodies.size(), 3u);
  EXPECT_TRUE(carries(bodies[2], "third"));
  EXPECT_EQ(recorder.connections(), 1);
  EXPECT_EQ(pool->statistics().total.messages_sent, 3u);
}

// A refusal that comes after the request went out (no room at the receiver) is retried after
// retry_delay on the same kept-alive connection, and the message counted sent once.
TEST(Pool, ALateRefusalIsRetriedOnTheSameConnection) {
  RecordingServer recorder(/*late=*/{1}, /*close_after=*/{}, /*refused=*/{1});
  PoolConfig config;
  config.retry_delay = 10ms;
  auto pool = pool_sending_to(recorder, config);
  pool->send("recorder", std::string("first"));
  pool->send("recorder", std::string("second"));
  pool->send("recorder", std::string("third"));
  const auto bodies = recorder.bodies();
  ASSERT_EQ(bodies.size(), 4u);
  EXPECT_TRUE(carries(bodies[1], "second"));
  EXPECT_TRUE(carries(bodies[2], "second"));
  EXPECT_TRUE(carries(bodies[3], "third"));
  EXPECT_EQ(recorder.connections(), 1);
  EXPECT_EQ(pool->statistics().total.messages_sent, 3u);
}

// A refusal that is in already when the request has gone out is taken as the answer on that
// connection (not waited for until the answer timeout, the connection given up and the message
// sent again on another at once): every send but the first is refused once, and retried on the
// same connection.
TEST(Pool, ARefusalInAtOnceIsTakenOnTheSameConnection) {
  // All threads on one core, where the server's thread answers as soon as the request is written.
  const OnOneCore pinned;
  if (!pinned.ok()) GTEST_SKIP() << "this thread may not be pinned to its core";
  std::set<std::size_t> refused;
  for (std::size_t i = 1; i < 100; i += 2) refused.insert(i);  // each send's first request
  RecordingServer recorder(/*late=*/{}, /*close_after=*/{}, refused);
  PoolConfig config;
  config.retry_delay = 1ms;
  config.answer_timeout = 2s;  // what a refusal left unread would be waited for
  auto pool = pool_sending_to(recorder, config);
  pool->send("recorder", std::string("first"));
  for (int i = 0; i < 50; ++i) pool->send("recorder", "message " + std::to_string(i));
  EXPECT_EQ(recorder.bodies().size(), 101u);
  EXPECT_EQ(recorder.connections(), 1);
  EXPECT_EQ(pool->statistics().total.messages_sent, 51u);
}

// A kept-alive connection that the server has closed meanwhile fails the next send's first
// attempt, which goes out again at once on a new connection: delivered once.
TEST(Pool, ASendOnAConnectionTheServerClosedGoesOutAgainOnANewOne) {
  RecordingServer recorder(/*late=*/{}, /*close_after=*/{0});
  auto pool = pool_sending_to(recorder);
  pool->send("recorder", std::string("first"));
  std::this_thread::sleep_for(50ms);  // the server's close has reached the client's socket
  pool->send("recorder", std::string("second"));
  const auto bodies = recorder.bodies();
  ASSERT_EQ(bodies.size(), 2u);
  EXPECT_TRUE(carries(bodies[1], "second"));
  EXPECT_EQ(recorder.connections(), 2);
  EXPECT_EQ(pool->statistics().total.messages_sent, 2u);
}

// Messages sent while a batch awaits its answers follow it on its connection at once (pipelined)
// and their answers are read after its own; when the server closes that connection before
// answering them, they go out again, in order, on a new one, and the answered ones do not.
TEST(Pool, MessagesPipelinedBehindABatchAreSentAgainWhenItsConnectionCloses) {
  RecordingServer recorder(/*late=*/{0}, /*close_after=*/{5});
  PoolConfig config;
  config.retry_delay = 20ms;
  auto pool = pool_sending_to(recorder, config);
  std::vector<std::future<void>> sends;
  sends.push_back(pool->asend("recorder", std::string("m0")));
  std::this_thread::sleep_for(20ms);  // m0 is out, its answer 100 ms away
  for (int i = 1; i < 40; ++i) sends.push_back(pool->asend("recorder", "m" + std::to_string(i)));
  for (auto& f : sends) f.get();
  const auto bodies = recorder.bodies();
  ASSERT_EQ(bodies.size(), 40u);  // 1-5 answered on the first connection, 6-39 sent again
  for (std::size_t i = 0; i < bodies.size(); ++i) {
    EXPECT_TRUE(carries(bodies[i], "m" + std::to_string(i))) << i;
  }
  EXPECT_TRUE(recorder.followed().at(0));  // m1... came before m0's answer
  EXPECT_EQ(recorder.connections(), 2);
  EXPECT_EQ(pool->statistics().total.messages_sent, 40u);
}

TEST(Pool, FuturesAndCustomIds) {
  testing::PoolGroup pools(2);
  auto later = pools[1].arecv<std::string>("local0", MessageId("Message ID 1"));
  EXPECT_FALSE(later.ready());
  EXPECT_FALSE(later.wait_for(10ms));
  pools[0].send("local1", std::string("Hello!"), MessageId("Message ID 1"));
  EXPECT_TRUE(later.wait_for(5s));
  EXPECT_EQ(later.get(), "Hello!");
  // An int id and the str of it are different ids, as in Python.
  pools[0].send("local1", 1, MessageId("5"));
  pools[0].send("local1", 2, MessageId(5));
  EXPECT_EQ(pools[1].recv<int>("local0", MessageId(5)), 2);
  EXPECT_EQ(pools[1].recv<int>("local0", MessageId("5")), 1);
}

TEST(Pool, ExplicitIdsAdvanceTheDefaultCounters) {
  testing::PoolGroup pools(2);
  pools[0].send("local1", std::string("named"), MessageId("x"));             // counter 0 used up
  pools[0].send("local1", std::string("default"));                           // id 1
  EXPECT_EQ(pools[1].recv<std::string>("local0", MessageId("x")), "named");  // counter -> 1
  EXPECT_EQ(pools[1].recv<std::string>("local0"), "default");
}

TEST(Pool, PrefixAppliesToBothSides) {
  testing::PoolGroup pools(2);
  pools[0].update_msg_prefix("session1-");
  pools[1].update_msg_prefix("session1-");
  pools[0].send("local1", 7);
  EXPECT_EQ(pools[1].recv<int>("local0"), 7);
  pools[0].send("local1", 8, MessageId("opY"));
  EXPECT_EQ(pools[1].recv<int>("local0", MessageId("opY")), 8);
  // On the wire the id is the string prefix + str(counter).
  pools[0].send("local1", 9);
  pools[1].update_msg_prefix("");
  EXPECT_EQ(pools[1].recv<int>("local0", MessageId("session1-2")), 9);
}

TEST(Pool, BroadcastAndRecvAllInATrio) {
  testing::PoolGroup pools(3);
  pools[0].broadcast(std::string("to all"));
  pools[1].send("local2", std::string("from 1"));
  EXPECT_EQ(pools[1].recv<std::string>("local0"), "to all");
  auto all = pools[2].recv_all<std::string>();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0], (std::pair<std::string, std::string>{"local0", "to all"}));
  EXPECT_EQ(all[1], (std::pair<std::string, std::string>{"local1", "from 1"}));
}

TEST(Pool, UnknownPeerNameIsAClearError) {
  testing::PoolGroup pools(2);
  try {
    pools[0].send("nobody", 1);
    FAIL() << "no exception";
  } catch (const ConfigurationError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown peer 'nobody'"), std::string::npos);
  }
  EXPECT_THROW(pools[0].recv("nobody"), ConfigurationError);
}

TEST(Pool, RecvTimeoutIsAnError) {
  testing::PoolGroup pools(2);
  EXPECT_THROW(pools[1].recv("local0", std::nullopt, 100ms), TimeoutError);
  // The counter moved on: the next default receive waits for id 1; a late id 0 stays stored.
  pools[0].send("local1", 10);
  pools[0].send("local1", 11);
  EXPECT_EQ(pools[1].recv<int>("local0"), 11);
  EXPECT_EQ(pools[1].recv<int>("local0", MessageId(0)), 10);
}

TEST(Pool, RetriesExhaustedFailLoudly) {
  PoolConfig config;
  config.max_retries = 2;
  config.retry_delay = 10ms;
  Pool pool(config);
  pool.add_http_server(0, "127.0.0.1");
  // A port nothing listens on: take an ephemeral port and close it again.
  std::uint16_t dead_port = closed_port();
  pool.add_http_client("gone", "127.0.0.1", dead_port);
  try {
    pool.send("gone", 1);
    FAIL() << "no exception";
  } catch (const DeliveryError& e) {
    EXPECT_NE(std::string(e.what()).find("after 3 failed attempts"), std::string::npos) << e.what();
  }
}

TEST(Pool, ShutdownFailsSendsThatDidNotArriveInTime) {
  std::uint16_t nobody = closed_port();
  PoolConfig config;
  config.retry_delay = 20ms;
  Pool pool(config);
  pool.add_http_server(0, "127.0.0.1");
  pool.add_http_client("absent", "127.0.0.1", nobody);
  auto sent = pool.asend("absent", 1);
  pool.shutdown(100ms);
  try {
    sent.get();
    FAIL() << "no exception";
  } catch (const DeliveryError& e) {
    EXPECT_NE(std::string(e.what()).find("shut down before the message to 'absent'"),
              std::string::npos)
        << e.what();
  }
}

TEST(Pool, AReceiveCutOffByShutdownSaysSo) {
  testing::PoolGroup pools(2);
  auto pending = pools[1].arecv<int>("local0", MessageId("never"));
  pools[0].send("local1", 5, MessageId("kept"));
  pools[1].shutdown();
  try {
    pending.get();
    FAIL() << "no exception";
  } catch (const ShutdownError& e) {
    EXPECT_NE(std::string(e.what()).find("shut down before the message from 'local0' with id "
                                         "never arrived"),
              std::string::npos)
        << e.what();
  }
  // After the shutdown what arrived can still be received; anything else fails at once.
  EXPECT_EQ(pools[1].recv<int>("local0", MessageId("kept")), 5);
  EXPECT_THROW(pools[1].recv<int>("local0", MessageId("later")), ShutdownError);
}

TEST(Pool, AReceiverThatStartsLateIsReached) {
  PoolConfig config;
  config.retry_delay = 100ms;
  std::uint16_t receiver_port = closed_port();
  Pool sender(config);
  sender.add_http_server(0, "127.0.0.1");
  sender.add_http_client("late", "127.0.0.1", receiver_port);
  auto sent = sender.asend("late", std::string("early bird"));
  std::this_thread::sleep_for(3s);  // the sender keeps retrying meanwhile
  Pool receiver;
  receiver.add_http_server(receiver_port, "127.0.0.1");
  receiver.add_http_client("sender", "127.0.0.1", sender.port());
  EXPECT_EQ(receiver.recv<std::string>("sender"), "early bird");
  EXPECT_NO_THROW(sent.get());
}

TEST(Pool, WireAnswersAsTheReference) {
  testing::PoolGroup pools(2);
  std::uint16_t port = pools[1].port();
  std::uint16_t sender_port = pools[0].port();
  EXPECT_EQ(raw_http(port, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
            (std::pair<int, std::string>{200, "Connection working (GET)"}));
  EXPECT_EQ(raw_http(port, post(std::nullopt, packed(1, 0))).first, 400);
  EXPECT_EQ(raw_http(port, post(1, packed(1, 0))).first, 401);  // nobody has port 1
  EXPECT_EQ(raw_http(port, post(sender_port, "\xc1")).first, 500);
  // Any path, and the cookie among others, as the reference accepts them.
  std::string elsewhere = post(sender_port, packed("path", MessageId("p")));
  elsewhere.replace(0, 6, "POST /some/path");
  auto at = elsewhere.find("Cookie: ");
  elsewhere.insert(at + 8, "theme=dark; ");
  at = elsewhere.find("\r\n", at);
  elsewhere.insert(at, "; lang=nl");
  EXPECT_EQ(raw_http(port, elsewhere).first, 200) << elsewhere;
  EXPECT_EQ(pools[1].recv<std::string>("local0", MessageId("p")), "path");
  auto ok = raw_http(port, post(sender_port, packed("raw", MessageId("r"))));
  EXPECT_EQ(ok, (std::pair<int, std::string>{200, "Message received"}));
  EXPECT_EQ(pools[1].recv<std::string>("local0", MessageId("r")), "raw");
}

// Without a network thread, the program's own event loop drives the pools: it waits on their
// descriptors and runs their network when one is readable.
TEST(Pool, AnEventLoopOfTheProgramDrivesAPoolWithoutANetworkThread) {
  PoolConfig config;
  config.network_thread = false;
  testing::PoolGroup duo(2, config);
  auto sent = duo[0].asend("local1", std::string("driven"));
  auto pending = duo[1].arecv<std::string>("local0");
  std::vector<pollfd> watched{{duo[0].network_descriptor(), POLLIN, 0},
                              {duo[1].network_descriptor(), POLLIN, 0}};
  for (int i = 0; i < 1000 && !pending.ready(); ++i) {
    ::poll(watched.data(), watched.size(), 100);
    duo[0].run_network();
    duo[1].run_network();
  }
  EXPECT_EQ(pending.get(), "driven");
  for (int i = 0; i < 1000 && sent.wait_for(0s) != std::future_status::ready; ++i) {
    ::poll(watched.data(), watched.size(), 100);
    duo[0].run_network();
    duo[1].run_network();
  }
  duo[0].wait(std::move(sent));
  // Blocking calls need a network run by someone: callers run it, or the pool cannot be made.
  PoolConfig impossible = config;
  impossible.callers_run_network = false;
  EXPECT_THROW(Pool{impossible}, ConfigurationError);
}

TEST(Pool, SendOptionsAndReusedPortsForFrontEnds) {
  PoolConfig config;
  config.reuse_port = true;
  Pool first(config);
  Pool second(config);
  const std::uint16_t port = first.add_http_server(0, "127.0.0.1");
  EXPECT_EQ(second.add_http_server(port, "127.0.0.1"), port);  // SO_REUSEPORT
  Pool sender;
  sender.add_http_server(0, "127.0.0.1");
  sender.add_http_client("nobody", "127.0.0.1", closed_port());
  // The pool retries without limit; one send asks for none.
  std::promise<std::exception_ptr> failed;
  detail::PoolAccess::send(
      sender, "nobody", outgoing(pack_message(1, MessageId(0))),
      [&](std::exception_ptr e) { failed.set_value(e); }, SendOptions{0, std::nullopt});
  auto error = failed.get_future();
  ASSERT_EQ(error.wait_for(30s), std::future_status::ready);
  try {
    std::rethrow_exception(error.get());
  } catch (const DeliveryError& e) {
    EXPECT_NE(std::string(e.what()).find("after 1 failed attempts"), std::string::npos) << e.what();
  }
}

TEST(Ping, GivesUpAfterItsTimeout) {
  // A listener that accepts (in the kernel's backlog) and never answers.
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor silent(
      ioc, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  try {
    ping("127.0.0.1", silent.local_endpoint().port(), std::nullopt, 300ms);
    FAIL() << "no exception";
  } catch (const DeliveryError& e) {
    EXPECT_NE(std::string(e.what()).find("timeout"), std::string::npos) << e.what();
  }
  Pool live;
  PingResult answered = ping("127.0.0.1", live.add_http_server(0, "127.0.0.1"));
  EXPECT_EQ(answered.status, 200);
  EXPECT_EQ(answered.body, "Connection working (GET)");
}

TEST(Pool, AcceptsTheReferenceClientsCapturedRequests) {
  // Two POSTs that the real 4.8.1 client sent over one kept-alive connection, replayed as they
  // are, but with the sender's cookie port put in (the capture's sender listened on 9302).
  testing::PoolGroup pools(2);
  Bytes captured = test::read_file(test::data_path("vectors/http_request_example.bin"));
  std::string requests(reinterpret_cast<const char*>(captured.data()), captured.size());
  const std::string cookie = "server_port=9302";
  for (auto at = requests.find(cookie); at != std::string::npos; at = requests.find(cookie, at)) {
    requests.replace(at, cookie.size(), "server_port=" + std::to_string(pools[0].port()));
  }
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::socket socket(ioc);
  socket.connect({boost::asio::ip::make_address("127.0.0.1"), pools[1].port()});
  boost::asio::write(socket, boost::asio::buffer(requests));
  std::string responses;
  char chunk[4096];
  boost::system::error_code ec;
  auto count = [&](std::string_view what) {
    std::size_t n = 0;
    for (auto at = responses.find(what); at != std::string::npos; at = responses.find(what, at + 1))
      ++n;
    return n;
  };
  while (count("Message received") < 2 && !ec) {
    responses.append(chunk, socket.read_some(boost::asio::buffer(chunk), ec));
  }
  EXPECT_EQ(count("HTTP/1.1 200 OK"), 2u) << responses;
  EXPECT_EQ(pools[1].recv<std::string>("local0"), "Hello!");
  EXPECT_EQ(pools[1].recv("local0", MessageId("operationX")),
            Value::list({1, BigInt::from_string("1180591620717411303424")}));
}

TEST(Pool, AResendIsStoredOnceAndADifferentMessageIsRefused) {
  testing::PoolGroup pools(2);
  std::uint16_t port = pools[1].port();
  std::uint16_t sender_port = pools[0].port();
  EXPECT_EQ(raw_http(port, post(sender_port, packed("first", MessageId("d")))).first, 200);
  EXPECT_EQ(raw_http(port, post(sender_port, packed("first", MessageId("d")))).first, 200);
  auto refused = raw_http(port, post(sender_port, packed("other", MessageId("d"))));
  EXPECT_EQ(refused.first, 409);
  EXPECT_NE(refused.second.find("is waiting"), std::string::npos);
  EXPECT_EQ(pools[1].recv<std::string>("local0", MessageId("d")), "first");
  EXPECT_THROW(pools[1].recv("local0", MessageId("d"), 100ms), TimeoutError);  // stored once
  EXPECT_EQ(pools[1].statistics().peers.at("local0").messages_received, 1u);
}

TEST(Pool, LargeMessagesArriveIntact) {
  // Around the size from which the server reads bodies straight into their final buffer.
  testing::PoolGroup duo(2);
  std::mt19937_64 rng(7);
  for (std::size_t size :
       {std::size_t{65535}, std::size_t{65536}, std::size_t{65537}, std::size_t{5} << 20}) {
    Bytes payload(size);
    for (auto& b : payload) b = static_cast<std::byte>(rng());
    duo[0].send("local1", payload);
    EXPECT_EQ(duo[1].recv<Bytes>("local0"), payload) << size;
  }
}

TEST(Pool, RecvBorrowedViewsIntoTheMessage) {
  testing::PoolGroup duo(2);
  Bytes payload(300000, std::byte{9});
  duo[0].send("local1", std::make_tuple(payload, std::string("label")));
  auto got =
      duo[1].recv_borrowed<std::tuple<std::span<const std::byte>, std::string_view>>("local0");
  const auto& [bytes, label] = got.value;
  EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), payload.begin(), payload.end()));
  EXPECT_EQ(label, "label");
  // The views point into the body the result holds: nothing was copied.
  const auto* first = reinterpret_cast<const char*>(bytes.data());
  EXPECT_GE(first, got.body->data());
  EXPECT_LT(first, got.body->data() + got.body->size());
}

TEST(Pool, LargeBytesAreSentInPlaceInBothWireFormats) {
  for (auto format : {WireFormat::v4, WireFormat::v5}) {
    PoolConfig config;
    config.wire_format = format;
    testing::PoolGroup duo(2, config);
    Bytes payload((2 << 20) + 3);
    for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<std::byte>(i % 251);
    duo[0].send("local1", payload);  // from the caller's memory
    duo[0].send("local1", std::span<const std::byte>(payload), MessageId("span"));
    // Shared with the pool (no copy) until the send completes, then released.
    auto shared = std::make_shared<const Bytes>(payload);
    auto sent = duo[0].asend("local1", shared, MessageId("shared"));
    duo[0].wait(std::move(sent));
    EXPECT_TRUE(eventually([&] { return shared.use_count() == 1; }));
    duo[0].wait(duo[0].asend("local1", Bytes(payload), MessageId("moved")));
    EXPECT_EQ(duo[1].recv<Bytes>("local0"), payload);
    EXPECT_EQ(duo[1].recv<Bytes>("local0", MessageId("span")), payload);
    EXPECT_EQ(duo[1].recv<Bytes>("local0", MessageId("shared")), payload);
    EXPECT_EQ(duo[1].recv<Bytes>("local0", MessageId("moved")), payload);
    EXPECT_EQ(duo[0].statistics().total.bytes_sent, duo[1].statistics().total.bytes_received);
  }
}

TEST(Pool, PollingBeforeSleepingDeliversAndShutsDown) {
  PoolConfig config;
  config.poll_before_sleep = std::chrono::microseconds(30);
  testing::PoolGroup duo(2, config);
  for (int i = 0; i < 100; ++i) {
    duo[0].send("local1", i);
    EXPECT_EQ(duo[1].recv<int>("local0"), i);
  }
  EXPECT_EQ(duo[1].shutdown(std::chrono::seconds(1)).total.messages_received, 100u);
}

TEST(Pool, APartyServesAndSendsWhileNoCallerWaits) {
  // Nobody calls into the receiving pool: its own thread must take the network over, answer the
  // message (the sender's send returns) and store it; an asend is delivered while its caller
  // sleeps; a bare get() on an asend's future completes.
  testing::PoolGroup duo(2);
  duo[0].send("local1", 1);
  EXPECT_EQ(duo[1].statistics().total.messages_received, 1u);
  auto sent = duo[1].asend("local0", 2);
  EXPECT_TRUE(eventually([&] { return duo[0].statistics().total.messages_received == 1; }));
  sent.get();
  EXPECT_EQ(duo[1].recv<int>("local0"), 1);
  EXPECT_EQ(duo[0].recv<int>("local1"), 2);
}

TEST(Pool, CallersInSeveralThreadsShareTheNetwork) {
  // Three threads wait in one pool at once (for two peers and a send): whichever runs the
  // network completes the others' waits too.
  for (bool callers_run_network : {true, false}) {
    PoolConfig config;
    config.callers_run_network = callers_run_network;
    testing::PoolGroup trio(3, config);
    constexpr int kRounds = 200;
    std::vector<std::thread> threads;
    std::vector<int> sums(2, 0);
    for (int from = 1; from <= 2; ++from) {
      threads.emplace_back([&, from] {
        for (int i = 0; i < kRounds; ++i)
          sums[from - 1] += trio[0].recv<int>(testing::party_name(from));
      });
    }
    threads.emplace_back([&] {
      for (int i = 0; i < kRounds; ++i) trio[0].send("local1", i);
    });
    for (int i = 0; i < kRounds; ++i) {
      trio[1].asend("local0", i);
      trio[2].send("local0", 2 * i);
    }
    for (int i = 0; i < kRounds; ++i) EXPECT_EQ(trio[1].recv<int>("local0"), i);
    for (auto& t : threads) t.join();
    EXPECT_EQ(sums[0], kRounds * (kRounds - 1) / 2) << callers_run_network;
    EXPECT_EQ(sums[1], kRounds * (kRounds - 1)) << callers_run_network;
  }
}

std::uint64_t context_switches() {
  return threads_of_this_process().switches;
}

TEST(Pool, AnIdlePartySleeps) {
  // Two parties with a connection between them and nothing to do: their threads sleep until
  // there is work, whether nobody waits in a call or a caller waits for a message that does not
  // come. (The pool's thread used to wake every 20 ms, and every 1 ms while a caller waited.)
  testing::PoolGroup duo(2);
  duo[0].send("local1", 1);
  EXPECT_EQ(duo[1].recv<int>("local0"), 1);
  std::this_thread::sleep_for(100ms);  // the pools' threads take the network back
  auto before = context_switches();
  std::this_thread::sleep_for(1s);
  auto nobody_waits = context_switches() - before;
  std::thread waiting(
      [&] { EXPECT_THROW(duo[1].recv<int>("local0", std::nullopt, 1500ms), TimeoutError); });
  std::this_thread::sleep_for(200ms);
  before = context_switches();
  std::this_thread::sleep_for(1s);
  auto caller_waits = context_switches() - before;
  waiting.join();
  // A handful: this thread's own sleep, a caller's wait slice, a sanitizer's background thread.
  // (Before: ~100 with nobody waiting, two pools' threads waking every 20 ms; ~1,000 while a
  // caller waited.)
  EXPECT_LT(nobody_waits, 40u);
  EXPECT_LT(caller_waits, 40u);
}

// The pools' own threads in this process (named mpc-comm-net), and their context switches.
Threads pool_threads() {
  return threads_of_this_process("mpc-comm-net");
}

TEST(Pool, APoolsThreadSleepsThroughAConversation) {
  // Callers that come and go, a round trip at a time, run the network themselves; the pools'
  // threads sleep until callers stay away for a grace period. (They used to wake at every return
  // of a caller, at most once a millisecond: 625–735 context switches in such a conversation.)
  // A caller held up for longer than the grace period (a loaded machine) wakes them once, so the
  // least of up to five conversations counts.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "under a sanitizer a round trip can take longer than the grace period";
#endif
  testing::PoolGroup duo(2);
  duo[0].send("local1", -1);
  EXPECT_EQ(duo[1].recv<int>("local0"), -1);
  constexpr int kRoundTrips = 2000;
  std::uint64_t fewest = std::numeric_limits<std::uint64_t>::max();
  for (int attempt = 0; attempt < 5 && fewest >= kRoundTrips / 20; ++attempt) {
    std::thread echo([&] {
      try {
        for (int i = 0; i < kRoundTrips; ++i) {
          duo[1].send("local0", duo[1].recv<int>("local0", std::nullopt, 10s));
        }
      } catch (const TimeoutError&) {
        // the conversation ended early: its failure is reported below
      }
    });
    const Threads before = pool_threads();
    EXPECT_EQ(before.threads, 2);
    for (int i = 0; i < kRoundTrips; ++i) {
      duo[0].send("local1", i);
      const int back = duo[0].recv<int>("local1", std::nullopt, 10s);
      if (back != i) {
        ADD_FAILURE() << "got " << back << " for " << i;
        break;
      }
    }
    fewest = std::min(fewest, pool_threads().switches - before.switches);
    echo.join();
  }
  EXPECT_LT(fewest, kRoundTrips / 20u);
}

TEST(Pool, PartiesSharingACoreHandItOverWithoutWaitingForEvents) {
  // A conversation between two parties whose threads share a core: a send whose answer is
  // looked for at once yields the core to the peer it has just woken, which answers before the
  // sender looks; so the callers hardly ever wait in the kernel. (Without the yield the peer's 200
  // woke the sender out of such a wait: 1–2 waits per round trip in all.)
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "under a sanitizer a party's turn can take longer than a quick yield";
#endif
  const OnOneCore pinned;
  if (!pinned.ok()) GTEST_SKIP() << "this thread may not be pinned to its core";
  constexpr int kRoundTrips = 2000;
  const auto fewest = test::fewest_waits_in_conversations(
      [] { return std::make_unique<testing::PoolGroup>(2); }, kRoundTrips, 5, kRoundTrips / 2);
  EXPECT_LT(fewest, kRoundTrips / 2u);
}

// A party run as the Python front-end runs it: no thread of its own (the test's thread runs the
// network), arrivals forwarded, 200s deferred when asked; a raw client that speaks for a peer
// named "raw" (cookie port kRawPort).
class DeferredAnswers : public ::testing::Test {
 protected:
  static constexpr std::uint16_t kRawPort = 9;
  DeferredAnswers() : party_(config()) {
    detail::PoolAccess::forward_arrivals(
        party_, [this](const std::string&, detail::PoolAccess::Body) { arrived_.fetch_add(1); });
    party_.add_http_server(0, "127.0.0.1");
    party_.add_http_client("raw", "127.0.0.1", kRawPort);
  }
  static PoolConfig config() {
    PoolConfig c;
    c.network_thread = false;
    c.callers_run_network = true;
    return c;
  }
  static std::string request(std::int64_t id) {
    return test::post_request(kRawPort, as_string(pack_message(Value(), MessageId(id))));
  }
  static std::string as_string(const ByteBuffer& b) {
    return std::string(reinterpret_cast<const char*>(b.data()), b.size());
  }
  // Runs the network until `count` messages arrived (at most 10 s).
  bool run_until_arrived(int count) {
    for (int i = 0; i < 10000 && arrived_.load() < count; ++i) {
      party_.run_network();
      if (arrived_.load() < count) std::this_thread::sleep_for(1ms);
    }
    return arrived_.load() >= count;
  }
  Pool party_;
  std::atomic<int> arrived_{0};
};

TEST_F(DeferredAnswers, WithoutDeferralThe200IsWrittenWhenTheMessageIsRead) {
  test::RawConnection c(party_.port());
  c.send(request(0));
  ASSERT_TRUE(run_until_arrived(1));
  EXPECT_EQ(c.read_response(1s).first, 200);
}

TEST_F(DeferredAnswers, ADeferred200IsWrittenWhenPaid) {
  ASSERT_TRUE(detail::PoolAccess::defer_answers(party_, true));
  test::RawConnection c(party_.port());
  c.send(request(0));
  ASSERT_TRUE(run_until_arrived(1));
  party_.run_network();
  // Nothing runs the network but this thread: the 200 is not on the wire until it is paid.
  EXPECT_EQ(c.read_response(20ms).first, 0);
  ASSERT_TRUE(detail::PoolAccess::pay_deferred_answers(party_));
  EXPECT_EQ(c.read_response(1s).first, 200);
}

TEST_F(DeferredAnswers, AnswersDeferredOnAConnectionGoOutInOrderWithTheNextOnes) {
  ASSERT_TRUE(detail::PoolAccess::defer_answers(party_, true));
  test::RawConnection c(party_.port());
  c.send(request(0));
  ASSERT_TRUE(run_until_arrived(1));
  c.send(request(1));
  ASSERT_TRUE(run_until_arrived(2));
  EXPECT_EQ(c.read_response(20ms).first, 0);
  ASSERT_TRUE(detail::PoolAccess::pay_deferred_answers(party_));
  EXPECT_EQ(c.read_response(1s).first, 200);
  EXPECT_EQ(c.read_response(1s).first, 200);
  EXPECT_EQ(c.unread(), "");
}

TEST_F(DeferredAnswers, TurningDeferralOffPaysWhatIsDeferred) {
  ASSERT_TRUE(detail::PoolAccess::defer_answers(party_, true));
  test::RawConnection c(party_.port());
  c.send(request(0));
  ASSERT_TRUE(run_until_arrived(1));
  ASSERT_TRUE(detail::PoolAccess::defer_answers(party_, false));
  EXPECT_EQ(c.read_response(1s).first, 200);
  c.send(request(1));  // answered at once again
  ASSERT_TRUE(run_until_arrived(2));
  EXPECT_EQ(c.read_response(1s).first, 200);
}

TEST_F(DeferredAnswers, AShutdownPaysWhatIsDeferred) {
  ASSERT_TRUE(detail::PoolAccess::defer_answers(party_, true));
  test::RawConnection c(party_.port());
  c.send(request(0));
  ASSERT_TRUE(run_until_arrived(1));
  party_.shutdown(1s);
  EXPECT_EQ(c.read_response(1s).first, 200);
}

TEST_F(DeferredAnswers, DeferredAnswersTheSocketCannotTakeAtOnceAllArrive) {
  // A client that pipelines requests and reads no answer until the last request went out: their
  // 200s (~6 MB) are more than the socket takes at once when they are paid (its peer's receive
  // buffer is small).
  ASSERT_TRUE(detail::PoolAccess::defer_answers(party_, true));
  constexpr int kRequests = 60000;
  test::RawConnection c(party_.port(), "127.0.0.1", "", 4096);
  std::string all;
  for (int i = 0; i < kRequests; ++i) all += request(i);
  std::atomic<bool> written{false};
  std::thread writer([&] {
    c.send(all);
    written = true;
  });
  ASSERT_TRUE(run_until_arrived(kRequests));
  writer.join();
  ASSERT_TRUE(written.load());
  ASSERT_TRUE(detail::PoolAccess::pay_deferred_answers(party_));
  int answered = 0;
  for (int round = 0; round < 1000 && answered < kRequests; ++round) {
    party_.run_network();  // writes what the socket did not take when they were paid
    while (answered < kRequests && c.read_response(20ms).first == 200) ++answered;
  }
  EXPECT_EQ(answered, kRequests);
}

TEST(Pool, PendingMessagesCompleteWhileTheirCallerWaitsOnThem) {
  testing::PoolGroup duo(2);
  auto pending = duo[1].arecv<int>("local0");
  EXPECT_FALSE(pending.ready());
  EXPECT_FALSE(pending.wait_for(20ms));
  duo[0].asend("local1", 7);
  pending.wait();
  EXPECT_TRUE(pending.ready());
  EXPECT_EQ(pending.get(), 7);
  duo[0].wait(duo[0].asend("local1", 8));
  EXPECT_EQ(duo[1].recv<int>("local0"), 8);
}

TEST(Pool, ABodyOverTheLimitIs413AndFinal) {
  PoolConfig small;
  small.max_body_bytes = 100000;
  Pool receiver(small);
  receiver.add_http_server(0, "127.0.0.1");
  Pool sender;
  sender.add_http_server(0, "127.0.0.1");
  sender.add_http_client("receiver", "127.0.0.1", receiver.port());
  receiver.add_http_client("sender", "127.0.0.1", sender.port());
  std::string error;
  try {
    sender.send("receiver", Bytes(200000));
  } catch (const DeliveryError& e) {
    error = e.what();
  }
  EXPECT_NE(error.find("413"), std::string::npos) << error;
  sender.send("receiver", Bytes(1000), MessageId("small"));
  EXPECT_EQ(receiver.recv<Bytes>("sender", MessageId("small")).size(), 1000u);
  EXPECT_EQ(receiver.statistics().total.messages_received, 1u);
}

TEST(Pool, NilPayloadIsDelivered) {
  testing::PoolGroup pools(2);
  pools[0].send("local1", nullptr);
  std::this_thread::sleep_for(50ms);  // arrives before the receive (the reference loses it)
  EXPECT_TRUE(pools[1].recv("local0").is_nil());
}

TEST(Pool, StatisticsCountBodies) {
  testing::PoolGroup pools(2);
  pools[0].send("local1", std::string(1000, 'x'));
  (void)pools[1].recv("local0");
  auto sent = pools[0].shutdown();
  auto received = pools[1].shutdown();
  EXPECT_EQ(sent.total.messages_sent, 1u);
  EXPECT_GT(sent.total.bytes_sent, 1000u);
  EXPECT_EQ(received.peers.at("local0").bytes_received, sent.peers.at("local1").bytes_sent);
  EXPECT_THROW(pools[0].send("local1", 1), DeliveryError);
}

// A custom class that records the parties its serializers saw.
struct Witness {
  static constexpr std::string_view mpc_type_name = "Witness";
  std::string seen;
  std::string serialize(const SerializationContext& ctx) const {
    return "to " + std::string(ctx.destination);
  }
  static Witness deserialize(std::string data, const SerializationContext& ctx) {
    return {data + ", from " + std::string(ctx.origin)};
  }
};

TEST(Pool, CustomSerializersSeeOriginAndDestination) {
  Serialization::register_class<Witness>();
  testing::PoolGroup pools(2);
  pools[0].send("local1", Witness{});
  EXPECT_EQ(pools[1].recv<Witness>("local0").seen, "to local1, from local0");
}

TEST(Pool, TenPartiesAllToAll) {
  testing::PoolGroup pools(10);
  for (std::size_t i = 0; i < pools.size(); ++i) {
    pools[i].broadcast(static_cast<int>(i));
  }
  for (std::size_t i = 0; i < pools.size(); ++i) {
    int sum = 0;
    for (const auto& [name, v] : pools[i].recv_all<int>()) sum += v;
    EXPECT_EQ(sum, 45 - static_cast<int>(i));
  }
}

}  // namespace
}  // namespace tno::mpc::communication

#include <boost/asio/co_spawn.hpp>

#include "tno/mpc/communication/awaitable.hpp"

namespace tno::mpc::communication {
namespace {

// Runs coroutines on an io_context of the test's own and rethrows what one of them threw.
void run_coroutines(std::vector<boost::asio::awaitable<void>> tasks) {
  boost::asio::io_context ioc;
  std::exception_ptr failure;
  for (auto& t : tasks) {
    boost::asio::co_spawn(ioc, std::move(t), [&](std::exception_ptr e) {
      if (e && !failure) failure = e;
    });
  }
  ioc.run();
  if (failure) std::rethrow_exception(failure);
}

TEST(PoolCoroutines, SendAndReceiveWithCoAwait) {
  testing::PoolGroup pools(2);
  std::string got;
  std::vector<double> numbers;
  auto alice = [&]() -> boost::asio::awaitable<void> {
    co_await async_send(pools[0], "local1", std::string("hi"));
    numbers = co_await async_recv<std::vector<double>>(pools[0], "local1");
  };
  auto bob = [&]() -> boost::asio::awaitable<void> {
    // Waits before the message is there: the io_context must not run out of work meanwhile.
    got = co_await async_recv<std::string>(pools[1], "local0");
    // (A named vector: GCC 12 cannot put an initializer list inside a co_await expression.)
    const std::vector<double> reply = {1.5, -2};
    co_await async_send(pools[1], "local0", reply);
  };
  std::vector<boost::asio::awaitable<void>> tasks;
  tasks.push_back(bob());
  tasks.push_back(alice());
  run_coroutines(std::move(tasks));
  EXPECT_EQ(got, "hi");
  EXPECT_EQ(numbers, (std::vector<double>{1.5, -2}));
}

TEST(PoolCoroutines, FailuresAreRethrownAtTheCoAwait) {
  std::uint16_t nobody = closed_port();
  PoolConfig config;
  config.max_retries = 0;
  Pool pool(config);
  pool.add_http_server(0, "127.0.0.1");
  pool.add_http_client("absent", "127.0.0.1", nobody);
  bool caught = false;
  auto task = [&]() -> boost::asio::awaitable<void> {
    try {
      co_await async_send(pool, "absent", 1);
    } catch (const DeliveryError&) {
      caught = true;
    }
  };
  std::vector<boost::asio::awaitable<void>> tasks;
  tasks.push_back(task());
  run_coroutines(std::move(tasks));
  EXPECT_TRUE(caught);

  // A payload that does not decode as the asked type fails at the co_await too.
  testing::PoolGroup pools(2);
  pools[0].send("local1", std::string("not a number"));
  auto wrong = [&]() -> boost::asio::awaitable<void> {
    co_await async_recv<int>(pools[1], "local0");
  };
  std::vector<boost::asio::awaitable<void>> more;
  more.push_back(wrong());
  EXPECT_THROW(run_coroutines(std::move(more)), TypeMismatchError);
}

// Failures at the start (after the shutdown, an unknown peer) reach the co_await as well, not
// the run() of the awaiting executor.
TEST(PoolCoroutines, FailuresToStartAreRethrownAtTheCoAwait) {
  testing::PoolGroup pools(2);
  pools[1].shutdown();
  int caught = 0;
  auto task = [&]() -> boost::asio::awaitable<void> {
    try {
      co_await async_recv<int>(pools[1], "local0");
    } catch (const ShutdownError&) {
      ++caught;
    }
    try {
      co_await async_send(pools[1], "local0", 1);
    } catch (const DeliveryError&) {
      ++caught;
    }
    try {
      co_await async_recv<int>(pools[0], "nobody");
    } catch (const ConfigurationError&) {
      ++caught;
    }
  };
  std::vector<boost::asio::awaitable<void>> tasks;
  tasks.push_back(task());
  run_coroutines(std::move(tasks));
  EXPECT_EQ(caught, 3);
}

}  // namespace
}  // namespace tno::mpc::communication
