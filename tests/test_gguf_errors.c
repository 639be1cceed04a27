/* test_gguf_errors.c -- malformed and unusual GGUF files, generated at run
 * time from the golden files into a scratch directory. Every case is loaded
 * through dsv3_model_load and must give the exact status and a message that
 * names the field or tensor; nothing may crash or leak (run under ASan+UBSan
 * with -DDSV3_SANITIZE=ON). Also: split models (loaded from any part, same
 * logits as the single file), a rebuilt file with another alignment, nested
 * arrays, and the reader over memory.
 *
 * The test has its own small GGUF scanner (which records where every field
 * of a golden file lies, for in-place corruption) and writer (which rebuilds
 * a file from KVs and tensors, for structural edits).
 *
 * Usage: test_gguf_errors SHARED_DIR SCRATCH_DIR [--seeds-only]
 *   --seeds-only: only write small valid GGUFs into SCRATCH_DIR (the seed
 *   corpus of fuzz_gguf). */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>

#include "dsv3.h"
#include "gguf.h"
#include "golden_util.h"

static const char *shared = "../shared";
static const char *scratch = "gguf-errors-tmp";
static int n_cases;

/* ---- a GGUF held as parts: KVs with raw values, tensors with data ---------- */

typedef struct tkv {
    char key[256];
    uint32_t type;
    unsigned char *val; /* raw value bytes (owned) */
    size_t len;
} tkv;

typedef struct tten {
    char name[256];
    uint32_t n_dims, type;
    uint64_t ne[4];
    const unsigned char *data; /* not owned */
    uint64_t nbytes;
} tten;

typedef struct tfile {
    uint32_t version;
    tkv kv[256];
    size_t nkv;
    tten t[128];
    size_t nt;
    /* where the fields lie in the scanned file */
    unsigned char *raw;
    size_t size, data_start;
    size_t kv_off[256], kv_type_off[256], kv_val_off[256];
    size_t t_off[128], t_ndims_off[128], t_type_off[128], t_offset_off[128];
} tfile;

static uint32_t rd32(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd64(const unsigned char *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }
static void wr32(unsigned char *p, uint32_t v) { for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i)); }
static void wr64(unsigned char *p, uint64_t v) { for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i)); }

static size_t fixed_size(uint32_t t) {
    static const size_t s[13] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return t < 13 ? s[t] : 0;
}

/* End of a (trusted) value of type t at p. */
static size_t skip_value(const unsigned char *d, size_t p, uint32_t t) {
    if (fixed_size(t)) return p + fixed_size(t);
    if (t == 8) return p + 8 + rd64(d + p);
    uint32_t et = rd32(d + p);
    uint64_t n = rd64(d + p + 4);
    p += 12;
    if (fixed_size(et)) return p + n * fixed_size(et);
    for (uint64_t i = 0; i < n; i++) p = skip_value(d, p, et);
    return p;
}

static void scan(const char *path, tfile *tf) {
    memset(tf, 0, sizeof *tf);
    tf->raw = slurp(path, &tf->size);
    const unsigned char *d = tf->raw;
    tf->version = rd32(d + 4);
    uint64_t nt = rd64(d + 8), nkv = rd64(d + 16);
    if (nt > 128 || nkv > 256) { fprintf(stderr, "FATAL: %s: too many tensors/KVs for the test\n", path); exit(2); }
    size_t p = 24;
    uint32_t align = 32;
    for (size_t i = 0; i < nkv; i++) {
        tkv *kv = &tf->kv[i];
        tf->kv_off[i] = p;
        uint64_t kl = rd64(d + p);
        memcpy(kv->key, d + p + 8, kl);
        p += 8 + kl;
        tf->kv_type_off[i] = p;
        kv->type = rd32(d + p);
        p += 4;
        tf->kv_val_off[i] = p;
        size_t end = skip_value(d, p, kv->type);
        kv->len = end - p;
        kv->val = malloc(kv->len + 1);
        memcpy(kv->val, d + p, kv->len);
        if (!strcmp(kv->key, "general.alignment")) align = rd32(d + p);
        p = end;
    }
    tf->nkv = nkv;
    uint64_t offs[128];
    for (size_t i = 0; i < nt; i++) {
        tten *t = &tf->t[i];
        tf->t_off[i] = p;
        uint64_t nl = rd64(d + p);
        memcpy(t->name, d + p + 8, nl);
        p += 8 + nl;
        tf->t_ndims_off[i] = p;
        t->n_dims = rd32(d + p);
        p += 4;
        for (int k = 0; k < 4; k++) t->ne[k] = 1;
        for (uint32_t k = 0; k < t->n_dims; k++, p += 8) t->ne[k] = rd64(d + p);
        tf->t_type_off[i] = p;
        t->type = rd32(d + p);
        tf->t_offset_off[i] = p + 4;
        offs[i] = rd64(d + p + 4);
        p += 12;
    }
    tf->nt = nt;
    tf->data_start = (p + align - 1) / align * align;
    for (size_t i = 0; i < nt; i++) {
        tten *t = &tf->t[i];
        t->nbytes = (uint64_t)(t->ne[0] / (uint64_t)gguf_ggml_type_block((int)t->type)) *
                    gguf_ggml_type_block_bytes((int)t->type) * t->ne[1] * t->ne[2] * t->ne[3];
        t->data = d + tf->data_start + offs[i];
    }
}

static tfile *clone(const tfile *src) {
    tfile *tf = malloc(sizeof *tf);
    memcpy(tf, src, sizeof *tf);
    for (size_t i = 0; i < tf->nkv; i++) {
        tf->kv[i].val = malloc(src->kv[i].len + 1);
        memcpy(tf->kv[i].val, src->kv[i].val, src->kv[i].len);
    }
    tf->raw = NULL; /* the source keeps the data */
    return tf;
}

static void tfree(tfile *tf) {
    for (size_t i = 0; i < tf->nkv; i++) free(tf->kv[i].val);
    free(tf->raw);
    free(tf);
}

static tkv *kv_find(tfile *tf, const char *key) {
    for (size_t i = 0; i < tf->nkv; i++)
        if (!strcmp(tf->kv[i].key, key)) return &tf->kv[i];
    return NULL;
}

static void kv_del(tfile *tf, const char *key) {
    tkv *kv = kv_find(tf, key);
    if (!kv) { fprintf(stderr, "FATAL: no key %s\n", key); exit(2); }
    free(kv->val);
    size_t i = (size_t)(kv - tf->kv);
    memmove(&tf->kv[i], &tf->kv[i + 1], (tf->nkv - i - 1) * sizeof *kv);
    tf->nkv--;
}

/* Set (or append) a key with raw value bytes. */
static void kv_set(tfile *tf, const char *key, uint32_t type, const void *val, size_t len) {
    tkv *kv = kv_find(tf, key);
    if (!kv) {
        kv = &tf->kv[tf->nkv++];
        snprintf(kv->key, sizeof kv->key, "%s", key);
    } else {
        free(kv->val);
    }
    kv->type = type;
    kv->val = malloc(len + 1);
    memcpy(kv->val, val, len);
    kv->len = len;
}

static void kv_set_u32(tfile *tf, const char *key, uint32_t v) {
    unsigned char b[4];
    wr32(b, v);
    kv_set(tf, key, GGUF_U32, b, 4);
}

static void kv_set_str(tfile *tf, const char *key, const char *s) {
    size_t n = strlen(s);
    unsigned char *b = malloc(8 + n);
    wr64(b, n);
    memcpy(b + 8, s, n);
    kv_set(tf, key, GGUF_STR, b, 8 + n);
    free(b);
}

static tten *t_find(tfile *tf, const char *name) {
    for (size_t i = 0; i < tf->nt; i++)
        if (!strcmp(tf->t[i].name, name)) return &tf->t[i];
    fprintf(stderr, "FATAL: no tensor %s\n", name);
    exit(2);
}

static size_t t_index(tfile *tf, const char *name) { return (size_t)(t_find(tf, name) - tf->t); }

static void t_del(tfile *tf, const char *name) {
    size_t i = t_index(tf, name);
    memmove(&tf->t[i], &tf->t[i + 1], (tf->nt - i - 1) * sizeof tf->t[0]);
    tf->nt--;
}

/* Write tensors [t0, t1) of tf with all its KVs. */
static void write_range(const char *path, const tfile *tf, size_t t0, size_t t1, uint32_t align) {
    FILE *f = fopen(path, "wb");
    if (!f) { fprintf(stderr, "FATAL: cannot write %s: %s\n", path, strerror(errno)); exit(2); }
    unsigned char b[8];
    size_t pos = 0;
#define PUT(p, n) do { fwrite((p), 1, (n), f); pos += (n); } while (0)
#define PUT32(v) do { wr32(b, (v)); PUT(b, 4); } while (0)
#define PUT64(v) do { wr64(b, (v)); PUT(b, 8); } while (0)
    PUT("GGUF", 4);
    PUT32(tf->version);
    PUT64(t1 - t0);
    PUT64(tf->nkv);
    for (size_t i = 0; i < tf->nkv; i++) {
        PUT64(strlen(tf->kv[i].key));
        PUT(tf->kv[i].key, strlen(tf->kv[i].key));
        PUT32(tf->kv[i].type);
        PUT(tf->kv[i].val, tf->kv[i].len);
    }
    uint64_t off = 0;
    for (size_t i = t0; i < t1; i++) {
        const tten *t = &tf->t[i];
        PUT64(strlen(t->name));
        PUT(t->name, strlen(t->name));
        PUT32(t->n_dims);
        for (uint32_t k = 0; k < t->n_dims; k++) PUT64(t->ne[k]);
        PUT32(t->type);
        PUT64(off);
        off += (t->nbytes + align - 1) / align * align;
    }
    static const unsigned char zeros[4096];
    if (pos % align) PUT(zeros, align - pos % align);
    for (size_t i = t0; i < t1; i++) {
        const tten *t = &tf->t[i];
        PUT(t->data, t->nbytes);
        if (t->nbytes % align) PUT(zeros, align - t->nbytes % align);
    }
#undef PUT
#undef PUT32
#undef PUT64
    fclose(f);
}

static void write_file(const char *path, const tfile *tf, uint32_t align) { write_range(path, tf, 0, tf->nt, align); }

/* Split into n parts named <prefix>-0000i-of-0000n.gguf: the first holds
 * the KVs, every part the split.* keys and a share of the tensors. */
static void write_split(const char *prefix, const tfile *src, int n, int bad_no_in_part, int64_t tensors_count) {
    size_t per = (src->nt + (size_t)n - 1) / (size_t)n;
    for (int i = 0; i < n; i++) {
        tfile *tf = clone(src);
        if (i > 0) {
            for (size_t k = 0; k < tf->nkv; k++) free(tf->kv[k].val);
            tf->nkv = 0;
        }
        unsigned char b[4];
        b[0] = (unsigned char)(i == bad_no_in_part ? i + 1 : i);
        b[1] = 0;
        kv_set(tf, "split.no", GGUF_U16, b, 2);
        b[0] = (unsigned char)n;
        kv_set(tf, "split.count", GGUF_U16, b, 2);
        wr32(b, (uint32_t)(tensors_count >= 0 ? tensors_count : (int64_t)src->nt));
        kv_set(tf, "split.tensors.count", GGUF_I32, b, 4);
        char path[1024];
        snprintf(path, sizeof path, "%s-%05d-of-%05d.gguf", prefix, i + 1, n);
        size_t t0 = (size_t)i * per, t1 = t0 + per < src->nt ? t0 + per : src->nt;
        write_range(path, tf, t0 < t1 ? t0 : t1, t1, 32);
        tfree(tf);
    }
}

static void write_bytes(const char *path, const void *d, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(d, 1, n, f) != n)) { fprintf(stderr, "FATAL: cannot write %s\n", path); exit(2); }
    fclose(f);
}

/* ---- expectations ------------------------------------------------------------ */

static void path_of(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", scratch, name); }

/* Load `name` from the scratch dir; expect `status` and a message holding
 * every non-NULL substring. Returns the model when the load succeeded and
 * keep != NULL. */
static dsv3_model *expect(const char *label, const char *name, int use_mmap, int status, const char *s1, const char *s2,
                          const char *s3, int keep) {
    char p[1024], err[512] = "";
    path_of(p, sizeof p, name);
    struct dsv3_model_params mp;
    dsv3_model_params_init(&mp, sizeof mp);
    mp.backend = "scalar";
    mp.use_mmap = use_mmap;
    dsv3_model *m = NULL;
    int rc = dsv3_model_load(p, &mp, &m, err, sizeof err);
    int ok = rc == status && (!s1 || strstr(err, s1)) && (!s2 || strstr(err, s2)) && (!s3 || strstr(err, s3));
    ok = ok && (rc == 0) == (m != NULL) && (rc == 0 || err[0]);
    CHECK(ok, "%s: got status %d (%s) \"%s\"; expected %d (%s) with \"%s\" \"%s\" \"%s\"", label, rc,
          dsv3_status_string(rc), err, status, dsv3_status_string(status), s1 ? s1 : "", s2 ? s2 : "", s3 ? s3 : "");
    if (ok) printf("  ok %-34s %-18s %s\n", label, dsv3_status_string(rc), rc ? err : "(loaded)");
    n_cases++;
    if (m && keep) return m;
    dsv3_model_free(m);
    return NULL;
}

/* In-place corruption of a copy of the scanned file. */
typedef struct patch {
    size_t at;
    int width;      /* 1, 4 or 8 */
    uint64_t value;
} patch;

static void write_patched(const char *name, const tfile *base, const patch *ps, int np, size_t size) {
    unsigned char *b = malloc(base->size);
    memcpy(b, base->raw, base->size);
    for (int i = 0; i < np; i++) {
        if (ps[i].width == 1) b[ps[i].at] = (unsigned char)ps[i].value;
        else if (ps[i].width == 4) wr32(b + ps[i].at, (uint32_t)ps[i].value);
        else wr64(b + ps[i].at, ps[i].value);
    }
    char p[1024];
    path_of(p, sizeof p, name);
    write_bytes(p, b, size ? size : base->size);
    free(b);
}

static size_t kv_idx(const tfile *tf, const char *key) {
    for (size_t i = 0; i < tf->nkv; i++)
        if (!strcmp(tf->kv[i].key, key)) return i;
    fprintf(stderr, "FATAL: no key %s\n", key);
    exit(2);
}

static size_t ti(const tfile *tf, const char *name) {
    for (size_t i = 0; i < tf->nt; i++)
        if (!strcmp(tf->t[i].name, name)) return i;
    fprintf(stderr, "FATAL: no tensor %s\n", name);
    exit(2);
}

/* One patch, then load. */
static void corrupt(const char *label, const tfile *base, size_t at, int width, uint64_t value, int status,
                    const char *s1, const char *s2) {
    patch p = {at, width, value};
    char name[128];
    snprintf(name, sizeof name, "c-%s.gguf", label);
    write_patched(name, base, &p, 1, 0);
    expect(label, name, 1, status, s1, s2, NULL, 0);
}

/* ---- logits for the split / rebuilt checks ------------------------------------ */

static float *logits_of(dsv3_model *m, const int32_t *tok, int T) {
    struct dsv3_model_info info = {.struct_size = sizeof info};
    dsv3_model_get_info(m, &info);
    float *l = malloc(sizeof(float) * (size_t)T * (size_t)info.vocab_size);
    struct dsv3_session_params sp;
    dsv3_session_params_init(&sp, sizeof sp);
    sp.n_ctx = 64;
    dsv3_session *s = NULL;
    char err[256];
    CHECK(dsv3_session_create(m, &sp, &s, err, sizeof err) == 0, "session: %s", err);
    CHECK(s && dsv3_session_step(s, tok, T, l, DSV3_STEP_LOGITS_ALL) == 0, "step");
    dsv3_session_free(s);
    return l;
}

/* ---- seeds for the fuzzer ------------------------------------------------------ */

/* Small valid files: the golden metadata without tensors, a tiny file with
 * a few tensors of several types and nested arrays, and a 2-part split. */
static void write_seeds(const tfile *golden) {
    char p[1024];
    tfile *a = clone(golden);
    a->nt = 0;
    path_of(p, sizeof p, "meta-only.gguf");
    write_file(p, a, 32);
    /* the model metadata with a token_embd small enough for -max_len, so
     * that gguf_model_config gets past the vocabulary */
    static unsigned char embd[256 / 256 * 50 * 1024];
    kv_del(a, "tokenizer.ggml.tokens");
    kv_del(a, "tokenizer.ggml.token_type");
    a->t[0] = golden->t[ti(golden, "token_embd.weight")];
    a->t[0].type = GGML_T_IQ1_S;
    a->t[0].nbytes = sizeof embd;
    a->t[0].data = embd;
    a->nt = 1;
    path_of(p, sizeof p, "meta-embd.gguf");
    write_file(p, a, 32);
    tfree(a);

    static unsigned char blob[4096];
    for (size_t i = 0; i < sizeof blob; i++) blob[i] = (unsigned char)(i * 37 + 11);
    tfile *t = calloc(1, sizeof *t);
    t->version = 3;
    kv_set_str(t, "general.architecture", "deepseek2");
    kv_set_u32(t, "deepseek2.block_count", 1);
    kv_set_u32(t, "deepseek2.embedding_length", 32);
    unsigned char nested[12 + 2 * 12 + 3 * 4 + 8 + 2] = {0};
    size_t q = 0;
    wr32(nested + q, GGUF_ARR), wr64(nested + q + 4, 2), q += 12;
    wr32(nested + q, GGUF_U32), wr64(nested + q + 4, 3), q += 12;
    for (int i = 0; i < 3; i++, q += 4) wr32(nested + q, (uint32_t)i);
    wr32(nested + q, GGUF_STR), wr64(nested + q + 4, 1), q += 12;
    wr64(nested + q, 2), q += 8;
    nested[q++] = 'h', nested[q++] = 'i';
    kv_set(t, "test.nested", GGUF_ARR, nested, q);
    const struct { const char *n; uint32_t type, nd; uint64_t ne0, ne1; } ts[] = {
        {"a.f32", GGML_T_F32, 1, 8, 1}, {"b.q8_0", GGML_T_Q8_0, 2, 64, 2}, {"c.bf16", GGML_T_BF16, 2, 16, 3},
        {"d.q4_k", GGML_T_Q4_K, 2, 256, 1}};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
        tten *x = &t->t[t->nt++];
        snprintf(x->name, sizeof x->name, "%s", ts[i].n);
        x->type = ts[i].type;
        x->n_dims = ts[i].nd;
        x->ne[0] = ts[i].ne0, x->ne[1] = ts[i].ne1, x->ne[2] = x->ne[3] = 1;
        x->nbytes = ts[i].ne0 / (uint64_t)gguf_ggml_type_block((int)x->type) * gguf_ggml_type_block_bytes((int)x->type) * ts[i].ne1;
        x->data = blob;
    }
    path_of(p, sizeof p, "tiny.gguf");
    write_file(p, t, 32);
    path_of(p, sizeof p, "tiny-split");
    write_split(p, t, 2, -1, -1);
    tfree(t);
}

/* The cases leave about 90 files of 10 MB each; once they all passed they
 * have served, and a CI machine runs this suite twice (plain and under
 * ASan) on one disk. A failing run keeps them for a look. */
static void clear_scratch(void) {
    DIR *d = opendir(scratch);
    if (!d) return;
    struct dirent *e;
    char p[1024];
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') {
            path_of(p, sizeof p, e->d_name);
            remove(p);
        }
    closedir(d);
}

/* ---- the cases ------------------------------------------------------------------ */

static void structural_cases(const tfile *g) {
    char p[1024];
    printf("in-place corruptions of tiny-q.bf16.gguf (%zu bytes, data at %zu)\n", g->size, g->data_start);
    /* magic and version */
    corrupt("bad-magic", g, 0, 1, 'X', DSV3_ERR_UNSUPPORTED, "not a checkpoint directory and not a GGUF file", NULL);
    corrupt("version-1", g, 4, 4, 1, DSV3_ERR_UNSUPPORTED, "GGUF version 1 is not supported", NULL);
    corrupt("version-4", g, 4, 4, 4, DSV3_ERR_UNSUPPORTED, "GGUF version 4 is not supported", NULL);
    corrupt("big-endian", g, 4, 4, 0x03000000u, DSV3_ERR_UNSUPPORTED, "big-endian", NULL);
    {   /* gguf_open itself names the magic */
        unsigned char *b = malloc(g->size);
        memcpy(b, g->raw, g->size);
        b[1] = 'X';
        gguf_file *f = NULL;
        dsv3_err e;
        err_clear(&e);
        int rc = gguf_open_memory(b, g->size, &f, &e);
        CHECK(rc == DSV3_ERR_BAD_FILE && strstr(e.msg, "not a GGUF file") && !f, "gguf_open_memory bad magic: %d %s", rc, e.msg);
        n_cases++;
        free(b);
    }
    /* counts */
    corrupt("tensor-count-huge", g, 8, 8, 1ull << 62, DSV3_ERR_BAD_FILE, "tensor count 4611686018427387904", "can hold");
    corrupt("tensor-count-max", g, 8, 8, UINT64_MAX, DSV3_ERR_BAD_FILE, "tensor count", NULL);
    corrupt("kv-count-huge", g, 16, 8, 1ull << 40, DSV3_ERR_BAD_FILE, "KV count 1099511627776", "can hold");
    corrupt("tensor-count-plus-1", g, 8, 8, g->nt + 1, DSV3_ERR_BAD_FILE, "tensor 34", NULL);
    corrupt("kv-count-plus-1", g, 16, 8, g->nkv + 1, DSV3_ERR_BAD_FILE, NULL, NULL);
    /* strings */
    corrupt("key-length-huge", g, g->kv_off[0], 8, 1ull << 60, DSV3_ERR_BAD_FILE, "the key of KV 0 has length", NULL);
    corrupt("key-length-max", g, g->kv_off[3], 8, UINT64_MAX, DSV3_ERR_BAD_FILE, "the key of KV 3 has length", NULL);
    size_t ia = kv_idx(g, "general.architecture");
    corrupt("string-length-huge", g, g->kv_val_off[ia], 8, 1ull << 50, DSV3_ERR_BAD_FILE,
            "a string in key 'general.architecture' has length 1125899906842624", NULL);
    corrupt("value-type-invalid", g, g->kv_type_off[ia], 4, 13, DSV3_ERR_BAD_FILE,
            "key 'general.architecture' has value type 13", NULL);
    /* arrays */
    size_t itok = kv_idx(g, "tokenizer.ggml.tokens"), ityp = kv_idx(g, "tokenizer.ggml.token_type");
    corrupt("array-length-huge", g, g->kv_val_off[itok] + 4, 8, 1ull << 50, DSV3_ERR_BAD_FILE,
            "an array in key 'tokenizer.ggml.tokens' has length 1125899906842624", NULL);
    corrupt("array-length-max-i32", g, g->kv_val_off[ityp] + 4, 8, UINT64_MAX / 2, DSV3_ERR_BAD_FILE,
            "an array in key 'tokenizer.ggml.token_type' has length", NULL);
    corrupt("array-length-plus-1", g, g->kv_val_off[itok] + 4, 8, 1025, DSV3_ERR_BAD_FILE, NULL, NULL);
    corrupt("array-elem-type-invalid", g, g->kv_val_off[itok], 4, 99, DSV3_ERR_BAD_FILE,
            "an array in key 'tokenizer.ggml.tokens' has element type 99", NULL);
    corrupt("array-string-length-huge", g, g->kv_val_off[itok] + 12, 8, 1ull << 61, DSV3_ERR_BAD_FILE,
            "a string in key 'tokenizer.ggml.tokens' has length", NULL);
    /* duplicate key: general.type -> general.name (same length) */
    size_t igt = kv_idx(g, "general.type");
    {
        patch ps[4] = {{g->kv_off[igt] + 16, 1, 'n'}, {g->kv_off[igt] + 17, 1, 'a'}, {g->kv_off[igt] + 18, 1, 'm'},
                       {g->kv_off[igt] + 19, 1, 'e'}};
        write_patched("c-duplicate-key2.gguf", g, ps, 4, 0);
        expect("duplicate-key2", "c-duplicate-key2.gguf", 1, DSV3_ERR_BAD_FILE, "key 'general.name' appears twice", NULL,
               NULL, 0);
    }
    /* tensor infos */
    size_t i_qa = ti(g, "blk.0.attn_q_a.weight"), i_norm = ti(g, "blk.0.attn_norm.weight"), i_kb = ti(g, "blk.0.attn_k_b.weight");
    size_t i_out = ti(g, "output.weight"), i_onorm = ti(g, "output_norm.weight"), i_bias = ti(g, "blk.1.exp_probs_b.bias");
    uint64_t qa_off = rd64(g->raw + g->t_offset_off[i_qa]);
    corrupt("tensor-name-length-huge", g, g->t_off[3], 8, 1ull << 40, DSV3_ERR_BAD_FILE, "tensor 3 has a name of", NULL);
    corrupt("tensor-name-length-0", g, g->t_off[3], 8, 0, DSV3_ERR_BAD_FILE, "tensor 3 has a name of 0 bytes", NULL);
    corrupt("tensor-name-nul", g, g->t_off[3] + 9, 1, 0, DSV3_ERR_BAD_FILE, "the name of tensor 3 contains a NUL", NULL);
    corrupt("n-dims-5", g, g->t_ndims_off[i_qa], 4, 5, DSV3_ERR_BAD_FILE, "tensor 'blk.0.attn_q_a.weight' has n_dims 5", NULL);
    corrupt("n-dims-0", g, g->t_ndims_off[i_qa], 4, 0, DSV3_ERR_BAD_FILE, "tensor 'blk.0.attn_q_a.weight' has n_dims 0", NULL);
    corrupt("ne-negative", g, g->t_ndims_off[i_qa] + 4, 8, UINT64_MAX, DSV3_ERR_BAD_FILE,
            "tensor 'blk.0.attn_q_a.weight' has ne[0] = 18446744073709551615", NULL);
    corrupt("ne-overflow", g, g->t_ndims_off[i_qa] + 12, 8, 1ull << 62, DSV3_ERR_BAD_FILE,
            "tensor 'blk.0.attn_q_a.weight' has shape {256, 4611686018427387904, 1, 1}, too large", NULL);
    corrupt("ne-too-big", g, g->t_ndims_off[i_qa] + 12, 8, 1ull << 30, DSV3_ERR_BAD_FILE,
            "tensor 'blk.0.attn_q_a.weight' has data", "outside the");
    corrupt("type-99", g, g->t_type_off[i_qa], 4, 99, DSV3_ERR_BAD_DTYPE,
            "tensor 'blk.0.attn_q_a.weight' has ggml type id 99", NULL);
    corrupt("type-4-retired", g, g->t_type_off[i_qa], 4, 4, DSV3_ERR_BAD_DTYPE,
            "tensor 'blk.0.attn_q_a.weight' has ggml type id 4", NULL);
    corrupt("type-q8_1", g, g->t_type_off[i_qa], 4, GGML_T_Q8_1, DSV3_ERR_BAD_DTYPE,
            "tensor 'blk.0.attn_q_a.weight' has ggml type Q8_1, which dsv3 does not support", NULL);
    corrupt("type-tq1_0", g, g->t_type_off[i_qa], 4, GGML_T_TQ1_0, DSV3_ERR_BAD_DTYPE,
            "tensor 'blk.0.attn_q_a.weight' has ggml type TQ1_0", NULL);
    corrupt("type-i8", g, g->t_type_off[i_qa], 4, GGML_T_I8, DSV3_ERR_BAD_DTYPE, "tensor 'blk.0.attn_q_a.weight' has ggml type I8",
            NULL);
    corrupt("type-q8_k", g, g->t_type_off[i_qa], 4, GGML_T_Q8_K, DSV3_ERR_BAD_DTYPE,
            "tensor 'blk.0.attn_q_a.weight' has ggml type Q8_K", NULL);
    corrupt("norm-q8_0", g, g->t_type_off[i_norm], 4, GGML_T_Q8_0, DSV3_ERR_BAD_DTYPE,
            "tensor 'blk.0.attn_norm.weight' has ggml type Q8_0; norm vectors must be F32, F16 or BF16", NULL);
    corrupt("bias-bf16", g, g->t_type_off[i_bias], 4, GGML_T_BF16, DSV3_ERR_BAD_DTYPE,
            "tensor 'blk.1.exp_probs_b.bias' is stored as BF16; the router bias must be F32", NULL);
    corrupt("ne0-not-multiple", g, g->t_type_off[i_kb], 4, GGML_T_Q4_K, DSV3_ERR_BAD_FILE,
            "tensor 'blk.0.attn_k_b.weight' (Q4_K) has ne[0] = 64, not a multiple of the block size 256", NULL);
    corrupt("offset-misaligned", g, g->t_offset_off[i_qa], 8, qa_off + 2, DSV3_ERR_BAD_FILE,
            "tensor 'blk.0.attn_q_a.weight' has offset", "not a multiple of the alignment 32");
    corrupt("offset-past-end", g, g->t_offset_off[i_qa], 8, 1ull << 40, DSV3_ERR_BAD_FILE,
            "tensor 'blk.0.attn_q_a.weight' has data [1099511627776", "outside the");
    corrupt("offset-max", g, g->t_offset_off[i_qa], 8, UINT64_MAX - 31, DSV3_ERR_BAD_FILE, "tensor 'blk.0.attn_q_a.weight'",
            "outside the");
    corrupt("overlap", g, g->t_offset_off[i_onorm], 8, rd64(g->raw + g->t_offset_off[i_out]) + 1024, DSV3_ERR_BAD_FILE,
            "tensors 'output.weight' [0, 524288) and 'output_norm.weight' [1024, 2048) overlap", NULL);
    /* duplicate tensor name: blk.0.attn_norm -> blk.1.attn_norm */
    corrupt("duplicate-tensor", g, g->t_off[i_norm] + 8 + 4, 1, '1', DSV3_ERR_BAD_FILE,
            "tensor 'blk.1.attn_norm.weight' appears twice", NULL);
    /* general.alignment inserted in place is impossible; see rebuilt cases */

    /* truncation: every 1000 bytes of the header region, its first fields,
     * and a few points in the data */
    printf("truncations\n");
    size_t cuts[64];
    int nc = 0;
    const size_t small[] = {4, 6, 8, 15, 23, 24, 31, 40};
    for (size_t i = 0; i < sizeof small / sizeof small[0]; i++) cuts[nc++] = small[i];
    for (size_t at = 1000; at < g->data_start && nc < 50; at += 1000) cuts[nc++] = at;
    cuts[nc++] = g->data_start - 1;
    cuts[nc++] = g->data_start;
    cuts[nc++] = g->data_start + 1000;
    cuts[nc++] = g->size / 2;
    cuts[nc++] = g->size - 1;
    for (int i = 0; i < nc; i++) {
        char label[64], name[96];
        snprintf(label, sizeof label, "truncated-at-%zu", cuts[i]);
        snprintf(name, sizeof name, "c-%s.gguf", label);
        write_patched(name, g, NULL, 0, cuts[i]);
        /* the message says where the file ends or which tensor falls outside */
        char end[64];
        snprintf(end, sizeof end, "%zu", cuts[i] >= g->data_start ? cuts[i] - g->data_start : cuts[i]);
        expect(label, name, i % 2, DSV3_ERR_BAD_FILE, name, cuts[i] >= g->data_start ? end : NULL, NULL, 0);
    }
    write_patched("c-truncated-at-3.gguf", g, NULL, 0, 3);
    expect("truncated-at-3", "c-truncated-at-3.gguf", 1, DSV3_ERR_UNSUPPORTED, "not a checkpoint directory and not a GGUF file",
           NULL, NULL, 0);
    path_of(p, sizeof p, "empty.gguf");
    write_bytes(p, "", 0);
    expect("empty-file", "empty.gguf", 1, DSV3_ERR_UNSUPPORTED, "empty.gguf", NULL, NULL, 0);
    expect("no-such-file", "no-such.gguf", 1, DSV3_ERR_NOT_FOUND, "no-such.gguf", NULL, NULL, 0);
}

static void rebuilt_cases(const tfile *g, const tfile *gi) {
    char p[1024];
    printf("rebuilt files\n");
    const int32_t tok[9] = {924, 505, 69, 586, 688, 80, 483, 362, 693};
    /* the writer itself: an unchanged rebuild loads and computes the same */
    tfile *t = clone(g);
    path_of(p, sizeof p, "r-same.gguf");
    write_file(p, t, 32);
    dsv3_model *m0 = expect("rebuilt-unchanged", "r-same.gguf", 1, DSV3_OK, NULL, NULL, NULL, 1);
    char orig[1024];
    snprintf(orig, sizeof orig, "%s/golden-gguf/tiny-q.bf16.gguf", shared);
    struct dsv3_model_params mp;
    dsv3_model_params_init(&mp, sizeof mp);
    mp.backend = "scalar";
    dsv3_model *mo = NULL;
    char err[512];
    CHECK(dsv3_model_load(orig, &mp, &mo, err, sizeof err) == 0, "load original: %s", err);
    float *ref = logits_of(mo, tok, 9);
    struct dsv3_model_info info = {.struct_size = sizeof info};
    dsv3_model_get_info(mo, &info);
    const size_t nl = (size_t)9 * (size_t)info.vocab_size;
    if (m0) {
        float *l = logits_of(m0, tok, 9);
        CHECK(memcmp(l, ref, sizeof(float) * nl) == 0, "rebuilt file computes different logits");
        free(l);
        dsv3_model_free(m0);
    }
    tfree(t);

    /* alignment 64 (and a wrongly typed / invalid one) */
    t = clone(g);
    kv_set_u32(t, "general.alignment", 64);
    path_of(p, sizeof p, "r-align64.gguf");
    write_file(p, t, 64);
    dsv3_model *m = expect("alignment-64", "r-align64.gguf", 1, DSV3_OK, NULL, NULL, NULL, 1);
    if (m) {
        float *l = logits_of(m, tok, 9);
        CHECK(memcmp(l, ref, sizeof(float) * nl) == 0, "alignment 64: different logits");
        free(l);
        dsv3_model_free(m);
    }
    {   /* an offset that is a multiple of 32 only */
        tfile *a64 = malloc(sizeof *a64);
        scan(p, a64);
        size_t i = ti(a64, "blk.0.attn_q_a.weight");
        patch pt = {a64->t_offset_off[i], 8, rd64(a64->raw + a64->t_offset_off[i]) + 32};
        write_patched("r-align64-off32.gguf", a64, &pt, 1, 0);
        expect("alignment-64-offset-32", "r-align64-off32.gguf", 1, DSV3_ERR_BAD_FILE,
               "tensor 'blk.0.attn_q_a.weight' has offset", "not a multiple of the alignment 64", NULL, 0);
        tfree(a64);
    }
    kv_set_u32(t, "general.alignment", 48);
    path_of(p, sizeof p, "r-align48.gguf");
    write_file(p, t, 32);
    expect("alignment-48", "r-align48.gguf", 1, DSV3_ERR_BAD_FILE, "general.alignment = 48 is not a power of two", NULL, NULL, 0);
    kv_set_u32(t, "general.alignment", 0);
    write_file(p, t, 32);
    expect("alignment-0", "r-align48.gguf", 1, DSV3_ERR_BAD_FILE, "general.alignment = 0", NULL, NULL, 0);
    {
        unsigned char b[8];
        wr64(b, 32);
        kv_set(t, "general.alignment", GGUF_U64, b, 8);
        write_file(p, t, 32);
        expect("alignment-u64", "r-align48.gguf", 1, DSV3_ERR_BAD_FILE, "key 'general.alignment' has type u64, expected u32",
               NULL, NULL, 0);
    }
    tfree(t);

    /* metadata */
    struct {
        const char *label, *del, *key;
        int how; /* 0 delete, 1 string value, 2 u32 value, 3 f32 value as u32 bits */
        const char *s;
        uint32_t u;
        int status;
        const char *m1, *m2;
    } meta[] = {
        {"missing-architecture", "general.architecture", NULL, 0, NULL, 0, DSV3_ERR_BAD_CONFIG,
         "GGUF key 'general.architecture' is missing", NULL},
        {"architecture-llama", NULL, "general.architecture", 1, "llama", 0, DSV3_ERR_UNSUPPORTED,
         "general.architecture is 'llama'", "deepseek2"},
        {"architecture-u32", NULL, "general.architecture", 2, NULL, 7, DSV3_ERR_BAD_CONFIG,
         "GGUF key 'general.architecture' has type u32, expected string", NULL},
        {"missing-embedding-length", "deepseek2.embedding_length", NULL, 0, NULL, 0, DSV3_ERR_BAD_CONFIG,
         "GGUF key 'deepseek2.embedding_length' is missing", NULL},
        {"missing-block-count", "deepseek2.block_count", NULL, 0, NULL, 0, DSV3_ERR_BAD_CONFIG,
         "GGUF key 'deepseek2.block_count' is missing", NULL},
        {"missing-kv-lora-rank", "deepseek2.attention.kv_lora_rank", NULL, 0, NULL, 0, DSV3_ERR_BAD_CONFIG,
         "'deepseek2.attention.kv_lora_rank' is missing", NULL},
        {"missing-rms-eps", "deepseek2.attention.layer_norm_rms_epsilon", NULL, 0, NULL, 0, DSV3_ERR_BAD_CONFIG,
         "'deepseek2.attention.layer_norm_rms_epsilon' is missing", NULL},
        {"missing-expert-ffn", "deepseek2.expert_feed_forward_length", NULL, 0, NULL, 0, DSV3_ERR_BAD_CONFIG,
         "'deepseek2.expert_feed_forward_length' is missing", NULL},
        {"embedding-length-string", NULL, "deepseek2.embedding_length", 1, "256", 0, DSV3_ERR_BAD_CONFIG,
         "GGUF key 'deepseek2.embedding_length' has type string, expected an integer", NULL},
        {"rms-eps-u32", NULL, "deepseek2.attention.layer_norm_rms_epsilon", 2, NULL, 1, DSV3_ERR_BAD_CONFIG,
         "GGUF key 'deepseek2.attention.layer_norm_rms_epsilon' has type u32, expected a float", NULL},
        {"weights-norm-u32", NULL, "deepseek2.expert_weights_norm", 2, NULL, 1, DSV3_ERR_BAD_CONFIG,
         "GGUF key 'deepseek2.expert_weights_norm' has type u32, expected bool", NULL},
        {"rope-type-u32", NULL, "deepseek2.rope.scaling.type", 2, NULL, 1, DSV3_ERR_BAD_CONFIG,
         "'deepseek2.rope.scaling.type' has type u32, expected string", NULL},
        {"rope-type-linear", NULL, "deepseek2.rope.scaling.type", 1, "linear", 0, DSV3_ERR_UNSUPPORTED,
         "'deepseek2.rope.scaling.type' is 'linear'", NULL},
        {"embedding-length-0", NULL, "deepseek2.embedding_length", 2, NULL, 0, DSV3_ERR_UNSUPPORTED,
         "'deepseek2.embedding_length' = 0 is outside", NULL},
        {"embedding-length-wrong", NULL, "deepseek2.embedding_length", 2, NULL, 512, DSV3_ERR_BAD_SHAPE,
         "tensor 'token_embd.weight' has shape {256, 1024, 1, 1}, expected {512, vocab}", NULL},
        {"gating-func-3", NULL, "deepseek2.expert_gating_func", 2, NULL, 3, DSV3_ERR_UNSUPPORTED,
         "'deepseek2.expert_gating_func' = 3 is not supported", NULL},
        {"groups-not-dividing", NULL, "deepseek2.expert_group_count", 2, NULL, 3, DSV3_ERR_UNSUPPORTED,
         "expert_count = 16 is not divisible by deepseek2.expert_group_count = 3", NULL},
        {"used-count-17", NULL, "deepseek2.expert_used_count", 2, NULL, 17, DSV3_ERR_UNSUPPORTED,
         "'deepseek2.expert_used_count' = 17 is outside the supported range [1, 16]", NULL},
        {"rope-dims-odd", NULL, "deepseek2.rope.dimension_count", 2, NULL, 31, DSV3_ERR_UNSUPPORTED,
         "rope.dimension_count = 31 must be even", NULL},
        {"key-length-mla-alone", "deepseek2.attention.value_length_mla", NULL, 0, NULL, 0, DSV3_ERR_BAD_CONFIG,
         "deepseek2.attention.key_length_mla is present without deepseek2.attention.value_length_mla", NULL},
        {"key-length-mla-small", NULL, "deepseek2.attention.key_length_mla", 2, NULL, 32, DSV3_ERR_BAD_CONFIG,
         "deepseek2.attention.key_length_mla = 32 leaves 0 nope dims", NULL},
        {"nextn-without-blocks", NULL, "deepseek2.nextn_predict_layers", 2, NULL, 1, DSV3_ERR_MISSING_TENSOR,
         "tensor 'blk.1.nextn.enorm.weight' is missing", NULL},
        {"nextn-all-blocks", NULL, "deepseek2.nextn_predict_layers", 2, NULL, 2, DSV3_ERR_BAD_CONFIG,
         "nextn_predict_layers = 2 leaves no main layer", NULL},
        {"q-lora-0", NULL, "deepseek2.attention.q_lora_rank", 2, NULL, 0, DSV3_ERR_MISSING_TENSOR,
         "tensor 'blk.0.attn_q.weight' is missing", NULL},
        {"block-count-3", NULL, "deepseek2.block_count", 2, NULL, 3, DSV3_ERR_MISSING_TENSOR,
         "tensor 'blk.2.attn_norm.weight' is missing", NULL},
        {"dense-count-2", NULL, "deepseek2.leading_dense_block_count", 2, NULL, 2, DSV3_ERR_MISSING_TENSOR,
         "tensor 'blk.1.ffn_gate.weight' is missing", NULL},
        {"context-length-f32", NULL, "deepseek2.context_length", 3, NULL, 0x3f800000u, DSV3_ERR_BAD_CONFIG,
         "'deepseek2.context_length' has type f32, expected an integer", NULL},
    };
    for (size_t i = 0; i < sizeof meta / sizeof meta[0]; i++) {
        t = clone(g);
        if (meta[i].del) kv_del(t, meta[i].del);
        if (meta[i].how == 1) kv_set_str(t, meta[i].key, meta[i].s);
        if (meta[i].how == 2) kv_set_u32(t, meta[i].key, meta[i].u);
        if (meta[i].how == 3) {
            unsigned char b[4];
            wr32(b, meta[i].u);
            kv_set(t, meta[i].key, GGUF_F32, b, 4);
        }
        char name[128];
        snprintf(name, sizeof name, "r-%s.gguf", meta[i].label);
        path_of(p, sizeof p, name);
        write_file(p, t, 32);
        expect(meta[i].label, name, 1, meta[i].status, meta[i].m1, meta[i].m2, ".gguf: ", 0);
        tfree(t);
    }

    /* nested arrays: valid ones load and read back; a bad inner type or a
     * deep nesting is refused */
    {
        unsigned char v[256];
        size_t q = 0;
        wr32(v + q, GGUF_ARR), wr64(v + q + 4, 2), q += 12;
        wr32(v + q, GGUF_STR), wr64(v + q + 4, 2), q += 12;
        wr64(v + q, 1), v[q + 8] = 'a', q += 9;
        wr64(v + q, 2), v[q + 8] = 'b', v[q + 9] = 'c', q += 10;
        wr32(v + q, GGUF_I16), wr64(v + q + 4, 3), q += 12;
        for (int i = 0; i < 3; i++, q += 2) v[q] = (unsigned char)(i - 1), v[q + 1] = i == 0 ? 0xff : 0;
        t = clone(g);
        kv_set(t, "test.nested", GGUF_ARR, v, q);
        path_of(p, sizeof p, "r-nested.gguf");
        write_file(p, t, 32);
        expect("nested-arrays", "r-nested.gguf", 1, DSV3_OK, NULL, NULL, NULL, 0);
        gguf_file *f = NULL;
        dsv3_err e;
        err_clear(&e);
        CHECK(gguf_open(p, 1, &f, &e) == 0, "nested: %s", e.msg);
        const gguf_value *a = NULL;
        CHECK(f && gguf_get_arr(f, "test.nested", GGUF_ARR, &a, &e) == 0 && a->n == 2, "nested: outer");
        if (a) {
            gguf_value in, el;
            gguf_str s;
            int64_t x;
            CHECK(gguf_arr_at(a, 1, &in) && in.type == GGUF_ARR && in.elem_type == GGUF_I16 && in.n == 3, "nested: inner 1");
            CHECK(gguf_arr_at(&in, 0, &el) && gguf_value_int(&el, &x) && x == -1, "nested: inner 1 [0] = -1");
            CHECK(gguf_arr_at(a, 0, &in) && in.elem_type == GGUF_STR && gguf_arr_at(&in, 1, &el) && gguf_value_str(&el, &s) &&
                      gguf_str_eq(s, "bc"), "nested: inner 0 [1] = bc");
        }
        gguf_close(f);
        n_cases++;
        /* inner element type 13 */
        v[12] = 13;
        kv_set(t, "test.nested", GGUF_ARR, v, q);
        write_file(p, t, 32);
        expect("nested-array-type-13", "r-nested.gguf", 1, DSV3_ERR_BAD_FILE,
               "an array in key 'test.nested' has element type 13", NULL, NULL, 0);
        /* 12 levels */
        size_t dq = 0;
        for (int i = 0; i < 12; i++, dq += 12) wr32(v + dq, GGUF_ARR), wr64(v + dq + 4, 1);
        wr32(v + dq, GGUF_U8), wr64(v + dq + 4, 0), dq += 12;
        kv_set(t, "test.nested", GGUF_ARR, v, dq);
        write_file(p, t, 32);
        expect("nested-array-deep", "r-nested.gguf", 1, DSV3_ERR_BAD_FILE, "key 'test.nested' has arrays nested deeper than 8",
               NULL, NULL, 0);
        tfree(t);
    }

    /* tensors */
    struct {
        const char *label, *tensor;
        int how; /* 0 delete, 1 swap ne0/ne1, 2 make 1-D */
        int status;
        const char *m1, *m2;
    } tens[] = {
        {"missing-tensor", "blk.1.ffn_up_exps.weight", 0, DSV3_ERR_MISSING_TENSOR,
         "tensor 'blk.1.ffn_up_exps.weight' is missing from the GGUF file", NULL},
        {"missing-token-embd", "token_embd.weight", 0, DSV3_ERR_MISSING_TENSOR, "tensor 'token_embd.weight' is missing",
         NULL},
        {"missing-k-b", "blk.0.attn_k_b.weight", 0, DSV3_ERR_MISSING_TENSOR,
         "tensor 'blk.0.attn_k_b.weight' is missing", "no legacy 'blk.0.attn_kv_b.weight'"},
        {"missing-v-b", "blk.1.attn_v_b.weight", 0, DSV3_ERR_MISSING_TENSOR, "tensor 'blk.1.attn_v_b.weight' is missing",
         NULL},
        {"wrong-shape", "blk.0.attn_kv_a_mqa.weight", 1, DSV3_ERR_BAD_SHAPE,
         "tensor 'blk.0.attn_kv_a_mqa.weight' has shape {288, 256}, expected {256, 288} (ggml order)", NULL},
        {"wrong-shape-experts", "blk.1.ffn_down_exps.weight", 2, DSV3_ERR_BAD_SHAPE,
         "tensor 'blk.1.ffn_down_exps.weight' has shape {1048576}, expected {256, 256, 16}", NULL},
        {"wrong-shape-k-b", "blk.0.attn_k_b.weight", 1, DSV3_ERR_BAD_SHAPE,
         "tensor 'blk.0.attn_k_b.weight' has shape {256, 64, 4}, expected {64, 256, 4}", NULL},
        {"tied-output", "output.weight", 0, DSV3_OK, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof tens / sizeof tens[0]; i++) {
        t = clone(g);
        tten *x = t_find(t, tens[i].tensor);
        if (tens[i].how == 0) t_del(t, tens[i].tensor);
        if (tens[i].how == 1) {
            uint64_t a = x->ne[0];
            x->ne[0] = x->ne[1];
            x->ne[1] = a;
        }
        if (tens[i].how == 2) {
            x->ne[0] = x->ne[0] * x->ne[1] * x->ne[2];
            x->ne[1] = x->ne[2] = 1;
            x->n_dims = 1;
        }
        char name[128];
        snprintf(name, sizeof name, "r-%s.gguf", tens[i].label);
        path_of(p, sizeof p, name);
        write_file(p, t, 32);
        dsv3_model *mm = expect(tens[i].label, name, 1, tens[i].status, tens[i].m1, tens[i].m2, NULL, 1);
        if (mm && !strcmp(tens[i].label, "tied-output")) {
            /* the head is the embedding table now */
            float *l = logits_of(mm, tok, 1);
            CHECK(l[0] == l[0], "tied output computes");
            free(l);
        }
        dsv3_model_free(mm);
        tfree(t);
    }
    /* The router bias: the first MoE layer decides; without it V3 routing is
     * noaux_tc without bias and the file still loads. */
    t = clone(g);
    t_del(t, "blk.1.exp_probs_b.bias");
    path_of(p, sizeof p, "r-no-bias.gguf");
    write_file(p, t, 32);
    expect("no-router-bias", "r-no-bias.gguf", 1, DSV3_OK, NULL, NULL, NULL, 0);
    tfree(t);
    /* the legacy file without its attn_kv_b */
    t = clone(gi);
    t_del(t, "blk.1.attn_kv_b.weight");
    path_of(p, sizeof p, "r-legacy-no-kv-b.gguf");
    write_file(p, t, 32);
    expect("legacy-missing-kv-b", "r-legacy-no-kv-b.gguf", 1, DSV3_ERR_MISSING_TENSOR, "tensor 'blk.1.attn_k_b.weight' is missing",
           "no legacy 'blk.1.attn_kv_b.weight'", NULL, 0);
    tfree(t);
    t = clone(gi);
    tten *x = t_find(t, "blk.0.attn_kv_b.weight");
    x->ne[1] = 256; /* half the rows: nbytes shrinks, still valid data */
    x->nbytes /= 2;
    path_of(p, sizeof p, "r-legacy-kv-b-shape.gguf");
    write_file(p, t, 32);
    expect("legacy-kv-b-shape", "r-legacy-kv-b-shape.gguf", 1, DSV3_ERR_BAD_SHAPE,
           "tensor 'blk.0.attn_kv_b.weight' has shape {256, 256}, expected {256, 512}", NULL, NULL, 0);
    tfree(t);

    /* split models */
    printf("split models\n");
    char prefix[1024];
    path_of(prefix, sizeof prefix, "split3");
    write_split(prefix, g, 3, -1, -1);
    for (int part = 1; part <= 3; part++) {
        char name[64], label[64];
        snprintf(name, sizeof name, "split3-%05d-of-00003.gguf", part);
        snprintf(label, sizeof label, "split-from-part-%d", part);
        m = expect(label, name, part != 2, DSV3_OK, NULL, NULL, NULL, 1);
        if (m) {
            struct dsv3_model_info si = {.struct_size = sizeof si};
            dsv3_model_get_info(m, &si);
            CHECK(si.bytes_mapped > info.bytes_mapped - 1000 && si.n_params == info.n_params, "split: info");
            float *l = logits_of(m, tok, 9);
            CHECK(memcmp(l, ref, sizeof(float) * nl) == 0, "%s: logits differ from the single file", label);
            free(l);
            dsv3_model_free(m);
        }
    }
    path_of(p, sizeof p, "split3-00003-of-00003.gguf");
    remove(p);
    expect("split-missing-part", "split3-00001-of-00003.gguf", 1, DSV3_ERR_NOT_FOUND, "split3-00003-of-00003.gguf", NULL, NULL, 0);
    path_of(prefix, sizeof prefix, "splitbad");
    write_split(prefix, g, 2, 1, -1);
    expect("split-wrong-no", "splitbad-00001-of-00002.gguf", 1, DSV3_ERR_BAD_FILE, "splitbad-00002-of-00002.gguf",
           "split.no 2, expected 2 and 1", NULL, 0);
    path_of(prefix, sizeof prefix, "splitcount");
    write_split(prefix, g, 2, -1, 33);
    expect("split-tensors-count", "splitcount-00001-of-00002.gguf", 1, DSV3_ERR_BAD_FILE,
           "split.tensors.count does not match the 34 tensors", NULL, NULL, 0);
    {
        char a[1024], b[1024];
        path_of(a, sizeof a, "splitcount-00001-of-00002.gguf");
        path_of(b, sizeof b, "renamed-part.gguf");
        rename(a, b);
        expect("split-renamed", "renamed-part.gguf", 1, DSV3_ERR_BAD_FILE, "does not end in '-00001-of-00002.gguf'", NULL, NULL, 0);
    }
    /* a tensor in two parts */
    t = clone(g);
    t->t[t->nt] = t->t[0]; /* output.weight again, last */
    t->nt++;
    path_of(prefix, sizeof prefix, "splitdup");
    write_split(prefix, t, 2, -1, (int64_t)t->nt);
    expect("split-duplicate-tensor", "splitdup-00002-of-00002.gguf", 1, DSV3_ERR_BAD_FILE, "tensor 'output.weight' appears twice",
           NULL, NULL, 0);
    tfree(t);

    /* the reader over memory */
    {
        gguf_file *f = NULL;
        dsv3_err e;
        err_clear(&e);
        CHECK(gguf_open_memory(g->raw, g->size, &f, &e) == 0 && gguf_tensor_count(f) == 34 && gguf_kv_count(f) == g->nkv,
              "gguf_open_memory: %s", e.msg);
        const gguf_tensor *tt = f ? gguf_find_tensor(f, "blk.1.ffn_gate_exps.weight") : NULL;
        CHECK(tt && tt->ne[2] == 16 && tt->type == GGML_T_BF16 && tt->nbytes == 256ull * 256 * 16 * 2 &&
                  tt->data == g->raw + g->data_start + tt->offset,
              "gguf_open_memory: tensor view");
        dsv3_config c;
        CHECK(f && gguf_model_config(f, &c, &e) == 0 && c.topk_method == DSV3_TOPK_NOAUX_TC && c.scoring == DSV3_SCORE_SIGMOID &&
                  c.n_group == 4 && c.topk_group == 2 && c.has_yarn && c.yarn_factor == 40 && c.yarn_mscale_all_dim == 1.0 &&
                  c.yarn_original_max_pos == 4096 && c.routed_scaling_factor == 2.5f && c.norm_topk_prob == 1 &&
                  c.bos_token_id == 0 && c.eos_token_id == 1,
              "gguf_model_config: %s", e.msg);
        gguf_close(f);
        n_cases++;
    }

    free(ref);
    dsv3_model_free(mo);
}

int main(int argc, char **argv) {
    if (argc > 1) shared = argv[1];
    if (argc > 2) scratch = argv[2];
    (void)load_json; /* golden_util.h helpers this test does not need */
    (void)json_ints;
    int seeds_only = argc > 3 && !strcmp(argv[3], "--seeds-only");
    mkdir(scratch, 0755);
    char p[1024];
    tfile *g = malloc(sizeof *g), *gl = malloc(sizeof *gl);
    snprintf(p, sizeof p, "%s/golden-gguf/tiny-q.bf16.gguf", shared);
    scan(p, g);
    if (seeds_only) {
        write_seeds(g);
        tfree(g);
        free(gl);
        printf("seeds written to %s\n", scratch);
        return 0;
    }
    snprintf(p, sizeof p, "%s/golden-gguf/tiny-q.legacy.iq1_s.gguf", shared);
    scan(p, gl);
    structural_cases(g);
    rebuilt_cases(g, gl);
    if (!g_fail) clear_scratch();
    write_seeds(g);
    printf("%d malformed/unusual files checked\n", n_cases);
    tfree(g);
    tfree(gl);
    return finish();
}
