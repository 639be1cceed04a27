/* test_gguf_fast.c -- ../shared/golden-gguf on a backend that rounds
 * activations for its integer dot products (avx2, neon), judged as the
 * golden README prescribes for such implementations: no max-abs bound
 * (a routing flip moves a position by O(1)), but per file
 *   - the median over its positions of the per-position max-abs error
 *     <= tolerance.quantized_activations.per_position_max_abs_median
 *     (1.5x llama.cpp's own), and
 *   - the argmax equal to the truth at every decisive position
 *     (routing margin >= 0.05 and top1-top2 >= 0.5), as llama.cpp gets.
 * Also the vulkan backend in hybrid placement ("experts-on-cpu"): its routed
 * experts run on a CPU backend that rounds activations.
 * Usage: test_gguf_fast SHARED BACKEND [THREADS [PLACEMENT|- [FILE_ID...]]] */
#include <math.h>
#include <stdint.h>

#include "dsv3.h"
#include "golden_util.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    const char *shared = argc > 1 ? argv[1] : "../shared";
    const char *backend = argc > 2 ? argv[2] : "auto";
    int threads = argc > 3 ? atoi(argv[3]) : 2;
    const char *placement = argc > 4 && strcmp(argv[4], "-") ? argv[4] : NULL;
    skip_if_backend_unavailable(backend);
    char p[1024], err[512];
    snprintf(p, sizeof p, "%s/golden-gguf/manifest.json", shared);
    json_doc *man = load_json(p);
    const json_value *files = json_get(json_root(man), "files"), *cases = json_get(json_root(man), "cases");
    printf("golden-gguf on backend '%s' (activations rounded): per-file median of per-position max-abs error\n", backend);
    for (size_t fi = 0; fi < files->n; fi++) {
        const char *fid = files->keys[fi];
        int wanted = argc <= 5;
        for (int a = 5; a < argc; a++) wanted |= !strcmp(argv[a], fid);
        if (!wanted) continue;
        snprintf(p, sizeof p, "%s/golden-gguf/tiny-q.%s.gguf", shared, fid);
        struct dsv3_model_params mp;
    dsv3_model_params_init(&mp, sizeof mp);
        mp.backend = backend;
        mp.n_threads = threads;
        mp.placement = placement;
        dsv3_model *m = NULL;
        if (dsv3_model_load(p, &mp, &m, err, sizeof err)) { CHECK(0, "%s: %s", fid, err); continue; }
        double pos_err[256], tol = 0, llama_med = 0;
        int n_pos = 0, decisive = 0, decisive_ok = 0;
        for (size_t ci = 0; ci < cases->n; ci++) {
            const json_value *c = &cases->items[ci];
            if (strcmp(json_get(c, "file")->str, fid) || strcmp(json_get(c, "kind")->str, "logits")) continue;
            int T;
            int32_t *tok = json_ints(json_get(c, "tokens"), &T);
            const int V = 1024;
            snprintf(p, sizeof p, "%s/golden-gguf/%s", shared, json_get(json_get(json_get(c, "outputs"), "logits"), "file")->str);
            float *want = slurp(p, NULL), *got = malloc(sizeof(float) * (size_t)T * V);
            dsv3_session *s = NULL;
            dsv3_session_create(m, NULL, &s, err, sizeof err);
            CHECK(dsv3_session_step(s, tok, T, got, DSV3_STEP_LOGITS_ALL) == 0, "%s: step", fid);
            for (int t = 0; t < T && n_pos < 256; t++) {
                double e = 0;
                for (int v = 0; v < V; v++) {
                    double d = fabs((double)got[(size_t)t * V + v] - want[(size_t)t * V + v]);
                    if (!(d <= e)) e = d;
                }
                pos_err[n_pos++] = e;
            }
            const json_value *dec = json_get(c, "decisive_positions"), *am = json_get(c, "argmax");
            for (size_t k = 0; dec && k < dec->n; k++) {
                int t = (int)dec->items[k].i, best = 0;
                for (int v = 1; v < V; v++) if (got[(size_t)t * V + v] > got[(size_t)t * V + best]) best = v;
                decisive++;
                decisive_ok += best == (int)am->items[t].i;
            }
            const json_value *q = json_get(json_get(c, "tolerance"), "quantized_activations");
            tol = json_get(q, "per_position_max_abs_median")->num;
            llama_med = tol / 1.5;
            dsv3_session_free(s);
            free(tok); free(want); free(got);
        }
        qsort(pos_err, (size_t)n_pos, sizeof pos_err[0], cmp_double);
        double med = n_pos ? (n_pos % 2 ? pos_err[n_pos / 2] : 0.5 * (pos_err[n_pos / 2 - 1] + pos_err[n_pos / 2])) : 0;
        CHECK(med <= tol, "%s: median per-position max abs %.4f > %.4f", fid, med, tol);
        CHECK(decisive_ok == decisive, "%s: argmax differs at %d of %d decisive positions", fid, decisive - decisive_ok, decisive);
        printf("  %-16s median %.4f (llama.cpp %.4f, bound %.4f)  max %.3f  argmax at decisive %d/%d\n", fid, med, llama_med, tol,
               n_pos ? pos_err[n_pos - 1] : 0, decisive_ok, decisive);
        dsv3_model_free(m);
    }
    json_free(man);
    return finish();
}
