/* golden_util.h -- helpers for the data-driven tests (the golden data in
 * ../shared, the core fixtures): file loading, JSON, a tiny pass/fail
 * counter, skipping a backend this CPU cannot run. */
#ifndef DSV3_GOLDEN_UTIL_H
#define DSV3_GOLDEN_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsv3.h"
#include "json.h"

static int g_pass, g_fail;

#define CHECK(cond, ...)                                          \
    do {                                                          \
        if (cond) g_pass++;                                       \
        else {                                                    \
            g_fail++;                                             \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);           \
            printf(__VA_ARGS__);                                  \
            printf("\n");                                         \
        }                                                         \
    } while (0)

/* A named backend that is compiled in but cannot run here (an avx512 test
 * on a CPU without AVX-512, vulkan without a loader or a device): the test
 * reports it with the backend's own reason and exits with 77, which CTest
 * counts as skipped (SKIP_RETURN_CODE), never as passed; a failure instead
 * when the environment's DSV3_REQUIRE_BACKEND names it. Unknown names fall
 * through, and fail where they are used. */
#define SKIP_CODE 77
static inline void skip_if_backend_unavailable(const char *name) {
    for (int i = 0;; i++) {
        int avail = 0;
        const char *n = dsv3_backend_name(i, &avail);
        if (!n) return;
        if (!strcmp(n, name) && !avail) {
            char why[512] = "";
            dsv3_backend_describe(i, why, sizeof why);
            for (char *c = why; *c; c++)
                if (*c == '\n') *c = ' ';
            /* CI sets DSV3_REQUIRE_BACKEND=vulkan where lavapipe must run it */
            const char *req = getenv("DSV3_REQUIRE_BACKEND");
            const int must = req && !strcmp(req, name);
            printf("%s: backend '%s' is compiled in but cannot run here: %s\n", must ? "FAIL" : "SKIP", name,
                   *why ? why : "no reason given");
            exit(must ? 1 : SKIP_CODE);
        }
    }
}

static int finish(void) {
    printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}

/* Whole file into memory; exits the test loudly if missing. */
static void *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "FATAL: cannot open %s\n", path);
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = malloc((size_t)n + 1);
    if (!p || fread(p, 1, (size_t)n, f) != (size_t)n) { fprintf(stderr, "FATAL: read %s\n", path); exit(2); }
    p[n] = 0;
    fclose(f);
    if (len) *len = (size_t)n;
    return p;
}

static json_doc *load_json(const char *path) {
    size_t n;
    char *t = slurp(path, &n);
    json_doc *d = NULL;
    char err[256];
    if (json_parse(t, n, &d, err, sizeof err)) { fprintf(stderr, "FATAL: %s: %s\n", path, err); exit(2); }
    free(t);
    return d;
}

/* int array from a JSON array value */
static int32_t *json_ints(const json_value *a, int *n) {
    *n = a ? (int)a->n : 0;
    int32_t *r = malloc(sizeof(int32_t) * (size_t)(*n + 1));
    for (int i = 0; i < *n; i++) r[i] = (int32_t)a->items[i].i;
    return r;
}

#endif
