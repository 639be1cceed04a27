/* json.c -- a small, defensive JSON (RFC 8259) parser. See json.h.
 *
 * Design:
 *  - Recursive descent, but nesting is capped at JSON_MAX_DEPTH, so the C
 *    stack use is bounded no matter what the input is.
 *  - Every allocation of the finished tree comes from one growable arena of
 *    chunks (sizes doubling, so a document costs O(log n) mallocs). The
 *    json_doc itself is carved from that arena, so json_free only walks the
 *    chunk list.
 *  - A container's members are not known in advance, so they are collected
 *    on a growable scratch stack and copied into the arena, contiguously,
 *    when the container closes. The scratch stack is freed before return.
 *  - Numbers are converted without strtod (which obeys LC_NUMERIC and so
 *    breaks in apps that call setlocale), correctly rounded: see the
 *    Numbers section.
 *  - Nothing here touches global mutable state, prints, or aborts. */
#include "json.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Arena                                                                      */

typedef struct chunk {
    struct chunk *next;
    size_t cap;  /* usable bytes in data[] */
    size_t used;
    alignas(max_align_t) unsigned char data[];
} chunk;

typedef struct arena {
    chunk *head; /* current chunk; older chunks follow via next */
    size_t next_cap;
} arena;

#define ARENA_MIN_CHUNK ((size_t)4096)

static void arena_release(chunk *c)
{
    while (c) {
        chunk *next = c->next;
        free(c);
        c = next;
    }
}

/* Returns size bytes aligned to align (a power of two <= alignof(max_align_t)),
 * or NULL on out-of-memory / size overflow. */
static void *arena_alloc(arena *a, size_t size, size_t align)
{
    chunk *c = a->head;
    if (c) {
        size_t off = (c->used + (align - 1)) & ~(align - 1);
        if (off >= c->used && off <= c->cap && size <= c->cap - off) {
            c->used = off + size;
            return c->data + off;
        }
    }
    /* New chunk: at least `size`, and at least double the previous one so the
     * number of chunks stays logarithmic in the document size. */
    size_t cap = a->next_cap < ARENA_MIN_CHUNK ? ARENA_MIN_CHUNK : a->next_cap;
    if (cap < size)
        cap = size;
    if (cap > SIZE_MAX - sizeof(chunk))
        return NULL;
    c = malloc(sizeof(chunk) + cap);
    if (!c)
        return NULL;
    c->next = a->head;
    c->cap = cap;
    c->used = size; /* data[] is max-aligned, so offset 0 suits any align */
    a->head = c;
    a->next_cap = cap <= SIZE_MAX / 2 ? cap * 2 : cap;
    return c->data;
}

/* Gives back the last `unused` bytes of the most recent allocation (which
 * must be that large). Used after decoding a string into a worst-case-sized
 * buffer. */
static void arena_trim(arena *a, size_t unused)
{
    a->head->used -= unused;
}

/* ------------------------------------------------------------------------ */
/* Parser state                                                               */

/* A member waiting on the scratch stack for its container to close. */
typedef struct pending {
    json_value v;
    const char *key; /* objects only */
    size_t key_len;
} pending;

typedef struct parser {
    const unsigned char *s;
    size_t len;
    size_t pos;
    arena a;
    pending *stack;
    size_t stack_n, stack_cap;
    char *err;
    size_t err_size;
    int status; /* 0 ok, -1 syntax error, -2 out of memory; first one wins */
} parser;

struct json_doc {
    json_value root;
    chunk *chunks; /* the arena; this struct lives inside it */
};

static int fail(parser *p, size_t at, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Records the first error as "json: at byte N: <message>". */
static int fail(parser *p, size_t at, const char *fmt, ...)
{
    if (p->status != 0)
        return p->status;
    p->status = -1;
    if (p->err && p->err_size > 0) {
        int n = snprintf(p->err, p->err_size, "json: at byte %zu: ", at);
        if (n >= 0 && (size_t)n < p->err_size) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(p->err + n, p->err_size - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

static int fail_oom(parser *p)
{
    if (p->status != 0)
        return p->status;
    p->status = -2;
    if (p->err && p->err_size > 0)
        snprintf(p->err, p->err_size, "json: out of memory");
    return -2;
}

/* "expected X" errors also say what was found, which makes a broken
 * config.json much easier to fix. */
static int fail_expected(parser *p, const char *what)
{
    if (p->pos >= p->len)
        return fail(p, p->pos, "expected %s, found end of input", what);
    unsigned char c = p->s[p->pos];
    if (c >= 0x20 && c < 0x7f)
        return fail(p, p->pos, "expected %s, found '%c'", what, c);
    return fail(p, p->pos, "expected %s, found byte 0x%02X", what, (unsigned)c);
}

static void skip_ws(parser *p)
{
    while (p->pos < p->len) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->pos++;
    }
}

static int peek(const parser *p)
{
    return p->pos < p->len ? p->s[p->pos] : -1;
}

static int push_pending(parser *p, const json_value *v, const char *key, size_t key_len)
{
    if (p->stack_n == p->stack_cap) {
        size_t cap = p->stack_cap ? p->stack_cap : 64;
        if (p->stack_cap) {
            if (cap > SIZE_MAX / 2 / sizeof(pending))
                return fail_oom(p);
            cap *= 2;
        }
        pending *ns = realloc(p->stack, cap * sizeof(pending));
        if (!ns)
            return fail_oom(p);
        p->stack = ns;
        p->stack_cap = cap;
    }
    pending *e = &p->stack[p->stack_n++];
    e->v = *v;
    e->key = key;
    e->key_len = key_len;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Strings                                                                    */

static int hex_val(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads the 4 hex digits of a \u escape at s[at..]; -1 if malformed. */
static long read_hex4(const parser *p, size_t at)
{
    if (at > p->len || p->len - at < 4)
        return -1;
    long v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hex_val(p->s[at + (size_t)k]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

static size_t put_utf8(unsigned char *o, unsigned long cp)
{
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of the well-formed UTF-8 sequence at s[0..avail), or 0 if it is
 * not well-formed (overlong forms, UTF-16 surrogates, > U+10FFFF, bad or
 * missing continuation bytes), per Table 3-7 of the Unicode Standard. */
static size_t utf8_seq_len(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the 2nd byte */
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0; /* below is overlong */
        else if (c == 0xED)
            hi = 0x9F; /* above is a surrogate D800..DFFF */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90; /* below is overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* above is > U+10FFFF */
    } else
        return 0; /* 80..C1 (continuation / overlong lead), F5..FF */
    if (avail < n)
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t k = 2; k < n; k++)
        if (s[k] < 0x80 || s[k] > 0xBF)
            return 0;
    return n;
}

/* Parses the string whose opening quote is at p->pos into the arena.
 * On success *out / *out_len hold the decoded, NUL-terminated bytes. */
static int parse_string(parser *p, const char **out, size_t *out_len)
{
    const unsigned char *s = p->s;
    size_t start = p->pos + 1;

    /* Find the closing quote first: decoding never grows the text (an escape
     * of k bytes yields at most k bytes), so that bounds the buffer. */
    size_t end = start;
    for (;;) {
        if (end >= p->len)
            return fail(p, p->pos, "unterminated string");
        if (s[end] == '"')
            break;
        end += s[end] == '\\' ? 2 : 1;
    }
    size_t raw = end - start;
    if (raw == SIZE_MAX)
        return fail_oom(p);
    unsigned char *buf = arena_alloc(&p->a, raw + 1, 1);
    if (!buf)
        return fail_oom(p);

    size_t i = start, o = 0;
    while (i < end) {
        unsigned char c = s[i];
        if (c == '\\') {
            unsigned char e = s[i + 1]; /* i + 1 < end: the scan paired them */
            switch (e) {
            case '"': buf[o++] = '"'; break;
            case '\\': buf[o++] = '\\'; break;
            case '/': buf[o++] = '/'; break;
            case 'b': buf[o++] = '\b'; break;
            case 'f': buf[o++] = '\f'; break;
            case 'n': buf[o++] = '\n'; break;
            case 'r': buf[o++] = '\r'; break;
            case 't': buf[o++] = '\t'; break;
            case 'u': {
                long cp = read_hex4(p, i + 2);
                if (cp < 0 || i + 6 > end)
                    return fail(p, i, "expected 4 hex digits after \\u");
                if (cp >= 0xDC00 && cp <= 0xDFFF)
                    return fail(p, i, "unpaired UTF-16 low surrogate \\u%04lX", (unsigned long)cp);
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    /* Must be followed by \uDC00..\uDFFF. */
                    long lo = -1;
                    if (i + 12 <= end && s[i + 6] == '\\' && s[i + 7] == 'u')
                        lo = read_hex4(p, i + 8);
                    if (lo < 0xDC00 || lo > 0xDFFF)
                        return fail(p, i, "UTF-16 high surrogate \\u%04lX not followed by a low surrogate",
                                    (unsigned long)cp);
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                    i += 6;
                }
                o += put_utf8(buf + o, (unsigned long)cp);
                i += 6;
                continue;
            }
            default:
                if (e >= 0x20 && e < 0x7f)
                    return fail(p, i, "invalid escape '\\%c'", e);
                return fail(p, i, "invalid escape (byte 0x%02X after '\\')", (unsigned)e);
            }
            i += 2;
        } else if (c < 0x20) {
            return fail(p, i, "unescaped control character 0x%02X in string", (unsigned)c);
        } else if (c < 0x80) {
            buf[o++] = c;
            i++;
        } else {
            size_t n = utf8_seq_len(s + i, end - i);
            if (n == 0)
                return fail(p, i, "invalid UTF-8 in string");
            memcpy(buf + o, s + i, n);
            o += n;
            i += n;
        }
    }
    buf[o] = '\0';
    arena_trim(&p->a, raw - o);
    *out = (const char *)buf;
    *out_len = o;
    p->pos = end + 1;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Numbers                                                                    */
/*
 * Conversion is locale independent and correctly rounded (round to nearest,
 * ties to even, like a good strtod in the C locale):
 *
 *  1. Fast path (Clinger): the first 19 significant digits form a uint64 m.
 *     If nothing was dropped, m <= 2^53 and |e| <= 22, then m and 10^|e| are
 *     exact doubles and one IEEE multiply/divide is correctly rounded.
 *  2. Otherwise m * 10^e is computed in long double (64-bit mantissa on x86,
 *     113 on aarch64). Its relative error is below 2^-59 (2^-59.8 from the
 *     dropped digits, about 2^-60 from the power of ten), so rounding it to
 *     double is already within 1 ulp, and exactly right unless the estimate
 *     lies within 1/16 ulp of a rounding boundary.
 *  3. In that rare case (and always where long double is just double) the
 *     neighbouring rounding boundaries are compared exactly against the
 *     decimal input with big integers, and the candidate is moved by one ulp
 *     until it is the correctly rounded result.
 *
 * Magnitudes beyond the double range are decided from the decimal exponent
 * alone, so huge exponents (1e999999999) cost nothing and cause no UB.
 */

/* Saturating add, so that absurdly long digit runs or exponents cannot
 * overflow; anything beyond +-2^60 is far outside the double range anyway. */
#define EXP_LIMIT ((int64_t)1 << 60)
static int64_t sat_add(int64_t a, int64_t b)
{
    int64_t r = a + b; /* |a|,|b| <= 2^60 + 9, so this cannot overflow */
    if (r > EXP_LIMIT)
        return EXP_LIMIT;
    if (r < -EXP_LIMIT)
        return -EXP_LIMIT;
    return r;
}

/* The digits of a number as written: integer part, then fraction part. */
typedef struct numtext {
    const unsigned char *int_digits;
    size_t int_len;
    const unsigned char *frac_digits;
    size_t frac_len;
} numtext;

/* --- Minimal unsigned big integers for the exact comparison ------------- */

/* The largest operand is (2^54 + 1) * 5^1123, or up to 800 decimal digits,
 * about 2670 bits; 128 limbs leave ample room. */
#define BN_LIMBS 128
/* Exact midpoints between doubles have at most 769 significant digits; any
 * digits past this many only matter through a "something nonzero follows"
 * flag. */
#define BN_MAX_DIGITS 800

typedef struct bignum {
    uint32_t d[BN_LIMBS]; /* little endian */
    int n;                /* limbs in use; d[n-1] != 0 unless n == 0 */
} bignum;

static void bn_set_u64(bignum *a, uint64_t v)
{
    a->n = 0;
    while (v) {
        a->d[a->n++] = (uint32_t)v;
        v >>= 32;
    }
}

/* a = a * mul + add; 0 if the result would not fit. */
static int bn_mul_add(bignum *a, uint32_t mul, uint32_t add)
{
    uint64_t carry = add;
    for (int k = 0; k < a->n; k++) {
        uint64_t t = (uint64_t)a->d[k] * mul + carry;
        a->d[k] = (uint32_t)t;
        carry = t >> 32;
    }
    if (carry) {
        if (a->n == BN_LIMBS)
            return 0;
        a->d[a->n++] = (uint32_t)carry;
    }
    return 1;
}

static int bn_mul_pow5(bignum *a, int64_t e)
{
    static const uint32_t p5[] = {1, 5, 25, 125, 625, 3125, 15625, 78125, 390625, 1953125, 9765625, 48828125,
                                  244140625, 1220703125};
    for (; e >= 13; e -= 13)
        if (!bn_mul_add(a, p5[13], 0))
            return 0;
    return bn_mul_add(a, p5[e], 0);
}

static int bn_shl(bignum *a, int64_t bits)
{
    if (a->n == 0 || bits == 0)
        return 1;
    int64_t limbs = bits / 32;
    int sh = (int)(bits % 32);
    if (limbs + a->n + 1 > BN_LIMBS)
        return 0;
    int n = a->n + (int)limbs;
    a->d[n] = 0;
    for (int k = a->n - 1; k >= 0; k--) {
        uint64_t t = (uint64_t)a->d[k] << sh;
        a->d[k + limbs + 1] |= (uint32_t)(t >> 32);
        a->d[k + limbs] = (uint32_t)t;
    }
    for (int64_t k = 0; k < limbs; k++)
        a->d[k] = 0;
    a->n = a->d[n] ? n + 1 : n;
    return 1;
}

static int bn_cmp(const bignum *a, const bignum *b)
{
    if (a->n != b->n)
        return a->n < b->n ? -1 : 1;
    for (int k = a->n - 1; k >= 0; k--)
        if (a->d[k] != b->d[k])
            return a->d[k] < b->d[k] ? -1 : 1;
    return 0;
}

/* The decimal input as D * 10^E (D = its first BN_MAX_DIGITS significant
 * digits, `sticky` set when nonzero digits were dropped after those). */
typedef struct decimal {
    bignum D;
    int64_t E;
    int sticky;
} decimal;

/* `lead` is the decimal exponent of the first significant digit. */
static int decimal_from_text(decimal *x, const numtext *nt, int64_t lead)
{
    static const uint32_t p10[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000};
    const unsigned char *parts[2] = {nt->int_digits, nt->frac_digits};
    size_t lens[2] = {nt->int_len, nt->frac_len};
    uint32_t group = 0; /* up to 9 digits, added to D at once */
    int group_n = 0, started = 0;
    int64_t kept = 0;
    x->D.n = 0;
    x->sticky = 0;
    for (int part = 0; part < 2 && !x->sticky; part++) {
        for (size_t k = 0; k < lens[part]; k++) {
            unsigned dg = (unsigned)(parts[part][k] - '0');
            if (!started && dg == 0)
                continue; /* leading zeros */
            started = 1;
            if (kept == BN_MAX_DIGITS) {
                if (dg != 0) {
                    x->sticky = 1;
                    break;
                }
                continue;
            }
            group = group * 10 + dg;
            kept++;
            if (++group_n == 9) {
                if (!bn_mul_add(&x->D, p10[9], group))
                    return 0;
                group = 0;
                group_n = 0;
            }
        }
    }
    if (group_n && !bn_mul_add(&x->D, p10[group_n], group))
        return 0;
    x->E = lead - kept + 1;
    return 1;
}

/* Sign of (input - c * 2^b); 2 if it could not be computed. */
static int decimal_cmp(const decimal *x, uint64_t c, int64_t b)
{
    /* input = D * 5^E * 2^E. Move 5^|E| and the powers of two so that both
     * sides are integers, then compare. */
    bignum L = x->D, R;
    bn_set_u64(&R, c);
    int ok = 1;
    if (x->E >= 0)
        ok = bn_mul_pow5(&L, x->E);
    else
        ok = bn_mul_pow5(&R, -x->E);
    if (ok)
        ok = x->E > b ? bn_shl(&L, x->E - b) : bn_shl(&R, b - x->E);
    if (!ok)
        return 2;
    int r = bn_cmp(&L, &R);
    return r == 0 && x->sticky ? 1 : r;
}

static uint64_t dbl_bits(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static double bits_dbl(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* Moves the candidate d (non-negative, within a few ulp of the input) to the
 * correctly rounded value of the input, by comparing the input exactly with
 * the midpoints to its neighbours. */
static double refine(const numtext *nt, int64_t lead, double d)
{
    decimal x;
    if (!decimal_from_text(&x, nt, lead))
        return d; /* cannot happen within the documented bounds */
    uint64_t u = dbl_bits(d);
    const uint64_t inf_bits = 0x7FF0000000000000u;
    if (u >= inf_bits)
        u = inf_bits - 1; /* start from DBL_MAX */
    for (int iter = 0; iter < 64; iter++) {
        /* d = k * 2^q */
        uint64_t frac = u & (((uint64_t)1 << 52) - 1);
        int be = (int)(u >> 52);
        uint64_t k = be ? frac | ((uint64_t)1 << 52) : frac;
        int64_t q = (be ? be : 1) - 1075;
        /* Upper midpoint (2k+1) * 2^(q-1); on a tie keep the even one. */
        int c = decimal_cmp(&x, 2 * k + 1, q - 1);
        if (c == 2)
            break;
        if (c > 0 || (c == 0 && (k & 1))) {
            u++; /* DBL_MAX + 1 ulp is inf, as it should be */
            if (u == inf_bits)
                break;
            continue;
        }
        if (u == 0)
            break;
        /* Lower midpoint; at a power of two the neighbour below is half as
         * far away. */
        if (frac == 0 && be > 1)
            c = decimal_cmp(&x, 4 * k - 1, q - 2);
        else
            c = decimal_cmp(&x, 2 * k - 1, q - 1);
        if (c == 2)
            break;
        if (c < 0 || (c == 0 && (k & 1))) {
            u--;
            continue;
        }
        break;
    }
    return bits_dbl(u);
}

/* 10^e for 0 <= e <= 511 in long double, by binary exponentiation over a
 * table of 10^(2^k). The entries are compile-time literals, so each is
 * correctly rounded (the first five are exact even in double). */
static long double pow10_ld(int e)
{
    static const long double p2[] = {1e1L, 1e2L, 1e4L, 1e8L, 1e16L, 1e32L, 1e64L, 1e128L, 1e256L};
    long double r = 1.0L;
    for (int k = 0; e != 0 && k < 9; k++, e >>= 1)
        if (e & 1)
            r *= p2[k];
    return r;
}

/* Exactly representable powers of ten in double (5^22 < 2^53). */
static const double exact_pow10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* The magnitude m * 10^e10 (plus dropped digits when `truncated`), correctly
 * rounded; nt is the original text, needed only for the exact fallback. */
static double decimal_to_double(const numtext *nt, uint64_t m, int64_t e10, int truncated)
{
    if (m == 0)
        return 0.0; /* m holds the first significant digits: there are none */
    /* Trailing zeros only widen the exponent; dropping them lets e.g.
     * 0.000001000 take the fast path. */
    while (m % 10 == 0) {
        m /= 10;
        e10 = sat_add(e10, 1);
    }
    if (!truncated && m <= ((uint64_t)1 << 53) && e10 >= -22 && e10 <= 22) {
        double d = (double)m;
        return e10 >= 0 ? d * exact_pow10[e10] : d / exact_pow10[-e10];
    }
    int digits = 1;
    for (uint64_t t = m; t >= 10; t /= 10)
        digits++;
    int64_t lead = e10 + digits - 1; /* value is in [10^lead, 10^(lead+1)) */
    if (lead > DBL_MAX_10_EXP)
        return HUGE_VAL; /* >= 1e309 */
    if (lead < -324)
        return 0.0; /* < 1e-324, less than half the smallest subnormal */
    /* Now -342 <= e10 <= 308. */
    long double x = (long double)m;
    if (e10 >= 0) {
        /* 10^e10 <= value, so the power cannot overflow unless the value
         * does, and then refine() starts from DBL_MAX. */
        x *= pow10_ld((int)e10);
    } else if (e10 >= -300) {
        x /= pow10_ld((int)-e10);
    } else {
        /* Split so that no power exceeds 10^300, for platforms where long
         * double has only double's range. */
        x /= pow10_ld((int)(-e10 - 300));
        x /= pow10_ld(300);
    }
    double d = (double)x;
#if LDBL_MANT_DIG >= 64
    if (d > 0 && d <= DBL_MAX) {
        /* Distance of the estimate from d in ulps of d; d is its rounding,
         * so this is in [-1/2, 1/2]. Far from +-1/2, d is certainly right. */
        uint64_t u = dbl_bits(d);
        double next = bits_dbl(u + 1);
        long double ulp = next <= DBL_MAX ? (long double)next - d : (long double)d - bits_dbl(u - 1);
        long double r = (x - (long double)d) / ulp; /* the difference is exact */
        if (r < 0)
            r = -r;
        if (r < 0.4375L)
            return d;
    }
#endif
    return refine(nt, lead, d);
}

/* RFC 8259: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static int parse_number(parser *p, json_value *v)
{
    const unsigned char *s = p->s;
    size_t i = p->pos, len = p->len;
    int neg = 0;
    uint64_t mant = 0;   /* first 19 significant digits */
    int mant_digits = 0; /* significant digits in mant (leading zeros skipped) */
    int truncated = 0;   /* a nonzero digit was dropped after those */
    int64_t e10 = 0;     /* |value| ~ mant * 10^e10 */
    uint64_t ival = 0;   /* integer part, for is_int */
    int ival_ok = 1;     /* integer part fits in uint64 */
    int integral = 1;    /* no fraction and no exponent */
    numtext nt = {NULL, 0, NULL, 0};

    if (s[i] == '-') {
        neg = 1;
        i++;
    }
    if (i >= len || s[i] < '0' || s[i] > '9') {
        p->pos = i;
        return fail_expected(p, "a digit after '-'");
    }
    nt.int_digits = s + i;
    if (s[i] == '0') {
        i++;
        if (i < len && s[i] >= '0' && s[i] <= '9')
            return fail(p, i - 1, "leading zeros are not allowed in numbers");
    } else {
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            unsigned d = (unsigned)(s[i] - '0');
            if (mant_digits < 19) {
                mant = mant * 10 + d;
                mant_digits++;
            } else {
                e10 = sat_add(e10, 1); /* digit dropped: scale instead */
                truncated |= d != 0;
            }
            if (ival_ok) {
                if (ival > (UINT64_MAX - d) / 10)
                    ival_ok = 0;
                else
                    ival = ival * 10 + d;
            }
            i++;
        }
    }
    nt.int_len = (size_t)(s + i - nt.int_digits);
    if (i < len && s[i] == '.') {
        integral = 0;
        i++;
        if (i >= len || s[i] < '0' || s[i] > '9') {
            p->pos = i;
            return fail_expected(p, "a digit after '.'");
        }
        nt.frac_digits = s + i;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            unsigned d = (unsigned)(s[i] - '0');
            if (mant_digits == 0 && d == 0) {
                e10 = sat_add(e10, -1); /* leading zero of 0.000123 */
            } else if (mant_digits < 19) {
                mant = mant * 10 + d;
                mant_digits++;
                e10 = sat_add(e10, -1);
            } else {
                truncated |= d != 0; /* beyond 19 significant digits */
            }
            i++;
        }
        nt.frac_len = (size_t)(s + i - nt.frac_digits);
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        integral = 0;
        i++;
        int eneg = 0;
        if (i < len && (s[i] == '+' || s[i] == '-')) {
            eneg = s[i] == '-';
            i++;
        }
        if (i >= len || s[i] < '0' || s[i] > '9') {
            p->pos = i;
            return fail_expected(p, "a digit in the exponent");
        }
        int64_t ex = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (ex < EXP_LIMIT / 10)
                ex = ex * 10 + (s[i] - '0'); /* else saturated: keep scanning */
            i++;
        }
        e10 = sat_add(e10, eneg ? -ex : ex);
    }

    double d = decimal_to_double(&nt, mant, e10, truncated);
    v->type = JSON_NUMBER;
    v->num = neg ? -d : d;
    if (integral && ival_ok) {
        if (!neg && ival <= (uint64_t)INT64_MAX) {
            v->is_int = 1;
            v->i = (int64_t)ival;
        } else if (neg && ival <= (uint64_t)INT64_MAX + 1) {
            v->is_int = 1;
            /* -(2^63) without signed overflow */
            v->i = ival == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)ival;
        }
    }
    p->pos = i;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Values                                                                     */

static int parse_value(parser *p, json_value *v, int depth);

/* Moves the members pushed since `base` into the arena as v's children. */
static int close_container(parser *p, json_value *v, size_t base, int is_object)
{
    size_t n = p->stack_n - base;
    v->n = n;
    if (n == 0)
        return 0;
    if (n > SIZE_MAX / sizeof(json_value))
        return fail_oom(p);
    json_value *items = arena_alloc(&p->a, n * sizeof(json_value), alignof(json_value));
    if (!items)
        return fail_oom(p);
    const pending *src = p->stack + base;
    for (size_t k = 0; k < n; k++)
        items[k] = src[k].v;
    v->items = items;
    if (is_object) {
        /* n * sizeof(json_value) did not overflow and both element types are
         * smaller, so these products are safe too. */
        const char **keys = arena_alloc(&p->a, n * sizeof(*keys), alignof(const char *));
        size_t *lens = keys ? arena_alloc(&p->a, n * sizeof(*lens), alignof(size_t)) : NULL;
        if (!lens)
            return fail_oom(p);
        for (size_t k = 0; k < n; k++) {
            keys[k] = src[k].key;
            lens[k] = src[k].key_len;
        }
        v->keys = keys;
        v->key_lens = lens;
    }
    p->stack_n = base;
    return 0;
}

static int parse_array(parser *p, json_value *v, int depth)
{
    size_t base = p->stack_n;
    v->type = JSON_ARRAY;
    p->pos++; /* '[' */
    skip_ws(p);
    if (peek(p) == ']') {
        p->pos++;
        return close_container(p, v, base, 0);
    }
    for (;;) {
        json_value item;
        int rc = parse_value(p, &item, depth + 1);
        if (rc)
            return rc;
        if ((rc = push_pending(p, &item, NULL, 0)))
            return rc;
        skip_ws(p);
        int c = peek(p);
        if (c == ',') {
            p->pos++;
            skip_ws(p);
            continue;
        }
        if (c == ']') {
            p->pos++;
            return close_container(p, v, base, 0);
        }
        return fail_expected(p, "',' or ']' in array");
    }
}

static int parse_object(parser *p, json_value *v, int depth)
{
    size_t base = p->stack_n;
    v->type = JSON_OBJECT;
    p->pos++; /* '{' */
    skip_ws(p);
    if (peek(p) == '}') {
        p->pos++;
        return close_container(p, v, base, 1);
    }
    for (int first = 1;; first = 0) {
        if (peek(p) != '"')
            return fail_expected(p, first ? "a string key or '}'" : "a string key after ','");
        const char *key;
        size_t key_len;
        int rc = parse_string(p, &key, &key_len);
        if (rc)
            return rc;
        skip_ws(p);
        if (peek(p) != ':')
            return fail_expected(p, "':' after object key");
        p->pos++;
        skip_ws(p);
        json_value item;
        if ((rc = parse_value(p, &item, depth + 1)))
            return rc;
        if ((rc = push_pending(p, &item, key, key_len)))
            return rc;
        skip_ws(p);
        int c = peek(p);
        if (c == ',') {
            p->pos++;
            skip_ws(p);
            continue;
        }
        if (c == '}') {
            p->pos++;
            return close_container(p, v, base, 1);
        }
        return fail_expected(p, "',' or '}' in object");
    }
}

static int parse_literal(parser *p, const char *word, size_t n)
{
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0)
        return fail(p, p->pos, "invalid literal (expected '%s')", word);
    p->pos += n;
    return 0;
}

/* Parses one value at p->pos (whitespace already skipped). `depth` counts
 * the containers enclosing it; a container opened here would be at nesting
 * level depth + 1. */
static int parse_value(parser *p, json_value *v, int depth)
{
    memset(v, 0, sizeof(*v));
    v->offset = p->pos;
    int c = peek(p);
    switch (c) {
    case '{':
    case '[':
        if (depth >= JSON_MAX_DEPTH)
            return fail(p, p->pos, "nesting deeper than %d levels", JSON_MAX_DEPTH);
        return c == '{' ? parse_object(p, v, depth) : parse_array(p, v, depth);
    case '"':
        v->type = JSON_STRING;
        return parse_string(p, &v->str, &v->len);
    case 't':
        v->type = JSON_BOOL;
        v->boolean = 1;
        return parse_literal(p, "true", 4);
    case 'f':
        v->type = JSON_BOOL;
        return parse_literal(p, "false", 5);
    case 'n':
        v->type = JSON_NULL;
        return parse_literal(p, "null", 4);
    default:
        if (c == '-' || (c >= '0' && c <= '9'))
            return parse_number(p, v);
        return fail_expected(p, "a value");
    }
}

/* ------------------------------------------------------------------------ */
/* Public API                                                                 */

int json_parse(const char *text, size_t len, json_doc **out, char *err, size_t err_size)
{
    if (err && err_size > 0)
        err[0] = '\0';
    if (!out) {
        if (err && err_size > 0)
            snprintf(err, err_size, "json: no output pointer");
        return -1;
    }
    *out = NULL;
    if (!text && len > 0) {
        if (err && err_size > 0)
            snprintf(err, err_size, "json: no input text");
        return -1;
    }

    parser p;
    memset(&p, 0, sizeof(p));
    p.s = (const unsigned char *)(text ? text : "");
    p.len = len;
    p.err = err;
    p.err_size = err_size;
    /* First chunk sized from the input, so small documents need one malloc. */
    p.a.next_cap = len < ((size_t)1 << 20) ? len * 2 : ((size_t)1 << 21);

    /* A UTF-8 byte order mark may precede the text (RFC 8259, 8.1). */
    if (len >= 3 && p.s[0] == 0xEF && p.s[1] == 0xBB && p.s[2] == 0xBF)
        p.pos = 3;

    json_value root;
    skip_ws(&p);
    int rc = parse_value(&p, &root, 0);
    if (rc == 0) {
        skip_ws(&p);
        if (p.pos < p.len)
            rc = fail_expected(&p, "end of input after the top-level value");
    }
    json_doc *doc = NULL;
    if (rc == 0) {
        doc = arena_alloc(&p.a, sizeof(*doc), alignof(json_doc));
        if (!doc)
            rc = fail_oom(&p);
    }
    free(p.stack);
    if (rc != 0) {
        arena_release(p.a.head);
        return rc;
    }
    doc->root = root;
    doc->chunks = p.a.head;
    *out = doc;
    return 0;
}

const json_value *json_root(const json_doc *doc)
{
    return doc ? &doc->root : NULL;
}

void json_free(json_doc *doc)
{
    if (doc)
        arena_release(doc->chunks); /* doc itself lives in one of the chunks */
}

const json_value *json_get(const json_value *v, const char *key)
{
    if (!v || v->type != JSON_OBJECT || !key)
        return NULL;
    size_t klen = strlen(key);
    /* Scan backwards: the last duplicate wins, as in most JSON libraries. */
    for (size_t k = v->n; k-- > 0;)
        if (v->key_lens[k] == klen && memcmp(v->keys[k], key, klen) == 0)
            return &v->items[k];
    return NULL;
}

const json_value *json_at(const json_value *v, size_t i)
{
    if (!v || v->type != JSON_ARRAY || i >= v->n)
        return NULL;
    return &v->items[i];
}

const char *json_type_name(enum json_type t)
{
    switch (t) {
    case JSON_NULL: return "null";
    case JSON_BOOL: return "bool";
    case JSON_NUMBER: return "number";
    case JSON_STRING: return "string";
    case JSON_ARRAY: return "array";
    case JSON_OBJECT: return "object";
    }
    return "invalid";
}
