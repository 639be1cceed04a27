#!/usr/bin/python3
"""test_demo_model.py DSV3_BIN REPO_DIR [BACKEND] -- the committed demo model
(examples/models/austen-v3-tiny, trained by examples/train/):

* the prompt "It is a truth universally acknowledged" tokenizes to the
  pinned ids, and its greedy continuation on the scalar backend is the
  pinned 32 tokens (exact ids);
* `dsv3 logits` runs on it (last row and --all), gives finite values, and
  its argmax after the prompt is the first greedy token;
* `dsv3 perplexity` on the committed held-out text is within 0.5 % of the
  value in the model card (skipped when the CLI has no perplexity command).

With BACKEND (e.g. vulkan), the greedy continuation and the logits run on it
instead of scalar and the default backend (the same pinned ids: the demo
model's greedy gaps are far wider than f32 rounding), and the perplexity
check is left to the default run. Exit 77 (skipped) when BACKEND cannot run
here, unless the environment's DSV3_REQUIRE_BACKEND names it.
"""
import array
import math
import os
import re
import subprocess
import sys
import tempfile

dsv3, repo = sys.argv[1], sys.argv[2]
backend = sys.argv[3] if len(sys.argv) > 3 else None
MODEL = os.path.join(repo, "examples", "models", "austen-v3-tiny")
PROMPT = "It is a truth universally acknowledged"
PROMPT_IDS = [0, 1437, 367, 261, 1932, 474, 75, 1198, 562, 2825]
GREEDY_IDS = [16, 223, 304, 447, 737, 304, 542, 317, 362, 410, 360, 391, 1349, 275, 289, 360, 494, 295, 269, 1037, 14,
              285, 304, 447, 737, 304, 542, 317, 362, 410, 360, 494]
V = 4096
failed = 0


def check(cond, what, detail=""):
    global failed
    if not cond:
        failed += 1
        print("FAIL:", what, detail)
    else:
        print("ok:", what)


def run(*args):
    return subprocess.run([dsv3, *args], capture_output=True, text=True)


# greedy continuation, scalar backend (or the one named), ids printed
r = run("run", "-m", MODEL, "-p", PROMPT, "-n", "32", "--temp", "0", "--backend", backend or "scalar", "--print-ids")
if backend and r.returncode != 0 and re.search(r"unavailable|cannot run|not available", r.stderr):
    if os.environ.get("DSV3_REQUIRE_BACKEND") == backend:
        check(False, "backend %s runs here" % backend, r.stderr[-500:])
        sys.exit(1)
    print("SKIP: backend %s cannot run here: %s" % (backend, r.stderr.strip()[-300:]))
    sys.exit(77)
check(r.returncode == 0, "dsv3 run --backend %s exits 0" % (backend or "scalar"), r.stderr[-500:])
lines = {l.split(":", 1)[0]: l.split(":", 1)[1].split() for l in r.stdout.splitlines() if l[:3] in ("in:", "out")}
got_in = [int(x) for x in lines.get("in", [])]
got_out = [int(x) for x in lines.get("out", [])]
check(got_in == PROMPT_IDS, "prompt ids %s == %s" % (got_in, PROMPT_IDS))
check(got_out == GREEDY_IDS, "greedy ids %s == %s" % (got_out, GREEDY_IDS))

# logits: last row and --all
with tempfile.TemporaryDirectory() as tmp:
    toks = ",".join(map(str, PROMPT_IDS))
    out = os.path.join(tmp, "last.bin")
    r = run("logits", "-m", MODEL, "--tokens", toks, "--backend", backend or "scalar", "--out", out)
    check(r.returncode == 0, "dsv3 logits exits 0", r.stderr[-500:])
    last = array.array("f")
    if os.path.exists(out):
        with open(out, "rb") as f:
            last.frombytes(f.read())
    check(len(last) == V and all(math.isfinite(x) for x in last), "last-row logits: %d finite floats" % len(last))
    if len(last) == V and GREEDY_IDS:
        check(max(range(V), key=last.__getitem__) == GREEDY_IDS[0], "logits argmax is the first greedy token")
    out = os.path.join(tmp, "all.bin")
    r = run("logits", "-m", MODEL, "--tokens", toks, "--all", "--out", out, *(("--backend", backend) if backend else ()))
    check(r.returncode == 0 and os.path.getsize(out) == 4 * V * len(PROMPT_IDS),
          "dsv3 logits --all (%s backend): %d rows" % (backend or "default",
                                                     os.path.getsize(out) // (4 * V) if os.path.exists(out) else -1))
    if backend and r.returncode == 0 and len(last) == V:
        allr = array.array("f")
        with open(out, "rb") as f:
            allr.frombytes(f.read())
        # the last row of a prefill of all rows is the last-row-only prefill's
        d = max(abs(a - b) for a, b in zip(allr[-V:], last)) if len(allr) >= V else float("inf")
        check(d <= 1e-5, "--all's last row within 1e-5 of the last-row run (max diff %.2e)" % d)

if backend:
    print("FAILED" if failed else "all passed")
    sys.exit(1 if failed else 0)

# held-out perplexity vs the model card
card = open(os.path.join(MODEL, "README.md"), encoding="utf-8").read()
m = re.search(r"dsv3 perplexity[^\n|]*\|\s*\*{0,2}([0-9]+\.[0-9]+)", card)
r = run("perplexity", "-m", MODEL, "-f", os.path.join(MODEL, "heldout.txt"))
if r.returncode == 2 and "unknown" in (r.stderr + r.stdout).lower():
    print("skip: this dsv3 has no perplexity command")
else:
    check(m is not None, "model card states the dsv3 perplexity")
    pm = re.search(r"perplexity ([0-9.]+)", r.stdout)
    check(r.returncode == 0 and pm is not None, "dsv3 perplexity runs: " + r.stdout.strip(), r.stderr[-300:])
    if m and pm:
        want, got = float(m.group(1)), float(pm.group(1))
        check(abs(got - want) <= 0.005 * want, "perplexity %.4f within 0.5 %% of the card's %.4f" % (got, want))

print("FAILED" if failed else "all passed")
sys.exit(1 if failed else 0)
