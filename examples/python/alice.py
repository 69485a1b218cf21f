# The seed's Alice, written against tno.mpc.communication: run it as it is (the reference), or on
# the engine with `python -m mpc_comm.run examples/python/alice.py`. She listens on 61001, greets
# Bob on 61002 and prints his answer.
import asyncio

from tno.mpc.communication import Pool


async def main() -> None:
    pool = Pool()
    pool.add_http_server(addr="127.0.0.1", port=61001)
    pool.add_http_client("Bob", addr="127.0.0.1", port=61002)
    await pool.send("Bob", "Hello Bob! This is Alice speaking.")
    print(await pool.recv("Bob"), flush=True)
    await pool.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
