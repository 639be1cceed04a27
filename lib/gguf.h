/* gguf.h -- a zero-copy reader of GGUF v2/v3 files (the llama.cpp format).
 *
 * File layout (little-endian): "GGUF", u32 version, u64 tensor count, u64
 * KV count; the KVs (string key, u32 value type, value); the tensor infos
 * (string name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset);
 * padding to general.alignment (default 32); the data section. A string is
 * a u64 length and that many bytes (not NUL-terminated); an array is a u32
 * element type, a u64 count and the elements (arrays may nest).
 *
 * gguf_open validates everything before anything is handed out: every
 * count and length against the bytes that remain (before allocating or
 * reading, so hostile counts cannot make it allocate much), value and
 * element types, nesting depth, duplicate keys and tensor names, tensor
 * ranks, ggml types and block geometry, aligned in-bounds non-overlapping
 * data ranges. Nothing is copied: strings, arrays and tensor data point
 * into the mapping, which lives until gguf_close.
 *
 * Split models ("X-00001-of-00003.gguf", keys split.count / split.no /
 * split.tensors.count): opening any part opens every part; the KVs are the
 * first part's, the tensor tables are merged. */
#ifndef DSV3_GGUF_H
#define DSV3_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"

#define GGUF_MAX_DIMS 4
#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_NAME 256       /* tensor names are shorter than this      */
#define GGUF_MAX_ARRAY_DEPTH 8  /* arrays of arrays nest at most this deep */

/* KV value types (stored as u32). */
enum gguf_vtype {
    GGUF_U8 = 0, GGUF_I8 = 1, GGUF_U16 = 2, GGUF_I16 = 3, GGUF_U32 = 4, GGUF_I32 = 5, GGUF_F32 = 6,
    GGUF_BOOL = 7, GGUF_STR = 8, GGUF_ARR = 9, GGUF_U64 = 10, GGUF_I64 = 11, GGUF_F64 = 12,
    GGUF_VTYPE_COUNT
};

/* ggml tensor type ids (ggml.h's enum ggml_type; gaps are ids ggml retired). */
enum gguf_ggml_type {
    GGML_T_F32 = 0, GGML_T_F16 = 1, GGML_T_Q4_0 = 2, GGML_T_Q4_1 = 3, GGML_T_Q5_0 = 6, GGML_T_Q5_1 = 7,
    GGML_T_Q8_0 = 8, GGML_T_Q8_1 = 9, GGML_T_Q2_K = 10, GGML_T_Q3_K = 11, GGML_T_Q4_K = 12,
    GGML_T_Q5_K = 13, GGML_T_Q6_K = 14, GGML_T_Q8_K = 15, GGML_T_IQ2_XXS = 16, GGML_T_IQ2_XS = 17,
    GGML_T_IQ3_XXS = 18, GGML_T_IQ1_S = 19, GGML_T_IQ4_NL = 20, GGML_T_IQ3_S = 21, GGML_T_IQ2_S = 22,
    GGML_T_IQ4_XS = 23, GGML_T_I8 = 24, GGML_T_I16 = 25, GGML_T_I32 = 26, GGML_T_I64 = 27,
    GGML_T_F64 = 28, GGML_T_IQ1_M = 29, GGML_T_BF16 = 30, GGML_T_TQ1_0 = 34, GGML_T_TQ2_0 = 35,
    GGML_T_MXFP4 = 39,
    GGML_T_COUNT = 40
};

/* A string inside the mapping: n bytes at p, not NUL-terminated. */
typedef struct gguf_str {
    const char *p;
    uint64_t n;
} gguf_str;

/* A value inside the mapping (all multi-byte values little-endian and
 * possibly unaligned: read them with the accessors below). */
typedef struct gguf_value {
    int type;               /* enum gguf_vtype                              */
    const unsigned char *p; /* scalar: its bytes; GGUF_STR: the characters;
                               GGUF_ARR: the first element                  */
    uint64_t n;             /* GGUF_STR: length in bytes; GGUF_ARR: count   */
    int elem_type;          /* GGUF_ARR: type of the elements               */
    uint64_t size;          /* bytes from p to the end of the value         */
} gguf_value;

typedef struct gguf_kv {
    gguf_str key;
    gguf_value v;
} gguf_kv;

typedef struct gguf_tensor {
    gguf_str name;                /* at most GGUF_MAX_NAME - 1 bytes, no NUL */
    int type;                     /* enum gguf_ggml_type                     */
    int n_dims;                   /* 1..GGUF_MAX_DIMS                        */
    int64_t ne[GGUF_MAX_DIMS];    /* ggml order: ne[0] contiguous; unused 1  */
    const unsigned char *data;    /* inside the mapping of its part          */
    uint64_t nbytes;              /* ne x block geometry of the type         */
    uint64_t offset;              /* in its part's data section              */
    int part;                     /* split part index (0 for single files)   */
} gguf_tensor;

typedef struct gguf_file gguf_file;

/* Open and validate a GGUF file (and, for a split model, all its parts).
 * Statuses: DSV3_ERR_NOT_FOUND / DSV3_ERR_IO (open/map), DSV3_ERR_BAD_FILE
 * (malformed or truncated), DSV3_ERR_UNSUPPORTED (version, big-endian),
 * DSV3_ERR_BAD_DTYPE (unknown ggml type id), DSV3_ERR_NO_MEMORY. */
int gguf_open(const char *path, int use_mmap, gguf_file **out, dsv3_err *e);
/* The same over a caller-owned buffer, which must outlive the result (for
 * tests and fuzzing). A split part is refused. */
int gguf_open_memory(const void *data, size_t size, gguf_file **out, dsv3_err *e);
void gguf_close(gguf_file *f);

uint32_t gguf_version(const gguf_file *f);
int gguf_n_parts(const gguf_file *f);
/* The mapping of part i (0 .. gguf_n_parts-1), NULL past the end: the
 * model watches these files and fingerprints their headers. */
struct mapfile;
const struct mapfile *dsv3_gguf_part_map(const gguf_file *f, int i);
uint64_t gguf_bytes(const gguf_file *f);        /* bytes of all parts   */
uint64_t gguf_alignment(const gguf_file *f);    /* of the first part    */

/* KVs (of the first part). */
size_t gguf_kv_count(const gguf_file *f);
const gguf_kv *gguf_kv_at(const gguf_file *f, size_t i);
const gguf_kv *gguf_find_kv(const gguf_file *f, const char *key);

/* Typed getters. DSV3_OK; DSV3_ERR_NOT_FOUND when the key is absent (e is
 * left untouched, so optional keys need no cleanup); DSV3_ERR_BAD_CONFIG
 * "GGUF key 'K' has type string, expected u32" on a type mismatch or an
 * out-of-range value. The strict ones want exactly that type; gguf_get_int
 * takes any integer type and gguf_get_float f32 or f64. */
int gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, dsv3_err *e);
int gguf_get_i32(const gguf_file *f, const char *key, int32_t *out, dsv3_err *e);
int gguf_get_f32(const gguf_file *f, const char *key, float *out, dsv3_err *e);
int gguf_get_bool(const gguf_file *f, const char *key, int *out, dsv3_err *e);
int gguf_get_str(const gguf_file *f, const char *key, gguf_str *out, dsv3_err *e);
int gguf_get_int(const gguf_file *f, const char *key, int64_t *out, dsv3_err *e);
int gguf_get_float(const gguf_file *f, const char *key, double *out, dsv3_err *e);
/* An array; elem_type -1 accepts any element type. */
int gguf_get_arr(const gguf_file *f, const char *key, int elem_type, const gguf_value **out, dsv3_err *e);

/* Value decoding (any value, e.g. an array element). Return 1 on success,
 * 0 if the value does not have a suitable type or does not fit. */
int gguf_value_int(const gguf_value *v, int64_t *out);    /* integer types (u64 <= INT64_MAX) */
int gguf_value_float(const gguf_value *v, double *out);   /* f32, f64              */
int gguf_value_bool(const gguf_value *v, int *out);       /* bool                  */
int gguf_value_str(const gguf_value *v, gguf_str *out);   /* string                */
/* 1 if s equals the NUL-terminated z. */
int gguf_str_eq(gguf_str s, const char *z);

/* Arrays. Elements of fixed-size types are at a->p + i * gguf_vtype_size;
 * gguf_arr_at decodes one in O(1) (O(i) for strings and nested arrays).
 * gguf_arr_strs fills out[0 .. min(n, cap)) with the strings of a string
 * array in one pass (129k tokens index in a millisecond, nothing copied)
 * and returns the element count. The iterator walks any array in order. */
size_t gguf_vtype_size(int t);                            /* 0 for STR, ARR, unknown */
const char *gguf_vtype_name(int t);                       /* "u32", "string", ...    */
int gguf_arr_at(const gguf_value *a, uint64_t i, gguf_value *out);
uint64_t gguf_arr_strs(const gguf_value *a, gguf_str *out, uint64_t cap);
typedef struct gguf_iter {
    const gguf_value *a;
    uint64_t i;
    const unsigned char *p;
} gguf_iter;
void gguf_iter_init(gguf_iter *it, const gguf_value *a);
int gguf_iter_next(gguf_iter *it, gguf_value *out);       /* 1: got one, 0: end */

/* Tensors (all parts). */
size_t gguf_tensor_count(const gguf_file *f);
const gguf_tensor *gguf_tensor_at(const gguf_file *f, size_t i);
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);

/* ggml type ids: name ("Q4_K"; NULL for ids ggml does not define), block
 * geometry (elements and bytes per block; 0 for unknown ids). */
const char *gguf_ggml_type_name(int t);
int gguf_ggml_type_block(int t);
size_t gguf_ggml_type_block_bytes(int t);

/* The dsv3_config of a `deepseek2` model from the metadata (model_gguf.c;
 * exposed for tests and fuzzing). Also looks at token_embd (vocab size)
 * and the first MoE layer's exp_probs_b (routing method). */
int gguf_model_config(const gguf_file *f, dsv3_config *c, dsv3_err *e);

#endif
