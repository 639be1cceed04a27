#!/usr/bin/env python3
"""check_synth.py -- verify a checkpoint written by `dsv3 synth`.

usage: check_synth.py DIR [--ref F32DIR] [--sharded] [--expect KEY=VALUE ...]

Checks, independently of the C writer (pure Python, no numpy needed):
  * config.json has every key of the official DeepSeek-V3 configs and a
    consistent expert grouping (n_group | E, >= 2 experts per group when
    group-limited, the chosen groups hold >= num_experts_per_tok experts);
  * the tensor set is exactly the one the config implies: every name,
    shape and stored type (F32 / BF16 / F8_E4M3 + F32 *_scale_inv);
  * each safetensors file: 8 + N is a multiple of 8, the header is JSON
    with __metadata__, data offsets are contiguous from 0 and end at the
    file's end, every tensor is aligned to its element size;
  * sharded checkpoints: the index's weight_map names every tensor exactly
    once, each in the file that holds it, and total_size adds up;
  * values (first block row of every tensor): linear weights have std
    1/sqrt(in) (FP8 after dequantization), embeddings std 1, norms
    1 +- 0.05, e_score_correction_bias small and nonzero, no NaN/Inf, no
    NaN FP8 codes, every FP8 block reaches +-448 (scale_inv = amax/448);
  * BF16 round trip (decode, re-round, same bits);
  * with --ref (an F32 checkpoint of the same shape and seed): BF16 bits
    equal round-to-nearest-even of the F32 values, FP8 scales equal
    amax/448 and codes equal an independent RNE e4m3 encoder's output, F32
    values are identical.
Exit status 0 when all hold; failures are listed on stderr.
"""
import array
import bisect
import json
import math
import os
import re
import struct
import sys

ROWS_CHECKED = 128          # one FP8 block row
MAX_CHECK_ELEMS = 1 << 16   # per tensor; keeps pure-Python decoding fast

REQUIRED_KEYS = [
    "architectures", "model_type", "hidden_size", "intermediate_size",
    "moe_intermediate_size", "num_hidden_layers", "num_attention_heads",
    "num_key_value_heads", "vocab_size", "q_lora_rank", "kv_lora_rank",
    "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim",
    "first_k_dense_replace", "moe_layer_freq", "n_routed_experts",
    "n_shared_experts", "num_experts_per_tok", "n_group", "topk_group",
    "topk_method", "scoring_func", "norm_topk_prob", "routed_scaling_factor",
    "rope_theta", "rope_scaling", "rms_norm_eps", "max_position_embeddings",
    "num_nextn_predict_layers", "bos_token_id", "eos_token_id",
    "tie_word_embeddings", "hidden_act", "torch_dtype",
]

DTYPE_SIZE = {"F32": 4, "BF16": 2, "F8_E4M3": 1}

errors = []


def fail(msg):
    errors.append(msg)
    if len(errors) <= 50:
        print("FAIL: " + msg, file=sys.stderr)


# ---- number formats ------------------------------------------------------

def e4m3_decode(c):
    if c & 0x7F == 0x7F:
        return float("nan")
    e, m = (c >> 3) & 15, c & 7
    v = m * 2.0 ** -9 if e == 0 else (1 + m / 8.0) * 2.0 ** (e - 7)
    return -v if c & 0x80 else v


E4M3 = [e4m3_decode(c) for c in range(256)]
E4M3_POS = E4M3[:0x7F]  # codes 0..126, increasing


def e4m3_encode(x):
    """Nearest finite e4m3 value, ties to the even code, saturating."""
    sign = 0x80 if math.copysign(1.0, x) < 0 else 0
    a = abs(x)
    if a >= 448.0:
        return sign | 0x7E
    i = bisect.bisect_left(E4M3_POS, a)
    if E4M3_POS[i] == a:
        return sign | i
    lo, hi = i - 1, i
    dlo, dhi = a - E4M3_POS[lo], E4M3_POS[hi] - a
    if dlo < dhi or (dlo == dhi and lo % 2 == 0):
        return sign | lo
    return sign | hi


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def bf16_round(bits32):
    """Round-to-nearest-even of f32 bits to bf16 bits (written out long-hand,
    independently of the C bit trick)."""
    hi, lo = bits32 >> 16, bits32 & 0xFFFF
    if lo > 0x8000 or (lo == 0x8000 and hi & 1):
        hi += 1
    return hi & 0xFFFF


def check_e4m3_table():
    # The reference decoder/encoder must themselves agree on all codes.
    for c in range(256):
        if c & 0x7F == 0x7F:
            continue
        if e4m3_encode(E4M3[c]) != c:
            fail("python e4m3 reference: code 0x%02x does not round-trip" % c)
    if E4M3[0x7E] != 448.0 or E4M3[0x01] != 2.0 ** -9 or E4M3[0x08] != 2.0 ** -6:
        fail("python e4m3 reference decoder is wrong")


# ---- files -----------------------------------------------------------------

class File:
    def __init__(self, path):
        self.path = path
        self.size = os.path.getsize(path)
        with open(path, "rb") as f:
            raw = f.read(8)
            if len(raw) != 8:
                fail("%s: shorter than 8 bytes" % path)
                self.header, self.base = {}, 8
                return
            (n,) = struct.unpack("<Q", raw)
            if n > self.size - 8 or n > 100 << 20:
                fail("%s: header length %d out of bounds" % (path, n))
                self.header, self.base = {}, 8
                return
            if (8 + n) % 8:
                fail("%s: 8 + header length %d is not a multiple of 8" % (path, n))
            text = f.read(n)
        if text.rstrip(b" ") != text.rstrip():
            fail("%s: header padded with something other than spaces" % path)
        self.header = json.loads(text.decode("utf-8"))
        self.base = 8 + n
        meta = self.header.pop("__metadata__", None)
        if meta != {"format": "pt"}:
            fail("%s: __metadata__ is %r" % (path, meta))
        spans = []
        for name, t in self.header.items():
            dt, shape, off = t.get("dtype"), t.get("shape"), t.get("data_offsets")
            if dt not in DTYPE_SIZE or not isinstance(shape, list) or len(off or []) != 2:
                fail("%s: %s: bad entry %r" % (path, name, t))
                continue
            nel = 1
            for d in shape:
                nel *= d
            if off[1] - off[0] != nel * DTYPE_SIZE[dt]:
                fail("%s: %s: %d bytes for %s %r" % (path, name, off[1] - off[0], dt, shape))
            if (self.base + off[0]) % DTYPE_SIZE[dt]:
                fail("%s: %s: misaligned %s data at file offset %d" % (path, name, dt, self.base + off[0]))
            spans.append((off[0], off[1], name))
        spans.sort()
        pos = 0
        for b, e, name in spans:
            if b != pos:
                fail("%s: %s starts at %d, expected %d (gap or overlap)" % (path, name, b, pos))
            pos = e
        if self.base + pos != self.size:
            fail("%s: data ends at %d but the file has %d bytes" % (path, self.base + pos, self.size))

    def read(self, name, start_byte, nbytes):
        b = self.header[name]["data_offsets"][0]
        with open(self.path, "rb") as f:
            f.seek(self.base + b + start_byte)
            return f.read(nbytes)


class Checkpoint:
    def __init__(self, d, want_sharded=None):
        self.dir = d
        with open(os.path.join(d, "config.json")) as f:
            self.cfg = json.load(f)
        self.files = {}
        self.where = {}
        idx_path = os.path.join(d, "model.safetensors.index.json")
        single = os.path.join(d, "model.safetensors")
        if os.path.exists(idx_path):
            if want_sharded is False:
                fail("%s: sharded, expected a single file" % d)
            if os.path.exists(single):
                fail("%s: both model.safetensors and an index exist" % d)
            with open(idx_path) as f:
                idx = json.load(f)
            wm = idx.get("weight_map", {})
            names = sorted(set(wm.values()))
            k = len(names)
            for i, fn in enumerate(names):
                want = "model-%05d-of-%05d.safetensors" % (i + 1, k)
                if fn != want:
                    fail("%s: shard %s, expected %s" % (d, fn, want))
            total = 0
            for fn in names:
                sf = File(os.path.join(d, fn))
                self.files[fn] = sf
                for name, t in sf.header.items():
                    if name in self.where:
                        fail("%s: %s in two files" % (d, name))
                    self.where[name] = fn
                    total += t["data_offsets"][1] - t["data_offsets"][0]
            for name, fn in wm.items():
                if self.where.get(name) != fn:
                    fail("%s: index maps %s to %s but it is in %s" % (d, name, fn, self.where.get(name)))
            for name in self.where:
                if name not in wm:
                    fail("%s: %s is missing from the index" % (d, name))
            if idx.get("metadata", {}).get("total_size") != total:
                fail("%s: total_size %r, tensors hold %d bytes" % (d, idx.get("metadata"), total))
            print("%s: %d shards, %d tensors, %d bytes" % (d, k, len(self.where), total))
        else:
            if want_sharded:
                fail("%s: expected a sharded checkpoint" % d)
            sf = File(single)
            self.files["model.safetensors"] = sf
            for name in sf.header:
                self.where[name] = "model.safetensors"
            print("%s: 1 file, %d tensors, %d bytes" % (d, len(self.where), sf.size))

    def info(self, name):
        return self.files[self.where[name]].header[name]

    def read(self, name, start_byte, nbytes):
        return self.files[self.where[name]].read(name, start_byte, nbytes)


# ---- the expected tensor set --------------------------------------------

def expected_tensors(cfg):
    """name -> (dtype, shape, kind, fan_in); kinds: linear, embed, norm,
    bias, scale."""
    fp8 = "quantization_config" in cfg
    f32mode = cfg.get("torch_dtype") == "float32"
    base = "F32" if f32mode else "BF16"
    H, V = cfg["hidden_size"], cfg["vocab_size"]
    nh = cfg["num_attention_heads"]
    dn, dr, dv = cfg["qk_nope_head_dim"], cfg["qk_rope_head_dim"], cfg["v_head_dim"]
    ql, kvl = cfg["q_lora_rank"], cfg["kv_lora_rank"]
    L, dense = cfg["num_hidden_layers"], cfg["first_k_dense_replace"]
    E, S = cfg["n_routed_experts"], cfg["n_shared_experts"]
    mi, inter = cfg["moe_intermediate_size"], cfg["intermediate_size"]
    mtp = cfg.get("num_nextn_predict_layers", 0)
    out = {}

    def lin(name, o, i, quant=True):
        if fp8 and quant:
            out[name] = ("F8_E4M3", [o, i], "linear", i)
            out[name + "_scale_inv"] = ("F32", [-(-o // 128), -(-i // 128)], "scale", None)
        else:
            out[name] = (base, [o, i], "linear", i)

    def norm(name, n):
        out[name] = (base, [n], "norm", None)

    def mlp(p, inner):
        lin(p + ".gate_proj.weight", inner, H)
        lin(p + ".up_proj.weight", inner, H)
        lin(p + ".down_proj.weight", H, inner)

    def layer(i, moe):
        p = "model.layers.%d." % i
        norm(p + "input_layernorm.weight", H)
        norm(p + "post_attention_layernorm.weight", H)
        if ql:
            lin(p + "self_attn.q_a_proj.weight", ql, H)
            norm(p + "self_attn.q_a_layernorm.weight", ql)
            lin(p + "self_attn.q_b_proj.weight", nh * (dn + dr), ql)
        else:
            lin(p + "self_attn.q_proj.weight", nh * (dn + dr), H)
        lin(p + "self_attn.kv_a_proj_with_mqa.weight", kvl + dr, H)
        norm(p + "self_attn.kv_a_layernorm.weight", kvl)
        lin(p + "self_attn.kv_b_proj.weight", nh * (dn + dv), kvl)
        lin(p + "self_attn.o_proj.weight", H, nh * dv)
        if not moe:
            mlp(p + "mlp", inter)
            return
        lin(p + "mlp.gate.weight", E, H, quant=False)
        if cfg["topk_method"] == "noaux_tc":
            out[p + "mlp.gate.e_score_correction_bias"] = ("F32", [E], "bias", None)
        for e in range(E):
            mlp(p + "mlp.experts.%d" % e, mi)
        if S:
            mlp(p + "mlp.shared_experts", S * mi)

    out["model.embed_tokens.weight"] = (base, [V, H], "embed", None)
    norm("model.norm.weight", H)
    lin("lm_head.weight", V, H, quant=False)
    for i in range(L):
        layer(i, i >= dense)
    for j in range(mtp):
        i = L + j
        p = "model.layers.%d." % i
        layer(i, True)
        out[p + "embed_tokens.weight"] = (base, [V, H], "embed", None)
        norm(p + "enorm.weight", H)
        norm(p + "hnorm.weight", H)
        lin(p + "eh_proj.weight", H, 2 * H, quant=False)
        norm(p + "shared_head.norm.weight", H)
        lin(p + "shared_head.head.weight", V, H, quant=False)
    return out


def check_config(cfg, expects):
    for k in REQUIRED_KEYS:
        if k not in cfg:
            fail("config.json lacks %s" % k)
    if errors:
        return
    if cfg["num_key_value_heads"] != cfg["num_attention_heads"]:
        fail("num_key_value_heads != num_attention_heads")
    if cfg["moe_layer_freq"] != 1 or cfg["tie_word_embeddings"] is not False:
        fail("moe_layer_freq / tie_word_embeddings")
    if cfg["rms_norm_eps"] != 1e-6 or cfg["hidden_act"] != "silu":
        fail("rms_norm_eps / hidden_act")
    E, g, tg, k = cfg["n_routed_experts"], cfg["n_group"], cfg["topk_group"], cfg["num_experts_per_tok"]
    if E % g:
        fail("n_routed_experts %d not divisible by n_group %d" % (E, g))
    elif g > 1 and E // g < 2:
        fail("fewer than 2 experts per group (%d / %d)" % (E, g))
    if not 1 <= tg <= g or tg * (E // g) < k:
        fail("topk_group %d with n_group %d, %d experts, top-%d" % (tg, g, E, k))
    if not 0 <= cfg["first_k_dense_replace"] <= cfg["num_hidden_layers"]:
        fail("first_k_dense_replace out of range")
    if "quantization_config" in cfg:
        want = {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                "weight_block_size": [128, 128]}
        if cfg["quantization_config"] != want:
            fail("quantization_config %r" % cfg["quantization_config"])
    for kv in expects:
        key, val = kv.split("=", 1)
        got = cfg.get(key)
        if json.dumps(got) != val and str(got) != val:
            fail("config %s = %r, expected %s" % (key, got, val))


# ---- values ------------------------------------------------------------------

def decode(raw, dtype):
    if dtype == "F32":
        a = array.array("f")
        a.frombytes(raw)
        if sys.byteorder != "little":
            a.byteswap()
        return list(a), None
    if dtype == "BF16":
        h = array.array("H")
        h.frombytes(raw)
        if sys.byteorder != "little":
            h.byteswap()
        w = array.array("I", [x << 16 for x in h])
        f = array.array("f")
        f.frombytes(w.tobytes())
        return list(f), list(h)
    return [E4M3[b] for b in raw], raw


def read_region(ck, name, nrows, cols, ccols):
    """Raw bytes of rows [0, nrows) x columns [0, ccols) of a 2-D tensor
    (row-major, `cols` wide), rows concatenated."""
    esz = DTYPE_SIZE[ck.info(name)["dtype"]]
    raw = ck.read(name, 0, nrows * cols * esz)
    if ccols == cols:
        return raw
    w, step = ccols * esz, cols * esz
    return b"".join(raw[r * step:r * step + w] for r in range(nrows))


def stats(v):
    n = len(v)
    m = sum(v) / n
    var = sum((x - m) ** 2 for x in v) / n
    return m, math.sqrt(var)


def check_values(ck, ref, exp):
    counts = {"F32": 0, "BF16": 0, "F8_E4M3": 0}
    checked_blocks = 0
    for name, (dtype, shape, kind, fan_in) in sorted(exp.items()):
        if kind == "scale":
            continue
        counts[dtype] += 1
        rows, cols = (shape[0], shape[1]) if len(shape) == 2 else (1, shape[0])
        # The region checked: the first block row, and as many leading
        # 128-column blocks of it as fit the element budget.
        nrows = min(rows, ROWS_CHECKED)
        ex = re.search(r"\.mlp\.experts\.(\d+)\.", name)
        if ex and int(ex.group(1)) >= 2:
            nrows = min(rows, 8)  # experts are alike: sample the rest lightly
        ccols = min(cols, max(128, (MAX_CHECK_ELEMS // nrows) // 128 * 128))
        n = nrows * ccols
        full_blocks = nrows == min(rows, ROWS_CHECKED)  # the region holds whole FP8 blocks
        vals, codes = decode(read_region(ck, name, nrows, cols, ccols), dtype)
        if any(math.isnan(x) or math.isinf(x) for x in vals):
            fail("%s: NaN or Inf" % name)
            continue
        scales = None
        if dtype == "F8_E4M3":
            sshape = exp[name + "_scale_inv"][1]
            sv, _ = decode(ck.read(name + "_scale_inv", 0, sshape[1] * 4), "F32")
            if any(not (s > 0) or math.isinf(s) for s in sv):
                fail("%s_scale_inv: non-positive or non-finite scale" % name)
                continue
            scales = sv
            vals = [x * sv[(i % ccols) // 128] for i, x in enumerate(vals)]
            if 0x7F in codes or 0xFF in codes:
                fail("%s: NaN e4m3 codes" % name)
            for cb in range(-(-ccols // 128) if full_blocks else 0):
                c0, c1 = cb * 128, min(ccols, cb * 128 + 128)
                m = max(abs(E4M3[codes[r * ccols + c]]) for r in range(nrows) for c in range(c0, c1))
                if m != 448.0:
                    fail("%s: block (0,%d) peaks at %g, not 448 (scale_inv != amax/448)" % (name, cb, m))
                checked_blocks += 1
        if codes is not None and dtype == "BF16":
            for x, h in zip(vals, codes):
                b = struct.unpack("<I", struct.pack("<f", x))[0]
                if bf16_round(b) != h:
                    fail("%s: BF16 round trip changed 0x%04x" % (name, h))
                    break
        # distribution
        if kind in ("linear", "embed"):
            want = 1.0 if kind == "embed" else 1.0 / math.sqrt(fan_in)
            amp = want * math.sqrt(3.0)
            m, sd = stats(vals)
            tol = 0.1 if n >= 2000 else 0.3
            if abs(sd / want - 1) > tol:
                fail("%s: std %.5g, expected %.5g" % (name, sd, want))
            if abs(m) > 6 * want / math.sqrt(n):
                fail("%s: mean %.5g too far from 0" % (name, m))
            if max(abs(x) for x in vals) > amp * 1.01:
                fail("%s: value beyond +-%.5g" % (name, amp))
        elif kind == "norm":
            if any(not (0.94 <= x <= 1.06) for x in vals) or all(x == 1.0 for x in vals):
                fail("%s: norm weights not 1 +- 0.05" % name)
        elif kind == "bias":
            if dtype != "F32" or any(abs(x) > 0.05 for x in vals) or all(x == 0 for x in vals):
                fail("%s: correction bias not small nonzero F32" % name)
        # exact agreement with the F32 reference
        if ref is not None:
            rv, _ = decode(read_region(ref, name, nrows, cols, ccols), "F32")
            if dtype == "F32":
                if rv != vals:
                    fail("%s: differs from the reference" % name)
            elif dtype == "BF16":
                for x, h in zip(rv, codes):
                    if bf16_round(struct.unpack("<I", struct.pack("<f", x))[0]) != h:
                        fail("%s: BF16 is not round-to-nearest-even of the F32 value %r" % (name, x))
                        break
            else:
                for cb in range(-(-ccols // 128) if full_blocks else 0):
                    c0, c1 = cb * 128, min(ccols, cb * 128 + 128)
                    amax = max(abs(rv[r * ccols + c]) for r in range(nrows) for c in range(c0, c1))
                    want_s = f32(amax / 448.0) if amax > 0 else 1.0
                    if scales[cb] != want_s:
                        fail("%s: block (0,%d) scale_inv %r, amax/448 = %r" % (name, cb, scales[cb], want_s))
                for i, x in enumerate(rv):
                    s = scales[(i % ccols) // 128]
                    want_c = e4m3_encode(f32(x / s))
                    if codes[i] != want_c:
                        fail("%s[%d]: code 0x%02x, RNE of %r / %r is 0x%02x" % (name, i, codes[i], x, s, want_c))
                        break
                    if abs(E4M3[codes[i]] * s - x) > max(abs(x) / 16, s * 2.0 ** -10) * 1.0001:
                        fail("%s[%d]: dequantized error too large" % (name, i))
                        break
    print("values: %d F32, %d BF16, %d FP8 tensors checked (%d full FP8 blocks)%s" % (
        counts["F32"], counts["BF16"], counts["F8_E4M3"], checked_blocks,
        ", exact vs reference" if ref is not None else ""))


def main():
    args = sys.argv[1:]
    d, ref_dir, sharded, expects = None, None, None, []
    i = 0
    while i < len(args):
        a = args[i]
        if a == "--ref":
            ref_dir = args[i + 1]
            i += 2
        elif a == "--sharded":
            sharded = True
            i += 1
        elif a == "--single":
            sharded = False
            i += 1
        elif a == "--expect":
            expects.append(args[i + 1])
            i += 2
        elif d is None and not a.startswith("-"):
            d = a
            i += 1
        else:
            print(__doc__, file=sys.stderr)
            return 2
    if d is None:
        print(__doc__, file=sys.stderr)
        return 2
    check_e4m3_table()
    ck = Checkpoint(d, sharded)
    check_config(ck.cfg, expects)
    if errors:
        return 1
    exp = expected_tensors(ck.cfg)
    got = set(ck.where)
    for name in sorted(set(exp) - got):
        fail("missing tensor %s" % name)
    for name in sorted(got - set(exp)):
        fail("unexpected tensor %s" % name)
    for name in sorted(set(exp) & got):
        t = ck.info(name)
        if t["dtype"] != exp[name][0] or t["shape"] != exp[name][1]:
            fail("%s: %s %r, expected %s %r" % (name, t["dtype"], t["shape"], exp[name][0], exp[name][1]))
    if errors:
        return 1
    ref = None
    if ref_dir:
        ref = Checkpoint(ref_dir)
        if ref.cfg.get("torch_dtype") != "float32" or "quantization_config" in ref.cfg:
            fail("--ref must be an f32 checkpoint")
        for k in REQUIRED_KEYS:
            if k != "torch_dtype" and ref.cfg.get(k) != ck.cfg.get(k):
                fail("--ref config differs in %s" % k)
        if errors:
            return 1
    check_values(ck, ref, exp)
    if errors:
        print("check_synth: %d failure(s)" % len(errors), file=sys.stderr)
        return 1
    print("check_synth: OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
