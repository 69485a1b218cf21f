# The seed's Bob, written against tno.mpc.communication: run it as it is (the reference), or on
# the engine with `python -m mpc_comm.run examples/python/bob.py`. He listens on 61002, prints
# Alice's greeting and answers it.
import asyncio

from tno.mpc.communication import Pool


async def main() -> None:
    pool = Pool()
    pool.add_http_server(addr="127.0.0.1", port=61002)
    pool.add_http_client("Alice", addr="127.0.0.1", port=61001)
    print(await pool.recv("Alice"), flush=True)
    await pool.send("Alice", "Hello back to you, Alice!")
    await pool.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
