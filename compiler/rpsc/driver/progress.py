"""Progress of long commands (`rpsc compile`, `rpsc build`): each phase named as it starts.

On a terminal the phases share one status line, rewritten in place and cleared when the command ends; in a
log (not a TTY) each phase is a plain line `rpsc build: generating C`. `Progress(None)` (`--quiet`) says
nothing.
"""

from __future__ import annotations

from typing import TextIO


class Progress:
    """`phase(text)` names the phase that starts now; `done()` clears a terminal's status line."""

    def __init__(self, stream: TextIO | None, prefix: str) -> None:
        self.stream = stream
        self.prefix = prefix
        self.tty = bool(stream is not None and getattr(stream, "isatty", lambda: False)())
        self._shown = 0

    def phase(self, text: str) -> None:
        if self.stream is None:
            return
        line = f"{self.prefix}: {text}"
        if self.tty:
            pad = max(0, self._shown - len(line))
            self.stream.write("\r" + line + " " * pad + "\r" + line)
            self._shown = len(line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def done(self) -> None:
        """Clear the status line (a terminal) before other output follows."""
        if self.stream is not None and self.tty and self._shown:
            self.stream.write("\r" + " " * self._shown + "\r")
            self.stream.flush()
            self._shown = 0
