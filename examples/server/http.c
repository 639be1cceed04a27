/* http.c -- libmicrohttpd glue: routes, bearer auth, body limit, error
 * objects, and the hand-over from a job's buffer to the socket.
 *
 * libmicrohttpd runs one thread per connection, so a handler may block: a
 * non-streaming request waits for its job in the handler; a streaming one
 * returns a chunked response whose reader waits for the job's next bytes.
 * Both look at the socket while they wait, so a client that goes away
 * cancels its generation (and frees the slot) within a tenth of a second. */
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "output.h"
#include "server.h"

#define WAIT_TICK_MS 100

typedef struct conn_state {
    srv_buf body;
    int too_big;
} conn_state;

/* ---- replies ----------------------------------------------------------------- */

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *type, const char *body, size_t len) {
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (status == 429) MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (status == 401) MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_buf(struct MHD_Connection *conn, unsigned status, srv_buf *b) {
    if (b->oom) return MHD_NO;
    return reply(conn, status, "application/json", b->p ? b->p : "", b->len);
}

static enum MHD_Result reply_error(const srv_ctx *c, struct MHD_Connection *conn, unsigned status, const char *url,
                                   const char *msg, const char *type, const char *param, const char *code) {
    if (!c->o.quiet) fprintf(stderr, "%u %s: %s\n", status, url, msg);
    srv_buf b = {0};
    srv_error_json(&b, msg, type, param, code);
    enum MHD_Result r = reply_buf(conn, status, &b);
    srv_buf_free(&b);
    return r;
}

/* ---- waiting on a job -------------------------------------------------------- */

static int conn_fd(struct MHD_Connection *conn) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? ci->connect_fd : -1;
}

/* The client closed or reset its connection. Bytes it sent ahead (a
 * pipelined request) do not count; a client that shuts down its sending
 * side while it still reads looks gone too (no OpenAI client does). */
static int peer_gone(int fd) {
    if (fd < 0) return 0;
    char ch;
    ssize_t r = recv(fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT);
    if (r == 0) return 1;
    return r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

/* One wait on the job's condition (lock held), a tick at most. */
static void wait_tick(srv_job *j) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += WAIT_TICK_MS * 1000000L;
    if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
    pthread_cond_timedwait(&j->cv, &j->mu, &ts);
}

/* Wait (job lock held) until the job has bytes or is done: 0; -1 when the
 * client went away; 1 when nothing came for `quiet_s` seconds. */
static int wait_job(srv_job *j, int fd, double quiet_s) {
    double t0 = srv_now();
    while (!j->out.len && !j->done) {
        if (srv_now() - t0 >= quiet_s) return 1;
        wait_tick(j);
        if (!j->out.len && !j->done && peer_gone(fd)) return -1;
    }
    return 0;
}

/* Wait (job lock held) until the job is done: 0, or -1 when the client
 * went away. */
static int wait_done(srv_job *j, int fd) {
    while (!j->done) {
        wait_tick(j);
        if (!j->done && peer_gone(fd)) return -1;
    }
    return 0;
}

typedef struct stream_state {
    srv_ctx *c;
    srv_job *job;
    int fd;
} stream_state;

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    stream_state *st = cls;
    srv_job *j = st->job;
    /* libmicrohttpd drops a connection that sends nothing for --timeout
     * seconds, so a stream that waits (in the queue, or on a long prompt)
     * sends an SSE comment, which clients ignore, well before that */
    double quiet = st->c->o.timeout_s / 2.0 < 15 ? st->c->o.timeout_s / 2.0 : 15;
    pthread_mutex_lock(&j->mu);
    int w = wait_job(j, st->fd, quiet);
    if (w < 0) {
        pthread_mutex_unlock(&j->mu);
        srv_pool_cancel(st->c->pool, j);
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    if (w > 0) {
        pthread_mutex_unlock(&j->mu);
        static const char keep[] = ": waiting\n\n";
        if (max < sizeof keep - 1) return 0;
        memcpy(buf, keep, sizeof keep - 1);
        return (ssize_t)(sizeof keep - 1);
    }
    if (j->out.len) {
        size_t n = j->out.len < max ? j->out.len : max;
        memcpy(buf, j->out.p, n);
        srv_buf_consume(&j->out, n);
        pthread_mutex_unlock(&j->mu);
        return (ssize_t)n;
    }
    pthread_mutex_unlock(&j->mu);
    return MHD_CONTENT_READER_END_OF_STREAM;
}

static void stream_free(void *cls) {
    stream_state *st = cls;
    pthread_mutex_lock(&st->job->mu);
    int done = st->job->done;
    pthread_mutex_unlock(&st->job->mu);
    if (!done) srv_pool_cancel(st->c->pool, st->job); /* the connection ended early */
    srv_job_unref(st->job);
    free(st);
}

/* ---- the completion endpoints ------------------------------------------------- */

static enum MHD_Result completion(srv_ctx *c, struct MHD_Connection *conn, const char *url, int endpoint,
                                  const srv_buf *body) {
    srv_request req;
    srv_prompt pr;
    char err[512], param[96];
    srv_limits lim = {c->info.vocab_size, c->o.test_hooks};
    int rc = srv_request_parse(body->p ? body->p : "", body->len, endpoint, &lim, &req, err, sizeof err, param, sizeof param);
    if (rc) {
        srv_request_free(&req);
        return reply_error(c, conn, rc == -2 ? 500 : 400, url, err, rc == -2 ? "server_error" : "invalid_request_error",
                           param, NULL);
    }
    rc = srv_prompt_build(c->tok, &req, &pr, err, sizeof err);
    if (rc) {
        srv_request_free(&req);
        return reply_error(c, conn, rc == -2 ? 500 : 400, url, err, rc == -2 ? "server_error" : "invalid_request_error",
                           endpoint == SRV_CHAT ? "messages" : "prompt", NULL);
    }
    int32_t n_ctx = srv_pool_n_ctx(c->pool);
    if (pr.n >= (size_t)n_ctx) {
        snprintf(err, sizeof err,
                 "the prompt is %zu tokens; the context holds %d, which must leave room for at least one generated token",
                 pr.n, (int)n_ctx);
        srv_request_free(&req);
        srv_prompt_free(&pr);
        return reply_error(c, conn, 400, url, err, "invalid_request_error", endpoint == SRV_CHAT ? "messages" : "prompt",
                           "context_length_exceeded");
    }
    srv_job *j = srv_job_new(&req, &pr);
    if (!j) {
        srv_request_free(&req);
        srv_prompt_free(&pr);
        return reply_error(c, conn, 500, url, "out of memory", "server_error", NULL, NULL);
    }
    j->model_id = c->model_id;
    srv_random_id(j->id, sizeof j->id, endpoint == SRV_CHAT ? "chatcmpl-" : "cmpl-");
    if (srv_pool_submit(c->pool, j)) {
        srv_job_unref(j);
        srv_pool_stats st;
        srv_pool_get_stats(c->pool, &st);
        snprintf(err, sizeof err, "the server is busy: all %d slots are generating and %d requests are waiting; retry later",
                 st.n_slots, st.queue_size);
        return reply_error(c, conn, 429, url, err, "requests", NULL, "rate_limit_exceeded");
    }
    int fd = conn_fd(conn);
    if (j->req.stream) {
        stream_state *st = malloc(sizeof *st);
        struct MHD_Response *r = st ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, st, stream_free) : NULL;
        if (!r) {
            free(st);
            srv_pool_cancel(c->pool, j);
            srv_job_unref(j);
            return MHD_NO;
        }
        *st = (stream_state){c, j, fd};
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_OK, r);
        MHD_destroy_response(r); /* the stream's state is freed with the response */
        return ret;
    }
    pthread_mutex_lock(&j->mu);
    int gone = wait_done(j, fd);
    pthread_mutex_unlock(&j->mu);
    if (gone) {
        srv_pool_cancel(c->pool, j);
        srv_job_unref(j);
        return MHD_NO; /* nobody to answer */
    }
    enum MHD_Result ret = reply(conn, (unsigned)j->http_status, "application/json", j->out.p ? j->out.p : "", j->out.len);
    srv_job_unref(j);
    return ret;
}

/* ---- small endpoints ------------------------------------------------------------ */

static enum MHD_Result health(srv_ctx *c, struct MHD_Connection *conn) {
    srv_pool_stats st;
    srv_pool_get_stats(c->pool, &st);
    srv_buf b = {0};
    srv_buf_puts(&b, "{\"status\":\"ok\",\"model\":");
    srv_json_cstr(&b, c->model_id);
    srv_buf_printf(&b,
                   ",\"slots\":%d,\"slots_idle\":%d,\"queued\":%d,\"queue_size\":%d,\"requests_done\":%lld,"
                   "\"requests_rejected\":%lld}",
                   st.n_slots, st.idle, st.queued, st.queue_size, st.done, st.rejected);
    enum MHD_Result r = reply_buf(conn, 200, &b);
    srv_buf_free(&b);
    return r;
}

static enum MHD_Result models(srv_ctx *c, struct MHD_Connection *conn) {
    srv_buf b = {0};
    srv_buf_puts(&b, "{\"object\":\"list\",\"data\":[{\"id\":");
    srv_json_cstr(&b, c->model_id);
    srv_buf_printf(&b, ",\"object\":\"model\",\"created\":%lld,\"owned_by\":\"dsv3\",\"meta\":{\"architecture\":", c->started);
    srv_json_cstr(&b, c->info.architecture);
    srv_buf_puts(&b, ",\"backend\":");
    srv_json_cstr(&b, c->info.backend);
    srv_buf_printf(&b, ",\"n_params\":%llu,\"n_vocab\":%d,\"n_ctx\":%d,\"parallel\":%d}}]}",
                   (unsigned long long)c->info.n_params, c->info.vocab_size, (int)srv_pool_n_ctx(c->pool), c->o.parallel);
    enum MHD_Result r = reply_buf(conn, 200, &b);
    srv_buf_free(&b);
    return r;
}

/* ---- routing ------------------------------------------------------------------- */

enum route { R_NONE, R_HEALTH, R_PAGE, R_MODELS, R_CHAT, R_COMPLETION };

static enum route route_of(const char *url) {
    if (!strncmp(url, "/v1/", 4)) url += 3; /* /v1/x and /x are the same */
    if (!strcmp(url, "/health")) return R_HEALTH;
    if (!strcmp(url, "/") || !strcmp(url, "/index.html")) return R_PAGE;
    if (!strcmp(url, "/models")) return R_MODELS;
    if (!strcmp(url, "/chat/completions")) return R_CHAT;
    if (!strcmp(url, "/completions")) return R_COMPLETION;
    return R_NONE;
}

/* Constant-time comparison of the bearer token. */
static int key_ok(const srv_ctx *c, struct MHD_Connection *conn) {
    if (!c->o.api_key) return 1;
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncmp(h, "Bearer ", 7)) return 0;
    const char *k = h + 7, *want = c->o.api_key;
    size_t nk = strlen(k), nw = strlen(want);
    unsigned diff = (unsigned)(nk ^ nw);
    for (size_t i = 0; i < nw; i++) diff |= (unsigned char)want[i] ^ (unsigned char)(i < nk ? k[i] : 0);
    return diff == 0;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)version;
    srv_ctx *c = cls;
    conn_state *cs = *con_cls;
    enum route r = route_of(url);
    int post = !strcmp(method, MHD_HTTP_METHOD_POST), get = !strcmp(method, MHD_HTTP_METHOD_GET);
    if (!cs) { /* headers are in: refuse early what needs no body */
        cs = calloc(1, sizeof *cs);
        if (!cs) return MHD_NO;
        *con_cls = cs;
        char msg[300];
        if (r == R_NONE) {
            snprintf(msg, sizeof msg, "unknown request URL: %.16s %.200s", method, url);
            return reply_error(c, conn, 404, url, msg, "invalid_request_error", NULL, "unknown_url");
        }
        int want_post = r == R_CHAT || r == R_COMPLETION;
        if ((want_post && !post) || (!want_post && !get)) {
            snprintf(msg, sizeof msg, "%.16s is not allowed on %.200s (use %s)", method, url, want_post ? "POST" : "GET");
            return reply_error(c, conn, 405, url, msg, "invalid_request_error", NULL, "method_not_allowed");
        }
        if (r != R_HEALTH && r != R_PAGE && !key_ok(c, conn))
            return reply_error(c, conn, 401, url,
                               "incorrect or missing API key: send the header \"Authorization: Bearer <key>\"",
                               "invalid_request_error", NULL, "invalid_api_key");
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > c->o.max_body) {
            snprintf(msg, sizeof msg, "the request body is larger than the server's limit of %zu bytes", c->o.max_body);
            return reply_error(c, conn, 413, url, msg, "invalid_request_error", NULL, "request_too_large");
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (!cs->too_big && cs->body.len + *upload_size <= c->o.max_body) srv_buf_put(&cs->body, upload, *upload_size);
        else cs->too_big = 1;
        *upload_size = 0;
        return MHD_YES;
    }
    if (cs->too_big || cs->body.oom) {
        char msg[200];
        snprintf(msg, sizeof msg, "the request body is larger than the server's limit of %zu bytes", c->o.max_body);
        return reply_error(c, conn, 413, url, msg, "invalid_request_error", NULL, "request_too_large");
    }
    switch (r) {
    case R_HEALTH: return health(c, conn);
    case R_MODELS: return models(c, conn);
    case R_PAGE: return reply(conn, 200, "text/html; charset=utf-8", srv_page_html, srv_page_html_len);
    case R_CHAT: return completion(c, conn, url, SRV_CHAT, &cs->body);
    case R_COMPLETION: return completion(c, conn, url, SRV_COMPLETION, &cs->body);
    case R_NONE: break;
    }
    return MHD_NO;
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)cls;
    (void)conn;
    (void)toe;
    conn_state *cs = *con_cls;
    if (!cs) return;
    srv_buf_free(&cs->body);
    free(cs);
    *con_cls = NULL;
}

void *srv_http_start(srv_ctx *c, int *port) {
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", c->o.port);
    int gr = getaddrinfo(c->o.host, ps, &hints, &ai);
    if (gr) {
        fprintf(stderr, "dsv3-server: cannot resolve --host %s: %s\n", c->o.host, gai_strerror(gr));
        return NULL;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC; /* ITC: quiesce */
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)c->o.port, NULL, NULL, handle, c, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)c->o.timeout_s, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)(c->o.parallel + c->o.queue + 64), MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!d) {
        fprintf(stderr, "dsv3-server: cannot listen on %s:%d (in use, or not an address of this machine?)\n", c->o.host,
                c->o.port);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    *port = di ? di->port : c->o.port;
    return d;
}

void srv_http_stop(void *daemon) {
    if (!daemon) return;
    /* no new connections; the open ones get up to a second to send what
     * their jobs left (a stream's last event) before they are closed */
    MHD_socket ls = MHD_quiesce_daemon(daemon);
    for (int i = 0; i < 100; i++) {
        const union MHD_DaemonInfo *di = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
        if (!di || !di->num_connections) break;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    MHD_stop_daemon(daemon);
    if (ls != MHD_INVALID_SOCKET) close(ls); /* ours after quiesce, closed only after the stop */
}
