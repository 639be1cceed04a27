#!/usr/bin/env python3
"""eval.py -- metrics of an exported model directory, computed in torch
(float32, from the exported BF16 weights):

* held-out perplexity, windowed like `dsv3 perplexity`: windows of CTX
  tokens, each BOS plus CTX-1 text tokens, every text token scored;
* MTP: top-1 accuracy of the MTP head on the held-out text (predicting
  token i+2), and its agreement with the main model's greedy next-next
  token in greedy decoding (the speculative-decoding acceptance rate);
* expert load balance: max/mean of the tokens routed to each expert, per
  MoE layer, over the held-out text.

    python3 examples/train/eval.py examples/models/austen-v3-tiny [--ctx 512]
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bpe  # noqa: E402
import check_export  # noqa: E402
import train_bpe  # noqa: E402


def decode(enc, ids):
    inv = {v: k for k, v in enc.vocab.items()}
    u2b = {c: b for b, c in bpe.BYTE_ORDER}
    return bytes(u2b[ch] for i in ids if i > 2 for ch in inv[i]).decode("utf-8", "replace")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--heldout", help="default MODEL/heldout.txt")
    ap.add_argument("--greedy-prompts", type=int, default=24)
    ap.add_argument("--greedy-new", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads; 1 is fastest on a shared machine (OpenBLAS threads stall when a core is busy)")
    ap.add_argument("--json", help="write the metrics here")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    t0 = time.time()
    enc = train_bpe.load(a.model)
    bos = enc.vocab[train_bpe.BOS]
    text = open(a.heldout or os.path.join(a.model, "heldout.txt"), encoding="utf-8").read()
    ids = enc.encode(text)
    net = check_export.load_model(a.model, torch.float32)
    moes = net.moe_modules
    names = ["layer %d" % i for i, l in enumerate(net.model.layers) if l.mlp in moes]
    names[-1] = "MTP"
    load = [torch.zeros(len(m.experts)) for m in moes]
    per = a.ctx - 1
    nll, n_tok, mtp_hit, mtp_n = 0.0, 0, 0, 0
    with torch.no_grad():
        for at in range(0, len(ids), per):
            w = torch.tensor([[bos] + ids[at:at + per]])
            logits, mtp = net(w, mtp=True)
            for m, ld in zip(moes, load):
                ld += m.last_load.float()
            nll += F.cross_entropy(logits[0, :-1], w[0, 1:], reduction="sum").item()
            n_tok += w.shape[1] - 1
            if w.shape[1] > 2:
                mtp_hit += (mtp[0, :-1].argmax(-1) == w[0, 2:]).sum().item()
                mtp_n += w.shape[1] - 2
        # greedy decoding from prompts taken at paragraph starts of the held-out text
        paras = [p for p in text.split("\n\n") if len(p) > 200]
        step = max(1, len(paras) // a.greedy_prompts)
        agree, total = 0, 0
        for p in paras[::step][:a.greedy_prompts]:
            seq = [bos] + enc.encode(p)[:12]
            n0 = len(seq)
            for _ in range(a.greedy_new):
                seq.append(int(net(torch.tensor([seq]))[0, -1].argmax()))
            s = torch.tensor([seq])
            h = net.hidden(s)
            nxt = seq[1:] + [int(net.lm_head(h)[0, -1].argmax())]
            draft = net.mtp_from_hidden(h, torch.tensor([nxt]))[0].argmax(-1)
            # row i drafts token i+2; count rows whose target is a generated token
            for i in range(n0 - 2, len(seq) - 2):
                agree += int(draft[i]) == seq[i + 2]
                total += 1
    out = {
        "heldout_tokens": len(ids), "ctx": a.ctx,
        "heldout_perplexity": math.exp(nll / n_tok),
        "mtp_heldout_top1": mtp_hit / mtp_n,
        "mtp_greedy_agreement": agree / total, "mtp_greedy_rows": total,
        "load_max_over_mean": {n: round((ld.max() / ld.mean()).item(), 3) for n, ld in zip(names, load)},
        "seconds": round(time.time() - t0, 1),
    }
    print(json.dumps(out, indent=2))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
