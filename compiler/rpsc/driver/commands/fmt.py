"""`rpsc fmt FILE... [--check]`: rewrite `.rps` files in canonical form, keeping their comments."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "fmt", help="format .rps files (canonical form, comments kept)",
        description="Rewrite each FILE in the canonical form `rpsc show` prints, keeping its comments where "
                    "they stand and single blank lines between statements and declarations. A file that "
                    "does not parse is reported and left untouched; files are replaced atomically. `-` "
                    "formats standard input to standard output.",
        epilog="examples:\n  rpsc fmt plugins_src/*.rps\n  rpsc fmt --check src/*.rps     (CI: exit 1 when a file "
               "would change)\n  rpsc fmt --diff geo.rps\n"
               "exit status: 0 ok (or already formatted), 1 a file would change (--check) or did not parse",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("files", nargs="+", metavar="FILE", help="the .rps files (`-`: standard input)")
    p.add_argument("--check", action="store_true",
                   help="write nothing; list the files that are not formatted and exit 1 if there are any")
    p.add_argument("--diff", action="store_true", help="write nothing; print a unified diff of the changes")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import difflib
    from pathlib import Path

    from rpsc import CompileError
    from rpsc.frontend.fmt import format_source
    from rpsc.frontend.parser import read_source

    status = 0
    for name in args.files:
        try:
            if name == "-":
                text = sys.stdin.read()
                out = format_source(text, "<stdin>")
                if not args.check and not args.diff:
                    sys.stdout.write(out)
                    continue
            else:
                text = read_source(name)
                out = format_source(text, name)
        except CompileError as exc:
            print(exc.render(), file=sys.stderr)
            status = 1
            continue
        if out == text:
            continue
        if args.check or args.diff:
            if args.diff:
                sys.stdout.writelines(difflib.unified_diff(text.splitlines(True), out.splitlines(True),
                                                           f"a/{name}", f"b/{name}"))
            else:
                print(f"{name}: not formatted (run `rpsc fmt {name}`)")
            status = 1
            continue
        _replace(Path(name), out.encode("utf-8"))
        print(f"formatted {name}", file=sys.stderr)
    return status


def _replace(path: object, data: bytes) -> None:
    """Replace a file's contents atomically (a temporary file in its folder, renamed), keeping its mode."""
    import contextlib
    import os
    import tempfile
    from pathlib import Path

    target = Path(str(path))
    mode = os.stat(target).st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name[:16]}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
