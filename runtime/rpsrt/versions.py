"""Semantic versions and version constraints: the one rule that the checker, the C backend's manifest writer
and the plugin manager all apply.

The meaning of a constraint is that of `semantic_version.SimpleSpec` (npm and cargo style); a test compares
the two over every constraint form and a grid of versions (tests/runtime/test_versions.py):

- a clause is an operator and a version of one to three numbers (`1`, `1.2`, `1.2.3`), no leading zeros;
  clauses are joined by `,` (all must hold); whitespace around clauses and operators is ignored;
- a partial version names a range: `==1` (also `=1`, `1`) admits every 1.x.y, `==1.2` every 1.2.x,
  `==1.2.3` only 1.2.3; `<=1.2` admits 1.2.x (it is `<1.3.0`); `>1.2` starts at 1.3.0; `>=1.2` and `<1.2`
  fill the missing parts with 0;
- `^V` keeps the leftmost non-zero part of V (missing parts taken as 0): `^1.2` is `>=1.2.0,<2.0.0`,
  `^0.2.3` is `>=0.2.3,<0.3.0`, `^0.0.3` only 0.0.3, and so `^0` and `^0.0` only 0.0.0;
- `~V` keeps major.minor, or the major alone when only it is given: `~1.2.3` is `>=1.2.3,<1.3.0`, `~1` is
  `>=1.0.0,<2.0.0`;
- `*` (also `=*`, `==*`, `>=*`) is `>=0.0.0`; an empty constraint admits every version.

Versions are `MAJOR.MINOR.PATCH` with an optional `-prerelease` and `+build` (semver 2.0.0 precedence;
the build never counts). As in SimpleSpec, `<V` refuses the pre-releases of V itself (`1.2.0-rc.1` does not
satisfy `<1.2.0`), and a pre-release is below its release (`1.2.0-rc.1` does not satisfy `>=1.2.0`).

Errors are `VersionError` (an `rpsrt.Error`); callers that know where the text comes from re-raise it with
their location (the plugin manifest reader as a PluginError, the checker as a diagnostic).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rpsrt.errors import Error

__all__ = ["Constraint", "Version", "VersionError", "OPERATORS", "constraint_text", "is_partial_version",
           "release_text", "satisfies"]


class VersionError(Error):
    """A version or a version constraint that does not parse."""


_NUM = r"(?:0|[1-9][0-9]*)"
_IDENT = r"[0-9A-Za-z-]+"
_VERSION_RE = re.compile(rf"({_NUM})\.({_NUM})\.({_NUM})(?:-({_IDENT}(?:\.{_IDENT})*))?"
                         rf"(?:\+({_IDENT}(?:\.{_IDENT})*))?")
#: The operators a clause may start with (`=` and no operator mean `==`).
OPERATORS = (">=", "<=", "==", "=", ">", "<", "^", "~")
_PARTIAL_RE = re.compile(rf"{_NUM}(?:\.{_NUM}){{0,2}}")
_CLAUSE_RE = re.compile(rf"\s*(>=|<=|==|=|>|<|\^|~)?\s*(?:(\*)|({_NUM})(?:\.({_NUM}))?(?:\.({_NUM}))?)\s*")


@dataclass(frozen=True, slots=True)
class Version:
    """A semantic version; ordered by semver precedence (the build metadata does not count)."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    build: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: object) -> Version:
        """`"1.2.3"`, `"1.2.3-rc.1+b5"` -> Version; anything else is a VersionError."""
        m = _VERSION_RE.fullmatch(text) if isinstance(text, str) else None
        if m is None or (m[4] is not None and any(
                p.isdigit() and len(p) > 1 and p[0] == "0" for p in m[4].split("."))):
            raise VersionError(f"invalid version {text!r} (expected MAJOR.MINOR.PATCH)")
        return cls(int(m[1]), int(m[2]), int(m[3]), tuple(m[4].split(".")) if m[4] else (),
                   tuple(m[5].split(".")) if m[5] else ())

    @classmethod
    def of(cls, version: VersionLike) -> Version:
        """A Version from a Version, a `(major, minor, patch)` tuple or a version string."""
        if isinstance(version, Version):
            return version
        if isinstance(version, tuple) and len(version) == 3 and all(
                isinstance(p, int) and not isinstance(p, bool) and p >= 0 for p in version):
            return cls(*version)
        return cls.parse(version)

    @property
    def release(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)

    def key(self) -> tuple[object, ...]:
        """The precedence key: a release after its pre-releases; numeric identifiers below alphanumeric."""
        if not self.prerelease:
            return (*self.release, (1,))
        ids = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.prerelease)
        return (*self.release, (0, *ids))

    def __lt__(self, other: Version) -> bool:
        return self.key() < other.key()

    def __le__(self, other: Version) -> bool:
        return self.key() <= other.key()

    def __gt__(self, other: Version) -> bool:
        return self.key() > other.key()

    def __ge__(self, other: Version) -> bool:
        return self.key() >= other.key()

    def same(self, other: Version) -> bool:
        """Equal in precedence (the build metadata ignored)."""
        return self.key() == other.key()

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(self.prerelease)
        if self.build:
            text += "+" + ".".join(self.build)
        return text


VersionLike = Version | tuple[int, int, int] | str


@dataclass(frozen=True, slots=True)
class _Bound:
    """One elementary comparison `version OP target` (OP one of < <= > >= ==), targets being releases."""

    op: str
    target: Version

    def admits(self, v: Version) -> bool:
        t = self.target
        if self.op == ">=":
            return v >= t
        if self.op == ">":
            return v > t
        if self.op == "<=":
            return v <= t
        if self.op == "<":
            # SimpleSpec: `<1.2.0` does not admit the pre-releases of 1.2.0 itself.
            return v < t and not (v.prerelease and v.release == t.release)
        return v.same(t)

    def __str__(self) -> str:
        return f"{self.op}{self.target}"


def _bounds(op: str, parts: tuple[int, ...]) -> tuple[_Bound, ...]:
    """The comparisons one clause `op parts` stands for (parts: one to three numbers)."""
    n = len(parts)
    base = Version(*(parts + (0,) * (3 - n)))
    major, minor, patch = base.release
    next_major, next_minor = Version(major + 1, 0, 0), Version(major, minor + 1, 0)
    # The first version after the whole range a partial version names.
    after = next_major if n == 1 else next_minor if n == 2 else Version(major, minor, patch + 1)
    if op == "^":
        high = next_major if major else next_minor if minor else Version(major, minor, patch + 1)
        return (_Bound(">=", base), _Bound("<", high))
    if op == "~":
        return (_Bound(">=", base), _Bound("<", next_major if n == 1 else next_minor))
    if op == "==":
        return (_Bound("==", base),) if n == 3 else (_Bound(">=", base), _Bound("<", after))
    if op == ">":
        return (_Bound(">", base),) if n == 3 else (_Bound(">=", after),)
    if op == ">=":
        return (_Bound(">=", base),)
    if op == "<":
        return (_Bound("<", base),)
    assert op == "<="
    return (_Bound("<=", base),) if n == 3 else (_Bound("<", after),)


@dataclass(frozen=True, slots=True)
class Constraint:
    """A parsed version constraint: `text` as written (stripped) and the comparisons all of which must hold."""

    text: str
    bounds: tuple[_Bound, ...]

    @classmethod
    def parse(cls, text: object) -> Constraint:
        """Parse `>=1.0, <2`, `^1.2`, `~1.2.3`, `==1`, `*`, `""` ...; VersionError when malformed."""
        if not isinstance(text, str):
            raise VersionError(f"invalid version constraint {text!r}")
        bounds: list[_Bound] = []
        clauses = text.split(",")
        if len(clauses) == 1 and not text.strip():
            return cls("", ())
        for clause in clauses:
            m = _CLAUSE_RE.fullmatch(clause)
            if m is None:
                raise VersionError(f"invalid version constraint {text!r} (clause {clause.strip()!r})")
            op = m[1] or "=="
            op = "==" if op == "=" else op
            if m[2] is not None:  # `*`
                if op not in ("==", ">="):
                    raise VersionError(f"invalid version constraint {text!r} (`*` takes no {op!r})")
                bounds.append(_Bound(">=", Version(0, 0, 0)))
                continue
            parts = tuple(int(p) for p in m.group(3, 4, 5) if p is not None)
            bounds.extend(_bounds(op, parts))
        return cls(text.strip(), tuple(bounds))

    def allows(self, version: VersionLike) -> bool:
        """True when `version` (a Version, a `(major, minor, patch)` tuple or a string) satisfies every clause."""
        v = Version.of(version)
        return all(b.admits(v) for b in self.bounds)

    def __contains__(self, version: VersionLike) -> bool:
        return self.allows(version)

    def canonical(self) -> str:
        """The comparisons this constraint stands for, e.g. `>=1.2.0,<2.0.0` (`*` when there are none)."""
        return ",".join(map(str, self.bounds)) or "*"

    def __str__(self) -> str:
        return self.text or "*"


def constraint_text(op: str | None, version: str | None) -> str:
    """The constraint text of a `requires NAME OP "VERSION"` (`""` without a version): what the checker
    checks and what the C backend writes into a plugin's manifest."""
    if op is None or version is None:
        return ""
    return f"{op}{version}"


def satisfies(version: VersionLike, constraint: str | Constraint) -> bool:
    """Whether `version` satisfies `constraint` (text or parsed)."""
    c = constraint if isinstance(constraint, Constraint) else Constraint.parse(constraint)
    return c.allows(version)


def is_partial_version(text: str) -> bool:
    """Whether `text` is the version of a constraint clause: one to three numbers, no leading zeros (`1.2`)."""
    return _PARTIAL_RE.fullmatch(text) is not None


def release_text(version: str | None) -> str:
    """The `MAJOR.MINOR.PATCH` of a version (a plugin manifest's version: pre-release and build dropped);
    `0.0.0` for none or for text that is not a version."""
    try:
        return "{}.{}.{}".format(*Version.parse(version or "0.0.0").release)
    except VersionError:
        return "0.0.0"
