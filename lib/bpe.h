/* bpe.h -- byte-level BPE: the GPT-2 byte <-> symbol mapping and merging
 * a pre-tokenized piece by merge rank. */
#ifndef DSV3_BPE_H
#define DSV3_BPE_H

#include <stddef.h>
#include <stdint.h>

/* ---- byte-level mapping ----------------------------------------------------
 * GPT-2's bytes_to_unicode: the printable bytes 0x21-0x7E, 0xA1-0xAC and
 * 0xAE-0xFF stand for themselves (as code points); the other 68 bytes, in
 * increasing order, become U+0100, U+0101, ... U+0143. */
uint32_t bytelevel_cp(uint8_t byte);
/* The byte a symbol stands for, -1 if cp is not a byte-level symbol. */
int bytelevel_byte(uint32_t cp);

/* ---- model --------------------------------------------------------------- */
typedef struct bpe_merge {
    uint64_t key;   /* (left id << 32) | right id; BPE_EMPTY_KEY: free slot  */
    uint32_t rank;
    int32_t new_id;
} bpe_merge;
#define BPE_EMPTY_KEY UINT64_MAX

typedef struct bpe_model {
    int32_t byte_id[256]; /* id of each byte's one-symbol token, -1: none */
    bpe_merge *table;     /* open addressing, size mask + 1 (power of two) */
    size_t mask;
    int shift;            /* 64 - log2(size), for the multiplicative hash  */
} bpe_model;

/* Room for n merges. Returns 0, or -1 when out of memory. */
int bpe_model_init(bpe_model *m, size_t n_merges);
void bpe_model_free(bpe_model *m);
/* Set (left, right) -> (rank, new_id); a pair set again takes the later
 * values (as a hash map built from the merge list in order would). */
void bpe_model_set(bpe_model *m, int32_t left, int32_t right, uint32_t rank, int32_t new_id);
/* The merge of (left, right), NULL if none. */
const bpe_merge *bpe_model_get(const bpe_model *m, int32_t left, int32_t right);

/* ---- encoding ------------------------------------------------------------ */
/* Ids out: written while they fit in cap, counted always. */
typedef struct bpe_out {
    int32_t *ids;
    size_t cap;
    size_t n;
} bpe_out;

static inline void bpe_out_push(bpe_out *o, int32_t id) {
    if (o->n < o->cap) o->ids[o->n] = id;
    o->n++;
}

/* Per-call scratch memory (one per encode call: the model is shared). */
typedef struct bpe_work {
    void *syms;
    size_t syms_cap;
    void *heap;
    size_t heap_cap;
} bpe_work;

void bpe_work_free(bpe_work *w);

/* Encode one piece s[0..n): one symbol per byte, then merges by rank
 * (lowest rank first, leftmost first among equal ranks) until none applies.
 * Bytes without a symbol are dropped. O(n log n). Returns 0, or -1 when out
 * of memory. */
int bpe_encode(const bpe_model *m, const unsigned char *s, size_t n, bpe_work *w, bpe_out *out);

#endif
