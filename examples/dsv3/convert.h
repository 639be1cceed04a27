/* convert.h -- the GGUF writer behind `dsv3 convert`, shared with
 * `dsv3 synth -o FILE.gguf`. The checkpoint's tensors come from a source:
 * a mapped safetensors checkpoint, or tensors that are produced on demand
 * (synth generates each one when the conversion reaches it, so no
 * full-precision copy of the model is ever written to disk). */
#ifndef DSV3_CLI_CONVERT_H
#define DSV3_CLI_CONVERT_H

#include <stddef.h>

#include "cli.h"
#include "config.h"
#include "safetensors.h"

typedef struct convert_src {
    const st_tensor *(*find)(void *ctx, const char *name);
    size_t (*count)(void *ctx);
    const st_tensor *(*at)(void *ctx, size_t i); /* one array: at(i) == at(0) + i */
    /* NULL for a mapped checkpoint. Otherwise load() makes t->data valid
     * (0, or -1 with a message in err) before its rows are read, and
     * unload() says they will not be read again before the next load(). */
    int (*load)(void *ctx, const st_tensor *t, char *err, size_t err_size);
    void (*unload)(void *ctx, const st_tensor *t);
    void *ctx;
} convert_src;

typedef struct convert_job {
    const char *label;         /* "dsv3 convert": prefix of every message    */
    const char *in_name;       /* the checkpoint, for messages               */
    const char *model_name;    /* general.name                               */
    const char *tokenizer_dir; /* tokenizer.json's directory, or NULL        */
    const char *out;           /* the .gguf file                             */
    const dsv3_config *cfg;
    convert_src src;
    synth_origin origin;
    int type;                  /* convert_type_index()                       */
    int keep_mtp, threads, quiet;
} convert_job;

/* Index of a --type name (case-insensitive), or -1. */
int convert_type_index(const char *name);
/* "Q8_0|Q4_0|...": the --type names. */
const char *convert_type_names(void);
/* Write job->out; returns the exit status (0, or 1 after a message). */
int convert_run(const convert_job *job);

#endif
