"""The Ninja build of a store's plugins: generated C, `build.ninja`, running ninja, recording plugins back.

Entry point: `build_store(options) -> BuildResult`. Layout (ARCHITECTURE.md): `DIR/generated/rps<oid>-mod.c`
and the dump-time headers beside the store's manifest, `DIR/plugins/rps<oid>-mod.so` plus its sidecar
`.json`; `build.ninja`, objects, depfiles and the state file in the build folder (`DIR/build` unless
`--build-dir`). The no-op path (`quick_check`) imports nothing heavy and never loads the store: it compares
the store files' stamps and the build configuration with the state of the last build, then runs ninja.
"""

from __future__ import annotations

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

STATE_FILE = "rpsc-build.json"
STATE_VERSION = 3  # 3: build.ninja gained the compiler workaround flags (so older builds regenerate)
GENERATED = "generated"
PLUGINS = "plugins"
MANIFEST = "rps_manifest.json"


#: Flags that sidestep GCC bugs which miscompile generated C (docs/c-backend.md, "C compiler bugs"):
#: GCC's brute-force trip-count evaluation (loop_niter_by_eval) inverts a loop's floating-point exit test
#: without NaN (`x <= c` becomes `x > c`, not "unordered or greater"), so a loop whose exit test sees a
#: constant NaN is "proved" to leave through it and is folded away at -O2 (seen with GCC 12.2). Zero
#: iterations to track turns exactly that analysis off.
GCC_WORKAROUND_FLAGS = ("--param=max-iterations-to-track=0",)


def compiler_workaround_flags(cc: str) -> tuple[str, ...]:
    """The workaround flags for the C compiler command `cc` (`GCC_WORKAROUND_FLAGS` when it is GCC, which
    defines `__GNUC__` but not `__clang__` nor `__INTEL_COMPILER`; none otherwise or if the probe fails)."""
    return _workaround_flags(cc)


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
    verbose: bool = False
    stamp: Path | None = None  # touched after a successful build, with a depfile `<stamp>.d` beside it
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
        env = self.environ()
        launcher = self.launcher if self.launcher is not None else env.get("RPSC_CC_LAUNCHER", "")
        from rpsc import __version__

        return {
            "cc": env.get("CC", "") or "cc",
            "cflags": env.get("CFLAGS", ""),
            "ldflags": env.get("LDFLAGS", ""),
            "launcher": launcher,
            "opt": self.opt,
            "python": sys.executable,
            "rpsc": __version__,
            "store": str(self.store_dir),
            "build_dir": str(self.build_path),
        }


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


def store_files(store: Path) -> list[Path]:
    """The files that make up a store: its manifest and its space files."""
    out = [store / MANIFEST]
    pdir = store / "persistore"
    try:
        names = sorted(os.listdir(pdir))
    except FileNotFoundError:
        names = []
    out += [pdir / n for n in names if n.endswith(".json") and not n.startswith(".")]
    return out


def store_stamps(store: Path) -> dict[str, list[int]]:
    """(mtime_ns, size, inode) of every store file, by path relative to the store."""
    out: dict[str, list[int]] = {}
    for p in store_files(store):
        try:
            st = os.stat(p)
        except FileNotFoundError:
            continue
        out[os.path.relpath(p, store)] = [st.st_mtime_ns, st.st_size, st.st_ino]
    return out


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
    except (FileNotFoundError, ValueError):
        return None
    return state if isinstance(state, dict) and state.get("version") == STATE_VERSION else None


def write_state(build_dir: Path, state: dict[str, Any]) -> None:
    write_if_changed(build_dir / STATE_FILE, (json.dumps(state, indent=1, sort_keys=True) + "\n").encode())


def plugin_file_name(module_oid: str) -> str:
    return f"rps{module_oid}-mod.so"


# ------------------------------------------------------------------------------------------ ninja


_STATUS = "[%f/%t] "
_PROGRESS_RE = re.compile(r"^\[(\d+)/(\d+)\] (.*)$")
_DIAG_RE = re.compile(r"^(?P<file>[^:\s]+\.c):(?P<line>\d+):(?:(?P<col>\d+):)? (?P<kind>error|warning): (?P<msg>.*)$")


@dataclass(slots=True)
class NinjaRun:
    returncode: int
    output: str
    commands: list[str]

    @property
    def no_work(self) -> bool:
        return "ninja: no work to do." in self.output


def run_ninja(build_dir: Path, *, jobs: int | None = None, targets: Sequence[str] = (),
              echo: TextIO | None = None, ninja: str | None = None, verbose: bool = False) -> NinjaRun:
    """Run ninja in `build_dir`, echoing its progress lines to `echo` while capturing them."""
    cmd = [ninja or ninja_executable()]
    if jobs:
        cmd += ["-j", str(jobs)]
    if verbose:
        cmd.append("-v")
    cmd += list(targets)
    env = dict(os.environ)
    env["NINJA_STATUS"] = _STATUS
    from rpsc.driver.trace import current

    tr = current()
    if tr is not None:
        try:
            log_offset = os.path.getsize(build_dir / ".ninja_log")
        except OSError:
            log_offset = 0
        ninja_start = tr.now_us()
    proc = subprocess.Popen(cmd, cwd=build_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                            text=True, errors="replace")
    assert proc.stdout is not None
    lines: list[str] = []
    commands: list[str] = []
    for line in proc.stdout:
        lines.append(line)
        m = _PROGRESS_RE.match(line.rstrip("\n"))
        if m:
            commands.append(m.group(3))
        if echo is not None:
            echo.write(line)
            echo.flush()
    rc = proc.wait()
    if tr is not None:
        tr.complete("ninja", ninja_start, tr.now_us(), args={"steps": len(commands), "status": rc})
        tr.ninja_steps(build_dir, log_offset, ninja_start)
    return NinjaRun(rc, "".join(lines), commands)


def restat(build_dir: Path, ninja: str, *outputs: str) -> None:
    """Tell ninja's log the current mtime of `outputs` (after rpsc rewrote or touched them itself)."""
    subprocess.run([ninja, "-t", "restat", *outputs], cwd=build_dir, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)


def explain_failure(run: NinjaRun, c_files: dict[str, tuple[str, str]]) -> str:
    """A compiler failure in generated code, mapped back to the module and function it came from."""
    from rpsc.backends.c.emit import FUNCTION_END_MARKER, FUNCTION_MARKER

    notes: list[str] = []
    for line in run.output.splitlines():
        m = _DIAG_RE.match(line)
        if not m or m.group("kind") != "error":
            continue
        path = m.group("file")
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
    bdir = options.build_path
    state = read_state(bdir)
    if state is None or not (bdir / "build.ninja").is_file():
        return None
    if state.get("toolchain") != options.toolchain():
        return None
    if state.get("store") != store_stamps(options.store_dir):
        return None
    modules = state.get("modules", [])
    for m in modules:
        if not os.path.isfile(m["c_path"]):
            return None
    ninja = state.get("ninja") or ninja_executable()
    before = {m["plugin"]: file_stamp(m["plugin"]) for m in modules}
    run = run_ninja(bdir, jobs=options.jobs, echo=echo, ninja=ninja, verbose=options.verbose)
    if run.returncode != 0:
        raise BuildError(explain_failure(run, {Path(m["c_path"]).name: (m["name"], m["oid"]) for m in modules}),
                         run.output)
    changed = [m for m in modules if file_stamp(m["plugin"]) != before[m["plugin"]]]
    sidecars_ok = all(_sidecar_fresh(Path(m["plugin"])) for m in modules)
    if changed or not sidecars_ok or "regenerat" in run.output.lower():
        return None  # something was rebuilt: finish through the full path (sidecars, store records)
    results = [ModuleResult(m["oid"], m["name"], m["c_path"], m["plugin"], "up-to-date", m.get("sha256"),
                            m.get("symbols", [])) for m in modules]
    return BuildResult(str(options.store_dir), str(bdir), results, run.commands, not run.commands, True, [], False)


def write_stamp(stamp: Path, store: Path, result: BuildResult) -> None:
    """Touch `stamp` and write `<stamp>.d`, a Makefile-style depfile naming everything the build read or
    produced (store files, generated C, plugins), for a build system that drives `rpsc build`."""
    def esc(p: str) -> str:
        return p.replace("\\", "\\\\").replace(" ", "\\ ").replace("#", "\\#").replace("$", "$$")

    deps = [str(p.absolute()) for p in store_files(store)]
    for m in result.modules:
        deps += [m.c_file, m.plugin]
    stamp.parent.mkdir(parents=True, exist_ok=True)
    text = esc(str(stamp)) + ":" + "".join(f" \\\n  {esc(d)}" for d in deps) + "\n"
    write_if_changed(stamp.with_name(stamp.name + ".d"), text.encode("utf-8", "surrogateescape"))  # file names as their bytes
    stamp.touch()


def _sidecar_fresh(so: Path) -> bool:
    side = so.with_suffix(".json")
    try:
        return os.stat(side).st_mtime_ns >= os.stat(so).st_mtime_ns
    except FileNotFoundError:
        return False


# ------------------------------------------------------------------------------------------ the full path


def _ir_modules(heap: Any) -> list[Any]:
    from rpsc.driver.pipeline import ir_modules

    return list(ir_modules(heap))


def _ninja_path(path: Path) -> str:
    """A path for `ninja_syntax.Writer.build`, which escapes spaces, colons and `$ ` but not a lone `$`."""
    return re.sub(r"\$(?! )", "$$", str(path))


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
    cc = " ".join(filter(None, [tc["launcher"], tc["cc"]]))
    w.variable("cc", cc)
    cflags = ["-std=c11", f"-O{tc['opt']}", "-fPIC", "-fno-semantic-interposition", "-Wall", "-Wextra",
              *compiler_workaround_flags(tc["cc"]),
              ninja_syntax.escape(f"-I{shlex.quote(str(include_dir()))}"),
              ninja_syntax.escape(f"-I{shlex.quote(str(store / GENERATED))}")]
    w.variable("cflags", " ".join(cflags + ([tc["cflags"]] if tc["cflags"] else [])))
    w.variable("ldflags", " ".join(["-shared"] + ([tc["ldflags"]] if tc["ldflags"] else [])))
    w.newline()
    w.rule("cc", "$cc -MD -MF $out.d $cflags -c $in -o $out", depfile="$out.d", deps="gcc",
           description="CC $in")
    w.rule("link", "$cc $ldflags -o $out $in -lm", description="LINK $out")
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
        c_path = _ninja_path(store / GENERATED / f"rps{m.oid}-mod.c")
        obj = f"obj/rps{m.oid}-mod.o"
        so = _ninja_path(store / PLUGINS / plugin_file_name(m.oid))
        w.build([obj], "cc", [c_path])
        w.build([so], "link", [obj])
        targets.append(so)
    w.newline()
    w.build(["all"], "phony", targets)
    w.default("all")
    return out.getvalue().encode("utf-8", "surrogateescape")  # paths that are not UTF-8 as their bytes


def generate(options: BuildOptions, heap: Any | None = None) -> tuple[Any, list[Any], list[Any], list[str]]:
    """Load the store (unless given), emit every module's C and the headers, write the changed files and
    build.ninja. Returns (heap, ir modules, C sources, files rewritten)."""
    import rpsrt

    from rpsc.backends.c.emit import emit_c, emit_headers

    store = options.store_dir
    if not (store / MANIFEST).is_file():
        raise BuildError(f"{store}: no store here (missing {MANIFEST})")
    from rpsc.driver.trace import phase

    if heap is None:
        with phase("load store"):
            heap = rpsrt.load_store(str(store))
    from rpsc.driver.pipeline import migrate_code

    notice = migrate_code(heap)  # rpsc 0.1.0's code: rewritten (one way) since the build records into the store
    if notice:
        print(notice, file=sys.stderr)
    with phase("typed IR from the heap"):
        modules = _ir_modules(heap)
    gen = store / GENERATED
    rewritten: list[str] = []
    sources = []
    for m in modules:
        with phase(f"emit C: {m.name}"):
            src = emit_c(m)
        sources.append(src)
        if write_if_changed(gen / src.file_name, src.text.encode()):
            rewritten.append(str(gen / src.file_name))
    for name, text in emit_headers(heap).items():
        if write_if_changed(gen / name, text.encode()):
            rewritten.append(str(gen / name))
    bdir = options.build_path
    (bdir / "obj").mkdir(parents=True, exist_ok=True)
    (store / PLUGINS).mkdir(parents=True, exist_ok=True)
    data = write_ninja_file(bdir / "build.ninja", options, modules, store_files(store))
    if write_if_changed(bdir / "build.ninja", data):
        rewritten.append(str(bdir / "build.ninja"))
    os.utime(bdir / "build.ninja")
    return heap, modules, sources, rewritten


def record_plugins(heap: Any, results: Sequence[ModuleResult], store: Path, modules: Sequence[Any] = ()) -> bool:
    """Record each built module's plugin file, checksum and native symbols in its module object, and each
    compiled function's code hash (not in the manifest's `plugins`: rpsc.driver.record); True when anything
    changed."""
    from rpsc.driver.record import record

    return record(heap, results, store, modules)


def build_store(options: BuildOptions, *, echo: TextIO | None = None,
                log: Callable[[str], None] | None = None) -> BuildResult:
    """`rpsc build`: the no-op fast path when nothing changed, else generate, run ninja, record, dump."""
    if not (options.store_dir / MANIFEST).is_file():
        what = "a file, not a store folder" if options.store_dir.is_file() else f"no store here (missing {MANIFEST})"
        raise BuildError(f"{options.store_dir}: {what}; make one with `rpsc compile FILE.rps --store DIR`")
    if options.generate_only:  # run by ninja's generator rule, under the lock of the `rpsc build` running ninja
        return _build(options, echo, locked=False)
    from rpsc.driver.trace import phase

    with phase("up-to-date check"):
        quick = quick_check(options, echo=echo)
    if quick is not None:
        return quick
    from rpsrt.store.writer import update_lock

    with update_lock(options.store_dir, timeout=options.lock_timeout):  # a concurrent `rpsc compile` waits instead of being overwritten
        return _build(options, echo, locked=True)


def _build(options: BuildOptions, echo: TextIO | None, *, locked: bool) -> BuildResult:
    heap, modules, sources, rewritten = generate(options)
    bdir = options.build_path
    store = options.store_dir
    ninja = ninja_executable()
    if not options.generate_only:  # under ninja's own generator rule, ninja records build.ninja itself
        restat(bdir, ninja, "build.ninja")
    results = [ModuleResult(m.oid, m.name, str(store / GENERATED / s.file_name),
                            str(store / PLUGINS / plugin_file_name(m.oid)), symbols=list(s.symbols))
               for m, s in zip(modules, sources, strict=True)]
    if options.generate_only:
        return BuildResult(str(store), str(bdir), results, [], False, False, rewritten, False)
    before = {r.plugin: file_stamp(r.plugin) for r in results}
    run = run_ninja(bdir, jobs=options.jobs, echo=echo, ninja=ninja, verbose=options.verbose)
    if run.returncode != 0:
        raise BuildError(explain_failure(run, {s.file_name: (m.name, m.oid) for m, s in zip(modules, sources, strict=True)}),
                         run.output)
    from rpsrt.plugins import read_sidecar, sha256_file, write_sidecar

    for r, s in zip(results, sources, strict=True):
        so = Path(r.plugin)
        if file_stamp(so) != before[r.plugin]:
            r.status = "built"
        side = read_sidecar(so) if _sidecar_fresh(so) else None
        if r.status == "built" or side is None or side[1] is None:
            write_sidecar(so, s.manifest)
            side = read_sidecar(so)
        r.sha256 = side[1] if side else sha256_file(so)
    from rpsc.driver.trace import phase

    with phase("record plugins in the store"):
        changed = record_plugins(heap, results, store, modules)
    if changed:
        from rpsrt.store.writer import dump_store

        with phase("dump store"):
            dump_store(heap, str(store), locked=locked, lock_timeout=options.lock_timeout)
        os.utime(bdir / "build.ninja")
        restat(bdir, ninja, "build.ninja")
    state = {
        "version": STATE_VERSION,
        "toolchain": options.toolchain(),
        "store": store_stamps(store),
        "ninja": ninja,
        "modules": [{"oid": r.oid, "name": r.name, "c_path": r.c_file, "plugin": r.plugin, "sha256": r.sha256,
                     "symbols": r.symbols} for r in results],
    }
    write_state(bdir, state)
    return BuildResult(str(store), str(bdir), results, run.commands, not run.commands, False, rewritten, changed)
