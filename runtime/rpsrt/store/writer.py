"""Store dumping: a Heap into a store directory in format 2024A, byte for byte as upstream's dumper (§6).

`render_store(heap)` gives every file's bytes; `dump_store(heap, dir)` writes those that changed, atomically
as a set (`rpsrt.store.journal`). The object writer is specialised for rpsrt's values and payloads and builds
jsoncpp's styled text directly (no intermediate JSON tree); generic JSON (unknown members, `json` values)
goes through `jsonfmt`.

What is dumped: every object of `heap.objects` whose `space` is set, into the file of that space. A
reference to any other object (transient) is written as `null`, and an attribute whose key or value is one
is dropped, as upstream does with objects it cannot dump.
"""

from __future__ import annotations

import contextlib
import gc
import os
import time
from collections.abc import Iterator
from operator import attrgetter
from typing import Any

from rpsrt import __version__
from rpsrt.model import wellknown as wk
from rpsrt.errors import StoreError
from rpsrt.model.heap import Heap
from rpsrt.limits import deep_recursion
from rpsrt.model.objects import (
    PayloadAgenda,
    PayloadClassInfo,
    PayloadEnvironment,
    PayloadGccJit,
    PayloadObjMap,
    PayloadSetOb,
    PayloadSpace,
    PayloadStringBuffer,
    PayloadStringDict,
    PayloadSymbol,
    PayloadTasklet,
    PayloadUnknown,
    PayloadVectOb,
    PayloadVectVal,
    RpsObject,
)
from rpsrt.model.oid import Oid
from rpsrt.model.values import VClosure, VInstance, VJson, VRaw, VSet, VTuple
from rpsrt.store import journal
from rpsrt.store.jsonfmt import (
    STYLE_MANIFEST,
    STYLE_OBJECT,
    fmt_float,
    quote,
    write_at,
    write_member,
    write_root,
)
from rpsrt.store.reader import MANIFEST, space_path

FORMAT = "RefPerSysFormat2024A"
_NL = "\n  "
_P = tuple(_NL + "\t" * d for d in range(40))


def _pre(d: int) -> str:
    return _P[d] if d < 40 else _NL + "\t" * d


#: Sort key of objects: their OID (compared in C).
_oid_of = attrgetter("oid")


_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1


class _ObjectWriter:
    """Writes object blocks; `dumped` is the set of objects that get written (all others are transient)."""

    def __init__(self, dumped: set[RpsObject]) -> None:
        self.dumped = dumped

    # Values in member position (the key at depth d), as array elements (at depth d), and at the root.

    def member(self, v: Any, d: int) -> str:
        t = type(v)
        if t is str:
            if v and v[0] == "_":
                return _pre(d) + self.strbox(v, d)
            return quote(v)
        if t is RpsObject:
            return '"' + v.oid[2] + '"' if v in self.dumped else "null"
        if v is None:
            return "null"
        if t is int:
            if not _I64_MIN <= v <= _I64_MAX:
                what = f"the int {v}" if v.bit_length() <= 128 else f"an int of {v.bit_length()} bits"
                raise StoreError(f"cannot dump a value: {what} is beyond int64 (a store holds int64 only, and the "
                                 "loader refuses more)")
            return str(v)
        if t is float:
            return fmt_float(v)
        if t is bool:
            return "true" if v else "false"
        if t is VRaw:
            return write_member(v.data, d, STYLE_OBJECT)
        body = self.body(v, d)
        return body if body == "null" else _pre(d) + body

    def root(self, v: Any) -> str:
        return self.root_at(v, 0)

    def elem(self, v: Any, d: int) -> str:
        return _pre(d) + self.root_at(v, d)

    def root_at(self, v: Any, d: int) -> str:
        """`v` where the line is already indented to depth d (a root member's value, an array element)."""
        t = type(v)
        if t is str and v and v[0] == "_":
            return self.strbox(v, d)
        if t is VRaw:
            return write_at(v.data, d, STYLE_OBJECT)
        if t is VSet or t is VTuple or t is VClosure or t is VInstance or t is VJson:
            return self.body(v, d)
        return self.member(v, d)

    def strbox(self, s: str, d: int) -> str:
        # Upstream writes a string starting with `_` as {"str": s} (its loader also reads {"string": s}).
        return "{" + _pre(d + 1) + '"str" : ' + quote(s) + _pre(d) + "}"

    def refs(self, objs: Any, d: int, nulls: bool = True) -> str:
        """An array of object references in member position at depth d."""
        dumped = self.dumped
        items = []
        p = _pre(d + 1)
        for o in objs:
            if o is not None and o in dumped:
                items.append(p + '"' + o.oid[2] + '"')
            elif nulls:
                items.append(p + "null")
        if not items:
            return "[]"
        return ("" if d == 0 else _pre(d)) + "[" + ",".join(items) + _pre(d) + "]"

    def values(self, vals: Any, d: int) -> str:
        """An array of values in member position at depth d (at the root when d is 0)."""
        if not vals:
            return "[]"
        items = [self.elem(v, d + 1) for v in vals]
        return ("" if d == 0 else _pre(d)) + "[" + ",".join(items) + _pre(d) + "]"

    def body(self, v: Any, d: int) -> str:
        """A composite value's text, its opening brace on the current line, its members at depth d+1."""
        t = type(v)
        p1 = _pre(d + 1)
        dumped = self.dumped
        if t is VSet:
            return ("{" + p1 + '"elem" : ' + self.refs([o for o in v.elems if o in dumped], d + 1) + ","
                    + p1 + '"vtype" : "set"' + _pre(d) + "}")
        if t is VTuple:
            return ("{" + p1 + '"comp" : ' + self.refs(v.comps, d + 1) + "," + p1 + '"vtype" : "tuple"'
                    + _pre(d) + "}")
        if t is VClosure:
            if v.fn not in dumped:
                return "null"
            parts = ["{", p1, '"env" : ', self.values(v.env, d + 1), ",", p1, '"fn" : "', v.fn.oid[2], '"']
            if v.metaobj is not None and v.metaobj in dumped:
                parts += [",", p1, '"metaobj" : "', v.metaobj.oid[2], '"']
            if v.metarank is not None:
                parts += [",", p1, '"metarank" : ', self.member(v.metarank, d + 1)]
            parts += [",", p1, '"vtype" : "closure"', _pre(d), "}"]
            return "".join(parts)
        if t is VInstance:
            if v.cls not in dumped:
                return "null"
            p2, p3 = _pre(d + 2), _pre(d + 3)
            iattrs = [p2 + "{" + p3 + '"iat" : "' + a.oid[2] + '",' + p3 + '"iva" : ' + self.member(x, d + 3)
                      + p2 + "}" for a, x in v.attrs if a in dumped]
            parts = ["{", p1, '"iattrs" : ', (p1 + "[" + ",".join(iattrs) + p1 + "]") if iattrs else "[]",
                     ",", p1, '"iclass" : "', v.cls.oid[2], '",', p1, '"icomps" : ', self.values(v.comps, d + 1),
                     ",", p1, '"isize" : ', str(len(v.comps))]
            if v.metaobj is not None and v.metaobj in dumped:
                parts += [",", p1, '"metaobj" : "', v.metaobj.oid[2], '"']
            if v.metarank is not None:
                parts += [",", p1, '"metarank" : ', self.member(v.metarank, d + 1)]
            parts += [",", p1, '"vtype" : "instance"', _pre(d), "}"]
            return "".join(parts)
        if t is VJson:
            return ("{" + p1 + '"json" : ' + write_member(v.data, d + 1, STYLE_OBJECT) + "," + p1
                    + '"vtype" : "json"' + _pre(d) + "}")
        raise StoreError(f"cannot dump a value of type {t.__name__}: {v!r}")

    # Object blocks.

    def block(self, obj: RpsObject) -> str:
        members: list[tuple[str, str]] = []
        dumped = self.dumped
        if obj.applying:
            members.append(("applying", "true"))
        if obj.attrs:
            entries = []
            member = self.member
            attrs = obj.attrs
            for a in sorted(attrs, key=_oid_of):
                if a not in dumped:
                    continue
                v = attrs[a]
                if type(v) is RpsObject and v not in dumped:
                    continue
                entries.append(f'\n  \t{{\n  \t\t"at" : "{a.oid[2]}",\n  \t\t"va" : {member(v, 2)}\n  \t}}')
            if entries:
                members.append(("attrs", "[" + ",".join(entries) + "\n  ]"))
        cls = obj.cls
        if cls is None or cls not in dumped:
            raise StoreError(f"object {obj.oid} has no class that can be dumped", oid=str(obj.oid))
        members.append(("class", '"' + cls.oid[2] + '"'))
        if obj.comps:
            members.append(("comps", self.values(obj.comps, 0)))
        if obj.magicattr:
            members.append(("magicattr", "true"))
        pl = obj.payload
        if pl is not None:
            writer = _PAYLOAD_WRITERS.get(type(pl))
            if writer is None:
                raise StoreError(f"cannot dump a payload of type {type(pl).__name__}", oid=str(obj.oid))
            writer(self, pl, members)
            if pl.extra:
                self.extra(pl.extra, members)
        if obj.extra:
            self.extra(obj.extra, members)
        members.sort()  # keys are unique: the texts are never compared
        return ('{\n "oid": "' + obj.oid[2] + '",\n "mtime": ' + f"{obj.mtime:.2f}"
                + "".join([',\n "' + k + '" : ' + text for k, text in members]) + "\n}")

    def extra(self, extra: dict[str, Any], members: list[tuple[str, str]]) -> None:
        have = {k for k, _ in members}
        for k, v in extra.items():
            if k not in have and k not in ("oid", "mtime"):
                members.append((k, write_root(v, STYLE_OBJECT)))


# -- payload writers -----------------------------------------------------------------------------------------


def _w_symbol(w: _ObjectWriter, pl: PayloadSymbol, m: list[tuple[str, str]]) -> None:
    m.append(("payload", '"symbol"'))
    m.append(("symb_name", quote(pl.name)))
    if pl.value is not None:
        m.append(("symb_val", w.root(pl.value)))
    if pl.weak:
        m.append(("symb_weak", "true"))


def _w_classinfo(w: _ObjectWriter, pl: PayloadClassInfo, m: list[tuple[str, str]]) -> None:
    m.append(("payload", '"classinfo"'))
    dumped = w.dumped
    entries = []
    for sel in sorted(pl.methodict, key=_oid_of):
        if sel not in dumped:
            continue
        entries.append('\n  \t{\n  \t\t"methclos" : ' + w.member(pl.methodict[sel], 2) + ',\n  \t\t"methosel" : "'
                       + sel.oid[2] + '"\n  \t}')
    m.append(("class_methodict", "[" + ",".join(entries) + "\n  ]" if entries else "[]"))
    # As upstream's dumper: `class_name` is the name of the `class_symb` symbol, written only (with
    # `class_symb`) when that object holds a symbol payload; a stored `class_name` is not kept apart.
    symb = pl.symb
    if symb is not None and type(symb.payload) is PayloadSymbol:
        m.append(("class_name", quote(symb.payload.name)))
    if pl.superclass is None or pl.superclass not in dumped:
        raise StoreError("classinfo payload without a superclass that can be dumped")
    m.append(("class_super", '"' + pl.superclass.oid[2] + '"'))
    if symb is not None and symb in dumped:
        m.append(("class_symb", '"' + symb.oid[2] + '"'))
    if pl.attrset is not None:
        m.append(("class_attrset", w.root(pl.attrset)))


def _w_setob(w: _ObjectWriter, pl: PayloadSetOb, m: list[tuple[str, str]]) -> None:
    m.append(("payload", '"setob"'))
    m.append(("setob", w.refs(sorted(pl.elems, key=_oid_of), 0, nulls=False)))


def _w_vectob(w: _ObjectWriter, pl: PayloadVectOb, m: list[tuple[str, str]]) -> None:
    m.append(("payload", '"vectob"'))
    m.append(("vectob", w.refs(pl.elems, 0)))


def _w_vectval(w: _ObjectWriter, pl: PayloadVectVal, m: list[tuple[str, str]]) -> None:
    m.append(("payload", '"vectval"'))
    m.append(("vectval", w.values(pl.elems, 0)))


def _w_space(w: _ObjectWriter, pl: PayloadSpace, m: list[tuple[str, str]]) -> None:
    m.append(("payload", '"space"'))


def _w_agenda(w: _ObjectWriter, pl: PayloadAgenda, m: list[tuple[str, str]]) -> None:
    m.append(("payload", '"agenda"'))
    for key, objs in (("low_priority", pl.low), ("normal_priority", pl.normal), ("high_priority", pl.high)):
        if objs:
            m.append((key, w.refs(objs, 0, nulls=False)))


def _w_tasklet(w: _ObjectWriter, pl: PayloadTasklet, m: list[tuple[str, str]]) -> None:
    m.append(("payload", '"tasklet"'))
    if pl.todo is not None:
        m.append(("tasklet_todo", w.root(pl.todo)))
    if pl.obsolete_delay is not None:
        m.append(("tasklet_obsolete_delay", w.root(pl.obsolete_delay)))


def _w_strdict(w: _ObjectWriter, pl: PayloadStringDict, m: list[tuple[str, str]]) -> None:
    m.append(("payload", '"string_dictionary"'))
    entries = ['\n  \t{\n  \t\t"str" : ' + quote(k) + ',\n  \t\t"val" : ' + w.member(pl.dictionary[k], 2)
               + "\n  \t}" for k in sorted(pl.dictionary)]
    m.append(("dictionary", "[" + ",".join(entries) + "\n  ]" if entries else "[]"))


def _w_strbuf(w: _ObjectWriter, pl: PayloadStringBuffer, m: list[tuple[str, str]]) -> None:
    m.append(("payload", '"string_buffer"'))
    if pl.lines is not None:
        m.append(("strbuf_lines", write_root(list(pl.lines), STYLE_OBJECT)))
    if pl.string is not None:
        m.append(("strbuf_string", quote(pl.string)))
    if pl.indent is not None:
        m.append(("strbuf_indent", write_root(pl.indent, STYLE_OBJECT)))


def _w_objmap(w: _ObjectWriter, pl: PayloadObjMap, m: list[tuple[str, str]]) -> None:
    m.append(("payload", '"' + pl.kind + '"'))
    m.append(("objmap", write_root(pl.objmap, STYLE_OBJECT)))
    m.append(("descr", w.root(pl.descr)))
    if isinstance(pl, PayloadEnvironment):
        p = pl.parent_env
        m.append(("parent_env", '"' + p.oid[2] + '"' if p is not None and p in w.dumped else "null"))


def _w_gccjit(w: _ObjectWriter, pl: PayloadGccJit, m: list[tuple[str, str]]) -> None:
    m.append(("payload", '"gccjit"'))
    m.append(("jitseq", w.refs(pl.jitseq, 0, nulls=False)))


def _w_unknown(w: _ObjectWriter, pl: PayloadUnknown, m: list[tuple[str, str]]) -> None:
    m.append(("payload", quote(pl.kind)))
    for k, v in pl.members.items():
        m.append((k, write_root(v, STYLE_OBJECT)))


_PAYLOAD_WRITERS: dict[type, Any] = {
    PayloadSymbol: _w_symbol, PayloadClassInfo: _w_classinfo, PayloadSetOb: _w_setob, PayloadVectOb: _w_vectob,
    PayloadVectVal: _w_vectval, PayloadSpace: _w_space, PayloadAgenda: _w_agenda, PayloadTasklet: _w_tasklet,
    PayloadStringDict: _w_strdict, PayloadStringBuffer: _w_strbuf, PayloadObjMap: _w_objmap,
    PayloadEnvironment: _w_objmap, PayloadGccJit: _w_gccjit, PayloadUnknown: _w_unknown,
}


# -- framing, prologue, manifest -----------------------------------------------------------------------------

_UNSAFE = {c: "?" for c in range(32)} | {0x7F: "?"}


def _class_symbol(cls: RpsObject) -> str:
    pl = cls.payload
    if type(pl) is PayloadClassInfo and pl.symb is not None and type(pl.symb.payload) is PayloadSymbol:
        return pl.symb.payload.name.translate(_UNSAFE)  # type: ignore[union-attr]
    # Upstream then omits the newline (breaking its own file); rpsc names the class by its OID instead.
    return cls.oid[2]


def rpsc_provenance() -> dict[str, Any]:
    """Provenance members rpsc writes into a fresh heap's manifest."""
    return {"dumpgmdate": time.strftime("%Y-%b-%d", time.gmtime()), "progname": "rpsc",
            "rpsmajorversion": 0, "rpsminorversion": 7, "shortgitid": f"rpsc-{__version__}"}


def rpsc_prologue() -> dict[str, Any]:
    """Provenance members rpsc writes into a fresh space file's prologue."""
    return {"dumpgmdate": time.strftime("%Y-%b-%d", time.gmtime()), "rpsmajorversion": 0,
            "rpsminorversion": 7, "shortgit": f"rpsc-{__version__}"}


def _header(rel: str, kind: str) -> str:
    lead = "//!!" if kind == "manifest" else "///."
    text = (f"{lead}GENERATED file {rel} / DO NOT EDIT!\n"
            f"{lead}written by rpsc {__version__} in RefPerSys format 2024A\n")
    if kind == "space":
        text += "\n\n///!!! prologue of RefPerSys space file:\n"
    return text


def _space_header_like_loaded(heap: Heap, rel: str) -> str | None:
    """The header of a new space file in a heap loaded from another program's store: the header of one of
    its loaded space files with the file name changed, which is what that program's dumper writes for any
    space file (so a store upstream RefPerSys wrote keeps upstream's headers in the spaces rpsc adds)."""
    for other, text in sorted(heap.headers.items()):
        if other != rel and other.startswith("persistore/") and other in text and "written by rpsc" not in text:
            return text.replace(other, rel)
    return None


def render_store(heap: Heap) -> dict[str, bytes]:
    """Every file of the store for `heap`, as store-relative path -> bytes (manifest and space files).

    A heap without provenance (not loaded from a store) receives rpsc's own, recorded in the heap so that
    dumping it again gives the same bytes.
    """
    enabled = gc.isenabled()
    gc.disable()  # rendering allocates many short lists of strings; none is cyclic
    try:
        with deep_recursion():
            return _render(heap)
    finally:
        if enabled:
            gc.enable()


def _render(heap: Heap) -> dict[str, bytes]:
    objects = heap.objects
    dumped = {o for o in objects.values() if o.space is not None}
    for sp in heap.spaces:
        if sp not in dumped or objects.get(sp.oid) is not sp:
            raise StoreError(f"space {sp.oid} is not a persisted object of the heap (its space is not set)",
                             oid=str(sp.oid))
    by_space: dict[RpsObject, list[RpsObject]] = {sp: [] for sp in heap.spaces}
    for o in dumped:
        lst = by_space.get(o.space)  # type: ignore[arg-type]
        if lst is None:
            raise StoreError(f"object {o.oid} is in space {o.space.oid} which is not in the heap's spaces",  # type: ignore[union-attr]
                             oid=str(o.oid))
        lst.append(o)
    name_attr = objects.get(wk.NAME)
    class_obj = objects.get(wk.CLASS)
    w = _ObjectWriter(dumped)
    symbols: dict[RpsObject, str] = {}
    files: dict[str, bytes] = {}
    for sp, objs in by_space.items():
        rel = space_path(sp.oid)
        objs.sort(key=_oid_of)
        prologue = heap.prologues.get(sp.oid)
        if prologue is None:
            prologue = heap.prologues[sp.oid] = rpsc_prologue()
        header = heap.headers.get(rel)
        if header is None:
            header = heap.headers[rel] = _space_header_like_loaded(heap, rel) or _header(rel, "space")
        pro = dict(prologue)
        pro.update(format=FORMAT, nbobjects=len(objs), spaceid=sp.oid[2])
        parts = [(header + write_root(pro, STYLE_MANIFEST) + "\n\n\n").encode()]
        bang = "!" if sp.oid == wk.INITIAL_SPACE else ""
        block = w.block
        for o in objs:
            text = o.oid[2]
            name = o.attrs.get(name_attr) if name_attr is not None else None  # type: ignore[call-overload]
            if type(name) is str:
                if not name.isprintable():
                    name = name.translate(_UNSAFE)
            else:
                name = None
            cls = o.cls
            csym = symbols.get(cls) if cls is not None else ""
            if csym is None and cls is not None:
                csym = symbols[cls] = "\u2208" + _class_symbol(cls)
            mark = "/CLASS" if cls is class_obj and cls is not None else ""
            try:
                body = block(o)
            except StoreError as exc:
                if exc.oid is None:
                    exc.oid = text
                raise
            except ValueError as exc:  # an int of more digits than Python converts to text (4300 by default)
                raise StoreError(f"cannot dump a value: {exc}", oid=text) from None
            # The object text is ASCII (every string is escaped); only framing lines hold raw UTF-8: encoding
            # them apart keeps the big text narrow.
            hi, lo = o.oid[0], o.oid[1]
            h = ((hi % 2147473837) + ((hi >> 32) ^ (lo * 17 + 201151))) & 0xFFFFFFFF
            if name is not None:
                parts.append(f"//+ob{text}:{name}{mark}{bang}//${name}{csym} h:{h}\n".encode())
                parts.append(body.encode())
                parts.append(f"\n//-ob{text}:{name}\n\n\n\n".encode())
            else:
                parts.append(f"//+ob{text}{mark}{bang}//{csym} h:{h}\n".encode())
                parts.append(body.encode())
                parts.append(f"\n//-ob{text}\n\n\n\n".encode())
        parts.append(f"//// end of RefPerSys generated space file {rel}\n".encode())
        files[rel] = b"".join(parts)
    files[MANIFEST] = render_manifest(heap, dumped).encode("utf-8")
    files.update(render_generated(heap, dumped))
    return files


def render_manifest(heap: Heap, dumped: set[RpsObject]) -> str:
    """The manifest text (upstream's layout: header, jsoncpp JSON with one-space indentation, trailer)."""
    if not heap.manifest_extra:
        heap.manifest_extra = rpsc_provenance()
    header = heap.headers.get(MANIFEST)
    if header is None:
        header = heap.headers[MANIFEST] = _header(MANIFEST, "manifest")

    def oids(objs: Any) -> list[str]:
        return [o.oid[2] for o in sorted((o for o in objs if o in dumped), key=_oid_of)]

    data: dict[str, Any] = dict(heap.manifest_extra)
    data.update(
        constset=oids(constant_objects(heap)),
        format=FORMAT,
        globalnames=[{"nam": n, "obj": o.oid[2]} for n, o in heap.global_names() if o in dumped],
        globalroots=oids(heap.roots),
        plugins=oids(heap.plugins),
        spaceset=oids(heap.spaces),
    )
    return header + write_root(data, STYLE_MANIFEST) + "\n\n//// end of RefPerSys manifest file\n"


def constant_objects(heap: Heap) -> set[RpsObject]:
    """The constants a dump lists (manifest `constset`, `generated/rps-constants.hh`): the heap's constants
    and, as upstream's dumper adds them, the elements of RefPerSys_system's `constant` attribute set."""
    out = set(heap.constants)
    system, attr = heap.objects.get(wk.SYSTEM), heap.objects.get(wk.CONSTANT)
    if system is not None and attr is not None:
        v = system.attrs.get(attr)
        if type(v) is VSet:
            out.update(v.elems)
    return out


# -- generated headers ---------------------------------------------------------------------------------------
#
# Upstream's dumper also writes C++ headers listing the roots, the named roots and the constants, which it
# compiles into its next build (`generated/rps-roots.hh`, `rps-names.hh`, `rps-constants.hh`). rpsc writes them
# with the same bytes for the same heap, except the provenance lines (which program and source line wrote the
# file). Their shared comment header follows the manifest's: upstream's notice, with its prefix `//:` and
# the file's own path, when the manifest came from upstream; rpsc's two lines otherwise (docs/store.md).

ROOTS_HH = "generated/rps-roots.hh"
NAMES_HH = "generated/rps-names.hh"
CONSTANTS_HH = "generated/rps-constants.hh"
GENERATED_HEADERS = (ROOTS_HH, NAMES_HH, CONSTANTS_HH)
_WRITER = "rpsrt/store/writer.py"
_MANIFEST_LEAD = "//!!"


def _generated_header(heap: Heap, rel: str, function: str) -> str:
    """The comment header of one generated file, `//:`-prefixed."""
    lines = heap.headers.get(MANIFEST, "").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    upstream = (len(lines) > 3 and all(ln.startswith(_MANIFEST_LEAD) for ln in lines)
                and lines[0].startswith(_MANIFEST_LEAD + "SPDX-License-Identifier"))
    if not upstream:
        return f"//:GENERATED file {rel} / DO NOT EDIT!\n//:written by rpsc {__version__} in RefPerSys format 2024A\n"
    out = []
    for ln in lines:
        text = ln[len(_MANIFEST_LEAD):].replace(MANIFEST, rel)
        if text.startswith(" emitted from "):
            text = f" emitted from {_WRITER} (rpsc {__version__})"
        elif text.startswith(" by write_manifest_file"):
            text = " by " + function
        out.append("//:" + text + "\n")
    return "".join(out)


def _cjson(s: str) -> str:
    """A string as upstream's `Rps_Cjson_String` prints it (C escapes; printable non-ASCII kept raw)."""
    import unicodedata

    out = []
    for c in s:
        if c == "\0":
            break  # upstream walks a C string
        esc = _CJSON_ESCAPES.get(c)
        if esc is not None:
            out.append(esc)
        elif " " <= c < "\x7f":
            out.append(c)
        elif unicodedata.category(c) not in _NOT_PRINTABLE:
            out.append(c)
        else:
            u = ord(c)
            out.append(f"\\x{u:02x}" if u < 255 else f"\\u{u:04x}" if u < 65535 else f"\\U{u:08x}")
    return "".join(out)


_CJSON_ESCAPES = {"'": "\\'", "\\": "\\\\", '"': '\\"', "\r": "\\r", "\n": "\\n", "\t": "\\t", "\v": "\\v",
                  "\f": "\\f"}
#: Unicode categories libunistring's `uc_is_print` rejects (controls, surrogates, unassigned, line and
#: paragraph separators).
_NOT_PRINTABLE = frozenset(("Cc", "Cs", "Cn", "Zl", "Zp"))


def _class_name_str(obj: RpsObject | None) -> str:
    """Upstream's `class_name_str` of a class: its `class_symb` symbol's name, else its OID."""
    if obj is None:
        return ""
    pl = obj.payload
    if type(pl) is PayloadClassInfo and pl.symb is not None and type(pl.symb.payload) is PayloadSymbol:
        return pl.symb.payload.name  # type: ignore[union-attr]
    return obj.oid[2]


def _cstr(s: str) -> str:
    """A string printed as a C string (up to its first NUL)."""
    i = s.find("\0")
    return s if i < 0 else s[:i]


def _root_comment(obj: RpsObject, name_attr: RpsObject | None) -> str:
    cls = obj.cls
    pl = obj.payload
    if type(pl) is PayloadClassInfo:
        if cls is not None and cls.oid == wk.CLASS:
            return _class_name_str(obj) + "\u2208class"
        return _class_name_str(obj) + "\u2208" + _class_name_str(cls)
    if type(pl) is PayloadSymbol:
        if cls is not None and cls.oid == wk.SYMBOL:
            return pl.name + "\u2208symbol"
        return pl.name + "\u2208" + _class_name_str(cls)
    name = obj.attrs.get(name_attr) if name_attr is not None else None  # type: ignore[call-overload]
    text = '"' + _cjson(name) + '"' if type(name) is str else ""
    return text + "\u2208" + _class_name_str(cls)


def _display(obj: RpsObject, name_attr: RpsObject | None) -> str:
    """An object as upstream's `operator<<` on an object reference prints it (depth 0)."""
    out = "\u25cc" + obj.oid[2]
    name = obj.attrs.get(name_attr) if name_attr is not None else None  # type: ignore[call-overload]
    pl = obj.payload
    if type(name) is str:
        out += "/" + _cstr(name)
    elif type(pl) is PayloadSymbol:
        out += "!sy\u00b0" + pl.name
    elif type(pl) is PayloadClassInfo:
        out += "!cla\u00b0" + _class_name_str(obj)
    cls = obj.cls
    if cls is not None and type(cls.payload) is PayloadClassInfo:
        out += "\u220a" + _class_name_str(cls)
    return out


def render_generated(heap: Heap, dumped: set[RpsObject]) -> dict[str, bytes]:
    """`generated/rps-roots.hh`, `rps-names.hh` and `rps-constants.hh` for `heap`, as upstream writes them."""
    name_attr = heap.objects.get(wk.NAME)
    roots = sorted((o for o in heap.roots if o in dumped), key=_oid_of)

    def head(rel: str, function: str) -> list[str]:
        return [_generated_header(heap, rel, function),
                f"/// generated by {function} from {_WRITER}\n"]

    # roots
    parts = head(ROOTS_HH, "write_generated_roots_file")
    parts.append("///! To add a new generated root, use rps_add_root_object\n"
                 "///! or several plugins under plugins_dir/\n\n"
                 "#ifndef RPS_INSTALL_ROOT_OB\n#error RPS_INSTALL_ROOT_OB(Oid) macro undefined\n"
                 "#endif /*undefined RPS_INSTALL_ROOT_OB*/\n\n")
    for n, obj in enumerate(roots, 1):
        if n % 10 == 0:
            parts.append(f"\n///~#\u00b0{n:04d}\n")
        parts.append(f"RPS_INSTALL_ROOT_OB({obj.oid[2]}) //{_root_comment(obj, name_attr)} h:{obj.oid.hash}\n")
    parts.append("/" + "*" * 72 + "/\n")
    parts.append(f"\n#undef RPS_NB_ROOT_OB\n#define RPS_NB_ROOT_OB {len(roots)}\n"
                 f"\n#undef RPS_INSTALL_ROOT_OB\n/// end of RefPerSys roots file {ROOTS_HH}\n")
    files = {ROOTS_HH: "".join(parts)}

    # names: the roots holding a strong symbol
    parts = head(NAMES_HH, "write_generated_names_file")
    parts.append("///! To add a new generated name, use rps_add_root_object\n"
                 "///! or several plugins under plugins_dir/\n"
                 "///! or Rps_PayloadSymbol:: register_name\n"
                 "///! or Rps_PayloadSymbol:: register_strong_name\n"
                 "///! or Rps_PayloadSymbol:: register_weak_name\n\n"
                 "#ifndef RPS_INSTALL_NAMED_ROOT_OB\n"
                 "#error RPS_INSTALL_NAMED_ROOT_OB(Oid,Name) macro undefined\n"
                 "#endif /*undefined RPS_INSTALL_NAMED_ROOT_OB*/\n\n")
    count = 0
    for obj in roots:
        pl = obj.payload
        if type(pl) is not PayloadSymbol or pl.weak:
            continue
        cls = _display(obj.cls, name_attr) if obj.cls is not None else "__"
        parts.append(f"RPS_INSTALL_NAMED_ROOT_OB({obj.oid[2]},{pl.name}) //\u2208{cls} h:{obj.oid.hash}\n")
        count += 1
    parts.append(f"\n#undef RPS_NB_NAMED_ROOT_OB\n#define RPS_NB_NAMED_ROOT_OB {count}\n"
                 f"\n#undef RPS_INSTALL_NAMED_ROOT_OB\n/// end of RefPerSys roots file {NAMES_HH}\n")
    files[NAMES_HH] = "".join(parts)

    # constants
    parts = [_generated_header(heap, CONSTANTS_HH, "write_generated_constants_file"),
             "\n/// collection of constant objects, mentioned in C++ files, \n"
             "/// .... prefixed with 'rpskob' followed by an oid.\n"
             f"/// also the constant {wk.CONSTANT} attribute\n"
             f"/// .... in {wk.SYSTEM} == RefPerSys_system\n"
             f"/// generated by write_generated_constants_file from {_WRITER}\n"
             "///! To add a new generated constant, use rps_add_constant_object\n"
             "///! or several plugins under plugins_dir/\n"
             "#ifndef RPS_INSTALL_CONSTANT_OB\n#error RPS_INSTALL_CONSTANT_OB(Oid) macro undefined\n"
             "#endif /*undefined RPS_INSTALL_CONSTANT_OB*/\n\n"]
    consts = sorted((o for o in constant_objects(heap) if o in dumped), key=_oid_of)
    for n, obj in enumerate(consts):
        if n % 10 == 0:
            parts.append("\n")
        name = obj.attrs.get(name_attr) if name_attr is not None else None  # type: ignore[call-overload]
        issymb = False
        if type(name) is not str:
            name = ""
            if type(obj.payload) is PayloadSymbol:
                issymb, name = True, obj.payload.name
        cls = obj.cls
        kname = cls.attrs.get(name_attr) if cls is not None and name_attr is not None else None  # type: ignore[call-overload]
        kname = kname if type(kname) is str else ""
        if name and kname:
            comment = " //" + ("\u20ac" if issymb else "!") + name + "\u2208" + kname
        elif name:
            comment = (" //$" if issymb else " //:") + name
        elif kname:
            comment = " //-\u2208" + kname
        else:
            comment = ""
        parts.append(f"RPS_INSTALL_CONSTANT_OB({obj.oid[2]}){comment} h:{obj.oid.hash}\n")
    parts.append(f"\n#undef RPS_INSTALL_CONSTANT_OB\n\n\n#undef  RPS_NB_CONSTANT_OB\n"
                 f"#define RPS_NB_CONSTANT_OB {len(consts)}\n\n"
                 f"/// end of RefPerSys constants file {CONSTANTS_HH}\n")
    files[CONSTANTS_HH] = "".join(parts)
    return {rel: text.encode("utf-8", "surrogatepass") for rel, text in files.items()}


@contextlib.contextmanager
def update_lock(directory: str | os.PathLike[str], *, timeout: float | None = None) -> Iterator[None]:
    """Hold the store's lock across a whole load-change-dump, so that two processes updating one store
    (two `rpsc compile`s, `rpsc compile` and `rpsc build`) take turns instead of losing one's changes.

    The directory must exist. Inside, dump with `dump_store(heap, directory, locked=True)`: the lock is an
    `flock` on the directory, which a second `dump_store` of the same process would wait on forever.
    While another process holds it, `waiting for the lock on DIR (held by pid N)` goes to stderr; after
    `timeout` seconds (None: no limit) the wait ends with `journal.LockTimeout`, a StoreError.
    """
    with journal.locked(os.fspath(directory), timeout=timeout):
        yield


def dump_store(heap: Heap, directory: str | os.PathLike[str], *, locked: bool = False,
               lock_timeout: float | None = None) -> list[str]:
    """Dump `heap` into `directory` (created if needed) atomically; return the store-relative paths written.

    Files whose bytes would not change are not rewritten. All changed files switch to the new generation
    together: a crash at any instant leaves a store that loads as either the old or the new heap, and a load
    running meanwhile reads one or the other (the switch happens under the exclusive generation lock).
    `locked=True` when the caller holds `update_lock(directory)` already; `lock_timeout` bounds the waits for
    the locks (None: no limit).
    """
    top = os.fspath(directory)
    files = render_store(heap)
    os.makedirs(os.path.join(top, "persistore"), exist_ok=True)
    os.makedirs(os.path.join(top, "generated"), exist_ok=True)
    with contextlib.nullcontext() if locked else journal.locked(top, timeout=lock_timeout):
        with journal.generation(top, shared=False, timeout=lock_timeout):
            journal.recover(top)
        changed = []
        for rel, data in sorted(files.items()):
            try:
                with open(os.path.join(top, rel), "rb") as f:
                    if f.read() == data:
                        continue
            except FileNotFoundError:
                pass
            changed.append(rel)
        if not changed:
            return []
        suffix = Oid.random().text[:7] + f"-p{os.getpid()}%"
        renames = []
        try:
            for rel in changed:
                tmp = rel + suffix
                journal.write_durably(os.path.join(top, tmp), files[rel])
                renames.append((rel, tmp))
        except OSError as exc:  # nothing is committed yet: drop the temporaries, the store is unchanged
            for _rel, tmp in renames:
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(top, tmp))
            raise StoreError(f"cannot write the store: {exc.strerror or exc} (is it read-only, or the disk "
                             "full?); it is unchanged", path=top) from None
        for sub in sorted({os.path.dirname(rel) for rel in changed} - {""}):
            journal.fsync_dir(os.path.join(top, sub))
        try:
            with journal.generation(top, shared=False, timeout=lock_timeout):
                journal.commit(top, renames)
                journal.apply(top, renames)
        except journal.LockTimeout:  # not committed: drop the temporaries, the store is unchanged
            for _rel, tmp in renames:
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(top, tmp))
            raise
    return changed
