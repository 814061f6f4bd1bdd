"""The Square emulator over real HTTP, driven by the official SDK (and raw httpx for wire details)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from square import Square
from square.core.api_error import ApiError
from werkzeug.serving import make_server

from sync.sandbox.square.models import SquareBackend
from sync.sandbox.square.routes import make_app
from sync.sandbox.stats import Stats
from sync.sandbox.store import MemoryStore, SqliteStore, StateStore

from .square_sdk import pay_external

LOC = "L_SANDBOX_MAIN"
NO_RETRY: Any = {"max_retries": 0}


@dataclass
class SquareServer:
    url: str
    backend: SquareBackend
    stats: Stats

    def client(self, token: str = "EAAA-test-token") -> Square:
        return Square(token=token, base_url=self.url, timeout=10)


def _serve(store: StateStore, tokens: set[str] | None = None) -> Iterator[SquareServer]:
    stats = Stats()
    backend = SquareBackend(store, stats)
    server = make_server("127.0.0.1", 0, make_app(backend, stats, tokens), threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield SquareServer(f"http://127.0.0.1:{server.server_port}", backend, stats)
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture
def square_server() -> Iterator[SquareServer]:
    yield from _serve(MemoryStore())


@pytest.fixture
def sq(square_server: SquareServer) -> Square:
    return square_server.client()


def usd(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": "USD"}


def simple_order(**extra: Any) -> dict[str, Any]:
    return {
        "location_id": LOC,
        "line_items": [{"name": "Widget", "quantity": "2", "base_price_money": usd(1250)}],
        **extra,
    }


def shipment(**extra: Any) -> dict[str, Any]:
    return {"type": "SHIPMENT", "shipment_details": {"recipient": {"display_name": "Jane Doe"}}, **extra}


def api_error(fn: Any, *args: Any, **kwargs: Any) -> ApiError:
    with pytest.raises(ApiError) as info:
        fn(*args, request_options=NO_RETRY, **kwargs)
    return info.value


def create(sq: Square, key: str, **order: Any) -> Any:
    return sq.orders.create(idempotency_key=key, order=simple_order(**order)).order


# ---- locations, auth, wire format --------------------------------------------------------------
def test_list_locations(sq: Square) -> None:
    locations = sq.locations.list().locations
    assert locations and locations[0].id == LOC
    assert locations[0].status == "ACTIVE" and locations[0].currency == "USD"


def test_auth_required_and_token_list() -> None:
    gen = _serve(MemoryStore(), tokens={"good-token"})
    server = next(gen)
    try:
        raw = httpx.get(f"{server.url}/v2/locations")
        assert raw.status_code == 401
        assert raw.json()["errors"][0] == {
            "category": "AUTHENTICATION_ERROR",
            "code": "UNAUTHORIZED",
            "detail": "This request could not be authorized.",
        }
        err = api_error(server.client("bad-token").locations.list)
        assert err.status_code == 401 and err.errors[0].code == "UNAUTHORIZED"
        assert server.client("good-token").locations.list().locations
    finally:
        gen.close()


def test_errors_are_json_in_squares_shape(square_server: SquareServer) -> None:
    headers = {"Authorization": "Bearer t"}
    bad_json = httpx.post(f"{square_server.url}/v2/orders", content=b"{nope", headers=headers)
    assert bad_json.status_code == 400 and bad_json.json()["errors"][0]["code"] == "BAD_REQUEST"
    unknown = httpx.get(f"{square_server.url}/v2/nothing-here", headers=headers)
    assert unknown.status_code == 404 and unknown.headers["content-type"].startswith("application/json")
    missing = httpx.post(
        f"{square_server.url}/v2/orders", json={"order": {"line_items": []}}, headers=headers
    )
    assert missing.status_code == 400
    assert missing.json()["errors"][0] == {
        "category": "INVALID_REQUEST_ERROR",
        "code": "MISSING_REQUIRED_PARAMETER",
        "detail": "Missing required parameter order.location_id.",
        "field": "order.location_id",
    }


def test_explicit_nulls_are_accepted(square_server: SquareServer) -> None:
    body = {
        "idempotency_key": None,
        "order": {
            **simple_order(),
            "reference_id": None,
            "customer_id": None,
            "fulfillments": None,
            "taxes": None,
        },
    }
    resp = httpx.post(f"{square_server.url}/v2/orders", json=body, headers={"Authorization": "Bearer t"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["order"]["total_money"] == usd(2500)
    search = square_server.client().orders.search(location_ids=[LOC], cursor=None, limit=None, query=None)
    assert len(search.orders or []) == 1


# ---- create and money --------------------------------------------------------------------------
def test_worked_example_through_the_api(sq: Square) -> None:
    """square-orders.md worked example via CreateOrder (same numbers as the unit test):

    gross 1599 + 4000 = 5599; 5 % ORDER discount 280 -> 80 + 200; 100 LINE_ITEM discount on
    the ribeye; 9 % ORDER tax on 1519 + 3700 = 5219 -> 469.71 -> 470 -> 137 + 333;
    line totals 1656 and 4033, order total 5689.
    """
    order = sq.orders.create(
        idempotency_key="worked-1",
        order={
            "location_id": LOC,
            "reference_id": "my-order-001",
            "line_items": [
                {"name": "New York Strip Steak", "quantity": "1", "base_price_money": usd(1599)},
                {
                    "name": "Ribeye",
                    "quantity": "2",
                    "base_price_money": usd(2000),
                    "applied_discounts": [{"discount_uid": "one-dollar-off"}],
                },
            ],
            "discounts": [
                {"uid": "labor-day-sale", "name": "Labor Day Sale", "percentage": "5", "scope": "ORDER"},
                {
                    "uid": "one-dollar-off",
                    "name": "Sale - $1.00 off",
                    "amount_money": usd(100),
                    "scope": "LINE_ITEM",
                },
            ],
            "taxes": [
                {"uid": "state-sales-tax", "name": "State Sales Tax", "percentage": "9", "scope": "ORDER"}
            ],
        },
    ).order
    steak, ribeye = order.line_items
    assert (
        steak.gross_sales_money.amount,
        steak.total_discount_money.amount,
        steak.total_tax_money.amount,
        steak.total_money.amount,
    ) == (1599, 80, 137, 1656)
    assert (
        ribeye.gross_sales_money.amount,
        ribeye.total_discount_money.amount,
        ribeye.total_tax_money.amount,
        ribeye.total_money.amount,
    ) == (4000, 300, 333, 4033)
    assert ribeye.variation_total_price_money.amount == 4000
    assert (order.total_money.amount, order.total_tax_money.amount, order.total_discount_money.amount) == (
        5689,
        470,
        380,
    )
    assert order.net_amounts.total_money.amount == 5689
    assert order.taxes[0].type == "ADDITIVE" and order.discounts[0].type == "FIXED_PERCENTAGE"
    assert order.state == "OPEN" and order.version == 1 and order.reference_id == "my-order-001"
    assert steak.uid and ribeye.uid and steak.uid != ribeye.uid


def test_catalog_line_items(square_server: SquareServer, sq: Square) -> None:
    known = sq.orders.create(
        order={"location_id": LOC, "line_items": [{"catalog_object_id": "SANDBOX_VAR_MUG", "quantity": "3"}]}
    ).order
    assert known.line_items[0].name == "Coffee mug" and known.total_money.amount == 3 * 1299
    # "base_price_money will override the CatalogItemVariation's price" (OrderLineItem reference).
    priced = sq.orders.create(
        order={
            "location_id": LOC,
            "line_items": [
                {"catalog_object_id": "SANDBOX_VAR_MUG", "quantity": "1", "base_price_money": usd(777)}
            ],
        }
    ).order
    assert priced.total_money.amount == 777 and priced.line_items[0].variation_name == "Regular"
    # An id the catalog does not know is refused, a given price or not (issue 14 item 5).
    for line in (
        {"catalog_object_id": "UNKNOWN", "quantity": "1"},
        {
            "catalog_object_id": "SELLER_SKU_42",
            "name": "Seller item",
            "quantity": "1",
            "base_price_money": usd(777),
        },
    ):
        err = api_error(sq.orders.create, order={"location_id": LOC, "line_items": [line]})
        assert (err.status_code, err.errors[0].code) == (404, "NOT_FOUND")
        assert err.errors[0].field == "order.line_items[0].catalog_object_id"
    square_server.backend.add_catalog_item("UNKNOWN", "Now known", 55)
    assert (
        sq.orders.create(
            order={"location_id": LOC, "line_items": [{"catalog_object_id": "UNKNOWN", "quantity": "2"}]}
        ).order.total_money.amount
        == 110
    )


def test_create_is_idempotent(square_server: SquareServer, sq: Square) -> None:
    first = create(sq, "idem-1", reference_id="G-1")
    again = create(sq, "idem-1", reference_id="G-1")
    assert again.id == first.id and again.version == first.version
    assert square_server.stats.mutations["square.orders.create"] == 1
    assert square_server.stats.requests["square.orders.create"] == 2
    err = api_error(sq.orders.create, idempotency_key="idem-1", order=simple_order(reference_id="G-2"))
    assert err.status_code == 400
    assert (err.errors[0].code, err.errors[0].category, err.errors[0].field) == (
        "IDEMPOTENCY_KEY_REUSED",
        "INVALID_REQUEST_ERROR",
        "idempotency_key",
    )
    long_key = api_error(sq.orders.create, idempotency_key="k" * 193, order=simple_order())
    assert long_key.errors[0].code == "VALUE_TOO_LONG"


def test_concurrent_creates_with_one_key_make_one_order(square_server: SquareServer) -> None:
    client = square_server.client()
    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = set(pool.map(lambda _: create(client, "race-key").id, range(16)))
    assert len(ids) == 1
    assert square_server.stats.mutations["square.orders.create"] == 1


# ---- versions, sparse updates, fulfilments --------------------------------------------------------
def test_update_versions_sparse_and_fields_to_clear(sq: Square) -> None:
    order = create(sq, "u-1", reference_id="R1", fulfillments=[shipment()])
    line_uid = order.line_items[0].uid
    updated = sq.orders.update(
        order.id,
        idempotency_key="u-1a",
        order={
            "location_id": LOC,
            "version": 1,
            "line_items": [
                {"uid": line_uid, "note": "gift wrap", "quantity": "3"},
                {"name": "Extra", "quantity": "1", "base_price_money": usd(100)},
            ],
        },
    ).order
    assert updated.version == 2 and len(updated.line_items) == 2
    assert updated.line_items[0].note == "gift wrap" and updated.total_money.amount == 3 * 1250 + 100
    assert updated.updated_at > order.updated_at and updated.created_at == order.created_at
    replay = sq.orders.update(
        order.id,
        idempotency_key="u-1a",
        order={
            "location_id": LOC,
            "version": 1,
            "line_items": [
                {"uid": line_uid, "note": "gift wrap", "quantity": "3"},
                {"name": "Extra", "quantity": "1", "base_price_money": usd(100)},
            ],
        },
    ).order
    assert replay.version == 2 and len(replay.line_items) == 2
    stale = api_error(
        sq.orders.update, order.id, order={"location_id": LOC, "version": 1, "reference_id": "x"}
    )
    assert stale.status_code == 400 and stale.errors[0].code == "VERSION_MISMATCH"
    assert stale.errors[0].field == "order.version"
    extra_uid = updated.line_items[1].uid
    cleared = sq.orders.update(
        order.id,
        order={"location_id": LOC, "version": 2},
        fields_to_clear=[f"line_items[{line_uid}].note", f"line_items[{extra_uid}]", "reference_id"],
    ).order
    assert cleared.version == 3 and cleared.reference_id is None
    assert len(cleared.line_items) == 1 and cleared.line_items[0].note is None
    assert cleared.total_money.amount == 3 * 1250
    missing = api_error(sq.orders.update, order.id, order={"location_id": LOC, "reference_id": "x"})
    assert missing.errors[0].field == "order.version"


def test_fulfilment_state_machine_and_timestamps(sq: Square) -> None:
    order = create(sq, "f-1", fulfillments=[shipment()])
    f = order.fulfillments[0]
    assert f.state == "PROPOSED" and f.line_item_application == "ALL"
    assert f.shipment_details.placed_at
    version = order.version
    for state, stamp in (("RESERVED", "in_progress_at"), ("PREPARED", "packaged_at")):
        order = sq.orders.update(
            order.id,
            order={"location_id": LOC, "version": version, "fulfillments": [{"uid": f.uid, "state": state}]},
        ).order
        version = order.version
        assert order.fulfillments[0].state == state
        assert getattr(order.fulfillments[0].shipment_details, stamp)
    back = api_error(
        sq.orders.update,
        order.id,
        order={"location_id": LOC, "version": version, "fulfillments": [{"uid": f.uid, "state": "PROPOSED"}]},
    )
    assert back.status_code == 400 and back.errors[0].field == "order.fulfillments[0].state"
    order = sq.orders.update(
        order.id,
        order={
            "location_id": LOC,
            "version": version,
            "fulfillments": [
                {
                    "uid": f.uid,
                    "state": "COMPLETED",
                    "shipment_details": {"tracking_number": "1Z999", "carrier": "UPS"},
                }
            ],
        },
    ).order
    details = order.fulfillments[0].shipment_details
    assert details.shipped_at and details.tracking_number == "1Z999"
    assert details.recipient.display_name == "Jane Doe"  # sparse: untouched fields survive
    assert order.state == "OPEN"  # not paid, so not completed
    reopen = api_error(
        sq.orders.update,
        order.id,
        order={
            "location_id": LOC,
            "version": order.version,
            "fulfillments": [{"uid": f.uid, "state": "CANCELED"}],
        },
    )
    assert reopen.errors[0].code == "INVALID_VALUE"


def test_one_api_fulfilment_and_type_change(sq: Square) -> None:
    two = api_error(sq.orders.create, order=simple_order(fulfillments=[shipment(), shipment()]))
    assert two.errors[0].field == "order.fulfillments"
    delivery = api_error(sq.orders.create, order=simple_order(fulfillments=[{"type": "DELIVERY"}]))
    assert delivery.errors[0].field == "order.fulfillments[0].type"
    order = create(sq, "t-1", fulfillments=[shipment()])
    uid = order.fulfillments[0].uid
    pickup = {
        "type": "PICKUP",
        "pickup_details": {"recipient": {"display_name": "J"}, "schedule_type": "ASAP"},
    }
    second = api_error(
        sq.orders.update, order.id, order={"location_id": LOC, "version": 1, "fulfillments": [pickup]}
    )
    assert second.status_code == 400
    retype = api_error(
        sq.orders.update,
        order.id,
        order={"location_id": LOC, "version": 1, "fulfillments": [{"uid": uid, "type": "PICKUP"}]},
    )
    assert retype.errors[0].field == "order.fulfillments[0].type"
    order = sq.orders.update(
        order.id,
        order={"location_id": LOC, "version": 1, "fulfillments": [{"uid": uid, "state": "CANCELED"}, pickup]},
    ).order
    assert [(f.type, f.state) for f in order.fulfillments] == [
        ("SHIPMENT", "CANCELED"),
        ("PICKUP", "PROPOSED"),
    ]
    assert order.fulfillments[0].shipment_details.canceled_at


def test_split_fulfilments_with_entries(sq: Square) -> None:
    order = sq.orders.create(
        order={
            "location_id": LOC,
            "line_items": [
                {"name": "A", "quantity": "2", "base_price_money": usd(100)},
                {"name": "B", "quantity": "1", "base_price_money": usd(200)},
            ],
            "fulfillments": [shipment()],
        }
    ).order
    a, b = (li.uid for li in order.line_items)
    uid = order.fulfillments[0].uid
    order = sq.orders.update(
        order.id,
        order={
            "location_id": LOC,
            "version": 1,
            "fulfillments": [
                {
                    "uid": uid,
                    "line_item_application": "ENTRY_LIST",
                    "entries": [{"line_item_uid": a, "quantity": "2"}],
                },
                shipment(line_item_application="ENTRY_LIST", entries=[{"line_item_uid": b, "quantity": "1"}]),
            ],
        },
    ).order
    assert len(order.fulfillments) == 2
    assert [e.line_item_uid for f in order.fulfillments for e in f.entries] == [a, b]
    too_many = api_error(
        sq.orders.update,
        order.id,
        order={
            "location_id": LOC,
            "version": 2,
            "fulfillments": [
                shipment(line_item_application="ENTRY_LIST", entries=[{"line_item_uid": b, "quantity": "5"}])
            ],
        },
    )
    assert too_many.errors[0].field == "order.fulfillments[2].entries[0].quantity"


def test_draft_rules(sq: Square) -> None:
    draft = create(sq, "d-1", state="DRAFT", fulfillments=[shipment()])
    assert draft.state == "DRAFT" and draft.fulfillments[0].shipment_details.placed_at is None
    uid = draft.fulfillments[0].uid
    blocked = api_error(
        sq.orders.update,
        draft.id,
        order={"location_id": LOC, "version": 1, "fulfillments": [{"uid": uid, "state": "RESERVED"}]},
    )
    assert "DRAFT" in blocked.errors[0].detail
    pay = api_error(
        sq.payments.create,
        source_id="EXTERNAL",
        idempotency_key="dp",
        amount_money=usd(2500),
        order_id=draft.id,
        external_details={"type": "OTHER", "source": "x"},
    )
    assert pay.status_code == 400
    opened = sq.orders.update(
        draft.id,
        order={
            "location_id": LOC,
            "version": 1,
            "state": "OPEN",
            "fulfillments": [{"uid": uid, "state": "RESERVED"}],
        },
    ).order
    assert opened.state == "OPEN" and opened.fulfillments[0].state == "RESERVED"
    assert opened.fulfillments[0].shipment_details.placed_at
    back = api_error(sq.orders.update, draft.id, order={"location_id": LOC, "version": 2, "state": "DRAFT"})
    assert back.status_code == 400


def test_cancel_and_complete_rules(sq: Square) -> None:
    order = create(sq, "c-1", fulfillments=[shipment()])
    early = api_error(
        sq.orders.update, order.id, order={"location_id": LOC, "version": 1, "state": "COMPLETED"}
    )
    assert early.status_code == 400
    canceled = sq.orders.update(order.id, order={"location_id": LOC, "version": 1, "state": "CANCELED"}).order
    assert canceled.state == "CANCELED" and canceled.closed_at
    assert canceled.fulfillments[0].state == "CANCELED"
    frozen = api_error(
        sq.orders.update, order.id, order={"location_id": LOC, "version": 2, "reference_id": "x"}
    )
    assert frozen.status_code == 400


# ---- payments ------------------------------------------------------------------------------------
def test_pay_order_with_external_payments(square_server: SquareServer, sq: Square) -> None:
    order = create(sq, "p-1", fulfillments=[shipment()])
    first = pay_external(sq, order, "pay-a", 1000, autocomplete=False)
    assert first.status == "APPROVED" and first.source_type == "EXTERNAL" and first.order_id == order.id
    assert pay_external(sq, order, "pay-a", 1000, autocomplete=False).id == first.id  # idempotent
    over = api_error(
        sq.payments.create,
        source_id="EXTERNAL",
        idempotency_key="pay-over",
        amount_money=usd(1501),
        order_id=order.id,
        external_details={"type": "OTHER", "source": "x"},
    )
    assert over.errors[0].code == "PAYMENT_AMOUNT_MISMATCH"
    second = pay_external(sq, order, "pay-b", 1500, autocomplete=False)
    short = api_error(sq.orders.pay, order.id, idempotency_key="po-short", payment_ids=[first.id])
    assert short.status_code == 400 and short.errors[0].code == "PAYMENT_AMOUNT_MISMATCH"
    paid = sq.orders.pay(order.id, idempotency_key="po-1", payment_ids=[first.id, second.id]).order
    assert paid.state == "OPEN" and paid.version == 2
    assert sorted(t.amount_money.amount for t in paid.tenders) == [1000, 1500]
    assert paid.net_amount_due_money.amount == 0
    assert sq.payments.get(first.id).payment.status == "COMPLETED"
    again = sq.orders.pay(order.id, idempotency_key="po-1", payment_ids=[first.id, second.id]).order
    assert again.version == 2
    assert square_server.stats.mutations["square.orders.pay"] == 1
    assert square_server.stats.mutations["square.payments.create"] == 2
    done = sq.orders.update(
        order.id,
        order={
            "location_id": LOC,
            "version": 2,
            "fulfillments": [{"uid": order.fulfillments[0].uid, "state": "COMPLETED"}],
        },
    ).order
    assert done.state == "COMPLETED" and done.closed_at


def test_autocompleted_payment_becomes_a_tender(sq: Square) -> None:
    order = create(sq, "p-2")
    payment = pay_external(sq, order, "auto-1")
    assert payment.status == "COMPLETED"
    current = sq.orders.get(order.id).order
    assert current.tenders[0].payment_id == payment.id and current.version == 2
    assert current.net_amount_due_money.amount == 0
    assert sq.orders.pay(order.id, idempotency_key="noop", payment_ids=[payment.id]).order.version == 2
    wrong = api_error(
        sq.payments.create,
        source_id="cnon:card",
        idempotency_key="card-1",
        amount_money=usd(1),
        external_details={"type": "OTHER", "source": "x"},
    )
    assert wrong.errors[0].field == "source_id"
    assert api_error(sq.payments.get, "missing").status_code == 404


# ---- retrieve, search, calculate, clone ---------------------------------------------------------
def test_retrieve_and_batch_retrieve(sq: Square) -> None:
    a, b = create(sq, "r-1"), create(sq, "r-2")
    assert sq.orders.get(a.id).order.id == a.id
    found = sq.orders.batch_get(order_ids=[a.id, "missing", b.id]).orders
    assert [o.id for o in found] == [a.id, b.id]
    err = api_error(sq.orders.get, "missing")
    assert err.status_code == 404 and err.errors[0].code == "NOT_FOUND"


def test_search_filters_sort_and_entries(sq: Square) -> None:
    o1 = create(sq, "s-1", source={"name": "Google"}, fulfillments=[shipment()])
    o2 = create(sq, "s-2", fulfillments=[{"type": "PICKUP", "pickup_details": {"schedule_type": "ASAP"}}])
    draft = create(sq, "s-3", state="DRAFT")
    o1 = sq.orders.update(o1.id, order={"location_id": LOC, "version": 1, "reference_id": "touched"}).order

    def ids(**kwargs: Any) -> list[str]:
        return [o.id for o in sq.orders.search(location_ids=[LOC], **kwargs).orders or []]

    assert ids() == [o2.id, o1.id]  # default CREATED_AT DESC, no DRAFT
    assert ids(query={"filter": {"state_filter": {"states": ["DRAFT"]}}}) == [draft.id]
    assert ids(query={"sort": {"sort_field": "UPDATED_AT", "sort_order": "ASC"}}) == [o2.id, o1.id]
    assert ids(query={"filter": {"source_filter": {"source_names": ["Google"]}}}) == [o1.id]
    assert ids(
        query={
            "filter": {
                "fulfillment_filter": {"fulfillment_types": ["PICKUP"], "fulfillment_states": ["PROPOSED"]}
            }
        }
    ) == [o2.id]
    assert ids(
        query={
            "filter": {"date_time_filter": {"updated_at": {"start_at": o1.updated_at}}},
            "sort": {"sort_field": "UPDATED_AT", "sort_order": "ASC"},
        }
    ) == [o1.id]
    # Both ends of a range are inclusive (SearchOrdersDateTimeFilter).
    assert ids(query={"filter": {"date_time_filter": {"created_at": {"end_at": o2.created_at}}}}) == [
        o2.id,
        o1.id,
    ]
    assert ids(
        query={
            "filter": {
                "date_time_filter": {"created_at": {"start_at": o1.created_at, "end_at": o1.created_at}}
            }
        }
    ) == [o1.id]
    mismatch = api_error(
        sq.orders.search,
        location_ids=[LOC],
        query={"filter": {"date_time_filter": {"updated_at": {"start_at": o1.updated_at}}}},
    )
    assert mismatch.status_code == 400 and mismatch.errors[0].field == "query.sort.sort_field"
    entries = sq.orders.search(location_ids=[LOC], return_entries=True)
    assert entries.orders is None
    assert [(e.order_id, e.version, e.location_id) for e in entries.order_entries] == [
        (o2.id, 1, LOC),
        (o1.id, 2, LOC),
    ]
    assert api_error(sq.orders.search, query={}).errors[0].field == "location_ids"
    assert sq.orders.search(location_ids=["OTHER"]).orders in (None, [])


def test_search_cursor_is_stable_under_concurrent_updates(sq: Square) -> None:
    orders = [create(sq, f"cur-{i}") for i in range(7)]
    sort = {"sort": {"sort_field": "UPDATED_AT", "sort_order": "ASC"}}
    page = sq.orders.search(location_ids=[LOC], query=sort, limit=3)
    seen = [o.id for o in page.orders]
    assert seen == [o.id for o in orders[:3]] and page.cursor
    # An order already seen and one not yet seen change while the walk is under way.
    sq.orders.update(orders[0].id, order={"location_id": LOC, "version": 1, "reference_id": "moved"})
    sq.orders.update(orders[4].id, order={"location_id": LOC, "version": 1, "reference_id": "moved"})
    cursor = page.cursor
    for _ in range(10):  # bounded
        if not cursor:
            break
        page = sq.orders.search(location_ids=[LOC], query=sort, limit=3, cursor=cursor)
        seen += [o.id for o in page.orders or []]
        cursor = page.cursor
    assert cursor is None
    assert set(seen) == {o.id for o in orders}  # nothing skipped
    assert seen.count(orders[4].id) == 1 and seen.count(orders[0].id) == 2  # updated ones come again
    other_query = api_error(sq.orders.search, location_ids=[LOC], limit=3, cursor=page.cursor or "garbage")
    assert other_query.errors[0].code == "INVALID_CURSOR"


def test_search_limit_bounds(square_server: SquareServer, sq: Square) -> None:
    for i in range(3):
        create(sq, f"lim-{i}")
    assert len(sq.orders.search(location_ids=[LOC], limit=5000).orders) == 3  # capped, not an error
    assert api_error(sq.orders.search, location_ids=[LOC], limit=0).errors[0].field == "limit"


def test_calculate_persists_nothing(square_server: SquareServer, sq: Square) -> None:
    calc = sq.orders.calculate(
        order={
            "location_id": LOC,
            "line_items": [{"name": "x", "quantity": "2", "base_price_money": usd(5)}],
            "taxes": [{"uid": "t", "name": "t", "percentage": "25"}],
        }
    ).order
    # 2 x 5 = 10; 25 % tax = 2.5 -> 2 (half to even)
    assert calc.total_money.amount == 12 and calc.total_tax_money.amount == 2 and calc.id is None
    assert sq.orders.search(location_ids=[LOC]).orders in (None, [])
    assert sum(square_server.stats.mutations.values()) == 0


def test_clone_copies_documented_fields_only(square_server: SquareServer, sq: Square) -> None:
    source = sq.orders.create(
        idempotency_key="cl-src",
        order={
            "location_id": LOC,
            "reference_id": "REF-1",
            "customer_id": "CUST-1",
            "metadata": {"k": "v"},
            "line_items": [
                {
                    "name": "x",
                    "quantity": "1",
                    "base_price_money": usd(1000),
                    "applied_discounts": [{"discount_uid": "d"}],
                }
            ],
            "discounts": [{"uid": "d", "name": "d", "amount_money": usd(100), "scope": "LINE_ITEM"}],
            "taxes": [{"uid": "t", "name": "t", "percentage": "10"}],
            "fulfillments": [shipment()],
        },
    ).order
    pay_external(sq, source, "cl-pay")
    source = sq.orders.get(source.id).order
    stale = api_error(sq.orders.clone, order_id=source.id, version=1, idempotency_key="cl-stale")
    assert stale.errors[0].code == "VERSION_MISMATCH"
    clone = sq.orders.clone(order_id=source.id, version=source.version, idempotency_key="cl-1").order
    assert clone.id != source.id and clone.state == "DRAFT" and clone.version == 1
    assert clone.customer_id == "CUST-1" and clone.location_id == LOC
    assert clone.reference_id is None and clone.fulfillments is None and clone.tenders is None
    assert clone.metadata is None
    assert clone.total_money.amount == source.total_money.amount == 990
    assert [li.name for li in clone.line_items] == ["x"]
    assert clone.created_at > source.created_at
    again = sq.orders.clone(order_id=source.id, version=source.version, idempotency_key="cl-1").order
    assert again.id == clone.id
    assert square_server.stats.mutations["square.orders.clone"] == 1


# ---- persistence ---------------------------------------------------------------------------------
def test_state_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    store = SqliteStore(path)
    gen = _serve(store)
    server = next(gen)
    sq = server.client()
    order = create(sq, "persist-1", fulfillments=[shipment()])
    payment = pay_external(sq, order, "persist-pay", autocomplete=False)
    server.backend.add_catalog_item("SKU_PERSIST", "Persisted", 42)
    gen.close()
    store.close()

    store = SqliteStore(path)
    gen = _serve(store)
    server = next(gen)
    sq = server.client()
    try:
        assert sq.orders.get(order.id).order.version == 1
        assert create(sq, "persist-1", fulfillments=[shipment()]).id == order.id  # idempotency survives
        assert sq.payments.get(payment.id).payment.status == "APPROVED"
        paid = sq.orders.pay(order.id, idempotency_key="persist-po", payment_ids=[payment.id]).order
        assert paid.version == 2 and paid.updated_at > order.updated_at
        assert (
            sq.orders.create(
                order={
                    "location_id": LOC,
                    "line_items": [{"catalog_object_id": "SKU_PERSIST", "quantity": "1"}],
                }
            ).order.total_money.amount
            == 42
        )
        server.backend.reset()
        assert sq.orders.search(location_ids=[LOC]).orders in (None, [])
        assert list(store.load("square.order")) == []
    finally:
        gen.close()
        store.close()
