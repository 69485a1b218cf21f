// The process's memory from its own accounting, for tests that bound what a party holds.
#pragma once

#include <cstddef>
#include <fstream>
#include <string>

namespace tno::mpc::communication::test {

/// VmRSS of /proc/self/status, in bytes.
inline std::size_t resident_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

/// Whether resident memory says what the library holds: not under AddressSanitizer or
/// ThreadSanitizer, whose allocators keep freed memory and pad every block.
constexpr bool memory_is_measurable() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return false;
#else
  return true;
#endif
}

}  // namespace tno::mpc::communication::test
