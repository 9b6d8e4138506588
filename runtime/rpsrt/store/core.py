"""A fresh heap of RefPerSys's well-known core objects, with their upstream OIDs (`new_heap`).

The facts below (OIDs, names, superclasses, symbols) are those of upstream's 2024A store, written as data:
each class has a `classinfo` payload naming its superclass and its symbol, and its symbol object (class
`symbol`) has the class as its value, as upstream has them.
"""

from __future__ import annotations

from rpsrt.model import wellknown as wk
from rpsrt.model.heap import Heap
from rpsrt.model.objects import PayloadClassInfo, PayloadSpace, PayloadSymbol
from rpsrt.model.oid import Oid
from rpsrt.model.values import VSet

#: A fixed modification time for every core object, so that `new_heap()` always dumps to the same bytes.
CORE_MTIME = 1648448902.0

#: (class name, class OID, superclass name, symbol OID, symbol is a global root upstream)
CORE_CLASSES: tuple[tuple[str, str, str, str, bool], ...] = (
    ("value", "_6XLY6QfcDre02922jz", "value", "_7ZRsf01mtit01xPUei", False),
    ("object", "_5yhJGgxLwLp00X0xEQ", "value", "_7X9eGs8601M021nMue", True),
    ("class", "_41OFI3r0S1t03qdB2E", "object", "_6fmq7pZkmNd03UyPuO", True),
    ("symbol", "_36I1BY2NetN03WjrOv", "object", "_3Q3hJsSgCDN03GTYW5", True),
    ("named_attribute", "_4pSwobFHGf301Qgwzh", "symbol", "_7Qfhd0QQzdy03O0jBz", False),
    ("named_selector", "_0cSUtWqTYdZ00mjeNR", "symbol", "_28AK5czKyu701KF2lg", False),
    ("space", "_2i66FFjmS7n03HNNBx", "object", "_9uwZtDshW4401x6MsY", True),
    ("int", "_2A2mrPpR3Qf03p6o5b", "object", "_2SqiFRt6QTI01CPGf1", False),
    ("string", "_62LTwxwKpQ802SsmjE", "object", "_3ppZRdS4dt002ZqydW", False),
    ("double", "_98sc8kSOXV003i86w5", "object", "_1WoBcvgat8T0044rDo", False),
    ("set", "_6JYterg6iAu00cV9Ye", "object", "_2PdqOugnnit019JFoX", False),
    ("tuple", "_6NVM7sMcITg01ug5TC", "object", "_5KVs9kaMYiU040KwVj", False),
    ("closure", "_4jISxMJ4PYU0050nUl", "object", "_0y4kTjRxYdk01uWIhK", False),
    ("json", "_3GHJQW0IIqS01QY8qD", "object", "_7vUmzaAjb2f000BAFb", False),
    ("immutable_instance", "_6ulDdOP2ZNr001cqVZ", "object", "_3HfCkVJzEdq042msZp", False),
    ("function", "_9BnrMLXUhfG00llx8X", "object", "_2ls58Vx5KVm00fEoTt", False),
    ("core_function", "_9Gz1oNPCnkB00I6VRS", "function", "_37BVwKYeEW800KchHe", False),
    ("mutable_set", "_0J1C39JoZiv03qA2HA", "object", "_3Am8E82pFkw00D7jFU", False),
    ("mutable_object_vector", "_8YknAApDQiF04BDe3W", "object", "_0ZGvUv1c0RR01Mr5VM", False),
    ("mutable_value_vector", "_8Iz9vBfs4sl041FiuR", "object", "_6eZvgmNsLPF02YHATN", False),
    ("string_dictionary", "_3FztYBKABxZ02DUPRm", "class", "_9plZLgJOEX302SJf79", False),
    ("string_buffer", "_7Y3AyF9gNx700bQJXc", "class", "_9FN4WapYGaT01lNhd5", False),
    ("agenda", "_3s7ztCCoJsj04puTdQ", "class", "_69f4MoBCZ5s04zfqiJ", False),
    ("tasklet", "_8fYqEw8vTED03wsznt", "class", "_9V4nwGbGLFP00cz0VL", False),
    ("objmap", "_21O0aRqBH0p030SV0R", "object", "_7rBF0a47s2o02ba1yM", False),
    ("environment", "_5LMLyzRp6kq04AMM8a", "objmap", "_1NpdAB6W2YQ00XwqeL", False),
    ("the_system_class", "_10YXWeY7lYc01RpQTA", "object", "_65QLbRro79q03PSiNo", False),
)

#: Upstream's constant set holds `class` and the `space` symbol.
CORE_CONSTANTS = ("_41OFI3r0S1t03qdB2E", "_9uwZtDshW4401x6MsY")


def new_heap() -> Heap:
    """A fresh heap holding the core objects in the initial space; all classes and named objects are roots."""
    heap = Heap()
    objs = {}
    for cname, cls_oid, _sup, sym_oid, _root in CORE_CLASSES:
        objs[cname] = heap.create(None, oid=Oid.parse(cls_oid), mtime=CORE_MTIME)
        objs["symbol:" + cname] = heap.create(None, oid=Oid.parse(sym_oid), mtime=CORE_MTIME)
    cls_class, sym_class = objs["class"], objs["symbol"]
    initial = heap.create(objs["space"], oid=wk.INITIAL_SPACE, mtime=CORE_MTIME)
    initial.payload = PayloadSpace()
    heap.spaces.add(initial)
    name = heap.create(objs["named_attribute"], oid=wk.NAME, mtime=CORE_MTIME)
    name.payload = PayloadSymbol("name", name)
    comment = heap.create(sym_class, oid=wk.COMMENT, mtime=CORE_MTIME)
    comment.payload = PayloadSymbol("comment")
    constant = heap.create(objs["named_attribute"], oid=wk.CONSTANT, mtime=CORE_MTIME)
    constant.attrs[name] = "constant"
    constant.attrs[comment] = f"attribute giving the set of constants in RefPerSys_system //{wk.SYSTEM}"
    system = heap.create(objs["the_system_class"], oid=wk.SYSTEM, mtime=CORE_MTIME)
    system.payload = PayloadSymbol("RefPerSys_system")
    system.attrs[name] = "RefPerSys_system"
    initial.attrs[name] = "initial_space"
    for cname, _cls_oid, sup, _sym_oid, sym_root in CORE_CLASSES:
        cls, sym = objs[cname], objs["symbol:" + cname]
        cls.cls = cls_class
        cls.attrs[name] = cname
        cls.payload = PayloadClassInfo(objs[sup], symb=sym, name=cname)
        sym.cls = sym_class
        sym.payload = PayloadSymbol(cname, cls)
        heap.roots.add(cls)
        if sym_root:
            heap.roots.add(sym)
    heap.roots.update((initial, name, comment, constant, system))
    for obj in heap.objects.values():
        obj.space = initial
    heap.constants.update(heap[t] for t in CORE_CONSTANTS)
    system.attrs[constant] = VSet(heap.constants)
    return heap
