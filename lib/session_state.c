/* session_state.c -- dsv3_session_save / _load (a caller buffer) and
 * _save_file / _load_file: the session's caches in a versioned,
 * checksummed format (layout in dsv3.h and below). A load checks the
 * whole state -- size, checksum, model, kv_type, context -- before it
 * touches the session, so a refused state changes nothing. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hash64.h"
#include "mapfile.h"
#include "session.h"

#define STATE_MAGIC "DSV3SES"   /* 8 bytes with its NUL */
#define STATE_VERSION 1u
#define STATE_BOM 0x01020304u   /* written in host order: catches byte order */
#define STATE_HEADER 96
#define STATE_TRAILER 8         /* hash64 of header + payload */
#define STATE_SEED 0x64737633ull
#define FLAG_HIDDEN 1u          /* rows [mtp_pos, pos) of the MTP hidden states */
#define FLAG_ROUTING 2u         /* routing record rows [0, pos) */

/* The header's fields (offsets in the comments). */
typedef struct state_header {
    uint32_t version;           /* 8  */
    uint32_t bom;               /* 12 */
    uint64_t fp_config;         /* 16 */
    uint64_t fp_weights;        /* 24 */
    int32_t kv_type;            /* 32: public DSV3_KV_* */
    int32_t n_layers;           /* 36 */
    int32_t n_mtp_layers;       /* 40 */
    int32_t kvl, dr, hidden;    /* 44, 48, 52 */
    int32_t n_ctx;              /* 56: the saver's (informative) */
    int32_t pos, mtp_pos;       /* 60, 64 */
    uint32_t flags;             /* 68 */
    int32_t n_moe, k;           /* 72, 76 */
    uint64_t payload;           /* 80 */
} state_header;                 /* 88..96 reserved, zero */

static void w32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void w64(unsigned char *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t r32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t r64(const unsigned char *p) { return (uint64_t)r32(p) | (uint64_t)r32(p + 4) << 32; }

static int32_t public_kv_type(int wtype) {
    return wtype == DSV3_W_F16 ? DSV3_KV_F16 : wtype == DSV3_W_Q8_0 ? DSV3_KV_Q8_0 : DSV3_KV_F32;
}
static const char *kv_name(int32_t kv_type) {
    return kv_type == DSV3_KV_F32 ? "f32" : kv_type == DSV3_KV_F16 ? "f16" : kv_type == DSV3_KV_Q8_0 ? "q8_0" : "?";
}

static size_t pe_row(const dsv3_session *s) { return sizeof(float) * (size_t)s->m->cfg.qk_rope_head_dim; }
static size_t hidden_row(const dsv3_session *s) { return sizeof(float) * (size_t)s->m->cfg.hidden_size; }
static size_t routing_row(const dsv3_session *s) {
    return (size_t)s->n_moe * (size_t)s->m->cfg.n_experts_per_tok * (sizeof(int32_t) + sizeof(float));
}

/* Payload bytes of a state of this session's shape at the given positions. */
static uint64_t payload_bytes(const dsv3_session *s, int pos, int mtp_pos, uint32_t flags) {
    const int nl = s->m->cfg.n_layers, nm = s->n_cache_layers - nl;
    const uint64_t row = (uint64_t)s->kv_row_bytes + pe_row(s);
    uint64_t n = row * (uint64_t)pos * (uint64_t)nl + row * (uint64_t)mtp_pos * (uint64_t)nm;
    if (flags & FLAG_HIDDEN) n += (uint64_t)hidden_row(s) * (uint64_t)(pos - mtp_pos);
    if (flags & FLAG_ROUTING) n += (uint64_t)routing_row(s) * (uint64_t)pos;
    return n;
}

static state_header header_of(const dsv3_session *s) {
    const dsv3_config *c = &s->m->cfg;
    state_header h;
    memset(&h, 0, sizeof h);
    h.version = STATE_VERSION;
    h.bom = STATE_BOM;
    h.fp_config = s->m->fp_config;
    h.fp_weights = s->m->fp_weights;
    h.kv_type = public_kv_type(s->kv_type);
    h.n_layers = c->n_layers;
    h.n_mtp_layers = s->n_cache_layers - c->n_layers;
    h.kvl = c->kv_lora_rank;
    h.dr = c->qk_rope_head_dim;
    h.hidden = c->hidden_size;
    h.n_ctx = s->n_ctx;
    h.pos = s->pos;
    h.mtp_pos = s->mtp_pos;
    h.flags = (s->hidden && s->pos > s->mtp_pos ? FLAG_HIDDEN : 0) | (s->rec_ids ? FLAG_ROUTING : 0);
    h.n_moe = s->n_moe;
    h.k = c->n_experts_per_tok;
    h.payload = payload_bytes(s, h.pos, h.mtp_pos, h.flags);
    return h;
}

static void encode_header(const state_header *h, unsigned char *b) {
    memset(b, 0, STATE_HEADER);
    memcpy(b, STATE_MAGIC, 8);
    w32(b + 8, h->version);
    memcpy(b + 12, &h->bom, 4);
    w64(b + 16, h->fp_config);
    w64(b + 24, h->fp_weights);
    const int32_t f[] = {h->kv_type, h->n_layers, h->n_mtp_layers, h->kvl, h->dr, h->hidden, h->n_ctx, h->pos, h->mtp_pos};
    for (int i = 0; i < 9; i++) w32(b + 32 + 4 * i, (uint32_t)f[i]);
    w32(b + 68, h->flags);
    w32(b + 72, (uint32_t)h->n_moe);
    w32(b + 76, (uint32_t)h->k);
    w64(b + 80, h->payload);
}

/* Parse and check the header alone (not the payload or checksum). */
static int decode_header(const unsigned char *b, size_t size, state_header *h, dsv3_err *e) {
    if (size < STATE_HEADER + STATE_TRAILER)
        return err_set(e, DSV3_ERR_BAD_STATE, "session state: truncated: %zu bytes, a state has at least %d", size,
                       STATE_HEADER + STATE_TRAILER);
    if (memcmp(b, STATE_MAGIC, 8) != 0) return err_set(e, DSV3_ERR_BAD_STATE, "not a dsv3 session state (bad magic)");
    h->version = r32(b + 8);
    if (h->version != STATE_VERSION)
        return err_set(e, DSV3_ERR_BAD_STATE, "session state version %u: this library reads version %u", h->version,
                       STATE_VERSION);
    memcpy(&h->bom, b + 12, 4);
    if (h->bom != STATE_BOM)
        return err_set(e, DSV3_ERR_BAD_STATE, "session state was saved on a machine of the other byte order");
    h->fp_config = r64(b + 16);
    h->fp_weights = r64(b + 24);
    int32_t *f[] = {&h->kv_type, &h->n_layers, &h->n_mtp_layers, &h->kvl, &h->dr, &h->hidden, &h->n_ctx, &h->pos, &h->mtp_pos};
    for (int i = 0; i < 9; i++) *f[i] = (int32_t)r32(b + 32 + 4 * i);
    h->flags = r32(b + 68);
    h->n_moe = (int32_t)r32(b + 72);
    h->k = (int32_t)r32(b + 76);
    h->payload = r64(b + 80);
    return DSV3_OK;
}

/* Everything that must hold before a state may replace s's caches. */
static int check_fits(const dsv3_session *s, const state_header *h, size_t size, const unsigned char *b,
                      dsv3_err *e) {
    const dsv3_config *c = &s->m->cfg;
    /* the dimensions first: they bound the payload size computed below */
    if (h->n_layers != c->n_layers || h->n_mtp_layers != s->n_cache_layers - c->n_layers || h->kvl != c->kv_lora_rank ||
        h->dr != c->qk_rope_head_dim || h->hidden != c->hidden_size || h->k != c->n_experts_per_tok ||
        ((h->flags & FLAG_ROUTING) && h->n_moe != s->n_moe))
        return err_set(e, DSV3_ERR_BAD_STATE,
                       "session state is of another model: %d+%d layers, kv_lora_rank %d, rope %d, hidden %d "
                       "(this model: %d+%d, %d, %d, %d)", h->n_layers, h->n_mtp_layers, h->kvl, h->dr, h->hidden,
                       c->n_layers, s->n_cache_layers - c->n_layers, c->kv_lora_rank, c->qk_rope_head_dim,
                       c->hidden_size);
    if (h->flags & ~(FLAG_HIDDEN | FLAG_ROUTING))
        return err_set(e, DSV3_ERR_BAD_STATE, "session state has unknown flags 0x%x", h->flags);
    if (h->pos < 0 || h->mtp_pos < 0 || h->mtp_pos > h->pos)
        return err_set(e, DSV3_ERR_BAD_STATE, "session state: positions %d (MTP %d) are inconsistent", h->pos,
                       h->mtp_pos);
    if (h->kv_type != DSV3_KV_F32 && h->kv_type != DSV3_KV_F16 && h->kv_type != DSV3_KV_Q8_0)
        return err_set(e, DSV3_ERR_BAD_STATE, "session state: kv_type %d is not a KV cache type", h->kv_type);
    /* Sizes are computed with this session's row sizes, valid only for the
     * state's own kv_type: compare kv_type before trusting them. */
    const int same_kv = h->kv_type == public_kv_type(s->kv_type);
    if (same_kv) {
        uint64_t want = payload_bytes(s, h->pos, h->mtp_pos, h->flags);
        if (h->payload != want)
            return err_set(e, DSV3_ERR_BAD_STATE, "session state: payload of %llu bytes, its header implies %llu",
                           (unsigned long long)h->payload, (unsigned long long)want);
    }
    if (h->payload > (uint64_t)size || (uint64_t)size - h->payload != STATE_HEADER + STATE_TRAILER)
        return err_set(e, DSV3_ERR_BAD_STATE, "session state: %zu bytes, its header says %llu (truncated or padded)",
                       size, (unsigned long long)(h->payload + STATE_HEADER + STATE_TRAILER));
    uint64_t sum = dsv3_hash64_of(b, size - STATE_TRAILER, STATE_SEED);
    if (sum != r64(b + size - STATE_TRAILER))
        return err_set(e, DSV3_ERR_BAD_STATE, "session state is corrupt: checksum mismatch");
    if (h->fp_config != s->m->fp_config)
        return err_set(e, DSV3_ERR_BAD_STATE, "session state is of another model (its configuration differs)");
    if (h->fp_weights != s->m->fp_weights)
        return err_set(e, DSV3_ERR_BAD_STATE,
                       "session state is of other weight files (their sizes or headers differ from this model's)");
    if (!same_kv)
        return err_set(e, DSV3_ERR_BAD_STATE, "session state's KV cache is %s, this session's is %s (kv_type)",
                       kv_name(h->kv_type), kv_name(public_kv_type(s->kv_type)));
    if (h->pos > s->n_ctx)
        return err_set(e, DSV3_ERR_BAD_STATE, "session state holds %d positions: needs n_ctx >= %d, this session has %d",
                       h->pos, h->pos, s->n_ctx);
    if (s->hidden && !(h->flags & FLAG_HIDDEN) && h->pos > h->mtp_pos)
        return err_set(e, DSV3_ERR_BAD_STATE,
                       "session state carries no MTP hidden states (saved with mtp = 0): load it into a session "
                       "created with mtp = 0");
    return DSV3_OK;
}

/* ---- writing: one sink for buffers and files ------------------------------- */

typedef struct writer {
    const dsv3_session *s;
    unsigned char *buf; /* memory sink, or NULL */
    FILE *f;            /* file sink */
    size_t at;
    dsv3_hash64 h;
    int failed;         /* errno of the first failed write */
    unsigned char chunk[1 << 16];
} writer;

static void put(writer *w, const void *p, size_t n) {
    if (w->failed || !n) return;
    dsv3_hash64_update(&w->h, p, n);
    if (w->buf) memcpy(w->buf + w->at, p, n);
    else if (fwrite(p, 1, n, w->f) != n) w->failed = errno ? errno : EIO;
    w->at += n;
}

/* Backend memory goes through to_host, a chunk at a time. */
static void put_backend(writer *w, const void *src, size_t n) {
    const dsv3_model *m = w->s->m;
    for (size_t done = 0; done < n && !w->failed;) {
        size_t c = n - done < sizeof w->chunk ? n - done : sizeof w->chunk;
        m->ops->to_host(m->be, w->chunk, (const char *)src + done, c);
        put(w, w->chunk, c);
        done += c;
    }
}

static void write_state(writer *w, const state_header *h) {
    const dsv3_session *s = w->s;
    const int nl = s->m->cfg.n_layers;
    unsigned char hb[STATE_HEADER];
    encode_header(h, hb);
    dsv3_hash64_init(&w->h, STATE_SEED);
    put(w, hb, sizeof hb);
    for (int il = 0; il < s->n_cache_layers; il++) {
        size_t rows = (size_t)(il < nl ? h->pos : h->mtp_pos);
        put_backend(w, s->kv[il], rows * s->kv_row_bytes);
        put_backend(w, s->pe[il], rows * pe_row(s));
    }
    if (h->flags & FLAG_HIDDEN)
        put_backend(w, (const char *)s->hidden + (size_t)h->mtp_pos * hidden_row(s),
                    (size_t)(h->pos - h->mtp_pos) * hidden_row(s));
    if (h->flags & FLAG_ROUTING) {
        size_t n = (size_t)h->pos * (size_t)s->n_moe * (size_t)h->k;
        put(w, s->rec_ids, n * sizeof *s->rec_ids);
        put(w, s->rec_w, n * sizeof *s->rec_w);
    }
    unsigned char sum[STATE_TRAILER];
    w64(sum, dsv3_hash64_final(&w->h));
    if (!w->failed) {
        /* the trailer is not part of what it sums */
        if (w->buf) memcpy(w->buf + w->at, sum, sizeof sum);
        else if (fwrite(sum, 1, sizeof sum, w->f) != sizeof sum) w->failed = errno ? errno : EIO;
        w->at += sizeof sum;
    }
}

int dsv3_session_save(dsv3_session *s, void *buf, size_t capacity, size_t *size) {
    if (!s) return DSV3_ERR_INVALID_ARG;
    err_clear(&s->err);
    if (!size) return err_set(&s->err, DSV3_ERR_INVALID_ARG, "dsv3_session_save: size is NULL");
    state_header h = header_of(s);
    uint64_t total = h.payload + STATE_HEADER + STATE_TRAILER;
    if (total > (uint64_t)SIZE_MAX) return err_set(&s->err, DSV3_ERR_NO_MEMORY, "session state exceeds the address space");
    *size = (size_t)total;
    if (!buf || capacity < *size)
        return err_set(&s->err, DSV3_ERR_TOO_SMALL, "dsv3_session_save: the state needs %zu bytes, the buffer has %zu",
                       *size, buf ? capacity : 0);
    writer *w = malloc(sizeof *w);
    if (!w) return err_set(&s->err, DSV3_ERR_NO_MEMORY, "out of memory");
    memset(w, 0, offsetof(writer, chunk));
    w->s = s;
    w->buf = buf;
    write_state(w, &h);
    free(w);
    return DSV3_OK;
}

/* ---- reading ----------------------------------------------------------------- */

static int restore(dsv3_session *s, const unsigned char *b, const state_header *h) {
    const dsv3_model *m = s->m;
    const int nl = m->cfg.n_layers;
    const unsigned char *p = b + STATE_HEADER;
    for (int il = 0; il < s->n_cache_layers; il++) {
        size_t rows = (size_t)(il < nl ? h->pos : h->mtp_pos);
        m->ops->from_host(m->be, s->kv[il], p, rows * s->kv_row_bytes);
        p += rows * s->kv_row_bytes;
        m->ops->from_host(m->be, s->pe[il], p, rows * pe_row(s));
        p += rows * pe_row(s);
    }
    if (h->flags & FLAG_HIDDEN) {
        size_t n = (size_t)(h->pos - h->mtp_pos) * hidden_row(s);
        if (s->hidden) m->ops->from_host(m->be, (char *)s->hidden + (size_t)h->mtp_pos * hidden_row(s), p, n);
        p += n;
    }
    if (s->rec_ids) {
        size_t n = (size_t)h->pos * (size_t)s->n_moe * (size_t)h->k;
        if (h->flags & FLAG_ROUTING) {
            memcpy(s->rec_ids, p, n * sizeof *s->rec_ids);
            memcpy(s->rec_w, p + n * sizeof *s->rec_ids, n * sizeof *s->rec_w);
        } else { /* not recorded by the saver: documented as id -1, weight 0 */
            for (size_t i = 0; i < n; i++) {
                s->rec_ids[i] = -1;
                s->rec_w[i] = 0.0f;
            }
        }
    }
    s->pos = h->pos;
    s->mtp_pos = h->mtp_pos;
    return DSV3_OK;
}

int dsv3_session_load(dsv3_session *s, const void *buf, size_t size) {
    if (!s) return DSV3_ERR_INVALID_ARG;
    err_clear(&s->err);
    if (!buf) return err_set(&s->err, DSV3_ERR_INVALID_ARG, "dsv3_session_load: buf is NULL");
    state_header h;
    int rc = decode_header(buf, size, &h, &s->err);
    if (!rc) rc = check_fits(s, &h, size, buf, &s->err);
    if (rc) return rc;
    return restore(s, buf, &h);
}

/* ---- files ------------------------------------------------------------------- */

int dsv3_session_save_file(dsv3_session *s, const char *path) {
    if (!s) return DSV3_ERR_INVALID_ARG;
    err_clear(&s->err);
    if (!path || !*path) return err_set(&s->err, DSV3_ERR_INVALID_ARG, "dsv3_session_save_file: path is NULL or empty");
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 8);
    writer *w = malloc(sizeof *w);
    if (!tmp || !w) {
        free(tmp);
        free(w);
        return err_set(&s->err, DSV3_ERR_NO_MEMORY, "out of memory");
    }
    memcpy(tmp, path, pl);
    memcpy(tmp + pl, ".XXXXXX", 8);
    int rc = DSV3_OK, fd = mkstemp(tmp);
    if (fd < 0) {
        int err = errno;
        rc = err_set(&s->err, dsv3_errno_status(err), "%s: cannot create: %s", tmp, strerror(err));
        goto done;
    }
    memset(w, 0, offsetof(writer, chunk));
    w->s = s;
    w->f = fdopen(fd, "wb");
    if (!w->f) {
        int err = errno;
        close(fd);
        unlink(tmp);
        rc = err_set(&s->err, dsv3_errno_status(err), "%s: %s", tmp, strerror(err));
        goto done;
    }
    state_header h = header_of(s);
    write_state(w, &h);
    if (!w->failed && fflush(w->f) != 0) w->failed = errno ? errno : EIO;
    if (!w->failed && fsync(fileno(w->f)) != 0 && errno != EINVAL) w->failed = errno;
    if (fclose(w->f) != 0 && !w->failed) w->failed = errno ? errno : EIO;
    if (!w->failed && rename(tmp, path) != 0) w->failed = errno;
    if (w->failed) {
        unlink(tmp);
        rc = err_set(&s->err, w->failed == ENOMEM ? DSV3_ERR_NO_MEMORY : DSV3_ERR_IO, "%s: cannot write the session state: %s",
                     path, strerror(w->failed));
    }
done:
    free(tmp);
    free(w);
    return rc;
}

int dsv3_session_load_file(dsv3_session *s, const char *path) {
    if (!s) return DSV3_ERR_INVALID_ARG;
    err_clear(&s->err);
    if (!path || !*path) return err_set(&s->err, DSV3_ERR_INVALID_ARG, "dsv3_session_load_file: path is NULL or empty");
    FILE *f = fopen(path, "rb");
    if (!f) {
        int err = errno;
        return err_set(&s->err, dsv3_errno_status(err), "%s: cannot open: %s", path, strerror(err));
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return err_set(&s->err, DSV3_ERR_IO, "%s: not a regular file", path);
    }
    /* Never allocate more than the largest state this session could hold,
     * whatever the file claims. */
    uint64_t most = payload_bytes(s, s->n_ctx, s->n_ctx, FLAG_HIDDEN | (s->rec_ids ? FLAG_ROUTING : 0)) +
                    (uint64_t)hidden_row(s) * (uint64_t)s->n_ctx + STATE_HEADER + STATE_TRAILER;
    if ((uint64_t)st.st_size > most) {
        /* say why when the header tells (another model or kv_type) */
        unsigned char hb[STATE_HEADER + STATE_TRAILER];
        state_header h;
        size_t hn = fread(hb, 1, sizeof hb, f);
        fclose(f);
        dsv3_err he;
        err_clear(&he);
        int rc = decode_header(hb, hn, &h, &he);
        if (!rc && h.kv_type != public_kv_type(s->kv_type))
            rc = err_set(&he, DSV3_ERR_BAD_STATE, "session state's KV cache is %s, this session's is %s (kv_type)",
                         kv_name(h.kv_type), kv_name(public_kv_type(s->kv_type)));
        else if (!rc && h.pos > s->n_ctx)
            rc = err_set(&he, DSV3_ERR_BAD_STATE, "session state holds %d positions: needs n_ctx >= %d, this session has %d",
                         h.pos, h.pos, s->n_ctx);
        if (rc) return err_set(&s->err, rc, "%s: %s", path, he.msg);
        return err_set(&s->err, DSV3_ERR_BAD_STATE,
                       "%s: %llu bytes is more than any state of this session (at most %llu): not a state of this "
                       "session's model and kv_type", path, (unsigned long long)st.st_size, (unsigned long long)most);
    }
    size_t n = (size_t)st.st_size;
    unsigned char *b = malloc(n ? n : 1);
    if (!b) {
        fclose(f);
        return err_set(&s->err, DSV3_ERR_NO_MEMORY, "%s: cannot allocate %zu bytes to read the state", path, n);
    }
    size_t got = fread(b, 1, n, f);
    int rerr = ferror(f) ? (errno ? errno : EIO) : 0;
    fclose(f);
    int rc;
    if (rerr) rc = err_set(&s->err, DSV3_ERR_IO, "%s: read failed: %s", path, strerror(rerr));
    else rc = dsv3_session_load(s, b, got);
    if (rc && rc != DSV3_ERR_IO && s->err.msg[0]) {
        /* name the file in the load's message */
        char msg[DSV3_ERR_MSG_SIZE];
        snprintf(msg, sizeof msg, "%s", s->err.msg);
        err_set(&s->err, rc, "%s: %s", path, msg);
    }
    free(b);
    return rc;
}
