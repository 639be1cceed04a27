#!/usr/bin/python3
"""check_vulkan_cli.py DSV3_BIN REPO_DIR -- the vulkan backend from the CLI
where it cannot run, and what "auto" picks. Uses the committed demo model.

Two ways of taking Vulkan away, each checked the same way:
  * no driver: VK_ICD_FILENAMES=/nonexistent VK_DRIVER_FILES=/nonexistent
    (the loader is there but finds no device);
  * no loader: LD_LIBRARY_PATH points at a folder whose libvulkan.so.1 and
    libvulkan.so are not libraries, so dlopen finds them first and fails.
Then:
  * `dsv3 backends` lists vulkan as unavailable, with a reason;
  * `dsv3 run --backend vulkan` fails (exit status != 0) with the status
    DSV3_ERR_BACKEND ("backend error") and names vulkan and the reason;
  * `dsv3 run --backend auto` runs on a CPU backend.
And as the machine is (lavapipe in CI): "auto" never runs on a CPU device
(llvmpipe/lavapipe/SwiftShader): `dsv3 info` names another backend, or a
real GPU. Needs nothing beside the repository (< 5 s).
"""
import os
import subprocess
import sys
import tempfile

dsv3, repo = sys.argv[1], sys.argv[2]
MODEL = os.path.join(repo, "examples", "models", "austen-v3-tiny")
CPU_DEVICES = ("llvmpipe", "lavapipe", "swiftshader")
failed = 0


def check(cond, what, detail=""):
    global failed
    if not cond:
        failed += 1
        print("FAIL:", what, detail)
    else:
        print("ok:", what)


def run(env, *args):
    e = dict(os.environ)
    e.update(env)
    return subprocess.run([dsv3, *args], capture_output=True, text=True, env=e, timeout=300)


def vulkan_lines(out):
    """The lines `dsv3 backends` prints for vulkan (its name, then indented)."""
    lines, inside = [], False
    for l in out.splitlines():
        if l.startswith("vulkan"):
            inside = True
        elif l[:1] not in (" ", "\t"):
            inside = False
        if inside:
            lines.append(l)
    return lines


def without_vulkan(label, env):
    r = run(env, "backends")
    vk = vulkan_lines(r.stdout)
    text = " ".join(vk).lower()
    check(r.returncode == 0 and vk, "%s: dsv3 backends lists vulkan" % label, r.stdout + r.stderr)
    check("unavailable" in text and len(text.split("unavailable", 1)[1].strip(" :")) > 3,
          "%s: vulkan is unavailable with a reason: %s" % (label, " / ".join(x.strip() for x in vk)))
    r = run(env, "run", "-m", MODEL, "-p", "It is", "-n", "2", "--temp", "0", "--backend", "vulkan")
    err = r.stderr.strip()
    check(r.returncode != 0 and "backend error" in err and "vulkan" in err.lower(),
          "%s: dsv3 run --backend vulkan fails with DSV3_ERR_BACKEND: %s" % (label, err[-300:]), "exit %d" % r.returncode)
    reason = text.split("unavailable", 1)[1].strip(" :")[:20] if "unavailable" in text else "?"
    check(reason.lower() in err.lower(), "%s: the error gives the reason ('%s...')" % (label, reason), err[-300:])
    r = run(env, "run", "-m", MODEL, "-p", "It is", "-n", "2", "--temp", "0", "--backend", "auto")
    check(r.returncode == 0, "%s: dsv3 run --backend auto runs" % label, r.stderr[-300:])
    r = run(env, "info", "-m", MODEL)
    be = [l for l in r.stdout.splitlines() if l.startswith("backend")]
    check(r.returncode == 0 and be and "vulkan" not in be[0], "%s: auto picks a CPU backend: %s" % (label, be[:1]))


without_vulkan("no driver", {"VK_ICD_FILENAMES": "/nonexistent", "VK_DRIVER_FILES": "/nonexistent"})
with tempfile.TemporaryDirectory() as tmp:
    for name in ("libvulkan.so.1", "libvulkan.so"):
        with open(os.path.join(tmp, name), "w") as f:
            f.write("not a library\n")
    lp = os.environ.get("LD_LIBRARY_PATH")
    without_vulkan("no loader", {"LD_LIBRARY_PATH": tmp + (":" + lp if lp else "")})

# the machine as it is: auto never takes a CPU device
r = run({}, "backends")
print("\n".join(vulkan_lines(r.stdout)))
r = run({}, "info", "-m", MODEL)
info = r.stdout.lower()
be = [l for l in info.splitlines() if l.startswith("backend")]
on_cpu_device = be and "vulkan" in be[0] and any(d in info for d in CPU_DEVICES)
check(r.returncode == 0 and be and not on_cpu_device, "auto does not run on a CPU Vulkan device: %s" % be[:1], r.stderr[-300:])

print("FAILED" if failed else "all passed")
sys.exit(1 if failed else 0)
