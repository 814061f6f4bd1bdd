"""Sandbox-only test orders: templates, createtestorder, advance, customer cancel, test returns.

``createtestorder`` follows the ``TestOrder`` schema of the discovery document: the fields it
marks "Deprecated. Ignored if provided." (``promotions``, ``shippingCostTax``, line
``unitTax``) are ignored, so an order's tax and ``netAmount`` come from Google's own tax rules
(here: a flat rate per country on items and shipping, [D]) whatever the request says.
"""

from __future__ import annotations

import bisect
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sync.sandbox.google import templates
from sync.sandbox.google.common import (
    CUSTOMER_CANCEL_REASONS,
    SHIPPING_OPTIONS,
    bad,
    clone,
    dec,
    int_quantity,
    money,
    now_iso,
    reason,
    round_minor,
)
from sync.sandbox.google.returns import ReturnsResource

TAX_RATE = {"US": Decimal("0.08"), "FR": Decimal("0.20")}
_LINE_ID_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_REQUIRED_PRODUCT_FIELDS = (
    "offerId",
    "title",
    "price",
    "brand",
    "condition",
    "contentLanguage",
    "imageLink",
    "targetCountry",
)


class TestOrdersResource(ReturnsResource):
    __test__ = False  # not a pytest test class, whatever its name says

    def get_test_order_template(self, template_name: str, country: str = "US") -> dict[str, Any]:
        name = template_name.lower()
        if name not in templates.TEMPLATE_NAMES:
            raise bad(f"Invalid value for templateName: {template_name!r}")
        if country not in templates.COUNTRIES:
            raise bad(f"Invalid value for country: {country!r}; allowed: US, FR")
        return templates.build_template(name, country)

    def create_test_order(
        self,
        merchant_id: str,
        *,
        template_name: str | None = None,
        test_order: dict[str, Any] | None = None,
        country: str | None = None,
    ) -> str:
        country = country or "US"
        if country not in templates.COUNTRIES:
            raise bad(f"Invalid value for country: {country!r}; allowed: US, FR")
        if bool(template_name) == bool(test_order):
            raise bad("Exactly one of templateName or testOrder must be set.", "required")
        now = datetime.now(UTC)
        if template_name:
            if template_name not in templates.TEMPLATE_NAMES:
                raise bad(f"Invalid value for templateName: {template_name!r}")
            test_order = templates.build_template(template_name, country, now)
        assert test_order is not None
        with self._lock:
            acc = self._account(merchant_id)
            order_id = self._new_id(
                lambda r: f"TEST-{r.randint(1000, 9999)}-{r.randint(10, 99)}-{r.randint(1000, 9999)}",
                self._orders,
            )
            order = self._order_from_test_order(merchant_id, order_id, test_order, country, now)
            rec = {
                "order": order,
                "ops": {},
                "advanced": False,
                "placed": now.timestamp(),
                "country": country,
                "returnIds": [],
                "orderinvoices": bool(test_order.get("enableOrderinvoices")),
            }
            self._orders[order_id] = rec
            bisect.insort(acc.keys, (rec["placed"], order_id))
            self._save(rec)
        self.stats.mutation("content.orders.createtestorder")
        return order_id

    def _order_from_test_order(
        self, merchant_id: str, order_id: str, t: dict[str, Any], country: str, now: datetime
    ) -> dict[str, Any]:
        if not isinstance(t, dict):
            raise bad("testOrder must be an object")
        for field in ("customer", "lineItems", "predefinedDeliveryAddress", "shippingCost", "shippingOption"):
            if not t.get(field):
                raise bad(f"Required field: testOrder.{field}", "required")
        person = t["predefinedDeliveryAddress"]
        if person not in templates.PEOPLE:
            raise bad(f"Invalid value for testOrder.predefinedDeliveryAddress: {person!r}")
        if t["shippingOption"] not in SHIPPING_OPTIONS:
            raise bad(f"Invalid value for testOrder.shippingOption: {t['shippingOption']!r}")
        email = t["customer"].get("email")
        if email not in templates.EMAIL_TO_PERSON:
            raise bad(f"Invalid value for testOrder.customer.email: {email!r} (use a predefined customer)")
        cur = t["shippingCost"].get("currency") or templates.currency_for(country)
        rate = TAX_RATE.get(country, TAX_RATE["US"])
        if not isinstance(t["lineItems"], list) or not t["lineItems"]:
            raise bad("Required field: testOrder.lineItems (at least one)", "required")
        lines = [self._line_from_test_line(i, tl, cur, rate) for i, tl in enumerate(t["lineItems"])]
        seen: set[str] = set()
        for li in lines:  # line ids are unique within the order
            li["id"] = self._new_id(
                lambda r: "".join(r.choice(_LINE_ID_ALPHABET) for _ in range(15)), dict.fromkeys(seen)
            )
            seen.add(li["id"])
        total = sum((dec(li["price"]) + dec(li["tax"]) for li in lines), Decimal(0))
        ship = dec(t["shippingCost"], "shippingCost")
        # shippingCostTax is "Deprecated. Ignored if provided.": the tax is computed, as at Google.
        ship_tax = round_minor(ship * rate, cur)
        who = templates.PEOPLE[templates.EMAIL_TO_PERSON[email]]
        cust = t["customer"]
        customer: dict[str, Any] = {
            "fullName": cust.get("fullName") or who["fullName"],
            "email": email,
            "invoiceReceivingEmail": who["email"],
        }
        if cust.get("marketingRightsInfo"):
            customer["marketingRightsInfo"] = {**cust["marketingRightsInfo"], "marketingEmailAddress": email}
        return {
            "kind": "content#order",
            "id": order_id,
            "merchantId": merchant_id,
            "acknowledged": False,
            "status": "inProgress",
            "placedDate": now_iso(now),
            "channelType": "purchasesOnGoogle",
            "taxCollector": "marketplaceFacilitator",
            "paymentStatus": "paymentSecured",
            "shippingOption": t["shippingOption"],
            "customer": customer,
            "deliveryDetails": {
                "address": templates.full_address(person),
                "phoneNumber": templates.PEOPLE[person]["phoneNumber"],
            },
            "paymentMethod": _payment_method(t, person, now),
            "lineItems": lines,
            "shipments": [],
            "refunds": [],
            # "promotions" is "Deprecated. Ignored if provided." in TestOrder: none are applied.
            "promotions": [],
            "shippingCost": money(ship, cur),
            "shippingCostTax": money(ship_tax, cur),
            "netAmount": money(total + ship + ship_tax, cur),
        }

    @staticmethod
    def _line_from_test_line(i: int, tl: dict[str, Any], cur: str, rate: Decimal) -> dict[str, Any]:
        p = tl.get("product") or {}
        for field in _REQUIRED_PRODUCT_FIELDS:
            if not p.get(field):
                raise bad(f"Required field: testOrder.lineItems[{i}].product.{field}", "required")
        qty = int_quantity(tl.get("quantityOrdered"), f"testOrder.lineItems[{i}].quantityOrdered")
        if p["price"].get("currency", cur) != cur:
            raise bad("All prices of a test order must use one currency.")
        unit = dec(p["price"], f"lineItems[{i}].product.price")
        # unitTax is "Deprecated. Ignored if provided.": Google computes the tax.
        unit_tax = round_minor(unit * rate, cur)
        product = clone(p)
        product.setdefault("channel", "online")
        product["id"] = (
            f"{product['channel']}:{product['contentLanguage']}:{product['targetCountry']}:{p['offerId']}"
        )
        product["shownImage"] = product["imageLink"]
        return {
            "id": "",
            "product": product,
            "price": money(unit * qty, cur),
            "tax": money(unit_tax * qty, cur),
            "quantityOrdered": qty,
            "quantityPending": qty,
            "quantityShipped": 0,
            "quantityDelivered": 0,
            "quantityCanceled": 0,
            "quantityReturned": 0,
            "quantityReadyForPickup": 0,
            "cancellations": [],
            "returns": [],
            "annotations": [],
            "shippingDetails": clone(tl.get("shippingDetails") or {"type": "delivery"}),
            "returnInfo": clone(tl.get("returnInfo") or {"daysToReturn": 30, "isReturnable": True}),
        }

    def advance_test_order(self, merchant_id: str, order_id: str) -> None:
        with self._lock:
            rec = self._rec(merchant_id, order_id)
            if rec["order"]["status"] != "inProgress":
                raise bad(
                    f"Order {order_id} is {rec['order']['status']}; "
                    "only inProgress test orders can be advanced."
                )
            rec["advanced"] = True
            self._touch(rec)
        self.stats.mutation("content.orders.advancetestorder")

    def cancel_test_order_by_customer(self, merchant_id: str, order_id: str, why: str | None) -> None:
        why = reason({"reason": why}, CUSTOMER_CANCEL_REASONS)
        with self._lock:
            rec = self._rec(merchant_id, order_id)
            lines = rec["order"]["lineItems"]
            if not any(li["quantityPending"] for li in lines):
                raise bad(f"Order {order_id} has nothing left to cancel.")
            stamp = now_iso()
            for li in lines:
                qty = li["quantityPending"]
                if qty:
                    self._cancel_units(rec, li, qty, "customer", "customerCanceled", why, stamp)
            self._touch(rec)
        self.stats.mutation("content.orders.canceltestorderbycustomer")

    def create_test_return(self, merchant_id: str, order_id: str, items: list[dict[str, Any]] | None) -> str:
        if not items:
            raise bad("Required field: items", "required")
        with self._lock:
            rec = self._rec(merchant_id, order_id)
            order = rec["order"]
            plan: dict[str, int] = {}
            for i, item in enumerate(items):
                li = self._line(
                    order, {"lineItemId": item.get("lineItemId"), "productId": item.get("productId")}
                )
                plan[li["id"]] = plan.get(li["id"], 0) + int_quantity(
                    item.get("quantity"), f"items[{i}].quantity"
                )
            for line_id, qty in plan.items():
                li = self._line(order, {"lineItemId": line_id})
                if qty > li["quantityShipped"] - li["quantityReturned"]:
                    raise bad(
                        f"Cannot return {qty} of line item {line_id}: only "
                        f"{li['quantityShipped'] - li['quantityReturned']} shipped and not returned."
                    )
            return_id = self._new_id(lambda r: str(r.randint(10**15, 10**16 - 1)), self._returns)
            stamp = now_iso()
            ret_items = []
            for line_id, qty in plan.items():
                li = self._line(order, {"lineItemId": line_id})
                li["quantityReturned"] += qty
                li["returns"].append(
                    self._return_entry(
                        qty, "customerDiscretionaryReturn", "Test return", stamp, actor="customer"
                    )
                )
                for _ in range(qty):
                    ret_items.append(
                        {
                            "itemId": f"{return_id}-{len(ret_items) + 1}",
                            "lineItemId": line_id,  # ours: lets reject/refund find the open items
                            "product": clone(li["product"]),
                            "customerReturnReason": {
                                "reasonCode": "changedMind",  # the v2 enum's spelling
                                "description": "Test return",
                            },
                            "state": "new",
                            "returnShipmentIds": [],
                        }
                    )
            ret = {
                "orderReturnId": return_id,
                "orderId": order_id,
                "merchantOrderId": order.get("merchantOrderId", ""),
                "creationDate": stamp,
                "returnItems": ret_items,
                "returnShipments": [],
                "_merchantId": merchant_id,
                "_created": datetime.now(UTC).timestamp(),
            }
            self._index_return(ret)
            self.store.put(self.k_return, return_id, ret)
            rec["returnIds"].append(return_id)
            self._touch(rec)
        self.stats.mutation("content.orders.createtestreturn")
        return return_id


def _payment_method(t: dict[str, Any], person: str, now: datetime) -> dict[str, Any]:
    pm = t.get("paymentMethod") or {
        "type": "VISA",
        "lastFourDigits": "0000",
        "predefinedBillingAddress": person,
    }
    billing = pm.get("predefinedBillingAddress") or person
    if billing not in templates.PEOPLE:
        raise bad(f"Invalid value for testOrder.paymentMethod.predefinedBillingAddress: {billing!r}")
    return {
        "type": pm.get("type", "VISA"),
        "lastFourDigits": pm.get("lastFourDigits", "0000"),
        "expirationMonth": pm.get("expirationMonth", 12),
        "expirationYear": pm.get("expirationYear", now.year + 2),
        "billingAddress": templates.full_address(billing),
        "phoneNumber": templates.PEOPLE[billing]["phoneNumber"],
    }
