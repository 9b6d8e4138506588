"""The `rpsc` command line: argument parsing and the one place where errors are rendered.

Subcommands live in `rpsc.driver.commands.<module>`; each module defines `register(subparsers)` and keeps heavy
imports (llvmlite, Lark, Jinja2) inside its handlers so that `rpsc --help` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from rpsc import __version__

#: Command modules, in the order `--help` lists them.
COMMAND_MODULES = ("store", "lang", "jit", "build", "plugin", "config", "dispatch", "fmt", "lsp", "cache")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rpsc",
        description="Compile .rps definitions into RefPerSys stores, JIT code and native plugins.",
    )
    parser.add_argument("--version", action="version", version=f"rpsc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"rpsc.driver.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"rpsc.driver.commands.{name}":
                raise
            continue
        module.register(sub)
    _remember_subparsers(parser)
    return parser


def _remember_subparsers(parser: argparse.ArgumentParser) -> None:
    """Let every (nested) subcommand's parser record itself in the namespace, so that an unknown option is
    reported with that subcommand's usage line rather than the top-level one."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                sub.set_defaults(_subparser=sub)
                _remember_subparsers(sub)


def main(argv: Sequence[str] | None = None) -> int:
    from rpsrt.errors import Error, Trap

    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        (getattr(args, "_subparser", None) or parser).error(f"unrecognized arguments: {' '.join(extras)}")
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    try:
        return int(handler(args) or 0)
    except Trap as exc:
        print(f"rpsc: trap: {exc}", file=sys.stderr)
        return 3
    except Error as exc:  # rpsrt.Error, and rpsc.Error which extends it
        print(exc.render(), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("rpsc: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 1
    except OSError as exc:
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        print(f"{where}error: {exc.strerror or exc}", file=sys.stderr)
        return 1
