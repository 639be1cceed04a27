/* model_prefetch.c -- bring a loaded model's weights into memory ahead of
 * the first token.
 *
 * Weights are memory-mapped, so dsv3_model_load returns before reading
 * them and the first decoded token pays for every page fault. Prefetching
 * walks the weights the model actually binds (whatever the file format),
 * asks the kernel to read each chunk ahead (POSIX_MADV_WILLNEED) and then
 * touches one byte per page so the chunk is resident when progress is
 * reported: progress then measures real loading, and a caller can cancel
 * between chunks. Only reads: the model stays immutable, so this may run
 * while sessions use the model. */
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dsv3.h"
#include "model.h"

/* Progress is reported after at most this many bytes: frequent enough for
 * a progress bar, rare enough that the callback costs nothing. */
#define PREFETCH_CHUNK ((size_t)8 << 20)

typedef struct prefetch_walk {
    int (*progress)(void *user, uint64_t done, uint64_t total);
    void *user;
    uint64_t done, total;
    uint64_t since_report;
    size_t page;
    int touch;       /* 0: only count bytes (first pass)                  */
    int cancelled;
    volatile unsigned char sink;
} prefetch_walk;

/* Bytes a weight spans from its data pointer: rows of row_stride, plus
 * the FP8 block-scale table. */
static uint64_t weight_bytes(const dsv3_weight *w) {
    if (!w->data || w->rows <= 0) return 0;
    return (uint64_t)w->rows * (uint64_t)w->row_stride;
}

static uint64_t scale_bytes(const dsv3_weight *w) {
    if (!w->data || !w->scale || w->block_r <= 0 || w->scale_cols <= 0) return 0;
    uint64_t scale_rows = ((uint64_t)w->rows + (uint64_t)w->block_r - 1) / (uint64_t)w->block_r;
    return scale_rows * (uint64_t)w->scale_cols * sizeof(float);
}

static void touch_range(prefetch_walk *p, const void *data, uint64_t n) {
    if (!n || p->cancelled) return;
    if (!p->touch) { p->total += n; return; }
    uintptr_t start = (uintptr_t)data;
    uint64_t off = 0;
    while (off < n && !p->cancelled) {
        uint64_t len = n - off < PREFETCH_CHUNK ? n - off : PREFETCH_CHUNK;
        uintptr_t a = start + (uintptr_t)off;
        /* madvise wants a page-aligned start; the advice is only a hint, so
         * its failure (memory that is not a mapping) is ignored. */
        uintptr_t a0 = a & ~(uintptr_t)(p->page - 1);
        posix_madvise((void *)a0, (size_t)(a + len - a0), POSIX_MADV_WILLNEED);
        const volatile unsigned char *b = (const volatile unsigned char *)a;
        unsigned char acc = 0;
        for (uint64_t i = 0; i < len; i += p->page) acc ^= b[i];
        acc ^= b[len - 1];
        p->sink ^= acc;
        off += len;
        p->done += len;
        p->since_report += len;
        if (p->since_report >= PREFETCH_CHUNK && p->progress) {
            p->since_report = 0;
            if (p->progress(p->user, p->done, p->total)) p->cancelled = 1;
        }
    }
}

static void walk_weight(prefetch_walk *p, const dsv3_weight *w) {
    touch_range(p, w->data, weight_bytes(w));
    if (w->scale) touch_range(p, w->scale, scale_bytes(w));
}

static void walk_ffn(prefetch_walk *p, const ffn_weights *f) {
    walk_weight(p, &f->gate);
    walk_weight(p, &f->up);
    walk_weight(p, &f->down);
}

/* In the order a forward pass reads them, so a cancelled or partial
 * prefetch still helps the first token most. */
static void walk_model(prefetch_walk *p, const dsv3_model *m) {
    walk_weight(p, &m->embed);
    int n = m->cfg.n_layers + m->cfg.n_mtp_layers;
    for (int il = 0; il < n && !p->cancelled; il++) {
        const layer_weights *L = &m->layers[il];
        const dsv3_weight *attn[] = {&L->enorm, &L->hnorm, &L->eh_proj, &L->attn_norm, &L->q_a, &L->q_a_norm,
                                     &L->q_b, &L->q, &L->kv_a, &L->kv_a_norm, &L->kv_b, &L->k_b, &L->v_b,
                                     &L->o, &L->ffn_norm};
        for (size_t i = 0; i < sizeof attn / sizeof attn[0]; i++) walk_weight(p, attn[i]);
        if (L->is_moe) {
            walk_weight(p, &L->router);
            walk_weight(p, &L->router_bias);
            if (L->has_shared) walk_ffn(p, &L->shared);
            for (int x = 0; L->experts && x < m->cfg.n_routed_experts && !p->cancelled; x++)
                walk_ffn(p, &L->experts[x]);
        } else {
            walk_ffn(p, &L->dense);
        }
        walk_weight(p, &L->head_norm);
        /* an MTP module may share the main model's embedding and head */
        if (L->head.data != m->lm_head.data) walk_weight(p, &L->head);
        if (L->embed.data != m->embed.data) walk_weight(p, &L->embed);
    }
    walk_weight(p, &m->out_norm);
    if (m->lm_head.data != m->embed.data) walk_weight(p, &m->lm_head); /* tied embeddings: read once */
}

int dsv3_model_prefetch(const dsv3_model *model, int (*progress)(void *user, uint64_t done, uint64_t total),
                        void *user) {
    if (!model) return DSV3_ERR_INVALID_ARG;
    /* A weight file truncated since load would fault (SIGBUS) on its
     * first page past the new end: refuse, as a step would. */
    int rc = dsv3_model_files_check(model, NULL);
    if (rc) return rc;
    prefetch_walk p = {0};
    p.progress = progress;
    p.user = user;
    long pg = sysconf(_SC_PAGESIZE);
    p.page = pg > 0 ? (size_t)pg : 4096;
    walk_model(&p, model);   /* count */
    p.touch = 1;
    walk_model(&p, model);   /* read */
    if (p.cancelled) return DSV3_ERR_CANCELLED;
    /* the final report (done == total), unless the last chunk just gave it */
    if (progress && (p.since_report || !p.done) && progress(user, p.done, p.total)) return DSV3_ERR_CANCELLED;
    return DSV3_OK;
}
