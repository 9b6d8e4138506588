"""Plugin manifests: parsing and validation, sidecar files and checksums (versions: `rpsrt.versions`).

Nothing here runs plugin code: a manifest comes from a sidecar `<plugin>.json` or from the bytes of the
`rps_plugin_manifest` symbol read out of the ELF file (`rpsrt.plugins.elf`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rpsrt import versions
from rpsrt.abi import PLUGIN_ABI_VERSION
from rpsrt.errors import PluginError

#: The ABI version this host implements (`RPS_PLUGIN_ABI_VERSION` in rps/plugin.h; `rpsrt.abi` holds it).
ABI_VERSION = PLUGIN_ABI_VERSION

#: A plugin name: an identifier (letters, digits, `_`, `-`; never a path, never starting with `-` or a digit).
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,127}")
#: An exported symbol or implementation name: a C identifier.
SYMBOL_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
#: A plugin version: MAJOR.MINOR.PATCH.

Version = tuple[int, int, int]


def is_plugin_name(name: object) -> bool:
    """True when `name` is a valid plugin name (an identifier, not a path)."""
    return isinstance(name, str) and NAME_RE.fullmatch(name) is not None


def check_plugin_name(name: object, *, path: str | None = None) -> str:
    """Return `name` if it is a valid plugin name, else raise PluginError."""
    if not is_plugin_name(name):
        raise PluginError(f"invalid plugin name {name!r}: a plugin name is an identifier "
                          "(letters, digits, '_', '-'), never a path", path=path)
    return name  # type: ignore[return-value]


def parse_version(text: object, *, path: str | None = None) -> Version:
    """`"1.2.3"` -> (1, 2, 3); anything else (a pre-release or build suffix included) is a PluginError."""
    try:
        v = versions.Version.parse(text)
    except versions.VersionError:
        v = None
    if v is None or v.prerelease or v.build:
        raise PluginError(f"invalid version {text!r} (expected MAJOR.MINOR.PATCH)", path=path)
    return v.release


class VersionConstraint(versions.Constraint):
    """A manifest's version constraint: `rpsrt.versions.Constraint` (the one version rule, SimpleSpec's
    semantics: `>=1.0, <2`, `^1.2`, `~1.2.3`, `==1`, `*`, ...) whose `parse` reports a PluginError."""

    __slots__ = ()

    @classmethod
    def parse(cls, text: object, *, path: str | None = None) -> VersionConstraint:
        try:
            c = versions.Constraint.parse(text)
        except versions.VersionError as exc:
            raise PluginError(exc.message, path=path) from None
        return cls(c.text, c.bounds)


@dataclass(frozen=True, slots=True)
class Requirement:
    """One entry of a manifest's `requires`: a plugin name and a version constraint."""

    name: str
    constraint: VersionConstraint


@dataclass(frozen=True, slots=True)
class Export:
    """One entry of a manifest's `exports`: a native symbol, its source name and its signature string;
    `heap`: the function does heap operations (version 2: it is called with the GIL kept, docs/plugin-abi.md
    "The GIL"; a signature with heap types is called so anyway)."""

    symbol: str
    name: str
    signature: str
    heap: bool = False


@dataclass(frozen=True, slots=True)
class Manifest:
    """A validated plugin manifest. `raw` keeps the JSON object as read (unknown members included)."""

    name: str
    version: Version
    abi: int
    requires: tuple[Requirement, ...]
    exports: tuple[Export, ...]
    raw: Mapping[str, Any]

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version))


def parse_manifest(data: object, *, path: str | None = None) -> Manifest:
    """Validate a manifest (bytes/str of JSON, or an already decoded mapping) and return it.

    Raises PluginError naming `path` for malformed JSON, a missing or wrong member, a name that is not an
    identifier, a bad version, or an ABI other than ABI_VERSION; never another exception (a manifest may
    come from a hostile file: JSON nested too deep or numbers too long are malformed manifests too).
    """
    try:
        return _parse_manifest(data, path=path)
    except (ValueError, TypeError, RecursionError, OverflowError) as exc:
        raise PluginError(f"malformed manifest: {type(exc).__name__}: {str(exc)[:200]}", path=path) from None


def _parse_manifest(data: object, *, path: str | None = None) -> Manifest:
    if isinstance(data, (bytes, bytearray)):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise PluginError(f"malformed manifest: not UTF-8 ({exc.reason})", path=path) from None
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise PluginError(f"malformed manifest: {exc.msg} at line {exc.lineno} column {exc.colno}",
                              path=path) from None
    if not isinstance(data, Mapping):
        raise PluginError("malformed manifest: not a JSON object", path=path)
    for key in ("name", "version", "abi"):
        if key not in data:
            raise PluginError(f"malformed manifest: missing {key!r}", path=path)
    name = check_plugin_name(data["name"], path=path)
    version = parse_version(data["version"], path=path)
    abi = data["abi"]
    if not isinstance(abi, int) or isinstance(abi, bool):
        raise PluginError(f"malformed manifest: 'abi' must be an integer, not {abi!r}", path=path)
    if abi != ABI_VERSION:
        raise PluginError(f"plugin {name!r} is built for plugin ABI {abi}; this host implements ABI "
                          f"{ABI_VERSION}", path=path)
    requires_raw = data.get("requires", [])
    if not isinstance(requires_raw, list):
        raise PluginError("malformed manifest: 'requires' must be a list", path=path)
    requires = []
    for entry in requires_raw:
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, Mapping) or "name" not in entry:
            raise PluginError(f"malformed manifest: bad 'requires' entry {entry!r}", path=path)
        rname = check_plugin_name(entry["name"], path=path)
        requires.append(Requirement(rname, VersionConstraint.parse(entry.get("version", ""), path=path)))
    exports_raw = data.get("exports", [])
    if not isinstance(exports_raw, list):
        raise PluginError("malformed manifest: 'exports' must be a list", path=path)
    from rpsrt.plugins.points import Signature  # local: points imports this module

    exports = []
    for entry in exports_raw:
        if (not isinstance(entry, Mapping) or not isinstance(entry.get("symbol"), str)
                or SYMBOL_RE.fullmatch(entry["symbol"]) is None):
            raise PluginError(f"malformed manifest: bad 'exports' entry {entry!r}", path=path)
        sig = entry.get("signature", "")
        Signature.parse(sig, path=path)
        exports.append(Export(entry["symbol"], str(entry.get("name", entry["symbol"])), sig, entry.get("heap") is True))
    return Manifest(name, version, abi, tuple(requires), tuple(exports), dict(data))


# ---------------------------------------------------------------- files, checksums, sidecars

def sha256_file(path: str | os.PathLike[str]) -> str:
    """The hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def sidecar_path(so_path: str | os.PathLike[str]) -> Path:
    """`dir/name.so` -> `dir/name.json` (the sidecar manifest written at build time)."""
    p = Path(so_path)
    return p.with_suffix(".json") if p.suffix == ".so" else p.with_name(p.name + ".json")


def write_sidecar(so_path: str | os.PathLike[str], manifest: Mapping[str, Any] | Manifest) -> Path:
    """Write `<plugin>.json` next to `so_path`: the manifest plus the file's sha256, atomically.

    The manifest is validated first (a bad one raises PluginError and writes nothing). Returns the path.
    """
    raw = dict(manifest.raw if isinstance(manifest, Manifest) else manifest)
    raw.pop("sha256", None)
    parse_manifest(raw, path=str(so_path))
    raw["sha256"] = sha256_file(so_path)
    out = sidecar_path(so_path)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(raw, f, indent=2, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o644)
    os.replace(tmp, out)
    return out


def read_sidecar(so_path: str | os.PathLike[str]) -> tuple[Manifest, str | None] | None:
    """The sidecar's manifest and recorded sha256 (None when it records none), or None without sidecar.

    Reads the file as it is, without the owner and mode checks the plugin manager makes (see
    `rpsrt.plugins.trust.read_trusted_sidecar`).
    """
    side = sidecar_path(so_path)
    try:
        text = side.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise PluginError(f"cannot read sidecar manifest: {exc.strerror}", path=str(side)) from None
    return parse_sidecar(text, path=str(side))


def parse_sidecar(text: bytes, *, path: str) -> tuple[Manifest, str | None]:
    """A sidecar's bytes -> its manifest and recorded sha256 (None when it records none)."""
    manifest = parse_manifest(text, path=path)
    sha = manifest.raw.get("sha256")
    if sha is not None and (not isinstance(sha, str) or re.fullmatch(r"[0-9a-f]{64}", sha) is None):
        raise PluginError(f"malformed manifest: bad 'sha256' {sha!r}", path=path)
    return manifest, sha
