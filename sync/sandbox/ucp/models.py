"""State and rules of the UCP order-webhook receiver (Google's side of the order lifecycle).

A push is accepted only when, in this order: the API key is the partner's (Google's own front-end
errors: 403 missing key, 400 API_KEY_INVALID); ``Content-Type`` is ``application/json``;
``Webhook-Id`` and ``Webhook-Timestamp`` (RFC 3339, or unix seconds) are present; ``UCP-Agent``
names the profile registered for the partner (400 ``invalid_profile_url``, 424
``profile_unreachable``, 403 ``profile_not_trusted``); the RFC 9421 signature and the
``Content-Digest`` hold against that profile's ``signing_keys`` (401/400 with UCP's codes); a
``Webhook-Id`` seen before comes with the same body (then 200 and nothing stored again) or is 409
``webhook_id_conflict``; the body is a valid 2026-04-08 order (ucp-sdk), whose ``Webhook-Id`` is
the order id or the id of one of its fulfilment events or adjustments, whose shipped/delivered
events carry a tracking number and URL, whose adjustment types are Google's six, and whose
``checkout_id`` never changes; and its timestamp is not older than the latest accepted for the
order (409 ``stale_update``; an equal one is accepted). UCP errors are ``{"code", "content"}``.

Which status Google answers for a stale update, a conflicting id or a schema error is not
published; the codes here are our reading (spec note §7-§8) and say so in docs/architecture.md.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import http_sf
from pydantic import ValidationError

from sync.domain.ucp import http_signatures
from sync.domain.ucp.entity import UCP_VERSION, parse_entity
from sync.sandbox.stats import Stats
from sync.sandbox.store import StateStore

K_PARTNER, K_PROFILE, K_EVENT = "ucp.partner", "ucp.profile", "ucp.event"
GOOGLE_ADJUSTMENT_TYPES = frozenset(
    {"refund", "return", "credit", "price_adjustment", "dispute", "cancellation"}
)
TRACKED_EVENT_TYPES = frozenset({"shipped", "delivered", "in_transit"})


class UcpError(Exception):
    """An answer other than 200. ``google=True``: Google's front-end error shape (API key)."""

    def __init__(self, status: int, code: str, content: str, *, google: bool = False) -> None:
        super().__init__(f"{status} {code}: {content}")
        self.status = status
        self.code = code
        self.content = content
        self.google = google


@dataclass(frozen=True)
class Push:
    partner: str
    api_key: str
    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _header(headers: Mapping[str, str], name: str) -> str:
    lowered = name.lower()
    return next((v for k, v in headers.items() if k.lower() == lowered), "")


def parse_webhook_timestamp(value: str) -> datetime:
    value = value.strip()
    if value.isdigit():
        return datetime.fromtimestamp(int(value), UTC)
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("no time zone")
    return moment.astimezone(UTC)


def profile_url_of(ucp_agent: str) -> str:
    """The ``profile`` member of a ``UCP-Agent`` dictionary (RFC 8941); must be an https URL."""
    if not ucp_agent:
        raise UcpError(
            400, "invalid_profile_url", 'UCP-Agent header with profile="https://…/.well-known/ucp" required'
        )
    try:
        parsed = http_sf.parse(ucp_agent.encode(), tltype="dictionary")
    except ValueError:
        raise UcpError(400, "invalid_profile_url", "UCP-Agent is not a structured field dictionary") from None
    member = parsed.get("profile") if isinstance(parsed, dict) else None
    url = member[0] if member else None
    if not isinstance(url, str) or not url.startswith("https://") or not url.endswith("/.well-known/ucp"):
        raise UcpError(
            400, "invalid_profile_url", "UCP-Agent profile must be an https URL ending /.well-known/ucp"
        )
    return url


class UcpReceiver:
    def __init__(self, store: StateStore, stats: Stats) -> None:
        self.store = store
        self.stats = stats
        self._lock = threading.Lock()
        self._partners: dict[str, dict[str, str]] = dict(store.load(K_PARTNER))
        self._profiles: dict[str, dict[str, Any]] = dict(store.load(K_PROFILE))
        self._events: dict[str, dict[str, Any]] = {}  # f"{partner}|{webhook_id}" -> event record
        for key, rec in store.load(K_EVENT):
            self._events[key] = rec

    # ---- registration (sandbox only) --------------------------------------------------------------
    def register_partner(self, partner_id: str, api_key: str, profile_url: str) -> None:
        if not partner_id or not api_key or not profile_url:
            raise ValueError("partner_id, api_key and profile_url are required")
        profile_url_of(f'profile="{profile_url}"')
        rec = {"api_key_sha256": _digest(api_key), "profile_url": profile_url}
        with self._lock:
            self._partners[partner_id] = rec
            self.store.put(K_PARTNER, partner_id, rec)

    def register_profile(self, profile_url: str, profile: Mapping[str, Any]) -> int:
        """A merchant's ``/.well-known/ucp`` document (or just ``{"signing_keys": [...]}``)."""
        keys = profile.get("signing_keys")
        if not isinstance(keys, list) or not keys:
            raise ValueError("the profile needs signing_keys (a non-empty list of JWKs)")
        for jwk in keys:
            if not isinstance(jwk, dict) or not jwk.get("kid") or not jwk.get("kty"):
                raise ValueError("every signing key needs kid and kty")
            if jwk.get("d"):
                raise ValueError(
                    f"signing key {jwk['kid']!r} holds a private scalar: publish public keys only"
                )
        rec = {"signing_keys": keys}
        with self._lock:
            self._profiles[profile_url] = rec
            self.store.put(K_PROFILE, profile_url, rec)
        return len(keys)

    def persist_registrations(self) -> None:
        with self._lock:
            for partner, rec in self._partners.items():
                self.store.put(K_PARTNER, partner, rec)
            for url, prof in self._profiles.items():
                self.store.put(K_PROFILE, url, prof)

    def reset(self) -> None:
        """Forget accepted events (registrations are credentials and stay)."""
        with self._lock:
            self._events.clear()

    # ---- the webhook ------------------------------------------------------------------------------
    def _authenticate(self, push: Push) -> dict[str, str]:
        if not push.api_key:
            raise UcpError(
                403,
                "PERMISSION_DENIED",
                "Method doesn't allow unregistered callers (callers without established identity). "
                "Please use API Key or other form of API consumer identity to call this API.",
                google=True,
            )
        partner = self._partners.get(push.partner)
        if partner is None or not hmac.compare_digest(partner["api_key_sha256"], _digest(push.api_key)):
            raise UcpError(
                400, "API_KEY_INVALID", "API key not valid. Please pass a valid API key.", google=True
            )
        return partner

    def receive(self, push: Push) -> dict[str, Any]:
        """Check and record one push; the 200 body, or raise UcpError."""
        with self._lock:
            partner = self._authenticate(push)
            content_type = _header(push.headers, "Content-Type")
            if content_type.split(";")[0].strip().lower() != "application/json":
                raise UcpError(
                    400, "invalid_request", f"Content-Type must be application/json, got {content_type!r}"
                )
            webhook_id = _header(push.headers, "Webhook-Id").strip()
            raw_ts = _header(push.headers, "Webhook-Timestamp")
            if not webhook_id or not raw_ts:
                raise UcpError(
                    400, "invalid_request", "Webhook-Id and Webhook-Timestamp headers are required"
                )
            try:
                timestamp = parse_webhook_timestamp(raw_ts)
            except ValueError:
                raise UcpError(
                    400,
                    "invalid_request",
                    f"Webhook-Timestamp {raw_ts!r} is neither RFC 3339 nor unix seconds",
                ) from None
            profile_url = profile_url_of(_header(push.headers, "UCP-Agent"))
            profile = self._profiles.get(profile_url)
            if profile is None:
                raise UcpError(424, "profile_unreachable", f"cannot fetch the signer's profile {profile_url}")
            if profile_url != partner["profile_url"]:
                raise UcpError(
                    403, "profile_not_trusted", f"{profile_url} is not the profile of partner {push.partner}"
                )
            keys = {str(k["kid"]): k for k in profile["signing_keys"]}
            try:
                http_signatures.verify_request(
                    method=push.method, url=push.url, headers=push.headers, body=push.body, keys=keys
                )
            except http_signatures.SignatureError as exc:
                self.stats.request(f"ucp.webhooks.order.rejected.{exc.code}")
                raise UcpError(exc.status, exc.code, exc.content) from None
            digest = http_signatures.content_digest(push.body)
            event_key = f"{push.partner}|{webhook_id}"
            seen = self._events.get(event_key)
            if seen is not None:
                if seen["digest"] != digest:
                    raise UcpError(
                        409, "webhook_id_conflict", f"Webhook-Id {webhook_id} was used for another body"
                    )
                self.stats.request("ucp.webhooks.order.duplicate")
                return self._ack()
            order = self._validate(push.body, webhook_id)
            history = [
                e for e in self._events.values() if e["partner"] == push.partner and e["order_id"] == order.id
            ]
            if history:
                latest = max(history, key=lambda e: e["timestamp"])
                if timestamp < parse_webhook_timestamp(latest["timestamp"]):
                    raise UcpError(
                        409,
                        "stale_update",
                        f"Webhook-Timestamp {raw_ts} is older than the latest update of order {order.id} "
                        f"({latest['timestamp']})",
                    )
                if latest["checkout_id"] != order.checkout_id:
                    raise UcpError(400, "invalid_order", f"order {order.id}: checkout_id changed")
            record = {
                "partner": push.partner,
                "webhook_id": webhook_id,
                "order_id": order.id,
                "checkout_id": order.checkout_id,
                "timestamp": timestamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "digest": digest,
                "body": push.body.decode("utf-8"),
                "received_at": time.time(),
                "seq": len(self._events) + 1,
            }
            self._events[event_key] = record
            self.store.put(K_EVENT, event_key, record)
            self.stats.mutation("ucp.webhooks.order")
            return self._ack()

    @staticmethod
    def _ack() -> dict[str, Any]:
        return {"ucp": {"version": UCP_VERSION, "status": "success"}}

    @staticmethod
    def _validate(body: bytes, webhook_id: str) -> Any:
        try:
            order = parse_entity(body)
        except ValueError as exc:  # JSONDecodeError and pydantic's ValidationError
            first = exc.errors()[0] if isinstance(exc, ValidationError) else {"loc": (), "msg": str(exc)}
            where = ".".join(str(p) for p in first.get("loc", ()))
            raise UcpError(
                400, "invalid_order", f"not a valid 2026-04-08 order: {where} {first['msg']}".strip()
            ) from None
        ids = {order.id}
        for event in order.fulfillment.events or []:
            ids.add(event.id)
            if event.type in TRACKED_EVENT_TYPES and (not event.tracking_number or not event.tracking_url):
                raise UcpError(
                    400,
                    "invalid_order",
                    f"fulfillment event {event.id}: tracking_number and tracking_url required",
                )
        for adjustment in order.adjustments or []:
            ids.add(adjustment.id)
            if adjustment.type not in GOOGLE_ADJUSTMENT_TYPES:
                raise UcpError(
                    400, "invalid_order", f"adjustment {adjustment.id}: type {adjustment.type!r} not accepted"
                )
        if webhook_id not in ids:
            raise UcpError(
                400,
                "invalid_request",
                f"Webhook-Id {webhook_id} is neither the order id nor an event or adjustment id",
            )
        return order

    # ---- introspection ------------------------------------------------------------------------------
    def events(self, order_id: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            chosen = [e for e in self._events.values() if order_id is None or e["order_id"] == order_id]
        return [{k: v for k, v in e.items() if k != "body"} for e in sorted(chosen, key=lambda e: e["seq"])]

    def order(self, order_id: str) -> dict[str, Any] | None:
        with self._lock:
            chosen = sorted(
                (e for e in self._events.values() if e["order_id"] == order_id), key=lambda e: e["seq"]
            )
        if not chosen:
            return None
        return {
            "order_id": order_id,
            "webhook_ids": [e["webhook_id"] for e in chosen],
            "events": [{k: v for k, v in e.items() if k != "body"} for e in chosen],
            "latest": chosen[-1]["body"],
        }

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {
                "events": len(self._events),
                "orders": len({(e["partner"], e["order_id"]) for e in self._events.values()}),
            }
