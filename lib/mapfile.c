/* mapfile.c -- POSIX file mapping. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dsv3.h"
#include "mapfile.h"

static int open_status(int err) { return err == ENOENT || err == ENOTDIR ? DSV3_ERR_NOT_FOUND : DSV3_ERR_IO; }

int mapfile_open(mapfile *m, const char *path, int use_mmap, dsv3_err *e) {
    memset(m, 0, sizeof *m);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return err_set(e, open_status(errno), "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(e, DSV3_ERR_IO, "%s: not a regular file", path);
    }
    m->size = (size_t)st.st_size;
    if (m->size == 0) {
        close(fd);
        return DSV3_OK; /* callers reject empty files with their own message */
    }
    if (use_mmap) {
        void *p = mmap(NULL, m->size, PROT_READ, MAP_PRIVATE, fd, 0);
        close(fd);
        if (p == MAP_FAILED) return err_set(e, DSV3_ERR_IO, "%s: mmap failed: %s", path, strerror(errno));
        m->data = p;
        m->mapped = 1;
        return DSV3_OK;
    }
    unsigned char *buf = malloc(m->size);
    if (!buf) {
        close(fd);
        return err_set(e, DSV3_ERR_NO_MEMORY, "%s: cannot allocate %zu bytes", path, m->size);
    }
    size_t got = 0;
    while (got < m->size) {
        ssize_t r = read(fd, buf + got, m->size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            free(buf);
            close(fd);
            return err_set(e, DSV3_ERR_IO, "%s: read failed at byte %zu", path, got);
        }
        got += (size_t)r;
    }
    close(fd);
    m->data = buf;
    return DSV3_OK;
}

void mapfile_close(mapfile *m) {
    if (!m || !m->data) return;
    if (m->mapped) munmap((void *)m->data, m->size);
    else free((void *)m->data);
    m->data = NULL;
}

int read_small_file(const char *path, size_t max, char **out, size_t *len, dsv3_err *e) {
    mapfile m;
    *out = NULL;
    int rc = mapfile_open(&m, path, 0, e);
    if (rc) return rc;
    if (m.size > max) {
        mapfile_close(&m);
        return err_set(e, DSV3_ERR_BAD_FILE, "%s: %zu bytes is larger than the %zu allowed", path, m.size, max);
    }
    char *s = malloc(m.size + 1);
    if (!s) {
        mapfile_close(&m);
        return err_set(e, DSV3_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    if (m.size) memcpy(s, m.data, m.size);
    s[m.size] = 0;
    *len = m.size;
    *out = s;
    mapfile_close(&m);
    return DSV3_OK;
}
