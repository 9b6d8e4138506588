"""Chrome traces (chrome://tracing, Perfetto) of `rpsc build --trace FILE`: the Python phases and ninja's steps.

`tracing()` activates a `Trace` for the duration of a `with` block; `phase(name)` (a no-op when no trace is
active) records a complete event ("ph": "X") around a block on the `rpsc` row. `Trace.ninja_steps(build_dir,
log_offset, start)` adds the steps ninja logged in `.ninja_log` during one run (from that byte offset on), each
on a row of its own while it overlaps another ("ninja 1", "ninja 2", ...), placed at the run's start.
`Trace.write(path)` writes `{"traceEvents": [...], "displayTimeUnit": "ms"}` atomically; for a path ending in
.png, .svg or .pdf it draws the same events instead, as a timeline (`gantt_dot`: one row per trace row, a
bar per event, widths proportional to durations) rendered with Graphviz.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_current: Trace | None = None

PID = 1
MAIN_TID = 1


class Trace:
    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.events: list[dict[str, Any]] = [
            {"name": "process_name", "ph": "M", "pid": PID, "args": {"name": "rpsc build"}},
            {"name": "thread_name", "ph": "M", "pid": PID, "tid": MAIN_TID, "args": {"name": "rpsc"}},
        ]
        self._lanes: list[float] = []

    def now_us(self) -> float:
        return (time.perf_counter() - self.t0) * 1e6

    def complete(self, name: str, start_us: float, end_us: float, tid: int = MAIN_TID, cat: str = "rpsc",
                 args: dict[str, Any] | None = None) -> None:
        ev = {"name": name, "cat": cat, "ph": "X", "pid": PID, "tid": tid, "ts": round(start_us, 1),
              "dur": round(max(end_us - start_us, 0.0), 1)}
        if args:
            ev["args"] = args
        self.events.append(ev)

    def ninja_steps(self, build_dir: Path, log_offset: int, start_us: float) -> int:
        """Add the steps of one ninja run from `.ninja_log` (lines after `log_offset`); their count."""
        try:
            with open(build_dir / ".ninja_log", "rb") as f:
                f.seek(log_offset)
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return 0
        steps = []
        for line in lines:
            parts = line.split("\t")
            if line.startswith("#") or len(parts) < 4:
                continue
            try:
                steps.append((int(parts[0]), int(parts[1]), parts[3]))
            except ValueError:
                continue
        for begin, end, output in sorted(steps):
            lane = next((i for i, free in enumerate(self._lanes) if free <= begin), None)
            if lane is None:
                lane = len(self._lanes)
                self._lanes.append(0)
                self.events.append({"name": "thread_name", "ph": "M", "pid": PID, "tid": 100 + lane,
                                    "args": {"name": f"ninja {lane + 1}"}})
            self._lanes[lane] = end
            kind = "link" if output.endswith(".so") else "compile" if output.endswith(".o") else "step"
            self.complete(os.path.basename(output), start_us + begin * 1000, start_us + end * 1000,
                          tid=100 + lane, cat=f"ninja,{kind}", args={"output": output})
        return len(steps)

    def write(self, path: str | os.PathLike[str]) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.suffix.lower() in (".png", ".svg", ".pdf"):
            from rpsc.driver.graph import render

            render(gantt_dot(self.events), target)
            return
        data = json.dumps({"traceEvents": self.events, "displayTimeUnit": "ms"}, indent=1).encode()
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name[:16]}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


@contextlib.contextmanager
def tracing() -> Iterator[Trace]:
    """Make a new Trace the active one inside the block."""
    global _current
    saved, _current = _current, Trace()
    try:
        yield _current
    finally:
        _current = saved


def current() -> Trace | None:
    return _current


@contextlib.contextmanager
def phase(name: str, **args: Any) -> Iterator[None]:
    """Record the block as a phase of the active trace (nothing when none is active)."""
    tr = _current
    if tr is None:
        yield
        return
    start = tr.now_us()
    try:
        yield
    finally:
        tr.complete(name, start, tr.now_us(), args=args or None)


_COLOURS = {"rpsc": "#9ecae1", "compile": "#fdae6b", "link": "#a1d99b", "step": "#d9d9d9"}


def gantt_dot(events: list[dict[str, Any]], width_pt: float = 900.0) -> str:
    """A timeline of trace events in Graphviz DOT: one table row per trace row (its name first), a bar per
    complete event that holds no other event of its row (a phase is drawn through its parts), placed and
    sized in proportion to its time, with a time scale."""
    import html

    spans = [e for e in events if e.get("ph") == "X"]
    names = {e["tid"]: e["args"]["name"] for e in events if e.get("ph") == "M" and e.get("name") == "thread_name"}
    if not spans:
        return 'digraph trace { node [shape=plaintext]; empty [label="no events"]; }\n'
    t0 = min(e["ts"] for e in spans)
    total = max(e["ts"] + e["dur"] for e in spans) - t0 or 1.0
    scale = width_pt / total
    rows = []
    for tid in sorted({e["tid"] for e in spans}):
        cells = [f'<TD ALIGN="LEFT" WIDTH="70" FIXEDSIZE="TRUE"><B>{html.escape(names.get(tid, str(tid)))}</B></TD>']
        x = 0.0
        row = [e for e in spans if e["tid"] == tid]
        # the leaves: an event that holds another of its row is drawn through its parts
        leaves = [e for e in row if not any(f is not e and e["ts"] <= f["ts"] and f["ts"] + f["dur"] <= e["ts"] + e["dur"]
                                            and f["dur"] < e["dur"] for f in row)]
        for e in sorted(leaves, key=lambda e: (e["ts"], -e["dur"])):
            start = (e["ts"] - t0) * scale
            if start < x - 0.5:
                continue  # nested inside (or overlapping) what is drawn already
            if start - x >= 1:
                cells.append(f'<TD WIDTH="{start - x:.0f}" FIXEDSIZE="TRUE" BORDER="0"> </TD>')
                x = start
            w = max(e["dur"] * scale, 2.0)
            kind = e.get("cat", "rpsc").split(",")[-1]
            label = html.escape(e["name"]) if w > 7 * len(e["name"]) else ""
            tip = html.escape(f'{e["name"]}: {e["dur"] / 1000:.1f} ms')
            cells.append(f'<TD WIDTH="{w:.0f}" FIXEDSIZE="TRUE" BORDER="1" BGCOLOR="{_COLOURS.get(kind, "#d9d9d9")}" '
                         f'TITLE="{tip}" TOOLTIP="{tip}">{label}</TD>')
            x += w
        cells.append(f'<TD BORDER="0" WIDTH="{max(width_pt - x, 1):.0f}" FIXEDSIZE="TRUE"> </TD>')
        # each row is a table of its own: the cells of different rows must not share columns
        rows.append(f"<TR>{cells[0]}<TD>" + '<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">'
                    "<TR>" + "".join(cells[1:]) + "</TR></TABLE></TD></TR>")
    half = width_pt / 2
    scale_row = ('<TR><TD BORDER="0"></TD><TD BORDER="0"><TABLE BORDER="0" CELLSPACING="0" CELLPADDING="0"><TR>'
                 f'<TD WIDTH="{half:.0f}" FIXEDSIZE="TRUE" ALIGN="LEFT">0 ms</TD>'
                 f'<TD WIDTH="{half:.0f}" FIXEDSIZE="TRUE" ALIGN="RIGHT">{total / 1000:.0f} ms</TD>'
                 "</TR></TABLE></TD></TR>")
    table = ('<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">' + "".join(rows) + scale_row
             + "</TABLE>")
    return ('digraph trace {\n  node [shape=plaintext, fontname="monospace", fontsize=9];\n'
            f"  timeline [label=<{table}>];\n}}\n")
