// The message envelope of both formats, written and read in this file only.
#include "tno/mpc/communication/message.hpp"

#include <limits>
#include <string>

namespace tno::mpc::communication {

namespace {
constexpr std::string_view kObjectKey = "object";
constexpr std::string_view kIdKey = "id";

// The bytes of a 5.x payload: a bin holding the packed payload.
std::span<const std::byte> read_wrapped_payload(Reader& r) {
  if (r.peek() != WireType::bin) {
    r.fail("a 5.x message carries its object as bin (packed msgpack); is the sender a 4.x party?");
  }
  return r.read_bin();
}

MessageId read_id(Reader& r) {
  std::size_t at = r.tell();
  Value v = detail::decode_value(r);
  if (!v.is_int() && !v.is_str()) {
    r.seek(at);
    r.fail("message id must be an int or a str, not " + std::string(kind_name(v.kind())));
  }
  return MessageId::from_value(std::move(v));
}

std::uint32_t bin_size(std::size_t bytes) {
  if (bytes > std::numeric_limits<std::uint32_t>::max()) {
    throw SerializationError("a payload of " + std::to_string(bytes) +
                             " bytes does not fit in one msgpack bin (4 GiB at most)");
  }
  return static_cast<std::uint32_t>(bytes);
}
}  // namespace

namespace detail {

void expect_whole_wrapped_payload_read(const Reader& inner) {
  if (!inner.at_end()) inner.fail("trailing bytes after the wrapped object");
}

OpenEnvelope open_envelope(Writer& w, WireFormat format, std::optional<std::size_t> payload_bytes) {
  w.write_map_header(2);
  w.write_str(kObjectKey);
  if (format != WireFormat::v5) return {};
  if (payload_bytes) {
    w.write_bin_header(bin_size(*payload_bytes));
    return {};
  }
  return {w.begin_bin()};
}

void close_envelope(Writer& w, const OpenEnvelope& open, const MessageId& id) {
  if (open.bin_mark) w.end_bin(*open.bin_mark);
  w.write_str(kIdKey);
  encode_to(w, id);
}

MessageId read_message(std::span<const std::byte> bytes, const DecodeLimits& limits,
                       const SerializationContext& context, WireFormat format,
                       void (*on_payload)(Reader& payload, void* state), void* state) {
  Reader r(bytes, limits, context);
  if (r.peek() != WireType::map) r.fail("a message must be a dict with 'object' and 'id'");
  std::uint32_t n = r.read_map_header();
  bool have_object = false;
  std::optional<MessageId> id;
  for (std::uint32_t i = 0; i < n; ++i) {
    if (r.peek() != WireType::str) r.fail("message keys must be str");
    std::string_view key = r.read_str();
    if (key == kObjectKey) {
      if (have_object) r.fail("message has two 'object' keys");
      have_object = true;
      if (format == WireFormat::v5) {
        Reader inner(read_wrapped_payload(r), r.limits(), r.context());
        on_payload(inner, state);
        expect_whole_wrapped_payload_read(inner);
      } else {
        on_payload(r, state);
      }
    } else if (key == kIdKey) {
      if (id) r.fail("message has two 'id' keys");
      id = read_id(r);
    } else {
      r.skip();
    }
  }
  if (!have_object) r.fail("message has no 'object'");
  if (!id) r.fail("message has no 'id'");
  if (!r.at_end()) r.fail("trailing bytes after the message");
  return std::move(*id);
}

}  // namespace detail

void pack_encoded_message(ByteBuffer& out, std::span<const std::byte> payload, const MessageId& id,
                          WireFormat format) {
  Writer w(out);
  detail::OpenEnvelope open = detail::open_envelope(w, format, payload.size());
  w.write_raw(payload);
  detail::close_envelope(w, open, id);
}

OutgoingMessage message_around_bytes(std::span<const std::byte> bytes,
                                     std::shared_ptr<const void> owner, const MessageId& id,
                                     WireFormat format) {
  // The bytes before and after the payload, allocated together with the handles to them.
  struct Envelope {
    ByteBuffer head;
    ByteBuffer tail;
  };
  const std::uint32_t n = bin_size(bytes.size());
  auto envelope = std::make_shared<Envelope>();
  Writer head_writer(envelope->head);
  detail::OpenEnvelope open =
      detail::open_envelope(head_writer, format, Writer::bin_header_size(n) + std::size_t{n});
  head_writer.write_bin_header(n);
  Writer tail_writer(envelope->tail);
  detail::close_envelope(tail_writer, open, id);
  const ByteBuffer* const tail_bytes = &envelope->tail;
  std::shared_ptr<const ByteBuffer> head(envelope, &envelope->head);
  std::shared_ptr<const ByteBuffer> tail(std::move(envelope), tail_bytes);
  return OutgoingMessage{std::move(head), bytes, std::move(tail), std::move(owner)};
}

CheckedMessage check_message(std::span<const std::byte> bytes, const DecodeLimits& limits,
                             WireFormat format) {
  std::span<const std::byte> payload;
  MessageId id = detail::read_message(
      bytes, limits, {}, format,
      [](Reader& r, void* at) { *static_cast<std::span<const std::byte>*>(at) = r.read_raw(); },
      &payload);
  return CheckedMessage{std::move(id), payload};
}

MessageId validate_message(std::span<const std::byte> bytes, const DecodeLimits& limits,
                           WireFormat format) {
  return check_message(bytes, limits, format).id;
}

MessageId MessageId::from_value(Value v) {
  if (!v.is_int() && !v.is_str()) {
    throw SerializationError("a message id must be an int or a str, not " +
                             std::string(kind_name(v.kind())));
  }
  return MessageId(std::move(v));
}

std::string MessageId::to_string() const {
  if (value_.is_str()) return value_.as_str();
  // Counters fit in 64 bits: formatted without GMP. Larger ids are Python ints, formatted by it.
  if (const auto i = value_.to_int64()) return std::to_string(*i);
  if (const auto u = value_.to_uint64()) return std::to_string(*u);
  return value_.as_bigint().to_string();
}

MessageId MessageId::with_prefix(std::string_view prefix) const {
  return MessageId(std::string(prefix) + to_string());
}

}  // namespace tno::mpc::communication
