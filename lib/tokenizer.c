/* tokenizer.c -- the tokenizer's public API: building from a tok_desc,
 * added-token matching, encoding, decoding with lossy UTF-8, streaming.
 *
 * Invalid UTF-8 (input and output) is handled the same way everywhere: each
 * maximal subpart of an ill-formed sequence becomes one U+FFFD (Unicode's
 * "best practice", as Python's errors="replace", Rust's
 * String::from_utf8_lossy and the WHATWG decoder do). A maximal subpart is
 * the longest prefix of a well-formed sequence (a lead byte followed by
 * continuation bytes in the ranges that byte allows: E0 A0-BF, ED 80-9F,
 * F0 90-BF, F4 80-8F, otherwise 80-BF); a byte that cannot start one (80-C1,
 * F5-FF) is a subpart of its own. Encoding replaces them in the input
 * before anything else (so bytes EF BF BD, token "ï¿½", stand for each);
 * decoding replaces them in the joined bytes of the tokens. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "bpe.h"
#include "dsv3.h"
#include "err.h"
#include "mapfile.h"
#include "pretokenize.h"
#include "tokenizer.h"

/* ---- lossy UTF-8 ------------------------------------------------------------ */

static const char REPLACEMENT[3] = {(char)0xEF, (char)0xBF, (char)0xBD}; /* U+FFFD */

/* Output that counts everything and stores what fits. */
typedef struct outbuf {
    char *p;
    size_t cap;
    size_t len;
} outbuf;

static void out_bytes(outbuf *o, const void *s, size_t k) {
    if (o->len < o->cap) {
        size_t room = o->cap - o->len;
        memcpy(o->p + o->len, s, k < room ? k : room);
    }
    o->len = k <= SIZE_MAX - o->len ? o->len + k : SIZE_MAX;
}

/* Incremental decoder: pending holds a proper prefix of a well-formed
 * multi-byte sequence, so the result never depends on where the input was
 * cut into chunks. */
typedef struct u8dec {
    unsigned char pending[4];
    unsigned n;    /* bytes pending */
    unsigned need; /* length of the sequence they start */
} u8dec;

static void u8_feed(u8dec *d, const unsigned char *s, size_t n, outbuf *o) {
    size_t i = 0;
    while (i < n) {
        if (d->n == 0) {
            size_t j = i;
            while (j < n && s[j] < 0x80) j++;
            if (j > i) {
                out_bytes(o, s + i, j - i);
                i = j;
                continue;
            }
            unsigned b = s[i++];
            if (b >= 0xC2 && b <= 0xDF) d->need = 2;
            else if (b >= 0xE0 && b <= 0xEF) d->need = 3;
            else if (b >= 0xF0 && b <= 0xF4) d->need = 4;
            else {
                out_bytes(o, REPLACEMENT, 3);
                continue;
            }
            d->pending[0] = (unsigned char)b;
            d->n = 1;
            continue;
        }
        unsigned b = s[i], lo = 0x80, hi = 0xBF;
        if (d->n == 1) {
            switch (d->pending[0]) {
            case 0xE0: lo = 0xA0; break;
            case 0xED: hi = 0x9F; break;
            case 0xF0: lo = 0x90; break;
            case 0xF4: hi = 0x8F; break;
            default: break;
            }
        }
        if (b < lo || b > hi) { /* the pending bytes are a maximal subpart; b starts afresh */
            out_bytes(o, REPLACEMENT, 3);
            d->n = 0;
            continue;
        }
        d->pending[d->n++] = (unsigned char)b;
        i++;
        if (d->n == d->need) {
            out_bytes(o, d->pending, d->n);
            d->n = 0;
        }
    }
}

static void u8_finish(u8dec *d, outbuf *o) {
    if (d->n) out_bytes(o, REPLACEMENT, 3);
    d->n = 0;
}

/* Length of the well-formed prefix of s[0..n). */
static size_t utf8_valid_len(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned b = s[i];
        if (b < 0x80) {
            i++;
            continue;
        }
        size_t need;
        unsigned lo = 0x80, hi = 0xBF;
        if (b >= 0xC2 && b <= 0xDF) need = 2;
        else if (b >= 0xE0 && b <= 0xEF) need = 3;
        else if (b >= 0xF0 && b <= 0xF4) need = 4;
        else return i;
        if (b == 0xE0) lo = 0xA0;
        else if (b == 0xED) hi = 0x9F;
        else if (b == 0xF0) lo = 0x90;
        else if (b == 0xF4) hi = 0x8F;
        if (n - i < need) return i;
        if (s[i + 1] < lo || s[i + 1] > hi) return i;
        for (size_t k = 2; k < need; k++)
            if ((s[i + k] & 0xC0) != 0x80) return i;
        i += need;
    }
    return n;
}

/* The code point at s (well-formed UTF-8 of n bytes left); 0 bytes read
 * when ill-formed. */
static uint32_t utf8_decode_checked(const unsigned char *s, size_t n, size_t *len) {
    size_t l = utf8_valid_len(s, n < 4 ? n : 4);
    *len = 0;
    if (l == 0) return 0;
    unsigned b = s[0];
    if (b < 0x80) {
        *len = 1;
        return b;
    }
    if (b < 0xE0) {
        *len = 2;
        return ((uint32_t)(b & 0x1F) << 6) | (s[1] & 0x3Fu);
    }
    if (b < 0xF0) {
        *len = 3;
        return ((uint32_t)(b & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3Fu);
    }
    *len = 4;
    return ((uint32_t)(b & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) | ((uint32_t)(s[2] & 0x3F) << 6) |
           (s[3] & 0x3Fu);
}

static size_t utf8_encode(uint32_t cp, unsigned char *out) {
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | (cp >> 12));
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | (cp >> 18));
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- building ---------------------------------------------------------------- */

/* Ids above this are refused (the per-id table is dense). */
#define TOK_MAX_ID ((int32_t)1 << 26)

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = UINT64_C(0xcbf29ce484222325); /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h ^ (h >> 29);
}

/* String -> index into desc->vocab, for the build only. */
typedef struct str_index {
    int32_t *slots; /* index into strs, -1: free */
    size_t mask;
    const tok_str *strs;
} str_index;

static int str_index_init(str_index *x, const tok_str *strs, size_t n) {
    size_t size = 16;
    while (size < n * 2) {
        if (size > SIZE_MAX / 4 / sizeof(int32_t)) return -1;
        size *= 2;
    }
    x->slots = malloc(size * sizeof *x->slots);
    if (!x->slots) return -1;
    for (size_t i = 0; i < size; i++) x->slots[i] = -1;
    x->mask = size - 1;
    x->strs = strs;
    for (size_t i = 0; i < n; i++) {
        size_t h = (size_t)hash_bytes(strs[i].s, strs[i].len) & x->mask;
        for (;;) {
            int32_t k = x->slots[h];
            if (k < 0) {
                x->slots[h] = (int32_t)i;
                break;
            }
            if (strs[k].len == strs[i].len && !memcmp(strs[k].s, strs[i].s, strs[i].len)) {
                x->slots[h] = (int32_t)i; /* a repeated string: the later entry wins */
                break;
            }
            h = (h + 1) & x->mask;
        }
    }
    return 0;
}

static int32_t str_index_find(const str_index *x, const char *s, size_t n) {
    size_t h = (size_t)hash_bytes(s, n) & x->mask;
    for (;;) {
        int32_t k = x->slots[h];
        if (k < 0) return -1;
        if (x->strs[k].len == n && !memcmp(x->strs[k].s, s, n)) return k;
        h = (h + 1) & x->mask;
    }
}

/* Trie of added tokens. */
static int trie_add_node(tok_trie *t, uint8_t byte) {
    if (t->n == t->cap) {
        size_t c = t->cap ? t->cap * 2 : 256;
        tok_trie_node *p = realloc(t->nodes, c * sizeof *p);
        if (!p) return -1;
        t->nodes = p;
        t->cap = c;
    }
    tok_trie_node *nd = &t->nodes[t->n];
    nd->child = nd->sibling = nd->id = -1;
    nd->byte = byte;
    return (int)t->n++;
}

static int trie_insert(tok_trie *t, const char *s, size_t n, int32_t id) {
    if (t->n == 0 && trie_add_node(t, 0) < 0) return -1;
    int32_t cur = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t b = (uint8_t)s[i];
        int32_t c = t->nodes[cur].child;
        while (c >= 0 && t->nodes[c].byte != b) c = t->nodes[c].sibling;
        if (c < 0) {
            int k = trie_add_node(t, b);
            if (k < 0) return -1;
            c = k;
            t->nodes[c].sibling = t->nodes[cur].child;
            t->nodes[cur].child = c;
        }
        cur = c;
    }
    t->nodes[cur].id = id; /* repeated content: the later token wins */
    t->first[(uint8_t)s[0] >> 3] |= (uint8_t)(1u << ((uint8_t)s[0] & 7));
    return 0;
}

/* Longest token at s[0..n): its id and byte length, or -1. */
static int32_t trie_longest(const tok_trie *t, const unsigned char *s, size_t n, size_t *mlen) {
    int32_t best = -1, cur = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t c = t->nodes[cur].child;
        while (c >= 0 && t->nodes[c].byte != s[i]) c = t->nodes[c].sibling;
        if (c < 0) break;
        cur = c;
        if (t->nodes[c].id >= 0) {
            best = t->nodes[c].id;
            *mlen = i + 1;
        }
    }
    return best;
}

/* Exact lookup in the trie: the id of exactly s[0..n), or -1. */
static int32_t trie_exact(const tok_trie *t, const char *s, size_t n) {
    if (t->n == 0) return -1;
    int32_t cur = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t c = t->nodes[cur].child;
        while (c >= 0 && t->nodes[c].byte != (uint8_t)s[i]) c = t->nodes[c].sibling;
        if (c < 0) return -1;
        cur = c;
    }
    return t->nodes[cur].id;
}

/* The bytes a token decodes to, as the ByteLevel decoder does it: when
 * every character is a byte-level symbol, the bytes they stand for;
 * otherwise (e.g. "<｜User｜>") the token's own UTF-8 bytes. Writes to out
 * (room for len bytes) and returns the length. */
static size_t token_decoded_bytes(const char *s, size_t len, char *out) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, k = 0;
    while (i < len) {
        size_t l;
        uint32_t cp = utf8_decode_checked(u + i, len - i, &l);
        int b = l ? bytelevel_byte(cp) : -1;
        if (b < 0) {
            memcpy(out, s, len);
            return len;
        }
        out[k++] = (char)b;
        i += l;
    }
    return k;
}

static char *dup_str(const char *s, size_t n) {
    char *p = malloc(n + 1);
    if (!p) return NULL;
    if (n) memcpy(p, s, n);
    p[n] = 0;
    return p;
}

void dsv3_tokenizer_free(dsv3_tokenizer *tok) {
    if (!tok) return;
    free(tok->entries);
    free(tok->pool);
    bpe_model_free(&tok->bpe);
    for (int i = 0; i < 2; i++) free(tok->added[i].nodes);
    free(tok->bos_text);
    free(tok->eos_text);
    free(tok->chat_template);
    free(tok);
}

/* BOS/EOS: by id, else by text among the added tokens, then the vocab. */
static int32_t resolve_special(const dsv3_tokenizer *t, const str_index *vx, const tok_desc *d, int32_t id,
                               tok_str text) {
    if (id >= 0) return id < t->n_ids && (t->entries[id].flags & TOK_F_VALID) ? id : -1;
    if (!text.s) return -1;
    for (int pass = 0; pass < 2; pass++) {
        int32_t a = trie_exact(&t->added[pass], text.s, text.len);
        if (a >= 0) return a;
    }
    int32_t k = str_index_find(vx, text.s, text.len);
    return k >= 0 ? d->vocab_ids[k] : -1;
}

static int build(const tok_desc *d, dsv3_tokenizer *t, str_index *vx, dsv3_err *e) {
    const char *src = d->source ? d->source : "tokenizer";
    t->pretok = d->pretok;
    if (t->pretok != TOK_PRETOK_DEEPSEEK_V3) return err_set(e, DSV3_ERR_UNSUPPORTED, "%s: unknown pre-tokenizer", src);

    /* Ids and the per-id table. */
    int32_t max_id = -1;
    for (size_t i = 0; i < d->n_vocab; i++) {
        int32_t id = d->vocab_ids[i];
        if (id < 0 || id >= TOK_MAX_ID)
            return err_set(e, DSV3_ERR_BAD_FILE, "%s: vocab entry \"%.*s\" has id %d, outside [0, %d)", src,
                           (int)(d->vocab[i].len > 64 ? 64 : d->vocab[i].len), d->vocab[i].s, (int)id, (int)TOK_MAX_ID);
        if (id > max_id) max_id = id;
    }
    for (size_t i = 0; i < d->n_added; i++) {
        int32_t id = d->added[i].id;
        if (id < 0 || id >= TOK_MAX_ID)
            return err_set(e, DSV3_ERR_BAD_FILE, "%s: added token %zu has id %d, outside [0, %d)", src, i, (int)id,
                           (int)TOK_MAX_ID);
        if (id > max_id) max_id = id;
    }
    if (max_id < 0) return err_set(e, DSV3_ERR_BAD_FILE, "%s: the vocabulary is empty", src);
    t->n_ids = max_id + 1;
    t->entries = calloc((size_t)t->n_ids, sizeof *t->entries);
    if (!t->entries) return err_set(e, DSV3_ERR_NO_MEMORY, "%s: out of memory", src);

    /* Token bytes: added tokens take precedence over the vocab for an id
     * that is in both (the decoder asks the added vocabulary first). */
    size_t pool_size = 0;
    for (size_t i = 0; i < d->n_vocab; i++) pool_size += d->vocab[i].len;
    for (size_t i = 0; i < d->n_added; i++) pool_size += d->added[i].content.len;
    if (pool_size > UINT32_MAX) return err_set(e, DSV3_ERR_BAD_FILE, "%s: the tokens are too long", src);
    t->pool = malloc(pool_size ? pool_size : 1);
    if (!t->pool) return err_set(e, DSV3_ERR_NO_MEMORY, "%s: out of memory", src);
    size_t used = 0;
    for (size_t i = 0; i < d->n_added; i++) {
        const tok_added *a = &d->added[i];
        tok_entry *en = &t->entries[a->id];
        en->off = (uint32_t)used;
        en->len = (uint32_t)token_decoded_bytes(a->content.s, a->content.len, t->pool + used);
        en->flags = TOK_F_VALID | TOK_F_ADDED | (a->special ? TOK_F_SPECIAL : 0);
        used += en->len;
    }
    for (size_t i = 0; i < d->n_vocab; i++) {
        tok_entry *en = &t->entries[d->vocab_ids[i]];
        if (en->flags & TOK_F_ADDED) continue;
        en->off = (uint32_t)used;
        en->len = (uint32_t)token_decoded_bytes(d->vocab[i].s, d->vocab[i].len, t->pool + used);
        en->flags = TOK_F_VALID;
        used += en->len;
    }
    for (int32_t id = 0; id < t->n_ids; id++)
        if (t->entries[id].len > t->max_token_len) t->max_token_len = t->entries[id].len;

    /* Added tokens: two tries, matched in order. */
    for (size_t i = 0; i < d->n_added; i++) {
        const tok_added *a = &d->added[i];
        if (!a->content.len) continue;
        if (trie_insert(&t->added[a->normalized ? 1 : 0], a->content.s, a->content.len, a->id))
            return err_set(e, DSV3_ERR_NO_MEMORY, "%s: out of memory", src);
    }

    /* Vocab index, for merges and names. */
    if (str_index_init(vx, d->vocab, d->n_vocab)) return err_set(e, DSV3_ERR_NO_MEMORY, "%s: out of memory", src);
    /* The decoder skips every token whose text is a special added token's,
     * so a vocab entry spelled like one is special too. */
    for (size_t i = 0; i < d->n_added; i++) {
        if (!d->added[i].special) continue;
        int32_t k = str_index_find(vx, d->added[i].content.s, d->added[i].content.len);
        if (k >= 0) t->entries[d->vocab_ids[k]].flags |= TOK_F_SPECIAL;
    }

    /* BPE: the symbol of each byte, then the merges. */
    if (bpe_model_init(&t->bpe, d->n_merges)) return err_set(e, DSV3_ERR_NO_MEMORY, "%s: out of memory", src);
    for (int b = 0; b < 256; b++) {
        unsigned char u[4];
        size_t l = utf8_encode(bytelevel_cp((uint8_t)b), u);
        int32_t k = str_index_find(vx, (const char *)u, l);
        t->bpe.byte_id[b] = k >= 0 ? d->vocab_ids[k] : -1;
    }
    char *cat = NULL;
    size_t cat_cap = 0;
    int rc = DSV3_OK;
    for (size_t r = 0; r < d->n_merges && !rc; r++) {
        const tok_str *l = &d->merges[2 * r], *rr = &d->merges[2 * r + 1];
        int32_t kl = str_index_find(vx, l->s, l->len);
        int32_t kr = str_index_find(vx, rr->s, rr->len);
        if (kl < 0 || kr < 0) {
            rc = err_set(e, DSV3_ERR_BAD_FILE, "%s: merge %zu (\"%.*s\" \"%.*s\"): \"%.*s\" is not in the vocab", src, r,
                         (int)(l->len > 64 ? 64 : l->len), l->s, (int)(rr->len > 64 ? 64 : rr->len), rr->s,
                         (int)(kl < 0 ? (l->len > 64 ? 64 : l->len) : (rr->len > 64 ? 64 : rr->len)),
                         kl < 0 ? l->s : rr->s);
            break;
        }
        size_t n = l->len + rr->len;
        if (n > cat_cap) {
            size_t c = n * 2 + 64;
            char *p = realloc(cat, c);
            if (!p) {
                rc = err_set(e, DSV3_ERR_NO_MEMORY, "%s: out of memory", src);
                break;
            }
            cat = p;
            cat_cap = c;
        }
        memcpy(cat, l->s, l->len);
        memcpy(cat + l->len, rr->s, rr->len);
        int32_t kn = str_index_find(vx, cat, n);
        if (kn < 0) {
            rc = err_set(e, DSV3_ERR_BAD_FILE, "%s: merge %zu (\"%.*s\" \"%.*s\"): the result is not in the vocab", src,
                         r, (int)(l->len > 64 ? 64 : l->len), l->s, (int)(rr->len > 64 ? 64 : rr->len), rr->s);
            break;
        }
        bpe_model_set(&t->bpe, d->vocab_ids[kl], d->vocab_ids[kr], (uint32_t)r, d->vocab_ids[kn]);
    }
    free(cat);
    if (rc) return rc;

    /* BOS / EOS and the texts the chat template needs. */
    t->bos = resolve_special(t, vx, d, d->bos_id, d->bos_text);
    t->eos = resolve_special(t, vx, d, d->eos_id, d->eos_text);
    t->add_bos = d->add_bos && t->bos >= 0;
    const tok_str *texts[2] = {&d->bos_text, &d->eos_text};
    int32_t ids[2] = {t->bos, t->eos};
    char **dst[2] = {&t->bos_text, &t->eos_text};
    for (int k = 0; k < 2; k++) {
        const char *s = texts[k]->s;
        size_t n = texts[k]->len;
        if (!s && ids[k] >= 0) { /* no text given: the token's own */
            s = t->pool + t->entries[ids[k]].off;
            n = t->entries[ids[k]].len;
        }
        if (s && !(*dst[k] = dup_str(s, n))) return err_set(e, DSV3_ERR_NO_MEMORY, "%s: out of memory", src);
    }
    if (d->chat_template.s && !(t->chat_template = dup_str(d->chat_template.s, d->chat_template.len)))
        return err_set(e, DSV3_ERR_NO_MEMORY, "%s: out of memory", src);
    return DSV3_OK;
}

int tokenizer_build(const tok_desc *d, dsv3_tokenizer **out, dsv3_err *e) {
    *out = NULL;
    dsv3_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return err_set(e, DSV3_ERR_NO_MEMORY, "out of memory");
    t->bos = t->eos = -1;
    str_index vx = {0};
    int rc = build(d, t, &vx, e);
    free(vx.slots);
    if (rc) {
        dsv3_tokenizer_free(t);
        return rc;
    }
    *out = t;
    return DSV3_OK;
}

/* ---- loading -------------------------------------------------------------------- */

int dsv3_tokenizer_load(const char *path, dsv3_tokenizer **out, char *err, size_t err_size) {
    dsv3_err e;
    err_clear(&e);
    if (err && err_size) err[0] = 0;
    if (!out || !path || !*path) {
        if (out) *out = NULL;
        err_set(&e, DSV3_ERR_INVALID_ARG, "dsv3_tokenizer_load: %s", !out ? "out is NULL" : "path is NULL or empty");
        err_copy_out(&e, err, err_size);
        return e.status;
    }
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0) {
        int serr = errno;
        err_set(&e, dsv3_errno_status(serr), "%s: %s", path, strerror(serr));
        err_copy_out(&e, err, err_size);
        return e.status;
    }
    /* A GGUF file carries its tokenizer in its metadata. */
    if (S_ISREG(st.st_mode)) {
        char magic[4] = {0};
        FILE *gf = fopen(path, "rb");
        size_t got = gf ? fread(magic, 1, sizeof magic, gf) : 0;
        if (gf) fclose(gf);
        if (got == sizeof magic && !memcmp(magic, "GGUF", 4)) {
            int grc = tokenizer_load_gguf(path, out, &e);
            if (grc) {
                if (!e.msg[0]) err_set(&e, grc, "%s: %s", path, dsv3_status_string(grc));
                err_copy_out(&e, err, err_size);
                *out = NULL;
            }
            return grc;
        }
    }
    /* A directory holds both files; a file path has its config beside it. */
    size_t plen = strlen(path);
    size_t cap = plen + 32;
    char *json_path = malloc(cap), *config_path = malloc(cap);
    int rc;
    if (!json_path || !config_path) {
        rc = err_set(&e, DSV3_ERR_NO_MEMORY, "out of memory");
    } else {
        if (S_ISDIR(st.st_mode)) {
            const char *sep = path[plen - 1] == '/' ? "" : "/";
            snprintf(json_path, cap, "%s%stokenizer.json", path, sep);
            snprintf(config_path, cap, "%s%stokenizer_config.json", path, sep);
        } else {
            memcpy(json_path, path, plen + 1);
            size_t dir = plen;
            while (dir > 0 && path[dir - 1] != '/') dir--;
            memcpy(config_path, path, dir);
            memcpy(config_path + dir, "tokenizer_config.json", sizeof "tokenizer_config.json");
        }
        rc = tokenizer_load_hf(json_path, config_path, out, &e);
    }
    free(json_path);
    free(config_path);
    if (rc) {
        if (!e.msg[0]) err_set(&e, rc, "%s: %s", path, dsv3_status_string(rc));
        err_copy_out(&e, err, err_size);
        *out = NULL;
    }
    return rc;
}

/* ---- accessors ------------------------------------------------------------------ */

int32_t dsv3_tokenizer_n_vocab(const dsv3_tokenizer *tok) { return tok ? tok->n_ids : 0; }
int32_t dsv3_tokenizer_bos(const dsv3_tokenizer *tok) { return tok ? tok->bos : -1; }
int32_t dsv3_tokenizer_eos(const dsv3_tokenizer *tok) { return tok ? tok->eos : -1; }
int dsv3_tokenizer_add_bos(const dsv3_tokenizer *tok) { return tok ? tok->add_bos : 0; }

int dsv3_tokenizer_is_special(const dsv3_tokenizer *tok, int32_t id) {
    if (!tok || id < 0 || id >= tok->n_ids) return 0;
    return (tok->entries[id].flags & TOK_F_SPECIAL) != 0;
}

const char *tokenizer_chat_template(const dsv3_tokenizer *tok) { return tok ? tok->chat_template : NULL; }
const char *tokenizer_bos_text(const dsv3_tokenizer *tok) { return tok ? tok->bos_text : NULL; }
const char *tokenizer_eos_text(const dsv3_tokenizer *tok) { return tok ? tok->eos_text : NULL; }

int dsv3_token_bytes(const dsv3_tokenizer *tok, int32_t id, const char **bytes, size_t *len) {
    if (!tok || !bytes || !len) return DSV3_ERR_INVALID_ARG;
    if (id < 0 || id >= tok->n_ids || !(tok->entries[id].flags & TOK_F_VALID)) {
        *bytes = NULL;
        *len = 0;
        return DSV3_ERR_BAD_TOKEN;
    }
    *bytes = tok->pool + tok->entries[id].off;
    *len = tok->entries[id].len;
    return DSV3_OK;
}

/* ---- encoding ---------------------------------------------------------------------
 * Added tokens are found first, leftmost-longest, in two passes as Hugging
 * Face does: tokens with normalized=false in the raw text, then tokens with
 * normalized=true in what lies between (the normalizer is empty here). The
 * remaining stretches go through the pre-tokenizer, and each piece through
 * BPE. */

/* A per-call cache of short pieces and their ids: text repeats its words,
 * and BPE costs far more than a hash lookup. Each dsv3_tokenize call owns
 * its cache (the tokenizer is shared between threads and never written),
 * sets one up only for long texts, and stops adding entries when full. */
#ifndef CACHE_MIN_TEXT /* (a test may build with another value) */
#define CACHE_MIN_TEXT 4096     /* bytes of text before a cache pays off */
#endif
#define CACHE_MAX_PIECE 48      /* longer pieces are not cached           */
#define CACHE_MAX_ENTRIES 65536 /* at most; fewer for shorter texts       */

typedef struct cache_entry {
    uint64_t hash;
    uint32_t piece_off; /* into bytes                                     */
    uint32_t ids_off;   /* into ids                                       */
    uint8_t piece_len;
    uint8_t n_ids;
} cache_entry;

typedef struct piece_cache {
    uint32_t *slots; /* 2 * cap: entry index + 1; 0: empty              */
    cache_entry *entries;
    size_t n, cap;
    char *bytes;     /* cap * CACHE_MAX_PIECE                            */
    int32_t *ids;    /* the same number of ids                          */
    size_t bytes_used, ids_used;
} piece_cache;

/* Room for about one entry per 16 bytes of text, a power of two. */
static int cache_init(piece_cache *pc, size_t text_len) {
    size_t cap = 256;
    while (cap < CACHE_MAX_ENTRIES && cap * 16 < text_len) cap *= 2;
    pc->cap = cap;
    pc->slots = calloc(2 * cap, sizeof *pc->slots);
    pc->entries = malloc(cap * sizeof *pc->entries);
    pc->bytes = malloc(cap * CACHE_MAX_PIECE);
    pc->ids = malloc(cap * CACHE_MAX_PIECE * sizeof *pc->ids);
    return pc->slots && pc->entries && pc->bytes && pc->ids ? 0 : -1;
}

static void cache_free(piece_cache *pc) {
    free(pc->slots);
    free(pc->entries);
    free(pc->bytes);
    free(pc->ids);
    memset(pc, 0, sizeof *pc);
}

static uint64_t piece_hash(const char *s, size_t n) {
    uint64_t h = (uint64_t)n * UINT64_C(0x9E3779B97F4A7C15);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        h = (h ^ w) * UINT64_C(0xFF51AFD7ED558CCD);
        h ^= h >> 32;
    }
    uint64_t w = 0;
    memcpy(&w, s + i, n - i);
    h = (h ^ w) * UINT64_C(0xC4CEB9FE1A85EC53);
    return h ^ (h >> 29);
}

typedef struct enc_ctx {
    const dsv3_tokenizer *tok;
    bpe_work work;
    bpe_out out;
    piece_cache cache; /* slots == NULL: no cache */
} enc_ctx;

static int on_piece(void *ctx, const char *piece, size_t n) {
    enc_ctx *c = ctx;
    piece_cache *pc = &c->cache;
    if (!pc->slots || n > CACHE_MAX_PIECE)
        return bpe_encode(&c->tok->bpe, (const unsigned char *)piece, n, &c->work, &c->out) ? DSV3_ERR_NO_MEMORY : 0;
    uint64_t h = piece_hash(piece, n);
    size_t mask = 2 * pc->cap - 1, i = (size_t)h & mask;
    for (uint32_t k; (k = pc->slots[i]) != 0; i = (i + 1) & mask) {
        const cache_entry *en = &pc->entries[k - 1];
        if (en->hash == h && en->piece_len == n && !memcmp(pc->bytes + en->piece_off, piece, n)) {
            for (unsigned j = 0; j < en->n_ids; j++) bpe_out_push(&c->out, pc->ids[en->ids_off + j]);
            return 0;
        }
    }
    /* A miss: encode into a local buffer (a piece has at most n ids). */
    int32_t ids[CACHE_MAX_PIECE];
    bpe_out local = {ids, CACHE_MAX_PIECE, 0};
    if (bpe_encode(&c->tok->bpe, (const unsigned char *)piece, n, &c->work, &local)) return DSV3_ERR_NO_MEMORY;
    for (size_t j = 0; j < local.n; j++) bpe_out_push(&c->out, ids[j]);
    if (pc->n < pc->cap) { /* slot i is the empty one the probe ended on */
        cache_entry *en = &pc->entries[pc->n];
        en->hash = h;
        en->piece_off = (uint32_t)pc->bytes_used;
        en->ids_off = (uint32_t)pc->ids_used;
        en->piece_len = (uint8_t)n;
        en->n_ids = (uint8_t)local.n;
        memcpy(pc->bytes + pc->bytes_used, piece, n);
        memcpy(pc->ids + pc->ids_used, ids, local.n * sizeof *ids);
        pc->bytes_used += n;
        pc->ids_used += local.n;
        pc->slots[i] = (uint32_t)++pc->n;
    }
    return 0;
}

static int encode_plain(enc_ctx *c, const char *s, size_t n) {
    return n ? pretokenize_deepseek_v3(s, n, on_piece, c) : 0;
}

/* pass 0 and 1: added tokens of that trie; pass 2: plain text. */
static int encode_pass(enc_ctx *c, const char *text, size_t n, int pass) {
    if (n == 0) return 0;
    if (pass == 2) return encode_plain(c, text, n);
    const tok_trie *t = &c->tok->added[pass];
    if (t->n == 0) return encode_pass(c, text, n, pass + 1);
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0, gap = 0;
    while (i < n) {
        if (!(t->first[s[i] >> 3] & (1u << (s[i] & 7)))) {
            i++;
            continue;
        }
        size_t mlen = 0;
        int32_t id = trie_longest(t, s + i, n - i, &mlen);
        if (id < 0) {
            i++;
            continue;
        }
        int rc = encode_pass(c, text + gap, i - gap, pass + 1);
        if (rc) return rc;
        bpe_out_push(&c->out, id);
        i = gap = i + mlen;
    }
    return encode_pass(c, text + gap, n - gap, pass + 1);
}

int tokenizer_encode(const dsv3_tokenizer *tok, const char *text, size_t len, unsigned flags, int32_t *ids,
                     size_t capacity, size_t *n_ids, dsv3_err *e) {
    if (n_ids) *n_ids = 0;
    if (!tok) return err_set(e, DSV3_ERR_INVALID_ARG, "dsv3_tokenize: tok is NULL");
    if (!text && len) return err_set(e, DSV3_ERR_INVALID_ARG, "dsv3_tokenize: text is NULL");
    if (!ids && capacity) return err_set(e, DSV3_ERR_INVALID_ARG, "dsv3_tokenize: ids is NULL with capacity %zu", capacity);
    if (flags & ~(DSV3_TOKENIZE_ADD_BOS | DSV3_TOKENIZE_NO_ADDED))
        return err_set(e, DSV3_ERR_INVALID_ARG, "dsv3_tokenize: unknown flags 0x%x", flags);

    /* Ill-formed UTF-8: work on a copy with U+FFFD for each maximal subpart. */
    char *fixed = NULL;
    if (len && utf8_valid_len((const unsigned char *)text, len) != len) {
        u8dec d = {{0}, 0, 0};
        outbuf count = {NULL, 0, 0};
        u8_feed(&d, (const unsigned char *)text, len, &count);
        u8_finish(&d, &count);
        fixed = malloc(count.len ? count.len : 1);
        if (!fixed) return err_set(e, DSV3_ERR_NO_MEMORY, "dsv3_tokenize: out of memory");
        outbuf o = {fixed, count.len, 0};
        u8_feed(&d, (const unsigned char *)text, len, &o);
        u8_finish(&d, &o);
        text = fixed;
        len = o.len;
    }

    enc_ctx c;
    memset(&c, 0, sizeof c);
    c.tok = tok;
    c.out.ids = ids;
    c.out.cap = capacity;
    if ((flags & DSV3_TOKENIZE_ADD_BOS) && tok->bos >= 0) bpe_out_push(&c.out, tok->bos);
    if (len >= CACHE_MIN_TEXT && cache_init(&c.cache, len)) cache_free(&c.cache); /* no memory: go without */
    int rc = (flags & DSV3_TOKENIZE_NO_ADDED) ? encode_plain(&c, text, len) : encode_pass(&c, text, len, 0);
    cache_free(&c.cache);
    bpe_work_free(&c.work);
    free(fixed);
    if (rc) return err_set(e, rc, "dsv3_tokenize: out of memory");
    if (n_ids) *n_ids = c.out.n;
    if (c.out.n > capacity)
        return err_set(e, DSV3_ERR_TOO_SMALL, "dsv3_tokenize: the text has %zu ids, capacity is %zu", c.out.n, capacity);
    return DSV3_OK;
}

int dsv3_tokenize(const dsv3_tokenizer *tok, const char *text, size_t len, unsigned flags, int32_t *ids,
                  size_t capacity, size_t *n_ids) {
    return tokenizer_encode(tok, text, len, flags, ids, capacity, n_ids, NULL);
}

/* ---- decoding ------------------------------------------------------------------- */

/* NUL-terminate o, or report it too small (snprintf-like: the first
 * capacity-1 bytes and a NUL stay). */
static int out_finish(outbuf *o, size_t *len, const char *what, dsv3_err *e) {
    if (len) *len = o->len;
    if (o->len < o->cap) {
        o->p[o->len] = 0;
        return DSV3_OK;
    }
    if (o->cap) o->p[o->cap - 1] = 0;
    return err_set(e, DSV3_ERR_TOO_SMALL, "%s: the text needs %zu bytes plus the NUL, capacity is %zu", what, o->len,
                   o->cap);
}

static int check_id(const dsv3_tokenizer *tok, int32_t id, size_t index, const char *what, dsv3_err *e) {
    if (id >= 0 && id < tok->n_ids && (tok->entries[id].flags & TOK_F_VALID)) return DSV3_OK;
    return err_set(e, DSV3_ERR_BAD_TOKEN, "%s: id %d (at index %zu) has no token (ids 0..%d)", what, (int)id, index,
                   (int)tok->n_ids - 1);
}

int tokenizer_decode(const dsv3_tokenizer *tok, const int32_t *ids, size_t n, unsigned flags, char *text,
                     size_t capacity, size_t *len, dsv3_err *e) {
    if (len) *len = 0;
    if (!tok) return err_set(e, DSV3_ERR_INVALID_ARG, "dsv3_detokenize: tok is NULL");
    if (!ids && n) return err_set(e, DSV3_ERR_INVALID_ARG, "dsv3_detokenize: ids is NULL");
    if (!text && capacity) return err_set(e, DSV3_ERR_INVALID_ARG, "dsv3_detokenize: text is NULL with capacity %zu", capacity);
    if (flags & ~DSV3_DETOKENIZE_SKIP_SPECIAL)
        return err_set(e, DSV3_ERR_INVALID_ARG, "dsv3_detokenize: unknown flags 0x%x", flags);
    for (size_t i = 0; i < n; i++) {
        int rc = check_id(tok, ids[i], i, "dsv3_detokenize", e);
        if (rc) {
            if (capacity) text[0] = 0;
            return rc;
        }
    }
    outbuf o = {text, capacity, 0};
    u8dec d = {{0}, 0, 0};
    for (size_t i = 0; i < n; i++) {
        const tok_entry *en = &tok->entries[ids[i]];
        if ((flags & DSV3_DETOKENIZE_SKIP_SPECIAL) && (en->flags & TOK_F_SPECIAL)) continue;
        u8_feed(&d, (const unsigned char *)tok->pool + en->off, en->len, &o);
    }
    u8_finish(&d, &o);
    return out_finish(&o, len, "dsv3_detokenize", e);
}

int dsv3_detokenize(const dsv3_tokenizer *tok, const int32_t *ids, size_t n, unsigned flags, char *text,
                    size_t capacity, size_t *len) {
    return tokenizer_decode(tok, ids, n, flags, text, capacity, len, NULL);
}

/* ---- streaming decode ------------------------------------------------------------
 * The same incremental decoder as dsv3_detokenize, so the concatenated
 * pieces equal its output. A push that does not fit (DSV3_ERR_TOO_SMALL)
 * or names a bad id leaves the stream unchanged: push the id again. */

struct dsv3_detok_stream {
    const dsv3_tokenizer *tok;
    unsigned flags;
    u8dec dec;
    char *scratch; /* room for the longest push */
    size_t scratch_cap;
};

int dsv3_detok_stream_create(const dsv3_tokenizer *tok, unsigned flags, dsv3_detok_stream **out) {
    if (!out) return DSV3_ERR_INVALID_ARG;
    *out = NULL;
    if (!tok || (flags & ~DSV3_DETOKENIZE_SKIP_SPECIAL)) return DSV3_ERR_INVALID_ARG;
    dsv3_detok_stream *st = calloc(1, sizeof *st);
    if (!st) return DSV3_ERR_NO_MEMORY;
    /* Worst case: 3 pending bytes and the token, each byte a U+FFFD. */
    st->scratch_cap = 3 * (tok->max_token_len + 3);
    st->scratch = malloc(st->scratch_cap);
    if (!st->scratch) {
        free(st);
        return DSV3_ERR_NO_MEMORY;
    }
    st->tok = tok;
    st->flags = flags;
    *out = st;
    return DSV3_OK;
}

/* Copy a finished piece to the caller and commit the new decoder state. */
static int stream_emit(dsv3_detok_stream *st, const u8dec *next, const outbuf *piece, char *text, size_t capacity,
                       size_t *len) {
    if (len) *len = piece->len;
    if (piece->len >= capacity) {
        if (capacity) {
            memcpy(text, piece->p, capacity - 1);
            text[capacity - 1] = 0;
        }
        return DSV3_ERR_TOO_SMALL;
    }
    memcpy(text, piece->p, piece->len);
    text[piece->len] = 0;
    st->dec = *next;
    return DSV3_OK;
}

int dsv3_detok_stream_push(dsv3_detok_stream *st, int32_t id, char *text, size_t capacity, size_t *len) {
    if (len) *len = 0;
    if (!st || (!text && capacity)) return DSV3_ERR_INVALID_ARG;
    const dsv3_tokenizer *tok = st->tok;
    if (check_id(tok, id, 0, "dsv3_detok_stream_push", NULL)) {
        if (capacity) text[0] = 0;
        return DSV3_ERR_BAD_TOKEN;
    }
    const tok_entry *en = &tok->entries[id];
    u8dec next = st->dec;
    outbuf piece = {st->scratch, st->scratch_cap, 0};
    if (!((st->flags & DSV3_DETOKENIZE_SKIP_SPECIAL) && (en->flags & TOK_F_SPECIAL)))
        u8_feed(&next, (const unsigned char *)tok->pool + en->off, en->len, &piece);
    return stream_emit(st, &next, &piece, text, capacity, len);
}

int dsv3_detok_stream_flush(dsv3_detok_stream *st, char *text, size_t capacity, size_t *len) {
    if (len) *len = 0;
    if (!st || (!text && capacity)) return DSV3_ERR_INVALID_ARG;
    u8dec next = st->dec;
    outbuf piece = {st->scratch, st->scratch_cap, 0};
    u8_finish(&next, &piece);
    return stream_emit(st, &next, &piece, text, capacity, len);
}

void dsv3_detok_stream_free(dsv3_detok_stream *st) {
    if (!st) return;
    free(st->scratch);
    free(st);
}
