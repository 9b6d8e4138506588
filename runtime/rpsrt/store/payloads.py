"""The payload kinds of a store (STORE_FORMAT.md §5): each kind's reading and writing side by side, and the
codec table `CODECS` that the loader (`reader`) and the dumper (`writer`) both take their payload code from.

A loader `_ld_KIND(ld, d)` gets the loader (`reader._Loader`: `ref`, `opt_ref`, `value`, `array`, `plain`,
`int_or_none`, `error`, `by_text`) and the object's remaining JSON members `d`; it pops the members it reads
(what is left goes to `Payload.extra`) and returns the payload. A writer `_w_KIND(w, pl, m)` gets the object
writer (`writer._ObjectWriter`: `root`, `member`, `refs`, `values`, `dumped`) and appends `(member, text)`
pairs to `m`, which the writer sorts by member name, as jsoncpp does. To add a kind: its `Payload` class in
`rpsrt.model.objects`, its loader and writer here, and one `Codec` row.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import attrgetter
from typing import TYPE_CHECKING, Any, NamedTuple

from rpsrt.model.objects import (
    Payload,
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
    payload_of,
)
from rpsrt.errors import StoreError
from rpsrt.store.describe import _kind, _short
from rpsrt.store.jsonfmt import STYLE_OBJECT, quote, write_root

if TYPE_CHECKING:
    from rpsrt.store.reader import _Loader
    from rpsrt.store.writer import _ObjectWriter

#: Sort key of objects: their OID (compared in C).
_oid_of = attrgetter("oid")


# -- shared by the loaders ----------------------------------------------------------------------------------

def _need(ld: _Loader, d: dict[str, Any], key: str, kind: str) -> Any:
    """Pop a required payload member, or say what is missing."""
    if key not in d:
        raise ld.error(f"{kind} payload lacks {key}", '"payload"')
    return d.pop(key)


_MISSING: Any = object()


def _refs(ld: _Loader, items: Any, what: str, nulls: bool = False) -> list[Any]:
    ld.array(items, what)
    if nulls:
        return [ld.opt_ref(x, what) for x in items]
    return [ld.ref(x, what) for x in items]


# -- symbol --------------------------------------------------------------------------------------------------

def _ld_symbol(ld: _Loader, d: dict[str, Any]) -> Payload:
    pop = d.pop
    name = pop("symb_name", _MISSING)
    if name is _MISSING:
        if "name" not in d:
            raise ld.error("symbol payload lacks symb_name", '"payload"')
        # The spelling upstream's dumper wrote on 2019-12-30 (name, symval, weak); written back in today's.
        keys = ("name", "symval", "weak")
        name = pop("name")
    else:
        keys = ("symb_name", "symb_val", "symb_weak")
    if type(name) is not str:
        raise ld.error(f"symbol name is {_kind(name)}, not a string", f'"{keys[0]}"')
    v = pop(keys[1], None)
    if v is not None:
        val = ld.by_text.get(v) if type(v) is str else None
        if val is None:
            val = ld.value(v)
    else:
        val = None
    weak = pop(keys[2], False)
    if weak is not False and weak is not True:
        raise ld.error(f"{keys[2]} is {_kind(weak)}, not true or false", f'"{keys[2]}"')
    return PayloadSymbol(name, val, weak)


def _w_symbol(w: _ObjectWriter, pl: PayloadSymbol, m: list[tuple[str, str]]) -> None:
    m.append(("payload", '"symbol"'))
    m.append(("symb_name", quote(pl.name)))
    if pl.value is not None:
        m.append(("symb_val", w.root(pl.value)))
    if pl.weak:
        m.append(("symb_weak", "true"))

# -- classinfo -----------------------------------------------------------------------------------------------

def _ld_classinfo(ld: _Loader, d: dict[str, Any]) -> Payload:
    pop = d.pop
    get = ld.by_text.get
    sup = pop("class_super", None) if "class_super" in d else pop("superclass", None)
    if sup is None:
        raise ld.error("classinfo payload lacks class_super", '"payload"')
    methodict = pop("class_methodict", None) if "class_methodict" in d else pop("methodict", None)
    if methodict is None:
        raise ld.error("classinfo payload lacks class_methodict", '"payload"')
    if type(methodict) is not list:
        ld.array(methodict, "class_methodict")
    pl = PayloadClassInfo((get(sup) if type(sup) is str else None) or ld.ref(sup, "superclass"))
    if methodict:
        md = pl.methodict
        for e in methodict:
            if type(e) is not dict:
                raise ld.error(f"bad method entry {_short(e)}", '"class_methodict"')
            md[ld.ref(e.get("methosel"), "method selector")] = ld.value(e.get("methclos"))
    if "class_symb" in d:
        symb = pop("class_symb")
        pl.symb = (get(symb) if type(symb) is str else None) or ld.opt_ref(symb, "class symbol")
    if "class_name" in d:
        name = pop("class_name")
        if type(name) is not str:
            raise ld.error(f"class_name is {_kind(name)}, not a string", '"class_name"')
        pl.name = name
    if "class_attrset" in d:
        pl.attrset = ld.value(pop("class_attrset"))
    return pl


def _w_classinfo(w: _ObjectWriter, pl: PayloadClassInfo, m: list[tuple[str, str]]) -> None:
    m.append(("payload", '"classinfo"'))
    dumped = w.dumped
    entries = []
    for sel in sorted(pl.methodict, key=_oid_of):
        if sel not in dumped:
            continue
        entries.append('\n  \t{\n  \t\t"methclos" : ' + w.member(pl.methodict[sel], 2) + ',\n  \t\t"methosel" : "'
                       + sel.oid[2] + '"\n  \t}')
    m.append(("class_methodict", "[" + ",".join(entries) + "\n  ]" if entries else "[]"))
    # As upstream's dumper: `class_name` is the name of the `class_symb` symbol, written only (with
    # `class_symb`) when that object holds a symbol payload; a stored `class_name` is not kept apart.
    symb = pl.symb
    spl = payload_of(symb) if symb is not None else None  # a read that leaves the symbol clean
    if type(spl) is PayloadSymbol:
        m.append(("class_name", quote(spl.name)))
    if pl.superclass is None or pl.superclass not in dumped:
        raise StoreError("classinfo payload without a superclass that can be dumped")
    m.append(("class_super", '"' + pl.superclass.oid[2] + '"'))
    if symb is not None and symb in dumped:
        m.append(("class_symb", '"' + symb.oid[2] + '"'))
    if pl.attrset is not None:
        m.append(("class_attrset", w.root(pl.attrset)))

# -- setob ---------------------------------------------------------------------------------------------------

def _ld_setob(ld: _Loader, d: dict[str, Any]) -> Payload:
    return PayloadSetOb(_refs(ld, d.pop("setob", []), "setob"))


def _w_setob(w: _ObjectWriter, pl: PayloadSetOb, m: list[tuple[str, str]]) -> None:
    m.append(("payload", '"setob"'))
    m.append(("setob", w.refs(sorted(pl.elems, key=_oid_of), 0, nulls=False)))

# -- vectob --------------------------------------------------------------------------------------------------

def _ld_vectob(ld: _Loader, d: dict[str, Any]) -> Payload:
    return PayloadVectOb(_refs(ld, d.pop("vectob", []), "vectob", nulls=True))


def _w_vectob(w: _ObjectWriter, pl: PayloadVectOb, m: list[tuple[str, str]]) -> None:
    m.append(("payload", '"vectob"'))
    m.append(("vectob", w.refs(pl.elems, 0)))

# -- vectval -------------------------------------------------------------------------------------------------

def _ld_vectval(ld: _Loader, d: dict[str, Any]) -> Payload:
    return PayloadVectVal([ld.value(x) for x in ld.array(d.pop("vectval", []), "vectval")])


def _w_vectval(w: _ObjectWriter, pl: PayloadVectVal, m: list[tuple[str, str]]) -> None:
    m.append(("payload", '"vectval"'))
    m.append(("vectval", w.values(pl.elems, 0)))

# -- space ---------------------------------------------------------------------------------------------------

def _ld_space(ld: _Loader, d: dict[str, Any]) -> Payload:
    return PayloadSpace()


def _w_space(w: _ObjectWriter, pl: PayloadSpace, m: list[tuple[str, str]]) -> None:
    m.append(("payload", '"space"'))

# -- agenda --------------------------------------------------------------------------------------------------

def _ld_agenda(ld: _Loader, d: dict[str, Any]) -> Payload:
    return PayloadAgenda(*(_refs(ld, d.pop(k, []), k) for k in ("low_priority", "normal_priority",
                                                                  "high_priority")))


def _w_agenda(w: _ObjectWriter, pl: PayloadAgenda, m: list[tuple[str, str]]) -> None:
    m.append(("payload", '"agenda"'))
    for key, objs in (("low_priority", pl.low), ("normal_priority", pl.normal), ("high_priority", pl.high)):
        if objs:
            m.append((key, w.refs(objs, 0, nulls=False)))

# -- tasklet -------------------------------------------------------------------------------------------------

def _ld_tasklet(ld: _Loader, d: dict[str, Any]) -> Payload:
    todo = ld.value(d.pop("tasklet_todo")) if "tasklet_todo" in d else None
    delay = d.pop("tasklet_obsolete_delay", None)
    if delay is not None and type(delay) is not float:
        ld.int_or_none(delay, "tasklet_obsolete_delay")
    return PayloadTasklet(todo, delay)


def _w_tasklet(w: _ObjectWriter, pl: PayloadTasklet, m: list[tuple[str, str]]) -> None:
    m.append(("payload", '"tasklet"'))
    if pl.todo is not None:
        m.append(("tasklet_todo", w.root(pl.todo)))
    if pl.obsolete_delay is not None:
        m.append(("tasklet_obsolete_delay", w.root(pl.obsolete_delay)))

# -- string_dictionary ---------------------------------------------------------------------------------------

def _ld_strdict(ld: _Loader, d: dict[str, Any]) -> Payload:
    key = "dictionary" if "dictionary" in d else "dictionnary"
    entries = ld.array(d.pop(key, []), key)
    out = {}
    for e in entries:
        if type(e) is not dict or type(e.get("str")) is not str:
            raise ld.error(f"bad dictionary entry {_short(e)} (expected {{\"str\": string, \"val\": value}})",
                           f'"{key}"')
        out[e["str"]] = ld.value(e.get("val"))
    return PayloadStringDict(out)


def _w_strdict(w: _ObjectWriter, pl: PayloadStringDict, m: list[tuple[str, str]]) -> None:
    m.append(("payload", '"string_dictionary"'))
    entries = ['\n  \t{\n  \t\t"str" : ' + quote(k) + ',\n  \t\t"val" : ' + w.member(pl.dictionary[k], 2)
               + "\n  \t}" for k in sorted(pl.dictionary)]
    m.append(("dictionary", "[" + ",".join(entries) + "\n  ]" if entries else "[]"))

# -- string_buffer -------------------------------------------------------------------------------------------

def _ld_strbuf(ld: _Loader, d: dict[str, Any]) -> Payload:
    lines = d.pop("strbuf_lines", None)
    if lines is not None and (type(lines) is not list or any(type(x) is not str for x in lines)):
        raise ld.error(f"strbuf_lines is {_kind(lines)}, not an array of strings", '"strbuf_lines"')
    string = d.pop("strbuf_string", None)
    if string is not None and type(string) is not str:
        raise ld.error(f"strbuf_string is {_kind(string)}, not a string", '"strbuf_string"')
    return PayloadStringBuffer(lines, string, ld.int_or_none(d.pop("strbuf_indent", None), "strbuf_indent"))


def _w_strbuf(w: _ObjectWriter, pl: PayloadStringBuffer, m: list[tuple[str, str]]) -> None:
    m.append(("payload", '"string_buffer"'))
    if pl.lines is not None:
        m.append(("strbuf_lines", write_root(list(pl.lines), STYLE_OBJECT)))
    if pl.string is not None:
        m.append(("strbuf_string", quote(pl.string)))
    if pl.indent is not None:
        m.append(("strbuf_indent", write_root(pl.indent, STYLE_OBJECT)))

# -- objmap and environment ----------------------------------------------------------------------------------

def _objmap(ld: _Loader, d: dict[str, Any]) -> Any:
    objmap = d.pop("objmap", {})
    if type(objmap) is not dict and type(objmap) is not list:
        raise ld.error(f"objmap is {_kind(objmap)}, not an object", '"objmap"')
    return ld.plain(objmap)


def _ld_objmap(ld: _Loader, d: dict[str, Any]) -> Payload:
    descr = ld.value(d.pop("descr")) if "descr" in d else None
    return PayloadObjMap(_objmap(ld, d), descr)


def _ld_environment(ld: _Loader, d: dict[str, Any]) -> Payload:
    descr = ld.value(d.pop("descr")) if "descr" in d else None
    return PayloadEnvironment(_objmap(ld, d), descr, ld.opt_ref(d.pop("parent_env", None), "parent_env"))


def _w_objmap(w: _ObjectWriter, pl: PayloadObjMap, m: list[tuple[str, str]]) -> None:
    m.append(("payload", '"' + pl.kind + '"'))
    m.append(("objmap", write_root(pl.objmap, STYLE_OBJECT)))
    m.append(("descr", w.root(pl.descr)))
    if isinstance(pl, PayloadEnvironment):
        p = pl.parent_env
        m.append(("parent_env", '"' + p.oid[2] + '"' if p is not None and p in w.dumped else "null"))

# -- gccjit --------------------------------------------------------------------------------------------------

def _ld_gccjit(ld: _Loader, d: dict[str, Any]) -> Payload:
    return PayloadGccJit(_refs(ld, d.pop("jitseq", []), "jitseq"))


def _w_gccjit(w: _ObjectWriter, pl: PayloadGccJit, m: list[tuple[str, str]]) -> None:
    m.append(("payload", '"gccjit"'))
    m.append(("jitseq", w.refs(pl.jitseq, 0, nulls=False)))

# -- unknown kinds -------------------------------------------------------------------------------------------

def _w_unknown(w: _ObjectWriter, pl: PayloadUnknown, m: list[tuple[str, str]]) -> None:
    m.append(("payload", quote(pl.kind)))
    for k, v in pl.members.items():
        m.append((k, write_root(v, STYLE_OBJECT)))



# -- the codec table -------------------------------------------------------------------------------------------


class Codec(NamedTuple):
    """One payload kind: the `"payload"` texts it is read from (today's first, then historic spellings), the
    Payload classes written by it, and its loader and writer."""

    names: tuple[str, ...]
    classes: tuple[type, ...]
    load: Callable[[_Loader, dict[str, Any]], Payload] | None
    write: Callable[[_ObjectWriter, Any, list[tuple[str, str]]], None]


CODECS: tuple[Codec, ...] = (
    Codec(("symbol",), (PayloadSymbol,), _ld_symbol, _w_symbol),
    Codec(("classinfo", "class"), (PayloadClassInfo,), _ld_classinfo, _w_classinfo),  # "class": to 2020-05
    Codec(("setob",), (PayloadSetOb,), _ld_setob, _w_setob),
    Codec(("vectob",), (PayloadVectOb,), _ld_vectob, _w_vectob),
    Codec(("vectval",), (PayloadVectVal,), _ld_vectval, _w_vectval),
    Codec(("space",), (PayloadSpace,), _ld_space, _w_space),
    Codec(("agenda",), (PayloadAgenda,), _ld_agenda, _w_agenda),
    Codec(("tasklet",), (PayloadTasklet,), _ld_tasklet, _w_tasklet),
    # "string_dictionnary": the historic spelling (2020-11 to 2021-09)
    Codec(("string_dictionary", "string_dictionnary"), (PayloadStringDict,), _ld_strdict, _w_strdict),
    Codec(("string_buffer",), (PayloadStringBuffer,), _ld_strbuf, _w_strbuf),
    Codec(("objmap",), (PayloadObjMap,), _ld_objmap, _w_objmap),
    Codec(("environment",), (PayloadEnvironment,), _ld_environment, _w_objmap),
    Codec(("gccjit",), (PayloadGccJit,), _ld_gccjit, _w_gccjit),
    # An unknown kind is read by the loader itself (`unknown_payload`) and written back verbatim.
    Codec((), (PayloadUnknown,), None, _w_unknown),
)

#: `"payload"` text -> loader, for the reader.
LOADERS: dict[str, Callable[[_Loader, dict[str, Any]], Payload]] = {
    name: c.load for c in CODECS if c.load is not None for name in c.names}
#: Payload class -> writer, for the writer.
WRITERS: dict[type, Callable[[_ObjectWriter, Any, list[tuple[str, str]]], None]] = {
    cls: c.write for c in CODECS for cls in c.classes}
