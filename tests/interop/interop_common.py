# What the cross-language scripts share: the custom class both languages know as "Point", and a
# type-exact comparison of values. Works with the 4.x and the 5.x package (their serialize and
# deserialize take different keyword arguments; Point accepts any).
import math


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
