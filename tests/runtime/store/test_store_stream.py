"""Streaming dumps: each file is compared with the disk block by block and written only from its first difference."""

from __future__ import annotations

from pathlib import Path

import pytest
from rpsrt.errors import StoreError
from rpsrt.model import wellknown as wk
from rpsrt.store import writer
from rpsrt.store.core import new_heap
from rpsrt.store.reader import load_store
from rpsrt.store.writer import dump_store, render_store

SPACE = f"persistore/sp{wk.INITIAL_SPACE}-rps.json"


def _files(top: Path) -> dict[str, bytes]:
    return {str(p.relative_to(top)): p.read_bytes() for p in sorted(top.rglob("*")) if p.is_file()
            and not p.name.endswith("~")}


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of 512 bytes, so that a small store spans many blocks (prefix copy, mid-file differences)."""
    monkeypatch.setattr(writer, "_BLOCK", 512)


@pytest.mark.parametrize("where", ["start", "middle", "end", "longer", "shorter"])
def test_a_file_differing_anywhere_is_rewritten_whole(tmp_path: Path, small_blocks: None, where: str) -> None:
    """A space file damaged at its start, middle or end, or longer or shorter, is rewritten to the full bytes."""
    heap = new_heap()
    for i in range(40):
        o = heap.create(heap[wk.OBJECT], space=heap[wk.INITIAL_SPACE], mtime=1.0)
        o.comps = [f"component {i}"]
    top = tmp_path / "s"
    dump_store(heap, top)
    want = render_store(heap)
    p = top / SPACE
    data = p.read_bytes()
    mid = len(data) // 2
    damaged = {"start": b"X" + data[1:], "middle": data[:mid] + b"X" + data[mid + 1:], "end": data[:-2] + b"X\n",
               "longer": data + b"\n", "shorter": data[:-1]}[where]
    p.write_bytes(damaged)
    assert dump_store(heap, top) == [SPACE]
    assert p.read_bytes() == want[SPACE]
    assert dump_store(heap, top) == []
    assert not list(top.rglob("*%"))


def test_streamed_dump_equals_render_store(tmp_path: Path, small_blocks: None) -> None:
    """Every file a streamed dump writes holds exactly the bytes render_store gives, and loads back equal."""
    heap = new_heap()
    for i in range(30):
        heap.create(heap[wk.OBJECT], space=heap[wk.INITIAL_SPACE], mtime=2.0).comps = ["é" * i]
    top = tmp_path / "s"
    dump_store(heap, top)
    files = _files(top)
    assert files == {rel: data for rel, data in render_store(heap).items()}
    assert load_store(top).difference(heap) is None


def test_a_failure_late_in_a_file_leaves_the_store_as_it_was(tmp_path: Path, small_blocks: None) -> None:
    """A value that cannot be dumped in the last object stops the stream: no temporary is left, nothing changes."""
    heap = new_heap()
    objs = [heap.create(heap[wk.OBJECT], space=heap[wk.INITIAL_SPACE], mtime=3.0) for _ in range(30)]
    top = tmp_path / "s"
    dump_store(heap, top)
    before = _files(top)
    objs.sort(key=lambda o: o.oid)
    objs[0].comps = ["changed early in the file"]
    objs[-1].comps = [2**70]
    with pytest.raises(StoreError, match="beyond int64"):
        dump_store(heap, top)
    assert _files(top) == before
    assert not list(top.rglob("*%"))
    fresh = tmp_path / "fresh"
    with pytest.raises(StoreError):
        dump_store(heap, fresh)
    assert not fresh.exists()
