"""The store loader's C accelerator (loadfast.c), built on first use and cached, or None.

Built as heaphost builds heapfast.c: with the system's `cc`, into the cache folder (`$XDG_CACHE_HOME/rpsc`,
else `~/.cache/rpsc`), named by the hash of its source and of the Python version, so that a change of either
builds it again. Unlike heapfast (a plain shared library reached through ctypes), it is a CPython extension
module, imported from that file. `RPSRT_NO_LOADFAST=1`, a missing compiler or a failed build leave the
store loader on its pure-Python path, which gives the same heaps and the same errors (tests/runtime/store/
test_store_fastload.py compares the two).
"""

from __future__ import annotations

import os
import subprocess
import threading
from types import ModuleType

#: Set to disable the accelerator (the loader then runs its pure-Python path).
DISABLE_ENV = "RPSRT_NO_LOADFAST"

_lock = threading.Lock()
#: The RpsObject slots loadfast.c knows how to fill.
_SLOTS = ("oid", "cls", "mtime", "attrs", "comps", "payload", "space", "magicattr", "applying", "extra", "_jar",
          "_born", "_v", "__weakref__")
_MOD: list[ModuleType | None] = []


def module() -> ModuleType | None:
    """The built and set-up extension module, or None (disabled, no compiler, or the build failed)."""
    if os.environ.get(DISABLE_ENV):
        return None
    with _lock:
        if not _MOD:
            try:
                _MOD.append(_load())
            except (OSError, subprocess.SubprocessError, ImportError, AttributeError):
                _MOD.append(None)
        return _MOD[0]


def _load() -> ModuleType:
    from rpsrt.native import extension

    mod = extension("loadfast")

    from rpsrt.model.objects import PayloadClassInfo, PayloadSpace, PayloadSymbol, RpsObject
    from rpsrt.model.oid import Oid
    from rpsrt.model.values import VClosure, VSet
    from rpsrt.store import payloads

    # The C code makes objects by writing their slots only while RpsObject is exactly the class it knows:
    # these slots, object's __setattr__, and __init__/ghost setting what it sets (checked by
    # test_store_fastload); any other RpsObject is made by calling it.
    plain = (RpsObject.__slots__ == _SLOTS and RpsObject.__setattr__ is object.__setattr__
             and RpsObject.__new__ is object.__new__)
    #: Whether the C code writes RpsObject's slots itself (else it calls the class and setattr).
    mod.PLAIN = mod.setup(Oid, RpsObject, PayloadSymbol, PayloadClassInfo, VClosure, VSet, payloads.LOADERS,
                          payloads._ld_symbol, payloads._ld_classinfo, PayloadSpace, payloads._ld_space, plain)
    return mod
