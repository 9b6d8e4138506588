"""Store loading: a RefPerSys store directory (2019A, 2023A, 2024A) into a Heap, in two passes (§2-§5).

Pass 1 reads the manifest and every space file's framing: the `//+ob_<oid>` start lines, the prologue and its
count, creating an empty object per OID (so forward and cyclic references resolve). Pass 2 decodes each
object's JSON with orjson and fills class, attributes, components and payload. Validation then checks the
manifest's sets. Every error is a `StoreError` naming the file, the line and the object.

A store left by an interrupted `dump_store` is read through its journal (see `rpsrt.store.journal`), so the
loader always sees one consistent generation; loading never writes to the store. The bytes of the manifest and
of every space file are read under the store's shared generation lock (`journal.generation`), which a dump
holds exclusive while it commits: a load running beside a dump reads the old or the new state, never a mix.
Decoding runs after the lock is released.

The hot loops of both passes run in C when `rpsrt.native.loadfast` could be built (docs/store.md, "The C
accelerator"); whatever it is not sure of comes back to this module's Python path, which has the one semantics
and every error message.

Every member is checked for the JSON kind the format expects (an OID, a number, an array, an object, a string);
ints beyond 64 bits (outside int64, RefPerSys's and jsoncpp's range), non-finite mtimes and values nested more
than `MAX_DEPTH` levels (checked on the text, before Python's json decoder recurses) are refused. Bad input is a
`StoreError` at its file and line, never another exception.
"""

from __future__ import annotations

import gc
import os
import re
import threading
from bisect import bisect_left
from operator import attrgetter
from typing import Any

import orjson

from rpsrt.errors import StoreError
from rpsrt.model.heap import Heap, Objects
from rpsrt.limits import deep_recursion
from rpsrt.model.objects import _GHOST_FIELDS, PayloadUnknown, RpsObject
from rpsrt.model.oid import Oid, OidError, looks_like_oid
from rpsrt.model.values import VClosure, VInstance, VJson, VRaw, VSet, VTuple
from rpsrt.native import loadfast
from rpsrt.store.describe import _kind, _short
from rpsrt.store.journal import generation, resolve_paths
from rpsrt.store.payloads import LOADERS as _PAYLOADS
from rpsrt.store.jsonfmt import MAX_NESTING, JsonTextError, fast_first_value, first_value

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
_OID = attrgetter("oid")
#: A start line whose id runs on (a 19th alphanumeric after `_`), which is malformed.
_LONG_ID = re.compile(rb"\n//\+ob_[0-9A-Za-z]{19}")


#: Integral floats from orjson at or beyond these bounds may be ints it could not hold (beyond 64 bits): such an
#: object is decoded again exactly (`_Inexact`).
_U64_END = 18446744073709551616.0
_I64_MIN = -9223372036854775808.0
_SURROGATE = re.compile("[\ud800-\udfff]")
#: The int range a store may hold: int64, as jsoncpp reads it and RefPerSys's values hold it.
INT_MIN = -(2**63)
INT_MAX = 2**63 - 1
#: Deepest JSON nesting accepted in one object: orjson takes 1024 levels; deeper goes through Python's json,
#: to `jsonfmt.MAX_NESTING`. rpsc's own deepest code is about 800 levels.
MAX_DEPTH = MAX_NESTING


class _Inexact(Exception):
    """orjson gave a float for what may be an int beyond 64 bits: decode the object again with Python's json."""


def space_path(oid: Oid | str) -> str:
    """The store-relative path of a space's file: `persistore/sp<oid>-rps.json`."""
    return f"persistore/sp{oid}-rps.json"


#: Environment variable that makes `load_store` lazy by default: `1` lazy, `check` lazy and then every object
#: filled through the lazy path before returning (the test suites run with both, docs/store.md).
LAZY_ENV = "RPSRT_LAZY_LOAD"


def default_lazy() -> str:
    """The default of `load_store(lazy=None)`: "" (eager), "1" (lazy) or "check", from `RPSRT_LAZY_LOAD`."""
    v = os.environ.get(LAZY_ENV, "")
    return v if v in ("1", "check") else ""


def load_store(directory: str | os.PathLike[str], *, lock_timeout: float | None = None,
               lazy: bool | None = None) -> Heap:
    """Load the store in `directory` into a new Heap; raise StoreError (with file, line, OID) on bad input.

    The files are read under the store's shared lock: while a dump commits, the load waits for it (saying so
    on stderr after a second), and gives up with `LockTimeout` after `lock_timeout` seconds (None: waits).

    `lazy=True` frames every object (pass 1: the manifest, every prologue, every start line, duplicate and
    malformed OIDs, the manifest's sets) and leaves each object a ghost that is filled on its first touch
    (`RpsObject.ghost`); an error inside an object surfaces when it is touched, or at `heap.materialize()`
    (which `rpsc store check` runs), at its file and line. None: eager unless `RPSRT_LAZY_LOAD` says lazy."""
    mode = ("1" if lazy else "") if lazy is not None else default_lazy()
    # The load allocates only long-lived objects: the cyclic GC would rescan them again and again for nothing.
    top = os.fspath(directory)
    if not os.path.isdir(top):
        why = "it is a file" if os.path.exists(top) else "it does not exist"
        raise StoreError(f"not a store directory ({why})", path=top)
    enabled = gc.isenabled()
    gc.disable()
    loader = _Loader(top, lock_timeout, lazy=bool(mode))
    fast = loader.fast
    if fast is not None:  # the load's new objects in pre-mapped arenas (loadfast.c, "memory for a load")
        fast.arenas(True)
    try:
        with deep_recursion():
            heap = loader.load()
    except RecursionError:  # a value nested too deeply for the checks that walk it: refused where it stands
        raise loader.error(f"a value is nested too deeply (more than {MAX_DEPTH} levels)") from None
    finally:
        if fast is not None:
            fast.arenas(False)
        _age(loader)
        if enabled:
            gc.enable()
    if mode == "check":
        heap.materialize()
    return heap



#: A load that made at least this many objects files them with the oldest generation (`_age`).
AGE_AT = 10_000


def _age(loader: _Loader) -> None:
    """File what the load made with the collector's oldest generation, as if it had survived two collections.

    While the load runs the collector is off, so every object it made is young when it returns: the next
    young collection (at the caller's next allocations) would walk all of them, and the middle one again,
    though a store's objects live as long as their heap (on 1M objects, 0.2 s and then 0.3 s, more with an
    eager load's values). `gc.freeze()` then `gc.unfreeze()` moves every tracked object to the oldest
    generation without walking it (documented: unfreeze puts the frozen objects back "into the oldest
    generation"); they are still collected, by the full collections. The caller's own young objects are
    moved with them. Not done when the process keeps frozen objects of its own (which `unfreeze` would
    release), nor after a small load."""
    if len(loader.by_text) >= AGE_AT and gc.get_freeze_count() == 0:
        gc.freeze()
        gc.unfreeze()


class _Chunks:
    """A space file's bytes seen as `data.split(_START)` would give them, without copying them: chunk 0 is the
    head (header and prologue), chunk i >= 1 the text after the i-th `\n//+ob` separator (its start line's
    rest, its JSON, its end line). Indexing copies one chunk (error paths only); the hot loop reads the file
    through `starts` and `ends` with a memoryview. `starts` and `ends` are lists, or int64 memoryviews of
    the accelerator's offset buffers (`raw`: those buffers, None on the Python path)."""

    __slots__ = ("data", "starts", "ends", "raw")

    def __init__(self, data: bytes, raw: tuple[bytes, bytes] | None = None) -> None:
        self.data = data
        self.raw = raw
        if raw is not None:
            self.starts = memoryview(raw[0]).cast("q")
            self.ends = memoryview(raw[1]).cast("q")
            return
        seps: list[int] = []
        find, append, width = data.find, seps.append, len(_START)
        p = find(_START)
        while p >= 0:
            append(p)
            p = find(_START, p + width)
        self.starts = [0] + [q + width for q in seps]
        self.ends = seps + [len(data)]

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> bytes:
        return self.data[self.starts[i]:self.ends[i]]

    def line_of(self, i: int) -> int:
        """The line of chunk i's first byte."""
        return self.data.count(b"\n", 0, self.starts[i]) + 1


class _Space:
    """One space file during loading: its bytes, where each object starts, and the objects created."""

    __slots__ = ("oid", "rel", "path", "data", "chunks", "objects", "prologue", "header", "format", "loader",
                 "index", "left", "ids", "sorted", "ptrs")

    def __init__(self, oid: Oid, rel: str, path: str, data: bytes) -> None:
        #: A lazy load's loader (None for an eager one), the ghost -> chunk index table (built at the first
        #: fill), and how many ghosts of this space are still unfilled.
        self.loader: _Loader | None = None
        self.index: dict[RpsObject, int] | None = None
        self.left = 0
        #: The accelerator's decoded start-line ids (None on the Python path), and whether they increase
        #: (then a ghost's chunk is found by bisection, without an index table).
        self.ids: bytes | None = None
        self.sorted = False
        #: The accelerator's ghost -> index table of a lazy load whose ghosts are made without their Oid
        #: (`loadfast.create`), else None.
        self.ptrs: bytes | None = None
        self.oid = oid
        self.rel = rel
        self.path = path
        self.data = data
        self.chunks = _Chunks(b"")
        self.objects: list[RpsObject] = []
        self.prologue: dict[str, Any] = {}
        self.header = ""
        self.format = ""

    def line_of_chunk(self, i: int) -> int:
        """The line of chunk i's start line."""
        return self.chunks.line_of(i)

    def last_line(self) -> int:
        return self.line_of_chunk(len(self.chunks) - 1) + self.chunks[-1].count(b"\n")

    def has_end_line(self) -> bool:
        return _has_end_line(self.chunks[-1])

    # The jar of a lazy load's ghosts (RpsObject.ghost): fills one on its first touch.

    def fill(self, obj: RpsObject) -> None:
        self.loader.fill(self, obj)  # type: ignore[union-attr]

    def oid_of(self, obj: RpsObject) -> Oid:
        """The Oid of a ghost made without it (RpsObject.__getattr__), made from its start line and kept."""
        oid = None
        fast = loadfast.module()  # (set up: the ptrs come from it)
        if self.ptrs is not None and fast is not None and self.chunks.raw is not None:
            oid = fast.ghost_oid(self.ptrs, obj, self.chunks.data, self.chunks.raw[0], self.ids)
        if oid is None:
            raise AttributeError("oid")
        return oid  # type: ignore[no-any-return]


class _Loader:
    """State of one load: the heap being built and the OID-text -> object table used to resolve references."""

    def __init__(self, top: str, lock_timeout: float | None = None, lazy: bool = False) -> None:
        self.top = top
        self.lazy = lazy
        #: Serialises the fills of a lazy load (the error location below is the loader's state).
        self.lock = threading.RLock()
        self.lock_timeout = lock_timeout
        self.heap = Heap()
        #: The C accelerator (rpsrt.native.loadfast), or None: the pure-Python path.
        self.fast = loadfast.module()
        #: OID text -> object: a dict, or the accelerator's `IdTable` (get, [], len, as the dict).
        self.by_text: Any = self.fast.IdTable() if self.fast is not None else {}
        self.paths: dict[str, str] = {}
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
        # loadfast.read_fd reads as f.read() does, into pages mapped before the read (not faulted one by one).
        read = (lambda f: self.fast.read_fd(f)) if self.fast is not None else (lambda f: f.read())
        if pending is not None:
            try:
                with open(pending, "rb") as f:
                    return path, read(f)
            except FileNotFoundError:
                pass  # renamed into place since the journal was read
        try:
            with open(path, "rb") as f:
                return path, read(f)
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
        # Read one generation's bytes under the shared lock; decode them after.
        with generation(self.top, shared=True, timeout=self.lock_timeout):
            self.paths = resolve_paths(self.top)
            mpath, mdata = self._read(MANIFEST, "manifest")
            mtext = _decode(mdata, mpath)
            manifest = self._manifest(mtext, mpath)
            space_oids = [self._manifest_oid(text, "spaceset", mpath, mtext) for text in manifest["spaceset"]]
            files = [(soid, space_path(soid), self._read(space_path(soid), "space file",
                                                         (mpath, _text_line(mtext, str(soid)))))
                     for soid in space_oids]
        return self._load(manifest, mpath, mtext, files)

    def _manifest(self, mtext: str, mpath: str) -> dict[str, Any]:
        """The manifest's JSON object, its format and its arrays checked."""
        try:
            manifest = fast_first_value(mtext)
        except JsonTextError as exc:
            raise StoreError(exc.message, path=mpath, line=exc.line) from None
        if type(manifest) is not dict:
            raise StoreError("the manifest is not a JSON object", path=mpath, line=_json_line(mtext))
        self.heap.headers[MANIFEST] = mtext[: _json_start(mtext)]
        fmt = manifest.get("format")
        if fmt not in FORMATS:
            raise StoreError(f"unknown store format {_short(fmt)} (rpsc reads {', '.join(FORMATS)})", path=mpath,
                             line=_key_line(mtext, "format"))
        for key in ("spaceset", "globalroots"):
            if key not in manifest:
                raise StoreError(f"the manifest lacks its {key!r} array", path=mpath, line=_json_line(mtext))
        for key in ("spaceset", "globalroots", "constset", "plugins", "globalnames"):
            if key in manifest and type(manifest[key]) is not list:
                raise StoreError(f"manifest member {key!r} is not an array (it is {_kind(manifest[key])})",
                                 path=mpath, line=_key_line(mtext, key))
        # The sets are checked as object ids later; what else the manifest holds is kept verbatim.
        bad = _plain_problem([v for k, v in manifest.items() if k not in MANIFEST_SETS])
        if bad is not None:
            raise StoreError(f"manifest: {bad[0]}", path=mpath, line=_raw_line(mtext, bad[1]))
        return manifest

    def _load(self, manifest: dict[str, Any], mpath: str, mtext: str,
              files: list[tuple[Oid, str, tuple[str, bytes]]]) -> Heap:
        # Pass 1: every space's framing; one empty object per OID.
        spaces = []
        for soid, rel, (path, data) in files:
            sp = _Space(soid, rel, path, data)
            self._frame(sp)
            spaces.append(sp)
        heap = self.heap
        for sp in spaces:
            space_obj = self.by_text.get(str(sp.oid))
            if space_obj is None:
                raise StoreError(f"space object {sp.oid} is in no space file", path=mpath,
                                 line=_text_line(mtext, str(sp.oid)))
            if self.fast is not None:
                self.fast.set_all(sp.objects, "space", space_obj)
            else:
                for obj in sp.objects:
                    obj.space = space_obj
            heap.spaces.add(space_obj)
            heap.prologues[sp.oid] = sp.prologue
            heap.headers[sp.rel] = sp.header

        # Pass 2: fill every object (a lazy load fills each on its first touch).
        if self.lazy:
            for sp in spaces:
                sp.loader = self
                sp.left = len(sp.objects)
            heap.jars.append(self)
            if self.fast is not None:  # no Oid -> object dict until it is read (Heap.__getattr__)
                del heap.objects
                heap._index = self
        else:
            for sp in spaces:
                self._fill_space(sp)
        self.space = None

        # Manifest sets, then validation.
        for key, target in (("globalroots", heap.roots), ("constset", heap.constants), ("plugins", heap.plugins)):
            items = manifest.get(key, [])
            if self.fast is not None:  # all at once; on an unknown one, the loop below says why
                bad = self.fast.resolve(self.by_text, items, target)
                if bad < 0:
                    continue
                items = items[bad:]
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
            raise StoreError(f"{key} holds {_short(text)}, not an object id", path=mpath, line=_key_line(mtext, key))
        try:
            return Oid.parse(text)
        except OidError as exc:
            raise StoreError(f"{key}: {exc}", path=mpath, line=_text_line(mtext, text)) from None

    # -- pass 1 -----------------------------------------------------------------------------------------------

    def _frame(self, sp: _Space) -> None:
        """Split a space file at its start lines, check its prologue, and create its objects."""
        data = sp.data
        scanned = self.fast.scan(data) if self.fast is not None else None
        if scanned is not None:  # every start line's id is valid (else the Python path frames the file)
            sp.chunks = chunks = _Chunks(data, scanned[:2])
            sp.ids, sp.sorted = scanned[2], scanned[3]
            long_id = None
        else:
            chunks = sp.chunks = _Chunks(data)  # offsets into the file's bytes: no copy
            m = _LONG_ID.search(data)
            long_id = None if m is None else data.count(_START, 0, m.start() + len(_START))
        head = chunks[0]
        sp.data = b""  # the chunks hold the bytes
        first_line = data[chunks.starts[1]:data.find(b"\n", chunks.starts[1])] if len(chunks) > 1 else b""
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
            raise StoreError(f"unknown space format {_short(fmt)} (rpsc reads {', '.join(FORMATS)})", path=sp.path,
                             line=_key_line(prologue_text, "format"))
        if prologue.get("spaceid") != str(sp.oid):
            raise StoreError(f"prologue spaceid {_short(prologue.get('spaceid'))} is not the file's space {sp.oid}",
                             path=sp.path, line=_key_line(prologue_text, "spaceid"))
        nb = len(chunks) - 1
        count = prologue.get("nbobjects")
        if type(count) is not int:
            raise StoreError(f"prologue member nbobjects is {_kind(count)}, not an integer", path=sp.path,
                             line=_key_line(prologue_text, "nbobjects"))
        if count != nb:
            if not sp.has_end_line():
                raise StoreError(f"truncated file: it stops after {nb} of its {_short(count)} objects, "
                                 "without its `//// end of` line", path=sp.path, line=sp.last_line())
            raise StoreError(f"prologue says nbobjects {_short(count)} but the file holds {nb} objects",
                             path=sp.path, line=_key_line(prologue_text, "nbobjects"))
        bad = _plain_problem(prologue)
        if bad is not None:
            raise StoreError(f"space prologue: {bad[0]}", path=sp.path, line=_raw_line(prologue_text, bad[1]))
        sp.prologue = {k: v for k, v in prologue.items() if k not in PROLOGUE_KEYS}
        sp.format = fmt
        try:
            self._create(sp, chunks, nb)
            if long_id is not None:
                self.space, self.index = sp, long_id
                raise self.error(f"start line: malformed object id {chunks[long_id][:20].decode()}...")
        except OidError as exc:
            for i in range(1, len(chunks)):
                try:
                    Oid.parse(chunks[i][:19].decode("ascii", "replace"))
                except OidError as exc2:
                    self.space, self.index = sp, i
                    raise self.error(f"start line: {exc2}") from None
            raise self.error(f"start line: {exc}") from None

    def _create(self, sp: _Space, chunks: _Chunks, nb: int) -> None:
        by_text = self.by_text
        n_before = len(by_text)
        # map() and zip() keep the per-object work in C where they can.
        data = chunks.data
        if sp.ids is not None:  # the accelerator: ids decoded by scan, objects made and entered in C
            # A lazy load enters its ghosts in no dict: `heap.objects` is made on its first read (enter_objects).
            out, sp.ptrs = self.fast.create(data, chunks.raw[0], sp.ids, sp if self.lazy else None, by_text,
                                            None if self.lazy else self.heap.objects)
            sp.objects = out
        else:
            oids = Oid.parse_many(b"".join([data[p:p + 19] for p in chunks.starts[1:]]))  # all at once
            texts = [o[2] for o in oids]
            if self.lazy:
                ghost = RpsObject.ghost
                out = sp.objects = [ghost(o, sp) for o in oids]
            else:
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

    # -- lazy loading: the ghosts' jar ---------------------------------------------------------------------------

    def fill(self, sp: _Space, ghost: RpsObject) -> None:
        """Fill one ghost of space `sp`: decode its text into a scratch object, then set each field of the
        ghost that was not assigned since the load. A bad object raises StoreError (file, line, OID) and
        stays a ghost, so every touch says it again."""
        with self.lock:
            if ghost._jar is None:  # filled meanwhile by another thread
                return
            i = self._chunk_of(sp, ghost)
            scratch = RpsObject(ghost.oid)
            enabled = gc.isenabled()
            gc.disable()
            try:
                with deep_recursion():
                    self._fill_space(sp, ((i, scratch),))
            except RecursionError:
                raise self.error(f"a value is nested too deeply (more than {MAX_DEPTH} levels)") from None
            finally:
                self.space = None
                if enabled:
                    gc.enable()
            get = object.__getattribute__
            for name in _GHOST_FIELDS:
                try:
                    get(ghost, name)  # assigned before the first read: that value wins
                except AttributeError:
                    setattr(ghost, name, getattr(scratch, name))
            ghost._jar = None
            sp.left -= 1

    # -- lazy loading: the heap's index until `heap.objects` is made ------------------------------------------

    def enter_objects(self, heap: Heap) -> None:
        """Make `heap.objects` (every object, in file order, as an eager load enters them) on its first read."""
        with self.lock:
            if heap._index is None:  # made meanwhile by another thread
                return
            objects = Objects()
            for sp in self.framed:
                if sp.ptrs is not None:  # its ghosts' Oids, made now
                    self.fast.ghost_oids(sp.objects, sp.chunks.data, sp.chunks.raw[0], sp.ids)
                dict.update(objects, zip(map(_OID, sp.objects), sp.objects))
            heap.objects = objects
            heap._index = None

    def find(self, oid: Oid) -> RpsObject | None:
        """`heap.objects.get(oid)` before `heap.objects` is made."""
        return self.by_text.get(oid[2])  # type: ignore[no-any-return]

    def count(self) -> int:
        """`len(heap.objects)` before `heap.objects` is made."""
        return len(self.by_text)

    def _chunk_of(self, sp: _Space, ghost: RpsObject) -> int:
        """The chunk index of one of `sp`'s ghosts: by bisection when the file's ids increase (no table),
        else from an object -> index table built at the first fill."""
        if sp.ptrs is not None:
            k = self.fast.ghost_index(sp.ptrs, ghost)
            if k >= 0:
                return k + 1
        objects = sp.objects
        if sp.sorted:
            k = bisect_left(objects, ghost)
            if k < len(objects) and objects[k] is ghost:
                return k + 1
        index = sp.index
        if index is None:
            index = sp.index = {o: i for i, o in enumerate(objects, 1)}
        return index[ghost]

    def fill_all(self) -> None:
        """Fill every ghost still unfilled, in file order (the first bad object raises)."""
        for sp in self.framed:
            if sp.left:
                for obj in sp.objects:
                    if obj._jar is not None:
                        self.fill(sp, obj)

    def pending(self) -> bool:
        return any(sp.left for sp in self.framed)

    def _fill_space(self, sp: _Space, items: Any = None) -> None:
        """Decode and fill objects of a space file: `items` pairs each chunk index with the object to fill
        (None: every object of the file, in order).
        With the accelerator, runs of consecutive chunks go to its `fill`, which hands every object it is not
        sure of to the Python path (`_fill_py`) as it meets it, so errors come in file order as they would."""
        fast = self.fast
        if fast is None or sp.chunks.raw is None:
            self._fill_py(sp, enumerate(sp.objects, 1) if items is None else items)
            return
        self.space = sp
        starts, ends = sp.chunks.raw
        data = sp.chunks.data
        old = sp.format == "RefPerSysFormat2019A"

        def slow(i: int, obj: RpsObject) -> None:
            self._fill_py(sp, ((i, obj),))

        if items is None:
            fast.fill(data, starts, ends, sp.objects, 1, self.by_text, orjson.loads, slow, old)
        else:
            for i, obj in items:
                fast.fill(data, starts, ends, [obj], i, self.by_text, orjson.loads, slow, old)
        self.space = sp

    def _fill_py(self, sp: _Space, items: Any) -> None:
        """The Python path of `_fill_space` (the hot loop of loading without the accelerator, kept flat on
        purpose): the one semantics, every error message."""
        self.space = sp
        chunks = sp.chunks
        data, starts, ends = chunks.data, chunks.starts, chunks.ends
        view = memoryview(data)  # orjson parses a slice of it in place
        find = data.find
        loads = orjson.loads
        decode_error = orjson.JSONDecodeError
        by_text = self.by_text
        get = by_text.get
        val = self.value
        rest = self._rest
        old = sp.format == "RefPerSysFormat2019A"
        imax, imin = INT_MAX, INT_MIN
        for i, obj in items:
            self.index = i  # where errors point, also those raised deep inside `value`
            base, limit = starts[i], ends[i]
            try:
                start = find(b"\n{", base, limit)
                end = find(b"\n}", start, limit) if start >= 0 else -1
                try:
                    if end < 0:
                        raise decode_error("no object text", "", 0)
                    d = loads(view[start + 1:end + 2])
                except decode_error:
                    self.index = i
                    d = self._slow_json(chunks[i])
                if type(d) is not dict:
                    self.index = i
                    d = self._slow_json(chunks[i])
                pop = d.pop
                if pop("oid", None) != obj.oid[2]:
                    self.index = i
                    raise self.error(f"object member oid differs from its start line {obj.oid}", '"oid"')
                mtime = pop("mtime", 0.0)
                if type(mtime) is not float or old:  # (orjson gives no inf: _slow_json checks its own)
                    self.index = i
                    obj.mtime = self._mtime(mtime)
                else:
                    obj.mtime = mtime
                ctext = pop("class", None)
                try:
                    cls = get(ctext)
                except TypeError:  # an array or an object: refused just below
                    cls = None
                if cls is None:
                    self.index = i
                    cls = self._no_class(obj) if ctext is None else self.ref(ctext, "class")
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
                            elif t is int:
                                if v > imax or v < imin:
                                    v = val(v)
                            elif v is not None:
                                v = val(v)
                            ad[by_text[e["at"]]] = v
                    except (KeyError, TypeError, StoreError):
                        self.index = i
                        self._attrs(obj, attrs)
                elif attrs is not None and type(attrs) is not list:
                    self.index = i
                    self._attrs(obj, attrs)
                if d:
                    self.index = i
                    rest(obj, d)
            except _Inexact:
                self.index = i
                self._fill_exact(obj, chunks[i], old)

    def _fill_exact(self, obj: RpsObject, chunk: bytes, old: bool) -> None:
        """Decode one object again with Python's json, whose ints are exact beyond 64 bits."""
        self.exact = True
        try:
            d = self._slow_json(chunk)
            d.pop("oid", None)
            mtime = d.pop("mtime", 0.0)
            obj.mtime = self._mtime(mtime)
            obj.cls = self.ref(d.pop("class"), "class") if "class" in d else self._no_class(obj)
            obj.attrs.clear()
            attrs = d.pop("attrs", None)
            if attrs is not None:
                self._attrs(obj, attrs)
            if d:
                self._rest(obj, d)
        finally:
            self.exact = False

    def _mtime(self, mtime: Any) -> float:
        if type(mtime) is not float:
            if type(mtime) is not int:
                raise self.error(f"mtime is {_kind(mtime)}, not a number", '"mtime"')
            if not INT_MIN <= mtime <= INT_MAX:
                raise self.error(f"mtime {_short(mtime)} is beyond 64 bits", '"mtime"')
            mtime = float(mtime)
        if not -1e300 < mtime < 1e300:
            raise self.error(f"mtime {mtime!r} is not a time (seconds since 1970)", '"mtime"')
        return round(mtime, 2)

    def _no_class(self, obj: RpsObject) -> RpsObject:
        raise self.error(f"object {obj.oid} has no class")

    def _attrs(self, obj: RpsObject, attrs: Any) -> None:
        if type(attrs) is not list:
            raise self.error("attrs is not an array", '"attrs"')
        ad = obj.attrs
        for e in attrs:
            if type(e) is not dict or "at" not in e or "va" not in e:
                raise self.error(f"bad attribute entry {_short(e)} (expected {{\"at\": oid, \"va\": value}})",
                                 '"attrs"') from None
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
        mtime = value.get("mtime")
        if type(mtime) is float and not -1e300 < mtime < 1e300:  # Python's json reads 1e999 as inf
            raise self.error(f"mtime {mtime!r} is not a time (seconds since 1970)", '"mtime"')
        bad = _lone_surrogate(value)
        if bad is not None:
            raise self.error(f"string {bad[:40]!r} holds a lone surrogate (a \\udXXX escape without its pair), "
                             "which is not Unicode text")
        return value

    def _rest(self, obj: RpsObject, d: dict[str, Any]) -> None:
        """Fill what follows class and attributes: components, flags, payload; keep unknown members."""
        comps = d.pop("comps", None)
        if comps is not None:
            if type(comps) is not list:
                raise self.error(f"comps is {_kind(comps)}, not an array", '"comps"')
            val = self.value
            obj.comps = [val(v) for v in comps]
        if "magicattr" in d or "applying" in d:
            self._flags(obj, d)
        kind = d.pop("payload", None)
        if kind is not None:
            try:
                loader = _PAYLOADS.get(kind)
            except TypeError:  # an array or an object
                loader = None
            if loader is None:
                if type(kind) is not str:
                    raise self.error(f"payload is {_kind(kind)}, not the name of a payload kind", '"payload"')
                obj.payload = self.unknown_payload(kind, d)
            else:
                try:
                    obj.payload = loader(self, d)
                except StoreError:
                    raise
                except (KeyError, TypeError, AttributeError, ValueError):
                    raise self.error(f"bad {kind} payload: a member is missing or of the wrong JSON kind",
                                     '"payload"') from None
        if d:
            obj.extra = self.plain(d)

    def _flags(self, obj: RpsObject, d: dict[str, Any]) -> None:
        for flag in ("magicattr", "applying"):
            if flag in d:
                on = d.pop(flag)
                if type(on) is not bool:
                    raise self.error(f"{flag} is {_kind(on)}, not true or false", f'"{flag}"')
                if on:
                    setattr(obj, flag, True)

    def unknown_payload(self, kind: str, d: dict[str, Any]) -> PayloadUnknown:
        members = {k: d.pop(k) for k in list(d) if k not in _OBJECT_LEVEL}
        return PayloadUnknown(kind, self.plain(members))

    def plain(self, v: Any) -> Any:
        """`v`, JSON kept verbatim, once checked: no int beyond 64 bits, no nesting beyond MAX_DEPTH."""
        t = type(v)
        if t is str or t is bool or v is None or t is float:
            return v
        bad = _plain_problem(v)
        if bad is not None:
            raise self.error(bad[0], bad[1])
        return v

    # -- values -----------------------------------------------------------------------------------------------

    def ref(self, text: Any, what: str) -> RpsObject:
        """The object named by an OID text; StoreError when it is malformed or unknown."""
        obj = self.by_text.get(text) if type(text) is str else None
        if obj is not None:
            return obj
        if type(text) is not str:
            raise self.error(f"{what} {_short(text)} is not an object id", f'"{what}"')
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
        if t is int:
            if v > INT_MAX or v < INT_MIN:
                raise self.error(f"integer {_short(v)} is beyond 64 bits (a store holds int64 values)",
                                 str(v)[:12])
            return v
        if v is None:
            return v
        if t is float:
            if (v >= _U64_END or v <= _I64_MIN) and not self.exact and v.is_integer():
                raise _Inexact
            return v
        if t is dict:
            return self.composite(v)
        return VRaw(self.plain(v))

    def int_or_none(self, v: Any, what: str) -> int | None:
        """An int member (metarank, ...): None or an int64."""
        if v is None or (type(v) is int and INT_MIN <= v <= INT_MAX):
            return v
        raise self.error(f"{what} is {_kind(v)}, not a 64-bit integer", f'"{what}"')

    def array(self, v: Any, what: str) -> list[Any]:
        if type(v) is not list:
            raise self.error(f"{what} is {_kind(v)}, not an array", f'"{what}"')
        return v

    def composite(self, d: dict[str, Any]) -> Any:
        vtype = d.get("vtype")
        n = len(d)
        if vtype is None:
            if n == 1:
                s = d.get("string", d.get("str"))
                if type(s) is str:
                    return s
            return VRaw(self.plain(d))
        val = self.value
        if vtype == "closure":
            if "fn" not in d:
                raise self.error("closure value lacks fn", '"closure"')
            fn = self.ref(d["fn"], "closure function")
            env = self.array(d.get("env", []), "env")
            rank = self.int_or_none(d.get("metarank"), "metarank")
            return VClosure(fn, [val(x) for x in env], self.opt_ref(d.get("metaobj"), "closure meta object"),
                            rank)
        if vtype == "set":
            elems = self.array(d.get("elem", []), "elem")
            return VSet([self.ref(x, "set element") for x in elems])
        if vtype == "tuple":
            comps = self.array(d.get("comp", d.get("elem", [])), "comp")
            return VTuple([self.opt_ref(x, "tuple component") for x in comps])
        if vtype == "instance":
            if "iclass" not in d and "class" not in d:
                raise self.error("instance value lacks iclass", '"instance"')
            cls = self.ref(d.get("iclass", d.get("class")), "instance class")
            iattrs = self.array(d.get("iattrs", []), "iattrs")
            attrs = []
            for e in iattrs:
                if type(e) is not dict:
                    raise self.error(f"bad instance attribute {_short(e)} (expected {{\"iat\": oid, \"iva\": "
                                     "value})", '"iattrs"')
                attrs.append((self.ref(e.get("iat"), "instance attribute"), val(e.get("iva"))))
            comps = self.array(d.get("icomps", []), "icomps")
            return VInstance(cls, attrs, [val(x) for x in comps],
                             self.opt_ref(d.get("metaobj"), "instance meta object"),
                             self.int_or_none(d.get("metarank"), "metarank"))
        if vtype == "json":
            return VJson(self.plain(d.get("json")))
        return VRaw(self.plain(d))


# -- text helpers ----------------------------------------------------------------------------------------------


def _plain_problem(v: Any) -> tuple[str, str | None] | None:
    """What is wrong in decoded JSON kept verbatim (an int beyond int64), as a message and a text to look for
    (its line); None when it is fine. Walks without recursion. (Nesting is bounded before decoding.)"""
    stack = [v]
    while stack:
        x = stack.pop()
        t = type(x)
        if t is int:
            if x > INT_MAX or x < INT_MIN:
                return f"integer {_short(x)} is beyond 64 bits (a store holds int64 values)", str(x)[:12]
        elif t is list:
            stack.extend(y for y in x if type(y) is not str)
        elif t is dict:
            stack.extend(y for y in x.values() if type(y) is not str)
    return None


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
    """Offset of the first line that starts a JSON value (the text before it is the header).

    Lines are split as `str.splitlines` splits them. The header is short and the text may be a manifest of
    megabytes: the first 4 kB are split first, and a line found there before the last one of that prefix is
    where the whole text's split puts it too (every line before it ends inside the prefix)."""
    for prefix in (text[:4096], text) if len(text) > 4096 else (text,):
        pos = 0
        lines = prefix.splitlines(keepends=True)
        last = len(lines) - 1 if prefix is not text else len(lines)
        for k, line in enumerate(lines):
            if k == last:
                break
            s = line.lstrip()
            if s and not s.startswith("//") and not s.startswith("#"):
                return pos
            pos += len(line)
        if prefix is text:
            return pos
    return 0  # pragma: no cover -- the loop returns on its last prefix, the whole text


def _json_line(text: str) -> int:
    return text.count("\n", 0, _json_start(text)) + 1


def _text_line(text: str, needle: str) -> int:
    pos = text.find(f'"{needle}"')
    return text.count("\n", 0, pos) + 1 if pos >= 0 else _json_line(text)


def _raw_line(text: str, needle: str | None) -> int:
    """The line of `needle`'s first occurrence after the header (of the JSON start when absent)."""
    start = _json_start(text)
    pos = text.find(needle, start) if needle else -1
    return text.count("\n", 0, pos) + 1 if pos >= 0 else _json_line(text)


def _key_line(text: str, key: str) -> int:
    return _text_line(text, key)
