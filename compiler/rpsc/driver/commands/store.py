"""`rpsc store`: check, copy, summarise and create RefPerSys store directories."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections import Counter


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of seconds, at least 0")
    return value


def add_lock_timeout(p: argparse.ArgumentParser) -> None:
    """`--lock-timeout SECONDS` on a command that takes the store's lock."""
    p.add_argument("--lock-timeout", type=_seconds, default=None, metavar="SECONDS",
                   help="give up (exit 1) when another process holds the store's lock longer than this "
                        "(default: wait as long as it takes; a wait is announced on stderr)")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("store", help="check, dump, summarise or create a RefPerSys store",
                              description="Work on RefPerSys store directories (rps_manifest.json plus "
                                          "persistore/sp<oid>-rps.json files; formats 2019A, 2023A, 2024A).")
    sub = p.add_subparsers(dest="store_command", metavar="ACTION")
    c = sub.add_parser("check", help="load and validate a store, print its counts")
    c.add_argument("dir", help="store directory")
    c.add_argument("--json", action="store_true", help="print the result as JSON (docs/json-output.md)")
    c.set_defaults(handler=run_check)
    d = sub.add_parser("dump", help="load SRC and write it to DST in format 2024A")
    d.add_argument("src", help="store directory to read")
    d.add_argument("dst", help="store directory to write: new, empty, or an existing store to replace")
    add_lock_timeout(d)
    d.set_defaults(handler=run_dump)
    s = sub.add_parser("stats", help="objects per class and per payload kind, as a table")
    s.add_argument("dir", help="store directory")
    s.add_argument("--json", action="store_true", help="print the counts as JSON (docs/json-output.md)")
    s.set_defaults(handler=run_stats)
    n = sub.add_parser("new", help="create a fresh store holding RefPerSys's core objects")
    n.add_argument("dir", help="directory to create (must not hold a store)")
    add_lock_timeout(n)
    n.set_defaults(handler=run_new)
    p.set_defaults(handler=lambda args: (p.print_help(), 2)[1])


def run_check(args: argparse.Namespace) -> int:
    import rpsrt

    if getattr(args, "json", False):
        from rpsc.driver.commands.jsonout import store_check

        return store_check(args.dir)

    heap = rpsrt.load_store(args.dir)
    print(f"{args.dir}: ok: {len(heap.objects)} objects, {len(heap.spaces)} spaces, {len(heap.roots)} roots, "
          f"{len(heap.constants)} constants, {len(heap.plugins)} plugins")
    return 0


def run_dump(args: argparse.Namespace) -> int:
    import rpsrt
    from rpsc.driver.pipeline import migrate_code
    from rpsrt.errors import StoreError
    from rpsrt.store.writer import dump_store, update_lock

    if os.path.exists(args.dst) and not os.path.isdir(args.dst):
        raise StoreError("not a directory", path=args.dst)
    os.makedirs(args.dst, exist_ok=True)
    created = not os.listdir(args.dst)
    try:
        # The destination's checks, the load (when the destination is the source: an in-place migration) and
        # the dump happen under one update lock, so no compile or build committed meanwhile is lost.
        with update_lock(args.dst, timeout=args.lock_timeout):
            if os.listdir(args.dst) and not os.path.exists(os.path.join(args.dst, "rps_manifest.json")):
                raise StoreError("the folder is not empty and holds no store; refusing to write a store into it "
                                 "(name a new or empty folder, or an existing store to replace)", path=args.dst)
            heap = rpsrt.load_store(args.src, lock_timeout=args.lock_timeout)
            notice = migrate_code(heap)  # code written by rpsc 0.1.0 is rewritten (one way) before the dump
            if notice:
                print(notice, file=sys.stderr)
            written = dump_store(heap, args.dst, locked=True, lock_timeout=args.lock_timeout)
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                os.rmdir(args.dst)  # only when still empty: a failed dump into a new folder leaves nothing
        raise
    print(f"{args.dst}: {len(heap.objects)} objects, {len(written)} files written")
    return 0


def run_stats(args: argparse.Namespace) -> int:
    import rpsrt
    from rpsrt.model import wellknown as wk

    if getattr(args, "json", False):
        from rpsc.driver.commands.jsonout import store_stats

        return store_stats(args.dir)

    heap = rpsrt.load_store(args.dir)
    name_attr = heap.get(wk.NAME)

    def label(obj: rpsrt.RpsObject | None) -> str:
        if obj is None:
            return "(none)"
        name = obj.attrs.get(name_attr) if name_attr is not None else None
        return f"{name} {obj.oid}" if isinstance(name, str) else str(obj.oid)

    by_class = Counter(label(o.cls) for o in heap.objects.values())
    by_kind = Counter(o.payload.kind if o.payload is not None else "(none)" for o in heap.objects.values())
    _table("class", by_class)
    print()
    _table("payload", by_kind)
    print()
    print(f"total: {len(heap.objects)} objects, {len(heap.spaces)} spaces, {len(heap.roots)} roots")
    return 0


def _table(title: str, counts: Counter[str]) -> None:
    rows = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    width = max([len(title)] + [len(k) for k, _ in rows])
    print(f"{title:<{width}}  objects")
    print(f"{'-' * width}  -------")
    for k, n in rows:
        print(f"{k:<{width}}  {n:>7}")


def run_new(args: argparse.Namespace) -> int:
    from rpsrt.errors import StoreError
    from rpsrt.store.core import new_heap
    from rpsrt.store.writer import dump_store

    from rpsrt.store.writer import update_lock

    manifest = os.path.join(args.dir, "rps_manifest.json")
    if os.path.exists(args.dir) and not os.path.isdir(args.dir):
        raise StoreError("not a directory", path=args.dir)
    os.makedirs(args.dir, exist_ok=True)
    created = not os.listdir(args.dir)
    try:
        # Checked under the update lock: a first `rpsc compile` into the same folder cannot slip in between.
        with update_lock(args.dir, timeout=args.lock_timeout):
            if os.path.exists(manifest) or os.path.isdir(os.path.join(args.dir, "persistore")):
                raise StoreError("a store already exists here; refusing to overwrite it", path=manifest)
            heap = new_heap()
            dump_store(heap, args.dir, locked=True, lock_timeout=args.lock_timeout)
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                os.rmdir(args.dir)
        raise
    print(f"{args.dir}: new store with {len(heap.objects)} core objects")
    return 0
