"""Throughput helpers (issue 8): list pages prefetched in the background, GC tuning per cycle."""

from __future__ import annotations

import gc
from urllib.parse import parse_qs, urlparse

import pytest

from sync.adapters.google_errors import GoogleApiError
from sync.service.cycle import CYCLE_GC_THRESHOLD, fewer_gc_passes
from tests.unit.test_google_gateway import Harness, page


def test_prefetched_pages_are_the_same_pages_with_the_same_calls() -> None:
    h = Harness([page(["A", "B"], "t1"), page(["C"], "t2"), page([], None)])
    pages = list(h.gateway.iter_order_pages(acknowledged=False, page_size=2, prefetch=True))
    assert pages == [[{"id": "A"}, {"id": "B"}], [{"id": "C"}], []]
    assert h.gateway.calls == 3
    tokens = [parse_qs(urlparse(u).query).get("pageToken") for u in h.uris()]
    assert tokens == [None, ["t1"], ["t2"]]


def test_prefetch_fetches_the_next_page_while_the_caller_works() -> None:
    h = Harness([page(["A"], "t1"), page(["B"], None)])
    pages = h.gateway.iter_order_pages(prefetch=True)
    assert next(pages) == [{"id": "A"}]
    assert list(pages) == [[{"id": "B"}]]
    assert h.gateway.calls == 2  # nothing after the last page


def test_prefetch_still_stops_on_a_repeated_token() -> None:
    h = Harness([page(["A"], "t1"), page(["B"], "t1")])
    with pytest.raises(GoogleApiError, match="repeated"):
        list(h.gateway.iter_order_pages(prefetch=True))
    assert h.gateway.calls == 2  # the repeated token is never requested


def test_fewer_gc_passes_restores_the_collector() -> None:
    before = gc.get_threshold()
    with fewer_gc_passes():
        assert gc.get_threshold()[0] == max(before[0], CYCLE_GC_THRESHOLD)
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
