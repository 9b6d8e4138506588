"""A checked plugin boundary: exported symbols only, signatures from the manifest, Python arity and result
types at registration, manifest extension points in `plugin check`, dependency failures in `plugin list`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from rpsc.driver.cli import main
from rpsrt import PluginError
from rpsrt.plugins import PluginManager, compile_c_plugin

from .conftest import Built, c_source, reg

RPSC = [sys.executable, "-m", "rpsc"]


def test_function_hands_out_only_manifest_exports(built: Built) -> None:
    """function() refuses a symbol the manifest does not export (rps_plugin_init) and a signature other
    than the manifest's (hello_gcd as f64(f64)); the exported one with its own signature works."""
    mgr = PluginManager([built.hello], use_env=False)
    mgr.declare("combine", "i64(i64,i64)", "all")
    mgr.load("hello_c")
    with pytest.raises(PluginError, match="defines 'rps_plugin_init' but its manifest does not export it"):
        mgr.function("rps_plugin_init", "i64()")
    with pytest.raises(PluginError, match=r"hello_gcd is exported by plugin hello_c as i64\(i64,i64\), not "
                                          r"f64\(f64\)"):
        mgr.function("hello_gcd", "f64(f64)")
    assert mgr.function("hello_gcd", "i64(i64,i64)")(12, 18) == 6
    mgr.close()


class _Plugin:
    version = "1.0.0"
    requires: list = []

    def __init__(self, name: str, impl) -> None:  # type: ignore[no-untyped-def]
        self.name, self.impl = name, impl

    def init(self, api) -> None:  # type: ignore[no-untyped-def]
        api.register_extension("combine", "impl", self.impl, 0, "i64(i64,i64)")


def _py_result(a: int, b: int) -> str:
    return f"{a}{b}"


def _py_ok(a: int, b: int) -> int:
    return a * b


@pytest.mark.parametrize("impl, message", [
    (lambda a: a, r"takes \(a\), but the point's signature i64\(i64,i64\) passes 2 argument"),
    (_py_result, r"declares the result str, but the point's signature i64\(i64,i64\) returns i64 \(int\)"),
])
def test_python_implementation_checked_at_registration(impl, message: str) -> None:  # type: ignore[no-untyped-def]
    """A Python implementation of the wrong arity, or declaring a result type other than the point's, is
    refused when it registers (the load fails, nothing stays registered); a fitting one is accepted."""
    mgr = PluginManager([], use_env=False)
    point = mgr.declare("combine", "i64(i64,i64)", "all")
    mgr.add_python_plugin(_Plugin("pybad", impl))
    with pytest.raises(PluginError, match=message):
        mgr.load("pybad")
    assert point.implementations == () and mgr.loaded == {}
    mgr.add_python_plugin(_Plugin("pygood", _py_ok))
    mgr.load("pygood")
    assert point(3, 4) == [12]
    mgr.close()


def test_host_registration_is_checked_like_a_plugins() -> None:
    """Host code registering a Python callable directly on a point gets the same arity and result checks as a
    plugin's registration through the manager; nothing of a refused callable stays registered."""
    from rpsrt.plugins.points import ExtensionPoint

    point = ExtensionPoint("combine", "i64(i64,i64)", "all")
    with pytest.raises(PluginError, match=r"takes \(a\), but the point's signature i64\(i64,i64\) passes 2"):
        point.register("bad", lambda a: a)
    with pytest.raises(PluginError, match="declares the result str"):
        point.register("worse", _py_result)
    assert point.implementations == ()
    point.register("good", _py_ok)
    assert point(3, 4) == [12]


DECLARES = c_source(
    json.dumps({"name": "declares", "version": "1.0.0", "abi": 1,
                "extension_points": [{"name": "fold", "signature": "i64(i64,i64)", "mode": "all"}]}),
    "static int32_t f(int64_t *r, int64_t a, int64_t b) { *r = a + b; return 0; }\n",
    f"return {reg('fold', 'plus', 'f')};")


def test_check_declares_the_manifest_points(tmp_path: Path) -> None:
    """`plugin check` declares the extension points of the plugin's own manifest, so a plugin registering
    into them passes without --point."""
    d = tmp_path / "p"
    d.mkdir(mode=0o755)
    (tmp_path / "declares.c").write_text(DECLARES)
    so = compile_c_plugin([tmp_path / "declares.c"], d / "declares.so")
    proc = subprocess.run([*RPSC, "plugin", "check", str(so)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "declared point: fold i64(i64,i64) (all)" in proc.stdout
    assert "extension: fold <- plus (priority 0)" in proc.stdout


def test_list_says_which_would_fail_to_load(built: Built, capsys: pytest.CaptureFixture[str]) -> None:
    """`plugin list` resolves dependencies: a plugin with a missing or conflicting requirement is listed as
    would-fail-to-load with the reason; geometry (whose requirement holds) is ok."""
    code = main(["plugin", "list", "--no-python", "--json", "--plugin-path", str(built.deps)])
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["plugins"]}
    assert code == 0
    assert rows["geometry"]["status"] == "ok"
    assert rows["missingdep"]["status"] == "unloadable"
    assert "missing dependency: missingdep -> nowhere" in rows["missingdep"]["error"]
    assert rows["conflict"]["status"] == "unloadable" and "version conflict" in rows["conflict"]["error"]
    code = main(["plugin", "list", "--no-python", "--plugin-path", str(built.deps)])
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if "missingdep" in line)
    assert "would fail to load" in line and "nowhere" in line
