# The shared vectors against the real ormsgpack: each vector's `sent` value, rebuilt as the Python
# object it was, packed by the real tno.mpc.communication 4.x (4.8.1, 4.12.0; and so by the real
# ormsgpack), must give the vector's bytes. The bytes came from a stand-in for ormsgpack; this says
# where the real library differs. Exits 77 (skipped) when the package cannot be imported.
import enum
import json
import os
import sys

try:
    import bitarray
    import gmpy2
    import numpy as np
    from tno.mpc.communication.serialization import Serialization
    from interop_common import Point, require_reference_version
    require_reference_version()
except ImportError as e:
    print(f"SKIPPED: the Python reference is not installed ({e}); run scripts/setup-python-ref.sh")
    sys.exit(77)


Serialization.register_class(Point, check_annotations=False)
enums = {}


def python(n):
    """The Python object of a value in the neutral JSON form (vectors README)."""
    if n is None or isinstance(n, bool):
        return n
    if "float" in n:  # {"float": repr, "hex": C99 %a}
        return float.fromhex(n["hex"]) if n["hex"] not in ("inf", "-inf", "nan") else float(n["hex"])
    (kind, v), = n.items()
    if kind == "int":
        return int(v)
    if kind == "str":
        return v
    if kind == "bytes_hex":
        return bytes.fromhex(v)
    if kind == "list":
        return [python(x) for x in v]
    if kind == "tuple":
        return tuple(python(x) for x in v)
    if kind == "dict":
        return {python(k): python(x) for k, x in v}
    if kind == "mpz":
        return gmpy2.mpz(v)
    if kind == "bitarray":
        return bitarray.bitarray(v["bits"], endian=v["endian"])
    if kind == "ndarray":
        values = python(v["values"])
        if v["dtype"] == "object":
            out = np.empty(v["shape"], dtype=object)
            flat = np.array(values, dtype=object).reshape(-1) if v["shape"] else [values]
            for i, x in enumerate(flat):
                out.flat[i] = x
            return out
        return np.array(values, dtype=v["dtype"]).reshape(v["shape"])
    if kind == "numpy_scalar":
        return np.dtype(v["dtype"]).type(python(v["value"]))
    if kind == "enum":
        value = python(v["value"])
        cls = enums.setdefault(v["class"], enum.Enum(v["class"], {v["name"]: value}))
        return cls[v["name"]]
    if kind == "object":
        return Point(**{k: python(x) for k, x in v["fields"].items()})
    raise ValueError(f"unknown neutral kind {kind}")


def main(vectors_dir):
    manifest = json.load(open(os.path.join(vectors_dir, "vectors.json")))
    same, differ = [], []
    for v in manifest["vectors"]:
        raw = open(os.path.join(vectors_dir, v["file"]), "rb").read()
        msg_id = python(v["msg_id"])
        try:
            packed = Serialization.pack(python(v["sent"]), msg_id, use_pickle=False)
        except Exception as e:
            differ.append(f"{v['name']} (cannot pack: {type(e).__name__}: {e})")
            continue
        (same if packed == raw else differ).append(v["name"])
    print(f"{len(same)} of {len(manifest['vectors'])} vectors: the real ormsgpack packs the sent "
          f"value to exactly the vector's bytes")
    # The non-default vector packed with its option; the other one is what ormsgpack < 1.10 wrote.
    import ormsgpack
    from tno.mpc.communication.serialization import DEFAULT_PACK_OPTION
    for v in manifest["non_default_vectors"]:
        raw = open(os.path.join(vectors_dir, v["file"]), "rb").read()
        if v["pack_option"] == "DEFAULT_PACK_OPTION | OPT_NON_STR_KEYS":
            packed = Serialization.pack(python(v["sent"]), python(v["msg_id"]), use_pickle=False,
                                        option=DEFAULT_PACK_OPTION | ormsgpack.OPT_NON_STR_KEYS)
            print(f"{v['name']}: {'same bytes' if packed == raw else 'DIFFERENT bytes'} with "
                  f"{v['pack_option']}")
            if packed != raw:
                differ.append(v["name"])
        else:
            packed = Serialization.pack(python(v["sent"]), python(v["msg_id"]), use_pickle=False)
            print(f"{v['name']}: ormsgpack {ormsgpack.__version__} writes "
                  f"{'the same bytes' if packed == raw else 'other bytes (as its description says)'}")
    for name in differ:
        print("DIFFERENT:", name)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
