"""Conformance with upstream's real stores (2019A, 2023A, 2024A), read from ../shared (skipped when absent)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from conftest import upstream_store_path  # type: ignore[attr-defined]
from rpsrt.model.oid import Oid
from rpsrt.store.reader import load_store
from rpsrt.store.writer import dump_store

SPACE = "persistore/sp_8J6vNYtP5E800eCr5q-rps.json"
PROVENANCE = ("dumpgmdate", "shortgit", "shortgitid", "origitid", "jsoncppversion", "progname", "progmd5sum",
              "gitbranch")
_PROVENANCE_RE = re.compile(r'^( "(?:' + "|".join(PROVENANCE) + r')" : ).*?(,?)$', re.M)

# STORE_FORMAT.md §8: objects and payload kinds of each store.
EXPECTED = {
    "2019A": (198, {"symbol": 70, "classinfo": 42, None: 79, "setob": 3, "string_dictionary": 2, "agenda": 1,
                    "space": 1}),
    "2023A": (249, {"symbol": 103, "classinfo": 68, None: 69, "setob": 4, "string_dictionary": 2, "agenda": 1,
                    "environment": 1, "space": 1}),
    "2024A": (301, {"symbol": 123, "classinfo": 70, None: 99, "setob": 4, "string_dictionary": 2, "agenda": 1,
                    "environment": 1, "space": 1}),
}


def _normalise(text: str) -> str:
    """Drop the comment lines before the first JSON value and mask the provenance fields."""
    lines = text.split("\n")
    i = 0
    while i < len(lines) and (not lines[i].strip() or lines[i].startswith("//")):
        i += 1
    return _PROVENANCE_RE.sub(r"\1*\2", "\n".join(lines[i:]))


def test_2024a_dump_is_byte_identical(tmp_path: Path) -> None:
    """Loading the 2024A store and dumping it gives upstream's bytes (comments and provenance masked, and in
    fact exactly, since the loaded provenance is kept); every `//+ob` framing line, hash included, is equal."""
    src = upstream_store_path("2024A")
    heap = load_store(src)
    dump_store(heap, tmp_path)
    for rel in ("rps_manifest.json", SPACE):
        ours, theirs = (tmp_path / rel).read_text(), (src / rel).read_text()
        assert _normalise(ours) == _normalise(theirs), rel
        assert ours == theirs, rel
    ours_lines = [ln for ln in (tmp_path / SPACE).read_text().split("\n") if ln.startswith("//+ob")]
    theirs_lines = [ln for ln in (src / SPACE).read_text().split("\n") if ln.startswith("//+ob")]
    assert len(ours_lines) == 301 and ours_lines == theirs_lines


def test_2024a_fresh_provenance_still_matches(tmp_path: Path) -> None:
    """With its provenance and headers replaced by rpsc's own, the dump differs from upstream's only there."""
    src = upstream_store_path("2024A")
    heap = load_store(src)
    heap.manifest_extra = {k: v for k, v in heap.manifest_extra.items() if k not in PROVENANCE}
    heap.manifest_extra["progname"] = "rpsc"
    heap.headers.clear()
    for extra in heap.prologues.values():
        for k in PROVENANCE:
            extra.pop(k, None)
    dump_store(heap, tmp_path)
    for rel in ("rps_manifest.json", SPACE):
        ours, theirs = (tmp_path / rel).read_text(), (src / rel).read_text()
        assert ours != theirs
        strip = re.compile(r'^ "(?:' + "|".join(PROVENANCE) + r')" : .*\n', re.M)
        assert strip.sub("", _normalise(ours)) == strip.sub("", _normalise(theirs)), rel


@pytest.mark.parametrize("fmt", ["2019A", "2023A"])
def test_older_formats_round_trip(fmt: str, tmp_path: Path) -> None:
    """2019A and 2023A: load, dump (as 2024A), load gives an equal heap; dumping that again is identical."""
    src = upstream_store_path(fmt)
    heap = load_store(src)
    dump_store(heap, tmp_path / "a")
    again = load_store(tmp_path / "a")
    assert heap.difference(again) is None
    dump_store(again, tmp_path / "b")
    for rel in ("rps_manifest.json", SPACE):
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    assert '"format" : "RefPerSysFormat2024A"' in (tmp_path / "a" / SPACE).read_text()
    assert dump_store(again, tmp_path / "a") == []


def test_counts_match_the_format_notes(upstream_store: tuple[str, Path]) -> None:
    """Object and payload counts of each real store are those STORE_FORMAT.md §8 reports."""
    fmt, path = upstream_store
    heap = load_store(path)
    n, kinds = EXPECTED[fmt]
    assert len(heap.objects) == n
    got = Counter(o.payload.kind if o.payload is not None else None for o in heap.objects.values())
    assert dict(got) == kinds
    assert all(o.cls is not None and o.space is not None for o in heap.objects.values())


def test_hashes_match_framing_lines() -> None:
    """Oid.hash equals the `h:` number of every framing line of the 2024A store."""
    text = (upstream_store_path("2024A") / SPACE).read_text()
    pairs = re.findall(r"^//\+ob(_\w{18})\S* h:(\d+)$", text, re.M)
    assert len(pairs) == 301
    assert all(Oid.parse(t).hash == int(h) for t, h in pairs)


def test_cli_check_and_stats_on_real_stores(upstream_store: tuple[str, Path]) -> None:
    """`rpsc store check` and `rpsc store stats` succeed on every real store."""
    fmt, path = upstream_store
    n = EXPECTED[fmt][0]
    check = subprocess.run([sys.executable, "-m", "rpsc", "store", "check", str(path)], capture_output=True,
                           text=True, timeout=120)
    assert check.returncode == 0 and f"{n} objects" in check.stdout, check.stderr
    stats = subprocess.run([sys.executable, "-m", "rpsc", "store", "stats", str(path)], capture_output=True,
                           text=True, timeout=120)
    assert stats.returncode == 0, stats.stderr
    assert re.search(r"^symbol _36I1BY2NetN03WjrOv\s+\d+$", stats.stdout, re.M)
    assert re.search(r"^classinfo\s+\d+$", stats.stdout, re.M) and f"total: {n} objects" in stats.stdout
