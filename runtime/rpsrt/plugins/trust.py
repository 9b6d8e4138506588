"""Which plugin files the host may trust, and opening a trusted file once.

The rules are those of ld.so's secure-execution mode and OpenSSH's `StrictModes`, applied to every native
plugin before a byte of it is parsed or run:

- the candidate is resolved with `realpath`; a symbolic link whose target is not directly in one of the
  (resolved) search-path folders is refused (reason "link");
- the file, its sidecar and every folder from the file's folder up to `/` (and from the folder the
  candidate was found in, when that differs) must be owned by the current user or root (reason "owner")
  and not writable by group or others (reason "permission"); an *ancestor* folder writable by others is
  accepted only with the sticky bit (as `/tmp`), where nobody can rename or delete what they do not own;
- the file is opened once (`O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK`); owner, mode, type, sha256
  and the ELF reader all work on that descriptor, and the manager `dlopen`s the same open file through
  `/proc/self/fd/N`, so no path is resolved again between verification and loading.

Every refusal is a `PluginRefused` (a PluginError) carrying its `reason`: "link", "owner", "permission",
"checksum", "manifest", "elf" (a malformed file) or "unreadable" (missing, or an I/O error).
"""

from __future__ import annotations

import errno
import hashlib
import mmap
import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from rpsrt.errors import PluginError

#: The reasons a plugin file can be refused for, as shown by `rpsc plugin list|check` and `--json`.
REASONS = ("link", "owner", "permission", "checksum", "manifest", "elf", "unreadable")

_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
#: A sidecar larger than this is refused (a manifest is a few kilobytes).
MAX_SIDECAR = 1 << 22


class PluginRefused(PluginError):
    """A plugin file refused before anything of it ran; `reason` is one of REASONS."""

    def __init__(self, message: str, *, reason: str, path: str | None = None, name: str | None = None) -> None:
        super().__init__(message, path=path)
        self.reason = reason
        #: the plugin name the file claims, when it could be read (for "plugin 'x' refused" messages).
        self.name = name


def refused(exc: PluginError, reason: str) -> PluginRefused:
    """`exc` as a PluginRefused with `reason` (kept as is when it already is one)."""
    if isinstance(exc, PluginRefused):
        return exc
    out = PluginRefused(exc.message, reason=reason, path=exc.path)
    out.line, out.oid = exc.line, exc.oid
    return out


def reason_of(exc: BaseException) -> str:
    """The refusal reason of an error raised while validating a plugin ("manifest" when it has none)."""
    return getattr(exc, "reason", None) or "manifest"


def trusted_owner(uid: int) -> bool:
    """True for files of the current (effective) user or of root."""
    return uid in (0, os.geteuid())


def _owner_text(uid: int) -> str:
    return f"uid {uid}"


def check_stat(st: os.stat_result, what: str, where: str, *, ancestor: bool = False) -> None:
    """Refuse `st` (of `what` at `where`) unless owned by us or root and not writable by group or others."""
    if not trusted_owner(st.st_uid):
        raise PluginRefused(f"refusing {what} owned by {_owner_text(st.st_uid)}: only files of the current user "
                            f"(uid {os.geteuid()}) or root are trusted", reason="owner", path=where)
    writable = st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    if writable and not (ancestor and st.st_mode & stat.S_ISVTX):
        extra = (": whoever can write there can replace the folders below it" if ancestor else "")
        raise PluginRefused(f"refusing {what} writable by group or others (mode {stat.S_IMODE(st.st_mode):04o})"
                            f"{extra}", reason="permission", path=where)


def check_folder_chain(folder: str, *, checked: set[str] | None = None) -> None:
    """Check `folder` (a resolved absolute path) and each of its ancestors up to `/`."""
    d = folder
    first = True
    while True:
        if checked is None or d not in checked:
            try:
                st = os.lstat(d)
            except OSError as exc:
                raise PluginRefused(f"cannot stat plugin folder: {exc.strerror}", reason="unreadable",
                                    path=d) from None
            if stat.S_ISLNK(st.st_mode):  # resolved paths hold no link: it was swapped since
                raise PluginRefused("plugin folder became a symbolic link", reason="link", path=d)
            if not stat.S_ISDIR(st.st_mode):
                raise PluginRefused("not a folder", reason="permission", path=d)
            check_stat(st, "plugin folder" if first else "ancestor folder", d, ancestor=not first)
            if checked is not None:
                checked.add(d)
        parent = os.path.dirname(d)
        if parent == d:
            return
        d, first = parent, False


def resolve_candidate(path: str, search_paths: Sequence[str] | None) -> str:
    """`path` resolved with realpath; with `search_paths`, refuse a target not directly in one of them.

    Also checks the folder chains of the target and of the folder `path` was found in.
    """
    found_in = os.path.realpath(os.path.dirname(os.path.abspath(path)) or ".")
    real = os.path.realpath(path)
    if search_paths is not None:
        real_paths = {os.path.realpath(p) for p in search_paths}
        if os.path.dirname(real) not in real_paths:
            shown = ", ".join(sorted(real_paths)) or "empty"
            if os.path.islink(path) or os.path.abspath(path) != real:
                raise PluginRefused(f"refusing a symbolic link to {real}, which is outside the search path "
                                    f"[{shown}]", reason="link", path=path)
            raise PluginRefused(f"refusing a plugin outside the search path [{shown}]", reason="link", path=path)
    checked: set[str] = set()
    check_folder_chain(os.path.dirname(real), checked=checked)
    if found_in != os.path.dirname(real):
        check_folder_chain(found_in, checked=checked)
    return real


@dataclass(eq=False)
class OpenedPlugin:
    """A plugin file opened once and verified on its descriptor: keep it open until `dlopen` is done."""

    path: str                    # the candidate path, as found
    real: str                    # its realpath (what was opened)
    fd: int
    st: os.stat_result
    data: mmap.mmap | bytes      # the file's bytes (an mmap of `fd`)
    _sha256: str | None = field(default=None, repr=False)

    @property
    def sha256(self) -> str:
        if self._sha256 is None:
            self._sha256 = hashlib.sha256(self.data).hexdigest()
        return self._sha256

    def proc_path(self) -> str:
        """A name under which `dlopen` opens exactly this descriptor's file."""
        return f"/proc/self/fd/{self.fd}"

    def unmap(self) -> None:
        """Drop the bytes (the descriptor stays open)."""
        if isinstance(self.data, mmap.mmap):
            try:
                self.data.close()
            except BufferError:  # a view of it is still alive: the mapping goes with the last one
                pass
        self.data = b""

    def close(self) -> None:
        self.unmap()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> OpenedPlugin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_plugin(path: str | os.PathLike[str], search_paths: Sequence[str] | None = None, *,
                strict: bool = True) -> OpenedPlugin:
    """Resolve, check and open the plugin file `path` once; the caller closes the result.

    `search_paths` (when given) is where the resolved file must be; `strict=False` skips the owner, mode and
    folder checks (for `rpsc plugin inspect` of any file, which never loads it).
    """
    p = os.fspath(path)
    real = resolve_candidate(p, search_paths) if strict else os.path.realpath(p)
    try:
        fd = os.open(real, _OPEN_FLAGS)
    except OSError as exc:
        # ELOOP: the last component became a link since it was resolved
        reason = {errno.ELOOP: "link", errno.EACCES: "permission", errno.EPERM: "permission"}.get(
            exc.errno or 0, "unreadable")
        raise PluginRefused(f"cannot read plugin: {exc.strerror}", reason=reason, path=p) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise PluginRefused("plugin is not a regular file", reason="permission", path=p)
        if strict:
            check_stat(st, "plugin file", p)
        data: mmap.mmap | bytes
        if st.st_size == 0:
            data = b""
        else:
            try:
                data = mmap.mmap(fd, 0, mmap.MAP_SHARED, mmap.PROT_READ)
            except (OSError, ValueError) as exc:
                raise PluginRefused(f"cannot map plugin: {exc}", reason="elf", path=p) from None
        return OpenedPlugin(p, real, fd, st, data)
    except BaseException:
        os.close(fd)
        raise


def read_trusted_sidecar(side: str, *, strict: bool = True) -> bytes | None:
    """The bytes of the sidecar `side` (None when there is none), opened without following a link and
    checked for owner and mode on its descriptor."""
    try:
        fd = os.open(side, _OPEN_FLAGS)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise PluginRefused("refusing a sidecar that is a symbolic link", reason="link", path=side) from None
        raise PluginRefused(f"cannot read sidecar manifest: {exc.strerror}", reason="unreadable",
                            path=side) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise PluginRefused("sidecar is not a regular file", reason="permission", path=side)
        if strict:
            check_stat(st, "sidecar", side)
        if st.st_size > MAX_SIDECAR:
            raise PluginRefused(f"sidecar is too large ({st.st_size} bytes)", reason="manifest", path=side)
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
            if sum(map(len, chunks)) > MAX_SIDECAR:
                raise PluginRefused("sidecar is too large", reason="manifest", path=side)
        return b"".join(chunks)
    finally:
        os.close(fd)


def check_path(path: str | os.PathLike[str], search_paths: Iterable[str] | None = None) -> None:
    """Every trust check of `open_plugin` on `path` (and its sidecar's owner and mode), without keeping it
    open; without `search_paths`, the file's own folder is the search path (a link out of it is refused)."""
    from rpsrt.plugins.manifest import sidecar_path

    paths = list(search_paths) if search_paths is not None else [os.path.dirname(os.path.abspath(path))]
    with open_plugin(path, paths) as opened:
        read_trusted_sidecar(os.fspath(sidecar_path(opened.real)))
