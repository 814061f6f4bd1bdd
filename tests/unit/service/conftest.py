"""A cycle over in-memory fakes of the ports and a real in-memory SQLite ledger."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from sync.adapters.ledger import Ledger
from sync.config import GoogleSettings, Settings, ShipmentsSettings, SquareSettings
from sync.service.bootstrap import build_cycle
from sync.service.results import CycleResult
from tests.unit.service.fakes import FakeMarketplace, FakeOrderSystem, FakeShipments, minor


@dataclass
class World:
    settings: Settings
    ledger: Ledger
    google: FakeMarketplace = field(default_factory=FakeMarketplace)
    square: FakeOrderSystem | None = None
    feed: FakeShipments = field(default_factory=FakeShipments)
    now: datetime = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)

    def cycle(self) -> CycleResult:
        self.now += timedelta(minutes=10)
        return build_cycle(
            self.settings,
            ledger=self.ledger,
            marketplace=self.google,
            order_system=self.square,
            shipments=self.feed,
            clock=lambda: self.now,
        ).run()


def settings_for(tmp: Path, *, square: bool = False) -> Settings:
    return Settings(
        google=GoogleSettings(merchant_id="1234567", recheck_open_orders_minutes=0),
        square=SquareSettings(enabled=square),
        shipments=ShipmentsSettings(feeds=[], rejects_dir=str(tmp / "rejects")),
    )


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    ledger = Ledger("sqlite://")
    yield World(settings_for(tmp_path), ledger)
    ledger.close()


@pytest.fixture
def square_world(tmp_path: Path) -> Iterator[World]:
    ledger = Ledger("sqlite://")
    world = World(settings_for(tmp_path, square=True), ledger, square=FakeOrderSystem())
    assert world.square is not None
    # The EXTERNAL payment pays what Google charged; Square's clock is the cycle's.
    world.square.amount_of = lambda square_order: minor(
        world.google.orders[square_order["reference_id"]]["netAmount"]
    )
    world.square.clock = lambda: world.now
    yield world
    ledger.close()
