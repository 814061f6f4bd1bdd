"""Fixtures: in-process sandboxes on ephemeral loopback ports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sync.sandbox.server import Sandbox


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A fresh, started Sandbox per test (own state, own counters)."""
    with Sandbox(seed=1234).start() as sb:
        yield sb


@pytest.fixture(scope="session")
def shared_sandbox() -> Iterator[Sandbox]:
    """One Sandbox for the session, for read-mostly tests; do not assume empty state."""
    with Sandbox().start() as sb:
        yield sb
