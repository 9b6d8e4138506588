"""IR construction: the code modules stored in a heap -> typed `ir.Module`s, built with the FunctionBuilder.

Entry: `build_ir(heap) -> list[ir.Module]` (modules ordered so that each follows those it requires, then by
name). Functions are read from the stored `code_function` objects (decoded by `rpsc.heapcode.decode`),
never from source text, with the resolution the checker stored in them: each variable is its local slot,
each call its callee object, each `var` its type; nothing is resolved by name here. Lowering rules
(docs/ir.md):

- locals: parameters first, then one slot per `var` and per `for` (the loop variable, plus a hidden
  counter and bound), named deterministically by the builder (`x`, `x.1`, ...);
- `&&`/`||` short-circuit through blocks and a bool local; `for i in a .. b` evaluates `a` and `b` once;
- every loop has one latch block holding the back-edge, which starts with `poll` at the loop's position;
- trap locations: `/` `%` at the binary expression, `int()` at the call, calls at the call, entry at `fn`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rpsc import Error
from rpsc.heapcode import nodes as ast
from rpsc.heapcode.classes import CodeClasses, dec_int, dec_str, find_code_classes, parts
from rpsc.heapcode.decode import decode_extension_point, decode_resolved
from rpsrt.model.heap import Heap
from rpsrt.model.objects import RpsObject
from rpsrt.versions import constraint_text

from rpsc.ir import ir
from rpsc.ir.builder import FunctionBuilder, const
from rpsc.ir.ir import BOOL, F64, I64, OBJ, STR, VALUE, VOID, SourceLoc, Type


class IRBuildError(Error):
    """Stored code that cannot be turned into IR (ill-typed or unresolved): a store that was not checked."""


def function_ref(fn: RpsObject, cc: CodeClasses) -> ir.FunctionRef:
    """The `FunctionRef` of a stored function: OID, `rpsfn` + OID text symbol, name, signature, module OID."""
    sig = parts(fn.attrs.get(cc.attr["signature"]))
    if sig is None:
        raise IRBuildError("function without a signature", oid=str(fn.oid))
    ret = Type.from_source(sig[1][0])  # type: ignore[arg-type]
    params = tuple(Type.from_source(parts(p)[1][5]) for p in sig[1][1:])  # type: ignore[index,arg-type]
    mod = fn.attrs.get(cc.attr["in_module"])
    name = fn.attrs.get(cc.name)
    return ir.FunctionRef(str(fn.oid), ir.symbol_of(str(fn.oid)), str(name), params, ret,
                          str(mod.oid) if isinstance(mod, RpsObject) else "")


def _loc(span: ast.Span | None, fallback: SourceLoc) -> SourceLoc:
    return SourceLoc(span.file, span.line, span.col) if span is not None else fallback


_ARITH = {"+": ("add", "fadd"), "-": ("sub", "fsub"), "*": ("mul", "fmul"), "/": ("sdiv", "fdiv"),
          "%": ("srem", None), "<<": ("shl", None), ">>": ("ashr", None), "&": ("and", None),
          "^": ("xor", None), "|": ("or", None)}
_CMP = {"<": "lt", "<=": "le", ">": "gt", ">=": "ge", "==": "eq", "!=": "ne"}

#: Version 2's library builtins with fixed types: name -> (parameter types, result type).
_LIBRARY: dict[str, tuple[tuple[Type, ...], Type]] = {
    "has": ((OBJ, OBJ), BOOL), "remove": ((OBJ, OBJ), VOID), "get": ((OBJ, OBJ), VALUE),
    "put": ((OBJ, OBJ, VALUE), VOID), "append": ((OBJ, VALUE), VOID),
    "class_of": ((OBJ,), OBJ), "is_a": ((OBJ, OBJ), BOOL), "superclass": ((OBJ,), OBJ),
    "oid": ((OBJ,), STR), "space_of": ((OBJ,), OBJ), "set_space": ((OBJ, OBJ), VOID),
    "find": ((STR,), OBJ), "make_class": ((OBJ, STR), OBJ), "make_symbol": ((STR, BOOL), OBJ),
    "symbol_value": ((OBJ,), VALUE), "set_symbol_value": ((OBJ, VALUE), VOID),
    "add_root": ((OBJ,), VOID), "remove_root": ((OBJ,), VOID), "is_root": ((OBJ,), BOOL),
    "add_constant": ((OBJ,), VOID), "remove_constant": ((OBJ,), VOID), "is_constant": ((OBJ,), BOOL),
    "set_add": ((OBJ, OBJ), VOID), "set_remove": ((OBJ, OBJ), VOID), "set_has": ((OBJ, OBJ), BOOL),
    "set_size": ((OBJ,), I64), "log": ((STR,), VOID), "fail": ((STR,), VOID),
    "is_int": ((VALUE,), BOOL), "is_float": ((VALUE,), BOOL), "is_str": ((VALUE,), BOOL),
    "is_obj": ((VALUE,), BOOL), "is_null": ((VALUE,), BOOL),
}


@dataclass(slots=True)
class _Loop:
    latch: ir.Block
    end: ir.Block


class _FnLowering:
    """One function: AST (decoded from the heap) -> ir.Function."""

    def __init__(self, decl: ast.FnDecl, res: ast.Resolution, ref: ir.FunctionRef, cc: CodeClasses,
                 space_oid: str | None = None) -> None:
        self.space_oid = space_oid
        self.decl = decl
        self.res = res
        self.ref = ref
        self.cc = cc
        self.loc = _loc(decl.span, SourceLoc("<unknown>", 0, 0))
        self.b = FunctionBuilder(ref, [p.name for p in decl.params], self.loc)
        self.slots: dict[int, ir.Local] = dict(enumerate(self.b.params))
        self.loops: list[_Loop] = []
        self.dead = False

    def fail(self, msg: str, span: ast.Span | None) -> IRBuildError:
        where = f"{span}: " if span else ""
        return IRBuildError(f"{where}{msg} (in function {self.ref.name})", oid=self.ref.oid)

    def build(self) -> ir.Function:
        b = self.b
        b.position_at_end(b.append_block("entry"))
        self.block(self.decl.body, new_scope=False)
        if not self.dead:
            if self.ref.ret is VOID:
                b.ret()
            elif self.ref.ret in ir.HEAP_TYPES:
                b.ret(ir.Const(self.ref.ret, "" if self.ref.ret is STR else None))  # type: ignore[arg-type]
            else:  # only reachable when the checker's return analysis is more precise than the CFG
                b.ret(const(0.0 if self.ref.ret is F64 else False if self.ref.ret is BOOL else 0, self.ref.ret))
        return b.finish()

    # -- statements

    def slot(self, node: object) -> int:
        slot = self.res.slot_of.get(id(node))
        if slot is None:
            raise self.fail("a variable without its resolved slot", getattr(node, "span", None))
        return slot

    def lookup(self, node: object, name: str) -> ir.Local:
        """The local a `Name` reads or an `AssignStmt` writes: the one of its stored slot."""
        local = self.slots.get(self.slot(node))
        if local is None:
            raise self.fail(f"variable `{name}` used outside its scope", getattr(node, "span", None))
        return local

    def declare(self, node: object, local: ir.Local) -> None:
        self.slots[self.slot(node)] = local

    def block(self, blk: ast.Block, new_scope: bool = True) -> None:
        for st in blk.stmts:
            if self.dead:
                break  # unreachable statements after return/break/continue
            self.stmt(st)

    def goto(self, target: ir.Block) -> None:
        if not self.dead:
            self.b.br(target)
        self.dead = True

    def enter(self, block: ir.Block) -> None:
        self.b.position_at_end(block)
        self.dead = False

    def stmt(self, st: ast.Stmt) -> None:
        b = self.b
        if isinstance(st, ast.Block):
            self.block(st)
        elif isinstance(st, ast.VarStmt):
            v = self.expr(st.init)
            declared = self.res.type_of_var.get(id(st))
            if declared is None:
                raise self.fail(f"`{st.name}` without its resolved type", st.span)
            typ = Type.from_source(declared)
            v = self.coerce(v, typ, st.init)
            if v.type is not typ:
                raise self.fail(f"`{st.name}` of type {typ} initialised with {v.type}", st.span)
            local = b.local(st.name, typ)
            b.store(local, v)
            self.declare(st, local)
        elif isinstance(st, ast.AssignStmt):
            local = self.lookup(st, st.name)
            v = self.coerce(self.expr(st.value), local.type, st.value)
            if v.type is not local.type:
                raise self.fail(f"assigning {v.type} to `{st.name}` of type {local.type}", st.span)
            b.store(local, v)
        elif isinstance(st, ast.IfStmt):
            self.if_stmt(st)
        elif isinstance(st, ast.WhileStmt):
            cond_b = b.append_block("while.cond")
            body_b = b.append_block("while.body")
            latch = b.append_block("while.latch")
            end = b.append_block("while.end")
            self.goto(cond_b)
            self.enter(cond_b)
            c = self.cond(st.cond)
            b.cbranch(c, body_b, end)
            self.enter(body_b)
            self.loops.append(_Loop(latch, end))
            self.block(st.body)
            self.loops.pop()
            self.goto(latch)
            self.enter(latch)
            b.poll(_loc(st.span, self.loc))
            self.goto(cond_b)
            self.enter(end)
        elif isinstance(st, ast.ForStmt):
            start = self.expr(st.start)
            stop = self.expr(st.stop)
            for e, v in ((st.start, start), (st.stop, stop)):
                if v.type is not I64:
                    raise self.fail(f"for bound of type {v.type}, expected int", e.span)
            ctr = b.local("for.i", I64)
            bound = b.local("for.stop", I64)
            b.store(ctr, start)
            b.store(bound, stop)
            cond_b = b.append_block("for.cond")
            body_b = b.append_block("for.body")
            latch = b.append_block("for.latch")
            end = b.append_block("for.end")
            self.goto(cond_b)
            self.enter(cond_b)
            i = b.load(ctr)
            c = b.icmp("lt", i, b.load(bound))
            b.cbranch(c, body_b, end)
            self.enter(body_b)
            var = b.local(st.var, I64)
            b.store(var, i)
            self.declare(st, var)
            self.loops.append(_Loop(latch, end))
            self.block(st.body)
            self.loops.pop()
            self.goto(latch)
            self.enter(latch)
            b.poll(_loc(st.span, self.loc))
            b.store(ctr, b.add(b.load(ctr), const(1)))
            self.goto(cond_b)
            self.enter(end)
        elif isinstance(st, ast.BreakStmt):
            if not self.loops:
                raise self.fail("`break` outside a loop", st.span)
            self.goto(self.loops[-1].end)
        elif isinstance(st, ast.ContinueStmt):
            if not self.loops:
                raise self.fail("`continue` outside a loop", st.span)
            self.goto(self.loops[-1].latch)
        elif isinstance(st, ast.ReturnStmt):
            if st.value is None:
                if self.ref.ret is not VOID:
                    raise self.fail("`return;` in a function returning a value", st.span)
                b.ret()
            else:
                v = self.coerce(self.expr(st.value), self.ref.ret, st.value)
                if v.type is not self.ref.ret:
                    raise self.fail(f"returning {v.type} from a function returning {self.ref.ret}", st.span)
                b.ret(v)
            self.dead = True
        elif isinstance(st, ast.ExprStmt):
            self.expr(st.expr, allow_void=True)
        elif isinstance(st, ast.SetAttrStmt):
            loc = _loc(st.span, self.loc)
            o = self.obj(st.obj)
            a = self.objref(self.res.object_of[id(st)], loc)
            v = self.attr_value(self.expr(st.value), self.res.attr_type[id(st)], st.value)
            b.heap("set_attr", [o, a, v], VOID, loc)
        elif isinstance(st, ast.SetIndexStmt):
            loc = _loc(st.span, self.loc)
            o = self.obj(st.obj)
            i = self.expr(st.index)
            v = self.coerce(self.expr(st.value), VALUE, st.value)
            b.heap("set_comp", [o, i, v], VOID, loc)
        else:
            raise self.fail(f"unknown statement {type(st).__name__}", getattr(st, "span", None))

    def if_stmt(self, st: ast.IfStmt) -> None:
        b = self.b
        c = self.cond(st.cond)
        then_b = b.append_block("if.then")
        else_b = b.append_block("if.else") if st.orelse is not None else None
        end = b.append_block("if.end")
        b.cbranch(c, then_b, else_b or end)
        reach_end = else_b is None
        self.enter(then_b)
        self.block(st.then)
        if not self.dead:
            reach_end = True
        self.goto(end)
        if else_b is not None:
            self.enter(else_b)
            if isinstance(st.orelse, ast.IfStmt):
                self.if_stmt(st.orelse)
            else:
                assert st.orelse is not None
                self.block(st.orelse)
            if not self.dead:
                reach_end = True
            self.goto(end)
        if reach_end:
            self.enter(end)
        else:
            self.dead = True

    # -- expressions

    def cond(self, e: ast.Expr) -> ir.Operand:
        v = self.expr(e)
        if v.type is not BOOL:
            raise self.fail(f"condition of type {v.type}, expected bool", getattr(e, "span", None))
        return v

    def expr(self, e: ast.Expr, allow_void: bool = False) -> ir.Operand:
        b = self.b
        v2 = self.v2_expr(e)
        if v2 is not None:
            return v2
        if isinstance(e, ast.IntLit):
            return const(e.value, I64)
        if isinstance(e, ast.FloatLit):
            return const(float(e.value), F64)
        if isinstance(e, ast.BoolLit):
            return const(bool(e.value), BOOL)
        if isinstance(e, ast.Name):
            return b.load(self.lookup(e, e.name))
        if isinstance(e, ast.Unary):
            v = self.expr(e.operand)
            if e.op == "-":
                return b.neg(v) if v.type is I64 else b.fneg(v) if v.type is F64 else self._bad(e, v)
            if e.op == "!":
                return b.not_(v) if v.type is BOOL else self._bad(e, v)
            if e.op == "~":
                return b.bnot(v) if v.type is I64 else self._bad(e, v)
            raise self.fail(f"unknown unary operator {e.op}", e.span)
        if isinstance(e, ast.Binary):
            return self.binary(e)
        if isinstance(e, ast.Call):
            r = self.call(e)
            if r is None:
                if not allow_void:
                    raise self.fail(f"`{e.func}` returns no value", e.span)
                return const(0)
            return r
        raise self.fail(f"unknown expression {type(e).__name__}", getattr(e, "span", None))

    # -- version 2

    def coerce(self, v: ir.Operand, want: Type, e: object = None) -> ir.Operand:
        """`v` as a `want`: itself, or boxed into a value (an int must fit 63 bits: trap `int out of range`)."""
        if v.type is want or want is not VALUE:
            return v
        loc = _loc(getattr(e, "span", None), self.loc)
        if v.type is I64:
            return self.b.heap("box_int", [v], VALUE, loc)  # type: ignore[return-value]
        if v.type in (F64, STR, OBJ):
            return self.b.heap("box", [v], VALUE, loc)  # type: ignore[return-value]
        raise self.fail(f"a {v.type} is not a value", getattr(e, "span", None))

    def attr_value(self, v: ir.Operand, typ: str, e: object) -> ir.Operand:
        """What is stored for attribute type `typ`: a value (an int checked to fit 63 bits), or a float as it
        is: `set_attr` and `new` box a float operand themselves (docs/ir.md), so native code hands the host
        the number and no boxed float crosses the boundary as a handle."""
        if v.type is F64:
            return v
        return self.coerce(v, VALUE, e)

    def obj(self, e: ast.Expr) -> ir.Operand:
        v = self.expr(e)
        if v.type is not OBJ:
            raise self.fail(f"an object expected, got {v.type}", getattr(e, "span", None))
        return v

    def objref(self, o: object, loc: SourceLoc) -> ir.Operand:
        if not isinstance(o, RpsObject):
            raise self.fail("a reference without its resolved object", None)
        return self.b.heap("objref", [], OBJ, loc, str(o.oid))  # type: ignore[return-value]

    def v2_expr(self, e: ast.Expr) -> ir.Operand | None:
        b = self.b
        loc = _loc(getattr(e, "span", None), self.loc)
        if isinstance(e, ast.StrLit):
            return ir.Const(STR, e.value)  # type: ignore[arg-type]
        if isinstance(e, ast.NullLit):
            return ir.Const(OBJ, None)  # type: ignore[arg-type]
        if isinstance(e, ast.OidLit):
            return b.heap("objref", [], OBJ, loc, e.oid)
        if isinstance(e, ast.Name) and id(e) in self.res.object_of:
            return self.objref(self.res.object_of[id(e)], loc)
        if isinstance(e, ast.GetAttr):
            o = self.obj(e.obj)
            a = self.objref(self.res.object_of[id(e)], loc)
            typ = self.res.attr_type[id(e)]
            return b.heap("get_attr", [o, a], Type.from_source(typ), loc, typ)
        if isinstance(e, ast.Index):
            o = self.obj(e.obj)
            i = self.expr(e.index)
            return b.heap("comp", [o, i], VALUE, loc)
        if isinstance(e, ast.Send):
            o = self.obj(e.obj)
            sel = self.objref(self.res.object_of[id(e)], loc)
            ret_s, params_s = self.res.send_sig[id(e)]
            params = tuple(Type.from_source(p) for p in params_s)
            args = [self.coerce(self.expr(a), t, a) for a, t in zip(e.args, params, strict=True)]
            f = b.heap("send", [o, sel], OBJ, loc)
            assert f is not None
            r = b.call_method(f, [o, *args], (OBJ, *params), Type.from_source(ret_s), loc)
            return r if r is not None else ir.Const(I64, 0)
        if isinstance(e, ast.New):
            if e.cls is not None:
                cls = self.objref(self.res.object_of[id(e)], loc)
            else:
                assert e.cls_expr is not None
                cls = self.obj(e.cls_expr)
            pairs: list[ir.Operand] = []
            for f in e.fields:
                floc = _loc(f.span, loc)
                a = self.objref(self.res.object_of[id(f)], floc)
                pairs += [a, self.attr_value(self.expr(f.value), self.res.attr_type[id(f)], f.value)]
            return b.heap("new", [cls, *pairs], OBJ, loc, self.space_oid)
        return None

    def library(self, e: ast.Call, args: list[ir.Operand], loc: SourceLoc) -> ir.Operand | None | bool:
        """A version-2 builtin (by name); False when `e` is none."""
        b = self.b
        f = e.func
        types = [a.type for a in args]
        if f in ("int", "float") and types == [VALUE]:
            return b.heap("unbox", args, I64 if f == "int" else F64, loc, f)
        if f == "str":
            if types == [I64]:
                return b.heap("str_of_int", args, STR, loc)
            if types == [F64]:
                return b.heap("str_of_float", args, STR, loc)
            if types == [STR]:
                return args[0]
            return b.heap("unbox", [self.coerce(args[0], VALUE, e)], STR, loc, "str")
        if f == "obj":
            return b.heap("unbox", [self.coerce(args[0], VALUE, e)], OBJ, loc, "obj")
        if f == "len":
            return b.heap("str_len" if types == [STR] else "length", args, I64, loc)
        sig = _LIBRARY.get(f)
        if sig is None:
            return False
        params, ret = sig
        args = [self.coerce(a, t, x) for a, t, x in zip(args, params, e.args, strict=True)]
        r = b.heap(f, args, ret, loc)
        return r

    def _bad(self, e: ast.Unary, v: ir.Operand) -> ir.Operand:
        raise self.fail(f"operator {e.op} on {v.type}", e.span)

    def binary(self, e: ast.Binary) -> ir.Operand:
        b = self.b
        if e.op in ("&&", "||"):
            left = self.cond(e.left)
            res = b.local("sc", BOOL)
            b.store(res, left)
            rhs_b = b.append_block("sc.rhs")
            end = b.append_block("sc.end")
            if e.op == "&&":
                b.cbranch(left, rhs_b, end)
            else:
                b.cbranch(left, end, rhs_b)
            self.enter(rhs_b)
            b.store(res, self.cond(e.right))
            b.br(end)
            self.enter(end)
            return b.load(res)
        lhs = self.expr(e.left)
        rhs = self.expr(e.right)
        loc = _loc(e.span, self.loc)
        if VALUE in (lhs.type, rhs.type) and e.op in ("==", "!="):
            r = b.heap("value_eq", [self.coerce(lhs, VALUE, e.left), self.coerce(rhs, VALUE, e.right)], BOOL, loc)
            return r if e.op == "==" else b.not_(r)  # type: ignore[arg-type]
        if lhs.type is OBJ and rhs.type is OBJ and e.op in ("==", "!="):
            r = b.heap("obj_eq", [lhs, rhs], BOOL, loc)
            return r if e.op == "==" else b.not_(r)  # type: ignore[arg-type]
        if lhs.type is STR and rhs.type is STR:
            if e.op == "+":
                return b.heap("str_concat", [lhs, rhs], STR, loc)  # type: ignore[return-value]
            if e.op in _CMP:
                return b.heap("str_cmp", [lhs, rhs], BOOL, loc, _CMP[e.op])  # type: ignore[return-value]
        if lhs.type is not rhs.type:
            raise self.fail(f"operands of types {lhs.type} and {rhs.type} for {e.op}", e.span)
        loc = _loc(e.span, self.loc)
        if e.op in _CMP:
            if lhs.type is F64:
                return b.fcmp(_CMP[e.op], lhs, rhs)
            if lhs.type is BOOL and e.op not in ("==", "!="):
                raise self.fail(f"operator {e.op} on bool", e.span)
            return b.icmp(_CMP[e.op], lhs, rhs)
        if e.op not in _ARITH:
            raise self.fail(f"unknown binary operator {e.op}", e.span)
        iop, fop = _ARITH[e.op]
        if lhs.type is F64:
            if fop is None:
                raise self.fail(f"operator {e.op} on float", e.span)
            return b.binop(fop, lhs, rhs)
        if lhs.type is BOOL and iop not in ("and", "or", "xor"):
            raise self.fail(f"operator {e.op} on bool", e.span)
        return b.binop(iop, lhs, rhs, loc if iop in ("sdiv", "srem") else None)

    def call(self, e: ast.Call) -> ir.Operand | None:
        b = self.b
        loc = _loc(e.span, self.loc)
        if id(e) not in self.res.callee_of:
            raise self.fail(f"call of `{e.func}` without its resolved callee", e.span)
        callee_obj = self.res.callee_of[id(e)]
        callee = function_ref(callee_obj, self.cc) if callee_obj is not None else None
        if callee is None:  # a builtin (float, int, abs, min, max, sqrt), chosen by its name
            args = [self.expr(a) for a in e.args]
            types = [a.type for a in args]
            f = e.func
            lib = self.library(e, args, loc)
            if lib is not False:
                if lib is None and not isinstance(lib, bool):
                    return None
                return lib  # type: ignore[return-value]
            if f == "float" and types == [I64]:
                return b.sitofp(args[0])
            if f == "float" and types == [F64]:
                return args[0]
            if f == "int" and types == [F64]:
                return b.fptosi(args[0], loc)
            if f == "int" and types == [I64]:
                return args[0]
            if f == "abs" and types == [I64]:
                return b.unop("abs", args[0])
            if f == "abs" and types == [F64]:
                return b.unop("fabs", args[0])
            if f == "sqrt" and types == [F64]:
                return b.unop("sqrt", args[0])
            if f in ("min", "max") and len(types) == 2 and types[0] is types[1] and types[0] in (I64, F64):
                return b.minmax(f, args[0], args[1])
            raise self.fail(f"no function `{f}` taking ({', '.join(map(str, types))})", e.span)
        args = [self.expr(a) for a in e.args]
        if len(args) == len(callee.params):
            args = [self.coerce(a, t, x) for a, t, x in zip(args, callee.params, e.args, strict=True)]
        if len(args) != len(callee.params) or any(a.type is not t for a, t in zip(args, callee.params, strict=True)):
            raise self.fail(f"call of {e.func}{callee.signature} with arguments "
                            f"({', '.join(str(a.type) for a in args)})", e.span)
        return b.call(callee, args, loc)


def build_function(fn: RpsObject, cc: CodeClasses) -> ir.Function:
    """The IR of one stored `code_function` object."""
    decl, res = decode_resolved(fn, cc)
    if not res.complete:
        raise IRBuildError("stored code without the checker's resolution (written by rpsc 0.1.0: recompile or "
                           "migrate the store with `rpsc store dump`)", oid=str(fn.oid))
    mod = fn.attrs.get(cc.attr["in_module"])
    space = mod.attrs.get(cc.attr["module_space"]) if isinstance(mod, RpsObject) else None
    space_oid = str(space.oid) if isinstance(space, RpsObject) else None
    return _FnLowering(decl, res, function_ref(fn, cc), cc, space_oid).build()


def _decl_records(mod: RpsObject, cc: CodeClasses) -> list[tuple[object, ...]]:
    seq = parts(mod.attrs.get(cc.attr["decls"]))
    out = []
    for r in seq[1] if seq is not None else ():
        p = parts(r)
        if p is not None and p[0] is cc.cls["code_decl"]:
            out.append(p[1])
    return out
def extension_point(ep: RpsObject, cc: CodeClasses) -> ir.ExtensionPoint:
    d = decode_extension_point(ep, cc)
    return ir.ExtensionPoint(str(ep.oid), d.name, tuple(Type.from_source(p.type) for p in d.params),
                             Type.from_source(d.ret), d.mode)


def build_module(mod: RpsObject, cc: CodeClasses) -> ir.Module:
    """The IR of one stored `code_module` object."""
    functions: list[ir.Function] = []
    points: list[ir.ExtensionPoint] = []
    extensions: list[ir.Extension] = []
    for rec in _decl_records(mod, cc):
        kind, obj = rec[4], rec[5]
        if kind == "fn" and isinstance(obj, RpsObject):
            functions.append(build_function(obj, cc))
        elif kind == "extension_point" and isinstance(obj, RpsObject):
            points.append(extension_point(obj, cc))
        elif kind == "extend":
            point, prio, fn = rec[10], dec_int(cc, rec[8]), rec[11]
            assert isinstance(point, RpsObject) and isinstance(fn, RpsObject)
            extensions.append(ir.Extension(extension_point(point, cc), prio, function_ref(fn, cc)))
    reqs: list[tuple[str, str | None]] = []
    for r in _requirements(mod, cc):
        op, ver = r[5], dec_str(cc, r[6])
        reqs.append((str(dec_str(cc, r[4])), constraint_text(op, ver) if op and ver else None))  # the manifest's text
    version = mod.attrs.get(cc.attr["version"])
    return ir.Module(str(mod.oid), str(mod.attrs.get(cc.name)), str(version or "0.0.0"), reqs,
                     functions, points, extensions)


def _requirements(mod: RpsObject, cc: CodeClasses) -> list[tuple[object, ...]]:
    seq = parts(mod.attrs.get(cc.attr["requires"]))
    return [p[1] for r in (seq[1] if seq is not None else ()) if (p := parts(r)) is not None]


def code_modules(heap: Heap) -> list[RpsObject]:
    """The `code_module` objects of a heap, each after the modules it requires, ties broken by name."""
    cc = find_code_classes(heap)
    if cc is None:
        return []
    mods = {}
    for obj in heap.objects.values():
        if obj.cls is cc.cls["code_module"] and isinstance(obj.attrs.get(cc.name), str):
            mods[obj.attrs[cc.name]] = obj
    out: list[RpsObject] = []
    done: set[str] = set()

    def visit(name: str, stack: tuple[str, ...]) -> None:
        if name in done or name in stack or name not in mods:
            return
        try:
            required = sorted(str(dec_str(cc, r[4])) for r in _requirements(mods[name], cc))
        except (IndexError, TypeError, ValueError, KeyError, AttributeError, AssertionError):
            raise IRBuildError(f"malformed stored code in module {name!r}: its requirements have a part missing "
                               "or of the wrong kind", oid=str(mods[name].oid)) from None
        for r in required:
            visit(r, (*stack, name))
        done.add(name)
        out.append(mods[name])

    for name in sorted(mods):
        visit(name, ())
    return out


def build_ir(heap: Heap, names: Sequence[str] | None = None) -> list[ir.Module]:
    """The typed IR of every code module stored in `heap` (or of those named), dependencies first."""
    cc = find_code_classes(heap)
    if cc is None:
        return []
    mods = code_modules(heap)
    if names is not None:
        wanted = set(names)
        mods = [m for m in mods if m.attrs.get(cc.name) in wanted]
    out = []
    for m in mods:
        try:
            out.append(build_module(m, cc))
        except (IndexError, TypeError, ValueError, KeyError, AttributeError, AssertionError):
            # a store written by something else than rpsc's lowering, or damaged by hand
            raise IRBuildError(f"malformed stored code in module {m.attrs.get(cc.name)!r}: a part is missing or "
                               "of the wrong kind", oid=str(m.oid)) from None
    return out
