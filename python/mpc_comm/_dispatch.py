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
from typing import TYPE_CHECKING, Any

from . import _engine

if TYPE_CHECKING:
    from .httphandlers import HTTPClient
    from .pool import Pool

logger = logging.getLogger("mpc_comm")

_tokens = itertools.count(1)
_engine_ids = itertools.count(1)


class Dispatcher:
    """The engine's queue of events for one loop, and who gets each event."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.native = _engine.Dispatcher()
        # token -> (client, entry) of a send under way; the client settles it.
        self._sends: dict[int, tuple[HTTPClient, list[Any]]] = {}
        # engine id -> the pool that gets its arrivals
        self._pools: weakref.WeakValueDictionary[int, Pool] = weakref.WeakValueDictionary()
        loop.add_reader(self.native.fileno(), self.drain_woken)

    def expect_send(self, client: HTTPClient, entry: list[Any]) -> int:
        """A token for a send; client._settled(entry, status, error) runs when it is settled."""
        token = next(_tokens)
        self._sends[token] = (client, entry)
        return token

    def forget_send(self, token: int) -> None:
        self._sends.pop(token, None)

    def serve(self, pool: Pool) -> int:
        """An engine id whose arrivals go to `pool`."""
        engine_id = next(_engine_ids)
        self._pools[engine_id] = pool
        return engine_id

    def drain_woken(self) -> None:
        """The descriptor said there are events (pushed by another thread)."""
        self._handle(self.native.drain(True))

    def drain(self) -> None:
        """Events the loop's thread queued itself, running an engine's network."""
        self._handle(self.native.drain(False))

    def _handle(self, events: list[tuple[Any, ...]]) -> None:
        for event in events:
            try:
                if event[0] == "sent":
                    _, token, status, error = event
                    send = self._sends.pop(token, None)
                    if send is not None:
                        send[0]._settled(send[1], status, error)  # pylint: disable=protected-access
                elif event[0] == "arrived":
                    _, engine_id, peer, body = event
                    pool = self._pools.get(engine_id)
                    if pool is not None:
                        pool._arrived(peer, body)  # pylint: disable=protected-access
                else:  # "arrived_bytes": a large bytes message the engine unpacked
                    _, engine_id, peer, size, msg_id, message = event
                    pool = self._pools.get(engine_id)
                    if pool is not None:
                        pool._take(peer, msg_id, message, size)  # pylint: disable=protected-access
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
