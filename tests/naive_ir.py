"""A naive evaluator of *un-lowered* IR, written from LANGUAGE.md alone: the oracle of the differential tests.

It walks blocks and instructions one by one (no passes, no code generation), evaluating the checked
operations `sdiv`, `srem` and `fptosi` with their traps directly, in plain Python arithmetic on exact
integers reduced to 64 bits. It shares no code with `rpsc.ir.passes`, the interpreter or a backend (only the
engine's argument helpers), so a mistake in the lowering pass or in a backend shows up as a disagreement.
It refuses lowered IR (`trap_if`, `select`, the unchecked operations): it is the meaning of the IR as built.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from typing import Any

from rpsc.backends.engine import coerce_args, resolve_function
from rpsc.ir import ir
from rpsrt.errors import TRAP_CONVERSION, TRAP_DIVZERO, TRAP_INTERRUPT, TRAP_RECURSION, Trap

_ZERO = {ir.I64: 0, ir.F64: 0.0, ir.BOOL: False}


def wrap(v: int) -> int:
    """`v` modulo 2**64 as a signed 64-bit integer."""
    return ((v + 2**63) % 2**64) - 2**63


def _fdiv(a: float, b: float) -> float:
    if b != 0.0:
        return a / b
    if math.isnan(a) or a == 0.0:
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


def _tdiv(a: int, b: int) -> int:
    """Exact quotient truncated toward zero (before wrapping)."""
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


class NaiveEvaluator:
    """Evaluates un-lowered IR modules; `call(fn, args)` like an engine (raises `rpsrt.Trap`)."""

    def __init__(self, modules: Sequence[ir.Module], recursion_limit: int = 10_000) -> None:
        self.modules = list(modules)
        self.limit = recursion_limit
        self.functions = {f.ref.symbol: f for m in self.modules for f in m.functions}
        self.depth = 0
        self.interrupted = False

    def call(self, fn: str | ir.FunctionRef, args: Sequence[Any]) -> Any:
        ref = resolve_function(self.modules, fn)
        self.depth = 0
        old = sys.getrecursionlimit()
        sys.setrecursionlimit(max(old, 4 * self.limit + 1000))
        try:
            return self._run(self.functions[ref.symbol], list(coerce_args(ref, args)))
        finally:
            sys.setrecursionlimit(old)

    def interrupt(self) -> None:
        self.interrupted = True

    def close(self) -> None:
        pass

    def __enter__(self) -> NaiveEvaluator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- evaluation

    def _run(self, fn: ir.Function, args: list[Any]) -> Any:
        if self.depth >= self.limit:
            raise Trap(TRAP_RECURSION, fn.name, str(fn.loc))
        self.depth += 1
        try:
            return self._body(fn, args)
        finally:
            self.depth -= 1

    def _body(self, fn: ir.Function, args: list[Any]) -> Any:
        slots = list(args) + [_ZERO[loc.type] for loc in fn.locals[len(args):]]
        temps: dict[str, Any] = {}
        blocks = {b.label: b for b in fn.blocks}

        def val(o: ir.Operand) -> Any:
            return o.value if isinstance(o, ir.Const) else temps[o.name]

        def trap(code: int, loc: ir.SourceLoc | None) -> Trap:
            return Trap(code, fn.name, str(loc or fn.loc))

        block = fn.blocks[0]
        while True:
            for ins in block.instrs:
                if isinstance(ins, ir.Load):
                    temps[ins.dest.name] = slots[ins.local.index]
                elif isinstance(ins, ir.Store):
                    slots[ins.local.index] = val(ins.value)
                elif isinstance(ins, ir.BinOp):
                    a, b = val(ins.lhs), val(ins.rhs)
                    op = str(ins.op)
                    if op in ("sdiv", "srem"):
                        if b == 0:
                            raise trap(TRAP_DIVZERO, ins.loc)
                        q = _tdiv(a, b)
                        r = wrap(q) if op == "sdiv" else a - b * q
                    elif op in ("add", "sub", "mul"):
                        r = wrap(a + b if op == "add" else a - b if op == "sub" else a * b)
                    elif op == "shl":
                        r = wrap(a << (b & 63))
                    elif op == "ashr":
                        r = a >> (b & 63)
                    elif op in ("and", "or", "xor"):
                        r = a & b if op == "and" else a | b if op == "or" else a ^ b
                    elif op in ("fadd", "fsub", "fmul"):
                        r = a + b if op == "fadd" else a - b if op == "fsub" else a * b
                    elif op == "fdiv":
                        r = _fdiv(a, b)
                    else:
                        raise ValueError(f"the naive evaluator runs un-lowered IR only, not {op}")
                    temps[ins.dest.name] = r
                elif isinstance(ins, ir.Cmp):
                    a, b = val(ins.lhs), val(ins.rhs)
                    temps[ins.dest.name] = {"eq": a == b, "ne": a != b, "lt": a < b, "le": a <= b,
                                            "gt": a > b, "ge": a >= b}[str(ins.op)]
                elif isinstance(ins, ir.UnOp):
                    a = val(ins.value)
                    op = str(ins.op)
                    temps[ins.dest.name] = (
                        wrap(-a) if op == "neg" else -a if op == "fneg" else (not a) if op == "not"
                        else ~a if op == "bnot" else wrap(abs(a)) if op == "abs" else math.fabs(a)
                        if op == "fabs" else (math.sqrt(a) if a >= 0.0 else math.nan) if op == "sqrt"
                        else None)
                elif isinstance(ins, ir.MinMax):
                    a, b = val(ins.lhs), val(ins.rhs)
                    temps[ins.dest.name] = (b if b < a else a) if str(ins.op) == "min" else (b if a < b else a)
                elif isinstance(ins, ir.Convert):
                    a = val(ins.value)
                    if str(ins.op) == "sitofp":
                        temps[ins.dest.name] = float(a)
                    elif str(ins.op) == "fptosi":
                        if math.isnan(a) or math.isinf(a) or not -(2**63) <= math.trunc(a) < 2**63:
                            raise trap(TRAP_CONVERSION, ins.loc)
                        temps[ins.dest.name] = math.trunc(a)
                    else:
                        raise ValueError(f"the naive evaluator runs un-lowered IR only, not {ins.op}")
                elif isinstance(ins, ir.Call):
                    callee = self.functions[ins.callee.symbol]
                    r = self._run(callee, [val(a) for a in ins.args])
                    if ins.dest is not None:
                        temps[ins.dest.name] = r
                elif isinstance(ins, ir.Poll):
                    if self.interrupted:
                        self.interrupted = False
                        raise trap(TRAP_INTERRUPT, ins.loc)
                else:
                    raise ValueError(f"the naive evaluator runs un-lowered IR only, not {ins!r}")
            t = block.terminator
            if isinstance(t, ir.Ret):
                return None if t.value is None else val(t.value)
            if isinstance(t, ir.Br):
                block = blocks[t.target]
            elif isinstance(t, ir.CondBr):
                block = blocks[t.then_target if val(t.cond) else t.else_target]
            else:
                raise ValueError(f"block {block.label} of {fn.name} has no terminator")
