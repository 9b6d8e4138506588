"""The `.rps` abstract syntax tree: frozen, slotted dataclasses, each carrying its source span.

Spans never take part in equality (`compare=False`), so an AST printed and parsed again compares equal.
Type names are the strings "int", "float", "bool" and "void". Operators are their source spelling.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Span:
    """A source range: 1-based line and column of the first character, and of the end (exclusive)."""

    file: str
    line: int
    col: int
    end_line: int = 0
    end_col: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


def _span() -> Span | None:
    return field(default=None, compare=False, repr=False)  # type: ignore[return-value]


def _ref_span() -> Span | None:
    """The span of a name a declaration refers to (keyword-only; not compared, not shown)."""
    return field(default=None, compare=False, repr=False, kw_only=True)  # type: ignore[no-any-return]


# ---------------------------------------------------------------- values (in `symbol` and `object`)

@dataclass(frozen=True, slots=True)
class IntValue:
    value: int
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class FloatValue:
    value: float
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class StringValue:
    value: str
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class NullValue:
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class NameValue:
    """A reference to a named object (or a function, where a closure is expected)."""

    name: str
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class SetValue:
    """`{a, b}`: a set of objects."""

    items: tuple[NameValue, ...]
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class TupleValue:
    """`[a, null]` in a symbol; in `comps = [...]` the items may be any values."""

    items: tuple[DataValue, ...]
    span: Span | None = _span()


DataValue = IntValue | FloatValue | StringValue | NullValue | NameValue | SetValue | TupleValue


# ---------------------------------------------------------------- expressions

@dataclass(frozen=True, slots=True)
class IntLit:
    """An int literal; the parser folds a `-` written directly before a literal into it (so INT_MIN is writable)."""

    value: int
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class FloatLit:
    value: float
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class BoolLit:
    value: bool
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class Name:
    """A variable or parameter."""

    name: str
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class Call:
    """`f(a, b)`: a function of this module or a required one, or a builtin (float, int, abs, min, max, sqrt)."""

    func: str
    args: tuple[Expr, ...]
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class Unary:
    """`-e`, `!e`, `~e`."""

    op: str
    operand: Expr
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class Binary:
    """`a op b` with op one of `* / % + - << >> & ^ | < <= > >= == != && ||`."""

    op: str
    left: Expr
    right: Expr
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class StrLit:
    """A string literal `"text"` (version 2: type `str`)."""

    value: str
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class NullLit:
    """`null` in an expression: the null `obj` (or the null `value`)."""

    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class OidLit:
    """`@_4pSwobFHGf301Qgwzh` in an expression: the object of that OID (`oid` is the OID text)."""

    oid: str
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class GetAttr:
    """`o.attr`: `attr` is a module-level name of kind attribute."""

    obj: Expr
    attr: str
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class Send:
    """`o.sel(args)`: a method send through the class of `o` and its superclasses."""

    obj: Expr
    selector: str
    args: tuple[Expr, ...]
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class Index:
    """`o[i]`: a component of an object (a `value`)."""

    obj: Expr
    index: Expr
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class NewField:
    """`attr = e` inside `new C { ... }`."""

    attr: str
    value: Expr
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class New:
    """`new C { a = e, ... }` (`cls` a class name, `cls_expr` None) or `new (e) { ... }` (`cls` None)."""

    cls: str | None
    cls_expr: Expr | None
    fields: tuple[NewField, ...]
    span: Span | None = _span()


Expr = (IntLit | FloatLit | BoolLit | Name | Call | Unary | Binary | StrLit | NullLit | OidLit | GetAttr | Send
        | Index | New)


# ---------------------------------------------------------------- statements

@dataclass(frozen=True, slots=True)
class Block:
    stmts: tuple[Stmt, ...]
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class VarStmt:
    """`var x: T = e;` (type optional: `None` when the initializer gives it)."""

    name: str
    type: str | None
    init: Expr
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class AssignStmt:
    name: str
    value: Expr
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class SetAttrStmt:
    """`o.attr = e;`"""

    obj: Expr
    attr: str
    value: Expr
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class SetIndexStmt:
    """`o[i] = e;`"""

    obj: Expr
    index: Expr
    value: Expr
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class IfStmt:
    """`if c { } else if c { } else { }`: `orelse` is None, a Block, or a nested IfStmt (`else if`)."""

    cond: Expr
    then: Block
    orelse: Block | IfStmt | None
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class WhileStmt:
    cond: Expr
    body: Block
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class ForStmt:
    """`for i in a .. b { }`: half-open; `i` is a fresh int; `a` and `b` are evaluated once, before the loop."""

    var: str
    start: Expr
    stop: Expr
    body: Block
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class BreakStmt:
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class ContinueStmt:
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class ReturnStmt:
    value: Expr | None
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class ExprStmt:
    """A call (or a method send) used as a statement."""

    expr: Call | Send
    span: Span | None = _span()


Stmt = (Block | VarStmt | AssignStmt | IfStmt | WhileStmt | ForStmt | BreakStmt | ContinueStmt | ReturnStmt
        | ExprStmt | SetAttrStmt | SetIndexStmt)


# ---------------------------------------------------------------- declarations

@dataclass(frozen=True, slots=True)
class Requires:
    """`requires core >= "1.0";` (op and version None when no constraint is written)."""

    module: str
    op: str | None
    version: str | None
    span: Span | None = _span()
    version_span: Span | None = _ref_span()


@dataclass(frozen=True, slots=True)
class ClassDecl:
    name: str
    superclass: str | None
    oid: str | None = None
    span: Span | None = _span()
    superclass_span: Span | None = _ref_span()


@dataclass(frozen=True, slots=True)
class AttributeDecl:
    """`attribute a [@oid] [: T];` (`type` None: untyped, i.e. `value`)."""

    name: str
    oid: str | None = None
    span: Span | None = _span()
    type: str | None = field(default=None, kw_only=True)


@dataclass(frozen=True, slots=True)
class SelectorDecl:
    """`selector s [@oid] [(p: T, ...) [-> R]];` (`params` None: no signature, the selector cannot be sent)."""

    name: str
    oid: str | None = None
    span: Span | None = _span()
    params: tuple[Param, ...] | None = field(default=None, kw_only=True)
    ret: str = field(default="void", kw_only=True)


@dataclass(frozen=True, slots=True)
class SymbolDecl:
    name: str
    value: DataValue | None
    oid: str | None = None
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class FieldInit:
    """`attr = value;` inside an object definition."""

    attr: str
    value: DataValue
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class ObjectDecl:
    """`object name : cls { attr = v; comps = [...]; }` (cls None: `object`; comps None: not written)."""

    name: str
    cls: str | None
    fields: tuple[FieldInit, ...]
    comps: tuple[DataValue, ...] | None
    oid: str | None = None
    span: Span | None = _span()
    cls_span: Span | None = _ref_span()
    #: every `comps = ...;` as written (the checker requires one, holding a list); not compared, not shown
    comps_written: tuple[FieldInit, ...] = field(default=(), compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Param:
    name: str
    type: str
    span: Span | None = _span()


@dataclass(frozen=True, slots=True)
class FnDecl:
    """`fn name(p: T, ...) -> R { ... }` (ret "void" when no `->` is written)."""

    name: str
    params: tuple[Param, ...]
    ret: str
    body: Block
    oid: str | None = None
    span: Span | None = _span()
    ret_span: Span | None = _ref_span()


@dataclass(frozen=True, slots=True)
class ExtensionPointDecl:
    """`extension_point name(p: T, ...) -> R mode first|all;`"""

    name: str
    params: tuple[Param, ...]
    ret: str
    mode: str
    oid: str | None = None
    span: Span | None = _span()
    ret_span: Span | None = _ref_span()


@dataclass(frozen=True, slots=True)
class ExtendDecl:
    """`extend point priority N with fn;` (priority 0 when not written)."""

    point: str
    priority: int
    function: str
    span: Span | None = _span()
    point_span: Span | None = _ref_span()
    function_span: Span | None = _ref_span()


@dataclass(frozen=True, slots=True)
class MethodDecl:
    """`method cls.selector = fn;`"""

    cls: str
    selector: str
    function: str
    span: Span | None = _span()
    cls_span: Span | None = _ref_span()
    selector_span: Span | None = _ref_span()
    function_span: Span | None = _ref_span()


Decl = (ClassDecl | AttributeDecl | SelectorDecl | SymbolDecl | ObjectDecl | FnDecl | ExtensionPointDecl
        | ExtendDecl | MethodDecl)


@dataclass(frozen=True, slots=True)
class Module:
    """A whole `.rps` file. `space` None means the module's name; `version` None means "0.0.0"."""

    name: str
    version: str | None
    requires: tuple[Requires, ...]
    space: str | None
    decls: tuple[Decl, ...]
    span: Span | None = _span()
    version_span: Span | None = _ref_span()
