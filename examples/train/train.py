#!/usr/bin/env python3
"""train.py -- train the tiny DeepSeek-V3 model on the Austen corpus.

Every sample is BOS followed by a random window of seq-1 corpus tokens (the
way the CLI feeds prompts and `dsv3 perplexity` feeds windows). The loss is
cross-entropy of the main head plus mtp_weight times that of the MTP module
(predicting the token after next). AdamW with linear warm-up and a cosine
decay to 10 %; gradients clipped at 1. After every step, each MoE layer's
router bias moves by gamma * sign(mean load - load) (DeepSeek-V3's
auxiliary-loss-free balancing; the bias only steers selection).

    nice -n 19 python3 examples/train/train.py --tokenizer examples/models/austen-v3-tiny \\
        --corpus examples/train/data/train.txt --out examples/train/runs/austen-v3-tiny

Seeds are fixed (--seed), so a rerun on the same machine and torch build
repeats the run; the checkpoint is OUT/ckpt.pt and the log OUT/train.log.
"""
import argparse
import json
import math
import os
import random
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as M  # noqa: E402
import train_bpe  # noqa: E402


def param_groups(net, wd):
    decay, no = [], []
    for n, p in net.named_parameters():
        (decay if p.dim() == 2 and "embed_tokens" not in n else no).append(p)
    return [{"params": decay, "weight_decay": wd}, {"params": no, "weight_decay": 0.0}]


def lr_at(step, a):
    if step < a.warmup:
        return a.lr * (step + 1) / a.warmup
    t = (step - a.warmup) / max(1, a.steps - a.warmup)
    return a.lr * (a.min_lr_frac + (1 - a.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * t)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizer", required=True, help="directory with tokenizer.json")
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr-frac", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=60)
    ap.add_argument("--wd", type=float, default=0.1)
    ap.add_argument("--gamma", type=float, default=0.01, help="router bias update speed")
    ap.add_argument("--mtp-weight", type=float, default=0.3)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads; 1 is fastest on a shared machine (OpenBLAS threads stall when a core is busy)")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--log-every", type=int, default=20)
    ap.add_argument("--save-every", type=int, default=200)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    random.seed(a.seed)
    torch.manual_seed(a.seed)
    os.makedirs(a.out, exist_ok=True)
    logf = open(os.path.join(a.out, "train.log"), "a")

    def log(s):
        print(s, flush=True)
        logf.write(s + "\n")
        logf.flush()

    enc = train_bpe.load(a.tokenizer)
    text = open(a.corpus, encoding="utf-8").read()
    ids = torch.tensor(enc.encode(text), dtype=torch.long)
    bos = enc.vocab[train_bpe.BOS]
    log("args %s" % json.dumps(vars(a)))
    log("corpus %d tokens; %d steps x %d x %d = %.2fM tokens (%.2f epochs)" % (
        len(ids), a.steps, a.batch, a.seq, a.steps * a.batch * a.seq / 1e6,
        a.steps * a.batch * (a.seq - 1) / len(ids)))

    net = M.DeepseekV3(M.CONFIG)
    n_params = sum(p.numel() for p in net.parameters())
    log("parameters %d (%.2fM)" % (n_params, n_params / 1e6))
    opt = torch.optim.AdamW(param_groups(net, a.wd), lr=a.lr, betas=(0.9, 0.95), eps=1e-8)
    gen = torch.Generator().manual_seed(a.seed)
    moes = net.moe_modules
    t0 = time.time()
    tok_done = 0
    acc = {"loss": 0.0, "mtp": 0.0, "n": 0}
    loads = [torch.zeros(len(m.experts)) for m in moes]
    for step in range(a.steps):
        off = torch.randint(0, len(ids) - a.seq, (a.batch,), generator=gen)
        x = torch.stack([torch.cat((torch.tensor([bos]), ids[o:o + a.seq - 1])) for o in off.tolist()])
        for g in opt.param_groups:
            g["lr"] = lr_at(step, a)
        logits, mtp = net(x, mtp=True)
        V = logits.shape[-1]
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, V), x[:, 1:].reshape(-1))
        mloss = F.cross_entropy(mtp[:, :-1].reshape(-1, V), x[:, 2:].reshape(-1))
        total = loss + a.mtp_weight * mloss
        opt.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            for m, ld in zip(moes, loads):
                load = m.last_load.float()
                m.gate.e_score_correction_bias += a.gamma * torch.sign(load.mean() - load)
                ld += load
        tok_done += x.numel()
        acc["loss"] += loss.item()
        acc["mtp"] += mloss.item()
        acc["n"] += 1
        if (step + 1) % a.log_every == 0 or step + 1 == a.steps:
            el = time.time() - t0
            bal = " ".join("%.2f" % (ld.max() / ld.mean()).item() for ld in loads)
            log("step %5d  loss %.4f  mtp %.4f  lr %.2e  %.0f tok/s  %.1f min  load max/mean %s" % (
                step + 1, acc["loss"] / acc["n"], acc["mtp"] / acc["n"], lr_at(step, a), tok_done / el, el / 60, bal))
            acc = {"loss": 0.0, "mtp": 0.0, "n": 0}
            loads = [torch.zeros(len(m.experts)) for m in moes]
        if (step + 1) % a.save_every == 0 or step + 1 == a.steps:
            torch.save({"config": M.CONFIG, "state_dict": net.state_dict(), "step": step + 1,
                        "tokens": tok_done, "seconds": time.time() - t0, "args": vars(a)},
                       os.path.join(a.out, "ckpt.pt"))
    log("done: %d steps, %.2fM tokens, %.1f min" % (a.steps, tok_done / 1e6, (time.time() - t0) / 60))


if __name__ == "__main__":
    main()
