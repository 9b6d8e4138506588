"""Every `--json` document validates against the schema docs/json-output.md gives for its command, and every
command with a `--json` option has a schema there."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest
from rpsc.driver.cli import build_parser, main

from .conftest import EXAMPLES, REPO, compile_and_build

jsonschema = pytest.importorskip("jsonschema")  # in the test extras

DOC = REPO / "docs" / "json-output.md"


def schemas() -> dict[str, dict]:  # type: ignore[type-arg]
    """Section heading (`rpsc store check`) -> the first ```json block under it."""
    out = {}
    for m in re.finditer(r"^## (rpsc [^\n]+)\n(.*?)(?=^## |\Z)", DOC.read_text(), re.MULTILINE | re.DOTALL):
        block = re.search(r"```json\n(.*?)```", m.group(2), re.DOTALL)
        assert block is not None, f"section {m.group(1)} has no json block"
        out[m.group(1).strip()] = json.loads(block.group(1))
    return out


def json_commands() -> list[str]:
    """`rpsc <path>` of every (sub)command that takes --json."""
    found = []

    def walk(p: argparse.ArgumentParser, path: str) -> None:
        if any("--json" in a.option_strings for a in p._actions):
            found.append(path)
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                for name, sub in a.choices.items():
                    walk(sub, f"{path} {name}")

    walk(build_parser(), "rpsc")
    return found


def test_every_schema_is_a_schema() -> None:
    """Each block is a valid draft 2020-12 JSON Schema."""
    for schema in schemas().values():
        jsonschema.Draft202012Validator.check_schema(schema)


def test_every_json_command_is_documented() -> None:
    """No command has --json without a section (and schema) in docs/json-output.md."""
    commands = json_commands()
    assert {"rpsc compile", "rpsc run", "rpsc dispatch", "rpsc store check", "rpsc config"} <= set(commands)
    assert sorted(set(commands) - set(schemas())) == []


@pytest.fixture(scope="module")
def trap_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A built store whose extension point `split` traps in its second implementation."""
    src = ('module trapper version "1.0.0";\nextension_point split(x: int) -> int mode all;\n'
           "extend split priority 2 with ok;\nextend split priority 1 with boom;\n"
           "fn ok(x: int) -> int { return x + 1; }\nfn boom(x: int) -> int { return 100 / x; }\n"
           "fn nothing() { }\n")
    return compile_and_build(tmp_path_factory.mktemp("trapper") / "st", {"trapper.rps": src})


def cases(store: Path, trap: Path, tmp: Path) -> list[tuple[str, list[str], int]]:
    bad = tmp / "bad.rps"
    bad.write_text('module bad;\nfn f() -> int { var x: int = 1.5; return g(x); }\n')
    plugin = next(p for p in sorted((store / "plugins").glob("*.so"))  # one that declares no extension point
                  if "extension_points" not in json.loads(p.with_suffix(".json").read_text()))
    s, t = str(store), str(trap)
    return [
        ("rpsc dispatch", ["dispatch", "--store", s, "--json", "on_tick", "26"], 0),
        ("rpsc dispatch", ["dispatch", "--store", s, "--json", "score", "7"], 0),
        ("rpsc dispatch", ["dispatch", "--store", t, "--json", "split", "0"], 3),
        ("rpsc dispatch --list", ["dispatch", "--store", s, "--json", "--list"], 0),
        ("rpsc compile", ["compile", str(EXAMPLES / "numeric.rps"), "--store", str(tmp / "new"), "--json"], 0),
        ("rpsc compile", ["compile", str(bad), "--store", str(tmp / "new2"), "--json"], 1),
        ("rpsc run", ["run", "--store", s, "--json", "gcd", "1071", "462"], 0),
        ("rpsc run", ["run", "--store", s, "--json", "--backend", "c", "tiles", "10", "7", "0"], 3),
        ("rpsc run", ["run", "--store", s, "--json", "--backend", "interp", "newton_sqrt", "2"], 0),
        ("rpsc run", ["run", "--store", t, "--json", "nothing"], 0),
        ("rpsc store check", ["store", "check", s, "--json"], 0),
        ("rpsc store check", ["store", "check", str(tmp), "--json"], 1),
        ("rpsc store stats", ["store", "stats", s, "--json"], 0),
        ("rpsc config", ["config", "--json"], 0),
        ("rpsc config", ["config", "--json", "--cflags"], 0),
        ("rpsc cache info", ["cache", "info", "--json"], 0),
        ("rpsc cache prune", ["cache", "prune", "--dry-run", "--json"], 0),
        ("rpsc build", ["build", "--store", s, "--json"], 0),
        ("rpsc build", ["build", "--store", str(tmp), "--json"], 1),
        ("rpsc jit", ["jit", "--store", s, "--json", "fib", "10"], 0),
        ("rpsc plugin inspect", ["plugin", "inspect", str(plugin), "--json"], 0),
        ("rpsc plugin list", ["plugin", "list", "--no-python", "--store", s, "--json"], 0),
        ("rpsc plugin check", ["plugin", "check", str(plugin), "--store", s, "--json"], 0),
        ("rpsc plugin check", ["plugin", "check", str(bad), "--json"], 1),
    ]


def test_documents_validate(examples_store: Path, trap_store: Path, tmp_path: Path,
                            capsys: pytest.CaptureFixture[str]) -> None:
    """Each command's --json output, on success, error and trap, is one document its schema accepts."""
    docs = schemas()
    seen = set()
    for section, argv, status in cases(examples_store, trap_store, tmp_path):
        code = main(argv)
        out = capsys.readouterr().out
        assert code == status, (argv, out)
        doc = json.loads(out)
        jsonschema.validate(doc, docs[section])
        seen.add(section)
    # the documents say what the commands did
    assert main(["compile", str(tmp_path / "bad.rps"), "--store", str(tmp_path / "x"), "--json"]) == 1
    diags = json.loads(capsys.readouterr().out)["diagnostics"]
    assert [(d["line"], d["col"], d["end_col"]) for d in diags] == [(2, 30, 33), (2, 42, 43)]
    assert diags[0]["hint"] and "`g`" in diags[1]["message"] and not (tmp_path / "x").exists()
    warn = tmp_path / "warn.rps"
    warn.write_text("module warn;\nobject o { comment = null; }\n")
    assert main(["compile", str(warn), "--store", str(tmp_path / "w"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    jsonschema.validate(doc, docs["rpsc compile"])
    assert doc["ok"] and [(d["severity"], d["line"], d["col"]) for d in doc["diagnostics"]] == [("warning", 2, 22)]
    assert main(["plugin", "list", "--no-python", "--store", str(examples_store), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["plugins"]
    assert sorted((p["name"], p["status"]) for p in listed) == [("events", "ok"), ("numeric", "ok"), ("shapes", "ok")]
    assert seen >= {"rpsc dispatch", "rpsc compile", "rpsc run", "rpsc store check", "rpsc config"}


@pytest.mark.slow
def test_demo_document_validates(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """`rpsc demo --json` validates against its schema (progress goes to stderr)."""
    assert main(["demo", "--json", "--workdir", str(tmp_path)]) == 0
    jsonschema.validate(json.loads(capsys.readouterr().out), schemas()["rpsc demo"])
