/* fuzz_tokenizer_path.h -- which tokenizer the text harnesses load:
 * $DSV3_TOKENIZER, else DeepSeek-V3's own from ../shared (128k tokens, 818
 * added ones) when it is there, else the demo model's (committed with the
 * sources). The paths are compiled in by tests/fuzz/fuzz.cmake. */
#ifndef DSV3_FUZZ_TOKENIZER_PATH_H
#define DSV3_FUZZ_TOKENIZER_PATH_H

#include <sys/stat.h>

#include "dsv3.h"

#ifndef DSV3_FUZZ_SHARED_TOKENIZER
#define DSV3_FUZZ_SHARED_TOKENIZER "../shared/tokenizer/deepseek-v3"
#endif
#ifndef DSV3_FUZZ_DEMO_MODEL
#define DSV3_FUZZ_DEMO_MODEL "examples/models/austen-v3-tiny"
#endif

static inline dsv3_tokenizer *fuzz_load_tokenizer(const char *who) {
    const char *path = getenv("DSV3_TOKENIZER");
    struct stat sb;
    if (!path || !*path) path = stat(DSV3_FUZZ_SHARED_TOKENIZER, &sb) == 0 ? DSV3_FUZZ_SHARED_TOKENIZER : DSV3_FUZZ_DEMO_MODEL;
    dsv3_tokenizer *t = NULL;
    char err[512];
    if (dsv3_tokenizer_load(path, &t, err, sizeof err) != DSV3_OK) {
        fprintf(stderr, "%s: cannot load the tokenizer %s: %s\n", who, path, err);
        abort();
    }
    fprintf(stderr, "%s: tokenizer %s\n", who, path);
    return t;
}

#endif
