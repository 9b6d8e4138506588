"""The typed IR that both backends and the interpreter consume: modules, functions, blocks, instructions.

Functions keep their variables in typed *locals* (parameters are the first locals) that instructions
`load` and `store`; every other instruction defines a fresh typed *temp*. Each block ends with exactly one
terminator (`Br`, `CondBr`, `Ret`). Instructions that can trap carry the `SourceLoc` reported by the trap.

Semantics (LANGUAGE.md, identical in every backend):
- i64 `add sub mul neg` wrap modulo 2**64; `sdiv`/`srem` truncate toward zero and can trap (their trap
  conditions and their INT_MIN / -1 results are written once, as explicit IR, by `rpsc.ir.passes`);
  `shl`/`ashr` take the count modulo 64.
- `and or xor` work on i64 and on bool; `not` is boolean negation; `bnot` is bitwise complement of an i64.
- f64 `fadd fsub fmul fdiv fneg` are IEEE-754 binary64, no fast-math.
- `icmp` compares i64 (or bool for eq/ne); `fcmp` is ordered for eq lt le gt ge and unordered for ne
  (C semantics: any comparison with NaN is false, except `!=`).
- `sitofp` converts i64 -> f64 (round to nearest); `fptosi` truncates toward zero and can trap (see
  `rpsc.ir.passes`).
- `abs` on i64 wraps (abs(INT_MIN) == INT_MIN); `fabs` clears the sign bit. `min(a, b)` is
  `b < a ? b : a` and `max(a, b)` is `a < b ? b : a`, for i64 and f64 alike. `sqrt` is IEEE sqrt
  (NaN for negatives). `select c, a, b` is `c ? a : b`.
- `call` runs another function; its trap propagates unchanged. Every function checks the call depth on
  entry (trap RECURSION at the function's own `loc` when depth would exceed the limit) and restores it on
  every exit. `poll` (placed on every loop back-edge) traps INTERRUPT at its `loc` when the host has set
  the interrupt flag. `trap_if c, CODE` traps CODE at its `loc` when `c` is true.

Two levels, one set of classes. The IR that `FunctionBuilder` and `from_heap` build may contain the
*checked* operations `sdiv`, `srem` and `fptosi`, whose traps are implicit. `rpsc.ir.passes.lower` turns
each into explicit IR: `trap_if` instructions, `select`s, and the *unchecked* operations `sdiv.unchecked`,
`srem.unchecked`, `fptosi.unchecked`, which never trap because their operands are known to be in range
(a divisor other than 0, never INT_MIN over -1; a value in [-2**63, 2**63)): a backend emits the machine
instruction. The
interpreter and both backends take lowered IR only and translate each instruction on its own.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

from rpsrt.errors import TRAP_CONVERSION, TRAP_DIVZERO, TRAP_INTERRUPT, TRAP_RECURSION


class TrapCode(enum.IntEnum):
    """The trap codes of the IR (`trap_if`, the entry check, `poll`); the values are rpsrt.errors' TRAP_*."""

    DIVZERO = TRAP_DIVZERO
    CONVERSION = TRAP_CONVERSION
    RECURSION = TRAP_RECURSION
    INTERRUPT = TRAP_INTERRUPT


class BinaryOp(enum.StrEnum):
    """Operations of `BinOp` (a `str` enum: `BinaryOp.ADD == "add"`)."""

    ADD = "add"
    SUB = "sub"
    MUL = "mul"
    SDIV = "sdiv"                          # checked: lowered by rpsc.ir.passes
    SREM = "srem"                          # checked: lowered by rpsc.ir.passes
    SHL = "shl"
    ASHR = "ashr"
    AND = "and"
    OR = "or"
    XOR = "xor"
    FADD = "fadd"
    FSUB = "fsub"
    FMUL = "fmul"
    FDIV = "fdiv"
    SDIV_UNCHECKED = "sdiv.unchecked"      # lowered IR only: divisor not 0, never INT_MIN / -1
    SREM_UNCHECKED = "srem.unchecked"      # lowered IR only: divisor not 0, never INT_MIN % -1


class UnaryOp(enum.StrEnum):
    """Operations of `UnOp`."""

    NEG = "neg"
    FNEG = "fneg"
    NOT = "not"
    BNOT = "bnot"
    ABS = "abs"
    FABS = "fabs"
    SQRT = "sqrt"


class CmpKind(enum.StrEnum):
    """`Cmp.kind`: integer/bool or float comparison."""

    ICMP = "icmp"
    FCMP = "fcmp"


class CmpOp(enum.StrEnum):
    """`Cmp.op`."""

    EQ = "eq"
    NE = "ne"
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"


class MinMaxOp(enum.StrEnum):
    """`MinMax.op`."""

    MIN = "min"
    MAX = "max"


class ConvertOp(enum.StrEnum):
    """Operations of `Convert`."""

    SITOFP = "sitofp"
    FPTOSI = "fptosi"                      # checked: lowered by rpsc.ir.passes
    FPTOSI_UNCHECKED = "fptosi.unchecked"  # lowered IR only: the value is in [-2**63, 2**63)


#: The checked operations, which only `rpsc.ir.passes.lower` knows how to make explicit.
CHECKED_OPS = frozenset({BinaryOp.SDIV, BinaryOp.SREM, ConvertOp.FPTOSI})


class Type(enum.Enum):
    I64 = "i64"
    F64 = "f64"
    BOOL = "bool"
    VOID = "void"
    # version 2: a string, a reference to a heap object (or null), any RefPerSys value
    STR = "str"
    OBJ = "obj"
    VALUE = "value"

    def __str__(self) -> str:
        return self.value

    @property
    def abi(self) -> str:
        """The type's code in ABI signature strings (`val` for a value)."""
        return "val" if self.value == "value" else self.value

    @classmethod
    def _missing_(cls, value: object) -> Type | None:
        return cls("value") if value == "val" else None

    @classmethod
    def from_source(cls, name: str) -> Type:
        """The IR type of a `.rps` type name (int, float, bool, void)."""
        return {"int": cls.I64, "float": cls.F64, "bool": cls.BOOL, "void": cls.VOID, "str": cls.STR,
                "obj": cls.OBJ, "value": cls.VALUE}[name]


I64, F64, BOOL, VOID = Type.I64, Type.F64, Type.BOOL, Type.VOID
STR, OBJ, VALUE = Type.STR, Type.OBJ, Type.VALUE
#: The types of version 2 (heap code); a function using them runs only where the heap API is available.
HEAP_TYPES = frozenset({STR, OBJ, VALUE})


@dataclass(frozen=True, slots=True)
class SourceLoc:
    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True, slots=True)
class Const:
    type: Type
    value: int | float | bool


@dataclass(frozen=True, slots=True)
class Temp:
    name: str
    type: Type


Operand = Const | Temp


@dataclass(frozen=True, slots=True)
class Local:
    """A typed variable slot of a function; `index` is its position in `Function.locals`."""

    name: str
    type: Type
    index: int


#: Compiled functions are exported as this prefix followed by their OID text (`rpsfn_7WsQyJK6lty02uz5KT`).
SYMBOL_PREFIX = "rpsfn"


def symbol_of(oid: str) -> str:
    """The native symbol of the function whose OID text is `oid`."""
    return f"{SYMBOL_PREFIX}{oid}"


def oid_of_symbol(symbol: str) -> str | None:
    """The OID text at the end of a native symbol `rpsfn<oid>` / `rpsfn_<oid>` (None if there is none)."""
    m = re.search(r"_[0-9][0-9A-Za-z]{17}$", symbol)
    return m.group(0) if m else None


@dataclass(frozen=True, slots=True)
class FunctionRef:
    """What a call names: the callee's OID text, native symbol, source name and signature."""

    oid: str
    symbol: str
    name: str
    params: tuple[Type, ...]
    ret: Type
    module_oid: str

    @property
    def signature(self) -> str:
        """The plugin ABI's signature string, e.g. `i64(i64,i64)` (version 2: `obj(obj,str,val)`)."""
        return f"{self.ret.abi}({','.join(t.abi for t in self.params)})"


# ---------------------------------------------------------------- instructions

@dataclass(frozen=True, slots=True)
class Load:
    dest: Temp
    local: Local


@dataclass(frozen=True, slots=True)
class Store:
    local: Local
    value: Operand


def _coerce(ins: object, name: str, enum_type: type[enum.StrEnum]) -> None:
    """Accept an opcode given as its string (`"sdiv"`) and store the enum member."""
    value = getattr(ins, name)
    if type(value) is not enum_type:
        object.__setattr__(ins, name, enum_type(value))


@dataclass(frozen=True, slots=True)
class BinOp:
    """op: add sub mul sdiv srem shl ashr and or xor (i64; and/or/xor also bool), fadd fsub fmul fdiv (f64);
    sdiv.unchecked srem.unchecked (lowered IR)."""

    dest: Temp
    op: BinaryOp
    lhs: Operand
    rhs: Operand
    loc: SourceLoc | None = None  # set for sdiv and srem (they trap)

    def __post_init__(self) -> None:
        _coerce(self, "op", BinaryOp)


@dataclass(frozen=True, slots=True)
class Cmp:
    """`icmp` or `fcmp` (kind) with op eq ne lt le gt ge; dest is bool."""

    dest: Temp
    kind: CmpKind
    op: CmpOp
    lhs: Operand
    rhs: Operand

    def __post_init__(self) -> None:
        _coerce(self, "kind", CmpKind)
        _coerce(self, "op", CmpOp)


@dataclass(frozen=True, slots=True)
class UnOp:
    """op: neg (i64, wrapping), fneg (f64), not (bool), bnot (i64), abs (i64), fabs, sqrt (f64)."""

    dest: Temp
    op: UnaryOp
    value: Operand

    def __post_init__(self) -> None:
        _coerce(self, "op", UnaryOp)


@dataclass(frozen=True, slots=True)
class MinMax:
    """op: min or max, on i64 or f64 (see the module docstring for the exact NaN behaviour)."""

    dest: Temp
    op: MinMaxOp
    lhs: Operand
    rhs: Operand

    def __post_init__(self) -> None:
        _coerce(self, "op", MinMaxOp)


@dataclass(frozen=True, slots=True)
class Convert:
    """op: sitofp (i64 -> f64), fptosi (f64 -> i64, traps CONVERSION at loc), fptosi.unchecked (lowered)."""

    dest: Temp
    op: ConvertOp
    value: Operand
    loc: SourceLoc | None = None

    def __post_init__(self) -> None:
        _coerce(self, "op", ConvertOp)


@dataclass(frozen=True, slots=True)
class Select:
    """dest = cond ? if_true : if_false (cond is bool; both values of dest's type)."""

    dest: Temp
    cond: Operand
    if_true: Operand
    if_false: Operand


@dataclass(frozen=True, slots=True)
class TrapIf:
    """Trap `code` at `loc` when `cond` (bool) is true; made by `rpsc.ir.passes.lower`."""

    cond: Operand
    code: TrapCode
    loc: SourceLoc


@dataclass(frozen=True, slots=True)
class Call:
    """A call; `copy` picks a body copy of a same-module callee (set by `rpsc.ir.passes.unroll_recursion`
    on self-calls; 0, the function's own body, everywhere else)."""

    dest: Temp | None
    callee: FunctionRef
    args: tuple[Operand, ...]
    loc: SourceLoc | None = None
    copy: int = 0


#: Version 2's operations on the heap and on strings (`HeapOp.op`) -> the traps each can raise (the kinds of
#: LANGUAGE.md's Version 2 tables). Their semantics is `rpsrt.model.heapapi.HeapRuntime`'s method of the
#: same name (see docs/ir.md); `send` resolves the method, `call_method` then calls it.
HEAP_OPS: dict[str, tuple[str, ...]] = {
    "box": (), "box_int": ("int out of range",), "unbox": ("type mismatch",),
    "is_int": (), "is_float": (), "is_str": (), "is_obj": (), "is_null": (), "value_eq": (), "obj_eq": (),
    "str_concat": (), "str_len": (), "str_cmp": (), "str_of_int": (), "str_of_float": (),
    "objref": ("unknown object",),
    "get_attr": ("null object", "missing attribute", "type mismatch"), "set_attr": ("null object",),
    "has": ("null object",), "remove": ("null object",), "get": ("null object", "not an attribute"),
    "put": ("null object", "not an attribute"),
    "length": ("null object",), "comp": ("null object", "index out of range"),
    "set_comp": ("null object", "index out of range"), "append": ("null object",),
    "new": ("not a class",), "class_of": ("null object",), "is_a": ("null object", "not a class"),
    "superclass": ("null object", "not a class"), "send": ("null object", "no method"),
    "oid": ("null object",), "space_of": ("null object",), "set_space": ("null object",),
    "find": (), "make_class": ("not a class", "invalid name"), "make_symbol": ("invalid name", "name exists"),
    "symbol_value": ("null object", "wrong payload"), "set_symbol_value": ("null object", "wrong payload"),
    "add_root": ("null object",), "remove_root": ("null object",), "is_root": ("null object",),
    "add_constant": ("null object",), "remove_constant": ("null object",), "is_constant": ("null object",),
    "set_add": ("null object", "wrong payload"), "set_remove": ("null object", "wrong payload"),
    "set_has": ("null object", "wrong payload"), "set_size": ("null object", "wrong payload"),
    "log": (), "fail": ("failed",),
}


@dataclass(frozen=True, slots=True)
class HeapOp:
    """A version-2 operation `op` (a key of `HEAP_OPS`) on `args`, with its result in `dest` (None: void) and
    the `loc` every trap of the operation reports. `aux` is a static operand: the declared type of an
    attribute read (`get_attr`), the wanted type (`unbox`), the comparison (`str_cmp`), the module's space OID
    (`new`)."""

    dest: Temp | None
    op: str
    args: tuple[Operand, ...]
    loc: SourceLoc
    aux: str | None = None


@dataclass(frozen=True, slots=True)
class CallMethod:
    """Call the function object `fn` (an obj: what `send` resolved) with `args` (the receiver first), as a
    function of parameter types `params` and result `ret`."""

    dest: Temp | None
    fn: Operand
    args: tuple[Operand, ...]
    params: tuple[Type, ...]
    ret: Type
    loc: SourceLoc


@dataclass(frozen=True, slots=True)
class Poll:
    """Interrupt check on a loop back-edge: traps INTERRUPT at loc when the host's flag is set."""

    loc: SourceLoc


@dataclass(frozen=True, slots=True)
class Br:
    target: str


@dataclass(frozen=True, slots=True)
class CondBr:
    cond: Operand
    then_target: str
    else_target: str


@dataclass(frozen=True, slots=True)
class Ret:
    value: Operand | None


Instr = Load | Store | BinOp | Cmp | UnOp | MinMax | Convert | Select | TrapIf | Call | Poll | HeapOp | CallMethod
Terminator = Br | CondBr | Ret


def uses_heap(fn: Function) -> bool:
    """Whether a function is version-2 heap code (a str, obj or value anywhere in it)."""
    if any(t in HEAP_TYPES for t in (*fn.ref.params, fn.ref.ret)) or any(l.type in HEAP_TYPES for l in fn.locals):
        return True
    return any(isinstance(i, (HeapOp, CallMethod)) for b in fn.blocks for i in b.instrs)


@dataclass(slots=True)
class Block:
    label: str
    instrs: list[Instr] = field(default_factory=list)
    terminator: Terminator | None = None


@dataclass(slots=True)
class Function:
    """A function: `ref` names it (OID, symbol, signature); params are `locals[:len(ref.params)]`."""

    ref: FunctionRef
    param_names: tuple[str, ...]
    locals: list[Local]
    blocks: list[Block]
    loc: SourceLoc

    @property
    def name(self) -> str:
        return self.ref.name

    @property
    def symbol(self) -> str:
        return self.ref.symbol

    def block(self, label: str) -> Block:
        for b in self.blocks:
            if b.label == label:
                return b
        raise KeyError(label)


@dataclass(frozen=True, slots=True)
class ExtensionPoint:
    oid: str
    name: str
    params: tuple[Type, ...]
    ret: Type
    mode: str  # "first" or "all"

    @property
    def signature(self) -> str:
        return f"{self.ret.value}({','.join(t.value for t in self.params)})"


@dataclass(frozen=True, slots=True)
class Extension:
    """`extend point priority N with fn`: the point's name and OID, the priority, the implementing function."""

    point: ExtensionPoint
    priority: int
    function: FunctionRef


@dataclass(slots=True)
class Module:
    """One `.rps` module, as loaded from the store: one LLVM module, one C file, one plugin."""

    oid: str
    name: str
    version: str
    requires: list[tuple[str, str | None]]  # (module name, constraint such as ">=1.0")
    functions: list[Function]
    extension_points: list[ExtensionPoint]
    extensions: list[Extension]

    def externs(self) -> list[FunctionRef]:
        """Functions of other modules that this module calls, sorted by symbol."""
        seen: dict[str, FunctionRef] = {}
        for fn in self.functions:
            for b in fn.blocks:
                for ins in b.instrs:
                    if isinstance(ins, Call) and ins.callee.module_oid != self.oid:
                        seen[ins.callee.symbol] = ins.callee
        return [seen[k] for k in sorted(seen)]
