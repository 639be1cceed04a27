"""The chat page in a real headless browser (Debian's chromium), driven
through the DevTools protocol with the standard library only: the page is
loaded with ?q=... so it sends a message at once; the reply must stream in
(several partial states seen), equal the server's greedy reply to the same
conversation, and show the model and speed; a second message is stopped
with the Stop button; then a screenshot is saved.

usage: browser.py DSV3_SERVER SCREENSHOT.png
Exits 77 when the server was not built or chromium is not installed."""
import base64
import http.client
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from server_util import SKIP, Server, skip_unless_built  # noqa: E402

binary, shot = sys.argv[1], sys.argv[2]
skip_unless_built(binary)
chromium = shutil.which("chromium") or shutil.which("chromium-browser")
if not chromium:
    print("SKIP: chromium is not installed (Debian: apt-get install chromium)")
    sys.exit(SKIP)


class DevTools:
    """A minimal WebSocket client (RFC 6455: masked client frames) for one
    DevTools target."""

    def __init__(self, ws_url):
        u = urllib.parse.urlparse(ws_url)
        self.sock = socket.create_connection((u.hostname, u.port), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" %
                           (u.path, u.hostname, u.port, key)).encode())
        head = b""
        while b"\r\n\r\n" not in head:
            b = self.sock.recv(1)
            if not b:
                raise RuntimeError("DevTools closed the connection during the handshake")
            head += b
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise RuntimeError("DevTools handshake failed: %r" % head)
        self.next_id = 0

    def _recv_exact(self, n):
        out = b""
        while len(out) < n:
            b = self.sock.recv(n - len(out))
            if not b:
                raise RuntimeError("DevTools connection closed")
            out += b
        return out

    def _send(self, text):
        data = text.encode()
        mask = os.urandom(4)
        n = len(data)
        head = bytes([0x81]) + (bytes([0x80 | n]) if n < 126 else
                                bytes([0x80 | 126]) + struct.pack(">H", n) if n < 65536 else
                                bytes([0x80 | 127]) + struct.pack(">Q", n))
        self.sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _recv(self):
        msg = b""
        while True:
            b0, b1 = self._recv_exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._recv_exact(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._recv_exact(8))[0]
            payload = self._recv_exact(n)
            if b0 & 0x0F == 8:
                raise RuntimeError("DevTools closed the WebSocket")
            if b0 & 0x0F in (0, 1, 2):
                msg += payload
                if b0 & 0x80:
                    return json.loads(msg.decode())

    def call(self, method, **params):
        self.next_id += 1
        self._send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            m = self._recv()
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError("%s: %r" % (method, m["error"]))
                return m["result"]

    def js(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        return r["result"].get("value")


STATE = """JSON.stringify({
  replies: +(document.body.dataset.replies || 0),
  msgs: [...document.querySelectorAll('.msg')].map(m => m.className),
  reply: (document.querySelectorAll('.assistant')[0] || {children: [0, {textContent: ''}]}).children[1].textContent,
  last: (() => { const a = document.querySelectorAll('.assistant'); return a.length ? a[a.length - 1].children[1].textContent : ''; })(),
  stats: [...document.querySelectorAll('.stats')].map(s => s.textContent),
  model: document.getElementById('model').textContent,
  speed: document.getElementById('speed').textContent })"""

failures = []


def check(c, what):
    if not c:
        failures.append(what)
        print("FAIL:", what)


question = "Tell me about Mr. Darcy and Elizabeth."
s = Server(binary, "--parallel", "1", "-c", "2048", "--max-tokens", "2000", "--quiet")
profile = tempfile.mkdtemp(prefix="dsv3-chromium-")
browser = None
try:
    # the server's own greedy answer to the same conversation
    # 800 tokens: long enough to be seen streaming (several partial states,
    # each poll a DevTools round trip of a few ms) when the demo model
    # decodes at several thousand tok/s (256 were seen as one partial state
    # at 2,600 tok/s), and short enough that the second message still fits
    # the 2048-token context
    st, ref = s.post("/v1/chat/completions", {"messages": [{"role": "user", "content": question}],
                                              "temperature": 0, "max_tokens": 800})
    want = ref["choices"][0]["message"]["content"]
    url = "http://127.0.0.1:%d/?%s" % (s.port, urllib.parse.urlencode({"q": question, "max_tokens": 800, "temperature": 0}))
    browser = subprocess.Popen([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                                "--remote-debugging-port=0", "--user-data-dir=" + profile, "--window-size=1000,640",
                                "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port_file = os.path.join(profile, "DevToolsActivePort")
    deadline = time.time() + 60
    while time.time() < deadline and not (os.path.exists(port_file) and open(port_file).read().strip()):
        time.sleep(0.1)
    dport = int(open(port_file).read().split()[0])
    c = http.client.HTTPConnection("127.0.0.1", dport, timeout=30)
    c.request("GET", "/json/list")
    page = [t for t in json.loads(c.getresponse().read()) if t["type"] == "page"][0]
    dt = DevTools(page["webSocketDebuggerUrl"])
    dt.call("Page.enable")
    dt.call("Page.navigate", url=url)
    partial, state = set(), {}
    deadline = time.time() + 60
    while time.time() < deadline:
        state = json.loads(dt.js(STATE) or "{}")
        if state.get("replies", 0) >= 1:
            break
        if state.get("reply"):
            partial.add(len(state["reply"]))
        time.sleep(0.005)
    check(state.get("replies") == 1, "the page finished its reply: %r" % state)
    check(state.get("msgs") == ["msg user", "msg assistant"], "one user and one assistant message: %r" % state.get("msgs"))
    check(state.get("reply") == want, "the page shows the server's greedy reply:\n  page   %r\n  server %r" % (state.get("reply"), want))
    check(len(partial) >= 2, "the reply streamed in (partial lengths seen: %s)" % sorted(partial))
    check("austen-v3-tiny" in state.get("model", ""), "the page shows the model: %r" % state.get("model"))
    check("tok/s" in (state.get("stats") or [""])[0] and "tok/s" in state.get("speed", ""), "the page shows the speed: %r" % state)
    # a second message, stopped with the Stop button mid-reply
    dt.js("document.getElementById('input').value = 'And what of Wickham?';"
          "document.getElementById('form').requestSubmit(); 1")
    deadline = time.time() + 30
    while time.time() < deadline and len(json.loads(dt.js(STATE))["last"]) < 40:
        time.sleep(0.005)
    dt.js("document.getElementById('stop').click(); 1")
    deadline = time.time() + 30
    while time.time() < deadline and json.loads(dt.js(STATE))["replies"] < 2:
        time.sleep(0.02)
    state = json.loads(dt.js(STATE))
    check(state["replies"] == 2 and state["stats"][-1].endswith("stopped"), "the Stop button ends the reply: %r" % state["stats"])
    idle = False
    deadline = time.time() + 5
    while time.time() < deadline and not idle:
        idle = s.request("GET", "/health")[1]["slots_idle"] == 1
        time.sleep(0.02)
    check(idle, "the stopped reply freed the server's slot")
    png = base64.b64decode(dt.call("Page.captureScreenshot", format="png")["data"])
    with open(shot, "wb") as f:
        f.write(png)
    print("screenshot: %s (%d bytes); first reply %r; stopped reply %r; stats %r" %
          (shot, len(png), state["reply"], state["last"], state["stats"]))
    try:
        dt.call("Browser.close")
    except RuntimeError:
        pass
finally:
    if browser:
        try:
            browser.wait(timeout=10)
        except subprocess.TimeoutExpired:
            browser.kill()
            browser.wait(timeout=10)
    rc = s.stop()
    shutil.rmtree(profile, ignore_errors=True)
if failures or rc != 0:
    print("%d failure(s); server exit %r" % (len(failures), rc))
    sys.exit(1)
print("browser checks passed")
