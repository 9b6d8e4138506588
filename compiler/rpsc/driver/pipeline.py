"""The compile pipeline as library calls: sources -> heap (parse, check, lower) and heap -> typed IR.

    heap = compile_sources([("geo.rps", text)])        # a fresh heap of RefPerSys core objects
    modules = ir_modules(heap)                          # ir.Module list, built from the stored functions
    modules = program("module t; fn f() -> int { return 1; }")   # both at once, for tests

`compile_sources` raises `rpsc.CompileError` and then leaves a given heap exactly as it was.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rpsrt.model.heap import Heap

from rpsc.ir import ir


def new_heap() -> Heap:
    """A heap of RefPerSys's core objects (`rpsrt.store.core.new_heap`), as `rpsc store new` makes."""
    from rpsrt.store.core import new_heap as _new_heap

    return _new_heap()


def parse_sources(sources: Sequence[tuple[str, str]]) -> list:  # type: ignore[type-arg]
    """Parse (path, text) pairs into `ast.Module`s, reporting every file's errors together."""
    from rpsc import CompileError
    from rpsc.frontend.parser import parse

    modules = []
    diags: list = []  # type: ignore[type-arg]
    for path, text in sources:
        try:
            modules.append(parse(text, path))
        except CompileError as exc:
            diags.extend(exc.diagnostics or [exc.message])
    if diags:
        from rpsc.frontend.diagnostics import Diagnostic, DiagnosticError

        if all(isinstance(d, Diagnostic) for d in diags):
            raise DiagnosticError(diags)
        raise CompileError(str(diags[0]), diags)
    return modules


def check_modules(modules: Sequence, heap: Heap, interfaces: dict[str, Any] | None = None) -> Any:  # type: ignore[type-arg]
    """Run the frontend's checker (names, kinds, types, returns), with the heap's modules as known ones;
    return its `CheckedProgram` (what the lowering takes). `interfaces`: `stored_interfaces(heap)` when the
    caller has it already."""
    from rpsc.frontend.check import check
    from rpsc.heapcode.encode import stored_interfaces

    given = {m.name for m in modules}
    known = {k: v for k, v in (stored_interfaces(heap) if interfaces is None else interfaces).items()
             if k not in given}
    return check(list(modules), known_modules=known)


def compile_sources(sources: Sequence[tuple[str, str]], heap: Heap | None = None,
                    warnings: list[Any] | None = None, ir_check: str = "all", rollback: bool = True,
                    interfaces: dict[str, Any] | None = None, stored: dict[str, Any] | None = None) -> Heap:
    """Parse, check and lower (path, text) pairs into `heap` (a fresh `new_heap()` when None); the checker's
    warnings (`Diagnostic`s: values upstream RefPerSys cannot read back) are appended to `warnings`.
    Afterwards every stored module must give valid IR (`ir_check="all"`), or those compiled (`"given"`:
    for an incremental compile, which recompiles the modules requiring a changed interface itself).
    On an error the heap is restored as it was, unless `rollback=False` (a caller that drops the heap on an
    error, as `rpsc compile` does, spares the copy of every object this takes). `interfaces`: the heap's
    `stored_interfaces` as they are now, when the caller computed them already; `stored`: the heap's
    `module_objects` (rpsc.heapcode.index), so that neither the lowering nor the check of the IR (`"given"`)
    scans the heap."""
    from rpsc import CompileError
    from rpsc.heapcode.encode import lower
    from rpsrt.limits import deep_recursion

    if heap is None:
        heap = new_heap()
    modules = parse_sources(sources)
    program = check_modules(modules, heap, interfaces)
    if warnings is not None:
        warnings.extend(program.warnings)
    # The lowering checks what needs the store before it writes; should anything still fail, restore the heap.
    snapshot = _snapshot(heap) if rollback else None
    try:
        with deep_recursion():
            lowered = lower(program, heap, stored)
            if ir_check == "given" and stored is not None:
                _check_ir(lowered.modules, heap)
            elif ir_check == "given":
                from rpsc.ir.from_heap import build_ir

                build_ir(heap, [m.name for m in modules])
            else:
                ir_modules(heap)  # every stored function must give valid IR
    except CompileError:
        if snapshot is not None:
            _restore(heap, snapshot)
        raise
    except Exception as exc:
        if snapshot is not None:
            _restore(heap, snapshot)
        from rpsrt.errors import Error

        if isinstance(exc, Error):
            raise CompileError(str(exc)) from None
        raise
    return heap


def _check_ir(mobjs: Sequence[Any], heap: Heap) -> None:
    """The IR of the module objects just lowered must build (as `build_ir(heap, their names)` checks)."""
    from rpsc.heapcode.classes import find_code_classes
    from rpsc.ir.from_heap import IRBuildError, build_module

    cc = find_code_classes(heap)
    assert cc is not None
    for m in mobjs:
        try:
            build_module(m, cc)
        except (IndexError, TypeError, ValueError, KeyError, AttributeError, AssertionError):
            raise IRBuildError(f"malformed stored code in module {m.attrs.get(cc.name)!r}: a part is missing or "
                               "of the wrong kind", oid=str(m.oid)) from None


def _snapshot(heap: Heap) -> tuple:  # type: ignore[type-arg]
    import copy

    state = {o: (o.cls, o.mtime, dict(o.attrs), list(o.comps), copy.copy(o.payload), o.space)
             for o in heap.objects.values()}
    methodicts = {o: dict(o.payload.methodict) for o in heap.objects.values()
                  if o.payload is not None and hasattr(o.payload, "methodict")}
    setobs = {o: set(o.payload.elems) for o in heap.objects.values()
              if o.payload is not None and isinstance(getattr(o.payload, "elems", None), set)}
    return (dict(heap.objects), set(heap.spaces), set(heap.roots), set(heap.constants), state, methodicts,
            setobs)


def _restore(heap: Heap, snap: tuple) -> None:  # type: ignore[type-arg]
    objects, spaces, roots, consts, state, methodicts, setobs = snap
    heap.objects.clear()
    heap.objects.update(objects)
    heap.spaces.clear()
    heap.spaces.update(spaces)
    heap.roots.clear()
    heap.roots.update(roots)
    heap.constants.clear()
    heap.constants.update(consts)
    for o, (cls, mtime, attrs, comps, payload, space) in state.items():
        o.cls, o.mtime, o.attrs, o.comps, o.payload, o.space = cls, mtime, attrs, comps, payload, space
    for o, md in methodicts.items():
        o.payload.methodict = md
    for o, elems in setobs.items():
        o.payload.elems = elems


def migrate_code(heap: Heap) -> str | None:
    """Rewrite code stored by rpsc 0.1.0 in the current encoding (`rpsc.heapcode.migrate`); the one-line
    notice to print, or None when the heap held no such code. On an error the heap is left as it was."""
    from rpsc.heapcode.migrate import migrate, old_modules
    from rpsrt.limits import deep_recursion

    if not old_modules(heap):
        return None
    snapshot = _snapshot(heap)
    try:
        with deep_recursion():
            return migrate(heap)
    except BaseException:
        _restore(heap, snapshot)
        raise


def ir_modules(heap: Heap) -> list[ir.Module]:
    """The typed IR of every `.rps` module stored in `heap`, built from the stored function objects (code
    stored by rpsc 0.1.0 is migrated in memory first)."""
    from rpsrt.limits import deep_recursion

    from rpsc.ir.from_heap import build_ir

    migrate_code(heap)
    with deep_recursion():
        return build_ir(heap)


def program(text: str, path: str = "<test>") -> list[ir.Module]:
    """Compile one source into a fresh heap and return its IR (for tests)."""
    return ir_modules(compile_sources([(path, text)]))


def run_on_heap(heap: Heap, fn: str, args: Sequence[Any], *, backend: str = "interp", store: str | None = None,
                seed: int | None = None, clock: float | None = None) -> Any:
    """Run stored function `fn` against `heap` (version 2) inside a transaction: its result, or the
    exception it ended with (a `rpsrt.Trap`, KeyboardInterrupt, ...) re-raised after every change it made to
    the heap was undone. `backend` is interp, jit or c (c runs the plugins built in `store`)."""
    from rpsrt.model.heapapi import HeapRuntime, transaction

    runtime = HeapRuntime(heap, seed=seed, clock=clock)
    modules = ir_modules(heap)
    engine: Any
    if backend == "interp":
        from rpsc.backends.interp.interp import Interpreter

        engine = Interpreter(modules, runtime=runtime)
    elif backend == "jit":
        from rpsc.backends.llvm.jit import JitEngine

        engine = JitEngine(modules, runtime=runtime)
    else:
        from rpsc.backends.c.native import NativeEngine

        if store is None:
            raise ValueError("the C backend runs the plugins of a store: give `store`")
        engine = NativeEngine(store, runtime=runtime)
    try:
        with transaction(heap):
            return engine.call(fn, list(args))
    finally:
        engine.close()
