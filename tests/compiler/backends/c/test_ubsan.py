"""The generated C runs the semantics' edge cases under UBSan (recoverable mode) with no report at all."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

from rpsc.backends.c.emit import emit_c
from rpsrt.plugins import include_dir

from . import handir

FLAGS = ["-std=c11", "-O0", "-g", "-Wall", "-Wextra", "-Werror", "-fsanitize=undefined"]


def _run(tmp: Path, module_c: str, main_c: str) -> subprocess.CompletedProcess[str]:
    (tmp / "mod.c").write_text(module_c)
    (tmp / "main.c").write_text(main_c)
    subprocess.run(["cc", *FLAGS, f"-I{include_dir()}", "-o", str(tmp / "prog"), str(tmp / "mod.c"),
                    str(tmp / "main.c"), "-lm"], check=True, capture_output=True, text=True)
    return subprocess.run([str(tmp / "prog")], capture_output=True, text=True, timeout=60)


def test_edge_cases_have_no_ubsan_report(tmp_path):
    """INT_MIN/-1, INT_MIN%-1, shifts by 64 and more, int(1e19), int(NaN), abs(INT_MIN) and wrapping
    overflow run with -fsanitize=undefined and produce the specified values with no runtime error."""
    mod = handir.sample_module()
    src = emit_c(mod)
    sym = {f.name: f.symbol for f in mod.functions}
    calls = [
        ("i_sdiv", "INT64_MIN, -1"), ("i_srem", "INT64_MIN, -1"), ("i_sdiv", "5, 0"),
        ("i_shl", "1, 64"), ("i_shl", "-1, 1000"), ("i_shl", "1, INT64_MIN"), ("i_ashr", "-8, 65"),
        ("i_ashr", "INT64_MIN, -1"), ("i_add", "INT64_MAX, 1"), ("i_sub", "INT64_MIN, 1"),
        ("i_mul", "INT64_MIN, -1"), ("i_mul", "INT64_MAX, INT64_MAX"),
    ]
    ucalls = [("u_neg", "INT64_MIN"), ("u_abs", "INT64_MIN"), ("u_bnot", "INT64_MIN")]
    fcalls = [("u_fptosi", "1e19"), ("u_fptosi", "-1e19"), ("u_fptosi", "__builtin_nan(\"\")"),
              ("u_fptosi", "__builtin_inf()"), ("u_fptosi", "-9223372036854775808.0"),
              ("u_fptosi", "9223372036854775807.0")]
    lines = []
    for name, args in calls + ucalls + fcalls:
        lines.append(f'{{ int64_t r = 0; int st = {sym[name]}(&r, {args}); '
                     f'printf("%s %d %lld\\n", "{name}", st, (long long)r); }}')
    protos = "".join(f"int32_t {sym[n]}(int64_t *, int64_t, int64_t);\n" for n, _ in calls)
    protos += "".join(f"int32_t {sym[n]}(int64_t *, int64_t);\n" for n, _ in ucalls)
    protos += f"int32_t {sym['u_fptosi']}(int64_t *, double);\n"
    main = ("#include <stdint.h>\n#include <stdio.h>\n" + protos + "int main(void) {\n" + "\n".join(lines)
            + "\nreturn 0; }\n")
    proc = _run(tmp_path, src.text, main)
    assert "runtime error" not in proc.stderr, proc.stderr
    assert proc.returncode == 0
    got = [line.split() for line in proc.stdout.splitlines()]
    m = -2**63
    want = [[0, m], [0, 0], [1, 0], [0, 1], [0, -2**40], [0, 1], [0, -4], [0, -1], [0, m], [0, 2**63 - 1], [0, m],
            [0, 1], [0, m], [0, m], [0, 2**63 - 1], [2, 0], [2, 0], [2, 0], [2, 0], [0, m], [2, 0]]
    assert [[int(a), int(b)] for _n, a, b in got] == want


def test_ubsan_detector_reports_undefined_behaviour(tmp_path):
    """Control: the same harness does report signed overflow in plain C (the check above can fail)."""
    main = textwrap.dedent("""
        #include <stdint.h>
        #include <stdio.h>
        int main(int argc, char **argv) { (void)argv; int64_t x = INT64_MAX - 1 + argc; x = x + argc;
          printf("%lld\\n", (long long)x); return 0; }
    """)
    proc = _run(tmp_path, "int rps_unused_symbol;\n", main)
    assert "runtime error" in proc.stderr
