/* status.c -- version and status names. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dsv3.h"
#include "err.h"

unsigned dsv3_version(void) { return DSV3_VERSION_NUMBER; }
const char *dsv3_version_string(void) { return DSV3_VERSION_STRING; }

const char *dsv3_status_string(int status) {
    switch (status) {
    case DSV3_OK: return "ok";
    case DSV3_ERR_INVALID_ARG: return "invalid argument";
    case DSV3_ERR_NOT_FOUND: return "not found";
    case DSV3_ERR_IO: return "i/o error";
    case DSV3_ERR_NO_MEMORY: return "out of memory";
    case DSV3_ERR_BAD_CONFIG: return "bad config";
    case DSV3_ERR_UNSUPPORTED: return "unsupported";
    case DSV3_ERR_BAD_FILE: return "bad file";
    case DSV3_ERR_BAD_DTYPE: return "bad dtype";
    case DSV3_ERR_MISSING_TENSOR: return "missing tensor";
    case DSV3_ERR_BAD_SHAPE: return "bad shape";
    case DSV3_ERR_BAD_TOKEN: return "bad token";
    case DSV3_ERR_CONTEXT_FULL: return "context full";
    case DSV3_ERR_BAD_POSITION: return "bad position";
    case DSV3_ERR_BACKEND: return "backend error";
    case DSV3_ERR_NO_MTP: return "no MTP layer";
    case DSV3_ERR_STATE: return "invalid state";
    case DSV3_ERR_TOO_SMALL: return "buffer too small";
    case DSV3_ERR_CANCELLED: return "cancelled";
    case DSV3_ERR_BAD_STATE: return "bad session state";
    default: return "unknown status";
    }
}

int err_set(dsv3_err *e, int status, const char *fmt, ...) {
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
        e->status = status;
    }
    return status;
}

void err_clear(dsv3_err *e) {
    if (e) { e->status = DSV3_OK; e->msg[0] = 0; }
}

void err_copy_out(const dsv3_err *e, char *buf, size_t size) {
    if (!buf || size == 0) return;
    size_t n = strlen(e->msg);
    if (n >= size) n = size - 1;
    memcpy(buf, e->msg, n);
    buf[n] = 0;
}
