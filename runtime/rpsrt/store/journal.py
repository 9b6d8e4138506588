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
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
from collections.abc import Iterator

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
    pairs = _pairs(raw, jpath)
    out = {}
    for rel, tmp in pairs:
        tpath = os.path.join(top, tmp)
        if os.path.exists(tpath):
            out[rel] = tpath
    return out


def _pairs(raw: bytes, jpath: str) -> list[tuple[str, str]]:
    try:
        data = json.loads(raw)
        pairs = [(str(a), str(b)) for a, b in data["renames"]]
    except (ValueError, KeyError, TypeError):
        raise StoreError("corrupt dump journal", path=jpath) from None
    for rel, tmp in pairs:
        if os.path.isabs(rel) or ".." in rel.split("/") or not tmp.startswith(rel) or not _TEMP.match(tmp):
            raise StoreError(f"dump journal names a bad path {rel!r}", path=jpath)
    return pairs


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


@contextlib.contextmanager
def locked(top: str) -> Iterator[None]:
    """Hold an exclusive lock on the store directory (one dumper at a time)."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
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
