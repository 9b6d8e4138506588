"""Frontend test options: `--update-golden` rewrites tests/frontend/golden/*.expected from the current output."""

from __future__ import annotations

import os

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    try:
        parser.addoption("--update-golden", action="store_true", default=False,
                         help="rewrite golden files (tests/frontend/golden/*.expected) instead of comparing")
    except ValueError:  # another conftest registered it already
        pass


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    """Whether golden files are to be rewritten (`--update-golden`, or RPSC_UPDATE_GOLDEN=1)."""
    try:
        opt = bool(request.config.getoption("--update-golden"))
    except ValueError:
        opt = False
    return opt or os.environ.get("RPSC_UPDATE_GOLDEN") == "1"
