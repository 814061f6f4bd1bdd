"""The ledger's CHECK constraints speak the domain's vocabulary (sync/domain/progress.py, intents.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from sync.adapters.ledger import models
from sync.adapters.ledger.database import MIGRATIONS_DIR, SCHEMA_HEAD
from sync.domain.intents import IntentState, Target
from sync.domain.progress import ShipmentSource, ShipmentState

MIGRATIONS = Path(models.__file__).with_name("migrations") / "versions"


def _check_values(text: str) -> set[str]:
    return set(re.findall(r"'([a-z_]+)'", text))


@pytest.mark.parametrize(
    ("table", "constraint", "values"),
    [
        ("operations", "target", {t.value for t in Target}),
        ("operations", "state", {s.value for s in IntentState}),
        ("shipments", "source", {s.value for s in ShipmentSource}),
        ("shipments", "state", {s.value for s in ShipmentState}),
    ],
)
def test_check_constraints_list_the_domain_vocabulary(table: str, constraint: str, values: set[str]) -> None:
    """The CHECK constraints (models, hence the migrations: a test compares them) allow exactly the
    enum values, and the newest migration that writes the constraint agrees."""
    checks = {
        str(c.name).removeprefix(f"ck_{table}_"): str(c.sqltext)
        for c in models.Base.metadata.tables[table].constraints
        if c.__class__.__name__ == "CheckConstraint"
    }
    assert _check_values(checks[constraint]) == values
    written = []
    for path in sorted(MIGRATIONS.glob("0*.py")):
        upgrade = path.read_text(encoding="utf-8").split("def downgrade", 1)[0]
        for line in upgrade.splitlines():
            names_table = f"ck_{table}_{constraint}" in line or f'batch_alter_table("{table}"' in upgrade
            if f'"{constraint} IN (' in line and names_table:
                written.append(line)
    assert written, "no migration writes the constraint"
    assert _check_values(written[-1].split("IN", 1)[1]) == values


def test_the_schema_head_constant_is_the_newest_migration() -> None:
    # A ledger stamped with SCHEMA_HEAD opens without alembic: a new migration must move it.
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert ScriptDirectory.from_config(cfg).get_heads() == [SCHEMA_HEAD]
