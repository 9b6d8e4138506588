"""The backend matrix: the interpreter, the LLVM JIT and the C plugins over the same typed IR modules.

Every differential and edge-case test builds its engines here (`Matrix`, or the `backend_matrix` fixture of
tests/conftest.py), compares calls with `outcome` and `same_outcome`, and so tests one notion of "agree".
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BACKENDS = ("interp", "jit", "c")


def outcome(engine: Any, fn: Any, args: Sequence[object]) -> tuple[str, object]:
    """('ok', value) or ('trap', (code, function, location)) of one call."""
    from rpsrt.errors import Trap

    try:
        return "ok", engine.call(fn, list(args))
    except Trap as t:
        return "trap", (t.code, t.function, t.location)


def same(a: object, b: object) -> bool:
    """Equal results: same type (bool distinct from int), floats bit for bit, any NaN equal to any NaN."""
    if isinstance(a, float) and isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return struct.pack("<d", a) == struct.pack("<d", b)
    return type(a) is type(b) and a == b


def same_outcome(got: tuple[str, object], want: tuple[str, object]) -> bool:
    """Same kind (result or trap); the same trap, or the same result in the sense of `same`."""
    if got[0] != want[0]:
        return False
    if got[0] == "trap":
        return got[1] == want[1]
    return same(got[1], want[1])


@contextmanager
def engines(modules: Sequence[Any], folder: Path, *, recursion_limit: int | None = None,
            backends: Sequence[str] = BACKENDS, cflags: Sequence[str] | None = None,
            interruptible: bool = False) -> Iterator[dict[str, Any]]:
    """The engines named by `backends` over `modules` (C plugins compiled into `folder`), closed on exit."""
    from compiler.backends.c.util import STRICT_CFLAGS, compile_modules

    kw = {} if recursion_limit is None else {"recursion_limit": recursion_limit}
    built: dict[str, Any] = {}
    try:
        for name in backends:
            if name == "interp":
                from rpsc.backends.interp.interp import Interpreter

                built[name] = Interpreter(list(modules), **kw)
            elif name == "jit":
                from rpsc.backends.llvm.jit import JitEngine

                built[name] = JitEngine(list(modules), **kw)
            elif name == "c":
                from rpsc.backends.c.native import NativeEngine

                compile_modules(modules, folder, cflags=STRICT_CFLAGS if cflags is None else cflags)
                built[name] = NativeEngine(folder, interruptible=interruptible, **kw)
            else:
                raise ValueError(f"unknown backend {name!r}; expected one of {BACKENDS}")
        yield built
    finally:
        for e in reversed(list(built.values())):
            e.close()


def disagreement(engines: Mapping[str, Any], fn: Any, args: Sequence[object],
                 want: tuple[str, object] | None = None) -> dict[str, tuple[str, object]] | None:
    """None when every engine gives the same outcome (and `want`, if given); else every engine's outcome."""
    got = {name: outcome(e, fn, args) for name, e in engines.items()}
    ref = want if want is not None else next(iter(got.values()))
    return None if all(same_outcome(g, ref) for g in got.values()) else got
