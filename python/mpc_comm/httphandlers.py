"""
The reference's HTTPClient and HTTPServer, served by the engine: the same attributes, counters,
ids, prefixes and buffer (programs and serializers read them), while the engine moves the bytes.
Subclasses of the reference's classes, so that isinstance checks against them hold.
"""

from __future__ import annotations

import asyncio
import collections
from typing import TYPE_CHECKING, Any

from aiohttp import ClientTimeout
from tno.mpc.communication import httphandlers as reference
from tno.mpc.communication.serialization import DEFAULT_PACK_OPTION, Serialization

from . import _engine
from ._dispatch import dispatcher_for
from .errors import CertificateError, DeliveryError

if TYPE_CHECKING:
    from .pool import Pool

logger = reference.logger  # the reference's logger, "tno.mpc.communication.httphandlers"


class _Site:
    """What the reference's aiohttp site told: whether its port may be shared."""

    def __init__(self, reuse_port: bool) -> None:
        self._reuse_port = reuse_port


class HTTPServer(reference.HTTPServer):
    """The reference's HTTPServer, with the engine's server behind it (no aiohttp)."""

    def __init__(  # pylint: disable=super-init-not-called
        self,
        pool: Pool,
        port: int,
        external_port: int | None = None,
        addr: str = "0.0.0.0",
        ssl_ctx: Any = None,
        option: int | None = None,
        use_pickle: bool = False,
        reuse_port: bool = False,
    ) -> None:
        self.pool = pool
        self.addr = addr
        self.port = port
        self.external_port = port if external_port is None else external_port
        self.ssl_ctx = ssl_ctx
        self.option = option
        self.use_pickle = use_pickle
        self.loop = pool.loop
        self.site = _Site(reuse_port)
        self.msg_recv_counter = 0
        self.total_bytes_recv = 0
        # The engine serves from the start; programs that await the server's task find it done.
        self.server_task: asyncio.Future[None] = self.loop.create_future()
        self.server_task.set_result(None)
        logger.info(f"Serving on {addr}:{port}{' with TLS' if ssl_ctx else ''}")

    async def shutdown(self) -> None:
        logger.info(
            f"Server {self.addr}:{self.port} shutdown\nTotal bytes received: "
            f"{self.total_bytes_recv}\nTotal messages received: {self.msg_recv_counter}"
        )


_MISSING = object()


class HTTPClient(reference.HTTPClient):
    """The reference's HTTPClient: ids, counters, prefix and buffer as there; the engine sends."""

    def __init__(  # pylint: disable=super-init-not-called
        self,
        pool: Pool,
        addr: str,
        port: int,
        ssl_ctx: Any,
        option: int | None = DEFAULT_PACK_OPTION,
        use_pickle: bool = False,
        msg_prefix: str | None = None,
    ) -> None:
        self.pool = pool
        self.addr = addr
        self.port = port
        self.ssl_ctx = ssl_ctx
        self.option = option
        self.use_pickle = use_pickle
        self.msg_prefix = msg_prefix
        if self.pool.http_server is None:
            raise AttributeError("No HTTP Server initialized (yet).")
        self.msg_send_counter = 0
        self.total_bytes_sent = 0
        self.msg_recv_counter = 0
        self.buffer: dict[str | int, Any] = {}
        self.engine_name = ""  # the peer's name in the engine (Pool.add_http_client sets it)
        # Sends in the order they were made: each completes, at the earliest, after the ones
        # before it, as over the reference's one connection at a time.
        self._in_flight: collections.deque[list[Any]] = collections.deque()

    async def shutdown(self) -> None:
        logger.info(
            f"Client {self.addr}:{self.port} shutdown\nTotal bytes sent: {self.total_bytes_sent}"
            f"\nTotal messages sent: {self.msg_send_counter}"
        )

    async def send(
        self,
        message: Any,
        msg_id: str | int | None = None,
        retry_delay: int = 1,
        timeout: ClientTimeout = ClientTimeout(total=300),
        max_retries: int = -1,
    ) -> None:
        if msg_id is None:
            msg_id = self.msg_send_counter
        if self.msg_prefix is not None:
            msg_id = reference.HTTPClient._prefix_msg_id(msg_id, self.msg_prefix)
        self.msg_send_counter += 1
        # Packed here, not in an executor: a thread hop per message costs more than small
        # messages take to pack; an error in a serializer surfaces at this await either way.
        data = Serialization.pack(
            obj=message,
            msg_id=msg_id,
            use_pickle=self.use_pickle,
            option=self.option,
            destination=self,
        )
        await self._send(data, retry_delay, timeout=timeout, num_retries=max_retries)

    async def _send(
        self,
        data: bytes,
        retry_delay: int = 1,
        timeout: ClientTimeout | None = ClientTimeout(total=300),
        num_retries: int = -1,
    ) -> None:
        """Hands the packed message to the engine and waits until the peer answered 200."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        entry: list[Any] = [done, None]
        dispatcher = dispatcher_for(self.pool.loop)
        payload = data if type(data) is bytes else bytes(data)  # pylint: disable=unidiomatic-typecheck

        def settled(status: int, error: str) -> None:
            # `payload` lives in this closure until the engine is done with it: the engine sends
            # from the bytes object itself.
            entry[1] = (status, error, len(payload))
            self._complete_in_order()

        token = dispatcher.expect_send(settled)
        self._in_flight.append(entry)
        try:
            self.pool.engine.send(
                self.engine_name,
                payload,
                token,
                0 if not retry_delay else num_retries,
                None if timeout is None else timeout.total,
            )
        except BaseException:
            dispatcher.forget_send(token)
            self._in_flight.remove(entry)
            raise
        await done

    def _complete_in_order(self) -> None:
        while self._in_flight and self._in_flight[0][1] is not None:
            done, (status, error, size) = self._in_flight.popleft()
            if status == _engine.DELIVERED:
                self.total_bytes_sent += size
            if done.done():  # the sender was cancelled
                continue
            if status == _engine.DELIVERED:
                done.set_result(None)
            elif status == _engine.TLS_REFUSED:
                done.set_exception(CertificateError(error))
            elif status == _engine.NOT_DELIVERED:
                done.set_exception(DeliveryError(error))
            else:
                done.set_exception(RuntimeError(error))

    def recv(self, msg_id: str | int | None = None) -> Any:
        if msg_id is None:
            msg_id = self.msg_recv_counter
        msg_id = reference.HTTPClient._prefix_msg_id(msg_id, self.msg_prefix)
        self.msg_recv_counter += 1
        # A message that arrived already, None included (the reference loses a None).
        if msg_id in self.buffer:
            return self.buffer.pop(msg_id)
        future = self.buffer[msg_id] = self.pool.loop.create_future()
        return future

    def _arrived(self, msg_id: str | int, message: Any) -> None:
        """A message from this peer, unpacked: to its waiting receive, or into the buffer."""
        waiting = self.buffer.get(msg_id, _MISSING)
        if waiting is _MISSING:
            self.buffer[msg_id] = message
        elif asyncio.isfuture(waiting):
            if waiting.done():  # its receive timed out or was cancelled: keep the message
                self.buffer[msg_id] = message
            else:
                del self.buffer[msg_id]
                waiting.set_result(message)
        else:
            # The reference drops both; the first is kept, as it may be awaited already.
            logger.error(
                f"A second message with id {msg_id!r} from {self.addr}:{self.port} arrived while "
                f"the first waits to be received: the first is kept, the second dropped"
            )
