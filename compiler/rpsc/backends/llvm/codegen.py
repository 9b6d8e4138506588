"""LLVM IR code generation: one typed `ir.Module` -> the text of one LLVM IR module.

Entry point: `emit_llvm(module)`. The text is written directly (not through `llvmlite.ir` objects, whose
construction and printing cost more than LLVM's own parsing of the result; see docs/llvm-backend.md).
The ABI (documented in docs/llvm-backend.md) is shared with the C backend:

    int32_t rpsfn_<oid>(T *result, args...)

`bool` is `i1` in registers and `i8` (0/1, `zeroext`) in memory and at the ABI; a `void` function still
takes the result pointer (ignored; callers pass null). The shared run-time state is the external global
`@rps_rt` (struct `rps_rt` of rps/runtime.h: the recursion limit), never defined here, so the text is
independent of process addresses; each call runs on the calling thread's state, which the exported
wrapper reads once from the pthread key `@rps_rt_key` (extern_weak: without it, or with nothing bound, the
shared state) and hands to the bodies in a register (`rpsrt.abi`, "Threads"). The module is first lowered by `rpsc.ir.passes.prepare` (explicit `trap_if`s, unchecked
division and conversion, rings of recursive bodies); each IR instruction then becomes its LLVM
instruction(s), and this file knows no trap rule. No instruction can produce poison or undefined
behaviour: the lowered IR never divides by 0 or INT_MIN by -1 and converts only in-range floats,
arithmetic carries no `nsw`/`nuw`, floats no fast-math flags.

Each function is an internal `fastcc` *body* taking the thread's state (`%rt`) and the remaining call
depth (`room`) in registers and returning its plain value, plus the exported *wrapper* above, which
`_setjmp`s: a trap records its site in the thread's state and `longjmp`s back to the thread's innermost
wrapper (`rt->trap_env`; see docs/llvm-backend.md).
"""

from __future__ import annotations

import struct
import time

from rpsc.ir import ir, passes
from rpsc.ir.ir import ConvertOp, TrapCode
from rpsrt import abi

#: `struct rps_rt` of rps/runtime.h, from its one description in `rpsrt.abi`.
RT_TYPE = abi.RT_LLVM_TYPE
RT_INTERRUPT, RT_DEPTH, RT_LIMIT, RT_TRAP_FUNCTION, RT_TRAP_LOCATION, RT_TRAP_ENV = (
    abi.RT_INDEX[f] for f in ("interrupt", "depth", "depth_limit", "trap_function", "trap_location", "trap_env"))
RT_SYMBOL = abi.RT_SYMBOL
RT_KEY_SYMBOL = abi.RT_KEY_SYMBOL


def _rt_field(index: int) -> str:
    """A constant pointer to field `index` of the shared `@rps_rt`."""
    return f'getelementptr inbounds ({RT_TYPE}, ptr @"{RT_SYMBOL}", i32 0, i32 {index})'


def _thread_field(index: int, rt: str = "%rt") -> str:
    """`getelementptr` to field `index` of the thread's state `rt` (the right-hand side of an instruction)."""
    return f"getelementptr inbounds {RT_TYPE}, ptr {rt}, i32 0, i32 {index}"


_F_LIMIT = _rt_field(RT_LIMIT)

_REG = {ir.I64: "i64", ir.F64: "double", ir.BOOL: "i1", ir.STR: "i64", ir.OBJ: "i64", ir.VALUE: "i64"}
_ABI = {t: abi.TYPES[t.abi].llvm for t in _REG}  # bool: i8 (C's _Bool, zeroext); str/obj/value: handles
_ZERO = {ir.I64: "0", ir.F64: "0.0", ir.BOOL: "false", ir.STR: "0", ir.OBJ: "0", ir.VALUE: "0"}
#: Version 2: the kind letter of a type in a `heap_op` call (rpsrt.abi.HEAP_OP_FN).
_KIND = {ir.I64: "i", ir.F64: "f", ir.BOOL: "b", ir.STR: "h", ir.OBJ: "h", ir.VALUE: "h", ir.VOID: "v"}
_ICMP = {"eq": "eq", "ne": "ne", "lt": "slt", "le": "sle", "gt": "sgt", "ge": "sge"}
_FCMP = {"eq": "oeq", "ne": "une", "lt": "olt", "le": "ole", "gt": "ogt", "ge": "oge"}
_INT_BINOPS = {"add": "add", "sub": "sub", "mul": "mul", "and": "and", "or": "or", "xor": "xor",
               "sdiv.unchecked": "sdiv", "srem.unchecked": "srem"}
_FLOAT_BINOPS = {"fadd": "fadd", "fsub": "fsub", "fmul": "fmul", "fdiv": "fdiv"}
_INTRINSICS = {"fabs": "llvm.fabs.f64", "sqrt": "llvm.sqrt.f64"}

#: A cold branch: taken about once in a million.
_COLD = ", !prof !0"
_COLD_WEIGHTS = '!0 = !{!"branch_weights", i32 1, i32 1048576}'

#: Bytes reserved for a jmp_buf (glibc: 200 on x86-64, 312 on aarch64).
JMP_BUF_SIZE = 512


def _double(x: float) -> str:
    """An f64 constant as LLVM's exact hexadecimal form (any value, NaN payloads included)."""
    bits = struct.unpack("<Q", struct.pack("<d", x))[0]
    return f"0x{bits:016X}"


def _quote(text: str) -> str:
    """`text` as the inside of an LLVM quoted name or `c"..."` string (`"`, `\\` and non-printables hex)."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return text
    return "".join(chr(c) if 32 <= c < 127 and c not in (34, 92) else f"\\{c:02X}"
                   for c in text.encode("utf-8"))


def _sig(ref: ir.FunctionRef) -> str:
    """The ABI parameter list of `ref` with names: `ptr %result, i64 %p0, i8 zeroext %p1, ...`."""
    params = ["ptr %result"]
    for i, t in enumerate(ref.params):
        params.append(f"i8 zeroext %p{i}" if t is ir.BOOL else f"{_ABI[t]} %p{i}")
    return ", ".join(params)


def _declaration(ref: ir.FunctionRef) -> str:
    params = ["ptr"] + [("i8 zeroext" if t is ir.BOOL else _ABI[t]) for t in ref.params]
    return f'declare i32 @"{ref.symbol}"({", ".join(params)})'


def impl_return_type(ret: ir.Type) -> str:
    """What an internal body returns: its value in registers (bool as i1), nothing for void."""
    return "void" if ret is ir.VOID else _REG[ret]


class _Module:
    """Module-level state of one emission: private strings and the intrinsics used."""

    __slots__ = ("strings", "intrinsics", "uses_heap", "uses_fast")

    def __init__(self) -> None:
        self.strings: dict[str, str] = {}     # text -> global name
        self.intrinsics: set[str] = set()
        self.uses_heap = False
        self.uses_fast = False

    def string(self, text: str) -> str:
        """`@.str.N`, a private NUL-terminated constant holding `text` (deduplicated)."""
        name = self.strings.get(text)
        if name is None:
            name = f"@.str.{len(self.strings)}"
            self.strings[text] = name
        return name

    def string_globals(self) -> list[str]:
        out = []
        for text, name in self.strings.items():
            data = text.encode("utf-8")
            out.append(f'{name} = private unnamed_addr constant [{len(data) + 1} x i8] '
                       f'c"{_quote(text)}\\00"')
        return out


class _FunctionEmitter:
    """Emits the internal body `<symbol>.body(ptr rt, i32 room, args...)` of one lowered IR function (or
    body copy `<symbol>.body.<i>` of its recursion ring); `rt` is the calling thread's state.

    `room` is how many nested calls are still allowed, this one included (limit - caller's depth): the
    body traps RECURSION when it is not positive and passes `room - 1` to the bodies it calls, so the
    depth lives in a register; `rt->depth` is written only before a call into another module. A trap
    records its site in `rt` and `longjmp`s to the innermost exported wrapper, which returns the code:
    bodies return plain values and check nothing after a call inside the module.
    """

    def __init__(self, fn: ir.Function, name: str, mod: _Module, bodies: set[str], attrs: str = "") -> None:
        self.fn = fn
        self.name = name                 # this body's LLVM name
        self.attrs = attrs
        self.mod = mod
        self.bodies = bodies             # symbols of this module's functions
        self.temps: dict[str, str] = {}
        self.entry: list[str] = []       # allocas
        self.refs: dict[str, str] = {}   # objref operand -> its slot (see `objref`)
        self.lines: list[str] = []
        self.traps: list[str] = []       # cold blocks, emitted after the body
        self.result_slots: dict[ir.Type, str] = {}
        self.propagate: list[tuple[str, str]] = []   # (status, predecessor block)
        self.block = "entry"
        self.n = 0

    # -- helpers

    def fresh(self) -> str:
        self.n += 1
        return f"%r{self.n}"

    def label(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}{self.n}"

    def start_block(self, label: str) -> None:
        self.lines.append(f"{label}:")
        self.block = label

    def emit_line(self, text: str) -> None:
        self.lines.append("  " + text)

    def trap_block(self, code: TrapCode, loc: ir.SourceLoc) -> str:
        """A cold block that calls the module's trap helper with the code and the site."""
        label = self.label(f"trap.{int(code)}.")
        self.traps += [f"{label}:",
                       f'  call void @"rpsc.trap"(ptr %rt, i32 {int(code)}, ptr {self.mod.string(self.fn.name)}, '
                       f'ptr {self.mod.string(str(loc))})',
                       "  unreachable"]
        return label

    def unlikely(self, cond: str, cold: str) -> None:
        """Branch to `cold` when `cond`, else continue in a fresh block."""
        cont = self.label("c")
        self.emit_line(f"br i1 {cond}, label %{cold}, label %{cont}{_COLD}")
        self.start_block(cont)

    def value(self, op: ir.Operand) -> str:
        if isinstance(op, ir.Const):
            if op.type is ir.STR:  # a string constant: its handle, asked of the host
                return self.heap_call("str_const", "h", str(op.value), [], ir.STR, self.fn.loc)
            if op.type in ir.HEAP_TYPES:
                return "0"  # null
            if op.type is ir.BOOL:
                return "true" if op.value else "false"
            if op.type is ir.F64:
                return _double(float(op.value))
            return str(int(op.value))
        return self.temps[op.name]

    def define(self, dest: ir.Temp, rhs: str) -> None:
        v = self.fresh()
        self.emit_line(f"{v} = {rhs}")
        self.temps[dest.name] = v

    def tmp(self, rhs: str) -> str:
        v = self.fresh()
        self.emit_line(f"{v} = {rhs}")
        return v

    # -- the function

    def emit(self) -> str:
        fn = self.fn
        nparams = len(fn.ref.params)
        stored = {ins.local.index for blk in fn.blocks for ins in blk.instrs if isinstance(ins, ir.Store)}
        # A local never stored to keeps its initial value: its parameter, or zero (as in the interpreter,
        # a load never reads an uninitialised slot). Its loads use that value; no stack slot, less IR.
        self.fixed = {local.index: (f"%p{local.index}" if local.index < nparams else _ZERO[local.type])
                      for local in fn.locals if local.index not in stored}
        slots = [local for local in fn.locals if local.index in stored]
        for local in slots:
            self.entry.append(f"  %l{local.index} = alloca {_REG[local.type]}")
        self.emit_line("%too_deep = icmp slt i32 %room, 1")
        self.emit_line(f"br i1 %too_deep, label %{self.trap_block(TrapCode.RECURSION, fn.loc)}, "
                       f"label %start{_COLD}")
        self.start_block("start")
        for local in slots:
            init = f"%p{local.index}" if local.index < nparams else _ZERO[local.type]
            self.emit_line(f"store {_REG[local.type]} {init}, ptr %l{local.index}")
        self.labels = {blk.label: f"b{i}" for i, blk in enumerate(fn.blocks)}
        self.emit_line(f"br label %{self.labels[fn.blocks[0].label]}")
        for blk in fn.blocks:
            self.start_block(self.labels[blk.label])
            for ins in blk.instrs:
                self.instr(ins)
            self.terminator(blk.terminator)
        if self.propagate:
            incoming = ", ".join(f"[ {status}, %{pred} ]" for status, pred in self.propagate)
            self.traps += ["propagate:", f"  %status.out = phi i32 {incoming}",
                           '  call void @"rpsc.trap"(ptr %rt, i32 %status.out, ptr null, ptr null)',
                           "  unreachable"]
        params = ", ".join(["ptr %rt", "i32 %room", *(f"{_REG[t]} %p{i}" for i, t in enumerate(fn.ref.params))])
        head = (f'define internal fastcc {impl_return_type(fn.ref.ret)} @"{self.name}"({params})'
                f'{self.attrs} {{')
        return "\n".join([head, "entry:", *self.entry, *self.lines, *self.traps, "}"])

    def terminator(self, term: ir.Terminator | None) -> None:
        if isinstance(term, ir.Br):
            self.emit_line(f"br label %{self.labels[term.target]}")
        elif isinstance(term, ir.CondBr):
            self.emit_line(f"br i1 {self.value(term.cond)}, label %{self.labels[term.then_target]}, "
                           f"label %{self.labels[term.else_target]}")
        elif isinstance(term, ir.Ret):
            if term.value is None:
                self.emit_line("ret void")
            else:
                self.emit_line(f"ret {_REG[term.value.type]} {self.value(term.value)}")
        else:
            raise TypeError(f"block of {self.fn.name} without a terminator")

    def instr(self, ins: ir.Instr) -> None:
        if isinstance(ins, ir.Load):
            fixed = self.fixed.get(ins.local.index)
            if fixed is not None:
                self.temps[ins.dest.name] = fixed
            else:
                self.define(ins.dest, f"load {_REG[ins.local.type]}, ptr %l{ins.local.index}")
        elif isinstance(ins, ir.Store):
            self.emit_line(f"store {_REG[ins.local.type]} {self.value(ins.value)}, ptr %l{ins.local.index}")
        elif isinstance(ins, ir.BinOp):
            self.binop(ins)
        elif isinstance(ins, ir.Cmp):
            lhs, rhs = self.value(ins.lhs), self.value(ins.rhs)
            if ins.kind == "icmp":
                self.define(ins.dest, f"icmp {_ICMP[ins.op]} {_REG[ins.lhs.type]} {lhs}, {rhs}")
            else:
                self.define(ins.dest, f"fcmp {_FCMP[ins.op]} double {lhs}, {rhs}")
        elif isinstance(ins, ir.UnOp):
            self.unop(ins)
        elif isinstance(ins, ir.MinMax):
            a, c = self.value(ins.lhs), self.value(ins.rhs)
            x, y = (c, a) if ins.op == "min" else (a, c)   # min: b < a ? b : a;  max: a < b ? b : a
            t = _REG[ins.lhs.type]
            less = self.tmp(f"fcmp olt double {x}, {y}" if ins.lhs.type is ir.F64 else f"icmp slt i64 {x}, {y}")
            self.define(ins.dest, f"select i1 {less}, {t} {c}, {t} {a}")
        elif isinstance(ins, ir.Convert):
            self.convert(ins)
        elif isinstance(ins, ir.Select):
            t = _REG[ins.dest.type]
            self.define(ins.dest, f"select i1 {self.value(ins.cond)}, {t} {self.value(ins.if_true)}, "
                                  f"{t} {self.value(ins.if_false)}")
        elif isinstance(ins, ir.TrapIf):
            self.unlikely(self.value(ins.cond), self.trap_block(ins.code, ins.loc))
        elif isinstance(ins, ir.Call):
            self.call(ins)
        elif isinstance(ins, ir.HeapOp):
            self.heap_op(ins)
        elif isinstance(ins, ir.CallMethod):
            self.call_method(ins)
        elif isinstance(ins, ir.Poll):
            flag = self.tmp(f"load volatile i32, ptr {self.tmp(_thread_field(RT_INTERRUPT))}, align 4")
            hit = self.tmp(f"icmp ne i32 {flag}, 0")
            self.unlikely(hit, self.trap_block(TrapCode.INTERRUPT, ins.loc))
        else:
            raise TypeError(f"unknown IR instruction {ins!r}")

    def heap_op(self, ins: ir.HeapOp) -> None:
        """A version-2 operation: inline when it needs no host (handles), else one call of `heap_op`."""
        d = ins.dest
        a = ins.args
        if ins.op == "box" and a[0].type is not ir.F64 and d is not None:
            self.temps[d.name] = self.value(a[0])  # a str or obj handle is already a value's
            return
        if ins.op == "obj_eq" and d is not None:
            self.define(d, f"icmp eq i64 {self.value(a[0])}, {self.value(a[1])}")
            return
        if ins.op == "is_null" and d is not None:
            self.define(d, f"icmp eq i64 {self.value(a[0])}, 0")
            return
        op = "box_float" if ins.op == "box" else ins.op
        rt = d.type if d is not None else ir.VOID
        kinds = _KIND[rt] + "".join(_KIND[x.type] for x in a)
        if op == "objref" and d is not None:
            self.objref(ins, kinds)
            return
        r = self.heap_call(op, kinds, ins.aux or "", list(a), rt, ins.loc)
        if d is not None:
            self.temps[d.name] = r

    def objref(self, ins: ir.HeapOp, kinds: str) -> None:
        """An object reference gives the same handle for the whole outermost call (the host keeps the object
        alive): asked of the host once per invocation, at the first site reached (a slot per referenced
        object, 0 until then; a trap is not memoized). The C backend does the same."""
        assert ins.dest is not None
        key = ins.aux or ""
        slot = self.refs.get(key)
        if slot is None:
            slot = self.refs[key] = f"%objref.{len(self.refs)}"
            self.entry.append(f"  {slot} = alloca i64")
            self.entry.append(f"  store i64 0, ptr {slot}")
        cached = self.tmp(f"load i64, ptr {slot}")
        empty = self.tmp(f"icmp eq i64 {cached}, 0")
        miss, join = self.label("objref.ask."), self.label("objref.done.")
        here = self.block
        self.emit_line(f"br i1 {empty}, label %{miss}, label %{join}")
        self.start_block(miss)
        r = self.heap_call("objref", kinds, key, [], ins.dest.type, ins.loc)
        self.emit_line(f"store i64 {r}, ptr {slot}")
        asked = self.block
        self.emit_line(f"br label %{join}")
        self.start_block(join)
        self.define(ins.dest, f"phi i64 [ {cached}, %{here} ], [ {r}, %{asked} ]")

    def heap_call(self, op: str, kinds: str, aux: str, args: list[ir.Operand], ret: ir.Type,
                  loc: ir.SourceLoc) -> str:
        """Call the host heap API (`@rps_heap_op`); a non-zero status traps with that code at `loc`. An
        operation of `heap_fast` (rpsrt.abi.HEAP_FAST_OPS) tries that entry first (`@rps_heap_fast`, when not
        NULL), its operands in registers, and makes the `heap_op` call only when it declines."""
        self.mod.uses_heap = True
        if "%heap.res" not in "".join(self.entry):
            self.entry.append("  %heap.res = alloca i64")
        n = len(args)
        words = self.fresh()
        self.entry.append(f"  {words} = alloca [{max(n, 1)} x i64]")
        vals = []
        for x in args:
            v = self.value(x)
            if x.type is ir.F64:
                v = self.tmp(f"bitcast double {v} to i64")
            elif x.type is ir.BOOL:
                v = self.tmp(f"zext i1 {v} to i64")
            vals.append(v)
        code = abi.heap_fast_code(op, kinds, aux)
        join = None
        if code is not None:  # (at most three arguments, in a, b, c)
            self.mod.uses_fast = True
            ffp = self.tmp(f'load ptr, ptr @"{abi.HEAP_FAST_SYMBOL}"')
            none = self.tmp(f"icmp eq ptr {ffp}, null")
            fast, slow, join = self.label("heapfast."), self.label("heapslow."), self.label("heapdone.")
            self.emit_line(f"br i1 {none}, label %{slow}, label %{fast}{_COLD}")
            self.start_block(fast)
            operands = ", ".join(f"i64 {v}" for v in [*vals, *["0"] * (3 - n)])
            st = self.tmp(f"call i32 {ffp}(i32 {code}, {operands}, ptr %heap.res)")
            declined = self.tmp(f"icmp ne i32 {st}, 0")
            self.emit_line(f"br i1 {declined}, label %{slow}, label %{join}{_COLD}")
            self.start_block(slow)
        for i, v in enumerate(vals):
            slot = self.tmp(f"getelementptr inbounds [{max(n, 1)} x i64], ptr {words}, i32 0, i32 {i}")
            self.emit_line(f"store i64 {v}, ptr {slot}")
        fp = self.tmp(f'load ptr, ptr @"{abi.HEAP_OP_SYMBOL}"')
        fname, where = self.mod.string(self.fn.name), self.mod.string(str(loc))
        aux_s = self.mod.string(f"{kinds}|{aux}")
        status = self.tmp(f"call i32 {fp}(i32 {abi.HEAP_OP_CODES[op]}, ptr {aux_s}, ptr %heap.res, i32 {n}, "
                          f"ptr {words}, ptr {fname}, ptr {where})")
        failed = self.tmp(f"icmp ne i32 {status}, 0")
        label = self.label("heaptrap.")
        self.traps += [f"{label}:", f'  call void @"rpsc.trap"(ptr %rt, i32 {status}, ptr {fname}, ptr {where})',
                       "  unreachable"]
        self.unlikely(failed, label)
        if join is not None:
            self.emit_line(f"br label %{join}")
            self.start_block(join)
        if ret is ir.VOID:
            return "0"
        w = self.tmp("load i64, ptr %heap.res")
        if ret is ir.F64:
            return self.tmp(f"bitcast i64 {w} to double")
        if ret is ir.BOOL:
            return self.tmp(f"icmp ne i64 {w}, 0")
        return w

    def abi_args(self, slot: str, args: list[ir.Operand], values: list[str]) -> list[str]:
        """The arguments of a call of an exported wrapper (the native ABI): the result slot, then each value,
        a bool as `i8 zeroext`."""
        out = [f"ptr {slot}"]
        for a, v in zip(args, values, strict=True):
            if a.type is ir.BOOL:
                out.append(f"i8 zeroext {self.tmp(f'zext i1 {v} to i8')}")
            else:
                out.append(f"{_ABI[a.type]} {v}")
        return out

    def call_method(self, ins: ir.CallMethod) -> None:
        """A method call (after `send`): the method's native entry, asked of the host (`method_entry`),
        called directly as a call into another module (depth published, its trap passed on); without one
        (0), through the host (`call_method`), which has the full semantics. The C backend does the same."""
        sig = f"{ins.ret.abi}({','.join(t.abi for t in ins.params)})"
        addr = self.heap_call("method_entry", "ih", sig, [ins.fn], ir.I64, ins.loc)
        argv = [self.value(a) for a in ins.args]   # defined before the branch: both paths use them
        direct, slow, join = self.label("send.direct."), self.label("send.host."), self.label("send.done.")
        none = self.tmp(f"icmp eq i64 {addr}, 0")
        self.emit_line(f"br i1 {none}, label %{slow}, label %{direct}")
        # direct: through the callee's exported wrapper, as `_call_exported` does
        self.start_block(direct)
        ret = ins.ret
        slot = self.result_slot(ret)
        self.publish_depth()
        cargs = self.abi_args(slot, ins.args, argv)
        fp = self.tmp(f"inttoptr i64 {addr} to ptr")
        status = self.tmp(f"call i32 {fp}({', '.join(cargs)})")
        failed = self.tmp(f"icmp ne i32 {status}, 0")
        self.propagate.append((status, self.block))
        self.unlikely(failed, "propagate")
        fast_v = None
        if ret is not ir.VOID:
            v = self.tmp(f"load {_ABI[ret]}, ptr {slot}")
            fast_v = self.tmp(f"icmp ne i8 {v}, 0") if ret is ir.BOOL else v
        fast_end = self.block
        self.emit_line(f"br label %{join}")
        # through the host
        self.start_block(slow)
        args = [ins.fn, *ins.args]
        kinds = _KIND[ret] + "".join(_KIND[a.type] for a in args)
        slow_v = self.heap_call("call_method", kinds, "", args, ret, ins.loc)
        slow_end = self.block
        self.emit_line(f"br label %{join}")
        self.start_block(join)
        if ins.dest is not None and ret is not ir.VOID:
            self.define(ins.dest, f"phi {_REG[ret]} [ {fast_v}, %{fast_end} ], [ {slow_v}, %{slow_end} ]")

    def binop(self, ins: ir.BinOp) -> None:
        op = ins.op
        lhs, rhs = self.value(ins.lhs), self.value(ins.rhs)
        if op in _INT_BINOPS:
            self.define(ins.dest, f"{_INT_BINOPS[op]} {_REG[ins.lhs.type]} {lhs}, {rhs}")
        elif op in ("shl", "ashr"):
            count = self.tmp(f"and i64 {rhs}, 63")
            self.define(ins.dest, f"{op} i64 {lhs}, {count}")
        elif op in _FLOAT_BINOPS:
            self.define(ins.dest, f"{op} double {lhs}, {rhs}")
        else:
            raise TypeError(f"binary operation {op!r} in {self.fn.name} (checked operations are lowered by "
                            "rpsc.ir.passes first)")

    def unop(self, ins: ir.UnOp) -> None:
        op, v = ins.op, self.value(ins.value)
        if op == "neg":
            self.define(ins.dest, f"sub i64 0, {v}")
        elif op == "fneg":
            self.define(ins.dest, f"fneg double {v}")
        elif op == "not":
            self.define(ins.dest, f"xor i1 {v}, true")
        elif op == "bnot":
            self.define(ins.dest, f"xor i64 {v}, -1")
        elif op == "abs":
            negative = self.tmp(f"icmp slt i64 {v}, 0")
            neg = self.tmp(f"sub i64 0, {v}")
            self.define(ins.dest, f"select i1 {negative}, i64 {neg}, i64 {v}")
        elif op in _INTRINSICS:
            self.mod.intrinsics.add(_INTRINSICS[op])
            self.define(ins.dest, f"call double @{_INTRINSICS[op]}(double {v})")
        else:
            raise TypeError(f"unknown unary operation {op!r}")

    def convert(self, ins: ir.Convert) -> None:
        v = self.value(ins.value)
        if ins.op is ConvertOp.SITOFP:
            self.define(ins.dest, f"sitofp i64 {v} to double")
        elif ins.op is ConvertOp.FPTOSI_UNCHECKED:
            self.define(ins.dest, f"fptosi double {v} to i64")
        else:
            raise TypeError(f"conversion {ins.op!r} in {self.fn.name} (checked operations are lowered by "
                            "rpsc.ir.passes first)")

    def call(self, ins: ir.Call) -> None:
        if ins.callee.symbol in self.bodies:
            self._call_body(ins, body_name(ins.callee.symbol, ins.copy))
        else:
            self._call_exported(ins)

    def _call_body(self, ins: ir.Call, body: str) -> None:
        """A call inside the module: straight to the callee's body, `room - 1` in a register."""
        room = self.tmp("sub i32 %room, 1")
        args = ", ".join(["ptr %rt", f"i32 {room}", *(f"{_REG[a.type]} {self.value(a)}" for a in ins.args)])
        call = f'call fastcc {impl_return_type(ins.callee.ret)} @"{body}"({args})'
        if ins.dest is not None:
            self.define(ins.dest, call)
        else:
            self.emit_line(call)

    def result_slot(self, ret: ir.Type) -> str:
        """The entry block's slot for an exported call's result of type `ret` (`null` for void), one per type."""
        if ret is ir.VOID:
            return "null"
        slot = self.result_slots.get(ret, "")
        if not slot:
            slot = f"%ret.{ret.value}"
            self.entry.append(f"  {slot} = alloca {_ABI[ret]}")
            self.result_slots[ret] = slot
        return slot

    def publish_depth(self) -> None:
        """Store this function's own depth (limit - room + 1) in the thread's state, for a callee's wrapper."""
        limit = self.tmp(f"load i32, ptr {_F_LIMIT}")
        free = self.tmp(f"sub i32 {limit}, %room")
        depth = self.tmp(f"add i32 {free}, 1")
        self.emit_line(f"store i32 {depth}, ptr {self.tmp(_thread_field(RT_DEPTH))}")

    def _call_exported(self, ins: ir.Call) -> None:
        """A call into another module, through its exported ABI: publish this function's depth first."""
        ret = ins.callee.ret
        slot = self.result_slot(ret)
        self.publish_depth()
        args = self.abi_args(slot, ins.args, [self.value(a) for a in ins.args])
        status = self.tmp(f'call i32 @"{ins.callee.symbol}"({", ".join(args)})')
        failed = self.tmp(f"icmp ne i32 {status}, 0")
        self.propagate.append((status, self.block))
        self.unlikely(failed, "propagate")
        if ins.dest is not None:
            v = self.tmp(f"load {_ABI[ret]}, ptr {slot}")
            self.temps[ins.dest.name] = self.tmp(f"icmp ne i8 {v}, 0") if ret is ir.BOOL else v


#: `rpsc.trap(rt, code, function, location)`: record the site in the thread's state `rt` (unless function
#: is null: a propagated trap keeps its callee's) and `longjmp(rt->trap_env, code)` back to the thread's
#: innermost wrapper. Out of line, cold and noreturn, so trap sites cost one call on a cold path.
_TRAP_HELPER = f"""\
define internal void @"rpsc.trap"(ptr %rt, i32 %code, ptr %function, ptr %location) cold noinline noreturn nounwind optnone {{
entry:
  %known = icmp ne ptr %function, null
  br i1 %known, label %record, label %throw
record:
  %fp = {_thread_field(RT_TRAP_FUNCTION)}
  store ptr %function, ptr %fp
  %lp = {_thread_field(RT_TRAP_LOCATION)}
  store ptr %location, ptr %lp
  br label %throw
throw:
  %envp = {_thread_field(RT_TRAP_ENV)}
  %env = load ptr, ptr %envp
  call void @"longjmp"(ptr %env, i32 %code)
  unreachable
}}"""

_PRELUDE = f"""\
@"{RT_SYMBOL}" = external global {RT_TYPE}
@"{RT_KEY_SYMBOL}" = extern_weak global i32
declare ptr @"pthread_getspecific"(i32)
declare i32 @"_setjmp"(ptr) returns_twice
declare void @"longjmp"(ptr, i32) noreturn
"""


def _emit_wrapper(fn: ir.Function, body: str) -> str:
    """The exported `i32 rpsfn_<oid>(ptr result, args...)`: find the calling thread's state (bound to
    `@rps_rt_key`, else the shared `@rps_rt`), set a jmp_buf as its trap target, call the body with the
    state and room = limit - depth, store the result; on a trap (a longjmp back here) return its code.
    Either way restore the thread's previous trap target and depth.

    The wrapper is a few instructions around setjmp: `optnone`, since it is not worth the optimiser's
    time (a cold compile is ~20% faster) and code around setjmp stays simple."""
    ref = fn.ref
    lines = [f'define i32 @"{ref.symbol}"({_sig(ref)}) noinline optnone {{',
             "entry:",
             f"  %jmpbuf = alloca [{JMP_BUF_SIZE} x i8], align 16",
             f'  %haskey = icmp ne ptr @"{RT_KEY_SYMBOL}", null',
             "  br i1 %haskey, label %bound, label %state",
             "bound:",
             f'  %key = load i32, ptr @"{RT_KEY_SYMBOL}"',
             '  %cur = call ptr @"pthread_getspecific"(i32 %key)',
             "  br label %state",
             "state:",
             "  %mine = phi ptr [ null, %entry ], [ %cur, %bound ]",
             "  %none = icmp eq ptr %mine, null",
             f'  %rt = select i1 %none, ptr @"{RT_SYMBOL}", ptr %mine',
             f"  %envp = {_thread_field(RT_TRAP_ENV)}",
             f"  %depthp = {_thread_field(RT_DEPTH)}",
             "  %outer = load ptr, ptr %envp",
             "  %depth = load i32, ptr %depthp",
             f"  %limit = load i32, ptr {_F_LIMIT}",
             '  %code = call i32 @"_setjmp"(ptr %jmpbuf)',
             "  %ok = icmp eq i32 %code, 0",
             "  br i1 %ok, label %run, label %trapped",
             "trapped:",
             "  store ptr %outer, ptr %envp",
             "  store i32 %depth, ptr %depthp",
             "  ret i32 %code",
             "run:",
             "  store ptr %jmpbuf, ptr %envp",
             "  %room = sub i32 %limit, %depth"]
    args = ["ptr %rt", "i32 %room"]
    for i, t in enumerate(ref.params):
        if t is ir.BOOL:
            lines.append(f"  %b{i} = icmp ne i8 %p{i}, 0")
            args.append(f"i1 %b{i}")
        else:
            args.append(f"{_ABI[t]} %p{i}")
    # Never inline the body here: a function that calls setjmp is optimised conservatively.
    call = f'call fastcc {impl_return_type(ref.ret)} @"{body}"({", ".join(args)}) noinline'
    lines.append(f"  %value = {call}" if ref.ret is not ir.VOID else f"  {call}")
    lines += ["  store ptr %outer, ptr %envp",
              "  store i32 %depth, ptr %depthp"]
    if ref.ret is ir.BOOL:
        lines += ["  %byte = zext i1 %value to i8", "  store i8 %byte, ptr %result"]
    elif ref.ret is not ir.VOID:
        lines.append(f"  store {_ABI[ref.ret]} %value, ptr %result")
    lines += ["  ret i32 0", "}"]
    return "\n".join(lines)


def body_name(symbol: str, copy: int = 0) -> str:
    """The LLVM name of body `copy` of the function `symbol` (`<symbol>.body`, `<symbol>.body.1`, ...)."""
    return f"{symbol}.body" + (f".{copy}" if copy else "")


def emit_llvm(module: ir.Module, timings: dict[str, float] | None = None,
              recursion_copies: int = passes.RECURSION_COPIES, *, entry_poll: bool = True) -> str:
    """The LLVM IR text of one `.rps` module, after `rpsc.ir.passes.prepare(module, recursion_copies)`:
    each function as an internal `fastcc` body (a small self-recursive one as its ring of body copies,
    copies 1..n-1 `alwaysinline`) plus its exported ABI wrapper; callees in other modules, `@rps_rt`,
    `_setjmp` and `longjmp` declared. When `timings` is given, it receives each function's emission time
    (lowering included) in milliseconds, by source name. Every body starts with the entry poll of
    `rpsc.ir.passes.poll_entry` unless `entry_poll=False` (only to measure its cost)."""
    mod = _Module()
    symbols = {fn.ref.symbol for fn in module.functions}
    parts = [f'; ModuleID = "{_quote(module.name)}"', _PRELUDE]
    parts += [_declaration(ref) for ref in module.externs()]
    parts.append(_TRAP_HELPER)
    for fn in module.functions:
        t0 = time.perf_counter()
        ring = passes.prepare_function(fn, recursion_copies, entry_poll=entry_poll)
        for i, body in enumerate(ring):
            attrs = " alwaysinline" if i else ""
            parts.append(_FunctionEmitter(body, body_name(fn.symbol, i), mod, symbols, attrs=attrs).emit())
        parts.append(_emit_wrapper(fn, body_name(fn.symbol)))
        if timings is not None:
            timings[fn.name] = (time.perf_counter() - t0) * 1e3
    if mod.uses_heap:  # version 2: the host heap API (a process-wide cell the JIT defines)
        parts.insert(2, f'@"{abi.HEAP_OP_SYMBOL}" = external global ptr')
    if mod.uses_fast:  # heap API version 2: the fast entry (a cell holding it, or NULL)
        parts.insert(2, f'@"{abi.HEAP_FAST_SYMBOL}" = external global ptr')
    parts += [f"declare double @{name}(double)" for name in sorted(mod.intrinsics)]
    parts += mod.string_globals()
    parts.append(_COLD_WEIGHTS)
    return "\n\n".join(parts) + "\n"
