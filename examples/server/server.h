/* server.h -- what the HTTP side of dsv3-server shares: the options and the
 * loaded model. */
#ifndef SRV_SERVER_H
#define SRV_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "dsv3.h"
#include "slots.h"

typedef struct srv_options {
    const char *model_path, *host, *api_key, *backend, *alias;
    int port, parallel, threads, queue, timeout_s, mtp, test_hooks, quiet, repack;
    int32_t n_ctx, max_tokens, mtp_depth;
    size_t max_body;
} srv_options;

typedef struct srv_ctx {
    srv_options o;
    dsv3_model *model;
    dsv3_tokenizer *tok;
    struct dsv3_model_info info;
    srv_pool *pool;
    char model_id[128];
    long long started;
} srv_ctx;

/* Start serving (libmicrohttpd's own threads). Returns an opaque handle, or
 * NULL with a message on stderr; *port receives the bound port. */
void *srv_http_start(srv_ctx *c, int *port);
void srv_http_stop(void *daemon);

/* The chat page served at GET / (page.html, embedded at build time). */
extern const char srv_page_html[];
extern const size_t srv_page_html_len;

#endif
