"""One exception tree per package: every error rpsc raises on bad input is an rpsc.Error, every error of
rpsrt an rpsrt.Error; the command line renders them in one place."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import rpsc
import rpsrt

#: Exceptions that are not about bad input, each with the reason it stands outside the tree.
OUTSIDE = {
    "rpsrt.errors.Trap": "a trap of running code (division by zero, ...), not bad input; the CLI exits 3",
    "rpsc.ir.builder.IRTypeError": "a bug in the caller of the IR builder (operands of the wrong type)",
    "rpsrt.store.jsonfmt.JsonTextError": "internal to the reader, which turns it into a located StoreError",
    "rpsrt.store.reader._Inexact": "internal control flow of the reader (decode an object again exactly)",
}

HEAVY_OPTIONAL = ("rpsc.backends.llvm", "rpsc.backends.c", "rpsc.driver")


def _exception_classes(package):  # type: ignore[no-untyped-def]
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, BaseException) and cls.__module__ == info.name:
                yield f"{cls.__module__}.{cls.__qualname__}", cls


@pytest.mark.parametrize("package,root", [(rpsc, rpsc.Error), (rpsrt, rpsrt.Error)], ids=["rpsc", "rpsrt"])
def test_every_error_is_in_its_package_tree(package, root) -> None:  # type: ignore[no-untyped-def]
    """Every exception class defined in the package derives from the package's Error (or is listed, with a
    reason, as not being about bad input)."""
    found = dict(_exception_classes(package))
    assert found, "no exception classes found"
    stray = sorted(name for name, cls in found.items() if not issubclass(cls, root) and name not in OUTSIDE)
    assert stray == []


def test_rpsc_tree_extends_rpsrt_tree() -> None:
    """rpsc.Error extends rpsrt.Error, and its compile errors keep their message as their text."""
    assert issubclass(rpsc.Error, rpsrt.Error)
    assert issubclass(rpsc.CompileError, rpsc.Error)
    exc = rpsc.CompileError("x.rps:1:2: error: bad")
    assert str(exc) == "x.rps:1:2: error: bad" and exc.render() == "x.rps:1:2: error: bad"
    assert str(rpsrt.StoreError("no manifest", path="s/rps_manifest.json")) == "s/rps_manifest.json: error: no manifest"
