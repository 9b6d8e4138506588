"""`rpsc run`'s warm start: a stored function called from its native code, without the store or the IR.

`rpsc.driver.cli.main` tries `run(argv)` first for `rpsc run ...`: when the command line holds only what
this path handles (`--store`, `--json`, `--backend jit`, `--recursion-limit`, `--cache-dir`, the function
and its arguments, in argparse's order) and the store's warm-start index (`rpsc.backends.llvm.runindex`)
says that the store has not changed since a JIT run compiled the function, it loads the function's shared
library with ctypes, calls it through `rpsrt.abi` (the helpers of the C plugins: a `ThreadStates` over
the library's `rps_rt`, `native_caller`, `call_interruptibly`) and prints what the slow path prints:
the same result text, the same `--json` document, the same trap line and exit status 3, Ctrl-C trapping
`interrupted` the same way. Anything else returns None before anything is printed, and the command runs
its slow path (`rpsc.driver.commands.run`), which also writes the index for the next time.
`RPSC_WARM_RUN=0` turns the warm path (and the index's writing) off.

Imports: `os`, `sys`, `re` and `json` (already loaded by every Python start), the index reader, and for
the call `ctypes` and `rpsrt.abi`; never the store, the frontend, the IR, llvmlite, Lark or Jinja2.
"""

from __future__ import annotations

import os
import re
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from typing import Any

#: `rpsc.driver.commands.NEGATIVE_NUMBER`, which argparse is given for `rpsc run`'s positionals (a copy:
#: that module imports argparse; a test checks the two agree).
NEGATIVE_NUMBER = re.compile(r"^-(\d[\d_]*(\.\d*)?(e[+-]?\d+)?|\.\d+(e[+-]?\d+)?|0[xob][\da-f_]+|inf(inity)?|nan)$",
                             re.IGNORECASE)
_VALUED = {"--store": "store", "--backend": "backend", "--recursion-limit": "recursion_limit",
           "--cache-dir": "cache_dir"}
#: The environment variable that turns the warm path off (`0`).
ENV = "RPSC_WARM_RUN"


def parse(argv: list[str]) -> dict[str, Any] | None:
    """The options of `rpsc run ARGV` as argparse would read them, or None when ARGV holds anything else
    (another option, an abbreviation, `--`, `-h`, positionals split by an option, a missing value...)."""
    opts: dict[str, Any] = {"store": None, "backend": None, "recursion_limit": None, "cache_dir": None,
                            "json": False}
    positionals: list[str] = []
    block_ended = False   # argparse takes FUNC ARG... as one run of positionals
    i = 0
    while i < len(argv):
        word = argv[i]
        if word.startswith("-") and not NEGATIVE_NUMBER.match(word):
            if positionals:
                block_ended = True
            name, eq, value = word.partition("=")
            if name in _VALUED:
                if not eq:
                    i += 1
                    if i >= len(argv):
                        return None
                    value = argv[i]
                if value.startswith("-") and not NEGATIVE_NUMBER.match(value) or not value:
                    return None
                opts[_VALUED[name]] = value
            elif word == "--json":
                opts["json"] = True
            else:
                return None
        else:
            if block_ended:
                return None
            positionals.append(word)
        i += 1
    if opts["store"] is None or not positionals or opts["backend"] not in (None, "jit"):
        return None
    if opts["recursion_limit"] is not None:
        try:
            limit = int(opts["recursion_limit"])
        except ValueError:
            return None
        if not 1 <= limit < 2**31:
            return None
        opts["recursion_limit"] = limit
    opts["function"], opts["args"] = positionals[0], positionals[1:]
    return opts


def parse_value(text: str, code: str) -> Any:
    """One argument as `rpsc.backends.engine.parse_arg` reads it for a scalar type (ABI code); ValueError
    when it does not (the slow path then says why)."""
    if code == "i64":
        v = int(text, 0)
        if not -2**63 <= v < 2**63:
            raise ValueError(text)
        return v
    if code == "f64":
        return float(text)
    if text in ("true", "false"):
        return text == "true"
    raise ValueError(text)


def result_text(value: Any) -> str:
    """A scalar result as `rpsc.backends.engine.format_result` prints it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value != value:
        return "nan"
    return repr(value)


def run(argv: list[str]) -> int | None:
    """Run `rpsc run ARGV` from the warm-start index: the exit status, or None (nothing printed) when the
    slow path must run it."""
    if os.environ.get(ENV) == "0":
        return None
    try:
        call = _prepare(argv)
    except Exception:  # noqa: BLE001 - any doubt: the slow path, which reports real errors
        return None
    if call is None:
        return None
    return _call(*call)


def _prepare(argv: list[str]) -> tuple[dict[str, Any], dict[str, Any], list[Any], Any, Any] | None:
    opts = parse(argv)
    if opts is None:
        return None
    from rpsc.backends.llvm.runindex import lookup
    from rpsc.cachedir import cache_root_text

    row = lookup(opts["cache_dir"] or cache_root_text(), opts["store"], opts["function"])
    if row is None or len(opts["args"]) != len(row["params"]):
        return None
    try:
        values = [parse_value(a, t) for a, t in zip(opts["args"], row["params"], strict=True)]
    except (ValueError, OverflowError):
        return None
    import ctypes

    from rpsrt import abi
    from rpsrt.errors import DEFAULT_RECURSION_LIMIT

    try:
        lib = ctypes.CDLL(row["library"])
        shared = abi.RpsRt.in_dll(lib, abi.RT_SYMBOL)
        key = ctypes.c_uint.in_dll(lib, abi.RT_KEY_SYMBOL)
        address = ctypes.cast(getattr(lib, row["symbol"]), ctypes.c_void_p).value
    except (OSError, AttributeError, ValueError):
        return None
    if not address:
        return None
    # The library's state as a JitEngine's: the shared `rps_rt` with the recursion limit, each calling
    # thread's own state bound to the process-wide pthread key, whose number the library's code reads.
    key.value = abi.rt_key_cell().value
    shared.depth_limit = DEFAULT_RECURSION_LIMIT if opts["recursion_limit"] is None else opts["recursion_limit"]
    states = abi.ThreadStates(shared)
    caller = abi.native_caller(address, abi.Signature(row["ret"], tuple(row["params"])), states, row["ref_name"])
    return opts, row, values, caller, (lib, states)


def _call(opts: dict[str, Any], row: dict[str, Any], values: list[Any], caller: Any, keep: Any) -> int:
    from rpsrt import abi
    from rpsrt.errors import Trap

    states = keep[1]
    # The call runs in a worker thread; Ctrl-C in the main thread sets the interrupt flags, and the next
    # loop back-edge or function entry of the running code traps INTERRUPT, reported like any other trap.
    ok, value, _interrupted = abi.call_interruptibly(caller, values, states.interrupt, thread_name="rpsc-call")
    doc = {"function": row["ref_name"], "module_oid": row["module_oid"], "symbol": row["symbol"],
           "backend": "jit", "args": values}
    if not ok:
        if isinstance(value, Trap):
            print(f"{value.location}: trap: {value.kind} in {value.function}", file=sys.stderr)
            if opts["json"]:
                from rpsc.driver.commands.jsonout import emit

                emit({**doc, "ok": False, "trap": {"kind": value.kind, "code": value.code,
                                                   "function": value.function, "location": value.location}})
            return 3
        raise value  # type: ignore[misc]
    text = result_text(value)
    if opts["json"]:
        from rpsc.driver.commands.jsonout import emit

        emit({**doc, "ok": True, "result": value, "text": text})
        return 0
    if text:
        print(text)
    return 0
