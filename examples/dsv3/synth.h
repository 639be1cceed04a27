/* synth.h -- `dsv3 synth` writing a GGUF file: cmd_synth.c describes the
 * checkpoint it would write and produces each tensor's bytes on demand;
 * the GGUF writer (cmd_synth_gguf.c, through convert.h) pulls them one
 * tensor at a time, so the full-precision checkpoint never touches disk. */
#ifndef DSV3_CLI_SYNTH_H
#define DSV3_CLI_SYNTH_H

#include <stddef.h>

#include "cli.h"
#include "safetensors.h"

typedef struct synth_out {
    const char *path;          /* -o FILE.gguf                              */
    const char *type;          /* --type                                    */
    int threads, has_mtp;
    const char *config_json;   /* the config.json the directory would have  */
    size_t config_len;
    st_tensor *tensors;        /* data NULL until load()                    */
    size_t n_tensors;
    synth_origin origin;
    int (*load)(void *ctx, const st_tensor *t, char *err, size_t err_size);
    void (*unload)(void *ctx, const st_tensor *t);
    void *ctx;
} synth_out;

/* `dsv3 synth`; gguf writes -o FILE.gguf (NULL: such an -o is refused, for
 * programs that link the checkpoint writer alone). */
int cmd_synth_to(int argc, char **argv, int (*gguf)(const synth_out *out));

#endif
