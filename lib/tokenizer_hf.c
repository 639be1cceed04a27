/* tokenizer_hf.c -- load a Hugging Face tokenizer.json (+ optional
 * tokenizer_config.json) into a tok_desc and build the tokenizer.
 *
 * Accepted: model BPE (byte-level vocab, merges as "a b" strings or
 * ["a", "b"] pairs, no subword prefix/suffix, no dropout, no
 * ignore_merges), an empty normalizer, DeepSeek-V3's pre-tokenizer (three
 * Splits with its exact regexes, then ByteLevel without prefix space or
 * regex) and the ByteLevel decoder. Anything else is
 * DSV3_ERR_UNSUPPORTED rather than a silently different tokenization. The
 * post_processor is ignored: BOS comes from tokenizer_config.json, as
 * transformers does it for LlamaTokenizerFast. */
#include <stdlib.h>
#include <string.h>

#include "dsv3.h"
#include "err.h"
#include "json.h"
#include "mapfile.h"
#include "tokenizer.h"

#define TOKENIZER_JSON_MAX ((size_t)1 << 30)
#define TOKENIZER_CONFIG_MAX ((size_t)64 << 20)

/* DeepSeek-V3's Split regexes, exactly as tokenizer.json spells them (after
 * JSON unescaping; the CR/LF in the third are the characters themselves). */
static const char REGEX_DIGITS[] = "\\p{N}{1,3}";
static const char REGEX_CJK[] = "[\xE4\xB8\x80-\xE9\xBE\xA5\xE3\x81\x80-\xE3\x82\x9F\xE3\x82\xA0-\xE3\x83\xBF]+";
static const char REGEX_MAIN[] = "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+"
                                 "|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+"
                                 "| ?[\\p{P}\\p{S}]+[\r\n]*"
                                 "|\\s*[\r\n]+"
                                 "|\\s+(?!\\S)"
                                 "|\\s+";

static int str_is(const json_value *v, const char *s) {
    return v && v->type == JSON_STRING && v->len == strlen(s) && !memcmp(v->str, s, v->len);
}
static int is_null_or_absent(const json_value *v) { return !v || v->type == JSON_NULL; }
static int bool_is(const json_value *v, int want) { return v && v->type == JSON_BOOL && v->boolean == want; }
/* An optional bool: absent or null gives dflt. */
static int bool_or(const json_value *v, int dflt) { return v && v->type == JSON_BOOL ? v->boolean : dflt; }

static int check_split(const json_value *p, const char *regex) {
    const json_value *pat = json_get(p, "pattern");
    return str_is(json_get(p, "type"), "Split") && str_is(json_get(pat, "Regex"), regex) &&
           str_is(json_get(p, "behavior"), "Isolated") && !bool_is(json_get(p, "invert"), 1);
}

/* The pre-tokenizer, the normalizer and the decoder must be DeepSeek-V3's. */
static int check_pipeline(const char *path, const json_value *root, enum tok_pretok *pretok, dsv3_err *e) {
    const json_value *norm = json_get(root, "normalizer");
    if (!is_null_or_absent(norm)) {
        const json_value *list = json_get(norm, "normalizers");
        if (!str_is(json_get(norm, "type"), "Sequence") || !list || list->type != JSON_ARRAY || list->n != 0)
            return err_set(e, DSV3_ERR_UNSUPPORTED, "%s: normalizer: only none or an empty Sequence is supported", path);
    }
    const json_value *pre = json_get(root, "pre_tokenizer");
    const json_value *list = json_get(pre, "pretokenizers");
    int ok = str_is(json_get(pre, "type"), "Sequence") && list && list->type == JSON_ARRAY && list->n == 4 &&
             check_split(json_at(list, 0), REGEX_DIGITS) && check_split(json_at(list, 1), REGEX_CJK) &&
             check_split(json_at(list, 2), REGEX_MAIN);
    if (ok) {
        const json_value *bl = json_at(list, 3);
        ok = str_is(json_get(bl, "type"), "ByteLevel") && !bool_is(json_get(bl, "add_prefix_space"), 1) &&
             !bool_is(json_get(bl, "use_regex"), 1);
    }
    if (!ok)
        return err_set(e, DSV3_ERR_UNSUPPORTED,
                       "%s: pre_tokenizer: only DeepSeek-V3's (three Splits and ByteLevel) is supported", path);
    *pretok = TOK_PRETOK_DEEPSEEK_V3;
    if (!str_is(json_get(json_get(root, "decoder"), "type"), "ByteLevel"))
        return err_set(e, DSV3_ERR_UNSUPPORTED, "%s: decoder: only ByteLevel is supported", path);
    return DSV3_OK;
}

static int check_model(const char *path, const json_value *model, dsv3_err *e) {
    if (!model || model->type != JSON_OBJECT)
        return err_set(e, DSV3_ERR_BAD_FILE, "%s: key \"model\": missing or not an object", path);
    const json_value *type = json_get(model, "type");
    if (type && !str_is(type, "BPE"))
        return err_set(e, DSV3_ERR_UNSUPPORTED, "%s: model.type: \"%s\" is not supported (only BPE)", path,
                       type->type == JSON_STRING ? type->str : json_type_name(type->type));
    const char *keys[2] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        const json_value *v = json_get(model, keys[i]);
        if (!is_null_or_absent(v) && !(v->type == JSON_STRING && v->len == 0))
            return err_set(e, DSV3_ERR_UNSUPPORTED, "%s: model.%s is not supported", path, keys[i]);
    }
    const json_value *dropout = json_get(model, "dropout");
    if (!is_null_or_absent(dropout) && !(dropout->type == JSON_NUMBER && dropout->num == 0.0))
        return err_set(e, DSV3_ERR_UNSUPPORTED, "%s: model.dropout is not supported", path);
    if (bool_is(json_get(model, "ignore_merges"), 1))
        return err_set(e, DSV3_ERR_UNSUPPORTED, "%s: model.ignore_merges is not supported", path);
    return DSV3_OK;
}

/* Everything the description points to lives in the parsed documents and
 * these arrays. */
typedef struct hf_parts {
    tok_str *vocab;
    int32_t *vocab_ids;
    tok_str *merges;
    tok_added *added;
} hf_parts;

static int fill_vocab(const char *path, const json_value *model, hf_parts *p, tok_desc *d, dsv3_err *e) {
    const json_value *vocab = json_get(model, "vocab");
    if (!vocab || vocab->type != JSON_OBJECT)
        return err_set(e, DSV3_ERR_BAD_FILE, "%s: key \"model.vocab\": missing or not an object", path);
    p->vocab = malloc((vocab->n ? vocab->n : 1) * sizeof *p->vocab);
    p->vocab_ids = malloc((vocab->n ? vocab->n : 1) * sizeof *p->vocab_ids);
    if (!p->vocab || !p->vocab_ids) return err_set(e, DSV3_ERR_NO_MEMORY, "%s: out of memory", path);
    for (size_t i = 0; i < vocab->n; i++) {
        const json_value *v = &vocab->items[i];
        if (v->type != JSON_NUMBER || !v->is_int || v->i < 0 || v->i > INT32_MAX)
            return err_set(e, DSV3_ERR_BAD_FILE, "%s: model.vocab[\"%.64s\"]: the id is not an integer in [0, 2^31)", path,
                           vocab->keys[i]);
        p->vocab[i].s = vocab->keys[i];
        p->vocab[i].len = vocab->key_lens[i];
        p->vocab_ids[i] = (int32_t)v->i;
    }
    d->n_vocab = vocab->n;
    d->vocab = p->vocab;
    d->vocab_ids = p->vocab_ids;

    const json_value *merges = json_get(model, "merges");
    if (!merges || merges->type != JSON_ARRAY)
        return err_set(e, DSV3_ERR_BAD_FILE, "%s: key \"model.merges\": missing or not an array", path);
    p->merges = malloc((merges->n ? merges->n : 1) * 2 * sizeof *p->merges);
    if (!p->merges) return err_set(e, DSV3_ERR_NO_MEMORY, "%s: out of memory", path);
    for (size_t r = 0; r < merges->n; r++) {
        const json_value *m = &merges->items[r];
        tok_str *lr = &p->merges[2 * r];
        if (m->type == JSON_STRING) { /* "a b": exactly one space */
            const char *sp = memchr(m->str, ' ', m->len);
            if (!sp || memchr(sp + 1, ' ', m->len - (size_t)(sp + 1 - m->str)))
                return err_set(e, DSV3_ERR_BAD_FILE, "%s: model.merges[%zu] \"%.64s\": not two tokens separated by a space",
                               path, r, m->str);
            lr[0].s = m->str;
            lr[0].len = (size_t)(sp - m->str);
            lr[1].s = sp + 1;
            lr[1].len = m->len - lr[0].len - 1;
        } else if (m->type == JSON_ARRAY && m->n == 2 && m->items[0].type == JSON_STRING &&
                   m->items[1].type == JSON_STRING) {
            lr[0].s = m->items[0].str;
            lr[0].len = m->items[0].len;
            lr[1].s = m->items[1].str;
            lr[1].len = m->items[1].len;
        } else {
            return err_set(e, DSV3_ERR_BAD_FILE, "%s: model.merges[%zu]: neither \"a b\" nor [\"a\", \"b\"]", path, r);
        }
    }
    d->n_merges = merges->n;
    d->merges = p->merges;
    return DSV3_OK;
}

static int fill_added(const char *path, const json_value *root, hf_parts *p, tok_desc *d, dsv3_err *e) {
    const json_value *added = json_get(root, "added_tokens");
    if (is_null_or_absent(added)) return DSV3_OK;
    if (added->type != JSON_ARRAY)
        return err_set(e, DSV3_ERR_BAD_FILE, "%s: key \"added_tokens\": not an array", path);
    p->added = malloc((added->n ? added->n : 1) * sizeof *p->added);
    if (!p->added) return err_set(e, DSV3_ERR_NO_MEMORY, "%s: out of memory", path);
    for (size_t i = 0; i < added->n; i++) {
        const json_value *a = &added->items[i];
        const json_value *id = json_get(a, "id"), *content = json_get(a, "content");
        if (!id || id->type != JSON_NUMBER || !id->is_int || id->i < 0 || id->i > INT32_MAX)
            return err_set(e, DSV3_ERR_BAD_FILE, "%s: added_tokens[%zu].id: missing or not an integer in [0, 2^31)",
                           path, i);
        if (!content || content->type != JSON_STRING)
            return err_set(e, DSV3_ERR_BAD_FILE, "%s: added_tokens[%zu].content: missing or not a string", path, i);
        if (bool_is(json_get(a, "lstrip"), 1) || bool_is(json_get(a, "rstrip"), 1) ||
            bool_is(json_get(a, "single_word"), 1))
            return err_set(e, DSV3_ERR_UNSUPPORTED, "%s: added_tokens[%zu]: lstrip, rstrip and single_word are not supported",
                           path, i);
        tok_added *t = &p->added[i];
        t->content.s = content->str;
        t->content.len = content->len;
        t->id = (int32_t)id->i;
        t->special = bool_or(json_get(a, "special"), 0);
        t->normalized = bool_or(json_get(a, "normalized"), !t->special);
    }
    d->n_added = added->n;
    d->added = p->added;
    return DSV3_OK;
}

/* bos_token / eos_token: a string, an AddedToken object, or null. */
static int config_token(const char *path, const json_value *cfg, const char *key, tok_str *out, dsv3_err *e) {
    const json_value *v = json_get(cfg, key);
    if (is_null_or_absent(v)) return DSV3_OK;
    if (v->type == JSON_OBJECT) v = json_get(v, "content");
    if (!v || v->type != JSON_STRING)
        return err_set(e, DSV3_ERR_BAD_FILE, "%s: key \"%s\": neither a string nor an object with a \"content\" string",
                       path, key);
    out->s = v->str;
    out->len = v->len;
    return DSV3_OK;
}

static int fill_config(const char *path, const json_value *cfg, tok_desc *d, dsv3_err *e) {
    if (!cfg || cfg->type != JSON_OBJECT) return err_set(e, DSV3_ERR_BAD_FILE, "%s: not a JSON object", path);
    int rc = config_token(path, cfg, "bos_token", &d->bos_text, e);
    if (!rc) rc = config_token(path, cfg, "eos_token", &d->eos_text, e);
    if (rc) return rc;
    /* add_bos_token; without it, transformers' LlamaTokenizer(Fast) adds
     * BOS by default. */
    const json_value *cls = json_get(cfg, "tokenizer_class");
    int llama = str_is(cls, "LlamaTokenizerFast") || str_is(cls, "LlamaTokenizer");
    const json_value *ab = json_get(cfg, "add_bos_token");
    if (!is_null_or_absent(ab) && ab->type != JSON_BOOL)
        return err_set(e, DSV3_ERR_BAD_FILE, "%s: key \"add_bos_token\": not a bool", path);
    d->add_bos = bool_or(ab, llama);
    /* chat_template: a string, or a list of {name, template} (the one named
     * "default", else the first). */
    const json_value *ct = json_get(cfg, "chat_template");
    if (ct && ct->type == JSON_ARRAY) {
        const json_value *pick = NULL;
        for (size_t i = 0; i < ct->n; i++) {
            const json_value *tpl = json_get(&ct->items[i], "template");
            if (!tpl || tpl->type != JSON_STRING) continue;
            if (!pick || str_is(json_get(&ct->items[i], "name"), "default")) pick = tpl;
            if (str_is(json_get(&ct->items[i], "name"), "default")) break;
        }
        ct = pick;
    }
    if (!is_null_or_absent(ct)) {
        if (ct->type != JSON_STRING)
            return err_set(e, DSV3_ERR_BAD_FILE, "%s: key \"chat_template\": not a string", path);
        d->chat_template.s = ct->str;
        d->chat_template.len = ct->len;
    }
    return DSV3_OK;
}

static int parse_file(const char *path, size_t max, json_doc **doc, dsv3_err *e) {
    char *text = NULL;
    size_t len = 0;
    *doc = NULL;
    int rc = read_small_file(path, max, &text, &len, e);
    if (rc) return rc;
    char msg[256];
    int jr = json_parse(text, len, doc, msg, sizeof msg);
    free(text);
    if (jr == -2) return err_set(e, DSV3_ERR_NO_MEMORY, "%s: out of memory", path);
    if (jr) return err_set(e, DSV3_ERR_BAD_FILE, "%s: %s", path, msg);
    return DSV3_OK;
}

int tokenizer_load_hf(const char *json_path, const char *config_path, dsv3_tokenizer **out, dsv3_err *e) {
    *out = NULL;
    json_doc *doc = NULL, *cfg_doc = NULL;
    hf_parts parts;
    memset(&parts, 0, sizeof parts);
    tok_desc d;
    memset(&d, 0, sizeof d);
    d.source = json_path;
    d.bos_id = d.eos_id = -1;

    int rc = parse_file(json_path, TOKENIZER_JSON_MAX, &doc, e);
    const json_value *root = doc ? json_root(doc) : NULL;
    if (!rc && (!root || root->type != JSON_OBJECT))
        rc = err_set(e, DSV3_ERR_BAD_FILE, "%s: not a JSON object", json_path);
    if (!rc) rc = check_model(json_path, json_get(root, "model"), e);
    if (!rc) rc = check_pipeline(json_path, root, &d.pretok, e);
    if (!rc) rc = fill_vocab(json_path, json_get(root, "model"), &parts, &d, e);
    if (!rc) rc = fill_added(json_path, root, &parts, &d, e);
    if (!rc && config_path) {
        dsv3_err ce;
        err_clear(&ce);
        int cr = parse_file(config_path, TOKENIZER_CONFIG_MAX, &cfg_doc, &ce);
        if (cr == DSV3_OK) cr = fill_config(config_path, json_root(cfg_doc), &d, &ce);
        if (cr && cr != DSV3_ERR_NOT_FOUND) { /* a missing config is fine: no BOS/EOS */
            if (e) *e = ce;
            rc = cr;
        }
    }
    if (!rc) rc = tokenizer_build(&d, out, e);
    json_free(cfg_doc);
    json_free(doc);
    free(parts.vocab);
    free(parts.vocab_ids);
    free(parts.merges);
    free(parts.added);
    return rc;
}
