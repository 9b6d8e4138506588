"""The Ninja build of a store's plugins: generated C, `build.ninja`, running ninja, recording plugins back.

Entry point: `build_store(options) -> BuildResult`. Layout (ARCHITECTURE.md): `DIR/generated/rps<oid>-mod.c`
and the dump-time headers beside the store's manifest, `DIR/plugins/rps<oid>-mod.so` plus its sidecar
`.json`; `build.ninja`, objects, depfiles and the state file in the build folder (`DIR/build` unless
`--build-dir`). The no-op path (`quick_check`) imports nothing heavy and never loads the store: it compares
the store files' stamps and the build configuration with the state of the last build, then runs ninja.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, TextIO

from rpsc import Error

from rpsc.driver.quick import (  # noqa: F401  (the lean helpers, shared with the no-op path)
    COMPDB,
    MANIFEST,
    STATE_FILE,
    STATE_VERSION,
    NinjaRun,
    file_stamp,
    read_state,
    store_files,
    store_digests,
    store_stamps,
    write_depfile,
    write_if_changed,
)
from rpsc.driver.quick import sidecar_fresh as _sidecar_fresh

GENERATED = "generated"
PLUGINS = "plugins"


#: Flags that sidestep GCC bugs which miscompile generated C (docs/c-backend.md, "C compiler bugs"):
#: GCC's brute-force trip-count evaluation (loop_niter_by_eval) inverts a loop's floating-point exit test
#: without NaN (`x <= c` becomes `x > c`, not "unordered or greater"), so a loop whose exit test sees a
#: constant NaN is "proved" to leave through it and is folded away at -O2 (seen with GCC 12.2). Zero
#: iterations to track turns exactly that analysis off.
GCC_WORKAROUND_FLAGS = ("--param=max-iterations-to-track=0",)


def compiler_workaround_flags(cc: str) -> tuple[str, ...]:
    """The workaround flags for the C compiler command `cc` (`GCC_WORKAROUND_FLAGS` when it is GCC, which
    defines `__GNUC__` but not `__clang__` nor `__INTEL_COMPILER`; none otherwise or if the probe fails)."""
    known = _PROBED.get(cc)
    if known is not None and known[0] == compiler_stamp(cc):
        return known[1]
    return _workaround_flags(cc)


#: cc -> (compiler_stamp(cc), flags): probes remembered by the build state (`probe_record`), so that a
#: build does not run the compiler once more only to learn what the last build learnt.
_PROBED: dict[str, tuple[Any, tuple[str, ...]]] = {}


def compiler_stamp(cc: str) -> list[Any] | None:
    """What identifies the compiler that `cc` runs: its resolved executable's path and (mtime, size, inode);
    None when it cannot be found (then nothing is remembered)."""
    import shutil

    try:
        words = shlex.split(cc)
    except ValueError:
        return None
    exe = shutil.which(words[0]) if words else None
    if exe is None:
        return None
    real = os.path.realpath(exe)
    st = file_stamp(real)
    return None if st is None else [real, *st]


def probe_record(cc: str) -> dict[str, Any] | None:
    """The state's record of the workaround probe of `cc` (None when the compiler cannot be identified)."""
    stamp = compiler_stamp(cc)
    return None if stamp is None else {"cc": cc, "stamp": stamp, "flags": list(compiler_workaround_flags(cc))}


def remember_probe(state: dict[str, Any] | None) -> None:
    """Take the workaround probe recorded by the last build's state (when it is one)."""
    rec = (state or {}).get("cc_probe")
    if isinstance(rec, dict) and isinstance(rec.get("cc"), str) and isinstance(rec.get("flags"), list):
        _PROBED[rec["cc"]] = (rec.get("stamp"), tuple(rec["flags"]))


@lru_cache(maxsize=8)
def _workaround_flags(cc: str) -> tuple[str, ...]:
    try:
        cmd = [*shlex.split(cc), "-dM", "-E", "-x", "c", os.devnull]
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    except (OSError, ValueError, subprocess.SubprocessError):
        return ()
    macros = {line.split()[1] for line in proc.stdout.splitlines() if line.startswith("#define ")
              and len(line.split()) > 1}
    if proc.returncode == 0 and "__GNUC__" in macros and not {"__clang__", "__INTEL_COMPILER"} & macros:
        return GCC_WORKAROUND_FLAGS
    return ()


class BuildError(Error):
    """A build that failed: a compiler error (a bug in generated code: names the module and function),
    a missing store, or ninja failing. Rendered by the CLI as `error: ...`."""

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class BuildOptions:
    """What `rpsc build` was asked: the store, the build folder, parallelism, compiler launcher, -O level."""

    store: Path
    build_dir: Path | None = None
    jobs: int | None = None
    launcher: str | None = None
    opt: str = "2"
    env: dict[str, str] | None = None  # CC, CFLAGS, LDFLAGS (default: os.environ)
    generate_only: bool = False
    quick: bool = True  # False: the caller ran the no-op check already (it found work): skip it
    verbose: bool = False
    stamp: Path | None = None  # touched after a successful build, with a depfile `<stamp>.d` beside it
    compdb: bool = False  # write compile_commands.json in the build folder
    lock_timeout: float | None = None  # seconds to wait for the store's lock (None: as long as it takes)

    @property
    def store_dir(self) -> Path:
        return self.store.absolute()

    @property
    def build_path(self) -> Path:
        return (self.build_dir if self.build_dir is not None else self.store / "build").absolute()

    def environ(self) -> dict[str, str]:
        return dict(os.environ if self.env is None else self.env)

    def toolchain(self) -> dict[str, str]:
        """The configuration that the generated build.ninja depends on (a change means regenerating)."""
        from rpsc.driver.quick import toolchain

        return toolchain(self.store_dir, self.build_path, self.launcher, self.opt, self.environ())


@dataclass(slots=True)
class ModuleResult:
    oid: str
    name: str
    c_file: str
    plugin: str
    status: str = "up-to-date"  # or "built"
    sha256: str | None = None
    symbols: list[str] = field(default_factory=list)


@dataclass(slots=True)
class BuildResult:
    """What a build did: per-module status, the commands ninja ran, whether the store was touched."""

    store: str
    build_dir: str
    modules: list[ModuleResult]
    commands: list[str]
    no_op: bool
    fast_path: bool
    regenerated: list[str]
    store_updated: bool
    compdb_written: bool = False  # compile_commands.json is that of the current build.ninja (not in --json)

    def to_json(self) -> dict[str, Any]:
        built = [m for m in self.modules if m.status == "built"]
        return {
            "ok": True,
            "store": self.store,
            "build_dir": self.build_dir,
            "no_op": self.no_op,
            "fast_path": self.fast_path,
            "built": len(built),
            "up_to_date": len(self.modules) - len(built),
            "modules": [{"oid": m.oid, "name": m.name, "status": m.status, "c_file": m.c_file,
                         "plugin": m.plugin, "sha256": m.sha256, "symbols": m.symbols} for m in self.modules],
            "plugins": [m.plugin for m in self.modules],
            "commands": self.commands,
            "regenerated": self.regenerated,
            "store_updated": self.store_updated,
        }


# ------------------------------------------------------------------------------------------ helpers


def ninja_executable() -> str:
    """The ninja of the PyPI `ninja` package (not a system one)."""
    import ninja

    exe = os.path.join(ninja.BIN_DIR, "ninja")
    if not os.path.isfile(exe):
        raise BuildError("the ninja executable of the `ninja` Python package is missing "
                         f"(looked in {ninja.BIN_DIR or '?'})")
    return exe


def plugin_include_dir() -> Path:
    """`rpsrt.plugins.build.include_dir()` (the plugin headers' folder), computed the same way without
    importing `rpsrt.plugins` (its manager, tens of ms), which an edit's build would import before it
    starts ninja only for this path (it imports it while ninja runs; a test checks the two agree)."""
    import rpsrt

    build_py = os.path.join(os.path.dirname(rpsrt.__file__), "plugins", "build.py")
    return Path(build_py).resolve().parent.parent / "include"


def write_state(build_dir: Path, state: dict[str, Any]) -> None:
    # Compact: with `indent`, json encodes in pure Python (several times slower on a big store's cache).
    write_if_changed(build_dir / STATE_FILE,
                     (json.dumps(state, sort_keys=True, separators=(",", ":")) + "\n").encode())


def plugin_file_name(module_oid: str) -> str:
    return f"rps{module_oid}-mod.so"


# ------------------------------------------------------------------------------------------ ninja


_DIAG_RE = re.compile(r"^(?P<file>[^:\s]+\.c):(?P<line>\d+):(?:(?P<col>\d+):)? (?P<kind>error|warning): (?P<msg>.*)$")


def run_ninja(build_dir: Path, *, jobs: int | None = None, targets: Sequence[str] = (),
              echo: TextIO | None = None, ninja: str | None = None, verbose: bool = False,
              on_step: Callable[[str], None] | None = None) -> NinjaRun:
    """Run ninja in `build_dir`, echoing its progress lines to `echo` while capturing them; `on_step` is
    called with each step's description as ninja reports it done."""
    from rpsc.driver.quick import ninja_command, read_ninja, start_ninja
    from rpsc.driver.trace import current

    cmd = ninja_command(ninja or ninja_executable(), jobs, verbose, targets)
    tr = current()
    if tr is not None:
        try:
            log_offset = os.path.getsize(build_dir / ".ninja_log")
        except OSError:
            log_offset = 0
        ninja_start = tr.now_us()
    run = read_ninja(start_ninja(build_dir, cmd), echo, on_step)
    if tr is not None:
        tr.complete("ninja", ninja_start, tr.now_us(), args={"steps": len(run.commands), "status": run.returncode})
        tr.ninja_steps(build_dir, log_offset, ninja_start)
    return run


def restat(build_dir: Path, ninja: str, *outputs: str) -> None:
    """Tell ninja's log the current mtime of `outputs` (after rpsc rewrote or touched them itself)."""
    subprocess.run([ninja, "-t", "restat", *outputs], cwd=build_dir, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)


def explain_failure(run: NinjaRun, c_files: dict[str, tuple[str, str]], build_dir: Path | None = None) -> str:
    """A compiler failure in generated code, mapped back to the module and function it came from."""
    from rpsc.backends.c.emit import FUNCTION_END_MARKER, FUNCTION_MARKER

    notes: list[str] = []
    for line in run.output.splitlines():
        m = _DIAG_RE.match(line)
        if not m or m.group("kind") != "error":
            continue
        path = m.group("file")
        if build_dir is not None and not os.path.isabs(path):  # the compiler saw it relative to the build folder
            path = os.path.normpath(build_dir / path)
        base = os.path.basename(path)
        mod = c_files.get(base)
        where = f"module {mod[0]} ({mod[1]})" if mod else f"file {base}"
        func = ""
        try:
            text = Path(path).read_text(errors="replace").splitlines()
        except OSError:
            text = []
        lno = int(m.group("line"))
        for i in range(min(lno, len(text)) - 1, -1, -1):
            if text[i].startswith(FUNCTION_END_MARKER) and i != lno - 1:
                break
            if text[i].startswith(FUNCTION_MARKER):
                func = text[i][len(FUNCTION_MARKER):].rstrip(" */")
                break
        where += f", function {func}" if func else ", outside any function"
        notes.append(f"{path}:{lno}: {m.group('msg')} [in {where}]")
    head = "the C compiler failed on generated code (this is a bug in rpsc, please report it)"
    if notes:
        return head + ":\n  " + "\n  ".join(notes)
    tail = "\n".join(run.output.strip().splitlines()[-20:])
    return f"the build failed (ninja exit status {run.returncode}):\n{tail}"


# ------------------------------------------------------------------------------------------ the fast path


def quick_check(options: BuildOptions, *, echo: TextIO | None = None) -> BuildResult | None:
    """The no-op path: when the store and the configuration are those of the last build, run ninja and
    return the result without loading the store; None when a full build is needed."""
    from rpsc.driver.quick import quick_run, quick_state

    bdir = options.build_path
    state = quick_state(options.store_dir, bdir, options.toolchain())
    if state is None:
        return None
    from rpsc.driver.trace import current

    runner = None
    if current() is not None:  # traced: ninja's steps go into the trace
        def runner(ninja: str, build_dir: Path) -> NinjaRun:
            return run_ninja(build_dir, jobs=options.jobs, echo=echo, ninja=ninja, verbose=options.verbose)
    run = quick_run(state, bdir, jobs=options.jobs, verbose=options.verbose, echo=echo, runner=runner)
    if run is None:
        return None
    modules = state["modules"]
    if run.returncode != 0:
        raise BuildError(explain_failure(run, {Path(m["c_path"]).name: (m["name"], m["oid"]) for m in modules},
                                         bdir),
                         run.output)
    results = [ModuleResult(m["oid"], m["name"], m["c_path"], m["plugin"], "up-to-date", m.get("sha256"),
                            m.get("symbols", [])) for m in modules]
    from rpsc.driver.quick import compdb_fresh

    return BuildResult(str(options.store_dir), str(bdir), results, run.commands, not run.commands, True, [], False,
                       compdb_written=options.compdb and compdb_fresh(state, bdir))


def write_stamp(stamp: Path, store: Path, result: BuildResult) -> None:
    """Touch `stamp` and write `<stamp>.d`, a Makefile-style depfile naming everything the build read or
    produced (store files, generated C, plugins), for a build system that drives `rpsc build`."""
    from rpsc.driver.quick import stamp_deps

    write_depfile(stamp, stamp_deps(store, [(m.c_file, m.plugin) for m in result.modules]))


# ------------------------------------------------------------------------------------------ the full path


def _ir_modules(heap: Any) -> list[Any]:
    from rpsc.driver.pipeline import ir_modules

    return list(ir_modules(heap))


def _ninja_path(path: Path) -> str:
    """A path for `ninja_syntax.Writer.build`, which escapes spaces, colons and `$ ` but not a lone `$`."""
    return re.sub(r"\$(?! )", "$$", str(path))


def _rel(path: Path, start: Path) -> str:
    """`path` relative to `start` (the build folder), as ninja and the compiler see it."""
    return os.path.relpath(path, start)


EMIT = "emit"  # the folder of the markers, in the build folder
#: The shell prefix of every compile: wait until the module's C is generated (its marker exists) while the
#: `rpsc build` named by `emit/active` (its process id) runs; fail, saying so, when none does.
EMIT_WAIT = ("until test -e emit/$oid.done; do { read p < emit/active && kill -0 $$p; } 2>/dev/null"
             " || test -e emit/$oid.done || { echo 'rpsc build: the C of $module is not generated: run rpsc"
             " build' >&2; exit 1; }; sleep 0.02; done && ")


def _marker(bdir: Path, oid: str) -> Path:
    return bdir / EMIT / f"{oid}.done"


def _ensure_marker(bdir: Path, oid: str) -> None:
    path = _marker(bdir, oid)
    if not os.path.exists(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()


PLACEHOLDER = b"/* rpsc build is generating this file */\n"


class NinjaJob:
    """A ninja run started in the background (its output read, and echoed, by a thread) while `rpsc build`
    goes on generating C; `finish()` waits for it and gives the `NinjaRun`."""

    def __init__(self, build_dir: Path, ninja: str, options: BuildOptions, echo: TextIO | None) -> None:
        import threading

        from rpsc.driver.quick import ninja_command, read_ninja, start_ninja
        from rpsc.driver.trace import current

        self.build_dir = build_dir
        self.trace = current()
        if self.trace is not None:
            try:
                self.log_offset = os.path.getsize(build_dir / ".ninja_log")
            except OSError:
                self.log_offset = 0
            self.start_us = self.trace.now_us()
        self.proc = start_ninja(build_dir, ninja_command(ninja, options.jobs, options.verbose))
        self.run: NinjaRun | None = None
        self.muted = False  # after abort(): ninja's "interrupted" lines are not echoed
        job = self

        class Echo:
            def write(self, text: str) -> None:
                if echo is not None and not job.muted:
                    echo.write(text)

            def flush(self) -> None:
                if echo is not None and not job.muted:
                    echo.flush()
        self.before: dict[str, list[int] | None] = {}  # the plugins' stamps before ninja started

        def reader() -> None:
            self.run = read_ninja(self.proc, Echo() if echo is not None else None)
        self.thread = threading.Thread(target=reader, name="ninja output", daemon=True)
        self.thread.start()

    def finish(self) -> NinjaRun:
        self.thread.join()
        run = self.run if self.run is not None else NinjaRun(self.proc.wait(), "", [])
        if self.trace is not None:
            self.trace.complete("ninja", self.start_us, self.trace.now_us(),
                                args={"steps": len(run.commands), "status": run.returncode})
            self.trace.ninja_steps(self.build_dir, self.log_offset, self.start_us)
        return run

    def abort(self) -> None:
        """Stop ninja (after an error while generating C, or an interrupt) and wait for it."""
        self.muted = True
        with contextlib.suppress(OSError):
            self.proc.terminate()
        with contextlib.suppress(Exception):
            self.thread.join(timeout=60)


def write_ninja_file(path: Path, options: BuildOptions, modules: Sequence[Any], store_inputs: Sequence[Path]
                     ) -> bytes:
    """The text of `build.ninja` for these modules (written by the caller when it changed)."""
    import io

    from ninja import ninja_syntax
    from rpsrt.plugins import include_dir

    tc = options.toolchain()
    store = options.store_dir
    out = io.StringIO()
    w = ninja_syntax.Writer(out, width=120)  # type: ignore[arg-type]
    w.comment("Generated by `rpsc build`; do not edit (rpsc rewrites it when the store changes).")
    w.variable("ninja_required_version", "1.10")
    w.variable("builddir", ".")
    # Compiles go through the launcher (ccache, distcc); links do not (neither can cache nor ship them).
    w.variable("cc", " ".join(filter(None, [tc["launcher"], tc["cc"]])))
    w.variable("ld", tc["cc"])
    # Paths relative to the build folder: a moved or copied store gives the same command lines (ccache).
    bdir = options.build_path
    cflags = ["-std=c11", f"-O{tc['opt']}", "-fPIC", "-fno-semantic-interposition", "-Wall", "-Wextra",
              *compiler_workaround_flags(tc["cc"]),
              ninja_syntax.escape(f"-I{shlex.quote(str(include_dir()))}"),
              ninja_syntax.escape(f"-I{shlex.quote(_rel(store / GENERATED, bdir))}")]
    w.variable("cflags", " ".join(cflags + [tc[k] for k in ("cppflags", "cflags") if tc[k]]))
    w.variable("ldflags", " ".join(["-shared"] + ([tc["ldflags"]] if tc["ldflags"] else [])))
    w.newline()
    # A compile first waits for its module's marker `emit/<oid>.done` (there unless `rpsc build` is still
    # generating that C file: a cold build compiles the first modules while it emits the others); restat
    # records the object's own mtime, newer than the C written while the compile waited.
    w.rule("cc", EMIT_WAIT + "$cc -MD -MF $out.d $cflags -c $in -o $out", depfile="$out.d", deps="gcc",
           description="CC $module", restat=True)
    w.rule("link", "$ld $ldflags -o $out $in -lm", description="LINK $module")
    regen = [sys.executable, "-m", "rpsc", "build", "--store", str(store), "--build-dir", str(options.build_path),
             "-O", tc["opt"], "--generate-only"]
    if options.launcher is not None:
        regen += ["--launcher", options.launcher]
    w.rule("regen", ninja_syntax.escape(shlex.join(regen)), generator=True,
           description="RPSC regenerating build.ninja (the store changed)")
    w.newline()
    # Writer.build escapes paths itself (`$`, spaces, colons); escaping them here too broke stores in
    # folders whose names hold a space.
    w.build(["build.ninja"], "regen", implicit=[_ninja_path(p) for p in store_inputs])
    w.newline()
    targets = []
    for m in modules:
        c_path = _ninja_path(Path(_rel(store / GENERATED / f"rps{m.oid}-mod.c", bdir)))
        obj = f"obj/rps{m.oid}-mod.o"
        so = _ninja_path(Path(_rel(store / PLUGINS / plugin_file_name(m.oid), bdir)))
        label = {"module": f"{m.name} ({m.oid})"}
        w.build([obj], "cc", [c_path], variables={**label, "oid": m.oid})
        w.build([so], "link", [obj], variables=label)
        targets.append(so)
    w.newline()
    w.build(["all"], "phony", targets)
    w.default("all")
    return out.getvalue().encode("utf-8", "surrogateescape")  # paths that are not UTF-8 as their bytes


def ninja_key(options: BuildOptions, modules: Sequence[Any], store_inputs: Sequence[Path]) -> str:
    """A digest of everything `write_ninja_file` reads (the configuration, the compiler's workaround flags,
    rpsc's include folder, the modules and the store files): equal digests,
    equal `build.ninja` text, so that a build whose state records it need not write the file again."""
    import hashlib

    tc = options.toolchain()
    data = [tc, list(compiler_workaround_flags(tc["cc"])), str(plugin_include_dir()), sys.executable, options.launcher,
            [(m.oid, m.name) for m in modules], [str(p) for p in store_inputs], STATE_VERSION]
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode("utf-8", "surrogateescape")).hexdigest()


@dataclass(frozen=True, slots=True)
class CachedModule:
    """A module whose IR and C the build cache spared (rpsc.driver.incremental): what the build needs of it."""

    oid: str
    name: str


@dataclass(frozen=True, slots=True)
class CachedSource:
    """The generated C of a `CachedModule`, as recorded when it was emitted (the text is on disk)."""

    file_name: str
    symbols: tuple[str, ...]
    manifest: dict[str, Any]
    sha256: str


def _cached_modules(heap: Any, options: BuildOptions, entries: dict[str, Any] | None = None
                    ) -> tuple[dict[str, str], dict[str, tuple[CachedModule, CachedSource]]]:
    """(build fingerprints, name -> cached module and C) of the modules whose generated C is still valid
    (`entries`: the code index of `heap`, rpsc.driver.incremental.LiveIndex)."""
    import hashlib

    from rpsc.driver.incremental import build_fingerprints

    fps = build_fingerprints(heap, entries)
    state = read_state(options.build_path) or {}
    remember_probe(state if state.get("toolchain") == options.toolchain() else None)
    cache = state.get("cache") if isinstance(state.get("cache"), dict) else {}
    out = {}
    gen = options.store_dir / GENERATED
    for name, e in cache.items():  # type: ignore[union-attr]
        try:
            if e["fingerprint"] != fps.get(name):
                continue
            data = (gen / e["file_name"]).read_bytes()
            if hashlib.sha256(data).hexdigest() != e["sha256"]:
                continue
            out[name] = (CachedModule(e["oid"], name),
                         CachedSource(e["file_name"], tuple(e["symbols"]), e["manifest"], e["sha256"]))
        except (KeyError, TypeError, OSError):
            continue
    return fps, out


def _cache_entries(fps: dict[str, str], modules: Sequence[Any], sources: Sequence[Any]) -> dict[str, Any]:
    import hashlib

    out = {}
    for m, s in zip(modules, sources, strict=True):
        sha = s.sha256 if isinstance(s, CachedSource) else hashlib.sha256(s.text.encode()).hexdigest()
        if m.name in fps:
            out[m.name] = {"fingerprint": fps[m.name], "oid": m.oid, "file_name": s.file_name,
                           "symbols": list(s.symbols), "manifest": s.manifest, "sha256": sha}
    return out


#: The generated headers (rpsc.backends.c.emit.HEADERS), which list the store's named objects, roots and constants.
HEADER_FILES = ("rps_names.h", "rps_roots.h", "rps_constants.h")


def headers_key(heap: Any, named: Sequence[tuple[str, str]]) -> str:
    """A digest of everything the generated headers are made of: the (oid, name) of the named objects
    (`named`), of the roots and of the constants (each in any order), rpsc's version and the bytes of the code
    and the template that write them (so that an edited emitter in a development checkout is not trusted
    with old headers). Equal digests, equal headers."""
    import hashlib
    import importlib.util

    from rpsc import __version__
    from rpsc.heapcode.index import object_name

    code = []
    for mod, file in (("rpsc.backends.c.emit", None), ("rpsc.templates", "names.h.j2")):
        spec = importlib.util.find_spec(mod)
        origin = (spec.submodule_search_locations[0] + os.sep + file if file else spec.origin) if spec else None
        try:
            with open(origin or "", "rb") as f:
                code.append(hashlib.sha256(f.read()).hexdigest())
        except OSError:
            code.append(None)
    # in any order: the headers list their entries sorted (the roots, a set, come in no set order)
    data = [__version__, code, sorted(named), sorted((str(o.oid), object_name(o) or "") for o in heap.roots),
            sorted((str(o.oid), object_name(o) or "") for o in heap.constants)]
    return hashlib.sha256(json.dumps(data).encode("utf-8", "surrogatepass")).hexdigest()


def headers_unchanged(gen: Path, last: Any, key: str) -> bool:
    """Whether the headers the last build recorded (`last`: its key and the files' (mtime, size, inode)
    as it left them) are those of `key` and still on disk untouched."""
    if not isinstance(last, dict) or last.get("key") != key or not isinstance(last.get("files"), dict):
        return False
    return all(last["files"].get(name) is not None and last["files"].get(name) == file_stamp(gen / name)
               for name in HEADER_FILES)


def generate(options: BuildOptions, heap: Any | None = None, progress: Any | None = None,
             echo: TextIO | None = None, ninja: str | None = None, migrate: bool = True,
             live: Any = None, notes: dict[str, Any] | None = None
             ) -> tuple[Any, list[Any], list[Any], list[str], NinjaJob | None]:
    """Load the store (unless given), emit the C of every module that changed since the last build (the
    others are `CachedModule`s) and the headers, write the changed files and build.ninja. Returns (heap,
    modules, C sources, files rewritten, ninja job).

    With `ninja` (the executable), ninja is started here (the returned job) and the headers, which no compile
    includes, are written while it runs; the modules whose C file does not exist yet (a cold build) are
    generated while ninja already compiles the first ones: each gets a placeholder C file and no marker, ninja starts
    (the returned job), and each compile waits for its module's marker, written right after its C (the
    compile commands and results are those of a build that generated everything first). `migrate=False`:
    the caller knows the heap holds no code of rpsc 0.1.0 to migrate."""
    import rpsrt

    from rpsc.backends.c.emit import emit_c, emit_headers
    from rpsc.ir.from_heap import IRBuildError, build_module, code_modules
    from rpsc.heapcode.classes import find_code_classes

    store = options.store_dir
    if not (store / MANIFEST).is_file():
        raise BuildError(f"{store}: no store here (missing {MANIFEST})")
    from rpsc.driver.trace import phase

    say = progress.phase if progress is not None else (lambda text: None)
    if heap is None:
        say("loading the store")
        with phase("load store"):
            heap = rpsrt.load_store(str(store))
    from rpsc.driver.pipeline import migrate_code

    notice = migrate_code(heap) if migrate else None  # rpsc 0.1.0's code: rewritten (one way) since the build records into the store
    if notice:
        print(notice, file=sys.stderr)
    entries = live.entries if live is not None and not notice else None
    _, cached = _cached_modules(heap, options, entries) if not notice else ({}, {})
    cc = find_code_classes(heap)
    if entries is not None:
        from rpsc.heapcode.index import module_order

        order = module_order(entries)
        by_name = {n: heap[entries[n]["oid"]] for n in order}
    else:
        objs = code_modules(heap) if cc is not None else []
        order = [str(m.attrs.get(cc.name)) for m in objs] if cc is not None else []
        by_name = dict(zip(order, objs))
    todo = [n for n in order if n not in cached]
    gen = store / GENERATED
    bdir = options.build_path
    oid_of = {n: entries[n]["oid"] for n in order} if entries is not None else {n: str(by_name[n].oid) for n in order}
    streamed = [n for n in todo if ninja is not None and not (gen / f"rps{oid_of[n]}-mod.c").exists()]
    say(f"building the IR of {len(todo)} module(s) ({len(order) - len(todo)} unchanged)")
    from rpsrt.limits import deep_recursion

    def ir_of(name: str) -> Any:
        try:
            return build_module(by_name[name], cc)
        except (IndexError, TypeError, ValueError, KeyError, AttributeError, AssertionError):
            # a store written by something else than rpsc's lowering, or damaged by hand
            raise IRBuildError(f"malformed stored code in module {name!r}: a part is missing or of the wrong "
                               "kind", oid=oid_of[name]) from None

    now = [n for n in todo if n not in set(streamed)]
    with phase("typed IR from the heap"), deep_recursion():
        fresh = {n: ir_of(n) for n in now}
    say(f"generating C for {len(todo)} module(s)")
    rewritten: list[str] = []
    out: dict[str, tuple[Any, Any]] = {}

    def emit(name: str, m: Any) -> None:
        with phase(f"emit C: {m.name}"):
            src = emit_c(m)
        out[name] = (m, src)
        if write_if_changed(gen / src.file_name, src.text.encode()):
            rewritten.append(str(gen / src.file_name))

    for name in order:
        if name in cached:
            out[name] = cached[name]
        elif name in fresh:
            emit(name, fresh[name])
    def headers() -> None:  # no compile includes them: written while ninja runs
        named = live.named() if live is not None else None
        key = headers_key(heap, named) if named is not None else None
        if notes is not None:
            notes["headers"] = None
        last_headers = (read_state(bdir) or {}).get("headers") if key is not None else None
        if key is not None and headers_unchanged(gen, last_headers, key):
            if notes is not None:
                notes["headers"] = last_headers
            return
        for name, text in emit_headers(heap, named).items():
            if write_if_changed(gen / name, text.encode()):
                rewritten.append(str(gen / name))
        if key is not None and notes is not None:
            notes["headers"] = {"key": key, "files": {name: file_stamp(gen / name) for name in HEADER_FILES}}

    (bdir / "obj").mkdir(parents=True, exist_ok=True)
    (bdir / EMIT).mkdir(parents=True, exist_ok=True)
    (store / PLUGINS).mkdir(parents=True, exist_ok=True)
    for name in order:
        if name not in streamed:
            _ensure_marker(bdir, oid_of[name])
    ninja_modules = [out[n][0] if n in out else CachedModule(oid_of[n], n) for n in order]
    inputs = store_files(store)
    key = ninja_key(options, ninja_modules, inputs)
    if notes is not None:
        notes["ninja_key"] = key
    last = read_state(bdir) or {}
    if last.get("ninja_key") != key or not (bdir / "build.ninja").is_file():  # else its text is the same
        data = write_ninja_file(bdir / "build.ninja", options, ninja_modules, inputs)
        if write_if_changed(bdir / "build.ninja", data):
            rewritten.append(str(bdir / "build.ninja"))
    os.utime(bdir / "build.ninja")
    job = None
    if ninja is None:
        headers()
    else:
        active = bdir / EMIT / "active"
        for name in streamed:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(_marker(bdir, oid_of[name]))
            write_if_changed(gen / f"rps{oid_of[name]}-mod.c", PLACEHOLDER)
        if streamed:
            active.write_text(f"{os.getpid()}\n")
        restat(bdir, ninja, "build.ninja")
        if progress is not None:
            progress.phase(f"running ninja on {len(order)} module(s)")
            progress.done()  # ninja's own lines follow
        before = {str(store / PLUGINS / plugin_file_name(oid_of[n])): file_stamp(store / PLUGINS / plugin_file_name(oid_of[n]))
                  for n in order}
        job = NinjaJob(bdir, ninja, options, echo)
        job.before = before
        left = list(streamed)
        try:
            with deep_recursion():
                while left:
                    name = left[0]
                    with phase("typed IR from the heap"):
                        m = ir_of(name)
                    emit(name, m)
                    _marker(bdir, oid_of[name]).touch()
                    left.pop(0)
            if streamed:
                os.unlink(active)
            with phase("emit headers"):
                headers()
            import rpsrt.plugins  # noqa: F401  (needed once ninja is done: imported while it compiles)
        except BaseException:
            job.abort()
            for name in left:  # no placeholder stays behind as if it were generated C
                with contextlib.suppress(FileNotFoundError):
                    if (gen / f"rps{oid_of[name]}-mod.c").read_bytes() == PLACEHOLDER:
                        os.unlink(gen / f"rps{oid_of[name]}-mod.c")
            raise
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(active)
    modules = [out[n][0] for n in order]
    sources = [out[n][1] for n in order]
    return heap, modules, sources, rewritten, job


BY_MODULE = "by-module"


def link_by_module(store: Path, results: Sequence[ModuleResult]) -> None:
    """Stable names for build systems: `DIR/plugins/by-module/<module>.so`, a relative symbolic link to
    the module's `rps<oid>-mod.so` (in a subfolder, so a scan of `plugins/` does not see a plugin twice).
    Links of modules no longer built are removed."""
    folder = store / PLUGINS / BY_MODULE
    folder.mkdir(parents=True, exist_ok=True)
    want = {f"{r.name}.so": os.path.join("..", os.path.basename(r.plugin)) for r in results}
    for name in os.listdir(folder):
        if name.endswith(".so") and name not in want and os.path.islink(folder / name):
            os.unlink(folder / name)
    for name, target in want.items():
        path = folder / name
        try:
            if os.readlink(path) == target:
                continue
        except OSError:
            pass
        tmp = folder / f".{name}.{os.getpid()}.tmp"
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        os.symlink(target, tmp)
        os.replace(tmp, path)


def record_plugins(heap: Any, results: Sequence[ModuleResult], store: Path, modules: Sequence[Any] = (),
                   touched: set[Any] | None = None, skip: set[str] = frozenset()) -> bool:  # type: ignore[assignment]
    """Record each built module's plugin file, checksum and native symbols in its module object, and each
    compiled function's code hash (not in the manifest's `plugins`: rpsc.driver.record); True when anything
    changed."""
    from rpsc.driver.record import record

    return record(heap, results, store, modules, touched, skip)


def build_store(options: BuildOptions, *, echo: TextIO | None = None,
                log: Callable[[str], None] | None = None, progress: Any | None = None) -> BuildResult:
    """`rpsc build`: the no-op fast path when nothing changed, else generate, run ninja, record, dump.
    `progress` (a `rpsc.driver.progress.Progress`) is told each phase as it starts."""
    result = _build_store(options, echo, progress)
    if options.compdb and not options.generate_only and not result.compdb_written:
        write_compdb(options.build_path, result)
    return result


def write_compdb(build_dir: Path, result: BuildResult) -> bool:
    """Write `compile_commands.json` (ninja's compilation database of the C compiles) in the build folder;
    True when its bytes changed."""
    from rpsc.driver import quick

    try:
        return quick.write_compdb(ninja_executable(), build_dir)
    except RuntimeError as exc:
        raise BuildError(str(exc)) from None


def _build_store(options: BuildOptions, echo: TextIO | None, progress: Any | None) -> BuildResult:
    if not (options.store_dir / MANIFEST).is_file():
        what = "a file, not a store folder" if options.store_dir.is_file() else f"no store here (missing {MANIFEST})"
        raise BuildError(f"{options.store_dir}: {what}; make one with `rpsc compile FILE.rps --store DIR`")
    if options.generate_only:  # run by ninja's generator rule, under the lock of the `rpsc build` running ninja
        return _build(options, echo, locked=False)
    from rpsc.driver.trace import phase

    with phase("up-to-date check"):
        quick = quick_check(options, echo=echo) if options.quick else None
    if quick is not None:
        return quick
    from rpsrt.store.writer import update_lock

    with update_lock(options.store_dir, timeout=options.lock_timeout):  # a concurrent `rpsc compile` waits instead of being overwritten
        return _build(options, echo, locked=True, progress=progress)


def _build(options: BuildOptions, echo: TextIO | None, *, locked: bool, progress: Any | None = None) -> BuildResult:
    import rpsrt

    from rpsc.driver.incremental import LiveIndex, dirty_spaces, snapshot

    if not (options.store_dir / MANIFEST).is_file():
        raise BuildError(f"{options.store_dir}: no store here (missing {MANIFEST})")
    from rpsc.driver.trace import phase

    if progress is not None:
        progress.phase("loading the store")
    with phase("load store"):
        # With a usable code index, the store is loaded lazily and only the modules whose C is emitted
        # (and what their records change) are touched; else the whole store is loaded.
        live = LiveIndex.open(str(options.store_dir), lazy=lambda entries, changed: _few_to_emit(options, entries, changed))
        if live is not None:
            heap, old = live.heap, []  # the index holds no module of rpsc 0.1.0 (else it is not used)
        else:
            from rpsc.heapcode.migrate import old_modules

            heap = rpsrt.load_store(str(options.store_dir))
            old = old_modules(heap)
    loaded = None if old or live is not None else snapshot(heap)  # code to migrate: dump every space
    prev_state = read_state(options.build_path) or {}
    ninja = ninja_executable()
    notes: dict[str, Any] = {}
    heap, modules, sources, rewritten, job = generate(options, heap, progress=progress, echo=echo,
                                                      ninja=None if options.generate_only else ninja,
                                                      migrate=bool(old), live=live, notes=notes)
    bdir = options.build_path
    store = options.store_dir
    gen_dir, plugin_dir = os.path.join(store, GENERATED), os.path.join(store, PLUGINS)  # (os.path: pathlib is slow)
    results = [ModuleResult(m.oid, m.name, os.path.join(gen_dir, s.file_name),
                            os.path.join(plugin_dir, plugin_file_name(m.oid)), symbols=list(s.symbols))
               for m, s in zip(modules, sources, strict=True)]
    if options.generate_only:
        from rpsc.driver.incremental import write_index_of

        write_index_of(store, heap, live, set())
        return BuildResult(str(store), str(bdir), results, [], False, False, rewritten, False)
    assert job is not None  # started by generate (under ninja's own generator rule, none is: returned above)
    before = job.before
    run = job.finish()
    if run.returncode != 0:
        raise BuildError(explain_failure(run, {s.file_name: (m.name, m.oid) for m, s in zip(modules, sources, strict=True)},
                                         bdir),
                         run.output)
    from rpsrt.plugins import read_sidecar, sha256_file, write_sidecar

    last_modules = {m.get("oid"): m for m in prev_state.get("modules", []) if isinstance(m, dict)}
    stamps: dict[str, list[Any]] = {}
    so_stamps = {r.oid: file_stamp(r.plugin) for r in results}
    for r in results:
        if so_stamps[r.oid] != before[r.plugin]:
            r.status = "built"
    built = [(r, s) for r, s in zip(results, sources, strict=True) if r.status == "built"]
    written: set[str] = set()
    if len(built) >= 4:  # a cold build: each sidecar write ends with an fsync, which threads overlap
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(8, len(built))) as pool:
            list(pool.map(lambda rs: write_sidecar(Path(rs[0].plugin), rs[1].manifest), built))  # (errors in order)
        written = {r.oid for r, _ in built}
    for r, s in zip(results, sources, strict=True):
        so = Path(r.plugin)
        so_stamp = so_stamps[r.oid]
        if r.oid in written:
            side = read_sidecar(so)
            r.sha256 = side[1] if side and side[1] else sha256_file(so)
            if side and side[1]:
                stamps[r.oid] = [so_stamp, file_stamp(so.with_suffix(".json"))]
            continue
        last = last_modules.get(r.oid) or {}
        side_stamp = file_stamp(so.with_suffix(".json"))
        if (r.status != "built" and so_stamp is not None and side_stamp is not None
                and last.get("plugin") == r.plugin and isinstance(last.get("sha256"), str)
                and last.get("stamps") == [so_stamp, side_stamp]):
            # plugin and sidecar untouched since the last build, which read this checksum from that sidecar
            r.sha256 = last["sha256"]
            stamps[r.oid] = [so_stamp, side_stamp]
            continue
        side = read_sidecar(so) if _sidecar_fresh(so) else None
        if r.status == "built" or side is None or side[1] is None:
            write_sidecar(so, s.manifest)
            side = read_sidecar(so)
        r.sha256 = side[1] if side else sha256_file(so)
        if side and side[1]:
            stamps[r.oid] = [file_stamp(so), file_stamp(so.with_suffix(".json"))]
    link_by_module(store, results)
    if progress is not None:
        progress.phase("recording the plugins in the store")
    from rpsc.driver.trace import phase

    touched: set[Any] = set()
    count = len(heap.objects)
    skip = _recorded_already(store, prev_state, results, modules, live)
    with phase("record plugins in the store"):
        changed = record_plugins(heap, results, store, [m for m in modules if not isinstance(m, CachedModule)],
                                 touched, skip)
    if progress is not None:
        progress.done()
    dumped: set[Any] = set()
    if changed:
        from rpsrt.store.writer import dump_store

        if live is not None:
            dumped = _build_dirty_spaces(live, touched)
        with phase("dump store"):
            dump_store(heap, str(store), locked=locked, lock_timeout=options.lock_timeout,
                       spaces=dumped if live is not None else
                       dirty_spaces(heap, loaded, touched) if loaded is not None else None)
        from rpsc.backends.c.emit import emit_headers

        if len(heap.objects) != count:  # the records added named objects (plugin_file...): the headers list them
            for name, text in emit_headers(heap).items():
                write_if_changed(store / GENERATED / name, text.encode())
            notes["headers"] = None  # written from the whole heap: the next build renders them again
        os.utime(bdir / "build.ninja")
        restat(bdir, ninja, "build.ninja")
    from rpsc.driver.incremental import build_fingerprints

    now_stamps = store_stamps(store)
    state = {
        "version": STATE_VERSION,
        "toolchain": options.toolchain(),
        "store": now_stamps,
        # the bytes behind those stamps, so that a copied or moved store still runs its plugins (native.py)
        "store_sha256": store_digests(store, now_stamps, prev_state.get("store"), prev_state.get("store_sha256")),
        "ninja": ninja,
        "modules": [{"oid": r.oid, "name": r.name, "c_path": r.c_file, "plugin": r.plugin, "sha256": r.sha256,
                     "symbols": r.symbols, "stamps": stamps.get(r.oid)} for r in results],
        "cache": _cache_entries(build_fingerprints(heap, live.entries if live is not None else None), modules, sources),
        "cc_probe": probe_record(options.toolchain()["cc"]),
        "ninja_key": notes.get("ninja_key"),
        "headers": notes.get("headers"),
    }
    result = BuildResult(str(store), str(bdir), results, run.commands, not run.commands, False, rewritten, changed)
    if options.compdb:  # before the state, which records the build.ninja it was written from
        # ninja -t compdb reads build.ninja only, whose text follows from its key (`ninja_key`): with the
        # key and ninja of the last build and the file it wrote untouched, the file is already this one
        last_db = prev_state.get("compdb")
        if not (isinstance(last_db, dict) and last_db.get("ninja_key") == notes.get("ninja_key") is not None
                and prev_state.get("ninja") == ninja and last_db.get("stamp") is not None
                and last_db.get("stamp") == file_stamp(bdir / COMPDB)):
            write_compdb(bdir, result)
        state["compdb_for"] = file_stamp(bdir / "build.ninja")
        state["compdb"] = {"ninja_key": notes.get("ninja_key"), "stamp": file_stamp(bdir / COMPDB)}
        result.compdb_written = True
    write_state(bdir, state)
    from rpsc.driver.incremental import write_index_of

    write_index_of(store, heap, live, dumped)
    return result


def _few_to_emit(options: BuildOptions, entries: dict[str, Any], changed: set[str]) -> bool:
    """Whether a build is likely to emit the C of few modules (then a lazy load, which touches only them,
    pays; when most are emitted, filling every object one by one costs more than loading all at once):
    at most a quarter of the modules (and at least 4) in a space file that changed or with a build
    fingerprint other than the last build's, by the index as recorded."""
    from rpsc.driver.incremental import build_fingerprints

    state = read_state(options.build_path) or {}
    cache = state.get("cache") if isinstance(state.get("cache"), dict) else {}
    fps = build_fingerprints(None, entries)
    todo = sum(1 for n, e in entries.items()
               if changed.intersection(e["spaces"]) or not isinstance(cache.get(n), dict)
               or cache[n].get("fingerprint") != fps.get(n))
    return todo <= max(4, len(entries) // 4)


def _recorded_already(store: Path, prev: dict[str, Any], results: Sequence[ModuleResult], modules: Sequence[Any],
                      live: Any) -> set[str]:
    """The OIDs of the modules whose records in the store are those this build would write: C spared by the
    cache, plugin not rebuilt, the same checksum and symbols as the last build recorded, and every space
    file of the module as that build left it (only with a code index: without, the records are compared)."""
    if live is None:
        return set()
    from rpsc.driver.quick import store_stamps

    now = store_stamps(store)
    then = prev.get("store") if isinstance(prev.get("store"), dict) else {}
    last = {m.get("oid"): m for m in prev.get("modules", []) if isinstance(m, dict)}
    out = set()
    for r, m in zip(results, modules, strict=True):
        e = live.entries.get(r.name)
        p = last.get(r.oid)
        if (e is None or p is None or r.status == "built" or not isinstance(m, CachedModule)
                or p.get("sha256") != r.sha256 or p.get("symbols") != r.symbols or p.get("plugin") != r.plugin):
            continue
        files = [f"persistore/sp{sp}-rps.json" for sp in e["spaces"]]
        if all(now.get(f) is not None and now.get(f) == then.get(f) for f in files):
            out.add(r.oid)
    return out


def _build_dirty_spaces(live: Any, touched: set[Any]) -> set[Any]:
    """The spaces a build changed in a lazily loaded heap: those of the objects its records changed or
    created, and rpsc's own (the build changes nothing else: code to migrate takes the whole-store path)."""
    from rpsc.heapcode.classes import RPSC_SPACE

    heap = live.heap
    out = {o.space for o in touched}
    if len(heap.objects) != len(live.ids):
        out.update(o.space for o in heap.objects.values() if o.oid not in live.ids)
    rpsc = heap.get(RPSC_SPACE)
    if rpsc is not None:
        out.add(rpsc)
    out.discard(None)
    return out
