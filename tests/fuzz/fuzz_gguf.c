/* fuzz_gguf.c -- libFuzzer harness for the GGUF reader (lib/gguf.c), the
 * deepseek2 metadata parser (gguf_model_config in lib/model_gguf.c) and,
 * for files whose metadata parses, the whole loader: the input is put in a
 * memfd and opened with dsv3_model_load (tensor binding, shapes, types),
 * and a model that loads steps two tokens (and an MTP row) on whatever
 * bytes its weights hold.
 *
 * Beyond "does not crash, leak or read out of bounds" (ASan/UBSan), every
 * accepted file is checked against the reader's promises:
 *  - every KV key is found by gguf_find_kv, every tensor by gguf_find_tensor
 *    (so names are unique), tensor names have no NUL and fit GGUF_MAX_NAME;
 *  - every value and every array element, nested ones included, lies inside
 *    the input, and walking an array ends exactly where its bytes end;
 *  - gguf_arr_strs agrees with the iterator;
 *  - every tensor's data [data, data + nbytes) lies inside the input, is
 *    aligned to general.alignment relative to the data section, has a known
 *    ggml type and ne[0] a multiple of its block; no two tensors overlap
 *    (checked pairwise for small tables, touching first and last bytes);
 *  - a rejected input yields a non-empty message and a matching status.
 * The input is copied into an exact-size heap buffer so ASan sees any read
 * past its end. */
#include "fuzz_util.h"

#include "dsv3.h"
#include "gguf.h"

#define ASSERT FUZZ_ASSERT

static fuzz_file g_file;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_file_open(&g_file, "model.gguf");
    return 0;
}

/* The loader over the same bytes: refusals carry a status and a message;
 * a model that loads runs. Weights are arbitrary bytes, so the logits are
 * not checked, only that nothing crashes. */
static void load_model(const uint8_t *data, size_t size) {
    fuzz_file_set(&g_file, data, size);
    struct dsv3_model_params mp;
    ASSERT(dsv3_model_params_init(&mp, sizeof mp) == DSV3_OK);
    mp.backend = "scalar";
    mp.n_threads = 1;
    mp.use_mmap = (int)(size & 1);
    dsv3_model *m = NULL;
    char err[512];
    err[0] = 0;
    int rc = dsv3_model_load(g_file.path, &mp, &m, err, sizeof err);
    if (rc) {
        ASSERT(!m && err[0] && rc != DSV3_ERR_NOT_FOUND);
        return;
    }
    struct dsv3_model_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    ASSERT(dsv3_model_get_info(m, &info) == DSV3_OK && info.vocab_size >= 1);
    struct dsv3_session_params sp;
    ASSERT(dsv3_session_params_init(&sp, sizeof sp) == DSV3_OK);
    sp.n_ctx = info.max_context < 4 ? info.max_context : 4;
    dsv3_session *s = NULL;
    if (dsv3_session_create(m, &sp, &s, err, sizeof err) == DSV3_OK) {
        int32_t toks[2] = {0, info.vocab_size - 1};
        float *logits = malloc(sizeof *logits * (size_t)info.vocab_size);
        ASSERT(logits);
        int32_t n = sp.n_ctx < 2 ? sp.n_ctx : 2;
        ASSERT(dsv3_session_step(s, toks, n, logits, 0) == DSV3_OK);
        if (info.n_mtp_layers) ASSERT(dsv3_session_mtp_step(s, toks, 1, logits, 0) == DSV3_OK);
        free(logits);
        dsv3_session_free(s);
    }
    dsv3_model_free(m);
}


static const uint8_t *g_lo, *g_hi;
static volatile unsigned g_sink;

static void inside(const void *p, uint64_t n) {
    const uint8_t *q = p;
    ASSERT(q >= g_lo && q <= g_hi && n <= (uint64_t)(g_hi - q));
    if (n) g_sink += q[0] + q[n - 1];
}

static void walk(const gguf_value *v, int depth) {
    ASSERT(depth <= GGUF_MAX_ARRAY_DEPTH + 1);
    ASSERT(v->type >= 0 && v->type < GGUF_VTYPE_COUNT);
    inside(v->p, v->size);
    int64_t i;
    double d;
    int b;
    gguf_str s;
    (void)gguf_value_int(v, &i);
    (void)gguf_value_float(v, &d);
    (void)gguf_value_bool(v, &b);
    if (gguf_value_str(v, &s)) inside(s.p, s.n);
    if (v->type != GGUF_ARR) return;
    ASSERT(v->elem_type >= 0 && v->elem_type < GGUF_VTYPE_COUNT);
    gguf_iter it;
    gguf_value e;
    gguf_iter_init(&it, v);
    uint64_t n = 0;
    const uint8_t *end = v->p;
    while (gguf_iter_next(&it, &e)) {
        ASSERT(e.type == v->elem_type);
        walk(&e, depth + 1);
        end = e.p + e.size;
        n++;
    }
    ASSERT(n == v->n);
    if (n) ASSERT(end == v->p + v->size);
    if (v->elem_type == GGUF_STR && v->n <= 4096) {
        gguf_str *ss = malloc(sizeof *ss * (size_t)(v->n ? v->n : 1));
        ASSERT(ss);
        ASSERT(gguf_arr_strs(v, ss, v->n) == v->n);
        for (uint64_t k = 0; k < v->n; k++) {
            ASSERT(gguf_arr_at(v, k, &e) && gguf_value_str(&e, &s) && s.p == ss[k].p && s.n == ss[k].n);
            if (k > 64) break; /* gguf_arr_at is O(k) for strings */
        }
        free(ss);
    }
    if (v->n) ASSERT(gguf_arr_at(v, v->n - 1, &e));
    ASSERT(!gguf_arr_at(v, v->n, &e));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) return 0;
    if (size) memcpy(buf, data, size);
    g_lo = buf;
    g_hi = buf + size;
    gguf_file *f = NULL;
    dsv3_err e;
    err_clear(&e);
    int rc = gguf_open_memory(buf, size, &f, &e);
    if (rc) {
        ASSERT(!f && e.status == rc && e.msg[0]);
        free(buf);
        return 0;
    }
    ASSERT(f && gguf_n_parts(f) == 1 && gguf_bytes(f) == size);
    uint64_t al = gguf_alignment(f);
    ASSERT(al && !(al & (al - 1)));
    for (size_t i = 0; i < gguf_kv_count(f); i++) {
        const gguf_kv *kv = gguf_kv_at(f, i);
        inside(kv->key.p, kv->key.n);
        walk(&kv->v, 0);
        if (kv->key.n < 512 && !memchr(kv->key.p, 0, (size_t)kv->key.n)) {
            char k[512];
            memcpy(k, kv->key.p, (size_t)kv->key.n);
            k[kv->key.n] = 0;
            ASSERT(gguf_find_kv(f, k) == kv);
            /* typed getters never fail for a wrong reason */
            uint32_t u;
            int64_t x;
            double d;
            gguf_str s;
            const gguf_value *a;
            dsv3_err e2;
            err_clear(&e2);
            int r = gguf_get_u32(f, k, &u, &e2);
            ASSERT(r == 0 || (r == DSV3_ERR_BAD_CONFIG && e2.msg[0]));
            r = gguf_get_int(f, k, &x, &e2);
            ASSERT(r == 0 || r == DSV3_ERR_BAD_CONFIG);
            r = gguf_get_float(f, k, &d, &e2);
            ASSERT(r == 0 || r == DSV3_ERR_BAD_CONFIG);
            r = gguf_get_str(f, k, &s, &e2);
            ASSERT(r == 0 || r == DSV3_ERR_BAD_CONFIG);
            r = gguf_get_arr(f, k, -1, &a, &e2);
            ASSERT(r == 0 || r == DSV3_ERR_BAD_CONFIG);
        }
    }
    const size_t nt = gguf_tensor_count(f);
    const uint8_t *first_data = NULL;
    for (size_t i = 0; i < nt; i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        ASSERT(t->name.n >= 1 && t->name.n < GGUF_MAX_NAME && !memchr(t->name.p, 0, (size_t)t->name.n));
        inside(t->name.p, t->name.n);
        char nm[GGUF_MAX_NAME];
        memcpy(nm, t->name.p, (size_t)t->name.n);
        nm[t->name.n] = 0;
        ASSERT(gguf_find_tensor(f, nm) == t);
        ASSERT(t->n_dims >= 1 && t->n_dims <= GGUF_MAX_DIMS && gguf_ggml_type_name(t->type));
        ASSERT(t->ne[0] % gguf_ggml_type_block(t->type) == 0);
        ASSERT(t->offset % al == 0);
        inside(t->data, t->nbytes);
        if (!first_data || t->data - t->offset < first_data) first_data = t->data - t->offset;
        if (nt <= 64 && t->nbytes)
            for (size_t j = 0; j < i; j++) {
                const gguf_tensor *u = gguf_tensor_at(f, j);
                if (u->nbytes) ASSERT(t->data + t->nbytes <= u->data || u->data + u->nbytes <= t->data);
            }
    }
    if (first_data) ASSERT((uint64_t)(first_data - buf) % al == 0);
    dsv3_config c;
    err_clear(&e);
    rc = gguf_model_config(f, &c, &e);
    if (rc) ASSERT(e.status == rc && e.msg[0]);
    else ASSERT(c.n_layers >= 1 && c.hidden_size >= 1 && c.vocab_size >= 1 && c.qk_nope_head_dim >= 1);
    gguf_close(f);
    free(buf);
    if (!rc) load_model(data, size);
    return 0;
}
