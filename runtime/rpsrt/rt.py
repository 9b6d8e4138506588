"""The host's shared run-time state (`struct rps_rt` of rps/runtime.h) and traps read from it.

Defined once in `rpsrt.abi` (with the rest of the native ABI); re-exported here for the hosts that import
it from this module: the JIT engine and the plugin manager.
"""

from __future__ import annotations

from rpsrt.abi import RpsRt, new_rt, take_trap

__all__ = ["RpsRt", "new_rt", "take_trap"]
