"""The on-disk object cache of the JIT: object code keyed by a hash of the unoptimised LLVM IR and options.

A second, small index maps a digest of the *typed IR* (`ir_digest`) to the object key, so that a warm
start skips even the generation of LLVM IR: the typed IR's digest gives the object key, the object file
gives the code. The object entry itself is always keyed by the LLVM IR text.

The key covers everything the object code depends on: the unoptimised IR text, the target triple, the CPU
name and features, the optimisation level, the llvmlite (and LLVM) version and this backend's own version
(`CODEGEN_VERSION`), so a lookup happens *before* optimisation and a hit skips both optimisation and code
generation. Entries live in `<dir>/<key[:2]>/<key>.o`, each with a header (magic, payload length, SHA-256
of the payload); a truncated or corrupt entry is ignored (and rebuilt by the caller). Writes are atomic:
a temporary file in the same folder, flushed, then renamed into place.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from rpsc.backends.llvm import CODEGEN_VERSION  # defined there, read here: see its comment

_MAGIC = b"RPSCOBJ1"
_HEADER = struct.Struct("<8sQ32s")  # magic, payload length, sha256(payload)


def default_cache_dir() -> Path:
    """`$RPSC_CACHE_DIR`, else `$XDG_CACHE_HOME/rpsc`, else `~/.cache/rpsc` (`rpsc.cachedir.cache_root`)."""
    from rpsc.cachedir import cache_root

    return cache_root()


@dataclass(frozen=True, slots=True)
class TargetKey:
    """What the object code depends on besides the IR text."""

    triple: str
    cpu: str
    features: str
    opt_level: int
    llvmlite_version: str
    llvm_version: str
    reloc: str = "pic"
    codemodel: str = "small"


def cache_key(ir_text: str, target: TargetKey) -> str:
    """The hex SHA-256 naming the object code of `ir_text` compiled for `target`."""
    h = hashlib.sha256()
    for part in (CODEGEN_VERSION, target.triple, target.cpu, target.features, str(target.opt_level),
                 target.llvmlite_version, target.llvm_version, target.reloc, target.codemodel):
        h.update(part.encode())
        h.update(b"\0")
    h.update(ir_text.encode())
    return h.hexdigest()


def ir_digest(module_repr: str, target: TargetKey) -> str | None:
    """The hex SHA-256 of a typed IR module's `repr` for `target`, or None when the repr is ambiguous
    (a NaN constant's sign and payload do not show in `repr`)."""
    if "nan" in module_repr:
        return None
    return cache_key("typed-ir\0" + module_repr, target)


@dataclass(slots=True)
class CacheStats:
    hits: int = 0
    misses: int = 0
    corrupt: int = 0
    writes: int = 0
    write_errors: int = 0


@dataclass(slots=True)
class ObjectCache:
    """Object files on disk under `directory`, keyed by `cache_key`."""

    directory: Path
    stats: CacheStats = field(default_factory=CacheStats)

    def path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.o"

    def get(self, key: str) -> bytes | None:
        """The cached object code of `key`, or None when absent, truncated or corrupt."""
        try:
            blob = self.path(key).read_bytes()
        except OSError:
            self.stats.misses += 1
            return None
        payload = _unwrap(blob)
        if payload is None:
            self.stats.corrupt += 1
            self.stats.misses += 1
            return None
        self.stats.hits += 1
        with contextlib.suppress(OSError):
            os.utime(self.path(key))  # the last use: `rpsc cache prune --max-size` drops the oldest first
        return payload

    def alias_path(self, digest: str) -> Path:
        return self.directory / "ir" / digest[:2] / digest

    def get_alias(self, digest: str) -> str | None:
        """The object key recorded for a typed-IR digest, or None."""
        try:
            text = self.alias_path(digest).read_text().strip()
        except (OSError, UnicodeDecodeError):
            return None
        if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
            return None
        return text

    def put_alias(self, digest: str, key: str) -> None:
        """Record that the typed IR `digest` compiles to the object `key` (atomic; errors skipped)."""
        _write_quietly(self.alias_path(digest), key.encode(), self.stats)

    def put(self, key: str, data: bytes) -> None:
        """Store `data` under `key` atomically; a cache that cannot be written is skipped, not an error."""
        blob = _HEADER.pack(_MAGIC, len(data), hashlib.sha256(data).digest()) + data
        if _write_quietly(self.path(key), blob, self.stats):
            self.stats.writes += 1


def write_atomic(target: Path, data: bytes) -> None:
    """Write `data` to `target` through a temporary file in the same folder, fsynced, then renamed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name[:16]}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _write_quietly(target: Path, data: bytes, stats: CacheStats) -> bool:
    """`write_atomic`, except that an OSError is counted in `stats` and reported as False; the first one
    of a cache is also said once on stderr (the JIT still works, only without its cache)."""
    try:
        write_atomic(target, data)
    except OSError as exc:
        if stats.write_errors == 0:
            import sys

            where = exc.filename or target
            print(f"rpsc: warning: cannot write the JIT object cache ({where}: {exc.strerror or exc}); "
                  "continuing without it", file=sys.stderr)
        stats.write_errors += 1
        return False
    return True


def _unwrap(blob: bytes) -> bytes | None:
    if len(blob) < _HEADER.size:
        return None
    magic, length, digest = _HEADER.unpack_from(blob)
    payload = blob[_HEADER.size:]
    if magic != _MAGIC or length != len(payload) or hashlib.sha256(payload).digest() != digest:
        return None
    return payload

