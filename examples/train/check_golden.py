#!/usr/bin/env python3
"""check_golden.py -- checks model.py against the project's golden data
(../shared/golden: an independent float64 reference of the DeepSeek-V3
forward pass): logits of the tiny-v3 f32 checkpoint at every position, and
the MTP case. Run it after changing model.py.

    python3 examples/train/check_golden.py [GOLDEN_DIR]
"""
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as M  # noqa: E402
import st  # noqa: E402


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    gdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "..", "shared", "golden")
    man = json.load(open(os.path.join(gdir, "manifest.json")))
    ck = os.path.join(gdir, man["checkpoints"]["tiny-v3/f32"]["path"])
    cfg = json.load(open(os.path.join(ck, "config.json")))
    net = M.DeepseekV3(cfg).double()
    sd = {k: v.double() for k, v in st.load(os.path.join(ck, "model.safetensors")).items()}
    missing, unexpected = net.load_state_dict(sd, strict=False)
    # the checkpoint carries the MTP layer's copies of embedding and head
    unexpected = [k for k in unexpected if not k.endswith(("embed_tokens.weight", "shared_head.head.weight"))]
    assert not missing and not unexpected, (missing, unexpected)
    worst = 0.0
    for c in man["cases"]:
        if c["checkpoint"] != "tiny-v3/f32" or c["kind"] not in ("logits", "mtp"):
            continue
        tok = torch.tensor([c["tokens"]])
        with torch.no_grad():
            if c["kind"] == "logits":
                got = net(tok)[0]
                o = c["outputs"]["logits"]
            else:
                h = net.hidden(tok)
                got = net.mtp_from_hidden(h, torch.tensor([c["mtp_input_ids"]]))[0]
                o = c["outputs"]["mtp_logits"]
        want = np.fromfile(os.path.join(gdir, o["file"]), dtype=np.float32).reshape(o["shape"])
        d = float(np.abs(got.numpy() - want).max())
        worst = max(worst, d)
        print("%-22s max |torch - golden| = %.2e" % (c["id"], d))
    print("worst %.2e" % worst)
    sys.exit(0 if worst < 1e-4 else 1)


if __name__ == "__main__":
    main()
