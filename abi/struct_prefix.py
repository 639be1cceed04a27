#!/usr/bin/env python3
"""struct_prefix.py OLD.abi NEW.abi -- the extensible-struct rule, checked.

Structs grow only by appending members (dsv3.h), which abi/abidiff.suppr
lets abidiff accept. But libabigail's `has_data_member_inserted_at = end`
also hides a member whose type changed in place, so this check completes
it: every dsv3_* struct defined in OLD (an abidw file) must exist in NEW
with the same members (name, offset, type) in the same order, followed
only by new ones, and be no smaller. Frozen structs (listed below) must not
change at all: they are passed as arrays, so their size is ABI.
Exit 0 when the rule holds, 1 with one line per violation otherwise."""
import sys
import xml.etree.ElementTree as ET

FROZEN = {"dsv3_chat_message", "dsv3_tool_call"}


def load(path):
    root = ET.parse(path).getroot()
    by_id = {}
    structs = {}
    for el in root.iter():
        if "id" in el.attrib:
            by_id.setdefault(el.get("id"), el)
        if el.tag == "class-decl" and el.get("is-declaration-only") != "yes":
            name = el.get("name", "")
            if name.startswith("dsv3_") and name not in structs:
                structs[name] = el
    return by_id, structs


def type_name(by_id, tid, depth=0):
    """A readable, id-free spelling of a type (ids differ between files)."""
    el = by_id.get(tid)
    if el is None or depth > 20:
        return "?" + str(tid)
    tag = el.tag
    sub = lambda: type_name(by_id, el.get("type-id"), depth + 1)  # noqa: E731
    if tag in ("type-decl", "typedef-decl", "class-decl", "union-decl", "enum-decl"):
        return el.get("name", "?")
    if tag == "pointer-type-def":
        return sub() + "*"
    if tag == "qualified-type-def":
        quals = [q for q in ("const", "volatile", "restrict") if el.get(q) == "yes"]
        return " ".join(quals + [sub()])
    if tag == "array-type-def":
        lens = "".join("[%s]" % s.get("length", "") for s in el.findall("subrange"))
        return sub() + lens
    if tag == "function-type":
        params = [type_name(by_id, p.get("type-id"), depth + 1) if p.get("type-id") else "..."
                  for p in el.findall("parameter")]
        ret = el.find("return")
        rname = type_name(by_id, ret.get("type-id"), depth + 1) if ret is not None else "void"
        return "%s(%s)" % (rname, ", ".join(params))
    return tag + "?"


def members(by_id, el):
    out = []
    for dm in el.findall("data-member"):
        var = dm.find("var-decl")
        out.append((var.get("name"), int(dm.get("layout-offset-in-bits", "0")),
                    type_name(by_id, var.get("type-id"))))
    return out


def main():
    if len(sys.argv) != 3:
        print(__doc__.splitlines()[0])
        return 2
    old_ids, old = load(sys.argv[1])
    new_ids, new = load(sys.argv[2])
    bad = []
    for name, el in sorted(old.items()):
        if name not in new:
            # A struct no function uses any more is dropped by abidw; the
            # functions that used it are abidiff's business.
            continue
        om, nm = members(old_ids, el), members(new_ids, new[name])
        osz, nsz = int(el.get("size-in-bits", "0")), int(new[name].get("size-in-bits", "0"))
        for i, m in enumerate(om):
            if i >= len(nm):
                bad.append("struct %s: member '%s' (offset %d bits) removed" % (name, m[0], m[1]))
                break
            if nm[i] != m:
                bad.append("struct %s: member %d was '%s %s' at bit %d, is '%s %s' at bit %d "
                           "(members may only be appended)" % (name, i, m[2], m[0], m[1], nm[i][2], nm[i][0], nm[i][1]))
                break
        if nsz < osz:
            bad.append("struct %s shrank from %d to %d bits" % (name, osz, nsz))
        if name in FROZEN and (nsz != osz or len(nm) != len(om)):
            bad.append("struct %s is frozen (passed as an array) but changed: %d -> %d bits, %d -> %d members"
                       % (name, osz, nsz, len(om), len(nm)))
    for b in bad:
        print("struct_prefix: " + b)
    if not bad:
        print("struct_prefix: %d dsv3_* structs keep their members (only appended ones are new)" % len(old))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
