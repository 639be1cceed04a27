/* fuzz_tok_common.h -- checks shared by the tokenizer harnesses: what any
 * tokenizer that loaded must do, whatever file it came from. Include after
 * fuzz_util.h. */
#ifndef DSV3_FUZZ_TOK_COMMON_H
#define DSV3_FUZZ_TOK_COMMON_H

#include "dsv3.h"

/* Well-formed UTF-8 (no surrogates, no overlongs, <= U+10FFFF). */
static inline int fuzz_valid_utf8(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint8_t b = s[i];
        size_t need;
        uint8_t lo = 0x80, hi = 0xBF;
        if (b < 0x80) {
            i++;
            continue;
        }
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

/* Encode text, decode the ids (batch and streaming) and check: ids inside
 * the vocabulary, sizes reported consistently, decoded text valid UTF-8,
 * streaming == batch. With exact, valid UTF-8 input must come back
 * unchanged (true of byte-level BPE with every byte in the vocabulary, as
 * in real tokenizers; not of arbitrary loaded ones). */
static inline void fuzz_tok_roundtrip(const dsv3_tokenizer *t, const char *text, size_t size, unsigned flags, int exact) {
    const int32_t nv = dsv3_tokenizer_n_vocab(t);
    /* At most 3 ids a byte (an invalid byte becomes U+FFFD, 3 bytes) plus
     * BOS: one call usually suffices, as it does for callers. */
    size_t cap = 3 * size + 2, n = 0;
    int32_t *ids = malloc(sizeof *ids * cap);
    FUZZ_ASSERT(ids);
    int rc = dsv3_tokenize(t, text, size, flags, ids, cap, &n);
    if (rc == DSV3_ERR_TOO_SMALL) { /* possible with odd tokenizers only */
        FUZZ_ASSERT(n > cap);
        free(ids);
        ids = malloc(sizeof *ids * n);
        cap = n;
        FUZZ_ASSERT(ids && dsv3_tokenize(t, text, size, flags, ids, cap, &n) == DSV3_OK && n == cap);
    } else {
        FUZZ_ASSERT(rc == DSV3_OK && n <= cap);
    }
    if (n <= 256) { /* the size query and a one-short buffer agree (cheap cases only) */
        size_t q = 0;
        rc = dsv3_tokenize(t, text, size, flags, NULL, 0, &q);
        FUZZ_ASSERT(q == n && (rc == DSV3_OK) == (n == 0) && (rc == DSV3_OK || rc == DSV3_ERR_TOO_SMALL));
        if (n > 1) {
            FUZZ_ASSERT(dsv3_tokenize(t, text, size, flags, ids, n - 1, &q) == DSV3_ERR_TOO_SMALL && q == n);
            FUZZ_ASSERT(dsv3_tokenize(t, text, size, flags, ids, n, &q) == DSV3_OK && q == n);
        }
    }
    for (size_t i = 0; i < n; i++) {
        FUZZ_ASSERT(ids[i] >= 0 && ids[i] < nv);
        const char *b;
        size_t bl;
        FUZZ_ASSERT(dsv3_token_bytes(t, ids[i], &b, &bl) == DSV3_OK);
    }
    /* Skipping special tokens too, for short inputs (each pass costs as
     * much as the encoding). */
    for (unsigned dflags = 0; dflags < (n <= 1024 ? 2u : 1u); dflags++) {
        size_t len = 0;
        rc = dsv3_detokenize(t, ids, n, dflags, NULL, 0, &len);
        FUZZ_ASSERT(rc == DSV3_ERR_TOO_SMALL || (rc == DSV3_OK && len == 0));
        char *out = malloc(len + 1);
        size_t len2 = 0;
        FUZZ_ASSERT(out && dsv3_detokenize(t, ids, n, dflags, out, len + 1, &len2) == DSV3_OK && len2 == len);
        FUZZ_ASSERT(out[len] == 0);
        FUZZ_ASSERT(fuzz_valid_utf8((const uint8_t *)out, len));
        if (exact && !dflags && fuzz_valid_utf8((const uint8_t *)text, size))
            FUZZ_ASSERT(len == size && !memcmp(out, text, size));
        dsv3_detok_stream *st = NULL;
        FUZZ_ASSERT(dsv3_detok_stream_create(t, dflags, &st) == DSV3_OK);
        char piece[1024];
        size_t at = 0;
        for (size_t i = 0; i <= n; i++) {
            size_t k = 0;
            rc = i < n ? dsv3_detok_stream_push(st, ids[i], piece, sizeof piece, &k)
                       : dsv3_detok_stream_flush(st, piece, sizeof piece, &k);
            FUZZ_ASSERT(rc == DSV3_OK && at + k <= len && !memcmp(out + at, piece, k));
            at += k;
        }
        FUZZ_ASSERT(at == len);
        dsv3_detok_stream_free(st);
        free(out);
    }
    free(ids);
}

/* Properties of a freshly loaded tokenizer, and a few texts through it. */
static inline void fuzz_tok_exercise(const dsv3_tokenizer *t, const uint8_t *extra, size_t extra_n) {
    const int32_t nv = dsv3_tokenizer_n_vocab(t);
    FUZZ_ASSERT(nv >= 0);
    const int32_t bos = dsv3_tokenizer_bos(t), eos = dsv3_tokenizer_eos(t);
    FUZZ_ASSERT(bos >= -1 && bos < nv && eos >= -1 && eos < nv);
    const int32_t probe[] = {-1, 0, 1, nv / 2, nv - 1, nv, INT32_MAX, INT32_MIN};
    for (size_t i = 0; i < sizeof probe / sizeof probe[0]; i++) {
        const char *b = NULL;
        size_t bl = 0;
        int rc = dsv3_token_bytes(t, probe[i], &b, &bl);
        FUZZ_ASSERT(rc == DSV3_OK || rc == DSV3_ERR_BAD_TOKEN);
        if (rc == DSV3_OK) {
            FUZZ_ASSERT(probe[i] >= 0 && probe[i] < nv && (b || !bl));
            volatile char c = bl ? b[bl - 1] : 0;
            (void)c;
        }
        int sp = dsv3_tokenizer_is_special(t, probe[i]);
        FUZZ_ASSERT(sp == 0 || sp == 1);
    }
    static const char sample[] = "Hello, world! 12345 \xe4\xbd\xa0\xe5\xa5\xbd  \n\n x";
    fuzz_tok_roundtrip(t, sample, sizeof sample - 1, DSV3_TOKENIZE_ADD_BOS, 0);
    if (extra_n) fuzz_tok_roundtrip(t, (const char *)extra, extra_n, 0, 0);
    /* Decoding every id (a bounded number) never fails. */
    int32_t ids[256];
    size_t k = 0;
    for (int32_t i = 0; i < nv && k < 256; i += 1 + nv / 256) ids[k++] = i;
    size_t len = 0;
    int rc = dsv3_detokenize(t, ids, k, 0, NULL, 0, &len);
    FUZZ_ASSERT(rc == DSV3_OK || rc == DSV3_ERR_TOO_SMALL || rc == DSV3_ERR_BAD_TOKEN);
    struct dsv3_chat_message msg = {"user", "hi", NULL, 0};
    size_t cl = 0;
    rc = dsv3_chat_render(t, &msg, 1, 1, NULL, 0, &cl);
    FUZZ_ASSERT(rc == DSV3_ERR_TOO_SMALL && cl > 0);
}

#endif
