"""rpsc: the compiler toolchain for RefPerSys-style persistent object systems (the upper layer)."""

from __future__ import annotations

__version__ = "0.1.0"


from rpsrt.errors import Error as _RuntimeError


class Error(_RuntimeError):
    """Base of every error rpsc raises on bad input: a message with its location (`path`, `line`, `oid`),
    rendered once, at the CLI edge, by `render()`.

    It extends `rpsrt.Error` (the lower layer's root) so that a host catching `rpsrt.Error` sees both trees.
    """


class CompileError(Error):
    """Source or stored code that cannot be compiled; carries `diagnostics` (`file:line:col: error: ...`)."""

    def __init__(self, message: str, diagnostics: list | None = None, *,  # type: ignore[type-arg]
                 path: str | None = None, line: int | None = None) -> None:
        super().__init__(message, path=path, line=line)
        self.diagnostics = diagnostics or []

    def __str__(self) -> str:
        return self.message

    def render(self) -> str:
        if self.diagnostics:
            return "\n".join(d if isinstance(d, str) else d.render() for d in self.diagnostics)
        return self.message
