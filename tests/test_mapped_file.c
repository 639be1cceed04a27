/* test_mapped_file.c -- weight files that change on disk after load, and
 * the statuses of weight files that cannot be opened or mapped.
 *
 * MODEL is a checkpoint directory (config.json + model.safetensors: the
 * demo model) or a GGUF file; it is copied into TMP_DIR for every case, so
 * the original is never touched. For each way of holding the weights --
 * use_mmap 1 with mmap_mode LAZY, POPULATE and LOCK (LOCK skipped, with a
 * line, where RLIMIT_MEMLOCK refuses it), and use_mmap 0 -- a session
 * steps a prompt, then the weight file
 *   (a) is truncated to half its size,
 *   (b) is rewritten in place with other bytes of the same size,
 *   (c) is replaced by rename (another file moved over its name),
 * and the next step must give:
 *   mapped, (a) and (b): DSV3_ERR_IO naming the file and "changed on disk",
 *     no SIGBUS (the test would die), the position unchanged; the session
 *     still rewinds, saves and keeps failing on the next step;
 *   mapped, (c): DSV3_OK with logits bit-identical to a step before the
 *     replacement (the mapping keeps the old file's data: not a change);
 *   use_mmap 0, all three: DSV3_OK, bit-identical (the weights were copied
 *     into memory at load and are not watched).
 * Statuses (a forked child each, so limits and privileges stay there):
 *   - a weight file, a model directory's model.safetensors and its
 *     config.json with mode 000 give DSV3_ERR_IO with the system's
 *     "Permission denied", not DSV3_ERR_NOT_FOUND (as root, the child first
 *     drops to uid/gid 65534, since root ignores file modes);
 *   - mmap_mode LOCK under RLIMIT_MEMLOCK 64 KiB (unprivileged) gives
 *     DSV3_ERR_NO_MEMORY and a message naming RLIMIT_MEMLOCK (skipped
 *     under AddressSanitizer, which turns mlock into a no-op);
 *   - mmap under an RLIMIT_AS just above the process's size gives
 *     DSV3_ERR_NO_MEMORY (not DSV3_ERR_IO); skipped under AddressSanitizer,
 *     whose shadow memory needs the address space.
 *
 * Usage: test_mapped_file MODEL TMP_DIR; exit 77 when MODEL is absent. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dsv3.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

static int failures;
#define CHECK(c, ...)                                            \
    do {                                                         \
        if (!(c)) {                                              \
            failures++;                                          \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                        \
            fputc('\n', stderr);                                 \
        }                                                        \
    } while (0)

static const char *src_model, *tmp;
static int is_dir;
static char model_path[1024]; /* what dsv3_model_load gets */
static char weight_path[1200]; /* the file the cases change */
static int32_t V;
static const int32_t prompt[] = {0, 17, 291, 1000, 5, 77, 900, 3}; /* < 1024: any test model's vocabulary */
#define NP ((int32_t)(sizeof prompt / sizeof prompt[0]))
static const int32_t next_tok = 123;

static int copy(const char *from, const char *to) {
    int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int ok = in >= 0 && out >= 0;
    char buf[1 << 16];
    ssize_t r;
    while (ok && (r = read(in, buf, sizeof buf)) > 0) ok = write(out, buf, (size_t)r) == r;
    if (in >= 0) close(in);
    if (out >= 0 && close(out) != 0) ok = 0;
    return ok ? 0 : -1;
}

/* A fresh copy of the model in TMP_DIR/<name>. */
static void fresh_copy(const char *name) {
    char from[1200];
    if (is_dir) {
        snprintf(model_path, sizeof model_path, "%s/%s", tmp, name);
        mkdir(model_path, 0755);
        snprintf(from, sizeof from, "%s/config.json", src_model);
        snprintf(weight_path, sizeof weight_path, "%s/config.json", model_path);
        CHECK(copy(from, weight_path) == 0, "copy %s", from);
        snprintf(from, sizeof from, "%s/model.safetensors", src_model);
        snprintf(weight_path, sizeof weight_path, "%s/model.safetensors", model_path);
    } else {
        snprintf(model_path, sizeof model_path, "%s/%s.gguf", tmp, name);
        snprintf(from, sizeof from, "%s", src_model);
        snprintf(weight_path, sizeof weight_path, "%s", model_path);
    }
    CHECK(copy(from, weight_path) == 0, "copy %s", from);
}

/* Remove the copy fresh_copy made (the cases would leave 12 model copies
 * in the build tree otherwise). */
static void remove_copy(void) {
    unlink(weight_path);
    if (is_dir) {
        char cfg[1200];
        snprintf(cfg, sizeof cfg, "%s/config.json", model_path);
        unlink(cfg);
        rmdir(model_path);
    }
}

static int load(int use_mmap, int mmap_mode, dsv3_model **m, char *err, size_t n) {
    struct dsv3_model_params mp;
    dsv3_model_params_init(&mp, sizeof mp);
    mp.backend = "scalar";
    mp.n_threads = 1;
    mp.use_mmap = use_mmap;
    mp.mmap_mode = mmap_mode;
    return dsv3_model_load(model_path, &mp, m, err, n);
}

/* Past the coarsest file-timestamp tick, so that a rewrite in place always
 * moves the modification time. */
static void tick(void) {
    struct timespec ts = {0, 50 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

static void change(char how) {
    struct stat st;
    stat(weight_path, &st);
    if (how == 'a') {
        CHECK(truncate(weight_path, st.st_size / 2) == 0, "truncate: %s", strerror(errno));
    } else if (how == 'b') {
        /* every byte past the first 64 KiB (header and more) becomes 0xFF:
         * NaN in f32/bf16/f16 and garbage in quantized blocks */
        char buf[1 << 16];
        memset(buf, 0xFF, sizeof buf);
        /* a filesystem with coarse timestamps (1 s) may show the same
         * mtime after a quick rewrite: then write again a second later */
        struct stat now = st;
        for (int tries = 0; tries < 3 && now.st_mtim.tv_sec == st.st_mtim.tv_sec &&
                            now.st_mtim.tv_nsec == st.st_mtim.tv_nsec; tries++) {
            if (tries) sleep(1);
            int fd = open(weight_path, O_WRONLY);
            for (off_t at = sizeof buf; at < st.st_size; at += (off_t)sizeof buf) {
                size_t n = st.st_size - at < (off_t)sizeof buf ? (size_t)(st.st_size - at) : sizeof buf;
                CHECK(pwrite(fd, buf, n, at) == (ssize_t)n, "pwrite: %s", strerror(errno));
            }
            close(fd);
            stat(weight_path, &now);
        }
    } else {
        char other[1300];
        snprintf(other, sizeof other, "%s.new", weight_path);
        CHECK(copy(weight_path, other) == 0, "copy");
        int fd = open(other, O_WRONLY);
        char buf[4096];
        memset(buf, 0xFF, sizeof buf);
        CHECK(pwrite(fd, buf, sizeof buf, st.st_size / 2) == (ssize_t)sizeof buf, "pwrite");
        close(fd);
        CHECK(rename(other, weight_path) == 0, "rename: %s", strerror(errno));
    }
}

static const char *mode_name(int use_mmap, int mode) {
    if (!use_mmap) return "use_mmap=0";
    return mode == DSV3_MMAP_LAZY ? "mmap lazy" : mode == DSV3_MMAP_POPULATE ? "mmap populate" : "mmap lock";
}

/* One case: returns 0 when skipped. */
static int run_case(int use_mmap, int mode, char how) {
    char name[64], err[512];
    snprintf(name, sizeof name, "case-%d-%d-%c", use_mmap, mode, how);
    fresh_copy(name);
    dsv3_model *m = NULL;
    int rc = load(use_mmap, mode, &m, err, sizeof err);
    if (rc == DSV3_ERR_NO_MEMORY && mode == DSV3_MMAP_LOCK) {
        printf("SKIP %s: %s\n", mode_name(use_mmap, mode), err);
        CHECK(strstr(err, "RLIMIT_MEMLOCK") != NULL, "mlock failure without the RLIMIT hint: %s", err);
        remove_copy();
        return 0;
    }
    CHECK(rc == DSV3_OK, "load %s: %s", model_path, err);
    if (rc) {
        remove_copy();
        return 1;
    }
    struct dsv3_model_info info;
    info.struct_size = sizeof info;
    dsv3_model_get_info(m, &info);
    V = info.vocab_size;
    dsv3_session *s = NULL;
    struct dsv3_session_params sp;
    dsv3_session_params_init(&sp, sizeof sp);
    sp.n_ctx = 64;
    CHECK(dsv3_session_create(m, &sp, &s, err, sizeof err) == DSV3_OK, "session: %s", err);
    float *ref = malloc(sizeof(float) * (size_t)V), *got = malloc(sizeof(float) * (size_t)V);
    /* the reference: the next token's logits before any change */
    CHECK(dsv3_session_step(s, prompt, NP, NULL, 0) == DSV3_OK, "prefill: %s", dsv3_session_last_error(s));
    CHECK(dsv3_session_step(s, &next_tok, 1, ref, 0) == DSV3_OK, "step: %s", dsv3_session_last_error(s));
    CHECK(dsv3_session_rewind(s, NP) == DSV3_OK, "rewind");
    tick();
    change(how);
    for (int i = 0; i < V; i++) got[i] = -1.0f;
    rc = dsv3_session_step(s, &next_tok, 1, got, 0);
    const char *msg = dsv3_session_last_error(s);
    const int expect_io = use_mmap && how != 'c';
    const char *what = how == 'a' ? "truncated" : how == 'b' ? "rewritten in place" : "replaced by rename";
    if (expect_io) {
        CHECK(rc == DSV3_ERR_IO, "%s, %s: status %d (%s), want DSV3_ERR_IO", mode_name(use_mmap, mode), what, rc, msg);
        CHECK(strstr(msg, weight_path) && strstr(msg, "changed on disk after load"), "%s, %s: message '%s'",
              mode_name(use_mmap, mode), what, msg);
        CHECK(dsv3_session_position(s) == NP, "%s, %s: position moved to %d", mode_name(use_mmap, mode), what,
              dsv3_session_position(s));
        /* still usable for what does not read weights, and still failing */
        size_t need = 0;
        CHECK(dsv3_session_save(s, NULL, 0, &need) == DSV3_ERR_TOO_SMALL && need > 0, "save size after a change");
        CHECK(dsv3_session_rewind(s, 2) == DSV3_OK && dsv3_session_position(s) == 2, "rewind after a change");
        CHECK(dsv3_session_step(s, &next_tok, 1, got, 0) == DSV3_ERR_IO, "a second step after a change");
        CHECK(dsv3_session_mtp_step(s, &next_tok, 1, got, 0) != DSV3_OK, "mtp_step after a change");
        printf("%-14s %-19s -> %s: %s\n", mode_name(use_mmap, mode), what, dsv3_status_string(rc), msg);
    } else {
        CHECK(rc == DSV3_OK, "%s, %s: status %d (%s), want DSV3_OK", mode_name(use_mmap, mode), what, rc, msg);
        CHECK(!memcmp(ref, got, sizeof(float) * (size_t)V), "%s, %s: logits differ from before the change",
              mode_name(use_mmap, mode), what);
        printf("%-14s %-19s -> ok, logits bit-identical to before\n", mode_name(use_mmap, mode), what);
    }
    free(ref);
    free(got);
    dsv3_session_free(s);
    dsv3_model_free(m);
    remove_copy();
    return 1;
}

/* ---- statuses, each in a child ------------------------------------------------ */

static int drop_root(void) {
    if (geteuid() != 0) return 0;
    return setgid(65534) != 0 || setuid(65534) != 0 ? -1 : 0;
}

/* The parent made one file of the copy mode 000 before forking. */
static int child_permissions(void) {
    if (drop_root()) return 3;
    char err[512];
    dsv3_model *m = NULL;
    int rc = load(1, DSV3_MMAP_LAZY, &m, err, sizeof err);
    dsv3_model_free(m);
    if (rc != DSV3_ERR_IO || !strstr(err, "Permission denied")) {
        fprintf(stderr, "FAIL: unreadable file: status %d (%s), want DSV3_ERR_IO 'Permission denied'\n", rc, err);
        return 1;
    }
    printf("unreadable file -> %s: %s\n", dsv3_status_string(rc), err);
    return 0;
}

static int child_memlock(void) {
    if (drop_root()) return 3;
    struct rlimit rl = {64 << 10, 64 << 10};
    if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0) return 3;
    char err[512];
    dsv3_model *m = NULL;
    int rc = load(1, DSV3_MMAP_LOCK, &m, err, sizeof err);
    dsv3_model_free(m);
    if (rc != DSV3_ERR_NO_MEMORY || !strstr(err, "RLIMIT_MEMLOCK")) {
        fprintf(stderr, "FAIL: mlock over RLIMIT_MEMLOCK: status %d (%s)\n", rc, err);
        return 1;
    }
    printf("mmap_mode LOCK, RLIMIT_MEMLOCK 64 KiB -> %s: %s\n", dsv3_status_string(rc), err);
    return 0;
}

static int child_address_space(void) {
    /* the process's current size (pages) plus 2 MiB: the model file does
     * not fit */
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (!f || fscanf(f, "%lu", &pages) != 1) return 3;
    fclose(f);
    struct stat st;
    stat(weight_path, &st);
    rlim_t lim = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + (2u << 20);
    if ((off_t)(2u << 20) >= st.st_size) return 3;
    struct rlimit rl = {lim, lim};
    if (setrlimit(RLIMIT_AS, &rl) != 0) return 3;
    char err[512];
    dsv3_model *m = NULL;
    int rc = load(1, DSV3_MMAP_LAZY, &m, err, sizeof err);
    dsv3_model_free(m);
    if (rc != DSV3_ERR_NO_MEMORY) {
        fprintf(stderr, "FAIL: mmap over RLIMIT_AS: status %d (%s), want DSV3_ERR_NO_MEMORY\n", rc, err);
        return 1;
    }
    printf("RLIMIT_AS = size + 2 MiB -> %s: %s\n", dsv3_status_string(rc), err);
    return 0;
}

static void in_child(const char *what, int (*fn)(void)) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        int rc = fn();
        fflush(stdout);
        _exit(rc);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 3) printf("SKIP %s: the child could not set itself up\n", what);
    else CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: child status 0x%x", what, status);
}

static void statuses(void) {
    /* A child that dropped root must reach the copy: TMP_DIR may sit below
     * a directory only root can enter, so the copy goes to a fresh
     * directory in $TMPDIR or /tmp (removed at the end). */
    const char *saved_tmp = tmp, *base = getenv("TMPDIR");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/dsv3-mapped-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp %s: %s", dir, strerror(errno));
        return;
    }
    tmp = dir;
    fresh_copy("perm");
    chmod(tmp, 0755);
    chmod(model_path, 0755);
    chmod(weight_path, 0);
    in_child("unreadable weight file", child_permissions);
    chmod(weight_path, 0644);
    if (is_dir) {
        char cfg[1200];
        snprintf(cfg, sizeof cfg, "%s/config.json", model_path);
        chmod(cfg, 0);
        in_child("unreadable config.json", child_permissions);
        chmod(cfg, 0644);
    }
    chmod(weight_path, 0644);
    if (UNDER_ASAN) {
        printf("SKIP mlock over RLIMIT_MEMLOCK: AddressSanitizer makes mlock a no-op\n");
        printf("SKIP mmap over RLIMIT_AS: AddressSanitizer needs the address space\n");
    } else {
        in_child("mlock over RLIMIT_MEMLOCK", child_memlock);
        in_child("mmap over RLIMIT_AS", child_address_space);
    }
    remove_copy();
    rmdir(dir);
    tmp = saved_tmp;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL TMP_DIR\n", argv[0]);
        return 2;
    }
    src_model = argv[1];
    tmp = argv[2];
    struct stat st;
    if (stat(src_model, &st) != 0) {
        printf("SKIP: %s not found\n", src_model);
        return 77;
    }
    is_dir = S_ISDIR(st.st_mode);
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "cannot create %s\n", tmp);
        return 1;
    }
    static const struct { int use_mmap, mode; } modes[] = {
        {1, DSV3_MMAP_LAZY}, {1, DSV3_MMAP_POPULATE}, {1, DSV3_MMAP_LOCK}, {0, DSV3_MMAP_LAZY}};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
        for (const char *how = "abc"; *how; how++)
            if (!run_case(modes[i].use_mmap, modes[i].mode, *how)) break;
    statuses();
    if (failures) {
        fprintf(stderr, "%d failure(s)\n", failures);
        return 1;
    }
    printf("ok\n");
    return 0;
}
