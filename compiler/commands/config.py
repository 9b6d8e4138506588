"""`rpsc config`: where the plugin headers are and which flags a plugin build needs."""

from __future__ import annotations

import argparse
import shlex


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("config", help="print the plugin header folder and build flags",
                              description="Print what building a native plugin needs. Without an option, "
                                          "print every setting as `key: value`.")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--include-dir", action="store_const", const="include_dir", dest="what",
                   help="the folder holding rps/plugin.h and rps/runtime.h (pass it to -I)")
    g.add_argument("--cflags", action="store_const", const="cflags", dest="what",
                   help="compiler flags for a plugin's C sources")
    g.add_argument("--ldflags", action="store_const", const="ldflags", dest="what",
                   help="linker flags that make a plugin .so")
    g.add_argument("--abi-version", action="store_const", const="abi", dest="what",
                   help="the plugin ABI version this host implements")
    p.set_defaults(handler=run, what=None)


def run(args: argparse.Namespace) -> int:
    from rpsrt.plugins import ABI_VERSION, cflags, include_dir, ldflags

    values = {
        "include_dir": str(include_dir()),
        "cflags": shlex.join(cflags()),
        "ldflags": shlex.join(ldflags()),
        "abi": str(ABI_VERSION),
    }
    if args.what:
        print(values[args.what])
    else:
        for key, value in values.items():
            print(f"{key}: {value}")
    return 0
