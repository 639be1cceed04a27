"""dsv3_ref.py -- a float64 reference of the DeepSeek-V3-architecture forward
pass, written for readability rather than speed, from the model definition:

  * RMSNorm: x / sqrt(mean(x^2) + eps) * w.
  * MLA attention, with a q LoRA (q_a_proj -> q_a_layernorm -> q_b_proj, V3)
    or a plain q_proj (V2-Lite). kv_a_proj_with_mqa gives the kv latent
    (RMS-normalised, then expanded per head by kv_b_proj into k_nope and v)
    and one rope key shared by all heads. Computed without absorption: the
    plain per-head attention the absorbed form must equal.
  * RoPE on adjacent pairs (x[2i], x[2i+1]) of the rope channels, YaRN
    frequencies and softmax scale (rope_scaling of config.json).
  * MoE: sigmoid scores with e_score_correction_bias and group-limited top-k
    (noaux_tc, V3), or softmax scores with plain or group-limited greedy
    top-k (V2); gate weights are the unbiased scores of the chosen experts,
    optionally renormalised, times routed_scaling_factor; plus the shared
    experts. The first first_k_dense_replace layers are dense SiLU MLPs.
  * MTP: e = RMSNorm(embed(next token), enorm), h = RMSNorm(main final-norm
    hidden, hnorm), x = eh_proj [e; h], one decoder layer with its own
    attention over the MTP rows, shared_head.norm and shared_head.head.
Weights are a dict of float64 arrays with the Hugging Face names.
"""
import math

import numpy as np


def rmsnorm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def silu(x):
    return x / (1.0 + np.exp(-x))


def yarn_mscale(factor, m):
    return 0.1 * m * math.log(factor) + 1.0 if factor > 1 else 1.0


class Model:
    def __init__(self, cfg, w):
        self.c, self.w = cfg, w
        c = cfg
        self.eps = c["rms_norm_eps"]
        self.nh, self.dn, self.dr, self.dv = (c["num_attention_heads"], c["qk_nope_head_dim"],
                                              c["qk_rope_head_dim"], c["v_head_dim"])
        self.kvl = c["kv_lora_rank"]
        d, base = self.dr, c.get("rope_theta", 10000.0)
        freq = base ** (-np.arange(0, d, 2, dtype=np.float64) / d)
        self.scale = (self.dn + self.dr) ** -0.5
        self.cs_mul = 1.0
        rs = c.get("rope_scaling")
        if rs and rs.get("type", rs.get("rope_type")) == "yarn":
            f, orig = rs["factor"], rs["original_max_position_embeddings"]
            bf, bs = rs.get("beta_fast", 32), rs.get("beta_slow", 1)

            def corr(n):
                return d * math.log(orig / (n * 2 * math.pi)) / (2 * math.log(base))

            lo = max(math.floor(corr(bf)), 0)
            hi = min(math.ceil(corr(bs)), d - 1)
            if lo == hi:
                hi += 0.001
            ramp = np.clip((np.arange(d // 2) - lo) / (hi - lo), 0, 1)
            freq = freq / f * ramp + freq * (1 - ramp)
            m_all = rs.get("mscale_all_dim", 0)
            self.scale *= yarn_mscale(f, m_all) ** 2
            self.cs_mul = yarn_mscale(f, rs.get("mscale", 1)) / yarn_mscale(f, m_all)
        self.inv_freq = freq

    # -- pieces -------------------------------------------------------------

    def rope(self, x, pos):
        """x [..., T, dr], rotated pairwise by pos[t] * inv_freq."""
        ang = np.outer(pos, self.inv_freq)
        cos, sin = np.cos(ang) * self.cs_mul, np.sin(ang) * self.cs_mul
        a, b = x[..., 0::2], x[..., 1::2]
        out = np.empty_like(x)
        out[..., 0::2] = a * cos - b * sin
        out[..., 1::2] = a * sin + b * cos
        return out

    def attention(self, p, x, pos):
        w, T = self.w, x.shape[0]
        nh, dn, dr, dv, kvl = self.nh, self.dn, self.dr, self.dv, self.kvl
        if p + "self_attn.q_a_proj.weight" in w:
            qa = rmsnorm(x @ w[p + "self_attn.q_a_proj.weight"].T, w[p + "self_attn.q_a_layernorm.weight"], self.eps)
            q = qa @ w[p + "self_attn.q_b_proj.weight"].T
        else:
            q = x @ w[p + "self_attn.q_proj.weight"].T
        q = q.reshape(T, nh, dn + dr).transpose(1, 0, 2)          # [nh, T, dn+dr]
        q_nope, q_pe = q[..., :dn], self.rope(q[..., dn:], pos)
        kv = x @ w[p + "self_attn.kv_a_proj_with_mqa.weight"].T    # [T, kvl+dr]
        lat = rmsnorm(kv[:, :kvl], w[p + "self_attn.kv_a_layernorm.weight"], self.eps)
        k_pe = self.rope(kv[:, kvl:], pos)                          # [T, dr], shared by heads
        kvb = (lat @ w[p + "self_attn.kv_b_proj.weight"].T).reshape(T, nh, dn + dv).transpose(1, 0, 2)
        k_nope, v = kvb[..., :dn], kvb[..., dn:]
        s = (q_nope @ k_nope.transpose(0, 2, 1) + q_pe @ k_pe.T) * self.scale   # [nh, T, T]
        s = np.where(np.tril(np.ones((T, T), bool)), s, -np.inf)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        o = (s @ v).transpose(1, 0, 2).reshape(T, nh * dv)
        return o @ w[p + "self_attn.o_proj.weight"].T

    def mlp(self, p, x):
        w = self.w
        return (silu(x @ w[p + "gate_proj.weight"].T) * (x @ w[p + "up_proj.weight"].T)) @ w[p + "down_proj.weight"].T

    def route(self, p, xt):
        """One token: (expert ids in descending selection score, gate weights,
        the margin between the last chosen and the first rejected candidate)."""
        c, w = self.c, self.w
        logits = w[p + "mlp.gate.weight"] @ xt
        E, k = logits.shape[0], c["num_experts_per_tok"]
        if c.get("scoring_func", "softmax") == "sigmoid":
            scores = 1.0 / (1.0 + np.exp(-logits))
        else:
            scores = np.exp(logits - logits.max())
            scores /= scores.sum()
        bias = w.get(p + "mlp.gate.e_score_correction_bias")
        method = c.get("topk_method", "greedy")
        choice = scores + bias if method == "noaux_tc" else scores.copy()
        ng, kg = c.get("n_group", 1) or 1, c.get("topk_group", 1) or 1
        margin = math.inf
        if ng > 1 and method in ("noaux_tc", "group_limited_greedy"):
            g = choice.reshape(ng, E // ng)
            if method == "noaux_tc":
                gs = np.sort(g, axis=1)[:, ::-1][:, :2].sum(1)
            else:
                gs = g.max(1)
            order = np.argsort(-gs, kind="stable")
            if kg < ng:
                margin = gs[order[kg - 1]] - gs[order[kg]]
            mask = np.full(ng, True)
            mask[order[:kg]] = False
            choice = np.where(np.repeat(mask, E // ng), -np.inf, choice)
        order = np.argsort(-choice, kind="stable")
        ids = order[:k]
        if k < E and np.isfinite(choice[order[k]]):
            margin = min(margin, choice[order[k - 1]] - choice[order[k]])
        wt = scores[ids]
        if c.get("norm_topk_prob", False) and k > 1:
            wt = wt / wt.sum()
        wt = wt * c.get("routed_scaling_factor", 1.0)
        return ids, wt, margin

    def moe(self, p, x, rec):
        out = np.zeros_like(x)
        for t in range(x.shape[0]):
            ids, wt, margin = self.route(p, x[t])
            rec.append((ids, wt, margin))
            for e, g in zip(ids, wt):
                out[t] += g * self.mlp(p + "mlp.experts.%d." % e, x[t:t + 1])[0]
        if p + "mlp.shared_experts.gate_proj.weight" in self.w:
            out += self.mlp(p + "mlp.shared_experts.", x)
        return out

    def layer(self, i, x, pos, routing):
        p, w = "model.layers.%d." % i, self.w
        x = x + self.attention(p, rmsnorm(x, w[p + "input_layernorm.weight"], self.eps), pos)
        h = rmsnorm(x, w[p + "post_attention_layernorm.weight"], self.eps)
        if p + "mlp.gate.weight" in w:
            rec = []
            x = x + self.moe(p, h, rec)
            routing.append(rec)
        else:
            x = x + self.mlp(p + "mlp.", h)
        return x

    # -- whole model --------------------------------------------------------

    def forward(self, tokens):
        """Full causal forward at positions 0..T-1: (logits [T, V],
        final-norm hidden [T, H], routing [n_moe_layers][T] of (ids, weights, margin))."""
        w = self.w
        pos = np.arange(len(tokens), dtype=np.float64)
        x = w["model.embed_tokens.weight"][tokens]
        routing = []
        for i in range(self.c["num_hidden_layers"]):
            x = self.layer(i, x, pos, routing)
        h = rmsnorm(x, w["model.norm.weight"], self.eps)
        return h @ w["lm_head.weight"].T, h, routing

    def mtp(self, hidden, next_ids):
        """MTP logits [T, V]: row i from the main final-norm hidden at i and
        token next_ids[i], at rope position i."""
        L, w, eps = self.c["num_hidden_layers"], self.w, self.eps
        p = "model.layers.%d." % L
        e = rmsnorm(w[p + "embed_tokens.weight"][next_ids], w[p + "enorm.weight"], eps)
        h = rmsnorm(hidden, w[p + "hnorm.weight"], eps)
        x = np.concatenate([e, h], axis=1) @ w[p + "eh_proj.weight"].T
        routing = []
        x = self.layer(L, x, np.arange(len(next_ids), dtype=np.float64), routing)
        x = rmsnorm(x, w[p + "shared_head.norm.weight"], eps)
        return x @ w[p + "shared_head.head.weight"].T, routing
