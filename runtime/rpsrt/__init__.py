"""rpsrt: the RefPerSys runtime layer: OIDs, values, objects, heap, store, plugin host.

Imports no compiler library (llvmlite, Lark, Jinja2): the compiler `rpsc` builds on this package.
"""

from __future__ import annotations

from rpsrt.errors import Error, PluginError, StoreError, Trap
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

__version__ = "0.1.0"


def load_store(directory: str, *, lock_timeout: float | None = None) -> Heap:
    """Load a RefPerSys store directory (formats 2019A, 2023A, 2024A) into a new Heap. A dump committing
    meanwhile is waited for (`lock_timeout` seconds at most; None: no limit): the heap is the old or the new."""
    from rpsrt.store.reader import load_store as _load

    return _load(directory, lock_timeout=lock_timeout)


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
