/* fuzz_safetensors.c -- the safetensors header (lib/safetensors.c): the
 * input is a whole .safetensors file, held in a memfd and opened through
 * st_open_file (mapped or read, chosen by the input's size parity).
 *
 * A refused file gives BAD_FILE / BAD_DTYPE / NO_MEMORY and a message; an
 * accepted one keeps every promise of safetensors.h: known dtypes, at most
 * ST_MAX_DIMS dims, nbytes == product of the shape x dtype size, data
 * inside the file's data section, names unique (st_find finds each), no two
 * non-empty tensors overlap. Every tensor's bytes are touched. */
#include "fuzz_util.h"

#include "dsv3.h"
#include "safetensors.h"

static fuzz_file g_file;
static volatile unsigned g_sink;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_file_open(&g_file, "model.safetensors");
    return 0;
}

typedef struct range {
    const unsigned char *b, *e;
} range;

static int cmp_range(const void *x, const void *y) {
    const range *a = x, *b = y;
    return a->b < b->b ? -1 : a->b > b->b;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_file_set(&g_file, data, size);
    st_set *s = NULL;
    dsv3_err e;
    err_clear(&e);
    int rc = st_open_file(g_file.path, (int)(size & 1), &s, &e);
    if (rc) {
        FUZZ_ASSERT(!s && e.status == rc && e.msg[0]);
        FUZZ_ASSERT(rc == DSV3_ERR_BAD_FILE || rc == DSV3_ERR_BAD_DTYPE || rc == DSV3_ERR_NO_MEMORY);
        return 0;
    }
    FUZZ_ASSERT(s && size >= 8);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | data[i];
    FUZZ_ASSERT(hlen <= size - 8);
    const uint64_t dstart = 8 + hlen;
    const size_t n = st_count(s);
    FUZZ_ASSERT(st_bytes_mapped(s) == size);
    range *r = malloc((n ? n : 1) * sizeof *r);
    FUZZ_ASSERT(r);
    size_t nr = 0;
    const unsigned char *base = NULL;
    for (size_t i = 0; i < n; i++) {
        const st_tensor *t = st_at(s, i);
        FUZZ_ASSERT(t && t->name && t->name[0] && st_find(s, t->name) == t);
        FUZZ_ASSERT(t->dtype >= 0 && t->dtype < ST_DTYPE_COUNT && st_dtype_size(t->dtype) > 0);
        FUZZ_ASSERT(t->n_dims >= 0 && t->n_dims <= ST_MAX_DIMS && t->file == 0);
        uint64_t count = 1;
        for (int d = 0; d < t->n_dims; d++) {
            FUZZ_ASSERT(t->shape[d] >= 0);
            FUZZ_ASSERT(t->shape[d] == 0 || count <= UINT64_MAX / (uint64_t)t->shape[d]);
            count *= (uint64_t)t->shape[d];
        }
        FUZZ_ASSERT(count <= UINT64_MAX / st_dtype_size(t->dtype) && count * st_dtype_size(t->dtype) == t->nbytes);
        FUZZ_ASSERT(t->nbytes <= size - dstart);
        if (t->nbytes) {
            g_sink += t->data[0] + t->data[t->nbytes - 1];
            r[nr].b = t->data;
            r[nr].e = t->data + t->nbytes;
            nr++;
            if (!base) base = t->data; /* any tensor locates the mapping */
        }
    }
    /* In bounds of the data section (relative to the mapping), no overlap. */
    qsort(r, nr, sizeof *r, cmp_range);
    for (size_t i = 0; i < nr; i++) {
        if (i) FUZZ_ASSERT(r[i - 1].e <= r[i].b);
    }
    FUZZ_ASSERT(st_find(s, "__metadata__") == NULL);
    free(r);
    st_close(s);
    return 0;
}
