"""One-way migration of stores written by rpsc 0.1.0 (code as immutable instances, modules as roots).

rpsc 0.1.0 stored code as `VInstance`s of its classes and made every module a global root; upstream
RefPerSys loads neither (docs/code-in-the-heap.md). `migrate(heap)` rewrites such a heap in the current
encoding: it decodes every old module (the decoder reads both encodings), checks the decoded modules as one
batch, and lowers them again, which keeps every OID, stores the checker's resolution in the bodies, moves
the modules from the roots to the `code_modules` registry and files rpsc's classes where upstream's dumper
finds them. A heap without old code is left untouched.
"""

from __future__ import annotations

from rpsrt.model.heap import Heap
from rpsrt.model.values import VInstance

from rpsc.heapcode.classes import CLASSES, find_code_classes

#: The one-line notice printed when a command migrated a store.
NOTICE = ("rpsc: note: migrated {n} module{s} of this store from the rpsc 0.1.0 encoding (instances, modules as "
          "roots) to the current one, which upstream RefPerSys loads; rpsc 0.1.0 cannot read it back")


def old_modules(heap: Heap) -> list:  # type: ignore[type-arg]
    """The code modules of `heap` still in rpsc 0.1.0's encoding."""
    from rpsc.heapcode.encode import module_objects

    cc = find_code_classes(heap) if heap.get(CLASSES["code_module"][0]) is not None else None
    if cc is None:
        return []
    return [m for _n, m in sorted(module_objects(heap, cc).items())
            if isinstance(m.attrs.get(cc.attr["decls"]), VInstance)]


def migrate(heap: Heap) -> str | None:
    """Rewrite rpsc 0.1.0's code in `heap` in the current encoding; the notice to print, or None when there
    was nothing to migrate. Raises `rpsc.CompileError` (heap left as it was) if the old code does not check."""
    from rpsc import CompileError
    from rpsc.frontend.check import check
    from rpsc.heapcode.decode import decode_module
    from rpsc.heapcode.encode import lower, module_objects, stored_interfaces

    old = old_modules(heap)
    if not old:
        return None
    cc = find_code_classes(heap)
    assert cc is not None
    decoded = [decode_module(m, cc) for m in old]
    names = {m.name for m in decoded}
    known = {k: v for k, v in stored_interfaces(heap).items() if k not in names}
    try:
        program = check(decoded, known_modules=known)
    except CompileError as exc:
        raise CompileError(f"cannot migrate the store's rpsc 0.1.0 code: {exc.message}", exc.diagnostics) from None
    lower(program, heap)
    for m in module_objects(heap, cc).values():
        heap.roots.discard(m)
    n = len(old)
    return NOTICE.format(n=n, s="" if n == 1 else "s")
