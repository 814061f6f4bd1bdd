"""The break rules, one module per group, registered in category order.

Each group is a module with ``CATEGORIES`` (what it may report) and ``run(alignment, breaks)``.
``GROUPS`` runs them in the order of their first category in ``CATEGORIES``; within a category
several groups may add findings for one order (pending_sync comes from three), and the first
finding at the highest severity is the one kept, so this order is part of the output.
"""

from __future__ import annotations

from types import ModuleType

from sync.domain.reconcile.rules import (
    identity,
    oms_copy,
    operations,
    presence,
    quantities,
    refunds,
    slas,
)

GROUPS: tuple[ModuleType, ...] = (presence, identity, quantities, oms_copy, refunds, slas, operations)

__all__ = ["GROUPS"]
