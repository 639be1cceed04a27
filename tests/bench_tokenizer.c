/* bench_tokenizer.c -- encoding speed (a tool, not a test).
 *
 * usage: bench_tokenizer SHARED_DIR [MB]
 *
 * English: Debian's /usr/share/common-licenses texts (GPL-3, ...) when
 * present, else the English golden cases (prose, code, markdown, ...),
 * repeated to ~MB megabytes (default 10). Chinese: the lang:zh golden cases
 * repeated the same way. Prints the load time and MB/s for each. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dsv3.h"
#include "json.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *p = malloc(cap);
    size_t r;
    while (p && (r = fread(p + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *q = realloc(p, cap *= 2);
            if (!q) free(p);
            p = q;
        }
    }
    fclose(f);
    if (!p) return NULL;
    p[n] = 0;
    *len = n;
    return p;
}

typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

static void append(buf *b, const char *s, size_t n) {
    if (b->len + n + 1 > b->cap) {
        while (b->len + n + 1 > b->cap) b->cap = b->cap ? b->cap * 2 : 1 << 16;
        b->p = realloc(b->p, b->cap);
        if (!b->p) exit(1);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

/* Golden texts whose category matches one of cats (prefix match). */
static void golden_texts(const char *shared, const char *const *cats, buf *out) {
    char path[4096];
    snprintf(path, sizeof path, "%s/tokenizer/deepseek-v3/golden-encode.jsonl", shared);
    size_t len;
    char *all = slurp(path, &len);
    if (!all) {
        fprintf(stderr, "bench_tokenizer: cannot read %s\n", path);
        exit(1);
    }
    for (char *line = all; *line;) {
        char *end = strchr(line, '\n');
        size_t ll = end ? (size_t)(end - line) : strlen(line);
        json_doc *d = NULL;
        if (ll && json_parse(line, ll, &d, NULL, 0) == 0) {
            const json_value *r = json_root(d);
            const json_value *c = json_get(r, "category"), *t = json_get(r, "text");
            for (int i = 0; cats[i]; i++)
                if (c && t && !strncmp(c->str, cats[i], strlen(cats[i]))) {
                    append(out, t->str, t->len);
                    append(out, "\n\n", 2);
                    break;
                }
            json_free(d);
        }
        line = end ? end + 1 : line + ll;
    }
    free(all);
}

static void repeat_to(buf *b, size_t target) {
    size_t unit = b->len;
    if (!unit) return;
    char *copy = malloc(unit); /* append may move b->p */
    if (!copy) exit(1);
    memcpy(copy, b->p, unit);
    while (b->len < target) append(b, copy, unit < target - b->len ? unit : target - b->len);
    free(copy);
    /* do not end in the middle of a character */
    while (b->len && ((unsigned char)b->p[b->len - 1] & 0xC0) == 0x80) b->len--;
    if (b->len && (unsigned char)b->p[b->len - 1] >= 0xC0) b->len--;
}

static void bench(const dsv3_tokenizer *t, const char *name, const buf *text) {
    size_t cap = text->len + 16, n = 0;
    int32_t *ids = malloc(sizeof *ids * cap);
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = now_s();
        int rc = dsv3_tokenize(t, text->p, text->len, 0, ids, cap, &n);
        double dt = now_s() - t0;
        if (rc) {
            fprintf(stderr, "bench_tokenizer: %s: %s\n", name, dsv3_status_string(rc));
            exit(1);
        }
        if (dt < best) best = dt;
    }
    size_t dl = 0;
    double t0 = now_s();
    dsv3_detokenize(t, ids, n, 0, NULL, 0, &dl);
    double dt_dec = now_s() - t0;
    printf("%-8s %6.2f MB -> %9zu ids (%.2f bytes/id): encode %7.2f MB/s, decode %8.1f MB/s\n", name,
           (double)text->len / 1e6, n, (double)text->len / (double)(n ? n : 1), (double)text->len / 1e6 / best,
           (double)text->len / 1e6 / (dt_dec > 0 ? dt_dec : 1e-9));
    free(ids);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s SHARED_DIR [MB]\n", argv[0]);
        return 2;
    }
    size_t target = (size_t)((argc > 2 ? atof(argv[2]) : 10.0) * 1e6);
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/tokenizer/deepseek-v3", argv[1]);
    dsv3_tokenizer *t = NULL;
    double t0 = now_s();
    if (dsv3_tokenizer_load(path, &t, err, sizeof err)) {
        fprintf(stderr, "bench_tokenizer: %s\n", err);
        return 1;
    }
    printf("load     %.3f s\n", now_s() - t0);

    buf en = {0}, zh = {0};
    const char *licenses[] = {"/usr/share/common-licenses/GPL-3", "/usr/share/common-licenses/GPL-2",
                              "/usr/share/common-licenses/Apache-2.0", "/usr/share/common-licenses/Artistic", NULL};
    for (int i = 0; licenses[i]; i++) {
        size_t l;
        char *s = slurp(licenses[i], &l);
        if (s) append(&en, s, l);
        free(s);
    }
    const char *const en_cats[] = {"prose", "code", "markdown", "web", "contractions", "long", NULL};
    const char *source = "common-licenses";
    if (en.len == 0) {
        golden_texts(argv[1], en_cats, &en);
        source = "golden English cases";
    }
    const char *const zh_cats[] = {"lang:zh", NULL};
    golden_texts(argv[1], zh_cats, &zh);
    repeat_to(&en, target);
    repeat_to(&zh, target);
    printf("English text: %s\n", source);
    bench(t, "English", &en);
    bench(t, "Chinese", &zh);
    free(en.p);
    free(zh.p);
    dsv3_tokenizer_free(t);
    return 0;
}
