"""A queue-mode fleet on one Sandbox: accounts with test orders advanced to pendingShipment, one
shipments feed each (every order delivered in one parcel), a configuration with one [[accounts]]
entry each and queue mode on PostgreSQL, the workers' environment, and `ordersync worker` processes.

Shared by tests/integration/test_queue_postgres.py and bench/accounts.py (which puts the repository
root on sys.path), so it holds no fixtures and imports nothing from pytest. psycopg is imported
here: the test module imports this only after its ``importorskip("psycopg")``.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import psycopg
from sqlalchemy.engine import URL, make_url

from sync.adapters.cycle_queue import libpq_url
from sync.domain.feed import COLUMNS as FEED_COLUMNS
from sync.sandbox.credentials import write_service_account
from sync.sandbox.server import Sandbox

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class FleetFiles:
    """What `setup_fleet` made: the files the workers run on and each account's order ids."""

    root: Path
    config: Path
    env: dict[str, str]
    orders: dict[str, list[str]]  # account name -> Google order ids


def schema_url(base: str, schema: str, *, password: bool) -> str:
    """``base`` with its search_path set to ``schema``; without the password for the config file
    (the workers take it from PGPASSWORD)."""
    url = make_url(base)
    return URL.create(
        url.drivername, url.username, url.password if password else None, url.host, url.port, url.database,
        {"options": f"-csearch_path={schema}"},
    ).render_as_string(hide_password=False)  # fmt: skip


def create_schemas(base: str, schemas: Iterable[str]) -> None:
    with psycopg.connect(libpq_url(base), autocommit=True) as conn:
        for schema in sorted(set(schemas)):
            conn.execute(f'CREATE SCHEMA "{schema}"')


def drop_schemas(base: str, schemas: Iterable[str]) -> None:
    with psycopg.connect(libpq_url(base), autocommit=True) as conn:
        for schema in sorted(set(schemas)):
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def create_orders(sandbox: Sandbox, merchant: str, count: int, templates: Sequence[str]) -> list[str]:
    """``count`` test orders (the templates in turn), advanced to pendingShipment through the
    emulator's backend (no HTTP)."""
    ids = []
    for i in range(count):
        order_id = sandbox.google.create_test_order(merchant, template_name=templates[i % len(templates)])
        sandbox.google.advance_test_order(merchant, order_id)
        ids.append(order_id)
    return ids


def write_feed(path: Path, sandbox: Sandbox, merchant: str, ids: Sequence[str], *, tracking: str) -> None:
    """One parcel per order, every line at its full quantity, already delivered. ``tracking`` is a
    format of ``merchant`` and ``i`` (the order's index), e.g. ``"1Z{merchant}{i:05d}"``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, FEED_COLUMNS)
        writer.writeheader()
        for i, order_id in enumerate(ids):
            for line in sandbox.google.get_order(merchant, order_id)["lineItems"]:
                writer.writerow({
                    "order_id": order_id, "line_item_id": line["id"], "offer_id": "",
                    "quantity": str(line["quantityOrdered"]), "carrier": "UPS",
                    "tracking_id": tracking.format(merchant=merchant, i=i),
                    "shipped_at": "2026-11-20T10:00:00Z", "delivered_at": "2026-11-22T15:00:00Z",
                    "shipment_id": "",
                })  # fmt: skip


def _toml_keys(settings: Mapping[str, float]) -> str:
    return "".join(f"{key} = {value!r}\n" for key, value in settings.items())


def write_config(
    path: Path,
    sandbox: Sandbox,
    queue_url: str,
    accounts: Mapping[str, str],
    ledger_urls: Mapping[str, str],
    *,
    google: Mapping[str, float],
    queue: Mapping[str, float],
) -> Path:
    """The configuration: ``[google]`` on the sandbox (plus ``google``'s keys), queue mode on
    ``queue_url`` (plus ``queue``'s keys), and one [[accounts]] entry per ``accounts`` item
    (name -> merchant id) with its feeds under feeds/NAME/ and its ledger at ``ledger_urls[name]``."""
    entries = "".join(
        f'\n[[accounts]]\nname = "{name}"\n[accounts.google]\nmerchant_id = "{merchant}"\n'
        f'[accounts.shipments]\nfeeds = ["feeds/{name}/*.csv"]\n'
        f'[accounts.ledger]\nurl = "{ledger_urls[name]}"\n'
        for name, merchant in accounts.items()
    )
    path.write_text(
        f'[google]\nsandbox = true\nendpoint = "{sandbox.url}/"\n{_toml_keys(google)}'
        f'[reports]\ndir = "reports"\n'
        f'[queue]\nenabled = true\nurl = "{queue_url}"\n{_toml_keys(queue)}'
        f"{entries}",
        encoding="utf-8",
    )
    return path


def setup_fleet(
    root: Path,
    sandbox: Sandbox,
    pg_url: str,
    *,
    queue_url: str,
    accounts: Mapping[str, str],
    ledger_urls: Mapping[str, str],
    orders: int,
    templates: Sequence[str],
    tracking: str,
    google: Mapping[str, float],
    queue: Mapping[str, float],
) -> FleetFiles:
    """Orders and a feed per account (name -> merchant id), a service-account key the sandbox
    issues tokens for, the configuration, and the environment a worker runs in (``PYTHONPATH`` this
    checkout, PGPASSWORD from ``pg_url``, nothing of the caller's ORDERSYNC_*/PG*)."""
    made = {}
    for name, merchant in accounts.items():
        made[name] = create_orders(sandbox, merchant, orders, templates)
        write_feed(root / "feeds" / name / "ship.csv", sandbox, merchant, made[name], tracking=tracking)
    key_file = root / "sa.json"
    write_service_account(key_file, sandbox.url)
    config = write_config(
        root / "ordersync.toml", sandbox, queue_url, accounts, ledger_urls, google=google, queue=queue
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ORDERSYNC_", "PG"))}
    env.update({
        "ORDERSYNC_CONFIG": str(config), "GOOGLE_APPLICATION_CREDENTIALS": str(key_file),
        "PYTHONPATH": str(REPO), "PGPASSWORD": make_url(pg_url).password or "",
    })  # fmt: skip
    return FleetFiles(root, config, env, made)


def start_worker(fleet: FleetFiles, log: Path, *options: str) -> subprocess.Popen[bytes]:
    """An `ordersync [OPTIONS] worker` process in the fleet's root, stdout and stderr to ``log``."""
    out: IO[bytes] = log.open("wb")
    command = [sys.executable, "-m", "sync", *options, "worker"]
    return subprocess.Popen(command, cwd=fleet.root, env=fleet.env, stdout=out, stderr=out)
