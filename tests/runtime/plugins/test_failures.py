"""Every way a plugin can be refused gives its own clear error and leaves nothing registered or mapped."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from rpsrt import PluginError
from rpsrt.plugins import PluginManager, write_sidecar

from .conftest import Built


def mapped(path: Path) -> bool:
    """True when `path` is mapped into this process."""
    with open("/proc/self/maps") as f:
        return any(line.rstrip().endswith(str(path)) for line in f)


def new_manager(*paths: Path) -> PluginManager:
    mgr = PluginManager(paths, use_env=False)
    mgr.declare("combine", "i64(i64,i64)", "all")
    return mgr


def assert_clean(mgr: PluginManager, so: Path | None = None) -> None:
    assert mgr.loaded == {}
    for point in mgr.points.values():
        assert point.implementations == ()
    if so is not None:
        assert not mapped(so)


def refuse(built: Built, case: str, *fragments: str) -> PluginError:
    so = built.failing(case)
    mgr = new_manager(so.parent)
    with pytest.raises(PluginError) as info:
        mgr.load_file(so)
    text = str(info.value)
    for fragment in fragments:
        assert fragment in text, text
    assert text.startswith(str(so)), text
    assert_clean(mgr, so)
    return info.value


def test_missing_manifest(built: Built) -> None:
    """A plugin with neither a sidecar nor an rps_plugin_manifest symbol is refused as such."""
    refuse(built, "nomanifest", "missing manifest", "no rps_plugin_manifest symbol")


def test_malformed_manifest(built: Built) -> None:
    """Malformed manifest JSON is refused with the parser's position, before any code runs."""
    refuse(built, "malformed", "malformed manifest", "line 1 column")


def test_malformed_sidecar(built: Built, tmp_path: Path) -> None:
    """A sidecar that is not a manifest (missing 'version') is refused, naming the sidecar."""
    so = built.copy_of(built.hello / "hello_c.so", tmp_path / "p")
    so.with_suffix(".json").write_text('{"name": "hello_c", "abi": 1}')
    mgr = new_manager(so.parent)
    with pytest.raises(PluginError, match="hello_c.json: error: malformed manifest: missing 'version'"):
        mgr.load_file(so)
    assert_clean(mgr, so)


def test_wrong_abi(built: Built) -> None:
    """A manifest declaring ABI 2 is refused, naming both ABI versions."""
    refuse(built, "wrongabi", "plugin ABI 2", "implements ABI 1")


def test_missing_init(built: Built) -> None:
    """A plugin without rps_plugin_init is refused from its symbol table, without dlopen."""
    refuse(built, "noinit", "does not export rps_plugin_init")


def test_init_returning_nonzero(built: Built) -> None:
    """Init returning 7 after a successful registration fails the load and removes that registration."""
    refuse(built, "initfail", "rps_plugin_init returned 7")


def test_unknown_point(built: Built) -> None:
    """Registering into an undeclared point fails (status 1), and the earlier good registration is undone."""
    refuse(built, "unknownpoint", "returned 1", "unknown extension point 'nosuchpoint'")


def test_wrong_signature(built: Built) -> None:
    """Registering with a signature different from the point's fails with both signatures named."""
    refuse(built, "badsig", "returned 2", "'f64(f64,f64)' differs from the point's i64(i64,i64)")


def test_ignored_registration_failure(built: Built) -> None:
    """A failed registration fails the load even when init ignores it and returns 0."""
    refuse(built, "ignorefail", "a registration failed", "nosuchpoint")


def test_name_that_is_a_path(built: Built) -> None:
    """A manifest naming the plugin '../x' is refused: names are identifiers, never paths."""
    refuse(built, "pathname", "invalid plugin name '../x'")


def test_load_by_path_name_refused(built: Built) -> None:
    """Asking the manager for the plugin '../x' (or 'a/b') is refused before any search."""
    mgr = new_manager(built.hello)
    for bad in ("../x", "a/b", "/etc/passwd", ".hidden", ""):
        with pytest.raises(PluginError, match="invalid plugin name"):
            mgr.load(bad)
    assert_clean(mgr)


def test_checksum_mismatch(built: Built, tmp_path: Path) -> None:
    """A .so whose bytes differ from its sidecar's sha256 is refused before dlopen."""
    so = built.copy_of(built.hello / "hello_c.so", tmp_path / "p")
    with open(so, "ab") as f:
        f.write(b"\0tampered")
    mgr = new_manager(so.parent)
    with pytest.raises(PluginError, match="checksum mismatch"):
        mgr.load_file(so)
    with pytest.raises(PluginError, match="not found in the search path"):
        mgr.load("hello_c")          # discovery skips it too
    assert_clean(mgr, so)
    write_sidecar(so, {"name": "hello_c", "version": "1.0.0", "abi": 1})
    assert mgr.load("hello_c").loaded  # a fresh sidecar makes it loadable again
    mgr.close()


def test_sidecar_disagreeing_with_embedded_manifest(built: Built, tmp_path: Path) -> None:
    """A sidecar claiming another version than the embedded manifest is refused."""
    so = built.copy_of(built.hello / "hello_c.so", tmp_path / "p")
    write_sidecar(so, {"name": "hello_c", "version": "9.0.0", "abi": 1})
    mgr = new_manager(so.parent)
    with pytest.raises(PluginError, match="disagrees with the embedded one"):
        mgr.load_file(so)
    assert_clean(mgr, so)


@pytest.mark.parametrize("target", ["file", "folder"])
@pytest.mark.parametrize("bits", [0o002, 0o020])
def test_writable_by_others_refused(built: Built, tmp_path: Path, target: str, bits: int) -> None:
    """A plugin file or folder writable by others (or group) is refused, and skipped by discovery."""
    so = built.copy_of(built.hello / "hello_c.so", tmp_path / "p")
    victim = so if target == "file" else so.parent
    os.chmod(victim, os.stat(victim).st_mode | bits)
    try:
        mgr = new_manager(so.parent)
        with pytest.raises(PluginError, match=f"refusing plugin {target} writable by group or others"):
            mgr.load_file(so)
        with pytest.raises(PluginError, match="not found"):
            mgr.load("hello_c")
        assert_clean(mgr, so)
    finally:
        os.chmod(victim, os.stat(victim).st_mode & ~bits)


def test_file_outside_search_path(built: Built, tmp_path: Path) -> None:
    """load_file refuses a plugin that is not directly in a search path."""
    mgr = new_manager(tmp_path)
    with pytest.raises(PluginError, match="outside the search path"):
        mgr.load_file(built.hello / "hello_c.so")
    assert_clean(mgr)


def test_missing_dependency_names_chain(built: Built) -> None:
    """A missing dependency is one error naming the whole chain; the found dependencies stay unloaded."""
    mgr = new_manager(built.deps)
    with pytest.raises(PluginError) as info:
        mgr.load("missingdep")
    assert "missing dependency: missingdep -> nowhere" in str(info.value)
    assert "requires 'nowhere' (>=1.0)" in str(info.value)
    assert_clean(mgr, built.deps / "core.so")


def test_version_conflict(built: Built) -> None:
    """A dependency whose version does not satisfy the constraint is refused, naming both."""
    mgr = new_manager(built.deps)
    with pytest.raises(PluginError, match=r"version conflict: conflict -> core: .* requires core >=2.0, but core "
                                          r"1.0.0 is found at"):
        mgr.load("conflict")
    assert_clean(mgr, built.deps / "core.so")
    mgr.load("core")
    with pytest.raises(PluginError, match="but core 1.0.0 is loaded"):
        mgr.load("conflict")
    assert set(mgr.loaded) == {"core"}
    mgr.close()


def test_dependency_cycle_names_whole_cycle(built: Built) -> None:
    """A dependency cycle is refused with every member of the cycle in order."""
    mgr = new_manager(built.cycle)
    for start, cycle in (("cyc_a", "cyc_a -> cyc_b -> cyc_c -> cyc_a"), ("cyc_b", "cyc_b -> cyc_c -> cyc_a -> cyc_b")):
        with pytest.raises(PluginError, match=f"dependency cycle: {cycle}"):
            mgr.load(start)
    assert_clean(mgr)


def test_failing_dependent_rolls_back_its_dependencies(built: Built) -> None:
    """When a plugin's init fails, the dependencies that this load brought in are unloaded again."""
    mgr = new_manager(built.deps)
    with pytest.raises(PluginError, match="needs_failing: rps_plugin_init returned 1"):
        mgr.load("needs_failing")
    assert_clean(mgr, built.deps / "core.so")


def test_unknown_plugin(built: Built) -> None:
    """Loading a name that no search path provides names the search path."""
    mgr = new_manager(built.deps)
    with pytest.raises(PluginError, match=f"plugin 'absent' not found in the search path \\[{built.deps}\\]"):
        mgr.load("absent")


def test_inspect_runs_no_code(built: Built) -> None:
    """Reading the manifest of a plugin whose constructor aborts works: nothing of it runs."""
    from rpsrt.plugins import inspect_native

    cand, elf = inspect_native(built.failing("ctor_abort"))
    assert (cand.name, cand.version, cand.source) == ("ctor_abort", "1.0.0", "sidecar")
    assert "rps_plugin_init" in elf.functions()
    assert not mapped(built.failing("ctor_abort"))


def test_not_an_elf_file(tmp_path: Path) -> None:
    """A file that is not ELF is refused with a clear error."""
    d = tmp_path / "p"
    d.mkdir()
    (d / "junk.so").write_bytes(b"#!/bin/sh\necho hi\n" * 10)
    mgr = new_manager(d)
    with pytest.raises(PluginError, match="junk.so: error: not an ELF shared object"):
        mgr.load_file(d / "junk.so")
    shutil.rmtree(d)
