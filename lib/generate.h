/* generate.h -- what dsv3_generate's two decoding loops (plain in
 * generate.c, MTP-speculative in generate_mtp.c) share: the stop checks and
 * the sampler call made before each token, and the hand-over of a stepped
 * token to the caller (EOS, streamed text, stop strings, the callback).
 * Both loops go through these in the same order per token, which is what
 * makes MTP decoding give plain decoding's tokens. */
#ifndef DSV3_GENERATE_H
#define DSV3_GENERATE_H

#include "session.h"

typedef struct dsv3_gen {
    dsv3_session *s;
    dsv3_sampler *sampler;
    const struct dsv3_generate_params *p;
    struct dsv3_generate_result *r;
    int32_t eos;
    dsv3_detok_stream *st; /* NULL without a tokenizer                     */
    char *held;            /* text not yet passed on: it may still become a
                              stop string                                  */
    size_t held_len, held_cap;
} dsv3_gen;

/* Whether a token may be decoded at main position pos: sets
 * r->stop_reason (max tokens, context full) and returns 0 when not. */
int dsv3_gen_room(dsv3_gen *g, int32_t pos);

/* Sample the next token from a row of logits and accept it into the
 * sampler (counted in r->n_generated). Sets the session's error. */
int dsv3_gen_sample(dsv3_gen *g, const float *logits, int32_t *token);

/* Hand a token that is in the main cache to the caller: EOS, its text
 * (held back while it may start a stop string), the callback. Sets
 * r->stop_reason when generation ends here; returns DSV3_ERR_CANCELLED or
 * DSV3_ERR_NO_MEMORY (with the session's error set) or DSV3_OK. */
int dsv3_gen_deliver(dsv3_gen *g, int32_t token);

/* The MTP draft depth dsv3_generate will use for these params (0: plain
 * decoding), decided before anything is stepped; an error only for
 * DSV3_MTP_REQUIRED on a model or session that cannot draft. */
int dsv3_gen_mtp_depth(dsv3_session *s, const struct dsv3_generate_params *p, int32_t *depth);

/* After the prompt (n_prompt tokens now ending at the session's position)
 * was stepped: the MTP rows of the prompt positions whose next token is in
 * the prompt (cache entries only), so that the MTP ends one position
 * behind the main model. Prompt work, done before decoding starts. */
int dsv3_gen_mtp_prompt(dsv3_gen *g, const int32_t *prompt, size_t n_prompt);

/* Decode with MTP drafts after dsv3_gen_mtp_prompt, the logits of the
 * session's position in `logits`. */
int dsv3_gen_decode_mtp(dsv3_gen *g, int32_t depth, float *logits);

#endif
