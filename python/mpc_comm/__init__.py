"""
mpc_comm: Python programs written for tno.mpc.communication 4.x, on the C++ engine.

The package serves the reference's own Pool API (mpc_comm.Pool is a subclass of it) with the
engine underneath: the reference's Serialization packs and unpacks every value (plugins,
registered classes and options behave exactly the same), while connections, retries, TLS and the
server run in C++ threads. Run a program unchanged with

    python -m mpc_comm.run script.py ARGS...        python -m mpc_comm.run -m module ARGS...

or call mpc_comm.install() before the program makes its pools.
"""

from __future__ import annotations

import sys

from . import _engine
from .errors import CertificateError, ConfigurationError, DeliveryError
from .httphandlers import HTTPClient, HTTPServer
from .pool import Pool

__all__ = [
    "CertificateError",
    "ConfigurationError",
    "DeliveryError",
    "HTTPClient",
    "HTTPServer",
    "Pool",
    "install",
    "set_engine_log_level",
]

# The engine logs what the Python side does not (refused connections and messages, failed
# attempts) on stderr in the reference's shape; what Python logs itself is not repeated there.
_engine.set_log_level("warn")


def set_engine_log_level(level: str) -> None:
    """The level of the engine's own log: "trace", "debug", "info", "warn" (default), "error", "off"."""
    _engine.set_log_level(level)


def install() -> None:
    """
    Makes tno.mpc.communication's Pool the engine's, for every module that imported it already
    and every one that will: programs then run on the engine without a change.
    """
    import tno.mpc.communication  # pylint: disable=import-outside-toplevel
    from tno.mpc.communication import pool as reference  # pylint: disable=import-outside-toplevel

    original = reference.Pool if reference.Pool is not Pool else Pool.__mro__[1]
    tno.mpc.communication.Pool = Pool  # type: ignore[misc]
    reference.Pool = Pool  # type: ignore[misc]
    for module in list(sys.modules.values()):
        if module is not None and getattr(module, "Pool", None) is original:
            try:
                module.Pool = Pool  # type: ignore[attr-defined]
            except (AttributeError, TypeError):
                pass
