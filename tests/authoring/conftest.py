"""Fixtures of the plugin-author tool tests: the example modules compiled into a store and built."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "plugins_src"


def compile_and_build(store: Path, sources: dict[str, str]) -> Path:
    """Compile (name, text) sources into `store` with the library pipeline, then `rpsc build` it."""
    import rpsrt
    from rpsc.driver.build import BuildOptions, build_store
    from rpsc.driver.pipeline import compile_sources, new_heap

    heap = new_heap()
    compile_sources(list(sources.items()), heap)
    store.mkdir(parents=True, exist_ok=True)
    rpsrt.dump_store(heap, str(store))
    build_store(BuildOptions(store=store))
    return store


@pytest.fixture(scope="session")
def examples_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The examples of plugins_src/ compiled into one store whose plugins are built (shared: read only)."""
    sources = {p.name: p.read_text(encoding="utf-8") for p in sorted(EXAMPLES.glob("*.rps"))}
    return compile_and_build(tmp_path_factory.mktemp("examples") / "store", sources)
