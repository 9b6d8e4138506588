"""The host side of the heap API that native code (JIT and C plugins) calls: handles and `heap_op`.

Native code never sees a Python object. A `str`, `obj` or `value` crosses the boundary as a *handle*: an
int64 that is the address of the Python object (`id`), 0 for null. The host keeps a strong reference to
every value handed out since the current outermost call began (the *arena*: the C fast path's, or this
module's dict when it is not built), so whatever native code holds stays alive, and an object always has the
same handle (`==` on objects compares handles), until the outermost call returns; then `reset()` empties it
(a handle must not be kept across calls). Every operation goes through one C entry, `heap_op`
(`rpsrt.abi.HEAP_OP_FN`): the C fast path (rpsrt/native/heapfast.c) does the hot operations on the objects
themselves and passes the others to the Python entry, which decodes its arguments by the kind letters native
code passes, checks every handle against the arena, runs `HeapRuntime.dispatch` (the interpreter's
semantics, the same code) and encodes the result. The hottest of them (typed attribute reads and writes,
components, unboxing: rpsrt.abi.HEAP_FAST_OPS) also have a second entry, `heap_fast` (heap API version 2),
with their operands in registers: native code tries it first and makes the same operation through `heap_op`
when it declines (it never traps, and declines having done nothing).

Compiled heap code runs with the GIL held: the engines call functions with heap types through ctypes
prototypes that keep it (`rpsrt.abi.cfunctype(..., keep_gil=True)`), so the fast path's operations cost no
GIL hand-over. Ctrl-C still stops such a call: the interrupt flag is set from the signal itself while the
call runs (`rpsrt.abi.call_interruptibly`), and compiled code polls it at loop back-edges and entries.

A trap inside an operation is remembered (`pending`, with its function, location and detail) and its code
returned; the native caller raises the remembered trap when the call unwinds. Any other exception
(KeyboardInterrupt, an engine error) is remembered too and `HEAP_HOST_ERROR` returned.

`heap_op_trampoline()` is the one ctypes callback of the process: it forwards to the host installed with
`install(host)` (one heap run at a time), so its address can be handed out once (rps_plugin_api's
`heap_op`, the JIT's `rps_heap_op` global).

Threads: the heap has one writer (docs/concurrency.md), and the installed host, its handle arena and the C
fast path's view of it are process-wide. So `wrap_call` runs heap calls one at a time in the process: the
outermost heap call of a thread holds `RUN_LOCK` (reentrant: the sends and nested calls of that thread run
inside it) from `install` to the emptied arena; a heap call from another thread, on any engine, waits for
it. Calls of code without heap types never take the lock and run in parallel as before.
"""

from __future__ import annotations

import ctypes
import os
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

from rpsrt import abi
from rpsrt.errors import TRAP_RECURSION, Trap
from rpsrt.model.heapapi import HeapRuntime
from rpsrt.model.objects import RpsObject

_D2I = struct.Struct("<d")
_Q = struct.Struct("<q")


def _cstr(addr: int | None) -> bytes:
    """The NUL-terminated string at `addr` (the strings of generated code are constants: their address
    identifies them)."""
    return ctypes.string_at(addr) if addr else b""


def f2bits(f: float) -> int:
    return int(_Q.unpack(_D2I.pack(f))[0])


def bits2f(i: int) -> float:
    return float(_D2I.unpack(_Q.pack(i))[0])


class HeapHost:
    """Handles and the `heap_op` entry for one `HeapRuntime` (see the module docstring).

    `call_function(fn_object, args)` runs a stored function natively (for `call_method`): the engine's."""

    def __init__(self, runtime: HeapRuntime, call_function: Callable[[RpsObject, list[Any]], Any] | None = None,
                 call_raw: Callable[[RpsObject, list[Any]], Any] | None = None,
                 native_entry: Callable[[RpsObject, str], int] | None = None, states: Any = None):
        self.runtime = runtime
        #: the engine's run-time states (`rpsrt.abi.ThreadStates`, or one `RpsRt`): while a heap call runs,
        #: SIGINT sets the interrupt flag of the state it runs on (compiled heap code keeps the GIL)
        self.states = states
        self.call_function = call_function
        #: `call_raw(fn_object, words)`: run a stored function natively with ABI words (handles as they are)
        #: and give its ABI result: a method send from native code without converting handles
        self.call_raw = call_raw
        #: `native_entry(fn_object, signature)`: the address of the engine's exported wrapper of that stored
        #: function when it has one with exactly that ABI signature, else 0 (`method_entry`: native code then
        #: calls it directly, as a call into another module, instead of through `call_method`)
        self.native_entry = native_entry
        self._fast = _fast_lib()
        #: the arena without the fast path: handle (the value's id) -> value
        self._live: dict[int, Any] = {}
        #: id(function object) -> (entry address or 0, signature bytes) for this outermost call: what
        #: `method_entry` answered (the C fast path reads it too); emptied with the arena
        self.entries: dict[int, tuple[int, bytes]] = {}
        self.pending: BaseException | None = None
        self.depth = 0
        self._sites: dict[tuple[Any, ...], tuple[str, str, str, str, str]] = {}

    def reset(self) -> None:
        """Empty the arena (every handle handed out is invalid after it) and what this call remembered."""
        if self._fast is not None and not _active[0]:
            self._fast.reset()
        self._live.clear()
        self.entries.clear()
        self.pending = None

    def live(self) -> int:
        """How many values the arena keeps alive (0 after the outermost call)."""
        return self._fast.live() if self._fast is not None else len(self._live)

    def method_entry(self, fnobj: Any, signature: str) -> int:
        """`method_entry`: the native entry of `fnobj` for a send of that ABI signature, or 0 (not an object,
        no native code with exactly that signature, or the engine cannot tell: the send then goes through
        `call_method`, which has the full semantics and its traps)."""
        if not isinstance(fnobj, RpsObject) or self.native_entry is None:
            return 0
        known = self.entries.get(id(fnobj))
        sig = signature.encode("utf-8")
        if known is not None and known[1] == sig:
            return known[0]
        try:
            address = int(self.native_entry(fnobj, signature) or 0)
        except Exception:  # noqa: BLE001 - no direct entry; call_method reports what is wrong
            address = 0
        self.entries[id(fnobj)] = (address, sig)
        return address

    def handle(self, v: Any) -> int:
        """`v`'s handle (0 for None), `v` kept alive in the arena until `reset`."""
        if self._fast is not None:
            return int(self._fast.handle(v))
        if v is None:
            return 0
        self._live[id(v)] = v
        return id(v)

    def value(self, h: int) -> Any:
        """The value of handle `h`; KeyError when `h` is not a handle handed out in this call."""
        if self._fast is not None:
            return self._fast.value(h)
        return self._live[h] if h else None

    def encode(self, v: Any, kind: str) -> int:
        if kind == "h":
            return self.handle(v)
        if kind == "f":
            return f2bits(v)
        if kind == "b":
            return 1 if v else 0
        if kind == "v":
            return 0
        return int(v)

    def decode(self, w: int, kind: str) -> Any:
        if kind == "h":
            return self.value(w)
        if kind == "f":
            return bits2f(w)
        if kind == "b":
            return bool(w)
        return w

    def op(self, code: int, aux: int | None, result: Any, nargs: int, args: Any, fn: int | None,
           loc: int | None) -> int:
        try:
            key = (code, aux, fn, loc)
            site = self._sites.get(key)
            if site is None:  # parse a call site once: its operation, kinds, static operand, names
                text = _cstr(aux).decode("utf-8")
                kinds, _, static = text.partition("|")
                site = self._sites[key] = (abi.HEAP_OP_NAMES[code], kinds, static,
                                           _cstr(fn).decode("utf-8", "replace"),
                                           _cstr(loc).decode("utf-8", "replace"))
            name, kinds, static, fname, where = site
            value = self.value
            if name == "method_entry":
                if _stack_low():
                    raise Trap(TRAP_RECURSION, fname, where)  # the next direct call could overflow the stack
                result[0] = self.method_entry(value(args[0]), static)
                return 0
            if name == "call_method" and self.call_raw is not None:
                if self.depth >= (sys.getrecursionlimit() - 200) // 16:
                    raise Trap(TRAP_RECURSION, fname, where)
                words = [args[i] if kinds[1 + i] == "h" else self.decode(args[i], kinds[1 + i])
                         for i in range(1, nargs)]
                self.depth += 1
                try:
                    r = self.call_raw(value(args[0]), words)
                except (RecursionError, ctypes.ArgumentError):
                    raise Trap(TRAP_RECURSION, fname, where) from None
                finally:
                    self.depth -= 1
                k = kinds[0]
                result[0] = r if k == "h" else self.encode(r, k)
                return 0
            vals = [value(args[i]) if kinds[1 + i] == "h" else self.decode(args[i], kinds[1 + i])
                    for i in range(nargs)]
            if name == "call_method":
                if self.call_function is None:
                    raise RuntimeError("no native function caller for a method send")
                if self.depth >= (sys.getrecursionlimit() - 200) // 16:
                    # sends nested through the host use Python's stack (about 16 frames a level)
                    raise Trap(TRAP_RECURSION, fname, where)
                try:
                    r = self.call_function(vals[0], vals[1:])
                except (RecursionError, ctypes.ArgumentError):
                    # sends nested through the host use Python's stack: too deep is a recursion trap (at
                    # the send, where the interpreter reports it at the callee's entry)
                    raise Trap(TRAP_RECURSION, fname, where) from None
            else:
                r = self.runtime.dispatch(name, static, fname, where, vals)
            k = kinds[0]
            result[0] = self.handle(r) if k == "h" else self.encode(r, k)
            return 0
        except Trap as trap:
            if self.pending is None:
                self.pending = trap
            return trap.code
        except BaseException as exc:  # noqa: BLE001 - re-raised by the native caller
            if self.pending is None:
                self.pending = exc
            return abi.HEAP_HOST_ERROR

    def take_pending(self) -> BaseException | None:
        p, self.pending = self.pending, None
        return p


_current: list[HeapHost | None] = [None]
#: How many heap calls are running in the process (the arena is emptied only when none is).
_active = [0]
_lock = threading.Lock()
#: Held by the thread whose heap call is running (see the module docstring): one heap run at a time.
RUN_LOCK = threading.RLock()
_trampoline: list[Any] = []


def _forward(code: int, aux: int | None, result: Any, nargs: int, args: Any, fn: int | None,
             loc: int | None) -> int:
    host = _current[0]
    if host is None:
        return abi.HEAP_HOST_ERROR
    return host.op(code, aux, result, nargs, args, fn, loc)


def heap_op_trampoline() -> Any:
    """The process's one `heap_op` callback (a ctypes function pointer, kept alive here)."""
    with _lock:
        if not _trampoline:
            _trampoline.append(abi.HEAP_OP_FN(_forward))
        return _trampoline[0]


def trampoline_address() -> int:
    return int(ctypes.cast(heap_op_trampoline(), ctypes.c_void_p).value or 0)


def heap_op_address() -> int:
    """The `heap_op` entry handed to native code: the C fast path when it could be built, which passes
    what it does not do itself to the Python entry; else the Python entry."""
    fast = _fast_lib()
    if fast is not None:
        return int(fast.op_address())
    return trampoline_address()


def heap_fast_address() -> int:
    """The `heap_fast` entry handed to native code (heap API version 2): the C fast path's, when it could be
    built and does exactly the operations of rpsrt.abi.HEAP_FAST_OPS; else 0 (NULL: every operation then goes
    through `heap_op`), as with `RPSRT_NO_HEAPFAST_ENTRY=1` (which leaves `heap_op`'s C fast path on)."""
    fast = _fast_lib()
    if (fast is None or os.environ.get("RPSRT_NO_HEAPFAST_ENTRY")
            or tuple(fast.fast_ops()) != tuple(n for n, *_ in abi.HEAP_FAST_OPS)):
        return 0
    return int(fast.fast_address())


_FAST: list[Any] = []
#: The operations that the C fast path does itself (in the order its `setup` takes their codes).
FAST_OPS = ("get_attr", "set_attr", "comp", "unbox", "box_float", "send", "length", "objref", "method_entry")


def _fast_lib() -> Any:
    """rpsrt/native/heapfast.c built once (cached by content and Python version) and imported as an
    extension module; None when disabled (RPSRT_NO_HEAPFAST=1) or when it cannot be built."""
    if _FAST:
        return _FAST[0]
    with _lock:
        if _FAST:
            return _FAST[0]
        mod = None
        if not os.environ.get("RPSRT_NO_HEAPFAST"):
            try:
                mod = _build_fast()
            except (OSError, subprocess.SubprocessError, ImportError, AttributeError):
                mod = None
        _FAST.append(mod)
        return mod


def _build_fast() -> Any:
    from rpsrt.native import extension

    return extension("heapfast")


def _stack_low() -> bool:
    """Whether this thread's C stack is nearly used up (the C fast path's probe; False without it)."""
    fast = _fast_lib()
    return bool(fast is not None and fast.stack_low())


_CODES = tuple(abi.HEAP_OP_CODES[n] for n in FAST_OPS)


def _setup_fast(host: HeapHost | None) -> None:
    fast = _fast_lib()
    if fast is None:
        return
    from rpsrt.model.objects import PayloadClassInfo
    from rpsrt.model.values import VClosure

    clock = host.runtime.clock if host is not None else None
    fast.setup(RpsObject, PayloadClassInfo, VClosure, float(clock) if clock is not None else None,
               host.entries if host is not None else None, trampoline_address(), _CODES)


_cell: list[Any] = []


def heap_op_cell_address() -> int:
    """The address of a process-wide pointer cell holding `heap_op_address()` (the JIT's `rps_heap_op`)."""
    with _lock:
        if not _cell:
            _cell.append(ctypes.c_void_p(0))
    if not _cell[0].value:
        _cell[0].value = heap_op_address()
    return ctypes.addressof(_cell[0])


_fast_cell: list[Any] = []


def heap_fast_cell_address() -> int:
    """The address of a process-wide pointer cell holding `heap_fast_address()` (the JIT's `rps_heap_fast`;
    NULL when there is no fast entry)."""
    address = heap_fast_address()  # (outside the lock: building the fast path takes it)
    with _lock:
        if not _fast_cell:
            _fast_cell.append(ctypes.c_void_p(address or None))
    return ctypes.addressof(_fast_cell[0])


def install(host: HeapHost | None) -> None:
    """Make `host` the one that `heap_op` calls reach (None: no heap; calls then fail)."""
    _current[0] = host
    _setup_fast(host)


_INTERRUPT_OFFSET = abi.RpsRt.interrupt.offset


def _arm(host: HeapHost) -> bool:
    """While this outermost call runs, SIGINT sets the interrupt flag of the state the calling thread's
    compiled code runs on (the code keeps the GIL, so the main thread may not get to set it itself)."""
    if host._fast is None or host.states is None:
        return False
    import signal

    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return False  # Ctrl-C does something else here (the program's own handler, or nothing): leave it be
    rt = host.states.current() if isinstance(host.states, abi.ThreadStates) else host.states
    host._fast.arm(ctypes.addressof(rt) + _INTERRUPT_OFFSET)
    return True


def wrap_call(host: HeapHost, heap_params: list[bool], heap_ret: bool, target: Callable[..., Any]) -> Callable[..., Any]:
    """`target` (a native caller taking and giving ABI words) as a callable taking and giving Python values:
    str/obj/value as `host`'s handles (`heap_params[i]`, `heap_ret` say which), with the host installed for
    the outermost call and its arena emptied after it; a trap or error remembered by the host is raised."""

    def call(*vals: Any) -> Any:
        with RUN_LOCK:  # the one heap run of the process (reentrant for this thread's nested calls)
            return run(vals)

    def run(vals: tuple[Any, ...]) -> Any:
        outer = host.depth == 0
        if outer:
            install(host)
            host.reset()
        host.depth += 1
        _active[0] += 1
        armed = outer and _arm(host)
        try:
            words = [host.handle(v) if h else v for v, h in zip(vals, heap_params, strict=True)]
            try:
                r = target(*words)
            except Trap:
                pending = host.take_pending()
                if pending is not None:
                    raise pending from None
                raise
            pending = host.take_pending()
            if pending is not None:
                raise pending
            return host.value(r) if heap_ret else r
        finally:
            if armed:
                host._fast.disarm()
            host.depth -= 1
            _active[0] -= 1
            if outer:
                host.reset()
                install(None)
    return call
