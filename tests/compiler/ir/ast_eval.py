"""An independent, deliberately naive evaluator of `.rps` function ASTs (LANGUAGE.md's semantics, big-step).

Used only by tests, to check the IR interpreter against a second implementation that shares none of its
code: it walks the parsed AST directly (no heap, no IR), with Python's exact integers reduced to 64 bits
after every operation. Traps raise `rpsrt.Trap` at the same source positions the IR uses.
"""

from __future__ import annotations

import math
from typing import Any

from rpsc.frontend import ast
from rpsrt.errors import TRAP_CONVERSION, TRAP_DIVZERO, TRAP_RECURSION, Trap


def wrap(v: int) -> int:
    return ((v + 2**63) % 2**64) - 2**63


class _Return(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class AstEvaluator:
    def __init__(self, module: ast.Module, limit: int = 10_000) -> None:
        self.fns = {d.name: d for d in module.decls if isinstance(d, ast.FnDecl)}
        self.limit = limit
        self.depth = 0

    def call(self, name: str, args: list[Any]) -> Any:
        fn = self.fns[name]
        if self.depth >= self.limit:
            raise Trap(TRAP_RECURSION, name, str(fn.span))
        self.depth += 1
        try:
            env: list[dict[str, Any]] = [{p.name: a for p, a in zip(fn.params, args, strict=True)}]
            self.fn = fn
            try:
                self.block(fn.body, env, name)
            except _Return as r:
                return r.value
            return None
        finally:
            self.depth -= 1

    def block(self, b: ast.Block, env: list[dict[str, Any]], fname: str) -> None:
        env.append({})
        try:
            for s in b.stmts:
                self.stmt(s, env, fname)
        finally:
            env.pop()

    def _set(self, env: list[dict[str, Any]], name: str, v: Any) -> None:
        for sc in reversed(env):
            if name in sc:
                sc[name] = v
                return
        raise KeyError(name)

    def stmt(self, s: ast.Stmt, env: list[dict[str, Any]], f: str) -> None:
        if isinstance(s, ast.Block):
            self.block(s, env, f)
        elif isinstance(s, ast.VarStmt):
            env[-1][s.name] = self.expr(s.init, env, f)
        elif isinstance(s, ast.AssignStmt):
            self._set(env, s.name, self.expr(s.value, env, f))
        elif isinstance(s, ast.IfStmt):
            if self.expr(s.cond, env, f):
                self.block(s.then, env, f)
            elif isinstance(s.orelse, ast.IfStmt):
                self.stmt(s.orelse, env, f)
            elif s.orelse is not None:
                self.block(s.orelse, env, f)
        elif isinstance(s, ast.WhileStmt):
            while self.expr(s.cond, env, f):
                try:
                    self.block(s.body, env, f)
                except _Break:
                    break
                except _Continue:
                    continue
        elif isinstance(s, ast.ForStmt):
            i, stop = self.expr(s.start, env, f), self.expr(s.stop, env, f)
            while i < stop:
                env.append({s.var: i})
                try:
                    self.block(s.body, env, f)
                except _Break:
                    break
                except _Continue:
                    pass
                finally:
                    env.pop()
                i = wrap(i + 1)
        elif isinstance(s, ast.BreakStmt):
            raise _Break
        elif isinstance(s, ast.ContinueStmt):
            raise _Continue
        elif isinstance(s, ast.ReturnStmt):
            raise _Return(None if s.value is None else self.expr(s.value, env, f))
        elif isinstance(s, ast.ExprStmt):
            self.expr(s.expr, env, f)
        else:
            raise TypeError(s)

    def expr(self, e: ast.Expr, env: list[dict[str, Any]], f: str) -> Any:
        if isinstance(e, (ast.IntLit, ast.FloatLit, ast.BoolLit)):
            return e.value
        if isinstance(e, ast.Name):
            for sc in reversed(env):
                if e.name in sc:
                    return sc[e.name]
            raise KeyError(e.name)
        if isinstance(e, ast.Unary):
            v = self.expr(e.operand, env, f)
            if e.op == "!":
                return not v
            if e.op == "~":
                return wrap(~v)
            return wrap(-v) if isinstance(v, int) else -v
        if isinstance(e, ast.Binary):
            if e.op == "&&":
                return bool(self.expr(e.left, env, f)) and bool(self.expr(e.right, env, f))
            if e.op == "||":
                return bool(self.expr(e.left, env, f)) or bool(self.expr(e.right, env, f))
            a, b = self.expr(e.left, env, f), self.expr(e.right, env, f)
            return self.binary(e, a, b, f)
        if isinstance(e, ast.Call):
            args = [self.expr(a, env, f) for a in e.args]
            if e.func in self.fns:
                saved = self.fn
                try:
                    return self.call(e.func, args)
                finally:
                    self.fn = saved
            return self.builtin(e, args, f)
        raise TypeError(e)

    def binary(self, e: ast.Binary, a: Any, b: Any, f: str) -> Any:
        op = e.op
        if op in ("<", "<=", ">", ">=", "==", "!="):
            return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b, "==": a == b, "!=": a != b}[op]
        if isinstance(a, bool):
            return {"&": a and b, "|": a or b, "^": a != b}[op]
        if isinstance(a, float):
            if op == "/":
                if b == 0.0:
                    if a != a or a == 0.0:
                        return math.nan
                    return math.copysign(math.inf, a) * math.copysign(1.0, b)
                return a / b
            return {"+": a + b, "-": a - b, "*": a * b}[op]
        if op in ("/", "%"):
            if b == 0:
                raise Trap(TRAP_DIVZERO, f, str(e.span))
            q = abs(a) // abs(b)
            q = q if (a < 0) == (b < 0) else -q
            return wrap(q) if op == "/" else wrap(a - b * q)
        if op == "<<":
            return wrap(a << (b % 64))
        if op == ">>":
            return a >> (b % 64)
        return wrap({"+": a + b, "-": a - b, "*": a * b, "&": a & b, "|": a | b, "^": a ^ b}[op])

    def builtin(self, e: ast.Call, args: list[Any], f: str) -> Any:
        name = e.func
        if name == "float":
            return float(args[0])
        if name == "int":
            x = args[0]
            if isinstance(x, int):
                return x
            if math.isnan(x) or math.isinf(x) or not (-(2**63) <= x < 2**63):
                raise Trap(TRAP_CONVERSION, f, str(e.span))
            return int(x)
        if name == "abs":
            x = args[0]
            return wrap(abs(x)) if isinstance(x, int) else math.fabs(x)
        if name == "sqrt":
            x = args[0]
            return math.sqrt(x) if x >= 0 or math.isnan(x) else math.nan
        a, b = args
        if name == "min":
            return b if b < a else a
        return b if a < b else a
