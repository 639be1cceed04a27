"""dsv3: run DeepSeek-V3-architecture language models through libdsv3.

    import dsv3
    with dsv3.Model("examples/models/austen-v3-tiny") as m:
        tok = m.tokenizer()
        with m.session(n_ctx=512) as s:
            for piece in s.generate(tok.encode("It is a truth"), max_tokens=32, temperature=0):
                print(piece, end="")

Pure ctypes: the shared library is found through the DSV3_LIBRARY
environment variable (a path), next to this package, or on the system
(libdsv3.so.0).
"""
from ._api import (ERR_CANCELLED, ERR_INVALID_ARG, ERR_NOT_FOUND, ERR_TOO_SMALL, KV_TYPES, OK, STOP_REASONS,
                   Error, GenerateResult, Model, Sampler, Session, Tokenizer, backends, describe_backends,
                   status_string, version)
from ._lib import lib as _library

__version__ = "0.3.0"
library_path = _library.dsv3_path

__all__ = ["Error", "GenerateResult", "Model", "Sampler", "Session", "Tokenizer", "backends", "describe_backends",
           "status_string",
           "version", "library_path", "OK", "ERR_CANCELLED", "ERR_INVALID_ARG", "ERR_NOT_FOUND", "ERR_TOO_SMALL",
           "KV_TYPES", "STOP_REASONS"]
