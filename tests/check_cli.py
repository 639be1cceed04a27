#!/usr/bin/python3
"""check_cli.py DSV3_BIN SHARED_DIR TMP_DIR -- the dsv3 program end to end:
info, logits (--all and last row), mtp-logits against ../shared/golden, a
synthesized checkpoint, and error exits. Tolerance: the golden README's
f32_compute max_abs, 2e-3."""
import json, os, subprocess, sys
import numpy as np

dsv3, shared, tmp = sys.argv[1], sys.argv[2], sys.argv[3]
os.makedirs(tmp, exist_ok=True)
passed = failed = 0

def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what)

def run(*args):
    return subprocess.run([dsv3, *args], capture_output=True, text=True)

man = json.load(open(os.path.join(shared, "golden", "manifest.json")))
case = {c["id"]: c for c in man["cases"]}

# info
r = run("info", "-m", os.path.join(shared, "golden", "tiny-v3", "fp8"))
check(r.returncode == 0 and "deepseek_v3" in r.stdout and "fp8" in r.stdout, "info on tiny-v3/fp8: " + r.stderr)
print(r.stdout)

for ck in ("tiny-v3/fp8", "tiny-v2lite/bf16"):
    c = case[ck + "/seq033"]
    V = c["outputs"]["logits"]["shape"][1]
    want = np.fromfile(os.path.join(shared, "golden", c["outputs"]["logits"]["file"]), dtype="<f4").reshape(-1, V)
    toks = ",".join(map(str, c["tokens"]))
    out = os.path.join(tmp, "l.bin")
    r = run("logits", "-m", os.path.join(shared, "golden", ck), "--tokens", toks, "--all", "--backend", "scalar", "--out", out)
    check(r.returncode == 0, "logits --all " + ck + ": " + r.stderr)
    got = np.fromfile(out, dtype="<f4").reshape(-1, V)
    err = float(np.abs(got - want).max())
    check(got.shape == want.shape and err <= 2e-3, f"logits --all {ck}: shape {got.shape} err {err}")
    print(f"dsv3 logits --all {ck} seq033: max abs error {err:.2e}")
    r = run("logits", "-m", os.path.join(shared, "golden", ck), "--tokens", toks, "--out", out)
    got = np.fromfile(out, dtype="<f4")
    check(r.returncode == 0 and got.shape == (V,) and np.abs(got - want[-1]).max() <= 2e-3, "logits last row " + ck)

c = case["tiny-v3/fp8/mtp033"]
V = c["outputs"]["mtp_logits"]["shape"][1]
want = np.fromfile(os.path.join(shared, "golden", c["outputs"]["mtp_logits"]["file"]), dtype="<f4").reshape(-1, V)
out = os.path.join(tmp, "m.bin")
r = run("mtp-logits", "-m", os.path.join(shared, "golden", "tiny-v3", "fp8"), "--tokens", ",".join(map(str, c["tokens"])), "--out", out)
check(r.returncode == 0, "mtp-logits: " + r.stderr)
got = np.fromfile(out, dtype="<f4").reshape(-1, V)
err = float(np.abs(got - want).max())
check(got.shape == want.shape and err <= 2e-3, f"mtp-logits shape {got.shape} err {err}")
print(f"dsv3 mtp-logits tiny-v3/fp8 mtp033: max abs error {err:.2e}")

# a synthesized checkpoint runs end to end
syn = os.path.join(tmp, "synth-tiny")
r = run("synth", "--shape", "tiny", "--dtype", "fp8", "--seed", "7", "-o", syn)
check(r.returncode == 0, "synth: " + r.stderr)
r = run("logits", "-m", syn, "--tokens", "1,2,3,4", "--all", "--out", out)
got = np.fromfile(out, dtype="<f4") if r.returncode == 0 else np.array([np.nan])
check(r.returncode == 0 and got.size == 4 * 1024 and np.isfinite(got).all() and 0.1 < np.abs(got).max() < 1e3,
      "logits on a synthesized checkpoint: " + r.stderr)

# errors: non-zero exit, the library's message on stderr
r = run("info")
check(r.returncode == 2 and "-m" in r.stderr, "info without -m")
r = run("info", "-m", os.path.join(tmp, "does-not-exist"))
check(r.returncode == 1 and "does-not-exist" in r.stderr, "info on a missing path: " + r.stderr)
r = run("logits", "-m", os.path.join(shared, "golden", "tiny-v3", "fp8"), "--tokens", "1,99999", "--out", out)
check(r.returncode == 1 and "99999" in r.stderr, "logits with a token out of range: " + r.stderr)
r = run("logits", "-m", os.path.join(shared, "golden", "tiny-v3", "fp8"), "--tokens", "1,x", "--out", out)
check(r.returncode == 2, "logits with a malformed token list")
r = run("logits", "-m", os.path.join(shared, "golden", "tiny-v3", "fp8"), "--tokens", "1", "--backend", "nope", "--out", out)
check(r.returncode == 1 and "nope" in r.stderr, "unknown backend: " + r.stderr)
r = run("frobnicate")
check(r.returncode == 2, "unknown command")

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
