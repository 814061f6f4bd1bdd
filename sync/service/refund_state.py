"""What the refund steps remember between cycles, in the ledger's key/value table (docs/refunds.md).

* per Square refund (``refunds.square.<refund id>``): what was decided about it — once a refund
  has a final verdict it is never decided again (the 5-minute overlap of the refund listing, a
  lost cursor and a rerun after ``kill -9`` all meet it here), and the refunds ordersync itself
  recorded in Square (``own``: the ledger's echo signal beside the reason's mark);
* per Google order (``refunds.order.<order id>``): the Square refunds of the order reported or
  waiting (the pairing history and the ``unsettled`` amount of the Google -> Square rule) and the
  last Google refund figures seen (a change is what makes the Google -> Square step look);
* the cursors: the refund listing's newest ``updated_at``, the refunds parked (WAIT) and the
  round-robin position of the periodic Google re-read.

Everything a step writes here for a decision is written in the transaction that records the
decision's intents, so a crash leaves both or neither.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sync.domain.refunds.records import Verdict
from sync.domain.refunds.returns import SquareReturnedUnits
from sync.service.ports import LedgerPort

SQUARE_CURSOR_KEY = "refunds.square.updated_since"
PARKED_KEY = "refunds.square.parked"
GOOGLE_CHECKED_AT_KEY = "refunds.google.checked_at"
GOOGLE_REREAD_AFTER_KEY = "refunds.google.reread_after"
OWN = "own"  # the verdict stored for a refund ordersync recorded in Square itself


def _refund_key(refund_id: str) -> str:
    return f"refunds.square.{refund_id}"


def _order_key(order_id: str) -> str:
    return f"refunds.order.{order_id}"


@dataclass(frozen=True, slots=True)
class SquareRefundEvent:
    """A Square refund of a Google order as decided: SEND (its Google operation ids), MATCHED,
    WAIT (parked: counts as unsettled), REFUSE."""

    refund_id: str
    verdict: str  # a Verdict value
    amount_minor: int
    status: str
    operation_ids: tuple[str, ...] = ()
    returned: tuple[SquareReturnedUnits, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "refund_id": self.refund_id,
            "verdict": self.verdict,
            "amount_minor": self.amount_minor,
            "status": self.status,
            "operation_ids": list(self.operation_ids),
            "returned": [
                {"line": u.line_item_id, "units": u.units, "created_at": u.created_at} for u in self.returned
            ],
        }

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> SquareRefundEvent:
        refund_id = str(raw["refund_id"])
        return cls(
            refund_id=refund_id,
            verdict=str(raw["verdict"]),
            amount_minor=int(raw["amount_minor"]),
            status=str(raw.get("status") or ""),
            operation_ids=tuple(str(o) for o in raw.get("operation_ids") or ()),
            returned=tuple(
                SquareReturnedUnits(refund_id, str(u["line"]), int(u["units"]), str(u["created_at"]))
                for u in raw.get("returned") or ()
            ),
        )


@dataclass(frozen=True, slots=True)
class OrderRefundState:
    """One Google order's refund bookkeeping (see the module docstring)."""

    order_id: str
    square_events: tuple[SquareRefundEvent, ...] = ()
    google_refunded_minor: int = 0
    google_net_minor: int | None = None
    google_seen: bool = False  # the Google figures above were recorded at least once

    @property
    def history(self) -> tuple[SquareReturnedUnits, ...]:
        """The units of this order's Square itemized returns already reported or matched."""
        return tuple(
            u for e in self.square_events if e.verdict in (Verdict.SEND, Verdict.MATCHED) for u in e.returned
        )

    def unsettled_minor(self, pending_operation_ids: Iterable[str]) -> int:
        """Square refunds Google does not show yet: sent ones whose Google operation is pending,
        and the parked ones (PENDING in Square, or waiting for the order to be fully shipped)."""
        pending = set(pending_operation_ids)
        return sum(
            e.amount_minor
            for e in self.square_events
            if e.verdict == Verdict.WAIT
            or (e.verdict == Verdict.SEND and pending.intersection(e.operation_ids))
        )

    def with_event(self, event: SquareRefundEvent) -> OrderRefundState:
        others = tuple(e for e in self.square_events if e.refund_id != event.refund_id)
        return replace(self, square_events=(*others, event))

    def without_event(self, refund_id: str) -> OrderRefundState:
        return replace(self, square_events=tuple(e for e in self.square_events if e.refund_id != refund_id))

    def with_google(self, refunded_minor: int, net_minor: int | None) -> OrderRefundState:
        return replace(
            self, google_refunded_minor=refunded_minor, google_net_minor=net_minor, google_seen=True
        )

    def google_changed(self, refunded_minor: int, net_minor: int | None) -> bool:
        if not self.google_seen:
            return refunded_minor > 0
        return (refunded_minor, net_minor) != (self.google_refunded_minor, self.google_net_minor)

    def to_json(self) -> dict[str, Any]:
        return {
            "square_events": [e.to_json() for e in self.square_events],
            "google_refunded_minor": self.google_refunded_minor,
            "google_net_minor": self.google_net_minor,
            "google_seen": self.google_seen,
        }


class RefundMemory:
    """Reads and writes the records above (one short ledger call each)."""

    def __init__(self, ledger: LedgerPort) -> None:
        self.ledger = ledger

    def verdict_of(self, refund_id: str) -> str | None:
        raw = self.ledger.get_value(_refund_key(refund_id))
        return str(raw["verdict"]) if isinstance(raw, Mapping) and raw.get("verdict") else None

    def set_verdict(self, refund_id: str, order_id: str | None, verdict: str) -> None:
        self.ledger.set_value(_refund_key(refund_id), {"verdict": verdict, "order": order_id})

    def order(self, order_id: str) -> OrderRefundState:
        raw = self.ledger.get_value(_order_key(order_id))
        if not isinstance(raw, Mapping):
            return OrderRefundState(order_id)
        return OrderRefundState(
            order_id=order_id,
            square_events=tuple(SquareRefundEvent.from_json(e) for e in raw.get("square_events") or ()),
            google_refunded_minor=int(raw.get("google_refunded_minor") or 0),
            google_net_minor=None if raw.get("google_net_minor") is None else int(raw["google_net_minor"]),
            google_seen=bool(raw.get("google_seen")),
        )

    def save_order(self, state: OrderRefundState) -> None:
        self.ledger.set_value(_order_key(state.order_id), state.to_json())

    def parked(self) -> list[str]:
        raw = self.ledger.get_value(PARKED_KEY) or []
        return [str(r) for r in raw] if isinstance(raw, list) else []

    def set_parked(self, refund_ids: Iterable[str]) -> None:
        self.ledger.set_value(PARKED_KEY, sorted(set(refund_ids)))
