"""The agenda: a priority queue of tasks run in the background by a small pool of worker threads.

As in RefPerSys, the agenda is where work that need not block its requester goes: the JIT's tier-up
recompilation (`rpsc.backends.llvm.jit`), plugin loading, store dumps, or any callable::

    from rpsrt.agenda import Agenda

    with Agenda(workers=2) as agenda:
        task = agenda.submit(manager.load, "geometry", priority=HIGH, name="load geometry")
        dump = agenda.submit(dump_heap, heap, "build/store")
        plugin = task.result(timeout=10)      # re-raises what the task raised

Tasks run by priority (higher first), then in submission order. Workers are started on the first
submission (at most `workers`, daemon threads). `shutdown(cancel=False)` drains: it waits for every queued
task; `shutdown(cancel=True)` cancels the tasks not yet started and waits for the running ones. After
shutdown, `submit` raises AgendaClosed. `default_agenda()` is one process-wide agenda of two workers,
drained at interpreter exit.

Thread safety: every method can be called from any thread, tasks included (a task may submit more tasks;
it must not wait for the agenda's shutdown or for a task queued behind it when every worker is busy).
"""

from __future__ import annotations

import atexit
import heapq
import itertools
import threading
from collections.abc import Callable
from typing import Any

from rpsrt.errors import Error

__all__ = ["HIGH", "LOW", "NORMAL", "Agenda", "AgendaClosed", "Task", "TaskCancelled", "default_agenda"]

#: Conventional priorities (any int works; higher runs first).
LOW, NORMAL, HIGH = -10, 0, 10


class AgendaClosed(Error):
    """Raised by `Agenda.submit` once the agenda is shut down."""


class TaskCancelled(Error):
    """Raised by `Task.result` for a task cancelled before it ran."""


class Task:
    """One queued callable and, once run, its outcome. States: queued, running, done, cancelled."""

    __slots__ = ("name", "priority", "_fn", "_args", "_kwargs", "_state", "_value", "_error", "_done", "_lock")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], priority: int,
                 name: str) -> None:
        self.name = name
        self.priority = priority
        self._fn, self._args, self._kwargs = fn, args, kwargs
        self._state = "queued"
        self._value: Any = None
        self._error: BaseException | None = None
        self._done = threading.Event()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Task {self.name!r} priority={self.priority} {self._state}>"

    @property
    def state(self) -> str:
        return self._state

    def done(self) -> bool:
        """Whether the task has finished (run to completion, raised, or been cancelled)."""
        return self._done.is_set()

    def cancel(self) -> bool:
        """Cancel the task if it has not started; True when it is (now) cancelled."""
        with self._lock:
            if self._state == "queued":
                self._state = "cancelled"
                self._fn = self._args = self._kwargs = None  # type: ignore[assignment]
                self._done.set()
            return self._state == "cancelled"

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the task is done; False on timeout."""
        return self._done.wait(timeout)

    def result(self, timeout: float | None = None) -> Any:
        """The task's return value; re-raises its exception; TaskCancelled, or TimeoutError on timeout."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"task {self.name!r} still {self._state} after {timeout} s")
        if self._state == "cancelled":
            raise TaskCancelled(f"task {self.name!r} was cancelled")
        if self._error is not None:
            raise self._error
        return self._value

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """What the task raised (None when it returned); TimeoutError on timeout."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"task {self.name!r} still {self._state} after {timeout} s")
        return self._error

    def _run(self) -> None:
        with self._lock:
            if self._state != "queued":
                return
            self._state = "running"
            fn, args, kwargs = self._fn, self._args, self._kwargs
        try:
            self._value = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - kept for result()
            self._error = exc
        finally:
            self._fn = self._args = self._kwargs = None  # type: ignore[assignment]
            self._state = "done"
            self._done.set()


class Agenda:
    """A priority queue of tasks and the worker threads running them (see the module docstring)."""

    def __init__(self, workers: int = 2, *, name: str = "rps-agenda") -> None:
        if workers < 1:
            raise ValueError(f"an agenda needs at least one worker, got {workers}")
        self.name = name
        self.max_workers = workers
        self._heap: list[tuple[int, int, Task]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._running = 0
        self._closed = False

    def submit(self, fn: Callable[..., Any], *args: Any, priority: int = NORMAL, name: str | None = None,
               **kwargs: Any) -> Task:
        """Queue `fn(*args, **kwargs)`; returns its Task."""
        task = Task(fn, args, kwargs, int(priority), name or getattr(fn, "__qualname__", repr(fn)))
        with self._cond:
            if self._closed:
                raise AgendaClosed(f"agenda {self.name} is shut down")
            heapq.heappush(self._heap, (-task.priority, next(self._seq), task))
            if len(self._threads) < self.max_workers and self._running + len(self._heap) > len(self._threads):
                t = threading.Thread(target=self._work, name=f"{self.name}-{len(self._threads)}", daemon=True)
                self._threads.append(t)
                t.start()
            self._cond.notify()
        return task

    def pending(self) -> int:
        """Tasks queued and not started."""
        with self._cond:
            return sum(1 for _, _, t in self._heap if t.state == "queued")

    def join(self, timeout: float | None = None) -> bool:
        """Wait until no task is queued or running (tasks may still be submitted later); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._heap and self._running == 0, timeout)

    def shutdown(self, *, cancel: bool = False, timeout: float | None = None) -> None:
        """Refuse new tasks; with `cancel`, cancel the queued ones; wait for the rest to finish (drain)."""
        with self._cond:
            self._closed = True
            if cancel:
                for _, _, task in self._heap:
                    task.cancel()
                self._heap.clear()
            self._cond.notify_all()
            threads = list(self._threads)
        me = threading.current_thread()
        for t in threads:
            if t is not me:
                t.join(timeout)

    @property
    def closed(self) -> bool:
        return self._closed

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._heap and not self._closed:
                    self._cond.wait()
                if not self._heap:   # closed and drained
                    return
                _, _, task = heapq.heappop(self._heap)
                self._running += 1
            try:
                task._run()
            finally:
                with self._cond:
                    self._running -= 1
                    self._cond.notify_all()

    def __enter__(self) -> Agenda:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


_default: Agenda | None = None
_default_lock = threading.Lock()


def default_agenda() -> Agenda:
    """The process-wide agenda (two workers), created on first use and drained at interpreter exit."""
    global _default
    with _default_lock:
        if _default is None or _default.closed:
            _default = Agenda(2, name="rps-agenda")
            atexit.register(_default.shutdown, cancel=True)
        return _default
