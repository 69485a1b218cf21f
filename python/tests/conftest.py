"""Fixtures of the mpc_comm tests: free ports, engine pools, and the repository's test certificates."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path
from typing import AsyncIterator, Callable

import pytest
import pytest_asyncio

import mpc_comm

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


PoolMaker = Callable[..., mpc_comm.Pool]


@pytest_asyncio.fixture
async def make_pool() -> AsyncIterator[PoolMaker]:
    """Makes engine pools serving on 127.0.0.1 (a free port each); shuts them down afterwards."""
    pools: list[mpc_comm.Pool] = []

    def make(**kwargs: object) -> mpc_comm.Pool:
        pool = mpc_comm.Pool(**kwargs)  # type: ignore[arg-type]
        pool.add_http_server(port=free_port(), addr="127.0.0.1")
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        await pool.shutdown()


def connect(a: object, b: object, name_a: str = "a", name_b: str = "b") -> None:
    """Makes two pools know each other: a as `name_a` in b, b as `name_b` in a."""
    a.add_http_client(name_b, "127.0.0.1", b.http_server.port)  # type: ignore[attr-defined]
    b.add_http_client(name_a, "127.0.0.1", a.http_server.port)  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA set made by the repository's scripts/make-test-certs.sh."""
    directory = tmp_path_factory.mktemp("certs")
    subprocess.run([str(ROOT / "scripts" / "make-test-certs.sh"), str(directory)], check=True,
                   capture_output=True)
    return directory
