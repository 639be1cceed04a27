/* cmd_convert.c -- `dsv3 convert`: a Hugging Face DeepSeek-V2/V3 checkpoint
 * (config.json + safetensors; F32, BF16, F16 or FP8 e4m3 with block scales)
 * into a GGUF v3 file that llama.cpp's `deepseek2` loader accepts
 * (../shared/docs/gguf-deepseek2.md): MLA split into attn_k_b / attn_v_b,
 * routed experts stacked into ffn_{gate,up,down}_exps, the MTP layer as
 * blk.L.nextn.* with --keep-mtp, the tokenizer when tokenizer.json is there.
 *
 * Memory stays bounded whatever the model size: the checkpoint is mapped,
 * every output tensor is produced in chunks of at most CHUNK_F32 bytes of
 * f32 rows (an expert stack goes expert by expert, row chunk by row chunk),
 * each chunk is dequantized and quantized by N threads and written, and the
 * source pages of a finished tensor are dropped from our mapping
 * (MADV_DONTNEED), so the resident set is a few chunk buffers plus the
 * metadata, not the model.
 *
 * Stored types. Norm vectors, exp_probs_b and the router ffn_gate_inp stay
 * F32 (as llama.cpp's converter and llama-quantize keep them); every other
 * tensor takes --type, unless its row length ne[0] is not a multiple of
 * the type's block, when it falls back like llama-quantize does:
 *   Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0 (block 32), and if ne[0] is not
 *   a multiple of 32 either -> F16; Q8_0 and Q4_0 (block 32) -> F16
 *   (llama-quantize refuses those instead).
 * On the real V3 only attn_k_b (ne[0] = qk_nope = 128) falls back, e.g.
 * Q4_K -> Q5_0. general.file_type is llama.cpp's ftype of --type (Q4_K is
 * reported as MOSTLY_Q4_K_S, Q5_K as Q5_K_S: one type everywhere, no mix).
 *
 * Tokenizer. Token i of tokenizer.ggml.tokens is id i; the BPE vocabulary
 * keeps its byte-level spelling, added tokens their content; token_type is
 * 1 (normal) for the BPE vocabulary, 3 (control) for added tokens marked
 * special, 4 (user-defined) for the other added tokens, 5 (unused) for the
 * "[PADi]" fillers of ids no token has (up to the model's vocab_size, as
 * llama.cpp's converter pads). Unlike llama.cpp's converter, added tokens
 * that merely look special ("<｜User｜>" with special=false) stay
 * user-defined, and their text is not rewritten. */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "cli.h"
#include "convert.h"
#include "options.h"
#include "config.h"
#include "cpu/pool.h"
#include "dsv3.h"
#include "gguf.h"
#include "gguf_names.h"
#include "gguf_write.h"
#include "json.h"
#include "mapfile.h"
#include "quants/quants.h"
#include "safetensors.h"
#include "tokenizer.h"
#include "wtype.h"

#define CHUNK_F32 ((size_t)16 << 20) /* f32 bytes of source rows per chunk */

/* ---- output types ----------------------------------------------------------- */

static const struct {
    const char *name;
    int wtype;   /* enum dsv3_wtype: what dsv3_quantize_row takes */
    int ggml;    /* enum gguf_ggml_type                            */
    int ftype;   /* llama.cpp's llama_ftype                        */
} TYPES[] = {
    {"F32", DSV3_W_F32, GGML_T_F32, 0},    {"F16", DSV3_W_F16, GGML_T_F16, 1},
    {"BF16", DSV3_W_BF16, GGML_T_BF16, 32}, {"Q8_0", DSV3_W_Q8_0, GGML_T_Q8_0, 7},
    {"Q4_0", DSV3_W_Q4_0, GGML_T_Q4_0, 2},  {"Q4_K", DSV3_W_Q4_K, GGML_T_Q4_K, 14},
    {"Q5_K", DSV3_W_Q5_K, GGML_T_Q5_K, 16}, {"Q6_K", DSV3_W_Q6_K, GGML_T_Q6_K, 18},
    /* reachable only as fallbacks */
    {"Q5_0", DSV3_W_Q5_0, GGML_T_Q5_0, 8},  {"Q5_1", DSV3_W_Q5_1, GGML_T_Q5_1, 9},
};
#define N_TYPES (sizeof TYPES / sizeof TYPES[0])
#define N_USER_TYPES 8

static int type_index(int wtype) {
    for (size_t i = 0; i < N_TYPES; i++)
        if (TYPES[i].wtype == wtype) return (int)i;
    return 0;
}

static int wtype_to_ggml(int wtype) { return TYPES[type_index(wtype)].ggml; }

/* The stored type of a quantizable tensor whose rows have ne0 elements. */
static int choose_type(int want, int64_t ne0) {
    if (ne0 % dsv3_wtype_block(want) == 0) return want;
    int fb;
    switch (want) {
    case DSV3_W_Q4_K: fb = DSV3_W_Q5_0; break;
    case DSV3_W_Q5_K: fb = DSV3_W_Q5_1; break;
    case DSV3_W_Q6_K: fb = DSV3_W_Q8_0; break;
    default: fb = DSV3_W_F16; break;
    }
    return ne0 % dsv3_wtype_block(fb) == 0 ? fb : DSV3_W_F16;
}

/* ---- the conversion plan --------------------------------------------------------
 * Every output tensor is a list of segments; a segment is a run of rows of
 * one source matrix, copied as rows or (k_b) transposed. */

typedef struct src {
    const st_tensor *t;
    const st_tensor *scale; /* FP8 block scales, or NULL */
    int64_t rows, cols;     /* the 2-D view (a vector: 1 row) */
} src;

typedef struct seg {
    src s;
    int64_t row0, nrows;
    int transpose; /* output rows are the columns of rows [row0, row0+nrows) */
} seg;

typedef struct otensor {
    char name[128];
    int n_dims;
    int64_t ne[3];
    int wtype;
    size_t seg0, nseg;
    uint64_t in_bytes;
} otensor;

typedef struct plan {
    const dsv3_config *c;
    const convert_src *src;
    int want;          /* --type */
    int keep_mtp;
    int fp8_br, fp8_bc;
    otensor *t;
    size_t nt, tcap;
    seg *s;
    size_t ns, scap;
    unsigned char *used; /* per checkpoint tensor */
    int n_fallback;
    char err[512];
} plan;

static int plan_fail(plan *p, const char *fmt, ...) DSV3_PRINTF(2, 3);
static int plan_fail(plan *p, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err, sizeof p->err, fmt, ap);
    va_end(ap);
    return 0;
}

static void mark_used(plan *p, const st_tensor *t) {
    if (t) p->used[t - p->src->at(p->src->ctx, 0)] = 1;
}

static size_t st_elem(int dt) { return st_dtype_size(dt); }

/* Find an HF tensor, check its dtype and shape, and set up its view. */
static int get_src(plan *p, const char *name, int64_t rows, int64_t cols, int vector, src *out) {
    const st_tensor *t = p->src->find(p->src->ctx, name);
    memset(out, 0, sizeof *out);
    if (!t) return plan_fail(p, "tensor '%s' is missing from the checkpoint", name);
    int ok = vector ? t->n_dims == 1 && t->shape[0] == cols : t->n_dims == 2 && t->shape[0] == rows && t->shape[1] == cols;
    if (!ok) {
        if (vector) return plan_fail(p, "tensor '%s' does not have the expected shape [%lld]", name, (long long)cols);
        return plan_fail(p, "tensor '%s' does not have the expected shape [%lld, %lld]", name, (long long)rows,
                         (long long)cols);
    }
    if (t->dtype != ST_F32 && t->dtype != ST_BF16 && t->dtype != ST_F16 && !(t->dtype == ST_F8_E4M3 && !vector))
        return plan_fail(p, "tensor '%s' has dtype %s, which dsv3 convert cannot read", name, st_dtype_name(t->dtype));
    out->t = t;
    out->rows = vector ? 1 : rows;
    out->cols = cols;
    mark_used(p, t);
    if (t->dtype == ST_F8_E4M3) {
        char sname[320];
        snprintf(sname, sizeof sname, "%s_scale_inv", name);
        const st_tensor *s = p->src->find(p->src->ctx, sname);
        int64_t sr = (rows + p->fp8_br - 1) / p->fp8_br, sc = (cols + p->fp8_bc - 1) / p->fp8_bc;
        if (!s) return plan_fail(p, "FP8 tensor '%s' has no scale tensor '%s'", name, sname);
        if ((s->dtype != ST_F32 && s->dtype != ST_BF16) || s->n_dims != 2 || s->shape[0] != sr || s->shape[1] != sc)
            return plan_fail(p, "scale tensor '%s' must be F32 or BF16 of shape [%lld, %lld] for %dx%d blocks", sname,
                             (long long)sr, (long long)sc, p->fp8_br, p->fp8_bc);
        out->scale = s;
        mark_used(p, s);
    }
    return 1;
}

static otensor *new_tensor(plan *p, const char *name, int n_dims, int64_t ne0, int64_t ne1, int64_t ne2, int wtype) {
    if (p->nt == p->tcap) {
        size_t cap = p->tcap ? 2 * p->tcap : 256;
        otensor *t = realloc(p->t, cap * sizeof *t);
        if (!t) { plan_fail(p, "out of memory"); return NULL; }
        p->t = t;
        p->tcap = cap;
    }
    otensor *t = &p->t[p->nt++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->n_dims = n_dims;
    t->ne[0] = ne0;
    t->ne[1] = ne1;
    t->ne[2] = ne2;
    t->wtype = wtype;
    t->seg0 = p->ns;
    return t;
}

static int add_seg(plan *p, otensor *t, const src *s, int64_t row0, int64_t nrows, int transpose) {
    if (p->ns == p->scap) {
        size_t cap = p->scap ? 2 * p->scap : 1024;
        seg *n = realloc(p->s, cap * sizeof *n);
        if (!n) return plan_fail(p, "out of memory");
        p->s = n;
        p->scap = cap;
    }
    seg *g = &p->s[p->ns++];
    g->s = *s;
    g->row0 = row0;
    g->nrows = nrows;
    g->transpose = transpose;
    t->nseg++;
    t->in_bytes += (uint64_t)nrows * (uint64_t)s->cols * st_elem(s->t->dtype);
    return 1;
}

static int64_t dim(const dsv3_config *c, int d) {
    switch (d) {
    case GD_1: return 1;
    case GD_H: return c->hidden_size;
    case GD_2H: return 2 * (int64_t)c->hidden_size;
    case GD_V: return c->vocab_size;
    case GD_QL: return c->q_lora_rank;
    case GD_Q: return (int64_t)c->n_heads * (c->qk_nope_head_dim + c->qk_rope_head_dim);
    case GD_KVA: return (int64_t)c->kv_lora_rank + c->qk_rope_head_dim;
    case GD_KVL: return c->kv_lora_rank;
    case GD_KVB: return (int64_t)c->n_heads * (c->qk_nope_head_dim + c->v_head_dim);
    case GD_O: return (int64_t)c->n_heads * c->v_head_dim;
    case GD_F: return c->intermediate_size;
    case GD_FE: return c->moe_intermediate_size;
    case GD_FS: return (int64_t)c->moe_intermediate_size * c->n_shared_experts;
    case GD_E: return c->n_routed_experts;
    default: return 0;
    }
}

static int role_applies(const plan *p, const gguf_name_role *r, int il, const char *hf_name) {
    const dsv3_config *c = p->c;
    int moe = il >= 0 && config_layer_is_moe(c, il), mtp = il >= c->n_layers;
    switch (r->when) {
    case GN_ALWAYS: return 1;
    case GN_Q_LORA: return c->q_lora_rank > 0;
    case GN_NO_Q_LORA: return c->q_lora_rank == 0;
    case GN_DENSE: return !moe;
    case GN_MOE: return moe;
    case GN_MOE_OPTIONAL: /* the selection bias: required by noaux_tc */
        return moe && (p->src->find(p->src->ctx, hf_name) != NULL || c->topk_method == DSV3_TOPK_NOAUX_TC);
    case GN_SHARED: return moe && c->n_shared_experts > 0;
    case GN_MTP: return mtp;
    case GN_MTP_OPTIONAL: return mtp && p->src->find(p->src->ctx, hf_name) != NULL;
    default: return 0;
    }
}

/* One role of layer il (-1: a global tensor). */
static int plan_role(plan *p, const gguf_name_role *r, int il) {
    const dsv3_config *c = p->c;
    char hf[256], name[128];
    if (il < 0) {
        snprintf(hf, sizeof hf, "%s", r->hf);
        snprintf(name, sizeof name, "%s", r->gguf);
    } else {
        snprintf(hf, sizeof hf, "model.layers.%d.%s", il, r->hf); /* experts: still with %d */
        snprintf(name, sizeof name, "blk.%d.%s", il, r->gguf);
    }
    if (!role_applies(p, r, il, hf)) return 1;
    const int64_t rows = dim(c, r->rows), cols = dim(c, r->cols);
    src s;
    otensor *t;
    switch (r->kind) {
    case GN_VECTOR:
        if (!get_src(p, hf, 1, cols, 1, &s)) return 0;
        if (!(t = new_tensor(p, name, 1, cols, 1, 1, DSV3_W_F32))) return 0;
        return add_seg(p, t, &s, 0, 1, 0);
    case GN_MATRIX:
    case GN_ROUTER: {
        if (!get_src(p, hf, rows, cols, 0, &s)) return 0;
        int wt = r->kind == GN_ROUTER ? DSV3_W_F32 : choose_type(p->want, cols);
        if (wt != p->want && r->kind == GN_MATRIX) p->n_fallback++;
        if (!(t = new_tensor(p, name, 2, cols, rows, 1, wt))) return 0;
        return add_seg(p, t, &s, 0, rows, 0);
    }
    case GN_KV_B: {
        const int64_t nh = c->n_heads, dn = c->qk_nope_head_dim, dv = c->v_head_dim, kvl = c->kv_lora_rank;
        if (!get_src(p, hf, rows, cols, 0, &s)) return 0;
        int wk = choose_type(p->want, dn), wv = choose_type(p->want, kvl);
        p->n_fallback += (wk != p->want) + (wv != p->want);
        if (!(t = new_tensor(p, name, 3, dn, kvl, nh, wk))) return 0;
        for (int64_t h = 0; h < nh; h++)
            if (!add_seg(p, t, &s, h * (dn + dv), dn, 1)) return 0;
        snprintf(name, sizeof name, "blk.%d.%s", il, r->gguf2);
        if (!(t = new_tensor(p, name, 3, kvl, dv, nh, wv))) return 0;
        for (int64_t h = 0; h < nh; h++)
            if (!add_seg(p, t, &s, h * (dn + dv) + dn, dv, 0)) return 0;
        return 1;
    }
    case GN_EXPERTS: {
        const int64_t E = c->n_routed_experts;
        int wt = choose_type(p->want, cols);
        if (wt != p->want) p->n_fallback++;
        if (!(t = new_tensor(p, name, 3, cols, rows, E, wt))) return 0;
        size_t ti = p->nt - 1;
        for (int64_t x = 0; x < E; x++) {
            char en[256];
            snprintf(en, sizeof en, "model.layers.%d.", il);
            size_t at = strlen(en);
            snprintf(en + at, sizeof en - at, r->hf, (int)x);
            if (!get_src(p, en, rows, cols, 0, &s)) return 0;
            if (!add_seg(p, &p->t[ti], &s, 0, rows, 0)) return 0;
        }
        return 1;
    }
    default: return plan_fail(p, "internal error: unknown role kind");
    }
}

/* Layer index of "model.layers.N.*", or -1. */
static int layer_of(const char *name) {
    if (strncmp(name, "model.layers.", 13)) return -1;
    char *end;
    long v = strtol(name + 13, &end, 10);
    return end != name + 13 && *end == '.' && v >= 0 && v < 1 << 20 ? (int)v : -1;
}

static int build_plan(plan *p, int *n_dropped_mtp) {
    const dsv3_config *c = p->c;
    size_t ng, nl;
    const gguf_name_role *g = gguf_names_global(&ng), *l = gguf_names_layer(&nl);
    p->used = calloc(p->src->count(p->src->ctx) + 1, 1);
    if (!p->used) return plan_fail(p, "out of memory");
    for (size_t i = 0; i < ng; i++)
        if (!plan_role(p, &g[i], -1)) return 0;
    int n_blocks = c->n_layers + (p->keep_mtp ? c->n_mtp_layers : 0);
    for (int il = 0; il < n_blocks; il++)
        for (size_t i = 0; i < nl; i++)
            if (!plan_role(p, &l[i], il)) return 0;
    /* Every checkpoint tensor must have gone somewhere. */
    *n_dropped_mtp = 0;
    for (size_t i = 0; i < p->src->count(p->src->ctx); i++) {
        const st_tensor *t = p->src->at(p->src->ctx, i);
        if (p->used[i] || gguf_names_ignorable(t->name)) continue;
        int il = layer_of(t->name);
        if (!p->keep_mtp && il >= c->n_layers) { (*n_dropped_mtp)++; continue; }
        return plan_fail(p, "tensor '%s' has no GGUF counterpart (dsv3 convert does not know it)", t->name);
    }
    return 1;
}

/* ---- reading source rows as f32 ---------------------------------------------------- */

static float g_fp8[256];

static float ld_f32(const unsigned char *p) {
    float f;
    memcpy(&f, p, 4);
    return f;
}

static float ld_bf16(const unsigned char *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return dsv3_bf16_to_f32(h);
}

static float scale_at(const st_tensor *s, int64_t i) {
    return s->dtype == ST_F32 ? ld_f32(s->data + 4 * i) : ld_bf16(s->data + 2 * i);
}

/* Row r of the source view into out[0 .. cols). */
static void read_row(const src *s, int br, int bc, int64_t r, float *out) {
    const int64_t n = s->cols;
    const unsigned char *p = s->t->data + (size_t)r * (size_t)n * st_elem(s->t->dtype);
    switch (s->t->dtype) {
    case ST_F32: memcpy(out, p, (size_t)n * 4); break;
    case ST_BF16:
        for (int64_t i = 0; i < n; i++) out[i] = ld_bf16(p + 2 * i);
        break;
    case ST_F16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            out[i] = dsv3_f16_to_f32(h);
        }
        break;
    default: { /* F8_E4M3 with one scale per br x bc block */
        const int64_t sc = (n + bc - 1) / bc, srow = r / br * sc;
        for (int64_t c0 = 0; c0 < n; c0 += bc) {
            const float sv = scale_at(s->scale, srow + c0 / bc);
            const int64_t c1 = c0 + bc < n ? c0 + bc : n;
            for (int64_t i = c0; i < c1; i++) out[i] = g_fp8[p[i]] * sv;
        }
        break;
    }
    }
}

/* ---- the parallel chunk ---------------------------------------------------------------- */

typedef struct chunk {
    const plan *p;
    const seg *g;
    int wtype;
    int64_t r0, r1;        /* output rows of the segment in this chunk */
    size_t row_bytes;
    unsigned char *dst;
    float *scratch;        /* per thread: max(cols, nrows) floats */
    size_t scratch_n;
    float *block;          /* transpose: the segment's rows as f32 */
    int phase;             /* transpose: 0 read rows into block, 1 emit */
    int bad;               /* a quantize call failed */
} chunk;

static void chunk_part(void *ctx, int ith, int nth) {
    chunk *k = ctx;
    const seg *g = k->g;
    float *buf = k->scratch + (size_t)ith * k->scratch_n;
    long b, e;
    if (g->transpose && k->phase == 0) {
        dsv3_split((long)g->nrows, ith, nth, &b, &e);
        for (long i = b; i < e; i++)
            read_row(&g->s, k->p->fp8_br, k->p->fp8_bc, g->row0 + i, k->block + (size_t)i * (size_t)g->s.cols);
        return;
    }
    dsv3_split((long)(k->r1 - k->r0), ith, nth, &b, &e);
    for (long i = b; i < e; i++) {
        const int64_t r = k->r0 + i;
        int64_t n;
        if (g->transpose) {
            n = g->nrows;
            for (int64_t j = 0; j < n; j++) buf[j] = k->block[(size_t)j * (size_t)g->s.cols + (size_t)r];
        } else {
            n = g->s.cols;
            read_row(&g->s, k->p->fp8_br, k->p->fp8_bc, g->row0 + r, buf);
        }
        if (dsv3_quantize_row(k->wtype, buf, k->dst + (size_t)i * k->row_bytes, n) != k->row_bytes) k->bad = 1;
    }
}

/* ---- progress ------------------------------------------------------------------------- */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct progress {
    uint64_t total, done;
    double t0, last;
    int tty, quiet, last_decile;
    const char *label;
} progress;

static void show(progress *pr, const char *name, int final) {
    double t = now_s();
    if (pr->quiet) return;
    double frac = pr->total ? (double)pr->done / (double)pr->total : 1.0;
    double rate = t > pr->t0 ? (double)pr->done / (t - pr->t0) : 0.0;
    if (pr->tty) {
        if (!final && t - pr->last < 0.1) return;
        pr->last = t;
        char bar[31];
        int fill = (int)(frac * 30.0);
        for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
        bar[30] = 0;
        double eta = rate > 0 ? (double)(pr->total - pr->done) / rate : 0.0;
        fprintf(stderr, "\r[%s] %5.1f%% %9.1f/%.1f MiB %7.1f MB/s ETA %2d:%02d  %-40.40s", bar, 100.0 * frac,
                (double)pr->done / 1048576.0, (double)pr->total / 1048576.0, rate / 1e6, (int)(eta / 60),
                (int)eta % 60, final ? "done" : name);
        if (final) fputc('\n', stderr);
    } else {
        int decile = (int)(frac * 10.0);
        if (!final && decile <= pr->last_decile) return;
        pr->last_decile = decile;
        fprintf(stderr, "%s: %3d%% %.1f/%.1f MiB %.1f MB/s %s\n", pr->label, (int)(100.0 * frac),
                (double)pr->done / 1048576.0, (double)pr->total / 1048576.0, rate / 1e6, final ? "done" : name);
    }
}

/* ---- writing the tensors ------------------------------------------------------------------ */

/* Drop the pages of a source range from our mapping (they stay in the page
 * cache); the checkpoint is mapped read-only, so nothing is lost. */
static void release(const void *p, size_t n, int advice) {
    if (!p || !n) return;
    const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t a = (uintptr_t)p / page * page, b = ((uintptr_t)p + n + page - 1) / page * page;
    madvise((void *)a, b - a, advice);
}

/* The writer thread: chunks are quantized into one of two buffers while the
 * other is being written, so computing and writing overlap. */
typedef struct wqueue {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    gguf_writer *w;
    unsigned char *buf[2];
    size_t cap[2], len[2];
    int full[2]; /* handed to the writer, not yet written */
    int stop, rc;
    dsv3_err err;
} wqueue;

static void *writer_main(void *arg) {
    wqueue *q = arg;
    for (int i = 0;; i ^= 1) {
        pthread_mutex_lock(&q->mu);
        while (!q->full[i] && !q->stop) pthread_cond_wait(&q->cv, &q->mu);
        if (!q->full[i]) { /* stop, nothing left */
            pthread_mutex_unlock(&q->mu);
            return NULL;
        }
        int failed = q->rc;
        pthread_mutex_unlock(&q->mu);
        int rc = failed ? failed : gguf_writer_write(q->w, q->buf[i], q->len[i], &q->err);
        pthread_mutex_lock(&q->mu);
        if (rc && !q->rc) q->rc = rc;
        q->full[i] = 0;
        pthread_cond_broadcast(&q->cv);
        pthread_mutex_unlock(&q->mu);
    }
}

/* Wait until buffer `slot` is free (and at least n bytes); the writer's
 * status, or DSV3_ERR_NO_MEMORY. */
static int take_slot(wqueue *q, int slot, size_t n) {
    pthread_mutex_lock(&q->mu);
    while (q->full[slot] && !q->rc) pthread_cond_wait(&q->cv, &q->mu);
    int rc = q->rc;
    pthread_mutex_unlock(&q->mu);
    if (rc) return rc;
    if (n > q->cap[slot]) {
        free(q->buf[slot]);
        q->buf[slot] = malloc(n);
        q->cap[slot] = q->buf[slot] ? n : 0;
        if (!q->buf[slot]) return DSV3_ERR_NO_MEMORY;
    }
    return DSV3_OK;
}

static void give_slot(wqueue *q, int slot, size_t n) {
    pthread_mutex_lock(&q->mu);
    q->len[slot] = n;
    q->full[slot] = 1;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

/* Bytes of source rows [r0, r1) of a segment. */
static const unsigned char *rows_at(const seg *g, int64_t r0) {
    return g->s.t->data + (size_t)(g->row0 + r0) * (size_t)g->s.cols * st_elem(g->s.t->dtype);
}
static size_t rows_bytes(const seg *g, int64_t n) { return (size_t)n * (size_t)g->s.cols * st_elem(g->s.t->dtype); }

/* Produced (not mapped) tensors: load a segment's source before its rows
 * are read; madvise is for mappings only (on heap memory DONTNEED would
 * zero pages that are still in use). */
static int load_seg(const plan *p, const seg *g, dsv3_err *e) {
    char msg[256] = "";
    if (p->src->load(p->src->ctx, g->s.t, msg, sizeof msg) ||
        (g->s.scale && p->src->load(p->src->ctx, g->s.scale, msg, sizeof msg)))
        return err_set(e, DSV3_ERR_NO_MEMORY, "%s", msg[0] ? msg : "cannot produce a tensor");
    return DSV3_OK;
}

static void unload_seg(const plan *p, const seg *g) {
    p->src->unload(p->src->ctx, g->s.t);
    if (g->s.scale) p->src->unload(p->src->ctx, g->s.scale);
}

static int convert_tensors(plan *p, wqueue *q, dsv3_pool *pool, progress *pr, dsv3_err *e) {
    const int nth = dsv3_pool_size(pool);
    const int mapped = p->src->load == NULL;
    float *scratch = NULL, *block = NULL;
    size_t scratch_cap = 0, block_cap = 0;
    int rc = DSV3_OK, slot = 0;
    for (size_t ti = 0; ti < p->nt && !rc; ti++) {
        const otensor *t = &p->t[ti];
        const size_t row_bytes = dsv3_wtype_row_bytes(t->wtype, t->ne[0]);
        for (size_t si = t->seg0; si < t->seg0 + t->nseg && !rc; si++) {
            const seg *g = &p->s[si];
            const int64_t out_rows = g->transpose ? g->s.cols : g->nrows;
            const int64_t in_len = g->s.cols;
            int64_t per = (int64_t)(CHUNK_F32 / ((size_t)in_len * 4));
            if (per < nth) per = nth;
            if (g->transpose) per = out_rows; /* one chunk: the whole block is read anyway */
            size_t scr = (size_t)(in_len > g->nrows ? in_len : g->nrows);
            if (scr * (size_t)nth > scratch_cap) {
                free(scratch);
                scratch = malloc(scr * (size_t)nth * sizeof *scratch);
                scratch_cap = scratch ? scr * (size_t)nth : 0;
            }
            size_t need_block = g->transpose ? (size_t)g->nrows * (size_t)in_len : 0;
            if (need_block > block_cap) {
                free(block);
                block = malloc(need_block * sizeof *block);
                block_cap = block ? need_block : 0;
            }
            if (!scratch || (need_block && !block)) {
                rc = err_set(e, DSV3_ERR_NO_MEMORY, "out of memory converting '%s'", t->name);
                break;
            }
            chunk k = {.p = p, .g = g, .wtype = t->wtype, .row_bytes = row_bytes, .scratch = scratch,
                       .scratch_n = scr, .block = block};
            if (!mapped && (rc = load_seg(p, g, e)) != DSV3_OK) break;
            /* read ahead the first chunk's rows (the whole block for k_b) */
            if (mapped) release(rows_at(g, 0), rows_bytes(g, g->transpose ? g->nrows : (per < out_rows ? per : out_rows)),
                    MADV_WILLNEED);
            if (g->transpose) {
                k.phase = 0;
                dsv3_pool_run(pool, chunk_part, &k);
                k.phase = 1;
            }
            for (int64_t r0 = 0; r0 < out_rows && !rc; r0 += per) {
                k.r0 = r0;
                k.r1 = r0 + per < out_rows ? r0 + per : out_rows;
                const size_t n = (size_t)(k.r1 - k.r0) * row_bytes;
                rc = take_slot(q, slot, n);
                if (rc) {
                    if (rc == DSV3_ERR_NO_MEMORY) err_set(e, rc, "out of memory converting '%s'", t->name);
                    else *e = q->err;
                    break;
                }
                if (mapped && !g->transpose && k.r1 < out_rows) /* read ahead the next chunk while this one runs */
                    release(rows_at(g, k.r1), rows_bytes(g, k.r1 + per < out_rows ? per : out_rows - k.r1),
                            MADV_WILLNEED);
                k.dst = q->buf[slot];
                dsv3_pool_run(pool, chunk_part, &k);
                if (k.bad) {
                    rc = err_set(e, DSV3_ERR_INVALID_ARG, "cannot quantize '%s' to %s", t->name,
                                 TYPES[type_index(t->wtype)].name);
                    break;
                }
                give_slot(q, slot, n);
                slot ^= 1;
                if (mapped && !g->transpose) /* these source rows are done */
                    release(rows_at(g, k.r0), rows_bytes(g, k.r1 - k.r0), MADV_DONTNEED);
                pr->done += g->transpose ? (uint64_t)rows_bytes(g, g->nrows) * (uint64_t)(k.r1 - k.r0) / (uint64_t)out_rows
                                         : (uint64_t)rows_bytes(g, k.r1 - k.r0);
                show(pr, t->name, 0);
            }
            /* an expert stack: one expert's source at a time */
            if (!mapped && (si + 1 == t->seg0 + t->nseg || p->s[si + 1].s.t != g->s.t)) unload_seg(p, g);
        }
        /* The tensor is done: drop its source pages (and scales) from our mapping. */
        for (size_t si = t->seg0; si < t->seg0 + t->nseg; si++) {
            const seg *g = &p->s[si];
            if (!mapped) {
                unload_seg(p, g);
                continue;
            }
            release(g->s.t->data, (size_t)g->s.t->nbytes, MADV_DONTNEED);
            if (g->s.scale) release(g->s.scale->data, (size_t)g->s.scale->nbytes, MADV_DONTNEED);
        }
    }
    free(scratch);
    free(block);
    return rc;
}

static int write_tensors(plan *p, gguf_writer *w, dsv3_pool *pool, progress *pr, dsv3_err *e) {
    wqueue q;
    memset(&q, 0, sizeof q);
    q.w = w;
    if (pthread_mutex_init(&q.mu, NULL)) return err_set(e, DSV3_ERR_NO_MEMORY, "cannot create a mutex");
    if (pthread_cond_init(&q.cv, NULL)) {
        pthread_mutex_destroy(&q.mu);
        return err_set(e, DSV3_ERR_NO_MEMORY, "cannot create a condition variable");
    }
    pthread_t th;
    int rc;
    if (pthread_create(&th, NULL, writer_main, &q)) {
        rc = err_set(e, DSV3_ERR_NO_MEMORY, "cannot start the writer thread");
    } else {
        rc = convert_tensors(p, &q, pool, pr, e);
        pthread_mutex_lock(&q.mu);
        q.stop = 1;
        if (rc && !q.rc) q.rc = rc; /* drop what is queued */
        pthread_cond_broadcast(&q.cv);
        pthread_mutex_unlock(&q.mu);
        pthread_join(th, NULL);
        if (!rc && q.rc) {
            rc = q.rc;
            *e = q.err;
        }
    }
    free(q.buf[0]);
    free(q.buf[1]);
    pthread_cond_destroy(&q.cv);
    pthread_mutex_destroy(&q.mu);
    return rc;
}

/* ---- metadata ------------------------------------------------------------------------------------ */

static void set_model_kvs(gguf_writer *w, const dsv3_config *c, int keep_mtp, int ftype, const char *name,
                          synth_origin so) {
    char k[128];
#define KEY(s) (snprintf(k, sizeof k, "deepseek2.%s", s), k)
    gguf_writer_set_str(w, "general.architecture", "deepseek2", 9);
    gguf_writer_set_str(w, "general.type", "model", 5);
    gguf_writer_set_str(w, "general.name", name, strlen(name));
    gguf_writer_set_u32(w, "general.alignment", GGUF_DEFAULT_ALIGNMENT);
    gguf_writer_set_u32(w, "general.file_type", (uint32_t)ftype);
    gguf_writer_set_u32(w, "general.quantization_version", 2);
    if (so.found) { /* a `dsv3 synth` checkpoint: keep what it was cut from for `dsv3 bench` */
        gguf_writer_set_u32(w, "dsv3.synth.full_num_hidden_layers", (uint32_t)so.layers);
        gguf_writer_set_u32(w, "dsv3.synth.full_first_k_dense_replace", (uint32_t)so.dense);
        gguf_writer_set_u32(w, "dsv3.synth.full_n_routed_experts", (uint32_t)so.experts);
    }
    const int mtp = keep_mtp ? c->n_mtp_layers : 0;
    gguf_writer_set_u32(w, KEY("block_count"), (uint32_t)(c->n_layers + mtp));
    gguf_writer_set_u32(w, KEY("context_length"), (uint32_t)c->max_position_embeddings);
    gguf_writer_set_u32(w, KEY("embedding_length"), (uint32_t)c->hidden_size);
    gguf_writer_set_u32(w, KEY("feed_forward_length"), (uint32_t)c->intermediate_size);
    gguf_writer_set_u32(w, KEY("attention.head_count"), (uint32_t)c->n_heads);
    gguf_writer_set_u32(w, KEY("attention.head_count_kv"), 1); /* MLA runs as MQA over the latent */
    gguf_writer_set_f32(w, KEY("rope.freq_base"), (float)c->rope_theta);
    gguf_writer_set_f32(w, KEY("attention.layer_norm_rms_epsilon"), c->rms_norm_eps);
    if (c->n_routed_experts > 0) {
        gguf_writer_set_u32(w, KEY("expert_count"), (uint32_t)c->n_routed_experts);
        gguf_writer_set_u32(w, KEY("expert_used_count"), (uint32_t)c->n_experts_per_tok);
        gguf_writer_set_u32(w, KEY("expert_group_count"), (uint32_t)c->n_group);
        gguf_writer_set_u32(w, KEY("expert_group_used_count"), (uint32_t)c->topk_group);
        gguf_writer_set_u32(w, KEY("expert_gating_func"), c->scoring == DSV3_SCORE_SIGMOID ? 2u : 1u);
    }
    gguf_writer_set_u32(w, KEY("leading_dense_block_count"), (uint32_t)c->first_k_dense_replace);
    gguf_writer_set_u32(w, KEY("vocab_size"), (uint32_t)c->vocab_size);
    gguf_writer_set_u32(w, KEY("attention.q_lora_rank"), (uint32_t)c->q_lora_rank);
    gguf_writer_set_u32(w, KEY("attention.kv_lora_rank"), (uint32_t)c->kv_lora_rank);
    gguf_writer_set_u32(w, KEY("attention.key_length"), (uint32_t)(c->kv_lora_rank + c->qk_rope_head_dim));
    gguf_writer_set_u32(w, KEY("attention.value_length"), (uint32_t)c->kv_lora_rank);
    gguf_writer_set_u32(w, KEY("attention.key_length_mla"), (uint32_t)(c->qk_nope_head_dim + c->qk_rope_head_dim));
    gguf_writer_set_u32(w, KEY("attention.value_length_mla"), (uint32_t)c->v_head_dim);
    if (c->n_routed_experts > 0) {
        gguf_writer_set_u32(w, KEY("expert_feed_forward_length"), (uint32_t)c->moe_intermediate_size);
        gguf_writer_set_u32(w, KEY("expert_shared_count"), (uint32_t)c->n_shared_experts);
        gguf_writer_set_f32(w, KEY("expert_weights_scale"), c->routed_scaling_factor);
        if (c->norm_topk_prob) gguf_writer_set_bool(w, KEY("expert_weights_norm"), 1);
    }
    gguf_writer_set_u32(w, KEY("rope.dimension_count"), (uint32_t)c->qk_rope_head_dim);
    if (c->has_yarn) {
        gguf_writer_set_str(w, KEY("rope.scaling.type"), "yarn", 4);
        gguf_writer_set_f32(w, KEY("rope.scaling.factor"), (float)c->yarn_factor);
        gguf_writer_set_u32(w, KEY("rope.scaling.original_context_length"), (uint32_t)c->yarn_original_max_pos);
        gguf_writer_set_f32(w, KEY("rope.scaling.yarn_log_multiplier"), (float)(0.1 * c->yarn_mscale_all_dim));
        gguf_writer_set_f32(w, KEY("rope.scaling.yarn_beta_fast"), (float)c->yarn_beta_fast);
        gguf_writer_set_f32(w, KEY("rope.scaling.yarn_beta_slow"), (float)c->yarn_beta_slow);
    }
    if (mtp) gguf_writer_set_u32(w, KEY("nextn_predict_layers"), (uint32_t)mtp);
#undef KEY
}

/* ---- tokenizer ------------------------------------------------------------------------------------ */

static int file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static int parse_json_file(const char *path, size_t max, json_doc **doc, char *msg, size_t msg_size) {
    char *text = NULL;
    size_t len = 0;
    dsv3_err e;
    err_clear(&e);
    *doc = NULL;
    if (read_small_file(path, max, &text, &len, &e)) {
        snprintf(msg, msg_size, "%s", e.msg);
        return 0;
    }
    char jerr[200];
    int jr = json_parse(text, len, doc, jerr, sizeof jerr);
    free(text);
    if (jr) {
        snprintf(msg, msg_size, "%s: %s", path, jerr);
        return 0;
    }
    return 1;
}

/* The id of a token given by text in tokenizer_config.json (pad_token). */
static int32_t config_token_id(const json_value *cfg, const char *key, const char **tok, const size_t *lens, size_t n) {
    const json_value *v = json_get(cfg, key);
    if (v && v->type == JSON_OBJECT) v = json_get(v, "content");
    if (!v || v->type != JSON_STRING) return -1;
    for (size_t i = 0; i < n; i++)
        if (tok[i] && lens[i] == v->len && !memcmp(tok[i], v->str, v->len)) return (int32_t)i;
    return -1;
}

/* tokenizer.ggml.* from DIR/tokenizer.json (+ tokenizer_config.json).
 * Returns 1 when written, 0 when the tokenizer is left out (*why says
 * why), -1 on a hard error (in *why). */
static int add_tokenizer(gguf_writer *w, const char *dir, int32_t vocab_size, char *why, size_t why_size) {
    char jpath[4096], cpath[4096];
    snprintf(jpath, sizeof jpath, "%s/tokenizer.json", dir);
    snprintf(cpath, sizeof cpath, "%s/tokenizer_config.json", dir);
    if (!file_exists(jpath)) {
        snprintf(why, why_size, "no tokenizer.json in %s", dir);
        return 0;
    }
    /* Our own loader decides whether the tokenizer is one dsv3 (and the
     * deepseek-v3 pre-tokenizer) reproduces, and gives BOS/EOS/add_bos. */
    dsv3_tokenizer *tok = NULL;
    dsv3_err e;
    err_clear(&e);
    int rc = tokenizer_load_hf(jpath, cpath, &tok, &e);
    if (rc == DSV3_ERR_UNSUPPORTED) {
        snprintf(why, why_size, "%s", e.msg);
        return 0;
    }
    if (rc) {
        snprintf(why, why_size, "%s", e.msg);
        return -1;
    }
    json_doc *doc = NULL, *cdoc = NULL;
    const char **toks = NULL, **merges = NULL;
    size_t *lens = NULL, *mlens = NULL;
    int32_t *types = NULL;
    char *pads = NULL, *mbuf = NULL;
    int ret = -1;
    if (!parse_json_file(jpath, (size_t)1 << 30, &doc, why, why_size)) goto done;
    if (file_exists(cpath) && !parse_json_file(cpath, (size_t)64 << 20, &cdoc, why, why_size)) goto done;
    const json_value *root = json_root(doc), *model = json_get(root, "model");
    const json_value *vocab = json_get(model, "vocab"), *mg = json_get(model, "merges");
    const json_value *added = json_get(root, "added_tokens");
    /* (tokenizer_load_hf has validated these shapes) */
    int64_t max_id = -1;
    for (size_t i = 0; i < vocab->n; i++)
        if (vocab->items[i].i > max_id) max_id = vocab->items[i].i;
    for (size_t i = 0; added && added->type == JSON_ARRAY && i < added->n; i++) {
        const json_value *id = json_get(&added->items[i], "id");
        if (id->i > max_id) max_id = id->i;
    }
    size_t n = (size_t)(max_id + 1 > vocab_size ? max_id + 1 : vocab_size);
    toks = calloc(n, sizeof *toks);
    lens = calloc(n, sizeof *lens);
    types = calloc(n, sizeof *types);
    pads = malloc(n * 24);
    if (!toks || !lens || !types || !pads) { snprintf(why, why_size, "out of memory"); goto done; }
    for (size_t i = 0; i < vocab->n; i++) {
        size_t id = (size_t)vocab->items[i].i;
        toks[id] = vocab->keys[i];
        lens[id] = vocab->key_lens[i];
        types[id] = 1; /* normal */
    }
    for (size_t i = 0; added && added->type == JSON_ARRAY && i < added->n; i++) {
        const json_value *a = &added->items[i], *content = json_get(a, "content"), *sp = json_get(a, "special");
        size_t id = (size_t)json_get(a, "id")->i;
        toks[id] = content->str;
        lens[id] = content->len;
        types[id] = sp && sp->type == JSON_BOOL && sp->boolean ? 3 /* control */ : 4 /* user-defined */;
    }
    for (size_t i = 0; i < n; i++)
        if (!toks[i]) { /* llama.cpp's filler for ids without a token */
            char *pp = pads + i * 24;
            lens[i] = (size_t)snprintf(pp, 24, "[PAD%zu]", i);
            toks[i] = pp;
            types[i] = 5; /* unused */
        }
    /* merges: "a b", or ["a", "b"] pairs joined with a space */
    merges = calloc(mg->n + 1, sizeof *merges);
    mlens = calloc(mg->n + 1, sizeof *mlens);
    size_t mtotal = 0;
    for (size_t r = 0; r < mg->n; r++)
        if (mg->items[r].type == JSON_ARRAY) mtotal += mg->items[r].items[0].len + mg->items[r].items[1].len + 1;
    mbuf = malloc(mtotal + 1);
    if (!merges || !mlens || !mbuf) { snprintf(why, why_size, "out of memory"); goto done; }
    size_t mat = 0;
    for (size_t r = 0; r < mg->n; r++) {
        const json_value *m = &mg->items[r];
        if (m->type == JSON_STRING) {
            merges[r] = m->str;
            mlens[r] = m->len;
        } else {
            char *q = mbuf + mat;
            memcpy(q, m->items[0].str, m->items[0].len);
            q[m->items[0].len] = ' ';
            memcpy(q + m->items[0].len + 1, m->items[1].str, m->items[1].len);
            merges[r] = q;
            mlens[r] = m->items[0].len + 1 + m->items[1].len;
            mat += mlens[r];
        }
    }
    gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2", 4);
    gguf_writer_set_str(w, "tokenizer.ggml.pre", "deepseek-v3", 11);
    gguf_writer_set_str_arr(w, "tokenizer.ggml.tokens", toks, lens, n);
    gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_I32, types, n);
    gguf_writer_set_str_arr(w, "tokenizer.ggml.merges", merges, mlens, mg->n);
    if (dsv3_tokenizer_bos(tok) >= 0) gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)dsv3_tokenizer_bos(tok));
    if (dsv3_tokenizer_eos(tok) >= 0) gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)dsv3_tokenizer_eos(tok));
    if (cdoc) {
        int32_t pad = config_token_id(json_root(cdoc), "pad_token", toks, lens, n);
        if (pad >= 0) gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)pad);
    }
    gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", dsv3_tokenizer_add_bos(tok));
    const json_value *ae = cdoc ? json_get(json_root(cdoc), "add_eos_token") : NULL;
    gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", ae && ae->type == JSON_BOOL && ae->boolean);
    const char *tpl = tokenizer_chat_template(tok);
    if (tpl) gguf_writer_set_str(w, "tokenizer.chat_template", tpl, strlen(tpl));
    if (n > (size_t)vocab_size)
        snprintf(why, why_size, "the tokenizer has %zu ids but the model's vocab_size is %d: llama.cpp will refuse this "
                 "file (dsv3 loads it)", n, vocab_size);
    else why[0] = 0;
    ret = 1;
done:
    free(toks);
    free(lens);
    free(types);
    free(pads);
    free(merges);
    free(mlens);
    free(mbuf);
    json_free(doc);
    json_free(cdoc);
    dsv3_tokenizer_free(tok);
    return ret;
}

/* ---- the command ------------------------------------------------------------------------------------ */

int convert_type_index(const char *name) {
    for (int i = 0; i < N_USER_TYPES; i++)
        if (!strcasecmp(name, TYPES[i].name)) return i;
    return -1;
}

const char *convert_type_names(void) { return "Q8_0|Q4_0|Q4_K|Q5_K|Q6_K|BF16|F16|F32"; }

/* Fail before writing when the output's file system cannot hold it. */
static int room_for(const char *label, const char *out, uint64_t bytes) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", out);
    char *slash = strrchr(dir, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == dir) dir[1] = 0;
    else *slash = 0;
    struct statvfs v;
    if (statvfs(dir, &v) != 0) return 1;
    uint64_t avail = (uint64_t)v.f_bavail * (uint64_t)v.f_frsize;
    if (avail >= bytes) return 1;
    fprintf(stderr, "%s: %s has %.1f MiB free; %s needs %.1f MiB\n", label, dir, (double)avail / 1048576.0, out,
            (double)bytes / 1048576.0);
    return 0;
}

int convert_run(const convert_job *j) {
    const dsv3_config *c = j->cfg;
    const char *L = j->label;
    const int ti = j->type;
    int threads = j->threads;
    if (threads > 1024) threads = 1024;
    if (threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (int)(n < 256 ? n : 256) : 1;
    }
    for (int i = 0; i < 256; i++) g_fp8[i] = dsv3_fp8e4m3_to_f32((uint8_t)i);
    if (c->moe_layer_freq != 1 && c->n_routed_experts > 0) {
        fprintf(stderr, "%s: moe_layer_freq = %d cannot be expressed in a deepseek2 GGUF (only 1)\n", L, c->moe_layer_freq);
        return 1;
    }
    if (j->keep_mtp && c->n_mtp_layers == 0) {
        fprintf(stderr, "%s: --keep-mtp: the checkpoint has no MTP layer (num_nextn_predict_layers = 0)\n", L);
        return 1;
    }
    if (c->has_yarn && c->yarn_mscale != c->yarn_mscale_all_dim)
        fprintf(stderr, "%s: warning: rope_scaling.mscale (%g) != mscale_all_dim (%g); GGUF keeps only "
                "mscale_all_dim (llama.cpp assumes they are equal)\n", L, c->yarn_mscale, c->yarn_mscale_all_dim);
    plan p;
    memset(&p, 0, sizeof p);
    p.c = c;
    p.src = &j->src;
    p.want = TYPES[ti].wtype;
    p.keep_mtp = j->keep_mtp;
    p.fp8_br = c->fp8_block_rows ? c->fp8_block_rows : 128;
    p.fp8_bc = c->fp8_block_cols ? c->fp8_block_cols : 128;
    dsv3_err e;
    err_clear(&e);
    gguf_writer *w = NULL;
    dsv3_pool *pool = NULL;
    char *tmp = NULL;
    int status = 1, dropped = 0, rc = 0;
    if (!build_plan(&p, &dropped)) {
        fprintf(stderr, "%s: %s: %s\n", L, j->in_name, p.err);
        goto done;
    }
    if (dropped)
        fprintf(stderr, "%s: leaving out the MTP layer (%d tensors); --keep-mtp keeps it\n", L, dropped);
    if (p.n_fallback)
        fprintf(stderr, "%s: %d tensor%s whose rows the %s block does not divide stored as a fallback type\n", L,
                p.n_fallback, p.n_fallback == 1 ? "" : "s", TYPES[ti].name);

    w = gguf_writer_new();
    if (!w) { fprintf(stderr, "%s: out of memory\n", L); goto done; }
    set_model_kvs(w, c, j->keep_mtp, TYPES[ti].ftype, j->model_name, j->origin);
    if (j->tokenizer_dir) {
        char why[512];
        int tr = add_tokenizer(w, j->tokenizer_dir, c->vocab_size, why, sizeof why);
        if (tr < 0) { fprintf(stderr, "%s: tokenizer: %s\n", L, why); goto done; }
        if (tr == 0) {
            fprintf(stderr, "%s: warning: no tokenizer in the GGUF (tokenizer.ggml.model = none): %s\n", L, why);
            gguf_writer_set_str(w, "tokenizer.ggml.model", "none", 4);
        } else if (why[0]) {
            fprintf(stderr, "%s: warning: %s\n", L, why);
        }
    } else {
        gguf_writer_set_str(w, "tokenizer.ggml.model", "none", 4);
    }
    uint64_t in_total = 0;
    for (size_t i = 0; i < p.nt && !rc; i++) {
        uint64_t nb = 0;
        rc = gguf_writer_add_tensor(w, p.t[i].name, wtype_to_ggml(p.t[i].wtype), p.t[i].n_dims, p.t[i].ne, &nb);
        in_total += p.t[i].in_bytes;
    }
    if (rc) { fprintf(stderr, "%s: cannot lay out the tensors (%s)\n", L, dsv3_status_string(rc)); goto done; }
    size_t olen = strlen(j->out);
    tmp = malloc(olen + 8);
    pool = dsv3_pool_create(threads);
    if (!tmp || !pool) { fprintf(stderr, "%s: out of memory or threads\n", L); goto done; }
    snprintf(tmp, olen + 8, "%s.part", j->out);
    rc = gguf_writer_begin(w, tmp, &e);
    if (rc) {
        fprintf(stderr, "%s: %s\n", L, e.msg);
        remove(tmp);
        goto done;
    }
    /* the size is known once the tensors are laid out: say it before the
     * long part, and stop now when the disk cannot hold it */
    const uint64_t out_bytes = gguf_writer_file_size(w);
    if (!j->quiet)
        fprintf(stderr, "%s: %s -> %s: %zu tensors, %s, %.1f MiB in, expected output %.1f MiB, %d thread%s\n", L,
                j->in_name, j->out, p.nt, TYPES[ti].name, (double)in_total / 1048576.0, (double)out_bytes / 1048576.0,
                threads, threads == 1 ? "" : "s");
    if (!room_for(L, j->out, out_bytes)) {
        remove(tmp);
        goto done;
    }
    progress pr = {.total = in_total, .t0 = now_s(), .tty = isatty(2), .quiet = j->quiet, .last_decile = -1, .label = L};
    rc = write_tensors(&p, w, pool, &pr, &e);
    if (!rc) rc = gguf_writer_finish(w, &e);
    if (rc) {
        if (pr.tty && !j->quiet) fputc('\n', stderr);
        fprintf(stderr, "%s: %s\n", L, e.msg);
        remove(tmp);
        goto done;
    }
    if (rename(tmp, j->out) != 0) {
        fprintf(stderr, "%s: cannot rename %s to %s: %s\n", L, tmp, j->out, strerror(errno));
        remove(tmp);
        goto done;
    }
    show(&pr, "", 1);
    double secs = now_s() - pr.t0;
    fprintf(stderr, "%s: wrote %s: %zu tensors, %.1f MiB, from %.1f MiB of input in %.2f s (%.1f MB/s)\n", L, j->out,
            p.nt, (double)gguf_writer_file_size(w) / 1048576.0, (double)in_total / 1048576.0, secs,
            secs > 0 ? (double)in_total / secs / 1e6 : 0.0);
    status = 0;
done:
    gguf_writer_free(w);
    dsv3_pool_free(pool);
    free(tmp);
    free(p.t);
    free(p.s);
    free(p.used);
    return status;
}

/* ---- the command: a mapped checkpoint directory ---- */

static const st_tensor *map_find(void *ctx, const char *name) { return st_find(ctx, name); }
static size_t map_count(void *ctx) { return st_count(ctx); }
static const st_tensor *map_at(void *ctx, size_t i) { return st_at(ctx, i); }

static const char *base_name(const char *path, char *buf, size_t n) {
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') len--;
    size_t b = len;
    while (b > 0 && path[b - 1] != '/') b--;
    snprintf(buf, n, "%.*s", (int)(len - b), path + b);
    return buf;
}

int cmd_convert(int argc, char **argv) {
    const char *in = NULL, *out = NULL, *type = NULL;
    int keep_mtp = 0, threads = 0, quiet = 0;
    const cli_opt opts[] = {
        OPT_STR("--model", "-m", &in, "HF_DIR", "Hugging Face checkpoint directory (required)"),
        OPT_STR("--out", "-o", &out, "OUT.gguf", "the GGUF file to write (required)"),
        OPT_STR("--type", NULL, &type, "Q8_0|Q4_0|Q4_K|Q5_K|Q6_K|BF16|F16|F32", "weight type (required)"),
        OPT_FLAG("--keep-mtp", NULL, &keep_mtp, "keep the multi-token-prediction layer"),
        OPT_INT("--threads", "-t", &threads, 0, 1024, "N", "quantizing threads, 0 = all cores"),
        OPT_FLAG("--quiet", "-q", &quiet, "no progress"),
    };
    const cli_cmd cmd = {"convert", "-m HF_DIR -o OUT.gguf --type T [--keep-mtp] [-t N] [--quiet]",
                         "Convert a Hugging Face DeepSeek-V2/V3 checkpoint (F32, BF16, F16 or FP8) to a GGUF file that\n"
                         "llama.cpp's deepseek2 loader accepts, quantizing every matrix to --type. Progress goes to\n"
                         "stderr (a bar on a terminal, a line at every 10% otherwise).",
                         "  dsv3 convert -m DeepSeek-V3 -o v3-q4k.gguf --type Q4_K --keep-mtp", opts,
                         (int)(sizeof opts / sizeof opts[0])};
    int pr = cli_parse(&cmd, argc, argv);
    if (pr) return pr == 1 ? 0 : 2;
    if (!in || !out || !type) return cli_usage_error(&cmd, "-m, -o and --type are required");
    int ti = convert_type_index(type);
    if (ti < 0) return cli_usage_error(&cmd, "--type %s is not one of %s", type, convert_type_names());

    /* config.json */
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", in);
    char *text = NULL;
    size_t len = 0;
    dsv3_err e;
    err_clear(&e);
    dsv3_config cfg;
    int rc = read_small_file(path, 16u << 20, &text, &len, &e);
    if (!rc) rc = config_parse_hf(text, len, &cfg, &e);
    free(text);
    if (rc) { fprintf(stderr, "dsv3 convert: %s: %s\n", in, e.msg); return 1; }
    st_set *st = NULL;
    rc = st_open_dir(in, 1, &st, &e);
    if (rc) { fprintf(stderr, "dsv3 convert: %s\n", e.msg); return 1; }
    char name[256];
    convert_job j = {.label = "dsv3 convert", .in_name = in, .model_name = base_name(in, name, sizeof name),
                     .tokenizer_dir = in, .out = out, .cfg = &cfg,
                     .src = {map_find, map_count, map_at, NULL, NULL, st}, .origin = cli_synth_origin(in), .type = ti,
                     .keep_mtp = keep_mtp, .threads = threads, .quiet = quiet};
    int status = convert_run(&j);
    st_close(st);
    return status;
}
