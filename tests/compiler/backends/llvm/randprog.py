"""Random well-typed, terminating IR modules built with the FunctionBuilder (for differential tests).

`random_module(seed)` returns an `ir.Module` of several functions plus argument tuples to call each with.
Function k calls only functions j < k (and, for the one recursive function, itself with a decreasing
counter), loops have small constant trip counts, so every program terminates; traps come from division,
float->int conversion and recursion depth. Every operator of the IR appears, with edge constants.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from rpsc.ir import ir
from rpsc.ir.builder import FunctionBuilder, ModuleBuilder, const
from rpsc.ir.ir import BOOL, F64, I64, VOID, SourceLoc

INT_EDGES = [0, 1, -1, 2, -2, 63, 64, 65, 2**31, -(2**31), 2**62, 2**63 - 1, -(2**63), -(2**63) + 1, 7, -7, 100]
FLOAT_EDGES = [0.0, -0.0, 1.0, -1.0, 0.5, 1e300, -1e300, 1e-310, math.inf, -math.inf, math.nan,
               9.223372036854775e18, -9.223372036854775808e18, 9.223372036854775808e18, 2.5, -2.5, 3.7]
INT_OPS = ["add", "sub", "mul", "sdiv", "srem", "shl", "ashr", "and", "or", "xor"]
FLOAT_OPS = ["fadd", "fsub", "fmul", "fdiv"]
CMP_OPS = ["eq", "ne", "lt", "le", "gt", "ge"]


@dataclass(frozen=True, slots=True)
class Program:
    modules: list[ir.Module]
    calls: list[tuple[str, tuple[int | float | bool, ...]]]   # (symbol, args)

    @property
    def module(self) -> ir.Module:
        return self.modules[0]


class _Gen:
    def __init__(self, rng: random.Random, file: str) -> None:
        self.rng = rng
        self.file = file
        self.line = 0
        self.refs: list[ir.FunctionRef] = []

    def loc(self) -> SourceLoc:
        self.line += 1
        return SourceLoc(self.file, self.line, self.rng.randint(1, 40))

    def int_const(self) -> ir.Const:
        r = self.rng
        return const(r.choice(INT_EDGES) if r.random() < 0.5 else r.randint(-1000, 1000), I64)

    def float_const(self) -> ir.Const:
        r = self.rng
        return const(r.choice(FLOAT_EDGES) if r.random() < 0.5 else r.uniform(-1e4, 1e4), F64)

    def constant(self, t: ir.Type) -> ir.Const:
        if t is I64:
            return self.int_const()
        if t is F64:
            return self.float_const()
        return const(self.rng.random() < 0.5, BOOL)

    def random_arg(self, t: ir.Type) -> int | float | bool:
        v = self.constant(t).value
        return v

    # -- expressions

    def expr(self, b: FunctionBuilder, t: ir.Type, depth: int, env: list[ir.Local],
             calls: list[int]) -> ir.Operand:
        r = self.rng
        if depth <= 0 or r.random() < 0.25:
            candidates = [v for v in env if v.type is t]
            if candidates and r.random() < 0.7:
                return b.load(r.choice(candidates))
            return self.constant(t)
        d = depth - 1
        callees = [f for f in self.refs if f.ret is t]
        if callees and calls[0] > 0 and r.random() < 0.15:
            calls[0] -= 1
            callee = r.choice(callees)
            args = [self.expr(b, p, d, env, calls) for p in callee.params]
            res = b.call(callee, args, self.loc())
            assert res is not None
            return res
        if t is I64:
            k = r.random()
            if k < 0.55:
                op = r.choice(INT_OPS)
                x, y = self.expr(b, I64, d, env, calls), self.expr(b, I64, d, env, calls)
                return b.binop(op, x, y, self.loc() if op in ("sdiv", "srem") else None)
            if k < 0.7:
                return b.unop(r.choice(["neg", "bnot", "abs"]), self.expr(b, I64, d, env, calls))
            if k < 0.8:
                x, y = self.expr(b, I64, d, env, calls), self.expr(b, I64, d, env, calls)
                return b.minmax(r.choice(["min", "max"]), x, y)
            return b.fptosi(self.expr(b, F64, d, env, calls), self.loc())
        if t is F64:
            k = r.random()
            if k < 0.55:
                x, y = self.expr(b, F64, d, env, calls), self.expr(b, F64, d, env, calls)
                return b.binop(r.choice(FLOAT_OPS), x, y)
            if k < 0.7:
                return b.unop(r.choice(["fneg", "fabs", "sqrt"]), self.expr(b, F64, d, env, calls))
            if k < 0.8:
                x, y = self.expr(b, F64, d, env, calls), self.expr(b, F64, d, env, calls)
                return b.minmax(r.choice(["min", "max"]), x, y)
            return b.sitofp(self.expr(b, I64, d, env, calls))
        k = r.random()
        if k < 0.35:
            x, y = self.expr(b, I64, d, env, calls), self.expr(b, I64, d, env, calls)
            return b.icmp(r.choice(CMP_OPS), x, y)
        if k < 0.6:
            x, y = self.expr(b, F64, d, env, calls), self.expr(b, F64, d, env, calls)
            return b.fcmp(r.choice(CMP_OPS), x, y)
        if k < 0.7:
            x, y = self.expr(b, BOOL, d, env, calls), self.expr(b, BOOL, d, env, calls)
            return b.icmp(r.choice(["eq", "ne"]), x, y)
        if k < 0.9:
            x, y = self.expr(b, BOOL, d, env, calls), self.expr(b, BOOL, d, env, calls)
            return b.binop(r.choice(["and", "or", "xor"]), x, y)
        return b.not_(self.expr(b, BOOL, d, env, calls))

    # -- statements

    def stmts(self, b: FunctionBuilder, env: list[ir.Local], depth: int, loops: int, calls: list[int],
              ret: ir.Type) -> None:
        r = self.rng
        for _ in range(r.randint(1, 4)):
            if b.terminated:
                return
            k = r.random()
            if k < 0.45 or depth <= 0:
                dst = r.choice(env)
                b.store(dst, self.expr(b, dst.type, 3, env, calls))
            elif k < 0.65:
                cond = self.expr(b, BOOL, 2, env, calls)
                with b.if_else(cond) as (then, orelse):
                    with then:
                        self.stmts(b, env, depth - 1, loops, calls, ret)
                    with orelse:
                        self.stmts(b, env, depth - 1, loops, calls, ret)
            elif k < 0.8 and loops > 0:
                self.loop(b, env, depth - 1, loops - 1, calls, ret)
            elif k < 0.9:
                cond = self.expr(b, BOOL, 2, env, calls)
                with b.if_then(cond):
                    self.ret(b, ret, env, calls)
            elif calls[0] > 0 and self.refs:
                calls[0] -= 1
                callee = r.choice(self.refs)
                b.call(callee, [self.expr(b, p, 1, env, calls) for p in callee.params], self.loc())

    def loop(self, b: FunctionBuilder, env: list[ir.Local], depth: int, loops: int, calls: list[int],
             ret: ir.Type) -> None:
        """for i in 0 .. n (n small, constant), with a poll on the back-edge and an optional break."""
        n = self.rng.randint(0, 4)
        i = b.local("i", I64)
        b.store(i, const(0))
        head, body, exit_ = b.append_block("for.head"), b.append_block("for.body"), b.append_block("for.exit")
        b.br(head)
        b.position_at_end(head)
        b.cbranch(b.icmp("lt", b.load(i), const(n)), body, exit_)
        b.position_at_end(body)
        inner = [*env, i]
        # body statements must not store to i: give them env only (i is read through `inner` by exprs)
        no_calls = [0]
        self.stmts_readonly_i(b, env, inner, depth, loops, no_calls, ret)
        if not b.terminated:
            if self.rng.random() < 0.3:
                brk = b.append_block("for.cont")
                b.cbranch(self.expr(b, BOOL, 1, inner, no_calls), exit_, brk)
                b.position_at_end(brk)
            b.store(i, b.add(b.load(i), const(1)))
            b.poll(self.loc())
            b.br(head)
        b.position_at_end(exit_)

    def stmts_readonly_i(self, b: FunctionBuilder, env: list[ir.Local], inner: list[ir.Local], depth: int,
                         loops: int, calls: list[int], ret: ir.Type) -> None:
        r = self.rng
        for _ in range(r.randint(1, 3)):
            if b.terminated:
                return
            k = r.random()
            if k < 0.7 or depth <= 0:
                dst = r.choice(env)
                b.store(dst, self.expr(b, dst.type, 3, inner, calls))
            elif k < 0.85 and loops > 0:
                self.loop(b, env, depth - 1, loops - 1, calls, ret)
            else:
                with b.if_then(self.expr(b, BOOL, 2, inner, calls)):
                    self.ret(b, ret, inner, calls)

    def ret(self, b: FunctionBuilder, t: ir.Type, env: list[ir.Local], calls: list[int]) -> None:
        b.ret(None if t is VOID else self.expr(b, t, 3, env, calls))

    # -- functions

    def function(self, index: int, mb: ModuleBuilder) -> ir.Function:
        r = self.rng
        params = tuple(r.choice([I64, I64, F64, BOOL]) for _ in range(r.randint(0, 3)))
        ret = r.choice([I64, I64, F64, BOOL, VOID])
        ref = mb.function_ref(f"f{index}", params, ret)
        b = FunctionBuilder(ref, [f"p{i}" for i in range(len(params))], self.loc())
        b.position_at_end(b.append_block("entry"))
        env = list(b.params)
        for j in range(r.randint(0, 3)):
            t = r.choice([I64, F64, BOOL])
            v = b.local(f"v{j}", t)
            b.store(v, self.constant(t))
            env.append(v)
        if not any(v.type is I64 for v in env):
            v = b.local("vi", I64)
            b.store(v, self.int_const())
            env.append(v)
        self.stmts(b, env, 2, 2, [1], ret)
        if not b.terminated:
            self.ret(b, ret, env, [1])
        self.refs.append(ref)
        return b.finish()

    def recursive(self, index: int, mb: ModuleBuilder) -> ir.Function:
        """rec(n, x) = n <= 0 ? x : g(rec(n - 1, h(x))): linear recursion, depth n."""
        ref = mb.function_ref(f"rec{index}", (I64, I64), I64)
        b = FunctionBuilder(ref, ["n", "x"], self.loc())
        b.position_at_end(b.append_block("entry"))
        n, x = b.params
        with b.if_then(b.icmp("le", b.load(n), const(0))):
            b.ret(b.load(x))
        env = [x]
        arg = self.expr(b, I64, 2, env, [0])
        res = b.call(ref, [b.sub(b.load(n), const(1)), arg], self.loc())
        assert res is not None
        b.ret(b.binop(self.rng.choice(["add", "xor", "sub", "mul"]), res, self.expr(b, I64, 1, env, [0])))
        self.refs.append(ref)
        return b.finish()


def random_program(seed: int, functions: int = 8, file: str = "rand.rps", modules: int = 1) -> Program:
    """`functions` random functions (one recursive) spread round-robin over `modules` modules (so calls
    cross modules both ways), and calls covering each of them."""
    rng = random.Random(seed)
    gen = _Gen(rng, file)
    builders = [ModuleBuilder(f"rand{seed}_{i}", seed=seed, file=file) for i in range(modules)]
    fns: list[ir.Function] = []
    rec_at = rng.randrange(functions)
    for k in range(functions):
        mb = builders[k % modules]
        fn = gen.recursive(k, mb) if k == rec_at else gen.function(k, mb)
        fns.append(mb.add(fn))
    mods = [mb.finish() for mb in builders]
    calls = []
    for fn in fns:
        if fn.name.startswith("rec"):
            calls.append((fn.symbol, (rng.choice([0, 1, 5, 30, 40, 100, 10**6]), gen.random_arg(I64))))
        else:
            calls.append((fn.symbol, tuple(gen.random_arg(t) for t in fn.ref.params)))
    return Program(mods, calls)
