"""The node types of decoded stored code, for readers below the frontend (IR construction).

`rpsc.heapcode.decode` gives stored code back as these nodes (they are the frontend's AST dataclasses:
heapcode is the one layer that knows both the AST and the store), together with the `Resolution` the
checker stored with each body. A reader imports them from here, never from `rpsc.frontend`.
"""

from __future__ import annotations

from rpsc.frontend.ast import (
    AssignStmt, Binary, Block, BoolLit, BreakStmt, Call, ContinueStmt, Expr, ExprStmt, ExtensionPointDecl,
    FloatLit, FnDecl, ForStmt, IfStmt, IntLit, Name, ReturnStmt, Span, Stmt, Unary, VarStmt, WhileStmt,
    StrLit, NullLit, OidLit, GetAttr, SetAttrStmt, Send, Index, SetIndexStmt, New, NewField,
)
from rpsc.heapcode.decode import Resolution

__all__ = [
    "AssignStmt", "Binary", "Block", "BoolLit", "BreakStmt", "Call", "ContinueStmt", "Expr", "ExprStmt",
    "ExtensionPointDecl", "FloatLit", "FnDecl", "ForStmt", "IfStmt", "IntLit", "Name", "Resolution",
    "ReturnStmt", "Span", "Stmt", "Unary", "VarStmt", "WhileStmt",
    "StrLit", "NullLit", "OidLit", "GetAttr", "SetAttrStmt", "Send", "Index", "SetIndexStmt", "New", "NewField",
]
