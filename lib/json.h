/* json.h -- a small, defensive JSON (RFC 8259) parser for config.json,
 * safetensors headers and index files.
 *
 * The whole document is parsed into one arena owned by json_doc; values
 * point into it and live until json_free. Robust to hostile input: nesting
 * depth is limited (JSON_MAX_DEPTH), every escape is validated (\uXXXX with
 * surrogate pairs, producing UTF-8), invalid UTF-8 in strings is rejected,
 * numbers are parsed without the C locale (huge exponents become +-inf and
 * are flagged, never UB), trailing garbage is an error. Thread-safe: no
 * global state. */
#ifndef DSV3_JSON_H
#define DSV3_JSON_H

#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 128

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

typedef struct json_value {
    enum json_type type;
    int boolean;          /* JSON_BOOL: 0 or 1                                   */
    double num;           /* JSON_NUMBER: value (may be +-inf if out of range)   */
    int is_int;           /* JSON_NUMBER: 1 if written without fraction/exponent
                             and it fits int64_t exactly                         */
    int64_t i;            /* JSON_NUMBER: the integer when is_int                */
    const char *str;      /* JSON_STRING: decoded UTF-8, NUL-terminated          */
    size_t len;           /* JSON_STRING: byte length (may contain NUL bytes)    */
    size_t n;             /* JSON_ARRAY / JSON_OBJECT: number of members         */
    struct json_value *items; /* array elements, or object member values         */
    const char **keys;    /* JSON_OBJECT: member keys (decoded, NUL-terminated)  */
    size_t *key_lens;     /* JSON_OBJECT: key byte lengths                       */
    size_t offset;        /* byte offset of the value in the input text          */
} json_value;

typedef struct json_doc json_doc;

/* Parse text[0..len). Returns 0 and *out on success; on failure returns -1,
 * *out = NULL, and writes a message with the byte offset into err
 * (optional). -2 means out of memory. */
int json_parse(const char *text, size_t len, json_doc **out, char *err, size_t err_size);
const json_value *json_root(const json_doc *doc);
void json_free(json_doc *doc);

/* Member of an object by key (the last one if duplicated); NULL when v is
 * NULL, not an object, or has no such key. */
const json_value *json_get(const json_value *v, const char *key);
/* Element i of an array; NULL when out of range or not an array. */
const json_value *json_at(const json_value *v, size_t i);
/* Name of a type for messages: "null", "bool", "number", ... */
const char *json_type_name(enum json_type t);

#endif
