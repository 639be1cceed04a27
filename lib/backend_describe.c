/* backend_describe.c -- dsv3_backend_describe: what each compiled-in
 * backend says about this machine. Device backends describe themselves
 * (ops->describe); CPU backends get one line here, naming the CPU
 * features their available() checks when it says no. */
#include <stdio.h>
#include <string.h>

#include "backend.h"
#include "dsv3.h"

/* What a CPU backend needs, in the words of its available() check. */
static const char *cpu_needs(const char *name) {
    static const struct {
        const char *name, *needs;
    } NEEDS[] = {
        {"avx2", "one of AVX2, FMA, F16C (or the OS does not save AVX state)"},
        {"avx512", "one of AVX-512 F, DQ, BW, VL, VNNI, AVX2 (or the OS does not save ZMM state)"},
        {"neon", "Advanced SIMD (or is not little-endian)"},
    };
    for (size_t i = 0; i < sizeof NEEDS / sizeof NEEDS[0]; i++)
        if (!strcmp(NEEDS[i].name, name)) return NEEDS[i].needs;
    return NULL;
}

static int fit(int len, size_t size) {
    if (len < 0) return DSV3_ERR_INVALID_ARG;
    return (size_t)len < size ? DSV3_OK : DSV3_ERR_TOO_SMALL;
}

int dsv3_backend_describe(int index, char *buf, size_t size) {
    const dsv3_backend_ops *b = dsv3_backend_at(index);
    if (!b || !buf || !size) return DSV3_ERR_INVALID_ARG;
    buf[0] = 0;
    int len;
    if (b->version >= DSV3_BACKEND_V3 && b->describe) {
        len = b->describe(buf, size);
    } else if (b->available()) {
        len = snprintf(buf, size, "available\n");
    } else {
        const char *needs = cpu_needs(b->name);
        len = needs ? snprintf(buf, size, "unavailable: this CPU lacks %s\n", needs)
                    : snprintf(buf, size, "unavailable on this machine\n");
    }
    if (len < 0) return DSV3_ERR_INVALID_ARG;
    /* Say which backend "auto" picks, so a listing needs no other call. */
    const dsv3_backend_ops *pick = dsv3_backend_find("auto", NULL);
    if (pick == b && (size_t)len < size) {
        size_t at = strlen(buf);
        int more = snprintf(buf + at, size - at, "%spicked by \"auto\" on this machine\n",
                            at && buf[at - 1] != '\n' ? "\n" : "");
        len = more < 0 ? more : (int)at + more;
    }
    return fit(len, size);
}
