"""ccache and distcc as `rpsc build` launchers, for real (issue 12): distccd on 127.0.0.1 sees the compiles,
and a copied store hits ccache because the compile lines name paths relative to the build folder."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = sorted(str(p) for p in (REPO / "plugins_src").glob("*.rps"))
NEEDED = ("ccache", "distcc", "distccd")
missing = [t for t in NEEDED if shutil.which(t) is None]
pytestmark = pytest.mark.skipif(bool(missing), reason=f"not installed: {', '.join(missing)} "
                                "(.ci/run installs the Debian packages ccache and distcc)")


def rpsc(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "rpsc", *args], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def compiled_store(tmp_path: Path, env: dict[str, str]) -> Path:
    store = tmp_path / "pristine" / "store"
    rpsc("compile", *EXAMPLES, "--store", str(store), env=env)
    return store


def test_distcc_launcher_ships_the_compiles_to_a_local_distccd(tmp_path: Path):
    """With `--launcher distcc` and DISTCC_HOSTS naming a distccd on 127.0.0.1, that daemon's log shows one
    successful compile per module, and the plugins load."""
    env = dict(os.environ)
    store = compiled_store(tmp_path, env)
    port = free_port()
    log = tmp_path / "distccd.log"
    with open(log, "wb") as logf:
        daemon = subprocess.Popen(["distccd", "--daemon", "--no-detach", "--log-stderr", "--log-level", "info",
                                   "--allow", "127.0.0.1", "--listen", "127.0.0.1", "--port", str(port),
                                   "--jobs", "2"], stdout=logf, stderr=logf, stdin=subprocess.DEVNULL,
                                  start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while True:  # wait until it listens
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert daemon.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "distccd did not start listening"
                time.sleep(0.1)
        (tmp_path / "distcc-state").mkdir()
        env.update(DISTCC_HOSTS=f"127.0.0.1:{port}", DISTCC_DIR=str(tmp_path / "distcc-state"),
                   DISTCC_FALLBACK="0", CCACHE_DISABLE="1")
        rpsc("build", "--store", str(store), "--launcher", "distcc", "-j", "2", env=env)
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        daemon.wait(timeout=20)
    text = log.read_text(errors="replace")
    oks = [line for line in text.splitlines() if "COMPILE_OK" in line]
    assert len(oks) == 3, text
    assert all("-mod.c" in line for line in oks)
    assert len(list((store / "plugins").glob("rps*-mod.so"))) == 3


def test_ccache_launcher_hits_for_a_copied_store(tmp_path: Path):
    """A store built through `--launcher ccache`, copied to another folder and built there, gets one ccache
    hit per module (CCACHE_DIR private to the test; no CCACHE_BASEDIR needed); links bypass ccache."""
    env = dict(os.environ)
    env.update(CCACHE_DIR=str(tmp_path / "ccache"))
    env.pop("CCACHE_BASEDIR", None)
    store = compiled_store(tmp_path, env)
    copy = tmp_path / "elsewhere" / "deeper" / "store"
    shutil.copytree(store, copy)
    subprocess.run(["ccache", "-z"], env=env, check=True, capture_output=True)
    rpsc("build", "--store", str(store), "--launcher", "ccache", env=env)

    def stats() -> dict[str, int]:
        out = subprocess.run(["ccache", "--print-stats"], env=env, check=True, capture_output=True, text=True)
        return {k: int(v) for k, v in (line.split("\t") for line in out.stdout.splitlines() if "\t" in line)}

    first = stats()
    assert first.get("cache_miss", 0) == 3, first
    assert first.get("could_not_use_modules", 0) + first.get("called_for_link", 0) == 0, first
    rpsc("build", "--store", str(copy), "--launcher", "ccache", env=env)
    second = stats()
    hits = second.get("direct_cache_hit", 0) + second.get("preprocessed_cache_hit", 0)
    assert hits == 3 and second.get("cache_miss", 0) == 3, second
    assert (copy / "plugins").is_dir() and len(list((copy / "plugins").glob("rps*-mod.so"))) == 3
    for so in (store / "plugins").glob("rps*-mod.so"):
        assert so.read_bytes() == (copy / "plugins" / so.name).read_bytes()
