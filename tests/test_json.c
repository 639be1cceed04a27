/* test_json.c -- tests for lib/json.c. Standalone: prints one line per
 * failure and "N passed, N failed" at the end; exits non-zero on failure. */
#include "json.h"

#include <float.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_pass, g_fail;

#define CHECK(cond, ...) check_((cond) != 0, __LINE__, #cond, __VA_ARGS__)

static void check_(int ok, int line, const char *expr, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static void check_(int ok, int line, const char *expr, const char *fmt, ...)
{
    if (ok) {
        g_pass++;
        return;
    }
    g_fail++;
    printf("FAIL line %d: %s: ", line, expr);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
}

/* ------------------------------------------------------------------------ */
/* Helpers                                                                    */

/* Parses from an exactly-sized heap copy (no NUL after it), so ASan catches
 * any read past the end. */
static int parse_n(const char *text, size_t len, json_doc **doc, char *err, size_t err_size)
{
    char *copy = malloc(len ? len : 1);
    if (!copy)
        return -2;
    if (len)
        memcpy(copy, text, len);
    int rc = json_parse(copy, len, doc, err, err_size);
    free(copy);
    return rc;
}

/* The arena must not point into the input: parse_n frees the copy before
 * the tree is inspected, so any such pointer would be a use-after-free. */
static json_doc *parse_ok_n(const char *text, size_t len, int line)
{
    char err[256];
    json_doc *doc = NULL;
    int rc = parse_n(text, len, &doc, err, sizeof err);
    check_(rc == 0 && doc != NULL, line, "parse ok", "input %.60s: rc=%d err=%s", text, rc, err);
    return rc == 0 ? doc : NULL;
}
#define PARSE_OK(text) parse_ok_n((text), strlen(text), __LINE__)

/* Expects rejection; if `msg` is non-NULL the error must contain it. */
static void expect_fail_n(const char *text, size_t len, const char *msg, int line)
{
    char err[256];
    json_doc *doc = (json_doc *)&doc; /* must be reset to NULL */
    int rc = parse_n(text, len, &doc, err, sizeof err);
    check_(rc == -1 && doc == NULL, line, "parse fails", "input '%.60s' (len %zu): rc=%d", text, len, rc);
    if (rc == 0)
        json_free(doc);
    if (rc == -1) {
        check_(strncmp(err, "json: at byte ", 14) == 0, line, "error format", "input '%.60s': err='%s'", text,
               err);
        if (msg)
            check_(strstr(err, msg) != NULL, line, "error text", "input '%.60s': err='%s', want '%s'", text, err,
                   msg);
    }
}
#define FAIL_MSG(text, msg) expect_fail_n((text), strlen(text), (msg), __LINE__)
#define FAIL(text) FAIL_MSG((text), NULL)
/* For inputs with embedded NUL bytes: the length of a string literal. */
#define FAIL_LIT(lit) expect_fail_n((lit), sizeof(lit) - 1, NULL, __LINE__)

/* Parses a one-string document and compares the decoded bytes. */
static void expect_string_n(const char *text, const char *want, size_t want_len, int line)
{
    json_doc *doc = parse_ok_n(text, strlen(text), line);
    if (!doc)
        return;
    const json_value *v = json_root(doc);
    check_(v->type == JSON_STRING, line, "string type", "input %s", text);
    if (v->type == JSON_STRING) {
        check_(v->len == want_len && memcmp(v->str, want, want_len) == 0, line, "string value",
               "input %s: len %zu want %zu", text, v->len, want_len);
        check_(v->str[v->len] == '\0', line, "NUL-terminated", "input %s", text);
    }
    json_free(doc);
}
#define STR(text, lit) expect_string_n((text), (lit), sizeof(lit) - 1, __LINE__)

/* Distance in units of the last place between two finite or infinite
 * doubles of the same sign (maps the bit patterns onto a monotone line). */
static uint64_t ulp_dist(double a, double b)
{
    int64_t ia, ib;
    memcpy(&ia, &a, 8);
    memcpy(&ib, &b, 8);
    if (ia < 0)
        ia = INT64_MIN - ia;
    if (ib < 0)
        ib = INT64_MIN - ib;
    return ia > ib ? (uint64_t)ia - (uint64_t)ib : (uint64_t)ib - (uint64_t)ia;
}

static int same_double(double a, double b)
{
    return memcmp(&a, &b, sizeof a) == 0; /* also tells -0 from +0 */
}

/* Parses a number document; returns its value (NAN if it failed). */
static double num_of(const char *text, int line, const json_value **vout, json_doc **dout)
{
    json_doc *doc = parse_ok_n(text, strlen(text), line);
    if (!doc)
        return NAN;
    const json_value *v = json_root(doc);
    check_(v->type == JSON_NUMBER, line, "number type", "input %s", text);
    double d = v->num;
    if (vout && dout) {
        *vout = v;
        *dout = doc;
    } else {
        json_free(doc);
    }
    return d;
}

static void expect_num_n(const char *text, double want, int line)
{
    double d = num_of(text, line, NULL, NULL);
    check_(same_double(d, want), line, "exact number", "input %s: got %.17g want %.17g", text, d, want);
}
#define NUM(text, want) expect_num_n((text), (want), __LINE__)

static void expect_num_ulp_n(const char *text, double want, int line)
{
    double d = num_of(text, line, NULL, NULL);
    check_(ulp_dist(d, want) <= 1, line, "number within 1 ulp", "input %.60s: got %.17g want %.17g", text, d,
           want);
}
#define NUM_ULP(text, want) expect_num_ulp_n((text), (want), __LINE__)

static void expect_int_n(const char *text, int is_int, int64_t i, double num, int line)
{
    const json_value *v = NULL;
    json_doc *doc = NULL;
    num_of(text, line, &v, &doc);
    if (!doc)
        return;
    check_(v->is_int == is_int, line, "is_int", "input %s: is_int=%d", text, v->is_int);
    if (is_int)
        check_(v->i == i, line, "int value", "input %s: i=%lld", text, (long long)v->i);
    check_(same_double(v->num, num), line, "num", "input %s: num=%.17g want %.17g", text, v->num, num);
    json_free(doc);
}
#define INT(text, i) expect_int_n((text), 1, (i), (double)(i), __LINE__)
#define NOT_INT(text, num) expect_int_n((text), 0, 0, (num), __LINE__)

/* Deterministic PRNG (xorshift64*), so failures reproduce. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Walks a tree checking its invariants; returns the number of values. */
static size_t walk(const json_value *v, int depth, int *bad)
{
    size_t count = 1;
    if (depth > JSON_MAX_DEPTH)
        *bad = 1;
    switch (v->type) {
    case JSON_NULL:
        break;
    case JSON_BOOL:
        if (v->boolean != 0 && v->boolean != 1)
            *bad = 1;
        break;
    case JSON_NUMBER:
        if (isnan(v->num))
            *bad = 1;
        if (v->is_int && (double)v->i != v->num)
            *bad = 1;
        break;
    case JSON_STRING:
        if (!v->str || v->str[v->len] != '\0')
            *bad = 1;
        break;
    case JSON_ARRAY:
        for (size_t k = 0; k < v->n; k++) {
            if (json_at(v, k) != &v->items[k])
                *bad = 1;
            count += walk(&v->items[k], depth + 1, bad);
        }
        if (json_at(v, v->n) != NULL)
            *bad = 1;
        break;
    case JSON_OBJECT:
        for (size_t k = 0; k < v->n; k++) {
            if (v->keys[k][v->key_lens[k]] != '\0')
                *bad = 1;
            /* json_get finds this key (or a later duplicate) unless the key
             * has an embedded NUL, which a C string cannot name. json_get is
             * a linear scan, so only sample the keys of big objects. */
            if ((v->n <= 256 || k % 997 == 0) && strlen(v->keys[k]) == v->key_lens[k]) {
                const json_value *g = json_get(v, v->keys[k]);
                if (!g || g < &v->items[k])
                    *bad = 1;
            }
            count += walk(&v->items[k], depth + 1, bad);
        }
        break;
    default:
        *bad = 1;
    }
    return count;
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                      */

static void test_types(void)
{
    json_doc *doc;
    if ((doc = PARSE_OK("null"))) {
        CHECK(json_root(doc)->type == JSON_NULL, "null");
        json_free(doc);
    }
    if ((doc = PARSE_OK(" true "))) {
        CHECK(json_root(doc)->type == JSON_BOOL && json_root(doc)->boolean == 1, "true");
        CHECK(json_root(doc)->offset == 1, "offset %zu", json_root(doc)->offset);
        json_free(doc);
    }
    if ((doc = PARSE_OK("\n\t\rfalse"))) {
        CHECK(json_root(doc)->type == JSON_BOOL && json_root(doc)->boolean == 0, "false");
        json_free(doc);
    }
    if ((doc = PARSE_OK("42"))) {
        const json_value *v = json_root(doc);
        CHECK(v->type == JSON_NUMBER && v->num == 42 && v->is_int && v->i == 42, "42");
        json_free(doc);
    }
    STR("\"hello\"", "hello");
    STR("\"\"", "");
    if ((doc = PARSE_OK("[]"))) {
        const json_value *v = json_root(doc);
        CHECK(v->type == JSON_ARRAY && v->n == 0 && json_at(v, 0) == NULL, "[]");
        json_free(doc);
    }
    if ((doc = PARSE_OK("{ }"))) {
        const json_value *v = json_root(doc);
        CHECK(v->type == JSON_OBJECT && v->n == 0 && json_get(v, "a") == NULL, "{}");
        json_free(doc);
    }

    CHECK(strcmp(json_type_name(JSON_NULL), "null") == 0, "name");
    CHECK(strcmp(json_type_name(JSON_BOOL), "bool") == 0, "name");
    CHECK(strcmp(json_type_name(JSON_NUMBER), "number") == 0, "name");
    CHECK(strcmp(json_type_name(JSON_STRING), "string") == 0, "name");
    CHECK(strcmp(json_type_name(JSON_ARRAY), "array") == 0, "name");
    CHECK(strcmp(json_type_name(JSON_OBJECT), "object") == 0, "name");
    CHECK(json_type_name((enum json_type)99) != NULL, "name of invalid type");

    CHECK(json_root(NULL) == NULL, "json_root(NULL)");
    CHECK(json_get(NULL, "a") == NULL, "json_get(NULL)");
    CHECK(json_at(NULL, 0) == NULL, "json_at(NULL)");
    json_free(NULL);
}

static void test_nested(void)
{
    const char *text = "{\"model\": {\"layers\": [1, 2.5, \"x\", null, true, [], {}],"
                       " \"name\": \"dsv3\"}, \"n\": -7, \"dup\": 1, \"dup\": 2}";
    json_doc *doc = PARSE_OK(text);
    if (!doc)
        return;
    const json_value *r = json_root(doc);
    CHECK(r->type == JSON_OBJECT && r->n == 4, "root object n=%zu", r->n);
    const json_value *model = json_get(r, "model");
    CHECK(model && model->type == JSON_OBJECT && model->n == 2, "model");
    CHECK(model && model->offset == 10, "model offset %zu", model ? model->offset : 0);
    const json_value *layers = json_get(model, "layers");
    CHECK(layers && layers->type == JSON_ARRAY && layers->n == 7, "layers");
    if (layers && layers->n == 7) {
        CHECK(json_at(layers, 0)->i == 1, "layers[0]");
        CHECK(json_at(layers, 1)->num == 2.5 && !json_at(layers, 1)->is_int, "layers[1]");
        CHECK(json_at(layers, 2)->type == JSON_STRING && strcmp(json_at(layers, 2)->str, "x") == 0, "layers[2]");
        CHECK(json_at(layers, 3)->type == JSON_NULL, "layers[3]");
        CHECK(json_at(layers, 4)->type == JSON_BOOL, "layers[4]");
        CHECK(json_at(layers, 5)->type == JSON_ARRAY && json_at(layers, 5)->n == 0, "layers[5]");
        CHECK(json_at(layers, 6)->type == JSON_OBJECT && json_at(layers, 6)->n == 0, "layers[6]");
        CHECK(json_at(layers, 7) == NULL, "out of range");
        CHECK(json_at(layers, (size_t)-1) == NULL, "out of range");
        CHECK(json_at(layers, 1)->offset == (size_t)(strstr(text, "2.5") - text), "offset");
        CHECK(json_get(layers, "x") == NULL, "json_get on array");
    }
    const json_value *name = json_get(model, "name");
    CHECK(name && strcmp(name->str, "dsv3") == 0 && name->len == 4, "name");
    const json_value *n = json_get(r, "n");
    CHECK(n && n->is_int && n->i == -7, "n");
    const json_value *dup = json_get(r, "dup");
    CHECK(dup && dup->i == 2, "last duplicate wins");
    CHECK(json_get(r, "missing") == NULL, "missing key");
    CHECK(json_get(r, "mode") == NULL, "prefix of key");
    CHECK(json_get(r, "modelx") == NULL, "key extension");
    CHECK(json_get(r, NULL) == NULL, "NULL key");
    CHECK(json_at(r, 0) == NULL, "json_at on object");
    CHECK(r->keys && strcmp(r->keys[0], "model") == 0 && r->key_lens[0] == 5, "keys[0]");
    json_free(doc);

    /* Keys with escapes and embedded NUL. */
    doc = PARSE_OK("{\"a\\u0000b\": 1, \"\": 2, \"\\u00e9\": 3}");
    if (doc) {
        r = json_root(doc);
        CHECK(r->n == 3 && r->key_lens[0] == 3 && memcmp(r->keys[0], "a\0b", 4) == 0, "NUL in key");
        CHECK(json_get(r, "a") == NULL, "key with NUL not matched by prefix");
        CHECK(json_get(r, "") && json_get(r, "")->i == 2, "empty key");
        CHECK(json_get(r, "\xC3\xA9") && json_get(r, "\xC3\xA9")->i == 3, "escaped key");
        json_free(doc);
    }
}

static void test_strings(void)
{
    STR("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t");
    STR("\"\\u0041\\u00e9\\u00E9\"", "A\xC3\xA9\xC3\xA9");
    STR("\"\\u20AC\"", "\xE2\x82\xAC");
    STR("\"\\u007f\\u0080\\u07FF\\u0800\\uFFFF\"", "\x7F\xC2\x80\xDF\xBF\xE0\xA0\x80\xEF\xBF\xBF");
    STR("\"\\uD83D\\uDE00\"", "\xF0\x9F\x98\x80");          /* U+1F600 */
    STR("\"\\ud800\\udc00\"", "\xF0\x90\x80\x80");          /* U+10000 */
    STR("\"\\uDBFF\\uDFFF\"", "\xF4\x8F\xBF\xBF");          /* U+10FFFF */
    STR("\"\\u0000\"", "\0");
    STR("\"a\\u0000b\"", "a\0b");
    STR("\"\xC3\xA9\xF0\x9F\x98\x80\"", "\xC3\xA9\xF0\x9F\x98\x80");
    /* Boundaries of well-formed UTF-8. */
    STR("\"\x7F\xC2\x80\xDF\xBF\xE0\xA0\x80\xED\x9F\xBF\xEE\x80\x80\xEF\xBF\xBF\xF0\x90\x80\x80\xF4\x8F\xBF\xBF\"",
        "\x7F\xC2\x80\xDF\xBF\xE0\xA0\x80\xED\x9F\xBF\xEE\x80\x80\xEF\xBF\xBF\xF0\x90\x80\x80\xF4\x8F\xBF\xBF");
    STR("\"a/b\"", "a/b");

    /* Escape errors. */
    FAIL_MSG("\"\\uD800\"", "surrogate");
    FAIL_MSG("\"\\uD800x\"", "surrogate");
    FAIL_MSG("\"\\uD800\\u0041\"", "surrogate");
    FAIL_MSG("\"\\uD800\\uD800\"", "surrogate");
    FAIL_MSG("\"\\uDC00\"", "surrogate");
    FAIL_MSG("\"\\uDE00\\uD83D\"", "surrogate");
    FAIL_MSG("\"\\uD800\\n\"", "surrogate");
    FAIL("\"\\uD800\\u\"");
    FAIL("\"\\uD800\\uDC0\"");
    FAIL_MSG("\"\\u12G4\"", "hex");
    FAIL_MSG("\"\\u12\"", "hex");
    FAIL("\"\\u");
    FAIL("\"\\u12");
    FAIL_MSG("\"\\x41\"", "invalid escape");
    FAIL_MSG("\"\\'\"", "invalid escape");
    FAIL_MSG("\"\\U0041\"", "invalid escape");
    FAIL("\"\\\x01\"");
    FAIL_MSG("\"abc", "unterminated");
    FAIL_MSG("\"abc\\\"", "unterminated");
    FAIL_MSG("\"abc\\", "unterminated");
    /* Raw control characters. */
    FAIL_MSG("\"a\x01\"", "control");
    FAIL_MSG("\"a\x1F\"", "control");
    FAIL_MSG("\"a\tb\"", "control");
    FAIL_MSG("\"a\nb\"", "control");
    FAIL_LIT("\"a\0b\"");
    /* Invalid UTF-8. */
    const char *bad_utf8[] = {
        "\"\xC0\x80\"",         /* overlong NUL */
        "\"\xC1\xBF\"",         /* overlong */
        "\"\xE0\x80\x80\"",     /* overlong */
        "\"\xE0\x9F\xBF\"",     /* overlong (U+07FF in 3 bytes) */
        "\"\xED\xA0\x80\"",     /* UTF-8-encoded surrogate U+D800 */
        "\"\xED\xBF\xBF\"",     /* U+DFFF */
        "\"\xF0\x80\x80\x80\"", /* overlong */
        "\"\xF0\x8F\xBF\xBF\"", /* overlong U+FFFF */
        "\"\xF4\x90\x80\x80\"", /* U+110000 */
        "\"\xF5\x80\x80\x80\"", "\"\xF8\x88\x80\x80\x80\"", "\"\xFF\"", "\"\xFE\"",
        "\"\x80\"",             /* lone continuation */
        "\"\xBF\"", "\"\xC3\"", /* truncated at the quote */
        "\"\xE2\x82\"", "\"\xF0\x9F\x98\"", "\"\xC3\x41\"", "\"\xE2\x41\xAC\"", "\"\xE2\x82\xC0\"",
        "\"\xC3", /* truncated at end of input */
    };
    for (size_t k = 0; k < sizeof bad_utf8 / sizeof bad_utf8[0]; k++)
        FAIL(bad_utf8[k]);
    FAIL_MSG("\"\xED\xA0\x80\"", "UTF-8");

    /* Many strings with escapes: the arena gives back the unused tail of
     * each worst-case buffer; check nothing overlaps. */
    char big[8192];
    size_t o = 0;
    big[o++] = '[';
    for (int k = 0; k < 300; k++)
        o += (size_t)snprintf(big + o, sizeof big - o, "%s\"\\u0041\\n%d\"", k ? "," : "", k);
    big[o++] = ']';
    big[o] = '\0';
    json_doc *doc = PARSE_OK(big);
    if (doc) {
        const json_value *r = json_root(doc);
        int ok = r->n == 300;
        for (size_t k = 0; ok && k < 300; k++) {
            char want[32];
            snprintf(want, sizeof want, "A\n%zu", k);
            ok = strcmp(json_at(r, k)->str, want) == 0 && json_at(r, k)->len == strlen(want);
        }
        CHECK(ok, "300 escaped strings");
        json_free(doc);
    }
}

static void test_structure_errors(void)
{
    FAIL_MSG("", "at byte 0: expected a value");
    FAIL_MSG("   ", "at byte 3: expected a value, found end of input");
    FAIL_MSG("{\"a\" 1}", "at byte 5: expected ':' after object key");
    FAIL_MSG("[1 2]", "at byte 3: expected ',' or ']' in array");
    FAIL_MSG("{\"a\":1 \"b\":2}", "at byte 7: expected ',' or '}' in object");
    FAIL_MSG("[1]x", "at byte 3: expected end of input");
    FAIL_MSG("{}{}", "at byte 2");
    FAIL_MSG("{1:2}", "string key");
    FAIL_MSG("{'a':1}", "string key");
    FAIL_MSG("{\"a\":1,}", "at byte 7: expected a string key");
    FAIL_MSG("[1,]", "at byte 3: expected a value");
    FAIL("[");
    FAIL("]");
    FAIL("{");
    FAIL("}");
    FAIL("[,1]");
    FAIL("[1,,2]");
    FAIL("{\"a\"}");
    FAIL("{\"a\":}");
    FAIL("{\"a\":1");
    FAIL("{\"a\":1,");
    FAIL("{\"a\"");
    FAIL("[1");
    FAIL("[1,");
    FAIL_MSG("tru", "invalid literal");
    FAIL("nul");
    FAIL("fals");
    FAIL("True");
    FAIL("nulll");
    FAIL("truefalse");
    FAIL("undefined");
    FAIL("[1]]");
    FAIL("1 2");
    FAIL("\f1");    /* form feed is not JSON whitespace */
    FAIL("1\v");
    FAIL("\xC2\xA0" "1"); /* nor is U+00A0 */
    FAIL_LIT("1\0");
    FAIL_LIT("\0");
    FAIL("/* comment */ 1");
    FAIL("[1] // c");
    /* Byte order mark: one may lead, nothing else. */
    json_doc *doc = PARSE_OK("\xEF\xBB\xBF{\"a\":1}");
    if (doc) {
        CHECK(json_root(doc)->offset == 3, "offset after BOM %zu", json_root(doc)->offset);
        json_free(doc);
    }
    FAIL("\xEF\xBB\xBF");
    FAIL("\xEF\xBB\xBF\xEF\xBB\xBF" "1");
    FAIL("1\xEF\xBB\xBF");
    FAIL("\xEF\xBB" "1");
    FAIL_MSG("\x01", "found byte 0x01");
}

static void test_api_edges(void)
{
    json_doc *doc = (json_doc *)&doc;
    char err[64];
    CHECK(json_parse("1", 1, NULL, err, sizeof err) == -1, "NULL out");
    CHECK(json_parse(NULL, 0, &doc, err, sizeof err) == -1 && doc == NULL, "NULL text, len 0");
    CHECK(strstr(err, "expected a value") != NULL, "err=%s", err);
    CHECK(json_parse(NULL, 5, &doc, err, sizeof err) == -1 && doc == NULL, "NULL text, len 5");
    /* Error buffer optional or tiny: never overflowed, always terminated. */
    CHECK(json_parse("[", 1, &doc, NULL, 0) == -1, "NULL err");
    CHECK(json_parse("[", 1, &doc, NULL, 100) == -1, "NULL err with size");
    memset(err, 'x', sizeof err);
    CHECK(json_parse("[", 1, &doc, err, 0) == -1 && err[0] == 'x', "err_size 0 untouched");
    CHECK(json_parse("[", 1, &doc, err, 1) == -1 && err[0] == '\0', "err_size 1");
    memset(err, 'x', sizeof err);
    CHECK(json_parse("[1,2,3 x", 8, &doc, err, 20) == -1 && strlen(err) == 19 && err[20] == 'x',
          "truncated err '%s'", err);
    /* The length bounds the text: bytes after it are not read. */
    CHECK(json_parse("[1]garbage", 3, &doc, err, sizeof err) == 0, "len bounds input");
    json_free(doc);
    CHECK(json_parse("123", 2, &doc, err, sizeof err) == 0 && json_root(doc)->i == 12, "len bounds number");
    json_free(doc);
    /* Success clears the error buffer. */
    strcpy(err, "stale");
    CHECK(json_parse("1", 1, &doc, err, sizeof err) == 0 && err[0] == '\0', "err cleared");
    json_free(doc);
}

static void test_depth(void)
{
    enum { BIG = 100000 };
    char *buf = malloc(BIG * 5 + 16);
    if (!buf) {
        CHECK(0, "malloc");
        return;
    }
    for (int levels = JSON_MAX_DEPTH - 1; levels <= JSON_MAX_DEPTH + 1; levels++) {
        size_t o = 0;
        for (int k = 0; k < levels; k++)
            buf[o++] = '[';
        buf[o++] = '1';
        for (int k = 0; k < levels; k++)
            buf[o++] = ']';
        json_doc *doc = NULL;
        char err[128];
        int rc = parse_n(buf, o, &doc, err, sizeof err);
        if (levels <= JSON_MAX_DEPTH) {
            CHECK(rc == 0, "depth %d arrays should parse: %s", levels, err);
            if (rc == 0) {
                const json_value *v = json_root(doc);
                int d = 0;
                while (v && v->type == JSON_ARRAY) {
                    v = json_at(v, 0);
                    d++;
                }
                CHECK(d == levels && v && v->i == 1, "depth walk %d", d);
                json_free(doc);
            }
        } else {
            CHECK(rc == -1 && strstr(err, "nesting") && strstr(err, "at byte 128"), "depth %d: rc=%d %s", levels,
                  rc, err);
        }
        /* Same with objects {"a":{"a":...}}. */
        o = 0;
        for (int k = 0; k < levels; k++) {
            memcpy(buf + o, "{\"a\":", 5);
            o += 5;
        }
        buf[o++] = '0';
        for (int k = 0; k < levels; k++)
            buf[o++] = '}';
        rc = parse_n(buf, o, &doc, err, sizeof err);
        CHECK(rc == (levels <= JSON_MAX_DEPTH ? 0 : -1), "object depth %d: rc=%d %s", levels, rc, err);
        if (rc == 0)
            json_free(doc);
    }
    /* Hostile depth: must fail cleanly, not overflow the stack. */
    memset(buf, '[', BIG);
    CHECK(parse_n(buf, BIG, &(json_doc *){NULL}, NULL, 0) == -1, "100000 '['");
    for (int k = 0; k < BIG; k++)
        memcpy(buf + (size_t)k * 5, "{\"a\":", 5);
    CHECK(parse_n(buf, (size_t)BIG * 5, &(json_doc *){NULL}, NULL, 0) == -1, "100000 '{\"a\":'");
    free(buf);
}

static void test_big(void)
{
    /* Enough values to need several arena chunks and scratch growth. */
    enum { N = 100000 };
    size_t cap = (size_t)N * 40 + 64, o = 0;
    char *buf = malloc(cap);
    if (!buf) {
        CHECK(0, "malloc");
        return;
    }
    buf[o++] = '{';
    for (int k = 0; k < N; k++)
        o += (size_t)snprintf(buf + o, cap - o, "%s\"k%d\":[%d,\"s%d\"]", k ? "," : "", k, k, k);
    buf[o++] = '}';
    json_doc *doc = parse_ok_n(buf, o, __LINE__);
    if (doc) {
        const json_value *r = json_root(doc);
        int ok = r->n == N;
        for (int k = 0; ok && k < N; k += 997) {
            char key[32], s[32];
            snprintf(key, sizeof key, "k%d", k);
            snprintf(s, sizeof s, "s%d", k);
            const json_value *v = json_get(r, key);
            ok = v && v->n == 2 && json_at(v, 0)->i == k && strcmp(json_at(v, 1)->str, s) == 0;
        }
        CHECK(ok, "big object");
        int bad = 0;
        CHECK(walk(r, 0, &bad) == 1 + 3 * (size_t)N && !bad, "walk big");
        json_free(doc);
    }
    /* One string larger than any chunk so far. */
    size_t slen = (size_t)3 << 20;
    char *s = realloc(buf, slen + 2);
    if (!s) {
        free(buf);
        CHECK(0, "malloc");
        return;
    }
    buf = s;
    buf[0] = '"';
    memset(buf + 1, 'z', slen - 2);
    memcpy(buf + slen - 1, "\\n\"", 3);
    doc = parse_ok_n(buf, slen + 2, __LINE__);
    if (doc) {
        const json_value *v = json_root(doc);
        CHECK(v->len == slen - 1 && v->str[slen - 2] == '\n' && v->str[0] == 'z', "big string");
        json_free(doc);
    }
    free(buf);
}

/* Exact and near-exact number conversions. Run in C and in a comma-decimal
 * locale: the parser must not care. */
static void test_numbers(void)
{
    NUM("0", 0.0);
    NUM("-0", -0.0);
    expect_int_n("-0", 1, 0, -0.0, __LINE__);
    NUM("0.0", 0.0);
    NUM("-0.0", -0.0);
    NUM("0e0", 0.0);
    NUM("0E+1", 0.0);
    NUM("-0e-5", -0.0);
    NUM("0.000", 0.0);
    NUM("0e999999999999999999999", 0.0);
    NUM("1", 1.0);
    NUM("1e-06", 1e-6);
    NUM("1e-6", 1e-6);
    NUM("1E-6", 1e-6);
    NUM("0.000001", 1e-6);
    NUM("0.000001000", 1e-6);
    NUM("1000e-9", 1e-6);
    NUM("0.707", 0.707);
    NUM("2.5", 2.5);
    NUM("-2.5", -2.5);
    NUM("0.1", 0.1);
    NUM("0.3", 0.3);
    NUM("3.14159", 3.14159);
    NUM("1e22", 1e22);
    NUM("1e23", 1e23);
    NUM("1e24", 1e24);
    NUM("1000000000000000000000000", 1e24);
    NUM("6.02214076e23", 6.02214076e23);
    NUM("1.5e+2", 150.0);
    NUM("1e308", 1e308);
    NUM("1.7976931348623157e308", DBL_MAX);
    NUM("-1.7976931348623157e308", -DBL_MAX);
    NUM("1.7976931348623158e308", DBL_MAX); /* still rounds down */
    NUM("1.7976931348623159e308", HUGE_VAL); /* past DBL_MAX + ulp/2 */
    NUM("2.2250738585072014e-308", DBL_MIN);
    NUM("2.2250738585072009e-308", 2.2250738585072009e-308); /* largest subnormal */
    NUM("5e-324", 4.9406564584124654e-324);
    NUM("4.9406564584124654e-324", 4.9406564584124654e-324);
    NUM("2.4703282292062328e-324", 4.9406564584124654e-324); /* just over half: up */
    NUM("2.4703282292062327e-324", 0.0);                     /* just under half: 0 */
    NUM("1e-324", 0.0);
    NUM("-1e-400", -0.0);
    NUM("1e-400", 0.0);
    NUM("1e400", HUGE_VAL);
    NUM("-1e400", -HUGE_VAL);
    NUM("1e999999999", HUGE_VAL);
    NUM("-1e999999999", -HUGE_VAL);
    NUM("1e-999999999", 0.0);
    NUM("1e99999999999999999999999999999999", HUGE_VAL);
    NUM("1e-99999999999999999999999999999999", 0.0);
    NUM("0.00000000000000000000000000000000000000000000000000001e53", 1.0);
    NUM("9007199254740993", 9007199254740992.0); /* ties to even */
    NUM("9007199254740995", 9007199254740996.0);
    NUM_ULP("123456789012345678901234567890", 1.2345678901234568e29);
    NUM("123456789012345678901234567890", 123456789012345678901234567890.0);
    NUM("1e126", 1e126); /* the long double estimate is ambiguous here */
    NUM("3.7e+47", 3.7e+47);
    NUM("7.0e-161", 7.0e-161);
    NUM_ULP("3.141592653589793238462643383279502884197169399375105820974944", 3.141592653589793);
    NUM_ULP("2.718281828459045235360287471352662497757", 2.718281828459045);
    NUM_ULP("1.2345678901234567890123456789e-300", 1.2345678901234568e-300);
    NUM_ULP("8.98846567431158e307", 8.98846567431158e307);

    /* Many digits: numbers far longer than 19 significant digits. */
    char buf[1200];
    memset(buf, '0', sizeof buf);
    buf[0] = '1';
    buf[401] = '\0'; /* "1" + 400 zeros */
    NUM(buf, HUGE_VAL);
    buf[309] = '\0'; /* 1e308 */
    NUM(buf, 1e308);
    memset(buf, '0', sizeof buf);
    memcpy(buf, "0.", 2);
    buf[1000] = '1';
    buf[1001] = '\0'; /* 0.000...01 = 1e-999 */
    NUM(buf, 0.0);
    memcpy(buf, "0.", 2);
    memset(buf + 2, '0', 300);
    memcpy(buf + 302, "1e300", 6); /* 1e-301 * 1e300 */
    NUM(buf, 0.1);
    memset(buf, '9', 1000);
    buf[1000] = '\0';
    NUM(buf, HUGE_VAL);
    memcpy(buf + 500, "e-600", 6); /* 9.99..e-101 -> 1e-100 */
    NUM_ULP(buf, 1e-100);

    /* is_int / int64 bounds. */
    INT("0", 0);
    INT("-1", -1);
    INT("9007199254740993", 9007199254740993LL);
    INT("9223372036854775807", INT64_MAX);
    INT("-9223372036854775807", -INT64_MAX);
    INT("-9223372036854775808", INT64_MIN);
    NOT_INT("9223372036854775808", 9223372036854775808.0);
    NOT_INT("-9223372036854775809", -9223372036854775808.0);
    NOT_INT("18446744073709551615", 18446744073709551615.0);
    NOT_INT("18446744073709551616", 18446744073709551616.0);
    NOT_INT("99999999999999999999999", 1e23);
    NOT_INT("1.0", 1.0);
    NOT_INT("1e2", 100.0);
    NOT_INT("1E0", 1.0);
    NOT_INT("-5.0", -5.0);
    NOT_INT("100e-2", 1.0);

    /* Strict RFC 8259 number grammar. */
    FAIL_MSG("01", "leading zero");
    FAIL_MSG("-01", "leading zero");
    FAIL_MSG("00", "leading zero");
    FAIL("00.5");
    FAIL_MSG("+1", "expected a value");
    FAIL_MSG(".5", "expected a value");
    FAIL_MSG("-.5", "digit after '-'");
    FAIL_MSG("5.", "digit after '.'");
    FAIL_MSG("1.e5", "digit after '.'");
    FAIL_MSG("1e", "exponent");
    FAIL_MSG("1e+", "exponent");
    FAIL_MSG("1E-", "exponent");
    FAIL_MSG("1e+-1", "exponent");
    FAIL_MSG("-", "digit after '-'");
    FAIL("--1");
    FAIL("- 1");
    FAIL("NaN");
    FAIL("nan");
    FAIL("Infinity");
    FAIL("-Infinity");
    FAIL("inf");
    FAIL("0x10");
    FAIL("1.5.3");
    FAIL("1e5e5");
    FAIL("1,5");
    FAIL("1 .5");
    FAIL("[1.]");
    FAIL("[-]");
    FAIL("0-1");
    FAIL("1e5.5");
    FAIL("\xEF\xBC\x91"); /* fullwidth digit one */
}

/* Compares against strtod in the C locale, which glibc (like most libcs)
 * rounds correctly; so must we: every result has to be bit-identical. */
static int g_inexact, g_checked;
static void compare_strtod(const char *buf)
{
    double want = strtod(buf, NULL);
    json_doc *doc = NULL;
    if (json_parse(buf, strlen(buf), &doc, NULL, 0) != 0) {
        CHECK(0, "number %.80s did not parse", buf);
        return;
    }
    double got = json_root(doc)->num;
    json_free(doc);
    g_checked++;
    if (!same_double(got, want)) {
        if (g_inexact++ < 10)
            printf("  %.100s: got %.17g, strtod %.17g (%llu ulp)\n", buf, got, want,
                   (unsigned long long)ulp_dist(got, want));
        CHECK(ulp_dist(got, want) <= 1 && signbit(got) == signbit(want), "within 1 ulp: %.100s", buf);
    }
}

static void test_numbers_vs_strtod(void)
{
    uint64_t seed = 0x9E3779B97F4A7C15ULL;
    char buf[1024];
    g_inexact = g_checked = 0;
    for (int k = 0; k < 200000; k++) {
        uint64_t r = rng_next(&seed);
        switch (k % 4) {
        case 0: { /* a random finite double, in long and short forms */
            double d;
            memcpy(&d, &r, 8);
            if (!isfinite(d))
                continue;
            static const char *fmts[] = {"%.17g", "%.16g", "%.15g", "%.6g", "%.20e", "%.1e"};
            snprintf(buf, sizeof buf, fmts[(r >> 7) % 6], d);
            break;
        }
        case 1: { /* random digits with an exponent around the limits */
            int nd = 1 + (int)(r % 25);
            size_t o = 0;
            if (r & 0x100)
                buf[o++] = '-';
            buf[o++] = (char)('1' + rng_next(&seed) % 9);
            if (nd > 1)
                buf[o++] = '.';
            for (int j = 1; j < nd; j++)
                buf[o++] = (char)('0' + rng_next(&seed) % 10);
            int e = (int)(rng_next(&seed) % 700) - 350;
            snprintf(buf + o, sizeof buf - o, "e%d", e);
            break;
        }
        case 2: { /* integers of up to 25 digits */
            int nd = 1 + (int)(r % 25);
            size_t o = 0;
            buf[o++] = (char)('1' + rng_next(&seed) % 9);
            for (int j = 1; j < nd; j++)
                buf[o++] = (char)('0' + rng_next(&seed) % 10);
            buf[o] = '\0';
            break;
        }
        default: { /* subnormal and near-overflow region */
            int nd = 1 + (int)(r % 20);
            size_t o = 0;
            buf[o++] = (char)('1' + rng_next(&seed) % 9);
            buf[o++] = '.';
            for (int j = 0; j < nd; j++)
                buf[o++] = (char)('0' + rng_next(&seed) % 10);
            int e = (r & 0x200) ? 300 + (int)(rng_next(&seed) % 10) : -310 - (int)(rng_next(&seed) % 16);
            snprintf(buf + o, sizeof buf - o, "e%d", e);
            break;
        }
        }
        compare_strtod(buf);
    }
#if LDBL_MANT_DIG >= 64
    /* The hardest inputs: exact midpoints between adjacent doubles (ties go
     * to even), and decimals just above / below them. A midpoint needs 54
     * bits, so it is exact in x87 long double, and glibc prints it exactly. */
    for (int k = 0; k < 20000; k++) {
        uint64_t r = rng_next(&seed);
        double d;
        memcpy(&d, &r, 8);
        d = fabs(d);
        if (!isfinite(d) || d == DBL_MAX)
            continue;
        long double mid = ((long double)d + (long double)nextafter(d, INFINITY)) / 2;
        char digits[900], ex[16];
        snprintf(digits, sizeof digits, "%.780Le", mid);
        char *e = strchr(digits, 'e');
        snprintf(ex, sizeof ex, "%s", e);
        while (e[-1] == '0') /* trailing zeros of the mantissa */
            e--;
        if (e[-1] == '.')
            e--;
        *e = '\0';
        switch (r % 4) {
        case 0: /* the tie itself */
            snprintf(buf, sizeof buf, "%s%s", digits, ex);
            break;
        case 1: /* a hair above */
            snprintf(buf, sizeof buf, "%s%s0000000001%s", digits, strchr(digits, '.') ? "" : ".", ex);
            break;
        case 2: /* a hair below: the last digit is nonzero, lower it */
            if (strchr(digits, '.'))
                e[-1] = (char)(e[-1] - 1);
            snprintf(buf, sizeof buf, "%s%s", digits, ex);
            break;
        default: /* cut to a random length */
            digits[3 + (r >> 32) % 40] = '\0';
            snprintf(buf, sizeof buf, "%s%s", digits, ex);
            break;
        }
        compare_strtod(buf);
    }
#endif
    printf("  numbers vs strtod: %d checked, %d not bit-identical\n", g_checked, g_inexact);
    CHECK(g_inexact == 0, "%d numbers not correctly rounded", g_inexact);
}

static void test_locale(void)
{
    static const char *names[] = {"de_DE.UTF-8", "de_DE.utf8", "de_DE", "fr_FR.UTF-8", "fr_FR.utf8",
                                  "ru_RU.UTF-8", "nl_NL.UTF-8", "German"};
    const char *got = NULL;
    for (size_t k = 0; k < sizeof names / sizeof names[0] && !got; k++)
        got = setlocale(LC_NUMERIC, names[k]);
    if (got) {
        printf("  locale: LC_NUMERIC=%s (decimal point '%s')\n", got, localeconv()->decimal_point);
    } else {
        printf("  locale: no comma-decimal locale available; testing in the C locale\n");
    }
    test_numbers();
    NUM("12.75", 12.75);
    FAIL("12,75");
    setlocale(LC_NUMERIC, "C");
}

/* Flip / insert / delete random bytes of a valid document and parse each
 * mutant; nothing may crash, leak or read out of bounds. */
static void test_mutations(void)
{
    static const char base[] =
        "\xEF\xBB\xBF{\"architectures\": [\"DeepseekV3ForCausalLM\"], \"hidden_size\": 7168,"
        " \"rope_theta\": 10000.0, \"rms_norm_eps\": 1e-06, \"tie\": false, \"x\": null,"
        " \"s\": \"a\\u00e9\\uD83D\\uDE00\\n\\\"\\\\\xC3\xA9\", \"neg\": -0.5e-3,"
        " \"weight_map\": {\"a.weight\": \"model-00001-of-00163.safetensors\", \"b\": [[], {}, [1, [2, [3]]]]},"
        " \"big\": 123456789012345678901234567890, \"i\": -9223372036854775808}";
    uint64_t seed = 42;
    char buf[sizeof base + 64];
    int ok = 0, rejected = 0, bad = 0, badmsg = 0;
    for (int it = 0; it < 20000; it++) {
        size_t len = sizeof base - 1;
        memcpy(buf, base, len);
        int nmut = 1 + (int)(rng_next(&seed) % 4);
        for (int m = 0; m < nmut; m++) {
            uint64_t r = rng_next(&seed);
            size_t at = len ? (size_t)(r >> 8) % len : 0;
            switch (r % 4) {
            case 0: /* flip one bit */
                if (len)
                    buf[at] = (char)(buf[at] ^ (1u << ((r >> 4) & 7)));
                break;
            case 1: /* replace with an interesting byte */
                if (len) {
                    static const char interesting[] = "{}[]\",:\\u0eE.-+ \x00\x1F\x80\xBF\xC0\xED\xF4\xFF";
                    buf[at] = interesting[(r >> 40) % (sizeof interesting - 1)];
                }
                break;
            case 2: /* insert a random byte */
                if (len < sizeof buf) {
                    memmove(buf + at + 1, buf + at, len - at);
                    buf[at] = (char)(r >> 32);
                    len++;
                }
                break;
            default: /* delete a byte */
                if (len) {
                    memmove(buf + at, buf + at + 1, len - at - 1);
                    len--;
                }
                break;
            }
        }
        char err[160];
        json_doc *doc = NULL;
        int rc = parse_n(buf, len, &doc, err, sizeof err);
        if (rc == 0) {
            ok++;
            int b = 0;
            walk(json_root(doc), 0, &b);
            bad += b;
            json_free(doc);
        } else if (rc == -1 && doc == NULL) {
            rejected++;
            if (strncmp(err, "json: at byte ", 14) != 0)
                badmsg++;
        } else {
            bad++;
        }
    }
    CHECK(bad == 0, "%d mutants gave a bad tree or return code", bad);
    CHECK(badmsg == 0, "%d error messages without offset", badmsg);
    CHECK(ok > 100 && rejected > 10000, "mutants: %d parsed, %d rejected", ok, rejected);
    printf("  mutations: %d parsed, %d rejected\n", ok, rejected);
}

int main(void)
{
    test_types();
    test_nested();
    test_strings();
    test_structure_errors();
    test_api_edges();
    test_depth();
    test_big();
    test_numbers();
    test_numbers_vs_strtod(); /* before setlocale: strtod is locale-dependent */
    test_locale();
    test_mutations();
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
