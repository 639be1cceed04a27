/* mini.h -- a tiny library in dsv3's style, for abi_check_selftest.sh: each
 * V_* macro makes one kind of change to it, compatible or not. */
#ifndef MINI_H
#define MINI_H
#include <stddef.h>
#include <stdint.h>

#define MINI_API __attribute__((visibility("default")))

enum dsv3_mini_status {
    DSV3_MINI_OK = 0,
    DSV3_MINI_BAD = 1
#ifdef V_ENUM
    , DSV3_MINI_NEW = 2
#endif
};

/* An extensible struct: may grow at the end. */
struct dsv3_mini_params {
    size_t struct_size;
#ifdef V_INSERT
    int32_t inserted;
#endif
    int32_t a;
    float b;
#ifdef V_RETYPE
    double c; /* same struct size: only the member's type tells */
#else
    int32_t c;
#endif
#ifdef V_APPEND
    int32_t appended;
    int32_t appended2;
#endif
};

/* Frozen: passed as an array. */
struct dsv3_chat_message {
    const char *role;
    const char *content;
#ifdef V_FROZEN
    int32_t extra;
#endif
};

MINI_API int dsv3_mini_params_init(struct dsv3_mini_params *p, size_t size);
MINI_API int dsv3_mini_render(const struct dsv3_chat_message *msgs, size_t n);
MINI_API enum dsv3_mini_status dsv3_mini_status(void);
#ifndef V_REMOVE
MINI_API int dsv3_mini_removed(int x);
#endif
#ifdef V_ADD
MINI_API int dsv3_mini_added(int x);
#endif
#ifdef V_PARAM
MINI_API int dsv3_mini_param(int64_t x);
#else
MINI_API int dsv3_mini_param(int32_t x);
#endif
#endif
