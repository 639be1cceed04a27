/* abi.h -- the extensible-struct rule of the public API, in one place.
 *
 * Every parameter and result struct of dsv3.h begins with `size_t
 * struct_size`, the size of the struct the caller was compiled with. The
 * library's own struct may be smaller (an older library) or larger (a newer
 * one). As with Linux's openat2/clone3:
 *   - a caller's struct smaller than the library's is fine: the fields it
 *     lacks keep their defaults (inputs) or are not written (outputs);
 *   - a larger one is accepted only when every byte the library does not
 *     know is zero, so a field the caller set is never silently ignored. */
#ifndef DSV3_ABI_H
#define DSV3_ABI_H

#include <stddef.h>

#include "err.h"

/* Largest struct_size accepted, so a garbage size is refused instead of
 * read. Far above any struct the API will grow to. */
#define DSV3_STRUCT_SIZE_MAX 65536

/* Copy the caller's input struct `src` (src->struct_size bytes) over `dst`,
 * which holds the library's defaults and is dst_size bytes. `name` names
 * the struct in the message. Returns DSV3_OK or DSV3_ERR_INVALID_ARG. */
int dsv3_struct_in(void *dst, size_t dst_size, const void *src, const char *name, dsv3_err *e);

/* Write the library's result `src` (src_size bytes) into the caller's
 * struct `dst` of dst->struct_size bytes: the fields both know are copied,
 * the caller's fields past the library's size are zeroed, struct_size is
 * kept. Returns DSV3_OK or DSV3_ERR_INVALID_ARG (bad struct_size). */
int dsv3_struct_out(void *dst, const void *src, size_t src_size, const char *name, dsv3_err *e);

/* Fill a caller's parameter struct of `size` bytes with the defaults in
 * `defaults` (def_size bytes): the common part is copied, the rest zeroed,
 * struct_size set to size. */
int dsv3_struct_init(void *dst, size_t size, const void *defaults, size_t def_size);

#endif
