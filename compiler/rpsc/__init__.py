"""rpsc: the compiler toolchain for RefPerSys-style persistent object systems (the upper layer)."""

from __future__ import annotations

__version__ = "0.1.0"


class CompileError(Exception):
    """Base of every error rpsc raises on bad input; carries `diagnostics` (rendered at the CLI edge)."""

    def __init__(self, message: str, diagnostics: list | None = None) -> None:  # type: ignore[type-arg]
        super().__init__(message)
        self.message = message
        self.diagnostics = diagnostics or []
