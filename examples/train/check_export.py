#!/usr/bin/env python3
"""check_export.py -- round trip of an exported checkpoint: the torch model
(model.py, loaded from the exported BF16 safetensors, computing in float64)
against `dsv3 logits --all` and `dsv3 mtp-logits` on the same directory.
Fails unless max |torch - dsv3| < 1e-3 for both.

    python3 examples/train/check_export.py build/dsv3 examples/models/austen-v3-tiny [--n 128] [--backend scalar]

The tokens are BOS plus the first n-1 tokens of the directory's heldout.txt.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as M  # noqa: E402
import st  # noqa: E402
import train_bpe  # noqa: E402


def load_model(path, dtype=torch.float64):
    cfg = json.load(open(os.path.join(path, "config.json")))
    net = M.DeepseekV3(cfg).to(dtype)
    sd = {k: v.to(dtype) for k, v in st.load(os.path.join(path, "model.safetensors")).items()}
    net.load_state_dict(sd, strict=True)
    return net.eval()


def dsv3_floats(args, out, n, V):
    subprocess.run(args + ["--out", out], check=True)
    return np.fromfile(out, dtype=np.float32).reshape(n, V)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dsv3")
    ap.add_argument("model")
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--backend", default="scalar")
    ap.add_argument("--tol", type=float, default=1e-3)
    a = ap.parse_args()
    enc = train_bpe.load(a.model)
    text = open(os.path.join(a.model, "heldout.txt"), encoding="utf-8").read()
    ids = [enc.vocab[train_bpe.BOS]] + enc.encode(text[:20 * a.n])[:a.n - 1]
    net = load_model(a.model)
    V = net.c["vocab_size"]
    tok = torch.tensor([ids])
    with torch.no_grad():
        h = net.hidden(tok)
        ref = net.lm_head(h)[0]
        nxt = ids[1:] + [int(ref[-1].argmax())]
        ref_mtp = net.mtp_from_hidden(h, torch.tensor([nxt]))[0]
    base = [a.dsv3, "-m", a.model, "--tokens", ",".join(map(str, ids)), "--backend", a.backend]
    ok = True
    with tempfile.TemporaryDirectory() as d:
        for name, args, want in (("logits", [a.dsv3, "logits"] + base[1:] + ["--all"], ref),
                                 ("mtp-logits", [a.dsv3, "mtp-logits"] + base[1:], ref_mtp)):
            got = dsv3_floats(args, os.path.join(d, name + ".bin"), len(ids), V)
            diff = float(np.abs(got - want.numpy()).max())
            agree = float((got.argmax(-1) == want.numpy().argmax(-1)).mean())
            print("%-10s %d positions: max |torch - dsv3| = %.2e, argmax agreement %.3f" % (name, len(ids), diff, agree))
            ok &= diff < a.tol
    print("OK" if ok else "FAILED (tolerance %g)" % a.tol)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
