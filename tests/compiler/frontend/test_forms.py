"""The form checks the grammar lets through (version strings, an object's `comps`) are the checker's: the
parser accepts them, the checker reports them at the written text."""

from __future__ import annotations

import pytest
from rpsc import CompileError
from rpsc.frontend.check import check
from rpsc.frontend.parser import parse

CASES = [
    ('module m version "1.2";\n', "m.rps:1:18: error: module version `1.2` is not a semantic version"),
    ('module m;\nrequires n >= "1.x";\n', "m.rps:2:15: error: required version `1.x` is not a version number"),
    ("module m;\nobject o { comps = [1]; comps = [2]; }\n", "m.rps:2:25: error: `comps` is given twice"),
    ("module m;\nobject o { comps = 3; }\n", "m.rps:2:20: error: `comps` takes a list of values"),
]


@pytest.mark.parametrize(("src", "first"), CASES)
def test_parser_accepts_checker_reports(src: str, first: str) -> None:
    """parse() gives a module; check() rejects it with the diagnostic at the written version or `comps`."""
    m = parse(src, "m.rps")
    with pytest.raises(CompileError) as info:
        check([m])
    assert first in [d.render(src).splitlines()[0] for d in info.value.diagnostics]
