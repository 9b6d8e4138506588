"""Incremental compile and build (issue 12): only what changed is redone, and the results equal a full
compile and a from-scratch build, under random edits."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import rpsrt
from hypothesis import given, settings, strategies as st
from rpsc.driver import incremental
from rpsc.driver.build import BuildOptions, build_store
from rpsc.driver.cli import main
from rpsc.driver.pipeline import new_heap
from rpsc.driver.progress import Progress
from rpsc.heapcode.oids import derived_oid

# Four modules: b requires a, c requires a and b, d stands alone. A module's state is (constant, extra
# functions, explicit OID, renamed): the constant changes a body only, the extra functions and an explicit
# `@OID` on the function the others call change the module's interface (the latter the OID its callers' code
# holds); d, in a space of its own name, may be renamed d2 in its file (the old module stays in the store).
REQUIRES = {"a": [], "b": ["a"], "c": ["a", "b"], "d": []}


def source(name: str, const: int, extra: int, explicit: bool = False, renamed: bool = False) -> str:
    lines = [f"module {name}2;" if renamed else f"module {name};"] + [f"requires {r};" for r in REQUIRES[name]]
    if name == "d":
        lines.append("space dspace;")
    calls = "".join(f" + {r}_f0(x)" for r in REQUIRES[name])
    # the explicit OID is the module's own: renamed d2 does not claim that of d (which stays in the store
    # with it: an error, rightly, which Hypothesis found)
    oid = f" @{derived_oid(('test', name + '2' if renamed else name))}" if explicit else ""
    lines.append(f"fn {name}_f0{oid}(x: int) -> int {{ return x * {const + 2} + {const}; }}")
    lines.append(f"fn {name}_g(x: int) -> int {{ return {name}_f0(x){calls}; }}")
    lines += [f"fn {name}_e{k}(y: float) -> float {{ return y * {k}.5; }}" for k in range(extra)]
    return "\n".join(lines) + "\n"


def write(src: Path, state: dict[str, tuple[int, ...]]) -> list[str]:
    src.mkdir(exist_ok=True)
    for name, st_ in state.items():
        (src / f"{name}.rps").write_text(source(name, *st_))
    return [str(src / f"{n}.rps") for n in sorted(state)]


def normalised(store: Path) -> rpsrt.Heap:
    heap = rpsrt.load_store(str(store))
    for o in heap.objects.values():
        o.mtime = 0.0
    return heap


def same_files(a: Path, b: Path, pattern: str) -> None:
    names = sorted(p.name for p in a.glob(pattern))
    assert names and names == sorted(p.name for p in b.glob(pattern))
    for n in names:
        assert (a / n).read_bytes() == (b / n).read_bytes(), n


edits = st.lists(st.tuples(st.sampled_from(sorted(REQUIRES)),
                           st.sampled_from(["const", "iface", "oid", "revert", "rename", "drop"]),
                           st.integers(0, 3)), min_size=1, max_size=5)


@settings(max_examples=10, deadline=None)
@given(edits)
def test_random_edits_incremental_equals_full_compile_and_scratch_build(tmp_path_factory, steps):
    """After every random edit (a body, an interface, an explicit OID, a source edited back to its bytes of
    the step before, module d renamed in its file, a source left off the command line), the incremental
    compile + build (which take the code index's lazy path whenever it applies) gives the same store (mtimes
    aside), the same generated C and the same plugin bytes as a full compile (--no-incremental) followed by
    a build from scratch (no build folder, no generated module C)."""
    root = tmp_path_factory.mktemp("incr")
    src, inc, full = root / "src", root / "inc", root / "full"
    state = {n: (1, 0, False, False) for n in REQUIRES}
    previous = dict(state)
    for step in [None, *steps]:
        left_off: set[str] = set()
        if step is not None:
            name, kind, v = step
            const, extra, explicit, renamed = state[name]
            if kind == "drop":
                left_off = {name}
            elif kind == "revert":
                state, previous = {**state, name: previous[name]}, state
            else:
                previous = dict(state)
                state[name] = ((const + 1 + v, extra, explicit, renamed) if kind == "const" else
                               (const, (extra + 1 + v) % 4, explicit, renamed) if kind == "iface" else
                               (const, extra, not explicit, renamed) if kind == "oid" else
                               (const, extra, explicit, renamed != (name == "d")))
        files = [f for f in write(src, state) if Path(f).stem not in left_off]
        assert main(["compile", *files, "--store", str(inc)]) == 0
        build_store(BuildOptions(store=inc, opt="0"))
        assert main(["compile", *files, "--store", str(full), "--no-incremental"]) == 0
        shutil.rmtree(full / "build", ignore_errors=True)
        (full / ".rpsc" / incremental.INDEX_FILE).unlink(missing_ok=True)  # the reference loads the whole store
        for c in (full / "generated").glob("rps*-mod.c"):
            c.unlink()
        build_store(BuildOptions(store=full, opt="0"))
        diff = normalised(inc).difference(normalised(full))
        assert diff is None, diff
        same_files(inc / "generated", full / "generated", "*")
        same_files(inc / "plugins", full / "plugins", "*.so")


def test_one_body_edit_recompiles_one_source_and_rebuilds_one_module(tmp_path: Path):
    """Editing a function body recompiles only that source and builds IR and C for that module only; an
    interface change also recompiles the modules requiring it; an unchanged compile rewrites no file."""
    src, store = tmp_path / "src", tmp_path / "st"
    state: dict[str, tuple[int, ...]] = {n: (1, 0) for n in REQUIRES}
    files = write(src, state)
    assert main(["compile", *files, "--store", str(store)]) == 0
    build_store(BuildOptions(store=store, opt="0"))

    def compile_now() -> list[str]:
        heap = rpsrt.load_store(str(store)) if (store / "rps_manifest.json").is_file() else new_heap()
        cache = incremental.read_compile_cache(store)
        _, compiled = incremental.compile_incremental([(f, Path(f).read_text()) for f in files], heap, [], cache)
        return sorted(Path(p).stem for p in compiled)

    assert compile_now() == []
    state["c"] = (5, 0)
    write(src, state)
    assert compile_now() == ["c"]
    state["a"] = (1, 2)  # new functions in a: b and c require it
    write(src, state)
    assert compile_now() == ["a", "b", "c"]
    state = {n: (1, 0) for n in REQUIRES}
    state["d"] = (9, 0)
    write(src, state)
    stamps = {p: p.stat().st_mtime_ns for p in (store / "persistore").glob("*-rps.json")}
    assert main(["compile", *files, "--store", str(store)]) == 0
    changed = [p.name for p, t in stamps.items() if p.stat().st_mtime_ns != t]
    assert len(changed) == 1, changed  # d's own space file only
    out = io.StringIO()
    result = build_store(BuildOptions(store=store, opt="0"), progress=Progress(out, "rpsc build"))
    assert "rpsc build: building the IR of 1 module(s) (3 unchanged)" in out.getvalue().splitlines()
    assert [m.name for m in result.modules if m.status == "built"] == ["d"]
    before = {p: p.stat().st_mtime_ns for p in (store / "persistore").glob("*-rps.json")}
    assert main(["compile", *files, "--store", str(store)]) == 0
    assert {p: p.stat().st_mtime_ns for p in (store / "persistore").glob("*-rps.json")} == before


def test_an_edit_touches_only_the_changed_module_through_the_code_index(tmp_path: Path):
    """After a body edit of one module, the compile loads the store lazily through the code index and
    fills no object of the other modules' spaces; a stale index (a space file another program rewrote) is
    brought up to date for that space only, and a damaged one is not used (the whole-store path)."""
    src, store = tmp_path / "src", tmp_path / "st"
    state: dict[str, tuple[int, ...]] = {n: (1, 0) for n in REQUIRES}
    files = write(src, state)
    assert main(["compile", *files, "--store", str(store)]) == 0
    build_store(BuildOptions(store=store, opt="0"))
    state["d"] = (7, 0)
    write(src, state)
    live = incremental.LiveIndex.open(str(store))
    assert live is not None and sorted(live.entries) == sorted(REQUIRES)
    cache = incremental.read_compile_cache(store)
    _, compiled = incremental.compile_incremental([(f, Path(f).read_text()) for f in files], live.heap, [], cache,
                                                  rollback=False, live=live)
    assert [Path(p).stem for p in compiled] == ["d"]
    others = {live.heap[e["oid"]].space for n, e in live.entries.items() if n != "d"}
    filled = [o for o in live.heap.objects.values() if o.space in others and not o.is_ghost and o not in others]
    assert filled == []
    assert {sp.attrs.get(live.cc.name) for sp in live.dirty_spaces()} == {"dspace", "rpsc"}
    # a space file rewritten behind the index's back: only that space is read again
    a_space = next(p for p in (store / "persistore").glob("*-rps.json")
                   if live.entries["a"]["spaces"][0] in p.name)
    a_space.write_bytes(a_space.read_bytes())
    again = incremental.LiveIndex.open(str(store))
    assert again is not None and again.entries == live.entries | {"d": again.entries["d"]}
    (store / ".rpsc" / incremental.INDEX_FILE).write_text("{not json")
    assert incremental.LiveIndex.open(str(store)) is None


def test_unchanged_headers_are_not_rendered_again_and_a_touched_one_is(tmp_path: Path, monkeypatch):
    """A body edit leaves the named objects, roots and constants as they were: the build takes the headers
    the last one wrote (their digest and files match its state) without rendering them; a header edited by
    hand, or a new function (a new named object), makes the next build render them, as a scratch build does."""
    from rpsc.backends.c import emit

    src, store = tmp_path / "src", tmp_path / "st"
    state: dict[str, tuple[int, ...]] = {n: (1, 0) for n in REQUIRES}
    files = write(src, state)
    assert main(["compile", *files, "--store", str(store)]) == 0
    build_store(BuildOptions(store=store, opt="0"))
    renders: list[int] = []
    real = emit.emit_headers
    monkeypatch.setattr(emit, "emit_headers", lambda *a, **k: renders.append(1) or real(*a, **k))
    names = store / "generated" / "rps_names.h"

    def edit_and_build(**change: tuple[int, ...]) -> None:
        state.update(change)
        write(src, state)
        assert main(["compile", *files, "--store", str(store)]) == 0
        build_store(BuildOptions(store=store, opt="0"))

    edit_and_build(c=(4, 0))  # the first build's records named new objects: this one renders the headers
    renders.clear()
    good = names.read_bytes()
    edit_and_build(c=(5, 0))
    assert renders == [] and names.read_bytes() == good
    names.write_bytes(good.replace(b"RPS_NAMED", b"RPS_NAMEX"))  # by hand: a new stamp
    edit_and_build(c=(6, 0))
    assert renders == [1] and names.read_bytes() == good
    edit_and_build(a=(1, 1))  # a new function: a new name in rps_names.h
    assert len(renders) == 2 and b"a_e0" in names.read_bytes()
    edit_and_build(a=(2, 1))
    assert len(renders) == 2


def test_sidecars_written_side_by_side_and_checksums_kept_from_the_state(tmp_path: Path):
    """A build of 4 or more new plugins writes their sidecars from a thread pool: each is the one a lone
    write gives (the manifest and the plugin's sha256); a later build takes the unchanged plugins'
    checksums from its state, and a sidecar edited by hand (a new stamp) is read again, as it always was."""
    import hashlib
    import json

    from rpsrt.plugins import read_sidecar

    src, store = tmp_path / "src", tmp_path / "st"
    state: dict[str, tuple[int, ...]] = {n: (1, 0) for n in REQUIRES}
    files = write(src, state)
    assert main(["compile", *files, "--store", str(store)]) == 0
    first = build_store(BuildOptions(store=store, opt="0"))
    assert [m.status for m in first.modules] == ["built"] * 4
    for m in first.modules:
        side = read_sidecar(m.plugin)
        assert side is not None and side[1] == hashlib.sha256(Path(m.plugin).read_bytes()).hexdigest() == m.sha256
    state["c"] = (7, 0)
    write(src, state)
    assert main(["compile", *files, "--store", str(store)]) == 0
    again = build_store(BuildOptions(store=store, opt="0"))
    assert {m.name: m.sha256 for m in again.modules if m.name != "c"} == \
        {m.name: m.sha256 for m in first.modules if m.name != "c"}
    a = next(m for m in again.modules if m.name == "a")
    side = Path(a.plugin).with_suffix(".json")
    data = json.loads(side.read_text())
    data["sha256"] = "0" * 64
    side.write_text(json.dumps(data))  # by hand: a new stamp, a wrong checksum
    state["c"] = (8, 0)
    write(src, state)
    assert main(["compile", *files, "--store", str(store)]) == 0
    third = build_store(BuildOptions(store=store, opt="0"))
    assert next(m for m in third.modules if m.name == "a").sha256 == "0" * 64  # what the sidecar says now
