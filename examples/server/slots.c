/* slots.c -- slot threads, the queue and one generation; see slots.h. */
#include "slots.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"

typedef struct slot {
    struct srv_pool *pool;
    int id;
    dsv3_session *s;
    int32_t *cache;          /* the tokens the session holds */
    size_t n_cache, cap_cache;
    srv_job *job;            /* assigned, not yet finished (pool lock) */
    unsigned long long idle_since;
    pthread_t th;
    int started;
    /* the running job's generated tokens and test-reply pieces */
    int32_t *gen;
    size_t n_gen, cap_gen;
    const char *script;
    size_t *script_cut;      /* piece k is script[cut[k] .. cut[k+1]) */
    size_t n_script, script_pos;
} slot;

struct srv_pool {
    srv_pool_params p;
    int32_t n_vocab;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    slot *slots;
    srv_job *qhead, *qtail;
    int qlen, stop;
    unsigned long long tick;
    long long done, rejected, cancelled;
};

static size_t common_prefix(const int32_t *a, size_t na, const int32_t *b, size_t nb) {
    size_t i = 0;
    while (i < na && i < nb && a[i] == b[i]) i++;
    return i;
}

/* Hand queued jobs to idle slots (pool lock held). */
static void dispatch(srv_pool *pool) {
    while (pool->qhead) {
        srv_job *j = pool->qhead;
        slot *best = NULL;
        size_t best_lcp = 0;
        for (int i = 0; i < pool->p.n_slots; i++) {
            slot *s = &pool->slots[i];
            if (s->job) continue;
            size_t l = common_prefix(s->cache, s->n_cache, j->prompt.ids, j->prompt.n);
            if (!best || l > best_lcp || (l == best_lcp && s->idle_since < best->idle_since)) {
                best = s;
                best_lcp = l;
            }
        }
        if (!best) return;
        pool->qhead = j->next;
        if (!pool->qhead) pool->qtail = NULL;
        pool->qlen--;
        j->next = NULL;
        j->queued = 0;
        best->job = j;
        pthread_cond_broadcast(&pool->cv);
    }
}

int srv_pool_submit(srv_pool *pool, srv_job *j) {
    pthread_mutex_lock(&pool->mu);
    int idle = 0;
    for (int i = 0; i < pool->p.n_slots; i++) idle += !pool->slots[i].job;
    if (pool->stop || (pool->qlen - idle >= pool->p.queue_size)) {
        pool->rejected++;
        pthread_mutex_unlock(&pool->mu);
        return -1;
    }
    srv_job_ref(j);
    j->queued = 1;
    if (pool->qtail) pool->qtail->next = j;
    else pool->qhead = j;
    pool->qtail = j;
    pool->qlen++;
    dispatch(pool);
    pthread_mutex_unlock(&pool->mu);
    return 0;
}

void srv_pool_cancel(srv_pool *pool, srv_job *j) {
    atomic_store(&j->cancel, 1);
    pthread_mutex_lock(&pool->mu);
    int dropped = 0;
    if (j->queued) {
        srv_job **pp = &pool->qhead, *prev = NULL;
        while (*pp && *pp != j) { prev = *pp; pp = &(*pp)->next; }
        if (*pp) {
            *pp = j->next;
            if (pool->qtail == j) pool->qtail = prev;
            pool->qlen--;
            j->queued = 0;
            dropped = 1;
            pool->cancelled++;
        }
    }
    pthread_mutex_unlock(&pool->mu);
    if (dropped) {
        srv_job_finish(j, 503); /* nobody waits for the answer */
        srv_job_unref(j);
    }
}

int32_t srv_pool_n_ctx(const srv_pool *pool) { return pool->p.n_ctx; }

void srv_pool_get_stats(srv_pool *pool, srv_pool_stats *st) {
    pthread_mutex_lock(&pool->mu);
    st->n_slots = pool->p.n_slots;
    st->idle = 0;
    for (int i = 0; i < pool->p.n_slots; i++) st->idle += !pool->slots[i].job;
    st->queued = pool->qlen;
    st->queue_size = pool->p.queue_size;
    st->done = pool->done;
    st->rejected = pool->rejected;
    st->cancelled = pool->cancelled;
    pthread_mutex_unlock(&pool->mu);
}

/* ---- one generation ---------------------------------------------------------- */

static int push_gen(slot *s, int32_t t) {
    if (s->n_gen == s->cap_gen) {
        size_t nc = s->cap_gen ? s->cap_gen * 2 : 256;
        int32_t *np = realloc(s->gen, nc * sizeof *np);
        if (!np) return -1;
        s->gen = np;
        s->cap_gen = nc;
    }
    s->gen[s->n_gen++] = t;
    return 0;
}

static int on_token(void *user, int32_t token, const char *piece, size_t len) {
    slot *s = user;
    srv_job *j = s->job;
    if (atomic_load(&j->cancel)) return -1;
    if (token >= 0 && push_gen(s, token)) return -1;
    if (!j->t_first) j->t_first = srv_now();
    if (s->script) { /* the test hook: the script's next piece instead of the model's */
        if (token < 0 || s->script_pos >= s->n_script) return 0;
        size_t a = s->script_cut[s->script_pos], b = s->script_cut[s->script_pos + 1];
        s->script_pos++;
        if (srv_out_piece(j, s->script + a, b - a)) return -1;
        return s->script_pos == s->n_script ? 1 : 0;
    }
    return srv_out_piece(j, piece, len) ? -1 : 0;
}

/* Cut the test reply where its tokens' text begins, so that it streams
 * in the pieces the model's own tokens would. */
static int split_script(slot *s, const dsv3_tokenizer *tok, const char *text, size_t len) {
    size_t n = 0, cap = len + 8;
    int32_t *ids = malloc(cap * sizeof *ids);
    s->script_cut = malloc((cap + 1) * sizeof *s->script_cut);
    dsv3_detok_stream *st = NULL;
    int rc = -1;
    if (!ids || !s->script_cut || dsv3_tokenize(tok, text, len, 0, ids, cap, &n) || dsv3_detok_stream_create(tok, 0, &st))
        goto out;
    size_t at = 0, k = 0;
    s->script_cut[k++] = 0;
    char piece[1024];
    for (size_t i = 0; i < n; i++) {
        size_t pl = 0;
        if (dsv3_detok_stream_push(st, ids[i], piece, sizeof piece, &pl)) goto out;
        if (!pl) continue;
        at += pl;
        if (at > len) at = len;
        s->script_cut[k++] = at;
    }
    if (s->script_cut[k - 1] != len) s->script_cut[k++] = len;
    s->n_script = k - 1;
    s->script_pos = 0;
    s->script = text;
    rc = 0;
out:
    dsv3_detok_stream_free(st);
    free(ids);
    return rc;
}

static void log_job(const slot *s, const srv_job *j, int status) {
    if (s->pool->p.quiet) return;
    fprintf(stderr, "slot %d: %s %s prompt %zu (cached %d) generated %d, %.1f ms to first token, %.1f tok/s, %s\n", s->id,
            j->req.endpoint == SRV_CHAT ? "chat" : "completion", j->req.stream ? "stream" : "whole", j->prompt.n,
            j->n_cached, j->n_generated, j->t_first ? (j->t_first - j->t_submit) * 1e3 : 0.0,
            j->generate_seconds > 0 ? j->n_generated / j->generate_seconds : 0.0,
            status == DSV3_ERR_CANCELLED ? "cancelled" : status ? dsv3_status_string(status) : "ok");
}

static void run_job(slot *s, srv_job *j) {
    srv_pool *pool = s->pool;
    j->t_start = srv_now();
    s->n_gen = 0;
    s->script = NULL;
    free(s->script_cut);
    s->script_cut = NULL;
    int status = DSV3_OK;
    char msg[512] = "";
    dsv3_sampler *smp = NULL;
    if (atomic_load(&j->cancel)) { status = DSV3_ERR_CANCELLED; goto end; }
    if (srv_out_begin(j)) { status = DSV3_ERR_NO_MEMORY; goto end; }

    const int32_t *ids = j->prompt.ids;
    size_t n = j->prompt.n;
    size_t common = common_prefix(s->cache, s->n_cache, ids, n);
    if (common == n) common = n - 1; /* the last prompt token is stepped again for its logits */
    if (dsv3_session_position(s->s) != (int32_t)s->n_cache || dsv3_session_rewind(s->s, (int32_t)common)) {
        dsv3_session_reset(s->s);
        common = 0;
    }
    s->n_cache = common;
    j->n_cached = (int32_t)common;

    struct dsv3_sampler_params sp = j->req.sp;
    sp.struct_size = sizeof sp;
    if (!j->req.has_seed) sp.seed = srv_random_u64();
    sp.bias_ids = j->req.bias_ids;
    sp.bias_values = j->req.bias_values;
    sp.n_bias = j->req.n_bias;
    status = dsv3_sampler_create(&sp, pool->n_vocab, &smp);
    if (status) { snprintf(msg, sizeof msg, "bad sampling parameters"); goto end; }
    /* as dsv3_generate does for `dsv3 run`: penalties see the generated
     * tokens only (OpenAI's presence/frequency penalties do the same) */

    struct dsv3_generate_params gp;
    dsv3_generate_params_init(&gp, sizeof gp);
    int32_t max = j->req.max_tokens < 0 || j->req.max_tokens > pool->p.max_tokens ? pool->p.max_tokens : j->req.max_tokens;
    gp.max_tokens = max;
    gp.stop_strings = j->req.stop;
    gp.n_stop_strings = j->req.n_stop;
    gp.on_token = on_token;
    gp.user = s;
    /* speculative decoding gives plain decoding's tokens, only sooner;
     * AUTO falls back to plain decoding when the session cannot draft */
    gp.mtp = pool->p.mtp ? DSV3_MTP_AUTO : DSV3_MTP_OFF;
    gp.mtp_depth = pool->p.mtp_depth;
    if (j->req.test_reply) {
        if (split_script(s, pool->p.tok, j->req.test_reply, j->req.test_reply_len)) {
            status = DSV3_ERR_NO_MEMORY;
            goto end;
        }
        gp.stop_at_eos = 0; /* the script decides where the reply ends */
        if (!s->n_script) gp.max_tokens = 0;
    }
    struct dsv3_generate_result res;
    memset(&res, 0, sizeof res);
    res.struct_size = sizeof res;
    status = dsv3_generate(s->s, pool->p.tok, smp, ids + common, n - common, &gp, &res);
    if (status) snprintf(msg, sizeof msg, "%s", dsv3_session_last_error(s->s));
    j->n_generated = res.n_generated;
    j->stop_reason = res.stop_reason;
    if (s->script && res.stop_reason == DSV3_STOP_CALLBACK) j->stop_reason = DSV3_STOP_EOS;
    j->n_drafted = res.n_drafted;
    j->n_accepted = res.n_accepted;
    j->prompt_seconds = res.prompt_seconds;
    j->generate_seconds = res.generate_seconds;

    /* what the session now holds: the prompt, every generated token
     * (the callback saw all but an EOS) */
    size_t expect = n + s->n_gen + (res.stop_reason == DSV3_STOP_EOS && !status ? 1 : 0);
    if (dsv3_session_position(s->s) == (int32_t)expect && expect <= (size_t)pool->p.n_ctx) {
        if (s->cap_cache < expect) {
            int32_t *nc = realloc(s->cache, expect * sizeof *nc);
            if (nc) { s->cache = nc; s->cap_cache = expect; }
        }
        if (s->cap_cache >= expect) {
            memcpy(s->cache, ids, n * sizeof *ids);
            memcpy(s->cache + n, s->gen, s->n_gen * sizeof *s->gen);
            if (expect > n + s->n_gen) s->cache[expect - 1] = dsv3_tokenizer_eos(pool->p.tok);
            s->n_cache = expect;
        }
    } else { /* not what was expected: start clean */
        dsv3_session_reset(s->s);
        s->n_cache = 0;
    }
end:
    dsv3_sampler_free(smp);
    j->t_end = srv_now();
    log_job(s, j, status);
    srv_out_end(j, status, msg);
}

static void *slot_main(void *arg) {
    slot *s = arg;
    srv_pool *pool = s->pool;
    pthread_mutex_lock(&pool->mu);
    for (;;) {
        while (!s->job && !pool->stop) pthread_cond_wait(&pool->cv, &pool->mu);
        if (!s->job) break;
        srv_job *j = s->job;
        pthread_mutex_unlock(&pool->mu);
        run_job(s, j);
        pthread_mutex_lock(&pool->mu);
        s->job = NULL;
        s->idle_since = ++pool->tick;
        pool->done++;
        dispatch(pool);
        pthread_mutex_unlock(&pool->mu);
        srv_job_unref(j);
        pthread_mutex_lock(&pool->mu);
    }
    pthread_mutex_unlock(&pool->mu);
    return NULL;
}

srv_pool *srv_pool_create(const srv_pool_params *p, char *err, size_t es) {
    srv_pool *pool = calloc(1, sizeof *pool);
    if (!pool) { snprintf(err, es, "out of memory"); return NULL; }
    pool->p = *p;
    pthread_mutex_init(&pool->mu, NULL);
    pthread_cond_init(&pool->cv, NULL);
    struct dsv3_model_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    dsv3_model_get_info(p->model, &info);
    pool->n_vocab = info.vocab_size;
    pool->slots = calloc((size_t)p->n_slots, sizeof *pool->slots);
    if (!pool->slots) { snprintf(err, es, "out of memory"); srv_pool_free(pool); return NULL; }
    for (int i = 0; i < p->n_slots; i++) {
        slot *s = &pool->slots[i];
        s->pool = pool;
        s->id = i;
        struct dsv3_session_params sp;
        dsv3_session_params_init(&sp, sizeof sp);
        sp.n_ctx = p->n_ctx;
        sp.mtp = p->mtp;
        int rc = dsv3_session_create(p->model, &sp, &s->s, err, es);
        if (rc) { srv_pool_free(pool); return NULL; }
        if (!i) pool->p.n_ctx = dsv3_session_n_ctx(s->s);
    }
    for (int i = 0; i < p->n_slots; i++) {
        if (pthread_create(&pool->slots[i].th, NULL, slot_main, &pool->slots[i])) {
            snprintf(err, es, "cannot start slot thread %d", i);
            srv_pool_free(pool);
            return NULL;
        }
        pool->slots[i].started = 1;
    }
    return pool;
}

void srv_pool_shutdown(srv_pool *pool) {
    if (!pool) return;
    pthread_mutex_lock(&pool->mu);
    if (pool->stop) { pthread_mutex_unlock(&pool->mu); return; }
    pool->stop = 1;
    for (int i = 0; pool->slots && i < pool->p.n_slots; i++)
        if (pool->slots[i].job) atomic_store(&pool->slots[i].job->cancel, 1);
    srv_job *q = pool->qhead;
    pool->qhead = pool->qtail = NULL;
    pool->qlen = 0;
    pthread_cond_broadcast(&pool->cv);
    pthread_mutex_unlock(&pool->mu);
    while (q) {
        srv_job *next = q->next;
        q->queued = 0;
        srv_buf b = {0};
        srv_error_json(&b, "the server is shutting down", "server_error", NULL, NULL);
        if (!b.oom) srv_job_push(q, b.p, b.len);
        srv_buf_free(&b);
        srv_job_finish(q, 503);
        srv_job_unref(q);
        q = next;
    }
    for (int i = 0; pool->slots && i < pool->p.n_slots; i++) {
        slot *s = &pool->slots[i];
        if (s->started) pthread_join(s->th, NULL);
        s->started = 0;
    }
}

void srv_pool_free(srv_pool *pool) {
    if (!pool) return;
    srv_pool_shutdown(pool);
    for (int i = 0; pool->slots && i < pool->p.n_slots; i++) {
        slot *s = &pool->slots[i];
        dsv3_session_free(s->s);
        free(s->cache);
        free(s->gen);
        free(s->script_cut);
    }
    free(pool->slots);
    pthread_cond_destroy(&pool->cv);
    pthread_mutex_destroy(&pool->mu);
    free(pool);
}
