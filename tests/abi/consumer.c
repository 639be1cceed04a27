/* consumer.c -- a program as users write it, built twice: against the
 * current dsv3.h, and (DSV3_CONSUMER_0_1) against tests/abi/dsv3-0.1.0.h,
 * the header of release 0.1, filling its parameter structs with 0.1's
 * by-value dsv3_*_params_default(). Both link the current libdsv3.so; the
 * abi_old_header test runs them and requires the same output, which proves
 * that a program built against 0.1 still runs, with the same results.
 *
 * usage: consumer MODEL_DIR
 * Prints the model's shape, the prompt's ids, 12 tokens sampled at
 * temperature 0.8 with a fixed seed, then 12 greedy tokens of
 * dsv3_generate with their text. Exit 0 on success. */
#ifdef DSV3_CONSUMER_0_1
#include "dsv3-0.1.0.h"
#else
#include "dsv3.h"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_SAMPLED 12
#define PROMPT "It is a truth universally acknowledged, that a single man"

static int check(int st, const char *what, const char *msg) {
    if (st != DSV3_OK) fprintf(stderr, "consumer: %s: %s (%s)\n", what, dsv3_status_string(st), msg ? msg : "");
    return st != DSV3_OK;
}

static int print_piece(void *user, int32_t token, const char *piece, size_t len) {
    (void)user;
    printf(" %d[%.*s]", (int)token, (int)len, piece);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s MODEL_DIR\n", argv[0]);
        return 2;
    }
    char err[512] = "";
#ifdef DSV3_CONSUMER_0_1
    struct dsv3_model_params mp = dsv3_model_params_default();
    struct dsv3_session_params sp = dsv3_session_params_default();
    struct dsv3_sampler_params smp = dsv3_sampler_params_default();
    struct dsv3_generate_params gp = dsv3_generate_params_default();
#else
    struct dsv3_model_params mp;
    struct dsv3_session_params sp;
    struct dsv3_sampler_params smp;
    struct dsv3_generate_params gp;
    if (dsv3_model_params_init(&mp, sizeof mp) || dsv3_session_params_init(&sp, sizeof sp) ||
        dsv3_sampler_params_init(&smp, sizeof smp) || dsv3_generate_params_init(&gp, sizeof gp)) {
        fprintf(stderr, "consumer: a dsv3_*_params_init failed\n");
        return 1;
    }
#endif
    mp.n_threads = 1;
    dsv3_model *m = NULL;
    if (check(dsv3_model_load(argv[1], &mp, &m, err, sizeof err), "dsv3_model_load", err)) return 1;

    struct dsv3_model_info info;
    memset(&info, 0, sizeof info);
    info.struct_size = sizeof info;
    if (check(dsv3_model_get_info(m, &info), "dsv3_model_get_info", dsv3_model_last_error(m))) return 1;
    printf("model %s: vocab %d, %d layers, hidden %d, %d experts\n", info.architecture, (int)info.vocab_size,
           (int)info.n_layers, (int)info.hidden_size, (int)info.n_routed_experts);

    dsv3_tokenizer *tok = NULL;
    if (check(dsv3_tokenizer_load(argv[1], &tok, err, sizeof err), "dsv3_tokenizer_load", err)) return 1;
    int32_t ids[64];
    size_t n_ids = 0;
    unsigned tf = dsv3_tokenizer_add_bos(tok) ? DSV3_TOKENIZE_ADD_BOS : 0;
    if (check(dsv3_tokenize(tok, PROMPT, strlen(PROMPT), tf, ids, 64, &n_ids), "dsv3_tokenize", "")) return 1;
    printf("prompt:");
    for (size_t i = 0; i < n_ids; i++) printf(" %d", (int)ids[i]);
    printf("\n");

    sp.n_ctx = 128;
    dsv3_session *s = NULL;
    if (check(dsv3_session_create(m, &sp, &s, err, sizeof err), "dsv3_session_create", err)) return 1;

    /* Stepping by hand with a seeded sampler. */
    float *logits = malloc(sizeof(float) * (size_t)info.vocab_size);
    if (!logits) return 1;
    smp.temperature = 0.8f;
    smp.seed = 1234;
    dsv3_sampler *smpl = NULL;
    if (check(dsv3_sampler_create(&smp, info.vocab_size, &smpl), "dsv3_sampler_create", "")) return 1;
    if (check(dsv3_session_step(s, ids, (int32_t)n_ids, logits, 0), "dsv3_session_step", dsv3_session_last_error(s)))
        return 1;
    printf("sampled:");
    for (int i = 0; i < N_SAMPLED; i++) {
        int32_t t;
        if (check(dsv3_sampler_sample(smpl, logits, &t), "dsv3_sampler_sample", "") ||
            check(dsv3_sampler_accept(smpl, t), "dsv3_sampler_accept", "") ||
            check(dsv3_session_step(s, &t, 1, logits, 0), "dsv3_session_step", dsv3_session_last_error(s)))
            return 1;
        printf(" %d", (int)t);
    }
    printf("\nposition %d of %d\n", (int)dsv3_session_position(s), (int)dsv3_session_n_ctx(s));

    /* dsv3_generate, greedy, from the start again. */
    dsv3_sampler_free(smpl);
    smp.temperature = 0.0f;
    if (check(dsv3_sampler_create(&smp, info.vocab_size, &smpl), "dsv3_sampler_create", "")) return 1;
    if (check(dsv3_session_rewind(s, 0), "dsv3_session_rewind", dsv3_session_last_error(s))) return 1;
    gp.max_tokens = N_SAMPLED;
    gp.stop_at_eos = 0;
    gp.on_token = print_piece;
    struct dsv3_generate_result res;
    memset(&res, 0, sizeof res);
    res.struct_size = sizeof res;
    printf("generated:");
    if (check(dsv3_generate(s, tok, smpl, ids, n_ids, &gp, &res), "dsv3_generate", dsv3_session_last_error(s)))
        return 1;
    printf("\nresult: %d prompt tokens, %d generated, stop reason %d\n", (int)res.n_prompt_tokens,
           (int)res.n_generated, res.stop_reason);

    free(logits);
    dsv3_sampler_free(smpl);
    dsv3_session_free(s);
    dsv3_tokenizer_free(tok);
    dsv3_model_free(m);
    return 0;
}
