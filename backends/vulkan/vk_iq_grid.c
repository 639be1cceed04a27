/* vk_iq_grid.c -- the i-quant grids (IQ1_S/IQ1_M, IQ2_*, IQ3_*) for the
 * shaders, from the tables of backends/quants (the one source of their
 * values). They go with each dispatch through the upload ring (at most
 * 8 KiB): as constant arrays in a shader they would be copied per
 * invocation by many compilers (lavapipe needed minutes to build such a
 * pipeline). The IQ1/IQ2 grids are packed to 2 bits per coordinate
 * (shaders/dq_io.glsl), once per process. */
#include <pthread.h>
#include <stdint.h>

#include "quants/quants_impl.h"
#include "vk.h"
#include "vk_matmul.h"

static uint32_t g_iq1s[2048], g_iq2xxs[256], g_iq2xs[512], g_iq2s[1024];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* 2 bits per coordinate: the index of byte j of e among levels[0..2]. */
static void pack_grid(const uint64_t *src, int n, const uint8_t levels[3], uint32_t *dst) {
    for (int i = 0; i < n; i++) {
        uint32_t p = 0;
        for (int j = 0; j < 8; j++) {
            uint8_t b = (uint8_t)(src[i] >> (8 * j));
            uint32_t k = b == levels[0] ? 0u : b == levels[1] ? 1u : 2u;
            p |= k << (2 * j);
        }
        dst[i] = p;
    }
}

static void pack_grids(void) {
    static const uint8_t tern[3] = {0xff, 0x00, 0x01}, iq2[3] = {0x08, 0x19, 0x2b};
    pack_grid(dsv3_iq1s_grid, 2048, tern, g_iq1s);
    pack_grid(dsv3_iq2xxs_grid, 256, iq2, g_iq2xxs);
    pack_grid(dsv3_iq2xs_grid, 512, iq2, g_iq2xs);
    pack_grid(dsv3_iq2s_grid, 1024, iq2, g_iq2s);
}

uint64_t dsv3_vk_iq_grid(dsv3_vk *vk, int type) {
    const uint32_t *g;
    size_t n;
    pthread_once(&g_once, pack_grids);
    switch (type) {
    case DSV3_W_IQ1_S:
    case DSV3_W_IQ1_M: g = g_iq1s, n = 2048; break;
    case DSV3_W_IQ2_XXS: g = g_iq2xxs, n = 256; break;
    case DSV3_W_IQ2_XS: g = g_iq2xs, n = 512; break;
    case DSV3_W_IQ2_S: g = g_iq2s, n = 1024; break;
    case DSV3_W_IQ3_XXS: g = dsv3_iq3xxs_grid, n = 256; break;
    case DSV3_W_IQ3_S: g = dsv3_iq3s_grid, n = 512; break;
    default: return 0;
    }
    return dsv3_vk_upload(vk, g, n * sizeof *g);
}
