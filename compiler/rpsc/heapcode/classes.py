"""rpsc's own classes and attributes in the heap (fixed OIDs, in the `rpsc` space) and the body encoding.

Code is stored as RefPerSys values that upstream RefPerSys loads and dumps back unchanged
(docs/code-in-the-heap.md): every piece of code is a closure whose connective (`fn`) is one of rpsc's
classes below, naming what it is, and whose env holds its parts. An AST node is a closure of an `ast_*`
class; its env is `[line, col, end_line, end_col, field...]` in the field order of `rpsc.frontend.ast` (a
tuple-valued field such as `Block.stmts` or `Call.args` is last and spreads over the remaining slots),
plus the checker's resolution (local slots, variable types, callee objects). Floats, ints outside 63 bits
and strings starting with `_` are closures of `code_float`, `code_bigint` and `code_string`. The OIDs were generated once with `rpsrt.Oid.random()` and are
hard-coded: every store that rpsc writes uses the same ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rpsrt.model import wellknown as wk
from rpsrt.model.heap import Heap
from rpsrt.model.objects import PayloadClassInfo, PayloadSetOb, PayloadSymbol, RpsObject
from rpsrt.model.oid import Oid
from rpsrt.model.values import Value, VClosure, VInstance, VSet

#: The space holding rpsc's classes and attributes.
RPSC_SPACE = Oid.parse("_1ot2ed64A2903P8WfH")
#: Upstream's `the_mutable_set_of_classes` (a root, payload `setob`): rpsc files its classes there, as
#: upstream's `make_named_class` does, so that upstream's dumper reaches them (and, through them, the code).
MUTABLE_SET_OF_CLASSES = Oid.parse("_4DsQEs8zZf901wT1LH")
#: The `class_attrset` of rpsc's classes that carry attributes: upstream's dumper scans a class's attribute
#: set, so every rpsc attribute object stays reachable even before anything uses it.
CLASS_ATTRSETS: dict[str, tuple[str, ...]] = {
    "code_module": ("version", "requires", "module_space", "source_file", "decls", "code_modules"),
    "code_function": ("signature", "body", "source", "in_module", "native_symbol", "code_hash"),
    "extension_point": ("signature", "dispatch_mode", "source", "in_module"),
}
#: mtime given to rpsc's own objects (fixed, so that creating them is deterministic).
RPSC_MTIME = 1764374400.0

#: name -> (oid, superclass name or None for `object`)
CLASSES: dict[str, tuple[str, str | None]] = {
    "code_module": ("_6G3APqciT69040zWtX", None),
    "code_function": ("_1L9JYuBaiAo00qU37L", None),
    "extension_point": ("_1nmaoj43pZv025XvVZ", None),
    "code_signature": ("_0Na034vnYoO03Wjxf3", None),
    "code_source": ("_8dzHMT6Tvcf02VrQ7E", None),
    "code_requirement": ("_2Oe5T6TyMwL030umrd", None),
    "code_decl": ("_8NunzDdpzqb03x8ZcH", None),
    "code_sequence": ("_5LedjuNEzgs03sSkFg", None),
    "code_value": ("_0fVmk54KqD7014cTpn", None),
    "code_float": ("_8DvgZwlr0th04uRZ2W", None),
    "code_bigint": ("_5aLKJBT8c2p04kSxaH", None),
    "code_string": ("_96b5Nn5YFEb01dcP0K", None),
    "ast_node": ("_6FSoaCuVOat010tmFr", None),
    "ast_param": ("_2bChfFxan6j022tb2D", "ast_node"),
    "ast_block": ("_2WMd0eD5AT002w3k7O", "ast_node"),
    "ast_var": ("_8kYRzid9kzO02zYwBz", "ast_node"),
    "ast_assign": ("_4pEDVmQvKxW02Z28P0", "ast_node"),
    "ast_if": ("_7b59K4kZjWH04yFSBR", "ast_node"),
    "ast_while": ("_460jU1dzXtV03hSQdP", "ast_node"),
    "ast_for": ("_128zGopANeF00aOoVJ", "ast_node"),
    "ast_break": ("_9b0BD1ZcDyY04mynN7", "ast_node"),
    "ast_continue": ("_01vqEv5M17G00llVvH", "ast_node"),
    "ast_return": ("_1xCrdVgxcl902HHYdn", "ast_node"),
    "ast_expr_stmt": ("_1jwPCUETqTL022uQq9", "ast_node"),
    "ast_int": ("_1b3el4CmxEm00kCoia", "ast_node"),
    "ast_float": ("_4ro8R7N8og501x10BS", "ast_node"),
    "ast_bool": ("_2YsBvEV3HXY00JZ5mz", "ast_node"),
    "ast_name": ("_3g9O7GIQ4lH02iQsfJ", "ast_node"),
    "ast_call": ("_7OIYRRPe74J02me0Yv", "ast_node"),
    "ast_unary": ("_1GlI2d4fliP048H2t3", "ast_node"),
    "ast_binary": ("_6uoAvOlAXbQ049uCGO", "ast_node"),
    # version 2
    "ast_str": ("_0gCSse7EW8Z04tMz5J", "ast_node"),
    "ast_null": ("_9sKivDaOzr700kEfmc", "ast_node"),
    "ast_oid": ("_7t1kK0k85zC02Q10N0", "ast_node"),
    "ast_get_attr": ("_5bvb9QNd7kV02IbxJb", "ast_node"),
    "ast_set_attr": ("_5nq9jjzYjzb02Inlx2", "ast_node"),
    "ast_send": ("_1ZhbHF42VzK03tATG7", "ast_node"),
    "ast_index": ("_7GMH8I0NwLL04p3ER5", "ast_node"),
    "ast_set_index": ("_9XG41UHpUPP03b5mee", "ast_node"),
    "ast_new": ("_7fqPK1LQ8Kz02imxKC", "ast_node"),
    "ast_new_field": ("_1ty7l3Pp9mA01p00fG", "ast_node"),
}

#: name -> oid of the symbol object of each class (class `symbol`, its value the class, as upstream has).
CLASS_SYMBOLS: dict[str, str] = {
    "code_module": "_6xibn0kE6N302LqBdd",
    "code_function": "_0zSJMxemuKh01mG69i",
    "extension_point": "_0JuMp4WVwjB03e6BL8",
    "code_signature": "_7BtSqdGbGgw02zXsIJ",
    "code_source": "_3K3Du5pBvZa04bNueE",
    "code_requirement": "_0brdXdOF8ZI04wU22i",
    "code_decl": "_1Wl10rllU3q036RQgX",
    "code_sequence": "_3G4LumbTkOw02jfX8z",
    "code_value": "_0UBfK6mxJ4A039C4Nu",
    "code_float": "_18Ds4DCV58J03uIh4c",
    "code_bigint": "_1nl5Qh4jgYN000j4Pb",
    "code_string": "_8z1lkMkMwcd011Inoi",
    "ast_node": "_8qhjOd6MyYF01xA0RP",
    "ast_param": "_12YNH1UnKk101c4nVn",
    "ast_block": "_2d4ArsKVay902QBji2",
    "ast_var": "_0rPAV2p9Cgu03J7Hjt",
    "ast_assign": "_3QBnW8uZPBj01zoYx5",
    "ast_if": "_4gvwFv95nJI03NUNVz",
    "ast_while": "_702JH3yZK73038dV4b",
    "ast_for": "_4ZScSnTrcVm04yQ7QS",
    "ast_break": "_11bStWbyjTu00oPcKg",
    "ast_continue": "_1SzOyEYGQdV04E8Pp9",
    "ast_return": "_4IZBmujJQ6l00MiIkz",
    "ast_expr_stmt": "_3ckXO3YFGCn03eQUdf",
    "ast_int": "_3vxOQM7vHaK004vegh",
    "ast_float": "_2Bp0jlYUezd00xhm3s",
    "ast_bool": "_1iZmvFls47U01LDhGT",
    "ast_name": "_4fUkXXL0QfP02qTgJm",
    "ast_call": "_0N9h7w6QSJN03mCH4I",
    "ast_unary": "_3ELWcZ2WU0B01nBELN",
    "ast_binary": "_9qbKXBHvgud01ltdxw",
    "ast_str": "_0Zu8KBwbs7W037DBJW",
    "ast_null": "_65KTLP1Wtyb01gKELN",
    "ast_oid": "_4J9318nx4jJ03NhsY5",
    "ast_get_attr": "_0mWsSXqcYUB00ZPiNg",
    "ast_set_attr": "_8KNJgZhTGIw03855sb",
    "ast_send": "_7MSWkzUzBFn04bIahm",
    "ast_index": "_5G9iYClxIqe043jhgQ",
    "ast_set_index": "_9cKu790Dnvc00fZhmz",
    "ast_new": "_4tRZqtaLBNL016qFTy",
    "ast_new_field": "_6fWHYDDmKzu01RdLdp",
}

#: name -> oid of rpsc's attributes (class `named_attribute`). `name` is upstream's (`wk.NAME`).
ATTRIBUTES: dict[str, str] = {
    "signature": "_1seab4C1nPo03MDwTh",
    "body": "_0IXQXLBZENf00mRis9",
    "source": "_8FRgLYt5irE04j9U4a",
    "in_module": "_0y1cVg3KPKw02Uk4TI",
    "version": "_8scE9salhO000dxmD6",
    "requires": "_5DCiYvhUdzu03AM6pI",
    "module_space": "_7YSnwVkk6TO04ivHX7",
    "source_file": "_7YNMzg455xr028Y3J9",
    "decls": "_3dGj6zhdmnS02bRfz5",
    "dispatch_mode": "_0AyEoCTBbtH018qxnC",
    "native_symbol": "_3SCi4xtZ8Y400rHVTT",
    "code_hash": "_2m4QaXj5Mbe03zdFpO",
    "code_modules": "_6OyY6pW1WjM0459PKn",
}

#: AST node kind (dataclass name) -> heap class name.
NODE_CLASS = {
    "Param": "ast_param", "Block": "ast_block", "VarStmt": "ast_var", "AssignStmt": "ast_assign",
    "IfStmt": "ast_if", "WhileStmt": "ast_while", "ForStmt": "ast_for", "BreakStmt": "ast_break",
    "ContinueStmt": "ast_continue", "ReturnStmt": "ast_return", "ExprStmt": "ast_expr_stmt",
    "IntLit": "ast_int", "FloatLit": "ast_float", "BoolLit": "ast_bool", "Name": "ast_name",
    "Call": "ast_call", "Unary": "ast_unary", "Binary": "ast_binary",
    "StrLit": "ast_str", "NullLit": "ast_null", "OidLit": "ast_oid", "GetAttr": "ast_get_attr",
    "SetAttrStmt": "ast_set_attr", "Send": "ast_send", "Index": "ast_index", "SetIndexStmt": "ast_set_index",
    "New": "ast_new", "NewField": "ast_new_field",
}

#: Core objects rpsc needs in any heap (created as bare stand-ins when a heap lacks them).
_CORE_NEEDED = {
    "object": (wk.OBJECT, wk.CLASS), "class": (wk.CLASS, wk.CLASS), "symbol": (wk.SYMBOL, wk.CLASS),
    "named_attribute": (wk.NAMED_ATTRIBUTE, wk.CLASS), "named_selector": (wk.NAMED_SELECTOR, wk.CLASS),
    "space": (wk.SPACE, wk.CLASS), "name": (wk.NAME, wk.NAMED_ATTRIBUTE),
}


@dataclass(frozen=True, slots=True)
class CodeClasses:
    """rpsc's class and attribute objects of one heap (see `ensure_code_classes`)."""

    heap: Heap
    space: RpsObject
    cls: dict[str, RpsObject]
    attr: dict[str, RpsObject]
    name: RpsObject  # upstream's `name` attribute

    def kind(self, obj: RpsObject | None) -> str | None:
        """The rpsc class name of an object or instance class (None when not one of ours)."""
        if obj is None:
            return None
        for k, c in self.cls.items():
            if c is obj:
                return k
        return None


def _ensure_core(heap: Heap) -> None:
    """Create bare stand-ins of the few core objects rpsc refers to when the heap lacks them."""
    initial = heap.get(wk.INITIAL_SPACE)
    if initial is None:
        initial = heap.create(None, oid=wk.INITIAL_SPACE, mtime=RPSC_MTIME)
        from rpsrt.model.objects import PayloadSpace

        initial.payload = PayloadSpace()
        initial.space = initial
        heap.spaces.add(initial)
    for _name, (oid, _cls) in _CORE_NEEDED.items():
        if heap.get(oid) is None:
            heap.create(None, oid=oid, mtime=RPSC_MTIME, space=initial)
    if initial.cls is None:
        initial.cls = heap[wk.SPACE]
    for name, (oid, cls) in _CORE_NEEDED.items():
        obj = heap[oid]
        if obj.cls is None:
            obj.cls = heap[cls]
            if cls == wk.CLASS and obj.payload is None:
                obj.payload = PayloadClassInfo(heap[wk.OBJECT], name=name)
            if wk.NAME in heap:
                obj.attrs.setdefault(heap[wk.NAME], name)


def ensure_code_classes(heap: Heap) -> CodeClasses:
    """rpsc's classes and attributes in `heap`, creating them (and their space) when missing."""
    _ensure_core(heap)
    name_attr = heap[wk.NAME]
    space = heap.get(RPSC_SPACE)
    if space is None:
        space = heap.create_space(RPSC_SPACE)
        space.mtime = RPSC_MTIME
        space.attrs[name_attr] = "rpsc"
    cls_class, obj_class = heap[wk.CLASS], heap[wk.OBJECT]
    classes: dict[str, RpsObject] = {}
    for cname, (oid_text, _sup) in CLASSES.items():
        obj = heap.get(oid_text)
        if obj is None:
            obj = heap.create(cls_class, oid=Oid.parse(oid_text), space=space, mtime=RPSC_MTIME)
            obj.attrs[name_attr] = cname
        classes[cname] = obj
    sym_class = heap[wk.SYMBOL]
    for cname, (_oid, sup) in CLASSES.items():
        obj = classes[cname]
        if obj.payload is None:
            symb = heap.get(CLASS_SYMBOLS[cname])
            if symb is None:
                symb = heap.create(sym_class, oid=Oid.parse(CLASS_SYMBOLS[cname]), space=space, mtime=RPSC_MTIME)
                symb.payload = PayloadSymbol(cname, obj)
            obj.payload = PayloadClassInfo(classes[sup] if sup else obj_class, symb=symb, name=cname)
    attr_class = heap[wk.NAMED_ATTRIBUTE]
    attrs: dict[str, RpsObject] = {}
    for aname, oid_text in ATTRIBUTES.items():
        obj = heap.get(oid_text)
        if obj is None:
            obj = heap.create(attr_class, oid=Oid.parse(oid_text), space=space, mtime=RPSC_MTIME)
            obj.attrs[name_attr] = aname
        attrs[aname] = obj
    for cname, anames in CLASS_ATTRSETS.items():
        info = classes[cname].payload
        if isinstance(info, PayloadClassInfo) and info.attrset is None:
            info.attrset = VSet(attrs[a] for a in anames)
    _file_classes(heap, classes.values())
    return CodeClasses(heap, space, classes, attrs, name_attr)


def _file_classes(heap: Heap, classes: Iterable[RpsObject]) -> None:
    """Add rpsc's classes to upstream's `the_mutable_set_of_classes`, when the heap has it (a store made by
    `rpsc store new` does not: it is not one upstream loads anyway)."""
    holder = heap.get(MUTABLE_SET_OF_CLASSES)
    if holder is None or not isinstance(holder.payload, PayloadSetOb):
        return
    holder.payload.elems.update(classes)


def find_code_classes(heap: Heap) -> CodeClasses | None:
    """rpsc's classes of a heap that has them (a loaded store), without creating anything."""
    if heap.get(RPSC_SPACE) is None or heap.get(CLASSES["code_module"][0]) is None:
        return None
    return ensure_code_classes(heap)


# ---------------------------------------------------------------- reading stored code (both encodings)

def parts(v: Value) -> tuple[RpsObject, tuple[Value, ...]] | None:
    """(class, components) of a piece of stored code: a closure (connective, env), as rpsc writes it, or an
    immutable instance (class, comps), as rpsc 0.1.0 wrote it; None for anything else."""
    t = type(v)
    if t is VClosure:
        return v.fn, v.env  # type: ignore[union-attr]
    if t is VInstance:
        return v.cls, v.comps  # type: ignore[union-attr]
    return None


def _escaped(cc: CodeClasses, v: Value, kind: str) -> str | None:
    p = parts(v)
    if p is not None and p[0] is cc.cls[kind] and len(p[1]) == 1 and isinstance(p[1][0], str):
        return p[1][0]
    return None


def dec_str(cc: CodeClasses, v: Value) -> str | None:
    """A stored string: itself, or the text of a `code_string` closure (`"!" + text`); None stays None."""
    if v is None or isinstance(v, str):
        return v
    text = _escaped(cc, v, "code_string")
    if text is None or not text.startswith("!"):
        raise ValueError(f"not a stored string: {v!r}")
    return text[1:]


def dec_int(cc: CodeClasses, v: Value) -> int:
    """A stored int: itself, a `code_bigint` closure, or (rpsc 0.1.0) its decimal text."""
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    if isinstance(v, str):
        return int(v)
    text = _escaped(cc, v, "code_bigint")
    if text is None:
        raise ValueError(f"not a stored int: {v!r}")
    return int(text)


def dec_float(cc: CodeClasses, v: Value) -> float:
    """A stored float: a `code_float` closure of its `repr`, or (rpsc 0.1.0) that text itself."""
    if isinstance(v, str):
        return float(v)
    text = _escaped(cc, v, "code_float")
    if text is None:
        raise ValueError(f"not a stored float: {v!r}")
    return float(text)


def registered_modules(cc: CodeClasses) -> tuple[RpsObject, ...]:
    """The module objects filed in the `code_modules` set of the `code_module` class."""
    v = cc.cls["code_module"].attrs.get(cc.attr["code_modules"])
    return tuple(v.elems) if isinstance(v, VSet) else ()
