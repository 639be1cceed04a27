/* test_prefetch.c MODEL_DIR TMP_DIR -- dsv3_model_prefetch on the demo model:
 * progress is monotonic, ends with done == total, total covers the weights
 * (at most the bytes mapped, at least 90 % of them: the demo checkpoint
 * holds nothing but weights); a nonzero return cancels with
 * DSV3_ERR_CANCELLED and leaves the model usable (logits after a cancelled
 * prefetch equal, bit for bit, those before); NULL progress and a model
 * read into RAM work; a NULL model is refused; a weight file changed on
 * disk after load (a copy in TMP_DIR, appended to) gives DSV3_ERR_IO and
 * reads nothing. Public API only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dsv3.h"

static int failures;
#define CHECK(c, ...) do { if (!(c)) { failures++; printf("FAIL %s:%d: ", __FILE__, __LINE__); printf(__VA_ARGS__); printf("\n"); } } while (0)

typedef struct progress_log {
    int calls;
    int cancel_after;     /* return 1 on this call (1-based); 0: never */
    uint64_t last_done, total;
    int monotonic, total_constant;
} progress_log;

static int on_progress(void *user, uint64_t done, uint64_t total) {
    progress_log *p = user;
    if (p->calls == 0) p->total = total;
    if (done < p->last_done) p->monotonic = 0;
    if (total != p->total) p->total_constant = 0;
    if (done > total) p->monotonic = 0;
    p->last_done = done;
    p->calls++;
    return p->cancel_after && p->calls >= p->cancel_after;
}

static float *last_logits(dsv3_model *m, int32_t vocab) {
    dsv3_session *s = NULL;
    char err[256];
    float *out = malloc(sizeof(float) * (size_t)vocab);
    int32_t ids[] = {0, 1437, 367, 261};
    if (!out || dsv3_session_create(m, NULL, &s, err, sizeof err) ||
        dsv3_session_step(s, ids, 4, out, 0)) {
        dsv3_session_free(s);
        free(out);
        return NULL;
    }
    dsv3_session_free(s);
    return out;
}

static int copy_file(const char *from, const char *to) {
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    char buf[65536];
    size_t n;
    int ok = in && out;
    while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0) ok = fwrite(buf, 1, n, out) == n;
    if (in) fclose(in);
    if (out && fclose(out)) ok = 0;
    return ok;
}

/* Load a copy of the model, then append to its weights file. */
static void changed_file(const char *model_dir, const char *tmp) {
    char a[4096], b[4096];
    mkdir(tmp, 0755);
    int ok = 1;
    const char *files[] = {"config.json", "model.safetensors"};
    for (int i = 0; i < 2; i++) {
        snprintf(a, sizeof a, "%s/%s", model_dir, files[i]);
        snprintf(b, sizeof b, "%s/%s", tmp, files[i]);
        ok = ok && copy_file(a, b);
    }
    CHECK(ok, "copy the model to %s", tmp);
    if (!ok) return;
    dsv3_model *m = NULL;
    char err[512];
    int rc = dsv3_model_load(tmp, NULL, &m, err, sizeof err);
    CHECK(rc == DSV3_OK, "load the copy: %s", err);
    if (rc) return;
    FILE *f = fopen(b, "ab");
    CHECK(f && fputc(0, f) == 0 && fclose(f) == 0, "append to the copy");
    progress_log p = {0, 0, 0, 0, 1, 1};
    rc = dsv3_model_prefetch(m, on_progress, &p);
    CHECK(rc == DSV3_ERR_IO && p.calls == 0, "changed weight file: DSV3_ERR_IO, nothing read (got %s, %d calls)",
          dsv3_status_string(rc), p.calls);
    dsv3_model_free(m);
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: test_prefetch MODEL_DIR TMP_DIR\n"); return 2; }
    char err[512];
    dsv3_model *m = NULL;
    int rc = dsv3_model_load(argv[1], NULL, &m, err, sizeof err);
    if (rc) { printf("FAIL: load %s: %s\n", argv[1], err); return 1; }
    struct dsv3_model_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    dsv3_model_get_info(m, &info);

    float *before = last_logits(m, info.vocab_size);
    CHECK(before != NULL, "logits before prefetch");

    progress_log p = {0, 0, 0, 0, 1, 1};
    rc = dsv3_model_prefetch(m, on_progress, &p);
    CHECK(rc == DSV3_OK, "prefetch: %s", dsv3_status_string(rc));
    CHECK(p.calls >= 1, "progress called (%d calls)", p.calls);
    CHECK(p.monotonic && p.total_constant, "progress monotonic, total constant");
    CHECK(p.last_done == p.total, "last progress done %llu == total %llu", (unsigned long long)p.last_done,
          (unsigned long long)p.total);
    CHECK(p.total <= info.bytes_mapped && p.total * 10 >= info.bytes_mapped * 9,
          "weights prefetched %llu within [90%%, 100%%] of bytes mapped %llu", (unsigned long long)p.total,
          (unsigned long long)info.bytes_mapped);
    printf("prefetched %llu of %llu mapped bytes in %d progress calls\n", (unsigned long long)p.total,
           (unsigned long long)info.bytes_mapped, p.calls);

    progress_log c = {0, 1, 0, 0, 1, 1};
    rc = dsv3_model_prefetch(m, on_progress, &c);
    CHECK(rc == DSV3_ERR_CANCELLED, "cancel on first report gives DSV3_ERR_CANCELLED, got %s",
          dsv3_status_string(rc));
    CHECK(c.calls == 1, "no report after cancelling (%d calls)", c.calls);

    float *after = last_logits(m, info.vocab_size);
    CHECK(after && before && !memcmp(before, after, sizeof(float) * (size_t)info.vocab_size),
          "logits after a cancelled prefetch equal those before, bit for bit");

    CHECK(dsv3_model_prefetch(m, NULL, NULL) == DSV3_OK, "NULL progress");
    CHECK(dsv3_model_prefetch(NULL, on_progress, &p) == DSV3_ERR_INVALID_ARG, "NULL model refused");
    dsv3_model_free(m);

    struct dsv3_model_params mp;
    dsv3_model_params_init(&mp, sizeof mp);
    mp.use_mmap = 0;
    rc = dsv3_model_load(argv[1], &mp, &m, err, sizeof err);
    CHECK(rc == DSV3_OK, "load into RAM: %s", err);
    if (!rc) {
        progress_log r = {0, 0, 0, 0, 1, 1};
        CHECK(dsv3_model_prefetch(m, on_progress, &r) == DSV3_OK && r.last_done == r.total && r.total > 0,
              "prefetch of a model read into RAM");
        dsv3_model_free(m);
    }
    changed_file(argv[1], argv[2]);
    free(before);
    free(after);
    printf("%s\n", failures ? "FAILED" : "ok");
    return failures ? 1 : 0;
}
