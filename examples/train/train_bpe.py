#!/usr/bin/env python3
"""train_bpe.py -- a byte-level BPE tokenizer for the corpus, written in
DeepSeek-V3's tokenizer.json layout (same normalizer, pre-tokenizer,
post-processor and decoder; the three specials at ids 0, 1, 2; then the 256
byte tokens; then one token per merge), so lib/tokenizer_hf.c loads it
unchanged. Also writes tokenizer_config.json.

    python3 examples/train/train_bpe.py --corpus examples/train/data/train.txt \\
        --out examples/models/austen-v3-tiny --vocab 4096

With --check DSV3_BIN FILE, it encodes FILE with the Python encoder and with
`dsv3 tokenize --text-file FILE` and fails unless the ids are identical.
"""
import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402

BOS, EOS, PAD = "<\uff5cbegin\u2581of\u2581sentence\uff5c>", "<\uff5cend\u2581of\u2581sentence\uff5c>", "<\uff5c\u2581pad\u2581\uff5c>"

# Copied verbatim from DeepSeek-V3's tokenizer.json.
PRE_TOKENIZER = {"type": "Sequence", "pretokenizers": [
    {"type": "Split", "pattern": {"Regex": "\\p{N}{1,3}"}, "behavior": "Isolated", "invert": False},
    {"type": "Split", "pattern": {"Regex": "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+"}, "behavior": "Isolated",
     "invert": False},
    {"type": "Split", "pattern": {"Regex": "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}"
                                  "\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"},
     "behavior": "Isolated", "invert": False},
    {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}
POST_PROCESSOR = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True}
DECODER = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}


def added(i, content):
    return {"id": i, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": False, "special": True}


def build(merges):
    vocab = {BOS: 0, EOS: 1, PAD: 2}
    for _, ch in bpe.BYTE_ORDER:
        vocab[ch] = len(vocab)
    for a, b in merges:
        vocab[a + b] = len(vocab)
    return vocab


def tokenizer_json(vocab, merges):
    return {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [added(0, BOS), added(1, EOS), added(2, PAD)],
        "normalizer": {"type": "Sequence", "normalizers": []},
        "pre_tokenizer": PRE_TOKENIZER,
        "post_processor": POST_PROCESSOR,
        "decoder": DECODER,
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "vocab": vocab, "merges": ["%s %s" % m for m in merges]},
    }


def token_config():
    tok = lambda s: {"__type": "AddedToken", "content": s, "lstrip": False, "normalized": True,  # noqa: E731
                     "rstrip": False, "single_word": False}
    return {"add_bos_token": True, "add_eos_token": False, "bos_token": tok(BOS), "eos_token": tok(EOS),
            "pad_token": tok(EOS), "clean_up_tokenization_spaces": False, "legacy": True,
            "model_max_length": 4096, "sp_model_kwargs": {}, "unk_token": None,
            "tokenizer_class": "LlamaTokenizerFast"}


def load(path):
    """Encoder for a tokenizer directory written by this script."""
    t = json.load(open(os.path.join(path, "tokenizer.json"), encoding="utf-8"))
    merges = [tuple(m.split(" ")) for m in t["model"]["merges"]]
    return bpe.Encoder(t["model"]["vocab"], merges)


def check(dsv3, tok_dir, path):
    enc = load(tok_dir)
    text = open(path, encoding="utf-8").read()
    t = time.time()
    py = enc.encode(text)
    t_py = time.time() - t
    out = subprocess.run([dsv3, "tokenize", "--tokenizer", tok_dir, "--text-file", path], check=True,
                         capture_output=True, text=True).stdout
    c = json.loads(out)
    if py != c:
        i = next((i for i, (a, b) in enumerate(zip(py, c)) if a != b), min(len(py), len(c)))
        sys.exit("MISMATCH on %s at token %d: python %s vs dsv3 %s" % (path, i, py[i:i + 8], c[i:i + 8]))
    print("%s: %d tokens, python and dsv3 tokenize identical (%.2f chars/token, python %.1fs)" %
          (path, len(py), len(text) / len(py), t_py))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus")
    ap.add_argument("--out", required=True, help="model directory for tokenizer.json / tokenizer_config.json")
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--check", nargs=2, metavar=("DSV3_BIN", "FILE"), action="append",
                    help="compare the Python encoder with `dsv3 tokenize` on FILE (repeatable)")
    a = ap.parse_args()
    if a.corpus:
        text = open(a.corpus, encoding="utf-8").read()
        t = time.time()
        merges = bpe.train(text, a.vocab - 3 - 256, log=lambda s: print(s, flush=True))
        vocab = build(merges)
        assert len(vocab) == a.vocab, len(vocab)
        os.makedirs(a.out, exist_ok=True)
        with open(os.path.join(a.out, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(tokenizer_json(vocab, merges), f, ensure_ascii=False, indent=None, separators=(",", ":"))
        with open(os.path.join(a.out, "tokenizer_config.json"), "w", encoding="utf-8") as f:
            json.dump(token_config(), f, ensure_ascii=False, indent=2)
            f.write("\n")
        print("trained %d merges in %.1fs -> %s" % (len(merges), time.time() - t, a.out))
    for dsv3, path in a.check or []:
        check(dsv3, a.out, path)


if __name__ == "__main__":
    main()
