/* test_generate.c -- dsv3_generate on the golden checkpoints: greedy
 * generation reproduces every stored continuation token for token (with
 * and without a tokenizer attached); stop strings end generation and are
 * never passed on, even when split across tokens; max_tokens, EOS via
 * logit bias, callback stop and cancel; the session holds prompt +
 * generated tokens afterwards. Usage: test_generate [SHARED] */
#include <stdint.h>

#include "dsv3.h"
#include "golden_util.h"

typedef struct capture {
    int32_t ids[256];
    int n;
    char text[8192];
    size_t len;
    int stop_after; /* callback returns 1 after this many tokens (0: never) */
    int cancel_after;
} capture;

static int on_token(void *user, int32_t token, const char *piece, size_t len) {
    capture *c = user;
    if (token >= 0 && c->n < 256) c->ids[c->n++] = token;
    if (c->len + len < sizeof c->text) { memcpy(c->text + c->len, piece, len); c->len += len; c->text[c->len] = 0; }
    if (c->cancel_after && c->n >= c->cancel_after) return -1;
    return c->stop_after && c->n >= c->stop_after ? 1 : 0;
}

static dsv3_sampler *greedy(int32_t V, const int32_t *bias_ids, const float *bias, size_t nb) {
    struct dsv3_sampler_params sp;
    dsv3_sampler_params_init(&sp, sizeof sp);
    sp.temperature = 0;
    sp.bias_ids = bias_ids;
    sp.bias_values = bias;
    sp.n_bias = nb;
    dsv3_sampler *s = NULL;
    if (dsv3_sampler_create(&sp, V, &s)) { fprintf(stderr, "FATAL: sampler\n"); exit(2); }
    return s;
}

int main(int argc, char **argv) {
    const char *shared = argc > 1 ? argv[1] : "../shared";
    char p[1024], err[512];
    snprintf(p, sizeof p, "%s/golden/manifest.json", shared);
    json_doc *man = load_json(p);
    const json_value *cases = json_get(json_root(man), "cases");
    dsv3_tokenizer *tok = NULL;
    snprintf(p, sizeof p, "%s/tokenizer/deepseek-v3", shared);
    if (dsv3_tokenizer_load(p, &tok, err, sizeof err)) { fprintf(stderr, "FATAL: %s\n", err); return 2; }

    for (size_t i = 0; i < cases->n; i++) {
        const json_value *c = &cases->items[i];
        if (strcmp(json_get(c, "kind")->str, "greedy") != 0) continue;
        const char *id = json_get(c, "id")->str;
        int P, G;
        int32_t *prompt = json_ints(json_get(c, "prompt"), &P);
        int32_t *want = json_ints(json_get(c, "generated"), &G);
        snprintf(p, sizeof p, "%s/golden/%s", shared, json_get(c, "checkpoint")->str);
        struct dsv3_model_params mp;
    dsv3_model_params_init(&mp, sizeof mp);
        mp.backend = "scalar";
        mp.n_threads = 1;
        dsv3_model *m = NULL;
        if (dsv3_model_load(p, &mp, &m, err, sizeof err)) { fprintf(stderr, "FATAL: %s\n", err); return 2; }
        struct dsv3_model_info info = {.struct_size = sizeof info};
        dsv3_model_get_info(m, &info);
        dsv3_session *s = NULL;
        dsv3_session_create(m, NULL, &s, err, sizeof err);

        for (int with_tok = 0; with_tok < 2; with_tok++) {
            dsv3_sampler *g = greedy(info.vocab_size, NULL, NULL, 0);
            capture cap = {.n = 0};
            struct dsv3_generate_params gp;
    dsv3_generate_params_init(&gp, sizeof gp);
            gp.max_tokens = G;
            gp.stop_at_eos = 0;
            gp.on_token = on_token;
            gp.user = &cap;
            struct dsv3_generate_result r = {.struct_size = sizeof r};
            dsv3_session_reset(s);
            int rc = dsv3_generate(s, with_tok ? tok : NULL, g, prompt, (size_t)P, &gp, &r);
            CHECK(rc == 0 && r.n_generated == G && r.stop_reason == DSV3_STOP_MAX_TOKENS, "%s: generate rc %d n %d", id, rc,
                  r.n_generated);
            CHECK(cap.n == G && !memcmp(cap.ids, want, sizeof(int32_t) * (size_t)G), "%s: greedy continuation differs", id);
            CHECK(dsv3_session_position(s) == P + G, "%s: session holds %d positions, expected %d", id, dsv3_session_position(s), P + G);
            printf("  %-22s greedy via dsv3_generate (%s tokenizer): %d/%d tokens equal\n", id, with_tok ? "with" : "without",
                   cap.n == G && !memcmp(cap.ids, want, sizeof(int32_t) * (size_t)G) ? G : 0, G);
            dsv3_sampler_free(g);
        }

        /* Stop strings: take the text of the continuation and stop on a
         * piece that straddles tokens 3 and 4. */
        size_t L = 0;
        dsv3_detokenize(tok, want, (size_t)G, 0, NULL, 0, &L);
        char *full = malloc(L + 1);
        dsv3_detokenize(tok, want, (size_t)G, 0, full, L + 1, &L);
        size_t l3 = 0, l4 = 0;
        dsv3_detokenize(tok, want, 3, 0, NULL, 0, &l3);
        dsv3_detokenize(tok, want, 4, 0, NULL, 0, &l4);
        if (l4 > l3 && l3 >= 1) {
            char stop[64];
            size_t a = l3 - 1, n = l4 - l3 + 1 < sizeof stop - 1 ? l4 - l3 + 1 : sizeof stop - 1;
            memcpy(stop, full + a, n);
            stop[n] = 0;
            const char *stops[] = {"never appears \x01", stop};
            /* the first occurrence of the stop string decides */
            const char *first = strstr(full, stop);
            size_t before = first ? (size_t)(first - full) : 0;
            dsv3_sampler *g = greedy(info.vocab_size, NULL, NULL, 0);
            capture cap = {.n = 0};
            struct dsv3_generate_params gp;
    dsv3_generate_params_init(&gp, sizeof gp);
            gp.max_tokens = G;
            gp.stop_strings = stops;
            gp.n_stop_strings = 2;
            gp.on_token = on_token;
            gp.user = &cap;
            struct dsv3_generate_result r = {.struct_size = sizeof r};
            dsv3_session_reset(s);
            int rc = dsv3_generate(s, tok, g, prompt, (size_t)P, &gp, &r);
            CHECK(rc == 0 && r.stop_reason == DSV3_STOP_STRING, "%s: stop string not hit (rc %d reason %d)", id, rc, r.stop_reason);
            CHECK(cap.len == before && !memcmp(cap.text, full, before), "%s: text before the stop string: %zu bytes, expected %zu",
                  id, cap.len, before);
            CHECK(strstr(cap.text, stop) == NULL, "%s: the stop string was passed on", id);
            dsv3_sampler_free(g);
        }
        free(full);

        /* Callback stop after 5, cancel after 3, EOS forced by a logit bias. */
        {
            dsv3_sampler *g = greedy(info.vocab_size, NULL, NULL, 0);
            capture cap = {.stop_after = 5};
            struct dsv3_generate_params gp;
    dsv3_generate_params_init(&gp, sizeof gp);
            gp.max_tokens = G;
            gp.on_token = on_token;
            gp.user = &cap;
            struct dsv3_generate_result r = {.struct_size = sizeof r};
            dsv3_session_reset(s);
            int rc = dsv3_generate(s, NULL, g, prompt, (size_t)P, &gp, &r);
            CHECK(rc == 0 && r.stop_reason == DSV3_STOP_CALLBACK && r.n_generated == 5, "%s: callback stop", id);
            cap = (capture){.cancel_after = 3};
            dsv3_session_reset(s);
            dsv3_sampler_reset(g);
            rc = dsv3_generate(s, NULL, g, prompt, (size_t)P, &gp, &r);
            CHECK(rc == DSV3_ERR_CANCELLED, "%s: cancel gives %d", id, rc);
            dsv3_sampler_free(g);
            int32_t eos = 1;
            float big = 1e4f;
            g = greedy(info.vocab_size, &eos, &big, 1);
            cap = (capture){.n = 0};
            dsv3_session_reset(s);
            rc = dsv3_generate(s, tok, g, prompt, (size_t)P, &gp, &r);
            CHECK(rc == 0 && r.stop_reason == DSV3_STOP_EOS && r.n_generated == 1 && cap.len == 0, "%s: EOS stop", id);
            CHECK(dsv3_session_position(s) == P + 1, "%s: EOS is stepped into the session", id);
            dsv3_sampler_free(g);
        }
        /* A prompt that does not fit the context is refused, session intact. */
        {
            struct dsv3_session_params sp;
    dsv3_session_params_init(&sp, sizeof sp);
            sp.n_ctx = P + 2;
            dsv3_session *small = NULL;
            dsv3_session_create(m, &sp, &small, err, sizeof err);
            dsv3_sampler *g = greedy(info.vocab_size, NULL, NULL, 0);
            struct dsv3_generate_params gp;
    dsv3_generate_params_init(&gp, sizeof gp);
            gp.max_tokens = 10;
            struct dsv3_generate_result r = {.struct_size = sizeof r};
            int rc = dsv3_generate(small, NULL, g, prompt, (size_t)P, &gp, &r);
            CHECK(rc == 0 && r.stop_reason == DSV3_STOP_CONTEXT_FULL && r.n_generated == 2, "%s: context full stop (%d, %d)", id,
                  r.stop_reason, r.n_generated);
            rc = dsv3_generate(small, NULL, g, prompt, (size_t)P, &gp, &r);
            CHECK(rc == DSV3_ERR_CONTEXT_FULL && dsv3_session_position(small) == P + 2, "%s: oversize prompt", id);
            dsv3_sampler_free(g);
            dsv3_session_free(small);
        }
        dsv3_session_free(s);
        dsv3_model_free(m);
        free(prompt);
        free(want);
    }
    dsv3_tokenizer_free(tok);
    json_free(man);
    return finish();
}
