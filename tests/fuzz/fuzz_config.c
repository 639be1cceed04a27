/* fuzz_config.c -- config.json semantics (lib/config_hf.c), then the model
 * loader and one step with that config beside the micro checkpoint of
 * fuzz_model.h.
 *
 * config_parse_hf must refuse with BAD_CONFIG / UNSUPPORTED / NO_MEMORY and
 * a message naming the key, or accept a config whose every value lies in
 * the documented ranges. An accepted config is then written as config.json
 * next to the micro safetensors (written once at start-up) and loaded
 * through dsv3_model_load: the binder must refuse every shape or dtype the
 * config contradicts with a status, and a model that loads must step a few
 * tokens (and an MTP row) without crashing and report its info. */
#include "fuzz_util.h"

#include <math.h>

#include "config.h"
#include "dsv3.h"
#include "fuzz_model.h"

static const char *g_dir;
static char g_config_path[4096];

static void cleanup(void) {
    if (g_dir) micro_remove(g_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    g_dir = micro_model_dir(0);
    snprintf(g_config_path, sizeof g_config_path, "%s/config.json", g_dir);
    atexit(cleanup);
    return 0;
}

static void check_config(const dsv3_config *c) {
    FUZZ_ASSERT(c->vocab_size >= 1 && c->hidden_size >= 1 && c->intermediate_size >= 1);
    FUZZ_ASSERT(c->n_layers >= 1 && c->n_layers <= 1024 && c->n_heads >= 1);
    FUZZ_ASSERT(c->q_lora_rank >= 0 && c->kv_lora_rank >= 1 && c->qk_nope_head_dim >= 1 && c->v_head_dim >= 1);
    FUZZ_ASSERT(c->qk_rope_head_dim >= 2 && c->qk_rope_head_dim % 2 == 0);
    FUZZ_ASSERT(c->first_k_dense_replace >= 0 && c->first_k_dense_replace <= c->n_layers && c->moe_layer_freq >= 1);
    FUZZ_ASSERT(c->n_mtp_layers >= 0 && c->n_mtp_layers <= 16 && c->max_position_embeddings >= 1);
    FUZZ_ASSERT(c->bos_token_id >= -1 && c->eos_token_id >= -1);
    FUZZ_ASSERT(isfinite(c->rms_norm_eps) && c->rms_norm_eps >= 0 && isfinite(c->rope_theta) && c->rope_theta >= 1);
    if (c->n_routed_experts > 0) {
        FUZZ_ASSERT(c->moe_intermediate_size >= 1 && c->n_experts_per_tok >= 1 &&
                    c->n_experts_per_tok <= c->n_routed_experts);
        FUZZ_ASSERT(c->n_group >= 1 && c->n_routed_experts % c->n_group == 0);
        FUZZ_ASSERT(c->topk_group >= 1 && c->topk_group <= c->n_group);
        FUZZ_ASSERT(isfinite(c->routed_scaling_factor) && c->routed_scaling_factor >= 0);
        if (c->topk_method != DSV3_TOPK_GREEDY)
            FUZZ_ASSERT((int64_t)c->topk_group * (c->n_routed_experts / c->n_group) >= c->n_experts_per_tok);
    } else {
        FUZZ_ASSERT(c->n_mtp_layers == 0);
    }
    if (c->has_yarn)
        FUZZ_ASSERT(c->yarn_factor >= 1 && c->yarn_beta_fast > 0 && c->yarn_beta_slow > 0 && c->yarn_mscale >= 0 &&
                    c->yarn_mscale_all_dim >= 0 && c->yarn_original_max_pos >= 1);
    FUZZ_ASSERT((c->fp8_block_rows == 0) == (c->fp8_block_cols == 0));
    for (int il = 0; il < c->n_layers + c->n_mtp_layers; il++) {
        int moe = config_layer_is_moe(c, il);
        FUZZ_ASSERT(moe == 0 || moe == 1);
        if (c->n_routed_experts == 0) FUZZ_ASSERT(!moe);
    }
}

static void run_model(void) {
    struct dsv3_model_params mp;
    FUZZ_ASSERT(dsv3_model_params_init(&mp, sizeof mp) == DSV3_OK);
    mp.backend = "scalar";
    mp.n_threads = 1;
    dsv3_model *m = NULL;
    char err[512];
    err[0] = 0;
    int rc = dsv3_model_load(g_dir, &mp, &m, err, sizeof err);
    if (rc) {
        FUZZ_ASSERT(!m && err[0]);
        FUZZ_ASSERT(rc != DSV3_ERR_NOT_FOUND && rc != DSV3_ERR_IO);
        return;
    }
    struct dsv3_model_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    FUZZ_ASSERT(dsv3_model_get_info(m, &info) == DSV3_OK && info.vocab_size == MICRO_V);
    struct dsv3_session_params sp;
    FUZZ_ASSERT(dsv3_session_params_init(&sp, sizeof sp) == DSV3_OK);
    sp.n_ctx = info.max_context < 8 ? info.max_context : 8;
    dsv3_session *s = NULL;
    rc = dsv3_session_create(m, &sp, &s, err, sizeof err);
    FUZZ_ASSERT(rc == DSV3_OK);
    int32_t toks[3] = {0, 5, MICRO_V - 1};
    int32_t n = sp.n_ctx < 3 ? sp.n_ctx : 3;
    float logits[3 * MICRO_V];
    FUZZ_ASSERT(dsv3_session_step(s, toks, n, logits, DSV3_STEP_LOGITS_ALL) == DSV3_OK);
    if (info.n_mtp_layers) FUZZ_ASSERT(dsv3_session_mtp_step(s, toks + 1, 1, logits, 0) == DSV3_OK);
    dsv3_session_free(s);
    dsv3_model_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *copy = malloc(size ? size : 1); /* exact size: ASan sees overreads */
    FUZZ_ASSERT(copy);
    if (size) memcpy(copy, data, size);
    dsv3_config c;
    dsv3_err e;
    err_clear(&e);
    int rc = config_parse_hf(copy, size, &c, &e);
    free(copy);
    if (rc) {
        FUZZ_ASSERT(rc == DSV3_ERR_BAD_CONFIG || rc == DSV3_ERR_UNSUPPORTED || rc == DSV3_ERR_NO_MEMORY);
        FUZZ_ASSERT(e.status == rc && !strncmp(e.msg, "config.json: ", 13));
        return 0;
    }
    check_config(&c);
    /* Only configs of the micro model's size can bind; skip the file
     * system for the rest. */
    if (c.vocab_size != MICRO_V || c.hidden_size != MICRO_H) return 0;
    /* A real file: the loader wants DIR/config.json. */
    FILE *out = fopen(g_config_path, "wb");
    FUZZ_ASSERT(out && fwrite(data, 1, size, out) == size && fclose(out) == 0);
    run_model();
    return 0;
}
