"""The `rpsc` command line: argument parsing and the one place where errors are rendered.

Subcommands live in `rpsc.driver.commands.<module>`; each module defines `register(subparsers)` and keeps heavy
imports (llvmlite, Lark, Jinja2) inside its handlers so that `rpsc --help` stays fast.
"""

from __future__ import annotations

import sys
from rpsc import __version__

#: `typing.TYPE_CHECKING` without importing typing (`rpsc --help` stays lean); type checkers take it as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Sequence
    from typing import Any

#: Command modules, in the order `--help` lists them (but for `run`, listed right after `compile`).
COMMAND_MODULES = ("store", "lang", "run", "jit", "build", "plugin", "config", "dispatch", "fmt", "lsp", "cache")


#: `rpsc --help`'s list of commands (name, one-line help), in its order: the top-level help (and `rpsc`
#: alone, and `--version`) is printed from it without importing the command modules (tens of ms);
#: tests/compiler/driver/test_cli_usage.py checks it against what the command modules register.
COMMANDS = (
    ("store", "check, dump, summarise or create a RefPerSys store"),
    ("compile", "compile .rps modules into a store"),
    ("run", "call a function of a store and print its result"),
    ("show", "print stored code back as .rps source"),
    ("jit", "JIT-compile a store's modules (MCJIT), call a function, show statistics"),
    ("emit", "write LLVM IR (.ll), a position-independent object (.o) and its C header"),
    ("build", "build a store's modules into native plugins with Ninja"),
    ("init", "create a plugin project (a .rps module, a test, a build.ninja)"),
    ("demo", "run the whole pipeline on the example plugins, under every backend"),
    ("plugin", "list, inspect, check and graph native and Python plugins"),
    ("config", "print the plugin header folder and build flags"),
    ("dispatch", "dispatch an extension point through a store's built plugins"),
    ("fmt", "format .rps files (canonical form, comments kept)"),
    ("lsp", "run the .rps language server (LSP over stdio; needs rpsc[lsp])"),
    ("cache", "show or trim rpsc's cache folder (JIT objects, parser tables)"),
)
#: The command module that registers each command: `rpsc COMMAND ...` builds a parser with that module
#: alone (importing and registering all of them costs tens of ms of every command's start, a no-op
#: `rpsc build` included); tests/compiler/driver/test_cli_usage.py checks it against the full parser.
COMMAND_MODULE = {
    "store": "store", "compile": "lang", "run": "run", "show": "lang", "jit": "jit", "emit": "jit",
    "build": "build", "init": "build", "demo": "build", "plugin": "plugin", "config": "config",
    "dispatch": "dispatch", "fmt": "fmt", "lsp": "lsp", "cache": "cache",
}
#: The command lines that the top-level parser alone answers (`COMMANDS` is all it needs).
_TOP_ONLY = ([], ["--help"], ["-h"], ["--version"])


def _top_parser() -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:  # type: ignore[type-arg]
    import argparse

    parser = argparse.ArgumentParser(
        prog="rpsc",
        description="Compile .rps definitions into RefPerSys stores, JIT code and native plugins.",
    )
    parser.add_argument("--version", action="version", version=f"rpsc {__version__}")
    return parser, parser.add_subparsers(dest="command", metavar="COMMAND")


def top_level_parser() -> argparse.ArgumentParser:
    """The parser `rpsc --help` is answered with: the top level, its commands listed from `COMMANDS`."""
    parser, sub = _top_parser()
    for name, text in COMMANDS:
        sub.add_parser(name, help=text)
    return parser


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The full parser (every command module registered), or with `only` (a command of `COMMAND_MODULE`)
    the top level with that command's module alone registered: the same parser for that command's words."""
    import importlib

    parser, sub = _top_parser()
    for name in COMMAND_MODULES if only is None else (COMMAND_MODULE[only],):
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


#: The cyclic garbage collector's thresholds for an `rpsc` process (`gc.set_threshold`): a command builds
#: a great many small objects that live until it exits (the store's objects, the AST, the IR) and makes
#: few cycles, so Python's default (a young-generation pass every 700 allocations) costs tens of ms of an
#: edit's `rpsc compile` and `rpsc build` for nothing. Only for a command line run as a program (`main()`
#: without arguments: the console script, `python -m rpsc`), not the language server, which runs for long.
GC_THRESHOLDS = (50_000, 20, 20)


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    if argv is None and words[:1] != ["lsp"]:
        import gc

        gc.set_threshold(*GC_THRESHOLDS)
    if words[:1] == ["run"]:
        # The warm start (rpsc.driver.runwarm): a function compiled before, of a store unchanged since,
        # runs from its native code without argparse, the store or the IR; None: the slow path.
        from rpsc.driver.runwarm import run as run_warm

        status = _guarded(run_warm, words[1:])
        if status is not None:
            return status
    if words in _TOP_ONLY:
        parser = top_level_parser()
    else:
        parser = build_parser(words[0] if words and words[0] in COMMAND_MODULE else None)
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
