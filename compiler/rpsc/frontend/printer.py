"""The `.rps` pretty-printer: canonical source text from an AST, which parses back to an equal AST.

Entry points: `print_module(m)`, `print_function(fn)`, `print_decl(d)`, `print_stmt(s)`, `print_expr(e)`,
`print_value(v)`. Layout: 4-space indentation, `{` at the end of the line, one blank line around functions
and objects, no parentheses beyond those that precedence requires. A unary minus applied to a literal is
printed `-(5)`, distinct from the negative literal `-5`. Floats print with `repr`, which round-trips
exactly; a float literal is always finite, so printing an infinite or NaN `FloatLit` raises ValueError.
"""

from __future__ import annotations

import math

from rpsc.frontend import ast

__all__ = ["print_module", "print_function", "print_decl", "print_stmt", "print_expr", "print_value",
           "PRECEDENCE", "quote"]

#: Binding strength of binary operators (C's order; higher binds tighter). Unary operators bind at 11.
PRECEDENCE = {
    "||": 1, "&&": 2, "|": 3, "^": 4, "&": 5, "==": 6, "!=": 6, "<": 7, "<=": 7, ">": 7, ">=": 7,
    "<<": 8, ">>": 8, "+": 9, "-": 9, "*": 10, "/": 10, "%": 10,
}
_UNARY = 11
_INDENT = "    "


def quote(s: str) -> str:
    """A string literal for `s` (escapes `\\`, `"` and control characters)."""
    out = ['"']
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\0":
            out.append("\\0")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        elif 0xD800 <= ord(ch) <= 0xDFFF:
            out.append(f"\\u{{{ord(ch):x}}}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _float(v: float) -> str:
    if not math.isfinite(v):
        raise ValueError(f"a float literal is always finite, not {v!r}")
    return repr(float(v))


# ---------------------------------------------------------------- expressions

def print_expr(e: ast.Expr) -> str:
    """An expression, with the parentheses that precedence requires and no others."""
    return _expr(e, 0)


def _expr(e: ast.Expr, min_prec: int) -> str:
    if isinstance(e, ast.Binary):
        p = PRECEDENCE[e.op]
        text = f"{_expr(e.left, p)} {e.op} {_expr(e.right, p + 1)}"
        return f"({text})" if p < min_prec else text
    if isinstance(e, ast.Name):
        return e.name
    if isinstance(e, ast.IntLit):
        return str(int(e.value))
    if isinstance(e, ast.FloatLit):
        return _float(e.value)
    if isinstance(e, ast.BoolLit):
        return "true" if e.value else "false"
    if isinstance(e, ast.Call):
        return f"{e.func}({', '.join(_expr(a, 0) for a in e.args)})"
    if isinstance(e, ast.StrLit):
        return quote(e.value)
    if isinstance(e, ast.NullLit):
        return "null"
    if isinstance(e, ast.OidLit):
        return f"@{e.oid}"
    if isinstance(e, ast.GetAttr):
        return f"{_postfix(e.obj)}.{e.attr}"
    if isinstance(e, ast.Send):
        return f"{_postfix(e.obj)}.{e.selector}({', '.join(_expr(a, 0) for a in e.args)})"
    if isinstance(e, ast.Index):
        return f"{_postfix(e.obj)}[{_expr(e.index, 0)}]"
    if isinstance(e, ast.New):
        head = f"new {e.cls}" if e.cls is not None else f"new ({_expr(e.cls_expr, 0)})"  # type: ignore[arg-type]
        fields = ", ".join(f"{f.attr} = {_expr(f.value, 0)}" for f in e.fields)
        return f"{head} {{{fields}}}" if fields else f"{head} {{}}"
    if isinstance(e, ast.Unary):
        operand = e.operand
        if e.op == "-" and isinstance(operand, (ast.IntLit, ast.FloatLit)):
            inner = f"({_expr(operand, 0)})"  # keep `-(5)` distinct from the literal `-5`
        else:
            inner = _expr(operand, _UNARY)
        sep = " " if e.op == "-" and inner.startswith("-") else ""
        return f"{e.op}{sep}{inner}"
    raise TypeError(f"not an expression: {e!r}")


_POSTFIX_OK = (ast.Name, ast.Call, ast.GetAttr, ast.Send, ast.Index, ast.New, ast.StrLit, ast.NullLit, ast.OidLit,
               ast.BoolLit)


def _postfix(e: ast.Expr) -> str:
    """The object of `.attr`, `.sel(...)` or `[i]`: parenthesised unless it is a postfix expression itself."""
    return _expr(e, 0) if isinstance(e, _POSTFIX_OK) else f"({_expr(e, 0)})"


# ---------------------------------------------------------------- statements

def print_stmt(s: ast.Stmt, indent: int = 0) -> str:
    """A statement at the given indentation level (no trailing newline)."""
    lines: list[str] = []
    _stmt(s, indent, lines)
    return "\n".join(lines)


def _block(b: ast.Block, indent: int, lines: list[str], head: str) -> None:
    """Append `head {`, the statements, and `}` (the caller may extend the last line, e.g. `} else {`)."""
    if not b.stmts:
        lines.append(f"{_INDENT * indent}{head}{{}}" if head else f"{_INDENT * indent}{{}}")
        return
    lines.append(f"{_INDENT * indent}{head}{{")
    for s in b.stmts:
        _stmt(s, indent + 1, lines)
    lines.append(f"{_INDENT * indent}}}")


def _stmt(s: ast.Stmt, indent: int, lines: list[str]) -> None:
    pad = _INDENT * indent
    if isinstance(s, ast.VarStmt):
        typ = f": {s.type}" if s.type is not None else ""
        lines.append(f"{pad}var {s.name}{typ} = {_expr(s.init, 0)};")
    elif isinstance(s, ast.AssignStmt):
        lines.append(f"{pad}{s.name} = {_expr(s.value, 0)};")
    elif isinstance(s, ast.IfStmt):
        _if(s, indent, lines, "if ")
    elif isinstance(s, ast.WhileStmt):
        _block(s.body, indent, lines, f"while {_expr(s.cond, 0)} ")
    elif isinstance(s, ast.ForStmt):
        _block(s.body, indent, lines, f"for {s.var} in {_expr(s.start, 0)} .. {_expr(s.stop, 0)} ")
    elif isinstance(s, ast.BreakStmt):
        lines.append(f"{pad}break;")
    elif isinstance(s, ast.ContinueStmt):
        lines.append(f"{pad}continue;")
    elif isinstance(s, ast.ReturnStmt):
        lines.append(f"{pad}return;" if s.value is None else f"{pad}return {_expr(s.value, 0)};")
    elif isinstance(s, ast.ExprStmt):
        lines.append(f"{pad}{_expr(s.expr, 0)};")
    elif isinstance(s, ast.SetAttrStmt):
        lines.append(f"{pad}{_postfix(s.obj)}.{s.attr} = {_expr(s.value, 0)};")
    elif isinstance(s, ast.SetIndexStmt):
        lines.append(f"{pad}{_postfix(s.obj)}[{_expr(s.index, 0)}] = {_expr(s.value, 0)};")
    elif isinstance(s, ast.Block):
        _block(s, indent, lines, "")
    else:
        raise TypeError(f"not a statement: {s!r}")


def _if(s: ast.IfStmt, indent: int, lines: list[str], head: str) -> None:
    _block(s.then, indent, lines, f"{head}{_expr(s.cond, 0)} ")
    if s.orelse is None:
        return
    # Continue on the closing line: `} else {` / `} else if c {`.
    closing = lines.pop()
    if isinstance(s.orelse, ast.IfStmt):
        sub: list[str] = []
        _if(s.orelse, indent, sub, "if ")
        first = sub[0].lstrip()
        lines.append(f"{closing} else {first}")
        lines.extend(sub[1:])
    else:
        sub = []
        _block(s.orelse, indent, sub, "")
        lines.append(f"{closing} else {sub[0].lstrip()}")
        lines.extend(sub[1:])


# ---------------------------------------------------------------- values and declarations

def print_value(v: ast.DataValue) -> str:
    """A value of a `symbol` or an object's field."""
    if isinstance(v, ast.IntValue):
        return str(int(v.value))
    if isinstance(v, ast.FloatValue):
        return _float(v.value)
    if isinstance(v, ast.StringValue):
        return quote(v.value)
    if isinstance(v, ast.NullValue):
        return "null"
    if isinstance(v, ast.NameValue):
        return v.name
    if isinstance(v, ast.SetValue):
        return "{" + ", ".join(i.name for i in v.items) + "}"
    if isinstance(v, ast.TupleValue):
        return "[" + ", ".join(print_value(i) for i in v.items) + "]"
    raise TypeError(f"not a value: {v!r}")


def _oid(oid: str | None) -> str:
    return f" @{oid}" if oid else ""


def _params(params: tuple[ast.Param, ...]) -> str:
    return ", ".join(f"{p.name}: {p.type}" for p in params)


def _ret(ret: str) -> str:
    return "" if ret == "void" else f" -> {ret}"


def print_function(fn: ast.FnDecl) -> str:
    """A function definition (ends with a newline)."""
    from rpsrt.limits import deep_recursion

    with deep_recursion():
        return _print_function(fn)


def _print_function(fn: ast.FnDecl) -> str:
    lines: list[str] = []
    _block(fn.body, 0, lines, f"fn {fn.name}{_oid(fn.oid)}({_params(fn.params)}){_ret(fn.ret)} ")
    return "\n".join(lines) + "\n"


def print_decl(d: ast.Decl) -> str:
    """One top-level declaration (ends with a newline)."""
    if isinstance(d, ast.FnDecl):
        return _print_function(d)
    if isinstance(d, ast.ClassDecl):
        sup = f" : {d.superclass}" if d.superclass is not None else ""
        return f"class {d.name}{_oid(d.oid)}{sup};\n"
    if isinstance(d, ast.AttributeDecl):
        typ = f": {d.type}" if d.type is not None else ""
        return f"attribute {d.name}{_oid(d.oid)}{typ};\n"
    if isinstance(d, ast.SelectorDecl):
        sig = f"({_params(d.params)}){_ret(d.ret)}" if d.params is not None else ""
        return f"selector {d.name}{_oid(d.oid)}{sig};\n"
    if isinstance(d, ast.SymbolDecl):
        val = f" = {print_value(d.value)}" if d.value is not None else ""
        return f"symbol {d.name}{_oid(d.oid)}{val};\n"
    if isinstance(d, ast.ObjectDecl):
        cls = f" : {d.cls}" if d.cls is not None else ""
        body = [f"{_INDENT}{f.attr} = {print_value(f.value)};" for f in d.fields]
        if d.comps is not None:
            body.append(f"{_INDENT}comps = [{', '.join(print_value(v) for v in d.comps)}];")
        head = f"object {d.name}{_oid(d.oid)}{cls} {{"
        if not body:
            return head + "}\n"
        return head + "\n" + "\n".join(body) + "\n}\n"
    if isinstance(d, ast.ExtensionPointDecl):
        return f"extension_point {d.name}{_oid(d.oid)}({_params(d.params)}){_ret(d.ret)} mode {d.mode};\n"
    if isinstance(d, ast.ExtendDecl):
        prio = f" priority {int(d.priority)}" if d.priority else ""
        return f"extend {d.point}{prio} with {d.function};\n"
    if isinstance(d, ast.MethodDecl):
        return f"method {d.cls}.{d.selector} = {d.function};\n"
    raise TypeError(f"not a declaration: {d!r}")


def print_module(m: ast.Module) -> str:
    """A whole module in canonical form."""
    from rpsrt.limits import deep_recursion

    with deep_recursion():
        return _print_module(m)


def _print_module(m: ast.Module) -> str:
    out = [f"module {m.name}" + (f" version {quote(m.version)}" if m.version is not None else "") + ";\n"]
    for r in m.requires:
        cons = f" {r.op} {quote(r.version)}" if r.op is not None and r.version is not None else ""
        out.append(f"requires {r.module}{cons};\n")
    if m.space is not None:
        out.append(f"space {m.space};\n")
    prev_big = True
    for d in m.decls:
        big = isinstance(d, (ast.FnDecl, ast.ObjectDecl))
        if big or prev_big:
            out.append("\n")
        out.append(print_decl(d))
        prev_big = big
    return "".join(out)
