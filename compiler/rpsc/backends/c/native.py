"""The native engine: runs a store's functions from its built C plugins, loaded through the PluginManager.

`NativeEngine(store_dir, recursion_limit=...)` implements `rpsc.backends.engine.Engine` (`call`, `interrupt`,
`close`) for `rpsc run --backend c`. It reads the plugins the store lists (manifest `"plugins"`; else the
modules of the last `rpsc build`, from its state file, since rpsc keeps its plugin records in the heap and
writes `"plugins"` empty as upstream does; else every `plugins/rps*-mod.so`), declares the extension points their manifests carry, loads them (dependencies
first, checksums checked by the manager), and calls `rpsfn_<oid>` symbols through `PluginManager.function`.
Function names resolve from the plugins' manifests, so the store itself is never loaded.

Threads: `call` can be made from any thread, and calls from several threads run at once: each runs on
its thread's own run-time state (the manager's `thread_states`: trap site, call depth, trap target,
interrupt flag), so a trap is reported to the thread whose call trapped. `interrupt()` takes no lock and
stops every running call (at its next loop back-edge or function entry).
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rpsc.backends.engine import EngineError, Scalar, coerce_args, resolve_function
from rpsc.ir import ir
from rpsrt.abi import Signature
from rpsrt.errors import DEFAULT_RECURSION_LIMIT, PluginError

def read_store_plugins(store: Path) -> list[str] | None:
    """The OIDs in the store manifest's `"plugins"` (None when the manifest cannot be read)."""
    try:
        text = (store / "rps_manifest.json").read_text(encoding="utf-8")
    except OSError:
        return None
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))
    try:
        data, _ = json.JSONDecoder().raw_decode(body.strip())
    except ValueError:
        return None
    plugins = data.get("plugins") if isinstance(data, dict) else None
    return [p for p in plugins if isinstance(p, str)] if isinstance(plugins, list) else None


def read_built_plugins(build_dir: Path) -> list[str] | None:
    """The module OIDs the last `rpsc build` (its state in `build_dir`) built (None without a state)."""
    from rpsc.driver.build import read_state

    state = read_state(build_dir)
    mods = state.get("modules") if isinstance(state, dict) else None
    if not isinstance(mods, list):
        return None
    return [m["oid"] for m in mods if isinstance(m, dict) and isinstance(m.get("oid"), str)]


def check_fresh(store: Path, build_dir: Path, heap: Any = None) -> None:
    """Refuse plugins older than the store's code. The last `rpsc build` (its state in `build_dir`) recorded
    the store files it saw and the fingerprint of every code module it built. The plugins are current when
    the store files are those (the same stamps or, a copied or moved store, the same bytes), or else when
    every code module still has the fingerprint the build recorded: a `rpsc run --commit` that changed only
    data leaves the plugins current. `heap`: the store already loaded (else it is loaded lazily for the
    fingerprints, which touch only the code). No state: nothing to check."""
    from rpsc.driver.build import read_state, store_stamps
    from rpsc.driver.quick import same_store_bytes

    state = read_state(build_dir)
    if state is None:
        return
    stamps = store_stamps(store.absolute())
    if (state.get("store") == stamps or same_store_bytes(store.absolute(), stamps, state)
            or _same_code(store, state, heap)):
        return
    raise PluginError("the store's code changed since its plugins were built: "
                      f"run `rpsc build --store {store}`", path=str(store))


def _same_code(store: Path, state: dict[str, Any], heap: Any) -> bool:
    """Whether every code module of the store has the fingerprint that the build which left `state` recorded
    (its modules and, transitively, those they require: rpsc.driver.incremental.build_fingerprints)."""
    import rpsrt
    from rpsc.driver.incremental import build_fingerprints
    from rpsrt.errors import StoreError

    cache = state.get("cache")
    if not isinstance(cache, dict) or not cache:
        return False
    if heap is None:
        try:
            heap = rpsrt.load_store(str(store), lazy=True)
        except StoreError:
            return False
    want = {n: e.get("fingerprint") for n, e in cache.items() if isinstance(e, dict)}
    return build_fingerprints(heap) == want


class NativeEngine:
    """Runs functions from a store's built plugins (see the module docstring)."""

    def __init__(self, store_dir: str | os.PathLike[str], *, recursion_limit: int = DEFAULT_RECURSION_LIMIT,
                 plugin_paths: Sequence[str | os.PathLike[str]] = (), manager: Any = None,
                 interruptible: bool = True, build_dir: str | os.PathLike[str] | None = None,
                 runtime: Any = None) -> None:
        from rpsrt.plugins import PluginManager, inspect_native

        self.host: Any = None
        if runtime is not None:  # version 2: the heap this engine's code works on (rpsrt.heaphost)
            from rpsrt.heaphost import HeapHost

            self.host = HeapHost(runtime, self._call_object, self._call_raw, self._native_entry)
        self._raw: dict[Any, Any] = {}

        self.store = Path(store_dir)
        bdir = Path(build_dir) if build_dir is not None else self.store / "build"
        check_fresh(self.store, bdir, runtime.heap if runtime is not None else None)
        self.manager = manager if manager is not None else PluginManager(plugin_paths, store=self.store)
        self.manager.rt.depth_limit = int(recursion_limit)
        if self.host is not None:
            self.host.states = self.manager.thread_states
        self.interruptible = interruptible
        pdir = self.store / "plugins"
        oids = read_store_plugins(self.store) or read_built_plugins(bdir)
        if oids:
            files = [pdir / f"rps{oid}-mod.so" for oid in oids]
        else:
            files = sorted(pdir.glob("rps*-mod.so")) if pdir.is_dir() else []
        if not files:
            raise PluginError(f"no built plugins: run `rpsc build --store {shlex.quote(str(self.store))}` first",
                              path=str(self.store))
        cands = []
        for f in files:
            if not f.is_file():
                raise PluginError("plugin listed in the store's manifest is missing (run `rpsc build`)", path=str(f))
            cand, _elf = inspect_native(f)
            cands.append(cand)
        for cand in cands:
            for ep in cand.manifest.raw.get("extension_points", []) or []:
                self.manager.declare(ep["name"], ep["signature"], ep.get("mode", "first"))
        self.modules: list[ir.Module] = []
        for f, cand in zip(files, cands, strict=True):
            self.manager.load_file(f)
            moid = f.name.removeprefix("rps").removesuffix("-mod.so")
            fns = []
            for exp in cand.manifest.exports:
                sig = Signature.parse(exp.signature)  # rpsrt.abi's parser: type codes are ir.Type values
                params, ret = tuple(ir.Type(p) for p in sig.params), ir.Type(sig.ret)
                ref = ir.FunctionRef(ir.oid_of_symbol(exp.symbol) or exp.symbol, exp.symbol, exp.name, params, ret, moid)
                fns.append(ir.Function(ref, tuple(f"a{i}" for i in range(len(params))), [], [],
                                       ir.SourceLoc("?", 0, 0)))
            self.modules.append(ir.Module(moid, cand.name, cand.version, [], fns, [], []))
        self._callables: dict[str, Any] = {}
        self._closed = False

    @property
    def rt(self) -> Any:
        return self.manager.rt

    def function_ref(self, fn: str | ir.FunctionRef) -> ir.FunctionRef:
        return resolve_function(self.modules, fn)

    def _callable(self, ref: ir.FunctionRef) -> Any:
        c = self._callables.get(ref.symbol)
        if c is None:
            c = self._callables[ref.symbol] = self.manager.function(ref.symbol, ref.signature)
        return c

    def call(self, fn: str | ir.FunctionRef, args: Sequence[Scalar]) -> Scalar | None:
        """Run one function; raise rpsrt.Trap on a trap, EngineError for a bad name or arguments."""
        if self._closed:
            raise EngineError("the native engine is closed")
        try:
            ref = self.function_ref(fn)
        except EngineError:
            if isinstance(fn, ir.FunctionRef):
                raise EngineError(f"function {fn.name} ({fn.symbol}) is in the store but not in its plugins: "
                                  f"run `rpsc build --store {self.store}`") from None
            raise
        vals = coerce_args(ref, args)
        target = self._callable(ref)
        if self.host is not None:
            target = self._heap_call(ref, target)
        if not self.interruptible:
            return self._run(target, vals)
        # From the main thread, the call runs in a worker so that Ctrl-C can set the interrupt flag: the
        # compiled loop then traps INTERRUPT at its next back-edge and KeyboardInterrupt is raised.
        return self.manager.call_interruptibly(self._run, target, vals)

    def attach_heap(self, heap: Any) -> None:
        """Give this engine's code `heap` to work on (version 2), as `runtime=HeapRuntime(heap)` at
        construction does: for a dispatch of heap-typed extension points after the plugins are loaded."""
        from rpsrt.heaphost import HeapHost
        from rpsrt.model.heapapi import HeapRuntime

        self.host = HeapHost(HeapRuntime(heap), self._call_object, self._call_raw, self._native_entry,
                             states=self.manager.thread_states)

    def _heap_call(self, ref: ir.FunctionRef, target: Any) -> Any:
        """`target` (a native caller) taking and giving Python values: str/obj/value as the host's handles,
        with the host installed for the outermost call and its handle arena emptied after it."""
        from rpsrt.heaphost import wrap_call

        return wrap_call(self.host, [t in ir.HEAP_TYPES for t in ref.params], ref.ret in ir.HEAP_TYPES, target)

    def _call_raw(self, fnobj: Any, words: list[Any]) -> Any:
        """Run the stored function object `fnobj` natively with ABI words (a send from compiled code)."""
        f = self._raw.get(fnobj.oid)  # type: ignore[attr-defined]
        if f is None:
            f = self._raw[fnobj.oid] = self._callable(self.function_ref(ir.symbol_of(str(fnobj.oid))))
        return f(*words)

    def _native_entry(self, fnobj: Any, signature: str) -> int:
        """The address of the exported wrapper of the stored function `fnobj` when a loaded plugin of this
        engine exports it with exactly `signature`, else 0 (a send from native code then calls it directly)."""
        try:
            ref = self.function_ref(ir.symbol_of(str(fnobj.oid)))
        except EngineError:
            return 0
        if ref.signature != signature:
            return 0
        return int(self.manager.export_address(ref.symbol, signature))

    def _call_object(self, fnobj: Any, args: list[Any]) -> Any:
        """Run the stored function object `fnobj` natively (a method send from native code)."""
        ref = self.function_ref(ir.symbol_of(str(fnobj.oid)))
        return self._heap_call(ref, self._callable(ref))(*args)

    def _run(self, target: Any, vals: list[Scalar]) -> Scalar | None:
        # (the callable runs on this thread's state, and resets it after a trap: rpsrt.abi.ThreadStates)
        return target(*vals)

    def interrupt(self) -> None:
        """Thread-safe: the running call (or else the next one) traps INTERRUPT at its next loop back-edge or
        function entry."""
        self.manager.thread_states.interrupt()

    def close(self) -> None:
        """Unload every plugin this engine loaded."""
        if not self._closed:
            self._closed = True
            self._callables.clear()
            self.manager.close()

    def __enter__(self) -> NativeEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
