"""`ordersync testorders create|advance|cancel|return` — sandbox test orders through the gateway.

Test orders exist only in the v2sandbox API, so every command refuses to run unless
``[google] sandbox = true`` (and never against Google's own endpoint with the example's placeholder
merchant id). Exit codes: 2 for usage/configuration problems (including missing credentials), 1
when Google (or the emulator) refused a call, 69 when it could not be reached or refused us
(transport errors, 5xx/429 after the retries, 401/403); the message names the order and Google's
reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from sync.adapters.google_gateway import (
    TEST_ORDER_TEMPLATES,
    GoogleApiError,
    GoogleCredentialsError,
    GoogleGateway,
)
from sync.config import ConfigError, Settings, load_settings, refuse_placeholder_merchant
from sync.domain import operations
from sync.entrypoints.options import config_option
from sync.exit_codes import ExitCode
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
    """Sandbox test orders: create, advance to pendingShipment, cancel as the customer, return."""


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
    "--country", type=click.Choice(["US", "FR"], case_sensitive=False), default="US", show_default=True
)
@click.pass_obj
def create(obj: Any, template: str, count: int, country: str) -> None:
    """Create COUNT test orders from TEMPLATE; prints the new order ids, one per line."""
    with _gateway(obj) as gateway:
        for n in range(1, count + 1):
            try:
                order_id = gateway.create_test_order(template.lower(), country=country.upper())
            except (GoogleApiError, GoogleCredentialsError) as exc:
                raise _failed(f"creating test order {n} of {count} from {template}", exc, gateway) from None
            # Echo as we go: ids already created stay visible if a later one fails.
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
        for oid in ids:
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
        raise CommandFailed(f"order {order_id}: no line item {line_item_id!r}", EXIT_API)
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
                    raise CommandFailed(f"order {order_id}: no line item {line_item_id!r}", EXIT_API)
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
