/* gguf.c -- parse and validate GGUF files over mapped memory (see gguf.h).
 *
 * One pass over each part's header: every read is preceded by a check of
 * the bytes that remain, and every count is bounded by those bytes (times
 * the smallest size one element can take) before anything is allocated.
 * The arrays of KVs and tensors are the only allocations, besides the two
 * hash tables; strings, arrays and tensor data stay in the mapping. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsv3.h"
#include "gguf.h"
#include "mapfile.h"

#define GGUF_MAX_PARTS 65535
#define SHOWN_KEY 160 /* bytes of a key quoted in a message */

/* ---- ggml types ----------------------------------------------------------- */

static const struct {
    const char *name;
    int block;
    unsigned bytes;
} ggml_types[GGML_T_COUNT] = {
    [GGML_T_F32] = {"F32", 1, 4},          [GGML_T_F16] = {"F16", 1, 2},
    [GGML_T_Q4_0] = {"Q4_0", 32, 18},      [GGML_T_Q4_1] = {"Q4_1", 32, 20},
    [GGML_T_Q5_0] = {"Q5_0", 32, 22},      [GGML_T_Q5_1] = {"Q5_1", 32, 24},
    [GGML_T_Q8_0] = {"Q8_0", 32, 34},      [GGML_T_Q8_1] = {"Q8_1", 32, 36},
    [GGML_T_Q2_K] = {"Q2_K", 256, 84},     [GGML_T_Q3_K] = {"Q3_K", 256, 110},
    [GGML_T_Q4_K] = {"Q4_K", 256, 144},    [GGML_T_Q5_K] = {"Q5_K", 256, 176},
    [GGML_T_Q6_K] = {"Q6_K", 256, 210},    [GGML_T_Q8_K] = {"Q8_K", 256, 292},
    [GGML_T_IQ2_XXS] = {"IQ2_XXS", 256, 66}, [GGML_T_IQ2_XS] = {"IQ2_XS", 256, 74},
    [GGML_T_IQ3_XXS] = {"IQ3_XXS", 256, 98}, [GGML_T_IQ1_S] = {"IQ1_S", 256, 50},
    [GGML_T_IQ4_NL] = {"IQ4_NL", 32, 18},  [GGML_T_IQ3_S] = {"IQ3_S", 256, 110},
    [GGML_T_IQ2_S] = {"IQ2_S", 256, 82},   [GGML_T_IQ4_XS] = {"IQ4_XS", 256, 136},
    [GGML_T_I8] = {"I8", 1, 1},            [GGML_T_I16] = {"I16", 1, 2},
    [GGML_T_I32] = {"I32", 1, 4},          [GGML_T_I64] = {"I64", 1, 8},
    [GGML_T_F64] = {"F64", 1, 8},          [GGML_T_IQ1_M] = {"IQ1_M", 256, 56},
    [GGML_T_BF16] = {"BF16", 1, 2},        [GGML_T_TQ1_0] = {"TQ1_0", 256, 54},
    [GGML_T_TQ2_0] = {"TQ2_0", 256, 66},   [GGML_T_MXFP4] = {"MXFP4", 32, 17},
};

const char *gguf_ggml_type_name(int t) { return t >= 0 && t < GGML_T_COUNT ? ggml_types[t].name : NULL; }
int gguf_ggml_type_block(int t) { return gguf_ggml_type_name(t) ? ggml_types[t].block : 0; }
size_t gguf_ggml_type_block_bytes(int t) { return gguf_ggml_type_name(t) ? ggml_types[t].bytes : 0; }

/* ---- value types ----------------------------------------------------------- */

static const struct {
    const char *name;
    unsigned size; /* 0: variable */
} vtypes[GGUF_VTYPE_COUNT] = {
    [GGUF_U8] = {"u8", 1},   [GGUF_I8] = {"i8", 1},   [GGUF_U16] = {"u16", 2},  [GGUF_I16] = {"i16", 2},
    [GGUF_U32] = {"u32", 4}, [GGUF_I32] = {"i32", 4}, [GGUF_F32] = {"f32", 4},  [GGUF_BOOL] = {"bool", 1},
    [GGUF_STR] = {"string", 0}, [GGUF_ARR] = {"array", 0}, [GGUF_U64] = {"u64", 8}, [GGUF_I64] = {"i64", 8},
    [GGUF_F64] = {"f64", 8},
};

size_t gguf_vtype_size(int t) { return t >= 0 && t < GGUF_VTYPE_COUNT ? vtypes[t].size : 0; }
const char *gguf_vtype_name(int t) { return t >= 0 && t < GGUF_VTYPE_COUNT ? vtypes[t].name : "invalid"; }

static uint16_t le16(const unsigned char *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const unsigned char *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

static int64_t u64_to_i64(uint64_t u) { return u <= (uint64_t)INT64_MAX ? (int64_t)u : -(int64_t)(~u) - 1; }

/* ---- the file -------------------------------------------------------------- */

typedef struct strhash {
    size_t *slot; /* index + 1; 0 = empty */
    size_t cap;
} strhash;

typedef struct part {
    mapfile map;
    int owned;
} part;

struct gguf_file {
    part *parts;
    int n_parts;
    uint32_t version;
    uint64_t alignment;
    gguf_kv *kv;
    size_t n_kv;
    strhash kv_hash;
    gguf_tensor *t;
    size_t n_t;
    strhash t_hash;
    uint64_t bytes;
};

/* One parsed part before it is merged into a gguf_file. */
typedef struct parsed {
    uint32_t version;
    uint64_t alignment;
    gguf_kv *kv;
    size_t n_kv;
    strhash kv_hash;
    gguf_tensor *t;
    size_t n_t;
    uint64_t header_bytes; /* up to the end of the tensor infos */
} parsed;

static void parsed_free(parsed *p) {
    free(p->kv);
    free(p->kv_hash.slot);
    free(p->t);
    memset(p, 0, sizeof *p);
}

static uint64_t fnv1a(const char *p, uint64_t n) {
    uint64_t h = 1469598103934665603ull;
    for (uint64_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

/* Both gguf_kv and gguf_tensor start with their gguf_str name. */
static const gguf_str *name_at(const void *base, size_t stride, size_t i) {
    return (const gguf_str *)(const void *)((const char *)base + i * stride);
}

static int str_eq(gguf_str a, const char *p, uint64_t n) { return a.n == n && (n == 0 || memcmp(a.p, p, n) == 0); }
int gguf_str_eq(gguf_str s, const char *z) { return z && str_eq(s, z, strlen(z)); }

/* Returns 0, -1 (no memory) or 1 + the index of the second of two equal names. */
static size_t sh_build(strhash *h, const void *base, size_t stride, size_t n, int *nomem) {
    size_t cap = 16;
    *nomem = 0;
    while (cap < 2 * n + 2) cap *= 2;
    h->slot = calloc(cap, sizeof *h->slot);
    if (!h->slot) {
        *nomem = 1;
        return 0;
    }
    h->cap = cap;
    for (size_t k = 0; k < n; k++) {
        const gguf_str *s = name_at(base, stride, k);
        size_t i = (size_t)fnv1a(s->p, s->n) & (cap - 1);
        for (; h->slot[i]; i = (i + 1) & (cap - 1))
            if (str_eq(*name_at(base, stride, h->slot[i] - 1), s->p, s->n)) return k + 1;
        h->slot[i] = k + 1;
    }
    return 0;
}

static const void *sh_find(const strhash *h, const void *base, size_t stride, const char *key) {
    if (!h->cap || !key) return NULL;
    size_t n = strlen(key);
    for (size_t i = (size_t)fnv1a(key, n) & (h->cap - 1);; i = (i + 1) & (h->cap - 1)) {
        size_t v = h->slot[i];
        if (!v) return NULL;
        if (str_eq(*name_at(base, stride, v - 1), key, n)) return name_at(base, stride, v - 1);
    }
}

/* ---- the reader ------------------------------------------------------------- */

typedef struct rd {
    const unsigned char *d;
    uint64_t size, pos;
    const char *name; /* file name for messages */
    dsv3_err *e;
} rd;

static int fail(rd *r, int status, const char *fmt, ...) DSV3_PRINTF(3, 4);
static int fail(rd *r, int status, const char *fmt, ...) {
    char msg[DSV3_ERR_MSG_SIZE];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return err_set(r->e, status, "%s: %s", r->name, msg);
}

/* `n` more bytes must remain; `what` names the field for the message. */
static int need(rd *r, uint64_t n, const char *what) {
    if (n <= r->size - r->pos) return DSV3_OK;
    return fail(r, DSV3_ERR_BAD_FILE, "truncated: %s needs %llu bytes at offset %llu, but the file ends at %llu", what,
                (unsigned long long)n, (unsigned long long)r->pos, (unsigned long long)r->size);
}

#define TRY(x) do { int rc_ = (x); if (rc_) return rc_; } while (0)

/* For messages: a key or name, cut to a printable length. */
#define SHOW(s) (int)((s).n < SHOWN_KEY ? (s).n : SHOWN_KEY), (s).p

static int parse_value(rd *r, int type, int depth, gguf_value *v, gguf_str key) {
    char what[256];
    memset(v, 0, sizeof *v);
    v->type = type;
    v->elem_type = -1;
    if (type < 0 || type >= GGUF_VTYPE_COUNT)
        return fail(r, DSV3_ERR_BAD_FILE, "key '%.*s' has value type %d, which is not a GGUF type", SHOW(key), type);
    size_t fs = gguf_vtype_size(type);
    if (fs) {
        snprintf(what, sizeof what, "a %s value of key '%.*s'", vtypes[type].name, SHOW(key));
        TRY(need(r, fs, what));
        v->p = r->d + r->pos;
        v->size = fs;
        r->pos += fs;
        return DSV3_OK;
    }
    if (type == GGUF_STR) {
        snprintf(what, sizeof what, "the length of a string in key '%.*s'", SHOW(key));
        TRY(need(r, 8, what));
        uint64_t len = le64(r->d + r->pos);
        r->pos += 8;
        if (len > r->size - r->pos)
            return fail(r, DSV3_ERR_BAD_FILE,
                        "a string in key '%.*s' has length %llu at offset %llu, past the end of the %llu-byte file",
                        SHOW(key), (unsigned long long)len, (unsigned long long)(r->pos - 8),
                        (unsigned long long)r->size);
        v->p = r->d + r->pos;
        v->n = len;
        v->size = len;
        r->pos += len;
        return DSV3_OK;
    }
    /* GGUF_ARR */
    if (depth >= GGUF_MAX_ARRAY_DEPTH)
        return fail(r, DSV3_ERR_BAD_FILE, "key '%.*s' has arrays nested deeper than %d", SHOW(key), GGUF_MAX_ARRAY_DEPTH);
    snprintf(what, sizeof what, "the type and length of an array in key '%.*s'", SHOW(key));
    TRY(need(r, 12, what));
    uint32_t et = le32(r->d + r->pos);
    uint64_t n = le64(r->d + r->pos + 4);
    r->pos += 12;
    if (et >= GGUF_VTYPE_COUNT)
        return fail(r, DSV3_ERR_BAD_FILE, "an array in key '%.*s' has element type %u, which is not a GGUF type",
                    SHOW(key), et);
    /* The least an element can take: its fixed size, a string's length
     * field, a nested array's type and count. */
    size_t efs = gguf_vtype_size((int)et), least = efs ? efs : et == GGUF_STR ? 8 : 12;
    if (n > (r->size - r->pos) / least)
        return fail(r, DSV3_ERR_BAD_FILE,
                    "an array in key '%.*s' has length %llu, more %s elements than the %llu bytes left can hold",
                    SHOW(key), (unsigned long long)n, vtypes[et].name, (unsigned long long)(r->size - r->pos));
    uint64_t start = r->pos;
    if (efs) {
        r->pos += n * efs;
    } else {
        for (uint64_t i = 0; i < n; i++) {
            gguf_value sub;
            TRY(parse_value(r, (int)et, depth + 1, &sub, key));
        }
    }
    v->p = r->d + start;
    v->n = n;
    v->elem_type = (int)et;
    v->size = r->pos - start;
    return DSV3_OK;
}

/* Room for element n of an array of `size`-byte elements; 0: no memory. */
static int grow(void **arr, size_t *cap, size_t n, size_t size) {
    if (n < *cap) return 1;
    size_t nc = *cap ? 2 * *cap : 64;
    void *p = realloc(*arr, nc * size);
    if (!p) return 0;
    memset((char *)p + *cap * size, 0, (nc - *cap) * size);
    *arr = p;
    *cap = nc;
    return 1;
}

static int cmp_range(const void *a, const void *b) {
    const uint64_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : (x[1] < y[1] ? -1 : x[1] > y[1]);
}

/* Parse one whole part. */
static int parse_part(const unsigned char *d, uint64_t size, const char *name, int part_no, parsed *out, dsv3_err *e) {
    rd r = {d, size, 0, name, e};
    rd *R = &r;
    char what[256];
    memset(out, 0, sizeof *out);
    if (size < 4 || memcmp(d, "GGUF", 4) != 0)
        return fail(R, DSV3_ERR_BAD_FILE, "not a GGUF file (the first 4 bytes are not \"GGUF\")");
    r.pos = 4;
    TRY(need(R, 4, "the version"));
    uint32_t ver = le32(d + 4);
    r.pos = 8;
    if (ver != 2 && ver != 3) {
        uint32_t sw = (ver >> 24) | ((ver >> 8) & 0xff00u) | ((ver << 8) & 0xff0000u) | (ver << 24);
        if (sw >= 1 && sw <= 3)
            return fail(R, DSV3_ERR_UNSUPPORTED, "big-endian GGUF (version %u) is not supported", sw);
        return fail(R, DSV3_ERR_UNSUPPORTED, "GGUF version %u is not supported (only 2 and 3)", ver);
    }
    out->version = ver;
    TRY(need(R, 16, "the tensor and KV counts"));
    uint64_t n_t = le64(d + 8), n_kv = le64(d + 16);
    r.pos = 24;
    /* A KV takes at least 8 (key length) + 4 (type) + 1 bytes; a tensor
     * info 8 (name length) + 1 (name) + 4 (n_dims) + 8 (ne0) + 4 + 8. */
    if (n_kv > (size - r.pos) / 13)
        return fail(R, DSV3_ERR_BAD_FILE, "KV count %llu is more than the %llu bytes after the header can hold",
                    (unsigned long long)n_kv, (unsigned long long)(size - r.pos));
    if (n_t > (size - r.pos) / 33)
        return fail(R, DSV3_ERR_BAD_FILE, "tensor count %llu is more than the %llu bytes after the header can hold",
                    (unsigned long long)n_t, (unsigned long long)(size - r.pos));
    size_t cap = 0;
    for (uint64_t i = 0; i < n_kv; i++) {
        /* grown as entries are actually parsed: a count that a big file
         * could hold but this one does not cannot reserve much */
        if (!grow((void **)&out->kv, &cap, out->n_kv, sizeof *out->kv))
            return fail(R, DSV3_ERR_NO_MEMORY, "out of memory for %llu KVs", (unsigned long long)n_kv);
        gguf_kv *kv = &out->kv[i];
        snprintf(what, sizeof what, "the key length of KV %llu", (unsigned long long)i);
        TRY(need(R, 8, what));
        uint64_t kl = le64(d + r.pos);
        r.pos += 8;
        if (kl > size - r.pos)
            return fail(R, DSV3_ERR_BAD_FILE, "the key of KV %llu has length %llu, past the end of the %llu-byte file",
                        (unsigned long long)i, (unsigned long long)kl, (unsigned long long)size);
        kv->key.p = (const char *)d + r.pos;
        kv->key.n = kl;
        r.pos += kl;
        snprintf(what, sizeof what, "the value type of key '%.*s'", SHOW(kv->key));
        TRY(need(R, 4, what));
        uint32_t vt = le32(d + r.pos);
        r.pos += 4;
        if (vt >= GGUF_VTYPE_COUNT)
            return fail(R, DSV3_ERR_BAD_FILE, "key '%.*s' has value type %u, which is not a GGUF type", SHOW(kv->key), vt);
        TRY(parse_value(R, (int)vt, 0, &kv->v, kv->key));
        out->n_kv++;
    }
    int nomem;
    size_t dup = sh_build(&out->kv_hash, out->kv, sizeof *out->kv, out->n_kv, &nomem);
    if (nomem) return fail(R, DSV3_ERR_NO_MEMORY, "out of memory");
    if (dup) return fail(R, DSV3_ERR_BAD_FILE, "key '%.*s' appears twice", SHOW(out->kv[dup - 1].key));

    out->alignment = GGUF_DEFAULT_ALIGNMENT;
    const gguf_kv *al = sh_find(&out->kv_hash, out->kv, sizeof *out->kv, "general.alignment");
    if (al) {
        if (al->v.type != GGUF_U32)
            return fail(R, DSV3_ERR_BAD_FILE, "key 'general.alignment' has type %s, expected u32", vtypes[al->v.type].name);
        uint32_t a = le32(al->v.p);
        if (a == 0 || (a & (a - 1)))
            return fail(R, DSV3_ERR_BAD_FILE, "general.alignment = %u is not a power of two", a);
        out->alignment = a;
    }

    /* Tensor infos: the bound above was loose (the KVs came first). */
    if (n_t > (size - r.pos) / 33)
        return fail(R, DSV3_ERR_BAD_FILE, "tensor count %llu is more than the %llu bytes after the KVs can hold",
                    (unsigned long long)n_t, (unsigned long long)(size - r.pos));
    cap = 0;
    for (uint64_t i = 0; i < n_t; i++) {
        if (!grow((void **)&out->t, &cap, out->n_t, sizeof *out->t))
            return fail(R, DSV3_ERR_NO_MEMORY, "out of memory for %llu tensors", (unsigned long long)n_t);
        gguf_tensor *t = &out->t[i];
        snprintf(what, sizeof what, "the name length of tensor %llu", (unsigned long long)i);
        TRY(need(R, 8, what));
        uint64_t nl = le64(d + r.pos);
        r.pos += 8;
        if (nl == 0 || nl >= GGUF_MAX_NAME)
            return fail(R, DSV3_ERR_BAD_FILE, "tensor %llu has a name of %llu bytes (1 to %d allowed)",
                        (unsigned long long)i, (unsigned long long)nl, GGUF_MAX_NAME - 1);
        snprintf(what, sizeof what, "the name of tensor %llu", (unsigned long long)i);
        TRY(need(R, nl, what));
        t->name.p = (const char *)d + r.pos;
        t->name.n = nl;
        r.pos += nl;
        if (memchr(t->name.p, 0, (size_t)nl))
            return fail(R, DSV3_ERR_BAD_FILE, "the name of tensor %llu contains a NUL byte", (unsigned long long)i);
        snprintf(what, sizeof what, "n_dims of tensor '%.*s'", SHOW(t->name));
        TRY(need(R, 4, what));
        uint32_t nd = le32(d + r.pos);
        r.pos += 4;
        if (nd < 1 || nd > GGUF_MAX_DIMS)
            return fail(R, DSV3_ERR_BAD_FILE, "tensor '%.*s' has n_dims %u (1 to %d allowed)", SHOW(t->name), nd,
                        GGUF_MAX_DIMS);
        t->n_dims = (int)nd;
        snprintf(what, sizeof what, "the shape of tensor '%.*s'", SHOW(t->name));
        TRY(need(R, 8ull * nd, what));
        for (int k = 0; k < GGUF_MAX_DIMS; k++) t->ne[k] = 1;
        for (uint32_t k = 0; k < nd; k++) {
            uint64_t ne = le64(d + r.pos);
            r.pos += 8;
            if (ne > (uint64_t)INT64_MAX)
                return fail(R, DSV3_ERR_BAD_FILE, "tensor '%.*s' has ne[%u] = %llu", SHOW(t->name), k,
                            (unsigned long long)ne);
            t->ne[k] = (int64_t)ne;
        }
        snprintf(what, sizeof what, "the type and offset of tensor '%.*s'", SHOW(t->name));
        TRY(need(R, 12, what));
        uint32_t ty = le32(d + r.pos);
        t->offset = le64(d + r.pos + 4);
        r.pos += 12;
        if (!gguf_ggml_type_name((int)ty))
            return fail(R, DSV3_ERR_BAD_DTYPE, "tensor '%.*s' has ggml type id %u, which is not a known ggml type",
                        SHOW(t->name), ty);
        t->type = (int)ty;
        t->part = part_no;
        out->n_t++;
    }

    out->header_bytes = r.pos;
    /* The data section starts at the next multiple of the alignment. */
    uint64_t al_ = out->alignment, ds = (r.pos + al_ - 1) / al_ * al_, dsize = 0;
    if (ds <= size) dsize = size - ds;
    else if (n_t)
        return fail(R, DSV3_ERR_BAD_FILE, "truncated: the data section would start at byte %llu, past the end of the %llu-byte file",
                    (unsigned long long)ds, (unsigned long long)size);
    uint64_t *ranges = malloc(3 * sizeof(uint64_t) * (size_t)(n_t ? n_t : 1));
    if (!ranges) return fail(R, DSV3_ERR_NO_MEMORY, "out of memory");
    size_t nr = 0;
    int rc = DSV3_OK;
    for (size_t i = 0; i < out->n_t && !rc; i++) {
        gguf_tensor *t = &out->t[i];
        const int blk = ggml_types[t->type].block;
        const uint64_t bb = ggml_types[t->type].bytes;
        if (t->ne[0] % blk) {
            rc = fail(R, DSV3_ERR_BAD_FILE, "tensor '%.*s' (%s) has ne[0] = %lld, not a multiple of the block size %d",
                      SHOW(t->name), ggml_types[t->type].name, (long long)t->ne[0], blk);
            break;
        }
        uint64_t elems = (uint64_t)t->ne[0], nb = (uint64_t)(t->ne[0] / blk);
        int over = nb > UINT64_MAX / bb;
        nb *= bb;
        for (int k = 1; k < GGUF_MAX_DIMS && !over; k++) {
            uint64_t ne = (uint64_t)t->ne[k];
            if (ne && (elems > (uint64_t)INT64_MAX / ne || nb > UINT64_MAX / ne)) over = 1;
            elems *= ne;
            nb *= ne;
        }
        if (over || nb > (uint64_t)SIZE_MAX) {
            rc = fail(R, DSV3_ERR_BAD_FILE, "tensor '%.*s' has shape {%lld, %lld, %lld, %lld}, too large to address",
                      SHOW(t->name), (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2], (long long)t->ne[3]);
            break;
        }
        t->nbytes = nb;
        if (t->offset % al_) {
            rc = fail(R, DSV3_ERR_BAD_FILE, "tensor '%.*s' has offset %llu, not a multiple of the alignment %llu",
                      SHOW(t->name), (unsigned long long)t->offset, (unsigned long long)al_);
            break;
        }
        if (t->offset > dsize || nb > dsize - t->offset) {
            rc = fail(R, DSV3_ERR_BAD_FILE,
                      "tensor '%.*s' has data [%llu, %llu + %llu) outside the %llu-byte data section (file truncated?)",
                      SHOW(t->name), (unsigned long long)t->offset, (unsigned long long)t->offset,
                      (unsigned long long)nb, (unsigned long long)dsize);
            break;
        }
        t->data = d + ds + t->offset;
        if (nb) {
            ranges[3 * nr] = t->offset;
            ranges[3 * nr + 1] = t->offset + nb;
            ranges[3 * nr + 2] = i;
            nr++;
        }
    }
    if (!rc && nr > 1) {
        qsort(ranges, nr, 3 * sizeof(uint64_t), cmp_range);
        size_t far = 0; /* the range reaching furthest so far */
        for (size_t i = 1; i < nr; i++) {
            if (ranges[3 * i] < ranges[3 * far + 1]) {
                const gguf_tensor *a = &out->t[ranges[3 * far + 2]], *b = &out->t[ranges[3 * i + 2]];
                rc = fail(R, DSV3_ERR_BAD_FILE, "tensors '%.*s' [%llu, %llu) and '%.*s' [%llu, %llu) overlap", SHOW(a->name),
                          (unsigned long long)ranges[3 * far], (unsigned long long)ranges[3 * far + 1], SHOW(b->name),
                          (unsigned long long)ranges[3 * i], (unsigned long long)ranges[3 * i + 1]);
                break;
            }
            if (ranges[3 * i + 1] > ranges[3 * far + 1]) far = i;
        }
    }
    free(ranges);
    return rc;
}

/* ---- opening ------------------------------------------------------------------ */

void gguf_close(gguf_file *f) {
    if (!f) return;
    for (int i = 0; i < f->n_parts; i++)
        if (f->parts[i].owned) mapfile_close(&f->parts[i].map);
    free(f->parts);
    free(f->kv);
    free(f->kv_hash.slot);
    free(f->t);
    free(f->t_hash.slot);
    free(f);
}

/* An integer split.* key of a parsed part; -1 when absent, -2 when not an
 * integer or out of [0, INT32_MAX]. */
static int64_t split_key(const parsed *p, const char *key) {
    const gguf_kv *kv = sh_find(&p->kv_hash, p->kv, sizeof *p->kv, key);
    int64_t v;
    if (!kv) return -1;
    if (!gguf_value_int(&kv->v, &v) || v < 0 || v > INT32_MAX) return -2;
    return v;
}

static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* Take over p's KVs (the file's metadata). */
static void adopt_kvs(gguf_file *f, parsed *p) {
    f->version = p->version;
    f->alignment = p->alignment;
    f->kv = p->kv;
    f->n_kv = p->n_kv;
    f->kv_hash = p->kv_hash;
    p->kv = NULL;
    p->kv_hash.slot = NULL;
}

/* Append p's tensors (part index `no`). */
static int merge_tensors(gguf_file *f, parsed *p, const char *name, dsv3_err *e) {
    if (!p->n_t) return DSV3_OK;
    gguf_tensor *nt = realloc(f->t, (f->n_t + p->n_t) * sizeof *nt);
    if (!nt) return err_set(e, DSV3_ERR_NO_MEMORY, "%s: out of memory", name);
    f->t = nt;
    memcpy(f->t + f->n_t, p->t, p->n_t * sizeof *nt);
    f->n_t += p->n_t;
    return DSV3_OK;
}

static int finish(gguf_file *f, const char *name, dsv3_err *e) {
    int nomem;
    size_t dup = sh_build(&f->t_hash, f->t, sizeof *f->t, f->n_t, &nomem);
    if (nomem) return err_set(e, DSV3_ERR_NO_MEMORY, "%s: out of memory", name);
    if (dup) return err_set(e, DSV3_ERR_BAD_FILE, "%s: tensor '%.*s' appears twice", name, SHOW(f->t[dup - 1].name));
    for (int i = 0; i < f->n_parts; i++) f->bytes += f->parts[i].map.size;
    return DSV3_OK;
}

int gguf_open_memory(const void *data, size_t size, gguf_file **out, dsv3_err *e) {
    *out = NULL;
    gguf_file *f = calloc(1, sizeof *f);
    if (!f || !(f->parts = calloc(1, sizeof *f->parts))) {
        free(f);
        return err_set(e, DSV3_ERR_NO_MEMORY, "out of memory");
    }
    f->n_parts = 1;
    f->parts[0].map.data = data;
    f->parts[0].map.size = size;
    f->parts[0].map.fd = -1; /* nothing to watch */
    parsed p;
    int rc = parse_part(data, size, "(memory)", 0, &p, e);
    if (!rc && split_key(&p, "split.count") > 1)
        rc = err_set(e, DSV3_ERR_UNSUPPORTED, "(memory): a part of a split GGUF cannot be opened from memory");
    if (!rc) rc = merge_tensors(f, &p, "(memory)", e);
    if (!rc) {
        adopt_kvs(f, &p);
        rc = finish(f, "(memory)", e);
    }
    parsed_free(&p);
    if (rc) {
        gguf_close(f);
        return rc;
    }
    *out = f;
    return DSV3_OK;
}

static int open_part(const char *path, int use_mmap, part *pt, parsed *p, int no, dsv3_err *e) {
    memset(p, 0, sizeof *p);
    int rc = mapfile_open(&pt->map, path, use_mmap, e);
    if (rc) return rc;
    pt->owned = 1;
    rc = parse_part(pt->map.data, pt->map.size, base_name(path), no, p, e);
    pt->map.header_bytes = p->header_bytes;
    return rc;
}

/* The split of the already parsed part `first` (count > 1): check its
 * file name, open the other parts, merge. */
static int open_split(gguf_file *f, const char *path, int use_mmap, parsed *first, int64_t count, dsv3_err *e) {
    const char *name = base_name(path);
    int64_t no = split_key(first, "split.no");
    if (count > GGUF_MAX_PARTS)
        return err_set(e, DSV3_ERR_BAD_FILE, "%s: split.count = %lld is more than %d parts", name, (long long)count,
                       GGUF_MAX_PARTS);
    if (no < 0 || no >= count)
        return err_set(e, DSV3_ERR_BAD_FILE, "%s: split.count = %lld but split.no is %s", name, (long long)count,
                       no == -1 ? "missing" : "not an integer in range");
    char suffix[64];
    int sl = snprintf(suffix, sizeof suffix, "-%05lld-of-%05lld.gguf", (long long)(no + 1), (long long)count);
    size_t pl = strlen(path);
    if (pl < (size_t)sl || strcmp(path + pl - sl, suffix) != 0)
        return err_set(e, DSV3_ERR_BAD_FILE, "%s: part %lld of a %lld-part split, but the name does not end in '%s'", name,
                       (long long)(no + 1), (long long)count, suffix);
    size_t prefix = pl - (size_t)sl;
    char *pp = malloc(prefix + 64);
    part *parts = calloc((size_t)count, sizeof *parts);
    if (!pp || !parts) {
        free(pp);
        free(parts);
        return err_set(e, DSV3_ERR_NO_MEMORY, "out of memory");
    }
    /* The part already open moves to its slot. */
    parts[no] = f->parts[0];
    free(f->parts);
    f->parts = parts;
    f->n_parts = (int)count;
    int rc = DSV3_OK;
    uint64_t total = 0;
    for (int64_t i = 0; i < count && !rc; i++) {
        parsed p, *use = first;
        if (i != no) {
            memcpy(pp, path, prefix);
            snprintf(pp + prefix, 64, "-%05lld-of-%05lld.gguf", (long long)(i + 1), (long long)count);
            rc = open_part(pp, use_mmap, &f->parts[i], &p, (int)i, e);
            if (rc) {
                parsed_free(&p);
                break;
            }
            use = &p;
            int64_t c2 = split_key(&p, "split.count"), n2 = split_key(&p, "split.no");
            if (c2 != count || n2 != i)
                rc = err_set(e, DSV3_ERR_BAD_FILE, "%s: has split.count %lld and split.no %lld, expected %lld and %lld",
                             base_name(pp), (long long)c2, (long long)n2, (long long)count, (long long)i);
        }
        total += use->n_t;
        if (!rc) rc = merge_tensors(f, use, base_name(i == no ? path : pp), e);
        if (!rc && i == 0) adopt_kvs(f, use);
        if (use != first) parsed_free(&p);
    }
    if (!rc) {
        /* split.tensors.count (first part) is the total, when given */
        const gguf_kv *tc = gguf_find_kv(f, "split.tensors.count");
        int64_t v;
        if (tc && (!gguf_value_int(&tc->v, &v) || v < 0 || (uint64_t)v != total))
            rc = err_set(e, DSV3_ERR_BAD_FILE, "%s: split.tensors.count does not match the %llu tensors of the %lld parts",
                         name, (unsigned long long)total, (long long)count);
    }
    free(pp);
    return rc;
}

int gguf_open(const char *path, int use_mmap, gguf_file **out, dsv3_err *e) {
    *out = NULL;
    gguf_file *f = calloc(1, sizeof *f);
    if (!f || !(f->parts = calloc(1, sizeof *f->parts))) {
        free(f);
        return err_set(e, DSV3_ERR_NO_MEMORY, "out of memory");
    }
    f->n_parts = 1;
    parsed first;
    memset(&first, 0, sizeof first);
    int rc = open_part(path, use_mmap, &f->parts[0], &first, 0, e);
    int64_t count = rc ? 0 : split_key(&first, "split.count");
    if (!rc && count == -2)
        rc = err_set(e, DSV3_ERR_BAD_FILE, "%s: split.count is not an integer in range", base_name(path));
    if (!rc && count > 1) {
        rc = open_split(f, path, use_mmap, &first, count, e);
    } else if (!rc) {
        int64_t no = split_key(&first, "split.no");
        if (no > 0 || no == -2)
            rc = err_set(e, DSV3_ERR_BAD_FILE, "%s: split.no is %lld in a file that is not split", base_name(path),
                         (long long)no);
        if (!rc) rc = merge_tensors(f, &first, base_name(path), e);
        if (!rc) adopt_kvs(f, &first);
    }
    if (!rc) rc = finish(f, base_name(path), e);
    parsed_free(&first);
    if (rc) {
        gguf_close(f);
        return rc;
    }
    *out = f;
    return DSV3_OK;
}

/* ---- queries ------------------------------------------------------------------ */

uint32_t gguf_version(const gguf_file *f) { return f ? f->version : 0; }
const mapfile *dsv3_gguf_part_map(const gguf_file *f, int i) {
    return f && i >= 0 && i < f->n_parts ? &f->parts[i].map : NULL;
}
int gguf_n_parts(const gguf_file *f) { return f ? f->n_parts : 0; }
uint64_t gguf_bytes(const gguf_file *f) { return f ? f->bytes : 0; }
uint64_t gguf_alignment(const gguf_file *f) { return f ? f->alignment : 0; }
size_t gguf_kv_count(const gguf_file *f) { return f ? f->n_kv : 0; }
const gguf_kv *gguf_kv_at(const gguf_file *f, size_t i) { return f && i < f->n_kv ? &f->kv[i] : NULL; }
const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key) {
    return f ? sh_find(&f->kv_hash, f->kv, sizeof *f->kv, key) : NULL;
}
size_t gguf_tensor_count(const gguf_file *f) { return f ? f->n_t : 0; }
const gguf_tensor *gguf_tensor_at(const gguf_file *f, size_t i) { return f && i < f->n_t ? &f->t[i] : NULL; }
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name) {
    return f ? sh_find(&f->t_hash, f->t, sizeof *f->t, name) : NULL;
}

int gguf_value_int(const gguf_value *v, int64_t *out) {
    uint64_t u;
    switch (v->type) {
    case GGUF_U8: *out = v->p[0]; return 1;
    case GGUF_I8: *out = (int8_t)v->p[0]; return 1;
    case GGUF_U16: *out = le16(v->p); return 1;
    case GGUF_I16: *out = (int16_t)le16(v->p); return 1;
    case GGUF_U32: *out = le32(v->p); return 1;
    case GGUF_I32: *out = (int32_t)le32(v->p); return 1;
    case GGUF_U64:
        u = le64(v->p);
        if (u > (uint64_t)INT64_MAX) return 0;
        *out = (int64_t)u;
        return 1;
    case GGUF_I64: *out = u64_to_i64(le64(v->p)); return 1;
    default: return 0;
    }
}

int gguf_value_float(const gguf_value *v, double *out) {
    if (v->type == GGUF_F32) {
        uint32_t b = le32(v->p);
        float x;
        memcpy(&x, &b, 4);
        *out = x;
        return 1;
    }
    if (v->type == GGUF_F64) {
        uint64_t b = le64(v->p);
        memcpy(out, &b, 8);
        return 1;
    }
    return 0;
}

int gguf_value_bool(const gguf_value *v, int *out) {
    if (v->type != GGUF_BOOL) return 0;
    *out = v->p[0] != 0;
    return 1;
}

int gguf_value_str(const gguf_value *v, gguf_str *out) {
    if (v->type != GGUF_STR) return 0;
    out->p = (const char *)v->p;
    out->n = v->n;
    return 1;
}

/* "array of u32" / "string" for messages */
static const char *type_desc(const gguf_value *v, char *buf, size_t n) {
    if (v->type == GGUF_ARR) snprintf(buf, n, "array of %s", gguf_vtype_name(v->elem_type));
    else snprintf(buf, n, "%s", gguf_vtype_name(v->type));
    return buf;
}

static int type_err(const gguf_kv *kv, const char *want, dsv3_err *e) {
    char b[64];
    return err_set(e, DSV3_ERR_BAD_CONFIG, "GGUF key '%.*s' has type %s, expected %s", SHOW(kv->key),
                   type_desc(&kv->v, b, sizeof b), want);
}

int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, dsv3_err *e) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return DSV3_ERR_NOT_FOUND;
    if (kv->v.type != GGUF_U32) return type_err(kv, "u32", e);
    *out = le32(kv->v.p);
    return DSV3_OK;
}

int gguf_get_i32(const gguf_file *f, const char *key, int32_t *out, dsv3_err *e) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return DSV3_ERR_NOT_FOUND;
    if (kv->v.type != GGUF_I32) return type_err(kv, "i32", e);
    *out = (int32_t)le32(kv->v.p);
    return DSV3_OK;
}

int gguf_get_f32(const gguf_file *f, const char *key, float *out, dsv3_err *e) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    double d;
    if (!kv) return DSV3_ERR_NOT_FOUND;
    if (kv->v.type != GGUF_F32) return type_err(kv, "f32", e);
    gguf_value_float(&kv->v, &d);
    *out = (float)d;
    return DSV3_OK;
}

int gguf_get_bool(const gguf_file *f, const char *key, int *out, dsv3_err *e) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return DSV3_ERR_NOT_FOUND;
    if (!gguf_value_bool(&kv->v, out)) return type_err(kv, "bool", e);
    return DSV3_OK;
}

int gguf_get_str(const gguf_file *f, const char *key, gguf_str *out, dsv3_err *e) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return DSV3_ERR_NOT_FOUND;
    if (!gguf_value_str(&kv->v, out)) return type_err(kv, "string", e);
    return DSV3_OK;
}

int gguf_get_int(const gguf_file *f, const char *key, int64_t *out, dsv3_err *e) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return DSV3_ERR_NOT_FOUND;
    if (!gguf_value_int(&kv->v, out)) {
        if (kv->v.type == GGUF_U64)
            return err_set(e, DSV3_ERR_BAD_CONFIG, "GGUF key '%.*s' = %llu is out of range", SHOW(kv->key),
                           (unsigned long long)le64(kv->v.p));
        return type_err(kv, "an integer (u32)", e);
    }
    return DSV3_OK;
}

int gguf_get_float(const gguf_file *f, const char *key, double *out, dsv3_err *e) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return DSV3_ERR_NOT_FOUND;
    if (!gguf_value_float(&kv->v, out)) return type_err(kv, "a float (f32)", e);
    return DSV3_OK;
}

int gguf_get_arr(const gguf_file *f, const char *key, int elem_type, const gguf_value **out, dsv3_err *e) {
    const gguf_kv *kv = gguf_find_kv(f, key);
    if (!kv) return DSV3_ERR_NOT_FOUND;
    if (kv->v.type != GGUF_ARR || (elem_type >= 0 && kv->v.elem_type != elem_type)) {
        char b[64];
        if (elem_type >= 0) snprintf(b, sizeof b, "array of %s", gguf_vtype_name(elem_type));
        else snprintf(b, sizeof b, "array");
        return type_err(kv, b, e);
    }
    *out = &kv->v;
    return DSV3_OK;
}

/* Decode the (validated) value of `type` at p; returns the end. */
static const unsigned char *decode(const unsigned char *p, int type, gguf_value *v) {
    memset(v, 0, sizeof *v);
    v->type = type;
    v->elem_type = -1;
    size_t fs = gguf_vtype_size(type);
    if (fs) {
        v->p = p;
        v->size = fs;
        return p + fs;
    }
    if (type == GGUF_STR) {
        v->n = le64(p);
        v->p = p + 8;
        v->size = v->n;
        return v->p + v->n;
    }
    v->elem_type = (int)le32(p);
    v->n = le64(p + 4);
    v->p = p + 12;
    const unsigned char *end = v->p;
    size_t efs = gguf_vtype_size(v->elem_type);
    if (efs) {
        end += v->n * efs;
    } else {
        gguf_value sub;
        for (uint64_t i = 0; i < v->n; i++) end = decode(end, v->elem_type, &sub);
    }
    v->size = (uint64_t)(end - v->p);
    return end;
}

void gguf_iter_init(gguf_iter *it, const gguf_value *a) {
    it->a = a;
    it->i = 0;
    it->p = a->p;
}

int gguf_iter_next(gguf_iter *it, gguf_value *out) {
    if (it->a->type != GGUF_ARR || it->i >= it->a->n) return 0;
    it->p = decode(it->p, it->a->elem_type, out);
    it->i++;
    return 1;
}

int gguf_arr_at(const gguf_value *a, uint64_t i, gguf_value *out) {
    if (a->type != GGUF_ARR || i >= a->n) return 0;
    size_t efs = gguf_vtype_size(a->elem_type);
    if (efs) {
        decode(a->p + i * efs, a->elem_type, out);
        return 1;
    }
    gguf_iter it;
    gguf_iter_init(&it, a);
    for (uint64_t k = 0; k <= i; k++) gguf_iter_next(&it, out);
    return 1;
}

uint64_t gguf_arr_strs(const gguf_value *a, gguf_str *out, uint64_t cap) {
    if (a->type != GGUF_ARR || a->elem_type != GGUF_STR) return 0;
    const unsigned char *p = a->p;
    for (uint64_t i = 0; i < a->n && i < cap; i++) {
        out[i].n = le64(p);
        out[i].p = (const char *)p + 8;
        p += 8 + out[i].n;
    }
    return a->n;
}
