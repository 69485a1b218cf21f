// Python's text forms of floats, strings and bytes, exactly as CPython writes them: what printing a
// Value shows, and what the neutral JSON form of the reference's test vectors uses.
//
//   python::float_repr(0.1) == "0.1";   python::float_hex(1.5) == "0x1.8000000000000p+0"
#pragma once

#include <string>
#include <string_view>

#include "tno/mpc/communication/buffer.hpp"

namespace tno::mpc::communication::python {

/// repr(float): shortest round-trip digits, exponent form below 1e-4 and from 1e16 on.
std::string float_repr(double d);
/// float.hex(): "0x1.8000000000000p+0", "-0x0.0p+0", "inf", "nan".
std::string float_hex(double d);
/// float.fromhex(): parses float_hex output (and C99 %a forms) back into a double. Throws
/// ArgumentError for anything else.
double float_fromhex(std::string_view text);
/// repr(str) and repr(bytes).
std::string str_repr(std::string_view s);
std::string bytes_repr(const Bytes& b);

}  // namespace tno::mpc::communication::python
