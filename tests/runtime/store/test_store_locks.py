"""Lock waits that speak: a command waiting for a store's lock held by another process says so on stderr,
naming the holder's pid, and `--lock-timeout SECONDS` ends the wait with exit 1 and a clear message."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import rpsrt
from rpsrt.store.core import new_heap
from rpsrt.store.journal import LockTimeout
from rpsrt.store.writer import dump_store

REPO = Path(__file__).resolve().parents[3]
MODULE = "module m1;\nfn twice(x: int) -> int { return 2 * x; }\n"

HOLD = """
import sys, time
from rpsrt.store import journal
store, which = sys.argv[1], sys.argv[2]
lock = journal.locked(store) if which == "update" else journal.generation(store, shared=False)
with lock:
    print("locked", flush=True)
    sys.stdin.read()   # until the test closes our stdin
"""


@contextmanager
def held(store: Path, which: str = "update") -> Iterator[subprocess.Popen[str]]:
    """A second, real process holding the store's update lock (or its generation lock) until the block ends."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(store), which], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "locked\n"
        yield proc
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=60)


def rpsc(*args: object, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rpsc", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A store holding the core objects."""
    st = tmp_path / "st"
    dump_store(new_heap(), st)
    return st


def _files(store: Path) -> dict[str, bytes]:
    return {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob("*")) if p.is_file()}


def test_compile_with_lock_timeout_gives_up_naming_the_holder(store: Path, tmp_path: Path) -> None:
    """`rpsc compile --lock-timeout 1` on a store whose lock another process holds says it waits (with that
    pid), then exits 1 with a timeout message, and leaves the store as it was."""
    (tmp_path / "m1.rps").write_text(MODULE)
    before = _files(store)
    with held(store) as holder:
        start = time.monotonic()
        proc = rpsc("compile", tmp_path / "m1.rps", "--store", store, "--lock-timeout", "1")
        took = time.monotonic() - start
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0] == f"waiting for the lock on {store} (held by pid {holder.pid})", proc.stderr
    assert lines[-1] == (f"{store}: error: timed out after 1 s waiting for the lock on the store "
                         f"(held by pid {holder.pid})"), proc.stderr
    assert "Traceback" not in proc.stderr
    assert took >= 1.0
    assert _files(store) == before


def test_compile_without_timeout_waits_then_succeeds(store: Path, tmp_path: Path) -> None:
    """Without `--lock-timeout`, `rpsc compile` announces the wait once and completes when the holder lets go."""
    (tmp_path / "m1.rps").write_text(MODULE)
    with held(store) as holder:
        child = subprocess.Popen([sys.executable, "-m", "rpsc", "compile", str(tmp_path / "m1.rps"), "--store",
                                  str(store)], stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        time.sleep(1.5)
        assert child.poll() is None, "the compile did not wait for the lock"
    _, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    assert err.splitlines() == [f"waiting for the lock on {store} (held by pid {holder.pid})"]
    assert "twice" in rpsc("show", "--store", store).stdout


def test_store_dump_and_new_take_lock_timeout(store: Path, tmp_path: Path) -> None:
    """`rpsc store dump SRC DST --lock-timeout` and `rpsc store new --lock-timeout` time out on a held lock."""
    dst = tmp_path / "dst"
    dump_store(new_heap(), dst)
    with held(dst) as holder:
        proc = rpsc("store", "dump", store, dst, "--lock-timeout", "0.5")
    assert proc.returncode == 1
    assert f"waiting for the lock on {dst} (held by pid {holder.pid})" in proc.stderr
    assert f"{dst}: error: timed out after 0.5 s waiting for the lock" in proc.stderr
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    with held(fresh):
        proc = rpsc("store", "new", fresh, "--lock-timeout", "0")
    assert proc.returncode == 1 and "timed out after 0 s" in proc.stderr, proc.stderr
    assert not (fresh / "rps_manifest.json").exists()


def test_load_waits_for_a_commit_and_can_time_out(store: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """A load while a dump holds the generation lock (its commit) waits, says so after a second with the
    holder's pid, and raises LockTimeout (a StoreError) after `lock_timeout` seconds."""
    with held(store, "generation") as holder:
        with pytest.raises(LockTimeout) as info:
            rpsrt.load_store(str(store), lock_timeout=1.5)
    assert isinstance(info.value, rpsrt.StoreError)
    assert str(info.value) == (f"{store}: error: timed out after 1.5 s waiting for the lock on the store "
                               f"(held by pid {holder.pid})")
    err = capfd.readouterr().err
    assert f"waiting for the lock on {store} (held by pid {holder.pid})" in err


def test_dump_timing_out_on_the_commit_lock_leaves_the_store_unchanged(store: Path) -> None:
    """A dump that cannot get the generation lock in time removes its temporaries; the store is unchanged."""
    heap = rpsrt.load_store(str(store))
    heap.create_space()
    before = _files(store)
    with held(store, "generation"):
        with pytest.raises(LockTimeout):
            dump_store(heap, store, lock_timeout=0.3)
    assert _files(store) == before
    assert len(os.listdir(store / "persistore")) == len([r for r in before if r.startswith("persistore/")])


COMPILE_UNDER_LOCK = """
import os, sys
import rpsrt
from rpsc.driver.pipeline import compile_sources, new_heap
from rpsrt.store.writer import dump_store, update_lock
store, source = sys.argv[1], sys.argv[2]
with update_lock(store):
    print("locked", flush=True)
    sys.stdin.readline()       # the test starts the other command, then lets us go on
    exists = os.path.exists(os.path.join(store, "rps_manifest.json"))
    heap = rpsrt.load_store(store) if exists else new_heap()
    compile_sources([("m1.rps", open(source).read())], heap)
    dump_store(heap, store, locked=True)
"""


@pytest.mark.parametrize("command", ["dump", "new"])
def test_store_dump_and_new_lose_no_update_committed_while_they_wait(store: Path, tmp_path: Path,
                                                                     command: str) -> None:
    """`rpsc store dump S S` (an in-place migration) and `rpsc store new S` (S an empty folder that a first
    compile is filling) started while the compile holds S's update lock check and load S only once they hold
    the lock: the compile's module is still there after them (`dump` keeps it; `new` refuses, a store being
    there now), never overwritten by an older or an empty heap."""
    if command == "new":
        store = tmp_path / "fresh"
        store.mkdir()
    src = tmp_path / "m1.rps"
    src.write_text(MODULE)
    proc = subprocess.Popen([sys.executable, "-c", COMPILE_UNDER_LOCK, str(store), str(src)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdin is not None and proc.stdout.readline() == "locked\n"
    argv = ["store", "dump", store, store] if command == "dump" else ["store", "new", store]
    other = subprocess.Popen([sys.executable, "-m", "rpsc", *map(str, argv)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    assert other.stderr is not None
    while "waiting for the lock" not in (line := other.stderr.readline()):  # it waits for the compile
        assert line and time.monotonic() < deadline, line
    proc.stdin.write("go\n")
    proc.stdin.close()
    assert proc.wait(timeout=120) == 0
    out, err = other.communicate(timeout=120)
    assert other.returncode == (0 if command == "dump" else 1), err
    if command == "new":
        assert "a store already exists here" in err
    done = subprocess.run([sys.executable, "-m", "rpsc", "run", "--store", str(store), "--backend", "interp",
                           "twice", "21"], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "42", done.stderr
