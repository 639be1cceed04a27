"""dsv3-server end to end, on 127.0.0.1 with the demo model, with Python's
standard library as the client.

usage: test_server.py DSV3_SERVER DSV3_CLI REPO_ROOT

Checks: health and models; greedy chat and completion equal to `dsv3 run
--temp 0` on the same prompt tokens; streaming equal to non-streaming;
reasoning and tool calls parsed out of the reply (the reply is scripted
through the --test-hooks field dsv3_test_reply) and a tool result sent
back; 8 concurrent streams each equal to its serial result; a client that
disconnects mid-stream frees its slot; a full queue gives 429; every
malformed request gives its 4xx with an OpenAI error object; the API key.
Exits 77 when the server was not built."""
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from server_util import Server, join_chat, skip_unless_built  # noqa: E402

SERVER, CLI, ROOT = sys.argv[1], sys.argv[2], sys.argv[3]
skip_unless_built(SERVER)
MODEL = os.path.join(ROOT, "examples", "models", "austen-v3-tiny")
CHAT = "/v1/chat/completions"
COMPL = "/v1/completions"
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)
    return cond


def cli(*args):
    r = subprocess.run([CLI, *args], capture_output=True, timeout=120)
    if r.returncode:
        raise RuntimeError("dsv3 %s failed: %s" % (" ".join(args), r.stderr.decode()))
    return r.stdout.decode("utf-8")


def prompt_ids(messages):
    """The token ids the server should build for messages: the CLI's
    rendering of the chat template, then its tokenizer."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(messages, f)
    text = cli("chat-template", "-m", MODEL, "--messages", f.name, "--add-generation-prompt")
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as g:
        g.write(text)
    ids = json.loads(cli("tokenize", "-m", MODEL, "--text-file", g.name))
    os.unlink(f.name)
    os.unlink(g.name)
    return ids


def run_greedy_ids(ids, n):
    out = cli("run", "-m", MODEL, "--tokens", ",".join(map(str, ids)), "--temp", "0", "-n", str(n))
    assert out.endswith("\n")
    return out[:-1]


def test_basics(s):
    st, h = s.request("GET", "/health")
    check(st == 200 and h["status"] == "ok", "GET /health")
    st, m = s.request("GET", "/v1/models")
    check(st == 200 and m["data"][0]["id"] == "austen-v3-tiny", "GET /v1/models: %r" % (m,))
    st, page = s.request("GET", "/")
    check(st == 200 and "<title>dsv3 chat</title>" in page, "GET / serves the page")


def test_greedy_chat(s):
    messages = GREEDY_MSGS
    ids = prompt_ids(messages)
    want = run_greedy_ids(ids, 24)
    st, r = s.post(CHAT, {"messages": messages, "temperature": 0, "max_tokens": 24})
    ok = check(st == 200, "greedy chat status %s %r" % (st, r))
    if ok:
        got = r["choices"][0]["message"]["content"]
        check(got == want, "greedy chat equals `dsv3 run --temp 0`:\n  server %r\n  cli    %r" % (got, want))
        check(r["usage"]["prompt_tokens"] == len(ids), "prompt tokens %d vs %d" % (r["usage"]["prompt_tokens"], len(ids)))
        check(r["usage"]["completion_tokens"] == 24 and r["choices"][0]["finish_reason"] == "length",
              "usage/finish of a max_tokens reply: %r" % (r["usage"],))
    st, chunks, done, _ = s.stream(CHAT, {"messages": messages, "temperature": 0, "max_tokens": 24,
                                          "stream_options": {"include_usage": True}})
    content, reasoning, calls, finish, usage = join_chat(chunks)
    check(st == 200 and done, "streamed chat ends with [DONE]")
    check(chunks and chunks[0]["choices"][0]["delta"].get("role") == "assistant", "first chunk carries the role")
    check(content == want, "streamed chat equals `dsv3 run --temp 0`: %r" % content)
    check(finish == "length" and usage and usage["prompt_tokens"] == len(ids) and usage["completion_tokens"] == 24,
          "streamed finish/usage: %r %r" % (finish, usage))
    check(all(c["object"] == "chat.completion.chunk" for c in chunks), "chunk objects")
    print("greedy chat: %r" % want)
    return want


def test_greedy_completion(s):
    prompt = "It is a truth universally acknowledged"
    out = cli("run", "-m", MODEL, "-p", prompt, "--temp", "0", "-n", "20")
    want = out[len(prompt):-1]
    st, r = s.post(COMPL, {"prompt": prompt, "temperature": 0, "max_tokens": 20})
    check(st == 200 and r["choices"][0]["text"] == want,
          "completion equals `dsv3 run -p --temp 0`: %r vs %r" % (r, want))
    st, chunks, done, _ = s.stream(COMPL, {"prompt": prompt, "temperature": 0, "max_tokens": 20})
    text = "".join(c["choices"][0]["text"] for c in chunks if c.get("choices"))
    check(st == 200 and done and text == want, "streamed completion: %r" % text)
    st, r = s.post(COMPL, {"prompt": prompt, "temperature": 0, "max_tokens": 20, "echo": True})
    check(st == 200 and r["choices"][0]["text"] == prompt + want, "completion with echo")


def test_reasoning(s):
    reply = "<think>\nThe lady asks about the weather.\nBath is rainy.\n</think>\n\nIt will rain in Bath."
    body = {"messages": [{"role": "user", "content": "Weather?"}], "dsv3_test_reply": reply, "max_tokens": 200}
    st, r = s.post(CHAT, body)
    m = r["choices"][0]["message"] if st == 200 else {}
    check(m.get("reasoning_content") == "The lady asks about the weather.\nBath is rainy.", "reasoning_content: %r" % (m,))
    check(m.get("content") == "It will rain in Bath." and r["choices"][0]["finish_reason"] == "stop", "content after </think>: %r" % (r,))
    st, chunks, done, _ = s.stream(CHAT, body)
    content, reasoning, calls, finish, _ = join_chat(chunks)
    check(done and reasoning == m.get("reasoning_content") and content == m.get("content") and finish == "stop",
          "streamed reasoning: %r / %r / %r" % (reasoning, content, finish))
    check(sum(1 for c in chunks if c["choices"] and c["choices"][0]["delta"].get("reasoning_content")) > 1,
          "reasoning arrives in several deltas")


TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "The weather in a town today.",
    "parameters": {"type": "object", "properties": {"town": {"type": "string"}}, "required": ["town"]}}}]
CALLS_BEGIN, CALLS_END = "<\uff5ctool\u2581calls\u2581begin\uff5c>", "<\uff5ctool\u2581calls\u2581end\uff5c>"
CALL_BEGIN, CALL_END, SEP = "<\uff5ctool\u2581call\u2581begin\uff5c>", "<\uff5ctool\u2581call\u2581end\uff5c>", "<\uff5ctool\u2581sep\uff5c>"


def call_markup(name, args):
    return CALL_BEGIN + "function" + SEP + name + "\n```json\n" + json.dumps(args) + "\n```" + CALL_END


def test_tools(s):
    user = {"role": "user", "content": "Shall we walk to Bath?"}
    reply = "Let me look." + CALLS_BEGIN + call_markup("get_weather", {"town": "Bath"}) + "\n" + \
        call_markup("get_weather", {"town": "Bristol"}) + CALLS_END
    body = {"messages": [user], "tools": TOOLS, "dsv3_test_reply": reply, "max_tokens": 400}
    st, r = s.post(CHAT, body)
    ok = check(st == 200, "tool call request: %s %r" % (st, r))
    m = r["choices"][0]["message"] if ok else {}
    tc = m.get("tool_calls") or []
    check(r["choices"][0]["finish_reason"] == "tool_calls" if ok else False, "finish_reason tool_calls")
    check(m.get("content") == "Let me look.", "content before the calls: %r" % m.get("content"))
    check(len(tc) == 2 and all(t["function"]["name"] == "get_weather" and t["type"] == "function" and
                               t["id"].startswith("call_") for t in tc), "two tool calls: %r" % (tc,))
    if len(tc) == 2:
        check(json.loads(tc[0]["function"]["arguments"]) == {"town": "Bath"} and
              json.loads(tc[1]["function"]["arguments"]) == {"town": "Bristol"}, "tool arguments: %r" % (tc,))
    st, chunks, done, _ = s.stream(CHAT, body)
    content, reasoning, calls, finish, _ = join_chat(chunks)
    check(done and finish == "tool_calls" and content == "Let me look." and len(calls) == 2 and
          [json.loads(c["arguments"]) for c in calls] == [{"town": "Bath"}, {"town": "Bristol"}] and
          all(c["name"] == "get_weather" and c["id"] for c in calls), "streamed tool calls: %r" % (calls,))
    check(sum(1 for c in chunks if c["choices"] and c["choices"][0]["delta"].get("tool_calls")) > 2,
          "tool arguments arrive as deltas")
    # tool_choice names the function: the reply starts inside the call
    st, r = s.post(CHAT, {"messages": [user], "tools": TOOLS, "max_tokens": 100,
                          "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
                          "dsv3_test_reply": '{"town": "Lyme"}\n```' + CALL_END + CALLS_END})
    tc = r["choices"][0]["message"].get("tool_calls") if st == 200 else None
    check(tc and tc[0]["function"]["name"] == "get_weather" and json.loads(tc[0]["function"]["arguments"]) == {"town": "Lyme"},
          "tool_choice by name: %r" % (r,))
    st, r = s.post(CHAT, {"messages": [user], "tools": TOOLS, "max_tokens": 100, "tool_choice": "required",
                          "dsv3_test_reply": 'get_weather\n```json\n{"town": "Wells"}\n```' + CALL_END + CALLS_END})
    tc = r["choices"][0]["message"].get("tool_calls") if st == 200 else None
    check(tc and tc[0]["function"]["name"] == "get_weather" and json.loads(tc[0]["function"]["arguments"]) == {"town": "Wells"},
          "tool_choice required: %r" % (r,))
    # the round trip: the calls and their results go back; the model answers
    # (greedy) exactly as `dsv3 run` does on the template's rendering
    first = body["messages"] + [{"role": "assistant", "content": None, "tool_calls": [
        {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}} for c in calls]}]
    convo = first + [{"role": "tool", "tool_call_id": calls[0]["id"], "content": '{"sky": "rain"}'},
                     {"role": "tool", "tool_call_id": calls[1]["id"], "content": '{"sky": "sun"}'}]
    st, r = s.post(CHAT, {"messages": convo, "temperature": 0, "max_tokens": 16})
    cli_msgs = [{"role": m["role"], "content": m["content"],
                 **({"tool_calls": m["tool_calls"]} if m.get("tool_calls") else {})} for m in convo]
    ids = prompt_ids(cli_msgs)
    want = run_greedy_ids(ids, 16)
    check(st == 200 and r["choices"][0]["message"]["content"] == want and r["usage"]["prompt_tokens"] == len(ids),
          "reply after tool results equals `dsv3 run`: %r vs %r" % (r, want))


def test_concurrent(s):
    prompts = ["Tell me of Emma.", "Who is Mr. Knightley?", "Describe Bath.", "What is a ball?",
               "Is Elinor sensible?", "Where is Pemberley?", "Who wrote to Anne?", "Why did Marianne weep?"]
    body = lambda p: {"messages": [{"role": "user", "content": p}], "temperature": 0, "max_tokens": 32}
    serial = []
    t0 = time.time()
    for p in prompts:
        st, chunks, done, _ = s.stream(CHAT, body(p))
        serial.append(join_chat(chunks)[0] if st == 200 and done else None)
    t_serial = time.time() - t0
    results = [None] * len(prompts)

    def worker(i):
        st, chunks, done, _ = s.stream(CHAT, body(prompts[i]))
        results[i] = join_chat(chunks)[0] if st == 200 and done else ("error", st)
    ths = [threading.Thread(target=worker, args=(i,)) for i in range(len(prompts))]
    t0 = time.time()
    for t in ths:
        t.start()
    for t in ths:
        t.join(timeout=180)
    dt = time.time() - t0
    for i in range(len(prompts)):
        check(serial[i] is not None and results[i] == serial[i],
              "concurrent stream %d equals its serial result:\n  %r\n  %r" % (i, results[i], serial[i]))
    print("8 streams of 32 tokens: one after another %.2f s, all at once (4 slots) %.2f s" % (t_serial, dt))


GREEDY_MSGS = [{"role": "system", "content": "You are a friend of the family."},
               {"role": "user", "content": "What do you think of Mr. Bingley?"}]


def test_mtp(binary, want):
    """--mtp: speculative decoding with the MTP draft gives the same tokens."""
    s = Server(binary, "--mtp", "--parallel", "2", "--quiet")
    try:
        for turn in range(2):  # the second reuses the slot's cache
            st, r = s.post(CHAT, {"messages": GREEDY_MSGS, "temperature": 0, "max_tokens": 24})
            check(st == 200 and r["choices"][0]["message"]["content"] == want,
                  "--mtp greedy chat equals plain decoding (turn %d): %r" % (turn, r))
            check(st == 200 and r["timings"]["draft_n"] > 0, "--mtp drafted tokens: %r" % (r.get("timings"),))
        print("--mtp: %d drafts, %d accepted" % (r["timings"]["draft_n"], r["timings"]["draft_n_accepted"]))
    finally:
        check(s.stop() == 0, "server exits 0")


def test_disconnect(binary):
    s = Server(binary, "--parallel", "1", "-c", "2048", "--max-tokens", "2000", "--quiet")
    try:
        c = s.conn(60)
        c.request("POST", CHAT, body=json.dumps({"messages": [{"role": "user", "content": "Talk."}], "stream": True,
                                                 "max_tokens": 2000, "temperature": 1,
                                                 "logit_bias": {"1": -100}}),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        for _ in range(3):
            r.readline()
        st, h = s.request("GET", "/health")
        check(h["slots_idle"] == 0, "the slot is busy while streaming")
        t0 = time.time()
        c.sock.shutdown(socket.SHUT_RDWR)
        c.close()
        idle = False
        while time.time() - t0 < 10:
            st, h = s.request("GET", "/health")
            if h["slots_idle"] == 1:
                idle = True
                break
            time.sleep(0.02)
        dt = time.time() - t0
        check(idle and dt < 2, "the slot is free after a disconnect (%.3f s)" % dt)
        print("disconnect mid-stream: slot free after %.0f ms" % (dt * 1000))
        st, r = s.post(CHAT, {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4})
        check(st == 200, "a request after the disconnect")
        # SIGTERM in the middle of a stream: the stream ends, the server exits 0
        c = s.conn(60)
        c.request("POST", CHAT, body=json.dumps({"messages": [{"role": "user", "content": "Talk."}], "stream": True,
                                                 "max_tokens": 2000, "logit_bias": {"1": -100}}),
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        r.readline()
        t0 = time.time()
        rc = s.stop()
        try:
            rest = r.read()
        except http.client.IncompleteRead as e:
            rest = e.partial
        check(rc == 0 and time.time() - t0 < 10, "SIGTERM during a stream: exit %r after %.1f s" % (rc, time.time() - t0))
        check(b"the server is stopping" in rest, "a stream cut by SIGTERM ends with an error event: %r" % rest[-300:])
        c.close()
    finally:
        check(s.stop() == 0, "server exits 0 on SIGTERM")


def test_queue_full(binary):
    s = Server(binary, "--parallel", "1", "--queue", "1", "-c", "2048", "--max-tokens", "2000", "--quiet",
               "--timeout", "2")
    try:
        # a client that sends half a request and stalls is dropped after --timeout
        slow = socket.create_connection(("127.0.0.1", s.port), timeout=30)
        slow.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
        t0 = time.time()
        closed = slow.recv(1) == b""
        dt = time.time() - t0
        slow.close()
        check(closed and 1.5 < dt < 10, "a stalled client is dropped after --timeout 2 (%.1f s)" % dt)
        print("stalled client dropped after %.1f s (--timeout 2)" % dt)
        c = s.conn(60)
        c.request("POST", CHAT, body=json.dumps({"messages": [{"role": "user", "content": "Talk."}], "stream": True,
                                                 "max_tokens": 2000, "logit_bias": {"1": -100}}), headers={"Content-Type": "application/json"})
        r = c.getresponse()
        r.readline()  # generating now
        res = {}

        def queued():  # streamed, and kept waiting longer than --timeout
            res["b"] = s.stream(CHAT, {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4})
        t = threading.Thread(target=queued)
        t.start()
        deadline = time.time() + 10
        while time.time() < deadline and s.request("GET", "/health")[1]["queued"] < 1:
            time.sleep(0.01)
        st, e = s.post(CHAT, {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4})
        check(st == 429 and e["error"]["code"] == "rate_limit_exceeded", "a full queue gives 429: %s %r" % (st, e))
        time.sleep(3)
        c.close()  # the first one goes away; the queued one runs
        t.join(timeout=60)
        b = res.get("b", (0, [], False, None))
        check(b[0] == 200 and b[2] and join_chat(b[1])[3] == "length",
              "the queued stream completes after waiting longer than --timeout: %r" % (b,))
    finally:
        check(s.stop() == 0, "server exits 0")


def test_api_key(binary):
    for how in ("flag", "env"):
        s = Server(binary, "--quiet", *(["--api-key", "s3cret"] if how == "flag" else []),
                   env={"DSV3_API_KEY": "s3cret"} if how == "env" else None)
        try:
            msg = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}
            check(s.request("GET", "/health")[0] == 200, "%s: /health needs no key" % how)
            for path, body in (("/v1/models", None), (CHAT, msg), (COMPL, {"prompt": "Hi", "max_tokens": 2})):
                meth = "GET" if body is None else "POST"
                st, e = s.request(meth, path, body)
                check(st == 401 and e["error"]["code"] == "invalid_api_key", "%s: no key on %s gives 401 (%s)" % (how, path, st))
                st, e = s.request(meth, path, body, {"Authorization": "Bearer wrong"})
                check(st == 401, "%s: a wrong key on %s gives 401" % (how, path))
                st, e = s.request(meth, path, body, {"Authorization": "Bearer s3cret"})
                check(st == 200, "%s: the right key on %s gives 200 (%s %r)" % (how, path, st, e))
            st, e = s.request("GET", "/v1/models", None, {"Authorization": "Bearer s3cre"})
            check(st == 401, "%s: a prefix of the key gives 401" % how)
            st, e = s.post(CHAT, dict(msg, dsv3_test_reply="x"), {"Authorization": "Bearer s3cret"})
            check(st == 400 and e["error"]["param"] == "dsv3_test_reply", "the test hook is off without --test-hooks")
        finally:
            s.stop()


def malformed_table(s):
    big = "It was a fine day. " * 600
    user = [{"role": "user", "content": "Hi"}]
    cases = [
        # (what, path, body (dict or raw), expected status, expected param or None)
        ("not JSON", CHAT, b'{"messages": [', 400, None),
        ("empty body", CHAT, b"", 400, None),
        ("invalid UTF-8", CHAT, b'{"messages": [{"role": "user", "content": "\xff"}]}', 400, None),
        ("body is an array", CHAT, b"[]", 400, None),
        ("no messages", CHAT, {"model": "x"}, 400, "messages"),
        ("messages not an array", CHAT, {"messages": "Hi"}, 400, "messages"),
        ("messages empty", CHAT, {"messages": []}, 400, "messages"),
        ("message not an object", CHAT, {"messages": ["Hi"]}, 400, "messages[0]"),
        ("unknown role", CHAT, {"messages": [{"role": "narrator", "content": "Hi"}]}, 400, "messages[0].role"),
        ("role missing", CHAT, {"messages": [{"content": "Hi"}]}, 400, "messages[0].role"),
        ("content a number", CHAT, {"messages": [{"role": "user", "content": 5}]}, 400, "messages[0].content"),
        ("content missing (user)", CHAT, {"messages": [{"role": "user"}]}, 400, "messages[0].content"),
        ("image content part", CHAT, {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}, 400, "messages[0].content"),
        ("NUL in content", CHAT, {"messages": [{"role": "user", "content": "a\u0000b"}]}, 400, "messages[0].content"),
        ("unknown message field", CHAT, {"messages": [{"role": "user", "content": "Hi", "mood": "x"}]}, 400, "messages[0].mood"),
        ("tool_calls on a user message", CHAT, {"messages": [{"role": "user", "content": "Hi", "tool_calls": []}]}, 400, "messages[0].tool_calls"),
        ("assistant without content or calls", CHAT, {"messages": [{"role": "assistant"}]}, 400, "messages[0].content"),
        ("tool call without arguments", CHAT, {"messages": [{"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "f"}}]}]}, 400, "messages[0].tool_calls"),
        ("unknown field", CHAT, {"messages": user, "frobnicate": 1}, 400, "frobnicate"),
        ("n = 2", CHAT, {"messages": user, "n": 2}, 400, "n"),
        ("logprobs", CHAT, {"messages": user, "logprobs": True}, 400, "logprobs"),
        ("top_logprobs", CHAT, {"messages": user, "top_logprobs": 3}, 400, "top_logprobs"),
        ("json response_format", CHAT, {"messages": user, "response_format": {"type": "json_object"}}, 400, "response_format"),
        ("functions (deprecated)", CHAT, {"messages": user, "functions": []}, 400, "functions"),
        ("audio", CHAT, {"messages": user, "audio": {"voice": "x"}}, 400, "audio"),
        ("temperature a string", CHAT, {"messages": user, "temperature": "hot"}, 400, "temperature"),
        ("temperature 3", CHAT, {"messages": user, "temperature": 3}, 400, "temperature"),
        ("top_p 1.5", CHAT, {"messages": user, "top_p": 1.5}, 400, "top_p"),
        ("presence_penalty -3", CHAT, {"messages": user, "presence_penalty": -3}, 400, "presence_penalty"),
        ("max_tokens 0", CHAT, {"messages": user, "max_tokens": 0}, 400, "max_tokens"),
        ("max_tokens 1.5", CHAT, {"messages": user, "max_tokens": 1.5}, 400, "max_tokens"),
        ("max_completion_tokens string", CHAT, {"messages": user, "max_completion_tokens": "9"}, 400, "max_completion_tokens"),
        ("seed a string", CHAT, {"messages": user, "seed": "42"}, 400, "seed"),
        ("stream a string", CHAT, {"messages": user, "stream": "yes"}, 400, "stream"),
        ("stream_options not an object", CHAT, {"messages": user, "stream_options": 1}, 400, "stream_options"),
        ("five stop strings", CHAT, {"messages": user, "stop": ["a", "b", "c", "d", "e"]}, 400, "stop"),
        ("stop a number", CHAT, {"messages": user, "stop": 7}, 400, "stop"),
        ("logit_bias key not an id", CHAT, {"messages": user, "logit_bias": {"abc": 1}}, 400, "logit_bias"),
        ("logit_bias id past the vocabulary", CHAT, {"messages": user, "logit_bias": {"999999": 1}}, 400, "logit_bias"),
        ("logit_bias value 500", CHAT, {"messages": user, "logit_bias": {"5": 500}}, 400, "logit_bias"),
        ("tools not an array", CHAT, {"messages": user, "tools": {}}, 400, "tools"),
        ("tool without a name", CHAT, {"messages": user, "tools": [{"type": "function", "function": {}}]}, 400, "tools[0]"),
        ("tool of another type", CHAT, {"messages": user, "tools": [{"type": "retrieval"}]}, 400, "tools[0]"),
        ("tool_choice names an unknown tool", CHAT, {"messages": user, "tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "nope"}}}, 400, "tool_choice"),
        ("tool_choice required, no tools", CHAT, {"messages": user, "tool_choice": "required"}, 400, "tool_choice"),
        ("tool_choice bad string", CHAT, {"messages": user, "tools": TOOLS, "tool_choice": "always"}, 400, "tool_choice"),
        ("prompt longer than the context", CHAT, {"messages": [{"role": "user", "content": big}]}, 400, "messages"),
        ("completion without prompt", COMPL, {"max_tokens": 3}, 400, "prompt"),
        ("completion: several prompts", COMPL, {"prompt": ["a", "b"]}, 400, "prompt"),
        ("completion: token id out of range", COMPL, {"prompt": [1, 2, 99999]}, 400, "prompt"),
        ("completion: prompt a number", COMPL, {"prompt": 3}, 400, "prompt"),
        ("completion: suffix", COMPL, {"prompt": "a", "suffix": "b"}, 400, "suffix"),
        ("completion: best_of 2", COMPL, {"prompt": "a", "best_of": 2}, 400, "best_of"),
        ("completion: logprobs", COMPL, {"prompt": "a", "logprobs": 2}, 400, "logprobs"),
        ("completion: chat field", COMPL, {"prompt": "a", "messages": user}, 400, "messages"),
        ("completion: prompt longer than the context", COMPL, {"prompt": big}, 400, "prompt"),
        ("body over the size limit", CHAT, {"messages": [{"role": "user", "content": "x" * 300000}]}, 413, None),
        ("GET on a POST endpoint", CHAT, None, 405, None),
        ("unknown URL", "/v1/embeddings", {"input": "x"}, 404, None),
    ]
    rows = []
    for what, path, body, want, param in cases:
        if body is None:
            st, e = s.request("GET", path)
        else:
            st, e = s.post(path, body)
        ok = st == want and isinstance(e, dict) and isinstance(e.get("error"), dict) and e["error"].get("message")
        if ok and param is not None:
            ok = e["error"].get("param") == param
        check(ok, "malformed request '%s': want %d param %r, got %s %r" % (what, want, param, st, e))
        rows.append((what, st, (e.get("error") or {}).get("message", "") if isinstance(e, dict) else str(e)[:80]))
    st, h = s.request("GET", "/health")
    check(st == 200, "the server is healthy after the malformed requests")
    print("malformed requests (%d cases):" % len(rows))
    for what, st, msg in rows:
        print("  %-40s %d  %s" % (what, st, msg[:110]))


def main():
    s = Server(SERVER, "--parallel", "4", "-c", "1024", "--test-hooks", "--max-body", "262144")
    try:
        test_basics(s)
        want = test_greedy_chat(s)
        test_greedy_completion(s)
        test_reasoning(s)
        test_tools(s)
        test_concurrent(s)
        malformed_table(s)
    finally:
        rc = s.stop()
        check(rc == 0, "server exits 0 on SIGTERM (got %r)" % rc)
        if failures:
            print("---- server log ----\n" + s.text()[-4000:])
    test_mtp(SERVER, want)
    test_disconnect(SERVER)
    test_queue_full(SERVER)
    test_api_key(SERVER)
    if failures:
        print("%d failure(s)" % len(failures))
        sys.exit(1)
    print("all server checks passed")


main()
