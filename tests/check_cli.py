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

# --repack: a golden-gguf Q8_0 file's logits, with and without it, bit for bit (avx2)
gq8 = os.path.join(shared, "golden-gguf", "tiny-q.q8_0.gguf")
if os.path.exists(gq8) and "avx2" in subprocess.run([dsv3, "backends"], capture_output=True, text=True).stdout:
    outs = []
    for extra in ((), ("--repack",)):
        out = os.path.join(tmp, "r%d.bin" % len(extra))
        r = run("logits", "-m", gq8, "--tokens", "1,2,3,4,5", "--all", "--backend", "avx2", "--out", out, *extra)
        check(r.returncode == 0, "logits --repack: " + r.stderr)
        outs.append(open(out, "rb").read() if r.returncode == 0 else b"")
    check(outs[0] and outs[0] == outs[1], "logits --repack: bits differ from the weights in place")
    r = run("info", "-m", gq8, "--backend", "avx2", "--repack")
    check(r.returncode == 0 and "repacked" in r.stdout, "info --repack prints the packed bytes: " + r.stdout + r.stderr)

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

# text commands with the real DeepSeek-V3 tokenizer
tokdir = os.path.join(shared, "tokenizer", "deepseek-v3")
enc = [json.loads(l) for l in open(os.path.join(tokdir, "golden-encode.jsonl"), encoding="utf-8")]
for c in enc[:40]:
    if not c["text"] or "\x00" in c["text"]:
        continue
    r = subprocess.run([dsv3, "tokenize", "--tokenizer", tokdir, "--text", c["text"], "--bos"], capture_output=True, text=True)
    check(r.returncode == 0 and json.loads(r.stdout) == c["ids_with_bos"], "tokenize --bos: " + repr(c["text"][:40]))
    r = subprocess.run([dsv3, "detokenize", "--tokenizer", tokdir, "--ids", ",".join(map(str, c["ids"]))], capture_output=True)
    check(r.returncode == 0 and r.stdout == (c["decoded"] + "\n").encode("utf-8"), "detokenize: " + repr(c["text"][:40]))
chat = [json.loads(l) for l in open(os.path.join(tokdir, "golden-chat.jsonl"), encoding="utf-8")]
for i, c in enumerate(chat):
    mf = os.path.join(tmp, f"msgs{i}.json")
    json.dump(c["messages"], open(mf, "w", encoding="utf-8"))
    args = [dsv3, "chat-template", "--tokenizer", tokdir, "--messages", mf] + (["--add-generation-prompt"] if c["add_generation_prompt"] else [])
    r = subprocess.run(args, capture_output=True)
    check(r.returncode == 0 and r.stdout.decode("utf-8") == c["text"], f"chat-template case {i}")

# run: token ids in, token ids out, on a golden checkpoint without a tokenizer
g = case["tiny-v3/fp8/greedy"]
r = run("run", "-m", os.path.join(shared, "golden", "tiny-v3", "fp8"), "--tokens", ",".join(map(str, g["prompt"])),
        "-n", str(len(g["generated"])), "--temp", "0")
out_ids = [int(x) for x in r.stdout.split("out:")[1].split()] if "out:" in r.stdout else []
check(r.returncode == 0 and out_ids == g["generated"], "run --tokens greedy: " + r.stdout + r.stderr)
print("dsv3 run (tiny-v3/fp8, greedy):\n" + r.stdout.strip())

# chat from a pipe on a checkpoint directory that has a tokenizer: a tiny
# random model with DeepSeek-V3's vocabulary size, beside the real tokenizer
cdir = os.path.join(tmp, "chatmodel")
r = run("synth", "--shape", "tiny", "--vocab", "129280", "--no-mtp", "--seed", "11", "-o", cdir)
check(r.returncode == 0, "synth --vocab: " + r.stderr)
for src in (os.path.join(tokdir, "tokenizer.json"), os.path.join(tokdir, "tokenizer_config.json")):
    dst = os.path.join(cdir, os.path.basename(src))
    if not os.path.exists(dst):
        os.symlink(os.path.abspath(src), dst)
r = subprocess.run([dsv3, "chat", "-m", cdir, "-n", "8", "--seed", "3"], input=b"Hello!\nHow are you?\n/reset\nAgain\n/quit\n",
                   capture_output=True, timeout=120)
check(r.returncode == 0 and r.stderr.count(b"stop: max tokens") + r.stderr.count(b"stop: eos") == 3,
      "chat from a pipe: " + r.stderr.decode(errors="replace")[-400:])
r = subprocess.run([dsv3, "run", "-m", cdir, "-p", "Hello", "-n", "8", "--seed", "5"], capture_output=True, timeout=60)
r2 = subprocess.run([dsv3, "run", "-m", cdir, "-p", "Hello", "-n", "8", "--seed", "5"], capture_output=True, timeout=60)
check(r.returncode == 0 and r.stdout == r2.stdout and b"generated 8 tokens" in r.stderr, "run -p is reproducible with a seed")

# errors: non-zero exit, the library's message on stderr
r = run("info")  # the demo model when it ships, else a usage error naming -m
check((r.returncode == 0 and "architecture" in r.stdout) or (r.returncode == 2 and "-m" in r.stderr), "info without -m")
r = run("info", "-m", os.path.join(tmp, "does-not-exist"))
check(r.returncode == 1 and "does-not-exist" in r.stderr, "info on a missing path: " + r.stderr)
r = run("logits", "-m", os.path.join(shared, "golden", "tiny-v3", "fp8"), "--tokens", "1,99999", "--out", out)
check(r.returncode == 1 and "99999" in r.stderr, "logits with a token out of range: " + r.stderr)
r = run("logits", "-m", os.path.join(shared, "golden", "tiny-v3", "fp8"), "--tokens", "1,x", "--out", out)
check(r.returncode == 2, "logits with a malformed token list")
r = run("logits", "-m", os.path.join(shared, "golden", "tiny-v3", "fp8"), "--tokens", "1", "--backend", "nope", "--out", out)
check(r.returncode == 1 and "nope" in r.stderr, "unknown backend: " + r.stderr)
r = run("backends")
check(r.returncode == 0 and r.stdout.startswith("scalar") and "available" in r.stdout, "backends: " + r.stdout)
r = run("frobnicate")
check(r.returncode == 2, "unknown command")

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
