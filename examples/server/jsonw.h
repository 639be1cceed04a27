/* jsonw.h -- a small growable buffer with a JSON writer: the server builds
 * every response body and SSE chunk with it. Writers never fail half-way:
 * an allocation failure sets `oom` and later writes are dropped, so callers
 * check once at the end. */
#ifndef SRV_JSONW_H
#define SRV_JSONW_H

#include <stddef.h>
#include <stdint.h>

typedef struct srv_buf {
    char *p;
    size_t len, cap;
    int oom;
} srv_buf;

void srv_buf_free(srv_buf *b);
void srv_buf_clear(srv_buf *b);
void srv_buf_put(srv_buf *b, const char *s, size_t n);
void srv_buf_puts(srv_buf *b, const char *s);
void srv_buf_printf(srv_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Remove the first n bytes. */
void srv_buf_consume(srv_buf *b, size_t n);

/* A JSON string literal (quotes included) for s[0..n): control characters,
 * quotes and backslashes escaped; bytes >= 0x80 are copied (the inputs are
 * valid UTF-8: request strings were validated by the parser and generated
 * text comes from the tokenizer's streaming decoder). */
void srv_json_str(srv_buf *b, const char *s, size_t n);
void srv_json_cstr(srv_buf *b, const char *s); /* NULL writes null */
/* "key": for the next value (a comma first unless `first`). */
void srv_json_key(srv_buf *b, const char *key, int first);

#endif
