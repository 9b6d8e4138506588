"""The plugin manager: discovery in search paths, validation, dependency order, dlopen/init, unload.

Nothing of a native plugin runs before its manifest (sidecar or ELF symbol), checksum, permissions, ABI,
name, `rps_plugin_init` symbol and whole dependency chain have been validated; the file is opened once,
verified on its descriptor and `dlopen`ed through that descriptor (`rpsrt.plugins.trust`). Registrations made during
init are staged and committed only when init succeeds, so a failed plugin leaves nothing registered.
"""

from __future__ import annotations

import _ctypes
import ctypes
import itertools
import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rpsrt.abi import (
    ARGUMENT_FN as _ARGUMENT_FN,
    HEAP_API_VERSION,
    HEAP_CODES,
    LOG_FN as _LOG_FN,
    REGISTER_FN as _REGISTER_FN,
    PluginApi,
    ThreadStates,
    call_with_rt,
    heap_typed,
    rt_key_cell,
)
from rpsrt.heaphost import heap_fast_address, heap_op_address
from rpsrt.errors import PluginError
from rpsrt.rt import RpsRt, new_rt
from rpsrt.plugins.elf import ElfFile, read_elf
from rpsrt.plugins.manifest import (
    ABI_VERSION,
    Manifest,
    Requirement,
    check_plugin_name,
    parse_manifest,
    parse_sidecar,
    sidecar_path,
)
from rpsrt.plugins.points import (
    _WRITE_LOCK,
    GRACE,
    ExtensionPoint,
    Implementation,
    Signature,
    native_caller,
    python_impl_problem,
    revoke,
)
from rpsrt.plugins.trust import (
    OpenedPlugin,
    PluginRefused,
    check_path,
    open_plugin,
    read_trusted_sidecar,
    reason_of,
    refused,
)

#: The entry-point group that Python plugins are published under.
ENTRY_POINT_GROUP = "rpsc.plugins"
#: The environment variable holding extra search paths (os.pathsep-separated).
PATH_ENV = "RPSC_PLUGIN_PATH"

RTLD_NOW = os.RTLD_NOW
RTLD_GLOBAL = os.RTLD_GLOBAL
RTLD_NOLOAD = getattr(os, "RTLD_NOLOAD", 4)

REG_OK, REG_UNKNOWN_POINT, REG_BAD_SIGNATURE, REG_BAD_ARGUMENT, REG_NOT_IN_INIT = 0, 1, 2, 3, 4
_LOG_LEVELS = {0: logging.DEBUG, 1: logging.INFO, 2: logging.WARNING, 3: logging.ERROR}
def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    """Run a PluginManager method under the manager's lock."""
    import functools

    @functools.wraps(method)
    def wrapper(self: PluginManager, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)
    return wrapper


_log = logging.getLogger("rpsrt.plugins")

_INIT_FN = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.POINTER(PluginApi))
_FINI_FN = ctypes.CFUNCTYPE(None)


def check_permissions(path: str | os.PathLike[str]) -> None:
    """Refuse a plugin file, its sidecar, or any folder from its own up to `/`, that is owned by someone
    other than the current user or root, or that group or others may write (see `rpsrt.plugins.trust`);
    a symbolic link is judged by its target. Raises PluginRefused (a PluginError) with the reason."""
    check_path(path)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A plugin the manager can load: its validated manifest and where it comes from.

    `kind` is "native" (a `.so`: `path`, `source` "sidecar" or "elf", `sha256` recorded in the sidecar) or
    "python" (`obj`, the object following the Python plugin protocol; `source` names its entry point).
    """

    name: str
    manifest: Manifest
    kind: str
    source: str
    path: Path | None = None
    sha256: str | None = None
    obj: Any = None

    @property
    def version(self) -> str:
        return self.manifest.version_text


@dataclass(frozen=True, slots=True)
class ScanEntry:
    """One file found in a search path: its candidate, or the error that makes it unusable."""

    search_path: Path
    path: Path
    candidate: Candidate | None
    error: str | None
    #: why the file was refused (one of rpsrt.plugins.trust.REASONS), None when it is a candidate.
    reason: str | None = None
    #: the plugin name the refused file claims, when it could be read.
    name: str | None = None


def inspect_native(path: str | os.PathLike[str], *, opened: OpenedPlugin | None = None) -> tuple[Candidate, ElfFile]:
    """Read and validate a native plugin's manifest without loading it (sidecar first, else ELF symbol).

    With a sidecar, its recorded sha256 must match the file, and an embedded manifest, when present, must
    agree with it on name, version and ABI. Raises PluginRefused (a PluginError, with its reason) otherwise.
    `opened`: the file as the manager opened and verified it (owner, mode, folders; the sidecar is then
    checked too); without it the file is read as it is, for inspection only (`check_permissions` judges it).
    """
    if opened is None:
        with open_plugin(path, strict=False) as op:
            return _inspect(Path(path), op, strict=False)
    return _inspect(Path(path), opened, strict=True)


def _inspect(p: Path, opened: OpenedPlugin, *, strict: bool) -> tuple[Candidate, ElfFile]:
    where = str(p)
    side_path = sidecar_path(opened.real)
    raw_side = read_trusted_sidecar(str(side_path), strict=strict)
    side = None
    if raw_side is not None:
        try:
            side = parse_sidecar(raw_side, path=str(side_path))
        except PluginError as exc:
            raise refused(exc, "manifest") from None
        manifest, sha = side
        if sha is not None:
            actual = opened.sha256
            if actual != sha:
                raise PluginRefused(f"checksum mismatch: sidecar {side_path.name} records sha256 {sha[:16]}..., "
                                    f"the file has {actual[:16]}... (rebuild it or rewrite its sidecar)",
                                    reason="checksum", path=where, name=manifest.name)
    elf = read_elf(where, opened.data)
    embedded_bytes = elf.read_symbol_bytes("rps_plugin_manifest")
    try:
        if side is not None:
            manifest, sha = side
            if embedded_bytes is not None:
                embedded = parse_manifest(embedded_bytes, path=f"{where}(rps_plugin_manifest)")
                if (embedded.name, embedded.version, embedded.abi) != (manifest.name, manifest.version, manifest.abi):
                    raise PluginError(f"sidecar manifest ({manifest.name} {manifest.version_text}) disagrees with "
                                      f"the embedded one ({embedded.name} {embedded.version_text})", path=where)
            source = "sidecar"
        else:
            if embedded_bytes is None:
                raise PluginError("missing manifest: no sidecar " f"{side_path.name} and no rps_plugin_manifest "
                                  "symbol", path=where)
            manifest = parse_manifest(embedded_bytes, path=f"{where}(rps_plugin_manifest)")
            sha = None
            source = "elf"
        if "rps_plugin_init" not in elf.symbols:
            raise PluginError(f"plugin {manifest.name!r} does not export rps_plugin_init", path=where)
    except PluginError as exc:
        out = refused(exc, "manifest")
        if side is not None:
            out.name = side[0].name
        raise out from None
    return Candidate(manifest.name, manifest, "native", source, p, sha), elf


def python_candidate(obj: Any, source: str = "python") -> Candidate:
    """Validate an object following the Python plugin protocol (name, version, requires, init)."""
    name = getattr(obj, "name", None)
    if not callable(getattr(obj, "init", None)):
        raise PluginError(f"Python plugin {name!r} ({source}) has no init(api) method")
    raw = {"name": name, "version": getattr(obj, "version", None), "abi": ABI_VERSION,
           "requires": list(getattr(obj, "requires", ()) or ())}
    return Candidate(str(name), parse_manifest(raw, path=source), "python", source, obj=obj)


@dataclass(eq=False)
class Plugin:
    """A loaded plugin: its manifest, its extensions, its native handle (None for a Python plugin)."""

    name: str
    candidate: Candidate
    arguments: Mapping[str, str]
    extensions: tuple[Implementation, ...] = ()
    messages: list[tuple[int, str]] = field(default_factory=list)
    handle: int | None = None
    symbols: frozenset[str] = frozenset()
    loaded: bool = False
    _cdll: Any = None
    _api: Any = None
    _argbufs: dict[bytes, Any] = field(default_factory=dict)
    _staged: list[Implementation] = field(default_factory=list)
    _errors: list[str] = field(default_factory=list)
    _callers: list[list[Any]] = field(default_factory=list)
    _in_init: bool = False
    _opened: OpenedPlugin | None = None

    @property
    def version(self) -> str:
        return self.candidate.version

    @property
    def path(self) -> Path | None:
        return self.candidate.path

    @property
    def kind(self) -> str:
        return self.candidate.kind

    @property
    def requires(self) -> tuple[Requirement, ...]:
        return self.candidate.manifest.requires

    def __repr__(self) -> str:
        state = "loaded" if self.loaded else "unloaded"
        where = self.candidate.path or self.candidate.source
        return f"<Plugin {self.name} {self.version} ({self.kind}, {state}) from {where}>"

    def address(self, symbol: str) -> int:
        """The address of an exported symbol of this (native, loaded) plugin."""
        if self._cdll is None or not self.loaded:
            raise PluginError(f"plugin {self.name} is not a loaded native plugin")
        try:
            return ctypes.cast(getattr(self._cdll, symbol), ctypes.c_void_p).value or 0
        except AttributeError:
            raise PluginError(f"plugin {self.name} does not export {symbol}") from None


class PythonPluginApi:
    """What a Python plugin's `init(api)` receives: the Python twin of `rps_plugin_api`."""

    abi_version = ABI_VERSION

    def __init__(self, manager: PluginManager, plugin: Plugin) -> None:
        self._manager = manager
        self._plugin = plugin

    @property
    def rt(self) -> RpsRt:
        return self._manager.rt

    def register_extension(self, point: str, impl_name: str, function: Callable[..., Any],
                           priority: int = 0, signature: str | None = None) -> None:
        """Register a Python callable; raises PluginError for an unknown point or a different signature."""
        code = self._manager._stage(self._plugin, point, impl_name, function, None, priority, signature)
        if code:
            raise PluginError(self._plugin._errors[-1])

    def log(self, level: int, message: str) -> None:
        self._manager._log(self._plugin, level, message)

    def argument(self, key: str) -> str | None:
        return self._plugin.arguments.get(key)


class PluginManager:
    """Finds, validates, loads and unloads plugins, and owns the extension points they implement.

    Search paths, in order: `search_paths` (e.g. `--plugin-path`), then `RPSC_PLUGIN_PATH` (when `use_env`),
    then `<store>/plugins`. One `rps_rt` run-time state (`rt`) is shared by every plugin it loads; pass
    `rt=` to share one with another host component (the JIT).

    Thread safety: every method can be called from any thread. Loading, unloading, declaring and scanning
    are serialised by one re-entrant lock (`_lock`); dispatch through the extension points and calls
    through `function()` callables take no lock. A load publishes a plugin's implementations only after
    its init succeeded, all points at once under the points' write lock; an unload first withdraws them
    (copy-on-write tables, see `rpsrt.plugins.points`), revokes the plugin's callables, waits for the
    dispatches and calls that may still run its code (`points.GRACE`), and only then runs its fini and
    unmaps it. So a dispatch sees a plugin wholly registered or not at all, and never runs unmapped code;
    an unload waits for running calls into the plugin to return. An implementation must not load or unload
    plugins itself (the unload would wait for the very dispatch that asked for it).
    """

    def __init__(self, search_paths: Iterable[str | os.PathLike[str]] = (), *,
                 store: str | os.PathLike[str] | None = None, use_env: bool = True,
                 rt: RpsRt | None = None) -> None:
        paths = [Path(p) for p in search_paths]
        if use_env:
            paths += [Path(p) for p in os.environ.get(PATH_ENV, "").split(os.pathsep) if p]
        if store is not None:
            paths.append(Path(store) / "plugins")
        seen: set[Path] = set()
        self.search_paths: tuple[Path, ...] = tuple(
            p for p in (q.absolute() for q in paths) if not (p in seen or seen.add(p)))  # type: ignore[func-returns-value]
        self.rt = rt if rt is not None else new_rt()
        #: The per-thread states compiled code of these plugins runs on (`rpsrt.abi.ThreadStates`).
        self.thread_states = ThreadStates(self.rt)
        self.points: dict[str, ExtensionPoint] = {}
        self._loaded: dict[str, Plugin] = {}           # in load order
        self._python: dict[str, Candidate] = {}
        self._python_errors: list[tuple[str, str]] = []
        self._hosts: dict[int, Plugin] = {}
        self._host_ids = itertools.count(1)
        # scan() results by file, valid while the file, its sidecar and their folder keep their stat.
        self._scan_cache: dict[Path, tuple[tuple[object, ...], ScanEntry]] = {}
        # One set of C callbacks per manager, alive as long as it is.
        self._c_register = _REGISTER_FN(self._cb_register)
        self._c_log = _LOG_FN(self._cb_log)
        self._c_argument = _ARGUMENT_FN(self._cb_argument)
        #: Test hook: called with the plugin path after its open file is verified, right before dlopen.
        self._after_verify: Callable[[Path], None] | None = None
        #: Serialises loading, unloading, declaring and scanning (dispatch takes no lock).
        self._lock = threading.RLock()

    # ------------------------------------------------------------ extension points

    @_locked
    def declare(self, point: ExtensionPoint | str, signature: str | Signature | None = None,
                mode: str = "first") -> ExtensionPoint:
        """Declare an extension point (an ExtensionPoint, or name + signature + mode); returns it.

        Declaring the same name again with the same signature and mode returns the existing point.
        """
        if not isinstance(point, ExtensionPoint):
            if signature is None:
                raise PluginError(f"extension point {point}: a signature is required")
            point = ExtensionPoint(point, signature, mode)
        old = self.points.get(point.name)
        if old is not None:
            if (old.signature, old.mode) != (point.signature, point.mode):
                raise PluginError(f"extension point {point.name} is already declared as {old.signature} "
                                  f"({old.mode})")
            return old
        self.points[point.name] = point
        return point

    def point(self, name: str) -> ExtensionPoint:
        """The declared extension point `name`."""
        try:
            return self.points[name]
        except KeyError:
            raise PluginError(f"unknown extension point {name!r}") from None

    # ------------------------------------------------------------ discovery

    @_locked
    def scan(self) -> list[ScanEntry]:
        """Every `.so` in the search paths (in order, then by file name), each validated without loading."""
        entries: list[ScanEntry] = []
        for sp in self.search_paths:
            try:
                names = sorted(os.listdir(sp))
            except FileNotFoundError:
                continue
            except OSError as exc:
                entries.append(ScanEntry(sp, sp, None, f"{sp}: error: cannot list: {exc.strerror}"))
                continue
            for fname in names:
                if not fname.endswith(".so"):
                    continue
                path = sp / fname
                key = _file_key(path)
                hit = self._scan_cache.get(path)
                if hit is not None and key is not None and hit[0] == key:
                    entries.append(hit[1])
                    continue
                try:
                    with open_plugin(path, self._search_strs()) as opened:
                        cand, _ = _inspect(path, opened, strict=True)
                    entry = ScanEntry(sp, path, cand, None)
                except PluginError as exc:
                    entry = ScanEntry(sp, path, None, str(exc), reason_of(exc), _claimed_name(path, exc))
                entries.append(entry)
                if key is not None:
                    self._scan_cache[path] = (key, entry)
        return entries

    def _search_strs(self) -> list[str]:
        return [str(p) for p in self.search_paths]

    def refusals(self, name: str) -> list[ScanEntry]:
        """The files of the search path refused although they claim to be (or are named after) plugin `name`."""
        return [e for e in self.scan()
                if e.candidate is None and (e.name == name or (e.name is None and e.path.stem == name))]

    def _refusal_text(self, name: str) -> str:
        refusals = self.refusals(name)
        if not refusals:
            return ""
        return (f"; {len(refusals)} file(s) of that name were refused: "
                + "; ".join(f"refused ({e.reason}): {e.error}" for e in refusals))

    def python_plugins(self) -> dict[str, Candidate]:
        """The Python plugins added or discovered so far, by name."""
        return dict(self._python)

    @_locked
    def add_python_plugin(self, obj: Any, source: str = "python") -> Candidate:
        """Make a Python plugin (an object with name, version, requires and init(api)) loadable."""
        cand = python_candidate(obj, source)
        self._python[cand.name] = cand
        return cand

    @_locked
    def discover_python(self, group: str = ENTRY_POINT_GROUP) -> list[Candidate]:
        """Add every Python plugin published under the entry-point group `group` (importing it).

        An entry point names a plugin object, or a class/factory called without arguments to make one.
        One that fails to import or validate is recorded (see `python_errors`) and skipped.
        """
        from importlib.metadata import entry_points

        found = []
        for ep in sorted(entry_points(group=group), key=lambda e: e.name):
            source = f"entry point {ep.name} = {ep.value}"
            try:
                obj = ep.load()
                if not callable(getattr(obj, "init", None)) and callable(obj):
                    obj = obj()
                elif isinstance(obj, type):
                    obj = obj()
                found.append(self.add_python_plugin(obj, source))
            except Exception as exc:  # a broken third-party plugin is a report, not a crash
                self._python_errors.append((source, f"{type(exc).__name__}: {exc}"))
        return found

    @property
    def python_errors(self) -> list[tuple[str, str]]:
        return list(self._python_errors)

    def candidates(self) -> dict[str, Candidate]:
        """Loadable plugins by name: the first valid one in search-path order, then Python plugins."""
        out: dict[str, Candidate] = {}
        for e in self.scan():
            if e.candidate is not None:
                out.setdefault(e.candidate.name, e.candidate)
        for name, cand in self._python.items():
            out.setdefault(name, cand)
        for name, plugin in self._loaded.items():
            out[name] = plugin.candidate
        return out

    def find(self, name: str) -> Candidate:
        """The candidate called `name` (a loaded one first), or PluginError."""
        check_plugin_name(name)
        if name in self._loaded:
            return self._loaded[name].candidate
        cand = self.candidates().get(name)
        if cand is None:
            raise PluginError(f"plugin {name!r} not found in the search path "
                              f"[{', '.join(map(str, self.search_paths)) or 'empty'}]{self._refusal_text(name)}")
        return cand

    # ------------------------------------------------------------ dependency resolution

    def resolve(self, root: Candidate, *, known: Mapping[str, Candidate] | None = None) -> list[Candidate]:
        """`root` and its unloaded dependencies, dependencies first; PluginError names the failing chain.

        `known`: the result of `candidates()` when the caller has it (resolving many roots at once)."""
        known = dict(self.candidates() if known is None else known)
        known[root.name] = root
        order: list[Candidate] = []
        done: set[str] = set(self._loaded)
        stack: list[str] = []

        def visit(cand: Candidate) -> None:
            if cand.name in done:
                return
            if cand.name in stack:
                cycle = stack[stack.index(cand.name):] + [cand.name]
                raise PluginError(f"dependency cycle: {' -> '.join(cycle)}", path=_where(root))
            stack.append(cand.name)
            for req in cand.manifest.requires:
                dep = known.get(req.name)
                chain = " -> ".join(stack + [req.name])
                if dep is None:
                    hint = self._refusal_text(req.name)
                    if not hint:
                        others = sum(1 for e in self.scan() if e.candidate is None)
                        hint = (f" ({others} plugin file(s) in the search path were refused: see `rpsc plugin "
                                "list`)" if others else "")
                    raise PluginError(f"missing dependency: {chain}: plugin {cand.name!r} requires {req.name!r} "
                                      f"({req.constraint}), which is not in the search path{hint}",
                                      path=_where(root))
                if not req.constraint.allows(dep.manifest.version):
                    state = "loaded" if dep.name in self._loaded else f"found at {_where(dep)}"
                    raise PluginError(f"version conflict: {chain}: plugin {cand.name!r} requires {req.name} "
                                      f"{req.constraint}, but {req.name} {dep.version} is {state}",
                                      path=_where(root))
                visit(dep)
            stack.pop()
            done.add(cand.name)
            order.append(cand)

        visit(root)
        return order

    # ------------------------------------------------------------ loading

    @property
    @_locked
    def loaded(self) -> dict[str, Plugin]:
        """Loaded plugins by name, in load order."""
        return dict(self._loaded)

    @_locked
    def load(self, name: str, arguments: Mapping[str, str] | None = None) -> Plugin:
        """Load plugin `name` and its dependencies (dependencies first); a no-op when already loaded.

        `arguments` are the plugin's arguments (what `api->argument` returns). All or nothing: when any
        plugin of the chain fails, every plugin this call loaded is unloaded again and PluginError raised.
        """
        check_plugin_name(name)
        if name in self._loaded:
            return self._loaded[name]
        return self._load_candidate(self.find(name), arguments)

    @_locked
    def load_file(self, path: str | os.PathLike[str], arguments: Mapping[str, str] | None = None) -> Plugin:
        """Load the plugin file `path`, which must be inside one of the search paths."""
        p = Path(path).absolute()
        if p.parent not in self.search_paths:
            raise PluginError("refusing a plugin outside the search path "
                              f"[{', '.join(map(str, self.search_paths)) or 'empty'}]", path=str(p))
        with open_plugin(p, self._search_strs()) as opened:
            cand, _ = _inspect(p, opened, strict=True)
        if cand.name in self._loaded:
            loaded = self._loaded[cand.name]
            if loaded.path != p:
                raise PluginError(f"a plugin named {cand.name!r} is already loaded from {loaded.path}", path=str(p))
            return loaded
        return self._load_candidate(cand, arguments)

    def _load_candidate(self, root: Candidate, arguments: Mapping[str, Any] | None) -> Plugin:
        order = self.resolve(root)
        done: list[Plugin] = []
        try:
            for cand in order:
                args = dict(arguments or {}) if cand is root else {}
                done.append(self._load_one(cand, {str(k): str(v) for k, v in args.items()}))
        except BaseException:
            for plugin in reversed(done):
                self._unload_one(plugin)
            raise
        return done[-1]

    def _load_one(self, cand: Candidate, arguments: dict[str, str]) -> Plugin:
        plugin = Plugin(cand.name, cand, arguments)
        if cand.kind == "python":
            self._init_python(plugin)
        else:
            self._init_native(plugin)
        self._commit(plugin)
        return plugin

    def _init_python(self, plugin: Plugin) -> None:
        plugin._in_init = True
        try:
            plugin.candidate.obj.init(PythonPluginApi(self, plugin))
        except PluginError:
            raise
        except Exception as exc:
            raise PluginError(f"plugin {plugin.name}: init raised {type(exc).__name__}: {exc}",
                              path=plugin.candidate.source) from exc
        finally:
            plugin._in_init = False
        if plugin._errors:
            raise PluginError(f"plugin {plugin.name}: {plugin._errors[0]}", path=plugin.candidate.source)

    def _init_native(self, plugin: Plugin) -> None:
        path = plugin.candidate.path
        assert path is not None
        where = str(path)
        # Validate again right before dlopen (link, owners, modes, checksum, manifest, rps_plugin_init), all
        # on one open descriptor, and dlopen that same file: no path is resolved between the two.
        # The descriptor stays open while the plugin is loaded, so that no other plugin is dlopened under
        # the same /proc/self/fd/N name meanwhile.
        opened = open_plugin(path, self._search_strs())
        try:
            cand, elf = _inspect(path, opened, strict=True)
            if cand.manifest != plugin.candidate.manifest:
                raise PluginRefused("plugin changed since it was inspected", reason="manifest", path=where)
            plugin.symbols = frozenset(elf.symbols)
            if self._after_verify is not None:
                self._after_verify(path)
            cdll = _dlopen_opened(opened, where)
        except BaseException:
            opened.close()
            raise
        opened.unmap()
        plugin._cdll, plugin.handle, plugin._opened = cdll, cdll._handle, opened
        host_id = next(self._host_ids)
        try:
            api = PluginApi(ABI_VERSION, ctypes.sizeof(PluginApi), ctypes.c_void_p(host_id), self._c_register,
                            self._c_log, self._c_argument, ctypes.pointer(self.rt),
                            ctypes.pointer(rt_key_cell()), HEAP_API_VERSION, 0, heap_op_address(),
                            heap_fast_address())
            plugin._api = api
            self._hosts[host_id] = plugin
            try:
                init = _INIT_FN(("rps_plugin_init", cdll))
            except AttributeError:  # the section headers list it, the dynamic table does not: a corrupt file
                raise PluginRefused("rps_plugin_init is in the symbol table but the dynamic linker cannot find "
                                    "it (corrupt ELF file?)", reason="elf", path=where) from None
            plugin._in_init = True
            try:
                status = init(ctypes.byref(api))
            finally:
                plugin._in_init = False
            if status != 0:
                why = f" ({'; '.join(plugin._errors)})" if plugin._errors else ""
                raise PluginError(f"plugin {plugin.name}: rps_plugin_init returned {status}{why}", path=where)
            if plugin._errors:
                raise PluginError(f"plugin {plugin.name}: {'; '.join(plugin._errors)} (rps_plugin_init returned 0 "
                                  "but a registration failed)", path=where)
        except BaseException:
            self._hosts.pop(host_id, None)
            self._close_native(plugin)
            raise

    def _commit(self, plugin: Plugin) -> None:
        by_point: dict[str, list[Implementation]] = {}
        for impl in plugin._staged:
            by_point.setdefault(impl.point, []).append(impl)
        with _WRITE_LOCK:
            for pname, impls in by_point.items():
                self.points[pname]._add(impls)
        plugin.extensions = tuple(plugin._staged)
        plugin._staged = []
        plugin.loaded = True
        self._loaded[plugin.name] = plugin

    # ------------------------------------------------------------ callbacks (called from plugin code)

    def _stage(self, plugin: Plugin, point: str | None, impl_name: str | None, function: Any,
               address: int | None, priority: int, signature: str | None) -> int:
        """Validate one registration and stage it on `plugin`; returns a REG_* code (errors recorded)."""
        from rpsrt.plugins.manifest import SYMBOL_RE

        def fail(code: int, message: str) -> int:
            plugin._errors.append(message)
            return code

        if not plugin._in_init:
            return fail(REG_NOT_IN_INIT, f"register_extension({point!r}) outside init")
        if not point or point not in self.points:
            return fail(REG_UNKNOWN_POINT, f"register_extension: unknown extension point {point!r}")
        ep = self.points[point]
        if signature is not None:
            try:
                sig = Signature.parse(signature)
            except PluginError:
                sig = None
            if sig != ep.signature:
                return fail(REG_BAD_SIGNATURE, f"register_extension({point}): signature {signature!r} differs "
                                               f"from the point's {ep.signature}")
        elif address is not None:
            return fail(REG_BAD_SIGNATURE, f"register_extension({point}): no signature given")
        if not impl_name or SYMBOL_RE.fullmatch(impl_name) is None:
            return fail(REG_BAD_ARGUMENT, f"register_extension({point}): invalid implementation name {impl_name!r}")
        if function is None:
            return fail(REG_BAD_ARGUMENT, f"register_extension({point}, {impl_name}): NULL function")
        if any(i.point == point and i.name == impl_name for i in plugin._staged):
            return fail(REG_BAD_ARGUMENT, f"register_extension({point}): duplicate implementation {impl_name!r}")
        if address is not None:
            call = native_caller(address, ep.signature, self.thread_states, name=f"{plugin.name}.{impl_name}",
                                 revocable=plugin._callers)
            if heap_typed(ep.signature.params, ep.signature.ret):
                call = _handles_only(call, ep.name, f"{plugin.name}.{impl_name}",
                                     [t in HEAP_CODES for t in ep.signature.params])
        else:
            problem = python_impl_problem(function, ep.signature)
            if problem:
                return fail(REG_BAD_SIGNATURE, f"register_extension({point}, {impl_name}): {problem}")
            call = function
        plugin._staged.append(Implementation(point, impl_name, plugin.name, int(priority), ep.next_seq(), call,
                                             address))
        return REG_OK

    def _cb_register(self, host: int | None, point: bytes | None, impl_name: bytes | None, function: int | None,
                     priority: int, signature: bytes | None) -> int:
        try:
            plugin = self._hosts.get(host or 0)
            if plugin is None:
                return REG_BAD_ARGUMENT
            return self._stage(plugin, _text(point), _text(impl_name), function, function or None, priority,
                               _text(signature) if signature is not None else "")
        except Exception as exc:  # never let an exception cross into C
            _log.error("register_extension callback failed: %s", exc)
            return REG_BAD_ARGUMENT

    def _log(self, plugin: Plugin, level: int, message: str) -> None:
        plugin.messages.append((level, message))
        del plugin.messages[:-1000]
        _log.log(_LOG_LEVELS.get(level, logging.INFO), "%s: %s", plugin.name, message)

    def _cb_log(self, host: int | None, level: int, message: bytes | None) -> None:
        try:
            plugin = self._hosts.get(host or 0)
            if plugin is not None:
                self._log(plugin, level, _text(message) or "")
        except Exception:  # never let an exception cross into C
            pass

    def _cb_argument(self, host: int | None, key: bytes | None) -> int | None:
        try:
            plugin = self._hosts.get(host or 0)
            k = _text(key)
            if plugin is None or k is None or k not in plugin.arguments:
                return None
            raw = k.encode()
            buf = plugin._argbufs.get(raw)
            if buf is None:
                buf = plugin._argbufs[raw] = ctypes.create_string_buffer(plugin.arguments[k].encode())
            return ctypes.addressof(buf)
        except Exception:  # never let an exception cross into C
            return None

    # ------------------------------------------------------------ unloading

    def dependents(self, name: str) -> list[str]:
        """Loaded plugins that require `name`."""
        return [p.name for p in self._loaded.values() if any(r.name == name for r in p.requires)]

    @_locked
    def unload(self, name: str) -> None:
        """Run the plugin's fini, remove its extensions, dlclose it; refused while a dependent is loaded."""
        check_plugin_name(name)
        plugin = self._loaded.get(name)
        if plugin is None:
            raise PluginError(f"plugin {name!r} is not loaded")
        users = self.dependents(name)
        if users:
            raise PluginError(f"cannot unload {name}: required by loaded plugin(s) {', '.join(users)}")
        self._unload_one(plugin)

    @_locked
    def reload(self, name: str) -> Plugin:
        """Unload then load `name` again (with the same arguments), re-validating the file."""
        plugin = self._loaded.get(name)
        args = dict(plugin.arguments) if plugin else {}
        if plugin is not None:
            self.unload(name)
        return self.load(name, args)

    @_locked
    def close(self) -> None:
        """Unload every plugin, dependents first."""
        for name in reversed(list(self._loaded)):
            self._unload_one(self._loaded[name])

    def __enter__(self) -> PluginManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _unload_one(self, plugin: Plugin) -> None:
        # Withdraw the implementations and revoke the callables first, then wait until no dispatch or
        # call that may have picked them up is still running: only then fini and unmap (class docstring).
        with _WRITE_LOCK:
            for pname in {i.point for i in plugin.extensions}:
                if pname in self.points:
                    self.points[pname]._remove_plugin(plugin.name)
        for box in plugin._callers:
            revoke(box, f"plugin {plugin.name} has been unloaded: its functions can no longer be called")
        GRACE.synchronize()
        try:
            if plugin.loaded:
                if plugin.kind == "python":
                    fini = getattr(plugin.candidate.obj, "fini", None)
                    if callable(fini):
                        try:
                            fini()
                        except Exception as exc:
                            _log.error("%s: fini raised %s: %s", plugin.name, type(exc).__name__, exc)
                elif "rps_plugin_fini" in plugin.symbols and plugin._cdll is not None:
                    try:
                        fini = _FINI_FN(("rps_plugin_fini", plugin._cdll))
                    except AttributeError:  # listed in the section headers only: a corrupt file
                        _log.error("%s: rps_plugin_fini cannot be resolved; not called", plugin.name)
                    else:
                        fini()
        finally:
            plugin.extensions = ()
            plugin.loaded = False
            self._loaded.pop(plugin.name, None)
            for hid, p in list(self._hosts.items()):
                if p is plugin:
                    del self._hosts[hid]
            self._close_native(plugin)

    @staticmethod
    def _close_native(plugin: Plugin) -> None:
        for box in plugin._callers:
            revoke(box, f"plugin {plugin.name} has been unloaded: its functions can no longer be called")
        plugin._callers = []
        plugin._staged = []
        handle, plugin.handle, plugin._cdll, plugin._api = plugin.handle, None, None, None
        opened, plugin._opened = plugin._opened, None
        if handle:
            _ctypes.dlclose(handle)
        if opened is not None:
            opened.close()

    # ------------------------------------------------------------ calling compiled functions

    @_locked
    def function(self, symbol: str, signature: str | Signature) -> Callable[..., Any]:
        """A callable for the compiled function `symbol` (ABI `int32_t fn(T *result, args...)`) exported by
        a loaded plugin; it raises Trap on a non-zero status, PluginError once the plugin is unloaded.

        Only a function the plugin's manifest lists in `exports` is handed out, and only with the signature
        listed there (PluginError otherwise: never `rps_plugin_init`, never a guess at a signature)."""
        sig = signature if isinstance(signature, Signature) else Signature.parse(signature)
        plugin, address, export = self._export(symbol, sig)
        return _guarded(native_caller(address, sig, self.thread_states, name=symbol, revocable=plugin._callers,
                                      keep_gil=export.heap or None))

    @_locked
    def export_address(self, symbol: str, signature: str | Signature) -> int:
        """The address of `symbol`'s exported wrapper, under the checks of `function` (PluginError): for
        compiled code that calls it directly (a method send between native functions). Valid while its
        plugin stays loaded."""
        sig = signature if isinstance(signature, Signature) else Signature.parse(signature)
        return self._export(symbol, sig)[1]

    def _export(self, symbol: str, sig: Signature) -> tuple[Any, int, Any]:
        for plugin in self._loaded.values():
            if plugin.kind != "native":
                continue
            export = next((e for e in plugin.candidate.manifest.exports if e.symbol == symbol), None)
            if export is None:
                if symbol in plugin.symbols:
                    raise PluginError(f"plugin {plugin.name} defines {symbol!r} but its manifest does not export "
                                      "it: only functions listed in the manifest's exports can be called",
                                      path=_where(plugin.candidate))
                continue
            declared = Signature.parse(export.signature)
            if declared != sig:
                raise PluginError(f"{symbol} is exported by plugin {plugin.name} as {declared}, not {sig}",
                                  path=_where(plugin.candidate))
            if symbol not in plugin.symbols:
                raise PluginError(f"plugin {plugin.name}'s manifest exports {symbol!r}, which the file does not "
                                  "define", path=_where(plugin.candidate))
            return plugin, plugin.address(symbol), export
        raise PluginError(f"no loaded plugin exports {symbol!r}")

    def call_interruptibly(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(*args)` (e.g. a callable from `function`) such that Ctrl-C in the main thread sets this
        manager's interrupt flag and raises KeyboardInterrupt once the code stops (`rpsrt.abi.call_with_rt`)."""
        return call_with_rt(self.thread_states, fn, args)

    # ------------------------------------------------------------ graph

    def dependency_graph(self) -> dict[str, list[Requirement]]:
        """Every known plugin (loaded, in the search path, Python) and its requirements."""
        return {name: list(c.manifest.requires) for name, c in sorted(self.candidates().items())}

    def to_dot(self) -> str:
        """The dependency graph in Graphviz DOT (edges labelled with the version constraint)."""
        cands = self.candidates()
        lines = ["digraph plugins {", "  rankdir=LR;", "  node [shape=box, fontname=\"monospace\"];"]
        for name, cand in sorted(cands.items()):
            style = ", style=bold" if name in self._loaded else ""
            lines.append(f"  {_dot_id(name)} [label=\"{name}\\n{cand.version} ({cand.kind})\"{style}];")
        for name, cand in sorted(cands.items()):
            for req in cand.manifest.requires:
                if req.name not in cands:
                    lines.append(f"  {_dot_id(req.name)} [label=\"{req.name}\\n(missing)\", color=red];")
                label = str(req.constraint).replace("\"", "'")
                lines.append(f"  {_dot_id(name)} -> {_dot_id(req.name)} [label=\"{label}\"];")
        lines.append("}")
        return "\n".join(lines) + "\n"


def _guarded(call: Callable[..., Any]) -> Callable[..., Any]:
    """`call` as a reader of `points.GRACE`: an unload waits for it to return before unmapping its code."""
    enter = GRACE.enter

    def guarded(*args: Any) -> Any:
        readers = enter()
        try:
            return call(*args)
        finally:
            readers.pop()
    guarded.__name__ = call.__name__
    return guarded


def _dlopen_opened(opened: OpenedPlugin, where: str) -> Any:
    """dlopen the verified open file through /proc/self/fd/N (a name no loaded object has)."""
    name = opened.proc_path()
    for extra in range(1, 65):
        # dlopen returns an already loaded object of the same name: a plugin opened earlier through a
        # descriptor with the same number, and not unloaded. Spell the name differently then.
        try:
            handle = _ctypes.dlopen(name, RTLD_NOW | RTLD_NOLOAD)
        except OSError:
            break
        _ctypes.dlclose(handle)
        name = f"/proc/self/fd/{'/' * extra}{opened.fd}"
    try:
        return ctypes.CDLL(name, mode=RTLD_NOW | RTLD_GLOBAL)
    except OSError as exc:
        raise PluginError(f"dlopen failed: {str(exc).replace(name, where)}", path=where) from None


def _claimed_name(path: Path, exc: PluginError) -> str | None:
    """The plugin name a refused file claims (best effort, reading only its manifest), for messages."""
    name = getattr(exc, "name", None)
    if name:
        return name
    try:
        cand, _ = inspect_native(path)
        return cand.name
    except (PluginError, OSError, ValueError):
        return None


def _file_key(path: Path) -> tuple[object, ...] | None:
    """What must stay equal for a cached scan of `path` to stay valid (None: do not cache): the file, its
    link, its sidecar and every folder above the file and the link."""
    try:
        real = os.path.realpath(path)
        targets = [str(path), real, str(sidecar_path(real))]
        for start in dict.fromkeys((os.path.dirname(real), os.path.realpath(path.parent))):
            d = start
            while True:
                targets.append(d)
                parent = os.path.dirname(d)
                if parent == d:
                    break
                d = parent
        key: list[object] = [real]
        for target in targets:
            try:
                st = os.lstat(target)
            except FileNotFoundError:
                key += [-1]
                continue
            key += [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode, st.st_uid]
        return tuple(key)
    except OSError:
        return None


def _dot_id(name: str) -> str:
    return f"\"{name}\""


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode("utf-8", "replace")


def _where(cand: Candidate) -> str:
    return str(cand.path) if cand.path is not None else cand.source


def _handles_only(call: Callable[..., Any], point: str, who: str, heap_params: list[bool]) -> Callable[..., Any]:
    """A native implementation of a point with str/obj/val types takes and gives the heap host's handles
    (ints): called with anything else (a Python str or object, outside a host), a clear PluginError
    instead of ctypes' `ArgumentError`. `rpsc dispatch` and `rpsrt.heaphost.wrap_call` pass handles."""

    def guarded(*args: Any) -> Any:
        if any(h and type(a) is not int for a, h in zip(args, heap_params)):
            raise PluginError(f"extension point {point}: {who} is native code whose str/obj/val values are heap "
                              "handles: dispatch it through a heap host (rpsrt.heaphost.wrap_call, as `rpsc "
                              "dispatch` does), not with Python values")
        return call(*args)

    guarded.__wrapped__ = call  # type: ignore[attr-defined]
    return guarded

