// Python's text forms of floats, strings and bytes, shared by Value printing and the CLI's
// neutral JSON (which must match the reference's repr and float.hex exactly).
#pragma once

#include <string>
#include <string_view>

#include "tno/mpc/communication/buffer.hpp"

namespace tno::mpc::communication::detail {

/// repr(float): shortest round-trip digits, exponent form below 1e-4 and from 1e16 on.
std::string python_float_repr(double d);
/// float.hex(): "0x1.8000000000000p+0", "-0x0.0p+0", "inf", "nan".
std::string python_float_hex(double d);
/// Parses python_float_hex output (and C99 %a forms) back into a double.
double parse_float_hex(std::string_view text);
std::string python_str_repr(std::string_view s);
std::string python_bytes_repr(const Bytes& b);

}  // namespace tno::mpc::communication::detail
