"""Ahead-of-time output: typed IR modules -> one linked, optimised LLVM module -> `.ll` text and a PIC `.o`.

Entry: `emit_object_and_ir(modules, llvm_ir=..., obj=..., opt_level=2, native=False)`. The object file is
compiled from exactly the module whose text goes to `.ll` (relocation model `pic`), so CI can inspect one
and link the other. `rps_rt` stays an undefined external symbol the host must define.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import llvmlite.binding as llvm
from rpsc.ir import ir

from rpsc.backends.llvm.cache import write_atomic
from rpsc.backends.llvm.codegen import emit_llvm
from rpsc.backends.llvm.jit import init_native, optimize, parse_ir, recursion_copies


def aot_target_machine(opt_level: int, native: bool) -> llvm.TargetMachine:
    """A PIC target machine for the host triple: the host CPU when `native`, else the generic one."""
    init_native()
    target = llvm.Target.from_default_triple()
    cpu = llvm.get_host_cpu_name() if native else ""
    features = llvm.get_host_cpu_features().flatten() if native else ""
    return target.create_target_machine(cpu=cpu, features=features, opt=opt_level, reloc="pic",
                                        codemodel="default")


def link_ir(modules: Sequence[ir.Module], tm: llvm.TargetMachine, opt_level: int = 2) -> llvm.ModuleRef:
    """One LLVM module holding every given module's functions (externs between them resolved)."""
    name = modules[0].name if len(modules) == 1 else "rpsc_modules"
    copies = recursion_copies(opt_level)
    linked = parse_ir(emit_llvm(modules[0], recursion_copies=copies), name, tm)
    for m in modules[1:]:
        linked.link_in(parse_ir(emit_llvm(m, recursion_copies=copies), m.name, tm))
    linked.verify()
    return linked


def emit_object_and_ir(modules: Sequence[ir.Module], *, llvm_ir: Path | None, obj: Path | None,
                       opt_level: int = 2, native: bool = False) -> llvm.ModuleRef:
    """Write the optimised IR text to `llvm_ir` and/or its PIC object code to `obj`; returns the module."""
    tm = aot_target_machine(opt_level, native)
    mod = link_ir(modules, tm, opt_level)
    optimize(mod, tm, opt_level)
    if llvm_ir is not None:
        write_atomic(llvm_ir, str(mod).encode())
    if obj is not None:
        write_atomic(obj, tm.emit_object(mod))
    return mod
