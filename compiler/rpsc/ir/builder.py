"""FunctionBuilder: builds an `ir.Function` the way llvmlite's IRBuilder builds LLVM IR.

A position (the current block), one method per operation, each returning the new temp; operand types are
checked as you build (the message names both types); names are deterministic (`t`, `t.1`, ...).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager

from rpsc.ir import ir
from rpsc.ir.ir import BOOL, F64, I64, VOID, Operand, SourceLoc, Type


class IRTypeError(TypeError):
    """An operation built with operands of the wrong type (a bug in the caller, not user input)."""


_INT_OPS = {"add", "sub", "mul", "sdiv", "srem", "shl", "ashr", "and", "or", "xor"}
_BOOL_OPS = {"and", "or", "xor"}
_FLOAT_OPS = {"fadd", "fsub", "fmul", "fdiv"}
_CMP_OPS = {"eq", "ne", "lt", "le", "gt", "ge"}


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

    def __init__(self, ref: ir.FunctionRef, param_names: Sequence[str], loc: SourceLoc) -> None:
        if len(param_names) != len(ref.params):
            raise IRTypeError("parameter names and types differ in number")
        self.ref = ref
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

    def binop(self, op: str, lhs: Operand, rhs: Operand, loc: SourceLoc | None = None) -> ir.Temp:
        t = self._same(op, lhs, rhs)
        if op in _FLOAT_OPS:
            self._check(op, t, F64)
        elif op in _BOOL_OPS:
            self._check(op, t, I64, BOOL)
        elif op in _INT_OPS:
            self._check(op, t, I64)
        else:
            raise IRTypeError(f"unknown binary operation {op!r}")
        if op in ("sdiv", "srem") and loc is None:
            raise IRTypeError(f"{op} needs a source location (it can trap)")
        dest = self._temp(t)
        self._emit(ir.BinOp(dest, op, lhs, rhs, loc))
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

    def icmp(self, op: str, a: Operand, b: Operand) -> ir.Temp:
        t = self._same(f"icmp {op}", a, b)
        if op not in _CMP_OPS:
            raise IRTypeError(f"unknown comparison {op!r}")
        self._check(f"icmp {op}", t, I64, *((BOOL,) if op in ("eq", "ne") else ()))
        dest = self._temp(BOOL, "c")
        self._emit(ir.Cmp(dest, "icmp", op, a, b))
        return dest

    def fcmp(self, op: str, a: Operand, b: Operand) -> ir.Temp:
        t = self._same(f"fcmp {op}", a, b)
        if op not in _CMP_OPS:
            raise IRTypeError(f"unknown comparison {op!r}")
        self._check(f"fcmp {op}", t, F64)
        dest = self._temp(BOOL, "c")
        self._emit(ir.Cmp(dest, "fcmp", op, a, b))
        return dest

    def unop(self, op: str, value: Operand) -> ir.Temp:
        want = {"neg": I64, "bnot": I64, "abs": I64, "not": BOOL, "fneg": F64, "fabs": F64, "sqrt": F64}
        if op not in want:
            raise IRTypeError(f"unknown unary operation {op!r}")
        self._check(op, value.type, want[op])
        dest = self._temp(value.type)
        self._emit(ir.UnOp(dest, op, value))
        return dest

    def neg(self, v: Operand) -> ir.Temp:
        return self.unop("neg", v)

    def fneg(self, v: Operand) -> ir.Temp:
        return self.unop("fneg", v)

    def not_(self, v: Operand) -> ir.Temp:
        return self.unop("not", v)

    def bnot(self, v: Operand) -> ir.Temp:
        return self.unop("bnot", v)

    def minmax(self, op: str, a: Operand, b: Operand) -> ir.Temp:
        t = self._same(op, a, b)
        if op not in ("min", "max"):
            raise IRTypeError(f"unknown operation {op!r}")
        self._check(op, t, I64, F64)
        dest = self._temp(t)
        self._emit(ir.MinMax(dest, op, a, b))
        return dest

    def sitofp(self, v: Operand) -> ir.Temp:
        self._check("sitofp", v.type, I64)
        dest = self._temp(F64)
        self._emit(ir.Convert(dest, "sitofp", v))
        return dest

    def fptosi(self, v: Operand, loc: SourceLoc) -> ir.Temp:
        self._check("fptosi", v.type, F64)
        dest = self._temp(I64)
        self._emit(ir.Convert(dest, "fptosi", v, loc))
        return dest

    # -- calls and control flow

    def call(self, callee: ir.FunctionRef, args: Sequence[Operand], loc: SourceLoc | None = None) -> ir.Temp | None:
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
        return ir.Function(self.ref, self.param_names, list(self.locals), blocks, self.loc)

    def _is_target(self, label: str) -> bool:
        for b in self.blocks:
            t = b.terminator
            if isinstance(t, ir.Br) and t.target == label:
                return True
            if isinstance(t, ir.CondBr) and label in (t.then_target, t.else_target):
                return True
        return False
