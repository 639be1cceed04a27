"""The ctypes structs match dsv3.h: same fields in the same order as the
header declares them (parsed from include/dsv3.h), and the same size and
offsets as the C compiler gives (bindings/abi_layout.c, built by CMake and
passed as DSV3_ABI_LAYOUT, or compiled here with $CC / cc)."""
import ctypes
import json
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from conftest import REPO

HEADER = os.path.join(REPO, "include", "dsv3.h")


def header_fields():
    """{struct name: [field names in order]} from the header's text."""
    text = open(HEADER, encoding="utf-8").read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    out = {}
    for m in re.finditer(r"struct\s+(dsv3_\w+)\s*\{(.*?)\};", text, flags=re.S):
        names = []
        for decl in m.group(2).split(";"):
            decl = " ".join(decl.split())
            if not decl:
                continue
            # function pointer typedef'd types are plain names here; split
            # "double a, b" into both names; drop array suffixes
            head, _, rest = decl.partition(",")
            parts = [head.split()[-1]] + [p.strip() for p in rest.split(",") if rest]
            for p in parts:
                names.append(re.sub(r"\[.*\]", "", p).lstrip("*"))
        out[m.group(1)] = names
    return out


def c_layout():
    exe = os.environ.get("DSV3_ABI_LAYOUT")
    if exe:
        return json.loads(subprocess.run([exe], check=True, capture_output=True, text=True).stdout)
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        pytest.skip("no C compiler to measure the header's layout (set DSV3_ABI_LAYOUT or CC)")
    with tempfile.TemporaryDirectory() as tmp:
        exe = os.path.join(tmp, "abi_layout")
        subprocess.run([cc, "-std=c11", "-I", os.path.join(REPO, "include"),
                        os.path.join(REPO, "bindings", "abi_layout.c"), "-o", exe], check=True)
        return json.loads(subprocess.run([exe], check=True, capture_output=True, text=True).stdout)


def test_every_header_struct_is_declared(dsv3):
    from dsv3 import _lib
    assert set(header_fields()) == set(_lib.STRUCTS)


@pytest.mark.parametrize("name", sorted(__import__("dsv3._lib", fromlist=["STRUCTS"]).STRUCTS))
def test_fields_in_header_order(name):
    from dsv3 import _lib
    assert [f for f, _ in _lib.STRUCTS[name]._fields_] == header_fields()[name]


def test_size_and_offsets_match_the_c_compiler():
    from dsv3 import _lib
    layout = c_layout()
    assert set(layout) == set(_lib.STRUCTS)
    for name, cls in _lib.STRUCTS.items():
        want = layout[name]
        assert ctypes.sizeof(cls) == want["__size__"], name
        # abi_layout.c names every field the header declares
        assert [k for k in want if k != "__size__"] == header_fields()[name], name
        got = {f: getattr(cls, f).offset for f, _ in cls._fields_}
        assert got == {k: v for k, v in want.items() if k != "__size__"}, name


def test_session_params_keeps_kv_type_after_reserved0():
    from dsv3 import _lib
    assert _lib.SessionParams.kv_type.offset == _lib.SessionParams.reserved0.offset + 4
