/* fuzz_gguf.c -- libFuzzer harness for the GGUF reader (lib/gguf.c) and the
 * deepseek2 metadata parser (gguf_model_config in lib/model_gguf.c).
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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsv3.h"
#include "gguf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ASSERT(c)                                                                           \
    do {                                                                                    \
        if (!(c)) {                                                                         \
            fprintf(stderr, "fuzz_gguf: %s:%d: check failed: %s\n", __FILE__, __LINE__, #c); \
            abort();                                                                        \
        }                                                                                   \
    } while (0)

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
    return 0;
}
