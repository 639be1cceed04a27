/* safetensors.c -- parse and validate safetensors headers over mapped files.
 *
 * Format: u64 little-endian header length N, N bytes of JSON
 * {"name": {"dtype": "BF16", "shape": [..], "data_offsets": [b, e]}, ...,
 * "__metadata__": {...}}, then the data section; offsets are relative to
 * its start. Nothing is copied: tensor views point into the mapping. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dsv3.h"
#include "json.h"
#include "mapfile.h"
#include "safetensors.h"

#define ST_MAX_HEADER (256u << 20) /* the real 671B release uses < 1 MiB a shard */
#define ST_MAX_FILES 4096

struct st_set {
    mapfile *files;
    int n_files;
    st_tensor *t;
    size_t n, cap;
    char **names;       /* one allocation per tensor name */
    size_t *hash;       /* open addressing: index+1, 0 = empty */
    size_t hash_cap;
    uint64_t bytes;
};

static const struct { const char *name; size_t size; } dtypes[ST_DTYPE_COUNT] = {
    [ST_F64] = {"F64", 8}, [ST_F32] = {"F32", 4}, [ST_F16] = {"F16", 2}, [ST_BF16] = {"BF16", 2},
    [ST_F8_E4M3] = {"F8_E4M3", 1}, [ST_F8_E5M2] = {"F8_E5M2", 1}, [ST_I64] = {"I64", 8},
    [ST_I32] = {"I32", 4}, [ST_I16] = {"I16", 2}, [ST_I8] = {"I8", 1}, [ST_U64] = {"U64", 8},
    [ST_U32] = {"U32", 4}, [ST_U16] = {"U16", 2}, [ST_U8] = {"U8", 1}, [ST_BOOL] = {"BOOL", 1},
};

const char *st_dtype_name(int dt) { return dt >= 0 && dt < ST_DTYPE_COUNT ? dtypes[dt].name : "?"; }
size_t st_dtype_size(int dt) { return dt >= 0 && dt < ST_DTYPE_COUNT ? dtypes[dt].size : 0; }

static uint64_t fnv1a(const char *s) {
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

const st_tensor *st_find(const st_set *s, const char *name) {
    if (!s || !s->hash_cap) return NULL;
    for (size_t i = fnv1a(name) & (s->hash_cap - 1);; i = (i + 1) & (s->hash_cap - 1)) {
        size_t v = s->hash[i];
        if (!v) return NULL;
        if (!strcmp(s->t[v - 1].name, name)) return &s->t[v - 1];
    }
}

size_t st_count(const st_set *s) { return s ? s->n : 0; }
const st_tensor *st_at(const st_set *s, size_t i) { return s && i < s->n ? &s->t[i] : NULL; }
uint64_t st_bytes_mapped(const st_set *s) { return s ? s->bytes : 0; }

void st_close(st_set *s) {
    if (!s) return;
    for (int i = 0; i < s->n_files; i++) mapfile_close(&s->files[i]);
    for (size_t i = 0; i < s->n; i++) free(s->names[i]);
    free(s->names);
    free(s->files);
    free(s->t);
    free(s->hash);
    free(s);
}

static int build_hash(st_set *s, dsv3_err *e) {
    size_t cap = 16;
    while (cap < 2 * s->n + 2) cap *= 2;
    s->hash = calloc(cap, sizeof *s->hash);
    if (!s->hash) return err_set(e, DSV3_ERR_NO_MEMORY, "safetensors: out of memory");
    s->hash_cap = cap;
    for (size_t k = 0; k < s->n; k++) {
        size_t i = fnv1a(s->t[k].name) & (cap - 1);
        for (; s->hash[i]; i = (i + 1) & (cap - 1))
            if (!strcmp(s->t[s->hash[i] - 1].name, s->t[k].name))
                return err_set(e, DSV3_ERR_BAD_FILE, "safetensors: tensor '%s' appears twice", s->t[k].name);
        s->hash[i] = k + 1;
    }
    return DSV3_OK;
}

static int cmp_range(const void *a, const void *b) {
    const uint64_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : (x[1] < y[1] ? -1 : x[1] > y[1]);
}

static int get_u64(const json_value *v, uint64_t *out) {
    if (!v || v->type != JSON_NUMBER || !v->is_int || v->i < 0) return 0;
    *out = (uint64_t)v->i;
    return 1;
}

/* Parse the header of mapped file `fi` and append its tensors. */
static int parse_file(st_set *s, int fi, const char *path, dsv3_err *e) {
    const mapfile *m = &s->files[fi];
    if (m->size < 8) return err_set(e, DSV3_ERR_BAD_FILE, "%s: truncated: %zu bytes, no safetensors header", path, m->size);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | m->data[i];
    if (hlen > m->size - 8)
        return err_set(e, DSV3_ERR_BAD_FILE, "%s: header length %llu runs past the end of the %zu-byte file", path,
                       (unsigned long long)hlen, m->size);
    if (hlen > ST_MAX_HEADER)
        return err_set(e, DSV3_ERR_BAD_FILE, "%s: header length %llu exceeds the %u-byte limit", path,
                       (unsigned long long)hlen, ST_MAX_HEADER);
    const unsigned char *base = m->data + 8 + hlen;
    uint64_t dsize = m->size - 8 - hlen;
    json_doc *doc = NULL;
    char jerr[200];
    int jr = json_parse((const char *)m->data + 8, (size_t)hlen, &doc, jerr, sizeof jerr);
    if (jr == -2) return err_set(e, DSV3_ERR_NO_MEMORY, "%s: out of memory parsing the header", path);
    if (jr) return err_set(e, DSV3_ERR_BAD_FILE, "%s: header is not valid JSON: %s", path, jerr);
    const json_value *root = json_root(doc);
    int rc = DSV3_OK;
    uint64_t *ranges = NULL;
    size_t nr = 0;
    if (root->type != JSON_OBJECT) {
        rc = err_set(e, DSV3_ERR_BAD_FILE, "%s: header must be a JSON object", path);
        goto done;
    }
    ranges = malloc((root->n ? root->n : 1) * 3 * sizeof *ranges); /* begin, end, tensor index */
    if (!ranges) { rc = err_set(e, DSV3_ERR_NO_MEMORY, "%s: out of memory", path); goto done; }
    if (s->n + root->n > s->cap) {
        size_t nc = s->n + root->n + 16;
        st_tensor *nt = realloc(s->t, nc * sizeof *nt);
        if (!nt) { rc = err_set(e, DSV3_ERR_NO_MEMORY, "%s: out of memory", path); goto done; }
        s->t = nt;
        char **nn = realloc(s->names, nc * sizeof *nn);
        if (!nn) { rc = err_set(e, DSV3_ERR_NO_MEMORY, "%s: out of memory", path); goto done; }
        s->names = nn;
        s->cap = nc;
    }
    for (size_t k = 0; k < root->n; k++) {
        const char *name = root->keys[k];
        const json_value *v = &root->items[k];
        if (!strcmp(name, "__metadata__")) continue;
        if (strlen(name) != root->key_lens[k] || !*name) {
            rc = err_set(e, DSV3_ERR_BAD_FILE, "%s: a tensor name is empty or contains a NUL byte", path);
            goto done;
        }
        if (v->type != JSON_OBJECT) {
            rc = err_set(e, DSV3_ERR_BAD_FILE, "%s: tensor '%s': entry must be an object", path, name);
            goto done;
        }
        const json_value *dt = json_get(v, "dtype"), *sh = json_get(v, "shape"), *off = json_get(v, "data_offsets");
        if (!dt || dt->type != JSON_STRING) {
            rc = err_set(e, DSV3_ERR_BAD_FILE, "%s: tensor '%s': missing or non-string 'dtype'", path, name);
            goto done;
        }
        int dtype = -1;
        for (int d = 0; d < ST_DTYPE_COUNT; d++)
            if (!strcmp(dt->str, dtypes[d].name)) dtype = d;
        if (dtype < 0) {
            rc = err_set(e, DSV3_ERR_BAD_DTYPE, "%s: tensor '%s': unknown dtype '%.40s'", path, name, dt->str);
            goto done;
        }
        if (!sh || sh->type != JSON_ARRAY || sh->n > ST_MAX_DIMS) {
            rc = err_set(e, DSV3_ERR_BAD_FILE, "%s: tensor '%s': 'shape' must be an array of at most %d integers", path,
                         name, ST_MAX_DIMS);
            goto done;
        }
        st_tensor t = {0};
        t.dtype = dtype;
        t.n_dims = (int)sh->n;
        t.file = fi;
        uint64_t count = 1;
        for (size_t d = 0; d < sh->n; d++) {
            uint64_t dim;
            if (!get_u64(&sh->items[d], &dim) || dim > (1ull << 40)) {
                rc = err_set(e, DSV3_ERR_BAD_FILE, "%s: tensor '%s': shape[%zu] is not a valid dimension", path, name, d);
                goto done;
            }
            t.shape[d] = (int64_t)dim;
            if (dim && count > UINT64_MAX / dim) {
                rc = err_set(e, DSV3_ERR_BAD_FILE, "%s: tensor '%s': shape overflows", path, name);
                goto done;
            }
            count *= dim;
        }
        uint64_t b, en;
        if (!off || off->type != JSON_ARRAY || off->n != 2 || !get_u64(&off->items[0], &b) || !get_u64(&off->items[1], &en) ||
            b > en) {
            rc = err_set(e, DSV3_ERR_BAD_FILE, "%s: tensor '%s': 'data_offsets' must be [begin, end] with begin <= end", path, name);
            goto done;
        }
        if (en > dsize) {
            rc = err_set(e, DSV3_ERR_BAD_FILE, "%s: tensor '%s': data_offsets [%llu, %llu] run past the end of the %llu-byte data section",
                         path, name, (unsigned long long)b, (unsigned long long)en, (unsigned long long)dsize);
            goto done;
        }
        if (count > UINT64_MAX / dtypes[dtype].size || count * dtypes[dtype].size != en - b) {
            rc = err_set(e, DSV3_ERR_BAD_FILE, "%s: tensor '%s': %llu bytes in the file but shape x %s needs %llu", path, name,
                         (unsigned long long)(en - b), dtypes[dtype].name,
                         (unsigned long long)(count <= UINT64_MAX / dtypes[dtype].size ? count * dtypes[dtype].size : 0));
            goto done;
        }
        t.data = base + b;
        t.nbytes = en - b;
        char *nm = malloc(root->key_lens[k] + 1);
        if (!nm) { rc = err_set(e, DSV3_ERR_NO_MEMORY, "%s: out of memory", path); goto done; }
        memcpy(nm, name, root->key_lens[k] + 1);
        t.name = nm;
        s->names[s->n] = nm;
        s->t[s->n++] = t;
        ranges[3 * nr] = b;
        ranges[3 * nr + 1] = en;
        ranges[3 * nr + 2] = s->n - 1;
        nr++;
    }
    /* Overlapping tensors would let one weight alias another: refuse. */
    qsort(ranges, nr, 3 * sizeof *ranges, cmp_range);
    uint64_t max_end = 0, max_at = 0;
    for (size_t i = 0; i < nr; i++) {
        const uint64_t *r = ranges + 3 * i;
        if (r[0] < max_end && r[0] != r[1]) {
            rc = err_set(e, DSV3_ERR_BAD_FILE, "%s: tensors '%s' and '%s' overlap at data offset %llu", path,
                         s->t[max_at].name, s->t[r[2]].name, (unsigned long long)r[0]);
            goto done;
        }
        if (r[1] > max_end) {
            max_end = r[1];
            max_at = r[2];
        }
    }
done:
    free(ranges);
    json_free(doc);
    return rc;
}

static st_set *st_new(int n_files) {
    st_set *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->files = calloc((size_t)n_files, sizeof *s->files);
    if (!s->files) { free(s); return NULL; }
    return s;
}

static int open_one(st_set *s, int fi, const char *path, int use_mmap, dsv3_err *e) {
    int rc = mapfile_open(&s->files[fi], path, use_mmap, e);
    s->n_files = fi + 1;
    if (rc) return rc;
    s->bytes += s->files[fi].size;
    rc = parse_file(s, fi, path, e);
    if (!rc) { /* the header length parse_file validated: u64 LE, then the JSON */
        uint64_t hlen = 0;
        for (int i = 7; i >= 0; i--) hlen = hlen << 8 | s->files[fi].data[i];
        s->files[fi].header_bytes = 8 + hlen;
    }
    return rc;
}

const mapfile *dsv3_st_file(const st_set *s, int i) { return s && i >= 0 && i < s->n_files ? &s->files[i] : NULL; }

int st_open_file(const char *path, int use_mmap, st_set **out, dsv3_err *e) {
    *out = NULL;
    st_set *s = st_new(1);
    if (!s) return err_set(e, DSV3_ERR_NO_MEMORY, "out of memory");
    int rc = open_one(s, 0, path, use_mmap, e);
    if (!rc) rc = build_hash(s, e);
    if (rc) { st_close(s); return rc; }
    *out = s;
    return DSV3_OK;
}

/* 1 if p can be opened, 0 if it does not exist (ENOENT/ENOTDIR), -1 (e
 * set) when it exists but cannot be opened: permission, memory, I/O are
 * reported as such, not as a missing file. */
static int file_exists(const char *p, dsv3_err *e) {
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        close(fd);
        return 1;
    }
    int err = errno;
    if (dsv3_errno_status(err) == DSV3_ERR_NOT_FOUND) return 0;
    err_set(e, dsv3_errno_status(err), "%s: cannot open: %s", p, strerror(err));
    return -1;
}

/* Sharded checkpoint: the index maps every tensor to a shard file name. */
static int open_index(const char *dir, const char *ipath, int use_mmap, st_set **out, dsv3_err *e) {
    char *text = NULL;
    size_t len = 0;
    int rc = read_small_file(ipath, 64u << 20, &text, &len, e);
    if (rc) return rc;
    json_doc *doc = NULL;
    char jerr[200];
    st_set *s = NULL;
    const char **names = NULL;
    int jr = json_parse(text, len, &doc, jerr, sizeof jerr);
    if (jr) {
        rc = err_set(e, jr == -2 ? DSV3_ERR_NO_MEMORY : DSV3_ERR_BAD_FILE, "%s: invalid JSON: %s", ipath, jerr);
        goto done;
    }
    const json_value *wm = json_get(json_root(doc), "weight_map");
    if (!wm || wm->type != JSON_OBJECT || wm->n == 0) {
        rc = err_set(e, DSV3_ERR_BAD_FILE, "%s: missing or empty 'weight_map' object", ipath);
        goto done;
    }
    /* Distinct shard names, in first-seen order. */
    names = calloc(wm->n, sizeof *names);
    if (!names) { rc = err_set(e, DSV3_ERR_NO_MEMORY, "out of memory"); goto done; }
    int nf = 0;
    for (size_t k = 0; k < wm->n; k++) {
        const json_value *v = &wm->items[k];
        if (v->type != JSON_STRING || !v->len || strlen(v->str) != v->len || strchr(v->str, '/') || !strcmp(v->str, "..")) {
            rc = err_set(e, DSV3_ERR_BAD_FILE, "%s: weight_map['%s'] is not a plain file name", ipath, wm->keys[k]);
            goto done;
        }
        int seen = 0;
        for (int i = nf - 1; i >= 0 && !seen; i--) seen = !strcmp(names[i], v->str);
        if (!seen) {
            if (nf == ST_MAX_FILES) { rc = err_set(e, DSV3_ERR_UNSUPPORTED, "%s: more than %d shards", ipath, ST_MAX_FILES); goto done; }
            names[nf++] = v->str;
        }
    }
    s = st_new(nf);
    if (!s) { rc = err_set(e, DSV3_ERR_NO_MEMORY, "out of memory"); goto done; }
    for (int i = 0; i < nf; i++) {
        char path[4096];
        if (snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= (int)sizeof path) {
            rc = err_set(e, DSV3_ERR_INVALID_ARG, "%s: path too long", dir);
            goto done;
        }
        rc = open_one(s, i, path, use_mmap, e);
        if (rc) goto done;
    }
    rc = build_hash(s, e);
    if (rc) goto done;
    /* Every tensor the index names must be in the shard it names. */
    for (size_t k = 0; k < wm->n; k++) {
        const st_tensor *t = st_find(s, wm->keys[k]);
        if (!t || strcmp(names[t->file], wm->items[k].str) != 0) {
            rc = err_set(e, DSV3_ERR_BAD_FILE, "%s: tensor '%s' is not in shard '%s'", ipath, wm->keys[k], wm->items[k].str);
            goto done;
        }
    }
done:
    free(names);
    json_free(doc);
    free(text);
    if (rc) st_close(s);
    else *out = s;
    return rc;
}

int st_open_dir(const char *dir, int use_mmap, st_set **out, dsv3_err *e) {
    char path[4096];
    *out = NULL;
    if (snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir) >= (int)sizeof path)
        return err_set(e, DSV3_ERR_INVALID_ARG, "%s: path too long", dir);
    int ex = file_exists(path, e);
    if (ex < 0) return e ? e->status : DSV3_ERR_IO;
    if (ex) return open_index(dir, path, use_mmap, out, e);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    ex = file_exists(path, e);
    if (ex < 0) return e ? e->status : DSV3_ERR_IO;
    if (!ex) return err_set(e, DSV3_ERR_NOT_FOUND, "%s: no model.safetensors or model.safetensors.index.json", dir);
    return st_open_file(path, use_mmap, out, e);
}
