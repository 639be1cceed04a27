#!/usr/bin/python3
"""check_cli_usage.py DSV3_BIN TMP_DIR -- the dsv3 program as a new user
meets it, with nothing but the repository (the demo model): strict option
parsing (exit 2, a message naming the option and its allowed range, nothing
on stdout), `--help` of every command (exit 0), the demo model as the
default of every command that takes -m (bench included) and found beside an
installed executable, `run -f`, perplexity on empty input, chat going on
past a full context, progress lines without carriage returns when stderr is
a file, and `synth -o FILE.gguf` giving the bytes that `synth -o DIR` +
`convert` give. Exact comparisons only (no tolerances); no timing."""
import os, shutil, subprocess, sys

dsv3, tmp = os.path.abspath(sys.argv[1]), sys.argv[2]
os.makedirs(tmp, exist_ok=True)
passed = failed = 0
env = {k: v for k, v in os.environ.items() if k != "DSV3_MODEL"}


def check(cond, what):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
        print("FAIL:", what)


def run(*args, stdin=None, exe=None, extra_env=None):
    e = dict(env, **(extra_env or {}))
    return subprocess.run([exe or dsv3, *args], input=stdin, capture_output=True, text=True, timeout=120, env=e)


COMMANDS = ["run", "chat", "info", "bench", "perplexity", "tokenize", "detokenize", "chat-template", "logits",
            "mtp-logits", "convert", "synth", "backends", "version"]

# ---- help ----
for h in (["--help"], ["help"], ["-h"]):
    r = run(*h)
    check(r.returncode == 0 and all(f"  {c} " in r.stdout for c in COMMANDS), f"dsv3 {h[0]} lists every command")
r = run()
check(r.returncode == 2 and r.stdout == "" and "usage" in r.stderr, "dsv3 without a command: exit 2, usage on stderr")
for c in COMMANDS:
    r = run(c, "--help")
    ok = r.returncode == 0 and r.stdout.startswith(f"usage: dsv3 {c}") and "example:" in r.stdout
    if c not in ("backends", "version"):
        ok = ok and "(default: " in r.stdout
    check(ok, f"dsv3 {c} --help: rc {r.returncode} {r.stdout[:80]!r} {r.stderr[:200]!r}")
r = run("run", "--help")
for opt in ("-n, --n-predict N", "--seed S", "--top-p P", "-f, --file FILE", "default: 128", "allowed (0, 1]"):
    check(opt in r.stdout, f"run --help mentions {opt!r}")

# ---- bad options: exit 2, the option and its range named, stdout empty ----
BAD = [
    (["run", "-p", "x", "-n", "abc"], "-n", "0..1000000"),
    (["run", "-p", "x", "-n", "12abc"], "-n", "0..1000000"),
    (["run", "-p", "x", "-n", "4294967297"], "-n", "0..1000000"),
    (["run", "-p", "x", "-n", ""], "-n", "0..1000000"),
    (["run", "-p", "x", "--seed", "abc"], "--seed", "0..18446744073709551615"),
    (["run", "-p", "x", "--seed", "-1"], "--seed", "0..18446744073709551615"),
    (["run", "-p", "x", "--top-p", "5"], "--top-p", "(0, 1]"),
    (["run", "-p", "x", "--top-p", "0"], "--top-p", "(0, 1]"),
    (["run", "-p", "x", "--min-p", "1"], "--min-p", "[0, 1)"),
    (["run", "-p", "x", "--temp", "nan"], "--temp", "[0, 100]"),
    (["run", "-p", "x", "--repeat-penalty", "0"], "--repeat-penalty", "(0, 100]"),
    (["run", "-p", "x", "--kv-type", "f64"], "--kv-type", "f32|f16|q8_0"),
    (["run", "-p", "x", "-c", "-5"], "-c", "0..16777216"),
    (["chat", "--top-k", "-1"], "--top-k", "0..1000000000"),
    (["bench", "-n", "abc"], "-n", "1..1000000"),
    (["bench", "-p", "0"], "-p", "1..1000000"),
    (["perplexity", "-f", "/dev/null", "--ctx", "1"], "--ctx", "2..16777216"),
    (["info", "-t", "two"], "-t", "0..1024"),
    (["logits", "--tokens", "1", "--out", "x", "-t", "1.5"], "-t", "0..1024"),
    (["convert", "-m", "x", "-o", "y.gguf", "--type", "Q4_K", "-t", "x"], "-t", "0..1024"),
    (["synth", "--shape", "tiny", "--layers", "0", "-o", "x"], "--layers", "1..100000"),
    (["synth", "--shape", "tiny", "--seed", "0x10", "-o", "x"], "--seed", "0..18446744073709551615"),
    (["info", "--placement", "fast"], "--placement", "auto|gpu|experts-on-cpu"),
    (["chat", "--placement", "cpu"], "--placement", "auto|gpu|experts-on-cpu"),
    (["run", "-p", "x", "--gpu-budget", "8X"], "--gpu-budget", "N, NK, NM or NG"),
    (["run", "-p", "x", "--gpu-budget", "8GB"], "--gpu-budget", "N, NK, NM or NG"),
    (["bench", "--gpu-budget", "-1"], "--gpu-budget", "N, NK, NM or NG"),
    (["perplexity", "-f", "/dev/null", "--gpu-budget", "1.5G"], "--gpu-budget", "N, NK, NM or NG"),
    (["logits", "--tokens", "1", "--out", "x", "--gpu-budget", "99999999999G"], "--gpu-budget", "N, NK, NM or NG"),
    (["mtp-logits", "--tokens", "1", "--out", "x", "--gpu-budget", ""], "--gpu-budget", "N, NK, NM or NG"),
]
for args, opt, rng in BAD:
    r = run(*args)
    check(r.returncode == 2 and r.stdout == "" and opt in r.stderr and rng in r.stderr and "[prompt" not in r.stderr,
          f"{' '.join(args)}: rc {r.returncode}, stdout {r.stdout[:60]!r}, stderr {r.stderr.strip()[:160]!r}")
USAGE = [["run", "-p", "x", "--bogus"], ["run", "-p", "x", "-n"], ["run"], ["run", "-p", "x", "--tokens", "1"],
         ["run", "--tokens", "1,x"], ["run", "-p", "x", "stray"], ["tokenize"], ["detokenize"], ["logits"],
         ["convert", "-m", "x", "-o", "y.gguf", "--type", "Q3"], ["synth", "--shape", "huge", "-o", "x"],
         ["synth", "--shape", "tiny", "-o", "x", "--type", "Q4_K"], ["backends", "extra"], ["info", "--all"]]
for args in USAGE:
    r = run(*args)
    check(r.returncode == 2 and r.stdout == "" and "--help" in r.stderr,
          f"{' '.join(args)}: rc {r.returncode}, stdout {r.stdout[:60]!r}, stderr {r.stderr.strip()[:160]!r}")

# ---- devices: placement and budget are accepted everywhere a model loads,
# ignored by CPU backends; `backends` describes each backend ----
for c in ("run", "chat", "info", "bench", "perplexity", "logits", "mtp-logits"):
    r = run(c, "--help")
    check("--placement" in r.stdout and "--gpu-budget BYTES" in r.stdout, f"{c} --help lists --placement and --gpu-budget")
r = run("info", "--backend", "scalar", "--placement", "experts-on-cpu", "--gpu-budget", "8G")
check(r.returncode == 0 and "\ndevice            cpu (" in r.stdout and "\nplacement         scalar: all " in r.stdout,
      "info on a CPU backend ignores the placement: " + r.stdout[:400] + r.stderr)
r = run("info", "--backend", "scalar:1")
check(r.returncode == 1 and r.stdout == "" and "no devices" in r.stderr, "info --backend scalar:1: " + r.stderr)
r = run("backends")
lines = r.stdout.splitlines()
check(r.returncode == 0 and lines[0].startswith("scalar   available") and r.stdout.count('picked by "auto"') == 1 and
      lines[-2].startswith("auto     "), "backends: " + r.stdout)

# ---- the demo model by default ----
r = run("info")
check(r.returncode == 0 and "austen-v3-tiny" in r.stdout, "info without -m: " + r.stderr)
r = run("bench", "-p", "8", "-n", "4", "-t", "1")
check(r.returncode == 0 and r.stdout != "", "bench without -m uses the demo model: " + r.stderr[-300:])
r = run("tokenize", "--text", "It is")
check(r.returncode == 0 and r.stdout.startswith("["), "tokenize without -m")
r = run("info", extra_env={"DSV3_MODEL": os.path.join(tmp, "no-such-model")})
check(r.returncode == 1 and "no-such-model" in r.stderr and r.stdout == "", "DSV3_MODEL is used: " + r.stderr)

# installed layout: PREFIX/bin/dsv3 finds PREFIX/share/dsv3/models/austen-v3-tiny
src_model = run("info").stdout.split("\n")[0].split()[-1]
prefix = os.path.join(tmp, "prefix")
shutil.rmtree(prefix, ignore_errors=True)
os.makedirs(os.path.join(prefix, "bin"))
shutil.copy2(dsv3, os.path.join(prefix, "bin", "dsv3"))
shutil.copytree(src_model, os.path.join(prefix, "share", "dsv3", "models", "austen-v3-tiny"))
pexe = os.path.join(prefix, "bin", "dsv3")
r = run("info", exe=pexe)
check(r.returncode == 0 and f"model             {prefix}/bin/../share/dsv3/models/austen-v3-tiny" in r.stdout,
      "installed layout: info uses the model beside the executable: " + r.stdout[:200])
r = run("run", "-p", "It is", "-n", "8", "--seed", "5", exe=pexe)
r2 = run("run", "-p", "It is", "-n", "8", "--seed", "5")
check(r.returncode == 0 and r.stdout.startswith("It is") and r.stdout == r2.stdout, "installed layout: run -p")

# ---- run ----
prompt = "It is a truth universally acknowledged"
pf = os.path.join(tmp, "prompt.txt")
open(pf, "w").write(prompt)
r = run("run", "-f", pf, "-n", "12", "--seed", "9")
r2 = run("run", "-p", prompt, "-n", "12", "--seed", "9")
check(r.returncode == 0 and r.stdout == r2.stdout and r.stdout.startswith(prompt) and "generated 12 tokens" in r.stderr,
      "run -f FILE == run -p TEXT: " + r.stderr)
r = run("run", "-f", os.path.join(tmp, "missing.txt"))
check(r.returncode == 1 and r.stdout == "" and "missing.txt" in r.stderr, "run -f on a missing file: " + r.stderr)
r = run("run", "-p", prompt, "-c", "4")
check(r.returncode == 1 and r.stdout == "" and "[prompt" not in r.stderr and "context" in r.stderr,
      "run with a prompt longer than the context: " + r.stderr)
# a long prompt: chunked prefill with progress lines (no \r into a file) gives what the default path gives
long_prompt = open(os.path.join(os.path.dirname(src_model), "austen-v3-tiny", "heldout.txt")).read()[:4000]
lf = os.path.join(tmp, "long.txt")
open(lf, "w").write(long_prompt)
r = run("run", "-f", lf, "-n", "4", "--temp", "0", "-c", "2048")
check(r.returncode == 0 and "\r" not in r.stderr and "dsv3 run: prompt: 100%" in r.stderr and r.stdout.startswith(long_prompt),
      "run -f with a long prompt: progress lines: " + r.stderr[-300:])

# ---- perplexity ----
r = run("perplexity", "-f", "/dev/null")
check(r.returncode == 1 and r.stdout == "" and "0 tokens" in r.stderr, "perplexity on /dev/null: " + r.stderr)
r = run("perplexity", "-f", os.path.join(tmp, "missing.txt"))
check(r.returncode == 1 and r.stdout == "", "perplexity on a missing file")
r = run("perplexity", "-f", lf, "--ctx", "128")
check(r.returncode == 0 and r.stdout.startswith("perplexity ") and "\r" not in r.stderr and "100%" in r.stderr,
      "perplexity: plain progress lines into a file: " + r.stderr[-300:])

# ---- chat ----
lines = "Hello there, how are you today?\nTell me about Mr. Darcy.\nAnd Elizabeth?\nWhat about the weather?\n/quit\n"
r = run("chat", "-c", "96", "-n", "24", "--seed", "2", "--system", "You are a character in a novel.", stdin=lines)
check(r.returncode == 0 and r.stderr.count("[prompt ") == 4 and "context full: kept the system prompt" in r.stderr,
      "chat past a full context keeps going: " + r.stderr[-500:])
r = run("chat", "-c", "16", "-n", "4", stdin="a message far too long for a context of sixteen tokens, " * 3 + "\n")
check(r.returncode == 1 and "context" in r.stderr, "chat: a message that cannot fit is an error from a pipe: " + r.stderr[-300:])
r = run("chat", "-n", "4", stdin="/frobnicate\n")
check(r.returncode == 1 and "unknown command" in r.stderr, "chat: an unknown command is an error from a pipe")
r = run("chat", "-n", "4", stdin="/help\nHi\n/reset\nHi\n")
check(r.returncode == 0 and "/reset" in r.stderr and r.stderr.count("[prompt ") == 2, "chat: /help and /reset")

# ---- synth straight to GGUF == synth to a directory + convert ----
d = os.path.join(tmp, "synth")
shutil.rmtree(d, ignore_errors=True)
os.makedirs(os.path.join(d, "a"))
os.makedirs(os.path.join(d, "b"))
for dtype, qt in (("bf16", "Q4_K"), ("fp8", "Q8_0")):
    a, b = os.path.join(d, "a", "m"), os.path.join(d, "b", "m.gguf")
    r1 = run("synth", "--shape", "tiny", "--dtype", dtype, "--seed", "4", "-o", a)
    r2 = run("convert", "-m", a, "-o", a + ".gguf", "--type", qt, "--keep-mtp")
    r3 = run("synth", "--shape", "tiny", "--dtype", dtype, "--seed", "4", "-o", b, "--type", qt, "-t", "2")
    same = r1.returncode == r2.returncode == r3.returncode == 0 and open(a + ".gguf", "rb").read() == open(b, "rb").read()
    check(same, f"synth -o FILE.gguf --type {qt} ({dtype}) == synth -o DIR + convert: {r3.stderr[-300:]}")
    check("expected output" in r3.stderr and "\r" not in r3.stderr and os.listdir(os.path.dirname(b)) == ["m.gguf"],
          "synth -o FILE.gguf: expected size first, plain progress, no scratch files: " + r3.stderr[:300])
r = run("run", "-m", os.path.join(d, "b", "m.gguf"), "--tokens", "1,2,3", "-n", "3", "--temp", "0")
check(r.returncode == 0 and r.stdout.startswith("in:  1 2 3"), "run on a synthesized GGUF: " + r.stderr[-200:])

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
