"""Hypothesis strategies for random heaps: cycles, every value and payload kind, awkward strings and floats."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from rpsrt.model import wellknown as wk
from rpsrt.model.heap import Heap
from rpsrt.model.objects import (
    PayloadAgenda,
    PayloadClassInfo,
    PayloadEnvironment,
    PayloadGccJit,
    PayloadObjMap,
    PayloadSetOb,
    PayloadSpace,
    PayloadStringBuffer,
    PayloadStringDict,
    PayloadSymbol,
    PayloadTasklet,
    PayloadUnknown,
    PayloadVectOb,
    PayloadVectVal,
)
from rpsrt.model.oid import Oid
from rpsrt.store.core import new_heap
from rpsrt.model.values import VClosure, VInstance, VJson, VSet, VTuple

INT64 = st.integers(-(2**63), 2**63 - 1)
FLOATS = st.one_of(
    st.sampled_from([3.0, -0.0, 0.0, 1e300, -1e300, 0.1, 5e-324, 1.7976931348623157e308, 2.0**53, 1e16]),
    st.floats(allow_nan=False, allow_infinity=False),
)
#: Any text: non-ASCII, non-BMP, control characters, DEL (surrogates excluded: not valid UTF-8).
TEXT = st.one_of(
    st.text(max_size=12),
    st.text(st.characters(codec="utf-8"), max_size=12),
    st.sampled_from(["", "_", "°", "\x7f", "\x00\x01\x1f", "a\"b\\c/d", "😀 non-BMP 𝄞", "\u2028\u2029",
                     "\n//+ob_8J6vNYtP5E800eCr5q\n}", "x\r\ny\tz\b\f"]),
)
#: Strings the loader would take for object ids, were they not escaped.
OIDLIKE = st.one_of(
    st.builds(lambda: str(Oid.random())),
    st.sampled_from(["_8J6vNYtP5E800eCr5q", "_zzzzzzzzzzzzzzzzzz", "_0000000000000000000", "_abc"]),
)
STRINGS = st.one_of(TEXT, OIDLIKE)
MTIMES = st.integers(0, 300_000_000_000).map(lambda c: c / 100)

JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), INT64, FLOATS, STRINGS),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(STRINGS, inner, max_size=4)),
    max_leaves=8,
)

#: Member names for unknown payload members and unknown object members (never a name rpsc knows).
UNKNOWN_KEYS = st.sampled_from(["loadrout", "zz_future", "zz_other", "wîdget", "zz_\u00e9"])


# Module-level strategies (validated once) draw "builders": functions from the heap's object list to a
# value, so that references can point at objects that only exist once the heap is drawn.
REF = st.integers(0, 10_000).map(lambda i: lambda objs: objs[i % len(objs)])
OPT_REF = st.one_of(st.none().map(lambda _: lambda objs: None), REF)


def _const(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return strategy.map(lambda v: lambda objs: v)


def _all(builders: Any) -> Any:
    return lambda objs: [b(objs) for b in builders]


def _values(depth: int) -> st.SearchStrategy[Any]:
    leaves = st.one_of(_const(st.none()), _const(INT64), _const(FLOATS), _const(STRINGS), REF)
    if depth >= 2:
        return leaves
    sub = _values(depth + 1)
    subs = st.lists(sub, max_size=3)
    return st.one_of(
        leaves,
        st.lists(REF, max_size=4).map(lambda bs: lambda objs: VSet(_all(bs)(objs))),
        st.lists(OPT_REF, max_size=4).map(lambda bs: lambda objs: VTuple(_all(bs)(objs))),
        st.tuples(REF, subs, OPT_REF, st.one_of(st.none(), st.integers(-5, 5))).map(
            lambda t: lambda objs: VClosure(t[0](objs), _all(t[1])(objs), t[2](objs), t[3])),
        st.tuples(REF, st.lists(st.tuples(REF, sub), max_size=3), subs, OPT_REF,
                  st.one_of(st.none(), st.integers(0, 9))).map(
            lambda t: lambda objs: VInstance(t[0](objs), {a(objs): v(objs) for a, v in t[1]}, _all(t[2])(objs),
                                             t[3](objs), t[4])),
        _const(st.builds(VJson, JSON)),
    )


VALUE = _values(0)
VALUE1 = _values(1)
CLOSURE = st.tuples(REF, st.lists(VALUE1, max_size=3)).map(
    lambda t: lambda objs: VClosure(t[0](objs), _all(t[1])(objs)))
OPT_VALUE = st.one_of(_const(st.none()), VALUE)
OPT_CLOSURE = st.one_of(_const(st.none()), CLOSURE)


def _dict(keys: st.SearchStrategy[Any], vals: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(st.tuples(keys, vals), max_size=4).map(
        lambda kvs: lambda objs: {k(objs): v(objs) for k, v in kvs})


PAYLOAD = st.one_of(
    _const(st.none()),
    st.tuples(TEXT, OPT_VALUE, st.booleans()).map(lambda t: lambda objs: PayloadSymbol(t[0], t[1](objs), t[2])),
    st.tuples(REF, _dict(REF, CLOSURE), OPT_REF, st.one_of(st.none(), TEXT),
              st.one_of(st.none(), st.lists(REF, max_size=3))).map(
        lambda t: lambda objs: PayloadClassInfo(t[0](objs), t[1](objs), t[2](objs), t[3],
                                                None if t[4] is None else VSet(_all(t[4])(objs)))),
    st.lists(REF, max_size=4).map(lambda bs: lambda objs: PayloadSetOb(_all(bs)(objs))),
    st.lists(OPT_REF, max_size=4).map(lambda bs: lambda objs: PayloadVectOb(_all(bs)(objs))),
    st.lists(VALUE, max_size=4).map(lambda bs: lambda objs: PayloadVectVal(_all(bs)(objs))),
    _const(st.builds(PayloadSpace)).map(lambda f: lambda objs: PayloadSpace()),
    st.tuples(*[st.lists(REF, max_size=3)] * 3).map(
        lambda t: lambda objs: PayloadAgenda(*(_all(x)(objs) for x in t))),
    st.tuples(OPT_CLOSURE, st.one_of(st.none(), FLOATS)).map(
        lambda t: lambda objs: PayloadTasklet(t[0](objs), t[1])),
    _dict(_const(STRINGS), VALUE).map(lambda f: lambda objs: PayloadStringDict(f(objs))),
    st.builds(PayloadStringBuffer, st.one_of(st.none(), st.lists(TEXT, max_size=3)), st.one_of(st.none(), TEXT),
              st.one_of(st.none(), st.integers(0, 8))).map(lambda p: lambda objs: p),
    st.tuples(st.dictionaries(STRINGS, JSON, max_size=3), VALUE).map(
        lambda t: lambda objs: PayloadObjMap(t[0], t[1](objs))),
    st.tuples(st.dictionaries(STRINGS, JSON, max_size=3), VALUE, OPT_REF).map(
        lambda t: lambda objs: PayloadEnvironment(t[0], t[1](objs), t[2](objs))),
    st.lists(REF, max_size=3).map(lambda bs: lambda objs: PayloadGccJit(_all(bs)(objs))),
    st.tuples(st.sampled_from(["future_kind", "lightning_code_generator", "ünknown"]),
              st.dictionaries(UNKNOWN_KEYS, JSON, max_size=3)).map(
        lambda t: lambda objs: PayloadUnknown(t[0], dict(t[1]))),
)

OBJECT = st.tuples(REF, _dict(REF, VALUE), st.lists(VALUE, max_size=3), PAYLOAD, st.booleans(), st.booleans(),
                   st.one_of(st.none(), st.dictionaries(UNKNOWN_KEYS, JSON, min_size=1, max_size=2)))


@st.composite
def heaps(draw: st.DrawFn, max_objects: int = 8) -> Heap:
    """A heap built on `new_heap()` plus random objects in one to three spaces, with random contents."""
    heap = new_heap()
    core = list(heap.objects.values())
    spaces = [heap[wk.INITIAL_SPACE]]
    for _ in range(draw(st.integers(0, 2))):
        sp = heap.create_space()
        sp.mtime = draw(MTIMES)
        spaces.append(sp)
    n = draw(st.integers(1, max_objects))
    new = [heap.create(None, space=draw(st.sampled_from(spaces)), mtime=draw(MTIMES)) for _ in range(n)]
    # Mostly new objects, so that cycles among them are common; core objects too.
    objs = new * 4 + spaces[1:] + core
    for obj in new:
        cls, attrs, comps, payload, magic, applying, extra = draw(OBJECT)
        obj.cls = cls(objs)  # any object, itself included: cycles
        obj.attrs.update(attrs(objs))
        obj.comps.extend(_all(comps)(objs))
        obj.payload = payload(objs)
        obj.magicattr = magic
        obj.applying = applying
        obj.extra = extra
        if isinstance(obj.payload, PayloadUnknown):
            # An unknown payload's members share the object's JSON object with its members: only the
            # members rpsc knows to be object-level (`loadrout`) can be told apart from payload members.
            obj.payload.members.pop("loadrout", None)
            if obj.extra:
                obj.extra = {k: v for k, v in obj.extra.items() if k == "loadrout"} or None
    for obj in new:
        pl = obj.payload
        if isinstance(pl, PayloadClassInfo):
            # The writer derives `class_name` from the `class_symb` symbol's name, as upstream's dumper does.
            symb = pl.symb
            named = symb is not None and isinstance(symb.payload, PayloadSymbol)
            pl.name = symb.payload.name if named else None  # type: ignore[union-attr]
    heap.roots.update(draw(st.sets(st.sampled_from(new), max_size=3)))
    heap.constants.update(draw(st.sets(st.sampled_from(new), max_size=2)))
    heap.plugins.update(draw(st.sets(st.sampled_from(new), max_size=2)))
    return heap
