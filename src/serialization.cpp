#include "tno/mpc/communication/serialization.hpp"

#include <mutex>
#include <string>

#include "tno/mpc/communication/errors.hpp"

namespace tno::mpc::communication {

namespace {
struct Entry {
  std::string name;
  std::type_index type;
  std::atomic<std::uint64_t>* slot;
};
std::mutex registry_mutex;
std::vector<Entry>& entries() {
  static std::vector<Entry> e;
  return e;
}
// Names the reference decodes itself; a custom class cannot take them over.
constexpr std::string_view reserved_names[] = {"int", "tuple", "ndarray", "mpz",     "xmpz",
                                               "mpq", "mpfr",  "mpc",     "bitarray"};
}  // namespace

std::atomic<std::uint64_t>& Serialization::generation() {
  static std::atomic<std::uint64_t> g{1};
  return g;
}

void Serialization::register_name(std::string_view name, std::type_index type,
                                  std::atomic<std::uint64_t>& slot, bool overwrite) {
  for (auto reserved : reserved_names) {
    if (name == reserved) {
      throw ConfigurationError("cannot register a class as '" + std::string(name) +
                               "': the reference uses that type name for a built-in type");
    }
  }
  if (name.empty()) throw ConfigurationError("cannot register a class with an empty type name");
  std::lock_guard lock(registry_mutex);
  auto& all = entries();
  for (auto it = all.begin(); it != all.end(); ++it) {
    if (it->name != name) continue;
    if (it->type == type) {
      slot.store(generation().load(), std::memory_order_release);
      return;
    }
    if (!overwrite) {
      throw ConfigurationError("type name '" + std::string(name) +
                               "' is already registered for another C++ type; pass "
                               "{.overwrite = true} to replace it");
    }
    it->slot->store(0, std::memory_order_release);
    all.erase(it);
    break;
  }
  all.push_back(Entry{std::string(name), type, &slot});
  slot.store(generation().load(), std::memory_order_release);
}

bool Serialization::is_registered(std::string_view type_name) {
  std::lock_guard lock(registry_mutex);
  for (const auto& e : entries()) {
    if (e.name == type_name) return true;
  }
  return false;
}

std::vector<std::string> Serialization::registered_names() {
  std::lock_guard lock(registry_mutex);
  std::vector<std::string> names;
  for (const auto& e : entries()) names.push_back(e.name);
  return names;
}

void Serialization::clear() {
  std::lock_guard lock(registry_mutex);
  for (auto& e : entries()) e.slot->store(0, std::memory_order_release);
  entries().clear();
  generation().fetch_add(1, std::memory_order_acq_rel);
}

void Serialization::throw_not_registered(std::string_view name) {
  throw SerializationError("class '" + std::string(name) +
                           "' is not registered: call Serialization::register_class<T>() before "
                           "sending or receiving it");
}

}  // namespace tno::mpc::communication
