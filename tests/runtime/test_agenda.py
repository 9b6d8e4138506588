"""rpsrt.agenda: priority order, worker pool, results and errors, cancel, drain, and real work as tasks."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import rpsrt
from rpsrt.agenda import HIGH, LOW, Agenda, AgendaClosed, TaskCancelled
from rpsrt.store.core import new_heap


def test_tasks_run_by_priority_then_submission_order() -> None:
    """With one busy worker, queued tasks run highest priority first, FIFO within a priority."""
    gate, order = threading.Event(), []
    with Agenda(1) as agenda:
        agenda.submit(gate.wait, 30)
        for name, prio in (("low", LOW), ("n1", 0), ("high", HIGH), ("n2", 0), ("high2", HIGH)):
            agenda.submit(order.append, name, priority=prio)
        gate.set()
        assert agenda.join(30)
    assert order == ["high", "high2", "n1", "n2", "low"]


def test_results_errors_and_pool_size() -> None:
    """A task's result and exception come back through Task; at most `workers` threads run tasks at once."""
    running, peak, lock = [0], [0], threading.Lock()
    release = threading.Event()

    def busy(i: int) -> int:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        release.wait(30)
        with lock:
            running[0] -= 1
        return i * i

    with Agenda(2) as agenda:
        tasks = [agenda.submit(busy, i) for i in range(6)]
        bad = agenda.submit(int, "not a number")
        for _ in range(3000):   # both workers busy at once (never a third)
            if peak[0] >= 2:
                break
            threading.Event().wait(0.01)
        release.set()
        assert [t.result(30) for t in tasks] == [i * i for i in range(6)]
        with pytest.raises(ValueError):
            bad.result(30)
        assert isinstance(bad.exception(0), ValueError)
    assert peak[0] == 2


def test_shutdown_drains_or_cancels() -> None:
    """shutdown() runs every queued task; shutdown(cancel=True) cancels those not started, lets the running
    one finish, and submit is refused afterwards."""
    done: list[int] = []
    agenda = Agenda(1)
    gate = threading.Event()
    agenda.submit(gate.wait, 30)
    for i in range(3):
        agenda.submit(done.append, i)
    gate.set()
    agenda.shutdown()
    assert done == [0, 1, 2]
    with pytest.raises(AgendaClosed):
        agenda.submit(done.append, 9)

    agenda = Agenda(1)
    gate.clear()
    first = agenda.submit(gate.wait, 30)
    later = [agenda.submit(done.append, i) for i in range(10, 13)]
    threading.Timer(0.2, gate.set).start()
    agenda.shutdown(cancel=True)
    assert first.result(0) is True and first.state == "done"
    assert all(t.state == "cancelled" for t in later) and done == [0, 1, 2]
    with pytest.raises(TaskCancelled):
        later[0].result(0)


def test_store_dump_and_plugin_load_as_tasks(tmp_path: Path) -> None:
    """A store dump and a plugin load queued on the agenda do their real work (a loadable store on disk,
    a loaded plugin whose extension dispatches)."""
    from rpsrt.plugins import PluginManager

    class Adder:
        name, version, requires = "adder", "1.0.0", []

        def init(self, api) -> None:  # noqa: ANN001
            api.register_extension("combine", "add", lambda a, b: a + b, 0, "i64(i64,i64)")

    heap = new_heap()
    m = PluginManager([], use_env=False)
    point = m.declare("combine", "i64(i64,i64)", "all")
    m.add_python_plugin(Adder())
    with Agenda(2) as agenda:
        dumped = agenda.submit(rpsrt.dump_store, heap, str(tmp_path / "store"), name="dump")
        loaded = agenda.submit(m.load, "adder", name="load adder")
        plugin = loaded.result(30)
        dumped.result(30)
    assert plugin.name == "adder" and point(2, 3) == [5]
    again = rpsrt.load_store(str(tmp_path / "store"))
    assert set(again.objects) == set(heap.objects) and len(again.objects) > 10
    m.close()
