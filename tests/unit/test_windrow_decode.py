"""The reference decoder's sketch code (tests/windrow_decode.py) against the
agent's bytes: the 28-byte example of docs/upstream-schema.md (also pinned
by tests/unit/test_encode_cbor.c), quantiles within the bound, merging two
sketches (exact, order-free, within the bound of the union's exact
quantiles), the collapse rule, and the refusals a merger needs.
"""
import math
import os
import random
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from windrow_decode import DecodeError, Sketch, cbor_loads  # noqa: E402

EXAMPLE = bytes.fromhex("017b14ae47e17a843f8004010b000100000100010000000001014601")
EXAMPLE_B64 = "AXsUrkfheoQ/gAQBCwABAAABAAEAAAAAAQFGAQ=="


def exact(values, q):
    s = sorted(values)
    return s[int(math.floor(q * (len(s) - 1)))]


def sketch_of(values, accuracy=0.01, max_buckets=512):
    sk = Sketch(accuracy, max_buckets)
    for v in values:
        sk.add(v)
    return sk


class SketchDecoderTest(unittest.TestCase):
    def test_example_decodes_as_documented(self):
        sk = Sketch.from_field(EXAMPLE_B64)
        self.assertEqual(sk.to_bytes(), EXAMPLE)
        self.assertEqual(Sketch.from_field(EXAMPLE).to_bytes(), EXAMPLE)
        self.assertEqual((sk.accuracy, sk.max_buckets, sk.zero), (0.01, 512, 1))
        self.assertEqual(sk.pos, {0: 1, 3: 1, 5: 1, 10: 1})
        self.assertEqual(sk.neg, {35: 1})
        self.assertEqual(sk.count, 6)
        self.assertAlmostEqual(sk.quantile(0.5), 0.99, places=12)
        # The same sketch as the decoder builds it from the values.
        self.assertEqual(sketch_of([1.0, 1.05, 1.1, 1.2, -2.0, 0.0]).to_bytes(), EXAMPLE)
        # As it travels in CBOR: a byte string with a one-byte length.
        self.assertEqual(cbor_loads(b"\x58\x1c" + EXAMPLE), EXAMPLE)

    def test_quantiles_within_bound(self):
        rnd = random.Random(5)
        values = [math.exp(rnd.gauss(1, 2)) * (-1 if rnd.random() < 0.2 else 1)
                  for _ in range(3000)] + [0.0] * 7
        sk = sketch_of(values)
        for q in (0, 0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1):
            x = exact(values, q)
            self.assertLessEqual(abs(sk.quantile(q) - x), 0.01 * abs(x) * (1 + 1e-12), q)

    def test_merge_of_two_is_the_sketch_of_the_union(self):
        rnd = random.Random(7)
        a = [rnd.lognormvariate(0, 1.5) for _ in range(500)]
        b = [-rnd.lognormvariate(2, 0.5) for _ in range(300)] + [rnd.uniform(100, 900)
                                                                  for _ in range(200)]
        ab = Sketch.parse(sketch_of(a).to_bytes()).merge(Sketch.parse(sketch_of(b).to_bytes()))
        ba = sketch_of(b).merge(sketch_of(a))
        self.assertEqual(ab.to_bytes(), sketch_of(a + b).to_bytes())
        self.assertEqual(ab.to_bytes(), ba.to_bytes())
        self.assertEqual(ab.count, 1000)
        for q in (0, 0.1, 0.5, 0.75, 0.9, 0.99, 1):
            x = exact(a + b, q)
            self.assertLessEqual(abs(ab.quantile(q) - x), 0.01 * abs(x) * (1 + 1e-12), q)

    def test_merge_collapses_past_max_buckets(self):
        # 16 buckets: values 1 and 1e3 are ~350 indices apart, so the small one is folded up.
        small = sketch_of([1.0, 1.0], max_buckets=16)
        large = sketch_of([1000.0], max_buckets=16)
        merged = small.merge(large)
        self.assertEqual(max(merged.pos) - min(merged.pos) + 1, 16)
        self.assertEqual(merged.pos[min(merged.pos)], 2)
        self.assertEqual(merged.to_bytes(), sketch_of([1.0, 1.0, 1000.0], max_buckets=16).to_bytes())
        # The high quantiles keep the bound; the collapsed ones are over-estimated.
        self.assertLessEqual(abs(merged.quantile(1) - 1000) / 1000, 0.01)
        self.assertGreater(merged.quantile(0), 1.0)

    def test_merge_refuses_other_parameters(self):
        with self.assertRaises(ValueError):
            sketch_of([1.0]).merge(sketch_of([1.0], accuracy=0.02))
        with self.assertRaises(ValueError):
            sketch_of([1.0]).merge(sketch_of([1.0], max_buckets=256))

    def test_bad_input_is_refused(self):
        for bad in (b"", EXAMPLE[:-1], EXAMPLE + b"\x00", b"\x02" + EXAMPLE[1:]):
            with self.assertRaises(DecodeError):
                Sketch.parse(bad)
        with self.assertRaises(ValueError):
            Sketch.from_field("not base64!")
        with self.assertRaises(ValueError):
            Sketch(0.01, 512).quantile(0.5)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1] + ["-v"])
