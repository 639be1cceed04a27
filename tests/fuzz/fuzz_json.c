/* fuzz_json.c -- libFuzzer harness for lib/json.c.
 *
 * Build and run: see tests/fuzz/README.md.
 *
 * Beyond "does not crash", each accepted document is checked:
 *  - the tree does not point into the input (the input copy is freed first,
 *    so ASan reports any such pointer),
 *  - tree invariants (NUL-terminated strings, valid UTF-8, depth, json_at /
 *    json_get consistency),
 *  - every number equals what strtod / strtoll (C locale) make of the same
 *    token, bit for bit, and is_int agrees with strtoll,
 *  - serialising the tree and parsing that again yields the same tree.
 * Rejected documents must yield a "json: at byte N: ..." message, and the
 * result must not depend on the size of the error buffer. */
#include "json.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ASSERT(c)                                                                                                  \
    do {                                                                                                           \
        if (!(c)) {                                                                                                \
            fprintf(stderr, "fuzz_json: %s:%d: check failed: %s\n", __FILE__, __LINE__, #c);                       \
            abort();                                                                                               \
        }                                                                                                          \
    } while (0)

/* Well-formed UTF-8, allowing NUL bytes (from \u0000). */
static int valid_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t len;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            len = 2;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            len = 3;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (n - i < len)
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += len;
    }
    return 1;
}

/* Re-reads the number token at `off` with the C library and compares. */
static void check_number(const json_value *v, const uint8_t *text, size_t size)
{
    size_t end = v->offset;
    int integral = 1;
    while (end < size && text[end] != '\0' && strchr("0123456789+-.eE", text[end])) {
        if (text[end] == '.' || text[end] == 'e' || text[end] == 'E')
            integral = 0;
        end++;
    }
    size_t n = end - v->offset;
    char *tok = malloc(n + 1);
    ASSERT(tok);
    memcpy(tok, text + v->offset, n);
    tok[n] = '\0';
    char *stop;
    double want = strtod(tok, &stop);
    ASSERT(stop == tok + n);
    ASSERT(memcmp(&want, &v->num, sizeof want) == 0);
    if (integral) {
        errno = 0;
        long long ll = strtoll(tok, &stop, 10);
        int fits = errno == 0;
        ASSERT(v->is_int == fits);
        if (fits)
            ASSERT(v->i == ll);
    } else {
        ASSERT(!v->is_int);
    }
    free(tok);
}

static void walk(const json_value *v, int depth, const uint8_t *text, size_t size)
{
    ASSERT(depth <= JSON_MAX_DEPTH);
    ASSERT(v->offset < size);
    ASSERT(json_type_name(v->type) != NULL);
    switch (v->type) {
    case JSON_NULL:
        ASSERT(text[v->offset] == 'n');
        break;
    case JSON_BOOL:
        ASSERT(v->boolean == 0 || v->boolean == 1);
        ASSERT(text[v->offset] == (v->boolean ? 't' : 'f'));
        break;
    case JSON_NUMBER:
        check_number(v, text, size);
        break;
    case JSON_STRING:
        ASSERT(text[v->offset] == '"');
        ASSERT(v->str && v->str[v->len] == '\0');
        ASSERT(valid_utf8((const unsigned char *)v->str, v->len));
        break;
    case JSON_ARRAY:
        ASSERT(text[v->offset] == '[');
        for (size_t k = 0; k < v->n; k++) {
            ASSERT(json_at(v, k) == &v->items[k]);
            walk(&v->items[k], depth + 1, text, size);
        }
        ASSERT(json_at(v, v->n) == NULL);
        ASSERT(json_get(v, "") == NULL);
        break;
    case JSON_OBJECT:
        ASSERT(text[v->offset] == '{');
        for (size_t k = 0; k < v->n; k++) {
            const char *key = v->keys[k];
            ASSERT(key[v->key_lens[k]] == '\0');
            ASSERT(valid_utf8((const unsigned char *)key, v->key_lens[k]));
            if (strlen(key) == v->key_lens[k]) {
                /* This member or a later duplicate of it. */
                const json_value *g = json_get(v, key);
                ASSERT(g && g >= &v->items[k] && g < v->items + v->n);
            }
            walk(&v->items[k], depth + 1, text, size);
        }
        ASSERT(json_at(v, 0) == NULL);
        break;
    default:
        ASSERT(0);
    }
}

/* --- Serialise and compare --------------------------------------------- */

typedef struct buf {
    char *p;
    size_t n, cap;
} buf;

static void put(buf *b, const char *s, size_t n)
{
    if (b->cap - b->n < n) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->n < n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        ASSERT(b->p);
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void put_str(buf *b, const char *s, size_t n)
{
    put(b, "\"", 1);
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[k];
        if (c < 0x20 || c == '"' || c == '\\') {
            char esc[8];
            snprintf(esc, sizeof esc, "\\u%04x", c);
            put(b, esc, 6);
        } else {
            put(b, s + k, 1);
        }
    }
    put(b, "\"", 1);
}

static void serialise(buf *b, const json_value *v)
{
    char tmp[40];
    switch (v->type) {
    case JSON_NULL: put(b, "null", 4); break;
    case JSON_BOOL: v->boolean ? put(b, "true", 4) : put(b, "false", 5); break;
    case JSON_NUMBER:
        if (isinf(v->num))
            snprintf(tmp, sizeof tmp, "%s1e999", v->num < 0 ? "-" : "");
        else if (v->is_int && !(v->i == 0 && signbit(v->num))) /* "-0" is an int too */
            snprintf(tmp, sizeof tmp, "%lld", (long long)v->i);
        else
            snprintf(tmp, sizeof tmp, "%.17g", v->num); /* may print as an integer */
        put(b, tmp, strlen(tmp));
        break;
    case JSON_STRING: put_str(b, v->str, v->len); break;
    case JSON_ARRAY:
        put(b, "[", 1);
        for (size_t k = 0; k < v->n; k++) {
            if (k)
                put(b, ",", 1);
            serialise(b, &v->items[k]);
        }
        put(b, "]", 1);
        break;
    case JSON_OBJECT:
        put(b, "{", 1);
        for (size_t k = 0; k < v->n; k++) {
            if (k)
                put(b, ",", 1);
            put_str(b, v->keys[k], v->key_lens[k]);
            put(b, ":", 1);
            serialise(b, &v->items[k]);
        }
        put(b, "}", 1);
        break;
    }
}

static void same_tree(const json_value *a, const json_value *b)
{
    ASSERT(a->type == b->type);
    switch (a->type) {
    case JSON_NULL: break;
    case JSON_BOOL: ASSERT(a->boolean == b->boolean); break;
    case JSON_NUMBER:
        ASSERT(memcmp(&a->num, &b->num, sizeof a->num) == 0);
        if (a->is_int)
            ASSERT(b->is_int && a->i == b->i);
        break;
    case JSON_STRING: ASSERT(a->len == b->len && memcmp(a->str, b->str, a->len) == 0); break;
    case JSON_ARRAY:
    case JSON_OBJECT:
        ASSERT(a->n == b->n);
        for (size_t k = 0; k < a->n; k++) {
            if (a->type == JSON_OBJECT)
                ASSERT(a->key_lens[k] == b->key_lens[k] &&
                       memcmp(a->keys[k], b->keys[k], a->key_lens[k] + 1) == 0);
            same_tree(&a->items[k], &b->items[k]);
        }
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exactly sized private copy, freed before the tree is used. */
    char *copy = malloc(size ? size : 1);
    ASSERT(copy);
    if (size)
        memcpy(copy, data, size);
    else
        copy[0] = '\0'; /* never read (len 0), but keeps gcc's analysis quiet */
    json_doc *doc = NULL;
    char err[160];
    int rc = json_parse(copy, size, &doc, err, sizeof err);

    /* Same verdict with no / a tiny error buffer. */
    json_doc *doc2 = NULL;
    char small[8];
    int rc2 = json_parse(copy, size, &doc2, size & 1 ? NULL : small, size % sizeof small);
    ASSERT(rc == rc2);
    json_free(doc2);
    free(copy);

    if (rc != 0) {
        ASSERT(rc == -1 && doc == NULL); /* -2 only when out of memory */
        ASSERT(strncmp(err, "json: at byte ", 14) == 0);
        return 0;
    }
    ASSERT(doc != NULL);
    const json_value *root = json_root(doc);
    walk(root, 0, data, size);

    buf b = {NULL, 0, 0};
    serialise(&b, root);
    json_doc *again = NULL;
    ASSERT(json_parse(b.p, b.n, &again, err, sizeof err) == 0);
    same_tree(root, json_root(again));
    json_free(again);
    free(b.p);
    json_free(doc);
    return 0;
}
