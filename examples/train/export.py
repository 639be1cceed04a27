#!/usr/bin/env python3
"""export.py -- write a training checkpoint in the Hugging Face DeepSeek-V3
layout: config.json and one BF16 model.safetensors (the router's
e_score_correction_bias stays F32, as in the release).

The MTP layer (model.layers.{num_hidden_layers}) gets its own enorm, hnorm,
eh_proj, shared_head.norm and decoder weights. The release also stores
copies of the embedding and the output head inside the MTP layer
(embed_tokens, shared_head.head); they are identical to the main ones and
are omitted here (the loader falls back to the main embedding and lm_head),
which saves 3 MB.

    python3 examples/train/export.py examples/train/runs/austen-v3-tiny/ckpt.pt examples/models/austen-v3-tiny
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("ckpt")
    ap.add_argument("out")
    a = ap.parse_args()
    ck = torch.load(a.ckpt, map_location="cpu")
    cfg = dict(ck["config"])
    cfg["torch_dtype"] = "bfloat16"
    tensors = {}
    for name, t in ck["state_dict"].items():
        if name.endswith("e_score_correction_bias"):
            tensors[name] = t.float()
        else:
            tensors[name] = t.to(torch.bfloat16)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    path = os.path.join(a.out, "model.safetensors")
    st.save(path, tensors, {"format": "pt"})
    n = sum(t.numel() for t in tensors.values())
    print("wrote %s: %d tensors, %d parameters, %.2f MB (step %d, %.2fM tokens)" % (
        path, len(tensors), n, os.path.getsize(path) / 1e6, ck["step"], ck["tokens"] / 1e6))


if __name__ == "__main__":
    main()
