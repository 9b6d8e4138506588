"""The reference interpreter of the typed IR: the semantic oracle the LLVM and C backends are tested against.

Entry: `Interpreter(modules, *, recursion_limit=DEFAULT_RECURSION_LIMIT)`, an `rpsc.backends.engine.Engine`.

Each IR function is lowered (`rpsc.ir.passes.lower`: every trap explicit, no checked operation left) and
translated once into a Python function (source text generated here and compiled with `compile`), one
instruction at a time, with no trap rule of its own: locals and temps become Python locals, blocks become branches of a dispatch loop, i64 results
are wrapped to 64 bits where they can overflow, and every trap raises `rpsrt.Trap` with the function's source
name and the instruction's `file:line:col`. Calls between IR functions are direct Python calls, so an rps
call costs one Python frame; calls run on a worker thread with a large stack and a Python recursion limit
above the engine's, so that the depth check (`depth >= limit` on entry traps RECURSION) always fires first.
One call runs at a time per interpreter.
"""

from __future__ import annotations

import math
import queue
import sys
import threading
from collections.abc import Sequence
from typing import Any

from rpsrt import abi
from rpsrt.errors import DEFAULT_RECURSION_LIMIT, TRAP_INTERRUPT, Trap
from rpsrt.model.heapapi import kind_of, values_equal

from rpsc.backends.engine import EngineError, Scalar, coerce_args, resolve_function
from rpsc.ir import ir, passes
from rpsc.ir.ir import BinaryOp, ConvertOp, TrapCode

_M = 2**63
_MASK = 2**64 - 1
_WORKER_STACK = 512 * 1024 * 1024
#: Call depth at which the interpreter makes sure Python's recursion limit is above the engine's.
_DEEP = 200
#: Deepest if/else nesting of generated code (Python's parser has limits); deeper blocks become cases.
_MAX_NEST = 40


def _fdiv0(a: float, b: float) -> float:
    """IEEE a / b for a zero divisor (Python raises ZeroDivisionError instead)."""
    if a != a or a == 0.0:
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


def _sqrt(a: float) -> float:
    return math.sqrt(a) if a >= 0.0 or a != a else math.nan


def _const(c: ir.Const) -> str:
    v = c.value
    if c.type is ir.F64:
        f = float(v)
        if f != f:
            return "_NAN"
        if f in (math.inf, -math.inf):
            return "_INF" if f > 0 else "(-_INF)"
        return repr(f)
    if c.type is ir.BOOL:
        return "True" if v else "False"
    if c.type in ir.HEAP_TYPES:
        return repr(v)  # a str, or None (null)
    return repr(int(v))


class _FnCodegen:
    """Python source of one IR function."""

    def __init__(self, fn: ir.Function, pyname: str, callees: dict[str, str], limit: int) -> None:
        self.fn = fn
        self.pyname = pyname
        self.callees = callees
        self.limit = limit
        self.temps: dict[str, str] = {}
        self.lines: list[str] = []
        self.labels = {b.label: i for i, b in enumerate(fn.blocks)}
        self.name = repr(fn.ref.name)
        self.inline: dict[str, str] = {}     # temp -> the Python expression used in its place
        self.single_use = _single_use_in_block(fn)

    def op(self, o: ir.Operand) -> str:
        if isinstance(o, ir.Const):
            return _const(o)
        return self.inline.get(o.name) or self.temp(o)

    def pure_bool(self, ins: ir.Instr) -> str | None:
        """The expression of a comparison or boolean operation whose result is used once, later in its own
        block: it is written at that use instead of into a Python local (`if a < b:`). Such an expression
        can neither raise nor change meaning when evaluated a little later (temps are assigned once)."""
        if isinstance(ins, ir.Cmp) and ins.dest.name in self.single_use:
            sym = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}[ins.op]
            return f"({self.op(ins.lhs)} {sym} {self.op(ins.rhs)})"
        if (isinstance(ins, ir.BinOp) and ins.dest.type is ir.BOOL and ins.op in ("and", "or", "xor")
                and ins.dest.name in self.single_use):
            sym = {"and": "and", "or": "or", "xor": "!="}[ins.op]  # on bools: the same, and short-circuits
            return f"({self.op(ins.lhs)} {sym} {self.op(ins.rhs)})"
        if isinstance(ins, ir.UnOp) and ins.op == "not" and ins.dest.name in self.single_use:
            return f"(not {self.op(ins.value)})"
        return None

    def temp(self, t: ir.Temp) -> str:
        n = self.temps.get(t.name)
        if n is None:
            n = self.temps[t.name] = f"t{len(self.temps)}"
        return n

    def trap(self, code: TrapCode, loc: ir.SourceLoc | None) -> str:
        where = repr(str(loc)) if loc is not None else repr(str(self.fn.loc))
        return f"raise _Trap({int(code)}, {self.name}, {where})"

    def wrap(self, d: str, ind: str) -> list[str]:
        return [f"{ind}if {d} > {_M - 1} or {d} < {-_M}: {d} = (({d} + {_M}) & {_MASK}) - {_M}"]

    def instr(self, ins: ir.Instr, ind: str) -> list[str]:
        expr = self.pure_bool(ins)
        if expr is not None:
            self.inline[ins.dest.name] = expr  # type: ignore[union-attr]
            return []
        if isinstance(ins, ir.Load):
            return [f"{ind}{self.temp(ins.dest)} = l{ins.local.index}"]
        if isinstance(ins, ir.Store):
            return [f"{ind}l{ins.local.index} = {self.op(ins.value)}"]
        if isinstance(ins, ir.BinOp):
            d, a, b = self.temp(ins.dest), self.op(ins.lhs), self.op(ins.rhs)
            op = ins.op
            if op in ("add", "sub", "mul"):
                sym = {"add": "+", "sub": "-", "mul": "*"}[op]
                # With a small non-negative constant on the right, only one side can overflow.
                small = isinstance(ins.rhs, ir.Const) and 0 <= int(ins.rhs.value) < 2**32
                if small and op == "add":
                    return [f"{ind}{d} = {a} + {b}", f"{ind}if {d} > {_M - 1}: {d} -= {2 * _M}"]
                if small and op == "sub":
                    return [f"{ind}{d} = {a} - {b}", f"{ind}if {d} < {-_M}: {d} += {2 * _M}"]
                return [f"{ind}{d} = {a} {sym} {b}", *self.wrap(d, ind)]
            if op is BinaryOp.SDIV_UNCHECKED:  # truncating; never by 0, never INT_MIN by -1
                return [f"{ind}{d} = {a} // {b} if ({a} >= 0) == ({b} > 0) else -(-{a} // {b})"]
            if op is BinaryOp.SREM_UNCHECKED:
                return [f"{ind}{d} = {a} % {b}",
                        f"{ind}if {d} and ({a} < 0) != ({b} < 0): {d} -= {b}"]
            if op == "shl":
                return [f"{ind}{d} = ((({a} << ({b} & 63)) + {_M}) & {_MASK}) - {_M}"]
            if op == "ashr":
                return [f"{ind}{d} = {a} >> ({b} & 63)"]
            if op in ("and", "or", "xor"):
                sym = {"and": "&", "or": "|", "xor": "^"}[op]
                return [f"{ind}{d} = {a} {sym} {b}"]
            if op in ("fadd", "fsub", "fmul"):
                sym = {"fadd": "+", "fsub": "-", "fmul": "*"}[op]
                return [f"{ind}{d} = {a} {sym} {b}"]
            if op == "fdiv":
                return [f"{ind}{d} = {a} / {b} if {b} else _fdiv0({a}, {b})"]
            raise ValueError(f"binary operation {op} in {self.fn.name} (checked operations are lowered "
                             "by rpsc.ir.passes first)")
        if isinstance(ins, ir.Cmp):
            sym = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}[ins.op]
            return [f"{ind}{self.temp(ins.dest)} = {self.op(ins.lhs)} {sym} {self.op(ins.rhs)}"]
        if isinstance(ins, ir.UnOp):
            d, a = self.temp(ins.dest), self.op(ins.value)
            if ins.op == "neg":
                return [f"{ind}{d} = -{a}", f"{ind}if {d} == {_M}: {d} = {-_M}"]
            if ins.op == "abs":
                return [f"{ind}{d} = {a} if {a} >= 0 else -{a}", f"{ind}if {d} == {_M}: {d} = {-_M}"]
            if ins.op == "fneg":
                return [f"{ind}{d} = -{a}"]
            if ins.op == "not":
                return [f"{ind}{d} = not {a}"]
            if ins.op == "bnot":
                return [f"{ind}{d} = ~{a}"]
            if ins.op == "fabs":
                return [f"{ind}{d} = _fabs({a})"]
            if ins.op == "sqrt":
                return [f"{ind}{d} = _sqrt({a})"]
            raise ValueError(f"unknown unary operation {ins.op}")
        if isinstance(ins, ir.MinMax):
            d, a, b = self.temp(ins.dest), self.op(ins.lhs), self.op(ins.rhs)
            if ins.op == "min":
                return [f"{ind}{d} = {b} if {b} < {a} else {a}"]
            return [f"{ind}{d} = {b} if {a} < {b} else {a}"]
        if isinstance(ins, ir.Convert):
            d, a = self.temp(ins.dest), self.op(ins.value)
            if ins.op is ConvertOp.SITOFP:
                return [f"{ind}{d} = float({a})"]
            if ins.op is ConvertOp.FPTOSI_UNCHECKED:
                return [f"{ind}{d} = int({a})"]
            raise ValueError(f"conversion {ins.op} in {self.fn.name} (checked operations are lowered by "
                             "rpsc.ir.passes first)")
        if isinstance(ins, ir.Select):
            d = self.temp(ins.dest)
            return [f"{ind}{d} = {self.op(ins.if_true)} if {self.op(ins.cond)} else {self.op(ins.if_false)}"]
        if isinstance(ins, ir.TrapIf):
            return [f"{ind}if {self.op(ins.cond)}: {self.trap(ins.code, ins.loc)}"]
        if isinstance(ins, ir.Call):
            f = self.callees.get(ins.callee.symbol)
            if f is None:
                raise EngineError(f"{self.fn.name} calls {ins.callee.name} ({ins.callee.symbol}) of a module "
                                  "that is not loaded")
            call = f"{f}({', '.join(self.op(a) for a in ins.args)})"
            return [f"{ind}{self.temp(ins.dest)} = {call}" if ins.dest is not None else f"{ind}{call}"]
        if isinstance(ins, ir.Poll):
            return [f"{ind}if _intr[0]: _poll({self.name}, {str(ins.loc)!r})"]
        if isinstance(ins, ir.HeapOp):
            return [f"{ind}{self.temp(ins.dest) + ' = ' if ins.dest is not None else ''}{self.heap_op(ins)}"]
        if isinstance(ins, ir.CallMethod):
            args = ", ".join(self.op(a) for a in ins.args)
            sig = repr(ir.FunctionRef("", "", "", ins.params, ins.ret, "").signature)
            call = f"_method({self.op(ins.fn)}, {sig}, {self.name}, {str(ins.loc)!r})({args})"
            return [f"{ind}{self.temp(ins.dest)} = {call}" if ins.dest is not None else f"{ind}{call}"]
        raise ValueError(f"unknown instruction {ins!r}")

    def heap_op(self, ins: ir.HeapOp) -> str:
        """Python for one version-2 operation: inline for pure ones, else a `HeapRuntime` method."""
        a = [self.op(x) for x in ins.args]
        op = ins.op
        if op == "box":
            return a[0]
        if op in ("is_int", "is_float", "is_str", "is_obj", "is_null"):
            kind = {"is_int": "int", "is_float": "float", "is_str": "string", "is_obj": "object",
                    "is_null": "null"}[op]
            return f"_kind_of({a[0]}) == {kind!r}"
        if op == "value_eq":
            return f"_values_equal({a[0]}, {a[1]})"
        if op == "obj_eq":
            return f"{a[0]} is {a[1]}"
        if op == "str_concat":
            return f"{a[0]} + {a[1]}"
        if op == "str_len":
            return f"len({a[0]})"
        if op == "str_cmp":
            sym = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}[ins.aux or "eq"]
            return f"{a[0]} {sym} {a[1]}"
        if op == "str_of_int":
            return f"str({a[0]})"
        if op == "str_of_float":
            return f"_float_text({a[0]})"
        head = f"{self.name}, {str(ins.loc)!r}"
        if op == "unbox":
            return f"_H.unbox({head}, {a[0]}, {ins.aux!r})"
        if op == "get_attr":
            return f"_H.get_attr({head}, {a[0]}, {a[1]}, {ins.aux!r})"
        if op == "objref":
            return f"_H.objref({head}, {ins.aux!r})"
        if op == "new":
            space = f"_H.objref({head}, {ins.aux!r})" if ins.aux else "None"
            return f"_H.new({head}, {', '.join([a[0], space, *a[1:]])})"
        if op == "send":
            return f"_H.method({head}, {a[0]}, {a[1]})"
        meth = {"length": "length", "comp": "comp", "set_comp": "set_comp"}.get(op, op)
        return f"_H.{meth}({', '.join([head, *a])})"

    def _ret(self, t: ir.Ret, ind: str) -> list[str]:
        v = "" if t.value is None else " " + self.op(t.value)
        return [f"{ind}_depth = d", f"{ind}return{v}"]

    def _jump(self, label: str, ind: str) -> list[str]:
        if label not in self.case_index:
            self.case_index[label] = len(self.case_index)
            self.worklist.append(label)
        return [f"{ind}b = {self.case_index[label]}", f"{ind}continue"]

    def _target(self, label: str, ind: str, depth: int) -> list[str]:
        """Code that continues at block `label`: the block itself when it has no other predecessor."""
        if self.preds.get(label, 0) == 1 and label != self.entry and depth < _MAX_NEST:
            return self._block(self.blocks[label], ind, depth + 1)
        return self._jump(label, ind)

    def _block(self, blk: ir.Block, ind: str, depth: int) -> list[str]:
        out: list[str] = []
        while True:
            for ins in blk.instrs:
                out += self.instr(ins, ind)
            t = blk.terminator
            if isinstance(t, ir.Ret):
                return out + self._ret(t, ind)
            if isinstance(t, ir.Br):
                nxt = t.target
                if self.preds.get(nxt, 0) == 1 and nxt != self.entry:
                    blk = self.blocks[nxt]  # straight-line continuation: same indentation
                    continue
                return out + self._jump(nxt, ind)
            if isinstance(t, ir.CondBr):
                inner = ind + "    "
                out.append(f"{ind}if {self.op(t.cond)}:")
                out += self._target(t.then_target, inner, depth)
                out.append(f"{ind}else:")
                out += self._target(t.else_target, inner, depth)
                return out
            raise ValueError(f"block {blk.label} of {self.fn.name} has no terminator")

    def source(self) -> str:
        """The Python function: blocks with a single predecessor are nested into it (if/else, straight
        line); the others become cases of a dispatch loop on `b`, entered at case 0 (the entry block)."""
        fn = self.fn
        nparams = len(fn.ref.params)
        params = ", ".join(f"l{i}" for i in range(nparams))
        out = [f"def {self.pyname}({params}):",
               "    global _depth",
               "    d = _depth",
               f"    if d >= {min(self.limit, _DEEP)}:",
               f"        if d >= {self.limit}: {self.trap(TrapCode.RECURSION, fn.loc)}",
               f"        if d == {_DEEP}: _deep()",
               "    _depth = d + 1"]
        for loc in fn.locals[nparams:]:
            zero = "0.0" if loc.type is ir.F64 else "False" if loc.type is ir.BOOL else \
                "None" if loc.type in ir.HEAP_TYPES else "0"
            out.append(f"    l{loc.index} = {zero}")
        self.blocks = {b.label: b for b in fn.blocks}
        self.entry = fn.blocks[0].label
        self.preds: dict[str, int] = {}
        for b in fn.blocks:
            t = b.terminator
            for target in ([t.target] if isinstance(t, ir.Br) else
                           [t.then_target, t.else_target] if isinstance(t, ir.CondBr) else []):
                self.preds[target] = self.preds.get(target, 0) + 1
        self.case_index: dict[str, int] = {self.entry: 0}
        self.worklist: list[str] = []
        body = self._block(self.blocks[self.entry], "            ", 0)
        if len(self.case_index) == 1:  # no jumps: straight-line and nested code only
            out += [line[8:] for line in body]
            return "\n".join(out) + "\n"
        out.append("    b = 0")
        out.append("    while True:")
        out.append("        if b == 0:")
        out += body
        while self.worklist:
            label = self.worklist.pop(0)
            out.append(f"        elif b == {self.case_index[label]}:")
            out += self._block(self.blocks[label], "            ", 0)
        return "\n".join(out) + "\n"


def _operands(x: object) -> list[ir.Operand]:
    out: list[ir.Operand] = []
    for name in ("lhs", "rhs", "value", "cond", "if_true", "if_false"):
        v = getattr(x, name, None)
        if isinstance(v, (ir.Const, ir.Temp)):
            out.append(v)
    out += getattr(x, "args", ())
    return out


def _single_use_in_block(fn: ir.Function) -> set[str]:
    """Temps used exactly once in the function, by a later instruction or the terminator of their block."""
    uses: dict[str, int] = {}
    used_in: dict[str, str] = {}
    defined_in: dict[str, str] = {}
    for b in fn.blocks:
        for x in [*b.instrs, b.terminator]:
            for o in _operands(x):
                if isinstance(o, ir.Temp):
                    uses[o.name] = uses.get(o.name, 0) + 1
                    used_in[o.name] = b.label
            dest = getattr(x, "dest", None)
            if dest is not None:
                defined_in[dest.name] = b.label
    return {n for n, c in uses.items() if c == 1 and used_in[n] == defined_in.get(n)}


def generate_python(modules: Sequence[ir.Module], limit: int) -> tuple[str, dict[str, str]]:
    """Python source for every function of `modules`, and the map symbol -> Python function name."""
    names: dict[str, str] = {}
    fns: list[ir.Function] = []
    for m in modules:
        for f in m.functions:
            if f.ref.symbol not in names:
                names[f.ref.symbol] = f"f{len(names)}_{_ident(f.ref.name)}"
                fns.append(passes.poll_entry(passes.lower(f)))  # loop-free code answers interrupts too
    parts = [_FnCodegen(f, names[f.ref.symbol], names, limit).source() for f in fns]
    return "\n".join(parts), names


def _ident(name: str) -> str:
    return "".join(c if c.isalnum() or c == "_" else "_" for c in name)[:40]


class _Worker:
    """A thread with a large stack that runs one job at a time."""

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._loop, name="rpsc-interp", daemon=True)
        abi.start_with_stack(self.thread, _WORKER_STACK)

    def _loop(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            fn, args, box, done = job
            try:
                box.append((True, fn(*args)))
            except BaseException as exc:  # noqa: BLE001 - handed back to the caller's thread
                box.append((False, exc))
            done.set()

    def run(self, fn: Any, args: Sequence[Any], on_ctrl_c: Any) -> Any:
        """Run `fn(*args)` on the worker; a KeyboardInterrupt while waiting calls `on_ctrl_c` (which makes
        the running code trap INTERRUPT at its next loop back-edge) and keeps waiting for that outcome."""
        box: list[tuple[bool, Any]] = []
        done = threading.Event()
        self.jobs.put((fn, args, box, done))
        while True:
            try:
                done.wait()
                break
            except KeyboardInterrupt:
                on_ctrl_c()
        ok, value = box[0]
        if ok:
            return value
        raise value.with_traceback(None)

    def stop(self) -> None:
        self.jobs.put(None)


class Interpreter:
    """Runs IR modules (an `rpsc.backends.engine.Engine`): `call`, `interrupt`, `close`."""

    def __init__(self, modules: Sequence[ir.Module], *, recursion_limit: int = DEFAULT_RECURSION_LIMIT,
                 runtime: Any = None) -> None:
        if recursion_limit < 1:
            raise ValueError("the recursion limit must be at least 1")
        self.modules = list(modules)
        self.recursion_limit = recursion_limit
        src, self._names = generate_python(self.modules, recursion_limit)
        self._intr = [False]
        ns: dict[str, Any] = {
            "_Trap": Trap, "_NAN": math.nan, "_INF": math.inf, "_fdiv0": _fdiv0, "_sqrt": _sqrt,
            "_fabs": math.fabs, "_intr": self._intr, "_depth": 0, "_poll": self._poll,
            "_deep": self._deep, "_H": runtime, "_kind_of": kind_of, "_values_equal": values_equal,
            "_float_text": repr, "_method": self._method,
        }
        exec(compile(src, "<rpsc-interp>", "exec"), ns)  # noqa: S102 - our own generated code
        self._ns = ns
        self._source = src
        self._lock = threading.Lock()
        self._worker: _Worker | None = None

    @property
    def python_source(self) -> str:
        """The generated Python source (for debugging)."""
        return self._source

    def _deep(self) -> None:
        """Called when the call depth reaches _DEEP: raise Python's recursion limit above the engine's.

        Done lazily (not on every call) so that shallow programs never touch the process-wide setting.
        """
        need = self.recursion_limit + 500
        if sys.getrecursionlimit() < need:
            sys.setrecursionlimit(need)

    def _method(self, fnobj: Any, signature: str, name: str, loc: str) -> Any:
        """The Python function of the method a send resolved (a stored `code_function` object)."""
        pyname = self._names.get(ir.symbol_of(str(fnobj.oid))) if fnobj is not None else None
        if pyname is None:
            raise EngineError(f"{name} at {loc}: the method {fnobj!r} is not a loaded function")
        return self._ns[pyname]

    def _poll(self, name: str, loc: str) -> None:
        self._intr[0] = False
        raise Trap(TRAP_INTERRUPT, name, loc)

    def call(self, fn: str | ir.FunctionRef, args: Sequence[Scalar]) -> Scalar | None:
        """Run one function; raise rpsrt.Trap on a trap (see `rpsc.backends.engine.Engine`)."""
        ref = resolve_function(self.modules, fn)
        vals = coerce_args(ref, args)
        pyfn = self._ns[self._names[ref.symbol]]
        with self._lock:
            if self._worker is None:
                self._worker = _Worker()
            self._ns["_depth"] = 0
            try:
                return self._worker.run(pyfn, vals, self.interrupt)  # type: ignore[no-any-return]
            finally:
                self._ns["_depth"] = 0

    def interrupt(self) -> None:
        """Thread-safe: the next loop back-edge poll traps INTERRUPT (and clears the flag)."""
        self._intr[0] = True

    def close(self) -> None:
        """Stop the worker thread (interrupting a loop that another thread is still running)."""
        if self._lock.locked():
            self.interrupt()
        if self._worker is not None:
            self._worker.stop()
            self._worker = None

    def __enter__(self) -> Interpreter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
