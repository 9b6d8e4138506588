"""The runtime's exception tree: every error carries a location, rendered once at the CLI edge."""

from __future__ import annotations


class Error(Exception):
    """Base of every error rpsrt raises on bad input. `where` is `path:line` (or a path), `oid` an id text."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 oid: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.line = line
        self.oid = oid

    def location(self) -> str:
        if self.path is None:
            return ""
        return f"{self.path}:{self.line}" if self.line is not None else self.path

    def render(self) -> str:
        """The text the command line prints for this error (the one place errors are rendered)."""
        return str(self)

    def __str__(self) -> str:
        loc = self.location()
        text = f"{loc}: error: {self.message}" if loc else f"error: {self.message}"
        if self.oid and self.oid not in self.message:
            text += f" (object {self.oid})"
        return text


class StoreError(Error):
    """A store that cannot be read or written: bad JSON, a dangling reference, a wrong count, ..."""


class PluginError(Error):
    """A plugin that cannot be loaded, initialised or dispatched to."""


#: Trap codes shared by the interpreter, the JIT and generated C (`rps/runtime.h` mirrors them).
TRAP_OK = 0
TRAP_DIVZERO = 1
TRAP_CONVERSION = 2
TRAP_RECURSION = 3
TRAP_INTERRUPT = 4
#: Version 2's traps on the heap (LANGUAGE.md, "Version 2"); some kinds carry a detail
#: (`missing attribute radius`, `type mismatch: expected int, got string`, `failed: text`).
TRAP_NULL_OBJECT = 5
TRAP_MISSING_ATTRIBUTE = 6
TRAP_TYPE_MISMATCH = 7
TRAP_NOT_AN_ATTRIBUTE = 8
TRAP_INDEX_RANGE = 9
TRAP_NOT_A_CLASS = 10
TRAP_NO_METHOD = 11
TRAP_UNKNOWN_OBJECT = 12
TRAP_INT_RANGE = 13
TRAP_INVALID_NAME = 14
TRAP_NAME_EXISTS = 15
TRAP_WRONG_PAYLOAD = 16
TRAP_FAILED = 17
TRAP_KINDS = {
    TRAP_DIVZERO: "division by zero",
    TRAP_CONVERSION: "invalid conversion",
    TRAP_RECURSION: "recursion too deep",
    TRAP_INTERRUPT: "interrupted",
    TRAP_NULL_OBJECT: "null object",
    TRAP_MISSING_ATTRIBUTE: "missing attribute",
    TRAP_TYPE_MISMATCH: "type mismatch",
    TRAP_NOT_AN_ATTRIBUTE: "not an attribute",
    TRAP_INDEX_RANGE: "index out of range",
    TRAP_NOT_A_CLASS: "not a class",
    TRAP_NO_METHOD: "no method",
    TRAP_UNKNOWN_OBJECT: "unknown object",
    TRAP_INT_RANGE: "int out of range",
    TRAP_INVALID_NAME: "invalid name",
    TRAP_NAME_EXISTS: "name exists",
    TRAP_WRONG_PAYLOAD: "wrong payload",
    TRAP_FAILED: "failed",
}


class Trap(RuntimeError):
    """A trap raised by running code: `kind` (e.g. "division by zero"), `code`, `function`, `location`."""

    def __init__(self, code: int, function: str | None = None, location: str | None = None,
                 detail: str | None = None) -> None:
        self.code = code
        self.detail = detail
        self.kind = detail if detail is not None else TRAP_KINDS.get(code, f"trap {code}")
        self.function = function
        self.location = location
        where = f" at {location}" if location else ""
        inside = f" in {function}" if function else ""
        super().__init__(f"{self.kind}{inside}{where}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Trap):
            return NotImplemented
        return (self.code, self.kind, self.function, self.location) == \
            (other.code, other.kind, other.function, other.location)

    def __hash__(self) -> int:
        return hash((self.code, self.kind, self.function, self.location))


#: Default recursion limit (LANGUAGE.md): calls nested deeper than this trap.
DEFAULT_RECURSION_LIMIT = 10_000
