#!/usr/bin/env python3
"""Reference decoder for Windrow's upstream messages (docs/upstream-schema.md).

Standard library only. Decodes one message payload, whatever its encoding,
into the same Python structure json.loads gives for the JSON form:

  first byte '{'          JSON
  d9 d9 f7                CBOR (RFC 8949, self-described tag 55799)
  28 b5 2f fd             a zstd frame holding one of the two above

zstd frames are decompressed with the Python module `zstandard` when it is
installed (Debian: python3-zstandard), else with the `zstd` command-line
tool (Debian: zstd).

Also decodes the sketch binary form ("sketch" member: bytes in CBOR, base64
text in JSON), computes quantiles from it, merges sketches and writes the
binary form back, as the page describes, so a consumer can check its own
implementation against it:

  a = Sketch.from_field(result_a["sketch"])
  b = Sketch.from_field(result_b["sketch"])
  a.merge(b).quantile(0.99)      # the 0.99-quantile of both windows' values

Usage: windrow_decode.py [FILE...]   (stdin without arguments) prints JSON.
"""
import base64
import json
import math
import shutil
import struct
import subprocess
import sys

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
CBOR_MAGIC = b"\xd9\xd9\xf7"


class DecodeError(ValueError):
    pass


# ---- zstd ------------------------------------------------------------------------------------

def zstd_decompress(frame):
    try:
        import zstandard  # noqa: F401  (optional)
        return zstandard.ZstdDecompressor().decompress(frame)
    except ImportError:
        pass
    tool = shutil.which("zstd")
    if tool is None:
        raise DecodeError("zstd frame, but neither python3-zstandard nor the zstd tool is installed")
    proc = subprocess.run([tool, "-d", "-c", "-q"], input=frame, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, check=False)
    if proc.returncode != 0:
        raise DecodeError("zstd: " + proc.stderr.decode(errors="replace").strip())
    return proc.stdout


# ---- CBOR ------------------------------------------------------------------------------------

_BREAK = object()


class _Cbor:
    """A small, strict CBOR decoder: every item type, definite and indefinite lengths."""

    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, n):
        if n > len(self.data) - self.pos:
            raise DecodeError("truncated CBOR at byte %d" % self.pos)
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def argument(self, info):
        if info < 24:
            return info
        if info in (24, 25, 26, 27):
            return int.from_bytes(self.take(1 << (info - 24)), "big")
        if info == 31:
            return None  # indefinite length
        raise DecodeError("reserved additional information %d at byte %d" % (info, self.pos - 1))

    def item(self, allow_break=False):
        start = self.pos
        initial = self.take(1)[0]
        major, info = initial >> 5, initial & 0x1F
        if major == 7:
            return self.simple(info, allow_break, start)
        arg = self.argument(info)
        if major == 0:
            return self.need(arg, start)
        if major == 1:
            return -1 - self.need(arg, start)
        if major in (2, 3):
            if arg is None:
                chunks = []
                while True:
                    chunk = self.item(allow_break=True)
                    if chunk is _BREAK:
                        break
                    if not isinstance(chunk, bytes if major == 2 else str):
                        raise DecodeError("bad chunk in indefinite string at byte %d" % start)
                    chunks.append(chunk)
                return (b"" if major == 2 else "").join(chunks)
            raw = self.take(arg)
            if major == 2:
                return raw
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError:
                raise DecodeError("text string is not UTF-8 at byte %d" % start)
        if major == 4:
            out = []
            while arg is None or len(out) < arg:
                v = self.item(allow_break=arg is None)
                if v is _BREAK:
                    break
                out.append(v)
            return out
        if major == 5:
            out = {}
            n = 0
            while arg is None or n < arg:
                k = self.item(allow_break=arg is None)
                if k is _BREAK:
                    break
                if isinstance(k, (list, dict)):
                    raise DecodeError("unhashable map key at byte %d" % start)
                if k in out:
                    raise DecodeError("duplicate map key %r" % (k,))
                out[k] = self.item()
                n += 1
            return out
        # major 6: a tag. 55799 only marks the data as CBOR; others are passed through.
        value = self.item()
        return value if arg == 55799 else {"_tag": arg, "value": value}

    @staticmethod
    def need(arg, start):
        if arg is None:
            raise DecodeError("indefinite length on an integer at byte %d" % start)
        return arg

    def simple(self, info, allow_break, start):
        if info == 20:
            return False
        if info == 21:
            return True
        if info in (22, 23):
            return None  # null, undefined
        if info == 25:
            return struct.unpack(">e", self.take(2))[0]
        if info == 26:
            return struct.unpack(">f", self.take(4))[0]
        if info == 27:
            return struct.unpack(">d", self.take(8))[0]
        if info == 31 and allow_break:
            return _BREAK
        if info < 24:
            return {"_simple": info}
        if info == 24:
            return {"_simple": self.take(1)[0]}
        raise DecodeError("bad simple value %d at byte %d" % (info, start))


def cbor_loads(data):
    dec = _Cbor(bytes(data))
    value = dec.item()
    if dec.pos != len(dec.data):
        raise DecodeError("%d bytes after the CBOR item" % (len(dec.data) - dec.pos))
    return value


# ---- messages --------------------------------------------------------------------------------

def decode_message(payload):
    """One upstream payload (bytes) -> dict, as json.loads would give for the JSON form."""
    payload = bytes(payload)
    if payload.startswith(ZSTD_MAGIC):
        payload = zstd_decompress(payload)
        if payload.startswith(ZSTD_MAGIC):
            raise DecodeError("nested zstd frames")
    if payload.startswith(CBOR_MAGIC):
        return cbor_loads(payload)
    if payload[:1] == b"{":
        return json.loads(payload)
    raise DecodeError("unknown encoding (first byte %r)" % payload[:1])


def results(message):
    """Every result of a decoded message, flattened, with stream, size_s and agent added."""
    out = []
    for group in message.get("groups", []):
        for r in group["results"]:
            r = dict(r)
            r["stream"] = group["stream"]
            r["size_s"] = group["size_s"]
            r["_agent"] = message.get("agent")
            out.append(r)
    return out


# ---- sketches --------------------------------------------------------------------------------

class Sketch:
    """The sketch binary form, version 1: quantiles and merging (docs/upstream-schema.md)."""

    def __init__(self, accuracy, max_buckets, zero=0, pos=None, neg=None):
        self.accuracy = accuracy
        self.max_buckets = max_buckets
        self.zero = zero
        self.pos = dict(pos or {})  # bucket index -> count
        self.neg = dict(neg or {})

    @property
    def gamma(self):
        return (1 + self.accuracy) / (1 - self.accuracy)

    @property
    def count(self):
        return self.zero + sum(self.pos.values()) + sum(self.neg.values())

    @classmethod
    def from_field(cls, value):
        """The "sketch" member: bytes (CBOR) or base64 text (JSON)."""
        return cls.parse(value if isinstance(value, bytes) else base64.b64decode(value, validate=True))

    @classmethod
    def parse(cls, data):
        pos = [0]

        def byte():
            if pos[0] >= len(data):
                raise DecodeError("truncated sketch")
            pos[0] += 1
            return data[pos[0] - 1]

        def varint():
            v, shift = 0, 0
            while True:
                b = byte()
                v |= (b & 0x7F) << shift
                if not b & 0x80:
                    return v
                shift += 7
                if shift > 63:
                    raise DecodeError("varint too long")

        def store():
            n = varint()
            if n == 0:
                return {}
            if n > max_buckets:
                raise DecodeError("store wider than max_buckets")
            zz = varint()
            lo = (zz >> 1) ^ -(zz & 1)
            return {lo + k: c for k, c in ((k, varint()) for k in range(n)) if c}

        if byte() != 1:
            raise DecodeError("unknown sketch version")
        accuracy = struct.unpack("<d", bytes(byte() for _ in range(8)))[0]
        max_buckets = varint()
        zero = varint()
        p = store()
        n = store()
        if pos[0] != len(data):
            raise DecodeError("bytes after the sketch")
        return cls(accuracy, max_buckets, zero, p, n)

    MIN_INDEXABLE = 1e-9

    def add(self, value):
        """Fold one value in, as the agent does (for tests and for consumers that mix in data)."""
        m = abs(value)
        if m < self.MIN_INDEXABLE:
            self.zero += 1
            return self
        store = self.pos if value > 0 else self.neg
        # The agent's arithmetic: ln m times 1 / ln gamma, ln gamma as log1p(2a / (1 - a)).
        inv_ln_gamma = 1.0 / math.log1p(2 * self.accuracy / (1 - self.accuracy))
        i = int(math.ceil(math.log(m) * inv_ln_gamma))
        store[i] = store.get(i, 0) + 1
        self._collapse(store)
        return self

    def _collapse(self, store):
        """Keep at most max_buckets indices: fold the smallest magnitudes into the lowest kept."""
        if store:
            floor_index = max(store) - self.max_buckets + 1
            low = [i for i in store if i < floor_index]
            if low:
                store[floor_index] = store.get(floor_index, 0) + sum(store.pop(i) for i in low)

    def to_bytes(self):
        """The binary form (version 1), byte for byte what the agent writes for this sketch."""
        def varint(v):
            out = bytearray()
            while v >= 0x80:
                out.append((v & 0x7F) | 0x80)
                v >>= 7
            out.append(v)
            return bytes(out)

        def store(d):
            d = {i: c for i, c in d.items() if c}
            if not d:
                return varint(0)
            lo, hi = min(d), max(d)
            zz = (lo << 1) if lo >= 0 else ((-lo) << 1) - 1
            return (varint(hi - lo + 1) + varint(zz) +
                    b"".join(varint(d.get(i, 0)) for i in range(lo, hi + 1)))

        return (b"\x01" + struct.pack("<d", self.accuracy) + varint(self.max_buckets) +
                varint(self.zero) + store(self.pos) + store(self.neg))

    def quantile(self, q):
        """The estimate for the value of rank floor(q * (count - 1))."""
        total = self.count
        if total == 0:
            raise ValueError("empty sketch")
        rank = min(int(math.floor(q * (total - 1))), total - 1)
        g = self.gamma
        value = lambda i: 2 * g ** i / (g + 1)
        seen = 0
        for i in sorted(self.neg, reverse=True):
            seen += self.neg[i]
            if seen > rank:
                return -value(i)
        seen += self.zero
        if seen > rank:
            return 0.0
        for i in sorted(self.pos):
            seen += self.pos[i]
            if seen > rank:
                return value(i)
        raise DecodeError("counts do not add up")

    def merge(self, other):
        if (other.accuracy, other.max_buckets) != (self.accuracy, self.max_buckets):
            raise ValueError("sketches with different parameters do not merge")
        self.zero += other.zero
        for mine, theirs in ((self.pos, other.pos), (self.neg, other.neg)):
            for i, c in theirs.items():
                mine[i] = mine.get(i, 0) + c
            self._collapse(mine)
        return self


def _jsonable(v):
    if isinstance(v, bytes):
        return base64.b64encode(v).decode()
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    return v


def main(argv):
    sources = argv[1:] or ["-"]
    for name in sources:
        data = sys.stdin.buffer.read() if name == "-" else open(name, "rb").read()
        print(json.dumps(_jsonable(decode_message(data)), sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
