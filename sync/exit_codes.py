"""Exit codes by cause (README "Exit codes"), one definition for the CLI, the runner and the scheduler.

A finished cycle can have several outcomes at once (an order failed *and* Square was down *and*
the report has breaks); ``worst`` picks the one the process exits with, by ``PRECEDENCE``:
an internal error beats a service outage, which beats failed orders / new rejects, which beat
breaks at or above ``--fail-on-breaks``. ``USAGE`` and ``LOCKED`` are decided before anything
runs, so they never compete with the others.

No imports from the rest of the package: the domain, the service layer and the entry points can
all use it without an import circle.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from urllib.parse import urlsplit


class ExitCode(IntEnum):
    OK = 0  # done
    FAILED = 1  # done, but orders failed or feed rows were newly rejected (retried / reported)
    USAGE = 2  # usage or configuration error: nothing ran
    BREAKS = 3  # done, but the report has breaks at or above --fail-on-breaks
    UNAVAILABLE = 69  # a required service unreachable or refusing us after retries (EX_UNAVAILABLE)
    INTERNAL = 70  # internal error (a bug): traceback in the log; work already recorded is kept
    LOCKED = 75  # another cycle holds the lock: nothing done (EX_TEMPFAIL)


# Most severe first. USAGE and LOCKED end a command before any of these can arise.
PRECEDENCE: tuple[ExitCode, ...] = (
    ExitCode.INTERNAL,
    ExitCode.UNAVAILABLE,
    ExitCode.FAILED,
    ExitCode.BREAKS,
    ExitCode.OK,
)


def worst(codes: Iterable[ExitCode]) -> ExitCode:
    """The code a run exits with when several outcomes apply (``PRECEDENCE``); OK for none."""
    found = set(codes)
    for code in (ExitCode.USAGE, ExitCode.LOCKED, *PRECEDENCE):
        if code in found:
            return code
    return ExitCode.OK


@dataclass(frozen=True)
class Outage:
    """A required service that could not be used this run (exit 69): which, where, why, what to check."""

    service: str  # "Google Content API", "Square"
    url: str  # the base URL we called
    error: str  # the last error, as the gateway put it
    check: str  # what the operator should look at

    @property
    def host_port(self) -> str:
        parts = urlsplit(self.url)
        if not parts.hostname:
            return self.url
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return f"{parts.hostname}:{port}"

    def message(self) -> str:
        return f"{self.service} unavailable at {self.host_port} ({self.url}): {self.error}; {self.check}"
