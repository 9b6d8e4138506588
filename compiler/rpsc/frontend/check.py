"""Semantic checks of parsed `.rps` modules: name resolution, kinds, and the type checking of functions.

Entry point: `check(modules, known_modules=None) -> CheckedProgram`, raising `rpsc.CompileError` (a
`DiagnosticError`) that lists every error found. An erroneous expression gets the poison type `<error>`, which
silences the errors it would cause further up, so one mistake gives one diagnostic.

What the lowering gets (all keyed by the identity of AST nodes, so use the nodes of the checked modules):
- `CheckedModule.scope[name] -> Definition`: every name visible in the module (its own definitions, those of
  the modules it requires, RefPerSys's well-known objects), with kind, defining module and signature;
- `CheckedFunction.type_of(expr)`: "int", "float", "bool" or "void" (a call of a void function);
- `CheckedFunction.local_of(node)` for `Name`, `VarStmt`, `AssignStmt`, `ForStmt` (and `Param`): the `Local`
  it reads or writes (shadowed variables are distinct `Local`s with distinct `index`es);
- `CheckedFunction.callee_of(call)`: the `Definition` called (kind "function", or "builtin" for float, int,
  abs, min, max, sqrt).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from rpsc.frontend import ast
from rpsc.frontend.diagnostics import Diagnostic, Note, raise_if_errors, sort_key
from rpsc.frontend.parser import KEYWORDS
from rpsrt.limits import deep_recursion
from rpsrt.versions import Constraint, Version, VersionError, constraint_text, is_partial_version

__all__ = [
    "check", "check_module", "CheckedProgram", "CheckedModule", "CheckedFunction", "ModuleInterface",
    "Definition", "Signature", "Local", "KINDS", "BUILTIN_FUNCTIONS", "WELLKNOWN", "ERROR_TYPE",
]

INT, FLOAT, BOOL, VOID = "int", "float", "bool", "void"
STR, OBJ, VALUE = "str", "obj", "value"
#: The poison type of an expression that already has a diagnostic.
ERROR_TYPE = "<error>"
VALUE_TYPES = (INT, FLOAT, BOOL, STR, OBJ, VALUE)
#: The types an attribute may be declared with (version 2).
ATTRIBUTE_TYPES = (INT, FLOAT, STR, OBJ, VALUE)
#: The types that box into a `value` where one is expected (version 2: the one implicit conversion).
BOXABLE = (INT, FLOAT, STR, OBJ)
#: Kinds of module-level names that denote a heap object in an expression (version 2: type `obj`).
OBJECT_KINDS = ("class", "attribute", "selector", "symbol", "object", "extension_point")

#: Kinds of named things: the module-level definitions, plus "builtin" for builtin functions.
#: How deeply the nodes of a function body may nest (blocks, statements, expressions; `a + b + c` is two
#: levels of `+`). A stored body nests about two JSON levels per level, and the store's fast JSON path reads 1024.
MAX_NESTING = 400

KINDS = ("class", "attribute", "selector", "symbol", "object", "function", "extension_point", "builtin")
_KIND_TEXT = {"class": "a class", "attribute": "an attribute", "selector": "a selector", "symbol": "a symbol",
              "object": "an object", "function": "a function", "extension_point": "an extension point",
              "builtin": "a builtin function"}

#: Builtin functions and their arities.
BUILTIN_FUNCTIONS: Mapping[str, int] = MappingProxyType(
    {"float": 1, "int": 1, "abs": 1, "min": 2, "max": 2, "sqrt": 1})

#: Version 2's builtins on the heap and the runtime library: name -> (parameter types, result type).
#: `len`, `str` and `obj` are typed by the checker itself (they take several types). A module's own function
#: of one of these names shadows it (so that version-1 modules defining e.g. `log` keep their meaning).
LIBRARY_FUNCTIONS: Mapping[str, tuple[tuple[str, ...], str]] = MappingProxyType({
    "has": ((OBJ, OBJ), BOOL), "remove": ((OBJ, OBJ), VOID),
    "get": ((OBJ, OBJ), VALUE), "put": ((OBJ, OBJ, VALUE), VOID),
    "len": ((OBJ,), INT), "append": ((OBJ, VALUE), VOID),
    "class_of": ((OBJ,), OBJ), "is_a": ((OBJ, OBJ), BOOL), "superclass": ((OBJ,), OBJ),
    "oid": ((OBJ,), STR), "space_of": ((OBJ,), OBJ), "set_space": ((OBJ, OBJ), VOID),
    "find": ((STR,), OBJ), "make_class": ((OBJ, STR), OBJ), "make_symbol": ((STR, BOOL), OBJ),
    "symbol_value": ((OBJ,), VALUE), "set_symbol_value": ((OBJ, VALUE), VOID),
    "add_root": ((OBJ,), VOID), "remove_root": ((OBJ,), VOID), "is_root": ((OBJ,), BOOL),
    "add_constant": ((OBJ,), VOID), "remove_constant": ((OBJ,), VOID), "is_constant": ((OBJ,), BOOL),
    "set_add": ((OBJ, OBJ), VOID), "set_remove": ((OBJ, OBJ), VOID), "set_has": ((OBJ, OBJ), BOOL),
    "set_size": ((OBJ,), INT),
    "log": ((STR,), VOID), "fail": ((STR,), VOID),
    "is_int": ((VALUE,), BOOL), "is_float": ((VALUE,), BOOL), "is_str": ((VALUE,), BOOL),
    "is_obj": ((VALUE,), BOOL), "is_null": ((VALUE,), BOOL),
    "str": ((VALUE,), STR), "obj": ((VALUE,), OBJ),
})


@dataclass(frozen=True, slots=True)
class Signature:
    """Parameter and result types of a function or extension point ("int", "float", "bool"; ret "void")."""

    params: tuple[str, ...]
    ret: str

    def __str__(self) -> str:
        return f"({', '.join(self.params)}) -> {self.ret}"


@dataclass(frozen=True, slots=True)
class Definition:
    """A named thing visible in a module: what it is, who defines it, and (functions) its signature.

    `module` is "" for RefPerSys's well-known objects and builtin functions; `oid` is the explicit or
    well-known OID text when there is one; `decl` is the AST node when the definition comes from source.
    """

    name: str
    kind: str
    module: str
    signature: Signature | None = None
    mode: str | None = None
    oid: str | None = None
    decl: Any = field(default=None, compare=False, repr=False)
    span: ast.Span | None = field(default=None, compare=False, repr=False)
    #: an attribute's declared type (version 2; None: untyped, a `value`)
    type: str | None = None


@dataclass(frozen=True, slots=True)
class ModuleInterface:
    """What other modules may use of a module: its name, version and definitions (by name).

    The lowering builds these from the heap for modules that are in the store but not on the command line.
    """

    name: str
    version: str
    definitions: Mapping[str, Definition]


@dataclass(frozen=True, slots=True)
class Local:
    """A parameter or local variable of one function; `index` is unique within the function."""

    name: str
    type: str
    index: int
    kind: str  # "param", "var" or "for" (a for loop's variable, read-only)
    span: ast.Span | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class CheckedFunction:
    decl: ast.FnDecl
    module: str
    signature: Signature
    locals: tuple[Local, ...]
    types: Mapping[int, str] = field(repr=False)
    bindings: Mapping[int, Local] = field(repr=False)
    callees: Mapping[int, Definition] = field(repr=False)
    #: version 2: the module-level definition a node refers to, by node identity: a `Name` denoting an
    #: object, the attribute of a `GetAttr`/`SetAttrStmt`/`NewField`, the selector of a `Send`, the class of
    #: a `New` with a class name
    refs: Mapping[int, Definition] = field(default_factory=dict, repr=False)

    def ref_of(self, node: Any) -> Definition:
        """The module-level definition a version-2 node refers to (see `refs`)."""
        return self.refs[id(node)]

    def type_of(self, expr: ast.Expr) -> str:
        """The type of an expression of this function's body."""
        return self.types[id(expr)]

    def local_of(self, node: Any) -> Local:
        """The local read by a `Name`, written by `AssignStmt`, declared by `VarStmt`/`ForStmt`/`Param`."""
        return self.bindings[id(node)]

    def callee_of(self, call: ast.Call) -> Definition:
        """The function (or builtin) a `Call` calls."""
        return self.callees[id(call)]


@dataclass(frozen=True, slots=True)
class CheckedModule:
    module: ast.Module
    interface: ModuleInterface
    scope: Mapping[str, Definition] = field(repr=False)
    functions: Mapping[str, CheckedFunction] = field(repr=False)

    @property
    def name(self) -> str:
        return self.module.name

    def resolve(self, name: str) -> Definition | None:
        """The definition a name refers to in this module (own, required, or well-known)."""
        return self.scope.get(name)


@dataclass(frozen=True, slots=True)
class CheckedProgram:
    """The checked modules, in an order where every module comes after the modules it requires, and the
    warnings found (`Diagnostic`s of severity "warning": programs that compile but store values upstream
    RefPerSys cannot read back)."""

    modules: tuple[CheckedModule, ...]
    warnings: tuple[Diagnostic, ...] = ()

    def module(self, name: str) -> CheckedModule:
        for m in self.modules:
            if m.name == name:
                return m
        raise KeyError(name)


# ---------------------------------------------------------------- well-known names

def _wellknown() -> Mapping[str, Definition]:
    from rpsrt.model import wellknown as wk
    from rpsrt.model.oid import Oid

    attributes = {"NAME", "COMMENT", "CONSTANT"}
    objects = {"SYSTEM", "INITIAL_SPACE"}
    out: dict[str, Definition] = {}
    for const, value in vars(wk).items():
        if not const.isupper() or not isinstance(value, Oid):
            continue
        if const in attributes:
            kind = "attribute"
        elif const in objects:
            kind = "object"
        else:
            kind = "class"
        name = const.lower()
        out[name] = Definition(name, kind, "", oid=str(value),
                               type=STR if const in ("NAME", "COMMENT") else None)
    return MappingProxyType(out)


WELLKNOWN: Mapping[str, Definition] = _wellknown()
_BUILTIN_DEFS = MappingProxyType({n: Definition(n, "builtin", "") for n in (*BUILTIN_FUNCTIONS, *LIBRARY_FUNCTIONS)})


# ---------------------------------------------------------------- helpers

def version_satisfies(have: str | None, op: str, want: str) -> bool:
    """Whether module version `have` (None: 0.0.0) satisfies the constraint `op want` (op: >= > <= < == ^ ~),
    by the one version rule of `rpsrt.versions`. As in a plugin's manifest, a pre-release or build suffix of
    `have` does not count. Raises VersionError when `want` is not a version."""
    try:
        release = Version.parse(have or "0.0.0").release
    except VersionError:
        return False
    return Constraint.parse(constraint_text(op, want)).allows(release)


def _is_semantic_version(text: str) -> bool:
    try:
        Version.parse(text)
    except VersionError:
        return False
    return True


def _check_forms(m: ast.Module, diags: _Diags) -> None:
    """The forms the grammar lets through: version strings (by the one version rule, `rpsrt.versions`), and
    an object's `comps` (once, a list)."""
    if m.version is not None and not _is_semantic_version(m.version):
        diags.error(f"module version `{m.version}` is not a semantic version", m.version_span or m.span,
                    hint='write MAJOR.MINOR.PATCH, e.g. "1.2.0"')
    for r in m.requires:
        if r.version is not None and not is_partial_version(r.version):
            diags.error(f"required version `{r.version}` is not a version number", r.version_span or r.span,
                        hint='write one to three numbers, e.g. "1.0"')
    for d in m.decls:
        if not isinstance(d, ast.ObjectDecl):
            continue
        first: ast.FieldInit | None = None
        for f in d.comps_written:
            if first is not None:
                diags.error("`comps` is given twice", f.span, notes=[Note("first given here", first.span)])
            else:
                first = f
            if not isinstance(f.value, ast.TupleValue):
                diags.error("`comps` takes a list of values", f.value.span or f.span,
                            hint='write `comps = [a, 2, "three"];`')


def _did_you_mean(name: str, candidates: Iterable[str], cutoff: float = 0.6) -> str | None:
    import difflib  # (only for an error's hint: not at every start)

    close = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=cutoff)
    return f"did you mean `{close[0]}`?" if close else None


def _kind_text(d: Definition) -> str:
    return _KIND_TEXT.get(d.kind, d.kind)


def _decl_kind(d: Any) -> str:
    return {ast.ClassDecl: "class", ast.AttributeDecl: "attribute", ast.SelectorDecl: "selector",
            ast.SymbolDecl: "symbol", ast.ObjectDecl: "object", ast.FnDecl: "function",
            ast.ExtensionPointDecl: "extension_point"}[type(d)]


class _Diags:
    def __init__(self) -> None:
        self.items: list[Diagnostic] = []

    def error(self, message: str, span: ast.Span | None, hint: str | None = None,
              notes: Sequence[Note] = ()) -> None:
        self.items.append(Diagnostic("error", message, span or ast.Span("<unknown>", 1, 1), hint, tuple(notes)))

    def warning(self, message: str, span: ast.Span | None, hint: str | None = None) -> None:
        self.items.append(Diagnostic("warning", message, span or ast.Span("<unknown>", 1, 1), hint))


# ---------------------------------------------------------------- the entry point

@functools.cache
def _node_fields(t: type) -> tuple[str, ...]:
    """The field names of AST node type `t` that may hold nodes (every span field is `span` or `..._span`)."""
    return tuple(f.name for f in dataclasses.fields(t) if not f.name.endswith("span"))


def _nesting(node: Any) -> int:
    """How many AST nodes nest along the deepest path from `node` down (spans not counted); no recursion."""
    fields_of = _node_fields
    deepest = 0
    stack = [(node, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        n, d = pop()
        if d > deepest:
            deepest = d
        d += 1
        for name in fields_of(type(n)):  # type: ignore[arg-type]  # classes are hashable; mypy's stub says otherwise
            v = getattr(n, name)
            if type(v) is tuple:
                for it in v:
                    if hasattr(it, "__dataclass_fields__"):
                        push((it, d))
            elif hasattr(v, "__dataclass_fields__"):
                push((v, d))
    return deepest


def check(modules: Sequence[ast.Module], *,
          known_modules: Mapping[str, ModuleInterface] | None = None) -> CheckedProgram:
    """Check modules together (they may require each other and the `known_modules`); raise CompileError."""
    with deep_recursion():
        return _check(modules, known_modules)


def _check(modules: Sequence[ast.Module],
           known_modules: Mapping[str, ModuleInterface] | None) -> CheckedProgram:
    diags = _Diags()
    known = dict(known_modules or {})
    by_name: dict[str, ast.Module] = {}
    for m in modules:
        if m.name in by_name:
            diags.error(f"module `{m.name}` is given twice", m.span,
                        notes=[Note("first given here", by_name[m.name].span)])
            continue
        by_name[m.name] = m

    # Pass 1: each module's own definitions (so that definition order and module order do not matter).
    for m in modules:
        _check_forms(m, diags)
    own: dict[str, dict[str, Definition]] = {}
    for m in by_name.values():
        own[m.name] = _collect(m, diags)
    interfaces: dict[str, ModuleInterface] = dict(known)
    for m in by_name.values():
        interfaces[m.name] = ModuleInterface(m.name, m.version or "0.0.0", MappingProxyType(own[m.name]))

    order = _module_order(list(by_name.values()), interfaces, diags)
    checked: list[CheckedModule] = []
    for m in order:
        scope = _scope(m, own[m.name], interfaces, diags)
        functions = _ModuleChecker(m, scope, diags).run()
        checked.append(CheckedModule(m, interfaces[m.name], MappingProxyType(scope), MappingProxyType(functions)))
    raise_if_errors([d for d in diags.items if d.severity == "error"])
    return CheckedProgram(tuple(checked), tuple(sorted((d for d in diags.items if d.severity == "warning"),
                                                       key=sort_key)))


def check_module(module: ast.Module, *,
                 known_modules: Mapping[str, ModuleInterface] | None = None) -> CheckedModule:
    """Check one module (its requires must be in `known_modules`)."""
    return check([module], known_modules=known_modules).modules[0]


def _collect(m: ast.Module, diags: _Diags) -> dict[str, Definition]:
    defs: dict[str, Definition] = {}
    oids: dict[str, ast.Span | None] = {}
    for d in m.decls:
        if isinstance(d, (ast.ExtendDecl, ast.MethodDecl)):
            continue
        kind = _decl_kind(d)
        if d.name in WELLKNOWN:
            diags.error(f"`{d.name}` is the name of RefPerSys's well-known {WELLKNOWN[d.name].kind} and cannot be "
                        "redefined", d.span, hint="choose another name")
            continue
        if d.name in KEYWORDS:
            diags.error(f"`{d.name}` is a reserved word and cannot name {_KIND_TEXT[kind]}", d.span)
            continue
        if kind in ("function", "extension_point") and d.name in BUILTIN_FUNCTIONS:
            diags.error(f"`{d.name}` is a builtin function and cannot be redefined", d.span,
                        hint="choose another name")
            continue
        if d.name in defs:
            prev = defs[d.name]
            diags.error(f"`{d.name}` is defined twice", d.span,
                        notes=[Note(f"`{d.name}` is first defined here, as {_kind_text(prev)}", prev.span)])
            continue
        if d.name.startswith("_"):
            diags.warning(f"upstream RefPerSys cannot load the name `{d.name}`: its `name` attribute would hold a "
                          "string starting with `_`, which its dumper writes as {\"str\": ...} and its loader "
                          "refuses", d.span, hint="start the name with a letter")
        sig = None
        mode = None
        if isinstance(d, (ast.FnDecl, ast.ExtensionPointDecl)):
            sig = Signature(tuple(p.type for p in d.params), d.ret)
            mode = getattr(d, "mode", None)
        elif isinstance(d, ast.SelectorDecl) and d.params is not None:
            sig = Signature(tuple(p.type for p in d.params), d.ret)
        oid = getattr(d, "oid", None)
        if oid is not None:
            if oid in oids:
                diags.error(f"object id `@{oid}` is given to two definitions", d.span,
                            notes=[Note("first given here", oids[oid])])
            oids[oid] = d.span
        atype = d.type if isinstance(d, ast.AttributeDecl) else None
        defs[d.name] = Definition(d.name, kind, m.name, sig, mode, oid, d, d.span, atype)
    return defs


def _module_order(mods: list[ast.Module], interfaces: Mapping[str, ModuleInterface],
                  diags: _Diags) -> list[ast.Module]:
    """Modules sorted so that required ones come first; report unknown modules, bad versions, cycles."""
    local = {m.name: m for m in mods}
    for m in mods:
        seen: dict[str, ast.Requires] = {}
        for r in m.requires:
            if r.module == m.name:
                diags.error(f"module `{m.name}` requires itself", r.span)
                continue
            if r.module in seen:
                diags.error(f"module `{r.module}` is required twice", r.span,
                            notes=[Note("first required here", seen[r.module].span)])
                continue
            seen[r.module] = r
            iface = interfaces.get(r.module)
            if iface is None:
                diags.error(f"unknown module `{r.module}`", r.span,
                            hint=_did_you_mean(r.module, interfaces) or
                            "give its source on the command line, or compile it into the store first")
                continue
            try:
                ok = (r.op is None or r.version is None or not is_partial_version(r.version)  # reported
                      or version_satisfies(iface.version, r.op, r.version))
            except VersionError as exc:
                diags.error(exc.message, r.span)
                continue
            if not ok:
                diags.error(f"module `{r.module}` has version {iface.version}, which does not satisfy "
                            f"`{r.op} \"{r.version}\"`", r.span)
    order: list[ast.Module] = []
    state: dict[str, int] = {}

    def visit(m: ast.Module, stack: list[str]) -> None:
        st = state.get(m.name, 0)
        if st == 2:
            return
        if st == 1:
            cycle = stack[stack.index(m.name):] + [m.name]
            diags.error("modules require each other in a cycle: " + " -> ".join(cycle), m.span)
            return
        state[m.name] = 1
        for r in m.requires:
            dep = local.get(r.module)
            if dep is not None and dep is not m:
                visit(dep, stack + [m.name])
        state[m.name] = 2
        order.append(m)

    for m in mods:
        visit(m, [])
    return order


def _scope(m: ast.Module, own: Mapping[str, Definition], interfaces: Mapping[str, ModuleInterface],
           diags: _Diags) -> dict[str, Definition]:
    scope: dict[str, Definition] = dict(WELLKNOWN)
    imported: dict[str, Definition] = {}
    ambiguous: dict[str, list[str]] = {}
    for r in m.requires:
        iface = interfaces.get(r.module)
        if iface is None or r.module == m.name:
            continue
        for name, d in iface.definitions.items():
            if name in imported and imported[name].module != d.module:
                ambiguous.setdefault(name, [imported[name].module]).append(d.module)
            imported.setdefault(name, d)
    scope.update(imported)
    scope.update(own)  # the module's own definitions shadow those of the modules it requires
    for name, mods in ambiguous.items():
        if name not in own:
            scope[name] = Definition(name, "<ambiguous>", " and ".join(f"`{x}`" for x in mods))
    return scope


# ---------------------------------------------------------------- one module

class _ModuleChecker:
    def __init__(self, m: ast.Module, scope: Mapping[str, Definition], diags: _Diags) -> None:
        self.m = m
        self.scope = scope
        self.diags = diags

    def lookup(self, name: str, span: ast.Span | None, want: tuple[str, ...] | None,
               what: str) -> Definition | None:
        """Resolve a module-level name of one of the `want` kinds (any kind when None)."""
        d = self.scope.get(name)
        if d is None:
            pool = [n for n, x in self.scope.items() if (want is None or x.kind in want) and x.module]
            wk = [n for n, x in WELLKNOWN.items() if want is None or x.kind in want]
            hint = _did_you_mean(name, pool) or _did_you_mean(name, wk, cutoff=0.85)
            self.diags.error(f"unknown {what} `{name}`", span, hint=hint)
            return None
        if d.kind == "<ambiguous>":
            self.diags.error(f"`{name}` is ambiguous: it is defined by {d.module}", span)
            return None
        if want is not None and d.kind not in want:
            notes = [Note(f"`{name}` is defined here", d.span)] if d.span is not None else []
            self.diags.error(f"`{name}` is {_kind_text(d)}, not {_a(what)}", span, notes=notes)
            return None
        return d

    def run(self) -> dict[str, CheckedFunction]:
        functions: dict[str, CheckedFunction] = {}
        for d in self.m.decls:
            if isinstance(d, ast.ClassDecl):
                if d.superclass is not None:
                    self.lookup(d.superclass, d.superclass_span or d.span, ("class",), "class")
            elif isinstance(d, ast.SymbolDecl):
                if d.value is not None:
                    self.value(d.value, in_comps=False)
            elif isinstance(d, ast.ObjectDecl):
                self.object_decl(d)
            elif isinstance(d, ast.FnDecl):
                cf = _FunctionChecker(self, d).run()
                if cf is not None and self.scope.get(d.name, None) is not None and \
                        self.scope[d.name].decl is d:
                    functions[d.name] = cf
            elif isinstance(d, ast.ExtensionPointDecl):
                self.params(d.params, allow_void=False)
                _check_type(self.diags, d.ret, d.ret_span or d.span, allow_void=True)
            elif isinstance(d, ast.ExtendDecl):
                self.extend_decl(d)
            elif isinstance(d, ast.MethodDecl):
                self.lookup(d.cls, d.cls_span or d.span, ("class",), "class")
                sel = self.lookup(d.selector, d.selector_span or d.span, ("selector",), "selector")
                fn = self.lookup(d.function, d.function_span or d.span, ("function",), "function")
                if sel is not None and fn is not None and sel.signature is not None and fn.signature is not None:
                    want = Signature((OBJ, *sel.signature.params), sel.signature.ret)
                    if fn.signature != want:
                        self.diags.error(f"method `{d.function}` has the signature {fn.signature} but selector "
                                         f"`{d.selector}` needs {want}", d.function_span or d.span,
                                         hint="a method takes the receiver first: `self: obj`",
                                         notes=[Note(f"`{d.selector}` is declared here", sel.span)] if sel.span
                                         else [])
            elif isinstance(d, ast.AttributeDecl):
                if d.type is not None and d.type not in ATTRIBUTE_TYPES:
                    self.diags.error(f"an attribute cannot have the type `{d.type}`", d.span,
                                     hint="the attribute types are int, float, str, obj and value")
            elif isinstance(d, ast.SelectorDecl):
                if d.params is not None:
                    self.params(d.params, allow_void=False)
                    _check_type(self.diags, d.ret, d.span, allow_void=True)
        self.class_cycles()
        return functions

    def class_cycles(self) -> None:
        supers = {d.name: d for d in self.m.decls if isinstance(d, ast.ClassDecl)}
        reported: set[str] = set()
        for start in supers:
            seen = [start]
            cur = supers[start].superclass
            while cur is not None and cur in supers:
                if cur == start:
                    if start not in reported:
                        reported.update(seen)
                        self.diags.error(f"class `{start}` inherits from itself: "
                                         + " : ".join(seen + [start]), supers[start].span)
                    break
                if cur in seen:
                    break
                seen.append(cur)
                cur = supers[cur].superclass

    def params(self, params: Sequence[ast.Param], allow_void: bool) -> None:
        seen: dict[str, ast.Param] = {}
        for p in params:
            _check_type(self.diags, p.type, p.span, allow_void=allow_void)
            if p.name in KEYWORDS:
                self.diags.error(f"`{p.name}` is a reserved word and cannot name a parameter", p.span)
            if p.name in seen:
                self.diags.error(f"parameter `{p.name}` is declared twice", p.span,
                                 notes=[Note("first declared here", seen[p.name].span)])
            seen[p.name] = p

    def object_decl(self, d: ast.ObjectDecl) -> None:
        if d.cls is not None:
            self.lookup(d.cls, d.cls_span or d.span, ("class",), "class")
        seen: dict[str, ast.FieldInit] = {}
        for f in d.fields:
            self.lookup(f.attr, f.span, ("attribute",), "attribute")
            if f.attr in seen:
                self.diags.error(f"attribute `{f.attr}` is set twice", f.span,
                                 notes=[Note("first set here", seen[f.attr].span)])
            seen[f.attr] = f
            if isinstance(f.value, ast.NullValue):
                self.diags.warning(f"upstream RefPerSys cannot load the attribute `{f.attr}` set to null: its loader "
                                   "requires every attribute value, so the store would not load there", f.value.span,
                                   hint="leave the attribute out (reading an absent attribute gives null)")
            self.value(f.value, in_comps=True)
        for v in d.comps or ():
            self.value(v, in_comps=True)

    def value(self, v: ast.DataValue, in_comps: bool) -> None:
        if isinstance(v, ast.FloatValue):
            self.diags.warning("upstream RefPerSys cannot dump a float value: its dumper aborts on a double, so "
                               "a store holding one cannot be written back there", v.span,
                               hint="store an int (e.g. in thousandths) or a string")
        elif isinstance(v, ast.StringValue) and v.value.startswith("_"):
            self.diags.warning("upstream RefPerSys cannot read back a string starting with `_`: its dumper writes "
                               "it as {\"str\": ...}, which its loader reads as nothing", v.span)
        elif isinstance(v, ast.StringValue) and "\0" in v.value:
            self.diags.warning("upstream RefPerSys does not keep a string holding a NUL character: it handles C "
                               "strings, and its dump cuts the string there", v.span)
        if isinstance(v, ast.NameValue):
            self.lookup(v.name, v.span, None, "name")
        elif isinstance(v, ast.SetValue):
            for item in v.items:
                self.lookup(item.name, item.span, None, "name")
        elif isinstance(v, ast.TupleValue):
            self.diags.warning("upstream RefPerSys cannot load a tuple value: its loader reads no `tuple`, so "
                               "the store would not load there", v.span,
                               hint="keep the objects in a set `{a, b}` or in an object's `comps` instead")
            for item in v.items:
                if isinstance(item, ast.NameValue):
                    self.lookup(item.name, item.span, None, "name")
                elif not isinstance(item, ast.NullValue):
                    self.diags.error("a tuple holds only objects or `null`", item.span,
                                     hint="a list of any values is written only as an object's `comps`")

    def extend_decl(self, d: ast.ExtendDecl) -> None:
        point = self.lookup(d.point, d.point_span or d.span, ("extension_point",), "extension point")
        fn = self.lookup(d.function, d.function_span or d.span, ("function",), "function")
        if point is None or fn is None or point.signature is None or fn.signature is None:
            return
        if point.signature != fn.signature:
            self.diags.error(f"`{d.function}` has the signature {fn.signature} but extension point "
                             f"`{d.point}` takes {point.signature}", d.function_span or d.span,
                             notes=[Note(f"`{d.point}` is declared here", point.span)] if point.span else [])


def _a(what: str) -> str:
    return ("an " if what[:1] in "aeiou" else "a ") + what


def _check_type(diags: _Diags, t: str, span: ast.Span | None, allow_void: bool) -> bool:
    if t in VALUE_TYPES or (allow_void and t == VOID):
        return True
    if t == VOID:
        diags.error("a parameter cannot have the type `void`", span)
    else:
        diags.error(f"unknown type `{t}`", span,
                    hint=_did_you_mean(t, VALUE_TYPES) or "the types are int, float, bool, str, obj and value")
    return False


# ---------------------------------------------------------------- one function

_ARITH = {"+", "-", "*", "/"}
_INT_ONLY = {"%", "<<", ">>"}
_BITWISE = {"&", "^", "|"}
_ORDER = {"<", "<=", ">", ">="}
_EQUALITY = {"==", "!="}
_LOGIC = {"&&", "||"}


class _FunctionChecker:
    def __init__(self, mc: _ModuleChecker, fn: ast.FnDecl) -> None:
        self.mc = mc
        self.fn = fn
        self.diags = mc.diags
        self.types: dict[int, str] = {}
        self.bindings: dict[int, Local] = {}
        self.callees: dict[int, Definition] = {}
        self.refs: dict[int, Definition] = {}
        self.locals: list[Local] = []
        self.scopes: list[dict[str, Local]] = []
        self.loops: list[dict[str, bool]] = []  # each: {"break": seen}
        self.ret = fn.ret
        self.poisoned = False  # a misplaced break/continue: do not also complain about a missing return

    def run(self) -> CheckedFunction | None:
        fn = self.fn
        depth = _nesting(fn.body)
        if depth > MAX_NESTING:
            self.diags.error(f"function `{fn.name}` is nested too deeply: {depth} levels, at most {MAX_NESTING}",
                             fn.span, hint="split long operator chains or deep blocks with local variables or "
                             "helper functions")
            return None
        ok_ret = _check_type(self.diags, fn.ret, fn.ret_span or fn.span, allow_void=True)
        self.mc.params(fn.params, allow_void=False)
        self.ret = fn.ret if ok_ret else ERROR_TYPE
        top: dict[str, Local] = {}
        self.scopes.append(top)
        for p in fn.params:
            t = p.type if p.type in VALUE_TYPES else ERROR_TYPE
            loc = self.new_local(p.name, t, "param", p.span)
            self.bindings[id(p)] = loc
            top.setdefault(p.name, loc)
        try:
            terminates = self.stmts(fn.body.stmts)
        except RecursionError:
            self.diags.error("the function is nested too deeply", fn.span)
            return None
        self.scopes.pop()
        if not terminates and not self.poisoned and self.ret not in (VOID, ERROR_TYPE):
            end = fn.body.span
            where = ast.Span(end.file, end.end_line, max(end.end_col - 1, 1), end.end_line, end.end_col) \
                if end is not None else fn.span
            self.diags.error(f"function `{fn.name}` can reach its end without returning a value", where,
                             hint=f"add `return ...;` (of type {fn.ret}) on every path",
                             notes=[Note(f"`{fn.name}` returns {fn.ret}", fn.span)])
        sig = Signature(tuple(p.type for p in fn.params), fn.ret)
        return CheckedFunction(fn, self.mc.m.name, sig, tuple(self.locals), MappingProxyType(self.types),
                               MappingProxyType(self.bindings), MappingProxyType(self.callees),
                               MappingProxyType(self.refs))

    def new_local(self, name: str, t: str, kind: str, span: ast.Span | None) -> Local:
        loc = Local(name, t, len(self.locals), kind, span)
        self.locals.append(loc)
        return loc

    def find(self, name: str) -> Local | None:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        return None

    def visible(self) -> list[str]:
        return [n for s in self.scopes for n in s]

    # ------------------------------------------------------------ statements

    def stmts(self, stmts: Sequence[ast.Stmt]) -> bool:
        """Check a statement list in the current scope; return whether it never falls through."""
        done = False
        for s in stmts:
            if done:
                self.diags.error("unreachable statement", s.span,
                                 hint="remove it, or the `return`, `break` or `continue` before it")
                break
            done = self.stmt(s)
        return done

    def block(self, b: ast.Block) -> bool:
        self.scopes.append({})
        try:
            return self.stmts(b.stmts)
        finally:
            self.scopes.pop()

    def stmt(self, s: ast.Stmt) -> bool:
        if isinstance(s, ast.VarStmt):
            t = self.expr(s.init)
            if t == VOID:
                self.diags.error("this call returns no value", s.init.span)
                t = ERROR_TYPE
            if s.type is not None:
                if _check_type(self.diags, s.type, s.span, allow_void=False):
                    self.expect(s.init, t, s.type, f"the initializer of `{s.name}`")
                    t = s.type
                else:
                    t = ERROR_TYPE
            if s.name in KEYWORDS:
                self.diags.error(f"`{s.name}` is a reserved word and cannot name a variable", s.span)
            scope = self.scopes[-1]
            if s.name in scope:
                self.diags.error(f"`{s.name}` is already declared in this block", s.span,
                                 notes=[Note("first declared here", scope[s.name].span)],
                                 hint="assign it with `=`, or pick another name")
            loc = self.new_local(s.name, t, "var", s.span)
            self.bindings[id(s)] = loc
            scope[s.name] = loc
            return False
        if isinstance(s, ast.AssignStmt):
            t = self.expr(s.value)
            target = self.find(s.name)
            if target is None:
                self.unknown_variable(s.name, s.span)
                return False
            self.bindings[id(s)] = target
            if target.kind == "for":
                self.diags.error(f"cannot assign to `{s.name}`, the variable of a `for` loop", s.span,
                                 hint="copy it into a `var` first")
                return False
            if t == VOID:
                self.diags.error("this call returns no value", s.value.span)
                return False
            self.expect(s.value, t, target.type, f"`{s.name}`")
            return False
        if isinstance(s, ast.IfStmt):
            self.cond(s.cond, "if")
            then = self.block(s.then)
            if s.orelse is None:
                return False
            other = self.block(s.orelse) if isinstance(s.orelse, ast.Block) else self.stmt(s.orelse)
            return then and other
        if isinstance(s, ast.WhileStmt):
            self.cond(s.cond, "while")
            self.loops.append({"break": False})
            self.block(s.body)
            loop = self.loops.pop()
            # `while true { ... }` without a `break` never falls through (like Go's `for { }`).
            return isinstance(s.cond, ast.BoolLit) and s.cond.value and not loop["break"]
        if isinstance(s, ast.ForStmt):
            for e, what in ((s.start, "start"), (s.stop, "end")):
                t = self.expr(e)
                self.expect(e, t, INT, f"the {what} of a `for` range")
            if s.var in KEYWORDS:
                self.diags.error(f"`{s.var}` is a reserved word and cannot name a variable", s.span)
            loc = self.new_local(s.var, INT, "for", s.span)
            self.bindings[id(s)] = loc
            self.scopes.append({s.var: loc})
            self.loops.append({"break": False})
            try:
                self.block(s.body)
            finally:
                self.loops.pop()
                self.scopes.pop()
            return False
        if isinstance(s, ast.BreakStmt):
            if not self.loops:
                self.diags.error("`break` outside of a loop", s.span)
                self.poisoned = True
                return False
            self.loops[-1]["break"] = True
            return True
        if isinstance(s, ast.ContinueStmt):
            if not self.loops:
                self.diags.error("`continue` outside of a loop", s.span)
                self.poisoned = True
                return False
            return True
        if isinstance(s, ast.ReturnStmt):
            if s.value is None:
                if self.ret not in (VOID, ERROR_TYPE):
                    self.diags.error(f"`return` without a value in a function returning {self.ret}", s.span,
                                     hint=f"write `return <{self.ret} value>;`")
                return True
            t = self.expr(s.value)
            if self.ret == VOID:
                self.diags.error(f"function `{self.fn.name}` returns no value, but `return` has one", s.value.span,
                                 hint="write `return;`, or declare a result type with `-> T`")
            elif t == VOID:
                self.diags.error("this call returns no value", s.value.span)
            else:
                self.expect(s.value, t, self.ret, "the returned value")
            return True
        if isinstance(s, ast.ExprStmt):
            self.expr(s.expr, allow_void=True)
            return False
        if isinstance(s, ast.SetAttrStmt):
            self.expect_obj(s.obj)
            d = self.mc.lookup(s.attr, _attr_span(s.obj, s.attr, s.span), ("attribute",), "attribute")
            t = self.expr(s.value)
            if d is not None:
                self.refs[id(s)] = d
                self.expect(s.value, t, d.type or VALUE, f"the value of attribute `{s.attr}`")
            return False
        if isinstance(s, ast.SetIndexStmt):
            self.expect_obj(s.obj)
            self.expect(s.index, self.expr(s.index), INT, "a component index")
            self.expect(s.value, self.expr(s.value), VALUE, "a component")
            return False
        if isinstance(s, ast.Block):
            return self.block(s)
        self.diags.error(f"unsupported statement {type(s).__name__}", getattr(s, "span", None))
        return False

    def cond(self, e: ast.Expr, what: str) -> None:
        t = self.expr(e)
        if t not in (BOOL, ERROR_TYPE):
            hint = f"compare explicitly, e.g. `{_show(e)} != 0`" if t in (INT, FLOAT) else None
            self.diags.error(f"the condition of `{what}` must be bool, not {t}", e.span, hint=hint)

    def expect(self, e: ast.Expr, got: str, want: str, what: str) -> None:
        if got == want or ERROR_TYPE in (got, want):
            return
        if want == VALUE and got in BOXABLE:
            return  # boxed (the one implicit conversion)
        if want == VALUE and got == BOOL:
            self.diags.error(f"{what} must be a value, and a bool is not one", e.span,
                             hint="store an int instead: `1` for true, `0` for false")
            return
        self.diags.error(f"{what} must be {want}, not {got}", e.span, hint=_conversion_hint(e, got, want))

    def expect_obj(self, e: ast.Expr) -> str:
        t = self.expr(e)
        if t not in (OBJ, ERROR_TYPE):
            hint = f"convert the value first: `obj({_show(e)})`" if t == VALUE else None
            self.diags.error(f"expected an object (obj), not {t}", e.span, hint=hint)
        return t

    def unknown_variable(self, name: str, span: ast.Span | None) -> None:
        d = self.mc.scope.get(name)
        if d is not None and d.kind != "<ambiguous>":
            self.diags.error(f"`{name}` is {_kind_text(d)}, not a variable", span,
                             hint="a function reads its parameters and variables; a module-level object name "
                             "is an `obj` only where it is read")
            return
        self.diags.error(f"unknown variable `{name}`", span, hint=_did_you_mean(name, self.visible()))

    # ------------------------------------------------------------ expressions

    def expr(self, e: ast.Expr, allow_void: bool = False) -> str:
        t = self._expr(e, allow_void)
        self.types[id(e)] = t
        return t

    def _expr(self, e: ast.Expr, allow_void: bool) -> str:
        if isinstance(e, ast.Binary):
            lt = self.expr(e.left)
            rt = self.expr(e.right)
            return self.binary(e, lt, rt)
        if isinstance(e, ast.Name):
            loc = self.find(e.name)
            if loc is None:
                d = self.mc.scope.get(e.name)
                if d is not None and d.kind in OBJECT_KINDS:
                    self.refs[id(e)] = d
                    return OBJ
                self.unknown_variable(e.name, e.span)
                return ERROR_TYPE
            self.bindings[id(e)] = loc
            return loc.type
        if isinstance(e, ast.StrLit):
            return STR
        if isinstance(e, (ast.NullLit, ast.OidLit)):
            return OBJ
        if isinstance(e, ast.GetAttr):
            self.expect_obj(e.obj)
            d = self.mc.lookup(e.attr, _attr_span(e.obj, e.attr, e.span), ("attribute",), "attribute")
            if d is None:
                return ERROR_TYPE
            self.refs[id(e)] = d
            return d.type or VALUE
        if isinstance(e, ast.Index):
            self.expect_obj(e.obj)
            self.expect(e.index, self.expr(e.index), INT, "a component index")
            return VALUE
        if isinstance(e, ast.Send):
            return self.send(e, allow_void)
        if isinstance(e, ast.New):
            return self.new(e)
        if isinstance(e, ast.IntLit):
            return INT
        if isinstance(e, ast.FloatLit):
            return FLOAT
        if isinstance(e, ast.BoolLit):
            return BOOL
        if isinstance(e, ast.Call):
            t = self.call(e)
            if t == VOID and not allow_void:
                self.diags.error(f"`{e.func}` returns no value, so its call cannot be used in an expression",
                                 e.span)
                return ERROR_TYPE
            return t
        if isinstance(e, ast.Unary):
            t = self.expr(e.operand)
            if t == ERROR_TYPE:
                return t
            if e.op == "-" and t in (INT, FLOAT):
                return t
            if e.op == "!" and t == BOOL:
                return t
            if e.op == "~" and t == INT:
                return t
            want = {"-": "int or float", "!": "bool", "~": "int"}.get(e.op, "?")
            hint = "for a bool, write `!`" if e.op == "~" and t == BOOL else \
                "for an int, write `~` (bitwise not) or `x == 0`" if e.op == "!" and t == INT else None
            self.diags.error(f"unary `{e.op}` takes {want}, not {t}", e.span, hint=hint)
            return ERROR_TYPE
        self.diags.error(f"unsupported expression {type(e).__name__}", getattr(e, "span", None))
        return ERROR_TYPE

    def send(self, e: ast.Send, allow_void: bool) -> str:
        self.expect_obj(e.obj)
        args = [self.expr(a) for a in e.args]
        d = self.mc.lookup(e.selector, _attr_span(e.obj, e.selector, e.span), ("selector",), "selector")
        if d is None:
            return ERROR_TYPE
        self.refs[id(e)] = d
        sig = d.signature
        if sig is None:
            self.diags.error(f"selector `{e.selector}` has no signature, so it cannot be sent", e.span,
                             hint=f"declare it with one: `selector {e.selector}(p: T) -> R;`",
                             notes=[Note(f"`{e.selector}` is declared here", d.span)] if d.span else [])
            return ERROR_TYPE
        if len(args) != len(sig.params):
            self.diags.error(f"`{e.selector}` takes {_count(len(sig.params), 'argument')} but {_given(len(args))}",
                             e.span, notes=[Note(f"`{e.selector}` is declared here: {sig}", d.span)] if d.span
                             else [])
        else:
            for i, (a, t, want) in enumerate(zip(e.args, args, sig.params, strict=True)):
                self.expect(a, t, want, f"argument {i + 1} of `{e.selector}`")
        if sig.ret == VOID and not allow_void:
            self.diags.error(f"`{e.selector}` returns no value, so its send cannot be used in an expression", e.span)
            return ERROR_TYPE
        return sig.ret

    def new(self, e: ast.New) -> str:
        if e.cls is not None:
            sp = e.span
            cls_span = ast.Span(sp.file, sp.line, sp.col + 4, sp.line, sp.col + 4 + len(e.cls)) if sp else None
            d = self.mc.lookup(e.cls, cls_span, ("class",), "class")
            if d is not None:
                self.refs[id(e)] = d
        elif e.cls_expr is not None:
            self.expect_obj(e.cls_expr)
        seen: dict[str, ast.NewField] = {}
        for f in e.fields:
            t = self.expr(f.value)
            fsp = f.span
            name_span = ast.Span(fsp.file, fsp.line, fsp.col, fsp.line, fsp.col + len(f.attr)) if fsp else None
            d = self.mc.lookup(f.attr, name_span, ("attribute",), "attribute")
            if f.attr in seen:
                self.diags.error(f"attribute `{f.attr}` is set twice", name_span,
                                 notes=[Note("first set here", seen[f.attr].span)])
            seen[f.attr] = f
            if d is not None:
                self.refs[id(f)] = d
                self.expect(f.value, t, d.type or VALUE, f"the value of attribute `{f.attr}`")
        return OBJ

    def binary(self, e: ast.Binary, lt: str, rt: str) -> str:
        op = e.op
        if ERROR_TYPE in (lt, rt):
            return ERROR_TYPE
        if op in _EQUALITY and VALUE in (lt, rt) and {lt, rt} <= {VALUE, *BOXABLE}:
            return BOOL  # the other side is boxed; compared like RefPerSys
        if lt == rt == STR and op in _ORDER | _EQUALITY:
            return BOOL
        if lt == rt == STR and op == "+":
            return STR
        if lt == rt and lt in (OBJ, VALUE) and op in _EQUALITY:
            return BOOL
        if op in _LOGIC:
            if lt == BOOL and rt == BOOL:
                return BOOL
            bad = e.left if lt != BOOL else e.right
            self.diags.error(f"`{op}` takes bool operands, not {lt} and {rt}", bad.span,
                             hint=f"compare explicitly, e.g. `{_show(bad)} != 0`" if self.types.get(id(bad)) == INT
                             else None)
            return BOOL
        if lt != rt:
            self.diags.error(f"mismatched types {lt} and {rt} for `{op}`", e.span,
                             hint=_mismatch_hint(e, lt, rt))
            return BOOL if op in _ORDER | _EQUALITY else ERROR_TYPE
        t = lt
        if op in _ARITH:
            if t in (INT, FLOAT):
                return t
        elif op in _INT_ONLY:
            if t == INT:
                return t
            if t == FLOAT and op == "%":
                self.diags.error("`%` takes int operands, not float", e.span,
                                 hint="the remainder of floats is not a builtin; compute `a - b * float(int(a / b))`")
                return ERROR_TYPE
        elif op in _BITWISE:
            if t in (INT, BOOL):
                return t
        elif op in _ORDER:
            if t in (INT, FLOAT):
                return BOOL
        elif op in _EQUALITY:
            return BOOL
        allowed = {"+": "int or float", "-": "int or float", "*": "int or float", "/": "int or float",
                   "%": "int", "<<": "int", ">>": "int", "&": "int or bool", "^": "int or bool",
                   "|": "int or bool", "<": "int or float", "<=": "int or float", ">": "int or float",
                   ">=": "int or float"}[op]
        hint = "for bools, write `&&`, `||` or `!=`" if t == BOOL and op in _ARITH else None
        self.diags.error(f"`{op}` takes {allowed} operands, not {t}", e.span, hint=hint)
        return BOOL if op in _ORDER else ERROR_TYPE

    def call(self, e: ast.Call) -> str:
        args = [self.expr(a) for a in e.args]
        if e.func in BUILTIN_FUNCTIONS:  # builtins win in call position (no function may take their names)
            self.callees[id(e)] = _BUILTIN_DEFS[e.func]
            return self.builtin(e, args)
        if e.func in LIBRARY_FUNCTIONS and self.find(e.func) is None and \
                (self.mc.scope.get(e.func) is None or self.mc.scope[e.func].kind != "function"):
            self.callees[id(e)] = _BUILTIN_DEFS[e.func]
            return self.library(e, args)
        if self.find(e.func) is not None and e.func not in self.mc.scope:
            self.diags.error(f"`{e.func}` is a variable, not a function", _name_span(e))
            return ERROR_TYPE
        d = self.mc.scope.get(e.func)
        if d is None:
            pool = [n for n, x in self.mc.scope.items() if x.kind == "function"] + list(BUILTIN_FUNCTIONS)
            self.diags.error(f"unknown function `{e.func}`", _name_span(e), hint=_did_you_mean(e.func, pool))
            return ERROR_TYPE
        if d.kind == "<ambiguous>":
            self.diags.error(f"`{e.func}` is ambiguous: it is defined by {d.module}", e.span)
            return ERROR_TYPE
        if d.kind == "extension_point":
            self.diags.error(f"`{e.func}` is an extension point; functions cannot call extension points in this "
                             "version", e.span, hint="the host dispatches extension points")
            return ERROR_TYPE
        if d.kind != "function" or d.signature is None:
            self.diags.error(f"`{e.func}` is {_kind_text(d)}, not a function", e.span,
                             notes=[Note(f"`{e.func}` is defined here", d.span)] if d.span else [])
            return ERROR_TYPE
        self.callees[id(e)] = d
        sig = d.signature
        if len(args) != len(sig.params):
            self.diags.error(f"`{e.func}` takes {_count(len(sig.params), 'argument')} but "
                             f"{_given(len(args))}", e.span,
                             notes=[Note(f"`{e.func}` is declared here: {sig}", d.span)] if d.span else [])
        else:
            for i, (a, t, want) in enumerate(zip(e.args, args, sig.params, strict=True)):
                self.expect(a, t, want, f"argument {i + 1} of `{e.func}`")
        return sig.ret if sig.ret in VALUE_TYPES + (VOID,) else ERROR_TYPE

    def library(self, e: ast.Call, args: list[str]) -> str:
        """A version-2 builtin on the heap or of the runtime library."""
        name = e.func
        params, ret = LIBRARY_FUNCTIONS[name]
        if len(args) != len(params):
            self.diags.error(f"`{name}` takes {_count(len(params), 'argument')} but {_given(len(args))}", e.span)
            return ERROR_TYPE if ret == VOID else ret
        if name == "len":
            if args[0] not in (STR, OBJ, ERROR_TYPE):
                self.diags.error(f"`len` takes a str or an obj, not {args[0]}", e.args[0].span)
            return INT
        if name == "str" and args[0] in (INT, FLOAT, STR):
            return STR
        if name in ("has", "remove") and isinstance(e.args[1], ast.Name) and id(e.args[1]) in self.refs:
            d = self.refs[id(e.args[1])]
            if d.kind != "attribute":
                self.diags.error(f"`{d.name}` is {_kind_text(d)}, not an attribute", e.args[1].span)
        for i, (a, t, want) in enumerate(zip(e.args, args, params, strict=True)):
            self.expect(a, t, want, f"argument {i + 1} of `{name}`")
        return ret

    def builtin(self, e: ast.Call, args: list[str]) -> str:
        name = e.func
        arity = BUILTIN_FUNCTIONS[name]
        if len(args) != arity:
            self.diags.error(f"`{name}` takes {_count(arity, 'argument')} but {_given(len(args))}", e.span)
            return ERROR_TYPE
        if ERROR_TYPE in args:
            return {"float": FLOAT, "int": INT, "sqrt": FLOAT}.get(name, ERROR_TYPE)
        if name in ("float", "int") and args[0] == VALUE:
            return FLOAT if name == "float" else INT  # unboxing: checks the kind at run time
        if name == "float":
            if args[0] == INT:
                return FLOAT
            self.diags.error(f"`float()` converts an int, not {args[0]}", e.args[0].span,
                             hint="it is already a float" if args[0] == FLOAT else None)
            return FLOAT
        if name == "int":
            if args[0] == FLOAT:
                return INT
            self.diags.error(f"`int()` converts a float, not {args[0]}", e.args[0].span,
                             hint="it is already an int" if args[0] == INT else None)
            return INT
        if name == "sqrt":
            if args[0] == FLOAT:
                return FLOAT
            self.diags.error(f"`sqrt` takes a float, not {args[0]}", e.args[0].span,
                             hint=_conversion_hint(e.args[0], args[0], FLOAT))
            return FLOAT
        if name == "abs":
            if args[0] in (INT, FLOAT):
                return args[0]
            self.diags.error(f"`abs` takes an int or a float, not {args[0]}", e.args[0].span)
            return ERROR_TYPE
        # min, max
        a, b = args
        if a in (INT, FLOAT) and a == b:
            return a
        if {a, b} == {INT, FLOAT}:
            self.diags.error(f"`{name}` takes two ints or two floats, not {a} and {b}", e.span,
                             hint=_conversion_hint(e.args[0] if a == INT else e.args[1], INT, FLOAT))
        else:
            bad = e.args[0] if a not in (INT, FLOAT) else e.args[1]
            self.diags.error(f"`{name}` takes two ints or two floats, not {a} and {b}", bad.span)
        return ERROR_TYPE


def _attr_span(obj: ast.Expr, name: str, whole: ast.Span | None) -> ast.Span | None:
    """The span of the name after `obj.` (an attribute or a selector)."""
    sp = obj.span
    if sp is None or whole is None:
        return whole
    return ast.Span(sp.file, sp.end_line, sp.end_col + 1, sp.end_line, sp.end_col + 1 + len(name))


def _name_span(call: ast.Call) -> ast.Span | None:
    """The span of the called name (a call's span starts with it)."""
    sp = call.span
    if sp is None:
        return None
    return ast.Span(sp.file, sp.line, sp.col, sp.line, sp.col + len(call.func))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _given(n: int) -> str:
    return f"{n} {'was' if n == 1 else 'were'} given"


def _show(e: ast.Expr) -> str:
    from rpsc.frontend.printer import print_expr

    try:
        text = print_expr(e)
    except (ValueError, RecursionError):
        return "..."
    return text if len(text) <= 40 else "..."


def _conversion_hint(e: ast.Expr, got: str, want: str) -> str | None:
    if got == INT and want == FLOAT:
        if isinstance(e, ast.IntLit):
            return f"write `{e.value}.0`, or `float({_show(e)})`"
        return f"convert it: `float({_show(e)})`"
    if got == FLOAT and want == INT:
        return f"convert it (truncating toward zero): `int({_show(e)})`"
    if got == INT and want == BOOL:
        return f"compare explicitly: `{_show(e)} != 0`"
    return None


def _mismatch_hint(e: ast.Binary, lt: str, rt: str) -> str | None:
    if {lt, rt} == {INT, FLOAT}:
        side = e.left if lt == INT else e.right
        if isinstance(side, ast.IntLit):
            return f"no implicit conversions: write `float({side.value})` or `{side.value}.0`"
        return f"no implicit conversions: write `float({_show(side)})`"
    if STR in (lt, rt) and {lt, rt} & {INT, FLOAT} and e.op == "+":
        side = e.left if lt != STR else e.right
        return f"convert it to text first: `str({_show(side)})`"
    if BOOL in (lt, rt) and {lt, rt} & {INT, FLOAT}:
        return "bools are not numbers: compare the number with `!= 0`, or branch on the bool"
    return None
