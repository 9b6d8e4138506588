"""Hand-written C test plugins, built once per session with the system `cc` into private tmp folders."""

from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from rpsrt.plugins import compile_c_plugin

REPO = Path(__file__).resolve().parents[3]
HELLO_SRC = REPO / "plugins_src" / "hello_c" / "hello.c"


def manifest(name: str, version: str = "1.0.0", abi: int = 1, requires: list | None = None,
             exports: list | None = None) -> str:
    return json.dumps({"name": name, "version": version, "abi": abi, "requires": requires or [],
                       "exports": exports or []})


def c_source(manifest_text: str | None, body: str = "", init: str | None = "return 0;") -> str:
    """A plugin's C source: the manifest (a raw JSON text, or None for none), extra code, an init body."""
    parts = ['#include <stdbool.h>', '#include <stdint.h>', '#include <stdlib.h>', '#include "rps/plugin.h"']
    if manifest_text is not None:
        parts.append(f"const char rps_plugin_manifest[] = {json.dumps(manifest_text)};")
    parts.append(body)
    if init is not None:
        parts.append("int32_t rps_plugin_init(const rps_plugin_api *api) {\n  (void)api;\n  " + init + "\n}")
    return "\n".join(parts) + "\n"


REG = 'api->register_extension(api->host, {point}, {impl}, (void *){fn}, {prio}, {sig})'


def reg(point: str, impl: str, fn: str, prio: int = 0, sig: str = "i64(i64,i64)") -> str:
    q = json.dumps
    return REG.format(point=q(point), impl=q(impl), fn=fn, prio=prio, sig=q(sig))


SUB = "static int32_t impl_sub(int64_t *r, int64_t a, int64_t b) { *r = a - b; return 0; }\n"

CORE = c_source(
    manifest("core", "1.0.0", exports=[{"symbol": "core_twice", "name": "twice", "signature": "i64(i64)"}]),
    SUB + "RPS_EXPORT int64_t core_twice_raw(int64_t x) { return 2 * x; }\n"
    "RPS_EXPORT int32_t core_twice(int64_t *r, int64_t x) { *r = 2 * x; return 0; }\n",
    f"return {reg('combine', 'sub', 'impl_sub', 1)};")

GEOMETRY = c_source(
    manifest("geometry", "1.2.0", requires=[{"name": "core", "version": ">=1.0, <2"}],
             exports=[{"symbol": "geometry_quad", "name": "quad", "signature": "i64(i64)"}]),
    "extern int64_t core_twice_raw(int64_t);\n"
    "RPS_EXPORT int32_t geometry_quad(int64_t *r, int64_t x) { *r = core_twice_raw(core_twice_raw(x)); return 0; }\n"
    "static int32_t impl_max(int64_t *r, int64_t a, int64_t b) { *r = a > b ? a : b; return 0; }\n",
    f"return {reg('combine', 'max', 'impl_max', 1)};")

TYPES = c_source(
    manifest("types_c", "0.3.0", exports=[{"symbol": sym, "name": sym, "signature": sig} for sym, sig in (
        ("t_halve", "f64(f64)"), ("t_is_even", "bool(i64)"), ("t_touch", "void(i64)"), ("t_touched", "i64()"),
        ("t_div", "i64(i64,i64)"), ("t_conv", "i64(f64)"), ("t_spin", "i64()"), ("t_limit", "i64()"))]),
    """
static rps_rt *rt;
static int64_t touched;
RPS_EXPORT int32_t t_halve(double *r, double x) { *r = x / 2.0; return 0; }
RPS_EXPORT int32_t t_is_even(bool *r, int64_t x) { *r = (x % 2) == 0; return 0; }
RPS_EXPORT int32_t t_touch(void *r, int64_t x) { (void)r; touched = x; return 0; }
RPS_EXPORT int32_t t_touched(int64_t *r) { *r = touched; return 0; }
RPS_EXPORT int32_t t_div(int64_t *r, int64_t a, int64_t b) {
    if (b == 0) { rt->trap_function = "t_div"; rt->trap_location = "types.rps:3:9"; return RPS_TRAP_DIVZERO; }
    *r = a / b; return 0;
}
RPS_EXPORT int32_t t_conv(int64_t *r, double x) { (void)r; (void)x; return RPS_TRAP_CONVERSION; }
RPS_EXPORT int32_t t_spin(int64_t *r) {
    for (int64_t i = 0;; ++i) { if (rt->interrupt) { rt->trap_function = "spin"; return RPS_TRAP_INTERRUPT; } *r = i; }
}
RPS_EXPORT int32_t t_limit(int64_t *r) { *r = rt->depth_limit; return 0; }
static int32_t f_add(double *r, double a, double b) { *r = a + b; return 0; }
""",
    "rt = api->rt;\n  return " + reg("fcombine", "fadd", "f_add", 0, "f64(f64,f64)") + ";")

# A plugin whose constructor would abort the process: inspecting it must not run it.
CTOR_ABORT = c_source(manifest("ctor_abort"), "__attribute__((constructor)) static void boom(void) { abort(); }\n")

FAILING = {
    # folder/file: (source, write a sidecar)
    "nomanifest": (c_source(None), False),
    "malformed": (c_source('{"name": "malformed", "version": "1.0.0", "abi": 1,'), False),
    "wrongabi": (c_source(manifest("wrongabi", abi=2)), False),
    "noinit": (c_source(manifest("noinit"), init=None), False),
    "initfail": (c_source(manifest("initfail"), SUB, reg("combine", "sub", "impl_sub", 3) + ";\n  return 7;"), True),
    "unknownpoint": (c_source(manifest("unknownpoint"), SUB,
                              reg("combine", "sub", "impl_sub") + ";\n  return " + reg("nosuchpoint", "s", "impl_sub") + ";"),
                     True),
    "badsig": (c_source(manifest("badsig"), SUB, "return " + reg("combine", "sub", "impl_sub", 0, "f64(f64,f64)") + ";"),
               True),
    "ignorefail": (c_source(manifest("ignorefail"), SUB,
                            reg("combine", "sub", "impl_sub") + ";\n  " + reg("nosuchpoint", "s", "impl_sub") +
                            ";\n  return 0;"), True),
    "pathname": (c_source(manifest("../x")), False),
    "crash": (c_source(manifest("crash"), "", "*(volatile int *)0 = 42;\n  return 0;"), True),
    "ctor_abort": (CTOR_ABORT, True),
}

DEPS = {
    "core": CORE,
    "geometry": GEOMETRY,
    "conflict": c_source(manifest("conflict", requires=[{"name": "core", "version": ">=2.0"}])),
    "missingdep": c_source(manifest("missingdep", requires=[{"name": "geometry", "version": "^1.2"},
                                                              {"name": "nowhere", "version": ">=1.0"}])),
    "needs_failing": c_source(manifest("needs_failing", requires=[{"name": "core", "version": "~1.0.0"}]),
                              "", "return 1;"),
    "types_c": TYPES,
}

CYCLE = {
    "cyc_a": c_source(manifest("cyc_a", requires=[{"name": "cyc_b", "version": "*"}])),
    "cyc_b": c_source(manifest("cyc_b", requires=[{"name": "cyc_c", "version": ">=0.1"}])),
    "cyc_c": c_source(manifest("cyc_c", requires=[{"name": "cyc_a", "version": ">=1.0.0"}])),
}


@dataclass(frozen=True)
class Built:
    """Where the session's test plugins are: one folder per failure case, plus `deps`, `cycle`, `hello`."""

    root: Path
    hello: Path          # the folder holding hello_c.so (plugins_src/hello_c/hello.c)
    deps: Path           # core, geometry, conflict, missingdep, needs_failing, types_c
    cycle: Path          # cyc_a -> cyc_b -> cyc_c -> cyc_a

    def failing(self, name: str) -> Path:
        """The .so of a FAILING case (alone in its folder)."""
        return self.root / name / f"{name}.so"

    def copy_of(self, so: Path, dest: Path) -> Path:
        """Copy a plugin and its sidecar into `dest` (created private)."""
        dest.mkdir(mode=0o755, parents=True, exist_ok=True)
        out = dest / so.name
        shutil.copy2(so, out)
        side = so.with_suffix(".json")
        if side.exists():
            shutil.copy2(side, dest / side.name)
        return out


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """Compile every test plugin once per session (real `cc`, two at a time)."""
    root = tmp_path_factory.mktemp("plugins")
    jobs: list[tuple[Path, Path, bool]] = []

    def add(folder: str, name: str, source: str, sidecar: bool = True) -> None:
        d = root / folder
        d.mkdir(mode=0o755, exist_ok=True)
        os.chmod(d, 0o755)
        src = d / f"{name}.c"
        src.write_text(source)
        jobs.append((src, d / f"{name}.so", sidecar))

    for name, (src, sidecar) in FAILING.items():
        add(name, name, src, sidecar)
    for name, src in DEPS.items():
        add("deps", name, src)
    for name, src in CYCLE.items():
        add("cycle", name, src)
    add("hello", "hello_c", HELLO_SRC.read_text())

    def build(job: tuple[Path, Path, bool]) -> Path:
        src, out, sidecar = job
        return compile_c_plugin([src], out, manifest=sidecar, extra_cflags=("-O1", "-Wall", "-Werror"))

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(build, jobs))
    for job in jobs:  # sources out of the plugin folders' way
        job[0].unlink()
    return Built(root, root / "hello", root / "deps", root / "cycle")
