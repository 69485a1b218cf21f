// A message: the envelope {"object": payload, "id": id} that is the whole POST body of a
// message, in the formats of the Python package's 4.x and 5.x releases.
//
//   ByteBuffer body = pack_message(std::make_tuple(1, "a"), MessageId("round-1"));
//   auto [object, id] = unpack_message<std::tuple<int, std::string>>(body.view());
//
// The envelope is written by the functions of this header only, and read by read_message only
// (decode_received reads a payload that read_message found):
// pack_message, the pool's broadcast (one encoded payload for every peer) and its sends in place
// (payload bytes that go out from the caller's memory) all share one layout.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "tno/mpc/communication/buffer.hpp"
#include "tno/mpc/communication/codec.hpp"
#include "tno/mpc/communication/value.hpp"
#include "tno/mpc/communication/wire.hpp"

namespace tno::mpc::communication {

/// A message id: an integer (the default per-peer counter) or a string (custom ids and prefixed
/// ids), exactly as the reference puts it on the wire. Ints and strs are different ids, as in
/// Python (5 != "5").
class MessageId {
 public:
  MessageId(std::int64_t counter) : value_(counter) {}  // NOLINT: ids convert implicitly
  MessageId(int counter) : value_(counter) {}           // NOLINT
  MessageId(std::string id) : value_(std::move(id)) {}  // NOLINT
  MessageId(std::string_view id) : value_(id) {}        // NOLINT
  MessageId(const char* id) : value_(id) {}             // NOLINT
  /// Accepts an int or a str Value; throws SerializationError for any other kind.
  static MessageId from_value(Value v);

  bool is_int() const noexcept { return value_.is_int(); }
  bool is_str() const noexcept { return value_.is_str(); }
  const Value& value() const noexcept { return value_; }
  /// What Python's str(id) gives: "42" or the string itself.
  std::string to_string() const;
  /// The id with a prefix applied as the reference does: prefix + str(id), always a str.
  MessageId with_prefix(std::string_view prefix) const;
  friend bool operator==(const MessageId&, const MessageId&) = default;

 private:
  explicit MessageId(Value v) : value_(std::move(v)) {}
  Value value_;
};

template <>
struct Codec<MessageId> {
  static void encode(Writer& w, const MessageId& id) { detail::encode_value(w, id.value()); }
  static MessageId decode(Reader& r) { return MessageId::from_value(detail::decode_value(r)); }
};

/// A decoded message: the payload and its id.
template <class T>
struct Message {
  T object;
  MessageId id;
};

/// The message format of a major version of the Python package. 4.x (the seed's, the default)
/// puts the payload itself in the envelope: {"object": payload, "id": id}. 5.x packs the payload
/// first and puts those bytes in the envelope as a bin, {"object": bin(msgpack(payload)), "id":
/// id}, and its default ids are strs ("0", "1", ...). The two cannot be told apart on the wire
/// (a 4.x bytes payload looks like a 5.x envelope), so a pool talks one of them.
enum class WireFormat { v4, v5 };

namespace detail {

/// Where the envelope's payload starts (see open_envelope).
struct OpenEnvelope {
  std::optional<std::size_t> bin_mark;  // 5.x, payload size unknown: the bin to close
};

/// Writes what precedes the payload: the map header, the "object" key and, in 5.x, the header
/// of the bin that wraps the packed payload. With `payload_bytes` (the packed payload's size) the
/// 5.x bin header is written for that size at once, so that the payload may go out separately;
/// without it the bin is sized by close_envelope.
OpenEnvelope open_envelope(Writer& w, WireFormat format,
                           std::optional<std::size_t> payload_bytes = std::nullopt);
/// Writes what follows the payload (the "id" key and the id), after closing the 5.x bin that
/// `open` left open. `w` may be another buffer than open_envelope's when the payload was sized.
void close_envelope(Writer& w, const OpenEnvelope& open, const MessageId& id);

/// Throws DecodeError unless `inner`, a reader over the payload that a 5.x message wraps, read
/// all of it.
void expect_whole_wrapped_payload_read(const Reader& inner);

/// Reads a whole message of `format` from `bytes`: calls `on_payload` with a reader positioned
/// at the payload (in 5.x, a reader over the wrapped bytes), which must consume exactly the
/// payload, checks that nothing follows, and returns the id. The keys may come in any order;
/// other keys are skipped, as the reference does. Throws DecodeError for anything else.
MessageId read_message(std::span<const std::byte> bytes, const DecodeLimits& limits,
                       const SerializationContext& context, WireFormat format,
                       void (*on_payload)(Reader& payload, void* state), void* state);

}  // namespace detail

/// Packs `object` under `id` exactly as the reference's Serialization.pack does: a map
/// {"object": object, "id": id}. This is the whole POST body of a message. With
/// WireFormat::v5, the payload goes in as a bin, as the 5.x package packs it.
template <Encodable T>
void pack_message(ByteBuffer& out, const T& object, const MessageId& id,
                  const SerializationContext& context = {}, WireFormat format = WireFormat::v4) {
  Writer w(out, context);
  detail::OpenEnvelope open = detail::open_envelope(w, format);
  encode_to(w, object);
  detail::close_envelope(w, open, id);
}

template <Encodable T>
ByteBuffer pack_message(const T& object, const MessageId& id,
                        const SerializationContext& context = {},
                        WireFormat format = WireFormat::v4) {
  ByteBuffer out;
  pack_message(out, object, id, context, format);
  return out;
}

/// Packs a payload that is already msgpack (`encode(object)`) under `id`: what a broadcast sends
/// each peer from one encoding of its object.
void pack_encoded_message(ByteBuffer& out, std::span<const std::byte> payload, const MessageId& id,
                          WireFormat format = WireFormat::v4);

/// The body of a message on its way out, shared with the pool rather than copied: one encoded
/// buffer (`head`), or an envelope in two pieces around payload bytes that stay where they are
/// (head + borrowed + tail; see message_around_bytes).
struct OutgoingMessage {
  std::shared_ptr<const ByteBuffer> head;
  std::span<const std::byte> borrowed{};
  std::shared_ptr<const ByteBuffer> tail{};
  /// Keeps `borrowed` alive while the message is on its way; null when the caller does so (it
  /// waits until the message is delivered).
  std::shared_ptr<const void> owner{};
  std::size_t size() const noexcept {
    return (head ? head->size() : 0) + borrowed.size() + (tail ? tail->size() : 0);
  }
};

/// A message whose payload is the bin `bytes`, sent from where those bytes are, without a copy:
/// only the envelope around them is written. `owner`, when given, keeps them alive. Throws
/// SerializationError beyond 4 GiB (the largest msgpack bin).
OutgoingMessage message_around_bytes(std::span<const std::byte> bytes,
                                     std::shared_ptr<const void> owner, const MessageId& id,
                                     WireFormat format = WireFormat::v4);

/// An encoded message as an OutgoingMessage.
inline OutgoingMessage outgoing(ByteBuffer body) {
  return OutgoingMessage{std::make_shared<const ByteBuffer>(std::move(body))};
}

/// Unpacks a message packed by pack_message or by the reference. The keys may come in any
/// order; other keys are ignored, like the reference does.
template <Decodable T = Value>
Message<T> unpack_message(std::span<const std::byte> bytes, const DecodeLimits& limits = {},
                          const SerializationContext& context = {},
                          WireFormat format = WireFormat::v4) {
  std::optional<T> object;
  MessageId id = detail::read_message(
      bytes, limits, context, format,
      [](Reader& payload, void* state) {
        static_cast<std::optional<T>*>(state)->emplace(decode_from<T>(payload));
      },
      &object);
  return Message<T>{std::move(*object), std::move(id)};
}

/// A message whose envelope and payload structure were checked: its id, and where its payload
/// lies in its bytes (in 5.x, the packed bytes the message wraps).
struct CheckedMessage {
  MessageId id;
  std::span<const std::byte> payload;
};

/// Checks that `bytes` are one whole message of `format` — its envelope and the structure of its
/// payload, without decoding the payload's values or allocating for them. What a receiver does
/// before it answers 200. Throws DecodeError.
CheckedMessage check_message(std::span<const std::byte> bytes, const DecodeLimits& limits = {},
                             WireFormat format = WireFormat::v4);
/// check_message's id alone.
MessageId validate_message(std::span<const std::byte> bytes, const DecodeLimits& limits = {},
                           WireFormat format = WireFormat::v4);

/// Decodes a received message's object as T. The payload that the receiver's check noted in
/// `body` is decoded directly (the envelope is not read twice); a body without one is unpacked
/// whole. Throws the codec's errors, as unpack_message does, and DecodeError when T's decoder
/// reads less or more than the object (where unpack_message fails on the bytes that follow).
template <Decodable T = Value>
T decode_received(const ReceivedBody& body, const DecodeLimits& limits,
                  const SerializationContext& context, WireFormat format) {
  const std::span<const std::byte> payload = body.payload();
  if (payload.empty()) return unpack_message<T>(body.bytes(), limits, context, format).object;
  if (format == WireFormat::v5) {
    Reader inner(payload, limits, context);
    T object = decode_from<T>(inner);
    detail::expect_whole_wrapped_payload_read(inner);
    return object;
  }
  // Read in place, within the whole message, so that errors give offsets in the message.
  Reader r(body.bytes(), limits, context);
  const auto start = static_cast<std::size_t>(payload.data() - body.bytes().data());
  r.seek(start);
  T object = decode_from<T>(r);
  if (r.offset() != start + payload.size()) {
    r.fail("the decoder of the object did not read exactly the object");
  }
  return object;
}

}  // namespace tno::mpc::communication
