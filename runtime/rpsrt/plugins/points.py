"""Extension points: typed, priority-ordered dispatch.

A native function has the ABI `int32_t fn(T *result, args...)` (rps/plugin.h); its signature string, its
ctypes caller (`native_caller`, which returns the result or raises `rpsrt.Trap` for a non-zero status) and
`revoke` live in `rpsrt.abi` and are re-exported here.

Thread safety: dispatch (`point(...)`) runs from any thread without a lock. Each point holds its dispatch
table as immutable tuples, rebuilt on a change under `_WRITE_LOCK` and swapped in by plain attribute
assignment (copy-on-write), so a dispatch sees the table before or after a change, never a half-built one.
`GRACE` tells an unloader when every dispatch that may still hold an old table has returned, so that a
plugin's code is unmapped only once nobody can be running it (see `Grace`).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rpsrt.abi import Signature, native_caller, revoke
from rpsrt.errors import PluginError

__all__ = ["GRACE", "MODES", "ExtensionPoint", "Grace", "Implementation", "Signature", "native_caller", "revoke"]

#: Dispatch modes: `first` returns the first implementation's result, `all` the list of every result.
MODES = ("first", "all")


class Grace:
    """Grace periods for lock-free readers (read-copy-update): a reader brackets its use of shared state
    with `enter()` / `exit(token)`; a writer publishes new state, then `synchronize()` returns once every
    reader that entered before the publication has exited. Readers after the publication see the new state.

    Two reader sets (deques: `append` and `pop` are atomic under the GIL) alternate as epochs. `synchronize`
    switches the current epoch and waits until the old one is empty: a reader that read the old epoch
    number entered before the switch (or reads the table after it, which is already the new one), and
    readers that come later join the new epoch, so the wait ends even under a constant stream of readers.
    A reader must not call `synchronize` itself (it would wait for itself).
    """

    __slots__ = ("_sets", "_cur", "_lock")

    def __init__(self) -> None:
        self._sets: tuple[deque[None], deque[None]] = (deque(), deque())
        self._cur = 0
        self._lock = threading.Lock()

    def enter(self) -> deque[None]:
        """Start a read; returns the token to pass to `exit`."""
        readers = self._sets[self._cur]
        readers.append(None)
        return readers

    @staticmethod
    def exit(token: deque[None]) -> None:
        token.pop()

    def synchronize(self, poll: float = 0.0005) -> None:
        """Wait until every reader that entered before this call has exited."""
        with self._lock:
            old = self._cur
            self._cur = 1 - old
            readers = self._sets[old]
            while readers:
                time.sleep(poll)


#: The grace periods of every extension point and every `PluginManager.function` callable of the process.
GRACE = Grace()
#: Serialises the copy-on-write updates of dispatch tables (dispatch itself takes no lock).
_WRITE_LOCK = threading.RLock()


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

    Thread-safe: dispatch from any thread, lock-free; `register`, `unregister` and the manager's changes
    rebuild the table under a lock and swap it in whole (see the module docstring).
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
        """Register a Python callable directly (host code); plugins register through the manager. A callable
        of the wrong arity, or declaring another result type, is refused here as it is there."""
        problem = python_impl_problem(function, self.signature)
        if problem is not None:
            raise PluginError(f"cannot register {name!r} for extension point {self.name!r}: {problem}")
        with _WRITE_LOCK:
            impl = Implementation(self.name, name, plugin, int(priority), self.next_seq(), function)
            self._add((impl,))
        return impl

    def unregister(self, impl: Implementation) -> None:
        """Remove one implementation (no error when it is absent); a dispatch running it may still finish."""
        with _WRITE_LOCK:
            self._set(tuple(i for i in self._impls if i is not impl))

    def _add(self, impls: Sequence[Implementation]) -> None:
        with _WRITE_LOCK:
            self._set(self._impls + tuple(impls))

    def _remove_plugin(self, plugin: str) -> None:
        with _WRITE_LOCK:
            self._set(tuple(i for i in self._impls if i.plugin != plugin))

    def _set(self, impls: tuple[Implementation, ...]) -> None:
        # Callers hold _WRITE_LOCK (the read-modify-write of `_impls`); each attribute is swapped whole.
        ordered = tuple(sorted(impls, key=lambda i: i.order_key))
        calls = tuple(i.call for i in ordered)
        self._calls = calls
        self._head = calls[0] if calls else self._none
        self._impls = ordered

    def __call__(self, *args: Any) -> Any:
        readers = GRACE.enter()
        try:
            if self._first:
                return self._head(*args)
            return [c(*args) for c in self._calls]
        finally:
            readers.pop()

    def _none(self, *args: Any) -> Any:
        raise PluginError(f"extension point {self.name} has no implementation")


_PY_RESULT = {"i64": ("int",), "f64": ("float",), "bool": ("bool",), "void": ("None", "NoneType")}


def python_impl_problem(function: Any, sig: Signature) -> str | None:
    """Why the Python callable `function` cannot implement `sig` (its arity, or a declared result type that
    is not the point's), or None. Callables whose signature Python cannot tell are accepted."""
    import inspect

    if not callable(function):
        return f"{function!r} is not callable"
    try:
        params = inspect.signature(function)
    except (TypeError, ValueError):
        return None
    try:
        params.bind(*([0] * len(sig.params)))
    except TypeError:
        shown = ", ".join(p for p in params.parameters) or "no parameters"
        return (f"the Python implementation takes ({shown}), but the point's signature {sig} passes "
                f"{len(sig.params)} argument(s)")
    ret = params.return_annotation
    if ret is inspect.Signature.empty:
        return None
    name = ret if isinstance(ret, str) else ("None" if ret is None else getattr(ret, "__name__", str(ret)))
    if name not in _PY_RESULT[sig.ret]:
        return f"the Python implementation declares the result {name}, but the point's signature {sig} returns " \
               f"{sig.ret} ({_PY_RESULT[sig.ret][0]})"
    return None
