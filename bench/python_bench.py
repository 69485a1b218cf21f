# The benchmark workloads with the real tno.mpc.communication (4.x), for scale: two pools in one
# process on 127.0.0.1, as bench_workloads does for the C++ library. Prints one JSON object per
# workload.   python_bench.py [--scale F]
# Exits 77 when the package is not installed.
import asyncio
import json
import random
import statistics
import sys
import time

try:
    from tno.mpc.communication import Pool
except ImportError as e:
    print(f"SKIPPED: the Python reference is not installed ({e})", file=sys.stderr)
    sys.exit(77)

BASE = 64200


async def pools():
    a, b = Pool(), Pool()
    a.add_http_server(addr="127.0.0.1", port=BASE + 1)
    b.add_http_server(addr="127.0.0.1", port=BASE + 2)
    a.add_http_client("b", addr="127.0.0.1", port=BASE + 2)
    b.add_http_client("a", addr="127.0.0.1", port=BASE + 1)
    await a.send("b", 0, "warm")
    await b.recv("a", "warm")
    return a, b


async def round_trip(a, b, size, count):
    payload = b"x" * size

    async def echo():
        for _ in range(count):
            await b.send("a", await b.recv("a"))

    task = asyncio.create_task(echo())
    times = []
    for _ in range(count):
        t = time.perf_counter()
        await a.send("b", payload)
        await a.recv("b")
        times.append((time.perf_counter() - t) * 1e6)
    await task
    times.sort()
    return {"workload": "round_trip", "size": size, "count": count,
            "rtt_median_us": statistics.median(times),
            "rtt_p99_us": times[min(len(times) - 1, int(0.99 * len(times)))]}


async def one_way(a, b, size, count):
    payload = b"x" * size
    t = time.perf_counter()
    for _ in range(count):
        await a.send("b", payload)
        await b.recv("a")
    s = time.perf_counter() - t
    return {"workload": "one_way", "size": size, "count": count,
            "payload_mb_per_s": size * count / s / 1e6}


async def pipelined(a, b, workload, count, message):
    """asend of `count` messages (message(i)) from a, all received by b: messages per second."""
    t = time.perf_counter()
    for i in range(count):
        a.asend("b", message(i))
    for _ in range(count):
        await b.recv("a")
    s = time.perf_counter() - t
    return {"workload": workload, "messages": count, "messages_per_s": count / s}


async def asend_ints(a, b, count):
    return await pipelined(a, b, "asend_ints", count, lambda i: i)


async def bigint_lists(a, b, count):
    rng = random.Random(2048)
    lst = [rng.getrandbits(2048) for _ in range(1000)]
    return await pipelined(a, b, "bigint_lists", count, lambda i: lst)


async def float_vectors(a, b, count):
    import numpy as np
    v = np.arange(1_000_000, dtype=np.float64) * 0.5
    times = []
    for _ in range(count):
        t = time.perf_counter()
        await a.send("b", v)
        await b.recv("a")
        times.append((time.perf_counter() - t) * 1e3)
    return {"workload": "float_vectors", "messages": count,
            "ms_per_message_median": statistics.median(times)}


async def main(scale):
    n = lambda full: max(1, int(full * scale))
    a, b = await pools()
    results = [
        await round_trip(a, b, 64, n(500)),
        await round_trip(a, b, 1 << 20, n(100)),
        await one_way(a, b, 64 << 20, n(4)),
        await asend_ints(a, b, n(5000)),
        await bigint_lists(a, b, n(50)),
        await float_vectors(a, b, n(5)),
    ]
    for r in results:
        print(json.dumps(r), flush=True)
    await a.shutdown()
    await b.shutdown()


if __name__ == "__main__":
    scale = float(sys.argv[sys.argv.index("--scale") + 1]) if "--scale" in sys.argv else 1.0
    import logging
    logging.disable(logging.CRITICAL)
    asyncio.run(main(scale))
