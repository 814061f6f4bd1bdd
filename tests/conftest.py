"""Suite-wide collection rules.

The suite runs on pytest-xdist (`-n auto --dist loadgroup`, see the README). Tests share nothing
but one resource: the PostgreSQL database of ORDERSYNC_TEST_POSTGRES_URL (some drop its schema,
the queue tests fill it). Every test of a module that uses it runs on one worker, one after the
other, as in a serial run; everything else spreads over the workers.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

POSTGRES_ENV = "ORDERSYNC_TEST_POSTGRES_URL"


@functools.cache
def _module_uses_postgres(path: Path) -> bool:
    return POSTGRES_ENV in path.read_text(encoding="utf-8")


@pytest.hookimpl(tryfirst=True)  # before xdist's, which reads the group marks
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.suffix == ".py" and _module_uses_postgres(item.path):
            item.add_marker(pytest.mark.xdist_group("postgres"))
