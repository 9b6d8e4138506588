"""Byte-flip fuzz of a real plugin: no mutant makes inspect, list or loading end in a Python traceback."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

from rpsc.driver.cli import main
from rpsrt import PluginError
from rpsrt.plugins import PluginManager, inspect_native, read_elf

from .conftest import Built

MUTANTS = int(os.environ.get("RPSC_FUZZ_MUTANTS", "500"))
SEED = int(os.environ.get("RPSC_FUZZ_SEED", "16"))

# One child imports rpsrt once, then forks a grandchild per mutant: a mutant that crashes (or hangs) in
# its constructor or init kills only its grandchild. Exit 0 loaded, 10 refused (a PluginError), 20 a
# Python traceback (written to its .traceback file); a signal is a crash, SIGALRM a hang, another status an
# exit() by the mutated code.
CHILD = textwrap.dedent("""
    import os, signal, sys, traceback
    from rpsrt import PluginError
    from rpsrt.plugins import PluginManager

    def attempt(so):
        signal.alarm(5)
        try:
            mgr = PluginManager([os.path.dirname(so)], use_env=False)
            mgr.declare("combine", "i64(i64,i64)", "all")
            try:
                mgr.load_file(so)
            except PluginError as exc:
                with open(so + ".refused", "w") as f:
                    f.write(getattr(exc, "reason", None) or "load")
                return 10
            mgr.close()
            return 0
        except BaseException:
            with open(so + ".traceback", "w") as f:
                f.write(traceback.format_exc())
            return 20

    out = open(sys.argv[1], "w")
    for so in sys.argv[2:]:
        pid = os.fork()
        if pid == 0:
            code = 20
            try:
                code = attempt(so)
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            result = "hung" if sig == signal.SIGALRM else "crashed"
        else:
            # any other exit status: the mutated code ended the process itself
            result = {0: "loaded", 10: "refused", 20: "traceback"}.get(os.WEXITSTATUS(status), "exited")
        out.write(f"{so} {result}\\n")
        out.flush()
""")


def mutants(good: bytes, count: int, seed: int) -> list[bytes]:
    """`count` copies of `good` with 1-4 bytes changed, half of them in the parts the ELF reader reads."""
    rng = random.Random(seed)
    elf = read_elf_bytes(good)
    shoff, = int.from_bytes(good[0x28:0x30], "little"),
    shentsize, shnum = int.from_bytes(good[0x3A:0x3C], "little"), int.from_bytes(good[0x3C:0x3E], "little")
    regions = [(0, 64), (shoff, shoff + shentsize * shnum), (0, len(good))]
    for sec in elf.sections:
        if sec.type == 11:   # .dynsym and its strings
            regions += [(sec.offset, sec.offset + sec.size),
                        (elf.sections[sec.link].offset, elf.sections[sec.link].offset + elf.sections[sec.link].size)]
    out = []
    for _ in range(count):
        data = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            lo, hi = rng.choice(regions)
            at = rng.randrange(lo, hi)
            kind = rng.random()
            if kind < 0.5:
                data[at] ^= 1 << rng.randrange(8)
            elif kind < 0.85:
                data[at] = rng.randrange(256)
            else:
                data[at:at + 8] = b"\xff" * len(data[at:at + 8])
        out.append(bytes(data))
    return out


def read_elf_bytes(data: bytes):  # type: ignore[no-untyped-def]
    return read_elf("<good>", data)


def test_byte_flip_fuzz(built: Built, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """500 byte-flipped copies of hello_c.so (embedded manifest, no sidecar): inspect, list and loading
    each give a result or a PluginError, never another exception; the good plugin beside them still loads."""
    good = (built.hello / "hello_c.so").read_bytes()
    root = tmp_path / "fuzz"
    root.mkdir(mode=0o755)
    files = []
    for i, data in enumerate(mutants(good, MUTANTS, SEED)):
        d = root / f"m{i:04d}"
        d.mkdir(mode=0o755)
        (d / "hello_c.so").write_bytes(data)
        os.chmod(d / "hello_c.so", 0o755)
        files.append(d / "hello_c.so")
    good_dir = tmp_path / "good"
    built.copy_of(built.hello / "hello_c.so", good_dir)

    inspected: Counter[str] = Counter()
    for so in files:
        try:
            inspect_native(so)
            inspected["ok"] += 1
        except PluginError as exc:
            inspected[getattr(exc, "reason", None) or "manifest"] += 1
    assert inspected["elf"] > 0 and inspected["ok"] > 0, inspected

    mgr = PluginManager([*(f.parent for f in files), good_dir], use_env=False)
    entries = mgr.scan()
    assert len(entries) == MUTANTS + 1
    assert entries[-1].candidate is not None and entries[-1].candidate.name == "hello_c"
    argv = ["plugin", "list", "--no-python", "--json", "--plugin-path", str(good_dir)]
    for so in files:
        argv += ["--plugin-path", str(so.parent)]
    code, out, err = main(argv), *capsys.readouterr()
    assert code == 0 and "Traceback" not in err, err
    rows = json.loads(out)["plugins"]
    assert rows[0]["file"] == str(good_dir / "hello_c.so") and rows[0]["status"] == "ok"
    assert all(r["status"] in ("ok", "refused", "shadowed", "unloadable") for r in rows)
    assert sum(r["status"] == "refused" for r in rows) == sum(e.candidate is None for e in entries)

    results = root / "results.txt"
    proc = subprocess.run([sys.executable, "-c", CHILD, str(results), *map(str, files)], capture_output=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-2000:]
    outcome = dict(line.rsplit(" ", 1) for line in results.read_text().splitlines())
    assert len(outcome) == MUTANTS
    tracebacks = {so: Path(so + ".traceback").read_text() for so, r in outcome.items() if r == "traceback"}
    assert not tracebacks, "\n".join(f"{so}:\n{tb}" for so, tb in list(tracebacks.items())[:3])
    counts = Counter(outcome.values())
    reasons = Counter(Path(so + ".refused").read_text() for so, r in outcome.items() if r == "refused")
    print(f"fuzz seed {SEED}: {MUTANTS} mutants; inspect {dict(inspected)}; load {dict(counts)}; "
          f"refused for {dict(reasons)}")
    assert set(counts) <= {"loaded", "refused", "crashed", "hung", "exited"}, counts
    assert counts["refused"] > 0 and counts["loaded"] > 0, counts
    good_mgr = PluginManager([good_dir], use_env=False)
    good_mgr.declare("combine", "i64(i64,i64)", "all")
    assert good_mgr.load("hello_c").loaded and good_mgr.point("combine")(2, 2) == [4]
    good_mgr.close()
