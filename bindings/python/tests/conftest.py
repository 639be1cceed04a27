"""Shared fixtures. The library is whatever `import dsv3` finds (CTest sets
DSV3_LIBRARY to the build's libdsv3.so); the `dsv3` program for the
comparisons is DSV3_CLI (the tests that need it skip without it)."""
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(REPO, "bindings", "python"))

DEMO = os.path.join(REPO, "examples", "models", "austen-v3-tiny")
SHARED = os.path.abspath(os.path.join(REPO, "..", "shared"))
PROMPT = "It is a truth universally acknowledged"
# pinned in tests/test_demo_model.py: the prompt's ids and its 32-token
# greedy continuation on the scalar backend
PROMPT_IDS = [0, 1437, 367, 261, 1932, 474, 75, 1198, 562, 2825]
GREEDY_IDS = [16, 223, 304, 447, 737, 304, 542, 317, 362, 410, 360, 391, 1349, 275, 289, 360, 494, 295, 269, 1037, 14,
              285, 304, 447, 737, 304, 542, 317, 362, 410, 360, 494]


def run_cli(*args):
    # only the program of the same build (CTest passes it): another build's
    # could be another version
    cli = os.environ.get("DSV3_CLI")
    if not cli:
        pytest.skip("no dsv3 program to compare with (set DSV3_CLI)")
    r = subprocess.run([cli, *args], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.fixture(scope="session")
def dsv3():
    import dsv3 as mod
    return mod


@pytest.fixture(scope="session")
def demo(dsv3):
    with dsv3.Model(DEMO, backend="scalar", n_threads=2) as m:
        yield m


@pytest.fixture(scope="session")
def shared():
    if not os.path.isdir(os.path.join(SHARED, "golden")):
        # as tests/CMakeLists.txt's shared tests: CI, which has ../shared,
        # sets DSV3_REQUIRE_SHARED so that a missing copy fails
        if os.environ.get("DSV3_REQUIRE_SHARED"):
            pytest.fail("../shared/golden not found beside the repository (DSV3_REQUIRE_SHARED is set)")
        pytest.skip("../shared/golden not found beside the repository")
    return SHARED
