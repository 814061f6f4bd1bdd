"""Google customer returns paired with Square returns; the open ones (sync.domain.refunds.returns)."""

from __future__ import annotations

import pytest

from sync.domain.refunds.records import RefundDataError, google_return
from sync.domain.refunds.returns import SquareReturnedUnits, open_returns, pairing_of, return_units
from tests.unit.refund_fixtures import delivered_order, google_return_raw, order_of


def test_return_units_sit_on_the_line_of_their_product_oldest_first() -> None:
    order = order_of(delivered_order())
    later = google_return_raw("R-2", [("sku-b", "new")], created="2026-11-24T12:00:00Z")
    first = google_return_raw("R-1", [("sku-a", "received"), ("sku-a", "rejected")])
    raw = google_return_raw("R-3", [("sku-a", "canceled")])
    units = return_units(order, [google_return(later), google_return(first), google_return(raw)])
    assert [(u.return_id, u.line_item_id, u.state) for u in units] == [
        ("R-1", "LI-A", "received"),
        ("R-2", "LI-B", "new"),
    ]  # rejected and canceled units never pair
    # By offerId when the product id differs (itemId is product-level; the offer is the merchant's).
    by_offer = google_return_raw("R-4", [("sku-b", "new")])
    by_offer["returnItems"][0]["product"]["id"] = "local:en:US:sku-b"
    assert return_units(order, [google_return(by_offer)])[0].line_item_id == "LI-B"
    other_order = google_return(google_return_raw("R-5", [("sku-a", "new")], order_id="OTHER"))
    assert return_units(order, [other_order]) == ()
    unknown = google_return_raw("R-6", [("sku-z", "new")])
    with pytest.raises(RefundDataError, match="sku-z"):
        return_units(order, [google_return(unknown)])


def test_square_returns_pair_in_time_order_with_units_created_before_them() -> None:
    order = order_of(delivered_order())
    returns = [
        google_return(google_return_raw("R-1", [("sku-a", "refunded")], created="2026-11-20T00:00:00Z")),
        google_return(google_return_raw("R-2", [("sku-a", "new")], created="2026-11-23T00:00:00Z")),
    ]
    units = return_units(order, returns)
    early = SquareReturnedUnits("S-1", "LI-A", 1, "2026-11-21T00:00:00Z")
    late = SquareReturnedUnits("S-2", "LI-A", 1, "2026-11-24T00:00:00Z")
    # S-1 (after R-1, before R-2) takes R-1's unit; S-2 then takes R-2's.
    assert pairing_of(units, [], early).refunded == 1
    second = pairing_of(units, [early], late)
    assert (second.open, second.refunded, second.fresh, second.return_ids) == (1, 0, 0, ("R-2",))
    # Reported in the other order, the result is the same: pairing follows time, not arrival.
    assert pairing_of(units, [late], early).return_ids == ("R-1",)
    # A Square return older than every Google return pairs with none: the store started it.
    oldest = SquareReturnedUnits("S-0", "LI-A", 2, "2026-11-19T00:00:00Z")
    assert pairing_of(units, [], oldest).fresh == 2


def test_open_returns_are_the_open_units_no_square_return_took() -> None:
    order = order_of(delivered_order())
    returns = [
        google_return(google_return_raw("R-1", [("sku-a", "new"), ("sku-a", "new"), ("sku-b", "received")])),
        google_return(google_return_raw("R-2", [("sku-b", "refunded")], created="2026-11-25T00:00:00Z")),
    ]
    assert [(o.return_id, o.line_item_id, o.units) for o in open_returns(order, returns, [])] == [
        ("R-1", "LI-A", 2),
        ("R-1", "LI-B", 1),
    ]
    took_one = [SquareReturnedUnits("S-1", "LI-A", 1, "2026-11-26T00:00:00Z")]
    left = open_returns(order, returns, took_one)
    assert [(o.return_id, o.line_item_id, o.units) for o in left] == [("R-1", "LI-A", 1), ("R-1", "LI-B", 1)]
    assert left[0].order_id == order.id and left[0].created == "2026-11-24T09:00:00Z"
