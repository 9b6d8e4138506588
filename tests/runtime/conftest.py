"""Test support of the runtime tests: makes `store_heaps` (hypothesis strategies for heaps) importable."""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = str(Path(__file__).resolve().parent / "store")
if _HERE not in sys.path:
    sys.path.append(_HERE)  # appended: `conftest` must still name tests/conftest.py
