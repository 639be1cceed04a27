/* fuzz_tokenizer.c -- libFuzzer harness: encode arbitrary bytes with the
 * real DeepSeek-V3 tokenizer (loaded once from $DSV3_TOKENIZER, default
 * ../shared/tokenizer/deepseek-v3), decode the ids, and check that the
 * result is valid UTF-8, that it equals the input when the input is valid
 * UTF-8, and that the streaming decoder agrees with the batch decoder. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsv3.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static dsv3_tokenizer *tok_once(void) {
    static dsv3_tokenizer *tok; /* the harness's own state, loaded once */
    if (!tok) {
        const char *path = getenv("DSV3_TOKENIZER");
        char err[512];
        if (!path) path = "../shared/tokenizer/deepseek-v3";
        if (dsv3_tokenizer_load(path, &tok, err, sizeof err) != DSV3_OK) {
            fprintf(stderr, "fuzz_tokenizer: cannot load %s: %s\n", path, err);
            abort();
        }
    }
    return tok;
}

/* Well-formed UTF-8 (no surrogates, no overlongs, <= U+10FFFF). */
static int valid_utf8(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t b = s[i];
        size_t need;
        uint8_t lo = 0x80, hi = 0xBF;
        if (b < 0x80) { i++; continue; }
        if (b >= 0xC2 && b <= 0xDF) need = 2;
        else if (b >= 0xE0 && b <= 0xEF) need = 3;
        else if (b >= 0xF0 && b <= 0xF4) need = 4;
        else return 0;
        if (b == 0xE0) lo = 0xA0;
        if (b == 0xED) hi = 0x9F;
        if (b == 0xF0) lo = 0x90;
        if (b == 0xF4) hi = 0x8F;
        if (n - i < need || s[i + 1] < lo || s[i + 1] > hi) return 0;
        for (size_t k = 2; k < need; k++)
            if ((s[i + k] & 0xC0) != 0x80) return 0;
        i += need;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    dsv3_tokenizer *t = tok_once();
    unsigned flags = size && (data[0] & 1) ? DSV3_TOKENIZE_NO_ADDED : 0;
    size_t n = 0;
    int rc = dsv3_tokenize(t, (const char *)data, size, flags, NULL, 0, &n);
    if (rc != DSV3_OK && rc != DSV3_ERR_TOO_SMALL) abort();
    int32_t *ids = malloc(sizeof *ids * (n + 1));
    size_t n2 = 0;
    if (!ids || dsv3_tokenize(t, (const char *)data, size, flags, ids, n, &n2) != DSV3_OK || n2 != n) abort();

    size_t len = 0;
    rc = dsv3_detokenize(t, ids, n, 0, NULL, 0, &len);
    if (rc != DSV3_ERR_TOO_SMALL && !(rc == DSV3_OK && len == 0)) abort();
    char *text = malloc(len + 1);
    size_t len2 = 0;
    if (!text || dsv3_detokenize(t, ids, n, 0, text, len + 1, &len2) != DSV3_OK || len2 != len) abort();
    if (!valid_utf8((const uint8_t *)text, len)) abort();
    if (valid_utf8(data, size) && (len != size || memcmp(text, data, size))) abort();

    /* streaming == batch */
    dsv3_detok_stream *st = NULL;
    if (dsv3_detok_stream_create(t, 0, &st) != DSV3_OK) abort();
    char piece[1024];
    size_t at = 0;
    for (size_t i = 0; i <= n; i++) {
        size_t k = 0;
        rc = i < n ? dsv3_detok_stream_push(st, ids[i], piece, sizeof piece, &k)
                   : dsv3_detok_stream_flush(st, piece, sizeof piece, &k);
        if (rc != DSV3_OK || at + k > len || memcmp(text + at, piece, k)) abort();
        at += k;
    }
    if (at != len) abort();
    dsv3_detok_stream_free(st);
    free(text);
    free(ids);
    return 0;
}
