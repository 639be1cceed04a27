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

int dsv3_errno_status(int err) {
    if (err == ENOENT || err == ENOTDIR) return DSV3_ERR_NOT_FOUND;
    if (err == ENOMEM) return DSV3_ERR_NO_MEMORY;
    return DSV3_ERR_IO;
}

static void keep_identity(mapfile *m, const struct stat *st) {
    m->dev = (uint64_t)st->st_dev;
    m->ino = (uint64_t)st->st_ino;
    m->mtime_sec = (int64_t)st->st_mtim.tv_sec;
    m->mtime_nsec = (int64_t)st->st_mtim.tv_nsec;
}

/* mmap the open file; on success m keeps fd (for dsv3_mapfile_check). */
static int map(mapfile *m, int fd, const char *path, int mode, dsv3_err *e) {
    int flags = MAP_PRIVATE;
#ifdef MAP_POPULATE
    if (mode >= DSV3_MAPFILE_POPULATE) flags |= MAP_POPULATE;
#endif
    void *p = mmap(NULL, m->size, PROT_READ, flags, fd, 0);
    if (p == MAP_FAILED) {
        int err = errno;
        return err_set(e, dsv3_errno_status(err), "%s: mmap of %zu bytes failed: %s", path, m->size, strerror(err));
    }
#ifndef MAP_POPULATE
    if (mode >= DSV3_MAPFILE_POPULATE) posix_madvise(p, m->size, POSIX_MADV_WILLNEED);
#endif
    if (mode == DSV3_MAPFILE_LOCK && mlock(p, m->size) != 0) {
        int err = errno;
        munmap(p, m->size);
        /* ENOMEM/EAGAIN: over RLIMIT_MEMLOCK or out of lockable memory. */
        return err_set(e, err == ENOMEM || err == EAGAIN ? DSV3_ERR_NO_MEMORY : DSV3_ERR_IO,
                       "%s: mlock of %zu bytes failed: %s (mmap_mode DSV3_MMAP_LOCK needs RLIMIT_MEMLOCK, "
                       "'ulimit -l', of at least the model's size, or CAP_IPC_LOCK; or use DSV3_MMAP_LAZY "
                       "or use_mmap = 0)", path, m->size, strerror(err));
    }
    m->path = malloc(strlen(path) + 1);
    if (!m->path) {
        munmap(p, m->size);
        return err_set(e, DSV3_ERR_NO_MEMORY, "%s: out of memory", path);
    }
    strcpy(m->path, path);
    m->data = p;
    m->mapped = 1;
    m->fd = fd;
    return DSV3_OK;
}

int mapfile_open(mapfile *m, const char *path, int mode, dsv3_err *e) {
    memset(m, 0, sizeof *m);
    m->fd = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int err = errno;
        return err_set(e, dsv3_errno_status(err), "%s: cannot open: %s", path, strerror(err));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return err_set(e, DSV3_ERR_IO, "%s: not a regular file", path);
    }
    m->size = (size_t)st.st_size;
    keep_identity(m, &st);
    if (m->size == 0) {
        close(fd);
        return DSV3_OK; /* callers reject empty files with their own message */
    }
    if (mode != DSV3_MAPFILE_READ) {
        int rc = map(m, fd, path, mode, e);
        if (rc) close(fd);
        return rc;
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
            int err = r < 0 ? errno : 0;
            free(buf);
            close(fd);
            return err_set(e, DSV3_ERR_IO, "%s: read failed at byte %zu: %s", path, got,
                           err ? strerror(err) : "the file ended early");
        }
        got += (size_t)r;
    }
    close(fd);
    m->data = buf;
    return DSV3_OK;
}

void mapfile_close(mapfile *m) {
    if (!m) return;
    if (m->data) {
        if (m->mapped) munmap((void *)m->data, m->size);
        else free((void *)m->data);
    }
    if (m->fd >= 0) close(m->fd);
    free(m->path);
    m->data = NULL;
    m->path = NULL;
    m->fd = -1;
}

int dsv3_mapfile_check(const mapfile *m, dsv3_err *e) {
    if (!m || m->fd < 0) return DSV3_OK;
    struct stat st;
    if (fstat(m->fd, &st) != 0) {
        int err = errno;
        return err_set(e, DSV3_ERR_IO, "model file %s: fstat failed: %s", m->path, strerror(err));
    }
    const char *what = NULL;
    if ((uint64_t)st.st_size != (uint64_t)m->size) what = "size";
    else if ((int64_t)st.st_mtim.tv_sec != m->mtime_sec || (int64_t)st.st_mtim.tv_nsec != m->mtime_nsec)
        what = "modification time";
    else if ((uint64_t)st.st_ino != m->ino || (uint64_t)st.st_dev != m->dev)
        what = "inode";
    if (!what) return DSV3_OK;
    if (what[0] == 's')
        return err_set(e, DSV3_ERR_IO,
                       "model file %s changed on disk after load (size %zu, now %llu bytes); load the model again",
                       m->path, m->size, (unsigned long long)st.st_size);
    return err_set(e, DSV3_ERR_IO, "model file %s changed on disk after load (its %s differs); load the model again",
                   m->path, what);
}

int read_small_file(const char *path, size_t max, char **out, size_t *len, dsv3_err *e) {
    mapfile m;
    *out = NULL;
    int rc = mapfile_open(&m, path, DSV3_MAPFILE_READ, e);
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
