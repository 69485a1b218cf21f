// The pool's log: spdlog's logger "tno.mpc.communication.httphandlers" on stderr, in the shape of
// the reference's Python logging (`2024-01-01 12:00:00,000 - <logger> - INFO - <message>`), so that
// the logs of C++ and Python parties read alike.
#pragma once

#include <spdlog/spdlog.h>

namespace tno::mpc::communication::net {

/// The logger, made on first use (at level "info").
spdlog::logger& log();

}  // namespace tno::mpc::communication::net
