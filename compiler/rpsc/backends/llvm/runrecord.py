"""The writer of `rpsc run`'s warm-start index (`rpsc.backends.llvm.runindex`, which describes it): after a
JIT run, link the cached object code of the modules the engine loaded into a shared library with `cc`,
and record the library and the functions in the store's index. Imported by the slow path only.
"""

from __future__ import annotations

import json
import os
from typing import Any

from rpsc.backends.llvm.runindex import (
    FORMAT,
    INDEX_DIR,
    LINK_VERSION,
    SCALARS,
    _read,
    _valid,
    environment,
    file_stamp,
    index_path,
    store_state,
)


def record(cache_dir: str, store: str, state: list[list[Any]] | None, modules: list[Any], engine: Any) -> bool:
    """After a JIT run of `rpsc run` over the store's `modules` (typed IR), with the store in `state`
    before its load: link the object code of every module `engine` (a `JitEngine` with a cache) loaded
    into one library and add its functions to the store's index. Writes nothing, and returns False, when
    the store changed meanwhile, an object is missing from the cache, or linking fails. Errors of the
    file system or of `cc` are not errors of the run: they return False."""
    try:
        return _record(cache_dir, store, state, modules, engine)
    except Exception:  # noqa: BLE001 - an index that cannot be written is no error of the run
        return False


def _record(cache_dir: str, store: str, state: list[list[Any]] | None, modules: list[Any], engine: Any) -> bool:
    import llvmlite

    if state is None or engine.cache is None or store_state(store) != state:
        return False
    path = index_path(cache_dir, store)
    if path is None:
        return False
    loaded = [m for m in modules if m.oid in engine._loaded]
    keys = {m.oid: engine.object_keys.get(m.oid) for m in loaded}
    if not loaded or any(k is None for k in keys.values()):
        return False
    llvm_file = os.path.abspath(llvmlite.__file__)
    env = environment()
    doc = _read(path)
    if (doc is None or not _valid(doc, state) or not _well_formed(doc)
            or doc.get("llvmlite") != [llvm_file, file_stamp(llvm_file)]):
        doc = {"format": FORMAT, "store": os.path.abspath(store), "state": state, "environment": env,
               "llvmlite": [llvm_file, file_stamp(llvm_file)], "functions": [], "libraries": []}
    rows: list[dict[str, Any]] = doc["functions"]
    libraries = doc["libraries"]
    for r in rows:  # a library removed or changed since: its functions are linked again
        lib = r["library"]
        if lib is not None and file_stamp(libraries[lib][0]) != libraries[lib][1]:
            r["library"] = None
    known = {r["symbol"]: r for r in rows}
    if not rows:  # every function of the store, for name resolution (a name may be ambiguous)
        for m in modules:
            for f in m.functions:
                row = {"name": f.name, "module": m.name, "symbol": f.ref.symbol, "module_oid": f.ref.module_oid,
                       "ref_name": f.ref.name, "params": [t.abi for t in f.ref.params], "ret": f.ref.ret.abi,
                       "library": None}
                rows.append(row)
                known[f.ref.symbol] = row
    found = [known.get(f.ref.symbol) for m in loaded for f in m.functions]
    todo = [r for r in found if r is not None]
    if len(todo) != len(found):
        return False
    if all(r["library"] is not None for r in todo):
        return True
    lib = _link(os.path.join(cache_dir, INDEX_DIR), [keys[m.oid] for m in loaded], engine)  # type: ignore[misc]
    if lib is None:
        return False
    libraries.append([lib, file_stamp(lib)])
    for r in todo:
        if all(p in SCALARS for p in r["params"]) and (r["ret"] in SCALARS or r["ret"] == "void"):
            r["library"] = len(libraries) - 1
    if store_state(store) != state:   # the store changed while we linked: its index would lie
        return False
    from pathlib import Path

    from rpsc.backends.llvm.cache import write_atomic

    write_atomic(Path(path), json.dumps(doc, separators=(",", ":")).encode())
    return True


_ROW_TEXTS = ("name", "module", "symbol", "module_oid", "ref_name", "ret")


def _well_formed(doc: dict[str, Any]) -> bool:
    """Whether every row and library of a (valid) index has its members, of their types."""
    libraries = doc["libraries"]
    if not all(isinstance(x, list) and len(x) == 2 and isinstance(x[0], str) for x in libraries):
        return False
    for r in doc["functions"]:
        if not (isinstance(r, dict) and all(isinstance(r.get(k), str) for k in _ROW_TEXTS)
                and isinstance(r.get("params"), list) and all(isinstance(p, str) for p in r["params"])):
            return False
        lib = r.get("library")
        if lib is not None and (type(lib) is not int or not 0 <= lib < len(libraries)):
            return False
    return True


def _link(folder: str, keys: list[str], engine: Any) -> str | None:
    """The library linking the cached objects `keys` (made once: named by a digest of the keys), or None
    when an object is missing from the cache or `cc` fails."""
    import hashlib
    import shlex
    import subprocess
    import tempfile

    digest = hashlib.sha256("\0".join([LINK_VERSION, *sorted(keys)]).encode()).hexdigest()
    lib = os.path.join(folder, f"lib-{digest}.so")
    if os.path.isfile(lib) and _loads(lib):
        return lib   # the same objects linked before (for another state of this store, or another store)
    blobs = [engine.cache.get(k) for k in keys]
    if any(b is None for b in blobs):
        return None
    cc = shlex.split(os.environ.get("CC") or "cc")
    with tempfile.TemporaryDirectory(prefix="rpsc-link-") as tmp:
        objs = []
        for i, blob in enumerate([*blobs, _state_object()]):
            obj = os.path.join(tmp, f"m{i}.o")
            with open(obj, "wb") as f:
                f.write(blob)  # type: ignore[arg-type]
            objs.append(obj)
        out = os.path.join(tmp, "lib.so")
        proc = subprocess.run([*cc, "-shared", "-fPIC", "-Wl,-Bsymbolic", "-o", out, *objs, "-lm"],
                              capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
        if proc.returncode != 0:
            return None
        with open(out, "rb") as f:
            data = f.read()
    from pathlib import Path

    from rpsc.backends.llvm.cache import write_atomic

    write_atomic(Path(lib), data)   # a temporary `.lib-....tmp` beside it, renamed (`rpsc cache prune` knows it)
    return lib


def _loads(lib: str) -> bool:
    """Whether a library made before still loads and defines the state (else it is linked again)."""
    import ctypes

    from rpsrt import abi

    try:
        ctypes.c_uint.in_dll(ctypes.CDLL(lib), abi.RT_KEY_SYMBOL)
    except (OSError, ValueError):
        return False
    return True


def _state_object() -> bytes:
    """An object file defining the two symbols the JIT maps onto its own state: `rps_rt` (a zeroed
    `struct rps_rt`, rpsrt.abi) and `rps_rt_key` (the host stores its pthread key there before a call)."""
    import llvmlite.binding as llvm

    from rpsc.backends.llvm.jit import create_target_machine, host_target_key
    from rpsrt import abi

    tm = create_target_machine(host_target_key(2), jit=False)
    mod = llvm.parse_assembly(f'@"{abi.RT_SYMBOL}" = global {abi.RT_LLVM_TYPE} zeroinitializer\n'
                              f'@"{abi.RT_KEY_SYMBOL}" = global i32 0\n')
    mod.triple = tm.triple
    mod.data_layout = str(tm.target_data)
    return bytes(tm.emit_object(mod))
