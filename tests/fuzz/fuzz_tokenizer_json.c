/* fuzz_tokenizer_json.c -- loading a Hugging Face tokenizer.json (and
 * tokenizer_config.json) with lib/tokenizer_hf.c and lib/tokenizer.c's
 * builder.
 *
 * Input: the tokenizer.json text, optionally followed by the separator
 * "\n#tokenizer_config.json#\n" and the tokenizer_config.json text. Each
 * goes to a memfd; tokenizer_load_hf opens them by path. A refusal gives
 * BAD_FILE / UNSUPPORTED / NO_MEMORY and a message naming the file; a
 * tokenizer that loads is exercised by fuzz_tok_exercise (properties,
 * encode/decode of fixed and fuzzed texts, streaming, chat rendering). */
#include "fuzz_util.h"

#include "fuzz_tok_common.h"
#include "tokenizer.h"

#define SEP "\n#tokenizer_config.json#\n"

static fuzz_file g_json, g_cfg;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    fuzz_file_open(&g_json, "tokenizer.json");
    fuzz_file_open(&g_cfg, "tokenizer_config.json");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t n1, n2;
    const uint8_t *p2;
    int has_cfg = fuzz_split(data, size, SEP, &n1, &p2, &n2);
    fuzz_file_set(&g_json, data, n1);
    if (has_cfg) fuzz_file_set(&g_cfg, p2, n2);
    dsv3_tokenizer *t = NULL;
    dsv3_err e;
    err_clear(&e);
    int rc = tokenizer_load_hf(g_json.path, has_cfg ? g_cfg.path : NULL, &t, &e);
    if (rc) {
        FUZZ_ASSERT(!t && e.status == rc && e.msg[0]);
        FUZZ_ASSERT(rc == DSV3_ERR_BAD_FILE || rc == DSV3_ERR_UNSUPPORTED || rc == DSV3_ERR_NO_MEMORY);
        FUZZ_ASSERT(strstr(e.msg, "/proc/self/fd/"));
        return 0;
    }
    FUZZ_ASSERT(t);
    /* Text to encode: the bytes after the config (or a fixed sample). */
    fuzz_tok_exercise(t, has_cfg ? p2 : NULL, has_cfg ? (n2 < 256 ? n2 : 256) : 0);
    dsv3_tokenizer_free(t);
    return 0;
}
