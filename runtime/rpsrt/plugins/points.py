"""Extension points: typed signatures, native callers over ctypes, and priority-ordered dispatch.

A native function has the ABI `int32_t fn(T *result, args...)` (rps/plugin.h); `native_caller` wraps one in
a Python callable, built once, that returns the result or raises `rpsrt.Trap` for a non-zero status.
"""

from __future__ import annotations

import ctypes
import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rpsrt.errors import PluginError
from rpsrt.rt import RpsRt, take_trap

#: Dispatch modes: `first` returns the first implementation's result, `all` the list of every result.
MODES = ("first", "all")

_CTYPES: dict[str, Any] = {"i64": ctypes.c_int64, "f64": ctypes.c_double, "bool": ctypes.c_bool}
_SIG_RE = re.compile(r"\s*(i64|f64|bool|void)\s*\(\s*((?:i64|f64|bool)(?:\s*,\s*(?:i64|f64|bool))*)?\s*\)\s*")
_TYPE_RE = re.compile(r"i64|f64|bool")


@dataclass(frozen=True, slots=True)
class Signature:
    """A typed signature `ret(params...)` over i64, f64, bool (and void as a result)."""

    ret: str
    params: tuple[str, ...]

    @classmethod
    def parse(cls, text: object, *, path: str | None = None) -> Signature:
        m = _SIG_RE.fullmatch(text) if isinstance(text, str) else None
        if m is None:
            raise PluginError(f"invalid signature {text!r} (expected e.g. 'i64(i64,i64)' over i64, f64, bool, "
                              "void)", path=path)
        return cls(m[1], tuple(_TYPE_RE.findall(m[2] or "")))

    def __str__(self) -> str:
        return f"{self.ret}({','.join(self.params)})"

    def prototype(self) -> Any:
        """The ctypes function type of the native ABI: `int32_t (T *result, T1, ...)`."""
        res = ctypes.c_void_p if self.ret == "void" else ctypes.POINTER(_CTYPES[self.ret])
        return ctypes.CFUNCTYPE(ctypes.c_int32, res, *(_CTYPES[p] for p in self.params))


def native_caller(address: int, signature: Signature, rt: RpsRt | None, name: str = "",
                  revocable: list[list[Any]] | None = None) -> Callable[..., Any]:
    """A Python callable for the native function at `address` (ABI `int32_t fn(T *result, args...)`).

    The ctypes prototype is built here, once. A non-zero status raises Trap (site read from `rt`).
    With `revocable`, the function sits in a one-element list appended to it: `revoke(box, message)` swaps
    in a function raising PluginError, so that a caller kept after its plugin is unloaded never jumps into
    unmapped memory.
    """
    box: list[Any] = [signature.prototype()(address)]
    if revocable is not None:
        revocable.append(box)
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
        restype = _CTYPES[signature.ret]
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


def revoke(box: list[Any], message: str) -> None:
    """Make the caller holding `box` raise PluginError(message) instead of calling native code."""
    def revoked(*args: Any) -> Any:
        raise PluginError(message)
    box[0] = revoked


@dataclass(frozen=True, slots=True)
class Implementation:
    """One registered implementation of an extension point.

    Dispatch order is by `priority` (higher first), then `plugin` name, then registration order (`seq`).
    `address` is the native function's address, or None for a Python callable.
    """

    point: str
    name: str
    plugin: str
    priority: int
    seq: int
    call: Callable[..., Any]
    address: int | None = None

    @property
    def order_key(self) -> tuple[int, str, int]:
        return (-self.priority, self.plugin, self.seq)


class ExtensionPoint:
    """A named, typed hook that plugins implement; calling it dispatches in priority order.

    Mode `first` returns the result of the first implementation (PluginError when there is none); mode
    `all` returns the list of every implementation's result, in dispatch order. The ordered list of
    callables is rebuilt at each registration change, never per call.
    """

    __slots__ = ("name", "signature", "mode", "_impls", "_calls", "_head", "_first", "_seq")

    def __init__(self, name: str, signature: str | Signature, mode: str = "first") -> None:
        from rpsrt.plugins.manifest import SYMBOL_RE

        if not isinstance(name, str) or SYMBOL_RE.fullmatch(name) is None:
            raise PluginError(f"invalid extension point name {name!r} (an identifier)")
        if mode not in MODES:
            raise PluginError(f"extension point {name}: invalid dispatch mode {mode!r} (first or all)")
        self.name = name
        self.signature = signature if isinstance(signature, Signature) else Signature.parse(signature)
        self.mode = mode
        self._impls: tuple[Implementation, ...] = ()
        self._calls: tuple[Callable[..., Any], ...] = ()
        self._head: Callable[..., Any] = self._none
        self._first = mode == "first"
        self._seq = itertools.count()

    @classmethod
    def from_spec(cls, name: str, signature: str, mode: str = "first") -> ExtensionPoint:
        """Declare a point from stored data: a name, a signature string and a mode string."""
        return cls(name, signature, mode)

    def __repr__(self) -> str:
        return f"ExtensionPoint({self.name!r}, {str(self.signature)!r}, {self.mode!r})"

    @property
    def implementations(self) -> tuple[Implementation, ...]:
        """The registered implementations, in dispatch order."""
        return self._impls

    def next_seq(self) -> int:
        return next(self._seq)

    def register(self, name: str, function: Callable[..., Any], priority: int = 0, *,
                 plugin: str = "") -> Implementation:
        """Register a Python callable directly (host code); plugins register through the manager."""
        impl = Implementation(self.name, name, plugin, int(priority), self.next_seq(), function)
        self._add((impl,))
        return impl

    def unregister(self, impl: Implementation) -> None:
        """Remove one implementation (no error when it is absent)."""
        self._set(tuple(i for i in self._impls if i is not impl))

    def _add(self, impls: Sequence[Implementation]) -> None:
        self._set(self._impls + tuple(impls))

    def _remove_plugin(self, plugin: str) -> None:
        self._set(tuple(i for i in self._impls if i.plugin != plugin))

    def _set(self, impls: tuple[Implementation, ...]) -> None:
        ordered = tuple(sorted(impls, key=lambda i: i.order_key))
        self._impls = ordered
        self._calls = tuple(i.call for i in ordered)
        self._head = self._calls[0] if self._calls else self._none

    def __call__(self, *args: Any) -> Any:
        if self._first:
            return self._head(*args)
        return [c(*args) for c in self._calls]

    def _none(self, *args: Any) -> Any:
        raise PluginError(f"extension point {self.name} has no implementation")
