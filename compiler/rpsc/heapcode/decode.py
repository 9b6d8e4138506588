"""Decoding: code stored in a heap (function, extension point and module objects) -> `rpsc.frontend.ast`.

The inverse of `rpsc.heapcode.encode`: `decode_function(fn_obj, cc)` gives the `ast.FnDecl` that was lowered
(spans included, so trap locations and diagnostics survive the store) and `decode_module(mod_obj, cc)` the
whole `ast.Module`. A malformed body raises `rpsrt.StoreError` naming the object.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from rpsrt.errors import StoreError
from rpsrt.model.objects import RpsObject
from rpsrt.model.values import Value, VInstance

from rpsc.frontend import ast
from rpsc.heapcode.classes import NODE_CLASS, CodeClasses

_NODE_TYPES: dict[str, type] = {cls_name: getattr(ast, kind) for kind, cls_name in NODE_CLASS.items()}


class _Decoder:
    def __init__(self, cc: CodeClasses, file: str, owner: RpsObject) -> None:
        self.cc = cc
        self.file = file
        self.owner = owner
        self.kinds = {id(o): k for k, o in cc.cls.items()}

    def fail(self, what: str) -> StoreError:
        return StoreError(f"malformed stored code: {what}", oid=str(self.owner.oid))

    def span(self, comps: tuple[Value, ...]) -> ast.Span | None:
        line, col, el, ec = comps[:4]
        if not all(isinstance(x, int) for x in (line, col, el, ec)):
            raise self.fail("bad span")
        if line == 0 and col == 0:
            return None
        return ast.Span(self.file, line, col, el, ec)  # type: ignore[arg-type]

    def kind(self, v: Value) -> str:
        if not isinstance(v, VInstance):
            raise self.fail(f"expected a node instance, got {v!r}")
        k = self.kinds.get(id(v.cls))
        if k is None:
            raise self.fail(f"instance of unknown class {v.cls.oid}")
        return k

    def node(self, v: Value) -> Any:
        k = self.kind(v)
        assert isinstance(v, VInstance)
        typ = _NODE_TYPES.get(k)
        if typ is None:
            raise self.fail(f"{k} is not an AST node")
        comps = v.comps
        if len(comps) < 4:
            raise self.fail(f"{k} without a span")
        span = self.span(comps)
        rest = list(comps[4:])
        try:
            if typ is ast.IntLit:
                val = rest[0]
                return ast.IntLit(int(val) if isinstance(val, str) else val, span)  # type: ignore[arg-type]
            if typ is ast.FloatLit:
                return ast.FloatLit(float(rest[0]), span)  # type: ignore[arg-type]
            if typ is ast.BoolLit:
                return ast.BoolLit(bool(rest[0]), span)
            if typ is ast.Call:
                return ast.Call(rest[0], tuple(self.node(a) for a in rest[2:]), span)  # type: ignore[arg-type]
            fields = [f for f in dataclasses.fields(typ) if f.name != "span"]
            args: list[Any] = []
            for i, f in enumerate(fields):
                if "tuple" in str(f.type):
                    args.append(tuple(self.node(x) for x in rest[i:]))
                    break
                x = rest[i]
                args.append(x if x is None or isinstance(x, (str, int)) else self.node(x))
            return typ(*args, span=span)
        except (IndexError, TypeError, ValueError) as exc:
            raise self.fail(f"{k}: {exc}") from None

    def params(self, sig: Value) -> tuple[tuple[ast.Param, ...], str]:
        if not isinstance(sig, VInstance) or self.kind(sig) != "code_signature":
            raise self.fail("missing signature")
        ret = sig.comps[0]
        ps = []
        for p in sig.comps[1:]:
            if self.kind(p) != "ast_param":
                raise self.fail("bad parameter")
            assert isinstance(p, VInstance)
            ps.append(ast.Param(p.comps[4], p.comps[5], self.span(p.comps)))  # type: ignore[arg-type]
        return tuple(ps), ret  # type: ignore[return-value]


def source_of(obj: RpsObject, cc: CodeClasses) -> ast.Span | None:
    """The `source` attribute of a function or extension point as a Span."""
    src = obj.attrs.get(cc.attr["source"])
    if not isinstance(src, VInstance) or len(src.comps) < 5:
        return None
    file, line, col, el, ec = src.comps[:5]
    return ast.Span(file, line, col, el, ec)  # type: ignore[arg-type]


def _explicit(oid: Value) -> str | None:
    return oid if isinstance(oid, str) else None


def decode_function(fn: RpsObject, cc: CodeClasses) -> ast.FnDecl:
    """The `ast.FnDecl` stored in a `code_function` object (its OID text as `oid` only when written so)."""
    span = source_of(fn, cc)
    dec = _Decoder(cc, span.file if span else "", fn)
    name = fn.attrs.get(cc.name)
    if not isinstance(name, str):
        raise dec.fail("function without a name")
    params, ret = dec.params(fn.attrs.get(cc.attr["signature"]))
    body = dec.node(fn.attrs.get(cc.attr["body"]))
    if not isinstance(body, ast.Block):
        raise dec.fail("function body is not a block")
    return ast.FnDecl(name, params, ret, body, None, span)


def decode_extension_point(ep: RpsObject, cc: CodeClasses) -> ast.ExtensionPointDecl:
    span = source_of(ep, cc)
    dec = _Decoder(cc, span.file if span else "", ep)
    params, ret = dec.params(ep.attrs.get(cc.attr["signature"]))
    mode = ep.attrs.get(cc.attr["dispatch_mode"])
    return ast.ExtensionPointDecl(ep.attrs.get(cc.name), params, ret, mode, None, span)  # type: ignore[arg-type]


def _value(dec: _Decoder, v: Value) -> Any:
    if not isinstance(v, VInstance) or dec.kind(v) != "code_value":
        raise dec.fail("bad data value")
    span = dec.span(v.comps)
    kind, rest = v.comps[4], v.comps[5:]
    if kind == "int":
        return ast.IntValue(int(rest[0]), span)  # type: ignore[arg-type]
    if kind == "float":
        return ast.FloatValue(float(rest[0]), span)  # type: ignore[arg-type]
    if kind == "string":
        return ast.StringValue(rest[0], span)  # type: ignore[arg-type]
    if kind == "null":
        return ast.NullValue(span)
    if kind == "name":
        return ast.NameValue(rest[0], span)  # type: ignore[arg-type]
    if kind == "set":
        return ast.SetValue(tuple(_value(dec, x) for x in rest), span)
    if kind == "tuple":
        return ast.TupleValue(tuple(_value(dec, x) for x in rest), span)
    if kind == "field":
        return ast.FieldInit(rest[0], _value(dec, rest[1]), span)  # type: ignore[arg-type]
    raise dec.fail(f"unknown value kind {kind!r}")


def decode_module(mod: RpsObject, cc: CodeClasses) -> ast.Module:
    """The whole `ast.Module` recorded on a `code_module` object."""
    file = mod.attrs.get(cc.attr["source_file"])
    dec = _Decoder(cc, file if isinstance(file, str) else "", mod)
    name = mod.attrs.get(cc.name)
    space_written, version_written = mod.comps[0], mod.comps[1]
    mspan = dec.span(tuple(mod.comps[2:6]))
    reqs = []
    rv = mod.attrs.get(cc.attr["requires"])
    for r in rv.comps if isinstance(rv, VInstance) else ():
        assert isinstance(r, VInstance)
        reqs.append(ast.Requires(r.comps[4], r.comps[5], r.comps[6], dec.span(r.comps)))  # type: ignore[arg-type]
    decls: list[Any] = []
    dv = mod.attrs.get(cc.attr["decls"])
    for rec in dv.comps if isinstance(dv, VInstance) else ():
        if not isinstance(rec, VInstance) or dec.kind(rec) != "code_decl":
            raise dec.fail("bad declaration record")
        span = dec.span(rec.comps)
        kind, obj, oid, extra = rec.comps[4], rec.comps[5], _explicit(rec.comps[6]), rec.comps[7:]
        obj_name = obj.attrs.get(cc.name) if isinstance(obj, RpsObject) else None
        if kind == "class":
            decls.append(ast.ClassDecl(obj_name, extra[0], oid, span))  # type: ignore[arg-type]
        elif kind == "attribute":
            decls.append(ast.AttributeDecl(obj_name, oid, span))  # type: ignore[arg-type]
        elif kind == "selector":
            decls.append(ast.SelectorDecl(obj_name, oid, span))  # type: ignore[arg-type]
        elif kind == "symbol":
            assert isinstance(obj, RpsObject)
            sname = getattr(obj.payload, "name", None)
            val = _value(dec, extra[0]) if extra[0] is not None else None
            decls.append(ast.SymbolDecl(sname, val, oid, span))  # type: ignore[arg-type]
        elif kind == "object":
            fields_v, comps_v = extra[1], extra[2]
            fields = tuple(_value(dec, f) for f in fields_v.comps) if isinstance(fields_v, VInstance) else ()
            comps = tuple(_value(dec, c) for c in comps_v.comps) if isinstance(comps_v, VInstance) else None
            decls.append(ast.ObjectDecl(obj_name, extra[0], fields, comps, oid, span))  # type: ignore[arg-type]
        elif kind == "fn":
            assert isinstance(obj, RpsObject)
            fd = decode_function(obj, cc)
            decls.append(dataclasses.replace(fd, oid=oid))
        elif kind == "extension_point":
            assert isinstance(obj, RpsObject)
            decls.append(dataclasses.replace(decode_extension_point(obj, cc), oid=oid))
        elif kind == "extend":
            decls.append(ast.ExtendDecl(extra[0], extra[1], extra[2], span))  # type: ignore[arg-type]
        elif kind == "method":
            decls.append(ast.MethodDecl(extra[0], extra[1], extra[2], span))  # type: ignore[arg-type]
        else:
            raise dec.fail(f"unknown declaration kind {kind!r}")
    return ast.Module(name, version_written, tuple(reqs), space_written, tuple(decls), mspan)  # type: ignore[arg-type]
