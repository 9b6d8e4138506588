"""Python plugins: discovery through the `rpsc.plugins` entry points, mixing with native plugins."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from rpsrt import PluginError
from rpsrt.plugins import PluginManager

from .conftest import Built

PLUGIN_MODULE = '''
"""A Python plugin published through an entry point; it requires the native plugin core."""

class Doubler:
    name = "pydouble"
    version = "2.1.0"
    requires = [{"name": "core", "version": "^1.0"}]

    def init(self, api):
        self.api = api
        api.log(1, "pydouble ready, scale=" + str(api.argument("scale")))
        scale = int(api.argument("scale") or 1)
        api.register_extension("combine", "scaled", lambda a, b: (a + b) * scale, 10, "i64(i64,i64)")

    def fini(self):
        Doubler.finished = True

PLUGIN = Doubler()

class Broken:
    name = "pybroken"
    version = "1.0.0"
    requires = []
    def init(self, api):
        api.register_extension("combine", "ok", lambda a, b: 0)
        raise ValueError("no luck")

def bad_import():
    raise ImportError("missing thing")
'''

ENTRY_POINTS = """
[rpsc.plugins]
pydouble = rpsc_test_pyplugin:PLUGIN
pybroken = rpsc_test_pyplugin:Broken
pyfailing = rpsc_test_pyplugin:bad_import
"""


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A real distribution (module + .dist-info with entry_points.txt) on sys.path."""
    (tmp_path / "rpsc_test_pyplugin.py").write_text(PLUGIN_MODULE)
    info = tmp_path / "rpsc_test_pyplugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: rpsc-test-pyplugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(ENTRY_POINTS))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("rpsc_test_pyplugin", None)


def test_entry_point_plugin_requires_native(installed: Path, built: Built) -> None:
    """A Python plugin found by entry point loads its native dependency first and shares the point."""
    mgr = PluginManager([built.deps], use_env=False)
    point = mgr.declare("combine", "i64(i64,i64)", "all")
    found = mgr.discover_python()
    assert sorted(c.name for c in found) == ["pybroken", "pydouble"]
    assert [src for src, _ in mgr.python_errors] == [
        "entry point pyfailing = rpsc_test_pyplugin:bad_import"]
    plugin = mgr.load("pydouble", {"scale": "3"})
    assert list(mgr.loaded) == ["core", "pydouble"]
    assert (plugin.kind, plugin.version) == ("python", "2.1.0")
    assert point(4, 1) == [15, 3]                       # pydouble (priority 10), then core's sub
    assert plugin.messages == [(1, "pydouble ready, scale=3")]
    with pytest.raises(PluginError, match="required by loaded plugin"):
        mgr.unload("core")
    mgr.unload("pydouble")
    assert sys.modules["rpsc_test_pyplugin"].Doubler.finished is True
    assert [i.plugin for i in point.implementations] == ["core"]
    mgr.close()


def test_python_init_failure_registers_nothing(installed: Path) -> None:
    """A Python plugin whose init raises after registering is refused and leaves nothing registered."""
    mgr = PluginManager(use_env=False)
    point = mgr.declare("combine", "i64(i64,i64)", "all")
    mgr.discover_python()
    with pytest.raises(PluginError, match="pybroken: init raised ValueError: no luck"):
        mgr.load("pybroken")
    assert point.implementations == () and mgr.loaded == {}


def test_python_plugin_bad_registration(installed: Path) -> None:
    """A Python registration into an unknown point or with another signature raises PluginError."""
    class Bad:
        name, version, requires = "pybad", "1.0.0", []

        def __init__(self, point: str, sig: str | None) -> None:
            self.point, self.sig = point, sig

        def init(self, api) -> None:  # noqa: ANN001
            api.register_extension(self.point, "x", lambda: 0, 0, self.sig)

    for point, sig, message in (("nope", None, "unknown extension point 'nope'"),
                                ("combine", "i64(i64)", "differs from the point's")):
        mgr = PluginManager(use_env=False)
        mgr.declare("combine", "i64(i64,i64)", "all")
        mgr.add_python_plugin(Bad(point, sig))
        with pytest.raises(PluginError, match=message):
            mgr.load("pybad")
        assert mgr.point("combine").implementations == () and mgr.loaded == {}


def test_python_plugin_protocol_validated() -> None:
    """An object without init, or with a bad name or version, is refused when added."""
    class NoInit:
        name, version, requires = "x", "1.0.0", []

    class BadName:
        name, version, requires = "../x", "1.0.0", []

        def init(self, api) -> None:  # noqa: ANN001
            pass

    mgr = PluginManager(use_env=False)
    with pytest.raises(PluginError, match="has no init"):
        mgr.add_python_plugin(NoInit())
    with pytest.raises(PluginError, match="invalid plugin name"):
        mgr.add_python_plugin(BadName())
