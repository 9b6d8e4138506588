"""Hand-built IR modules (FunctionBuilder) used by the C backend tests before and besides the frontend."""

from __future__ import annotations

from rpsc.ir import ir
from rpsc.ir.builder import FunctionBuilder, ModuleBuilder, const
from rpsc.ir.ir import BOOL, F64, I64, VOID, SourceLoc

#: The ModuleBuilder behind each module OID handed out by `new_module_oid` (it mints the functions' OIDs).
_BUILDERS: dict[str, ModuleBuilder] = {}


def new_module_oid(name: str = "hand") -> str:
    """The OID of a new module (random, as in a store), minted by its own ModuleBuilder."""
    mb = ModuleBuilder(name, file="hand.rps")
    _BUILDERS[mb.oid] = mb
    return mb.oid


def ref(name: str, params: tuple[ir.Type, ...], ret: ir.Type, module_oid: str) -> ir.FunctionRef:
    """A new function `name` of the module `module_oid` (a fresh OID and symbol minted by its builder)."""
    return _BUILDERS[module_oid].new_function_ref(name, params, ret)


def loc(line: int, col: int = 1, file: str = "hand.rps") -> SourceLoc:
    return SourceLoc(file, line, col)


def binary_fn(name: str, op: str, mod: str, line: int, t: ir.Type = I64) -> ir.Function:
    """`fn name(a, b) -> t { return a op b; }` for any binop/minmax/cmp (cmp returns bool)."""
    ret = BOOL if op.startswith(("icmp", "fcmp")) else t
    r = ref(name, (t, t), ret, mod)
    b = FunctionBuilder(r, ("a", "b"), loc(line))
    b.position_at_end(b.append_block("entry"))
    x, y = b.load(b.params[0]), b.load(b.params[1])
    if op.startswith(("icmp", "fcmp")):
        kind, cmp = op.split(".")
        v = b.icmp(cmp, x, y) if kind == "icmp" else b.fcmp(cmp, x, y)
    elif op in ("min", "max"):
        v = b.minmax(op, x, y)
    else:
        v = b.binop(op, x, y, loc(line, 12))
    b.ret(v)
    return b.finish()


def unary_fn(name: str, op: str, t: ir.Type, mod: str, line: int) -> ir.Function:
    """`fn name(a) -> ...` applying a unop or a conversion."""
    out = {"sitofp": F64, "fptosi": I64}.get(op, t)
    r = ref(name, (t,), out, mod)
    b = FunctionBuilder(r, ("a",), loc(line))
    b.position_at_end(b.append_block("entry"))
    x = b.load(b.params[0])
    if op == "sitofp":
        v = b.sitofp(x)
    elif op == "fptosi":
        v = b.fptosi(x, loc(line, 7))
    else:
        v = b.unop(op, x)
    b.ret(v)
    return b.finish()


def fib_fn(mod: str, line: int = 1) -> ir.Function:
    """Recursive fib(n): if n < 2 return n; return fib(n-1) + fib(n-2)."""
    r = ref("fib", (I64,), I64, mod)
    b = FunctionBuilder(r, ("n",), loc(line))
    b.position_at_end(b.append_block("entry"))
    n = b.load(b.params[0])
    with b.if_then(b.icmp("lt", n, const(2))):
        b.ret(b.load(b.params[0]))
    n = b.load(b.params[0])
    a = b.call(r, [b.sub(n, const(1))], loc(line + 2, 10))
    c = b.call(r, [b.sub(n, const(2))], loc(line + 2, 20))
    b.ret(b.add(a, c))
    return b.finish()


def sum_loop_fn(mod: str, line: int = 1) -> ir.Function:
    """sum(n): s = 0; for i in 0..n { s = s + i*i } (polls on the back-edge); returns s."""
    r = ref("sum_squares", (I64,), I64, mod)
    b = FunctionBuilder(r, ("n",), loc(line))
    b.position_at_end(b.append_block("entry"))
    s = b.local("s", I64)
    i = b.local("i", I64)
    b.store(s, const(0))
    b.store(i, const(0))
    head, body, done = b.append_block("head"), b.append_block("body"), b.append_block("done")
    b.br(head)
    b.position_at_end(head)
    b.cbranch(b.icmp("lt", b.load(i), b.load(b.params[0])), body, done)
    b.position_at_end(body)
    iv = b.load(i)
    b.store(s, b.add(b.load(s), b.mul(iv, iv)))
    b.store(i, b.add(iv, const(1)))
    b.poll(loc(line + 1, 3))
    b.br(head)
    b.position_at_end(done)
    b.ret(b.load(s))
    return b.finish()


def void_fn(mod: str, callee: ir.FunctionRef, line: int = 1) -> ir.Function:
    """A void function that calls `callee(1)` and drops its result."""
    r = ref("noop", (), VOID, mod)
    b = FunctionBuilder(r, (), loc(line))
    b.position_at_end(b.append_block("entry"))
    b.call(callee, [const(1, callee.params[0])] if callee.params else [], loc(line, 5))  # result dropped
    b.ret()
    return b.finish()


def module(name: str, functions: list[ir.Function], oid: str, *, version: str = "1.0.0",
           requires: list[tuple[str, str | None]] | None = None,
           points: list[ir.ExtensionPoint] | None = None,
           extensions: list[ir.Extension] | None = None) -> ir.Module:
    return ir.Module(oid, name, version, requires or [], functions, points or [], extensions or [])


def sample_module(name: str = "sample") -> ir.Module:
    """A module exercising every instruction kind."""
    mod = new_module_oid(name)
    fns = [fib_fn(mod), sum_loop_fn(mod, 10)]
    line = 20
    for op in ("add", "sub", "mul", "sdiv", "srem", "shl", "ashr", "and", "or", "xor", "min", "max",
               "icmp.lt", "icmp.eq"):
        fns.append(binary_fn(f"i_{op.replace('.', '_')}", op, mod, line))
        line += 1
    for op in ("fadd", "fsub", "fmul", "fdiv", "min", "max", "fcmp.lt", "fcmp.ne", "fcmp.eq"):
        fns.append(binary_fn(f"f_{op.replace('.', '_')}", op, mod, line, F64))
        line += 1
    for op in ("and", "or", "xor", "icmp.eq", "icmp.ne"):
        fns.append(binary_fn(f"b_{op.replace('.', '_')}", op, mod, line, BOOL))
        line += 1
    for op, t in (("neg", I64), ("bnot", I64), ("abs", I64), ("not", BOOL), ("fneg", F64), ("fabs", F64),
                  ("sqrt", F64), ("sitofp", I64), ("fptosi", F64)):
        fns.append(unary_fn(f"u_{op}", op, t, mod, line))
        line += 1
    fns.append(void_fn(mod, fns[0].ref, line))
    return module(name, fns, mod)


def down_fn(mod: str, line: int = 1) -> ir.Function:
    """down(n): if n <= 0 return 0; return 1 + down(n - 1)  (n + 1 nested calls)."""
    r = ref("down", (I64,), I64, mod)
    b = FunctionBuilder(r, ("n",), loc(line))
    b.position_at_end(b.append_block("entry"))
    with b.if_then(b.icmp("le", b.load(b.params[0]), const(0))):
        b.ret(const(0))
    res = b.call(r, [b.sub(b.load(b.params[0]), const(1))], loc(line + 1, 5))
    assert res is not None
    b.ret(b.add(const(1), res))
    return b.finish()
