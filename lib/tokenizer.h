/* tokenizer.h -- the tokenizer inside the library.
 *
 * Loading is separated from the algorithm: a loader reads some file format
 * (tokenizer_hf.c: tokenizer.json + tokenizer_config.json; later GGUF's
 * tokenizer.ggml.* keys) and fills a format-neutral tok_desc, whose strings
 * it owns; tokenizer_build() copies what it needs into an immutable
 * dsv3_tokenizer. The public API (tokenizer.c) then runs added-token
 * matching, the pre-tokenizer (pretokenize.c) and BPE (bpe.c). */
#ifndef DSV3_TOKENIZER_H
#define DSV3_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "bpe.h"
#include "dsv3.h"
#include "err.h"

/* A byte string, not necessarily NUL-terminated. s == NULL: absent. */
typedef struct tok_str {
    const char *s;
    size_t len;
} tok_str;

/* An added token: matched in the raw text before pre-tokenization. */
typedef struct tok_added {
    tok_str content;
    int32_t id;
    int special;    /* dropped by DSV3_DETOKENIZE_SKIP_SPECIAL              */
    int normalized; /* matched in the second pass (after the normalizer)   */
} tok_added;

/* Which pre-tokenizer the tokenizer uses. Only DeepSeek-V3's so far. */
enum tok_pretok { TOK_PRETOK_DEEPSEEK_V3 = 1 };

/* What a loader hands to tokenizer_build. All pointers belong to the loader
 * and need only live until tokenizer_build returns. */
typedef struct tok_desc {
    const char *source;            /* file name for messages               */
    enum tok_pretok pretok;
    /* BPE vocabulary: vocab[i] (byte-level symbols, as stored in the file)
     * has id vocab_ids[i]. Ids need not be dense. */
    size_t n_vocab;
    const tok_str *vocab;
    const int32_t *vocab_ids;
    /* Merges in rank order: rank r joins merges[2r] and merges[2r+1]. */
    size_t n_merges;
    const tok_str *merges;
    /* Added tokens (ids may coincide with vocab ids). */
    size_t n_added;
    const tok_added *added;
    /* BOS / EOS: by id when >= 0, else by text (looked up among the added
     * tokens, then the vocab), else none. */
    int32_t bos_id, eos_id;
    tok_str bos_text, eos_text;
    int add_bos;                  /* prepend BOS by default               */
    tok_str chat_template;        /* kept for the chat template renderer  */
} tok_desc;

/* One id's token, as the decoder sees it. */
typedef struct tok_entry {
    uint32_t off;   /* into dsv3_tokenizer.pool                            */
    uint32_t len;   /* byte length                                         */
    uint8_t flags;  /* TOK_F_*                                             */
} tok_entry;
#define TOK_F_VALID 1u   /* the id has a token                             */
#define TOK_F_SPECIAL 2u /* skipped by DSV3_DETOKENIZE_SKIP_SPECIAL         */
#define TOK_F_ADDED 4u   /* an added token                                 */

/* A byte trie of added-token contents (first-child / next-sibling lists). */
typedef struct tok_trie_node {
    int32_t child;   /* first child, -1 if none                            */
    int32_t sibling; /* next sibling, -1 if none                           */
    int32_t id;      /* token ending here, -1 if none                      */
    uint8_t byte;    /* label of the edge into this node                   */
} tok_trie_node;

typedef struct tok_trie {
    tok_trie_node *nodes; /* nodes[0] is the root                          */
    size_t n, cap;
    uint8_t first[32];    /* bitmap of bytes that start some token         */
} tok_trie;

struct dsv3_tokenizer {
    enum tok_pretok pretok;
    int32_t n_ids;        /* largest id + 1                                */
    tok_entry *entries;   /* [n_ids]                                       */
    char *pool;           /* bytes of every token                          */
    size_t max_token_len; /* longest entry, in bytes                       */
    bpe_model bpe;
    tok_trie added[2];    /* [0]: matched first (not normalized); [1]: then */
    int32_t bos, eos;     /* -1: none                                      */
    int add_bos;
    char *bos_text;       /* NUL-terminated copies, NULL when absent       */
    char *eos_text;
    char *chat_template;
};

/* Build a tokenizer from a description. DSV3_ERR_BAD_FILE (naming
 * d->source) for inconsistent data: a merge whose parts or result are not
 * in the vocab, negative or huge ids. */
int tokenizer_build(const tok_desc *d, dsv3_tokenizer **out, dsv3_err *e);

/* tokenizer_hf.c: load tokenizer.json (json_path) and, when config_path is
 * not NULL and the file exists, tokenizer_config.json. DSV3_ERR_NOT_FOUND
 * for a missing tokenizer.json, DSV3_ERR_BAD_FILE for malformed JSON or a
 * missing/ill-typed key (named in the message), DSV3_ERR_UNSUPPORTED for a
 * model, normalizer, pre-tokenizer or decoder other than DeepSeek-V3's. */
int tokenizer_load_hf(const char *json_path, const char *config_path, dsv3_tokenizer **out, dsv3_err *e);

/* tokenizer_gguf.c: the tokenizer of a GGUF file's tokenizer.ggml.* keys
 * (gpt2 BPE with the deepseek-v3 pre-tokenizer); source names the file in
 * messages. DSV3_ERR_NOT_FOUND when the file has no tokenizer,
 * DSV3_ERR_UNSUPPORTED for another model or pre-tokenizer (named),
 * DSV3_ERR_BAD_FILE for malformed keys. */
struct gguf_file;
int tokenizer_from_gguf(const struct gguf_file *f, const char *source, dsv3_tokenizer **out, dsv3_err *e);
int tokenizer_load_gguf(const char *path, dsv3_tokenizer **out, dsv3_err *e);

/* Accessors for the chat template renderer: NUL-terminated strings owned
 * by the tokenizer, NULL when absent (or tok is NULL). */
const char *tokenizer_chat_template(const dsv3_tokenizer *tok);
const char *tokenizer_bos_text(const dsv3_tokenizer *tok);
const char *tokenizer_eos_text(const dsv3_tokenizer *tok);

/* The same as dsv3_tokenize / dsv3_detokenize, with a message in *e
 * (may be NULL) on failure. */
int tokenizer_encode(const dsv3_tokenizer *tok, const char *text, size_t len, unsigned flags, int32_t *ids,
                     size_t capacity, size_t *n_ids, dsv3_err *e);
int tokenizer_decode(const dsv3_tokenizer *tok, const int32_t *ids, size_t n, unsigned flags, char *text,
                     size_t capacity, size_t *len, dsv3_err *e);

#endif
