# The secure-sum example (examples/secure_sum.cpp) with the real tno.mpc.communication, so that
# Python and C++ parties can run it together: secure_sum.py INDEX INPUT. Same ports (127.0.0.1:
# 61011..61013), names (party0..party2), ids ("share", "partial") and arithmetic (mod 2^64).
# Exits 77 (skipped) when the package is not installed.
import asyncio
import secrets
import sys

try:
    from tno.mpc.communication import Pool
except ImportError as e:
    print(f"SKIPPED: the Python reference is not installed ({e}); run scripts/setup-python-ref.sh")
    sys.exit(77)

PARTIES = 3
MOD = 2**64


async def main(me, value):
    pool = Pool()
    pool.add_http_server(addr="127.0.0.1", port=61011 + me)
    for i in range(PARTIES):
        if i != me:
            pool.add_http_client(f"party{i}", addr="127.0.0.1", port=61011 + i)
    partial = value
    for i in range(PARTIES):
        if i != me:
            share = secrets.randbelow(MOD)
            partial = (partial - share) % MOD
            await pool.send(f"party{i}", share, "share")
    for share in (await pool.recv_all(msg_id="share")):
        partial = (partial + share[1]) % MOD
    await pool.broadcast(partial, "partial")
    total = partial
    for other in (await pool.recv_all(msg_id="partial")):
        total = (total + other[1]) % MOD
    print(f"party{me}: the sum is {total}", flush=True)
    await pool.shutdown()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
