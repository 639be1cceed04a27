"""model.py -- a DeepSeek-V3 decoder in torch, following the same math as
lib/forward.c, lib/route.c, lib/rope.c and backends/scalar/attention.c:

  x = embed(tokens)
  per layer:  h = RMSNorm(x)
              q = q_b(RMSNorm(q_a(h)))                          [T, heads, nope+rope]
              c, k_pe = split(kv_a(h)); c = RMSNorm(c)          latent + shared rope key
              rope(q_pe), rope(k_pe)                            adjacent pairs, YaRN
              k_nope, v = split(kv_b(c)) per head
              x += o_proj(softmax(scale * (q_nope.k_nope + q_pe.k_pe)) v)
              h = RMSNorm(x)
              x += dense SwiGLU(h)  or  sum_j w_j expert_j(h) + shared(h)
  logits = lm_head(RMSNorm(x))

Routing is noaux_tc: sigmoid scores; selection by score + bias; a group
scores the sum of its two best biased experts; the top topk_group groups
are kept; the top-k experts are chosen inside them; the gate weights are
the *unbiased* scores of the chosen experts, normalised to sum to 1
(norm_topk_prob) and multiplied by routed_scaling_factor. The bias is a
buffer updated outside backprop (auxiliary-loss-free balancing).

MTP (one module, layer index num_hidden_layers): row i pairs the main
model's final-norm output at i with the embedding of token i+1, and its
logits predict token i+2:
  x = eh_proj [RMSNorm(embed(t[i+1]), enorm) ; RMSNorm(h_main[i], hnorm)]
  x = decoder_layer(x);  logits = lm_head(RMSNorm(x, shared_head.norm))
(embedding and head shared with the main model).

Parameter names are the Hugging Face DeepSeek-V3 names, so state_dict()
exports directly (see export.py).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIG = {
    "architectures": ["DeepseekV3ForCausalLM"],
    "model_type": "deepseek_v3",
    "vocab_size": 4096,
    "hidden_size": 192,
    "intermediate_size": 512,
    "moe_intermediate_size": 128,
    "num_hidden_layers": 4,
    "num_nextn_predict_layers": 1,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "n_shared_experts": 1,
    "n_routed_experts": 16,
    "routed_scaling_factor": 2.5,
    "kv_lora_rank": 64,
    "q_lora_rank": 96,
    "qk_rope_head_dim": 16,
    "v_head_dim": 32,
    "qk_nope_head_dim": 32,
    "topk_method": "noaux_tc",
    "n_group": 4,
    "topk_group": 2,
    "num_experts_per_tok": 4,
    "moe_layer_freq": 1,
    "first_k_dense_replace": 1,
    "norm_topk_prob": True,
    "scoring_func": "sigmoid",
    "hidden_act": "silu",
    "max_position_embeddings": 2048,
    "rms_norm_eps": 1e-6,
    "rope_theta": 10000,
    "rope_scaling": {"beta_fast": 32, "beta_slow": 1, "factor": 4, "mscale": 1.0, "mscale_all_dim": 1.0,
                     "original_max_position_embeddings": 512, "type": "yarn"},
    "attention_bias": False,
    "attention_dropout": 0.0,
    "initializer_range": 0.02,
    "tie_word_embeddings": False,
    "use_cache": True,
    "bos_token_id": 0,
    "eos_token_id": 1,
    "torch_dtype": "bfloat16",
}


def _mscale(scale, m):
    return 1.0 if scale <= 1.0 else 0.1 * m * math.log(scale) + 1.0


def yarn_inv_freq(c):
    """lib/rope.c rope_inv_freq, in double."""
    d, base = c["qk_rope_head_dim"], float(c["rope_theta"])
    f = [base ** (-2.0 * i / d) for i in range(d // 2)]
    rs = c.get("rope_scaling")
    if not rs:
        return f
    orig = rs["original_max_position_embeddings"]
    corr = lambda n: d * math.log(orig / (n * 2 * math.pi)) / (2 * math.log(base))  # noqa: E731
    lo = max(math.floor(corr(rs.get("beta_fast", 32))), 0)
    hi = min(math.ceil(corr(rs.get("beta_slow", 1))), d - 1)
    if lo == hi:
        hi += 0.001
    out = []
    for i in range(d // 2):
        ramp = min(max((i - lo) / (hi - lo), 0.0), 1.0)
        out.append(f[i] / rs["factor"] * ramp + f[i] * (1 - ramp))
    return out


def rope_mscale(c):
    rs = c.get("rope_scaling")
    if not rs:
        return 1.0
    return _mscale(rs["factor"], rs.get("mscale", 1)) / _mscale(rs["factor"], rs.get("mscale_all_dim", 0))


def softmax_scale(c):
    s = 1.0 / math.sqrt(c["qk_nope_head_dim"] + c["qk_rope_head_dim"])
    rs = c.get("rope_scaling")
    if rs and rs.get("mscale_all_dim", 0):
        m = _mscale(rs["factor"], rs["mscale_all_dim"])
        s *= m * m
    return s


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope(x, cos, sin):
    """Rotate adjacent pairs (x[2i], x[2i+1]) by angle i; x [..., T, heads?, d]."""
    a, b = x[..., 0::2], x[..., 1::2]
    return torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1).flatten(-2)


class MLP(nn.Module):
    def __init__(self, hidden, inter):
        super().__init__()
        self.gate_proj = nn.Linear(hidden, inter, bias=False)
        self.up_proj = nn.Linear(hidden, inter, bias=False)
        self.down_proj = nn.Linear(inter, hidden, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        H, self.nh = c["hidden_size"], c["num_attention_heads"]
        self.dn, self.dr, self.dv = c["qk_nope_head_dim"], c["qk_rope_head_dim"], c["v_head_dim"]
        self.kvl, ql, eps = c["kv_lora_rank"], c["q_lora_rank"], c["rms_norm_eps"]
        self.q_a_proj = nn.Linear(H, ql, bias=False)
        self.q_a_layernorm = RMSNorm(ql, eps)
        self.q_b_proj = nn.Linear(ql, self.nh * (self.dn + self.dr), bias=False)
        self.kv_a_proj_with_mqa = nn.Linear(H, self.kvl + self.dr, bias=False)
        self.kv_a_layernorm = RMSNorm(self.kvl, eps)
        self.kv_b_proj = nn.Linear(self.kvl, self.nh * (self.dn + self.dv), bias=False)
        self.o_proj = nn.Linear(self.nh * self.dv, H, bias=False)
        self.scale = softmax_scale(c)

    def forward(self, h, cos, sin, mask):
        B, T, _ = h.shape
        q = self.q_b_proj(self.q_a_layernorm(self.q_a_proj(h))).view(B, T, self.nh, self.dn + self.dr)
        q_nope, q_pe = q[..., :self.dn], rope(q[..., self.dn:], cos[:, None], sin[:, None])
        kv = self.kv_a_proj_with_mqa(h)
        c_kv, k_pe = self.kv_a_layernorm(kv[..., :self.kvl]), rope(kv[..., self.kvl:], cos, sin)
        kv = self.kv_b_proj(c_kv).view(B, T, self.nh, self.dn + self.dv)
        k_nope, v = kv[..., :self.dn], kv[..., self.dn:]
        qq = torch.cat((q_nope, q_pe), -1).transpose(1, 2)                       # B nh T d
        kk = torch.cat((k_nope, k_pe[:, :, None].expand(B, T, self.nh, self.dr)), -1).transpose(1, 2)
        s = (qq @ kk.transpose(-1, -2)) * self.scale + mask
        o = torch.softmax(s, -1) @ v.transpose(1, 2)                              # B nh T dv
        return self.o_proj(o.transpose(1, 2).reshape(B, T, self.nh * self.dv))


class Gate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.E, self.k = c["n_routed_experts"], c["num_experts_per_tok"]
        self.G, self.kg = c["n_group"], c["topk_group"]
        self.scale, self.norm = c["routed_scaling_factor"], c["norm_topk_prob"]
        self.weight = nn.Parameter(torch.empty(self.E, c["hidden_size"]))
        self.register_buffer("e_score_correction_bias", torch.zeros(self.E))

    def forward(self, x):
        """x [N, H] -> ids [N, k] (descending selection score), weights [N, k]."""
        scores = torch.sigmoid(F.linear(x, self.weight))
        with torch.no_grad():
            sel = scores + self.e_score_correction_bias
            N = sel.shape[0]
            g = sel.view(N, self.G, -1).topk(2, dim=-1).values.sum(-1)
            keep = torch.zeros_like(g).scatter_(1, g.topk(self.kg, dim=-1).indices, 1.0)
            keep = keep.repeat_interleave(self.E // self.G, dim=1)
            ids = sel.masked_fill(keep == 0, float("-inf")).topk(self.k, dim=-1).indices
        w = scores.gather(1, ids)
        if self.norm and self.k > 1:
            w = w / (w.sum(-1, keepdim=True) + 1e-20)
        return ids, w * self.scale


class MoE(nn.Module):
    def __init__(self, c):
        super().__init__()
        H, I = c["hidden_size"], c["moe_intermediate_size"]
        self.gate = Gate(c)
        self.experts = nn.ModuleList(MLP(H, I) for _ in range(c["n_routed_experts"]))
        self.shared_experts = MLP(H, I * c["n_shared_experts"])
        self.last_load = None  # tokens routed to each expert in the last forward

    def forward(self, x):
        shape = x.shape
        x = x.reshape(-1, shape[-1])
        ids, w = self.gate(x)
        flat = ids.reshape(-1)
        order = torch.argsort(flat, stable=True)
        counts = torch.bincount(flat, minlength=len(self.experts))
        self.last_load = counts.detach()
        tok = order // ids.shape[1]
        wt = w.reshape(-1)[order]
        out = self.shared_experts(x)
        at = 0
        for e, n in enumerate(counts.tolist()):
            if n:
                rows = tok[at:at + n]
                y = self.experts[e](x.index_select(0, rows)) * wt[at:at + n, None]
                out = out.index_add(0, rows, y)
            at += n
        return out.view(shape)


class Layer(nn.Module):
    def __init__(self, c, moe):
        super().__init__()
        self.input_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.self_attn = Attention(c)
        self.post_attention_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.mlp = MoE(c) if moe else MLP(c["hidden_size"], c["intermediate_size"])

    def forward(self, x, cos, sin, mask):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class MTPLayer(Layer):
    def __init__(self, c):
        super().__init__(c, True)
        H, eps = c["hidden_size"], c["rms_norm_eps"]
        self.enorm, self.hnorm = RMSNorm(H, eps), RMSNorm(H, eps)
        self.eh_proj = nn.Linear(2 * H, H, bias=False)
        self.shared_head = nn.Module()
        self.shared_head.norm = RMSNorm(H, eps)


class Inner(nn.Module):
    def __init__(self, c):
        super().__init__()
        L = c["num_hidden_layers"]
        self.embed_tokens = nn.Embedding(c["vocab_size"], c["hidden_size"])
        layers = [Layer(c, i >= c["first_k_dense_replace"] and i % c["moe_layer_freq"] == 0) for i in range(L)]
        layers += [MTPLayer(c) for _ in range(c["num_nextn_predict_layers"])]
        self.layers = nn.ModuleList(layers)
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])


class DeepseekV3(nn.Module):
    def __init__(self, c=CONFIG):
        super().__init__()
        self.c = c
        self.model = Inner(c)
        self.lm_head = nn.Linear(c["hidden_size"], c["vocab_size"], bias=False)
        self.register_buffer("inv_freq", torch.tensor(yarn_inv_freq(c), dtype=torch.float64), persistent=False)
        self.mscale = rope_mscale(c)
        self.reset_parameters()

    def reset_parameters(self):
        std = self.c["initializer_range"]
        for name, p in self.named_parameters():
            if name.endswith("norm.weight") or "layernorm" in name:
                nn.init.ones_(p)
            else:
                nn.init.normal_(p, 0.0, std)

    def rope_tables(self, T, device, dtype):
        a = torch.arange(T, dtype=torch.float64, device=device)[:, None] * self.inv_freq[None].to(device)
        return (torch.cos(a) * self.mscale).to(dtype), (torch.sin(a) * self.mscale).to(dtype)

    @property
    def moe_modules(self):
        return [l.mlp for l in self.model.layers if isinstance(l.mlp, MoE)]

    def forward(self, tokens, mtp=False):
        """tokens [B, T] -> main logits [B, T, V] (and, with mtp, the MTP
        logits [B, T-1, V]: row i predicts token i+2, input token i+1)."""
        c = self.c
        B, T = tokens.shape
        dt = self.lm_head.weight.dtype
        cos, sin = self.rope_tables(T, tokens.device, dt)
        mask = torch.full((T, T), float("-inf"), dtype=dt, device=tokens.device).triu(1)
        x = self.model.embed_tokens(tokens)
        L = c["num_hidden_layers"]
        for layer in self.model.layers[:L]:
            x = layer(x, cos, sin, mask)
        h = self.model.norm(x)
        logits = self.lm_head(h)
        if not mtp:
            return logits
        m = self.model.layers[L]
        n = T - 1
        e = m.enorm(self.model.embed_tokens(tokens[:, 1:]))
        x = m.eh_proj(torch.cat((e, m.hnorm(h[:, :n])), -1))
        x = m(x, cos[:n], sin[:n], mask[:n, :n])
        return logits, self.lm_head(m.shared_head.norm(x))

    def mtp_from_hidden(self, h, next_ids):
        """The MTP block on given final-norm hidden states [B, n, H] and next
        tokens [B, n] (for the export check, where the last next token is the
        main model's argmax)."""
        L = self.c["num_hidden_layers"]
        m = self.model.layers[L]
        n = h.shape[1]
        cos, sin = self.rope_tables(n, h.device, h.dtype)
        mask = torch.full((n, n), float("-inf"), dtype=h.dtype, device=h.device).triu(1)
        x = m.eh_proj(torch.cat((m.enorm(self.model.embed_tokens(next_ids)), m.hnorm(h)), -1))
        return self.lm_head(m.shared_head.norm(m(x, cos, sin, mask)))

    def hidden(self, tokens):
        B, T = tokens.shape
        dt = self.lm_head.weight.dtype
        cos, sin = self.rope_tables(T, tokens.device, dt)
        mask = torch.full((T, T), float("-inf"), dtype=dt, device=tokens.device).triu(1)
        x = self.model.embed_tokens(tokens)
        for layer in self.model.layers[:self.c["num_hidden_layers"]]:
            x = layer(x, cos, sin, mask)
        return self.model.norm(x)
