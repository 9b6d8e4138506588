"""The store fuzz harness: seeded mutations of real and fixture stores never end in a Python traceback.

Each case copies one source store, mutates it (byte flips, truncations, JSON-type swaps where an OID, a number,
an array or an object is expected, huge numbers, deep nesting, bad UTF-8, journals), and loads it through
`rpsrt.load_store` (only `rpsrt.Error` subclasses may escape) and through the function `rpsc store check`
runs (`rpsc.driver.cli.main`: it must return 0 or 1). A sample also runs through the real `rpsc` process.

The bulk runs on the small committed fixture store and on a core-objects store (cheap to load); the three
real upstream stores of ../shared join when present. `RPSC_FUZZ_SEED` and `RPSC_FUZZ_CASES` change the run
(default: seed 14, 1,200 cases); a failure names the seed and the case, so that it can be replayed.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import rpsrt
from rpsc.driver.cli import main as rpsc_main
from rpsrt.store.core import new_heap
from rpsrt.store.journal import JOURNAL
from rpsrt.store.writer import dump_store

from conftest import STORE_DIRS

REPO = Path(__file__).resolve().parents[3]
FIXTURE = REPO / "tests" / "data" / "store-rpsc-0.1.0"
SEED = int(os.environ.get("RPSC_FUZZ_SEED", "14"))
CASES = int(os.environ.get("RPSC_FUZZ_CASES", "1200"))
#: How many of the cases also run through a real `rpsc store check` process.
CLI_SAMPLE = 12


@dataclass
class Source:
    """A store to mutate: its folder (a private copy) and every file's original bytes."""

    name: str
    top: Path
    files: dict[str, bytes]


# -- mutations: each takes (rng, source) and returns {store-relative path: new bytes or None to delete} ----------

Mutation = Callable[[random.Random, Source], dict[str, bytes | None]]

OID_LIKE = "_5yhJGgxLwLp00X0xEQ"
SWAPS: list[object] = [
    {}, [], {"a": 1}, [1, 2], "", "text", OID_LIKE, "_0000000000000000000", 0, -1, 3.5, True, None,
    10 ** 30, -(10 ** 25), 1e308, {"vtype": "set", "elem": {}}, {"vtype": "tuple", "comp": 7},
    {"vtype": "closure", "fn": [], "env": {}}, {"vtype": "instance", "iclass": 3, "iattrs": 5, "icomps": "x"},
    {"vtype": "json"}, {"vtype": "set", "elem": [[], {}]}, {"str": 5}, {"string": []},
    [{"at": [], "va": 1}], [{"at": OID_LIKE}], [None, 5],
]
HUGE_NUMBERS = ["9" * 5000, "-" + "9" * 400, "1e999999", "-1e999999", "1" + "0" * 19, "9223372036854775808",
                "-9223372036854775809", "1.5e308", "1e-99999", "0." + "0" * 4000 + "1", "18446744073709551616"]


def _space_files(src: Source) -> list[str]:
    return sorted(r for r in src.files if r.startswith("persistore/"))


def _pick_file(rng: random.Random, src: Source) -> str:
    rels = sorted(src.files)
    return rng.choice(rels)


def m_flip(rng: random.Random, src: Source) -> dict[str, bytes | None]:
    rel = _pick_file(rng, src)
    data = bytearray(src.files[rel])
    for _ in range(rng.choice((1, 1, 2, 4, 16))):
        data[rng.randrange(len(data))] = rng.randrange(256)
    return {rel: bytes(data)}


def m_truncate(rng: random.Random, src: Source) -> dict[str, bytes | None]:
    rel = _pick_file(rng, src)
    data = src.files[rel]
    return {rel: data[:rng.randrange(len(data))]}


def m_bad_utf8(rng: random.Random, src: Source) -> dict[str, bytes | None]:
    rel = _pick_file(rng, src)
    data = src.files[rel]
    pos = rng.randrange(len(data))
    junk = rng.choice((b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\x80\x80", b"\xf8\x88\x80\x80\x80"))
    return {rel: data[:pos] + junk + data[pos:]}


def _json_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each top-level JSON object text in a store file: the manifest, the prologue, each object."""
    spans = []
    i = 0
    while True:
        start = text.find("\n{", i)
        if start < 0:
            break
        end = text.find("\n}", start)
        if end < 0:
            break
        spans.append((start + 1, end + 2))
        i = end + 2
    return spans


def _paths(v: object, prefix: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    out = [prefix]
    if isinstance(v, dict):
        for k, x in v.items():
            out += _paths(x, prefix + (k,))
    elif isinstance(v, list):
        for k, x in enumerate(v):
            out += _paths(x, prefix + (k,))
    return out


def _set(v: object, path: tuple[object, ...], new: object) -> object:
    if not path:
        return new
    cur = v
    for k in path[:-1]:
        cur = cur[k]  # type: ignore[index]
    cur[path[-1]] = new  # type: ignore[index]
    return v


def _retype(rng: random.Random, src: Source, make: Callable[[random.Random], str]) -> dict[str, bytes | None]:
    """Replace one value inside one JSON text of a file by the JSON text `make` returns."""
    rel = _pick_file(rng, src)
    text = src.files[rel].decode("utf-8")
    spans = _json_spans(text)
    if not spans:
        return {rel: src.files[rel][:-1]}
    start, end = rng.choice(spans)
    try:
        value = json.loads(text[start:end])
    except ValueError:
        return {}
    path = rng.choice(_paths(value)[1:] or [()])
    marker = "@@FUZZ@@"
    new = json.dumps(_set(value, path, marker), indent=1).replace(json.dumps(marker), make(rng))
    return {rel: (text[:start] + new + text[end:]).encode("utf-8", "surrogatepass")}


def m_swap_type(rng: random.Random, src: Source) -> dict[str, bytes | None]:
    return _retype(rng, src, lambda r: json.dumps(r.choice(SWAPS)))


def m_huge_number(rng: random.Random, src: Source) -> dict[str, bytes | None]:
    return _retype(rng, src, lambda r: r.choice(HUGE_NUMBERS))


def m_deep(rng: random.Random, src: Source) -> dict[str, bytes | None]:
    def nest(r: random.Random) -> str:
        n = r.choice((1100, 5000, 30000, 200000))
        if r.random() < 0.5:
            return "[" * n + "]" * n
        if r.random() < 0.5:
            return '{"a":' * n + "1" + "}" * n
        return "[" * n  # unbalanced
    return _retype(rng, src, nest)


def m_drop_member(rng: random.Random, src: Source) -> dict[str, bytes | None]:
    """Remove one member of a JSON object (a payload's name, an object's class, a manifest array)."""
    rel = _pick_file(rng, src)
    text = src.files[rel].decode("utf-8")
    spans = _json_spans(text)
    if not spans:
        return {}
    start, end = rng.choice(spans)
    value = json.loads(text[start:end])
    dicts = [p for p in _paths(value) if isinstance(_get(value, p), dict) and _get(value, p)]
    if not dicts:
        return {}
    p = rng.choice(dicts)
    d = _get(value, p)
    del d[rng.choice(sorted(d))]  # type: ignore[attr-defined]
    return {rel: (text[:start] + json.dumps(value, indent=1) + text[end:]).encode("utf-8", "surrogatepass")}


def _get(v: object, path: tuple[object, ...]) -> object:
    for k in path:
        v = v[k]  # type: ignore[index]
    return v


def m_journal(rng: random.Random, src: Source) -> dict[str, bytes | None]:
    """A dump journal, well formed or not, possibly naming a mutated temporary."""
    rel = rng.choice(_space_files(src) + ["rps_manifest.json"])
    tmp = rel + "_abcdef-p123%"
    choice = rng.randrange(9)
    out: dict[str, bytes | None] = {}
    if choice == 0:
        body = b"[" * 200000
    elif choice == 1:
        body = json.dumps({"renames": rng.choice(SWAPS)}).encode()
    elif choice == 2:
        body = json.dumps({"renames": [[rel, rng.choice(SWAPS)]]}).encode()
    elif choice == 3:
        body = json.dumps({"renames": [["../x", "../x_abcdef-p1%"]]}).encode()
    elif choice == 4:
        body = b'{"renames": [["' + rel.encode() + b'", "\xff\xfe"]]}'
    elif choice == 5:  # a well-formed pair next to a number of 5,000 digits
        body = json.dumps({"renames": [[rel, tmp]]}).encode()[:-1] + b', "x": ' + b"9" * 5000 + b"}"
    elif choice == 6:
        body = rng.choice(SWAPS).__repr__().encode()
    else:  # a well-formed journal whose temporary is a mutated copy of the file
        body = json.dumps({"renames": [[rel, tmp]]}).encode()
        inner = rng.choice((m_flip, m_truncate, m_swap_type, m_huge_number))(rng, Source(src.name, src.top,
                                                                                        {rel: src.files[rel]}))
        out[tmp] = inner.get(rel, src.files[rel])
    if rng.random() < 0.3:
        body = body[:rng.randrange(max(1, len(body)))]
    out[JOURNAL] = body
    return out


def m_reorder(rng: random.Random, src: Source) -> dict[str, bytes | None]:
    """Delete a space file, or duplicate or drop one object's lines."""
    rel = rng.choice(_space_files(src))
    data = src.files[rel]
    if rng.random() < 0.3:
        return {rel: None}
    parts = data.split(b"\n//+ob")
    if len(parts) < 3:
        return {rel: data + data}
    i = rng.randrange(1, len(parts))
    if rng.random() < 0.5:
        parts.insert(i, parts[i])
    else:
        del parts[i]
    return {rel: b"\n//+ob".join(parts)}


MUTATIONS: list[tuple[Mutation, int]] = [
    (m_flip, 3), (m_truncate, 2), (m_bad_utf8, 1), (m_swap_type, 6), (m_huge_number, 2), (m_deep, 1),
    (m_drop_member, 2), (m_journal, 2), (m_reorder, 1),
]


# -- running a case ----------------------------------------------------------------------------------------------


@contextlib.contextmanager
def applied(src: Source, change: dict[str, bytes | None]):  # type: ignore[no-untyped-def]
    """The source store with `change` written into it, restored afterwards."""
    try:
        for rel, data in change.items():
            p = src.top / rel
            if data is None:
                p.unlink()
            else:
                p.write_bytes(data)
        yield src.top
    finally:
        for rel in change:
            p = src.top / rel
            if rel in src.files:
                p.write_bytes(src.files[rel])
            else:
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()


def _brief(exc: BaseException) -> str:
    """The exception and the innermost frame of the project's code that let it through."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "/rpsrt/" in f.filename or "/rpsc/" in f.filename]
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno} ({frames[-1].name})" if frames else ""
    return f"{type(exc).__name__}: {str(exc)[:120]}{where}"


def load_case(top: Path) -> tuple[str | None, bool]:
    """Load through rpsrt.load_store and through the CLI's function: (a description of a failure or None,
    whether the store was refused)."""
    refused = False
    try:
        rpsrt.load_store(str(top))
    except rpsrt.Error:
        refused = True
    except BaseException as exc:  # noqa: BLE001 - the harness reports every other exception as a defect
        return "rpsrt.load_store: " + _brief(exc), True
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = rpsc_main(["store", "check", str(top)])
    except BaseException as exc:  # noqa: BLE001
        return "rpsc store check: " + _brief(exc), refused
    if rc != (1 if refused else 0):
        return f"rpsc store check exited {rc}: {err.getvalue()[-500:]}", refused
    if rc == 1 and ": error: " not in err.getvalue():
        return f"rpsc store check failed without a located error: {err.getvalue()[-500:]}", refused
    return None, refused


def _sources(tmp: Path) -> list[tuple[Source, int]]:
    """(source, weight): the core-objects store and the fixture carry the bulk; real stores when present."""
    core = tmp / "core"
    dump_store(new_heap(), core)
    found = [(core, "core", 4), (FIXTURE, "fixture-0.1.0", 4)]
    for fmt, path in sorted(STORE_DIRS.items()):
        if (path / "rps_manifest.json").is_file():
            found.append((path, fmt, 1))
    out = []
    for path, name, weight in found:
        top = tmp / ("src-" + name)
        if path != top:
            shutil.copytree(path, top)
        files = {str(p.relative_to(top)): p.read_bytes() for p in sorted(top.rglob("*")) if p.is_file()}
        out.append((Source(name, top, files), weight))
    return out


def _cases(rng: random.Random, sources: list[tuple[Source, int]]):  # type: ignore[no-untyped-def]
    srcs = [s for s, _ in sources]
    sweights = [w for _, w in sources]
    muts = [m for m, _ in MUTATIONS]
    mweights = [w for _, w in MUTATIONS]
    for n in range(CASES):
        src = rng.choices(srcs, sweights)[0]
        mut = rng.choices(muts, mweights)[0]
        yield n, src, mut, mut(rng, src)


def test_fuzzed_stores_never_give_a_traceback(tmp_path: Path) -> None:
    """At least 1,000 seeded mutated stores: load_store raises only rpsrt.Error, `store check` returns 0 or 1."""
    assert CASES >= 1000 or "RPSC_FUZZ_CASES" in os.environ
    rng = random.Random(SEED)
    sources = _sources(tmp_path)
    assert any(s.name == "fixture-0.1.0" for s, _ in sources)
    failures = []
    ran = 0
    refused = 0
    cli_cases = []
    for n, src, mut, change in _cases(rng, sources):
        if not change:
            continue
        with applied(src, change) as top:
            ran += 1
            problem, was_refused = load_case(top)
            refused += was_refused
            if problem is not None:
                failures.append(f"case {n} ({src.name}, {mut.__name__}, seed {SEED}): {problem}")
            elif len(cli_cases) < CLI_SAMPLE and n % 50 == 7:
                keep = tmp_path / f"cli-{n}"
                shutil.copytree(top, keep)
                cli_cases.append((n, src.name, mut.__name__, keep))
    assert not failures, f"{len(failures)} of {ran} cases ended in a traceback:\n" + "\n".join(failures[:15])
    assert ran >= 1000 or "RPSC_FUZZ_CASES" in os.environ
    assert refused >= ran // 2, f"only {refused} of {ran} mutated stores were refused: the mutations are too weak"
    for n, name, mname, keep in cli_cases:
        proc = subprocess.run([sys.executable, "-m", "rpsc", "store", "check", str(keep)], capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode in (0, 1), f"case {n} ({name}, {mname}): exit {proc.returncode}: {proc.stderr}"
        assert "Traceback" not in proc.stderr, f"case {n} ({name}, {mname}): {proc.stderr}"
    assert len(cli_cases) >= 5


@pytest.mark.parametrize("body", [b"[" * 200000, b'{"renames": [[{}, []]]}', b'{"renames": 5}', b"\xff\xfe",
                                  b'{"renames": [["rps_manifest.json", "rps_manifest.json_abcdef-p1%"]], '
                                  b'"n": ' + b"9" * 5000 + b"}"])
def test_bad_journal_is_a_located_error(tmp_path: Path, body: bytes) -> None:
    """A malformed dump journal (deep, wrongly typed, bad UTF-8, huge number) is a `file:line: error:`."""
    dump_store(new_heap(), tmp_path)
    (tmp_path / JOURNAL).write_bytes(body)
    with pytest.raises(rpsrt.StoreError) as info:
        rpsrt.load_store(str(tmp_path))
    text = str(info.value)
    assert f"{JOURNAL}:1: error: " in text, text
