"""Building C plugins with the system compiler: the header folder, the flags, and a one-call compile helper.

Used by tests, tools and `rpsc config`; the C backend drives its own Ninja build but uses the same flags and
`write_sidecar`.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rpsrt.errors import PluginError
from rpsrt.plugins.elf import read_elf
from rpsrt.plugins.manifest import Manifest, parse_manifest, write_sidecar


def include_dir() -> Path:
    """The folder to pass to `-I` so that `#include "rps/plugin.h"` and `"rps/runtime.h"` resolve."""
    return Path(__file__).resolve().parent.parent / "include"


def cflags() -> list[str]:
    """Compiler flags every plugin build needs (the include folder, position-independent code)."""
    return [f"-I{include_dir()}", "-fPIC"]


def ldflags() -> list[str]:
    """Linker flags every plugin build needs (a shared object; undefined symbols may come from dependencies)."""
    return ["-shared"]


def compile_c_plugin(sources: Sequence[str | os.PathLike[str]], output: str | os.PathLike[str], *,
                     manifest: Mapping[str, Any] | Manifest | bool | None = True, cc: str | None = None,
                     extra_cflags: Sequence[str] = ("-O2",), extra_ldflags: Sequence[str] = ()) -> Path:
    """Compile and link C `sources` into the plugin `output` with `cc` (or $CC, else `cc`), mode 0755.

    `manifest`: True writes the sidecar from the embedded `rps_plugin_manifest`; a mapping writes that
    manifest; False/None writes no sidecar. Raises PluginError with the compiler's output on failure.
    """
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)  # like `cc -o`, but a missing folder is no error
    compiler = shlex.split(cc or os.environ.get("CC") or "cc")
    cmd = [*compiler, *cflags(), *extra_cflags, *(os.fspath(s) for s in sources), *ldflags(), *extra_ldflags,
           "-o", os.fspath(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise PluginError(f"C compiler failed ({shlex.join(cmd)}):\n{proc.stderr.strip()}", path=os.fspath(out))
    os.chmod(out, 0o755)
    if manifest is True:
        raw = read_elf(out).read_symbol_bytes("rps_plugin_manifest")
        if raw is None:
            raise PluginError("no rps_plugin_manifest symbol to write the sidecar from", path=os.fspath(out))
        write_sidecar(out, parse_manifest(raw, path=os.fspath(out)))
    elif manifest:
        write_sidecar(out, manifest)
    return out
