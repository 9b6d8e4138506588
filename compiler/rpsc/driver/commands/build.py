"""`rpsc build` (plugins of a store through Ninja), `rpsc init` (a plugin project) and `rpsc demo` (the pipeline).

Heavy imports (Jinja2, llvmlite, the store reader) stay inside the handlers: `rpsc build` on an up-to-date
store imports none of them.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from rpsc.driver.commands.store import add_lock_timeout


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("build", help="build a store's modules into native plugins with Ninja",
                       description="Generate C for every module of a store, build the plugins "
                                   "(DIR/plugins/rps<oid>-mod.so) with Ninja, and record them in the store. "
                                   "CC, CFLAGS and LDFLAGS come from the environment. Exit status 0 on "
                                   "success, 1 on an error.",
                       epilog="examples:\n  rpsc build --store st -j 4\n"
                              "  rpsc build --store st --build-dir /tmp/obj --json   (summary on stdout, "
                              "progress on stderr)\n"
                              "  CC=clang CFLAGS=-g rpsc build --store st -O 0",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--store", required=True, metavar="DIR", help="the store directory")
    p.add_argument("-j", "--jobs", type=int, metavar="N", help="parallel compile jobs (ninja -j)")
    p.add_argument("--launcher", metavar="CMD",
                   help="compiler launcher (ccache, distcc, sccache); default $RPSC_CC_LAUNCHER")
    p.add_argument("-O", dest="opt", default="2", metavar="LEVEL", choices=["0", "1", "2", "3", "s", "g"],
                   help="optimisation level (default 2)")
    p.add_argument("--build-dir", metavar="D", help="folder for build.ninja and objects (default DIR/build)")
    p.add_argument("--json", action="store_true", help="print a machine-readable summary on stdout")
    p.add_argument("-v", "--verbose", action="store_true", help="show the full compiler commands")
    p.add_argument("--stamp", metavar="FILE",
                   help="touch FILE after a successful build and write FILE.d, a depfile of everything the "
                        "build read or produced (for a build system driving rpsc)")
    p.add_argument("--compdb", action="store_true",
                   help="write compile_commands.json (the C compiles) in the build folder")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="print no progress (phases, ninja's lines); errors and --json still print")
    p.add_argument("--trace", metavar="FILE",
                   help="write a Chrome trace (chrome://tracing, Perfetto) of the build's phases and ninja's "
                        "steps to FILE; FILE.png/.svg/.pdf: a timeline picture of them (Graphviz `dot`)")
    p.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    add_lock_timeout(p)
    p.set_defaults(handler=cmd_build)

    p = sub.add_parser("init", help="create a plugin project (a .rps module, a test, a build.ninja)",
                       description="Scaffold a plugin project NAME in ./NAME (or --path), like `cargo new`.")
    p.add_argument("name", help="the module name (an identifier)")
    p.add_argument("--path", metavar="DIR", help="where to create the project (default ./NAME)")
    p.set_defaults(handler=cmd_init)

    p = sub.add_parser("demo", help="run the whole pipeline on the example plugins, under every backend",
                       description="Compile the example modules into a store, build their plugins, load them "
                                   "and run a few functions under the interpreter, the JIT and the C plugins.")
    p.add_argument("--workdir", metavar="DIR", help="where to put the demo store (default: a temporary folder)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(handler=cmd_demo)


def _build_error(exc: Exception | str, as_json: bool = False) -> int:
    print(f"rpsc build: error: {exc}", file=sys.stderr)
    if as_json:
        import json

        print(json.dumps({"ok": False, "error": str(exc)}, indent=2))
    return 1


def cmd_build(args: argparse.Namespace) -> int:
    """`rpsc build`; with --json, stdout always carries one JSON object: the summary, or `ok: false`."""
    from rpsc import CompileError
    from rpsrt.errors import Error

    try:
        return _cmd_build(args)
    except Error as exc:
        if not args.json:
            raise
        text = str(exc) if isinstance(exc, Error) else exc.message
        return _build_error(text.removeprefix("error: "), as_json=True)
    except OSError as exc:
        if not args.json:
            raise
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        return _build_error(f"{where}{exc.strerror or exc}", as_json=True)


def _cmd_build(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    if args.jobs is not None and args.jobs < 0:
        return _build_error(f"-j {args.jobs}: give a number of jobs, at least 1 (0: no limit)", args.json)
    if args.build_dir and Path(args.build_dir).exists() and not Path(args.build_dir).is_dir():
        return _build_error(f"--build-dir {args.build_dir}: it is a file, not a folder", args.json)
    if args.stamp and Path(args.stamp).is_dir():
        return _build_error(f"--stamp {args.stamp}: it is a folder; give the path of the stamp file to touch", args.json)
    trace_file = getattr(args, "trace", None)
    if trace_file and Path(trace_file).is_dir():
        return _build_error(f"--trace {trace_file}: it is a folder; give the path of the trace file", args.json)
    echo = None if args.quiet else sys.stderr if args.json else sys.stdout
    checked = False
    if not args.generate_only and not trace_file:
        done = _no_op(args, echo)
        if done is not None:
            return done
        checked = True

    from rpsc.driver.build import BuildError, BuildOptions, build_store

    options = BuildOptions(store=Path(args.store), build_dir=Path(args.build_dir) if args.build_dir else None,
                           jobs=args.jobs, launcher=args.launcher, opt=args.opt,
                           generate_only=args.generate_only, verbose=args.verbose, compdb=args.compdb,
                           lock_timeout=args.lock_timeout, quick=not checked)
    from rpsc.driver.progress import Progress

    progress = Progress(None if args.generate_only else echo, "rpsc build")
    from rpsc.driver.trace import phase, tracing

    with tracing() as trace:
        try:
            with phase("rpsc build", store=str(options.store_dir)):
                result = build_store(options, echo=echo, progress=progress)
        except BuildError as exc:
            if trace_file:
                trace.write(trace_file)
            return _build_error(exc, args.json)
    if trace_file:
        trace.write(trace_file)
    if args.stamp:
        from rpsc.driver.build import write_stamp

        write_stamp(Path(args.stamp), options.store_dir, result)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    elif not args.generate_only and not args.quiet:
        built = sum(1 for m in result.modules if m.status == "built")
        if result.no_op:
            print(f"rpsc build: {len(result.modules)} plugin(s) up to date")
        else:
            print(f"rpsc build: {built} plugin(s) built, {len(result.modules) - built} up to date"
                  + (" (store updated)" if result.store_updated else ""))
    return 0


def _no_op(args: argparse.Namespace, echo: Any) -> int | None:
    """The no-op path, with the lean `rpsc.driver.quick` only: the exit status when the store and the
    configuration are those of the last build and ninja found nothing to do; None (after a ninja run that
    did something, or without running it) when the full build must run."""
    import os
    from pathlib import Path

    from rpsc.driver import quick

    store = Path(args.store).absolute()
    if not os.path.isfile(store / quick.MANIFEST):
        return None
    bdir = (Path(args.build_dir) if args.build_dir else Path(args.store) / "build").absolute()
    state = quick.quick_state(store, bdir, quick.toolchain(store, bdir, args.launcher, args.opt, os.environ))
    if state is None:
        return None
    run = quick.quick_run(state, bdir, jobs=args.jobs, verbose=args.verbose, echo=echo)
    if run is None:
        return None
    modules = state["modules"]
    if run.returncode != 0:
        from rpsc.driver.build import BuildError, explain_failure

        return _build_error(BuildError(explain_failure(run, {Path(m["c_path"]).name: (m["name"], m["oid"])
                                                             for m in modules}, bdir), run.output), args.json)
    if args.compdb and not quick.compdb_fresh(state, bdir):
        try:
            quick.write_compdb(state["ninja"], bdir)
        except RuntimeError as exc:
            return _build_error(exc, args.json)
    if args.stamp:
        quick.write_depfile(Path(args.stamp), quick.stamp_deps(store, [(m["c_path"], m["plugin"]) for m in modules]))
    if args.json:
        import json

        entries = [{"oid": m["oid"], "name": m["name"], "status": "up-to-date", "c_file": m["c_path"],
                    "plugin": m["plugin"], "sha256": m.get("sha256"), "symbols": m.get("symbols", [])}
                   for m in modules]
        print(json.dumps(quick.summary(str(store), str(bdir), entries, run.commands, not run.commands, True, [],
                                       False), indent=2))
    elif not args.quiet:
        if not run.commands:
            print(f"rpsc build: {len(modules)} plugin(s) up to date")
        else:
            print(f"rpsc build: 0 plugin(s) built, {len(modules)} up to date")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rpsc.driver.scaffold import scaffold

    path = scaffold(args.name, Path(args.path) if args.path else Path(args.name))
    print(f"created plugin project {args.name} in {path}")
    print(f"  cd {path} && ninja && python test_{args.name}.py")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rpsc.driver.demo import run_demo

    if args.workdir and Path(args.workdir).exists() and not Path(args.workdir).is_dir():
        print(f"{args.workdir}: error: --workdir names a file; give a folder (created when missing)",
              file=sys.stderr)
        return 1
    return run_demo(Path(args.workdir) if args.workdir else None, as_json=args.json)
