"""Shared helpers of the IR tests: compile real `.rps` source and run it under the interpreter."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rpsc.backends.interp.interp import Interpreter
from rpsc.driver.pipeline import program


def interp_of(source: str, path: str = "t.rps", **kw: int) -> Interpreter:
    """An interpreter over the IR of `source` (compiled through the heap, as the CLI does)."""
    return Interpreter(program(source, path), **kw)


@pytest.fixture
def make_interp() -> Iterator[object]:
    """A factory of interpreters that are all closed after the test."""
    made: list[Interpreter] = []

    def make(source: str, path: str = "t.rps", **kw: int) -> Interpreter:
        it = interp_of(source, path, **kw)
        made.append(it)
        return it

    yield make
    for it in made:
        it.close()
