"""Break severities, most severe first, and the ``--fail-on-breaks`` threshold rule. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


SEVERITIES: tuple[str, ...] = tuple(s.value for s in Severity)  # most severe first


def at_or_above(threshold: str) -> tuple[str, ...]:
    """The severities at least as severe as ``threshold``; none for "" (the threshold is off)."""
    if not threshold:
        return ()
    return SEVERITIES[: SEVERITIES.index(Severity(threshold)) + 1]


def breaks_at_or_above(by_severity: Mapping[str, int], threshold: str) -> int:
    """How many breaks (counted per severity) reach ``threshold``; 0 when it is ""."""
    return sum(by_severity.get(s, 0) for s in at_or_above(threshold))
