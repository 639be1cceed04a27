#!/usr/bin/env python3
"""test_convert.py -- `dsv3 convert` (Hugging Face checkpoint -> GGUF).

usage: test_convert.py DSV3_BIN SHARED TMPDIR
       (optional: DSV3_LLAMACPP_LIB=DIR also runs llama.cpp itself on the files)

For every golden checkpoint (tiny-v3/f32, tiny-v3/bf16, tiny-v3/fp8 with
--keep-mtp, tiny-v2lite/bf16):

  * F32 GGUF. An independent GGUF parser (below, numpy only) checks the file
    against ../shared/docs/gguf-deepseek2.md: header, alignment, offsets and
    sizes; every metadata key with its type and its value from config.json
    (and, for tiny-v3, the same deepseek2.* key set and types as the
    llama.cpp-made golden-gguf/tiny-q.mtp.q8_0.gguf); the exact tensor set
    the config implies with its ggml shapes and types. Every tensor's data
    must equal the dequantized safetensors values bit for bit (attn_k_b =
    per head the transposed key rows of kv_b_proj, attn_v_b = the value
    rows, experts stacked), computed here with numpy from the safetensors.
    Then `dsv3 logits --all` (and `dsv3 mtp-logits` for tiny-v3) on the GGUF
    against the safetensors original, for every golden token sequence:
      - scalar backend, F32/BF16 originals: max |diff| <= 1e-5 (F32_TOL).
        The scalar kernels add the same products in the same order for both
        files (k_b row dots and kv_b axpys included), so this is 0.
      - FP8 original (any backend) and the default SIMD backend: <= 1e-4
        (F32_TOL_REORDER). FP8: dsv3 computes an FP8 row as
        sum over 128-column blocks of scale * sum(q * x), the F32 GGUF holds
        fl(q * scale) and sums fl(q * scale) * x: a different rounding of every
        product, measured 3.2e-5 on logits of magnitude 13.4 (2.4e-6
        relative; the golden f32 reference itself drifts 2e-5 from float64).
        SIMD (avx2): attn_k_b is used as row dot products with 8-lane partial
        sums while kv_b_proj is used as axpys, so q_lat is summed in another
        order; measured 1.5e-5 (a BF16 GGUF and the F32 GGUF give identical
        logits there, so the stored type plays no part).

  * Q8_0 GGUF. The golden dims are odd on purpose (hidden 203, kv_lora 133,
    ...): no row length is a multiple of Q8_0's 32, so every quantizable
    tensor must fall back to F16 (checked tensor by tensor), and the data
    must be the f32 values rounded to nearest even. Logits against the
    golden expected logits: F16 keeps 11 significant bits (relative weight
    error <= 2^-12); measured <= 0.016 on logits of magnitude <= 14. Bound:
    Q8_TINY_TOL = 0.05, 3x that, and still far below what a layout error or
    a wrong type costs (O(1)). Not bounded: the golden manifest's
    fragile_positions_bf16 (routing margins below what a bf16-sized
    perturbation resolves; tiny-v3/f32 seq100 flips at position 21, margin
    3e-4, |diff| 2.9 -- the F16 rounding of an F32 checkpoint is such a
    perturbation) and, for MTP rows, every row from such a flip on (the MTP
    input at that row changes and MTP attention carries it forward). argmax
    must agree wherever the golden top1-top2 gap exceeds the bound.

Then synthetic checkpoints (`dsv3 synth`):
  * --shape v2-lite --layers 3 --experts 16 --dtype fp8 (hidden 2048, 1.26 GB)
    to Q8_0, where Q8_0 really applies: throughput (MB/s of input) and peak
    RSS (/usr/bin/time -v; must stay < 160 MiB: bounded memory), tensor
    types, Q8_0 blocks against the source values (scale = amax/127, |error|
    <= 0.6 step), logits against the FP8 original (relative RMS error <= 0.1,
    measured 0.018; random weights make this model chaotic, so this is a
    sanity bound; argmax where decisive).
  * --shape tiny --dtype fp8 to Q4_0, Q4_K, Q5_K, Q6_K, BF16, F16: the
    fallback rule (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0, else F16) on
    every tensor, every quantized tensor dequantized here (numpy decoders of
    the ggml block layouts) against its source (relative RMS error within
    WEIGHT_REL_RMS, 1.5x the measured values), and logits that are finite and
    correlated with the original's. The same checkpoint written in shards
    must convert to byte-identical tensors.
  * Refusals: unknown --type, --keep-mtp without MTP, a missing checkpoint,
    an unknown tensor, a missing expert, a wrong shape, an integer dtype, an
    unwritable output: each exits non-zero naming the problem and leaves no
    output file (the converter writes OUT.part and renames it at the end).
Throughput and peak RSS are also printed for the largest golden checkpoint.
"""
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time

import numpy as np

if len(sys.argv) == 4:
    BIN, SHARED, TMP = sys.argv[1], os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])
elif len(sys.argv) == 7 and sys.argv[1] == "--llama-cpp":  # internal: one llama.cpp run
    BIN = SHARED = TMP = ""
else:
    sys.exit("usage: test_convert.py DSV3_BIN SHARED TMPDIR")
GOLDEN = os.path.join(SHARED, "golden")
F32_TOL = 1e-5        # scalar backend, F32/BF16 originals (measured: 0, bit-identical)
F32_TOL_REORDER = 1e-4  # FP8 originals (scale factored out of the sums) and SIMD backends (k_b dot order)
Q8_TINY_TOL = 0.05

failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL:", msg)
    return cond


# ---- an independent GGUF reader ----------------------------------------------------

GGML = {  # id: (name, block elements, block bytes)
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20), 6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 30: ("BF16", 1, 2),
}
VT = {0: "u8", 1: "i8", 2: "u16", 3: "i16", 4: "u32", 5: "i32", 6: "f32", 7: "bool", 8: "str", 9: "arr",
      10: "u64", 11: "i64", 12: "f64"}
SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


# ggml block layouts (from the format's description; blocks: uint8 [n, block bytes])

def _f16(blk, at):
    return blk[:, at:at + 2].copy().view("<f2").astype(np.float32)


def _deq_q8_0(blk):
    return blk[:, 2:].view(np.int8).astype(np.float32) * _f16(blk, 0)


def _deq_q4_0(blk):
    qs = blk[:, 2:18]
    q = np.concatenate([qs & 15, qs >> 4], axis=1).astype(np.float32) - 8
    return q * _f16(blk, 0)


def _q5_bits(blk, at):
    qh = blk[:, at:at + 4].copy().view("<u4").astype(np.uint32)
    bits = (qh >> np.arange(32, dtype=np.uint32)) & 1
    qs = blk[:, at + 4:at + 20]
    return (np.concatenate([qs & 15, qs >> 4], axis=1) | (bits << 4)).astype(np.float32)


def _deq_q5_0(blk):
    return (_q5_bits(blk, 2) - 16) * _f16(blk, 0)


def _deq_q5_1(blk):
    return _q5_bits(blk, 4) * _f16(blk, 0) + _f16(blk, 2)


def _k_scales(sc):
    """Q4_K/Q5_K: 8 six-bit scales and mins from 12 bytes."""
    sc = sc.astype(np.uint32)
    s = np.zeros((sc.shape[0], 8), np.uint32)
    m = np.zeros((sc.shape[0], 8), np.uint32)
    s[:, :4], m[:, :4] = sc[:, 0:4] & 63, sc[:, 4:8] & 63
    s[:, 4:] = (sc[:, 8:12] & 15) | ((sc[:, 0:4] >> 6) << 4)
    m[:, 4:] = (sc[:, 8:12] >> 4) | ((sc[:, 4:8] >> 6) << 4)
    return s.astype(np.float32), m.astype(np.float32)


def _deq_qk(blk, five):
    d, dmin = _f16(blk, 0), _f16(blk, 2)
    s, m = _k_scales(blk[:, 4:16])
    qh = blk[:, 16:48] if five else None
    qs = blk[:, 48:176] if five else blk[:, 16:144]
    out = np.zeros((blk.shape[0], 256), np.float32)
    for c in range(4):
        q = qs[:, 32 * c:32 * c + 32]
        lo, hi = (q & 15).astype(np.float32), (q >> 4).astype(np.float32)
        if five:
            lo += ((qh >> (2 * c)) & 1) * 16
            hi += ((qh >> (2 * c + 1)) & 1) * 16
        out[:, 64 * c:64 * c + 32] = d * s[:, 2 * c:2 * c + 1] * lo - dmin * m[:, 2 * c:2 * c + 1]
        out[:, 64 * c + 32:64 * c + 64] = d * s[:, 2 * c + 1:2 * c + 2] * hi - dmin * m[:, 2 * c + 1:2 * c + 2]
    return out


def _deq_q6_k(blk):
    ql, qh, sc, d = blk[:, 0:128], blk[:, 128:192], blk[:, 192:208].view(np.int8).astype(np.float32), _f16(blk, 208)
    out = np.zeros((blk.shape[0], 256), np.float32)
    for n in range(2):
        l0, h0, s0, o = ql[:, 64 * n:64 * n + 64], qh[:, 32 * n:32 * n + 32], sc[:, 8 * n:8 * n + 8], 128 * n
        parts = [(l0[:, :32] & 15) | (((h0 >> 0) & 3) << 4), (l0[:, 32:] & 15) | (((h0 >> 2) & 3) << 4),
                 (l0[:, :32] >> 4) | (((h0 >> 4) & 3) << 4), (l0[:, 32:] >> 4) | (((h0 >> 6) & 3) << 4)]
        for k, q in enumerate(parts):
            scale = np.repeat(s0[:, 2 * k:2 * k + 2], 16, axis=1)
            out[:, o + 32 * k:o + 32 * k + 32] = d * scale * (q.astype(np.float32) - 32)
    return out


DEQUANT = {8: _deq_q8_0, 2: _deq_q4_0, 6: _deq_q5_0, 7: _deq_q5_1, 12: lambda b: _deq_qk(b, False),
           13: lambda b: _deq_qk(b, True), 14: _deq_q6_k}


class Gguf:
    def __init__(self, path):
        self.path = path
        d = self.d = open(path, "rb").read()
        self.o = 0
        assert d[:4] == b"GGUF", "magic"
        self.o = 4
        self.version = self.rd("<I")
        nt, nkv = self.rd("<Q"), self.rd("<Q")
        self.kv, self.kt = {}, {}
        for _ in range(nkv):
            k = self.rs()
            t = self.rd("<I")
            if k in self.kv:
                raise ValueError("duplicate key " + k)
            self.kt[k] = VT[t] if t != 9 else None
            self.kv[k] = self.rv(t, k)
        self.tensors = {}
        self.order = []
        for _ in range(nt):
            name = self.rs()
            nd = self.rd("<I")
            ne = [self.rd("<Q") for _ in range(nd)]
            ty = self.rd("<I")
            off = self.rd("<Q")
            self.tensors[name] = (ne, ty, off)
            self.order.append(name)
        self.align = self.kv.get("general.alignment", 32)
        self.data0 = (self.o + self.align - 1) // self.align * self.align

    def rd(self, fmt):
        v = struct.unpack_from(fmt, self.d, self.o)[0]
        self.o += struct.calcsize(fmt)
        return v

    def rs(self):
        n = self.rd("<Q")
        s = self.d[self.o:self.o + n]
        self.o += n
        return s.decode("utf-8")

    def rv(self, t, key):
        if t == 8:
            return self.rs()
        if t == 9:
            et, n = self.rd("<I"), self.rd("<Q")
            self.kt[key] = "arr[%s]" % VT[et]
            if et in SCALAR:
                fmt = SCALAR[et]
                sz = struct.calcsize(fmt)
                v = list(struct.unpack_from("<%d%s" % (n, fmt[1]), self.d, self.o))
                self.o += sz * n
                return v
            return [self.rv(et, key) for _ in range(n)]
        return self.rd(SCALAR[t])

    def nbytes(self, name):
        ne, ty, _ = self.tensors[name]
        _, be, bb = GGML[ty]
        n = 1
        for x in ne:
            n *= x
        assert ne[0] % be == 0
        return n // be * bb

    def raw(self, name):
        ne, ty, off = self.tensors[name]
        a = self.data0 + off
        return self.d[a:a + self.nbytes(name)]

    def f32(self, name):
        """Values of an F32/F16/BF16/Q8_0 tensor, numpy shape = reversed ne."""
        ne, ty, _ = self.tensors[name]
        b = self.raw(name)
        shape = tuple(reversed(ne))
        if ty == 0:
            return np.frombuffer(b, "<f4").reshape(shape)
        if ty == 1:
            return np.frombuffer(b, "<f2").astype(np.float32).reshape(shape)
        if ty == 30:
            return (np.frombuffer(b, "<u2").astype(np.uint32) << 16).view(np.float32).reshape(shape)
        if ty in DEQUANT:
            _, be, bb = GGML[ty]
            return DEQUANT[ty](np.frombuffer(b, np.uint8).reshape(-1, bb)).reshape(shape)
        raise ValueError("no numpy decoder for type %d" % ty)

    def validate(self):
        """Offsets aligned, inside the file, in order, not overlapping."""
        end = 0
        ok = True
        for name in self.order:
            ne, ty, off = self.tensors[name]
            ok &= check(ty in GGML, "%s: %s has unknown type %d" % (self.path, name, ty))
            ok &= check(off % self.align == 0, "%s: %s offset %d not aligned" % (self.path, name, off))
            ok &= check(off >= end, "%s: %s overlaps the previous tensor" % (self.path, name))
            end = off + self.nbytes(name)
            ok &= check(self.data0 + end <= len(self.d), "%s: %s runs past the end" % (self.path, name))
            ok &= check(len(name) < 64, "%s: tensor name %s too long for llama.cpp" % (self.path, name))
        return ok


# ---- safetensors with numpy ------------------------------------------------------------

FP8_LUT = np.zeros(256, np.float32)
for _c in range(256):
    _s, _e, _m = _c >> 7, (_c >> 3) & 15, _c & 7
    _v = (_m / 8.0) * 2.0 ** -6 if _e == 0 else ((1 + _m / 8.0) * 2.0 ** (_e - 7) if not (_e == 15 and _m == 7) else np.nan)
    FP8_LUT[_c] = -_v if _s else _v


class Safetensors:
    def __init__(self, d):
        self.path = os.path.join(d, "model.safetensors")
        raw = open(self.path, "rb").read(8)
        n = struct.unpack("<Q", raw)[0]
        with open(self.path, "rb") as f:
            f.seek(8)
            self.h = json.loads(f.read(n))
        self.base = 8 + n
        self.mm = np.memmap(self.path, np.uint8, "r")
        cfg = json.load(open(os.path.join(d, "config.json")))
        bs = (cfg.get("quantization_config") or {}).get("weight_block_size", [128, 128])
        self.br, self.bc = bs

    def names(self):
        return [k for k in self.h if k != "__metadata__"]

    def has(self, name):
        return name in self.h

    def raw(self, name):
        e = self.h[name]
        b, en = e["data_offsets"]
        return self.mm[self.base + b:self.base + en], e["dtype"], e["shape"]

    def f32(self, name):
        r, dt, shape = self.raw(name)
        if dt == "F32":
            return np.frombuffer(r.tobytes(), "<f4").reshape(shape)
        if dt == "BF16":
            return (np.frombuffer(r.tobytes(), "<u2").astype(np.uint32) << 16).view(np.float32).reshape(shape)
        if dt == "F16":
            return np.frombuffer(r.tobytes(), "<f2").astype(np.float32).reshape(shape)
        if dt == "F8_E4M3":
            q = FP8_LUT[np.asarray(r)].reshape(shape)
            s = self.f32(name + "_scale_inv")
            full = np.repeat(np.repeat(s, self.br, 0), self.bc, 1)[:shape[0], :shape[1]]
            return (q * full).astype(np.float32)
        raise ValueError(dt)


# ---- what the doc says a converted checkpoint must hold ----------------------------------

def expected_tensors(cfg, keep_mtp, st):
    """{gguf name: (numpy shape of the source view, producer)}; producer(st) -> values in ggml layout."""
    H, V = cfg["hidden_size"], cfg["vocab_size"]
    nh, dn, dr, dv = cfg["num_attention_heads"], cfg["qk_nope_head_dim"], cfg["qk_rope_head_dim"], cfg["v_head_dim"]
    kvl, ql = cfg["kv_lora_rank"], cfg.get("q_lora_rank") or 0
    F, Fe, E, S = cfg["intermediate_size"], cfg.get("moe_intermediate_size", 0), cfg.get("n_routed_experts", 0), \
        cfg.get("n_shared_experts", 0)
    L, Ld = cfg["num_hidden_layers"], cfg.get("first_k_dense_replace", 0)
    nmtp = cfg.get("num_nextn_predict_layers", 0) if keep_mtp else 0
    t = {}

    def plain(hf, ne, f32=False):
        return (ne, lambda st: st.f32(hf), f32)

    t["token_embd.weight"] = plain("model.embed_tokens.weight", [H, V])
    t["output_norm.weight"] = plain("model.norm.weight", [H], True)
    t["output.weight"] = plain("lm_head.weight", [H, V])
    for il in range(L + nmtp):
        p, b = "model.layers.%d." % il, "blk.%d." % il
        t[b + "attn_norm.weight"] = plain(p + "input_layernorm.weight", [H], True)
        t[b + "ffn_norm.weight"] = plain(p + "post_attention_layernorm.weight", [H], True)
        if ql:
            t[b + "attn_q_a.weight"] = plain(p + "self_attn.q_a_proj.weight", [H, ql])
            t[b + "attn_q_a_norm.weight"] = plain(p + "self_attn.q_a_layernorm.weight", [ql], True)
            t[b + "attn_q_b.weight"] = plain(p + "self_attn.q_b_proj.weight", [ql, nh * (dn + dr)])
        else:
            t[b + "attn_q.weight"] = plain(p + "self_attn.q_proj.weight", [H, nh * (dn + dr)])
        t[b + "attn_kv_a_mqa.weight"] = plain(p + "self_attn.kv_a_proj_with_mqa.weight", [H, kvl + dr])
        t[b + "attn_kv_a_norm.weight"] = plain(p + "self_attn.kv_a_layernorm.weight", [kvl], True)
        kvb = p + "self_attn.kv_b_proj.weight"
        t[b + "attn_k_b.weight"] = ([dn, kvl, nh], lambda st, kvb=kvb: np.ascontiguousarray(
            st.f32(kvb).reshape(nh, dn + dv, kvl)[:, :dn, :].transpose(0, 2, 1)), False)
        t[b + "attn_v_b.weight"] = ([kvl, dv, nh], lambda st, kvb=kvb: np.ascontiguousarray(
            st.f32(kvb).reshape(nh, dn + dv, kvl)[:, dn:, :]), False)
        t[b + "attn_output.weight"] = plain(p + "self_attn.o_proj.weight", [nh * dv, H])
        if il < Ld or E == 0:
            t[b + "ffn_gate.weight"] = plain(p + "mlp.gate_proj.weight", [H, F])
            t[b + "ffn_up.weight"] = plain(p + "mlp.up_proj.weight", [H, F])
            t[b + "ffn_down.weight"] = plain(p + "mlp.down_proj.weight", [F, H])
        else:
            t[b + "ffn_gate_inp.weight"] = plain(p + "mlp.gate.weight", [H, E], True)
            if st.has(p + "mlp.gate.e_score_correction_bias"):
                t[b + "exp_probs_b.bias"] = plain(p + "mlp.gate.e_score_correction_bias", [E], True)
            for g, ne in (("gate", [H, Fe, E]), ("up", [H, Fe, E]), ("down", [Fe, H, E])):
                t[b + "ffn_%s_exps.weight" % g] = (ne, lambda st, p=p, g=g: np.stack(
                    [st.f32(p + "mlp.experts.%d.%s_proj.weight" % (x, g)) for x in range(E)]), False)
            if S:
                t[b + "ffn_gate_shexp.weight"] = plain(p + "mlp.shared_experts.gate_proj.weight", [H, Fe * S])
                t[b + "ffn_up_shexp.weight"] = plain(p + "mlp.shared_experts.up_proj.weight", [H, Fe * S])
                t[b + "ffn_down_shexp.weight"] = plain(p + "mlp.shared_experts.down_proj.weight", [Fe * S, H])
        if il >= L:
            t[b + "nextn.eh_proj.weight"] = plain(p + "eh_proj.weight", [2 * H, H])
            t[b + "nextn.enorm.weight"] = plain(p + "enorm.weight", [H], True)
            t[b + "nextn.hnorm.weight"] = plain(p + "hnorm.weight", [H], True)
            t[b + "nextn.shared_head_norm.weight"] = plain(p + "shared_head.norm.weight", [H], True)
            if st.has(p + "shared_head.head.weight"):
                t[b + "nextn.shared_head_head.weight"] = plain(p + "shared_head.head.weight", [H, V])
            if st.has(p + "embed_tokens.weight"):
                t[b + "nextn.embed_tokens.weight"] = plain(p + "embed_tokens.weight", [H, V])
    return t


TYPE_ID = {"F32": 0, "F16": 1, "Q4_0": 2, "Q5_0": 6, "Q5_1": 7, "Q8_0": 8, "Q4_K": 12, "Q5_K": 13, "Q6_K": 14,
           "BF16": 30}
FTYPE = {"F32": 0, "F16": 1, "Q4_0": 2, "Q8_0": 7, "Q4_K": 14, "Q5_K": 16, "Q6_K": 18, "BF16": 32}
BLOCK = {"F32": 1, "F16": 1, "BF16": 1, "Q4_0": 32, "Q5_0": 32, "Q5_1": 32, "Q8_0": 32, "Q4_K": 256, "Q5_K": 256,
         "Q6_K": 256}
FALLBACK = {"Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0"}
# Quantization error of the block types on these (roughly Gaussian) weights,
# RMS relative to the weights' RMS: measured values x ~1.5 (a wrong layout
# or block format gives >= 1).
WEIGHT_REL_RMS = {"Q4_0": 0.1, "Q5_0": 0.05, "Q5_1": 0.045, "Q8_0": 0.006, "Q4_K": 0.085, "Q5_K": 0.042,
                  "Q6_K": 0.02, "BF16": 0.0032, "F16": 0.0003}


def stored_type(want, ne0, keep_f32):
    if keep_f32:
        return "F32"
    if ne0 % BLOCK[want] == 0:
        return want
    fb = FALLBACK.get(want, "F16")
    return fb if ne0 % BLOCK[fb] == 0 else "F16"


def f32r(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def check_metadata(g, cfg, want, keep_mtp, label):
    kv, kt = g.kv, g.kt
    L = cfg["num_hidden_layers"]
    nmtp = cfg.get("num_nextn_predict_layers", 0) if keep_mtp else 0
    rs = cfg.get("rope_scaling") or {}
    exp = {
        "general.architecture": ("str", "deepseek2"),
        "general.alignment": ("u32", 32),
        "general.file_type": ("u32", FTYPE[want]),
        "general.quantization_version": ("u32", 2),
        "deepseek2.block_count": ("u32", L + nmtp),
        "deepseek2.context_length": ("u32", cfg["max_position_embeddings"]),
        "deepseek2.embedding_length": ("u32", cfg["hidden_size"]),
        "deepseek2.feed_forward_length": ("u32", cfg["intermediate_size"]),
        "deepseek2.attention.head_count": ("u32", cfg["num_attention_heads"]),
        "deepseek2.attention.head_count_kv": ("u32", 1),
        "deepseek2.attention.layer_norm_rms_epsilon": ("f32", f32r(cfg["rms_norm_eps"])),
        "deepseek2.attention.q_lora_rank": ("u32", cfg.get("q_lora_rank") or 0),
        "deepseek2.attention.kv_lora_rank": ("u32", cfg["kv_lora_rank"]),
        "deepseek2.attention.key_length": ("u32", cfg["kv_lora_rank"] + cfg["qk_rope_head_dim"]),
        "deepseek2.attention.value_length": ("u32", cfg["kv_lora_rank"]),
        "deepseek2.attention.key_length_mla": ("u32", cfg["qk_nope_head_dim"] + cfg["qk_rope_head_dim"]),
        "deepseek2.attention.value_length_mla": ("u32", cfg["v_head_dim"]),
        "deepseek2.rope.dimension_count": ("u32", cfg["qk_rope_head_dim"]),
        "deepseek2.rope.freq_base": ("f32", f32r(cfg.get("rope_theta", 10000))),
        "deepseek2.leading_dense_block_count": ("u32", cfg.get("first_k_dense_replace", 0)),
        "deepseek2.vocab_size": ("u32", cfg["vocab_size"]),
        "deepseek2.expert_count": ("u32", cfg["n_routed_experts"]),
        "deepseek2.expert_used_count": ("u32", cfg["num_experts_per_tok"]),
        "deepseek2.expert_group_count": ("u32", cfg.get("n_group", 1)),
        "deepseek2.expert_group_used_count": ("u32", cfg.get("topk_group", 1)),
        "deepseek2.expert_feed_forward_length": ("u32", cfg["moe_intermediate_size"]),
        "deepseek2.expert_shared_count": ("u32", cfg["n_shared_experts"]),
        "deepseek2.expert_weights_scale": ("f32", f32r(cfg.get("routed_scaling_factor", 1.0))),
        "deepseek2.expert_gating_func": ("u32", 2 if cfg.get("scoring_func") == "sigmoid" else 1),
    }
    if cfg.get("norm_topk_prob"):
        exp["deepseek2.expert_weights_norm"] = ("bool", True)
    if rs.get("type", rs.get("rope_type")) == "yarn":
        exp.update({
            "deepseek2.rope.scaling.type": ("str", "yarn"),
            "deepseek2.rope.scaling.factor": ("f32", f32r(rs["factor"])),
            "deepseek2.rope.scaling.original_context_length": ("u32", rs["original_max_position_embeddings"]),
            "deepseek2.rope.scaling.yarn_log_multiplier": ("f32", f32r(0.1 * rs["mscale_all_dim"])),
            "deepseek2.rope.scaling.yarn_beta_fast": ("f32", f32r(rs.get("beta_fast", 32))),
            "deepseek2.rope.scaling.yarn_beta_slow": ("f32", f32r(rs.get("beta_slow", 1))),
        })
    if nmtp:
        exp["deepseek2.nextn_predict_layers"] = ("u32", nmtp)
    ok = True
    for k, (ty, v) in exp.items():
        ok &= check(k in kv and kt[k] == ty and kv[k] == v,
                    "%s: %s = %r (%s), expected %r (%s)" % (label, k, kv.get(k), kt.get(k), v, ty))
    for k in kv:
        if k.startswith("deepseek2."):
            ok &= check(k in exp, "%s: unexpected key %s" % (label, k))
    if not nmtp:
        ok &= check("deepseek2.nextn_predict_layers" not in kv, "%s: nextn_predict_layers without --keep-mtp" % label)
    return ok


def check_tensors(g, st, cfg, want, keep_mtp, label, data):
    """Tensor set, shapes, types; with data: values equal the source's (F32
    exactly; F16 = RNE of the f32 values; BF16 = RNE)."""
    exp = expected_tensors(cfg, keep_mtp, st)
    ok = check(set(g.tensors) == set(exp), "%s: tensor set differs: missing %s, extra %s" % (
        label, sorted(set(exp) - set(g.tensors))[:5], sorted(set(g.tensors) - set(exp))[:5]))
    n_checked = 0
    for name, (ne, prod, keep32) in exp.items():
        if name not in g.tensors:
            continue
        gne, ty, _ = g.tensors[name]
        want_ty = stored_type(want, ne[0], keep32 or name.endswith("ffn_gate_inp.weight"))
        ok &= check(gne == ne, "%s: %s has ne %s, expected %s" % (label, name, gne, ne))
        ok &= check(ty == TYPE_ID[want_ty], "%s: %s is %s, expected %s" % (label, name, GGML[ty][0], want_ty))
        if data and gne == ne and ty in (0, 1, 30):
            src = np.asarray(prod(st), np.float32).reshape(tuple(reversed(ne)))
            if ty == 0:
                ref = src
            elif ty == 1:
                ref = src.astype(np.float16).astype(np.float32)
            else:
                u = src.view(np.uint32).astype(np.uint64)
                ref = (((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16).astype(np.uint32).view(np.float32)
            got = g.f32(name)
            same = np.array_equal(got.view(np.uint32), ref.view(np.uint32))
            ok &= check(same, "%s: %s data differs from the source (max |diff| %g)" % (
                label, name, float(np.abs(got - ref).max())))
            n_checked += 1
    return ok, n_checked


# ---- running dsv3 ----------------------------------------------------------------------

def sh(args, **kw):
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)
    if r.returncode != 0:
        print("command failed:", " ".join(args), "\n", r.stderr[-3000:])
    return r


def timed_convert(args):
    """Run dsv3 convert under /usr/bin/time -v: (ok, wall s, peak RSS KiB, stderr)."""
    t0 = time.time()
    r = sh(["/usr/bin/time", "-v", BIN, "convert"] + args + ["--quiet"])
    wall = time.time() - t0
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr)
    return r.returncode == 0, wall, int(m.group(1)) if m else -1, r.stderr


def logits(model, tokens, mtp=False, backend=None):
    out = os.path.join(TMP, "logits.bin")
    args = [BIN, "mtp-logits" if mtp else "logits", "-m", model, "--tokens", ",".join(map(str, tokens)), "--all",
            "--out", out]
    if backend:
        args += ["--backend", backend]
    r = sh(args)
    if r.returncode != 0:
        return None
    return np.fromfile(out, np.float32)


def link_dir(src, name, extra=()):
    d = os.path.join(TMP, name)
    os.makedirs(d, exist_ok=True)
    for f in ("config.json", "model.safetensors") + tuple(extra):
        p = os.path.join(d, os.path.basename(f))
        if os.path.lexists(p):
            os.unlink(p)
        os.symlink(f if os.path.isabs(f) else os.path.join(src, f), p)
    return d


# ---- the golden checkpoints ---------------------------------------------------------------

def golden_checkpoint(ck, manifest, llama_ref):
    src = os.path.join(GOLDEN, ck)
    cfg = json.load(open(os.path.join(src, "config.json")))
    keep = cfg.get("num_nextn_predict_layers", 0) > 0
    label = ck
    st = Safetensors(src)
    cases = [c for c in manifest["cases"] if c["checkpoint"] == ck and c["kind"] in ("logits", "mtp")]

    # F32
    out = os.path.join(TMP, ck.replace("/", "_") + ".f32.gguf")
    ok, wall, rss, err = timed_convert(["-m", src, "-o", out, "--type", "F32"] + (["--keep-mtp"] if keep else []))
    if not check(ok, "%s: convert to F32 failed" % label):
        return
    in_mb = os.path.getsize(os.path.join(src, "model.safetensors")) / 1e6
    print("%s: F32 GGUF %.1f MB from %.1f MB in %.2f s, peak RSS %.1f MiB" % (
        label, os.path.getsize(out) / 1e6, in_mb, wall, rss / 1024))
    g = Gguf(out)
    check(g.version == 3, "%s: version %d" % (label, g.version))
    g.validate()
    check_metadata(g, cfg, "F32", keep, label + " F32")
    tok, n = check_tensors(g, st, cfg, "F32", keep, label + " F32", True)
    print("%s: F32 metadata and %d tensors' data checked (%s)" % (label, n, "ok" if tok else "FAILED"))
    if keep and llama_ref:
        mine = {k: g.kt[k] for k in g.kv if k.startswith("deepseek2.")}
        ref = {k: llama_ref.kt[k] for k in llama_ref.kv if k.startswith("deepseek2.")}
        check(mine == ref, "%s: deepseek2.* keys/types differ from llama.cpp's tiny-q.mtp.q8_0.gguf: %s" % (
            label, sorted(set(mine.items()) ^ set(ref.items()))))
    fp8 = any(st.raw(n)[1] == "F8_E4M3" for n in st.names())
    for backend in ("scalar", None):
        tol = F32_TOL if backend == "scalar" and not fp8 else F32_TOL_REORDER
        worst = 0.0
        for c in cases:
            mtp = c["kind"] == "mtp"
            a = logits(src, c["tokens"], mtp, backend)
            b = logits(out, c["tokens"], mtp, backend)
            if not check(a is not None and b is not None and a.shape == b.shape,
                         "%s %s: logits failed (backend %s)" % (label, c["id"], backend)):
                continue
            d = float(np.abs(a - b).max())
            worst = max(worst, d)
            check(d <= tol, "%s %s: F32 GGUF vs safetensors max |diff| %g > %g (backend %s)" % (
                label, c["id"], d, tol, backend or "default"))
        print("%s: F32 GGUF vs safetensors, %d cases, backend %s: max |diff| %.3g (bound %g)" % (
            label, len(cases), backend or "default", worst, tol))

    # Q8_0: every tensor falls back to F16 at these dims
    out8 = os.path.join(TMP, ck.replace("/", "_") + ".q8_0.gguf")
    ok, wall, rss, err = timed_convert(["-m", src, "-o", out8, "--type", "Q8_0"] + (["--keep-mtp"] if keep else []))
    if not check(ok, "%s: convert to Q8_0 failed" % label):
        return
    g8 = Gguf(out8)
    g8.validate()
    check_metadata(g8, cfg, "Q8_0", keep, label + " Q8_0")
    tok, n = check_tensors(g8, st, cfg, "Q8_0", keep, label + " Q8_0", True)
    census = {}
    for name, (ne, ty, _) in g8.tensors.items():
        census[GGML[ty][0]] = census.get(GGML[ty][0], 0) + 1
    print("%s: Q8_0 GGUF types %s (no ne0 here is a multiple of 32: all fall back to F16), %d tensors' data "
          "checked (%s)" % (label, census, n, "ok" if tok else "FAILED"))
    worst, worst_mtp, n_arg, n_arg_ok, n_pos, flipped, n_mtp_after = 0.0, 0.0, 0, 0, 0, [], 0
    fragile_of = {tuple(c["tokens"]): set(c.get("fragile_positions_bf16", [])) for c in cases if c["kind"] == "logits"}
    first_flip = {}  # tokens -> first position where the main model's routing flipped
    for c in sorted(cases, key=lambda c: c["kind"] != "logits"):  # main-model cases first
        mtp = c["kind"] == "mtp"
        b = logits(out8, c["tokens"], mtp)
        key = "mtp_logits" if mtp else "logits"
        o = c["outputs"][key]
        gl = np.fromfile(os.path.join(GOLDEN, o["file"]), np.float32)
        if not check(b is not None and b.size == gl.size, "%s %s: Q8_0 logits failed" % (label, c["id"])):
            continue
        T = len(c["tokens"])
        err = np.abs(b - gl).reshape(T, -1).max(axis=1)
        fragile = set(fragile_of.get(tuple(c["tokens"]), set()))
        if mtp:  # a main-model flip at p changes the MTP input at p; MTP attention carries it to every later row
            fragile |= set(range(first_flip.get(tuple(c["tokens"]), T), T))
        for t in range(T):
            if t in fragile:
                if not mtp and err[t] > Q8_TINY_TOL:
                    first_flip[tuple(c["tokens"])] = min(t, first_flip.get(tuple(c["tokens"]), T))
                if err[t] > Q8_TINY_TOL and not mtp:
                    flipped.append("%s position %d: %.3g" % (c["id"].split("/")[-1], t, err[t]))
                elif err[t] > Q8_TINY_TOL:
                    n_mtp_after += 1
                continue
            n_pos += 1
            if mtp:
                worst_mtp = max(worst_mtp, float(err[t]))
            else:
                worst = max(worst, float(err[t]))
            check(err[t] <= Q8_TINY_TOL, "%s %s position %d: Q8_0 GGUF vs golden max |diff| %g > %g" % (
                label, c["id"], t, err[t], Q8_TINY_TOL))
        if not mtp:
            gl2, b2 = gl.reshape(o["shape"]), b.reshape(o["shape"])
            for t, gap in enumerate(c["top1_minus_top2"]):
                if gap > Q8_TINY_TOL and t not in fragile:
                    n_arg += 1
                    n_arg_ok += int(np.argmax(b2[t]) == c["argmax"][t] == np.argmax(gl2[t]))
    check(n_arg_ok == n_arg, "%s: Q8_0 argmax agrees at %d/%d decisive positions" % (label, n_arg_ok, n_arg))
    print("%s: Q8_0 GGUF vs golden logits at %d non-fragile positions: max |diff| %.3g (MTP %.3g), tolerance %g; "
          "argmax %d/%d where gap > tol; routing flips at fragile positions: %s%s" % (
              label, n_pos, worst, worst_mtp, Q8_TINY_TOL, n_arg_ok, n_arg, ", ".join(flipped) or "none",
              " (+%d later MTP rows over tol, excluded)" % n_mtp_after if n_mtp_after else ""))


# ---- synthetic checkpoints --------------------------------------------------------------------

def synthetic():
    big = os.path.join(TMP, "synth-v2lite")
    shutil.rmtree(big, ignore_errors=True)
    r = sh([BIN, "synth", "--shape", "v2-lite", "--layers", "3", "--experts", "16", "--dtype", "fp8", "-o", big])
    if not check(r.returncode == 0, "synth v2-lite failed"):
        return
    cfg = json.load(open(os.path.join(big, "config.json")))
    in_bytes = os.path.getsize(os.path.join(big, "model.safetensors"))
    out = os.path.join(TMP, "synth-v2lite.q8_0.gguf")
    ok, wall, rss, err = timed_convert(["-m", big, "-o", out, "--type", "Q8_0"])
    if check(ok, "synthetic v2-lite: convert to Q8_0 failed"):
        m = re.search(r"\(([\d.]+) MB/s\)", err)
        print("THROUGHPUT synthetic v2-lite 3 layers 16 experts fp8 (%.0f MB) -> Q8_0: %.1f MB/s of input "
              "(wall %.1f s; converter's own figure %s MB/s), peak RSS %.1f MiB, %.0f MB written" % (
                  in_bytes / 1e6, in_bytes / 1e6 / wall, wall, m.group(1) if m else "?", rss / 1024,
                  os.path.getsize(out) / 1e6))
        check(0 < rss < 160 * 1024, "synthetic: peak RSS %d KiB is not bounded (< 160 MiB)" % rss)
        g = Gguf(out)
        g.validate()
        check_metadata(g, cfg, "Q8_0", False, "synthetic Q8_0")
        st = Safetensors(big)
        exp = expected_tensors(cfg, False, st)
        bad = [n for n, (ne, _, k32) in exp.items() if n not in g.tensors or g.tensors[n][0] != ne or
               g.tensors[n][1] != TYPE_ID[stored_type("Q8_0", ne[0], k32 or n.endswith("ffn_gate_inp.weight"))]]
        check(set(g.tensors) == set(exp) and not bad, "synthetic Q8_0: tensor set/types/shapes differ: %s" % bad[:5])
        # Q8_0 blocks against the source: |error| <= half a step (d/2) per element.
        for name in ("blk.1.attn_k_b.weight", "blk.1.attn_v_b.weight", "blk.2.attn_q.weight", "blk.0.ffn_down.weight"):
            ne, prod, _ = exp[name]
            src = np.asarray(prod(st), np.float32).reshape(-1, 32)
            blk = np.frombuffer(g.raw(name), np.uint8).reshape(-1, 34)
            d = blk[:, :2].copy().view("<f2").astype(np.float32)
            deq = g.f32(name).reshape(-1, 32)
            amax = np.abs(src).max(axis=1, keepdims=True)
            ok_d = np.allclose(d, amax / 127, rtol=1e-3, atol=0)
            # q = round(x / d32), stored d16 = f16(d32): |q d16 - x| <= d/2 + 127 |d16 - d32| <= 0.57 d
            ok_q = bool(np.all(np.abs(deq - src) <= d * 0.6 + 1e-12))
            check(ok_d and ok_q, "synthetic Q8_0: %s blocks do not match the source (scale %s, values %s)" % (
                name, ok_d, ok_q))
        toks = [3, 1000, 20000, 77, 5, 90000]
        a = logits(big, toks)
        b = logits(out, toks)
        if check(a is not None and b is not None, "synthetic logits failed"):
            a, b = a.reshape(len(toks), -1), b.reshape(len(toks), -1)
            rel = float(np.sqrt(np.mean((a - b) ** 2)) / np.sqrt(np.mean(a ** 2)))
            rng = float(a.max() - a.min())
            n_arg = n_ok = 0
            for t in range(len(toks)):
                s = np.sort(a[t])
                if s[-1] - s[-2] > 0.05 * rng:
                    n_arg += 1
                    n_ok += int(np.argmax(a[t]) == np.argmax(b[t]))
            check(rel <= 0.1 and n_ok == n_arg, "synthetic Q8_0 vs FP8 logits: relative RMS %.4f, argmax %d/%d" % (
                rel, n_ok, n_arg))
            print("synthetic Q8_0 GGUF vs FP8 safetensors logits: relative RMS error %.4f, max |diff| %.3g (logit "
                  "range %.2f), argmax %d/%d where decisive" % (rel, float(np.abs(a - b).max()), rng, n_ok, n_arg))
    os.unlink(out) if os.path.exists(out) else None
    shutil.rmtree(big, ignore_errors=True)

    # every other type on a small FP8 synthetic
    small = os.path.join(TMP, "synth-tiny")
    shutil.rmtree(small, ignore_errors=True)
    r = sh([BIN, "synth", "--shape", "tiny", "--dtype", "fp8", "-o", small])
    if not check(r.returncode == 0, "synth tiny failed"):
        return
    cfg = json.load(open(os.path.join(small, "config.json")))
    keep = cfg.get("num_nextn_predict_layers", 0) > 0
    toks = [1, 2, 3, 500, 7, 900, 11, 13]
    ref = logits(small, toks)
    st = Safetensors(small)
    for ty in ("Q4_0", "Q4_K", "Q5_K", "Q6_K", "BF16", "F16"):
        out = os.path.join(TMP, "synth-tiny.%s.gguf" % ty.lower())
        ok, wall, rss, err = timed_convert(["-m", small, "-o", out, "--type", ty] + (["--keep-mtp"] if keep else []))
        if not check(ok, "synthetic tiny: convert to %s failed" % ty):
            continue
        g = Gguf(out)
        g.validate()
        check_metadata(g, cfg, ty, keep, "synthetic tiny " + ty)
        tok, _ = check_tensors(g, st, cfg, ty, keep, "synthetic tiny " + ty, ty in ("BF16", "F16"))
        census = {}
        for name, (ne, t, _) in g.tensors.items():
            census[GGML[t][0]] = census.get(GGML[t][0], 0) + 1
        # every quantized tensor, dequantized here, against its source: layout and block format
        worst = {}
        for name, (ne, prod, _) in expected_tensors(cfg, keep, st).items():
            tyn = GGML[g.tensors[name][1]][0]
            if tyn not in WEIGHT_REL_RMS or name not in g.tensors:
                continue
            src = np.asarray(prod(st), np.float32).reshape(-1)
            deq = g.f32(name).reshape(-1)
            rel = float(np.sqrt(np.mean((deq - src) ** 2) / np.mean(src ** 2)))
            worst[tyn] = max(worst.get(tyn, 0.0), rel)
            check(rel <= WEIGHT_REL_RMS[tyn], "synthetic tiny %s: %s (%s) relative RMS error %.4f > %g" % (
                ty, name, tyn, rel, WEIGHT_REL_RMS[tyn]))
        b = logits(out, toks)
        if check(ref is not None and b is not None, "synthetic tiny %s: logits failed" % ty):
            rel = float(np.sqrt(np.mean((ref - b) ** 2)) / np.sqrt(np.mean(ref ** 2)))
            check(np.all(np.isfinite(b)) and rel <= 0.7, "synthetic tiny %s: logits relative RMS error %.4f" % (ty, rel))
            print("synthetic tiny %-4s: types %s; worst weight relative RMS error per type %s; logits relative RMS "
                  "error vs the FP8 original %.4f" % (ty, census, {k: round(v, 4) for k, v in worst.items()}, rel))
    # the same checkpoint in shards (model.safetensors.index.json): the same tensors, byte for byte
    sharded = os.path.join(TMP, "synth-tiny-sharded")
    shutil.rmtree(sharded, ignore_errors=True)
    r = sh([BIN, "synth", "--shape", "tiny", "--dtype", "fp8", "--shard-mb", "1", "-o", sharded])
    one = os.path.join(TMP, "synth-tiny.bf16.gguf")
    two = os.path.join(TMP, "synth-tiny-sharded.bf16.gguf")
    if check(r.returncode == 0 and os.path.exists(os.path.join(sharded, "model.safetensors.index.json")),
             "synth --shard-mb failed or wrote no index"):
        ok, wall, rss, err = timed_convert(["-m", sharded, "-o", two, "--type", "BF16"] + (["--keep-mtp"] if keep else []))
        if check(ok and os.path.exists(one), "sharded synthetic: convert failed"):
            a, b = Gguf(one), Gguf(two)
            same = a.order == b.order and all(a.raw(n) == b.raw(n) for n in a.order)
            n_shards = len([f for f in os.listdir(sharded) if f.endswith(".safetensors")])
            check(same, "sharded synthetic: tensors differ from the single-file conversion")
            print("sharded synthetic (%d shards): %d tensors byte-identical to the single-file conversion" % (
                n_shards, len(a.order)))
    shutil.rmtree(sharded, ignore_errors=True)
    shutil.rmtree(small, ignore_errors=True)


# ---- optional: llama.cpp itself ---------------------------------------------------------------
# With DSV3_LLAMACPP_LIB=DIR (a directory holding a llama.cpp build's
# libllama*.so and libggml*.so, e.g. npm's @node-llama-cpp/linux-x64 bins),
# every F32 GGUF is loaded by llama.cpp's own loader and its logits (one
# batch, all positions) are compared with the golden ones. llama.cpp rounds
# activations and keeps the KV cache in F16 by default, hence the 0.05 bound
# (measured ~0.025) and, as for Q8_0, no bound at the golden
# fragile_positions_bf16, where such rounding may flip a routing decision,
# nor after such a flip (llama.cpp: tiny-v3/f32 seq100 flips at position 86,
# margin 1.5e-4, and positions 87-99 then differ by up to 0.33).

def llama_cpp_logits(libdir, path, tokens, V):
    import ctypes as C
    import glob
    def lib(pat):
        c = sorted(glob.glob(os.path.join(libdir, pat)))
        return C.CDLL(c[0], mode=C.RTLD_GLOBAL) if c else None
    lib("libggml-base*.so")
    ggml = lib("libggml.*so") or lib("libggml.so*")
    L = lib("libllama*.so")
    if ggml is not None and hasattr(ggml, "ggml_backend_load_all_from_path"):
        ggml.ggml_backend_load_all_from_path.argtypes = [C.c_char_p]
        ggml.ggml_backend_load_all_from_path(libdir.encode())

    class Params(C.Structure):  # larger than llama.cpp's params structs: passed through untouched
        _fields_ = [("b", C.c_ubyte * 1024)]

    class Batch(C.Structure):
        _fields_ = [("n", C.c_int32), ("token", C.c_void_p), ("embd", C.c_void_p), ("pos", C.c_void_p),
                    ("n_seq_id", C.c_void_p), ("seq_id", C.c_void_p), ("logits", C.c_void_p)]
    L.llama_backend_init()
    L.llama_model_default_params.restype = Params
    L.llama_context_default_params.restype = Params
    L.llama_model_load_from_file.argtypes = [C.c_char_p, Params]
    L.llama_model_load_from_file.restype = C.c_void_p
    L.llama_init_from_model.argtypes = [C.c_void_p, Params]
    L.llama_init_from_model.restype = C.c_void_p
    L.llama_batch_get_one.argtypes = [C.POINTER(C.c_int32), C.c_int32]
    L.llama_batch_get_one.restype = Batch
    L.llama_decode.argtypes = [C.c_void_p, Batch]
    L.llama_get_logits_ith.argtypes = [C.c_void_p, C.c_int32]
    L.llama_get_logits_ith.restype = C.POINTER(C.c_float)
    L.llama_free.argtypes = [C.c_void_p]
    L.llama_model_free.argtypes = [C.c_void_p]
    L.llama_batch_init.argtypes = [C.c_int32, C.c_int32, C.c_int32]
    L.llama_batch_init.restype = Batch
    L.llama_batch_free.argtypes = [Batch]
    m = L.llama_model_load_from_file(path.encode(), L.llama_model_default_params())
    if not m:
        return None
    cp = L.llama_context_default_params()
    struct.pack_into("<I", cp.b, 0, 512)  # n_ctx, the first field (the default is the training context)
    ctx = L.llama_init_from_model(m, cp)
    out = None
    if ctx:
        T = len(tokens)
        batch = L.llama_batch_init(T, 0, 1)
        tok = C.cast(batch.token, C.POINTER(C.c_int32))
        pos = C.cast(batch.pos, C.POINTER(C.c_int32))
        nsq = C.cast(batch.n_seq_id, C.POINTER(C.c_int32))
        sq = C.cast(batch.seq_id, C.POINTER(C.POINTER(C.c_int32)))
        lg = C.cast(batch.logits, C.POINTER(C.c_int8))
        for i, t in enumerate(tokens):  # one batch, logits at every position
            tok[i], pos[i], nsq[i], lg[i] = t, i, 1, 1
            sq[i][0] = 0
        batch.n = T
        if L.llama_decode(ctx, batch) == 0:
            out = np.array([np.ctypeslib.as_array(L.llama_get_logits_ith(ctx, i), (V,)).copy() for i in range(T)],
                           np.float32)
        L.llama_batch_free(batch)
        L.llama_free(ctx)
    L.llama_model_free(m)
    return out


def llama_cpp_check(manifest):
    libdir = os.environ.get("DSV3_LLAMACPP_LIB")
    if not libdir:
        print("llama.cpp cross-check skipped (set DSV3_LLAMACPP_LIB to a directory with libllama*.so)")
        return
    for ck in ("tiny-v3/f32", "tiny-v3/bf16", "tiny-v3/fp8", "tiny-v2lite/bf16"):
        path = os.path.join(TMP, ck.replace("/", "_") + ".f32.gguf")
        worst, n, n_pos, all_flips = 0.0, 0, 0, []
        for c in manifest["cases"]:
            if c["checkpoint"] != ck or c["kind"] != "logits":
                continue
            o = c["outputs"]["logits"]
            # a separate process: llama.cpp may abort on a file it refuses
            r = sh([sys.executable, os.path.abspath(__file__), "--llama-cpp", libdir, path,
                    ",".join(map(str, c["tokens"])), str(o["shape"][1]), os.path.join(TMP, "llama.bin")])
            if not check(r.returncode == 0, "llama.cpp could not load/run %s" % path):
                break
            a = np.fromfile(os.path.join(TMP, "llama.bin"), np.float32).reshape(o["shape"])
            g = np.fromfile(os.path.join(GOLDEN, o["file"]), np.float32).reshape(o["shape"])
            err = np.abs(a - g).max(axis=1)
            fragile = set(c.get("fragile_positions_bf16", []))
            flips = [t for t in sorted(fragile) if err[t] > 0.05]
            # a flip at p reaches every later position through p's keys and values
            keep = [t for t in range(len(err)) if t not in fragile and (not flips or t < flips[0])]
            if keep:
                worst = max(worst, float(err[keep].max()))
                check(err[keep].max() <= 0.05, "llama.cpp on %s %s: max |diff| vs golden %g" % (
                    path, c["id"], float(err[keep].max())))
            n += 1
            n_pos += len(keep)
            all_flips += ["%s@%d" % (c["id"].split("/")[-1], t) for t in flips]
        print("llama.cpp loads %s: %d cases, logits vs golden at %d positions before any routing flip: max |diff| "
              "%.3g; flips at fragile positions: %s" % (os.path.basename(path), n, n_pos, worst,
                                                         ", ".join(all_flips) or "none"))


# ---- refusals ---------------------------------------------------------------------------------

def write_safetensors(path, tensors):
    """tensors: {name: (dtype, shape, bytes)}"""
    header, off, blobs = {}, 0, []
    for name, (dt, shape, b) in tensors.items():
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)


def error_cases():
    src = os.path.join(GOLDEN, "tiny-v2lite/bf16")
    st = Safetensors(src)
    base = {n: (st.h[n]["dtype"], st.h[n]["shape"], st.raw(n)[0].tobytes()) for n in st.names()}

    def variant(name, edit):
        d = os.path.join(TMP, "bad-" + name)
        os.makedirs(d, exist_ok=True)
        shutil.copy(os.path.join(src, "config.json"), os.path.join(d, "config.json"))
        t = dict(base)
        edit(t)
        write_safetensors(os.path.join(d, "model.safetensors"), t)
        return d

    def expect(args, rc, text, what):
        out = os.path.join(TMP, "bad.gguf")
        for f in (out, out + ".part"):
            if os.path.exists(f):
                os.unlink(f)
        r = subprocess.run([BIN, "convert"] + args + ["-o", out, "--quiet"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
        ok = r.returncode == rc and text in r.stderr and not os.path.exists(out) and not os.path.exists(out + ".part")
        check(ok, "%s: exit %d (want %d), stderr %r should name %r, and no output file" % (
            what, r.returncode, rc, r.stderr[-300:], text))
        return ok

    n = 0
    n += expect(["-m", src, "--type", "Q3_K"], 2, "--type Q3_K", "an unknown --type")
    n += expect(["-m", src, "--type", "F32", "--keep-mtp"], 1, "no MTP layer", "--keep-mtp without an MTP layer")
    n += expect(["-m", os.path.join(TMP, "no-such-dir"), "--type", "F32"], 1, "config.json", "a missing checkpoint")
    d = variant("unknown", lambda t: t.update({"model.layers.0.mystery.weight": ("F32", [2], bytes(8))}))
    n += expect(["-m", d, "--type", "F32"], 1, "model.layers.0.mystery.weight", "an unknown tensor")
    d = variant("missing", lambda t: t.pop("model.layers.1.mlp.experts.3.up_proj.weight"))
    n += expect(["-m", d, "--type", "Q8_0"], 1, "model.layers.1.mlp.experts.3.up_proj.weight", "a missing expert")
    d = variant("shape", lambda t: t.update({"lm_head.weight": ("BF16", list(reversed(t["lm_head.weight"][1])),
                                                                t["lm_head.weight"][2])}))
    n += expect(["-m", d, "--type", "F32"], 1, "lm_head.weight", "a transposed lm_head")
    d = variant("dtype", lambda t: t.update({"model.norm.weight": ("I32", t["model.norm.weight"][1],
                                                                   bytes(4 * t["model.norm.weight"][1][0]))}))
    n += expect(["-m", d, "--type", "F32"], 1, "model.norm.weight", "an integer norm")
    out_dir = os.path.join(TMP, "no-such-dir", "x.gguf")
    r = subprocess.run([BIN, "convert", "-m", src, "--type", "F32", "-o", out_dir, "--quiet"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    n += check(r.returncode == 1 and "cannot create" in r.stderr, "an unwritable output path: exit %d, %r" % (
        r.returncode, r.stderr[-200:]))
    print("refusals: %d/8 refused with a message naming the problem, no output left behind" % n)


def main():
    os.makedirs(TMP, exist_ok=True)
    manifest = json.load(open(os.path.join(GOLDEN, "manifest.json")))
    ref_path = os.path.join(SHARED, "golden-gguf", "tiny-q.mtp.q8_0.gguf")
    llama_ref = Gguf(ref_path) if os.path.exists(ref_path) else None
    check(llama_ref is not None, "missing " + ref_path)
    sizes = []
    for ck in ("tiny-v3/f32", "tiny-v3/bf16", "tiny-v3/fp8", "tiny-v2lite/bf16"):
        golden_checkpoint(ck, manifest, llama_ref)
        sizes.append((os.path.getsize(os.path.join(GOLDEN, ck, "model.safetensors")), ck))
    # throughput on the largest golden checkpoint (best of 3: it takes milliseconds)
    size, ck = max(sizes)
    src = os.path.join(GOLDEN, ck)
    for ty in ("Q8_0", "F32"):
        best = None
        for _ in range(3):
            ok, wall, rss, err = timed_convert(["-m", src, "-o", os.path.join(TMP, "largest.gguf"), "--type", ty,
                                                "--keep-mtp"])
            if ok and (best is None or wall < best[0]):
                best = (wall, rss)
        if check(best is not None, "largest golden: convert to %s failed" % ty):
            print("THROUGHPUT largest golden checkpoint %s (%.1f MB) -> %s: %.1f MB/s of input (process wall %.3f s "
                  "incl. start-up), peak RSS %.1f MiB" % (ck, size / 1e6, ty, size / 1e6 / best[0], best[0],
                                                         best[1] / 1024))
    llama_cpp_check(manifest)
    error_cases()
    synthetic()
    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    print("all convert checks passed")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 7 and sys.argv[1] == "--llama-cpp":
        _, _, libdir, path, toks, V, out = sys.argv
        res = llama_cpp_logits(libdir, path, [int(x) for x in toks.split(",")], int(V))
        if res is None:
            sys.exit(3)
        res.tofile(out)
        sys.exit(0)
    sys.exit(main())
