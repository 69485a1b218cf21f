// Everything of tno::mpc::communication in one include.
#pragma once

#include "tno/mpc/communication/bigint.hpp"
#include "tno/mpc/communication/buffer.hpp"
#include "tno/mpc/communication/codec.hpp"
#include "tno/mpc/communication/errors.hpp"
#include "tno/mpc/communication/serialization.hpp"
#include "tno/mpc/communication/value.hpp"
#include "tno/mpc/communication/wire.hpp"
