"""
The engine-backed Pool as Python programs use it: values and ids exactly as the reference's,
the reference's objects where serializers and programs look, and where the engine differs on
purpose (nothing lost in silence), a clear exception or log line.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys

import numpy as np
import pytest
from tno.mpc.communication import Serialization
from tno.mpc.communication import httphandlers as reference_handlers

import mpc_comm
from conftest import ROOT, PoolMaker, connect, free_port


async def test_values_ids_and_prefixes_cross_as_with_the_reference(make_pool: PoolMaker) -> None:
    a, b = make_pool(), make_pool()
    connect(a, b)
    values = [
        None, True, 7, -(2**100), 2.5, "héllo", b"\x00\xff", [1, [2, 3]], (1, "two"),
        {"k": (1, 2)}, np.arange(6).reshape(2, 3),
    ]
    for value in values:
        await a.send("b", value)
    for value in values:
        got = await b.recv("a")
        if isinstance(value, np.ndarray):
            assert np.array_equal(got, value)
        else:
            assert got == value and type(got) is type(value)
    await a.send("b", "custom", msg_id="my-id")
    assert await b.recv("a", msg_id="my-id") == "custom"
    a.update_msg_prefix("session1-")
    b.update_msg_prefix("session1-")
    await a.send("b", "prefixed")
    await asyncio.sleep(0)
    assert any(str(key).startswith("session1-") for key in b.pool_handlers["a"].buffer)
    assert await b.recv("a") == "prefixed"


async def test_a_message_that_arrived_is_returned_by_arecv_itself(make_pool: PoolMaker) -> None:
    a, b = make_pool(), make_pool()
    connect(a, b)
    await a.send("b", None, msg_id="none-first")  # the reference would lose a None that arrived
    await a.send("b", 5, msg_id="five")
    assert b.arecv("a", msg_id="five") == 5
    assert b.arecv("a", msg_id="none-first") is None
    pending = b.arecv("a", msg_id="later")
    assert asyncio.isfuture(pending)
    await a.send("b", "now", msg_id="later")
    assert await pending == "now"


async def test_a_receivers_message_is_there_before_its_senders_send_returns(
    make_pool: PoolMaker,
) -> None:
    a, b = make_pool(), make_pool()
    connect(a, b)
    for i in range(50):
        pending = b.arecv("a", msg_id=f"m{i}")
        await a.send("b", i, msg_id=f"m{i}")
        assert pending.done() and pending.result() == i


async def test_sends_to_one_peer_complete_in_the_order_they_were_made(
    make_pool: PoolMaker,
) -> None:
    a, b = make_pool(), make_pool()
    connect(a, b)
    for _ in range(30):
        finished: list[int] = []

        async def send(i: int) -> None:
            await a.send("b", b"x" * (1000 * (3 - i)))  # the first is the largest
            finished.append(i)

        await asyncio.gather(*(send(i) for i in range(3)))
        assert finished == [0, 1, 2]
        for _ in range(3):
            await b.recv("a")


async def test_a_second_message_under_a_waiting_id_is_logged_and_the_first_kept(
    make_pool: PoolMaker, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = make_pool(), make_pool()
    connect(a, b)
    await a.send("b", "first", msg_id="same")
    with caplog.at_level(logging.ERROR, logger="tno.mpc.communication.httphandlers"):
        await a.send("b", "second", msg_id="same")
        await asyncio.sleep(0)
    assert "second message with id 'same'" in caplog.text
    assert await b.recv("a", msg_id="same") == "first"


class Secret:
    """A class whose serializer sees its destination, and fails when asked to."""

    seen: list[object] = []

    def __init__(self, value: int) -> None:
        self.value = value

    def serialize(self, **kwargs: object) -> int:
        Secret.seen.append(kwargs.get("destination"))
        if self.value < 0:
            raise ValueError("negative secrets cannot be sent")
        return self.value

    @staticmethod
    def deserialize(value: int, **kwargs: object) -> "Secret":
        Secret.seen.append(kwargs.get("origin"))
        return Secret(value)


async def test_serializers_see_the_references_handlers_and_their_errors_surface_at_the_await(
    make_pool: PoolMaker,
) -> None:
    Serialization.register_class(Secret, check_annotations=False, overwrite=True)
    a, b = make_pool(), make_pool()
    connect(a, b)
    Secret.seen.clear()
    await a.send("b", Secret(4))
    got = await b.recv("a")
    assert isinstance(got, Secret) and got.value == 4
    destination, origin = Secret.seen
    assert isinstance(destination, reference_handlers.HTTPClient)
    assert isinstance(origin, reference_handlers.HTTPClient)
    assert destination is a.pool_handlers["b"] and origin is b.pool_handlers["a"]
    # As with the reference: ormsgpack reports the serializer's error as a TypeError.
    with pytest.raises(TypeError, match="not msgpack serializable"):
        await a.send("b", Secret(-1))
    # The failed message took its id (as in the reference); the next one goes through.
    await a.send("b", "still fine", msg_id="after")
    assert await b.recv("a", msg_id="after") == "still fine"


async def test_a_send_whose_retries_run_out_raises(make_pool: PoolMaker) -> None:
    a = make_pool()
    a.add_http_client("nobody", "127.0.0.1", free_port())
    with pytest.raises(mpc_comm.DeliveryError, match="after 1 failed attempts"):
        await a.send("nobody", 1, max_retries=0)
    with pytest.raises(AttributeError, match='No pool handler named "ghost"'):
        await a.send("ghost", 1)


async def test_asends_take_their_ids_as_the_references_do(make_pool: PoolMaker) -> None:
    """An asend's message takes its id in the loop's next turn, as the reference's task does: a send
    awaited right after an asend takes the id before it. Both pools run the same program."""

    async def ids_received(sender_pool: object, receiver_pool: object) -> list[object]:
        connect(sender_pool, receiver_pool, "s", "r")
        sender_pool.asend("r", "first asend")  # type: ignore[attr-defined]
        await sender_pool.send("r", "awaited send")  # type: ignore[attr-defined]
        sender_pool.asend("r", "second asend")  # type: ignore[attr-defined]
        sender_pool.asend("r", "named", msg_id="name")  # type: ignore[attr-defined]
        await sender_pool.send("r", "last")  # type: ignore[attr-defined]
        receive = receiver_pool.recv  # type: ignore[attr-defined]
        by_number = [await receive("s", msg_id=i) for i in range(4)]
        return by_number + [await receive("s", msg_id="name")]

    reference_pool = mpc_comm.Pool.__mro__[1]
    references = [reference_pool(), reference_pool()]
    for pool in references:
        pool.add_http_server(port=free_port(), addr="127.0.0.1")
    await asyncio.sleep(0.1)  # the reference's servers start in a task
    try:
        expected = await ids_received(*references)
    finally:
        for pool in references:
            await pool.shutdown()
    assert expected == ["awaited send", "first asend", "last", "second asend", "named"]
    assert await ids_received(make_pool(), make_pool()) == expected


async def test_an_asend_that_fails_reaches_the_loops_exception_handler(
    make_pool: PoolMaker,
) -> None:
    a = make_pool()
    a.add_http_client("nobody", "127.0.0.1", free_port())
    loop = asyncio.get_running_loop()
    reported: asyncio.Future[dict[str, object]] = loop.create_future()
    loop.set_exception_handler(lambda _, context: reported.set_result(context))
    try:
        a.asend("nobody", "lost", max_retries=0)
        context = await asyncio.wait_for(reported, 30)
    finally:
        loop.set_exception_handler(None)
    assert isinstance(context["exception"], mpc_comm.DeliveryError)
    assert "after 1 failed attempts" in str(context["exception"])
    assert str(context["message"]).startswith("A message sent with asend to 127.0.0.1:")
    assert a.pool_handlers["nobody"].total_bytes_sent == 0


async def test_an_asend_that_cannot_be_packed_is_reported_without_its_message(
    make_pool: PoolMaker,
) -> None:
    a, b = make_pool(), make_pool()
    connect(a, b)
    loop = asyncio.get_running_loop()
    reported: list[dict[str, object]] = []
    loop.set_exception_handler(lambda _, context: reported.append(context))
    try:
        a.asend("b", object())  # no serializer for it
        await asyncio.sleep(0.1)
    finally:
        loop.set_exception_handler(None)
    assert len(reported) == 1
    assert str(reported[0]["message"]).startswith("A message sent with asend to 127.0.0.1:")
    assert isinstance(reported[0]["exception"], TypeError)
    assert "handle" not in reported[0]  # not asyncio's report of a callback, with its arguments


async def test_asends_are_counted_and_made_just_before_a_shutdown_arrive(
    make_pool: PoolMaker,
) -> None:
    a, b = make_pool(), make_pool()
    connect(a, b)
    handler = a.pool_handlers["b"]
    for i in range(3):
        a.asend("b", i)
    a.asend("b", "last words")
    await a.shutdown()  # right after the asends
    assert [await b.recv("a") for _ in range(4)] == [0, 1, 2, "last words"]
    assert handler.msg_send_counter == 4
    assert handler.total_bytes_sent == b.http_server.total_bytes_recv > 0


async def test_an_untrusted_peer_is_a_certificate_error(certificates) -> None:
    import aiohttp  # pylint: disable=import-outside-toplevel

    def tls(name: str, bundle: str = "ca-combined.crt") -> dict[str, str]:
        return {"key": str(certificates / f"{name}.pem"), "cert": str(certificates / f"{name}.crt"),
                "ca_cert": str(certificates / bundle)}

    a = mpc_comm.Pool(**tls("party_0"))
    b = mpc_comm.Pool(**tls("party_untrusted", "ca-untrusted.crt"))
    a.add_http_server(port=free_port(), addr="127.0.0.1")
    b.add_http_server(port=free_port(), addr="127.0.0.1")
    connect(a, b)
    try:
        with pytest.raises(aiohttp.ClientConnectorCertificateError, match="not trusted"):
            await a.send("b", "hello")
    finally:
        await a.shutdown()
        await b.shutdown()


async def test_engine_and_reference_pools_talk_to_each_other(make_pool: PoolMaker) -> None:
    engine = make_pool()
    reference = mpc_comm.Pool.__mro__[1]()  # the reference's own Pool
    reference.add_http_server(port=free_port(), addr="127.0.0.1")
    await asyncio.sleep(0.1)  # the reference's server starts in a task
    connect(engine, reference, "engine", "reference")
    try:
        await engine.send("reference", {"from": "engine"})
        assert await reference.recv("engine") == {"from": "engine"}
        await reference.send("engine", ("from", "reference"))
        assert await engine.recv("reference") == ("from", "reference")
    finally:
        await reference.shutdown()


async def test_large_bytes_messages_arrive_as_the_reference_unpacks_them(
    make_pool: PoolMaker,
) -> None:
    # Bytes messages of 1 MiB and more are unpacked by the engine, not by Serialization: the same
    # ids and values, from a reference party (its own packing) and from an engine party.
    engine = make_pool()
    sender = make_pool()
    reference = mpc_comm.Pool.__mro__[1]()  # the reference's own Pool
    reference.add_http_server(port=free_port(), addr="127.0.0.1")
    await asyncio.sleep(0.1)  # the reference's server starts in a task
    connect(engine, reference, "engine", "reference")
    connect(engine, sender, "engine", "sender")
    payloads = [bytes([i]) * ((1 << 20) + i) for i in range(4)]
    ids = [None, "custom-id", -(2**40), 2**63 + 5]
    counters = []
    try:
        for party in (reference, sender):
            for payload, msg_id in zip(payloads, ids):
                await party.send("engine", payload, msg_id=msg_id)
            # Not bytes itself, though large: through Serialization.
            await party.send("engine", [payloads[0], "tail"], msg_id="list")
            party.update_msg_prefix("p-")
            counters.append(party.pool_handlers["engine"].msg_send_counter)
            await party.send("engine", payloads[1])
        for name, counter in zip(("reference", "sender"), counters):
            handler = engine.pool_handlers[name]
            for payload, msg_id in zip(payloads, ids):
                got = await engine.recv(name, msg_id=msg_id if msg_id is not None else 0)
                assert type(got) is bytes and got == payload
            assert await engine.recv(name, msg_id="list") == [payloads[0], "tail"]
            handler.msg_prefix = "p-"
            assert await engine.recv(name, msg_id=counter) == payloads[1]  # id "p-<counter>"
            assert handler.buffer == {}
        sent = reference.pool_handlers["engine"].total_bytes_sent
        sent += sender.pool_handlers["engine"].total_bytes_sent
        assert engine.http_server.total_bytes_recv == sent
        assert engine.http_server.msg_recv_counter == 12
    finally:
        await reference.shutdown()


async def test_a_stream_of_large_messages_arrives_whole_and_in_order(make_pool: PoolMaker) -> None:
    # While the engine copies one large message for Python it reads the next ones meanwhile.
    a, b = make_pool(), make_pool()
    connect(a, b)
    payloads = [bytes([i]) * (9 << 20) for i in range(6)]
    for payload in payloads:
        a.asend("b", payload)
    for i, payload in enumerate(payloads):
        got = await b.recv("a")
        assert got == payload, f"message {i}"


async def test_a_message_that_cannot_be_deserialized_is_logged(
    make_pool: PoolMaker, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = make_pool(), make_pool()
    connect(a, b)
    unknown = {"type": "NoSuchClass", "data": 1}
    with caplog.at_level(logging.ERROR, logger="tno.mpc.communication.httphandlers"):
        # A typed map of a class this party has not registered, packed as a peer would send it.
        data = Serialization.pack(unknown, msg_id="odd", use_pickle=False)
        await a.pool_handlers["b"]._send(data)  # pylint: disable=protected-access
        await asyncio.sleep(0.05)
    assert "could not be deserialized" in caplog.text
    await a.send("b", "next")
    assert await b.recv("a") == "next"


def test_a_pool_made_before_its_loop_runs_works_in_it() -> None:
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        a, b = mpc_comm.Pool(), mpc_comm.Pool()
        a.add_http_server(port=free_port(), addr="127.0.0.1")
        b.add_http_server(port=free_port(), addr="127.0.0.1")
        connect(a, b)

        async def talk() -> object:
            await a.send("b", "before the loop ran")
            received = await b.recv("a")
            await a.shutdown()
            await b.shutdown()
            return received

        assert loop.run_until_complete(talk()) == "before the loop ran"
    finally:
        asyncio.set_event_loop(None)
        loop.close()


def test_run_serves_an_unchanged_program_with_the_engine(tmp_path) -> None:
    program = tmp_path / "program.py"
    program.write_text(
        "import sys\n"
        "from tno.mpc.communication import Pool\n"
        "import tno.mpc.communication.pool as p\n"
        "print(Pool.__module__, p.Pool.__module__, sys.argv[1:])\n"
    )
    out = subprocess.run([sys.executable, "-m", "mpc_comm.run", str(program), "x", "y"],
                         capture_output=True, text=True, check=True).stdout
    assert out.split() == ["mpc_comm.pool", "mpc_comm.pool", "['x',", "'y']"]
    plain = subprocess.run([sys.executable, str(program)], capture_output=True, text=True,
                           check=True).stdout
    assert plain.startswith("tno.mpc.communication.pool tno.mpc.communication.pool")


def test_install_reaches_modules_that_imported_the_pool_before() -> None:
    code = (
        "import types, sys\n"
        "from tno.mpc.communication import Pool as early\n"
        "m = types.ModuleType('user_module'); m.Pool = early; sys.modules['user_module'] = m\n"
        "import mpc_comm; mpc_comm.install()\n"
        "print(m.Pool is mpc_comm.Pool, early is not mpc_comm.Pool)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True"]


def test_the_seeds_greeting_runs_on_the_engine_and_beside_the_reference() -> None:
    examples = ROOT / "examples" / "python"
    for alice_engine, bob_engine in ((True, True), (True, False), (False, True)):
        def run(name: str, engine: bool) -> subprocess.Popen[str]:
            prefix = [sys.executable] + (["-m", "mpc_comm.run"] if engine else [])
            return subprocess.Popen(prefix + [str(examples / f"{name}.py")],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        bob = run("bob", bob_engine)
        alice = run("alice", alice_engine)
        alice_out, alice_err = alice.communicate(timeout=60)
        bob_out, bob_err = bob.communicate(timeout=60)
        assert alice.returncode == 0 and bob.returncode == 0, alice_err + bob_err
        assert alice_out.strip() == "Hello back to you, Alice!"
        assert bob_out.strip() == "Hello Bob! This is Alice speaking."
