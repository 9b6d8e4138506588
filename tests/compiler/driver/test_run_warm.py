"""`rpsc run`'s warm start (rpsc.driver.runwarm, rpsc.backends.llvm.runindex and runrecord): a function compiled by an
earlier JIT run of an unchanged store runs from a shared library linked with the real `cc`, without the
store, the AST/IR modules or llvmlite, and prints exactly what the slow path prints; any doubt falls back.

The slow path runs in process (`RPSC_WARM_RUN=0`), the warm one in a real subprocess whose `sys.modules`
is reported, so each comparison also proves which path ran."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rpsc.driver.cli import main

ALPHA = """module alpha;
requires beta;

fn add1(n: int) -> int { return n + 1; }
fn div(a: int, b: int) -> int { return a / b; }
fn half(x: float) -> float { return x / 2.0; }
fn neg(b: bool) -> bool { return !b; }
fn nothing(x: int) { var y = x; }
fn deep(n: int) -> int { return deep(n + 1) + 1; }
fn toint(x: float) -> int { return int(x); }
fn spin(n: int) -> int { var i = 0; while true { i = i + n; } }
fn twice(n: int) -> int { return dbl(n) + dbl(n); }
fn same(n: int) -> int { return n; }
fn mix(a: int, x: float, b: bool) -> float { if b { return float(a) * x; } return x; }
"""
BETA = """module beta;
fn dbl(n: int) -> int { return n * 2; }
fn same(n: int) -> int { return n + 100; }
"""
#: What a warm run must not have imported: the compiler libraries, the frontend, the IR, the store.
NOT_WARM = ("llvmlite", "lark", "jinja2", "rpsc.frontend", "rpsc.heapcode", "rpsc.ir", "rpsc.backends.engine",
            "rpsrt.store", "rpsrt.model", "argparse")
PROBE = ("import json, os, sys\n"
         "from rpsc.driver.cli import main\n"
         "try:\n"
         "    code = main(sys.argv[1:])\n"
         "except SystemExit as exc:\n"
         "    code = exc.code\n"
         "sys.stdout.flush()\n"
         "with open(os.environ['RPSC_PROBE_MODULES'], 'w') as f:\n"
         "    json.dump(sorted(sys.modules), f)\n"
         "raise SystemExit(code)\n")


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text)
    return path


def _rpsc(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rpsc", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})


def probe(tmp: Path, *args: str) -> tuple[int, str, str, list[str]]:
    """A real `rpsc ARGS...` in a subprocess: exit status, stdout, stderr and the modules it imported."""
    mods = tmp / "modules.json"
    env = {k: v for k, v in os.environ.items() if k != "RPSC_WARM_RUN"}
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=600,
                          env={**env, "RPSC_PROBE_MODULES": str(mods)})
    return proc.returncode, proc.stdout, proc.stderr, json.loads(mods.read_text())


def heavy(modules: list[str], argv: list[str] = ()) -> list[str]:  # type: ignore[assignment]
    """What of NOT_WARM a run imported (argparse allowed with --json: rpsc.driver.commands.jsonout's
    package imports it)."""
    allowed = ("argparse",) if "--json" in argv else ()
    return [m for m in modules if any(m == h or m.startswith(h + ".") for h in NOT_WARM if h not in allowed)]


def slow(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The slow path, in process, with the warm start off."""
    monkeypatch.setenv("RPSC_WARM_RUN", "0")
    try:
        code = main(list(args))
    except SystemExit as exc:   # argparse's usage errors
        code = exc.code  # type: ignore[assignment]
    finally:
        monkeypatch.delenv("RPSC_WARM_RUN")
    out, err = capsys.readouterr()
    return code, out, err


def index_files(cache: Path) -> list[Path]:
    return sorted((cache / "run").glob("store-*.json")) if (cache / "run").is_dir() else []


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """alpha (requiring beta) compiled into a store, and one slow `rpsc run` that wrote its index."""
    folder = tmp_path_factory.mktemp("warm")
    st_dir = folder / "st"
    proc = _rpsc("compile", str(_write(folder, "a.rps", ALPHA)), str(_write(folder, "b.rps", BETA)),
                 "--store", str(st_dir))
    assert proc.returncode == 0, proc.stderr
    proc = _rpsc("run", "--store", str(st_dir), "add1", "1")
    assert (proc.returncode, proc.stdout) == (0, "2\n"), proc.stderr
    return st_dir


CASES = [
    ["add1", "41"], ["add1", "-5"], ["add1", "0x10"], ["add1", "9223372036854775807"], ["div", "7", "2"],
    ["div", "-7", "0"], ["half", "3"], ["half", "-inf"], ["half", "nan"], ["half", "1e308"], ["half", "-0.0"],
    ["neg", "true"], ["neg", "false"], ["nothing", "3"], ["deep", "1"], ["--recursion-limit", "50", "deep", "1"],
    ["toint", "nan"], ["toint", "-2.5e3"], ["twice", "5"], ["alpha.same", "3"], ["beta.same", "3"],
    ["mix", "3", "1.5", "true"], ["mix", "3", "1.5", "false"],
    ["--json", "add1", "41"], ["--json", "div", "1", "0"], ["--json", "nothing", "1"], ["--json", "half", "inf"],
    ["--json", "neg", "true"], ["add1", "41", "--json", "--backend", "jit"], ["--backend=jit", "twice", "-4"],
]


@pytest.mark.parametrize("argv", CASES, ids=" ".join)
def test_warm_run_prints_what_the_slow_path_prints(store: Path, argv: list[str], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Results, traps (file:line:col, exit status 3) and --json documents of the warm path are the slow
    path's, byte for byte, and the warm run imported neither the store, nor the IR, nor llvmlite."""
    want = slow(monkeypatch, capsys, "run", "--store", str(store), *argv)
    code, out, err, modules = probe(tmp_path, "run", "--store", str(store), *argv)
    assert (code, out, err) == want
    assert heavy(modules, argv) == []


def test_a_symbol_name_runs_warm(store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    """`rpsc run rpsfn_<oid>` resolves through the index like the slow path resolves it."""
    code, out, _ = slow(monkeypatch, capsys, "run", "--store", str(store), "--json", "beta.same", "1")
    symbol = json.loads(out)["symbol"]
    want = slow(monkeypatch, capsys, "run", "--store", str(store), symbol, "8")
    got = probe(tmp_path, "run", "--store", str(store), symbol, "8")
    assert got[:3] == want and want[1] == "108\n" and heavy(got[3]) == []


FALLBACKS = [
    ["same", "3"],                 # ambiguous: the slow path names the candidates
    ["add1"], ["add1", "x"], ["add1", "1", "2"], ["neg", "yes"], ["nosuch", "1"], ["add1", "99999999999999999999"],
    ["--backend", "interp", "add1", "1"], ["--backend", "c", "add1", "1"], ["--no-cache", "add1", "1"],
    ["--recursion-limit", "0", "add1", "1"], ["--json", "--json=1", "add1", "1"], ["add1", "--json", "1"],
    ["--sto", "X", "add1", "1"], ["add1", "1", "--", "2"],
]


@pytest.mark.parametrize("argv", FALLBACKS, ids=" ".join)
def test_what_the_warm_path_does_not_handle_falls_back(store: Path, argv: list[str], tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """Bad names and arguments, other backends, other options: the slow path runs (it imported the IR) and
    prints its own result or located error, exactly as with the warm start off."""
    args = [a.replace("X", str(store)) for a in argv]
    if "--sto" not in argv:
        args = ["--store", str(store), *args]
    want = slow(monkeypatch, capsys, "run", *args)
    code, out, err, modules = probe(tmp_path, "run", *args)
    assert (code, out, err) == want
    assert "Traceback" not in err
    assert "rpsc.ir" in modules or "argparse" in modules


def _compile(folder: Path, st_dir: Path, body: str) -> None:
    src = _write(folder, "one.rps", f"module one;\nfn one(n: int) -> int {{ return {body}; }}\n")
    proc = _rpsc("compile", str(src), "--store", str(st_dir))
    assert proc.returncode == 0, proc.stderr


def test_a_changed_store_invalidates_the_index(tmp_path: Path) -> None:
    """Edit the source, recompile: the next run prints the new result (from the slow path), and the run
    after it is warm again, with the new code."""
    st_dir = tmp_path / "st"
    _compile(tmp_path, st_dir, "n + 1")
    assert _rpsc("run", "--store", str(st_dir), "one", "41").stdout == "42\n"
    code, out, _, modules = probe(tmp_path, "run", "--store", str(st_dir), "one", "41")
    assert (code, out) == (0, "42\n") and heavy(modules) == []
    _compile(tmp_path, st_dir, "n * 2")
    code, out, _, modules = probe(tmp_path, "run", "--store", str(st_dir), "one", "41")
    assert (code, out) == (0, "82\n") and "rpsc.ir" in modules
    code, out, _, modules = probe(tmp_path, "run", "--store", str(st_dir), "one", "41")
    assert (code, out) == (0, "82\n") and heavy(modules) == []


def test_a_dump_in_progress_makes_the_index_unusable(tmp_path: Path) -> None:
    """While a committed dump's journal is in the store (its new files still under their temporary names,
    the plain files those the index was made for), the warm path stands aside and the slow path runs the
    journal's generation; once the journal is gone, the index is used again."""
    import shutil

    from rpsrt.store.journal import JOURNAL

    st_dir, other = tmp_path / "st", tmp_path / "st2"
    _compile(tmp_path, st_dir, "n - 1")
    assert _rpsc("run", "--store", str(st_dir), "one", "5").stdout == "4\n"
    shutil.copytree(st_dir, other)
    _compile(tmp_path, other, "n * 3")
    renames = []
    for path in [other / "rps_manifest.json", *sorted((other / "persistore").glob("*.json"))]:
        rel = path.relative_to(other).as_posix()
        if (st_dir / rel).read_bytes() != path.read_bytes():
            shutil.copyfile(path, st_dir / f"{rel}_abc123-p1%")
            renames.append([rel, f"{rel}_abc123-p1%"])
    assert renames
    (st_dir / JOURNAL).write_text(json.dumps({"renames": renames}))
    code, out, _, modules = probe(tmp_path, "run", "--store", str(st_dir), "one", "5")
    assert (code, out) == (0, "15\n") and "rpsc.ir" in modules
    (st_dir / JOURNAL).unlink()
    for _rel, tmp in renames:
        (st_dir / tmp).unlink()
    code, out, _, modules = probe(tmp_path, "run", "--store", str(st_dir), "one", "5")
    assert (code, out) == (0, "4\n") and heavy(modules) == []


CORRUPTIONS = {
    "garbage": lambda doc, raw: b"\x00\xffnot json",
    "truncated": lambda doc, raw: raw[: len(raw) // 2],
    "a list": lambda doc, raw: b"[]",
    "rows of the wrong type": lambda doc, raw: json.dumps({**doc, "functions": [1, "x", None]}).encode(),
    "a library out of range": lambda doc, raw: json.dumps(
        {**doc, "functions": [{**r, "library": 7} for r in doc["functions"]]}).encode(),
    "params of the wrong type": lambda doc, raw: json.dumps(
        {**doc, "functions": [{**r, "params": "i64"} for r in doc["functions"]]}).encode(),
    "another state": lambda doc, raw: json.dumps({**doc, "state": doc["state"][:1]}).encode(),
}


@pytest.mark.parametrize("how", [*CORRUPTIONS, "the library truncated", "the library removed"])
def test_a_corrupt_index_falls_back(tmp_path: Path, how: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A corrupt or lying index, or a damaged or missing library, gives the slow path's right answer (no
    traceback), and that run repairs the index: the next one is warm."""
    cache = tmp_path / "cache"
    env = {"RPSC_CACHE_DIR": str(cache)}
    st_dir = tmp_path / "st"
    _compile(tmp_path, st_dir, "n + 7")
    assert _rpsc("run", "--store", str(st_dir), "one", "1", env=env).stdout == "8\n"
    [index] = index_files(cache)
    raw = index.read_bytes()
    doc = json.loads(raw)
    lib = Path(doc["libraries"][0][0])
    if how == "the library truncated":
        lib.write_bytes(lib.read_bytes()[:100])
    elif how == "the library removed":
        lib.unlink()
    else:
        index.write_bytes(CORRUPTIONS[how](doc, raw))
    monkeypatch.setenv("RPSC_CACHE_DIR", str(cache))
    code, out, err, modules = probe(tmp_path, "run", "--store", str(st_dir), "one", "1")
    assert (code, out, err) == (0, "8\n", "") and "rpsc.ir" in modules
    code, out, err, modules = probe(tmp_path, "run", "--store", str(st_dir), "one", "1")
    assert (code, out, err) == (0, "8\n", "") and heavy(modules) == []


def test_heap_code_is_never_indexed(tmp_path: Path) -> None:
    """A store holding version-2 code runs on the heap (the interpreter by default): no index is written,
    and every run takes the slow path."""
    cache = tmp_path / "cache"
    env = {"RPSC_CACHE_DIR": str(cache)}
    src = _write(tmp_path, "v2.rps", 'module v2m;\nfn plain(n: int) -> int { return n + 1; }\n'
                                     'fn glue(a: str, b: str) -> str { return a + b; }\n')
    st_dir = tmp_path / "st"
    assert _rpsc("compile", str(src), "--store", str(st_dir)).returncode == 0
    for _ in range(2):
        proc = _rpsc("run", "--store", str(st_dir), "--json", "plain", "1", env=env)
        assert proc.returncode == 0 and json.loads(proc.stdout)["backend"] == "interp", proc.stderr
    assert index_files(cache) == []


def test_no_cache_and_warm_run_off_write_no_index(tmp_path: Path) -> None:
    """`--no-cache` and RPSC_WARM_RUN=0 neither read nor write the index; a plain run writes it."""
    cache = tmp_path / "cache"
    st_dir = tmp_path / "st"
    _compile(tmp_path, st_dir, "n")
    assert _rpsc("run", "--store", str(st_dir), "--no-cache", "one", "1", env={"RPSC_CACHE_DIR": str(cache)}).stdout == "1\n"
    assert _rpsc("run", "--store", str(st_dir), "one", "1",
                 env={"RPSC_CACHE_DIR": str(cache), "RPSC_WARM_RUN": "0"}).stdout == "1\n"
    assert index_files(cache) == []
    assert _rpsc("run", "--store", str(st_dir), "one", "1", env={"RPSC_CACHE_DIR": str(cache)}).stdout == "1\n"
    assert len(index_files(cache)) == 1


def test_cache_dir_option_holds_the_index(tmp_path: Path) -> None:
    """`--cache-dir D` reads and writes the index in D, like the objects."""
    cache = tmp_path / "elsewhere"
    st_dir = tmp_path / "st"
    _compile(tmp_path, st_dir, "n + 3")
    assert _rpsc("run", "--store", str(st_dir), "--cache-dir", str(cache), "one", "1").stdout == "4\n"
    assert len(index_files(cache)) == 1
    code, out, _, modules = probe(tmp_path, "run", "--cache-dir", str(cache), "--store", str(st_dir), "one", "2")
    assert (code, out) == (0, "5\n") and heavy(modules) == []


def _maps(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_ctrl_c_interrupts_a_warm_run(store: Path) -> None:
    """SIGINT to a warm `rpsc run spin` (an endless loop; the process maps the index's library and not
    llvmlite) traps `interrupted` at the loop's location and exits 3, as the slow path does."""
    proc = subprocess.Popen([sys.executable, "-m", "rpsc", "run", "--store", str(store), "spin", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while "/run/lib-" not in _maps(proc.pid):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the warm run never loaded its library"
            time.sleep(0.02)
        while _cpu_seconds(proc.pid) < 0.4:   # in the loop: the warm start itself takes far less CPU
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the warm run never got going"
            time.sleep(0.02)
        assert "llvmlite" not in _maps(proc.pid)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert (proc.returncode, out) == (3, "")
    assert re.fullmatch(r"\S*a\.rps:11:\d+: trap: interrupted in spin\n", err), err


def test_help_and_warm_run_import_no_compiler_library(store: Path, tmp_path: Path) -> None:
    """`rpsc --help` and a warm run import neither llvmlite, Lark nor Jinja2 (sys.modules of real
    processes); the warm run not even argparse or the store."""
    code, out, _, modules = probe(tmp_path, "--help")
    assert code == 0 and out.startswith("usage: rpsc")
    assert [m for m in modules if m.split(".")[0] in ("llvmlite", "lark", "jinja2")] == []
    code, out, _, modules = probe(tmp_path, "run", "--store", str(store), "twice", "2")
    assert (code, out) == (0, "8\n") and heavy(modules) == []


# ---------------------------------------------------------------- the pieces, against what they mirror


def test_mirrored_constants_agree() -> None:
    """The warm path's copies (negative numbers, the journal's and the manifest's names) are the originals."""
    from rpsc.backends.llvm import runindex
    from rpsc.driver import runwarm
    from rpsc.driver.commands import NEGATIVE_NUMBER
    from rpsrt.store.journal import JOURNAL

    assert runwarm.NEGATIVE_NUMBER.pattern == NEGATIVE_NUMBER.pattern
    assert runwarm.NEGATIVE_NUMBER.flags == NEGATIVE_NUMBER.flags
    assert runindex.JOURNAL == JOURNAL and runindex.MANIFEST == "rps_manifest.json"


def _run_parser() -> argparse.ArgumentParser:
    from rpsc.driver.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["run"]  # type: ignore[no-any-return]


WORDS = st.sampled_from(["--store", "st", "--json", "--backend", "jit", "interp", "--recursion-limit", "7",
                         "0", "--cache-dir", "-5", "-1e3", "-inf", "f", "m.f", "1", "true", "--backend=jit",
                         "--store=s2", "--no-cache", "--commit", "-x", "--", "--sto", "--recursion-limit=9",
                         "-h", "", "a b", "-"])


@settings(max_examples=300)
@given(st.lists(WORDS, max_size=9))
def test_the_warm_parser_reads_what_argparse_reads(argv: list[str]) -> None:
    """Whenever the warm path accepts a command line, argparse reads the same options, function and
    arguments from it (and accepts it)."""
    from rpsc.driver.runwarm import parse

    got = parse(argv)
    if got is None:
        return
    parser = _run_parser()
    ns, extras = parser.parse_known_args(argv)
    assert extras == []
    assert (ns.store, ns.backend, ns.recursion_limit, ns.cache_dir, ns.json, ns.function, ns.args) == (
        got["store"], got["backend"], got["recursion_limit"], got["cache_dir"], got["json"], got["function"],
        got["args"])
    assert not (ns.no_cache or ns.commit or ns.seed is not None or ns.clock is not None)


@settings(max_examples=300)
@given(st.one_of(st.text(max_size=12), st.sampled_from(["0x1f", "-0b11", "1_000", " 5 ", "1e999", "-nan",
                                                        "true", "false", "True", "9223372036854775808"])),
       st.sampled_from(["i64", "f64", "bool"]))
def test_arguments_parse_as_the_slow_path_parses_them(text: str, code: str) -> None:
    """`parse_value` accepts exactly what `rpsc.backends.engine.parse_arg` accepts, with the same value."""
    from rpsc.backends.engine import EngineError, parse_arg
    from rpsc.driver.runwarm import parse_value
    from rpsc.ir import ir

    try:
        want = parse_arg(text, {"i64": ir.I64, "f64": ir.F64, "bool": ir.BOOL}[code])
    except EngineError:
        with pytest.raises(ValueError):
            parse_value(text, code)
        return
    got = parse_value(text, code)
    assert type(got) is type(want) and (got == want or got != got and want != want)


@given(st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63 - 1), st.floats()))
def test_results_print_as_the_slow_path_prints_them(value: object) -> None:
    """`result_text` is `rpsc.backends.engine.format_result` for every scalar result."""
    from rpsc.backends.engine import format_result
    from rpsc.driver.runwarm import result_text

    assert result_text(value) == format_result(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("env", [{"RPSC_CACHE_DIR": "/x/c"}, {"XDG_CACHE_HOME": "/y"}, {}])
def test_cache_root_text_is_cache_root(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The warm path's cache folder (a string, no pathlib) is the one the JIT cache uses."""
    from rpsc.cachedir import cache_root, cache_root_text

    for k in ("RPSC_CACHE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert Path(cache_root_text()) == cache_root()


def test_record_refuses_a_store_that_changed(tmp_path: Path) -> None:
    """The writer compares the store's state before the load with the state after the call: a state that
    no longer holds writes no index."""
    import rpsrt
    from rpsc.backends.llvm import runindex, runrecord
    from rpsc.backends.llvm.jit import JitEngine
    from rpsc.driver.pipeline import ir_modules

    st_dir = tmp_path / "st"
    _compile(tmp_path, st_dir, "n + 9")
    cache = tmp_path / "cache"
    state = runindex.store_state(str(st_dir))
    assert state is not None
    modules = ir_modules(rpsrt.load_store(str(st_dir)))
    with JitEngine(modules, cache_dir=cache) as engine:
        assert engine.call("one", [1]) == 10
        stale = [[*state[0][:2], state[0][2] - 1, *state[0][3:]], *state[1:]]
        assert not runrecord.record(str(cache), str(st_dir), stale, modules, engine)
        assert index_files(cache) == []
        assert runrecord.record(str(cache), str(st_dir), state, modules, engine)
        assert len(index_files(cache)) == 1
    assert runindex.lookup(str(cache), str(st_dir), "one")["params"] == ["i64"]  # type: ignore[index]
    assert runindex.lookup(str(cache), str(st_dir), "two") is None


def test_cache_command_knows_the_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """`rpsc cache info` counts the index and its library; `prune` drops them once their store is gone
    (and keeps them while it lives); `prune --all` removes them."""
    import shutil

    cache = tmp_path / "cache"
    monkeypatch.setenv("RPSC_CACHE_DIR", str(cache))
    st_dir = tmp_path / "st"
    _compile(tmp_path, st_dir, "n + 4")
    assert _rpsc("run", "--store", str(st_dir), "one", "1").stdout == "5\n"
    assert main(["cache", "info", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["kinds"]["run_index"]["files"] == 2
    assert main(["cache", "prune", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["removed"]["run_index"] == 0
    shutil.rmtree(st_dir)
    assert main(["cache", "prune", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["removed"]["run_index"] == 2
    assert not (cache / "run").exists()
    _compile(tmp_path, st_dir, "n + 4")
    assert _rpsc("run", "--store", str(st_dir), "one", "1").stdout == "5\n"
    assert main(["cache", "prune", "--all", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["removed"]["run_index"] == 2
