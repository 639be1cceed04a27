/* cli_util.c -- small helpers shared by the subcommands. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "gguf.h"
#include "json.h"

/* "1,2,3" -> array; NULL on a malformed list. */
int32_t *parse_tokens(const char *s, int *n) {
    int cap = 16;
    int32_t *t = malloc(sizeof *t * cap);
    *n = 0;
    while (t && *s) {
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (end == s || errno || v < -2147483647L || v > 2147483647L) { free(t); return NULL; }
        if (*n == cap) {
            int32_t *nt = realloc(t, sizeof *t * (cap *= 2));
            if (!nt) { free(t); return NULL; }
            t = nt;
        }
        t[(*n)++] = (int32_t)v;
        s = end;
        if (*s == ',') s++;
        else if (*s) { free(t); return NULL; }
    }
    if (t && *n == 0) { free(t); return NULL; }
    return t;
}

/* Whole file into a NUL-terminated buffer; NULL on failure. */
char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    while (b) {
        size_t r = fread(b + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0) break;
        if (cap - n - 1 == 0) {
            char *nb = realloc(b, cap *= 2);
            if (!nb) { free(b); b = NULL; break; }
            b = nb;
        }
    }
    fclose(f);
    if (b) { b[n] = 0; if (len) *len = n; }
    return b;
}

static int has_config(const char *dir) {
    char p[4200];
    struct stat st;
    return snprintf(p, sizeof p, "%s/config.json", dir) < (int)sizeof p && stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The demo model, first found of: $DSV3_MODEL (a model the user picked,
 * which need not be the demo); the installed copy beside this executable
 * (bin/../share/dsv3/models/..., so an installed dsv3 works without its
 * source tree and wherever the prefix is moved); the source tree's copy
 * (a build that was not installed). */
const char *cli_default_model(void) {
    const char *env = getenv("DSV3_MODEL");
    if (env && *env) return env;
#ifdef DSV3_INSTALLED_MODEL_REL
    static char installed[4200];
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = 0;
            if (snprintf(installed, sizeof installed, "%s/%s", exe, DSV3_INSTALLED_MODEL_REL) < (int)sizeof installed &&
                has_config(installed))
                return installed;
        }
    }
#endif
#ifdef DSV3_DEFAULT_MODEL_DIR
    if (has_config(DSV3_DEFAULT_MODEL_DIR)) return DSV3_DEFAULT_MODEL_DIR;
#endif
    return NULL;
}

synth_origin cli_synth_origin(const char *path) {
    synth_origin f = {0, 0, 0, 0};
    struct stat st;
    if (stat(path, &st) != 0) return f;
    if (!S_ISDIR(st.st_mode)) {
        gguf_file *g = NULL;
        dsv3_err e;
        uint32_t l, d, x;
        if (gguf_open(path, 1, &g, &e) == 0 && gguf_get_u32(g, "dsv3.synth.full_num_hidden_layers", &l, &e) == 0 &&
            gguf_get_u32(g, "dsv3.synth.full_first_k_dense_replace", &d, &e) == 0 &&
            gguf_get_u32(g, "dsv3.synth.full_n_routed_experts", &x, &e) == 0)
            f = (synth_origin){1, (int)l, (int)d, (int)x};
        gguf_close(g);
        return f;
    }
    char p[4096];
    snprintf(p, sizeof p, "%s/config.json", path);
    size_t len;
    char *text = read_file(p, &len);
    json_doc *d = NULL;
    if (text && json_parse(text, len, &d, NULL, 0) == 0) {
        const json_value *s = json_get(json_root(d), "dsv3_synth");
        const json_value *l = json_get(s, "full_num_hidden_layers"), *dn = json_get(s, "full_first_k_dense_replace"),
                         *e = json_get(s, "full_n_routed_experts");
        if (l && dn && e && l->is_int && dn->is_int && e->is_int) f = (synth_origin){1, (int)l->i, (int)dn->i, (int)e->i};
        json_free(d);
    }
    free(text);
    return f;
}
