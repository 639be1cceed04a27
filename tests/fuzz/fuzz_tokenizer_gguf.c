/* fuzz_tokenizer_gguf.c -- the tokenizer of a GGUF file's tokenizer.ggml.*
 * metadata (lib/tokenizer_gguf.c), read in memory: gguf_open_memory, then
 * tokenizer_from_gguf. A file without a tokenizer gives NOT_FOUND; other
 * refusals BAD_FILE / UNSUPPORTED / BAD_CONFIG / NO_MEMORY with a message
 * naming the source; a tokenizer that loads is exercised by
 * fuzz_tok_exercise. */
#include "fuzz_util.h"

#include "fuzz_tok_common.h"
#include "gguf.h"
#include "tokenizer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *buf = malloc(size ? size : 1); /* exact size: ASan sees overreads */
    FUZZ_ASSERT(buf);
    if (size) memcpy(buf, data, size);
    gguf_file *f = NULL;
    dsv3_err e;
    err_clear(&e);
    if (gguf_open_memory(buf, size, &f, &e) != DSV3_OK) {
        free(buf);
        return 0;
    }
    dsv3_tokenizer *t = NULL;
    err_clear(&e);
    int rc = tokenizer_from_gguf(f, "fuzz.gguf", &t, &e);
    if (rc) {
        FUZZ_ASSERT(!t && e.status == rc && e.msg[0]);
        FUZZ_ASSERT(rc == DSV3_ERR_NOT_FOUND || rc == DSV3_ERR_BAD_FILE || rc == DSV3_ERR_UNSUPPORTED ||
                    rc == DSV3_ERR_BAD_CONFIG || rc == DSV3_ERR_NO_MEMORY);
    } else {
        /* The tokenizer owns copies: it must outlive the file's bytes. */
        gguf_close(f);
        f = NULL;
        free(buf);
        buf = NULL;
        fuzz_tok_exercise(t, NULL, 0);
        dsv3_tokenizer_free(t);
    }
    gguf_close(f);
    free(buf);
    return 0;
}
