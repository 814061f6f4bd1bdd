import itertools
import re

import pytest

from sync.domain import operations as ops


def test_operation_id_is_deterministic_and_readable():
    assert ops.operation_id("TEST-1", "ack") == "os:ack:1"
    assert ops.operation_id("TEST-1", "ack") == ops.operation_id("TEST-1", "ack", 1)
    assert ops.operation_id("TEST-1", "refund", 3) == "os:refund:3"


def test_operation_ids_unique_per_action_and_seq():
    ids = [
        ops.operation_id("TEST-1", a, s)
        for a, s in itertools.product(["ack", "cancel", "refund"], range(1, 20))
    ]
    assert len(set(ids)) == len(ids)


@pytest.mark.parametrize(
    ("action", "seq"), [("", 1), ("Ack", 1), ("a:b", 1), ("ack", 0), ("ack", -1), ("ack", True), ("ack", "1")]
)
def test_operation_id_validates(action, seq):
    with pytest.raises(ValueError):
        ops.operation_id("TEST-1", action, seq)


@pytest.mark.parametrize("action", sorted(ops.RESERVED_ACTIONS))
def test_reserved_actions_cannot_collide_with_their_dedicated_ids(action):
    # ship_operation_id("1") must never equal a generic "ship" with seq 1.
    with pytest.raises(ValueError, match="own id function"):
        ops.operation_id("TEST-1", action, 1)


def test_operation_id_needs_an_order():
    with pytest.raises(ValueError):
        ops.operation_id("", "ack")


def test_distinct_intents_never_share_an_id():
    ids = [
        ops.operation_id("O", "ack"),
        ops.operation_id("O", "cancel", 2),
        ops.ship_operation_id("1"),
        ops.ship_operation_id("fd-abc"),
        ops.deliver_operation_id("1"),
        ops.deliver_operation_id("fd-abc"),
        ops.cancel_operation_id(),
        ops.cancel_operation_id("LI-1", 1),
        ops.cancel_operation_id("LI-1", 2),
        ops.cancel_operation_id("LI-2", 1),
        ops.merchant_order_id_operation_id("OS-1"),
        ops.merchant_order_id_operation_id("OS-2"),
    ]
    assert len(set(ids)) == len(ids)
    assert ops.ship_operation_id("fd-abc") == "os:ship:fd-abc"
    assert ops.deliver_operation_id("fd-abc") == "os:deliver:fd-abc"
    assert ops.cancel_operation_id() == "os:cancel:1" == ops.operation_id("O", "cancel")
    assert ops.cancel_operation_id("LI-1", 2) == "os:cancel-line:LI-1:2"
    assert ops.merchant_order_id_operation_id("OS-1") == ops.merchant_order_id_operation_id("OS-1")
    assert re.fullmatch(r"os:merchant-id:[0-9a-f]{12}", ops.merchant_order_id_operation_id("OS-1"))


@pytest.mark.parametrize(("line", "total"), [(None, 1), ("LI-1", None), ("LI-1", 0), ("", 1)])
def test_cancel_operation_id_validates(line, total):
    with pytest.raises(ValueError):
        ops.cancel_operation_id(line, total)


def test_feed_shipment_id_is_stable_and_insensitive_to_formatting():
    a = ops.feed_shipment_id("TEST-1", "1Z999AA10123456784", "ups")
    assert a == ops.feed_shipment_id("TEST-1", "1z 999 aa1-0123456784", "ups")
    assert a == ops.feed_shipment_id("TEST-1", "1Z999AA10123456784", "UPS")
    assert re.fullmatch(r"fd-[0-9a-f]{24}", a)
    assert len(a) <= ops.SHIPMENT_ID_MAX
    assert a != ops.feed_shipment_id("TEST-2", "1Z999AA10123456784", "ups")
    assert a != ops.feed_shipment_id("TEST-1", "1Z999AA10123456785", "ups")
    assert a != ops.feed_shipment_id("TEST-1", "1Z999AA10123456784", "fedex")
    # the separator matters: no ambiguity from concatenation
    assert ops.feed_shipment_id("Ab", "T1", "c") != ops.feed_shipment_id("A", "T1", "bc")


def test_feed_shipment_id_length_with_huge_inputs():
    assert len(ops.feed_shipment_id("O" * 500, "T" * 500, "c" * 100)) <= 64


@pytest.mark.parametrize(
    ("order", "tracking", "carrier"),
    [("", "T1", "ups"), ("O", "", "ups"), ("O", "--", "ups"), ("O", "T1", "")],
)
def test_feed_shipment_id_validates(order, tracking, carrier):
    with pytest.raises(ValueError):
        ops.feed_shipment_id(order, tracking, carrier)


def test_square_shipment_id():
    a = ops.square_shipment_id("sqorder1", "fulfil-1")
    assert a == ops.square_shipment_id("sqorder1", "fulfil-1")
    assert re.fullmatch(r"sq-[0-9a-f]{24}", a)
    assert a != ops.square_shipment_id("sqorder1", "fulfil-2")
    assert a != ops.square_shipment_id("sqorder2", "fulfil-1")
    assert a != ops.feed_shipment_id("sqorder1", "fulfil-1", "ups")


def test_square_idempotency_key():
    key = ops.square_idempotency_key("1234567", "TEST-1")
    assert key == "ordersync:order:1234567:TEST-1"
    assert key == ops.square_idempotency_key("1234567", "TEST-1")
    assert key != ops.square_idempotency_key("1234567", "TEST-2")
    assert key != ops.square_idempotency_key("7654321", "TEST-1")
    assert key != ops.square_idempotency_key("1234567", "TEST-1", purpose="payment")
    long = ops.square_idempotency_key("1234567", "X" * 300)
    assert len(long) <= 192
    assert long == ops.square_idempotency_key("1234567", "X" * 300)
    assert long != ops.square_idempotency_key("1234567", "X" * 301)


def test_merchant_order_id_template():
    assert ops.merchant_order_id("OS-{google_order_id}", "TEST-1") == "OS-TEST-1"
    assert ops.merchant_order_id("{google_order_id}", "TEST-1") == "TEST-1"
    assert ops.merchant_order_id("a{google_order_id}b{google_order_id}", "X") == "aXbX"


@pytest.mark.parametrize(
    "template",
    ["OS-", "OS-{order}", "{google_order_id}-{foo}", "{google_order_id.__class__}", "{google_order_id}}"],
)
def test_merchant_order_id_template_rejects(template):
    with pytest.raises(ValueError):
        ops.merchant_order_id(template, "TEST-1")
