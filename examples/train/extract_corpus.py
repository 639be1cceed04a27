#!/usr/bin/env python3
"""extract_corpus.py -- Jane Austen's six novels from Debian's r-cran-janeaustenr
(read from the package's R lazy-load database, without R), unwrapped into
paragraphs, split into a training file and a held-out file.

The last 5 % (by characters, at a paragraph boundary) of every novel is held
out. Paragraphs are the package's hard-wrapped lines joined by single spaces;
paragraphs are separated by a blank line ("\\n\\n").

    python3 examples/train/extract_corpus.py \\
        --train examples/train/data/train.txt \\
        --heldout examples/models/austen-v3-tiny/heldout.txt
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rdata  # noqa: E402

DB = "/usr/lib/R/site-library/janeaustenr/data/Rdata"
NOVELS = ["sensesensibility", "prideprejudice", "mansfieldpark", "emma", "northangerabbey", "persuasion"]


def paragraphs(lines):
    out, cur = [], []
    for line in lines:
        line = (line or "").strip()
        if line:
            cur.append(line)
        elif cur:
            out.append(" ".join(cur))
            cur = []
    if cur:
        out.append(" ".join(cur))
    return out


def split(paras, frac):
    total = sum(len(p) + 2 for p in paras)
    acc = 0
    for i, p in enumerate(paras):
        if acc >= total * (1 - frac):
            return paras[:i], paras[i:]
        acc += len(p) + 2
    return paras, []


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--db", default=DB, help="lazy-load database stem (default %(default)s)")
    ap.add_argument("--train", required=True)
    ap.add_argument("--heldout", required=True)
    ap.add_argument("--heldout-frac", type=float, default=0.05)
    a = ap.parse_args()
    objs = rdata.read_lazyload_db(a.db)
    train, held = [], []
    for name in NOVELS:
        paras = paragraphs(objs[name].value)
        tr, he = split(paras, a.heldout_frac)
        train.append("\n\n".join(tr))
        held.append("\n\n".join(he))
        print("%-17s %5d paragraphs  %8d chars train  %7d chars held out" %
              (name, len(paras), len(train[-1]), len(held[-1])))
    for path, parts in ((a.train, train), (a.heldout, held)):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="\n") as f:
            f.write("\n\n".join(parts) + "\n")
        print("wrote %s (%d bytes)" % (path, os.path.getsize(path)))


if __name__ == "__main__":
    main()
