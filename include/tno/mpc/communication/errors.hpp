// Exception types of tno::mpc::communication.
//
// Every failure has its own type so that callers can catch what they can handle, and every
// message says what happened and what to do about it:
//
//   try {
//     auto point = tno::mpc::communication::decode<Point>(bytes);
//   } catch (const tno::mpc::communication::DecodeError& e) {
//     // the peer sent bytes that are not a valid message; e.offset() says where
//   }
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

namespace tno::mpc::communication {

/// Base of every exception this library throws.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A value could not be turned into bytes or bytes into a value (encoding side, or a well-formed
/// message that does not fit what the caller asked for).
class SerializationError : public Error {
 public:
  using Error::Error;
};

/// A decoded value has another kind than the C++ type asked for, e.g. `decode<int>` of a str.
/// The message names both: "expected int64_t, got str".
class TypeMismatchError : public SerializationError {
 public:
  using SerializationError::SerializationError;
};

/// The bytes are not a valid msgpack message, or exceed a configured decode limit. Thrown for
/// untrusted input; never undefined behaviour, never an abort.
class DecodeError : public SerializationError {
 public:
  DecodeError(const std::string& what, std::size_t offset)
      : SerializationError(what + " (at byte " + std::to_string(offset) + ")"), offset_(offset) {}
  /// Offset in the input at which the problem was found.
  std::size_t offset() const noexcept { return offset_; }

 private:
  std::size_t offset_;
};

/// The library was used in a way that cannot work, e.g. registering a type name twice, adding a
/// peer whose address does not resolve, or naming a peer that was never added.
class ConfigurationError : public Error {
 public:
  using Error::Error;
};

/// An argument is not what the function takes, e.g. BigInt::from_string("12a").
class ArgumentError : public Error {
 public:
  using Error::Error;
};

/// A Value has no such key or index (Python's KeyError and IndexError), e.g. `dict["missing"]`.
class LookupError : public Error {
 public:
  using Error::Error;
};

/// A send did not reach its peer: retries exhausted, the peer refused the message (409, 413,
/// 400), a TLS failure that retrying cannot mend, or the pool shut down before it was delivered.
/// The message says which, naming the peer and the last error.
class DeliveryError : public Error {
 public:
  using Error::Error;
};

/// A send (or ping) failed in the TLS handshake in a way that retrying cannot mend: a certificate
/// was refused (theirs by us, or ours by them), or the peer does not speak TLS. The message says
/// which, and what to check.
class TlsError : public DeliveryError {
 public:
  using DeliveryError::DeliveryError;
};

/// A receive did not complete in the time it was given.
class TimeoutError : public Error {
 public:
  using Error::Error;
};

/// A receive was cut off because the pool shut down before its message arrived (or was waited
/// for after the shutdown): no message can arrive any more.
class ShutdownError : public Error {
 public:
  using Error::Error;
};

}  // namespace tno::mpc::communication
