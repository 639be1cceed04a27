/* options.c -- the table-driven option parser of the dsv3 program (see
 * options.h). Strict on purpose: a typo in a number must not silently
 * become 0 or a truncated value, so every number is read in full and
 * checked against its range before any work starts. */
#include "options.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int cli_usage_error(const cli_cmd *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "dsv3 %s: ", cmd->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(dsv3 %s --help lists the options)\n", cmd->name);
    return 2;
}

/* A float with few digits: 0.95f prints as 0.95, not 0.949999988. */
static void fmt_float(char *b, size_t n, double v) {
    if (v == floor(v) && fabs(v) < 1e15) {
        snprintf(b, n, "%.0f", v);
        return;
    }
    for (int p = 1; p <= 9; p++) {
        snprintf(b, n, "%.*g", p, v);
        if ((float)strtod(b, NULL) == (float)v) return;
    }
}

static void range_text(const cli_opt *o, char *b, size_t n) {
    char lo[32], hi[32];
    if (o->kind == CLI_INT) {
        snprintf(b, n, "%.0f..%.0f", o->lo, o->hi);
        return;
    }
    fmt_float(lo, sizeof lo, o->lo);
    fmt_float(hi, sizeof hi, o->hi);
    snprintf(b, n, "%s%s, %s%s", o->open & CLI_LO_OPEN ? "(" : "[", lo, hi, o->open & CLI_HI_OPEN ? ")" : "]");
}

/* The choice index of v in "a|b|c", or -1. */
static int choice_index(const char *choices, const char *v) {
    size_t vl = strlen(v);
    int i = 0;
    for (const char *p = choices; *p; i++) {
        const char *bar = strchr(p, '|');
        size_t l = bar ? (size_t)(bar - p) : strlen(p);
        if (l == vl && !strncmp(p, v, l)) return i;
        if (!bar) break;
        p = bar + 1;
    }
    return -1;
}

static const char *choice_name(const char *choices, int idx, char *b, size_t n) {
    const char *p = choices;
    for (int i = 0; i < idx && p; i++) {
        p = strchr(p, '|');
        if (p) p++;
    }
    if (!p) return "?";
    const char *bar = strchr(p, '|');
    snprintf(b, n, "%.*s", (int)(bar ? (size_t)(bar - p) : strlen(p)), p);
    return b;
}

static void default_text(const cli_opt *o, char *b, size_t n) {
    if (o->def) { snprintf(b, n, "%s", o->def); return; }
    switch (o->kind) {
    case CLI_FLAG: snprintf(b, n, "%s", *(const int *)o->dst ? "on" : "off"); break;
    case CLI_STR: snprintf(b, n, "%s", *(const char *const *)o->dst ? *(const char *const *)o->dst : "none"); break;
    case CLI_INT: snprintf(b, n, "%d", *(const int *)o->dst); break;
    case CLI_U64:
    case CLI_BYTES: snprintf(b, n, "%llu", (unsigned long long)*(const uint64_t *)o->dst); break;
    case CLI_FLOAT: fmt_float(b, n, *(const float *)o->dst); break;
    default: choice_name(o->meta, *(const int *)o->dst, b, n); break;
    }
}

void cli_help(const cli_cmd *cmd, FILE *f) {
    fprintf(f, "usage: dsv3 %s %s\n\n%s\n", cmd->name, cmd->usage, cmd->about);
    if (cmd->n_opts) fprintf(f, "\noptions:\n");
    for (int i = 0; i < cmd->n_opts; i++) {
        const cli_opt *o = &cmd->opts[i];
        char left[96], def[160], range[96] = "";
        int l = o->alias ? snprintf(left, sizeof left, "%s, %s", o->alias, o->name) : snprintf(left, sizeof left, "%s", o->name);
        if (o->kind != CLI_FLAG && l > 0 && (size_t)l < sizeof left)
            snprintf(left + l, sizeof left - (size_t)l, " %s", o->meta ? o->meta : "V");
        if (o->kind == CLI_INT || o->kind == CLI_FLOAT) {
            char r[80];
            range_text(o, r, sizeof r);
            snprintf(range, sizeof range, ", allowed %s", r);
        }
        if (strlen(left) > 26) { /* a long value list: the text goes on the next line */
            fprintf(f, "  %s\n", left);
            left[0] = 0;
        }
        if (strstr(o->help, "(required)")) { /* no default to show */
            fprintf(f, "  %-26s %s\n", left, o->help);
            continue;
        }
        default_text(o, def, sizeof def);
        fprintf(f, "  %-26s %s (default: %s%s)\n", left, o->help, def, range);
    }
    fprintf(f, "  %-26s %s\n", "-h, --help", "this text");
    if (cmd->example) fprintf(f, "\nexample:\n%s\n", cmd->example);
}

const char *cli_placement_name(int index) {
    static const char *const names[] = {"auto", "gpu", "experts-on-cpu"};
    return index >= 0 && index < 3 ? names[index] : "auto";
}

/* as typed: "-n" or "--n-predict" */
static const char *g_typed;

static int bad_value(const cli_cmd *cmd, const cli_opt *o, const char *v, const char *what) {
    char r[80];
    if (o->kind == CLI_U64) snprintf(r, sizeof r, "0..18446744073709551615");
    else if (o->kind == CLI_BYTES) snprintf(r, sizeof r, "bytes as N, NK, NM or NG, e.g. 8G; K = 1024");
    else range_text(o, r, sizeof r);
    return cli_usage_error(cmd, "%s '%s': %s (allowed: %s)", g_typed ? g_typed : o->name, v, what, r);
}

static int set_value(const cli_cmd *cmd, const cli_opt *o, const char *v) {
    char *end;
    switch (o->kind) {
    case CLI_STR: *(const char **)o->dst = v; return 0;
    case CLI_INT: {
        errno = 0;
        long long x = strtoll(v, &end, 10);
        if (end == v || *end) return bad_value(cmd, o, v, "not an integer");
        if (errno == ERANGE || (double)x < o->lo || (double)x > o->hi) return bad_value(cmd, o, v, "out of range");
        *(int *)o->dst = (int)x;
        return 0;
    }
    case CLI_U64: {
        errno = 0;
        const char *p = v;
        while (*p == ' ' || *p == '\t') p++;
        unsigned long long x = strtoull(p, &end, 10);
        if (end == p || *end || *p == '-' || *p == '+') return bad_value(cmd, o, v, "not a non-negative integer");
        if (errno == ERANGE) return bad_value(cmd, o, v, "out of range");
        *(uint64_t *)o->dst = (uint64_t)x;
        return 0;
    }
    case CLI_BYTES: {
        /* digits, then at most one of K, M, G (powers of 1024) */
        if (*v < '0' || *v > '9') return bad_value(cmd, o, v, "not a byte count");
        errno = 0;
        unsigned long long x = strtoull(v, &end, 10);
        if (errno == ERANGE) return bad_value(cmd, o, v, "out of range");
        int shift = 0;
        if (*end) {
            const char *units = "KMG", *u = strchr(units, *end);
            if (!u || end[1]) return bad_value(cmd, o, v, "not a byte count");
            shift = 10 * (int)(u - units + 1);
        }
        if (shift && x > (~0ull >> shift)) return bad_value(cmd, o, v, "out of range");
        *(uint64_t *)o->dst = (uint64_t)x << shift;
        return 0;
    }
    case CLI_FLOAT: {
        errno = 0;
        double x = strtod(v, &end);
        if (end == v || *end || isnan(x)) return bad_value(cmd, o, v, "not a number");
        int below = (o->open & CLI_LO_OPEN) ? !(x > o->lo) : !(x >= o->lo);
        int above = (o->open & CLI_HI_OPEN) ? !(x < o->hi) : !(x <= o->hi);
        if (errno == ERANGE || below || above) return bad_value(cmd, o, v, "out of range");
        *(float *)o->dst = (float)x;
        return 0;
    }
    case CLI_CHOICE: {
        int k = choice_index(o->meta, v);
        if (k < 0) return cli_usage_error(cmd, "%s '%s': not one of %s", g_typed ? g_typed : o->name, v, o->meta);
        *(int *)o->dst = k;
        return 0;
    }
    default: return cli_usage_error(cmd, "%s takes no value", o->name);
    }
}

int cli_parse(const cli_cmd *cmd, int argc, char **argv) {
    /* --help anywhere wins, and shows the defaults before any option
     * changed them */
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            cli_help(cmd, stdout);
            return 1;
        }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = NULL;
        char key[64];
        const char *eq = !strncmp(a, "--", 2) ? strchr(a, '=') : NULL;
        if (eq && (size_t)(eq - a) < sizeof key) {
            memcpy(key, a, (size_t)(eq - a));
            key[eq - a] = 0;
            val = eq + 1;
        } else {
            snprintf(key, sizeof key, "%s", a);
        }
        const cli_opt *o = NULL;
        for (int k = 0; k < cmd->n_opts && !o; k++)
            if (!strcmp(key, cmd->opts[k].name) || (cmd->opts[k].alias && !strcmp(key, cmd->opts[k].alias))) o = &cmd->opts[k];
        if (!o) {
            if (a[0] != '-' || !a[1]) return cli_usage_error(cmd, "unexpected argument '%s'", a);
            return cli_usage_error(cmd, "unknown option %s", key);
        }
        if (o->kind == CLI_FLAG) {
            if (val) return cli_usage_error(cmd, "%s takes no value", o->name);
            *(int *)o->dst = 1;
            continue;
        }
        if (!val) {
            if (i + 1 >= argc) return cli_usage_error(cmd, "%s needs a value (%s)", o->name, o->meta ? o->meta : "V");
            val = argv[++i];
        }
        g_typed = o->alias && !strcmp(key, o->alias) ? o->alias : o->name;
        if (set_value(cmd, o, val)) return 2;
    }
    return 0;
}
