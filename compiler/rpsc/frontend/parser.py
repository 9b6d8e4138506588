"""The `.rps` parser: Lark LALR(1) grammar (rps.lark) + an inline transformer building `rpsc.frontend.ast`.

Entry point: `parse(text, path) -> ast.Module`, raising `rpsc.CompileError` (a `DiagnosticError`) whose
`.diagnostics` lists every syntax and literal error found. No Lark `Tree` or `Token` escapes this module.

Speed: the transformer runs inline (Lark's `transformer=` option with LALR), so no parse tree is built, and
the analysed parse table is cached in `rpsc.cachedir.cache_root()` ($RPSC_CACHE_DIR, ...) under a name keyed by
the grammar's hash, Lark's version and Python's version; an unwritable cache directory only costs the
table construction (about a second) on every start.

Error recovery (through Lark's `on_error`): a missing `;` is inserted (and reported) so that parsing goes on;
another error inside a function body drops the statement being parsed (the LALR stacks are cut back to the
innermost block) and skips the input to that statement's end; any other syntax error stops the parse, which
resumes at the next top-level declaration (a declaration keyword in column 1 or at brace depth 0). So
independent errors in one file are all reported.
"""

from __future__ import annotations

import bisect
import contextvars
import functools
import hashlib
import math
import os
import re
import sys
from copy import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rpsc.frontend import ast
from rpsc.frontend.diagnostics import Diagnostic, raise_if_errors, sort_key

__all__ = ["parse", "parse_file", "grammar_text", "make_lark", "INT_MIN", "INT_MAX", "KEYWORDS"]

INT_MIN = -(2**63)
INT_MAX = 2**63 - 1
#: RefPerSys stores tagged 63-bit integers: the range of ints in `symbol` and `object` values.
VALUE_INT_MIN = -(2**62)
VALUE_INT_MAX = 2**62 - 1
PRIORITY_MIN = -(2**31)
PRIORITY_MAX = 2**31 - 1
#: Most diagnostics reported for one file; the parser stops recovering after that many.
MAX_ERRORS = 50

#: Reserved words (each is a keyword where the grammar allows it; names cannot take these spellings).
KEYWORDS = frozenset({
    "module", "version", "requires", "space", "class", "attribute", "selector", "symbol", "object", "fn",
    "extension_point", "mode", "extend", "priority", "with", "method", "null", "var", "if", "else", "while",
    "for", "in", "break", "continue", "return", "true", "false", "new",
})

_DECL_KEYWORDS = frozenset({"requires", "space", "class", "attribute", "selector", "symbol", "object", "fn",
                            "extension_point", "extend", "method"})


def grammar_text() -> str:
    """The grammar (package data `rpsc/frontend/rps.lark`)."""
    # beside this file in any installed or editable package (no importlib.resources to import, some ms of
    # every start); through importlib.resources where it is not a plain file (a zip)
    try:
        with open(os.path.join(os.path.dirname(__file__), "rps.lark"), encoding="utf-8") as f:
            return f.read()
    except OSError:
        import importlib.resources

        return importlib.resources.files("rpsc.frontend").joinpath("rps.lark").read_text(encoding="utf-8")


# ---------------------------------------------------------------- per-parse state

@dataclass(slots=True)
class _State:
    path: str
    diags: list[Diagnostic] = field(default_factory=list)

    def error(self, message: str, span: ast.Span, hint: str | None = None) -> None:
        self.diags.append(Diagnostic("error", message, span, hint))


# The transformer is shared by the cached Lark instance; the file being parsed and its diagnostics live in
# a context variable set for the duration of one `parse` call (thread- and reentrancy-safe).
_STATE: contextvars.ContextVar[_State] = contextvars.ContextVar("rps_parse_state")


def _tspan(st: _State, t: Any) -> ast.Span:
    return ast.Span(st.path, t.line, t.column, t.end_line, t.end_column)


def _join(st: _State, a: Any, b: Any) -> ast.Span:
    """Span from the start of `a` to the end of `b` (each a token or a span)."""
    if isinstance(a, ast.Span):
        line, col = a.line, a.col
    else:
        line, col = a.line, a.column
    if isinstance(b, ast.Span):
        return ast.Span(st.path, line, col, b.end_line, b.end_col)
    return ast.Span(st.path, line, col, b.end_line, b.end_column)


# ---------------------------------------------------------------- literals

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "'": "'"}
_ESCAPE_RE = re.compile(r"\\(x[0-9A-Fa-f]{2}|u\{[0-9A-Fa-f]{1,6}\}|.)")


def _unescape(st: _State, tok: Any) -> str:
    raw = tok.value[1:-1]
    if "\\" not in raw:
        return str(raw)
    out: list[str] = []
    pos = 0
    for m in _ESCAPE_RE.finditer(raw):
        out.append(raw[pos:m.start()])
        pos = m.end()
        esc = m.group(1)
        if esc in _ESCAPES:
            out.append(_ESCAPES[esc])
        elif esc[0] == "x" and len(esc) == 3:
            out.append(chr(int(esc[1:], 16)))
        elif esc[0] == "u" and len(esc) > 1:
            cp = int(esc[2:-1], 16)
            if cp > 0x10FFFF or 0xD800 <= cp <= 0xDFFF:
                st.error(f"`\\{esc}` is not a Unicode scalar value", _escape_span(st, tok, m))
            else:
                out.append(chr(cp))
        else:
            st.error(f"unknown escape sequence `\\{esc}` in string", _escape_span(st, tok, m),
                     hint=r"the escapes are \n \t \r \0 \\ \" \' \xHH and \u{HHHH}")
    out.append(raw[pos:])
    return "".join(out)


def _escape_span(st: _State, tok: Any, m: re.Match[str]) -> ast.Span:
    col = tok.column + 1 + m.start()
    return ast.Span(st.path, tok.line, col, tok.line, col + len(m.group(0)))


def _int_of(st: _State, tok: Any, negative: bool, lo: int, hi: int, what: str, span: ast.Span) -> int:
    text = tok.value
    try:
        if text[:2] in ("0x", "0X"):
            value = int(text[2:], 16)
        elif text[:2] in ("0b", "0B"):
            value = int(text[2:], 2)
        else:
            if len(text) > 1 and text[0] == "0":
                st.error(f"leading zeros are not allowed in the decimal literal `{text}`", span,
                         hint=f"write `{text.lstrip('0') or '0'}` (or `0x...` for hexadecimal)")
                return 0
            value = int(text)
    except ValueError:
        st.error(f"invalid integer literal `{text}`", span,
                 hint="hexadecimal literals are written 0x1F, binary ones 0b101")
        return 0
    if negative:
        value = -value
    if not lo <= value <= hi:
        st.error(f"integer literal `{'-' if negative else ''}{text}` is out of range for {what}", span,
                 hint=f"{what} ranges from {lo} to {hi}")
        return 0
    return value


def _float_of(st: _State, tok: Any, negative: bool, span: ast.Span) -> float:
    value = float(tok.value)
    if math.isinf(value):
        st.error(f"float literal `{tok.value}` is out of range (it would be infinite)", span,
                 hint="float literals are finite; compute an infinity as 1.0 / 0.0")
        return 0.0
    return -value if negative else value


def _oid_of(st: _State, tok: Any) -> str | None:
    if tok is None:
        return None
    from rpsrt.model.oid import Oid, OidError

    text = tok.value[1:]
    try:
        return str(Oid.parse(text))
    except (OidError, ValueError) as exc:
        st.error(f"invalid object id `{tok.value}`: {exc}", _tspan(st, tok),
                 hint="an object id is `@_` followed by 18 base-62 digits, e.g. @_4pSwobFHGf301Qgwzh")
        return None


# ---------------------------------------------------------------- the transformer

@dataclass(frozen=True, slots=True)
class _ModuleHeader:
    name: str
    version: str | None
    span: ast.Span
    version_span: ast.Span | None = None


@dataclass(frozen=True, slots=True)
class _SpaceItem:
    name: str
    span: ast.Span


class _AstBuilder:
    """Lark callbacks, one per rule or alias (each takes the list of kept children)."""

    # start: module_header _item*
    def start(self, c: list[Any]) -> ast.Module:
        st = _STATE.get()
        header: _ModuleHeader = c[0]
        requires: list[ast.Requires] = []
        decls: list[Any] = []
        space: _SpaceItem | None = None
        for item in c[1:]:
            if isinstance(item, ast.Requires):
                requires.append(item)
            elif isinstance(item, _SpaceItem):
                if space is not None:
                    st.diags.append(Diagnostic("error", "the module's space is given twice", item.span,
                                               notes=(_note("first given here", space.span),)))
                space = item
            else:
                decls.append(item)
        end = c[-1].span if len(c) > 1 else header.span
        return ast.Module(header.name, header.version, tuple(requires), space.name if space else None,
                          tuple(decls), _join(st, header.span, end), version_span=header.version_span)

    def decl_only(self, c: list[Any]) -> Any:
        return c[0]

    # module_header: MODULE NAME [VERSION STRING] _SEMI
    def module_header(self, c: list[Any]) -> _ModuleHeader:
        st = _STATE.get()
        version = _unescape(st, c[3]) if c[3] is not None else None  # its form is the checker's
        return _ModuleHeader(c[1].value, version, _join(st, c[0], c[1]),
                             _tspan(st, c[3]) if c[3] is not None else None)

    # requires: REQUIRES NAME [version_op STRING] _SEMI
    def requires(self, c: list[Any]) -> ast.Requires:
        st = _STATE.get()
        op = c[2].value if c[2] is not None else None
        version = _unescape(st, c[3]) if c[3] is not None else None  # its form is the checker's
        return ast.Requires(c[1].value, op, version, _join(st, c[1], c[3] if c[3] is not None else c[1]),
                            version_span=_tspan(st, c[3]) if c[3] is not None else None)

    def version_op(self, c: list[Any]) -> Any:
        return c[0]

    def space_decl(self, c: list[Any]) -> _SpaceItem:
        st = _STATE.get()
        return _SpaceItem(c[1].value, _join(st, c[0], c[1]))

    # class_decl: CLASS NAME [OID] [_COLON NAME] _SEMI
    def class_decl(self, c: list[Any]) -> ast.ClassDecl:
        st = _STATE.get()
        sup = c[3]
        return ast.ClassDecl(c[1].value, sup.value if sup is not None else None, _oid_of(st, c[2]),
                             _tspan(st, c[1]), superclass_span=_tspan(st, sup) if sup is not None else None)

    # attribute_decl: ATTRIBUTE NAME [OID] [_COLON NAME] _SEMI
    def attribute_decl(self, c: list[Any]) -> ast.AttributeDecl:
        st = _STATE.get()
        t = c[3]
        return ast.AttributeDecl(c[1].value, _oid_of(st, c[2]), _tspan(st, c[1]),
                                 type=t.value if t is not None else None)

    # selector_decl: SELECTOR NAME [OID] [sel_sig] _SEMI
    def selector_decl(self, c: list[Any]) -> ast.SelectorDecl:
        st = _STATE.get()
        sig = c[3]
        if sig is None:
            return ast.SelectorDecl(c[1].value, _oid_of(st, c[2]), _tspan(st, c[1]))
        params, ret = sig
        return ast.SelectorDecl(c[1].value, _oid_of(st, c[2]), _tspan(st, c[1]), params=params, ret=ret)

    # sel_sig: _LPAR _params? RPAR [_ARROW NAME]
    def sel_sig(self, c: list[Any]) -> tuple[tuple[ast.Param, ...], str]:
        ret = c[-1]
        return tuple(c[:-2]), ret.value if ret is not None else "void"

    # symbol_decl: SYMBOL NAME [OID] [_ASSIGN value] _SEMI
    def symbol_decl(self, c: list[Any]) -> ast.SymbolDecl:
        st = _STATE.get()
        return ast.SymbolDecl(c[1].value, c[3], _oid_of(st, c[2]), _tspan(st, c[1]))

    # object_decl: OBJECT NAME [OID] [_COLON NAME] LBRACE field_init* RBRACE
    def object_decl(self, c: list[Any]) -> ast.ObjectDecl:
        st = _STATE.get()
        fields: list[ast.FieldInit] = []
        comps: tuple[Any, ...] | None = None
        comps_written: list[ast.FieldInit] = []
        for f in c[5:-1]:
            if f.attr == "comps":  # given once, as a list: the checker's rule
                comps_written.append(f)
                if isinstance(f.value, ast.TupleValue):
                    comps = f.value.items
            else:
                fields.append(f)
        cls = c[3]
        return ast.ObjectDecl(c[1].value, cls.value if cls is not None else None, tuple(fields), comps,
                              _oid_of(st, c[2]), _tspan(st, c[1]),
                              cls_span=_tspan(st, cls) if cls is not None else None,
                              comps_written=tuple(comps_written))

    def field_init(self, c: list[Any]) -> ast.FieldInit:
        st = _STATE.get()
        return ast.FieldInit(c[0].value, c[1], _tspan(st, c[0]))

    # fn_decl: FN NAME [OID] _LPAR _params? RPAR [_ARROW NAME] block
    def fn_decl(self, c: list[Any]) -> ast.FnDecl:
        st = _STATE.get()
        ret = c[-2]
        return ast.FnDecl(c[1].value, tuple(c[3:-3]), ret.value if ret is not None else "void", c[-1],
                          _oid_of(st, c[2]), _tspan(st, c[1]),
                          ret_span=_tspan(st, ret) if ret is not None else None)

    # extension_point_decl: EXTENSION_POINT NAME [OID] _LPAR _params? RPAR [_ARROW NAME] MODE NAME _SEMI
    def extension_point_decl(self, c: list[Any]) -> ast.ExtensionPointDecl:
        st = _STATE.get()
        ret = c[-3]
        mode = c[-1]
        if mode.value not in ("first", "all"):
            st.error(f"unknown extension point mode `{mode.value}`", _tspan(st, mode),
                     hint="the mode is `first` (the first implementation's result) or `all`")
        return ast.ExtensionPointDecl(c[1].value, tuple(c[3:-4]), ret.value if ret is not None else "void",
                                      mode.value, _oid_of(st, c[2]), _tspan(st, c[1]),
                                      ret_span=_tspan(st, ret) if ret is not None else None)

    def param(self, c: list[Any]) -> ast.Param:
        st = _STATE.get()
        return ast.Param(c[0].value, c[1].value, _join(st, c[0], c[1]))

    # extend_decl: EXTEND NAME [PRIORITY priority] WITH NAME _SEMI
    def extend_decl(self, c: list[Any]) -> ast.ExtendDecl:
        st = _STATE.get()
        prio = 0
        for x in c:
            if isinstance(x, int):
                prio = x
        return ast.ExtendDecl(c[1].value, prio, c[-1].value, _join(st, c[0], c[-1]),
                              point_span=_tspan(st, c[1]), function_span=_tspan(st, c[-1]))

    def priority(self, c: list[Any]) -> int:
        st = _STATE.get()
        neg = len(c) == 2
        return _int_of(st, c[-1], neg, PRIORITY_MIN, PRIORITY_MAX, "a priority (32-bit signed)",
                       _join(st, c[0], c[-1]))

    # method_decl: METHOD NAME _DOT NAME _ASSIGN NAME _SEMI
    def method_decl(self, c: list[Any]) -> ast.MethodDecl:
        st = _STATE.get()
        return ast.MethodDecl(c[1].value, c[2].value, c[3].value, _join(st, c[0], c[3]),
                              cls_span=_tspan(st, c[1]), selector_span=_tspan(st, c[2]),
                              function_span=_tspan(st, c[3]))

    # ------------------------------------------------------------ values

    def int_value(self, c: list[Any]) -> ast.IntValue:
        st = _STATE.get()
        sp = _tspan(st, c[0])
        return ast.IntValue(_int_of(st, c[0], False, VALUE_INT_MIN, VALUE_INT_MAX, "a stored int (63-bit)", sp),
                            sp)

    def neg_int_value(self, c: list[Any]) -> ast.IntValue:
        st = _STATE.get()
        sp = _join(st, c[0], c[1])
        return ast.IntValue(_int_of(st, c[1], True, VALUE_INT_MIN, VALUE_INT_MAX, "a stored int (63-bit)", sp),
                            sp)

    def float_value(self, c: list[Any]) -> ast.FloatValue:
        st = _STATE.get()
        sp = _tspan(st, c[0])
        return ast.FloatValue(_float_of(st, c[0], False, sp), sp)

    def neg_float_value(self, c: list[Any]) -> ast.FloatValue:
        st = _STATE.get()
        sp = _join(st, c[0], c[1])
        return ast.FloatValue(_float_of(st, c[1], True, sp), sp)

    def string_value(self, c: list[Any]) -> ast.StringValue:
        st = _STATE.get()
        return ast.StringValue(_unescape(st, c[0]), _tspan(st, c[0]))

    def null_value(self, c: list[Any]) -> ast.NullValue:
        return ast.NullValue(_tspan(_STATE.get(), c[0]))

    def name_value(self, c: list[Any]) -> ast.NameValue:
        return ast.NameValue(c[0].value, _tspan(_STATE.get(), c[0]))

    def set_value(self, c: list[Any]) -> ast.SetValue:
        st = _STATE.get()
        return ast.SetValue(tuple(ast.NameValue(t.value, _tspan(st, t)) for t in c[1:-1]),
                            _join(st, c[0], c[-1]))

    def tuple_value(self, c: list[Any]) -> ast.TupleValue:
        st = _STATE.get()
        return ast.TupleValue(tuple(c[1:-1]), _join(st, c[0], c[-1]))

    # ------------------------------------------------------------ statements

    # block: LBRACE _stmt* RBRACE
    def block(self, c: list[Any]) -> ast.Block:
        st = _STATE.get()
        return ast.Block(tuple(c[1:-1]), _join(st, c[0], c[-1]))

    # var_stmt: VAR NAME _COLON NAME _ASSIGN expr _SEMI
    def var_typed(self, c: list[Any]) -> ast.VarStmt:
        st = _STATE.get()
        return ast.VarStmt(c[1].value, c[2].value, c[3], _join(st, c[0], c[3].span))

    # var_stmt: VAR NAME _ASSIGN expr _SEMI
    def var_untyped(self, c: list[Any]) -> ast.VarStmt:
        st = _STATE.get()
        return ast.VarStmt(c[1].value, None, c[2], _join(st, c[0], c[2].span))

    # assign_stmt: NAME _ASSIGN expr _SEMI
    def assign_stmt(self, c: list[Any]) -> ast.AssignStmt:
        st = _STATE.get()
        return ast.AssignStmt(c[0].value, c[1], _join(st, c[0], c[1].span))

    # if_stmt: IF expr block [ELSE (block | if_stmt)]
    def if_stmt(self, c: list[Any]) -> ast.IfStmt:
        st = _STATE.get()
        orelse = c[4] if len(c) == 5 else None
        return ast.IfStmt(c[1], c[2], orelse, _join(st, c[0], (orelse or c[2]).span))

    def while_stmt(self, c: list[Any]) -> ast.WhileStmt:
        st = _STATE.get()
        return ast.WhileStmt(c[1], c[2], _join(st, c[0], c[2].span))

    # for_stmt: FOR NAME IN expr _DOTDOT expr block
    def for_stmt(self, c: list[Any]) -> ast.ForStmt:
        st = _STATE.get()
        return ast.ForStmt(c[1].value, c[3], c[4], c[5], _join(st, c[0], c[5].span))

    # postfix _DOT NAME _ASSIGN expr _SEMI
    def set_attr_stmt(self, c: list[Any]) -> ast.SetAttrStmt:
        st = _STATE.get()
        return ast.SetAttrStmt(c[0], c[1].value, c[2], _join(st, c[0].span, c[2].span))

    # postfix LSQB expr RSQB _ASSIGN expr _SEMI
    def set_index_stmt(self, c: list[Any]) -> ast.SetIndexStmt:
        st = _STATE.get()
        return ast.SetIndexStmt(c[0], c[2], c[4], _join(st, c[0].span, c[4].span))

    def break_stmt(self, c: list[Any]) -> ast.BreakStmt:
        return ast.BreakStmt(_tspan(_STATE.get(), c[0]))

    def continue_stmt(self, c: list[Any]) -> ast.ContinueStmt:
        return ast.ContinueStmt(_tspan(_STATE.get(), c[0]))

    def return_stmt(self, c: list[Any]) -> ast.ReturnStmt:
        st = _STATE.get()
        if len(c) == 2:
            return ast.ReturnStmt(c[1], _join(st, c[0], c[1].span))
        return ast.ReturnStmt(None, _tspan(st, c[0]))

    def expr_stmt(self, c: list[Any]) -> ast.ExprStmt:
        return ast.ExprStmt(c[0], c[0].span)

    # ------------------------------------------------------------ expressions

    def binary(self, c: list[Any]) -> ast.Binary:
        left, op, right = c
        ls, rs = left.span, right.span
        return ast.Binary(op.value, left, right,
                          ast.Span(ls.file, ls.line, ls.col, rs.end_line, rs.end_col))

    def unary(self, c: list[Any]) -> ast.Unary:
        st = _STATE.get()
        return ast.Unary(c[0].value, c[1], _join(st, c[0], c[1].span))

    def neg_int(self, c: list[Any]) -> ast.IntLit:
        st = _STATE.get()
        sp = _join(st, c[0], c[1])
        return ast.IntLit(_int_of(st, c[1], True, INT_MIN, INT_MAX, "`int` (64-bit signed)", sp), sp)

    def int_lit(self, c: list[Any]) -> ast.IntLit:
        st = _STATE.get()
        t = c[0]
        sp = ast.Span(st.path, t.line, t.column, t.end_line, t.end_column)
        text = t.value
        if text.isdigit() and (len(text) < 19 and text[0] != "0" or text == "0"):
            return ast.IntLit(int(text), sp)
        return ast.IntLit(_int_of(st, t, False, INT_MIN, INT_MAX, "`int` (64-bit signed)", sp), sp)

    def float_lit(self, c: list[Any]) -> ast.FloatLit:
        st = _STATE.get()
        sp = _tspan(st, c[0])
        return ast.FloatLit(_float_of(st, c[0], False, sp), sp)

    def neg_float(self, c: list[Any]) -> ast.FloatLit:
        st = _STATE.get()
        sp = _join(st, c[0], c[1])
        return ast.FloatLit(_float_of(st, c[1], True, sp), sp)

    def true_lit(self, c: list[Any]) -> ast.BoolLit:
        return ast.BoolLit(True, _tspan(_STATE.get(), c[0]))

    def false_lit(self, c: list[Any]) -> ast.BoolLit:
        return ast.BoolLit(False, _tspan(_STATE.get(), c[0]))

    def name(self, c: list[Any]) -> ast.Name:
        t = c[0]
        return ast.Name(t.value, ast.Span(_STATE.get().path, t.line, t.column, t.end_line, t.end_column))

    # call: NAME _LPAR (expr (_COMMA expr)*)? RPAR
    def call(self, c: list[Any]) -> ast.Call:
        st = _STATE.get()
        return ast.Call(c[0].value, tuple(c[1:-1]), _join(st, c[0], c[-1]))

    def paren(self, c: list[Any]) -> Any:
        return c[0]

    def str_lit(self, c: list[Any]) -> ast.StrLit:
        st = _STATE.get()
        return ast.StrLit(_unescape(st, c[0]), _tspan(st, c[0]))

    def null_lit(self, c: list[Any]) -> ast.NullLit:
        return ast.NullLit(_tspan(_STATE.get(), c[0]))

    def oid_lit(self, c: list[Any]) -> ast.OidLit:
        st = _STATE.get()
        return ast.OidLit(_oid_of(st, c[0]) or "_0000000000000000000", _tspan(st, c[0]))

    # postfix _DOT NAME
    def get_attr(self, c: list[Any]) -> ast.GetAttr:
        st = _STATE.get()
        return ast.GetAttr(c[0], c[1].value, _join(st, c[0].span, c[1]))

    # postfix LSQB expr RSQB
    def index(self, c: list[Any]) -> ast.Index:
        st = _STATE.get()
        return ast.Index(c[0], c[2], _join(st, c[0].span, c[3]))

    # send: postfix _DOT NAME _LPAR (expr (_COMMA expr)*)? RPAR
    def send(self, c: list[Any]) -> ast.Send:
        st = _STATE.get()
        return ast.Send(c[0], c[1].value, tuple(c[2:-1]), _join(st, c[0].span, c[-1]))

    # new_expr: NEW NAME LBRACE (new_field ...)? RBRACE
    def new_expr(self, c: list[Any]) -> ast.New:
        st = _STATE.get()
        return ast.New(c[1].value, None, tuple(c[3:-1]), _join(st, c[0], c[-1]))

    # NEW _LPAR expr RPAR LBRACE (new_field ...)? RBRACE
    def new_dyn(self, c: list[Any]) -> ast.New:
        st = _STATE.get()
        return ast.New(None, c[1], tuple(c[4:-1]), _join(st, c[0], c[-1]))

    def new_field(self, c: list[Any]) -> ast.NewField:
        st = _STATE.get()
        return ast.NewField(c[0].value, c[1], _join(st, c[0], c[1].span))


def _note(message: str, span: ast.Span | None) -> Any:
    from rpsc.frontend.diagnostics import Note

    return Note(message, span)


# ---------------------------------------------------------------- building (and caching) the Lark parser

def _cache_dir() -> Path | None:
    from rpsc.cachedir import cache_root

    d = cache_root()
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return d if os.access(d, os.W_OK | os.X_OK) else None


def make_lark(*, transformer: Any = None, propagate_positions: bool = True, cache: bool = True) -> Any:
    """A Lark LALR parser for the grammar (start symbols `start` and `decl_only`).

    With `cache`, the analysed tables are stored in `rpsc.cachedir.cache_root()` keyed by the grammar's hash,
    Lark's version and Python's version; the file is written atomically (temp file + rename) and any
    failure falls back to building the tables in memory.
    """
    import lark

    text = grammar_text()
    opts: dict[str, Any] = dict(parser="lalr", lexer="contextual", start=["start", "decl_only"],
                                propagate_positions=propagate_positions, maybe_placeholders=True,
                                transformer=transformer)
    cache_dir = _cache_dir() if cache else None
    if cache_dir is None:
        return lark.Lark(text, **opts)
    shape = sorted((k, v) for k, v in opts.items() if k != "transformer")
    key = hashlib.sha256(f"{text}\0{shape}\0{lark.__version__}".encode()).hexdigest()[:24]
    tag = f"rps-{key}-lark{lark.__version__}-py{sys.version_info[0]}{sys.version_info[1]}"
    final = cache_dir / f"{tag}.lark-cache"
    if final.is_file():
        try:
            return lark.Lark(text, cache=str(final), **opts)
        except Exception:  # a corrupt cache file: rebuild below
            pass
    import tempfile

    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{tag}.", dir=cache_dir)
        os.close(fd)
        os.unlink(tmp)  # Lark must not find (and try to load) an empty file
    except OSError:
        return lark.Lark(text, **opts)
    try:
        parser = lark.Lark(text, cache=tmp, **opts)
        if os.path.isfile(tmp):
            os.replace(tmp, final)
        return parser
    finally:
        try:
            os.unlink(tmp)
        except OSError:
            pass


@functools.lru_cache(maxsize=1)
def _lark() -> Any:
    return make_lark(transformer=_AstBuilder())


# ---------------------------------------------------------------- syntax errors

_TERMINAL_TEXT = {
    "_SEMI": "`;`", "_COMMA": "`,`", "_COLON": "`:`", "_ASSIGN": "`=`", "_DOT": "`.`", "_DOTDOT": "`..`",
    "_ARROW": "`->`", "_LPAR": "`(`", "RPAR": "`)`", "LBRACE": "`{`", "RBRACE": "`}`", "LSQB": "`[`",
    "RSQB": "`]`", "NAME": "a name", "INT": "an integer", "FLOAT": "a float", "STRING": "a string",
    "OID": "an object id", "$END": "end of file",
}
_EXPR_START = {"NAME", "INT", "FLOAT", "TRUE", "FALSE", "MINUS", "BANG", "TILDE", "_LPAR", "STRING", "NULL", "OID", "NEW"}
_STMT_START = {"VAR", "IF", "WHILE", "FOR", "BREAK", "CONTINUE", "RETURN"}
_DECL_START = {"REQUIRES", "SPACE", "CLASS", "ATTRIBUTE", "SELECTOR", "SYMBOL", "OBJECT", "FN",
               "EXTENSION_POINT", "EXTEND", "METHOD"}
_VALUE_START = {"INT", "FLOAT", "STRING", "NULL", "NAME", "MINUS", "LBRACE", "LSQB"}
_BINOPS = {"OROR", "ANDAND", "BAR", "CARET", "AMP", "EQ", "NE", "LT", "LE", "GT", "GE", "SHL", "SHR", "PLUS",
           "MINUS", "STAR", "SLASH", "PERCENT"}
_OP_TEXT = {"OROR": "||", "ANDAND": "&&", "BAR": "|", "CARET": "^", "AMP": "&", "EQ": "==", "NE": "!=",
            "LT": "<", "LE": "<=", "GT": ">", "GE": ">=", "SHL": "<<", "SHR": ">>", "PLUS": "+", "MINUS": "-",
            "STAR": "*", "SLASH": "/", "PERCENT": "%", "BANG": "!", "TILDE": "~"}


def _terminal_text(name: str) -> str:
    if name in _TERMINAL_TEXT:
        return _TERMINAL_TEXT[name]
    if name in _OP_TEXT:
        return f"`{_OP_TEXT[name]}`"
    if name.isupper() and name.lower() in KEYWORDS:
        return f"`{name.lower()}`"
    return name.lower()


def _expected_text(expected: set[str]) -> str:
    exp = set(expected)
    parts: list[str] = []
    if _DECL_START <= exp:
        parts.append("a declaration")
        exp -= _DECL_START
    if _STMT_START <= exp:
        parts.append("a statement")
        exp -= _STMT_START | _EXPR_START
    if {"NAME", "INT", "FLOAT", "TRUE"} <= exp:
        parts.append("an expression")
        exp -= _EXPR_START
    if {"INT", "STRING", "NULL", "LSQB"} <= exp:
        parts.append("a value")
        exp -= _VALUE_START
    version_ops = {"GE", "GT", "LE", "LT", "EQ", "CARET", "TILDE"}
    if version_ops <= exp and not exp & {"PLUS", "STAR"}:
        parts.append('a version constraint like `>= "1.0"`')
        exp -= version_ops
    if len(exp & _BINOPS) >= 8:
        parts.append("an operator")
        exp -= _BINOPS
    # Keep the hint readable: the most useful punctuation first.
    order = ["_SEMI", "RPAR", "RBRACE", "RSQB", "_COMMA", "LBRACE", "_ASSIGN", "_COLON", "_ARROW", "_DOTDOT"]
    rest = sorted(exp, key=lambda n: (order.index(n) if n in order else len(order), n))
    parts.extend(_terminal_text(n) for n in rest)
    if len(parts) > 6:
        parts = parts[:6] + ["..."]
    if len(parts) == 1:
        return parts[0]
    return "one of " + ", ".join(parts)


def _found_text(tok: Any) -> str:
    if tok.type == "$END":
        return "end of file"
    if tok.type == "STRING":
        return "a string"
    if tok.type in ("INT", "FLOAT"):
        return f"`{tok.value}`"
    if tok.value.lower() in KEYWORDS and tok.type != "NAME":
        return f"keyword `{tok.value}`"
    return f"`{tok.value}`"


class _Scan:
    """A rough scan of the source (tokens, comments skipped) used to place carets and find resync points."""

    _RE = re.compile(r'\s+|//[^\n]*|/\*[\s\S]*?(?:\*/|\Z)|"(?:[^"\\\n]|\\.)*"?|[A-Za-z0-9_@]+|\.\.|.',
                     re.DOTALL)

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts: list[int] = []
        self.ends: list[int] = []
        for m in self._RE.finditer(text):
            s = m.group(0)
            if s[0].isspace() or s.startswith("//") or s.startswith("/*"):
                continue
            self.starts.append(m.start())
            self.ends.append(m.end())
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line_col(self, offset: int) -> tuple[int, int]:
        i = bisect.bisect_right(self.line_starts, offset) - 1
        return i + 1, offset - self.line_starts[i] + 1

    def prev_end(self, offset: int) -> int | None:
        """End offset of the last token that ends at or before `offset`."""
        i = bisect.bisect_right(self.ends, offset) - 1
        return self.ends[i] if i >= 0 else None

    def decl_starts(self) -> list[int]:
        """Offsets of likely top-level declaration keywords (column 1, or brace depth 0)."""
        out: list[int] = []
        depth = 0
        for s, e in zip(self.starts, self.ends, strict=True):
            word = self.text[s:e]
            if word == "{":
                depth += 1
            elif word == "}":
                depth = max(depth - 1, 0)
            elif word in _DECL_KEYWORDS:
                at_col1 = s == 0 or self.text[s - 1] == "\n"
                if at_col1 or depth == 0:
                    out.append(s)
                    depth = 0
        return out

    def unmatched_open(self, offset: int) -> int | None:
        """Offset of the innermost `{` still open at `offset`."""
        stack: list[int] = []
        for s, e in zip(self.starts, self.ends, strict=True):
            if s >= offset:
                break
            w = self.text[s:e]
            if w == "{":
                stack.append(s)
            elif w == "}" and stack:
                stack.pop()
        return stack[-1] if stack else None


@dataclass(slots=True)
class _Recovery:
    """Per-parse syntax error handling: `;` insertion through Lark's `on_error`, and diagnostics."""

    st: _State
    text: str
    scan_: _Scan | None = None
    suppress_cascade: bool = False
    quiet_semicolon: bool = False
    bad_char_line: int = 0

    @property
    def scan(self) -> _Scan:
        if self.scan_ is None:
            self.scan_ = _Scan(self.text)
        return self.scan_

    def span_at(self, offset: int, end: int | None = None) -> ast.Span:
        line, col = self.scan.line_col(offset)
        eline, ecol = self.scan.line_col(end if end is not None else offset + 1)
        return ast.Span(self.st.path, line, col, eline, ecol)

    def too_many(self) -> bool:
        return len(self.st.diags) >= MAX_ERRORS

    def on_error(self, e: Any) -> bool:
        from lark.exceptions import UnexpectedCharacters, UnexpectedToken

        if self.too_many():
            return False
        if isinstance(e, UnexpectedCharacters):
            self.char_error(e)
            return True
        if isinstance(e, UnexpectedToken) and "_SEMI" in _expected_of(e) and self._insert_semicolon(e):
            return True
        if isinstance(e, UnexpectedToken) and e.token.type != "$END" and self._skip_statement(e):
            return True
        return False

    def _skip_statement(self, e: Any) -> bool:
        """Panic mode inside a function body: report the error, drop the statement being parsed (back to the
        innermost enclosing block) and skip the input to the end of that statement (`;`, or a `}` closing a
        nested block that is not followed by `else`), then let Lark resume."""
        ip = e.interactive_parser
        ps = ip.parser_state
        states = ps.parse_conf.parse_table.states
        k = None
        for i in range(len(ps.state_stack) - 1, -1, -1):
            acts = states[ps.state_stack[i]]
            if "VAR" in acts and "RBRACE" in acts:
                k = i
                break
        if k is None:
            return False
        self.token_error(e)
        del ps.state_stack[k + 1:]
        del ps.value_stack[k:]
        tok = e.token
        if tok.type == "RBRACE":
            ip.feed_token(tok)  # it closes the block we are back in
            return True
        if tok.type == "_SEMI":
            return True
        line_ctr = ip.lexer_thread.state.line_ctr
        p = line_ctr.char_pos
        sync = self._statement_end(p, 1 if tok.type == "LBRACE" else 0)
        if sync > p:
            line_ctr.feed(self.text[p:sync])
        return True

    def _statement_end(self, p: int, depth: int) -> int:
        scan = self.scan
        i = bisect.bisect_left(scan.starts, p)
        n = len(scan.starts)
        while i < n:
            s, e = scan.starts[i], scan.ends[i]
            w = self.text[s:e]
            if w == "{":
                depth += 1
            elif w == "}":
                if depth == 0:
                    return s  # the enclosing block's end: leave it to the parser
                depth -= 1
                if depth == 0:
                    nxt = self.text[scan.starts[i + 1]:scan.ends[i + 1]] if i + 1 < n else ""
                    if nxt != "else":
                        return e
            elif w == ";" and depth == 0:
                return e
            i += 1
        return len(self.text)

    def char_error(self, e: Any) -> None:
        p = e.pos_in_stream
        ch = self.text[p] if p < len(self.text) else ""
        line_ctr = e.interactive_parser.lexer_thread.state.line_ctr if e.interactive_parser else None
        if ch == '"':
            eol = self.text.find("\n", p)
            eol = len(self.text) if eol < 0 else eol
            self.st.error("unterminated string literal", self.span_at(p, eol),
                          hint='close the string with `"` on the same line (write a newline as \\n)')
            skip = eol - p
            self.suppress_cascade = True
            self._feed_closed_string(e, p, eol)
        elif self.text.startswith("/*", p):
            self.st.error("unterminated block comment", self.span_at(p, p + 2), hint="close it with `*/`")
            skip = len(self.text) - p
            self.suppress_cascade = True
        elif ch == "@":
            self.st.error("`@` must start an object id like `@_4pSwobFHGf301Qgwzh`", self.span_at(p))
            skip = 1
        else:
            shown = ch if ch.isprintable() else f"U+{ord(ch):04X}"
            span = self.span_at(p)
            self.st.error(f"unexpected character `{shown}`", span)
            self.bad_char_line = span.line
            skip = 1
        if line_ctr is not None and skip > 1:
            line_ctr.feed(self.text[p:p + skip])

    def _feed_closed_string(self, e: Any, p: int, eol: int) -> None:
        """Recover from an unterminated string as if it were closed at the end of its line."""
        from lark import Token
        from lark.exceptions import UnexpectedInput

        ip = e.interactive_parser
        if ip is None or "STRING" not in ip.choices():
            return
        line, col = self.scan.line_col(p)
        raw = self.text[p + 1:eol].replace("\\", "\\\\")
        tok = Token("STRING", f'"{raw}"', p, line, col, line, col + (eol - p), eol)
        try:
            ip.feed_token(tok)
        except UnexpectedInput:
            return
        self.quiet_semicolon = True  # its `;` was probably inside the string

    def _insert_semicolon(self, e: Any) -> bool:
        from lark import Token
        from lark.exceptions import UnexpectedToken

        ip = e.interactive_parser
        semi = Token("_SEMI", ";")
        trial = ip.copy(deepcopy_values=False)
        conf = copy(trial.parser_state.parse_conf)
        conf.callbacks = {}
        trial.parser_state.parse_conf = conf
        try:
            trial.feed_token(semi)
            if e.token.type != "$END":
                trial.feed_token(e.token)
        except UnexpectedToken:
            return False
        start = getattr(e.token, "start_pos", None)
        if start is None or e.token.type == "$END":
            start = len(self.text)
        prev = self.scan.prev_end(start)
        where = prev if prev is not None else start
        if self.quiet_semicolon:
            self.quiet_semicolon = False
        else:
            self.st.error(f"expected `;`, found {_found_text(e.token)}", self.span_at(where, where + 1),
                          hint="add `;` here")
        ip.feed_token(semi)
        if e.token.type != "$END":
            ip.feed_token(e.token)
        return True

    def token_error(self, e: Any) -> None:
        tok = e.token
        expected = _expected_of(e)
        if self.suppress_cascade and tok.type == "$END":
            return
        if tok.type == "$END":
            where = len(self.text)
            line, col = self.scan.line_col(where)
            span = ast.Span(self.st.path, line, col, line, col + 1)
            if "RBRACE" in expected:
                opened = self.scan.unmatched_open(where)
                notes = (_note("to match this `{`", self.span_at(opened)),) if opened is not None else ()
                self.st.diags.append(Diagnostic("error", "expected `}` before the end of the file", span,
                                                notes=notes))
                return
            self.st.error(f"expected {_expected_text(expected)}, found end of file", span)
            return
        span = ast.Span(self.st.path, tok.line, tok.column, tok.end_line, tok.end_column)
        if tok.line == self.bad_char_line or (self.quiet_semicolon and self.suppress_cascade):
            return  # most likely a consequence of the character (or string) just reported
        hint = None
        if tok.type == "SLASH" and self.text.startswith("/*", tok.start_pos):
            self.st.error("unterminated block comment", ast.Span(self.st.path, tok.line, tok.column, tok.line,
                                                                 tok.column + 2), hint="close it with `*/`")
            return
        if tok.type != "MODULE" and expected == {"MODULE"}:
            self.st.error(f"expected `module`, found {_found_text(tok)}", span,
                          hint="a file starts with `module NAME;` (optionally `version \"1.0.0\"`)")
            return
        if "NAME" in expected and tok.type != "NAME" and tok.value in KEYWORDS:
            message = f"expected a name, found keyword `{tok.value}`"
            hint = f"`{tok.value}` is a reserved word; pick another name"
        elif tok.type == "_ASSIGN" and ("EQ" in expected or "RPAR" in expected or "LBRACE" in expected):
            message = "unexpected `=` in an expression"
            hint = "compare with `==`; an assignment `x = e;` is a statement"
        elif "_SEMI" in expected and _STMT_START <= expected:
            message = f"expected a statement, found {_found_text(tok)}"
        elif tok.type in _BINOPS and expected <= {"_ASSIGN", "_LPAR", "LSQB", "_DOT"}:
            # a name at the start of a statement: v1's message (`[` and `.` also continue it in version 2)
            message = f"expected {_expected_text(expected & {'_ASSIGN', '_LPAR'})}, found {_found_text(tok)}"
            hint = "only assignments and calls can be used as statements"
        else:
            message = f"expected {_expected_text(expected)}, found {_found_text(tok)}"
        self.st.error(message, span, hint=hint)

    def any_error(self, e: Any) -> int:
        """Record a diagnostic for a Lark exception that stopped the parse; return its offset."""
        from lark.exceptions import UnexpectedCharacters, UnexpectedToken

        if isinstance(e, UnexpectedToken):
            self.token_error(e)
            start = e.token.start_pos
            return int(start) if e.token.type != "$END" and start is not None else len(self.text)
        if isinstance(e, UnexpectedCharacters):
            self.char_error(e)
            return int(e.pos_in_stream or 0)
        line = getattr(e, "line", 1) or 1
        col = getattr(e, "column", 1) or 1
        self.st.error("syntax error", ast.Span(self.st.path, line, col, line, col + 1))
        return len(self.text)


def _expected_of(e: Any) -> set[str]:
    """The terminals the parser could take where it failed (Lark's `expected` omits keywords)."""
    ip = getattr(e, "interactive_parser", None)
    if ip is None:
        return set(getattr(e, "expected", ()) or ())
    # accepts() simulates each terminal through the pending reductions: exact, unlike the LALR state's choices.
    accepted = {k for k in ip.accepts() if k.isupper()}
    return accepted or {k for k in ip.choices() if k.isupper()}


def _parse_with_recovery(lk: Any, text: str, start: str, rec: _Recovery) -> Any:
    """Run Lark; return the result or None after recording why it failed; return the failure offset too."""
    from lark.exceptions import UnexpectedInput

    try:
        return lk.parse(text, start=start, on_error=rec.on_error), None
    except UnexpectedInput as e:
        if rec.too_many():
            return None, len(text)
        return None, rec.any_error(e)


# ---------------------------------------------------------------- entry points

def parse(text: str, path: str) -> ast.Module:
    """Parse one `.rps` module; raise `CompileError` listing every syntax and literal error found."""
    if not isinstance(text, str):
        raise TypeError("parse() takes the source text as str")
    if text.startswith("\ufeff"):  # a UTF-8 byte order mark: blank it out, keeping every column
        text = " " + text[1:]
    st = _State(path)
    token = _STATE.set(st)
    try:
        lk = _lark()
        rec = _Recovery(st, text)
        module, failed_at = _parse_with_recovery(lk, text, "start", rec)
        if failed_at is not None:
            _resync(lk, text, failed_at, rec)
    finally:
        _STATE.reset(token)
    raise_if_errors(st.diags)
    if module is None:  # pragma: no cover - a failed parse always records a diagnostic
        raise_if_errors([Diagnostic("error", "syntax error", ast.Span(path, 1, 1, 1, 2))])
    return module  # type: ignore[no-any-return]


def _resync(lk: Any, text: str, failed_at: int, rec: _Recovery) -> None:
    """Parse the top-level declarations after a syntax error one by one, to report their errors too."""
    starts = [s for s in rec.scan.decl_starts() if s > failed_at]
    for i, s in enumerate(starts):
        if rec.too_many():
            break
        e = starts[i + 1] if i + 1 < len(starts) else len(text)
        line, col = rec.scan.line_col(s)
        # Pad the chunk so that Lark's line and column counters give the true positions.
        chunk = "\n" * (line - 1) + " " * (col - 1) + text[s:e]
        sub = _Recovery(rec.st, chunk, None)
        _parse_with_recovery(lk, chunk, "decl_only", sub)


def read_source(path: str | os.PathLike[str]) -> str:
    """Read a source file as UTF-8; a file that cannot be read or decoded is a CompileError."""
    p = str(path)
    try:
        with open(p, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise_if_errors([Diagnostic("error", f"cannot read the file: {exc.strerror or exc}",
                                    ast.Span(p, 1, 1, 1, 1))])
        raise  # pragma: no cover
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        col = exc.start - (before.rfind(b"\n") + 1) + 1
        raise_if_errors([Diagnostic("error", "the file is not valid UTF-8", ast.Span(p, line, col, line, col + 1))])
        raise  # pragma: no cover


def parse_file(path: str | os.PathLike[str]) -> ast.Module:
    """Read and parse a file (UTF-8); a file that cannot be read or decoded is a CompileError too."""
    return parse(read_source(path), str(path))


_ = sort_key  # re-exported helper, kept for callers sorting diagnostics
