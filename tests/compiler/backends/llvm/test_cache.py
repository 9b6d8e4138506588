"""The on-disk object cache: warm starts in a fresh process compile nothing; corrupt entries are rebuilt."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from rpsc.backends.llvm.cache import ObjectCache, TargetKey, cache_key

HERE = Path(__file__).parent

_CHILD = """
import json, sys
sys.path.insert(0, {here!r})
import irfactory as f
from rpsc.backends.llvm.jit import JitEngine
e = JitEngine([f.module([f.fib(), f.binop_fn("div", "sdiv")])], opt_level={opt}, cache_dir={cache!r})
out = {{"fib": e.call("fib", [20]), "div": e.call("div", [-7, 2])}}
out.update(e.stats.as_dict())
out["cache"] = {{"hits": e.cache.stats.hits, "corrupt": e.cache.stats.corrupt, "writes": e.cache.stats.writes}}
print(json.dumps(out))
"""


def _run_child(cache: Path, opt: int = 2) -> dict:  # type: ignore[type-arg]
    code = _CHILD.format(here=str(HERE), opt=opt, cache=str(cache))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


def test_warm_start_in_fresh_process_compiles_nothing(tmp_path: Path) -> None:
    """A second process with the same cache loads object code: zero modules compiled, one hit."""
    cold = _run_child(tmp_path)
    assert (cold["compiled"], cold["cache_hits"], cold["cache"]["writes"]) == (1, 0, 1)
    warm = _run_child(tmp_path)
    assert (warm["compiled"], warm["cache_hits"], warm["cache"]["writes"]) == (0, 1, 0)
    assert warm["modules"][0]["opt_ms"] == 0.0 or warm["modules"][0]["cache_hit"]
    assert (warm["fib"], warm["div"]) == (cold["fib"], cold["div"]) == (6765, -3)


def test_optimisation_level_is_part_of_the_key(tmp_path: Path) -> None:
    """-O0 and -O2 objects of the same IR are distinct entries."""
    _run_child(tmp_path, opt=2)
    other = _run_child(tmp_path, opt=0)
    assert other["compiled"] == 1
    assert len(list(tmp_path.rglob("*.o"))) == 2


def test_corrupt_entry_is_ignored_and_rebuilt(tmp_path: Path) -> None:
    """A truncated and a bit-flipped cache entry are each detected, recompiled and rewritten."""
    _run_child(tmp_path)
    [entry] = list(tmp_path.rglob("*.o"))
    good = entry.read_bytes()
    entry.write_bytes(good[: len(good) // 2])
    again = _run_child(tmp_path)
    assert (again["compiled"], again["cache"]["corrupt"], again["fib"]) == (1, 1, 6765)
    assert entry.read_bytes() == good                     # rewritten whole
    flipped = bytearray(good)
    flipped[-10] ^= 0xFF
    entry.write_bytes(bytes(flipped))
    again = _run_child(tmp_path)
    assert (again["compiled"], again["cache"]["corrupt"], again["fib"]) == (1, 1, 6765)
    assert _run_child(tmp_path)["compiled"] == 0


def test_key_depends_on_text_and_every_target_field() -> None:
    """Changing the IR text or any target field changes the key; the module name alone is not the key."""
    base = TargetKey("x86_64-unknown-linux-gnu", "znver3", "+avx2", 2, "0.50.0", "22.1.0")
    k = cache_key("define void @f()", base)
    assert cache_key("define void @f()", base) == k
    assert cache_key("define void @g()", base) != k
    for field in ("triple", "cpu", "features", "opt_level", "llvmlite_version", "llvm_version", "reloc"):
        changed = TargetKey(**{**{n: getattr(base, n) for n in base.__slots__},
                               field: 3 if field == "opt_level" else "other"})
        assert cache_key("define void @f()", changed) != k, field


def test_cache_put_get_round_trip_and_header(tmp_path: Path) -> None:
    """put/get round-trips bytes; a missing entry or a foreign file is a miss, not an error."""
    cache = ObjectCache(tmp_path)
    key = "ab" + "0" * 62
    assert cache.get(key) is None
    cache.put(key, b"\x7fELF object")
    assert cache.get(key) == b"\x7fELF object"
    cache.path(key).write_bytes(b"not a cache entry at all, definitely not" * 3)
    assert cache.get(key) is None and cache.stats.corrupt == 1
    assert not [p for p in tmp_path.rglob("*.tmp")]       # no temporary left behind
