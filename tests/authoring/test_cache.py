"""RPSC_CACHE_DIR and `rpsc cache info|prune`: on the files the JIT, the parser and the language server write."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from rpsc.driver.cli import main

from .conftest import EXAMPLES


def rpsc(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def info(capsys: pytest.CaptureFixture[str]) -> dict:  # type: ignore[type-arg]
    code, out, _ = rpsc(capsys, "cache", "info", "--json")
    assert code == 0
    return json.loads(out)  # type: ignore[no-any-return]


def test_rpsc_cache_dir_holds_jit_objects_and_parser_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """With RPSC_CACHE_DIR set, compiling writes the parser tables and running writes JIT objects there,
    and `cache info` counts them."""
    import rpsc.frontend.parser as parser

    cache = tmp_path / "cache"
    monkeypatch.setenv("RPSC_CACHE_DIR", str(cache))
    parser.make_lark(cache=True)  # the tables of this grammar, written to the cache folder
    assert main(["compile", str(EXAMPLES / "numeric.rps"), "--store", str(tmp_path / "st")]) == 0
    assert rpsc(capsys, "run", "--store", str(tmp_path / "st"), "--backend", "jit", "fib", "12")[1] == "144\n"
    doc = info(capsys)
    assert doc["path"] == str(cache) and doc["origin"] == "RPSC_CACHE_DIR" and doc["exists"]
    objects = list(cache.glob("??/*.o"))
    tables = list(cache.glob("rps-*.lark-cache"))
    assert objects and tables
    assert doc["kinds"]["jit_objects"] == {"files": len(objects), "bytes": sum(p.stat().st_size for p in objects)}
    assert doc["kinds"]["parser_tables"]["files"] == len(tables)
    assert doc["total_bytes"] == sum(p.stat().st_size for p in cache.rglob("*") if p.is_file())
    code, out, _ = rpsc(capsys, "cache", "info")
    assert code == 0 and out.startswith(f"cache: {cache} (from RPSC_CACHE_DIR)") and "JIT objects" in out


def _fake_object(cache: Path, key: str, size: int, age: float) -> Path:
    from rpsc.backends.llvm.cache import ObjectCache

    oc = ObjectCache(cache)
    oc.put(key, b"x" * size)
    oc.put_alias(key[::-1], key)
    path = oc.path(key)
    t = time.time() - age
    os.utime(path, (t, t))
    return path


def test_prune_max_size_drops_least_recently_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """--max-size removes the objects used longest ago first (a cache hit counts as a use), with their index
    entries; --dry-run removes nothing."""
    from rpsc.backends.llvm.cache import ObjectCache

    cache = tmp_path / "c"
    monkeypatch.setenv("RPSC_CACHE_DIR", str(cache))
    keys = [f"{i:x}" * 64 for i in range(1, 5)]
    keys = [k[:64] for k in keys]
    paths = [_fake_object(cache, k, 10_000, age=1000 * (4 - i)) for i, k in enumerate(keys)]  # 0 is oldest
    assert ObjectCache(cache).get(keys[0]) is not None  # used now: the newest
    before = info(capsys)["total_bytes"]
    code, out, _ = rpsc(capsys, "cache", "prune", "--max-size", "25k", "--dry-run", "--json")
    dry = json.loads(out)
    assert code == 0 and dry["dry_run"] and dry["removed"]["jit_objects"] == 2 and all(p.exists() for p in paths)
    assert info(capsys)["total_bytes"] == before
    code, out, _ = rpsc(capsys, "cache", "prune", "--max-size", "25k")
    assert code == 0 and out.startswith("removed 4 files")
    assert [p.exists() for p in paths] == [True, False, False, True]
    assert sorted(p.read_text() for p in (cache / "ir").rglob("*") if p.is_file()) == sorted([keys[0], keys[3]])
    assert info(capsys)["total_bytes"] <= 25 * 1024


def test_prune_removes_only_what_is_stale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """Without --max-size: old temporary files, parser tables but the newest per Python version, and the
    language server's copies of deleted stores go; young temporary files, live stores' copies and files
    rpsc did not write stay; --all leaves only those foreign files."""
    cache = tmp_path / "c"
    monkeypatch.setenv("RPSC_CACHE_DIR", str(cache))
    cache.mkdir()
    old = time.time() - 7200
    tables = []
    for n, tag in enumerate(["aa", "bb", "cc"]):
        t = cache / f"rps-{tag}-lark1.2.2-py311.lark-cache"
        t.write_bytes(b"t")
        os.utime(t, (old + n, old + n))
        tables.append(t)
    other_py = cache / "rps-dd-lark1.2.2-py312.lark-cache"
    other_py.write_bytes(b"t")
    stale_tmp, young_tmp = cache / ".abcdef.123.tmp", cache / ".ghijk.456.tmp"
    stale_tmp.write_bytes(b"x")
    young_tmp.write_bytes(b"x")
    os.utime(stale_tmp, (old, old))
    live_store = tmp_path / "live"
    live_store.mkdir()
    (live_store / "rps_manifest.json").write_text("{}")
    for h, store in (("0123456789abcdef", live_store), ("fedcba9876543210", tmp_path / "gone")):
        (cache / "lsp" / h).mkdir(parents=True)
        (cache / "lsp" / h / "store.txt").write_text(f"{store}\n")
        (cache / "lsp" / h / "numeric.rps").write_text("module numeric;\n")
    foreign = cache / "notes.txt"
    foreign.write_text("mine")
    code, out, _ = rpsc(capsys, "cache", "prune", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["removed"] == {"jit_objects": 0, "jit_index": 0, "parser_tables": 2,
                                            "language_server": 2, "run_index": 0, "temporary": 1, "other": 0}
    assert [t.exists() for t in tables] == [False, False, True] and other_py.exists()
    assert not stale_tmp.exists() and young_tmp.exists() and foreign.exists()
    assert (cache / "lsp" / "0123456789abcdef" / "numeric.rps").exists()
    assert not (cache / "lsp" / "fedcba9876543210").exists()
    assert rpsc(capsys, "cache", "prune", "--all")[0] == 0
    assert sorted(p.name for p in cache.rglob("*")) == ["notes.txt"]


def test_bad_size_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """An unreadable --max-size is rejected by the argument parser with an example, exit status 2."""
    with pytest.raises(SystemExit) as exc:
        main(["cache", "prune", "--max-size", "12Q"])
    assert exc.value.code == 2 and "not a size: '12Q' (e.g. 500M" in capsys.readouterr().err


@pytest.mark.parametrize(("text", "value"), [("1048576", 1 << 20), ("500M", 500 << 20), ("1.5G", 3 << 29),
                                             ("2k", 2048), ("3MiB", 3 << 20), ("7b", 7)])
def test_sizes(text: str, value: int) -> None:
    """Sizes are bytes or k/M/G/T powers of 1024, with optional B or iB."""
    from rpsc.driver.commands.cache import parse_size

    assert parse_size(text) == value
