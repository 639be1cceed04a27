/* test_gguf.c -- every case of ../shared/golden-gguf against the library:
 *   logits: one prefill step with DSV3_STEP_LOGITS_ALL; max abs error vs the
 *           float64 truth <= tolerance.f32_compute_from_dequantized_weights
 *           (2e-3) at every position; routed expert ids (layer 1) exact;
 *           argmax equal where top1 - top2 >= 1e-3;
 *   mtp:    MTP logits (batch and incremental) within the same tolerance.
 * Also: the reader's view of the metadata (tokenizer arrays, types), a
 * read-into-memory load (use_mmap = 0) that must give identical logits, and a
 * table of our error next to llama.cpp's (its llamacpp_logits vs truth).
 * Usage: test_gguf SHARED_DIR [options] [FILE_ID ...]
 *   --backend NAME    compute on NAME instead of scalar (one that keeps
 *                     activations f32: the same bounds hold; skipped, exit
 *                     77, with the reason when it cannot run here)
 *   --placement P     the model's placement on a device backend
 *   --max-tokens T    only the logits cases of at most T tokens
 *   --repack-check    instead of the cases against the truth: a load with
 *                     repack = 1 gives the logits (and MTP logits) of a load
 *                     without it, bit for bit, on the backend (an x86 CPU one, whose 8-bit
 *                     activations the truth's tolerance does not cover);
 *                     Q8_0, Q4_0 and Q5_0 files must have packed weights */
#include <math.h>
#include <stdint.h>

#include "dsv3.h"
#include "gguf.h"
#include "golden_util.h"

static const char *shared = "../shared";
static const char *backend = "scalar";
static const char *placement = NULL;
static int max_tokens = 0;
static int repack_check = 0;

static void *read_bin(const char *rel, size_t expect_bytes) {
    char p[1024];
    size_t n;
    snprintf(p, sizeof p, "%s/golden-gguf/%s", shared, rel);
    void *d = slurp(p, &n);
    if (n != expect_bytes) {
        fprintf(stderr, "FATAL: %s has %zu bytes, expected %zu\n", p, n, expect_bytes);
        exit(2);
    }
    return d;
}

static double max_abs(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= m)) m = d; /* NaN propagates as a failure */
    }
    return m;
}

static int argmax(const float *v, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[b]) b = i;
    return b;
}

static dsv3_model *open_model_repack(const char *file, int use_mmap, int repack) {
    char p[1024], err[512];
    snprintf(p, sizeof p, "%s/golden-gguf/%s", shared, file);
    struct dsv3_model_params mp;
    dsv3_model_params_init(&mp, sizeof mp);
    mp.backend = backend;
    mp.placement = placement;
    mp.use_mmap = use_mmap;
    mp.repack = repack;
    dsv3_model *m = NULL;
    int rc = dsv3_model_load(p, &mp, &m, err, sizeof err);
    CHECK(rc == 0, "load %s: %s", file, err);
    return rc ? NULL : m;
}

static dsv3_model *open_model(const char *file, int use_mmap) { return open_model_repack(file, use_mmap, 0); }

static dsv3_session *open_session(dsv3_model *m, int record);

/* --repack-check for one file: every logits case (up to --max-tokens). */
static void repack_file(const char *fid, const char *file, const json_value *cases) {
    dsv3_model *m = open_model(file, 1), *mr = open_model_repack(file, 1, 1);
    if (m && mr) {
        struct dsv3_model_info info = {.struct_size = sizeof info};
        dsv3_model_get_info(mr, &info);
        const int packs = !strcmp(fid, "q8_0") || !strcmp(fid, "q4_0") || !strcmp(fid, "q5_0") || !strcmp(fid, "mtp.q8_0");
        CHECK(!packs || info.repacked_bytes > 0, "%s: no packed weights", fid);
        int n_same = 0, n = 0;
        for (size_t i = 0; i < cases->n; i++) {
            const json_value *c = &cases->items[i];
            if (strcmp(json_get(c, "file")->str, fid) != 0) continue;
            const int mtp = !strcmp(json_get(c, "kind")->str, "mtp");
            if (!mtp && strcmp(json_get(c, "kind")->str, "logits") != 0) continue;
            int T;
            int32_t *tok = json_ints(json_get(c, "tokens"), &T);
            if (max_tokens && T > max_tokens) { free(tok); continue; }
            float *a = malloc(sizeof(float) * (size_t)T * 1024), *b = malloc(sizeof(float) * (size_t)T * 1024);
            dsv3_session *s1 = open_session(m, 0), *s2 = open_session(mr, 0);
            CHECK(s1 && s2 && dsv3_session_step(s1, tok, T, a, DSV3_STEP_LOGITS_ALL) == 0 &&
                      dsv3_session_step(s2, tok, T, b, DSV3_STEP_LOGITS_ALL) == 0,
                  "%s: step", fid);
            if (mtp) { /* the MTP layer's logits (its head may alias the output head) */
                int Tm;
                int32_t *nxt = json_ints(json_get(c, "mtp_input_ids"), &Tm);
                CHECK(Tm == T && dsv3_session_mtp_step(s1, nxt, T, a, DSV3_STEP_LOGITS_ALL) == 0 &&
                          dsv3_session_mtp_step(s2, nxt, T, b, DSV3_STEP_LOGITS_ALL) == 0,
                      "%s: mtp step", fid);
                free(nxt);
            }
            const int same = !memcmp(a, b, sizeof(float) * (size_t)T * 1024);
            CHECK(same, "%s: %d tokens: %s with repack differ from those without", fid, T, mtp ? "MTP logits" : "logits");
            n_same += same;
            n++;
            dsv3_session_free(s1);
            dsv3_session_free(s2);
            free(tok); free(a); free(b);
        }
        printf("%s: repack (%.2f MiB packed) == in place bit for bit: %d of %d cases\n", fid, info.repacked_bytes / 1048576.0,
               n_same, n);
    }
    dsv3_model_free(m);
    dsv3_model_free(mr);
}

static dsv3_session *open_session(dsv3_model *m, int record) {
    struct dsv3_session_params sp;
    dsv3_session_params_init(&sp, sizeof sp);
    sp.n_ctx = 128;
    sp.record_routing = record;
    dsv3_session *s = NULL;
    char err[512];
    if (dsv3_session_create(m, &sp, &s, err, sizeof err)) {
        fprintf(stderr, "FATAL: session: %s\n", err);
        exit(2);
    }
    return s;
}

/* Per-file summary for the table. */
typedef struct summary {
    const char *id;
    int loaded;
    double ours, llama;         /* max abs vs truth over all logits cases */
    int argmax_ok, argmax_n;    /* ours, at positions with a clear top-1   */
    int llama_argmax_ok;
    int routes_ok, routes_n;    /* routed expert ids equal                 */
    double mtp;                 /* MTP max abs (mtp file only), -1 if none */
    char dtype[16];
} summary;

static double tolerance(const json_value *c) {
    const json_value *t = json_get(json_get(json_get(c, "tolerance"), "f32_compute_from_dequantized_weights"), "max_abs");
    return t && t->type == JSON_NUMBER ? t->num : 2e-3;
}

static void case_logits(const json_value *c, dsv3_model *m, int V, summary *sum) {
    const char *id = json_get(c, "id")->str;
    const json_value *outs = json_get(c, "outputs");
    int T;
    int32_t *tok = json_ints(json_get(c, "tokens"), &T);
    float *want = read_bin(json_get(json_get(outs, "logits"), "file")->str, sizeof(float) * (size_t)T * V);
    float *llama = read_bin(json_get(json_get(outs, "llamacpp_logits"), "file")->str, sizeof(float) * (size_t)T * V);
    const json_value *ri = json_get(outs, "routing_topk_ids");
    int nl = (int)json_at(json_get(ri, "shape"), 0)->i, k = (int)json_at(json_get(ri, "shape"), 2)->i;
    int32_t *rid = read_bin(json_get(ri, "file")->str, sizeof(int32_t) * (size_t)nl * T * k);
    float *got = malloc(sizeof(float) * (size_t)T * V);
    const double tol = tolerance(c);
    dsv3_session *s = open_session(m, 1);

    int rc = dsv3_session_step(s, tok, T, got, DSV3_STEP_LOGITS_ALL);
    CHECK(rc == 0, "%s: step: %s", id, dsv3_session_last_error(s));
    double worst = 0;
    int worst_pos = 0;
    for (int t = 0; t < T; t++) {
        double d = max_abs(got + (size_t)t * V, want + (size_t)t * V, (size_t)V);
        if (!(d <= worst)) { worst = d; worst_pos = t; }
    }
    CHECK(worst <= tol, "%s: max abs error %.3g > %.3g (position %d)", id, worst, tol, worst_pos);
    double le = max_abs(llama, want, (size_t)T * V);

    /* argmax where the truth has a clear winner */
    const json_value *gap = json_get(c, "top1_minus_top2"), *am = json_get(c, "argmax");
    int bad_am = 0;
    for (int t = 0; t < T; t++) {
        if (json_at(gap, (size_t)t)->num < 1e-3) continue;
        int want_am = (int)json_at(am, (size_t)t)->i;
        sum->argmax_n++;
        if (argmax(got + (size_t)t * V, V) == want_am) sum->argmax_ok++;
        else bad_am++;
        if (argmax(llama + (size_t)t * V, V) == want_am) sum->llama_argmax_ok++;
    }
    CHECK(bad_am == 0, "%s: argmax differs at %d positions", id, bad_am);

    /* routing: layer 1 is the only MoE layer */
    int32_t n_moe = 0, gid[64];
    float gw[64];
    int mism = 0;
    for (int t = 0; t < T && k <= 64; t++) {
        CHECK(dsv3_session_get_routing(s, t, gid, gw, &n_moe) == 0 && n_moe == nl, "%s: routing query", id);
        for (int l = 0; l < nl; l++)
            for (int j = 0; j < k; j++) {
                sum->routes_n++;
                if (gid[l * k + j] == rid[((size_t)l * T + t) * k + j]) sum->routes_ok++;
                else mism++;
            }
    }
    CHECK(mism == 0, "%s: %d routed expert ids differ", id, mism);

    if (worst > sum->ours || worst != worst) sum->ours = worst;
    if (le > sum->llama) sum->llama = le;
    printf("  %-22s T=%2d  max|err| %.2e (llama.cpp %.2e)  routing %d ids differ\n", id, T, worst, le, mism);
    dsv3_session_free(s);
    free(tok);
    free(want);
    free(llama);
    free(rid);
    free(got);
}

static void case_mtp(const json_value *c, dsv3_model *m, int V, summary *sum) {
    const char *id = json_get(c, "id")->str;
    int T, Tm;
    int32_t *tok = json_ints(json_get(c, "tokens"), &T);
    int32_t *nxt = json_ints(json_get(c, "mtp_input_ids"), &Tm);
    float *want = read_bin(json_get(json_get(json_get(c, "outputs"), "mtp_logits"), "file")->str, sizeof(float) * (size_t)T * V);
    float *main_l = malloc(sizeof(float) * V);
    float *got = malloc(sizeof(float) * (size_t)T * V);
    const double tol = tolerance(c);
    dsv3_session *s = open_session(m, 0);
    CHECK(dsv3_session_step(s, tok, T, main_l, 0) == 0, "%s: main step", id);
    CHECK(argmax(main_l, V) == nxt[T - 1], "%s: main argmax %d != last mtp input %d", id, argmax(main_l, V), nxt[T - 1]);
    int rc = dsv3_session_mtp_step(s, nxt, T, got, DSV3_STEP_LOGITS_ALL);
    CHECK(rc == 0, "%s: mtp step: %s", id, dsv3_session_last_error(s));
    double e1 = max_abs(got, want, (size_t)T * V);
    CHECK(e1 <= tol, "%s: MTP max abs error %.3g > %.3g", id, e1, tol);
    dsv3_session_free(s);
    s = open_session(m, 0);
    double e2 = 0;
    for (int t = 0; t < T; t++) {
        CHECK(dsv3_session_step(s, tok + t, 1, main_l, 0) == 0, "%s: main", id);
        CHECK(dsv3_session_mtp_step(s, nxt + t, 1, got, 0) == 0, "%s: mtp %d", id, t);
        double d = max_abs(got, want + (size_t)t * V, (size_t)V);
        if (!(d <= e2)) e2 = d;
    }
    CHECK(e2 <= tol, "%s: incremental MTP max abs error %.3g", id, e2);
    if (e1 > sum->mtp) sum->mtp = e1;
    if (e2 > sum->mtp) sum->mtp = e2;
    printf("  %-22s T=%2d  MTP max|err| batch %.2e  incremental %.2e\n", id, T, e1, e2);
    dsv3_session_free(s);
    free(tok);
    free(nxt);
    free(want);
    free(main_l);
    free(got);
}

/* The reader's view of one file: types of the keys the model needs, the
 * tokenizer arrays, tensors with the manifest's types and shapes. */
static void check_reader(const char *fid, const json_value *finfo) {
    char p[1024];
    snprintf(p, sizeof p, "%s/golden-gguf/%s", shared, json_get(finfo, "file")->str);
    gguf_file *f = NULL;
    dsv3_err e;
    err_clear(&e);
    int rc = gguf_open(p, 1, &f, &e);
    CHECK(rc == 0, "%s: gguf_open: %s", fid, e.msg);
    if (rc) return;
    CHECK(gguf_version(f) == 3 && gguf_n_parts(f) == 1 && gguf_alignment(f) == 32, "%s: version/parts/alignment", fid);
    gguf_str arch;
    CHECK(gguf_get_str(f, "general.architecture", &arch, &e) == 0 && gguf_str_eq(arch, "deepseek2"), "%s: architecture", fid);
    uint32_t u;
    CHECK(gguf_get_u32(f, "deepseek2.embedding_length", &u, &e) == 0 && u == 256, "%s: embedding_length", fid);
    int32_t i32;
    CHECK(gguf_get_i32(f, "deepseek2.embedding_length", &i32, &e) == DSV3_ERR_BAD_CONFIG &&
              strstr(e.msg, "has type u32, expected i32"), "%s: strict type check: %s", fid, e.msg);
    CHECK(gguf_get_u32(f, "no.such.key", &u, &e) == DSV3_ERR_NOT_FOUND, "%s: absent key", fid);
    float fl;
    CHECK(gguf_get_f32(f, "deepseek2.expert_weights_scale", &fl, &e) == 0 && fl == 2.5f, "%s: expert_weights_scale", fid);
    int bl;
    CHECK(gguf_get_bool(f, "deepseek2.expert_weights_norm", &bl, &e) == 0 && bl == 1, "%s: expert_weights_norm", fid);
    const gguf_value *toks = NULL, *types = NULL, *merges = NULL;
    CHECK(gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_STR, &toks, &e) == 0 && toks->n == 1024, "%s: tokens", fid);
    CHECK(gguf_get_arr(f, "tokenizer.ggml.token_type", GGUF_I32, &types, &e) == 0 && types->n == 1024, "%s: token_type", fid);
    CHECK(gguf_get_arr(f, "tokenizer.ggml.merges", GGUF_STR, &merges, &e) == 0 && merges->n >= 1, "%s: merges", fid);
    CHECK(gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_I32, &types, &e) == DSV3_ERR_BAD_CONFIG &&
              strstr(e.msg, "array of string, expected array of i32"), "%s: array type check: %s", fid, e.msg);
    if (toks && toks->n == 1024) {
        gguf_str *s = malloc(sizeof *s * 1024);
        CHECK(gguf_arr_strs(toks, s, 1024) == 1024, "%s: gguf_arr_strs count", fid);
        CHECK(gguf_str_eq(s[0], "\xc4\x80") && gguf_str_eq(s[1], "\xc4\x81"), "%s: first tokens", fid);
        gguf_value v;
        gguf_str s5;
        CHECK(gguf_arr_at(toks, 5, &v) && gguf_value_str(&v, &s5) && s5.p == s[5].p && s5.n == s[5].n, "%s: arr_at", fid);
        gguf_iter it;
        gguf_iter_init(&it, toks);
        uint64_t n = 0, same = 0;
        while (gguf_iter_next(&it, &v)) same += v.p == (const unsigned char *)s[n++].p;
        CHECK(n == 1024 && same == 1024, "%s: iterator", fid);
        free(s);
        int64_t t0;
        CHECK(gguf_arr_at(types, 0, &v) && gguf_value_int(&v, &t0) && t0 == 1, "%s: token_type[0]", fid);
    }
    /* every tensor the manifest lists, with its type and ne */
    const json_value *tt = json_get(finfo, "tensor_types");
    int bad = 0;
    for (size_t i = 0; i < tt->n; i++) {
        const gguf_tensor *t = gguf_find_tensor(f, tt->keys[i]);
        const json_value *ty = json_get(&tt->items[i], "type"), *ne = json_get(&tt->items[i], "ne");
        if (!t || strcmp(gguf_ggml_type_name(t->type), ty->str) != 0 || t->n_dims != (int)ne->n) {
            bad++;
            continue;
        }
        for (size_t d = 0; d < ne->n; d++) bad += t->ne[d] != json_at(ne, d)->i;
    }
    CHECK(bad == 0 && gguf_tensor_count(f) == tt->n, "%s: %d tensors differ from the manifest (%zu tensors, manifest %zu)", fid,
          bad, gguf_tensor_count(f), tt->n);
    gguf_close(f);
}

int main(int argc, char **argv) {
    if (argc > 1) shared = argv[1];
    const char *ids[64];
    int n_ids = 0;
    for (int a = 2; a < argc; a++) {
        if (a + 1 < argc && !strcmp(argv[a], "--backend")) backend = argv[++a];
        else if (a + 1 < argc && !strcmp(argv[a], "--placement")) placement = argv[++a];
        else if (a + 1 < argc && !strcmp(argv[a], "--max-tokens")) max_tokens = atoi(argv[++a]);
        else if (!strcmp(argv[a], "--repack-check")) repack_check = 1;
        else if (n_ids < 64) ids[n_ids++] = argv[a];
    }
    skip_if_backend_unavailable(backend);
    char p[1024];
    snprintf(p, sizeof p, "%s/golden-gguf/manifest.json", shared);
    json_doc *man = load_json(p);
    const json_value *files = json_get(json_root(man), "files"), *cases = json_get(json_root(man), "cases");
    summary *sums = calloc(files->n, sizeof *sums);
    printf("golden-gguf cases on backend '%s'%s%s\n", backend, placement ? ", placement " : "", placement ? placement : "");
    for (size_t fi = 0; fi < files->n; fi++) {
        const char *fid = files->keys[fi];
        int wanted = n_ids == 0;
        for (int a = 0; a < n_ids; a++) wanted |= !strcmp(ids[a], fid);
        summary *sm = &sums[fi];
        sm->id = fid;
        sm->mtp = -1;
        if (!wanted) continue;
        const json_value *finfo = &files->items[fi];
        const char *file = json_get(finfo, "file")->str;
        if (repack_check) {
            repack_file(fid, file, cases);
            continue;
        }
        check_reader(fid, finfo);
        dsv3_model *m = open_model(file, 1);
        if (!m) continue;
        sm->loaded = 1;
        struct dsv3_model_info info = {.struct_size = sizeof info};
        dsv3_model_get_info(m, &info);
        int has_mtp = json_get(finfo, "has_mtp_layer")->boolean;
        CHECK(info.vocab_size == 1024 && info.n_layers == 2 && info.hidden_size == 256 && info.n_heads == 4 &&
                  info.q_lora_rank == 256 && info.kv_lora_rank == 256 && info.qk_nope_head_dim == 64 &&
                  info.qk_rope_head_dim == 32 && info.v_head_dim == 64 && info.n_routed_experts == 16 &&
                  info.n_shared_experts == 1 && info.n_experts_per_token == 4 && info.n_dense_layers == 1 &&
                  info.max_context == 163840 && info.n_mtp_layers == has_mtp && !strcmp(info.architecture, "deepseek2"),
              "%s: model info", fid);
        CHECK(info.bytes_mapped == (uint64_t)json_get(finfo, "size_bytes")->i, "%s: bytes_mapped %llu", fid,
              (unsigned long long)info.bytes_mapped);
        snprintf(sm->dtype, sizeof sm->dtype, "%s", info.weight_dtype);
        printf("%s: %s, weights %s, %llu params\n", fid, file, info.weight_dtype, (unsigned long long)info.n_params);
        int mem_checked = 0;
        for (size_t i = 0; i < cases->n; i++) {
            const json_value *c = &cases->items[i];
            if (strcmp(json_get(c, "file")->str, fid) != 0) continue;
            const char *kind = json_get(c, "kind")->str;
            if (max_tokens && !strcmp(kind, "logits") && (int)json_get(c, "tokens")->n > max_tokens) continue;
            if (!strcmp(kind, "logits")) {
                /* the 9-token case of the bf16 and q4_k_m files also loads without mmap */
                float *mem = NULL;
                if (!mem_checked && (!strcmp(fid, "bf16") || !strcmp(fid, "q4_k_m")) && json_get(c, "tokens")->n == 9) {
                    mem = malloc(sizeof(float) * 9 * 1024);
                    mem_checked = 1;
                }
                case_logits(c, m, info.vocab_size, sm);
                if (mem) {
                    dsv3_model *m2 = open_model(file, 0);
                    if (m2) {
                        int T;
                        int32_t *tok = json_ints(json_get(c, "tokens"), &T);
                        float *a = malloc(sizeof(float) * (size_t)T * 1024);
                        dsv3_session *s1 = open_session(m, 0), *s2 = open_session(m2, 0);
                        CHECK(dsv3_session_step(s1, tok, T, a, DSV3_STEP_LOGITS_ALL) == 0 &&
                                  dsv3_session_step(s2, tok, T, mem, DSV3_STEP_LOGITS_ALL) == 0,
                              "%s: use_mmap=0 step", fid);
                        CHECK(memcmp(a, mem, sizeof(float) * (size_t)T * 1024) == 0, "%s: use_mmap=0 logits differ", fid);
                        dsv3_session_free(s1);
                        dsv3_session_free(s2);
                        dsv3_model_free(m2);
                        free(tok);
                        free(a);
                    }
                    free(mem);
                }
            } else if (!strcmp(kind, "mtp")) {
                case_mtp(c, m, info.vocab_size, sm);
            } else {
                CHECK(0, "unknown case kind %s", kind);
            }
        }
        dsv3_model_free(m);
    }

    if (repack_check) {
        free(sums);
        json_free(man);
        return finish();
    }
    printf("\n| file | weights | ours max abs vs truth | llama.cpp max abs vs truth | argmax (top1-top2 >= 1e-3) ours / llama.cpp | routing ids | MTP max abs |\n");
    printf("|---|---|---:|---:|---|---|---:|\n");
    for (size_t fi = 0; fi < files->n; fi++) {
        summary *sm = &sums[fi];
        if (!sm->loaded) continue;
        char mtp[32] = "-";
        if (sm->mtp >= 0) snprintf(mtp, sizeof mtp, "%.2e", sm->mtp);
        printf("| %s | %s | %.2e | %.3g | %d/%d / %d/%d | %d/%d | %s |\n", sm->id, sm->dtype, sm->ours, sm->llama,
               sm->argmax_ok, sm->argmax_n, sm->llama_argmax_ok, sm->argmax_n, sm->routes_ok, sm->routes_n, mtp);
    }
    free(sums);
    json_free(man);
    return finish();
}
