/* options.h -- the one option parser of the dsv3 program.
 *
 * Every command describes its options as a table of cli_opt rows and calls
 * cli_parse(); the same table prints `dsv3 CMD --help`. Adding an option
 * is one row in the command's table: a field in its options struct, and
 * for run and chat (cmd_text.c's parse(), under `if (run || chat)`):
 *
 *     ADD(OPT_INT("--mtp-depth", NULL, &o->mtp_depth, 1, 8, "K", "draft tokens per step"));
 *     ADD(OPT_FLAG("--mtp", NULL, &o->mtp, "speculative decoding with the MTP layer"));
 *
 * The field's value before cli_parse() is the default that --help shows
 * (or set the row's .def to a text). Range errors, --help and the
 * "--opt=value" form then come for free. Kinds: OPT_FLAG (no value,
 * sets an int to 1), OPT_STR, OPT_INT (int, checked against [lo, hi]),
 * OPT_U64, OPT_FLOAT (float, [lo, hi]; OPT_FLOAT_X makes either end open),
 * OPT_CHOICE ("a|b|c" -> the index into an int), OPT_BYTES (a uint64_t
 * byte count with an optional K, M or G suffix: powers of 1024).
 *
 * Numbers are read in full: "12abc", "", overflow and values outside the
 * range are refused with a message naming the option and the allowed
 * range. "--opt value" and "--opt=value" are both accepted. */
#ifndef DSV3_CLI_OPTIONS_H
#define DSV3_CLI_OPTIONS_H

#include <stdint.h>
#include <stdio.h>

enum cli_opt_kind { CLI_FLAG, CLI_STR, CLI_INT, CLI_U64, CLI_FLOAT, CLI_CHOICE, CLI_BYTES };

/* open ends of a float range */
#define CLI_LO_OPEN 1
#define CLI_HI_OPEN 2

typedef struct cli_opt {
    const char *name;    /* "--top-p"                                  */
    const char *alias;   /* "-p", or NULL                              */
    int kind;            /* enum cli_opt_kind                          */
    void *dst;           /* int*, const char**, uint64_t*, float*      */
    double lo, hi;       /* CLI_INT, CLI_FLOAT: allowed range          */
    int open;            /* CLI_FLOAT: CLI_LO_OPEN | CLI_HI_OPEN       */
    const char *meta;    /* value name in --help, or the choices       */
    const char *help;    /* one line                                   */
    const char *def;     /* default shown by --help (NULL: the value)  */
} cli_opt;

#define OPT_FLAG(n, a, d, h) {(n), (a), CLI_FLAG, (d), 0, 0, 0, NULL, (h), NULL}
#define OPT_STR(n, a, d, m, h) {(n), (a), CLI_STR, (d), 0, 0, 0, (m), (h), NULL}
#define OPT_INT(n, a, d, lo, hi, m, h) {(n), (a), CLI_INT, (d), (lo), (hi), 0, (m), (h), NULL}
#define OPT_U64(n, a, d, m, h) {(n), (a), CLI_U64, (d), 0, 0, 0, (m), (h), NULL}
#define OPT_FLOAT(n, a, d, lo, hi, m, h) {(n), (a), CLI_FLOAT, (d), (lo), (hi), 0, (m), (h), NULL}
#define OPT_FLOAT_X(n, a, d, lo, hi, open, m, h) {(n), (a), CLI_FLOAT, (d), (lo), (hi), (open), (m), (h), NULL}
#define OPT_CHOICE(n, a, d, choices, h) {(n), (a), CLI_CHOICE, (d), 0, 0, 0, (choices), (h), NULL}
#define OPT_BYTES(n, a, d, m, h) {(n), (a), CLI_BYTES, (d), 0, 0, 0, (m), (h), NULL}

/* The device options of every command that loads a model: --placement
 * (an OPT_CHOICE of these, in this order) and --gpu-budget (OPT_BYTES). */
#define CLI_PLACEMENTS "auto|gpu|experts-on-cpu"
/* --repack's help (dsv3_model_params.repack) */
#define CLI_REPACK_HELP "pack Q8_0/Q4_0/Q5_0 weights for the x86 CPU kernels (faster; costs RAM equal to them)"
/* The dsv3_model_params.placement string of a --placement index. */
const char *cli_placement_name(int index);

typedef struct cli_cmd {
    const char *name;    /* "run"                                      */
    const char *usage;   /* the synopsis after "dsv3 run "             */
    const char *about;   /* what the command does (may span lines)     */
    const char *example; /* one or more example command lines          */
    const cli_opt *opts;
    int n_opts;
} cli_cmd;

/* Parse argv[1..argc) (argv[0] is the command name). Returns 0 when parsed,
 * 1 when --help was printed on stdout (exit 0), 2 after a usage error was
 * printed on stderr (exit 2). Arguments that are not options are refused. */
int cli_parse(const cli_cmd *cmd, int argc, char **argv);
/* The --help text: usage, about, every option with its default, example. */
void cli_help(const cli_cmd *cmd, FILE *f);
/* "dsv3 CMD: <message>" and a pointer to --help, on stderr; returns 2. */
int cli_usage_error(const cli_cmd *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
