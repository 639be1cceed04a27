/* main.c -- the dsv3 command-line program: dispatch to subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "dsv3.h"

static void usage(FILE *f) {
    fprintf(f,
            "dsv3 %s -- DeepSeek-V3-architecture runtime\n"
            "usage: dsv3 <command> [options]\n"
            "  info        -m PATH                      model facts\n"
            "  logits      -m PATH --tokens 1,2,3 [--all] [--backend NAME] [-t N] --out FILE\n"
            "  mtp-logits  -m PATH --tokens 1,2,3 --out FILE\n"
            "  synth       --shape tiny|v2-lite|v3|k2|moonlight [--layers N] [--experts N]\n"
            "              [--dtype f32|bf16|fp8] [--seed S] [--shard-mb MB] [--no-mtp]\n"
            "              (-o DIR | -o FILE.gguf [--type Q8_0|Q4_0|Q4_K|Q5_K|Q6_K|BF16|F16|F32])\n"
            "  tokenize    (-m PATH | --tokenizer PATH) (--text STR | --text-file FILE) [--bos]\n"
            "  detokenize  (-m PATH | --tokenizer PATH) --ids 1,2,3\n"
            "  chat-template (-m PATH | --tokenizer PATH) --messages FILE.json [--add-generation-prompt]\n"
            "  run         -m PATH (-p PROMPT | --tokens 1,2,3) [-n N] [--temp T] [--top-k K] [--top-p P]\n"
            "              [--min-p P] [--repeat-penalty R] [--seed S] [-c CTX] [-t N] [--backend NAME]\n"
            "              [--kv-type f32|f16|q8_0]\n"
            "  chat        -m PATH [sampling options]   (/reset, /quit)\n"
            "  bench       -m PATH [-p 512] [-n 128] [-t N] [--backend NAME] [--kv-type f32|f16|q8_0] [--json]\n"
            "  perplexity  -m PATH -f FILE [--ctx N] [-t N]\n"
            "  convert     -m HF_DIR -o OUT.gguf --type Q8_0|Q4_0|Q4_K|Q5_K|Q6_K|BF16|F16|F32\n"
            "              [--keep-mtp] [-t N] [--quiet]\n"
            "  backends                                  compiled-in backends and availability\n"
            "  version\n",
            dsv3_version_string());
}

/* The compiled-in backends, whether this CPU can run them, and which one
 * "auto" picks (the library's choice, seen through a tiny query). */
static int cmd_backends(void) {
    int avail;
    for (int i = 0; dsv3_backend_name(i, &avail); i++)
        printf("%-8s %s\n", dsv3_backend_name(i, NULL), avail ? "available" : "not supported by this CPU");
    printf("auto     picks the available backend with the highest priority (SIMD before scalar)\n");
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return 2; }
    const char *c = argv[1];
    if (!strcmp(c, "info")) return cmd_info(argc - 1, argv + 1);
    if (!strcmp(c, "logits")) return cmd_logits(argc - 1, argv + 1);
    if (!strcmp(c, "mtp-logits")) return cmd_mtp_logits(argc - 1, argv + 1);
    if (!strcmp(c, "synth")) return cmd_synth_any(argc - 1, argv + 1);
    if (!strcmp(c, "bench")) return cmd_bench(argc - 1, argv + 1);
    if (!strcmp(c, "perplexity")) return cmd_perplexity(argc - 1, argv + 1);
    if (!strcmp(c, "tokenize")) return cmd_tokenize(argc - 1, argv + 1);
    if (!strcmp(c, "detokenize")) return cmd_detokenize(argc - 1, argv + 1);
    if (!strcmp(c, "chat-template")) return cmd_chat_template(argc - 1, argv + 1);
    if (!strcmp(c, "run")) return cmd_run(argc - 1, argv + 1);
    if (!strcmp(c, "chat")) return cmd_chat(argc - 1, argv + 1);
    if (!strcmp(c, "convert")) return cmd_convert(argc - 1, argv + 1);
    if (!strcmp(c, "backends")) return cmd_backends();
    if (!strcmp(c, "version") || !strcmp(c, "--version")) { printf("%s\n", dsv3_version_string()); return 0; }
    if (!strcmp(c, "help") || !strcmp(c, "-h") || !strcmp(c, "--help")) { usage(stdout); return 0; }
    fprintf(stderr, "dsv3: unknown command '%s'\n", c);
    usage(stderr);
    return 2;
}
