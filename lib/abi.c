/* abi.c -- the extensible-struct rule (see abi.h). */
#include "abi.h"

#include <string.h>

#include "dsv3.h"

static int size_ok(size_t n) { return n >= sizeof(size_t) && n <= DSV3_STRUCT_SIZE_MAX; }

int dsv3_struct_in(void *dst, size_t dst_size, const void *src, const char *name, dsv3_err *e) {
    size_t n;
    memcpy(&n, src, sizeof n);
    if (!size_ok(n))
        return err_set(e, DSV3_ERR_INVALID_ARG, "%s.struct_size = %zu is not valid (expected %zu)", name, n, dst_size);
    const unsigned char *s = src;
    for (size_t i = dst_size; i < n; i++)
        if (s[i])
            return err_set(e, DSV3_ERR_INVALID_ARG,
                           "%s: byte %zu is set, but this library (%s) knows only the first %zu bytes of the struct "
                           "(a field from a newer header)",
                           name, i, DSV3_VERSION_STRING, dst_size);
    memcpy(dst, src, n < dst_size ? n : dst_size);
    memcpy(dst, &dst_size, sizeof dst_size); /* the library's view from here on */
    return DSV3_OK;
}

int dsv3_struct_out(void *dst, const void *src, size_t src_size, const char *name, dsv3_err *e) {
    size_t n;
    memcpy(&n, dst, sizeof n);
    if (!size_ok(n))
        return err_set(e, DSV3_ERR_INVALID_ARG, "%s.struct_size = %zu is not valid (expected %zu)", name, n, src_size);
    unsigned char *d = dst;
    memcpy(d, src, n < src_size ? n : src_size);
    if (n > src_size) memset(d + src_size, 0, n - src_size);
    memcpy(d, &n, sizeof n);
    return DSV3_OK;
}

int dsv3_struct_init(void *dst, size_t size, const void *defaults, size_t def_size) {
    if (!dst || !size_ok(size)) return DSV3_ERR_INVALID_ARG;
    unsigned char *d = dst;
    memcpy(d, defaults, size < def_size ? size : def_size);
    if (size > def_size) memset(d + def_size, 0, size - def_size);
    memcpy(d, &size, sizeof size);
    return DSV3_OK;
}
