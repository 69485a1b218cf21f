// Packs and unpacks one message through the installed library; exits non-zero on a mismatch.
#include <tno/mpc/communication/communication.hpp>
#include <tno/mpc/communication/gmp.hpp>

#include <iostream>

int main() {
  namespace mpc = tno::mpc::communication;
  mpz_class big("-123456789012345678901234567890");
  auto bytes = mpc::pack_message(std::make_tuple(big, std::string("hi")), mpc::MessageId("id"));
  auto message = mpc::unpack_message<std::tuple<mpz_class, std::string>>(bytes.view());
  bool ok = std::get<0>(message.object) == big && message.id == mpc::MessageId("id");
  std::cout << "consumer: " << mpc::unpack_message(bytes.view()).object
            << (ok ? " ok" : " MISMATCH") << '\n';
  return ok ? 0 : 1;
}
