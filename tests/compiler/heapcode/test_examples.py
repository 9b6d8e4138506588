"""Every example module of plugins_src/ compiles, and its functions give checked results under the interpreter."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import rpsrt
from rpsc.heapcode.classes import find_code_classes
from rpsc.heapcode.encode import module_objects, stored_definitions
from rpsc.backends.interp.interp import Interpreter
from rpsc.driver.pipeline import ir_modules

from .conftest import compile_into, example_sources


def _wrap(v: int) -> int:
    return ((v + 2**63) % 2**64) - 2**63


def _fib(n: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, _wrap(a + b)
    return a


def _is_prime(n: int) -> bool:
    return n >= 2 and all(n % d for d in range(2, math.isqrt(n) + 1))


def _collatz(n: int) -> int:
    steps = 0
    while n > 1:
        n = n // 2 if n % 2 == 0 else 3 * n + 1
        steps += 1
    return steps


def _mandel(cx: float, cy: float, limit: int) -> int:
    x = y = 0.0
    i = 0
    while i < limit and x * x + y * y <= 4.0:
        x, y = x * x - y * y + cx, 2.0 * x * y + cy
        i += 1
    return i


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All examples compiled together into one store on disk."""
    path = tmp_path_factory.mktemp("examples")
    compile_into(path, example_sources())
    return path


@pytest.fixture(scope="module")
def it(store: Path) -> Iterator[Interpreter]:
    """An interpreter over the IR built from the loaded store."""
    interp = Interpreter(ir_modules(rpsrt.load_store(str(store))))
    yield interp
    interp.close()


def test_examples_are_present_and_one_requires_another(store: Path) -> None:
    """plugins_src/ holds at least three modules, and one of them requires another."""
    heap = rpsrt.load_store(str(store))
    mods = {m.name: m for m in ir_modules(heap)}
    assert {"numeric", "events", "shapes"} <= set(mods)
    assert ("numeric", ">=1.0.0") in mods["events"].requires
    assert any(name == "numeric" for name, _ in mods["shapes"].requires)


NUMERIC_CASES = [
    ("fib", [20], 6765),
    ("fib", [0], 0),
    ("fib_iter", [90], _fib(90)),
    ("fib_iter", [100], _fib(100)),  # wraps past fib(92)
    ("gcd", [-12, 18], 6),
    ("gcd", [0, 0], 0),
    ("lcm", [4, 6], 12),
    ("lcm", [0, 5], 0),
    ("isqrt", [10**18], 10**9),
    ("isqrt", [2**62], 2**31),
    ("isqrt", [99], 9),
    ("isqrt", [-4], -1),
    ("is_prime", [97], True),
    ("is_prime", [91], False),
    ("is_prime", [2], True),
    ("count_primes", [1000], sum(_is_prime(k) for k in range(1000))),
    ("pow_mod", [3, 200, 1_000_000_007], pow(3, 200, 1_000_000_007)),
    ("pow_mod", [-2, 5, 13], pow(-2, 5, 13)),
    ("collatz", [27], _collatz(27)),
    ("newton_sqrt", [2.0], math.sqrt(2.0)),
    ("simpson_square", [0.0, 3.0, 10], 9.0),
    ("mandel", [-0.5, 0.5, 100], _mandel(-0.5, 0.5, 100)),
    ("mandel", [1.0, 1.0, 100], _mandel(1.0, 1.0, 100)),
    ("mean_sqrt_floor", [100], int(math.fsum(math.sqrt(i) for i in range(1, 101)) / 100)),
]


@pytest.mark.parametrize("fn,args,want", NUMERIC_CASES)
def test_numeric(it: Interpreter, fn: str, args: list, want: object) -> None:  # type: ignore[type-arg]
    """numeric.rps's kernels agree with Python computations of the same functions."""
    got = it.call(f"numeric.{fn}", args)
    if isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-12)
    else:
        assert got == want


def test_events(it: Interpreter) -> None:
    """events.rps: its extension implementations call into numeric and compute what they say."""
    assert it.call("tick_fib", [100]) == _fib(36)
    assert it.call("tick_gcd", [100]) == 20
    assert it.call("tick_early", [7]) == 7000
    assert it.call("tick_all", [100]) == 100_000 + _fib(36) + 20
    assert it.call("score_primes", [100]) == 25 * 10 + 10


def test_events_extensions_recorded(it: Interpreter) -> None:
    """The `extend` declarations are in the IR with their priorities, and points with their modes."""
    mod = next(m for m in it.modules if m.name == "events")
    assert sorted((e.point.name, e.priority, e.function.name) for e in mod.extensions) == [
        ("on_tick", -5, "tick_early"), ("on_tick", 10, "tick_fib"), ("on_tick", 20, "tick_gcd"),
        ("score", 1, "score_primes")]
    assert {(p.name, p.mode, p.signature) for p in mod.extension_points} == {
        ("on_tick", "all", "i64(i64)"), ("score", "first", "i64(i64)")}


def test_shapes(it: Interpreter) -> None:
    """shapes.rps's functions compute areas, perimeters and tilings."""
    assert it.call("circle_area", [2.0]) == pytest.approx(math.pi * 4)
    assert it.call("circle_perimeter", [1.0]) == pytest.approx(2 * math.pi)
    assert it.call("rect_area", [1.5, 2.0]) == 3.0
    assert it.call("rect_perimeter", [1.5, 2.0]) == 7.0
    assert it.call("inscribed_square_side", [10]) == math.isqrt(200)
    assert it.call("tiles", [10, 7, 3]) == 4 * 3
    with pytest.raises(rpsrt.Trap) as info:
        it.call("tiles", [1, 1, 0])
    assert info.value.kind == "division by zero" and info.value.location.startswith("plugins_src/shapes.rps:")


def test_shapes_objects(store: Path) -> None:
    """shapes.rps's objects, symbols and methods are in the store: its own space, classinfo methods, values."""
    heap = rpsrt.load_store(str(store))
    cc = find_code_classes(heap)
    assert cc is not None
    mobj = module_objects(heap, cc)["shapes"]
    objs = {n: o for n, (_k, o) in stored_definitions(mobj, cc).items()}
    assert mobj.attrs[cc.attr["module_space"]].attrs[cc.name] == "figures"
    circle = objs["circle"]
    assert set(circle.payload.methodict) == {objs["area"], objs["perimeter"]}
    assert circle.payload.methodict[objs["area"]].fn is objs["circle_area"]
    assert objs["square"].payload.superclass is objs["rectangle"]
    assert objs["tau"].payload.value == "6.283185307179586"  # data upstream can dump back: no double
    assert objs["unit"].payload.value is objs["unit_circle"]
    assert objs["golden"].attrs[objs["height"]] == 1000 and len(objs["golden"].comps) == 5


def test_every_example_function_is_checked(it: Interpreter) -> None:
    """Each function of numeric, events and shapes appears in a result check of this file."""
    text = Path(__file__).read_text()
    names = {f.name for m in it.modules if m.name in ("numeric", "events", "shapes") for f in m.functions}
    unchecked = sorted(n for n in names if f'"{n}"' not in text)
    assert unchecked == []
