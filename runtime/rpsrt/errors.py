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
TRAP_KINDS = {
    TRAP_DIVZERO: "division by zero",
    TRAP_CONVERSION: "invalid conversion",
    TRAP_RECURSION: "recursion too deep",
    TRAP_INTERRUPT: "interrupted",
}


class Trap(RuntimeError):
    """A trap raised by running code: `kind` (e.g. "division by zero"), `code`, `function`, `location`."""

    def __init__(self, code: int, function: str | None = None, location: str | None = None) -> None:
        self.code = code
        self.kind = TRAP_KINDS.get(code, f"trap {code}")
        self.function = function
        self.location = location
        where = f" at {location}" if location else ""
        inside = f" in {function}" if function else ""
        super().__init__(f"{self.kind}{inside}{where}")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Trap):
            return NotImplemented
        return (self.code, self.function, self.location) == (other.code, other.function, other.location)

    def __hash__(self) -> int:
        return hash((self.code, self.function, self.location))


#: Default recursion limit (LANGUAGE.md): calls nested deeper than this trap.
DEFAULT_RECURSION_LIMIT = 10_000
