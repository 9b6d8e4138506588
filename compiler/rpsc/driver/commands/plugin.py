"""`rpsc plugin`: list, inspect, check, graph plugins, and write a plugin's sidecar manifest."""

from __future__ import annotations

import argparse
import json
import os
import sys


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--plugin-path", action="append", default=[], metavar="DIR",
                   help="a folder to search for plugins (repeatable; searched before $RPSC_PLUGIN_PATH and "
                        "the store's plugins/)")
    p.add_argument("--store", metavar="DIR", help="also search DIR/plugins")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("plugin", help="list, inspect, check and graph native and Python plugins",
                              description="Work with plugins without loading them into this process.")
    sub = p.add_subparsers(dest="plugin_command", metavar="ACTION", required=True)

    q = sub.add_parser("list", help="plugins in the search path: search path, name, version, status")
    _common(q)
    q.add_argument("--no-python", action="store_true", help="skip Python plugins (entry point group rpsc.plugins)")
    q.add_argument("--json", action="store_true", help="print JSON (one object per file or Python plugin)")
    q.set_defaults(handler=run_list)

    q = sub.add_parser("inspect", help="print a plugin file's manifest and exports without loading it")
    q.add_argument("file", help="the plugin .so file")
    q.add_argument("--json", action="store_true", help="print JSON")
    q.set_defaults(handler=run_inspect)

    q = sub.add_parser("check", help="load a plugin in a child process and report (a crash is a report)")
    q.add_argument("file", help="the plugin .so file")
    _common(q)
    q.add_argument("--point", action="append", default=[], metavar="NAME=SIGNATURE[:MODE]",
                   help="declare an extension point the plugin registers into, e.g. combine='i64(i64,i64):all'")
    q.add_argument("--arg", action="append", default=[], metavar="KEY=VALUE", help="a plugin argument")
    q.add_argument("--timeout", type=float, default=60.0, metavar="SECONDS",
                   help="seconds before the child is killed (default 60)")
    q.add_argument("--json", action="store_true", help="print the report as JSON")
    q.set_defaults(handler=run_check)

    q = sub.add_parser("graph", help="the plugin graph as Graphviz DOT (SVG/PNG with -o and `dot`)",
                       description="Draw plugins and their requirements top-down (unsatisfied ones in red, with "
                                   "the constraint); with --dispatch, also each extension point's "
                                   "implementations in dispatch order with their priorities.")
    _common(q)
    q.add_argument("-o", "--output", metavar="FILE",
                   help="write to FILE; FILE.svg, FILE.png and FILE.pdf are rendered with Graphviz `dot`")
    q.add_argument("--no-python", action="store_true", help="skip Python plugins")
    q.add_argument("--dispatch", action="store_true",
                   help="load the plugins (running their init, as `rpsc dispatch` does) to draw the extension "
                        "points' dispatch order")
    q.set_defaults(handler=run_graph)

    q = sub.add_parser("sidecar", help="write FILE's sidecar manifest (<plugin>.json with its sha256) from "
                                       "its embedded rps_plugin_manifest")
    q.add_argument("file", help="the plugin .so file")
    q.set_defaults(handler=run_sidecar)


def _manager(args: argparse.Namespace, python: bool):  # type: ignore[no-untyped-def]
    from rpsrt.plugins import PluginManager

    mgr = PluginManager(args.plugin_path, store=args.store)
    if python:
        mgr.discover_python()
    return mgr


def run_list(args: argparse.Namespace) -> int:
    from rpsrt.errors import PluginError

    mgr = _manager(args, not args.no_python)
    entries: list[dict[str, object]] = []
    seen: set[str] = set()
    known = mgr.candidates()

    def loadability(cand) -> tuple[str, str | None]:  # type: ignore[no-untyped-def]
        """"ok" or "would fail to load", with why (its dependencies resolved as a load would)."""
        try:
            mgr.resolve(cand, known=known)
        except PluginError as exc:
            return "unloadable", exc.message
        return "ok", None

    for e in mgr.scan():
        if e.candidate is None:
            entries.append({"search_path": str(e.search_path), "file": str(e.path), "name": e.name,
                            "version": None, "status": "refused", "reason": e.reason, "error": e.error})
            continue
        c = e.candidate
        row: dict[str, object] = {"search_path": str(e.search_path), "file": str(e.path), "name": c.name,
                                  "version": c.version, "source": c.source}
        if c.name in seen:
            row.update(status="shadowed", reason="shadowed", error=f"shadowed by an earlier {c.name}")
        else:
            status, why = loadability(c)
            row.update(status=status, reason="dependency" if why else None, error=why)
        seen.add(c.name)
        entries.append(row)
    for name, cand in sorted(mgr.python_plugins().items()):
        row = {"search_path": "<python>", "file": cand.source, "name": name, "version": cand.version,
               "source": "python"}
        if name in seen:
            row.update(status="shadowed", reason="shadowed", error=f"shadowed by an earlier {name}")
        else:
            status, why = loadability(cand)
            row.update(status=status, reason="dependency" if why else None, error=why)
        entries.append(row)
    for source, err in mgr.python_errors:
        entries.append({"search_path": "<python>", "file": source, "name": None, "version": None,
                        "status": "refused", "reason": "python", "error": f"error: {err}"})
    if args.json:
        print(json.dumps({"search_paths": [str(p) for p in mgr.search_paths], "plugins": entries}, indent=2))
        return 0
    if not entries:
        paths = ", ".join(map(str, mgr.search_paths)) or "empty"
        print(f"no plugins found (search path: {paths})")
        return 0
    rows = [("SEARCH PATH", "NAME", "VERSION", "STATUS")]
    for r in entries:
        where = os.path.basename(str(r["file"])) if r["search_path"] != "<python>" else str(r["file"])
        if r["status"] == "refused":
            status = (f"refused ({r['reason']}): {r['error']}" if r["reason"] != "python" else str(r["error"]))
            rows.append((str(r["search_path"]), str(r["name"] or where), "-", status))
            continue
        if r["status"] == "shadowed":
            status = f"{r['error']} {where}"
        elif r["status"] == "unloadable":
            status = f"would fail to load ({r['source']}) {where}: {r['error']}"
        else:
            status = f"ok ({r['source']}) {where}"
        rows.append((str(r["search_path"]), str(r["name"]), str(r["version"]), status))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for r in rows:
        print("  ".join(r[i].ljust(widths[i]) for i in range(3)) + "  " + r[3])
    return 0


def run_inspect(args: argparse.Namespace) -> int:
    from rpsrt.errors import PluginError
    from rpsrt.plugins import check_permissions, inspect_native, open_plugin

    cand, elf = inspect_native(args.file)
    with open_plugin(args.file, strict=False) as opened:
        sha = opened.sha256
    try:  # would the host load it from its folder? (link, owners, modes of file, sidecar and folders)
        check_permissions(args.file)
        trust: dict[str, object] = {"ok": True, "reason": None, "error": None}
    except PluginError as exc:
        trust = {"ok": False, "reason": getattr(exc, "reason", None), "error": str(exc)}
    m = cand.manifest
    info = {
        "file": args.file,
        "manifest_source": cand.source,
        "sha256": sha,
        "checksum": "verified" if cand.sha256 else "not recorded",
        "trust": trust,
        "manifest": {k: v for k, v in m.raw.items() if k != "sha256"},
        "exported_functions": elf.functions(),
        "has_fini": "rps_plugin_fini" in elf.symbols,
    }
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{args.file}: {m.name} {m.version_text} (ABI {m.abi}; manifest from {cand.source}; checksum "
          f"{info['checksum']})")
    print(f"  sha256: {info['sha256']}")
    if trust["ok"]:
        print("  trust: ok (owner, modes and folders would let the host load it)")
    else:
        print(f"  trust: refused ({trust['reason']}): {trust['error']}")
    for r in m.requires:
        print(f"  requires: {r.name} {r.constraint}")
    for e in m.exports:
        state = "" if e.symbol in elf.symbols else "  (MISSING from the file)"
        print(f"  export: {e.symbol}  {e.name}  {e.signature}{state}")
    print(f"  functions: {' '.join(elf.functions())}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from rpsc import CompileError
    from rpsrt.plugins.check import check_in_child

    if not args.timeout > 0:
        raise CompileError(f"error: --timeout must be a positive number of seconds, got {args.timeout}")
    points = []
    for spec in args.point:
        name, eq, rest = spec.partition("=")
        sig, _, mode = rest.partition(":")
        if not eq or not name or not sig:
            raise CompileError(f"error: --point {spec!r}: expected NAME=SIGNATURE[:MODE]")
        points.append((name, sig, mode or "first"))
    arguments = {}
    for spec in args.arg:
        key, eq, value = spec.partition("=")
        if not eq:
            raise CompileError(f"error: --arg {spec!r}: expected KEY=VALUE")
        arguments[key] = value
    paths = list(args.plugin_path)
    if args.store:
        paths.append(os.path.join(args.store, "plugins"))
    report = check_in_child(args.file, search_paths=paths, points=points, arguments=arguments,
                            timeout=args.timeout)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(report.render(), file=sys.stdout if report.ok else sys.stderr)
    return 0 if report.ok else 1


def run_graph(args: argparse.Namespace) -> int:
    from rpsc.driver.graph import plugin_graph, render, with_dispatch

    mgr = _manager(args, not args.no_python)
    dot_text = with_dispatch(mgr, plugin_graph) if args.dispatch else plugin_graph(mgr)
    if args.output and os.path.splitext(args.output)[1].lower() in (".svg", ".png", ".pdf"):
        render(dot_text, args.output)
    elif args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(dot_text)
    else:
        sys.stdout.write(dot_text)
    return 0


def run_sidecar(args: argparse.Namespace) -> int:
    from rpsrt.errors import PluginError
    from rpsrt.plugins import parse_manifest, read_elf, write_sidecar

    raw = read_elf(args.file).read_symbol_bytes("rps_plugin_manifest")
    if raw is None:
        raise PluginError("no rps_plugin_manifest symbol to write the sidecar from", path=args.file)
    print(write_sidecar(args.file, parse_manifest(raw, path=args.file)))
    return 0
