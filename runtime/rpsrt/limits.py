"""Python's own limits that deep data runs into: one helper that raises the recursion limit for a while."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def deep_recursion(limit: int = 20000) -> Iterator[None]:
    """Raise Python's recursion limit to `limit` for a while (never lowering it). Deeply nested code and
    values need it: a long operator chain nests the AST, a stored function body nests two JSON levels per
    AST level, and walking, reading or writing them recurses once or more per level."""
    old = sys.getrecursionlimit()
    if old < limit:
        sys.setrecursionlimit(limit)
    try:
        yield
    finally:
        if old < limit:
            sys.setrecursionlimit(old)
