"""Shared test configuration: hypothesis profiles and the location of the real upstream stores."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# "ci" (CI=true): every property test at the size its decorator asks for, derandomized for repeatability.
# "dev" (default): the same sizes, random seeds. "quick": 10 examples for the tests that do not set their
# own size (most property tests set `max_examples` explicitly, which takes precedence).
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("quick", deadline=None, max_examples=10, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("RPSC_HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

REPO = Path(__file__).resolve().parent.parent
SHARED_STORES = REPO.parent / "shared" / "refpersys-stores"
STORE_DIRS = {
    "2019A": SHARED_STORES / "2021-09-14-format2019A",
    "2023A": SHARED_STORES / "2024-12-13-format2023A",
    "2024A": SHARED_STORES / "2026-08-16-format2024A",
}


@pytest.fixture(params=sorted(STORE_DIRS))
def upstream_store(request: pytest.FixtureRequest) -> tuple[str, Path]:
    """(format, path) of each real upstream store; skipped when ../shared is absent."""
    path = STORE_DIRS[request.param]
    if not (path / "rps_manifest.json").is_file():
        pytest.skip(f"upstream store {path} not present")
    return request.param, path


def upstream_store_path(fmt: str) -> Path:
    """The folder of one upstream store (2019A, 2023A or 2024A), or skip the test when absent."""
    path = STORE_DIRS[fmt]
    if not (path / "rps_manifest.json").is_file():
        pytest.skip(f"upstream store {path} not present")
    return path


def pytest_addoption(parser: pytest.Parser) -> None:
    """`--update-golden`: rewrite golden files instead of comparing (diagnostics, LLVM IR, generated C)."""
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite golden files instead of comparing against them")


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    """Whether golden files are to be rewritten (`--update-golden`, or RPSC_UPDATE_GOLDEN=1)."""
    return bool(request.config.getoption("--update-golden")) or os.environ.get("RPSC_UPDATE_GOLDEN") == "1"


@pytest.fixture(scope="session", autouse=True)
def _private_cache_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep the suite hermetic: the JIT object cache and the parser-table cache go to a private folder."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))


@pytest.fixture
def backend_matrix(tmp_path: Path):  # type: ignore[no-untyped-def]
    """The backend matrix as a fixture: `backend_matrix(modules, **options)` gives the interpreter, the JIT
    and the C plugins over `modules` (tests/backend_matrix.py `engines`), all closed at teardown."""
    from contextlib import ExitStack

    import backend_matrix as matrix

    with ExitStack() as stack:
        count = iter(range(1_000_000))

        def build(modules, **options):  # type: ignore[no-untyped-def]
            folder = tmp_path / f"matrix{next(count)}"
            return stack.enter_context(matrix.engines(modules, folder, **options))

        yield build
