"""
The reference's Pool on the engine. The methods the reference defines on top of its handlers
(broadcast, async_broadcast, arecv, recv_all, arecv_all, update_msg_prefix) are the reference's
own, inherited; send, asend and recv are re-stated with fewer steps and the same semantics. What
changes is where bytes go: into the engine, which serves, connects, retries and answers in C++,
driven by this loop, and back to it through one queue.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import warnings
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import ClientTimeout
from tno.mpc.communication import pool as reference
from tno.mpc.communication.serialization import Serialization

from . import _engine
from ._dispatch import dispatcher_for
from .httphandlers import HTTPClient, HTTPServer

logger = reference.logger  # the reference's logger, "tno.mpc.communication.pool"

# Sends in a row whose 200 came back later than the send before the pool defers its own 200s
# (see Pool._answered).
_LATE_ANSWERS_TO_DEFER = 4


def _reuse_port_asked() -> bool:
    """Whether aiohttp's TCPSite is patched to share ports, as the reference's fixtures do."""
    site = aiohttp.web.TCPSite
    return isinstance(site, functools.partial) and bool(site.keywords.get("reuse_port"))


def _path(file: Path | str | None) -> str | None:
    return None if file is None else str(file)


class Pool(reference.Pool):
    """tno.mpc.communication.Pool, served by the C++ engine. Construct and use it as the reference."""

    def __init__(
        self,
        key: Path | str | None = None,
        cert: Path | str | None = None,
        ca_cert: Path | str | None = None,
        timeout: ClientTimeout = ClientTimeout(total=300),
        max_retries: int = -1,
    ) -> None:
        super().__init__(key, cert, ca_cert, timeout, max_retries)
        self._engine: _engine.Engine | None = None
        self._engine_id = 0
        self._by_engine_name: dict[str, HTTPClient] = {}
        self._network_run_due = False
        self._answers_due = False
        self._deferring_answers = False
        self._late_answers = 0
        self.dispatcher = dispatcher_for(self.loop)

    @property
    def engine(self) -> _engine.Engine:
        if self._engine is None:
            raise AttributeError("No HTTP Server initialized (yet).")
        return self._engine

    def add_http_server(
        self,
        port: int | None = None,
        addr: str = "0.0.0.0",
        external_port: int | None = None,
    ) -> None:
        ssl_ctx = self.create_ssl_context(self.key, self.cert, self.ca_cert, server=True)
        port = self.get_port(ssl_ctx) if port is None else port
        if external_port:
            warnings.warn(
                "The parameter 'external_port' is deprecated. The alternative is to identify "
                "clients by their SSL/TLS certificate instead of by their IP (which can be "
                "spoofed) and port (which may differ after port forwarding).",
                DeprecationWarning,
            )
        reuse_port = _reuse_port_asked()
        if self._engine is None:
            self._engine_id = self.dispatcher.serve(self)
            self._engine = _engine.Engine(
                self.dispatcher.native,
                self._engine_id,
                _path(self.key),
                _path(self.cert),
                _path(self.ca_cert),
                self.default_max_retries,
                self.default_timeout.total if self.default_timeout else None,
                reuse_port,
            )
            # The engine's network runs in this loop, whenever its descriptor says there is work.
            self.loop.add_reader(self._engine.descriptor(), self._run_network)
        port = self._engine.listen(port, addr)
        if external_port:
            self._engine.advertise_port(external_port)
        self.http_server = HTTPServer(
            self,
            addr=addr,
            port=port,
            external_port=external_port,
            ssl_ctx=ssl_ctx,
            reuse_port=reuse_port,
        )

    def add_http_client(
        self,
        name: str,
        addr: str,
        port: int | None = None,
        cert: Path | str | None = None,
        **cert_kwargs: Any,
    ) -> None:
        ssl_ctx = self.create_ssl_context(self.key, self.cert, self.ca_cert)
        port = self.get_port(ssl_ctx) if port is None else port
        client = HTTPClient(self, addr, port, ssl_ctx)
        if cert:
            try:
                import OpenSSL.crypto  # pylint: disable=import-outside-toplevel
            except ImportError as exc:
                raise ImportError(
                    "Could not import the required dependencies for client identification "
                    "through ssl/tls. Please install tno.mpc.communication[tls]."
                ) from exc
            with open(cert, "rb") as cert_handle:
                client_cert = OpenSSL.crypto.load_certificate(
                    cert_kwargs.get("type", OpenSSL.crypto.FILETYPE_PEM), cert_handle.read()
                )
            lookup = f"{client_cert.get_issuer().CN}:{client_cert.get_serial_number()}"
        else:
            lookup = f"{socket.gethostbyname(addr)}:{port}"
        # A name added again replaces the earlier client, as in the reference; the engine knows
        # each under a name of its own.
        engine_name = name
        while engine_name in self._by_engine_name:
            engine_name = f"{name}#{len(self._by_engine_name)}"
        self.engine.add_peer(engine_name, addr, port, _path(cert))
        client.engine_name = engine_name
        self._by_engine_name[engine_name] = client
        self.pool_handlers[name] = client
        self.handlers_lookup[lookup] = client

    def _run_network(self) -> None:
        if self.engine.run_network():
            self.dispatcher.drain()

    def _run_network_soon(self) -> None:
        """Runs the network in the loop's next turn, once however many sends ask for it."""
        if not self._network_run_due:
            self._network_run_due = True
            self.loop.call_soon(self._run_network_due)

    def _run_network_due(self) -> None:
        self._network_run_due = False
        if self._engine is not None:
            self._run_network()

    def _answer_soon(self) -> None:
        """A message arrived and was handed over: its 200, which the engine holds, goes out at the
        end of this turn of the loop (after the callbacks its arrival scheduled, such as the
        receiver's next step), or earlier with this party's next send. A reply sent in that turn
        then reaches the sender with the 200, which wakes it once instead of twice."""
        if self._deferring_answers and not self._answers_due:
            self._answers_due = True
            self.loop.call_soon(self._answer)

    def _answer(self) -> None:
        self._answers_due = False
        if self._engine is not None:
            self._engine.pay_answers()

    def _answered(self, at_once: bool) -> None:
        """Whether the 200 of a send came back while the send ran the network. Where it does, the
        peer runs on this core (it took the core at the request, and answered): deferring 200s
        would only give it the core once more between the 200 and the reply. Where several in a
        row do not, the peer runs elsewhere, and a 200 deferred to go out with the reply saves
        the peer a wake-up."""
        if at_once:
            self._late_answers = 0
            if self._deferring_answers:
                self._deferring_answers = self.engine.defer_answers(False)
        elif not self._deferring_answers:
            self._late_answers += 1
            if self._late_answers >= _LATE_ANSWERS_TO_DEFER:
                self._deferring_answers = self.engine.defer_answers(True)

    def asend(
        self,
        handler_name: str,
        message: Any,
        msg_id: str | None = None,
        timeout: ClientTimeout | None = None,
        max_retries: int | None = None,
    ) -> None:
        # The reference's asend without a task per message: the message is taken in the loop's
        # next turn, in order with the reference's tasks (both are scheduled with call_soon), so
        # ids are given as the reference gives them.
        handler, timeout, max_retries = self._sending(handler_name, timeout, max_retries)
        take = handler._asend  # pylint: disable=protected-access
        self.loop.call_soon(take, message, msg_id, timeout, max_retries)

    async def send(
        self,
        handler_name: str,
        message: Any,
        msg_id: str | None = None,
        timeout: ClientTimeout | None = None,
        max_retries: int | None = None,
    ) -> None:
        # The reference's send, one coroutine shorter: pack and hand over here.
        handler, timeout, max_retries = self._sending(handler_name, timeout, max_retries)
        await handler._send_message(  # pylint: disable=protected-access
            message, msg_id, 1, timeout, max_retries
        )

    def _sending(
        self, handler_name: str, timeout: ClientTimeout | None, max_retries: int | None
    ) -> tuple[HTTPClient, ClientTimeout, int]:
        """The handler a send goes to, and its timeout and retries (the pool's when not given)."""
        return (
            self._get_handler(handler_name),  # type: ignore[return-value]
            self.default_timeout if timeout is None else timeout,
            self.default_max_retries if max_retries is None else max_retries,
        )

    async def recv(
        self, handler_name: str, msg_id: str | None = None, timeout: float | None = None
    ) -> Any:
        # The reference's recv, without wait_for when there is no timeout.
        result = self._get_handler(handler_name).recv(msg_id)
        if not asyncio.isfuture(result):
            return result
        if timeout is None:
            return await result
        await asyncio.wait_for(result, timeout=timeout)
        return result.result()

    def _arrived(self, engine_name: str, body: bytes) -> None:
        """A message the engine received (on the loop's thread, in order)."""
        try:
            client = self._by_engine_name.get(engine_name)
            server = self.http_server
            if client is None or server is None:
                return
            try:
                msg_id, message = Serialization.unpack(
                    body, use_pickle=server.use_pickle, option=server.option, origin=client
                )
            except Exception:  # pylint: disable=broad-except
                # The engine checked the message's structure before it answered 200; what cannot
                # be turned into Python objects (an unregistered type, a failing deserializer) is
                # logged, not lost in silence.
                reference.logger.exception(
                    f"A message from {client.addr}:{client.port} could not be deserialized; "
                    "it is dropped"
                )
                return
            self._deliver(client, msg_id, message, len(body))
        finally:
            self._answer_soon()

    def _take(self, engine_name: str, msg_id: str | int, message: bytes, size: int) -> None:
        """A large bytes message that the engine unpacked as the reference's Serialization does
        (its body was `size` bytes)."""
        try:
            client = self._by_engine_name.get(engine_name)
            if client is not None and self.http_server is not None:
                self._deliver(client, msg_id, message, size)
        finally:
            self._answer_soon()

    def _deliver(self, client: HTTPClient, msg_id: str | int, message: Any, size: int) -> None:
        """An unpacked message to `client`'s waiting receive or buffer, counted."""
        server = self.http_server
        assert server is not None
        server.msg_recv_counter += 1
        server.total_bytes_recv += size
        client._arrived(msg_id, message)  # pylint: disable=protected-access

    async def shutdown(self) -> None:
        total_bytes_sent = msg_send_counter = total_bytes_recv = msg_recv_counter = 0
        # asends made before the shutdown hand their messages over first (they take them in the
        # loop's next turn), so that they are among the sends under way.
        await asyncio.sleep(0)
        if self._engine is not None:
            # Sends under way get their few seconds (the shutdown runs the network meanwhile, in
            # the executor's thread), and their completions reach this loop.
            self.loop.remove_reader(self._engine.descriptor())
            await self.loop.run_in_executor(None, self._engine.shutdown, 5.0)
        if (server := self.http_server) is not None:
            await server.shutdown()
            msg_recv_counter = server.msg_recv_counter
            total_bytes_recv = server.total_bytes_recv
        for handler in self.pool_handlers.values():
            await handler.shutdown()
            total_bytes_sent += handler.total_bytes_sent
            msg_send_counter += handler.msg_send_counter
        self.pool_handlers = {}
        self.handlers_lookup = {}
        logger.info(
            f"Pool shutdown.\nTotal bytes sent: {total_bytes_sent}\nTotal messages sent: "
            f"{msg_send_counter}\nTotal bytes received: {total_bytes_recv}\nTotal messages "
            f"received: {msg_recv_counter}"
        )
