# The cross-language conversation against tno.mpc.communication 5.x (its new API and its message
# format: the payload packed into a bin, str ids), with tests/interop/cpp_peer.cpp in its 5.x
# mode:   suite5.py CPP_PEER VECTORS_DIR BASE_PORT
# Values: the shared vectors' payloads (re-packed from the 4.x envelopes), random big integers,
# deep nesting, unicode keys, numpy, 64 MiB; a custom class through the C++ class; custom ids and
# out-of-order ids. (5.x has no id prefix.) Exits 77 (skipped) when 5.x is not installed.
import asyncio
import glob
import os
import random
import subprocess
import sys

try:
    import numpy as np
    import ormsgpack
    from tno.mpc.communication import (HttpCommunicator, HttpConnection, Pool, Serializer,
                                       __version__)
    if not __version__.startswith("5."):
        raise ImportError(f"version {__version__} is not 5.x")
    from tno.mpc.communication.packers.serialization import (DefaultDeserializerOpts,
                                                             DefaultSerializerOpts)
    from interop_common import Point, same
except ImportError as e:
    print(f"SKIPPED: tno.mpc.communication 5.x is not installed ({e}); "
          "run scripts/setup-python-ref.sh DIR 5.0.4")
    sys.exit(77)


Serializer.register_class(Point, check_annotations=False)


def values(vectors_dir):
    out = []
    for path in sorted(glob.glob(os.path.join(vectors_dir, "*.msgpack"))):
        try:
            envelope = ormsgpack.unpackb(open(path, "rb").read())
            inner = ormsgpack.packb(envelope["object"])
            obj = Serializer.deserialize(inner, DefaultDeserializerOpts)
        except Exception:  # dict_non_str_keys_opt needs a non-default option
            continue
        out.append((os.path.basename(path)[:-8], obj))
    rng = random.Random(5)
    for i in range(20):
        bits = rng.choice([63, 64, 65, 128, 2048, 10000])
        out.append((f"random_int_{i}", rng.getrandbits(bits) * rng.choice([1, -1])))
    deep = "bottom"
    for _ in range(100):
        deep = [deep]
    out.append(("nesting_100", deep))
    out.append(("unicode_keys", {"ключ": 1, "鍵": [1, 2], "🔑": {"ü": "ß"}}))
    out.append(("floats_1000", np.linspace(-1, 1, 1000)))
    out.append(("payload_64MiB", os.urandom(64 << 20)))
    return out


async def main(cpp_peer, vectors_dir, base):
    py_port, cpp_port = base + 1, base + 2
    peer = subprocess.Popen([cpp_peer, str(cpp_port), str(py_port), "v5"])
    pool = Pool("py", HttpCommunicator(addr="127.0.0.1", port=py_port, conn_retry_max=30),
                timeout=60)
    pool.add_client("cpp", HttpConnection("127.0.0.1", cpp_port))
    await pool.initialize()
    failures = []

    def check(ok, what):
        if not ok:
            failures.append(what)
            print("FAIL:", what, flush=True)

    try:
        items = values(vectors_dir)
        await pool.send("cpp", len(items), "count")
        for name, obj in items:
            await pool.send("cpp", obj)
            echoed = await pool.recv("cpp")
            expected = Serializer.deserialize(Serializer.serialize(obj, DefaultSerializerOpts),
                                              DefaultDeserializerOpts)
            check(same(expected, echoed), f"echo of {name}")
        print(f"echo: {len(items)} values Python 5.x -> C++ -> Python 5.x", flush=True)
        await pool.send("cpp", Point(3, 4), "point")
        check(await pool.recv("cpp", "point-back") == Point(4, 8), "Point changed by C++")
        check(await pool.recv("cpp", "points") == [Point(1, 2), Point(-5, 2**40)],
              "a list of C++ Points")
        await pool.send("cpp", "héllo", "custom-α")
        check(await pool.recv("cpp", "7") == "héllo!", "reply under the id '7'")
        await pool.send("cpp", "B", "b")
        await pool.send("cpp", "A", "a")
        check(await pool.recv("cpp", "ab") == "AB", "ids received out of order")
    finally:
        await pool.shutdown()
    rc = peer.wait(timeout=60)
    check(rc == 0, f"cpp_peer exit status {rc}")
    print(f"{len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]))))
