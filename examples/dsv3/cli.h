/* cli.h -- subcommands of the dsv3 command-line program. Each returns the
 * process exit status (0 success); errors go to stderr. */
#ifndef DSV3_CLI_H
#define DSV3_CLI_H

#include <stddef.h>
#include <stdint.h>

int cmd_info(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_mtp_logits(int argc, char **argv);
int cmd_synth(int argc, char **argv);
/* synth, to a directory or (through convert) to a .gguf file */
int cmd_synth_any(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_perplexity(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_detokenize(int argc, char **argv);
int cmd_chat_template(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_convert(int argc, char **argv);

/* "1,2,3" -> malloc'd array and *n; NULL on a malformed or empty list. */
int32_t *parse_tokens(const char *s, int *n);
/* What a `dsv3 synth` checkpoint was cut from (found = 0 for other
 * models): a checkpoint directory's config.json "dsv3_synth" block, or the
 * dsv3.synth.* keys that `dsv3 convert` copies into a GGUF file. */
typedef struct synth_origin {
    int found, layers, dense, experts;
} synth_origin;
synth_origin cli_synth_origin(const char *path);

/* The bundled demo model used when -m is not given (NULL if none). */
const char *cli_default_model(void);
/* Whole file, NUL-terminated, malloc'd; NULL on failure. */
char *read_file(const char *path, size_t *len);

#endif
