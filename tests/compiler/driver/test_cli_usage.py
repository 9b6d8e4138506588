"""`rpsc` as its users run it (subprocesses of `python -m rpsc`): bad input gives a located message and a
non-zero exit, never a traceback; regression tests for the problems found by exercising every command."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import upstream_store_path

MODULE = """module calc version "1.0.0";

fn half(x: float) -> float {
    return x / 2.0;
}

fn gcd(a: int, b: int) -> int {
    while b != 0 {
        var r = a % b;
        a = b;
        b = r;
    }
    return abs(a);
}

fn quot(a: int, b: int) -> int {
    return a / b;
}
"""


def rpsc(*args: str | os.PathLike[str], cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `python -m rpsc ARGS` and check that it printed no traceback, whatever its exit status."""
    proc = subprocess.run([sys.executable, "-m", "rpsc", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stdout, proc.stdout
    return proc


def module_text(name: str) -> str:
    return MODULE.replace("module calc", f"module {name}")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding the module `calc` (read-only use: tests that change a store make their own)."""
    d = tmp_path_factory.mktemp("cli")
    (d / "calc.rps").write_text(MODULE)
    proc = rpsc("compile", d / "calc.rps", "--store", d / "st")
    assert proc.returncode == 0, proc.stderr
    return d / "st"


@pytest.mark.parametrize("backend", ["interp", "jit"])
@pytest.mark.parametrize(("fn", "args", "out"), [
    ("half", ["-1e3"], "-500.0"), ("half", ["-inf"], "-inf"), ("half", ["-.5"], "-0.25"),
    ("half", ["-nan"], "nan"), ("gcd", ["-0x10", "-24"], "8"), ("gcd", ["-12", "18"], "6"),
])
def test_negative_numbers_are_arguments(store: Path, backend: str, fn: str, args: list[str], out: str) -> None:
    """Negative numbers in every spelling (-1e3, -inf, -.5, -0x10) are call arguments, not unknown options."""
    proc = rpsc("run", "--store", store, "--backend", backend, fn, *args)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == out


def test_negative_numbers_are_jit_arguments(store: Path) -> None:
    """`rpsc jit FUNC ARGS` takes negative floats in exponent form too."""
    proc = rpsc("jit", "--store", store, "half", "-4e2")
    assert (proc.returncode, proc.stdout.strip()) == (0, "-200.0"), proc.stderr


def test_options_still_rejected(store: Path) -> None:
    """An unknown option is still an error (the negative-number pattern does not swallow options)."""
    proc = rpsc("run", "--store", store, "half", "-x")
    assert proc.returncode == 2 and "unrecognized arguments: -x" in proc.stderr


@pytest.mark.parametrize("command", ["run", "jit"])
def test_wrong_argument_count_names_the_types(store: Path, command: str) -> None:
    """A wrong argument count says how many arguments of which types the function takes."""
    proc = rpsc(command, "--store", store, "gcd", "1")
    assert proc.returncode == 1
    assert "gcd takes 2 arguments (int, int), got 1" in proc.stderr


@pytest.mark.parametrize("backend", ["interp", "jit", "c"])
def test_recursion_limit_out_of_range(store: Path, backend: str) -> None:
    """A --recursion-limit beyond 2**31-1 is a clear error under every backend (the JIT used to traceback)."""
    proc = rpsc("run", "--store", store, "--backend", backend, "--recursion-limit", str(2**40), "gcd", "4", "6")
    assert proc.returncode == 1
    assert "--recursion-limit must be between 1 and 2147483647" in proc.stderr


def test_compile_into_a_file(tmp_path: Path) -> None:
    """`--store` naming a file says it is not a directory (it used to say `File exists`)."""
    (tmp_path / "calc.rps").write_text(MODULE)
    (tmp_path / "plain").write_text("")
    proc = rpsc("compile", tmp_path / "calc.rps", "--store", tmp_path / "plain")
    assert proc.returncode == 1
    assert f"{tmp_path / 'plain'}: error: not a directory" in proc.stderr


def test_failed_first_compile_leaves_nothing(tmp_path: Path) -> None:
    """A compile error into a new store creates no folder."""
    (tmp_path / "bad.rps").write_text("module bad;\nfn f( \n")
    proc = rpsc("compile", tmp_path / "bad.rps", "--store", tmp_path / "st")
    assert proc.returncode == 1 and "bad.rps:3:1: error:" in proc.stderr
    assert not (tmp_path / "st").exists()


@pytest.mark.parametrize("command", [["store", "check"], ["store", "stats"], ["store", "dump"]])
def test_store_that_is_a_file_or_empty(tmp_path: Path, command: list[str]) -> None:
    """A file or an empty folder given as a store gives a message saying so (not a journal path)."""
    (tmp_path / "plain").write_text("")
    (tmp_path / "empty").mkdir()
    extra = [tmp_path / "out"] if command[1] == "dump" else []
    proc = rpsc(*command, tmp_path / "plain", *extra)
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"{tmp_path / 'plain'}: error: not a store directory (it is a file)"
    proc = rpsc(*command, tmp_path / "empty", *extra)
    assert proc.returncode == 1
    assert "error: missing manifest: this folder holds no store" in proc.stderr


def test_show_store_without_code(tmp_path: Path) -> None:
    """`rpsc show` on a store without rpsc code says how to add some."""
    assert rpsc("store", "new", tmp_path / "st").returncode == 0
    proc = rpsc("show", "--store", tmp_path / "st")
    assert proc.returncode == 1 and "rpsc compile FILE.rps --store DIR" in proc.stderr


def test_concurrent_compile_waits_for_the_lock(tmp_path: Path) -> None:
    """A compile started while another update holds the store's lock waits, then keeps both updates' modules."""
    import rpsrt
    from rpsc.driver.pipeline import compile_sources
    from rpsrt.store.writer import dump_store, update_lock

    for name in ("m1", "m2", "m3"):
        (tmp_path / f"{name}.rps").write_text(module_text(name))
    st = tmp_path / "st"
    assert rpsc("compile", tmp_path / "m1.rps", "--store", st).returncode == 0
    with update_lock(st):
        child = subprocess.Popen([sys.executable, "-m", "rpsc", "compile", str(tmp_path / "m2.rps"), "--store",
                                  str(st)], stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)  # without the lock the child loads the store (m1) now and later overwrites m3
        heap = rpsrt.load_store(str(st))
        compile_sources([(str(tmp_path / "m3.rps"), module_text("m3"))], heap)
        dump_store(heap, st, locked=True)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    shown = rpsc("show", "--store", st).stdout
    assert [line.split()[1] for line in shown.splitlines() if line.startswith("module ")] == ["m1", "m2", "m3"]


def test_unwritable_store_is_left_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A dump that fails writing (read-only store, full disk) raises StoreError naming the store, removes its
    temporaries and leaves the files as they were."""
    import rpsrt
    from rpsc.driver.pipeline import compile_sources
    from rpsrt.errors import StoreError
    from rpsrt.store import journal
    from rpsrt.store import writer

    (tmp_path / "calc.rps").write_text(MODULE)
    st = tmp_path / "st"
    assert rpsc("compile", tmp_path / "calc.rps", "--store", st).returncode == 0
    before = {p: p.read_bytes() for p in st.rglob("*") if p.is_file()}
    heap = rpsrt.load_store(str(st))
    compile_sources([("m2.rps", module_text("m2"))], heap)
    real = journal.write_durably
    calls = []

    def fail_second(path: str, data: bytes) -> None:
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        real(path, data)

    monkeypatch.setattr(journal, "write_durably", fail_second)
    with pytest.raises(StoreError, match="cannot write the store: No space left on device") as info:
        writer.dump_store(heap, st)
    assert info.value.path == str(st)
    assert len(calls) == 2
    assert {p: p.read_bytes() for p in st.rglob("*") if p.is_file()} == before


def test_emit_to_a_directory(store: Path, tmp_path: Path) -> None:
    """`rpsc emit --llvm-ir DIR` names DIR (it used to name a hidden temporary)."""
    proc = rpsc("emit", "--store", store, "--llvm-ir", tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"{tmp_path}: error: is a directory; give the path of the file to write"


@pytest.mark.parametrize(("option", "message"), [
    (["-j", "-1"], "-j -1: give a number of jobs"),
    (["--build-dir", "FILE"], "it is a file, not a folder"),
    (["--stamp", "DIR"], "it is a folder; give the path of the stamp file"),
])
def test_build_bad_options(store: Path, tmp_path: Path, option: list[str], message: str) -> None:
    """Bad `rpsc build` options are refused up front with a message, before any build."""
    (tmp_path / "FILE").write_text("")
    (tmp_path / "DIR").mkdir()
    option = [str(tmp_path / o) if o in ("FILE", "DIR") else o for o in option]
    proc = rpsc("build", "--store", store, *option)
    assert proc.returncode == 1 and message in proc.stderr


def test_build_store_that_is_a_file(tmp_path: Path) -> None:
    """`rpsc build --store FILE` says it is a file (it used to name rpsc-build.json inside it)."""
    (tmp_path / "plain").write_text("")
    proc = rpsc("build", "--store", tmp_path / "plain")
    assert proc.returncode == 1 and "a file, not a store folder" in proc.stderr


def test_build_and_run_in_folder_with_space_and_dollar(tmp_path: Path) -> None:
    """A store under a path with a space, a `$`, a colon and non-ASCII builds, rebuilds through plain ninja,
    and runs its plugin (the paths used to be escaped twice in build.ninja)."""
    top = tmp_path / "a b$c" / "é:d"
    top.mkdir(parents=True)
    (top / "calc.rps").write_text(MODULE)
    st = top / "st ö"
    assert rpsc("compile", top / "calc.rps", "--store", st).returncode == 0
    proc = rpsc("build", "--store", st)
    assert proc.returncode == 0, proc.stderr
    proc = rpsc("run", "--store", st, "--backend", "c", "gcd", "12", "18")
    assert (proc.returncode, proc.stdout.strip()) == (0, "6"), proc.stderr
    (st / "rps_manifest.json").touch()
    from rpsc.driver.build import ninja_executable

    ninja = subprocess.run([ninja_executable(), "-C", str(st / "build")], capture_output=True, text=True)
    assert ninja.returncode == 0, ninja.stdout + ninja.stderr


def test_compile_build_run_upstream_store(tmp_path: Path) -> None:
    """A copy of upstream's 2024A store takes a compiled module, builds its plugin and runs it under every
    backend, and still checks."""
    src = upstream_store_path("2024A")
    up = tmp_path / "up"
    shutil.copytree(src, up)
    (tmp_path / "calc.rps").write_text(MODULE)
    assert rpsc("compile", tmp_path / "calc.rps", "--store", up).returncode == 0
    assert rpsc("build", "--store", up).returncode == 0
    for backend in ("interp", "jit", "c"):
        proc = rpsc("run", "--store", up, "--backend", backend, "gcd", "-12", "18")
        assert (proc.returncode, proc.stdout.strip()) == (0, "6"), (backend, proc.stderr)
    assert rpsc("store", "check", up).returncode == 0


def test_plugin_check_timeout_must_be_positive(tmp_path: Path) -> None:
    """`rpsc plugin check --timeout 0` is refused (it used to report a timeout after 0 s)."""
    proc = rpsc("plugin", "check", tmp_path / "x.so", "--timeout", "0")
    assert proc.returncode == 1 and "--timeout must be a positive number" in proc.stderr


def _parsers(parser: argparse.ArgumentParser, path: str = "rpsc") -> list[tuple[str, argparse.ArgumentParser]]:
    out = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out += _parsers(sub, f"{path} {name}")
    return out


def test_every_argument_has_help() -> None:
    """Every option and positional argument of every (sub)command has a help text."""
    from rpsc.driver.cli import build_parser

    missing = [f"{path}: {a.option_strings or a.dest}" for path, p in _parsers(build_parser())
               for a in p._actions
               if a.help is None and not isinstance(a, argparse._SubParsersAction)]
    assert missing == []


def test_one_command_parser_is_the_full_parsers() -> None:
    """`rpsc COMMAND ...` parses with COMMAND's module alone (`cli.COMMAND_MODULE`): every command is in the
    table, and the parser built that way has, for that command and each of its subcommands, the same help
    text and the same defaults (handler included) as the full parser."""
    from rpsc.driver.cli import COMMAND_MODULE, COMMANDS, build_parser

    assert sorted(COMMAND_MODULE) == sorted(name for name, _ in COMMANDS)
    full = dict(_parsers(build_parser()))
    for command in COMMAND_MODULE:
        lean = dict(_parsers(build_parser(command)))
        mine = {path: p for path, p in full.items() if path.split()[1:2] == [command]}
        assert mine and all(path in lean for path in mine), command
        for path, p in mine.items():
            assert lean[path].format_help() == p.format_help(), path
            assert lean[path]._defaults.keys() == p._defaults.keys(), path
            h1, h2 = lean[path]._defaults.get("handler"), p._defaults.get("handler")
            assert getattr(h1, "__code__", h1) is getattr(h2, "__code__", h2), path  # a lambda: same code


def test_every_help_runs() -> None:
    """`--help` of every (sub)command exits 0 and prints its usage."""
    from rpsc.driver.cli import build_parser

    for path, _ in _parsers(build_parser()):
        proc = rpsc(*path.split()[1:], "--help")
        assert proc.returncode == 0 and proc.stdout.startswith("usage: " + path), path


def test_demo_workdir_that_is_a_file(tmp_path: Path) -> None:
    """`rpsc demo --workdir FILE` is refused with a message (it used to say `File exists`)."""
    (tmp_path / "plain").write_text("")
    proc = rpsc("demo", "--workdir", tmp_path / "plain")
    assert proc.returncode == 1
    assert proc.stderr.strip() == f"{tmp_path / 'plain'}: error: --workdir names a file; give a folder (created when missing)"


def test_run_c_backend_before_build_names_the_store(store: Path) -> None:
    """`rpsc run --backend c` on a store never built says which `rpsc build` command to run."""
    proc = rpsc("run", "--store", store, "--backend", "c", "gcd", "4", "6")
    assert proc.returncode == 1
    assert f"no built plugins: run `rpsc build --store {store}` first" in proc.stderr


def test_jit_json_reports_a_trap_as_json(store: Path) -> None:
    """`rpsc jit --json` prints a JSON document with the trap (and exits 3) when the call traps."""
    import json

    proc = rpsc("jit", "--store", store, "--json", "quot", "1", "0")
    assert proc.returncode == 3
    assert "calc.rps:17:12: trap: division by zero in quot" in proc.stderr
    trap = json.loads(proc.stdout)["trap"]
    assert trap == {"kind": "division by zero", "function": "quot", "location": trap["location"]}
    assert trap["location"].endswith("calc.rps:17:12")


def test_file_and_store_names_that_are_not_utf8(tmp_path: Path) -> None:
    """A source file and a store whose names are not UTF-8 compile, build and run (the dump used to fail on
    the stored file name, and `rpsc build` to traceback writing build.ninja)."""
    src = tmp_path / os.fsdecode(b"calc\xff.rps")
    st = tmp_path / os.fsdecode(b"st\xfe")
    src.write_text(MODULE)
    proc = rpsc("compile", src, "--store", st)
    assert proc.returncode == 0, proc.stderr
    proc = rpsc("build", "--store", st, "--stamp", st / "stamp")
    assert proc.returncode == 0, proc.stderr
    proc = rpsc("run", "--store", st, "--backend", "c", "quot", "7", "0")
    assert proc.returncode == 3 and "calc\ufffd.rps:17:12: trap: division by zero in quot" in proc.stderr


def test_config_flags_combine(tmp_path: Path) -> None:
    """`rpsc config --cflags --ldflags` prints both (they used to be mutually exclusive), and the pair builds
    a shared object with `cc`."""
    both = rpsc("config", "--cflags", "--ldflags")
    assert both.returncode == 0, both.stderr
    assert both.stdout == rpsc("config", "--cflags").stdout + rpsc("config", "--ldflags").stdout
    (tmp_path / "p.c").write_text('#include "rps/plugin.h"\nint answer(void) { return 42; }\n')
    import shlex

    cc = subprocess.run(["cc", str(tmp_path / "p.c"), *shlex.split(both.stdout), "-o", str(tmp_path / "p.so")],
                        capture_output=True, text=True)
    assert cc.returncode == 0, cc.stderr


def test_store_dump_refuses_a_folder_that_is_not_a_store(tmp_path: Path) -> None:
    """`store dump` into a non-empty folder that holds no store is refused and the folder is left as it was;
    an empty folder or an existing store is a valid destination."""
    src = tmp_path / "src"
    assert rpsc("store", "new", src).returncode == 0
    project = tmp_path / "project"
    project.mkdir()
    (project / "notes.txt").write_text("keep me\n")
    proc = rpsc("store", "dump", src, project)
    assert proc.returncode == 1
    assert "holds no store" in proc.stderr
    assert sorted(p.name for p in project.iterdir()) == ["notes.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert rpsc("store", "dump", src, empty).returncode == 0
    assert rpsc("store", "dump", src, empty).returncode == 0  # replacing a store is allowed
    assert rpsc("store", "check", empty).returncode == 0


def test_build_json_reports_failure_as_json(tmp_path: Path) -> None:
    """`rpsc build --json` on a folder that holds no store exits 1 and still prints one JSON object on stdout."""
    import json

    empty = tmp_path / "nostore"
    empty.mkdir()
    proc = rpsc("build", "--store", empty, "--json")
    assert proc.returncode == 1
    out = json.loads(proc.stdout)
    assert out["ok"] is False and out["error"]
    assert "error" in proc.stderr


def test_build_json_reports_a_file_system_error_as_json(store: Path, tmp_path: Path) -> None:
    """`rpsc build --json` whose build folder cannot be created (an OSError) still prints one JSON object."""
    import json

    own = tmp_path / "st"
    shutil.copytree(store, own)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    proc = rpsc("build", "--store", own, "--json", "--build-dir", blocker / "sub")
    assert proc.returncode == 1
    out = json.loads(proc.stdout)
    assert out["ok"] is False and "a-file" in out["error"]


def test_unusable_jit_cache_is_a_warning_not_an_error(store: Path, tmp_path: Path) -> None:
    """A --cache-dir that cannot be written (a file) still runs the function, and says so once on stderr."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    proc = rpsc("run", "--store", store, "--backend", "jit", "--cache-dir", blocker, "gcd", "12", "18")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "6"
    assert proc.stderr.count("cannot write the JIT object cache") == 1


def test_unknown_option_is_reported_by_its_subcommand(tmp_path: Path) -> None:
    """An unknown option of a nested subcommand is reported with that subcommand's usage line, exit 2."""
    proc = rpsc("store", "check", tmp_path, "--bogus")
    assert proc.returncode == 2
    assert "rpsc store check: error: unrecognized arguments: --bogus" in proc.stderr


def test_top_level_help_is_the_full_parsers() -> None:
    """`rpsc --help` is answered from `cli.COMMANDS` without the command modules: its text is the one the
    full parser (every command module registered) prints, so the table cannot drift from the modules."""
    from rpsc.driver.cli import COMMANDS, build_parser, top_level_parser

    full = build_parser()
    sub = next(a for a in full._actions if isinstance(a, argparse._SubParsersAction))
    assert [(a.dest, a.help) for a in sub._choices_actions] == list(COMMANDS)
    assert top_level_parser().format_help() == full.format_help()


@pytest.mark.parametrize("argv", [["--help"], [], ["--version"]])
def test_top_level_help_imports_no_command_module(argv: list[str], monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """`rpsc --help`, `rpsc` and `rpsc --version` print what the full parser prints (same text, same
    status) without importing a command module (a real process's sys.modules)."""
    from rpsc.driver import cli

    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.setattr(cli, "_TOP_ONLY", ())   # the full parser, every command module registered
    try:
        want_status = cli.main(argv)
    except SystemExit as exc:
        want_status = exc.code  # type: ignore[assignment]
    want = capsys.readouterr().out
    code = ("import sys, contextlib, io\n"
            "from rpsc.driver.cli import main\n"
            "out = io.StringIO()\n"
            "with contextlib.redirect_stdout(out):\n"
            "    try:\n        status = main(sys.argv[1:])\n    except SystemExit as exc:\n        status = exc.code\n"
            "print(repr((status, [m for m in sys.modules if m.startswith('rpsc.driver.commands')], out.getvalue())))\n")
    got = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True,
                         env={**os.environ, "COLUMNS": "100"}).stdout
    assert eval(got) == (want_status, [], want)  # noqa: S307 - the repr printed just above


def test_gc_thresholds_are_raised_for_a_command_line_only(capsys: pytest.CaptureFixture[str]) -> None:
    """`rpsc ...` as a program (main() without arguments) raises the GC thresholds (cli.GC_THRESHOLDS);
    main([...]) called from Python (as here) and `rpsc lsp` leave them as they are."""
    import gc

    from rpsc.driver import cli

    before = gc.get_threshold()
    assert cli.main(["config"]) == 0
    assert gc.get_threshold() == before
    capsys.readouterr()
    code = ("import gc, sys\nfrom rpsc.driver.cli import main\nsys.argv = ['rpsc', *sys.argv[1:]]\n"
            "main()\nprint(repr(gc.get_threshold()), file=sys.stderr)\n")
    got = subprocess.run([sys.executable, "-c", code, "config"], capture_output=True, text=True, check=True)
    assert eval(got.stderr.strip().splitlines()[-1]) == cli.GC_THRESHOLDS  # noqa: S307
    assert cli.GC_THRESHOLDS != before
