"""rpsrt.plugins: the plugin host: manifests, extension points, the PluginManager, C plugin build helpers.

Native plugins follow the ABI of `rps/plugin.h` (docs/plugin-abi.md); Python plugins are objects with
`name`, `version`, `requires` and `init(api)`, published under the `rpsc.plugins` entry-point group.
"""

from __future__ import annotations

from rpsrt.rt import RpsRt, new_rt
from rpsrt.plugins.build import cflags, compile_c_plugin, include_dir, ldflags
from rpsrt.plugins.elf import ElfFile, read_elf
from rpsrt.plugins.manager import (
    ENTRY_POINT_GROUP,
    PATH_ENV,
    Candidate,
    Plugin,
    PluginApi,
    PluginManager,
    PythonPluginApi,
    ScanEntry,
    check_permissions,
    inspect_native,
)
from rpsrt.plugins.manifest import (
    ABI_VERSION,
    Export,
    Manifest,
    Requirement,
    VersionConstraint,
    parse_manifest,
    parse_version,
    read_sidecar,
    sha256_file,
    sidecar_path,
    write_sidecar,
)
from rpsrt.plugins.points import ExtensionPoint, Implementation, Signature, native_caller
from rpsrt.plugins.trust import REASONS, PluginRefused, open_plugin

__all__ = [
    "ABI_VERSION", "ENTRY_POINT_GROUP", "PATH_ENV", "Candidate", "ElfFile", "Export", "ExtensionPoint",
    "Implementation", "Manifest", "Plugin", "PluginApi", "PluginManager", "PluginRefused", "PythonPluginApi",
    "REASONS", "Requirement",
    "RpsRt", "ScanEntry", "Signature", "VersionConstraint", "cflags", "check_permissions", "compile_c_plugin",
    "include_dir", "inspect_native", "ldflags", "native_caller", "new_rt", "open_plugin", "parse_manifest", "parse_version",
    "read_elf", "read_sidecar", "sha256_file", "sidecar_path", "write_sidecar",
]
