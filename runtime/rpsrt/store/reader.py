"""Store loading: a RefPerSys store directory (2019A, 2023A, 2024A) into a Heap, in two passes (§2-§5).

Pass 1 reads the manifest and every space file's framing: the `//+ob_<oid>` start lines, the prologue and its
count, creating an empty object per OID (so forward and cyclic references resolve). Pass 2 decodes each
object's JSON with orjson and fills class, attributes, components and payload. Validation then checks the
manifest's sets. Every error is a `StoreError` naming the file, the line and the object.

A store left by an interrupted `dump_store` is read through its journal (see `rpsrt.store.journal`), so the
loader always sees one consistent generation; loading never writes to the store.
"""

from __future__ import annotations

import gc
import os
import re
from collections.abc import Callable
from typing import Any

import orjson

from rpsrt.errors import StoreError
from rpsrt.model.heap import Heap
from rpsrt.limits import deep_recursion
from rpsrt.model.objects import (
    Payload,
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
from rpsrt.model.oid import Oid, OidError, looks_like_oid
from rpsrt.model.values import VClosure, VInstance, VJson, VRaw, VSet, VTuple
from rpsrt.store.journal import resolve_paths
from rpsrt.store.jsonfmt import JsonTextError, fast_first_value, first_value

#: Formats this loader reads.
FORMATS = ("RefPerSysFormat2019A", "RefPerSysFormat2023A", "RefPerSysFormat2024A")
MANIFEST = "rps_manifest.json"
#: Manifest members the heap holds as sets (everything else is kept verbatim in `Heap.manifest_extra`).
MANIFEST_SETS = ("constset", "globalnames", "globalroots", "plugins", "spaceset", "format")
#: Prologue members the loader checks (everything else is kept verbatim in `Heap.prologues`).
PROLOGUE_KEYS = ("format", "nbobjects", "spaceid")
#: Object members that are never payload members.
_OBJECT_LEVEL = frozenset(("loadrout", "magicgetter", "applyfun"))

_START = b"\n//+ob"
#: A start line whose id runs on (a 19th alphanumeric after `_`), which is malformed.
_LONG_ID = re.compile(rb"\n//\+ob_[0-9A-Za-z]{19}")


#: Integral floats from orjson at or beyond these bounds may be ints it could not hold (beyond 64 bits): such an
#: object is decoded again exactly (`_Inexact`).
_U64_END = 18446744073709551616.0
_I64_MIN = -9223372036854775808.0
_SURROGATE = re.compile("[\ud800-\udfff]")


class _Inexact(Exception):
    """orjson gave a float for what may be an int beyond 64 bits: decode the object again with Python's json."""


def space_path(oid: Oid | str) -> str:
    """The store-relative path of a space's file: `persistore/sp<oid>-rps.json`."""
    return f"persistore/sp{oid}-rps.json"


def load_store(directory: str | os.PathLike[str]) -> Heap:
    """Load the store in `directory` into a new Heap; raise StoreError (with file, line, OID) on bad input."""
    # The load allocates only long-lived objects: the cyclic GC would rescan them again and again for nothing.
    top = os.fspath(directory)
    if not os.path.isdir(top):
        why = "it is a file" if os.path.exists(top) else "it does not exist"
        raise StoreError(f"not a store directory ({why})", path=top)
    enabled = gc.isenabled()
    gc.disable()
    try:
        with deep_recursion():
            return _Loader(top).load()
    finally:
        if enabled:
            gc.enable()


class _Space:
    """One space file during loading: its bytes, where each object starts, and the objects created."""

    __slots__ = ("oid", "rel", "path", "data", "chunks", "objects", "prologue", "header", "format")

    def __init__(self, oid: Oid, rel: str, path: str, data: bytes) -> None:
        self.oid = oid
        self.rel = rel
        self.path = path
        self.data = data
        self.chunks: list[bytes] = []
        self.objects: list[RpsObject] = []
        self.prologue: dict[str, Any] = {}
        self.header = ""
        self.format = ""

    # Line numbers, computed from the chunks (the file's bytes are dropped once split, to save memory).

    def line_of_chunk(self, i: int) -> int:
        """The line of chunk i's start line (each of the i separators before it holds one newline)."""
        return sum(c.count(b"\n") for c in self.chunks[:i]) + i + 1

    def last_line(self) -> int:
        return self.line_of_chunk(len(self.chunks) - 1) + self.chunks[-1].count(b"\n")

    def has_end_line(self) -> bool:
        return _has_end_line(self.chunks[-1])


class _Loader:
    """State of one load: the heap being built and the OID-text -> object table used to resolve references."""

    def __init__(self, top: str) -> None:
        self.top = top
        self.heap = Heap()
        self.by_text: dict[str, RpsObject] = {}
        self.paths = resolve_paths(top)
        # Where the current object is, for error messages.
        self.space: _Space | None = None
        self.index = 0
        self.framed: list[_Space] = []
        #: True while an object is decoded by Python's json (exact ints), so `value` takes floats as they are.
        self.exact = False

    # -- errors -----------------------------------------------------------------------------------------------

    def error(self, message: str, needle: str | None = None) -> StoreError:
        """A StoreError located at the current object (at `needle`'s first occurrence in it, when given)."""
        sp = self.space
        if sp is None:
            return StoreError(message, path=self._display(MANIFEST))
        i = self.index
        oid = sp.chunks[i][:19].decode("ascii", "replace")
        line = sp.line_of_chunk(i)
        if needle is not None:
            pos = sp.chunks[i].find(needle.encode("utf-8", "replace"))
            if pos >= 0:
                line += sp.chunks[i].count(b"\n", 0, pos)
        return StoreError(message, path=sp.path, line=line, oid=oid)

    def _display(self, rel: str) -> str:
        return os.path.join(self.top, rel)

    def _read(self, rel: str, what: str, listed_at: tuple[str, int] | None = None) -> tuple[str, bytes]:
        path = os.path.join(self.top, rel)
        pending = self.paths.get(rel)
        if pending is not None:
            try:
                with open(pending, "rb") as f:
                    return path, f.read()
            except FileNotFoundError:
                pass  # renamed into place since the journal was read
        try:
            with open(path, "rb") as f:
                return path, f.read()
        except FileNotFoundError:
            if listed_at:
                raise StoreError(f"missing {what} {self._display(rel)}", path=listed_at[0],
                                 line=listed_at[1]) from None
            hint = ": this folder holds no store" if rel == MANIFEST else ""
            raise StoreError(f"missing {what}{hint}", path=self._display(rel)) from None
        except IsADirectoryError:
            raise StoreError(f"{what} is a directory", path=self._display(rel)) from None
        except OSError as exc:
            raise StoreError(f"cannot read {what}: {exc.strerror}", path=self._display(rel)) from None

    # -- manifest ---------------------------------------------------------------------------------------------

    def load(self) -> Heap:
        if not os.path.isdir(self.top):
            raise StoreError("not a store directory (it does not exist)", path=self.top)
        mpath, mdata = self._read(MANIFEST, "manifest")
        mtext = _decode(mdata, mpath)
        try:
            manifest = fast_first_value(mtext)
        except JsonTextError as exc:
            raise StoreError(exc.message, path=mpath, line=exc.line) from None
        if type(manifest) is not dict:
            raise StoreError("the manifest is not a JSON object", path=mpath, line=_json_line(mtext))
        self.heap.headers[MANIFEST] = mtext[: _json_start(mtext)]
        fmt = manifest.get("format")
        if fmt not in FORMATS:
            raise StoreError(f"unknown store format {fmt!r} (rpsc reads {', '.join(FORMATS)})", path=mpath,
                             line=_key_line(mtext, "format"))
        for key in ("spaceset", "globalroots"):
            if type(manifest.get(key)) is not list:
                raise StoreError(f"the manifest lacks its {key!r} array", path=mpath, line=_json_line(mtext))
        space_oids = []
        for text in manifest["spaceset"]:
            space_oids.append(self._manifest_oid(text, "spaceset", mpath, mtext))

        # Pass 1: every space's framing; one empty object per OID.
        spaces = []
        for soid in space_oids:
            rel = space_path(soid)
            sp = _Space(soid, rel, *self._read(rel, "space file", (mpath, _text_line(mtext, str(soid)))))
            self._frame(sp)
            spaces.append(sp)
        heap = self.heap
        for sp in spaces:
            space_obj = self.by_text.get(str(sp.oid))
            if space_obj is None:
                raise StoreError(f"space object {sp.oid} is in no space file", path=mpath,
                                 line=_text_line(mtext, str(sp.oid)))
            for obj in sp.objects:
                obj.space = space_obj
            heap.spaces.add(space_obj)
            heap.prologues[sp.oid] = sp.prologue
            heap.headers[sp.rel] = sp.header

        # Pass 2: fill every object.
        for sp in spaces:
            self._fill_space(sp)
        self.space = None

        # Manifest sets, then validation.
        for key, target in (("globalroots", heap.roots), ("constset", heap.constants), ("plugins", heap.plugins)):
            items = manifest.get(key, [])
            if type(items) is not list:
                raise StoreError(f"manifest member {key!r} is not an array", path=mpath, line=_key_line(mtext, key))
            get = self.by_text.get
            for text in items:
                found = get(text) if type(text) is str else None
                if found is not None:
                    target.add(found)
                    continue
                oid = self._manifest_oid(text, key, mpath, mtext)  # raises when malformed
                raise StoreError(f"{key} names unknown object {oid}", path=mpath,
                                 line=_text_line(mtext, str(oid)), oid=str(oid))
        heap.manifest_extra = {k: v for k, v in manifest.items() if k not in MANIFEST_SETS}
        return heap

    def _manifest_oid(self, text: Any, key: str, mpath: str, mtext: str) -> Oid:
        if type(text) is not str:
            raise StoreError(f"{key} holds {text!r}, not an object id", path=mpath, line=_key_line(mtext, key))
        try:
            return Oid.parse(text)
        except OidError as exc:
            raise StoreError(f"{key}: {exc}", path=mpath, line=_text_line(mtext, text)) from None

    # -- pass 1 -----------------------------------------------------------------------------------------------

    def _frame(self, sp: _Space) -> None:
        """Split a space file at its start lines, check its prologue, and create its objects."""
        data = sp.data
        chunks = data.split(_START)
        head = chunks[0]
        sp.chunks = chunks
        m = _LONG_ID.search(data)
        long_id = None if m is None else data.count(_START, 0, m.start() + len(_START))
        sp.data = b""  # the chunks hold the same bytes
        del data
        first_line = chunks[1].split(b"\n", 1)[0] if len(chunks) > 1 else b""
        prologue_text = _decode(head + _START + first_line, sp.path)
        try:
            prologue = fast_first_value(prologue_text)
        except JsonTextError as exc:
            raise StoreError(f"space prologue: {exc.message}", path=sp.path, line=exc.line) from None
        if type(prologue) is not dict:
            raise StoreError("the space prologue is not a JSON object", path=sp.path, line=_json_line(prologue_text))
        sp.header = prologue_text[: _json_start(prologue_text)]
        fmt = prologue.get("format")
        if fmt not in FORMATS:
            raise StoreError(f"unknown space format {fmt!r} (rpsc reads {', '.join(FORMATS)})", path=sp.path,
                             line=_key_line(prologue_text, "format"))
        if prologue.get("spaceid") != str(sp.oid):
            raise StoreError(f"prologue spaceid {prologue.get('spaceid')!r} is not the file's space {sp.oid}",
                             path=sp.path, line=_key_line(prologue_text, "spaceid"))
        nb = len(chunks) - 1
        if prologue.get("nbobjects") != nb:
            if not sp.has_end_line():
                raise StoreError(f"truncated file: it stops after {nb} of its {prologue.get('nbobjects')!r} objects, "
                                 "without its `//// end of` line", path=sp.path, line=sp.last_line())
            raise StoreError(f"prologue says nbobjects {prologue.get('nbobjects')!r} but the file holds {nb} objects",
                             path=sp.path, line=_key_line(prologue_text, "nbobjects"))
        sp.prologue = {k: v for k, v in prologue.items() if k not in PROLOGUE_KEYS}
        sp.format = fmt
        try:
            self._create(sp, chunks, nb)
            if long_id is not None:
                self.space, self.index = sp, long_id
                raise self.error(f"start line: malformed object id {chunks[long_id][:20].decode()}...")
        except OidError as exc:
            for i, c in enumerate(chunks[1:], 1):
                try:
                    Oid.parse(c[:19].decode("ascii", "replace"))
                except OidError as exc2:
                    self.space, self.index = sp, i
                    raise self.error(f"start line: {exc2}") from None
            raise self.error(f"start line: {exc}") from None

    def _create(self, sp: _Space, chunks: list[bytes], nb: int) -> None:
        by_text = self.by_text
        n_before = len(by_text)
        # map() and zip() keep the per-object work in C where they can.
        texts = [c[:19].decode("ascii", "replace") for c in chunks[1:]]
        oids = list(map(Oid.parse, texts))
        out = sp.objects = list(map(RpsObject, oids))
        by_text.update(zip(texts, out, strict=True))
        self.heap.objects.update(zip(oids, out, strict=True))
        if len(by_text) != n_before + nb:
            prior = {o.oid[2] for s in self.framed for o in s.objects}
            seen: set[str] = set()
            for i, obj in enumerate(out, 1):
                t = obj.oid[2]
                if t in seen or t in prior:
                    self.space, self.index = sp, i
                    raise self.error(f"duplicate object id {t}")
                seen.add(t)
        self.framed.append(sp)

    # -- pass 2 -----------------------------------------------------------------------------------------------

    def _fill_space(self, sp: _Space) -> None:
        """Decode and fill every object of a space file (the hot loop of loading, kept flat on purpose)."""
        self.space = sp
        chunks = sp.chunks
        loads = orjson.loads
        decode_error = orjson.JSONDecodeError
        by_text = self.by_text
        get = by_text.get
        val = self.value
        rest = self._rest
        old = sp.format == "RefPerSysFormat2019A"
        i = 0
        for obj in sp.objects:
            i += 1
            c = chunks[i]
            try:
                start = c.find(b"\n{")
                try:
                    d = loads(c[start + 1:c.find(b"\n}", start) + 2])
                except decode_error:
                    self.index = i
                    d = self._slow_json(c)
                if type(d) is not dict:
                    self.index = i
                    d = self._slow_json(c)
                pop = d.pop
                if pop("oid", None) != obj.oid[2]:
                    self.index = i
                    raise self.error(f"object member oid differs from its start line {obj.oid}", '"oid"')
                mtime = pop("mtime", 0.0)
                if type(mtime) is not float or old:
                    self.index = i
                    obj.mtime = self._mtime(mtime)
                else:
                    obj.mtime = mtime
                cls = get(pop("class", None))  # type: ignore[arg-type]
                if cls is None:
                    self.index = i
                    cls = self.ref(d.get("class"), "class") if "class" in d else self._no_class(obj)
                obj.cls = cls
                attrs = pop("attrs", None)
                if attrs:
                    ad = obj.attrs
                    try:
                        for e in attrs:
                            v = e["va"]
                            t = type(v)
                            if t is str:
                                if len(v) == 19 and v[0] == "_":
                                    v = get(v) or val(v)
                            elif t is not int and v is not None:
                                v = val(v)
                            ad[by_text[e["at"]]] = v
                    except (KeyError, TypeError, StoreError):
                        self.index = i
                        self._attrs(obj, attrs)
                if d:
                    self.index = i
                    rest(obj, d)
            except _Inexact:
                self.index = i
                self._fill_exact(obj, c, old)

    def _fill_exact(self, obj: RpsObject, chunk: bytes, old: bool) -> None:
        """Decode one object again with Python's json, whose ints are exact beyond 64 bits."""
        self.exact = True
        try:
            d = self._slow_json(chunk)
            d.pop("oid", None)
            mtime = d.pop("mtime", 0.0)
            obj.mtime = self._mtime(mtime) if type(mtime) is not float or old else mtime
            obj.cls = self.ref(d.pop("class"), "class") if "class" in d else self._no_class(obj)
            obj.attrs.clear()
            attrs = d.pop("attrs", None)
            if attrs:
                self._attrs(obj, attrs)
            if d:
                self._rest(obj, d)
        finally:
            self.exact = False

    def _mtime(self, mtime: Any) -> float:
        if type(mtime) is not float:
            if type(mtime) is not int:
                raise self.error(f"bad mtime {mtime!r}", '"mtime"')
            mtime = float(mtime)
        return round(mtime, 2)

    def _no_class(self, obj: RpsObject) -> RpsObject:
        raise self.error(f"object {obj.oid} has no class")

    def _attrs(self, obj: RpsObject, attrs: Any) -> None:
        if type(attrs) is not list:
            raise self.error("attrs is not an array", '"attrs"')
        ad = obj.attrs
        for e in attrs:
            if type(e) is not dict or "at" not in e or "va" not in e:
                raise self.error(f"bad attribute entry {e!r}", '"attrs"') from None
            ad[self.ref(e["at"], "attribute")] = self.value(e["va"])

    def _slow_json(self, chunk: bytes) -> dict[str, Any]:
        """Decode one object's text the lenient way (comments, `#` lines, trailing text), or raise StoreError."""
        nl = chunk.find(b"\n")
        body = chunk[nl + 1:] if nl >= 0 else b""
        text = _decode(body, self.space.path if self.space else "")
        try:
            value, _end = first_value(text, hash_lines=True)
        except JsonTextError as exc:
            sp = self.space
            if sp is not None and self.index == len(sp.chunks) - 1 and not sp.has_end_line():
                raise StoreError(f"truncated file: its last object {sp.chunks[-1][:19].decode('ascii', 'replace')} "
                                 "is cut short, without the `//// end of` line", path=sp.path,
                                 line=sp.last_line()) from None
            err = self.error(exc.message)
            err.line = (err.line or 0) + exc.line
            err.message = f"{exc.message} (column {exc.col})"
            raise err from None
        if type(value) is not dict:
            raise self.error("object text is not a JSON object")
        bad = _lone_surrogate(value)
        if bad is not None:
            raise self.error(f"string {bad[:40]!r} holds a lone surrogate (a \\udXXX escape without its pair), "
                             "which is not Unicode text")
        return value

    def _rest(self, obj: RpsObject, d: dict[str, Any]) -> None:
        """Fill what follows class and attributes: components, flags, payload; keep unknown members."""
        comps = d.pop("comps", None)
        if comps:
            if type(comps) is not list:
                raise self.error("comps is not an array", '"comps"')
            val = self.value
            obj.comps = [val(v) for v in comps]
        if d.pop("magicattr", False):
            obj.magicattr = True
        if d.pop("applying", False):
            obj.applying = True
        kind = d.pop("payload", None)
        if kind is not None:
            loader = _PAYLOADS.get(kind) if type(kind) is str else None
            if loader is None:
                obj.payload = self.unknown_payload(kind, d)
            else:
                try:
                    obj.payload = loader(self, d)
                except StoreError:
                    raise
                except (KeyError, TypeError, AttributeError, ValueError) as exc:
                    raise self.error(f"bad {kind} payload: {type(exc).__name__} {exc}", '"payload"') from None
        if d:
            obj.extra = d

    def unknown_payload(self, kind: Any, d: dict[str, Any]) -> PayloadUnknown:
        members = {k: d.pop(k) for k in list(d) if k not in _OBJECT_LEVEL}
        return PayloadUnknown(kind if type(kind) is str else str(kind), members)

    # -- values -----------------------------------------------------------------------------------------------

    def ref(self, text: Any, what: str) -> RpsObject:
        """The object named by an OID text; StoreError when it is malformed or unknown."""
        obj = self.by_text.get(text) if type(text) is str else None
        if obj is not None:
            return obj
        if type(text) is not str:
            raise self.error(f"{what} {text!r} is not an object id")
        try:
            Oid.parse(text)
        except OidError as exc:
            raise self.error(f"{what}: {exc}", text) from None
        raise self.error(f"dangling reference to unknown object {text} ({what})", text)

    def opt_ref(self, text: Any, what: str) -> RpsObject | None:
        return None if text is None else self.ref(text, what)

    def value(self, v: Any) -> Any:
        """A decoded JSON value as an rpsrt value (§4)."""
        t = type(v)
        if t is str:
            if len(v) == 19 and v[0] == "_":
                obj = self.by_text.get(v)
                if obj is not None:
                    return obj
                if looks_like_oid(v):
                    return self.ref(v, "value")
            return v
        if t is int or v is None:
            return v
        if t is float:
            if (v >= _U64_END or v <= _I64_MIN) and not self.exact and v.is_integer():
                raise _Inexact
            return v
        if t is dict:
            return self.composite(v)
        return VRaw(v)

    def composite(self, d: dict[str, Any]) -> Any:
        vtype = d.get("vtype")
        n = len(d)
        if vtype is None:
            if n == 1:
                s = d.get("string", d.get("str"))
                if type(s) is str:
                    return s
            return VRaw(d)
        val = self.value
        if vtype == "closure":
            fn = self.ref(d.get("fn"), "closure function")
            env = d.get("env", [])
            if type(env) is not list:
                raise self.error("closure env is not an array", '"env"')
            rank = d.get("metarank")
            return VClosure(fn, [val(x) for x in env], self.opt_ref(d.get("metaobj"), "closure meta object"),
                            rank)
        if vtype == "set":
            elems = d.get("elem", [])
            if type(elems) is not list:
                raise self.error("set elem is not an array", '"elem"')
            return VSet([self.ref(x, "set element") for x in elems])
        if vtype == "tuple":
            comps = d.get("comp", d.get("elem", []))
            if type(comps) is not list:
                raise self.error("tuple comp is not an array", '"comp"')
            return VTuple([self.opt_ref(x, "tuple component") for x in comps])
        if vtype == "instance":
            cls = self.ref(d.get("iclass", d.get("class")), "instance class")
            iattrs = d.get("iattrs", [])
            attrs = []
            for e in iattrs:
                if type(e) is dict:
                    attrs.append((self.ref(e.get("iat"), "instance attribute"), val(e.get("iva"))))
            comps = d.get("icomps", [])
            return VInstance(cls, attrs, [val(x) for x in comps],
                             self.opt_ref(d.get("metaobj"), "instance meta object"), d.get("metarank"))
        if vtype == "json":
            return VJson(d.get("json"))
        return VRaw(d)


# -- payload loaders (§5) ----------------------------------------------------------------------------------------


def _ld_symbol(ld: _Loader, d: dict[str, Any]) -> Payload:
    name = d.pop("symb_name")
    if type(name) is not str:
        raise ld.error(f"symbol name {name!r} is not a string", '"symb_name"')
    if "symb_val" in d:
        v = d.pop("symb_val")
        val = ld.by_text.get(v) if type(v) is str else None
        if val is None:
            val = ld.value(v)
    else:
        val = None
    return PayloadSymbol(name, val, bool(d.pop("symb_weak", False)))


def _ld_classinfo(ld: _Loader, d: dict[str, Any]) -> Payload:
    pop = d.pop
    get = ld.by_text.get
    sup = pop("class_super", None) if "class_super" in d else pop("superclass", None)
    if sup is None:
        raise ld.error("classinfo payload without class_super", '"payload"')
    methodict = pop("class_methodict", None) if "class_methodict" in d else pop("methodict", None)
    if methodict is None:
        raise ld.error("classinfo payload without class_methodict", '"payload"')
    pl = PayloadClassInfo(get(sup) or ld.ref(sup, "superclass"))
    if methodict:
        md = pl.methodict
        for e in methodict:
            if type(e) is not dict:
                raise ld.error(f"bad method entry {e!r}", '"class_methodict"')
            md[ld.ref(e.get("methosel"), "method selector")] = ld.value(e.get("methclos"))
    if "class_symb" in d:
        symb = pop("class_symb")
        pl.symb = (get(symb) if type(symb) is str else None) or ld.opt_ref(symb, "class symbol")
    if "class_name" in d:
        pl.name = pop("class_name")
    if "class_attrset" in d:
        pl.attrset = ld.value(pop("class_attrset"))
    return pl


def _refs(ld: _Loader, items: Any, what: str, nulls: bool = False) -> list[Any]:
    if type(items) is not list:
        raise ld.error(f"{what} is not an array", f'"{what}"')
    if nulls:
        return [ld.opt_ref(x, what) for x in items]
    return [ld.ref(x, what) for x in items]


def _ld_setob(ld: _Loader, d: dict[str, Any]) -> Payload:
    return PayloadSetOb(_refs(ld, d.pop("setob", []), "setob"))


def _ld_vectob(ld: _Loader, d: dict[str, Any]) -> Payload:
    return PayloadVectOb(_refs(ld, d.pop("vectob", []), "vectob", nulls=True))


def _ld_vectval(ld: _Loader, d: dict[str, Any]) -> Payload:
    return PayloadVectVal([ld.value(x) for x in d.pop("vectval", [])])


def _ld_space(ld: _Loader, d: dict[str, Any]) -> Payload:
    return PayloadSpace()


def _ld_agenda(ld: _Loader, d: dict[str, Any]) -> Payload:
    return PayloadAgenda(*(_refs(ld, d.pop(k, []), k) for k in ("low_priority", "normal_priority",
                                                                  "high_priority")))


def _ld_tasklet(ld: _Loader, d: dict[str, Any]) -> Payload:
    todo = ld.value(d.pop("tasklet_todo")) if "tasklet_todo" in d else None
    return PayloadTasklet(todo, d.pop("tasklet_obsolete_delay", None))


def _ld_strdict(ld: _Loader, d: dict[str, Any]) -> Payload:
    entries = d.pop("dictionary") if "dictionary" in d else d.pop("dictionnary", [])
    out = {}
    for e in entries:
        if type(e) is not dict or type(e.get("str")) is not str:
            raise ld.error(f"bad dictionary entry {e!r}", '"dictionary"')
        out[e["str"]] = ld.value(e.get("val"))
    return PayloadStringDict(out)


def _ld_strbuf(ld: _Loader, d: dict[str, Any]) -> Payload:
    return PayloadStringBuffer(d.pop("strbuf_lines", None), d.pop("strbuf_string", None),
                               d.pop("strbuf_indent", None))


def _ld_objmap(ld: _Loader, d: dict[str, Any]) -> Payload:
    descr = ld.value(d.pop("descr")) if "descr" in d else None
    return PayloadObjMap(d.pop("objmap", {}), descr)


def _ld_environment(ld: _Loader, d: dict[str, Any]) -> Payload:
    descr = ld.value(d.pop("descr")) if "descr" in d else None
    return PayloadEnvironment(d.pop("objmap", {}), descr, ld.opt_ref(d.pop("parent_env", None), "parent_env"))


def _ld_gccjit(ld: _Loader, d: dict[str, Any]) -> Payload:
    return PayloadGccJit(_refs(ld, d.pop("jitseq", []), "jitseq"))


_PAYLOADS: dict[str, Callable[[_Loader, dict[str, Any]], Payload]] = {
    "symbol": _ld_symbol,
    "classinfo": _ld_classinfo,
    "class": _ld_classinfo,  # historic name (to 2020-05)
    "setob": _ld_setob,
    "vectob": _ld_vectob,
    "vectval": _ld_vectval,
    "space": _ld_space,
    "agenda": _ld_agenda,
    "tasklet": _ld_tasklet,
    "string_dictionary": _ld_strdict,
    "string_dictionnary": _ld_strdict,  # historic spelling (2020-11 to 2021-09)
    "string_buffer": _ld_strbuf,
    "objmap": _ld_objmap,
    "environment": _ld_environment,
    "gccjit": _ld_gccjit,
}


# -- text helpers ----------------------------------------------------------------------------------------------


def _lone_surrogate(v: Any) -> str | None:
    """The first string (or key) in decoded JSON `v` that holds a surrogate code point, or None."""
    t = type(v)
    if t is str:
        return v if not v.isascii() and _SURROGATE.search(v) else None
    if t is list:
        for x in v:
            bad = _lone_surrogate(x)
            if bad is not None:
                return bad
    elif t is dict:
        for k, x in v.items():
            bad = _lone_surrogate(k)
            if bad is None:
                bad = _lone_surrogate(x)
            if bad is not None:
                return bad
    return None


def _has_end_line(data: bytes) -> bool:
    """Whether a space file ends with its `//// end of ...` line (every dumper since 2019 writes one)."""
    return data.rstrip().rsplit(b"\n", 1)[-1].startswith(b"//// end of")


def _decode(data: bytes, path: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise StoreError("invalid UTF-8", path=path, line=line) from None


def _json_start(text: str) -> int:
    """Offset of the first line that starts a JSON value (the text before it is the header)."""
    pos = 0
    for line in text.splitlines(keepends=True):
        s = line.lstrip()
        if s and not s.startswith("//") and not s.startswith("#"):
            return pos
        pos += len(line)
    return pos


def _json_line(text: str) -> int:
    return text.count("\n", 0, _json_start(text)) + 1


def _text_line(text: str, needle: str) -> int:
    pos = text.find(f'"{needle}"')
    return text.count("\n", 0, pos) + 1 if pos >= 0 else _json_line(text)


def _key_line(text: str, key: str) -> int:
    return _text_line(text, key)
