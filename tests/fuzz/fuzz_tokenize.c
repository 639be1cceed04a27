/* fuzz_tokenize.c -- text to encode: arbitrary bytes (up to 64 KiB with
 * -max_len=65536) through the real DeepSeek-V3 tokenizer (see
 * fuzz_tokenizer_path.h), with tokenize.dict holding its special tokens.
 *
 * The first byte picks the flags (bit 0: DSV3_TOKENIZE_NO_ADDED, bit 1:
 * DSV3_TOKENIZE_ADD_BOS); the rest is the text. Checked: ids inside the
 * vocabulary, the size query and a one-short buffer agree, the decoded
 * text is valid UTF-8 and equals the input when that is valid UTF-8
 * (whether added-token text was matched or not), streaming decode ==
 * batch decode, and ADD_BOS gives the BOS id followed by exactly the
 * encoding without it. */
#include "fuzz_util.h"

#include "fuzz_tok_common.h"
#include "fuzz_tokenizer_path.h"

static dsv3_tokenizer *g_tok;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    g_tok = fuzz_load_tokenizer("fuzz_tokenize");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!size) return 0;
    unsigned flags = (data[0] & 1 ? DSV3_TOKENIZE_NO_ADDED : 0) | (data[0] & 2 ? DSV3_TOKENIZE_ADD_BOS : 0);
    /* An exactly sized copy of the text: ASan sees any read past it. */
    size_t n = size - 1;
    char *text = malloc(n ? n : 1);
    FUZZ_ASSERT(text);
    if (n) memcpy(text, data + 1, n);
    const int32_t bos = dsv3_tokenizer_bos(g_tok);
    if (flags & DSV3_TOKENIZE_ADD_BOS && bos >= 0 && n <= 4096) {
        size_t a = 0, b = 0;
        dsv3_tokenize(g_tok, text, n, flags, NULL, 0, &a);
        dsv3_tokenize(g_tok, text, n, flags & ~DSV3_TOKENIZE_ADD_BOS, NULL, 0, &b);
        FUZZ_ASSERT(a == b + 1);
        int32_t *x = malloc(sizeof *x * a), *y = malloc(sizeof *y * (b + 1));
        FUZZ_ASSERT(x && y);
        FUZZ_ASSERT(dsv3_tokenize(g_tok, text, n, flags, x, a, &a) == DSV3_OK);
        FUZZ_ASSERT(dsv3_tokenize(g_tok, text, n, flags & ~DSV3_TOKENIZE_ADD_BOS, y, b, &b) == DSV3_OK);
        FUZZ_ASSERT(x[0] == bos && !memcmp(x + 1, y, sizeof *y * b));
        free(x);
        free(y);
    }
    flags &= ~DSV3_TOKENIZE_ADD_BOS; /* the round trip compares text, which has no BOS */
    fuzz_tok_roundtrip(g_tok, text, n, flags, 1);
    free(text);
    return 0;
}
