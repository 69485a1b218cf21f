// Serialization: the registry of custom classes, the counterpart of the reference's
// `Serialization.register_class`.
//
// A class that declares `mpc_type_name` (see codec.hpp) must be registered once before it is
// encoded or decoded, so that two C++ types cannot silently claim the same wire name:
//
//   Serialization::register_class<Point>();                    // "Point"
//   Serialization::register_class<OtherPoint>();               // throws ConfigurationError
//   Serialization::register_class<OtherPoint>({.overwrite = true});  // replaces Point
//   Serialization::clear();                                    // forget all (tests)
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <typeindex>
#include <vector>

namespace tno::mpc::communication {

/// Options of Serialization::register_class.
struct RegisterOptions {
  /// Replace a class already registered under the same name instead of throwing.
  bool overwrite = false;
};

class Serialization {
 public:
  // Outside the class, so that its default member initializer can serve as a default argument.
  using RegisterOptions = communication::RegisterOptions;

  /// Registers T under `T::mpc_type_name`. Throws ConfigurationError when the name is taken by
  /// another type (unless overwriting), or is one of the reference's built-in names ("int",
  /// "tuple", "ndarray", "mpz", "bitarray", ...). Registering the same type again is harmless.
  template <class T>
  static void register_class(RegisterOptions options = {}) {
    register_name(T::mpc_type_name, typeid(T), slot<T>(), options.overwrite);
  }

  /// Whether a class is registered under `type_name`.
  static bool is_registered(std::string_view type_name);
  /// The names registered now, in registration order.
  static std::vector<std::string> registered_names();
  /// Forgets every registration.
  static void clear();

  /// Throws SerializationError unless T is registered (a cheap check on the hot path).
  template <class T>
  static void require_registered() {
    if (slot<T>().load(std::memory_order_acquire) != generation().load(std::memory_order_acquire))
        [[unlikely]] {
      throw_not_registered(T::mpc_type_name);
    }
  }

 private:
  // Each registered type's slot holds the registry generation it was registered in; clear() and
  // overwrites move the generation or reset the slot, which unregisters in O(1) for readers.
  template <class T>
  static std::atomic<std::uint64_t>& slot() {
    static std::atomic<std::uint64_t> registered_in{0};
    return registered_in;
  }
  static std::atomic<std::uint64_t>& generation();
  static void register_name(std::string_view name, std::type_index type,
                            std::atomic<std::uint64_t>& slot, bool overwrite);
  [[noreturn]] static void throw_not_registered(std::string_view name);
};

}  // namespace tno::mpc::communication
