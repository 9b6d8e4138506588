"""IR passes that every backend takes: trap lowering (`lower`) and recursion unrolling (`unroll_recursion`).

`lower(fn)` makes every implicit trap explicit. It is the one place where the trap conditions of `/`, `%`
and `int(f)` and the results of `INT_MIN / -1` and `INT_MIN % -1` are written (LANGUAGE.md):

    d = sdiv a, b @loc        z = icmp eq b, 0; trap_if z, DIVZERO @loc
                              m = icmp eq b, -1; l = icmp eq a, INT_MIN; o = and m, l
                              s = select o, 1, b; d = sdiv.unchecked a, s
    d = srem a, b @loc        (the same, with d = srem.unchecked a, s)
    d = fptosi v @loc         lo = fcmp ge v, -2**63; hi = fcmp lt v, 2**63; ok = and lo, hi; bad = not ok
                              trap_if bad, CONVERSION @loc; d = fptosi.unchecked v

(with a constant divisor other than 0 and -1, just `d = sdiv.unchecked a, b`). The lowered function has no
checked operation left (INT_MIN / -1 is INT_MIN / 1, INT_MIN % -1 is INT_MIN % 1), so the interpreter and the backends translate each instruction on its own and none
of them knows a trap rule.

`unroll_recursion(fn, copies)` is the one rule for which functions get several body copies and how many:
a small self-recursive function becomes a ring of up to `copies` bodies whose self-calls go to the next
body (`Call.copy`); a backend makes copies 1.. inlinable, so its compiler (which never inlines a function
into itself) unrolls the recursion. The requested count per optimisation level, the JIT's tier-2 (-O3)
count included, is `copies_for_level`.

`poll_entry(fn)` puts a `poll` at the function's entry (its own location), so that code without loops,
loop-free recursion included, still answers an interrupt: every call checks the host's flag once.

`prepare(module, copies)` runs them all: the lowered module with entry polls and each function's ring of
bodies, which is what `emit_llvm` and `emit_c` translate (`entry_poll=False` leaves the entry polls out,
for measuring what they cost).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from rpsc.ir import ir
from rpsc.ir.ir import BOOL, F64, I64, BinaryOp, CmpKind, CmpOp, ConvertOp, TrapCode, UnaryOp

# ------------------------------------------------------------------------------------------ traps

#: The range of an f64 that `int(f)` accepts: [-2**63, 2**63) (both bounds exact doubles; NaN is outside).
FPTOSI_MIN = -(2.0**63)
FPTOSI_LIMIT = 2.0**63


class _Lowering:
    """Lowers one function: fresh temp names that no existing temp uses."""

    def __init__(self, fn: ir.Function) -> None:
        self.fn = fn
        dests = (getattr(ins, "dest", None) for b in fn.blocks for ins in b.instrs)
        self.taken = {d.name for d in dests if isinstance(d, ir.Temp)}
        self.n = 0

    def temp(self, type: ir.Type) -> ir.Temp:
        while True:
            self.n += 1
            name = f"lw.{self.n}"
            if name not in self.taken:
                return ir.Temp(name, type)

    def instr(self, ins: ir.Instr) -> list[ir.Instr]:
        if isinstance(ins, ir.BinOp) and ins.op in (BinaryOp.SDIV, BinaryOp.SREM):
            return self.division(ins)
        if isinstance(ins, ir.Convert) and ins.op is ConvertOp.FPTOSI:
            return self.conversion(ins)
        return [ins]

    def division(self, ins: ir.BinOp) -> list[ir.Instr]:
        """`/` and `%`: trap DIVZERO on a zero divisor; INT_MIN / -1 == INT_MIN and INT_MIN % -1 == 0, which
        are INT_MIN / 1 and INT_MIN % 1: that one divisor is replaced by 1 for the unchecked operation."""
        unchecked = BinaryOp.SDIV_UNCHECKED if ins.op is BinaryOp.SDIV else BinaryOp.SREM_UNCHECKED
        a, b = ins.lhs, ins.rhs
        if isinstance(b, ir.Const) and int(b.value) not in (0, -1):
            return [ir.BinOp(ins.dest, unchecked, a, b)]
        zero, minus1, least, overflow, safe = (self.temp(BOOL), self.temp(BOOL), self.temp(BOOL),
                                               self.temp(BOOL), self.temp(I64))
        return [
            ir.Cmp(zero, CmpKind.ICMP, CmpOp.EQ, b, ir.Const(I64, 0)),
            ir.TrapIf(zero, TrapCode.DIVZERO, ins.loc or self.fn.loc),
            ir.Cmp(minus1, CmpKind.ICMP, CmpOp.EQ, b, ir.Const(I64, -1)),
            ir.Cmp(least, CmpKind.ICMP, CmpOp.EQ, a, ir.Const(I64, -(2**63))),
            ir.BinOp(overflow, BinaryOp.AND, minus1, least),
            ir.Select(safe, overflow, ir.Const(I64, 1), b),
            ir.BinOp(ins.dest, unchecked, a, safe),
        ]

    def conversion(self, ins: ir.Convert) -> list[ir.Instr]:
        """`int(f)`: trap CONVERSION unless FPTOSI_MIN <= f < FPTOSI_LIMIT (so NaN and infinities trap)."""
        v = ins.value
        lo, hi, ok, bad = self.temp(BOOL), self.temp(BOOL), self.temp(BOOL), self.temp(BOOL)
        return [
            ir.Cmp(lo, CmpKind.FCMP, CmpOp.GE, v, ir.Const(F64, FPTOSI_MIN)),
            ir.Cmp(hi, CmpKind.FCMP, CmpOp.LT, v, ir.Const(F64, FPTOSI_LIMIT)),
            ir.BinOp(ok, BinaryOp.AND, lo, hi),
            ir.UnOp(bad, UnaryOp.NOT, ok),
            ir.TrapIf(bad, TrapCode.CONVERSION, ins.loc or self.fn.loc),
            ir.Convert(ins.dest, ConvertOp.FPTOSI_UNCHECKED, v),
        ]


def _checked(ins: ir.Instr) -> bool:
    return isinstance(ins, (ir.BinOp, ir.Convert)) and ins.op in ir.CHECKED_OPS


def is_lowered(fn: ir.Function) -> bool:
    """Whether `fn` has no checked operation left (every trap explicit)."""
    return not any(_checked(ins) for b in fn.blocks for ins in b.instrs)


def lower(fn: ir.Function) -> ir.Function:
    """`fn` with every checked operation replaced by explicit IR (see the module docstring); `fn` itself
    when there is none, so lowering twice is lowering once."""
    if is_lowered(fn):
        return fn
    lw = _Lowering(fn)
    blocks = []
    for b in fn.blocks:
        instrs: list[ir.Instr] = []
        for ins in b.instrs:
            instrs += lw.instr(ins)
        blocks.append(ir.Block(b.label, instrs, b.terminator))
    return replace(fn, blocks=blocks)


def lower_module(module: ir.Module) -> ir.Module:
    """`module` with every function lowered (`module` itself when nothing needed lowering)."""
    functions = [lower(f) for f in module.functions]
    if all(a is b for a, b in zip(functions, module.functions, strict=True)):
        return module
    return replace(module, functions=functions)


# ------------------------------------------------------------------------------- entry polls


def has_entry_poll(fn: ir.Function) -> bool:
    """Whether `fn` starts with the interrupt poll of `poll_entry`."""
    first = fn.blocks[0].instrs[0] if fn.blocks and fn.blocks[0].instrs else None
    return isinstance(first, ir.Poll) and first.loc == fn.loc


def poll_entry(fn: ir.Function) -> ir.Function:
    """`fn` with a `poll` at its location as the first instruction of its entry block (`fn` itself when it
    has one already: the pass is idempotent). The backends emit the recursion check before the blocks, so a
    call first checks the depth, then the interrupt flag."""
    if not fn.blocks or has_entry_poll(fn):
        return fn
    entry = fn.blocks[0]
    blocks = [ir.Block(entry.label, [ir.Poll(fn.loc), *entry.instrs], entry.terminator), *fn.blocks[1:]]
    return replace(fn, blocks=blocks)


# ------------------------------------------------------------------------------------ recursion

#: Body copies of a small self-recursive function at -O2 (1 = no copy). Copy i calls copy i+1 (mod n) and
#: copies 1..n-1 are inlinable, so the recursion is unrolled n levels deep (left to LLVM's cost model,
#: rings of 4 or more copies are unrolled only part-way and run slower).
RECURSION_COPIES = 3

#: Copies at -O3, the JIT's tier 2 included: faster recursive code (fib at gcc's speed), about twice the
#: compile time of -O2.
RECURSION_COPIES_O3 = 5

#: Only functions of at most this many IR instructions (terminators included, before lowering) get copies.
RECURSION_COPY_MAX_INSTRS = 64

#: A body of s instructions making c self-calls grows to about s * c**(n-1) instructions once n copies
#: are inlined; n is the largest count (<= the requested one) keeping that within this budget.
RECURSION_INLINE_BUDGET = 256


def copies_for_level(opt_level: int) -> int:
    """The copies to request at optimisation level `opt_level`: RECURSION_COPIES at 2, RECURSION_COPIES_O3
    at 3 and above, 1 (no unrolling) below 2."""
    if opt_level >= 3:
        return RECURSION_COPIES_O3
    return RECURSION_COPIES if opt_level >= 2 else 1


def recursion_copies(fn: ir.Function, requested: int) -> int:
    """How many body copies `fn` gets: up to `requested` for a small self-recursive function (fewer when
    the inlined copies would exceed RECURSION_INLINE_BUDGET), else 1."""
    size = sum(len(blk.instrs) + 1 for blk in fn.blocks)
    if requested <= 1 or size > RECURSION_COPY_MAX_INSTRS:
        return 1
    calls = sum(1 for blk in fn.blocks for ins in blk.instrs
                if isinstance(ins, ir.Call) and ins.callee.symbol == fn.ref.symbol)
    if calls == 0:
        return 1
    n = 1
    while n < requested and size * calls ** n <= RECURSION_INLINE_BUDGET:
        n += 1
    return n


def gains_copies(module: ir.Module, requested: int, more: int) -> bool:
    """Whether some function of `module` gets more copies when `more` are requested instead of
    `requested` (the JIT tiers up only such a module)."""
    return any(recursion_copies(f, more) > recursion_copies(f, requested) for f in module.functions)


def unroll_recursion(fn: ir.Function, copies: int) -> tuple[ir.Function, ...]:
    """The ring of `copies` bodies of `fn` (just `(fn,)` for 1): in body i, every self-call calls body
    i+1 (mod `copies`) through `Call.copy`."""
    if copies <= 1:
        return (fn,)
    ring = []
    for i in range(copies):
        nxt = (i + 1) % copies
        blocks = [ir.Block(b.label, [replace(ins, copy=nxt) if isinstance(ins, ir.Call)
                                     and ins.callee.symbol == fn.ref.symbol else ins for ins in b.instrs],
                           b.terminator)
                  for b in fn.blocks]
        ring.append(replace(fn, blocks=blocks))
    return tuple(ring)


# ------------------------------------------------------------------------------------- pipeline


@dataclass(frozen=True, slots=True)
class LoweredModule:
    """What a backend translates: the lowered module and, by function symbol, its ring of bodies
    (`bodies[symbol][0]` is the function's own body; a function without copies has a ring of one)."""

    module: ir.Module
    bodies: dict[str, tuple[ir.Function, ...]]

    def ring(self, fn: ir.Function) -> tuple[ir.Function, ...]:
        return self.bodies[fn.ref.symbol]


def prepare_function(fn: ir.Function, copies: int = 1, *, entry_poll: bool = True) -> tuple[ir.Function, ...]:
    """The ring of lowered bodies of `fn` with up to `copies` copies, each starting with the entry poll
    unless `entry_poll=False` (the size rule applies to the IR as built, before lowering)."""
    low = lower(fn)
    return unroll_recursion(poll_entry(low) if entry_poll else low, recursion_copies(fn, copies))


def prepare(module: ir.Module, copies: int = 1, *, entry_poll: bool = True) -> LoweredModule:
    """Lower `module` (entry polls included unless `entry_poll=False`) and unroll its small self-recursive
    functions into rings of up to `copies` bodies."""
    bodies = {f.ref.symbol: prepare_function(f, copies, entry_poll=entry_poll) for f in module.functions}
    lowered = replace(module, functions=[bodies[f.ref.symbol][0] for f in module.functions])
    return LoweredModule(lowered, bodies)
