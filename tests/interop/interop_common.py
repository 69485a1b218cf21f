# What the cross-language scripts share: the custom class both languages know as "Point", and a
# type-exact comparison of values. Works with the 4.x and the 5.x package (their serialize and
# deserialize take different keyword arguments; Point accepts any).
import importlib.metadata
import math
import os


def require_reference_version():
    """Raises ImportError (which the scripts report as skipped) when MPC_COMM_PYTHON_REF_VERSION is
    set (e.g. "4.12.") and the installed package's version does not start with it: a test meant
    for one release must not pass against another."""
    want = os.environ.get("MPC_COMM_PYTHON_REF_VERSION")
    have = importlib.metadata.version("tno.mpc.communication")
    if want and not have.startswith(want):
        raise ImportError(f"tno.mpc.communication is {have}, this test wants {want}*")


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y

    def serialize(self, *args, **kwargs):
        return {"x": self.x, "y": self.y}

    @staticmethod
    def deserialize(obj, *args, **kwargs):
        return Point(obj["x"], obj["y"])

    def __eq__(self, other):
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)

    def __repr__(self):
        return f"Point({self.x}, {self.y})"


def same(a, b):
    """Equal values of equal types (NaN equals NaN, -0.0 differs from 0.0)."""
    import numpy as np
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, np.ndarray):
        return (isinstance(b, np.ndarray) and a.shape == b.shape
                and all(same(x, y) for x, y in zip(a.flat, b.flat)))
    if isinstance(a, (list, tuple)):
        return type(a) == type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return type(a) == type(b) and a == b


class Checks:
    """Named checks of a conversation: a failure is printed at once and counted."""

    def __init__(self):
        self.failures = []

    def __call__(self, ok, what):
        if not ok:
            self.failures.append(what)
            print("FAIL:", what, flush=True)

    def finish(self, peer):
        """Checks the C++ peer's exit status; the script's exit status."""
        rc = peer.wait(timeout=60)
        self(rc == 0, f"cpp_peer exit status {rc}")
        print(f"{len(self.failures)} failed")
        return 1 if self.failures else 0


# The steps of the conversation with tests/interop/cpp_peer.cpp that both package versions share,
# in the order the C++ side expects them.

async def echo_values(pool, items, after_wire, check, label):
    """Every value goes to C++ and back; it must equal what Python itself makes of it after one
    trip through the wire (`after_wire`)."""
    await pool.send("cpp", len(items), "count")
    for name, obj in items:
        await pool.send("cpp", obj)
        echoed = await pool.recv("cpp")
        check(same(after_wire(obj), echoed), f"echo of {name}")
    print(f"echo: {len(items)} values {label}", flush=True)


async def custom_class(pool, check):
    """The custom class, through the C++ class of the same name."""
    await pool.send("cpp", Point(3, 4), "point")
    check(await pool.recv("cpp", "point-back") == Point(4, 8), "Point changed by C++")
    check(await pool.recv("cpp", "points") == [Point(1, 2), Point(-5, 2**40)],
          "a list of C++ Points")


async def custom_ids(pool, check, reply_id):
    """A unicode id in; the reply under `reply_id` (the C++ side's id 7, as this version has it)."""
    await pool.send("cpp", "héllo", "custom-α")
    check(await pool.recv("cpp", reply_id) == "héllo!", f"reply under the id {reply_id!r}")


async def out_of_order(pool, check):
    await pool.send("cpp", "B", "b")
    await pool.send("cpp", "A", "a")
    check(await pool.recv("cpp", "ab") == "AB", "ids received out of order")
