"""One version rule end to end: the checker and the plugin manager give the same answer on every constraint
form, the manager reading the manifest that the real C backend wrote for a compiled module."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import pytest
from rpsc import CompileError
from rpsc.frontend.check import check
from rpsc.frontend.parser import parse
from rpsrt import PluginError
from rpsrt.plugins import PluginManager
from rpsrt.versions import Constraint

from .conftest import compile_store

#: Every operator of `requires NAME OP "VERSION"` (rps.lark's version_op) with partial and full versions.
LANGUAGE_OPS = (">=", ">", "<=", "<", "==", "^", "~")
TARGETS = ("0.0", "0.0.3", "0.2", "1", "1.2", "1.2.3")
#: The versions the required module is given, on both sides.
GRID = [f"{a}.{b}.{c}" for a, b, c in itertools.product(range(3), range(4), range(5))]
#: Every form but `< "0.0"`, which no version satisfies (so no program with it compiles, and no manifest).
FORMS: list[tuple[str, str] | None] = [None] + [(op, t) for op in LANGUAGE_OPS for t in TARGETS
                                                if (op, t) != ("<", "0.0")]


class _Dep:
    """A Python plugin standing for the required module at one version (what the manager resolves against)."""

    requires: list[object] = []

    def __init__(self, name: str, version: str) -> None:
        self.name, self.version = name, version

    def init(self, api: object) -> None:
        pass


def _requires(form: tuple[str, str] | None, dep: str) -> str:
    return f"requires {dep};" if form is None else f'requires {dep} {form[0]} "{form[1]}";'


def _dep_source(name: str, version: str) -> str:
    return f'module {name} version "{version}"; fn one() -> int {{ return 1; }}'


@pytest.fixture(scope="module")
def built_users(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[int, str]]:
    """A store with one module per form (`user<i>`), each requiring a module at a version its constraint
    admits, built with the real C backend; returns a folder holding only the users' plugins, and the
    required module's name for each form."""
    from rpsc.driver.build import BuildOptions, build_store

    tmp = tmp_path_factory.mktemp("version_rule")
    sources: dict[str, str] = {}
    dep_of: dict[int, str] = {}
    for i, form in enumerate(FORMS):
        c = Constraint.parse("" if form is None else form[0] + form[1])
        version = next(v for v in GRID if c.allows(v))
        dep = "dep_" + version.replace(".", "_")
        sources.setdefault(str(tmp / f"{dep}.rps"), _dep_source(dep, version))
        dep_of[i] = dep
        sources[str(tmp / f"user{i}.rps")] = (f"module user{i}; {_requires(form, dep)} "
                                              f"fn two() -> int {{ return one() + 1; }}")
    store = tmp / "store"
    compile_store(store, sources)
    build_store(BuildOptions(store=store))
    users = tmp / "users"
    users.mkdir()
    for so in sorted((store / "plugins").glob("*.so")):
        side = so.with_suffix(".json")
        if json.loads(side.read_text())["name"].startswith("user"):
            shutil.copy2(so, users / so.name)
            shutil.copy2(side, users / side.name)
    assert len(list(users.glob("*.so"))) == len(FORMS)
    return users, dep_of


def test_compiler_and_manager_agree_on_every_form(built_users: tuple[Path, dict[int, str]]) -> None:
    """For every `requires` form and every version of the required module, the checker accepts the program
    exactly when the plugin manager accepts the dependency for the manifest the C backend wrote."""
    users, dep_of = built_users
    user_modules = [parse(f"module user{i}; {_requires(form, dep_of[i])} fn two() -> int {{ return one() + 1; }}",
                          f"user{i}.rps") for i, form in enumerate(FORMS)]
    manifests = {}
    for side in users.glob("*.json"):
        data = json.loads(side.read_text())
        manifests[data["name"]] = data
    disagreements = []
    accepted = refused = 0
    for version in GRID:
        mgr = PluginManager([users], use_env=False)
        for dep in sorted(set(dep_of.values())):
            mgr.add_python_plugin(_Dep(dep, version))
        for i, form in enumerate(FORMS):
            dep = dep_of[i]
            # The manifest carries the constraint as written in the source.
            want = [{"name": dep}] if form is None else [{"name": dep, "version": form[0] + form[1]}]
            assert manifests[f"user{i}"]["requires"] == want
            try:
                check([parse(_dep_source(dep, version), f"{dep}.rps"), user_modules[i]])
                compiler = True
            except CompileError as exc:
                assert any("does not satisfy" in d.message for d in exc.diagnostics), exc
                compiler = False
            try:
                mgr.resolve(mgr.find(f"user{i}"))
                manager = True
            except PluginError as exc:
                assert "version conflict" in str(exc), exc
                manager = False
            if compiler != manager:
                disagreements.append((form, version, compiler, manager))
            accepted += compiler
            refused += not compiler
    assert disagreements == []
    assert accepted and refused  # both answers occur, so the comparison says something


def test_the_issue_cases(built_users: tuple[Path, dict[int, str]]) -> None:
    """`requires a ^ "0.0.3"` refuses a at 0.0.4 on both sides; `<= "1.2"` admits 1.2.5 on both sides."""
    users, dep_of = built_users
    for form, version, want in ((("^", "0.0.3"), "0.0.4", False), (("<=", "1.2"), "1.2.5", True)):
        i = FORMS.index(form)
        dep = dep_of[i]
        src = f"module user{i}; {_requires(form, dep)} fn two() -> int {{ return one() + 1; }}"
        try:
            check([parse(_dep_source(dep, version), "d.rps"), parse(src, "u.rps")])
            compiler = True
        except CompileError:
            compiler = False
        mgr = PluginManager([users], use_env=False)
        mgr.add_python_plugin(_Dep(dep, version))
        try:
            mgr.resolve(mgr.find(f"user{i}"))
            manager = True
        except PluginError:
            manager = False
        assert compiler == manager == want


@pytest.mark.parametrize("version", ["1.2.0+build.5", "1.2.0-rc.1", "1.2.0-rc.1+b5", "1.2.0"])
def test_a_built_dependency_with_prerelease_or_build_loads_as_the_checker_said(tmp_path: Path, version: str) -> None:
    """A required module whose version carries a pre-release or build suffix, compiled and built with the real
    C backend (both modules real C plugins): the checker accepts `requires dep >= "1.0"`, the manifest says
    `1.2.0`, and the plugin manager loads the user with its dependency, as the checker said."""
    from rpsc.driver.build import BuildOptions, build_store

    store = tmp_path / "store"
    compile_store(store, {str(tmp_path / "dep.rps"): _dep_source("dep", version),
                          str(tmp_path / "user.rps"): 'module user; requires dep >= "1.0"; '
                                                      "fn two() -> int { return one() + 1; }"})
    build_store(BuildOptions(store=store))
    manifests = {json.loads(p.read_text())["name"]: json.loads(p.read_text())
                 for p in (store / "plugins").glob("*.json")}
    assert manifests["dep"]["version"] == "1.2.0"
    mgr = PluginManager([store / "plugins"], use_env=False)
    mgr.load("user")
    assert set(mgr.loaded) >= {"user", "dep"}


@pytest.mark.parametrize("bad", ["1.0.0-01", "1.0.0-rc..1", "01.0.0", "1.0"])
def test_the_checker_refuses_what_the_version_rule_refuses(bad: str) -> None:
    """A module version that `rpsrt.versions.Version` refuses (a numeric pre-release with a leading zero, an
    empty identifier, a leading zero, a partial version) is a checker error, so no manifest is written for it."""
    src = f'module m version "{bad}"; fn one() -> int {{ return 1; }}'
    with pytest.raises(CompileError, match="is not a semantic version"):
        check([parse(src, "m.rps")])
