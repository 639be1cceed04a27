"""rdata.py -- a small reader for R's serialization format, enough for the
data sets an R package ships (character, numeric, integer and logical
vectors, lists, attributes), without R.

R writes its lazy-load databases as two files: NAME.rdx, a compressed
serialized list {variables, references, compressed} that maps each object
name to [offset, length] in NAME.rdb, and NAME.rdb, the concatenated
compressed blobs. Each blob is a 4-byte big-endian uncompressed length,
then (compression type 2/3) a one-byte method ('Z' zlib, '2' bzip2,
'X' xz, '0' none) or (type 1) the zlib stream directly. The payload is the
XDR ("X\\n") serialization of one R object. References: R's serialize.c
(ReadItem, InStringVec) and src/main/lazyload / makeLazyLoadDB.
"""
import bz2
import gzip
import lzma
import struct
import zlib

# SEXP types and the serialization pseudo-types (serialize.c)
NILSXP, SYMSXP, LISTSXP, CLOSXP, ENVSXP, PROMSXP, LANGSXP = 0, 1, 2, 3, 4, 5, 6
CHARSXP, LGLSXP, INTSXP, REALSXP, CPLXSXP, STRSXP = 9, 10, 13, 14, 15, 16
DOTSXP, VECSXP, EXPRSXP, RAWSXP, S4SXP = 17, 19, 20, 24, 25
REFSXP, NILVALUE_SXP, GLOBALENV_SXP, UNBOUNDVALUE_SXP = 255, 254, 253, 252
MISSINGARG_SXP, BASENAMESPACE_SXP, NAMESPACESXP, PACKAGESXP = 251, 250, 249, 248
PERSISTSXP, EMPTYENV_SXP, BASEENV_SXP, ALTREP_SXP = 247, 242, 241, 238
ATTRLANGSXP, ATTRLISTSXP = 240, 239

NA_INT = -(2 ** 31)


class RObject:
    """A generic R value: type, value (python list/dict/str), attributes."""

    def __init__(self, rtype, value=None, attrs=None):
        self.rtype, self.value, self.attrs = rtype, value, attrs or {}

    def __repr__(self):
        return "RObject(%d, %r)" % (self.rtype, self.value if not isinstance(self.value, list) else
                                    "[%d items]" % len(self.value))


class Reader:
    def __init__(self, data):
        self.d, self.p, self.refs = data, 0, []

    def bytes(self, n):
        if self.p + n > len(self.d):
            raise ValueError("truncated R serialization")
        b = self.d[self.p:self.p + n]
        self.p += n
        return b

    def int(self):
        return struct.unpack(">i", self.bytes(4))[0]

    def length(self):
        n = self.int()
        if n == -1:  # long vector: two more ints
            hi, lo = self.int(), self.int()
            n = (hi << 32) + (lo & 0xFFFFFFFF)
        return n

    def header(self):
        fmt = self.bytes(2)
        if fmt != b"X\n":
            raise ValueError("only the XDR (X) serialization format is supported, got %r" % fmt)
        version = self.int()
        self.int()  # writer R version
        self.int()  # minimal reader version
        if version == 3:
            self.bytes(self.int())  # native encoding name
        elif version != 2:
            raise ValueError("unsupported serialization version %d" % version)

    def attributes(self, has_attr):
        if not has_attr:
            return {}
        pl = self.item()
        out = {}
        while isinstance(pl, RObject) and pl.rtype == LISTSXP:
            out[pl.value["tag"]] = pl.value["car"]
            pl = pl.value["cdr"]
        return out

    def string_vec(self):
        if self.int() != 0:
            raise ValueError("bad string vector in a reference")
        return [self.item() for _ in range(self.int())]

    def item(self):
        flags = self.int()
        t = flags & 0xFF
        levels = flags >> 12
        has_attr, has_tag = bool(flags & (1 << 9)), bool(flags & (1 << 10))
        if t == NILVALUE_SXP:
            return None
        if t in (GLOBALENV_SXP, EMPTYENV_SXP, BASEENV_SXP, BASENAMESPACE_SXP, UNBOUNDVALUE_SXP,
                 MISSINGARG_SXP):
            return RObject(t)
        if t == REFSXP:
            i = flags >> 8
            if i == 0:
                i = self.int()
            return self.refs[i - 1]
        if t in (PERSISTSXP, PACKAGESXP, NAMESPACESXP):
            o = RObject(t, self.string_vec())
            self.refs.append(o)
            return o
        if t == SYMSXP:
            name = self.item()  # a CHARSXP
            self.refs.append(name)
            return name
        if t == ENVSXP:
            o = RObject(t, {})
            self.refs.append(o)
            self.int()  # locked
            o.value = {"enclos": self.item(), "frame": self.item(), "hashtab": self.item()}
            o.attrs = self.attributes(True)  # always present for environments
            return o
        if t in (LISTSXP, LANGSXP, CLOSXP, PROMSXP, DOTSXP, ATTRLANGSXP, ATTRLISTSXP):
            attrs = self.attributes(has_attr)
            tag = self.item() if has_tag else None
            car = self.item()
            cdr = self.item()
            return RObject(LISTSXP if t == ATTRLISTSXP else t, {"tag": tag, "car": car, "cdr": cdr}, attrs)
        if t == CHARSXP:
            n = self.int()
            if n == -1:
                return None  # NA_character_
            raw = self.bytes(n)
            latin1 = bool(levels & (1 << 2))
            return raw.decode("latin-1" if latin1 else "utf-8")
        if t in (LGLSXP, INTSXP):
            n = self.length()
            v = list(struct.unpack(">%di" % n, self.bytes(4 * n)))
            v = [None if x == NA_INT else x for x in v]
        elif t == REALSXP:
            n = self.length()
            v = list(struct.unpack(">%dd" % n, self.bytes(8 * n)))
        elif t == CPLXSXP:
            n = self.length()
            f = struct.unpack(">%dd" % (2 * n), self.bytes(16 * n))
            v = [complex(f[2 * i], f[2 * i + 1]) for i in range(n)]
        elif t == RAWSXP:
            v = self.bytes(self.length())
        elif t == STRSXP:
            v = [self.item() for _ in range(self.length())]
        elif t in (VECSXP, EXPRSXP):
            v = [self.item() for _ in range(self.length())]
        elif t == S4SXP:
            v = None
        elif t == ALTREP_SXP:
            info, state, attr = self.item(), self.item(), self.item()
            return self.altrep(info, state, attr)
        else:
            raise ValueError("R serialization type %d is not supported by this reader" % t)
        return RObject(t, v, self.attributes(has_attr))

    def altrep(self, info, state, attr):
        # info is a pairlist (class symbol, package symbol, type)
        cls = info.value["car"] if isinstance(info, RObject) else None
        if cls == "compact_intseq":
            n, start, step = state.value
            n, start, step = int(n), int(start), int(step)
            return RObject(INTSXP, [start + i * step for i in range(n)])
        if cls == "compact_realseq":
            n, start, step = state.value
            return RObject(REALSXP, [start + i * step for i in range(int(n))])
        if cls in ("wrap_string", "wrap_integer", "wrap_real", "wrap_logical", "wrap_list"):
            return state.value["car"] if state.rtype == LISTSXP else state.value[0]
        if cls == "deferred_string":
            arg = state.value["car"]
            return RObject(STRSXP, [str(x) for x in arg.value])
        raise ValueError("ALTREP class %r is not supported by this reader" % cls)


def unserialize(data):
    r = Reader(data)
    r.header()
    return r.item()


def read_rds(path):
    """A .rds file: a gzip/bzip2/xz-compressed (or plain) serialization."""
    raw = open(path, "rb").read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    elif raw[:3] == b"BZh":
        raw = bz2.decompress(raw)
    elif raw[:6] == b"\xfd7zXZ\x00":
        raw = lzma.decompress(raw)
    return unserialize(raw)


def as_dict(obj):
    """A named R list as a python dict name -> element."""
    names = obj.attrs.get("names")
    return dict(zip(names.value, obj.value))


def _blob(rdb, offset, length):
    b = rdb[offset:offset + length]
    n = struct.unpack(">I", b[:4])[0]
    body = b[4:]
    if body[:1] == b"Z":
        out = zlib.decompress(body[1:])
    elif body[:1] == b"2":
        out = bz2.decompress(body[1:])
    elif body[:1] == b"X":
        out = lzma.decompress(body[1:])
    elif body[:1] == b"0":
        out = body[1:]
    else:  # compression type 1: a bare zlib stream
        out = zlib.decompress(body)
    if len(out) != n:
        raise ValueError("lazy-load blob has %d bytes, expected %d" % (len(out), n))
    return out


def read_lazyload_db(stem):
    """{name: RObject} for every variable of the lazy-load database stem
    (stem.rdx + stem.rdb), for example .../janeaustenr/data/Rdata."""
    index = as_dict(read_rds(stem + ".rdx"))
    rdb = open(stem + ".rdb", "rb").read()
    out = {}
    for name, where in as_dict(index["variables"]).items():
        offset, length = (int(x) for x in where.value)
        r = Reader(_blob(rdb, offset, length))
        r.header()
        out[name] = r.item()
    return out
