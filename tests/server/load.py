"""A bounded load run against dsv3-server: N streamed chat requests, C at a
time, on 127.0.0.1 with the demo model. Reports requests/s, time to first
token and generated tokens/s; fails if any request fails. Performance is
reported, never asserted.

usage: load.py DSV3_SERVER [N=200] [C=8] [SLOTS=4]"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from server_util import Server, join_chat, skip_unless_built  # noqa: E402

binary = sys.argv[1]
skip_unless_built(binary)
N = int(sys.argv[2]) if len(sys.argv) > 2 else 200
C = int(sys.argv[3]) if len(sys.argv) > 3 else 8
SLOTS = int(sys.argv[4]) if len(sys.argv) > 4 else 4
WORDS = ["Emma", "Bath", "a ball", "Mr. Darcy", "the weather", "Highbury", "a letter", "the navy", "Pemberley", "a walk"]

s = Server(binary, "--parallel", str(SLOTS), "--queue", str(2 * C), "-c", "512", "--quiet")
lock = threading.Lock()
ttft, failures, tokens = [], [], [0]
next_i = [0]


def worker():
    while True:
        with lock:
            i = next_i[0]
            if i >= N:
                return
            next_i[0] += 1
        body = {"messages": [{"role": "user", "content": "Tell me about %s, please (%d)." % (WORDS[i % len(WORDS)], i)}],
                "max_tokens": 16, "temperature": 0.8, "seed": i, "stream_options": {"include_usage": True}}
        try:
            st, chunks, done, t = s.stream("/v1/chat/completions", body, timeout=120)
            usage = join_chat(chunks)[4]
            ok = st == 200 and done and t is not None and usage
            with lock:
                if ok:
                    ttft.append(t)
                    tokens[0] += usage["completion_tokens"]
                else:
                    failures.append((i, st))
        except Exception as e:  # a failure to report, not to hide
            with lock:
                failures.append((i, repr(e)))


try:
    t0 = time.time()
    ths = [threading.Thread(target=worker) for _ in range(C)]
    for t in ths:
        t.start()
    for t in ths:
        t.join(timeout=600)
    dt = time.time() - t0
finally:
    rc = s.stop()
ttft.sort()


def pct(p):
    return ttft[min(len(ttft) - 1, int(p * len(ttft)))] * 1000 if ttft else float("nan")


print("load: %d requests, %d at a time, %d slots: %.2f s, %.1f requests/s, %.0f generated tokens/s" %
      (N, C, SLOTS, dt, N / dt, tokens[0] / dt))
print("time to first token: median %.1f ms, p95 %.1f ms, max %.1f ms" % (pct(0.5), pct(0.95), pct(1.0) if ttft else 0))
print("failures: %d" % len(failures))
if failures or rc != 0:
    print("FAIL: %r (server exit %r)" % (failures[:10], rc))
    print(s.text()[-3000:])
    sys.exit(1)
