"""formats.py -- read checkpoints into float64 numpy arrays for the reference.

Written from the format descriptions, independently of the library:
  * safetensors: 8-byte header length, JSON header, raw little-endian data;
    F32, BF16 (top half of an f32), F16, and F8_E4M3 (E4M3FN: bias 7, no
    infinities, S.1111.111 = NaN) whose weights are dequantized as
    w[i][j] = fp8(q[i][j]) * weight_scale_inv[i // 128][j // 128].
  * GGUF (v3): header, metadata, tensor infos, aligned data; ggml blocks
    F32, F16, BF16, Q8_0, Q4_0, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K dequantized
    as ggml defines them (d and dmin are f16; K-quant sub-block scales and
    mins packed in 6 bits). GGUF tensors are renamed and reshaped to the
    Hugging Face layout so one forward pass serves both kinds of file.
"""
import json
import os
import struct

import numpy as np


# ---- safetensors ---------------------------------------------------------

def _e4m3_table():
    t = np.zeros(256)
    for c in range(256):
        e, m = (c >> 3) & 15, c & 7
        if (c & 0x7F) == 0x7F:
            v = np.nan
        elif e == 0:
            v = m * 2.0 ** -9
        else:
            v = (8 + m) * 2.0 ** (e - 10)
        t[c] = -v if c & 0x80 else v
    return t


E4M3 = _e4m3_table()


def _st_array(raw, dtype, shape):
    if dtype == "F32":
        a = np.frombuffer(raw, "<f4").astype(np.float64)
    elif dtype == "F16":
        a = np.frombuffer(raw, "<f2").astype(np.float64)
    elif dtype == "BF16":
        a = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    elif dtype == "F8_E4M3":
        a = E4M3[np.frombuffer(raw, np.uint8)]
    else:
        raise ValueError("unsupported safetensors dtype " + dtype)
    return a.reshape(shape)


def read_safetensors_dir(d):
    """All tensors of an HF checkpoint directory, FP8 weights dequantized."""
    files = sorted(f for f in os.listdir(d) if f.endswith(".safetensors"))
    raw = {}
    for f in files:
        blob = open(os.path.join(d, f), "rb").read()
        n = struct.unpack("<Q", blob[:8])[0]
        hdr = json.loads(blob[8:8 + n])
        base = 8 + n
        for name, info in hdr.items():
            if name == "__metadata__":
                continue
            a, b = info["data_offsets"]
            raw[name] = _st_array(blob[base + a:base + b], info["dtype"], info["shape"])
    out = {}
    for name, a in raw.items():
        if name.endswith("_scale_inv"):
            continue
        s = raw.get(name + "_scale_inv")
        if s is not None:
            rows, cols = a.shape
            a = a * np.repeat(np.repeat(s, 128, 0), 128, 1)[:rows, :cols]
        out[name] = a
    return out


# ---- GGUF ------------------------------------------------------------------

def _f16(b):
    return np.frombuffer(b.tobytes(), "<f2").astype(np.float64)


def _blocks(raw, size):
    return np.frombuffer(raw, np.uint8).reshape(-1, size)


def _q8_0(raw):
    b = _blocks(raw, 34)
    d = _f16(b[:, 0:2])
    q = b[:, 2:].view(np.int8).astype(np.float64)
    return (d[:, None] * q).ravel()


def _q4_0(raw):
    b = _blocks(raw, 18)
    d = _f16(b[:, 0:2])
    qs = b[:, 2:].astype(np.int64)
    q = np.concatenate([qs & 15, qs >> 4], axis=1) - 8
    return (d[:, None] * q).ravel()


def _q5_bits(qh_bytes, qs):
    qh = qh_bytes.astype(np.int64) @ np.array([1, 1 << 8, 1 << 16, 1 << 24])
    j = np.arange(16)
    lo = (qs & 15) | (((qh[:, None] >> j) & 1) << 4)
    hi = (qs >> 4) | (((qh[:, None] >> (j + 16)) & 1) << 4)
    return np.concatenate([lo, hi], axis=1)


def _q5_0(raw):
    b = _blocks(raw, 22)
    d = _f16(b[:, 0:2])
    q = _q5_bits(b[:, 2:6], b[:, 6:].astype(np.int64)) - 16
    return (d[:, None] * q).ravel()


def _q5_1(raw):
    b = _blocks(raw, 24)
    d, m = _f16(b[:, 0:2]), _f16(b[:, 2:4])
    q = _q5_bits(b[:, 4:8], b[:, 8:].astype(np.int64))
    return (d[:, None] * q + m[:, None]).ravel()


def _k_scales(sc):
    """The 8 six-bit (scale, min) pairs of a Q4_K/Q5_K super-block."""
    sc = sc.astype(np.int64)
    s, m = np.zeros((sc.shape[0], 8), np.int64), np.zeros((sc.shape[0], 8), np.int64)
    for j in range(8):
        if j < 4:
            s[:, j], m[:, j] = sc[:, j] & 63, sc[:, j + 4] & 63
        else:
            s[:, j] = (sc[:, j + 4] & 15) | ((sc[:, j - 4] >> 6) << 4)
            m[:, j] = (sc[:, j + 4] >> 4) | ((sc[:, j] >> 6) << 4)
    return s, m


def _q4_k(raw):
    b = _blocks(raw, 144)
    d, dmin = _f16(b[:, 0:2]), _f16(b[:, 2:4])
    s, m = _k_scales(b[:, 4:16])
    qs = b[:, 16:].astype(np.int64).reshape(-1, 4, 32)
    q = np.stack([qs & 15, qs >> 4], axis=2).reshape(-1, 8, 32)  # sub-block 2c: low nibbles, 2c+1: high
    y = d[:, None, None] * s[:, :, None] * q - dmin[:, None, None] * m[:, :, None]
    return y.ravel()


def _q5_k(raw):
    b = _blocks(raw, 176)
    d, dmin = _f16(b[:, 0:2]), _f16(b[:, 2:4])
    s, m = _k_scales(b[:, 4:16])
    qh = b[:, 16:48].astype(np.int64)
    qs = b[:, 48:].astype(np.int64).reshape(-1, 4, 32)
    q = np.zeros((b.shape[0], 8, 32), np.int64)
    for c in range(4):
        q[:, 2 * c] = (qs[:, c] & 15) + (((qh >> (2 * c)) & 1) << 4)
        q[:, 2 * c + 1] = (qs[:, c] >> 4) + (((qh >> (2 * c + 1)) & 1) << 4)
    y = d[:, None, None] * s[:, :, None] * q - dmin[:, None, None] * m[:, :, None]
    return y.ravel()


def _q6_k(raw):
    b = _blocks(raw, 210)
    ql = b[:, 0:128].astype(np.int64)
    qh = b[:, 128:192].astype(np.int64)
    sc = b[:, 192:208].view(np.int8).astype(np.float64)
    d = _f16(b[:, 208:210])
    y = np.zeros((b.shape[0], 256))
    for n in range(2):  # two halves of 128 values
        L, H, S = ql[:, 64 * n:64 * n + 64], qh[:, 32 * n:32 * n + 32], sc[:, 8 * n:8 * n + 8]
        l = np.arange(32)
        q1 = ((L[:, l] & 15) | (((H[:, l] >> 0) & 3) << 4)) - 32
        q2 = ((L[:, l + 32] & 15) | (((H[:, l] >> 2) & 3) << 4)) - 32
        q3 = ((L[:, l] >> 4) | (((H[:, l] >> 4) & 3) << 4)) - 32
        q4 = ((L[:, l + 32] >> 4) | (((H[:, l] >> 6) & 3) << 4)) - 32
        isx = l // 16
        base = 128 * n
        y[:, base + l] = d[:, None] * S[:, isx] * q1
        y[:, base + 32 + l] = d[:, None] * S[:, isx + 2] * q2
        y[:, base + 64 + l] = d[:, None] * S[:, isx + 4] * q3
        y[:, base + 96 + l] = d[:, None] * S[:, isx + 6] * q4
    return y.ravel()


# ggml type id -> (name, values per block, bytes per block, dequantizer)
GGML = {
    0: ("F32", 1, 4, lambda r: np.frombuffer(r, "<f4").astype(np.float64)),
    1: ("F16", 1, 2, lambda r: np.frombuffer(r, "<f2").astype(np.float64)),
    30: ("BF16", 1, 2, lambda r: _st_array(r, "BF16", [-1])),
    8: ("Q8_0", 32, 34, _q8_0),
    2: ("Q4_0", 32, 18, _q4_0),
    6: ("Q5_0", 32, 22, _q5_0),
    7: ("Q5_1", 32, 24, _q5_1),
    12: ("Q4_K", 256, 144, _q4_k),
    13: ("Q5_K", 256, 176, _q5_k),
    14: ("Q6_K", 256, 210, _q6_k),
}
DEQUANT_BY_NAME = {v[0]: v for v in GGML.values()}


def read_gguf(path):
    """(metadata dict, {name: (ggml type name, float64 array in numpy order)})."""
    blob = open(path, "rb").read()
    pos = [0]

    def take(fmt):
        v = struct.unpack_from("<" + fmt, blob, pos[0])
        pos[0] += struct.calcsize("<" + fmt)
        return v[0]

    def string():
        n = take("Q")
        s = blob[pos[0]:pos[0] + n].decode("utf-8")
        pos[0] += n
        return s

    scalar = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}

    def value(t):
        if t in scalar:
            return take(scalar[t])
        if t == 8:
            return string()
        if t == 9:
            et, n = take("I"), take("Q")
            return [value(et) for _ in range(n)]
        raise ValueError("bad GGUF value type %d" % t)

    if blob[:4] != b"GGUF":
        raise ValueError(path + ": not a GGUF file")
    pos[0] = 4
    take("I")
    n_t, n_kv = take("Q"), take("Q")
    meta = {}
    for _ in range(n_kv):
        k = string()
        meta[k] = value(take("I"))
    infos = []
    for _ in range(n_t):
        name = string()
        nd = take("I")
        ne = [take("Q") for _ in range(nd)]
        infos.append((name, ne, take("I"), take("Q")))
    align = meta.get("general.alignment", 32)
    base = (pos[0] + align - 1) // align * align
    tensors = {}
    for name, ne, t, off in infos:
        tname, per, size, deq = GGML[t]
        n = int(np.prod(ne))
        raw = blob[base + off:base + off + n // per * size]
        tensors[name] = (tname, deq(raw).reshape(list(reversed(ne))))
    return meta, tensors


def gguf_to_hf(tensors, cfg):
    """Rename GGUF tensors (llama.cpp deepseek2 names) to the HF names the
    reference uses; stacked experts are split, attn_k_b/attn_v_b are put
    back together into kv_b_proj."""
    nh, dn, dv = cfg["num_attention_heads"], cfg["qk_nope_head_dim"], cfg["v_head_dim"]
    L = cfg["num_hidden_layers"]
    simple = {
        "attn_norm.weight": "input_layernorm.weight",
        "attn_q_a.weight": "self_attn.q_a_proj.weight",
        "attn_q_a_norm.weight": "self_attn.q_a_layernorm.weight",
        "attn_q_b.weight": "self_attn.q_b_proj.weight",
        "attn_q.weight": "self_attn.q_proj.weight",
        "attn_kv_a_mqa.weight": "self_attn.kv_a_proj_with_mqa.weight",
        "attn_kv_a_norm.weight": "self_attn.kv_a_layernorm.weight",
        "attn_kv_b.weight": "self_attn.kv_b_proj.weight",
        "attn_output.weight": "self_attn.o_proj.weight",
        "ffn_norm.weight": "post_attention_layernorm.weight",
        "ffn_gate.weight": "mlp.gate_proj.weight",
        "ffn_up.weight": "mlp.up_proj.weight",
        "ffn_down.weight": "mlp.down_proj.weight",
        "ffn_gate_inp.weight": "mlp.gate.weight",
        "exp_probs_b.bias": "mlp.gate.e_score_correction_bias",
        "ffn_gate_shexp.weight": "mlp.shared_experts.gate_proj.weight",
        "ffn_up_shexp.weight": "mlp.shared_experts.up_proj.weight",
        "ffn_down_shexp.weight": "mlp.shared_experts.down_proj.weight",
        "nextn.eh_proj.weight": "eh_proj.weight",
        "nextn.enorm.weight": "enorm.weight",
        "nextn.hnorm.weight": "hnorm.weight",
        "nextn.embed_tokens.weight": "embed_tokens.weight",
        "nextn.shared_head_head.weight": "shared_head.head.weight",
        "nextn.shared_head_norm.weight": "shared_head.norm.weight",
    }
    w, types = {}, {}
    kb = {}
    for name, (tname, a) in tensors.items():
        types[name] = tname
        if name == "token_embd.weight":
            w["model.embed_tokens.weight"] = a
        elif name == "output.weight":
            w["lm_head.weight"] = a
        elif name == "output_norm.weight":
            w["model.norm.weight"] = a
        elif name.startswith("blk."):
            _, i, rest = name.split(".", 2)
            p = "model.layers.%s." % i
            if rest in simple:
                w[p + simple[rest]] = a
            elif rest in ("ffn_gate_exps.weight", "ffn_up_exps.weight", "ffn_down_exps.weight"):
                proj = {"ffn_gate_exps.weight": "gate_proj", "ffn_up_exps.weight": "up_proj",
                        "ffn_down_exps.weight": "down_proj"}[rest]
                for e in range(a.shape[0]):
                    w[p + "mlp.experts.%d.%s.weight" % (e, proj)] = a[e]
            elif rest in ("attn_k_b.weight", "attn_v_b.weight"):
                kb.setdefault(p, {})[rest] = a
            else:
                raise ValueError("reference does not know GGUF tensor " + name)
        else:
            raise ValueError("reference does not know GGUF tensor " + name)
    for p, d in kb.items():
        k = d["attn_k_b.weight"]  # numpy [nh, kvl, dn]
        v = d["attn_v_b.weight"]  # numpy [nh, dv, kvl]
        kvl = k.shape[1]
        kvb = np.zeros((nh, dn + dv, kvl))
        kvb[:, :dn, :] = k.transpose(0, 2, 1)
        kvb[:, dn:, :] = v
        w[p + "self_attn.kv_b_proj.weight"] = kvb.reshape(nh * (dn + dv), kvl)
    # The MTP block shares the main embedding and head when the file has no copies.
    if cfg.get("num_nextn_predict_layers", 0) and "model.layers.%d.eh_proj.weight" % L in w:
        w.setdefault("model.layers.%d.embed_tokens.weight" % L, w["model.embed_tokens.weight"])
        w.setdefault("model.layers.%d.shared_head.head.weight" % L, w["lm_head.weight"])
    if "lm_head.weight" not in w:
        w["lm_head.weight"] = w["model.embed_tokens.weight"]
    return w, types
