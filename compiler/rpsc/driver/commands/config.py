"""`rpsc config`: where the plugin headers are and which flags a plugin build needs."""

from __future__ import annotations

import argparse
import shlex


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("config", help="print the plugin header folder and build flags",
                              description="Print what building a native plugin needs. Without an option, "
                                          "print every setting as `key: value`; with options, their values, one "
                                          "a line, in the order given.",
                              epilog="example:\n  cc -O2 hello.c $(rpsc config --cflags --ldflags) -o hello_c.so",
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--include-dir", action="append_const", const="include_dir", dest="what",
                   help="the folder holding rps/plugin.h and rps/runtime.h (pass it to -I)")
    p.add_argument("--cflags", action="append_const", const="cflags", dest="what",
                   help="compiler flags for a plugin's C sources")
    p.add_argument("--ldflags", action="append_const", const="ldflags", dest="what",
                   help="linker flags that make a plugin .so")
    p.add_argument("--abi-version", action="append_const", const="abi", dest="what",
                   help="the plugin ABI version this host implements")
    p.add_argument("--examples-dir", action="append_const", const="examples_dir", dest="what",
                   help="the installed example modules and plugins (numeric.rps, events.rps, hello_c/, ...)")
    p.add_argument("--docs-dir", action="append_const", const="docs_dir", dest="what",
                   help="the installed documentation (language.md, plugin-author-guide.md, ...)")
    p.add_argument("--json", action="store_true", help="print every setting as one JSON object")
    p.set_defaults(handler=run, what=None)


def run(args: argparse.Namespace) -> int:
    from rpsrt.plugins import ABI_VERSION, cflags, include_dir, ldflags

    from rpsc.driver.demo import docs_dir, examples_dir

    values = {
        "include_dir": str(include_dir()),
        "cflags": shlex.join(cflags()),
        "ldflags": shlex.join(ldflags()),
        "abi": str(ABI_VERSION),
        "examples_dir": str(examples_dir()),
        "docs_dir": str(docs_dir()),
    }
    if args.json:
        import json

        doc = {"schema": 1, **values, "abi": ABI_VERSION, "cflags": list(cflags()), "ldflags": list(ldflags())}
        print(json.dumps(doc if not args.what else {k: doc[k] for k in ["schema", *args.what]}, indent=2))
        return 0
    if args.what:
        for what in args.what:
            print(values[what])
    else:
        for key, value in values.items():
            print(f"{key}: {value}")
    return 0
