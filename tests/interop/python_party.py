# The seed's alice.py and bob.py with the real tno.mpc.communication, for the mixed-language
# greeting: `python_party.py alice` or `python_party.py bob`. Exits 77 (skipped) when the package
# is not installed.
import asyncio
import sys

try:
    from tno.mpc.communication import Pool
except ImportError as e:
    print(f"SKIPPED: the Python reference is not installed ({e}); run scripts/setup-python-ref.sh")
    sys.exit(77)


async def alice():
    pool = Pool()
    pool.add_http_server(addr="127.0.0.1", port=61001)
    pool.add_http_client("Bob", addr="127.0.0.1", port=61002)
    await pool.send("Bob", "Hello Bob! This is Alice speaking.")
    reply = await pool.recv("Bob")
    print(reply, flush=True)
    await pool.shutdown()


async def bob():
    pool = Pool()
    pool.add_http_server(addr="127.0.0.1", port=61002)
    pool.add_http_client("Alice", addr="127.0.0.1", port=61001)
    message = await pool.recv("Alice")
    print(message, flush=True)
    await pool.send("Alice", "Hello back to you, Alice!")
    await pool.shutdown()


if __name__ == "__main__":
    asyncio.run(alice() if sys.argv[1] == "alice" else bob())
