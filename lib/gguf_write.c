/* gguf_write.c -- streaming GGUF v3 writer (see gguf_write.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsv3.h"
#include "gguf.h"
#include "gguf_write.h"

#define GGUF_W_VERSION 3u
/* ggml's GGML_MAX_NAME: llama.cpp refuses longer tensor names. */
#define GGUF_W_MAX_NAME 64

typedef struct wtensor {
    char *name;
    size_t name_len;
    int type, n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    uint64_t offset, nbytes;
} wtensor;

struct gguf_writer {
    unsigned char *kv; /* serialized KVs */
    size_t kv_len, kv_cap;
    uint64_t n_kv;
    char **keys;
    size_t n_keys, keys_cap;
    wtensor *t;
    size_t n_t, t_cap;
    uint64_t data_size; /* sum of the aligned tensor sizes */
    uint32_t alignment;
    dsv3_err err;       /* first failure of a setter */
    FILE *f;
    size_t cur;         /* tensor being written */
    uint64_t cur_done;  /* its bytes written so far */
};

gguf_writer *gguf_writer_new(void) {
    gguf_writer *w = calloc(1, sizeof *w);
    if (w) w->alignment = GGUF_DEFAULT_ALIGNMENT;
    return w;
}

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    if (w->f) fclose(w->f);
    for (size_t i = 0; i < w->n_keys; i++) free(w->keys[i]);
    for (size_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->keys);
    free(w->t);
    free(w->kv);
    free(w);
}

/* Record the first failure; return its status. */
static int fail(gguf_writer *w, int status, const char *fmt, const char *arg) {
    if (!w->err.status) {
        w->err.status = status;
        snprintf(w->err.msg, sizeof w->err.msg, fmt, arg);
    }
    return status;
}

static int reserve(gguf_writer *w, size_t n) {
    if (w->kv_len + n <= w->kv_cap) return 1;
    size_t cap = w->kv_cap ? w->kv_cap : 4096;
    while (cap < w->kv_len + n) {
        if (cap > SIZE_MAX / 2) return 0;
        cap *= 2;
    }
    unsigned char *p = realloc(w->kv, cap);
    if (!p) return 0;
    w->kv = p;
    w->kv_cap = cap;
    return 1;
}

/* Little-endian encoders into the KV buffer (reserve first). */
static void put_le(gguf_writer *w, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) w->kv[w->kv_len++] = (unsigned char)(v >> (8 * i));
}

static void put_bytes(gguf_writer *w, const void *p, size_t n) {
    if (n) memcpy(w->kv + w->kv_len, p, n);
    w->kv_len += n;
}

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* Check the key, remember it, write it and the value type. */
static int start_kv(gguf_writer *w, const char *key, int type, size_t value_bytes) {
    if (w->err.status) return w->err.status;
    if (w->f) return fail(w, DSV3_ERR_STATE, "GGUF writer: key '%s' set after the header was written", key);
    if (!key || !*key) return fail(w, DSV3_ERR_INVALID_ARG, "GGUF writer: empty key%s", "");
    for (size_t i = 0; i < w->n_keys; i++)
        if (!strcmp(w->keys[i], key)) return fail(w, DSV3_ERR_INVALID_ARG, "GGUF writer: key '%s' set twice", key);
    if (w->n_keys == w->keys_cap) {
        size_t cap = w->keys_cap ? 2 * w->keys_cap : 64;
        char **k = realloc(w->keys, cap * sizeof *k);
        if (!k) return fail(w, DSV3_ERR_NO_MEMORY, "GGUF writer: out of memory%s", "");
        w->keys = k;
        w->keys_cap = cap;
    }
    size_t kl = strlen(key);
    char *copy = malloc(kl + 1);
    if (!copy || value_bytes > SIZE_MAX - 12 - kl || !reserve(w, 12 + kl + value_bytes)) {
        free(copy);
        return fail(w, DSV3_ERR_NO_MEMORY, "GGUF writer: out of memory storing key '%s'", key);
    }
    memcpy(copy, key, kl + 1);
    w->keys[w->n_keys++] = copy;
    put_le(w, kl, 8);
    put_bytes(w, key, kl);
    put_le(w, (uint64_t)type, 4);
    w->n_kv++;
    return DSV3_OK;
}

int gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v) {
    if (key && !strcmp(key, "general.alignment")) {
        if (v == 0 || (v & (v - 1)) || v > (1u << 20))
            return fail(w, DSV3_ERR_INVALID_ARG, "GGUF writer: general.alignment must be a power of 2 up to 2^20%s", "");
        if (w->n_t) return fail(w, DSV3_ERR_STATE, "GGUF writer: general.alignment set after tensors were added%s", "");
    }
    int rc = start_kv(w, key, GGUF_U32, 4);
    if (rc) return rc;
    put_le(w, v, 4);
    if (!strcmp(key, "general.alignment")) w->alignment = v;
    return DSV3_OK;
}

int gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v) {
    int rc = start_kv(w, key, GGUF_I32, 4);
    if (!rc) put_le(w, (uint32_t)v, 4);
    return rc;
}

int gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v) {
    int rc = start_kv(w, key, GGUF_U64, 8);
    if (!rc) put_le(w, v, 8);
    return rc;
}

int gguf_writer_set_f32(gguf_writer *w, const char *key, float v) {
    int rc = start_kv(w, key, GGUF_F32, 4);
    if (!rc) put_le(w, f32_bits(v), 4);
    return rc;
}

int gguf_writer_set_bool(gguf_writer *w, const char *key, int v) {
    int rc = start_kv(w, key, GGUF_BOOL, 1);
    if (!rc) put_le(w, v ? 1u : 0u, 1);
    return rc;
}

int gguf_writer_set_str(gguf_writer *w, const char *key, const char *s, size_t n) {
    if (!s && n) return fail(w, DSV3_ERR_INVALID_ARG, "GGUF writer: key '%s': NULL string", key ? key : "");
    int rc = start_kv(w, key, GGUF_STR, 8 + n);
    if (rc) return rc;
    put_le(w, n, 8);
    put_bytes(w, s, n);
    return DSV3_OK;
}

int gguf_writer_set_arr(gguf_writer *w, const char *key, int elem_type, const void *data, uint64_t n) {
    size_t es = elem_type == GGUF_BOOL ? 1 : gguf_vtype_size(elem_type);
    if (!es || elem_type == GGUF_STR || elem_type == GGUF_ARR)
        return fail(w, DSV3_ERR_INVALID_ARG, "GGUF writer: key '%s': unsupported array element type", key ? key : "");
    if ((!data && n) || n > (SIZE_MAX - 12) / es)
        return fail(w, DSV3_ERR_INVALID_ARG, "GGUF writer: key '%s': bad array", key ? key : "");
    int rc = start_kv(w, key, GGUF_ARR, 12 + (size_t)n * es);
    if (rc) return rc;
    put_le(w, (uint64_t)elem_type, 4);
    put_le(w, n, 8);
    const unsigned char *p = data;
    for (uint64_t i = 0; i < n; i++, p += es) {
        uint64_t v = 0;
        switch (es) {
        case 1: v = *p; break;
        case 2: { uint16_t x; memcpy(&x, p, 2); v = x; break; }
        case 4: { uint32_t x; memcpy(&x, p, 4); v = x; break; }
        default: memcpy(&v, p, 8); break;
        }
        if (elem_type == GGUF_BOOL) v = v != 0;
        put_le(w, v, (int)es);
    }
    return DSV3_OK;
}

int gguf_writer_set_str_arr(gguf_writer *w, const char *key, const char *const *strs, const size_t *lens,
                            uint64_t n) {
    if (!strs && n) return fail(w, DSV3_ERR_INVALID_ARG, "GGUF writer: key '%s': NULL strings", key ? key : "");
    size_t total = 12;
    for (uint64_t i = 0; i < n; i++) {
        if (!strs[i] && (!lens || lens[i])) return fail(w, DSV3_ERR_INVALID_ARG, "GGUF writer: key '%s': NULL string", key ? key : "");
        size_t l = lens ? lens[i] : strlen(strs[i]);
        if (l > SIZE_MAX / 2 - total - 8)
            return fail(w, DSV3_ERR_NO_MEMORY, "GGUF writer: key '%s': strings too long", key ? key : "");
        total += 8 + l;
    }
    int rc = start_kv(w, key, GGUF_ARR, total);
    if (rc) return rc;
    put_le(w, GGUF_STR, 4);
    put_le(w, n, 8);
    for (uint64_t i = 0; i < n; i++) {
        size_t l = lens ? lens[i] : strlen(strs[i]);
        put_le(w, l, 8);
        put_bytes(w, strs[i], l);
    }
    return DSV3_OK;
}

static uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

int gguf_writer_add_tensor(gguf_writer *w, const char *name, int ggml_type, int n_dims, const int64_t *ne,
                           uint64_t *nbytes) {
    if (w->err.status) return w->err.status;
    if (w->f) return fail(w, DSV3_ERR_STATE, "GGUF writer: tensor '%s' added after the header was written", name);
    size_t nl = name ? strlen(name) : 0;
    if (!nl || nl >= GGUF_W_MAX_NAME)
        return fail(w, DSV3_ERR_INVALID_ARG, "GGUF writer: tensor name '%s' is empty or longer than 63 bytes",
                    name ? name : "");
    for (size_t i = 0; i < w->n_t; i++)
        if (!strcmp(w->t[i].name, name)) return fail(w, DSV3_ERR_INVALID_ARG, "GGUF writer: tensor '%s' added twice", name);
    int block = gguf_ggml_type_block(ggml_type);
    size_t bb = gguf_ggml_type_block_bytes(ggml_type);
    if (!block || !bb) return fail(w, DSV3_ERR_BAD_DTYPE, "GGUF writer: tensor '%s': unknown ggml type", name);
    if (n_dims < 1 || n_dims > GGUF_MAX_DIMS || !ne)
        return fail(w, DSV3_ERR_INVALID_ARG, "GGUF writer: tensor '%s': 1 to 4 dimensions", name);
    uint64_t count = 1;
    for (int d = 0; d < n_dims; d++) {
        if (ne[d] < 1 || ne[d] > ((int64_t)1 << 40))
            return fail(w, DSV3_ERR_INVALID_ARG, "GGUF writer: tensor '%s': bad dimension", name);
        if (count > ((uint64_t)1 << 50) / (uint64_t)ne[d])
            return fail(w, DSV3_ERR_INVALID_ARG, "GGUF writer: tensor '%s': too large", name);
        count *= (uint64_t)ne[d];
    }
    if (ne[0] % block)
        return fail(w, DSV3_ERR_INVALID_ARG, "GGUF writer: tensor '%s': ne[0] is not a multiple of the type's block", name);
    if (w->n_t == w->t_cap) {
        size_t cap = w->t_cap ? 2 * w->t_cap : 256;
        wtensor *t = realloc(w->t, cap * sizeof *t);
        if (!t) return fail(w, DSV3_ERR_NO_MEMORY, "GGUF writer: out of memory adding '%s'", name);
        w->t = t;
        w->t_cap = cap;
    }
    wtensor *t = &w->t[w->n_t];
    memset(t, 0, sizeof *t);
    t->name = malloc(nl + 1);
    if (!t->name) return fail(w, DSV3_ERR_NO_MEMORY, "GGUF writer: out of memory adding '%s'", name);
    memcpy(t->name, name, nl + 1);
    t->name_len = nl;
    t->type = ggml_type;
    t->n_dims = n_dims;
    for (int d = 0; d < GGUF_MAX_DIMS; d++) t->ne[d] = d < n_dims ? ne[d] : 1;
    t->nbytes = count / (uint64_t)block * bb;
    t->offset = w->data_size;
    w->data_size += align_up(t->nbytes, w->alignment);
    w->n_t++;
    if (nbytes) *nbytes = t->nbytes;
    return DSV3_OK;
}

static uint64_t header_size(const gguf_writer *w) {
    uint64_t n = 4 + 4 + 8 + 8 + w->kv_len;
    for (size_t i = 0; i < w->n_t; i++) n += 8 + w->t[i].name_len + 4 + 8 * (uint64_t)w->t[i].n_dims + 4 + 8;
    return align_up(n, w->alignment);
}

uint64_t gguf_writer_file_size(const gguf_writer *w) { return w ? header_size(w) + w->data_size : 0; }

static int io_fail(dsv3_err *e, const char *what) {
    int saved = errno;
    return err_set(e, DSV3_ERR_IO, "GGUF writer: %s failed: %s", what, saved ? strerror(saved) : "unknown error");
}

static int put_file(gguf_writer *w, const void *p, size_t n) { return fwrite(p, 1, n, w->f) == n; }

static int put_file_le(gguf_writer *w, uint64_t v, int bytes) {
    unsigned char b[8];
    for (int i = 0; i < bytes; i++) b[i] = (unsigned char)(v >> (8 * i));
    return put_file(w, b, (size_t)bytes);
}

static int put_zeros(gguf_writer *w, uint64_t n) {
    static const unsigned char z[256];
    while (n) {
        size_t k = n < sizeof z ? (size_t)n : sizeof z;
        if (!put_file(w, z, k)) return 0;
        n -= k;
    }
    return 1;
}

int gguf_writer_begin(gguf_writer *w, const char *path, dsv3_err *e) {
    if (!w) return err_set(e, DSV3_ERR_INVALID_ARG, "GGUF writer: NULL writer");
    if (w->err.status) {
        if (e) *e = w->err;
        return w->err.status;
    }
    if (w->f) return err_set(e, DSV3_ERR_STATE, "GGUF writer: the header was already written");
    errno = 0;
    w->f = fopen(path, "wb");
    if (!w->f) return err_set(e, DSV3_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    setvbuf(w->f, NULL, _IOFBF, (size_t)1 << 22);
    int ok = put_file(w, "GGUF", 4) && put_file_le(w, GGUF_W_VERSION, 4) && put_file_le(w, w->n_t, 8) &&
             put_file_le(w, w->n_kv, 8) && put_file(w, w->kv, w->kv_len);
    uint64_t at = 4 + 4 + 8 + 8 + w->kv_len;
    for (size_t i = 0; ok && i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        ok = put_file_le(w, t->name_len, 8) && put_file(w, t->name, t->name_len) && put_file_le(w, (uint64_t)t->n_dims, 4);
        for (int d = 0; ok && d < t->n_dims; d++) ok = put_file_le(w, (uint64_t)t->ne[d], 8);
        ok = ok && put_file_le(w, (uint64_t)t->type, 4) && put_file_le(w, t->offset, 8);
        at += 8 + t->name_len + 4 + 8 * (uint64_t)t->n_dims + 4 + 8;
    }
    ok = ok && put_zeros(w, align_up(at, w->alignment) - at);
    if (!ok) return io_fail(e, "writing the header");
    w->cur = 0;
    w->cur_done = 0;
    return DSV3_OK;
}

/* Pad the finished tensor and move to the next one. */
static int next_tensor(gguf_writer *w) {
    const wtensor *t = &w->t[w->cur];
    if (!put_zeros(w, align_up(t->nbytes, w->alignment) - t->nbytes)) return 0;
    w->cur++;
    w->cur_done = 0;
    return 1;
}

int gguf_writer_write(gguf_writer *w, const void *data, size_t n, dsv3_err *e) {
    if (!w || !w->f) return err_set(e, DSV3_ERR_STATE, "GGUF writer: tensor data written before the header");
    const unsigned char *p = data;
    while (n) {
        if (w->cur >= w->n_t)
            return err_set(e, DSV3_ERR_INVALID_ARG, "GGUF writer: %zu bytes of tensor data more than the tensors hold", n);
        const wtensor *t = &w->t[w->cur];
        uint64_t room = t->nbytes - w->cur_done;
        size_t k = room < n ? (size_t)room : n;
        if (!put_file(w, p, k)) return io_fail(e, "writing tensor data");
        p += k;
        n -= k;
        w->cur_done += k;
        if (w->cur_done == t->nbytes && !next_tensor(w)) return io_fail(e, "writing tensor padding");
    }
    return DSV3_OK;
}

int gguf_writer_finish(gguf_writer *w, dsv3_err *e) {
    if (!w || !w->f) return err_set(e, DSV3_ERR_STATE, "GGUF writer: finish without a header");
    if (w->cur < w->n_t)
        return err_set(e, DSV3_ERR_STATE, "GGUF writer: tensor '%s' got %llu of its %llu bytes", w->t[w->cur].name,
                       (unsigned long long)w->cur_done, (unsigned long long)w->t[w->cur].nbytes);
    errno = 0;
    int ok = fflush(w->f) == 0;
    int saved = errno;
    int closed = fclose(w->f) == 0;
    w->f = NULL;
    if (!ok || !closed) {
        errno = saved ? saved : errno;
        return io_fail(e, "closing the file");
    }
    return DSV3_OK;
}
