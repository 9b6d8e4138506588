"""Compiler diagnostics: the `Diagnostic` record and its clang/rustc-style rendering with a caret line.

A diagnostic renders as::

    geo.rps:3:11: error: expected `;` after the statement
        3 |     x = f(1)
          |             ^
    hint: add `;` here

Spans are 1-based with an exclusive end (see `rpsc.frontend.ast.Span`); a span wider than one character is
underlined `^~~~`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rpsc import CompileError
from rpsc.frontend.ast import Span

__all__ = ["Diagnostic", "Note", "DiagnosticError", "raise_if_errors", "sort_key"]


@dataclass(frozen=True, slots=True)
class Note:
    """A secondary message attached to a diagnostic, optionally pointing at its own location."""

    message: str
    span: Span | None = None


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One message about the user's source: severity ("error", "warning"), text, location, optional hint."""

    severity: str
    message: str
    span: Span
    hint: str | None = None
    notes: tuple[Note, ...] = ()

    def render(self, source: str | None = None) -> str:
        """Render as `file:line:col: severity: message`, the source line, a caret, then hint and notes.

        `source` is the text of `span.file`; when None the file is read if it exists (else no excerpt).
        """
        cache: dict[str, list[str] | None] = {}
        if source is not None:
            cache[self.span.file] = source.splitlines()
        out = _render_one(self.severity, self.message, self.span, cache)
        if self.hint:
            out.append(f"hint: {self.hint}")
        for note in self.notes:
            if note.span is None:
                out.append(f"note: {note.message}")
            else:
                out.extend(_render_one("note", note.message, note.span, cache))
        return "\n".join(out)

    def __str__(self) -> str:
        return self.render()


def _lines_of(path: str, cache: dict[str, list[str] | None]) -> list[str] | None:
    if path not in cache:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                cache[path] = f.read().splitlines()
        except OSError:
            cache[path] = None
    return cache[path]


def _render_one(severity: str, message: str, span: Span, cache: dict[str, list[str] | None]) -> list[str]:
    out = [f"{span.file}:{span.line}:{span.col}: {severity}: {message}"]
    lines = _lines_of(span.file, cache)
    if lines is None or not (1 <= span.line <= len(lines) + 1):
        return out
    text = lines[span.line - 1] if span.line <= len(lines) else ""
    col = max(span.col, 1)
    if span.end_line == span.line and span.end_col > col:
        width = span.end_col - col
    elif span.end_line > span.line:
        width = max(len(text) - col + 1, 1)
    else:
        width = 1
    gutter = str(span.line)
    pad = " " * len(gutter)
    # Keep tabs so that the caret lines up under the culprit whatever the tab width.
    lead = "".join(c if c == "\t" else " " for c in text[: col - 1])
    if len(lead) < col - 1:
        lead += " " * (col - 1 - len(lead))
    out.append(f" {gutter} | {text}")
    out.append(f" {pad} | {lead}^{'~' * (width - 1)}")
    return out


def sort_key(d: Diagnostic) -> tuple[str, int, int]:
    return (d.span.file, d.span.line, d.span.col)


class DiagnosticError(CompileError):
    """A CompileError carrying one or more `Diagnostic`s (its message is the first one's header)."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        diags = list(diagnostics)
        first = diags[0] if diags else None
        msg = f"{first.span}: {first.severity}: {first.message}" if first else "error"
        if len(diags) > 1:
            msg += f" (and {len(diags) - 1} more)"
        super().__init__(msg, diags)


def raise_if_errors(diagnostics: Iterable[Diagnostic]) -> None:
    """Raise DiagnosticError with every diagnostic (sorted by position) if any of them is an error."""
    diags = list(diagnostics)
    if any(d.severity == "error" for d in diags):
        diags.sort(key=sort_key)
        raise DiagnosticError(diags)
