/* safetensors.h -- zero-copy views of the tensors in a safetensors
 * checkpoint: one file, or shards listed by model.safetensors.index.json. */
#ifndef DSV3_SAFETENSORS_H
#define DSV3_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

enum st_dtype {
    ST_F64, ST_F32, ST_F16, ST_BF16, ST_F8_E4M3, ST_F8_E5M2,
    ST_I64, ST_I32, ST_I16, ST_I8, ST_U64, ST_U32, ST_U16, ST_U8, ST_BOOL,
    ST_DTYPE_COUNT
};

#define ST_MAX_DIMS 8

typedef struct st_tensor {
    const char *name;
    int dtype;                    /* enum st_dtype                     */
    int n_dims;
    int64_t shape[ST_MAX_DIMS];
    const unsigned char *data;    /* inside the mapped file           */
    uint64_t nbytes;
    int file;                     /* index of the shard               */
} st_tensor;

typedef struct st_set st_set;

/* Open `dir`/model.safetensors.index.json (sharded) or
 * `dir`/model.safetensors. Every header is validated: length inside the
 * file, JSON well formed, known dtypes, offsets inside the data section,
 * no overlaps, byte size == shape x dtype size, no duplicate names. */
int st_open_dir(const char *dir, int use_mmap, st_set **out, dsv3_err *e);
/* Parse one file (exposed for tests and fuzzing). */
int st_open_file(const char *path, int use_mmap, st_set **out, dsv3_err *e);
void st_close(st_set *s);

const st_tensor *st_find(const st_set *s, const char *name);
size_t st_count(const st_set *s);
const st_tensor *st_at(const st_set *s, size_t i);
uint64_t st_bytes_mapped(const st_set *s);
/* The mapping of file i (shards in index order), NULL past the end: the
 * model watches these files and fingerprints their headers. */
struct mapfile;
const struct mapfile *dsv3_st_file(const st_set *s, int i);
const char *st_dtype_name(int dt);
size_t st_dtype_size(int dt);

#endif
