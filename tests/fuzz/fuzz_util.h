/* fuzz_util.h -- what the libFuzzer harnesses share: a check that aborts
 * (so libFuzzer and the replay driver both report it), a reader that turns
 * the fuzz input into a stream of small decisions, and in-memory files for
 * the loaders that only take a path. Header-only: each harness is one
 * translation unit plus libFuzzer's main() or replay_main.c. */
#ifndef DSV3_FUZZ_UTIL_H
#define DSV3_FUZZ_UTIL_H

/* memfd_create is a GNU extension: include this header first. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_ASSERT(c)                                                                                 \
    do {                                                                                               \
        if (!(c)) {                                                                                    \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);                      \
            abort();                                                                                   \
        }                                                                                              \
    } while (0)

/* ---- a byte stream of decisions (reads past the end give zeros) ---------- */
typedef struct fuzz_in {
    const uint8_t *p;
    size_t n, at;
} fuzz_in;

static inline uint8_t fuzz_u8(fuzz_in *in) { return in->at < in->n ? in->p[in->at++] : 0; }
static inline uint32_t fuzz_u32(fuzz_in *in) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)fuzz_u8(in) << (8 * i);
    return v;
}
static inline int fuzz_left(const fuzz_in *in) { return in->at < in->n; }
/* A value in [0, n) from one byte (n <= 256) or four. */
static inline uint32_t fuzz_pick(fuzz_in *in, uint32_t n) { return n <= 256 ? fuzz_u8(in) % n : fuzz_u32(in) % n; }
/* A float that is usually ordinary, sometimes extreme or not finite. */
static inline float fuzz_float(fuzz_in *in) {
    uint8_t k = fuzz_u8(in);
    if (k < 200) return (float)((int)fuzz_u8(in) - 64) / 16.0f;
    uint32_t bits = fuzz_u32(in);
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}
/* A NUL-terminated copy of the next bytes up to a 0 byte or the end (at
 * most max bytes); malloc'ed, the caller frees. */
static inline char *fuzz_cstr(fuzz_in *in, size_t max) {
    size_t start = in->at, len = 0;
    while (in->at < in->n && in->p[in->at] && len < max) { in->at++; len++; }
    if (in->at < in->n && in->p[in->at] == 0) in->at++;
    char *s = malloc(len + 1);
    FUZZ_ASSERT(s);
    if (len) memcpy(s, in->p + start, len);
    s[len] = 0;
    return s;
}

/* ---- in-memory files: a memfd reached through /proc/self/fd -------------- */
typedef struct fuzz_file {
    int fd;
    char path[64];
} fuzz_file;

static inline void fuzz_file_open(fuzz_file *f, const char *name) {
    f->fd = memfd_create(name, MFD_CLOEXEC);
    if (f->fd < 0) {
        fprintf(stderr, "fuzz: memfd_create: %s\n", strerror(errno));
        abort();
    }
    snprintf(f->path, sizeof f->path, "/proc/self/fd/%d", f->fd);
}

/* Replace the file's contents with data[0..n). */
static inline void fuzz_file_set(fuzz_file *f, const void *data, size_t n) {
    FUZZ_ASSERT(ftruncate(f->fd, 0) == 0);
    size_t done = 0;
    while (done < n) {
        ssize_t w = pwrite(f->fd, (const char *)data + done, n - done, (off_t)done);
        if (w < 0 && errno == EINTR) continue;
        FUZZ_ASSERT(w > 0);
        done += (size_t)w;
    }
}

/* Split data at the first occurrence of sep (not included in either part).
 * Returns 1 and sets the second part when found; else all is the first. */
static inline int fuzz_split(const uint8_t *data, size_t size, const char *sep, size_t *n1, const uint8_t **p2,
                             size_t *n2) {
    size_t k = strlen(sep);
    for (size_t i = 0; k && i + k <= size; i++)
        if (!memcmp(data + i, sep, k)) {
            *n1 = i;
            *p2 = data + i + k;
            *n2 = size - i - k;
            return 1;
        }
    *n1 = size;
    *p2 = NULL;
    *n2 = 0;
    return 0;
}

#endif
