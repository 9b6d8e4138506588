"""The dump journal: how several files of a store change as one atomic step (see docs/store.md).

A dump writes every changed file under a temporary name `<path><suffix>` beside it (suffix as upstream's:
`%.7s-p%d%%` of a random OID and the pid), fsyncs them and their directories, then **commits** by renaming
a journal `rpsc-dump-journal.json` into the store: it lists each `(path, temporary)` pair. Only after the
commit are the temporaries renamed into place (upstream's `~` backups kept), and then the journal is removed.

* A reader that finds no journal reads the plain paths: the old generation, or the new one once the journal
  is gone (temporaries left by a crash before the commit are ignored).
* A reader that finds a journal reads, for each listed path, the temporary when it still exists (its rename
  has not happened yet), else the path (already renamed): the new generation, complete.
* The next dump first finishes a committed journal (`recover`) and removes leftover temporaries.

Two `flock` locks, neither needing a file of its own (see docs/store.md, "Isolation and locking"):

* the **update lock**, exclusive, on the store directory: one dumper (or one load-change-dump of `rpsc compile`,
  `rpsc build`) at a time (`locked`);
* the **generation lock**, on the store's `persistore/` directory: a reader holds it shared while it reads the
  bytes of the manifest and of every space file, a dumper holds it exclusive while it finishes a journal,
  commits and moves files into place (`generation`), so a load sees the old or the new state, never a mix.

A wait on either says so on stderr (`waiting for the lock on STORE (held by pid N)`) and gives up with a
`LockTimeout` after `timeout` seconds when one is given (None: wait as long as it takes).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterator

import orjson

from rpsrt.errors import StoreError

JOURNAL = "rpsc-dump-journal.json"
#: A temporary file name: `<path>` + `_` + 6 OID digits + `-p<pid>%`.
_TEMP = re.compile(r".+_[0-9A-Za-z]{6}-p\d+%\Z")


def resolve_paths(top: str) -> dict[str, str]:
    """Store-relative path -> file to read instead, as a committed journal dictates (empty without one)."""
    jpath = os.path.join(top, JOURNAL)
    try:
        with open(jpath, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise StoreError(f"cannot read the dump journal: {exc.strerror or exc}", path=jpath, line=1) from None
    pairs = _pairs(raw, jpath)
    out = {}
    for rel, tmp in pairs:
        tpath = os.path.join(top, tmp)
        if os.path.exists(tpath):
            out[rel] = tpath
    return out


def _pairs(raw: bytes, jpath: str) -> list[tuple[str, str]]:
    """The `(path, temporary)` pairs of a journal's bytes; a located StoreError for anything malformed
    (orjson refuses bad UTF-8, nesting beyond 1024 levels and ints beyond 64 bits)."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise StoreError(f"corrupt dump journal: {exc.msg}", path=jpath, line=max(1, exc.lineno)) from None
    renames = data.get("renames") if type(data) is dict else None
    if type(renames) is not list:
        raise StoreError("corrupt dump journal: it is not an object with a `renames` array", path=jpath, line=1)
    pairs = []
    for p in renames:
        if type(p) is not list or len(p) != 2 or type(p[0]) is not str or type(p[1]) is not str:
            raise StoreError(f"corrupt dump journal: a rename is not a pair of paths: {_short(p)}", path=jpath,
                             line=1)
        rel, tmp = p
        if (not rel or os.path.isabs(rel) or ".." in rel.split("/") or "\0" in rel or "\0" in tmp
                or not tmp.startswith(rel) or not _TEMP.match(tmp)):
            raise StoreError(f"dump journal names a bad path {_short(rel)}", path=jpath, line=1)
        pairs.append((rel, tmp))
    return pairs


def _short(v: object) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: str, data: bytes) -> None:
    """Write `data` to a new file `path` and fsync it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
    finally:
        os.close(fd)


class LockTimeout(StoreError):
    """A store lock not obtained within the time given (`--lock-timeout`)."""


#: How long a reader (or a dumper waiting on readers) waits in silence before it says it is waiting: such waits
#: are normally a few milliseconds.
QUIET_WAIT = 1.0


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def lock_holder(fd: int) -> int | None:
    """The pid holding an flock on the file open as `fd`, from /proc/locks (Linux); None when unknown."""
    try:
        st = os.fstat(fd)
        with open("/proc/locks", encoding="ascii", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    want = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    for line in lines:
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 22128 fe:00:2148904 0 EOF"; a blocked waiter's line has "->" after "1:".
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == want:
            with contextlib.suppress(ValueError):
                return int(fields[4])
    return None


def _holder_text(fd: int) -> str:
    pid = lock_holder(fd)
    if pid is None:
        return "held by another process"
    return "held by this process" if pid == os.getpid() else f"held by pid {pid}"


def acquire(fd: int, mode: int, store: str, *, timeout: float | None = None, quiet: float = 0.0,
            say: Callable[[str], None] = _say) -> bool:
    """flock `fd` in `mode` (LOCK_SH or LOCK_EX). When it is busy, say `waiting for the lock on STORE (held by
    pid N)` once `quiet` seconds have passed, and raise LockTimeout after `timeout` seconds (None: wait).
    False when the file system has no flock (the caller goes on unlocked), True once locked."""
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        pass
    except OSError as exc:
        if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
            return False
        raise
    start = time.monotonic()
    told = False
    pause = 0.005
    while True:
        waited = time.monotonic() - start
        if not told and waited >= quiet:
            say(f"waiting for the lock on {store} ({_holder_text(fd)})")
            told = True
        if timeout is not None and waited >= timeout:
            raise LockTimeout(f"timed out after {timeout:g} s waiting for the lock on the store ({_holder_text(fd)})",
                              path=store)
        if timeout is None and told:
            fcntl.flock(fd, mode)  # nothing left to say or to time: block
            return True
        left = pause
        if not told:
            left = min(left, quiet - waited)
        if timeout is not None:
            left = min(left, timeout - waited)
        time.sleep(max(left, 0.001))
        pause = min(pause * 2, 0.1)
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            pass


@contextlib.contextmanager
def locked(top: str, *, timeout: float | None = None) -> Iterator[None]:
    """Hold the update lock: exclusive, on the store directory (one dumper at a time)."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        acquire(fd, fcntl.LOCK_EX, top, timeout=timeout)
        yield
    finally:
        os.close(fd)


@contextlib.contextmanager
def generation(top: str, *, shared: bool, timeout: float | None = None) -> Iterator[None]:
    """Hold the generation lock on `top/persistore`: shared to read one generation's bytes, exclusive to change
    which generation the store holds. Without a `persistore` folder (no store, or not yet) nothing is locked."""
    try:
        fd = os.open(os.path.join(top, "persistore"), os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        yield
        return
    try:
        acquire(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX, top, timeout=timeout, quiet=QUIET_WAIT)
        yield
    finally:
        os.close(fd)


def commit(top: str, renames: list[tuple[str, str]]) -> None:
    """Atomically record `renames` (store-relative `(path, temporary)` pairs) as the new generation."""
    jpath = os.path.join(top, JOURNAL)
    tmp = jpath + ".tmp"
    write_durably(tmp, json.dumps({"renames": [list(p) for p in renames]}).encode())
    os.replace(tmp, jpath)
    fsync_dir(top)


def apply(top: str, renames: list[tuple[str, str]]) -> None:
    """Move each temporary into place (sorted by path), keeping `path~` and `path~~`, then drop the journal."""
    dirs = set()
    for rel, tmp in sorted(renames):
        path = os.path.join(top, rel)
        tpath = os.path.join(top, tmp)
        dirs.add(os.path.dirname(path))
        if not os.path.exists(tpath):
            continue  # renamed before an interruption
        if os.path.exists(path):
            bak = path + "~"
            if os.path.exists(bak) and not os.path.samefile(bak, path):
                os.replace(bak, bak + "~")
            if not os.path.exists(bak):
                # A hard link: `path` itself never disappears, even for a reader without journal support.
                try:
                    os.link(path, bak)
                except OSError:
                    shutil.copy2(path, bak)
        os.replace(tpath, path)
    for d in sorted(dirs):
        fsync_dir(d)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(top, JOURNAL))
    fsync_dir(top)


def recover(top: str) -> None:
    """Finish a dump interrupted after its commit, and remove temporaries of dumps interrupted before it."""
    jpath = os.path.join(top, JOURNAL)
    if os.path.exists(jpath):
        with open(jpath, "rb") as f:
            apply(top, _pairs(f.read(), jpath))
    for d in (top, os.path.join(top, "persistore"), os.path.join(top, "generated")):
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            if _TEMP.match(name) or name == JOURNAL + ".tmp":
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(os.path.join(d, name))
