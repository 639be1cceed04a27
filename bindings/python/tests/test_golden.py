"""The bindings on the golden checkpoints of ../shared (skipped without
it): every logits case within the manifest's f32 tolerance (2e-3 max-abs)
on the scalar backend, the greedy cases' stored tokens, and greedy ids
equal to `dsv3 run --temp 0` on every golden checkpoint and four GGUF
files; prefetch on every checkpoint and GGUF file."""
import array
import json
import os

import pytest

from conftest import SHARED, run_cli

GOLDEN = os.path.join(SHARED, "golden")
GGUF = os.path.join(SHARED, "golden-gguf")


def manifest(d):
    p = os.path.join(d, "manifest.json")
    return json.load(open(p)) if os.path.exists(p) else {"cases": [], "checkpoints": {}}


CASES = [c for c in manifest(GOLDEN)["cases"] if c["kind"] in ("logits", "greedy")]
CHECKPOINTS = sorted(manifest(GOLDEN)["checkpoints"])
GGUFS = sorted(f for f in os.listdir(GGUF) if f.endswith(".gguf")) if os.path.isdir(GGUF) else []


def load_f32(d, out):
    a = array.array("f")
    with open(os.path.join(d, out["file"]), "rb") as f:
        a.frombytes(f.read())
    return a


_models = {}


def model(dsv3, path):
    if path not in _models:
        _models[path] = dsv3.Model(path, backend="scalar", n_threads=2)
    return _models[path]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_golden_case(dsv3, shared, case):
    m = model(dsv3, os.path.join(GOLDEN, case["checkpoint"]))
    tol = case.get("tolerance", {}).get("f32_compute", {}).get("max_abs", 2e-3)
    with m.session() as s:
        if case["kind"] == "logits":
            got = s.step(case["tokens"], all_logits=True)
            want = load_f32(GOLDEN, case["outputs"]["logits"])
            assert len(got) == len(want)
            err = max(abs(a - b) for a, b in zip(got, want))
            assert err <= tol, "max |logits - expected| %g > %g" % (err, tol)
        else:
            r = s.complete(case["prompt"], max_tokens=case["n_new"], temperature=0, stop_at_eos=False)
            assert r.tokens == case["generated"]


def greedy_cli(path, prompt, n):
    out = run_cli("run", "-m", path, "--tokens", ",".join(map(str, prompt)), "-n", str(n), "--temp", "0",
                  "--print-ids", "--backend", "scalar")
    lines = dict(l.split(":", 1) for l in out.splitlines() if ":" in l)
    return [int(x) for x in lines["out"].split()]


PROMPT = [132, 818, 512, 605, 617, 731, 29]
# the binding and the CLI run the same library call: one file per loader
# path (plain, K-quant, i-quant, with MTP) is enough beside the HF ones
CLI_GGUFS = [f for f in GGUFS if f in ("tiny-q.q8_0.gguf", "tiny-q.q4_k_m.gguf", "tiny-q.iq2_xxs.gguf",
                                       "tiny-q.mtp.q8_0.gguf")]


@pytest.mark.parametrize("path", [os.path.join(GOLDEN, c) for c in CHECKPOINTS] +
                         [os.path.join(GGUF, f) for f in CLI_GGUFS], ids=CHECKPOINTS + CLI_GGUFS)
def test_greedy_equals_cli(dsv3, shared, path):
    m = model(dsv3, path)
    with m.session() as s:
        got = s.complete(PROMPT, max_tokens=16, temperature=0).tokens
    assert got == greedy_cli(path, PROMPT, 16)


def test_golden_data_present(shared):
    # the parametrized tests above are empty without ../shared: this one
    # reports the skip (or, under DSV3_REQUIRE_SHARED, the failure)
    assert CASES and CHECKPOINTS and len(CLI_GGUFS) == 4


@pytest.mark.parametrize("path", [os.path.join(GOLDEN, c) for c in CHECKPOINTS] + [os.path.join(GGUF, f) for f in GGUFS],
                         ids=CHECKPOINTS + GGUFS)
def test_prefetch_covers_the_weights(dsv3, shared, path):
    m = model(dsv3, path)
    seen = []
    m.prefetch(lambda done, total: seen.append((done, total)))
    done, total = seen[-1]
    assert done == total and 0 < total <= m.info["bytes_mapped"]
    assert all(a[0] <= b[0] for a, b in zip(seen, seen[1:]))
