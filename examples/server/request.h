/* request.h -- an OpenAI request body checked and turned into plain C
 * values. Free of libmicrohttpd and of the model, so that the fuzz harness
 * can feed it anything.
 *
 * Policy: every field the OpenAI API defines for the endpoint is either
 * implemented, accepted because it changes nothing here (user, store,
 * metadata, parallel_tool_calls, ...), or refused with a message when it
 * asks for something not implemented (n > 1, logprobs, a JSON response
 * format, ...). A field OpenAI does not define is refused as OpenAI
 * refuses it ("unrecognized request argument"), except the sampler
 * extensions top_k, min_p and repeat_penalty. */
#ifndef SRV_REQUEST_H
#define SRV_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "dsv3.h"

enum srv_endpoint { SRV_CHAT = 0, SRV_COMPLETION = 1 };

enum srv_tool_choice { SRV_TOOLS_AUTO = 0, SRV_TOOLS_NONE, SRV_TOOLS_REQUIRED, SRV_TOOLS_NAMED };

typedef struct srv_tool {
    const char *name;
    const char *description;     /* NULL when absent */
    char *parameters;            /* JSON text of the schema (malloc'd), NULL when absent */
} srv_tool;

/* Limits the request is checked against. */
typedef struct srv_limits {
    int32_t n_vocab;             /* logit_bias ids must be below this */
    int allow_test_reply;        /* the server runs with --test-hooks */
} srv_limits;

typedef struct srv_request {
    int endpoint;                /* enum srv_endpoint */
    int stream, include_usage;
    int32_t max_tokens;          /* -1: not given */
    struct dsv3_sampler_params sp;
    int has_seed;                /* 0: the server picks a random seed */
    int32_t *bias_ids;
    float *bias_values;
    size_t n_bias;
    const char *stop[4];
    size_t n_stop;
    /* chat */
    struct dsv3_chat_message *msgs;
    struct dsv3_tool_call *calls; /* storage the messages' tool_calls point into */
    size_t n_msgs;
    srv_tool *tools;
    size_t n_tools;
    int tool_choice;             /* enum srv_tool_choice */
    const char *tool_name;       /* SRV_TOOLS_NAMED */
    /* completion: a text prompt, or token ids */
    const char *prompt;
    size_t prompt_len;
    int32_t *prompt_ids;
    size_t n_prompt_ids;
    int echo;
    /* test hook (only with --test-hooks): the reply's text, replacing the
     * model's text piece by piece */
    const char *test_reply;
    size_t test_reply_len;
    void *doc;                   /* the parsed JSON the strings point into */
    void *owned;                 /* strings built here (joined content parts) */
} srv_request;

/* Parse and check body[0..len) for the endpoint. On failure returns -1 and
 * writes a message naming the problem into err and the offending parameter
 * (e.g. "messages[2].role") into param (may be ""); -2 when out of memory.
 * On success the request must be released with srv_request_free (also safe
 * after a failure). */
int srv_request_parse(const char *body, size_t len, int endpoint, const srv_limits *lim, srv_request *out,
                      char *err, size_t err_size, char *param, size_t param_size);
void srv_request_free(srv_request *r);

#endif
