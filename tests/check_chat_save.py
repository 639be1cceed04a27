#!/usr/bin/env python3
"""check_chat_save.py DSV3 TMP_DIR -- `dsv3 chat`'s /save FILE and /load FILE
on the bundled demo model, greedy (--temp 0):

  1. one chat: turn 1, /save, turn 2;
  2. a new process: /load, turn 2 again. Its reply must equal the first
     chat's turn-2 reply exactly, and its prompt must be the same number of
     tokens (only the new turn is stepped: the cache came from the file);
  3. /load of a file that is not a saved chat, and of a state saved with
     another --kv-type, are refused with a message (from a pipe an error
     ends the chat with status 1).
"""
import os
import re
import subprocess
import sys

dsv3, tmp = sys.argv[1], sys.argv[2]
os.makedirs(tmp, exist_ok=True)
path = os.path.join(tmp, "chat.state")
failures = 0


def chat(lines, *args):
    p = subprocess.run([dsv3, "chat", "--temp", "0", "-n", "8", *args], input="\n".join(lines) + "\n",
                       capture_output=True, text=True, timeout=300)
    return p.returncode, p.stdout, p.stderr


def check(cond, what):
    global failures
    if not cond:
        failures += 1
        print("FAIL:", what)


def replies(out):
    return [l for l in out.split("\n") if l.strip()]


def prompts(err):
    return [int(x) for x in re.findall(r"\[prompt (\d+) tokens", err)]


rc, out1, err1 = chat(["Hello there", "/save " + path, "How are you"])
check(rc == 0 and os.path.exists(path), "first chat with /save (rc %d): %s" % (rc, err1))
rc, out2, err2 = chat(["/load " + path, "How are you"])
check(rc == 0, "chat with /load (rc %d): %s" % (rc, err2))
r1, r2 = replies(out1), replies(out2)
check(len(r1) == 2 and len(r2) == 1 and r1[1] == r2[0], "turn 2 after /load: %r, without: %r" % (r2, r1))
p1, p2 = prompts(err1), prompts(err2)
check(len(p1) == 2 and len(p2) == 1 and p1[1] == p2[0],
      "prompt tokens of turn 2: %r after /load, %r without (the cache was not reused)" % (p2, p1))
print("turn 2 without a break: %r (%s prompt tokens); after /save, a new process and /load: %r (%s)"
      % (r1[1:] and r1[1], p1[1:] and p1[1], r2 and r2[0], p2 and p2[0]))

bogus = os.path.join(tmp, "bogus.state")
with open(bogus, "w") as f:
    f.write("not a chat\n")
rc, out3, err3 = chat(["/load " + bogus])
check(rc == 1 and "not a file written by /save" in err3, "bogus /load (rc %d): %s" % (rc, err3))
rc, out4, err4 = chat(["/load " + path], "--kv-type", "f16")
check(rc == 1 and "KV cache" in err4 and "kv_type" in err4, "/load into another --kv-type (rc %d): %s" % (rc, err4))
print("refused: %s" % "; ".join(l for l in (err3 + err4).split("\n") if "/load" in l))
sys.exit(1 if failures else 0)
