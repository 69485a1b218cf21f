// The page sizes the memory of large bodies comes in, for the code that maps it and faults it in.
#pragma once

#include <unistd.h>

#include <cstddef>

namespace tno::mpc::communication::net {

/// A transparent huge page (x86-64, and arm64 with 4 KiB pages).
inline constexpr std::size_t kHugePage = std::size_t{2} << 20;

/// The system's page size.
inline std::size_t small_page() noexcept {
  static const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

/// `n` rounded up to a multiple of `unit`.
constexpr std::size_t round_up(std::size_t n, std::size_t unit) noexcept {
  return (n + unit - 1) / unit * unit;
}

}  // namespace tno::mpc::communication::net
