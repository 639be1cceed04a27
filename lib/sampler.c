/* sampler.c -- logits to a token: logit bias, repetition / frequency /
 * presence penalties, then greedy or temperature + top-k + top-p + min-p and
 * a draw from a seeded xoshiro256** generator.
 *
 * Definition (what every code path below computes exactly):
 *   v[i]  = logits[i] + bias (float), then for each distinct token of the
 *           window: v > 0 ? v / repeat : v * repeat, minus
 *           count * frequency + presence (float). NaN counts as -inf.
 *   order = candidates (v > -inf) by v descending, then id ascending: a
 *           total order, so the result does not depend on a sort algorithm.
 *   greedy (temperature <= 0): the first candidate; no random draw.
 *   C     = the first top_k candidates (all when top_k is 0).
 *   w[i]  = exp((v[i] - v_max) / T) in double (so the maximum has w = 1;
 *           with v_max = +inf: 1 for the +inf tokens, 0 for the rest).
 *   z     = sum of w over C, added in ascending id order.
 *   top-p: n = the first position in order whose running sum (in order)
 *           is >= top_p * z; min-p: n = min(n, the first position whose
 *           w < min_p); the kept mass z' = running sum of the first n
 *           (z itself when nothing was cut).
 *   draw:  u = (next() >> 11) * 2^-53, the first kept position whose
 *           running sum exceeds u * z' (rounding: the last one with w > 0).
 *           Exactly one draw per non-greedy call.
 *
 * Reproducibility: the same seed gives the same tokens on every machine.
 * Only + - * / and conversions are used on doubles, in the fixed orders
 * above; exp() is computed here (det_exp) rather than by the platform's
 * libm, whose last bits differ between C libraries; contraction into fused
 * multiply-adds is switched off for this file. This assumes IEEE-754
 * arithmetic without excess precision (FLT_EVAL_METHOD 0: every 64-bit
 * target; not 32-bit x87).
 *
 * Cost per sample for V = n_vocab, no allocation after create:
 *   - O(V) passes for the adjustments, the maximum and w / z;
 *   - top_k <= V/16: a bounded min-heap, O(V log k), then O(k log k);
 *   - larger top_k: an LSD radix sort of the candidates, O(V);
 *   - top_k == 0: only the prefix of the order that the decision needs is
 *     sorted: candidates are bucketed by distance below the maximum, the
 *     bucket masses say how far top-p / min-p / the draw can reach, and
 *     those buckets (a prefix of the order, plus a margin) are radix-sorted.
 *     If that prefix turns out short, everything is sorted, so the result
 *     is always the definition's. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "abi.h"
#include "dsv3.h"
#include "hash64.h"

/* Seed used when params.seed == 0. */
#define SAMPLER_DEFAULT_SEED 0x243F6A8885A308D3ull

struct dsv3_sampler {
    struct dsv3_sampler_params p; /* validated copy; bias pointers are ours */
    int32_t n_vocab;
    int32_t *bias_ids;
    float *bias_values;
    /* penalty window: the last p.penalty_last_n accepted tokens */
    int32_t *ring;
    int32_t ring_head; /* index of the oldest entry */
    int32_t ring_len;
    int32_t *counts;   /* [n_vocab] occurrences in the window */
    /* scratch */
    float *work;       /* [n_vocab] adjusted logits */
    uint64_t *keys;    /* [n_vocab] candidate sort keys (or the top-k heap) */
    uint64_t *tmp;     /* [n_vocab] radix sort buffer */
    double *w;         /* [n_vocab] unnormalized probabilities, sorted order */
    uint64_t rng[4];
};

static struct dsv3_sampler_params sampler_params_defaults(void) {
    struct dsv3_sampler_params p;
    memset(&p, 0, sizeof p);
    p.struct_size = sizeof p;
    p.temperature = 0.8f;
    p.top_k = 40;
    p.top_p = 0.95f;
    p.min_p = 0.05f;
    p.repeat_penalty = 1.0f;
    p.frequency_penalty = 0.0f;
    p.presence_penalty = 0.0f;
    p.penalty_last_n = 64;
    p.seed = 0;
    p.bias_ids = NULL;
    p.bias_values = NULL;
    p.n_bias = 0;
    return p;
}

int dsv3_sampler_params_init(struct dsv3_sampler_params *p, size_t size) {
    struct dsv3_sampler_params d = sampler_params_defaults();
    return dsv3_struct_init(p, size, &d, sizeof d);
}

/* ---- random numbers ------------------------------------------------------ */
static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t xoshiro_next(uint64_t s[4]) {
    const uint64_t result = rotl64(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
}

static void rng_seed(dsv3_sampler *s) {
    uint64_t x = s->p.seed ? s->p.seed : SAMPLER_DEFAULT_SEED;
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&x);
}

/* Uniform in [0, 1): the top 53 bits, exactly representable. */
static double rng_uniform(dsv3_sampler *s) { return (double)(xoshiro_next(s->rng) >> 11) * 0x1.0p-53; }

/* ---- exp --------------------------------------------------------------------
 * exp(x) for x <= 0 with + - * / only (bit-identical everywhere). Cody-Waite
 * reduction x = k ln2 + r, |r| <= ln2/2 + tiny (k * LN2_HI is exact: LN2_HI
 * has 32 significant bits and |k| < 2^11), then the Taylor series to degree
 * 13 (truncation error < 2^-57 relative) and an exact scaling by 2^k.
 * Results below exp(-700) (~1e-304, far below any probability that matters
 * next to the maximum's 1) are flushed to 0, so no subnormal is ever formed
 * and the scaling stays exact. */
#define LN2_HI 6.93147180369123816490e-01 /* 0x3FE62E42FEE00000 */
#define LN2_LO 1.90821492927058770002e-10 /* 0x3DEA39EF35793C76 */
#define INV_LN2 1.44269504088896338700e+00

static double det_exp(double x) {
    if (!(x > -700.0)) return 0.0; /* also NaN */
    if (x >= 0.0) return 1.0;      /* only x == 0 occurs */
    /* k = round(x / ln2), by an exact truncating conversion */
    const int k = -(int)(0.5 - x * INV_LN2);
    const double kf = (double)k;
    const double hi = kf * LN2_HI;
    const double lo = kf * LN2_LO;
    const double r = (x - hi) - lo;
    static const double c[14] = {
        1.0,
        1.0,
        1.0 / 2.0,
        1.0 / 6.0,
        1.0 / 24.0,
        1.0 / 120.0,
        1.0 / 720.0,
        1.0 / 5040.0,
        1.0 / 40320.0,
        1.0 / 362880.0,
        1.0 / 3628800.0,
        1.0 / 39916800.0,
        1.0 / 479001600.0,
        1.0 / 6227020800.0,
    };
    double p = c[13];
    for (int i = 12; i >= 0; i--) {
        const double t = p * r;
        p = t + c[i];
    }
    /* 2^k as a double: k is in [-1010, 0], a normal number */
    const uint64_t bits = (uint64_t)(k + 1023) << 52;
    double scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* ---- sort keys -------------------------------------------------------------
 * A candidate's key orders by adjusted logit descending, then id ascending,
 * as one unsigned compare: the high 32 bits map the float order onto
 * unsigned order, the low 32 bits are ~id. A larger key comes first. */
static uint64_t make_key(float v, int32_t id) {
    if (v == 0.0f) v = 0.0f; /* -0 and +0 are one value: the id decides */
    uint32_t b;
    memcpy(&b, &v, sizeof b);
    b = (b & 0x80000000u) ? ~b : (b | 0x80000000u);
    return ((uint64_t)b << 32) | (uint64_t)(uint32_t)~(uint32_t)id;
}

static int32_t key_id(uint64_t k) { return (int32_t)~(uint32_t)(k & 0xFFFFFFFFu); }

/* min-heap of keys (the root is the smallest kept key) */
static void heap_sift_down(uint64_t *h, size_t n, size_t i) {
    uint64_t x = h[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && h[c + 1] < h[c]) c++;
        if (h[c] >= x) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
}

static void heap_sift_up(uint64_t *h, size_t i) {
    uint64_t x = h[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h[parent] <= x) break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = x;
}

/* Sort keys[0..n) descending: insertion sort for short runs, else LSD
 * radix, 8 bits a pass, skipping passes where every key has the same digit.
 * Returns the buffer holding the result (a or b). */
static uint64_t *sort_desc(uint64_t *a, uint64_t *b, size_t n) {
    if (n <= 48) {
        for (size_t i = 1; i < n; i++) {
            const uint64_t x = a[i];
            size_t j = i;
            for (; j > 0 && a[j - 1] < x; j--) a[j] = a[j - 1];
            a[j] = x;
        }
        return a;
    }
    size_t count[256];
    for (int shift = 0; shift < 64; shift += 8) {
        memset(count, 0, sizeof count);
        for (size_t i = 0; i < n; i++) count[255 - ((a[i] >> shift) & 0xFF)]++;
        if (count[255 - ((a[0] >> shift) & 0xFF)] == n) continue; /* one digit */
        size_t pos = 0;
        for (int d = 0; d < 256; d++) {
            const size_t c = count[d];
            count[d] = pos;
            pos += c;
        }
        for (size_t i = 0; i < n; i++) b[count[255 - ((a[i] >> shift) & 0xFF)]++] = a[i];
        uint64_t *t = a;
        a = b;
        b = t;
    }
    return a;
}

/* ---- create / free ---------------------------------------------------------- */
void dsv3_sampler_free(dsv3_sampler *s) {
    if (!s) return;
    free(s->bias_ids);
    free(s->bias_values);
    free(s->ring);
    free(s->counts);
    free(s->work);
    free(s->keys);
    free(s->tmp);
    free(s->w);
    free(s);
}

static int params_valid(const struct dsv3_sampler_params *p, int32_t n_vocab) {
    if (!isfinite(p->temperature)) return 0;
    if (p->top_k < 0) return 0;
    if (!(p->top_p > 0.0f && p->top_p <= 1.0f)) return 0;
    if (!(p->min_p >= 0.0f && p->min_p < 1.0f)) return 0;
    if (!(isfinite(p->repeat_penalty) && p->repeat_penalty > 0.0f)) return 0;
    if (!isfinite(p->frequency_penalty) || !isfinite(p->presence_penalty)) return 0;
    if (p->penalty_last_n < 0) return 0;
    if (p->n_bias) {
        if (!p->bias_ids || !p->bias_values) return 0;
        for (size_t i = 0; i < p->n_bias; i++) {
            if (p->bias_ids[i] < 0 || p->bias_ids[i] >= n_vocab) return 0;
            if (isnan(p->bias_values[i])) return 0;
        }
    }
    return 1;
}

int dsv3_sampler_create(const struct dsv3_sampler_params *up, int32_t n_vocab, dsv3_sampler **out) {
    if (!out) return DSV3_ERR_INVALID_ARG;
    *out = NULL;
    if (n_vocab <= 0) return DSV3_ERR_INVALID_ARG;
    struct dsv3_sampler_params p = sampler_params_defaults();
    if (up && dsv3_struct_in(&p, sizeof p, up, "dsv3_sampler_params", NULL)) return DSV3_ERR_INVALID_ARG;
    if (!params_valid(&p, n_vocab)) return DSV3_ERR_INVALID_ARG;

    dsv3_sampler *s = calloc(1, sizeof *s);
    if (!s) return DSV3_ERR_NO_MEMORY;
    s->p = p;
    s->n_vocab = n_vocab;
    size_t V = (size_t)n_vocab;
    int ok = 1;
    if (p.n_bias) {
        s->bias_ids = malloc(sizeof *s->bias_ids * p.n_bias);
        s->bias_values = malloc(sizeof *s->bias_values * p.n_bias);
        ok = s->bias_ids && s->bias_values;
        if (ok) {
            memcpy(s->bias_ids, p.bias_ids, sizeof *s->bias_ids * p.n_bias);
            memcpy(s->bias_values, p.bias_values, sizeof *s->bias_values * p.n_bias);
        }
    }
    s->p.bias_ids = s->bias_ids;
    s->p.bias_values = s->bias_values;
    if (ok && p.penalty_last_n > 0) {
        s->ring = malloc(sizeof *s->ring * (size_t)p.penalty_last_n);
        s->counts = calloc(V, sizeof *s->counts);
        ok = s->ring && s->counts;
    }
    if (ok) {
        s->work = malloc(sizeof *s->work * V);
        s->keys = malloc(sizeof *s->keys * V);
        s->tmp = malloc(sizeof *s->tmp * V);
        s->w = malloc(sizeof *s->w * V);
        ok = s->work && s->keys && s->tmp && s->w;
    }
    if (!ok) {
        dsv3_sampler_free(s);
        return DSV3_ERR_NO_MEMORY;
    }
    rng_seed(s);
    *out = s;
    return DSV3_OK;
}

/* ---- accept / reset ------------------------------------------------------- */
int dsv3_sampler_accept(dsv3_sampler *s, int32_t token) {
    if (!s) return DSV3_ERR_INVALID_ARG;
    if (token < 0 || token >= s->n_vocab) return DSV3_ERR_BAD_TOKEN;
    const int32_t cap = s->p.penalty_last_n;
    if (cap == 0) return DSV3_OK;
    if (s->ring_len == cap) { /* evict the oldest */
        s->counts[s->ring[s->ring_head]]--;
        s->ring[s->ring_head] = token;
        s->ring_head = s->ring_head + 1 == cap ? 0 : s->ring_head + 1;
    } else {
        int32_t i = s->ring_head + s->ring_len;
        if (i >= cap) i -= cap;
        s->ring[i] = token;
        s->ring_len++;
    }
    s->counts[token]++;
    return DSV3_OK;
}

void dsv3_sampler_reset(dsv3_sampler *s) {
    if (!s) return;
    for (int32_t i = 0; i < s->ring_len; i++) {
        int32_t j = s->ring_head + i;
        if (j >= s->p.penalty_last_n) j -= s->p.penalty_last_n;
        s->counts[s->ring[j]]--;
    }
    s->ring_head = 0;
    s->ring_len = 0;
    rng_seed(s);
}

/* ---- sample ---------------------------------------------------------------- */

/* work[] = logits + bias, then the penalties of the window. */
static void adjust_logits(dsv3_sampler *s, const float *logits) {
    float *work = s->work;
    memcpy(work, logits, sizeof *work * (size_t)s->n_vocab);
    for (size_t i = 0; i < s->p.n_bias; i++) {
        float v = work[s->bias_ids[i]] + s->bias_values[i];
        work[s->bias_ids[i]] = v;
    }
    if (s->ring_len == 0) return;
    const float rp = s->p.repeat_penalty, fp = s->p.frequency_penalty, pp = s->p.presence_penalty;
    const int32_t cap = s->p.penalty_last_n;
    /* Each distinct token once: its count is negated while it is done. */
    for (int32_t i = 0; i < s->ring_len; i++) {
        int32_t j = s->ring_head + i;
        if (j >= cap) j -= cap;
        const int32_t t = s->ring[j];
        const int32_t c = s->counts[t];
        if (c <= 0) continue;
        float v = work[t];
        if (rp != 1.0f) v = v > 0.0f ? v / rp : v * rp;
        float sub = (float)c * fp; /* separate statements: no contraction */
        sub = sub + pp;
        v = v - sub;
        work[t] = v;
        s->counts[t] = -c;
    }
    for (int32_t i = 0; i < s->ring_len; i++) {
        int32_t j = s->ring_head + i;
        if (j >= cap) j -= cap;
        const int32_t t = s->ring[j];
        if (s->counts[t] < 0) s->counts[t] = -s->counts[t];
    }
}

/* Candidates are bucketed by d = (max - logit) / T, the distance in nats
 * below the maximum: bucket floor(8 d), the last one collecting d >= 31.875.
 * The bucket is a monotone function of the logit, so "bucket <= b" selects
 * a prefix of the canonical order. */
#define N_BUCKETS 256

static int bucket_of(double d) { return d < (N_BUCKETS - 1) / 8.0 ? (int)(d * 8.0) : N_BUCKETS - 1; }

/* The candidate set C, its distribution and a sorted prefix of it. */
typedef struct dist {
    const uint64_t *sorted; /* keys of C's first L members, canonical order */
    size_t L;
    size_t nC;              /* |C| */
    int complete;           /* L == nC */
    double z;               /* sum of w over C in ascending id order */
    double u;               /* the uniform draw of this call */
} dist;

#define NEED_MORE (-1)

/* top-p, min-p and the draw over the canonical order (see the header of
 * this file): w of member j is s->w[id]. Returns the position picked, or
 * NEED_MORE when the decision lies beyond the sorted prefix. */
static long long pick_from(const dsv3_sampler *s, const dist *d) {
    const double *w = s->w;
    const uint64_t *srt = d->sorted;
    const size_t L = d->L;
    size_t n = d->nC;
    /* top-p: the shortest prefix whose sequential sum reaches top_p * z */
    if (s->p.top_p < 1.0f) {
        const double target = (double)s->p.top_p * d->z;
        double cum = 0.0;
        int found = 0;
        for (size_t j = 0; j < L; j++) {
            cum += w[key_id(srt[j])];
            if (cum >= target) {
                n = j + 1;
                found = 1;
                break;
            }
        }
        if (!found) {
            if (!d->complete) return NEED_MORE;
            n = L; /* rounding: keep all */
        }
    }
    /* min-p: cut at the first member with w < min_p (w of the max is 1) */
    if (s->p.min_p > 0.0f) {
        const double thr = (double)s->p.min_p;
        const size_t lim = n < L ? n : L;
        int found = 0;
        for (size_t j = 1; j < lim; j++)
            if (w[key_id(srt[j])] < thr) {
                n = j;
                found = 1;
                break;
            }
        if (!found && lim < n) return NEED_MORE;
    }
    /* draw: target u * z' with z' the kept mass (z itself when nothing was
     * cut), then the first member whose cumulative sum passes it */
    double zk = d->z;
    if (n < d->nC) { /* n <= L here: every cut above was found in the prefix */
        zk = 0.0;
        for (size_t j = 0; j < n; j++) zk += w[key_id(srt[j])];
    }
    const double target = d->u * zk;
    const size_t lim = n < L ? n : L;
    double cum = 0.0;
    long long last_pos = 0;
    for (size_t j = 0; j < lim; j++) {
        const double wj = w[key_id(srt[j])];
        if (wj > 0.0) last_pos = (long long)j;
        cum += wj;
        if (target < cum) return (long long)j;
    }
    if (lim < n) return NEED_MORE;
    return last_pos; /* rounding: the last member with mass */
}

int dsv3_sampler_sample(dsv3_sampler *s, const float *logits, int32_t *token) {
    if (!s || !logits || !token) return DSV3_ERR_INVALID_ARG;
    adjust_logits(s, logits);
    const float *work = s->work;
    const int32_t V = s->n_vocab;

    /* Pass 1: the maximum (ties: lowest id; -0 == +0), the number of
     * candidates, the top-k heap. NaN and -inf are not candidates. */
    const size_t k = (size_t)s->p.top_k;
    const int use_heap = s->p.temperature > 0.0f && k > 0 && k <= (size_t)V / 16;
    uint64_t *h = s->keys;
    size_t m = 0, nh = 0;
    int32_t best = -1;
    float bestv = -INFINITY, rootv = -INFINITY;
    for (int32_t i = 0; i < V; i++) {
        const float v = work[i];
        if (!(v > -INFINITY)) continue;
        if (best < 0 || v > bestv) {
            best = i;
            bestv = v;
        }
        m++;
        if (use_heap) {
            if (nh < k) {
                h[nh] = make_key(v, i);
                heap_sift_up(h, nh);
                nh++;
                rootv = work[key_id(h[0])];
            } else if (v >= rootv) {
                const uint64_t key = make_key(v, i);
                if (key > h[0]) {
                    h[0] = key;
                    heap_sift_down(h, nh, 0);
                    rootv = work[key_id(h[0])];
                }
            }
        }
    }
    if (m == 0) return DSV3_ERR_INVALID_ARG;
    /* Greedy: the largest key (ties: lowest id); the generator is not used. */
    if (!(s->p.temperature > 0.0f)) {
        *token = best;
        return DSV3_OK;
    }

    dist d;
    memset(&d, 0, sizeof d);
    d.u = rng_uniform(s); /* exactly one draw per call */
    uint64_t kth = 0;     /* C = candidates with key >= kth */
    if (use_heap) {       /* C = the heap, sorted descending */
        for (size_t end = nh; end > 1; end--) {
            const uint64_t t = h[0];
            h[0] = h[end - 1];
            h[end - 1] = t;
            heap_sift_down(h, end - 1, 0);
        }
        d.sorted = h;
        d.L = d.nC = nh;
        d.complete = 1;
    } else if (k > 0 && k < m) { /* a large k: sort everything, cut */
        size_t n = 0;
        for (int32_t i = 0; i < V; i++) {
            const float v = work[i];
            if (isnan(v) || v == -INFINITY) continue;
            s->keys[n++] = make_key(v, i);
        }
        d.sorted = sort_desc(s->keys, s->tmp, n);
        d.L = d.nC = k;
        d.complete = 1;
        kth = d.sorted[k - 1];
    } else {
        d.nC = m;
    }

    /* w for every member of C, their sum z in ascending id order, and the
     * mass per bucket (an estimate that only decides how much to sort). */
    const double vmax = (double)bestv;
    const double temp = (double)s->p.temperature;
    const int inf_max = bestv == INFINITY;
    double hist[N_BUCKETS];
    size_t count[N_BUCKETS];
    memset(hist, 0, sizeof hist);
    memset(count, 0, sizeof count);
    double z = 0.0;
    if (use_heap) { /* C is the heap: sort its ids (nC <= V / 16 fits twice in tmp) */
        uint64_t *ids = s->tmp;
        for (size_t j = 0; j < d.nC; j++) ids[j] = (uint64_t)(uint32_t)key_id(d.sorted[j]);
        const uint64_t *desc = sort_desc(ids, s->tmp + d.nC, d.nC);
        for (size_t j = d.nC; j-- > 0;) {
            const int32_t i = (int32_t)desc[j];
            const float v = work[i];
            const double wi = inf_max ? (v == INFINITY ? 1.0 : 0.0) : det_exp(-((vmax - (double)v) / temp));
            s->w[i] = wi;
            z += wi;
        }
    } else if (d.complete) { /* a large top-k: C = keys >= kth */
        for (int32_t i = 0; i < V; i++) {
            const float v = work[i];
            if (!(v > -INFINITY) || make_key(v, i) < kth) continue;
            const double wi = inf_max ? (v == INFINITY ? 1.0 : 0.0) : det_exp(-((vmax - (double)v) / temp));
            s->w[i] = wi;
            z += wi;
        }
    } else {
        for (int32_t i = 0; i < V; i++) {
            const float v = work[i];
            if (!(v > -INFINITY)) continue;
            double wi;
            int b;
            if (inf_max) {
                wi = v == INFINITY ? 1.0 : 0.0;
                b = v == INFINITY ? 0 : N_BUCKETS - 1;
            } else {
                const double dist_nats = (vmax - (double)v) / temp;
                wi = det_exp(-dist_nats);
                b = bucket_of(dist_nats);
            }
            s->w[i] = wi;
            z += wi;
            hist[b] += wi;
            count[b]++;
        }
    }
    d.z = z;

    if (!d.complete) {
        /* Sort only the buckets the decision needs: up to the mass top-p
         * keeps (else the mass the draw passes), or up to the first member
         * min-p drops, whichever comes first; then one more non-empty
         * bucket as a margin for rounding. Too few is still exact: the
         * fallback below then sorts everything. */
        const double need = s->p.top_p < 1.0f ? (double)s->p.top_p * z : d.u * z;
        int bmax = N_BUCKETS - 1;
        double cum = 0.0;
        for (int b = 0; b < N_BUCKETS; b++) {
            cum += hist[b];
            if (cum > need * (1.0 + 1e-9)) {
                bmax = b;
                break;
            }
        }
        if (s->p.min_p > 0.0f) { /* buckets from bm on have w < min_p */
            int bm = 0;
            while (bm < N_BUCKETS - 1 && det_exp(-(double)bm / 8.0) >= (double)s->p.min_p) bm++;
            while (bm < N_BUCKETS - 1 && !count[bm]) bm++;
            if (bm < bmax) bmax = bm;
        }
        if (bmax < N_BUCKETS - 1) bmax++;
        while (bmax < N_BUCKETS - 1 && !count[bmax]) bmax++;
        size_t n = 0;
        for (int32_t i = 0; i < V; i++) {
            const float v = work[i];
            if (isnan(v) || v == -INFINITY) continue;
            const int b = inf_max ? (v == INFINITY ? 0 : N_BUCKETS - 1) : bucket_of((vmax - (double)v) / temp);
            if (b <= bmax) s->keys[n++] = make_key(v, i);
        }
        d.sorted = sort_desc(s->keys, s->tmp, n);
        d.L = n;
        d.complete = n == d.nC;
    }
    long long pos = pick_from(s, &d);
    if (pos == NEED_MORE) { /* the estimate fell short: sort all of C */
        size_t n = 0;
        for (int32_t i = 0; i < V; i++) {
            const float v = work[i];
            if (isnan(v) || v == -INFINITY) continue;
            s->keys[n++] = make_key(v, i);
        }
        d.sorted = sort_desc(s->keys, s->tmp, n);
        d.L = n;
        d.complete = 1;
        pos = pick_from(s, &d);
    }
    *token = key_id(d.sorted[pos]);
    return DSV3_OK;
}

/* ---- state: save / load ------------------------------------------------------
 * What the next draws depend on besides the params: the generator's four
 * words and the penalty window. Layout (little-endian): "DSV3SMP\0",
 * u32 version 1, i32 n_vocab, i32 n (window tokens), u32 0, u64 rng[4],
 * n x i32 tokens oldest first, u64 hash64 of all before it. */
#define SAMPLER_STATE_HEAD 56
#define SAMPLER_STATE_SEED 0x73616d706c6572ull

static void put_le(unsigned char *p, uint64_t v, int bytes) {
    for (int i = 0; i < bytes; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint64_t get_le(const unsigned char *p, int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

int dsv3_sampler_save(const dsv3_sampler *s, void *buf, size_t capacity, size_t *size) {
    if (!s || !size) return DSV3_ERR_INVALID_ARG;
    *size = SAMPLER_STATE_HEAD + 4 * (size_t)s->ring_len + 8;
    if (!buf || capacity < *size) return DSV3_ERR_TOO_SMALL;
    unsigned char *b = buf;
    memset(b, 0, SAMPLER_STATE_HEAD);
    memcpy(b, "DSV3SMP", 8);
    put_le(b + 8, 1, 4);
    put_le(b + 12, (uint32_t)s->n_vocab, 4);
    put_le(b + 16, (uint32_t)s->ring_len, 4);
    for (int i = 0; i < 4; i++) put_le(b + 24 + 8 * i, s->rng[i], 8);
    for (int32_t i = 0; i < s->ring_len; i++) {
        int32_t j = s->ring_head + i;
        if (j >= s->p.penalty_last_n) j -= s->p.penalty_last_n;
        put_le(b + SAMPLER_STATE_HEAD + 4 * (size_t)i, (uint32_t)s->ring[j], 4);
    }
    put_le(b + *size - 8, dsv3_hash64_of(b, *size - 8, SAMPLER_STATE_SEED), 8);
    return DSV3_OK;
}

int dsv3_sampler_load(dsv3_sampler *s, const void *buf, size_t size) {
    if (!s || !buf) return DSV3_ERR_INVALID_ARG;
    const unsigned char *b = buf;
    if (size < SAMPLER_STATE_HEAD + 8 || memcmp(b, "DSV3SMP", 8) != 0 || get_le(b + 8, 4) != 1)
        return DSV3_ERR_BAD_STATE;
    uint64_t n = get_le(b + 16, 4);
    if (n > (size - SAMPLER_STATE_HEAD - 8) / 4 || size != SAMPLER_STATE_HEAD + 4 * n + 8) return DSV3_ERR_BAD_STATE;
    if (get_le(b + size - 8, 8) != dsv3_hash64_of(b, size - 8, SAMPLER_STATE_SEED)) return DSV3_ERR_BAD_STATE;
    if ((int32_t)get_le(b + 12, 4) != s->n_vocab) return DSV3_ERR_BAD_STATE;
    for (uint64_t i = 0; i < n; i++)
        if ((int32_t)get_le(b + SAMPLER_STATE_HEAD + 4 * i, 4) < 0 ||
            (int32_t)get_le(b + SAMPLER_STATE_HEAD + 4 * i, 4) >= s->n_vocab)
            return DSV3_ERR_BAD_STATE;
    /* all checked: empty the window, replay it (a smaller penalty_last_n
     * keeps the newest tokens), take the generator's words */
    dsv3_sampler_reset(s);
    for (uint64_t i = 0; i < n; i++) dsv3_sampler_accept(s, (int32_t)get_le(b + SAMPLER_STATE_HEAD + 4 * i, 4));
    for (int i = 0; i < 4; i++) s->rng[i] = get_le(b + 24 + 8 * i, 8);
    return DSV3_OK;
}
