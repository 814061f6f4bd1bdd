"""Fixtures: in-process sandboxes on ephemeral loopback ports.

The Google emulator accepts only the tokens it issued at /token and those it was started with
(``--token``); tests that send a bare bearer token use ``TOKEN``, registered here.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sync.sandbox.server import Sandbox

TOKEN = "t"


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """A fresh, started Sandbox per test (own state, own counters)."""
    with Sandbox(seed=1234, tokens={TOKEN}).start() as sb:
        yield sb


@pytest.fixture(scope="session")
def shared_sandbox() -> Iterator[Sandbox]:
    """One Sandbox for the session, for read-mostly tests; do not assume empty state."""
    with Sandbox(tokens={TOKEN}).start() as sb:
        yield sb


def schema_head() -> str:
    """The ledger's newest migration (each branch adds its own; the merge re-chains them)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from sync.adapters.ledger.repository import MIGRATIONS_DIR

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head
