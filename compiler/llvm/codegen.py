"""LLVM IR code generation: one typed `ir.Module` -> one `llvmlite.ir.Module` (and its text).

Entry points: `build_llvm_module(module)` returns the llvmlite module, `emit_llvm(module)` its text.
The ABI (documented in docs/llvm-backend.md) is shared with the C backend:

    int32_t rpsfn_<oid>(T *result, args...)

`bool` is `i1` in registers and `i8` (0/1, `zeroext`) in memory and at the ABI; a `void` function still
takes the result pointer (ignored; callers pass null). The run-time state is the external global
`@rps_rt` (struct `rps_rt` of rps/runtime.h), never defined here, so the text is independent of process
addresses. No instruction can produce poison or undefined behaviour: divisors and float->int conversions
are checked before the instruction, arithmetic carries no `nsw`/`nuw`, floats no fast-math flags.

Each function is an internal `fastcc` *body* taking the remaining call depth (`room`) in a register and
returning its plain value, plus the exported *wrapper* above, which `_setjmp`s: a trap records its site
in `rps_rt` and `longjmp`s back to the innermost wrapper (see docs/llvm-backend.md).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from llvmlite import ir as ll
from rpsc.ir import ir
from rpsrt.errors import TRAP_CONVERSION, TRAP_DIVZERO, TRAP_INTERRUPT, TRAP_RECURSION

I1 = ll.IntType(1)
I8 = ll.IntType(8)
I32 = ll.IntType(32)
I64 = ll.IntType(64)
F64 = ll.DoubleType()
PTR = ll.PointerType()

#: `struct rps_rt` of rps/runtime.h: interrupt, depth, depth_limit, reserved, trap_function, trap_location.
RT_TYPE = ll.LiteralStructType([I32, I32, I32, I32, PTR, PTR])
RT_INTERRUPT, RT_DEPTH, RT_LIMIT, RT_TRAP_FUNCTION, RT_TRAP_LOCATION = 0, 1, 2, 4, 5
RT_SYMBOL = "rps_rt"

_REG = {ir.I64: I64, ir.F64: F64, ir.BOOL: I1}
_ABI = {ir.I64: I64, ir.F64: F64, ir.BOOL: I8}
_ICMP = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_FCMP_ORDERED = {"eq": "==", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
# Bounds of an f64 that truncates into an i64: [-2**63, 2**63), both exact doubles.
_FP_LO = -(2.0**63)
_FP_HI = 2.0**63


def function_type(ref: ir.FunctionRef) -> ll.FunctionType:
    """`i32 (ptr result, args...)` of a function reference."""
    return ll.FunctionType(I32, [PTR, *(_ABI[t] for t in ref.params)])


def declare(module: ll.Module, ref: ir.FunctionRef) -> ll.Function:
    """The LLVM function named `ref.symbol` in `module`, declared on first use."""
    existing = module.globals.get(ref.symbol)
    if isinstance(existing, ll.Function):
        return existing
    fn = ll.Function(module, function_type(ref), ref.symbol)
    for arg, t in zip(fn.args[1:], ref.params, strict=True):
        if t is ir.BOOL:
            arg.add_attribute("zeroext")
    fn.args[0].name = "result"
    return fn


class _VolatileLoad(ll.LoadInstr):
    """`load volatile` (llvmlite's builder has no volatile flag); used for the interrupt flag."""

    def descr(self, buf: list[str]) -> None:
        [ptr] = self.operands
        buf.append(f"load volatile {self.type}, {ptr.type} {ptr.get_reference()}, align 4\n")


def _load_volatile(b: ll.IRBuilder, ptr: ll.Value, typ: ll.Type, name: str) -> ll.Value:
    instr = _VolatileLoad(b.block, ptr, name=name, typ=typ)
    b._insert(instr)  # noqa: SLF001 - the builder's public API cannot emit volatile loads
    return instr


@dataclass(slots=True)
class _Strings:
    """Private constant C strings of one module, deduplicated by text."""

    module: ll.Module
    cache: dict[str, ll.GlobalVariable]

    def get(self, text: str) -> ll.GlobalVariable:
        gv = self.cache.get(text)
        if gv is None:
            data = bytearray(text.encode("utf-8")) + b"\0"
            ty = ll.ArrayType(I8, len(data))
            gv = ll.GlobalVariable(self.module, ty, name=f".str.{len(self.cache)}")
            gv.linkage = "private"
            gv.global_constant = True
            gv.unnamed_addr = True
            gv.initializer = ll.Constant(ty, data)
            gv.type = PTR  # an opaque pointer, whatever llvmlite's typed-pointer mode
            self.cache[text] = gv
        return gv


def impl_return_type(ret: ir.Type) -> ll.Type:
    """What an internal body returns: its value in registers (bool as i1), nothing for void."""
    return ll.VoidType() if ret is ir.VOID else _REG[ret]


@dataclass(frozen=True, slots=True)
class _Runtime:
    """The module-level declarations every body and wrapper uses."""

    rt: ll.GlobalVariable          # @rps_rt, external
    env: ll.GlobalVariable         # @rpsc.trap_env: the jmp_buf of the innermost active wrapper
    setjmp: ll.Function
    longjmp: ll.Function
    trap: ll.Function              # @rpsc.trap(code, function, location): cold, noreturn


def _zero(t: ll.Type) -> ll.Constant:
    return ll.Constant(t, 0.0 if t == F64 else 0)


class _FunctionEmitter:
    """Emits the internal body `<symbol>.body(i32 room, args...)` of one IR function.

    `room` is how many nested calls are still allowed, this one included (limit - caller's depth): the
    body traps RECURSION when it is not positive and passes `room - 1` to the bodies it calls, so the
    depth lives in a register; `rps_rt.depth` is written only before a call into another module. A trap
    records its site in `rps_rt` and `longjmp`s to the innermost exported wrapper, which returns the code:
    bodies return plain values and check nothing after a call inside the module.
    """

    def __init__(self, fn: ir.Function, llfn: ll.Function, rtm: _Runtime, strings: _Strings,
                 bodies: dict[str, ll.Function], self_call: ll.Function | None = None) -> None:
        self.fn = fn
        self.llfn = llfn
        self.rtm = rtm
        self.rt = rtm.rt
        self.strings = strings
        # a copy of a self-recursive body calls the next copy
        self.bodies = bodies if self_call is None else {**bodies, fn.symbol: self_call}
        self.module = llfn.module
        self.temps: dict[str, ll.Value] = {}
        self.slots: list[ll.AllocaInstr] = []
        self.result_slots: dict[ir.Type, ll.AllocaInstr] = {}
        self.blocks: dict[str, ll.Block] = {}
        self.room: ll.Value = llfn.args[0]
        self.propagate: ll.Block | None = None
        self.propagate_phi: ll.PhiInstr | None = None

    # -- helpers

    def _field(self, b: ll.IRBuilder, index: int) -> ll.Value:
        return b.gep(self.rt, [I32(0), I32(index)], inbounds=True, source_etype=RT_TYPE)

    def _trap_block(self, code: int, loc: ir.SourceLoc) -> ll.Block:
        """A cold block that calls the module's trap helper with the code and the site."""
        block = self.llfn.append_basic_block(f"trap.{code}")
        b = ll.IRBuilder(block)
        b.call(self.rtm.trap, [I32(code), self.strings.get(self.fn.name), self.strings.get(str(loc))])
        b.unreachable()
        return block

    @staticmethod
    def _unlikely(b: ll.IRBuilder, cond: ll.Value, cold: ll.Block, hot: ll.Block) -> None:
        br = b.cbranch(cond, cold, hot)
        br.set_weights([1, 1 << 20])

    def _continue_block(self, b: ll.IRBuilder) -> ll.Block:
        """A fresh block after the current one, where the builder continues."""
        return self.llfn.append_basic_block(f"{b.block.name}.cont")

    def value(self, op: ir.Operand) -> ll.Value:
        if isinstance(op, ir.Const):
            if op.type is ir.BOOL:
                return I1(int(bool(op.value)))
            if op.type is ir.F64:
                return ll.Constant(F64, float(op.value))
            return ll.Constant(I64, int(op.value))
        return self.temps[op.name]

    # -- the function

    def emit(self) -> None:
        fn = self.fn
        entry = self.llfn.append_basic_block("entry")
        b = ll.IRBuilder(entry)
        for local in fn.locals:
            slot = b.alloca(_REG[local.type], name=f"{local.name}.addr")
            slot.type = PTR  # opaque pointers in the text, whatever llvmlite's typed-pointer mode
            self.slots.append(slot)
        self.room.name = "room"
        too_deep = b.icmp_signed("<", self.room, I32(1), name="too_deep")
        body = self.llfn.append_basic_block("start")
        self._unlikely(b, too_deep, self._trap_block(TRAP_RECURSION, fn.loc), body)
        b.position_at_end(body)
        for i in range(len(fn.ref.params)):
            arg = self.llfn.args[i + 1]
            arg.name = fn.param_names[i]
            b.store(arg, self.slots[i])
        # Other locals start at zero (as in the interpreter): a load never reads an uninitialised slot.
        for local in fn.locals[len(fn.ref.params):]:
            b.store(_zero(_REG[local.type]), self.slots[local.index])
        for blk in fn.blocks:
            self.blocks[blk.label] = self.llfn.append_basic_block(f"b.{blk.label}")
        b.branch(self.blocks[fn.blocks[0].label])
        for blk in fn.blocks:
            b.position_at_end(self.blocks[blk.label])
            for ins in blk.instrs:
                self.instr(b, ins)
            self.terminator(b, blk.terminator)

    def terminator(self, b: ll.IRBuilder, term: ir.Terminator | None) -> None:
        if isinstance(term, ir.Br):
            b.branch(self.blocks[term.target])
        elif isinstance(term, ir.CondBr):
            b.cbranch(self.value(term.cond), self.blocks[term.then_target], self.blocks[term.else_target])
        elif isinstance(term, ir.Ret):
            if term.value is None:
                b.ret_void()
            else:
                b.ret(self.value(term.value))
        else:
            raise TypeError(f"block of {self.fn.name} without a terminator")

    def instr(self, b: ll.IRBuilder, ins: ir.Instr) -> None:
        if isinstance(ins, ir.Load):
            self.temps[ins.dest.name] = b.load(self.slots[ins.local.index], name=ins.dest.name,
                                               typ=_REG[ins.local.type])
        elif isinstance(ins, ir.Store):
            b.store(self.value(ins.value), self.slots[ins.local.index])
        elif isinstance(ins, ir.BinOp):
            self.temps[ins.dest.name] = self.binop(b, ins)
        elif isinstance(ins, ir.Cmp):
            lhs, rhs = self.value(ins.lhs), self.value(ins.rhs)
            if ins.kind == "icmp":
                v = b.icmp_signed(_ICMP[ins.op], lhs, rhs, name=ins.dest.name)
            elif ins.op == "ne":
                v = b.fcmp_unordered("!=", lhs, rhs, name=ins.dest.name)
            else:
                v = b.fcmp_ordered(_FCMP_ORDERED[ins.op], lhs, rhs, name=ins.dest.name)
            self.temps[ins.dest.name] = v
        elif isinstance(ins, ir.UnOp):
            self.temps[ins.dest.name] = self.unop(b, ins)
        elif isinstance(ins, ir.MinMax):
            a, c = self.value(ins.lhs), self.value(ins.rhs)
            x, y = (c, a) if ins.op == "min" else (a, c)   # min: b < a ? b : a;  max: a < b ? b : a
            if ins.lhs.type is ir.F64:
                less = b.fcmp_ordered("<", x, y)
            else:
                less = b.icmp_signed("<", x, y)
            self.temps[ins.dest.name] = b.select(less, c, a, name=ins.dest.name)
        elif isinstance(ins, ir.Convert):
            self.temps[ins.dest.name] = self.convert(b, ins)
        elif isinstance(ins, ir.Call):
            self.call(b, ins)
        elif isinstance(ins, ir.Poll):
            flag = _load_volatile(b, self._field(b, RT_INTERRUPT), I32, "interrupt")
            hit = b.icmp_unsigned("!=", flag, I32(0))
            cont = self._continue_block(b)
            self._unlikely(b, hit, self._trap_block(TRAP_INTERRUPT, ins.loc), cont)
            b.position_at_end(cont)
        else:
            raise TypeError(f"unknown IR instruction {ins!r}")

    def binop(self, b: ll.IRBuilder, ins: ir.BinOp) -> ll.Value:
        op, name = ins.op, ins.dest.name
        lhs, rhs = self.value(ins.lhs), self.value(ins.rhs)
        if op in ("add", "sub", "mul"):
            return getattr(b, op)(lhs, rhs, name=name)
        if op in ("and", "or", "xor"):
            return {"and": b.and_, "or": b.or_, "xor": b.xor}[op](lhs, rhs, name=name)
        if op in ("shl", "ashr"):
            count = b.and_(rhs, I64(63))
            return getattr(b, op)(lhs, count, name=name)
        if op in ("fadd", "fsub", "fmul", "fdiv"):
            return getattr(b, op)(lhs, rhs, name=name)
        if op in ("sdiv", "srem"):
            assert ins.loc is not None
            zero = b.icmp_signed("==", rhs, I64(0))
            cont = self._continue_block(b)
            self._unlikely(b, zero, self._trap_block(TRAP_DIVZERO, ins.loc), cont)
            b.position_at_end(cont)
            minus1 = b.icmp_signed("==", rhs, I64(-1))
            safe = b.select(minus1, I64(1), rhs)
            if op == "sdiv":
                q = b.sdiv(lhs, safe)
                return b.select(minus1, b.sub(I64(0), lhs), q, name=name)
            r = b.srem(lhs, safe)
            return b.select(minus1, I64(0), r, name=name)
        raise TypeError(f"unknown binary operation {op!r}")

    def unop(self, b: ll.IRBuilder, ins: ir.UnOp) -> ll.Value:
        op, name, v = ins.op, ins.dest.name, self.value(ins.value)
        if op == "neg":
            return b.sub(I64(0), v, name=name)
        if op == "fneg":
            return b.fneg(v, name=name)
        if op == "not":
            return b.xor(v, I1(1), name=name)
        if op == "bnot":
            return b.xor(v, I64(-1), name=name)
        if op == "abs":
            negative = b.icmp_signed("<", v, I64(0))
            return b.select(negative, b.sub(I64(0), v), v, name=name)
        if op in ("fabs", "sqrt"):
            intrinsic = self.module.declare_intrinsic(f"llvm.{op}", [F64])
            return b.call(intrinsic, [v], name=name)
        raise TypeError(f"unknown unary operation {op!r}")

    def convert(self, b: ll.IRBuilder, ins: ir.Convert) -> ll.Value:
        v = self.value(ins.value)
        if ins.op == "sitofp":
            return b.sitofp(v, F64, name=ins.dest.name)
        assert ins.loc is not None
        lo = b.fcmp_ordered(">=", v, ll.Constant(F64, _FP_LO))
        hi = b.fcmp_ordered("<", v, ll.Constant(F64, _FP_HI))
        ok = b.and_(lo, hi)
        cont = self._continue_block(b)
        self._unlikely(b, b.not_(ok), self._trap_block(TRAP_CONVERSION, ins.loc), cont)
        b.position_at_end(cont)
        return b.fptosi(v, I64, name=ins.dest.name)

    def call(self, b: ll.IRBuilder, ins: ir.Call) -> None:
        body = self.bodies.get(ins.callee.symbol)
        if body is not None:
            self._call_body(b, ins, body)
        else:
            self._call_exported(b, ins)

    def _call_body(self, b: ll.IRBuilder, ins: ir.Call, body: ll.Function) -> None:
        """A call inside the module: straight to the callee's body, `room - 1` in a register."""
        args = [b.sub(self.room, I32(1)), *(self.value(a) for a in ins.args)]
        res = b.call(body, args, name="res" if ins.dest is not None else "", cconv="fastcc")
        if ins.dest is not None:
            self.temps[ins.dest.name] = res

    def _call_exported(self, b: ll.IRBuilder, ins: ir.Call) -> None:
        """A call into another module, through its exported ABI: publish this function's depth first."""
        callee = declare(self.module, ins.callee)
        ret = ins.callee.ret
        if ret is ir.VOID:
            slot: ll.Value = ll.Constant(PTR, None)
        else:
            slot = self.result_slots.get(ret)  # type: ignore[assignment]
            if slot is None:
                with b.goto_entry_block():
                    b.position_at_start(self.llfn.entry_basic_block)
                    slot = b.alloca(_ABI[ret], name=f"ret.{ret.value}")
                    slot.type = PTR
                self.result_slots[ret] = slot  # type: ignore[assignment]
        limit = b.load(self._field(b, RT_LIMIT), name="limit", typ=I32)
        depth = b.add(b.sub(limit, self.room), I32(1), name="depth")     # this function's own depth
        b.store(depth, self._field(b, RT_DEPTH))
        args: list[ll.Value] = [slot]
        for a in ins.args:
            v = self.value(a)
            args.append(b.zext(v, I8) if a.type is ir.BOOL else v)
        status = b.call(callee, args, name="status")
        self._check_status(b, status)
        if ins.dest is not None:
            v = b.load(slot, name=ins.dest.name, typ=_ABI[ret])
            if ret is ir.BOOL:
                v = b.icmp_unsigned("!=", v, I8(0), name=f"{ins.dest.name}.b")
            self.temps[ins.dest.name] = v

    def _check_status(self, b: ll.IRBuilder, status: ll.Value) -> None:
        failed = b.icmp_signed("!=", status, I32(0))
        cont = self._continue_block(b)
        self._unlikely(b, failed, self._propagate_block(b.block, status), cont)
        b.position_at_end(cont)

    def _propagate_block(self, pred: ll.Block, status: ll.Value) -> ll.Block:
        """The shared block that throws a callee's non-zero status on, unchanged."""
        if self.propagate is None:
            self.propagate = self.llfn.append_basic_block("propagate")
            b = ll.IRBuilder(self.propagate)
            self.propagate_phi = b.phi(I32, name="status.out")
            null = ll.Constant(PTR, None)
            b.call(self.rtm.trap, [self.propagate_phi, null, null])   # the callee recorded the site
            b.unreachable()
        assert self.propagate_phi is not None
        self.propagate_phi.add_incoming(status, pred)
        return self.propagate


def _emit_trap_helper(llm: ll.Module, rt: ll.GlobalVariable, env: ll.GlobalVariable,
                      longjmp: ll.Function) -> ll.Function:
    """`rpsc.trap(code, function, location)`: record the site (unless function is null: a propagated
    trap keeps its callee's) and `longjmp(rpsc.trap_env, code)` back to the innermost wrapper. Out of
    line, cold and noreturn, so trap sites cost one call instruction on a cold path."""
    fn = ll.Function(llm, ll.FunctionType(ll.VoidType(), [I32, PTR, PTR]), "rpsc.trap")
    fn.linkage = "internal"
    for attr in ("noreturn", "cold", "noinline", "nounwind", "optnone"):
        fn.attributes.add(attr)
    code, function, location = fn.args
    code.name, function.name, location.name = "code", "function", "location"
    b = ll.IRBuilder(fn.append_basic_block("entry"))
    record, throw = fn.append_basic_block("record"), fn.append_basic_block("throw")
    b.cbranch(b.icmp_unsigned("!=", function, ll.Constant(PTR, None)), record, throw)
    b.position_at_end(record)
    b.store(function, b.gep(rt, [I32(0), I32(RT_TRAP_FUNCTION)], inbounds=True, source_etype=RT_TYPE))
    b.store(location, b.gep(rt, [I32(0), I32(RT_TRAP_LOCATION)], inbounds=True, source_etype=RT_TYPE))
    b.branch(throw)
    b.position_at_end(throw)
    b.call(longjmp, [b.load(env, name="env", typ=PTR), code])
    b.unreachable()
    return fn


#: Bytes reserved for a jmp_buf (glibc: 200 on x86-64, 312 on aarch64).
JMP_BUF_SIZE = 512


def _emit_wrapper(fn: ir.Function, llfn: ll.Function, body: ll.Function, rtm: _Runtime) -> None:
    """The exported `i32 rpsfn_<oid>(ptr result, args...)`: set a jmp_buf as the module's trap target,
    call the body with room = limit - depth, store the result; on a trap (a longjmp back here) return its
    code. Either way restore the previous trap target and `rps_rt.depth`."""
    # The wrapper is a few instructions around setjmp: not worth the optimiser's time (a cold compile
    # is ~20% faster), and code around setjmp stays simple.
    llfn.attributes.add("noinline")
    llfn.attributes.add("optnone")
    b = ll.IRBuilder(llfn.append_basic_block("entry"))

    def field(i: int) -> ll.Value:
        return b.gep(rtm.rt, [I32(0), I32(i)], inbounds=True, source_etype=RT_TYPE)

    buf = b.alloca(ll.ArrayType(I8, JMP_BUF_SIZE), name="jmpbuf")
    buf.align = 16
    buf.type = PTR
    outer = b.load(rtm.env, name="outer", typ=PTR)
    depth = b.load(field(RT_DEPTH), name="depth", typ=I32)
    limit = b.load(field(RT_LIMIT), name="limit", typ=I32)
    code = b.call(rtm.setjmp, [buf], name="code")
    run, trapped = llfn.append_basic_block("run"), llfn.append_basic_block("trapped")
    b.cbranch(b.icmp_signed("==", code, I32(0)), run, trapped)
    b.position_at_end(trapped)
    b.store(outer, rtm.env)
    b.store(depth, field(RT_DEPTH))
    b.ret(code)
    b.position_at_end(run)
    b.store(buf, rtm.env)
    args: list[ll.Value] = [b.sub(limit, depth, name="room")]
    for arg, t, name in zip(llfn.args[1:], fn.ref.params, fn.param_names, strict=True):
        arg.name = name
        args.append(b.icmp_unsigned("!=", arg, I8(0)) if t is ir.BOOL else arg)
    # Never inline the body here: a function that calls setjmp is optimised conservatively.
    res = b.call(body, args, name="value" if fn.ref.ret is not ir.VOID else "", cconv="fastcc",
                 attrs=("noinline",))
    b.store(outer, rtm.env)
    b.store(depth, field(RT_DEPTH))
    if fn.ref.ret is not ir.VOID:
        b.store(b.zext(res, I8) if fn.ref.ret is ir.BOOL else res, llfn.args[0])
    b.ret(I32(0))


#: Copies of the body of a self-recursive function (1 = no copy). Copy i calls copy i+1 (mod n), so
#: LLVM's inliner, which never inlines a function into itself, unrolls the recursion n levels deep.
RECURSION_COPIES = 3


#: Only functions of at most this many IR instructions get copies (the inliner would not inline bigger).
RECURSION_COPY_MAX_INSTRS = 64


def _copies_of(fn: ir.Function, recursion_copies: int) -> int:
    """How many body copies `fn` gets: `recursion_copies` for a small self-recursive function, else 1."""
    size = sum(len(blk.instrs) + 1 for blk in fn.blocks)
    if recursion_copies <= 1 or size > RECURSION_COPY_MAX_INSTRS:
        return 1
    recursive = any(isinstance(ins, ir.Call) and ins.callee.symbol == fn.symbol
                    for blk in fn.blocks for ins in blk.instrs)
    return recursion_copies if recursive else 1


def build_llvm_module(module: ir.Module, timings: dict[str, float] | None = None,
                      recursion_copies: int = RECURSION_COPIES) -> ll.Module:
    """The llvmlite module of one `.rps` module: each function as an internal `fastcc` body (self-recursive
    ones as `recursion_copies` copies calling each other in a ring) plus its exported ABI wrapper; callees
    in other modules, `@rps_rt`, `_setjmp` and `longjmp` declared. When `timings` is given, it receives
    each function's emission time in milliseconds, by source name."""
    llm = ll.Module(name=module.name)
    rt = ll.GlobalVariable(llm, RT_TYPE, name=RT_SYMBOL)
    rt.linkage = "external"
    rt.type = PTR
    env = ll.GlobalVariable(llm, PTR, name="rpsc.trap_env")
    env.linkage = "internal"
    env.initializer = ll.Constant(PTR, None)
    env.type = PTR
    setjmp = ll.Function(llm, ll.FunctionType(I32, [PTR]), "_setjmp")
    setjmp.attributes.add("returns_twice")
    longjmp = ll.Function(llm, ll.FunctionType(ll.VoidType(), [PTR, I32]), "longjmp")
    longjmp.attributes.add("noreturn")
    rtm = _Runtime(rt, env, setjmp, longjmp, _emit_trap_helper(llm, rt, env, longjmp))
    strings = _Strings(llm, {})
    copies: dict[str, list[ll.Function]] = {}
    for fn in module.functions:
        body_ty = ll.FunctionType(impl_return_type(fn.ref.ret), [I32, *(_REG[t] for t in fn.ref.params)])
        n = _copies_of(fn, recursion_copies)
        copies[fn.symbol] = []
        for i in range(n):
            body = ll.Function(llm, body_ty, f"{fn.symbol}.body" + (f".{i}" if i else ""))
            body.linkage = "internal"
            body.calling_convention = "fastcc"
            copies[fn.symbol].append(body)
    bodies = {sym: fns[0] for sym, fns in copies.items()}
    exported = [(fn, declare(llm, fn.ref)) for fn in module.functions]
    for ref in module.externs():
        declare(llm, ref)
    for fn, llfn in exported:
        t0 = time.perf_counter()
        ring = copies[fn.symbol]
        for i, body in enumerate(ring):
            nxt = ring[(i + 1) % len(ring)] if len(ring) > 1 else None
            _FunctionEmitter(fn, body, rtm, strings, bodies, self_call=nxt).emit()
        _emit_wrapper(fn, llfn, bodies[fn.symbol], rtm)
        if timings is not None:
            timings[fn.name] = (time.perf_counter() - t0) * 1e3
    return llm


def emit_llvm(module: ir.Module, timings: dict[str, float] | None = None,
              recursion_copies: int = RECURSION_COPIES) -> str:
    """The LLVM IR text of one `.rps` module (see `build_llvm_module`)."""
    return str(build_llvm_module(module, timings, recursion_copies))
