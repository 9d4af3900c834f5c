"""mts.py - read and write mmib tensor streams from Python (numpy only).

    import mts
    for rec in mts.records("train.mts"):          # plain or zstd (*)
        print(rec.kind, rec.name, rec.batch, rec.array.shape if rec.array is not None else "")
    z = mts.field("emb.mts", "z_img")             # one field, all batches concatenated
    meta = mts.meta("emb.mts")                    # dict of the first segment's metadata
    mts.write("out.mts", {"x": np.zeros((4, 3), np.float32)}, meta={"k": "v"})

(*) zstd input needs the `zstandard` module; `zstd -dc f.mts.zst | python3 ...`
works without it.  The format is described in formats/stream.md.
"""
import io
import struct
import sys
import zlib

import numpy as np

MAGIC = b"\x89MTR"
HEADER = struct.Struct("<4sBcHQIIIHH")   # 32 bytes


class StreamError(Exception):
    pass


class Record:
    def __init__(self, kind, name, batch, field, body):
        self.kind, self.name, self.batch, self.field, self.body = kind, name, batch, field, body
        self.array = np.load(io.BytesIO(body)) if kind == "T" else None
        self.text = body.decode("utf-8") if kind == "S" else None


def _pad(n):
    return (n + 63) & ~63


def _exact(f, n, what):
    b = f.read(n)                 # never np.load from a pipe: read exactly n bytes
    if len(b) != n:
        raise StreamError("truncated stream: input ended inside %s" % what)
    return b


def _open(src):
    if hasattr(src, "read"):
        return src
    f = open(src, "rb")
    if f.peek(4)[:4] == b"\x28\xb5\x2f\xfd":
        import zstandard          # optional dependency, only for -z streams
        return zstandard.ZstdDecompressor().stream_reader(f, read_across_frames=True)
    return f


def records(src):
    """Yield every record of a stream (path or binary file object), checking CRCs."""
    f = _open(src)
    in_segment, count = False, 0
    while True:
        h = f.read(32)
        if not h:
            if in_segment or count == 0:
                raise StreamError("truncated stream: no end record")
            return
        if len(h) < 32:
            raise StreamError("truncated stream: input ended inside a header")
        magic, ver, kind, nlen, blen, bcrc, hcrc, batch, field, _ = HEADER.unpack(h)
        if magic != MAGIC:
            raise StreamError("bad magic %r (expected %r)" % (magic, MAGIC))
        if ver != 1:
            raise StreamError("unsupported version %d" % ver)
        name = _exact(f, nlen, "a name")
        if zlib.crc32(h[:20] + h[24:] + name) != hcrc:
            raise StreamError("header CRC mismatch")
        _exact(f, _pad(32 + nlen) - 32 - nlen, "padding")
        body = _exact(f, blen, "a body")
        _exact(f, _pad(blen) - blen, "padding")
        if zlib.crc32(body) != bcrc:
            raise StreamError("body CRC mismatch in %r" % name)
        kind = kind.decode("latin-1")
        if kind not in "STE" and not kind.islower():
            raise StreamError("unknown critical record kind %r" % kind)
        count += 1
        in_segment = kind != "E"
        yield Record(kind, name.decode("utf-8"), batch, field, body)


def meta(src):
    """The metadata (key=value) of the first segment as a dict."""
    out = {}
    for r in records(src):
        if r.kind == "S":
            out.update(l.split("=", 1) for l in r.text.splitlines() if "=" in l)
        elif r.kind == "E":
            break
    return out


def field(src, name):
    """Concatenate tensor `name` over all batches."""
    parts = [r.array for r in records(src) if r.kind == "T" and r.name == name]
    if not parts:
        raise StreamError("no tensor named %r" % name)
    return np.concatenate(parts) if len(parts) > 1 else parts[0]


def _npy(a):
    b = io.BytesIO()
    np.save(b, np.ascontiguousarray(a))
    return b.getvalue()


def _record(kind, name, body, batch=0, field=0):
    name = name.encode("utf-8")
    h = struct.pack("<4sBcHQI", MAGIC, 1, kind.encode(), len(name), len(body), zlib.crc32(body))
    tail = struct.pack("<IHH", batch, field, 0)
    hcrc = zlib.crc32(h + tail + name)
    out = h + struct.pack("<I", hcrc) + tail + name
    out += b"\0" * (_pad(len(out)) - len(out))
    return out + body + b"\0" * (_pad(len(body)) - len(body))


def write(dst, batches, meta=None):
    """Write one segment.  batches: a dict name -> array (one batch) or a list
    of such dicts (one per batch).  Arrays: uint8, int32 or float32."""
    if isinstance(batches, dict):
        batches = [batches]
    out, nrec, nbytes = [], 0, 0
    if meta is not None:
        body = "".join("%s=%s\n" % kv for kv in meta.items()).encode("utf-8")
        out.append(_record("S", "meta", body))
        nrec, nbytes = nrec + 1, nbytes + len(body)
    for b, fields in enumerate(batches):
        for i, (name, a) in enumerate(fields.items()):
            body = _npy(a)
            out.append(_record("T", name, body, b, i))
            nrec, nbytes = nrec + 1, nbytes + len(body)
    out.append(_record("E", "", struct.pack("<QQ", nrec, nbytes)))
    data = b"".join(out)
    if hasattr(dst, "write"):
        dst.write(data)
    else:
        with open(dst, "wb") as f:
            f.write(data)


if __name__ == "__main__":
    for r in records(sys.argv[1] if len(sys.argv) > 1 else sys.stdin.buffer):
        shape = "" if r.array is None else "%s %s" % (r.array.dtype, r.array.shape)
        print(r.kind, r.name or "-", r.batch, r.field, shape)
