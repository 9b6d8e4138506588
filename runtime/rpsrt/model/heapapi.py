"""Version 2's operations on the heap, as every backend runs them: the one implementation of their semantics.

`HeapRuntime(heap, seed=None, clock=None)` holds what a run needs besides the heap: the generator of new
OIDs (deterministic with a seed), the mtime that changes write (the fixed `clock`, else the wall clock), the
log. Each operation takes the name of the running function and the `file:line:col` of the operation first,
so that a trap (`rpsrt.Trap`) names them. Values are rpsrt's own (`rpsrt.model.values`): ints, floats,
Python strings, `RpsObject`s, None for null.

`transaction(heap)` is a context manager that undoes every change made to the heap inside it (objects
created, attributes, components, payloads, spaces, roots, constants) when it ends with an exception (a trap,
KeyboardInterrupt, anything); `HeapSnapshot` is the saved state and `changes()` the summary of a run.
"""

from __future__ import annotations

import copy
import random
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from rpsrt.errors import (
    TRAP_FAILED, TRAP_INDEX_RANGE, TRAP_INT_RANGE, TRAP_INVALID_NAME, TRAP_MISSING_ATTRIBUTE, TRAP_NAME_EXISTS,
    TRAP_NO_METHOD, TRAP_NOT_A_CLASS, TRAP_NOT_AN_ATTRIBUTE, TRAP_NULL_OBJECT, TRAP_TYPE_MISMATCH,
    TRAP_UNKNOWN_OBJECT, TRAP_WRONG_PAYLOAD, Trap,
)
from rpsrt.model import wellknown as wk
from rpsrt.model.heap import Heap
from rpsrt.model.objects import Payload, PayloadClassInfo, PayloadSetOb, PayloadSymbol, RpsObject
from rpsrt.model.oid import GEN_MAX_LO, MAX_HI, MIN_HI, MIN_LO, Oid, OidError, oid_hash
from rpsrt.model.values import VClosure, VInstance, VJson, VSet, VTuple

#: RefPerSys's tagged ints.
INT63_MIN, INT63_MAX = -(2**62), 2**62 - 1
#: upstream's `the_mutable_set_of_classes` (a root, payload setob)
MUTABLE_SET_OF_CLASSES = Oid.parse("_4DsQEs8zZf901wT1LH")

_VALID_NAME = re.compile(r"[A-Za-z](?:[A-Za-z0-9]|(?<=[A-Za-z0-9])[_$])*\Z")


def valid_name(name: str) -> bool:
    """Upstream's `Rps_PayloadSymbol::valid_name`: a letter, then letters and digits, each `_` or `$` after a
    letter or digit (objects_rps.cc)."""
    return bool(_VALID_NAME.match(name))


def kind_of(v: Any) -> str:
    """The kind of a value as traps name it."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    if isinstance(v, RpsObject):
        return "object"
    if isinstance(v, VSet):
        return "set"
    if isinstance(v, VTuple):
        return "tuple"
    if isinstance(v, VClosure):
        return "closure"
    if isinstance(v, VInstance):
        return "instance"
    if isinstance(v, VJson):
        return "json"
    return "value"


_TYPE_KIND = {"int": "int", "float": "float", "str": "string", "obj": "object"}
_KIND_TESTS = {"is_int": "int", "is_float": "float", "is_str": "string", "is_obj": "object", "is_null": "null"}


def values_equal(a: Any, b: Any) -> bool:
    """`==` on values, as RefPerSys compares them: same kind and equal contents, objects by identity."""
    if isinstance(a, RpsObject) or isinstance(b, RpsObject):
        return a is b
    if type(a) is not type(b):
        return False
    return bool(a == b)


class HeapRuntime:
    """The heap operations of version 2 against one heap (see the module docstring)."""

    def __init__(self, heap: Heap, *, seed: int | None = None, clock: float | None = None,
                 log: Callable[[str], None] | None = None) -> None:
        self.heap = heap
        self.rng = random.Random(seed) if seed is not None else None
        self.clock = clock
        self.log_line = log or (lambda s: print(s, file=sys.stderr))
        self._symbols: dict[str, RpsObject] | None = None
        self._refs: dict[str, RpsObject] = {}  # OID text -> object, checked against the heap at each use

    # -- helpers

    def now(self) -> float:
        return self.clock if self.clock is not None else round(time.time(), 2)

    def new_oid(self) -> Oid:
        if self.rng is None:
            oid = Oid.random()
            while oid in self.heap.objects:
                oid = Oid.random()
            return oid
        rand = self.rng.getrandbits
        while True:
            hi = rand(64) % MAX_HI
            lo = rand(64) % GEN_MAX_LO
            if hi < MIN_HI or lo < MIN_LO or oid_hash(hi, lo) == 0:
                continue
            oid = Oid(hi, lo)
            if oid not in self.heap.objects:
                return oid

    @staticmethod
    def trap(code: int, fn: str, loc: str, detail: str | None = None) -> Trap:
        return Trap(code, fn, loc, detail)

    def obj(self, o: Any, fn: str, loc: str) -> RpsObject:
        if o is None:
            raise Trap(TRAP_NULL_OBJECT, fn, loc)
        return o  # type: ignore[no-any-return]

    def cls_info(self, c: Any, fn: str, loc: str) -> PayloadClassInfo:
        if c is None:
            raise Trap(TRAP_NULL_OBJECT, fn, loc)
        pl = c.payload
        if not isinstance(pl, PayloadClassInfo):
            raise Trap(TRAP_NOT_A_CLASS, fn, loc)
        return pl

    def touch(self, o: RpsObject) -> None:
        o.mtime = self.now()

    def symbols(self) -> dict[str, RpsObject]:
        if self._symbols is None:
            self._symbols = {}
            for o in self.heap.objects.values():
                pl = o.payload
                if type(pl) is PayloadSymbol and pl.name:
                    self._symbols.setdefault(pl.name, o)
        else:  # drop symbols whose object or name went away (an undone transaction, forget_name)
            for name, o in list(self._symbols.items()):
                pl = o.payload
                if self.heap.objects.get(o.oid) is not o or type(pl) is not PayloadSymbol or pl.name != name:
                    del self._symbols[name]
        return self._symbols

    def class_name(self, c: RpsObject | None) -> str:
        if c is None:
            return "null"
        pl = c.payload
        if isinstance(pl, PayloadClassInfo) and pl.name:
            return pl.name
        n = c.attrs.get(self.heap.objects.get(wk.NAME))  # type: ignore[arg-type]
        return n if isinstance(n, str) else str(c.oid)

    def name_of(self, o: RpsObject | None) -> str:
        if o is None:
            return "null"
        n = o.attrs.get(self.heap.objects.get(wk.NAME))  # type: ignore[arg-type]
        return n if isinstance(n, str) else str(o.oid)

    # -- values

    def box_int(self, fn: str, loc: str, v: int) -> int:
        if not INT63_MIN <= v <= INT63_MAX:
            raise Trap(TRAP_INT_RANGE, fn, loc)
        return v

    def unbox(self, fn: str, loc: str, v: Any, want: str) -> Any:
        """`int(v)`, `float(v)`, `str(v)`, `obj(v)`: the kind exactly (a null value gives a null `obj`)."""
        kind = kind_of(v)
        if want == "obj" and (kind == "object" or v is None):
            return v
        if _TYPE_KIND[want] == kind:
            return v
        raise Trap(TRAP_TYPE_MISMATCH, fn, loc, f"type mismatch: expected {_TYPE_KIND[want]}, got {kind}")

    # -- attributes

    def get_attr(self, fn: str, loc: str, o: Any, a: RpsObject, typ: str) -> Any:
        o = self.obj(o, fn, loc)
        v = o.attrs.get(a)
        if v is None:
            if typ == "value":
                return None
            raise Trap(TRAP_MISSING_ATTRIBUTE, fn, loc, f"missing attribute {self.name_of(a)}")
        if typ == "value":
            return v
        return self.unbox(fn, loc, v, typ)

    def set_attr(self, fn: str, loc: str, o: Any, a: RpsObject, v: Any) -> None:
        o = self.obj(o, fn, loc)
        if v is None:
            o.attrs.pop(a, None)  # a null value is no attribute (RefPerSys keeps no null attribute value)
        else:
            o.attrs[a] = v
        self.touch(o)

    def attribute(self, fn: str, loc: str, a: Any) -> RpsObject:
        if not isinstance(a, RpsObject):
            raise Trap(TRAP_NOT_AN_ATTRIBUTE, fn, loc)
        return a

    def has(self, fn: str, loc: str, o: Any, a: Any) -> bool:
        return self.obj(o, fn, loc).attrs.get(a) is not None

    def remove(self, fn: str, loc: str, o: Any, a: Any) -> None:
        o = self.obj(o, fn, loc)
        if a in o.attrs:
            del o.attrs[a]
            self.touch(o)

    def get(self, fn: str, loc: str, o: Any, a: Any) -> Any:
        o = self.obj(o, fn, loc)
        return o.attrs.get(self.attribute(fn, loc, a))

    def put(self, fn: str, loc: str, o: Any, a: Any, v: Any) -> None:
        o = self.obj(o, fn, loc)
        self.set_attr(fn, loc, o, self.attribute(fn, loc, a), v)

    # -- components

    def length(self, fn: str, loc: str, o: Any) -> int:
        return len(self.obj(o, fn, loc).comps)

    def comp(self, fn: str, loc: str, o: Any, i: int) -> Any:
        o = self.obj(o, fn, loc)
        if not 0 <= i < len(o.comps):
            raise Trap(TRAP_INDEX_RANGE, fn, loc)
        return o.comps[i]

    def set_comp(self, fn: str, loc: str, o: Any, i: int, v: Any) -> None:
        o = self.obj(o, fn, loc)
        if not 0 <= i < len(o.comps):
            raise Trap(TRAP_INDEX_RANGE, fn, loc)
        o.comps[i] = v
        self.touch(o)

    def append(self, fn: str, loc: str, o: Any, v: Any) -> None:
        o = self.obj(o, fn, loc)
        o.comps.append(v)
        self.touch(o)

    # -- objects and classes

    def objref(self, fn: str, loc: str, oid: str) -> RpsObject:
        o = self._refs.get(oid)
        if o is not None and self.heap.objects.get(o.oid) is o:
            return o
        o = self.heap.objects.get(Oid.parse(oid))
        if o is None:
            raise Trap(TRAP_UNKNOWN_OBJECT, fn, loc)
        self._refs[oid] = o
        return o

    def new(self, fn: str, loc: str, cls: Any, space: Any, *fields: Any) -> RpsObject:
        self.cls_info(cls, fn, loc)
        o = RpsObject(self.new_oid(), cls, mtime=self.now(), space=space)
        for a, v in zip(fields[::2], fields[1::2], strict=True):
            if v is not None:
                o.attrs[a] = v
        self.heap.objects[o.oid] = o
        return o

    def class_of(self, fn: str, loc: str, o: Any) -> Any:
        return self.obj(o, fn, loc).cls

    def is_a(self, fn: str, loc: str, o: Any, c: Any) -> bool:
        o = self.obj(o, fn, loc)
        self.cls_info(c, fn, loc)
        k = o.cls
        seen: set[int] = set()
        while k is not None and id(k) not in seen:
            if k is c:
                return True
            seen.add(id(k))
            pl = k.payload
            k = pl.superclass if isinstance(pl, PayloadClassInfo) else None
        return False

    def superclass(self, fn: str, loc: str, c: Any) -> Any:
        return self.cls_info(c, fn, loc).superclass

    def method(self, fn: str, loc: str, o: Any, sel: RpsObject) -> RpsObject:
        """The function object of the method that `sel` maps to for `o` (its class, then the superclasses)."""
        o = self.obj(o, fn, loc)
        k = o.cls
        seen: set[int] = set()
        while k is not None and id(k) not in seen:
            seen.add(id(k))
            pl = k.payload
            if not isinstance(pl, PayloadClassInfo):
                break
            clo = pl.methodict.get(sel)
            if clo is not None:
                return clo.fn
            k = pl.superclass
        raise Trap(TRAP_NO_METHOD, fn, loc,
                   f"no method {self.name_of(sel)} for {self.class_name(o.cls)}")

    def oid(self, fn: str, loc: str, o: Any) -> str:
        return str(self.obj(o, fn, loc).oid)

    def space_of(self, fn: str, loc: str, o: Any) -> Any:
        return self.obj(o, fn, loc).space

    def set_space(self, fn: str, loc: str, o: Any, sp: Any) -> None:
        o = self.obj(o, fn, loc)
        o.space = sp
        self.touch(o)

    # -- the runtime library

    def find(self, fn: str, loc: str, s: str) -> Any:
        """upstream's `find_object_or_null_by_string`: a name (starting with a letter) gives its symbol's
        value when that is an object, else the symbol itself; `_` + OID text gives that object; else null."""
        if s.startswith("_"):
            try:
                return self.heap.objects.get(Oid.parse(s))
            except OidError:
                return None
        if not s[:1].isalpha():
            return None
        symb = self.symbols().get(s)
        if symb is None:
            return None
        v = symb.payload.value  # type: ignore[union-attr]
        return v if isinstance(v, RpsObject) else symb

    def make_symbol(self, fn: str, loc: str, name: str, weak: bool) -> RpsObject:
        if not valid_name(name):
            raise Trap(TRAP_INVALID_NAME, fn, loc)
        syms = self.symbols()
        if name in syms:
            raise Trap(TRAP_NAME_EXISTS, fn, loc)
        o = RpsObject(self.new_oid(), self.heap.objects.get(wk.SYMBOL), mtime=self.now())
        o.payload = PayloadSymbol(name, None, bool(weak))
        self.heap.objects[o.oid] = o
        syms[name] = o
        return o

    def make_class(self, fn: str, loc: str, sup: Any, name: str) -> RpsObject:
        """upstream's `Rps_ObjectRef::make_named_class`."""
        self.cls_info(sup, fn, loc)
        if not valid_name(name):
            raise Trap(TRAP_INVALID_NAME, fn, loc)
        heap = self.heap
        space = heap.objects.get(wk.INITIAL_SPACE)
        symb = self.symbols().get(name)
        if symb is None:
            symb = self.make_symbol(fn, loc, name, False)
        c = RpsObject(self.new_oid(), heap.objects.get(wk.CLASS), mtime=self.now(), space=space)
        c.payload = PayloadClassInfo(sup, {}, symb, name)
        heap.objects[c.oid] = c
        spl = symb.payload
        if isinstance(spl, PayloadSymbol):
            spl.value = c
        symb.space = space
        symb.mtime = self.now()
        heap.roots.add(c)
        mset = heap.objects.get(MUTABLE_SET_OF_CLASSES)
        if mset is not None and isinstance(mset.payload, PayloadSetOb):
            mset.payload.elems.add(c)
            self.touch(mset)
        return c

    def _symbol(self, fn: str, loc: str, s: Any) -> PayloadSymbol:
        s = self.obj(s, fn, loc)
        pl = s.payload
        if type(pl) is not PayloadSymbol:
            raise Trap(TRAP_WRONG_PAYLOAD, fn, loc)
        return pl

    def symbol_value(self, fn: str, loc: str, s: Any) -> Any:
        return self._symbol(fn, loc, s).value

    def set_symbol_value(self, fn: str, loc: str, s: Any, v: Any) -> None:
        self._symbol(fn, loc, s).value = v
        self.touch(s)

    def add_root(self, fn: str, loc: str, o: Any) -> None:
        self.heap.roots.add(self.obj(o, fn, loc))

    def remove_root(self, fn: str, loc: str, o: Any) -> None:
        self.heap.roots.discard(self.obj(o, fn, loc))

    def is_root(self, fn: str, loc: str, o: Any) -> bool:
        return self.obj(o, fn, loc) in self.heap.roots

    def _constant_attr(self, o: RpsObject, add: bool) -> None:
        """upstream's `rps_add_constant_object` also keeps RefPerSys_system's `constant` set attribute."""
        system, attr = self.heap.objects.get(wk.SYSTEM), self.heap.objects.get(wk.CONSTANT)
        if system is None or attr is None:
            return
        old = system.attrs.get(attr)
        elems = set(old.elems) if isinstance(old, VSet) else set()
        if (o in elems) == add:
            return
        if add:
            elems.add(o)
        else:
            elems.discard(o)
        system.attrs[attr] = VSet(elems)
        self.touch(system)

    def add_constant(self, fn: str, loc: str, o: Any) -> None:
        o = self.obj(o, fn, loc)
        self.heap.constants.add(o)
        self._constant_attr(o, True)

    def remove_constant(self, fn: str, loc: str, o: Any) -> None:
        o = self.obj(o, fn, loc)
        self.heap.constants.discard(o)
        self._constant_attr(o, False)

    def is_constant(self, fn: str, loc: str, o: Any) -> bool:
        return self.obj(o, fn, loc) in self.heap.constants

    def _setob(self, fn: str, loc: str, s: Any) -> PayloadSetOb:
        s = self.obj(s, fn, loc)
        pl = s.payload
        if type(pl) is not PayloadSetOb:
            raise Trap(TRAP_WRONG_PAYLOAD, fn, loc)
        return pl

    def set_add(self, fn: str, loc: str, s: Any, e: Any) -> None:
        pl = self._setob(fn, loc, s)
        e = self.obj(e, fn, loc)
        if e not in pl.elems:
            pl.elems.add(e)
            self.touch(s)

    def set_remove(self, fn: str, loc: str, s: Any, e: Any) -> None:
        pl = self._setob(fn, loc, s)
        if e in pl.elems:
            pl.elems.discard(e)
            self.touch(s)

    def set_has(self, fn: str, loc: str, s: Any, e: Any) -> bool:
        return e in self._setob(fn, loc, s).elems

    def set_size(self, fn: str, loc: str, s: Any) -> int:
        return len(self._setob(fn, loc, s).elems)

    def log(self, fn: str, loc: str, s: str) -> None:
        self.log_line(s)

    def fail(self, fn: str, loc: str, s: str) -> None:
        raise Trap(TRAP_FAILED, fn, loc, f"failed: {s}")

    # -- one entry for every operation (the host heap API of native code)

    def dispatch(self, op: str, aux: str, fn: str, loc: str, args: list[Any]) -> Any:
        """Operation `op` (a name of `rpsrt.abi.HEAP_OP_NAMES`, not `call_method`) on decoded `args`, with
        its static operand `aux`: what the interpreter's generated code does inline or by a method call."""
        if op in ("box", "box_float"):
            return args[0]
        if op == "box_int":
            return self.box_int(fn, loc, args[0])
        if op == "unbox":
            return self.unbox(fn, loc, args[0], aux)
        if op in _KIND_TESTS:
            return kind_of(args[0]) == _KIND_TESTS[op]
        if op == "value_eq":
            return values_equal(args[0], args[1])
        if op == "obj_eq":
            return args[0] is args[1]
        if op == "str_concat":
            return args[0] + args[1]
        if op == "str_len":
            return len(args[0])
        if op == "str_cmp":
            a, b = args
            return {"eq": a == b, "ne": a != b, "lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}[aux]
        if op == "str_of_int":
            return str(args[0])
        if op == "str_of_float":
            return repr(args[0])
        if op == "str_const":
            return aux
        if op == "objref":
            return self.objref(fn, loc, aux)
        if op == "get_attr":
            return self.get_attr(fn, loc, args[0], args[1], aux)
        if op == "new":
            space = self.objref(fn, loc, aux) if aux else None
            return self.new(fn, loc, args[0], space, *args[1:])
        if op == "send":
            return self.method(fn, loc, args[0], args[1])
        return getattr(self, op)(fn, loc, *args)


# ---------------------------------------------------------------- transactions


def _copy_payload(p: Payload | None) -> Payload | None:
    if p is None:
        return None
    c = copy.copy(p)
    for slot in ("methodict", "elems", "dictionary", "low", "normal", "high", "jitseq", "objmap", "members",
                 "lines"):
        v = getattr(c, slot, None)
        if isinstance(v, (dict, list, set)):
            setattr(c, slot, copy.copy(v))
    return c


@dataclass
class HeapSnapshot:
    """The whole mutable state of a heap, to compare with or to restore (objects keep their identity)."""

    objects: dict[Oid, RpsObject]
    sets: tuple[set[RpsObject], ...]
    state: dict[RpsObject, tuple[Any, ...]] = field(repr=False)

    @classmethod
    def take(cls, heap: Heap) -> HeapSnapshot:
        state = {o: (o.cls, o.mtime, dict(o.attrs), list(o.comps), o.payload, _copy_payload(o.payload), o.space,
                     o.magicattr, o.applying, copy.deepcopy(o.extra))
                 for o in heap.objects.values()}
        return cls(dict(heap.objects), (set(heap.spaces), set(heap.roots), set(heap.constants), set(heap.plugins)),
                   state)

    def restore(self, heap: Heap) -> None:
        heap.objects.clear()
        heap.objects.update(self.objects)
        for mine, theirs in zip(self.sets, (heap.spaces, heap.roots, heap.constants, heap.plugins), strict=True):
            theirs.clear()
            theirs.update(mine)
        for o, (cls, mtime, attrs, comps, pl, saved, space, magic, applying, extra) in self.state.items():
            o.cls, o.mtime, o.attrs, o.comps, o.space = cls, mtime, dict(attrs), list(comps), space
            o.magicattr, o.applying, o.extra = magic, applying, extra
            o.payload = pl
            if pl is not None and saved is not None:
                fresh = _copy_payload(saved)
                for slot in _slots(type(pl)):
                    setattr(pl, slot, getattr(fresh, slot))


def _slots(t: type) -> list[str]:
    out: list[str] = []
    for k in t.__mro__:
        out.extend(s for s in getattr(k, "__slots__", ()) if s != "__weakref__")
    return out


@contextmanager
def transaction(heap: Heap) -> Iterator[HeapSnapshot]:
    """Run the body against `heap`; when it ends with an exception (a trap, KeyboardInterrupt, anything),
    every change made to the heap inside it is undone before the exception propagates."""
    snap = HeapSnapshot.take(heap)
    try:
        yield snap
    except BaseException:
        snap.restore(heap)
        raise


@dataclass
class Changes:
    """What a run changed in a heap (`changes(before, heap)`)."""

    created: list[RpsObject]
    changed: list[RpsObject]
    roots_added: list[RpsObject]
    roots_removed: list[RpsObject]
    constants_added: list[RpsObject]
    constants_removed: list[RpsObject]

    def empty(self) -> bool:
        return not any((self.created, self.changed, self.roots_added, self.roots_removed, self.constants_added,
                        self.constants_removed))

    def lines(self) -> list[str]:
        def show(objs: list[RpsObject]) -> str:
            return " ".join(str(o.oid) for o in sorted(objs, key=lambda o: o.oid))

        out = []
        for what, objs in (("created", self.created), ("changed", self.changed),
                           ("roots added", self.roots_added), ("roots removed", self.roots_removed),
                           ("constants added", self.constants_added),
                           ("constants removed", self.constants_removed)):
            if objs:
                out.append(f"{what} ({len(objs)}): {show(objs)}")
        return out or ["no change"]


def changes(before: HeapSnapshot, heap: Heap) -> Changes:
    """The objects created and changed, and the roots and constants added and removed, since `before`."""
    created = [o for k, o in heap.objects.items() if before.objects.get(k) is not o]
    changed = []
    for o, (cls, mtime, attrs, comps, pl, saved, space, magic, applying, extra) in before.state.items():
        if heap.objects.get(o.oid) is not o:
            continue
        if (o.cls is not cls or o.mtime != mtime or o.attrs != attrs or o.comps != comps or o.space is not space
                or o.payload is not pl or (pl is not None and pl != saved)):
            changed.append(o)
    r0, c0 = before.sets[1], before.sets[2]
    return Changes(created, changed, [o for o in heap.roots if o not in r0], [o for o in r0 if o not in heap.roots],
                   [o for o in heap.constants if o not in c0], [o for o in c0 if o not in heap.constants])
