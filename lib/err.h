/* err.h -- how a failure travels inside the library: a status code plus a
 * formatted message, kept in a caller-owned struct (no global state). */
#ifndef DSV3_ERR_H
#define DSV3_ERR_H

#include <stddef.h>

#define DSV3_ERR_MSG_SIZE 512

typedef struct dsv3_err {
    int status;
    char msg[DSV3_ERR_MSG_SIZE];
} dsv3_err;

#if defined(__GNUC__) || defined(__clang__)
#define DSV3_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define DSV3_PRINTF(a, b)
#endif

/* Record a failure and return its status, so callers can write
 * `return err_set(e, DSV3_ERR_IO, "...", ...);`. e may be NULL. */
int err_set(dsv3_err *e, int status, const char *fmt, ...) DSV3_PRINTF(3, 4);
void err_clear(dsv3_err *e);
/* Copy a message into an optional user buffer. */
void err_copy_out(const dsv3_err *e, char *buf, size_t size);

#endif
