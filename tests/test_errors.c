/* test_errors.c -- bad input gets the right status and a message that names
 * the problem; nothing crashes or leaks; a session that refused a call is
 * unchanged and still computes exactly what a fresh one does.
 *
 * The malformed checkpoints are built at run time in a scratch directory
 * from ../shared/golden/tiny-v3/{fp8,f32}: config.json text edits, and
 * safetensors files whose header is parsed (lib/json.h), edited and written
 * again in front of the original data section (or in front of the tensors'
 * bytes repacked in a new order, for shards). Each broken checkpoint is
 * loaded with use_mmap 1 and 0. Positive controls (an unmodified rewrite,
 * a repacked file, a two-shard split) load and give bit-identical logits,
 * so every failure below is due to the one thing each case breaks.
 *
 * Usage: test_errors [SHARED_DIR] [SCRATCH_DIR]
 *   SCRATCH_DIR is created if needed (default: mkdtemp under /tmp); the
 *   case directories are removed again when every check passes. */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dsv3.h"
#include "err.h"
#include "golden_util.h"

static char g_shared[1024] = "../shared";
static char g_scratch[1024];
static int g_made_scratch; /* by mkdtemp: remove the directory itself too */

static void fatal(const char *fmt, ...) DSV3_PRINTF(1, 2);
static void fatal(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FATAL: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

static int has(const char *msg, const char *needle) { return msg && needle && strstr(msg, needle) != NULL; }

/* ---- scratch files ------------------------------------------------------ */

#define MAX_CASES 256
static char g_cases[MAX_CASES][64];
static int g_n_cases;

static void empty_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        if (!strcmp(ent->d_name, ".") || !strcmp(ent->d_name, "..")) continue;
        char p[2048];
        snprintf(p, sizeof p, "%s/%s", dir, ent->d_name);
        if (unlink(p) != 0) rmdir(p);
    }
    closedir(d);
}

static void mkdir_p(const char *path) {
    char p[1024];
    snprintf(p, sizeof p, "%s", path);
    for (char *q = p + 1; *q; q++) {
        if (*q != '/') continue;
        *q = 0;
        mkdir(p, 0755);
        *q = '/';
    }
    if (mkdir(p, 0755) != 0 && errno != EEXIST) fatal("cannot create %s: %s", p, strerror(errno));
}

/* A fresh, empty case directory scratch/name; its path goes to dir. */
static void new_case(char *dir, size_t size, const char *name) {
    if (g_n_cases == MAX_CASES) fatal("too many cases");
    snprintf(g_cases[g_n_cases++], sizeof g_cases[0], "%s", name);
    snprintf(dir, size, "%s/%s", g_scratch, name);
    empty_dir(dir);
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) fatal("cannot create %s: %s", dir, strerror(errno));
}

static void put(const char *dir, const char *file, const void *data, size_t n) {
    char p[2048];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    FILE *f = fopen(p, "wb");
    if (!f) fatal("cannot create %s: %s", p, strerror(errno));
    if (n && fwrite(data, 1, n, f) != n) fatal("cannot write %s", p);
    if (fclose(f) != 0) fatal("cannot write %s", p);
}

static void put_str(const char *dir, const char *file, const char *text) { put(dir, file, text, strlen(text)); }

static void cleanup(void) {
    char p[2048];
    for (int i = 0; i < g_n_cases; i++) {
        snprintf(p, sizeof p, "%s/%.63s", g_scratch, g_cases[i]);
        empty_dir(p);
        rmdir(p);
    }
    if (g_made_scratch) rmdir(g_scratch);
}

/* ---- a golden checkpoint, parsed ----------------------------------------- */

typedef struct tens {
    char name[192];
    char dtype[16];
    int nd;
    int64_t shape[8];
    uint64_t b, e; /* data_offsets written to the header                 */
    uint64_t src;  /* where its bytes are in the original data section   */
} tens;

typedef struct ckpt {
    char dir[1100];
    char *config;
    size_t config_len;
    unsigned char *file; /* the whole model.safetensors */
    size_t file_len;
    size_t data_off;     /* 8 + header length */
    tens *t;
    int n;
    int vocab, max_pos;
} ckpt;

static void load_ckpt(ckpt *c, const char *rel) {
    char p[1200];
    memset(c, 0, sizeof *c);
    snprintf(c->dir, sizeof c->dir, "%s/golden/%s", g_shared, rel);
    snprintf(p, sizeof p, "%s/config.json", c->dir);
    c->config = slurp(p, &c->config_len);
    json_doc *cfg = load_json(p);
    c->vocab = (int)json_get(json_root(cfg), "vocab_size")->i;
    c->max_pos = (int)json_get(json_root(cfg), "max_position_embeddings")->i;
    json_free(cfg);
    snprintf(p, sizeof p, "%s/model.safetensors", c->dir);
    c->file = slurp(p, &c->file_len);
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = hlen << 8 | c->file[i];
    if (c->file_len < 8 || hlen > c->file_len - 8) fatal("%s: bad golden header", p);
    c->data_off = 8 + (size_t)hlen;
    json_doc *d = NULL;
    char jerr[256];
    if (json_parse((const char *)c->file + 8, (size_t)hlen, &d, jerr, sizeof jerr)) fatal("%s: %s", p, jerr);
    const json_value *root = json_root(d);
    c->t = calloc(root->n, sizeof *c->t);
    if (!c->t) fatal("out of memory");
    for (size_t k = 0; k < root->n; k++) {
        if (!strcmp(root->keys[k], "__metadata__")) continue;
        const json_value *v = &root->items[k], *off = json_get(v, "data_offsets");
        tens *t = &c->t[c->n++];
        snprintf(t->name, sizeof t->name, "%s", root->keys[k]);
        snprintf(t->dtype, sizeof t->dtype, "%s", json_get(v, "dtype")->str);
        int32_t *sh = json_ints(json_get(v, "shape"), &t->nd);
        for (int i = 0; i < t->nd && i < 8; i++) t->shape[i] = sh[i];
        free(sh);
        t->b = t->src = (uint64_t)json_at(off, 0)->i;
        t->e = (uint64_t)json_at(off, 1)->i;
    }
    json_free(d);
}

static void free_ckpt(ckpt *c) {
    free(c->config);
    free(c->file);
    free(c->t);
}

/* A private copy of the tensor list with room for `extra` more. */
static tens *clone(const ckpt *c, int extra) {
    tens *t = malloc(sizeof *t * (size_t)(c->n + extra));
    if (!t) fatal("out of memory");
    memcpy(t, c->t, sizeof *t * (size_t)c->n);
    return t;
}

static tens *find(tens *t, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(t[i].name, name)) return &t[i];
    fatal("golden checkpoint has no tensor '%s'", name);
    return NULL;
}

/* The tensor with the highest end offset (the last in the data section). */
static tens *last_tensor(tens *t, int n) {
    tens *best = &t[0];
    for (int i = 1; i < n; i++)
        if (t[i].e > best->e) best = &t[i];
    return best;
}

/* The golden config.json with the first `from` replaced by `to`. */
static char *cfg_edit(const ckpt *c, const char *from, const char *to) {
    const char *p = strstr(c->config, from);
    if (!p) fatal("config edit: '%s' not found", from);
    size_t a = (size_t)(p - c->config), nf = strlen(from), nt = strlen(to);
    char *r = malloc(c->config_len - nf + nt + 1);
    if (!r) fatal("out of memory");
    memcpy(r, c->config, a);
    memcpy(r + a, to, nt);
    memcpy(r + a + nt, p + nf, c->config_len - a - nf + 1);
    return r;
}

/* ---- writing safetensors -------------------------------------------------- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
} sbuf;

static void sb_printf(sbuf *s, const char *fmt, ...) DSV3_PRINTF(2, 3);
static void sb_printf(sbuf *s, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(s->p ? s->p + s->n : NULL, s->p ? s->cap - s->n : 0, fmt, ap);
        va_end(ap);
        if (k < 0) fatal("vsnprintf failed");
        if (s->p && s->n + (size_t)k < s->cap) {
            s->n += (size_t)k;
            return;
        }
        size_t nc = (s->cap + (size_t)k + 64) * 2;
        char *np = realloc(s->p, nc);
        if (!np) fatal("out of memory");
        s->p = np;
        s->cap = nc;
    }
}

enum {
    KEEP_DATA, /* header offsets as given; the original data section after it */
    REPACK     /* each tensor's e - b bytes from src, packed in list order     */
};

/* Write dir/file: a header listing t[0..n), then the data; drop `cut`
 * bytes from the end of the file. */
static void write_st(const char *dir, const char *file, const ckpt *c, tens *t, int n, int mode, size_t cut) {
    sbuf h = {0};
    const uint64_t dsize = c->file_len - c->data_off;
    sb_printf(&h, "{\"__metadata__\":{\"format\":\"pt\"}");
    uint64_t at = 0;
    for (int i = 0; i < n; i++) {
        if (mode == REPACK) {
            uint64_t len = t[i].e - t[i].b;
            if (t[i].src + len > dsize) fatal("repack: '%s' source out of range", t[i].name);
            t[i].b = at;
            t[i].e = at + len;
            at += len;
        }
        sb_printf(&h, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[", t[i].name, t[i].dtype);
        for (int d = 0; d < t[i].nd; d++) sb_printf(&h, "%s%lld", d ? "," : "", (long long)t[i].shape[d]);
        sb_printf(&h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)t[i].b, (unsigned long long)t[i].e);
    }
    sb_printf(&h, "}");
    while (h.n % 8) sb_printf(&h, " "); /* keep the data section 8-aligned */
    size_t total = 8 + h.n + (mode == REPACK ? at : dsize);
    unsigned char *buf = malloc(total);
    if (!buf) fatal("out of memory");
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)h.n >> (8 * i));
    memcpy(buf + 8, h.p, h.n);
    unsigned char *data = buf + 8 + h.n;
    if (mode == REPACK) {
        for (int i = 0; i < n; i++) memcpy(data + t[i].b, c->file + c->data_off + t[i].src, t[i].e - t[i].b);
    } else {
        memcpy(data, c->file + c->data_off, dsize);
    }
    if (cut > total) fatal("cut too large");
    put(dir, file, buf, total - cut);
    free(buf);
    free(h.p);
}

/* hlen for write_raw_st: the header text's own length. */
#define AUTO_LEN (UINT64_MAX - 1)

/* A safetensors file from raw parts: the 8-byte length field, header text,
 * then `n` data bytes. */
static void write_raw_st(const char *dir, uint64_t hlen, const char *header, const void *data, size_t n) {
    size_t hn = strlen(header), total = 8 + hn + n;
    if (hlen == AUTO_LEN) hlen = hn;
    unsigned char *buf = malloc(total);
    if (!buf) fatal("out of memory");
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(hlen >> (8 * i));
    memcpy(buf + 8, header, hn);
    if (n) memcpy(buf + 8 + hn, data, n);
    put(dir, "model.safetensors", buf, total);
    free(buf);
}

/* dir/model.safetensors -> the golden file (a symlink; a copy if that fails). */
static void link_weights(const char *dir, const ckpt *c) {
    char src[1200], abs_src[4096], dst[1200];
    snprintf(src, sizeof src, "%s/model.safetensors", c->dir);
    snprintf(dst, sizeof dst, "%s/model.safetensors", dir);
    if (realpath(src, abs_src) && symlink(abs_src, dst) == 0) return;
    put(dir, "model.safetensors", c->file, c->file_len);
}

/* ---- loading ---------------------------------------------------------------- */

static char g_dummy;

/* Load and expect status `want`, a NUL-terminated message in the buffer
 * containing needle (and needle2 when given), *out = NULL, and nothing
 * written past err_size. */
static void expect_load_p(const char *what, const char *dir, const struct dsv3_model_params *mp, int want,
                          const char *needle, const char *needle2) {
    char err[600];
    const size_t err_size = 512;
    memset(err, 'Z', sizeof err);
    dsv3_model *m = (dsv3_model *)(void *)&g_dummy;
    int rc = dsv3_model_load(dir, mp, &m, err, err_size);
    int terminated = memchr(err, 0, err_size) != NULL;
    const char *msg = terminated ? err : "(unterminated)";
    CHECK(rc == want, "%s: status %d (%s), expected %d (%s); message: %s", what, rc, dsv3_status_string(rc), want,
          dsv3_status_string(want), msg);
    CHECK(m == NULL, "%s: *out is not NULL after a failed load", what);
    CHECK(terminated, "%s: message not NUL-terminated", what);
    int clean = 1;
    for (size_t i = err_size; i < sizeof err; i++) clean &= err[i] == 'Z';
    CHECK(clean, "%s: wrote past err_size", what);
    CHECK(has(msg, needle), "%s: message '%s' does not name '%s'", what, msg, needle);
    if (needle2) CHECK(has(msg, needle2), "%s: message '%s' does not name '%s'", what, msg, needle2);
    if (rc == DSV3_OK && m && m != (dsv3_model *)(void *)&g_dummy) dsv3_model_free(m);
}

/* The same with default params, once mapped and once read into memory. */
static void expect_load(const char *what, const char *dir, int want, const char *needle) {
    for (int mm = 1; mm >= 0; mm--) {
        struct dsv3_model_params mp;
    dsv3_model_params_init(&mp, sizeof mp);
        mp.use_mmap = mm;
        char w[256];
        snprintf(w, sizeof w, "%s [use_mmap %d]", what, mm);
        expect_load_p(w, dir, &mp, want, needle, NULL);
    }
}

static dsv3_model *must_load(const char *what, const char *dir, int use_mmap) {
    struct dsv3_model_params mp;
    dsv3_model_params_init(&mp, sizeof mp);
    mp.use_mmap = use_mmap;
    dsv3_model *m = NULL;
    char err[512];
    int rc = dsv3_model_load(dir, &mp, &m, err, sizeof err);
    CHECK(rc == DSV3_OK && m, "%s: load failed: %s (%s)", what, dsv3_status_string(rc), err);
    return rc == DSV3_OK ? m : NULL;
}

static const int32_t PROBE[3] = {5, 17, 300};

/* Last-token logits of PROBE on a fresh session (V floats). */
static int probe_logits(dsv3_model *m, float *out) {
    struct dsv3_session_params sp;
    dsv3_session_params_init(&sp, sizeof sp);
    sp.n_ctx = 8;
    dsv3_session *s = NULL;
    if (dsv3_session_create(m, &sp, &s, NULL, 0)) return -1;
    int rc = dsv3_session_step(s, PROBE, 3, out, 0);
    dsv3_session_free(s);
    return rc;
}

/* ---- cases: paths and parameters ------------------------------------------- */

static void test_paths(const ckpt *c) {
    char dir[1100], p[1200];
    expect_load_p("path NULL", NULL, NULL, DSV3_ERR_INVALID_ARG, "path", NULL);
    expect_load_p("path empty", "", NULL, DSV3_ERR_INVALID_ARG, "path", NULL);
    snprintf(p, sizeof p, "%s/does-not-exist", g_scratch);
    expect_load("missing path", p, DSV3_ERR_NOT_FOUND, "does-not-exist");
    new_case(dir, sizeof dir, "path_file");
    put_str(dir, "plain.bin", "not a directory");
    snprintf(p, sizeof p, "%s/plain.bin", dir);
    expect_load("path is a regular file", p, DSV3_ERR_UNSUPPORTED, "not a checkpoint directory");
    snprintf(p, sizeof p, "%s/plain.bin/sub", dir);
    expect_load("path below a regular file", p, DSV3_ERR_NOT_FOUND, "plain.bin/sub");

    /* out NULL: refused, the message still arrives */
    char err[256] = "x";
    CHECK(dsv3_model_load(c->dir, NULL, NULL, err, sizeof err) == DSV3_ERR_INVALID_ARG && has(err, "out"),
          "out NULL: %s", err);

    struct dsv3_model_params mp;
    dsv3_model_params_init(&mp, sizeof mp);
    mp.struct_size = 0;
    expect_load_p("params.struct_size 0", c->dir, &mp, DSV3_ERR_INVALID_ARG, "struct_size", NULL);
    mp.struct_size = 70000;
    expect_load_p("params.struct_size 70000", c->dir, &mp, DSV3_ERR_INVALID_ARG, "struct_size", NULL);
    {
        /* A newer header's larger struct: accepted while the bytes this
         * library does not know are zero, refused (naming the byte) when not. */
        struct {
            struct dsv3_model_params p;
            unsigned char tail[40];
        } grown;
        memset(&grown, 0, sizeof grown);
        dsv3_model_params_init(&grown.p, sizeof grown);
        CHECK(grown.p.struct_size == sizeof grown && grown.p.use_mmap == 1, "params_init of a larger struct");
        dsv3_model *gm = NULL;
        char gerr[256] = "";
        int grc = dsv3_model_load(c->dir, &grown.p, &gm, gerr, sizeof gerr);
        CHECK(grc == DSV3_OK && gm, "grown params, zero tail: %d %s", grc, gerr);
        dsv3_model_free(gm);
        grown.tail[9] = 1;
        char want[64];
        snprintf(want, sizeof want, "byte %zu", sizeof grown.p + 9);
        expect_load_p("grown params, tail byte set", c->dir, &grown.p, DSV3_ERR_INVALID_ARG, want, NULL);
    }
    dsv3_model_params_init(&mp, sizeof mp);
    mp.n_threads = -1;
    expect_load_p("n_threads -1", c->dir, &mp, DSV3_ERR_INVALID_ARG, "n_threads", NULL);
    mp.n_threads = 100000;
    expect_load_p("n_threads 100000", c->dir, &mp, DSV3_ERR_INVALID_ARG, "n_threads", NULL);

    /* struct_size covering only struct_size: the rest (garbage) is unread */
    memset(&mp, 0xA5, sizeof mp);
    mp.struct_size = sizeof(size_t);
    dsv3_model *m = NULL;
    int rc = dsv3_model_load(c->dir, &mp, &m, err, sizeof err);
    CHECK(rc == DSV3_OK && m, "params prefix struct_size: %s", err);
    dsv3_model_free(m);

    /* backends */
    dsv3_model_params_init(&mp, sizeof mp);
    mp.backend = "nope";
    expect_load_p("backend 'nope'", c->dir, &mp, DSV3_ERR_BACKEND, "nope", "scalar");
    mp.backend = NULL;
    m = NULL;
    rc = dsv3_model_load(c->dir, &mp, &m, err, sizeof err);
    CHECK(rc == DSV3_OK && m, "backend NULL means auto: %s", err);
    dsv3_model_free(m);
    /* ":N" picks a device of a device backend; CPU backends have none */
    mp.backend = "scalar:0";
    expect_load_p("backend 'scalar:0'", c->dir, &mp, DSV3_ERR_BACKEND, "scalar", "no devices");
    mp.backend = "scalar:x";
    expect_load_p("backend 'scalar:x'", c->dir, &mp, DSV3_ERR_BACKEND, "scalar:x", "0..1023");
    mp.backend = "scalar:1024";
    expect_load_p("backend 'scalar:1024'", c->dir, &mp, DSV3_ERR_BACKEND, "scalar:1024", "0..1023");
    mp.backend = "auto:0";
    expect_load_p("backend 'auto:0'", c->dir, &mp, DSV3_ERR_BACKEND, "auto:0", "backend name");
    mp.backend = "nope:1";
    expect_load_p("backend 'nope:1'", c->dir, &mp, DSV3_ERR_BACKEND, "nope", "scalar");

    /* placement, gpu_budget, kv_reserve_ctx (0.3) */
    dsv3_model_params_init(&mp, sizeof mp);
    CHECK(mp.placement && !strcmp(mp.placement, "auto") && mp.gpu_budget == 0 && mp.kv_reserve_ctx == 4096,
          "placement defaults: '%s' %llu %d", mp.placement ? mp.placement : "(null)",
          (unsigned long long)mp.gpu_budget, (int)mp.kv_reserve_ctx);
    mp.placement = "everything-on-gpu";
    expect_load_p("placement 'everything-on-gpu'", c->dir, &mp, DSV3_ERR_INVALID_ARG, "everything-on-gpu",
                  "experts-on-cpu");
    mp.placement = "";
    expect_load_p("placement ''", c->dir, &mp, DSV3_ERR_INVALID_ARG, "placement ''", "auto, gpu");
    mp.placement = "auto";
    mp.kv_reserve_ctx = -1;
    expect_load_p("kv_reserve_ctx -1", c->dir, &mp, DSV3_ERR_INVALID_ARG, "kv_reserve_ctx", NULL);
    /* CPU backends accept every placement and ignore it: all weights on the host */
    static const char *const placements[] = {"gpu", "experts-on-cpu", NULL};
    for (int k = 0; k < 3; k++) {
        dsv3_model_params_init(&mp, sizeof mp);
        mp.backend = "scalar";
        mp.placement = placements[k];
        mp.gpu_budget = 1; /* far too small for a device, meaningless on the CPU */
        mp.kv_reserve_ctx = 0;
        m = NULL;
        rc = dsv3_model_load(c->dir, &mp, &m, err, sizeof err);
        struct dsv3_model_info pi;
        memset(&pi, 0xA5, sizeof pi);
        pi.struct_size = sizeof pi;
        CHECK(rc == DSV3_OK && m && dsv3_model_get_info(m, &pi) == DSV3_OK && !strcmp(pi.device, "cpu") &&
                  pi.device_bytes == 0 && pi.host_weight_bytes > 0 && pi.host_weight_bytes <= pi.bytes_mapped &&
                  pi.reserved0 == 0,
              "placement '%s' on the scalar backend: %s; device '%s', %llu on it, %llu on the host of %llu mapped",
              placements[k] ? placements[k] : "(null)", err, rc ? "" : pi.device,
              (unsigned long long)pi.device_bytes, (unsigned long long)pi.host_weight_bytes,
              (unsigned long long)pi.bytes_mapped);
        dsv3_model_free(m);
    }

    /* the error buffer: truncation, NULL, size 0 */
    char small[32];
    memset(small, 'Z', sizeof small);
    snprintf(p, sizeof p, "%s/does-not-exist", g_scratch);
    m = (dsv3_model *)(void *)&g_dummy;
    rc = dsv3_model_load(p, NULL, &m, small, 8);
    int clean = 1;
    for (size_t i = 8; i < sizeof small; i++) clean &= small[i] == 'Z';
    CHECK(rc == DSV3_ERR_NOT_FOUND && m == NULL && strlen(small) == 7 && clean, "err_size 8: truncation (%d, '%.8s')",
          rc, small);
    m = (dsv3_model *)(void *)&g_dummy;
    rc = dsv3_model_load(p, NULL, &m, NULL, 100);
    CHECK(rc == DSV3_ERR_NOT_FOUND && m == NULL, "err NULL: status %d", rc);
    memset(small, 'Z', sizeof small);
    rc = dsv3_model_load(p, NULL, &m, small, 0);
    CHECK(rc == DSV3_ERR_NOT_FOUND && small[0] == 'Z', "err_size 0 must not write");
    printf("paths, params and backends: done\n");
}

/* ---- cases: config.json ------------------------------------------------------ */

static void config_case(const ckpt *c, const char *name, const char *text, int want, const char *needle) {
    char dir[1100];
    new_case(dir, sizeof dir, name);
    if (text) put_str(dir, "config.json", text);
    link_weights(dir, c);
    expect_load(name, dir, want, needle);
}

static void config_edit_case(const ckpt *c, const char *name, const char *from, const char *to, int want,
                             const char *needle) {
    char *t = cfg_edit(c, from, to);
    config_case(c, name, t, want, needle);
    free(t);
}

static void test_config(const ckpt *c) {
    char dir[1100];
    new_case(dir, sizeof dir, "cfg_control"); /* the copy + link itself is fine */
    put_str(dir, "config.json", c->config);
    link_weights(dir, c);
    dsv3_model_free(must_load("cfg_control", dir, 1));
    config_case(c, "cfg_missing", NULL, DSV3_ERR_BAD_CONFIG, "config.json is missing");
    config_case(c, "cfg_empty", "", DSV3_ERR_BAD_CONFIG, "config.json is empty");
    char *half = malloc(c->config_len / 2 + 1);
    memcpy(half, c->config, c->config_len / 2);
    half[c->config_len / 2] = 0;
    config_case(c, "cfg_truncated", half, DSV3_ERR_BAD_CONFIG, "invalid JSON");
    free(half);
    config_case(c, "cfg_garbage", "\x01\x02 not json", DSV3_ERR_BAD_CONFIG, "invalid JSON");
    config_case(c, "cfg_array", "[1, 2, 3]", DSV3_ERR_BAD_CONFIG, "top level must be an object");
    config_case(c, "cfg_string", "\"deepseek_v3\"", DSV3_ERR_BAD_CONFIG, "top level must be an object");
    new_case(dir, sizeof dir, "cfg_is_dir");
    char p[1200];
    snprintf(p, sizeof p, "%s/config.json", dir);
    mkdir(p, 0755);
    link_weights(dir, c);
    expect_load("config.json is a directory", dir, DSV3_ERR_IO, "config.json");
    empty_dir(p);
    rmdir(p);

    /* wrong types */
    config_edit_case(c, "cfg_hidden_string", "\"hidden_size\": 203", "\"hidden_size\": \"203\"", DSV3_ERR_BAD_CONFIG,
                     "hidden_size");
    config_edit_case(c, "cfg_qlora_float", "\"q_lora_rank\": 147", "\"q_lora_rank\": 1.5", DSV3_ERR_BAD_CONFIG,
                     "q_lora_rank");
    config_edit_case(c, "cfg_norm_topk_int", "\"norm_topk_prob\": true", "\"norm_topk_prob\": 1", DSV3_ERR_BAD_CONFIG,
                     "norm_topk_prob");
    config_edit_case(c, "cfg_layers_null", "\"num_hidden_layers\": 4", "\"num_hidden_layers\": null",
                     DSV3_ERR_BAD_CONFIG, "num_hidden_layers");
    config_edit_case(c, "cfg_eps_string", "\"rms_norm_eps\": 1e-06", "\"rms_norm_eps\": \"small\"",
                     DSV3_ERR_BAD_CONFIG, "rms_norm_eps");
    config_edit_case(c, "cfg_rope_scaling_list", "\"rope_scaling\": {", "\"rope_scaling\": [], \"x\": {",
                     DSV3_ERR_BAD_CONFIG, "rope_scaling");
    config_edit_case(c, "cfg_quant_string", "\"quantization_config\": {", "\"quantization_config\": \"fp8\", \"x\": {",
                     DSV3_ERR_BAD_CONFIG, "quantization_config");
    /* missing required keys */
    config_edit_case(c, "cfg_no_kv_lora", "\"kv_lora_rank\": 133,", "", DSV3_ERR_BAD_CONFIG, "kv_lora_rank");
    config_edit_case(c, "cfg_no_model_type", "\"model_type\": \"deepseek_v3\",", "", DSV3_ERR_BAD_CONFIG,
                     "model_type");
    config_edit_case(c, "cfg_no_vocab", "\"vocab_size\": 1027", "\"vocab_size_x\": 1027", DSV3_ERR_BAD_CONFIG,
                     "vocab_size");
    /* valid values dsv3 does not implement */
    config_edit_case(c, "cfg_scoring_tanh", "\"scoring_func\": \"sigmoid\"", "\"scoring_func\": \"tanh\"",
                     DSV3_ERR_UNSUPPORTED, "tanh");
    config_edit_case(c, "cfg_topk_foo", "\"topk_method\": \"noaux_tc\"", "\"topk_method\": \"foo\"",
                     DSV3_ERR_UNSUPPORTED, "foo");
    config_edit_case(c, "cfg_rope_linear", "\"type\": \"yarn\"", "\"type\": \"linear\"", DSV3_ERR_UNSUPPORTED,
                     "linear");
    config_edit_case(c, "cfg_llama", "\"model_type\": \"deepseek_v3\"", "\"model_type\": \"llama\"",
                     DSV3_ERR_UNSUPPORTED, "llama");
    config_edit_case(c, "cfg_gptq", "\"quant_method\": \"fp8\"", "\"quant_method\": \"gptq\"", DSV3_ERR_UNSUPPORTED,
                     "gptq");
    config_edit_case(c, "cfg_fmt_e5m2", "\"fmt\": \"e4m3\"", "\"fmt\": \"e5m2\"", DSV3_ERR_UNSUPPORTED, "e5m2");
    config_edit_case(c, "cfg_act_gelu", "\"hidden_act\": \"silu\"", "\"hidden_act\": \"gelu\"", DSV3_ERR_UNSUPPORTED,
                     "gelu");
    config_edit_case(c, "cfg_tied", "\"tie_word_embeddings\": false", "\"tie_word_embeddings\": true",
                     DSV3_ERR_UNSUPPORTED, "tie_word_embeddings");
    config_edit_case(c, "cfg_vocab_negative", "\"vocab_size\": 1027", "\"vocab_size\": -5", DSV3_ERR_UNSUPPORTED,
                     "vocab_size");
    config_edit_case(c, "cfg_rope_odd", "\"qk_rope_head_dim\": 14", "\"qk_rope_head_dim\": 15", DSV3_ERR_UNSUPPORTED,
                     "qk_rope_head_dim");
    config_edit_case(c, "cfg_group_div", "\"n_group\": 4", "\"n_group\": 3", DSV3_ERR_UNSUPPORTED, "n_group");
    config_edit_case(c, "cfg_topk_too_many", "\"num_experts_per_tok\": 4", "\"num_experts_per_tok\": 17",
                     DSV3_ERR_UNSUPPORTED, "num_experts_per_tok");
    /* consistent config, wrong for these tensors */
    config_edit_case(c, "cfg_hidden_204", "\"hidden_size\": 203", "\"hidden_size\": 204", DSV3_ERR_BAD_SHAPE,
                     "model.embed_tokens.weight");
    config_edit_case(c, "cfg_kv_lora_132", "\"kv_lora_rank\": 133", "\"kv_lora_rank\": 132", DSV3_ERR_BAD_SHAPE,
                     "model.layers.0.self_attn.kv_a_proj_with_mqa.weight");
    config_edit_case(c, "cfg_block_64", "128,\n      128", "64,\n      128", DSV3_ERR_BAD_SHAPE,
                     "model.layers.0.self_attn.q_a_proj.weight_scale_inv");
    config_edit_case(c, "cfg_layers_5", "\"num_hidden_layers\": 4", "\"num_hidden_layers\": 5",
                     DSV3_ERR_MISSING_TENSOR, "model.layers.5.");
    config_edit_case(c, "cfg_experts_32", "\"n_routed_experts\": 16", "\"n_routed_experts\": 32", DSV3_ERR_BAD_SHAPE,
                     "model.layers.1.mlp.gate.weight");
    printf("config.json: done\n");
}

/* ---- cases: one safetensors file ------------------------------------------- */

static void st_case(const ckpt *c, const char *name, tens *t, int n, int mode, size_t cut, int want,
                    const char *needle) {
    char dir[1100];
    new_case(dir, sizeof dir, name);
    put(dir, "config.json", c->config, c->config_len);
    write_st(dir, "model.safetensors", c, t, n, mode, cut);
    expect_load(name, dir, want, needle);
}

static void raw_case(const ckpt *c, const char *name, uint64_t hlen, const char *header, const void *data, size_t n,
                     int want, const char *needle) {
    char dir[1100];
    new_case(dir, sizeof dir, name);
    put(dir, "config.json", c->config, c->config_len);
    write_raw_st(dir, hlen, header, data, n);
    expect_load(name, dir, want, needle);
}

static void test_safetensors(const ckpt *c, dsv3_model *good, int V) {
    char dir[1100];
    const int n = c->n;
    float *want = malloc(sizeof(float) * (size_t)V), *got = malloc(sizeof(float) * (size_t)V);
    CHECK(probe_logits(good, want) == DSV3_OK, "probe on the golden model");

    /* positive controls: a rewritten header and a repacked file load and
     * compute exactly what the golden file does */
    tens *t = clone(c, 0);
    new_case(dir, sizeof dir, "st_control_keep");
    put(dir, "config.json", c->config, c->config_len);
    write_st(dir, "model.safetensors", c, t, n, KEEP_DATA, 0);
    for (int mm = 1; mm >= 0; mm--) {
        dsv3_model *m = must_load("rewritten header", dir, mm);
        CHECK(m && probe_logits(m, got) == DSV3_OK && !memcmp(got, want, sizeof(float) * (size_t)V),
              "rewritten header: logits differ from the golden file");
        dsv3_model_free(m);
    }
    /* repacked in reverse order: every offset moves */
    for (int i = 0; i < n / 2; i++) {
        tens x = t[i];
        t[i] = t[n - 1 - i];
        t[n - 1 - i] = x;
    }
    new_case(dir, sizeof dir, "st_control_repack");
    put(dir, "config.json", c->config, c->config_len);
    write_st(dir, "model.safetensors", c, t, n, REPACK, 0);
    dsv3_model *m = must_load("repacked file", dir, 1);
    CHECK(m && probe_logits(m, got) == DSV3_OK && !memcmp(got, want, sizeof(float) * (size_t)V),
          "repacked file: logits differ from the golden file");
    dsv3_model_free(m);
    free(t);

    /* structure of the file */
    new_case(dir, sizeof dir, "st_missing");
    put(dir, "config.json", c->config, c->config_len);
    expect_load("st_missing", dir, DSV3_ERR_NOT_FOUND, "model.safetensors");
    new_case(dir, sizeof dir, "st_dangling_link");
    put(dir, "config.json", c->config, c->config_len);
    char p[1200];
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    CHECK(symlink("/nonexistent/dsv3/model.safetensors", p) == 0, "symlink");
    expect_load("st_dangling_link", dir, DSV3_ERR_NOT_FOUND, "model.safetensors");
    new_case(dir, sizeof dir, "st_is_dir");
    put(dir, "config.json", c->config, c->config_len);
    snprintf(p, sizeof p, "%s/model.safetensors", dir);
    mkdir(p, 0755);
    expect_load("st_is_dir", dir, DSV3_ERR_IO, "model.safetensors");
    rmdir(p);
    new_case(dir, sizeof dir, "st_empty");
    put(dir, "config.json", c->config, c->config_len);
    put(dir, "model.safetensors", "", 0);
    expect_load("st_empty", dir, DSV3_ERR_BAD_FILE, "truncated");
    new_case(dir, sizeof dir, "st_5_bytes");
    put(dir, "config.json", c->config, c->config_len);
    put(dir, "model.safetensors", c->file, 5);
    expect_load("st_5_bytes", dir, DSV3_ERR_BAD_FILE, "truncated");
    new_case(dir, sizeof dir, "st_header_cut");
    put(dir, "config.json", c->config, c->config_len);
    put(dir, "model.safetensors", c->file, c->data_off - 100);
    expect_load("st_header_cut", dir, DSV3_ERR_BAD_FILE, "header length");
    raw_case(c, "st_hlen_past_end", 1000, "{}", NULL, 0, DSV3_ERR_BAD_FILE, "header length 1000");
    raw_case(c, "st_hlen_huge", UINT64_MAX, "{}", NULL, 0, DSV3_ERR_BAD_FILE, "header length");
    raw_case(c, "st_hlen_zero", 0, "", "abcdefgh", 8, DSV3_ERR_BAD_FILE, "not valid JSON");
    raw_case(c, "st_header_not_json", AUTO_LEN, "this is not json", NULL, 0, DSV3_ERR_BAD_FILE, "not valid JSON");
    raw_case(c, "st_header_array", AUTO_LEN, "[1,2,3] ", NULL, 0, DSV3_ERR_BAD_FILE, "must be a JSON object");
    raw_case(c, "st_header_number", AUTO_LEN, "12345678", NULL, 0, DSV3_ERR_BAD_FILE, "must be a JSON object");
    raw_case(c, "st_entry_not_object", AUTO_LEN, "{\"a\":5} ", NULL, 0, DSV3_ERR_BAD_FILE, "'a'");
    raw_case(c, "st_no_dtype", AUTO_LEN, "{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", "abcd", 4,
             DSV3_ERR_BAD_FILE, "dtype");
    raw_case(c, "st_empty_name", AUTO_LEN, "{\"\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "abcd",
             4, DSV3_ERR_BAD_FILE, "empty");
    raw_case(c, "st_9_dims", AUTO_LEN,
             "{\"w\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}     ", "a", 1,
             DSV3_ERR_BAD_FILE, "shape");

    /* one tensor entry broken */
    const uint64_t dsize = c->file_len - c->data_off;
    t = clone(c, 0);
    tens *x = find(t, n, "model.norm.weight");
    x->b = dsize;
    x->e = dsize + 406;
    st_case(c, "st_offsets_past_end", t, n, KEEP_DATA, 0, DSV3_ERR_BAD_FILE, "model.norm.weight");
    free(t);
    t = clone(c, 0);
    x = find(t, n, "model.norm.weight");
    x->b = x->e + 1;
    st_case(c, "st_offsets_reversed", t, n, KEEP_DATA, 0, DSV3_ERR_BAD_FILE, "model.norm.weight");
    free(t);
    t = clone(c, 0);
    x = find(t, n, "model.layers.0.post_attention_layernorm.weight");
    *x = *find(t, n, "model.layers.0.input_layernorm.weight");
    snprintf(x->name, sizeof x->name, "model.layers.0.post_attention_layernorm.weight");
    st_case(c, "st_overlap", t, n, KEEP_DATA, 0, DSV3_ERR_BAD_FILE, "model.layers.0.post_attention_layernorm.weight");
    free(t);
    t = clone(c, 0);
    x = find(t, n, "model.layers.2.mlp.experts.7.down_proj.weight");
    x->b -= 1; /* takes the previous tensor's last byte; size kept */
    x->e -= 1;
    st_case(c, "st_overlap_by_one", t, n, KEEP_DATA, 0, DSV3_ERR_BAD_FILE,
            "overlap at data offset");
    /* both names: the tensor that starts early and the one it runs into */
    {
        char dir2[1100];
        snprintf(dir2, sizeof dir2, "%s/st_overlap_by_one", g_scratch);
        char err[512];
        dsv3_model *m2 = NULL;
        dsv3_model_load(dir2, NULL, &m2, err, sizeof err);
        CHECK(has(err, "'model.layers.2.mlp.experts.7.down_proj.weight'") &&
                  has(err, "'model.layers.2.mlp.experts.6.up_proj.weight_scale_inv'"),
              "overlap message names both tensors: %s", err);
        dsv3_model_free(m2);
    }
    free(t);
    t = clone(c, 0);
    find(t, n, "model.layers.0.input_layernorm.weight")->shape[0] = 204;
    st_case(c, "st_size_mismatch", t, n, KEEP_DATA, 0, DSV3_ERR_BAD_FILE, "model.layers.0.input_layernorm.weight");
    free(t);
    t = clone(c, 0);
    x = find(t, n, "model.layers.0.input_layernorm.weight");
    x->shape[0] = -203;
    st_case(c, "st_negative_dim", t, n, KEEP_DATA, 0, DSV3_ERR_BAD_FILE, "shape[0]");
    free(t);
    t = clone(c, 0);
    snprintf(find(t, n, "model.layers.3.mlp.gate.weight")->dtype, 16, "F4");
    st_case(c, "st_dtype_f4", t, n, KEEP_DATA, 0, DSV3_ERR_BAD_DTYPE, "F4");
    free(t);
    t = clone(c, 1);
    t[n] = *find(t, n, "model.norm.weight"); /* the same name twice, separate bytes */
    st_case(c, "st_duplicate", t, n + 1, REPACK, 0, DSV3_ERR_BAD_FILE, "appears twice");
    free(t);
    t = clone(c, 0);
    st_case(c, "st_data_cut_1", t, n, KEEP_DATA, 1, DSV3_ERR_BAD_FILE, last_tensor(t, n)->name);
    st_case(c, "st_data_cut_1000", t, n, KEEP_DATA, 1000, DSV3_ERR_BAD_FILE, "run past the end");
    free(t);

    /* a well-formed file that does not fit the model */
    t = clone(c, 0);
    snprintf(find(t, n, "model.layers.1.mlp.experts.3.up_proj.weight")->name, 192,
             "model.layers.1.mlp.experts.3.up_proj.weight_renamed");
    st_case(c, "st_missing_tensor", t, n, KEEP_DATA, 0, DSV3_ERR_MISSING_TENSOR,
            "'model.layers.1.mlp.experts.3.up_proj.weight'");
    free(t);
    t = clone(c, 0);
    snprintf(find(t, n, "lm_head.weight")->name, 192, "lm_head.weight.bak");
    st_case(c, "st_missing_lm_head", t, n, KEEP_DATA, 0, DSV3_ERR_MISSING_TENSOR, "'lm_head.weight'");
    free(t);
    t = clone(c, 0);
    x = find(t, n, "model.layers.0.self_attn.kv_a_layernorm.weight");
    x->nd = 2; /* [133] -> [7, 19]: same bytes */
    x->shape[0] = 7;
    x->shape[1] = 19;
    st_case(c, "st_shape_vector", t, n, KEEP_DATA, 0, DSV3_ERR_BAD_SHAPE,
            "model.layers.0.self_attn.kv_a_layernorm.weight");
    free(t);
    t = clone(c, 0);
    x = find(t, n, "model.layers.0.mlp.down_proj.weight");
    x->shape[0] = 389; /* [203, 389] -> [389, 203] */
    x->shape[1] = 203;
    st_case(c, "st_shape_matrix", t, n, KEEP_DATA, 0, DSV3_ERR_BAD_SHAPE, "model.layers.0.mlp.down_proj.weight");
    free(t);
    t = clone(c, 0);
    snprintf(find(t, n, "model.layers.2.self_attn.q_b_proj.weight_scale_inv")->name, 192, "unused.scale");
    st_case(c, "st_fp8_no_scale", t, n, KEEP_DATA, 0, DSV3_ERR_MISSING_TENSOR,
            "model.layers.2.self_attn.q_b_proj.weight_scale_inv");
    free(t);
    t = clone(c, 0);
    x = find(t, n, "model.layers.2.self_attn.q_b_proj.weight_scale_inv");
    x->shape[0] = 4; /* [2, 2] -> [4, 1] */
    x->shape[1] = 1;
    st_case(c, "st_fp8_scale_shape", t, n, KEEP_DATA, 0, DSV3_ERR_BAD_SHAPE,
            "model.layers.2.self_attn.q_b_proj.weight_scale_inv");
    free(t);
    t = clone(c, 0);
    x = find(t, n, "model.layers.2.self_attn.q_b_proj.weight_scale_inv");
    snprintf(x->dtype, 16, "BF16"); /* [2, 2] F32 -> BF16, half the bytes */
    x->e = x->b + 8;
    st_case(c, "st_fp8_scale_dtype", t, n, KEEP_DATA, 0, DSV3_ERR_BAD_DTYPE,
            "model.layers.2.self_attn.q_b_proj.weight_scale_inv");
    free(t);
    t = clone(c, 0);
    x = find(t, n, "model.layers.1.input_layernorm.weight");
    snprintf(x->dtype, 16, "F8_E4M3"); /* a norm cannot be FP8 */
    x->e = x->b + 203;
    st_case(c, "st_norm_fp8", t, n, KEEP_DATA, 0, DSV3_ERR_BAD_DTYPE, "model.layers.1.input_layernorm.weight");
    free(t);
    t = clone(c, 0);
    snprintf(find(t, n, "model.layers.1.input_layernorm.weight")->dtype, 16, "I16");
    st_case(c, "st_norm_i16", t, n, KEEP_DATA, 0, DSV3_ERR_BAD_DTYPE, "I16");
    free(t);
    t = clone(c, 0);
    x = find(t, n, "model.layers.3.mlp.gate.e_score_correction_bias");
    snprintf(x->dtype, 16, "BF16"); /* [16] F32 -> BF16 */
    x->e = x->b + 32;
    st_case(c, "st_bias_bf16", t, n, KEEP_DATA, 0, DSV3_ERR_BAD_DTYPE,
            "model.layers.3.mlp.gate.e_score_correction_bias");
    free(t);
    /* FP8 where the library needs a plain type; the scale is put in the
     * bytes the smaller FP8 tensor frees */
    static const struct { const char *name, *label; int64_t rows, cols; } fp8_where_plain[] = {
        {"model.embed_tokens.weight", "st_embed_fp8", 1027, 203},
        {"model.layers.4.embed_tokens.weight", "st_mtp_embed_fp8", 1027, 203},
        {"model.layers.2.mlp.gate.weight", "st_router_fp8", 16, 203},
    };
    for (size_t k = 0; k < sizeof fp8_where_plain / sizeof fp8_where_plain[0]; k++) {
        t = clone(c, 1);
        x = find(t, n, fp8_where_plain[k].name);
        snprintf(x->dtype, 16, "F8_E4M3");
        x->e = x->b + (uint64_t)(fp8_where_plain[k].rows * fp8_where_plain[k].cols);
        tens *s = &t[n];
        memset(s, 0, sizeof *s);
        snprintf(s->name, sizeof s->name, "%s_scale_inv", fp8_where_plain[k].name);
        snprintf(s->dtype, sizeof s->dtype, "F32");
        s->nd = 2;
        s->shape[0] = (fp8_where_plain[k].rows + 127) / 128;
        s->shape[1] = (fp8_where_plain[k].cols + 127) / 128;
        s->b = x->e;
        s->e = s->b + 4 * (uint64_t)(s->shape[0] * s->shape[1]);
        st_case(c, fp8_where_plain[k].label, t, n + 1, KEEP_DATA, 0, DSV3_ERR_BAD_DTYPE, fp8_where_plain[k].name);
        free(t);
    }
    free(want);
    free(got);
    printf("safetensors: done\n");
}

/* An I32 norm weight, on the F32 checkpoint where it has the same size. */
static void test_f32_dtype(const ckpt *c32) {
    tens *t = clone(c32, 0);
    snprintf(find(t, c32->n, "model.norm.weight")->dtype, 16, "I32");
    st_case(c32, "st_norm_i32", t, c32->n, KEEP_DATA, 0, DSV3_ERR_BAD_DTYPE, "model.norm.weight");
    free(t);
    t = clone(c32, 0);
    tens *x = find(t, c32->n, "model.layers.0.self_attn.o_proj.weight");
    snprintf(x->dtype, 16, "F64"); /* [203, 110] F32 -> F64 [203, 55]: same bytes */
    x->shape[1] = 55;
    st_case(c32, "st_matrix_f64", t, c32->n, KEEP_DATA, 0, DSV3_ERR_BAD_DTYPE, "model.layers.0.self_attn.o_proj.weight");
    free(t);
    printf("dtypes (f32 checkpoint): done\n");
}

/* ---- cases: sharded checkpoints -------------------------------------------- */

static const char *SHARD1 = "model-00001-of-00002.safetensors";
static const char *SHARD2 = "model-00002-of-00002.safetensors";

/* Split the golden tensors into two repacked shards; t gets the list with
 * the shard of tensor i being 1 + (i >= n/2). */
static void write_shards(const char *dir, const ckpt *c, tens *t) {
    const int h = c->n / 2;
    write_st(dir, SHARD1, c, t, h, REPACK, 0);
    write_st(dir, SHARD2, c, t + h, c->n - h, REPACK, 0);
}

/* The index for that split; `extra` is spliced into the weight_map. */
static char *make_index(const ckpt *c, const tens *t, const char *extra) {
    sbuf s = {0};
    sb_printf(&s, "{\n  \"metadata\": {\"total_size\": %llu},\n  \"weight_map\": {",
              (unsigned long long)(c->file_len - c->data_off));
    for (int i = 0; i < c->n; i++)
        sb_printf(&s, "%s\n    \"%s\": \"%s\"", i ? "," : "", t[i].name, i < c->n / 2 ? SHARD1 : SHARD2);
    sb_printf(&s, "%s\n  }\n}\n", extra ? extra : "");
    return s.p;
}

static void shard_case(const ckpt *c, const char *name, const char *extra, int drop_shard2, int want,
                       const char *needle) {
    char dir[1100];
    new_case(dir, sizeof dir, name);
    put(dir, "config.json", c->config, c->config_len);
    tens *t = clone(c, 0);
    write_shards(dir, c, t);
    if (drop_shard2) {
        char p[1200];
        snprintf(p, sizeof p, "%s/%s", dir, SHARD2);
        unlink(p);
    }
    char *idx = make_index(c, t, extra);
    put_str(dir, "model.safetensors.index.json", idx);
    free(idx);
    free(t);
    expect_load(name, dir, want, needle);
}

static void test_shards(const ckpt *c, dsv3_model *good, int V) {
    char dir[1100];
    float *want = malloc(sizeof(float) * (size_t)V), *got = malloc(sizeof(float) * (size_t)V);
    CHECK(probe_logits(good, want) == DSV3_OK, "probe on the golden model");

    /* positive control */
    new_case(dir, sizeof dir, "shard_control");
    put(dir, "config.json", c->config, c->config_len);
    tens *t = clone(c, 0);
    write_shards(dir, c, t);
    char *idx = make_index(c, t, NULL);
    put_str(dir, "model.safetensors.index.json", idx);
    free(idx);
    free(t);
    for (int mm = 1; mm >= 0; mm--) {
        dsv3_model *m = must_load("two shards", dir, mm);
        CHECK(m && probe_logits(m, got) == DSV3_OK && !memcmp(got, want, sizeof(float) * (size_t)V),
              "two shards: logits differ from the golden file");
        dsv3_model_free(m);
    }

    shard_case(c, "shard_missing", NULL, 1, DSV3_ERR_NOT_FOUND, SHARD2);
    shard_case(c, "shard_tensor_absent", ",\n    \"model.bogus.weight\": \"model-00001-of-00002.safetensors\"", 0,
               DSV3_ERR_BAD_FILE, "model.bogus.weight");
    /* model.norm.weight is in shard 2 (the list is sorted); the last
     * duplicate key wins */
    shard_case(c, "shard_wrong_shard", ",\n    \"model.norm.weight\": \"model-00001-of-00002.safetensors\"", 0,
               DSV3_ERR_BAD_FILE, "model.norm.weight");
    shard_case(c, "shard_dotdot", ",\n    \"x.weight\": \"../shard_control/model-00001-of-00002.safetensors\"", 0,
               DSV3_ERR_BAD_FILE, "x.weight");
    shard_case(c, "shard_is_dotdot", ",\n    \"x.weight\": \"..\"", 0, DSV3_ERR_BAD_FILE, "x.weight");
    shard_case(c, "shard_absolute", ",\n    \"x.weight\": \"/etc/passwd\"", 0, DSV3_ERR_BAD_FILE, "x.weight");
    shard_case(c, "shard_empty_name", ",\n    \"x.weight\": \"\"", 0, DSV3_ERR_BAD_FILE, "x.weight");
    shard_case(c, "shard_name_number", ",\n    \"x.weight\": 1", 0, DSV3_ERR_BAD_FILE, "x.weight");

    new_case(dir, sizeof dir, "shard_index_not_json");
    put(dir, "config.json", c->config, c->config_len);
    link_weights(dir, c); /* the index wins over model.safetensors */
    put_str(dir, "model.safetensors.index.json", "{\"weight_map\": {\"a\": ");
    expect_load("shard_index_not_json", dir, DSV3_ERR_BAD_FILE, "invalid JSON");
    put_str(dir, "model.safetensors.index.json", "");
    expect_load("shard_index_empty", dir, DSV3_ERR_BAD_FILE, "invalid JSON");
    put_str(dir, "model.safetensors.index.json", "{\"metadata\": {}}");
    expect_load("shard_no_weight_map", dir, DSV3_ERR_BAD_FILE, "weight_map");
    put_str(dir, "model.safetensors.index.json", "[\"model.safetensors\"]");
    expect_load("shard_index_array", dir, DSV3_ERR_BAD_FILE, "weight_map");
    put_str(dir, "model.safetensors.index.json", "{\"weight_map\": {}}");
    expect_load("shard_weight_map_empty", dir, DSV3_ERR_BAD_FILE, "weight_map");

    /* a shard that is itself broken: named in the message */
    new_case(dir, sizeof dir, "shard_broken");
    put(dir, "config.json", c->config, c->config_len);
    t = clone(c, 0);
    write_shards(dir, c, t);
    put(dir, SHARD2, c->file, 5);
    idx = make_index(c, t, NULL);
    put_str(dir, "model.safetensors.index.json", idx);
    free(idx);
    free(t);
    expect_load("shard_broken", dir, DSV3_ERR_BAD_FILE, SHARD2);

    /* the same tensor in both shards */
    new_case(dir, sizeof dir, "shard_duplicate");
    put(dir, "config.json", c->config, c->config_len);
    t = clone(c, 1);
    const int h = c->n / 2;
    write_st(dir, SHARD1, c, t, h, REPACK, 0);
    tens *rest = malloc(sizeof *rest * (size_t)(c->n - h + 1));
    memcpy(rest, t + h, sizeof *rest * (size_t)(c->n - h));
    rest[c->n - h] = c->t[0]; /* shard 1's first tensor again */
    write_st(dir, SHARD2, c, rest, c->n - h + 1, REPACK, 0);
    idx = make_index(c, t, NULL);
    put_str(dir, "model.safetensors.index.json", idx);
    free(idx);
    free(rest);
    free(t);
    expect_load("shard_duplicate", dir, DSV3_ERR_BAD_FILE, "appears twice");
    free(want);
    free(got);
    printf("sharded index: done\n");
}

/* ---- sessions ------------------------------------------------------------------ */

/* A session's history: the tokens stepped and how they were split into
 * calls, so that a fresh session can be fed exactly the same. */
typedef struct sref {
    dsv3_model *m;
    struct dsv3_session_params sp;
    int V;
    int32_t tok[64];
    int n;
    int chunk[64];
    int n_chunks;
    const char *label;
} sref;

static dsv3_session *sref_open(sref *r, dsv3_model *m, int V, int n_ctx, int record, int mtp, const char *label) {
    memset(r, 0, sizeof *r);
    r->m = m;
    r->V = V;
    r->label = label;
    dsv3_session_params_init(&r->sp, sizeof r->sp);
    r->sp.n_ctx = n_ctx;
    r->sp.record_routing = record;
    r->sp.mtp = mtp;
    dsv3_session *s = NULL;
    char err[512];
    int rc = dsv3_session_create(m, &r->sp, &s, err, sizeof err);
    CHECK(rc == DSV3_OK && s, "%s: session_create: %s", label, err);
    if (!s) fatal("cannot continue without a session");
    return s;
}

static void step_ok(sref *r, dsv3_session *s, const int32_t *tok, int n) {
    int rc = dsv3_session_step(s, tok, n, NULL, 0);
    CHECK(rc == DSV3_OK, "%s: step of %d: %s", r->label, n, dsv3_session_last_error(s));
    if (rc) return;
    memcpy(r->tok + r->n, tok, sizeof *tok * (size_t)n);
    r->n += n;
    r->chunk[r->n_chunks++] = n;
}

/* Rewind to the end of chunk k (so the history stays replayable). */
static void rewind_to_chunk(sref *r, dsv3_session *s, int k) {
    int pos = 0;
    for (int i = 0; i < k; i++) pos += r->chunk[i];
    int rc = dsv3_session_rewind(s, pos);
    CHECK(rc == DSV3_OK && dsv3_session_position(s) == pos, "%s: rewind to %d", r->label, pos);
    r->n = pos;
    r->n_chunks = k;
}

/* Logits of `x` stepped after the history, on a fresh session. */
static void replay(const sref *r, int32_t x, float *out) {
    dsv3_session *f = NULL;
    if (dsv3_session_create(r->m, &r->sp, &f, NULL, 0)) fatal("replay: session_create");
    int at = 0;
    for (int i = 0; i < r->n_chunks; i++) {
        if (dsv3_session_step(f, r->tok + at, r->chunk[i], NULL, 0)) fatal("replay: step");
        at += r->chunk[i];
    }
    if (dsv3_session_step(f, &x, 1, out, 0)) fatal("replay: step");
    dsv3_session_free(f);
}

/* After a refused call: the position is as the history says, and the
 * session is still usable -- one more token gives bit-identical logits to a
 * fresh session fed the same, then rewinding undoes it. */
static void still_works(const char *what, sref *r, dsv3_session *s) {
    int32_t pos = dsv3_session_position(s);
    CHECK(pos == r->n, "%s: position %d after the error, expected %d", what, pos, r->n);
    if (pos >= dsv3_session_n_ctx(s)) return;
    const size_t bytes = sizeof(float) * (size_t)r->V;
    float *got = malloc(bytes), *want = malloc(bytes);
    int32_t x = (int32_t)((r->n * 131 + 7) % r->V);
    int rc = dsv3_session_step(s, &x, 1, got, 0);
    CHECK(rc == DSV3_OK, "%s: the next valid step failed: %s", what, dsv3_session_last_error(s));
    replay(r, x, want);
    CHECK(rc == DSV3_OK && !memcmp(got, want, bytes), "%s: logits after the error differ from a fresh session", what);
    CHECK(dsv3_session_rewind(s, pos) == DSV3_OK && dsv3_session_position(s) == pos, "%s: rewind back", what);
    free(got);
    free(want);
}

/* A step that must fail with `want`: message, nothing written to logits,
 * position and MTP position unchanged, and still_works. */
static void expect_step(const char *what, sref *r, dsv3_session *s, const int32_t *tok, int32_t n, unsigned flags,
                        int want, const char *needle) {
    const size_t bytes = sizeof(float) * (size_t)r->V * 4;
    unsigned char *logits = malloc(bytes);
    memset(logits, 0x7F, bytes);
    int32_t pos = dsv3_session_position(s), mpos = dsv3_session_mtp_position(s);
    int rc = dsv3_session_step(s, tok, n, (float *)(void *)logits, flags);
    const char *msg = dsv3_session_last_error(s);
    CHECK(rc == want, "%s: status %d (%s), expected %d (%s): %s", what, rc, dsv3_status_string(rc), want,
          dsv3_status_string(want), msg);
    CHECK(has(msg, needle), "%s: message '%s' does not name '%s'", what, msg, needle);
    int untouched = 1;
    for (size_t i = 0; i < bytes; i++) untouched &= logits[i] == 0x7F;
    CHECK(untouched, "%s: logits written by a failed step", what);
    CHECK(dsv3_session_position(s) == pos && dsv3_session_mtp_position(s) == mpos, "%s: positions moved", what);
    free(logits);
    still_works(what, r, s);
}

static void expect_mtp(const char *what, sref *r, dsv3_session *s, const int32_t *tok, int32_t n, unsigned flags,
                       int want, const char *needle) {
    const size_t bytes = sizeof(float) * (size_t)r->V;
    unsigned char *logits = malloc(bytes);
    memset(logits, 0x7F, bytes);
    int32_t pos = dsv3_session_position(s), mpos = dsv3_session_mtp_position(s);
    int rc = dsv3_session_mtp_step(s, tok, n, (float *)(void *)logits, flags);
    const char *msg = dsv3_session_last_error(s);
    CHECK(rc == want, "%s: status %d (%s), expected %d (%s): %s", what, rc, dsv3_status_string(rc), want,
          dsv3_status_string(want), msg);
    CHECK(has(msg, needle), "%s: message '%s' does not name '%s'", what, msg, needle);
    int untouched = 1;
    for (size_t i = 0; i < bytes; i++) untouched &= logits[i] == 0x7F;
    CHECK(untouched, "%s: logits written by a failed MTP step", what);
    CHECK(dsv3_session_position(s) == pos && dsv3_session_mtp_position(s) == mpos, "%s: positions moved", what);
    free(logits);
    still_works(what, r, s);
}

static const int32_t TOK[8] = {17, 230, 5, 999, 64, 3, 812, 40};

static void test_session_create(dsv3_model *m, int max_pos) {
    char err[512];
    dsv3_session *s = (dsv3_session *)(void *)&g_dummy;
    struct dsv3_session_params sp;
    dsv3_session_params_init(&sp, sizeof sp);
    static const struct { int32_t n_ctx; const char *what; } bad_ctx[] = {
        {-1, "n_ctx -1"}, {INT32_MIN, "n_ctx INT32_MIN"}, {0, "n_ctx max+1"}};
    for (size_t i = 0; i < sizeof bad_ctx / sizeof bad_ctx[0]; i++) {
        sp.n_ctx = bad_ctx[i].n_ctx ? bad_ctx[i].n_ctx : max_pos + 1;
        s = (dsv3_session *)(void *)&g_dummy;
        memset(err, 0, sizeof err);
        int rc = dsv3_session_create(m, &sp, &s, err, sizeof err);
        CHECK(rc == DSV3_ERR_INVALID_ARG && s == NULL && has(err, "n_ctx"), "%s: %d, '%s'", bad_ctx[i].what, rc, err);
    }
    sp.n_ctx = max_pos + 1;
    CHECK(dsv3_session_create(m, &sp, &s, err, sizeof err) == DSV3_ERR_INVALID_ARG && has(err, "max_position_embeddings"),
          "n_ctx > max: message '%s'", err);
    dsv3_session_params_init(&sp, sizeof sp);
    sp.struct_size = 0;
    int rc = dsv3_session_create(m, &sp, &s, err, sizeof err);
    CHECK(rc == DSV3_ERR_INVALID_ARG && s == NULL && has(err, "struct_size"), "session struct_size 0: %d '%s'", rc, err);
    sp.struct_size = 100000;
    rc = dsv3_session_create(m, &sp, &s, err, sizeof err);
    CHECK(rc == DSV3_ERR_INVALID_ARG && s == NULL && has(err, "struct_size"), "session struct_size 100000: %d", rc);
    rc = dsv3_session_create(NULL, NULL, &s, err, sizeof err);
    CHECK(rc == DSV3_ERR_INVALID_ARG && s == NULL && has(err, "model"), "session on NULL model: %d '%s'", rc, err);
    rc = dsv3_session_create(m, NULL, NULL, err, sizeof err);
    CHECK(rc == DSV3_ERR_INVALID_ARG && has(err, "out"), "session out NULL: %d '%s'", rc, err);
    /* struct_size up to n_ctx: record_routing/mtp (garbage here) are unread */
    memset(&sp, 0xA5, sizeof sp);
    sp.struct_size = offsetof(struct dsv3_session_params, record_routing);
    sp.n_ctx = 8;
    rc = dsv3_session_create(m, &sp, &s, err, sizeof err);
    CHECK(rc == DSV3_OK && s && dsv3_session_n_ctx(s) == 8, "session params prefix: %d '%s'", rc, err);
    int32_t ids[64];
    int32_t step_tok = 9;
    CHECK(s && dsv3_session_step(s, &step_tok, 1, NULL, 0) == DSV3_OK &&
              dsv3_session_get_routing(s, 0, ids, NULL, NULL) == DSV3_ERR_STATE,
          "session params prefix: record_routing must default to 0");
    dsv3_session_free(s);
    printf("session_create: done\n");
}

static void test_session_step(dsv3_model *m, int V) {
    sref r;
    dsv3_session *s = sref_open(&r, m, V, 8, 0, 1, "step");
    /* errors on an empty session */
    int32_t bad = -1;
    expect_step("empty: token -1", &r, s, &bad, 1, 0, DSV3_ERR_BAD_TOKEN, "-1");
    step_ok(&r, s, TOK, 5);
    CHECK(dsv3_session_position(s) == 5, "position 5 after 5 tokens");
    expect_step("token -1", &r, s, &bad, 1, 0, DSV3_ERR_BAD_TOKEN, "-1");
    int32_t vtok = V;
    char vs[32];
    snprintf(vs, sizeof vs, "%d", V);
    expect_step("token == vocab", &r, s, &vtok, 1, 0, DSV3_ERR_BAD_TOKEN, vs);
    int32_t mixed[3] = {1, 2, INT32_MAX};
    expect_step("bad token at index 2", &r, s, mixed, 3, DSV3_STEP_LOGITS_ALL, DSV3_ERR_BAD_TOKEN, "index 2");
    expect_step("n_tokens 0", &r, s, TOK, 0, 0, DSV3_ERR_INVALID_ARG, "n_tokens");
    expect_step("n_tokens -3", &r, s, TOK, -3, 0, DSV3_ERR_INVALID_ARG, "n_tokens");
    expect_step("tokens NULL", &r, s, NULL, 1, 0, DSV3_ERR_INVALID_ARG, "token array");
    expect_step("flags 2", &r, s, TOK, 1, 2u, DSV3_ERR_INVALID_ARG, "flags");
    expect_step("flags 0x80000000", &r, s, TOK, 1, 0x80000000u, DSV3_ERR_INVALID_ARG, "flags");
    expect_step("step 4 at 5 of 8", &r, s, TOK, 4, 0, DSV3_ERR_CONTEXT_FULL, "context");
    expect_step("step INT32_MAX", &r, s, TOK, INT32_MAX, 0, DSV3_ERR_CONTEXT_FULL, "context");
    /* fill the context exactly; one more token does not fit */
    step_ok(&r, s, TOK + 5, 3);
    CHECK(dsv3_session_position(s) == 8, "position 8 at a full context");
    expect_step("step 1 at a full context", &r, s, TOK, 1, 0, DSV3_ERR_CONTEXT_FULL, "context");
    rewind_to_chunk(&r, s, 1);
    still_works("after rewinding a full context", &r, s);
    /* rewind */
    int32_t pos = dsv3_session_position(s);
    int rc = dsv3_session_rewind(s, -1);
    CHECK(rc == DSV3_ERR_BAD_POSITION && has(dsv3_session_last_error(s), "-1"), "rewind -1: %d '%s'", rc,
          dsv3_session_last_error(s));
    still_works("rewind -1", &r, s);
    rc = dsv3_session_rewind(s, pos + 1);
    CHECK(rc == DSV3_ERR_BAD_POSITION && has(dsv3_session_last_error(s), "outside"), "rewind position+1: %d '%s'", rc,
          dsv3_session_last_error(s));
    still_works("rewind position+1", &r, s);
    rc = dsv3_session_rewind(s, INT32_MIN);
    CHECK(rc == DSV3_ERR_BAD_POSITION, "rewind INT32_MIN: %d", rc);
    still_works("rewind INT32_MIN", &r, s);
    /* routing was not recorded */
    int32_t ids[64], n_moe = -1;
    float w[64];
    rc = dsv3_session_get_routing(s, 0, ids, w, &n_moe);
    CHECK(rc == DSV3_ERR_STATE && has(dsv3_session_last_error(s), "record_routing"), "get_routing unrecorded: %d '%s'",
          rc, dsv3_session_last_error(s));
    CHECK(n_moe == 3, "get_routing: n_moe_layers %d, expected 3", n_moe);
    still_works("get_routing unrecorded", &r, s);
    n_moe = -1;
    CHECK(dsv3_session_get_routing(s, 0, NULL, NULL, &n_moe) == DSV3_OK && n_moe == 3, "get_routing count query");
    /* a reset session starts over */
    CHECK(dsv3_session_reset(s) == DSV3_OK && dsv3_session_position(s) == 0, "reset");
    r.n = r.n_chunks = 0;
    still_works("after reset", &r, s);
    dsv3_session_free(s);

    /* routing recorded: positions outside [0, position) */
    s = sref_open(&r, m, V, 8, 1, 1, "routing");
    step_ok(&r, s, TOK, 3);
    rc = dsv3_session_get_routing(s, 3, ids, w, NULL);
    CHECK(rc == DSV3_ERR_BAD_POSITION && has(dsv3_session_last_error(s), "3"), "get_routing at position: %d", rc);
    still_works("get_routing at position", &r, s);
    rc = dsv3_session_get_routing(s, -1, ids, NULL, NULL);
    CHECK(rc == DSV3_ERR_BAD_POSITION, "get_routing -1: %d", rc);
    still_works("get_routing -1", &r, s);
    rc = dsv3_session_get_routing(s, 2, ids, w, &n_moe);
    int in_range = 1;
    for (int i = 0; i < n_moe * 4 && i < 64; i++) in_range &= ids[i] >= 0 && ids[i] < 16;
    CHECK(rc == DSV3_OK && n_moe == 3 && in_range, "get_routing valid: %d", rc);
    dsv3_session_free(s);
    printf("session step/rewind/routing: done\n");
}

static void test_mtp(dsv3_model *m, int V, const char *v2lite_dir) {
    const size_t bytes = sizeof(float) * (size_t)V;
    float *got = malloc(bytes), *want = malloc(bytes);
    sref r;
    dsv3_session *s = sref_open(&r, m, V, 8, 0, 1, "mtp");
    int32_t one = 3;
    expect_mtp("mtp_step before any main step", &r, s, &one, 1, 0, DSV3_ERR_STATE, "step the main model first");
    step_ok(&r, s, TOK, 5);
    expect_mtp("mtp_step of 6 after 5", &r, s, TOK, 6, 0, DSV3_ERR_STATE, "step the main model first");
    expect_mtp("mtp_step INT32_MAX", &r, s, TOK, INT32_MAX, 0, DSV3_ERR_STATE, "main position");
    int32_t bad[2] = {4, -7};
    expect_mtp("mtp token -7", &r, s, bad, 2, 0, DSV3_ERR_BAD_TOKEN, "-7");
    bad[1] = V;
    expect_mtp("mtp token == vocab", &r, s, bad, 2, 0, DSV3_ERR_BAD_TOKEN, "index 1");
    expect_mtp("mtp n 0", &r, s, TOK, 0, 0, DSV3_ERR_INVALID_ARG, "n = 0");
    expect_mtp("mtp tokens NULL", &r, s, NULL, 1, 0, DSV3_ERR_INVALID_ARG, "token array");
    expect_mtp("mtp flags 4", &r, s, TOK, 1, 4u, DSV3_ERR_INVALID_ARG, "flags");
    /* the MTP state survived all that: a valid MTP step equals a fresh one */
    const int32_t next[5] = {TOK[1], TOK[2], TOK[3], TOK[4], 77};
    int rc = dsv3_session_mtp_step(s, next, 5, got, 0);
    CHECK(rc == DSV3_OK && dsv3_session_mtp_position(s) == 5, "mtp_step after errors: %s", dsv3_session_last_error(s));
    dsv3_session *f = NULL;
    if (dsv3_session_create(m, &r.sp, &f, NULL, 0)) fatal("mtp fresh session");
    rc = dsv3_session_step(f, TOK, 5, NULL, 0);
    rc |= dsv3_session_mtp_step(f, next, 5, want, 0);
    CHECK(rc == DSV3_OK && !memcmp(got, want, bytes), "MTP logits after errors differ from a fresh session");
    /* the MTP cache has caught up: one more row is a state error */
    expect_mtp("mtp_step past the main position", &r, s, &one, 1, 0, DSV3_ERR_STATE, "main position");
    /* and both keep going in step */
    int32_t x = 77, y = 500;
    rc = dsv3_session_step(s, &x, 1, NULL, 0);
    rc |= dsv3_session_mtp_step(s, &y, 1, got, 0);
    rc |= dsv3_session_step(f, &x, 1, NULL, 0);
    rc |= dsv3_session_mtp_step(f, &y, 1, want, 0);
    CHECK(rc == DSV3_OK && !memcmp(got, want, bytes), "MTP continued after errors differs from a fresh session");
    dsv3_session_free(f);
    dsv3_session_free(s);

    /* mtp = 0 */
    s = sref_open(&r, m, V, 8, 0, 0, "mtp=0");
    step_ok(&r, s, TOK, 2);
    expect_mtp("mtp_step with mtp = 0", &r, s, &one, 1, 0, DSV3_ERR_STATE, "mtp = 0");
    dsv3_session_free(s);

    /* a model without MTP layers */
    dsv3_model *v2 = must_load("tiny-v2lite", v2lite_dir, 1);
    if (v2) {
        struct dsv3_model_info info;
        memset(&info, 0, sizeof info);
        info.struct_size = sizeof info;
        dsv3_model_get_info(v2, &info);
        s = sref_open(&r, v2, info.vocab_size, 8, 0, 1, "v2lite");
        expect_mtp("v2lite: mtp before a step", &r, s, &one, 1, 0, DSV3_ERR_NO_MTP, "MTP");
        step_ok(&r, s, TOK, 2);
        expect_mtp("v2lite: mtp_step", &r, s, &one, 1, 0, DSV3_ERR_NO_MTP, "MTP");
        dsv3_session_free(s);
        dsv3_model_free(v2);
    }
    free(got);
    free(want);
    printf("MTP: done\n");
}

/* ---- API robustness ---------------------------------------------------------- */

static void test_api(dsv3_model *m) {
    dsv3_model_free(NULL);
    dsv3_session_free(NULL);
    CHECK(1, "free(NULL)");
    CHECK(dsv3_version() == DSV3_VERSION_NUMBER && !strcmp(dsv3_version_string(), DSV3_VERSION_STRING), "version");

    /* status strings: every code up to the newest this test knows is named
     * and distinct; the named codes are one run from 0 (codes are only
     * appended), and everything past it is "unknown status" */
    enum { KNOWN_LAST = DSV3_ERR_CANCELLED, SCAN = 256 };
    const char *names[SCAN];
    int n_named = 0;
    while (n_named < SCAN && strcmp(dsv3_status_string(n_named), "unknown status")) n_named++;
    CHECK(n_named > KNOWN_LAST, "status codes 0..%d are not all named (first unknown: %d)", KNOWN_LAST, n_named);
    int rest_unknown = 1;
    for (int i = n_named; i < SCAN; i++) rest_unknown &= !strcmp(dsv3_status_string(i), "unknown status");
    CHECK(rest_unknown, "a named status code after the first unnamed one (%d)", n_named);
    for (int i = 0; i < n_named; i++) {
        names[i] = dsv3_status_string(i);
        int distinct = names[i] != NULL;
        for (int j = 0; j < i && distinct; j++) distinct = strcmp(names[i], names[j]) != 0;
        CHECK(distinct && names[i][0] && strcmp(names[i], "unknown status"), "status_string(%d) = '%s'", i,
              names[i] ? names[i] : "(null)");
    }
    static const int unknown[] = {-1, 1000, INT32_MIN, INT32_MAX};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        const char *u = dsv3_status_string(unknown[i]);
        CHECK(u && !strcmp(u, "unknown status"), "status_string(%d) = '%s'", unknown[i], u ? u : "(null)");
    }

    /* NULL handles */
    int32_t t = 1;
    CHECK(dsv3_session_step(NULL, &t, 1, NULL, 0) == DSV3_ERR_INVALID_ARG, "step(NULL)");
    CHECK(dsv3_session_mtp_step(NULL, &t, 1, NULL, 0) == DSV3_ERR_INVALID_ARG, "mtp_step(NULL)");
    CHECK(dsv3_session_rewind(NULL, 0) == DSV3_ERR_INVALID_ARG, "rewind(NULL)");
    CHECK(dsv3_session_reset(NULL) == DSV3_ERR_INVALID_ARG, "reset(NULL)");
    CHECK(dsv3_session_get_routing(NULL, 0, NULL, NULL, NULL) == DSV3_ERR_INVALID_ARG, "get_routing(NULL)");
    CHECK(dsv3_session_position(NULL) == 0 && dsv3_session_mtp_position(NULL) == 0 && dsv3_session_n_ctx(NULL) == 0 &&
              dsv3_session_kv_bytes_per_token(NULL) == 0,
          "accessors of a NULL session");
    CHECK(dsv3_session_last_error(NULL) != NULL && dsv3_model_last_error(NULL) != NULL, "last_error(NULL) is not NULL");
    CHECK(dsv3_model_last_error(m) && dsv3_model_last_error(m)[0] == 0, "a loaded model has no error");
    int avail = -1;
    CHECK(dsv3_backend_name(0, &avail) && !strcmp(dsv3_backend_name(0, NULL), "scalar") && avail == 1, "backend 0");
    CHECK(dsv3_backend_name(-1, &avail) == NULL && avail == 0, "backend -1");
    CHECK(dsv3_backend_name(1000, NULL) == NULL, "backend 1000");

    /* get_info */
    struct dsv3_model_info full;
    memset(&full, 0, sizeof full);
    full.struct_size = sizeof full;
    CHECK(dsv3_model_get_info(m, &full) == DSV3_OK && full.struct_size == sizeof full && full.hidden_size == 203 &&
              full.vocab_size == 1027 && full.n_layers == 4 && full.n_mtp_layers == 1 &&
              !strcmp(full.architecture, "deepseek_v3") && full.backend[0] && /* "auto" picks the best */
              !strcmp(full.weight_dtype, "fp8_e4m3") && full.max_context == 163840,
          "get_info full: hidden %d vocab %d arch '%s' dtype '%s'", full.hidden_size, full.vocab_size, full.architecture,
          full.weight_dtype);
    CHECK(dsv3_model_get_info(NULL, &full) == DSV3_ERR_INVALID_ARG, "get_info(NULL model)");
    CHECK(dsv3_model_get_info(m, NULL) == DSV3_ERR_INVALID_ARG, "get_info(NULL info)");
    struct {
        struct dsv3_model_info i;
        unsigned char tail[32];
    } box;
    static const size_t sizes[] = {0, 4, 65537};
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        memset(&box, 0xA5, sizeof box);
        box.i.struct_size = sizes[k];
        int rc = dsv3_model_get_info(m, &box.i);
        const unsigned char *b = (const unsigned char *)&box;
        int untouched = 1;
        for (size_t i = sizeof(size_t); i < sizeof box; i++) untouched &= b[i] == 0xA5;
        CHECK(rc == DSV3_ERR_INVALID_ARG && untouched && box.i.struct_size == sizes[k],
              "get_info struct_size %zu: %d (untouched %d)", sizes[k], rc, untouched);
    }
    /* a prefix: only the fields it covers are written */
    const size_t prefix = offsetof(struct dsv3_model_info, hidden_size);
    memset(&box, 0xA5, sizeof box);
    box.i.struct_size = prefix;
    int rc = dsv3_model_get_info(m, &box.i);
    const unsigned char *b = (const unsigned char *)&box;
    int untouched = 1;
    for (size_t i = prefix; i < sizeof box; i++) untouched &= b[i] == 0xA5;
    CHECK(rc == DSV3_OK && untouched && box.i.struct_size == prefix && box.i.vocab_size == 1027 &&
              box.i.n_dense_layers == 1 && !strcmp(box.i.architecture, "deepseek_v3"),
          "get_info prefix %zu: rc %d, untouched past it %d", prefix, rc, untouched);
    /* a newer caller's larger struct: the fields this library does not
     * know are zeroed */
    memset(&box, 0xA5, sizeof box);
    box.i.struct_size = sizeof box;
    rc = dsv3_model_get_info(m, &box.i);
    int zeroed = 1;
    for (size_t i = 0; i < sizeof box.tail; i++) zeroed &= box.tail[i] == 0;
    CHECK(rc == DSV3_OK && zeroed && box.i.struct_size == sizeof box && box.i.hidden_size == 203 &&
              box.i.kv_bytes_per_token == full.kv_bytes_per_token,
          "get_info larger struct: rc %d, tail zeroed %d", rc, zeroed);
    /* a 0.2 program's struct ends before the 0.3 fields: none are written */
    const size_t v02 = offsetof(struct dsv3_model_info, reserved0);
    memset(&box, 0xA5, sizeof box);
    box.i.struct_size = v02;
    rc = dsv3_model_get_info(m, &box.i);
    untouched = 1;
    for (size_t i = v02; i < sizeof box; i++) untouched &= b[i] == 0xA5;
    CHECK(rc == DSV3_OK && untouched && box.i.topk_group == full.topk_group, "get_info, 0.2 size %zu: rc %d", v02, rc);

    /* dsv3_backend_describe: every backend says something, exactly one is
     * the "auto" pick, bad arguments and short buffers are reported */
    char text[4096];
    int n_backends = 0, n_auto = 0;
    while (dsv3_backend_name(n_backends, NULL)) {
        rc = dsv3_backend_describe(n_backends, text, sizeof text);
        CHECK(rc == DSV3_OK && text[0] && strlen(text) < sizeof text, "describe(%d): %d '%s'", n_backends, rc, text);
        n_auto += strstr(text, "picked by \"auto\"") != NULL;
        n_backends++;
    }
    CHECK(n_auto == 1, "%d backends say \"auto\" picks them", n_auto);
    rc = dsv3_backend_describe(0, text, sizeof text);
    CHECK(rc == DSV3_OK && !strncmp(text, "available", 9), "scalar: '%s'", text);
    CHECK(dsv3_backend_describe(-1, text, sizeof text) == DSV3_ERR_INVALID_ARG &&
              dsv3_backend_describe(n_backends, text, sizeof text) == DSV3_ERR_INVALID_ARG &&
              dsv3_backend_describe(0, NULL, 10) == DSV3_ERR_INVALID_ARG &&
              dsv3_backend_describe(0, text, 0) == DSV3_ERR_INVALID_ARG,
          "describe: bad index, NULL buffer, size 0");
    memset(text, 'Z', sizeof text);
    rc = dsv3_backend_describe(0, text, 4);
    CHECK(rc == DSV3_ERR_TOO_SMALL && !strcmp(text, "ava") && text[4] == 'Z', "describe into 4 bytes: %d '%.4s'", rc,
          text);

    /* dsv3_model_placement */
    rc = dsv3_model_placement(m, text, sizeof text);
    CHECK(rc == DSV3_OK && strstr(text, full.backend) && strstr(text, "host memory"), "placement: %d '%s'", rc, text);
    size_t plen = strlen(text);
    memset(text, 'Z', sizeof text);
    rc = dsv3_model_placement(m, text, plen);
    CHECK(rc == DSV3_ERR_TOO_SMALL && strlen(text) == plen - 1 && text[plen] == 'Z', "placement, one byte short: %d",
          rc);
    CHECK(dsv3_model_placement(m, text, plen + 1) == DSV3_OK, "placement, exact size");
    CHECK(dsv3_model_placement(NULL, text, sizeof text) == DSV3_ERR_INVALID_ARG &&
              dsv3_model_placement(m, NULL, 10) == DSV3_ERR_INVALID_ARG &&
              dsv3_model_placement(m, text, 0) == DSV3_ERR_INVALID_ARG,
          "placement: NULL model, NULL buffer, size 0");
    CHECK(!strcmp(full.device, "cpu") && full.device_bytes == 0 && full.host_weight_bytes > 0, "info device '%s'",
          full.device);
    printf("API robustness: done\n");
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1) snprintf(g_shared, sizeof g_shared, "%s", argv[1]);
    if (argc > 2) {
        snprintf(g_scratch, sizeof g_scratch, "%s", argv[2]);
        mkdir_p(g_scratch);
    } else {
        const char *tmp = getenv("TMPDIR");
        snprintf(g_scratch, sizeof g_scratch, "%s/dsv3-errors-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(g_scratch)) fatal("mkdtemp %s: %s", g_scratch, strerror(errno));
        g_made_scratch = 1;
    }
    printf("scratch: %s\n", g_scratch);

    ckpt c8, c32;
    load_ckpt(&c8, "tiny-v3/fp8");
    load_ckpt(&c32, "tiny-v3/f32");
    char v2dir[1100];
    snprintf(v2dir, sizeof v2dir, "%s/golden/tiny-v2lite/bf16", g_shared);
    dsv3_model *good = must_load("golden fp8", c8.dir, 1);
    if (!good) return finish();

    test_paths(&c8);
    test_config(&c8);
    test_safetensors(&c8, good, c8.vocab);
    test_f32_dtype(&c32);
    test_shards(&c8, good, c8.vocab);
    test_session_create(good, c8.max_pos);
    test_session_step(good, c8.vocab);
    test_mtp(good, c8.vocab, v2dir);
    test_api(good);

    dsv3_model_free(good);
    free_ckpt(&c8);
    free_ckpt(&c32);
    if (g_fail == 0) cleanup();
    else printf("scratch kept for inspection: %s\n", g_scratch);
    return finish();
}
