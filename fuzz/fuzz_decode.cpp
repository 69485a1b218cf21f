// libFuzzer target: the codec's decoder on arbitrary bytes. Whatever the input, decoding either
// succeeds or throws a library Error (never crashes, hangs or allocates beyond the input); what
// decodes re-encodes to bytes that decode and re-encode to themselves.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include "tno/mpc/communication/codec.hpp"
#include "tno/mpc/communication/message.hpp"
#include "tno/mpc/communication/value.hpp"

namespace mpc = tno::mpc::communication;

namespace {

void check_round_trip(const mpc::Value& value) {
  mpc::ByteBuffer once = mpc::encode(value);
  mpc::Value again = mpc::decode<mpc::Value>(once.view());
  mpc::ByteBuffer twice = mpc::encode(again);
  if (once.size() != twice.size() ||
      !std::equal(once.view().begin(), once.view().end(), twice.view().begin())) {
    std::abort();  // encoding is not a fixed point after one decode
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
  try {
    check_round_trip(mpc::decode<mpc::Value>(input));
  } catch (const mpc::Error&) {
    // Refused with a clear error: fine.
  }
  for (auto format : {mpc::WireFormat::v4, mpc::WireFormat::v5}) {
    try {
      auto message = mpc::unpack_message<mpc::Value>(input, {}, {}, format);
      check_round_trip(message.object);
    } catch (const mpc::Error&) {
    }
  }
  return 0;
}
