// A tour of the value model and the codec: what a C++ party puts on the wire for a Python party.
//
// Run: ./build/examples/codec_tour
#include <iostream>
#include <map>

#include "tno/mpc/communication/communication.hpp"
#include "tno/mpc/communication/gmp.hpp"

namespace mpc = tno::mpc::communication;

// A class that a Python party knows as `Share` (registered there with register_class).
struct Share {
  static constexpr std::string_view mpc_type_name = "Share";
  mpz_class value;
  std::string owner;
  std::map<std::string, mpc::Value> serialize() const {
    return {{"value", mpc::to_bigint(value)}, {"owner", owner}};
  }
  static Share deserialize(std::map<std::string, mpc::Value> d) {
    return {mpc::to_mpz_class(d.at("value").as_bigint()), d.at("owner").as_str()};
  }
};

int main() {
  mpc::Serialization::register_class<Share>();

  // Typed path: straight from C++ objects to the bytes of a message, and back.
  Share share{mpz_class("123456789012345678901234567890"), "alice"};
  mpc::ByteBuffer body = mpc::pack_message(share, mpc::MessageId(0));
  auto received = mpc::unpack_message<Share>(body.view());
  std::cout << "typed:   " << received.object.owner << " holds " << received.object.value << '\n';

  // Dynamic path: decode without knowing what comes.
  auto message = mpc::unpack_message<mpc::Value>(body.view());
  std::cout << "dynamic: id " << message.id.to_string() << ", object " << message.object << '\n';

  // Python tuples, big integers and dicts.
  auto bytes = mpc::encode(std::make_tuple(1, std::string("two"), std::vector<double>{3.0}));
  std::cout << "tuple:   " << mpc::decode<mpc::Value>(bytes.view()) << '\n';
  return 0;
}
