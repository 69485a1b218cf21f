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

# Bytes payloads from this size on are sent from the object itself (no packed copy).
_IN_PLACE_BYTES = 1 << 20


def _send_error(status: int, error: str) -> Exception:
    """The exception of a send that failed, as the engine reported it."""
    if status == _engine.TLS_REFUSED:
        return CertificateError(error)
    if status == _engine.NOT_DELIVERED:
        return DeliveryError(error)
    return RuntimeError(error)


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
        await self._send_message(message, msg_id, retry_delay, timeout, max_retries)

    def _send_message(
        self,
        message: Any,
        msg_id: str | int | None,
        retry_delay: int = 1,
        timeout: ClientTimeout | None = None,
        max_retries: int = -1,
        awaited: bool = True,
    ) -> asyncio.Future[None] | None:
        """Takes the id (the send counter, or `msg_id`; prefixed) as the reference's send does, and
        hands the message over. A large bytes payload goes out from the object itself, with the
        envelope the reference would pack around it; anything else is packed by the reference's
        Serialization. Packed here, not in an executor: a thread hop per message costs more than
        small messages take to pack; an error in a serializer surfaces at the sender's await
        either way."""
        if msg_id is None:
            msg_id = self.msg_send_counter
        if self.msg_prefix is not None:
            msg_id = reference.HTTPClient._prefix_msg_id(msg_id, self.msg_prefix)
        self.msg_send_counter += 1
        if (
            type(message) is bytes  # pylint: disable=unidiomatic-typecheck
            and len(message) >= _IN_PLACE_BYTES
            and (type(msg_id) is str or -(2**63) <= msg_id < 2**63)  # pylint: disable=unidiomatic-typecheck
        ):
            return self._submit(
                message, retry_delay, timeout, max_retries, in_place_id=msg_id, awaited=awaited
            )
        return self._submit(
            self._pack(message, msg_id), retry_delay, timeout, max_retries, awaited=awaited
        )

    def _asend(
        self, message: Any, msg_id: str | int | None, timeout: ClientTimeout, max_retries: int
    ) -> None:
        """Pool.asend's message, taken in the loop's turn after the asend (as the reference's task
        takes it): the id, the packing and the hand-over as in send, but with no one awaiting it.
        A failure, now (packing, a pool shut down) or when the engine gives up, goes to the loop's
        exception handler with its exception, and never with the message (it may be secret)."""
        try:
            self._send_message(message, msg_id, 1, timeout, max_retries, awaited=False)
        except Exception as exception:  # pylint: disable=broad-except
            self._report_asend_failure(exception)

    def _report_asend_failure(self, exception: BaseException) -> None:
        self.pool.loop.call_exception_handler(
            {
                "message": f"A message sent with asend to {self.addr}:{self.port} failed",
                "exception": exception,
            }
        )

    def _pack(self, message: Any, msg_id: str | int) -> bytes:
        return Serialization.pack(  # type: ignore[no-any-return]
            obj=message,
            msg_id=msg_id,
            use_pickle=self.use_pickle,
            option=self.option,
            destination=self,
        )

    async def _send(
        self,
        data: bytes,
        retry_delay: int = 1,
        timeout: ClientTimeout | None = ClientTimeout(total=300),
        num_retries: int = -1,
    ) -> None:
        """Sends a packed message and returns once the peer answered 200."""
        await self._submit(data, retry_delay, timeout, num_retries)

    def _submit(
        self,
        data: bytes,
        retry_delay: int = 1,
        timeout: ClientTimeout | None = None,
        num_retries: int = -1,
        in_place_id: str | int | None = None,
        awaited: bool = True,
    ) -> asyncio.Future[None] | None:
        """Hands a packed message (or, with `in_place_id`, a bytes payload to send under that id)
        to the engine; the future completes when the peer answered 200 (or the send failed),
        never before the sends to this peer made earlier. Not `awaited` (asend): no future, and
        the message goes out with the others handed over in this turn of the loop."""
        pool = self.pool
        done: asyncio.Future[None] | None = pool.loop.create_future() if awaited else None
        # The engine sends from the bytes object itself: the entry keeps it alive until settled.
        payload = data if type(data) is bytes else bytes(data)  # pylint: disable=unidiomatic-typecheck
        entry: list[Any] = [done, None, payload, len(payload)]
        dispatcher = pool.dispatcher
        token = dispatcher.expect_send(self, entry)
        self._in_flight.append(entry)
        retries = 0 if not retry_delay else num_retries
        seconds = None if timeout is None else timeout.total
        try:
            if in_place_id is None:
                events = pool.engine.send(
                    self.engine_name, payload, token, retries, seconds, run=awaited
                )
                if not awaited:
                    pool._run_network_soon()  # pylint: disable=protected-access
            else:
                events, entry[3] = pool.engine.send_bytes(
                    self.engine_name, payload, in_place_id, token, retries, seconds
                )
        except BaseException:
            dispatcher.forget_send(token)
            self._in_flight.remove(entry)
            raise
        if events:
            dispatcher.drain()
        if awaited and in_place_id is None:
            pool._answered(entry[1] is not None)  # pylint: disable=protected-access
        return done

    def _settled(self, entry: list[Any], status: int, error: str) -> None:
        entry[1] = (status, error)
        while self._in_flight and self._in_flight[0][1] is not None:
            done, (status, error), _, size = self._in_flight.popleft()
            if status == _engine.DELIVERED:
                self.total_bytes_sent += size
                if done is not None and not done.done():  # not asend's, not cancelled
                    done.set_result(None)
            elif done is None:  # asend's: no one awaits it
                self._report_asend_failure(_send_error(status, error))
            elif not done.done():  # the sender was not cancelled
                done.set_exception(_send_error(status, error))

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
