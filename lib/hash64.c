/* hash64.c -- see hash64.h. Each lane absorbs one little-endian 64-bit word
 * per 32-byte round with a multiply-rotate-multiply step (odd constants, so
 * every step is a bijection of the lane); the digest folds the lanes, the
 * tail bytes and the length through a final avalanche. Bytes are read
 * little-endian so a digest is the same on every machine. */
#include <string.h>

#include "hash64.h"

#define K1 0x9E3779B97F4A7C15ull /* 2^64 / golden ratio, odd          */
#define K2 0xC2B2AE3D27D4EB4Full /* odd constants with dense bits      */
#define K3 0x165667B19E3779F9ull

static uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static uint64_t rd64(const unsigned char *p) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t v; /* one load: the hashed region streams at memory speed */
    memcpy(&v, p, sizeof v);
    return v;
#else
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
#endif
}

static uint64_t absorb(uint64_t lane, uint64_t w) { return rotl(lane + w * K2, 31) * K1; }

/* Every input bit affects every output bit (xor-shift-multiply rounds). */
static uint64_t avalanche(uint64_t x) {
    x ^= x >> 33;
    x *= K2;
    x ^= x >> 29;
    x *= K3;
    x ^= x >> 32;
    return x;
}

static void round32(uint64_t lane[4], const unsigned char *p) {
    for (int i = 0; i < 4; i++) lane[i] = absorb(lane[i], rd64(p + 8 * i));
}

void dsv3_hash64_init(dsv3_hash64 *h, uint64_t seed) {
    memset(h, 0, sizeof *h);
    h->lane[0] = seed + K1 + K2;
    h->lane[1] = seed + K2;
    h->lane[2] = seed;
    h->lane[3] = seed - K1;
}

void dsv3_hash64_update(dsv3_hash64 *h, const void *data, size_t n) {
    const unsigned char *p = data;
    h->total += n;
    if (h->nbuf) {
        size_t take = 32 - h->nbuf < n ? 32 - h->nbuf : n;
        memcpy(h->buf + h->nbuf, p, take);
        h->nbuf += take;
        p += take;
        n -= take;
        if (h->nbuf < 32) return;
        round32(h->lane, h->buf);
        h->nbuf = 0;
    }
    /* the lanes stay in registers over the bulk of the data */
    uint64_t a = h->lane[0], b = h->lane[1], c = h->lane[2], d = h->lane[3];
    for (; n >= 32; p += 32, n -= 32) {
        a = absorb(a, rd64(p));
        b = absorb(b, rd64(p + 8));
        c = absorb(c, rd64(p + 16));
        d = absorb(d, rd64(p + 24));
    }
    h->lane[0] = a;
    h->lane[1] = b;
    h->lane[2] = c;
    h->lane[3] = d;
    if (n) memcpy(h->buf, p, n);
    h->nbuf = n;
}

uint64_t dsv3_hash64_final(const dsv3_hash64 *h) {
    uint64_t x = rotl(h->lane[0], 1) + rotl(h->lane[1], 7) + rotl(h->lane[2], 12) + rotl(h->lane[3], 18);
    for (int i = 0; i < 4; i++) x = (x ^ absorb(0, h->lane[i])) * K1 + K3;
    x += h->total;
    size_t i = 0;
    for (; i + 8 <= h->nbuf; i += 8) x = rotl(x ^ absorb(0, rd64(h->buf + i)), 27) * K1 + K3;
    for (; i < h->nbuf; i++) x = rotl(x ^ (uint64_t)h->buf[i] * K3, 11) * K1;
    return avalanche(x);
}

uint64_t dsv3_hash64_of(const void *data, size_t n, uint64_t seed) {
    dsv3_hash64 h;
    dsv3_hash64_init(&h, seed);
    dsv3_hash64_update(&h, data, n);
    return dsv3_hash64_final(&h);
}
