/* mapfile.h -- a whole file, memory-mapped read-only (or read into memory
 * when mapping is off). */
#ifndef DSV3_MAPFILE_H
#define DSV3_MAPFILE_H

#include <stddef.h>

#include "err.h"

typedef struct mapfile {
    const unsigned char *data;
    size_t size;
    int mapped; /* 1: munmap on close, 0: free */
} mapfile;

int mapfile_open(mapfile *m, const char *path, int use_mmap, dsv3_err *e);
void mapfile_close(mapfile *m);
/* Read a small whole file (config/index JSON) into a NUL-terminated buffer. */
int read_small_file(const char *path, size_t max, char **out, size_t *len, dsv3_err *e);

#endif
