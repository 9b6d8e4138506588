"""`rpsc cache info|prune`: what rpsc's cache folder holds, and trimming it.

The folder is `rpsc.cachedir.cache_root()` ($RPSC_CACHE_DIR, else $XDG_CACHE_HOME/rpsc, else ~/.cache/rpsc).
Only files rpsc writes there are counted or removed, recognised by their names: JIT objects
(`<2 hex>/<64 hex>.o`), the JIT's typed-IR index (`ir/<2 hex>/<64 hex>`), parser tables (`rps-*.lark-cache`),
the language server's printed store modules (`lsp/<16 hex>/`), `rpsc run`'s warm-start indexes and their
libraries (`run/store-<dev>-<ino>.json`, `run/lib-<64 hex>.so`, rpsc.backends.llvm.runindex), and temporary
files of interrupted writes.
Anything else in the folder is reported as `other` and never touched.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

SCHEMA_VERSION = 1
KINDS = ("jit_objects", "jit_index", "parser_tables", "language_server", "run_index", "temporary", "other")
_LABELS = {"jit_objects": "JIT objects", "jit_index": "JIT typed-IR index", "parser_tables": "parser tables",
           "language_server": "language server", "run_index": "rpsc run index", "temporary": "temporary files",
           "other": "other (kept)"}
_HEX2 = re.compile(r"[0-9a-f]{2}")
_OBJ = re.compile(r"[0-9a-f]{64}\.o")
_DIGEST = re.compile(r"[0-9a-f]{64}")
_LSP = re.compile(r"[0-9a-f]{16}")
_RUN = re.compile(r"store-\d+-\d+\.json|lib-[0-9a-f]{64}\.so")
_PARSER = re.compile(r"rps-[0-9a-f]+-lark.*-py(\d+)\.lark-cache")
_TEMP = re.compile(r"\..+\.tmp|\.rps-.*|.*\.tmp")
#: A temporary file younger than this may belong to a write in progress: prune leaves it.
TEMP_GRACE_S = 600.0
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*", re.IGNORECASE)


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("cache", help="show or trim rpsc's cache folder (JIT objects, parser tables)",
                              description="rpsc caches JIT object code, parser tables and the language "
                                          "server's view of stores in one folder: $RPSC_CACHE_DIR, else "
                                          "$XDG_CACHE_HOME/rpsc, else ~/.cache/rpsc.")
    sub = p.add_subparsers(dest="cache_command", metavar="COMMAND")
    p.set_defaults(handler=lambda args: (p.print_help(), 2)[1])
    q = sub.add_parser("info", help="where the cache is and what it holds",
                       description="Print the cache folder, which setting chose it, and the files and bytes of "
                                   "each kind of entry.")
    q.add_argument("--json", action="store_true", help="print one JSON document (docs/json-output.md)")
    q.set_defaults(handler=run_info)
    q = sub.add_parser("prune", help="remove stale entries; with --max-size, the least recently used objects",
                       description="Remove what can no longer be used: parser tables of other grammar, Lark "
                                   "or Python versions (the newest per Python version stays), temporary files "
                                   "of interrupted writes (older than 10 minutes), the language server's copies "
                                   "of stores that are gone, `rpsc run`'s indexes of stores that are gone and "
                                   "the libraries no index names, and index entries of missing objects. With "
                                   "--max-size, also remove JIT objects and `rpsc run`'s indexes and libraries, "
                                   "least recently used (or made) first, until the cache fits. --all empties it.",
                       epilog="examples:\n  rpsc cache prune --max-size 500M\n  rpsc cache prune --all --dry-run",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    q.add_argument("--max-size", metavar="SIZE", type=parse_size,
                   help="shrink the cache to SIZE (bytes, or with k/M/G/T, powers of 1024)")
    q.add_argument("--all", action="store_true", help="remove every entry rpsc made")
    q.add_argument("--dry-run", action="store_true", help="list what would be removed; remove nothing")
    q.add_argument("--json", action="store_true", help="print one JSON document (docs/json-output.md)")
    q.set_defaults(handler=run_prune)


def parse_size(text: str) -> int:
    """`500M` -> 524288000 (k, M, G, T are powers of 1024; `B`, `iB` suffixes allowed)."""
    m = _SIZE.fullmatch(text)
    if m is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 500M, 2G, 1048576)")
    scale = 1024 ** " kmgt".index(m.group(2).lower() or " ")
    return int(float(m.group(1)) * scale)


def human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover


@dataclass
class Entry:
    kind: str
    path: Path
    size: int
    mtime: float


@dataclass
class Scan:
    root: Path
    entries: list[Entry] = field(default_factory=list)

    def by_kind(self) -> dict[str, tuple[int, int]]:
        out = {k: (0, 0) for k in KINDS}
        for e in self.entries:
            files, size = out[e.kind]
            out[e.kind] = (files + 1, size + e.size)
        return out

    @property
    def total(self) -> int:
        return sum(e.size for e in self.entries)


def scan(root: Path) -> Scan:
    """Every file under the cache folder, classified (a missing folder is an empty cache)."""
    out = Scan(root)
    if not root.is_dir():
        return out
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        rel = Path(dirpath).relative_to(root)
        parts = rel.parts
        for name in sorted(filenames):
            path = Path(dirpath, name)
            try:
                st = path.lstat()
            except OSError:
                continue
            if _TEMP.fullmatch(name) and not (parts[:1] == ("lsp",) and name.endswith(".rps")):
                kind = "temporary"
            elif len(parts) == 1 and _HEX2.fullmatch(parts[0]) and _OBJ.fullmatch(name):
                kind = "jit_objects"
            elif len(parts) == 2 and parts[0] == "ir" and _HEX2.fullmatch(parts[1]) and _DIGEST.fullmatch(name):
                kind = "jit_index"
            elif not parts and _PARSER.fullmatch(name):
                kind = "parser_tables"
            elif len(parts) == 2 and parts[0] == "lsp" and _LSP.fullmatch(parts[1]):
                kind = "language_server"
            elif parts == ("run",) and _RUN.fullmatch(name):
                kind = "run_index"
            else:
                kind = "other"
            out.entries.append(Entry(kind, path, st.st_size, st.st_mtime))
    return out


def _info_doc(s: Scan) -> dict[str, object]:
    from rpsc.cachedir import cache_root_origin

    return {"schema": SCHEMA_VERSION, "path": str(s.root), "origin": cache_root_origin(),
            "exists": s.root.is_dir(),
            "kinds": {k: {"files": f, "bytes": b} for k, (f, b) in s.by_kind().items()},
            "total_bytes": s.total}


def run_info(args: argparse.Namespace) -> int:
    from rpsc.cachedir import cache_root

    s = scan(cache_root())
    doc = _info_doc(s)
    if args.json:
        print(json.dumps(doc, indent=2))
        return 0
    print(f"cache: {s.root} (from {doc['origin']}){'' if doc['exists'] else ' - does not exist yet'}")
    for kind, (files, size) in s.by_kind().items():
        print(f"  {_LABELS[kind]:<20} {files:>7} file{' ' if files == 1 else 's'} {human(size):>11}")
    print(f"  {'total':<20} {'':>13} {human(s.total):>11}")
    return 0


def _victims(s: Scan, max_size: int | None, everything: bool, now: float) -> list[Entry]:
    if everything:
        return [e for e in s.entries if e.kind != "other"]
    out: list[Entry] = [e for e in s.entries if e.kind == "temporary" and now - e.mtime > TEMP_GRACE_S]
    # Parser tables: the newest per Python version stays.
    newest: dict[str, Entry] = {}
    for e in s.entries:
        if e.kind == "parser_tables":
            py = _PARSER.fullmatch(e.path.name).group(1)  # type: ignore[union-attr]
            if py not in newest or e.mtime > newest[py].mtime:
                newest[py] = e
    out += [e for e in s.entries if e.kind == "parser_tables" and e not in newest.values()]
    # The language server's copies of stores that are gone.
    for folder in sorted({e.path.parent for e in s.entries if e.kind == "language_server"}):
        try:
            store = (folder / "store.txt").read_text(encoding="utf-8").strip()
        except OSError:
            store = ""
        if not store or not Path(store, "rps_manifest.json").is_file():
            out += [e for e in s.entries if e.kind == "language_server" and e.path.parent == folder]
    out += _stale_run_index(s)
    if max_size is not None:
        gone = {id(e) for e in out}
        size = sum(e.size for e in s.entries if id(e) not in gone)
        for e in sorted((e for e in s.entries if e.kind in ("jit_objects", "run_index") and id(e) not in gone),
                        key=lambda e: (e.mtime, e.path.name)):
            if size <= max_size:
                break
            out.append(e)
            size -= e.size
    # Index entries whose object is gone (or going).
    removed = {e.path.stem for e in out if e.kind == "jit_objects"}
    present = {e.path.stem for e in s.entries if e.kind == "jit_objects"} - removed
    for e in s.entries:
        if e.kind == "jit_index" and e not in out:
            try:
                key = e.path.read_text().strip()
            except (OSError, UnicodeDecodeError):
                key = ""
            if key not in present:
                out.append(e)
    return out


def _stale_run_index(s: Scan) -> list[Entry]:
    """`rpsc run`'s warm-start indexes of stores that are gone (or unreadable), and the libraries that no
    index left names (a warm run then simply takes the slow path, which links its library again)."""
    out: list[Entry] = []
    named: set[str] = set()
    for e in s.entries:
        if e.kind != "run_index" or not e.path.name.endswith(".json"):
            continue
        try:
            doc = json.loads(e.path.read_bytes())
            store = doc["store"]
            libs = [lib[0] for lib in doc["libraries"]]
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            out.append(e)
            continue
        if not isinstance(store, str) or not Path(store, "rps_manifest.json").is_file():
            out.append(e)
            continue
        named.update(os.path.basename(lib) for lib in libs if isinstance(lib, str))
    out += [e for e in s.entries if e.kind == "run_index" and e.path.name.endswith(".so") and e.path.name not in named]
    return out


def run_prune(args: argparse.Namespace) -> int:
    from rpsc.cachedir import cache_root

    s = scan(cache_root())
    victims = _victims(s, args.max_size, args.all, time.time())
    freed = 0
    removed = []
    for e in victims:
        if not args.dry_run:
            try:
                e.path.unlink()
            except FileNotFoundError:
                continue
        freed += e.size
        removed.append(e)
    if not args.dry_run:
        _remove_empty_folders(s.root)
    after = scan(s.root)
    if args.json:
        print(json.dumps({"schema": SCHEMA_VERSION, "path": str(s.root), "dry_run": args.dry_run,
                          "removed": {k: sum(1 for e in removed if e.kind == k) for k in KINDS},
                          "removed_files": len(removed), "freed_bytes": freed,
                          "total_bytes": s.total - freed if args.dry_run else after.total}, indent=2))
        return 0
    verb = "would remove" if args.dry_run else "removed"
    for e in removed if args.dry_run else ():
        print(f"{verb} {e.path} ({_LABELS[e.kind]}, {human(e.size)})")
    total = s.total - freed if args.dry_run else after.total
    print(f"{verb} {len(removed)} file{'' if len(removed) == 1 else 's'} ({human(freed)}); "
          f"the cache {'would hold' if args.dry_run else 'holds'} {human(total)} in {s.root}")
    return 0


def _remove_empty_folders(root: Path) -> None:
    if not root.is_dir():
        return
    for dirpath, _dirnames, _filenames in sorted(os.walk(root), key=lambda t: -len(t[0])):
        parts = Path(dirpath).relative_to(root).parts
        ours = (len(parts) == 1 and (_HEX2.fullmatch(parts[0]) or parts[0] in ("ir", "lsp", "run"))
                or len(parts) == 2 and parts[0] == "ir" and _HEX2.fullmatch(parts[1])
                or len(parts) == 2 and parts[0] == "lsp" and _LSP.fullmatch(parts[1]))
        if ours:
            try:
                os.rmdir(dirpath)  # only when empty
            except OSError:
                pass
