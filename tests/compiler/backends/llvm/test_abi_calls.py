"""The JIT engine on the one ABI description: bool as C's _Bool, and the interruptible call of rpsrt.abi."""

from __future__ import annotations

import os
import signal
import threading

import pytest
from rpsc.backends.llvm.jit import JitEngine
from rpsc.ir.builder import FunctionBuilder
from rpsrt.errors import TRAP_INTERRUPT, Trap

from . import irfactory as f


def _bool_fns() -> list:  # type: ignore[type-arg]
    """less(a, b) = a < b and flip(x) = !x: a bool result and a bool parameter."""
    less = FunctionBuilder(f.ref("less", (f.I64, f.I64), f.BOOL), ["a", "b"], f.loc(30))
    less.position_at_end(less.append_block("entry"))
    less.ret(less.icmp("lt", less.load(less.params[0]), less.load(less.params[1])))
    flip = FunctionBuilder(f.ref("flip", (f.BOOL,), f.BOOL), ["x"], f.loc(31))
    flip.position_at_end(flip.append_block("entry"))
    flip.ret(flip.not_(flip.load(flip.params[0])))
    return [less.finish(), flip.finish()]


def test_bool_crosses_the_abi_as_c_bool() -> None:
    """Bool results come back as Python bools and bool arguments pass both ways, through c_bool."""
    eng = JitEngine([f.module(_bool_fns())])
    try:
        assert eng.call("less", [1, 2]) is True and eng.call("less", [2, 1]) is False
        assert eng.call("flip", [True]) is False and eng.call("flip", [False]) is True
    finally:
        eng.close()


@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_interruptible_jit_call_stops_on_ctrl_c() -> None:
    """With interruptible=True, SIGINT during a call from the main thread raises KeyboardInterrupt from the
    INTERRUPT trap (rpsrt.abi.call_with_rt), the flag and depth are clear, and the engine stays usable."""
    eng = JitEngine([f.module([f.spin(), f.fib()])], interruptible=True)
    try:
        assert threading.current_thread() is threading.main_thread()
        timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        with pytest.raises(KeyboardInterrupt) as info:
            eng.call("spin", [])
        timer.join()
        trap = info.value.__cause__
        assert isinstance(trap, Trap) and trap.code == TRAP_INTERRUPT and trap.function == "spin"
        assert eng.rt.interrupt == 0 and eng.rt.depth == 0
        assert eng.call("fib", [10]) == 55
    finally:
        eng.close()
