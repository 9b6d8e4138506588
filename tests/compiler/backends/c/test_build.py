"""`rpsc build`: Ninja builds of a store's plugins, incremental rebuilds, records in the store, errors."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import rpsrt
from rpsc.driver.build import store_stamps
from rpsc.backends.c.native import NativeEngine
from rpsc.driver.record import PLUGIN_ATTRIBUTES, built_modules
from rpsc.driver.cli import main
from rpsrt.plugins import read_sidecar, sha256_file

from .conftest import compile_store, example_sources


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict:  # type: ignore[type-arg]
    assert main(["build", "--json", *argv]) == 0
    return json.loads(capsys.readouterr().out)


def test_build_produces_plugins_sidecars_and_store_records(built_store: Path):
    """Each module becomes plugins/rps<oid>-mod.so with a sidecar holding its sha256; the store records
    the plugin file, checksum and symbols in the module objects, and leaves the manifest's `plugins` empty
    as upstream's dumper writes it."""
    heap = rpsrt.load_store(str(built_store))
    mods = {m.oid: m for m in built_modules(heap)}
    assert len(mods) == 2
    for mod in mods.values():
        so = built_store / "plugins" / f"rps{mod.oid}-mod.so"
        manifest, sha = read_sidecar(so)
        assert sha == sha256_file(so)
        attrs = {a.oid: v for a, v in mod.attrs.items()}
        assert attrs[rpsrt.Oid.parse(PLUGIN_ATTRIBUTES["plugin_file"])] == f"plugins/rps{mod.oid}-mod.so"
        assert attrs[rpsrt.Oid.parse(PLUGIN_ATTRIBUTES["plugin_sha256"])] == sha
        symbols = attrs[rpsrt.Oid.parse(PLUGIN_ATTRIBUTES["plugin_symbols"])].split()
        assert symbols == [e.symbol for e in manifest.exports] and symbols
        assert (built_store / "generated" / f"rps{mod.oid}-mod.c").is_file()
    for header in ("rps_names.h", "rps_roots.h", "rps_constants.h"):
        assert (built_store / "generated" / header).is_file()
    text = (built_store / "rps_manifest.json").read_text()
    assert '"plugins" : [],' in text and not heap.plugins


def test_second_build_runs_no_compiler_and_does_not_load_the_store(built_store: Path, capsys):  # type: ignore[no-untyped-def]
    """A second `rpsc build` takes the fast path: no command run, no store file touched."""
    before = store_stamps(built_store)
    summary = run_json(capsys, "--store", str(built_store))
    assert summary["commands"] == [] and summary["no_op"] and summary["fast_path"]
    assert summary["built"] == 0 and summary["up_to_date"] == 2
    assert store_stamps(built_store) == before


def test_changing_one_function_rebuilds_exactly_one_plugin(built_store: Path, capsys):  # type: ignore[no-untyped-def]
    """Editing one function of one module recompiles and relinks that module's plugin only."""
    sources = example_sources()
    geo = next(k for k in sources if k.endswith("geometry.rps"))
    sources[geo] = sources[geo].replace("3.141592653589793 * r * r", "3.0 * r * r")
    compile_store(built_store, sources)
    summary = run_json(capsys, "--store", str(built_store))
    built = [m for m in summary["modules"] if m["status"] == "built"]
    assert [m["name"] for m in built] == ["geometry"]
    assert len([c for c in summary["commands"] if c.startswith("CC ")]) == 1
    assert len([c for c in summary["commands"] if c.startswith("LINK ")]) == 1
    with NativeEngine(built_store, interruptible=False) as eng:
        assert eng.call("circle_area", [2.0]) == 12.0
    again = run_json(capsys, "--store", str(built_store))
    assert again["commands"] == []


def test_build_dir_moves_build_files_but_not_plugins(tmp_path: Path, capsys):  # type: ignore[no-untyped-def]
    """--build-dir holds build.ninja and objects; plugins stay in the store's plugins/."""
    store, bdir = tmp_path / "store", tmp_path / "elsewhere"
    compile_store(store, example_sources())
    summary = run_json(capsys, "--store", str(store), "--build-dir", str(bdir), "-O", "1")
    assert (bdir / "build.ninja").is_file() and list((bdir / "obj").glob("*.o"))
    assert not (store / "build").exists()
    assert all(Path(p).parent == (store / "plugins").absolute() for p in summary["plugins"])
    assert "-O1" in (bdir / "build.ninja").read_text()


def test_launcher_cc_and_cflags_come_from_options_and_environment(tmp_path: Path, capsys, monkeypatch):  # type: ignore[no-untyped-def]
    """--launcher prefixes every compile but no link (issue 12: links are neither cacheable nor
    distributable), CC/CFLAGS/LDFLAGS come from the environment, and changing CFLAGS rebuilds."""
    store = tmp_path / "store"
    compile_store(store, example_sources())
    log = tmp_path / "launcher.log"
    launcher = tmp_path / "launch.sh"
    launcher.write_text(f'#!/bin/sh\necho "$@" >> {log}\nexec "$@"\n')
    launcher.chmod(launcher.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("CC", "cc")
    monkeypatch.setenv("CFLAGS", "-DRPSC_TEST_FLAG=1")
    monkeypatch.setenv("LDFLAGS", "-Wl,--as-needed")
    run_json(capsys, "--store", str(store), "--launcher", str(launcher))
    lines = log.read_text().splitlines()
    assert len(lines) == 2  # two compiles; the links run the compiler directly
    assert all(line.startswith("cc ") and " -c " in line for line in lines)
    assert sum("-DRPSC_TEST_FLAG=1" in line for line in lines) == 2
    ninja_text = (store / "build" / "build.ninja").read_text()
    assert "ld = cc\n" in ninja_text and "-Wl,--as-needed" in ninja_text
    monkeypatch.setenv("CFLAGS", "-DRPSC_TEST_FLAG=2")
    summary = run_json(capsys, "--store", str(store), "--launcher", str(launcher))
    assert summary["built"] == 2 and len(log.read_text().splitlines()) == 4


def test_compiler_error_names_module_and_function(tmp_path: Path, capsys, monkeypatch):  # type: ignore[no-untyped-def]
    """A C compiler error in generated code is reported with the module and the function it came from."""
    store = tmp_path / "store"
    src = "module brk version \"1.0.0\";\nfn first(a: int) -> int { return a / 3; }\n"
    compile_store(store, {"brk.rps": src})
    monkeypatch.setenv("CFLAGS", "-Dt0=@")  # breaks the first temporary of every generated function
    assert main(["build", "--store", str(store)]) == 1
    err = capsys.readouterr().err
    assert "bug in rpsc" in err and "module brk" in err and "function _" in err and " first " in err
    assert not list((store / "plugins").glob("*.so"))


def test_plain_ninja_regenerates_when_the_store_changes(built_store: Path):
    """The generator rule: after `rpsc compile` changes the store, plain `ninja` reruns rpsc and rebuilds."""
    from rpsc.driver.build import ninja_executable

    sources = example_sources()
    kern = next(k for k in sources if k.endswith("kernels.rps"))
    sources[kern] = sources[kern].replace("return a / b;", "return a / b + 1;")
    compile_store(built_store, sources)
    out = subprocess.run([ninja_executable()], cwd=built_store / "build", capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert out.returncode == 0, out.stdout + out.stderr
    assert "RPSC regenerating build.ninja" in out.stdout
    assert out.stdout.count("LINK ") == 1
    again = subprocess.run([ninja_executable()], cwd=built_store / "build", capture_output=True, text=True)
    assert "no work to do" in again.stdout


def test_build_of_a_missing_store_is_a_clear_error(tmp_path: Path, capsys):  # type: ignore[no-untyped-def]
    """`rpsc build` on a folder that is not a store exits 1 with a one-line error, no traceback."""
    assert main(["build", "--store", str(tmp_path / "nothing")]) == 1
    err = capsys.readouterr().err
    assert "no store here" in err and "Traceback" not in err


def compile_edited(store: Path) -> None:
    """Compile the examples into `store` again, one function of kernels.rps changed (its code, not its name)."""
    sources = example_sources()
    kern = next(k for k in sources if k.endswith("kernels.rps"))
    compile_store(store, {kern: sources[kern].replace("return x;\n}", "return x + 1;\n}", 1), **{
        k: v for k, v in sources.items() if k != kern}})


def test_run_backend_c_refuses_missing_or_stale_plugins(tmp_path: Path, capsys):  # type: ignore[no-untyped-def]
    """`rpsc run --backend c` says to run `rpsc build` when the plugins are missing or older than the store,
    and runs once they are built."""
    store = tmp_path / "store"
    compile_store(store, example_sources())
    assert main(["run", "--store", str(store), "--backend", "c", "gcd", "12", "18"]) == 1
    assert "rpsc build" in capsys.readouterr().err
    assert main(["build", "--store", str(store)]) == 0
    capsys.readouterr()
    assert main(["run", "--store", str(store), "--backend", "c", "gcd", "12", "18"]) == 0
    assert capsys.readouterr().out.strip() == "6"
    compile_edited(store)
    assert main(["run", "--store", str(store), "--backend", "c", "gcd", "12", "18"]) == 1
    assert "changed since its plugins were built" in capsys.readouterr().err
    assert main(["build", "--store", str(store)]) == 0
    capsys.readouterr()
    assert main(["run", "--store", str(store), "--backend", "c", "gcd", "12", "18"]) == 0
    assert capsys.readouterr().out.strip() == "7"


def test_run_backend_c_runs_a_copied_store_and_refuses_a_changed_copy(tmp_path: Path, capsys):  # type: ignore[no-untyped-def]
    """A built store copied elsewhere (new inodes and mtimes: the build's stamps no longer match) still runs
    its plugins, since its files hold the bytes the build saw; so does a copy whose space file was rewritten
    with the same code; a copy whose code was then recompiled is refused."""
    import shutil

    store = tmp_path / "store"
    compile_store(store, example_sources())
    assert main(["build", "--store", str(store)]) == 0
    copy = tmp_path / "copy"
    shutil.copytree(store, copy)  # (copy2: mtimes kept, inodes new)
    plain = tmp_path / "plain"
    shutil.copytree(store, plain, copy_function=shutil.copyfile)  # new mtimes too
    capsys.readouterr()
    for where in (copy, plain):
        assert store_stamps(where) != store_stamps(store)
        assert main(["run", "--store", str(where), "--backend", "c", "gcd", "12", "18"]) == 0
        assert capsys.readouterr().out.strip() == "6"
    space = sorted((plain / "persistore").glob("sp*-rps.json"))[0]
    space.write_bytes(space.read_bytes().replace(b"\n", b"\n\n", 1))  # other bytes, same code
    assert main(["run", "--store", str(plain), "--backend", "c", "gcd", "12", "18"]) == 0
    assert capsys.readouterr().out.strip() == "6"
    compile_edited(copy)
    assert main(["run", "--store", str(copy), "--backend", "c", "gcd", "12", "18"]) == 1
    assert "changed since its plugins were built" in capsys.readouterr().err


HEAP_CODE = """module zoo version "1.0.0";
class animal;
attribute legs : int;
fn make(n: int) -> obj {
  var a = new animal { legs = n };
  add_root(a);
  return a;
}
fn count_legs(a: obj) -> int { return a.legs; }
"""


def test_run_backend_c_after_a_commit_run_needs_no_rebuild(tmp_path: Path, capsys):  # type: ignore[no-untyped-def]
    """A `rpsc run --commit` changes the store's data, not its code: the plugins built before it stay
    current for `--backend c`, which sees the committed object."""
    store = tmp_path / "store"
    compile_store(store, {str(tmp_path / "zoo.rps"): HEAP_CODE})
    assert main(["build", "--store", str(store)]) == 0
    capsys.readouterr()
    before = store_stamps(store)
    assert main(["run", "--store", str(store), "--backend", "c", "--commit", "--seed", "3", "make", "4"]) == 0
    made = capsys.readouterr().out.strip()
    assert store_stamps(store) != before
    assert main(["run", "--store", str(store), "--backend", "c", "count_legs", made]) == 0
    assert capsys.readouterr().out.strip() == "4"


def test_build_records_the_code_hash_of_every_compiled_function(built_store: Path):
    """After a build, every function object holds `code_hash`, the SHA-256 of the typed IR that was
    compiled (LANGUAGE.md: "the native symbol and the hash of what was compiled"), and no two differ
    in hash while having the same IR."""
    from rpsc.driver.record import code_hash
    from rpsc.heapcode.classes import ATTRIBUTES
    from rpsc.driver.pipeline import ir_modules

    heap = rpsrt.load_store(str(built_store))
    hash_attr = heap[ATTRIBUTES["code_hash"]]
    sym_attr = heap[ATTRIBUTES["native_symbol"]]
    functions = [f for m in ir_modules(heap) for f in m.functions]
    assert functions
    for f in functions:
        obj = heap[f.ref.oid]
        assert obj.attrs[hash_attr] == code_hash(f)
        assert obj.attrs[sym_attr] == f.symbol
    assert len({code_hash(f) for f in functions}) == len(functions)


def test_build_drops_modules_an_earlier_rpsc_listed_in_the_manifest(built_store: Path, capsys):  # type: ignore[no-untyped-def]
    """A store whose manifest lists rpsc's modules in `plugins` (as rpsc 0.1 wrote it) gets an empty list
    at its next build, the plugin records kept on the module objects."""
    heap = rpsrt.load_store(str(built_store))
    mods = built_modules(heap)
    heap.plugins.update(mods)
    rpsrt.dump_store(heap, str(built_store))
    assert f'"{mods[0].oid}"' in (built_store / "rps_manifest.json").read_text().split('"plugins"')[1]
    summary = run_json(capsys, "--store", str(built_store))
    assert summary["store_updated"]
    again = rpsrt.load_store(str(built_store))
    assert not again.plugins and [m.oid for m in built_modules(again)] == [m.oid for m in mods]
    assert '"plugins" : [],' in (built_store / "rps_manifest.json").read_text()


def test_native_engine_loads_the_built_modules_not_a_stale_plugin(built_store: Path):
    """With the manifest's `plugins` empty, the C engine loads the modules of the last build: a leftover
    plugins/rps<oid>-mod.so of another module is not loaded, and every built function runs."""
    import shutil

    from rpsc.backends.c.native import NativeEngine

    so = next((built_store / "plugins").glob("rps*-mod.so"))
    stale = built_store / "plugins" / "rps_0000000000100000001-mod.so"
    shutil.copy(so, stale)
    engine = NativeEngine(built_store)
    try:
        loaded = sorted(m.oid for m in engine.modules)
        assert loaded == sorted(str(m.oid) for m in built_modules(rpsrt.load_store(str(built_store))))
        assert "_0000000000100000001" not in loaded and len(loaded) == 2
        assert engine.call("gcd", [1071, 462]) == 21
    finally:
        engine.close()


def test_no_op_build_imports_neither_the_store_reader_nor_the_code_generator(built_store: Path):
    """A no-op `rpsc build` (a fresh process) runs on rpsc.driver.quick alone: no store reader, no Jinja2, no
    full build module, and still prints its JSON summary."""
    code = ("import json, sys\nfrom rpsc.driver.cli import main\n"
            f"rc = main(['build', '--store', {str(built_store)!r}, '--json', '-q'])\n"
            "heavy = sorted(m for m in ('rpsc.driver.build', 'rpsrt.store.reader', 'jinja2', 'lark', 'llvmlite',"
            " 'rpsc.backends.c.emit') if m in sys.modules)\n"
            "print(json.dumps({'rc': rc, 'heavy': heavy}), file=sys.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    report = json.loads(proc.stderr.strip().splitlines()[-1])
    assert report == {"rc": 0, "heavy": []}, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["fast_path"] and summary["no_op"] and summary["up_to_date"] == 2


def test_no_op_build_keeps_a_fresh_compdb_and_rewrites_a_missing_one(built_store: Path, capsys):  # type: ignore[no-untyped-def]
    """A no-op `rpsc build --compdb` stays on the fast path and writes compile_commands.json again, the
    same bytes, when it is gone."""
    assert main(["build", "--store", str(built_store), "--compdb", "-q"]) == 0
    db = built_store / "build" / "compile_commands.json"
    first = db.read_bytes()
    summary = run_json(capsys, "--store", str(built_store), "--compdb")
    assert summary["fast_path"] and db.read_bytes() == first
    db.unlink()
    summary = run_json(capsys, "--store", str(built_store), "--compdb")
    assert summary["fast_path"] and db.read_bytes() == first


def _compiled_store(tmp_path: Path) -> Path:
    store = tmp_path / "store"
    compile_store(store, example_sources())
    return store


def test_cold_build_compiles_the_first_modules_while_it_generates_the_others(tmp_path: Path):
    """A cold build starts ninja before the C of every module is generated: ninja's first compile starts
    before the last `emit C` phase ends; no placeholder or `emit/active` stays behind, and a second build
    is a no-op on the fast path."""
    store = _compiled_store(tmp_path)
    trace = tmp_path / "t.json"
    assert main(["build", "--store", str(store), "-q", "--trace", str(trace)]) == 0
    events = [e for e in json.loads(trace.read_text())["traceEvents"] if e.get("ph") == "X"]
    emits = [e for e in events if e["name"].startswith("emit C: ")]
    compiles = [e for e in events if e.get("cat") == "ninja,compile"]
    assert len(emits) == 2 and len(compiles) == 2
    assert min(e["ts"] for e in compiles) < max(e["ts"] + e["dur"] for e in emits)
    for c_file in (store / "generated").glob("*-mod.c"):
        assert b"rpsc build is generating" not in c_file.read_bytes()
    assert not (store / "build" / "emit" / "active").exists()
    proc = subprocess.run([sys.executable, "-m", "rpsc", "build", "--store", str(store), "--json", "-q"],
                          capture_output=True, text=True, timeout=120)
    summary = json.loads(proc.stdout)
    assert summary["fast_path"] and summary["commands"] == []


def test_cold_build_failing_while_ninja_runs_stops_ninja_and_leaves_no_placeholder(tmp_path: Path):
    """When the second module's stored code is malformed, the cold build (ninja already compiling the first)
    exits 1 with the located error, leaves no placeholder C and no `emit/active`, and a build after the
    store is repaired succeeds."""
    from rpsc.heapcode.classes import find_code_classes
    from rpsc.heapcode.encode import module_objects, stored_definitions

    store = _compiled_store(tmp_path)
    heap = rpsrt.load_store(str(store))
    cc = find_code_classes(heap)
    assert cc is not None
    fn = stored_definitions(module_objects(heap, cc)["geometry"], cc)["circle_area"][1]
    fn.attrs[cc.attr["body"]] = 42
    rpsrt.dump_store(heap, str(store))
    proc = subprocess.run([sys.executable, "-m", "rpsc", "build", "--store", str(store)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 1 and str(fn.oid) in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert "interrupted" not in proc.stdout  # ninja's stop after the error is not echoed
    for c_file in (store / "generated").glob("*-mod.c"):
        assert b"rpsc build is generating" not in c_file.read_bytes()
    assert not (store / "build" / "emit" / "active").exists()
    compile_store(store, {k: v + "\n" for k, v in example_sources().items()})
    assert main(["build", "--store", str(store), "-q"]) == 0
    with NativeEngine(store, interruptible=False) as eng:
        assert eng.call("circle_area", [1.0]) == pytest.approx(3.141592653589793)


def test_plain_ninja_compile_without_generated_c_fails_instead_of_waiting(built_store: Path):
    """A compile whose C file was never generated (no marker) and no `rpsc build` running fails at once,
    saying to run `rpsc build`, rather than waiting forever."""
    import ninja

    bdir = built_store / "build"
    marker = next((bdir / "emit").glob("*.done"))
    marker.unlink()
    (built_store / "generated" / f"rps{marker.stem}-mod.c").touch()
    proc = subprocess.run([os.path.join(ninja.BIN_DIR, "ninja")], cwd=bdir, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode != 0
    assert "is not generated: run rpsc build" in proc.stdout + proc.stderr


def test_full_build_takes_the_compiler_probe_from_the_state_while_the_compiler_is_the_same(built_store: Path, capsys):  # type: ignore[no-untyped-def]
    """The GCC-workaround probe is remembered in the build state with the compiler's identity: a later full
    build uses the recorded flags (here planted ones) without probing, and probes again once the recorded
    identity no longer matches the compiler."""
    from rpsc.driver import build as b

    bdir = built_store / "build"
    state = json.loads((bdir / "rpsc-build.json").read_text())
    probe = state["cc_probe"]
    assert probe["flags"] == list(b.compiler_workaround_flags(probe["cc"])) and probe["stamp"]
    probe["flags"] = ["-DRPSC_PROBE_FROM_STATE"]
    (bdir / "rpsc-build.json").write_text(json.dumps(state))
    b._PROBED.clear()
    sources = example_sources()
    geo = next(k for k in sources if k.endswith("geometry.rps"))
    sources[geo] = sources[geo].replace("3.141592653589793 * r * r", "3.0 * r * r")
    compile_store(built_store, sources)  # the store changed: a full build
    run_json(capsys, "--store", str(built_store))
    assert "-DRPSC_PROBE_FROM_STATE" in (bdir / "build.ninja").read_text()
    state = json.loads((bdir / "rpsc-build.json").read_text())
    state["cc_probe"]["stamp"] = ["/nonexistent/cc", 1, 2, 3]
    (bdir / "rpsc-build.json").write_text(json.dumps(state))
    b._PROBED.clear()
    sources[geo] = sources[geo].replace("3.0 * r * r", "3.5 * r * r")
    compile_store(built_store, sources)
    run_json(capsys, "--store", str(built_store))
    assert "-DRPSC_PROBE_FROM_STATE" not in (bdir / "build.ninja").read_text()
