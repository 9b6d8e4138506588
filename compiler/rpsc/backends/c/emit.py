"""C emission: renders an `ir.Module` as one C plugin source through the Jinja2 templates of `rpsc.templates`.

Entry points: `emit_c(module) -> CSources` (the module's `rps<oid>-mod.c`) and `emit_headers(heap)` (the
dump-time headers `rps_names.h`, `rps_roots.h`, `rps_constants.h`). The module is first lowered by
`rpsc.ir.passes.prepare` (explicit `trap_if`s, unchecked division and conversion, rings of recursive
bodies); each IR instruction then becomes one C statement, through the `static inline` helpers of
`rps/runtime.h` for wrapping arithmetic, and this file knows no trap rule. The generated C has no undefined
behaviour (the lowered IR never divides by 0 or INT_MIN by -1 and converts only in-range floats);
identifiers come from OIDs, heap names appear only as escaped string literals or sanitised comments.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from rpsc.ir import ir, passes
from rpsc.ir.ir import BOOL, F64, I64, VOID, ConvertOp, TrapCode, Type
from rpsrt.versions import release_text

from rpsc.heapcode.index import object_name  # noqa: F401  (the name a header gives an object)

#: Marker comments that open and close every generated function (the line table is built from them too).
FUNCTION_MARKER = "/* rpsc:function "
FUNCTION_END_MARKER = "/* rpsc:end "

_C_TYPES = {I64: "int64_t", F64: "double", BOOL: "_Bool", ir.STR: "rps_handle", ir.OBJ: "rps_handle",
            ir.VALUE: "rps_handle"}
#: Version 2: the kind letter of a type in a `heap_op` call (rpsrt.abi.HEAP_OP_FN).
_KIND = {I64: "i", F64: "f", BOOL: "b", ir.STR: "h", ir.OBJ: "h", ir.VALUE: "h", VOID: "v"}


@dataclass(frozen=True, slots=True)
class LineSpan:
    """Lines `first..last` (1-based, inclusive) of the generated file hold function `oid` (source `name`)."""

    first: int
    last: int
    oid: str
    name: str
    loc: str


@dataclass(frozen=True, slots=True)
class CSources:
    """The generated C of one module: file name, text, exported symbols, plugin manifest and line table."""

    module_oid: str
    module_name: str
    file_name: str
    text: str
    symbols: tuple[str, ...]
    manifest: dict[str, Any]
    line_table: tuple[LineSpan, ...]

    def function_at(self, line: int) -> LineSpan | None:
        """The function whose generated code holds `line`, or None (file-level code)."""
        for span in self.line_table:
            if span.first <= line <= span.last:
                return span
        return None


# ------------------------------------------------------------------------------------------- escaping

_SAFE_LITERAL = frozenset(
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 !#$%&'()*+,-./:;<=>@[]^_`{|}~"
)


_SHORT_ESCAPES = {ord('"'): '\\"', ord("\\"): "\\\\", ord("?"): "\\?"}
#: byte -> its text inside a C string literal (a `str.translate` table of the text decoded as Latin-1).
_PIECES = [chr(b) if b in _SAFE_LITERAL else (_SHORT_ESCAPES.get(b) or f"\\{b:03o}") for b in range(256)]


def c_string_parts(text: str, chunk: int = 0) -> list[str]:
    """`text` (UTF-8) as adjacent C string literals of at most about `chunk` source characters each (one
    literal when `chunk` is 0): printable ASCII kept; `"`, `\\` and `?` backslash-escaped (so never a
    trigraph); every other byte a three-digit octal escape (never ambiguous with a following digit)."""
    data = text.encode("utf-8", "surrogatepass")
    escaped = data.decode("latin-1").translate(_PIECES)
    if not chunk:
        return ['"' + escaped + '"']
    if len(escaped) == len(data):  # one character per byte: chunks of exactly `chunk`
        return ['"' + escaped[i:i + chunk] + '"' for i in range(0, len(escaped), chunk)] or ['""']
    parts: list[str] = []
    cur: list[str] = []
    size = 0
    for byte in data:
        piece = _PIECES[byte]
        if size + len(piece) > chunk and cur:
            parts.append('"' + "".join(cur) + '"')
            cur, size = [], 0
        cur.append(piece)
        size += len(piece)
    parts.append('"' + "".join(cur) + '"')
    return parts


def c_string(text: str) -> str:
    """`text` as one C string literal (see `c_string_parts`)."""
    return c_string_parts(text)[0]


_COMMENT_SAFE = re.compile(r"[^A-Za-z0-9 _.,:;()\[\]<>=+\-@#$%&!^~{}|']")


def c_comment(text: str, limit: int = 80) -> str:
    """`text` made safe inside a `/* */` comment: one line of plain ASCII, no `*/`, `/*`, `??` or backslash."""
    s = _COMMENT_SAFE.sub("_", text)
    if len(s) > limit:
        s = s[: limit - 3] + "..."
    return s


_IDENT_BAD = re.compile(r"[^A-Za-z0-9_]")


def c_identifier(text: str) -> str:
    """A C identifier fragment from arbitrary text: letters, digits and `_` only (never empty)."""
    s = _IDENT_BAD.sub("_", text.encode("ascii", "backslashreplace").decode("ascii"))
    s = re.sub("_+", "_", s).strip("_") or "_"
    return s


# ------------------------------------------------------------------------------------------ constants


def c_const(c: ir.Const) -> str:
    """A constant as an exact C expression of its type."""
    if c.type is BOOL:
        return "1" if c.value else "0"
    if c.type is I64:
        v = int(c.value)
        if v == -(2**63):
            return "RPS_I64_MIN"
        return f"INT64_C({v})" if v >= 0 else f"(-INT64_C({-v}))"
    if c.type is F64:
        f = float(c.value)
        if math.isnan(f):
            return "(-__builtin_nan(\"\"))" if math.copysign(1.0, f) < 0 else "__builtin_nan(\"\")"
        if math.isinf(f):
            return "__builtin_inf()" if f > 0 else "(-__builtin_inf())"
        return f"({f.hex()})"
    raise ValueError(f"no constant of type {c.type}")


def c_params(params: tuple[Type, ...], ret: Type, names: list[str] | None = None) -> str:
    """The C parameter list of the ABI `int32_t fn(T *result, T1 a1, ...)` (a void function: `void *`)."""
    rt = "void" if ret is VOID else _C_TYPES[ret]
    out = [f"{rt} *result" if names is not None else f"{rt} *"]
    for i, t in enumerate(params):
        out.append(f"{_C_TYPES[t]} {names[i]}" if names is not None else _C_TYPES[t])
    return ", ".join(out)


# ------------------------------------------------------------------------------------------ functions

_BINOPS = {"add": "rps_i64_add", "sub": "rps_i64_sub", "mul": "rps_i64_mul", "shl": "rps_i64_shl",
           "ashr": "rps_i64_ashr"}
_INFIX = {"and": "&", "or": "|", "xor": "^", "fadd": "+", "fsub": "-", "fmul": "*", "fdiv": "/",
          "sdiv.unchecked": "/", "srem.unchecked": "%"}

_CMP = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


def body_name(index: int, copy: int = 0) -> str:
    """The C name of body `copy` of the module's function number `index` (`rpsb_3`, `rpsb_3_1`, ...)."""
    return f"rpsb_{index}" + (f"_{copy}" if copy else "")


class _FunctionEmitter:
    """Turns one lowered `ir.Function` (one body of its ring) into the template's view: declarations,
    labelled blocks of C lines."""

    def __init__(self, fn: ir.Function, index: int, bodies: dict[str, int], copy: int = 0) -> None:
        self.fn = fn
        self.index = index
        self.name_var = f"rps_fname_{index}"
        self.bodies = bodies  # symbol -> function index, for the functions of this module
        self.body_name = body_name(index, copy)
        self.cross_calls = False
        self.uses_heap = False
        self.temps: dict[str, str] = {}
        self.temp_types: dict[str, Type] = {}
        self.out_params: set[str] = set()  # temps written through a pointer (call results, checked ops)
        self.refs: dict[str, str] = {}  # objref operand -> the variable memoizing its handle in this call
        self.labels = {b.label: f"L{i}" for i, b in enumerate(fn.blocks)}
        self.targets: set[str] = set()
        for b in fn.blocks:
            t = b.terminator
            if isinstance(t, ir.Br):
                self.targets.add(t.target)
            elif isinstance(t, ir.CondBr):
                self.targets.update((t.then_target, t.else_target))

    def local(self, loc: ir.Local) -> str:
        return f"l{loc.index}"

    def temp(self, t: ir.Temp) -> str:
        name = self.temps.get(t.name)
        if name is None:
            name = self.temps[t.name] = f"t{len(self.temps)}"
            self.temp_types[name] = t.type
        return name

    def op(self, o: ir.Operand) -> str:
        if isinstance(o, ir.Const) and o.type in ir.HEAP_TYPES:
            if o.type is ir.STR:  # a string constant: its handle, from the host
                self.uses_heap = True
                return f"rps_module_str(rt, {c_string('h|' + str(o.value))}, {self.name_var})"
            return "INT64_C(0)"  # null
        return c_const(o) if isinstance(o, ir.Const) else self.temp(o)

    def heap_call(self, op: str, kinds: str, aux: str | None, args: list[tuple[str, ir.Type]],
                  dest: str | None, dest_type: ir.Type, loc: ir.SourceLoc) -> list[str]:
        """One call of the host heap API: arguments as 64-bit words, a trap code ends the body. An operation
        of `heap_fast` (rpsrt.abi.HEAP_FAST_OPS) tries that entry first, its operands in registers, and
        makes the `heap_op` call only when it declines (or when the host gave no fast entry)."""
        from rpsrt import abi

        self.uses_heap = True
        code = abi.HEAP_OP_CODES[op]
        words = [f"rps_f64_bits({a})" if t is F64 else f"(int64_t)({a})" for a, t in args]
        where = c_string(str(loc))
        call = [f"int32_t rps_s = rps_module_heap({code}, {c_string(kinds + '|' + (aux or ''))}, &rps_r, "
                f"{len(args)}, rps_a, {self.name_var}, {where});",
                f"if (rps_s != RPS_OK) rps_module_trap(rt, rps_s, {self.name_var}, {where});"]
        fast = abi.heap_fast_code(op, kinds, aux)  # (at most three arguments, in a, b, c)
        if fast is None:
            lines = [f"{{ const int64_t rps_a[{max(len(args), 1)}] = {{{', '.join(words) or '0'}}}; "
                     "int64_t rps_r = 0;", *("  " + x for x in call)]
        else:
            # the operands evaluated once, into scalars that stay in registers: the array of words that
            # `heap_op` takes is made only on the (cold) way there
            names = [f"rps_w{i}" for i in range(len(args))]
            operands = ", ".join([*names, *["0"] * (3 - len(args))])
            lines = ["{ " + "".join(f"const int64_t {n} = {w}; " for n, w in zip(names, words))
                     + "int64_t rps_r = 0;",
                     f"  if (__builtin_expect(rps_module_heap_fast == NULL || "
                     f"rps_module_heap_fast({fast}, {operands}, &rps_r) != 0, 0)) {{",
                     f"      const int64_t rps_a[{max(len(args), 1)}] = {{{', '.join(names) or '0'}}};",
                     *("      " + x for x in call), "  }"]
        if dest is not None:
            conv = "rps_bits_f64(rps_r)" if dest_type is F64 else "(_Bool)(rps_r != 0)" if dest_type is BOOL \
                else "rps_r"
            lines.append(f"  {dest} = {conv}; }}")
        else:
            lines.append("}")
        return lines

    def call_method(self, ins: ir.CallMethod) -> list[str]:
        """A method call (after `send`): the method's native entry, asked of the host once per function
        object (`method_entry`), called directly as a call into another module (depth published, its trap
        passed on); without one (0), through the host (`call_method`), which has the full semantics."""
        self.cross_calls = True
        d = self.temp(ins.dest) if ins.dest is not None else None
        args = [ins.fn, *ins.args]
        kinds = _KIND[ins.ret] + "".join(_KIND[a.type] for a in args)
        sig = f"{ins.ret.abi}({','.join(t.abi for t in ins.params)})"
        entry = self.heap_call("method_entry", "ih", sig, [(self.op(ins.fn), ins.fn.type)],
                               "rps_fp", I64, ins.loc)
        # (heap_call declares nothing: the entry's address lands in a block-local `rps_fp`)
        res = "NULL" if d is None else f"&{d}"
        if d is not None:
            self.out_params.add(d)
        direct = "".join(f", {self.op(a)}" for a in ins.args)
        return ["{ int64_t rps_fp = 0;", *("  " + line for line in entry),
                "  if (rps_fp != 0) {",
                "    rt->depth = rps_module_rt->depth_limit - room + 1;",
                f"    st = ((int32_t (*)({c_params(ins.params, ins.ret)}))(intptr_t)rps_fp)({res}{direct});",
                "    if (st != RPS_OK)",
                "        rps_module_rethrow(rt, st);",
                "  } else {",
                *("    " + line for line in self.heap_call("call_method", kinds, None,
                                                         [(self.op(a), a.type) for a in args], d, ins.ret,
                                                         ins.loc)),
                "  }",
                "}"]

    def trap(self, code: TrapCode, loc: ir.SourceLoc | None) -> str:
        where = c_string(str(loc if loc is not None else self.fn.loc))
        return f"rps_module_trap(rt, RPS_TRAP_{code.name}, {self.name_var}, {where});"

    def instr(self, ins: ir.Instr) -> list[str]:
        if isinstance(ins, ir.Load):
            return [f"{self.temp(ins.dest)} = {self.local(ins.local)};"]
        if isinstance(ins, ir.Store):
            return [f"{self.local(ins.local)} = {self.op(ins.value)};"]
        if isinstance(ins, ir.BinOp):
            d, a, b = self.temp(ins.dest), self.op(ins.lhs), self.op(ins.rhs)
            if ins.op in ir.CHECKED_OPS:
                raise TypeError(f"{ins.op} in {self.fn.name}: checked operations are lowered by rpsc.ir.passes")
            if ins.op in _BINOPS:
                return [f"{d} = {_BINOPS[ins.op]}({a}, {b});"]
            if ins.op in ("and", "or", "xor") and ins.dest.type is I64:
                return [f"{d} = (int64_t)((uint64_t){a} {_INFIX[ins.op]} (uint64_t){b});"]
            if ins.op in ("and", "or", "xor"):
                return [f"{d} = (_Bool)({a} {_INFIX[ins.op]} {b});"]
            return [f"{d} = {a} {_INFIX[ins.op]} {b};"]
        if isinstance(ins, ir.Cmp):
            return [f"{self.temp(ins.dest)} = ({self.op(ins.lhs)} {_CMP[ins.op]} {self.op(ins.rhs)});"]
        if isinstance(ins, ir.UnOp):
            d, v = self.temp(ins.dest), self.op(ins.value)
            expr = {"neg": f"rps_i64_neg({v})", "fneg": f"-{v}", "not": f"!{v}", "bnot": f"rps_i64_bnot({v})",
                    "abs": f"rps_i64_abs({v})", "fabs": f"rps_f64_abs({v})", "sqrt": f"rps_f64_sqrt({v})"}[ins.op]
            return [f"{d} = {expr};"]
        if isinstance(ins, ir.MinMax):
            kind = "i64" if ins.dest.type is I64 else "f64"
            return [f"{self.temp(ins.dest)} = rps_{kind}_{ins.op}({self.op(ins.lhs)}, {self.op(ins.rhs)});"]
        if isinstance(ins, ir.Convert):
            d, v = self.temp(ins.dest), self.op(ins.value)
            if ins.op is ConvertOp.SITOFP:
                return [f"{d} = rps_i64_to_f64({v});"]
            if ins.op is ConvertOp.FPTOSI_UNCHECKED:
                return [f"{d} = (int64_t){v};"]
            raise TypeError(f"{ins.op} in {self.fn.name}: checked operations are lowered by rpsc.ir.passes")
        if isinstance(ins, ir.Select):
            d = self.temp(ins.dest)
            return [f"{d} = {self.op(ins.cond)} ? {self.op(ins.if_true)} : {self.op(ins.if_false)};"]
        if isinstance(ins, ir.TrapIf):
            return [f"if (__builtin_expect({self.op(ins.cond)}, 0))", "    " + self.trap(ins.code, ins.loc)]
        if isinstance(ins, ir.Call):
            index = self.bodies.get(ins.callee.symbol)
            if index is not None:  # same module: the internal body (or ring copy), with one room less
                args = "".join(f", {self.op(a)}" for a in ins.args)
                call = f"{body_name(index, ins.copy)}(rt, room - 1{args})"
                return [f"{call};" if ins.dest is None else f"{self.temp(ins.dest)} = {call};"]
            # another module: through its exported wrapper, which reads the depth from the shared state
            self.cross_calls = True
            res = "NULL" if ins.dest is None else f"&{self.temp(ins.dest)}"
            if ins.dest is not None:
                self.out_params.add(self.temp(ins.dest))
            args = "".join(f", {self.op(a)}" for a in ins.args)
            return ["rt->depth = rps_module_rt->depth_limit - room + 1;",
                    f"st = {ins.callee.symbol}({res}{args});",
                    "if (st != RPS_OK)",
                    "    rps_module_rethrow(rt, st);"]
        if isinstance(ins, ir.Poll):
            if passes.has_entry_poll(self.fn) and ins is self.fn.blocks[0].instrs[0]:
                # The entry poll reads the flag through a plain (non-volatile) lvalue: a body of pure
                # arithmetic then stays "looping pure" to GCC, which may merge its calls with equal
                # arguments (not delete them), as it does without the poll. Every real call still reads
                # the flag on entry; loop polls below stay volatile, so no loop can hoist its read.
                return ["if (__builtin_expect(*(const int32_t *)&rt->interrupt, 0))",
                        "    " + self.trap(TrapCode.INTERRUPT, ins.loc)]
            return ["if (rt->interrupt)", "    " + self.trap(TrapCode.INTERRUPT, ins.loc)]
        if isinstance(ins, ir.HeapOp):
            d = self.temp(ins.dest) if ins.dest is not None else None
            if ins.op == "box" and ins.args[0].type is not F64 and d is not None:
                return [f"{d} = {self.op(ins.args[0])};"]  # a str or obj handle is already a value's
            if ins.op == "obj_eq" and d is not None:
                return [f"{d} = ({self.op(ins.args[0])} == {self.op(ins.args[1])});"]  # one handle per object
            if ins.op == "is_null" and d is not None:
                return [f"{d} = ({self.op(ins.args[0])} == 0);"]
            op = "box_float" if ins.op == "box" else ins.op
            dt = ins.dest.type if ins.dest is not None else VOID
            kinds = _KIND[dt] + "".join(_KIND[a.type] for a in ins.args)
            if op == "objref" and d is not None:
                # An object reference gives the same handle for the whole outermost call (the host keeps the
                # object alive): asked once per invocation, at the first site reached; a trap is not memoized.
                ref = self.refs.get(ins.aux or "")
                if ref is None:
                    ref = self.refs[ins.aux or ""] = f"rps_ref{len(self.refs)}"
                    self.temp_types[ref] = dt
                return [f"if (!{ref})", *("    " + x for x in self.heap_call(
                    op, kinds, ins.aux, [], ref, dt, ins.loc)), f"{d} = {ref};"]
            return self.heap_call(op, kinds, ins.aux, [(self.op(a), a.type) for a in ins.args], d, dt,
                                  ins.loc)
        if isinstance(ins, ir.CallMethod):
            return self.call_method(ins)
        raise TypeError(f"unknown IR instruction {ins!r}")

    def terminator(self, t: ir.Terminator | None) -> list[str]:
        if isinstance(t, ir.Br):
            return [f"goto {self.labels[t.target]};"]
        if isinstance(t, ir.CondBr):
            return [f"if ({self.op(t.cond)}) goto {self.labels[t.then_target]}; "
                    f"else goto {self.labels[t.else_target]};"]
        if isinstance(t, ir.Ret):
            if t.value is None:
                return ["return;"]
            return [f"return {self.op(t.value)};"]
        raise TypeError(f"block without a terminator in {self.fn.name}")

    def view(self) -> dict[str, Any]:
        fn = self.fn
        nparams = len(fn.ref.params)
        blocks = []
        for i, b in enumerate(fn.blocks):
            lines: list[str] = []
            for ins in b.instrs:
                lines.extend(self.instr(ins))
            lines.extend(self.terminator(b.terminator))
            label = self.labels[b.label] if (b.label in self.targets and i > 0) or (i == 0 and b.label in self.targets) else ""
            blocks.append({"label": label, "lines": lines})
        param_names = [f"l{i}" for i in range(nparams)]
        decls = [f"{_C_TYPES[loc.type]} l{loc.index} = 0;" for loc in fn.locals[nparams:]]
        # A temp written through a pointer is always written before it is read (the callee or helper
        # stores it on success; on failure the function returns): no initialiser to pay for.
        decls += [f"{_C_TYPES[ty]} {name}{'' if name in self.out_params else ' = 0'};"
                  for name, ty in self.temp_types.items()]
        # (`&t` already uses an out-parameter temp, which is left uninitialised: no `(void)` read of it.)
        uses = [f"l{loc.index}" for loc in fn.locals] + [t for t in self.temp_types if t not in self.out_params]
        if self.cross_calls:
            decls.append("rps_status st = RPS_OK;")
        use_lines: list[str] = []
        for v in uses:  # `(void)x;` marks every variable used: no -Wunused-* whatever the body does
            stmt = f"(void){v};"
            if use_lines and len(use_lines[-1]) + len(stmt) < 100:
                use_lines[-1] += " " + stmt
            else:
                use_lines.append(stmt)
        ret = fn.ref.ret
        body_params = ", ".join(["rps_rt *rt", "int32_t room"] +
                                [f"{_C_TYPES[t]} l{i}" for i, t in enumerate(fn.ref.params)])
        return {
            "oid": fn.ref.oid,
            "symbol": fn.ref.symbol,
            "body": self.body_name,
            "body_type": "void" if ret is VOID else _C_TYPES[ret],
            "body_params": body_params,
            "void": ret is VOID,
            "volatile_args": ([] if ret is VOID else [f"{_C_TYPES[ret]} *volatile const out = result;"])
            + [f"volatile const {_C_TYPES[t]} a{i} = l{i};" for i, t in enumerate(fn.ref.params)],
            "volatile_names": "".join(f", a{i}" for i in range(nparams)),
            "name_var": self.name_var,
            "name_literal": c_string(fn.ref.name),
            "comment": c_comment(f"{fn.ref.name} {fn.ref.signature} at {fn.loc}"),
            "params": c_params(fn.ref.params, fn.ref.ret, param_names),
            "decls": decls,
            "uses": use_lines,
            "loc_literal": c_string(str(fn.loc)),
            "blocks": blocks,
        }


# ------------------------------------------------------------------------------------------ templates


@lru_cache(maxsize=1)
def _environment() -> Any:
    from importlib import resources

    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resources.files("rpsc.templates"))),
        bytecode_cache=_bytecode_cache(jinja2),
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )


def _bytecode_cache(jinja2: Any) -> Any:
    """Jinja2's cache of compiled templates in rpsc's cache folder (`rpsc.cachedir`), so that a process does
    not compile the templates again (about 40 ms); Jinja2 keys each entry by the template's source checksum.
    None (compile in memory) when the folder cannot be made."""
    import os

    from rpsc.cachedir import cache_root

    folder = cache_root() / f"jinja2-{jinja2.__version__}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    if not os.access(folder, os.W_OK | os.X_OK):
        return None
    return jinja2.FileSystemBytecodeCache(str(folder))


def render(template: str, **context: Any) -> str:
    """Render one template of `rpsc.templates` with `context`."""
    return _environment().get_template(template).render(**context)


def plugin_manifest(module: ir.Module) -> dict[str, Any]:
    """The plugin manifest (PLUGIN_ABI.md) of a module: name, version, abi, requires, exports, and the
    extension points the module declares (so that a host can declare them before loading any plugin)."""
    requires = []
    for name, constraint in module.requires:
        requires.append({"name": name, "version": constraint} if constraint else {"name": name})
    # (`heap`: heap code, called with the GIL kept: docs/plugin-abi.md "The GIL")
    exports = [{"symbol": f.ref.symbol, "name": f.ref.name, "signature": f.ref.signature,
                **({"heap": True} if ir.uses_heap(f) else {})} for f in module.functions]
    out: dict[str, Any] = {"name": module.name, "version": plugin_version(module.version), "abi": 1,
                           "requires": requires, "exports": exports}
    if module.extension_points:
        out["extension_points"] = [{"name": p.name, "signature": p.signature, "mode": p.mode}
                                   for p in module.extension_points]
    return out


def plugin_version(version: str) -> str:
    """A module version as the plugin ABI's MAJOR.MINOR.PATCH (`1.2.0-rc.1+b5` -> `1.2.0`; none -> `0.0.0`),
    by the one version rule (`rpsrt.versions.release_text`)."""
    return release_text(version)


def c_file_name(module_oid: str) -> str:
    return f"rps{module_oid}-mod.c"


def emit_c(module: ir.Module, *, default_depth_limit: int = 10_000,
           recursion_copies: int = passes.RECURSION_COPIES, entry_poll: bool = True) -> CSources:
    """Render `module` as the C source of its plugin (one file, `rps<oid>-mod.c`), after
    `rpsc.ir.passes.prepare(module, recursion_copies)`: a small self-recursive function becomes its ring
    of body copies, all marked `inline`, so that the C compiler (which does not inline a function into
    itself) unrolls the recursion; the recursion count stays exact (`room` is an ordinary argument).
    Every body polls the interrupt flag on entry unless `entry_poll=False` (only to measure its cost)."""
    from rpsc import __version__

    prepared = passes.prepare(module, recursion_copies, entry_poll=entry_poll)
    bodies = {fn.ref.symbol: i for i, fn in enumerate(module.functions)}
    emitters = []
    views = []
    for i, fn in enumerate(module.functions):
        copies = [_FunctionEmitter(body, i, bodies, k) for k, body in enumerate(prepared.ring(fn))]
        emitters += copies
        copy_views = [c.view() for c in copies]
        view = dict(copy_views[0])
        view["copies"] = copy_views
        views.append(view)
    cross_calls = any(e.cross_calls for e in emitters)
    by_symbol = {v["symbol"]: v for v in views}
    externs = [{"symbol": r.symbol, "params": c_params(r.params, r.ret),
                "comment": c_comment(f"{r.name} {r.signature} of module {r.module_oid}")}
               for r in module.externs() if r.symbol not in by_symbol]
    extensions = []
    for ext in module.extensions:
        extensions.append({
            "comment": c_comment(f"{ext.point.name} priority {ext.priority} with {ext.function.name}"),
            "point_literal": c_string(ext.point.name),
            "impl_literal": c_string(ext.function.name),
            "symbol": ext.function.symbol,
            "priority": int(ext.priority),
            "signature_literal": c_string(ext.function.signature),
        })
    manifest = plugin_manifest(module)
    manifest_text = json.dumps(manifest, ensure_ascii=False, separators=(", ", ": "))
    file_name = c_file_name(module.oid)
    text = render(
        "module.c.j2",
        file_name=file_name,
        rpsc_version=__version__,
        module_comment=c_comment(f"{module.name} {module.version}"),
        module_oid=module.oid,
        default_depth_limit=int(default_depth_limit),
        manifest_chunks=c_string_parts(manifest_text, 100),
        functions=views,
        externs=externs,
        extensions=extensions,
        cross_calls=cross_calls,
        uses_heap=any(e.uses_heap for e in emitters),
    )
    return CSources(
        module_oid=module.oid,
        module_name=module.name,
        file_name=file_name,
        text=text,
        symbols=tuple(f.ref.symbol for f in module.functions),
        manifest=manifest,
        line_table=line_table(text, {f.ref.oid: (f.ref.name, str(f.loc)) for f in module.functions}),
    )


def line_table(text: str, names: dict[str, tuple[str, str]]) -> tuple[LineSpan, ...]:
    """The spans of the generated functions in `text`, from their marker comments."""
    spans = []
    start: tuple[int, str] | None = None
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith(FUNCTION_MARKER):
            start = (n, line[len(FUNCTION_MARKER):].split(" ", 1)[0])
        elif line.startswith(FUNCTION_END_MARKER) and start is not None:
            oid = start[1]
            name, loc = names.get(oid, ("?", "?"))
            spans.append(LineSpan(start[0], n, oid, name, loc))
            start = None
    return tuple(spans)


# -------------------------------------------------------------------------------------- the headers


@dataclass(frozen=True, slots=True)
class HeaderEntry:
    macro: str
    oid: str
    name: str


def header_entries(prefix: str, objects: list[tuple[str, str | None]]) -> list[HeaderEntry]:
    """Macro names `PREFIX_<sanitised name>` (or `PREFIX<oid>` when unnamed) for (oid, name) pairs,
    collisions disambiguated by the OID; sorted by macro name."""
    wanted: dict[str, list[tuple[str, str | None]]] = {}
    for oid, name in sorted(objects, key=lambda p: p[0]):
        macro = f"{prefix}_{c_identifier(name)}" if name else f"{prefix}{oid}"
        wanted.setdefault(macro, []).append((oid, name))
    out = []
    taken = set(wanted)
    for macro, items in wanted.items():
        if len(items) == 1:
            out.append(HeaderEntry(macro, items[0][0], items[0][1] or ""))
            continue
        for oid, name in items:
            m = f"{macro}{oid}"
            while m in taken:
                m += "_"
            taken.add(m)
            out.append(HeaderEntry(m, oid, name or ""))
    return sorted(out, key=lambda e: e.macro)


HEADERS = {
    "rps_names.h": ("RPS_NAMED", "Named objects of the store (symbols, classes, objects with a `name`)."),
    "rps_roots.h": ("RPS_ROOT", "Global roots of the store (manifest `globalroots`)."),
    "rps_constants.h": ("RPS_CONSTANT", "Constants of the store (manifest `constset`)."),
}


def emit_headers(heap: Any, named: list[tuple[str, str]] | None = None) -> dict[str, str]:
    """The generated headers `rps_names.h`, `rps_roots.h`, `rps_constants.h` of a heap: file name -> text.
    `named`: the (oid, name) of every named object (`object_name`), when the caller knows them without
    reading every object (rpsc.driver.incremental.LiveIndex.named); their order does not matter."""
    from rpsc import __version__

    if named is None:
        named = []
        for obj in heap.objects.values():
            name = object_name(obj)
            if name is not None:
                named.append((str(obj.oid), name))
    sets: dict[str, list[tuple[str, str | None]]] = {
        "rps_names.h": list(named),
        "rps_roots.h": [(str(o.oid), object_name(o)) for o in heap.roots],
        "rps_constants.h": [(str(o.oid), object_name(o)) for o in heap.constants],
    }
    out = {}
    for file_name, (prefix, description) in HEADERS.items():
        entries = header_entries(prefix, sets[file_name])
        out[file_name] = render(
            "names.h.j2",
            file_name=file_name,
            rpsc_version=__version__,
            description=description,
            guard=f"{prefix}__H_INCLUDED",
            each_macro=f"{prefix}__EACH",
            count_macro=f"{prefix}__COUNT",
            entries=[{"macro": e.macro, "literal": c_string(e.oid),
                      "comment": c_comment(e.name or "(unnamed)")} for e in entries],
        )
    return out
