"""Hypothesis strategies generating random, well-typed, terminating `.rps` modules (as `rpsc.frontend.ast`).

Reusable by every stage's tests (frontend round trips, differential testing of interpreter, JIT and C):

- `modules()` -> `ast.Module`: a module that passes `rpsc.frontend.check.check` on its own: classes,
  attributes, selectors, symbols, objects, functions, extension points, `extend` and `method` declarations.
- `function_modules()` -> `ast.Module` with only functions (module name "gen").
- `programs()` -> `Program(module, entry, args)`: a function module plus the name of one of its functions
  and arguments of the right types, ready to run.
- `arguments(signature_params)` -> a tuple of Python values for those parameter types.

Guarantees of the generated functions:
- well-typed: every operator, builtin and call gets operands of the right types; every non-void function
  ends with a `return`; `break`/`continue` only inside loops and only as the last statement of a block
  (so no statement is ever unreachable);
- terminating, with small bounded work: `for` loops run over ranges of at most 4 values
  (`for i in e .. e + k` or constant bounds); every `while` loop has its own counter, incremented first thing in
  its body (so `continue` cannot skip it), and a bound of at most 4 iterations (in its condition, or, for
  `while true`, by an `if w > k { break; }` right after the increment); functions call only functions
  defined before them, except self-recursion, which happens only in functions whose first parameter is a
  `depth: int` checked on entry (`if depth <= 0 || depth > 3 { return ...; }`) and decremented in every
  recursive call, and never inside a loop;
- every statement kind and every unary and binary operator and builtin appears with some probability.

The programs may trap: `x / 0`, `x % 0` and `int()` of a NaN, an infinity or a value out of range are part of
the semantics that every backend must reproduce. Float literals are always finite (see docs/language.md).
Names never collide with keywords, builtins or RefPerSys's well-known names.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st
from rpsc.frontend import ast

INT_MIN = -(2**63)
INT_MAX = 2**63 - 1
TYPES = ("int", "float", "bool")
INT_BINOPS = ("+", "-", "*", "/", "%", "<<", ">>", "&", "^", "|")
FLOAT_BINOPS = ("+", "-", "*", "/")
CMP_OPS = ("<", "<=", ">", ">=", "==", "!=")

_INTERESTING_INTS = (0, 1, -1, 2, 3, 7, 63, 64, 255, INT_MAX, INT_MIN, INT_MIN + 1, 2**32, -(2**31))
_INTERESTING_FLOATS = (0.0, -0.0, 1.0, -1.0, 0.5, 1e-300, 5e-324, 1e300, -1e300, 3.141592653589793, 2.5, 1e16)


@dataclass(frozen=True)
class FnSig:
    name: str
    params: tuple[ast.Param, ...]
    ret: str
    recursive: bool


@dataclass(frozen=True)
class Program:
    """A function module, the function to call, and its arguments."""

    module: ast.Module
    entry: str
    args: tuple[Any, ...]


def int_literals() -> st.SearchStrategy[int]:
    return st.one_of(st.sampled_from(_INTERESTING_INTS), st.integers(-100, 100), st.integers(INT_MIN, INT_MAX))


def float_literals() -> st.SearchStrategy[float]:
    return st.one_of(st.sampled_from(_INTERESTING_FLOATS),
                     st.floats(allow_nan=False, allow_infinity=False, width=64),
                     st.floats(-100.0, 100.0))


def arguments(params: tuple[str, ...]) -> st.SearchStrategy[tuple[Any, ...]]:
    """Python values for parameters of these types (`depth` parameters get small ints via the caller)."""
    parts: list[st.SearchStrategy[Any]] = []
    for t in params:
        if t == "int":
            parts.append(int_literals())
        elif t == "float":
            parts.append(float_literals())
        else:
            parts.append(st.booleans())
    return st.tuples(*parts)


class _Scope:
    """Variables visible while generating a function body: name -> (type, assignable)."""

    def __init__(self, params: tuple[ast.Param, ...]) -> None:
        self.frames: list[dict[str, tuple[str, bool]]] = [{p.name: (p.type, p.name != "depth") for p in params}]
        self.counter = 0

    def vars_of(self, t: str, assignable: bool = False) -> list[str]:
        seen: dict[str, tuple[str, bool]] = {}
        for frame in self.frames:
            seen.update(frame)
        return sorted(n for n, (ty, ok) in seen.items() if ty == t and (ok or not assignable))

    def fresh(self, draw: Any) -> str:
        # Reuse a short name now and then, to exercise shadowing in nested blocks.
        if draw(st.integers(0, 4)) == 0:
            for cand in ("a", "b", "x"):
                if cand not in self.frames[-1]:
                    return cand
        self.counter += 1
        return f"v{self.counter}"


class _FnGen:
    def __init__(self, draw: Any, sig: FnSig, callable_fns: list[FnSig], max_depth: int) -> None:
        self.draw = draw
        self.sig = sig
        self.fns = callable_fns  # functions defined before this one
        self.max_depth = max_depth
        self.scope = _Scope(sig.params)
        self.loop_depth = 0
        self.recursive_calls = 0
        self.may_recurse = True
        self.stmt_budget = draw(st.integers(2, 9))

    # ------------------------------------------------------------ expressions

    def expr(self, t: str, depth: int) -> ast.Expr:
        d = self.draw
        if depth <= 0 or d(st.integers(0, 3)) == 0:
            return self.leaf(t)
        if t == "int":
            choice = d(st.integers(0, 9))
            if choice <= 3:
                return ast.Binary(d(st.sampled_from(INT_BINOPS)), self.expr("int", depth - 1), self.expr("int", depth - 1))
            if choice == 4:
                return ast.Unary(d(st.sampled_from(("-", "~"))), self.expr("int", depth - 1))
            if choice == 5:
                return ast.Call("int", (self.expr("float", depth - 1),))
            if choice == 6:
                name = d(st.sampled_from(("abs", "min", "max")))
                n = 1 if name == "abs" else 2
                return ast.Call(name, tuple(self.expr("int", depth - 1) for _ in range(n)))
            call = self.call("int", depth)
            return call if call is not None else self.leaf("int")
        if t == "float":
            choice = d(st.integers(0, 9))
            if choice <= 3:
                return ast.Binary(d(st.sampled_from(FLOAT_BINOPS)), self.expr("float", depth - 1),
                                  self.expr("float", depth - 1))
            if choice == 4:
                return ast.Unary("-", self.expr("float", depth - 1))
            if choice == 5:
                return ast.Call("float", (self.expr("int", depth - 1),))
            if choice == 6:
                name = d(st.sampled_from(("abs", "min", "max", "sqrt")))
                n = 2 if name in ("min", "max") else 1
                return ast.Call(name, tuple(self.expr("float", depth - 1) for _ in range(n)))
            call = self.call("float", depth)
            return call if call is not None else self.leaf("float")
        # bool
        choice = d(st.integers(0, 9))
        if choice <= 1:
            return ast.Binary(d(st.sampled_from(("&&", "||", "&", "^", "|", "==", "!="))),
                              self.expr("bool", depth - 1), self.expr("bool", depth - 1))
        if choice == 2:
            return ast.Unary("!", self.expr("bool", depth - 1))
        if choice <= 5:
            return ast.Binary(d(st.sampled_from(CMP_OPS)), self.expr("int", depth - 1), self.expr("int", depth - 1))
        if choice <= 7:
            return ast.Binary(d(st.sampled_from(CMP_OPS)), self.expr("float", depth - 1),
                              self.expr("float", depth - 1))
        call = self.call("bool", depth)
        return call if call is not None else self.leaf("bool")

    def leaf(self, t: str) -> ast.Expr:
        d = self.draw
        names = self.scope.vars_of(t)
        if names and d(st.booleans()):
            return ast.Name(d(st.sampled_from(names)))
        if t == "int":
            v = d(int_literals())
            if d(st.integers(0, 7)) == 0:
                return ast.Unary("-", ast.IntLit(v))  # `-(5)`: a unary minus on a literal
            return ast.IntLit(v)
        if t == "float":
            f = d(float_literals())
            if d(st.integers(0, 7)) == 0:
                return ast.Unary("-", ast.FloatLit(f))
            return ast.FloatLit(f)
        return ast.BoolLit(d(st.booleans()))

    def call(self, ret: str | None, depth: int) -> ast.Call | None:
        """A call of an earlier function (or a guarded self-recursive call) returning `ret` (None: any)."""
        d = self.draw
        cands = [f for f in self.fns if ret is None or f.ret == ret]
        if (self.sig.recursive and self.may_recurse and self.loop_depth == 0 and self.recursive_calls < 2
                and (ret is None or self.sig.ret == ret) and d(st.booleans())):
            self.recursive_calls += 1
            args = [ast.Binary("-", ast.Name("depth"), ast.IntLit(1))]
            args += [self.expr(p.type, min(depth - 1, 1)) for p in self.sig.params[1:]]
            return ast.Call(self.sig.name, tuple(args))
        if not cands:
            return None
        f = d(st.sampled_from(cands))
        args = []
        for i, p in enumerate(f.params):
            if f.recursive and i == 0:
                args.append(ast.IntLit(d(st.integers(-1, 4))))
            else:
                args.append(self.expr(p.type, max(depth - 1, 0)))
        return ast.Call(f.name, tuple(args))

    # ------------------------------------------------------------ statements

    def block(self, depth: int, can_end: bool) -> ast.Block:
        self.scope.frames.append({})
        try:
            return ast.Block(tuple(self.stmts(depth, can_end, self.draw(st.integers(0, 3)))))
        finally:
            self.scope.frames.pop()

    def stmts(self, depth: int, can_end: bool, n: int) -> list[ast.Stmt]:
        out: list[ast.Stmt] = []
        for _ in range(n):
            if self.stmt_budget <= 0:
                break
            self.stmt_budget -= 1
            out.extend(self.stmt(depth))
            if out and _terminates(out[-1]):
                return out  # anything after it would be unreachable
        if can_end and self.draw(st.integers(0, 3)) == 0:
            out.append(self.terminator())
        return out

    def terminator(self) -> ast.Stmt:
        d = self.draw
        options = ["return"]
        if self.loop_depth > 0:
            options += ["break", "continue"]
        kind = d(st.sampled_from(options))
        if kind == "break":
            return ast.BreakStmt()
        if kind == "continue":
            return ast.ContinueStmt()
        return self.return_stmt()

    def return_stmt(self) -> ast.ReturnStmt:
        if self.sig.ret == "void":
            return ast.ReturnStmt(None)
        return ast.ReturnStmt(self.expr(self.sig.ret, 2))

    def stmt(self, depth: int) -> list[ast.Stmt]:
        d = self.draw
        kinds = ["var", "var", "assign", "call"]
        if depth > 0:
            kinds += ["if", "if", "while", "for", "block"]
        kind = d(st.sampled_from(kinds))
        if kind == "var":
            t = d(st.sampled_from(TYPES))
            init = self.expr(t, 2)
            name = self.scope.fresh(d)
            typed = d(st.booleans())
            self.scope.frames[-1][name] = (t, True)
            return [ast.VarStmt(name, t if typed else None, init)]
        if kind == "assign":
            t = d(st.sampled_from(TYPES))
            names = self.scope.vars_of(t, assignable=True)
            if not names:
                return self.stmt(0) if depth > 0 else []
            return [ast.AssignStmt(d(st.sampled_from(names)), self.expr(t, 2))]
        if kind == "call":
            call = self.call(None, 2)
            if call is None:
                return [ast.ExprStmt(ast.Call("abs", (self.expr("int", 1),)))]
            return [ast.ExprStmt(call)]
        if kind == "if":
            cond = self.expr("bool", 2)
            then = self.block(depth - 1, True)
            orelse: ast.Block | ast.IfStmt | None = None
            r = d(st.integers(0, 2))
            if r == 1:
                orelse = self.block(depth - 1, True)
            elif r == 2:
                orelse = ast.IfStmt(self.expr("bool", 1), self.block(depth - 1, True),
                                    self.block(depth - 1, True) if d(st.booleans()) else None)
            return [ast.IfStmt(cond, then, orelse)]
        if kind == "block":
            return [self.block(depth - 1, True)]
        if self.loop_depth >= 2:
            return []
        if kind == "while":
            counter = f"w{self.scope.counter + 1}"
            self.scope.counter += 1
            self.scope.frames[-1][counter] = ("int", False)
            bound = d(st.integers(0, 4))
            inc = ast.AssignStmt(counter, ast.Binary("+", ast.Name(counter), ast.IntLit(1)))
            head: list[ast.Stmt] = [inc]
            if d(st.integers(0, 3)) == 0:
                # `while true { w = w + 1; if w > bound { break; } ... }`
                guard: ast.Expr = ast.BoolLit(True)
                head.append(ast.IfStmt(ast.Binary(">", ast.Name(counter), ast.IntLit(bound)),
                                       ast.Block((ast.BreakStmt(),)), None))
            else:
                guard = ast.Binary("<", ast.Name(counter), ast.IntLit(bound))
                if d(st.booleans()):
                    guard = ast.Binary("&&", guard, self.expr("bool", 1))
            self.loop_depth += 1
            self.scope.frames.append({})
            try:
                body = head + self.stmts(depth - 1, True, d(st.integers(0, 3)))
            finally:
                self.scope.frames.pop()
                self.loop_depth -= 1
            return [ast.VarStmt(counter, "int" if d(st.booleans()) else None, ast.IntLit(0)),
                    ast.WhileStmt(guard, ast.Block(tuple(body)))]
        # for
        var = f"i{self.scope.counter + 1}"
        self.scope.counter += 1
        if d(st.booleans()):
            start: ast.Expr = ast.IntLit(d(st.integers(-2, 2)))
            stop: ast.Expr = ast.IntLit(d(st.integers(-2, 4)))
        else:
            start = self.expr("int", 1)
            # Expressions are pure, so `e .. e + k` runs at most k times (none when e + k wraps).
            stop = ast.Binary("+", copy.deepcopy(start), ast.IntLit(d(st.integers(0, 4))))
        self.loop_depth += 1
        self.scope.frames.append({var: ("int", False)})
        try:
            body_block = self.block(depth - 1, True)
        finally:
            self.scope.frames.pop()
            self.loop_depth -= 1
        return [ast.ForStmt(var, start, stop, body_block)]

    def body(self) -> ast.Block:
        stmts: list[ast.Stmt] = []
        if self.sig.recursive:
            guard = ast.Binary("||", ast.Binary("<=", ast.Name("depth"), ast.IntLit(0)),
                               ast.Binary(">", ast.Name("depth"), ast.IntLit(3)))
            self.may_recurse = False  # the base case must not recurse
            stmts.append(ast.IfStmt(guard, ast.Block((self.return_stmt(),)), None))
            self.may_recurse = True
        self.scope.frames.append({})
        stmts += self.stmts(self.max_depth, False, self.draw(st.integers(1, 6)))
        if stmts and _terminates(stmts[-1]):
            pass
        elif self.sig.ret != "void" or self.draw(st.booleans()):
            stmts.append(self.return_stmt())
        self.scope.frames.pop()
        return ast.Block(tuple(stmts))


def _terminates(s: ast.Stmt) -> bool:
    """Whether a statement never falls through (the checker's rule; no `while true` is generated)."""
    if isinstance(s, (ast.ReturnStmt, ast.BreakStmt, ast.ContinueStmt)):
        return True
    if isinstance(s, ast.Block):
        return bool(s.stmts) and _terminates(s.stmts[-1])
    if isinstance(s, ast.IfStmt):
        if s.orelse is None:
            return False
        return _terminates(s.then) and _terminates(s.orelse)
    return False


@st.composite
def _signature(draw: Any, name: str) -> FnSig:
    recursive = draw(st.integers(0, 3)) == 0
    n = draw(st.integers(0, 3))
    params = [ast.Param("depth", "int")] if recursive else []
    params += [ast.Param(f"p{i}", draw(st.sampled_from(TYPES))) for i in range(n)]
    ret = draw(st.sampled_from(TYPES + ("void",)))
    return FnSig(name, tuple(params), ret, recursive)


@st.composite
def functions(draw: Any, max_functions: int = 4, max_depth: int = 2) -> list[ast.FnDecl]:
    """Function definitions f0, f1, ... where each calls only earlier ones (or itself, guarded)."""
    n = draw(st.integers(1, max_functions))
    sigs: list[FnSig] = []
    out: list[ast.FnDecl] = []
    for i in range(n):
        sig = draw(_signature(f"f{i}"))
        gen = _FnGen(draw, sig, list(sigs), max_depth)
        out.append(ast.FnDecl(sig.name, sig.params, sig.ret, gen.body()))
        sigs.append(sig)
    return out


@st.composite
def function_modules(draw: Any, max_functions: int = 4, max_depth: int = 2) -> ast.Module:
    """A module "gen" with only functions."""
    fns = draw(functions(max_functions, max_depth))
    return ast.Module("gen", None, (), None, tuple(fns))


@st.composite
def programs(draw: Any, max_functions: int = 4, max_depth: int = 2) -> Program:
    """A function module, one of its functions with non-void result, and arguments for it."""
    m = draw(function_modules(max_functions, max_depth))
    fns = [d for d in m.decls if isinstance(d, ast.FnDecl)]
    entry = draw(st.sampled_from(fns))
    args: list[Any] = []
    for i, p in enumerate(entry.params):
        if i == 0 and p.name == "depth":
            args.append(draw(st.integers(-1, 4)))
        else:
            args.extend(draw(arguments((p.type,))))
    return Program(m, entry.name, tuple(args))


@st.composite
def _oids(draw: Any, used: set[str]) -> str | None:
    """An explicit OID (one time in four), never one already used in the module."""
    if draw(st.integers(0, 3)):
        return None
    from rpsrt.model.oid import MAX_HI, MAX_LO, MIN_HI, MIN_LO, Oid, OidError

    try:
        text = str(Oid(draw(st.integers(MIN_HI, MAX_HI - 1)), draw(st.integers(MIN_LO, MAX_LO - 1))))
    except OidError:  # a null hash: vanishingly rare
        return None
    if text in used:
        return None
    used.add(text)
    return text


def _strings() -> st.SearchStrategy[str]:
    return st.text(st.characters(exclude_categories=["Cs"]), max_size=12)


@st.composite
def modules(draw: Any, max_functions: int = 3) -> ast.Module:
    """A whole module that passes `check` alone: every kind of declaration, with valid references."""
    version = draw(st.one_of(st.none(), st.builds(lambda a, b, c: f"{a}.{b}.{c}", st.integers(0, 9),
                                                  st.integers(0, 20), st.integers(0, 99))))
    space = draw(st.one_of(st.none(), st.just("gspace")))
    decls: list[Any] = []
    used_oids: set[str] = set()

    def _oid() -> st.SearchStrategy[str | None]:
        return _oids(used_oids)

    classes = [f"c{i}" for i in range(draw(st.integers(0, 3)))]
    for i, c in enumerate(classes):
        sup = draw(st.sampled_from([None, "object"] + classes[:i]))
        decls.append(ast.ClassDecl(c, sup, draw(_oid())))
    attrs = [f"at{i}" for i in range(draw(st.integers(0, 3)))]
    decls += [ast.AttributeDecl(a, draw(_oid())) for a in attrs]
    sels = [f"sel{i}" for i in range(draw(st.integers(0, 2)))]
    decls += [ast.SelectorDecl(s, draw(_oid())) for s in sels]
    fns = draw(functions(max_functions, 2))
    objects = [f"o{i}" for i in range(draw(st.integers(0, 3)))]
    names = classes + attrs + sels + objects + [f.name for f in fns] + ["object", "class", "name"]

    def name_value() -> ast.NameValue:
        return ast.NameValue(draw(st.sampled_from(names)))

    def scalar() -> ast.DataValue:
        k = draw(st.integers(0, 5))
        if k == 0:
            return ast.IntValue(draw(st.integers(-(2**62), 2**62 - 1)))
        if k == 1:
            return ast.FloatValue(draw(float_literals()))
        if k == 2:
            return ast.StringValue(draw(_strings()))
        if k == 3:
            return ast.NullValue()
        return name_value()

    def obj_tuple() -> ast.TupleValue:
        return ast.TupleValue(tuple(name_value() if draw(st.integers(0, 3)) else ast.NullValue()
                                    for _ in range(draw(st.integers(0, 3)))))

    def value(nested: bool) -> ast.DataValue:
        k = draw(st.integers(0, 5))
        if k == 4:
            return ast.SetValue(tuple(name_value() for _ in range(draw(st.integers(0, 3)))))
        if k == 5:
            return obj_tuple()
        return scalar()

    for i in range(draw(st.integers(0, 2))):
        decls.append(ast.SymbolDecl(f"sym{i}", value(False) if draw(st.booleans()) else None, draw(_oid())))
    cls_pool = classes + ["object"]
    for o in objects:
        fields = tuple(ast.FieldInit(a, value(True)) for a in attrs if draw(st.booleans()))
        comps = None
        if draw(st.booleans()):
            comps = tuple(value(True) for _ in range(draw(st.integers(0, 4))))
        decls.append(ast.ObjectDecl(o, draw(st.sampled_from([None] + cls_pool)), fields, comps, draw(_oid())))
    decls += fns
    points = []
    for i, f in enumerate(fns):
        if draw(st.booleans()):
            mode = draw(st.sampled_from(("first", "all")))
            p = ast.ExtensionPointDecl(f"ep{i}", tuple(ast.Param(f"q{j}", x.type) for j, x in enumerate(f.params)),
                                       f.ret, mode, draw(_oid()))
            points.append((p, f))
            decls.append(p)
    for p, f in points:
        decls.append(ast.ExtendDecl(p.name, draw(st.integers(-(2**31), 2**31 - 1)) if draw(st.booleans()) else 0,
                                    f.name))
    if classes and sels:
        decls.append(ast.MethodDecl(draw(st.sampled_from(classes)), draw(st.sampled_from(sels)), fns[0].name))
    order = draw(st.permutations(range(len(decls))))
    decls = [decls[i] for i in order]  # definition order does not matter
    return ast.Module("genmod", version, (), space, tuple(decls))
