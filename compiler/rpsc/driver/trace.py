"""Chrome traces (chrome://tracing, Perfetto) of `rpsc build --trace FILE`: the Python phases and ninja's steps.

`tracing()` activates a `Trace` for the duration of a `with` block; `phase(name)` (a no-op when no trace is
active) records a complete event ("ph": "X") around a block on the `rpsc` row. `Trace.ninja_steps(build_dir,
log_offset, start)` adds the steps ninja logged in `.ninja_log` during one run (from that byte offset on), each
on a row of its own while it overlaps another ("ninja 1", "ninja 2", ...), placed at the run's start.
`Trace.write(path)` writes `{"traceEvents": [...], "displayTimeUnit": "ms"}` atomically.
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
