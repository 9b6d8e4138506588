"""Crash safety: a dump killed at any moment leaves a store that loads as the old heap or the new one."""

from __future__ import annotations

import os
import random
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rpsrt.model import wellknown as wk
from rpsrt.model.heap import Heap
from rpsrt.model.objects import PayloadSymbol
from rpsrt.store import journal
from rpsrt.store.core import new_heap
from rpsrt.store.reader import load_store
from rpsrt.store.writer import dump_store

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


def _populate(heap: Heap, space: Any, n: int, tag: str, rng: random.Random) -> list[Any]:
    name, comment = heap[wk.NAME], heap[wk.COMMENT]
    out: list[Any] = []
    for i in range(n):
        o = heap.create(heap[wk.SYMBOL], space=space, mtime=round(1.7e9 + i, 2))
        o.payload = PayloadSymbol(f"{tag}_{i}", rng.choice(out) if out else None)
        o.attrs[name] = f"{tag}_{i}"
        o.attrs[comment] = f"object {i} of {tag}: " + "x" * rng.randint(0, 200)
        out.append(o)
    return out


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> tuple[Heap, Heap, Path]:
    """(old heap, new heap, folder holding the old heap's store). The new heap changes objects in both old
    spaces, changes the roots and adds a space with objects: the manifest and three space files change."""
    rng = random.Random(7)
    old = new_heap()
    mod = old.create_space()
    a = _populate(old, old[wk.INITIAL_SPACE], 400, "init", rng)
    _populate(old, mod, 400, "mod", rng)
    old.roots.update(a[:10])
    top = tmp_path_factory.mktemp("crash") / "template"
    dump_store(old, top)
    new = load_store(top)  # an independent copy with the same OIDs
    extra = new.create_space()
    _populate(new, extra, 400, "extra", rng)
    for o in new.objects.values():
        if o.space is not None and o.space is not extra and rng.random() < 0.1:
            o.comps.append("changed")
    new.roots.difference_update(sorted(new.roots)[:3])
    new.roots.add(extra)
    return old, new, top


def _child(fn: Callable[[], None]) -> int:
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            fn()
        finally:
            os._exit(0)
    return pid


def _same(loaded: Heap, old_canon: Any, new_canon: Any) -> str | None:
    canon = loaded.canonical()
    if canon == old_canon:
        return "old"
    if canon == new_canon:
        return "new"
    return None


@pytest.mark.slow
def test_sigkill_at_random_moments(stores: tuple[Heap, Heap, Path], tmp_path: Path) -> None:
    """25 dumps killed with SIGKILL at random instants: each store loads as exactly the old or the new heap."""
    old, new, template = stores
    old_canon, new_canon = old.canonical(), new.canonical()
    assert old_canon != new_canon
    # Calibrate: how long an uninterrupted dump takes in a child.
    spans = []
    for _ in range(2):
        work = tmp_path / "calib"
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(template, work)
        t = time.perf_counter()
        pid = _child(lambda: dump_store(new, work))  # noqa: B023
        os.waitpid(pid, 0)
        spans.append(time.perf_counter() - t)
        assert _same(load_store(work), old_canon, new_canon) == "new"
    span = max(spans) * 1.2
    rng = random.Random(1234)
    outcomes = []
    for i in range(25):
        work = tmp_path / f"w{i}"
        shutil.copytree(template, work)
        pid = _child(lambda: dump_store(new, work))  # noqa: B023
        time.sleep(rng.uniform(0, span))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        state = _same(load_store(work), old_canon, new_canon)
        assert state is not None, f"kill {i}: the store is neither the old nor the new heap"
        outcomes.append(state)
        # The next dump finishes or discards the interrupted one.
        dump_store(new, work)
        assert _same(load_store(work), old_canon, new_canon) == "new"
        assert not list(work.rglob("*%")) and not (work / journal.JOURNAL).exists()
        shutil.rmtree(work)
    print("outcomes:", outcomes)


_MUTATIONS = ("replace", "link", "unlink", "rename", "open")


def _count_steps(new: Heap, work: Path) -> int:
    """How many file-system mutations an uninterrupted dump of `new` over `work` makes."""
    count = [0]
    saved = {n: getattr(os, n) for n in _MUTATIONS}

    def counting(name: str) -> Callable[..., Any]:
        def f(*args: Any, **kw: Any) -> Any:
            if name != "open" or (len(args) > 1 and args[1] & os.O_CREAT):
                count[0] += 1
            return saved[name](*args, **kw)
        return f

    try:
        for n in _MUTATIONS:
            setattr(os, n, counting(n))
        dump_store(new, work)
    finally:
        for n, f in saved.items():
            setattr(os, n, f)
    return count[0]


@pytest.mark.slow
def test_crash_before_each_step(stores: tuple[Heap, Heap, Path], tmp_path: Path) -> None:
    """A dump killed just before each of its file-system mutations, in turn: every state loads as old or new."""
    old, new, template = stores
    old_canon, new_canon = old.canonical(), new.canonical()
    scratch = tmp_path / "count"
    shutil.copytree(template, scratch)
    steps = _count_steps(new, scratch)
    assert steps >= 10  # temporaries, journal, backups, renames, journal removal
    seen = set()
    for k in range(steps + 1):
        work = tmp_path / f"s{k}"
        shutil.copytree(template, work)

        def crash_at_step(k: int = k, work: Path = work) -> None:
            count = [0]
            saved = {n: getattr(os, n) for n in _MUTATIONS}

            def killing(name: str) -> Callable[..., Any]:
                def f(*args: Any, **kw: Any) -> Any:
                    if name != "open" or (len(args) > 1 and args[1] & os.O_CREAT):
                        if count[0] == k:
                            os.kill(os.getpid(), signal.SIGKILL)
                        count[0] += 1
                    return saved[name](*args, **kw)
                return f

            for n in _MUTATIONS:
                setattr(os, n, killing(n))
            dump_store(new, work)

        pid = _child(crash_at_step)
        os.waitpid(pid, 0)
        state = _same(load_store(work), old_canon, new_canon)
        assert state is not None, f"crash before step {k}: neither old nor new"
        seen.add(state)
        if k == 0:
            assert state == "old"
        dump_store(new, work)
        assert _same(load_store(work), old_canon, new_canon) == "new"
        shutil.rmtree(work)
    assert seen == {"old", "new"}
