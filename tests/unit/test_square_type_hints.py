"""The squareup serializer's type-hint cache changes how fast requests are built, never what."""

from __future__ import annotations

import copy
import typing

import typing_extensions
from square.core import serialization
from square.orders import raw_client as orders_raw_client
from square.requests.order import OrderParams

from sync.adapters import square_type_hints
from sync.domain.square_mapping import MappingOptions, google_to_square_order

from .fixtures_google import google_order


def test_serialized_requests_are_the_same_with_the_cache() -> None:
    body = google_to_square_order(google_order(), MappingOptions("L1", "SHIPMENT"))
    assert square_type_hints.install()
    cached = serialization.typing_extensions
    assert isinstance(cached, square_type_hints._CachedTypeHints)
    with_cache = serialization.convert_and_respect_annotation_metadata(
        object_=copy.deepcopy(body), annotation=OrderParams, direction="write"
    )
    serialization.typing_extensions = typing_extensions  # the SDK as shipped
    try:
        as_shipped = serialization.convert_and_respect_annotation_metadata(
            object_=copy.deepcopy(body), annotation=OrderParams, direction="write"
        )
    finally:
        serialization.typing_extensions = cached
    assert with_cache == as_shipped
    assert with_cache["line_items"] and with_cache["fulfillments"]


def test_hints_are_resolved_once_per_type_and_install_is_idempotent() -> None:
    calls: list[object] = []

    class Counting:
        __name__ = "typing_extensions"
        __doc__ = None

        @staticmethod
        def get_type_hints(obj: object, globalns: object = None, localns: object = None,
                           include_extras: bool = False) -> dict[str, object]:
            calls.append(obj)
            return typing.get_type_hints(obj, include_extras=include_extras)

    fake = square_type_hints._CachedTypeHints(typing_extensions)
    fake._inner = Counting  # type: ignore[assignment]  # counts the resolutions that reach it
    for _ in range(3):
        assert fake.get_type_hints(OrderParams, include_extras=True) == typing_extensions.get_type_hints(
            OrderParams, include_extras=True
        )
    assert calls == [OrderParams]
    assert fake.get_origin is typing_extensions.get_origin  # everything else is the module's own
    assert square_type_hints.install() and square_type_hints.install()
    assert not isinstance(serialization.typing_extensions._inner, square_type_hints._CachedTypeHints)


def test_bodies_in_wire_names_skip_the_walk_and_come_out_the_same() -> None:
    assert square_type_hints.install()
    body = google_to_square_order(google_order(), MappingOptions("L1", "SHIPMENT"))
    assert "address_line_1" in str(body)  # the mapping writes Square's wire names
    convert = orders_raw_client.convert_and_respect_annotation_metadata
    as_shipped = convert.__wrapped__(object_=copy.deepcopy(body), annotation=OrderParams, direction="write")
    fast = convert(object_=body, annotation=OrderParams, direction="write")
    assert fast is body  # not walked
    assert fast == as_shipped


def test_a_body_with_a_field_the_type_renames_still_goes_through_the_sdk() -> None:
    assert square_type_hints.install()
    assert "address_line1" in (square_type_hints.aliased_field_names(OrderParams) or ())
    address = {"address_line1": "1 Main St"}
    body = {"fulfillments": [{"shipment_details": {"recipient": {"address": address}}}]}
    out = orders_raw_client.convert_and_respect_annotation_metadata(
        object_=body, annotation=OrderParams, direction="write"
    )
    sent = out["fulfillments"][0]["shipment_details"]["recipient"]["address"]
    assert sent == {"address_line_1": "1 Main St"}
