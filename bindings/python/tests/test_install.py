"""A plain `pip install` of bindings/python works offline (a setup.py
package without a pyproject.toml build-system table: pip builds it with the
setuptools at hand instead of fetching one) and the installed package finds the library
through DSV3_LIBRARY and, without it, as a libdsv3.so next to the package."""
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from conftest import DEMO, REPO

CHECK = ("import dsv3, sys; m = dsv3.Model(sys.argv[1]); "
         "print(dsv3.library_path); print(m.complete('It is', max_tokens=4, temperature=0))")


def test_pip_install_offline_and_library_lookup(dsv3):
    missing = [m for m in ("pip", "setuptools", "wheel", "venv") if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip("no %s for this python3" % ", ".join(missing))
    lib = dsv3.library_path
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "src")
        shutil.copytree(os.path.join(REPO, "bindings", "python"), src,
                        ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
        env_dir = os.path.join(tmp, "venv")
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", env_dir], check=True)
        py = os.path.join(env_dir, "bin", "python")
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DSV3_LIBRARY")}
        env["PIP_NO_INDEX"] = "1"
        r = subprocess.run([py, "-m", "pip", "install", "-q", src], env=env,
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
        # through DSV3_LIBRARY, from a directory away from the sources
        r = subprocess.run([py, "-c", CHECK, DEMO], cwd=tmp, env=dict(env, DSV3_LIBRARY=lib), capture_output=True,
                           text=True)
        assert r.returncode == 0, r.stderr
        path, text = r.stdout.splitlines()[:2]
        assert path == lib and text
        # a copy next to the installed package
        pkg = subprocess.run([py, "-c", "import os, dsv3._lib as l; print(os.path.dirname(l.__file__))"], cwd=tmp,
                             env=dict(env, DSV3_LIBRARY=lib), capture_output=True, text=True).stdout.strip()
        shutil.copy(lib, os.path.join(pkg, "libdsv3.so"))
        r = subprocess.run([py, "-c", CHECK, DEMO], cwd=tmp, env=env, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines()[0] == os.path.join(pkg, "libdsv3.so")


def test_bad_library_path_is_reported(tmp_path):
    env = dict(os.environ, DSV3_LIBRARY=str(tmp_path / "nope.so"),
               PYTHONPATH=os.path.join(REPO, "bindings", "python"))
    r = subprocess.run([sys.executable, "-c", "import dsv3"], cwd=str(tmp_path), env=env, capture_output=True,
                       text=True)
    assert r.returncode != 0 and "nope.so" in r.stderr and "DSV3_LIBRARY" in r.stderr
