/* abi_compat.c -- the 0.1 entry points that returned structs by value.
 *
 * dsv3 0.1 filled parameter structs with dsv3_*_params_default(), which
 * returned them by value: the caller's stack slot has 0.1's size, so a
 * library with a grown struct would write past it. 0.2 replaced them with
 * dsv3_*_params_init(p, sizeof *p). Programs built against 0.1 still call
 * the old names, so they stay exported (not declared in dsv3.h), each
 * returning exactly the frozen 0.1 layout below. Never change these structs. */
#include <string.h>

#include "dsv3.h"

struct dsv3_model_params_0_1 {
    size_t struct_size;
    const char *backend;
    int n_threads;
    int use_mmap;
};

struct dsv3_session_params_0_1 {
    size_t struct_size;
    int32_t n_ctx;
    int record_routing;
    int mtp;
    int32_t reserved0;
    int32_t kv_type;
};

struct dsv3_sampler_params_0_1 {
    size_t struct_size;
    float temperature;
    int32_t top_k;
    float top_p;
    float min_p;
    float repeat_penalty;
    float frequency_penalty;
    float presence_penalty;
    int32_t penalty_last_n;
    uint64_t seed;
    const int32_t *bias_ids;
    const float *bias_values;
    size_t n_bias;
};

struct dsv3_generate_params_0_1 {
    size_t struct_size;
    int32_t max_tokens;
    int stop_at_eos;
    const char *const *stop_strings;
    size_t n_stop_strings;
    dsv3_token_callback on_token;
    void *user;
};

DSV3_API struct dsv3_model_params_0_1 dsv3_model_params_default(void);
DSV3_API struct dsv3_session_params_0_1 dsv3_session_params_default(void);
DSV3_API struct dsv3_sampler_params_0_1 dsv3_sampler_params_default(void);
DSV3_API struct dsv3_generate_params_0_1 dsv3_generate_params_default(void);

/* The 0.2 init functions give the defaults; the common prefix is the 0.1
 * layout because structs only grow at the end. */
#define COMPAT_DEFAULT(kind)                                                   \
    struct dsv3_##kind##_params_0_1 dsv3_##kind##_params_default(void) {       \
        struct dsv3_##kind##_params_0_1 p;                                     \
        memset(&p, 0, sizeof p);                                               \
        dsv3_##kind##_params_init((struct dsv3_##kind##_params *)(void *)&p,   \
                                  sizeof p);                                   \
        return p;                                                              \
    }

COMPAT_DEFAULT(model)
COMPAT_DEFAULT(session)
COMPAT_DEFAULT(sampler)
COMPAT_DEFAULT(generate)
