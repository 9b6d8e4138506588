"""The JIT engine: typed IR modules compiled lazily by llvmlite's MCJIT into the running process.

`JitEngine(modules, opt_level=2, cache_dir=None, eager=False, recursion_limit=..., interruptible=False)`
implements the engine protocol of `rpsc.backends.engine` (`call`, `interrupt`, `close`); with
`interruptible=True`, `call` from the main thread runs through `rpsrt.abi.call_with_rt`, so that Ctrl-C
raises KeyboardInterrupt (as the native engine's `call` does). One LLVM module per `.rps` module; calling a
function compiles its module and, transitively, the modules it calls (`eager=True` compiles everything up
front). Each engine owns its `rps_rt` state (a ctypes Structure mapped onto the external global `rps_rt`
of its modules), its target machine and its MCJIT instance. With `cache_dir`, object code is looked up in
an on-disk cache before optimisation (see `rpsc.backends.llvm.cache`), through MCJIT's object-cache hooks.
Tiering: a module with a small self-recursive function, called `tier_up_calls` times through the engine's
Python callables, is recompiled at tier 2 (-O3, more recursion copies) into an MCJIT engine of its own, in
the background on an agenda (`rpsrt.agenda`; `agenda=`, else the process-wide one): the callables keep
running tier-1 code and are repointed once the tier-2 code is ready (see docs/llvm-backend.md, "Tiered
compilation"; `wait_tier_ups()` waits for the pending ones).

Threads: a JitEngine can be called from any thread, and calls from several threads run at once. Each
calling thread has its own run-time state (`thread_states`, an `rpsrt.abi.ThreadStates`: interrupt flag,
call depth, trap site and trap target), bound to the pthread key `rps_rt_key` before the call; the
engine's `rt` is the shared state (its recursion limit is every thread's). So a trap is reported to the
thread whose call trapped, with that call's function and site. `interrupt()` stops every running call of
the engine (`interrupt(thread)`: that thread's). Compiling (lazily or eagerly, tier-ups included) is
serialised by the engine's lock; a callable keeps running its current code meanwhile.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import llvmlite
import llvmlite.binding as llvm
from rpsc import CompileError
from rpsc.backends.engine import EngineError, Scalar, coerce_args, resolve_function
from rpsc.ir import ir
from rpsrt import abi
from rpsrt.agenda import LOW, Agenda, AgendaClosed, Task, default_agenda
from rpsrt.errors import DEFAULT_RECURSION_LIMIT
from rpsrt.rt import new_rt

from rpsc.backends.llvm.cache import ObjectCache, TargetKey, cache_key, ir_digest
from rpsrt.abi import HEAP_FAST_SYMBOL, HEAP_OP_SYMBOL
from rpsc.backends.llvm.codegen import RT_SYMBOL, RT_TYPE, emit_llvm
from rpsc.ir.passes import copies_for_level, gains_copies

_RT_DECL = f'@{RT_SYMBOL} = external global {RT_TYPE}\n@{abi.RT_KEY_SYMBOL} = extern_weak global i32\n'
#: The ctypes type of each value type (`rpsrt.abi`: bool is C's _Bool, ctypes.c_bool).
_CTYPE: dict[ir.Type, Any] = {t: abi.CTYPES[t.abi] for t in (ir.I64, ir.F64, ir.BOOL, ir.STR, ir.OBJ, ir.VALUE)}
_NATIVE_LOCK = threading.Lock()

#: Calls through an engine's Python callables into one tier-up-eligible module before it is recompiled at
#: tier 2 (the `tier_up_calls=` default; 0 disables tiering).
DEFAULT_TIER_UP_CALLS = 200

#: Tier 2: the optimisation level and recursion copies a hot module is recompiled with (the -O3 setting,
#: which the -O3 tests cover; fib at about gcc -O2's speed).
TIER2_OPT_LEVEL = 3


def init_native() -> None:
    """Initialise LLVM's native target and assembly printer (idempotent)."""
    with _NATIVE_LOCK:
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()


@functools.lru_cache(maxsize=4)
def host_target_key(opt_level: int) -> TargetKey:
    """The cache-relevant description of this host's target (computed once per process and level)."""
    init_native()
    return TargetKey(
        triple=llvm.get_process_triple(),
        cpu=llvm.get_host_cpu_name(),
        features=llvm.get_host_cpu_features().flatten(),
        opt_level=opt_level,
        llvmlite_version=llvmlite.__version__,
        llvm_version=".".join(map(str, llvm.llvm_version_info)),
    )


def create_target_machine(key: TargetKey, *, jit: bool) -> llvm.TargetMachine:
    """A target machine for `key` (a new one each time: MCJIT takes ownership of the one it is given).

    Position-independent code in the small code model: direct PC-relative calls inside a module, the
    GOT for `rps_rt`, and RuntimeDyld's stubs for calls into other modules (faster than MCJIT's default
    large code model, which calls through absolute 64-bit addresses)."""
    init_native()
    target = llvm.Target.from_triple(key.triple)
    return target.create_target_machine(cpu=key.cpu, features=key.features, opt=key.opt_level,
                                        reloc=key.reloc, codemodel=key.codemodel, jit=jit)


def recursion_copies(opt_level: int) -> int:
    """How many copies of a small self-recursive body to request at -O`opt_level` (the rule is
    `rpsc.ir.passes.copies_for_level`)."""
    return copies_for_level(opt_level)


def optimize(module: llvm.ModuleRef, tm: llvm.TargetMachine, opt_level: int) -> None:
    """Run LLVM's new-pass-manager pipeline for -O`opt_level` (nothing at -O0)."""
    if opt_level <= 0:
        return
    pto = llvm.create_pipeline_tuning_options(speed_level=opt_level)
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(module, pb)


def parse_ir(text: str, name: str, tm: llvm.TargetMachine) -> llvm.ModuleRef:
    """Parse LLVM IR text into a module for `tm`'s triple and data layout; CompileError if invalid."""
    try:
        mod = llvm.parse_assembly(text)
        mod.verify()
    except RuntimeError as exc:
        raise CompileError(f"{name}: invalid LLVM IR generated: {exc}") from None
    mod.name = name
    mod.triple = tm.triple
    mod.data_layout = str(tm.target_data)
    return mod


@dataclass(slots=True)
class ModuleStats:
    """What compiling one module cost (milliseconds) and whether its object code came from the cache."""

    name: str
    functions: list[str]
    emit_ms: float = 0.0       # typed IR -> LLVM IR text
    parse_ms: float = 0.0      # text -> LLVM module (+ verify)
    opt_ms: float = 0.0        # new pass manager pipeline (0 on a cache hit)
    codegen_ms: float = 0.0    # machine code generation (0 on a cache hit)
    link_ms: float = 0.0       # MCJIT loading and relocation of the object code
    cache_hit: bool = False
    function_emit_ms: dict[str, float] = field(default_factory=dict)   # per function, on a miss

    @property
    def total_ms(self) -> float:
        return self.emit_ms + self.parse_ms + self.opt_ms + self.codegen_ms + self.link_ms


@dataclass(slots=True)
class JitStats:
    modules: list[ModuleStats] = field(default_factory=list)
    engine_ms: float = 0.0
    tier_ups: dict[str, int] = field(default_factory=dict)       # module name -> tier-ups (0 or 1)
    tier2_modules: list[ModuleStats] = field(default_factory=list)  # the tier-2 compiles

    @property
    def compiled(self) -> int:
        """Modules whose object code was generated (not loaded from the cache)."""
        return sum(1 for m in self.modules if not m.cache_hit)

    @property
    def cache_hits(self) -> int:
        return sum(1 for m in self.modules if m.cache_hit)

    def as_dict(self) -> dict[str, object]:
        return {
            "engine_ms": round(self.engine_ms, 3),
            "compiled": self.compiled,
            "cache_hits": self.cache_hits,
            "modules": [
                {"name": m.name, "functions": m.functions, "cache_hit": m.cache_hit,
                 "emit_ms": round(m.emit_ms, 3), "parse_ms": round(m.parse_ms, 3),
                 "opt_ms": round(m.opt_ms, 3), "codegen_ms": round(m.codegen_ms, 3),
                 "link_ms": round(m.link_ms, 3), "total_ms": round(m.total_ms, 3),
                 "function_emit_ms": {k: round(v, 3) for k, v in m.function_emit_ms.items()}}
                for m in self.modules
            ],
            "tier_ups": dict(self.tier_ups),
            "tier2_modules": [
                {"name": m.name, "cache_hit": m.cache_hit, "emit_ms": round(m.emit_ms, 3),
                 "parse_ms": round(m.parse_ms, 3), "opt_ms": round(m.opt_ms, 3),
                 "codegen_ms": round(m.codegen_ms, 3), "link_ms": round(m.link_ms, 3),
                 "total_ms": round(m.total_ms, 3)}
                for m in self.tier2_modules
            ],
        }


@dataclass(slots=True)
class _Pending:
    key: str | None
    cached: bytes | None
    stats: ModuleStats
    started: float = 0.0


@dataclass(slots=True, eq=False)
class _Slot:
    """The native entry point behind one Python callable of a module that may tier up."""

    symbol: str
    proto: type
    cfunc: Callable[..., int]


@dataclass(slots=True, eq=False)
class _Tier:
    """Tier-up state of one eligible module: calls left before tier 2 (0 once done), its callables."""

    module: ir.Module
    left: int
    up: Callable[[ir.Module], None]
    slots: list[_Slot] = field(default_factory=list)

    def tick(self) -> None:
        # Not atomic across threads: a lost decrement only delays the tier-up; `left` never goes below 0,
        # and a tier-up requested twice is done once (`JitEngine._tier_up`).
        left = self.left - 1
        self.left = left if left > 0 else 0
        if left == 0:
            self.up(self.module)


class JitEngine:
    """Runs typed IR modules as native code (see the module docstring)."""

    def __init__(self, modules: Sequence[ir.Module], *, opt_level: int = 2, cache_dir: str | Path | None = None,
                 eager: bool = False, recursion_limit: int = DEFAULT_RECURSION_LIMIT,
                 tier_up_calls: int = DEFAULT_TIER_UP_CALLS, interruptible: bool = False,
                 agenda: Agenda | None = None, entry_poll: bool = True,
                 runtime: object = None) -> None:
        if not 0 <= opt_level <= 3:
            raise ValueError(f"optimisation level must be 0..3, got {opt_level}")
        if not 1 <= recursion_limit < 2**31:
            raise ValueError(f"the recursion limit must be in 1 .. 2**31-1, got {recursion_limit}")
        if tier_up_calls < 0:
            raise ValueError(f"tier_up_calls must be >= 0 (0 disables tiering), got {tier_up_calls}")
        t0 = time.perf_counter()
        self.modules = list(modules)
        self.opt_level = opt_level
        self.tier_up_calls = int(tier_up_calls)
        self.interruptible = interruptible
        #: Whether every function polls the interrupt flag on entry (False only to measure what it costs).
        self.entry_poll = bool(entry_poll)
        self.agenda = agenda
        self.stats = JitStats()
        self.cache = ObjectCache(Path(cache_dir)) if cache_dir is not None else None
        self.rt = new_rt(int(recursion_limit))
        self._rt_addr = ctypes.addressof(self.rt)
        #: The calling threads' own states (see the module docstring).
        self.thread_states = abi.ThreadStates(self.rt)
        self._key_addr = ctypes.addressof(abi.rt_key_cell())
        # Version 2: the host heap API, reached by compiled code through the `rps_heap_op` global (a cell
        # holding the address of rpsrt.heaphost's entry) and `rps_heap_fast` (its fast entry, or NULL); the
        # host of this engine's heap, if it has one.
        from rpsrt.heaphost import HeapHost, heap_fast_cell_address, heap_op_cell_address

        llvm.add_symbol(HEAP_OP_SYMBOL, heap_op_cell_address())  # process-wide, like the entry itself
        llvm.add_symbol(HEAP_FAST_SYMBOL, heap_fast_cell_address())  # (heap API 2: NULL when none)
        self.host = (HeapHost(runtime, self._call_object, self._call_raw, self._native_entry,
                               states=self.thread_states)  # type: ignore[arg-type]
                     if runtime is not None else None)
        self._raw: dict[Any, Callable[..., Scalar | None]] = {}
        self._module_of: dict[str, ir.Module] = {f.ref.symbol: m for m in self.modules for f in m.functions}
        self._loaded: set[str] = set()
        #: Module OID -> the object cache key of its tier-1 code (None without a cache), once compiled:
        #: what `rpsc run` links into its warm-start library (`rpsc.backends.llvm.runindex`).
        self.object_keys: dict[str, str | None] = {}
        self._pending: dict[str, _Pending] = {}
        self._callables: dict[str, Callable[..., Scalar | None]] = {}
        self._resolved: dict[str, ir.FunctionRef] = {}   # name, module.name or symbol -> ref
        self._lock = threading.RLock()
        self._tiers: dict[str, _Tier | None] = {}                # module oid -> tier-up state
        self._tier2: dict[str, llvm.ExecutionEngine] = {}      # module oid -> its tier-2 engine
        self._closed = False
        self._tier_tasks: list[Task] = []
        #: Test hook: called with the module in the agenda's worker before its tier-2 compile starts.
        self._before_tier2: Callable[[ir.Module], None] | None = None
        self.target = host_target_key(opt_level)
        # One target machine per engine: MCJIT owns it (it lives as long as `self._ee`) and the pass
        # builder borrows it for the cost model, so its subtarget is built once (~0.5 ms per machine).
        self._tm = create_target_machine(self.target, jit=True)
        # MCJIT itself is created with the first module compiled (see `_add`): a placeholder first
        # module would cost a machine-code pass of its own (~0.5 ms) at the first finalize.
        self._ee: llvm.ExecutionEngine | None = None
        self.stats.engine_ms = (time.perf_counter() - t0) * 1e3
        if eager:
            self.compile_all()

    # -- compilation

    def compile_all(self) -> None:
        """Compile every module now (what `eager=True` does)."""
        with self._lock:
            self._load([m for m in self.modules if m.oid not in self._loaded])

    def _reachable(self, root: ir.Module) -> list[ir.Module]:
        todo, seen, out = [root], {root.oid}, []
        while todo:
            m = todo.pop()
            if m.oid not in self._loaded:
                out.append(m)
            for ext in m.externs():
                dep = self._module_of.get(ext.symbol)
                if dep is None:
                    raise CompileError(f"module {m.name} calls {ext.name} ({ext.symbol}), "
                                       "which no loaded module defines")
                if dep.oid not in seen:
                    seen.add(dep.oid)
                    todo.append(dep)
        return out

    def _load(self, modules: list[ir.Module]) -> None:
        for m in modules:
            self._reachable(m)   # every extern must be defined before MCJIT links (it aborts otherwise)
        # Compiling allocates many short-lived Python objects, which can trigger the cyclic GC, whose full
        # passes over a big host heap cost more than compiling a small module: pause it while compiling.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            self._compile(modules)
        finally:
            if gc_was_enabled:
                gc.enable()

    def _prepare(self, m: ir.Module, target: TargetKey, tm: llvm.TargetMachine, copies: int,
                 name: str) -> tuple[llvm.ModuleRef, _Pending]:
        """The LLVM module to hand MCJIT for `m` (optimised, or a placeholder when the object code is in
        the cache) and its pending compile record."""
        st = ModuleStats(m.name, [f.name for f in m.functions])
        t0 = time.perf_counter()
        digest = key = cached = None
        if self.cache is not None:
            # Warm path: typed IR digest -> object key -> object code; no LLVM IR is generated.
            digest = ir_digest(repr(m) + ("" if self.entry_poll else "|no-entry-poll"), target)
            key = self.cache.get_alias(digest) if digest is not None else None
            cached = self.cache.get(key) if key is not None else None
        if cached is not None:
            mod = parse_ir(_RT_DECL, name, tm)  # MCJIT wants a module; the cache supplies its code
            st.parse_ms = (time.perf_counter() - t0) * 1e3
        else:
            text = emit_llvm(m, st.function_emit_ms, copies, entry_poll=self.entry_poll)
            t1 = time.perf_counter()
            if self.cache is not None:
                known_bad, key = key, cache_key(text, target)
                cached = self.cache.get(key) if key != known_bad else None
            t2 = time.perf_counter()
            mod = parse_ir(text, name, tm)
            t3 = time.perf_counter()
            if cached is None:
                optimize(mod, tm, target.opt_level)
            t4 = time.perf_counter()
            st.emit_ms, st.parse_ms, st.opt_ms = (t1 - t0) * 1e3, (t3 - t2) * 1e3, (t4 - t3) * 1e3
            if self.cache is not None and digest is not None and key is not None:
                self.cache.put_alias(digest, key)
        st.cache_hit = cached is not None
        return mod, _Pending(key, cached, st)

    def _compile(self, modules: list[ir.Module]) -> None:
        if self._closed:
            raise EngineError("the JIT engine is closed")
        added = []
        for m in modules:
            mod, self._pending[m.oid] = self._prepare(m, self.target, self._tm,
                                                      recursion_copies(self.opt_level), m.oid)
            self._add(mod)
            added.append(m)
        if self._ee is None:
            return
        t5 = time.perf_counter()
        self._ee.finalize_object()
        total_mc = (time.perf_counter() - t5) * 1e3
        done = [self._pending.pop(m.oid) for m in added]
        # finalize_object = machine code (timed per module by the cache callbacks) + loading and linking.
        link_each = max(0.0, total_mc - sum(p.stats.codegen_ms for p in done)) / max(1, len(done))
        for m, p in zip(added, done, strict=True):
            p.stats.link_ms = link_each
            self.stats.modules.append(p.stats)
            self.object_keys[m.oid] = p.key
            self._loaded.add(m.oid)

    # -- tiering

    def _tier_of(self, m: ir.Module) -> _Tier | None:
        """The tier-up state of `m`, or None when `m` never tiers up: tiering is off, the engine's level
        is -O0 or already tier 2's, or no function of `m` would get more recursion copies at tier 2."""
        if m.oid in self._tiers:
            return self._tiers[m.oid]
        tier = None
        if self.tier_up_calls > 0 and 1 <= self.opt_level < TIER2_OPT_LEVEL:
            now, then = recursion_copies(self.opt_level), recursion_copies(TIER2_OPT_LEVEL)
            if gains_copies(m, now, then):
                tier = _Tier(m, self.tier_up_calls, self._schedule_tier_up)
        self._tiers[m.oid] = tier
        return tier

    def _schedule_tier_up(self, m: ir.Module) -> None:
        """Queue the tier-2 recompilation of `m` on the agenda (low priority); the caller goes on with the
        tier-1 code, which the callables keep until `_tier_up` repoints them."""
        agenda = self.agenda if self.agenda is not None else default_agenda()
        try:
            task = agenda.submit(self._tier_up, m, priority=LOW, name=f"jit tier-up {m.name}")
        except AgendaClosed:   # interpreter exit: stay at tier 1
            return
        with self._lock:
            self._tier_tasks = [t for t in self._tier_tasks if not t.done()] + [task]

    def wait_tier_ups(self, timeout: float | None = None) -> bool:
        """Wait for the queued and running tier-up compiles of this engine; False on timeout. An error of a
        background compile is raised here (the callables then simply stay at tier 1)."""
        with self._lock:
            tasks = list(self._tier_tasks)
        for task in tasks:
            if not task.wait(timeout):
                return False
            exc = task.exception(0)
            if exc is not None:
                raise exc
        return True

    def _tier_up(self, m: ir.Module) -> None:
        """Recompile `m` at tier 2 into an MCJIT engine of its own and point `m`'s Python callables at it
        (an agenda task: see `_schedule_tier_up`). Calls into other modules go to their (tier-1) exported
        wrappers in the main engine."""
        hook = self._before_tier2
        if hook is not None:
            hook(m)
        with self._lock:
            tier = self._tiers.get(m.oid)
            if self._closed or tier is None or m.oid in self._tier2 or self._ee is None:
                return
            gc_was_enabled = gc.isenabled()
            gc.disable()
            try:
                ee = self._compile_tier2(m)
            finally:
                if gc_was_enabled:
                    gc.enable()
            self._tier2[m.oid] = ee
            for slot in tier.slots:
                addr = ee.get_function_address(slot.symbol)
                if not addr:
                    raise EngineError(f"{slot.symbol} missing from the tier-2 code of module {m.name}")
                slot.cfunc = slot.proto(addr)
            self.stats.tier_ups[m.name] = self.stats.tier_ups.get(m.name, 0) + 1

    def _compile_tier2(self, m: ir.Module) -> llvm.ExecutionEngine:
        target = host_target_key(TIER2_OPT_LEVEL)
        tm = create_target_machine(target, jit=True)
        name = f"{m.oid}.tier2"
        mod, pending = self._prepare(m, target, tm, recursion_copies(TIER2_OPT_LEVEL), name)
        # A first module declaring what the tier-2 code links against, so that every symbol can be mapped
        # by name whether the code is generated or comes from the cache: `rps_rt` onto this engine's
        # state, other modules' functions onto their tier-1 wrappers (MCJIT's mappings are per engine).
        externs = [ref.symbol for ref in m.externs()]
        link = parse_ir(_RT_DECL + "".join(f'declare void @"{s}"()\n' for s in externs), f"{name}.link", tm)
        t0 = time.perf_counter()
        ee = llvm.create_mcjit_compiler(link, tm)
        ee.add_global_mapping(link.get_global_variable(RT_SYMBOL), self._rt_addr)
        ee.add_global_mapping(link.get_global_variable(abi.RT_KEY_SYMBOL), self._key_addr)
        assert self._ee is not None
        for sym in externs:
            addr = self._ee.get_function_address(sym)
            if not addr:
                raise EngineError(f"module {m.name} calls {sym}, which is not compiled")
            ee.add_global_mapping(link.get_function(sym), addr)
        ee.set_object_cache(self._notify, self._getbuffer)
        self._pending[name] = pending
        try:
            ee.add_module(mod)
            ee.finalize_object()
        finally:
            self._pending.pop(name, None)
        st = pending.stats
        st.link_ms = max(0.0, (time.perf_counter() - t0) * 1e3 - st.codegen_ms)
        self.stats.tier2_modules.append(st)
        return ee

    def _add(self, mod: llvm.ModuleRef) -> None:
        """Hand `mod` to MCJIT, creating the engine with it if it is the first. Every module declares
        `rps_rt`; it is mapped once, by name, for every module the engine will hold (object code loaded
        from the cache included), onto this engine's RpsRt."""
        if self._ee is None:
            t0 = time.perf_counter()
            ee = llvm.create_mcjit_compiler(mod, self._tm)
            ee.add_global_mapping(mod.get_global_variable(RT_SYMBOL), self._rt_addr)
            ee.add_global_mapping(mod.get_global_variable(abi.RT_KEY_SYMBOL), self._key_addr)
            ee.set_object_cache(self._notify, self._getbuffer)
            self._ee = ee
            self.stats.engine_ms += (time.perf_counter() - t0) * 1e3   # engine creation, deferred
        else:
            self._ee.add_module(mod)

    def _getbuffer(self, mod: llvm.ModuleRef) -> bytes | None:
        p = self._pending.get(mod.name)
        if p is None:
            return None
        p.started = time.perf_counter()
        return p.cached

    def _notify(self, mod: llvm.ModuleRef, data: bytes) -> None:
        p = self._pending.get(mod.name)
        if p is None:
            return
        p.stats.codegen_ms = (time.perf_counter() - p.started) * 1e3
        if self.cache is not None and p.key is not None:
            self.cache.put(p.key, data)

    # -- calls

    def _resolve(self, fn: str | ir.FunctionRef) -> ir.FunctionRef:
        key = fn if isinstance(fn, str) else fn.symbol
        ref = self._resolved.get(key)
        if ref is None:
            ref = resolve_function(self.modules, fn)
            self._resolved[key] = ref
        return ref

    def function(self, fn: str | ir.FunctionRef) -> Callable[..., Scalar | None]:
        """A Python callable running `fn` natively (compiling what it reaches on first use)."""
        ref = self._resolve(fn)
        c = self._callables.get(ref.symbol)
        if c is None:
            with self._lock:
                c = self._callables.get(ref.symbol)
                if c is None:
                    c = self._make_callable(ref)
                    self._callables[ref.symbol] = c
        return c

    def _make_callable(self, ref: ir.FunctionRef) -> Callable[..., Scalar | None]:
        if self._closed:
            raise EngineError("the JIT engine is closed")
        module = self._module_of[ref.symbol]
        tier2 = self._tier2.get(module.oid)
        addr = self._address(ref, tier2)
        if not addr:
            raise EngineError(f"{ref.name} ({ref.symbol}) was not compiled")
        fn = next((f for f in module.functions if f.ref.symbol == ref.symbol), None)
        # result: a POINTER(T); heap code keeps the GIL (docs/plugin-abi.md "The GIL")
        proto = abi.cfunctype([t.abi for t in ref.params], ref.ret.abi, keep_gil=fn is not None and ir.uses_heap(fn))
        tier = self._tier_of(module) if tier2 is None else None
        if tier is None:
            return self._plain_callable(ref, proto(addr))
        slot = _Slot(ref.symbol, proto, proto(addr))
        tier.slots.append(slot)
        return self._tiering_callable(ref, slot, tier)

    def _plain_callable(self, ref: ir.FunctionRef, cfunc: Callable[..., int]) -> Callable[..., Scalar | None]:
        # Each call runs on the calling thread's state (bound by `enter`) and a result buffer of its own.
        ret = ref.ret
        enter, take = self.thread_states.enter, self.thread_states.take_trap
        if ret is ir.VOID:
            def call_void(*args: Scalar) -> None:
                rt = enter()
                status = cfunc(None, *args)
                if status:
                    raise take(rt, status)
            return call_void
        restype = _CTYPE[ret]

        def call(*args: Scalar) -> Scalar:
            rt = enter()
            result = restype()
            status = cfunc(result, *args)
            if status:
                raise take(rt, status)
            return result.value
        call.__name__ = ref.name
        return call

    def _tiering_callable(self, ref: ir.FunctionRef, slot: _Slot, tier: _Tier) -> Callable[..., Scalar | None]:
        """Like `_plain_callable`, but counting calls towards the module's tier-up (`tier.left`) and
        calling through `slot`, which the tier-up repoints at the tier-2 code."""
        ret = ref.ret
        enter, take = self.thread_states.enter, self.thread_states.take_trap
        if ret is ir.VOID:
            def call_void(*args: Scalar) -> None:
                if tier.left:
                    tier.tick()
                rt = enter()
                status = slot.cfunc(None, *args)
                if status:
                    raise take(rt, status)
            return call_void
        restype = _CTYPE[ret]

        def call(*args: Scalar) -> Scalar:
            if tier.left:
                tier.tick()
            rt = enter()
            result = restype()
            status = slot.cfunc(result, *args)
            if status:
                raise take(rt, status)
            return result.value
        call.__name__ = ref.name
        return call

    def call(self, fn: str | ir.FunctionRef, args: Sequence[Scalar] = ()) -> Scalar | None:
        """Run `fn` with `args`; its result (None for void); rpsrt.Trap on a trap."""
        ref = self._resolve(fn)
        target = self.function(ref)
        if self.host is not None:
            target = self._heap_wrap(ref, target)
        if self.interruptible:  # Ctrl-C in the main thread: KeyboardInterrupt, the engine stays usable
            return abi.call_with_rt(self.thread_states, target, coerce_args(ref, args))
        return target(*coerce_args(ref, args))

    def _heap_wrap(self, ref: ir.FunctionRef, target: Callable[..., Scalar | None]) -> Callable[..., Scalar | None]:
        from rpsrt.heaphost import wrap_call

        assert self.host is not None
        return wrap_call(self.host, [t in ir.HEAP_TYPES for t in ref.params], ref.ret in ir.HEAP_TYPES, target)

    def _call_raw(self, fnobj: object, words: list[object]) -> object:
        """Run the stored function object `fnobj` natively with ABI words (a send from compiled code)."""
        f = self._raw.get(fnobj.oid)  # type: ignore[attr-defined]
        if f is None:
            f = self._raw[fnobj.oid] = self.function(self._resolve(ir.symbol_of(str(fnobj.oid))))  # type: ignore[attr-defined]
        return f(*words)

    def _native_entry(self, fnobj: object, signature: str) -> int:
        """The address of the exported wrapper of the stored function `fnobj` in this engine (compiling its
        module on first use) when its signature is exactly `signature`, else 0 (a send from native code
        then calls it directly)."""
        try:
            ref = self._resolve(ir.symbol_of(str(fnobj.oid)))  # type: ignore[attr-defined]
        except EngineError:
            return 0
        if ref.signature != signature:
            return 0
        with self._lock:
            # tier 1's entry: it stays valid until close (a tier-up repoints only the Python callables)
            return 0 if self._closed else self._address(ref, None)

    def _address(self, ref: ir.FunctionRef, tier2: llvm.ExecutionEngine | None) -> int:
        """The address of `ref`'s exported wrapper in `tier2`, or else in the tier-1 engine, its module (and
        what it reaches) compiled first if needed; 0 when it was not compiled (under `_lock`)."""
        module = self._module_of[ref.symbol]
        if module.oid not in self._loaded:
            self._load(self._reachable(module))
        assert self._ee is not None
        return int((tier2 or self._ee).get_function_address(ref.symbol) or 0)

    def _call_object(self, fnobj: object, args: list[object]) -> object:
        """Run the stored function object `fnobj` natively (a method send from compiled code)."""
        ref = self._resolve(ir.symbol_of(str(fnobj.oid)))  # type: ignore[attr-defined]
        return self._heap_wrap(ref, self.function(ref))(*args)

    def interrupt(self, thread: threading.Thread | int | None = None) -> None:
        """Thread-safe: the running calls (or else the next ones) trap INTERRUPT at their next poll (loop
        back-edge or function entry); with `thread`, only that thread's."""
        self.thread_states.interrupt(thread)

    @property
    def recursion_limit(self) -> int:
        return int(self.rt.depth_limit)

    def close(self) -> None:
        """Drop the native code; calling a callable obtained earlier after close is undefined."""
        for task in self._tier_tasks:   # queued tier-ups: not needed any more (a running one holds _lock)
            task.cancel()
        with self._lock:
            self._closed = True
            self._callables.clear()
            for tier in self._tiers.values():
                if tier is not None:
                    tier.left = 0
                    tier.slots.clear()
            # The ExecutionEngines free their modules and code when collected.
            self._tier2.clear()
            self._ee = None

    def __enter__(self) -> JitEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
