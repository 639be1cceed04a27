/* model_files.c -- the weight files behind a loaded model: the per-step
 * check that they have not changed on disk (a mapped file that shrinks
 * turns the next read into SIGBUS, one rewritten in place into garbage
 * weights), and the fingerprint a saved session state is matched against. */
#include <string.h>

#include "gguf.h"
#include "hash64.h"
#include "mapfile.h"
#include "model.h"

/* File i of the model (NULL past the end). HF checkpoints keep theirs in
 * m->st; a GGUF model's m->source is its gguf_file (model_gguf.c is the
 * only loader that sets source). */
static const mapfile *model_file(const dsv3_model *m, int i) {
    if (m->st) return dsv3_st_file(m->st, i);
    if (m->source) return dsv3_gguf_part_map(m->source, i);
    return NULL;
}

int dsv3_model_files_check(const dsv3_model *m, dsv3_err *e) {
    const mapfile *f;
    for (int i = 0; (f = model_file(m, i)) != NULL; i++) {
        int rc = dsv3_mapfile_check(f, e);
        if (rc) return rc;
    }
    return DSV3_OK;
}

static void put_i64(dsv3_hash64 *h, int64_t v) {
    unsigned char b[8];
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)v >> (8 * i));
    dsv3_hash64_update(h, b, 8);
}

static void put_f64(dsv3_hash64 *h, double d) {
    int64_t v;
    memcpy(&v, &d, sizeof v);
    put_i64(h, v);
}

/* Field by field (never the struct's bytes, whose padding is unspecified),
 * every value the forward pass depends on. */
static uint64_t config_hash(const dsv3_config *c) {
    dsv3_hash64 h;
    dsv3_hash64_init(&h, 0x636f6e666967ull);
    dsv3_hash64_update(&h, c->architecture, strnlen(c->architecture, sizeof c->architecture));
    const int64_t ints[] = {c->vocab_size, c->hidden_size, c->intermediate_size, c->moe_intermediate_size,
                            c->n_layers, c->n_heads, c->q_lora_rank, c->kv_lora_rank, c->qk_nope_head_dim,
                            c->qk_rope_head_dim, c->v_head_dim, c->first_k_dense_replace, c->moe_layer_freq,
                            c->n_routed_experts, c->n_shared_experts, c->n_experts_per_tok, c->n_group,
                            c->topk_group, (int64_t)c->topk_method, (int64_t)c->scoring, c->norm_topk_prob,
                            c->max_position_embeddings, c->n_mtp_layers, c->has_yarn, c->yarn_original_max_pos,
                            c->fp8_block_rows, c->fp8_block_cols};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) put_i64(&h, ints[i]);
    const double dbl[] = {c->routed_scaling_factor, c->rms_norm_eps, c->rope_theta, c->yarn_factor,
                          c->yarn_beta_fast, c->yarn_beta_slow, c->yarn_mscale, c->yarn_mscale_all_dim};
    for (size_t i = 0; i < sizeof dbl / sizeof dbl[0]; i++) put_f64(&h, dbl[i]);
    return dsv3_hash64_final(&h);
}

/* Sizes and headers (tensor names, types, shapes, offsets; GGUF metadata)
 * of every file: cheap at load, yet any re-quantization, re-conversion or
 * other checkpoint changes it. Two copies of one file agree. */
static uint64_t weights_hash(const dsv3_model *m) {
    dsv3_hash64 h;
    dsv3_hash64_init(&h, 0x77656967687473ull);
    const mapfile *f;
    int i = 0;
    for (; (f = model_file(m, i)) != NULL; i++) {
        uint64_t hb = f->header_bytes < f->size ? f->header_bytes : f->size;
        put_i64(&h, (int64_t)f->size);
        put_i64(&h, (int64_t)hb);
        if (f->data && hb) dsv3_hash64_update(&h, f->data, (size_t)hb);
    }
    put_i64(&h, i);
    return dsv3_hash64_final(&h);
}

void dsv3_model_fingerprint_init(dsv3_model *m) {
    m->fp_config = config_hash(&m->cfg);
    m->fp_weights = weights_hash(m);
}
