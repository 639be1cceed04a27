"""st.py -- a minimal safetensors reader and writer (F32, BF16, F16) for
torch tensors, without the safetensors package.

Layout: 8-byte little-endian header length N, N bytes of JSON
{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}},
then the raw little-endian tensor bytes (offsets relative to the end of the
header). The header is padded with spaces to a multiple of 8 bytes.
"""
import json
import struct

import torch

_DT = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}
_NAME = {v: k for k, v in _DT.items()}


def save(path, tensors, metadata=None):
    """tensors: {name: torch tensor (F32/BF16/F16)}; written in name order."""
    header, blobs, at = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        raw = t.view(torch.int16).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
        header[name] = {"dtype": _NAME[t.dtype], "shape": list(t.shape), "data_offsets": [at, at + len(raw)]}
        blobs.append(raw)
        at += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def load(path):
    """{name: torch tensor} in the stored dtype."""
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, d in header.items():
        if name == "__metadata__":
            continue
        if d["dtype"] not in _DT:
            raise ValueError("%s: dtype %s is not supported by st.py" % (name, d["dtype"]))
        b, e = d["data_offsets"]
        buf = bytearray(data[base + b:base + e])
        dt = _DT[d["dtype"]]
        if dt == torch.bfloat16:
            t = torch.frombuffer(buf, dtype=torch.int16).view(torch.bfloat16)
        else:
            t = torch.frombuffer(buf, dtype=dt)
        out[name] = t.reshape(d["shape"]) if d["shape"] else t.reshape(())
    return out
