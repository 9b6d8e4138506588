"""Lowering: checked `.rps` modules -> objects in a heap (classes, attributes, symbols, objects, code).

Entry: `lower(modules, heap) -> LoweredModules`. Every name is resolved before the heap is touched, so a
resolution error leaves the heap as it was. Re-lowering a module keeps the OIDs of the objects it defined
before (matched by module and name) and leaves an object untouched (same mtime) when its new state equals
the stored one, so that dumping an unchanged module rewrites no file. The encoding of code is described in
`rpsc.heapcode.classes` and docs/code-in-the-heap.md.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rpsrt.model import wellknown as wk
from rpsrt.model.heap import Heap
from rpsrt.model.objects import PayloadClassInfo, PayloadSymbol, RpsObject
from rpsrt.model.oid import Oid, OidError
from rpsrt.model.values import Value, VClosure, VInstance, VSet, VTuple

from rpsc.frontend import ast
from rpsc.heapcode.classes import NODE_CLASS, WELL_KNOWN, CodeClasses, ensure_code_classes
from rpsc.frontend.diagnostics import Diagnostic, DiagnosticError

BUILTINS = frozenset({"float", "int", "abs", "min", "max", "sqrt"})
#: RefPerSys ints are 63-bit: an int literal outside this range is stored as its decimal text.
INT63_MIN, INT63_MAX = -(2**62), 2**62 - 1

_DECL_KIND = {
    ast.ClassDecl: "class", ast.AttributeDecl: "attribute", ast.SelectorDecl: "selector",
    ast.SymbolDecl: "symbol", ast.ObjectDecl: "object", ast.FnDecl: "fn",
    ast.ExtensionPointDecl: "extension_point",
}


@dataclass(frozen=True, slots=True)
class LoweredModules:
    """What `lower` produced: the module objects (in the order given) and how many objects it changed."""

    modules: tuple[RpsObject, ...]
    changed: int
    created: int


# ---------------------------------------------------------------- helpers


def span4(span: ast.Span | None) -> list[int]:
    if span is None:
        return [0, 0, 0, 0]
    return [span.line, span.col, span.end_line, span.end_col]


def _error(message: str, span: ast.Span | None, hint: str | None = None) -> DiagnosticError:
    sp = span or ast.Span("<unknown>", 0, 0)
    return DiagnosticError([Diagnostic("error", message, sp, hint)])


def _did_you_mean(name: str, names: Sequence[str]) -> str | None:
    import difflib

    close = difflib.get_close_matches(name, list(names), n=1)
    return f"did you mean `{close[0]}`?" if close else None


def module_objects(heap: Heap, cc: CodeClasses) -> dict[str, RpsObject]:
    """Module name -> module object, for every code module stored in the heap."""
    out: dict[str, RpsObject] = {}
    mod_cls = cc.cls["code_module"]
    for obj in heap.objects.values():
        if obj.cls is mod_cls:
            name = obj.attrs.get(cc.name)
            if isinstance(name, str):
                out[name] = obj
    return out


def stored_definitions(module_obj: RpsObject, cc: CodeClasses) -> dict[str, tuple[str, RpsObject]]:
    """name -> (kind, object) of the definitions recorded on a stored module object."""
    out: dict[str, tuple[str, RpsObject]] = {}
    decls = module_obj.attrs.get(cc.attr["decls"])
    if not isinstance(decls, VInstance):
        return out
    for rec in decls.comps:
        if not isinstance(rec, VInstance) or rec.cls is not cc.cls["code_decl"]:
            continue
        kind, obj = rec.comps[4], rec.comps[5]
        if kind in ("extend", "method") or not isinstance(obj, RpsObject):
            continue
        name = obj.attrs.get(cc.name)
        if isinstance(obj.payload, PayloadSymbol) and kind == "symbol":
            name = obj.payload.name
        if isinstance(name, str):
            out[name] = (kind, obj)
    return out


_CHECK_KIND = {"fn": "function"}


def stored_interfaces(heap: Heap) -> dict[str, Any]:
    """The checker's `ModuleInterface` of every code module stored in `heap` (for `requires` of them)."""
    from types import MappingProxyType

    from rpsc.frontend.check import Definition, ModuleInterface, Signature

    from rpsc.heapcode.classes import find_code_classes

    cc = find_code_classes(heap)
    if cc is None:
        return {}
    out: dict[str, Any] = {}
    for mname, mobj in module_objects(heap, cc).items():
        defs: dict[str, Any] = {}
        for name, (kind, obj) in stored_definitions(mobj, cc).items():
            sig = None
            mode = None
            sv = obj.attrs.get(cc.attr["signature"])
            if isinstance(sv, VInstance):
                sig = Signature(tuple(str(p.comps[5]) for p in sv.comps[1:] if isinstance(p, VInstance)),
                                str(sv.comps[0]))
            if kind == "extension_point":
                m = obj.attrs.get(cc.attr["dispatch_mode"])
                mode = m if isinstance(m, str) else None
            defs[name] = Definition(name, _CHECK_KIND.get(kind, kind), mname, sig, mode, str(obj.oid))
        version = mobj.attrs.get(cc.attr["version"])
        out[mname] = ModuleInterface(mname, version if isinstance(version, str) else "0.0.0",
                                     MappingProxyType(defs))
    return out


def _decl_name(d: ast.Decl) -> str | None:
    return getattr(d, "name", None) if type(d) in _DECL_KIND else None


# ---------------------------------------------------------------- name resolution


@dataclass(slots=True)
class _Scope:
    """The names one module sees: its own definitions, those of the modules it requires, well-known ones."""

    module: ast.Module
    own: dict[str, ast.Decl]
    imported: dict[str, tuple[str, str | RpsObject]]  # name -> (kind, module name of the batch | object)


class _Lowering:
    def __init__(self, modules: Sequence[ast.Module], heap: Heap) -> None:
        self.heap = heap
        self.modules = list(modules)
        self.cc = ensure_code_classes(heap)
        self.stored = module_objects(heap, self.cc)
        self.batch = {m.name: m for m in self.modules}
        self.scopes: dict[str, _Scope] = {}
        self.objs: dict[tuple[str, str], RpsObject] = {}  # (module, name) -> object
        self.changed = 0
        self.created = 0
        self.now = round(time.time(), 2)
        self.new_objects: set[RpsObject] = set()
        self.mobjs: dict[str, RpsObject] = {}
        self.explicit: set[Oid] = set()

    # -- phase 1: resolution (no heap change)

    def resolve_all(self) -> None:
        seen: set[str] = set()
        for m in self.modules:
            if m.name in seen:
                raise _error(f"module `{m.name}` is given twice", m.span)
            seen.add(m.name)
        for m in self.modules:
            own: dict[str, ast.Decl] = {}
            for d in m.decls:
                n = _decl_name(d)
                if n is None:
                    continue
                if n in own:
                    raise _error(f"`{n}` is defined twice in module `{m.name}`", d.span)
                own[n] = d
            imported: dict[str, tuple[str, str | RpsObject]] = {}
            for r in m.requires:
                if r.module in self.batch:
                    for n, d in self._own_names(self.batch[r.module]).items():
                        imported.setdefault(n, (_DECL_KIND[type(d)], r.module))
                elif r.module in self.stored:
                    for n, (kind, obj) in stored_definitions(self.stored[r.module], self.cc).items():
                        imported.setdefault(n, (kind, obj))
                else:
                    raise _error(f"required module `{r.module}` is neither given nor in the store", r.span,
                                 _did_you_mean(r.module, [*self.batch, *self.stored]))
            self.scopes[m.name] = _Scope(m, own, imported)
        for m in self.modules:
            self._check_module(m)

    def _own_names(self, m: ast.Module) -> dict[str, ast.Decl]:
        return {n: d for d in m.decls if (n := _decl_name(d)) is not None}

    def _kind_of(self, scope: _Scope, name: str) -> str | None:
        if name in scope.own:
            return _DECL_KIND[type(scope.own[name])]
        if name in scope.imported:
            return scope.imported[name][0]
        if name in WELL_KNOWN:
            return "wellknown"
        return None

    def _need(self, scope: _Scope, name: str, span: ast.Span | None, kinds: tuple[str, ...], what: str) -> None:
        kind = self._kind_of(scope, name)
        if kind is None:
            names = [*scope.own, *scope.imported, *WELL_KNOWN]
            raise _error(f"unknown {what} `{name}`", span, _did_you_mean(name, names))
        if kind != "wellknown" and kind not in kinds:
            raise _error(f"`{name}` is a {kind.replace('_', ' ')}, not a {what}", span)

    def _check_value(self, scope: _Scope, v: ast.DataValue) -> None:
        if isinstance(v, ast.NameValue):
            self._need(scope, v.name, v.span, tuple(_DECL_KIND.values()), "name")
        elif isinstance(v, (ast.SetValue, ast.TupleValue)):
            for it in v.items:
                if isinstance(v, ast.TupleValue) and not isinstance(it, (ast.NameValue, ast.NullValue)):
                    raise _error("a tuple holds only objects and null", getattr(it, "span", None) or v.span)
                self._check_value(scope, it)

    def _check_module(self, m: ast.Module) -> None:
        scope = self.scopes[m.name]
        previous = stored_definitions(self.stored[m.name], self.cc) if m.name in self.stored else {}
        for d in m.decls:
            oid = getattr(d, "oid", None)
            if oid is not None:
                try:
                    parsed = Oid.parse(oid.lstrip("@"))
                except OidError as exc:
                    raise _error(str(exc), d.span) from None
                if parsed in self.explicit:
                    raise _error(f"object id `{oid}` is given to two definitions", d.span)
                self.explicit.add(parsed)
                existing = self.heap.get(parsed)
                mine = previous.get(_decl_name(d) or "")
                if existing is not None and (mine is None or mine[1] is not existing):
                    what = existing.attrs.get(self.cc.name)
                    raise _error(f"object id `{oid}` already belongs to "
                                 f"{f'`{what}`' if isinstance(what, str) else 'another object'} in this store",
                                 d.span)
            if isinstance(d, ast.ClassDecl) and d.superclass:
                self._need(scope, d.superclass, d.span, ("class",), "class")
            elif isinstance(d, ast.ObjectDecl):
                if d.cls:
                    self._need(scope, d.cls, d.span, ("class",), "class")
                for f in d.fields:
                    self._need(scope, f.attr, f.span, ("attribute",), "attribute")
                    self._check_value(scope, f.value)
                for v in d.comps or ():
                    self._check_value(scope, v)
            elif isinstance(d, ast.SymbolDecl) and d.value is not None:
                self._check_value(scope, d.value)
            elif isinstance(d, ast.ExtendDecl):
                self._need(scope, d.point, d.span, ("extension_point",), "extension point")
                self._need(scope, d.function, d.span, ("fn",), "function")
            elif isinstance(d, ast.MethodDecl):
                self._need(scope, d.cls, d.span, ("class",), "class")
                self._need(scope, d.selector, d.span, ("selector",), "selector")
                self._need(scope, d.function, d.span, ("fn",), "function")
            elif isinstance(d, ast.FnDecl):
                self._check_calls(scope, d.body)

    def _check_calls(self, scope: _Scope, node: Any) -> None:
        if isinstance(node, ast.Call):
            kind = self._kind_of(scope, node.func)
            if kind != "fn" and node.func not in BUILTINS:
                names = [n for n in [*scope.own, *scope.imported] if self._kind_of(scope, n) == "fn"]
                if kind is None:
                    raise _error(f"unknown function `{node.func}`", node.span,
                                 _did_you_mean(node.func, [*names, *BUILTINS]))
                raise _error(f"`{node.func}` is a {kind.replace('_', ' ')}, not a function", node.span)
        if dataclasses.is_dataclass(node):
            for f in dataclasses.fields(node):
                v = getattr(node, f.name)
                if isinstance(v, tuple):
                    for it in v:
                        self._check_calls(scope, it)
                elif dataclasses.is_dataclass(v):
                    self._check_calls(scope, v)

    # -- phase 2: objects

    def lookup(self, module: str, name: str) -> RpsObject:
        """The object a name denotes in a module (resolution was checked in phase 1)."""
        scope = self.scopes[module]
        if name in scope.own:
            return self.objs[(module, name)]
        if name in scope.imported:
            _kind, where = scope.imported[name]
            return self.objs[(where, name)] if isinstance(where, str) else where
        obj = self.heap.get(WELL_KNOWN[name])
        if obj is None:
            raise _error(f"well-known object `{name}` is not in this store", scope.module.span)
        return obj

    def allocate(self) -> None:
        for m in self.modules:
            self.mobjs[m.name] = self.stored[m.name] if m.name in self.stored else self._new(None)
            old = stored_definitions(self.stored[m.name], self.cc) if m.name in self.stored else {}
            for d in m.decls:
                n = _decl_name(d)
                if n is None:
                    continue
                oid_text = getattr(d, "oid", None)
                obj: RpsObject | None = None
                if oid_text is not None:
                    oid = Oid.parse(oid_text.lstrip("@"))
                    obj = self.heap.get(oid)
                    if obj is None:
                        obj = self._new(oid)
                elif n in old:
                    obj = old[n][1]
                else:
                    obj = self._new(None)
                self.objs[(m.name, n)] = obj

    def _new(self, oid: Oid | None) -> RpsObject:
        obj = self.heap.create(None, oid=oid, mtime=self.now)
        self.new_objects.add(obj)
        self.created += 1
        return obj

    def _set(self, obj: RpsObject, cls: RpsObject, attrs: dict[RpsObject, Value], comps: list[Value],
             payload: Any, space: RpsObject | None, keep_other_attrs: bool = True) -> None:
        """Give `obj` this state, bumping its mtime only when something differs."""
        if keep_other_attrs and obj not in self.new_objects:
            merged = {a: v for a, v in obj.attrs.items() if a not in attrs and not self._owned_attr(a)}
            merged.update(attrs)
            attrs = merged
        same = (obj.cls is cls and obj.attrs == attrs and obj.comps == comps and obj.space is space
                and _payload_eq(obj.payload, payload))
        if same and obj not in self.new_objects:
            return
        obj.cls, obj.attrs, obj.comps, obj.payload, obj.space = cls, attrs, comps, payload, space
        if obj not in self.new_objects:
            obj.mtime = self.now
            self.changed += 1

    def _owned_attr(self, a: RpsObject) -> bool:
        ca = self.cc.attr
        return a is self.cc.name or a in (ca["signature"], ca["body"], ca["source"], ca["in_module"],
                                          ca["dispatch_mode"])

    def space_for(self, name: str) -> RpsObject:
        for sp in self.heap.spaces:
            if sp.attrs.get(self.cc.name) == name and sp.oid != self.cc.space.oid:
                return sp
        sp = self.heap.create_space()
        sp.mtime = self.now
        sp.attrs[self.cc.name] = name
        self.created += 1
        return sp

    # -- phase 3: fill

    def fill(self) -> list[RpsObject]:
        cc = self.cc
        method_changes: dict[RpsObject, dict[RpsObject, VClosure | None]] = {}
        out: list[RpsObject] = []
        for m in self.modules:
            space = self.space_for(m.space or m.name)
            mobj = self.mobjs[m.name]
            self._forget_methods(mobj, method_changes)
            file = m.span.file if m.span else ""
            decl_records: list[Value] = []
            for d in m.decls:
                decl_records.append(self.fill_decl(m, d, space, mobj, method_changes))
            reqs = []
            for r in m.requires:
                req_mod = self.mobjs.get(r.module) or self.stored.get(r.module)
                reqs.append(VInstance(cc.cls["code_requirement"],
                                      comps=[*span4(r.span), r.module, r.op, r.version, req_mod]))
            attrs: dict[RpsObject, Value] = {
                cc.name: m.name,
                cc.attr["version"]: m.version if m.version is not None else "0.0.0",
                cc.attr["requires"]: VInstance(cc.cls["code_sequence"], comps=reqs),
                cc.attr["module_space"]: space,
                cc.attr["source_file"]: file,
                cc.attr["decls"]: VInstance(cc.cls["code_sequence"], comps=decl_records),
            }
            comps: list[Value] = [m.space, m.version, *span4(m.span)]
            self._set(mobj, cc.cls["code_module"], attrs, comps, None, space)
            self.heap.roots.add(mobj)
            out.append(mobj)
        self._apply_methods(method_changes)
        return out

    def _forget_methods(self, mobj: RpsObject, changes: dict[RpsObject, dict[RpsObject, VClosure | None]]) -> None:
        decls = mobj.attrs.get(self.cc.attr["decls"])
        if not isinstance(decls, VInstance):
            return
        for rec in decls.comps:
            if isinstance(rec, VInstance) and len(rec.comps) > 5 and rec.comps[4] == "method":
                cls, sel = rec.comps[10], rec.comps[11]
                if isinstance(cls, RpsObject) and isinstance(sel, RpsObject):
                    changes.setdefault(cls, {}).setdefault(sel, None)

    def _apply_methods(self, changes: dict[RpsObject, dict[RpsObject, VClosure | None]]) -> None:
        for cls, sels in changes.items():
            info = cls.payload
            if not isinstance(info, PayloadClassInfo):
                continue
            new = dict(info.methodict)
            for sel, clo in sels.items():
                if clo is None:
                    new.pop(sel, None)
                else:
                    new[sel] = clo
            if new != info.methodict:
                info.methodict = new
                if cls not in self.new_objects and cls.mtime != self.now:
                    cls.mtime = self.now
                    self.changed += 1

    def value(self, m: ast.Module, v: ast.DataValue) -> Value:
        if isinstance(v, (ast.IntValue, ast.FloatValue, ast.StringValue)):
            return v.value
        if isinstance(v, ast.NullValue):
            return None
        if isinstance(v, ast.NameValue):
            obj = self.lookup(m.name, v.name)
            if self._kind_of(self.scopes[m.name], v.name) == "fn":
                return VClosure(obj)
            return obj
        if isinstance(v, ast.SetValue):
            return VSet(self.lookup(m.name, it.name) for it in v.items)
        if isinstance(v, ast.TupleValue):
            return VTuple(None if isinstance(it, ast.NullValue) else self.lookup(m.name, it.name)  # type: ignore[union-attr]
                          for it in v.items)
        raise TypeError(v)

    def enc_value(self, v: ast.DataValue | ast.FieldInit) -> Value:
        """A data value as written (kept on the module so that it prints back as it was written)."""
        cv = self.cc.cls["code_value"]
        sp = span4(v.span)
        if isinstance(v, ast.IntValue):
            return VInstance(cv, comps=[*sp, "int", _enc_int(v.value)])
        if isinstance(v, ast.FloatValue):
            return VInstance(cv, comps=[*sp, "float", repr(v.value)])
        if isinstance(v, ast.StringValue):
            return VInstance(cv, comps=[*sp, "string", v.value])
        if isinstance(v, ast.NullValue):
            return VInstance(cv, comps=[*sp, "null"])
        if isinstance(v, ast.NameValue):
            return VInstance(cv, comps=[*sp, "name", v.name])
        if isinstance(v, ast.SetValue):
            return VInstance(cv, comps=[*sp, "set", *(self.enc_value(i) for i in v.items)])
        if isinstance(v, ast.TupleValue):
            return VInstance(cv, comps=[*sp, "tuple", *(self.enc_value(i) for i in v.items)])
        if isinstance(v, ast.FieldInit):
            return VInstance(cv, comps=[*sp, "field", v.attr, self.enc_value(v.value)])
        raise TypeError(v)

    def fill_decl(self, m: ast.Module, d: ast.Decl, space: RpsObject, mobj: RpsObject,
                  method_changes: dict[RpsObject, dict[RpsObject, VClosure | None]]) -> Value:
        cc, heap = self.cc, self.heap
        kind = _DECL_KIND.get(type(d)) or ("extend" if isinstance(d, ast.ExtendDecl) else "method")
        n = _decl_name(d)
        obj = self.objs[(m.name, n)] if n is not None else None
        explicit = getattr(d, "oid", None)
        extra: list[Value] = []
        if isinstance(d, ast.ClassDecl):
            sup = self.lookup(m.name, d.superclass or "object")
            old = obj.payload if isinstance(obj.payload, PayloadClassInfo) else None  # type: ignore[union-attr]
            symb = old.symb if old is not None and old.symb is not None else None
            if symb is None:
                symb = self._new(None)
            self._set(symb, heap[wk.SYMBOL], {}, [], PayloadSymbol(d.name, obj), space, keep_other_attrs=False)
            info = PayloadClassInfo(sup, dict(old.methodict) if old else {}, symb, d.name,
                                    old.attrset if old else None)
            if old is not None:
                info.extra = old.extra
            self._set(obj, heap[wk.CLASS], {cc.name: d.name}, [], info, space)  # type: ignore[arg-type]
            extra = [d.superclass]
        elif isinstance(d, ast.AttributeDecl):
            self._set(obj, heap[wk.NAMED_ATTRIBUTE], {cc.name: d.name}, [], None, space)  # type: ignore[arg-type]
        elif isinstance(d, ast.SelectorDecl):
            self._set(obj, heap[wk.NAMED_SELECTOR], {cc.name: d.name}, [], None, space)  # type: ignore[arg-type]
        elif isinstance(d, ast.SymbolDecl):
            val = self.value(m, d.value) if d.value is not None else None
            self._set(obj, heap[wk.SYMBOL], {}, [], PayloadSymbol(d.name, val), space)  # type: ignore[arg-type]
            extra = [self.enc_value(d.value) if d.value is not None else None]
        elif isinstance(d, ast.ObjectDecl):
            attrs: dict[RpsObject, Value] = {cc.name: d.name}
            for f in d.fields:
                attrs[self.lookup(m.name, f.attr)] = self.value(m, f.value)
            comps = [self.value(m, v) for v in d.comps] if d.comps is not None else []
            self._set(obj, self.lookup(m.name, d.cls or "object"), attrs, comps, obj.payload, space,  # type: ignore[union-attr,arg-type]
                      keep_other_attrs=False)
            extra = [d.cls, VInstance(cc.cls["code_sequence"], comps=[self.enc_value(f) for f in d.fields]),
                     None if d.comps is None else
                     VInstance(cc.cls["code_sequence"], comps=[self.enc_value(v) for v in d.comps])]
        elif isinstance(d, ast.FnDecl):
            attrs = {
                cc.name: d.name,
                cc.attr["signature"]: self.signature(d.params, d.ret),
                cc.attr["body"]: self.node(m, d.body),
                cc.attr["source"]: self.source(d.span),
                cc.attr["in_module"]: mobj,
            }
            self._set(obj, cc.cls["code_function"], attrs, [], None, space)  # type: ignore[arg-type]
        elif isinstance(d, ast.ExtensionPointDecl):
            attrs = {
                cc.name: d.name,
                cc.attr["signature"]: self.signature(d.params, d.ret),
                cc.attr["dispatch_mode"]: d.mode,
                cc.attr["source"]: self.source(d.span),
                cc.attr["in_module"]: mobj,
            }
            self._set(obj, cc.cls["extension_point"], attrs, [], None, space)  # type: ignore[arg-type]
        elif isinstance(d, ast.ExtendDecl):
            extra = [d.point, d.priority, d.function, self.lookup(m.name, d.point),
                     self.lookup(m.name, d.function)]
        elif isinstance(d, ast.MethodDecl):
            cls = self.lookup(m.name, d.cls)
            sel = self.lookup(m.name, d.selector)
            fn = self.lookup(m.name, d.function)
            extra = [d.cls, d.selector, d.function, cls, sel, fn]
            method_changes.setdefault(cls, {})[sel] = VClosure(fn)
        return VInstance(cc.cls["code_decl"], comps=[*span4(d.span), kind, obj, explicit, *extra])

    def signature(self, params: Sequence[ast.Param], ret: str) -> VInstance:
        cc = self.cc
        ps = [VInstance(cc.cls["ast_param"], comps=[*span4(p.span), p.name, p.type]) for p in params]
        return VInstance(cc.cls["code_signature"], comps=[ret, *ps])

    def source(self, span: ast.Span | None) -> VInstance:
        s = span or ast.Span("", 0, 0)
        return VInstance(self.cc.cls["code_source"], comps=[s.file, s.line, s.col, s.end_line, s.end_col])

    def node(self, m: ast.Module, n: Any) -> VInstance:
        """An AST statement or expression as a VInstance (see codeclasses' docstring for the layout)."""
        kind = type(n).__name__
        cls = self.cc.cls[NODE_CLASS[kind]]
        comps: list[Value] = span4(n.span)
        if isinstance(n, ast.IntLit):
            comps.append(_enc_int(n.value))
        elif isinstance(n, ast.FloatLit):
            comps.append(repr(float(n.value)))
        elif isinstance(n, ast.BoolLit):
            comps.append(1 if n.value else 0)
        elif isinstance(n, ast.Call):
            scope = self.scopes[m.name]
            callee = self.lookup(m.name, n.func) if self._kind_of(scope, n.func) == "fn" else None
            comps += [n.func, callee, *(self.node(m, a) for a in n.args)]
        else:
            for f in dataclasses.fields(n):
                if f.name == "span":
                    continue
                v = getattr(n, f.name)
                if isinstance(v, tuple):
                    comps.extend(self.node(m, x) for x in v)
                elif v is None or isinstance(v, (str, int)):
                    comps.append(v)
                else:
                    comps.append(self.node(m, v))
        return VInstance(cls, comps=comps)


def _enc_int(v: int) -> int | str:
    return v if INT63_MIN <= v <= INT63_MAX else str(v)


def _payload_eq(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    return type(a) is type(b) and bool(a == b)


def _order(modules: Sequence[ast.Module]) -> list[ast.Module]:
    """Modules of one batch ordered so that each comes after the batch modules it requires."""
    by = {m.name: m for m in modules}
    out: list[ast.Module] = []
    state: dict[str, int] = {}

    def visit(m: ast.Module, chain: list[str]) -> None:
        st = state.get(m.name)
        if st == 2:
            return
        if st == 1:
            cyc = " -> ".join([*chain[chain.index(m.name):], m.name])
            raise _error(f"modules require each other in a cycle: {cyc}", m.span)
        state[m.name] = 1
        for r in m.requires:
            if r.module in by:
                visit(by[r.module], [*chain, m.name])
        state[m.name] = 2
        out.append(m)

    for m in modules:
        visit(m, [])
    return out


def lower(modules: Sequence[ast.Module], heap: Heap) -> LoweredModules:
    """Lower checked modules into `heap`: resolve every name first (CompileError, heap untouched), then write."""
    ordered = _order(modules)
    lw = _Lowering(ordered, heap)
    lw.resolve_all()
    lw.allocate()
    mobjs = lw.fill()
    by_name = {m.name: o for m, o in zip(ordered, mobjs, strict=True)}
    return LoweredModules(tuple(by_name[m.name] for m in modules), lw.changed, lw.created)
