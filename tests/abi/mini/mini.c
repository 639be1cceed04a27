/* mini.c -- see mini.h. */
#include "mini.h"

#include <string.h>

int dsv3_mini_params_init(struct dsv3_mini_params *p, size_t size) {
    memset(p, 0, size);
    p->struct_size = size;
    return 0;
}
int dsv3_mini_render(const struct dsv3_chat_message *msgs, size_t n) { return msgs && n; }
enum dsv3_mini_status dsv3_mini_status(void) { return DSV3_MINI_OK; }
#ifndef V_REMOVE
int dsv3_mini_removed(int x) { return x; }
#endif
#ifdef V_ADD
int dsv3_mini_added(int x) { return x; }
#endif
#ifdef V_PARAM
int dsv3_mini_param(int64_t x) { return (int)x; }
#else
int dsv3_mini_param(int32_t x) { return x; }
#endif
