# The real Python package against mpc-comm: every vector, decoded by mpc-comm and encoded again,
# unpacks in tno.mpc.communication 4.x (4.8.1, 4.12.0) to the same id and value as the original
# bytes. Exits 77 (skipped) when the package cannot be imported, with a message saying so.
import glob, os, subprocess, sys, math

try:
    import numpy as np
    from tno.mpc.communication.serialization import Serialization
    from interop_common import Point, require_reference_version, same
    require_reference_version()
except ImportError as e:
    print(f"SKIPPED: the Python reference is not installed ({e}); run scripts/setup-python-ref.sh")
    sys.exit(77)
tool, vec = sys.argv[1], sys.argv[2]
Serialization.register_class(Point, check_annotations=False)
bad = 0; n = 0; diff_bytes = []
for f in sorted(glob.glob(vec + "/*.msgpack")):
    name = os.path.basename(f)[:-8]
    raw = open(f, "rb").read()
    try:
        ref = Serialization.unpack(raw)
    except Exception as e:
        print("reference cannot unpack", name, type(e).__name__); continue
    j = subprocess.run([tool, "decode", f], capture_output=True, check=True).stdout
    ours = subprocess.run([tool, "encode", "-"], input=j, capture_output=True, check=True).stdout
    got = Serialization.unpack(ours)
    n += 1
    if not (same(ref[0], got[0]) and same(ref[1], got[1])):
        bad += 1; print("MISMATCH", name, ref, got)
    try:
        again = Serialization.pack(ref[1], ref[0], use_pickle=False)
        if again != raw: diff_bytes.append(name)
    except Exception as e:
        diff_bytes.append(name + " (" + type(e).__name__ + ")")
print(f"{n} vectors: {n-bad} unpack identically after mpc-comm decode|encode, {bad} differ")
# Expected: these vectors' decoded values differ from what was sent (a lookalike dict becomes an
# int, float32 becomes float, the old -2**63 form becomes int64), so repacking gives other bytes.
expected_diff = {"dict_type_data_lookalike", "int_i64_min_ormsgpack_pre_1_10", "ndarray_float32",
                 "np_float32_scalar"}
unexpected = [d for d in diff_bytes if d not in expected_diff]
print("real ormsgpack repacks differently (expected):", sorted(set(diff_bytes) & expected_diff))
if unexpected:
    print("real ormsgpack repacks differently (UNEXPECTED):", unexpected)
print(f"{n - bad - len(unexpected)} passed, {bad + len(unexpected)} failed")
sys.exit(1 if bad or unexpected or n < 80 else 0)
