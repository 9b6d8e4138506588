"""`rpsc run`'s warm-start index: per store, keyed by the store's state, each function's native code.

When `rpsc run` has JIT-compiled a function of a store (the slow path: load the store, rebuild the IR, get
the object code from the JIT cache or compile it), `runrecord.record` links the object code of the modules
that the engine loaded into one shared library with the system's `cc` (`cc -shared`, beside a small object
of LLVM's defining `rps_rt` and `rps_rt_key`, the two symbols the JIT otherwise maps onto its own state),
and writes an index for the store:

    <cache>/run/store-<dev>-<ino>.json     (the store directory's device and inode)
    <cache>/run/lib-<sha256 of the object keys>.so

The index holds the store's state (size, mtime_ns, ctime_ns and inode of the manifest and of every space
file), what the code depends on besides (`environment()`: this format, rpsc's version, the backend's
`CODEGEN_VERSION`, the layout of `rps_rt`, the host and its CPU; and the llvmlite installed, by the stat of
its package file),
every function of the store (name, module, symbol: names resolve as `rpsc.backends.engine.resolve_function`
resolves them, ambiguity included), and for the compiled ones their signature and their library (with its
size, mtime_ns and inode).

`lookup` is the warm path's half: it reads the index, recomputes the store's state and the environment
(`stat` calls, /proc/cpuinfo, no hashing) and gives the function's row only when everything matches; any
doubt gives None and `rpsc run` takes its slow path. This module imports only `os` and `json` (the writer,
`rpsc.backends.llvm.runrecord`, is another module), so that the warm path loads neither the store, nor the
AST or IR modules, nor llvmlite.

Staleness: every dump writes a changed file through a new temporary renamed into place (a new inode; the
old one lives on as the `~` backup) and a dump in progress leaves its journal in the store, which makes the
index unusable until the dump has finished. An edit by hand changes the size, the mtime or the ctime.
`runrecord.record` stats the store before the slow path loads it and again after the call: it writes nothing
unless both are equal, so the index never pairs a state with the code of another.
"""

from __future__ import annotations

import json
import os

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from typing import Any

#: The version of the index's layout (part of `environment()`).
FORMAT = 1
#: The folder of the cache holding the indexes and their libraries.
INDEX_DIR = "run"
#: The store's manifest and its dump journal (rpsrt.store.journal.JOURNAL; a test checks they agree).
MANIFEST = "rps_manifest.json"
JOURNAL = "rpsc-dump-journal.json"
#: The ABI codes of what the warm path can pass and return (version-1 scalars).
SCALARS = ("i64", "f64", "bool")

_CPU_KEYS = {"vendor_id", "cpu family", "model", "model name", "stepping", "flags", "Features",
             "CPU implementer", "CPU architecture", "CPU variant", "CPU part", "CPU revision", "isa", "uarch"}


def store_state(store: str) -> list[list[Any]] | None:
    """The state of a store: `[name, size, mtime_ns, ctime_ns, inode]` of its manifest and of every
    `persistore/*.json`, in name order; None when there is no manifest or a dump's journal is present."""
    try:
        st = os.stat(os.path.join(store, MANIFEST))
        out: list[list[Any]] = [[MANIFEST, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]]
        pdir = os.path.join(store, "persistore")
        try:
            names = sorted(n for n in os.listdir(pdir) if n.endswith(".json") and not n.startswith("."))
        except FileNotFoundError:
            names = []
        for name in names:
            st = os.stat(os.path.join(pdir, name))
            out.append(["persistore/" + name, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino])
    except OSError:
        return None
    if os.path.lexists(os.path.join(store, JOURNAL)):
        return None
    return out


def _cpu() -> str:
    """The first processor's identity in /proc/cpuinfo (model and feature flags), or ""."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return ""
    keep = []
    for line in text.split("\n"):
        if not line.strip():
            if keep:
                break
            continue
        key = line.partition(":")[0].strip()
        if key in _CPU_KEYS:
            keep.append(line.strip())
    return "\n".join(keep)


#: The version of the libraries' layout (the objects, the state object, the link flags).
LINK_VERSION = "rpsc-run-lib-1"


def environment() -> list[Any]:
    """What the native code depends on besides the store (see the module docstring), llvmlite aside: this
    index's and the libraries' formats, rpsc's and the code generator's versions, the layout of `rps_rt`,
    the host and its CPU."""
    from rpsc import __version__
    from rpsc.backends.llvm import CODEGEN_VERSION
    from rpsrt.abi import RT_LLVM_TYPE

    u = os.uname()
    return [FORMAT, LINK_VERSION, __version__, CODEGEN_VERSION, RT_LLVM_TYPE, u.sysname, u.nodename, u.machine,
            _cpu()]


def file_stamp(path: str) -> list[int] | None:
    """`[size, mtime_ns, inode]` of a file, or None."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def index_path(cache_dir: str, store: str) -> str | None:
    """The index file of `store` in `cache_dir` (named by the store folder's device and inode), or None
    when the store folder cannot be stat'ed."""
    try:
        st = os.stat(store)
    except OSError:
        return None
    return os.path.join(cache_dir, INDEX_DIR, f"store-{st.st_dev}-{st.st_ino}.json")


def _read(path: str) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read())
    except (OSError, ValueError):   # missing, unreadable, not JSON (UnicodeDecodeError is a ValueError)
        return None
    return doc if isinstance(doc, dict) else None


def _valid(doc: dict[str, Any], state: list[list[Any]] | None) -> bool:
    """Whether an index document is well formed and describes the store in `state` here and now."""
    if state is None or doc.get("format") != FORMAT or doc.get("state") != state:
        return False
    if doc.get("environment") != environment():
        return False
    llvm = doc.get("llvmlite")
    if not (isinstance(llvm, list) and len(llvm) == 2 and isinstance(llvm[0], str)
            and file_stamp(llvm[0]) == llvm[1]):
        return False
    return isinstance(doc.get("functions"), list) and isinstance(doc.get("libraries"), list)


def lookup(cache_dir: str, store: str, fn: str) -> dict[str, Any] | None:
    """The warm path's row for function `fn` of `store` (`name`, `module.name` or `rpsfn_<oid>`, resolved
    as `resolve_function` resolves it), or None when anything is in doubt: no index, a corrupt one, another
    store state or environment, a name that does not resolve to exactly one function, a function without
    native code, a library gone or changed. The row: `name`, `module`, `symbol`, `module_oid`, `params`,
    `ret` (ABI codes) and `library` (a path)."""
    path = index_path(cache_dir, store)
    doc = _read(path) if path is not None else None
    if doc is None or not _valid(doc, store_state(store)):
        return None
    rows = [r for r in doc["functions"] if isinstance(r, dict)]
    try:
        if fn.startswith("rpsfn_"):
            found = [r for r in rows if r["symbol"] == fn]
        elif "." in fn:
            mname, _, fname = fn.rpartition(".")
            found = [r for r in rows if r["module"] == mname and r["name"] == fname]
        else:
            found = [r for r in rows if r["name"] == fn]
        if len(found) != 1:
            return None
        row = found[0]
        lib = row.get("library")
        if lib is None:
            return None
        libraries = doc["libraries"]
        if not (type(lib) is int and 0 <= lib < len(libraries)):
            return None
        lpath, lstamp = libraries[lib]
        if not isinstance(lpath, str) or file_stamp(lpath) != lstamp:
            return None
        params, ret = row["params"], row["ret"]
        if not (isinstance(params, list) and all(p in SCALARS for p in params)
                and (ret in SCALARS or ret == "void")):
            return None
        if not all(isinstance(row[k], str) for k in ("name", "module", "symbol", "module_oid", "ref_name")):
            return None
    except (KeyError, TypeError, ValueError):
        return None
    return {**row, "library": lpath}
