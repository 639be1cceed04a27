/* chat_save.c -- see chat_save.h. File layout (text lines, then bytes):
 *     dsv3-chat 1
 *     messages N
 *     ROLE LEN        N times, each followed by LEN bytes of content and
 *                     a newline (LEN -1: no content)
 *     tokens N
 *     ID ID ...       on one line
 *     state BYTES
 *     BYTES bytes of dsv3_session_save's state (checksummed by it)
 * Lengths are explicit, so contents may hold any bytes. */
#include "chat_save.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, size_t n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
    return -1;
}

int chat_save(const char *path, dsv3_session *s, const struct dsv3_chat_message *m, size_t n, const int32_t *held,
              size_t n_held, char *err, size_t err_size) {
    size_t size = 0;
    dsv3_session_save(s, NULL, 0, &size);
    unsigned char *state = malloc(size ? size : 1);
    if (!state) return fail(err, err_size, "out of memory for a %zu-byte state", size);
    if (dsv3_session_save(s, state, size, &size) != DSV3_OK) {
        free(state);
        return fail(err, err_size, "%s", dsv3_session_last_error(s));
    }
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 5);
    FILE *f = NULL;
    if (tmp) {
        memcpy(tmp, path, pl);
        memcpy(tmp + pl, ".tmp", 5);
        f = fopen(tmp, "wb");
    }
    if (!f) {
        int e = errno;
        free(state);
        free(tmp);
        return fail(err, err_size, "cannot create %s.tmp: %s", path, strerror(e));
    }
    fprintf(f, "dsv3-chat 1\nmessages %zu\n", n);
    for (size_t i = 0; i < n; i++) {
        long long len = m[i].content ? (long long)strlen(m[i].content) : -1;
        fprintf(f, "%s %lld\n", m[i].role, len);
        if (len > 0) fwrite(m[i].content, 1, (size_t)len, f);
        fputc('\n', f);
    }
    fprintf(f, "tokens %zu\n", n_held);
    for (size_t i = 0; i < n_held; i++) fprintf(f, i ? " %d" : "%d", (int)held[i]);
    fprintf(f, "\nstate %zu\n", size);
    fwrite(state, 1, size, f);
    free(state);
    int bad = ferror(f);
    if (fclose(f) != 0) bad = 1;
    if (bad || rename(tmp, path) != 0) {
        int e = errno;
        remove(tmp);
        free(tmp);
        return fail(err, err_size, "cannot write %s: %s", path, strerror(e));
    }
    free(tmp);
    return 0;
}

void chat_saved_free(chat_saved *c) {
    for (size_t i = 0; i < c->n; i++) {
        free((char *)c->m[i].role);
        free((char *)c->m[i].content);
    }
    free(c->m);
    free(c->held);
    memset(c, 0, sizeof *c);
}

int chat_load(const char *path, dsv3_session *s, chat_saved *out, char *err, size_t err_size) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return fail(err, err_size, "cannot open %s: %s", path, strerror(errno));
    int ok = 0;
    unsigned char *state = NULL;
    char role[64];
    size_t n = 0, nh = 0, size = 0;
    int version = 0;
    if (fscanf(f, "dsv3-chat %d\nmessages %zu\n", &version, &n) != 2 || version != 1 || n > (1u << 20)) goto done;
    out->m = calloc(n ? n : 1, sizeof *out->m);
    if (!out->m) goto done;
    for (; out->n < n; out->n++) {
        long long len;
        if (fscanf(f, "%63s %lld", role, &len) != 2 || fgetc(f) != '\n' || len < -1 || len > (1ll << 30)) goto done;
        struct dsv3_chat_message *mm = &out->m[out->n];
        mm->role = strdup(role);
        if (len >= 0) {
            char *c = malloc((size_t)len + 1);
            mm->content = c;
            if (!c || fread(c, 1, (size_t)len, f) != (size_t)len) goto done;
            c[len] = 0;
        }
        if (!mm->role || fgetc(f) != '\n') goto done;
    }
    if (fscanf(f, "tokens %zu", &nh) != 1 || nh > (1u << 28)) goto done;
    out->held = malloc((nh ? nh : 1) * sizeof *out->held);
    if (!out->held) goto done;
    for (; out->n_held < nh; out->n_held++)
        if (fscanf(f, "%d", &out->held[out->n_held]) != 1) goto done;
    if (fscanf(f, "\nstate %zu", &size) != 1 || fgetc(f) != '\n' || size > ((size_t)1 << 40)) goto done;
    state = malloc(size ? size : 1);
    if (!state || fread(state, 1, size, f) != size) goto done;
    ok = 1;
done:
    fclose(f);
    if (!ok) {
        free(state);
        chat_saved_free(out);
        return fail(err, err_size, "%s is not a file written by /save (or it is truncated)", path);
    }
    int rc = dsv3_session_load(s, state, size);
    free(state);
    if (rc != DSV3_OK) {
        chat_saved_free(out);
        return fail(err, err_size, "%s", dsv3_session_last_error(s));
    }
    /* the session holds at most its position's tokens */
    int32_t pos = dsv3_session_position(s);
    if (out->n_held > (size_t)pos) out->n_held = (size_t)pos;
    return 0;
}
