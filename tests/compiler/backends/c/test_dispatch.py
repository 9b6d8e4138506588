"""Built plugins load through the PluginManager; their extensions dispatch in priority order together with
a hand-written C plugin and a Python plugin."""

from __future__ import annotations

from pathlib import Path

import pytest
from rpsc.backends.c.native import NativeEngine
from rpsrt.errors import TRAP_DIVZERO, Trap
from rpsrt.plugins import PluginManager, compile_c_plugin

from .conftest import REPO

HELLO = REPO / "plugins_src" / "hello_c" / "hello.c"


class PyPlugin:
    """A Python plugin implementing `combine` as max(a, b) at priority 12."""

    name = "pymax"
    version = "1.0.0"
    requires = ()

    def init(self, api) -> None:  # type: ignore[no-untyped-def]
        api.register_extension("combine", "py_max", lambda a, b: max(a, b), 12, "i64(i64,i64)")


def test_generated_hand_written_and_python_implementations_dispatch_by_priority(built_store: Path, tmp_path: Path):
    """`combine` (mode all) runs geometry.lcm_sum (20), hello_c's add (15), the Python max (12) and
    kernels.gcd (10), in that order; the generated ones share the host's run-time state."""
    if not HELLO.is_file():
        pytest.skip("plugins_src/hello_c/hello.c is not in this checkout")
    hello_dir = tmp_path / "hand"
    hello_dir.mkdir()
    compile_c_plugin([HELLO], hello_dir / "hello_c.so")
    manager = PluginManager([hello_dir], store=built_store, use_env=False)
    with NativeEngine(built_store, manager=manager, interruptible=False) as eng:
        manager.load("hello_c", {"priority": "15"})
        manager.add_python_plugin(PyPlugin())
        manager.load("pymax")
        point = manager.point("combine")
        order = [(i.plugin, i.name, i.priority) for i in point.implementations]
        assert order == [("geometry", "lcm_sum", 20), ("hello_c", "add", 15), ("pymax", "py_max", 12),
                         ("kernels", "gcd", 10)]
        assert point(12, 18) == [12 // 6 * 18 + 6, 30, 18, 6]
        assert eng.call("geometry.coprime_points", [10]) == eng.call("coprime_points", [10])
        with pytest.raises(Trap) as info:
            eng.call("ratio", [1, 0])
        assert info.value.code == TRAP_DIVZERO and info.value.function == "ratio"
        assert info.value.location is not None and info.value.location.endswith("kernels.rps:62:10")
        assert manager.rt.depth == 0
        assert {p for p in manager.loaded} == {"kernels", "geometry", "hello_c", "pymax"}


def test_a_tampered_plugin_is_refused(built_store: Path):
    """A plugin whose bytes differ from the checksum recorded at build time is refused before dlopen."""
    from rpsrt.errors import PluginError

    so = next((built_store / "plugins").glob("*.so"))
    data = bytearray(so.read_bytes())
    data[-1] ^= 0xFF
    so.write_bytes(bytes(data))
    with pytest.raises(PluginError, match="checksum"):
        NativeEngine(built_store, interruptible=False)
