/* cmd_bench.c -- `dsv3 bench`: prefill and decode speed, the bytes of
 * weights one decoded token streams, this machine's measured read
 * bandwidth, and decode as a percentage of that roofline. For a depth- or
 * expert-cut synthetic checkpoint (written by `dsv3 synth`) it also
 * predicts the full model's decode speed. A benchmark, not a test. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#elif defined(__ARM_NEON)
#include <arm_neon.h>
#endif

#include "cli.h"
#include "options.h"
#include "dsv3.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- read bandwidth ----
 * The machine's read bandwidth is probed several times during the run
 * (before prefill, between prefill and decode, between decode segments and
 * after decode), because on a shared machine it drifts from one second to
 * the next. The roofline uses the highest probe: the percentage is then
 * never flattered by a slow probe. One buffer, allocated and touched once,
 * serves every probe; the calling thread reads a slice too, and all
 * readers start together at a barrier, so thread start-up is not timed;
 * a read's time runs from the first reader's start to the last reader's
 * end, so a reader that is scheduled late cannot inflate the figure. */
#define BW_MAX_THREADS 64
#define BW_REPS 4 /* reads per probe, best one counts: 2 plain, 2 with software prefetch */
#define BW_PF 2048 /* software prefetch distance of the prefetching reads, bytes */

static volatile uint64_t bw_sink;

/* two 64-bit lanes: SSE2, NEON or plain C */
#if defined(__SSE2__)
typedef __m128i bw_vec;
static bw_vec bw_zero(void) { return _mm_setzero_si128(); }
static bw_vec bw_add(bw_vec a, bw_vec b) { return _mm_add_epi64(a, b); }
static bw_vec bw_load(const uint64_t *p) { return _mm_loadu_si128((const __m128i *)p); }
static uint64_t bw_total(bw_vec a) {
    uint64_t t[2];
    _mm_storeu_si128((__m128i *)t, a);
    return t[0] + t[1];
}
#elif defined(__ARM_NEON)
typedef uint64x2_t bw_vec;
static bw_vec bw_zero(void) { return vdupq_n_u64(0); }
static bw_vec bw_add(bw_vec a, bw_vec b) { return vaddq_u64(a, b); }
static bw_vec bw_load(const uint64_t *p) { return vld1q_u64(p); }
static uint64_t bw_total(bw_vec a) { return vgetq_lane_u64(a, 0) + vgetq_lane_u64(a, 1); }
#else
typedef struct { uint64_t x, y; } bw_vec;
static bw_vec bw_zero(void) { return (bw_vec){0, 0}; }
static bw_vec bw_add(bw_vec a, bw_vec b) { return (bw_vec){a.x + b.x, a.y + b.y}; }
static bw_vec bw_load(const uint64_t *p) { return (bw_vec){p[0], p[1]}; }
static uint64_t bw_total(bw_vec a) { return a.x + a.y; }
#endif

/* acc + the 64-byte line at p */
static bw_vec bw_line(bw_vec acc, const uint64_t *p) {
    return bw_add(acc, bw_add(bw_add(bw_load(p), bw_load(p + 2)), bw_add(bw_load(p + 4), bw_load(p + 6))));
}

/* Sum of n words (n % 32 == 0): four streams, one a quarter of the slice
 * each, read a cache line at a time in lockstep (one core keeps more
 * misses in flight, and trains more prefetchers, than with one stream,
 * as a matrix-vector product reading several rows does), with explicit
 * 128-bit loads (SSE2, NEON) so the loop is load-bound whatever the
 * auto-vectorizer decides. With pf, each stream also prefetches BW_PF
 * bytes ahead, as the decode kernels do: on the 2-core AMD EPYC
 * development machine that read 5-10 % faster than the hardware
 * prefetchers alone (35.6-41.2 -> 42.0-42.6 GB/s on one core), and a
 * decode kernel with it outran the plain probe. The probe keeps the better
 * of the two, so a roofline percentage is against what the machine can
 * read, not against one way of reading. */
static uint64_t bw_sum(const uint64_t *p, size_t n, int pf) {
    const size_t q = n / 4;
    const uint64_t *p0 = p, *p1 = p + q, *p2 = p + 2 * q, *p3 = p + 3 * q;
    bw_vec a = bw_zero(), b = a, c = a, d = a;
    for (size_t i = 0; i < q; i += 8) {
        if (pf) { /* a prefetch past the buffer's end is harmless */
            __builtin_prefetch((const char *)(p0 + i) + BW_PF);
            __builtin_prefetch((const char *)(p1 + i) + BW_PF);
            __builtin_prefetch((const char *)(p2 + i) + BW_PF);
            __builtin_prefetch((const char *)(p3 + i) + BW_PF);
        }
        a = bw_line(a, p0 + i);
        b = bw_line(b, p1 + i);
        c = bw_line(c, p2 + i);
        d = bw_line(d, p3 + i);
    }
    return bw_total(bw_add(bw_add(a, b), bw_add(c, d)));
}

typedef struct bw_probe bw_probe;
typedef struct bw_job {
    bw_probe *bw;
    const uint64_t *p;
    size_t n;
    uint64_t sum;
    double t_start, t_end; /* of this reader's latest read */
} bw_job;

struct bw_probe {
    uint64_t *buf;
    size_t words_per_thread; /* multiple of 32 */
    int n_threads;
    /* a reusable barrier for n_threads readers */
    pthread_mutex_t lock;
    pthread_cond_t cv;
    int waiting, generation;
    /* results: GB/s of each probe (best of BW_REPS reads) */
    int n_probes;
    double min_gbs, max_gbs;
};

static void bw_barrier(bw_probe *bw) {
    pthread_mutex_lock(&bw->lock);
    int gen = bw->generation;
    if (++bw->waiting == bw->n_threads) {
        bw->waiting = 0;
        bw->generation++;
        pthread_cond_broadcast(&bw->cv);
    } else {
        while (gen == bw->generation) pthread_cond_wait(&bw->cv, &bw->lock);
    }
    pthread_mutex_unlock(&bw->lock);
}

static void bw_read(bw_job *j, int pf) {
    j->t_start = now_s();
    j->sum += bw_sum(j->p, j->n, pf);
    j->t_end = now_s();
}

static void *bw_worker(void *arg) {
    bw_job *j = arg;
    for (int rep = 0; rep < BW_REPS; rep++) {
        bw_barrier(j->bw);
        bw_read(j, rep & 1);
        bw_barrier(j->bw);
    }
    return NULL;
}

/* Allocate and touch the probe buffer: 256 MiB, or 16 MiB a thread when
 * more, so it is well beyond the last-level cache and each read takes
 * long enough to time. 0 on success. */
static int bw_init(bw_probe *bw, int n_threads) {
    memset(bw, 0, sizeof *bw);
    if (n_threads < 1) n_threads = 1;
    if (n_threads > BW_MAX_THREADS) n_threads = BW_MAX_THREADS;
    size_t bytes = (size_t)256 << 20;
    if ((size_t)n_threads * ((size_t)16 << 20) > bytes) bytes = (size_t)n_threads * ((size_t)16 << 20);
    size_t words = bytes / 8;
    bw->n_threads = n_threads;
    bw->words_per_thread = words / (size_t)n_threads / 32 * 32;
    bw->buf = malloc(bytes);
    if (!bw->buf) return -1;
    for (size_t i = 0; i < words; i++) bw->buf[i] = i * 0x9E3779B97F4A7C15ull; /* touch every page */
    pthread_mutex_init(&bw->lock, NULL);
    pthread_cond_init(&bw->cv, NULL);
    return 0;
}

static void bw_free(bw_probe *bw) {
    if (!bw->buf) return;
    free(bw->buf);
    bw->buf = NULL;
    pthread_mutex_destroy(&bw->lock);
    pthread_cond_destroy(&bw->cv);
}

/* One probe: GB/s (1e9 bytes) of the best of BW_REPS reads of the whole
 * buffer by n_threads readers (this thread one of them); 0 if unavailable.
 * Updates the probe range. */
static double bw_measure(bw_probe *bw) {
    if (!bw->buf) return 0;
    int nt = bw->n_threads;
    pthread_t th[BW_MAX_THREADS];
    bw_job jobs[BW_MAX_THREADS];
    for (int i = 0; i < nt; i++) {
        jobs[i] = (bw_job){.bw = bw, .p = bw->buf + bw->words_per_thread * (size_t)i, .n = bw->words_per_thread};
    }
    int started = 1;
    for (int i = 1; i < nt; i++) {
        if (pthread_create(&th[i], NULL, bw_worker, &jobs[i])) break;
        started++;
    }
    if (started < nt) { /* cannot run all readers: release those waiting, no result */
        pthread_mutex_lock(&bw->lock);
        bw->n_threads = started;
        pthread_mutex_unlock(&bw->lock);
        for (int rep = 0; rep < BW_REPS; rep++) { bw_barrier(bw); bw_barrier(bw); }
        for (int i = 1; i < started; i++) pthread_join(th[i], NULL);
        bw->n_threads = nt;
        return 0;
    }
    double best = 0;
    const double bytes = 8.0 * (double)bw->words_per_thread * nt;
    for (int rep = 0; rep < BW_REPS; rep++) {
        bw_barrier(bw);
        bw_read(&jobs[0], rep & 1);
        bw_barrier(bw);
        /* from the first reader's start to the last one's end: a reader
         * that wakes late can only lower the figure, never raise it */
        double t0 = jobs[0].t_start, t1 = jobs[0].t_end;
        for (int i = 1; i < nt; i++) {
            if (jobs[i].t_start < t0) t0 = jobs[i].t_start;
            if (jobs[i].t_end > t1) t1 = jobs[i].t_end;
        }
        if (t1 > t0 && bytes / (t1 - t0) / 1e9 > best) best = bytes / (t1 - t0) / 1e9;
    }
    uint64_t total = 0;
    for (int i = 1; i < nt; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < nt; i++) total += jobs[i].sum;
    bw_sink = total; /* keeps the sums alive */
    if (best > 0) {
        if (!bw->n_probes || best < bw->min_gbs) bw->min_gbs = best;
        if (!bw->n_probes || best > bw->max_gbs) bw->max_gbs = best;
        bw->n_probes++;
    }
    return best;
}

/* ---- --mtp: plain vs speculative decoding through dsv3_generate ---- */

typedef struct mtp_ids {
    int32_t *ids;
    int n, cap;
} mtp_ids;

static int mtp_collect(void *user, int32_t token, const char *piece, size_t len) {
    (void)piece;
    (void)len;
    mtp_ids *c = user;
    if (token >= 0 && c->n < c->cap) c->ids[c->n++] = token;
    return 0;
}

/* Greedy decoding of n_gen tokens after the prompt on a fresh session,
 * plainly (depth 0) or with MTP drafts; the generated ids go to out. */
static int mtp_run(dsv3_model *m, const struct dsv3_session_params *sp0, int32_t vocab, const int32_t *prompt, int n_prompt,
                   int n_gen, int depth, mtp_ids *out, struct dsv3_generate_result *res) {
    struct dsv3_session_params sp = *sp0;
    sp.mtp = 1;
    dsv3_session *s = NULL;
    char err[512];
    int rc = dsv3_session_create(m, &sp, &s, err, sizeof err);
    if (rc) { fprintf(stderr, "dsv3 bench: %s\n", err); return rc; }
    struct dsv3_sampler_params smp_p;
    dsv3_sampler_params_init(&smp_p, sizeof smp_p);
    smp_p.temperature = 0;
    dsv3_sampler *smp = NULL;
    rc = dsv3_sampler_create(&smp_p, vocab, &smp);
    struct dsv3_generate_params gp;
    dsv3_generate_params_init(&gp, sizeof gp);
    gp.max_tokens = n_gen;
    gp.stop_at_eos = 0; /* the same number of tokens every run */
    gp.on_token = mtp_collect;
    gp.user = out;
    gp.mtp = depth ? DSV3_MTP_AUTO : DSV3_MTP_OFF;
    gp.mtp_depth = depth;
    out->n = 0;
    memset(res, 0, sizeof *res);
    res->struct_size = sizeof *res;
    if (!rc) rc = dsv3_generate(s, NULL, smp, prompt, (size_t)n_prompt, &gp, res);
    if (rc) fprintf(stderr, "dsv3 bench: %s (%s)\n", dsv3_session_last_error(s), dsv3_status_string(rc));
    dsv3_sampler_free(smp);
    dsv3_session_free(s);
    return rc;
}

/* The prompt for --mtp: real text (-f FILE, else the model directory's
 * heldout.txt) tokenized with the model's tokenizer, at most max tokens;
 * NULL when there is none (the synthetic prompt is used). */
static int32_t *mtp_prompt(const char *model, const char *file, int max, int *n, const char **source) {
    char path[4096];
    if (!file) {
        snprintf(path, sizeof path, "%s/heldout.txt", model);
        FILE *f = fopen(path, "rb");
        if (!f) return NULL;
        fclose(f);
        file = path;
    }
    size_t len = 0;
    char *text = read_file(file, &len);
    if (!text) { fprintf(stderr, "dsv3 bench: cannot read %s\n", file); return NULL; }
    dsv3_tokenizer *tok = NULL;
    int32_t *ids = NULL;
    size_t cnt = 0;
    if (dsv3_tokenizer_load(model, &tok, NULL, 0) == DSV3_OK) {
        unsigned fl = dsv3_tokenizer_add_bos(tok) ? DSV3_TOKENIZE_ADD_BOS : 0;
        dsv3_tokenize(tok, text, len, fl, NULL, 0, &cnt); /* the count */
        ids = cnt ? malloc(sizeof *ids * cnt) : NULL;
        if (ids && dsv3_tokenize(tok, text, len, fl, ids, cnt, &cnt) != DSV3_OK) { free(ids); ids = NULL; }
    } else {
        fprintf(stderr, "dsv3 bench: %s has no tokenizer for the prompt file\n", model);
    }
    dsv3_tokenizer_free(tok);
    free(text);
    if (!ids) return NULL;
    *n = cnt < (size_t)max ? (int)cnt : max;
    *source = file == path ? "heldout.txt" : "file";
    return ids;
}

/* --kv-type: "f32" | "f16" | "q8_0" -> DSV3_KV_*, -1 if unknown. */
static int kv_type_arg(const char *s) {
    return !strcmp(s, "f32") ? DSV3_KV_F32 : !strcmp(s, "f16") ? DSV3_KV_F16 : !strcmp(s, "q8_0") ? DSV3_KV_Q8_0 : -1;
}

int cmd_bench(int argc, char **argv) {
    const char *model = NULL, *backend = "auto", *prompt_file = NULL;
    int n_prompt = 512, n_gen = 128, threads = 0, as_json = 0, kv = 0, mtp = 0, mtp_depth = 0, placement = 0, repack = 0;
    uint64_t gpu_budget = 0;
    static const char *const kv_names[] = {"f32", "f16", "q8_0"};
    const cli_opt opts[] = {
        OPT_STR("--model", "-m", &model, "PATH", "model directory or .gguf file"),
        OPT_INT("--prompt", "-p", &n_prompt, 1, 1000000, "N", "prompt tokens to process"),
        OPT_INT("--n-predict", "-n", &n_gen, 1, 1000000, "N", "tokens to decode"),
        OPT_INT("--threads", "-t", &threads, 0, 1024, "N", "worker threads, 0 = all cores"),
        OPT_STR("--backend", NULL, &backend, "NAME", "compute backend (dsv3 backends lists them)"),
        OPT_CHOICE("--placement", NULL, &placement, CLI_PLACEMENTS, "which weights a GPU backend holds"),
        OPT_BYTES("--gpu-budget", NULL, &gpu_budget, "BYTES", "GPU memory for weights and KV (K/M/G), 0 = the device's"),
        OPT_FLAG("--repack", NULL, &repack, CLI_REPACK_HELP),
        OPT_CHOICE("--kv-type", NULL, &kv, "f32|f16|q8_0", "KV cache storage"),
        OPT_FLAG("--json", NULL, &as_json, "one JSON object on stdout"),
        OPT_FLAG("--mtp", NULL, &mtp, "also decode greedily with MTP drafts and without, from a real prompt"),
        OPT_INT("--mtp-depth", NULL, &mtp_depth, 1, DSV3_MTP_MAX_DEPTH, "K", "tokens drafted per main step (implies --mtp)"),
        OPT_STR("--file", "-f", &prompt_file, "FILE", "prompt text for --mtp (default: the model directory's heldout.txt)"),
    };
    const cli_cmd cmd = {"bench", "[-m PATH] [-p N] [-n N] [-t N] [--backend NAME] [--repack] [--kv-type T] [--json] [--mtp [--mtp-depth K] [-f FILE]]",
                         "Prefill and decode speed, the weight bytes each decoded token streams, this machine's\n"
                         "read bandwidth and decode as a share of that roofline. Without -m: the demo model.",
                         "  dsv3 bench -p 64 -n 32\n  dsv3 bench -m model.gguf -t 8 --json", opts, (int)(sizeof opts / sizeof opts[0])};
    int pr = cli_parse(&cmd, argc, argv);
    if (pr) return pr == 1 ? 0 : 2;
    const char *kv_name = kv_names[kv];
    if (mtp_depth) mtp = 1;
    if (prompt_file && !mtp) return cli_usage_error(&cmd, "-f FILE gives the prompt of --mtp");
    if (!model) model = cli_default_model();
    if (!model) return cli_usage_error(&cmd, "-m PATH is required (no demo model found)");
    struct dsv3_model_params mp;
    dsv3_model_params_init(&mp, sizeof mp);
    mp.backend = backend;
    mp.n_threads = threads;
    mp.placement = cli_placement_name(placement);
    mp.gpu_budget = gpu_budget;
    mp.repack = repack;
    char err[512];
    dsv3_model *m = NULL;
    int rc = dsv3_model_load(model, &mp, &m, err, sizeof err);
    if (rc) { fprintf(stderr, "dsv3 bench: %s\n", err); return 1; }
    struct dsv3_model_info info = {.struct_size = sizeof info};
    dsv3_model_get_info(m, &info);
    /* --mtp decodes from real text: its tokens replace the synthetic prompt */
    const char *prompt_src = "synthetic";
    int32_t *text_ids = NULL;
    if (mtp) {
        int nt = 0;
        text_ids = mtp_prompt(model, prompt_file, n_prompt, &nt, &prompt_src);
        if (!text_ids && prompt_file) { dsv3_model_free(m); return 1; }
        if (!text_ids) fprintf(stderr, "dsv3 bench: no prompt text for --mtp (-f FILE); using the synthetic prompt\n");
        if (text_ids) n_prompt = nt;
    }
    struct dsv3_session_params sp;
    dsv3_session_params_init(&sp, sizeof sp);
    sp.n_ctx = n_prompt + n_gen + 1;
    if (sp.n_ctx > info.max_context) sp.n_ctx = info.max_context;
    sp.mtp = 0;
    sp.kv_type = kv_type_arg(kv_name);
    dsv3_session *s = NULL;
    rc = dsv3_session_create(m, &sp, &s, err, sizeof err);
    if (rc) { fprintf(stderr, "dsv3 bench: %s\n", err); dsv3_model_free(m); return 1; }
    int32_t *tok = malloc(sizeof *tok * (size_t)n_prompt);
    float *logits = malloc(sizeof(float) * (size_t)info.vocab_size);
    uint64_t x = 12345;
    for (int i = 0; i < n_prompt; i++) { x = x * 6364136223846793005ull + 1442695040888963407ull; tok[i] = (int32_t)((x >> 33) % (uint64_t)info.vocab_size); }
    if (text_ids) memcpy(tok, text_ids, sizeof *tok * (size_t)n_prompt);
    free(text_ids);

    /* Bandwidth probes: before prefill, between prefill and decode, between
     * decode segments and after decode; the probes are not timed as work. */
    bw_probe bw;
    bw_init(&bw, info.n_threads);
    bw_measure(&bw);

    /* Warm up with (up to 64 tokens of) the prompt itself, as llama-bench
     * does: mapped weights are faulted in on first use, and one token
     * touches only its own experts, so a one-token warm-up left the page
     * faults of most experts to be timed as prefill. */
    dsv3_session_step(s, tok, n_prompt < 64 ? n_prompt : 64, logits, 0);
    dsv3_session_reset(s);
    double t0 = now_s();
    rc = dsv3_session_step(s, tok, n_prompt, logits, 0);
    double t_prefill = now_s() - t0;
    bw_measure(&bw);
    int n_seg = n_gen / 8 < 1 ? 1 : n_gen / 8 > 4 ? 4 : n_gen / 8;
    double t_decode = 0;
    for (int seg = 0; !rc && seg < n_seg; seg++) {
        if (seg) bw_measure(&bw);
        int i0 = (int)((long long)n_gen * seg / n_seg), i1 = (int)((long long)n_gen * (seg + 1) / n_seg);
        t0 = now_s();
        for (int i = i0; !rc && i < i1; i++) {
            int32_t best = 0;
            for (int v = 1; v < info.vocab_size; v++) if (logits[v] > logits[best]) best = v;
            rc = dsv3_session_step(s, &best, 1, logits, 0);
        }
        t_decode += now_s() - t0;
    }
    if (rc) { fprintf(stderr, "dsv3 bench: %s\n", dsv3_session_last_error(s)); }
    bw_measure(&bw);
    bw_free(&bw);

    /* --mtp: what a verify step costs. One main-model step of depth + 1
     * tokens with every row's logits (what MTP decoding runs per round)
     * against a one-token step, both at the same position near the end of
     * the decode above; the fastest of VERIFY_REPS each. */
    enum { VERIFY_REPS = 12 };
    const int n_verify = (mtp_depth ? mtp_depth : 1) + 1;
    double verify_ratio = 0;
    int32_t verify_pos = 0;
    if (mtp && !rc && n_verify <= n_prompt && dsv3_session_position(s) >= n_verify) {
        float *vl = malloc(sizeof(float) * (size_t)info.vocab_size * (size_t)n_verify);
        double best[2] = {0, 0};
        verify_pos = dsv3_session_position(s) - n_verify;
        for (int r = 0; vl && !rc && r < VERIFY_REPS; r++)
            for (int k = 0; k < 2 && !rc; k++) {
                dsv3_session_rewind(s, verify_pos);
                t0 = now_s();
                rc = dsv3_session_step(s, tok, k ? n_verify : 1, vl, k ? DSV3_STEP_LOGITS_ALL : 0);
                const double dt = now_s() - t0;
                if (!r || dt < best[k]) best[k] = dt;
            }
        if (rc) fprintf(stderr, "dsv3 bench: %s\n", dsv3_session_last_error(s));
        else if (vl && best[0] > 0) verify_ratio = best[1] / best[0];
        free(vl);
    }

    /* --mtp: the same greedy decoding through dsv3_generate, plainly and
     * with MTP drafts, on fresh sessions, alternating MTP_RUNS times; the
     * fastest run of each counts (on a shared machine a slow run measures
     * the other processes), and every MTP run must match the plain one. */
    enum { MTP_RUNS = 3 };
    struct dsv3_generate_result mres[2];
    memset(mres, 0, sizeof mres);
    int mtp_same = 0;
    if (mtp && !rc) {
        mtp_ids out[2];
        for (int k = 0; k < 2; k++) out[k] = (mtp_ids){malloc(sizeof(int32_t) * (size_t)n_gen), 0, n_gen};
        int32_t *plain_ids = malloc(sizeof(int32_t) * (size_t)n_gen);
        int plain_n = 0;
        mtp_same = 1;
        for (int r = 0; r < MTP_RUNS && !rc; r++)
            for (int k = 0; k < 2 && !rc; k++) {
                struct dsv3_generate_result one;
                rc = out[k].ids && plain_ids ? mtp_run(m, &sp, info.vocab_size, tok, n_prompt, n_gen,
                                                       k ? (mtp_depth ? mtp_depth : 1) : 0, &out[k], &one)
                                             : DSV3_ERR_NO_MEMORY;
                if (rc) break;
                if (!r || one.generate_tokens_per_s > mres[k].generate_tokens_per_s) mres[k] = one;
                if (!r && !k) {
                    plain_n = out[0].n;
                    memcpy(plain_ids, out[0].ids, sizeof(int32_t) * (size_t)plain_n);
                }
                mtp_same &= out[k].n == plain_n && !memcmp(out[k].ids, plain_ids, sizeof(int32_t) * (size_t)plain_n);
            }
        mtp_same &= !rc;
        free(plain_ids);
        if (!rc && !mres[1].mtp_depth) fprintf(stderr, "dsv3 bench: --mtp: the model has no MTP layer; both runs decoded plainly\n");
        free(out[0].ids);
        free(out[1].ids);
    }
    const struct dsv3_generate_result *mp0 = &mres[0], *mp1 = &mres[1];
    const double m_acc = mp1->n_drafted ? (double)mp1->n_accepted / mp1->n_drafted : 0;
    const double m_tps = mp1->n_main_steps ? (double)mp1->n_generated / mp1->n_main_steps : 0;
    const double m_speed = mp0->generate_tokens_per_s > 0 ? mp1->generate_tokens_per_s / mp0->generate_tokens_per_s : 0;
    double bw_gbs = bw.max_gbs, bw_min = bw.min_gbs; /* 0 if no probe ran */
    double pf = n_prompt / t_prefill, dc = n_gen / t_decode;
    double bpt = (double)info.decode_bytes_per_token;
    double pct = bw_gbs > 0 ? 100.0 * dc * bpt / (bw_gbs * 1e9) : 0;

    /* Prediction for the full-size model: per-token time scales with the
     * bytes it streams, at the effective bandwidth measured here. */
    synth_origin f = cli_synth_origin(model);
    double full_bpt = 0, full_dc = 0;
    if (f.found) {
        full_bpt = (double)info.decode_bytes_head + (double)f.dense * (double)info.decode_bytes_dense_layer +
                   (double)(f.layers - f.dense) * (double)info.decode_bytes_moe_layer;
        full_dc = full_bpt > 0 ? dc * bpt / full_bpt : 0;
    }
    if (as_json) {
        printf("{\"model\": \"%s\", \"backend\": \"%s\", \"threads\": %d, \"weights\": \"%s\", \"n_prompt\": %d, \"n_gen\": %d, "
               "\"prefill_tokens_per_s\": %.3f, \"decode_tokens_per_s\": %.3f, \"bytes_per_token\": %.0f, "
               "\"bandwidth_gb_s\": %.2f, \"roofline_pct\": %.1f, \"kv_type\": \"%s\", \"kv_bytes_per_token\": %llu, "
               "\"bandwidth_min_gb_s\": %.2f, \"bandwidth_max_gb_s\": %.2f, \"bandwidth_probes\": %d, \"repacked_bytes\": %llu",
               model, info.backend, info.n_threads, info.weight_dtype, n_prompt, n_gen, pf, dc, bpt, bw_gbs, pct, kv_name,
               (unsigned long long)dsv3_session_kv_bytes_per_token(s), bw_min, bw_gbs, bw.n_probes,
               (unsigned long long)info.repacked_bytes);
        if (f.found) printf(", \"full_model_bytes_per_token\": %.0f, \"full_model_decode_tokens_per_s\": %.4f", full_bpt, full_dc);
        if (mtp)
            printf(", \"prompt\": \"%s\", \"mtp_depth\": %d, \"mtp_plain_decode_tokens_per_s\": %.3f, \"mtp_decode_tokens_per_s\": %.3f, "
                   "\"mtp_speedup\": %.3f, \"mtp_acceptance\": %.4f, \"mtp_tokens_per_step\": %.3f, \"mtp_drafted\": %d, "
                   "\"mtp_accepted\": %d, \"mtp_main_steps\": %d, \"mtp_identical\": %s",
                   prompt_src, mp1->mtp_depth, mp0->generate_tokens_per_s, mp1->generate_tokens_per_s, m_speed, m_acc, m_tps,
                   mp1->n_drafted, mp1->n_accepted, mp1->n_main_steps, mtp_same ? "true" : "false");
        if (verify_ratio > 0)
            printf(", \"mtp_verify_tokens\": %d, \"mtp_verify_position\": %d, \"mtp_verify_step_ratio\": %.3f", n_verify,
                   (int)verify_pos, verify_ratio);
        printf("}\n");
    } else {
        printf("model           %s (%s, %s weights)\n", model, info.architecture, info.weight_dtype);
        printf("backend         %s, %d thread%s\n", info.backend, info.n_threads, info.n_threads == 1 ? "" : "s");
        if (info.repacked_bytes) printf("repacked        %.1f MiB of packed weights in process memory\n", info.repacked_bytes / 1048576.0);
        printf("kv cache        %s, %llu bytes/token\n", kv_name, (unsigned long long)dsv3_session_kv_bytes_per_token(s));
        printf("prefill         %d tokens: %.2f tokens/s\n", n_prompt, pf);
        printf("decode          %d tokens: %.2f tokens/s\n", n_gen, dc);
        printf("bytes/token     %.1f MiB of weights streamed per decoded token\n", bpt / 1048576.0);
        printf("bandwidth       %.2f GB/s measured read bandwidth (%d threads), highest of %d probes, "
               "range %.2f-%.2f GB/s\n", bw_gbs, bw.n_threads, bw.n_probes, bw_min, bw_gbs);
        printf("roofline        decode at %.1f %% of bandwidth / bytes-per-token (%.2f tokens/s)\n", pct,
               bpt > 0 ? bw_gbs * 1e9 / bpt : 0);
        if (f.found)
            printf("full model      %d layers, %d experts: %.1f GiB/token -> predicted decode %.4f tokens/s\n", f.layers,
                   f.experts, full_bpt / 1073741824.0, full_dc);
        if (mtp)
            printf("mtp             depth %d, %s prompt: %d/%d drafts accepted (%.1f %%), %.2f tokens/step; decode %.2f tokens/s "
                   "vs %.2f plain (x%.2f); same tokens: %s\n",
                   mp1->mtp_depth, prompt_src, mp1->n_accepted, mp1->n_drafted, 100.0 * m_acc, m_tps, mp1->generate_tokens_per_s,
                   mp0->generate_tokens_per_s, m_speed, mtp_same ? "yes" : "NO");
        if (verify_ratio > 0)
            printf("verify step     %d tokens with all logits cost %.2fx a one-token step (position %d)\n", n_verify,
                   verify_ratio, (int)verify_pos);
    }
    free(tok);
    free(logits);
    dsv3_session_free(s);
    dsv3_model_free(m);
    return rc ? 1 : 0;
}
