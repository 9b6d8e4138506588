"""Plugin loading a local attacker cannot subvert: links, folders, owners, sidecars, swaps, forged reports."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from rpsc.driver.cli import main
from rpsrt import PluginError
from rpsrt.plugins import PluginManager, PluginRefused, compile_c_plugin, write_sidecar

from .conftest import Built, c_source, manifest, reg

RPSC = [sys.executable, "-m", "rpsc"]
NOBODY = 65534


def rpsc(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def new_manager(*paths: Path) -> PluginManager:
    mgr = PluginManager(paths, use_env=False)
    mgr.declare("combine", "i64(i64,i64)", "all")
    return mgr


def private_dir(path: Path, mode: int = 0o755) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, mode)
    return path


def hello_in(built: Built, folder: Path) -> Path:
    return built.copy_of(built.hello / "hello_c.so", private_dir(folder))


def refused(mgr: PluginManager, so: Path, reason: str, *fragments: str) -> PluginRefused:
    """load_file(so) is refused for `reason`, the message holding `fragments`; nothing stays loaded."""
    with pytest.raises(PluginRefused) as info:
        mgr.load_file(so)
    assert info.value.reason == reason, str(info.value)
    for fragment in fragments:
        assert fragment in str(info.value), str(info.value)
    assert mgr.loaded == {}
    return info.value


def list_json(capsys: pytest.CaptureFixture[str], *paths: Path) -> list[dict]:
    argv = ["plugin", "list", "--no-python", "--json"]
    for p in paths:
        argv += ["--plugin-path", str(p)]
    code, out, _ = rpsc(capsys, *argv)
    assert code == 0
    return json.loads(out)["plugins"]


def test_symlink_out_of_search_path_refused(built: Built, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """P/linked.so -> W/real.so (W outside the search path) is refused as a link everywhere; a link that
    stays inside the search path still loads."""
    outside = private_dir(tmp_path / "W", 0o777)
    real = hello_in(built, outside)
    os.chmod(outside, 0o777)
    p = private_dir(tmp_path / "P")
    link = p / "linked.so"
    link.symlink_to(real)
    mgr = new_manager(p)
    refused(mgr, link, "link", "symbolic link", str(real), "outside the search path")
    with pytest.raises(PluginError, match=r"refused \(link\)"):
        mgr.load("hello_c")
    [row] = list_json(capsys, p)
    assert (row["status"], row["reason"], row["name"]) == ("refused", "link", "hello_c")
    proc = subprocess.run([*RPSC, "plugin", "check", str(link), "--point", "combine=i64(i64,i64):all"],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "refused: link" in proc.stderr and "outside the search path" in proc.stderr
    # A link to a file that is itself in a search path is fine (its own sidecar, beside the target).
    inside = private_dir(tmp_path / "Q")
    target = hello_in(built, inside)
    (p / "linked.so").unlink()
    (p / "alias.so").symlink_to(target)
    mgr = new_manager(p, inside)
    assert mgr.load_file(p / "alias.so").loaded
    assert mgr.point("combine")(2, 3) == [5]
    mgr.close()


def test_writable_ancestor_refused(built: Built, tmp_path: Path) -> None:
    """A 0755 plugins/ folder inside a 0777 folder is refused (naming that folder); a sticky 1777 one is not."""
    outer = private_dir(tmp_path / "open")
    so = hello_in(built, outer / "plugins")
    os.chmod(outer, 0o777)
    try:
        mgr = new_manager(so.parent)
        refused(mgr, so, "permission", f"{outer}: error: refusing ancestor folder writable by group or others "
                                       "(mode 0777)")
        with pytest.raises(PluginError, match=r"not found in the search path.*refused \(permission\)"):
            mgr.load("hello_c")
        os.chmod(outer, 0o1777)          # like /tmp: nobody can rename what they do not own
        mgr = new_manager(so.parent)
        assert mgr.load("hello_c").loaded
        mgr.close()
    finally:
        os.chmod(outer, 0o755)


EVIL = c_source(manifest("hello_c"), "static int32_t evil(int64_t *r, int64_t a, int64_t b) { (void)a; (void)b; "
                "*r = 666; return 0; }\n", f"return {reg('combine', 'evil', 'evil', 9)};")


def test_swap_between_verification_and_dlopen(built: Built, tmp_path: Path) -> None:
    """A file swapped (with a matching sidecar) after verification and before dlopen never runs: the
    verified descriptor is what gets loaded."""
    src = tmp_path / "evil.c"
    src.write_text(EVIL)
    evil = compile_c_plugin([src], private_dir(tmp_path / "evil") / "evil.so", manifest=False)
    so = hello_in(built, tmp_path / "p")
    mgr = new_manager(so.parent)
    swapped: list[Path] = []

    def swap(path: Path) -> None:
        staged = path.with_name(".swap.so")
        shutil.copy2(evil, staged)
        os.replace(staged, path)                               # the name now holds EVIL ...
        write_sidecar(path, {"name": "hello_c", "version": "1.0.0", "abi": 1})   # ... with a sidecar that fits
        swapped.append(path)

    mgr._after_verify = swap
    plugin = mgr.load_file(so)
    assert swapped == [so], "the hook between verification and dlopen did not run"
    assert [i.name for i in plugin.extensions] == ["add"]      # hello_c's own registration, not EVIL's
    assert mgr.point("combine")(2, 3) == [5]
    mgr.close()
    mgr = new_manager(so.parent)                               # the new file is judged on its own next time
    assert [i.name for i in mgr.load_file(so).extensions] == ["evil"]
    mgr.close()


FORGER = c_source(manifest("forger", "9.9.9"), r"""
#include <stdio.h>
#include <string.h>
#include <unistd.h>
__attribute__((constructor)) static void forge(void) {
    const char *fake = "{\"ok\": true, \"name\": \"forger\", \"version\": \"9.9.9\"}\n";
    for (int fd = 3; fd < 64; ++fd) { (void)!write(fd, fake, strlen(fake)); }
    puts("{\"ok\": true, \"name\": \"forger\", \"version\": \"9.9.9\"}");
    fflush(stdout);
    _exit(0);
}
""")

CHATTY = c_source(manifest("chatty"), "#include <stdio.h>\n",
                  'puts("{\\"ok\\": false, \\"error\\": \\"fake failure\\"}"); fflush(stdout); return 0;')


def test_forged_check_report(tmp_path: Path) -> None:
    """A plugin writing a fake report to stdout and every descriptor, then exiting 0, does not pass
    `plugin check`; a plugin printing a fake failure does not fail it. Either output is shown as output."""
    d = private_dir(tmp_path / "p")
    for name, text in (("forger", FORGER), ("chatty", CHATTY)):
        (tmp_path / f"{name}.c").write_text(text)
        compile_c_plugin([tmp_path / f"{name}.c"], d / f"{name}.so")
    proc = subprocess.run([*RPSC, "plugin", "check", str(d / "forger.so")], capture_output=True, text=True)
    assert proc.returncode == 1, proc.stdout
    assert "ok: forger" not in proc.stdout + proc.stderr
    assert "without a report" in proc.stderr
    assert 'plugin output: {"ok": true, "name": "forger", "version": "9.9.9"}' in proc.stderr
    proc = subprocess.run([*RPSC, "plugin", "check", str(d / "chatty.so")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "ok: chatty 1.0.0 loaded, initialised and unloaded" in proc.stdout
    assert 'plugin output: {"ok": false, "error": "fake failure"}' in proc.stdout


def _corrupt(src: Path, dest: Path, field: str) -> Path:
    data = bytearray(src.read_bytes())
    if field == "e_shoff":
        struct.pack_into("<Q", data, 0x28, 0xFFFFFFFFFFFFFF00)
    else:  # every section's offset far past the end of the file
        shoff, = struct.unpack_from("<Q", data, 0x28)
        shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
        for i in range(shnum):
            struct.pack_into("<Q", data, shoff + i * shentsize + 0x18, 0x7FFFFFFFFFFF0000)
    dest.write_bytes(bytes(data))
    os.chmod(dest, 0o755)
    return dest


def test_malformed_elf_beside_good_plugin(built: Built, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An ELF file with a huge e_shoff or section offsets is one clear error naming it in inspect, list and
    load, and the good plugin in the same folder is still listed and loaded."""
    d = private_dir(tmp_path / "p")
    hello_in(built, d)
    bad = [_corrupt(built.failing("noinit"), d / f"bad_{f}.so", f) for f in ("e_shoff", "sh_offset")]
    for so in bad:
        code, out, err = rpsc(capsys, "plugin", "inspect", str(so))
        assert code == 1 and err.startswith(f"{so}: error: truncated or corrupt ELF file"), err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    rows = {Path(r["file"]).name: r for r in list_json(capsys, d)}
    assert rows["hello_c.so"]["status"] == "ok"
    assert [rows[so.name]["reason"] for so in bad] == ["elf", "elf"]
    code, out, _ = rpsc(capsys, "plugin", "list", "--no-python", "--plugin-path", str(d))
    assert code == 0 and "refused (elf)" in out and "Traceback" not in out
    mgr = new_manager(d)
    assert mgr.load("hello_c").loaded and mgr.point("combine")(1, 1) == [2]
    for so in bad:
        with pytest.raises(PluginRefused, match="truncated or corrupt ELF file"):
            mgr.load_file(so)
    mgr.close()


def test_world_writable_or_linked_sidecar_refused(built: Built, tmp_path: Path) -> None:
    """A 0666 sidecar (or one that is a symbolic link) is refused, naming the sidecar: it decides exports
    and requirements, so it must be as trusted as the file."""
    so = hello_in(built, tmp_path / "p")
    side = so.with_suffix(".json")
    os.chmod(side, 0o666)
    mgr = new_manager(so.parent)
    refused(mgr, so, "permission", f"{side}: error: refusing sidecar writable by group or others (mode 0666)")
    os.chmod(side, 0o644)
    moved = tmp_path / "elsewhere.json"
    os.replace(side, moved)
    side.symlink_to(moved)
    refused(mgr, so, "link", "sidecar that is a symbolic link")
    side.unlink()
    os.replace(moved, side)
    assert mgr.load_file(so).loaded
    mgr.close()


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file to another user (uid 65534) needs root")
@pytest.mark.parametrize("target", ["file", "sidecar", "folder"])
def test_foreign_owner_refused(built: Built, tmp_path: Path, target: str) -> None:
    """A plugin file, sidecar or folder owned by another user (nobody, uid 65534) is refused for its owner."""
    so = hello_in(built, tmp_path / "p")
    victim = {"file": so, "sidecar": so.with_suffix(".json"), "folder": so.parent}[target]
    what = {"file": "plugin file", "sidecar": "sidecar", "folder": "plugin folder"}[target]
    os.chown(victim, NOBODY, NOBODY)
    mgr = new_manager(so.parent)
    refused(mgr, so, "owner", f"{victim}: error: refusing {what} owned by uid {NOBODY}")
    with pytest.raises(PluginError, match=r"refused \(owner\)"):
        mgr.load("hello_c")
    os.chown(victim, 0, 0)
    assert mgr.load("hello_c").loaded
    mgr.close()


def test_refusal_reason_shown_everywhere(built: Built, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A refused plugin loaded by name says why (checksum), and so do list, list --json and check."""
    so = hello_in(built, tmp_path / "p")
    with open(so, "ab") as f:
        f.write(b"\0tampered")
    mgr = new_manager(so.parent)
    with pytest.raises(PluginError) as info:
        mgr.load("hello_c")
    text = str(info.value)
    assert "plugin 'hello_c' not found in the search path" in text
    assert "refused (checksum)" in text and "checksum mismatch" in text and str(so) in text
    code, out, _ = rpsc(capsys, "plugin", "list", "--no-python", "--plugin-path", str(so.parent))
    assert code == 0 and "refused (checksum)" in out and "checksum mismatch" in out
    [row] = list_json(capsys, so.parent)
    assert (row["status"], row["reason"], row["name"]) == ("refused", "checksum", "hello_c")
    code, out, _ = rpsc(capsys, "plugin", "check", "--json", str(so))
    report = json.loads(out)
    assert code == 1 and report["reason"] == "checksum" and "checksum mismatch" in report["error"]
    code, _, err = rpsc(capsys, "plugin", "check", str(so))
    assert code == 1 and "refused: checksum" in err
    os.chmod(so, 0o775)
    [row] = list_json(capsys, so.parent)
    assert row["reason"] == "permission" and "writable by group or others" in row["error"]


LINGERER = c_source(manifest("lingerer"), r"""
#include <unistd.h>
__attribute__((constructor)) static void linger(void) {
    if (fork() == 0) { sleep(60); _exit(0); }   /* a helper that keeps the output pipe open for a minute */
}
""")


def test_check_does_not_wait_for_a_helper_the_plugin_forked(tmp_path: Path) -> None:
    """A plugin whose constructor forks a long-lived helper (holding the child's stdout) is checked as soon
    as the child has reported and exited: the verdict is ok, it comes within the timeout, not after the
    helper's minute, and the helper does not outlive the check."""
    import time

    d = private_dir(tmp_path / "p")
    (tmp_path / "lingerer.c").write_text(LINGERER)
    compile_c_plugin([tmp_path / "lingerer.c"], d / "lingerer.so")
    start = time.monotonic()
    proc = subprocess.run([*RPSC, "plugin", "check", "--timeout", "20", str(d / "lingerer.so")],
                          capture_output=True, text=True, timeout=120)
    took = time.monotonic() - start
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok: lingerer" in proc.stdout
    assert took < 20, took
    left = subprocess.run(["pgrep", "-f", str(d / "lingerer.so")], capture_output=True, text=True)
    assert left.stdout.strip() == "", left.stdout
