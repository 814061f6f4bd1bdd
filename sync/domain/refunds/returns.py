"""Customer returns on Google, paired with the store's returns in Square (issue 15 item 3).

A customer starts a return on Google (``orderreturns``: one item per unit, ``new``); the goods
reach the store, which refunds them in Square POS (an itemized refund on the Google line). The two
are one return: ordersync must then *accept* the Google return (returnRefundLineItem refunds the
open units — the emulator and, by Google's guidance, the API take the customer's open units
first), never refund it a second time. Google's ``refunded`` units mean someone refunded on
Google's side already (Merchant Center, Google's customer service): the store's Square return
only records it then, and nothing is sent.

Pairing rule [D]: per Google line, in time order, each unit of a Square itemized return pairs with
the oldest unpaired Google return unit created no later than the Square refund (a return Google
learns of after the store refunded cannot be what the store refunded). Rejected and canceled
Google units never pair. A Square unit with nothing to pair is a return the store started.
Google return units left unpaired while open are the open returns the report shows
(``followed_returns``: with the ones a Square return took whose Google refund is not through yet).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sync.domain.orders import LineItem, Order, parse_datetime
from sync.domain.refunds.records import GoogleReturn, GoogleReturnItem, RefundDataError, ReturnItemState

PAIRABLE_STATES = frozenset({ReturnItemState.NEW, ReturnItemState.RECEIVED, ReturnItemState.REFUNDED})


@dataclass(frozen=True, slots=True)
class ReturnUnit:
    """One unit a customer returned on Google, placed on the order's line."""

    return_id: str
    line_item_id: str
    created: str
    state: str
    shipment_state: str = ""
    reason: str = ""

    @property
    def is_open(self) -> bool:
        return self.state in (ReturnItemState.NEW, ReturnItemState.RECEIVED)


@dataclass(frozen=True, slots=True)
class SquareReturnedUnits:
    """Units of a Google line the store returned in one Square itemized refund."""

    square_refund_id: str
    line_item_id: str
    units: int
    created_at: str


@dataclass(frozen=True, slots=True)
class LinePairing:
    """How one Square return's units on one line pair with Google's customer returns."""

    line_item_id: str
    open: int  # paired with open Google units: the refund accepts those returns
    refunded: int  # paired with units Google refunded already: matched, nothing to send
    fresh: int  # nothing to pair with: a return the store started
    return_ids: tuple[str, ...]  # the Google returns the units pair with

    @property
    def to_send(self) -> int:
        return self.open + self.fresh


@dataclass(frozen=True, slots=True)
class OpenReturn:
    """Units of a Google return still waiting for the store (no Square return pairs with them)."""

    return_id: str
    order_id: str
    line_item_id: str
    units: int
    created: str


def return_units(order: Order, returns: Iterable[GoogleReturn]) -> tuple[ReturnUnit, ...]:
    """The order's pairable customer-return units (rejected/canceled left out), oldest first."""
    units = [
        ReturnUnit(ret.return_id, _line_of(order, ret, item).id, ret.created, item.state)
        for ret, item in _pairable_items(order, returns)
    ]
    return tuple(sorted(units, key=lambda u: (_sort_time(u.created), u.return_id)))


def _pairable_items(
    order: Order, returns: Iterable[GoogleReturn]
) -> Iterator[tuple[GoogleReturn, GoogleReturnItem]]:
    """The items of this order's returns in a state a Square return may pair with."""
    for ret in returns:
        if ret.order_id != order.id:
            continue
        for item in ret.items:
            if item.state in PAIRABLE_STATES:
                yield ret, item


class FollowStatus(StrEnum):
    """Where an open customer return stands for the report (``FollowedReturn.status``)."""

    OPEN = "open"  # waiting for the store: no Square itemized return pairs with it
    MATCHED = "matched"  # the store's Square return pairs with it; Google's refund not through yet


@dataclass(frozen=True, slots=True)
class FollowedReturn:
    """Units of one customer return on one line that Google's record (as last read) shows open
    and nobody has refunded yet, as the report lists them."""

    order_id: str
    return_id: str
    line_item_id: str  # "" when the return's product is on no line of the order
    units: int
    created: str
    state: str  # Google's return item state (new, received)
    shipment_state: str  # its return shipments' states ("" none yet)
    reason: str  # the customer's reason code
    square_refund_id: str = ""  # the Square itemized refund that pairs with it ("" none: open)

    @property
    def status(self) -> FollowStatus:
        return FollowStatus.MATCHED if self.square_refund_id else FollowStatus.OPEN


def followed_returns(
    order: Order,
    returns: Iterable[GoogleReturn],
    square_returns: Sequence[SquareReturnedUnits],
    refunded: Collection[str] = (),
) -> tuple[FollowedReturn, ...]:
    """The order's customer-return units Google shows open that are still waiting for money, per
    (return, line, pairing), oldest first: the open ones no Square return pairs with, and those a
    Square return took whose refund is not through (its id not in ``refunded``: the Square refunds
    whose Google refund went through). Google's record of a refunded unit may be stale (it is read
    again when the store's next refund of the order is decided), so a pairing whose refund went
    through counts as refunded whatever that record says. A return whose product is on no line is
    listed with an empty line id (nothing can pair with it), never dropped."""
    placed: list[ReturnUnit] = []
    unplaced: list[ReturnUnit] = []  # on no line of the order: nothing can pair with them
    for ret, item in _pairable_items(order, returns):
        try:
            line = _line_of(order, ret, item).id
        except RefundDataError:
            line = ""
        unit = ReturnUnit(
            ret.return_id, line, ret.created, item.state, item.shipment_state, item.customer_reason
        )
        (placed if line else unplaced).append(unit)
    units = sorted(placed, key=lambda u: (_sort_time(u.created), u.return_id))
    taken_by = {
        i: square.square_refund_id for square, indexes in _assign(units, square_returns) for i in indexes
    }
    grouped: dict[tuple[str, str, str, str, str], FollowedReturn] = {}
    for index, unit in [*enumerate(units), *((-1, u) for u in unplaced)]:
        by = taken_by.get(index, "")
        if not unit.is_open or by in refunded:
            continue
        key = (unit.return_id, unit.line_item_id, by, unit.state, unit.shipment_state)
        before = grouped.get(key)
        grouped[key] = FollowedReturn(
            order_id=order.id,
            return_id=unit.return_id,
            line_item_id=unit.line_item_id,
            units=(before.units if before else 0) + 1,
            created=unit.created,
            state=unit.state,
            shipment_state=unit.shipment_state,
            reason=unit.reason,
            square_refund_id=by,
        )
    return tuple(grouped.values())


def _line_of(order: Order, ret: GoogleReturn, item: GoogleReturnItem) -> LineItem:
    # ``itemId`` is product-level, so the product says which line: its REST id, else its offerId
    # (several lines of one product: the first; Google's own return items cannot say more).
    by_product = [li for li in order.line_items if item.product_id and li.product_id == item.product_id]
    by_offer = [li for li in order.line_items if item.offer_id and li.offer_id == item.offer_id]
    matches = by_product or by_offer
    if not matches:
        raise RefundDataError(
            f"Google return {ret.return_id}",
            "returnItems[].product",
            f"product {item.product_id or item.offer_id!r} is on no line of order {order.id}",
        )
    return matches[0]


def _assign(
    units: Sequence[ReturnUnit], square_returns: Sequence[SquareReturnedUnits]
) -> list[tuple[SquareReturnedUnits, list[int]]]:
    """Each Square return (in time order) with the indexes of the Google units it pairs with."""
    taken: set[int] = set()
    out = []
    for square in sorted(square_returns, key=lambda r: (_sort_time(r.created_at), r.square_refund_id)):
        candidates = [
            i
            for i, unit in enumerate(units)
            if unit.line_item_id == square.line_item_id
            and i not in taken
            and _not_after(unit.created, square.created_at)
        ][: max(0, square.units)]
        taken.update(candidates)
        out.append((square, candidates))
    return out


def pairing_of(
    units: Sequence[ReturnUnit], history: Sequence[SquareReturnedUnits], current: SquareReturnedUnits
) -> LinePairing:
    """How ``current`` pairs, after the Square returns reported before it (``history``) took theirs."""
    earlier = [h for h in history if h.square_refund_id != current.square_refund_id]
    for square, indexes in _assign(units, [*earlier, current]):
        if square is current:
            paired = [units[i] for i in indexes]
            return LinePairing(
                line_item_id=current.line_item_id,
                open=sum(1 for u in paired if u.is_open),
                refunded=sum(1 for u in paired if not u.is_open),
                fresh=current.units - len(paired),
                return_ids=tuple(dict.fromkeys(u.return_id for u in paired)),
            )
    raise AssertionError("unreachable: current is among the assigned returns")


def open_returns(
    order: Order, returns: Iterable[GoogleReturn], square_returns: Sequence[SquareReturnedUnits]
) -> tuple[OpenReturn, ...]:
    """Open Google return units no Square return pairs with, per (return, line), oldest first."""
    units = return_units(order, returns)
    taken = {i for _square, indexes in _assign(units, square_returns) for i in indexes}
    left: dict[tuple[str, str], OpenReturn] = {}
    for index, unit in enumerate(units):
        if index in taken or not unit.is_open:
            continue
        key = (unit.return_id, unit.line_item_id)
        before = left.get(key)
        left[key] = OpenReturn(
            unit.return_id, order.id, unit.line_item_id, (before.units if before else 0) + 1, unit.created
        )
    return tuple(left.values())


def _when(text: str) -> datetime | None:
    try:
        return parse_datetime(text) if text else None
    except ValueError:
        return None


def _sort_time(text: str) -> tuple[int, datetime | str]:
    when = _when(text)
    return (0, text) if when is None else (1, when)


def _not_after(google_created: str, square_created: str) -> bool:
    google, square = _when(google_created), _when(square_created)
    return google is None or square is None or google <= square
