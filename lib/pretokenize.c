/* pretokenize.c -- DeepSeek-V3's pre-tokenizer without a regex library.
 *
 * tokenizer.json chains three Splits (behavior Isolated, invert false): each
 * runs on every piece the previous one produced, and both the matches and
 * the stretches between them become pieces. The piece is the whole subject
 * string of the regex, so "end of input" below means the end of the piece.
 *
 *   1. \p{N}{1,3}
 *   2. [\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+
 *   3. A1 [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+
 *      A2 |[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+
 *      A3 | ?[\p{P}\p{S}]+[\r\n]*
 *      A4 |\s*[\r\n]+
 *      A5 |\s+(?!\S)
 *      A6 |\s+
 *
 * The regexes run in Oniguruma: the search tries each start position from
 * the left, and at a position the alternatives in order (leftmost-first);
 * quantifiers are greedy and backtrack. Worked out for regex 3 at a start
 * character c (the next character is c2):
 *   A1: c is ASCII punctuation and c2 an ASCII letter: c + the ASCII letters.
 *   A2: the optional class is tried first: if c is not CR/LF/L/P/S and c2 is
 *       L or M: c + the run of L/M. Otherwise (no prefix) if c is L or M:
 *       the run of L/M from c.
 *   A3: if c is U+0020 and c2 is P or S: the space, the run of P/S, then
 *       the run of CR/LF. Otherwise if c is P or S: the same without space.
 *   For whitespace c, let W be the maximal \s run from c:
 *   A4: \s* takes W, then gives back characters until [\r\n]+ matches: the
 *       match ends just after the last CR/LF inside W (fails without one).
 *   A5: \s+ takes W; (?!\S) holds at the end of input; otherwise \s+ gives
 *       back one character (the lookahead then sees whitespace), which needs
 *       |W| >= 2.
 *   A6: W.
 *   No alternative matches characters like digits, controls other than
 *   \t\n\v\f\r, format characters (ZWJ, U+FEFF) and unassigned code points
 *   when no letter follows; they are skipped and, with neighbouring
 *   skipped characters, become one piece. */
#include "pretokenize.h"

#include <stdint.h>

#include "unicode.h"

/* The next code point of valid UTF-8 at p; *len gets its byte length. */
static inline uint32_t utf8_next(const unsigned char *p, size_t *len) {
    unsigned b = p[0];
    if (b < 0x80) {
        *len = 1;
        return b;
    }
    if (b < 0xE0) {
        *len = 2;
        return ((uint32_t)(b & 0x1F) << 6) | (p[1] & 0x3Fu);
    }
    if (b < 0xF0) {
        *len = 3;
        return ((uint32_t)(b & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3Fu);
    }
    *len = 4;
    return ((uint32_t)(b & 0x07) << 18) | ((uint32_t)(p[1] & 0x3F) << 12) | ((uint32_t)(p[2] & 0x3F) << 6) |
           (p[3] & 0x3Fu);
}

static inline int is_cjk(uint32_t c) { return (c >= 0x4E00 && c <= 0x9FA5) || (c >= 0x3040 && c <= 0x30FF); }
static inline int is_ascii_alpha(unsigned c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
/* The 32 characters of A1's first class: all ASCII punctuation. */
static inline int is_ascii_punct(uint32_t c) {
    return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E);
}
static inline int is_crlf(uint32_t c) { return c == '\r' || c == '\n'; }

/* End (byte offset) of the run of characters from i whose flags meet mask. */
static size_t run_of(const unsigned char *s, size_t i, size_t n, unsigned mask) {
    while (i < n) {
        size_t l;
        uint32_t c = utf8_next(s + i, &l);
        if (!(unicode_flags(c) & mask)) break;
        i += l;
    }
    return i;
}

static size_t crlf_run(const unsigned char *s, size_t i, size_t n) {
    while (i < n && (s[i] == '\r' || s[i] == '\n')) i++;
    return i;
}

/* Regex 3 at byte offset i (a character boundary, i < n): the end of the
 * match, or 0 when no alternative matches there. */
static size_t match3(const unsigned char *s, size_t i, size_t n) {
    size_t l;
    uint32_t c = utf8_next(s + i, &l);
    unsigned f = unicode_flags(c);
    size_t j = i + l; /* start of the next character */
    uint32_t c2 = 0;
    unsigned f2 = 0;
    size_t l2 = 0;
    if (j < n) {
        c2 = utf8_next(s + j, &l2);
        f2 = unicode_flags(c2);
    }

    /* A1 */
    if (is_ascii_punct(c) && j < n && c2 < 0x80 && is_ascii_alpha(c2)) {
        size_t k = j + 1;
        while (k < n && is_ascii_alpha(s[k])) k++;
        return k;
    }
    /* A2 */
    if (!is_crlf(c) && !(f & (UNICODE_L | UNICODE_P | UNICODE_S)) && (f2 & (UNICODE_L | UNICODE_M)))
        return run_of(s, j, n, UNICODE_L | UNICODE_M);
    if (f & (UNICODE_L | UNICODE_M)) return run_of(s, j, n, UNICODE_L | UNICODE_M);
    /* A3 */
    if (c == ' ' && (f2 & (UNICODE_P | UNICODE_S))) return crlf_run(s, run_of(s, j, n, UNICODE_P | UNICODE_S), n);
    if (f & (UNICODE_P | UNICODE_S)) return crlf_run(s, run_of(s, j, n, UNICODE_P | UNICODE_S), n);
    if (!(f & UNICODE_WS)) return 0;

    /* Whitespace: W = [i, w_end). */
    size_t w_end = i, last_start = i, after_crlf = 0, count = 0;
    while (w_end < n) {
        size_t lw;
        uint32_t cw = utf8_next(s + w_end, &lw);
        if (!(unicode_flags(cw) & UNICODE_WS)) break;
        if (is_crlf(cw)) after_crlf = w_end + lw;
        last_start = w_end;
        w_end += lw;
        count++;
    }
    if (after_crlf) return after_crlf;      /* A4 */
    if (w_end == n) return w_end;           /* A5 at the end of input */
    if (count >= 2) return last_start;      /* A5, one character given back */
    return w_end;                           /* A6 */
}

static int split3(const char *text, size_t n, pretok_fn fn, void *ctx) {
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0, gap = 0;
    while (i < n) {
        size_t end = match3(s, i, n);
        if (end) {
            int rc;
            if (gap < i && (rc = fn(ctx, text + gap, i - gap))) return rc;
            if ((rc = fn(ctx, text + i, end - i))) return rc;
            i = gap = end;
        } else {
            size_t l;
            (void)utf8_next(s + i, &l);
            i += l;
        }
    }
    if (gap < n) return fn(ctx, text + gap, n - gap);
    return 0;
}

static int split2(const char *text, size_t n, pretok_fn fn, void *ctx) {
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0, gap = 0;
    while (i < n) {
        if (s[i] < 0xE3 || s[i] > 0xE9) { /* every CJK/kana character starts with E3..E9 */
            i++;
            continue;
        }
        size_t l;
        uint32_t c = utf8_next(s + i, &l);
        if (!is_cjk(c)) {
            i += l;
            continue;
        }
        size_t j = i + l;
        while (j < n) {
            size_t l2;
            uint32_t c2 = utf8_next(s + j, &l2);
            if (!is_cjk(c2)) break;
            j += l2;
        }
        int rc;
        if (gap < i && (rc = split3(text + gap, i - gap, fn, ctx))) return rc;
        if ((rc = split3(text + i, j - i, fn, ctx))) return rc;
        i = gap = j;
    }
    if (gap < n) return split3(text + gap, n - gap, fn, ctx);
    return 0;
}

int pretokenize_deepseek_v3(const char *text, size_t n, pretok_fn fn, void *ctx) {
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0, gap = 0;
    while (i < n) {
        size_t l;
        uint32_t c = utf8_next(s + i, &l);
        if (!(unicode_flags(c) & UNICODE_N)) {
            i += l;
            continue;
        }
        size_t j = i + l;
        for (int k = 1; k < 3 && j < n; k++) {
            size_t l2;
            uint32_t c2 = utf8_next(s + j, &l2);
            if (!(unicode_flags(c2) & UNICODE_N)) break;
            j += l2;
        }
        int rc;
        if (gap < i && (rc = split2(text + gap, i - gap, fn, ctx))) return rc;
        if ((rc = split2(text + i, j - i, fn, ctx))) return rc;
        i = gap = j;
    }
    if (gap < n) return split2(text + gap, n - gap, fn, ctx);
    return 0;
}
