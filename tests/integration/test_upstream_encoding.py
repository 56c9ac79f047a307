"""Upstream encodings end to end: the same events through JSON, CBOR and
CBOR+zstd give the same exact results, decoded by the consumers' reference
decoder (tests/windrow_decode.py), and each payload starts with the bytes the
schema page promises (JSON '{', CBOR d9 d9 f7, zstd 28 b5 2f fd).
"""
import math
import sys
import time
import unittest

from harness import Lab, base_config, wait_for  # harness puts tests/ on sys.path
import windrow_decode  # noqa: E402

STREAMS = [
    {"name": "temp", "match": "sensors/+/temp", "key": "{topic[1]}",
     "window": {"size_s": 10, "allowed_lateness_s": 0},
     "aggregates": ["count", "sum", "min", "max", "mean", "stddev", "first", "last"]},
]

FIRST_BYTES = {
    ("json", "none"): b"{",
    ("cbor", "none"): windrow_decode.CBOR_MAGIC,
    ("cbor", "zstd"): windrow_decode.ZSTD_MAGIC,
    ("json", "zstd"): windrow_decode.ZSTD_MAGIC,
}


def exact(values):
    n = len(values)
    mean = sum(values) / n
    return dict(count=n, sum=math.fsum(values), min=min(values), max=max(values), mean=mean,
                stddev=math.sqrt(math.fsum((v - mean) ** 2 for v in values) / n))


class UpstreamEncodingTest(unittest.TestCase):
    def run_encoding(self, encoding, compression):
        with Lab() as lab:
            local = lab.broker("local")
            upstream = lab.broker("upstream")
            collector = lab.collector(upstream)
            cfg = base_config(lab.wd, local.port, upstream.port, STREAMS,
                              upstream={"encoding": encoding, "compression": compression})
            lab.agent(cfg)
            pub = local.client("pub")
            t0 = (int(time.time()) // 10) * 10 - 60
            sent = {}
            for dev in range(12):
                key = "dev%02d" % dev
                vals = [round(20 + dev + 0.37 * i - 0.01 * i * i, 6) for i in range(25)]
                sent[key] = vals
                for i, v in enumerate(vals):
                    pub.publish("sensors/%s/temp" % key, '{"value": %r, "ts": %.3f}' % (v, t0 + i * 0.1))
            pub.publish("sensors/zz/temp", '{"value": 0, "ts": %d}' % (t0 + 45))
            pub.close()

            def all_there():
                keys = {r["key"] for r in collector.results() if r["start"] == t0}
                return all(k in keys for k in sent)
            wait_for(all_there, 20, "all 12 results upstream (%s/%s)" % (encoding, compression))
            got = {r["key"]: r for r in collector.results() if r["start"] == t0}
            for key, vals in sent.items():
                want = exact(vals)
                r = got[key]
                self.assertEqual(r["count"], want["count"])
                self.assertEqual(r["min"], want["min"])
                self.assertEqual(r["max"], want["max"])
                self.assertEqual(r["first"], vals[0])
                self.assertEqual(r["last"], vals[-1])
                for f in ("sum", "mean", "stddev"):
                    self.assertTrue(math.isclose(r[f], want[f], rel_tol=1e-12), (key, f, r[f], want[f]))
                self.assertEqual(len(r["id"]), 16)
            results_raw = [p for t, p in collector.raw if t.endswith("/results")]
            self.assertTrue(results_raw)
            for p in results_raw:
                self.assertTrue(p.startswith(FIRST_BYTES[(encoding, compression)]), p[:8])
            return sum(len(p) for p in results_raw)

    def test_json(self):
        self.run_encoding("json", "none")

    def test_cbor(self):
        self.run_encoding("cbor", "none")

    def test_cbor_zstd(self):
        self.run_encoding("cbor", "zstd")


class ReferenceDecoderTest(unittest.TestCase):
    """The decoder against the byte-exact fixture of tests/unit/test_encode_cbor.c."""

    FIXTURE = bytes.fromhex(
        "d9d9f7a5617601656167656e746467772d3163736571076773656e745f6d731b"
        "0000018bcfe74a406667726f7570739fa36673747265616d6474656d70667369"
        "7a655f73183c67726573756c74739fa962696470303563376437366532333964"
        "63393964636b657964646576316573746172741a6553f128637265760065636f"
        "756e74036373756df953f0636d696ef94d20636d617816646d65616efb40352a"
        "aaaaaaaaaba96269647063636639313261623434383339373535636b65796464"
        "6576326573746172741a6553f128637265760165636f756e74016373756df94c"
        "d0636d696ef94cd0636d6178f94cd0646d65616ef94cd0ffa36673747265616d"
        "6368756d6673697a655f7319012c67726573756c74739fa66269647034616365"
        "373763663762623363323733636b657964646576316573746172741a6553f164"
        "637265760065636f756e7402636d61781833ffff")
    JSON = (
        '{"v":1,"agent":"gw-1","seq":7,"sent_ms":1700000123456,"groups":['
        '{"stream":"temp","size_s":60,"results":['
        '{"id":"05c7d76e239dc99d","key":"dev1","start":1700000040,"rev":0,'
        '"count":3,"sum":63.5,"min":20.5,"max":22,"mean":21.166666666666668},'
        '{"id":"ccf912ab44839755","key":"dev2","start":1700000040,"rev":1,'
        '"count":1,"sum":19.25,"min":19.25,"max":19.25,"mean":19.25}]},'
        '{"stream":"hum","size_s":300,"results":['
        '{"id":"4ace77cf7bb3c273","key":"dev1","start":1700000100,"rev":0,'
        '"count":2,"max":51}]}]}')

    def test_cbor_fixture_equals_json_example(self):
        import json
        self.assertEqual(windrow_decode.decode_message(self.FIXTURE), json.loads(self.JSON))
        self.assertEqual(windrow_decode.decode_message(self.JSON.encode()), json.loads(self.JSON))

    def test_sketch_parse_quantile_merge(self):
        import base64
        import struct
        raw = bytes([1]) + struct.pack("<d", 0.01) + bytes([0x80, 0x04, 0x00, 0x01, 0x5C, 0x01, 0x00])
        sk = windrow_decode.Sketch.from_field(base64.b64encode(raw).decode())
        self.assertEqual(sk.count, 1)
        self.assertEqual(sk.pos, {46: 1})
        self.assertLessEqual(abs(sk.quantile(0.5) - 2.5), 0.01 * 2.5)
        twice = windrow_decode.Sketch.from_field(raw).merge(sk)
        self.assertEqual(twice.count, 2)
        with self.assertRaises(ValueError):
            windrow_decode.Sketch.parse(raw + b"\x00")

    def test_cbor_decoder_rejects_bad_input(self):
        for bad in (b"", b"\xd9\xd9\xf7", b"\xd9\xd9\xf7\xa1\x61", b"\xd9\xd9\xf7\x9f\x01",
                    b"\xd9\xd9\xf7\x01\x02", b"\x00"):
            with self.assertRaises(ValueError):
                windrow_decode.decode_message(bad)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1] + ["-v"])
