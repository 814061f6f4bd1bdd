"""Bad input (issue 7, part 2): every mistake an operator or a partner can make gives a clear
message naming the thing and where it is, the documented exit code, and loses nothing else.

`ordersync` runs as a subprocess against the in-process emulator (see conftest.Workspace). Faults
the emulator has no switch for (a malformed order, a non-JSON body) are injected by corrupting the
emulator's stored order or by wrapping its Google WSGI app in the test, never by changing it.
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sync.adapters.square_errors import SquareApiError
from sync.adapters.square_gateway import SquareGateway
from sync.config import SquareSettings
from sync.sandbox.server import Sandbox

from .conftest import MERCHANT_ID, Workspace, write_config

pytestmark = pytest.mark.timeout(60)

EXIT_FAILED, EXIT_USAGE, EXIT_UNAVAILABLE = 1, 2, 69
QUICK = 30  # seconds: every subprocess here finishes in a few


def _mutations(ws: Workspace, method: str) -> int:
    return ws.stats()["mutations"].get(f"content.orders.{method}", 0)


def _assert_untouched(ws: Workspace, before: dict[str, Any]) -> None:
    """Nothing was sent to either API (no request at all) and no ledger was created."""
    assert ws.stats()["requests_total"] == before["requests_total"]
    assert not (ws.root / "state" / "ordersync.db").exists()


def _fresh_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _pem_body_lines(pem: str) -> list[str]:
    return [line for line in pem.splitlines() if line and not line.startswith("-----")]


def _assert_no_key_material(text: str, pem: str) -> None:
    assert "PRIVATE KEY" not in text
    for line in _pem_body_lines(pem)[1:4]:
        assert line not in text


def _rejects(path_line: str, root: Path) -> list[dict[str, str]]:
    """The rejects CSV named in the run's summary line (`rejects=reports/rejects/…`): the rows in
    the feed's own columns plus reject_file, reject_line, reject_reason."""
    name = next(part for part in path_line.split() if part.startswith("rejects="))[len("rejects=") :]
    with (root / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


# ------------------------------------------------------------------------------- configuration
def test_explicit_config_that_does_not_exist(workspace: Workspace) -> None:
    ws = workspace
    before = ws.stats()
    proc = ws.ordersync("--config", "config/nope.toml", "run", timeout=QUICK)
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert "config/nope.toml: configuration file not found" in proc.stderr
    assert "Traceback" not in proc.stderr
    _assert_untouched(ws, before)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root reads a mode-000 file anyway")
def test_unreadable_config(workspace: Workspace) -> None:
    ws = workspace
    ws.config.chmod(0)
    try:
        proc = ws.ordersync("run", timeout=QUICK)
    finally:
        ws.config.chmod(0o600)
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert f"{ws.config}: cannot read the configuration file" in proc.stderr


def test_config_path_is_a_directory(workspace: Workspace) -> None:
    ws = workspace
    before = ws.stats()
    (ws.root / "config" / "dir.toml").mkdir()
    proc = ws.ordersync("--config", "config/dir.toml", "run", timeout=QUICK)
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert "config/dir.toml" in proc.stderr and "is a directory" in proc.stderr
    _assert_untouched(ws, before)


def test_config_not_utf8(workspace: Workspace) -> None:
    ws = workspace
    before = ws.stats()
    ws.config.write_bytes(b'[google]\nmerchant_id = "caf\xe9"\n')  # latin-1, as a Windows editor saves it
    proc = ws.ordersync("run", timeout=QUICK)
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert f"{ws.config}: not UTF-8 text" in proc.stderr
    _assert_untouched(ws, before)


def test_config_not_toml(workspace: Workspace) -> None:
    ws = workspace
    ws.config.write_text("[google\nmerchant_id = 1\n", encoding="utf-8")
    proc = ws.ordersync("run", timeout=QUICK)
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert f"{ws.config}: not valid TOML" in proc.stderr


def test_config_wrong_type_names_key_and_file(workspace: Workspace) -> None:
    ws = workspace
    before = ws.stats()
    write_config(ws.config, ws.sandbox.url, extra='[schedule]\ninterval_minutes = "ten"\n')
    proc = ws.ordersync("run", timeout=QUICK)
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert f"{ws.config}: [schedule] interval_minutes: " in proc.stderr
    assert "'ten'" in proc.stderr
    _assert_untouched(ws, before)


def test_config_unknown_key_in_file(workspace: Workspace) -> None:
    ws = workspace
    text = ws.config.read_text(encoding="utf-8").replace("[ledger]\n", "[ledger]\nurll = 'typo'\n")
    ws.config.write_text(text, encoding="utf-8")
    proc = ws.ordersync("run", timeout=QUICK)
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert f"{ws.config}: [ledger] urll: unknown key" in proc.stderr


def test_config_unknown_key_from_environment(workspace: Workspace) -> None:
    ws = workspace
    before = ws.stats()
    ws.env["ORDERSYNC_GOOGLE__X"] = "1"
    proc = ws.ordersync("run", timeout=QUICK)
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert "environment variable ORDERSYNC_GOOGLE__X: [google] x: unknown key" in proc.stderr
    _assert_untouched(ws, before)


def test_config_unknown_section_from_environment_names_the_variable(workspace: Workspace) -> None:
    ws = workspace
    ws.env["ORDERSYNC_GOOGEL__MERCHANT_ID"] = "1"
    proc = ws.ordersync("run", timeout=QUICK)
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert "environment variable ORDERSYNC_GOOGEL__MERCHANT_ID: [googel]: unknown section" in proc.stderr


def test_numeric_merchant_id_from_environment_is_accepted(workspace: Workspace) -> None:
    """ORDERSYNC_GOOGLE__MERCHANT_ID=7654321 is a string setting; it must not be read as a number."""
    ws = workspace
    ws.create_orders(1)
    text = ws.config.read_text(encoding="utf-8").replace(
        f'merchant_id = "{MERCHANT_ID}"', 'merchant_id = "1"'
    )
    ws.config.write_text(text, encoding="utf-8")
    ws.env["ORDERSYNC_GOOGLE__MERCHANT_ID"] = MERCHANT_ID
    proc = ws.ordersync("run", "--no-report", timeout=QUICK)
    assert proc.returncode == 0, proc.stderr
    assert "acknowledged=1" in proc.stdout


# --------------------------------------------------------------------------------- credentials
def test_credentials_file_missing(workspace: Workspace) -> None:
    ws = workspace
    ids = ws.create_orders(2)
    ws.env["GOOGLE_APPLICATION_CREDENTIALS"] = str(ws.root / "missing.json")
    proc = ws.ordersync("run", timeout=QUICK)
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert "GOOGLE_APPLICATION_CREDENTIALS=" in proc.stderr and "missing.json" in proc.stderr
    assert "file not found" in proc.stderr and "Traceback" not in proc.stderr
    assert not any(ws.google.get_order(i)["acknowledged"] for i in ids)


def test_credentials_malformed_json(workspace: Workspace) -> None:
    ws = workspace
    key_file = Path(ws.env["GOOGLE_APPLICATION_CREDENTIALS"])
    pem = json.loads(key_file.read_text(encoding="utf-8"))["private_key"]
    broken = ws.root / "broken.json"
    broken.write_text(key_file.read_text(encoding="utf-8")[:-40], encoding="utf-8")  # truncated download
    ws.env["GOOGLE_APPLICATION_CREDENTIALS"] = str(broken)
    proc = ws.ordersync("run", timeout=QUICK)
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert "broken.json" in proc.stderr and "not a JSON file" in proc.stderr
    _assert_no_key_material(proc.stdout + proc.stderr, pem)


def _key_file_variant(ws: Workspace, name: str, **changes: str) -> tuple[Path, str]:
    info = json.loads(Path(ws.env["GOOGLE_APPLICATION_CREDENTIALS"]).read_text(encoding="utf-8"))
    info.update(changes)
    path = ws.root / name
    path.write_text(json.dumps(info), encoding="utf-8")
    return path, info["private_key"]


@pytest.mark.parametrize(
    "variant",
    ["unregistered key", "wrong key for a registered id"],
)
def test_token_endpoint_rejects_the_key(workspace: Workspace, variant: str) -> None:
    ws = workspace
    ids = ws.create_orders(2)
    changes = {"private_key": _fresh_key_pem()}
    if variant == "unregistered key":
        changes["private_key_id"] = "f" * 40  # a kid the sandbox never saw
    path, pem = _key_file_variant(ws, "rejected.json", **changes)
    good = ws.env["GOOGLE_APPLICATION_CREDENTIALS"]
    ws.env["GOOGLE_APPLICATION_CREDENTIALS"] = str(path)
    proc = ws.ordersync("-vv", "--log-format", "json", "run", timeout=QUICK)
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert "Google credentials were rejected by token endpoint" in proc.stderr
    assert f"{ws.sandbox.url}/token" in proc.stderr and "invalid_grant" in proc.stderr
    assert "Traceback" not in proc.stderr
    _assert_no_key_material(proc.stdout + proc.stderr, pem)
    assert ws.stats()["requests"].get("content.orders.list", 0) == 0  # refused before any API call
    # Nothing lost: with the right key the same orders go through.
    ws.env["GOOGLE_APPLICATION_CREDENTIALS"] = good
    ws.ordersync("run", "--no-report", check=True, timeout=QUICK)
    assert all(ws.google.get_order(i)["acknowledged"] for i in ids)


def test_key_that_is_not_a_pem(workspace: Workspace) -> None:
    ws = workspace
    path, _ = _key_file_variant(
        ws, "notpem.json", private_key="-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    )
    ws.env["GOOGLE_APPLICATION_CREDENTIALS"] = str(path)
    proc = ws.ordersync("run", timeout=QUICK)
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert "notpem.json" in proc.stderr and "not a valid PEM RSA private key" in proc.stderr


# ---------------------------------------------------------------------------------- Square token
@pytest.fixture
def token_sandbox(workspace: Workspace) -> Iterator[Workspace]:
    """The workspace, re-pointed at a second sandbox that accepts one Square token only."""
    from google.oauth2 import service_account

    from sync.adapters.google_gateway import GoogleGateway
    from sync.config import GoogleSettings
    from sync.sandbox.credentials import write_service_account

    with Sandbox(seed=11, tokens={"EAAAright-square-token-0123456789"}).start() as sandbox:
        key_file = workspace.root / "sa-tokens.json"
        write_service_account(key_file, sandbox.url)
        write_config(workspace.config, sandbox.url, square=True)
        workspace.env["GOOGLE_APPLICATION_CREDENTIALS"] = str(key_file)
        credentials = service_account.Credentials.from_service_account_file(
            str(key_file), scopes=["https://www.googleapis.com/auth/content"]
        )
        workspace.sandbox = sandbox
        workspace.google = GoogleGateway(
            GoogleSettings(merchant_id=MERCHANT_ID, endpoint=sandbox.url), credentials=credentials
        )
        yield workspace


def test_square_token_rejected_keeps_google_work_and_exits_2(token_sandbox: Workspace) -> None:
    ws = token_sandbox
    ids = ws.create_orders(3)
    wrong = "EAAAwrong-square-token-9876543210"
    ws.env["SQUARE_ACCESS_TOKEN"] = wrong
    proc = ws.ordersync("run", timeout=QUICK)
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert "Square rejected the access token in SQUARE_ACCESS_TOKEN" in proc.stderr
    assert "401" in proc.stderr and "Traceback" not in proc.stderr
    assert wrong not in proc.stdout + proc.stderr
    # The Google work before the Square step is done, and recorded.
    assert _mutations(ws, "acknowledge") == 3
    assert ws.stats()["mutations"].get("square.orders.create", 0) == 0
    # With the right token the next run finishes the job, each mutation exactly once.
    ws.env["SQUARE_ACCESS_TOKEN"] = "EAAAright-square-token-0123456789"
    ws.ordersync("run", "--no-report", check=True, timeout=QUICK)
    orders = [ws.google.get_order(i) for i in ids]
    assert all(o["merchantOrderId"] for o in orders)
    assert _mutations(ws, "acknowledge") == 3
    assert _mutations(ws, "updatemerchantorderid") == 3
    assert ws.stats()["mutations"]["square.orders.create"] == 3


# -------------------------------------------------------------------------------------- ledger
def _use_ledger(ws: Workspace, path: Path) -> None:
    ws.env["ORDERSYNC_LEDGER__URL"] = f"sqlite:///{path}"


def test_ledger_locked_by_another_process(workspace: Workspace) -> None:
    ws = workspace
    ws.create_orders(1)
    ws.ordersync("run", "--no-report", check=True, timeout=QUICK)  # creates the ledger
    ledger = ws.root / "state" / "ordersync.db"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
            "db.execute('BEGIN EXCLUSIVE')\n"
            "print('locked', flush=True)\n"
            "time.sleep(60)\n",
            str(ledger),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        ws.create_orders(1)
        proc = ws.ordersync("run", "--no-report", timeout=QUICK)
    finally:
        holder.kill()
        holder.wait(timeout=10)
        assert holder.stdout is not None
        holder.stdout.close()
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert f"ledger {ledger} is locked by another process" in proc.stderr
    assert "Traceback" not in proc.stderr
    again = ws.ordersync("run", "--no-report", check=True, timeout=QUICK)
    assert "acknowledged=1" in again.stdout
    assert _mutations(ws, "acknowledge") == 2


def test_ledger_file_is_garbage(workspace: Workspace) -> None:
    ws = workspace
    garbage = ws.root / "state" / "garbage.db"
    garbage.parent.mkdir()
    garbage.write_bytes(b"this is not a database, it is a shopping list\n" * 100)
    _use_ledger(ws, garbage)
    before = ws.stats()
    proc = ws.ordersync("run", timeout=QUICK)
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert f"ledger {garbage} is not a usable SQLite database" in proc.stderr
    assert ws.stats()["requests_total"] == before["requests_total"]
    assert garbage.read_bytes().startswith(b"this is not a database")  # left as it was, for the operator


def test_ledger_from_a_newer_schema(workspace: Workspace) -> None:
    ws = workspace
    ws.ordersync("run", "--no-report", check=True, timeout=QUICK)
    ledger = ws.root / "state" / "ordersync.db"
    with sqlite3.connect(ledger) as raw:
        raw.execute("UPDATE alembic_version SET version_num = '0099_from_the_future'")
    raw.close()
    before = ws.stats()
    proc = ws.ordersync("run", timeout=QUICK)
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert f"ledger {ledger} was written by a newer ordersync (schema 0099_from_the_future)" in proc.stderr
    assert ws.stats()["requests_total"] == before["requests_total"]


# ----------------------------------------------------------------------------- shipments feed
def test_bad_feed_rows_are_rejected_with_file_line_and_reason_while_good_rows_ship(
    workspace: Workspace,
) -> None:
    ws = workspace
    ids = ws.create_orders(3, "template1")
    ws.ordersync("run", "--no-report", check=True, timeout=QUICK)
    a, b, c = (ws.google.get_order(i) for i in ids)

    def line(order: dict[str, Any], n: int) -> str:
        return str(order["lineItems"][n]["id"])

    header = (
        "order_id,line_item_id,offer_id,quantity,carrier,tracking_id,shipped_at,delivered_at,shipment_id\n"
    )
    rows = [
        f"{a['id']},{line(a, 0)},,1,UPS,1Z-GOOD-1,2026-11-20T10:00:00Z,,",  # 2 good
        f"NO-SUCH-ORDER,{line(a, 0)},,1,UPS,1Z-3,2026-11-20T10:00:00Z,,",  # 3 unknown order
        f"{a['id']},NO-SUCH-LINE,,1,UPS,1Z-4,2026-11-20T10:00:00Z,,",  # 4 unknown line item
        f"{a['id']},{line(a, 1)},,0,UPS,1Z-5,2026-11-20T10:00:00Z,,",  # 5 quantity 0
        f"{a['id']},{line(a, 1)},,-1,UPS,1Z-6,2026-11-20T10:00:00Z,,",  # 6 negative quantity
        f"{b['id']},{line(b, 1)},,9,UPS,1Z-7,2026-11-20T10:00:00Z,,",  # 7 over-shipment
        f"{b['id']},{line(b, 0)},,1,Carrier Pigeon,1Z-8,2026-11-20T10:00:00Z,,",  # 8 unknown carrier
        f"{b['id']},{line(b, 1)},,1,UPS,1Z-9,20/11/2026,,",  # 9 bad date
    ]
    good_offer = str(c["lineItems"][1]["product"]["offerId"])
    data = (header + "\n".join(rows) + "\n").encode("utf-8")
    data += f"{c['id']},{line(c, 0)},,1,UPS,Caf\xe9-11,2026-11-20T10:00:00Z,,\n".encode("latin-1")  # 10
    data += f"{c['id']},,{good_offer},1,FedEx Ground,FX-GOOD-12,2026-11-20,,\n".encode()  # 11 good (offer id)
    data += f"{b['id']},{line(b, 0)},,1,ups,1Z-GOOD-13,2026-11-20T10:00:00Z,,\n".encode()  # 12 good
    feed = ws.root / "feeds" / "export.csv"
    feed.write_bytes(data)
    # A second file whose header lacks a required column: the whole file is one reject at line 1.
    (ws.root / "feeds" / "noheader.csv").write_text(
        f"order_id,line_item_id,quantity,carrier,shipped_at\n{a['id']},{line(a, 1)},1,UPS,2026-11-20\n",
        encoding="utf-8",
    )

    proc = ws.ordersync("run", "--no-report", timeout=QUICK)
    assert proc.returncode == EXIT_FAILED, proc.stderr  # README: newly rejected rows → exit 1
    assert "shipped=3" in proc.stdout and "rejected_rows=9 new_rejects=9" in proc.stdout
    rejects = _rejects(proc.stdout, ws.root)
    by_line = {(r["reject_file"], int(r["reject_line"])): r["reject_reason"] for r in rejects}
    src = "feeds/export.csv"
    expected = {
        3: "unknown order 'NO-SUCH-ORDER'",
        4: "no line item id 'NO-SUCH-LINE'",
        5: "quantity '0' must be greater than 0",
        6: "quantity '-1' must be greater than 0",
        7: "cannot ship 9 more",
        8: "unknown carrier 'Carrier Pigeon'",
        9: "shipped_at '20/11/2026' is not an ISO 8601 date",
        10: "not valid UTF-8",
    }
    for line_no, reason in expected.items():
        assert reason in by_line.get((src, line_no), ""), (line_no, by_line)
    assert "missing required column(s): tracking_id" in by_line[("feeds/noheader.csv", 1)]
    assert len(rejects) == len(expected) + 1
    # The good rows shipped, nothing else did.
    assert _mutations(ws, "shiplineitems") == 3
    shipped = {
        o["id"]: [li["quantityShipped"] for li in ws.google.get_order(o["id"])["lineItems"]]
        for o in (a, b, c)
    }
    assert shipped[a["id"]] == [1, 0]  # template1 has two lines (Google's sandbox template)
    assert shipped[b["id"]] == [1, 0]
    assert shipped[c["id"]] == [0, 1]
    # The same export again: nothing new is applied, the same rows are still rejected, but none
    # of that is new (issue 12.4: exit 1 only when something new went wrong; no new rejects file).
    again = ws.ordersync("run", "--no-report", timeout=QUICK)
    assert again.returncode == 0, again.stderr
    assert "rejected_rows=9 new_rejects=0" in again.stdout and " rejects=" not in again.stdout
    assert _mutations(ws, "shiplineitems") == 3


# ------------------------------------------------------------------------ odd Google answers
def _edit_stored_order(sandbox: Sandbox, order_id: str, edit: Callable[[dict[str, Any]], None]) -> None:
    """Change an order as the emulator holds it (GoogleBackend keeps {"order": …} records and a
    rendered-JSON cache per API version, which must be dropped for the change to be served)."""
    backend = sandbox.google
    with backend._lock:
        edit(backend._orders[order_id]["order"])
        backend._json.pop((order_id, "v2"), None)
        backend._json.pop((order_id, "v2.1"), None)


def test_unexpected_extra_fields_from_google_are_tolerated(workspace: Workspace) -> None:
    ws = workspace
    ids = ws.create_orders(2)

    def add_fields(order: dict[str, Any]) -> None:
        order["shinyNewField"] = {"nested": [1, 2, 3]}
        order["lineItems"][0]["futureAttribute"] = "x"
        order["lineItems"][0]["product"]["anotherOne"] = True

    _edit_stored_order(ws.sandbox, ids[0], add_fields)
    proc = ws.ordersync("run", timeout=QUICK)
    assert proc.returncode == 0, proc.stderr
    assert "acknowledged=2" in proc.stdout
    assert all(ws.google.get_order(i)["acknowledged"] for i in ids)


@pytest.mark.parametrize("field", ["lineItems", "placedDate"])
def test_order_missing_a_required_field_fails_alone(workspace: Workspace, field: str) -> None:
    ws = workspace
    ids = ws.create_orders(3)
    bad = ids[1]
    _edit_stored_order(ws.sandbox, bad, lambda order: order.pop(field))
    proc = ws.ordersync("--log-format", "json", "run", "--no-report", timeout=QUICK)
    assert proc.returncode == EXIT_FAILED, proc.stderr
    (summary,) = [json.loads(line) for line in proc.stdout.splitlines()]  # JSON logs: the summary as fields
    assert (summary["orders_seen"], summary["acknowledged"], summary["failed"]) == (3, 2, 1)
    events = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    malformed = [e for e in events if e.get("event", "").startswith("order from Google is malformed")]
    assert malformed and malformed[0]["order"] == bad and field in malformed[0]["error"]
    assert [ws.google.get_order(i)["acknowledged"] for i in ids] == [True, False, True]
    assert _mutations(ws, "acknowledge") == 2


def _wrap_google(sandbox: Sandbox, answer: Callable[[dict[str, Any]], bytes | None]) -> Any:
    """Make the emulator's Google app answer 200 with ``answer(environ)`` when that is not None;
    returns the original app (assign it back to undo)."""
    inner = sandbox._google_app

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = answer(environ)
        if body is None:
            return inner(environ, start_response)
        start_response("200 OK", [("Content-Type", "application/json; charset=UTF-8")])
        return [body]

    sandbox._google_app = app  # type: ignore[method-assign]
    return inner


@pytest.mark.parametrize(
    "body", [b"<html><body>502 from a proxy</body></html>", b'{"kind": "content#ordersListRe']
)
def test_non_json_list_answer_gives_a_clear_error_and_loses_nothing(
    workspace: Workspace, body: bytes
) -> None:
    ws = workspace
    ids = ws.create_orders(2)

    def list_call(environ: dict[str, Any]) -> bytes | None:
        is_list = environ["REQUEST_METHOD"] == "GET" and environ["PATH_INFO"].endswith(
            f"{MERCHANT_ID}/orders"
        )
        return body if is_list else None

    original = _wrap_google(ws.sandbox, list_call)
    proc = ws.ordersync("run", timeout=QUICK)
    assert proc.returncode == EXIT_UNAVAILABLE, proc.stderr  # Google is not usable: 69, not "failed"
    assert "cycle stopped: Google Content API unavailable at 127.0.0.1:" in proc.stderr
    assert "content.orders.list: HTTP 200 invalidResponse" in proc.stderr
    assert "the answer is not the Content API's" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert _mutations(ws, "acknowledge") == 0
    ws.sandbox._google_app = original
    ws.ordersync("run", "--no-report", check=True, timeout=QUICK)
    assert all(ws.google.get_order(i)["acknowledged"] for i in ids)


def test_google_timeouts_are_retried_then_reported(workspace: Workspace) -> None:
    ws = workspace
    ids = ws.create_orders(2)
    text = ws.config.read_text(encoding="utf-8").replace(
        "max_backoff_seconds = 0.5", "max_backoff_seconds = 0.1\ntimeout_seconds = 0.3\nmax_attempts = 2"
    )
    ws.config.write_text(text, encoding="utf-8")
    ws.sandbox.configure_faults(latency_ms=1000)
    proc = ws.ordersync("run", timeout=QUICK)
    ws.sandbox.configure_faults(latency_ms=0)
    assert proc.returncode == EXIT_UNAVAILABLE, proc.stderr
    assert "google retry: content.orders.list failed (attempt 1)" in proc.stderr
    assert "content.orders.list: no HTTP response transportError: TimeoutError" in proc.stderr
    assert "cycle stopped: Google Content API unavailable at 127.0.0.1:" in proc.stderr
    assert "Traceback" not in proc.stderr
    # Once Google answers in time again, everything goes through.
    ws.ordersync("run", "--no-report", check=True, timeout=QUICK)
    assert all(ws.google.get_order(i)["acknowledged"] for i in ids)


# ---------------------------------------------------------------- Square errors (gateway level)
SQUARE_TOKEN = "EAAAsecret-square-token-for-tests-0001"


def _square_error(
    status: int, category: str, code: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    body = {"errors": [{"category": category, "code": code, "detail": f"{code} from the test"}]}
    return httpx.Response(status, json=body, headers=headers)


def _locations() -> httpx.Response:
    return httpx.Response(200, json={"locations": [{"id": "LOC1", "name": "Main", "status": "ACTIVE"}]})


def _gateway(
    responses: list[httpx.Response], waits: list[float], max_attempts: int = 4
) -> tuple[SquareGateway, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return queue.pop(0)

    client = httpx.Client(transport=httpx.MockTransport(handler))
    gateway = SquareGateway(
        SquareSettings(
            enabled=True, endpoint="http://127.0.0.1:9", max_attempts=max_attempts, location_id="LOC1"
        ),
        token=SQUARE_TOKEN,
        sleep=waits.append,
        httpx_client=client,
        max_backoff_seconds=5,
    )
    return gateway, seen


def test_square_429_is_retried_after_retry_after() -> None:
    waits: list[float] = []
    ok = httpx.Response(200, json={"locations": [{"id": "LOC2", "status": "ACTIVE"}]})
    gateway, seen = _gateway(
        [_square_error(429, "RATE_LIMIT_ERROR", "RATE_LIMITED", {"Retry-After": "2"}), ok], waits
    )
    gateway._location_id = None
    assert gateway.location_id() == "LOC2"
    assert len(seen) == 2 and waits == [2.0]
    assert all(r.headers["authorization"] == f"Bearer {SQUARE_TOKEN}" for r in seen)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_square_5xx_is_retried_then_raised_retryable(status: int) -> None:
    waits: list[float] = []
    errors = [_square_error(status, "API_ERROR", "INTERNAL_SERVER_ERROR") for _ in range(3)]
    gateway, seen = _gateway(errors, waits, max_attempts=3)
    with pytest.raises(SquareApiError) as err:
        gateway.retrieve_order("ORDER1")
    assert len(seen) == 3 and len(waits) == 2
    assert err.value.status == status and err.value.retryable and not err.value.is_auth
    assert "orders.get" in str(err.value) and SQUARE_TOKEN not in str(err.value)


def test_square_409_conflict_is_not_retried() -> None:
    waits: list[float] = []
    gateway, seen = _gateway([_square_error(409, "INVALID_REQUEST_ERROR", "VERSION_MISMATCH")], waits)
    with pytest.raises(SquareApiError) as err:
        gateway.update_order("ORDER1", {"version": 1, "state": "CANCELED"}, idempotency_key="k1")
    assert len(seen) == 1 and waits == []
    assert err.value.code == "VERSION_MISMATCH" and not err.value.retryable


def test_square_401_is_an_auth_error_without_the_token() -> None:
    waits: list[float] = []
    gateway, seen = _gateway([_square_error(401, "AUTHENTICATION_ERROR", "UNAUTHORIZED")], waits)
    with pytest.raises(SquareApiError) as err:
        gateway.retrieve_order("ORDER1")
    assert len(seen) == 1 and err.value.is_auth and not err.value.retryable
    assert SQUARE_TOKEN not in str(err.value) and SQUARE_TOKEN not in repr(gateway)


def test_square_transport_timeout_is_retried() -> None:
    waits: list[float] = []
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            raise httpx.ReadTimeout("timed out", request=request)
        return httpx.Response(200, json={"order": {"id": "ORDER1", "location_id": "LOC1", "version": 1}})

    gateway = SquareGateway(
        SquareSettings(enabled=True, endpoint="http://127.0.0.1:9", max_attempts=3, location_id="LOC1"),
        token=SQUARE_TOKEN,
        sleep=waits.append,
        httpx_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )
    assert gateway.retrieve_order("ORDER1")["id"] == "ORDER1"
    assert calls["n"] == 2 and len(waits) == 1


def test_square_emulator_errors_map_through_the_sdk() -> None:
    """The real SDK against the emulator: 404 not retried, fault-injected 5xx retried."""
    with Sandbox(seed=3).start() as sandbox:
        waits: list[float] = []
        gateway = SquareGateway(
            SquareSettings(enabled=True, endpoint=sandbox.url, max_attempts=6),
            token="any",
            sleep=waits.append,
        )
        with pytest.raises(SquareApiError) as err:
            gateway.retrieve_order("NO-SUCH-ORDER")
        assert err.value.status == 404 and not err.value.retryable and waits == []
        sandbox.configure_faults(fault_rate=1.0, seed=5)  # every call answered 429/500/503
        with pytest.raises(SquareApiError) as err:
            gateway.location_id()
        assert err.value.retryable and err.value.status in (429, 500, 503)
        assert sandbox.stats.snapshot()["faults_total"] == 6 and len(waits) == 5
        sandbox.configure_faults(fault_rate=0.0)
        assert gateway.location_id()
