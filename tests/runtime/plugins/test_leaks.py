"""Load/unload/reload cycles leak no registrations, no file descriptors and no mappings."""

from __future__ import annotations

import os

from rpsrt.plugins import PluginManager

from .conftest import Built


def fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def maps_count(path: str) -> int:
    with open("/proc/self/maps") as f:
        return sum(1 for line in f if line.rstrip().endswith(path))


def test_hundred_cycles_leak_nothing(built: Built) -> None:
    """120 load/call/unload and reload cycles (with a dependency chain) end with no fd, map or registration."""
    mgr = PluginManager([built.hello, built.deps], use_env=False)
    point = mgr.declare("combine", "i64(i64,i64)", "all")
    hello, core = str(built.hello / "hello_c.so"), str(built.deps / "core.so")
    mgr.load("hello_c")
    mgr.unload("hello_c")
    fds = fd_count()
    for i in range(120):
        plugin = mgr.load("hello_c", {"priority": str(i)})
        assert point(i, 1) == [i + 1]
        assert maps_count(hello) > 0 and plugin.loaded
        if i % 2:
            mgr.load("geometry")
            assert len(point.implementations) == 3
            assert mgr.function("geometry_quad", "i64(i64)")(i) == 4 * i
            mgr.unload("geometry")
            mgr.unload("core")
        plugin = mgr.reload("hello_c")
        assert plugin.arguments == {"priority": str(i)}
        assert [x.priority for x in point.implementations] == [i]
        mgr.unload("hello_c")
        assert point.implementations == ()
        assert maps_count(hello) == 0 and maps_count(core) == 0
    assert fd_count() == fds
    assert mgr.loaded == {} and mgr._hosts == {}
