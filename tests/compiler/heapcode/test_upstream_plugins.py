"""Upstream's plugins and their `.rps` versions (plugins_src/upstream/) make the same heap change on copies of
the real 2024A store: the upstream plugin run by the kit's binary, the `.rps` function by `rpsc run --commit`.
Needs the kit (RPSC_UPSTREAM_REFPERSYS) and ../shared (RPSC_SHARED_DIR); skipped otherwise."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import rpsrt
from rpsrt.model import wellknown as wk
from rpsrt.model.objects import PayloadSymbol

from .heapdiff import heap_change

REPO = Path(__file__).resolve().parents[3]
SHARED = Path(os.environ.get("RPSC_SHARED_DIR", REPO.parent / "shared"))
STORE_2024A = SHARED / "refpersys-stores" / "2026-08-16-format2024A"
KIT_SCRIPTS = SHARED / "upstream-refpersys"


def _kit() -> Path:
    """The kit build folder (RPSC_UPSTREAM_REFPERSYS), and ../shared's kit scripts and 2024A store; skip
    when any is missing."""
    out = os.environ.get("RPSC_UPSTREAM_REFPERSYS")
    if not out or not (Path(out) / "RefPerSys" / "refpersys").is_file():
        pytest.skip("RPSC_UPSTREAM_REFPERSYS does not name a built upstream kit")
    if not (KIT_SCRIPTS / "run.sh").is_file() or not (STORE_2024A / "rps_manifest.json").is_file():
        pytest.skip(f"{SHARED} lacks the upstream kit scripts or the 2024A store")
    return Path(out)
PLUGINS = REPO / "plugins_src" / "upstream"
SACRED_ROOTS = {  # rpsplug_root2const.cc's list
    "_2i66FFjmS7n03HNNBx", "_10YXWeY7lYc01RpQTA", "_1Io89yIORqn02SXx4p", "_2A2mrPpR3Qf03p6o5b",
    "_2Xfl3YNgZg900K6zdC", "_3rXxMck40kz03RxRLM", "_3s7ztCCoJsj04puTdQ", "_3GHJQW0IIqS01QY8qD",
    "_3Q3hJsSgCDN03GTYW5", "_41OFI3r0S1t03qdB2E", "_4jISxMJ4PYU0050nUl", "_4pSwobFHGf301Qgwzh",
    "_5yhJGgxLwLp00X0xEQ", "_5CYWxcChKN002rw1fI", "_5LMLyzRp6kq04AMM8a", "_62LTwxwKpQ802SsmjE",
    "_6fmq7pZkmNd03UyPuO", "_6gxiw0snqrX01tZWW9", "_6ulDdOP2ZNr001cqVZ", "_6JYterg6iAu00cV9Ye",
    "_6NVM7sMcITg01ug5TC", "_6XLY6QfcDre02922jz", "_7OrPRWQEg2o043XvK2", "_7Y3AyF9gNx700bQJXc",
    "_8fYqEw8vTED03wsznt", "_8J6vNYtP5E800eCr5q", "_98sc8kSOXV003i86w5", "_9uwZtDshW4401x6MsY",
    "_9BnrMLXUhfG00llx8X", "_9Gz1oNPCnkB00I6VRS",
}


def _copy(dst: Path) -> Path:
    shutil.copytree(STORE_2024A, dst)
    for p in [dst, *dst.rglob("*")]:
        p.chmod(p.stat().st_mode | 0o200)
    return dst


def _upstream_change(tmp: Path, kit: Path, plugin: str, arg: str, extras: list[str]) -> dict[str, object]:
    src = _copy(tmp / "u-src")
    out = tmp / "u-out"
    cmd = [str(KIT_SCRIPTS / "run.sh"), str(kit), str(src), str(out),
           f"--plugin-after-load={kit}/plugins/rpsplug_{plugin}.so", f"--plugin-arg=rpsplug_{plugin}:{arg}",
           *(f"--extra={e}" for e in extras)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return heap_change(rpsrt.load_store(str(src)), rpsrt.load_store(str(out)))


def _rps_change(tmp: Path, plugin: str, fn_args: list[str]) -> tuple[dict[str, object], rpsrt.Heap]:
    store = _copy(tmp / "r")
    rpsc = [sys.executable, "-m", "rpsc"]
    comp = subprocess.run([*rpsc, "compile", str(PLUGINS / f"{plugin}.rps"), "--store", str(store)],
                          capture_output=True, text=True, timeout=300)
    assert comp.returncode == 0, comp.stderr
    before = rpsrt.load_store(str(store))
    run = subprocess.run([*rpsc, "run", "--store", str(store), "--commit", "--seed", "11", "--clock", "1800000000",
                          plugin, *fn_args], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    after = rpsrt.load_store(str(store))
    return heap_change(before, after), after


def _non_sacred_root() -> str:
    heap = rpsrt.load_store(str(STORE_2024A))
    return sorted(str(o.oid) for o in heap.roots if str(o.oid) not in SACRED_ROOTS
                  and o.space is heap.get(wk.INITIAL_SPACE))[0]


def _plain_object() -> str:
    heap = rpsrt.load_store(str(STORE_2024A))
    return sorted(str(o.oid) for o in heap.objects.values() if o not in heap.roots
                  and o.space is heap.get(wk.INITIAL_SPACE) and o.payload is None)[0]


def _unrooted_symbol() -> str:
    heap = rpsrt.load_store(str(STORE_2024A))
    return sorted(str(o.oid) for o in heap.objects.values() if o not in heap.roots and o not in heap.constants
                  and o.space is heap.get(wk.INITIAL_SPACE) and isinstance(o.payload, PayloadSymbol)
                  )[0]


CASES = {
    "createsymbol": (lambda: ("Hello", ["comment=a greeting", "constant=1"], ["Hello", "a greeting", "false", "true"])),
    "createclass": (lambda: ("Gadget", ["super=object", "comment=gadgets"], ["Gadget", "object", "gadgets"])),
    "installrootoid": (lambda: (oid := _plain_object(), [], [oid])),
    "root2const": (lambda: (oid := _non_sacred_root(), ["comment=now constant"], [oid, "now constant"])),
    "removeroot": (lambda: (oid := _unrooted_symbol(), [], [oid])),
    "createnamedattribute": (lambda: ("weight", ["comment=in grams", "rooted=0", "constant=y"],
                                      ["weight", "in grams", "false", "true"])),
}


@pytest.mark.parametrize("plugin", sorted(CASES))
def test_same_heap_change_as_upstream(plugin: str, tmp_path: Path) -> None:
    """The `.rps` version of an upstream plugin changes the 2024A store as the upstream plugin does: the
    same new objects (by class and name), changed attributes, components, payloads, roots and constants."""
    kit = _kit()
    arg, extras, fn_args = CASES[plugin]()
    up = _upstream_change(tmp_path, kit, plugin, arg, extras)
    mine, _after = _rps_change(tmp_path, plugin, fn_args)
    assert mine == up
    assert up["new"] or up["changed"] or up["roots added"] or up["constants added"]  # the case does something


def test_commit_loads_in_upstream(tmp_path: Path) -> None:
    """After a `--commit` run that keeps the root count (createsymbol as a constant), upstream's binary loads
    the store and dumps it back unchanged (mtimes aside)."""
    kit = _kit()
    _mine, after = _rps_change(tmp_path, "createsymbol", ["Hello", "a greeting", "false", "true"])
    store = tmp_path / "r"
    assert len(after.roots) == len(rpsrt.load_store(str(STORE_2024A)).roots)
    redump = tmp_path / "redump"
    run = subprocess.run([str(KIT_SCRIPTS / "run.sh"), str(kit), str(store), str(redump)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    diff = subprocess.run([str(KIT_SCRIPTS / "normdiff.sh"), "--ignore-mtime", str(store), str(redump)],
                          capture_output=True, text=True, timeout=120)
    assert diff.returncode == 0, diff.stdout[-3000:]
