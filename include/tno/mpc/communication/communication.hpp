// The library's API in one include: values and the codec, messages, the Pool with its settings,
// statistics and errors, TLS settings and ping.
//
// Three headers stay out, because they bring in more than most programs need: gmp.hpp (GMP's C++
// classes: mpz_class and gmpy2.mpz values), awaitable.hpp (Boost.Asio: the coroutine interface)
// and testing.hpp (test helpers, with the CMake target mpc_comm_testing).
#pragma once

#include "tno/mpc/communication/bigint.hpp"
#include "tno/mpc/communication/buffer.hpp"
#include "tno/mpc/communication/codec.hpp"
#include "tno/mpc/communication/config.hpp"
#include "tno/mpc/communication/errors.hpp"
#include "tno/mpc/communication/message.hpp"
#include "tno/mpc/communication/ping.hpp"
#include "tno/mpc/communication/pool.hpp"
#include "tno/mpc/communication/python_text.hpp"
#include "tno/mpc/communication/serialization.hpp"
#include "tno/mpc/communication/statistics.hpp"
#include "tno/mpc/communication/tls.hpp"
#include "tno/mpc/communication/value.hpp"
#include "tno/mpc/communication/wire.hpp"
