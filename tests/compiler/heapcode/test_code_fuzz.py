"""Damaged stored code is bad input like any other: mutated closures of a compiled store give `rpsc show`,
`rpsc run` and `rpsc compile` a located error (exit 1) or a result, never a traceback or a Python exception
name."""

from __future__ import annotations

import contextlib
import io
import os
import random
import re
import signal
from pathlib import Path

import pytest
import rpsrt
from rpsc.driver.cli import main
from rpsrt.model.values import VClosure
from rpsrt.store.writer import dump_store

from .conftest import EXAMPLES

CASES = int(os.environ.get("RPSC_CODE_FUZZ_CASES", "120"))
#: What a user must never read: the name of a Python exception class.
PY_EXCEPTION = re.compile(r"\b(IndexError|KeyError|TypeError|AttributeError|ValueError|Traceback)\b")


def _closures(v: object, out: list[VClosure]) -> None:
    if isinstance(v, VClosure):
        out.append(v)
        for x in v.env:
            _closures(x, out)


def _replace(v: object, old: VClosure, new: VClosure) -> object:
    if v is old:
        return new
    if isinstance(v, VClosure):
        return VClosure(v.fn, tuple(_replace(x, old, new) for x in v.env), v.metaobj, v.metarank)
    return v


def _mutate(heap: rpsrt.Heap, rng: random.Random) -> None:
    """Change one closure somewhere in the stored code: a part replaced, dropped or added."""
    sites = []
    for o in heap.objects.values():
        for a, v in o.attrs.items():
            found: list[VClosure] = []
            _closures(v, found)
            sites += [(o, a, c) for c in found]
    obj, attr, old = rng.choice(sites)
    env = list(old.env)
    roll = rng.random()
    if env and roll < 0.45:
        env[rng.randrange(len(env))] = rng.choice(["x", "", 5, -1, 10**12, None, rng.choice(sites)[2]])
    elif env and roll < 0.8:
        env.pop(rng.randrange(len(env)))
    else:
        env.append(rng.choice([1, "q", None]))
    obj.attrs[attr] = _replace(obj.attrs[attr], old, VClosure(old.fn, tuple(env), old.metaobj, old.metarank))


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # what Ctrl-C does: the CLI stops the running call (a trap, exit 3)


def _run(argv: list[str]) -> tuple[int, str]:
    """main(argv) with its stderr; a mutant may loop forever (a changed constant), so after 2 s the call is
    interrupted as by Ctrl-C."""
    err = io.StringIO()
    old = signal.signal(signal.SIGALRM, _interrupt)
    signal.setitimer(signal.ITIMER_REAL, 2.0)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                code = main(argv)
            except SystemExit as exc:  # argparse
                code = int(exc.code or 0)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    return code, err.getvalue()


@pytest.mark.slow
def test_mutated_stored_code_never_gives_a_traceback(tmp_path: Path) -> None:
    """Over many single mutations of the examples' stored code, show, run (interpreter, and JIT on a quarter)
    and compile exit 0, 1, 3 (a trap, or a run stopped after 2 s: a mutant may loop forever) or 130 with a plain
    message (and at least some mutants are refused, so the harness really reaches the decoder)."""
    base = tmp_path / "base"
    assert main(["compile", *map(str, sorted(EXAMPLES.glob("*.rps"))), "--store", str(base)]) == 0
    extra = tmp_path / "extra.rps"
    extra.write_text("module extra;\nrequires numeric;\nfn g(a: int) -> int { return gcd(a, 18); }\n")
    rng = random.Random(int(os.environ.get("RPSC_FUZZ_SEED", "20261201")))
    refused = 0
    for n in range(CASES):
        heap = rpsrt.load_store(str(base))
        _mutate(heap, rng)
        store = tmp_path / f"m{n}"
        dump_store(heap, store)
        commands = [["show", "--store", str(store)],
                    ["run", "--store", str(store), "--backend", "interp", "gcd", "12", "18"],
                    ["compile", str(extra), "--store", str(store)]]
        if n % 4 == 0:  # the JIT too, on a quarter of the mutants (it costs a compile each)
            commands.insert(2, ["run", "--store", str(store), "--backend", "jit", "--no-cache", "gcd", "12", "18"])
        for argv in commands:
            code, err = _run(argv)  # an exception other than SystemExit fails the test here, with its traceback
            assert code in (0, 1, 3, 130), (n, argv, code, err)
            assert not PY_EXCEPTION.search(err), (n, argv, err)
            refused += code == 1
    assert refused >= CASES // 10, refused
