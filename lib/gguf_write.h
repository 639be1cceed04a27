/* gguf_write.h -- a streaming writer of GGUF v3 files (the llama.cpp
 * format read by gguf.h).
 *
 * Use: describe the whole file first (metadata with gguf_writer_set_*,
 * then every tensor's name, ggml type and shape with
 * gguf_writer_add_tensor), then gguf_writer_begin writes the header, the
 * KVs and the tensor infos with their precomputed offsets, and the tensor
 * data follow with gguf_writer_write in the order the tensors were added,
 * in pieces of any size. gguf_writer_finish checks that every tensor got
 * exactly its bytes. So a file of any size is written in one pass, holding
 * only the metadata in memory.
 *
 * Layout written: "GGUF", u32 version 3, u64 tensor count, u64 KV count;
 * the KVs in the order they were set; the tensor infos (offsets relative
 * to the data section, each a multiple of the alignment); zero padding to
 * the alignment; each tensor's data followed by zero padding to the
 * alignment. Everything little-endian whatever the host. The alignment is
 * GGUF's default 32, or the u32 general.alignment when it is set (before
 * the first tensor is added).
 *
 * Errors: the setters return a status and also remember the first failure
 * (duplicate key, bad value type, out of memory ...), which gguf_writer_begin
 * then reports, so a sequence of setters can be checked once. */
#ifndef DSV3_GGUF_WRITE_H
#define DSV3_GGUF_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct gguf_writer gguf_writer;

/* NULL when out of memory. */
gguf_writer *gguf_writer_new(void);
/* Closes the file if still open (an unfinished file stays truncated). */
void gguf_writer_free(gguf_writer *w);

/* Metadata; keys must be unique and non-empty, values are copied. */
int gguf_writer_set_u32(gguf_writer *w, const char *key, uint32_t v);
int gguf_writer_set_i32(gguf_writer *w, const char *key, int32_t v);
int gguf_writer_set_u64(gguf_writer *w, const char *key, uint64_t v);
int gguf_writer_set_f32(gguf_writer *w, const char *key, float v);
int gguf_writer_set_bool(gguf_writer *w, const char *key, int v);
/* A string of n bytes (not necessarily NUL-terminated). */
int gguf_writer_set_str(gguf_writer *w, const char *key, const char *s, size_t n);
/* An array of n fixed-size elements (enum gguf_vtype of gguf.h: U8 ... F64,
 * BOOL; not STR/ARR) given in host order: data holds n elements of the C
 * type of elem_type (uint8_t, int32_t, float, ...). */
int gguf_writer_set_arr(gguf_writer *w, const char *key, int elem_type, const void *data, uint64_t n);
/* An array of n strings: strs[i] of lens[i] bytes (lens NULL: strlen). */
int gguf_writer_set_str_arr(gguf_writer *w, const char *key, const char *const *strs, const size_t *lens,
                            uint64_t n);

/* A tensor of ggml type `ggml_type` (enum gguf_ggml_type) and shape ne[0..n_dims)
 * in ggml order (ne[0] contiguous); ne[0] must be a multiple of the type's
 * block. Returns the status; *nbytes (may be NULL) receives its data size. */
int gguf_writer_add_tensor(gguf_writer *w, const char *name, int ggml_type, int n_dims, const int64_t *ne,
                           uint64_t *nbytes);

/* Total file size once finished (header + data), known before anything is
 * written. */
uint64_t gguf_writer_file_size(const gguf_writer *w);

/* Create `path` and write everything up to the data section. */
int gguf_writer_begin(gguf_writer *w, const char *path, dsv3_err *e);
/* The next n bytes of tensor data (the current tensor's, continuing into
 * the following ones). More bytes than the tensors hold is an error. */
int gguf_writer_write(gguf_writer *w, const void *data, size_t n, dsv3_err *e);
/* Check that all tensor data was written, flush and close (fsync is left
 * to the caller). */
int gguf_writer_finish(gguf_writer *w, dsv3_err *e);

#endif
