"""Manifests, version constraints, signatures, sidecars and the ELF reader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rpsrt import PluginError
from rpsrt.plugins import (
    Signature,
    VersionConstraint,
    parse_manifest,
    read_elf,
    read_sidecar,
    sha256_file,
    write_sidecar,
)

from .conftest import Built


@pytest.mark.parametrize("constraint, yes, no", [
    (">=1.0", ["1.0.0", "1.9.9", "3.0.0"], ["0.9.9"]),
    ("<2", ["1.99.0", "0.0.1"], ["2.0.0", "2.0.1"]),
    ("^1.2", ["1.2.0", "1.9.0"], ["1.1.9", "2.0.0"]),
    ("^0.2.3", ["0.2.3", "0.2.9"], ["0.3.0", "0.2.2"]),
    ("^0.0.3", ["0.0.3"], ["0.0.4", "0.0.2"]),
    ("~1.2.3", ["1.2.3", "1.2.9"], ["1.3.0", "1.2.2"]),
    ("~1.2", ["1.2.0", "1.2.7"], ["1.3.0"]),
    ("~1", ["1.0.0", "1.9.0"], ["2.0.0"]),
    ("=1.0.0", ["1.0.0"], ["1.0.1", "0.9.0"]),
    ("=1.0", ["1.0.0", "1.0.5"], ["1.1.0"]),
    ("1.4.2", ["1.4.2"], ["1.4.3"]),
    (">=1.0, <2", ["1.0.0", "1.5.0"], ["2.0.0", "0.1.0"]),
    (">1.2", ["1.3.0"], ["1.2.9"]),
    (">1.2.0", ["1.2.1"], ["1.2.0"]),
    ("<=1.2", ["1.2.9"], ["1.3.0"]),
    ("*", ["0.0.0", "99.0.0"], []),
    ("", ["0.0.0", "99.0.0"], []),
    (">=2, <1", [], ["1.5.0", "0.0.0", "2.0.0"]),
])
def test_constraints(constraint: str, yes: list[str], no: list[str]) -> None:
    """Each constraint form admits exactly the documented versions."""
    c = VersionConstraint.parse(constraint)
    for v in yes:
        assert c.allows(tuple(map(int, v.split("."))))
    for v in no:
        assert not c.allows(tuple(map(int, v.split("."))))


@pytest.mark.parametrize("bad", [">=", "^x", "1.2.3.4", ">>1", "1.0 || 2.0", "01.0", 7])
def test_bad_constraints(bad: object) -> None:
    """Malformed constraints are PluginErrors."""
    with pytest.raises(PluginError, match="invalid version constraint"):
        VersionConstraint.parse(bad)


versions = st.tuples(st.integers(0, 5), st.integers(0, 5), st.integers(0, 5))


@settings(max_examples=200)
@given(base=versions, v=versions)
def test_caret_tilde_properties(base: tuple[int, int, int], v: tuple[int, int, int]) -> None:
    """^ keeps the leftmost non-zero part, ~ keeps major.minor; both admit only versions >= the base."""
    text = ".".join(map(str, base))
    caret, tilde = VersionConstraint.parse("^" + text), VersionConstraint.parse("~" + text)
    if base[0]:
        same = v[0] == base[0]
    elif base[1]:
        same = v[:2] == base[:2]
    else:
        same = v == base
    assert caret.allows(v) == (v >= base and same)
    assert tilde.allows(v) == (v >= base and v[:2] == base[:2])
    assert VersionConstraint.parse(f">={text}, <{text}").allows(v) is False


def test_signature_parse_and_format() -> None:
    """Signatures parse with spaces, print canonically, and reject other types or void parameters."""
    assert str(Signature.parse(" i64 ( i64 , f64,bool ) ")) == "i64(i64,f64,bool)"
    assert Signature.parse("void()") == Signature("void", ())
    for bad in ("int(int)", "i64(void)", "i64", "i64(i64,)", "(i64)"):
        with pytest.raises(PluginError, match="invalid signature"):
            Signature.parse(bad)


def test_manifest_validation() -> None:
    """Manifest errors name the member at fault; unknown members are kept."""
    good = {"name": "geo-2", "version": "1.2.0", "abi": 1, "extra": {"kept": True},
            "requires": ["core", {"name": "b", "version": "^1"}],
            "exports": [{"symbol": "rpsfn_x", "name": "x", "signature": "i64(i64)"}]}
    m = parse_manifest(json.dumps(good))
    assert (m.name, m.version_text, m.raw["extra"]) == ("geo-2", "1.2.0", {"kept": True})
    assert [r.name for r in m.requires] == ["core", "b"]
    for change, message in [({"name": "a b"}, "invalid plugin name"), ({"version": "1.2"}, "invalid version"),
                            ({"abi": "1"}, "'abi' must be an integer"), ({"requires": "core"}, "must be a list"),
                            ({"exports": [{"symbol": "x y"}]}, "bad 'exports' entry"),
                            ({"exports": [{"symbol": "f", "signature": "int()"}]}, "invalid signature")]:
        with pytest.raises(PluginError, match=message):
            parse_manifest({**good, **change}, path="m.json")
    with pytest.raises(PluginError, match="m.json: error: malformed manifest: missing 'abi'"):
        parse_manifest({"name": "a", "version": "1.0.0"}, path="m.json")
    with pytest.raises(PluginError, match="not a JSON object"):
        parse_manifest(b"[1]")


def test_sidecar_roundtrip(built: Built, tmp_path: Path) -> None:
    """write_sidecar records the manifest and the file's sha256; read_sidecar gives both back."""
    so = built.copy_of(built.hello / "hello_c.so", tmp_path / "p")
    side = write_sidecar(so, {"name": "hello_c", "version": "1.0.0", "abi": 1, "sha256": "stale"})
    assert side == so.with_suffix(".json")
    manifest, sha = read_sidecar(so)
    assert sha == sha256_file(so) and manifest.name == "hello_c"
    with pytest.raises(PluginError, match="invalid version"):
        write_sidecar(so, {"name": "hello_c", "version": "x", "abi": 1})
    assert read_sidecar(so)[1] == sha          # the failed write left the old sidecar intact


def test_elf_reader(built: Built) -> None:
    """The ELF reader lists exported functions and reads the embedded manifest bytes."""
    elf = read_elf(built.deps / "types_c.so")
    assert {"t_halve", "t_div", "rps_plugin_init"} <= set(elf.functions())
    assert "t_rt" not in elf.symbols and "f_add" not in elf.symbols   # static symbols are not exported
    assert json.loads(elf.read_symbol_bytes("rps_plugin_manifest"))["name"] == "types_c"
    assert elf.read_symbol_bytes("no_such_symbol") is None
    with pytest.raises(PluginError, match="not a data object"):
        elf.read_symbol_bytes("t_halve")
