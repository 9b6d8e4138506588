"""The lean half of `rpsc build`: the no-op fast path and the helpers it shares with the full build.

`rpsc build` on an up-to-date store runs only this module (with `os`, `json` and `subprocess`): it compares
the store files' stamps and the build configuration with the state of the last build (`rpsc-build.json`),
runs ninja (which proves the generated C, objects, plugins and headers up to date) and checks the plugins'
sidecars, without loading the store, importing Jinja2 or the rest of `rpsc.driver.build` (whose
dataclasses alone cost more than the check). Any doubt (no state, another configuration, a store file
changed, ninja running a step, a sidecar older than its plugin) returns None: the caller takes the full
path, which gives the same result from scratch.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

STATE_FILE = "rpsc-build.json"
STATE_VERSION = 5  # 4: paths relative to the build folder, links without the launcher, CPPFLAGS; 5: emit markers
MANIFEST = "rps_manifest.json"
COMPDB = "compile_commands.json"
WAIT_END = "; sleep 0.02; done && "  # the end of the wait that precedes each compile command


def toolchain(store_dir: Path, build_path: Path, launcher: str | None, opt: str,
              env: dict[str, str] | os._Environ[str]) -> dict[str, str]:
    """The configuration that the generated build.ninja depends on (a change means regenerating)."""
    from rpsc import __version__

    return {
        "cc": env.get("CC", "") or "cc",
        "cppflags": env.get("CPPFLAGS", ""),
        "cflags": env.get("CFLAGS", ""),
        "ldflags": env.get("LDFLAGS", ""),
        "launcher": launcher if launcher is not None else env.get("RPSC_CC_LAUNCHER", ""),
        "opt": opt,
        "python": sys.executable,
        "rpsc": __version__,
        "store": str(store_dir),
        "build_dir": str(build_path),
    }


def store_file_names(store: str | os.PathLike[str]) -> list[str]:
    """The files that make up a store, relative to it: its manifest and its space files (plain `os`: a
    command asks several times, and on a store of hundreds of spaces pathlib was milliseconds each time)."""
    try:
        names = sorted(os.listdir(os.path.join(os.fspath(store), "persistore")))
    except FileNotFoundError:
        names = []
    spaces = [os.path.join("persistore", n) for n in names if n.endswith(".json") and not n.startswith(".")]
    return [MANIFEST, *spaces]


def store_files(store: Path) -> list[Path]:
    """The files that make up a store: its manifest and its space files."""
    return [store / rel for rel in store_file_names(store)]


def store_stamps(store: Path) -> dict[str, list[int]]:
    """(mtime_ns, size, inode) of every store file, by path relative to the store."""
    top = os.fspath(store)
    out: dict[str, list[int]] = {}
    for rel in store_file_names(top):
        try:
            st = os.stat(os.path.join(top, rel))
        except FileNotFoundError:
            continue
        out[rel] = [st.st_mtime_ns, st.st_size, st.st_ino]
    return out


def store_digests(store: str | os.PathLike[str], stamps: dict[str, list[int]], last_stamps: Any,
                  last_digests: Any) -> dict[str, str]:
    """The sha256 of every store file in `stamps`: the last build's digest where the file still has the stamp
    that build saw (`last_stamps`, `last_digests`: its state's records), else read from the file. Lets a
    copied or moved store (every inode, often every mtime, new) be told from a changed one by its bytes."""
    import hashlib

    top = os.fspath(store)
    then = last_stamps if isinstance(last_stamps, dict) else {}
    known = last_digests if isinstance(last_digests, dict) else {}
    out: dict[str, str] = {}
    for rel, stamp in stamps.items():
        digest = known.get(rel)
        if not (isinstance(digest, str) and then.get(rel) == stamp):
            try:
                with open(os.path.join(top, rel), "rb") as f:
                    digest = hashlib.file_digest(f, "sha256").hexdigest()
            except FileNotFoundError:
                continue
        out[rel] = digest
    return out


def same_store_bytes(store: str | os.PathLike[str], stamps: dict[str, list[int]], state: dict[str, Any]) -> bool:
    """Whether the store files, whose stamps are `stamps`, hold the bytes that the build which left `state`
    saw: the same files, each with that build's stamp or, failing that, its digest."""
    then = state.get("store") if isinstance(state.get("store"), dict) else {}
    digests = state.get("store_sha256")
    if not isinstance(digests, dict) or set(digests) != set(stamps):
        return stamps == then
    return store_digests(store, stamps, then, digests) == digests


def file_stamp(path: str | Path) -> list[int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return [st.st_mtime_ns, st.st_size, st.st_ino]


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write `data` to `path` (atomically) only when its bytes differ; True when written."""
    try:
        if path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return True


def read_state(build_dir: Path) -> dict[str, Any] | None:
    try:
        with open(build_dir / STATE_FILE, "rb") as f:
            state = json.loads(f.read())
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None
    return state if isinstance(state, dict) and state.get("version") == STATE_VERSION else None


def sidecar_fresh(so: Path) -> bool:
    side = so.with_suffix(".json")
    try:
        return os.stat(side).st_mtime_ns >= os.stat(so).st_mtime_ns
    except FileNotFoundError:
        return False


def write_depfile(stamp: Path, deps: Sequence[str]) -> None:
    """Write `<stamp>.d` (a Makefile-style depfile: `stamp: dep...`, only when its bytes change), then touch
    `stamp`."""
    def esc(p: str) -> str:
        return p.replace("\\", "\\\\").replace(" ", "\\ ").replace("#", "\\#").replace("$", "$$")

    stamp.parent.mkdir(parents=True, exist_ok=True)
    text = esc(str(stamp)) + ":" + "".join(f" \\\n  {esc(d)}" for d in deps) + "\n"
    write_if_changed(stamp.with_name(stamp.name + ".d"), text.encode("utf-8", "surrogateescape"))  # file names as their bytes
    stamp.touch()


def stamp_deps(store: Path, c_files_and_plugins: Sequence[tuple[str, str]]) -> list[str]:
    """What `rpsc build --stamp` names in its depfile: the store files, each module's C file and plugin."""
    deps = [str(p.absolute()) for p in store_files(store)]
    for c_file, plugin in c_files_and_plugins:
        deps += [c_file, plugin]
    return deps


# ------------------------------------------------------------------------------------------ ninja

STATUS = "[%f/%t] "
PROGRESS_RE = re.compile(r"^\[(\d+)/(\d+)\] (.*)$")


class NinjaRun:
    __slots__ = ("returncode", "output", "commands")

    def __init__(self, returncode: int, output: str, commands: list[str]) -> None:
        self.returncode = returncode
        self.output = output
        self.commands = commands

    @property
    def no_work(self) -> bool:
        return "ninja: no work to do." in self.output


def ninja_command(ninja: str, jobs: int | None, verbose: bool, targets: Sequence[str] = ()) -> list[str]:
    cmd = [ninja]
    if jobs:
        cmd += ["-j", str(jobs)]
    if verbose:
        cmd.append("-v")
    return cmd + list(targets)


def start_ninja(build_dir: Path, cmd: list[str]) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env["NINJA_STATUS"] = STATUS
    return subprocess.Popen(cmd, cwd=build_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                            text=True, errors="replace")


def read_ninja(proc: subprocess.Popen[str], echo: TextIO | None, on_step: Any = None) -> NinjaRun:
    """Read a running ninja's output to its end, echoing it; `on_step(description)` is called for each step
    line (ninja prints it as the step ends when its output is not a terminal)."""
    assert proc.stdout is not None
    lines: list[str] = []
    commands: list[str] = []
    for line in proc.stdout:
        lines.append(line)
        m = PROGRESS_RE.match(line.rstrip("\n"))
        if m:
            commands.append(m.group(3))
            if on_step is not None:
                on_step(m.group(3))
        if echo is not None:
            echo.write(line)
            echo.flush()
    return NinjaRun(proc.wait(), "".join(lines), commands)


def run_ninja_plain(build_dir: Path, cmd: list[str], echo: TextIO | None) -> NinjaRun:
    return read_ninja(start_ninja(build_dir, cmd), echo)


# ------------------------------------------------------------------------------------------ the fast path


def quick_state(store_dir: Path, build_path: Path, tc: dict[str, str]) -> dict[str, Any] | None:
    """The state of the last build when the store files and the configuration are still those it saw (and
    every generated C file is still there); None otherwise."""
    state = read_state(build_path)
    if state is None or not os.path.isfile(build_path / "build.ninja"):
        return None
    if state.get("toolchain") != tc or state.get("store") != store_stamps(store_dir):
        return None
    modules = state.get("modules")
    if not isinstance(modules, list):
        return None
    emit = build_path / "emit"
    for m in modules:
        if not os.path.isfile(m["c_path"]) or not os.path.exists(emit / f"{m['oid']}.done"):
            return None
    return state


def quick_run(state: dict[str, Any], build_path: Path, *, jobs: int | None, verbose: bool,
              echo: TextIO | None, runner: Any = None) -> NinjaRun | None:
    """Run ninja on an up-to-date state: the run when it found nothing to rebuild and every sidecar is
    fresh, None when the full path must finish the build. A ninja failure is returned as it is.
    `runner(ninja, build_path)` runs ninja (default: plainly, echoing its lines to `echo`)."""
    modules = state["modules"]
    ninja = state.get("ninja")
    if not isinstance(ninja, str) or not os.path.isfile(ninja):
        return None
    before = [file_stamp(m["plugin"]) for m in modules]
    if runner is None:
        run = run_ninja_plain(build_path, ninja_command(ninja, jobs, verbose), echo)
    else:
        run = runner(ninja, build_path)
    if run.returncode != 0:
        return run
    if any(file_stamp(m["plugin"]) != b for m, b in zip(modules, before)):
        return None
    if not all(sidecar_fresh(Path(m["plugin"])) for m in modules) or "regenerat" in run.output.lower():
        return None  # something was rebuilt: finish through the full path (sidecars, store records)
    return run


def compdb_fresh(state: dict[str, Any], build_path: Path) -> bool:
    """True when `compile_commands.json` was written from the build.ninja that is there now."""
    return (os.path.isfile(build_path / COMPDB) and state.get("compdb_for") is not None
            and state.get("compdb_for") == file_stamp(build_path / "build.ninja"))


def write_compdb(ninja: str, build_dir: Path) -> bool:
    """Write `compile_commands.json` (ninja's compilation database of the C compiles) in the build folder;
    True when its bytes changed. Raises RuntimeError with ninja's message when it fails."""
    proc = subprocess.run([ninja, "-t", "compdb", "cc"], cwd=build_dir, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ninja -t compdb failed: {proc.stderr.strip()}")
    entries = json.loads(proc.stdout)
    for e in entries:  # the compile itself, without the wait for its C file (rpsc.driver.build.EMIT_WAIT)
        head, sep, rest = e.get("command", "").partition(WAIT_END)
        if sep and head.startswith("until test -e emit/"):
            e["command"] = rest
    text = json.dumps(entries, indent=2) + "\n" if entries else proc.stdout
    return write_if_changed(build_dir / COMPDB, text.encode())


def summary(store: str, build_dir: str, modules: list[dict[str, Any]], commands: list[str], no_op: bool,
            fast_path: bool, regenerated: list[str], store_updated: bool) -> dict[str, Any]:
    """The `--json` summary of a build (docs/json-output.md); `modules` hold the per-module fields."""
    built = [m for m in modules if m["status"] == "built"]
    return {
        "ok": True,
        "store": store,
        "build_dir": build_dir,
        "no_op": no_op,
        "fast_path": fast_path,
        "built": len(built),
        "up_to_date": len(modules) - len(built),
        "modules": modules,
        "plugins": [m["plugin"] for m in modules],
        "commands": commands,
        "regenerated": regenerated,
        "store_updated": store_updated,
    }
