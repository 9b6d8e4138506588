"""The host's shared run-time state: the ctypes mirror of `struct rps_rt` (rps/runtime.h), and traps read from it.

One definition serves every host of compiled code: the JIT engine and the plugin manager.
"""

from __future__ import annotations

import ctypes

from rpsrt.errors import DEFAULT_RECURSION_LIMIT, TRAP_INTERRUPT, Trap


class RpsRt(ctypes.Structure):
    """The host's shared run-time state; mirrors `rps_rt` in rps/runtime.h field for field."""

    _fields_ = [
        ("interrupt", ctypes.c_int32),
        ("depth", ctypes.c_int32),
        ("depth_limit", ctypes.c_int32),
        ("reserved", ctypes.c_int32),
        ("trap_function", ctypes.c_char_p),
        ("trap_location", ctypes.c_char_p),
    ]


def new_rt(depth_limit: int = DEFAULT_RECURSION_LIMIT) -> RpsRt:
    """A fresh run-time state: no interrupt, depth 0, the given recursion limit, no trap site."""
    rt = RpsRt()
    rt.depth_limit = depth_limit
    return rt


def take_trap(rt: RpsRt | None, code: int) -> Trap:
    """The Trap for status `code`, with the trap site read from `rt`; the site (and, for an interrupt, the
    interrupt flag) is then cleared so that the state is ready for the next call."""
    if rt is None:
        return Trap(code)
    fn, loc = rt.trap_function, rt.trap_location
    rt.trap_function = None
    rt.trap_location = None
    if code == TRAP_INTERRUPT:
        rt.interrupt = 0
    return Trap(code, fn.decode("utf-8", "replace") if fn else None,
                loc.decode("utf-8", "replace") if loc else None)
