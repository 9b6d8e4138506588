"""`rpsc plugin check` in a child process: load a plugin, report what it registered, unload it.

The parent (`check_in_child`) runs `python -P -m rpsrt.plugins.check --report-fd N REQUEST_JSON` with one
end of a socket pair as descriptor N, and first sends the child a per-run random token over it. The child
reads the token before any plugin code runs, marks the descriptor not inheritable, and sends back one line,
`TOKEN REPORT_JSON`, after the plugin is unloaded. Only that line is the verdict: whatever the plugin (or
anything else) writes to stdout, stderr or other descriptors is shown as the plugin's output, and a line on
the report channel without the token is ignored. A crash of the plugin (a signal, an abort, an `exit()` in
its constructor) kills only the child and becomes a report.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

_TOKEN_BYTES = 32
_MAX_REPORT = 1 << 24


@dataclass(frozen=True, slots=True)
class CheckReport:
    """The outcome of checking one plugin: ok, an error message, or a crash; plus what it registered.

    `reason` says why a plugin was refused before loading (one of rpsrt.plugins.trust.REASONS), or
    "load" (it was loaded but failed: dlopen, a dependency, init), "crash" or "protocol" (the child gave
    no authenticated report); `output` is what the child wrote to stdout and stderr.
    """

    path: str
    ok: bool
    error: str | None
    crashed: bool
    details: Mapping[str, Any]
    reason: str | None = None
    output: str = ""
    exit_status: int | None = field(default=None)

    def render(self) -> str:
        if self.ok:
            d = self.details
            lines = [f"{self.path}: ok: {d['name']} {d['version']} loaded, initialised and unloaded"]
            for dep in d.get("dependencies", []):
                lines.append(f"  dependency: {dep}")
            for pt in d.get("declared_points", []):
                lines.append(f"  declared point: {pt}")
            for ext in d.get("extensions", []):
                lines.append(f"  extension: {ext['point']} <- {ext['name']} (priority {ext['priority']})")
            for exp in d.get("exports", []):
                lines.append(f"  export: {exp}")
            for level, msg in d.get("messages", []):
                lines.append(f"  log[{level}]: {msg}")
        else:
            lines = [self.error or f"{self.path}: error: check failed"]
            if self.reason:
                lines.append(f"  refused: {self.reason}" if self.reason not in ("load", "crash", "protocol")
                             else f"  failed: {self.reason}")
        lines += [f"  plugin output: {line}" for line in self.output.splitlines()[-40:]]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "ok": self.ok, "error": self.error, "reason": self.reason,
                "crashed": self.crashed, "exit_status": self.exit_status, "output": self.output,
                "details": dict(self.details)}


def _python() -> list[str]:
    # -P: never put the working folder first on sys.path in the child (a hostile folder's rpsrt/).
    return [sys.executable, "-P"] if sys.version_info >= (3, 11) else [sys.executable]


def check_in_child(path: str, *, search_paths: Sequence[str] = (), points: Sequence[tuple[str, str, str]] = (),
                   arguments: Mapping[str, str] | None = None, timeout: float = 60.0,
                   declare_manifest_points: bool = True) -> CheckReport:
    """Load `path` in a child Python process and report; a crash or hang of the child is reported."""
    request = {"path": os.path.abspath(path), "search_paths": list(search_paths),
               "points": [list(p) for p in points], "arguments": dict(arguments or {}),
               "declare_manifest_points": declare_manifest_points}
    token = secrets.token_hex(_TOKEN_BYTES)
    ours, theirs = socket.socketpair()
    received = bytearray()

    def read_reports() -> None:
        try:
            while len(received) < _MAX_REPORT:
                chunk = ours.recv(1 << 16)
                if not chunk:
                    return
                received.extend(chunk)
        except OSError:
            return

    with ours:
        fd = theirs.fileno()
        cmd = [*_python(), "-m", "rpsrt.plugins.check", "--report-fd", str(fd), json.dumps(request)]
        try:
            # Its own session: on timeout, and once it has exited, the whole process group goes (a helper the
            # plugin forked must neither keep the check waiting on its output pipe nor outlive it).
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, pass_fds=(fd,), start_new_session=True)
        finally:
            theirs.close()
        ours.sendall(token.encode() + b"\n")
        reader = threading.Thread(target=read_reports, daemon=True)
        reader.start()
        chunks: list[bytes] = []
        assert proc.stdout is not None
        pipe = proc.stdout
        output_reader = threading.Thread(target=lambda: chunks.extend(iter(lambda: pipe.read1(1 << 16), b"")),
                                         daemon=True)
        output_reader.start()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            proc.wait()
            output_reader.join(timeout=2.0)
            return CheckReport(path, False, f"{path}: error: plugin check timed out after {timeout:g} s", False, {},
                               "crash", _text(b"".join(chunks)), proc.returncode)
        _kill_group(proc)
        output_reader.join(timeout=2.0)
        reader.join(timeout=5.0)
        pipe.close()
    out = b"".join(chunks)
    output = _text(out)
    report = _authenticated(bytes(received), token)
    if proc.returncode < 0:
        try:
            signame = signal.Signals(-proc.returncode).name
        except ValueError:
            signame = f"signal {-proc.returncode}"
        when = "after reporting (at exit)" if report is not None else "while loading"
        return CheckReport(path, False, f"{path}: error: plugin crashed {when} (child process killed by "
                                        f"{signame})", True, {}, "crash", output, proc.returncode)
    if report is None:
        return CheckReport(path, False, f"{path}: error: plugin check: the child exited with status "
                                        f"{proc.returncode} without a report (the plugin ended the process "
                                        "while loading, or wrote over the report channel); its output is not "
                                        "a verdict", proc.returncode > 128, {}, "protocol", output,
                           proc.returncode)
    if report.get("ok") and proc.returncode == 0:
        return CheckReport(path, True, None, False, report, None, output, 0)
    if report.get("ok"):
        return CheckReport(path, False, f"{path}: error: plugin check: the child exited with status "
                                        f"{proc.returncode} after a successful load (an exit handler of the "
                                        "plugin?)", False, report, "crash", output, proc.returncode)
    return CheckReport(path, False, report.get("error") or f"{path}: error: check failed", False, report,
                       report.get("reason") or "load", output, proc.returncode)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill what is left of the child's process group (the child itself may be gone already)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _text(raw: bytes | None) -> str:
    return (raw or b"").decode("utf-8", "replace")


def _authenticated(data: bytes, token: str) -> dict[str, Any] | None:
    """The report on the channel: the first line that starts with the token and holds a JSON object."""
    prefix = token.encode() + b" "
    for line in data.split(b"\n"):
        if not line.startswith(prefix):
            continue
        try:
            report = json.loads(line[len(prefix):].decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return None
        return report if isinstance(report, dict) else None
    return None


def _child(request: Mapping[str, Any]) -> dict[str, Any]:
    from rpsrt.errors import Error
    from rpsrt.plugins.manager import PluginManager, inspect_native

    path = request["path"]
    folder = os.path.dirname(path)
    try:
        mgr = PluginManager([folder, *request["search_paths"]])
        for name, sig, mode in request["points"]:
            mgr.declare(name, sig, mode)
        declared = []
        if request.get("declare_manifest_points", True):
            declared = _declare_manifest_points(mgr, path, inspect_native)
        plugin = mgr.load_file(path, request["arguments"])
        deps = [f"{p.name} {p.version}" for p in mgr.loaded.values() if p is not plugin]
        exports = []
        for exp in plugin.candidate.manifest.exports:
            status = "found" if exp.symbol in plugin.symbols else "MISSING"
            exports.append(f"{exp.symbol} {exp.name} {exp.signature} ({status})")
        report = {
            "ok": True, "name": plugin.name, "version": plugin.version, "dependencies": deps,
            "declared_points": declared,
            "extensions": [{"point": i.point, "name": i.name, "priority": i.priority} for i in plugin.extensions],
            "exports": exports, "messages": [list(m) for m in plugin.messages],
        }
        missing = [e for e in exports if e.endswith("(MISSING)")]
        mgr.close()
        if missing:
            return {"ok": False, "reason": "manifest",
                    "error": f"{path}: error: manifest exports symbols the file does not define: "
                             + ", ".join(m.split()[0] for m in missing)}
        return report
    except Error as exc:
        return {"ok": False, "error": str(exc), "reason": getattr(exc, "reason", None) or "load"}


def _declare_manifest_points(mgr: Any, path: str, inspect_native: Any) -> list[str]:
    """Declare the extension points the plugin's own manifest (`extension_points`) and its dependencies'
    manifests define, as a host loading it would; returns them as `name signature (mode)`."""
    from rpsrt.errors import PluginError

    out: list[str] = []
    try:
        cands = [inspect_native(path)[0]]
    except PluginError:  # loading reports it, after the checks that come first (link, owner, mode)
        return out
    known = mgr.candidates()
    seen = set()
    while cands:
        cand = cands.pop()
        if cand.name in seen:
            continue
        seen.add(cand.name)
        raw = cand.manifest.raw.get("extension_points", []) or []
        if not isinstance(raw, list):
            raise PluginError("malformed manifest: 'extension_points' must be a list", path=str(cand.path))
        for ep in raw:
            if not (isinstance(ep, Mapping) and isinstance(ep.get("name"), str)
                    and isinstance(ep.get("signature"), str)):
                raise PluginError(f"malformed manifest: bad 'extension_points' entry {ep!r}", path=str(cand.path))
            point = mgr.declare(ep["name"], ep["signature"], str(ep.get("mode", "first")))
            out.append(f"{point.name} {point.signature} ({point.mode})")
        cands += [known[r.name] for r in cand.manifest.requires if r.name in known]
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 3 or args[0] != "--report-fd":
        sys.stderr.write("usage: python -m rpsrt.plugins.check --report-fd N REQUEST_JSON\n")
        return 2
    channel = socket.socket(fileno=int(args[1]))
    os.set_inheritable(channel.fileno(), False)
    token = b""
    while not token.endswith(b"\n") and len(token) <= 4 * _TOKEN_BYTES:
        chunk = channel.recv(4 * _TOKEN_BYTES + 2 - len(token))
        if not chunk:
            break
        token += chunk
    token = token.strip()
    report = _child(json.loads(args[2]))
    channel.sendall(token + b" " + json.dumps(report).encode() + b"\n")
    channel.close()
    sys.stdout.flush()
    return 0 if report.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
