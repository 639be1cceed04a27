/* cmd_synth_gguf.c -- `dsv3 synth ... -o FILE.gguf --type T`: the GGUF
 * writer of `dsv3 convert` fed straight from synth's generator, one tensor
 * at a time (see synth.h). The file is what converting `dsv3 synth -o DIR`
 * would give, byte for byte, without DIR. Other -o values write the
 * checkpoint directory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "convert.h"
#include "synth.h"

static const st_tensor *out_find(void *ctx, const char *name) {
    const synth_out *o = ctx;
    for (size_t i = 0; i < o->n_tensors; i++)
        if (!strcmp(o->tensors[i].name, name)) return &o->tensors[i];
    return NULL;
}
static size_t out_count(void *ctx) { return ((const synth_out *)ctx)->n_tensors; }
static const st_tensor *out_at(void *ctx, size_t i) { return &((const synth_out *)ctx)->tensors[i]; }

/* The source's load/unload take the synth_out; pass them on to synth's own. */
static int out_load(void *ctx, const st_tensor *t, char *err, size_t err_size) {
    const synth_out *o = ctx;
    return o->load(o->ctx, t, err, err_size);
}
static void out_unload(void *ctx, const st_tensor *t) {
    const synth_out *o = ctx;
    o->unload(o->ctx, t);
}

static int write_gguf(const synth_out *o) {
    int ti = convert_type_index(o->type);
    if (ti < 0) {
        fprintf(stderr, "dsv3 synth: --type %s is not one of %s\n(dsv3 synth --help lists the options)\n", o->type,
                convert_type_names());
        return 2;
    }
    dsv3_err e;
    err_clear(&e);
    dsv3_config cfg;
    if (config_parse_hf(o->config_json, o->config_len, &cfg, &e)) {
        fprintf(stderr, "dsv3 synth: internal error: the generated config.json does not parse: %s\n", e.msg);
        return 1;
    }
    /* general.name: the file's base name without .gguf */
    char name[256];
    const char *b = strrchr(o->path, '/');
    b = b ? b + 1 : o->path;
    snprintf(name, sizeof name, "%.*s", (int)(strlen(b) > 5 ? strlen(b) - 5 : strlen(b)), b);
    convert_job j = {.label = "dsv3 synth", .in_name = "(generated)", .model_name = name, .tokenizer_dir = NULL,
                     .out = o->path, .cfg = &cfg, .src = {out_find, out_count, out_at, out_load, out_unload, (void *)o},
                     .origin = o->origin, .type = ti, .keep_mtp = o->has_mtp, .threads = o->threads, .quiet = 0};
    return convert_run(&j);
}

int cmd_synth_any(int argc, char **argv) { return cmd_synth_to(argc, argv, write_gguf); }
