"""The public IR construction API: `ModuleBuilder` (a module, its OIDs and symbols) and `FunctionBuilder`.

`FunctionBuilder` builds an `ir.Function` the way llvmlite's IRBuilder builds LLVM IR: a position (the
current block), one method per operation, each returning the new temp; operand types are checked as you
build (the message names both types); names are deterministic (`t`, `t.1`, ...). Opcodes are the enums of
`rpsc.ir.ir` (`BinaryOp.SDIV`, `CmpOp.LT`, ...); their string values (`"sdiv"`, `"lt"`) are accepted too.
See docs/ir.md.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TypeVar

from rpsrt.model.oid import Oid

import rpsc.ir.ir as ir
from rpsc.ir.ir import (
    BOOL,
    F64,
    I64,
    VOID,
    BinaryOp,
    CmpOp,
    ConvertOp,
    MinMaxOp,
    Operand,
    SourceLoc,
    TrapCode,
    Type,
    UnaryOp,
)


class IRTypeError(TypeError):
    """An operation built with operands of the wrong type (a bug in the caller, not user input)."""


_INT_OPS = {BinaryOp.ADD, BinaryOp.SUB, BinaryOp.MUL, BinaryOp.SDIV, BinaryOp.SREM, BinaryOp.SHL,
            BinaryOp.ASHR, BinaryOp.AND, BinaryOp.OR, BinaryOp.XOR, BinaryOp.SDIV_UNCHECKED,
            BinaryOp.SREM_UNCHECKED}
_BOOL_OPS = {BinaryOp.AND, BinaryOp.OR, BinaryOp.XOR}
_FLOAT_OPS = {BinaryOp.FADD, BinaryOp.FSUB, BinaryOp.FMUL, BinaryOp.FDIV}
_TRAPPING = {BinaryOp.SDIV, BinaryOp.SREM}


_E = TypeVar("_E", bound=enum.StrEnum)


def _enum(kind: type[_E], op: str, what: str) -> _E:
    try:
        return kind(op)
    except ValueError:
        raise IRTypeError(f"unknown {what} {op!r}") from None


def const(value: int | float | bool, type: Type | None = None) -> ir.Const:
    """A constant; the type is inferred from the Python type unless given (ints are wrapped to i64)."""
    if type is None:
        type = BOOL if isinstance(value, bool) else F64 if isinstance(value, float) else I64
    if type is I64:
        value = ((int(value) + 2**63) % 2**64) - 2**63
    elif type is F64:
        value = float(value)
    elif type is BOOL:
        value = bool(value)
    return ir.Const(type, value)


class FunctionBuilder:
    """Builds one function: `locals`, blocks with labels, typed instructions."""

    def __init__(self, ref: ir.FunctionRef, param_names: Sequence[str], loc: SourceLoc, *,
                 on_finish: Callable[[ir.Function], object] | None = None) -> None:
        if len(param_names) != len(ref.params):
            raise IRTypeError("parameter names and types differ in number")
        self.ref = ref
        self._on_finish = on_finish
        self.loc = loc
        self.locals: list[ir.Local] = []
        self.blocks: list[ir.Block] = []
        self.block: ir.Block | None = None
        self._names: dict[str, int] = {}
        self.params = [self.local(n, t) for n, t in zip(param_names, ref.params, strict=True)]
        self.param_names = tuple(param_names)

    # -- naming and positioning

    def _fresh(self, base: str) -> str:
        n = self._names.get(base)
        self._names[base] = 0 if n is None else n + 1
        return base if n is None else f"{base}.{n + 1}"

    def local(self, name: str, type: Type) -> ir.Local:
        """A new local slot (names are made unique: `x`, `x.1`, ...)."""
        loc = ir.Local(self._fresh(name), type, len(self.locals))
        self.locals.append(loc)
        return loc

    def append_block(self, label: str = "bb") -> ir.Block:
        b = ir.Block(self._fresh(label))
        self.blocks.append(b)
        return b

    def position_at_end(self, block: ir.Block) -> None:
        self.block = block

    @property
    def terminated(self) -> bool:
        return self.block is None or self.block.terminator is not None

    def _emit(self, ins: ir.Instr) -> None:
        if self.block is None or self.block.terminator is not None:
            raise IRTypeError("emitting into a terminated block or without a position")
        self.block.instrs.append(ins)

    def _temp(self, type: Type, base: str = "t") -> ir.Temp:
        return ir.Temp(self._fresh(base), type)

    @staticmethod
    def _check(what: str, got: Type, *allowed: Type) -> None:
        if got not in allowed:
            raise IRTypeError(f"{what}: operand of type {got}, expected {' or '.join(map(str, allowed))}")

    @staticmethod
    def _same(what: str, a: Operand, b: Operand) -> Type:
        if a.type is not b.type:
            raise IRTypeError(f"{what}: operands of types {a.type} and {b.type}")
        return a.type

    # -- memory

    def load(self, local: ir.Local) -> ir.Temp:
        dest = self._temp(local.type, local.name.split(".")[0])
        self._emit(ir.Load(dest, local))
        return dest

    def store(self, local: ir.Local, value: Operand) -> None:
        if value.type is not local.type:
            raise IRTypeError(f"store: value of type {value.type} into local {local.name} of type {local.type}")
        self._emit(ir.Store(local, value))

    # -- arithmetic

    def binop(self, op: BinaryOp | str, lhs: Operand, rhs: Operand, loc: SourceLoc | None = None) -> ir.Temp:
        """Any `BinaryOp` (sdiv and srem need `loc`, where they trap)."""
        code = _enum(BinaryOp, op, "binary operation")
        t = self._same(code, lhs, rhs)
        if code in _FLOAT_OPS:
            self._check(code, t, F64)
        elif code in _BOOL_OPS:
            self._check(code, t, I64, BOOL)
        else:
            self._check(code, t, I64)
        if code in _TRAPPING and loc is None:
            raise IRTypeError(f"{code} needs a source location (it can trap)")
        dest = self._temp(t)
        self._emit(ir.BinOp(dest, code, lhs, rhs, loc))
        return dest

    def add(self, a: Operand, b: Operand) -> ir.Temp:
        return self.binop("add", a, b)

    def sub(self, a: Operand, b: Operand) -> ir.Temp:
        return self.binop("sub", a, b)

    def mul(self, a: Operand, b: Operand) -> ir.Temp:
        return self.binop("mul", a, b)

    def sdiv(self, a: Operand, b: Operand, loc: SourceLoc) -> ir.Temp:
        return self.binop("sdiv", a, b, loc)

    def srem(self, a: Operand, b: Operand, loc: SourceLoc) -> ir.Temp:
        return self.binop("srem", a, b, loc)

    def shl(self, a: Operand, b: Operand) -> ir.Temp:
        return self.binop("shl", a, b)

    def ashr(self, a: Operand, b: Operand) -> ir.Temp:
        return self.binop("ashr", a, b)

    def and_(self, a: Operand, b: Operand) -> ir.Temp:
        return self.binop("and", a, b)

    def or_(self, a: Operand, b: Operand) -> ir.Temp:
        return self.binop("or", a, b)

    def xor(self, a: Operand, b: Operand) -> ir.Temp:
        return self.binop("xor", a, b)

    def fadd(self, a: Operand, b: Operand) -> ir.Temp:
        return self.binop("fadd", a, b)

    def fsub(self, a: Operand, b: Operand) -> ir.Temp:
        return self.binop("fsub", a, b)

    def fmul(self, a: Operand, b: Operand) -> ir.Temp:
        return self.binop("fmul", a, b)

    def fdiv(self, a: Operand, b: Operand) -> ir.Temp:
        return self.binop("fdiv", a, b)

    def icmp(self, op: CmpOp | str, a: Operand, b: Operand) -> ir.Temp:
        """Compare i64 (or bool, for eq and ne); a bool temp."""
        t = self._same(f"icmp {op}", a, b)
        code = _enum(CmpOp, op, "comparison")
        self._check(f"icmp {code}", t, I64, *((BOOL,) if code in (CmpOp.EQ, CmpOp.NE) else ()))
        dest = self._temp(BOOL, "c")
        self._emit(ir.Cmp(dest, ir.CmpKind.ICMP, code, a, b))
        return dest

    def fcmp(self, op: CmpOp | str, a: Operand, b: Operand) -> ir.Temp:
        """Compare f64 (ordered, except ne); a bool temp."""
        t = self._same(f"fcmp {op}", a, b)
        code = _enum(CmpOp, op, "comparison")
        self._check(f"fcmp {code}", t, F64)
        dest = self._temp(BOOL, "c")
        self._emit(ir.Cmp(dest, ir.CmpKind.FCMP, code, a, b))
        return dest

    _UNOP_TYPES = {UnaryOp.NEG: I64, UnaryOp.BNOT: I64, UnaryOp.ABS: I64, UnaryOp.NOT: BOOL,
                   UnaryOp.FNEG: F64, UnaryOp.FABS: F64, UnaryOp.SQRT: F64}

    def unop(self, op: UnaryOp | str, value: Operand) -> ir.Temp:
        """Any `UnaryOp`."""
        code = _enum(UnaryOp, op, "unary operation")
        self._check(code, value.type, self._UNOP_TYPES[code])
        dest = self._temp(value.type)
        self._emit(ir.UnOp(dest, code, value))
        return dest

    def neg(self, v: Operand) -> ir.Temp:
        return self.unop("neg", v)

    def fneg(self, v: Operand) -> ir.Temp:
        return self.unop("fneg", v)

    def not_(self, v: Operand) -> ir.Temp:
        return self.unop("not", v)

    def bnot(self, v: Operand) -> ir.Temp:
        return self.unop("bnot", v)

    def minmax(self, op: MinMaxOp | str, a: Operand, b: Operand) -> ir.Temp:
        """`min` or `max` of two i64 or two f64."""
        code = _enum(MinMaxOp, op, "operation")
        t = self._same(code, a, b)
        self._check(code, t, I64, F64)
        dest = self._temp(t)
        self._emit(ir.MinMax(dest, code, a, b))
        return dest

    def min(self, a: Operand, b: Operand) -> ir.Temp:
        return self.minmax(MinMaxOp.MIN, a, b)

    def max(self, a: Operand, b: Operand) -> ir.Temp:
        return self.minmax(MinMaxOp.MAX, a, b)

    def select(self, cond: Operand, if_true: Operand, if_false: Operand) -> ir.Temp:
        """`cond ? if_true : if_false` (cond bool, both values of one type)."""
        self._check("select", cond.type, BOOL)
        t = self._same("select", if_true, if_false)
        dest = self._temp(t)
        self._emit(ir.Select(dest, cond, if_true, if_false))
        return dest

    def trap_if(self, cond: Operand, code: TrapCode, loc: SourceLoc) -> None:
        """Trap `code` at `loc` when `cond` is true (what the lowering pass makes of checked operations)."""
        self._check("trap_if", cond.type, BOOL)
        self._emit(ir.TrapIf(cond, TrapCode(code), loc))

    def sitofp(self, v: Operand) -> ir.Temp:
        self._check("sitofp", v.type, I64)
        dest = self._temp(F64)
        self._emit(ir.Convert(dest, ConvertOp.SITOFP, v))
        return dest

    def fptosi(self, v: Operand, loc: SourceLoc) -> ir.Temp:
        """`int(f)`: traps at `loc` on NaN, infinities and values out of range."""
        self._check("fptosi", v.type, F64)
        dest = self._temp(I64)
        self._emit(ir.Convert(dest, ConvertOp.FPTOSI, v, loc))
        return dest

    # -- calls and control flow

    def _call(self, callee: ir.FunctionRef, args: Sequence[Operand], loc: SourceLoc | None) -> ir.Temp | None:
        if len(args) != len(callee.params):
            raise IRTypeError(f"call {callee.name}: {len(args)} arguments, expected {len(callee.params)}")
        for i, (a, t) in enumerate(zip(args, callee.params, strict=True)):
            if a.type is not t:
                raise IRTypeError(f"call {callee.name}: argument {i + 1} of type {a.type}, expected {t}")
        dest = None if callee.ret is VOID else self._temp(callee.ret, "r")
        self._emit(ir.Call(dest, callee, tuple(args), loc))
        return dest

    def heap(self, op: str, args: Sequence[Operand], ret: Type, loc: SourceLoc, aux: str | None = None) -> ir.Temp | None:
        """A version-2 heap or string operation (`ir.HEAP_OPS`); its result temp (None for `ret` VOID)."""
        if op not in ir.HEAP_OPS:
            raise IRTypeError(f"unknown heap operation {op}")
        dest = None if ret is VOID else self._temp(ret, "h")
        self._emit(ir.HeapOp(dest, op, tuple(args), loc, aux))
        return dest

    def call_method(self, fn: Operand, args: Sequence[Operand], params: Sequence[Type], ret: Type,
                    loc: SourceLoc) -> ir.Temp | None:
        dest = None if ret is VOID else self._temp(ret, "r")
        self._emit(ir.CallMethod(dest, fn, tuple(args), tuple(params), ret, loc))
        return dest

    def call(self, callee: ir.FunctionRef, args: Sequence[Operand], loc: SourceLoc | None = None) -> ir.Temp:
        """Call a function that returns a value; its result temp. (For a `void` callee use `call_void`;
        `call` still accepts one, returning None, for callers written before `call_void` existed.)"""
        return self._call(callee, args, loc)  # type: ignore[return-value]

    def call_void(self, callee: ir.FunctionRef, args: Sequence[Operand], loc: SourceLoc | None = None) -> None:
        """Call a function that returns nothing."""
        if callee.ret is not VOID:
            raise IRTypeError(f"call_void {callee.name}: it returns {callee.ret} (use call)")
        self._call(callee, args, loc)

    def poll(self, loc: SourceLoc) -> None:
        self._emit(ir.Poll(loc))

    def _terminate(self, term: ir.Terminator) -> None:
        if self.block is None or self.block.terminator is not None:
            raise IRTypeError("block already terminated")
        self.block.terminator = term

    def br(self, target: ir.Block) -> None:
        self._terminate(ir.Br(target.label))

    def cbranch(self, cond: Operand, then: ir.Block, orelse: ir.Block) -> None:
        self._check("cbranch", cond.type, BOOL)
        self._terminate(ir.CondBr(cond, then.label, orelse.label))

    def ret(self, value: Operand | None = None) -> None:
        want = self.ref.ret
        got = VOID if value is None else value.type
        if got is not want:
            raise IRTypeError(f"ret: value of type {got} in a function returning {want}")
        self._terminate(ir.Ret(value))

    @contextmanager
    def if_then(self, cond: Operand) -> Iterator[None]:
        """`with b.if_then(c): ...` builds the then-part; afterwards the position is the join block."""
        then, join = self.append_block("then"), self.append_block("endif")
        self.cbranch(cond, then, join)
        self.position_at_end(then)
        yield
        if not self.terminated:
            self.br(join)
        self.position_at_end(join)

    @contextmanager
    def if_else(self, cond: Operand) -> Iterator[tuple[AbstractContextManager[None], AbstractContextManager[None]]]:
        """`with b.if_else(c) as (then, orelse): with then: ...; with orelse: ...` as in llvmlite."""
        bthen, belse, join = self.append_block("then"), self.append_block("else"), self.append_block("endif")
        self.cbranch(cond, bthen, belse)

        @contextmanager
        def part(block: ir.Block) -> Iterator[None]:
            self.position_at_end(block)
            yield
            if not self.terminated:
                self.br(join)

        yield part(bthen), part(belse)
        self.position_at_end(join)

    def finish(self) -> ir.Function:
        """The built function; every block must be terminated (unreachable empty blocks are dropped)."""
        blocks = []
        for b in self.blocks:
            if b.terminator is None:
                if not b.instrs and not self._is_target(b.label):
                    continue
                raise IRTypeError(f"block {b.label} of {self.ref.name} has no terminator")
            blocks.append(b)
        fn = ir.Function(self.ref, self.param_names, list(self.locals), blocks, self.loc)
        if self._on_finish is not None:
            self._on_finish(fn)
        return fn

    def _is_target(self, label: str) -> bool:
        for b in self.blocks:
            t = b.terminator
            if isinstance(t, ir.Br) and t.target == label:
                return True
            if isinstance(t, ir.CondBr) and label in (t.then_target, t.else_target):
                return True
        return False


class ModuleBuilder:
    """Builds one `ir.Module`: mints valid RefPerSys OIDs for the module and its functions, their native
    symbols (`rpsfn` + OID), and collects the functions built with `function(...)`.

    `seed` (any str or int) makes the OIDs reproducible: the same seed, module name and function name and
    signature always give the same OID (for golden files); without it they are random, as in a store.
    Either way `function_ref` returns the same `FunctionRef` for the same name and signature;
    `new_function_ref` mints another one.
    """

    def __init__(self, name: str, version: str = "1.0.0", *, seed: str | int | None = None,
                 file: str = "t.rps", requires: Sequence[tuple[str, str | None]] = ()) -> None:
        self.name = name
        self.version = version
        self.seed = seed
        self.file = file
        self.requires: list[tuple[str, str | None]] = list(requires)
        self.functions: list[ir.Function] = []
        self.extension_points: list[ir.ExtensionPoint] = []
        self.extensions: list[ir.Extension] = []
        self._refs: dict[tuple[str, tuple[Type, ...], Type], ir.FunctionRef] = {}
        self._homonyms: dict[tuple[str, tuple[Type, ...], Type], int] = {}
        self._minted = 0
        self.oid = self.mint_oid(("module",))

    def mint_oid(self, key: tuple[object, ...] | None = None) -> str:
        """A fresh OID text (from `key` when the builder has a seed; a running count when `key` is None)."""
        if self.seed is None:
            return str(Oid.random())
        if key is None:
            self._minted += 1
            key = ("minted", self._minted)
        rng = random.Random(repr((self.seed, self.name, *key)))
        return str(Oid.random(rng))  # type: ignore[arg-type]

    def loc(self, line: int, col: int = 1) -> SourceLoc:
        """A source location in this module's file."""
        return SourceLoc(self.file, line, col)

    def function_ref(self, name: str, params: Sequence[Type], ret: Type) -> ir.FunctionRef:
        """The reference of this module's function `name` (OID and symbol minted on first use)."""
        key = (name, tuple(params), ret)
        ref = self._refs.get(key)
        if ref is None:
            oid = self.mint_oid(("function", name, tuple(t.value for t in params), ret.value))
            ref = ir.FunctionRef(oid, ir.symbol_of(oid), name, tuple(params), ret, self.oid)
            self._refs[key] = ref
        return ref

    def new_function_ref(self, name: str, params: Sequence[Type], ret: Type) -> ir.FunctionRef:
        """A reference with a fresh OID even when the name and signature were used before (a second
        function of the same name, as a store may hold)."""
        key = (name, tuple(params), ret)
        self._homonyms[key] = n = self._homonyms.get(key, 0) + 1
        oid = self.mint_oid(("function", name, tuple(t.value for t in params), ret.value, n))
        return ir.FunctionRef(oid, ir.symbol_of(oid), name, tuple(params), ret, self.oid)

    def function(self, name: str, params: Sequence[tuple[str, Type]], ret: Type,
                 loc: SourceLoc | int = 1) -> FunctionBuilder:
        """A FunctionBuilder for a new function of this module, positioned at its `entry` block; its
        `finish()` adds the function to the module. `loc` is a SourceLoc or a line of this file."""
        ref = self.function_ref(name, [t for _, t in params], ret)
        where = loc if isinstance(loc, SourceLoc) else self.loc(loc)
        b = FunctionBuilder(ref, [n for n, _ in params], where, on_finish=self.add)
        b.position_at_end(b.append_block("entry"))
        return b

    def add(self, fn: ir.Function) -> ir.Function:
        """Add a finished function (built elsewhere) to the module."""
        if fn.ref.module_oid != self.oid:
            raise IRTypeError(f"function {fn.name} belongs to module {fn.ref.module_oid}, not {self.oid}")
        self.functions.append(fn)
        return fn

    def extension_point(self, name: str, params: Sequence[Type], ret: Type, mode: str = "first") -> ir.ExtensionPoint:
        """Declare an extension point of this module (`mode` "first" or "all")."""
        if mode not in ("first", "all"):
            raise IRTypeError(f"extension point mode must be 'first' or 'all', not {mode!r}")
        point = ir.ExtensionPoint(self.mint_oid(("point", name)), name, tuple(params), ret, mode)
        self.extension_points.append(point)
        return point

    def extend(self, point: ir.ExtensionPoint, priority: int, function: ir.FunctionRef) -> ir.Extension:
        """`extend point priority N with function`."""
        if (function.params, function.ret) != (point.params, point.ret):
            raise IRTypeError(f"extension {function.name}{function.signature} of {point.name}{point.signature}")
        ext = ir.Extension(point, priority, function)
        self.extensions.append(ext)
        return ext

    def require(self, name: str, constraint: str | None = None) -> None:
        """Record that this module requires module `name` (optionally a version constraint such as ">=1.0")."""
        self.requires.append((name, constraint))

    def finish(self) -> ir.Module:
        """The module, with the functions added so far."""
        return ir.Module(self.oid, self.name, self.version, list(self.requires), list(self.functions),
                         list(self.extension_points), list(self.extensions))
