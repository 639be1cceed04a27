/* cmd_synth.c -- `dsv3 synth`: write a random-weight checkpoint in the exact
 * Hugging Face DeepSeek-V3 layout (config.json plus model.safetensors, or
 * shards plus model.safetensors.index.json).
 *
 * Why: a fresh clone has no multi-hundred-GB download, yet tests and
 * benchmarks want something real-shaped: the same tensor names, shapes and
 * stored types (F32, BF16, or F8_E4M3 with 128x128 block scales) as the
 * official releases, at full layer width if asked (--shape v3 --layers 2
 * builds two real-size V3 layers on a laptop).
 *
 * Values are reproducible on every machine: each tensor draws from its own
 * xoshiro256** stream seeded by (seed, tensor index), where the index counts
 * logical tensors only (not the FP8 *_scale_inv companions). So the same
 * seed gives the same underlying f32 values whatever the dtype: a BF16 file
 * is exactly the round-to-nearest-even of the F32 file, and an FP8 file is
 * its block quantization, which tests/check_synth.py verifies.
 *
 * Memory stays bounded: tensors are generated and written 128 rows at a
 * time (the FP8 block height), so peak use is a few buffers of
 * 128 x (widest row) plus the tensor list, whatever the model size. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <unistd.h>

#include "cli.h"
#include "options.h"
#include "synth.h"

/* ---- model shapes ------------------------------------------------------ */

struct shape {
    const char *name;
    const char *arch;        /* "architectures"[0]                       */
    const char *model_type;
    int vocab, hidden, inter, moe_inter, layers, heads;
    int q_lora;              /* 0 = no q compression (plain q_proj)      */
    int kv_lora, nope, rope, vdim, dense;
    int experts, shared, topk, n_group, topk_group;
    const char *topk_method, *scoring;
    int norm_topk;
    double scale, theta;
    int yarn;                /* 0: "rope_scaling": null                  */
    double yarn_factor, mscale, mscale_all;
    int beta_fast, beta_slow, yarn_orig;
    int max_pos, mtp, bos, eos;
};

/* The values of the official config.json files. */
static const struct shape SHAPES[] = {
    {.name = "tiny", .arch = "DeepseekV3ForCausalLM", .model_type = "deepseek_v3",
     .vocab = 1024, .hidden = 256, .inter = 512, .moe_inter = 64, .layers = 4,
     .heads = 4, .q_lora = 96, .kv_lora = 64, .nope = 32, .rope = 16, .vdim = 32,
     .dense = 1, .experts = 16, .shared = 1, .topk = 4, .n_group = 4,
     .topk_group = 2, .topk_method = "noaux_tc", .scoring = "sigmoid",
     .norm_topk = 1, .scale = 2.5, .theta = 10000, .yarn = 1,
     .yarn_factor = 40, .mscale = 1.0, .mscale_all = 1.0, .beta_fast = 32,
     .beta_slow = 1, .yarn_orig = 4096, .max_pos = 163840, .mtp = 1, .bos = 0,
     .eos = 1},
    {.name = "v2-lite", .arch = "DeepseekV2ForCausalLM", .model_type = "deepseek_v2",
     .vocab = 102400, .hidden = 2048, .inter = 10944, .moe_inter = 1408,
     .layers = 27, .heads = 16, .q_lora = 0, .kv_lora = 512, .nope = 128,
     .rope = 64, .vdim = 128, .dense = 1, .experts = 64, .shared = 2, .topk = 6,
     .n_group = 1, .topk_group = 1, .topk_method = "greedy",
     .scoring = "softmax", .norm_topk = 0, .scale = 1.0, .theta = 10000,
     .yarn = 1, .yarn_factor = 40, .mscale = 0.707, .mscale_all = 0.707,
     .beta_fast = 32, .beta_slow = 1, .yarn_orig = 4096, .max_pos = 163840,
     .mtp = 0, .bos = 100000, .eos = 100001},
    {.name = "v3", .arch = "DeepseekV3ForCausalLM", .model_type = "deepseek_v3",
     .vocab = 129280, .hidden = 7168, .inter = 18432, .moe_inter = 2048,
     .layers = 61, .heads = 128, .q_lora = 1536, .kv_lora = 512, .nope = 128,
     .rope = 64, .vdim = 128, .dense = 3, .experts = 256, .shared = 1,
     .topk = 8, .n_group = 8, .topk_group = 4, .topk_method = "noaux_tc",
     .scoring = "sigmoid", .norm_topk = 1, .scale = 2.5, .theta = 10000,
     .yarn = 1, .yarn_factor = 40, .mscale = 1.0, .mscale_all = 1.0,
     .beta_fast = 32, .beta_slow = 1, .yarn_orig = 4096, .max_pos = 163840,
     .mtp = 1, .bos = 0, .eos = 1},
    {.name = "k2", .arch = "DeepseekV3ForCausalLM", .model_type = "deepseek_v3",
     .vocab = 163840, .hidden = 7168, .inter = 18432, .moe_inter = 2048,
     .layers = 61, .heads = 64, .q_lora = 1536, .kv_lora = 512, .nope = 128,
     .rope = 64, .vdim = 128, .dense = 1, .experts = 384, .shared = 1,
     .topk = 8, .n_group = 1, .topk_group = 1, .topk_method = "noaux_tc",
     .scoring = "sigmoid", .norm_topk = 1, .scale = 2.827, .theta = 50000,
     .yarn = 1, .yarn_factor = 32, .mscale = 1.0, .mscale_all = 1.0,
     .beta_fast = 32, .beta_slow = 1, .yarn_orig = 4096, .max_pos = 131072,
     .mtp = 0, .bos = 163584, .eos = 163585},
    {.name = "moonlight", .arch = "DeepseekV3ForCausalLM", .model_type = "deepseek_v3",
     .vocab = 163840, .hidden = 2048, .inter = 11264, .moe_inter = 1408,
     .layers = 27, .heads = 16, .q_lora = 0, .kv_lora = 512, .nope = 128,
     .rope = 64, .vdim = 128, .dense = 1, .experts = 64, .shared = 2, .topk = 6,
     .n_group = 1, .topk_group = 1, .topk_method = "noaux_tc",
     .scoring = "sigmoid", .norm_topk = 1, .scale = 2.446, .theta = 50000,
     .yarn = 0, .max_pos = 8192, .mtp = 0, .bos = 163584, .eos = 163585},
};

/* ---- number formats ----------------------------------------------------- */

enum dtype { DT_F32, DT_BF16, DT_F8 };

static const char *dtype_name(enum dtype d) {
    return d == DT_F32 ? "F32" : d == DT_BF16 ? "BF16" : "F8_E4M3";
}

static unsigned dtype_size(enum dtype d) {
    return d == DT_F32 ? 4u : d == DT_BF16 ? 2u : 1u;
}

static uint32_t f32_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static float bits_f32(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* BF16 is the top half of an f32; round to nearest, ties to even, by adding
 * 0x7FFF plus the lowest kept bit. NaN is kept quiet (the add could carry it
 * into infinity). */
static uint16_t f32_to_bf16(float x) {
    uint32_t u = f32_bits(x);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 0x40u);
    return (uint16_t)((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

/* E4M3FN: sign, 4 exponent bits (bias 7), 3 mantissa bits; exponent field 0
 * is subnormal (m * 2^-9); no infinities; S.1111.111 is NaN; max 448. */
static float e4m3_to_f32(uint8_t c) {
    int e = (c >> 3) & 15, m = c & 7;
    float v;
    if ((c & 0x7F) == 0x7F) return NAN;
    if (e == 0) v = ldexpf((float)m, -9);
    else v = ldexpf((float)(8 + m), e - 10);
    return (c & 0x80) ? -v : v;
}

/* Round-to-nearest-even to E4M3FN, saturating to +-448 (there is no
 * infinity to overflow to, and block scaling keeps |x| <= 448 up to one
 * rounding of the division). */
static uint8_t f32_to_e4m3(float x) {
    uint32_t u = f32_bits(x);
    uint8_t sign = (uint8_t)((u >> 24) & 0x80u);
    uint32_t a = u & 0x7FFFFFFFu;
    if (a > 0x7F800000u) return (uint8_t)(sign | 0x7F);   /* NaN */
    if (a >= 0x43E00000u) return (uint8_t)(sign | 0x7E);  /* >= 448 */
    if (a < 0x3C800000u) {
        /* Below 2^-6 the grid is uniform (steps of 2^-9): the code is the
         * multiple of 2^-9, rounded to even. a * 512 is exact; lrintf
         * rounds to nearest even in the default rounding mode. A result
         * of 8 is the smallest normal, whose code is also 8. */
        long q = lrintf(bits_f32(a) * 512.0f);
        return (uint8_t)(sign | (uint8_t)q);
    }
    /* Normal: drop 20 of the 23 mantissa bits with round-to-nearest-even
     * on the raw bits (a carry correctly bumps the exponent), then rebias
     * the exponent from 127 to 7. */
    uint32_t r = (a + 0x7FFFFu + ((a >> 20) & 1u)) >> 20;
    uint32_t code = r - (120u << 3);
    if (code > 0x7E) code = 0x7E;
    return (uint8_t)(sign | code);
}

/* Prove the encoder on every code: each finite code round-trips, every
 * midpoint between neighbours goes to the even code, the floats just
 * either side of it go to the nearer code, and out-of-range inputs
 * saturate. Cheap, so it runs before every FP8 write. */
static int e4m3_self_test(void) {
    int bad = 0;
    for (int c = 0; c < 256; c++) {
        if ((c & 0x7F) == 0x7F) continue;
        if (f32_to_e4m3(e4m3_to_f32((uint8_t)c)) != c) bad++;
    }
    for (int c = 0; c < 0x7E; c++) {
        float lo = e4m3_to_f32((uint8_t)c), hi = e4m3_to_f32((uint8_t)(c + 1));
        float mid = (lo + hi) * 0.5f; /* exact: at most 5 significant bits */
        int even = (c & 1) ? c + 1 : c;
        if (f32_to_e4m3(mid) != even) bad++;
        if (f32_to_e4m3(nextafterf(mid, 0.0f)) != c) bad++;
        if (f32_to_e4m3(nextafterf(mid, 1000.0f)) != c + 1) bad++;
        if (f32_to_e4m3(-mid) != (even | 0x80)) bad++;
    }
    if (f32_to_e4m3(448.0f) != 0x7E || f32_to_e4m3(449.0f) != 0x7E ||
        f32_to_e4m3(1e30f) != 0x7E || f32_to_e4m3(-INFINITY) != 0xFE ||
        (f32_to_e4m3(NAN) & 0x7F) != 0x7F || f32_to_e4m3(1e-30f) != 0 ||
        e4m3_to_f32(0x01) != 0x1p-9f || e4m3_to_f32(0x08) != 0x1p-6f)
        bad++;
    return bad;
}

/* ---- random numbers ---------------------------------------------------- */

/* xoshiro256** seeded through splitmix64: fast, and the same stream on
 * every platform (unlike rand()). */
struct rng {
    uint64_t s[4];
    uint32_t spare;   /* second 24-bit half of the last draw */
    int has_spare;
};

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t xoshiro_next(struct rng *r) {
    uint64_t *s = r->s;
    uint64_t out = rotl64(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return out;
}

/* One independent stream per (seed, tensor index). */
static void rng_init(struct rng *r, uint64_t seed, uint64_t index) {
    uint64_t x = seed;
    x = splitmix64(&x) ^ (index * 0xD1B54A32D192ED03ull);
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
    r->has_spare = 0;
    r->spare = 0;
}

/* Uniform in (-1, 1), symmetric, never 0: (2k+1)/2^24 - 1 for a 24-bit k,
 * computed exactly (an odd integer below 2^24 times a power of two), so the
 * result does not depend on the compiler's float evaluation. Each 64-bit
 * draw yields two values; the spare half is kept in the state so the
 * stream does not depend on how callers chunk it. */
static float rng_sym(struct rng *r) {
    uint32_t k;
    if (r->has_spare) {
        k = r->spare;
        r->has_spare = 0;
    } else {
        uint64_t x = xoshiro_next(r);
        k = (uint32_t)(x >> 40);
        r->spare = (uint32_t)(x >> 8) & 0xFFFFFFu;
        r->has_spare = 1;
    }
    return (float)((int32_t)(2 * k) - 16777215) * 0x1p-24f;
}

/* ---- tensor list --------------------------------------------------------- */

enum kind {
    K_UNIFORM,  /* uniform in [-amp, amp]: linear weights, embeddings      */
    K_NORM,     /* 1 + uniform in [-0.05, 0.05]                            */
    K_BIAS,     /* uniform in [-0.05, 0.05]                                */
    K_SCALE     /* FP8 *_scale_inv of the tensor just before it            */
};

#define NAME_MAX_LEN 112

struct tensor {
    char name[NAME_MAX_LEN];
    int64_t rows, cols;   /* 1-D tensors: rows 0 (shape [cols])            */
    float amp;            /* K_UNIFORM half-width                          */
    uint8_t dtype, kind;
    uint64_t gen;         /* stream index (logical tensors only)           */
    uint64_t nbytes;
    uint32_t shard;
    uint64_t off;         /* data offset within its shard                  */
};

struct tlist {
    struct tensor *v;
    size_t n, cap;
    uint64_t ngen;
    enum dtype mode;
    int oom;
};

/* snprintf for tensor names through a va_list, so the compiler does not
 * flag the (impossible: names are < 80 bytes) truncation; tl_push rejects
 * a name that fills the buffer anyway. */
static void fmt_name(char *buf, size_t size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, size, fmt, ap);
    va_end(ap);
}

static struct tensor *tl_push(struct tlist *tl, const char *name, int64_t rows,
                              int64_t cols, enum dtype dt, enum kind k, float amp) {
    if (tl->oom) return NULL;
    if (strlen(name) >= NAME_MAX_LEN - 1) { tl->oom = 1; return NULL; }
    if (tl->n == tl->cap) {
        size_t nc = tl->cap ? tl->cap * 2 : 1024;
        struct tensor *nv = realloc(tl->v, nc * sizeof *nv);
        if (!nv) { tl->oom = 1; return NULL; }
        tl->v = nv;
        tl->cap = nc;
    }
    struct tensor *t = &tl->v[tl->n++];
    memset(t, 0, sizeof *t);
    memcpy(t->name, name, strlen(name) + 1);
    t->rows = rows;
    t->cols = cols;
    t->dtype = (uint8_t)dt;
    t->kind = (uint8_t)k;
    t->amp = amp;
    t->gen = k == K_SCALE ? UINT64_MAX : tl->ngen++;
    t->nbytes = (uint64_t)(rows ? rows : 1) * (uint64_t)cols * dtype_size(dt);
    return t;
}

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

/* A weight [out, in] of a linear layer: std 1/sqrt(in) keeps activations
 * O(1). quantizable: FP8 in fp8 mode (with its block scales); otherwise
 * the mode's type, BF16 for fp8 mode. */
static void add_linear(struct tlist *tl, const char *name, int64_t out, int64_t in,
                       int quantizable) {
    float amp = (float)sqrt(3.0 / (double)in);
    enum dtype dt = tl->mode == DT_F32 ? DT_F32 : (tl->mode == DT_F8 && quantizable) ? DT_F8 : DT_BF16;
    tl_push(tl, name, out, in, dt, K_UNIFORM, amp);
    if (dt == DT_F8) {
        char sname[NAME_MAX_LEN + 16];
        fmt_name(sname, sizeof sname, "%s_scale_inv", name);
        tl_push(tl, sname, ceil_div(out, 128), ceil_div(in, 128), DT_F32, K_SCALE, 0);
    }
}

static void add_embed(struct tlist *tl, const char *name, int64_t vocab, int64_t hidden) {
    tl_push(tl, name, vocab, hidden, tl->mode == DT_F32 ? DT_F32 : DT_BF16, K_UNIFORM,
            (float)sqrt(3.0)); /* std 1 */
}

static void add_norm(struct tlist *tl, const char *name, int64_t n) {
    tl_push(tl, name, 0, n, tl->mode == DT_F32 ? DT_F32 : DT_BF16, K_NORM, 0);
}

/* "model.layers.<i>.<suffix>" */
static const char *lname(char *buf, size_t size, int layer, const char *suffix) {
    fmt_name(buf, size, "model.layers.%d.%s", layer, suffix);
    return buf;
}

static void add_mlp3(struct tlist *tl, const char *prefix, int64_t hidden, int64_t inter) {
    char b[NAME_MAX_LEN];
    fmt_name(b, sizeof b, "%s.gate_proj.weight", prefix);
    add_linear(tl, b, inter, hidden, 1);
    fmt_name(b, sizeof b, "%s.up_proj.weight", prefix);
    add_linear(tl, b, inter, hidden, 1);
    fmt_name(b, sizeof b, "%s.down_proj.weight", prefix);
    add_linear(tl, b, hidden, inter, 1);
}

static void add_decoder_layer(struct tlist *tl, const struct shape *s, int i, int moe) {
    char b[NAME_MAX_LEN], p[NAME_MAX_LEN];
    int64_t H = s->hidden, qk = s->nope + s->rope;
    add_norm(tl, lname(b, sizeof b, i, "input_layernorm.weight"), H);
    if (s->q_lora) {
        add_linear(tl, lname(b, sizeof b, i, "self_attn.q_a_proj.weight"), s->q_lora, H, 1);
        add_norm(tl, lname(b, sizeof b, i, "self_attn.q_a_layernorm.weight"), s->q_lora);
        add_linear(tl, lname(b, sizeof b, i, "self_attn.q_b_proj.weight"),
                   (int64_t)s->heads * qk, s->q_lora, 1);
    } else {
        add_linear(tl, lname(b, sizeof b, i, "self_attn.q_proj.weight"),
                   (int64_t)s->heads * qk, H, 1);
    }
    add_linear(tl, lname(b, sizeof b, i, "self_attn.kv_a_proj_with_mqa.weight"),
               s->kv_lora + s->rope, H, 1);
    add_norm(tl, lname(b, sizeof b, i, "self_attn.kv_a_layernorm.weight"), s->kv_lora);
    add_linear(tl, lname(b, sizeof b, i, "self_attn.kv_b_proj.weight"),
               (int64_t)s->heads * (s->nope + s->vdim), s->kv_lora, 1);
    add_linear(tl, lname(b, sizeof b, i, "self_attn.o_proj.weight"), H,
               (int64_t)s->heads * s->vdim, 1);
    add_norm(tl, lname(b, sizeof b, i, "post_attention_layernorm.weight"), H);
    if (!moe) {
        add_mlp3(tl, lname(p, sizeof p, i, "mlp"), H, s->inter);
        return;
    }
    add_linear(tl, lname(b, sizeof b, i, "mlp.gate.weight"), s->experts, H, 0);
    if (!strcmp(s->topk_method, "noaux_tc"))
        tl_push(tl, lname(b, sizeof b, i, "mlp.gate.e_score_correction_bias"), 0,
                s->experts, DT_F32, K_BIAS, 0);
    for (int e = 0; e < s->experts; e++) {
        char sub[48];
        fmt_name(sub, sizeof sub, "mlp.experts.%d", e);
        add_mlp3(tl, lname(p, sizeof p, i, sub), H, s->moe_inter);
    }
    if (s->shared)
        add_mlp3(tl, lname(p, sizeof p, i, "mlp.shared_experts"), H,
                 (int64_t)s->shared * s->moe_inter);
}

static void build_tensors(struct tlist *tl, const struct shape *s) {
    char b[NAME_MAX_LEN];
    add_embed(tl, "model.embed_tokens.weight", s->vocab, s->hidden);
    for (int i = 0; i < s->layers; i++) add_decoder_layer(tl, s, i, i >= s->dense);
    for (int j = 0; j < s->mtp; j++) {
        int i = s->layers + j;
        add_embed(tl, lname(b, sizeof b, i, "embed_tokens.weight"), s->vocab, s->hidden);
        add_norm(tl, lname(b, sizeof b, i, "enorm.weight"), s->hidden);
        add_norm(tl, lname(b, sizeof b, i, "hnorm.weight"), s->hidden);
        add_linear(tl, lname(b, sizeof b, i, "eh_proj.weight"), s->hidden, 2 * (int64_t)s->hidden, 0);
        add_decoder_layer(tl, s, i, 1);
        add_norm(tl, lname(b, sizeof b, i, "shared_head.norm.weight"), s->hidden);
        add_linear(tl, lname(b, sizeof b, i, "shared_head.head.weight"), s->vocab, s->hidden, 0);
    }
    add_norm(tl, "model.norm.weight", s->hidden);
    add_linear(tl, "lm_head.weight", s->vocab, s->hidden, 0);
}

/* ---- growable string --------------------------------------------------- */

struct sb {
    char *p;
    size_t n, cap;
    int oom;
};

static void sb_printf(struct sb *b, const char *fmt, ...) {
    va_list ap;
    if (b->oom) return;
    va_start(ap, fmt);
    int k = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (k < 0) { b->oom = 1; return; }
    if (b->n + (size_t)k + 1 > b->cap) {
        size_t nc = b->cap ? b->cap : 4096;
        while (nc < b->n + (size_t)k + 1) nc *= 2;
        char *np = realloc(b->p, nc);
        if (!np) { b->oom = 1; return; }
        b->p = np;
        b->cap = nc;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->n, (size_t)k + 1, fmt, ap);
    va_end(ap);
    b->n += (size_t)k;
}

/* Shortest text that reads back as v; with as_float, integral values get a
 * ".0" (so 1.0 stays a float, as in the official configs). */
static const char *fmt_num(char out[40], double v, int as_float) {
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(out, 40, "%.0f", v); /* 40, not 4e+01 */
    } else {
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(out, 40, "%.*g", prec, v);
            if (strtod(out, NULL) == v) break;
        }
    }
    if (as_float && !strpbrk(out, ".eEn")) strcat(out, ".0");
    return out;
}

/* ---- files --------------------------------------------------------------- */

/* mkdir -p: create each missing component; existing directories are fine. */
static int mkdir_p(const char *path) {
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) { errno = ENAMETOOLONG; return -1; }
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
        buf[i] = c;
    }
    struct stat st;
    if (stat(path, &st) != 0) return -1;
    if (!S_ISDIR(st.st_mode)) { errno = ENOTDIR; return -1; }
    return 0;
}

static int join(char *out, size_t size, const char *dir, const char *name) {
    int k = snprintf(out, size, "%s/%s", dir, name);
    return k < 0 || (size_t)k >= size ? -1 : 0;
}

/* Write a small file via NAME.tmp + rename, so a crash never leaves a
 * half-written file under the real name. */
static int write_small_file(const char *dir, const char *name, const char *data, size_t len) {
    char path[4200], tmp[4300];
    if (join(path, sizeof path, dir, name) || snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        fprintf(stderr, "dsv3 synth: path too long\n");
        return -1;
    }
    FILE *f = fopen(tmp, "wb");
    if (!f) { fprintf(stderr, "dsv3 synth: %s: %s\n", tmp, strerror(errno)); return -1; }
    size_t w = fwrite(data, 1, len, f);
    int bad = w != len;
    if (fclose(f) != 0) bad = 1;
    if (bad || rename(tmp, path) != 0) {
        fprintf(stderr, "dsv3 synth: writing %s: %s\n", path, strerror(errno));
        remove(tmp);
        return -1;
    }
    return 0;
}

/* ---- writing tensors ------------------------------------------------------ */

#define BLOCK 128 /* FP8 block edge, and the rows generated at a time */

struct writer {
    uint64_t seed;
    float *fbuf;         /* BLOCK x max_cols f32 values                  */
    uint8_t *obuf;       /* the same, encoded                            */
    float *scales;       /* block scales of the current FP8 tensor        */
    size_t scales_cap;
    uint64_t done, total;
    int last_pct, show_pct;
    uint8_t *mem;        /* FILE NULL: bytes go here (the GGUF path)      */
    size_t mem_at;
};

static void store_le32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static int put(struct writer *w, FILE *f, const void *p, size_t n) {
    if (!f) {
        memcpy(w->mem + w->mem_at, p, n);
        w->mem_at += n;
        return 0;
    }
    if (fwrite(p, 1, n, f) != n) return -1;
    w->done += n;
    if (w->show_pct && w->total) {
        int pct = (int)(w->done * 100 / w->total);
        if (pct / 10 > w->last_pct / 10) {
            fprintf(stderr, "dsv3 synth: %3d%% (%.2f of %.2f GiB)\n", pct,
                    (double)w->done / 1073741824.0, (double)w->total / 1073741824.0);
        }
        w->last_pct = pct;
    }
    return 0;
}

/* Fill n values of a tensor, continuing its stream. */
static void gen_values(struct rng *r, const struct tensor *t, float *out, size_t n) {
    switch (t->kind) {
    case K_UNIFORM:
        for (size_t i = 0; i < n; i++) out[i] = rng_sym(r) * t->amp;
        break;
    case K_NORM:
        for (size_t i = 0; i < n; i++) {
            /* Two statements: no fused multiply-add, so every compiler
             * produces the same bits. */
            float d = rng_sym(r) * 0.05f;
            out[i] = 1.0f + d;
        }
        break;
    default: /* K_BIAS */
        for (size_t i = 0; i < n; i++) out[i] = rng_sym(r) * 0.05f;
        break;
    }
}

/* Quantize rb x cols values (row block number rblk) to FP8 in 128-column
 * blocks, recording each block's scale_inv = amax / 448. */
static void quantize_rows(struct writer *w, const float *v, uint8_t *q, int64_t rb,
                          int64_t cols, int64_t rblk) {
    int64_t ncb = ceil_div(cols, BLOCK);
    for (int64_t cb = 0; cb < ncb; cb++) {
        int64_t c0 = cb * BLOCK, c1 = c0 + BLOCK < cols ? c0 + BLOCK : cols;
        float amax = 0.0f;
        for (int64_t r = 0; r < rb; r++)
            for (int64_t c = c0; c < c1; c++) {
                float a = fabsf(v[r * cols + c]);
                if (a > amax) amax = a;
            }
        float sc = amax > 0.0f ? amax / 448.0f : 1.0f;
        w->scales[rblk * ncb + cb] = sc;
        for (int64_t r = 0; r < rb; r++)
            for (int64_t c = c0; c < c1; c++) q[r * cols + c] = f32_to_e4m3(v[r * cols + c] / sc);
    }
}

/* Generate and write one tensor (and, for FP8, its scale tensor, which
 * must follow it). Returns the number of tensors consumed, or -1. */
static int write_tensor(struct writer *w, FILE *f, const struct tensor *t) {
    struct rng r;
    int64_t rows = t->rows ? t->rows : 1, cols = t->cols;
    rng_init(&r, w->seed, t->gen);
    if (t->dtype == DT_F8) {
        size_t need = (size_t)(ceil_div(rows, BLOCK) * ceil_div(cols, BLOCK));
        if (need > w->scales_cap) {
            float *ns = realloc(w->scales, need * sizeof *ns);
            if (!ns) { fprintf(stderr, "dsv3 synth: out of memory\n"); return -1; }
            w->scales = ns;
            w->scales_cap = need;
        }
    }
    for (int64_t r0 = 0; r0 < rows; r0 += BLOCK) {
        int64_t rb = rows - r0 < BLOCK ? rows - r0 : BLOCK;
        size_t n = (size_t)(rb * cols);
        gen_values(&r, t, w->fbuf, n);
        size_t nbytes;
        switch (t->dtype) {
        case DT_F32:
            for (size_t i = 0; i < n; i++) store_le32(w->obuf + 4 * i, f32_bits(w->fbuf[i]));
            nbytes = 4 * n;
            break;
        case DT_BF16:
            for (size_t i = 0; i < n; i++) {
                uint16_t h = f32_to_bf16(w->fbuf[i]);
                w->obuf[2 * i] = (uint8_t)h;
                w->obuf[2 * i + 1] = (uint8_t)(h >> 8);
            }
            nbytes = 2 * n;
            break;
        default:
            quantize_rows(w, w->fbuf, w->obuf, rb, cols, r0 / BLOCK);
            nbytes = n;
            break;
        }
        if (put(w, f, w->obuf, nbytes)) return -1;
    }
    if (t->dtype != DT_F8) return 1;
    /* The companion: same block grid, F32, encoded in place (each element
     * is read before its own bytes are overwritten). */
    const struct tensor *s = t + 1;
    size_t ns = (size_t)(s->rows * s->cols);
    uint8_t *raw = (uint8_t *)w->scales;
    for (size_t i = 0; i < ns; i++) store_le32(raw + 4 * i, f32_bits(w->scales[i]));
    if (put(w, f, raw, 4 * ns)) return -1;
    return 2;
}

/* The safetensors header of shard `shard`: tensors [b, e) of the list. */
static int shard_header(struct sb *h, const struct tlist *tl, size_t b, size_t e) {
    h->n = 0;
    sb_printf(h, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (size_t i = b; i < e; i++) {
        const struct tensor *t = &tl->v[i];
        sb_printf(h, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", t->name, dtype_name((enum dtype)t->dtype));
        if (t->rows) sb_printf(h, "%lld,%lld]", (long long)t->rows, (long long)t->cols);
        else sb_printf(h, "%lld]", (long long)t->cols);
        sb_printf(h, ",\"data_offsets\":[%llu,%llu]}", (unsigned long long)t->off,
                  (unsigned long long)(t->off + t->nbytes));
    }
    sb_printf(h, "}");
    /* Pad with spaces so the data section starts 8-byte aligned. */
    while (!h->oom && (8 + h->n) % 8) sb_printf(h, " ");
    return h->oom ? -1 : 0;
}

static int write_shard(struct writer *w, const struct tlist *tl, const char *dir,
                       const char *fname, size_t b, size_t e, struct sb *hdr) {
    char path[4200], tmp[4300];
    if (join(path, sizeof path, dir, fname) || snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp) {
        fprintf(stderr, "dsv3 synth: path too long\n");
        return -1;
    }
    if (shard_header(hdr, tl, b, e)) { fprintf(stderr, "dsv3 synth: out of memory\n"); return -1; }
    FILE *f = fopen(tmp, "wb");
    if (!f) { fprintf(stderr, "dsv3 synth: %s: %s\n", tmp, strerror(errno)); return -1; }
    uint8_t len8[8];
    uint64_t hn = hdr->n;
    for (int k = 0; k < 8; k++) len8[k] = (uint8_t)(hn >> (8 * k));
    int bad = fwrite(len8, 1, 8, f) != 8 || fwrite(hdr->p, 1, hdr->n, f) != hdr->n;
    for (size_t i = b; i < e && !bad;) {
        int k = write_tensor(w, f, &tl->v[i]);
        if (k < 0) bad = 1;
        else i += (size_t)k;
    }
    if (fclose(f) != 0) bad = 1;
    if (bad || rename(tmp, path) != 0) {
        fprintf(stderr, "dsv3 synth: writing %s: %s\n", path, strerror(errno));
        remove(tmp);
        return -1;
    }
    return 0;
}

/* ---- config.json --------------------------------------------------------- */

static void build_config(struct sb *bp, const struct shape *s, const struct shape *full, enum dtype mode) {
    struct sb b = *bp;
    char n1[40], n2[40], n3[40];
    sb_printf(&b, "{\n  \"architectures\": [\"%s\"],\n", s->arch);
    /* What this checkpoint was cut from: `dsv3 bench` predicts the full
     * model's speed from it. Loaders ignore unknown keys. */
    sb_printf(&b, "  \"dsv3_synth\": {\"shape\": \"%s\", \"full_num_hidden_layers\": %d, "
                  "\"full_first_k_dense_replace\": %d, \"full_n_routed_experts\": %d},\n",
              full->name, full->layers, full->dense, full->experts);
    sb_printf(&b, "  \"attention_bias\": false,\n");
    sb_printf(&b, "  \"bos_token_id\": %d,\n  \"eos_token_id\": %d,\n", s->bos, s->eos);
    sb_printf(&b, "  \"first_k_dense_replace\": %d,\n", s->dense);
    sb_printf(&b, "  \"hidden_act\": \"silu\",\n  \"hidden_size\": %d,\n", s->hidden);
    sb_printf(&b, "  \"intermediate_size\": %d,\n  \"kv_lora_rank\": %d,\n", s->inter, s->kv_lora);
    sb_printf(&b, "  \"max_position_embeddings\": %d,\n  \"model_type\": \"%s\",\n", s->max_pos,
              s->model_type);
    sb_printf(&b, "  \"moe_intermediate_size\": %d,\n  \"moe_layer_freq\": 1,\n", s->moe_inter);
    sb_printf(&b, "  \"n_group\": %d,\n  \"n_routed_experts\": %d,\n  \"n_shared_experts\": %d,\n",
              s->n_group, s->experts, s->shared);
    sb_printf(&b, "  \"norm_topk_prob\": %s,\n", s->norm_topk ? "true" : "false");
    sb_printf(&b, "  \"num_attention_heads\": %d,\n  \"num_experts_per_tok\": %d,\n", s->heads,
              s->topk);
    sb_printf(&b, "  \"num_hidden_layers\": %d,\n  \"num_key_value_heads\": %d,\n", s->layers,
              s->heads);
    sb_printf(&b, "  \"num_nextn_predict_layers\": %d,\n", s->mtp);
    if (s->q_lora) sb_printf(&b, "  \"q_lora_rank\": %d,\n", s->q_lora);
    else sb_printf(&b, "  \"q_lora_rank\": null,\n");
    sb_printf(&b, "  \"qk_nope_head_dim\": %d,\n  \"qk_rope_head_dim\": %d,\n", s->nope, s->rope);
    if (mode == DT_F8)
        sb_printf(&b, "  \"quantization_config\": {\n    \"activation_scheme\": \"dynamic\",\n"
                      "    \"fmt\": \"e4m3\",\n    \"quant_method\": \"fp8\",\n"
                      "    \"weight_block_size\": [128, 128]\n  },\n");
    sb_printf(&b, "  \"rms_norm_eps\": 1e-06,\n");
    if (s->yarn)
        sb_printf(&b, "  \"rope_scaling\": {\n    \"beta_fast\": %d,\n    \"beta_slow\": %d,\n"
                      "    \"factor\": %s,\n    \"mscale\": %s,\n    \"mscale_all_dim\": %s,\n"
                      "    \"original_max_position_embeddings\": %d,\n    \"type\": \"yarn\"\n  },\n",
                  s->beta_fast, s->beta_slow, fmt_num(n1, s->yarn_factor, 0),
                  fmt_num(n2, s->mscale, 1), fmt_num(n3, s->mscale_all, 1), s->yarn_orig);
    else sb_printf(&b, "  \"rope_scaling\": null,\n");
    sb_printf(&b, "  \"rope_theta\": %s,\n  \"routed_scaling_factor\": %s,\n",
              fmt_num(n1, s->theta, 0), fmt_num(n2, s->scale, 1));
    sb_printf(&b, "  \"scoring_func\": \"%s\",\n  \"tie_word_embeddings\": false,\n", s->scoring);
    sb_printf(&b, "  \"topk_group\": %d,\n  \"topk_method\": \"%s\",\n", s->topk_group,
              s->topk_method);
    sb_printf(&b, "  \"torch_dtype\": \"%s\",\n", mode == DT_F32 ? "float32" : "bfloat16");
    sb_printf(&b, "  \"use_cache\": true,\n");
    sb_printf(&b, "  \"v_head_dim\": %d,\n  \"vocab_size\": %d\n}\n", s->vdim, s->vocab);
    *bp = b;
}

static int write_config(const char *dir, const struct shape *s, const struct shape *full, enum dtype mode) {
    struct sb b = {0};
    build_config(&b, s, full, mode);
    int rc = b.oom ? -1 : write_small_file(dir, "config.json", b.p, b.n);
    if (b.oom) fprintf(stderr, "dsv3 synth: out of memory\n");
    free(b.p);
    return rc;
}

/* ---- producing tensors for the GGUF writer ------------------------------------ */

/* The GGUF path: each checkpoint tensor is generated into memory when the
 * writer reaches it (an FP8 weight together with its scales, which follow
 * it in the list and in the buffer) and freed when the writer is done
 * with it, so memory holds about one source tensor at a time. */
struct producer {
    struct tlist *tl;
    st_tensor *st;     /* the same list as the writer sees it             */
    uint8_t **buf;     /* per weight: its bytes (and its scales'), or NULL */
    struct writer *w;
};

static size_t owner_of(const struct producer *pd, const st_tensor *t) {
    size_t i = (size_t)(t - pd->st);
    return pd->tl->v[i].kind == K_SCALE ? i - 1 : i;
}

static int produce(void *ctx, const st_tensor *t, char *err, size_t err_size) {
    struct producer *pd = ctx;
    size_t i = owner_of(pd, t);
    if (pd->buf[i]) return 0;
    const struct tensor *x = &pd->tl->v[i];
    uint64_t n = x->nbytes + (x->dtype == DT_F8 ? x[1].nbytes : 0);
    pd->buf[i] = malloc(n ? n : 1);
    if (!pd->buf[i]) {
        snprintf(err, err_size, "out of memory generating '%s' (%.1f MiB)", x->name, (double)n / 1048576.0);
        return -1;
    }
    pd->w->mem = pd->buf[i];
    pd->w->mem_at = 0;
    if (write_tensor(pd->w, NULL, x) < 0) {
        free(pd->buf[i]);
        pd->buf[i] = NULL;
        snprintf(err, err_size, "cannot generate '%s'", x->name);
        return -1;
    }
    pd->st[i].data = pd->buf[i];
    if (x->dtype == DT_F8) pd->st[i + 1].data = pd->buf[i] + x->nbytes;
    return 0;
}

static void discard(void *ctx, const st_tensor *t) {
    struct producer *pd = ctx;
    size_t i = owner_of(pd, t);
    free(pd->buf[i]);
    pd->buf[i] = NULL;
    pd->st[i].data = NULL;
    if (pd->tl->v[i].dtype == DT_F8) pd->st[i + 1].data = NULL;
}

/* ---- options ------------------------------------------------------------ */

static int ends_with(const char *str, const char *suf) {
    size_t a = strlen(str), b = strlen(suf);
    return a >= b && !strcmp(str + a - b, suf);
}

/* ---- entry point ---------------------------------------------------------- */

int cmd_synth(int argc, char **argv) { return cmd_synth_to(argc, argv, NULL); }

int cmd_synth_to(int argc, char **argv, int (*gguf)(const synth_out *out)) {
    const char *shape_name = NULL, *dir = NULL, *type = NULL;
    int layers = -1, experts = -1, shard_mb = 4096, vocab = -1, dt = 1, threads = 0, self_test = 0;
    uint64_t seed = 1;
    int no_mtp = 0;
    cli_opt opts[] = {
        OPT_STR("--shape", NULL, &shape_name, "tiny|v2-lite|v3|k2|moonlight", "the model whose shapes to copy (required)"),
        OPT_STR("--out", "-o", &dir, "DIR|FILE.gguf", "a checkpoint directory, or a GGUF file (required)"),
        OPT_INT("--layers", NULL, &layers, 1, 100000, "N", "decoder layers to keep (at least one MoE layer when N >= 2)"),
        OPT_INT("--experts", NULL, &experts, 1, 100000, "N", "routed experts per MoE layer (>= experts per token)"),
        OPT_CHOICE("--dtype", NULL, &dt, "f32|bf16|fp8", "stored type (fp8: e4m3 with 128x128 block scales)"),
        OPT_U64("--seed", NULL, &seed, "S", "PRNG seed; same seed, same values on any machine"),
        OPT_INT("--shard-mb", NULL, &shard_mb, 1, 1 << 30, "MB", "split a directory's safetensors at MB MiB"),
        OPT_INT("--vocab", NULL, &vocab, 2, 1 << 24, "N", "vocabulary size"),
        OPT_FLAG("--no-mtp", NULL, &no_mtp, "no multi-token-prediction layer"),
        OPT_STR("--type", NULL, &type, "Q8_0|Q4_0|Q4_K|Q5_K|Q6_K|BF16|F16|F32", "GGUF weight type (-o FILE.gguf only)"),
        OPT_INT("--threads", "-t", &threads, 0, 1024, "N", "quantizing threads for a GGUF, 0 = all cores"),
        OPT_FLAG("--self-test", NULL, &self_test, "check the FP8 encoder on every code and exit"),
    };
    opts[2].def = "the shape's";
    opts[3].def = "the shape's";
    opts[7].def = "the shape's";
    opts[9].def = "BF16";
    const cli_cmd cmd = {
        "synth", "--shape NAME [--layers N] [--experts N] [--dtype T] [--seed S] [--no-mtp] (-o DIR | -o FILE.gguf [--type T])",
        "Write a random-weight checkpoint with the exact tensor names, shapes and stored types of a real\n"
        "model: config.json + safetensors in the Hugging Face layout, or, with -o FILE.gguf, a GGUF file\n"
        "quantized to --type directly (each tensor generated, quantized and written in turn: no\n"
        "full-precision copy on disk). The expected size is printed first, progress goes to stderr.",
        "  dsv3 synth --shape tiny -o tiny-ckpt\n"
        "  dsv3 synth --shape v3 --layers 2 --experts 8 -o v3-2l.gguf --type Q4_K",
        opts, (int)(sizeof opts / sizeof opts[0])};
    int pr = cli_parse(&cmd, argc, argv);
    if (pr) return pr == 1 ? 0 : 2;
    if (self_test) {
        int bad = e4m3_self_test();
        if (bad) { fprintf(stderr, "dsv3 synth: FP8 encoder self-test: %d failures\n", bad); return 1; }
        printf("dsv3 synth: FP8 e4m3 encoder OK (254 finite codes, all midpoints)\n");
        return 0;
    }
    if (!shape_name || !dir) return cli_usage_error(&cmd, "%s is required", !shape_name ? "--shape" : "-o DIR or -o FILE.gguf");
    const int to_gguf = ends_with(dir, ".gguf");
    if (type && !to_gguf) return cli_usage_error(&cmd, "--type needs -o FILE.gguf");
    if (to_gguf && !gguf) return cli_usage_error(&cmd, "this program cannot write GGUF files");
    const char *dtype_s = dt == 0 ? "f32" : dt == 1 ? "bf16" : "fp8";
    struct shape s;
    size_t si;
    for (si = 0; si < sizeof SHAPES / sizeof SHAPES[0]; si++)
        if (!strcmp(SHAPES[si].name, shape_name)) break;
    if (si == sizeof SHAPES / sizeof SHAPES[0])
        return cli_usage_error(&cmd, "--shape '%s': not one of tiny, v2-lite, v3, k2, moonlight", shape_name);
    s = SHAPES[si];
    enum dtype mode = dt == 0 ? DT_F32 : dt == 1 ? DT_BF16 : DT_F8;

    /* Shape overrides. */
    if (layers > 0) {
        /* Keep at least one MoE layer when there is room for one. */
        long keep = layers >= 2 ? layers - 1 : layers;
        if (s.dense > keep) s.dense = (int)keep;
        s.layers = (int)layers;
    }
    if (no_mtp) s.mtp = 0;
    if (vocab > 0) s.vocab = (int)vocab; /* e.g. to pair a small model with a real tokenizer */
    if (experts > 0) {
        if (experts < s.topk) {
            fprintf(stderr, "dsv3 synth: --experts %d is below num_experts_per_tok %d\n", experts,
                    s.topk);
            return 2;
        }
        int n = (int)experts;
        s.experts = n;
        /* Group-limited routing needs n_group | N and, for V3's top-2 group
         * score, at least two experts per group; otherwise use the largest
         * divisor g <= the original n_group that leaves >= 2 per group. */
        if (s.n_group > 1 && (n % s.n_group != 0 || n / s.n_group < 2)) {
            int g = 1;
            for (int c = s.n_group; c >= 1; c--)
                if (n % c == 0 && n / c >= 2) { g = c; break; }
            s.n_group = g;
        }
        if (s.topk_group > s.n_group) s.topk_group = s.n_group;
        /* The chosen groups must hold at least num_experts_per_tok experts. */
        while (s.topk_group < s.n_group && s.topk_group * (n / s.n_group) < s.topk) s.topk_group++;
    }

    int self_bad = mode == DT_F8 ? e4m3_self_test() : 0;
    if (self_bad) {
        fprintf(stderr, "dsv3 synth: FP8 encoder self-test failed (%d)\n", self_bad);
        return 1;
    }

    /* Tensor list, sizes, shard assignment. */
    struct tlist tl = {0};
    tl.mode = mode;
    build_tensors(&tl, &s);
    if (tl.oom) {
        fprintf(stderr, "dsv3 synth: cannot build the tensor list (out of memory)\n");
        free(tl.v);
        return 1;
    }
    uint64_t total = 0, params = 0;
    int64_t max_cols = 1;
    for (size_t i = 0; i < tl.n; i++) {
        total += tl.v[i].nbytes;
        if (tl.v[i].kind != K_SCALE) params += (uint64_t)(tl.v[i].rows ? tl.v[i].rows : 1) * (uint64_t)tl.v[i].cols;
        if (tl.v[i].cols > max_cols) max_cols = tl.v[i].cols;
    }
    uint64_t limit = (uint64_t)shard_mb << 20;
    uint32_t nshards = 1;
    {
        uint64_t cur = 0;
        for (size_t i = 0; i < tl.n;) {
            /* An FP8 weight and its scales are one unit: they are written
             * together and so must share a file. */
            size_t k = tl.v[i].dtype == DT_F8 ? 2 : 1;
            uint64_t gb = tl.v[i].nbytes + (k == 2 ? tl.v[i + 1].nbytes : 0);
            if (total > limit && cur > 0 && cur + gb > limit) { nshards++; cur = 0; }
            for (size_t j = i; j < i + k; j++) {
                tl.v[j].shard = nshards - 1;
                tl.v[j].off = cur;
                cur += tl.v[j].nbytes;
            }
            i += k;
        }
    }

    if (to_gguf) {
        /* the writer sees the list as a checkpoint whose tensors appear
         * when asked for */
        struct sb cfg = {0};
        build_config(&cfg, &s, &SHAPES[si], mode);
        struct writer gw = {0};
        gw.seed = seed;
        st_tensor *st = calloc(tl.n ? tl.n : 1, sizeof *st);
        uint8_t **bufs = calloc(tl.n ? tl.n : 1, sizeof *bufs);
        gw.fbuf = malloc((size_t)BLOCK * (size_t)max_cols * sizeof *gw.fbuf);
        gw.obuf = malloc((size_t)BLOCK * (size_t)max_cols * 4);
        int grc = 1;
        if (!cfg.oom && st && bufs && gw.fbuf && gw.obuf) {
            for (size_t i = 0; i < tl.n; i++) {
                const struct tensor *t = &tl.v[i];
                st[i].name = t->name;
                st[i].dtype = t->dtype == DT_F32 ? ST_F32 : t->dtype == DT_BF16 ? ST_BF16 : ST_F8_E4M3;
                st[i].n_dims = t->rows ? 2 : 1;
                st[i].shape[0] = t->rows ? t->rows : t->cols;
                st[i].shape[1] = t->rows ? t->cols : 0;
                st[i].nbytes = t->nbytes;
            }
            struct producer pd = {&tl, st, bufs, &gw};
            const synth_out so = {dir, type ? type : "BF16", threads, s.mtp > 0, cfg.p, cfg.n, st, tl.n,
                                  {1, SHAPES[si].layers, SHAPES[si].dense, SHAPES[si].experts}, produce, discard, &pd};
            grc = gguf(&so);
            for (size_t i = 0; i < tl.n; i++) free(bufs[i]);
        } else {
            fprintf(stderr, "dsv3 synth: out of memory\n");
        }
        free(bufs);
        free(st);
        free(cfg.p);
        free(tl.v);
        free(gw.scales);
        free(gw.fbuf);
        free(gw.obuf);
        return grc;
    }
    if (mkdir_p(dir) != 0) {
        fprintf(stderr, "dsv3 synth: cannot create %s: %s\n", dir, strerror(errno));
        free(tl.v);
        return 1;
    }
    {
        /* Fail now rather than hours in when the disk cannot hold it. */
        struct statvfs vfs;
        if (statvfs(dir, &vfs) == 0) {
            uint64_t avail = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;
            if (avail < total) {
                fprintf(stderr, "dsv3 synth: %s has %.1f MiB free, the checkpoint needs %.1f MiB\n",
                        dir, (double)avail / 1048576.0, (double)total / 1048576.0);
                free(tl.v);
                return 1;
            }
        }
    }

    struct writer w = {0};
    w.seed = seed;
    w.total = total;
    w.show_pct = total >= (64u << 20);
    w.last_pct = 0;
    size_t cap = (size_t)BLOCK * (size_t)max_cols;
    w.fbuf = malloc(cap * sizeof *w.fbuf);
    w.obuf = malloc(cap * 4);
    struct sb hdr = {0}, idx = {0};
    int rc = 1;
    if (!w.fbuf || !w.obuf) { fprintf(stderr, "dsv3 synth: out of memory\n"); goto done; }

    /* A stale file of the other layout would shadow or confuse the new
     * one (loaders prefer the index when both exist). */
    {
        char p[4200];
        if (!join(p, sizeof p, dir, nshards > 1 ? "model.safetensors" : "model.safetensors.index.json"))
            remove(p);
    }
    if (nshards == 1) {
        if (write_shard(&w, &tl, dir, "model.safetensors", 0, tl.n, &hdr)) goto done;
    } else {
        size_t b = 0;
        sb_printf(&idx, "{\n  \"metadata\": {\"total_size\": %llu},\n  \"weight_map\": {",
                  (unsigned long long)total);
        for (uint32_t sh = 0; sh < nshards; sh++) {
            char fname[64];
            size_t e = b;
            uint64_t bytes = 0;
            while (e < tl.n && tl.v[e].shard == sh) bytes += tl.v[e++].nbytes;
            snprintf(fname, sizeof fname, "model-%05u-of-%05u.safetensors", sh + 1, nshards);
            fprintf(stderr, "dsv3 synth: writing %s (%zu tensors, %.1f MiB)\n", fname, e - b,
                    (double)bytes / 1048576.0);
            if (write_shard(&w, &tl, dir, fname, b, e, &hdr)) goto done;
            for (size_t i = b; i < e; i++)
                sb_printf(&idx, "%s\n    \"%s\": \"%s\"", i ? "," : "", tl.v[i].name, fname);
            b = e;
        }
        sb_printf(&idx, "\n  }\n}\n");
        if (idx.oom) { fprintf(stderr, "dsv3 synth: out of memory\n"); goto done; }
        if (write_small_file(dir, "model.safetensors.index.json", idx.p, idx.n)) goto done;
    }
    /* config.json last: a directory with a config is a complete checkpoint. */
    if (write_config(dir, &s, &SHAPES[si], mode)) goto done;

    printf("synth: %s shape=%s dtype=%s seed=%llu: %d layers (%d dense) + %d MTP, %d experts "
           "(top-%d, %d groups, top-%d groups)\n",
           dir, s.name, dtype_s, (unsigned long long)seed, s.layers, s.dense, s.mtp, s.experts,
           s.topk, s.n_group, s.topk_group);
    printf("synth: %llu params, %zu tensors, %llu bytes of tensor data in %u file%s\n",
           (unsigned long long)params, tl.n, (unsigned long long)total, nshards,
           nshards > 1 ? "s" : "");
    rc = 0;
done:
    free(w.fbuf);
    free(w.obuf);
    free(w.scales);
    free(hdr.p);
    free(idx.p);
    free(tl.v);
    return rc;
}
