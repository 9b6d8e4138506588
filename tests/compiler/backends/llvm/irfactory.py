"""Small IR functions built with the FunctionBuilder, shared by the LLVM backend tests.

OIDs and symbols come from seeded `ModuleBuilder`s, one per module name: reproducible (the golden files
depend on them) and valid RefPerSys OIDs.
"""

from __future__ import annotations

from rpsc.ir import ir
from rpsc.ir.builder import FunctionBuilder, ModuleBuilder, const
from rpsc.ir.ir import BOOL, F64, I64, VOID, SourceLoc

_BUILDERS: dict[str, ModuleBuilder] = {}


def builder(module: str = "m") -> ModuleBuilder:
    """The seeded ModuleBuilder of module `module` (the same one on every call)."""
    mb = _BUILDERS.get(module)
    if mb is None:
        mb = _BUILDERS[module] = ModuleBuilder(module, seed="irfactory")
    return mb


def module_oid(module: str) -> str:
    """The OID of module `module` (minted by its builder)."""
    return builder(module).oid


MODULE_OID = module_oid("m")


def ref(name: str, params: tuple[ir.Type, ...], ret: ir.Type, module_oid: str = MODULE_OID) -> ir.FunctionRef:
    """The reference of function `name` of the module whose OID is `module_oid` (minted by its builder)."""
    mb = next(b for b in _BUILDERS.values() if b.oid == module_oid)
    return mb.function_ref(name, params, ret)


def loc(line: int, col: int = 1, file: str = "t.rps") -> SourceLoc:
    return SourceLoc(file, line, col)


def fib(r: ir.FunctionRef | None = None) -> ir.Function:
    """fib(n) = n < 2 ? n : fib(n-1) + fib(n-2)."""
    r = r or ref("fib", (I64,), I64)
    b = FunctionBuilder(r, ["n"], loc(1))
    b.position_at_end(b.append_block("entry"))
    n = b.load(b.params[0])
    with b.if_then(b.icmp("lt", n, const(2))):
        b.ret(n)
    n = b.load(b.params[0])
    x = b.call(r, [b.sub(n, const(1))], loc(3, 10))
    y = b.call(r, [b.sub(n, const(2))], loc(3, 20))
    b.ret(b.add(x, y))
    return b.finish()


def binop_fn(name: str, op: str, t: ir.Type = I64) -> ir.Function:
    """name(a, b) = a <op> b (sdiv/srem carry a location)."""
    r = ref(name, (t, t), t)
    b = FunctionBuilder(r, ["a", "b"], loc(10))
    b.position_at_end(b.append_block("entry"))
    x, y = b.load(b.params[0]), b.load(b.params[1])
    b.ret(b.binop(op, x, y, loc(11, 5) if op in ("sdiv", "srem") else None))
    return b.finish()


def spin() -> ir.Function:
    """spin() loops forever, polling on its back-edge; returns nothing."""
    r = ref("spin", (), VOID)
    b = FunctionBuilder(r, [], loc(20))
    b.position_at_end(b.append_block("entry"))
    head = b.append_block("loop")
    b.br(head)
    b.position_at_end(head)
    b.poll(loc(21, 3))
    b.br(head)
    return b.finish()


def module(functions: list[ir.Function], name: str = "m", oid: str | None = None) -> ir.Module:
    """A module of `functions` (its OID: theirs, unless given)."""
    oid = oid or (functions[0].ref.module_oid if functions else MODULE_OID)
    return ir.Module(oid=oid, name=name, version="1.0.0", requires=[], functions=functions,
                     extension_points=[], extensions=[])


__all__ = ["BOOL", "F64", "I64", "VOID", "binop_fn", "builder", "fib", "loc", "module", "module_oid", "ref", "spin"]
