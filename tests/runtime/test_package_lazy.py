"""`rpsrt`'s public names are imported on first use (PEP 562): `import rpsrt` loads no heap model, and the
public API (`rpsrt.load_store`, `from rpsrt import Heap`, `from rpsrt import *`) is what it was."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _modules_after(code: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint(sorted(sys.modules))"],
                         capture_output=True, text=True, check=True).stdout
    return eval(out)  # type: ignore[no-any-return]  # noqa: S307 - a list printed just above


def test_import_rpsrt_loads_no_model() -> None:
    """A bare `import rpsrt` (and `import rpsrt.abi`, what `rpsc run`'s warm start uses) imports neither the
    heap model nor the store; touching `rpsrt.Heap` then does."""
    for code in ("import rpsrt", "import rpsrt.abi"):
        loaded = _modules_after(code)
        assert [m for m in loaded if m.startswith(("rpsrt.model", "rpsrt.store"))] == [], code
    assert "rpsrt.model.heap" in _modules_after("import rpsrt\nrpsrt.Heap")


@pytest.mark.parametrize("name", __import__("rpsrt").__all__)
def test_every_public_name_is_the_defining_modules(name: str) -> None:
    """Each name of `rpsrt.__all__` resolves, and to the very object its defining module holds."""
    import rpsrt

    value = getattr(rpsrt, name)
    module = rpsrt._LAZY.get(name)
    if module is not None:
        import importlib

        assert value is getattr(importlib.import_module(module), name)


def test_star_import_and_old_attribute_paths() -> None:
    """`from rpsrt import *` binds every public name; `rpsrt.model.wellknown` works after a bare `import
    rpsrt` (as with the eager imports of before); an unknown name is an AttributeError."""
    code = ("import rpsrt\n"
            "ns = {}\n"
            "exec('from rpsrt import *', ns)\n"
            "assert set(rpsrt.__all__) <= set(ns), set(rpsrt.__all__) - set(ns)\n"
            "assert ns['Heap'].__module__ == 'rpsrt.model.heap'\n")
    subprocess.run([sys.executable, "-c", code], check=True)
    subprocess.run([sys.executable, "-c", "import rpsrt\nassert rpsrt.model.wellknown.NAME is not None\n"
                    "assert not hasattr(rpsrt, 'no_such_name')\nassert 'Heap' in dir(rpsrt)"], check=True)
