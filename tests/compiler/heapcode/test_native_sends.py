"""Method sends between native functions (JIT and C) are direct calls: a recursion of sends goes as deep as
the recursion limit, traps at the same depth and site as the interpreter, and a thread whose stack runs out
gets a `recursion too deep` trap instead of a crash."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SRC = """module snd;
class node;
attribute next : obj;
attribute weight : int;
selector total(k: int) -> int;
fn node_total(self: obj, k: int) -> int {
  if has(self, next) {
    var n = self.next;
    return self.weight * k + n.total(k);
  }
  return self.weight * k;
}
method node.total = node_total;
fn chain(len: int) -> int {
  var head: obj = null;
  for i in 0 .. len {
    var o = new node { weight = i };
    if !is_null(head) { o.next = head; }
    head = o;
  }
  return head.total(2);
}
"""


def _rpsc(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rpsc", *args], capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """SRC compiled into a store and built into its C plugin (real rpsc, real cc)."""
    d = tmp_path_factory.mktemp("sends")
    (d / "snd.rps").write_text(SRC)
    for args in (("compile", str(d / "snd.rps"), "--store", str(d / "st")), ("build", "--store", str(d / "st"))):
        proc = _rpsc(*args)
        assert proc.returncode == 0, proc.stderr
    return d / "st"


@pytest.mark.parametrize("backend", ["interp", "jit", "c"])
def test_sends_nest_to_the_recursion_limit_and_trap_past_it(store: Path, backend: str) -> None:
    """chain(9999) (9,999 nested sends under chain: 10,000 calls) gives the same sum under every backend;
    chain(10000) traps `recursion too deep` at node_total's entry, as the interpreter does (native sends used
    to go through Python and trapped after about 50 levels)."""
    ok = _rpsc("run", "--store", str(store), "--backend", backend, "chain", "9999")
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert ok.stdout.strip() == str(2 * sum(range(9999)))
    deep = _rpsc("run", "--store", str(store), "--backend", backend, "chain", "10000")
    assert deep.returncode == 3, deep.stderr[-2000:]
    assert deep.stdout == ""
    assert f"{store.parent / 'snd.rps'}:6:4: trap: recursion too deep in node_total" in deep.stderr


_SMALL_STACK = r"""
import sys, threading
import rpsrt
from rpsc.driver.pipeline import ir_modules
from rpsrt.errors import Trap
from rpsrt.model.heapapi import HeapRuntime
store, backend = sys.argv[1], sys.argv[2]
heap = rpsrt.load_store(store)
runtime = HeapRuntime(heap)
if backend == "jit":
    from rpsc.backends.llvm.jit import JitEngine
    engine = JitEngine(ir_modules(heap), runtime=runtime, cache_dir=None)
else:
    from rpsc.backends.c.native import NativeEngine
    engine = NativeEngine(store, runtime=runtime, interruptible=False)
out = []
def work():
    try:
        out.append(engine.call("chain", [9999]))
    except Trap as t:
        out.append((t.kind, t.function))
threading.stack_size(2 * 1024 * 1024)   # far too small for 9,999 nested native sends
t = threading.Thread(target=work)
t.start()
t.join()
print(out[0])
"""


@pytest.mark.parametrize("backend", ["jit", "c"])
def test_a_thread_out_of_stack_gets_a_recursion_trap_not_a_crash(store: Path, backend: str) -> None:
    """Called on a thread of 2 MB of stack, 9,999 nested native sends stop with `recursion too deep` at a
    send (the host's stack probe) instead of overflowing the stack (a SIGSEGV)."""
    proc = subprocess.run([sys.executable, "-c", _SMALL_STACK, str(store), backend], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert proc.stdout.strip() == "('recursion too deep', 'node_total')"
