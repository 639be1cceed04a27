#!/usr/bin/python3
"""check_placement_cli.py DSV3_BIN REPO_DIR -- model parameters reaching a
device backend, seen from `dsv3 info` on the committed demo model:
  * the weights' bytes on the device plus those in host memory are the
    bytes a CPU backend reports in host memory, for every placement;
  * "gpu" keeps only the embedding table on the host, "experts-on-cpu"
    keeps the routed experts there too (more host bytes), "auto" with a
    small --gpu-budget keeps more on the host than without one;
  * a placement that does not fit the budget is refused (exit 1) with the
    bytes needed and available and the KV reserve;
  * "vulkan:N" for a device that does not exist is a backend error naming it.
Exit 77 (skipped) when vulkan cannot run here, unless
DSV3_REQUIRE_BACKEND=vulkan (CI), which makes that a failure. Exact
comparisons only; no timing (< 10 s on lavapipe)."""
import os
import re
import subprocess
import sys

dsv3, repo = sys.argv[1], sys.argv[2]
MODEL = os.path.join(repo, "examples", "models", "austen-v3-tiny")
failed = 0


def check(cond, what, detail=""):
    global failed
    print(("ok:   " if cond else "FAIL: ") + what + ("" if cond else " " + detail))
    failed += 0 if cond else 1


def run(*args):
    return subprocess.run([dsv3, *args], capture_output=True, text=True, timeout=300)


def info(*args):
    """(device, MiB on the device, MiB on the host, stdout) of `dsv3 info`."""
    r = run("info", "-m", MODEL, *args)
    m = re.search(r"^device +(.*?) \(([0-9.]+) MiB of weights on it, ([0-9.]+) MiB in host memory\)$", r.stdout, re.M)
    if r.returncode != 0 or not m:
        return None, 0.0, 0.0, r.stdout + r.stderr
    return m.group(1), float(m.group(2)), float(m.group(3)), r.stdout


r = run("backends")
vk = [l for l in r.stdout.splitlines() if l.startswith("vulkan ")]
if not vk or "unavailable" in vk[0]:
    why = vk[0].split(None, 1)[1] if vk else "not compiled in"
    if os.environ.get("DSV3_REQUIRE_BACKEND") == "vulkan":
        print("FAIL: vulkan is required (DSV3_REQUIRE_BACKEND) but: " + why)
        sys.exit(1)
    print("SKIP: vulkan cannot run here: " + why)
    sys.exit(77)

r = run("info", "-m", MODEL, "--backend", "scalar")
m = re.search(r"^device +cpu \(([0-9.]+) MiB of weights in host memory\)$", r.stdout, re.M)
check(r.returncode == 0 and m is not None, "scalar: every weight in host memory", r.stdout + r.stderr)
total = float(m.group(1)) if m else -1.0

sizes = {}
for placement in ("auto", "gpu", "experts-on-cpu"):
    dev, on, host, out = info("--backend", "vulkan", "--placement", placement)
    sizes[placement] = (on, host)
    check(dev is not None and dev != "cpu" and abs(on + host - total) < 0.15,
          "vulkan --placement %s: %.1f MiB on %s + %.1f MiB host = the %.1f MiB of weights" % (
              placement, on, dev, host, total), out)
    check(("placement %s" % placement) in out, "vulkan --placement %s: info says which placement" % placement, out)
check(sizes["gpu"][1] < sizes["experts-on-cpu"][1], "experts-on-cpu keeps more in host memory than gpu: %s" % sizes)
dev, on, host, out = info("--backend", "vulkan", "--gpu-budget", "6M")
check(dev is not None and on < sizes["auto"][0] and host > sizes["auto"][1],
      "auto with a 6M budget keeps more on the host (%.1f MiB on the device)" % on, out)
dev0, on0, host0, _ = info("--backend", "vulkan:0")
check(dev0 is not None and (on0, host0) == sizes["auto"], "vulkan:0 places as vulkan: %.1f + %.1f MiB" % (on0, host0))

r = run("info", "-m", MODEL, "--backend", "vulkan", "--placement", "gpu", "--gpu-budget", "4M")
err = r.stderr
check(r.returncode == 1 and r.stdout == "" and "out of memory" in err and "needs" in err and "available" in err
      and "4194304" in err and "KV" in err, "gpu in 4M is refused with the numbers: " + err.strip()[:300])
r = run("info", "-m", MODEL, "--backend", "vulkan:99")
check(r.returncode == 1 and "vulkan:99" in r.stderr and "backend error" in r.stderr,
      "vulkan:99 is a backend error naming it: " + r.stderr.strip()[:200])

print("%s" % ("all checks passed" if not failed else "%d check(s) failed" % failed))
sys.exit(1 if failed else 0)
