"""The merchant's ``/.well-known/ucp`` profile document (UCP 2026-04-08). Pure.

What Google reads from it for orders: the order capability and the public keys that verify our
webhook signatures (``signing_keys``; every key listed is accepted, which is how keys rotate:
publish the next key beside the current one, sign with it, drop the old one after 7 days).
Validated with ucp-sdk's business profile model. Note: ucp-sdk 0.5 / UCP 2026-08-25 renames the
key list to ``keys``; this is the 2026-04-08 form.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from ucp_sdk.models.schemas.ucp import BusinessSchema

from sync.domain.ucp.entity import ORDER_CAPABILITY, UCP_VERSION

SHOPPING_SERVICE = "dev.ucp.shopping"
SPEC_BASE = f"https://ucp.dev/{UCP_VERSION}"


def default_service_endpoint(profile_url: str) -> str:
    parts = urlsplit(profile_url)
    return f"{parts.scheme}://{parts.netloc}/ucp/v1"


def profile_document(
    signing_keys: Sequence[Mapping[str, Any]], *, profile_url: str, service_endpoint: str = ""
) -> dict[str, Any]:
    """The profile JSON object; ``signing_keys`` are public JWKs (the first is the one in use)."""
    if not signing_keys:
        raise ValueError("a profile needs at least one signing key")
    kids = [str(k.get("kid")) for k in signing_keys]
    if len(set(kids)) != len(kids):
        raise ValueError(f"duplicate kid among the signing keys: {kids}")
    if any("d" in k for k in signing_keys):
        raise ValueError("a private key must never be published in the profile")
    ucp = {
        "version": UCP_VERSION,
        "services": {
            SHOPPING_SERVICE: [
                {
                    "version": UCP_VERSION,
                    "transport": "rest",
                    "endpoint": service_endpoint or default_service_endpoint(profile_url),
                    "schema": f"{SPEC_BASE}/services/shopping/rest.openapi.json",
                }
            ]
        },
        "capabilities": {
            ORDER_CAPABILITY: [
                {
                    "version": UCP_VERSION,
                    "spec": f"{SPEC_BASE}/specification/order",
                    "schema": f"{SPEC_BASE}/schemas/shopping/order.json",
                }
            ]
        },
        "payment_handlers": {},
    }
    validated = BusinessSchema.model_validate(ucp).model_dump(mode="json", by_alias=True, exclude_unset=True)
    return {"ucp": validated, "signing_keys": [dict(k) for k in signing_keys]}


def is_profile_document(data: Any) -> bool:
    """Whether a file holds a profile this tool writes (so regenerating it destroys nothing else)."""
    return (
        isinstance(data, dict)
        and isinstance(data.get("ucp"), dict)
        and isinstance(data.get("signing_keys"), list)
    )
