/* registry.c -- the compiled-in backends and the run-time choice. */
#include <string.h>

#include "backend.h"
#include "dsv3.h"

#if defined(DSV3_HAVE_AVX2) && (defined(__x86_64__) || defined(_M_X64))
extern const dsv3_backend_ops dsv3_backend_avx2; /* backends/avx2 */
#endif
#if defined(DSV3_HAVE_AVX512) && (defined(__x86_64__) || defined(_M_X64))
extern const dsv3_backend_ops dsv3_backend_avx512; /* backends/avx512 */
#endif

#if defined(DSV3_HAVE_NEON) && defined(__aarch64__)
extern const dsv3_backend_ops dsv3_backend_neon; /* backends/neon */
#endif

#if defined(DSV3_HAVE_VULKAN)
extern const dsv3_backend_ops dsv3_backend_vulkan; /* backends/vulkan */
#endif

static const dsv3_backend_ops *const registry[] = {
    &dsv3_backend_scalar,
#if defined(DSV3_HAVE_NEON) && defined(__aarch64__)
    &dsv3_backend_neon,
#endif
#if defined(DSV3_HAVE_AVX2) && (defined(__x86_64__) || defined(_M_X64))
    &dsv3_backend_avx2,
#endif
#if defined(DSV3_HAVE_AVX512) && (defined(__x86_64__) || defined(_M_X64))
    &dsv3_backend_avx512,
#endif
#if defined(DSV3_HAVE_VULKAN)
    &dsv3_backend_vulkan,
#endif
};

int dsv3_backend_count(void) { return (int)(sizeof registry / sizeof registry[0]); }

const dsv3_backend_ops *dsv3_backend_at(int i) {
    return i >= 0 && i < dsv3_backend_count() ? registry[i] : NULL;
}

/* "auto" skips a V3 backend whose auto_ok() says no (a CPU Vulkan device:
 * usable by name, slower than the CPU backends). */
static int auto_ok(const dsv3_backend_ops *b) {
    return b->version < DSV3_BACKEND_V3 || !b->auto_ok || b->auto_ok();
}

const dsv3_backend_ops *dsv3_backend_find(const char *name, dsv3_err *e) {
    if (!name || !*name || !strcmp(name, "auto")) {
        const dsv3_backend_ops *best = NULL;
        for (int i = 0; i < dsv3_backend_count(); i++)
            if (registry[i]->available() && auto_ok(registry[i]) && (!best || registry[i]->priority > best->priority))
                best = registry[i];
        if (!best) err_set(e, DSV3_ERR_BACKEND, "no backend can run on this machine");
        return best;
    }
    for (int i = 0; i < dsv3_backend_count(); i++) {
        if (strcmp(registry[i]->name, name) != 0) continue;
        if (!registry[i]->available()) {
            if (registry[i]->version >= DSV3_BACKEND_V3 && registry[i]->describe) {
                char why[400]; /* "unavailable: <the reason>" */
                registry[i]->describe(why, sizeof why);
                err_set(e, DSV3_ERR_BACKEND, "backend '%s' is %s", name, why);
            } else {
                err_set(e, DSV3_ERR_BACKEND, "backend '%s' is compiled in but this CPU cannot run it", name);
            }
            return NULL;
        }
        return registry[i];
    }
    char list[256] = "";
    for (int i = 0; i < dsv3_backend_count(); i++) {
        if (i) strncat(list, ", ", sizeof list - strlen(list) - 1);
        strncat(list, registry[i]->name, sizeof list - strlen(list) - 1);
    }
    err_set(e, DSV3_ERR_BACKEND, "unknown backend '%s' (available: auto, %s)", name, list);
    return NULL;
}

const char *dsv3_backend_name(int index, int *available) {
    const dsv3_backend_ops *b = dsv3_backend_at(index);
    if (available) *available = b ? b->available() : 0;
    return b ? b->name : NULL;
}

