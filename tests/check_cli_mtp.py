#!/usr/bin/python3
"""check_cli_mtp.py DSV3_BIN MODEL_DIR -- the CLI's MTP options on the demo
model (no ../shared needed):

* `dsv3 run --mtp` prints the same text / `out:` ids as without it (greedy
  and seeded sampling, --mtp-depth 1 and 3), and its statistics line gives
  the acceptance and tokens per main step;
* `dsv3 chat --mtp` from a pipe answers as `dsv3 chat` does;
* `dsv3 bench --mtp --json` reports mtp_decode_tokens_per_s, mtp_acceptance,
  mtp_tokens_per_step, mtp_identical (true) and mtp_verify_step_ratio;
* --mtp-depth outside 1..8 is a usage error (exit 2).
Speeds are printed, never checked.
"""
import json
import subprocess
import sys

dsv3, model = sys.argv[1], sys.argv[2]
failed = 0


def check(cond, what, detail=""):
    global failed
    if cond:
        print("ok:", what)
    else:
        failed += 1
        print("FAIL:", what, detail)


def run(*args, stdin=None):
    return subprocess.run([dsv3, *args], capture_output=True, text=True, input=stdin)


def out_ids(r):
    for line in r.stdout.splitlines():
        if line.startswith("out:"):
            return line.split()[1:]
    return None


TOKENS = "0,1437,367,261,1932,474,75,1198,562,2825"
for extra in ([], ["--temp", "0.8", "--seed", "3"], ["--temp", "1.2", "--top-k", "0", "--seed", "9", "--repeat-penalty", "1.2"]):
    base = run("run", "-m", model, "--tokens", TOKENS, "--print-ids", "-n", "40", *extra)
    for depth in ("1", "3"):
        r = run("run", "-m", model, "--tokens", TOKENS, "--print-ids", "-n", "40", "--mtp", "--mtp-depth", depth, *extra)
        what = "run --tokens %s --mtp-depth %s" % (" ".join(extra) or "(greedy)", depth)
        check(base.returncode == 0 and r.returncode == 0 and out_ids(r) is not None and out_ids(r) == out_ids(base),
              what + ": the same out: ids", (base.stderr + r.stderr)[-400:])
        check("drafts accepted" in r.stderr and "tokens/step" in r.stderr, what + ": statistics line", r.stderr[-300:])

prompt = "It is a truth universally acknowledged"
a = run("run", "-m", model, "-p", prompt, "-n", "48", "--temp", "0")
b = run("run", "-m", model, "-p", prompt, "-n", "48", "--temp", "0", "--mtp")
check(a.returncode == 0 and a.stdout == b.stdout and b.stdout, "run -p --mtp: the same text")
print("   ", b.stderr.strip().splitlines()[-1] if b.stderr.strip() else "")

lines = "Hello there.\nWhat do you think of Mr. Darcy?\n"
a = run("chat", "-m", model, "-n", "24", "--temp", "0", stdin=lines)
b = run("chat", "-m", model, "-n", "24", "--temp", "0", "--mtp", stdin=lines)
check(a.returncode == 0 and b.returncode == 0 and a.stdout == b.stdout and a.stdout, "chat --mtp: the same replies",
      (a.stderr + b.stderr)[-400:])

r = run("bench", "-m", model, "-p", "64", "-n", "48", "-t", "1", "--mtp", "--json")
try:
    j = json.loads(r.stdout)
except ValueError:
    j = {}
check(r.returncode == 0 and all(k in j for k in ("decode_tokens_per_s", "mtp_decode_tokens_per_s", "mtp_acceptance",
                                                  "mtp_tokens_per_step", "mtp_identical")),
      "bench --mtp --json has the MTP fields", r.stdout[-400:] + r.stderr[-400:])
check(j.get("mtp_identical") is True, "bench --mtp: MTP decoding gave the plain tokens")
check(0 < j.get("mtp_acceptance", 0) <= 1 and 1 <= j.get("mtp_tokens_per_step", 0) <= 2, "bench --mtp: acceptance in (0, 1]")
check(j.get("mtp_verify_step_ratio", 0) > 0 and j.get("mtp_verify_tokens") == 2,
      "bench --mtp: a verify-step cost ratio for 2 tokens")
print("    bench:", {k: j[k] for k in j if k.startswith("mtp") or k == "decode_tokens_per_s"})

r = run("run", "-m", model, "--tokens", TOKENS, "--mtp-depth", "9")
check(r.returncode == 2, "--mtp-depth 9 is a usage error")

print("%s" % ("FAILED: %d" % failed if failed else "all passed"))
sys.exit(1 if failed else 0)
