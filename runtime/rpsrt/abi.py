"""The native ABI of compiled code, described once: the `rps_rt` run-time state, the scalar type codes,
signature strings, the ctypes caller and the interruptible call.

Every other copy derives from this module or is checked against it by tests/runtime/test_abi.py:

- `struct rps_rt` in rps/runtime.h is the text `rt_c_struct()` (the test compares the header with it, and
  compiles a C program with the real `cc` that prints every field's offsetof/sizeof);
- the ctypes structure `RpsRt` and the LLVM type `RT_LLVM_TYPE` (used by the LLVM backend) are built from
  `RT_FIELDS`;
- a compiled function has the shape `int32_t fn(T *result, T1, ...)` over the types of `TYPES`; its
  signature string (`i64(i64,f64,bool)`) parses with `Signature.parse`, its ctypes type is
  `cfunctype(...)`, and `native_caller` wraps one in a Python callable.

`bool` is C's `_Bool` (one byte holding 0 or 1, `ctypes.c_bool`): the LLVM backend passes it as
`i8 zeroext` and stores an `i8` 0/1 through the result pointer, which is the C ABI of `_Bool` on every
target rpsc supports.

Threads: compiled code runs on the `rps_rt` of the *calling thread*. A host component (a JIT engine, a
plugin manager) owns one shared `rps_rt` (its `rt`: the recursion limit new threads start with, and the
state of foreign callers) and, through `ThreadStates`, one `rps_rt` per thread that calls it (interrupt
flag, call depth, trap site, innermost trap target). Before a native call the host binds the thread's
state to the process-wide pthread key `rps_rt_key` (`ThreadStates.enter`: a pthread_setspecific only when
the thread switches components); an exported function reads it once with pthread_getspecific, falls back to
the shared state when nothing is bound (AOT objects, foreign hosts), and passes the pointer on in a
register to the bodies it runs. So calls from several threads run at once, each with its own trap, depth
and interrupt, and the fast path costs one pthread_getspecific per call from the host.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import re
import threading
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rpsrt.errors import DEFAULT_RECURSION_LIMIT, TRAP_INTERRUPT, PluginError, Trap

# ---------------------------------------------------------------- scalar types


@dataclass(frozen=True, slots=True)
class AbiType:
    """One type of the native ABI: its code in signature strings, its C and LLVM spelling, its ctypes type."""

    code: str                 # "i64", "f64", "bool", "void"
    c: str                    # the C type of generated code and of rps/plugin.h
    llvm: str                 # the LLVM type at the ABI (in memory and as a parameter)
    ctype: Any                # the ctypes type (None for void)


I64 = AbiType("i64", "int64_t", "i64", ctypes.c_int64)
F64 = AbiType("f64", "double", "double", ctypes.c_double)
BOOL = AbiType("bool", "_Bool", "i8", ctypes.c_bool)
VOID = AbiType("void", "void", "void", None)
#: Version 2: a string, an object (or null) and any value cross the ABI as *handles* (`rps_handle`, an
#: int64_t): the address of the Python object, kept alive by the host for the current call, 0 meaning null
#: (docs/plugin-abi.md).
STR = AbiType("str", "rps_handle", "i64", ctypes.c_int64)
OBJ = AbiType("obj", "rps_handle", "i64", ctypes.c_int64)
VAL = AbiType("val", "rps_handle", "i64", ctypes.c_int64)
#: The types by code; `void` only as a result.
TYPES: dict[str, AbiType] = {t.code: t for t in (I64, F64, BOOL, VOID, STR, OBJ, VAL)}
#: The ctypes type of each value type code.
CTYPES: dict[str, Any] = {t.code: t.ctype for t in (I64, F64, BOOL, STR, OBJ, VAL)}

# ---------------------------------------------------------------- the host heap API (version 2)

#: `RPS_HEAP_API_VERSION`: the version of the heap entry appended to `rps_plugin_api`.
HEAP_API_VERSION = 2
#: Operation codes of `heap_op` (their index), in this order forever (only appended). Each is a method of
#: `rpsrt.model.heapapi.HeapRuntime` or a pure operation on values (see `HeapRuntime.dispatch`).
HEAP_OP_NAMES: tuple[str, ...] = (
    "box", "box_int", "box_float", "unbox", "is_int", "is_float", "is_str", "is_obj", "is_null", "value_eq",
    "obj_eq", "str_concat", "str_len", "str_cmp", "str_of_int", "str_of_float", "objref", "get_attr",
    "set_attr", "has", "remove", "get", "put", "length", "comp", "set_comp", "append", "new", "class_of",
    "is_a", "superclass", "send", "oid", "space_of", "set_space", "find", "make_class", "make_symbol",
    "symbol_value", "set_symbol_value", "add_root", "remove_root", "is_root", "add_constant",
    "remove_constant", "is_constant", "set_add", "set_remove", "set_has", "set_size", "log", "fail",
    "call_method", "str_const", "method_entry",
)
HEAP_OP_CODES: dict[str, int] = {n: i for i, n in enumerate(HEAP_OP_NAMES)}
#: `int32_t heap_op(int32_t op, const char *aux, int64_t *result, int32_t nargs, const int64_t *args,
#: const char *function, const char *location)`: `aux` is `KINDS|AUX`, KINDS the result's kind letter then
#: one per argument (`i` int, `f` float as its IEEE bits, `b` bool, `h` handle, `v` void), AUX the
#: operation's static operand; returns 0 or a trap code (`rpsrt.errors.TRAP_*`); `RPS_HEAP_HOST_ERROR` when
#: the host raised something else (it re-raises it when the native call returns).
#: (The strings arrive as addresses, `c_void_p`: the host reads each call site's strings once.)
HEAP_OP_FN = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_int32, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int64),
                              ctypes.c_int32, ctypes.POINTER(ctypes.c_int64), ctypes.c_void_p, ctypes.c_void_p)
HEAP_HOST_ERROR = 100
#: The external global through which the JIT's code reaches the heap API (a `heap_op` pointer).
HEAP_OP_SYMBOL = "rps_heap_op"

#: Version 2 of the heap API: `heap_fast`, a second entry for the hottest operations with their operands in
#: registers. `int32_t heap_fast(int32_t op, int64_t a, int64_t b, int64_t c, int64_t *result)` (arguments
#: as `heap_op`'s words, unused ones 0) answers 0 when it did the operation, and anything else when it did
#: nothing: it never traps and has no effect then, and the caller makes the same operation through `heap_op`,
#: which has the full semantics. Its operations, by code (their index, only ever appended), each one
#: `heap_op` operation with its result and argument kinds and static operand fixed:
HEAP_FAST_OPS: tuple[tuple[str, str, str, str], ...] = (
    # (name, heap_op operation, KINDS, static operand)
    ("get_float", "get_attr", "fhh", "float"),
    ("get_int", "get_attr", "ihh", "int"),
    ("get_obj", "get_attr", "hhh", "obj"),
    ("get_value", "get_attr", "hhh", "value"),
    ("get_str", "get_attr", "hhh", "str"),
    ("set_float", "set_attr", "vhhf", ""),
    ("set_handle", "set_attr", "vhhh", ""),
    ("comp", "comp", "hhi", ""),
    ("length", "length", "ih", ""),
    ("unbox_obj", "unbox", "hh", "obj"),
    ("unbox_float", "unbox", "fh", "float"),
    ("unbox_int", "unbox", "ih", "int"),
    ("box_float", "box_float", "hf", ""),
)
HEAP_FAST_CODES: dict[tuple[str, str, str], int] = {(op, kinds, aux): i
                                                    for i, (_, op, kinds, aux) in enumerate(HEAP_FAST_OPS)}
HEAP_FAST_FN = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_int32, ctypes.c_int64, ctypes.c_int64,
                                ctypes.c_int64, ctypes.POINTER(ctypes.c_int64))
#: The external global through which the JIT's code reaches `heap_fast` (a pointer, NULL: none).
HEAP_FAST_SYMBOL = "rps_heap_fast"


def heap_fast_code(op: str, kinds: str, aux: str | None) -> int | None:
    """The `heap_fast` code of a `heap_op` call (operation, KINDS, static operand), None when it has none.
    Both native backends ask this, so that they route the same calls through the fast entry."""
    return HEAP_FAST_CODES.get((op, kinds, aux or ""))

# ---------------------------------------------------------------- rps_rt


@dataclass(frozen=True, slots=True)
class RtField:
    """One field of `struct rps_rt`: name, C declaration type, ctypes type, LLVM type, comment."""

    name: str
    c: str
    ctype: Any
    llvm: str
    comment: str


#: `struct rps_rt` (rps/runtime.h), in order: the host's run-time state shared by every compiled module.
RT_FIELDS: tuple[RtField, ...] = (
    RtField("interrupt", "volatile int32_t", ctypes.c_int32, "i32",
            "set non-zero by the host: the next poll (loop back-edge, function entry) traps"),
    RtField("depth", "int32_t", ctypes.c_int32, "i32", "current call depth of compiled code"),
    RtField("depth_limit", "int32_t", ctypes.c_int32, "i32",
            "calls nested deeper than this trap RPS_TRAP_RECURSION"),
    RtField("reserved", "int32_t", ctypes.c_int32, "i32", ""),
    RtField("trap_function", "const char *", ctypes.c_char_p, "ptr",
            "after a trap: the source name of the function that trapped"),
    RtField("trap_location", "const char *", ctypes.c_char_p, "ptr",
            'after a trap: "file:line:col" of the operation that trapped'),
    RtField("trap_env", "void *", ctypes.c_void_p, "ptr",
            "compiled code: the jmp_buf of this thread's innermost exported call"),
    RtField("trap_code", "int32_t", ctypes.c_int32, "i32", "compiled code: the code of the trap in flight"),
    RtField("reserved2", "int32_t", ctypes.c_int32, "i32", ""),
)
#: The symbol of the state in LLVM modules (an external global the JIT maps onto its `RpsRt`).
RT_SYMBOL = "rps_rt"
#: The symbol of the process-wide pthread key (an `unsigned int`) under which the calling thread's state is
#: bound; LLVM modules declare it `extern_weak` (the JIT maps it onto `rt_key_cell()`), C plugins get its
#: address in `rps_plugin_api.rt_key`.
RT_KEY_SYMBOL = "rps_rt_key"
#: The LLVM type of `struct rps_rt`.
RT_LLVM_TYPE = "{" + ", ".join(f.llvm for f in RT_FIELDS) + "}"
#: Field name -> index (for LLVM's getelementptr).
RT_INDEX: dict[str, int] = {f.name: i for i, f in enumerate(RT_FIELDS)}


def rt_c_struct() -> str:
    """The C definition of `struct rps_rt`, as rps/runtime.h holds it (a test compares the two)."""
    lines = ["typedef struct rps_rt {"]
    for f in RT_FIELDS:
        decl = f"    {f.c}{'' if f.c.endswith('*') else ' '}{f.name};"
        lines.append(f"{decl:<34}/* {f.comment} */" if f.comment else decl)
    lines.append("} rps_rt;")
    return "\n".join(lines) + "\n"


class RpsRt(ctypes.Structure):
    """The host's shared run-time state: `struct rps_rt` of rps/runtime.h, built from `RT_FIELDS`."""

    _fields_ = [(f.name, f.ctype) for f in RT_FIELDS]


def new_rt(depth_limit: int = DEFAULT_RECURSION_LIMIT) -> RpsRt:
    """A fresh run-time state: no interrupt, depth 0, the given recursion limit, no trap site."""
    rt = RpsRt()
    rt.depth_limit = depth_limit
    return rt


# ---------------------------------------------------------------- rps_plugin_api

#: `rps_plugin_api`'s function pointers (rps/plugin.h).
REGISTER_FN = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p,
                               ctypes.c_void_p, ctypes.c_int32, ctypes.c_char_p)
LOG_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int32, ctypes.c_char_p)
ARGUMENT_FN = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_void_p, ctypes.c_char_p)


@dataclass(frozen=True, slots=True)
class ApiField:
    """One field of `rps_plugin_api`: its name, ctypes type, and what appended it (`""`: the original
    table of PLUGIN_ABI.md)."""

    name: str
    ctype: Any
    appended: str = ""


#: `struct rps_plugin_api` (rps/plugin.h), in order. The table only ever grows at its end (`struct_size`
#: tells a plugin which fields it got; `abi_version` stays `PLUGIN_ABI_VERSION`, so older plugins still
#: load): `rt` (the shared run-time state), then `rt_key` (per-thread states, docs/concurrency.md), then
#: the host heap API (`heap_version` = `HEAP_API_VERSION`, `heap_op`; version 2 of the language), then
#: `heap_fast` (heap API version 2).
PLUGIN_API_FIELDS: tuple[ApiField, ...] = (
    ApiField("abi_version", ctypes.c_uint32),
    ApiField("struct_size", ctypes.c_uint32),
    ApiField("host", ctypes.c_void_p),
    ApiField("register_extension", REGISTER_FN),
    ApiField("log", LOG_FN),
    ApiField("argument", ARGUMENT_FN),
    ApiField("rt", ctypes.POINTER(RpsRt), "run-time state"),
    ApiField("rt_key", ctypes.POINTER(ctypes.c_uint), "per-thread states"),
    ApiField("heap_version", ctypes.c_uint32, "heap API"),
    ApiField("heap_reserved", ctypes.c_uint32, "heap API"),
    ApiField("heap_op", ctypes.c_void_p, "heap API"),
    ApiField("heap_fast", ctypes.c_void_p, "heap API 2"),
)
#: `RPS_PLUGIN_ABI_VERSION`: what `abi_version` holds and a manifest's `"abi"` must be.
PLUGIN_ABI_VERSION = 1


class PluginApi(ctypes.Structure):
    """`rps_plugin_api` of rps/plugin.h, built from `PLUGIN_API_FIELDS` (tests/runtime/test_abi.py compiles
    the header and compares every offset and the size)."""

    _fields_ = [(f.name, f.ctype) for f in PLUGIN_API_FIELDS]


# ---------------------------------------------------------------- per-thread states

_key_lock = threading.Lock()
_key_cell: ctypes.c_uint | None = None
_setspecific: Any = None


def rt_key_cell() -> ctypes.c_uint:
    """The process-wide pthread key of the calling thread's `rps_rt` (created on first use)."""
    global _key_cell, _setspecific
    with _key_lock:
        if _key_cell is None:
            libc = ctypes.CDLL(None, use_errno=True)
            cell = ctypes.c_uint()
            create = libc.pthread_key_create
            create.argtypes = [ctypes.POINTER(ctypes.c_uint), ctypes.c_void_p]
            if create(ctypes.byref(cell), None) != 0:
                raise OSError(ctypes.get_errno(), "pthread_key_create failed")
            setspecific = libc.pthread_setspecific
            setspecific.argtypes = [ctypes.c_uint, ctypes.c_void_p]
            setspecific.restype = ctypes.c_int
            _setspecific = setspecific
            _key_cell = cell
        return _key_cell


class _Bound(threading.local):
    """The state bound to `rps_rt_key` in this thread (kept alive while bound)."""

    rt: RpsRt | None = None


_BOUND = _Bound()


def bind_thread_rt(rt: RpsRt) -> None:
    """Make `rt` the calling thread's state for compiled code (pthread_setspecific on `rps_rt_key`)."""
    key = rt_key_cell().value
    if _setspecific(key, ctypes.addressof(rt)) != 0:
        raise OSError("pthread_setspecific failed")
    _BOUND.rt = rt


class ThreadStates:
    """The per-thread `rps_rt` states of one host component (see the module docstring).

    `current()` is the calling thread's state (created on first use with the shared state's recursion
    limit); `enter()` also binds it for compiled code. `interrupt()` flags every thread's state (and the
    shared one, which hand-written plugins poll), `interrupt(thread)` one thread's. Thread-safe.
    """

    __slots__ = ("shared", "_local", "_all", "_ids", "_lock", "__weakref__")

    def __init__(self, shared: RpsRt) -> None:
        self.shared = shared
        self._local = threading.local()
        self._all: weakref.WeakValueDictionary[int, RpsRt] = weakref.WeakValueDictionary()
        self._ids = itertools.count()
        self._lock = threading.Lock()
        rt_key_cell()

    def current(self) -> RpsRt:
        """The calling thread's state."""
        try:
            return self._local.rt  # type: ignore[no-any-return]
        except AttributeError:
            rt = new_rt(self.shared.depth_limit)
            rt._rps_thread = threading.get_ident()  # type: ignore[attr-defined]
            self._local.rt = rt
            with self._lock:
                self._all[next(self._ids)] = rt
            return rt

    def enter(self) -> RpsRt:
        """The calling thread's state, bound to `rps_rt_key` for the native call that follows."""
        try:
            rt = self._local.rt
        except AttributeError:
            rt = self.current()
        if _BOUND.rt is not rt:
            bind_thread_rt(rt)
        return rt  # type: ignore[no-any-return]

    def states(self) -> list[RpsRt]:
        """The states of the threads alive that have called (or asked for theirs)."""
        with self._lock:
            return list(self._all.values())

    def interrupt(self, thread: threading.Thread | int | None = None) -> None:
        """Flag the interrupt of every thread's state and the shared one (or of `thread`'s only)."""
        ident = thread.ident if isinstance(thread, threading.Thread) else thread
        for rt in self.states():
            if ident is None or getattr(rt, "_rps_thread", None) == ident:
                rt.interrupt = 1
        if ident is None:
            self.shared.interrupt = 1

    def set_depth_limit(self, limit: int) -> None:
        """The recursion limit of the shared state and of every thread's."""
        self.shared.depth_limit = limit
        for rt in self.states():
            rt.depth_limit = limit

    def take_trap(self, rt: RpsRt, code: int) -> Trap:
        """The Trap for status `code` of a call made on `rt` (this thread's state): its site from `rt`, or
        from the shared state when only that holds one (hand-written plugins write there); both are then
        ready for the next call (site cleared, and the interrupt flag for an interrupt)."""
        shared = self.shared
        src = rt if (rt.trap_function or rt.trap_location or not (shared.trap_function or shared.trap_location)) \
            else shared
        trap = take_trap(src, code)
        other = shared if src is rt else rt
        other.trap_function = other.trap_location = None
        if code == TRAP_INTERRUPT:
            rt.interrupt = shared.interrupt = 0
        rt.depth = 0
        return trap


def take_trap(rt: RpsRt | None, code: int) -> Trap:
    """The Trap for status `code`, with the trap site read from `rt`; the site (and, for an interrupt, the
    interrupt flag) is then cleared so that the state is ready for the next call."""
    if rt is None:
        return Trap(code)
    fn, loc = rt.trap_function, rt.trap_location
    rt.trap_function = None
    rt.trap_location = None
    if code == TRAP_INTERRUPT:
        rt.interrupt = 0
    return Trap(code, fn.decode("utf-8", "replace") if fn else None,
                loc.decode("utf-8", "replace") if loc else None)


# ---------------------------------------------------------------- signatures and calls

_VALUE = r"(?:i64|f64|bool|str|obj|val)"
_SIG_RE = re.compile(rf"\s*(i64|f64|bool|void|str|obj|val)\s*\(\s*({_VALUE}(?:\s*,\s*{_VALUE})*)?\s*\)\s*")
_TYPE_RE = re.compile(_VALUE)


@dataclass(frozen=True, slots=True)
class Signature:
    """A typed signature `ret(params...)` over i64, f64, bool (and void as a result)."""

    ret: str
    params: tuple[str, ...]

    @classmethod
    def parse(cls, text: object, *, path: str | None = None) -> Signature:
        """`"i64(i64, f64)"` -> Signature("i64", ("i64", "f64")); anything else is a PluginError."""
        m = _SIG_RE.fullmatch(text) if isinstance(text, str) else None
        if m is None:
            raise PluginError(f"invalid signature {text!r} (expected e.g. 'i64(i64,i64)' over i64, f64, bool, "
                              "void)", path=path)
        return cls(m[1], tuple(_TYPE_RE.findall(m[2] or "")))

    def __str__(self) -> str:
        return f"{self.ret}({','.join(self.params)})"

    def prototype(self, keep_gil: bool | None = None) -> Any:
        """The ctypes function type of the native ABI: `int32_t (T *result, T1, ...)` (`cfunctype`)."""
        return cfunctype(self.params, self.ret, keep_gil)


#: The type codes of heap values (handles at the ABI).
HEAP_CODES = frozenset(t.code for t in (STR, OBJ, VAL))


def heap_typed(params: Sequence[str], ret: str | None) -> bool:
    """Whether a signature has a heap type (str/obj/val): version-2 heap code, called with the GIL kept
    (docs/plugin-abi.md "The GIL") and taking and giving the host's handles."""
    return ret in HEAP_CODES or any(p in HEAP_CODES for p in params)


def cfunctype(params: Sequence[str], ret: str | None = None, keep_gil: bool | None = None) -> Any:
    """The ctypes type of `int32_t fn(T *result, T1, ...)` for parameter codes `params`; the result is a
    `POINTER(T)` for `ret`, or a plain address (`void *`) when `ret` is None or "void". A signature with heap
    types (`heap_typed`), or any when `keep_gil` is true (a function doing heap operations), is called with the
    GIL held (`ctypes.PYFUNCTYPE`); any other releases it for the call, so that compiled code runs in parallel
    with Python threads."""
    res = ctypes.c_void_p if ret is None or ret == "void" else ctypes.POINTER(CTYPES[ret])
    if keep_gil or heap_typed(params, ret):
        return ctypes.PYFUNCTYPE(ctypes.c_int32, res, *(CTYPES[p] for p in params))
    return ctypes.CFUNCTYPE(ctypes.c_int32, res, *(CTYPES[p] for p in params))


def native_caller(address: int, signature: Signature, rt: RpsRt | ThreadStates | None, name: str = "",
                  revocable: list[list[Any]] | None = None, keep_gil: bool | None = None) -> Callable[..., Any]:
    """A Python callable for the native function at `address` (ABI `int32_t fn(T *result, args...)`).

    The ctypes prototype is built here, once. A non-zero status raises Trap (site read from `rt`). With a
    `ThreadStates`, each call runs on the calling thread's state (`ThreadStates.enter`).
    With `revocable`, the function sits in a one-element list appended to it: `revoke(box, message)` swaps
    in a function raising PluginError, so that a caller kept after its plugin is unloaded never jumps into
    unmapped memory.
    """
    box: list[Any] = [signature.prototype(keep_gil)(address)]
    if revocable is not None:
        revocable.append(box)
    if isinstance(rt, ThreadStates):
        return _threaded_caller(box, signature, rt, name)
    take = take_trap
    call: Callable[..., Any]
    # The hot path: no byref (ctypes passes an instance by reference for a POINTER parameter), no *args
    # for the common arities.
    if signature.ret == "void":
        def call(*args: Any) -> Any:
            status = box[0](None, *args)
            if status:
                raise take(rt, status)
            return None
    else:
        restype = CTYPES[signature.ret]
        arity = len(signature.params)
        if arity == 0:
            def call() -> Any:
                result = restype()
                status = box[0](result)
                if status:
                    raise take(rt, status)
                return result.value
        elif arity == 1:
            def call(a: Any) -> Any:  # type: ignore[misc]
                result = restype()
                status = box[0](result, a)
                if status:
                    raise take(rt, status)
                return result.value
        elif arity == 2:
            def call(a: Any, b: Any) -> Any:  # type: ignore[misc]
                result = restype()
                status = box[0](result, a, b)
                if status:
                    raise take(rt, status)
                return result.value
        elif arity == 3:
            def call(a: Any, b: Any, c: Any) -> Any:  # type: ignore[misc]
                result = restype()
                status = box[0](result, a, b, c)
                if status:
                    raise take(rt, status)
                return result.value
        else:
            def call(*args: Any) -> Any:  # type: ignore[misc]
                result = restype()
                status = box[0](result, *args)
                if status:
                    raise take(rt, status)
                return result.value
    call.__name__ = name or "native"
    return call


def _threaded_caller(box: list[Any], signature: Signature, states: ThreadStates, name: str) -> Callable[..., Any]:
    """`native_caller` for a callee running on the calling thread's state of `states`."""
    enter, take = states.enter, states.take_trap
    call: Callable[..., Any]
    if signature.ret == "void":
        def call(*args: Any) -> Any:
            rt = enter()
            status = box[0](None, *args)
            if status:
                raise take(rt, status)
            return None
    else:
        restype = CTYPES[signature.ret]
        arity = len(signature.params)
        if arity == 1:
            def call(a: Any) -> Any:  # type: ignore[misc]
                rt = enter()
                result = restype()
                status = box[0](result, a)
                if status:
                    raise take(rt, status)
                return result.value
        elif arity == 2:
            def call(a: Any, b: Any) -> Any:  # type: ignore[misc]
                rt = enter()
                result = restype()
                status = box[0](result, a, b)
                if status:
                    raise take(rt, status)
                return result.value
        else:
            def call(*args: Any) -> Any:  # type: ignore[misc]
                rt = enter()
                result = restype()
                status = box[0](result, *args)
                if status:
                    raise take(rt, status)
                return result.value
    call.__name__ = name or "native"
    return call


def revoke(box: list[Any], message: str) -> None:
    """Make the caller holding `box` raise PluginError(message) instead of calling native code."""
    def revoked(*args: Any) -> Any:
        raise PluginError(message)
    box[0] = revoked


# ---------------------------------------------------------------- interruptible calls


#: The stack of the worker thread of `call_interruptibly` (reserved address space; only what is used is
#: touched): compiled code calls itself natively, method sends included, up to the recursion limit.
WORKER_STACK = 256 * 1024 * 1024
_stack_size_lock = threading.Lock()


def start_with_stack(thread: threading.Thread, size: int) -> None:
    """Start `thread` with a stack of `size` bytes (threading's stack size is read at start and is
    process-wide: set and restored around it, under a lock)."""
    with _stack_size_lock:
        old = threading.stack_size()
        threading.stack_size(size)
        try:
            thread.start()
        finally:
            threading.stack_size(old)


class _Worker:
    """The thread with a big stack (WORKER_STACK) that runs `call_interruptibly`'s calls one after the other:
    starting a thread for each call cost about 0.2 ms (its stack mapped, its Python state made). `busy` is
    set by the caller that takes it and cleared by the job when it ends."""

    def __init__(self) -> None:
        import queue

        self.jobs: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self.busy = False
        self.thread = threading.Thread(target=self._serve, name="rps-call", daemon=True)
        start_with_stack(self.thread, WORKER_STACK)

    def _serve(self) -> None:
        while True:
            self.jobs.get()()


_worker_lock = threading.Lock()
_workers: list[_Worker] = []


def _idle_worker() -> _Worker | None:
    """The process's call worker, now taken (busy), started on first use; None while it runs another call
    (a call made from a signal handler while the main thread waits: that one gets a thread of its own)."""
    with _worker_lock:
        if not _workers:
            _workers.append(_Worker())
        w = _workers[0]
        if w.busy or not w.thread.is_alive():
            return None
        w.busy = True
        return w


def _forget_workers() -> None:  # a forked child has none of the parent's threads
    _workers.clear()
    global _worker_lock
    _worker_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_workers)


def call_interruptibly(fn: Callable[..., Any], args: Sequence[Any], interrupt: Callable[[], None], *,
                       thread_name: str = "rps-call") -> tuple[bool, object, bool]:
    """Call `fn(*args)` on a worker thread while this thread waits; a KeyboardInterrupt (Ctrl-C) while it
    waits calls `interrupt()`, so that running compiled code traps INTERRUPT at its next loop back-edge,
    and the wait goes on until the call returns. Returns (True, result, interrupted) or
    (False, exception, interrupted), `interrupted` telling whether Ctrl-C was pressed.

    Only the main thread receives Ctrl-C: call it from there (elsewhere, call `fn` directly).
    """
    box: list[tuple[bool, object]] = []
    done = threading.Event()
    worker = _idle_worker()

    def work() -> None:
        try:
            box.append((True, fn(*args)))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box.append((False, exc))
        finally:
            if worker is not None:
                worker.busy = False
            done.set()

    interrupted = False
    try:
        if worker is not None:
            worker.jobs.put(work)
        else:
            # a big stack: native method sends nest on it (start raises only after the thread runs, while
            # waiting for it to have started)
            start_with_stack(threading.Thread(target=work, name=thread_name, daemon=True), WORKER_STACK)
    except KeyboardInterrupt:
        interrupted = True
        interrupt()
    # Wait on an Event, not Thread.join: a KeyboardInterrupt inside join() can leave the thread marked as
    # finished while it still runs (CPython 3.11), and the call would return before the code did.
    while not done.is_set():
        try:
            done.wait(0.05)
        except KeyboardInterrupt:
            interrupted = True
            interrupt()
    ok, value = box[0]
    return ok, value, interrupted


def call_with_rt(rt: RpsRt | ThreadStates, fn: Callable[..., Any], args: Sequence[Any]) -> Any:
    """Call `fn(*args)`, compiled code running on the state `rt` (or, for a `ThreadStates`, on the state of
    the thread that runs it), so that Ctrl-C stops it: from the main thread the call runs through
    `call_interruptibly`, Ctrl-C setting the interrupt flag of that state (and of the shared one); an
    interrupted call clears the flags and raises KeyboardInterrupt (from the INTERRUPT trap, when the code
    trapped). From another thread `fn` is called directly."""
    if threading.current_thread() is not threading.main_thread():
        return fn(*args)
    states = rt if isinstance(rt, ThreadStates) else None
    shared = states.shared if states is not None else rt
    assert isinstance(shared, RpsRt)
    workers: list[threading.Thread] = []
    pending = [False]

    def run(*a: Any) -> Any:
        workers.append(threading.current_thread())
        if pending[0] and states is not None:
            states.current().interrupt = 1
        return fn(*a)

    def interrupt() -> None:
        pending[0] = True
        shared.interrupt = 1
        if states is not None:
            for t in workers:
                states.interrupt(t)

    ok, value, interrupted = call_interruptibly(run, args, interrupt)
    if interrupted:
        shared.interrupt = 0
        if states is not None:
            for state in states.states():
                if getattr(state, "_rps_thread", None) in {t.ident for t in workers}:
                    state.interrupt = 0
    if not ok:
        assert isinstance(value, BaseException)
        if interrupted and isinstance(value, Trap) and value.code == TRAP_INTERRUPT:
            raise KeyboardInterrupt from value
        raise value
    if interrupted:
        raise KeyboardInterrupt
    return value
