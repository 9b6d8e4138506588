"""The backend engine interface that the interpreter, the LLVM JIT and the native (C) backend implement.

An engine runs the functions of a list of `ir.Module`s:

    engine.call("fib", [30])            # a source name, `module.name` when ambiguous, or `rpsfn_<oid>`
    engine.call(function_ref, [1, 2])   # or the `ir.FunctionRef` itself
    engine.interrupt()                  # from any thread: the next loop back-edge poll traps INTERRUPT
    engine.close()

`call` raises `rpsrt.Trap(code, function=<source name of the trapping function>, location="file:line:col")`.
The helpers below (`resolve_function`, `coerce_args`) are shared so that every backend accepts the same
names and arguments and reports the same errors.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

from rpsc import Error
from rpsrt import abi

from rpsc.ir import ir

Scalar = int | float | bool


class EngineError(Error):
    """A call that cannot be made: an unknown or ambiguous function, a wrong number or type of arguments."""


@runtime_checkable
class Engine(Protocol):
    """What every backend implements (interp, jit, c)."""

    def call(self, fn: str | ir.FunctionRef, args: Sequence[Scalar]) -> Scalar | None:
        """Run one function with scalar arguments; its result (None for void); raise rpsrt.Trap on a trap."""
        ...

    def interrupt(self) -> None:
        """Thread-safe: set the interrupt flag; the next loop back-edge poll traps INTERRUPT and clears it."""
        ...

    def close(self) -> None:
        """Release what the engine holds (threads, native code, libraries)."""
        ...


def all_functions(modules: Sequence[ir.Module]) -> list[tuple[ir.Module, ir.Function]]:
    return [(m, f) for m in modules for f in m.functions]


def resolve_function(modules: Sequence[ir.Module], fn: str | ir.FunctionRef) -> ir.FunctionRef:
    """The `FunctionRef` that `fn` names: a ref, `rpsfn_<oid>`, `name`, or `module.name`; EngineError if none."""
    pairs = all_functions(modules)
    if isinstance(fn, ir.FunctionRef):
        for _m, f in pairs:
            if f.ref.symbol == fn.symbol:
                return f.ref
        raise EngineError(f"function {fn.name} ({fn.symbol}) is not loaded")
    if fn.startswith("rpsfn_"):
        for _m, f in pairs:
            if f.ref.symbol == fn:
                return f.ref
        raise EngineError(f"no function with symbol {fn}")
    if "." in fn:
        mname, _, fname = fn.rpartition(".")
        found = [f.ref for m, f in pairs if m.name == mname and f.name == fname]
    else:
        found = [f.ref for _m, f in pairs if f.name == fn]
    if not found:
        names = sorted({f.name for _m, f in pairs})
        import difflib

        close = difflib.get_close_matches(fn.rpartition(".")[2], names, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise EngineError(f"no function named {fn}{hint}")
    if len(found) > 1:
        mods = sorted(m.name for m, f in pairs if f.ref in found)
        raise EngineError(f"function name {fn} is ambiguous: write one of "
                          + ", ".join(f"{m}.{fn}" for m in mods))
    return found[0]


def coerce_args(ref: ir.FunctionRef, args: Sequence[Scalar]) -> list[Scalar]:
    """Check and convert call arguments to the parameter types (i64: int in range; f64: float; bool)."""
    if len(args) != len(ref.params):
        raise EngineError(f"{ref.name} takes {len(ref.params)} argument(s), got {len(args)}")
    out: list[Scalar] = []
    for i, (a, t) in enumerate(zip(args, ref.params, strict=True)):
        if t is ir.I64:
            if isinstance(a, bool) or not isinstance(a, int):
                raise EngineError(f"{ref.name}: argument {i + 1} must be an int, got {a!r}")
            if not -2**63 <= a < 2**63:
                raise EngineError(f"{ref.name}: argument {i + 1} ({a}) is out of the 64-bit int range")
            out.append(a)
        elif t is ir.F64:
            if isinstance(a, bool) or not isinstance(a, (int, float)):
                raise EngineError(f"{ref.name}: argument {i + 1} must be a float, got {a!r}")
            try:
                out.append(float(a))
            except OverflowError:
                raise EngineError(f"{ref.name}: argument {i + 1} ({a}) is too large for a float") from None
        elif t is ir.BOOL:
            if not isinstance(a, bool):
                raise EngineError(f"{ref.name}: argument {i + 1} must be a bool, got {a!r}")
            out.append(a)
        elif t is ir.STR:
            if not isinstance(a, str):
                raise EngineError(f"{ref.name}: argument {i + 1} must be a str, got {a!r}")
            out.append(a)
        elif t is ir.OBJ:
            from rpsrt.model.objects import RpsObject

            if a is not None and not isinstance(a, RpsObject):
                raise EngineError(f"{ref.name}: argument {i + 1} must be a heap object or None, got {a!r}")
            out.append(a)
        elif t is ir.VALUE:
            out.append(a)
        else:
            raise EngineError(f"{ref.name}: parameter {i + 1} has type {t}")
    return out


def parse_arg(text: str, type: ir.Type, heap: object = None) -> Scalar:
    """Parse one command-line argument as a value of `type`; EngineError with a clear message if it is not.
    A `str` is taken verbatim; an `obj` is an OID text or a symbol name looked up in `heap` (`find`), or
    `null`; a `value` is an int or a float when it reads as one, else a string."""
    if type is ir.STR:
        return text  # type: ignore[return-value]
    if type is ir.OBJ:
        if text == "null":
            return None  # type: ignore[return-value]
        if heap is None:
            raise EngineError("an obj argument needs a heap")
        from rpsrt.model.heapapi import HeapRuntime

        found = HeapRuntime(heap).find("", "", text)  # type: ignore[arg-type]
        if found is None:
            raise EngineError(f"argument {text!r}: no object with that OID or symbol name")
        return found  # type: ignore[no-any-return]
    if type is ir.VALUE:
        for conv in (int, float):
            try:
                return conv(text)  # type: ignore[no-any-return]
            except ValueError:
                pass
        return text  # type: ignore[return-value]
    if type is ir.I64:
        try:
            v = int(text, 0)
        except ValueError:
            raise EngineError(f"argument {text!r} is not an int") from None
        if not -2**63 <= v < 2**63:
            raise EngineError(f"argument {text} is out of the 64-bit int range")
        return v
    if type is ir.F64:
        try:
            return float(text)
        except ValueError:
            raise EngineError(f"argument {text!r} is not a float") from None
    if type is ir.BOOL:
        if text in ("true", "false"):
            return text == "true"
        raise EngineError(f"argument {text!r} is not a bool (true or false)")
    raise EngineError(f"cannot pass an argument of type {type}")


def parse_args(ref: ir.FunctionRef, texts: Sequence[str], heap: object = None) -> list[Scalar]:
    """The command-line arguments of a call to `ref`, parsed by its parameter types; EngineError when their
    number is wrong (naming the expected types, e.g. `gcd takes 2 arguments (int, int), got 1`)."""
    if len(texts) != len(ref.params):
        names = {ir.I64: "int", ir.F64: "float", ir.BOOL: "bool"}
        types = ", ".join(names.get(t, str(t)) for t in ref.params)
        n = len(ref.params)
        raise EngineError(f"{ref.name} takes {n} argument{'' if n == 1 else 's'} ({types or 'none'}), "
                          f"got {len(texts)}")
    return [parse_arg(a, t, heap) for a, t in zip(texts, ref.params, strict=True)]


def format_result(value: Scalar | None, type: ir.Type | None = None) -> str:
    """A result as `rpsc run` prints it: ints in decimal, floats with repr, bools as true/false; version 2
    (with the result `type`): a `str` raw, an object as its OID text, a null `obj` or `value` as `null`."""
    if type in (ir.OBJ, ir.VALUE, ir.STR):
        from rpsrt.model.objects import RpsObject

        if value is None:
            return "null"
        if isinstance(value, RpsObject):
            return str(value.oid)
        if isinstance(value, str):
            return value
        if type is ir.VALUE and not isinstance(value, (int, float)):
            return repr(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return repr(value)


def call_interruptibly(engine: Engine, fn: Callable[..., Scalar | None],
                       args: Sequence[Scalar]) -> tuple[bool, object]:
    """Call `fn(*args)` on a worker thread and wait; Ctrl-C in the main thread calls `engine.interrupt()`, so
    that running code traps INTERRUPT at its next loop back-edge. Returns (True, result) or (False, exception).
    (The one interruptible call of every host: `rpsrt.abi.call_interruptibly`.)
    """
    ok, value, _interrupted = abi.call_interruptibly(fn, args, engine.interrupt, thread_name="rpsc-call")
    return ok, value
