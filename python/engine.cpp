// mpc_comm._engine: the C++ engine under the Python package. A Pool that moves packed messages
// for a Python front-end (python/mpc_comm), which keeps the reference's ids, counters and buffer
// and packs and unpacks with the reference's own Serialization.
//
// The engine has no thread of its own: asyncio's loop watches its descriptor (Asio's epoll set)
// and runs its ready work, so that a message costs no hand-off between threads. Completions of
// sends and arriving messages cross to Python through a Dispatcher: a queue filled without the
// GIL (by the loop's thread, or by a thread running the network during a shutdown) and an
// eventfd that the loop watches too; the loop drains the queue in the order it was filled. One
// dispatcher serves every pool of a loop, so that a receiver's message is handed over before the
// 200 that resumes its sender, as with the reference.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "tno/mpc/communication/pool.hpp"
#include "tno/mpc/communication/wire.hpp"

namespace nb = nanobind;
namespace mpc = tno::mpc::communication;

namespace {

using Body = std::shared_ptr<const mpc::ReceivedBody>;

// How a send ended, as the Python side reads it.
enum SendStatus : int { kDelivered = 0, kNotDelivered = 1, kTlsRefused = 2, kFailed = 3 };

struct Completion {
  std::uint64_t token;
  int status;
  std::string error;
};
struct Arrival {
  std::uint64_t engine;
  std::string peer;
  Body body;
};
using Event = std::variant<Completion, Arrival>;

// A received body for Python: small ones as bytes (a copy is cheaper than a view), large ones as a
// read-only memoryview of the engine's memory, which the view keeps alive (no copy).
nb::object python_body(Body body) {
  constexpr std::size_t kViewBytes = 64 * 1024;
  if (body->size() < kViewBytes) return nb::bytes(body->data(), body->size());
  const auto* data = reinterpret_cast<const std::uint8_t*>(body->data());
  std::size_t shape[1] = {body->size()};
  nb::capsule owner(new Body(std::move(body)),
                    [](void* held) noexcept { delete static_cast<Body*>(held); });
  return nb::cast(nb::ndarray<nb::memview, const std::uint8_t, nb::ndim<1>>(data, 1, shape, owner));
}

// A large bytes message, {"object": <bin>, "id": <int or str>} exactly as the reference packs a
// bytes object, unpacked here: the reference's unpacking of it gives the bin as bytes and the id,
// and nothing else (no serializer takes part), so the result is the same. What it changes is how
// the bytes are copied: in steps, with the network read meanwhile (the next message streams in),
// and into pages advised huge before they are written (outside `python -m mpc_comm.run`, whose
// malloc tunable does that for every large block, ormsgpack's copy goes to 4 KiB pages, whose
// first touch costs more than the copy: a 64 MiB message ~75 ms, against ~22 ms). Bodies of any
// other shape, or smaller, go to the reference's Serialization.
constexpr std::size_t kUnpackHereBytes = std::size_t{1} << 20;

struct BytesMessage {
  mpc::Reader::Integer int_id{};
  std::optional<std::string_view> str_id;
  std::span<const std::byte> payload;
};

std::optional<BytesMessage> bytes_message(const mpc::ReceivedBody& body) {
  if (body.size() < kUnpackHereBytes) return std::nullopt;
  try {
    mpc::Reader r(body.bytes());
    BytesMessage m;
    if (r.read_map_header() != 2 || r.read_str() != "object" || r.peek() != mpc::WireType::bin) {
      return std::nullopt;
    }
    m.payload = r.read_bin();
    if (r.read_str() != "id") return std::nullopt;
    const mpc::WireType id_type = r.peek();
    if (id_type == mpc::WireType::str) {
      m.str_id = r.read_str();
    } else if (id_type == mpc::WireType::uint || id_type == mpc::WireType::sint) {
      m.int_id = r.read_integer();
    } else {
      return std::nullopt;
    }
    if (!r.at_end()) return std::nullopt;
    return m;
  } catch (const mpc::Error&) {
    return std::nullopt;  // not this shape: the reference's unpacking says what is wrong
  }
}

// `bytes` as a Python bytes object whose memory is advised to be backed by huge pages before the
// copy touches it (GIL held; released for the copy, which goes in steps with
// `between_steps(false)` run after each but the last, `between_steps(true)` after the last).
template <class BetweenSteps>
nb::object huge_page_bytes(std::span<const std::byte> bytes, BetweenSteps between_steps) {
  nb::object result =
      nb::steal(PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(bytes.size())));
  if (!result.is_valid()) throw nb::python_error();
  char* to = PyBytes_AS_STRING(result.ptr());
  {
    nb::gil_scoped_release unlocked;  // the object is not shared yet
    constexpr std::uintptr_t kHugePage = std::uintptr_t{2} << 20;
    const auto start = (reinterpret_cast<std::uintptr_t>(to) + kHugePage - 1) & ~(kHugePage - 1);
    const auto end = (reinterpret_cast<std::uintptr_t>(to) + bytes.size()) & ~(kHugePage - 1);
    if (end > start) madvise(reinterpret_cast<void*>(start), end - start, MADV_HUGEPAGE);
    constexpr std::size_t kStep = std::size_t{4} << 20;
    for (std::size_t at = 0; at < bytes.size(); at += kStep) {
      const std::size_t n = std::min(kStep, bytes.size() - at);
      std::memcpy(to + at, bytes.data() + at, n);
      between_steps(at + n == bytes.size());
    }
  }
  return result;
}

// A message id as the reference's unpacking gives it; None when a str id is not UTF-8 (the
// reference's unpacking reports that).
std::optional<nb::object> python_id(const BytesMessage& m) {
  if (m.str_id) {
    PyObject* id =
        PyUnicode_DecodeUTF8(m.str_id->data(), static_cast<Py_ssize_t>(m.str_id->size()), nullptr);
    if (id == nullptr) {
      PyErr_Clear();
      return std::nullopt;
    }
    return nb::steal(id);
  }
  nb::object magnitude = nb::steal(PyLong_FromUnsignedLongLong(m.int_id.magnitude));
  if (!magnitude.is_valid()) throw nb::python_error();
  if (!m.int_id.negative) return magnitude;
  nb::object negative = nb::steal(PyNumber_Negative(magnitude.ptr()));
  if (!negative.is_valid()) throw nb::python_error();
  return negative;
}

// An arrival as the dispatcher hands it to Python: ("arrived", engine, peer, body) for the
// reference's Serialization to unpack, or ("arrived_bytes", engine, peer, size, id, payload) for a
// large bytes message unpacked here (see huge_page_bytes for `between_steps`).
template <class BetweenSteps>
nb::tuple python_arrival(std::uint64_t engine, const std::string& peer, Body body,
                         BetweenSteps between_steps) {
  if (auto m = bytes_message(*body)) {
    try {
      if (auto id = python_id(*m)) {
        return nb::make_tuple("arrived_bytes", engine, peer, body->size(), *id,
                              huge_page_bytes(m->payload, between_steps));
      }
    } catch (const nb::python_error&) {
      // No memory for it here (MemoryError): the reference's unpacking reports what it meets.
    }
  }
  return nb::make_tuple("arrived", engine, peer, python_body(std::move(body)));
}

// Set while the loop's own thread runs the network: what it pushes is drained right after, so no
// wake-up through the descriptor is needed.
thread_local bool draining_inline = false;

class Dispatcher {
 public:
  Dispatcher() : fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (fd_ < 0) throw std::runtime_error("cannot make an eventfd for the dispatcher");
  }
  ~Dispatcher() { ::close(fd_); }
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  int fileno() const { return fd_; }
  bool pending() {
    std::lock_guard lock(mu_);
    return !queue_.empty();
  }

  // Any thread, no GIL. The descriptor is written only when the queue turns non-empty, and not
  // for the loop's own thread (which drains after it ran the network): one wake-up however many
  // events pile up before the loop drains them.
  void push(Event event) {
    bool was_empty;
    {
      std::lock_guard lock(mu_);
      was_empty = queue_.empty();
      queue_.push_back(std::move(event));
    }
    if (was_empty && !draining_inline) {
      const std::uint64_t one = 1;
      [[maybe_unused]] ssize_t n = ::write(fd_, &one, sizeof one);
    }
  }

  // The loop's thread, GIL held: the events so far, in order, as tuples
  //   ("sent", token, status, error), ("arrived", engine, peer, body) and
  //   ("arrived_bytes", engine, peer, size, id, payload) (see python_arrival).
  // The descriptor is read before the queue is taken, so a push that comes in between writes it
  // again and is not missed.
  nb::list drain(bool from_descriptor) {
    if (from_descriptor) {
      std::uint64_t ignored;
      [[maybe_unused]] ssize_t n = ::read(fd_, &ignored, sizeof ignored);
    }
    std::deque<Event> events;
    {
      std::lock_guard lock(mu_);
      events.swap(queue_);
    }
    nb::list out;
    for (auto& event : events) {
      if (auto* c = std::get_if<Completion>(&event)) {
        out.append(nb::make_tuple("sent", c->token, c->status, c->error));
      } else {
        auto& a = std::get<Arrival>(event);
        out.append(python_arrival(a.engine, a.peer, std::move(a.body),
                                  [this](bool last) { run_networks(last); }));
      }
    }
    return out;
  }

  // The pools whose network this dispatcher's loop runs (each engine's).
  void add_network(std::weak_ptr<mpc::Pool> pool) {
    std::lock_guard lock(mu_);
    std::erase_if(networks_, [](const auto& p) { return p.expired(); });
    networks_.push_back(std::move(pool));
  }

 private:
  // Runs the ready work of every pool of this loop (no GIL): a few steps between the steps of a
  // large message's copy for Python, so that the next one streams in meanwhile instead of waiting
  // in the socket, and all of it after the last (work left ready after a bounded run would not
  // make the network's descriptor readable). What the networks push now is drained later (the
  // descriptor is written: draining_inline is not set).
  static constexpr std::size_t kStepsBetweenCopies = 4;
  void run_networks(bool all) {
    std::vector<std::shared_ptr<mpc::Pool>> pools;
    {
      std::lock_guard lock(mu_);
      for (const auto& p : networks_) {
        if (auto pool = p.lock()) pools.push_back(std::move(pool));
      }
    }
    for (const auto& pool : pools) {
      pool->run_network(all ? std::nullopt : std::optional<std::size_t>(kStepsBetweenCopies));
    }
  }

  int fd_;
  std::mutex mu_;
  std::deque<Event> queue_;
  std::vector<std::weak_ptr<mpc::Pool>> networks_;
};

Completion completion(std::uint64_t token, std::exception_ptr error) {
  if (!error) return {token, kDelivered, {}};
  try {
    std::rethrow_exception(error);
  } catch (const mpc::TlsError& e) {
    return {token, kTlsRefused, e.what()};
  } catch (const mpc::DeliveryError& e) {
    return {token, kNotDelivered, e.what()};
  } catch (const std::exception& e) {
    return {token, kFailed, e.what()};
  }
}

std::optional<std::chrono::milliseconds> milliseconds(std::optional<double> seconds) {
  if (!seconds || !std::isfinite(*seconds) || *seconds <= 0) return std::nullopt;
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::ceil(*seconds * 1000)));
}

class Engine {
 public:
  Engine(std::shared_ptr<Dispatcher> dispatcher, std::uint64_t id, std::optional<std::string> key,
         std::optional<std::string> cert, std::optional<std::string> ca_cert, int max_retries,
         std::optional<double> attempt_timeout, bool reuse_port)
      : dispatcher_(std::move(dispatcher)) {
    mpc::PoolConfig config;
    config.max_retries = max_retries;
    if (auto t = milliseconds(attempt_timeout)) config.attempt_timeout = *t;
    config.reuse_port = reuse_port;
    // No thread of the engine's own: asyncio's loop runs the network (descriptor(),
    // run_network()), and shutdown, which blocks, runs it itself meanwhile.
    config.network_thread = false;
    config.callers_run_network = true;
    // A Python process's malloc is the interpreter's business.
    config.retain_freed_memory = false;
    if (ca_cert) config.tls = mpc::TlsConfig{key.value_or(""), cert.value_or(""), *ca_cert};
    pool_ = std::make_shared<mpc::Pool>(config);
    dispatcher_->add_network(pool_);

    std::weak_ptr<Dispatcher> d = dispatcher_;
    mpc::detail::PoolAccess::forward_arrivals(*pool_, [d, id](const std::string& peer, Body body) {
      if (auto to = d.lock()) to->push(Arrival{id, peer, std::move(body)});
    });
  }

  int listen(std::optional<int> port, const std::string& addr) {
    nb::gil_scoped_release unlocked;
    std::optional<std::uint16_t> p;
    if (port) p = static_cast<std::uint16_t>(*port);
    return pool_->add_http_server(p, addr);
  }

  void advertise_port(int port) {
    mpc::detail::PoolAccess::advertise_port(*pool_, static_cast<std::uint16_t>(port));
  }

  void add_peer(const std::string& name, const std::string& addr, int port,
                std::optional<std::string> cert) {
    nb::gil_scoped_release unlocked;  // the address may take a DNS lookup
    pool_->add_http_client(name, addr, static_cast<std::uint16_t>(port), std::move(cert));
  }

  // Sends `body` (a packed message, its id inside) to `peer`; ("sent", token, ...) follows. The
  // bytes go out from the bytes object itself: the caller keeps it alive until that event.
  // With `run`, the request goes out now; else at the network's next run (the caller arranges
  // one: a burst of sends then costs one run). True when events wait to be drained.
  bool send(const std::string& peer, nb::bytes body, std::uint64_t token,
            std::optional<int> max_retries, std::optional<double> timeout, bool run) {
    pay_answers();
    std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(body.c_str()), body.size());
    auto message = mpc::OutgoingMessage{std::make_shared<const mpc::ByteBuffer>(), bytes};
    std::weak_ptr<Dispatcher> d = dispatcher_;
    mpc::detail::PoolAccess::send(
        *pool_, peer, std::move(message),
        [d, token](std::exception_ptr error) {
          if (auto to = d.lock()) to->push(completion(token, error));
        },
        mpc::SendOptions{max_retries, milliseconds(timeout)});
    return run ? run_network() : dispatcher_->pending();
  }

  // Sends the message {"object": payload, "id": id} with the bin payload going out from the bytes
  // object itself (no packed copy); the same bytes on the wire as the reference's packing of a
  // bytes object. Returns (events to drain, the message's size).
  nb::tuple send_bytes(const std::string& peer, nb::bytes payload, nb::object id,
                       std::uint64_t token, std::optional<int> max_retries,
                       std::optional<double> timeout) {
    pay_answers();
    std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(payload.c_str()),
                                     payload.size());
    mpc::MessageId message_id = nb::isinstance<nb::int_>(id)
                                    ? mpc::MessageId(nb::cast<std::int64_t>(id))
                                    : mpc::MessageId(nb::cast<std::string>(id));
    auto message = mpc::message_around_bytes(bytes, nullptr, message_id);
    const std::size_t size = message.size();
    std::weak_ptr<Dispatcher> d = dispatcher_;
    mpc::detail::PoolAccess::send(
        *pool_, peer, std::move(message),
        [d, token](std::exception_ptr error) {
          if (auto to = d.lock()) to->push(completion(token, error));
        },
        mpc::SendOptions{max_retries, milliseconds(timeout)});
    return nb::make_tuple(run_network(), size);
  }

  // Waits up to `deadline` seconds for the sends under way, then stops (the GIL is released:
  // the loop drains their completions meanwhile when this runs in an executor).
  void shutdown(double deadline) {
    nb::gil_scoped_release unlocked;
    pool_->shutdown(std::chrono::milliseconds(static_cast<std::int64_t>(deadline * 1000)));
  }

  // With `on`, a message's 200 waits until the program had its turn (Python pays it at the end of
  // that turn, pay_answers(), or sends first), so that a reply sent in that turn goes out with it;
  // off pays them. Returns whether 200s are deferred now (unchanged while another thread runs the
  // network: a shutdown, which pays them).
  bool defer_answers(bool on) {
    if (mpc::detail::PoolAccess::defer_answers(*pool_, on)) deferring_ = on;
    return deferring_;
  }
  void pay_answers() {
    if (deferring_) mpc::detail::PoolAccess::pay_deferred_answers(*pool_);
  }

  int port() const { return pool_->port(); }

  // What the loop watches (readable when the network has work ready), and what it calls then;
  // true when it queued events for the dispatcher (to drain now).
  int descriptor() { return pool_->network_descriptor(); }
  bool run_network() {
    nb::gil_scoped_release unlocked;
    draining_inline = true;
    pool_->run_network();
    draining_inline = false;
    return dispatcher_->pending();
  }

  nb::dict statistics() const {
    mpc::Statistics s = pool_->statistics();
    nb::dict out;
    out["messages_sent"] = s.total.messages_sent;
    out["bytes_sent"] = s.total.bytes_sent;
    out["messages_received"] = s.total.messages_received;
    out["bytes_received"] = s.total.bytes_received;
    out["connections_opened"] = s.total.connections_opened;
    return out;
  }

 private:
  std::shared_ptr<Dispatcher> dispatcher_;
  std::shared_ptr<mpc::Pool> pool_;
  bool deferring_ = false;  // see defer_answers
};

}  // namespace

NB_MODULE(_engine, m) {
  m.doc() = "The C++ engine of mpc_comm (see mpc_comm/__init__.py)";
  nb::set_leak_warnings(false);  // pools a program never shut down are reclaimed at exit

  // The engine's errors, under the Python names the front-end raises.
  static nb::exception<mpc::Error> error(m, "EngineError", PyExc_RuntimeError);
  static nb::exception<mpc::ConfigurationError> configuration(m, "ConfigurationError",
                                                              PyExc_ValueError);
  static nb::exception<mpc::DeliveryError> delivery(m, "DeliveryError", PyExc_ConnectionError);
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const mpc::ConfigurationError& e) {
      PyErr_SetString(configuration.ptr(), e.what());
    } catch (const mpc::DeliveryError& e) {
      PyErr_SetString(delivery.ptr(), e.what());
    } catch (const mpc::Error& e) {
      PyErr_SetString(error.ptr(), e.what());
    }
  });

  m.attr("DELIVERED") = static_cast<int>(kDelivered);
  m.attr("NOT_DELIVERED") = static_cast<int>(kNotDelivered);
  m.attr("TLS_REFUSED") = static_cast<int>(kTlsRefused);
  m.attr("FAILED") = static_cast<int>(kFailed);

  nb::class_<Dispatcher>(m, "Dispatcher")
      .def(nb::init<>())
      .def("fileno", &Dispatcher::fileno)
      .def("drain", &Dispatcher::drain, nb::arg("from_descriptor"));

  nb::class_<Engine>(m, "Engine")
      .def(nb::init<std::shared_ptr<Dispatcher>, std::uint64_t, std::optional<std::string>,
                    std::optional<std::string>, std::optional<std::string>, int,
                    std::optional<double>, bool>(),
           nb::arg("dispatcher"), nb::arg("id"), nb::arg("key").none(), nb::arg("cert").none(),
           nb::arg("ca_cert").none(), nb::arg("max_retries"), nb::arg("attempt_timeout").none(),
           nb::arg("reuse_port"))
      .def("listen", &Engine::listen, nb::arg("port").none(), nb::arg("addr"))
      .def("advertise_port", &Engine::advertise_port)
      .def("add_peer", &Engine::add_peer, nb::arg("name"), nb::arg("addr"), nb::arg("port"),
           nb::arg("cert").none())
      .def("send", &Engine::send, nb::arg("peer"), nb::arg("body"), nb::arg("token"),
           nb::arg("max_retries").none(), nb::arg("timeout").none(), nb::arg("run") = true)
      .def("send_bytes", &Engine::send_bytes, nb::arg("peer"), nb::arg("payload"), nb::arg("id"),
           nb::arg("token"), nb::arg("max_retries").none(), nb::arg("timeout").none())
      .def("shutdown", &Engine::shutdown, nb::arg("deadline"))
      .def("pay_answers", &Engine::pay_answers)
      .def("defer_answers", &Engine::defer_answers)
      .def("port", &Engine::port)
      .def("descriptor", &Engine::descriptor)
      .def("run_network", &Engine::run_network)
      .def("statistics", &Engine::statistics);

  m.def("set_log_level", [](const std::string& level) { mpc::set_log_level(level); });
}
