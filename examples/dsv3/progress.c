/* progress.c -- see progress.h. */
#include "progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void cli_progress_start(cli_progress *p, const char *label, const char *unit, uint64_t total) {
    p->label = label;
    p->unit = unit;
    p->total = total;
    p->t0 = p->last = now_s();
    p->tty = isatty(2);
    p->last_tenth = 0;
    p->shown = 0;
}

void cli_progress_update(cli_progress *p, uint64_t done, const char *extra) {
    const double t = now_s(), frac = p->total ? (double)done / (double)p->total : 1.0;
    const double rate = t > p->t0 ? (double)done / (t - p->t0) : 0.0;
    if (p->tty) {
        /* at most ten redraws a second, and always the last one */
        if (done < p->total && t - p->last < 0.1) return;
        p->last = t;
        char bar[31];
        int fill = (int)(frac * 30.0);
        for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
        bar[30] = 0;
        fprintf(stderr, "\r%s [%s] %5.1f%% %llu/%llu %s, %.1f/s %s\033[K", p->label, bar, 100.0 * frac,
                (unsigned long long)done, (unsigned long long)p->total, p->unit, rate, extra ? extra : "");
    } else {
        int tenth = (int)(frac * 10.0);
        if (tenth <= p->last_tenth) return;
        p->last_tenth = tenth;
        fprintf(stderr, "%s: %3d%% %llu/%llu %s, %.1f/s %s\n", p->label, (int)(100.0 * frac), (unsigned long long)done,
                (unsigned long long)p->total, p->unit, rate, extra ? extra : "");
    }
    p->shown = 1;
}

void cli_progress_end(cli_progress *p) {
    if (p->tty && p->shown) fputc('\n', stderr);
    p->shown = 0;
}
