"""The composition root: adapters from settings, the channels' senders and settle handlers, the
outbox, the cycle's context and its ordered steps. The runner and the scheduler build cycles
here; nothing else constructs adapters.

A new channel (returns, UCP order webhooks, order-tracking signals) plugs in as a ``Target``
with its own Sender and settle handler in ``build_outbox`` and a step module in ``default_steps``;
Google's live channels (issue 16) are opened by ``open_live`` and reach the steps as ``ctx.live``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sync.adapters.feed_reader import FeedFiles
from sync.adapters.google_gateway import GoogleCredentialsError, GoogleGateway
from sync.adapters.ledger import Ledger, LedgerError
from sync.adapters.square_errors import SquareCredentialsError
from sync.adapters.ucp_push_outcomes import UcpConfigError
from sync.config import (
    DEFAULT_ACCOUNT,
    LIVE_WITHOUT_SQUARE_FIX,
    ConfigError,
    Settings,
    enabled_live_channels,
    live_channels_without_square,
    refuse_placeholder_merchant,
)
from sync.domain.intents import Target
from sync.logs import get_logger
from sync.service.context import CycleContext, LiveChannels
from sync.service.cycle import Step, SyncCycle
from sync.service.google_effects import GoogleEffects
from sync.service.google_sender import GOOGLE_PHASES, GoogleSender
from sync.service.live_senders import LiveChannelEffects, TrackingSender, UcpSender
from sync.service.outbox import Outbox, Sender, Settled, SettleHandler
from sync.service.ports import LedgerPort, Marketplace, OrderSystem, ShipmentSource
from sync.service.results import CycleResult, Progress, no_progress
from sync.service.snapshots import SnapshotCache
from sync.service.square_effects import SquareEffects
from sync.service.square_sender import SQUARE_PHASES, SquareSender
from sync.service.steps import (
    feed,
    google_cancellations,
    google_live,
    google_refunds,
    poll_new_orders,
    recheck_open_orders,
    resend_pending,
    square_cancellations,
    square_create,
    square_follow,
    square_refunds,
)

if TYPE_CHECKING:
    from sync.adapters.square_gateway import SquareGateway

log = get_logger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


# ------------------------------------------------------------------------------------ adapters
def open_ledger(settings: Settings) -> Ledger:
    """The ledger of the account ``settings`` are for: its rows only, in a database it may share.

    An [[accounts]] entry is refused while the ledger still holds the rows of the configuration's
    one account from before [[accounts]] (``default``): they are some entry's history, which
    ``ordersync adopt`` hands over; running without it would do every order again."""
    try:
        ledger = Ledger(settings.ledger.url, account=settings.account)
    except LedgerError as exc:
        raise ConfigError(str(exc)) from exc
    try:
        orphaned = settings.in_fleet and ledger.holds_rows_of(DEFAULT_ACCOUNT)
    except LedgerError as exc:
        ledger.close()
        raise ConfigError(str(exc)) from exc
    if orphaned:
        ledger.close()
        raise ConfigError(
            f"ledger {ledger.where} holds the history of this configuration from before [[accounts]] "
            f"(account {DEFAULT_ACCOUNT!r}): give it to the entry it belongs to with `ordersync adopt "
            "--account NAME`, then run again"
        )
    return ledger


def open_google(settings: Settings, credentials: Any = None) -> GoogleGateway:
    refuse_placeholder_merchant(settings)
    try:
        return GoogleGateway(settings.google, credentials=credentials)
    except GoogleCredentialsError as exc:
        raise ConfigError(str(exc)) from exc


def open_square(settings: Settings, token: str | None = None) -> SquareGateway | None:
    """The merchant's Square account when ``[square] enabled``; None otherwise."""
    if not settings.square.enabled:
        return None
    # The squareup SDK and httpx (about 0.1 s of every start) load only when Square is on.
    from sync.adapters.square_gateway import SquareGateway

    try:
        return SquareGateway(settings.square, token=token)
    except SquareCredentialsError as exc:
        raise ConfigError(str(exc)) from exc


def open_feed(settings: Settings) -> ShipmentSource:
    return FeedFiles(settings.shipments.feeds)


def open_live(
    settings: Settings, square: SquareGateway | None, google_credentials: Any = None
) -> LiveChannels | None:
    """Google's live channels that are enabled ([ucp], [order_tracking]); both read Square, so
    neither runs without it (said at run start). Close with ``close_live``."""
    idle = live_channels_without_square(settings)
    if idle:
        log.warning(idle, fix=LIVE_WITHOUT_SQUARE_FIX, account=settings.account)
    if square is None or not enabled_live_channels(settings):
        return None
    ucp = tracking = None
    try:
        if settings.ucp.enabled:
            # httpx and the signing code load only when the channel is on (~80 ms of every start).
            from sync.adapters.ucp_webhook_client import UcpWebhookClient

            ucp = UcpWebhookClient(settings.ucp)
        if settings.order_tracking.enabled:
            # Google's generated client (protobuf, api-core) loads only when the channel is on:
            # about half a second and 30 MB of every run otherwise.
            from sync.adapters.order_tracking_gateway import OrderTrackingGateway

            tracking = OrderTrackingGateway(settings.order_tracking, credentials=google_credentials)
    except (UcpConfigError, GoogleCredentialsError) as exc:
        if ucp is not None:
            ucp.close()
        raise ConfigError(str(exc)) from exc
    deliveries = FeedFiles(settings.ucp.deliveries) if ucp is not None and settings.ucp.deliveries else None
    return LiveChannels(square=square, ucp=ucp, tracking=tracking, deliveries=deliveries)


def close_live(live: LiveChannels | None) -> None:
    if live is None:
        return
    for channel in (live.ucp, live.tracking):
        close = getattr(channel, "close", None)
        if close is not None:
            close()


# ----------------------------------------------------------------------------- the cycle
def default_steps() -> list[Step]:
    """The cycle's steps, in order (steps marked ``order_system`` run only with Square on)."""
    return [
        Step("resend_pending", resend_pending.run),
        Step("recheck_open_orders", recheck_open_orders.run),
        Step("poll_new_orders", poll_new_orders.run),
        Step("square_create", square_create.run, order_system=True),
        Step("square_cancellations", square_cancellations.run, order_system=True),
        Step("square_follow", square_follow.run, order_system=True),
        Step("google_live", google_live.run, order_system=True),
        Step("google_cancellations", google_cancellations.run),
        Step("feed", feed.run),
        # Refunds (issue 15): after the feed, so this cycle's shipments are out first.
        Step("square_refunds", square_refunds.run, order_system=True),
        Step("google_refunds", google_refunds.run, order_system=True),
    ]


def build_outbox(ctx: CycleContext) -> Outbox:
    """Each target's Sender, its send phases and what its answers mean for the ledger."""
    senders: dict[Target, Sender] = {Target.GOOGLE: GoogleSender(ctx.marketplace, ctx.result.outage)}
    on_settled: dict[Target, SettleHandler] = {Target.GOOGLE: GoogleEffects(ctx)}
    phases = {Target.GOOGLE: GOOGLE_PHASES, Target.SQUARE: SQUARE_PHASES}
    if ctx.order_system is not None:
        square = ctx.settings.square
        senders[Target.SQUARE] = SquareSender(
            ctx.order_system, concurrency=square.concurrency, mark_paid=square.mark_paid
        )
        on_settled[Target.SQUARE] = SquareEffects(ctx)
    if ctx.live is not None and ctx.live.ucp is not None:
        senders[Target.UCP] = UcpSender(ctx.live.ucp, concurrency=ctx.settings.ucp.concurrency)
        on_settled[Target.UCP] = LiveChannelEffects(ctx.result, Target.UCP.value)
    if ctx.live is not None and ctx.live.tracking is not None:
        senders[Target.ORDER_TRACKING] = TrackingSender(ctx.live.tracking)
        on_settled[Target.ORDER_TRACKING] = LiveChannelEffects(ctx.result, Target.ORDER_TRACKING.value)

    def count_failures(settled: Settled) -> None:
        ctx.result.failed_orders.update(settled.failed_orders)

    return Outbox(ctx.ledger, senders, phases=phases, on_settled=on_settled, observers=[count_failures])


def build_cycle(
    settings: Settings,
    *,
    ledger: LedgerPort,
    marketplace: Marketplace,
    order_system: OrderSystem | None = None,
    shipments: ShipmentSource | None = None,
    live: LiveChannels | None = None,
    clock: Callable[[], datetime] = utcnow,
    progress: Progress = no_progress,
    should_stop: Callable[[], bool] = lambda: False,
    steps: Sequence[Step] | None = None,
) -> SyncCycle:
    """One cycle over these adapters (the runner opens them with the ``open_*`` functions above;
    tests hand in fakes). ``shipments`` defaults to the configured feed files; ``live`` is what
    ``open_live`` opened (None: no live Google channel)."""
    ctx = CycleContext(
        ledger=ledger,
        clock=clock,
        settings=settings,
        result=CycleResult(),
        # Orders parsed from the ledger's snapshots: two full batches, the most one slice touches.
        snapshots=SnapshotCache(2 * settings.google.batch_size),
        marketplace=marketplace,
        order_system=order_system,
        shipments=shipments if shipments is not None else open_feed(settings),
        progress=progress,
        live=live,
    )
    return SyncCycle(
        ctx, build_outbox(ctx), default_steps() if steps is None else steps, should_stop=should_stop
    )
