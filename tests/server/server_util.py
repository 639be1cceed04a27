"""Start dsv3-server on 127.0.0.1 and talk to it with the standard library.

Used by test_server.py, load.py and browser.py. Every wait is bounded."""
import atexit
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

SKIP = 77


def skip_unless_built(server):
    if not server or server.endswith("NOTFOUND") or not os.path.exists(server):
        print("SKIP: dsv3-server was not built (libmicrohttpd-dev not found at configure time)")
        sys.exit(SKIP)


class Server:
    """dsv3-server with the given flags on an ephemeral loopback port."""

    def __init__(self, binary, *args, env=None):
        self.log = tempfile.NamedTemporaryFile(prefix="dsv3-server-", suffix=".log", delete=False)
        # read after stop() by some checks, so removed when the test ends
        atexit.register(lambda p=self.log.name: os.path.exists(p) and os.unlink(p))
        e = dict(os.environ)
        e.pop("DSV3_API_KEY", None)
        if env:
            e.update(env)
        self.proc = subprocess.Popen([binary, "--host", "127.0.0.1", "--port", "0", *args],
                                     stdout=self.log, stderr=self.log, env=e)
        deadline = time.time() + 60
        self.port = None
        while time.time() < deadline and self.proc.poll() is None:
            m = re.search(r"listening on http://127\.0\.0\.1:(\d+)/", self.text())
            if m:
                self.port = int(m.group(1))
                break
            time.sleep(0.05)
        if self.port is None:
            self.stop()
            raise RuntimeError("dsv3-server did not start:\n" + self.text())

    def text(self):
        with open(self.log.name, encoding="utf-8", errors="replace") as f:
            return f.read()

    def conn(self, timeout=120):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, timeout=120):
        """(status, parsed JSON or raw text) of one request."""
        c = self.conn(timeout)
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read().decode("utf-8")
        c.close()
        try:
            return r.status, json.loads(data)
        except ValueError:
            return r.status, data

    def post(self, path, body, headers=None, timeout=120):
        return self.request("POST", path, body, headers, timeout)

    def stream(self, path, body, headers=None, timeout=120, on_open=None):
        """Streamed request: (status, [chunk dicts], saw_done, seconds to the first content)."""
        body = dict(body, stream=True)
        c = self.conn(timeout)
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        t0 = time.time()
        c.request("POST", path, body=json.dumps(body), headers=h)
        r = c.getresponse()
        if r.status != 200:
            data = r.read().decode()
            c.close()
            return r.status, [json.loads(data)], False, None
        chunks, done, ttft = [], False, None
        for ev in sse_events(r):
            if ev == "[DONE]":
                done = True
                break
            ch = json.loads(ev)
            if ttft is None and has_text(ch):
                ttft = time.time() - t0
            chunks.append(ch)
        c.close()
        return 200, chunks, done, ttft

    def stop(self):
        """SIGTERM; returns the exit status (bounded wait)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                return None
        return self.proc.returncode


def has_text(ch):
    for c in ch.get("choices", []):
        d = c.get("delta", {})
        if d.get("content") or d.get("reasoning_content") or d.get("tool_calls") or c.get("text"):
            return True
    return False


def sse_events(resp):
    """The data: payloads of a server-sent event stream, as they come."""
    buf = b""
    while True:
        line = resp.readline()
        if not line:
            return
        line = line.rstrip(b"\r\n")
        if line.startswith(b"data: "):
            buf = line[6:]
        elif line == b"" and buf:
            yield buf.decode("utf-8")
            buf = b""


def join_chat(chunks):
    """content, reasoning, tool calls and finish_reason of a streamed chat reply."""
    content, reasoning, calls, finish, usage = "", "", [], None, None
    for ch in chunks:
        if ch.get("usage"):
            usage = ch["usage"]
        for c in ch.get("choices", []):
            d = c.get("delta", {})
            content += d.get("content") or ""
            reasoning += d.get("reasoning_content") or ""
            for tc in d.get("tool_calls") or []:
                while len(calls) <= tc["index"]:
                    calls.append({"id": None, "name": "", "arguments": ""})
                k = calls[tc["index"]]
                if tc.get("id"):
                    k["id"] = tc["id"]
                f = tc.get("function", {})
                k["name"] += f.get("name") or ""
                k["arguments"] += f.get("arguments") or ""
            if c.get("finish_reason"):
                finish = c["finish_reason"]
    return content, reasoning, calls, finish, usage
