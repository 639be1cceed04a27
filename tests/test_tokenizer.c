/* test_tokenizer.c -- the tokenizer against the public golden set
 * (../shared/tokenizer/deepseek-v3/golden-encode.jsonl), plus round trips
 * on random text, random bytes, the streaming decoder, buffer sizes, bad
 * ids, load errors and concurrent use.
 *
 * usage: test_tokenizer SHARED_DIR */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dsv3.h"
#include "json.h"
#include "pretokenize.h"
#include "tokenizer.h"
#include "unicode.h"
#include "tok_util.h"

static int g_pass, g_fail;

#define CHECK(cond, ...)                                \
    do {                                                \
        if (cond) g_pass++;                             \
        else {                                          \
            g_fail++;                                   \
            printf("FAIL %s:%d: ", __FILE__, __LINE__); \
            printf(__VA_ARGS__);                        \
            printf("\n");                               \
        }                                               \
    } while (0)

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* realloc that ends the test when memory runs out */
static void *xrealloc(void *p, size_t n) {
    void *q = realloc(p, n);
    if (!q) {
        fprintf(stderr, "FATAL: out of memory\n");
        exit(2);
    }
    return q;
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *p = malloc(cap);
    for (;;) {
        if (n == cap) p = xrealloc(p, cap *= 2);
        size_t r = fread(p + n, 1, cap - n, f);
        if (r == 0) break;
        n += r;
    }
    fclose(f);
    p = xrealloc(p, n + 1);
    p[n] = 0;
    *len = n;
    return p;
}

/* ---- helpers over the API -------------------------------------------------------- */

/* Streaming decode of ids into one string. */
static char *decode_stream(const dsv3_tokenizer *t, const int32_t *ids, size_t n, unsigned flags, size_t *len) {
    dsv3_detok_stream *st = NULL;
    if (dsv3_detok_stream_create(t, flags, &st) != DSV3_OK) return NULL;
    size_t cap = 64, used = 0;
    char *out = malloc(cap);
    char piece[1024];
    int ok = 1;
    for (size_t i = 0; i <= n && ok; i++) {
        size_t k = 0;
        int rc = i < n ? dsv3_detok_stream_push(st, ids[i], piece, sizeof piece, &k)
                       : dsv3_detok_stream_flush(st, piece, sizeof piece, &k);
        if (rc != DSV3_OK) ok = 0;
        while (used + k + 1 > cap) out = xrealloc(out, cap *= 2);
        memcpy(out + used, piece, k);
        used += k;
    }
    dsv3_detok_stream_free(st);
    if (!ok) {
        free(out);
        return NULL;
    }
    out[used] = 0;
    *len = used;
    return out;
}

/* ---- an independent lossy UTF-8 conversion, for the random-bytes checks ---- */

static size_t lossy_utf8(const unsigned char *s, size_t n, unsigned char *out) {
    size_t i = 0, o = 0;
    while (i < n) {
        unsigned b = s[i];
        if (b < 0x80) {
            out[o++] = (unsigned char)b;
            i++;
            continue;
        }
        size_t need = b >= 0xC2 && b <= 0xDF ? 2 : b >= 0xE0 && b <= 0xEF ? 3 : b >= 0xF0 && b <= 0xF4 ? 4 : 0;
        size_t k = 1;
        if (need) {
            for (; k < need && i + k < n; k++) {
                unsigned c = s[i + k];
                unsigned lo = 0x80, hi = 0xBF;
                if (k == 1 && b == 0xE0) lo = 0xA0;
                if (k == 1 && b == 0xED) hi = 0x9F;
                if (k == 1 && b == 0xF0) lo = 0x90;
                if (k == 1 && b == 0xF4) hi = 0x8F;
                if (c < lo || c > hi) break;
            }
        }
        if (need && k == need) {
            memcpy(out + o, s + i, need);
            o += need;
            i += need;
        } else {
            out[o++] = 0xEF;
            out[o++] = 0xBF;
            out[o++] = 0xBD;
            i += k;
        }
    }
    return o;
}

static int is_valid_utf8(const unsigned char *s, size_t n) {
    unsigned char *tmp = malloc(3 * n + 1);
    size_t m = lossy_utf8(s, n, tmp);
    int ok = m == n && !memcmp(tmp, s, n);
    free(tmp);
    return ok;
}

/* ---- random text ------------------------------------------------------------------ */

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void) {
    uint64_t x = rng_state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1Dull;
}
static uint32_t rnd_below(uint32_t n) { return (uint32_t)(rnd() % n); }

static size_t put_cp(uint32_t cp, char *out) {
    unsigned char *u = (unsigned char *)out;
    if (cp < 0x80) {
        u[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        u[0] = (unsigned char)(0xC0 | (cp >> 6));
        u[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        u[0] = (unsigned char)(0xE0 | (cp >> 12));
        u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    u[0] = (unsigned char)(0xF0 | (cp >> 18));
    u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    u[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

static const char *const ADDED_SAMPLES[] = {"<\xEF\xBD\x9CUser\xEF\xBD\x9C>", "<\xEF\xBD\x9C" "Assistant\xEF\xBD\x9C>",
                                            "<|EOT|>", "<\xEF\xBD\x9C" "begin\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>",
                                            "<|User|>", "<\xEF\xBD\x9C"};

/* A random valid UTF-8 string of up to max_cps code points. */
static size_t random_text(char *out, size_t max_cps) {
    size_t n = 0, cps = 1 + rnd_below((uint32_t)max_cps);
    for (size_t i = 0; i < cps; i++) {
        uint32_t cp;
        switch (rnd_below(12)) {
        case 0: cp = 'a' + rnd_below(26); break;
        case 1: cp = "  \n\t\r"[rnd_below(5)]; break;
        case 2: cp = '0' + rnd_below(10); break;
        case 3: cp = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"[rnd_below(32)]; break;
        case 4: cp = 0x4E00 + rnd_below(0x9FFF - 0x4E00); break;
        case 5: cp = 0x3040 + rnd_below(0xC0); break;
        case 6: cp = 0x1F300 + rnd_below(0x700); break;
        case 7: cp = 0x300 + rnd_below(0x70); break;
        case 8: cp = 0xAC00 + rnd_below(0x2BA4); break;
        case 9: {
            const char *a = ADDED_SAMPLES[rnd_below(sizeof ADDED_SAMPLES / sizeof *ADDED_SAMPLES)];
            memcpy(out + n, a, strlen(a));
            n += strlen(a);
            continue;
        }
        case 10: cp = "\xA0\x85"[rnd_below(2)] & 0xFF; if (rnd_below(2)) cp = 0x2000 + rnd_below(0x70); break;
        default:
            do cp = rnd_below(0x110000);
            while (cp >= 0xD800 && cp <= 0xDFFF);
            break;
        }
        n += put_cp(cp, out + n);
    }
    return n;
}

/* ---- golden cases --------------------------------------------------------------- */

static int ids_equal(const int32_t *a, size_t na, const json_value *b) {
    if (!b || b->type != JSON_ARRAY || b->n != na) return 0;
    for (size_t i = 0; i < na; i++)
        if (b->items[i].i != a[i]) return 0;
    return 1;
}

static int str_equal(const char *a, size_t na, const json_value *b) {
    return b && b->type == JSON_STRING && b->len == na && !memcmp(a, b->str, na);
}

static int32_t *json_ids(const json_value *a, size_t *n) {
    *n = a->n;
    int32_t *r = malloc(sizeof *r * (a->n + 1));
    for (size_t i = 0; i < a->n; i++) r[i] = (int32_t)a->items[i].i;
    return r;
}

static void golden(const dsv3_tokenizer *t, const char *shared) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer/deepseek-v3/golden-encode.jsonl", shared);
    size_t len;
    char *all = slurp(path, &len);
    CHECK(all != NULL, "cannot read %s", path);
    if (!all) return;
    int n_cases = 0, ok_ids = 0, ok_bos = 0, ok_dec = 0, ok_skip = 0, ok_stream = 0;
    for (char *line = all; *line;) {
        char *end = strchr(line, '\n');
        size_t ll = end ? (size_t)(end - line) : strlen(line);
        json_doc *doc = NULL;
        char err[256];
        if (ll == 0) {
            line = end ? end + 1 : line + ll;
            continue;
        }
        if (json_parse(line, ll, &doc, err, sizeof err)) {
            CHECK(0, "golden line %d: %s", n_cases + 1, err);
            break;
        }
        const json_value *r = json_root(doc);
        const json_value *text = json_get(r, "text");
        const char *cat = json_get(r, "category")->str;
        n_cases++;
        size_t n = 0, nb = 0, dl = 0, sl = 0, stl = 0;
        int32_t *ids = encode(t, text->str, text->len, 0, &n);
        int32_t *idb = encode(t, text->str, text->len, DSV3_TOKENIZE_ADD_BOS, &nb);
        int a = ids && ids_equal(ids, n, json_get(r, "ids"));
        int b = idb && ids_equal(idb, nb, json_get(r, "ids_with_bos"));
        ok_ids += a;
        ok_bos += b;
        if (!a) printf("  ids mismatch: case %d (%s) \"%.60s\"\n", n_cases, cat, text->str);
        if (!b) printf("  ids_with_bos mismatch: case %d (%s)\n", n_cases, cat);
        size_t gn = 0, gb = 0;
        int32_t *gids = json_ids(json_get(r, "ids"), &gn);
        int32_t *gidb = json_ids(json_get(r, "ids_with_bos"), &gb);
        char *dec = decode(t, gids, gn, 0, &dl);
        char *skip = decode(t, gidb, gb, DSV3_DETOKENIZE_SKIP_SPECIAL, &sl);
        int c = dec && str_equal(dec, dl, json_get(r, "decoded"));
        int d = skip && str_equal(skip, sl, json_get(r, "decoded_skip_special"));
        ok_dec += c;
        ok_skip += d;
        if (!c) printf("  decoded mismatch: case %d (%s)\n", n_cases, cat);
        if (!d) printf("  decoded_skip_special mismatch: case %d (%s)\n", n_cases, cat);
        /* Streaming equals batch, both ways of skipping. */
        char *st = decode_stream(t, gids, gn, 0, &stl);
        char *st2 = decode_stream(t, gidb, gb, DSV3_DETOKENIZE_SKIP_SPECIAL, &sl);
        int e = st && dec && stl == dl && !memcmp(st, dec, dl) && st2 && skip && !memcmp(st2, skip, sl);
        ok_stream += e;
        if (!e) printf("  stream mismatch: case %d (%s)\n", n_cases, cat);
        free(ids);
        free(idb);
        free(gids);
        free(gidb);
        free(dec);
        free(skip);
        free(st);
        free(st2);
        json_free(doc);
        line = end ? end + 1 : line + ll;
    }
    printf("golden: ids %d/%d, ids_with_bos %d/%d, decoded %d/%d, decoded_skip_special %d/%d, stream %d/%d\n", ok_ids,
           n_cases, ok_bos, n_cases, ok_dec, n_cases, ok_skip, n_cases, ok_stream, n_cases);
    CHECK(n_cases == 390, "golden: %d cases, expected 390", n_cases);
    CHECK(ok_ids == n_cases, "golden ids %d/%d", ok_ids, n_cases);
    CHECK(ok_bos == n_cases, "golden ids_with_bos %d/%d", ok_bos, n_cases);
    CHECK(ok_dec == n_cases, "golden decoded %d/%d", ok_dec, n_cases);
    CHECK(ok_skip == n_cases, "golden decoded_skip_special %d/%d", ok_skip, n_cases);
    CHECK(ok_stream == n_cases, "golden stream %d/%d", ok_stream, n_cases);
    free(all);
}

/* ---- targeted checks -------------------------------------------------------------- */

static int encodes_to(const dsv3_tokenizer *t, const char *s, size_t n, unsigned flags, const int32_t *want,
                      size_t nw) {
    size_t got_n = 0;
    int32_t *got = encode(t, s, n, flags, &got_n);
    int ok = got && got_n == nw && (nw == 0 || !memcmp(got, want, nw * sizeof *want));
    if (!ok && got) {
        printf("  got [");
        for (size_t i = 0; i < got_n; i++) printf(i ? ", %d" : "%d", (int)got[i]);
        printf("]\n");
    }
    free(got);
    return ok;
}

static int same_encoding(const dsv3_tokenizer *t, const char *a, size_t na, const char *b, size_t nb) {
    size_t n1 = 0, n2 = 0;
    int32_t *x = encode(t, a, na, 0, &n1), *y = encode(t, b, nb, 0, &n2);
    int ok = x && y && n1 == n2 && !memcmp(x, y, n1 * sizeof *x);
    free(x);
    free(y);
    return ok;
}

static void check_basics(const dsv3_tokenizer *t) {
    CHECK(dsv3_tokenizer_n_vocab(t) == 128815, "n_vocab %d", dsv3_tokenizer_n_vocab(t));
    CHECK(dsv3_tokenizer_bos(t) == 0, "bos %d", dsv3_tokenizer_bos(t));
    CHECK(dsv3_tokenizer_eos(t) == 1, "eos %d", dsv3_tokenizer_eos(t));
    CHECK(dsv3_tokenizer_add_bos(t) == 1, "add_bos");
    int32_t special[] = {0, 1, 2, 128000, 128400, 128799, 128805};
    int32_t plain[] = {3, 100, 127999, 128800, 128801, 128802, 128803, 128804, 128806, 128814, -1, 128815, 129279};
    for (size_t i = 0; i < sizeof special / sizeof *special; i++)
        CHECK(dsv3_tokenizer_is_special(t, special[i]), "id %d should be special", (int)special[i]);
    for (size_t i = 0; i < sizeof plain / sizeof *plain; i++)
        CHECK(!dsv3_tokenizer_is_special(t, plain[i]), "id %d should not be special", (int)plain[i]);
    CHECK(tokenizer_bos_text(t) && !strcmp(tokenizer_bos_text(t), "<\xEF\xBD\x9C" "begin\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>"),
          "bos text");
    CHECK(tokenizer_eos_text(t) && !strcmp(tokenizer_eos_text(t), "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>"),
          "eos text");
    CHECK(tokenizer_chat_template(t) && strstr(tokenizer_chat_template(t), "add_generation_prompt"), "chat template");

    const char *bytes;
    size_t len;
    CHECK(dsv3_token_bytes(t, 128803, &bytes, &len) == DSV3_OK && len == 12 && !memcmp(bytes, "<\xEF\xBD\x9CUser\xEF\xBD\x9C>", 12),
          "token_bytes(128803)");
    CHECK(dsv3_token_bytes(t, 128805, &bytes, &len) == DSV3_OK && len == 7 && !memcmp(bytes, "<|EOT|>", 7),
          "token_bytes(128805)");
    CHECK(dsv3_token_bytes(t, 2808, &bytes, &len) == DSV3_OK && len == 3 && !memcmp(bytes, "\xEF\xBF\xBD", 3),
          "token_bytes(2808) is U+FFFD");
    CHECK(dsv3_token_bytes(t, 128815, &bytes, &len) == DSV3_ERR_BAD_TOKEN, "token_bytes(128815)");
    CHECK(dsv3_token_bytes(t, -5, &bytes, &len) == DSV3_ERR_BAD_TOKEN, "token_bytes(-5)");

    /* README examples. */
    int32_t w1[] = {32372, 128804, 3465};
    const char *s1 = "abc<\xEF\xBD\x9C" "Assistant\xEF\xBD\x9C>def";
    CHECK(encodes_to(t, s1, strlen(s1), 0, w1, 3), "abc<|Assistant|>def");
    /* NO_ADDED: the token text is plain text and round-trips. */
    {
        size_t n = 0, dl = 0;
        int32_t *ids = encode(t, s1, strlen(s1), DSV3_TOKENIZE_NO_ADDED, &n);
        int has = 0;
        for (size_t i = 0; ids && i < n; i++) has |= ids[i] >= 128000;
        char *d = ids ? decode(t, ids, n, 0, &dl) : NULL;
        CHECK(ids && !has && n > 3 && d && dl == strlen(s1) && !memcmp(d, s1, dl), "NO_ADDED");
        free(ids);
        free(d);
    }
    int32_t w2[] = {0, 0};
    const char *bos = tokenizer_bos_text(t);
    CHECK(encodes_to(t, bos, strlen(bos), DSV3_TOKENIZE_ADD_BOS, w2, 2), "literal BOS + added BOS");
    int32_t w3[] = {0};
    CHECK(encodes_to(t, "", 0, DSV3_TOKENIZE_ADD_BOS, w3, 1), "empty with BOS");
    CHECK(encodes_to(t, NULL, 0, 0, NULL, 0), "empty");
    int32_t w4[] = {2808};
    CHECK(encodes_to(t, "\xEF\xBF\xBD", 3, 0, w4, 1), "U+FFFD");

    /* Invalid UTF-8 becomes U+FFFD per maximal subpart. */
    CHECK(same_encoding(t, "\xFF", 1, "\xEF\xBF\xBD", 3), "FF");
    CHECK(same_encoding(t, "a\xC0\xAF" "b", 4, "a\xEF\xBF\xBD\xEF\xBF\xBD" "b", 8), "overlong C0 AF");
    CHECK(same_encoding(t, "x\xE4\xB8", 3, "x\xEF\xBF\xBD", 4), "truncated E4 B8");
    CHECK(same_encoding(t, "\xF0\x80\x80", 3, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD", 9), "F0 80 80");
    CHECK(same_encoding(t, "\xED\xA0\x80z", 4, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDz", 10), "surrogate");
    CHECK(same_encoding(t, "\xF4\x8F\xBF", 3, "\xEF\xBF\xBD", 3), "truncated F4 8F BF");

    /* Lossy decode: the first of the two tokens of U+1F600. */
    {
        int32_t one[] = {28927};
        size_t dl = 0;
        char *d = decode(t, one, 1, 0, &dl);
        CHECK(d && dl == 3 && !memcmp(d, "\xEF\xBF\xBD", 3), "decode [28927] is U+FFFD");
        free(d);
    }

    /* Buffer sizes. */
    {
        const char *s = "Hello, world! 12345";
        size_t need = 0, n2 = 0;
        CHECK(dsv3_tokenize(t, s, strlen(s), 0, NULL, 0, &need) == DSV3_ERR_TOO_SMALL && need > 2, "size query");
        int32_t full[64], part[64];
        CHECK(dsv3_tokenize(t, s, strlen(s), 0, full, 64, &n2) == DSV3_OK && n2 == need, "full encode");
        for (int i = 0; i < 64; i++) part[i] = -7;
        CHECK(dsv3_tokenize(t, s, strlen(s), 0, part, 2, &n2) == DSV3_ERR_TOO_SMALL && n2 == need, "TOO_SMALL ids");
        CHECK(part[0] == full[0] && part[1] == full[1] && part[2] == -7, "TOO_SMALL writes the first ids only");
        CHECK(dsv3_tokenize(t, s, strlen(s), 0, part, need, &n2) == DSV3_OK, "exact capacity");
        CHECK(dsv3_tokenize(t, s, strlen(s), 0x80, full, 64, &n2) == DSV3_ERR_INVALID_ARG, "unknown flag");
        CHECK(dsv3_tokenize(NULL, s, strlen(s), 0, full, 64, &n2) == DSV3_ERR_INVALID_ARG, "NULL tokenizer");
        CHECK(dsv3_tokenize(t, NULL, 3, 0, full, 64, &n2) == DSV3_ERR_INVALID_ARG, "NULL text");

        size_t len2 = 0;
        char buf[64];
        CHECK(dsv3_detokenize(t, full, need, 0, NULL, 0, &len2) == DSV3_ERR_TOO_SMALL && len2 == strlen(s),
              "detokenize size query");
        memset(buf, 'x', sizeof buf);
        CHECK(dsv3_detokenize(t, full, need, 0, buf, strlen(s), &len2) == DSV3_ERR_TOO_SMALL && len2 == strlen(s),
              "detokenize capacity == len is too small");
        CHECK(buf[strlen(s) - 1] == 0 && !memcmp(buf, s, strlen(s) - 1), "TOO_SMALL text is truncated like snprintf");
        CHECK(dsv3_detokenize(t, full, need, 0, buf, strlen(s) + 1, &len2) == DSV3_OK && !strcmp(buf, s),
              "detokenize exact capacity");
    }

    /* Bad ids. */
    {
        int32_t bad[] = {100, 128815};
        int32_t neg[] = {-1};
        int32_t gap[] = {129279};
        char buf[64];
        size_t len2 = 99;
        CHECK(dsv3_detokenize(t, bad, 2, 0, buf, sizeof buf, &len2) == DSV3_ERR_BAD_TOKEN, "decode 128815");
        CHECK(dsv3_detokenize(t, neg, 1, 0, buf, sizeof buf, &len2) == DSV3_ERR_BAD_TOKEN, "decode -1");
        CHECK(dsv3_detokenize(t, gap, 1, DSV3_DETOKENIZE_SKIP_SPECIAL, buf, sizeof buf, &len2) == DSV3_ERR_BAD_TOKEN,
              "decode 129279");
        dsv3_err e;
        err_clear(&e);
        CHECK(tokenizer_decode(t, bad, 2, 0, buf, sizeof buf, &len2, &e) == DSV3_ERR_BAD_TOKEN &&
                  strstr(e.msg, "128815") != NULL,
              "BAD_TOKEN message names the id: %s", e.msg);
    }

    /* Streaming: split characters wait; TOO_SMALL and bad ids change nothing. */
    {
        size_t n = 0;
        const char *s = "\xF0\x9F\x98\x80 ok";
        int32_t *ids = encode(t, s, strlen(s), 0, &n);
        dsv3_detok_stream *st = NULL;
        CHECK(dsv3_detok_stream_create(t, 0, &st) == DSV3_OK, "stream create");
        char buf[64];
        size_t k = 99;
        CHECK(ids && n >= 2 && ids[0] == 28927, "emoji first token");
        if (!ids || n < 2) {
            dsv3_detok_stream_free(st);
            free(ids);
            return;
        }
        CHECK(dsv3_detok_stream_push(st, ids[0], buf, sizeof buf, &k) == DSV3_OK && k == 0 && buf[0] == 0,
              "half a character waits");
        CHECK(dsv3_detok_stream_push(st, 128815, buf, sizeof buf, &k) == DSV3_ERR_BAD_TOKEN, "stream bad id");
        CHECK(dsv3_detok_stream_push(st, ids[1], buf, 2, &k) == DSV3_ERR_TOO_SMALL && k == 4, "stream TOO_SMALL");
        CHECK(dsv3_detok_stream_push(st, ids[1], buf, sizeof buf, &k) == DSV3_OK && k == 4 &&
                  !memcmp(buf, "\xF0\x9F\x98\x80", 4),
              "stream retry after TOO_SMALL");
        CHECK(dsv3_detok_stream_push(st, 28927, buf, sizeof buf, &k) == DSV3_OK && k == 0, "pending again");
        CHECK(dsv3_detok_stream_flush(st, buf, 3, &k) == DSV3_ERR_TOO_SMALL && k == 3, "flush TOO_SMALL");
        CHECK(dsv3_detok_stream_flush(st, buf, sizeof buf, &k) == DSV3_OK && k == 3 && !memcmp(buf, "\xEF\xBF\xBD", 3),
              "flush emits U+FFFD");
        CHECK(dsv3_detok_stream_flush(st, buf, sizeof buf, &k) == DSV3_OK && k == 0, "second flush is empty");
        dsv3_detok_stream_free(st);
        st = NULL;
        CHECK(dsv3_detok_stream_create(t, 0x10, &st) == DSV3_ERR_INVALID_ARG && !st, "stream unknown flag");
        CHECK(dsv3_detok_stream_create(t, DSV3_DETOKENIZE_SKIP_SPECIAL, &st) == DSV3_OK, "stream skip");
        CHECK(dsv3_detok_stream_push(st, 0, buf, sizeof buf, &k) == DSV3_OK && k == 0, "stream skips BOS");
        CHECK(dsv3_detok_stream_push(st, 128803, buf, sizeof buf, &k) == DSV3_OK && k == 12, "stream keeps <|User|>");
        dsv3_detok_stream_free(st);
        dsv3_detok_stream_free(NULL);
        free(ids);
    }
}

static void check_unicode(void) {
    uint32_t numbers[] = {'7', 0xB2, 0xBD, 0x2460, 0x216B, 0x663, 0xFF11};
    for (size_t i = 0; i < sizeof numbers / sizeof *numbers; i++)
        CHECK(unicode_is_number(numbers[i]), "U+%04X is \\p{N}", (unsigned)numbers[i]);
    uint32_t spaces[] = {9, 10, 11, 12, 13, 32, 0x85, 0xA0, 0x1680, 0x2000, 0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000};
    for (size_t i = 0; i < sizeof spaces / sizeof *spaces; i++)
        CHECK(unicode_is_space(spaces[i]), "U+%04X is \\s", (unsigned)spaces[i]);
    uint32_t not_spaces[] = {0, 8, 14, 0x1F, 0x200B, 0xFEFF, 0x180E};
    for (size_t i = 0; i < sizeof not_spaces / sizeof *not_spaces; i++)
        CHECK(!unicode_is_space(not_spaces[i]), "U+%04X is not \\s", (unsigned)not_spaces[i]);
    CHECK(unicode_is_letter('a') && unicode_is_letter(0x4E00) && unicode_is_letter(0x1F130 - 0x1F130 + 0xAC00), "letters");
    CHECK(unicode_is_mark(0x301) && unicode_is_mark(0x20DD), "marks");
    CHECK(unicode_is_punct('!') && unicode_is_punct(0x3002) && !unicode_is_punct('+'), "punct");
    CHECK(unicode_is_symbol('+') && unicode_is_symbol(0x1F600) && unicode_is_symbol('^'), "symbols");
    CHECK(unicode_flags(0xFFFF) == 0 && unicode_flags(0x10FFFF) == 0 && unicode_flags(0x110000) == 0, "unassigned");
}

typedef struct pieces {
    char buf[512];
    size_t len;
} pieces;

static int collect(void *ctx, const char *p, size_t n) {
    pieces *ps = ctx;
    if (ps->len + n + 2 > sizeof ps->buf) return 1;
    if (ps->len) ps->buf[ps->len++] = '|';
    memcpy(ps->buf + ps->len, p, n);
    ps->len += n;
    ps->buf[ps->len] = 0;
    return 0;
}

static void check_pretok(const char *in, const char *want) {
    pieces ps;
    ps.len = 0;
    ps.buf[0] = 0;
    int rc = pretokenize_deepseek_v3(in, strlen(in), collect, &ps);
    CHECK(rc == 0 && !strcmp(ps.buf, want), "pretokenize \"%s\": got \"%s\", want \"%s\"", in, ps.buf, want);
}

static void check_pretokenizer(void) {
    check_pretok("12345678", "123|456|78");
    check_pretok("abc123def4567", "abc|123|def|456|7");
    check_pretok(" 123", " |123");
    check_pretok("Hello world", "Hello| world");
    check_pretok("don't", "don|'t");
    check_pretok("a  b", "a| | b");
    check_pretok("a \n\n b", "a| \n\n| b");
    check_pretok("x   ", "x|   ");
    check_pretok("x\t(", "x|\t|(");
    check_pretok("x (", "x| (");
    check_pretok("end.\n\nNext", "end|.\n\n|Next");
    check_pretok("\xE4\xBD\xA0\xE5\xA5\xBD world", "\xE4\xBD\xA0\xE5\xA5\xBD| world");
    check_pretok("a\x01\x02z", "a|\x01|\x02z");
    check_pretok(" \xCC\x81", " \xCC\x81");
}

/* ---- random round trips -------------------------------------------------------------- */

static void random_roundtrips(const dsv3_tokenizer *t) {
    char *buf = malloc(64 * 1024);
    int ok = 0, n_cases = 2000;
    for (int c = 0; c < n_cases; c++) {
        size_t len = random_text(buf, c % 10 == 0 ? 1500 : 60);
        size_t n = 0, dl = 0;
        int32_t *ids = encode(t, buf, len, 0, &n);
        char *d = ids ? decode(t, ids, n, 0, &dl) : NULL;
        int good = d && dl == len && !memcmp(d, buf, len);
        ok += good;
        if (!good && ok + 5 > c) printf("  round trip failed on random case %d (%zu bytes)\n", c, len);
        free(ids);
        free(d);
    }
    printf("random valid UTF-8 round trips: %d/%d\n", ok, n_cases);
    CHECK(ok == n_cases, "random round trips %d/%d", ok, n_cases);

    /* Random bytes: never crash, decode to valid UTF-8, and encode as their
     * lossy conversion does. */
    unsigned char *raw = malloc(4096), *fixed = malloc(3 * 4096 + 1);
    int ok2 = 0;
    for (int c = 0; c < n_cases; c++) {
        size_t len = rnd_below(c % 10 == 0 ? 4096 : 48);
        for (size_t i = 0; i < len; i++) {
            uint32_t r = rnd_below(8);
            /* biased toward UTF-8-like bytes so that near misses occur */
            raw[i] = (unsigned char)(r < 3 ? rnd_below(256) : r < 5 ? 0x80 + rnd_below(64) : r < 6 ? 0xC0 + rnd_below(64)
                                                                                         : rnd_below(128));
        }
        size_t fl = lossy_utf8(raw, len, fixed);
        size_t n = 0, dl = 0;
        int32_t *ids = encode(t, (const char *)raw, len, 0, &n);
        char *d = ids ? decode(t, ids, n, 0, &dl) : NULL;
        int good = d && is_valid_utf8((const unsigned char *)d, dl) && dl == fl && !memcmp(d, fixed, fl);
        /* arbitrary ids decode to valid UTF-8 too */
        int32_t rid[16];
        for (int i = 0; i < 16; i++) rid[i] = (int32_t)rnd_below(128815);
        size_t rl = 0;
        char *rd = decode(t, rid, 16, c & 1 ? DSV3_DETOKENIZE_SKIP_SPECIAL : 0, &rl);
        size_t sl = 0;
        char *sd = decode_stream(t, rid, 16, c & 1 ? DSV3_DETOKENIZE_SKIP_SPECIAL : 0, &sl);
        good = good && rd && is_valid_utf8((const unsigned char *)rd, rl) && sd && sl == rl && !memcmp(sd, rd, rl);
        ok2 += good;
        free(ids);
        free(d);
        free(rd);
        free(sd);
    }
    printf("random bytes: %d/%d\n", ok2, n_cases);
    CHECK(ok2 == n_cases, "random bytes %d/%d", ok2, n_cases);
    free(raw);
    free(fixed);
    free(buf);
}

/* ---- load errors --------------------------------------------------------------------- */

static void write_file(const char *path, const char *s) {
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(s, f);
        fclose(f);
    }
}

static void check_load_errors(const char *shared) {
    dsv3_tokenizer *t = (dsv3_tokenizer *)1;
    char err[512];
    int rc = dsv3_tokenizer_load("/nonexistent/dsv3/tok", &t, err, sizeof err);
    CHECK(rc == DSV3_ERR_NOT_FOUND && t == NULL && strstr(err, "/nonexistent/dsv3/tok"), "missing path: %d %s", rc, err);
    rc = dsv3_tokenizer_load(NULL, &t, err, sizeof err);
    CHECK(rc == DSV3_ERR_INVALID_ARG, "NULL path");

    char dir[] = "/tmp/dsv3_tok_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    char p1[256], p2[256];
    snprintf(p1, sizeof p1, "%s/tokenizer.json", dir);
    snprintf(p2, sizeof p2, "%s/tokenizer_config.json", dir);
    rc = dsv3_tokenizer_load(dir, &t, err, sizeof err);
    CHECK(rc == DSV3_ERR_NOT_FOUND && strstr(err, "tokenizer.json"), "directory without tokenizer.json: %d %s", rc,
          err);
    write_file(p1, "{\"model\": {\"type\": \"BPE\", \"vocab\": {}");
    rc = dsv3_tokenizer_load(dir, &t, err, sizeof err);
    CHECK(rc == DSV3_ERR_BAD_FILE && strstr(err, "tokenizer.json"), "truncated JSON: %d %s", rc, err);
    write_file(p1, "{\"model\": {\"type\": \"WordPiece\"}}");
    rc = dsv3_tokenizer_load(dir, &t, err, sizeof err);
    CHECK(rc == DSV3_ERR_UNSUPPORTED && strstr(err, "WordPiece"), "WordPiece: %d %s", rc, err);

    /* A small valid tokenizer with DeepSeek-V3's pipeline. */
    char src[4096];
    snprintf(src, sizeof src, "%s/tokenizer/deepseek-v3/tokenizer.json", shared);
    size_t len;
    char *real = slurp(src, &len);
    json_doc *doc = NULL;
    if (!real || json_parse(real, len, &doc, err, sizeof err)) {
        CHECK(0, "parse %s", src);
        free(real);
        return;
    }
    /* The pipeline objects as text: take them from the real file. */
    const json_value *root = json_root(doc);
    size_t pre_off = json_get(root, "pre_tokenizer")->offset, post_off = json_get(root, "post_processor")->offset;
    char *pipeline = malloc(post_off - pre_off + 1);
    memcpy(pipeline, real + pre_off, post_off - pre_off);
    pipeline[post_off - pre_off] = 0;
    char *end = strrchr(pipeline, '}'); /* cut ", \"post_processor\":" */
    if (end) end[1] = 0;
    json_free(doc);
    free(real);
    char *small = malloc(strlen(pipeline) + 1024);
    sprintf(small,
            "{\"added_tokens\": [{\"id\": 5, \"content\": \"<s>\", \"special\": true}],"
            " \"normalizer\": null, \"pre_tokenizer\": %s, \"decoder\": {\"type\": \"ByteLevel\"},"
            " \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2, \"\xC4\xA0\": 3, \"\xC4\xA0" "ab\": 4},"
            " \"merges\": [\"a b\", [\"\xC4\xA0\", \"ab\"]]}}",
            pipeline);
    write_file(p1, small);
    write_file(p2, "{\"bos_token\": \"<s>\", \"add_bos_token\": true, \"chat_template\": \"T\"}");
    rc = dsv3_tokenizer_load(p1, &t, err, sizeof err);
    CHECK(rc == DSV3_OK, "small tokenizer: %d %s", rc, err);
    if (rc == DSV3_OK) {
        int32_t w[] = {5, 2, 4, 5, 0};
        CHECK(encodes_to(t, "<s>ab ab<s>a", 12, 0, w, 5), "small tokenizer encodes");
        CHECK(dsv3_tokenizer_bos(t) == 5 && dsv3_tokenizer_add_bos(t) && dsv3_tokenizer_eos(t) == -1 &&
                  dsv3_tokenizer_is_special(t, 5) && !strcmp(tokenizer_chat_template(t), "T"),
              "small tokenizer specials");
        CHECK(dsv3_tokenizer_n_vocab(t) == 6, "small n_vocab");
        dsv3_tokenizer_free(t);
    }
    /* A merge that names a missing token: BAD_FILE naming it. */
    char *bad = malloc(strlen(small) + 64);
    strcpy(bad, small);
    char *m = strstr(bad, "\"a b\"");
    if (m) m[3] = 'q';
    write_file(p1, bad);
    rc = dsv3_tokenizer_load(dir, &t, err, sizeof err);
    CHECK(rc == DSV3_ERR_BAD_FILE && strstr(err, "\"q\""), "merge with unknown token: %d %s", rc, err);
    /* A malformed config: BAD_FILE naming the file. */
    write_file(p1, small);
    write_file(p2, "{\"bos_token\": 7}");
    rc = dsv3_tokenizer_load(dir, &t, err, sizeof err);
    CHECK(rc == DSV3_ERR_BAD_FILE && strstr(err, "tokenizer_config.json") && strstr(err, "bos_token"),
          "bad config: %d %s", rc, err);
    /* No config: loads, no BOS. */
    unlink(p2);
    rc = dsv3_tokenizer_load(dir, &t, err, sizeof err);
    CHECK(rc == DSV3_OK && dsv3_tokenizer_bos(t) == -1 && !dsv3_tokenizer_add_bos(t) && !tokenizer_bos_text(t),
          "no config: %d %s", rc, err);
    if (rc == DSV3_OK) dsv3_tokenizer_free(t);
    /* A different pre-tokenizer is refused. */
    char *other = malloc(strlen(small) + 64);
    strcpy(other, small);
    char *p = strstr(other, "{1,3}");
    if (p) p[3] = '2';
    write_file(p1, other);
    rc = dsv3_tokenizer_load(dir, &t, err, sizeof err);
    CHECK(rc == DSV3_ERR_UNSUPPORTED && strstr(err, "pre_tokenizer"), "other pre-tokenizer: %d %s", rc, err);
    unlink(p1);
    rmdir(dir);
    free(other);
    free(bad);
    free(small);
    free(pipeline);
}

/* ---- threads ---------------------------------------------------------------------------- */

typedef struct thread_arg {
    const dsv3_tokenizer *t;
    const char *text;
    size_t len;
    const int32_t *want;
    size_t n_want;
    int ok;
} thread_arg;

static void *thread_main(void *p) {
    thread_arg *a = p;
    a->ok = 1;
    for (int i = 0; i < 20; i++) {
        size_t n = 0;
        int32_t *ids = encode(a->t, a->text, a->len, 0, &n);
        if (!ids || n != a->n_want || memcmp(ids, a->want, n * sizeof *ids)) a->ok = 0;
        free(ids);
    }
    return NULL;
}

static void check_threads(const dsv3_tokenizer *t) {
    char *text = malloc(200000);
    rng_state = 12345;
    size_t len = 0;
    while (len < 150000) len += random_text(text + len, 400);
    size_t n = 0;
    int32_t *want = encode(t, text, len, 0, &n);
    thread_arg args[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (thread_arg){t, text, len, want, n, 0};
        pthread_create(&th[i], NULL, thread_main, &args[i]);
    }
    int ok = 1;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ok &= args[i].ok;
    }
    CHECK(want && ok, "4 threads sharing one tokenizer agree");
    free(want);
    free(text);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s SHARED_DIR\n", argv[0]);
        return 2;
    }
    const char *shared = argv[1];
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/tokenizer/deepseek-v3", shared);
    dsv3_tokenizer *t = NULL;
    double t0 = now_s();
    int rc = dsv3_tokenizer_load(path, &t, err, sizeof err);
    double t1 = now_s();
    if (rc) {
        printf("FAIL: load %s: %s (%s)\n", path, err, dsv3_status_string(rc));
        return 1;
    }
    printf("loaded %s in %.3f s\n", path, t1 - t0);

    check_unicode();
    check_pretokenizer();
    check_basics(t);
    golden(t, shared);
    random_roundtrips(t);
    check_load_errors(shared);
    check_threads(t);
    dsv3_tokenizer_free(t);
    dsv3_tokenizer_free(NULL);
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
