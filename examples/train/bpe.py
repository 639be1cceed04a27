"""bpe.py -- DeepSeek-V3's pre-tokenizer and byte-level BPE in plain Python.

The pre-tokenizer is DeepSeek-V3's Sequence of three Isolated Splits
(tokenizer.json):

  1. \\p{N}{1,3}
  2. [\\u4e00-\\u9fa5\\u3040-\\u309f\\u30a0-\\u30ff]+
  3. [!"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+
     |[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*
     |\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+

Python's `re` has no \\p{..} classes, so the classes are spelled out for the
alphabet of the Austen corpus: printable ASCII, tab, CR, LF and the pound
sign. On that alphabet the spelled-out classes are exactly the Unicode ones
(\\p{N} = 0-9, \\p{L} = A-Za-z, \\p{M} = nothing, \\p{P}|\\p{S} = the 32 ASCII
punctuation/symbol characters and U+00A3, \\s = space, tab, CR, LF, and no
CJK character occurs). Text outside that alphabet raises ValueError rather
than being split differently from the C tokenizer; `dsv3 tokenize` is the
reference for anything else.
"""
import heapq
import re
from collections import Counter, defaultdict

ALPHABET = set(chr(c) for c in range(0x20, 0x7F)) | {"\t", "\r", "\n", "\u00a3"}

_PS = r"!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~\u00a3"      # \p{P} | \p{S}
_L = r"A-Za-z"                                            # \p{L} (| \p{M})
_S = r" \t\r\n"                                           # \s
MAIN = re.compile(
    r"[!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+"
    r"|[^\r\n" + _L + _PS + r"]?[" + _L + r"]+"
    r"| ?[" + _PS + r"]+[\r\n]*"
    r"|[" + _S + r"]*[\r\n]+"
    r"|[" + _S + r"]+(?![^" + _S + r"])"
    r"|[" + _S + r"]+")
DIGITS = re.compile(r"[0-9]{1,3}")


def _isolated(regex, pieces):
    out = []
    for s in pieces:
        at = 0
        for m in regex.finditer(s):
            if m.start() > at:
                out.append(s[at:m.start()])
            if m.end() > m.start():
                out.append(m.group())
            at = m.end()
        if at < len(s):
            out.append(s[at:])
    return out


def pretokenize(text):
    bad = set(text) - ALPHABET
    if bad:
        raise ValueError("characters outside the supported alphabet: %r" % sorted(bad)[:10])
    return _isolated(MAIN, _isolated(DIGITS, [text]))


def bytes_to_unicode():
    """GPT-2's reversible byte -> printable character map (ByteLevel)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1)) + \
        list(range(ord("\u00ae"), ord("\u00ff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


BYTE_ORDER = list(bytes_to_unicode().items())  # (byte, char) in GPT-2 order
B2U = dict(BYTE_ORDER)


def to_bytelevel(piece):
    return "".join(B2U[b] for b in piece.encode("utf-8"))


def train(text, n_merges, log=None):
    """Byte-level BPE merges (list of (a, b) strings), most frequent pair first."""
    words = Counter(to_bytelevel(p) for p in pretokenize(text))
    wl = [list(w) for w in words]
    freq = [words[w] for w in words]
    pairs = Counter()
    where = defaultdict(set)
    for i, w in enumerate(wl):
        for a, b in zip(w, w[1:]):
            pairs[(a, b)] += freq[i]
            where[(a, b)].add(i)
    heap = [(-c, p) for p, c in pairs.items()]
    heapq.heapify(heap)
    merges = []
    while len(merges) < n_merges and heap:
        c, p = heapq.heappop(heap)
        if -c != pairs.get(p, 0) or c == 0:
            continue  # stale entry
        merges.append(p)
        a, b = p
        ab = a + b
        changed = set()
        for i in list(where[p]):
            w, f = wl[i], freq[i]
            for x, y in zip(w, w[1:]):
                pairs[(x, y)] -= f
                changed.add((x, y))
            j, nw = 0, []
            while j < len(w):
                if j + 1 < len(w) and w[j] == a and w[j + 1] == b:
                    nw.append(ab)
                    j += 2
                else:
                    nw.append(w[j])
                    j += 1
            wl[i] = nw
            for x, y in zip(nw, nw[1:]):
                pairs[(x, y)] += f
                where[(x, y)].add(i)
                changed.add((x, y))
        for q in changed:
            if pairs[q] > 0:
                heapq.heappush(heap, (-pairs[q], q))
        pairs.pop(p, None)
        where.pop(p, None)
        if log and len(merges) % 500 == 0:
            log("%d merges, last %r (%d)" % (len(merges), ab, -c))
    return merges


class Encoder:
    """Rank-based byte-level BPE encoding (lowest-ranked adjacent pair first,
    leftmost on ties), as tokenizers and lib/bpe.c do it."""

    def __init__(self, vocab, merges):
        self.vocab = vocab
        self.ranks = {tuple(m): r for r, m in enumerate(merges)}
        self.cache = {}

    def word(self, w):
        ids = self.cache.get(w)
        if ids is not None:
            return ids
        parts = list(w)
        while len(parts) > 1:
            best, at = None, -1
            for j in range(len(parts) - 1):
                r = self.ranks.get((parts[j], parts[j + 1]))
                if r is not None and (best is None or r < best):
                    best, at = r, j
            if best is None:
                break
            parts[at:at + 2] = [parts[at] + parts[at + 1]]
        ids = [self.vocab[t] for t in parts]
        self.cache[w] = ids
        return ids

    def encode(self, text, bos=None):
        out = [] if bos is None else [bos]
        for p in pretokenize(text):
            out.extend(self.word(to_bytelevel(p)))
        return out
