/* pretokenize.h -- DeepSeek-V3's pre-tokenizer: three regex Splits
 * (behavior Isolated), hand-written as scanners over code points. */
#ifndef DSV3_PRETOKENIZE_H
#define DSV3_PRETOKENIZE_H

#include <stddef.h>

/* Receives each piece in order (never empty). A nonzero return stops the
 * scan and is returned by pretokenize_deepseek_v3. */
typedef int (*pretok_fn)(void *ctx, const char *piece, size_t len);

/* Split s[0..n) (valid UTF-8) into pieces. Returns 0 or the callback's
 * nonzero value. Linear time. */
int pretokenize_deepseek_v3(const char *s, size_t n, pretok_fn fn, void *ctx);

#endif
