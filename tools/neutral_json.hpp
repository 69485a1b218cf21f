// The neutral JSON form of values (tests/data/vectors/README.md), used by `mpc-comm decode` /
// `encode` and by the tests that check the reference's vectors. Internal: not installed.
#pragma once

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "tno/mpc/communication/codec.hpp"
#include "tno/mpc/communication/message.hpp"

namespace tno::mpc::communication::neutral {

/// Bad neutral JSON; the message names the offending part.
class FormatError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Neutral JSON to a Value. `{"object": {"class": C, "fields": {...}}}` and
/// `{"typed": {"type": C, "data": v}}` become a Typed value; numpy arrays of any dtype become an
/// NdArray; enums and numpy scalars become their value.
Value to_value(const nlohmann::json& j);
/// A Value to neutral JSON: typed values as {"typed": ...}, ndarrays as {"ndarray": {"shape",
/// "values"}}, floats with both "float" (Python repr) and "hex" (float.hex).
nlohmann::json from_value(const Value& v);

MessageId to_message_id(const nlohmann::json& j);
nlohmann::json from_message_id(const MessageId& id);

}  // namespace tno::mpc::communication::neutral
