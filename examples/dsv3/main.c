/* main.c -- the dsv3 command-line program: dispatch to subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "options.h"
#include "dsv3.h"

static const struct {
    const char *name, *what;
} COMMANDS[] = {
    {"run", "continue a prompt (-p TEXT or -f FILE), streaming the text"},
    {"chat", "talk with a chat model, one message per line"},
    {"info", "model facts"},
    {"bench", "prefill and decode speed against this machine's memory bandwidth"},
    {"perplexity", "perplexity of a text file"},
    {"tokenize", "text to token ids"},
    {"detokenize", "token ids to text"},
    {"chat-template", "render a conversation with the model's chat template"},
    {"logits", "write the logits of a token sequence to a file"},
    {"mtp-logits", "write the multi-token-prediction layer's logits to a file"},
    {"convert", "a Hugging Face checkpoint to a GGUF file (Q4_K, Q8_0, ...)"},
    {"synth", "write a random-weight checkpoint of a real model's shape"},
    {"backends", "compiled-in backends, their devices, and whether this machine runs them"},
    {"version", "the library's version"},
};

static void usage(FILE *f) {
    fprintf(f, "dsv3 %s -- DeepSeek-V3-architecture runtime\nusage: dsv3 <command> [options]\n\ncommands:\n",
            dsv3_version_string());
    for (size_t i = 0; i < sizeof COMMANDS / sizeof COMMANDS[0]; i++) fprintf(f, "  %-14s %s\n", COMMANDS[i].name, COMMANDS[i].what);
    fprintf(f, "\n`dsv3 <command> --help` gives a command's options and their defaults. Commands that take\n"
               "-m PATH use the bundled demo model without it (or $DSV3_MODEL when set).\n"
               "example:\n  dsv3 run -p 'It is a truth universally acknowledged' -n 48\n");
}

/* Commands without options still answer --help and refuse arguments. */
static int no_options(int argc, char **argv, const char *name, const char *about, const char *example) {
    const cli_cmd c = {name, "", about, example, NULL, 0};
    int pr = cli_parse(&c, argc, argv);
    return pr == 1 ? -1 : pr;
}

/* The compiled-in backends with what each says about this machine (a
 * device backend lists its devices, or why it cannot run), and which one
 * "auto" picks: the library's own texts, the first line beside the name. */
static int cmd_backends(void) {
    for (int i = 0; dsv3_backend_name(i, NULL); i++) {
        char text[8192];
        int rc = dsv3_backend_describe(i, text, sizeof text);
        if (rc && rc != DSV3_ERR_TOO_SMALL) snprintf(text, sizeof text, "(no description: %s)", dsv3_status_string(rc));
        const char *label = dsv3_backend_name(i, NULL);
        for (const char *p = text; *p;) {
            size_t l = strcspn(p, "\n");
            printf("%-8s %.*s\n", label, (int)l, p);
            label = "";
            p += l + (p[l] == '\n');
        }
    }
    printf("auto     picks the available backend with the highest priority (a GPU, then SIMD, then scalar);\n"
           "         a device backend takes :N for device N (e.g. --backend vulkan:1)\n");
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return 2; }
    const char *c = argv[1];
    /* `dsv3 help CMD` is `dsv3 CMD --help` */
    char *help_argv[] = {argv[0], argc > 2 ? argv[2] : NULL, "--help", NULL};
    if (!strcmp(c, "help") && argc == 3) {
        argc = 3;
        argv = help_argv;
        c = argv[1];
    }
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
    if (!strcmp(c, "backends")) {
        int pr = no_options(argc - 1, argv + 1, "backends", "List the compiled-in backends, what each says about this machine (a GPU backend: its\ndevices, driver, memory and missing features, or why it cannot run), and which one\n\"auto\" picks.", "  dsv3 backends");
        return pr ? (pr < 0 ? 0 : pr) : cmd_backends();
    }
    if (!strcmp(c, "version") || !strcmp(c, "--version")) {
        int pr = no_options(argc - 1, argv + 1, "version", "Print the library's version.", "  dsv3 version");
        if (pr) return pr < 0 ? 0 : pr;
        printf("%s\n", dsv3_version_string());
        return 0;
    }
    if (!strcmp(c, "help") || !strcmp(c, "-h") || !strcmp(c, "--help")) { usage(stdout); return 0; }
    fprintf(stderr, "dsv3: unknown command '%s'\n", c);
    usage(stderr);
    return 2;
}
