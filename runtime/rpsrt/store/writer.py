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

import bisect
import contextlib
import copy
import errno
import functools
import gc
import itertools
import operator
import os
import time
import weakref
from collections.abc import Callable, Collection, Iterator
from operator import attrgetter
from typing import Any

from rpsrt import __version__
from rpsrt.model import wellknown as wk
from rpsrt.errors import StoreError
from rpsrt.model.heap import Heap, Objects
from rpsrt.limits import deep_recursion
from rpsrt.model.objects import (
    CleanObject,
    PayloadClassInfo,
    PayloadSymbol,
    RpsObject,
    attrs_of,
    payload_of,
    private,
)
from rpsrt.model import objects as _objects
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
from rpsrt.store.payloads import WRITERS as _PAYLOAD_WRITERS
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
        if t is RpsObject or t is CleanObject:
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


# -- framing, prologue, manifest -----------------------------------------------------------------------------

_UNSAFE = {c: "?" for c in range(32)} | {0x7F: "?"}


def _class_symbol(cls: RpsObject) -> str:
    pl = payload_of(cls)
    if type(pl) is PayloadClassInfo and pl.symb is not None:
        spl = payload_of(pl.symb)
        if type(spl) is PayloadSymbol:
            return spl.name.translate(_UNSAFE)
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


def render_store(heap: Heap, spaces: Collection[RpsObject] | None = None) -> dict[str, bytes]:
    """Every file of the store for `heap`, as store-relative path -> bytes (manifest and space files).

    A heap without provenance (not loaded from a store) receives rpsc's own, recorded in the heap so that
    dumping it again gives the same bytes. `spaces`: render only these spaces' files (and the manifest and
    generated headers), for a caller that knows the others are unchanged since they were last written.
    Always renders every object it writes (no cache); it leaves clean objects clean and dirty ones dirty.
    """
    enabled = gc.isenabled()
    gc.disable()  # rendering allocates many short lists of strings; none is cyclic
    try:
        with deep_recursion():
            r = _Render(heap)
            r.want_sigs = False
            try:
                return {rel: b"".join(produce()) for rel, produce, _known in r.full(spaces)}
            finally:
                r.restore()
    finally:
        if enabled:
            gc.enable()


class _SpaceFile:
    """One space file as a dump wrote it: its identity on disk (`os.stat`: device, inode, size, mtime), its
    header and prologue bytes, its objects in file order and the length of each one's block (framing lines
    included). An object that no change touched since is copied from there."""

    __slots__ = ("ident", "head", "objs", "lengths")

    def __init__(self, head: bytes, objs: list[RpsObject], lengths: list[int]) -> None:
        self.ident: tuple[int, ...] | None = None
        self.head = head
        self.objs = objs
        self.lengths = lengths


class _State:
    """What a dump wrote into one store directory, for the next dump there (`Heap.dumps`)."""

    __slots__ = ("epoch", "changes", "dumped", "files", "name_attr", "class_obj", "csym", "symdeps", "sigs",
                 "sets", "manifest_extra", "headers", "meta_ident", "rendered", "incremental", "mark", "entered",
                 "plain")


def _ident(path: str) -> tuple[int, ...] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _heap_sets(heap: Heap) -> tuple[frozenset[RpsObject], ...]:
    return (frozenset(heap.roots), frozenset(heap.constants), frozenset(heap.plugins), frozenset(heap.spaces))


def _symb(obj: RpsObject | None) -> RpsObject | None:
    pl = payload_of(obj) if obj is not None else None
    return pl.symb if type(pl) is PayloadClassInfo else None


def _meta_sig(obj: RpsObject, name_attr: RpsObject | None, constant_attr: RpsObject | None) -> tuple[Any, ...]:
    """Everything of `obj` that the manifest and the generated headers read from it (its class, `name`,
    `constant` attribute, payload kind, symbol name and weakness, class name), to tell whether they change."""
    attrs = attrs_of(obj)
    pl = payload_of(obj)
    t = type(pl)
    if t is PayloadSymbol:
        more: tuple[Any, ...] = (pl.name, pl.weak)  # type: ignore[union-attr]
    elif t is PayloadClassInfo:
        more = (_class_name_str(obj),)
    else:
        more = ()
    return (obj.cls, obj.space is not None, attrs.get(name_attr), attrs.get(constant_attr), t, more)


_CLS = attrgetter("cls")
_SPACE = attrgetter("space")
_PERSISTED = functools.partial(operator.is_not, None)
_RAW_PAYLOAD = RpsObject.__dict__["payload"].__get__  # raises on a ghost: never runs a hook
_RAW_ATTRS = RpsObject.__dict__["attrs"].__get__


#: States kept per heap (store directories dumped into); the least recently dumped is forgotten first.
_MAX_STATES = 4


class _Render:
    """One rendering of a heap's store, whole (`full`) or from the state of the last dump into the same
    directory (`incremental`). It records what the next dump needs (`state`): the framing symbol of every
    class used, which classes read which symbol's name, each space file's object offsets.

    A clean object (`CleanObject`) rendered here is switched to `RpsObject` for the time of the rendering, so
    that the writer's reads do not make it dirty, and back by `restore`; a dirty object rendered is in `wrote`,
    sealed by `seal` once the dump is committed (when nothing outside it holds its containers)."""

    def __init__(self, heap: Heap) -> None:
        self.heap = heap
        objects = heap.objects
        self.name_attr = objects.get(wk.NAME)
        self.class_obj = objects.get(wk.CLASS)
        self.symbols: dict[RpsObject, str] = {}
        self.symdeps: dict[RpsObject, list[RpsObject]] = {}
        self.swapped: list[RpsObject] = []
        self.wrote: list[RpsObject] = []
        self.files: dict[RpsObject, _SpaceFile] = {}
        self.dumped: set[RpsObject] = set()
        self.w = _ObjectWriter(self.dumped)
        self.sigs: dict[RpsObject, tuple[Any, ...]] | None = None
        self.want_sigs = True
        self.was_incremental = False
        #: Where `objects.DIRTIED` ended when the dump started; the objects considered dirty (after `full`, all
        #: the heap's objects that are not clean).
        self.mark = _objects.DIRTIED_BASE[0] + len(_objects.DIRTIED)
        self.dirty: list[RpsObject] | None = None

    # -- the pieces ----------------------------------------------------------------------------------------

    def check(self, dumped: set[RpsObject]) -> None:
        objects = self.heap.objects
        for sp in self.heap.spaces:
            if sp not in dumped or objects.get(sp.oid) is not sp:
                raise StoreError(f"space {sp.oid} is not a persisted object of the heap (its space is not set)",
                                 oid=str(sp.oid))

    def head(self, sp: RpsObject, count: int) -> bytes:
        heap = self.heap
        rel = space_path(sp.oid)
        prologue = heap.prologues.get(sp.oid)
        if prologue is None:
            prologue = heap.prologues[sp.oid] = rpsc_prologue()
        header = heap.headers.get(rel)
        if header is None:
            header = heap.headers[rel] = _space_header_like_loaded(heap, rel) or _header(rel, "space")
        pro = dict(prologue)
        pro.update(format=FORMAT, nbobjects=count, spaceid=sp.oid[2])
        return (header + write_root(pro, STYLE_MANIFEST) + "\n\n\n").encode()

    def parts(self, o: RpsObject, bang: str) -> tuple[bytes, bytes, bytes]:
        """One object's block (`block`) in three parts: its start line, its JSON, its end line."""
        if type(o) is CleanObject:
            o.__class__ = RpsObject  # back in `restore`: the writer's reads leave it clean
            self.swapped.append(o)
        else:
            self.wrote.append(o)
        text = o.oid[2]
        name_attr = self.name_attr
        name = o.attrs.get(name_attr) if name_attr is not None else None  # type: ignore[call-overload]
        if type(name) is str:
            if not name.isprintable():
                name = name.translate(_UNSAFE)
        else:
            name = None
        cls = o.cls
        symbols = self.symbols
        csym = symbols.get(cls) if cls is not None else ""
        if csym is None and cls is not None:
            csym = symbols[cls] = "\u2208" + _class_symbol(cls)
            s = _symb(cls)
            if s is not None:
                self.symdeps.setdefault(s, []).append(cls)
        pl = o.payload
        if type(pl) is PayloadClassInfo and pl.symb is not None:  # its class_name is its symbol's name
            self.symdeps.setdefault(pl.symb, []).append(o)
        mark = "/CLASS" if cls is self.class_obj and cls is not None else ""
        try:
            body = self.w.block(o)
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
            return (f"//+ob{text}:{name}{mark}{bang}//${name}{csym} h:{h}\n".encode(), body.encode(),
                    f"\n//-ob{text}:{name}\n\n\n\n".encode())
        return (f"//+ob{text}{mark}{bang}//{csym} h:{h}\n".encode(), body.encode(), f"\n//-ob{text}\n\n\n\n".encode())

    def block(self, o: RpsObject, bang: str) -> bytes:
        """One object's block: its framing lines and its JSON."""
        return b"".join(self.parts(o, bang))

    def space_file(self, sp: RpsObject, objs: list[RpsObject]) -> Iterator[bytes]:
        """A whole space file, object by object (`objs` sorted by OID); records its offsets in `files`."""
        head = self.head(sp, len(objs))
        yield head
        bang = "!" if sp.oid == wk.INITIAL_SPACE else ""
        lengths: list[int] = []
        # `parts`, inlined: the hot loop of a whole dump, kept flat on purpose.
        add = lengths.append
        swapped, wrote = self.swapped.append, self.wrote.append
        name_attr, class_obj, symbols, symdeps = self.name_attr, self.class_obj, self.symbols, self.symdeps
        block = self.w.block
        clean, plain, classinfo = CleanObject, RpsObject, PayloadClassInfo
        for o in objs:
            if type(o) is clean:
                o.__class__ = plain  # back in `restore`: the writer's reads leave it clean
                swapped(o)
            else:
                wrote(o)
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
                sy = _symb(cls)
                if sy is not None:
                    symdeps.setdefault(sy, []).append(cls)
            pl = o.payload
            if type(pl) is classinfo and pl.symb is not None:  # its class_name is its symbol's name
                symdeps.setdefault(pl.symb, []).append(o)
            mark = "/CLASS" if cls is class_obj and cls is not None else ""
            try:
                body = block(o)
            except StoreError as exc:
                if exc.oid is None:
                    exc.oid = text
                raise
            except ValueError as exc:  # an int of more digits than Python converts to text (4300 by default)
                raise StoreError(f"cannot dump a value: {exc}", oid=text) from None
            hi, lo = o.oid[0], o.oid[1]
            h = ((hi % 2147473837) + ((hi >> 32) ^ (lo * 17 + 201151))) & 0xFFFFFFFF
            if name is not None:
                a = f"//+ob{text}:{name}{mark}{bang}//${name}{csym} h:{h}\n".encode()
                c = f"\n//-ob{text}:{name}\n\n\n\n".encode()
            else:
                a = f"//+ob{text}{mark}{bang}//{csym} h:{h}\n".encode()
                c = f"\n//-ob{text}\n\n\n\n".encode()
            b = body.encode()
            add(len(a) + len(b) + len(c))
            yield a
            yield b
            yield c
        yield _trailer(sp)
        self.files[sp] = _SpaceFile(head, objs, lengths)

    def meta(self) -> list[tuple[str, Callable[[], Iterator[bytes]], bool]]:
        """The manifest and the generated headers (rendered together, after the space files)."""
        heap, dumped = self.heap, self.dumped

        def manifest() -> Iterator[bytes]:
            yield render_manifest(heap, dumped).encode("utf-8")

        generated: dict[str, bytes] = {}

        def generated_file(rel: str) -> Iterator[bytes]:
            if not generated:  # all three at once, after the manifest (their header follows its header)
                generated.update(render_generated(heap, dumped))
                if self.want_sigs:
                    self.sigs = self.meta_sigs()
            yield generated[rel]

        out: list[tuple[str, Callable[[], Iterator[bytes]], bool]] = [(MANIFEST, manifest, False)]
        out.extend((rel, functools.partial(generated_file, rel), False) for rel in GENERATED_HEADERS)
        return out

    def meta_sigs(self) -> dict[RpsObject, tuple[Any, ...]]:
        """`_meta_sig` of every object the manifest and the generated headers read: the roots, the constants,
        their classes and their classes' classes, the symbols naming classes among them, RefPerSys_system."""
        heap = self.heap
        objects = heap.objects
        deps = set(heap.roots)
        deps.update(constant_objects(heap))
        system = objects.get(wk.SYSTEM)
        if system is not None:
            deps.add(system)
        level = deps
        for _ in range(2):
            level = set(map(_CLS, level))
            level.discard(None)
            deps |= level
        name_attr, constant_attr = self.name_attr, objects.get(wk.CONSTANT)
        try:  # in C where it can; a ghost among them (not filled by this dump) raises: the generic way then
            pls = list(map(_RAW_PAYLOAD, deps))
            deps.update([p.symb for p in pls if type(p) is PayloadClassInfo and p.symb is not None])
            dl = list(deps)
            pls = list(map(_RAW_PAYLOAD, dl))
            attrs = list(map(_RAW_ATTRS, dl))
        except AttributeError:
            return {o: _meta_sig(o, name_attr, constant_attr) for o in deps}
        more = [(p.name, p.weak) if type(p) is PayloadSymbol else (_class_name_str(o),)  # type: ignore[union-attr]
                if type(p) is PayloadClassInfo else () for o, p in zip(dl, pls)]
        return dict(zip(dl, zip(map(_CLS, dl), map(_PERSISTED, map(_SPACE, dl)),
                                map(operator.methodcaller("get", name_attr), attrs),
                                map(operator.methodcaller("get", constant_attr), attrs), map(type, pls), more)))

    # -- whole ---------------------------------------------------------------------------------------------

    def full(self, only: Collection[RpsObject] | None = None) -> list[tuple[str, Callable[[], Iterator[bytes]], bool]]:
        """Every file of the store, in rendering order (spaces, manifest, generated headers), each as
        `(path, function giving its bytes piece by piece, False)`; `only`: of the space files, only those of
        these spaces. A space file is rendered object by object as it is written."""
        heap = self.heap
        dumped = self.dumped
        dumped.update(o for o in heap.objects.values() if o.space is not None)
        vals = heap.objects.values()
        self.dirty = list(itertools.compress(vals, map(_NOT_CLEAN, map(type, vals))))
        self.check(dumped)
        by_space: dict[RpsObject, list[RpsObject]] = {sp: [] for sp in heap.spaces}
        for o in dumped:
            lst = by_space.get(o.space)  # type: ignore[arg-type]
            if lst is None:
                raise StoreError(f"object {o.oid} is in space {o.space.oid} which is not in the heap's spaces",  # type: ignore[union-attr]
                                 oid=str(o.oid))
            lst.append(o)
        out: list[tuple[str, Callable[[], Iterator[bytes]], bool]] = []
        for sp, objs in by_space.items():
            if only is None or sp in only:
                objs.sort(key=_oid_of)
                out.append((space_path(sp.oid), functools.partial(self.space_file, sp, objs), False))
        return out + self.meta()

    # -- from the last dump --------------------------------------------------------------------------------

    def incremental(self, state: _State, top: str) -> list[tuple[str, Callable[[], Iterator[bytes]], bool]] | None:
        """The files that changed since `state` (the last dump into `top`, whose files are still those it
        wrote), or None when only a whole rendering can tell (an object left the persisted ones, a space went
        away, an object that existed before that dump became persisted, `heap.objects` is not an `Objects`).
        Each changed space file is made of the blocks of the objects changed since, rendered now, and of the
        others' blocks copied from the file on disk (`(path, pieces, True)`: known to differ, written without
        comparing)."""
        heap = self.heap
        objects = heap.objects
        if type(objects) is not Objects:
            return None
        if objects.get(wk.NAME) is not state.name_attr or objects.get(wk.CLASS) is not state.class_obj:
            return None
        if not state.sets[3] <= heap.spaces:
            return None
        if _ident(os.path.join(top, MANIFEST)) != state.meta_ident.get(MANIFEST):
            return None  # another program wrote the store since
        old = state.dumped
        if objects.changes != state.changes:  # objects were removed or replaced: were they persisted?
            get = objects.get
            for o in old:
                if get(o.oid) is not o:
                    return None
        s = state.epoch
        reg, base = _objects.DIRTIED, _objects.DIRTIED_BASE[0]
        if (objects.entered == state.entered and _objects.DIRTIED_DROPPED[0] < state.mark and base <= state.mark
                <= self.mark):
            # The objects that turned dirty since (noted by their hooks), and those dirty then.
            get = objects.get
            dirty = [o for o in reg[state.mark - base:self.mark - base] if get(o.oid) is o]
            dirty += state.plain
            if CHECK_DIRTY:
                missed = set(_scan(objects, s)) - set(dirty)
                if missed:
                    raise StoreError(f"internal error: dirty tracking missed {len(missed)} objects")
        else:  # objects entered the heap since, or too many changes were noted: scan it
            dirty = _scan(objects, s)
        dumped = old
        redo: set[RpsObject] = set()
        for d in dirty:
            if d.space is None:
                if d in old:
                    return None  # references to it become null
                continue
            if d not in old:
                # (an object made without RpsObject's constructors has no `_born`: taken as old)
                if getattr(d, "_born", s) <= s:
                    return None  # it existed at that dump, when references to it were written as null
                if dumped is old:
                    dumped = set(old)
                dumped.add(d)
            redo.add(d)
        self.dirty = dirty
        self.dumped = dumped
        self.w = _ObjectWriter(dumped)
        self.check(dumped)
        spaces = heap.spaces
        for d in redo:
            if d.space not in spaces:
                raise StoreError(f"object {d.oid} is in space {d.space.oid} which is not in the heap's spaces",  # type: ignore[union-attr]
                                 oid=str(d.oid))
        # Objects whose text reads a changed object: classes naming themselves by a symbol, and the framing
        # line of every instance of a class whose symbol changed.
        csym, symdeps = state.csym, state.symdeps
        cands = {c for c in redo if c in csym}
        for d in list(redo):
            for c in symdeps.get(d, ()):
                cands.add(c)
                if c in dumped and c.space is not None:
                    redo.add(c)
        changed = set()
        for c in cands:
            if c in csym:
                now = "\u2208" + _class_symbol(c)
                if now != csym[c]:
                    changed.add(c)
                    self.symbols[c] = now
        if changed:
            for f in state.files.values():
                redo.update(o for o in f.objs if o.cls in changed)
        self.symbols = {**csym, **self.symbols}
        self.symdeps = symdeps  # shared and only added to: a stale entry costs one needless rendering
        # Where each object goes.
        where: dict[RpsObject, list[tuple[int, int, RpsObject | None]]] = {}  # space -> events
        for d in redo:
            sp = d.space
            f = state.files.get(sp)  # type: ignore[arg-type]
            at = _find(f, d) if f is not None else -1
            if at >= 0:
                where.setdefault(sp, []).append((at, 1, d))  # type: ignore[arg-type]
                continue
            if d in old:  # moved from another space: leaves its old file
                for osp, of in state.files.items():
                    i = _find(of, d)
                    if i >= 0:
                        where.setdefault(osp, []).append((i, 1, None))
                        break
            if f is not None:
                where.setdefault(sp, []).append((bisect.bisect_left(f.objs, d.oid, key=_oid_of), 0, d))  # type: ignore[arg-type]
            else:
                where.setdefault(sp, []).append((-1, 0, d))  # type: ignore[arg-type]
        out: list[tuple[str, Callable[[], Iterator[bytes]], bool]] = []
        bang_of = {sp: ("!" if sp.oid == wk.INITIAL_SPACE else "") for sp in spaces}
        for sp in spaces:
            rel = space_path(sp.oid)
            f = state.files.get(sp)
            events = where.get(sp, [])
            if f is None or f.ident is None or _ident(os.path.join(top, rel)) != f.ident:
                # A new space, or a file changed by another program: rendered whole (and compared).
                if f is None:
                    objs = sorted((d for _i, _k, d in events if d is not None), key=_oid_of)
                else:
                    gone = {f.objs[i] for i, k, d in events if k == 1 and d is None}
                    objs = sorted([o for o in f.objs if o not in gone]
                                  + [d for _i, k, d in events if k == 0 and d is not None], key=_oid_of)
                out.append((rel, functools.partial(self.space_file, sp, objs), False))
                continue
            count = len(f.objs) + sum(1 for _i, k, d in events if k == 0) - sum(1 for _i, k, d in events
                                                                                 if k == 1 and d is None)
            head = self.head(sp, count)
            if not events and head == f.head:
                self.files[sp] = f  # unchanged: neither rendered nor written
                continue
            pieces = self.patched(sp, f, sorted(events, key=_event_key), head, bang_of[sp], os.path.join(top, rel))
            if pieces is not None:
                out.append((rel, functools.partial(iter, pieces), True))
        # The manifest and the headers: rendered again only when something they show may have changed.
        name_attr, constant_attr = self.name_attr, objects.get(wk.CONSTANT)
        sigs = state.sigs
        sets = state.sets
        meta = (heap.roots != sets[0] or heap.constants != sets[1] or heap.plugins != sets[2]
                or heap.spaces != sets[3] or heap.manifest_extra != state.manifest_extra
                or heap.headers != state.headers or dumped is not old
                or any(d in sigs and _meta_sig(d, name_attr, constant_attr) != sigs[d] for d in dirty)
                or any(_ident(os.path.join(top, rel)) != state.meta_ident.get(rel)
                       for rel in (MANIFEST, *GENERATED_HEADERS)))
        if meta:
            out.extend(self.meta())
        else:
            self.sigs = sigs
        return out

    def patched(self, sp: RpsObject, f: _SpaceFile, events: list[tuple[int, int, RpsObject | None]], head: bytes,
                bang: str, path: str) -> list[bytes | tuple[int, int]] | None:
        """A space file made from its previous version `f` (at `path`) and the changes `events`: `(old
        index, 0, object)` inserts an object before the old one at that index, `(index, 1, object)` renders
        the old one again, `(index, 1, None)` drops it. Gives the new blocks, and `(offset, size)` for each run
        of old blocks to copy from the old file (`_write_patched`); None when the file would not change (the
        objects rendered again give the same bytes)."""
        old_objs, old_lengths = f.objs, f.lengths
        block = self.block
        pieces: list[bytes | tuple[int, int]] = [head]
        pos = len(f.head)  # in the old file
        prev = 0
        if all(k == 1 and d is not None for _i, k, d in events):  # objects changed in place: same order
            objs = old_objs
            lengths = list(old_lengths)
            same = head == f.head
            with open(path, "rb") as src:
                for i, _k, d in events:
                    if prev < i:
                        size = sum(old_lengths[prev:i])
                        pieces.append((pos, size))
                        pos += size
                    b = block(d, bang)  # type: ignore[arg-type]
                    if same and (len(b) != old_lengths[i] or os.pread(src.fileno(), len(b), pos) != b):
                        same = False
                    pieces.append(b)
                    lengths[i] = len(b)
                    pos += old_lengths[i]
                    prev = i + 1
            if same:  # rendered again, to the same bytes
                self.files[sp] = f
                return None
        else:
            objs, lengths = [], []
            for i, kind, d in events:
                if prev < i:
                    size = sum(old_lengths[prev:i])
                    pieces.append((pos, size))
                    pos += size
                    objs += old_objs[prev:i]
                    lengths += old_lengths[prev:i]
                if kind:
                    pos += old_lengths[i]
                prev = max(prev, i + kind)
                if d is not None:
                    b = block(d, bang)
                    pieces.append(b)
                    objs.append(d)
                    lengths.append(len(b))
        n = len(old_objs)
        if prev < n:
            size = sum(old_lengths[prev:n])
            pieces.append((pos, size))
            objs = objs if objs is old_objs else objs + old_objs[prev:n]
            if objs is not old_objs:
                lengths += old_lengths[prev:n]
        pieces.append(_trailer(sp))
        self.files[sp] = _SpaceFile(head, objs, lengths)
        return pieces

    # -- after the dump --------------------------------------------------------------------------------------

    def restore(self) -> None:
        """Switch the clean objects rendered back to `CleanObject`."""
        for o in self.swapped:
            o.__class__ = CleanObject
        self.swapped.clear()

    def seal(self, epoch: int) -> None:
        """After a committed dump: every dirty object written that nothing outside holds a container of
        becomes clean (as of `epoch`)."""
        if self.wrote:
            _LAST_SEAL[0] = max(_LAST_SEAL[0], epoch)  # before any object is sealed
        for o in self.wrote:
            if private(o):
                o._v = epoch
                o.__class__ = CleanObject
        self.wrote.clear()

    def state(self, epoch: int, top: str) -> _State:
        st = _State()
        heap = self.heap
        st.epoch = epoch
        st.changes = heap.objects.changes if type(heap.objects) is Objects else -1  # type: ignore[attr-defined]
        st.dumped = self.dumped
        for sp, f in self.files.items():
            f.ident = _ident(os.path.join(top, space_path(sp.oid)))
        st.files = self.files
        st.name_attr, st.class_obj = self.name_attr, self.class_obj
        st.csym, st.symdeps = self.symbols, self.symdeps
        st.sigs = self.sigs if self.sigs is not None else {}
        st.sets = _heap_sets(heap)
        st.manifest_extra = copy.deepcopy(heap.manifest_extra)
        st.headers = dict(heap.headers)
        st.meta_ident = {rel: _ident(os.path.join(top, rel)) for rel in (MANIFEST, *GENERATED_HEADERS)}
        st.mark = self.mark
        st.entered = heap.objects.entered if type(heap.objects) is Objects else -1  # type: ignore[attr-defined]
        # Dirty still (held by someone, transient, not rendered): dirty for the next dump too.
        st.plain = list({o for o in self.dirty or () if type(o) is not CleanObject})
        return st


_NOT_CLEAN = functools.partial(operator.is_not, CleanObject)
_IS_CLEAN = functools.partial(operator.is_, CleanObject)
#: The epoch of the last dump that sealed objects (in this process).
_LAST_SEAL = [0]
_V = attrgetter("_v")


def _scan(objects: dict[Oid, RpsObject], s: int) -> list[RpsObject]:
    """Every object of `objects` not clean, and every one a dump sealed after epoch `s` (scans in C; the second
    only when some dump sealed objects since)."""
    vals = objects.values()
    dirty = list(itertools.compress(vals, map(_NOT_CLEAN, map(type, vals))))
    if _LAST_SEAL[0] > s:  # (`_v` is read of clean objects only: a dump set it when it sealed them)
        cleans = list(itertools.compress(vals, map(_IS_CLEAN, map(type, vals))))
        dirty += itertools.compress(cleans, map(s.__lt__, map(_V, cleans)))
    return dirty


#: Check the objects found dirty through their hooks against a scan of the heap (tests; RPSRT_CHECK_DIRTY=1).
CHECK_DIRTY = os.environ.get("RPSRT_CHECK_DIRTY") == "1"


#: The heaps with dump states (whose marks keep `objects.DIRTIED` from being trimmed).
_HEAPS: weakref.WeakSet[Heap] = weakref.WeakSet()


def _trim() -> None:
    """Forget the notes of `objects.DIRTIED` that no live dump state needs."""
    reg, base = _objects.DIRTIED, _objects.DIRTIED_BASE
    marks = [st.mark for h in list(_HEAPS) for st in h.dumps.values()]
    cut = (min(marks) if marks else base[0] + len(reg)) - base[0]
    if cut > 0:
        del reg[:cut]
        base[0] += cut


def _find(f: _SpaceFile, o: RpsObject) -> int:
    """The index of `o` in the file `f`, or -1."""
    objs = f.objs
    i = bisect.bisect_left(objs, o.oid, key=_oid_of)
    return i if i < len(objs) and objs[i] is o else -1


def _event_key(e: tuple[int, int, RpsObject | None]) -> tuple[int, int, Any]:
    return (e[0], e[1], e[2].oid if e[2] is not None else None)


def _trailer(sp: RpsObject) -> bytes:
    return f"//// end of RefPerSys generated space file {space_path(sp.oid)}\n".encode()


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
        v = attrs_of(system).get(attr)
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
    pl = payload_of(obj)
    if type(pl) is PayloadClassInfo and pl.symb is not None and type(payload_of(pl.symb)) is PayloadSymbol:
        return payload_of(pl.symb).name  # type: ignore[union-attr]
    return obj.oid[2]


def _cstr(s: str) -> str:
    """A string printed as a C string (up to its first NUL)."""
    i = s.find("\0")
    return s if i < 0 else s[:i]


def _root_comment(obj: RpsObject, name_attr: RpsObject | None) -> str:
    cls = obj.cls
    pl = payload_of(obj)
    if type(pl) is PayloadClassInfo:
        if cls is not None and cls.oid == wk.CLASS:
            return _class_name_str(obj) + "\u2208class"
        return _class_name_str(obj) + "\u2208" + _class_name_str(cls)
    if type(pl) is PayloadSymbol:
        if cls is not None and cls.oid == wk.SYMBOL:
            return pl.name + "\u2208symbol"
        return pl.name + "\u2208" + _class_name_str(cls)
    name = attrs_of(obj).get(name_attr) if name_attr is not None else None  # type: ignore[call-overload]
    text = '"' + _cjson(name) + '"' if type(name) is str else ""
    return text + "\u2208" + _class_name_str(cls)


def _display(obj: RpsObject, name_attr: RpsObject | None) -> str:
    """An object as upstream's `operator<<` on an object reference prints it (depth 0)."""
    out = "\u25cc" + obj.oid[2]
    name = attrs_of(obj).get(name_attr) if name_attr is not None else None  # type: ignore[call-overload]
    pl = payload_of(obj)
    if type(name) is str:
        out += "/" + _cstr(name)
    elif type(pl) is PayloadSymbol:
        out += "!sy\u00b0" + pl.name
    elif type(pl) is PayloadClassInfo:
        out += "!cla\u00b0" + _class_name_str(obj)
    cls = obj.cls
    if cls is not None and type(payload_of(cls)) is PayloadClassInfo:
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
        pl = payload_of(obj)
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
        name = attrs_of(obj).get(name_attr) if name_attr is not None else None  # type: ignore[call-overload]
        issymb = False
        if type(name) is not str:
            name = ""
            if type(payload_of(obj)) is PayloadSymbol:
                issymb, name = True, payload_of(obj).name  # type: ignore[union-attr]
        cls = obj.cls
        kname = attrs_of(cls).get(name_attr) if cls is not None and name_attr is not None else None  # type: ignore[call-overload]
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
               spaces: Collection[RpsObject] | None = None, lock_timeout: float | None = None,
               full: bool = False) -> list[str]:
    """Dump `heap` into `directory` (created if needed) atomically; return the store-relative paths written.

    Files whose bytes would not change are not rewritten. All changed files switch to the new generation
    together: a crash at any instant leaves a store that loads as either the old or the new heap, and a load
    running meanwhile reads one or the other (the switch happens under the exclusive generation lock).
    `locked=True` when the caller holds `update_lock(directory)` already; `lock_timeout` bounds the waits for
    the locks (None: no limit). `spaces`: only these spaces can have changed since `heap` was loaded from
    this same `directory` (the others are neither rendered nor compared; `render_store`); a space file
    missing on disk is still written.

    Incremental (docs/store.md "Incremental dumps"): when this heap was dumped into this directory before and
    its files are still those that dump wrote, only the objects changed since are rendered, the other blocks
    are copied from the files, and only the files that change are written (`spaces` is then not needed).
    `full=True` renders and compares everything, as a first dump does.
    """
    top = os.fspath(directory)
    if spaces is not None:
        spaces = set(spaces) | {sp for sp in heap.spaces
                                if not os.path.isfile(os.path.join(top, space_path(sp.oid)))}
    # Checks the spaces first: a heap that cannot be dumped creates nothing.
    probe = {o for o in heap.spaces if o.space is not None}
    _Render(heap).check(probe)
    made = [d for d in (top, os.path.join(top, "persistore"), os.path.join(top, "generated"))
            if not os.path.isdir(d)]
    os.makedirs(os.path.join(top, "persistore"), exist_ok=True)
    os.makedirs(os.path.join(top, "generated"), exist_ok=True)
    try:
        return _dump(heap, top, spaces, full, locked, lock_timeout)
    except BaseException:
        for d in reversed(made):  # a new store that got no file: leave no empty folders behind
            with contextlib.suppress(OSError):
                os.rmdir(d)
        raise


def _dump(heap: Heap, top: str, spaces: Collection[RpsObject] | None, full: bool, locked: bool,
          lock_timeout: float | None) -> list[str]:
    with contextlib.nullcontext() if locked else journal.locked(top, timeout=lock_timeout):
        with journal.generation(top, shared=False, timeout=lock_timeout):
            journal.recover(top)
        key = os.path.realpath(top)
        epoch = _objects.EPOCH
        _objects.EPOCH = epoch + 1  # changes from now on are after this dump
        suffix = Oid.random().text[:7] + f"-p{os.getpid()}%"
        renames: list[tuple[str, str]] = []
        pending: list[str] = []  # the temporary being written
        r = _Render(heap)
        enabled = gc.isenabled()
        gc.disable()  # rendering allocates many short lists of strings; none is cyclic
        try:
            try:
                with deep_recursion():
                    state = heap.dumps.pop(key, None)
                    if full:
                        state = None
                    streams = r.incremental(state, top) if state is not None else None
                    r.was_incremental = streams is not None
                    if streams is None:
                        mark = r.mark
                        r = _Render(heap)
                        r.mark = mark
                        streams = r.full(spaces)
                    for rel, produce, known in streams:
                        tmp = rel + suffix
                        pending[:] = [tmp]
                        if known:
                            _write_patched(os.path.join(top, tmp), os.path.join(top, rel), produce())
                            renames.append((rel, tmp))
                        elif _stream_file(top, rel, tmp, produce()):
                            renames.append((rel, tmp))
                        pending.clear()
            except OSError as exc:  # nothing is committed yet: drop the temporaries, the store is unchanged
                _drop(top, renames, pending)
                raise StoreError(f"cannot write the store: {exc.strerror or exc} (is it read-only, or the disk "
                                 "full?); it is unchanged", path=top) from None
            except BaseException:  # a value that cannot be dumped (a StoreError), an interrupt: likewise
                _drop(top, renames, pending)
                raise
            renames.sort()
            changed = [rel for rel, _tmp in renames]
            if renames:
                for sub in sorted({os.path.dirname(rel) for rel in changed} - {""}):
                    journal.fsync_dir(os.path.join(top, sub))
                try:
                    with journal.generation(top, shared=False, timeout=lock_timeout):
                        journal.commit(top, renames)
                        journal.apply(top, renames)
                except journal.LockTimeout:  # not committed: drop the temporaries, the store is unchanged
                    _drop(top, renames, [])
                    raise
            # Committed: the objects written are clean as of this dump, and the next dump here starts from it
            # (not after a dump of some spaces only: the others' offsets are unknown).
            rendered = len(r.wrote) + len(r.swapped)
            r.seal(epoch)
            r.restore()
            if spaces is None or r.was_incremental:  # (an incremental dump is exact, whatever `spaces` says)
                st = heap.dumps[key] = r.state(epoch, top)
                st.rendered, st.incremental = rendered, r.was_incremental
                while len(heap.dumps) > _MAX_STATES:
                    del heap.dumps[min(heap.dumps, key=lambda k: heap.dumps[k].epoch)]
                _HEAPS.add(heap)
            _trim()
        finally:
            r.restore()
            if enabled:
                gc.enable()
    return changed


def _write_patched(path: str, old: str, pieces: Iterator[bytes | tuple[int, int]]) -> None:
    """Write a new file `path` from `pieces`: bytes, or `(offset, size)` to copy from the file `old` (in the
    kernel, `os.copy_file_range`, where it can; else read and written), then fsync it (as
    `journal.write_durably`)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        with open(old, "rb") as src:
            sfd = src.fileno()
            for p in pieces:
                if type(p) is bytes:
                    view = memoryview(p)
                    while view:
                        n = os.write(fd, view)
                        view = view[n:]
                    continue
                at, size = p  # type: ignore[misc]
                end = at + size
                while at < end:
                    n = 0
                    if _COPY_RANGE is not None:
                        try:
                            n = _COPY_RANGE(sfd, fd, end - at, at)
                        except OSError:
                            n = 0
                    if n <= 0:  # no copy_file_range here (or nothing copied): the plain way
                        data = os.pread(sfd, min(end - at, _BLOCK), at)
                        if not data:
                            raise OSError(errno.EIO, f"{old} is shorter than when it was written")
                        view = memoryview(data)
                        while view:
                            m = os.write(fd, view)
                            view = view[m:]
                        n = len(data)
                    at += n
        os.fsync(fd)  # (as journal.write_durably)
    finally:
        os.close(fd)


def _copy_range(src: int, dst: int, count: int, offset: int) -> int:
    return os.copy_file_range(src, dst, count, offset)  # appends at dst's position


_COPY_RANGE = _copy_range if hasattr(os, "copy_file_range") else None


#: Bytes gathered before one write and one comparison with the file on disk.
_BLOCK = 1 << 20


def _blocks(pieces: Iterator[bytes]) -> Iterator[bytes]:
    """The pieces of a file joined into blocks of about `_BLOCK` bytes."""
    buf: list[bytes] = []
    size = 0
    for p in pieces:
        buf.append(p)
        size += len(p)
        if size >= _BLOCK:
            yield b"".join(buf)
            buf.clear()
            size = 0
    if buf:
        yield b"".join(buf)


def _stream_file(top: str, rel: str, tmp: str, pieces: Iterator[bytes]) -> bool:
    """Render one file as a stream, comparing it block by block with the file on disk; from the first
    difference on, write it into the temporary `tmp` (the equal prefix copied from the old file, then the rest
    of the stream), fsynced, through `journal.write_durably`. True when the file changed (the temporary
    exists), False when its bytes are the same (nothing written). The store file is only read."""
    path = os.path.join(top, rel)
    try:
        old = open(path, "rb")  # noqa: SIM115 -- closed below
    except FileNotFoundError:
        old = None
    try:
        blocks = _blocks(pieces)
        same = 0  # bytes equal to the old file so far
        for block in blocks:
            if old is not None and old.read(len(block)) == block:
                same += len(block)
                continue
            journal.write_durably(os.path.join(top, tmp), itertools.chain(_prefix(path, same), (block,), blocks))
            return True
        if old is not None and old.read(1) == b"":
            return False
        journal.write_durably(os.path.join(top, tmp), _prefix(path, same))
        return True
    finally:
        if old is not None:
            old.close()


def _prefix(path: str, size: int) -> Iterator[bytes]:
    """The first `size` bytes of the file at `path` (equal to what the dump renders there), in blocks."""
    if not size:
        return
    with open(path, "rb") as f:
        while size:
            data = f.read(min(size, _BLOCK))
            if not data:
                return
            yield data
            size -= len(data)


def _drop(top: str, renames: list[tuple[str, str]], pending: list[str]) -> None:
    """Remove the temporaries of a dump that is not committed."""
    for tmp in [t for _rel, t in renames] + pending:
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(top, tmp))
