"""rpsrt: the RefPerSys runtime layer: OIDs, values, objects, heap, store, plugin host.

Imports no compiler library (llvmlite, Lark, Jinja2): the compiler `rpsc` builds on this package.

The public names below are imported on first use (PEP 562's module `__getattr__`), so that `import rpsrt`
(or `import rpsrt.errors`, `import rpsrt.abi`) costs nothing more than the modules asked for: `rpsc run`'s
warm start (docs/store.md, "Start-up") loads no heap model. `from rpsrt import Heap`, `rpsrt.load_store`
and `from rpsrt import *` work as before.
"""

from __future__ import annotations

from rpsrt.errors import Error, PluginError, StoreError, Trap

#: `typing.TYPE_CHECKING` without importing typing (a few ms of every start); type checkers take it as true.
TYPE_CHECKING = False

__version__ = "0.1.0"

#: Each lazily imported public name -> the module defining it.
_LAZY: dict[str, str] = {
    "Heap": "rpsrt.model.heap",
    **{name: "rpsrt.model.objects" for name in (
        "Payload", "PayloadAgenda", "PayloadClassInfo", "PayloadEnvironment", "PayloadGccJit", "PayloadObjMap",
        "PayloadSetOb", "PayloadSpace", "PayloadStringBuffer", "PayloadStringDict", "PayloadSymbol",
        "PayloadTasklet", "PayloadUnknown", "PayloadVectOb", "PayloadVectVal", "RpsObject")},
    "Oid": "rpsrt.model.oid",
    "OidError": "rpsrt.model.oid",
    **{name: "rpsrt.model.values" for name in ("Value", "VClosure", "VInstance", "VJson", "VSet", "VTuple")},
}

if TYPE_CHECKING:  # what the type checkers see: the eager imports of before
    from typing import Any

    from rpsrt.model.heap import Heap
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
    from rpsrt.model.oid import Oid, OidError
    from rpsrt.model.values import Value, VClosure, VInstance, VJson, VSet, VTuple


def __getattr__(name: str) -> Any:
    """A public name imported on first use (then cached in the module's namespace); a subpackage too
    (`rpsrt.model` after a bare `import rpsrt`, as when this package imported the model eagerly)."""
    import importlib

    module = _LAZY.get(name)
    if name == "model":  # what the eager imports of before brought along
        for mod in sorted(set(_LAZY.values())):
            importlib.import_module(mod)
    if module is None:
        try:
            return importlib.import_module(f"rpsrt.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"rpsrt.{name}":
                raise
        raise AttributeError(f"module 'rpsrt' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def load_store(directory: str, *, lock_timeout: float | None = None, lazy: bool | None = None) -> Heap:
    """Load a RefPerSys store directory (formats 2019A, 2023A, 2024A) into a new Heap. A dump committing
    meanwhile is waited for (`lock_timeout` seconds at most; None: no limit): the heap is the old or the new.
    `lazy=True` frames every object and fills each on its first touch (docs/store.md, "Lazy loading");
    None: eager unless the environment variable `RPSRT_LAZY_LOAD` is `1` or `check`."""
    from rpsrt.store.reader import load_store as _load

    return _load(directory, lock_timeout=lock_timeout, lazy=lazy)


def dump_store(heap: Heap, directory: str, *, lock_timeout: float | None = None) -> None:
    """Dump a Heap into a store directory in format 2024A, atomically and incrementally; another dump of the
    same store is waited for (`lock_timeout` seconds at most; None: no limit)."""
    from rpsrt.store.writer import dump_store as _dump

    _dump(heap, directory, lock_timeout=lock_timeout)


__all__ = [
    "Error", "StoreError", "PluginError", "Trap", "Heap", "Oid", "OidError", "RpsObject", "Value",
    "VSet", "VTuple", "VClosure", "VInstance", "VJson", "Payload", "PayloadAgenda", "PayloadClassInfo",
    "PayloadEnvironment", "PayloadGccJit", "PayloadObjMap", "PayloadSetOb", "PayloadSpace",
    "PayloadStringBuffer", "PayloadStringDict", "PayloadSymbol", "PayloadTasklet", "PayloadUnknown",
    "PayloadVectOb", "PayloadVectVal", "load_store", "dump_store", "__version__",
]
