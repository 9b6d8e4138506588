"""C helpers of the runtime built on first use, both extension modules: heapfast.c (the fast path of the host
heap API, rpsrt.heaphost) and loadfast.c (the store loader's accelerator: loadfast.py).

`built(name)` compiles `<name>.c` of this package once with the system's `cc` against this Python's headers
and caches the shared object in `$XDG_CACHE_HOME/rpsc` (else `~/.cache/rpsc`), named by the hash of the
source and of the Python version; the callers fall back to their Python paths when it raises."""

from __future__ import annotations

import os
from typing import Any


def built(name: str) -> str:
    """The path of the cached shared object built from `rpsrt/native/<name>.c` (built now if missing);
    OSError or subprocess's errors when there is no compiler or the build fails."""
    import hashlib
    import importlib.resources
    import shutil
    import subprocess
    import sys
    import sysconfig
    import tempfile

    src = importlib.resources.files("rpsrt.native").joinpath(f"{name}.c").read_bytes()
    key = hashlib.sha256(src + sys.version.encode()).hexdigest()[:16]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    cache = os.path.join(base, "rpsc")
    os.makedirs(cache, exist_ok=True)
    lib = os.path.join(cache, f"{name}-{key}.so")
    if not os.path.isfile(lib):
        with tempfile.TemporaryDirectory() as d:
            c = os.path.join(d, f"{name}.c")
            with open(c, "wb") as f:
                f.write(src)
            out = os.path.join(d, f"{name}.so")
            subprocess.run(["cc", "-O2", "-shared", "-fPIC", f"-I{sysconfig.get_paths()['include']}", c, "-o", out],
                           check=True, capture_output=True, timeout=120)
            tmp = f"{lib}.{os.getpid()}.tmp"  # a concurrent build of the same source renames the same bytes
            shutil.copyfile(out, tmp)
            os.replace(tmp, lib)
    return lib


def extension(name: str) -> Any:
    """`rpsrt/native/<name>.c` built (`built`) and imported as the extension module `_rpsrt_<name>`;
    ImportError when it cannot be loaded (and `built`'s errors)."""
    import importlib.machinery
    import importlib.util

    lib = built(name)
    modname = f"_rpsrt_{name}"
    loader = importlib.machinery.ExtensionFileLoader(modname, lib)
    spec = importlib.util.spec_from_file_location(modname, lib, loader=loader)
    if spec is None:
        raise ImportError(f"cannot load {lib}")
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod
