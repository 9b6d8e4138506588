"""Lowering: checked `.rps` modules -> objects in a heap (classes, attributes, symbols, objects, code).

Entry: `lower(program, heap) -> LoweredModules`, where `program` is the checker's `CheckedProgram`: every
name, local variable and callee comes from the checker's result (this module resolves nothing itself). The
store-level checks that need the heap (an explicit OID already owned by another object, given twice across
modules) run before the heap is touched, so an error leaves the heap as it was. Re-lowering a module keeps
the OIDs of the objects it defined before (matched by module and name) and leaves an object untouched
(same mtime) when its new state equals the stored one, so that dumping an unchanged module rewrites no
file. The encoding of code (closures of rpsc's classes, which upstream RefPerSys loads and dumps back) is
described in `rpsc.heapcode.classes` and docs/code-in-the-heap.md.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rpsrt.model import wellknown as wk
from rpsrt.model.heap import Heap
from rpsrt.model.objects import PayloadClassInfo, PayloadSymbol, RpsObject
from rpsrt.model.oid import Oid
from rpsrt.model.values import Value, VClosure, VSet, VTuple

from rpsc.frontend import ast
TYPE_CHECKING = False
if TYPE_CHECKING:  # the checker is imported by the functions that need it (an edit's build reads interfaces only)
    from rpsc.frontend.check import CheckedFunction, CheckedModule, CheckedProgram, Definition
from rpsc.frontend.diagnostics import Diagnostic, DiagnosticError
from rpsc.heapcode.classes import (
    NODE_CLASS, CodeClasses, dec_str, ensure_code_classes, parts, registered_modules,
)

#: RefPerSys ints are 63-bit: an int outside this range is stored as a `code_bigint` closure.
INT63_MIN, INT63_MAX = -(2**62), 2**62 - 1

_DECL_KIND = {
    ast.ClassDecl: "class", ast.AttributeDecl: "attribute", ast.SelectorDecl: "selector",
    ast.SymbolDecl: "symbol", ast.ObjectDecl: "object", ast.FnDecl: "fn",
    ast.ExtensionPointDecl: "extension_point",
}


@dataclass(frozen=True, slots=True)
class LoweredModules:
    """What `lower` produced: the module objects (in the checker's order) and how many objects it changed."""

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


def _records(v: Value, cc: CodeClasses, kind: str) -> list[tuple[Value, ...]]:
    """The components of the `kind` records of a `code_sequence` value (either encoding)."""
    seq = parts(v)
    if seq is None:
        return []
    out = []
    for rec in seq[1]:
        p = parts(rec)
        if p is not None and p[0] is cc.cls[kind]:
            out.append(p[1])
    return out


def stored_definitions(module_obj: RpsObject, cc: CodeClasses) -> dict[str, tuple[str, RpsObject]]:
    """name -> (kind, object) of the definitions recorded on a stored module object."""
    out: dict[str, tuple[str, RpsObject]] = {}
    for rec in _records(module_obj.attrs.get(cc.attr["decls"]), cc, "code_decl"):
        kind, obj = rec[4], rec[5]
        if kind in ("extend", "method") or not isinstance(obj, RpsObject):
            continue
        name = obj.attrs.get(cc.name)
        if isinstance(obj.payload, PayloadSymbol) and kind == "symbol":
            name = obj.payload.name
        if isinstance(name, str):
            out[name] = (kind, obj)  # type: ignore[assignment]
    return out


_CHECK_KIND = {"fn": "function"}


def _store_input(read: Callable[..., Any]) -> Callable[..., Any]:
    """Reading the interfaces of the stored modules refuses damaged code with a StoreError, not a traceback."""
    import functools

    from rpsrt.errors import StoreError

    @functools.wraps(read)
    def run(heap: Heap) -> Any:
        try:
            return read(heap)
        except StoreError:
            raise
        except (IndexError, KeyError, TypeError, ValueError, AttributeError, AssertionError):
            raise StoreError("malformed stored code: a stored module's interface (its definitions and their "
                             "signatures) has a part missing or of the wrong kind") from None

    return run


@_store_input
def stored_interfaces(heap: Heap) -> dict[str, Any]:
    """The checker's `ModuleInterface` of every code module stored in `heap` (for `requires` of them)."""
    from rpsc.heapcode.classes import find_code_classes

    cc = find_code_classes(heap)
    if cc is None:
        return {}
    return {mname: module_interface(mname, mobj, cc) for mname, mobj in module_objects(heap, cc).items()}


def module_interface(mname: str, mobj: RpsObject, cc: CodeClasses) -> Any:
    """The checker's `ModuleInterface` of one stored module object (`stored_interfaces`)."""
    return interface_from_record(mname, interface_record(mname, mobj, cc))


def interface_record(mname: str, mobj: RpsObject, cc: CodeClasses) -> list[Any]:
    """A stored module's interface as plain data: `[version, [[name, kind, module, params or None,
    ret or None, mode, oid, type], ...]]`, its definitions in their stored order (`interface_from_record`)."""
    defs: list[Any] = []
    types = {id(rec[5]): rec[7] for rec in _records(mobj.attrs.get(cc.attr["decls"]), cc, "code_decl")
             if rec[4] == "attribute" and len(rec) > 7 and isinstance(rec[7], str)}
    for name, (kind, obj) in stored_definitions(mobj, cc).items():
        params = ret = None
        mode = None
        sv = parts(obj.attrs.get(cc.attr["signature"]))
        if sv is not None:
            params = [dec_str(cc, pp[1][5]) for p in sv[1][1:] if (pp := parts(p)) is not None]
            ret = dec_str(cc, sv[1][0])
        if kind == "extension_point":
            m = obj.attrs.get(cc.attr["dispatch_mode"])
            mode = m if isinstance(m, str) else None
        defs.append([name, _CHECK_KIND.get(kind, kind), mname, params, ret, mode, str(obj.oid), types.get(id(obj))])
    version = mobj.attrs.get(cc.attr["version"])
    return [version if isinstance(version, str) else "0.0.0", defs]


def interface_from_record(mname: str, record: list[Any]) -> Any:
    """The checker's `ModuleInterface` of an `interface_record`."""
    from types import MappingProxyType

    from rpsc.frontend.check import Definition, ModuleInterface, Signature

    version, records = record
    defs = {}
    for name, kind, module, params, ret, mode, oid, typ in records:
        sig = None if params is None else Signature(tuple(params), ret)
        defs[name] = Definition(name, kind, module, sig, mode, oid, type=typ)
    return ModuleInterface(mname, version, MappingProxyType(defs))


def _decl_name(d: ast.Decl) -> str | None:
    return getattr(d, "name", None) if type(d) in _DECL_KIND else None


class _Lowering:
    def __init__(self, program: CheckedProgram, heap: Heap,
                 stored: dict[str, RpsObject] | None = None) -> None:
        self.heap = heap
        self.checked = list(program.modules)
        self.modules = [cm.module for cm in self.checked]
        self.cc = ensure_code_classes(heap)
        self.stored = module_objects(heap, self.cc) if stored is None else stored
        self.objs: dict[tuple[str, str], RpsObject] = {}  # (module, name) -> object
        self.changed = 0
        self.created = 0
        self.now = round(time.time(), 2)
        self.new_objects: set[RpsObject] = set()
        self.mobjs: dict[str, RpsObject] = {}
        self.explicit: set[Oid] = set()

    # -- phase 1: the checks that need the store (no heap change)

    def check_store(self) -> None:
        for m in self.modules:
            previous = stored_definitions(self.stored[m.name], self.cc) if m.name in self.stored else {}
            for d in m.decls:
                oid = getattr(d, "oid", None)
                if oid is None:
                    continue
                parsed = Oid.parse(oid.lstrip("@"))
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
        for cm in self.checked:
            for name, d in cm.scope.items():
                if not d.module and d.kind != "builtin" and d.oid is not None and self._used(cm, name):
                    if self.heap.get(d.oid) is None:
                        raise _error(f"well-known object `{name}` is not in this store", cm.module.span)

    @staticmethod
    def _used(cm: CheckedModule, name: str) -> bool:
        return name in _names_used(cm.module)

    # -- phase 2: objects

    def obj_of(self, d: Definition) -> RpsObject:
        """The object a checked definition denotes."""
        if d.module and (d.module, d.name) in self.objs:
            return self.objs[(d.module, d.name)]
        assert d.oid is not None, d
        return self.heap[d.oid]

    def lookup(self, cm: CheckedModule, name: str) -> RpsObject:
        d = cm.resolve(name)
        assert d is not None, name  # the checker resolved every name
        return self.obj_of(d)

    def allocate(self) -> None:
        for m in self.modules:
            self.mobjs[m.name] = (self.stored[m.name] if m.name in self.stored
                                  else self._new(None, ("module", m.name)))
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
                    obj = self._new(None, ("decl", m.name, n))
                self.objs[(m.name, n)] = obj

    def _new(self, oid: Oid | None, key: tuple[str, ...] | None = None) -> RpsObject:
        if oid is None and key is not None:
            oid = self._derive(key)
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
            # strictly later than before, even within one clock tick: rpsc.driver.incremental's fingerprints
            obj.mtime = self.now if self.now > obj.mtime else round(obj.mtime + 0.01, 2)
            self.changed += 1

    def _derive(self, key: tuple[str, ...]) -> Oid:
        """The reproducible OID of a new object (rpsc.heapcode.oids; docs/code-in-the-heap.md)."""
        from rpsc.heapcode.oids import Taken, derived_oid

        return derived_oid(key, Taken(self.heap.objects, self.explicit))

    def _owned_attr(self, a: RpsObject) -> bool:
        ca = self.cc.attr
        return a is self.cc.name or a in (ca["signature"], ca["body"], ca["source"], ca["in_module"],
                                          ca["dispatch_mode"])

    def space_for(self, name: str) -> RpsObject:
        for sp in self.heap.spaces:
            if sp.attrs.get(self.cc.name) == name and sp.oid != self.cc.space.oid:
                return sp
        sp = self.heap.create_space(self._derive(("space", name)))
        sp.mtime = self.now
        sp.attrs[self.cc.name] = name
        self.created += 1
        return sp

    # -- encoding helpers

    def c(self, kind: str, *env: Value) -> VClosure:
        """A closure of rpsc's class `kind` over `env`: how every piece of stored code is written."""
        return VClosure(self.cc.cls[kind], env)

    def s(self, text: str | None) -> Value:
        """A string upstream reads back as itself (`_`-leading ones, which it cannot, as `code_string`)."""
        if text is None:
            return None
        return self.c("code_string", "!" + text) if text.startswith("_") else text

    def i(self, v: int) -> Value:
        return v if INT63_MIN <= v <= INT63_MAX else self.c("code_bigint", str(v))

    def f(self, v: float) -> Value:
        return self.c("code_float", repr(float(v)))

    # -- phase 3: fill

    def fill(self) -> list[RpsObject]:
        cc = self.cc
        method_changes: dict[RpsObject, dict[RpsObject, VClosure | None]] = {}
        out: list[RpsObject] = []
        for cm in self.checked:
            m = cm.module
            space = self.space_for(m.space or m.name)
            mobj = self.mobjs[m.name]
            self._forget_methods(mobj, method_changes)
            file = m.span.file if m.span else ""
            decl_records: list[Value] = []
            for d in m.decls:
                decl_records.append(self.fill_decl(cm, d, space, mobj, method_changes))
            reqs = []
            for r in m.requires:
                req_mod = self.mobjs.get(r.module) or self.stored.get(r.module)
                reqs.append(self.c("code_requirement", *span4(r.span), self.s(r.module), r.op, self.s(r.version),
                                   req_mod))
            attrs: dict[RpsObject, Value] = {
                cc.name: m.name,
                cc.attr["version"]: m.version if m.version is not None else "0.0.0",
                cc.attr["requires"]: self.c("code_sequence", *reqs),
                cc.attr["module_space"]: space,
                cc.attr["source_file"]: self.s(file),
                cc.attr["decls"]: self.c("code_sequence", *decl_records),
            }
            comps: list[Value] = [self.s(m.space), self.s(m.version), *span4(m.span)]
            self._set(mobj, cc.cls["code_module"], attrs, comps, None, space)
            self.heap.roots.discard(mobj)  # rpsc 0.1.0 made modules roots; they are reached from a registry
            out.append(mobj)
        self._apply_methods(method_changes)
        self._register(out)
        return out

    def _register(self, mobjs: list[RpsObject]) -> None:
        """File the modules in the `code_modules` set of the `code_module` class (reached from upstream's
        roots through `the_mutable_set_of_classes`)."""
        holder = self.cc.cls["code_module"]
        have = registered_modules(self.cc)
        new = VSet([o for o in have if self.heap.get(o.oid) is o] + mobjs)
        if holder.attrs.get(self.cc.attr["code_modules"]) != new:
            holder.attrs[self.cc.attr["code_modules"]] = new
            holder.mtime = self.now
            self.changed += 1

    def _forget_methods(self, mobj: RpsObject, changes: dict[RpsObject, dict[RpsObject, VClosure | None]]) -> None:
        for rec in _records(mobj.attrs.get(self.cc.attr["decls"]), self.cc, "code_decl"):
            if len(rec) > 11 and rec[4] == "method":
                cls, sel = rec[10], rec[11]
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

    def value(self, cm: CheckedModule, v: ast.DataValue) -> Value:
        """A data value as the user's object or symbol holds it (upstream's limits: see the checker's warnings)."""
        if isinstance(v, (ast.IntValue, ast.FloatValue, ast.StringValue)):
            return v.value
        if isinstance(v, ast.NullValue):
            return None
        if isinstance(v, ast.NameValue):
            d = cm.resolve(v.name)
            assert d is not None
            obj = self.obj_of(d)
            return VClosure(obj) if d.kind == "function" else obj
        if isinstance(v, ast.SetValue):
            return VSet(self.lookup(cm, it.name) for it in v.items)
        if isinstance(v, ast.TupleValue):
            return VTuple(None if isinstance(it, ast.NullValue) else self.lookup(cm, it.name)  # type: ignore[union-attr]
                          for it in v.items)
        raise TypeError(v)

    def enc_value(self, v: ast.DataValue | ast.FieldInit) -> Value:
        """A data value as written (kept on the module so that it prints back as it was written)."""
        sp = span4(v.span)
        if isinstance(v, ast.IntValue):
            return self.c("code_value", *sp, "int", self.i(v.value))
        if isinstance(v, ast.FloatValue):
            return self.c("code_value", *sp, "float", self.f(v.value))
        if isinstance(v, ast.StringValue):
            return self.c("code_value", *sp, "string", self.s(v.value))
        if isinstance(v, ast.NullValue):
            return self.c("code_value", *sp, "null")
        if isinstance(v, ast.NameValue):
            return self.c("code_value", *sp, "name", self.s(v.name))
        if isinstance(v, ast.SetValue):
            return self.c("code_value", *sp, "set", *(self.enc_value(i) for i in v.items))
        if isinstance(v, ast.TupleValue):
            return self.c("code_value", *sp, "tuple", *(self.enc_value(i) for i in v.items))
        if isinstance(v, ast.FieldInit):
            return self.c("code_value", *sp, "field", self.s(v.attr), self.enc_value(v.value))
        raise TypeError(v)

    def fill_decl(self, cm: CheckedModule, d: ast.Decl, space: RpsObject, mobj: RpsObject,
                  method_changes: dict[RpsObject, dict[RpsObject, VClosure | None]]) -> Value:
        cc, heap, m = self.cc, self.heap, cm.module
        kind = _DECL_KIND.get(type(d)) or ("extend" if isinstance(d, ast.ExtendDecl) else "method")
        n = _decl_name(d)
        obj = self.objs[(m.name, n)] if n is not None else None
        explicit = getattr(d, "oid", None)
        extra: list[Value] = []
        if isinstance(d, ast.ClassDecl):
            sup = self.lookup(cm, d.superclass or "object")
            old = obj.payload if isinstance(obj.payload, PayloadClassInfo) else None  # type: ignore[union-attr]
            symb = old.symb if old is not None and old.symb is not None else None
            if symb is None:
                symb = self._new(None, ("symbol", m.name, d.name))
            self._set(symb, heap[wk.SYMBOL], {}, [], PayloadSymbol(d.name, obj), space, keep_other_attrs=False)
            info = PayloadClassInfo(sup, dict(old.methodict) if old else {}, symb, d.name,
                                    old.attrset if old else None)
            if old is not None:
                info.extra = old.extra
            self._set(obj, heap[wk.CLASS], {cc.name: d.name}, [], info, space)  # type: ignore[arg-type]
            extra = [self.s(d.superclass)]
        elif isinstance(d, ast.AttributeDecl):
            self._set(obj, heap[wk.NAMED_ATTRIBUTE], {cc.name: d.name}, [], None, space)  # type: ignore[arg-type]
            if d.type is not None:
                extra = [d.type]  # version 2: a typed attribute
        elif isinstance(d, ast.SelectorDecl):
            sattrs: dict[RpsObject, Value] = {cc.name: d.name}
            if d.params is not None:  # version 2: a selector with a signature
                sattrs[cc.attr["signature"]] = self.signature(d.params, d.ret)
            self._set(obj, heap[wk.NAMED_SELECTOR], sattrs, [], None, space)  # type: ignore[arg-type]
        elif isinstance(d, ast.SymbolDecl):
            val = self.value(cm, d.value) if d.value is not None else None
            self._set(obj, heap[wk.SYMBOL], {}, [], PayloadSymbol(d.name, val), space)  # type: ignore[arg-type]
            extra = [self.enc_value(d.value) if d.value is not None else None]
        elif isinstance(d, ast.ObjectDecl):
            attrs: dict[RpsObject, Value] = {cc.name: d.name}
            for fi in d.fields:
                attrs[self.lookup(cm, fi.attr)] = self.value(cm, fi.value)
            comps = [self.value(cm, v) for v in d.comps] if d.comps is not None else []
            self._set(obj, self.lookup(cm, d.cls or "object"), attrs, comps, obj.payload, space,  # type: ignore[union-attr,arg-type]
                      keep_other_attrs=False)
            extra = [self.s(d.cls), self.c("code_sequence", *(self.enc_value(fi) for fi in d.fields)),
                     None if d.comps is None else self.c("code_sequence", *(self.enc_value(v) for v in d.comps))]
        elif isinstance(d, ast.FnDecl):
            cf = cm.functions[d.name]
            attrs = {
                cc.name: d.name,
                cc.attr["signature"]: self.signature(d.params, d.ret),
                cc.attr["body"]: _BodyEncoder(self, cf).node(d.body),
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
            extra = [self.s(d.point), self.i(d.priority), self.s(d.function), self.lookup(cm, d.point),
                     self.lookup(cm, d.function)]
        elif isinstance(d, ast.MethodDecl):
            cls = self.lookup(cm, d.cls)
            sel = self.lookup(cm, d.selector)
            fn = self.lookup(cm, d.function)
            extra = [self.s(d.cls), self.s(d.selector), self.s(d.function), cls, sel, fn]
            method_changes.setdefault(cls, {})[sel] = VClosure(fn)
        return self.c("code_decl", *span4(d.span), kind, obj, self.s(explicit), *extra)

    def signature(self, params: Sequence[ast.Param], ret: str) -> VClosure:
        ps = [self.c("ast_param", *span4(p.span), self.s(p.name), p.type) for p in params]
        return self.c("code_signature", ret, *ps)

    def source(self, span: ast.Span | None) -> VClosure:
        s = span or ast.Span("", 0, 0)
        return self.c("code_source", self.s(s.file), s.line, s.col, s.end_line, s.end_col)


class _BodyEncoder:
    """One function body: AST nodes -> closures, with the checker's resolution (local slots, the type of each
    variable, the called function object) stored next to the names, so that readers resolve nothing."""

    def __init__(self, lw: _Lowering, cf: CheckedFunction) -> None:
        self.lw = lw
        self.cf = cf

    def slot(self, n: Any) -> int:
        return self.cf.local_of(n).index

    def node(self, n: Any) -> VClosure:
        lw = self.lw
        kind = NODE_CLASS[type(n).__name__]
        env: list[Value] = span4(n.span)
        if isinstance(n, ast.IntLit):
            env.append(lw.i(n.value))
        elif isinstance(n, ast.FloatLit):
            env.append(lw.f(n.value))
        elif isinstance(n, ast.BoolLit):
            env.append(1 if n.value else 0)
        elif isinstance(n, ast.Name):
            if id(n) in self.cf.bindings:
                env += [lw.s(n.name), self.slot(n)]
            else:  # version 2: a module-level name denoting an object
                env += [lw.s(n.name), None, lw.obj_of(self.cf.ref_of(n))]
        elif isinstance(n, ast.StrLit):
            env.append(lw.s(n.value))
        elif isinstance(n, ast.OidLit):
            env.append(lw.s(n.oid))
        elif isinstance(n, ast.GetAttr):
            d = self.cf.ref_of(n)
            env += [self.node(n.obj), lw.s(n.attr), lw.obj_of(d), d.type or "value"]
        elif isinstance(n, ast.SetAttrStmt):
            d = self.cf.ref_of(n)
            env += [self.node(n.obj), lw.s(n.attr), self.node(n.value), lw.obj_of(d), d.type or "value"]
        elif isinstance(n, ast.Send):
            d = self.cf.ref_of(n)
            sig = d.signature
            assert sig is not None
            env += [self.node(n.obj), lw.s(n.selector), lw.obj_of(d), sig.ret, ",".join(sig.params),
                    *(self.node(a) for a in n.args)]
        elif isinstance(n, ast.New):
            cls = lw.obj_of(self.cf.ref_of(n)) if n.cls is not None else None
            env += [lw.s(n.cls), self.node(n.cls_expr) if n.cls_expr is not None else None, cls,
                    *(self.node(f) for f in n.fields)]
        elif isinstance(n, ast.NewField):
            d = self.cf.ref_of(n)
            env += [lw.s(n.attr), self.node(n.value), lw.obj_of(d), d.type or "value"]
        elif isinstance(n, ast.VarStmt):
            env += [lw.s(n.name), n.type, self.node(n.init), self.slot(n), self.cf.local_of(n).type]
        elif isinstance(n, ast.AssignStmt):
            env += [lw.s(n.name), self.node(n.value), self.slot(n)]
        elif isinstance(n, ast.ForStmt):
            env += [lw.s(n.var), self.node(n.start), self.node(n.stop), self.node(n.body), self.slot(n)]
        elif isinstance(n, ast.Call):
            d = self.cf.callee_of(n)
            callee = lw.obj_of(d) if d.kind == "function" else None
            env += [lw.s(n.func), callee, *(self.node(a) for a in n.args)]
        else:
            for f in dataclasses.fields(n):
                if f.name == "span":
                    continue
                v = getattr(n, f.name)
                if isinstance(v, tuple):
                    env.extend(self.node(x) for x in v)
                elif v is None or isinstance(v, str):
                    env.append(lw.s(v))
                else:
                    env.append(self.node(v))
        return lw.c(kind, *env)


def _names_used(m: ast.Module) -> set[str]:
    """Every module-level name a module's declarations refer to (superclasses, classes, values...)."""
    out: set[str] = {"object"}
    for d in m.decls:
        for f in ("superclass", "cls", "point", "function", "selector"):
            v = getattr(d, f, None)
            if isinstance(v, str):
                out.add(v)
        values: list[Any] = []
        if isinstance(d, ast.SymbolDecl) and d.value is not None:
            values.append(d.value)
        if isinstance(d, ast.ObjectDecl):
            out.update(fi.attr for fi in d.fields)
            values += [fi.value for fi in d.fields] + list(d.comps or ())
        while values:
            v = values.pop()
            if isinstance(v, ast.NameValue):
                out.add(v.name)
            elif isinstance(v, (ast.SetValue, ast.TupleValue)):
                values.extend(v.items)
    return out


def _payload_eq(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    return type(a) is type(b) and bool(a == b)


def lower(program: CheckedProgram, heap: Heap, stored: dict[str, RpsObject] | None = None) -> LoweredModules:
    """Lower the checker's result into `heap`: the store-level checks first (CompileError, heap untouched),
    then the objects. `stored`: `module_objects(heap, cc)` when the caller knows it (rpsc.heapcode.index),
    so that a lazily loaded heap is not scanned."""
    lw = _Lowering(program, heap, stored)
    lw.check_store()
    lw.allocate()
    lw.fill()
    by_name = dict(zip((m.name for m in lw.modules), (lw.mobjs[m.name] for m in lw.modules), strict=True))
    return LoweredModules(tuple(by_name[m.name] for m in lw.modules), lw.changed, lw.created)

