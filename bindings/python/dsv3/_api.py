"""The Python face of libdsv3: Model, Session, Tokenizer, Sampler, Error.

Handles are freed by close() / the with-statement (and, as a fallback, by
the garbage collector). Threads follow dsv3.h: a Model and a Tokenizer may
be shared by threads; a Session and a Sampler are used by one thread at a
time.
"""
import array
import ctypes
import json
import queue
import threading
import weakref

from . import _lib
from ._lib import lib

OK = 0
ERR_INVALID_ARG = 1
ERR_NOT_FOUND = 2
ERR_TOO_SMALL = 17
ERR_CANCELLED = 18

KV_TYPES = {"f32": 0, "f16": 1, "q8_0": 2}
MTP_MODES = {"off": 0, "auto": 1, "required": 2}
STOP_REASONS = {0: "none", 1: "eos", 2: "stop string", 3: "max tokens", 4: "callback", 5: "context full"}

_ERRBUF = 1024


class Error(Exception):
    """A failed library call: .status is the dsv3_status code, .message the
    library's message naming the problem."""

    def __init__(self, status, message=""):
        self.status = int(status)
        self.status_name = status_string(status)
        self.message = message or self.status_name
        super().__init__("%s (%s)" % (self.message, self.status_name))


def status_string(status):
    return lib.dsv3_status_string(int(status)).decode()


def version():
    """The linked library's version string, e.g. "0.2.0"."""
    return lib.dsv3_version_string().decode()


def backends():
    """[(name, available)] of the backends compiled into the library."""
    out = []
    i = 0
    while True:
        avail = ctypes.c_int(0)
        name = lib.dsv3_backend_name(i, ctypes.byref(avail))
        if name is None:
            return out
        out.append((name.decode(), bool(avail.value)))
        i += 1


def _text(fn, *args):
    """A text a dsv3 call writes into a buffer, retried with a larger
    buffer while it reports ERR_TOO_SMALL."""
    size = 4096
    while True:
        buf = ctypes.create_string_buffer(size)
        rc = fn(*args, buf, size)
        if rc != ERR_TOO_SMALL or size >= 1 << 20:
            _check(rc)
            return buf.value.decode("utf-8", "replace")
        size *= 4


def describe_backends():
    """[(name, text)]: what each compiled-in backend says about this
    machine (a GPU backend: its devices, or why it cannot run); the text of
    the one "auto" picks says so. Needs libdsv3 0.3."""
    fn = _need("dsv3_backend_describe")
    return [(name, _text(fn, i)) for i, (name, _) in enumerate(backends())]


def _check(rc, message=""):
    if rc != OK:
        raise Error(rc, message)


def _bytes(s):
    return s.encode("utf-8") if isinstance(s, str) else bytes(s)


def _ids_array(ids):
    ids = list(ids)
    return (ctypes.c_int32 * max(len(ids), 1))(*ids), len(ids)


def _need(name):
    if not hasattr(lib, name):
        raise Error(6, "this libdsv3 has no %s" % name)
    return getattr(lib, name)


def _save(fn, handle, what):
    """A state through the size query, then the copy."""
    size = ctypes.c_size_t(0)
    rc = fn(handle, None, 0, ctypes.byref(size))
    if rc not in (OK, ERR_TOO_SMALL):
        raise Error(rc, what)
    buf = ctypes.create_string_buffer(size.value)
    _check(fn(handle, buf, size.value, ctypes.byref(size)), what)
    return buf.raw[:size.value]


class _Callback:
    """Runs a Python callable for the C library. An exception cannot cross
    the C frames: it is kept, the library is told to cancel (-1), and the
    caller re-raises it once the C call has returned."""

    def __init__(self):
        self.exc = None

    def guard(self, fn, *args):
        if self.exc is not None:
            return -1
        try:
            return fn(*args)
        except BaseException as e:  # noqa: B902 -- every exception is re-raised by reraise()
            self.exc = e
            return -1

    def reraise(self):
        if self.exc is not None:
            e, self.exc = self.exc, None
            raise e


class _Owned:
    """An object owning a library handle (self._h), released by close(), by
    leaving a with-block, or when it is collected."""
    _what = "handle"

    def __del__(self):
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _handle(self):
        if not self._h:
            raise Error(ERR_INVALID_ARG, "the %s is closed" % self._what)
        return self._h


class Tokenizer(_Owned):
    """A tokenizer.json directory/file or a GGUF file's tokenizer."""
    _what = "tokenizer"

    def __init__(self, path):
        self._h = ctypes.c_void_p()
        err = ctypes.create_string_buffer(_ERRBUF)
        rc = lib.dsv3_tokenizer_load(_bytes(str(path)), ctypes.byref(self._h), err, _ERRBUF)
        _check(rc, err.value.decode("utf-8", "replace"))

    def close(self):
        if getattr(self, "_h", None):
            lib.dsv3_tokenizer_free(self._h)
            self._h = None


    @property
    def n_vocab(self):
        return lib.dsv3_tokenizer_n_vocab(self._handle())

    @property
    def bos(self):
        """BOS id, or None."""
        v = lib.dsv3_tokenizer_bos(self._handle())
        return None if v < 0 else v

    @property
    def eos(self):
        """EOS id, or None."""
        v = lib.dsv3_tokenizer_eos(self._handle())
        return None if v < 0 else v

    @property
    def add_bos(self):
        return bool(lib.dsv3_tokenizer_add_bos(self._handle()))

    def is_special(self, token):
        return bool(lib.dsv3_tokenizer_is_special(self._handle(), int(token)))

    def encode(self, text, add_bos=None, special=True):
        """Token ids of text (str or UTF-8 bytes). add_bos None follows
        tokenizer_config.json; special=False treats added-token text such
        as "<｜User｜>" as plain text (for untrusted input)."""
        h = self._handle()
        data = _bytes(text)
        if add_bos is None:
            add_bos = self.add_bos
        flags = (1 if add_bos else 0) | (0 if special else 2)
        n = ctypes.c_size_t(0)
        cap = len(data) + 2
        while True:
            buf = (ctypes.c_int32 * cap)()
            rc = lib.dsv3_tokenize(h, data, len(data), flags, buf, cap, ctypes.byref(n))
            if rc == ERR_TOO_SMALL and n.value > cap:
                cap = n.value
                continue
            _check(rc, "tokenize")
            return list(buf[:n.value])

    def decode(self, ids, skip_special=False):
        """Text of ids (invalid UTF-8 becomes U+FFFD)."""
        h = self._handle()
        arr, n = _ids_array(ids)
        flags = 1 if skip_special else 0
        length = ctypes.c_size_t(0)
        cap = 16 * n + 16
        while True:
            buf = ctypes.create_string_buffer(cap)
            rc = lib.dsv3_detokenize(h, arr, n, flags, buf, cap, ctypes.byref(length))
            if rc == ERR_TOO_SMALL and length.value >= cap:
                cap = length.value + 1
                continue
            _check(rc, "decode: a token id is out of range" if rc == 11 else "decode")
            return buf.raw[:length.value].decode("utf-8", "replace")

    def token_bytes(self, token):
        """The raw bytes of one token (may be part of a UTF-8 character)."""
        p = ctypes.c_void_p()
        n = ctypes.c_size_t()
        _check(lib.dsv3_token_bytes(self._handle(), int(token), ctypes.byref(p), ctypes.byref(n)),
               "token %d has no bytes" % int(token))
        return ctypes.string_at(p, n.value)

    def chat_render(self, messages, add_generation_prompt=True):
        """The DeepSeek-V3 chat template applied to messages, a list of
        {"role", "content"} dicts; an assistant turn may carry
        "tool_calls": [{"type": "function", "function": {"name", "arguments"}}]
        (arguments a JSON string or an object). The text starts with the BOS
        text: encode it with add_bos=False."""
        keep = []
        msgs = (_lib.ChatMessage * max(len(messages), 1))()
        for i, m in enumerate(messages):
            msgs[i].role = _bytes(m["role"])
            content = m.get("content")
            msgs[i].content = None if content is None else _bytes(content)
            calls = m.get("tool_calls") or []
            if calls:
                tc = (_lib.ToolCall * len(calls))()
                for j, c in enumerate(calls):
                    fn = c.get("function", c)
                    args = fn.get("arguments", "")
                    if not isinstance(args, (str, bytes)):
                        args = json.dumps(args, ensure_ascii=False)
                    tc[j].type = _bytes(c.get("type", "function"))
                    tc[j].name = _bytes(fn["name"])
                    tc[j].arguments = _bytes(args)
                keep.append(tc)
                msgs[i].tool_calls = tc
                msgs[i].n_tool_calls = len(calls)
        length = ctypes.c_size_t(0)
        cap = 4096
        while True:
            buf = ctypes.create_string_buffer(cap)
            rc = lib.dsv3_chat_render(self._handle(), msgs, len(messages), 1 if add_generation_prompt else 0, buf,
                                      cap, ctypes.byref(length))
            if rc == ERR_TOO_SMALL and length.value >= cap:
                cap = length.value + 1
                continue
            _check(rc, "chat_render: bad messages")
            return buf.raw[:length.value].decode("utf-8", "replace")


_SAMPLER_KEYS = ("temperature", "top_k", "top_p", "min_p", "repeat_penalty", "frequency_penalty",
                 "presence_penalty", "penalty_last_n", "seed")


class Sampler(_Owned):
    """Logits to a token; options default to the library's (temperature
    0.8, top_k 40, top_p 0.95, min_p 0.05, seed 0 = a fixed default).
    logit_bias: {token: bias} (float("-inf") bans a token)."""
    _what = "sampler"

    def __init__(self, n_vocab, logit_bias=None, **options):
        p = _lib.SamplerParams()
        _check(lib.dsv3_sampler_params_init(ctypes.byref(p), ctypes.sizeof(p)))
        for k, v in options.items():
            if k not in _SAMPLER_KEYS:
                raise TypeError("unknown sampler option %r" % k)
            if v is not None:
                setattr(p, k, v)
        if logit_bias:
            items = list(logit_bias.items())
            ids = (ctypes.c_int32 * len(items))(*[int(k) for k, _ in items])
            vals = (ctypes.c_float * len(items))(*[float(v) for _, v in items])
            p.bias_ids = ids
            p.bias_values = vals
            p.n_bias = len(items)
        self.n_vocab = int(n_vocab)
        self._h = ctypes.c_void_p()
        _check(lib.dsv3_sampler_create(ctypes.byref(p), self.n_vocab, ctypes.byref(self._h)),
               "bad sampler options")

    def close(self):
        if getattr(self, "_h", None):
            lib.dsv3_sampler_free(self._h)
            self._h = None


    def sample(self, logits):
        """A token from n_vocab logits (any float32 buffer or sequence)."""
        buf, _keep = _float_buffer(logits, self.n_vocab)
        t = ctypes.c_int32()
        _check(lib.dsv3_sampler_sample(self._handle(), buf, ctypes.byref(t)), "sample")
        return t.value

    def accept(self, token):
        _check(lib.dsv3_sampler_accept(self._handle(), int(token)), "accept: bad token")

    def reset(self):
        lib.dsv3_sampler_reset(self._handle())

    def save(self):
        """The random generator and penalty window, as bytes."""
        return _save(_need("dsv3_sampler_save"), self._handle(), "sampler save")

    def load(self, state):
        state = bytes(state)
        _check(_need("dsv3_sampler_load")(self._handle(), state, len(state)), "sampler load: not a state of this sampler")


def _float_buffer(values, n):
    if isinstance(values, array.array) and values.typecode == "f":
        arr = values
    else:
        try:
            mv = memoryview(values)
            arr = array.array("f", mv.cast("B").tobytes()) if mv.format == "f" else array.array("f", values)
        except TypeError:
            arr = array.array("f", values)
    if len(arr) < n:
        raise Error(ERR_INVALID_ARG, "logits: %d values, need %d" % (len(arr), n))
    addr, _ = arr.buffer_info()
    return ctypes.cast(addr, ctypes.POINTER(ctypes.c_float)), arr


class GenerateResult:
    """What one generation did: text, tokens, stop reason, counts, timing."""

    def __init__(self, text, tokens, r):
        self.text = text
        self.tokens = tokens
        self.n_prompt_tokens = r.n_prompt_tokens
        self.n_generated = r.n_generated
        self.stop_reason = STOP_REASONS.get(r.stop_reason, str(r.stop_reason))
        self.prompt_seconds = r.prompt_seconds
        self.generate_seconds = r.generate_seconds
        self.prompt_tokens_per_s = r.prompt_tokens_per_s
        self.generate_tokens_per_s = r.generate_tokens_per_s
        self.mtp_depth = r.mtp_depth
        self.n_drafted = r.n_drafted
        self.n_accepted = r.n_accepted
        self.n_main_steps = r.n_main_steps

    def __repr__(self):
        return "GenerateResult(n_generated=%d, stop_reason=%r, text=%r)" % (self.n_generated, self.stop_reason,
                                                                          self.text)


class Session(_Owned):
    """A KV cache on a model: step tokens, rewind, generate."""
    _what = "session"

    def __init__(self, model, n_ctx=0, kv_type="f32", mtp=False, record_routing=False):
        self.model = model
        p = _lib.SessionParams()
        _check(lib.dsv3_session_params_init(ctypes.byref(p), ctypes.sizeof(p)))
        p.n_ctx = int(n_ctx)
        p.mtp = 1 if mtp else 0
        p.record_routing = 1 if record_routing else 0
        if isinstance(kv_type, str):
            if kv_type not in KV_TYPES:
                raise Error(ERR_INVALID_ARG, "kv_type %r: use one of %s" % (kv_type, ", ".join(KV_TYPES)))
            kv_type = KV_TYPES[kv_type]
        p.kv_type = int(kv_type)
        self._h = ctypes.c_void_p()
        err = ctypes.create_string_buffer(_ERRBUF)
        rc = lib.dsv3_session_create(model._handle(), ctypes.byref(p), ctypes.byref(self._h), err, _ERRBUF)
        _check(rc, err.value.decode("utf-8", "replace"))
        self._adopt(model, self._h, p.kv_type, p.mtp, p.record_routing)

    def _adopt(self, model, handle, kv_type, mtp, record_routing):
        self.model = model
        self._h = handle
        self._kv_type, self._mtp, self._record_routing = kv_type, mtp, record_routing
        model._sessions.add(self)
        self.vocab_size = model.vocab_size
        self.last_result = None

    def close(self):
        if getattr(self, "_h", None):
            lib.dsv3_session_free(self._h)
            self._h = None


    def _fail(self, rc):
        raise Error(rc, lib.dsv3_session_last_error(self._h).decode("utf-8", "replace"))

    @property
    def position(self):
        return lib.dsv3_session_position(self._handle())

    @property
    def n_ctx(self):
        return lib.dsv3_session_n_ctx(self._handle())

    @property
    def kv_bytes_per_token(self):
        return lib.dsv3_session_kv_bytes_per_token(self._handle())

    def step(self, ids, all_logits=False, logits=True):
        """Append ids and run the model. Returns the last row of logits as
        an array('f') of vocab_size floats (numpy.asarray(...) views it
        without a copy); all_logits=True: every row, len(ids) * vocab_size,
        row-major; logits=False: None (the output head is skipped)."""
        h = self._handle()
        arr, n = _ids_array(ids)
        out = None
        ptr = None
        if logits:
            out = array.array("f", bytes(4 * self.vocab_size * (n if all_logits else 1)))
            ptr = ctypes.cast(out.buffer_info()[0], ctypes.POINTER(ctypes.c_float))
        rc = lib.dsv3_session_step(h, arr, n, ptr, 1 if all_logits else 0)
        if rc != OK:
            self._fail(rc)
        return out

    def rewind(self, position):
        rc = lib.dsv3_session_rewind(self._handle(), int(position))
        if rc != OK:
            self._fail(rc)

    def reset(self):
        self.rewind(0)

    def save(self):
        """The session's state (cache rows up to the position, ...) as
        bytes; load() restores it into a session of the same model."""
        h = self._handle()
        size = ctypes.c_size_t(0)
        fn = _need("dsv3_session_save")
        rc = fn(h, None, 0, ctypes.byref(size))
        if rc not in (OK, ERR_TOO_SMALL):
            self._fail(rc)
        buf = ctypes.create_string_buffer(size.value)
        rc = fn(h, buf, size.value, ctypes.byref(size))
        if rc != OK:
            self._fail(rc)
        return buf.raw[:size.value]

    def load(self, state):
        state = bytes(state)
        rc = _need("dsv3_session_load")(self._handle(), state, len(state))
        if rc != OK:
            self._fail(rc)

    def save_file(self, path):
        rc = _need("dsv3_session_save_file")(self._handle(), _bytes(str(path)))
        if rc != OK:
            self._fail(rc)

    def load_file(self, path):
        rc = _need("dsv3_session_load_file")(self._handle(), _bytes(str(path)))
        if rc != OK:
            self._fail(rc)

    def fork(self, n_ctx=None):
        """A new, independent session starting from a copy of this one's
        caches (same kv_type; n_ctx None keeps this one's)."""
        h = self._handle()
        p = None
        if n_ctx is not None:
            p = _lib.SessionParams()
            _check(lib.dsv3_session_params_init(ctypes.byref(p), ctypes.sizeof(p)))
            p.n_ctx = int(n_ctx)
            p.kv_type = self._kv_type
            p.mtp = self._mtp
            p.record_routing = self._record_routing
            p = ctypes.byref(p)
        out = ctypes.c_void_p()
        err = ctypes.create_string_buffer(_ERRBUF)
        rc = _need("dsv3_session_fork")(h, p, ctypes.byref(out), err, _ERRBUF)
        _check(rc, err.value.decode("utf-8", "replace"))
        s = Session.__new__(Session)
        s._adopt(self.model, out, self._kv_type, self._mtp, self._record_routing)
        return s

    @property
    def mtp_position(self):
        return lib.dsv3_session_mtp_position(self._handle())

    def mtp_step(self, next_tokens, all_logits=False):
        """Run the MTP module (sessions created with mtp=True) for the
        positions from mtp_position; next_tokens[i] is the token after
        each. Returns its logits (last row, or every row)."""
        h = self._handle()
        arr, n = _ids_array(next_tokens)
        out = array.array("f", bytes(4 * self.vocab_size * (n if all_logits else 1)))
        ptr = ctypes.cast(out.buffer_info()[0], ctypes.POINTER(ctypes.c_float))
        rc = lib.dsv3_session_mtp_step(h, arr, n, ptr, 1 if all_logits else 0)
        if rc != OK:
            self._fail(rc)
        return out

    def routing(self, position):
        """(ids, weights) of the experts chosen at position, one list of k
        per MoE layer (sessions created with record_routing=True)."""
        h = self._handle()
        n_layers = ctypes.c_int32(0)
        rc = lib.dsv3_session_get_routing(h, int(position), None, None, ctypes.byref(n_layers))
        if rc != OK:
            self._fail(rc)
        k = self.model.info["n_experts_per_token"]
        total = n_layers.value * k
        ids = (ctypes.c_int32 * max(total, 1))()
        w = (ctypes.c_float * max(total, 1))()
        rc = lib.dsv3_session_get_routing(h, int(position), ids, w, ctypes.byref(n_layers))
        if rc != OK:
            self._fail(rc)
        return ([list(ids[i * k:(i + 1) * k]) for i in range(n_layers.value)],
                [list(w[i * k:(i + 1) * k]) for i in range(n_layers.value)])

    def complete(self, ids, max_tokens=256, on_token=None, stop=(), stop_at_eos=True, tokenizer=None,
                 sampler=None, logit_bias=None, mtp="off", mtp_depth=0, **sampling):
        """Step ids, then sample up to max_tokens tokens (dsv3_generate).
        on_token(token, piece) is called for each token; returning True
        stops (the token is kept); an exception it raises cancels the
        generation and is re-raised here. Sampling options (temperature,
        top_k, top_p, min_p, seed, penalties) or a Sampler; tokenizer
        defaults to the model's. mtp "auto" / "required" drafts tokens with
        the model's MTP module (the session needs mtp=True), mtp_depth of
        them per main step. Returns a GenerateResult."""
        if mtp not in MTP_MODES:
            raise Error(ERR_INVALID_ARG, "mtp %r: use one of %s" % (mtp, ", ".join(MTP_MODES)))
        h = self._handle()
        tok = tokenizer if tokenizer is not None else self.model._tokenizer_or_none()
        own_sampler = sampler is None
        smp = Sampler(self.vocab_size, logit_bias=logit_bias, **sampling) if own_sampler else sampler
        try:
            gp = _lib.GenerateParams()
            _check(lib.dsv3_generate_params_init(ctypes.byref(gp), ctypes.sizeof(gp)))
            gp.max_tokens = int(max_tokens)
            gp.stop_at_eos = 1 if stop_at_eos else 0
            gp.mtp = MTP_MODES[mtp]
            gp.mtp_depth = int(mtp_depth)
            if isinstance(stop, (str, bytes)):
                stop = [stop]
            stops = [_bytes(s) for s in stop]
            stop_arr = (ctypes.c_char_p * max(len(stops), 1))(*stops)
            if stops:
                gp.stop_strings = stop_arr
                gp.n_stop_strings = len(stops)
            pieces = []
            tokens = []
            guard = _Callback()

            def on_piece(token, piece_bytes):
                tokens.append(token)
                piece = piece_bytes.decode("utf-8", "replace")
                pieces.append(piece)
                if on_token is not None and on_token(token, piece):
                    return 1
                return 0

            def c_callback(_user, token, piece, n):
                return guard.guard(on_piece, token, ctypes.string_at(piece, n) if n else b"")

            cb = _lib.TokenCallback(c_callback)
            gp.on_token = cb
            arr, n = _ids_array(ids)
            res = _lib.GenerateResult()
            res.struct_size = ctypes.sizeof(res)
            rc = lib.dsv3_generate(h, tok._handle() if tok is not None else None, smp._handle(), arr, n,
                                   ctypes.byref(gp), ctypes.byref(res))
            guard.reraise()
            if rc != OK:
                self._fail(rc)
            self.last_result = GenerateResult("".join(pieces), tokens, res)
            return self.last_result
        finally:
            if own_sampler:
                smp.close()

    def generate(self, ids, max_tokens=256, **options):
        """Like complete(), but yields the text pieces as they are made.
        The generation runs on a helper thread in lock step with the loop
        (one token ahead at most); leaving the loop early cancels it, and
        last_result is set when it ends."""
        hand = queue.Queue(maxsize=1)
        go_on = threading.Event()
        stop = threading.Event()
        user_cb = options.pop("on_token", None)

        def on_token(token, piece):
            if user_cb is not None and user_cb(token, piece):
                hand.put(("piece", piece))
                return True
            hand.put(("piece", piece))
            go_on.wait()
            go_on.clear()
            if stop.is_set():
                raise _Cancelled()
            return False

        def run():
            try:
                self.complete(ids, max_tokens=max_tokens, on_token=on_token, **options)
                hand.put(("done", None))
            except _Cancelled:
                hand.put(("done", None))
            except BaseException as e:  # noqa: B902 -- handed to the consumer
                hand.put(("error", e))

        worker = threading.Thread(target=run, name="dsv3-generate", daemon=True)
        worker.start()
        try:
            while True:
                kind, value = hand.get()
                if kind == "piece":
                    yield value
                    go_on.set()
                elif kind == "error":
                    raise value
                else:
                    return
        finally:
            if worker.is_alive():
                stop.set()
                go_on.set()
                while worker.is_alive():
                    try:
                        hand.get(timeout=0.05)
                    except queue.Empty:
                        pass
                    go_on.set()
                worker.join()


class _Cancelled(Exception):
    pass


class Model(_Owned):
    """A loaded model: path is a Hugging Face checkpoint directory or a
    GGUF file; backend "auto" picks the best this machine runs ("vulkan:1":
    device 1 of the GPU backend); n_threads 0 = one per CPU. With a GPU
    backend, placement ("auto", "gpu", "experts-on-cpu"), gpu_budget (bytes,
    0 = the device's memory) and kv_reserve_ctx (positions of KV cache to
    keep room for) say which weights go to the device (libdsv3 0.3; CPU
    backends ignore them). repack=True keeps a packed copy of the Q8_0,
    Q4_0 and Q5_0 weights for the x86 CPU backends: faster, at the cost of
    process memory equal to them (info["repacked_bytes"])."""
    _what = "model"

    def __init__(self, path, backend="auto", n_threads=0, use_mmap=True, placement=None, gpu_budget=0,
                 kv_reserve_ctx=None, repack=False):
        self.path = str(path)
        p = _lib.ModelParams()
        _check(lib.dsv3_model_params_init(ctypes.byref(p), ctypes.sizeof(p)))
        self._backend_b = _bytes(backend)
        p.backend = self._backend_b
        p.n_threads = int(n_threads)
        p.use_mmap = 1 if use_mmap else 0
        # left at the library's defaults unless given, so an older library
        # that does not know these fields still accepts the struct
        self._placement_b = _bytes(placement) if placement is not None else None
        if placement is not None:
            p.placement = self._placement_b
        p.gpu_budget = int(gpu_budget)
        if kv_reserve_ctx is not None:
            p.kv_reserve_ctx = int(kv_reserve_ctx)
        if repack:
            p.repack = 1
        self._h = ctypes.c_void_p()
        err = ctypes.create_string_buffer(_ERRBUF)
        rc = lib.dsv3_model_load(_bytes(self.path), ctypes.byref(p), ctypes.byref(self._h), err, _ERRBUF)
        _check(rc, err.value.decode("utf-8", "replace"))
        self._tok = None
        self._info = None
        # a model outlives its sessions in C: close() frees them first
        self._sessions = weakref.WeakSet()

    def close(self):
        for s in list(getattr(self, "_sessions", ())):
            s.close()
        if getattr(self, "_tok", None) is not None:
            self._tok.close()
            self._tok = None
        if getattr(self, "_h", None):
            lib.dsv3_model_free(self._h)
            self._h = None


    @property
    def info(self):
        """dsv3_model_info as a dict (architecture, backend, vocab_size, ...)."""
        if self._info is None:
            i = _lib.ModelInfo()
            i.struct_size = ctypes.sizeof(i)
            _check(lib.dsv3_model_get_info(self._handle(), ctypes.byref(i)), "model info")
            d = {}
            for name, _ in _lib.ModelInfo._fields_:
                if name == "struct_size" or name.startswith("reserved"):
                    continue
                v = getattr(i, name)
                d[name] = v.decode() if isinstance(v, bytes) else v
            self._info = d
        return dict(self._info)

    @property
    def vocab_size(self):
        return self.info["vocab_size"]

    def placement(self):
        """Where the weights went, as text: the backend and device, and the
        bytes of each kind of weight on the device and in host memory."""
        return _text(_need("dsv3_model_placement"), self._handle())

    def tokenizer(self):
        """The model's tokenizer (tokenizer.json beside the weights, or the
        GGUF's own); loaded once, closed with the model."""
        if self._tok is None:
            self._tok = Tokenizer(self.path)
        return self._tok

    def _tokenizer_or_none(self):
        # generation works without a tokenizer (ids only, empty pieces)
        try:
            return self.tokenizer()
        except Error as e:
            if e.status in (ERR_NOT_FOUND, 5, 6, 7):  # none, or one dsv3 cannot read
                return None
            raise

    def session(self, n_ctx=0, **kw):
        return Session(self, n_ctx=n_ctx, **kw)

    def prefetch(self, progress=None):
        """Read the weights into memory now. progress(done, total) may
        return True to cancel (then Error with status ERR_CANCELLED); an
        exception it raises cancels too and is re-raised here."""
        if not hasattr(lib, "dsv3_model_prefetch"):
            raise Error(6, "this libdsv3 has no dsv3_model_prefetch")
        guard = _Callback()

        def c_progress(_user, done, total):
            if progress is None:
                return 0
            return guard.guard(lambda: 1 if progress(done, total) else 0)

        cb = _lib.ProgressCallback(c_progress)
        rc = lib.dsv3_model_prefetch(self._handle(), cb, None)
        guard.reraise()
        _check(rc, "prefetch cancelled" if rc == ERR_CANCELLED else "prefetch")

    def complete(self, prompt, max_tokens=256, n_ctx=0, **options):
        """Continue prompt (text; a BOS is added as the tokenizer asks) in
        a fresh session, as `dsv3 run` does; returns the generated text."""
        tok = self.tokenizer()
        ids = tok.encode(prompt)
        with self.session(n_ctx=n_ctx) as s:
            return s.complete(ids, max_tokens=max_tokens, **options).text

    def chat(self, messages, max_tokens=256, n_ctx=0, **options):
        """The assistant's reply to messages ([{"role", "content"}, ...])
        through the model's chat template, in a fresh session."""
        tok = self.tokenizer()
        text = tok.chat_render(messages, add_generation_prompt=True)
        ids = tok.encode(text, add_bos=False)
        with self.session(n_ctx=n_ctx) as s:
            return s.complete(ids, max_tokens=max_tokens, **options).text
