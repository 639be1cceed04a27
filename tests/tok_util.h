/* tok_util.h -- encode/decode through the public API with the size-query
 * protocol (call once for the size, once to fill), for the tokenizer tests.
 * NULL on any failure or when the two calls disagree about the size. */
#ifndef DSV3_TOK_UTIL_H
#define DSV3_TOK_UTIL_H

#include <stdint.h>
#include <stdlib.h>

#include "dsv3.h"

static inline int32_t *encode(const dsv3_tokenizer *t, const char *s, size_t n, unsigned flags, size_t *out_n) {
    size_t need = 0;
    int rc = dsv3_tokenize(t, s, n, flags, NULL, 0, &need);
    if (rc != DSV3_OK && rc != DSV3_ERR_TOO_SMALL) return NULL;
    int32_t *ids = malloc(sizeof *ids * (need ? need : 1));
    if (!ids) return NULL;
    rc = dsv3_tokenize(t, s, n, flags, ids, need, out_n);
    if (rc != DSV3_OK || *out_n != need) {
        free(ids);
        return NULL;
    }
    return ids;
}

static inline char *decode(const dsv3_tokenizer *t, const int32_t *ids, size_t n, unsigned flags, size_t *len) {
    size_t need = 0;
    int rc = dsv3_detokenize(t, ids, n, flags, NULL, 0, &need);
    if (rc != DSV3_OK && rc != DSV3_ERR_TOO_SMALL) return NULL;
    char *s = malloc(need + 1);
    if (!s) return NULL;
    rc = dsv3_detokenize(t, ids, n, flags, s, need + 1, len);
    if (rc != DSV3_OK || *len != need) {
        free(s);
        return NULL;
    }
    return s;
}

#endif
