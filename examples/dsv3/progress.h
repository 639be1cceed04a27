/* progress.h -- progress of a long step on stderr: a live bar redrawn in
 * place when stderr is a terminal, a plain line at every tenth of the work
 * when it is a file or a pipe (where "\r" redraws would pile up into one
 * unreadable line). */
#ifndef DSV3_CLI_PROGRESS_H
#define DSV3_CLI_PROGRESS_H

#include <stdint.h>

typedef struct cli_progress {
    const char *label; /* "dsv3 perplexity" */
    const char *unit;  /* "tokens"          */
    uint64_t total;
    double t0, last;
    int tty, last_tenth, shown;
} cli_progress;

void cli_progress_start(cli_progress *p, const char *label, const char *unit, uint64_t total);
/* done units of total; extra (may be NULL) is appended, e.g. "ppl 12.3". */
void cli_progress_update(cli_progress *p, uint64_t done, const char *extra);
/* Ends the live line (a newline on a terminal once something was drawn). */
void cli_progress_end(cli_progress *p);

#endif
