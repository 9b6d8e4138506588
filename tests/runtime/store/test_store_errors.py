"""Bad stores: each defect gives its own StoreError naming file and line, and `rpsc store check` exits 1."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from rpsrt.model import wellknown as wk
from rpsrt.errors import StoreError
from rpsrt.model.oid import Oid
from rpsrt.store.core import new_heap
from rpsrt.store.reader import load_store
from rpsrt.store.writer import dump_store

SPACE = f"persistore/sp{wk.INITIAL_SPACE}-rps.json"
KNOWN = "_0jdbikGJFq100dgX1n"  # the `comment` symbol
UNKNOWN = "_7WsQyJK6lty02uz5KT"


def _line_of(path: Path, needle: str) -> int:
    text = path.read_text()
    pos = text.index(needle)
    return text.count("\n", 0, pos) + 1


@pytest.fixture(scope="module")
def good_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid store: the core heap plus one object holding a reference to `comment` in its components."""
    heap = new_heap()
    o = heap.create(heap[wk.OBJECT], oid=Oid.parse("_5Q5E0Lw9v4f046uAKZ"), space=heap[wk.INITIAL_SPACE],
                    mtime=1700000000.0)
    o.comps = [heap[KNOWN], "a string"]
    top = tmp_path_factory.mktemp("good")
    dump_store(heap, top)
    return top


def _edit(rel: str, old: str, new: str, below: int = 0) -> Callable[[Path], tuple[str, int]]:
    """Replace `old` by `new` in `rel`; the error is expected on the line of `new`, or `below` lines under."""
    def apply(top: Path) -> tuple[str, int]:
        p = top / rel
        text = p.read_text()
        assert old in text
        p.write_text(text.replace(old, new, 1))
        return rel, _line_of(p, new) + below
    return apply


def _duplicate(top: Path) -> tuple[str, int]:
    p = top / SPACE
    text = p.read_text()
    start = text.index("//+ob_5Q5E0Lw9v4f046uAKZ")
    end = text.index("//-ob_5Q5E0Lw9v4f046uAKZ")
    block = text[start:text.index("\n", end) + 1] + "\n\n\n"
    n = text.count("\n//+ob_")
    text = text[:start] + block + text[start:]
    p.write_text(text.replace(f'"nbobjects" : {n}', f'"nbobjects" : {n + 1}'))
    # reported at the second occurrence
    return SPACE, text.count("\n", 0, text.rindex("//+ob_5Q5E0Lw9v4f046uAKZ")) + 1


def _truncate(top: Path) -> tuple[str, int]:
    p = top / SPACE
    data = p.read_bytes()
    cut = data.index(b'"a string"')
    p.write_bytes(data[:cut])
    return SPACE, data[:cut].count(b"\n") + 1


def _truncate_last(top: Path) -> tuple[str, int]:
    p = top / SPACE
    data = p.read_bytes()
    cut = data.rindex(b'"class"')
    p.write_bytes(data[:cut])
    return SPACE, data[:cut].count(b"\n") + 1


def _unknown_root(top: Path) -> tuple[str, int]:
    p = top / "rps_manifest.json"
    text = p.read_text()
    at = text.index('"', text.index("[", text.index('"globalroots"')))
    p.write_text(text[:at] + f'"{UNKNOWN}"' + text[at + 21:])
    return "rps_manifest.json", text.count("\n", 0, at) + 1


def _missing(top: Path) -> tuple[str, int]:
    (top / SPACE).unlink()
    return "rps_manifest.json", _line_of(top / "rps_manifest.json", f'"{wk.INITIAL_SPACE}"')


CASES: dict[str, tuple[Callable[[Path], tuple[str, int]], str]] = {
    "dangling reference": (_edit(SPACE, f'"{KNOWN}",\n  \t"a string"', f'"{UNKNOWN}",\n  \t"a string"'),
                           f"dangling reference to unknown object {UNKNOWN}"),
    "duplicate oid": (_duplicate, "duplicate object id _5Q5E0Lw9v4f046uAKZ"),
    "malformed oid in a start line": (_edit(SPACE, "//+ob_5Q5E0Lw9v4f046uAKZ", "//+ob_5Q5E0Lw9v4f046uAK-"),
                                      "malformed object id '_5Q5E0Lw9v4f046uAK-'"),
    "overlong oid in a start line": (_edit(SPACE, "//+ob_5Q5E0Lw9v4f046uAKZ", "//+ob_5Q5E0Lw9v4f046uAKZZ"),
                                     "malformed object id _5Q5E0Lw9v4f046uAKZZ"),
    "malformed oid in a value": (_edit(SPACE, f'"{KNOWN}",\n  \t"a string"', '"_aQ5E0Lw9v4f046uAKZ",\n  \t"a string"'),
                                 "malformed object id '_aQ5E0Lw9v4f046uAKZ'"),
    "wrong nbobjects": (_edit(SPACE, '"nbobjects" : ', '"nbobjects" : 1'), "prologue says nbobjects 1"),
    "broken json in one object": (_edit(SPACE, '"a string"\n  ]', '"a string",\n  ]', below=1),
                                  "bad JSON"),
    "unknown format": (_edit("rps_manifest.json", '"RefPerSysFormat2024A"', '"RefPerSysFormat2099Z"'),
                       "unknown store format 'RefPerSysFormat2099Z'"),
    "truncated file": (_truncate, "truncated file: it stops after"),
    "truncated last object": (_truncate_last, "truncated file: its last object"),
    "missing space file": (_missing, "missing space file"),
    "unknown root in the manifest": (_unknown_root, f"globalroots names unknown object {UNKNOWN}"),
    # A member of the wrong JSON kind is named, with the kind found, at its line (never a TypeError).
    "class is an object": (_edit(SPACE, '"class" : "_5yhJGgxLwLp00X0xEQ",\n "comps"',
                                 '"class" : {"a": 1},\n "comps"'),
                           "class {'a': 1} is not an object id"),
    "class is an array": (_edit(SPACE, '"class" : "_5yhJGgxLwLp00X0xEQ",\n "comps"', '"class" : [],\n "comps"'),
                          "class [] is not an object id"),
    "mtime is a string": (_edit(SPACE, '"mtime": 1700000000.00', '"mtime": "noon"'),
                          "mtime is the string 'noon', not a number"),
    "mtime is huge": (_edit(SPACE, '"mtime": 1700000000.00', '"mtime": 1e999'), "mtime inf is not a time"),
    "comps is an object": (_edit(SPACE, '"comps" : [\n  \t"_0jdbikGJFq100dgX1n",\n  \t"a string"\n  ]',
                                 '"comps" : {"a": 1}'), "comps is an object, not an array"),
    "int beyond 64 bits": (_edit(SPACE, '"a string"\n  ]', '18446744073709551616\n  ]'),
                           "integer 18446744073709551616 is beyond 64 bits"),
    "number of 5000 digits": (_edit(SPACE, '"a string"\n  ]', "9" * 5000 + "\n  ]"),
                              "bad JSON: a number of thousands of digits"),
    "value nested 200000 deep": (_edit(SPACE, '"a string"\n  ]', "[" * 200000 + "]" * 200000 + "\n  ]"),
                                 "bad JSON: nested too deeply"),
    "value nested 6000 deep": (_edit(SPACE, '"a string"\n  ]', "[" * 6000 + "]" * 6000 + "\n  ]"),
                               "bad JSON: nested too deeply (more than 5000 levels)"),
    "nbobjects is a string": (_edit(SPACE, '"nbobjects" : ', '"nbobjects" : "1" , "x" : '),
                              "prologue member nbobjects is the string '1', not an integer"),
    "spaceset holds a number": (_edit("rps_manifest.json", f'"spaceset" : [ "{wk.INITIAL_SPACE}" ]',
                                      '"spaceset" : [ 12 ]'), "spaceset holds 12, not an object id"),
    "globalroots is an object": (_edit("rps_manifest.json", '"globalroots" : \n [',
                                       '"globalroots" : {"a" : 1}, "x" : \n ['),
                                 "manifest member 'globalroots' is not an array (it is an object)"),
    "int beyond 64 bits in the manifest": (_edit("rps_manifest.json", '"format" :',
                                                 '"n" : 9223372036854775808,\n "format" :'),
                                           "manifest: integer 9223372036854775808 is beyond 64 bits"),
    "symbol payload lacks its name": (_edit(SPACE, '"payload" : "symbol",\n "symb_name" : "comment"\n',
                                            '"payload" : "symbol"\n'), "symbol payload lacks symb_name"),
    "symbol weak is a string": (_edit(SPACE, '"symb_name" : "comment"\n',
                                      '"symb_name" : "comment", "symb_weak": "no"\n'),
                                "symb_weak is the string 'no', not true or false"),
}


@pytest.fixture(params=sorted(CASES))
def bad_store(request: pytest.FixtureRequest, good_store: Path, tmp_path: Path) -> tuple[Path, str, int, str]:
    """(store, file, line, message) of one broken copy of the good store."""
    import shutil

    top = tmp_path / "bad"
    shutil.copytree(good_store, top)
    edit, message = CASES[request.param]
    rel, line = edit(top)
    return top, rel, line, message


def test_load_reports_file_line_and_cause(bad_store: tuple[Path, str, int, str]) -> None:
    """The StoreError names the file, the line of the defect and what is wrong."""
    top, rel, line, message = bad_store
    with pytest.raises(StoreError) as info:
        load_store(top)
    err = info.value
    assert message in err.message
    assert err.path is not None and os.path.samefile(err.path, top / rel)
    assert err.line == line
    assert str(err).startswith(f"{err.path}:{line}: error: ")


def test_cli_check_exits_1_without_traceback(bad_store: tuple[Path, str, int, str]) -> None:
    """`rpsc store check` prints `path:line: error: ...` and exits 1, never a traceback."""
    top, rel, line, message = bad_store
    proc = subprocess.run([sys.executable, "-m", "rpsc", "store", "check", str(top)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f":{line}: error: " in proc.stderr and message in proc.stderr
    assert proc.stdout == ""


def test_cli_check_good_store(good_store: Path) -> None:
    """`rpsc store check` on a valid store prints its counts and exits 0."""
    proc = subprocess.run([sys.executable, "-m", "rpsc", "store", "check", str(good_store)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert f"{len(new_heap()) + 1} objects, 1 spaces" in proc.stdout


def test_not_a_store(tmp_path: Path) -> None:
    """A folder without a manifest, and a missing folder, are errors naming the path."""
    with pytest.raises(StoreError, match="missing manifest"):
        load_store(tmp_path)
    with pytest.raises(StoreError, match="does not exist"):
        load_store(tmp_path / "nope")


def test_object_without_class(good_store: Path, tmp_path: Path) -> None:
    """An object without `class` is rejected with its OID."""
    import shutil

    top = tmp_path / "s"
    shutil.copytree(good_store, top)
    p = top / SPACE
    text = p.read_text()
    start = text.index("//+ob_5Q5E0Lw9v4f046uAKZ")
    cls_at = text.index(' "class" : ', start)
    p.write_text(text[:cls_at] + ' "zz" : ' + text[cls_at + len(' "class" : '):])
    with pytest.raises(StoreError, match="has no class") as info:
        load_store(top)
    assert info.value.oid == "_5Q5E0Lw9v4f046uAKZ"


def test_cli_new_refuses_existing_store(good_store: Path) -> None:
    """`rpsc store new` on an existing store exits 1 and leaves it untouched."""
    before = (good_store / "rps_manifest.json").read_bytes()
    proc = subprocess.run([sys.executable, "-m", "rpsc", "store", "new", str(good_store)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 1 and "refusing to overwrite" in proc.stderr and "Traceback" not in proc.stderr
    assert (good_store / "rps_manifest.json").read_bytes() == before
