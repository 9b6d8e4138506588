"""Decoding: code stored in a heap (function, extension point and module objects) -> `rpsc.frontend.ast`.

The inverse of `rpsc.heapcode.encode`: `decode_function(fn_obj, cc)` gives the `ast.FnDecl` that was lowered
(spans included, so trap locations and diagnostics survive the store) and `decode_module(mod_obj, cc)` the
whole `ast.Module`; `decode_resolved(fn_obj, cc)` adds the resolution the checker stored with the body (local
slots, variable types, callee objects), which is what IR construction reads. Both encodings are read: the
closures rpsc writes and the instances of rpsc 0.1.0 (without a resolution: see `rpsc.heapcode.migrate`).
A malformed body raises `rpsrt.StoreError` naming the object.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from rpsrt.errors import StoreError
from rpsrt.model.objects import RpsObject
from rpsrt.model.values import Value

from rpsc.frontend import ast
from rpsc.heapcode.classes import NODE_CLASS, CodeClasses, dec_float, dec_int, dec_str, parts

_NODE_TYPES: dict[str, type] = {cls_name: getattr(ast, kind) for kind, cls_name in NODE_CLASS.items()}
_T = TypeVar("_T")


@dataclass(slots=True)
class Resolution:
    """What the checker resolved in one stored body, keyed by the identity of the decoded nodes:
    `slot_of[id(node)]` for `Name`, `VarStmt`, `AssignStmt`, `ForStmt` (parameters are slots 0..n-1),
    `type_of_var[id(VarStmt)]` ("int", "float", "bool"), `callee_of[id(Call)]` (the `code_function` object,
    None for a builtin). `complete` is False for a body without one (rpsc 0.1.0)."""

    slot_of: dict[int, int] = field(default_factory=dict)
    type_of_var: dict[int, str] = field(default_factory=dict)
    callee_of: dict[int, RpsObject | None] = field(default_factory=dict)
    complete: bool = True
    #: version 2: the object a node refers to (a `Name` of a module-level object, the attribute of a
    #: `GetAttr`/`SetAttrStmt`/`NewField`, the selector of a `Send`, the class of a `New` by name; None for
    #: a `New` of a class expression)
    object_of: dict[int, RpsObject | None] = field(default_factory=dict)
    #: version 2: the declared type of the attribute of a `GetAttr`/`SetAttrStmt`/`NewField` ("value" when
    #: untyped), and `(ret, params)` of the selector of a `Send`
    attr_type: dict[int, str] = field(default_factory=dict)
    send_sig: dict[int, tuple[str, tuple[str, ...]]] = field(default_factory=dict)


class _Decoder:
    def __init__(self, cc: CodeClasses, file: str, owner: RpsObject) -> None:
        self.cc = cc
        self.file = file
        self.owner = owner
        self.kinds = {id(o): k for k, o in cc.cls.items()}
        self.res = Resolution()

    def fail(self, what: str) -> StoreError:
        return StoreError(f"malformed stored code: {what}", oid=str(self.owner.oid))

    def str(self, v: Value) -> Any:
        try:
            return dec_str(self.cc, v)
        except ValueError as exc:
            raise self.fail(str(exc)) from None

    def span(self, comps: tuple[Value, ...]) -> ast.Span | None:
        line, col, el, ec = comps[:4]
        if not all(isinstance(x, int) for x in (line, col, el, ec)):
            raise self.fail("bad span")
        if line == 0 and col == 0:
            return None
        return ast.Span(self.file, line, col, el, ec)  # type: ignore[arg-type]

    def parts(self, v: Value) -> tuple[str, tuple[Value, ...]]:
        p = parts(v)
        if p is None:
            raise self.fail(f"expected a piece of code, got {v!r}")
        k = self.kinds.get(id(p[0]))
        if k is None:
            raise self.fail(f"code of unknown class {p[0].oid}")
        return k, p[1]

    def kind(self, v: Value) -> str:
        return self.parts(v)[0]

    def slot(self, node: Any, v: Value) -> None:
        if isinstance(v, int) and not isinstance(v, bool):
            self.res.slot_of[id(node)] = v
        else:
            self.res.complete = False

    def node(self, v: Value) -> Any:
        k, comps = self.parts(v)
        typ = _NODE_TYPES.get(k)
        if typ is None:
            raise self.fail(f"{k} is not an AST node")
        if len(comps) < 4:
            raise self.fail(f"{k} without a span")
        span = self.span(comps)
        rest = list(comps[4:])
        cc = self.cc
        try:
            if typ is ast.IntLit:
                return ast.IntLit(dec_int(cc, rest[0]), span)
            if typ is ast.FloatLit:
                return ast.FloatLit(dec_float(cc, rest[0]), span)
            if typ is ast.BoolLit:
                return ast.BoolLit(bool(rest[0]), span)
            if typ is ast.StrLit:
                return ast.StrLit(self.str(rest[0]), span)
            if typ is ast.NullLit:
                return ast.NullLit(span)
            if typ is ast.OidLit:
                return ast.OidLit(self.str(rest[0]), span)
            if typ is ast.Name and len(rest) > 2 and rest[1] is None:
                n = ast.Name(self.str(rest[0]), span)
                self.res.object_of[id(n)] = self.obj(rest[2])
                return n
            if typ is ast.GetAttr:
                n = ast.GetAttr(self.node(rest[0]), self.str(rest[1]), span)
                self.res.object_of[id(n)] = self.obj(rest[2])
                self.res.attr_type[id(n)] = str(rest[3])
                return n
            if typ is ast.SetAttrStmt:
                n = ast.SetAttrStmt(self.node(rest[0]), self.str(rest[1]), self.node(rest[2]), span)
                self.res.object_of[id(n)] = self.obj(rest[3])
                self.res.attr_type[id(n)] = str(rest[4])
                return n
            if typ is ast.Send:
                n = ast.Send(self.node(rest[0]), self.str(rest[1]), tuple(self.node(a) for a in rest[5:]), span)
                self.res.object_of[id(n)] = self.obj(rest[2])
                params = tuple(str(rest[4]).split(",")) if rest[4] else ()
                self.res.send_sig[id(n)] = (str(rest[3]), params)
                return n
            if typ is ast.New:
                n = ast.New(self.str(rest[0]), self.node(rest[1]) if rest[1] is not None else None,
                            tuple(self.node(f) for f in rest[3:]), span)
                self.res.object_of[id(n)] = rest[2] if isinstance(rest[2], RpsObject) else None
                return n
            if typ is ast.NewField:
                n = ast.NewField(self.str(rest[0]), self.node(rest[1]), span)
                self.res.object_of[id(n)] = self.obj(rest[2])
                self.res.attr_type[id(n)] = str(rest[3])
                return n
            if typ is ast.Call:
                call = ast.Call(self.str(rest[0]), tuple(self.node(a) for a in rest[2:]), span)
                callee = rest[1]
                self.res.callee_of[id(call)] = callee if isinstance(callee, RpsObject) else None
                return call
            fields = [f for f in dataclasses.fields(typ) if f.name != "span"]
            args: list[Any] = []
            for i, f in enumerate(fields):
                if "tuple" in str(f.type):
                    args.append(tuple(self.node(x) for x in rest[i:]))
                    break
                x = rest[i]
                if x is None or isinstance(x, (str, int)) or self.kind(x) == "code_string":
                    args.append(self.str(x) if not isinstance(x, int) else x)
                else:
                    args.append(self.node(x))
            n = typ(*args, span=span)
            if typ is ast.Name:
                self.slot(n, rest[1] if len(rest) > 1 else None)
            elif typ is ast.VarStmt:
                self.slot(n, rest[3] if len(rest) > 3 else None)
                t = rest[4] if len(rest) > 4 else None
                if isinstance(t, str):
                    self.res.type_of_var[id(n)] = t
                else:
                    self.res.complete = False
            elif typ is ast.AssignStmt:
                self.slot(n, rest[2] if len(rest) > 2 else None)
            elif typ is ast.ForStmt:
                self.slot(n, rest[4] if len(rest) > 4 else None)
            return n
        except (IndexError, TypeError, ValueError) as exc:
            raise self.fail(f"{k}: {exc}") from None

    def obj(self, v: Value) -> RpsObject:
        if not isinstance(v, RpsObject):
            raise self.fail(f"expected an object reference, got {v!r}")
        return v

    def params(self, sig: Value) -> tuple[tuple[ast.Param, ...], str]:
        if sig is None or parts(sig) is None or self.kind(sig) != "code_signature":
            raise self.fail("missing signature")
        _k, comps = self.parts(sig)
        ret = comps[0]
        ps = []
        for p in comps[1:]:
            k, pc = self.parts(p)
            if k != "ast_param":
                raise self.fail("bad parameter")
            ps.append(ast.Param(self.str(pc[4]), pc[5], self.span(pc)))  # type: ignore[arg-type]
        return tuple(ps), ret  # type: ignore[return-value]


#: What damaged stored code raises when a part is missing or of the wrong kind, beside the decoder's own checks.
_DAMAGE = (IndexError, KeyError, TypeError, ValueError, AttributeError, AssertionError)


def checked(decode: Callable[..., _T]) -> Callable[..., _T]:
    """Make a decoder of one stored object refuse damaged code with a located `StoreError` naming the object
    (`malformed stored code: ...`), whichever part is missing or of the wrong kind: stored code is input."""

    @functools.wraps(decode)
    def run(obj: RpsObject, *args: Any, **kwargs: Any) -> _T:
        try:
            return decode(obj, *args, **kwargs)
        except StoreError:
            raise
        except _DAMAGE:
            raise StoreError("malformed stored code: a part is missing or of the wrong kind",
                             oid=str(getattr(obj, "oid", "?"))) from None

    return run


@checked
def source_of(obj: RpsObject, cc: CodeClasses) -> ast.Span | None:
    """The `source` attribute of a function or extension point as a Span."""
    src = parts(obj.attrs.get(cc.attr["source"]))
    if src is None or len(src[1]) < 5:
        return None
    file, line, col, el, ec = src[1][:5]
    return ast.Span(dec_str(cc, file), line, col, el, ec)  # type: ignore[arg-type]


@checked
def decode_function(fn: RpsObject, cc: CodeClasses) -> ast.FnDecl:
    """The `ast.FnDecl` stored in a `code_function` object (its OID text as `oid` only when written so)."""
    return decode_resolved(fn, cc)[0]


@checked
def decode_resolved(fn: RpsObject, cc: CodeClasses) -> tuple[ast.FnDecl, Resolution]:
    """The `ast.FnDecl` stored in a `code_function` object and the resolution stored with its body."""
    span = source_of(fn, cc)
    dec = _Decoder(cc, span.file if span else "", fn)
    name = fn.attrs.get(cc.name)
    if not isinstance(name, str):
        raise dec.fail("function without a name")
    params, ret = dec.params(fn.attrs.get(cc.attr["signature"]))
    body = dec.node(fn.attrs.get(cc.attr["body"]))
    if not isinstance(body, ast.Block):
        raise dec.fail("function body is not a block")
    return ast.FnDecl(name, params, ret, body, None, span), dec.res


@checked
def decode_extension_point(ep: RpsObject, cc: CodeClasses) -> ast.ExtensionPointDecl:
    span = source_of(ep, cc)
    dec = _Decoder(cc, span.file if span else "", ep)
    params, ret = dec.params(ep.attrs.get(cc.attr["signature"]))
    mode = ep.attrs.get(cc.attr["dispatch_mode"])
    return ast.ExtensionPointDecl(ep.attrs.get(cc.name), params, ret, mode, None, span)  # type: ignore[arg-type]


def _value(dec: _Decoder, v: Value) -> Any:
    k, comps = dec.parts(v)
    if k != "code_value":
        raise dec.fail("bad data value")
    span = dec.span(comps)
    kind, rest = comps[4], comps[5:]
    cc = dec.cc
    if kind == "int":
        return ast.IntValue(dec_int(cc, rest[0]), span)
    if kind == "float":
        return ast.FloatValue(dec_float(cc, rest[0]), span)
    if kind == "string":
        return ast.StringValue(dec.str(rest[0]), span)
    if kind == "null":
        return ast.NullValue(span)
    if kind == "name":
        return ast.NameValue(dec.str(rest[0]), span)
    if kind == "set":
        return ast.SetValue(tuple(_value(dec, x) for x in rest), span)
    if kind == "tuple":
        return ast.TupleValue(tuple(_value(dec, x) for x in rest), span)
    if kind == "field":
        return ast.FieldInit(dec.str(rest[0]), _value(dec, rest[1]), span)
    raise dec.fail(f"unknown value kind {kind!r}")


def _sequence(dec: _Decoder, v: Value) -> tuple[Value, ...]:
    if v is None:
        return ()
    k, comps = dec.parts(v)
    if k != "code_sequence":
        raise dec.fail("expected a sequence")
    return comps


@checked
def decode_module(mod: RpsObject, cc: CodeClasses) -> ast.Module:
    """The whole `ast.Module` recorded on a `code_module` object."""
    file = mod.attrs.get(cc.attr["source_file"])
    dec = _Decoder(cc, "", mod)
    dec.file = dec.str(file) or ""
    name = mod.attrs.get(cc.name)
    space_written, version_written = dec.str(mod.comps[0]), dec.str(mod.comps[1])
    mspan = dec.span(tuple(mod.comps[2:6]))
    reqs = []
    for r in _sequence(dec, mod.attrs.get(cc.attr["requires"])):
        _k, rc = dec.parts(r)
        reqs.append(ast.Requires(dec.str(rc[4]), rc[5], dec.str(rc[6]), dec.span(rc)))  # type: ignore[arg-type]
    decls: list[Any] = []
    for rec in _sequence(dec, mod.attrs.get(cc.attr["decls"])):
        k, rc = dec.parts(rec)
        if k != "code_decl":
            raise dec.fail("bad declaration record")
        span = dec.span(rc)
        kind, obj, oid, extra = rc[4], rc[5], dec.str(rc[6]), rc[7:]
        obj_name = obj.attrs.get(cc.name) if isinstance(obj, RpsObject) else None
        if kind == "class":
            decls.append(ast.ClassDecl(obj_name, dec.str(extra[0]), oid, span))  # type: ignore[arg-type]
        elif kind == "attribute":
            atype = extra[0] if extra and isinstance(extra[0], str) else None
            decls.append(ast.AttributeDecl(obj_name, oid, span, type=atype))  # type: ignore[arg-type]
        elif kind == "selector":
            assert isinstance(obj, RpsObject)
            if cc.attr["signature"] in obj.attrs:
                sparams, sret = dec.params(obj.attrs[cc.attr["signature"]])
                decls.append(ast.SelectorDecl(obj_name, oid, span, params=sparams, ret=sret))  # type: ignore[arg-type]
            else:
                decls.append(ast.SelectorDecl(obj_name, oid, span))  # type: ignore[arg-type]
        elif kind == "symbol":
            if not isinstance(obj, RpsObject):
                raise dec.fail(f"{kind} declaration without its object")
            sname = getattr(obj.payload, "name", None)
            val = _value(dec, extra[0]) if extra[0] is not None else None
            decls.append(ast.SymbolDecl(sname, val, oid, span))  # type: ignore[arg-type]
        elif kind == "object":
            fields = tuple(_value(dec, f) for f in _sequence(dec, extra[1]))
            comps = None if extra[2] is None else tuple(_value(dec, c) for c in _sequence(dec, extra[2]))
            decls.append(ast.ObjectDecl(obj_name, dec.str(extra[0]), fields, comps, oid, span))  # type: ignore[arg-type]
        elif kind == "fn":
            if not isinstance(obj, RpsObject):
                raise dec.fail(f"{kind} declaration without its object")
            fd = decode_function(obj, cc)
            decls.append(dataclasses.replace(fd, oid=oid))
        elif kind == "extension_point":
            if not isinstance(obj, RpsObject):
                raise dec.fail(f"{kind} declaration without its object")
            decls.append(dataclasses.replace(decode_extension_point(obj, cc), oid=oid))
        elif kind == "extend":
            decls.append(ast.ExtendDecl(dec.str(extra[0]), dec_int(cc, extra[1]), dec.str(extra[2]), span))  # type: ignore[arg-type]
        elif kind == "method":
            decls.append(ast.MethodDecl(dec.str(extra[0]), dec.str(extra[1]), dec.str(extra[2]), span))  # type: ignore[arg-type]
        else:
            raise dec.fail(f"unknown declaration kind {kind!r}")
    return ast.Module(name, version_written, tuple(reqs), space_written, tuple(decls), mspan)  # type: ignore[arg-type]
