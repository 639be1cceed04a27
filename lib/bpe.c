/* bpe.c -- byte-level BPE: the byte <-> symbol mapping, the merge table and
 * merging a piece by rank with a binary heap (O(n log n) per piece). */
#include "bpe.h"

#include <stdlib.h>
#include <string.h>

/* ---- byte-level mapping -------------------------------------------------- */

static int byte_is_printable(unsigned b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE; }

uint32_t bytelevel_cp(uint8_t byte) {
    unsigned b = byte;
    if (byte_is_printable(b)) return b;
    /* Rank among the non-printable bytes: 0x00-0x20 (33), 0x7F-0xA0 (34),
     * 0xAD (1). */
    if (b <= 0x20) return 0x100 + b;
    if (b >= 0x7F && b <= 0xA0) return 0x100 + 33 + (b - 0x7F);
    return 0x100 + 67; /* 0xAD */
}

int bytelevel_byte(uint32_t cp) {
    if (cp < 0x100) return byte_is_printable(cp) ? (int)cp : -1;
    if (cp < 0x100 + 33) return (int)(cp - 0x100);
    if (cp < 0x100 + 67) return (int)(cp - 0x100 - 33 + 0x7F);
    if (cp == 0x100 + 67) return 0xAD;
    return -1;
}

/* ---- merge table ----------------------------------------------------------- */

static uint64_t pair_key(int32_t left, int32_t right) { return ((uint64_t)(uint32_t)left << 32) | (uint32_t)right; }

static size_t slot_of(const bpe_model *m, uint64_t key) {
    return (size_t)((key * UINT64_C(0x9E3779B97F4A7C15)) >> m->shift) & m->mask;
}

int bpe_model_init(bpe_model *m, size_t n_merges) {
    for (int i = 0; i < 256; i++) m->byte_id[i] = -1;
    size_t size = 16;
    int bits = 4;
    while (size < n_merges * 2 + 16) {
        if (size > SIZE_MAX / 2 / sizeof(bpe_merge)) return -1;
        size *= 2;
        bits++;
    }
    m->table = malloc(size * sizeof *m->table);
    if (!m->table) return -1;
    for (size_t i = 0; i < size; i++) m->table[i].key = BPE_EMPTY_KEY;
    m->mask = size - 1;
    m->shift = 64 - bits;
    return 0;
}

void bpe_model_free(bpe_model *m) {
    if (!m) return;
    free(m->table);
    m->table = NULL;
}

void bpe_model_set(bpe_model *m, int32_t left, int32_t right, uint32_t rank, int32_t new_id) {
    uint64_t key = pair_key(left, right);
    size_t i = slot_of(m, key);
    while (m->table[i].key != BPE_EMPTY_KEY && m->table[i].key != key) i = (i + 1) & m->mask;
    m->table[i].key = key;
    m->table[i].rank = rank;
    m->table[i].new_id = new_id;
}

const bpe_merge *bpe_model_get(const bpe_model *m, int32_t left, int32_t right) {
    uint64_t key = pair_key(left, right);
    size_t i = slot_of(m, key);
    for (;;) {
        const bpe_merge *e = &m->table[i];
        if (e->key == key) return e;
        if (e->key == BPE_EMPTY_KEY) return NULL;
        i = (i + 1) & m->mask;
    }
}

/* ---- encoding ---------------------------------------------------------------
 * The piece starts as one symbol per byte in a doubly linked list. A heap
 * holds candidate merges (rank, position of the left symbol, result id);
 * the smallest (rank, position) is applied first. An entry can go stale when
 * a neighbour merged since it was pushed: it is skipped unless the pair now
 * at that position still merges into the same id. After a merge, the pairs
 * the new symbol forms with its neighbours are pushed. */

typedef struct sym {
    int32_t id;
    int32_t prev, next; /* -1 at the ends */
    int32_t dead;       /* merged into its left neighbour */
} sym;

typedef struct cand {
    uint64_t order; /* rank << 32 | position: smaller goes first */
    int32_t new_id;
} cand;

static void heap_push(cand *h, size_t *n, cand c) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p].order <= c.order) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = c;
}

static cand heap_pop(cand *h, size_t *n) {
    cand top = h[0];
    cand last = h[--*n];
    size_t i = 0, count = *n;
    for (;;) {
        size_t l = 2 * i + 1;
        if (l >= count) break;
        size_t r = l + 1;
        size_t c = r < count && h[r].order < h[l].order ? r : l;
        if (last.order <= h[c].order) break;
        h[i] = h[c];
        i = c;
    }
    if (count) h[i] = last;
    return top;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
    if (*cap >= need) return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need) {
        if (c > SIZE_MAX / 2 / elem) return -1;
        c *= 2;
    }
    void *q = realloc(*p, c * elem);
    if (!q) return -1;
    *p = q;
    *cap = c;
    return 0;
}

void bpe_work_free(bpe_work *w) {
    if (!w) return;
    free(w->syms);
    free(w->heap);
    memset(w, 0, sizeof *w);
}

static void push_pair(const bpe_model *m, const sym *s, int32_t pos, cand *h, size_t *nh) {
    int32_t next = s[pos].next;
    if (next < 0) return;
    const bpe_merge *g = bpe_model_get(m, s[pos].id, s[next].id);
    if (!g) return;
    cand c = {((uint64_t)g->rank << 32) | (uint32_t)pos, g->new_id};
    heap_push(h, nh, c);
}

int bpe_encode(const bpe_model *m, const unsigned char *s, size_t n, bpe_work *w, bpe_out *out) {
    if (n == 0) return 0;
    if (n == 1) {
        if (m->byte_id[s[0]] >= 0) bpe_out_push(out, m->byte_id[s[0]]);
        return 0;
    }
    if (n > INT32_MAX) return -1;
    if (grow(&w->syms, &w->syms_cap, n, sizeof(sym))) return -1;
    sym *sy = w->syms;
    int32_t count = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = m->byte_id[s[i]];
        if (id < 0) continue; /* no symbol for this byte: dropped */
        sy[count].id = id;
        sy[count].prev = count - 1;
        sy[count].next = count + 1;
        sy[count].dead = 0;
        count++;
    }
    if (count == 0) return 0;
    sy[count - 1].next = -1;

    if (count == 2) { /* common and cheap: at most one merge */
        const bpe_merge *g = bpe_model_get(m, sy[0].id, sy[1].id);
        if (g) bpe_out_push(out, g->new_id);
        else {
            bpe_out_push(out, sy[0].id);
            bpe_out_push(out, sy[1].id);
        }
        return 0;
    }

    /* Each merge pushes at most two entries and removes a symbol, so the
     * heap never holds more than 3 * count entries. */
    if (grow(&w->heap, &w->heap_cap, (size_t)count * 3, sizeof(cand))) return -1;
    cand *h = w->heap;
    size_t nh = 0;
    for (int32_t i = 0; i + 1 < count; i++) push_pair(m, sy, i, h, &nh);

    while (nh) {
        cand top = heap_pop(h, &nh);
        int32_t pos = (int32_t)(uint32_t)top.order;
        if (sy[pos].dead) continue;
        int32_t right = sy[pos].next;
        if (right < 0) continue;
        const bpe_merge *g = bpe_model_get(m, sy[pos].id, sy[right].id);
        if (!g || g->new_id != top.new_id) continue; /* stale entry */
        sy[pos].id = top.new_id;
        sy[right].dead = 1;
        sy[pos].next = sy[right].next;
        if (sy[pos].next >= 0) sy[sy[pos].next].prev = pos;
        if (sy[pos].prev >= 0) push_pair(m, sy, sy[pos].prev, h, &nh);
        push_pair(m, sy, pos, h, &nh);
    }
    for (int32_t i = 0; i >= 0; i = sy[i].next) bpe_out_push(out, sy[i].id);
    return 0;
}
