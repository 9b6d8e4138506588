"""The one version rule (`rpsrt.versions`) against `semantic_version.SimpleSpec`, whose semantics it takes."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
import semantic_version
from hypothesis import given, settings
from hypothesis import strategies as st
from rpsrt.versions import OPERATORS, Constraint, Version, VersionError

#: Every operator a clause may start with, the empty one (a bare version) included.
OPS = ("", *OPERATORS)
#: Partial and full versions with zeros in every place, so that `^`'s leftmost-non-zero rule is exercised.
TARGETS = ("0", "1", "3", "0.0", "0.2", "1.0", "1.2", "0.0.0", "0.0.3", "0.2.0", "0.2.3", "1.0.0", "1.2.0",
           "1.2.3", "2.0.1")
#: Release versions around every target, and pre-releases and builds of some of them.
GRID = [f"{a}.{b}.{c}" for a, b, c in itertools.product(range(4), range(4), range(5))] + [
    "0.0.3-rc.1", "0.2.3-alpha", "1.0.0-0", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.2.0-rc.1", "1.2.3-1",
    "1.2.4-rc", "1.3.0-x.7.z.92", "2.0.0-a", "0.0.0-a", "1.2.3+build.5", "1.2.0-rc.1+b", "2.0.1+x"]
#: Every clause form: each operator with each target, and the `*` forms.
FORMS = [op + t for op in OPS for t in TARGETS] + ["*", "=*", "==*", ">=*"]


def simple_spec_admits(constraint: str, version: str) -> bool:
    return semantic_version.Version(version) in semantic_version.SimpleSpec(constraint)


@pytest.mark.parametrize("form", FORMS)
def test_every_form_matches_simple_spec(form: str) -> None:
    """Each clause form (every operator with every kind of partial version, and `*`) admits exactly the
    versions of the grid that SimpleSpec admits, pre-releases and builds included."""
    c = Constraint.parse(form)
    got = [v for v in GRID if c.allows(v)]
    want = [v for v in GRID if simple_spec_admits(form, v)]
    assert got == want


@pytest.mark.parametrize("a, b", [(">=1.0", "<2"), (">=0.2", "<0.2.5"), ("^1.2", ">=1.3"), ("~1.2.3", ">1.2.4"),
                                  (">1", "<=3.1"), ("==1.2", ">=1.2.2"), ("<1.2.0", ">=1.2.0")])
def test_conjunctions_match_simple_spec(a: str, b: str) -> None:
    """A comma-separated conjunction admits what SimpleSpec admits, with or without spaces around clauses."""
    text = f"{a},{b}"
    want = [v for v in GRID if simple_spec_admits(text, v)]
    for written in (text, f"{a}, {b}", f" {a} ,  {b} "):
        c = Constraint.parse(written)
        assert [v for v in GRID if c.allows(v)] == want


def test_the_issue_examples() -> None:
    """The cases that once disagreed between the checker and the plugin manager now follow SimpleSpec."""
    assert not Constraint.parse("^0.0.3").allows("0.0.4")
    assert Constraint.parse("<=1.2").allows("1.2.5")
    assert not Constraint.parse(">1.2").allows("1.2.9") and Constraint.parse(">1.2").allows("1.3.0")
    assert Constraint.parse("==1").allows("1.0.5")


def test_empty_means_any_and_text_is_kept() -> None:
    """An empty constraint admits every version (a manifest `requires` without version); `text` keeps the
    constraint as written, `canonical()` shows the comparisons it stands for."""
    c = Constraint.parse("  ")
    assert all(c.allows(v) for v in GRID) and str(c) == "*"
    c = Constraint.parse(" ^1.2 ")
    assert c.text == "^1.2" and c.canonical() == ">=1.2.0,<2.0.0"
    assert Constraint.parse("<=1.2").canonical() == "<1.3.0"


@pytest.mark.parametrize("bad", [">=", "^x", "1.2.3.4", ">>1", "1.0 || 2.0", "01.0", "1.02", "^*", "<*", "~*",
                                 ">=1,", ",", "1.*", "1.x", "!=1.2", "~=1.2", "1.2.3-rc", "=>1", "v1", 7, None])
def test_malformed_constraints(bad: object) -> None:
    """Malformed constraints, and SimpleSpec forms the rule does not take (`!=`, `~=`, wildcards inside a
    version, pre-release targets), are VersionErrors."""
    with pytest.raises(VersionError, match="invalid version constraint"):
        Constraint.parse(bad)


@pytest.mark.parametrize("bad", ["1", "1.2", "1.2.3.4", "01.2.3", "1.2.3-", "1.2.3-01", "1.2.3+", "v1.2.3", "", 5])
def test_malformed_versions(bad: object) -> None:
    """Versions are MAJOR.MINOR.PATCH with an optional pre-release and build, semver 2.0.0's syntax."""
    with pytest.raises(VersionError, match="invalid version"):
        Version.parse(bad)


def test_precedence_matches_semantic_version() -> None:
    """Versions sort by semver precedence exactly as semantic_version sorts them (the build not counting)."""
    ours = sorted(GRID, key=lambda t: Version.parse(t).key())
    theirs = sorted(GRID, key=lambda t: semantic_version.Version(t).truncate("prerelease"))
    assert ours == theirs


_num = st.sampled_from(["0", "1", "2", "3", "10"])
_partial = st.lists(_num, min_size=1, max_size=3).map(".".join)
_clause = st.tuples(st.sampled_from(OPS), _partial).map("".join) | st.sampled_from(["*", ">=*"])
_constraint = st.lists(_clause, min_size=1, max_size=3).map(",".join)
_version = st.tuples(_num, _num, _num, st.sampled_from(["", "-rc.1", "-0", "-alpha", "+b7"])).map(
    lambda t: ".".join(t[:3]) + t[3])


@settings(max_examples=400, deadline=None)
@given(constraint=_constraint, version=_version)
def test_random_constraints_match_simple_spec(constraint: str, version: str) -> None:
    """Random conjunctions of random clauses agree with SimpleSpec on random versions."""
    assert Constraint.parse(constraint).allows(version) == simple_spec_admits(constraint, version)


def test_the_rule_is_written_once() -> None:
    """No source but rpsrt/versions.py holds a version-constraint parser (a regular expression over the
    constraint operators) or compares versions by hand (`_version_tuple`, `version < self.lower`)."""
    repo = Path(__file__).resolve().parents[2]
    offenders = []
    for p in [*(repo / "compiler").rglob("*.py"), *(repo / "runtime").rglob("*.py")]:
        if p.name == "versions.py" and p.parent.name == "rpsrt":
            continue
        text = p.read_text(encoding="utf-8")
        if re.search(r"\(>=\|<=|\\\^\|~|_version_tuple|_PARTIAL_RE|\.upper\b.*version", text):
            offenders.append(p.relative_to(repo).as_posix())
    assert offenders == []
