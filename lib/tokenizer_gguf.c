/* tokenizer_gguf.c -- the tokenizer of a GGUF file, from llama.cpp's
 * tokenizer.ggml.* metadata, into the same tok_desc as tokenizer.json.
 *
 * Keys read:
 *   tokenizer.ggml.model        "gpt2" (byte-level BPE); "none"/"no_vocab"
 *                               means the file has no tokenizer
 *   tokenizer.ggml.pre          "deepseek-v3" (any other pre-tokenizer is
 *                               refused by name: it would split differently)
 *   tokenizer.ggml.tokens       string array; token i is id i
 *   tokenizer.ggml.token_type   optional integer array, one per token:
 *       1 normal, 2 unknown, 6 byte, 0 undefined -> the BPE vocabulary
 *       3 control      -> an added token, special (skipped by
 *                         DSV3_DETOKENIZE_SKIP_SPECIAL), matched in the raw text
 *       4 user-defined -> an added token, not special (HF's special=false,
 *                         normalized=true)
 *       5 unused       -> no token (llama.cpp's "[PADi]" fillers)
 *   tokenizer.ggml.merges       string array "a b" in rank order (split at
 *                               the first space after the first byte, as
 *                               llama.cpp does)
 *   tokenizer.ggml.bos_token_id / eos_token_id   optional
 *   tokenizer.ggml.add_bos_token                 optional, absent = false
 *                                                (llama.cpp's default for
 *                                                deepseek-v3)
 *   tokenizer.chat_template                      optional
 *
 * Files from llama.cpp's converter mark DeepSeek's "<｜User｜>"-style
 * tokens control even where tokenizer.json says special=false (they "look
 * special"); such tokens then encode the same but are dropped by
 * DSV3_DETOKENIZE_SKIP_SPECIAL. dsv3 convert writes them user-defined. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsv3.h"
#include "gguf.h"
#include "tokenizer.h"

enum { TT_UNDEFINED = 0, TT_NORMAL, TT_UNKNOWN, TT_CONTROL, TT_USER_DEFINED, TT_UNUSED, TT_BYTE };

#define SHOWN 64 /* bytes of a value quoted in a message */

static int shown(gguf_str s) { return (int)(s.n < SHOWN ? s.n : SHOWN); }

/* An optional token id key: -1 when absent. */
static int get_id(const gguf_file *f, const char *src, const char *key, uint64_t n_tokens, int32_t *out, dsv3_err *e) {
    int64_t v;
    *out = -1;
    int rc = gguf_get_int(f, key, &v, e);
    if (rc == DSV3_ERR_NOT_FOUND) return DSV3_OK;
    if (rc) return rc;
    if (v < 0 || (uint64_t)v >= n_tokens)
        return err_set(e, DSV3_ERR_BAD_FILE, "%s: %s = %lld is not a token id (the file has %llu tokens)", src, key,
                       (long long)v, (unsigned long long)n_tokens);
    *out = (int32_t)v;
    return DSV3_OK;
}

int tokenizer_from_gguf(const struct gguf_file *f, const char *src, dsv3_tokenizer **out, dsv3_err *e) {
    *out = NULL;
    gguf_str model, pre;
    int rc = gguf_get_str(f, "tokenizer.ggml.model", &model, e);
    if (rc == DSV3_ERR_NOT_FOUND)
        return err_set(e, DSV3_ERR_NOT_FOUND, "%s: the GGUF file has no tokenizer (no tokenizer.ggml.model)", src);
    if (rc) return rc;
    if (gguf_str_eq(model, "none") || gguf_str_eq(model, "no_vocab"))
        return err_set(e, DSV3_ERR_NOT_FOUND, "%s: the GGUF file has no tokenizer (tokenizer.ggml.model = %.*s)", src,
                       shown(model), model.p);
    if (!gguf_str_eq(model, "gpt2"))
        return err_set(e, DSV3_ERR_UNSUPPORTED,
                       "%s: tokenizer.ggml.model '%.*s' is not supported (only 'gpt2', byte-level BPE)", src,
                       shown(model), model.p);
    rc = gguf_get_str(f, "tokenizer.ggml.pre", &pre, e);
    if (rc == DSV3_ERR_NOT_FOUND)
        return err_set(e, DSV3_ERR_UNSUPPORTED,
                       "%s: tokenizer.ggml.pre is missing (llama.cpp then uses 'default'); only 'deepseek-v3' is "
                       "supported", src);
    if (rc) return rc;
    if (!gguf_str_eq(pre, "deepseek-v3"))
        return err_set(e, DSV3_ERR_UNSUPPORTED,
                       "%s: pre-tokenizer tokenizer.ggml.pre = '%.*s' is not supported (only 'deepseek-v3')", src,
                       shown(pre), pre.p);

    const gguf_value *toks = NULL, *types = NULL, *merges = NULL;
    rc = gguf_get_arr(f, "tokenizer.ggml.tokens", GGUF_STR, &toks, e);
    if (rc == DSV3_ERR_NOT_FOUND) return err_set(e, DSV3_ERR_BAD_FILE, "%s: tokenizer.ggml.tokens is missing", src);
    if (rc) return rc;
    rc = gguf_get_arr(f, "tokenizer.ggml.merges", GGUF_STR, &merges, e);
    if (rc == DSV3_ERR_NOT_FOUND)
        return err_set(e, DSV3_ERR_BAD_FILE, "%s: tokenizer.ggml.merges is missing (a gpt2 tokenizer needs it)", src);
    if (rc) return rc;
    rc = gguf_get_arr(f, "tokenizer.ggml.token_type", -1, &types, e);
    if (rc == DSV3_ERR_NOT_FOUND) types = NULL;
    else if (rc) return rc;
    const uint64_t n = toks->n, nm = merges->n;
    if (n == 0 || n > INT32_MAX) return err_set(e, DSV3_ERR_BAD_FILE, "%s: tokenizer.ggml.tokens has %llu tokens", src,
                                                (unsigned long long)n);
    if (types && types->n != n)
        return err_set(e, DSV3_ERR_BAD_FILE, "%s: tokenizer.ggml.token_type has %llu entries for %llu tokens", src,
                       (unsigned long long)types->n, (unsigned long long)n);
    if (nm > SIZE_MAX / (2 * sizeof(tok_str))) return err_set(e, DSV3_ERR_BAD_FILE, "%s: too many merges", src);

    tok_desc d;
    memset(&d, 0, sizeof d);
    d.source = src;
    d.pretok = TOK_PRETOK_DEEPSEEK_V3;
    gguf_str *strs = malloc((size_t)n * sizeof *strs);
    gguf_str *ms = malloc((size_t)(nm ? nm : 1) * sizeof *ms);
    tok_str *vocab = malloc((size_t)n * sizeof *vocab);
    int32_t *ids = malloc((size_t)n * sizeof *ids);
    tok_added *added = malloc((size_t)n * sizeof *added);
    tok_str *mpairs = malloc((size_t)(nm ? nm : 1) * 2 * sizeof *mpairs);
    if (!strs || !ms || !vocab || !ids || !added || !mpairs) {
        rc = err_set(e, DSV3_ERR_NO_MEMORY, "%s: out of memory", src);
        goto done;
    }
    gguf_arr_strs(toks, strs, n);
    gguf_arr_strs(merges, ms, nm);
    size_t nv = 0, na = 0;
    for (uint64_t i = 0; i < n; i++) {
        int64_t tt = TT_NORMAL;
        if (types) {
            gguf_value v;
            if (!gguf_arr_at(types, i, &v) || !gguf_value_int(&v, &tt) || tt < 0 || tt > TT_BYTE) {
                rc = err_set(e, DSV3_ERR_BAD_FILE, "%s: tokenizer.ggml.token_type[%llu] is not a token type (0..6)",
                             src, (unsigned long long)i);
                goto done;
            }
        }
        if (tt == TT_UNUSED) continue;
        if (tt == TT_CONTROL || tt == TT_USER_DEFINED) {
            tok_added *a = &added[na++];
            a->content.s = strs[i].p;
            a->content.len = (size_t)strs[i].n;
            a->id = (int32_t)i;
            a->special = tt == TT_CONTROL;
            a->normalized = !a->special; /* HF's default for added tokens */
            continue;
        }
        vocab[nv].s = strs[i].p;
        vocab[nv].len = (size_t)strs[i].n;
        ids[nv++] = (int32_t)i;
    }
    for (uint64_t r = 0; r < nm; r++) {
        const char *sp = ms[r].n > 1 ? memchr(ms[r].p + 1, ' ', (size_t)ms[r].n - 1) : NULL;
        if (!sp || sp + 1 == ms[r].p + ms[r].n) {
            rc = err_set(e, DSV3_ERR_BAD_FILE, "%s: tokenizer.ggml.merges[%llu] \"%.*s\" is not two tokens separated by a space",
                         src, (unsigned long long)r, shown(ms[r]), ms[r].p);
            goto done;
        }
        mpairs[2 * r].s = ms[r].p;
        mpairs[2 * r].len = (size_t)(sp - ms[r].p);
        mpairs[2 * r + 1].s = sp + 1;
        mpairs[2 * r + 1].len = (size_t)(ms[r].p + ms[r].n - (sp + 1));
    }
    d.n_vocab = nv;
    d.vocab = vocab;
    d.vocab_ids = ids;
    d.n_merges = (size_t)nm;
    d.merges = mpairs;
    d.n_added = na;
    d.added = added;
    rc = get_id(f, src, "tokenizer.ggml.bos_token_id", n, &d.bos_id, e);
    if (!rc) rc = get_id(f, src, "tokenizer.ggml.eos_token_id", n, &d.eos_id, e);
    if (rc) goto done;
    rc = gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &d.add_bos, e);
    if (rc == DSV3_ERR_NOT_FOUND) d.add_bos = 0;
    else if (rc) goto done;
    gguf_str tpl;
    rc = gguf_get_str(f, "tokenizer.chat_template", &tpl, e);
    if (rc == DSV3_OK) {
        d.chat_template.s = tpl.p;
        d.chat_template.len = (size_t)tpl.n;
    } else if (rc != DSV3_ERR_NOT_FOUND) {
        goto done;
    }
    rc = tokenizer_build(&d, out, e);
done:
    free(strs);
    free(ms);
    free(vocab);
    free(ids);
    free(added);
    free(mpairs);
    return rc;
}

int tokenizer_load_gguf(const char *path, dsv3_tokenizer **out, dsv3_err *e) {
    gguf_file *f = NULL;
    *out = NULL;
    int rc = gguf_open(path, 1, &f, e);
    if (rc) return rc;
    rc = tokenizer_from_gguf(f, path, out, e);
    gguf_close(f);
    return rc;
}
