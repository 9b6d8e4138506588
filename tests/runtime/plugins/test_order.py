"""Dispatch order is deterministic: priority (higher first), then plugin name, then registration order."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st
from rpsrt.plugins import PluginManager

from .conftest import Built


@dataclass
class PyPlugin:
    """A Python plugin registering a list of (impl name, priority) into `combine`."""

    name: str
    impls: list[tuple[str, int]]
    version: str = "1.0.0"
    requires: list = field(default_factory=list)

    def init(self, api) -> None:  # noqa: ANN001
        for impl, prio in self.impls:
            api.register_extension("combine", impl, lambda a, b, tag=(self.name, impl): tag, prio)


impl_specs = st.lists(st.tuples(st.sampled_from(["p_a", "p_b", "p_c", "p_d"]), st.integers(-2, 2)),
                      min_size=1, max_size=12)


@settings(max_examples=60)
@given(specs=impl_specs, data=st.data())
def test_order_is_independent_of_load_order(specs: list[tuple[str, int]], data: st.DataObject) -> None:
    """Whatever order the plugins load in, dispatch follows (-priority, plugin name, registration order)."""
    per_plugin: dict[str, list[tuple[str, int]]] = {}
    for i, (plugin, prio) in enumerate(specs):
        per_plugin.setdefault(plugin, []).append((f"i{i}", prio))
    expected = sorted(((prio, plugin, idx, impl) for plugin, impls in per_plugin.items()
                       for idx, (impl, prio) in enumerate(impls)), key=lambda t: (-t[0], t[1], t[2]))
    load_order = data.draw(st.permutations(sorted(per_plugin)))
    mgr = PluginManager(use_env=False)
    point = mgr.declare("combine", "i64(i64,i64)", "all")
    for name in load_order:
        mgr.add_python_plugin(PyPlugin(name, per_plugin[name]))
        mgr.load(name)
    assert [(i.plugin, i.name) for i in point.implementations] == [(p, impl) for _, p, _, impl in expected]
    assert point(0, 0) == [(p, impl) for _, p, _, impl in expected]
    mgr.close()
    assert point.implementations == ()


def test_native_and_python_ties(built: Built) -> None:
    """A native and a Python implementation at equal priority order by plugin name; priority wins first."""
    mgr = PluginManager([built.hello], use_env=False)
    point = mgr.declare("combine", "i64(i64,i64)", "all")
    mgr.add_python_plugin(PyPlugin("aaa", [("first", 5)]))
    mgr.add_python_plugin(PyPlugin("zzz", [("last", 5), ("top", 6)]))
    for name in ("zzz", "hello_c", "aaa"):
        mgr.load(name, {"priority": "5"} if name == "hello_c" else None)
    assert [(i.plugin, i.name) for i in point.implementations] == [
        ("zzz", "top"), ("aaa", "first"), ("hello_c", "add"), ("zzz", "last")]
    assert point(2, 3) == [("zzz", "top"), ("aaa", "first"), 5, ("zzz", "last")]
    host = point.register("host", lambda a, b: "host", priority=5)
    assert point.implementations[1] is host      # host registrations have plugin name ""
    mgr.close()


@settings(max_examples=100)
@given(specs=st.lists(st.tuples(st.sampled_from(["", "a", "b"]), st.integers(-1, 1)), min_size=1, max_size=10),
       data=st.data())
def test_register_order_is_a_pure_function(specs: list[tuple[str, int]], data: st.DataObject) -> None:
    """Registering the same implementations in any order gives (-priority, plugin, registration order)."""
    order = data.draw(st.permutations(range(len(specs))))
    point = PluginManager(use_env=False).declare("p", "void()", "all")
    for position in order:
        plugin, prio = specs[position]
        point.register(f"impl{position}", lambda position=position: position, prio, plugin=plugin)
    rank = {position: k for k, position in enumerate(order)}
    expected = sorted(range(len(specs)), key=lambda i: (-specs[i][1], specs[i][0], rank[i]))
    assert point() == expected
    assert [i.name for i in point.implementations] == [f"impl{i}" for i in expected]
