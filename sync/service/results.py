"""What a cycle did (``CycleResult``: the run summary and its exit code) and what a step hands on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sync.exit_codes import ExitCode, Outage, worst
from sync.service.outages import SQUARE
from sync.service.outbox import Settled


@dataclass
class CycleResult:
    run_id: int = 0
    orders_seen: int = 0
    acknowledged: int = 0
    merchant_ids: int = 0
    shipped: int = 0
    delivered: int = 0
    canceled: int = 0
    lines_canceled: int = 0  # orders found with line items canceled on Google's side
    resent: int = 0
    square_orders: int = 0
    square_unmapped_lines: int = 0  # lines sent to Square as ad-hoc lines (no catalog variation)
    square_skipped: int = 0  # orders kept out of Square: already shipped when they would be created
    refunds_to_google: int = 0  # Google refund mutations done that report Square refunds
    refunds_to_square: int = 0  # RefundPayments done that record Google's refunds in Square
    failed_orders: set[str] = field(default_factory=set)
    rejects: int = 0  # feed rows (or whole files) rejected this cycle
    new_rejects: int = 0  # of which not already rejected (same content) by an earlier cycle
    rejects_file: str | None = None
    api_calls: int = 0
    seconds: float = 0.0
    abandoned: bool = False
    outages: list[Outage] = field(default_factory=list)  # services unusable after retries
    # Google's live channels ("ucp", "ordertracking"): answers this cycle, {"sent", "retry", "failed"}
    live: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def square_unavailable(self) -> bool:
        return any(o.service == SQUARE for o in self.outages)

    @property
    def exit_code(self) -> ExitCode:
        codes = [ExitCode.OK]
        if self.outages:
            codes.append(ExitCode.UNAVAILABLE)
        if self.failed_orders or self.new_rejects:
            codes.append(ExitCode.FAILED)
        return worst(codes)

    def outage(self, outage: Outage) -> None:
        """Note a service that failed after its retries (the first failure per service is kept)."""
        if all(o.service != outage.service for o in self.outages):
            self.outages.append(outage)

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "orders_seen": self.orders_seen,
            "acknowledged": self.acknowledged,
            "merchant_ids": self.merchant_ids,
            "square_orders": self.square_orders,
            "square_unmapped_lines": self.square_unmapped_lines,
            "square_skipped": self.square_skipped,
            "shipped": self.shipped,
            "delivered": self.delivered,
            "canceled": self.canceled,
            "lines_canceled": self.lines_canceled,
            "refunds_to_google": self.refunds_to_google,
            "refunds_to_square": self.refunds_to_square,
            "resent": self.resent,
            "failed": len(self.failed_orders),
            "rejects": self.rejects,
            "new_rejects": self.new_rejects,
            "api_calls": self.api_calls,
            "seconds": round(self.seconds, 3),
            "abandoned": self.abandoned,
            "square_unavailable": self.square_unavailable,
            "unavailable": [o.message() for o in self.outages],
            "exit_code": int(self.exit_code),
            **({"live": {k: dict(v) for k, v in self.live.items()}} if self.live else {}),
        }

    def line(self) -> str:
        square = f" square={self.square_orders}" if self.square_orders else ""
        if self.square_skipped:
            square += f" square_skipped={self.square_skipped}"
        if self.square_unmapped_lines:
            square += f" square_unmapped_lines={self.square_unmapped_lines}"
        canceled = f" canceled={self.canceled}"
        if self.lines_canceled:
            canceled += f" lines_canceled={self.lines_canceled}"
        if self.refunds_to_google or self.refunds_to_square:
            canceled += (
                f" refunds_to_google={self.refunds_to_google} refunds_to_square={self.refunds_to_square}"
            )
        rejects = f" rejected_rows={self.rejects}" if self.rejects else ""
        if self.rejects:
            rejects += f" new_rejects={self.new_rejects}"
        for channel, counts in sorted(self.live.items()):
            rejects += f" {channel}={counts['sent']}"
            if counts["retry"] or counts["failed"]:
                rejects += f"/retry={counts['retry']}/failed={counts['failed']}"
        for outage in self.outages:
            rejects += f" {'square' if outage.service == SQUARE else 'google'}=unavailable"
        return (
            f"run {self.run_id}: seen={self.orders_seen} acknowledged={self.acknowledged}{square} "
            f"shipped={self.shipped} delivered={self.delivered}{canceled} "
            f"failed={len(self.failed_orders)}{rejects} api_calls={self.api_calls} seconds={self.seconds:.2f}"
        )


# Terminal progress: (step name, units done since the last call).
Progress = Callable[[str, int], None]


def no_progress(_step: str, _advance: int) -> None:
    pass


@dataclass
class StepResult:
    """What a step hands on: the answers of what it sent (the cycle's failed orders come from the
    outbox's observer; counters are in the CycleResult)."""

    settled: Settled = field(default_factory=Settled)
