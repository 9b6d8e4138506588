"""Readers isolated from writers: a load that runs while a dump commits sees the old or the new state, never a
mix, across processes and across threads of one process (the generation lock of `rpsrt.store.journal`)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import rpsrt
from rpsrt.store.writer import dump_store

import isolation_helpers as iso

HELPER = str(Path(iso.__file__).resolve())
READERS = 4
LOADS_PER_READER = 60


def test_loads_across_processes_during_dumps_see_old_or_new(tmp_path: Path) -> None:
    """240 loads in 4 processes while another process dumps heap A, B, A, ... see only A or B, never a mix."""
    store = tmp_path / "st"
    dump_store(iso.make_heap("A"), store)
    stop = tmp_path / "stop"
    dumper = subprocess.Popen([sys.executable, HELPER, "dumper", str(store), str(stop)], stdout=subprocess.PIPE,
                              text=True)
    try:
        readers = [subprocess.Popen([sys.executable, HELPER, "loader", str(store), str(LOADS_PER_READER)],
                                    stdout=subprocess.PIPE, text=True) for _ in range(READERS)]
        outputs = [r.communicate(timeout=600)[0] for r in readers]
    finally:
        stop.touch()
        dumps = int(dumper.communicate(timeout=120)[0] or 0)
    seen = Counter(json.loads(line) for out in outputs for line in out.splitlines())
    assert sum(seen.values()) == READERS * LOADS_PER_READER
    assert set(seen) <= {"A", "B"}, f"loads saw a mixed or broken state: {dict(seen)}"
    assert seen["A"] and seen["B"], f"the loads did not overlap the dumps: {dict(seen)}"
    assert dumps >= 10, f"only {dumps} dumps ran during the loads"


def test_loads_in_threads_during_dumps_see_old_or_new(tmp_path: Path) -> None:
    """In one process, a thread dumping A and B in turn and two threads loading 100 times each: only A or B."""
    store = tmp_path / "st"
    heaps = [iso.make_heap("A"), iso.make_heap("B")]
    dump_store(heaps[0], store)
    done = threading.Event()
    dumps = [0]
    failures: list[BaseException] = []

    def dump_loop() -> None:
        try:
            while not done.is_set():
                dump_store(heaps[dumps[0] % 2], store)
                dumps[0] += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            failures.append(exc)

    seen: Counter[str] = Counter()

    def load_loop() -> None:
        for _ in range(100):
            try:
                seen[iso.classify(rpsrt.load_store(str(store)))] += 1
            except rpsrt.Error as exc:
                seen[f"error: {exc}"] += 1

    writer = threading.Thread(target=dump_loop)
    writer.start()
    loaders = [threading.Thread(target=load_loop) for _ in range(2)]
    try:
        for t in loaders:
            t.start()
        for t in loaders:
            t.join(timeout=600)
    finally:
        done.set()
        writer.join(timeout=120)
    assert not failures, failures
    assert sum(seen.values()) == 200
    assert set(seen) <= {"A", "B"}, f"loads saw a mixed or broken state: {dict(seen)}"
    assert dumps[0] >= 5
