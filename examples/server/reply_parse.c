/* reply_parse.c -- the streaming reply parser; see reply_parse.h. Each
 * state looks for the markers that can end it in the pending text, emits
 * what is decided and keeps the rest (a possible marker prefix, or
 * whitespace that is trimmed if a marker follows). */
#include "reply_parse.h"

#include <string.h>

enum { ST_START, ST_THINK, ST_AFTER_THINK, ST_CONTENT, ST_CALLS, ST_HEAD, ST_NAME, ST_FENCE, ST_ARGS };

#define THINK_OPEN "<think>"
#define THINK_CLOSE "</think>"
#define NAME_MAX_LEN 256 /* a call head longer than this is not markup */

void srv_reply_init(srv_reply_parser *p, int parse_tools, int parse_think, srv_reply_cb cb, void *user) {
    memset(p, 0, sizeof *p);
    p->parse_tools = parse_tools;
    p->parse_think = parse_think;
    p->state = parse_think ? ST_START : ST_CONTENT;
    p->cb = cb;
    p->user = user;
}

void srv_reply_free(srv_reply_parser *p) { srv_buf_free(&p->pend); }

static int is_ws(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r'; }

/* Offset of needle in the pending text, or -1. */
static long find(const srv_buf *b, const char *needle) {
    size_t n = strlen(needle);
    if (b->len < n) return -1;
    for (size_t i = 0; i + n <= b->len; i++)
        if (b->p[i] == needle[0] && !memcmp(b->p + i, needle, n)) return (long)i;
    return -1;
}

/* Length of the longest proper prefix of needle that ends the text. */
static size_t partial(const srv_buf *b, const char *needle) {
    size_t n = strlen(needle);
    for (size_t k = n - 1; k > 0; k--)
        if (k <= b->len && !memcmp(b->p + b->len - k, needle, k)) return k;
    return 0;
}

static size_t skip_ws(const srv_buf *b) {
    size_t i = 0;
    while (i < b->len && is_ws(b->p[i])) i++;
    return i;
}

/* The text starts with needle (1), could still become it (2), or not (0). */
static int starts(const char *s, size_t n, const char *needle) {
    size_t k = strlen(needle);
    if (n >= k) return !memcmp(s, needle, k);
    return !memcmp(s, needle, n) ? 2 : 0;
}

static int emit(srv_reply_parser *p, int ev, const char *s, size_t n) {
    if (!n && ev != SRV_EV_TOOL_START) return 0;
    return p->cb(p->user, ev, p->n_calls, s, n);
}

/* Emit pend[0..n) as ev and drop it. */
static int emit_take(srv_reply_parser *p, int ev, size_t n) {
    int rc = emit(p, ev, p->pend.p, n);
    srv_buf_consume(&p->pend, n);
    return rc;
}

/* One step of the state machine. Returns 1 to run again, 0 when it needs
 * more text, or an error (< 0: the callback's value, or -1 out of memory). */
static int step(srv_reply_parser *p, int final) {
    srv_buf *b = &p->pend;
    int rc = 0;
    if (!b->p) { /* nothing received yet: an empty string, not NULL, to scan */
        srv_buf_put(b, "", 0);
        if (b->oom) return -1;
    }
    switch (p->state) {
    case ST_START: {
        size_t w = skip_ws(b);
        int s = starts(b->p + w, b->len - w, THINK_OPEN);
        if (s == 1) {
            srv_buf_consume(b, w + strlen(THINK_OPEN));
            p->state = ST_THINK;
            return 1;
        }
        if ((s == 2 || w == b->len) && !final) return 0;
        p->state = ST_CONTENT;
        return 1;
    }
    case ST_THINK: {
        if (!p->think_text) { /* the reasoning starts at its first non-blank */
            size_t w = skip_ws(b);
            srv_buf_consume(b, w);
            if (!b->len) return 0;
            p->think_text = 1;
        }
        long at = find(b, THINK_CLOSE);
        size_t n = at >= 0 ? (size_t)at : final ? b->len : b->len - partial(b, THINK_CLOSE);
        size_t keep_ws = n;
        while (keep_ws && is_ws(b->p[keep_ws - 1])) keep_ws--;
        if (at >= 0 || final) {
            rc = emit_take(p, SRV_EV_REASONING, keep_ws);
            if (at >= 0) srv_buf_consume(b, (size_t)at - keep_ws + strlen(THINK_CLOSE));
            p->state = ST_AFTER_THINK;
            return rc ? rc : at >= 0;
        }
        rc = emit_take(p, SRV_EV_REASONING, keep_ws); /* trailing blanks wait: they go if </think> follows */
        return rc ? rc : 0;
    }
    case ST_AFTER_THINK: {
        size_t w = skip_ws(b);
        srv_buf_consume(b, w);
        if (!b->len) return 0;
        p->state = ST_CONTENT;
        return 1;
    }
    case ST_CONTENT: {
        if (!p->parse_tools) return emit_take(p, SRV_EV_CONTENT, b->len);
        long a = find(b, SRV_CALLS_BEGIN), c = find(b, SRV_CALL_BEGIN);
        long at = a < 0 ? c : c < 0 ? a : a < c ? a : c;
        if (at >= 0) {
            size_t n = (size_t)at;
            while (n && is_ws(b->p[n - 1])) n--; /* blanks before the calls are not content */
            rc = emit_take(p, SRV_EV_CONTENT, n);
            srv_buf_consume(b, (size_t)at - n);
            if (at == a) srv_buf_consume(b, strlen(SRV_CALLS_BEGIN));
            p->state = ST_CALLS;
            return rc ? rc : 1;
        }
        size_t hold = final ? 0 : partial(b, SRV_CALLS_BEGIN);
        size_t h2 = final ? 0 : partial(b, SRV_CALL_BEGIN);
        if (h2 > hold) hold = h2;
        return emit_take(p, SRV_EV_CONTENT, b->len - hold);
    }
    case ST_CALLS: {
        size_t w = skip_ws(b);
        const char *s = b->p + w;
        size_t n = b->len - w;
        int cb = starts(s, n, SRV_CALL_BEGIN), ce = starts(s, n, SRV_CALLS_END);
        if (cb == 1) { srv_buf_consume(b, w + strlen(SRV_CALL_BEGIN)); p->state = ST_HEAD; return 1; }
        if (ce == 1) { srv_buf_consume(b, w + strlen(SRV_CALLS_END)); p->state = ST_CONTENT; return 1; }
        if ((cb == 2 || ce == 2 || !n) && !final) return 0;
        srv_buf_consume(b, w);
        p->state = ST_CONTENT; /* not markup after all: plain text again */
        return 1;
    }
    case ST_HEAD: {
        long at = find(b, SRV_TOOL_SEP);
        if (at < 0) {
            if (b->len > NAME_MAX_LEN) { p->state = ST_CONTENT; return 1; }
            return 0;
        }
        srv_buf_consume(b, (size_t)at + strlen(SRV_TOOL_SEP)); /* the type: "function" */
        p->state = ST_NAME;
        return 1;
    }
    case ST_NAME: {
        long at = find(b, "\n");
        if (at < 0) {
            if (b->len > NAME_MAX_LEN) { p->state = ST_CONTENT; return 1; }
            return 0;
        }
        size_t s = 0, e = (size_t)at;
        while (s < e && is_ws(b->p[s])) s++;
        while (e > s && is_ws(b->p[e - 1])) e--;
        rc = emit(p, SRV_EV_TOOL_START, b->p + s, e - s);
        srv_buf_consume(b, (size_t)at + 1);
        p->state = ST_FENCE;
        return rc ? rc : 1;
    }
    case ST_FENCE: {
        size_t w = skip_ws(b);
        int f = starts(b->p + w, b->len - w, "```");
        if (f == 1) {
            long nl = -1;
            for (size_t i = w + 3; i < b->len; i++)
                if (b->p[i] == '\n') { nl = (long)i; break; }
            if (nl < 0) return 0; /* the fence's language tag is still coming */
            srv_buf_consume(b, (size_t)nl + 1);
            p->state = ST_ARGS;
            return 1;
        }
        if ((f == 2 || w == b->len) && !final) return 0;
        srv_buf_consume(b, w);
        p->state = ST_ARGS;
        return 1;
    }
    case ST_ARGS: {
        long at = find(b, SRV_CALL_END);
        size_t n = at >= 0 ? (size_t)at : final ? b->len : b->len - partial(b, SRV_CALL_END);
        /* the closing fence and blanks before the marker are not arguments */
        while (n && (is_ws(b->p[n - 1]) || b->p[n - 1] == '`')) n--;
        rc = emit_take(p, SRV_EV_TOOL_ARGS, n);
        if (at >= 0) {
            srv_buf_consume(b, (size_t)at - n + strlen(SRV_CALL_END));
            p->n_calls++;
            p->state = ST_CALLS;
            return rc ? rc : 1;
        }
        return rc;
    }
    }
    return 0;
}

static int run(srv_reply_parser *p, int final) {
    for (;;) {
        int rc = step(p, final);
        if (rc != 1) return rc;
    }
}

int srv_reply_feed(srv_reply_parser *p, const char *text, size_t len) {
    srv_buf_put(&p->pend, text, len);
    if (p->pend.oom) return -1;
    return run(p, 0);
}

int srv_reply_finish(srv_reply_parser *p) {
    int rc = run(p, 1);
    if (p->state == ST_ARGS) p->n_calls++; /* an unfinished call still counts */
    srv_buf_clear(&p->pend);
    return rc;
}
