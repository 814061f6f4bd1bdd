"""`ordersync testorders show ORDER_ID` and `testorders list`: read-only views of sandbox orders, so
`cancel --line-item` and `return` need no digging in snapshot files.

They join the `testorders` group of cli_testorders here (cli.py loads this module for the group),
keeping that module's commands and these views apart.
"""

from __future__ import annotations

import json
from typing import Any

import click

from sync.adapters.google_gateway import GoogleApiError, GoogleCredentialsError
from sync.entrypoints.cli_testorders import _failed, _gateway, testorders
from sync.entrypoints.options import config_option
from sync.entrypoints.testorder_lines import order_lines, order_list_lines

__all__ = ["testorders"]

ORDER_STATUSES = (
    "active", "pendingShipment", "partiallyShipped", "shipped", "partiallyDelivered", "delivered",
    "partiallyReturned", "returned", "canceled", "completed", "inProgress",
)  # fmt: skip


@testorders.command()
@config_option
@click.argument("order_id")
@click.option("--json", "as_json", is_flag=True, help="Print the order as Google returns it.")
@click.pass_obj
def show(obj: Any, order_id: str, as_json: bool) -> None:
    """Show ORDER_ID: status, line items (id, offer id, quantities ordered/pending/shipped/
    delivered/canceled/returned) and shipments."""
    with _gateway(obj) as gateway:
        try:
            order = gateway.get_order(order_id)
        except (GoogleApiError, GoogleCredentialsError) as exc:
            raise _failed(f"order {order_id}: get", exc, gateway) from None
    if as_json:
        click.echo(json.dumps(order, indent=2, sort_keys=True))
        return
    for line in order_lines(order):
        click.echo(line)


@testorders.command("list")
@config_option
@click.option("--status", "statuses", multiple=True, type=click.Choice(ORDER_STATUSES), help="Only these.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.pass_obj
def list_(obj: Any, statuses: tuple[str, ...], limit: int) -> None:
    """List the account's orders, newest first, with their line item ids."""
    orders: list[dict[str, Any]] = []
    with _gateway(obj) as gateway:
        try:
            for order in gateway.iter_orders(statuses=list(statuses) or None, order_by="placedDateDesc"):
                orders.append(order)
                if len(orders) >= limit:
                    break
        except (GoogleApiError, GoogleCredentialsError) as exc:
            raise _failed("listing orders", exc, gateway) from None
    if not orders:
        click.echo("no orders", err=True)
        return
    for line in order_list_lines(orders):
        click.echo(line)
