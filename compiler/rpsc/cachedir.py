"""rpsc's cache folder, shared by the JIT object cache, the parser-table cache and the language server.

`cache_root()` is `$RPSC_CACHE_DIR` when set (and not empty), else `$XDG_CACHE_HOME/rpsc`, else
`~/.cache/rpsc`. `rpsc cache info|prune` (rpsc.driver.commands.cache) reports on it and trims it.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (`rpsc run`'s warm start reads this module)
if TYPE_CHECKING:
    from pathlib import Path

#: The environment variable naming the cache folder.
CACHE_ENV = "RPSC_CACHE_DIR"


def cache_root() -> Path:
    """The cache folder (see the module docstring); not created here."""
    from pathlib import Path

    return Path(cache_root_text())


def cache_root_text() -> str:
    """`cache_root()` as a string, without importing pathlib (`rpsc run`'s warm start)."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return env
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "rpsc")


def cache_root_origin() -> str:
    """Which setting chose the cache folder: RPSC_CACHE_DIR, XDG_CACHE_HOME or the home folder."""
    if os.environ.get(CACHE_ENV):
        return CACHE_ENV
    return "XDG_CACHE_HOME" if os.environ.get("XDG_CACHE_HOME") else "home"
