"""Helpers of the lowering tests: compile into real store directories and fingerprint their files."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import rpsrt
from rpsc.driver.pipeline import compile_sources, new_heap

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "plugins_src"


def compile_into(store: Path, sources: list[tuple[str, str]]) -> rpsrt.Heap:
    """Compile sources into the store directory (created when missing), as `rpsc compile` does."""
    heap = rpsrt.load_store(str(store)) if (store / "rps_manifest.json").is_file() else new_heap()
    compile_sources(sources, heap)
    rpsrt.dump_store(heap, str(store))
    return heap


def fingerprint(store: Path) -> dict[str, tuple[str, int]]:
    """Every file of a store: relative path -> (sha256, mtime in ns)."""
    out = {}
    for root, _dirs, files in os.walk(store):
        for f in files:
            p = Path(root) / f
            out[str(p.relative_to(store))] = (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
    return out


def example_sources() -> list[tuple[str, str]]:
    """(path, text) of every `.rps` example in plugins_src/."""
    return [(str(p.relative_to(REPO)), p.read_text()) for p in sorted(EXAMPLES.glob("*.rps"))]
