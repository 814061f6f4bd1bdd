"""`ordersync testorders create|advance|cancel|return|square-refund` — sandbox test orders.

Google test orders exist only in the v2sandbox API, so those commands refuse to run unless
``[google] sandbox = true`` (and never against Google's own endpoint with the example's placeholder
merchant id); ``square-refund`` plays the store refunding in Square POS or the Dashboard, which only
the emulator can do, so it needs ``[square] endpoint`` set to it. Exit codes: 2 for
usage/configuration problems (including missing credentials), 1 when Google, Square (or the
emulator) refused a call, 69 when Google could not be reached or refused us (transport errors,
5xx/429 after the retries, 401/403); the message names the order and the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import click

from sync.adapters.google_gateway import (
    TEST_ORDER_COUNTRIES,
    TEST_ORDER_TEMPLATES,
    GoogleApiError,
    GoogleCredentialsError,
    GoogleGateway,
)
from sync.adapters.square_errors import SquareApiError, SquareCredentialsError
from sync.adapters.square_gateway import SquareGateway
from sync.adapters.square_sandbox import SandboxControlError, SquareSandboxControls
from sync.config import ConfigError, Settings, load_settings, refuse_placeholder_merchant
from sync.domain import operations
from sync.domain.money import MoneyError, to_major, to_minor
from sync.entrypoints.options import config_option
from sync.entrypoints.testorder_lines import unknown_line_item
from sync.entrypoints.testorders_square import Channel, create_checkout_order
from sync.exit_codes import ExitCode
from sync.progress import progress_wanted, terminal_progress
from sync.service.outages import google_outage

EXIT_API = ExitCode.FAILED
EXIT_USAGE = ExitCode.USAGE
CANCEL_REASONS = ("changedMind", "orderedWrongItem", "other")


class CommandFailed(click.ClickException):
    """Printed as `Error: <message>` on stderr, with our exit code instead of click's default 1."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = int(exit_code)


def _settings(obj: Any) -> Settings:
    if obj is not None and getattr(obj, "settings", None) is not None:
        return obj.settings
    try:
        return load_settings()
    except ConfigError as exc:
        raise CommandFailed(str(exc), EXIT_USAGE) from None


@contextmanager
def _gateway(obj: Any) -> Iterator[GoogleGateway]:
    settings = _settings(obj)
    if not settings.google.sandbox:
        raise CommandFailed(
            "refusing: test orders exist only in the v2sandbox API, but [google] sandbox is false "
            f"(configuration: {settings.source}; set sandbox = true or ORDERSYNC_GOOGLE__SANDBOX=true)",
            EXIT_USAGE,
        )
    try:
        refuse_placeholder_merchant(settings)
        gateway = GoogleGateway(settings.google)
    except ConfigError as exc:
        raise CommandFailed(str(exc), EXIT_USAGE) from None
    except GoogleCredentialsError as exc:
        raise CommandFailed(str(exc), EXIT_USAGE) from None
    with gateway:
        yield gateway


def _api_failure(what: str, exc: GoogleApiError | GoogleCredentialsError) -> str:
    if isinstance(exc, GoogleCredentialsError):
        return f"{what}: {exc}"
    status = f"HTTP {exc.status}" if exc.status else "no response"
    reason = exc.reason or "no reason given"
    return f"{what}: Google said {status} {reason}: {exc.message}"


class _UpperChoice(click.Choice):
    """A choice of upper-case codes that accepts any case: help shows `[US|FR]` beside
    `default: US` (click's case-insensitive Choice would list `[us|fr]`)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return super().convert(value.upper() if isinstance(value, str) else value, param, ctx)


def _is_outage(exc: GoogleApiError | GoogleCredentialsError) -> bool:
    """Google unreachable, failing after the retries, or refusing us (not this one request)."""
    if isinstance(exc, GoogleCredentialsError):
        return False
    return exc.status == 0 or exc.retryable or exc.status in (401, 403) or exc.reason == "invalidResponse"


def _failed(what: str, exc: GoogleApiError | GoogleCredentialsError, gateway: GoogleGateway) -> CommandFailed:
    """The error a refused call ends the command with: 69 for an outage, 2 for credentials, else 1."""
    if isinstance(exc, GoogleCredentialsError):
        return CommandFailed(_api_failure(what, exc), EXIT_USAGE)
    if _is_outage(exc):
        outage = google_outage(gateway.base_url, exc, gateway.merchant_id)
        return CommandFailed(f"{what}: {outage.message()}", ExitCode.UNAVAILABLE)
    return CommandFailed(_api_failure(what, exc), EXIT_API)


@click.group("testorders")
@config_option
def testorders() -> None:
    """Sandbox test orders: create, advance, cancel as the customer, return; refund in Square."""


@testorders.command()
@config_option
@click.option(
    "--template",
    type=click.Choice(TEST_ORDER_TEMPLATES, case_sensitive=False),
    default="template1",
    show_default=True,
    help="Google's predefined test-order template.",
)
@click.option("--count", type=click.IntRange(1, 1000), default=1, show_default=True)
@click.option(
    "--country",
    type=_UpperChoice(TEST_ORDER_COUNTRIES),
    default=TEST_ORDER_COUNTRIES[0],
    show_default=True,
    help="Country of the test order (its currency and addresses).",
)
@click.option(
    "--channel",
    type=click.Choice(["google", "ucp", "web"]),
    default="google",
    show_default=True,
    help="google: Content API test orders; ucp / web: Square orders as a UCP checkout or the web shop "
    "would create them.",
)
@click.pass_obj
def create(obj: Any, template: str, count: int, country: str, channel: str) -> None:
    """Create COUNT test orders from TEMPLATE; prints the new order ids, one per line."""
    if channel != "google":
        _create_square_orders(obj, channel, count)
        return
    with _gateway(obj) as gateway, terminal_progress(progress_wanted()) as progress:
        for n in range(1, count + 1):
            try:
                order_id = gateway.create_test_order(template.lower(), country=country.upper())
            except (GoogleApiError, GoogleCredentialsError) as exc:
                raise _failed(f"creating test order {n} of {count} from {template}", exc, gateway) from None
            # Echo as we go: ids already created stay visible if a later one fails.
            click.echo(order_id)
            progress("creating test orders", 1)


def _create_square_orders(obj: Any, channel: str, count: int) -> None:
    settings = _settings(obj)
    if not settings.square.endpoint:
        raise CommandFailed(
            "refusing: --channel ucp/web creates test orders in Square, but [square] endpoint is not set "
            "(point it at the sandbox, e.g. ORDERSYNC_SQUARE__ENDPOINT=http://127.0.0.1:8080)",
            EXIT_USAGE,
        )
    try:
        gateway = SquareGateway(settings.square)
    except SquareCredentialsError as exc:
        raise CommandFailed(str(exc), EXIT_USAGE) from None
    for n in range(1, count + 1):
        try:
            order_id = create_checkout_order(
                gateway, cast(Channel, channel), n, settings.ucp.checkout_id_metadata_key
            )
        except SquareApiError as exc:
            what = f"creating {channel} order {n} of {count} in Square"
            raise CommandFailed(f"{what}: {exc}", EXIT_API) from None
        click.echo(order_id)


@testorders.command()
@config_option
@click.argument("order_id", required=False)
@click.option("--all", "all_orders", is_flag=True, help="Advance every test order that is inProgress.")
@click.pass_obj
def advance(obj: Any, order_id: str | None, all_orders: bool) -> None:
    """Advance ORDER_ID (or --all inProgress orders) to pendingShipment; prints advanced ids."""
    if bool(order_id) == all_orders:
        raise click.UsageError("give either ORDER_ID or --all (exactly one)")
    with _gateway(obj) as gateway:
        if order_id:
            try:
                gateway.advance_test_order(order_id)
            except (GoogleApiError, GoogleCredentialsError) as exc:
                raise _failed(f"order {order_id}: advance", exc, gateway) from None
            click.echo(order_id)
            return
        try:
            # Collect first: advancing changes statuses, which would shift later pages under us.
            ids = [
                o["id"]
                for o in gateway.iter_orders(statuses=["IN_PROGRESS"])
                if o.get("status") == "inProgress" and o.get("id")
            ]
        except (GoogleApiError, GoogleCredentialsError) as exc:
            raise _failed("listing inProgress orders", exc, gateway) from None
        failures = 0
        with terminal_progress(progress_wanted()) as progress:
            for oid in ids:
                progress("advancing test orders", 1)
                try:
                    gateway.advance_test_order(oid)
                except (GoogleApiError, GoogleCredentialsError) as exc:
                    failures += 1
                    click.echo(f"Error: {_api_failure(f'order {oid}: advance', exc)}", err=True)
                    continue
                click.echo(oid)
        if not ids:
            click.echo("no inProgress orders to advance", err=True)
        if failures:
            raise CommandFailed(f"{failures} of {len(ids)} orders could not be advanced", EXIT_API)


@testorders.command()
@config_option
@click.argument("order_id")
@click.option("--reason", type=click.Choice(CANCEL_REASONS), default="changedMind", show_default=True)
@click.option(
    "--line-item",
    "line_item_id",
    help="Cancel only units of this line item (cancellineitem), as when the customer asks for it.",
)
@click.option("--quantity", type=click.IntRange(min=1), help="Units of --line-item (default: all pending).")
@click.pass_obj
def cancel(obj: Any, order_id: str, reason: str, line_item_id: str | None, quantity: int | None) -> None:
    """Cancel ORDER_ID as the customer would (canceltestorderbycustomer), or some units of one
    line item with --line-item (the order stays open; the sync carries the change to Square)."""
    if quantity is not None and not line_item_id:
        raise click.UsageError("--quantity needs --line-item")
    with _gateway(obj) as gateway:
        try:
            if line_item_id:
                _cancel_line_item(gateway, order_id, line_item_id, quantity, reason)
            else:
                gateway.cancel_test_order_by_customer(order_id, reason)
        except (GoogleApiError, GoogleCredentialsError) as exc:
            raise _failed(f"order {order_id}: cancel by customer", exc, gateway) from None
        click.echo(order_id)


def _cancel_line_item(
    gateway: GoogleGateway, order_id: str, line_item_id: str, quantity: int | None, reason: str
) -> None:
    order = gateway.get_order(order_id)
    line = next((li for li in order.get("lineItems") or [] if li.get("id") == line_item_id), None)
    if line is None:
        raise CommandFailed(unknown_line_item(order, line_item_id), EXIT_USAGE)
    pending = int(line.get("quantityPending") or 0)
    units = pending if quantity is None else quantity
    if units < 1 or units > pending:
        raise CommandFailed(
            f"order {order_id} line item {line_item_id}: {units} units asked, {pending} pending", EXIT_API
        )
    canceled_total = int(line.get("quantityCanceled") or 0) + units
    gateway.cancel_line_item(
        order_id,
        operations.cancel_operation_id(line_item_id, canceled_total),
        line_item_id,
        units,
        "customerInitiatedCancel",
        f"customer: {reason}",
    )


def _returnable(item: dict[str, Any]) -> int:
    return int(item.get("quantityShipped") or 0) - int(item.get("quantityReturned") or 0)


@testorders.command("return")
@config_option
@click.argument("order_id")
@click.option("--line-item", "line_item_id", help="Return only this line item (default: every shipped item).")
@click.option("--quantity", type=click.IntRange(min=1), help="Units of --line-item (default: all shipped).")
@click.pass_obj
def return_(obj: Any, order_id: str, line_item_id: str | None, quantity: int | None) -> None:
    """Create a customer return for ORDER_ID (createtestreturn); prints the return id."""
    if quantity is not None and not line_item_id:
        raise click.UsageError("--quantity needs --line-item")
    with _gateway(obj) as gateway:
        items: list[dict[str, Any]]
        if line_item_id and quantity is not None:
            items = [{"lineItemId": line_item_id, "quantity": quantity}]
        else:
            # Only the order knows what was shipped: read it to build the default return.
            try:
                order = gateway.get_order(order_id)
            except (GoogleApiError, GoogleCredentialsError) as exc:
                raise _failed(f"order {order_id}: get", exc, gateway) from None
            line_items = [li for li in order.get("lineItems") or [] if isinstance(li, dict)]
            if line_item_id:
                match = [li for li in line_items if li.get("id") == line_item_id]
                if not match:
                    raise CommandFailed(unknown_line_item(order, line_item_id), EXIT_USAGE)
                line_items = match
            items = [
                {"lineItemId": li["id"], "quantity": _returnable(li)}
                for li in line_items
                if _returnable(li) > 0
            ]
            if not items:
                what = f"line item {line_item_id}" if line_item_id else "any line item"
                raise CommandFailed(f"order {order_id}: nothing shipped to return for {what}", EXIT_API)
        try:
            return_id = gateway.create_test_return(order_id, items)
        except (GoogleApiError, GoogleCredentialsError) as exc:
            raise _failed(f"order {order_id}: create return", exc, gateway) from None
        click.echo(return_id)


@testorders.command("square-refund")
@config_option
@click.argument("square_order_id")
@click.option(
    "--line-uid",
    help="Itemized refund (Square POS): the Square line item's uid (on orders ordersync made, the "
    "Google line item id).",
)
@click.option("--quantity", type=click.IntRange(min=1), help="Units of --line-uid to refund.")
@click.option("--amount", help="Custom-amount refund (Dashboard), in the order's currency, e.g. 5.00.")
@click.option("--shipping", is_flag=True, help="Mark the --amount refund as a shipping refund.")
@click.option("--reason", help="The refund reason the store types in (default: Square's usual one).")
@click.pass_obj
def square_refund(
    obj: Any,
    square_order_id: str,
    line_uid: str | None,
    quantity: int | None,
    amount: str | None,
    shipping: bool,
    reason: str | None,
) -> None:
    """Play the store refunding SQUARE_ORDER_ID: an itemized refund in Square POS (--line-uid,
    --quantity: a return order pointing at the line plus its refund) or a custom amount in the
    Dashboard (--amount [--shipping]). Prints the refund id, its status and the return order id."""
    itemized = line_uid is not None or quantity is not None
    if itemized == (amount is not None):
        raise click.UsageError("give either --line-uid with --quantity, or --amount")
    if itemized and (line_uid is None or quantity is None):
        raise click.UsageError("an itemized refund needs both --line-uid and --quantity")
    if shipping and amount is None:
        raise click.UsageError("--shipping marks an --amount refund")
    settings = _settings(obj)
    if not settings.square.endpoint:
        raise CommandFailed(
            "refusing: square-refund plays the store in the emulator, but [square] endpoint is not set "
            f"(configuration: {settings.source}; point it at `ordersync sandbox serve`)",
            EXIT_USAGE,
        )
    controls = SquareSandboxControls(settings.square.endpoint, timeout=settings.square.timeout_seconds)
    what = f"Square order {square_order_id}: refund"
    try:
        if line_uid is not None and quantity is not None:
            result = controls.pos_itemized_refund(square_order_id, line_uid, str(quantity), reason)
        else:
            amount = amount or ""
            currency = _square_order_currency(settings, square_order_id)
            try:
                minor = to_minor(amount, currency)
            except MoneyError as exc:
                raise click.UsageError(f"--amount {amount!r}: {exc}") from None
            result = controls.dashboard_refund(
                square_order_id, minor, currency, shipping=shipping, reason=reason
            )
    except SandboxControlError as exc:
        raise CommandFailed(f"{what}: the sandbox said {exc}", EXIT_API) from None
    refund = result["refund"]
    money = refund["amount_money"]
    shown = f"{to_major(money['amount'], money['currency'])} {money['currency']}"
    click.echo(f"{refund['id']} {refund['status']} {shown} return_order={refund['order_id']}")


def _square_order_currency(settings: Settings, order_id: str) -> str:
    try:
        order = SquareGateway(settings.square).retrieve_order(order_id)
    except SquareCredentialsError as exc:
        raise CommandFailed(str(exc), EXIT_USAGE) from None
    except SquareApiError as exc:
        raise CommandFailed(f"Square order {order_id}: {exc}", EXIT_API) from None
    return str((order.get("total_money") or {}).get("currency") or "USD")
