"""The Python API on the demo model (examples/models/austen-v3-tiny):
tokenizer, step/rewind, generation (pinned greedy ids, equal to
`dsv3 run --temp 0`), callbacks, errors, prefetch, threads."""
import array
import math
import threading

import pytest

from conftest import DEMO, GREEDY_IDS, PROMPT, PROMPT_IDS, run_cli


def test_version(dsv3):
    assert dsv3.version() == dsv3.__version__
    assert any(name == "scalar" and ok for name, ok in dsv3.backends())


def test_devices(dsv3, demo):
    texts = dsv3.describe_backends()
    assert [n for n, _ in texts] == [n for n, _ in dsv3.backends()]
    assert sum('picked by "auto"' in t for _, t in texts) == 1
    assert texts[0][0] == "scalar" and texts[0][1].startswith("available")
    info = demo.info
    assert info["device"] == "cpu" and info["device_bytes"] == 0 and info["host_weight_bytes"] > 0
    assert "reserved0" not in info
    assert "host memory" in demo.placement()
    with pytest.raises(dsv3.Error) as e:
        dsv3.Model(DEMO, placement="all-on-gpu")
    assert e.value.status == dsv3.ERR_INVALID_ARG and "all-on-gpu" in e.value.message
    # CPU backends accept and ignore the device parameters
    with dsv3.Model(DEMO, backend="scalar", placement="gpu", gpu_budget=1 << 30, kv_reserve_ctx=0) as m:
        assert m.info["device"] == "cpu" and m.info["host_weight_bytes"] == info["host_weight_bytes"]
    # repack: the demo's BF16 weights have nothing to pack; the field round-trips
    assert info["repacked_bytes"] == 0
    with dsv3.Model(DEMO, repack=True) as m:
        assert m.info["repacked_bytes"] == 0 and m.info["n_params"] == info["n_params"]


def test_tokenizer(demo):
    tok = demo.tokenizer()
    assert tok is demo.tokenizer()
    assert tok.encode(PROMPT) == PROMPT_IDS
    assert tok.bos == 0 and tok.add_bos
    assert tok.encode(PROMPT, add_bos=False) == PROMPT_IDS[1:]
    assert tok.decode(PROMPT_IDS, skip_special=True) == PROMPT
    assert tok.decode(tok.encode("café – naïve", add_bos=False)) == "café – naïve"
    assert tok.n_vocab == demo.vocab_size
    assert tok.token_bytes(PROMPT_IDS[1]) == b"It"
    assert tok.is_special(0) and not tok.is_special(PROMPT_IDS[1])


def test_standalone_tokenizer(dsv3):
    with dsv3.Tokenizer(DEMO) as tok:
        assert tok.encode(PROMPT) == PROMPT_IDS
    with pytest.raises(dsv3.Error):
        tok.encode("closed")


def test_step_and_rewind(dsv3, demo):
    with demo.session(n_ctx=128) as s:
        logits = s.step(PROMPT_IDS)
        assert isinstance(logits, array.array) and len(logits) == demo.vocab_size
        assert all(math.isfinite(x) for x in logits)
        assert max(range(len(logits)), key=logits.__getitem__) == GREEDY_IDS[0]
        assert s.position == len(PROMPT_IDS) and s.n_ctx == 128
        s.rewind(4)
        again = s.step(PROMPT_IDS[4:])
        assert again.tobytes() == logits.tobytes()  # the same cache rows, bit for bit
        s.rewind(0)
        rows = s.step(PROMPT_IDS, all_logits=True)
        assert len(rows) == len(PROMPT_IDS) * demo.vocab_size
        assert rows[-demo.vocab_size:].tobytes() == logits.tobytes()
        assert s.step([GREEDY_IDS[0]], logits=False) is None
        assert s.kv_bytes_per_token == demo.info["kv_bytes_per_token"]


def test_logits_as_numpy(demo):
    np = pytest.importorskip("numpy")
    with demo.session() as s:
        v = np.asarray(s.step(PROMPT_IDS))
        assert v.dtype == np.float32 and v.shape == (demo.vocab_size,)
        assert int(v.argmax()) == GREEDY_IDS[0]


def test_errors_name_the_problem_and_leave_state_usable(dsv3, demo):
    with pytest.raises(dsv3.Error) as e:
        dsv3.Model("/nonexistent/model")
    assert e.value.status == dsv3.ERR_NOT_FOUND and "/nonexistent/model" in e.value.message
    with pytest.raises(dsv3.Error) as e:
        dsv3.Model(DEMO, backend="no-such-backend")
    assert e.value.status == 14 and "no-such-backend" in str(e.value)
    with demo.session(n_ctx=16) as s:
        s.step(PROMPT_IDS[:3])
        with pytest.raises(dsv3.Error) as e:
            s.step([1, demo.vocab_size + 5])
        assert e.value.status == 11 and e.value.message
        with pytest.raises(dsv3.Error) as e:
            s.rewind(7)
        assert e.value.status == 13
        with pytest.raises(dsv3.Error) as e:
            s.step(list(range(1, 20)))
        assert e.value.status == 12
        assert s.position == 3
        s.step(PROMPT_IDS[3:])
        assert s.position == len(PROMPT_IDS)
    with pytest.raises(dsv3.Error) as e:
        demo.session(kv_type="f8")
    assert e.value.status == dsv3.ERR_INVALID_ARG


def test_greedy_equals_pinned_ids_and_cli(demo):
    tok = demo.tokenizer()
    with demo.session() as s:
        r = s.complete(tok.encode(PROMPT), max_tokens=32, temperature=0)
    assert r.tokens == GREEDY_IDS
    assert r.n_prompt_tokens == len(PROMPT_IDS) and r.n_generated == 32 and r.stop_reason == "max tokens"
    assert r.text == tok.decode(GREEDY_IDS)
    cli = run_cli("run", "-m", DEMO, "-p", PROMPT, "-n", "32", "--temp", "0", "--backend", "scalar")
    assert cli.rstrip("\n") == PROMPT + r.text
    assert demo.complete(PROMPT, max_tokens=32, temperature=0) == r.text


def test_generate_yields_pieces(demo):
    tok = demo.tokenizer()
    with demo.session() as s:
        pieces = list(s.generate(tok.encode(PROMPT), max_tokens=32, temperature=0))
        assert "".join(pieces) == tok.decode(GREEDY_IDS)
        assert len(pieces) == 32 and s.position == len(PROMPT_IDS) + 32
        assert s.last_result.tokens == GREEDY_IDS
        # leaving the loop early cancels; the session keeps what was stepped
        s.rewind(0)
        got = []
        for piece in s.generate(tok.encode(PROMPT), max_tokens=32, temperature=0):
            got.append(piece)
            if len(got) == 5:
                break
        assert got == pieces[:5]
        assert len(PROMPT_IDS) + 4 <= s.position <= len(PROMPT_IDS) + 6
        s.rewind(0)
        assert "".join(s.generate(tok.encode(PROMPT), max_tokens=32, temperature=0)) == "".join(pieces)


def test_callback_exception_cancels_and_is_reraised(demo):
    tok = demo.tokenizer()
    seen = []

    class Boom(Exception):
        pass

    def on_token(token, piece):
        seen.append(token)
        if len(seen) == 3:
            raise Boom("stop here")

    with demo.session() as s:
        with pytest.raises(Boom, match="stop here"):
            s.complete(tok.encode(PROMPT), max_tokens=32, temperature=0, on_token=on_token)
        assert seen == GREEDY_IDS[:3]
        seen.clear()
        with pytest.raises(Boom):
            for _ in s.generate([GREEDY_IDS[3]], max_tokens=32, temperature=0, on_token=on_token):
                pass
        # usable afterwards
        s.rewind(0)
        assert s.complete(tok.encode(PROMPT), max_tokens=4, temperature=0).tokens == GREEDY_IDS[:4]


def test_callback_true_stops_keeping_the_token(demo):
    tok = demo.tokenizer()
    with demo.session() as s:
        r = s.complete(tok.encode(PROMPT), max_tokens=32, temperature=0, on_token=lambda t, p: t == GREEDY_IDS[2])
        assert r.tokens == GREEDY_IDS[:3] and r.stop_reason == "callback"


def test_stop_strings_and_sampling(dsv3, demo):
    tok = demo.tokenizer()
    greedy = tok.decode(GREEDY_IDS)
    cut = greedy.index("glad")
    with demo.session() as s:
        r = s.complete(tok.encode(PROMPT), max_tokens=32, temperature=0, stop=["glad"])
        assert r.stop_reason == "stop string" and r.text == greedy[:cut]
    a = demo.complete(PROMPT, max_tokens=16, temperature=0.9, seed=7)
    b = demo.complete(PROMPT, max_tokens=16, temperature=0.9, seed=7)
    assert a == b
    with pytest.raises(TypeError):
        demo.complete(PROMPT, max_tokens=4, temprature=0.5)
    # a Sampler on raw logits, logit bias banning the greedy token
    with demo.session() as s:
        logits = s.step(PROMPT_IDS)
    with dsv3.Sampler(demo.vocab_size, temperature=0) as smp:
        assert smp.sample(logits) == GREEDY_IDS[0]
    with dsv3.Sampler(demo.vocab_size, temperature=0, logit_bias={GREEDY_IDS[0]: float("-inf")}) as smp:
        assert smp.sample(logits) != GREEDY_IDS[0]


def test_chat(demo):
    text = demo.tokenizer().chat_render([{"role": "user", "content": "Hello"}])
    assert text.startswith("<｜begin▁of▁sentence｜>") and "Hello" in text
    reply = demo.chat([{"role": "user", "content": "Hello"}], max_tokens=16, temperature=0)
    assert isinstance(reply, str) and reply
    calls = [{"type": "function", "function": {"name": "f", "arguments": {"x": 1}}}]
    text = demo.tokenizer().chat_render([{"role": "user", "content": "Hi"},
                                         {"role": "assistant", "content": None, "tool_calls": calls}],
                                        add_generation_prompt=False)
    assert '{"x": 1}' in text and "f" in text


def test_prefetch(dsv3, demo):
    calls = []
    demo.prefetch(lambda done, total: calls.append((done, total)))
    assert calls and calls[-1][0] == calls[-1][1] > 0
    with pytest.raises(dsv3.Error) as e:
        demo.prefetch(lambda done, total: True)
    assert e.value.status == dsv3.ERR_CANCELLED

    def boom(done, total):
        raise KeyError("from progress")

    with pytest.raises(KeyError):
        demo.prefetch(boom)
    demo.prefetch()


def test_one_model_many_threads(demo):
    tok = demo.tokenizer()
    out = [None] * 3

    def work(i):
        with demo.session() as s:
            out[i] = s.complete(tok.encode(PROMPT), max_tokens=16, temperature=0).tokens

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == [GREEDY_IDS[:16]] * 3


def test_model_close_frees_its_sessions_first(dsv3):
    m = dsv3.Model(DEMO)
    s = m.session()
    s.step(PROMPT_IDS)
    m.close()
    with pytest.raises(dsv3.Error):
        s.step([1])
    m.close()


def test_mtp_drafting_gives_the_greedy_tokens(dsv3, demo):
    if demo.info["n_mtp_layers"] == 0:
        pytest.skip("the demo model has no MTP layer")
    tok = demo.tokenizer()
    with demo.session(mtp=True) as s:
        r = s.complete(tok.encode(PROMPT), max_tokens=32, temperature=0, mtp="required", mtp_depth=2)
    assert r.tokens == GREEDY_IDS and r.n_drafted > 0 and 0 <= r.n_accepted <= r.n_drafted
    with pytest.raises(dsv3.Error):
        demo.complete(PROMPT, max_tokens=4, mtp="sometimes")


def test_state_save_load_fork(dsv3, demo, tmp_path):
    tok = demo.tokenizer()
    ids = tok.encode(PROMPT)
    with demo.session(n_ctx=128) as s:
        s.step(ids)
        state = s.save()
        assert isinstance(state, bytes) and len(state) > 0
        want = s.step([GREEDY_IDS[0]])
        s.rewind(0)
        s.load(state)
        assert s.position == len(ids)
        assert s.step([GREEDY_IDS[0]]).tobytes() == want.tobytes()
        s.rewind(len(ids))
        s.save_file(str(tmp_path / "s.state"))
        with demo.session(n_ctx=128) as t:
            t.load_file(str(tmp_path / "s.state"))
            assert t.step([GREEDY_IDS[0]]).tobytes() == want.tobytes()
            with pytest.raises(dsv3.Error) as e:
                t.load(state[:-9])
            assert e.value.message
        f = s.fork()
        try:
            assert f.position == len(ids)
            assert f.complete([GREEDY_IDS[0]], max_tokens=8, temperature=0).tokens == GREEDY_IDS[1:9]
        finally:
            f.close()
        with demo.session(n_ctx=128) as t:
            smp = dsv3.Sampler(demo.vocab_size, seed=3)
            smp.accept(5)
            st = smp.save()
            smp2 = dsv3.Sampler(demo.vocab_size, seed=3)
            smp2.load(st)
            logits = t.step(ids)
            assert smp.sample(logits) == smp2.sample(logits)


def test_routing_record(demo):
    with demo.session(record_routing=True) as s:
        s.step(PROMPT_IDS)
        ids, weights = s.routing(3)
        k = demo.info["n_experts_per_token"]
        assert len(ids) == demo.info["n_moe_layers"] and all(len(r) == k for r in ids)
        assert all(0 <= e < demo.info["n_routed_experts"] for r in ids for e in r)
