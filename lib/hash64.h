/* hash64.h -- a fast 64-bit non-cryptographic checksum, streamed in any
 * pieces: the state file's checksum and the model's fingerprint. It only
 * has to catch corruption and mismatches, not resist an attacker. */
#ifndef DSV3_HASH64_H
#define DSV3_HASH64_H

#include <stddef.h>
#include <stdint.h>

typedef struct dsv3_hash64 {
    uint64_t lane[4];       /* four independent lanes: 32 bytes a round */
    unsigned char buf[32];  /* bytes waiting for a full round           */
    size_t nbuf;
    uint64_t total;         /* bytes hashed                             */
} dsv3_hash64;

void dsv3_hash64_init(dsv3_hash64 *h, uint64_t seed);
void dsv3_hash64_update(dsv3_hash64 *h, const void *data, size_t n);
/* The digest of everything updated so far (h is not changed). Feeding the
 * same bytes in any split gives the same digest. */
uint64_t dsv3_hash64_final(const dsv3_hash64 *h);
/* One-shot. */
uint64_t dsv3_hash64_of(const void *data, size_t n, uint64_t seed);

#endif
