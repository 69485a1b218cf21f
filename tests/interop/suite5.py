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
    from interop_common import (Checks, Point, custom_class, custom_ids, echo_values,
                            out_of_order, same)
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


def after_wire(obj):
    """What Python itself makes of a value after one trip through the wire."""
    return Serializer.deserialize(Serializer.serialize(obj, DefaultSerializerOpts),
                                  DefaultDeserializerOpts)


async def main(cpp_peer, vectors_dir, base):
    py_port, cpp_port = base + 1, base + 2
    peer = subprocess.Popen([cpp_peer, str(cpp_port), str(py_port), "v5"])
    pool = Pool("py", HttpCommunicator(addr="127.0.0.1", port=py_port, conn_retry_max=30),
                timeout=60)
    pool.add_client("cpp", HttpConnection("127.0.0.1", cpp_port))
    await pool.initialize()
    check = Checks()

    try:
        # 1. Echo of every value. 2. The custom class. 3. Custom ids.
        await echo_values(pool, values(vectors_dir), after_wire, check,
                          "Python 5.x -> C++ -> Python 5.x")
        await custom_class(pool, check)
        await custom_ids(pool, check, "7")
        await out_of_order(pool, check)
    finally:
        await pool.shutdown()
    return check.finish(peer)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]))))
