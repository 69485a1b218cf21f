"""
One dispatcher per event loop: the engine's events reach the loop through one queue, drained in
the order the engine filled it, whenever the file descriptor that the loop watches says so. The
network threads never wait for the GIL; every callback here runs on the loop's thread.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import weakref
from typing import TYPE_CHECKING, Callable

from . import _engine

if TYPE_CHECKING:
    from .pool import Pool

logger = logging.getLogger("mpc_comm")

_tokens = itertools.count(1)
_engine_ids = itertools.count(1)


class Dispatcher:
    """The engine's queue of events for one loop, and who gets each event."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.native = _engine.Dispatcher()
        # token -> what to do when the send of that token is settled: (status, error text)
        self._sends: dict[int, Callable[[int, str], None]] = {}
        # engine id -> the pool that gets its arrivals
        self._pools: weakref.WeakValueDictionary[int, Pool] = weakref.WeakValueDictionary()
        loop.add_reader(self.native.fileno(), self._drain)

    def expect_send(self, settled: Callable[[int, str], None]) -> int:
        """A token for a send; `settled(status, error)` runs on the loop when it is settled."""
        token = next(_tokens)
        self._sends[token] = settled
        return token

    def forget_send(self, token: int) -> None:
        self._sends.pop(token, None)

    def serve(self, pool: Pool) -> int:
        """An engine id whose arrivals go to `pool`."""
        engine_id = next(_engine_ids)
        self._pools[engine_id] = pool
        return engine_id

    def _drain(self) -> None:
        for event in self.native.drain():
            try:
                if event[0] == "sent":
                    _, token, status, error = event
                    settled = self._sends.pop(token, None)
                    if settled is not None:
                        settled(status, error)
                else:
                    _, engine_id, peer, body = event
                    pool = self._pools.get(engine_id)
                    if pool is not None:
                        pool._arrived(peer, body)  # pylint: disable=protected-access
            except Exception as exception:  # pylint: disable=broad-except
                # One failing callback must not stop the others; the loop reports it.
                self.loop.call_exception_handler(
                    {"message": f"mpc_comm: handling {event[0]!r} failed", "exception": exception}
                )


_dispatchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Dispatcher] = (
    weakref.WeakKeyDictionary()
)


def dispatcher_for(loop: asyncio.AbstractEventLoop) -> Dispatcher:
    """The dispatcher of `loop`, made on first use."""
    dispatcher = _dispatchers.get(loop)
    if dispatcher is None:
        dispatcher = _dispatchers[loop] = Dispatcher(loop)
    return dispatcher
