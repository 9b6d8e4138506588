"""Fixtures of the C backend tests: stores compiled from the example modules."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[4]
DATA = Path(__file__).resolve().parent / "data"


def compile_store(store: Path, sources: dict[str, str]) -> None:
    """Compile (path, text) sources into `store` with the library pipeline and dump it."""
    import rpsrt
    from rpsc.driver.pipeline import compile_sources, new_heap

    heap = rpsrt.load_store(str(store)) if (store / "rps_manifest.json").is_file() else new_heap()
    compile_sources(list(sources.items()), heap)
    store.mkdir(parents=True, exist_ok=True)
    rpsrt.dump_store(heap, str(store))


def example_sources() -> dict[str, str]:
    """The two test modules: `kernels` and `geometry` (which requires kernels and calls its gcd)."""
    return {str(p): p.read_text() for p in sorted(DATA.glob("*.rps"))}


@pytest.fixture
def built_store(tmp_path: Path) -> Path:
    """A store of the example modules, compiled and built (`rpsc build`) in a private folder."""
    from rpsc.driver.build import BuildOptions, build_store

    store = tmp_path / "store"
    compile_store(store, example_sources())
    build_store(BuildOptions(store=store))
    return store
