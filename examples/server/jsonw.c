/* jsonw.c -- growable buffer and JSON string escaping. */
#include "jsonw.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void srv_buf_free(srv_buf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

void srv_buf_clear(srv_buf *b) {
    b->len = 0;
    if (b->p) b->p[0] = 0;
}

static int grow(srv_buf *b, size_t extra) {
    if (b->oom) return 0;
    if (b->len + extra + 1 <= b->cap) return 1;
    size_t nc = b->cap ? b->cap : 256;
    while (nc < b->len + extra + 1) nc *= 2;
    char *np = realloc(b->p, nc);
    if (!np) { b->oom = 1; return 0; }
    b->p = np;
    b->cap = nc;
    return 1;
}

void srv_buf_put(srv_buf *b, const char *s, size_t n) {
    if (!grow(b, n)) return;
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

void srv_buf_puts(srv_buf *b, const char *s) { srv_buf_put(b, s, strlen(s)); }

void srv_buf_printf(srv_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n < sizeof tmp) { srv_buf_put(b, tmp, (size_t)n); return; }
    if (!grow(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void srv_buf_consume(srv_buf *b, size_t n) {
    if (n >= b->len) { srv_buf_clear(b); return; }
    memmove(b->p, b->p + n, b->len - n + 1);
    b->len -= n;
}

void srv_json_str(srv_buf *b, const char *s, size_t n) {
    srv_buf_put(b, "\"", 1);
    size_t run = 0; /* bytes copied verbatim in one go */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[8];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default:
            if (c < 0x20 || c == 0x7f) {
                snprintf(u, sizeof u, "\\u%04x", c);
                esc = u;
            }
        }
        if (!esc) continue;
        srv_buf_put(b, s + run, i - run);
        srv_buf_puts(b, esc);
        run = i + 1;
    }
    srv_buf_put(b, s + run, n - run);
    srv_buf_put(b, "\"", 1);
}

void srv_json_cstr(srv_buf *b, const char *s) {
    if (!s) srv_buf_puts(b, "null");
    else srv_json_str(b, s, strlen(s));
}

void srv_json_key(srv_buf *b, const char *key, int first) {
    if (!first) srv_buf_put(b, ",", 1);
    srv_json_cstr(b, key);
    srv_buf_put(b, ":", 1);
}
