"""Pictures: `rpsc plugin graph` (unsatisfied requirements in red, dispatch order, a compact top-down
layout) rendered to PNG with Graphviz, and `rpsc build --trace`'s Chrome trace."""

from __future__ import annotations

import json
import re
import shutil
import struct
from pathlib import Path

import pytest
from rpsc.driver.cli import main
from rpsc.driver.graph import plugin_graph, render
from rpsrt.plugins import PluginManager, compile_c_plugin

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")


def rpsc(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def _plugin(folder: Path, name: str, version: str, requires: list[dict[str, str]]) -> None:
    manifest = json.dumps({"name": name, "version": version, "abi": 1, "requires": requires, "exports": []})
    src = folder / f"{name}.c"
    src.write_text('#include <stdint.h>\n#include "rps/plugin.h"\n'
                   f"const char rps_plugin_manifest[] = {json.dumps(manifest)};\n"
                   "int32_t rps_plugin_init(const rps_plugin_api *api) { (void)api; return 0; }\n")
    compile_c_plugin([src], folder / f"{name}.so")


def test_unsatisfied_requirements_are_red_with_their_constraint(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """A missing plugin and a version that does not satisfy the constraint are red edges labelled with the
    constraint and the problem; a satisfied one is a plain edge."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    _plugin(folder, "core", "1.4.0", [])
    _plugin(folder, "geo", "1.0.0", [{"name": "core", "version": ">=2.0"}])
    _plugin(folder, "app", "0.1.0", [{"name": "geo", "version": "^1"}, {"name": "absent", "version": "~1.2"}])
    code, dot, _ = rpsc(capsys, "plugin", "graph", "--no-python", "--plugin-path", str(folder))
    assert code == 0
    assert "rankdir=TB" in dot
    edges = {m.group(1, 2): m.group(3) for m in re.finditer(r'^  "(\w+)" -> "(\w+)" \[(.*)\];$', dot, re.M)}
    assert 'label=">=2.0\\nbut 1.4.0"' in edges[("geo", "core")] and 'color="#c0392b"' in edges[("geo", "core")]
    assert 'not found' in edges[("app", "absent")] and "~1.2" in edges[("app", "absent")]
    assert "color" not in edges[("app", "geo")] and 'label="^1' in edges[("app", "geo")]
    assert re.search(r'"absent" \[label="absent\\n\(missing\)", color=red\]', dot)


def test_dispatch_order_is_drawn(examples_store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--dispatch draws each extension point as a table of its implementations in dispatch order with
    their priorities, linked to the implementing plugin; loaded plugins are bold."""
    code, dot, _ = rpsc(capsys, "plugin", "graph", "--no-python", "--store", str(examples_store), "--dispatch")
    assert code == 0
    table = re.search(r'"point:on_tick" \[shape=plain, label=<(.*)>\];', dot).group(1)  # type: ignore[union-attr]
    rows = re.findall(r'<TD>(\d+)</TD><TD PORT="i\d+" ALIGN="LEFT">([\w.]+)</TD><TD>(-?\d+)</TD>', table)
    assert rows == [("1", "events.tick_gcd", "20"), ("2", "events.tick_fib", "10"), ("3", "events.tick_early", "-5")]
    assert "mode all" in table
    assert '"point:on_tick" -> "events"' in dot and 'label="#1 #2 #3"' in dot
    assert '"events" [label="events\\n1.0.0 (native)", style="rounded,bold"]' in dot


def test_mode_first_greys_what_is_never_called() -> None:
    """In mode `first`, every implementation after the head is drawn grey (never called)."""

    class Plugin:
        def __init__(self, name: str, prio: int) -> None:
            self.name, self.version, self.requires, self.prio = name, "1.0.0", (), prio

        def init(self, api):  # type: ignore[no-untyped-def]
            api.register_extension("pick", "impl", lambda x: x, self.prio, "i64(i64)")

    mgr = PluginManager([], use_env=False)
    mgr.declare("pick", "i64(i64)", "first")
    for name, prio in (("low", 1), ("high", 9)):
        mgr.add_python_plugin(Plugin(name, prio))
        mgr.load(name)
    dot = plugin_graph(mgr, mgr.points)
    mgr.close()
    assert '<TD>1</TD><TD PORT="i1" ALIGN="LEFT">high.impl</TD><TD>9</TD>' in dot
    assert '<TD COLOR="#999999">2</TD><TD PORT="i2" ALIGN="LEFT" COLOR="#999999">low.impl</TD>' in dot


@needs_dot
def test_png_of_the_examples_and_a_compact_layout_of_36_modules(examples_store: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """The examples' graph renders to PNG; 36 modules (in chains and alone) make a block, not a strip."""
    png = tmp_path / "examples.png"
    assert rpsc(capsys, "plugin", "graph", "--no-python", "--store", str(examples_store), "--dispatch",
                "-o", str(png))[0] == 0
    w, h = png_size(png)
    assert 200 < w < 1500 and 100 < h < 1500

    class Mod:
        def __init__(self, name: str, requires: tuple[dict[str, str], ...]) -> None:
            self.name, self.version, self.requires = name, "1.0.0", requires

        def init(self, api):  # type: ignore[no-untyped-def]
            pass

    mgr = PluginManager([], use_env=False)
    for i in range(36):
        req = ({"name": f"mod{i - 1:02d}", "version": ">=1.0"},) if i % 4 else ()
        mgr.add_python_plugin(Mod(f"mod{i:02d}", req))
    wide = tmp_path / "wide.png"
    render(plugin_graph(mgr), wide)
    w, h = png_size(wide)
    assert w < 2000 and h < 2000 and max(w, h) / min(w, h) < 3, (w, h)


def test_render_refuses_unknown_formats(tmp_path: Path) -> None:
    """An output suffix Graphviz is not asked for is a clear error naming the choices."""
    from rpsc import CompileError

    with pytest.raises(CompileError, match="use .dot, .svg, .png or .pdf"):
        render("digraph {}", tmp_path / "x.gif")


def test_build_trace_is_a_chrome_trace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`rpsc build --trace` writes a Chrome trace: the Python phases on the rpsc row, every compile and link
    ninja ran on ninja rows, inside the ninja phase; a no-op build's trace shows the quick check and no step."""
    from .conftest import EXAMPLES

    store = tmp_path / "st"
    assert main(["compile", *map(str, sorted(EXAMPLES.glob("*.rps"))), "--store", str(store)]) == 0
    trace = tmp_path / "trace.json"
    assert rpsc(capsys, "build", "--store", str(store), "--trace", str(trace))[0] == 0
    doc = json.loads(trace.read_text())
    events = doc["traceEvents"]
    assert all({"name", "ph", "pid"} <= set(e) for e in events)
    spans = [e for e in events if e["ph"] == "X"]
    assert all(isinstance(e["ts"], (int, float)) and e["dur"] >= 0 for e in spans)
    names = [e["name"] for e in spans if e["tid"] == 1]
    for expected in ("rpsc build", "up-to-date check", "load store", "emit C: numeric", "emit C: events",
                     "emit C: shapes", "ninja", "record plugins in the store"):
        assert expected in names, expected
    ninja = next(e for e in spans if e["name"] == "ninja")
    steps = [e for e in spans if e["cat"].startswith("ninja,")]
    plugins = sorted(p.name for p in (store / "plugins").glob("*.so"))
    assert sorted(e["name"] for e in steps if e["name"].endswith(".so")) == plugins
    assert len([e for e in steps if e["name"].endswith(".o")]) == 3
    slack = 20_000  # µs: ninja logs whole milliseconds from its own start
    for e in steps:
        assert ninja["ts"] - 1 <= e["ts"] and e["ts"] + e["dur"] <= ninja["ts"] + ninja["dur"] + slack
        assert e["tid"] >= 100
    rows = {e["tid"]: e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    assert rows[1] == "rpsc" and all(rows[e["tid"]].startswith("ninja ") for e in steps)
    whole = next(e for e in spans if e["name"] == "rpsc build")
    assert all(whole["ts"] <= e["ts"] for e in spans)
    assert rpsc(capsys, "build", "--store", str(store), "--trace", str(trace))[0] == 0
    again = [e for e in json.loads(trace.read_text())["traceEvents"] if e["ph"] == "X"]
    assert {"rpsc build", "up-to-date check"} <= {e["name"] for e in again}
    assert not any(e["cat"].startswith("ninja,") for e in again) and "load store" not in {e["name"] for e in again}
    code, _, err = rpsc(capsys, "build", "--store", str(store), "--trace", str(tmp_path))
    assert code == 1 and "it is a folder" in err


def test_gantt_bars_are_proportional() -> None:
    """The timeline draws each row's innermost events with widths and gaps in proportion to their times."""
    from rpsc.driver.trace import gantt_dot

    events = [{"name": "thread_name", "ph": "M", "pid": 1, "tid": 1, "args": {"name": "rpsc"}},
              {"name": "whole", "ph": "X", "pid": 1, "tid": 1, "ts": 0, "dur": 3000, "cat": "rpsc"},
              {"name": "a", "ph": "X", "pid": 1, "tid": 1, "ts": 0, "dur": 1000, "cat": "rpsc"},
              {"name": "b", "ph": "X", "pid": 1, "tid": 1, "ts": 1000, "dur": 2000, "cat": "rpsc"},
              {"name": "c.o", "ph": "X", "pid": 1, "tid": 100, "ts": 500, "dur": 2000, "cat": "ninja,compile"}]
    dot = gantt_dot(events, width_pt=900)
    bars = re.findall(r'<TD WIDTH="(\d+)" FIXEDSIZE="TRUE" BORDER="1" BGCOLOR="([^"]+)" TITLE="([^:"]+):', dot)
    assert bars == [("300", "#9ecae1", "a"), ("600", "#9ecae1", "b"), ("600", "#fdae6b", "c.o")]
    assert '<TD WIDTH="150" FIXEDSIZE="TRUE" BORDER="0"> </TD>' in dot  # c.o starts at 500 µs of 3000
    assert "whole" not in dot and ">3 ms</TD>" in dot


@needs_dot
def test_build_trace_as_a_picture(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`rpsc build --trace FILE.png` renders the build's timeline to a PNG with Graphviz."""
    from .conftest import EXAMPLES

    store = tmp_path / "st"
    assert main(["compile", str(EXAMPLES / "numeric.rps"), "--store", str(store)]) == 0
    png = tmp_path / "build.png"
    assert rpsc(capsys, "build", "--store", str(store), "--trace", str(png))[0] == 0
    w, h = png_size(png)
    assert 900 < w < 1600 and 40 < h < 400
