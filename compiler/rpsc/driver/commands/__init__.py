"""The subcommands of `rpsc`: one module each, defining `register(subparsers)`; `rpsc.driver.cli` loads them.

Command modules keep heavy imports (llvmlite, Lark, Jinja2) inside their handlers so that `rpsc --help` stays
fast, and never import `rpsc.driver.cli` (which imports them).
"""

from __future__ import annotations

import argparse
import re

#: A command-line word that is a negative number, not an option: -5, -0x1f, -2.5, -.5, -1e3, -inf, -nan
#: (argparse's own pattern knows only the first and the fourth forms).
NEGATIVE_NUMBER = re.compile(r"^-(\d[\d_]*(\.\d*)?(e[+-]?\d+)?|\.\d+(e[+-]?\d+)?|0[xob][\da-f_]+|inf(inity)?|nan)$",
                             re.IGNORECASE)


def numbers_as_arguments(parser: argparse.ArgumentParser) -> None:
    """Let a (sub)command's positional arguments be negative numbers in every float spelling."""
    parser._negative_number_matcher = NEGATIVE_NUMBER  # argparse has no public switch for this
