"""sync.exit_codes and the --fail-on-breaks rule: one definition, one precedence."""

from __future__ import annotations

import pytest

from sync.adapters.google_errors import GoogleApiError
from sync.adapters.square_errors import SquareApiError
from sync.domain.severity import at_or_above, breaks_at_or_above
from sync.exit_codes import ExitCode, Outage, worst
from sync.service.cycle import CycleResult
from sync.service.outages import google_outage, square_outage


def test_the_codes_are_the_documented_ones() -> None:
    assert {c.name: int(c) for c in ExitCode} == {
        "OK": 0, "FAILED": 1, "USAGE": 2, "BREAKS": 3, "UNAVAILABLE": 69, "INTERNAL": 70, "LOCKED": 75,
    }


@pytest.mark.parametrize(
    ("codes", "expected"),
    [
        ([], ExitCode.OK),
        ([ExitCode.OK, ExitCode.BREAKS], ExitCode.BREAKS),
        ([ExitCode.BREAKS, ExitCode.FAILED], ExitCode.FAILED),
        ([ExitCode.FAILED, ExitCode.UNAVAILABLE, ExitCode.BREAKS], ExitCode.UNAVAILABLE),
        ([ExitCode.UNAVAILABLE, ExitCode.INTERNAL], ExitCode.INTERNAL),
    ],
)
def test_precedence_70_69_1_3_0(codes: list[ExitCode], expected: ExitCode) -> None:
    assert worst(codes) == expected


def test_a_cycle_result_exits_by_cause() -> None:
    assert CycleResult().exit_code == ExitCode.OK
    assert CycleResult(rejects=4, new_rejects=0).exit_code == ExitCode.OK  # nothing new went wrong
    assert CycleResult(rejects=4, new_rejects=1).exit_code == ExitCode.FAILED
    assert CycleResult(failed_orders={"G1"}).exit_code == ExitCode.FAILED
    down = CycleResult(failed_orders={"G1"})
    down.outage(Outage("Square", "http://127.0.0.1:9", "no response", "check it"))
    down.outage(Outage("Square", "http://127.0.0.1:9", "again", "check it"))  # the first one is kept
    assert down.exit_code == ExitCode.UNAVAILABLE and len(down.outages) == 1 and down.square_unavailable


def test_outage_messages_name_service_host_port_url_and_what_to_check() -> None:
    refused = GoogleApiError(0, "transportError", "ConnectionRefusedError: [Errno 111]", True, "orders.list")
    url = "https://shoppingcontent.googleapis.com/content/v2/"
    message = google_outage(url, refused, "7654321").message()
    assert message.startswith("Google Content API unavailable at shoppingcontent.googleapis.com:443 (https://")
    assert "ConnectionRefusedError" in message and "check that this machine reaches it" in message
    forbidden = GoogleApiError(403, "forbidden", "no access", False, "content.orders.list")
    message = google_outage("http://h:1/", forbidden, "7654321").message()
    assert "has access to Merchant Center account 7654321" in message
    timeout = SquareApiError(status=None, code="TIMEOUT", category="API_ERROR", detail="read timed out")
    message = square_outage("http://127.0.0.1:8080", timeout).message()
    assert message.startswith("Square unavailable at 127.0.0.1:8080 (http://127.0.0.1:8080)")
    assert "Google work is kept" in message


def test_fail_on_breaks_counts_breaks_at_or_above_the_threshold() -> None:
    counts = {"critical": 1, "high": 2, "medium": 4, "low": 8}
    assert at_or_above("") == () and breaks_at_or_above(counts, "") == 0
    assert at_or_above("high") == ("critical", "high")
    assert [breaks_at_or_above(counts, s) for s in ("critical", "high", "medium", "low")] == [1, 3, 7, 15]
