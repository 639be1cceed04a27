/* mapfile.h -- a whole file, memory-mapped read-only (or read into memory
 * when mapping is off). */
#ifndef DSV3_MAPFILE_H
#define DSV3_MAPFILE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* How mapfile_open gets the bytes (model params use_mmap / mmap_mode). */
#define DSV3_MAPFILE_READ 0     /* read() into a private allocation          */
#define DSV3_MAPFILE_LAZY 1     /* mmap; pages come in on first touch        */
#define DSV3_MAPFILE_POPULATE 2 /* mmap and read every page at open          */
#define DSV3_MAPFILE_LOCK 3     /* mmap, read every page and mlock them      */

typedef struct mapfile {
    const unsigned char *data;
    size_t size;
    int mapped; /* 1: munmap on close, 0: free */
    /* Mapped files keep their descriptor and the identity they had at open,
     * so dsv3_mapfile_check can tell when the file changed underneath the
     * mapping (fd -1 and path NULL for read files: their bytes are ours). */
    int fd;
    char *path;
    uint64_t dev, ino;
    int64_t mtime_sec, mtime_nsec;
    /* Bytes of the format's header (set by the format parser; 0 unknown):
     * what the model fingerprint hashes instead of the whole weights. */
    uint64_t header_bytes;
} mapfile;

/* mode: one of DSV3_MAPFILE_* (LAZY is 1, so a boolean use_mmap works). */
int mapfile_open(mapfile *m, const char *path, int mode, dsv3_err *e);
void mapfile_close(mapfile *m);
/* Read a small whole file (config/index JSON) into a NUL-terminated buffer. */
int read_small_file(const char *path, size_t max, char **out, size_t *len, dsv3_err *e);

/* The status for a failed open()/fopen()/mmap() errno: DSV3_ERR_NOT_FOUND
 * only for ENOENT/ENOTDIR, DSV3_ERR_NO_MEMORY for ENOMEM, else
 * DSV3_ERR_IO (permission, I/O, ...). */
int dsv3_errno_status(int err);

/* DSV3_OK if a mapped file still has the size, mtime and inode it had when
 * it was opened (one fstat); DSV3_ERR_IO "model file <path> changed on disk
 * after load" otherwise. Always DSV3_OK for files read into memory. */
int dsv3_mapfile_check(const mapfile *m, dsv3_err *e);

#endif
