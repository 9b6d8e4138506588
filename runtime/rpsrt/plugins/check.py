"""`rpsc plugin check` in a child process: load a plugin, report what it registered, unload it.

The parent (`check_in_child`) runs `python -m rpsrt.plugins.check REQUEST_JSON`; the child prints one JSON
report line. A crash of the plugin (a signal, an abort) kills only the child and becomes a report.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class CheckReport:
    """The outcome of checking one plugin: ok, an error message, or a crash; plus what it registered."""

    path: str
    ok: bool
    error: str | None
    crashed: bool
    details: Mapping[str, Any]

    def render(self) -> str:
        if self.ok:
            d = self.details
            lines = [f"{self.path}: ok: {d['name']} {d['version']} loaded, initialised and unloaded"]
            for dep in d.get("dependencies", []):
                lines.append(f"  dependency: {dep}")
            for ext in d.get("extensions", []):
                lines.append(f"  extension: {ext['point']} <- {ext['name']} (priority {ext['priority']})")
            for exp in d.get("exports", []):
                lines.append(f"  export: {exp}")
            for level, msg in d.get("messages", []):
                lines.append(f"  log[{level}]: {msg}")
            return "\n".join(lines)
        return self.error or f"{self.path}: error: check failed"


def check_in_child(path: str, *, search_paths: Sequence[str] = (), points: Sequence[tuple[str, str, str]] = (),
                   arguments: Mapping[str, str] | None = None, timeout: float = 60.0) -> CheckReport:
    """Load `path` in a child Python process and report; a crash or hang of the child is reported."""
    request = {"path": os.path.abspath(path), "search_paths": list(search_paths),
               "points": [list(p) for p in points], "arguments": dict(arguments or {})}
    cmd = [sys.executable, "-m", "rpsrt.plugins.check", json.dumps(request)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return CheckReport(path, False, f"{path}: error: plugin check timed out after {timeout:g} s", False, {})
    if proc.returncode < 0:
        try:
            signame = signal.Signals(-proc.returncode).name
        except ValueError:
            signame = f"signal {-proc.returncode}"
        tail = proc.stderr.strip().splitlines()[-3:]
        extra = ("\n" + "\n".join(f"  {line}" for line in tail)) if tail else ""
        return CheckReport(path, False, f"{path}: error: plugin crashed while loading (child process killed by "
                                        f"{signame}){extra}", True, {})
    last = proc.stdout.strip().splitlines()[-1:] or [""]
    try:
        report = json.loads(last[0])
    except json.JSONDecodeError:
        return CheckReport(path, False, f"{path}: error: plugin check exited with status {proc.returncode}: "
                                        f"{(proc.stderr or proc.stdout).strip()[-500:]}", proc.returncode > 128, {})
    if report.get("ok"):
        return CheckReport(path, True, None, False, report)
    return CheckReport(path, False, report.get("error") or f"{path}: error: check failed", False, report)


def _child(request: Mapping[str, Any]) -> dict[str, Any]:
    from rpsrt.errors import Error
    from rpsrt.plugins.manager import PluginManager

    path = request["path"]
    folder = os.path.dirname(path)
    try:
        mgr = PluginManager([folder, *request["search_paths"]])
        for name, sig, mode in request["points"]:
            mgr.declare(name, sig, mode)
        plugin = mgr.load_file(path, request["arguments"])
        deps = [f"{p.name} {p.version}" for p in mgr.loaded.values() if p is not plugin]
        exports = []
        for exp in plugin.candidate.manifest.exports:
            status = "found" if exp.symbol in plugin.symbols else "MISSING"
            exports.append(f"{exp.symbol} {exp.name} {exp.signature} ({status})")
        report = {
            "ok": True, "name": plugin.name, "version": plugin.version, "dependencies": deps,
            "extensions": [{"point": i.point, "name": i.name, "priority": i.priority} for i in plugin.extensions],
            "exports": exports, "messages": [list(m) for m in plugin.messages],
        }
        missing = [e for e in exports if e.endswith("(MISSING)")]
        mgr.close()
        if missing:
            return {"ok": False, "error": f"{path}: error: manifest exports symbols the file does not define: "
                                          + ", ".join(m.split()[0] for m in missing)}
        return report
    except Error as exc:
        return {"ok": False, "error": str(exc)}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    report = _child(json.loads(args[0]))
    sys.stdout.write(json.dumps(report) + "\n")
    sys.stdout.flush()
    return 0 if report.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
