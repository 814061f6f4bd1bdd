"""`ordersync demo`: the whole product on embedded defaults, in one command, with no config.

It starts the emulators in-process, obtains a Google token through the real service-account flow,
creates and advances test orders, then plays a warehouse: each round it exports a shipments feed
(partial shipments first, then the rest, then deliveries) and runs a real sync cycle, until every
order is delivered. With Square, a refund is then made each way (the store in the Square
Dashboard, Google in Merchant Center) and one more cycle carries each to the other side. It ends
with a reconciliation report and prints where everything is.

Its folder (``--dir``) is its own: it is marked with ``MARKER`` when the demo first uses it, and
a non-empty folder without that marker is refused (``DemoRefused``, exit 2) rather than touched.
A rerun resets only what the demo itself keeps there (ledger, lock, key file, its feed exports);
earlier reports stay, each in its own ``reports/<run-id>/``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from google.oauth2 import service_account

from sync.adapters.square_sandbox import SquareSandboxControls
from sync.config import (
    GoogleSettings,
    LedgerSettings,
    ReportsSettings,
    Settings,
    ShipmentsSettings,
    SquareSettings,
)
from sync.domain.money import minor_to_price
from sync.exit_codes import ExitCode
from sync.sandbox.credentials import write_service_account
from sync.sandbox.players import SquareStore, Warehouse, cancel_one_unit, refund_both_ways, refunds_carried
from sync.sandbox.server import Sandbox
from sync.service.bootstrap import open_google, open_square
from sync.service.runner import RunOutcome, run_once, terminal_progress

TEMPLATES = ("template1", "template2", "template1a", "template1b", "template3")
MAX_ROUNDS = 8
SCOPES = ["https://www.googleapis.com/auth/content"]
SANDBOX_TOKEN = "sandbox-demo-token"  # noqa: S105 - the in-process emulator accepts any bearer token
MARKER = ".ordersync-demo"
GITIGNORE_TEXT = "# made by `ordersync demo`: nothing in this folder belongs in git\n*\n"
MARKER_TEXT = (
    "This folder belongs to `ordersync demo`: a rerun resets its state/ and feeds/shipments-*.csv "
    "files and keeps reports/. Remove this file to protect the folder from the demo.\n"
)
# What a rerun may delete (and nothing else): the demo's ledger and its companions, its key file.
OWN_STATE_FILES = (
    "ordersync.db",
    "ordersync.db-wal",
    "ordersync.db-shm",
    "ordersync.db-journal",
    "ordersync.db.lock",
    "service-account.json",
)
OWN_FEED_GLOB = "shipments-*.csv"


class DemoRefused(Exception):
    """The demo will not use this folder; the message says why and what to do (exit 2)."""


def demo_settings(work_dir: Path, endpoint: str, *, square: bool) -> Settings:
    return Settings(
        # Each demo cycle stands for one scheduled cycle: look for line cancellations in every one.
        google=GoogleSettings(
            merchant_id="1234567", sandbox=True, endpoint=endpoint, recheck_open_orders_minutes=0
        ),
        square=SquareSettings(enabled=square, endpoint=endpoint),
        shipments=ShipmentsSettings(
            feeds=[str(work_dir / "feeds" / "shipments-*.csv")],
            rejects_dir=str(work_dir / "reports" / "rejects"),
        ),
        ledger=LedgerSettings(url=f"sqlite:///{work_dir / 'state' / 'ordersync.db'}"),
        reports=ReportsSettings(dir=str(work_dir / "reports")),
    )


def prepare_demo_dir(work_dir: Path) -> bool:
    """Make ``work_dir`` ready for a demo run; True when it holds an earlier demo's reports.

    Only a folder that is new, empty or carries our marker is used; a rerun deletes the files the
    demo made for its ledger and feed (named one by one, never a whole tree) and keeps reports.
    """
    if work_dir.exists() and not work_dir.is_dir():
        raise DemoRefused(f"{work_dir} is a file, not a folder: give --dir a new or empty folder")
    marker = work_dir / MARKER
    if work_dir.is_dir() and not marker.is_file() and any(work_dir.iterdir()):
        raise DemoRefused(
            f"{work_dir} is not empty and was not made by `ordersync demo` (it has no {MARKER} "
            "file), so the demo will not touch it; nothing was changed. Give --dir a new or empty "
            "folder, or delete this one yourself if you no longer need what is in it"
        )
    for folder in ("state", "feeds", "reports"):
        (work_dir / folder).mkdir(parents=True, exist_ok=True)
    if not marker.is_file():
        marker.write_text(MARKER_TEXT, encoding="utf-8")
    gitignore = work_dir / ".gitignore"
    if not gitignore.exists():  # a demo inside a checkout is never committed by accident
        gitignore.write_text(
            "# made by `ordersync demo`: nothing in this folder belongs in git\n*\n", encoding="utf-8"
        )
    for name in OWN_STATE_FILES:
        (work_dir / "state" / name).unlink(missing_ok=True)
    for export in (work_dir / "feeds").glob(OWN_FEED_GLOB):
        export.unlink()
    reports = (work_dir / "reports").iterdir()
    return any(p.is_dir() and p.name[:1].isdigit() for p in reports)  # run ids start with the year


def run_demo(
    work_dir: Path,
    *,
    order_count: int,
    square: bool,
    echo: Callable[[str], None] = print,
    interactive: bool = False,
) -> ExitCode:
    earlier_reports = prepare_demo_dir(work_dir)
    with Sandbox().start() as sandbox:
        echo(f"sandbox listening on {sandbox.url} (Google Content API v2 + Square Orders emulators)")
        key_file = work_dir / "state" / "service-account.json"
        write_service_account(key_file, sandbox.url)
        credentials = service_account.Credentials.from_service_account_file(str(key_file), scopes=SCOPES)
        settings = demo_settings(work_dir, sandbox.url, square=square)
        google = open_google(settings, credentials)

        with terminal_progress(interactive) as progress:
            order_ids = []
            for i in range(order_count):
                order_ids.append(google.create_test_order(TEMPLATES[i % len(TEMPLATES)]))
                progress("creating test orders", 1)
            for order_id in order_ids:
                google.advance_test_order(order_id)
                progress("advancing test orders", 1)
        echo(f"created and advanced {len(order_ids)} test orders")

        warehouse = Warehouse(work_dir / "feeds")
        square_account = open_square(settings, SANDBOX_TOKEN)  # None unless square
        store = SquareStore(square_account, work_dir / "feeds") if square_account is not None else None

        def one_cycle(report: bool = False) -> RunOutcome:
            return run_once(
                settings,
                report=report,
                interactive=interactive,
                google_credentials=credentials,
                square_token=SANDBOX_TOKEN,
            )

        for round_no in range(1, MAX_ROUNDS + 1):
            outcome = one_cycle()
            echo(outcome.cycle.line())  # "run N: ...": the ledger's run number is the one numbering
            orders = [google.get_order(order_id) for order_id in order_ids]
            if all(o["status"] in ("delivered", "canceled") for o in orders):
                break
            # The players work now, after the orders were placed: their feed dates follow placement.
            stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            if store is None:
                shipped, delivered_parcels = warehouse.advance(orders, stamp)
                echo(f"the warehouse shipped {shipped} parcel(s) and reported {delivered_parcels} delivered")
            elif round_no == 1:
                canceled = cancel_one_unit(google, orders)
                if canceled:
                    echo(f"a customer canceled {canceled} on Google; the next run tells Square")
            elif round_no == 2:
                store.ship(orders, stamp)
                echo(f"the store shipped {len(orders)} parcel(s) in Square (one per order)")
            else:
                store.report_deliveries(stamp)
                echo(f"the carrier delivered {len(orders)} parcel(s); the delivery feed says so")
        final = [google.get_order(order_id) for order_id in order_ids]
        delivered = sum(o["status"] == "delivered" for o in final)
        refunds_ok = True
        if square_account is not None:
            played = refund_both_ways(google, SquareSandboxControls(sandbox.url), final)
            if played is not None:
                echo(
                    f"the store refunded {minor_to_price(played.in_square_minor, played.currency)['value']} "
                    f"{played.currency} of order {played.in_square_order} in the Square Dashboard; Google "
                    f"refunded {minor_to_price(played.on_google_minor, played.currency)['value']} "
                    f"{played.currency} of order {played.on_google_order} in Merchant Center"
                )
                outcome = one_cycle()
                echo(f"refund cycle: {outcome.cycle.line()}")
                to_google, to_square = refunds_carried(google, square_account, played)
                echo(
                    f"refunds: Square -> Google {'reached Google' if to_google else 'NOT on Google'}; "
                    f"Google -> Square {'recorded on the EXTERNAL payment' if to_square else 'NOT in Square'}"
                )
                refunds_ok = to_google and to_square
        outcome = one_cycle(report=True)
        stats = sandbox.stats.snapshot()

    echo(
        f"{delivered} of {len(order_ids)} orders delivered; the emulators (Google and Square) saw "
        f"{stats['requests_total']} requests and applied {stats['mutations_total']} mutations"
    )
    echo(f"ledger:  {work_dir / 'state' / 'ordersync.db'}")
    echo(f"feeds:   {work_dir / 'feeds'}")
    breaks = f"{outcome.report_breaks} breaks; written by run {outcome.cycle.run_id}"
    echo(f"report:  {outcome.report_path} ({breaks})")
    if earlier_reports:
        echo(f"earlier demo reports are kept beside it in {work_dir / 'reports'}")
    if delivered == len(order_ids) and outcome.report_breaks == 0 and refunds_ok:
        return ExitCode.OK
    return ExitCode.FAILED
