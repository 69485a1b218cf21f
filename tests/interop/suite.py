# A conversation between the real tno.mpc.communication and a C++ party (tests/interop/
# cpp_peer.cpp) over the network, covering every value kind both ways:
#   suite.py CPP_PEER VECTORS_DIR BASE_PORT
# Every value (each vector of tests/data/vectors, random big integers, deep nesting, unicode keys,
# a 64 MiB payload, ...) goes Python -> C++ -> Python and must come back as Python itself would
# unpack it; a custom class round-trips through the C++ class registered under the same name;
# custom ids, integer ids, prefixes and out-of-order ids line up across the languages.
# Exits 77 (skipped) when the package cannot be imported.
import asyncio
import glob
import os
import random
import subprocess
import sys

try:
    import numpy as np
    from tno.mpc.communication import Pool
    from tno.mpc.communication.serialization import Serialization
    from interop_common import (Checks, Point, custom_class, custom_ids, echo_values,
                            out_of_order, require_reference_version, same)
    require_reference_version()
except ImportError as e:
    print(f"SKIPPED: the Python reference is not installed ({e}); run scripts/setup-python-ref.sh")
    sys.exit(77)


Serialization.register_class(Point, check_annotations=False)


def values(vectors_dir):
    """(name, value) pairs: the vectors as the reference unpacks them, and more."""
    out = []
    for path in sorted(glob.glob(os.path.join(vectors_dir, "*.msgpack"))):
        try:
            _, obj = Serialization.unpack(open(path, "rb").read())
        except Exception:  # dict_non_str_keys_opt needs a non-default option
            continue
        out.append((os.path.basename(path)[:-8], obj))
    rng = random.Random(20261124)
    for i in range(40):
        bits = rng.choice([63, 64, 65, 127, 128, 129, 1024, 2048, 4096, 10000])
        out.append((f"random_int_{i}", rng.getrandbits(bits) * rng.choice([1, -1])))
    out.append(("bigints_1000x2048", [rng.getrandbits(2048) for _ in range(1000)]))
    deep = "bottom"
    for _ in range(200):
        deep = [deep]
    out.append(("nesting_200", deep))
    out.append(("deep_dicts", {"a": {"b": {"c": {"d": [({"e": (1, 2.5)},)]}}}}))
    out.append(("unicode_keys", {"ключ": 1, "鍵": [1, 2], "🔑": {"ü": "ß"}, "": None}))
    out.append(("floats_100000", np.linspace(-1, 1, 100000)))
    out.append(("payload_64MiB", os.urandom(64 << 20)))
    return out


def after_wire(obj):
    """What Python itself makes of a value after one trip through the wire."""
    return Serialization.unpack(Serialization.pack(obj, "x", use_pickle=False))[1]


async def main(cpp_peer, vectors_dir, base):
    py_port, cpp_port = base + 1, base + 2
    peer = subprocess.Popen([cpp_peer, str(cpp_port), str(py_port), "v4", vectors_dir])
    pool = Pool()
    pool.add_http_server(addr="127.0.0.1", port=py_port)
    pool.add_http_client("cpp", addr="127.0.0.1", port=cpp_port)
    check = Checks()

    try:
        # 1. Echo of every value. 2. The custom class. 3. Custom ids.
        await echo_values(pool, values(vectors_dir), after_wire, check,
                          "Python -> C++ -> Python")
        await custom_class(pool, check)
        await custom_ids(pool, check, 7)

        # 4. A prefix on both sides.
        pool.update_msg_prefix("s1-")
        await pool.send("cpp", (1, "two", 3.0))
        check(same(await pool.recv("cpp"), (1, "two", 3.0)), "default ids with a prefix")
        await pool.send("cpp", "named", "named")
        check(await pool.recv("cpp", "named") == "named", "an explicit id with a prefix")

        # 5. Out of order.
        pool.update_msg_prefix(None)
        await out_of_order(pool, check)
    finally:
        await pool.shutdown()
    return check.finish(peer)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]))))
