"""`rpsc config --examples-dir/--docs-dir/--json`: where the installed examples and documentation are."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rpsc.driver.cli import main


def test_examples_and_docs_dirs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The folders printed hold the example modules, hello_c and the docs the scaffold's README names."""
    assert main(["config", "--examples-dir", "--docs-dir"]) == 0
    examples, docs = map(Path, capsys.readouterr().out.splitlines())
    assert (examples / "events.rps").is_file() and (examples / "hello_c" / "hello.c").is_file()
    assert (docs / "language.md").is_file() and (docs / "plugin-author-guide.md").is_file()
    assert main(["init", "proj", "--path", str(tmp_path / "proj")]) == 0
    capsys.readouterr()
    readme = next((tmp_path / "proj").glob("README.md")).read_text()
    assert "docs/language.md" not in readme and "rpsc config --docs-dir" in readme


def test_config_json(capsys: pytest.CaptureFixture[str]) -> None:
    """--json gives every setting (flags as lists, the ABI as a number); with options, only those."""
    assert main(["config", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["abi"] == 1 and "-fPIC" in doc["cflags"] and doc["ldflags"] == ["-shared"]
    assert Path(doc["include_dir"], "rps", "plugin.h").is_file() and Path(doc["examples_dir"]).is_dir()
    assert main(["config", "--json", "--docs-dir"]) == 0
    assert set(json.loads(capsys.readouterr().out)) == {"schema", "docs_dir"}
