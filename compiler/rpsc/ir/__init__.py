"""The typed IR: its classes (`rpsc.ir.ir`), the public construction API, and the passes every backend takes.

    from rpsc.ir import ModuleBuilder, I64, CmpOp
    mb = ModuleBuilder("m", seed="example")
    b = mb.function("fib", [("n", I64)], I64)
    ...
    module = mb.finish()

See docs/ir.md. `from_heap` (stored code -> IR) is imported from `rpsc.ir.from_heap`.
"""

from __future__ import annotations

from rpsc.ir.builder import FunctionBuilder, IRTypeError, ModuleBuilder, const
from rpsc.ir.ir import (
    BOOL,
    F64,
    I64,
    VOID,
    BinaryOp,
    CmpKind,
    CmpOp,
    ConvertOp,
    FunctionRef,
    MinMaxOp,
    SourceLoc,
    TrapCode,
    Type,
    UnaryOp,
    oid_of_symbol,
    symbol_of,
)

__all__ = [
    "BOOL", "F64", "I64", "VOID", "BinaryOp", "CmpKind", "CmpOp", "ConvertOp", "FunctionBuilder", "FunctionRef",
    "IRTypeError", "MinMaxOp", "ModuleBuilder", "SourceLoc", "TrapCode", "Type", "UnaryOp", "const",
    "oid_of_symbol", "symbol_of",
]
