"""The `rpsc` command line: argument parsing and the one place where errors are rendered.

Subcommands live in `rpsc.driver.commands.<module>`; each module defines `register(subparsers)` and keeps heavy
imports (llvmlite, Lark, Jinja2) inside its handlers so that `rpsc --help` stays fast.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from rpsc import __version__

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence

#: Command modules, in the order `--help` lists them (but for `run`, listed right after `compile`).
COMMAND_MODULES = ("store", "lang", "run", "jit", "build", "plugin", "config", "dispatch", "fmt", "lsp", "cache")


def build_parser() -> argparse.ArgumentParser:
    import argparse
    import importlib

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
    _list_run_after_compile(sub)
    _remember_subparsers(parser)
    return parser


def _list_run_after_compile(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """`--help` lists `run` between `compile` and `show`, as it did when one module registered all three."""
    actions = sub._choices_actions
    names = [a.dest for a in actions]
    if "run" in names and "compile" in names:
        run = actions.pop(names.index("run"))
        actions.insert([a.dest for a in actions].index("compile") + 1, run)


def _remember_subparsers(parser: argparse.ArgumentParser) -> None:
    """Let every (nested) subcommand's parser record itself in the namespace, so that an unknown option is
    reported with that subcommand's usage line rather than the top-level one."""
    import argparse

    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                sub.set_defaults(_subparser=sub)
                _remember_subparsers(sub)


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if words[:1] == ["run"]:
        # The warm start (rpsc.driver.runwarm): a function compiled before, of a store unchanged since,
        # runs from its native code without argparse, the store or the IR; None: the slow path.
        from rpsc.driver.runwarm import run as run_warm

        status = _guarded(run_warm, words[1:])
        if status is not None:
            return status
    parser = build_parser()
    args, extras = parser.parse_known_args(words)
    if extras:
        (getattr(args, "_subparser", None) or parser).error(f"unrecognized arguments: {' '.join(extras)}")
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return 2
    return int(_guarded(handler, args) or 0)


def _guarded(handler: Callable[[Any], int | None], args: Any) -> int | None:
    """`handler(args)`, with the errors of bad input rendered (never a traceback) as their exit status."""
    from rpsrt.errors import Error, Trap

    try:
        return handler(args)
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
